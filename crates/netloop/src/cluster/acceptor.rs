//! The round-robin acceptor (Node's `RoundRobinHandle` in the primary):
//! a thread with a netloop loop of its own that accepts on every shared
//! listening socket and hands each connection to the next worker whose
//! server listens there.
//!
//! Everything reaches it as a closure posted to its loop (the workers'
//! `listen` and `close`, connections that come back), and it reaches the
//! workers the same way: a connection travels as a [`Handoff`] in a
//! closure posted to the worker's loop, and is adopted there by the same
//! code that adopts a connection the worker accepted itself. Nothing reads
//! from it on the way: the kernel keeps its bytes until the worker's loop
//! registers it.
//!
//! A connection is never lost to a worker that cannot take it: a worker
//! whose loop has ended refuses the post (the acceptor tries the next
//! worker), a worker whose server closed meanwhile sends it back, and a
//! handoff dropped unrun (the worker panicked) sends itself back from its
//! `Drop`.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};

use super::state::{lock, ClusterState, PENDING_LIMIT};
use super::worker;
use crate::error::{Error, Result};
use crate::event_loop::{self, EventLoop, HandleRef, IoHandler, LoopHandle, Ready};
use crate::stream::tcp::ListenAddr;
use crate::stream::{Accepted, ListenerHandle, ListenerIo, ListenerOwner};

thread_local! {
    static ACCEPTOR: RefCell<Option<Rc<Acceptor>>> = const { RefCell::new(None) };
}

/// Start the acceptor's thread and wait until its loop runs.
pub(super) fn start(state: &Arc<ClusterState>) -> Result<JoinHandle<()>> {
    let (tx, rx) = mpsc::channel();
    let st = Arc::clone(state);
    let thread = thread::Builder::new()
        .name("netloop-acceptor".to_owned())
        .spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                crate::run(|| {
                    let acceptor = Acceptor::new(Arc::clone(&st));
                    ACCEPTOR.with(|a| *a.borrow_mut() = Some(acceptor));
                    // The receiver waits for this; if it is gone, so is
                    // the cluster being started.
                    let _ = tx.send(crate::loop_handle());
                    Ok(())
                })
            }));
            ACCEPTOR.with(|a| a.borrow_mut().take());
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(target: "netloop::cluster", "acceptor failed: {e}"),
                Err(_) => tracing::error!(target: "netloop::cluster", "acceptor panicked"),
            }
            st.acceptor_stopped();
        })
        .map_err(Error::from)?;
    match rx.recv() {
        Ok(handle) => {
            // Set once, here, before any worker starts.
            let _ = state.acceptor.set(handle);
            Ok(thread)
        }
        Err(_) => {
            let _ = thread.join();
            Err(Error::new(
                crate::error::ErrorCode::ERR_UNHANDLED_ERROR,
                "netloop cluster: the acceptor's loop did not start",
            ))
        }
    }
}

/// A worker's server that takes connections from a socket.
#[derive(Clone)]
pub(super) struct Target {
    pub worker: usize,
    pub generation: u32,
    /// The server's key in the worker's `rr_servers`.
    pub reg: usize,
    pub handle: LoopHandle,
}

/// A connection on its way to a worker, in the closure posted to it.
pub(super) struct Handoff {
    conn: Option<Accepted>,
    state: Arc<ClusterState>,
    rr_id: u64,
    worker: usize,
    generation: u32,
    reg: usize,
}

impl Handoff {
    /// The connection, once: it no longer counts as pending for the worker.
    fn take(&mut self) -> Option<Accepted> {
        let conn = self.conn.take();
        if conn.is_some() {
            release_pending(&self.state, self.worker);
        }
        conn
    }
}

impl Drop for Handoff {
    fn drop(&mut self) {
        // Dropped unrun: the worker's loop stopped early (a panic). The
        // connection goes back to the acceptor for another worker.
        if let Some(conn) = self.take() {
            requeue(&self.state, self.rr_id, conn);
        }
    }
}

