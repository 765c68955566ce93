//! `netloop nc`: a small netcat, with the options OpenBSD's `nc(1)` and
//! nmap's `ncat` share. It connects (or listens, `-l`) and copies stdin to
//! the socket and the socket to stdout (`session.rs`), or only checks which
//! ports accept a connection (`-z`, `scan.rs`). With ncat's `--ssl` it
//! does both over TLS (the options are in `tls_args.rs`).
//!
//! Exit status, as netcat's: 0 when the connection ran to its end (an idle
//! timeout, `-w`, is an end too, as in OpenBSD's nc), 1 when connecting or
//! listening failed, a connection ended with an error or a connect timed
//! out; with `-z`, 0 when any port was open. Usage errors, `-u` among them,
//! exit 2 as every usage error of this command line does (clap's status,
//! and ncat's for invalid options; OpenBSD's nc uses 1 for everything).

mod scan;
mod session;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use netloop::net::{self, ConnectOptions, Socket};
use netloop::tls::TlsServerConfig;
use netloop::{Error, ErrorCode};

use crate::tls_args::NcSslArgs;

const AFTER_HELP: &str = "\
Forms:
  netloop nc HOST PORT             connect, copy stdin to the socket and the socket to stdout
  netloop nc -l [-p] PORT          listen on all addresses (0.0.0.0, as netcat), one connection
  netloop nc -l HOST PORT          listen on HOST (also: -l -p PORT HOST)
  netloop nc -lk PORT              serve connections one after another
  netloop nc -z [-v] HOST PORT[-PORT]   which ports accept a connection (exit 0 if any)
  netloop nc -U PATH / -lU PATH    connect to / listen on a Unix socket
  netloop nc --ssl [--ssl-verify] [--ssl-trustfile CA] HOST PORT   connect with TLS
  netloop nc -l --ssl --ssl-cert CERT --ssl-key KEY PORT           listen with TLS

At stdin's end nc half-closes the connection (sends FIN) and exits once the
peer closes its side; -q SECS quits SECS after stdin's end has been sent
instead (-q 0: at once). With -k, stdin goes to the current connection;
connections that arrive meanwhile wait their turn (as in the kernel's
backlog), and once stdin has ended each later connection is half-closed
at once. -w SECS bounds a connect and closes a connection idle for SECS in
both directions (exit 0, as OpenBSD's nc); a listener waits for its
connection however long it takes. -lU fails when PATH exists, as netcat:
remove a stale socket file yourself; nc removes its own when it stops
listening.

TLS, as ncat: any --ssl-* option implies --ssl. A client does not check
the server's certificate unless --ssl-verify or --ssl-trustfile is given
(then it fails on an untrusted certificate or a wrong name, in Node's
words); --ssl-cert/--ssl-key there are a client certificate. A listener
needs --ssl-cert and --ssl-key (ncat would make a throwaway certificate;
netloop tls-cert writes a pair); a client whose handshake fails is
reported on stderr and the listener goes on. Not over Unix sockets, nor
with -z.

Exit status: 0 on success, 1 when connecting, listening or the connection
failed (or timed out), 2 on a usage error. UDP (-u) is not supported.";

#[derive(clap::Args)]
#[command(
    override_usage = "netloop nc [OPTIONS] HOST PORT\n       \
                      netloop nc -l [OPTIONS] [HOST] PORT\n       \
                      netloop nc -U [OPTIONS] PATH",
    after_help = AFTER_HELP
)]
pub struct Args {
    /// Listen for a connection instead of connecting.
    #[arg(short = 'l', long)]
    listen: bool,
    /// With -l, the port to listen on (OpenBSD's traditional form);
    /// without -l, the local port to connect from.
    #[arg(short = 'p', value_name = "PORT")]
    port: Option<u16>,
    /// With -l, keep listening after a connection ends and serve the next.
    #[arg(short = 'k')]
    keep_listening: bool,
    /// Say what happened on stderr (connected, listening, received, closed
    /// ports with -z).
    #[arg(short = 'v')]
    verbose: bool,
    /// Scan: connect and close at once without sending data; exit 0 if a
    /// port is open. PORT may be a range, 1000-1010.
    #[arg(short = 'z')]
    scan: bool,
    /// Fail a connect that takes longer than SECS, and close a connection
    /// idle for SECS.
    #[arg(short = 'w', value_name = "SECS")]
    wait: Option<u64>,
    /// Quit SECS after stdin's end (0: at once) instead of waiting for the
    /// peer to close.
    #[arg(short = 'q', value_name = "SECS")]
    quit_after: Option<u64>,
    /// Unix socket: the operand is a path.
    #[arg(short = 'U')]
    unix: bool,
    /// UDP: not supported (refused with a usage error).
    #[arg(short = 'u')]
    udp: bool,
    /// HOST PORT, or PORT alone with -l, or PATH with -U.
    #[arg(value_name = "HOST PORT", num_args = 0..=2)]
    operands: Vec<String>,
    #[command(flatten)]
    ssl: NcSslArgs,
}

