//! The `netloop` command-line tool: the seed's server and client, an echo
//! server, a netcat, and a load generator.

mod bench;
mod client;
mod echo;
mod logging;
mod nc;
mod proxy_protocol;
mod server;
mod shutdown;
mod threads;
mod tls_args;
mod tls_cert;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "netloop",
    version,
    about = "Node's net module, rebuilt in Rust"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The seed's TCP server: logs connections, answers `You said "..."`.
    Server(server::Args),
    /// The seed's TCP client: sends a message, prints the reply, closes.
    Client(client::Args),
    /// An echo server (each socket piped into itself, with backpressure).
    Echo(echo::Args),
    /// A netcat: connect (or listen with -l) and copy stdin/stdout.
    Nc(nc::Args),
    /// A load generator (pingpong, stream, connect, idle, timer costs),
    /// misbehaving clients for stress tests (slowread, halfopen, rst), and
    /// the report of a bench/compare.sh run.
    Bench(bench::Args),
    /// Write a self-signed TLS test certificate and key for localhost,
    /// 127.0.0.1 and ::1 (cert.pem and key.pem).
    TlsCert(tls_cert::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The servers say when they run out of descriptors (unless quiet);
    // the one-shot tools report their failure through their exit status.
    logging::init(match &cli.command {
        Command::Server(_) => Some(logging::WARNINGS),
        Command::Echo(a) if !a.quiet() => Some(logging::WARNINGS),
        _ => None,
    });
    let result = match cli.command {
        Command::Server(a) => server::run(a),
        Command::Client(a) => client::run(a),
        Command::Echo(a) => echo::run(a),
        // nc has netcat's exit statuses (a closed port is 1 with nothing
        // printed), so it reports its own errors.
        Command::Nc(a) => return nc::run(a),
        Command::Bench(a) => bench::run(a),
        Command::TlsCert(a) => tls_cert::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap's own consistency checks over every subcommand (argument
    /// order, defaults, conflicts), which otherwise only run when that
    /// subcommand is parsed.
    #[test]
    fn command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
