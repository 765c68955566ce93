//! Timers: Node's `setTimeout`, `setInterval` and `setImmediate`.
//!
//! | Node | netloop |
//! | --- | --- |
//! | `setTimeout(f, ms)` | [`set_timeout`]`(Duration, f) -> Timer` |
//! | `setInterval(f, ms)` | [`set_interval`] |
//! | `setImmediate(f)` | [`set_immediate`] |
//! | `clearTimeout(t)`, `clearInterval(t)`, `clearImmediate(t)` | [`Timer::cancel`] |
//! | `timeout.refresh()` | [`Timer::refresh`] |
//! | `timeout.unref()`, `timeout.ref()`, `timeout.hasRef()` | [`Timer::unref`], [`Timer::set_ref`], [`Timer::has_ref`] |
//!
//! Where they run in the loop (see `docs/design.md`): timeouts and
//! intervals in the timers phase, earliest deadline first, equal deadlines
//! in the order they were set; immediates in the check phase, right after
//! polling for I/O; [`next_tick`](crate::next_tick) callbacks after
//! whatever callback is running, before anything else. Delays under 1 ms
//! become 1 ms, as in Node. A pending, ref'd timer keeps
//! [`run`](crate::run) going.
//!
//! A timer callback that schedules more work shows the phases: its
//! `next_tick` runs at once, its immediate in this iteration's check
//! phase, its new timeout in the next iteration's timers phase, however
//! short:
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use std::time::Duration;
//! use netloop::next_tick;
//! use netloop::timers::{set_immediate, set_timeout};
//!
//! type Log = Rc<RefCell<Vec<&'static str>>>;
//! fn record(log: &Log, entry: &'static str) -> impl FnOnce() + 'static {
//!     let log = Rc::clone(log);
//!     move || log.borrow_mut().push(entry)
//! }
//!
//! let log: Log = Rc::default();
//! let l = Rc::clone(&log);
//! netloop::run(move || {
//!     let inner = Rc::clone(&l);
//!     set_timeout(Duration::from_millis(5), move || {
//!         inner.borrow_mut().push("timeout");
//!         set_timeout(Duration::ZERO, record(&inner, "nested timeout"));
//!         set_immediate(record(&inner, "immediate"));
//!         next_tick(record(&inner, "tick"));
//!     });
//!     set_timeout(Duration::from_millis(5), record(&l, "same deadline"));
//!     set_immediate(record(&l, "cancelled")).cancel();
//!     next_tick(record(&l, "main's tick"));
//!     l.borrow_mut().push("main");
//!     Ok(())
//! })
//! .expect("the loop ran");
//! assert_eq!(
//!     *log.borrow(),
//!     ["main", "main's tick", "timeout", "tick", "same deadline", "immediate", "nested timeout"]
//! );
//! ```

use std::rc::Rc;
use std::time::Duration;

use crate::event_loop::timers::{TimerCb, TimerKey};
use crate::event_loop::{self, EventLoop};

/// A scheduled timeout, interval or immediate (Node: the `Timeout` and
/// `Immediate` objects). A cheap clone; dropping it does not cancel it, as
/// in Node.
#[derive(Clone)]
pub struct Timer {
    lp: Rc<EventLoop>,
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    Timeout(TimerKey),
    Immediate(TimerKey),
}

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timer")
            .field("immediate", &matches!(self.kind, Kind::Immediate(_)))
            .field("active", &self.is_active())
            .finish()
    }
}

/// Node clamps delays below 1 ms to 1 ms. Delays too long to represent
/// (up to `Duration::MAX`) saturate to about 136 years: the timer never
/// fires in practice, where Node fires an oversized delay after 1 ms.
fn clamp(d: Duration) -> Duration {
    d.clamp(
        Duration::from_millis(1),
        crate::event_loop::timers::MAX_DELAY,
    )
}

