//! Timers: Node's `setTimeout`, `setInterval` and `setImmediate`.
//!
//! ```
//! use std::time::Duration;
//! use netloop::timers::{set_immediate, set_timeout};
//!
//! netloop::run(|| {
//!     set_timeout(Duration::from_millis(5), || println!("second"));
//!     set_immediate(|| println!("first"));
//!     Ok(())
//! })
//! .expect("the loop ran");
//! ```

use std::rc::Rc;
use std::time::Duration;

use crate::event_loop::timers::{TimerCb, TimerKey};
use crate::event_loop::{self, EventLoop};

/// A scheduled timeout, interval or immediate (Node's `Timeout` /
/// `Immediate` objects). Dropping it does not cancel it, as in Node.
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

/// Node clamps delays below 1 ms to 1 ms.
fn clamp(d: Duration) -> Duration {
    d.max(Duration::from_millis(1))
}

/// Run `f` once after `d` (Node: `setTimeout(f, ms)`).
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

/// Run `f` every `d` until cancelled (Node: `setInterval(f, ms)`).
///
/// # Panics
///
/// Outside `netloop::run`.
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

/// Run `f` in the check phase of this loop iteration, after I/O (Node:
/// `setImmediate(f)`).
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
    /// `clearInterval`, `clearImmediate`).
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

    /// Let the loop end while this timer is pending (Node: `timeout.unref()`).
    pub fn unref(&self) -> &Timer {
        self.set_ref(false)
    }

    /// Node: `timeout.ref()` / `unref()`.
    pub fn set_ref(&self, reffed: bool) -> &Timer {
        match self.kind {
            Kind::Timeout(k) => self.lp.timers.set_ref(k, reffed),
            Kind::Immediate(k) => self.lp.timers.set_immediate_ref(k, reffed),
        }
        self
    }

    /// Node: `timeout.hasRef()`.
    pub fn has_ref(&self) -> bool {
        match self.kind {
            Kind::Timeout(k) => self.lp.timers.has_ref(k),
            Kind::Immediate(k) => self.lp.timers.immediate_has_ref(k),
        }
    }

    /// True while the callback is still due to run.
    pub fn is_active(&self) -> bool {
        match self.kind {
            Kind::Timeout(k) => self.lp.timers.is_armed(k),
            Kind::Immediate(k) => self.lp.timers.immediate_live(k),
        }
    }
}
