//! The event loop: libuv's phases, Node's `process.nextTick` queue, and the
//! rule that decides when the loop (and so `netloop::run`) ends.
//!
//! One iteration, in the order `EventLoop::run` follows (see
//! `docs/design.md` for the long form):
//!
//! 1. update the cached time;
//! 2. run due timers;
//! 3. run pending callbacks (refused writes, reads that yielded);
//! 4. poll for I/O (mio, edge-triggered), blocking until the next timer
//!    unless something is already waiting; then run what other threads
//!    handed in (pool results, [`LoopHandle`] posts) and signals;
//! 5. run check callbacks (`set_immediate`);
//! 6. run close callbacks (`close` events).
//!
//! After every callback the `next_tick` queue is drained, as Node drains it
//! after every call from native code into JavaScript.

mod handles;
mod loop_handle;
mod signal;
mod threadpool;
pub(crate) mod timers;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Registry, Token};
use slab::Slab;

use crate::error::{Error, Result};

pub(crate) use handles::{HandleRef, IoHandler, Ready};
pub use loop_handle::{channel, loop_handle, LoopHandle, Sender};
pub(crate) use threadpool::Remote;
use timers::TimerWheel;

/// The size of the read buffer every stream on a loop shares (libuv and
/// Node read 64 KiB at a time).
pub(crate) const READ_BUF_SIZE: usize = 64 * 1024;

/// The token reserved for the thread pool's waker.
const WAKER_TOKEN: Token = Token(usize::MAX);

type Callback = Box<dyn FnOnce()>;
type WorkDone = Box<dyn FnOnce(threadpool::Output)>;

/// One thread's event loop. Reached through [`current`]; every handle keeps
/// an `Rc` to the loop it was created on.
pub(crate) struct EventLoop {
    poll: RefCell<Poll>,
    registry: Registry,
    events: RefCell<Events>,
    ready_batch: RefCell<Vec<(Token, Ready)>>,
    /// Readiness handlers by token index, with a generation so an event for a
    /// handle closed earlier in the same batch never reaches its successor.
    io: RefCell<Slab<(u32, Rc<dyn IoHandler>)>>,
    io_generation: Cell<u32>,
    pub(crate) timers: TimerWheel,
    next_ticks: RefCell<VecDeque<Callback>>,
    pending: RefCell<VecDeque<Callback>>,
    closing: RefCell<VecDeque<Callback>>,
    /// Ref'd active handles (servers, sockets, timers, immediates).
    active_refs: Cell<usize>,
    /// Requests in flight on the thread pool.
    active_reqs: Cell<usize>,
    work_done: RefCell<Slab<WorkDone>>,
    remote: Arc<Remote>,
    /// The loop-side callbacks of [`channel`]s.
    receivers: loop_handle::Receivers,
    /// Signal listeners, once the loop has one (libuv's `uv_signal_t`s).
    signals: RefCell<Option<Rc<signal::SignalWatcher>>>,
    now: Cell<Instant>,
    /// The error that stops the loop: an `error` event nobody listened to.
    stop_error: RefCell<Option<Error>>,
    read_buf: RefCell<Option<Box<[u8]>>>,
    /// A descriptor held in reserve for listeners that run out of them
    /// (libuv's `loop->emfile_fd`): opened by the first listener, closed
    /// and reopened by `stream/listener.rs`.
    pub(crate) spare_fd: RefCell<Option<crate::sys::SpareFd>>,
    /// Sockets and servers that may hold no descriptor (never connected,
    /// or closed) and so are not in the readiness slab: teardown reaches
    /// them through this list to drop their listeners (see `track`).
    untracked: RefCell<Vec<std::rc::Weak<dyn IoHandler>>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<EventLoop>>> = const { RefCell::new(None) };
}

/// The loop running on this thread.
///
/// # Panics
///
/// Outside `netloop::run`: using netloop there is a programming error.
pub(crate) fn current() -> Rc<EventLoop> {
    CURRENT
        .with(|c| c.borrow().clone())
        .expect("netloop: no event loop on this thread; call this inside netloop::run(|| { ... })")
}