/// Run `f` once after `d` (Node: `setTimeout(f, ms)`); under 1 ms is 1 ms,
/// and a delay of more than about 136 years (`Duration::MAX`) saturates to
/// that: it never fires in practice (Node fires an oversized delay after
/// 1 ms, with a `TimeoutOverflowWarning`).
/// See the [module](self) documentation for an example.
///
/// # Panics
///
/// Outside `netloop::run`.
pub fn set_timeout(d: Duration, f: impl FnOnce() + 'static) -> Timer {
    let lp = event_loop::current();
    let key = lp
        .timers
        .insert(lp.now(), clamp(d), false, TimerCb::Once(Box::new(f)));
    Timer {
        lp,
        kind: Kind::Timeout(key),
    }
}

/// Run `f` every `d` until cancelled (Node: `setInterval(f, ms)`). The
/// next run is scheduled `d` after the previous one started.
///
/// # Panics
///
/// Outside `netloop::run`.
///
/// # Examples
///
/// An interval that cancels itself after three runs:
///
/// ```
/// use std::cell::{Cell, OnceCell};
/// use std::rc::Rc;
/// use std::time::Duration;
/// use netloop::timers::{set_interval, Timer};
///
/// let runs = Rc::new(Cell::new(0));
/// let count = Rc::clone(&runs);
/// netloop::run(move || {
///     let me: Rc<OnceCell<Timer>> = Rc::default();
///     let handle = Rc::clone(&me);
///     let timer = set_interval(Duration::from_millis(1), move || {
///         count.set(count.get() + 1);
///         if count.get() == 3 {
///             if let Some(timer) = handle.get() {
///                 timer.cancel(); // Node: clearInterval(timer)
///             }
///         }
///     });
///     assert!(timer.is_active());
///     let _ = me.set(timer);
///     Ok(())
/// })
/// .expect("the loop ran");
/// assert_eq!(runs.get(), 3);
/// ```
pub fn set_interval(d: Duration, f: impl FnMut() + 'static) -> Timer {
    let lp = event_loop::current();
    let key = lp
        .timers
        .insert(lp.now(), clamp(d), true, TimerCb::Many(Box::new(f)));
    Timer {
        lp,
        kind: Kind::Timeout(key),
    }
}

/// Run `f` in the check phase of this loop iteration, right after polling
/// for I/O (Node: `setImmediate(f)`). Immediates set by an immediate wait
/// for the next iteration. See the [module](self) documentation for an
/// example.
///
/// # Panics
///
/// Outside `netloop::run`.
pub fn set_immediate(f: impl FnOnce() + 'static) -> Timer {
    let lp = event_loop::current();
    let key = lp.timers.insert_immediate(Box::new(f));
    Timer {
        lp,
        kind: Kind::Immediate(key),
    }
}

/// A timer whose callback may run more than once without repeating on its
/// own: it fires once, and `refresh()` re-arms it (socket idle timeouts).
pub(crate) fn rearmable(lp: &Rc<EventLoop>, d: Duration, f: impl FnMut() + 'static) -> Timer {
    let key = lp
        .timers
        .insert(lp.now(), clamp(d), false, TimerCb::Many(Box::new(f)));
    Timer {
        lp: Rc::clone(lp),
        kind: Kind::Timeout(key),
    }
}

impl Timer {
    /// Stop the timer; its callback never runs again (Node: `clearTimeout`,
    /// `clearInterval`, `clearImmediate`). Cancelling twice, or after the
    /// callback ran, does nothing.
    pub fn cancel(&self) {
        match self.kind {
            Kind::Timeout(k) => self.lp.timers.cancel(k),
            Kind::Immediate(k) => self.lp.timers.cancel_immediate(k),
        }
    }

