//! A handle other threads hold to a running loop, to hand it work (libuv's
//! `uv_async_t`), and a typed channel into the loop built on it.
//!
//! The rules, which the loop's `run` and teardown keep:
//!
//! 1. A post is accepted (`Ok`) or refused (`Err`, `ERR_LOOP_CLOSED`)
//!    under the queue's lock; refused once the loop has closed its queue.
//! 2. An accepted post counts toward the loop's alive total until the loop
//!    has taken it out to run it, so `run` cannot end normally before it
//!    ran: the loop closes the queue, when nothing else is alive, under the
//!    same lock and only if the queue is empty. There is no window in which
//!    a post is accepted and then silently forgotten by a normal end.
//! 3. Only a loop stopped early (an `error` event with no listener, a
//!    panic) drops accepted posts without running them, on the loop thread
//!    during its teardown, as it drops every other queued callback then.
//! 4. The handle itself never keeps the loop alive (libuv's `uv_async_t`
//!    is ref'd until `uv_unref`; a netloop handle is always unref'd): a
//!    program that keeps a handle in a thread waiting for work still ends.

use std::any::Any;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{current, Remote};
use crate::error::{Error, ErrorCode, Result};

type Job = Box<dyn FnOnce() + Send>;

/// The queue of posted closures, in [`Remote`].
#[derive(Default)]
pub(crate) struct Posts {
    queue: Mutex<Queue>,
    /// How many accepted posts the loop has not taken out yet. Written
    /// under the lock; read without it by the loop's alive check on every
    /// iteration, which only decides whether to look closer (closing
    /// re-checks under the lock).
    in_flight: AtomicUsize,
}

#[derive(Default)]
struct Queue {
    closed: bool,
    jobs: VecDeque<Job>,
}

impl Posts {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding this lock can only come from a job's
        // `Drop` running under it, which nothing here does; the queue is
        // consistent either way.
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queue `job`, or hand it back if the loop has closed the queue.
    /// `Ok(true)` when the loop must be woken for it (see `push_with`).
    fn push(&self, job: Job) -> std::result::Result<bool, Job> {
        self.push_with(job, |job| job)
    }

    /// Queue the job `make(value)`, or hand `value` back, unwrapped, if the
    /// loop has closed the queue: the caller keeps what it meant to send
    /// (a connection that must not be lost) instead of a boxed closure.
    ///
    /// `Ok(true)` when the queue was empty: only then must the caller wake
    /// the loop. A job that joins a queue that already holds one needs no
    /// wake-up of its own (libuv's `uv_async_send` coalesces the same way,
    /// with its `pending` flag, `src/unix/async.c`): whoever queued the
    /// first job wakes the loop after queueing it, and the loop takes the
    /// whole queue at once after every poll (`run_posts`), so this job is
    /// taken with that one. A loop about to wait cannot miss it either:
    /// it does not block while `in_flight` (raised here, under the lock)
    /// is non-zero. Without this, a busy producer (the cluster's acceptor,
    /// one post per connection) writes the loop's eventfd once per job,
    /// a system call and an epoll wake-up each, for a loop that is going
    /// to take them all in one batch anyway.
    fn push_with<T>(&self, value: T, make: impl FnOnce(T) -> Job) -> std::result::Result<bool, T> {
        let mut queue = self.lock();
        if queue.closed {
            return Err(value);
        }
        let first = queue.jobs.is_empty();
        queue.jobs.push_back(make(value));
        self.in_flight.fetch_add(1, Ordering::Release);
        Ok(first)
    }

    /// True while posts wait to be run.
    pub(crate) fn in_flight(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0
    }

    /// Every post queued now, in order, to run on the loop thread.
    pub(crate) fn take(&self) -> VecDeque<Job> {
        let mut queue = self.lock();
        let jobs = std::mem::take(&mut queue.jobs);
        self.in_flight.fetch_sub(jobs.len(), Ordering::Release);
        jobs
    }