/// A worker adopted (or sent back) one of its pending connections. The
/// one that brings it under the limit again wakes the acceptor, which may
/// have stopped accepting because every worker was at the limit.
fn release_pending(state: &ClusterState, worker: usize) {
    let prev = state.slots[worker]
        .pending
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| p.checked_sub(1));
    if prev == Ok(PENDING_LIMIT) {
        post(state, |a| a.resume());
    }
}

/// On the worker's loop: adopt the connection into the server it was
/// meant for, through the server's own `onconnection` path, or send it
/// back if that server has closed meanwhile (Node's worker answers
/// `accepted: false` then, and the primary tries another worker).
fn deliver(mut handoff: Handoff) {
    let Some(conn) = handoff.take() else { return };
    let server = worker::context()
        .filter(|c| c.id == handoff.worker && c.generation == handoff.generation)
        .and_then(|c| {
            c.rr_servers
                .borrow()
                .get(handoff.reg)
                .filter(|(_, id)| *id == handoff.rr_id)
                .map(|(s, _)| s.clone())
        });
    match server {
        Some(server) => server.adopt(conn),
        None => requeue(&handoff.state, handoff.rr_id, conn),
    }
}

// ----- messages to the acceptor (from any thread) ------------------------

/// Run `f` on the acceptor's loop; false if it has ended.
fn post(state: &ClusterState, f: impl FnOnce(&Rc<Acceptor>) + Send + 'static) -> bool {
    let Some(handle) = state.acceptor.get() else {
        return false;
    };
    handle
        .post(move || {
            let acceptor = ACCEPTOR.with(|a| a.borrow().clone());
            if let Some(acceptor) = acceptor {
                f(&acceptor);
            }
        })
        .is_ok()
}

/// Accept on `io`, a socket the workers know as `id`.
pub(super) fn open(state: &ClusterState, id: u64, io: ListenerIo) -> bool {
    let Some(handle) = state.acceptor.get() else {
        return false;
    };
    // The socket comes back if the acceptor has ended: it is closed here
    // then, by the caller's drop, not on a loop that no longer runs.
    handle
        .post_or_keep(io, move |io| {
            let acceptor = ACCEPTOR.with(|a| a.borrow().clone());
            if let Some(acceptor) = acceptor {
                acceptor.open(id, io);
            }
        })
        .is_ok()
}

pub(super) fn add(state: &ClusterState, id: u64, target: Target) -> bool {
    post(state, move |a| a.add(id, target))
}

pub(super) fn remove(state: &ClusterState, id: u64, worker: usize, generation: u32, reg: usize) {
    post(state, move |a| a.remove(id, worker, generation, reg));
}

pub(super) fn close(state: &ClusterState, id: u64, bound: ListenAddr) -> bool {
    post(state, move |a| a.close(id, bound))
}

/// A worker's generation ended: no more connections for it.
pub(super) fn forget_worker(state: &ClusterState, worker: usize, generation: u32) {
    post(state, move |a| a.forget_worker(worker, generation));
}

/// A shutdown: close every socket now, and every socket a worker still
/// in its setup opens from now on. The loop goes on (connections on their
/// way to a worker may come back, to be closed) until [`stop`]. Nothing
/// to do without an acceptor (shared policy).
pub(super) fn stop_accepting(state: &ClusterState) {
    if state.acceptor.get().is_some() && !post(state, |a| a.stop_accepting()) {
        state.acceptor_stopped();
    }
}

/// The last worker has ended: close everything and end the loop.
pub(super) fn stop(state: &ClusterState) {
    if state.acceptor.get().is_some() && !post(state, |a| a.stop()) {
        state.acceptor_stopped();
    }
}

/// A connection that a worker could not take, back to be handed again.
fn requeue(state: &ClusterState, id: u64, conn: Accepted) {
    if let Some(handle) = state.acceptor.get() {
        // Refused once the acceptor has ended: the connection is closed
        // with the value handed back.
        let _ = handle.post_or_keep(conn, move |conn| {
            let acceptor = ACCEPTOR.with(|a| a.borrow().clone());
            if let Some(acceptor) = acceptor {
                acceptor.requeue(id, conn);
            }
        });
    }
}

// ----- the acceptor's loop -------------------------------------------------

