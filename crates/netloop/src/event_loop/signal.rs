//! Signal watchers (libuv's `uv_signal_t`): the process-wide handler
//! comes from signal-hook, which writes to a self-pipe per loop that
//! listens; the loop reads the pipe in its poll phase and runs the
//! listeners there, on its own thread.
//!
//! Two levels, as in libuv's `src/unix/signal.c`:
//!
//! - **Process.** Per signal number, the count of listeners across every
//!   loop, and one signal-hook action that runs the signal's default
//!   action (`signal_hook::low_level::emulate_default_handler`: terminate
//!   for INT, TERM, HUP, USR1 and USR2, nothing for WINCH) while that count
//!   is zero. The action is registered on the first listener and never
//!   removed; a flag turns it on and off. Before any listener exists no
//!   handler is installed at all. So removing the last listener restores
//!   the default action, as Node does (libuv's `uv__signal_unregister_handler`
//!   puts `SIG_DFL` back), even if the process started with the signal
//!   ignored (Node behaves the same).
//! - **Loop.** A `signal_hook_mio` source (a self-pipe plus a pending flag
//!   per signal), created on the loop's first listener and subscribed to
//!   every signal the loop has listened for. It is registered with the
//!   poller like any fd but never counted in the alive total: a signal
//!   listener does not keep the loop alive (Node's
//!   `lib/internal/process/signal.js`, `startListeningIfSignal`, calls
//!   `wrap.unref()` on the signal handle it starts). A signal that
//!   arrives while the loop has no listener for it is read and ignored
//!   there.
//!
//! Every loop subscribed to a signal gets each arrival of it: signal-hook
//! runs every registered action from the one handler.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use signal_hook_mio::v1_0::Signals;

use super::{current, EventLoop, IoHandler, Ready};

type Listener = Rc<RefCell<Box<dyn FnMut(i32)>>>;

// ----- the process level ------------------------------------------------------

struct ProcessSignal {
    signum: i32,
    /// Listeners on every loop of the process.
    listeners: usize,
    /// Read by the signal handler: run the default action.
    default_action: Arc<AtomicBool>,
}

static PROCESS: Mutex<Vec<ProcessSignal>> = Mutex::new(Vec::new());

fn process() -> MutexGuard<'static, Vec<ProcessSignal>> {
    // The counts stay consistent even if a holder panicked: every update
    // is a single assignment.
    PROCESS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One more listener for `signum` somewhere in the process.
fn process_listen(signum: i32) -> io::Result<()> {
    let mut signals = process();
    if let Some(s) = signals.iter_mut().find(|s| s.signum == signum) {
        s.listeners += 1;
        s.default_action.store(false, Ordering::SeqCst);
        return Ok(());
    }
    let default_action = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register_conditional_default(signum, Arc::clone(&default_action))?;
    signals.push(ProcessSignal {
        signum,
        listeners: 1,
        default_action,
    });
    Ok(())
}

/// One listener fewer for `signum`; the last one restores the default
/// action.
fn process_unlisten(signum: i32) {
    let mut signals = process();
    if let Some(s) = signals.iter_mut().find(|s| s.signum == signum) {
        s.listeners = s.listeners.saturating_sub(1);
        if s.listeners == 0 {
            s.default_action.store(true, Ordering::SeqCst);
        }
    }
}

/// Listener ids are unique in the process, so an id given to the wrong
/// loop's `off` finds nothing instead of another listener.
fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

// ----- the loop level -----------------------------------------------------------

/// One loop's signal source and listeners.
pub(crate) struct SignalWatcher {
    source: RefCell<Option<Signals>>,
    listeners: RefCell<Vec<(u64, i32, Listener)>>,
    torn_down: Cell<bool>,
}

