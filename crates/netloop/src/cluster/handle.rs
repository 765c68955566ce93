//! The primary's side: [`Cluster`] (the running workers, to join) and
//! [`ClusterHandle`] (shutdown, counters; any thread).

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::state::{lock, ClusterState};
use super::{acceptor, worker, Policy};
use crate::error::{Error, ErrorCode, Result};

/// How long [`ClusterHandle::shutdown`] waits at most for every worker to
/// stop accepting, beyond the grace period when that is shorter: a worker
/// whose loop is blocked (user code that never returns) cannot answer.
const STOP_WAIT_MIN: Duration = Duration::from_secs(1);
const STOP_WAIT_MAX: Duration = Duration::from_secs(10);

/// One worker's counters, as [`ClusterHandle::stats`] reads them.
///
/// Connections are counted when a worker's server accepts them (or adopts
/// them from the round-robin acceptor), and bytes when they close: the
/// bytes of a connection still open are not in `bytes_read` and
/// `bytes_written` yet, which keeps the counters off the path every read
/// and write takes (and the bytes of connections a panic closed are not
/// counted at all). Each field is read on its own (relaxed atomics): a
/// snapshot taken while connections come and go may mix two moments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// The worker's index, 0-based.
    pub id: usize,
    /// Which run of the worker's setup this is: 1, and one more after
    /// each restart.
    pub generation: u32,
    /// How many times the worker was restarted after a panic.
    pub restarts: u32,
    /// True while a generation runs (false between a panic and the
    /// restart, and once the worker has ended).
    pub running: bool,
    /// Connections open now.
    pub connections: usize,
    /// Connections accepted since the cluster started, over every
    /// generation (refused ones, past `max_connections`, not included).
    pub connections_total: u64,
    /// Bytes read from connections that have closed.
    pub bytes_read: u64,
    /// Bytes written to connections that have closed.
    pub bytes_written: u64,
}

/// A running cluster, as [`start`](super::start) returns it: the handle of
/// the primary, which owns the worker threads (Node: the primary process,
/// `cluster.fork()`'s workers).
///
/// [`join`](Cluster::join) waits for the workers; everything else is on
/// its [`ClusterHandle`] (through `Deref`), which other threads may hold
/// too. Dropping a `Cluster` without joining leaves the workers running
/// (as dropping a `JoinHandle` does); the acceptor thread ends with the
/// last worker.
#[derive(Debug)]
pub struct Cluster {
    handle: ClusterHandle,
    workers: Vec<JoinHandle<Result<()>>>,
    acceptor: Option<JoinHandle<()>>,
}

/// A handle to a running cluster: `Send + Sync` and a cheap clone, for
/// any thread (a signal listener's loop, a worker, an admin thread) to
/// shut the cluster down or read its counters. Get one from
/// [`Cluster::handle`], or in a worker from [`handle`](super::handle).
#[derive(Clone)]
pub struct ClusterHandle {
    pub(super) state: Arc<ClusterState>,
}

impl std::fmt::Debug for ClusterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterHandle")
            .field("workers", &self.workers())
            .field("policy", &self.policy())
            .field("connections", &self.connections())
            .field("shutting_down", &self.is_shutting_down())
            .finish()
    }
}

impl Cluster {
    pub(super) fn new(
        state: Arc<ClusterState>,
        workers: Vec<JoinHandle<Result<()>>>,
        acceptor: Option<JoinHandle<()>>,
    ) -> Cluster {
        Cluster {
            handle: ClusterHandle { state },
            workers,
            acceptor,
        }
    }

    /// A handle for other threads.
    pub fn handle(&self) -> ClusterHandle {
        self.handle.clone()
    }

