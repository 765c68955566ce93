//! Timers and immediates.
//!
//! Timeouts live in a binary heap keyed by `(deadline, sequence)`, so timers
//! with equal deadlines fire in the order they were scheduled. Refreshing a
//! timer (Node's `timeout.refresh()`, and every read or write on a socket
//! with an idle timeout) is O(1): it only moves the entry's deadline
//! forward. The stale heap node is noticed when it reaches the top and is
//! pushed again at the new deadline, the same amortisation Node gets from
//! its per-duration timer lists (`lib/internal/timers.js`): an idle timeout
//! refreshed a million times costs one heap operation per expiry period,
//! not one per refresh.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use slab::Slab;

/// A timer's callback: a one-shot, or one that can run many times
/// (intervals, and timeouts that `refresh()` re-arms after they fired).
pub(crate) enum TimerCb {
    Once(Box<dyn FnOnce()>),
    Many(Box<dyn FnMut()>),
}

struct Entry {
    generation: u64,
    deadline: Instant,
    duration: Duration,
    repeat: bool,
    armed: bool,
    reffed: bool,
    /// Order among equal deadlines. Every (re)schedule takes a new number,
    /// as Node appends a refreshed timer to the end of its list: after
    /// `a.refresh()`, a timer `b` already due at the same time runs first.
    seq: u64,
    /// The `(deadline, seq)` key of this entry's live heap node; any other
    /// node for the entry is stale and skipped.
    node: (Instant, u64),
    cb: Option<TimerCb>,
}

/// Identifies a timer entry; the generation guards against a slab slot
/// reused after the original timer ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    key: usize,
    generation: u64,
}

struct Immediate {
    generation: u64,
    reffed: bool,
    cb: Option<Box<dyn FnOnce()>>,
}

/// All of one loop's timers and immediates.
pub(crate) struct TimerWheel {
    entries: RefCell<Slab<Entry>>,
    heap: RefCell<BinaryHeap<Reverse<(Instant, u64, usize)>>>,
    seq: Cell<u64>,
    generation: Cell<u64>,
    /// Armed, ref'd timers and queued, ref'd immediates.
    refs: Cell<usize>,
    immediates: RefCell<Slab<Immediate>>,
    immediate_queue: RefCell<VecDeque<TimerKey>>,
}

impl TimerWheel {
    pub(crate) fn new() -> TimerWheel {
        TimerWheel {
            entries: RefCell::new(Slab::new()),
            heap: RefCell::new(BinaryHeap::new()),
            seq: Cell::new(0),
            generation: Cell::new(0),
            refs: Cell::new(0),
            immediates: RefCell::new(Slab::new()),
            immediate_queue: RefCell::new(VecDeque::new()),
        }
    }

    fn next_seq(&self) -> u64 {
        let s = self.seq.get() + 1;
        self.seq.set(s);
        s
    }

    fn next_generation(&self) -> u64 {
        let g = self.generation.get() + 1;
        self.generation.set(g);
        g
    }

    fn add_ref(&self, delta: isize) {
        let n = self.refs.get() as isize + delta;
        self.refs.set(n.max(0) as usize);
    }

    /// Ref'd work that keeps the loop alive.
    pub(crate) fn ref_count(&self) -> usize {
        self.refs.get()
    }

    /// Schedule a timer `duration` after `now`.
    pub(crate) fn insert(
        &self,
        now: Instant,
        duration: Duration,
        repeat: bool,
        cb: TimerCb,
    ) -> TimerKey {
        let generation = self.next_generation();
        let seq = self.next_seq();
        let deadline = now + duration;
        let key = self.entries.borrow_mut().insert(Entry {
            generation,
            deadline,
            duration,
            repeat,
            armed: true,
            reffed: true,
            seq,
            node: (deadline, seq),
            cb: Some(cb),
        });
        self.heap.borrow_mut().push(Reverse((deadline, seq, key)));
        self.add_ref(1);
        TimerKey { key, generation }
    }

