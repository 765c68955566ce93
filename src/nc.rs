//! `netloop nc`: a small netcat. Connects (or, with `-l`, accepts one
//! connection) and copies stdin to the socket and the socket to stdout.
//! Stdin is read on a helper thread and handed to the loop in chunks; at
//! stdin's end the socket is ended (half-close), and the tool exits when the
//! peer closes.

use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::Duration;

use netloop::net::{self, Socket};
use netloop::timers;

#[derive(clap::Args)]
pub struct Args {
    /// Listen for one connection instead of connecting.
    #[arg(short = 'l', long)]
    listen: bool,
    /// Host to connect to (or address to listen on).
    host: String,
    /// Port.
    port: u16,
}

enum Input {
    Data(Vec<u8>),
    Eof,
}

fn spawn_stdin() -> mpsc::Receiver<Input> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(Input::Eof);
                    return;
                }
                Ok(n) => {
                    if tx.send(Input::Data(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// Wire a connected socket to stdin/stdout.
fn attach(sock: &Socket) {
    sock.on(Socket::DATA, |_, data| {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(data);
        let _ = out.flush();
    });
    sock.on(Socket::ERROR, |_, err| eprintln!("nc: {err}"));
    let rx = spawn_stdin();
    let s = sock.clone();
    // Poll the stdin channel on an unref'd interval: the socket keeps the
    // loop alive, the interval does not.
    let mut done = false;
    let t = timers::set_interval(Duration::from_millis(5), move || {
        if done {
            return;
        }
        while let Ok(msg) = rx.try_recv() {
            match msg {
                Input::Data(d) => {
                    s.write(d);
                }
                Input::Eof => {
                    s.end();
                    done = true;
                    return;
                }
            }
        }
    });
    t.unref();
    sock.on(Socket::CLOSE, move |_, _| t.cancel());
}

pub fn run(args: Args) -> netloop::Result<()> {
    netloop::run(move || {
        if args.listen {
            let server = net::create_server(|server, sock: &Socket| {
                attach(sock);
                server.close();
            });
            server.listen(args.port, &args.host)?;
            if let Some(a) = server.address() {
                eprintln!("listening on {a}");
            }
        } else {
            let sock = net::connect(args.port, &args.host)?;
            attach(&sock);
        }
        Ok(())
    })
}
