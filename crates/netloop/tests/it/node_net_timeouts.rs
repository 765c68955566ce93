//! Idle timeouts, ported from Node's `test/parallel` (and
//! `test/internet/test-net-connect-timeout`): `set_timeout` emits
//! `timeout` after an idle period and nothing else (the socket stays
//! open), reads and writes re-arm it, `Duration::ZERO` turns it off, it
//! never keeps the loop alive, and `ConnectOptions::timeout` arms it
//! before connecting. Durations are short, but no assertion depends on
//! timing: a test either waits for the `timeout` event or for a later
//! event that is not a timer.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use crate::util::{guard, keep_alive, listen_local, BlackHole, Calls, Log};
use netloop::net::{self, ConnectOptions, ReadyState, Server, Socket};
use netloop::timers::set_timeout;

/// test-net-socket-timeout: a 1 ms timeout set while connecting fires once
/// the connection is idle; a `set_timeout` on the destroyed socket returns
/// it and never fires.
#[test]
fn node_net_socket_timeout() {
    let timeouts = Calls::new();
    let t2 = timeouts.clone();
    netloop::run(move || {
        let _g = guard("socket-timeout");
        let server = Server::new();
        let port = listen_local(&server);
        let socket = net::connect(port, "127.0.0.1")?;
        let same = socket.set_timeout(Duration::from_millis(1)) == &socket;
        assert!(same);
        socket.once(Socket::TIMEOUT, move |s, _| {
            t2.hit();
            s.destroy();
            assert!(s.set_timeout(Duration::from_millis(1)) == s);
            s.on(Socket::TIMEOUT, |_, _| panic!("timeout after destroy"));
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(timeouts.get(), 1);
}

/// test-net-settimeout: a timeout disabled right after it was set
/// (`Duration::ZERO`) never fires, even well past its delay.
#[test]
fn node_net_settimeout() {
    const T: Duration = Duration::from_millis(50);
    let data = Calls::new();
    let d2 = data.clone();
    netloop::run(move || {
        let _g = guard("settimeout");
        let server = net::create_server(|_, c: &Socket| {
            c.write("hello");
        });
        let port = listen_local(&server);
        let socket = net::connect(port, "localhost")?;
        assert!(socket.set_timeout(T) == &socket);
        socket.on(Socket::TIMEOUT, |_, _| {
            panic!("socket timeout event is not expected to fire")
        });
        socket.set_timeout(Duration::ZERO);
        socket.on(Socket::DATA, move |s, _| {
            d2.hit();
            // Twice the disabled delay with the socket idle: still nothing.
            let (s, server) = (s.clone(), server.clone());
            set_timeout(T * 2, move || {
                s.destroy();
                server.close();
            });
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(data.get(), 1);
}

/// test-net-timeout-no-handle: a socket that never connected still emits
/// `timeout` (it has no fd at all). The socket timer is unref'd, so a
/// reffed guard keeps the loop alive until it fires.
#[test]
fn node_net_timeout_no_handle() {
    let timeouts = Calls::new();
    let t2 = timeouts.clone();
    netloop::run(move || {
        let alive = keep_alive("timeout-no-handle");
        let socket = Socket::new();
        socket.set_timeout(Duration::from_millis(50));
        socket.on(Socket::TIMEOUT, move |s, _| {
            assert_eq!(s.ready_state(), ReadyState::Closed);
            assert!(s.address().is_none());
            t2.hit();
            alive.cancel();
        });
        socket.on(Socket::CONNECT, |_, _| panic!("must not connect"));
        Ok(())
    })
    .unwrap();
    assert_eq!(timeouts.get(), 1);
}

/// test-net-can-reset-timeout: a server socket times out once, writes on
/// the `timeout` event (the socket is still open: `timeout` only
/// notifies), and that write re-arms the timer; the client answers with
/// `end` and both sides finish cleanly.
#[test]
fn node_net_can_reset_timeout() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("can-reset-timeout");
        let l1 = l.clone();
        let server = net::create_server(move |_, stream: &Socket| {
            stream.set_timeout(Duration::from_millis(100));
            stream.on(Socket::DATA, |_, _| {});
            let l2 = l1.clone();
            stream.once(Socket::TIMEOUT, move |s, _| {
                assert!(!s.destroyed());
                assert_eq!(s.ready_state(), ReadyState::Open);
                l2.push("timeout");
                // Try to reset the timeout.
                s.write("WHAT.");
            });
            let l2 = l1.clone();
            stream.on(Socket::END, move |s, _| {
                l2.push("server side end");
                s.end();
            });
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        c.on(Socket::DATA, |c, d| {
            assert_eq!(d, b"WHAT.");
            c.end();
        });
        c.on(Socket::END, move |_, _| {
            l.push("client side end");
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        ["timeout", "server side end", "client side end"]
    );
}

/// Re-arming by reads and by writes, each on its own (the rule
/// test-net-can-reset-timeout relies on: Node refreshes the idle timer on
/// every read and write). A fired timer stays quiet until there is
/// activity; then it fires again after a new idle period. If either kind
/// of activity did not re-arm it, the third `timeout` would never come
/// and the guard would fail the test.
#[test]
fn node_net_can_reset_timeout_reads_and_writes() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("timeout re-armed by reads and writes");
        let server_sock: Rc<RefCell<Option<Socket>>> = Rc::default();
        let ss = server_sock.clone();
        let server = net::create_server(move |server, s: &Socket| {
            server.close();
            s.on(Socket::DATA, |_, _| {});
            *ss.borrow_mut() = Some(s.clone());
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        c.on(Socket::DATA, |_, _| {});
        c.set_timeout(Duration::from_millis(20));
        let n = Rc::new(Cell::new(0u32));
        c.on(Socket::TIMEOUT, move |c, _| {
            n.set(n.get() + 1);
            match n.get() {
                1 => {
                    // Activity by reading only: the peer writes to us.
                    l.push("timeout 1: peer writes");
                    server_sock.borrow().as_ref().unwrap().write("x");
                }
                2 => {
                    // Activity by writing only.
                    l.push("timeout 2: we write");
                    c.write("y");
                }
                _ => {
                    l.push("timeout 3: done");
                    c.destroy();
                    if let Some(s) = server_sock.borrow_mut().take() {
                        s.destroy();
                    }
                }
            }
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        [
            "timeout 1: peer writes",
            "timeout 2: we write",
            "timeout 3: done"
        ]
    );
}

/// test-net-connect-timeout (test/internet): `ConnectOptions::timeout`
/// arms the idle timer before connecting, so a connect that never
/// completes gets `timeout` while still `opening`; the socket is not
/// destroyed by it, and destroying it then closes it without `connect` or
/// `error`. Node connects to an unroutable address; a full loopback
/// listener stands in for it.
#[test]
fn node_net_connect_timeout() {
    let log = Log::new();
    let l = log.clone();
    let hole = BlackHole::new("127.0.0.1");
    let port = hole.port();
    netloop::run(move || {
        let _g = guard("connect-timeout");
        let socket = net::connect_with(ConnectOptions {
            port,
            host: Some("127.0.0.1".into()),
            timeout: Some(Duration::from_millis(50)),
            ..ConnectOptions::default()
        })?;
        let l1 = l.clone();
        socket.on(Socket::TIMEOUT, move |s, _| {
            assert!(s.connecting());
            assert_eq!(s.ready_state(), ReadyState::Opening);
            assert!(!s.destroyed());
            l1.push("timeout");
            s.destroy();
        });
        socket.on(Socket::CONNECT, |_, _| panic!("must not connect"));
        socket.on(Socket::ERROR, |_, e| panic!("no error expected: {e}"));
        socket.on(Socket::CLOSE, move |_, h| l.push(format!("close {h}")));
        Ok(())
    })
    .unwrap();
    drop(hole);
    assert_eq!(log.entries(), ["timeout", "close false"]);
}
