//! Graceful shutdown for `netloop server` and `netloop echo`: on SIGINT
//! or SIGTERM, stop accepting (`server.close()`), let the open connections
//! finish, and close whatever is still open after `--shutdown-timeout`.
//!
//! The pattern is Node's (`process.on('SIGTERM', () => server.close())`):
//! the signal listeners do not keep the loop alive, so once the last
//! connection has ended `netloop::run` returns by itself and the tool
//! exits 0. The first signal removes both listeners, which gives the
//! signals their default action back: a second Ctrl-C stops the process
//! at once, as most servers do.
//!
//! At the deadline the process exits (status 0), and the kernel closes
//! the remaining connections as `destroy()` would (a FIN, or an RST where
//! unread bytes remain). Destroying them one by one would need a list of
//! every open socket, kept for the whole life of each connection: memory
//! per idle connection is one of the numbers `netloop bench idle`
//! measures, and shutdown is no reason to raise it.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use std::time::Duration;

use netloop::net::Server;
use netloop::signals::{self, Signal};
use netloop::timers;

#[derive(clap::Args, Clone, Copy)]
pub struct ShutdownArgs {
    /// On SIGINT or SIGTERM: how long open connections may take to finish
    /// (seconds) before they are closed and the process exits.
    #[arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = parse_secs)]
    shutdown_timeout: f64,
}

fn parse_secs(s: &str) -> Result<f64, String> {
    let secs: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if secs.is_finite() && secs >= 0.0 {
        Ok(secs)
    } else {
        Err("must be a number of seconds, 0 or more".to_owned())
    }
}

/// Shut `server` down gracefully on SIGINT or SIGTERM. `who` prefixes the
/// lines printed to stderr; `quiet` prints none.
pub fn on_signals(
    server: &Server,
    args: ShutdownArgs,
    who: &'static str,
    quiet: bool,
) -> netloop::Result<()> {
    let timeout = Duration::try_from_secs_f64(args.shutdown_timeout).unwrap_or(Duration::MAX);
    let listeners: Rc<RefCell<Vec<signals::ListenerId>>> = Rc::default();
    for signal in [Signal::INT, Signal::TERM] {
        let (server, listeners_) = (server.clone(), Rc::clone(&listeners));
        let id = signals::on(signal, move |signal| {
            for id in listeners_.borrow_mut().drain(..) {
                signals::off(id);
            }
            server.close();
            if !quiet {
                eprintln!(
                    "{who}: {signal}: not accepting; waiting up to {}s for {} open connection(s) \
                     ({signal} again stops at once)",
                    args.shutdown_timeout,
                    server.connections()
                );
            }
            let server = server.clone();
            // Unref'd: if every connection ends first, nothing waits for it.
            timers::set_timeout(timeout, move || {
                if !quiet {
                    eprintln!(
                        "{who}: shutdown timeout: closing {} remaining connection(s)",
                        server.connections()
                    );
                }
                let _ = std::io::stdout().flush();
                std::process::exit(0);
            })
            .unref();
        })?;
        listeners.borrow_mut().push(id);
    }
    Ok(())
}
