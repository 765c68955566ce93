//! Typed events: Node's `EventEmitter`, with event names as typed keys.
//!
//! An [`Event<A>`] is a name plus the type of the payload its listeners
//! receive. [`Server`](crate::net::Server) and [`Socket`](crate::net::Socket)
//! define their events as associated consts (`Socket::DATA`,
//! `Server::CONNECTION`), and any other name works for user events:
//!
//! | Node | netloop |
//! | --- | --- |
//! | `emitter.on(name, fn)`, `addListener` | `on(EVENT, f) -> ListenerId` |
//! | `emitter.once(name, fn)` | `once(EVENT, f)` |
//! | `prependListener`, `prependOnceListener` | `prepend_listener`, `prepend_once_listener` |
//! | `emitter.off(name, fn)`, `removeListener` | `off(id) -> bool` |
//! | `removeAllListeners([name])` | `remove_all_listeners(Option<&str>)` |
//! | `listenerCount(name)`, `eventNames()` | `listener_count(name)`, `event_names()` |
//! | `emitter.emit(name, arg)` | `emit(EVENT, &arg) -> bool` |
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use netloop::events::Event;
//! use netloop::net::Socket;
//!
//! const GREETING: Event<str> = Event::new("greeting");
//!
//! let log = Rc::new(RefCell::new(Vec::new()));
//! let events = Rc::clone(&log);
//! netloop::run(move || {
//!     let s = Socket::new();
//!     let l = Rc::clone(&events);
//!     let id = s.on(GREETING, move |_sock, text| l.borrow_mut().push(format!("on: {text}")));
//!     let l = Rc::clone(&events);
//!     s.once(GREETING, move |_, text| l.borrow_mut().push(format!("once: {text}")));
//!     let l = Rc::clone(&events);
//!     s.prepend_listener(GREETING, move |_, text| l.borrow_mut().push(format!("first: {text}")));
//!     assert_eq!(s.listener_count("greeting"), 3);
//!     assert_eq!(s.event_names(), ["greeting"]);
//!
//!     assert!(s.emit(GREETING, "hello")); // all three, the prepended one first
//!     assert!(s.off(id));
//!     assert!(!s.off(id)); // already removed
//!     assert!(s.emit(GREETING, "again")); // `once` is gone too
//!     s.remove_all_listeners(Some("greeting"));
//!     assert!(!s.emit(GREETING, "anyone?")); // no listeners: false
//!     Ok(())
//! })
//! .expect("the loop ran");
//! assert_eq!(
//!     *log.borrow(),
//!     ["first: hello", "on: hello", "once: hello", "first: again"]
//! );
//! ```
//!
//! Listeners receive the emitter first (JavaScript's `this`), so a listener
//! never has to capture its own handle. As in Node, an emit calls the
//! listeners registered when it started, in order; a listener may add or
//! remove listeners, or destroy the emitter, while it runs. A listener
//! registered for a name with a different payload type is not called. An
//! `error` emitted with no listener ends [`run`](crate::run): the built-in
//! error events with their error, a user `emit` with
//! `ERR_UNHANDLED_ERROR`, as Node throws.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;

/// A typed event key: a name and the payload type `A` (Node: an event
/// name string, here with the type of its argument). `Copy`, and cheap to
/// define as a `const`.
pub struct Event<A: ?Sized + 'static> {
    name: &'static str,
    _payload: PhantomData<fn(&A)>,
}

impl<A: ?Sized> Event<A> {
    /// An event named `name` whose listeners receive `&A` (Node: the name
    /// string given to `on` and `emit`; here it carries the payload type
    /// too, so a listener and an emit cannot disagree about it).
    pub const fn new(name: &'static str) -> Self {
        Event {
            name,
            _payload: PhantomData,
        }
    }

    /// The event's name, as Node spells it (`"data"`, `"close"`).
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl<A: ?Sized> Clone for Event<A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A: ?Sized> Copy for Event<A> {}

impl<A: ?Sized> fmt::Debug for Event<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Event({:?})", self.name)
    }
}

/// Identifies one registered listener, for [`off`](crate::net::Socket::off)
/// (Node removes a listener by its function; Rust closures have no
/// identity to compare, so `on` returns this id instead).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

