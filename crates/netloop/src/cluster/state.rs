//! What every thread of a cluster shares: the options, the counters, the
//! table of listening sockets, and the shutdown's progress. One
//! `Arc<ClusterState>` per cluster; nothing in it is `!Send`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use super::{ExitHook, Policy, WorkerStats};
use crate::event_loop::LoopHandle;
use crate::stream::tcp::ListenAddr;

/// How many connections the round-robin acceptor hands one worker before
/// that worker has adopted them. A worker whose loop is busy (a long
/// callback) stops getting connections once it has this many waiting, and
/// the others get them instead; Node's round-robin handle goes further
/// and waits for each handoff to be acknowledged (one in flight), which
/// costs a message back per connection. With none free anywhere, the
/// acceptor stops accepting and the connections wait in the kernel's
/// backlog.
pub(super) const PENDING_LIMIT: usize = 64;

/// One worker's counters, written by its thread (relaxed atomics: each is
/// a statistic, read on its own) and read by [`ClusterHandle::stats`].
///
/// [`ClusterHandle::stats`]: super::ClusterHandle::stats
#[derive(Default)]
pub(super) struct WorkerSlot {
    pub generation: AtomicU32,
    pub restarts: AtomicU32,
    pub running: AtomicBool,
    /// Connections open now (the cluster-wide total is
    /// [`ClusterState::open`]).
    pub open: AtomicUsize,
    pub total: AtomicU64,
    pub bytes_read: AtomicU64,
    pub bytes_written: AtomicU64,
    /// Connections the acceptor handed to this worker that it has not
    /// adopted yet (see [`PENDING_LIMIT`]).
    pub pending: AtomicUsize,
    /// The loop of the running generation, once its setup returned: where
    /// shutdown posts.
    pub handle: Mutex<Option<LoopHandle>>,
}

/// A listening socket shared by the workers, by what they asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct ListenKey {
    /// The address as given to `listen` (port 0 included).
    pub at: ListenAddr,
    pub ipv6_only: bool,
    /// The how-many-th server of the worker on this address: a worker's
    /// first `listen(0)` shares a port with every other worker's first,
    /// its second with their second (Node keys shared handles the same
    /// way, `cluster._getServer`'s `index`).
    pub index: usize,
}

/// A socket in the table.
pub(super) struct Listening {
    /// Round robin: the acceptor's id of the socket. Shared: none (each
    /// worker has its own socket on the port).
    pub rr_id: Option<u64>,
    /// The address every worker's server reports (the real port).
    pub address: std::net::SocketAddr,
    /// Where to bind again with this port.
    pub bound: ListenAddr,
    /// Servers listening through this entry, in every worker.
    pub refs: usize,
}

/// The listening sockets of the cluster.
#[derive(Default)]
pub(super) struct Ports {
    pub table: HashMap<ListenKey, Listening>,
    pub next_rr_id: u64,
    /// Round-robin sockets the acceptor was told to close and has not
    /// closed yet, by address: a new `listen` on a fixed port waits for
    /// them (it would get `EADDRINUSE` from the old socket otherwise).
    pub closing: HashMap<ListenAddr, usize>,
}

/// How far a shutdown has got.
#[derive(Default)]
pub(super) struct Progress {
    pub started: bool,
    /// When open connections are closed by force; `None`: never.
    pub deadline: Option<Instant>,
    /// Per worker: it stopped accepting (or ended).
    pub stopped: Vec<bool>,
    /// Per worker: its thread has ended for good.
    pub ended: Vec<bool>,
    pub acceptor_stopped: bool,
}

impl Progress {
    fn accepting_somewhere(&self) -> bool {
        !self.acceptor_stopped
            || self
                .stopped
                .iter()
                .zip(&self.ended)
                .any(|(stopped, ended)| !stopped && !ended)
    }
}

pub(crate) struct ClusterState {
    pub policy: Policy,
    pub max_connections: Option<usize>,
    pub restart_on_panic: bool,
    pub on_worker_exit: Option<ExitHook>,
    /// Open connections in the whole cluster: exact, since a connection
    /// takes its slot with a compare-and-swap against `max_connections`.
    pub open: AtomicUsize,
    pub slots: Vec<WorkerSlot>,
    pub ports: Mutex<Ports>,
    /// Signalled when the acceptor closed a socket (`Ports::closing`).
    pub ports_changed: Condvar,
    /// The round-robin acceptor's loop (round robin only).
    pub acceptor: OnceLock<LoopHandle>,
    pub progress: Mutex<Progress>,
    /// Signalled on every change of `progress`.
    pub progress_changed: Condvar,
    pub shutting_down: AtomicBool,
    /// Worker threads that have not ended for good.
    pub live_workers: AtomicUsize,
}