    /// Close the queue if it is empty; true if it is closed. The loop calls
    /// this when nothing else keeps it alive: a post that got in first is
    /// run, one that comes after is refused.
    pub(crate) fn close_if_empty(&self) -> bool {
        let mut queue = self.lock();
        if queue.jobs.is_empty() {
            queue.closed = true;
        }
        queue.closed
    }

    /// Close the queue and hand back what it held (the loop is being torn
    /// down). The caller drops the jobs after the lock is released: their
    /// `Drop` may post again, which must find the queue closed, not locked.
    pub(crate) fn close(&self) -> VecDeque<Job> {
        let mut queue = self.lock();
        queue.closed = true;
        let jobs = std::mem::take(&mut queue.jobs);
        self.in_flight.fetch_sub(jobs.len(), Ordering::Release);
        jobs
    }

    fn is_closed(&self) -> bool {
        self.lock().closed
    }
}

fn loop_closed() -> Error {
    Error::new(ErrorCode::ERR_LOOP_CLOSED, "Event loop is closed")
}

/// A handle to a running loop that any thread can hold, to run closures on
/// that loop's thread (libuv: `uv_async_t` and `uv_async_send`; Node has no
/// public equivalent: a worker's `parentPort.postMessage` is the nearest).
/// Get one with [`loop_handle`] inside [`run`](crate::run).
///
/// [`post`](LoopHandle::post) wakes the loop from its poll phase and runs
/// the closure there, then drains the [`next_tick`](crate::next_tick)
/// queue, as after any callback. Posts run exactly once each and in the
/// order they were accepted (libuv coalesces `uv_async_send` calls; netloop
/// queues every closure). Posting from the loop's own thread works too: the
/// closure runs in the next poll phase, never inside the call.
///
/// # Keeping the loop alive
///
/// The handle does not keep the loop alive: holding one (say, in a thread
/// that waits for work) never stops [`run`](crate::run) from returning.
/// A post that was accepted and has not run yet does keep it alive, as a
/// request in flight does, so an accepted post always runs before a normal
/// end, however late it comes.
///
/// # When the loop ends
///
/// Once the loop has ended, `post` returns `Err` and drops the closure on
/// the calling thread. The loop decides "nothing is alive, end" and stops
/// accepting posts in one step, under the queue's lock: a post racing with
/// the end either got in first (and runs) or gets `Err`. The one exception
/// is a loop stopped early by an `error` event nobody listened to (Node's
/// uncaught exception) or by a panic: posts accepted and not yet run are
/// then dropped on the loop thread without running, with every other
/// queued callback.
///
/// Handles are `!Send` everywhere else in netloop, so a posted closure
/// cannot capture a [`Socket`](crate::net::Socket) or a
/// [`Server`](crate::net::Server). To reach them, make a [`channel`] on the
/// loop: its callback lives on the loop thread and may hold anything.
///
/// # Examples
///
/// Another thread posts work; each closure runs on the loop thread, in
/// order, and the loop ends once they ran:
///
/// ```
/// use std::sync::mpsc;
///
/// let (tx, rx) = mpsc::channel();
/// netloop::run(move || {
///     let handle = netloop::loop_handle();
///     let loop_thread = std::thread::current().id();
///     let worker = std::thread::spawn(move || {
///         for i in 0..3 {
///             let tx = tx.clone();
///             handle
///                 .post(move || {
///                     assert_eq!(std::thread::current().id(), loop_thread);
///                     tx.send(i).expect("the test holds the receiver");
///                 })
///                 .expect("the loop is running");
///         }
///     });
///     // An accepted post keeps the loop alive until it ran: wait until
///     // the thread's posts are in, then let `main` return.
///     worker.join().expect("the worker posted");
///     Ok(())
/// })
/// .expect("the loop ran");
/// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [0, 1, 2]);
/// ```
#[derive(Clone)]
pub struct LoopHandle {
    remote: Arc<Remote>,
}