struct Acceptor {
    lp: Rc<EventLoop>,
    state: Arc<ClusterState>,
    /// Keeps the loop running until `stop`, as a ref'd `uv_async_t` keeps
    /// a libuv loop running: the loop has nothing else to wait for while
    /// no worker listens.
    keep_alive: HandleRef,
    sockets: RefCell<HashMap<u64, Rc<RrSocket>>>,
    /// A shutdown started: no socket accepts any more.
    draining: Cell<bool>,
}

impl Acceptor {
    fn new(state: Arc<ClusterState>) -> Rc<Acceptor> {
        let lp = event_loop::current();
        let keep_alive = HandleRef::new(Rc::clone(&lp));
        keep_alive.set_active(true);
        Rc::new(Acceptor {
            lp,
            state,
            keep_alive,
            sockets: RefCell::new(HashMap::new()),
            draining: Cell::new(false),
        })
    }

    fn socket(&self, id: u64) -> Option<Rc<RrSocket>> {
        self.sockets.borrow().get(&id).cloned()
    }

    fn open(&self, id: u64, io: ListenerIo) {
        if self.draining.get() {
            // A worker still in its setup when the shutdown began: its
            // server closes once the setup returns; nothing accepts
            // meanwhile (clients are refused).
            drop(io);
            return;
        }
        let socket = Rc::new(RrSocket {
            id,
            lp: Rc::clone(&self.lp),
            state: Arc::clone(&self.state),
            listener: ListenerHandle::default(),
            targets: RefCell::new(Vec::new()),
            next: Cell::new(0),
            waiting: RefCell::new(VecDeque::new()),
            paused: Cell::new(false),
        });
        let handler: Rc<dyn IoHandler> = socket.clone();
        if let Err(e) = socket.listener.attach(&self.lp, io, handler) {
            // The workers believe they listen; they get no connections.
            // Registering a fresh socket with epoll fails only when the
            // kernel is out of memory.
            tracing::error!(target: "netloop::cluster", error = %e, "acceptor: cannot watch a listening socket");
            return;
        }
        tracing::debug!(target: "netloop::cluster", id, addr = ?socket.listener.local_addr(), "acceptor: listening");
        self.sockets.borrow_mut().insert(id, socket);
    }

    fn add(&self, id: u64, target: Target) {
        if let Some(socket) = self.socket(id) {
            socket.targets.borrow_mut().push(target);
            socket.flush();
        }
    }

    fn remove(&self, id: u64, worker: usize, generation: u32, reg: usize) {
        if let Some(socket) = self.socket(id) {
            socket
                .targets
                .borrow_mut()
                .retain(|t| (t.worker, t.generation, t.reg) != (worker, generation, reg));
        }
    }

    fn forget_worker(&self, worker: usize, generation: u32) {
        let sockets: Vec<Rc<RrSocket>> = self.sockets.borrow().values().cloned().collect();
        for socket in sockets {
            socket
                .targets
                .borrow_mut()
                .retain(|t| (t.worker, t.generation) != (worker, generation));
        }
    }

    /// No worker's server listens on the socket any more (Node's
    /// `RoundRobinHandle.remove` with no worker left): close it, and the
    /// connections that were waiting for a worker with it.
    fn close(&self, id: u64, bound: ListenAddr) {
        let socket = self.sockets.borrow_mut().remove(&id);
        if let Some(socket) = socket {
            socket.close();
        }
        let mut ports = lock(&self.state.ports);
        if let Some(n) = ports.closing.get_mut(&bound) {
            *n -= 1;
            if *n == 0 {
                ports.closing.remove(&bound);
            }
        }
        drop(ports);
        self.state.ports_changed.notify_all();
    }

    fn requeue(&self, id: u64, conn: Accepted) {
        match self.socket(id) {
            Some(socket) => socket.dispatch(conn),
            // The socket closed: so does the connection (dropped).
            None => drop(conn),
        }
    }

    /// A worker fell below the pending limit: hand out what waits, and
    /// accept again where accepting had stopped.
    fn resume(&self) {
        let sockets: Vec<Rc<RrSocket>> = self.sockets.borrow().values().cloned().collect();
        for socket in sockets {
            socket.flush();
        }
    }