/// Where to connect or listen.
#[derive(Clone)]
enum Target {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

impl Target {
    /// How netcat names an endpoint in its messages: `HOST PORT`.
    fn describe(&self) -> String {
        match self {
            Target::Tcp { host, port } => format!("{host} {port}"),
            Target::Unix(path) => path.display().to_string(),
        }
    }
}

/// What the session does besides copying (all from the flags).
struct Options {
    verbose: bool,
    keep_listening: bool,
    /// `-w`: connect and idle timeout.
    wait: Option<Duration>,
    /// `-q`: how long after stdin's end to quit; `None` waits for the peer.
    quit_after: Option<Duration>,
    /// `-p` without `-l`: the local port to connect from.
    local_port: Option<u16>,
    /// `--ssl` and the like, for connecting.
    ssl: Option<NcSslArgs>,
    /// `--ssl` with `-l`: the listener's TLS settings.
    tls_server: Option<TlsServerConfig>,
}

/// Print a usage error and exit 2, in clap's format, like the errors clap
/// finds itself.
fn usage_error(message: &str) -> ! {
    clap::Error::raw(
        clap::error::ErrorKind::ArgumentConflict,
        format!("{message}\n\nFor more information, try 'netloop nc --help'.\n"),
    )
    .exit()
}

/// `PORT` or, for `-z`, `FIRST-LAST`.
fn parse_ports(text: &str, allow_range: bool) -> Vec<u16> {
    let port = |s: &str| {
        s.parse::<u16>()
            .unwrap_or_else(|_| usage_error(&format!("invalid port '{s}'")))
    };
    match text.split_once('-') {
        Some((first, last)) if allow_range => {
            let (first, last) = (port(first), port(last));
            if first > last {
                usage_error(&format!("invalid port range '{text}'"));
            }
            (first..=last).collect()
        }
        Some(_) => usage_error("a port range needs -z"),
        None => vec![port(text)],
    }
}

impl Args {
    /// The targets the operands name: one, or several for a `-z` range.
    /// Checks the combinations netcat refuses too.
    fn targets(&self) -> Vec<Target> {
        if self.udp {
            usage_error("UDP is not supported (netloop nc speaks TCP and Unix sockets)");
        }
        if self.keep_listening && !self.listen {
            usage_error("-k needs -l");
        }
        if self.scan && self.listen {
            usage_error("-z cannot be used with -l");
        }
        if self.ssl.enabled() {
            // ncat refuses these too.
            if self.unix {
                usage_error("--ssl is not supported with Unix sockets (-U)");
            }
            if self.scan {
                usage_error("--ssl cannot be used with -z");
            }
            if let Some(problem) = self.ssl.listen_problem().filter(|_| self.listen) {
                usage_error(problem);
            }
        }
        let ops: Vec<&str> = self.operands.iter().map(String::as_str).collect();
        if self.unix {
            return match ops.as_slice() {
                [path] if self.port.is_none() => vec![Target::Unix(PathBuf::from(path))],
                _ => usage_error("-U takes one operand, the socket's path"),
            };
        }
        let tcp = |host: &str, port: u16| Target::Tcp {
            host: host.to_owned(),
            port,
        };
        if self.listen {
            // netcat listens on every address when no host is given.
            return match (ops.as_slice(), self.port) {
                ([port], None) => parse_ports(port, false)
                    .into_iter()
                    .map(|p| tcp("0.0.0.0", p))
                    .collect(),
                ([], Some(port)) => vec![tcp("0.0.0.0", port)],
                ([host], Some(port)) => vec![tcp(host, port)],
                ([host, port], None) => parse_ports(port, false)
                    .into_iter()
                    .map(|p| tcp(host, p))
                    .collect(),
                _ => usage_error("-l takes PORT, HOST PORT, or -p PORT [HOST]"),
            };
        }
        match ops.as_slice() {
            [host, ports] => parse_ports(ports, self.scan)
                .into_iter()
                .map(|p| tcp(host, p))
                .collect(),
            _ => usage_error("connecting takes HOST PORT"),
        }
    }