impl LoopHandle {
    /// Run `f` on the loop's thread, in its poll phase, after the posts
    /// accepted before it (libuv: `uv_async_send`). Wakes the loop if it
    /// is waiting for I/O. See the [type](LoopHandle) documentation for
    /// when the loop ends.
    ///
    /// # Errors
    ///
    /// `ERR_LOOP_CLOSED` once the loop has ended (`run` returned, or is
    /// returning). `f` is dropped on the calling thread then, without
    /// running.
    ///
    /// ```
    /// use netloop::ErrorCode;
    ///
    /// let mut kept = None;
    /// netloop::run(|| {
    ///     kept = Some(netloop::loop_handle());
    ///     Ok(())
    /// })
    /// .expect("nothing kept the loop alive, not even the handle");
    /// let handle = kept.expect("set inside run");
    /// let err = handle.post(|| unreachable!()).expect_err("the loop has ended");
    /// assert_eq!(err.code(), ErrorCode::ERR_LOOP_CLOSED);
    /// assert!(handle.is_closed());
    /// ```
    pub fn post(&self, f: impl FnOnce() + Send + 'static) -> Result<()> {
        match self.remote.posts.push(Box::new(f)) {
            Ok(first) => {
                if first {
                    self.remote.wake();
                }
                Ok(())
            }
            Err(job) => {
                drop(job);
                Err(loop_closed())
            }
        }
    }

    /// [`post`](LoopHandle::post) `f(value)`, or hand `value` back when
    /// the loop has ended: what `f` would have consumed is not lost with
    /// the closure (the cluster's acceptor offers a connection to the next
    /// worker instead).
    pub(crate) fn post_or_keep<T: Send + 'static>(
        &self,
        value: T,
        f: impl FnOnce(T) + Send + 'static,
    ) -> std::result::Result<(), T> {
        let first = self
            .remote
            .posts
            .push_with(value, move |value| Box::new(move || f(value)))?;
        if first {
            self.remote.wake();
        }
        Ok(())
    }

    /// True once the loop has ended and refuses posts. A `false` can be
    /// out of date by the time the caller acts on it: [`post`]'s result is
    /// the only answer that counts.
    ///
    /// [`post`]: LoopHandle::post
    pub fn is_closed(&self) -> bool {
        self.remote.posts.is_closed()
    }
}

impl fmt::Debug for LoopHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopHandle")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// A [`LoopHandle`] to the loop running on this thread, for other threads
/// to post work to it (libuv: `uv_async_init`).
///
/// # Panics
///
/// Outside [`run`](crate::run).
pub fn loop_handle() -> LoopHandle {
    LoopHandle {
        remote: Arc::clone(&current().remote),
    }
}

/// The loop-side end of a [`channel`]: its callback, typed, behind `Any`
/// so that one slab holds channels of every message type.
type Receiver<T> = RefCell<Box<dyn FnMut(T)>>;

/// Make a channel into this loop: `on_message` runs on the loop thread
/// with each message any thread [`send`](Sender::send)s, in order (Node:
/// a `MessageChannel` whose receiving port stays on this thread,
/// `port.on('message', f)`; calloop's `channel` in Rust).
///
/// `on_message` may hold the loop's `!Send` handles (a
/// [`Socket`](crate::net::Socket), a [`Server`](crate::net::Server)),
/// which a closure given to [`LoopHandle::post`] cannot. It lives until
/// every [`Sender`] is dropped (its last message runs first) or the loop
/// ends. Like the handle, the channel does not keep the loop alive, but
/// each message sent and not yet delivered does.
///
/// # Panics
///
/// Outside [`run`](crate::run).
///
/// # Examples
///
/// A thread stops a listening server from outside the loop:
///
/// ```
/// use netloop::net::{self, Server};
///
/// netloop::run(|| {
///     let server = net::create_server(|_, _| {});
///     server.listen(0, "127.0.0.1")?;
///     // The callback holds the server; the sender goes to the thread.
///     let stop = netloop::channel(move |(): ()| {
///         server.close();
///     });
///     std::thread::spawn(move || stop.send(()).expect("the server keeps the loop running"));
///     Ok(())
/// })
/// .expect("the server closed and the loop ended");
/// ```
pub fn channel<T: Send + 'static>(on_message: impl FnMut(T) + 'static) -> Sender<T> {
    let lp = current();
    let receiver: Receiver<T> = RefCell::new(Box::new(on_message));
    let (key, generation) = lp.add_receiver(Rc::new(receiver));
    Sender {
        shared: Arc::new(SenderShared {
            handle: LoopHandle {
                remote: Arc::clone(&lp.remote),
            },
            key,
            generation,
        }),
        _message: PhantomData,
    }
}