type ListenerFn<T, A> = Box<dyn FnMut(&T, &A)>;

/// One listener: its closure and its once-state, in a single allocation
/// shared by the table and by any emit in progress. Stored type-erased
/// (`Rc<dyn Any>`); an emit downcasts it to its own `<T, A>`.
///
/// The closure sits in a `Cell<Option<..>>` and is taken out while it
/// runs (a `RefCell` would add a borrow flag to every listener): a nested
/// emit that reaches the same listener finds it empty and skips it.
struct ListenerCell<T: 'static, A: ?Sized + 'static> {
    once: bool,
    fired: Cell<bool>,
    f: Cell<Option<ListenerFn<T, A>>>,
}

/// Puts a listener's closure back into its cell when the call ends, also
/// if the closure panicked.
struct PutBack<'a, T: 'static, A: ?Sized + 'static> {
    cell: &'a ListenerCell<T, A>,
    f: Option<ListenerFn<T, A>>,
}

impl<T: 'static, A: ?Sized + 'static> Drop for PutBack<'_, T, A> {
    fn drop(&mut self) {
        self.cell.f.set(self.f.take());
    }
}

/// Listeners an emit snapshots without allocating.
const INLINE_LISTENERS: usize = 4;

struct Slot {
    id: u64,
    name: &'static str,
    cell: Rc<dyn Any>,
}

/// The listener table of one emitter. Stored inline in each Server and
/// Socket: a short vector, no hash map per emitter.
#[derive(Default)]
pub(crate) struct Listeners {
    slots: RefCell<Vec<Slot>>,
    /// Names with listeners, in the order each first got one (Node's
    /// `eventNames()` lists the keys of its `_events` object in insertion
    /// order, so prepending a listener does not move its name first).
    names: RefCell<Vec<&'static str>>,
    next_id: Cell<u64>,
}

impl Listeners {
    pub(crate) fn add<T: 'static, A: ?Sized + 'static>(
        &self,
        ev: Event<A>,
        once: bool,
        prepend: bool,
        f: impl FnMut(&T, &A) + 'static,
    ) -> ListenerId {
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        let boxed: ListenerFn<T, A> = Box::new(f);
        let slot = Slot {
            id,
            name: ev.name,
            cell: Rc::new(ListenerCell {
                once,
                fired: Cell::new(false),
                f: Cell::new(Some(boxed)),
            }),
        };
        let mut slots = self.slots.borrow_mut();
        if prepend {
            slots.insert(0, slot);
        } else {
            slots.push(slot);
        }
        let mut names = self.names.borrow_mut();
        if !names.contains(&ev.name) {
            names.push(ev.name);
        }
        ListenerId(id)
    }

    pub(crate) fn remove(&self, id: ListenerId) -> bool {
        let removed = {
            let mut slots = self.slots.borrow_mut();
            let Some(i) = slots.iter().position(|s| s.id == id.0) else {
                return false;
            };
            let slot = slots.remove(i);
            if !slots.iter().any(|s| s.name == slot.name) {
                self.names.borrow_mut().retain(|n| *n != slot.name);
            }
            slot
        };
        // Dropped after the borrow ends, as in `remove_all`.
        drop(removed);
        true
    }

    pub(crate) fn remove_all(&self, name: Option<&str>) {
        let removed: Vec<Slot> = {
            let mut slots = self.slots.borrow_mut();
            match name {
                None => self.names.borrow_mut().clear(),
                Some(n) => self.names.borrow_mut().retain(|x| *x != n),
            }
            match name {
                None => std::mem::take(&mut *slots),
                Some(n) => {
                    let (gone, kept) = std::mem::take(&mut *slots)
                        .into_iter()
                        .partition(|s| s.name == n);
                    *slots = kept;
                    gone
                }
            }
        };
        // Closures are dropped after the borrow ends: a closure's drop may
        // touch this emitter.
        drop(removed);
    }

    pub(crate) fn count(&self, name: &str) -> usize {
        self.slots
            .borrow()
            .iter()
            .filter(|s| s.name == name)
            .count()
    }