impl EventLoop {
    fn new() -> Result<Rc<EventLoop>> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = mio::Waker::new(&registry, WAKER_TOKEN)?;
        Ok(Rc::new(EventLoop {
            poll: RefCell::new(poll),
            registry,
            events: RefCell::new(Events::with_capacity(1024)),
            ready_batch: RefCell::new(Vec::with_capacity(1024)),
            io: RefCell::new(Slab::with_capacity(64)),
            io_generation: Cell::new(0),
            timers: TimerWheel::new(),
            next_ticks: RefCell::new(VecDeque::new()),
            pending: RefCell::new(VecDeque::new()),
            closing: RefCell::new(VecDeque::new()),
            active_refs: Cell::new(0),
            active_reqs: Cell::new(0),
            work_done: RefCell::new(Slab::new()),
            remote: Arc::new(Remote::new(waker)),
            receivers: loop_handle::Receivers::default(),
            signals: RefCell::new(None),
            now: Cell::new(Instant::now()),
            stop_error: RefCell::new(None),
            read_buf: RefCell::new(Some(vec![0u8; READ_BUF_SIZE].into_boxed_slice())),
            spare_fd: RefCell::new(None),
            untracked: RefCell::new(Vec::new()),
        }))
    }

    /// The loop's cached time, updated at the start of each iteration and
    /// after each poll (libuv's `uv_now`).
    pub(crate) fn now(&self) -> Instant {
        self.now.get()
    }

    fn update_time(&self) {
        self.now.set(Instant::now());
    }

    // ----- queues -------------------------------------------------------

    /// Node's `process.nextTick`.
    pub(crate) fn next_tick(&self, f: impl FnOnce() + 'static) {
        self.next_ticks.borrow_mut().push_back(Box::new(f));
    }

    /// Queue a callback for the pending phase of this or the next iteration.
    pub(crate) fn defer(&self, f: impl FnOnce() + 'static) {
        self.pending.borrow_mut().push_back(Box::new(f));
    }

    /// Queue a callback for the close phase (libuv's `uv_close` callback).
    pub(crate) fn defer_close(&self, f: impl FnOnce() + 'static) {
        self.closing.borrow_mut().push_back(Box::new(f));
    }

    /// Run the `next_tick` queue until it is empty, including ticks queued
    /// by ticks.
    pub(crate) fn drain_ticks(&self) {
        loop {
            if self.stopping() {
                return;
            }
            let Some(f) = self.next_ticks.borrow_mut().pop_front() else {
                return;
            };
            f();
        }
    }

    /// Call into user code, then drain the tick queue.
    pub(crate) fn invoke(&self, f: impl FnOnce()) {
        f();
        self.drain_ticks();
    }

    // ----- alive accounting ----------------------------------------------

    pub(crate) fn ref_inc(&self) {
        self.active_refs.set(self.active_refs.get() + 1);
    }

    pub(crate) fn ref_dec(&self) {
        self.active_refs
            .set(self.active_refs.get().saturating_sub(1));
    }

    /// libuv's `uv__loop_alive` plus Node's tick queue: ref'd active
    /// handles, requests in flight (pool work, posts from other threads
    /// not run yet), or callbacks already queued.
    fn alive(&self) -> bool {
        self.active_refs.get() > 0
            || self.timers.ref_count() > 0
            || self.active_reqs.get() > 0
            || !self.pending.borrow().is_empty()
            || !self.closing.borrow().is_empty()
            || !self.next_ticks.borrow().is_empty()
            || self.remote.posts.in_flight()
    }

    /// Whether to run another iteration. When nothing is alive the loop
    /// stops accepting posts, in the same step as it checks that none is
    /// queued (under the queue's lock): a post that got in first is run,
    /// one that comes later is refused. Nothing posted is ever accepted
    /// and then forgotten by a normal end.
    fn keep_running(&self) -> bool {
        self.alive() || !self.remote.posts.close_if_empty()
    }

    // ----- stopping -----------------------------------------------------

    /// Stop the loop with an error (an `error` event with no listener).
    /// The first error wins.
    pub(crate) fn fail(&self, err: Error) {
        let mut slot = self.stop_error.borrow_mut();
        if slot.is_none() {
            tracing::debug!(target: "netloop", error = %err, "unhandled error event: stopping the loop");
            *slot = Some(err);
        }
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stop_error.borrow().is_some()
    }

    // ----- I/O registration -----------------------------------------------

    /// Register a source once, for both directions, edge-triggered.
    pub(crate) fn register(
        &self,
        source: &mut (impl mio::event::Source + ?Sized),
        handler: Rc<dyn IoHandler>,
    ) -> std::io::Result<Token> {
        let generation = self.io_generation.get().wrapping_add(1);
        self.io_generation.set(generation);
        let key = self.io.borrow_mut().insert((generation, handler));
        let token = Token(key);
        if let Err(e) =
            self.registry
                .register(source, token, Interest::READABLE | Interest::WRITABLE)
        {
            // Dropped after the borrow ends: it may be the last reference to
            // the handle, whose drop can touch the loop.
            let handler = self.io.borrow_mut().remove(key);
            drop(handler);
            return Err(e);
        }
        Ok(token)
    }

    /// Every handler registered now (a snapshot: the caller may close
    /// them, which deregisters them, while it walks the list).
    pub(crate) fn registered(&self) -> Vec<Rc<dyn IoHandler>> {
        self.io
            .borrow()
            .iter()
            .map(|(_, (_, h))| Rc::clone(h))
            .collect()
    }

    /// Deregister a source and forget its handler. The caller drops the
    /// source (closing the fd) afterwards.
    pub(crate) fn deregister(&self, source: &mut (impl mio::event::Source + ?Sized), token: Token) {
        // Deregistering an fd that is about to be closed cannot usefully
        // fail; closing it removes it from epoll anyway.
        let _ = self.registry.deregister(source);
        let handler = {
            let mut io = self.io.borrow_mut();
            io.try_remove(token.0)
        };
        // Dropped after the borrow ends: if it is the handle's last
        // reference, the handle's drop may register or deregister again.
        drop(handler);
    }

    // ----- the shared read buffer -------------------------------------------

    /// Borrow the loop's read buffer. Reads never nest, but if one ever did
    /// it would get a fresh buffer rather than a panic.
    pub(crate) fn take_read_buf(&self) -> Box<[u8]> {
        self.read_buf
            .borrow_mut()
            .take()
            .unwrap_or_else(|| vec![0u8; READ_BUF_SIZE].into_boxed_slice())
    }

    pub(crate) fn put_read_buf(&self, buf: Box<[u8]>) {
        *self.read_buf.borrow_mut() = Some(buf);
    }

    // ----- thread pool --------------------------------------------------------

    /// Run `work` on the thread pool and `done` with its result on this loop,
    /// in the poll phase. The request keeps the loop alive until `done` runs.
    pub(crate) fn queue_work<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
        done: impl FnOnce(T) + 'static,
    ) {
        let key = self
            .work_done
            .borrow_mut()
            .insert(Box::new(move |out: threadpool::Output| {
                if let Ok(v) = out.downcast::<T>() {
                    done(*v);
                }
            }));
        self.active_reqs.set(self.active_reqs.get() + 1);
        let remote = Arc::clone(&self.remote);
        threadpool::submit(Box::new(move || {
            let out: threadpool::Output = Box::new(work());
            remote.complete(key, out);
        }));
    }

    // ----- work from other threads: loop handles and channels --------------

    /// Run the posts queued when this phase looked, in order (libuv runs
    /// `uv_async_t` callbacks from the poll phase the same way). Posts
    /// queued by these posts wait for the next iteration.
    fn run_posts(&self) {
        if !self.remote.posts.in_flight() {
            return;
        }
        let mut batch = self.remote.posts.take();
        while let Some(job) = batch.pop_front() {
            if self.stopping() {
                // Stopped by an unhandled error: the rest of the batch is
                // dropped with every other queued callback (see
                // `LoopHandle`).
                break;
            }
            self.invoke(job);
        }
    }

    pub(crate) fn add_receiver(&self, receiver: Rc<dyn std::any::Any>) -> (usize, u32) {
        self.receivers.add(receiver)
    }

    pub(crate) fn receiver(&self, key: usize, generation: u32) -> Option<Rc<dyn std::any::Any>> {
        self.receivers.get(key, generation)
    }

    pub(crate) fn remove_receiver(
        &self,
        key: usize,
        generation: u32,
    ) -> Option<Rc<dyn std::any::Any>> {
        self.receivers.remove(key, generation)
    }

    fn run_work_done(&self) {
        for (key, out) in self.remote.take_completed() {
            let done = {
                let mut slab = self.work_done.borrow_mut();
                slab.try_remove(key)
            };
            self.active_reqs
                .set(self.active_reqs.get().saturating_sub(1));
            if let Some(done) = done {
                self.invoke(|| done(out));
                if self.stopping() {
                    return;
                }
            }
        }
    }

    // ----- phases -------------------------------------------------------------

    /// Run until nothing ref'd is alive or an unhandled error stops the loop.
    /// The phases, in libuv's `uv_run` order.
    fn run(&self) {
        self.drain_ticks();
        while !self.stopping() && self.keep_running() {
            // 1. Update the cached time.
            self.update_time();
            // 2. Timers that are due.
            self.run_timers();
            // 3. Pending callbacks.
            self.run_pending();
            // 4. Poll for I/O.
            self.run_poll();
            // 5. Check: immediates.
            self.run_check();
            // 6. Close callbacks.
            self.run_closing();
        }
    }

    fn run_timers(&self) {
        while !self.stopping() {
            let Some(fire) = self.timers.pop_due(self.now()) else {
                return;
            };
            self.invoke(fire);
        }
    }

    fn run_pending(&self) {
        // Only what was queued before this phase began; callbacks queued now
        // wait for the next iteration, as in libuv.
        let batch = std::mem::take(&mut *self.pending.borrow_mut());
        self.run_batch(batch);
    }

    fn run_batch(&self, batch: VecDeque<Callback>) {
        for f in batch {
            if self.stopping() {
                return;
            }
            self.invoke(f);
        }
    }

    fn poll_timeout(&self) -> Option<Duration> {
        if self.stopping()
            || !self.pending.borrow().is_empty()
            || !self.closing.borrow().is_empty()
            || !self.next_ticks.borrow().is_empty()
            || self.timers.has_immediates()
            || self.remote.posts.in_flight()
        {
            return Some(Duration::ZERO);
        }
        if self.active_refs.get() == 0
            && self.timers.ref_count() == 0
            && self.active_reqs.get() == 0
        {
            return Some(Duration::ZERO);
        }
        self.timers
            .next_deadline()
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    fn run_poll(&self) {
        let timeout = self.poll_timeout();
        {
            let mut poll = self.poll.borrow_mut();
            let mut events = self.events.borrow_mut();
            if let Err(e) = poll.poll(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    self.fail(Error::from_syscall(&e, "epoll_wait"));
                }
                return;
            }
        }
        self.update_time();
        // Copy the batch out so handlers can register and poll freely; the
        // vector is reused across iterations (no allocation per poll).
        let mut batch = std::mem::take(&mut *self.ready_batch.borrow_mut());
        batch.extend(
            self.events
                .borrow()
                .iter()
                .map(|e| (e.token(), Ready::from_event(e))),
        );
        for &(token, ready) in &batch {
            if self.stopping() {
                break;
            }
            if token == WAKER_TOKEN {
                self.run_work_done();
                continue;
            }
            self.dispatch(token, ready);
        }
        batch.clear();
        *self.ready_batch.borrow_mut() = batch;
        // Posts are looked at whether or not the waker's event came in
        // this batch: one that was queued while the loop was busy is run
        // now rather than after another wait.
        if !self.stopping() {
            self.run_posts();
        }
    }

    /// Deliver a readiness event to its handler, if the handler that owned
    /// the token when the event was queued is still registered.
    pub(crate) fn dispatch(&self, token: Token, ready: Ready) {
        let handler = {
            let io = self.io.borrow();
            match io.get(token.0) {
                Some((_, h)) => Rc::clone(h),
                None => return,
            }
        };
        self.invoke(|| handler.on_ready(ready));
    }

    /// Deliver `ready` to the handler of `token` again in the pending phase
    /// (a stream that yielded after a batch of reads), unless that handler
    /// was deregistered meanwhile: the generation check keeps the event
    /// from reaching a newer handle that reused the slot.
    pub(crate) fn defer_ready(&self, token: Token, ready: Ready) {
        let Some(generation) = self.generation_of(token) else {
            return;
        };
        self.defer(move || {
            if let Some(handler) = current().handler_of(token, generation) {
                handler.on_ready(ready);
            }
        });
    }

    /// Deliver `ready` to the handler of `token` after `delay`, in the
    /// timers phase, with the same generation check as
    /// [`defer_ready`](EventLoop::defer_ready): a listener that must look
    /// at its queue again although the edge-triggered poller will report
    /// nothing new. The timer is unref'd (it never keeps the loop alive by
    /// itself); `timers.cancel` stops it. `None` if `token` is not
    /// registered.
    pub(crate) fn ready_after(
        &self,
        token: Token,
        ready: Ready,
        delay: Duration,
    ) -> Option<timers::TimerKey> {
        let generation = self.generation_of(token)?;
        let fire = move || {
            if let Some(handler) = current().handler_of(token, generation) {
                handler.on_ready(ready);
            }
        };
        let key = self.timers.insert(
            self.now(),
            delay,
            false,
            timers::TimerCb::Once(Box::new(fire)),
        );
        self.timers.set_ref(key, false);
        Some(key)
    }

    /// The generation of the handler registered under `token`.
    fn generation_of(&self, token: Token) -> Option<u32> {
        self.io.borrow().get(token.0).map(|(g, _)| *g)
    }

    /// The handler registered under `token`, if it is still the one of
    /// `generation`.
    fn handler_of(&self, token: Token, generation: u32) -> Option<Rc<dyn IoHandler>> {
        match self.io.borrow().get(token.0) {
            Some((g, h)) if *g == generation => Some(Rc::clone(h)),
            _ => None,
        }
    }

    fn run_check(&self) {
        let batch = self.timers.take_immediates();
        for fire in batch {
            if self.stopping() {
                return;
            }
            if let Some(f) = self.timers.start_immediate(fire) {
                self.invoke(f);
            }
        }
    }

    fn run_closing(&self) {
        let batch = std::mem::take(&mut *self.closing.borrow_mut());
        self.run_batch(batch);
    }

    /// Close everything still open and drop every queued callback, so that
    /// `Rc` cycles through user closures are broken and fds are closed.
    ///
    /// Nothing is dropped while the loop holds a borrow: a callback's
    /// captured values may schedule more work from their `Drop` (a tick, a
    /// timer, a write whose socket's last handle goes with it), and that
    /// work lands in these same queues. Each queue is taken out whole and
    /// dropped afterwards, and passes repeat until one finds nothing, so
    /// the loop ends empty (a `Drop` that schedules work forever would keep
    /// this going forever, as it would keep a running loop busy).
    fn teardown(&self) {
        while self.teardown_pass() {}
        // No listener is left to need it (libuv's `uv_loop_close` closes
        // `emfile_fd` too); a server kept past `run` cannot accept anyway.
        drop(self.spare_fd.borrow_mut().take());
    }

    /// Remember a handle that teardown must reach although it may hold no
    /// registered descriptor: a socket that never connected, a closed
    /// socket, a server. A listener that captures its own handle makes an
    /// `Rc` cycle no drop breaks; `run` promises to drop every listener
    /// when it returns, which breaks it. Registered handles are reached
    /// through the readiness slab, so an open accepted socket costs
    /// nothing here. Dead entries are pruned when the list would grow.
    pub(crate) fn track(&self, handle: std::rc::Weak<dyn IoHandler>) {
        let mut list = self.untracked.borrow_mut();
        if list.len() == list.capacity() && list.len() >= 16 {
            list.retain(|w| w.strong_count() > 0);
        }
        list.push(handle);
    }

    /// One pass of [`teardown`](Self::teardown); true if it found anything.
    fn teardown_pass(&self) -> bool {
        let mut found = false;
        // One handler at a time, each taken out of the slab before its
        // teardown runs, so the slab is never borrowed while a handler
        // drops user callbacks. A handler registered meanwhile (by a Drop
        // that listens or connects) may take a freed slot: the generation
        // check leaves it for the next pass instead of tearing it down
        // under another's key.
        let keys: Vec<(usize, u32)> = self
            .io
            .borrow()
            .iter()
            .map(|(key, (generation, _))| (key, *generation))
            .collect();
        for (key, generation) in keys {
            let handler = {
                let mut io = self.io.borrow_mut();
                match io.get(key) {
                    Some((g, _)) if *g == generation => Some(io.remove(key).1),
                    _ => None,
                }
            };
            if let Some(handler) = handler {
                found = true;
                handler.teardown();
                drop(handler);
            }
        }
        // Handles with no descriptor: listeners dropped, cycles broken.
        let untracked = std::mem::take(&mut *self.untracked.borrow_mut());
        for handle in untracked.iter().filter_map(std::rc::Weak::upgrade) {
            found = true;
            handle.teardown();
        }
        drop(untracked);
        let ticks = std::mem::take(&mut *self.next_ticks.borrow_mut());
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        let closing = std::mem::take(&mut *self.closing.borrow_mut());
        let work_done = std::mem::take(&mut *self.work_done.borrow_mut());
        // Posts still queued are dropped unrun (the loop stopped early:
        // an unhandled error or a panic), and later posts are refused.
        let posts = self.remote.posts.close();
        let receivers = self.receivers.take_all();
        // The signal watcher was torn down with the other handlers above;
        // this drops the loop's own reference to it.
        let signals = self.signals.borrow_mut().take();
        if let Some(watcher) = &signals {
            watcher.teardown();
        }
        found |= !ticks.is_empty() || !pending.is_empty() || !closing.is_empty();
        found |= !work_done.is_empty() || !posts.is_empty() || !receivers.is_empty();
        found |= signals.is_some();
        // The callbacks of the requests still on the pool are gone: nothing
        // waits for those requests any more.
        self.active_reqs.set(0);
        drop(ticks);
        drop(pending);
        drop(closing);
        drop(work_done);
        drop(posts);
        drop(receivers);
        drop(signals);
        found |= self.timers.clear();
        found
    }
}

