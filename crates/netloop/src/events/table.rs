//! The listener table of one emitter (Node's `_events`): registration,
//! removal, and the emit with Node's snapshot rule.

use std::any::{type_name, TypeId};
use std::cell::{Cell, RefCell};

use super::entry::*;
use super::{Emitter, Event, ListenerId};

const INLINE_LISTENERS: usize = 4;

/// The listener table of one emitter: one short vector of inline entries,
/// stored in each Server and Socket (no hash map, no per-listener
/// allocation for a closure that captures nothing, no list of names).
///
/// Node's `eventNames()` lists names in the order each first got a
/// listener (since it last had none); prepending orders listeners, not
/// names. The table keeps that order without storing it: the first live
/// entry of each name sits in the order its name was added. `push` adds a
/// new name last; a prepend goes right where its name's first entry is;
/// removing a name's first entry moves its next one into that place.
pub(crate) struct Listeners<T: 'static> {
    pub(super) entries: RefCell<Vec<Entry<T>>>,
    pub(super) next_id: Cell<u64>,
    /// Emits running on this table. While any runs, removed listeners
    /// stay as `REMOVED` entries, for the emits that snapshot them.
    pub(super) emitting: Cell<u32>,
}

impl<T: 'static> Default for Listeners<T> {
    fn default() -> Self {
        Listeners {
            entries: RefCell::new(Vec::new()),
            next_id: Cell::new(0),
            emitting: Cell::new(0),
        }
    }
}

/// Keeps `name`'s place in the name order after its entry at `at` went
/// away (removed, or marked removed): if it was the name's first live
/// entry, the next live one moves to `at`. Listeners of one name keep
/// their order; other names' first entries keep theirs.
fn keep_name_place<T: 'static>(entries: &mut [Entry<T>], at: usize, name: &str) {
    if entries[..at].iter().any(|e| e.listens(name)) {
        return;
    }
    if let Some(j) = entries[at..].iter().position(|e| e.listens(name)) {
        entries[at..=at + j].rotate_right(1);
    }
}

/// Removes the entry at `i` from the table, keeping the name order.
fn detach<T: 'static>(entries: &mut Vec<Entry<T>>, i: usize) -> Entry<T> {
    let entry = entries.remove(i);
    if !entry.removed() {
        keep_name_place(entries, i, entry.name);
    }
    entry
}

/// Marks the live entry at `i` removed, keeping the name order.
fn mark_removed<T: 'static>(entries: &mut [Entry<T>], i: usize) {
    entries[i].body.head_mut().flags |= REMOVED;
    let name = entries[i].name;
    keep_name_place(entries, i, name);
}

