//! `netloop server`: the seed's server, line for line.

use netloop::net::{self, Socket};

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 6969)]
    port: u16,
}

pub fn run(args: Args) -> netloop::Result<()> {
    netloop::run(move || {
        let server = net::create_server(|_, sock: &Socket| {
            let addr = display_ip(sock);
            let port = sock.remote_port().unwrap_or(0);
            println!("CONNECTED: {addr}:{port}");
            sock.on(Socket::DATA, move |s, data| {
                let text = String::from_utf8_lossy(data);
                println!("DATA {}: {text}", display_ip(s));
                s.write(format!("You said \"{text}\""));
            });
            sock.on(Socket::ERROR, |s, err| {
                eprintln!("ERROR {}: {err}", display_ip(s));
            });
            sock.on(Socket::CLOSE, |s, _| {
                println!("CLOSED: {} {}", display_ip(s), s.remote_port().unwrap_or(0));
            });
        });
        server.listen(args.port, &args.host)?;
        if let Some(addr) = server.address() {
            println!("Server listening on {}:{}", addr.ip(), addr.port());
        }
        Ok(())
    })
}

fn display_ip(s: &Socket) -> String {
    s.remote_address()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "unknown".to_owned())
}