/// The sending side of a [`channel`] into a loop: `Send + Sync` and a
/// cheap clone (Node: `port.postMessage` from another thread).
pub struct Sender<T> {
    shared: Arc<SenderShared>,
    // `fn(T)`: a sender neither owns nor shares a `T`, so it is `Send` and
    // `Sync` whatever `T` is; `send` asks for `T: Send`.
    _message: PhantomData<fn(T)>,
}

struct SenderShared {
    handle: LoopHandle,
    key: usize,
    generation: u32,
}

impl<T: Send + 'static> Sender<T> {
    /// Hand `message` to the channel's callback on the loop thread, after
    /// the messages and posts accepted before it (a [`LoopHandle::post`]
    /// underneath, with its guarantees).
    ///
    /// # Errors
    ///
    /// `ERR_LOOP_CLOSED` once the loop has ended; `message` is dropped.
    pub fn send(&self, message: T) -> Result<()> {
        let (key, generation) = (self.shared.key, self.shared.generation);
        self.shared.handle.post(move || {
            let lp = current();
            let Some(receiver) = lp.receiver(key, generation) else {
                // The receiver goes only after the last sender is dropped,
                // and that removal is posted after every message of every
                // sender (each drop follows its own sends): not reached.
                return;
            };
            if let Some(receiver) = receiver.downcast_ref::<Receiver<T>>() {
                // Messages run one at a time from the poll phase, never
                // inside the callback itself: the borrow is free.
                if let Ok(mut on_message) = receiver.try_borrow_mut() {
                    on_message(message);
                }
            }
        })
    }

    /// The [`LoopHandle`] of the loop this channel delivers to.
    pub fn loop_handle(&self) -> &LoopHandle {
        &self.shared.handle
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            shared: Arc::clone(&self.shared),
            _message: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("loop", &self.shared.handle)
            .finish()
    }
}

impl Drop for SenderShared {
    fn drop(&mut self) {
        // The last sender is gone: free the callback (and the handles it
        // holds) on the loop thread, after every message already posted.
        // A loop that has ended dropped it in its teardown already.
        let (key, generation) = (self.key, self.generation);
        let _ = self.handle.post(move || {
            let removed = current().remove_receiver(key, generation);
            drop(removed);
        });
    }
}

/// The loop's side of the channels: their callbacks by key.
#[derive(Default)]
pub(crate) struct Receivers {
    slab: RefCell<slab::Slab<(u32, Rc<dyn Any>)>>,
    generation: std::cell::Cell<u32>,
}

impl Receivers {
    pub(crate) fn add(&self, receiver: Rc<dyn Any>) -> (usize, u32) {
        let generation = self.generation.get().wrapping_add(1);
        self.generation.set(generation);
        (
            self.slab.borrow_mut().insert((generation, receiver)),
            generation,
        )
    }

    pub(crate) fn get(&self, key: usize, generation: u32) -> Option<Rc<dyn Any>> {
        match self.slab.borrow().get(key) {
            Some((g, r)) if *g == generation => Some(Rc::clone(r)),
            _ => None,
        }
    }

    /// The caller drops the result after this borrow ends: a callback's
    /// captured values may touch the loop from their `Drop`.
    pub(crate) fn remove(&self, key: usize, generation: u32) -> Option<Rc<dyn Any>> {
        let mut slab = self.slab.borrow_mut();
        match slab.get(key) {
            Some((g, _)) if *g == generation => Some(slab.remove(key).1),
            _ => None,
        }
    }

    /// Every receiver, taken out for the teardown (dropped by the caller).
    pub(crate) fn take_all(&self) -> slab::Slab<(u32, Rc<dyn Any>)> {
        std::mem::take(&mut *self.slab.borrow_mut())
    }
}
