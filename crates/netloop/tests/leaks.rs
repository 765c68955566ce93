//! Leak tests: thousands of connections made and closed, and a thousand
//! refused connects, must leave no descriptor open and nothing keeping the
//! loop alive.
//!
//! The descriptor count (`/proc/self/fd`) is process-wide, so these tests
//! live in a binary of their own and hold [`util::serial`] for their whole
//! run: nothing else in the process opens or closes descriptors meanwhile.
//! "Nothing keeps the loop alive" is checked the way Node's tests check
//! `process._getActiveHandles()`: once the work is done and the server
//! closed, `netloop::run` must return on its own (an unref'd failure guard
//! panics if it does not).

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use netloop::net::{self, Server, Socket};
use netloop::ErrorCode;
use util::{fd_set, guard_secs, left_open, listen_local, refused_port, serial, Calls};

/// Connect/echo/close cycles. The issue asks for 10,000, which a debug
/// build on two shared cores does in about two seconds;
/// `NETLOOP_LEAK_CYCLES` sets fewer for slow runs (under valgrind, about
/// 50 times slower).
fn cycles() -> usize {
    std::env::var("NETLOOP_LEAK_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}
/// Connections in flight at once.
const CONCURRENCY: usize = 16;
/// Refused connects, as Node's `test-net-connect-econnrefused` makes
/// (there in rounds of 50).
const REFUSED: usize = 1_000;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// How a cycle closes its client, in turn: a clean end, a destroy, and a
/// reset, so that every way out of a connection is counted.
#[derive(Clone, Copy)]
enum Close {
    End,
    Destroy,
    Reset,
}

/// What the cycles saw.
#[derive(Default)]
struct Tally {
    cycles: usize,
    started: Cell<usize>,
    echoed: Cell<usize>,
    client_closes: Cell<usize>,
    server_closes: Cell<usize>,
    /// Descriptors right after the server started listening.
    listening_fds: Cell<usize>,
    /// Descriptors once every connection of both sides had closed.
    final_fds: Cell<Option<usize>>,
}

/// Start cycle number `tally.started` if any are left: connect, write one
/// message, wait for its echo, close; the next cycle starts from `close`.
fn start_cycle(port: u16, server: Server, tally: Rc<Tally>) {
    let n = tally.started.get();
    if n == tally.cycles {
        return;
    }
    tally.started.set(n + 1);
    let how = [Close::End, Close::Destroy, Close::Reset][n % 3];
    let message = format!("cycle {n}");
    let want = message.len();
    let client = net::connect(port, "127.0.0.1").expect("connect to 127.0.0.1");
    client.write(message);
    let got = Rc::new(Cell::new(0usize));
    let t = Rc::clone(&tally);
    client.on(Socket::DATA, move |c, chunk| {
        got.set(got.get() + chunk.len());
        if got.get() == want {
            t.echoed.set(t.echoed.get() + 1);
            match how {
                Close::End => c.end(),
                Close::Destroy => c.destroy(),
                Close::Reset => c.reset_and_destroy(),
            };
        }
    });
    // A reset can race the server's own end: either side may see it.
    client.on(Socket::ERROR, |_, e| {
        assert!(
            matches!(e.code(), ErrorCode::ECONNRESET | ErrorCode::EPIPE),
            "unexpected client error: {e}"
        );
    });
    client.on(Socket::CLOSE, move |_, _| {
        tally.client_closes.set(tally.client_closes.get() + 1);
        start_cycle(port, server.clone(), Rc::clone(&tally));
        finish_if_done(&server, &tally);
    });
}

/// Once every cycle's two sockets have closed: note the descriptors and
/// close the server, which should leave the loop with nothing alive.
fn finish_if_done(server: &Server, tally: &Tally) {
    if tally.client_closes.get() == tally.cycles
        && tally.server_closes.get() == tally.cycles
        && tally.final_fds.get().is_none()
    {
        tally.final_fds.set(Some(open_fds()));
        assert_eq!(server.connections(), 0);
        server.close();
    }
}

#[test]
fn ten_thousand_echo_cycles_leave_no_descriptor_or_handle_behind() {
    let _serial = serial();
    let before = fd_set();
    let tally = Rc::new(Tally {
        cycles: cycles(),
        ..Tally::default()
    });
    let t = Rc::clone(&tally);
    netloop::run(move || {
        let _g = guard_secs("echo cycles", 120);
        let server_tally = Rc::clone(&t);
        let server_cell: Rc<RefCell<Option<Server>>> = Rc::default();
        let sc = Rc::clone(&server_cell);
        let server = net::create_server(move |_, sock: &Socket| {
            sock.pipe(sock);
            sock.on(Socket::ERROR, |_, _| {}); // the client's reset
            let (t, sc) = (Rc::clone(&server_tally), Rc::clone(&sc));
            sock.on(Socket::CLOSE, move |_, _| {
                t.server_closes.set(t.server_closes.get() + 1);
                let server = sc.borrow().clone();
                if let Some(server) = server {
                    finish_if_done(&server, &t);
                }
            });
        });
        let port = listen_local(&server);
        t.listening_fds.set(open_fds());
        *server_cell.borrow_mut() = Some(server.clone());
        // The server's `close` drops the cell's clone (no cycle left).
        let sc = Rc::clone(&server_cell);
        server.on(Server::CLOSE, move |_, _| {
            sc.borrow_mut().take();
        });
        for _ in 0..CONCURRENCY {
            start_cycle(port, server.clone(), Rc::clone(&t));
        }
        Ok(())
    })
    .expect("the loop ran");
    let n = tally.cycles;
    assert_eq!(tally.echoed.get(), n);
    assert_eq!(tally.client_closes.get(), n);
    assert_eq!(tally.server_closes.get(), n);
    assert_eq!(
        tally.final_fds.get(),
        Some(tally.listening_fds.get()),
        "descriptors left open by {n} closed connections"
    );
    assert_eq!(
        left_open(&before),
        Vec::<String>::new(),
        "descriptors left open after the loop"
    );
}

#[test]
fn node_net_connect_econnrefused_leaves_no_descriptor_behind() {
    // Node's test-net-connect-econnrefused: connects to a refused port all
    // fail with ECONNREFUSED and leave no handle; here 1,000 of them, 50
    // in flight at a time, and the descriptors are counted too.
    let _serial = serial();
    let refused = refused_port();
    let port = refused.port();
    let before = fd_set();
    let errors = Calls::new();
    let closes = Calls::new();
    let (e, c) = (errors.clone(), closes.clone());
    netloop::run(move || {
        let _g = guard_secs("refused connects", 60);
        let started = Rc::new(Cell::new(0usize));
        for _ in 0..50 {
            connect_refused(port, Rc::clone(&started), e.clone(), c.clone());
        }
        Ok(())
    })
    .expect("every error had a listener");
    assert_eq!(errors.get(), REFUSED);
    assert_eq!(closes.get(), REFUSED);
    assert_eq!(
        left_open(&before),
        Vec::<String>::new(),
        "descriptors left open by refused connects"
    );
}

/// One refused connect; its `close` starts the next while any are left.
fn connect_refused(port: u16, started: Rc<Cell<usize>>, errors: Calls, closes: Calls) {
    if started.get() == REFUSED {
        return;
    }
    started.set(started.get() + 1);
    let sock = net::connect(port, "127.0.0.1").expect("connect arguments are valid");
    let e = errors.clone();
    sock.on(Socket::ERROR, move |_, err| {
        assert_eq!(err.code(), ErrorCode::ECONNREFUSED, "{err}");
        e.hit();
    });
    sock.on(Socket::CLOSE, move |_, had_error| {
        assert!(had_error);
        closes.hit();
        connect_refused(port, Rc::clone(&started), errors.clone(), closes.clone());
    });
}

/// Sets its flag when dropped: shows whether a closure was freed.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// A listener that captures its own socket (a cycle: socket -> listener
/// -> socket) is freed when `run` returns, as `run`'s documentation
/// promises ("every queued callback and listener dropped, so `Rc` cycles
/// through closures are broken"), also when the socket closed before the
/// loop ended and so left the poller's table: the loop keeps a list of the
/// handles teardown must reach that way. valgrind found five tests of
/// `tests/it` leaking through such cycles before (RELIABILITY.md).
#[test]
fn listeners_of_a_socket_closed_before_the_end_are_dropped_when_run_returns() {
    let _serial = serial();
    let freed = Rc::new(Cell::new(false));
    let flag = DropFlag(Rc::clone(&freed));
    netloop::run(move || {
        let _g = guard_secs("a closed socket's listeners", 10);
        let server = net::create_server(|server, sock: &Socket| {
            sock.destroy();
            server.close();
        });
        let port = listen_local(&server);
        let client = net::connect(port, "127.0.0.1")?;
        client.on(Socket::ERROR, |_, _| {});
        let me = client.clone();
        client.on(Socket::CLOSE, move |_, _| {
            let _ = (&me, &flag);
        });
        client.resume();
        Ok(())
    })
    .expect("the loop ran");
    assert!(freed.get(), "the listener (and its socket) outlived run");
}

/// The same for a server closed before the loop ended, whose `close`
/// listener captures the server itself.
#[test]
fn listeners_of_a_server_closed_before_the_end_are_dropped_when_run_returns() {
    let _serial = serial();
    let freed = Rc::new(Cell::new(false));
    let flag = DropFlag(Rc::clone(&freed));
    netloop::run(move || {
        let server = net::create_server(|_, _| {});
        listen_local(&server);
        let me = server.clone();
        server.on(netloop::net::Server::CLOSE, move |_, _| {
            let _ = (&me, &flag);
        });
        server.close();
        Ok(())
    })
    .expect("the loop ran");
    assert!(freed.get(), "the listener (and its server) outlived run");
}
