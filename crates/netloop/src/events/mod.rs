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
//! `Socket::CLOSE` is `bool`, `Server::ERROR` is [`Error`](crate::Error)).
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

use std::any::{type_name, TypeId};
use std::fmt;
use std::marker::PhantomData;

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

mod entry;
mod table;
#[cfg(test)]
mod tests;

pub(crate) use table::Listeners;

/// Defines Node's `EventEmitter` methods on an emitter type that has a
/// `fn listeners(&self) -> &Listeners<Self>`, an `fn on_listener_added(&self,
/// name)` hook, an `ERROR` event and a `BUILTIN_EVENTS` table of its
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