    /// # Errors
    ///
    /// A listener's certificate or key cannot be read or loaded.
    fn options(&self) -> netloop::Result<Options> {
        let ssl = self.ssl.enabled();
        Ok(Options {
            verbose: self.verbose,
            keep_listening: self.keep_listening,
            wait: self.wait.map(Duration::from_secs),
            quit_after: self.quit_after.map(Duration::from_secs),
            local_port: self.port.filter(|_| !self.listen),
            ssl: (ssl && !self.listen).then(|| self.ssl.clone()),
            tls_server: if ssl && self.listen {
                Some(self.ssl.server_config()?)
            } else {
                None
            },
        })
    }
}

/// Start connecting to `target`, with `-p`'s local port, `-w`'s connect
/// timeout and, with `-v`, OpenBSD nc's line once connected.
fn connect(target: &Target, opts: &Options) -> netloop::Result<Socket> {
    let sock = match target {
        Target::Unix(path) => net::connect_path(path)?,
        Target::Tcp { host, port } => {
            let net_opts = ConnectOptions {
                port: *port,
                host: Some(host.clone()),
                local_port: opts.local_port,
                ..ConnectOptions::default()
            };
            match &opts.ssl {
                // The TLS socket is a socket: the session copies
                // plaintext, and writes made before the handshake is
                // done wait for it.
                Some(ssl) => ssl.connect(host, *port, net_opts)?,
                None => net::connect_with(net_opts)?,
            }
        }
    };
    if opts.verbose {
        let what = match target {
            Target::Tcp { host, port } => format!("{host} {port} port [tcp/*]"),
            Target::Unix(path) => path.display().to_string(),
        };
        sock.once(Socket::CONNECT, move |_, _| {
            eprintln!("Connection to {what} succeeded!");
        });
    }
    if let Some(wait) = opts.wait {
        // The idle timer runs from before the connect (Node's `timeout`
        // option), so it bounds the connect too; once connected it is the
        // idle timeout the caller handles.
        sock.set_timeout(wait);
        let target = target.describe();
        sock.on(Socket::TIMEOUT, move |s, _| {
            if s.connecting() {
                s.destroy_with(Error::new(
                    ErrorCode::ETIMEDOUT,
                    format!(
                        "connect to {target} timed out after {}s (-w)",
                        wait.as_secs()
                    ),
                ));
            }
        });
    }
    Ok(sock)
}

pub fn run(args: Args) -> ExitCode {
    let mut targets = args.targets();
    let opts = match args.options() {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let result = if args.scan {
        scan::run(targets, opts)
    } else {
        let target = targets.pop().expect("one target unless scanning");
        session::run(target, args.listen, opts)
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