    /// Restart the countdown from now with the same duration (Node:
    /// `timeout.refresh()`). Re-arms an interval or a re-armable timeout
    /// that already fired; a one-shot timeout whose callback already ran
    /// cannot run again, and an immediate has no countdown: both ignore it.
    ///
    /// # Examples
    ///
    /// A watchdog that fires only once the work stops refreshing it:
    ///
    /// ```
    /// use std::cell::{Cell, RefCell};
    /// use std::rc::Rc;
    /// use std::time::Duration;
    /// use netloop::timers::{set_interval, set_timeout};
    ///
    /// let log = Rc::new(RefCell::new(Vec::new()));
    /// let (work, barked) = (Rc::clone(&log), Rc::clone(&log));
    /// netloop::run(move || {
    ///     let watchdog = set_timeout(Duration::from_millis(50), move || {
    ///         barked.borrow_mut().push("watchdog".to_string());
    ///     });
    ///     let steps = Rc::new(Cell::new(0));
    ///     let worker: Rc<RefCell<Option<netloop::timers::Timer>>> = Rc::default();
    ///     let me = Rc::clone(&worker);
    ///     *worker.borrow_mut() = Some(set_interval(Duration::from_millis(1), move || {
    ///         steps.set(steps.get() + 1);
    ///         work.borrow_mut().push(format!("step {}", steps.get()));
    ///         watchdog.refresh(); // 50 ms from now again
    ///         if steps.get() == 3 {
    ///             if let Some(timer) = me.borrow().as_ref() {
    ///                 timer.cancel();
    ///             }
    ///         }
    ///     }));
    ///     Ok(())
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(*log.borrow(), ["step 1", "step 2", "step 3", "watchdog"]);
    /// ```
    pub fn refresh(&self) -> &Timer {
        if let Kind::Timeout(k) = self.kind {
            self.lp.timers.refresh(k, self.lp.now());
        }
        self
    }

    /// Restart with a new duration.
    pub(crate) fn reset(&self, d: Duration) {
        if let Kind::Timeout(k) = self.kind {
            self.lp.timers.reset(k, self.lp.now(), clamp(d));
        }
    }

    /// Let the loop end while this timer is pending (Node:
    /// `timeout.unref()`): for housekeeping that should not keep the
    /// program running by itself.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use std::time::Duration;
    /// use netloop::timers::set_timeout;
    ///
    /// let fired = Rc::new(Cell::new((false, false)));
    /// let (short, long) = (Rc::clone(&fired), Rc::clone(&fired));
    /// netloop::run(move || {
    ///     set_timeout(Duration::from_millis(1), move || short.set((true, short.get().1)));
    ///     let background = set_timeout(Duration::from_secs(10), move || long.set((long.get().0, true)));
    ///     background.unref();
    ///     assert!(!background.has_ref() && background.is_active());
    ///     Ok(())
    /// })
    /// .expect("run returns after 1 ms, not 10 s");
    /// assert_eq!(fired.get(), (true, false));
    /// ```
    pub fn unref(&self) -> &Timer {
        self.set_ref(false)
    }

    /// Count this timer, or not, in the loop's alive total (Node:
    /// `timeout.ref()` is `set_ref(true)`, `timeout.unref()` is
    /// `set_ref(false)`).
    pub fn set_ref(&self, reffed: bool) -> &Timer {
        match self.kind {
            Kind::Timeout(k) => self.lp.timers.set_ref(k, reffed),
            Kind::Immediate(k) => self.lp.timers.set_immediate_ref(k, reffed),
        }
        self
    }

    /// True unless unref'd (Node: `timeout.hasRef()`).
    pub fn has_ref(&self) -> bool {
        match self.kind {
            Kind::Timeout(k) => self.lp.timers.has_ref(k),
            Kind::Immediate(k) => self.lp.timers.immediate_has_ref(k),
        }
    }

    /// True while the callback is still due to run: not yet fired (or an
    /// interval), and not cancelled (Node has no such getter).
    pub fn is_active(&self) -> bool {
        match self.kind {
            Kind::Timeout(k) => self.lp.timers.is_armed(k),
            Kind::Immediate(k) => self.lp.timers.immediate_live(k),
        }
    }
}
