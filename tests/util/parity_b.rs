//! Helpers for the Node parity tests, part B (destroy and errors, servers,
//! ref/unref, addresses, Unix sockets, happy eyeballs, BlockList,
//! ping-pong): call counters in the style of Node's `common.mustCall`, an
//! ordered event log, a failure guard, temp socket paths, a refused port
//! and a "black hole" listener whose connects never complete.
//!
//! Include with `#[path = "util/parity_b.rs"] mod parity_b;`.

#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use netloop::timers::{self, Timer};

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

    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }

    pub fn contains(&self, entry: &str) -> bool {
        self.0.borrow().iter().any(|e| e == entry)
    }
}

/// A failure guard: an unref'd timer that panics if the test is still
/// running after `secs` seconds. Unref'd, so it never keeps the loop alive
/// by itself (Node's `setTimeout(common.mustNotCall(), ms).unref()`).
pub fn failsafe(secs: u64) -> Timer {
    let t = timers::set_timeout(Duration::from_secs(secs), move || {
        panic!("test did not finish within {secs} s (failsafe timer fired)");
    });
    t.unref();
    t
}

/// A port on 127.0.0.1 with nothing listening: bound by the OS for a
/// moment, then released, so connecting to it is refused.
pub fn refused_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = l.local_addr().expect("local_addr").port();
    drop(l);
    port
}

/// A unique Unix socket path under the temp dir (short enough for
/// `sun_path`), not yet existing.
pub fn temp_sock_path(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let p = std::env::temp_dir().join(format!("nlpb-{}-{tag}-{n}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// A unique abstract socket name (Linux): a leading NUL byte, no file.
pub fn abstract_name(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    PathBuf::from(format!("\0nlpb-{}-{tag}-{n}", std::process::id()))
}

/// A listener whose accept queue is full: backlog 0 and one connection
/// that is never accepted. The kernel drops further SYNs, so a connect to
/// it stays pending (on loopback, without touching any other address). It
/// lets the happy-eyeballs attempt timer fire deterministically.
pub struct BlackHole {
    _listener: socket2::Socket,
    _filler: socket2::Socket,
    pub addr: SocketAddr,
}

impl BlackHole {
    pub fn new(ip: IpAddr) -> BlackHole {
        use socket2::{Domain, Socket, Type};
        let bind = SocketAddr::new(ip, 0);
        let listener = Socket::new(Domain::for_address(bind), Type::STREAM, None).unwrap();
        listener.bind(&bind.into()).unwrap();
        listener.listen(0).unwrap();
        let addr = listener.local_addr().unwrap().as_socket().unwrap();
        let filler = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
        filler
            .connect_timeout(&addr.into(), Duration::from_secs(5))
            .unwrap();
        BlackHole {
            _listener: listener,
            _filler: filler,
            addr,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

/// True if this machine can bind `::1`.
pub fn ipv6_available() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

/// True if nothing listens on `ip:port` right now (checked by binding it
/// for a moment).
pub fn port_free(ip: &str, port: u16) -> bool {
    TcpListener::bind((ip, port)).is_ok()
}

/// A black hole on `::1` whose port is free on `127.0.0.1` too, so a test
/// can put a server (or nothing, for a refusal) on `127.0.0.1` at the
/// same port.
pub fn ipv6_black_hole_with_free_ipv4_port() -> BlackHole {
    for _ in 0..50 {
        let hole = BlackHole::new("::1".parse().unwrap());
        if port_free("127.0.0.1", hole.port()) {
            return hole;
        }
    }
    panic!("no port free on both ::1 and 127.0.0.1");
}

/// A lookup that answers with fixed addresses, as Node's tests pass a
/// `lookup` function to `net.connect`. Counts its calls.
pub fn fixed_lookup(addrs: &[&str], calls: Calls) -> netloop::net::Lookup {
    let addrs: Vec<IpAddr> = addrs.iter().map(|a| a.parse().unwrap()).collect();
    netloop::net::Lookup::new(move |_host, _family, done| {
        calls.hit();
        done(Ok(addrs.clone()))
    })
}