    /// Wait until every worker has ended for good (Node: the primary
    /// waiting for every worker's `exit`): its loop ran out of work, its
    /// setup returned an error, it panicked and was not restarted, or a
    /// [`shutdown`](ClusterHandle::shutdown) let it finish.
    ///
    /// # Errors
    ///
    /// The first error, by worker index: an error a worker's setup
    /// returned, an `error` event nobody listened to that ended its loop,
    /// or `ERR_UNHANDLED_ERROR` (`netloop worker 1 panicked: ...`) for a
    /// panic that was not followed by a restart.
    pub fn join(self) -> Result<()> {
        let mut first_err = None;
        for (id, worker) in self.workers.into_iter().enumerate() {
            // The thread catches the panics of its generations; an `Err`
            // here would be a panic in the cluster's own bookkeeping.
            let res = worker.join().unwrap_or_else(|_| {
                Err(Error::new(
                    ErrorCode::ERR_UNHANDLED_ERROR,
                    format!("netloop worker {id}: its thread panicked"),
                ))
            });
            if let Err(e) = res {
                first_err.get_or_insert(e);
            }
        }
        acceptor::stop(&self.handle.state);
        if let Some(acceptor) = self.acceptor {
            let _ = acceptor.join();
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl std::ops::Deref for Cluster {
    type Target = ClusterHandle;

    fn deref(&self) -> &ClusterHandle {
        &self.handle
    }
}

impl ClusterHandle {
    /// Shut the cluster down gracefully: stop accepting everywhere, let
    /// the open connections finish, and close those still open after
    /// `grace` (Node: what a primary does with `server.close()` in every
    /// worker and a timer that kills the stragglers).
    ///
    /// In order:
    ///
    /// 1. Every server of every worker is [closed](crate::net::Server::close)
    ///    (and with round robin, the acceptor's sockets): nothing accepts
    ///    once this returns, so a client that connects now is refused.
    ///    Restarts stop too.
    /// 2. Open connections carry on; a worker whose last connection ends
    ///    (and that has nothing else to do) ends.
    /// 3. At the deadline, each worker closes the connections still open
    ///    ([`Server::close_all_connections`](crate::net::Server::close_all_connections)).
    ///
    /// [`join`](Cluster::join) then returns once every worker has ended.
    /// Handles a worker's setup made other than servers and their
    /// connections (a ref'd timer, a client socket) keep that worker
    /// running: close them too, for instance when the server emits
    /// `close`.
    ///
    /// Callable from any thread, any number of times: the first call sets
    /// the deadline; each call returns once nothing accepts (a worker's
    /// loop that does not answer within `grace`, at least 1 s and at most
    /// 10 s, is not waited for). From a worker's own loop (a signal
    /// listener in a worker), that worker's part is done in the call.
    /// Returns true for the call that started the shutdown.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use netloop::cluster::{self, ClusterOptions};
    /// use netloop::net::Server;
    ///
    /// let cluster = cluster::start(ClusterOptions { workers: 2, ..ClusterOptions::default() }, |_| {
    ///     let server = Server::new();
    ///     server.on(Server::CONNECTION, |_, sock| {
    ///         sock.pipe(sock);
    ///     });
    ///     server.listen(0, "127.0.0.1")?;
    ///     Ok(())
    /// })
    /// .expect("the workers started");
    /// assert!(cluster.shutdown(Duration::from_secs(5)));
    /// assert!(!cluster.shutdown(Duration::from_secs(5))); // already under way
    /// cluster.join().expect("every worker ended cleanly");
    /// ```
    pub fn shutdown(&self, grace: Duration) -> bool {
        let state = &self.state;
        let first = state.begin_shutdown(grace);
        let deadline = state.deadline();
        // This thread's own worker cannot answer a post while it waits
        // here: its part is done now.
        let own = worker::context().filter(|c| Arc::ptr_eq(&c.state, state));
        if let Some(ctx) = &own {
            ctx.stop_accepting(deadline);
        }
        if first {
            tracing::debug!(target: "netloop::cluster", ?grace, "shutdown");
            acceptor::stop_accepting(state);
            for (id, slot) in state.slots.iter().enumerate() {
                if own.as_ref().is_some_and(|c| c.id == id) {
                    continue;
                }
                let handle = lock(&slot.handle).clone();
                if let Some(handle) = handle {
                    // Refused: that generation's loop has ended, and its
                    // thread counts it as stopped. A worker still in its
                    // setup has no handle yet and sees the shutdown when
                    // its setup returns.
                    let _ = handle.post(move || {
                        if let Some(ctx) = worker::context().filter(|c| c.id == id) {
                            ctx.stop_accepting(deadline);
                        }
                    });
                }
            }
        }
        let limit = grace.clamp(STOP_WAIT_MIN, STOP_WAIT_MAX);
        if !state.wait_not_accepting(limit) {
            tracing::warn!(target: "netloop::cluster", "shutdown: a worker did not stop accepting within {limit:?}");
        }
        first
    }

    /// Close every open connection of every worker now, without waiting
    /// for the deadline of a [`shutdown`](ClusterHandle::shutdown) (Node
    /// 18.2+: `server.closeAllConnections()`, on every worker's server).
    /// Each worker does it on its own loop, soon after this returns.
    pub fn close_all_connections(&self) {
        let state = &self.state;
        let own = worker::context().filter(|c| Arc::ptr_eq(&c.state, state));
        for (id, slot) in state.slots.iter().enumerate() {
            if let Some(ctx) = own.as_ref().filter(|c| c.id == id) {
                ctx.close_all_connections();
                continue;
            }
            let handle = lock(&slot.handle).clone();
            if let Some(handle) = handle {
                let _ = handle.post(move || {
                    if let Some(ctx) = worker::context().filter(|c| c.id == id) {
                        ctx.close_all_connections();
                    }
                });
            }
        }
    }

    /// True once [`shutdown`](ClusterHandle::shutdown) was called.
    pub fn is_shutting_down(&self) -> bool {
        self.state.shutting_down()
    }

    /// Each worker's counters, by worker index (see [`WorkerStats`]).
    pub fn stats(&self) -> Vec<WorkerStats> {
        self.state.stats()
    }

    /// Connections open in the whole cluster (Node:
    /// `server.getConnections()`, summed over the workers). Exact: the
    /// count `max_connections` is checked against.
    pub fn connections(&self) -> usize {
        self.state.open.load(std::sync::atomic::Ordering::Acquire)
    }

    /// How many workers the cluster runs.
    pub fn workers(&self) -> usize {
        self.state.slots.len()
    }

    /// The scheduling policy.
    pub fn policy(&self) -> Policy {
        self.state.policy
    }

    /// Wait up to `timeout` for every worker to end for good; true if
    /// they have (then [`Cluster::join`] returns at once).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.state.wait_ended(Some(timeout))
    }
}