impl<T: Emitter> Listeners<T> {
    /// Adds a listener.
    ///
    /// # Panics
    ///
    /// `ERR_INVALID_ARG_TYPE` if `ev` is a built-in event of `T` with
    /// another payload type than `A`.
    #[track_caller]
    pub(crate) fn add<A: ?Sized + 'static>(
        &self,
        ev: Event<A>,
        once: bool,
        prepend: bool,
        f: impl FnMut(&T, &A) + 'static,
    ) -> ListenerId {
        check_payload::<T, A>(ev.name);
        let mut id = (self.next_id.get() + 1) & ID_MASK;
        if id == 0 {
            id = 1;
        }
        self.next_id.set(id);
        let entry = Entry {
            name: ev.name,
            body: Body::new(Head::new(id, once), Callback::new(f)),
        };
        let mut entries = self.entries.borrow_mut();
        let first = match prepend {
            true => entries.iter().position(|e| e.listens(ev.name)),
            false => None,
        };
        match first {
            Some(i) => entries.insert(i, entry),
            None => entries.push(entry),
        }
        ListenerId(id)
    }

    pub(crate) fn remove(&self, id: ListenerId) -> bool {
        let removed = {
            let mut entries = self.entries.borrow_mut();
            let Some(i) = entries.iter().position(|e| e.id() == id.0 && !e.removed()) else {
                return false;
            };
            if self.emitting.get() > 0 {
                // An emit in progress may have it in its snapshot: Node
                // still calls it there.
                mark_removed(&mut entries, i);
                None
            } else {
                Some(detach(&mut entries, i))
            }
        };
        // Dropped after the borrow ends, as in `remove_all`.
        drop(removed);
        true
    }

    pub(crate) fn remove_all(&self, name: Option<&str>) {
        let removed: Vec<Entry<T>> = {
            let mut entries = self.entries.borrow_mut();
            let matches = |e: &Entry<T>| match name {
                Some(n) => e.name == n,
                None => true,
            };
            if self.emitting.get() > 0 {
                for e in entries.iter_mut().filter(|e| matches(e)) {
                    e.body.head_mut().flags |= REMOVED;
                }
                Vec::new()
            } else if name.is_none() {
                std::mem::take(&mut *entries)
            } else {
                let mut gone = Vec::new();
                let mut i = 0;
                while i < entries.len() {
                    if matches(&entries[i]) {
                        gone.push(entries.remove(i));
                    } else {
                        i += 1;
                    }
                }
                gone
            }
        };
        // Closures are dropped after the borrow ends: a closure's drop may
        // touch this emitter.
        drop(removed);
    }

    pub(crate) fn count(&self, name: &str) -> usize {
        self.entries
            .borrow()
            .iter()
            .filter(|e| e.listens(name))
            .count()
    }

    pub(crate) fn names(&self) -> Vec<&'static str> {
        let entries = self.entries.borrow();
        let mut names: Vec<&'static str> = Vec::new();
        for e in entries.iter().filter(|e| !e.removed()) {
            if !names.contains(&e.name) {
                names.push(e.name);
            }
        }
        names
    }

    /// Calls the listeners of `ev` that take an `A`, among those registered
    /// when the emit starts. Returns whether any ran.
    pub(crate) fn emit<A: ?Sized + 'static>(&self, this: &T, ev: Event<A>, arg: &A) -> bool {
        // The listeners registered when the emit starts (Node copies its
        // listener array), by id: up to four are held on the stack, so an
        // emit allocates nothing unless an event has more listeners than
        // that. Ids are never 0.
        let (inline, overflow) = {
            let entries = self.entries.borrow();
            let mut matching = entries
                .iter()
                .filter(|e| e.listens(ev.name) && e.body.accepts::<A>())
                .map(Entry::id);
            let Some(first) = matching.next() else {
                return false;
            };
            let mut inline = [0u64; INLINE_LISTENERS];
            let mut overflow: Vec<u64> = Vec::new();
            inline[0] = first;
            for (i, id) in matching.enumerate() {
                match inline.get_mut(i + 1) {
                    Some(slot) => *slot = id,
                    None => overflow.push(id),
                }
            }
            (inline, overflow)
        };
        let _emitting = Emitting::enter(self);
        let mut ran = false;
        for id in inline.into_iter().take_while(|&id| id != 0).chain(overflow) {
            ran |= self.call(this, id, arg);
        }
        ran
    }

    /// Calls one listener of a snapshot, if it is still there: a `once`
    /// listener that ran meanwhile is gone. Whether it ran.
    fn call<A: ?Sized + 'static>(&self, this: &T, id: u64, arg: &A) -> bool {
        let (f, once) = {
            let mut entries = self.entries.borrow_mut();
            let Some(i) = entries.iter().position(|e| e.id() == id) else {
                return false;
            };
            if entries[i].once() {
                // Node removes a once listener before calling it, so a
                // nested emit does not call it again.
                (detach(&mut entries, i).body.take(), true)
            } else {
                (entries[i].body.take(), false)
            }
        };
        let Some(f) = f else {
            tracing::warn!(
                target: "netloop",
                "a nested emit reached a listener that is still running; that call was skipped"
            );
            return false;
        };
        let mut call = PutBack {
            listeners: self,
            id,
            f: Some(f),
            once,
        };
        match call.f.as_mut() {
            Some(f) => f.call(this, arg),
            None => false,
        }
    }

    /// Drops the entries removed while emits ran, one at a time, each
    /// after the borrow ends (a closure's drop may touch this emitter).
    fn sweep(&self) {
        loop {
            let gone = {
                let mut entries = self.entries.borrow_mut();
                match entries.iter().position(Entry::removed) {
                    Some(i) => entries.remove(i),
                    None => return,
                }
            };
            drop(gone);
        }
    }
}

/// The closure `f` must fit a built-in event's payload type.
#[track_caller]
fn check_payload<T: Emitter, A: ?Sized + 'static>(name: &str) {
    let Some(ev) = T::BUILTIN_EVENTS.iter().find(|b| b.name == name) else {
        return;
    };
    if (ev.payload)() != TypeId::of::<A>() {
        panic!(
            "ERR_INVALID_ARG_TYPE: a listener of the {:?} event of {} must take &{}, not &{}",
            name,
            T::NAME,
            (ev.payload_name)(),
            type_name::<A>(),
        );
    }
}

/// Counts an emit running on a table; when the outermost one ends, also
/// if a listener panicked, the listeners removed meanwhile are dropped.
struct Emitting<'a, T: Emitter> {
    listeners: &'a Listeners<T>,
}

impl<'a, T: Emitter> Emitting<'a, T> {
    fn enter(listeners: &'a Listeners<T>) -> Self {
        listeners.emitting.set(listeners.emitting.get() + 1);
        Emitting { listeners }
    }
}

impl<T: Emitter> Drop for Emitting<'_, T> {
    fn drop(&mut self) {
        let depth = self.listeners.emitting.get() - 1;
        self.listeners.emitting.set(depth);
        if depth == 0 {
            self.listeners.sweep();
        }
    }
}

/// Puts a listener's closure back into its entry when the call ends, also
/// if the closure panicked; a `once` listener's closure is dropped instead.
/// Either way after the table's borrow ends.
struct PutBack<'a, T: Emitter> {
    listeners: &'a Listeners<T>,
    id: u64,
    f: Option<Callback<T>>,
    once: bool,
}

impl<T: Emitter> Drop for PutBack<'_, T> {
    fn drop(&mut self) {
        let Some(f) = self.f.take() else { return };
        let left = if self.once {
            Some(f)
        } else {
            let mut entries = self.listeners.entries.borrow_mut();
            // The entry is still there: removing it during an emit only
            // marks it, and this call runs inside one.
            match entries.iter_mut().find(|e| e.id() == self.id) {
                Some(e) => e.body.put(f),
                None => Some(f),
            }
        };
        drop(left);
    }
}