    fn stop_accepting(&self) {
        self.draining.set(true);
        let sockets: Vec<Rc<RrSocket>> =
            self.sockets.borrow_mut().drain().map(|(_, s)| s).collect();
        for socket in &sockets {
            socket.close();
        }
        self.state.acceptor_stopped();
        tracing::debug!(target: "netloop::cluster", "acceptor: not accepting");
    }

    fn stop(&self) {
        self.stop_accepting();
        self.keep_alive.set_active(false);
        tracing::debug!(target: "netloop::cluster", "acceptor stopped");
    }
}

/// One shared listening socket and the workers' servers on it.
struct RrSocket {
    id: u64,
    lp: Rc<EventLoop>,
    state: Arc<ClusterState>,
    listener: ListenerHandle,
    /// In the order they registered; `next` is where the turn is.
    targets: RefCell<Vec<Target>>,
    next: Cell<usize>,
    /// Accepted (or sent back) and not handed out yet: no worker could
    /// take them.
    waiting: RefCell<VecDeque<Accepted>>,
    /// Accepting stopped because no worker could take more.
    paused: Cell<bool>,
}

impl RrSocket {
    /// The next target in turn that is below the pending limit.
    fn pick(&self) -> Option<Target> {
        let targets = self.targets.borrow();
        let n = targets.len();
        (0..n)
            .map(|i| (self.next.get() + i) % n)
            .find(|&k| {
                self.state.slots[targets[k].worker]
                    .pending
                    .load(Ordering::Acquire)
                    < PENDING_LIMIT
            })
            .map(|k| {
                self.next.set(k + 1);
                targets[k].clone()
            })
    }

    /// Hand `conn` to the next worker in turn, or keep it until one can
    /// take it.
    fn dispatch(&self, conn: Accepted) {
        let mut conn = conn;
        loop {
            let Some(target) = self.pick() else {
                self.waiting.borrow_mut().push_back(conn);
                self.paused.set(true);
                return;
            };
            self.state.slots[target.worker]
                .pending
                .fetch_add(1, Ordering::AcqRel);
            let handoff = Handoff {
                conn: Some(conn),
                state: Arc::clone(&self.state),
                rr_id: self.id,
                worker: target.worker,
                generation: target.generation,
                reg: target.reg,
            };
            match target.handle.post_or_keep(handoff, deliver) {
                Ok(()) => return,
                Err(mut back) => {
                    // That worker's loop has ended: forget it, try the next.
                    conn = back
                        .take()
                        .expect("a handoff refused still holds its connection");
                    self.targets
                        .borrow_mut()
                        .retain(|t| (t.worker, t.generation) != (target.worker, target.generation));
                }
            }
        }
    }

    /// Hand out what waits while some worker can take it; then accept
    /// again if accepting had stopped.
    fn flush(&self) {
        loop {
            if self.pick_possible() {
                let next = self.waiting.borrow_mut().pop_front();
                match next {
                    Some(conn) => self.dispatch(conn),
                    None => break,
                }
            } else {
                return;
            }
        }
        if self.paused.replace(false) {
            self.listener.rearm(&self.lp);
        }
    }

    fn pick_possible(&self) -> bool {
        self.targets
            .borrow()
            .iter()
            .any(|t| self.state.slots[t.worker].pending.load(Ordering::Acquire) < PENDING_LIMIT)
    }

    fn close(&self) {
        self.listener.close(&self.lp);
        let waiting = std::mem::take(&mut *self.waiting.borrow_mut());
        drop(waiting);
        self.targets.borrow_mut().clear();
    }
}

impl IoHandler for RrSocket {
    fn on_ready(self: Rc<Self>, _ready: Ready) {
        self.listener.on_ready(&self.lp, &Distribute(&self));
    }

    fn teardown(&self) {
        self.close();
    }
}

/// The accept loop reports each connection here.
struct Distribute<'a>(&'a Rc<RrSocket>);

impl ListenerOwner for Distribute<'_> {
    fn on_connection(&self, conn: Accepted) {
        self.0.dispatch(conn);
    }

    fn wants_more(&self) -> bool {
        !self.0.paused.get()
    }
}
