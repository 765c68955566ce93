//! A worker thread: its generations (a panic while serving starts a new
//! one), the thread-local context that `Server::listen` consults, and the
//! worker's side of a shutdown.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::state::{lock, ClusterState};
use super::{ExitReason, Worker, WorkerExit};
use crate::error::{Error, ErrorCode, Result};
use crate::net::{Server, WeakServer};
use crate::stream::tcp::ListenAddr;

/// What a worker runs in each generation.
pub(super) type Setup = dyn Fn(Worker) -> Result<()> + Send + Sync;

thread_local! {
    static CONTEXT: RefCell<Option<Rc<WorkerContext>>> = const { RefCell::new(None) };
}

/// The cluster worker running on this thread, if any: servers made here
/// listen through the cluster and count their connections in it.
pub(crate) fn context() -> Option<Rc<WorkerContext>> {
    CONTEXT.with(|c| c.borrow().clone())
}

/// One generation of a worker, on its thread (Node: the worker process's
/// `cluster.worker` and the handles its servers share).
pub(crate) struct WorkerContext {
    pub(super) state: Arc<ClusterState>,
    pub(super) id: usize,
    pub(super) generation: u32,
    /// Every server made in this generation, to close on shutdown.
    servers: RefCell<Vec<WeakServer>>,
    /// Servers listening through the round-robin acceptor, by the key the
    /// acceptor names them with. Held strongly: a listening server lives
    /// while the acceptor may hand it connections, as the readiness slab
    /// keeps a server with a socket of its own alive.
    /// The acceptor's id of the socket is kept with each: a key freed by
    /// one server and reused by the next never gets the first one's
    /// connections.
    pub(super) rr_servers: RefCell<slab::Slab<(Server, u64)>>,
    /// Per address asked for: which indexes (see `ListenKey::index`) this
    /// worker's servers hold.
    pub(super) indexes: RefCell<HashMap<(ListenAddr, bool), Vec<bool>>>,
    shutting_down: Cell<bool>,
}

impl WorkerContext {
    fn new(state: Arc<ClusterState>, id: usize, generation: u32) -> WorkerContext {
        WorkerContext {
            state,
            id,
            generation,
            servers: RefCell::new(Vec::new()),
            rr_servers: RefCell::new(slab::Slab::new()),
            indexes: RefCell::new(HashMap::new()),
            shutting_down: Cell::new(false),
        }
    }

    /// A server was made on this worker.
    pub(crate) fn track_server(&self, server: WeakServer) {
        let mut servers = self.servers.borrow_mut();
        if servers.len() == servers.capacity() && servers.len() >= 8 {
            servers.retain(|s| !s.is_dead());
        }
        servers.push(server);
    }

    /// A connection arrives: take a slot (see `ClusterState::admit`).
    pub(crate) fn admit(&self) -> bool {
        self.state.admit(self.id)
    }

    /// A connection admitted was not served after all.
    pub(crate) fn release(&self) {
        self.state.release(self.id);
    }

    /// A connection closed.
    pub(crate) fn closed(&self, bytes_read: u64, bytes_written: u64) {
        self.state.closed(self.id, bytes_read, bytes_written);
    }

    /// This worker's part of a shutdown, on its loop: close every server
    /// (stop accepting; open connections carry on), and at `deadline`
    /// close the connections still open. The timer is unref'd: a worker
    /// whose connections all end sooner ends sooner.
    pub(super) fn stop_accepting(&self, deadline: Option<Instant>) {
        if self.shutting_down.replace(true) {
            return;
        }
        let servers: Vec<Server> = self
            .servers
            .borrow()
            .iter()
            .filter_map(WeakServer::upgrade)
            .collect();
        let mut to_drain = Vec::with_capacity(servers.len());
        for server in servers {
            if server.running() {
                server.close();
            }
            to_drain.push(server.downgrade());
        }
        self.state.worker_stopped(self.id);
        if let Some(deadline) = deadline {
            let delay = deadline.saturating_duration_since(Instant::now());
            let id = self.id;
            crate::timers::set_timeout(delay, move || {
                let closed: usize = to_drain
                    .iter()
                    .filter_map(WeakServer::upgrade)
                    .map(|s| s.close_all_connections())
                    .sum();
                if closed > 0 {
                    tracing::debug!(target: "netloop::cluster", worker = id, closed, "shutdown deadline: connections closed");
                }
            })
            .unref();
        }
    }

    /// Close every connection of this worker's servers now.
    pub(super) fn close_all_connections(&self) -> usize {
        self.servers
            .borrow()
            .iter()
            .filter_map(WeakServer::upgrade)
            .map(|s| s.close_all_connections())
            .sum()
    }
}

