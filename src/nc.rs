//! `netloop nc`: a small netcat. Connects (or, with `-l`, accepts one
//! connection) and copies stdin to the socket and the socket to stdout.
//! Stdin is read on a helper thread and handed to the loop in chunks; at
//! stdin's end the socket is ended (half-close), and the tool exits when the
//! peer closes.
//!
//! The exit status is netcat's: 0 when the connection ran to its end, 1
//! when connecting or listening failed or the connection ended with an
//! error, with the error on stderr.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::rc::Rc;

use netloop::net::{self, Server, Socket};

/// The first error of the run, if any: it becomes the exit status.
type Failure = Rc<RefCell<Option<netloop::Error>>>;

/// A listener that keeps the first error.
fn record(failure: &Failure) -> impl Fn(&netloop::Error) + 'static {
    let failure = Rc::clone(failure);
    move |err| {
        failure.borrow_mut().get_or_insert_with(|| err.clone());
    }
}

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

/// Read stdin on a helper thread (reads block) and hand each chunk, then
/// the end, to the loop through `input`. The thread stops at stdin's end
/// or once the loop has ended.
fn spawn_stdin(input: netloop::Sender<Input>) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = input.send(Input::Eof);
                    return;
                }
                Ok(n) => {
                    if input.send(Input::Data(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });
}

/// Wire a socket to stdin/stdout; its error is the run's failure.
fn attach(sock: &Socket, failure: &Failure) {
    sock.on(Socket::DATA, |_, data| {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(data);
        let _ = out.flush();
    });
    let failed = record(failure);
    sock.on(Socket::ERROR, move |_, err| failed(err));
    // Each chunk wakes the loop and is written at once (a channel on the
    // loop handle, libuv's uv_async_send): no polling. The channel does not
    // keep the loop alive; the socket does. Input that comes after the
    // socket closed has nowhere to go.
    let s = sock.clone();
    let input = netloop::channel(move |msg: Input| {
        if s.destroyed() {
            return;
        }
        match msg {
            Input::Data(d) => {
                s.write(d);
            }
            Input::Eof => {
                s.end();
            }
        }
    });
    spawn_stdin(input);
}

/// Run, and fail (exit 1, the error printed by `main`) if connecting or
/// listening failed or the connection ended with an error: a handled
/// `error` event would otherwise let `run` end with `Ok`.
pub fn run(args: Args) -> netloop::Result<()> {
    let failure: Failure = Rc::default();
    let failed = Rc::clone(&failure);
    netloop::run(move || {
        if args.listen {
            let conn_failed = Rc::clone(&failed);
            let server = net::create_server(move |server, sock: &Socket| {
                attach(sock, &conn_failed);
                server.close();
            });
            let listen_failed = record(&failed);
            server.on(Server::ERROR, move |_, err| listen_failed(err));
            server.listen(args.port, &args.host)?;
            if let Some(a) = server.address() {
                eprintln!("listening on {a}");
            }
        } else {
            let sock = net::connect(args.port, &args.host)?;
            attach(&sock, &failed);
        }
        Ok(())
    })?;
    let failed = failure.borrow_mut().take();
    failed.map_or(Ok(()), Err)
}
