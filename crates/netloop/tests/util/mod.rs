//! Helpers shared by the integration tests (as mio's `tests/util/mod.rs`):
//! an ordered event log and call counters in the style of Node's
//! `common.mustCall`, failure guards, ports reserved for the length of a
//! test, "black hole" listeners, Unix socket paths, and a few socket
//! helpers. Every test binary uses a different subset of them.
//!
//! Included by `tests/it/main.rs`, `tests/fresh_process.rs` and
//! `tests/signals.rs`, and by the root package's tests
//! (`#[path = ...] mod util;`).
//!
//! # Never spawn a process in a binary whose tests probe ports
//!
//! Between `fork` and `exec` a child process holds a copy of every
//! descriptor of its parent: close-on-exec closes them only at `exec`. A
//! test that spawns a process while another test in the same binary closes
//! a listener keeps that listener open, in the child, for that window, and
//! the kernel still completes connections to it. A test that then checks
//! "nothing accepts on this port any more" (or binds the port again, or
//! waits for a peer's close) fails about one run in ten on a loaded
//! machine. So:
//!
//! - `tests/it` (one binary) never spawns a process;
//! - tests that need a fresh process live in `tests/fresh_process.rs`, a
//!   binary of its own (cargo runs test binaries one after another);
//! - the root package's tests that run the CLI or `node` either spawn only
//!   (no in-process listeners), or hold [`serial`] for their whole run.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::fmt::Display;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use netloop::net::{Lookup, Server, Socket as NetSocket};
use netloop::timers::{self, Timer};
use netloop::{Error, ErrorCode};
use socket2::{Domain, Socket, Type};

/// A host name that never resolves: `.invalid` is reserved by RFC 2606,
/// so the lookup fails without any answer from the network.
pub const UNRESOLVABLE: &str = "no.way.you.will.resolve.this.invalid";

/// An ordered log of what happened, shared by every listener of a test
/// (the libuv tests' call counters, with the order kept), to assert
/// Node's event order.
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

    /// The entries that start with `prefix`, in order: one actor's events
    /// out of a log several write to.
    pub fn starting_with(&self, prefix: &str) -> Vec<String> {
        let entries = self.0.borrow();
        entries
            .iter()
            .filter(|e| e.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// How many entries equal `entry`.
    pub fn count(&self, entry: &str) -> usize {
        self.0.borrow().iter().filter(|e| *e == entry).count()
    }

    /// Where `entry` first appears.
    pub fn position(&self, entry: &str) -> Option<usize> {
        self.0.borrow().iter().position(|e| e == entry)
    }

    pub fn contains(&self, entry: &str) -> bool {
        self.0.borrow().iter().any(|e| e == entry)
    }

    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }
}

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

/// The generous failure guard every networked test arms first: an unref'd
/// timer (so it never keeps the loop alive) that panics if the test is
/// still running after 10 s (Node's
/// `setTimeout(common.mustNotCall(), ms).unref()`). It is never a
/// synchronisation point.
pub fn guard(what: &'static str) -> Timer {
    guard_secs(what, 10)
}

