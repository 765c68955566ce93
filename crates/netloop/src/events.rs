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
//!     assert!(!s.emit(GREETING, "anyone?")); // no listener ran: false
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
//! remove listeners, or destroy the emitter, while it runs, and a listener
//! removed by an earlier one during an emit is still called by that emit.
//! A listener that emits its own event is not called again by that nested
//! emit (it is still running; Rust closures cannot re-enter themselves).
//!
//! # Payload types
//!
//! Each built-in event has one payload type (`Socket::DATA` is `[u8]`,
//! `Socket::CLOSE` is `bool`, `Server::ERROR` is [`Error`]).
//! A listener for a built-in name with another payload type, say
//! `Event::<Vec<u8>>::new("data")`, could never be called, so adding it is
//! a programming error: `on`, `once`, `prepend_listener` and
//! `prepend_once_listener` panic at once with a message that starts with
//! `ERR_INVALID_ARG_TYPE` (Node throws synchronously for a listener that
//! is not a function). Received bytes therefore always go to listeners
//! that take them, and an error is never swallowed by a listener that
//! cannot see it.
//!
//! ```should_panic
//! use netloop::events::Event;
//! use netloop::net::Socket;
//!
//! netloop::run(|| {
//!     let s = Socket::new();
//!     // Panics: ERR_INVALID_ARG_TYPE, "data" passes &[u8].
//!     s.on(Event::<Vec<u8>>::new("data"), |_, _| {});
//!     Ok(())
//! })
//! .ok();
//! ```
//!
//! A user event name may have listeners of several payload types: an emit
//! calls those of its own type only, and returns whether any of them ran.
//! An `error` emit that no listener took ends [`run`](crate::run): the
//! built-in error events with their error, a user `emit` with
//! `ERR_UNHANDLED_ERROR`, as Node throws.

use std::any::{type_name, Any, TypeId};
use std::cell::{Cell, RefCell};
use std::fmt;
use std::marker::PhantomData;

use crate::error::Error;

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

/// A built-in event of an emitter type: its name and payload type. Each
/// emitter lists its own next to its event consts, with [`builtin`].
#[derive(Clone, Copy)]
pub(crate) struct BuiltinEvent {
    name: &'static str,
    payload: fn() -> TypeId,
    payload_name: fn() -> &'static str,
}

/// The [`BuiltinEvent`] of an event const (`builtin(Socket::DATA)`).
pub(crate) const fn builtin<A: ?Sized + 'static>(ev: Event<A>) -> BuiltinEvent {
    BuiltinEvent {
        name: ev.name,
        payload: TypeId::of::<A>,
        payload_name: type_name::<A>,
    }
}

/// An emitter type: [`impl_emitter!`] implements it from the type's
/// `BUILTIN_EVENTS` table.
pub(crate) trait Emitter: Sized + 'static {
    /// The type's name, for messages (`"Socket"`).
    const NAME: &'static str;
    /// Its built-in events: a listener for one of these names must take
    /// that event's payload type.
    const BUILTIN_EVENTS: &'static [BuiltinEvent];
}

type UnitFn<T> = Box<dyn FnMut(&T, &())>;
type BytesFn<T> = Box<dyn FnMut(&T, &[u8])>;
type BoolFn<T> = Box<dyn FnMut(&T, &bool)>;
type ErrorFn<T> = Box<dyn FnMut(&T, &Error)>;
type AnyFn<T, A> = Box<dyn FnMut(&T, &A)>;

/// A listener's closure, typed by its payload shape: the built-in payloads
/// as their own boxes (a closure that captures nothing is a zero-sized box:
/// no allocation), any other payload `A` as a `Box<dyn Any>` holding an
/// `Option<AnyFn<T, A>>` (always `Some`; the `Option` lets [`Callback::new`]
/// move the closure out of a downcast without a fallible unwrap).
enum Callback<T: 'static> {
    Unit(UnitFn<T>),
    Bytes(BytesFn<T>),
    Bool(BoolFn<T>),
    Error(ErrorFn<T>),
    Other(Box<dyn Any>),
}

