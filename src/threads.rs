//! `--threads N [--policy round-robin|shared]` for `netloop server` and
//! `netloop echo`: the same server on N loops, one per thread
//! (`netloop::cluster`), or today's single loop for `--threads 1`.
//!
//! The workers run the subcommand's own setup (create the server, listen);
//! the primary (this thread) runs a loop of its own for the signals, so a
//! graceful shutdown covers every worker (see `shutdown.rs`), prints the
//! listening line once every worker listens, and exits with the first
//! worker's error, if any. A listen that fails in a worker (`EADDRINUSE`)
//! ends the tool with that error, as the single loop does.

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use netloop::cluster::{self, ClusterOptions, ExitReason, Policy, WorkerExit};
use netloop::net::Server;
use netloop::{timers, Slot};

use crate::shutdown::ShutdownArgs;

#[derive(clap::Args, Clone, Copy)]
pub struct ThreadsArgs {
    /// Event loops (threads) serving the port: 1 is a single loop, 0 one
    /// per available core.
    #[arg(long, value_name = "N", default_value_t = 1)]
    threads: usize,
    /// With more than one thread: how connections reach them. round-robin:
    /// one acceptor hands them out in turn; shared: a socket per thread
    /// (SO_REUSEPORT), spread by the kernel.
    #[arg(long, value_enum, default_value_t = PolicyArg::RoundRobin)]
    policy: PolicyArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PolicyArg {
    RoundRobin,
    Shared,
}

impl ThreadsArgs {
    /// True for `--threads 1`: today's single loop, unchanged.
    pub fn single(&self) -> bool {
        self.threads == 1
    }
}

/// How long the primary waits for the workers to listen before it gives
/// up (a failure guard: binding an IP literal is immediate, a host name
/// takes one lookup).
const LISTEN_GUARD: Duration = Duration::from_secs(60);

/// Run `setup` (which creates a server and calls `listen`) on every
/// worker of a cluster; print `listening(address)` once all of them
/// listen; shut down gracefully on SIGINT/SIGTERM.
pub fn run(
    threads: ThreadsArgs,
    shutdown: ShutdownArgs,
    who: &'static str,
    quiet: bool,
    listening: impl FnOnce(std::net::SocketAddr) -> String + 'static,
    setup: impl Fn() -> netloop::Result<Server> + Send + Sync + 'static,
) -> netloop::Result<()> {
    let policy = match threads.policy {
        PolicyArg::RoundRobin => Policy::RoundRobin,
        PolicyArg::Shared => Policy::Shared,
    };
    let (tx, rx) = mpsc::channel::<netloop::Result<std::net::SocketAddr>>();
    // A worker whose first setup fails or panics before it listens
    // reports that instead (the primary waits for one report per worker).
    let failed = Mutex::new(tx.clone());
    let on_worker_exit: cluster::ExitHook = Arc::new(move |exit: &WorkerExit| {
        if exit.generation > 1 {
            return;
        }
        let err = match &exit.reason {
            ExitReason::Failed(e) => e.clone(),
            ExitReason::Panicked(msg) => netloop::Error::new(
                netloop::ErrorCode::ERR_UNHANDLED_ERROR,
                format!("{who}: worker {} panicked: {msg}", exit.id),
            ),
            _ => return,
        };
        let _ = failed.lock().map(|tx| tx.send(Err(err)));
    });
    let tx = Mutex::new(tx);
    let opts = ClusterOptions {
        workers: threads.threads,
        policy,
        on_worker_exit: Some(on_worker_exit),
        ..ClusterOptions::default()
    };
    let cluster = cluster::start(opts, move |_| {
        let server = setup()?;
        let tx = tx.lock().expect("no worker panics holding it").clone();
        // Each worker reports once: listening, or why not. The primary
        // stops reading after the first generation of every worker, so a
        // restarted worker's report has no one to go to (ignored).
        let reported = tx.clone();
        server.once(Server::LISTENING, move |s, _| {
            if let Some(addr) = s.address() {
                let _ = reported.send(Ok(addr));
            }
        });
        // Once listening, nothing the server reports may end the worker:
        // the library emits no accept error (as Node 20); this makes sure
        // of it. Before, a listen error ends the tool (exit 1).
        server.on(Server::ERROR, move |s, err| {
            if s.listening() {
                if !quiet {
                    eprintln!("{who}: {err}");
                }
            } else {
                let _ = tx.send(Err(err.clone()));
            }
        });
        Ok(())
    })?;
    let handle = cluster.handle();
    let result = netloop::run_returning(move || {
        // Before the listening line: whoever reads it may signal at once.
        crate::shutdown::on_signals(&handle, shutdown, who, quiet)?;
        let mut address = None;
        for _ in 0..handle.workers() {
            let report = rx.recv_timeout(LISTEN_GUARD).map_err(|_| {
                netloop::Error::new(
                    netloop::ErrorCode::ETIMEDOUT,
                    format!("{who}: the workers did not start listening"),
                )
            });
            match report.and_then(|r| r) {
                Ok(addr) => address = Some(addr),
                Err(e) => {
                    handle.shutdown(Duration::ZERO);
                    let _ = cluster.join();
                    return Err(e);
                }
            }
        }
        if let Some(addr) = address {
            println!("{}", listening(addr));
        }
        // The primary's loop has nothing of its own to wait for (signal
        // listeners are unref'd): a ref'd timer keeps it running until the
        // workers have ended, as a primary process stays up while it has
        // workers.
        let keep_alive = timers::set_interval(Duration::from_secs(3600), || {});
        let result: Slot<netloop::Result<()>> = Slot::new(Ok(()));
        let outcome = result.clone();
        let done = netloop::channel(move |res: netloop::Result<()>| {
            keep_alive.cancel();
            outcome.set(res);
        });
        std::thread::spawn(move || {
            let res = cluster.join();
            // The primary's loop runs until this arrives.
            let _ = done.send(res);
        });
        Ok(result)
    })?;
    result
}