/// This thread's loop for the length of one [`run`]. Dropping it, on a
/// return or while a panic unwinds out of `run` (from `main`, a listener,
/// a timer, a tick, an immediate), tears the loop down (every registered
/// handle closed, every queued callback dropped) and uninstalls it, so the
/// descriptors are closed and a later `run` on this thread works.
struct Installed {
    lp: Rc<EventLoop>,
}

impl Installed {
    fn new(lp: &Rc<EventLoop>) -> Installed {
        CURRENT.with(|c| *c.borrow_mut() = Some(Rc::clone(lp)));
        Installed { lp: Rc::clone(lp) }
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        // Teardown calls into user code (the `Drop` of captured values),
        // which may panic. A panic leaving this `drop` while another one
        // unwinds would abort the process, and either way the loop must
        // still be uninstalled: catch it, finish the teardown it cut short,
        // uninstall, then let it continue unless a panic is already on its
        // way out. Every borrow the unwinding frames held is released by
        // now (their guards dropped first), so teardown finds no cell
        // borrowed.
        let lp = &self.lp;
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| lp.teardown()));
        if outcome.is_err() {
            // A second panic here is dropped (its message was printed):
            // the first one is the one to report.
            let _ = std::panic::catch_unwind(AssertUnwindSafe(|| lp.teardown()));
        }
        // `try_with` and `try_borrow_mut`: this also runs while unwinding,
        // where a panic would abort. The loop is dropped after the borrow.
        let uninstalled = CURRENT
            .try_with(|c| c.try_borrow_mut().ok().and_then(|mut c| c.take()))
            .ok()
            .flatten();
        drop(uninstalled);
        if let Err(payload) = outcome {
            if !std::thread::panicking() {
                std::panic::resume_unwind(payload);
            }
        }
    }
}

