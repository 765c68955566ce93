//! Timers and immediates.
//!
//! Timeouts are kept as Node keeps them (`lib/internal/timers.js`): one
//! list per duration, in the order the timers were (re)scheduled, and a
//! small binary heap holding one node per list, keyed by the `(deadline,
//! sequence)` of the list's first timer. Timers of one duration are
//! scheduled against a clock that never goes back, so each list is
//! already sorted by deadline: scheduling appends at the tail and firing
//! takes the head, both O(1), and the heap only orders the lists (a few
//! dozen durations, not a million timers: it stays in cache). Across lists
//! the heap pops the smallest `(deadline, sequence)`, so every timer fires
//! in the same order as with one global heap: equal deadlines run in the
//! order they were scheduled.
//!
//! Refreshing a timer (Node's `timeout.refresh()`, and every read or write
//! on a socket with an idle timeout) is O(1): it unlinks the timer and
//! appends it to its list's tail with a new sequence number, as Node
//! does. The list's heap node is left alone: it can only be earlier than
//! the list's real head, and when it surfaces it is pushed again at the
//! head's key (one heap operation per expiry period, not per refresh).

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

/// The longest delay a timer keeps: about 136 years. A longer one
/// (`Duration::MAX`) saturates to it, so a deadline never overflows
/// `Instant` and the timer simply never fires in practice. Node instead
/// fires an oversized `setTimeout` after 1 ms (with a warning) and
/// truncates an oversized `socket.setTimeout` to about 24.8 days.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(1 << 32);

use slab::Slab;

/// A timer's callback: a one-shot, or one that can run many times
/// (intervals, and timeouts that `refresh()` re-arms after they fired).
pub(crate) enum TimerCb {
    Once(Box<dyn FnOnce()>),
    Many(Box<dyn FnMut()>),
}

/// "No entry" in the intrusive list links.
const NIL: usize = usize::MAX;

struct Entry {
    generation: u64,
    deadline: Instant,
    duration: Duration,
    repeat: bool,
    /// Linked into its duration's list, due to fire.
    armed: bool,
    reffed: bool,
    /// Order among equal deadlines. Every (re)schedule takes a new number,
    /// as Node appends a refreshed timer to the end of its list: after
    /// `a.refresh()`, a timer `b` already due at the same time runs first.
    seq: u64,
    /// The list this entry is linked into while armed, and its neighbours.
    list: usize,
    prev: usize,
    next: usize,
    cb: Option<TimerCb>,
}

/// The armed timers of one duration, oldest first.
struct List {
    duration: Duration,
    head: usize,
    tail: usize,
    /// The key of this list's one live heap node; never later than the
    /// head's key. `None`: no node in the heap.
    node: Option<(Instant, u64)>,
}

/// A multiplicative hash for the `Duration` keys of the list map: every
/// timer insert looks its duration up, and SipHash (the default, built to
/// resist hostile keys) would cost more than the rest of the insert. A
/// program picks its own timer durations, so there is no adversary here.
#[derive(Default)]
struct DurationHasher(u64);

impl Hasher for DurationHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing: the high bits of the product, which hashbrown
        // uses, depend on every bit of the input.
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
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

/// The timeouts: entries, their per-duration lists, and the heap of lists.
#[derive(Default)]
struct Timeouts {
    entries: Slab<Entry>,
    lists: Slab<List>,
    by_duration: HashMap<Duration, usize, BuildHasherDefault<DurationHasher>>,
    heap: BinaryHeap<Reverse<(Instant, u64, usize)>>,
}

impl Timeouts {
    /// Append an entry to the tail of its duration's list.
    fn link(&mut self, key: usize) {
        let duration = self.entries[key].duration;
        let lists = &mut self.lists;
        let lk = *self.by_duration.entry(duration).or_insert_with(|| {
            lists.insert(List {
                duration,
                head: NIL,
                tail: NIL,
                node: None,
            })
        });
        let tail = self.lists[lk].tail;
        {
            let e = &mut self.entries[key];
            e.list = lk;
            e.prev = tail;
            e.next = NIL;
        }
        if tail == NIL {
            self.lists[lk].head = key;
        } else {
            self.entries[tail].next = key;
        }
        let list = &mut self.lists[lk];
        list.tail = key;
        if list.node.is_none() {
            let e = &self.entries[key];
            list.node = Some((e.deadline, e.seq));
            self.heap.push(Reverse((e.deadline, e.seq, lk)));
        }
    }

