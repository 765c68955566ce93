//! `netloop server`: the seed's server, line for line.
//!
//! As the seed's Node server, it never exits on a connection's error, nor
//! when it runs out of file descriptors (it sheds load and goes on; the
//! library's warning says so on stderr). Only a failed listen ends it,
//! with exit status 1. With `--threads`, every thread runs this same
//! server (see `threads.rs`); each line is printed whole, so lines of
//! different threads never mix. With `--tls-cert`/`--tls-key` it is the
//! same server over TLS (`tls_args.rs`): `CONNECTED:` once the handshake
//! is done, failed handshakes on stderr.

use netloop::net::{Server, ServerOptions, Socket};
use netloop::tls::TlsServerConfig;

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 6969)]
    port: u16,
    #[command(flatten)]
    threads: crate::threads::ThreadsArgs,
    #[command(flatten)]
    shutdown: crate::shutdown::ShutdownArgs,
    #[command(flatten)]
    proxy: crate::proxy_protocol::ProxyArgs,
    #[command(flatten)]
    tls: crate::tls_args::TlsServerArgs,
}

pub fn run(args: Args) -> netloop::Result<()> {
    // Read once, before anything listens: a bad file is exit 1 at once.
    let tls = args.tls.config()?;
    if !args.threads.single() {
        let (host, port, proxy) = (args.host, args.port, args.proxy);
        return crate::threads::run(
            args.threads,
            args.shutdown,
            "server",
            false,
            |addr| format!("Server listening on {}:{}", addr.ip(), addr.port()),
            move || serve(port, &host, proxy, tls.as_ref()),
        );
    }
    netloop::run(move || {
        let server = serve(args.port, &args.host, args.proxy, tls.as_ref())?;
        // A listen failure has no listener and ends `run` (exit 1). Once
        // listening, nothing the server reports may end the process (the
        // library emits no accept error, as Node 20; this makes sure).
        server.once(Server::LISTENING, |s, _| {
            s.on(Server::ERROR, |_, err| eprintln!("ERROR: {err}"));
        });
        // Before the listening line: whoever reads it may signal at once.
        crate::shutdown::on_signals(&server, args.shutdown, "server", false)?;
        if let Some(addr) = server.address() {
            println!("Server listening on {}:{}", addr.ip(), addr.port());
        }
        Ok(())
    })
}

/// The seed's server, listening on `host:port` (over TLS with `tls`).
fn serve(
    port: u16,
    host: &str,
    proxy: crate::proxy_protocol::ProxyArgs,
    tls: Option<&TlsServerConfig>,
) -> netloop::Result<Server> {
    // With --proxy-protocol, `remote_address` is the client the header
    // names: the CONNECTED line shows it.
    let opts = proxy.apply(ServerOptions::default());
    let server = crate::tls_args::create_server(tls, opts, false, |sock: &Socket| {
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
    proxy.report_client_errors(&server, false);
    server.listen(port, host)?;
    Ok(server)
}

fn display_ip(s: &Socket) -> String {
    s.remote_address()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "unknown".to_owned())
}