    /// Disarm a timer and forget its callback (Node's `clearTimeout`).
    pub(crate) fn cancel(&self, t: TimerKey) {
        let mut entries = self.entries.borrow_mut();
        let Some(e) = entries.get(t.key) else { return };
        if e.generation != t.generation {
            return;
        }
        if e.armed && e.reffed {
            self.add_ref(-1);
        }
        // The heap node goes stale and is skipped when it surfaces.
        entries.remove(t.key);
    }

    /// Restart the timer's countdown from `now` (Node's `refresh()`); re-arms
    /// a timer that already fired if its callback can run again.
    pub(crate) fn refresh(&self, t: TimerKey, now: Instant) {
        let mut entries = self.entries.borrow_mut();
        let Some(e) = entries.get_mut(t.key) else {
            return;
        };
        if e.generation != t.generation {
            return;
        }
        e.deadline = now + e.duration;
        e.seq = self.next_seq();
        let key = (e.deadline, e.seq);
        if !e.armed {
            e.armed = true;
            e.node = key;
            self.heap.borrow_mut().push(Reverse((key.0, key.1, t.key)));
            if e.reffed {
                self.add_ref(1);
            }
        } else if key < e.node {
            // Earlier than the live node (a `reset` to a shorter duration):
            // that node would fire late, so push a new one now.
            e.node = key;
            self.heap.borrow_mut().push(Reverse((key.0, key.1, t.key)));
        }
        // Otherwise the live node is earlier and is re-pushed at the new
        // key when it surfaces: a refresh stays O(1).
    }

    /// Change the duration and restart from `now`.
    pub(crate) fn reset(&self, t: TimerKey, now: Instant, duration: Duration) {
        if let Some(e) = self.entries.borrow_mut().get_mut(t.key) {
            if e.generation == t.generation {
                e.duration = duration;
            }
        }
        self.refresh(t, now);
    }

    pub(crate) fn set_ref(&self, t: TimerKey, reffed: bool) {
        let mut entries = self.entries.borrow_mut();
        let Some(e) = entries.get_mut(t.key) else {
            return;
        };
        if e.generation != t.generation || e.reffed == reffed {
            return;
        }
        e.reffed = reffed;
        if e.armed {
            self.add_ref(if reffed { 1 } else { -1 });
        }
    }

    pub(crate) fn has_ref(&self, t: TimerKey) -> bool {
        let entries = self.entries.borrow();
        match entries.get(t.key) {
            Some(e) if e.generation == t.generation => e.reffed,
            _ => false,
        }
    }

    /// True while the timer is scheduled to fire.
    pub(crate) fn is_armed(&self, t: TimerKey) -> bool {
        let entries = self.entries.borrow();
        matches!(entries.get(t.key), Some(e) if e.generation == t.generation && e.armed)
    }