/// Moves the value out of `slot` as a `Y`, if `X` is `Y`.
fn take_as<X: 'static, Y: 'static>(slot: &mut Option<X>) -> Option<Y> {
    let slot: &mut dyn Any = slot;
    slot.downcast_mut::<Option<Y>>().and_then(Option::take)
}

/// Calls a listener of payload `B` with an `A`, if `A` is `B`.
fn call_as<T: 'static, B: ?Sized + 'static, A: ?Sized + 'static>(
    f: &mut AnyFn<T, B>,
    this: &T,
    arg: &A,
) -> bool {
    let f: &mut dyn Any = f;
    match f.downcast_mut::<AnyFn<T, A>>() {
        Some(f) => {
            f(this, arg);
            true
        }
        None => false,
    }
}

impl<T: 'static> Callback<T> {
    fn new<A: ?Sized + 'static>(f: impl FnMut(&T, &A) + 'static) -> Self {
        // The payload type is known here only as a type parameter: find
        // the shape by downcasting (no allocation: a `&mut dyn Any` to a
        // local).
        let mut f: Option<AnyFn<T, A>> = Some(Box::new(f));
        if let Some(f) = take_as::<_, UnitFn<T>>(&mut f) {
            return Callback::Unit(f);
        }
        if let Some(f) = take_as::<_, BytesFn<T>>(&mut f) {
            return Callback::Bytes(f);
        }
        if let Some(f) = take_as::<_, BoolFn<T>>(&mut f) {
            return Callback::Bool(f);
        }
        if let Some(f) = take_as::<_, ErrorFn<T>>(&mut f) {
            return Callback::Error(f);
        }
        Callback::Other(Box::new(f))
    }

    /// Calls the closure if it takes an `A`; whether it did.
    fn call<A: ?Sized + 'static>(&mut self, this: &T, arg: &A) -> bool {
        match self {
            Callback::Unit(f) => call_as(f, this, arg),
            Callback::Bytes(f) => call_as(f, this, arg),
            Callback::Bool(f) => call_as(f, this, arg),
            Callback::Error(f) => call_as(f, this, arg),
            Callback::Other(f) => match f.downcast_mut::<Option<AnyFn<T, A>>>() {
                Some(Some(f)) => {
                    f(this, arg);
                    true
                }
                _ => false,
            },
        }
    }
}

/// A listener's id and flags in 7 bytes of alignment 1, so that in each
/// variant of [`Body`] they fill the bytes after the enum's tag.
#[derive(Clone, Copy)]
struct Head {
    /// The low 48 bits of the id, little-endian.
    id: [u8; 6],
    flags: u8,
}

/// A `once` listener.
const ONCE: u8 = 1;
/// Removed while an emit was running: invisible to everything but the
/// emits that had already snapshot it, dropped when the outermost emit
/// ends.
const REMOVED: u8 = 2;

/// Listener ids are 48 bits: at a million listeners added per second to
/// one emitter they wrap after nine years.
const ID_MASK: u64 = (1 << 48) - 1;

impl Head {
    fn new(id: u64, once: bool) -> Head {
        let b = id.to_le_bytes();
        Head {
            id: [b[0], b[1], b[2], b[3], b[4], b[5]],
            flags: if once { ONCE } else { 0 },
        }
    }

    fn id(&self) -> u64 {
        let [a, b, c, d, e, f] = self.id;
        u64::from_le_bytes([a, b, c, d, e, f, 0, 0])
    }
}

/// A listener's head and closure, the closure typed by its payload shape.
/// The closure is `None` while it runs (taken out so that no borrow of the
/// table is held during the call).
enum Body<T: 'static> {
    Unit(Head, Option<UnitFn<T>>),
    Bytes(Head, Option<BytesFn<T>>),
    Bool(Head, Option<BoolFn<T>>),
    Error(Head, Option<ErrorFn<T>>),
    Other(Head, Option<Box<dyn Any>>),
}