/// Run the worker `id` on this thread until it ends for good: each
/// generation is one [`run`](crate::run) of `setup`; a panic while serving
/// (after `setup` returned) starts the next, unless restarts are off or
/// the cluster is shutting down.
pub(super) fn worker_thread(state: Arc<ClusterState>, id: usize, setup: Arc<Setup>) -> Result<()> {
    let count = state.slots.len();
    let slot = &state.slots[id];
    let mut quick_failures = 0u32;
    let result = loop {
        let generation = slot.generation.fetch_add(1, Ordering::Relaxed) + 1;
        slot.running.store(true, Ordering::Relaxed);
        let worker = Worker {
            id,
            count,
            generation,
        };
        let ctx = Rc::new(WorkerContext::new(Arc::clone(&state), id, generation));
        CONTEXT.with(|c| *c.borrow_mut() = Some(Rc::clone(&ctx)));
        let serving = Rc::new(Cell::new(false));
        let started = Instant::now();
        let outcome = {
            let (ctx, serving, setup) = (Rc::clone(&ctx), Rc::clone(&serving), &setup);
            std::panic::catch_unwind(AssertUnwindSafe(move || {
                crate::run(move || {
                    setup(worker)?;
                    serving.set(true);
                    publish(&ctx);
                    Ok(())
                })
            }))
        };
        CONTEXT.with(|c| c.borrow_mut().take());
        end_generation(&ctx);
        drop(ctx);
        slot.running.store(false, Ordering::Relaxed);

        let reason = match outcome {
            Ok(Ok(())) => ExitReason::Ended,
            Ok(Err(e)) => ExitReason::Failed(e),
            Err(payload) => ExitReason::Panicked(panic_message(payload.as_ref())),
        };
        let restarting = matches!(reason, ExitReason::Panicked(_))
            && state.restart_on_panic
            && serving.get()
            && !state.shutting_down();
        report(&state, id, generation, &reason, restarting);
        if !restarting {
            break match reason {
                ExitReason::Ended => Ok(()),
                ExitReason::Failed(e) => Err(e),
                ExitReason::Panicked(msg) => Err(Error::new(
                    ErrorCode::ERR_UNHANDLED_ERROR,
                    format!("netloop worker {id} panicked: {msg}"),
                )),
            };
        }
        // A worker that panics again soon after starting is restarted
        // after a pause that doubles each time (0.1 s up to 6.4 s), so a
        // connection that makes every generation panic cannot spin a core.
        if started.elapsed() < Duration::from_secs(1) {
            quick_failures += 1;
        } else {
            quick_failures = 0;
        }
        if quick_failures > 0 {
            let pause = Duration::from_millis(100) * (1 << (quick_failures - 1).min(6));
            if state.sleep_unless_shutdown(pause) {
                break Err(Error::new(
                    ErrorCode::ERR_UNHANDLED_ERROR,
                    format!("netloop worker {id} panicked and the cluster shut down"),
                ));
            }
        }
        slot.restarts.fetch_add(1, Ordering::Relaxed);
    };
    state.worker_ended(id);
    if state.live_workers.fetch_sub(1, Ordering::AcqRel) == 1 {
        // The last worker is gone: nothing will listen through the
        // acceptor any more.
        super::acceptor::stop(&state);
    }
    result
}

/// `setup` returned: make the loop reachable for a shutdown, or, if one
/// started while `setup` ran, do this worker's part now.
fn publish(ctx: &WorkerContext) {
    let slot = &ctx.state.slots[ctx.id];
    let mut handle = lock(&slot.handle);
    *handle = Some(crate::loop_handle());
    // Under the slot's lock: a shutdown that starts now finds the handle
    // and posts; one that started before is seen here.
    let started = ctx.state.shutting_down();
    drop(handle);
    if started {
        ctx.stop_accepting(ctx.state.deadline());
    }
}

/// A generation's loop has ended (its teardown closed every handle):
/// unreachable from now on, and what its servers held in the cluster goes.
fn end_generation(ctx: &WorkerContext) {
    let state = &ctx.state;
    lock(&state.slots[ctx.id].handle).take();
    // The teardown closed every server (the loop reaches each through its
    // list of handles), and each gave back its entries in the cluster's
    // table; the slab is empty by now. The acceptor forgets this
    // generation too, whatever it was told.
    let leftover = std::mem::take(&mut *ctx.rr_servers.borrow_mut());
    drop(leftover);
    super::acceptor::forget_worker(state, ctx.id, ctx.generation);
    state.slots[ctx.id].pending.store(0, Ordering::Release);
    state.forget_open(ctx.id);
    if !state.shutting_down() {
        return;
    }
    // In a shutdown, a generation that ended stopped accepting.
    state.worker_stopped(ctx.id);
}

fn report(state: &ClusterState, id: usize, generation: u32, reason: &ExitReason, restarting: bool) {
    match reason {
        ExitReason::Panicked(msg) => {
            tracing::error!(target: "netloop::cluster", worker = id, generation, restarting, "worker {id} panicked: {msg}");
        }
        ExitReason::Failed(e) => {
            tracing::error!(target: "netloop::cluster", worker = id, generation, "worker {id} failed: {e}");
        }
        ExitReason::Ended => {
            tracing::debug!(target: "netloop::cluster", worker = id, generation, "worker {id} ended");
        }
    }
    if let Some(hook) = &state.on_worker_exit {
        let exit = WorkerExit {
            id,
            generation,
            reason: reason.clone(),
            restarting,
        };
        // The hook is user code on a worker thread: a panic in it must not
        // take the worker's bookkeeping down with it.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| hook(&exit)));
    }
}

/// The message of a panic, as the default hook prints it.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}