    /// The earliest deadline among armed timers (ref'd or not).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.borrow().peek().map(|Reverse((d, _, _))| *d)
    }

    /// The next due timer's callback, ready to call; `None` when nothing is
    /// due at `now`.
    pub(crate) fn pop_due(&self, now: Instant) -> Option<Box<dyn FnOnce() + '_>> {
        loop {
            let Reverse((deadline, seq, key)) = {
                let mut heap = self.heap.borrow_mut();
                match heap.peek() {
                    Some(Reverse((d, _, _))) if *d <= now => {}
                    _ => return None,
                }
                heap.pop()?
            };
            let mut entries = self.entries.borrow_mut();
            let Some(e) = entries.get_mut(key) else {
                continue; // cancelled
            };
            if e.node != (deadline, seq) || !e.armed {
                continue; // a stale node
            }
            if (e.deadline, e.seq) != e.node {
                // Refreshed since this node was pushed (always to a later
                // key): push it again.
                e.node = (e.deadline, e.seq);
                self.heap
                    .borrow_mut()
                    .push(Reverse((e.deadline, e.seq, key)));
                continue;
            }
            let t = TimerKey {
                key,
                generation: e.generation,
            };
            if e.repeat {
                // Node reschedules an interval from the time it ran.
                e.deadline = now + e.duration.max(Duration::from_millis(1));
                e.seq = self.next_seq();
                e.node = (e.deadline, e.seq);
                self.heap
                    .borrow_mut()
                    .push(Reverse((e.deadline, e.seq, key)));
            } else {
                e.armed = false;
                if e.reffed {
                    self.add_ref(-1);
                }
            }
            match e.cb.take() {
                Some(TimerCb::Once(f)) => {
                    entries.remove(key);
                    return Some(f);
                }
                Some(TimerCb::Many(mut f)) => {
                    drop(entries);
                    return Some(Box::new(move || {
                        f();
                        // Put the callback back unless the timer was
                        // cancelled (or its slot reused) while it ran.
                        let mut entries = self.entries.borrow_mut();
                        if let Some(e) = entries.get_mut(t.key) {
                            if e.generation == t.generation && e.cb.is_none() {
                                e.cb = Some(TimerCb::Many(f));
                            }
                        }
                    }));
                }
                None => continue,
            }
        }
    }

    // ----- immediates (the check phase) ------------------------------------

    pub(crate) fn insert_immediate(&self, f: Box<dyn FnOnce()>) -> TimerKey {
        let generation = self.next_generation();
        let key = self.immediates.borrow_mut().insert(Immediate {
            generation,
            reffed: true,
            cb: Some(f),
        });
        let t = TimerKey { key, generation };
        self.immediate_queue.borrow_mut().push_back(t);
        self.add_ref(1);
        t
    }

    pub(crate) fn has_immediates(&self) -> bool {
        !self.immediate_queue.borrow().is_empty()
    }

    /// The immediates queued before this check phase; ones queued while
    /// they run wait for the next iteration (Node's rule).
    pub(crate) fn take_immediates(&self) -> VecDeque<TimerKey> {
        std::mem::take(&mut *self.immediate_queue.borrow_mut())
    }

    /// The callback of a queued immediate, unless it was cleared.
    pub(crate) fn start_immediate(&self, t: TimerKey) -> Option<Box<dyn FnOnce()>> {
        let mut imms = self.immediates.borrow_mut();
        let live = matches!(imms.get(t.key), Some(i) if i.generation == t.generation);
        if !live {
            return None;
        }
        let imm = imms.remove(t.key);
        if imm.reffed {
            self.add_ref(-1);
        }
        imm.cb
    }

    pub(crate) fn cancel_immediate(&self, t: TimerKey) {
        let mut imms = self.immediates.borrow_mut();
        let live = matches!(imms.get(t.key), Some(i) if i.generation == t.generation);
        if live {
            let imm = imms.remove(t.key);
            if imm.reffed {
                self.add_ref(-1);
            }
        }
    }

    pub(crate) fn set_immediate_ref(&self, t: TimerKey, reffed: bool) {
        let mut imms = self.immediates.borrow_mut();
        if let Some(i) = imms.get_mut(t.key) {
            if i.generation == t.generation && i.reffed != reffed {
                i.reffed = reffed;
                self.add_ref(if reffed { 1 } else { -1 });
            }
        }
    }

    pub(crate) fn immediate_live(&self, t: TimerKey) -> bool {
        let imms = self.immediates.borrow();
        matches!(imms.get(t.key), Some(i) if i.generation == t.generation)
    }

    pub(crate) fn immediate_has_ref(&self, t: TimerKey) -> bool {
        let imms = self.immediates.borrow();
        matches!(imms.get(t.key), Some(i) if i.generation == t.generation && i.reffed)
    }

    /// Drop every timer and immediate (loop teardown).
    pub(crate) fn clear(&self) {
        let entries = std::mem::take(&mut *self.entries.borrow_mut());
        let imms = std::mem::take(&mut *self.immediates.borrow_mut());
        self.heap.borrow_mut().clear();
        self.immediate_queue.borrow_mut().clear();
        self.refs.set(0);
        drop(entries);
        drop(imms);
    }
}
