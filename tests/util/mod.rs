//! Helpers shared by the integration tests (as mio's `tests/util/mod.rs`):
//! an event log, callback counters, a failure guard, and socket helpers.
//! Every test binary uses a different subset of them.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::fmt::Display;
use std::rc::Rc;
use std::time::Duration;

use netloop::net::Server;
use netloop::timers::{self, Timer};

/// An ordered log of what happened, shared by every listener of a test
/// (the libuv tests' call counters, with the order kept).
#[derive(Clone, Default)]
pub struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    pub fn new() -> Log {
        Log::default()
    }

    pub fn push(&self, entry: impl Into<String>) {
        self.0.borrow_mut().push(entry.into());
    }

    /// A closure that records `entry`; handy for `next_tick` and timers.
    pub fn recorder(&self, entry: impl Display) -> impl FnOnce() + 'static {
        let log = self.clone();
        let entry = entry.to_string();
        move || log.push(entry)
    }

    pub fn entries(&self) -> Vec<String> {
        self.0.borrow().clone()
    }

    /// How many entries equal `entry`.
    pub fn count(&self, entry: &str) -> usize {
        self.0.borrow().iter().filter(|e| *e == entry).count()
    }

    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }
}

/// A shared callback counter (Node's `common.mustCall` counts).
#[derive(Clone, Default)]
pub struct Count(Rc<Cell<usize>>);

impl Count {
    pub fn new() -> Count {
        Count::default()
    }

    pub fn inc(&self) {
        self.0.set(self.0.get() + 1);
    }

    pub fn get(&self) -> usize {
        self.0.get()
    }
}

/// The generous failure guard every networked test arms first: an unref'd
/// timer (so it never keeps the loop alive) that panics if the test is
/// still running after 10 s. It is never a synchronisation point.
pub fn guard(what: &'static str) -> Timer {
    let t = timers::set_timeout(Duration::from_secs(10), move || {
        panic!("{what}: still running after 10 s")
    });
    t.unref();
    t
}

/// Listen on 127.0.0.1 port 0 and return the port (bound synchronously).
pub fn listen_local(server: &Server) -> u16 {
    server
        .listen(0, "127.0.0.1")
        .expect("listen on 127.0.0.1:0")
        .address()
        .expect("bound synchronously")
        .port()
}

/// A port on 127.0.0.1 that was free a moment ago and has no listener:
/// bind it, note it, close it.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Deterministic test bytes: a pattern that does not repeat on a power of
/// two, so a lost or duplicated chunk shows up as a mismatch.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}