/// [`guard`] with a longer limit, for tests that do a lot of work on a
/// loaded machine (thousands of round trips).
pub fn guard_secs(what: &'static str, secs: u64) -> Timer {
    let t = timers::set_timeout(Duration::from_secs(secs), move || {
        panic!("{what}: still running after {secs} s (failure guard)")
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

/// Parse an IP address literal.
pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// True if this machine can bind `::1`.
pub fn has_ipv6() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

/// Deterministic test bytes: a pattern that does not repeat on a power of
/// two, so a lost or duplicated chunk shows up as a mismatch.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A TCP socket bound to `addr` that never listens. Connects to it are
/// refused (RST, so `ECONNREFUSED`), and the kernel will not hand its port
/// to anyone else: port-0 binds and outgoing connects pass it over, and an
/// explicit bind fails with `EADDRINUSE`. With `reuse` (`SO_REUSEADDR`)
/// the one exception is a listener that sets `SO_REUSEADDR` too, as
/// netloop's `listen` does: Linux lets it share a port with sockets that
/// are not listening, so the test's own server can take the port later.
fn bind_unlistened(addr: SocketAddr, reuse: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(reuse)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

fn local_port(socket: &Socket) -> u16 {
    socket
        .local_addr()
        .expect("local addr")
        .as_socket()
        .expect("an IP socket")
        .port()
}

/// A port held for as long as this value lives, by sockets bound to it
/// that never listen (see [`refused_port`]). Keep the value in the test
/// function (`let refused = refused_port();`) and pass `refused.port()`
/// into the loop's closures; moving the value itself into a closure would
/// free the port when that closure is dropped.
pub struct ReservedPort {
    sockets: Vec<Socket>,
    port: u16,
}

impl ReservedPort {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Free the port now and return it, for a test that binds it itself
    /// (a client's `local_port`). netloop binds a client's local address
    /// without `SO_REUSEADDR`, so the port cannot stay held through that
    /// bind; call this right before it.
    pub fn release(self) -> u16 {
        self.port
    }

    /// The same port on every address of `ips`, each given with whether
    /// its socket sets `SO_REUSEADDR`: the kernel picks the first one's
    /// port, and the others must be free at that port too (bounded
    /// retries otherwise).
    fn on(ips: &[(&str, bool)]) -> ReservedPort {
        'attempt: for _ in 0..50 {
            let (first, reuse) = ips[0];
            let s = bind_unlistened(SocketAddr::new(ip(first), 0), reuse)
                .unwrap_or_else(|e| panic!("bind {first}:0: {e}"));
            let port = local_port(&s);
            let mut sockets = vec![s];
            for &(other, reuse) in &ips[1..] {
                match bind_unlistened(SocketAddr::new(ip(other), port), reuse) {
                    Ok(s) => sockets.push(s),
                    Err(_) => continue 'attempt,
                }
            }
            return ReservedPort { sockets, port };
        }
        panic!("no port free on all of {ips:?}");
    }
}

/// A port on 127.0.0.1 with nothing listening, held until the returned
/// value is dropped: a connect to it is refused, and no other test can
/// start listening on it meanwhile (a port bound, noted and closed could
/// be taken by a parallel test, turning ECONNREFUSED into a connection).
pub fn refused_port() -> ReservedPort {
    ReservedPort::on(&[("127.0.0.1", false)])
}

/// A port refused on both 127.0.0.1 and `::1`, for connects to
/// `localhost` or to both families.
pub fn refused_port_v4_v6() -> ReservedPort {
    ReservedPort::on(&[("127.0.0.1", false), ("::1", false)])
}

/// A port refused on `::1` and kept free on 127.0.0.1 for the test's own
/// server: the 127.0.0.1 socket has `SO_REUSEADDR`, so only an explicit
/// bind by a listener that sets it too (netloop's `listen` does) can take
/// the port, and connects are refused until that listener exists.
pub fn ipv6_refused_ipv4_free() -> ReservedPort {
    ReservedPort::on(&[("::1", false), ("127.0.0.1", true)])
}

/// A port on 127.0.0.1 held for the test's own server, as by
/// [`ipv6_refused_ipv4_free`]: refused until that server listens, and
/// refused again once it closed, which makes probing it after the test
/// reliable (no parallel test can start listening there).
pub fn server_port() -> ReservedPort {
    ReservedPort::on(&[("127.0.0.1", true)])
}

/// [`server_port`] on both 127.0.0.1 and `::1`, for a test that puts a
/// server on each.
pub fn server_port_v4_v6() -> ReservedPort {
    ReservedPort::on(&[("127.0.0.1", true), ("::1", true)])
}

/// A port on 127.0.0.1 for a client's `local_port`: held until
/// [`ReservedPort::release`].
pub fn free_port() -> ReservedPort {
    refused_port()
}

/// A loopback listener whose accept queue is full (backlog 0 plus one
/// connection it never accepts): the kernel drops further SYNs, so a
/// connect to it stays pending without touching any other address. It
/// stands in for the unroutable address Node's connect-timeout test uses,
/// and lets the happy-eyeballs attempt timer fire deterministically.
pub struct BlackHole {
    sockets: Vec<Socket>,
    addr: SocketAddr,
}

impl BlackHole {
    pub fn new(ip_literal: &str) -> BlackHole {
        let listener = bind_unlistened(SocketAddr::new(ip(ip_literal), 0), false).unwrap();
        listener.listen(0).unwrap();
        let addr = listener.local_addr().unwrap().as_socket().unwrap();
        let filler = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
        filler
            .connect_timeout(&addr.into(), Duration::from_secs(5))
            .unwrap();
        BlackHole {
            sockets: vec![listener, filler],
            addr,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

/// A black hole on `::1` whose port is held free on 127.0.0.1 as by
/// [`ipv6_refused_ipv4_free`]: refused there until the test puts its own
/// server on it.
pub fn ipv6_black_hole_with_free_ipv4_port() -> BlackHole {
    for _ in 0..50 {
        let mut hole = BlackHole::new("::1");
        if let Ok(v4) = bind_unlistened(SocketAddr::new(ip("127.0.0.1"), hole.port()), true) {
            hole.sockets.push(v4);
            return hole;
        }
    }
    panic!("no port free on both ::1 and 127.0.0.1");
}

/// A unique Unix socket path under the temp dir (short enough for
/// `sun_path`), not yet existing.
pub fn temp_sock_path(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let p = std::env::temp_dir().join(format!("nl-{}-{tag}-{n}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// A lookup that answers with fixed addresses, as Node's tests pass a
/// `lookup` function to `net.connect`. Counts its calls.
pub fn fixed_lookup(addrs: &[&str], calls: Calls) -> Lookup {
    let addrs: Vec<IpAddr> = addrs.iter().map(|a| ip(a)).collect();
    Lookup::new(move |_host, _family, done| {
        calls.hit();
        done(Ok(addrs.clone()))
    })
}

/// Serializes the tests of a binary that both spawns processes and runs
/// netloop in-process (the root package's `node_interop`): hold the guard
/// for the whole test, so no child is forked while another test's sockets
/// close (see the module docs). A test that panicked while holding it does
/// not poison the others.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How [`record_with`] words an event.
#[derive(Clone, Copy, Default)]
pub struct RecordOpts {
    /// `end` and `finish` carry the socket's `ready_state()` then.
    pub ready_state: bool,
    /// `error` carries only the code (`client error ECONNRESET`), not the
    /// message: for errors whose wording depends on timing (`read
    /// ECONNRESET` or `connect ECONNRESET ...`).
    pub error_code_only: bool,
}

/// Record every lifecycle event of `s` into `log` as `who event`
/// (`lookup`, `connect`, `ready`, `end`, `finish`, `error <message>`,
/// `close <had_error>`), and fail the test if `close` comes twice or any
/// event comes after it (Node's `common.mustCall` discipline).
pub fn record(s: &NetSocket, log: &Log, who: &'static str) {
    record_with(s, log, who, RecordOpts::default());
}

/// [`record`] with the wording of `opts`.
pub fn record_with(s: &NetSocket, log: &Log, who: &'static str, opts: RecordOpts) {
    let closed = Rc::new(Cell::new(false));
    let entry = move |closed: &Rc<Cell<bool>>, log: &Log, what: String| {
        assert!(!closed.get(), "{who}: {what} after close");
        log.push(format!("{who} {what}"));
    };
    let (l, c) = (log.clone(), Rc::clone(&closed));
    s.on(NetSocket::LOOKUP, move |_, info| {
        let what = format!(
            "lookup {:?} {:?} {:?} {}",
            info.error.as_ref().map(|e| e.code().as_str()),
            info.address,
            info.family,
            info.host
        );
        entry(&c, &l, what)
    });
    let (l, c) = (log.clone(), Rc::clone(&closed));
    s.on(NetSocket::CONNECT, move |_, _| {
        entry(&c, &l, "connect".into())
    });
    let (l, c) = (log.clone(), Rc::clone(&closed));
    s.on(NetSocket::READY, move |_, _| entry(&c, &l, "ready".into()));
    let state = move |s: &NetSocket, name: &str| match opts.ready_state {
        true => format!("{name} {}", s.ready_state()),
        false => name.to_string(),
    };
    let (l, c) = (log.clone(), Rc::clone(&closed));
    s.on(NetSocket::END, move |s, _| entry(&c, &l, state(s, "end")));
    let (l, c) = (log.clone(), Rc::clone(&closed));
    s.on(NetSocket::FINISH, move |s, _| {
        entry(&c, &l, state(s, "finish"))
    });
    let (l, c) = (log.clone(), Rc::clone(&closed));
    s.on(NetSocket::ERROR, move |_, e| {
        let what = match opts.error_code_only {
            true => format!("error {}", e.code().as_str()),
            false => format!("error {e}"),
        };
        entry(&c, &l, what)
    });
    let l = log.clone();
    s.on(NetSocket::CLOSE, move |_, had_error| {
        assert!(!closed.replace(true), "{who}: a second close");
        l.push(format!("{who} close {had_error}"));
    });
}

/// A server on 127.0.0.1 port 0 that stops listening after its first
/// connection (so it never keeps the loop alive on its own) and hands that
/// connection to `on_connection`; returns the server and its port.
pub fn with_server(mut on_connection: impl FnMut(&NetSocket) + 'static) -> (Server, u16) {
    let server = netloop::net::create_server(move |server, sock: &NetSocket| {
        server.close();
        on_connection(sock);
    });
    let port = listen_local(&server);
    (server, port)
}

/// Assert an error's code and its message in Node's words.
#[track_caller]
pub fn assert_error(err: &Error, code: ErrorCode, message: &str) {
    assert_eq!(err.code(), code, "{err}");
    assert_eq!(err.to_string(), message);
}

/// The descriptors open now, by number: a test compares the set after its
/// loop with the set before, so a descriptor that something else in the
/// process closed meanwhile (a finished test's loop, a pool thread's last
/// reference to a waker) does not look like one left open.
pub fn fd_set() -> std::collections::BTreeSet<String> {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect()
}

/// Descriptors in `now` that were not open `before`.
pub fn left_open(before: &std::collections::BTreeSet<String>) -> Vec<String> {
    fd_set().difference(before).cloned().collect()
}