/// Lock a mutex whose data stays consistent even if a thread panicked
/// while holding it: every critical section here is a few assignments.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ClusterState {
    pub fn new(
        workers: usize,
        policy: Policy,
        max_connections: Option<usize>,
        restart_on_panic: bool,
        on_worker_exit: Option<ExitHook>,
    ) -> ClusterState {
        ClusterState {
            policy,
            max_connections,
            restart_on_panic,
            on_worker_exit,
            open: AtomicUsize::new(0),
            slots: (0..workers).map(|_| WorkerSlot::default()).collect(),
            ports: Mutex::new(Ports::default()),
            ports_changed: Condvar::new(),
            acceptor: OnceLock::new(),
            progress: Mutex::new(Progress {
                stopped: vec![false; workers],
                ended: vec![false; workers],
                // Only round robin has an acceptor to stop.
                acceptor_stopped: policy != Policy::RoundRobin,
                ..Progress::default()
            }),
            progress_changed: Condvar::new(),
            shutting_down: AtomicBool::new(false),
            live_workers: AtomicUsize::new(workers),
        }
    }

    pub fn shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// The shutdown's deadline, once one started.
    pub fn deadline(&self) -> Option<Instant> {
        lock(&self.progress).deadline
    }

    /// Take a connection's slot: false when the cluster-wide
    /// `max_connections` is reached. Exact: two workers cannot both take
    /// the last slot.
    pub fn admit(&self, worker: usize) -> bool {
        let admitted = match self.max_connections {
            Some(max) => self
                .open
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < max).then_some(n + 1)
                })
                .is_ok(),
            None => {
                self.open.fetch_add(1, Ordering::AcqRel);
                true
            }
        };
        if admitted {
            let slot = &self.slots[worker];
            slot.open.fetch_add(1, Ordering::Relaxed);
            slot.total.fetch_add(1, Ordering::Relaxed);
        }
        admitted
    }

    /// Give back a slot taken by [`admit`](Self::admit) for a connection
    /// that was never served.
    pub fn release(&self, worker: usize) {
        let slot = &self.slots[worker];
        slot.open.fetch_sub(1, Ordering::Relaxed);
        slot.total.fetch_sub(1, Ordering::Relaxed);
        self.open.fetch_sub(1, Ordering::AcqRel);
    }

    /// A connection of `worker` closed.
    pub fn closed(&self, worker: usize, bytes_read: u64, bytes_written: u64) {
        let slot = &self.slots[worker];
        slot.open.fetch_sub(1, Ordering::Relaxed);
        slot.bytes_read.fetch_add(bytes_read, Ordering::Relaxed);
        slot.bytes_written
            .fetch_add(bytes_written, Ordering::Relaxed);
        self.open.fetch_sub(1, Ordering::AcqRel);
    }

    /// A generation of `worker` ended: its loop's teardown closed the
    /// connections it still had without counting them (a panic), so they
    /// leave the totals here.
    pub fn forget_open(&self, worker: usize) {
        let left = self.slots[worker].open.swap(0, Ordering::Relaxed);
        if left > 0 {
            self.open.fetch_sub(left, Ordering::AcqRel);
        }
    }

    pub fn stats(&self) -> Vec<WorkerStats> {
        self.slots
            .iter()
            .enumerate()
            .map(|(id, s)| WorkerStats {
                id,
                generation: s.generation.load(Ordering::Relaxed),
                restarts: s.restarts.load(Ordering::Relaxed),
                running: s.running.load(Ordering::Relaxed),
                connections: s.open.load(Ordering::Relaxed),
                connections_total: s.total.load(Ordering::Relaxed),
                bytes_read: s.bytes_read.load(Ordering::Relaxed),
                bytes_written: s.bytes_written.load(Ordering::Relaxed),
            })
            .collect()
    }

    // ----- shutdown bookkeeping ---------------------------------------

    /// Start the shutdown; true for the call that started it. The
    /// deadline is set once, by that call.
    pub fn begin_shutdown(&self, grace: Duration) -> bool {
        let mut p = lock(&self.progress);
        if p.started {
            return false;
        }
        p.started = true;
        p.deadline = Instant::now().checked_add(grace);
        self.shutting_down.store(true, Ordering::Release);
        drop(p);
        self.progress_changed.notify_all();
        true
    }

    pub fn worker_stopped(&self, worker: usize) {
        lock(&self.progress).stopped[worker] = true;
        self.progress_changed.notify_all();
    }

    pub fn worker_ended(&self, worker: usize) {
        lock(&self.progress).ended[worker] = true;
        self.progress_changed.notify_all();
    }

    pub fn acceptor_stopped(&self) {
        lock(&self.progress).acceptor_stopped = true;
        self.progress_changed.notify_all();
    }

    /// Wait until nothing accepts any more (every worker and the acceptor
    /// stopped, or ended), for at most `limit`; true if so.
    pub fn wait_not_accepting(&self, limit: Duration) -> bool {
        let p = lock(&self.progress);
        let (p, _) = self
            .progress_changed
            .wait_timeout_while(p, limit, |p| p.accepting_somewhere())
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        !p.accepting_somewhere()
    }

    /// Wait until every worker has ended for good, for at most `limit`
    /// (`None`: as long as it takes); true if so.
    pub fn wait_ended(&self, limit: Option<Duration>) -> bool {
        let p = lock(&self.progress);
        let pending = |p: &mut Progress| p.ended.iter().any(|e| !e);
        let mut p = match limit {
            Some(limit) => {
                self.progress_changed
                    .wait_timeout_while(p, limit, pending)
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .0
            }
            None => self
                .progress_changed
                .wait_while(p, pending)
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        };
        !pending(&mut p)
    }

    /// Sleep for `d` unless a shutdown starts first; true if one did.
    pub fn sleep_unless_shutdown(&self, d: Duration) -> bool {
        let p = lock(&self.progress);
        let (p, _) = self
            .progress_changed
            .wait_timeout_while(p, d, |p| !p.started)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        p.started
    }
}