impl SignalWatcher {
    fn create(lp: &EventLoop) -> io::Result<Rc<SignalWatcher>> {
        let mut source = Signals::new(std::iter::empty::<i32>())?;
        let watcher = Rc::new(SignalWatcher {
            source: RefCell::new(None),
            listeners: RefCell::new(Vec::new()),
            torn_down: Cell::new(false),
        });
        lp.register(&mut source, Rc::clone(&watcher) as Rc<dyn IoHandler>)?;
        *watcher.source.borrow_mut() = Some(source);
        Ok(watcher)
    }

    fn subscribe(&self, signum: i32) -> io::Result<()> {
        match self.source.borrow().as_ref() {
            Some(source) => source.add_signal(signum),
            None => Err(io::Error::from(io::ErrorKind::NotConnected)),
        }
    }
}

impl IoHandler for SignalWatcher {
    fn on_ready(self: Rc<Self>, _ready: Ready) {
        // Which signals came since the last look, in signal-number order:
        // several arrivals of one signal before the loop looks are one
        // (the kernel coalesces a pending standard signal the same way).
        let arrived: Vec<i32> = match self.source.borrow_mut().as_mut() {
            Some(source) => source.pending().collect(),
            None => return,
        };
        let lp = current();
        for signum in arrived {
            // The listeners at the time of the signal, as Node's `emit`
            // copies its listener array: one added by a listener waits for
            // the next signal, one removed by a listener still runs now.
            let targets: Vec<Listener> = self
                .listeners
                .borrow()
                .iter()
                .filter(|(_, s, _)| *s == signum)
                .map(|(_, _, f)| Rc::clone(f))
                .collect();
            for f in targets {
                if lp.stopping() {
                    return;
                }
                lp.invoke(|| {
                    // A listener never runs inside itself: signals are
                    // delivered from the poll phase only.
                    if let Ok(mut f) = f.try_borrow_mut() {
                        f(signum);
                    }
                });
            }
        }
    }

    fn teardown(&self) {
        if self.torn_down.replace(true) {
            return;
        }
        let listeners = std::mem::take(&mut *self.listeners.borrow_mut());
        for (_, signum, _) in &listeners {
            process_unlisten(*signum);
        }
        // Dropping the source unsubscribes its pipe from every signal.
        let source = self.source.borrow_mut().take();
        drop(source);
        drop(listeners);
    }
}

impl EventLoop {
    /// Run `f` on this loop for every arrival of `signum` (libuv:
    /// `uv_signal_start`); returns the listener's id.
    pub(crate) fn signal_start(&self, signum: i32, f: Box<dyn FnMut(i32)>) -> io::Result<u64> {
        let existing = self.signals.borrow().clone();
        let watcher = match existing {
            Some(w) => w,
            None => {
                let w = SignalWatcher::create(self)?;
                *self.signals.borrow_mut() = Some(Rc::clone(&w));
                w
            }
        };
        process_listen(signum)?;
        if let Err(e) = watcher.subscribe(signum) {
            process_unlisten(signum);
            return Err(e);
        }
        let id = next_id();
        watcher
            .listeners
            .borrow_mut()
            .push((id, signum, Rc::new(RefCell::new(f))));
        Ok(id)
    }

    /// Remove the listener `id` (libuv: `uv_signal_stop`); false if this
    /// loop has no such listener.
    pub(crate) fn signal_stop(&self, id: u64) -> bool {
        let Some(watcher) = self.signals.borrow().clone() else {
            return false;
        };
        let removed = {
            let mut listeners = watcher.listeners.borrow_mut();
            listeners
                .iter()
                .position(|(i, _, _)| *i == id)
                .map(|at| listeners.remove(at))
        };
        match removed {
            Some((_, signum, f)) => {
                process_unlisten(signum);
                // Dropped after the borrow: its captures may touch the loop.
                drop(f);
                true
            }
            None => false,
        }
    }

    /// How many listeners this loop has for `signum`.
    pub(crate) fn signal_listener_count(&self, signum: i32) -> usize {
        self.signals.borrow().as_ref().map_or(0, |w| {
            w.listeners
                .borrow()
                .iter()
                .filter(|(_, s, _)| *s == signum)
                .count()
        })
    }
}
