//! `netloop echo`: an echo server. Each socket is piped into itself, so a
//! client that does not read is slowed down instead of filling memory.
//!
//! Once listening it never exits on an error: a connection's error ends
//! that connection, and a server out of file descriptors sheds load and
//! goes on (the library's warning says so on stderr, unless `--quiet`).
//! Only a failed listen ends it, with exit status 1. With `--threads`,
//! every thread runs this same server (see `threads.rs`). With
//! `--tls-cert`/`--tls-key` it echoes over TLS (`tls_args.rs`).

use netloop::net::{Server, ServerOptions, Socket};
use netloop::tls::TlsServerConfig;

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 7000)]
    port: u16,
    /// Set TCP_NODELAY on accepted sockets.
    #[arg(long)]
    no_delay: bool,
    /// Print nothing but the listening line.
    #[arg(long, short)]
    quiet: bool,
    /// Print `CONNECTED: ADDR:PORT` for each connection (with
    /// --proxy-protocol, the client its header names; with --tls-cert,
    /// once its handshake is done).
    #[arg(long, short, conflicts_with = "quiet")]
    verbose: bool,
    #[command(flatten)]
    threads: crate::threads::ThreadsArgs,
    #[command(flatten)]
    shutdown: crate::shutdown::ShutdownArgs,
    #[command(flatten)]
    proxy: crate::proxy_protocol::ProxyArgs,
    #[command(flatten)]
    tls: crate::tls_args::TlsServerArgs,
}

impl Args {
    /// `--quiet`: nothing but the listening line, no logs either.
    pub fn quiet(&self) -> bool {
        self.quiet
    }
}

pub fn run(args: Args) -> netloop::Result<()> {
    let _ = netloop::process::raise_fd_limit();
    let (host, port, quiet) = (args.host, args.port, args.quiet);
    let conf = Serve {
        no_delay: args.no_delay,
        quiet,
        verbose: args.verbose && !quiet,
        proxy: args.proxy,
        // Read once, before anything listens: a bad file is exit 1 at once.
        tls: args.tls.config()?,
    };
    if !args.threads.single() {
        return crate::threads::run(
            args.threads,
            args.shutdown,
            "echo",
            quiet,
            |addr| format!("echo listening on {addr}"),
            move || serve(port, &host, &conf),
        );
    }
    netloop::run(move || {
        let server = serve(port, &host, &conf)?;
        // A listen failure has no listener and ends `run` (exit 1). Once
        // listening, nothing the server reports may end the process: the
        // library emits no accept error (as Node 20), and this listener
        // makes sure of it.
        server.once(Server::LISTENING, move |s, _| {
            if quiet {
                s.on(Server::ERROR, |_, _| {});
            } else {
                s.on(Server::ERROR, |_, err| eprintln!("echo: {err}"));
            }
        });
        // Before the listening line: whoever reads it may signal at once.
        crate::shutdown::on_signals(&server, args.shutdown, "echo", quiet)?;
        if let Some(addr) = server.address() {
            println!("echo listening on {addr}");
        }
        Ok(())
    })
}

/// How each thread's echo server is set up.
struct Serve {
    no_delay: bool,
    quiet: bool,
    verbose: bool,
    proxy: crate::proxy_protocol::ProxyArgs,
    /// With --tls-cert: one config, shared by every thread's server.
    tls: Option<TlsServerConfig>,
}

/// The echo server, listening on `host:port`.
fn serve(port: u16, host: &str, conf: &Serve) -> netloop::Result<Server> {
    let opts = conf.proxy.apply(ServerOptions {
        no_delay: conf.no_delay,
        ..ServerOptions::default()
    });
    let (quiet, verbose) = (conf.quiet, conf.verbose);
    let server = crate::tls_args::create_server(conf.tls.as_ref(), opts, quiet, move |sock| {
        if verbose {
            // With --proxy-protocol, the client the header names. One
            // `println!` is one locked write: lines of threads never mix.
            let ip = sock
                .remote_address()
                .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
            println!("CONNECTED: {ip}:{}", sock.remote_port().unwrap_or(0));
        }
        sock.pipe(sock);
        // A client that resets is not the server's failure. (Two
        // closures that capture nothing rather than one that captures
        // `quiet`: a capturing closure is an allocation per connection.)
        if quiet {
            sock.on(Socket::ERROR, |_, _| {});
        } else {
            sock.on(Socket::ERROR, |_, err| eprintln!("echo: {err}"));
        }
    });
    conf.proxy.report_client_errors(&server, quiet);
    server.listen(port, host)?;
    Ok(server)
}