    /// Take an entry out of its list. The list's heap node stays: it is
    /// now at most earlier than the list's head, which is allowed.
    fn unlink(&mut self, key: usize) {
        let (lk, prev, next) = {
            let e = &mut self.entries[key];
            let links = (e.list, e.prev, e.next);
            e.prev = NIL;
            e.next = NIL;
            links
        };
        if prev == NIL {
            self.lists[lk].head = next;
        } else {
            self.entries[prev].next = next;
        }
        if next == NIL {
            self.lists[lk].tail = prev;
        } else {
            self.entries[next].prev = prev;
        }
    }

    /// Give a list whose heap node just left the heap a node at its head's
    /// key, or forget the list if it is empty.
    fn requeue(&mut self, lk: usize) {
        let head = self.lists[lk].head;
        if head == NIL {
            let list = self.lists.remove(lk);
            self.by_duration.remove(&list.duration);
            return;
        }
        let e = &self.entries[head];
        let key = (e.deadline, e.seq);
        self.lists[lk].node = Some(key);
        self.heap.push(Reverse((key.0, key.1, lk)));
    }
}

/// All of one loop's timers and immediates.
pub(crate) struct TimerWheel {
    timeouts: RefCell<Timeouts>,
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
            timeouts: RefCell::new(Timeouts::default()),
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

    /// Schedule a timer `duration` after `now` (at most [`MAX_DELAY`]).
    pub(crate) fn insert(
        &self,
        now: Instant,
        duration: Duration,
        repeat: bool,
        cb: TimerCb,
    ) -> TimerKey {
        let duration = duration.min(MAX_DELAY);
        let generation = self.next_generation();
        let seq = self.next_seq();
        let mut t = self.timeouts.borrow_mut();
        let key = t.entries.insert(Entry {
            generation,
            deadline: now + duration,
            duration,
            repeat,
            armed: true,
            reffed: true,
            seq,
            list: NIL,
            prev: NIL,
            next: NIL,
            cb: Some(cb),
        });
        t.link(key);
        self.add_ref(1);
        TimerKey { key, generation }
    }

    /// Disarm a timer and forget its callback (Node's `clearTimeout`).
    pub(crate) fn cancel(&self, tk: TimerKey) {
        let mut t = self.timeouts.borrow_mut();
        let Some(e) = t.entries.get(tk.key) else {
            return;
        };
        if e.generation != tk.generation {
            return;
        }
        if e.armed {
            if e.reffed {
                self.add_ref(-1);
            }
            t.unlink(tk.key);
        }
        let removed = t.entries.remove(tk.key);
        // The callback may own handles whose drop touches the loop.
        drop(t);
        drop(removed);
    }

    /// Restart the timer's countdown from `now` (Node's `refresh()`); re-arms
    /// a timer that already fired if its callback can run again.
    pub(crate) fn refresh(&self, tk: TimerKey, now: Instant) {
        self.reschedule(tk, now, None);
    }

    /// Change the duration and restart from `now`.
    pub(crate) fn reset(&self, tk: TimerKey, now: Instant, duration: Duration) {
        let duration = duration.min(MAX_DELAY);
        self.reschedule(tk, now, Some(duration));
    }

    fn reschedule(&self, tk: TimerKey, now: Instant, duration: Option<Duration>) {
        let seq = self.next_seq();
        let mut t = self.timeouts.borrow_mut();
        let Some(e) = t.entries.get_mut(tk.key) else {
            return;
        };
        if e.generation != tk.generation {
            return;
        }
        let same_list = duration.is_none_or(|d| d == e.duration);
        let was_armed = e.armed;
        let reffed = e.reffed;
        let at_tail = e.next == NIL;
        if was_armed && same_list && at_tail {
            // Already last in its list: the new key is the largest there.
            e.deadline = now + e.duration;
            e.seq = seq;
            return;
        }
        if was_armed {
            t.unlink(tk.key);
        }
        let e = &mut t.entries[tk.key];
        if let Some(d) = duration {
            e.duration = d;
        }
        e.deadline = now + e.duration;
        e.seq = seq;
        e.armed = true;
        t.link(tk.key);
        if !was_armed && reffed {
            self.add_ref(1);
        }
    }

