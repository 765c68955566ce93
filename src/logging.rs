//! Debug logs: `RUST_LOG=netloop=debug`, or Node's `NODE_DEBUG=net`, turns
//! on the library's `tracing` events (accept, connect, lookup, close,
//! errors). With neither set nothing is installed, so the events cost a
//! disabled-callsite check.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = if let Ok(f) = std::env::var("RUST_LOG") {
        f
    } else if let Ok(d) = std::env::var("NODE_DEBUG") {
        // NODE_DEBUG=net,dns,timer: a comma-separated list of modules.
        d.split(',')
            .map(|m| format!("netloop::{}=debug", m.trim()))
            .collect::<Vec<_>>()
            .join(",")
    } else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}