impl<T: 'static> Body<T> {
    fn new(head: Head, f: Callback<T>) -> Self {
        match f {
            Callback::Unit(f) => Body::Unit(head, Some(f)),
            Callback::Bytes(f) => Body::Bytes(head, Some(f)),
            Callback::Bool(f) => Body::Bool(head, Some(f)),
            Callback::Error(f) => Body::Error(head, Some(f)),
            Callback::Other(f) => Body::Other(head, Some(f)),
        }
    }

    fn head(&self) -> &Head {
        match self {
            Body::Unit(h, _)
            | Body::Bytes(h, _)
            | Body::Bool(h, _)
            | Body::Error(h, _)
            | Body::Other(h, _) => h,
        }
    }

    fn head_mut(&mut self) -> &mut Head {
        match self {
            Body::Unit(h, _)
            | Body::Bytes(h, _)
            | Body::Bool(h, _)
            | Body::Error(h, _)
            | Body::Other(h, _) => h,
        }
    }

    /// Whether an emit with payload `A` calls this listener. A running
    /// listener of a user payload cannot tell its type; the emit skips it
    /// anyway.
    fn accepts<A: ?Sized + 'static>(&self) -> bool {
        let a = TypeId::of::<A>();
        match self {
            Body::Unit(..) => a == TypeId::of::<()>(),
            Body::Bytes(..) => a == TypeId::of::<[u8]>(),
            Body::Bool(..) => a == TypeId::of::<bool>(),
            Body::Error(..) => a == TypeId::of::<Error>(),
            Body::Other(_, f) => match f {
                Some(f) => f.is::<Option<AnyFn<T, A>>>(),
                None => true,
            },
        }
    }

    /// Takes the closure out to call it; `None` if it is running.
    fn take(&mut self) -> Option<Callback<T>> {
        match self {
            Body::Unit(_, f) => f.take().map(Callback::Unit),
            Body::Bytes(_, f) => f.take().map(Callback::Bytes),
            Body::Bool(_, f) => f.take().map(Callback::Bool),
            Body::Error(_, f) => f.take().map(Callback::Error),
            Body::Other(_, f) => f.take().map(Callback::Other),
        }
    }

    /// Puts a closure taken by [`take`](Body::take) back; gives it back if
    /// it does not fit (it always does: ids are unique).
    fn put(&mut self, f: Callback<T>) -> Option<Callback<T>> {
        match (self, f) {
            (Body::Unit(_, slot @ None), Callback::Unit(f)) => *slot = Some(f),
            (Body::Bytes(_, slot @ None), Callback::Bytes(f)) => *slot = Some(f),
            (Body::Bool(_, slot @ None), Callback::Bool(f)) => *slot = Some(f),
            (Body::Error(_, slot @ None), Callback::Error(f)) => *slot = Some(f),
            (Body::Other(_, slot @ None), Callback::Other(f)) => *slot = Some(f),
            (_, f) => return Some(f),
        }
        None
    }
}

/// One listener, stored inline in its emitter's table: the event name, a
/// tag for the payload shape, the id and flags, and the closure (40 bytes
/// on 64-bit targets).
struct Entry<T: 'static> {
    name: &'static str,
    body: Body<T>,
}

impl<T: 'static> Entry<T> {
    fn id(&self) -> u64 {
        self.body.head().id()
    }

    fn once(&self) -> bool {
        self.body.head().flags & ONCE != 0
    }

    fn removed(&self) -> bool {
        self.body.head().flags & REMOVED != 0
    }

    /// A listener of `name` that has not been removed.
    fn listens(&self, name: &str) -> bool {
        !self.removed() && self.name == name
    }
}

/// Listeners an emit snapshots without allocating.
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
    entries: RefCell<Vec<Entry<T>>>,
    next_id: Cell<u64>,
    /// Emits running on this table. While any runs, removed listeners
    /// stay as `REMOVED` entries, for the emits that snapshot them.
    emitting: Cell<u32>,
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