    pub(crate) fn set_ref(&self, tk: TimerKey, reffed: bool) {
        let mut t = self.timeouts.borrow_mut();
        let Some(e) = t.entries.get_mut(tk.key) else {
            return;
        };
        if e.generation != tk.generation || e.reffed == reffed {
            return;
        }
        e.reffed = reffed;
        if e.armed {
            self.add_ref(if reffed { 1 } else { -1 });
        }
    }

    pub(crate) fn has_ref(&self, tk: TimerKey) -> bool {
        let t = self.timeouts.borrow();
        match t.entries.get(tk.key) {
            Some(e) if e.generation == tk.generation => e.reffed,
            _ => false,
        }
    }

    /// True while the timer is scheduled to fire.
    pub(crate) fn is_armed(&self, tk: TimerKey) -> bool {
        let t = self.timeouts.borrow();
        matches!(t.entries.get(tk.key), Some(e) if e.generation == tk.generation && e.armed)
    }

    /// The earliest deadline among armed timers (ref'd or not), or a little
    /// earlier: a list's heap node may predate a refresh or a cancel, and
    /// the loop then wakes once to find nothing due yet.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timeouts
            .borrow()
            .heap
            .peek()
            .map(|Reverse((d, _, _))| *d)
    }

    /// The next due timer's callback, ready to call; `None` when nothing is
    /// due at `now`.
    pub(crate) fn pop_due(&self, now: Instant) -> Option<Box<dyn FnOnce() + '_>> {
        let mut guard = self.timeouts.borrow_mut();
        let t = &mut *guard;
        loop {
            let Reverse((deadline, seq, lk)) = match t.heap.peek() {
                Some(Reverse((d, _, _))) if *d <= now => t.heap.pop()?,
                _ => return None,
            };
            let Some(list) = t.lists.get(lk) else {
                continue;
            };
            if list.node != Some((deadline, seq)) {
                continue; // a node for an earlier list in this slot
            }
            let head = list.head;
            if head == NIL || {
                let e = &t.entries[head];
                (e.deadline, e.seq) != (deadline, seq)
            } {
                // The head was refreshed or cancelled since this node was
                // pushed: queue the list again at its real head (or drop it).
                t.lists[lk].node = None;
                t.requeue(lk);
                continue;
            }
            t.unlink(head);
            t.lists[lk].node = None;
            t.requeue(lk);
            let e = &mut t.entries[head];
            let tk = TimerKey {
                key: head,
                generation: e.generation,
            };
            if e.repeat {
                // Node reschedules an interval from the time it ran.
                e.deadline = now + e.duration.max(Duration::from_millis(1));
                e.seq = self.next_seq();
                t.link(head);
            } else {
                e.armed = false;
                if e.reffed {
                    self.add_ref(-1);
                }
            }
            let e = &mut t.entries[head];
            match e.cb.take() {
                Some(TimerCb::Once(f)) => {
                    t.entries.remove(head);
                    return Some(f);
                }
                Some(TimerCb::Many(mut f)) => {
                    drop(guard);
                    return Some(Box::new(move || {
                        f();
                        // Put the callback back unless the timer was
                        // cancelled (or its slot reused) while it ran.
                        let unwanted = {
                            let mut t = self.timeouts.borrow_mut();
                            match t.entries.get_mut(tk.key) {
                                Some(e) if e.generation == tk.generation && e.cb.is_none() => {
                                    e.cb = Some(TimerCb::Many(f));
                                    None
                                }
                                _ => Some(f),
                            }
                        };
                        // A cancelled timer's callback goes only now, after
                        // the borrow: its captures may schedule timers.
                        drop(unwanted);
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
        let removed = {
            let mut imms = self.immediates.borrow_mut();
            let live = matches!(imms.get(t.key), Some(i) if i.generation == t.generation);
            if !live {
                return;
            }
            imms.remove(t.key)
        };
        if removed.reffed {
            self.add_ref(-1);
        }
        // The callback may own handles whose drop touches the loop (sets
        // another immediate): dropped after the borrow ends.
        drop(removed);
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

    /// Drop every timer and immediate (loop teardown); true if there was
    /// any. Callbacks are dropped after every borrow ends, and their drops
    /// may schedule new timers: the loop's teardown calls this again until
    /// it finds nothing.
    pub(crate) fn clear(&self) -> bool {
        let timeouts = std::mem::take(&mut *self.timeouts.borrow_mut());
        let imms = std::mem::take(&mut *self.immediates.borrow_mut());
        let queue = std::mem::take(&mut *self.immediate_queue.borrow_mut());
        self.refs.set(0);
        let found = !timeouts.entries.is_empty() || !imms.is_empty() || !queue.is_empty();
        drop(timeouts);
        drop(imms);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    type Log = Rc<RefCell<Vec<&'static str>>>;

    fn once(log: &Log, name: &'static str) -> TimerCb {
        let log = Rc::clone(log);
        TimerCb::Once(Box::new(move || log.borrow_mut().push(name)))
    }

    fn many(log: &Log, name: &'static str) -> TimerCb {
        let log = Rc::clone(log);
        TimerCb::Many(Box::new(move || log.borrow_mut().push(name)))
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Run everything due at `now`, as the timers phase does.
    fn fire(w: &TimerWheel, now: Instant) {
        while let Some(f) = w.pop_due(now) {
            f();
        }
    }

    #[test]
    fn equal_deadlines_across_durations_fire_in_schedule_order() {
        let (w, log, t0) = (TimerWheel::new(), Log::default(), Instant::now());
        w.insert(t0, ms(20), false, once(&log, "a"));
        w.insert(t0, ms(20), false, once(&log, "c"));
        w.insert(t0 + ms(10), ms(10), false, once(&log, "b"));
        fire(&w, t0 + ms(19));
        assert!(log.borrow().is_empty());
        fire(&w, t0 + ms(20));
        assert_eq!(*log.borrow(), ["a", "c", "b"]);
        assert_eq!(w.ref_count(), 0);
    }

    #[test]
    fn a_shorter_list_fires_first_whatever_the_insert_order() {
        let (w, log, t0) = (TimerWheel::new(), Log::default(), Instant::now());
        w.insert(t0, ms(50), false, once(&log, "long"));
        w.insert(t0, ms(10), false, once(&log, "short"));
        w.insert(t0, ms(30), false, once(&log, "mid"));
        fire(&w, t0 + ms(100));
        assert_eq!(*log.borrow(), ["short", "mid", "long"]);
    }

    #[test]
    fn refresh_moves_a_timer_behind_its_peers() {
        let (w, log, t0) = (TimerWheel::new(), Log::default(), Instant::now());
        let a = w.insert(t0, ms(10), false, once(&log, "a"));
        w.insert(t0, ms(10), false, once(&log, "b"));
        w.refresh(a, t0 + ms(5));
        fire(&w, t0 + ms(10));
        assert_eq!(*log.borrow(), ["b"]);
        assert!(w.is_armed(a));
        fire(&w, t0 + ms(14));
        assert_eq!(*log.borrow(), ["b"]);
        fire(&w, t0 + ms(15));
        assert_eq!(*log.borrow(), ["b", "a"]);
    }

    #[test]
    fn refresh_of_the_only_timer_many_times_fires_once_at_the_last_deadline() {
        let (w, log, t0) = (TimerWheel::new(), Log::default(), Instant::now());
        let a = w.insert(t0, ms(10), false, once(&log, "a"));
        for i in 1..=1000 {
            w.refresh(a, t0 + Duration::from_micros(i));
        }
        fire(&w, t0 + ms(10));
        assert!(log.borrow().is_empty());
        fire(&w, t0 + ms(11));
        assert_eq!(*log.borrow(), ["a"]);
        fire(&w, t0 + ms(100));
        assert_eq!(log.borrow().len(), 1);
    }

    #[test]
    fn reset_to_a_shorter_duration_fires_at_the_new_deadline() {
        let (w, log, t0) = (TimerWheel::new(), Log::default(), Instant::now());
        let a = w.insert(t0, ms(100), false, once(&log, "a"));
        w.insert(t0, ms(20), false, once(&log, "b"));
        w.reset(a, t0, ms(10));
        fire(&w, t0 + ms(10));
        assert_eq!(*log.borrow(), ["a"]);
        fire(&w, t0 + ms(100));
        assert_eq!(*log.borrow(), ["a", "b"]);
    }

    #[test]
    fn cancel_removes_the_head_and_others_still_fire() {
        let (w, log, t0) = (TimerWheel::new(), Log::default(), Instant::now());
        let a = w.insert(t0, ms(10), false, once(&log, "a"));
        w.insert(t0, ms(10), false, once(&log, "b"));
        let c = w.insert(t0, ms(10), false, once(&log, "c"));
        w.insert(t0, ms(10), false, once(&log, "d"));
        w.cancel(a);
        w.cancel(c);
        assert_eq!(w.ref_count(), 2);
        fire(&w, t0 + ms(10));
        assert_eq!(*log.borrow(), ["b", "d"]);
        assert!(!w.is_armed(a));
    }

    #[test]
    fn an_interval_rearms_from_when_it_ran() {
        let (w, log, t0) = (TimerWheel::new(), Log::default(), Instant::now());
        let i = w.insert(t0, ms(10), true, many(&log, "tick"));
        fire(&w, t0 + ms(12));
        assert_eq!(log.borrow().len(), 1);
        fire(&w, t0 + ms(21));
        assert_eq!(log.borrow().len(), 1);
        fire(&w, t0 + ms(22));
        assert_eq!(log.borrow().len(), 2);
        w.cancel(i);
        fire(&w, t0 + ms(100));
        assert_eq!(log.borrow().len(), 2);
        assert_eq!(w.ref_count(), 0);
    }

    #[test]
    fn a_fired_rearmable_timer_refreshes_back_into_its_list() {
        let (w, log, t0) = (TimerWheel::new(), Log::default(), Instant::now());
        let a = w.insert(t0, ms(10), false, many(&log, "idle"));
        fire(&w, t0 + ms(10));
        assert!(!w.is_armed(a));
        assert_eq!(w.ref_count(), 0);
        w.refresh(a, t0 + ms(10));
        assert!(w.is_armed(a));
        assert_eq!(w.ref_count(), 1);
        fire(&w, t0 + ms(20));
        assert_eq!(*log.borrow(), ["idle", "idle"]);
    }

    #[test]
    fn clear_says_whether_it_dropped_anything() {
        let (w, log, t0) = (TimerWheel::new(), Log::default(), Instant::now());
        assert!(!w.clear(), "an empty wheel");
        w.insert(t0, ms(10), false, once(&log, "timeout"));
        assert!(w.clear());
        assert_eq!(w.ref_count(), 0);
        assert!(!w.clear(), "nothing left after a clear");
        let i = w.insert_immediate(Box::new(|| {}));
        w.cancel_immediate(i);
        assert!(w.clear(), "the cancelled immediate's queue entry");
        w.insert_immediate(Box::new(|| {}));
        assert!(w.clear());
        assert!(!w.has_immediates() && w.ref_count() == 0);
        fire(&w, t0 + ms(100));
        assert!(log.borrow().is_empty());
    }

    #[test]
    fn emptied_lists_and_their_heap_nodes_are_dropped() {
        let (w, log, t0) = (TimerWheel::new(), Log::default(), Instant::now());
        for d in 1..=50 {
            w.insert(t0, ms(d), false, once(&log, "t"));
        }
        let c = w.insert(t0, ms(500), false, once(&log, "cancelled"));
        w.cancel(c);
        fire(&w, t0 + ms(1000));
        assert_eq!(log.borrow().len(), 50);
        let t = w.timeouts.borrow();
        assert!(t.entries.is_empty());
        assert!(t.lists.is_empty());
        assert!(t.by_duration.is_empty());
        assert!(t.heap.is_empty());
    }
}
