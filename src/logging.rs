//! Logs: `RUST_LOG=netloop=debug`, or Node's `NODE_DEBUG=net`, turns on
//! the library's `tracing` events (accept, connect, lookup, close, errors).
//! Without either, a server subcommand prints the library's warnings (a
//! listener out of file descriptors, when it starts shedding connections
//! and when it recovers) and the other subcommands print nothing: no
//! subscriber is installed, so the events cost a disabled-callsite check.
//!
//! Colour only on a terminal: piped into a file or `grep`, escape codes
//! would be noise in every line (and `NO_COLOR`, <https://no-color.org>,
//! turns them off on a terminal too).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// What a server subcommand logs when neither variable is set.
pub const WARNINGS: &str = "netloop=warn";

/// Install the subscriber; `default` is the filter to use when neither
/// `RUST_LOG` nor `NODE_DEBUG` is set (`None`: log nothing).
pub fn init(default: Option<&str>) {
    let filter = if let Ok(f) = std::env::var("RUST_LOG") {
        f
    } else if let Ok(d) = std::env::var("NODE_DEBUG") {
        // NODE_DEBUG=net,dns,timer: a comma-separated list of modules.
        d.split(',')
            .map(|m| format!("netloop::{}=debug", m.trim()))
            .collect::<Vec<_>>()
            .join(",")
    } else if let Some(d) = default {
        d.to_owned()
    } else {
        return;
    };
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && !no_color)
        .try_init();
}