    pub(crate) fn names(&self) -> Vec<&'static str> {
        self.names.borrow().clone()
    }

    /// Call the listeners for `ev` registered when the emit starts. Returns
    /// whether there were any.
    pub(crate) fn emit<T: 'static, A: ?Sized + 'static>(
        &self,
        this: &T,
        ev: Event<A>,
        arg: &A,
    ) -> bool {
        // The listeners registered when the emit starts (Node copies its
        // listener array): up to four are held on the stack, so an emit
        // allocates nothing unless an event has more listeners than that.
        let (mut inline, overflow) = {
            let slots = self.slots.borrow();
            let mut matching = slots.iter().filter(|s| s.name == ev.name);
            let Some(first) = matching.next() else {
                return false;
            };
            let mut inline: [Option<(u64, Rc<dyn Any>)>; INLINE_LISTENERS] = Default::default();
            let mut overflow: Vec<(u64, Rc<dyn Any>)> = Vec::new();
            inline[0] = Some((first.id, Rc::clone(&first.cell)));
            for (i, s) in matching.enumerate() {
                let entry = (s.id, Rc::clone(&s.cell));
                match inline.get_mut(i + 1) {
                    Some(slot) => *slot = Some(entry),
                    None => overflow.push(entry),
                }
            }
            (inline, overflow)
        };
        for entry in inline.iter_mut().map_while(Option::take) {
            self.call::<T, A>(this, entry, arg);
        }
        for entry in overflow {
            self.call::<T, A>(this, entry, arg);
        }
        true
    }

    fn call<T: 'static, A: ?Sized + 'static>(
        &self,
        this: &T,
        (id, cell): (u64, Rc<dyn Any>),
        arg: &A,
    ) {
        // A listener registered for this name with another payload type is
        // not called.
        let Some(cell) = cell.downcast_ref::<ListenerCell<T, A>>() else {
            return;
        };
        if cell.once {
            if cell.fired.replace(true) {
                return;
            }
            self.remove(ListenerId(id));
        }
        let mut call = PutBack {
            cell,
            f: cell.f.take(),
        };
        match call.f.as_mut() {
            Some(f) => f(this, arg),
            None => {
                tracing::warn!(
                    target: "netloop",
                    "a listener emitted its own event recursively; the nested call was skipped"
                );
            }
        }
    }
}

