//! Half-open connections, ported from Node's `test/parallel`:
//! `allow_half_open` on either end, `ready_state` through a connection's
//! life, `finish`, and writing after our `end()` or after the peer's FIN.
//! Each test names the Node test it ports; event orders were checked
//! against Node 20.

use crate::util::{guard, listen_local, Calls, Log};
use netloop::net::{
    self, ConnectOptions, ReadyState, Server, ServerOptions, Socket, SocketOptions,
};
use netloop::next_tick;
use netloop::timers::set_immediate;

/// test-net-allow-half-open: with `allow_half_open` off (the default) a
/// client whose peer ended ends its own side; it is not destroyed before
/// that shutdown (`end` then `finish`, both while alive), and `close`
/// comes once.
#[test]
fn node_net_allow_half_open() {
    let log = Log::new();
    let (l, l2, l3) = (log.clone(), log.clone(), log.clone());
    let connections = Calls::new();
    let conn = connections.clone();
    netloop::run(move || {
        let _g = guard("allow-half-open");
        let server = net::create_server(move |_, s: &Socket| {
            conn.hit();
            s.end_with(vec![0u8; 1024]);
        });
        let port = listen_local(&server);
        let socket = Socket::new();
        socket.connect(port, "127.0.0.1")?;
        // Node calls resume() to read and discard; netloop never discards
        // bytes for want of a listener, so count them instead.
        let got = std::rc::Rc::new(std::cell::Cell::new(0usize));
        let g = got.clone();
        socket.on(Socket::DATA, move |_, d| g.set(g.get() + d.len()));
        let g = got.clone();
        socket.on(Socket::END, move |s, _| {
            assert_eq!(g.get(), 1024);
            l.push(format!("end {}", s.ready_state()));
            let s = s.clone();
            let server = server.clone();
            let l = l.clone();
            next_tick(move || {
                // Not destroyed straight away: our FIN is still to go.
                assert!(!s.destroyed());
                l.push("end+tick alive");
                server.close();
            });
        });
        socket.on(Socket::FINISH, move |s, _| {
            assert!(!s.destroyed());
            l2.push(format!("finish {}", s.ready_state()));
        });
        socket.on(Socket::CLOSE, move |s, had_error| {
            l3.push(format!("close {had_error} {}", s.ready_state()));
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(connections.get(), 1);
    assert_eq!(
        log.entries(),
        [
            "end writeOnly",
            "end+tick alive",
            "finish closed",
            "close false closed"
        ]
    );
}

/// test-net-connect-options-allowhalfopen: six clients with
/// `allow_half_open`, made every way a socket can be made, against a
/// half-open server that ends at once. Each client sees `end`, is then no
/// longer readable but still writable, writes (accepted: `true`), ends,
/// and closes once; the server sees each client's data and FIN once.
#[test]
fn node_net_connect_options_allowhalfopen() {
    const CLIENTS: usize = 6;
    let server_data = Calls::new();
    let server_end = Calls::new();
    let client_connect = Calls::new();
    let client_end = Calls::new();
    let client_close = Calls::new();
    let server_close = Calls::new();
    let received = Log::new();
    let (sd, se, cc, ce, ccl, scl, rcv) = (
        server_data.clone(),
        server_end.clone(),
        client_connect.clone(),
        client_end.clone(),
        client_close.clone(),
        server_close.clone(),
        received.clone(),
    );
    netloop::run(move || {
        let _g = guard("connect-options-allowhalfopen");
        let server = Server::with_options(ServerOptions {
            allow_half_open: true,
            ..ServerOptions::default()
        });
        let ends = Calls::new();
        server.on(Server::CONNECTION, move |server, s| {
            s.resume();
            let (sd, rcv) = (sd.clone(), rcv.clone());
            s.on(Socket::DATA, move |_, d| {
                sd.hit();
                rcv.push(String::from_utf8_lossy(d).into_owned());
            });
            let (se, ends, server) = (se.clone(), ends.clone(), server.clone());
            s.on(Socket::END, move |_, _| {
                se.hit();
                ends.hit();
                if ends.get() == CLIENTS {
                    server.close();
                }
            });
            s.end();
        });
        server.on(Server::CLOSE, move |_, _| scl.hit());
        let port = listen_local(&server);
        let opts = || ConnectOptions {
            port,
            host: Some("127.0.0.1".into()),
            allow_half_open: true,
            ..ConnectOptions::default()
        };
        // net.connect(opts), net.createConnection(opts) and
        // new net.Socket(opts).connect(opts), with the `connect` listener
        // added either way: all are connect_with here.
        let mut clients = Vec::new();
        for _ in 0..4 {
            clients.push(net::connect_with(opts())?);
        }
        for _ in 0..2 {
            let s = Socket::with_options(SocketOptions {
                allow_half_open: true,
                ..SocketOptions::default()
            });
            s.connect_with(opts())?;
            clients.push(s);
        }
        for (i, client) in clients.iter().enumerate() {
            let index = i + 1;
            let (cc, ce, ccl) = (cc.clone(), ce.clone(), ccl.clone());
            client.on(Socket::CONNECT, move |c, _| {
                cc.hit();
                c.resume();
                let ce = ce.clone();
                c.on(Socket::END, move |c, _| {
                    ce.hit();
                    let c = c.clone();
                    // Node waits 50 ms; a later loop iteration is enough.
                    set_immediate(move || {
                        // Half-open: not readable any more, still writable.
                        assert_eq!(c.ready_state(), ReadyState::WriteOnly);
                        assert!(c.write(index.to_string()));
                        c.end();
                    });
                });
            });
            client.on(Socket::CLOSE, move |_, had_error| {
                assert!(!had_error);
                ccl.hit();
            });
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(client_connect.get(), CLIENTS);
    assert_eq!(client_end.get(), CLIENTS);
    assert_eq!(client_close.get(), CLIENTS);
    assert_eq!(server_data.get(), CLIENTS);
    assert_eq!(server_end.get(), CLIENTS);
    assert_eq!(server_close.get(), 1);
    let mut got = received.entries();
    got.sort();
    assert_eq!(got, ["1", "2", "3", "4", "5", "6"]);
}

/// The `readyState` walk of a connection whose client ends first against a
/// half-open server that keeps writing (Node 20's sequence for the same
/// script): `opening` while connecting, `open`, `readOnly` after our
/// `end()`, the server `writeOnly` after the client's FIN, and `closed` on
/// both ends at `close`. Ported with test-net-connect-buffer's `opening`
/// checks.
#[test]
fn node_net_socket_ready_state() {
    let log = Log::new();
    let (l, l2) = (log.clone(), log.clone());
    netloop::run(move || {
        let _g = guard("readyState");
        let server = Server::with_options(ServerOptions {
            allow_half_open: true,
            ..ServerOptions::default()
        });
        server.on(Server::CONNECTION, move |server, s| {
            l.push(format!("srv conn {}", s.ready_state()));
            let l1 = l.clone();
            s.on(Socket::DATA, move |_, d| {
                l1.push(format!("srv data {}", String::from_utf8_lossy(d)))
            });
            let l1 = l.clone();
            s.on(Socket::END, move |s, _| {
                l1.push(format!("srv end {}", s.ready_state()));
                let (s, l1) = (s.clone(), l1.clone());
                set_immediate(move || {
                    l1.push(format!("srv later {}", s.ready_state()));
                    let l2 = l1.clone();
                    s.write_with("late", move |_, err| {
                        l2.push(format!("srv write cb {:?}", err.map(|e| e.code())))
                    });
                    s.end();
                    l1.push(format!("srv after end {}", s.ready_state()));
                });
            });
            let l1 = l.clone();
            s.on(Socket::FINISH, move |s, _| {
                l1.push(format!("srv finish {}", s.ready_state()))
            });
            let (l1, server) = (l.clone(), server.clone());
            s.on(Socket::CLOSE, move |s, h| {
                l1.push(format!("srv close {h} {}", s.ready_state()));
                server.close();
            });
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        l2.push(format!("c {}", c.ready_state()));
        let l = l2.clone();
        c.on(Socket::CONNECT, move |c, _| {
            l.push(format!("c connect {}", c.ready_state()));
            c.end_with("hi");
            l.push(format!("c after end {}", c.ready_state()));
        });
        let l = l2.clone();
        c.on(Socket::DATA, move |_, d| {
            l.push(format!("c data {}", String::from_utf8_lossy(d)))
        });
        let l = l2.clone();
        c.on(Socket::END, move |c, _| {
            l.push(format!("c end {}", c.ready_state()))
        });
        let l = l2.clone();
        c.on(Socket::FINISH, move |c, _| {
            l.push(format!("c finish {}", c.ready_state()))
        });
        c.on(Socket::CLOSE, move |c, h| {
            l2.push(format!("c close {h} {}", c.ready_state()))
        });
        Ok(())
    })
    .unwrap();
    // Node 20 prints exactly this for the same script (the client's
    // `finish` and the server's first events are on different sockets, so
    // only each socket's own order is fixed).
    let client = log.starting_with("c ");
    let srv = log.starting_with("srv ");
    assert_eq!(
        client,
        [
            "c opening",
            "c connect open",
            "c after end readOnly",
            "c finish readOnly",
            "c data late",
            "c end closed",
            "c close false closed",
        ]
    );
    assert_eq!(
        srv,
        [
            "srv conn open",
            "srv data hi",
            "srv end writeOnly",
            "srv later writeOnly",
            "srv after end closed",
            "srv write cb None",
            "srv finish closed",
            "srv close false closed",
        ]
    );
}

/// test-net-write-after-end-nt: a write after our own `end()`, once the
/// peer's FIN came too (in the `end` listener), fails with `EPIPE` "This
/// socket has been ended by the other party": `write` returns false, the
/// callback gets the error, and the `error` event comes on a later tick,
/// never inside `write`.
#[test]
fn node_net_write_after_end_nt() {
    let log = Log::new();
    let l = log.clone();
    let connections = Calls::new();
    let conn = connections.clone();
    netloop::run(move || {
        let _g = guard("write-after-end-nt");
        let server = net::create_server(move |_, s: &Socket| {
            conn.hit();
            s.end();
        });
        let port = listen_local(&server);
        let client = net::connect(port, "127.0.0.1")?;
        client.on(Socket::CONNECT, move |client, _| {
            let has_error = std::rc::Rc::new(std::cell::Cell::new(false));
            let (h, l1, server) = (has_error.clone(), l.clone(), server.clone());
            client.on(Socket::ERROR, move |_, err| {
                h.set(true);
                l1.push(format!("error {} {}", err.code().as_str(), err));
                server.close();
            });
            let l1 = l.clone();
            client.on(Socket::END, move |client, _| {
                let l2 = l1.clone();
                let ret = client.write_with("hello", move |_, err| {
                    let err = err.expect("the write must fail");
                    l2.push(format!("cb {} {err}", err.code().as_str()));
                });
                assert!(!ret);
                assert!(!has_error.get(), "the error must come on a later tick");
                l1.push("end");
            });
            let l1 = l.clone();
            client.on(Socket::CLOSE, move |_, h| l1.push(format!("close {h}")));
            client.end();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(connections.get(), 1);
    assert_eq!(
        log.entries(),
        [
            "end",
            "cb EPIPE This socket has been ended by the other party",
            "error EPIPE This socket has been ended by the other party",
            "close true"
        ]
    );
}

/// Node's `writeAfterFIN` without our own `end()`: with `allow_half_open`
/// off, the socket ends its side on the tick after `end`; a write after
/// that tick is `EPIPE` too (same Node test, the case the brief calls
/// "write after the peer's FIN").
#[test]
fn node_net_write_after_end_nt_after_auto_end() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("write after auto end");
        let server = net::create_server(|_, s: &Socket| {
            s.end();
        });
        let port = listen_local(&server);
        let client = net::connect(port, "127.0.0.1")?;
        let l1 = l.clone();
        client.on(Socket::ERROR, move |_, err| {
            l1.push(format!("error {} {}", err.code().as_str(), err));
            server.close();
        });
        let l1 = l.clone();
        client.on(Socket::END, move |c, _| {
            l1.push(format!("end {}", c.ready_state()));
            let (c, l2) = (c.clone(), l1.clone());
            // The auto end() runs on the next tick; write after it.
            next_tick(move || {
                next_tick(move || {
                    l2.push(format!("later {}", c.ready_state()));
                    let l3 = l2.clone();
                    let ret = c.write_with("x", move |_, err| {
                        l3.push(format!("cb {:?}", err.map(|e| e.code().as_str())))
                    });
                    l2.push(format!("ret {ret}"));
                });
            });
        });
        client.on(Socket::CLOSE, move |_, h| l.push(format!("close {h}")));
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        [
            "end writeOnly",
            "later closed",
            "ret false",
            "cb Some(\"EPIPE\")",
            "error EPIPE This socket has been ended by the other party",
            "close true"
        ]
    );
}

/// test-net-writable: inside the `end` listener a socket without
/// `allow_half_open` is still writable (its own end() comes a tick later),
/// so a write there is accepted, with no error.
#[test]
fn node_net_writable() {
    let log = Log::new();
    let l = log.clone();
    let connections = Calls::new();
    let conn = connections.clone();
    netloop::run(move || {
        let _g = guard("writable");
        let server = net::create_server(move |server, s: &Socket| {
            conn.hit();
            server.close();
            s.end();
        });
        let port = listen_local(&server);
        let socket = net::connect(port, "localhost")?;
        let l1 = l.clone();
        socket.on(Socket::END, move |s, _| {
            assert_eq!(s.ready_state(), ReadyState::WriteOnly);
            let l2 = l1.clone();
            s.write_with("hello world", move |_, err| {
                l2.push(format!("write cb {:?}", err.map(|e| e.code())))
            });
            l1.push("end");
        });
        socket.on(Socket::ERROR, |_, e| panic!("unexpected error {e}"));
        socket.on(Socket::CLOSE, move |_, h| l.push(format!("close {h}")));
        Ok(())
    })
    .unwrap();
    assert_eq!(connections.get(), 1);
    assert_eq!(log.entries(), ["end", "write cb None", "close false"]);
}

/// test-net-write-after-close: once both sides are done the server socket
/// is destroyed; a write to it fails in its callback without an `error`
/// event. The peer ended a socket that is not half-open, so Node's
/// `writeAfterFIN` answers, before the destroyed check:
///
/// ```text
/// // node: serverSocket.write('test', (err) => console.log(err.code, '|', err.message))
/// // prints: EPIPE | This socket has been ended by the other party
/// ```
#[test]
fn node_net_write_after_close() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("write-after-close");
        let server_socket: std::rc::Rc<std::cell::RefCell<Option<Socket>>> = Default::default();
        let ss = server_socket.clone();
        let server = net::create_server(move |_, s: &Socket| {
            s.resume();
            s.on(Socket::ERROR, |_, e| panic!("no error event expected: {e}"));
            *ss.borrow_mut() = Some(s.clone());
        });
        let port = listen_local(&server);
        let client = net::connect(port, "127.0.0.1")?;
        client.on(Socket::CONNECT, move |c, _| {
            let (server_socket, server, l) = (server_socket.clone(), server.clone(), l.clone());
            c.on(Socket::END, move |_, _| {
                let s = server_socket.borrow().clone().expect("connection");
                assert!(s.destroyed());
                let (server, l) = (server.clone(), l.clone());
                s.write_with("test", move |_, err| {
                    let err = err.expect("write to a destroyed socket fails");
                    l.push(format!("cb {} {err}", err.code().as_str()));
                    server.close();
                });
            });
            c.end();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        ["cb EPIPE This socket has been ended by the other party"]
    );
}

/// Writing after our own `end()` (Node's `Writable` rule) with the
/// default options, while the peer reads on and never ends: the callback
/// and an `error` event get ERR_STREAM_WRITE_AFTER_END "write after end",
/// then `close(true)`.
#[test]
fn node_net_write_after_end() {
    let events = Log::new();
    netloop::run(|| {
        let _guard = guard("node_net_write_after_end");
        let server = net::create_server(|_, s: &Socket| {
            s.resume();
        });
        server.listen(0, "127.0.0.1")?;
        let d = net::connect(server.address().unwrap().port(), "127.0.0.1")?;
        let ev = events.clone();
        d.on(Socket::CONNECT, move |d, _| {
            d.end();
            let ev2 = ev.clone();
            let ret = d.write_with("y", move |_, err| {
                let e = err.expect("an error");
                ev2.push(format!("cb {} {}", e.code().as_str(), e.message()));
            });
            ev.push(format!("returned {ret}"));
        });
        let ev = events.clone();
        d.on(Socket::ERROR, move |_, e| {
            ev.push(format!("error {} {}", e.code().as_str(), e.message()))
        });
        let ev = events.clone();
        d.on(Socket::CLOSE, move |_, had_error| {
            ev.push(format!("close {had_error}"));
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        events.entries(),
        vec![
            "returned false",
            "cb ERR_STREAM_WRITE_AFTER_END write after end",
            "error ERR_STREAM_WRITE_AFTER_END write after end",
            "close true",
        ]
    );
}

/// A write after our own `end()` while the peer is still open, on an
/// `allow_half_open` socket whose peer ends in turn, is
/// `ERR_STREAM_WRITE_AFTER_END` "write after end" too (Node 20: the
/// socket is destroyed inside `write`; the callback, then `error`, both on
/// later ticks and before a tick queued after `write`, then `close(true)`).
#[test]
fn node_net_write_after_end_allow_half_open() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("write after end");
        let server = net::create_server(|_, s: &Socket| {
            s.resume();
            s.on(Socket::END, |s, _| {
                s.end();
            });
        });
        let port = listen_local(&server);
        let c = net::connect_with(ConnectOptions {
            port,
            host: Some("127.0.0.1".into()),
            allow_half_open: true,
            ..ConnectOptions::default()
        })?;
        let l1 = l.clone();
        c.on(Socket::CONNECT, move |c, _| {
            c.end();
            let l2 = l1.clone();
            let ret = c.write_with("x", move |_, err| {
                let err = err.expect("must fail");
                l2.push(format!("cb {} {err}", err.code().as_str()));
            });
            l1.push(format!("ret {ret} destroyed {}", c.destroyed()));
            let l2 = l1.clone();
            next_tick(move || l2.push("tick"));
        });
        let l1 = l.clone();
        c.on(Socket::ERROR, move |_, e| {
            l1.push(format!("error {} {e}", e.code().as_str()))
        });
        c.on(Socket::CLOSE, move |_, h| {
            l.push(format!("close {h}"));
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        [
            "ret false destroyed true",
            "cb ERR_STREAM_WRITE_AFTER_END write after end",
            "error ERR_STREAM_WRITE_AFTER_END write after end",
            "tick",
            "close true"
        ]
    );
}

/// test-net-socket-end-before-connect: `end()` while connecting sends the
/// FIN once connected; the socket closes once, without error.
#[test]
fn node_net_socket_end_before_connect() {
    let closes = Calls::new();
    let c2 = closes.clone();
    netloop::run(move || {
        let _g = guard("end-before-connect");
        let server = Server::new();
        let port = listen_local(&server);
        let socket = net::connect(port, "127.0.0.1")?;
        socket.on(Socket::CLOSE, move |_, had_error| {
            assert!(!had_error);
            c2.hit();
            server.close();
        });
        socket.end();
        assert_eq!(socket.ready_state(), ReadyState::Opening);
        Ok(())
    })
    .unwrap();
    assert_eq!(closes.get(), 1);
}

/// test-net-end-without-connect: `end()` on a socket that never connected
/// is harmless: no event, no error, and the loop ends.
#[test]
fn node_net_end_without_connect() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let sock = Socket::new();
        for name in ["finish", "end"] {
            let l = l.clone();
            sock.on(netloop::events::Event::<()>::new(name), move |_, _| {
                l.push(name)
            });
        }
        let lc = l.clone();
        sock.on(Socket::CLOSE, move |_, _| lc.push("close"));
        sock.on(Socket::ERROR, |_, e| panic!("unexpected error {e}"));
        sock.end();
        assert!(!sock.destroyed());
        Ok(())
    })
    .unwrap();
    assert!(log.entries().is_empty(), "{:?}", log.entries());
}

/// test-net-socket-close-after-end: both ends `end("foo")`; the server
/// reads its bytes only later, and still emits `end` before `close`.
#[test]
fn node_net_socket_close_after_end() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("close-after-end");
        let server = Server::new();
        server.on(Server::CONNECTION, move |server, s| {
            let l1 = l.clone();
            s.on(Socket::END, move |_, _| l1.push("end"));
            let (l1, server) = (l.clone(), server.clone());
            s.on(Socket::CLOSE, move |_, _| {
                l1.push("close");
                server.close();
            });
            s.end_with("foo");
            // Read later (Node reads on a 100 ms timer): attach the data
            // listener two loop iterations from now.
            let (s, l1) = (s.clone(), l.clone());
            set_immediate(move || {
                set_immediate(move || {
                    s.on(Socket::DATA, move |_, d| {
                        l1.push(format!("data {}", String::from_utf8_lossy(d)))
                    });
                });
            });
        });
        let port = listen_local(&server);
        let socket = net::connect(port, "127.0.0.1")?;
        socket.on(Socket::CONNECT, |s, _| {
            s.end_with("foo");
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["data foo", "end", "close"]);
}

/// test-net-end-destroyed: the socket is not destroyed yet when `end` is
/// emitted after our own `end()`.
#[test]
fn node_net_end_destroyed() {
    let ends = Calls::new();
    let connections = Calls::new();
    let (e2, conn) = (ends.clone(), connections.clone());
    netloop::run(move || {
        let _g = guard("end-destroyed");
        let server = net::create_server(move |_, _| conn.hit());
        let port = listen_local(&server);
        let socket = net::connect(port, "127.0.0.1")?;
        socket.on(Socket::CONNECT, move |s, _| {
            let (e2, server) = (e2.clone(), server.clone());
            s.on(Socket::END, move |s, _| {
                assert!(!s.destroyed());
                e2.hit();
                server.close();
            });
            s.end();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(connections.get(), 1);
    assert_eq!(ends.get(), 1);
}