/// Run `f` right after the current callback returns, before any I/O,
/// timer or immediate (Node: `process.nextTick(f)`). Ticks queued by ticks
/// run in the same drain. netloop uses it as Node does, to never call user
/// code from inside the user's own call: errors found inside `connect()` or
/// `listen()` are emitted on the next tick.
///
/// # Panics
///
/// Outside [`run`].
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use netloop::timers::set_immediate;
///
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let (main, tick, nested, immediate) =
///     (Rc::clone(&log), Rc::clone(&log), Rc::clone(&log), Rc::clone(&log));
/// netloop::run(move || {
///     set_immediate(move || immediate.borrow_mut().push("immediate"));
///     netloop::next_tick(move || {
///         tick.borrow_mut().push("tick");
///         netloop::next_tick(move || nested.borrow_mut().push("tick from a tick"));
///     });
///     main.borrow_mut().push("main");
///     Ok(())
/// })
/// .expect("the loop ran");
/// assert_eq!(*log.borrow(), ["main", "tick", "tick from a tick", "immediate"]);
/// ```
pub fn next_tick(f: impl FnOnce() + 'static) {
    current().next_tick(f);
}

/// Create this thread's loop, run `main` (the "main script"), then run the
/// loop until nothing ref'd is alive: Node's process exit rule (Node: what
/// `node script.js` does).
///
/// `main` creates servers, sockets and timers; what they do happens after
/// it returns, in the loop's phases (`docs/design.md`). The loop runs while
/// anything ref'd is alive: a listening server, a socket that is
/// connecting, reading or writing, a pending timer or immediate, a lookup
/// in flight, or a queued callback. When `run` returns, every handle has
/// been closed and every queued callback and listener dropped, so `Rc`
/// cycles through closures are broken.
///
/// # Errors
///
/// The error `main` returns (the loop does not run then), or the first
/// `error` event emitted with no listener (Node's uncaught exception),
/// which stops the loop at once and closes every handle.
///
/// # Panics
///
/// When called inside another `run` on the same thread: one loop per
/// thread (see [`cluster`](crate::cluster) for more).
///
/// A panic in `main` or in any callback (a listener, a timer, a tick, an
/// immediate) comes out of `run` after the loop was torn down as on a
/// return: every handle closed, every queued callback dropped, the loop
/// gone from the thread, so a later `run` on the same thread works.
///
/// # Examples
///
/// ```
/// use netloop::net::Socket;
/// use netloop::{Error, ErrorCode};
///
/// // The main script's own error: the loop does not run.
/// let err = netloop::run(|| Err(Error::new(ErrorCode::ERR_INVALID_ARG_VALUE, "bad config")))
///     .expect_err("main failed");
/// assert_eq!(err.to_string(), "bad config");
///
/// // An `error` event nobody listens to stops the loop with that error.
/// let err = netloop::run(|| {
///     let socket = Socket::new();
///     socket.destroy_with(Error::new(ErrorCode::ECONNABORTED, "nobody listens"));
///     Ok(())
/// })
/// .expect_err("the error event had no listener");
/// assert_eq!(err.code(), ErrorCode::ECONNABORTED);
///
/// // With a listener, the same error is handled and `run` returns Ok.
/// netloop::run(|| {
///     let socket = Socket::new();
///     socket.on(Socket::ERROR, |_, err| assert_eq!(err.message(), "handled"));
///     socket.destroy_with(Error::new(ErrorCode::ECONNABORTED, "handled"));
///     Ok(())
/// })
/// .expect("the error was handled");
/// ```
pub fn run<F: FnOnce() -> Result<()>>(main: F) -> Result<()> {
    let lp = EventLoop::new()?;
    let nested = CURRENT.with(|c| c.borrow().is_some());
    assert!(
        !nested,
        "netloop::run called inside netloop::run: one loop per thread"
    );
    // Installed only after the check: a nested call's panic must leave the
    // outer loop in place.
    let installed = Installed::new(&lp);
    let result = main();
    if result.is_ok() {
        lp.run();
    }
    drop(installed);
    let stop = lp.stop_error.borrow_mut().take();
    result?;
    match stop {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