/// Defines Node's `EventEmitter` methods on an emitter type that has a
/// `fn listeners(&self) -> &Listeners` and an `fn on_listener_added(&self,
/// name)` hook.
macro_rules! impl_emitter {
    ($ty:ident) => {
        impl $ty {
            /// Add a listener, called on every emit of `ev` with the emitter
            /// and the payload (Node: `emitter.on(name, fn)`). Returns the id
            /// to [`off`](Self::off) it with. See the
            /// [`events`](crate::events) module for an example.
            pub fn on<A: ?Sized + 'static>(
                &self,
                ev: $crate::events::Event<A>,
                f: impl FnMut(&$ty, &A) + 'static,
            ) -> $crate::events::ListenerId {
                let id = self.listeners().add::<$ty, A>(ev, false, false, f);
                self.on_listener_added(ev.name());
                id
            }

            /// Add a listener that runs at most once, then removes itself
            /// (Node: `emitter.once(name, fn)`).
            pub fn once<A: ?Sized + 'static>(
                &self,
                ev: $crate::events::Event<A>,
                f: impl FnMut(&$ty, &A) + 'static,
            ) -> $crate::events::ListenerId {
                let id = self.listeners().add::<$ty, A>(ev, true, false, f);
                self.on_listener_added(ev.name());
                id
            }

            /// Add a listener that runs before those already added (Node:
            /// `emitter.prependListener(name, fn)`).
            pub fn prepend_listener<A: ?Sized + 'static>(
                &self,
                ev: $crate::events::Event<A>,
                f: impl FnMut(&$ty, &A) + 'static,
            ) -> $crate::events::ListenerId {
                let id = self.listeners().add::<$ty, A>(ev, false, true, f);
                self.on_listener_added(ev.name());
                id
            }

            /// Add a one-time listener before those already added (Node:
            /// `emitter.prependOnceListener(name, fn)`).
            pub fn prepend_once_listener<A: ?Sized + 'static>(
                &self,
                ev: $crate::events::Event<A>,
                f: impl FnMut(&$ty, &A) + 'static,
            ) -> $crate::events::ListenerId {
                let id = self.listeners().add::<$ty, A>(ev, true, true, f);
                self.on_listener_added(ev.name());
                id
            }

            /// Remove one listener; false if it was already gone (Node:
            /// `emitter.off(name, fn)`). Removing a listener during an emit
            /// does not stop that emit from calling it, as in Node.
            pub fn off(&self, id: $crate::events::ListenerId) -> bool {
                self.listeners().remove(id)
            }

            /// Remove every listener, or every listener of one event (Node:
            /// `emitter.removeAllListeners([name])`).
            pub fn remove_all_listeners(&self, name: Option<&str>) -> &Self {
                self.listeners().remove_all(name);
                self
            }

            /// How many listeners an event has (Node:
            /// `emitter.listenerCount(name)`).
            pub fn listener_count(&self, name: &str) -> usize {
                self.listeners().count(name)
            }

            /// The names of events with listeners, in the order each first
            /// got one (Node: `emitter.eventNames()`).
            pub fn event_names(&self) -> Vec<&'static str> {
                self.listeners().names()
            }

            /// Call the listeners of `ev` with `arg`, synchronously and in
            /// order; true if there were any (Node: `emitter.emit(name,
            /// arg)`). Any name works, built-in or not. An `error` event with
            /// no listener stops [`run`](crate::run) with
            /// `ERR_UNHANDLED_ERROR` (the built-in error events stop it with
            /// the error itself).
            pub fn emit<A: ?Sized + 'static>(&self, ev: $crate::events::Event<A>, arg: &A) -> bool {
                let had = self.listeners().emit::<$ty, A>(self, ev, arg);
                if !had && ev.name() == "error" {
                    self.lp().fail($crate::error::Error::new(
                        $crate::error::ErrorCode::ERR_UNHANDLED_ERROR,
                        "Unhandled error. ('error' event emitted with no listener)",
                    ));
                }
                had
            }

            /// Emit an `error`: with no listener, the error stops the loop
            /// (Node's uncaught exception).
            pub(crate) fn emit_error(&self, err: &$crate::error::Error) {
                let had = self
                    .listeners()
                    .emit::<$ty, $crate::error::Error>(self, $ty::ERROR, err);
                if !had {
                    self.lp().fail(err.clone());
                }
            }
        }
    };
}

pub(crate) use impl_emitter;

#[cfg(test)]
mod tests {
    use super::*;

    struct Thing;

    #[test]
    fn once_runs_once_and_order_is_kept() {
        let l = Listeners::default();
        let log = Rc::new(RefCell::new(Vec::new()));
        let ev: Event<u32> = Event::new("x");
        let a = Rc::clone(&log);
        l.add::<Thing, u32>(ev, false, false, move |_, v| a.borrow_mut().push(("a", *v)));
        let b = Rc::clone(&log);
        l.add::<Thing, u32>(ev, true, false, move |_, v| b.borrow_mut().push(("b", *v)));
        let c = Rc::clone(&log);
        l.add::<Thing, u32>(ev, false, true, move |_, v| c.borrow_mut().push(("c", *v)));
        assert!(l.emit(&Thing, ev, &1));
        assert!(l.emit(&Thing, ev, &2));
        assert_eq!(
            *log.borrow(),
            vec![("c", 1), ("a", 1), ("b", 1), ("c", 2), ("a", 2)]
        );
        assert_eq!(l.count("x"), 2);
        l.remove_all(Some("x"));
        assert!(!l.emit(&Thing, ev, &3));
    }

    #[test]
    fn wrong_payload_type_is_not_called() {
        let l = Listeners::default();
        let hits = Rc::new(Cell::new(0));
        let h = Rc::clone(&hits);
        l.add::<Thing, u32>(Event::new("x"), false, false, move |_, _| {
            h.set(h.get() + 1)
        });
        let other: Event<str> = Event::new("x");
        l.emit(&Thing, other, "hi");
        assert_eq!(hits.get(), 0);
    }
}
