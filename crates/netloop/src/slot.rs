//! A value produced by callbacks while the loop runs, and handed back once
//! it ended: [`run_returning`] and [`Slot`].

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use crate::error::Result;

/// A value that callbacks set or update while the loop runs, and that
/// [`run_returning`] hands back once the loop ended: the
/// `Rc<RefCell<_>>` a program would otherwise thread through its closures
/// and unwrap afterwards, with a name and no `borrow_mut()`.
///
/// It starts with a value (use `Slot::new(None)` for one that may never
/// be produced, `Slot::new(Vec::new())` for a log). Clones share it, as
/// the socket and server handles do: clone the slot into each callback
/// that writes to it. `!Send`, like everything that lives on the loop.
///
/// ```
/// use netloop::Slot;
///
/// let log = Slot::new(Vec::new());
/// let writer = log.clone();
/// writer.update(|entries| entries.push("connect"));
/// writer.update(|entries| entries.push("close"));
/// assert_eq!(log.get(), ["connect", "close"]);
/// log.set(vec!["reset"]);
/// assert_eq!(writer.get(), ["reset"]);
/// ```
pub struct Slot<T>(Rc<RefCell<Option<T>>>);

/// What a slot says when its value is gone.
const TAKEN: &str = "netloop::Slot used after run_returning took its value";

impl<T> Slot<T> {
    /// A slot holding `value`.
    pub fn new(value: T) -> Slot<T> {
        Slot(Rc::new(RefCell::new(Some(value))))
    }

    /// Replace the value.
    pub fn set(&self, value: T) {
        *self.0.borrow_mut() = Some(value);
    }

    /// Change the value in place (push onto a log, count), returning what
    /// `f` returns.
    ///
    /// # Panics
    ///
    /// When called from inside another `update` of the same slot, or on a
    /// clone kept after [`run_returning`] took the value.
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        match self.0.borrow_mut().as_mut() {
            Some(value) => f(value),
            None => panic!("{TAKEN}"),
        }
    }

    /// A copy of the value.
    ///
    /// # Panics
    ///
    /// On a clone kept after [`run_returning`] took the value.
    pub fn get(&self) -> T
    where
        T: Clone,
    {
        match self.0.borrow().as_ref() {
            Some(value) => value.clone(),
            None => panic!("{TAKEN}"),
        }
    }

    /// Take the value out, leaving the slot empty.
    fn take(&self) -> Option<T> {
        self.0.borrow_mut().take()
    }
}

impl<T> Clone for Slot<T> {
    fn clone(&self) -> Slot<T> {
        Slot(Rc::clone(&self.0))
    }
}

impl<T: Default> Default for Slot<T> {
    fn default() -> Slot<T> {
        Slot::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.try_borrow() {
            Ok(value) => f.debug_tuple("Slot").field(&*value).finish(),
            Err(_) => f.write_str("Slot(<borrowed>)"),
        }
    }
}

/// [`run`](crate::run), handing back a value the loop produced: `main`
/// returns a [`Slot`] that its callbacks fill in, and once the loop has
/// ended (every handle closed, every listener dropped) the slot's value is
/// the result. Node has no equivalent (a script's results are its side
/// effects); it saves a Rust program the shared cell every callback
/// writes to and the unwrapping after `run`.
///
/// The value is whatever the slot holds when the loop ends: a
/// `Slot<Option<T>>` tells "never produced" apart, a `Slot<Vec<_>>`
/// gathers a log.
///
/// # Errors
///
/// As [`run`](crate::run): `main`'s error, or an `error` event nobody
/// listened to.
///
/// # Panics
///
/// As [`run`](crate::run), and when the slot `main` returns had its value
/// taken by an earlier `run_returning`.
///
/// # Examples
///
/// The first chunk a client reads, out of the loop:
///
/// ```
/// use netloop::net::{self, Socket};
/// use netloop::Slot;
///
/// let reply = netloop::run_returning(|| {
///     let server = net::create_server(|server, sock: &Socket| {
///         sock.end_with("pong");
///         server.close();
///     });
///     server.listen(0, "127.0.0.1")?;
///     let port = server.address().expect("bound at once").port();
///
///     let reply = Slot::new(None);
///     let client = net::connect(port, "127.0.0.1")?;
///     let first = reply.clone();
///     client.on(Socket::DATA, move |_, data| first.set(Some(data.to_vec())));
///     Ok(reply)
/// })
/// .expect("the loop ran");
/// assert_eq!(reply.as_deref(), Some(&b"pong"[..]));
/// ```
pub fn run_returning<T, F>(main: F) -> Result<T>
where
    F: FnOnce() -> Result<Slot<T>>,
{
    let mut out = None;
    crate::run(|| main().map(|slot| out = Some(slot)))?;
    let value = out.and_then(|slot| slot.take());
    Ok(value.expect("the slot main returned had its value taken by an earlier run_returning"))
}