/// Defines Node's `EventEmitter` methods on an emitter type that has a
/// `fn listeners(&self) -> &Listeners<Self>`, an `fn on_listener_added(&self,
/// name)` hook, an `ERROR` event and a `BUILTIN_EVENTS` table of its
/// built-in events (see [`builtin`]).
macro_rules! impl_emitter {
    ($ty:ident) => {
        impl $crate::events::Emitter for $ty {
            const NAME: &'static str = stringify!($ty);
            const BUILTIN_EVENTS: &'static [$crate::events::BuiltinEvent] = $ty::BUILTIN_EVENTS;
        }

        impl $ty {
            /// Add a listener, called on every emit of `ev` with the emitter
            /// and the payload (Node: `emitter.on(name, fn)`). Returns the id
            /// to [`off`](Self::off) it with. See the
            /// [`events`](crate::events) module for an example.
            ///
            /// # Panics
            ///
            /// With a message that starts with `ERR_INVALID_ARG_TYPE`, if
            /// `ev` has the name of one of this type's built-in events but
            /// another payload type (a listener that could never be
            /// called; Node throws at once for a listener that is not a
            /// function).
            #[track_caller]
            pub fn on<A: ?Sized + 'static>(
                &self,
                ev: $crate::events::Event<A>,
                f: impl FnMut(&$ty, &A) + 'static,
            ) -> $crate::events::ListenerId {
                let id = self.listeners().add::<A>(ev, false, false, f);
                self.on_listener_added(ev.name());
                id
            }

            /// Add a listener that runs at most once, then removes itself
            /// (Node: `emitter.once(name, fn)`).
            ///
            /// # Panics
            ///
            /// `ERR_INVALID_ARG_TYPE` for a built-in event name with another
            /// payload type, as [`on`](Self::on).
            #[track_caller]
            pub fn once<A: ?Sized + 'static>(
                &self,
                ev: $crate::events::Event<A>,
                f: impl FnMut(&$ty, &A) + 'static,
            ) -> $crate::events::ListenerId {
                let id = self.listeners().add::<A>(ev, true, false, f);
                self.on_listener_added(ev.name());
                id
            }

            /// Add a listener that runs before those already added (Node:
            /// `emitter.prependListener(name, fn)`).
            ///
            /// # Panics
            ///
            /// `ERR_INVALID_ARG_TYPE` for a built-in event name with another
            /// payload type, as [`on`](Self::on).
            #[track_caller]
            pub fn prepend_listener<A: ?Sized + 'static>(
                &self,
                ev: $crate::events::Event<A>,
                f: impl FnMut(&$ty, &A) + 'static,
            ) -> $crate::events::ListenerId {
                let id = self.listeners().add::<A>(ev, false, true, f);
                self.on_listener_added(ev.name());
                id
            }

            /// Add a one-time listener before those already added (Node:
            /// `emitter.prependOnceListener(name, fn)`).
            ///
            /// # Panics
            ///
            /// `ERR_INVALID_ARG_TYPE` for a built-in event name with another
            /// payload type, as [`on`](Self::on).
            #[track_caller]
            pub fn prepend_once_listener<A: ?Sized + 'static>(
                &self,
                ev: $crate::events::Event<A>,
                f: impl FnMut(&$ty, &A) + 'static,
            ) -> $crate::events::ListenerId {
                let id = self.listeners().add::<A>(ev, true, true, f);
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
            /// `emitter.removeAllListeners([name])`). As with
            /// [`off`](Self::off), an emit in progress still calls them.
            pub fn remove_all_listeners(&self, name: Option<&str>) -> &Self {
                self.listeners().remove_all(name);
                self
            }

            /// How many listeners an event has, of any payload type (Node:
            /// `emitter.listenerCount(name)`).
            pub fn listener_count(&self, name: &str) -> usize {
                self.listeners().count(name)
            }

            /// The names of events with listeners, in the order each first
            /// got one since it last had none (Node: `emitter.eventNames()`).
            pub fn event_names(&self) -> Vec<&'static str> {
                self.listeners().names()
            }

            /// Call the listeners of `ev` that take an `A`, synchronously and
            /// in order; true if any ran (Node: `emitter.emit(name, arg)`).
            /// Any name works, built-in or not; listeners of the same name
            /// with another payload type are not called. An `error` event
            /// that no listener took stops [`run`](crate::run) with
            /// `ERR_UNHANDLED_ERROR` (the built-in error events stop it with
            /// the error itself).
            pub fn emit<A: ?Sized + 'static>(&self, ev: $crate::events::Event<A>, arg: &A) -> bool {
                let ran = self.listeners().emit::<A>(self, ev, arg);
                if !ran && ev.name() == "error" {
                    self.lp().fail($crate::error::Error::new(
                        $crate::error::ErrorCode::ERR_UNHANDLED_ERROR,
                        "Unhandled error. ('error' event emitted with no listener)",
                    ));
                }
                ran
            }

            /// Emit an `error`: if no listener took it, the error stops the
            /// loop (Node's uncaught exception).
            pub(crate) fn emit_error(&self, err: &$crate::error::Error) {
                let ran = self
                    .listeners()
                    .emit::<$crate::error::Error>(self, $ty::ERROR, err);
                if !ran {
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
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::rc::{Rc, Weak};

    use crate::error::ErrorCode;

    struct Thing;

    const DATA: Event<[u8]> = Event::new("data");
    const END: Event<()> = Event::new("end");
    const CLOSE: Event<bool> = Event::new("close");
    const ERROR: Event<Error> = Event::new("error");
    const X: Event<u32> = Event::new("x");
    const Y: Event<()> = Event::new("y");

    impl Emitter for Thing {
        const NAME: &'static str = "Thing";
        const BUILTIN_EVENTS: &'static [BuiltinEvent] =
            &[builtin(DATA), builtin(END), builtin(CLOSE), builtin(ERROR)];
    }

    type Log = Rc<RefCell<Vec<String>>>;

    fn recorder<A: ?Sized + fmt::Debug + 'static>(
        log: &Log,
        tag: &'static str,
    ) -> impl FnMut(&Thing, &A) + 'static {
        let log = Rc::clone(log);
        move |_, v| log.borrow_mut().push(format!("{tag}{v:?}"))
    }

    fn panic_text(err: Box<dyn Any + Send>) -> String {
        match err.downcast::<String>() {
            Ok(s) => *s,
            Err(err) => err
                .downcast::<&str>()
                .map(|s| s.to_string())
                .unwrap_or_default(),
        }
    }

    #[test]
    fn an_entry_is_at_most_40_bytes() {
        let entry = std::mem::size_of::<Entry<Thing>>();
        let table = std::mem::size_of::<Listeners<Thing>>();
        println!("listener entry: {entry} bytes; table: {table} bytes");
        assert!(entry <= 40, "{entry} bytes");
        assert!(table <= 48, "{table} bytes");
    }

    #[test]
    fn built_in_shapes_are_stored_without_allocating_an_empty_closure() {
        let l = Listeners::<Thing>::default();
        l.add(DATA, false, false, |_, _| {});
        l.add(END, false, false, |_, _| {});
        l.add(CLOSE, true, false, |_, _| {});
        l.add(ERROR, false, false, |_, _| {});
        let captured = String::from("captured");
        l.add(DATA, false, false, move |_, _| {
            std::hint::black_box(captured.len());
        });
        let entries = l.entries.borrow();
        // A box of a zero-sized closure never allocates.
        let sizes: Vec<Option<usize>> = entries
            .iter()
            .map(|e| match &e.body {
                Body::Unit(_, Some(f)) => Some(std::mem::size_of_val(&**f)),
                Body::Bytes(_, Some(f)) => Some(std::mem::size_of_val(&**f)),
                Body::Bool(_, Some(f)) => Some(std::mem::size_of_val(&**f)),
                Body::Error(_, Some(f)) => Some(std::mem::size_of_val(&**f)),
                _ => None,
            })
            .collect();
        assert_eq!(
            sizes,
            [
                Some(0),
                Some(0),
                Some(0),
                Some(0),
                Some(std::mem::size_of::<String>())
            ]
        );
    }

    #[test]
    fn once_runs_once_and_order_is_kept() {
        let l = Listeners::<Thing>::default();
        let log = Log::default();
        l.add(X, false, false, recorder(&log, "a"));
        l.add(X, true, false, recorder(&log, "b"));
        l.add(X, false, true, recorder(&log, "c"));
        l.add(X, true, true, recorder(&log, "d"));
        assert_eq!(l.count("x"), 4);
        assert!(l.emit(&Thing, X, &1));
        assert!(l.emit(&Thing, X, &2));
        assert_eq!(*log.borrow(), ["d1", "c1", "a1", "b1", "c2", "a2"]);
        assert_eq!(l.count("x"), 2);
        l.remove_all(Some("x"));
        assert!(!l.emit(&Thing, X, &3));
    }

    #[test]
    fn more_listeners_than_the_inline_snapshot() {
        let l = Listeners::<Thing>::default();
        let log = Log::default();
        for tag in ["a", "b", "c", "d", "e", "f"] {
            l.add(X, false, false, recorder(&log, tag));
        }
        assert!(l.emit(&Thing, X, &0));
        assert_eq!(*log.borrow(), ["a0", "b0", "c0", "d0", "e0", "f0"]);
    }

    #[test]
    fn an_emit_calls_the_listeners_registered_when_it_started() {
        // Node copies the listener array: a listener added during an emit
        // waits for the next one; listeners removed during it (by `off` or
        // `remove_all`, once or not) still run in it.
        let l = Rc::new(Listeners::<Thing>::default());
        let log = Log::default();
        let ids: Rc<RefCell<Vec<ListenerId>>> = Rc::default();
        let (table, lg, victims) = (Rc::downgrade(&l), Rc::clone(&log), Rc::clone(&ids));
        l.add(X, false, false, move |_, n| {
            lg.borrow_mut().push(format!("first{n}"));
            let Some(l) = table.upgrade() else { return };
            if *n == 1 {
                for id in victims.borrow().iter() {
                    assert!(l.remove(*id));
                    assert!(!l.remove(*id));
                }
                assert_eq!(l.count("x"), 2);
                l.add(X, false, false, recorder(&lg, "added"));
                // Removed listeners are gone for everything but this emit.
                assert_eq!(l.count("x"), 3);
                assert_eq!(l.names(), ["x", "y"]);
                l.remove_all(Some("y"));
                assert_eq!(l.names(), ["x"]);
            }
        });
        ids.borrow_mut()
            .push(l.add(X, false, false, recorder(&log, "victim")));
        ids.borrow_mut()
            .push(l.add(X, true, false, recorder(&log, "once victim")));
        l.add(X, false, false, recorder(&log, "last"));
        l.add(Y, false, false, recorder(&log, "y"));
        assert!(l.emit(&Thing, X, &1));
        assert!(l.emit(&Thing, X, &2));
        assert!(!l.emit(&Thing, Y, &()));
        assert_eq!(
            *log.borrow(),
            [
                "first1",
                "victim1",
                "once victim1",
                "last1",
                "first2",
                "last2",
                "added2"
            ]
        );
        // The removed entries were dropped when the emit ended.
        assert_eq!(l.entries.borrow().len(), 3);
    }

    #[test]
    fn a_once_listener_is_removed_before_it_runs() {
        let l = Rc::new(Listeners::<Thing>::default());
        let calls = Rc::new(Cell::new(0));
        let (table, c) = (Rc::downgrade(&l), Rc::clone(&calls));
        l.add(X, true, false, move |me, n| {
            c.set(c.get() + 1);
            let Some(l) = table.upgrade() else { return };
            assert_eq!(l.count("x"), 0);
            assert!(l.names().is_empty());
            assert!(!l.emit(me, X, &(n + 1)));
        });
        assert!(l.emit(&Thing, X, &1));
        assert!(!l.emit(&Thing, X, &2));
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn a_nested_emit_skips_the_running_listener() {
        let l = Rc::new(Listeners::<Thing>::default());
        let log = Log::default();
        let (table, lg) = (Rc::downgrade(&l), Rc::clone(&log));
        l.add(X, false, false, move |me, n| {
            lg.borrow_mut().push(format!("outer{n}"));
            if let Some(l) = table.upgrade() {
                if *n == 1 {
                    // Only the second listener runs in the nested emit.
                    assert!(l.emit(me, X, &2));
                }
            }
        });
        l.add(X, false, false, recorder(&log, "second"));
        assert!(l.emit(&Thing, X, &1));
        assert_eq!(*log.borrow(), ["outer1", "second2", "second1"]);
        // Put back after the call: it runs again.
        assert!(l.emit(&Thing, X, &3));
        assert_eq!(log.borrow().len(), 5);
    }

    #[test]
    fn a_panicking_listener_is_kept_and_the_table_stays_usable() {
        let l = Listeners::<Thing>::default();
        let calls = Rc::new(Cell::new(0));
        let c = Rc::clone(&calls);
        l.add(X, false, false, move |_, n| {
            c.set(c.get() + 1);
            assert!(*n != 1, "listener panics");
        });
        let res = catch_unwind(AssertUnwindSafe(|| l.emit(&Thing, X, &1)));
        assert!(res.is_err());
        assert_eq!(l.emitting.get(), 0);
        assert!(l.emit(&Thing, X, &2));
        assert_eq!(calls.get(), 2);
    }

    #[test]
    #[should_panic(expected = "ERR_INVALID_ARG_TYPE")]
    fn a_listener_with_the_wrong_payload_for_a_built_in_event_is_rejected() {
        let l = Listeners::<Thing>::default();
        l.add(Event::<Vec<u8>>::new("data"), false, false, |_, _| {});
    }

    #[test]
    fn the_rejection_names_the_event_and_both_types_and_adds_nothing() {
        let l = Listeners::<Thing>::default();
        for (res, expected, actual) in [
            (
                catch_unwind(AssertUnwindSafe(|| {
                    l.add(Event::<Vec<u8>>::new("data"), false, false, |_, _| {});
                })),
                "[u8]",
                "alloc::vec::Vec<u8>",
            ),
            (
                catch_unwind(AssertUnwindSafe(|| {
                    l.add(Event::<str>::new("error"), true, true, |_, _| {});
                })),
                "netloop::error::Error",
                "str",
            ),
            (
                catch_unwind(AssertUnwindSafe(|| {
                    l.add(Event::<()>::new("close"), false, false, |_, _| {});
                })),
                "bool",
                "()",
            ),
        ] {
            let text = panic_text(res.expect_err("rejected"));
            assert!(text.starts_with("ERR_INVALID_ARG_TYPE"), "{text}");
            assert!(text.contains("Thing"), "{text}");
            assert!(
                text.contains(&format!("must take &{expected}, not &{actual}")),
                "{text}"
            );
        }
        assert!(l.names().is_empty());
        assert_eq!(l.next_id.get(), 0);
        // The right payload types are accepted.
        l.add(DATA, false, false, |_, _| {});
        l.add(CLOSE, false, false, |_, _| {});
        assert_eq!(l.names(), ["data", "close"]);
    }

    #[test]
    fn an_emit_runs_only_listeners_of_its_payload_type() {
        let l = Listeners::<Thing>::default();
        let log = Log::default();
        let as_u32 = X;
        let as_str: Event<str> = Event::new("x");
        l.add(as_u32, false, false, recorder(&log, "u32 "));
        l.add(as_str, false, false, recorder(&log, "str "));
        assert_eq!(l.count("x"), 2);
        assert!(l.emit(&Thing, as_u32, &7));
        assert!(l.emit(&Thing, as_str, "seven"));
        // No listener takes a u64: none ran.
        assert!(!l.emit(&Thing, Event::<u64>::new("x"), &7));
        assert_eq!(*log.borrow(), ["u32 7", "str \"seven\""]);
    }

    #[test]
    fn a_generic_emit_reaches_the_typed_listeners() {
        let l = Listeners::<Thing>::default();
        let log = Log::default();
        l.add(DATA, false, false, recorder(&log, "data "));
        l.add(END, false, false, recorder(&log, "end "));
        l.add(CLOSE, false, false, recorder(&log, "close "));
        let lg = Rc::clone(&log);
        l.add(ERROR, false, false, move |_, e: &Error| {
            lg.borrow_mut().push(format!("error {}", e.code().as_str()))
        });
        assert!(l.emit(&Thing, Event::<[u8]>::new("data"), b"hi"));
        assert!(l.emit(&Thing, END, &()));
        assert!(l.emit(&Thing, CLOSE, &true));
        let err = Error::new(ErrorCode::ECONNRESET, "reset");
        assert!(l.emit(&Thing, ERROR, &err));
        // Another payload type under a built-in name reaches nobody.
        assert!(!l.emit(&Thing, Event::<str>::new("error"), "text"));
        assert!(!l.emit(&Thing, Event::<Vec<u8>>::new("data"), &vec![1]));
        assert_eq!(
            *log.borrow(),
            [
                "data [104, 105]",
                "end ()",
                "close true",
                "error ECONNRESET"
            ]
        );
    }

    #[test]
    fn names_keep_the_order_each_first_got_a_listener() {
        let l = Listeners::<Thing>::default();
        let a: Event<()> = Event::new("a");
        let b: Event<()> = Event::new("b");
        let c: Event<()> = Event::new("c");
        let a1 = l.add(a, false, false, |_, _| {});
        l.add(b, false, false, |_, _| {});
        l.add(a, false, false, |_, _| {});
        l.add(c, false, true, |_, _| {}); // a new name goes last, prepended or not
        l.add(b, false, true, |_, _| {}); // prepending keeps b's place
        assert_eq!(l.names(), ["a", "b", "c"]);
        // Removing a's first listener keeps a's place: its second takes it.
        assert!(l.remove(a1));
        assert_eq!(l.names(), ["a", "b", "c"]);
        l.add(a, false, true, |_, _| {});
        assert_eq!(l.names(), ["a", "b", "c"]);
        assert_eq!(l.count("a"), 2);
        l.remove_all(Some("a"));
        assert_eq!(l.names(), ["b", "c"]);
        l.add(a, true, false, |_, _| {});
        assert_eq!(l.names(), ["b", "c", "a"]);
        assert!(l.emit(&Thing, a, &()));
        assert_eq!(l.names(), ["b", "c"]);
        l.remove_all(None);
        assert!(l.names().is_empty());
    }

    #[test]
    fn names_keep_their_order_when_listeners_go_during_an_emit() {
        let l = Rc::new(Listeners::<Thing>::default());
        let a: Event<()> = Event::new("a");
        let b: Event<()> = Event::new("b");
        let c: Event<()> = Event::new("c");
        let a1 = l.add(a, false, false, |_, _| {});
        l.add(b, false, false, |_, _| {});
        let table = Rc::downgrade(&l);
        l.add(c, false, false, move |_, _| {
            let Some(l) = table.upgrade() else { return };
            // a's first listener goes; its second keeps a's place.
            assert!(l.remove(a1));
            assert_eq!(l.names(), ["a", "b", "c"]);
            l.remove_all(Some("b"));
            assert_eq!(l.names(), ["a", "c"]);
        });
        l.add(a, false, false, |_, _| {});
        assert_eq!(l.names(), ["a", "b", "c"]);
        assert!(l.emit(&Thing, c, &()));
        assert_eq!(l.names(), ["a", "c"]);
        l.add(b, false, true, |_, _| {});
        assert_eq!(l.names(), ["a", "c", "b"]);
    }

    /// Touches the table when dropped: it must not be borrowed then.
    struct TouchOnDrop(Weak<Listeners<Thing>>, Rc<Cell<usize>>);

    impl Drop for TouchOnDrop {
        fn drop(&mut self) {
            if let Some(l) = self.0.upgrade() {
                l.count("x");
                l.add(Event::<u8>::new("dropped"), false, false, |_, _| {});
                self.1.set(self.1.get() + 1);
            }
        }
    }

    #[test]
    fn closures_are_dropped_after_the_borrow_ends() {
        let l = Rc::new(Listeners::<Thing>::default());
        let drops = Rc::new(Cell::new(0));
        let probe = || {
            let t = TouchOnDrop(Rc::downgrade(&l), Rc::clone(&drops));
            move |_: &Thing, _: &u32| {
                let _ = &t;
            }
        };
        // off, remove_all by name and all, a once listener that ran.
        let id = l.add(X, false, false, probe());
        assert!(l.remove(id));
        l.add(X, false, false, probe());
        l.remove_all(Some("x"));
        l.add(X, false, false, probe());
        l.remove_all(None);
        l.add(X, true, false, probe());
        assert!(l.emit(&Thing, X, &1));
        assert_eq!(drops.get(), 4);
        // Removed during an emit: dropped when the emit ends.
        let (table, p) = (Rc::downgrade(&l), probe());
        l.add(X, false, false, move |_, _| {
            let _ = &p;
            if let Some(l) = table.upgrade() {
                l.remove_all(Some("x"));
            }
        });
        assert!(l.emit(&Thing, X, &2));
        assert_eq!(drops.get(), 5);
        assert_eq!(l.count("x"), 0);
        assert_eq!(l.count("dropped"), 3); // `remove_all(None)` took two
    }
}
