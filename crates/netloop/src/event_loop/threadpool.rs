//! The thread pool for blocking work (`getaddrinfo`), like libuv's: one
//! process-wide pool, 4 threads unless `NETLOOP_THREADPOOL_SIZE` says
//! otherwise (libuv reads `UV_THREADPOOL_SIZE` the same way), started on
//! first use. A finished job hands its result to the loop that queued it and
//! wakes that loop through its mio `Waker`.

use std::any::Any;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;

pub(crate) type Output = Box<dyn Any + Send>;
type Job = Box<dyn FnOnce() + Send>;

const DEFAULT_SIZE: usize = 4;
/// libuv's ceiling for `UV_THREADPOOL_SIZE`.
const MAX_SIZE: usize = 1024;

/// The part of a loop that other threads may touch: pool threads hand
/// back results here, and [`LoopHandle`](crate::LoopHandle)s post work
/// here. Both wake the loop through its one mio `Waker` (mio allows one
/// per `Poll`), as libuv's thread pool and `uv_async_send` share the loop's
/// one async wakeup fd.
pub(crate) struct Remote {
    completed: Mutex<Vec<(usize, Output)>>,
    pub(crate) posts: super::loop_handle::Posts,
    waker: mio::Waker,
}

impl Remote {
    pub(crate) fn new(waker: mio::Waker) -> Remote {
        Remote {
            completed: Mutex::new(Vec::new()),
            posts: super::loop_handle::Posts::default(),
            waker,
        }
    }

    /// Wake the loop from its poll phase.
    pub(crate) fn wake(&self) {
        // A failed wake cannot lose work: whatever was queued is still
        // queued, and the loop looks at its queues on every wakeup. mio's
        // waker only fails if the loop's poller is gone.
        let _ = self.waker.wake();
    }

    pub(crate) fn complete(&self, key: usize, out: Output) {
        let mut done = self
            .completed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        done.push((key, out));
        drop(done);
        self.wake();
    }

    pub(crate) fn take_completed(&self) -> Vec<(usize, Output)> {
        let mut done = self
            .completed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        std::mem::take(&mut *done)
    }
}

struct Pool {
    tx: Mutex<Sender<Job>>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let size = std::env::var("NETLOOP_THREADPOOL_SIZE")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_SIZE)
            .min(MAX_SIZE);
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..size {
            let rx = Arc::clone(&rx);
            let spawned = thread::Builder::new()
                .name(format!("netloop-pool-{i}"))
                .spawn(move || worker(rx));
            if let Err(e) = spawned {
                tracing::warn!(target: "netloop", error = %e, "could not start a pool thread");
            }
        }
        Pool { tx: Mutex::new(tx) }
    })
}

fn worker(rx: Arc<Mutex<Receiver<Job>>>) {
    loop {
        let job = {
            let rx = rx.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            rx.recv()
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

pub(crate) fn submit(job: Job) {
    let tx = pool()
        .tx
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Err(mpsc::SendError(job)) = tx.send(job) {
        // No worker thread could be started: run the job inline rather than
        // lose the request.
        job();
    }
}
