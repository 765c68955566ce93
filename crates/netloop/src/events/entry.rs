//! One listener entry: the closure, stored by the shape of its payload,
//! with its id, flags and event name packed around it.

use std::any::{Any, TypeId};

use crate::error::Error;

pub(super) type UnitFn<T> = Box<dyn FnMut(&T, &())>;
pub(super) type BytesFn<T> = Box<dyn FnMut(&T, &[u8])>;
pub(super) type BoolFn<T> = Box<dyn FnMut(&T, &bool)>;
pub(super) type ErrorFn<T> = Box<dyn FnMut(&T, &Error)>;
pub(super) type AnyFn<T, A> = Box<dyn FnMut(&T, &A)>;

/// A listener's closure, typed by its payload shape: the built-in payloads
/// as their own boxes (a closure that captures nothing is a zero-sized box:
/// no allocation), any other payload `A` as a `Box<dyn Any>` holding an
/// `Option<AnyFn<T, A>>` (always `Some`; the `Option` lets [`Callback::new`]
/// move the closure out of a downcast without a fallible unwrap).
pub(super) enum Callback<T: 'static> {
    Unit(UnitFn<T>),
    Bytes(BytesFn<T>),
    Bool(BoolFn<T>),
    Error(ErrorFn<T>),
    Other(Box<dyn Any>),
}

/// Moves the value out of `slot` as a `Y`, if `X` is `Y`.
pub(super) fn take_as<X: 'static, Y: 'static>(slot: &mut Option<X>) -> Option<Y> {
    let slot: &mut dyn Any = slot;
    slot.downcast_mut::<Option<Y>>().and_then(Option::take)
}

/// Calls a listener of payload `B` with an `A`, if `A` is `B`.
pub(super) fn call_as<T: 'static, B: ?Sized + 'static, A: ?Sized + 'static>(
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
    pub(super) fn new<A: ?Sized + 'static>(f: impl FnMut(&T, &A) + 'static) -> Self {
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
    pub(super) fn call<A: ?Sized + 'static>(&mut self, this: &T, arg: &A) -> bool {
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
pub(super) struct Head {
    /// The low 48 bits of the id, little-endian.
    pub(super) id: [u8; 6],
    pub(super) flags: u8,
}

/// A `once` listener.
pub(super) const ONCE: u8 = 1;
/// Removed while an emit was running: invisible to everything but the
/// emits that had already snapshot it, dropped when the outermost emit
/// ends.
pub(super) const REMOVED: u8 = 2;

/// Listener ids are 48 bits: at a million listeners added per second to
/// one emitter they wrap after nine years.
pub(super) const ID_MASK: u64 = (1 << 48) - 1;

impl Head {
    pub(super) fn new(id: u64, once: bool) -> Head {
        let b = id.to_le_bytes();
        Head {
            id: [b[0], b[1], b[2], b[3], b[4], b[5]],
            flags: if once { ONCE } else { 0 },
        }
    }

    pub(super) fn id(&self) -> u64 {
        let [a, b, c, d, e, f] = self.id;
        u64::from_le_bytes([a, b, c, d, e, f, 0, 0])
    }
}

/// A listener's head and closure, the closure typed by its payload shape.
/// The closure is `None` while it runs (taken out so that no borrow of the
/// table is held during the call).
pub(super) enum Body<T: 'static> {
    Unit(Head, Option<UnitFn<T>>),
    Bytes(Head, Option<BytesFn<T>>),
    Bool(Head, Option<BoolFn<T>>),
    Error(Head, Option<ErrorFn<T>>),
    Other(Head, Option<Box<dyn Any>>),
}

impl<T: 'static> Body<T> {
    pub(super) fn new(head: Head, f: Callback<T>) -> Self {
        match f {
            Callback::Unit(f) => Body::Unit(head, Some(f)),
            Callback::Bytes(f) => Body::Bytes(head, Some(f)),
            Callback::Bool(f) => Body::Bool(head, Some(f)),
            Callback::Error(f) => Body::Error(head, Some(f)),
            Callback::Other(f) => Body::Other(head, Some(f)),
        }
    }

    pub(super) fn head(&self) -> &Head {
        match self {
            Body::Unit(h, _)
            | Body::Bytes(h, _)
            | Body::Bool(h, _)
            | Body::Error(h, _)
            | Body::Other(h, _) => h,
        }
    }

    pub(super) fn head_mut(&mut self) -> &mut Head {
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
    pub(super) fn accepts<A: ?Sized + 'static>(&self) -> bool {
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
    pub(super) fn take(&mut self) -> Option<Callback<T>> {
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
    pub(super) fn put(&mut self, f: Callback<T>) -> Option<Callback<T>> {
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
pub(super) struct Entry<T: 'static> {
    pub(super) name: &'static str,
    pub(super) body: Body<T>,
}

impl<T: 'static> Entry<T> {
    pub(super) fn id(&self) -> u64 {
        self.body.head().id()
    }

    pub(super) fn once(&self) -> bool {
        self.body.head().flags & ONCE != 0
    }

    pub(super) fn removed(&self) -> bool {
        self.body.head().flags & REMOVED != 0
    }

    /// A listener of `name` that has not been removed.
    pub(super) fn listens(&self, name: &str) -> bool {
        !self.removed() && self.name == name
    }
}
