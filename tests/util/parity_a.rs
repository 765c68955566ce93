//! Helpers for the Node parity tests, part A (listen and address, connect
//! and lookup, half-open, pause/resume, backpressure, byte counters,
//! timeouts, encodings and piping): call counters in the style of Node's
//! `common.mustCall`, an ordered event log, a failure guard, and small
//! socket helpers.
//!
//! Include with `#[path = "util/parity_a.rs"] mod parity_a;`.

#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::net::TcpListener;
use std::rc::Rc;
use std::time::Duration;

use netloop::net::Server;
use netloop::timers::{self, Timer};

/// A host name that never resolves: `.invalid` is reserved by RFC 2606,
/// so the lookup fails without any answer from the network.
pub const UNRESOLVABLE: &str = "no.way.you.will.resolve.this.invalid";

/// Counts calls, like Node's `common.mustCall`: clone it into callbacks,
/// call [`hit`](Calls::hit), and assert [`get`](Calls::get) once
/// `netloop::run` has returned.
#[derive(Clone, Default)]
pub struct Calls(Rc<Cell<usize>>);

impl Calls {
    pub fn new() -> Calls {
        Calls::default()
    }

    pub fn hit(&self) {
        self.0.set(self.0.get() + 1);
    }

    pub fn get(&self) -> usize {
        self.0.get()
    }
}

/// An ordered log of events, to assert Node's event order.
#[derive(Clone, Default)]
pub struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    pub fn new() -> Log {
        Log::default()
    }

    pub fn push(&self, entry: impl Into<String>) {
        self.0.borrow_mut().push(entry.into());
    }

    pub fn entries(&self) -> Vec<String> {
        self.0.borrow().clone()
    }

    pub fn count(&self, entry: &str) -> usize {
        self.0.borrow().iter().filter(|e| *e == entry).count()
    }

    pub fn position(&self, entry: &str) -> Option<usize> {
        self.0.borrow().iter().position(|e| e == entry)
    }
}

/// The failure guard every networked test arms first: an unref'd timer
/// (it never keeps the loop alive) that panics if the test still runs
/// after 10 s. Never a synchronisation point.
pub fn guard(what: &'static str) -> Timer {
    let t = timers::set_timeout(Duration::from_secs(10), move || {
        panic!("{what}: still running after 10 s (failure guard)")
    });
    t.unref();
    t
}

/// A reffed 10 s timer for tests whose only other handles are unref'd: it
/// keeps the loop alive until the test cancels it, and panics if that
/// never happens.
pub fn keep_alive(what: &'static str) -> Timer {
    timers::set_timeout(Duration::from_secs(10), move || {
        panic!("{what}: still running after 10 s (keep-alive guard)")
    })
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

/// A port on 127.0.0.1 with nothing listening: bound for a moment by the
/// OS, then released, so a connect to it is refused.
pub fn refused_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// True if this machine can bind `::1`.
pub fn ipv6_available() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

/// Deterministic test bytes that do not repeat on a power of two, so a
/// lost or duplicated chunk shows up as a mismatch.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A loopback listener whose accept queue is full (backlog 0 plus one
/// connection it never accepts): the kernel drops further SYNs, so a
/// connect to it stays pending without touching any other address. It
/// stands in for the unroutable address Node's connect-timeout test uses.
pub struct BlackHole {
    _listener: socket2::Socket,
    _filler: socket2::Socket,
    pub port: u16,
}

impl BlackHole {
    pub fn new() -> BlackHole {
        use socket2::{Domain, Socket, Type};
        let bind: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        listener.bind(&bind.into()).unwrap();
        listener.listen(0).unwrap();
        let addr = listener.local_addr().unwrap().as_socket().unwrap();
        let filler = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        filler
            .connect_timeout(&addr.into(), Duration::from_secs(5))
            .unwrap();
        BlackHole {
            _listener: listener,
            _filler: filler,
            port: addr.port(),
        }
    }
}
