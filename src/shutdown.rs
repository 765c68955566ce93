//! Graceful shutdown for `netloop server` and `netloop echo`: on SIGINT
//! or SIGTERM, stop accepting, let the open connections finish, and close
//! whatever is still open after `--shutdown-timeout`.
//!
//! The pattern is Node's (`process.on('SIGTERM', () => server.close())`):
//! the signal listeners do not keep the loop alive, so once the last
//! connection has ended `netloop::run` returns by itself and the tool
//! exits 0. The first signal removes both listeners, which gives the
//! signals their default action back: a second Ctrl-C stops the process
//! at once, as most servers do.
//!
//! At the deadline the remaining connections are destroyed
//! (`close_all_connections`: a FIN, or an RST where unread bytes remain),
//! the loop ends, and the tool exits 0. The server finds them among its
//! loop's handles, so it keeps no list of its connections: memory per
//! idle connection is one of the numbers `netloop bench idle` measures.
//!
//! With `--threads`, the same listeners run on the primary's loop and act
//! on the whole cluster ([`Drain`] for `ClusterHandle`): every worker
//! stops accepting before the first line is printed, and at the deadline
//! every worker closes what it still has.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use netloop::cluster::ClusterHandle;
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

/// What a graceful shutdown acts on: one server, or every worker's.
pub trait Drain: Clone + 'static {
    /// Stop accepting; open connections carry on. Returns once nothing
    /// accepts.
    fn stop_accepting(&self);
    /// Connections open now.
    fn connections(&self) -> usize;
    /// Close every open connection.
    fn close_all_connections(&self);
}

impl Drain for Server {
    fn stop_accepting(&self) {
        self.close();
    }

    fn connections(&self) -> usize {
        Server::connections(self)
    }

    fn close_all_connections(&self) {
        Server::close_all_connections(self);
    }
}

impl Drain for ClusterHandle {
    fn stop_accepting(&self) {
        // No deadline of the library's own: the primary's timer below
        // prints its line first, then closes what remains.
        self.shutdown(Duration::MAX);
    }

    fn connections(&self) -> usize {
        ClusterHandle::connections(self)
    }

    fn close_all_connections(&self) {
        ClusterHandle::close_all_connections(self);
    }
}

/// Shut `target` down gracefully on SIGINT or SIGTERM. `who` prefixes the
/// lines printed to stderr; `quiet` prints none.
pub fn on_signals(
    target: &impl Drain,
    args: ShutdownArgs,
    who: &'static str,
    quiet: bool,
) -> netloop::Result<()> {
    let timeout = Duration::try_from_secs_f64(args.shutdown_timeout).unwrap_or(Duration::MAX);
    let listeners: Rc<RefCell<Vec<signals::ListenerId>>> = Rc::default();
    for signal in [Signal::INT, Signal::TERM] {
        let (target, listeners_) = (target.clone(), Rc::clone(&listeners));
        let id = signals::on(signal, move |signal| {
            for id in listeners_.borrow_mut().drain(..) {
                signals::off(id);
            }
            target.stop_accepting();
            if !quiet {
                eprintln!(
                    "{who}: {signal}: not accepting; waiting up to {}s for {} open connection(s) \
                     ({signal} again stops at once)",
                    args.shutdown_timeout,
                    target.connections()
                );
            }
            let target = target.clone();
            // Unref'd: if every connection ends first, nothing waits for it.
            timers::set_timeout(timeout, move || {
                if !quiet {
                    eprintln!(
                        "{who}: shutdown timeout: closing {} remaining connection(s)",
                        target.connections()
                    );
                }
                target.close_all_connections();
            })
            .unref();
        })?;
        listeners.borrow_mut().push(id);
    }
    Ok(())
}
