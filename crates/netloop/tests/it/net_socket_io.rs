//! Reading and writing on a connected `Socket`: backpressure and `drain`,
//! `end` and half-open, `destroy`, pause/resume, buffered data, the byte
//! counters and `ready_state`. Event orders are Node 20's (checked with
//! `node`).

use std::cell::RefCell;
use std::rc::Rc;

use crate::util::{guard, listen_local, pattern, record_with, Calls, Log, RecordOpts};
use netloop::net::{self, ConnectOptions, ReadyState, Server, ServerOptions, Socket};
use netloop::timers::{set_immediate, set_interval, Timer};
use netloop::{next_tick, Error, ErrorCode};

const HWM: usize = 16 * 1024;
const MIB: usize = 1024 * 1024;

type Shared<T> = Rc<RefCell<T>>;

/// `end` and `finish` carry the ready state in this file's logs.
const STATES: RecordOpts = RecordOpts {
    ready_state: true,
    error_code_only: false,
};

/// Runs `f` the second time it is called: for "both A and B happened".
fn when_both(f: impl FnOnce() + 'static) -> impl Fn() + Clone {
    let count = Calls::new();
    let f = Rc::new(RefCell::new(Some(f)));
    move || {
        count.hit();
        if count.get() == 2 {
            if let Some(f) = f.borrow_mut().take() {
                f();
            }
        }
    }
}

#[test]
fn write_returns_false_at_the_high_water_mark_and_drain_follows() {
    let log = Log::new();
    let l = log.clone();
    let received: Shared<Vec<u8>> = Rc::default();
    let sent: Shared<Vec<u8>> = Rc::default();
    let (r, s) = (Rc::clone(&received), Rc::clone(&sent));
    netloop::run(move || {
        let _g = guard("drain");
        let accepted: Shared<Option<Socket>> = Rc::default();
        let acc = Rc::clone(&accepted);
        // The server reads nothing until resumed, so the kernel buffers
        // fill and the client's writes queue up.
        let resume = when_both(move || {
            acc.borrow().as_ref().expect("accepted").resume();
        });
        let opts = ServerOptions {
            pause_on_connect: true,
            ..ServerOptions::default()
        };
        let (acc, res1, ls) = (Rc::clone(&accepted), resume.clone(), l.clone());
        let server = net::create_server_with(opts, move |_, sock: &Socket| {
            let r = Rc::clone(&r);
            sock.on(Socket::DATA, move |_, d| {
                r.borrow_mut().extend_from_slice(d)
            });
            let ls = ls.clone();
            sock.on(Socket::END, move |s, _| {
                ls.push(format!("server end after {} bytes", s.bytes_read()))
            });
            *acc.borrow_mut() = Some(sock.clone());
            res1();
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        let chunk = pattern(64 * 1024);
        let lc = l.clone();
        let sent = Rc::clone(&s);
        c.on(Socket::CONNECT, move |c, _| {
            let s = &sent;
            // Nothing queued: a small write goes straight to the kernel.
            assert!(c.write(b"first"));
            s.borrow_mut().extend_from_slice(b"first");
            let mut writes = 0;
            let mut full = false;
            // Bounded: loopback buffers hold a few MiB at most.
            while writes < 4096 {
                writes += 1;
                s.borrow_mut().extend_from_slice(&chunk);
                if !c.write(&chunk) {
                    full = true;
                    break;
                }
            }
            assert!(full, "write() never returned false");
            assert!(c.writable_length() >= HWM, "{}", c.writable_length());
            lc.push("write returned false");
            resume();
        });
        let lc = l.clone();
        c.on(Socket::DRAIN, move |c, _| {
            assert_eq!(c.writable_length(), 0);
            lc.push("drain");
            // Writable again: a small write is accepted at once.
            assert!(c.write(b"last"));
            c.end();
        });
        let sent = Rc::clone(&s);
        c.on(Socket::FINISH, move |c, _| {
            sent.borrow_mut().extend_from_slice(b"last");
            assert_eq!(c.bytes_written() as usize, sent.borrow().len());
        });
        c.on(Socket::CLOSE, move |_, had_error| {
            assert!(!had_error);
            server.close();
        });
        Ok(())
    })
    .unwrap();
    let sent = sent.borrow();
    assert_eq!(
        log.entries(),
        [
            "write returned false".to_owned(),
            "drain".to_owned(),
            format!("server end after {} bytes", sent.len())
        ]
    );
    assert_eq!(received.borrow().len(), sent.len());
    assert!(*received.borrow() == *sent, "received bytes differ");
}

#[test]
fn write_with_calls_back_once_per_write_in_order_never_inside_write() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("write_with");
        let server = net::create_server(|_, sock: &Socket| {
            sock.on(Socket::DATA, |_, _| {});
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        let lc = l.clone();
        c.on(Socket::CONNECT, move |c, _| {
            let inside = Rc::new(RefCell::new(true));
            for i in 0..3 {
                let (inside, lc) = (Rc::clone(&inside), lc.clone());
                let big = i == 1;
                let data = if big { pattern(MIB) } else { b"small".to_vec() };
                c.write_with(data, move |_, err| {
                    assert!(!*inside.borrow(), "callback ran inside write_with()");
                    assert!(err.is_none());
                    lc.push(format!("write {i} done"));
                });
            }
            *inside.borrow_mut() = false;
            c.end();
        });
        c.on(Socket::CLOSE, move |_, _| {
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        ["write 0 done", "write 1 done", "write 2 done"]
    );
}

#[test]
fn one_mebibyte_echoed_in_process_byte_exact() {
    let data = pattern(MIB);
    let back: Shared<Vec<u8>> = Rc::default();
    let b = Rc::clone(&back);
    let sent = data.clone();
    netloop::run(move || {
        let _g = guard("echo 1 MiB");
        let server = net::create_server(|_, sock: &Socket| {
            sock.pipe(sock);
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        for piece in sent.chunks(100_000) {
            c.write(piece);
        }
        c.end();
        c.on(Socket::DATA, move |_, d| {
            b.borrow_mut().extend_from_slice(d)
        });
        c.on(Socket::CLOSE, move |c, had_error| {
            assert!(!had_error);
            assert_eq!(c.bytes_read() as usize, MIB);
            assert_eq!(c.bytes_written() as usize, MIB);
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(back.borrow().len(), data.len());
    assert!(*back.borrow() == data, "echoed bytes differ");
}

#[test]
fn end_sends_the_fin_after_every_queued_write() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("end after writes");
        let ls = l.clone();
        let server = net::create_server(move |_, sock: &Socket| {
            let got = Rc::new(RefCell::new(Vec::new()));
            let g = Rc::clone(&got);
            sock.on(Socket::DATA, move |_, d| {
                g.borrow_mut().extend_from_slice(d)
            });
            let ls = ls.clone();
            sock.on(Socket::END, move |_, _| {
                let ok = *got.borrow() == pattern(MIB);
                ls.push(format!(
                    "server end after {} bytes, intact {ok}",
                    got.borrow().len()
                ));
            });
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        record_with(&c, &l, "client", STATES);
        c.on(Socket::CONNECT, |c, _| {
            // Most of the MiB is still queued when end() is called.
            c.write(pattern(MIB));
            c.end();
            assert_eq!(c.ready_state(), ReadyState::ReadOnly);
        });
        c.on(Socket::DATA, |_, _| {});
        c.on(Socket::CLOSE, move |_, _| {
            server.close();
        });
        Ok(())
    })
    .unwrap();
    let e = log.entries();
    let pos = |x: &str| {
        e.iter()
            .position(|y| y == x)
            .unwrap_or_else(|| panic!("{x}: {e:?}"))
    };
    assert!(pos("server end after 1048576 bytes, intact true") > pos("client finish readOnly"));
    // The client's own events, in Node's order.
    let client = log.starting_with("client");
    assert_eq!(
        client,
        [
            "client connect",
            "client ready",
            "client finish readOnly",
            "client end closed",
            "client close false"
        ]
    );
}

#[test]
fn without_allow_half_open_the_peers_end_ends_our_side() {
    // Node 20 (allowHalfOpen false): data, end (writeOnly), our FIN goes
    // out by itself, finish (closed), close(false).
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("not half open");
        let opts = ServerOptions {
            allow_half_open: true,
            ..ServerOptions::default()
        };
        let ls = l.clone();
        let server = net::create_server_with(opts, move |_, sock: &Socket| {
            sock.end_with("hello");
            sock.on(Socket::DATA, |_, _| {});
            let ls = ls.clone();
            sock.on(Socket::END, move |_, _| ls.push("server end"));
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        record_with(&c, &l, "client", STATES);
        let lc = l.clone();
        c.on(Socket::DATA, move |_, d| {
            lc.push(format!("client data {}", String::from_utf8_lossy(d)))
        });
        c.on(Socket::CLOSE, move |_, _| {
            server.close();
        });
        Ok(())
    })
    .unwrap();
    let e = log.entries();
    let client = log.starting_with("client");
    assert_eq!(
        client,
        [
            "client connect",
            "client ready",
            "client data hello",
            "client end writeOnly",
            "client finish closed",
            "client close false"
        ]
    );
    // The server saw the FIN the client sent without being asked to.
    assert_eq!(log.count("server end"), 1, "{e:?}");
}

#[test]
fn with_allow_half_open_we_keep_writing_after_the_peers_end() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("half open");
        let opts = ServerOptions {
            allow_half_open: true,
            ..ServerOptions::default()
        };
        let ls = l.clone();
        let server = net::create_server_with(opts, move |_, sock: &Socket| {
            sock.end_with("hello");
            let ls2 = ls.clone();
            sock.on(Socket::DATA, move |_, d| {
                ls2.push(format!("server data {}", String::from_utf8_lossy(d)))
            });
            let ls = ls.clone();
            sock.on(Socket::END, move |_, _| ls.push("server end"));
        });
        let port = listen_local(&server);
        let c = net::connect_with(ConnectOptions {
            port,
            host: Some("127.0.0.1".into()),
            allow_half_open: true,
            ..ConnectOptions::default()
        })?;
        record_with(&c, &l, "client", STATES);
        c.on(Socket::DATA, |_, _| {});
        c.on(Socket::END, |c, _| {
            // Nothing ended our side: we can still write.
            assert!(c.write("late"));
            c.end();
        });
        c.on(Socket::CLOSE, move |_, _| {
            server.close();
        });
        Ok(())
    })
    .unwrap();
    let client = log.starting_with("client");
    assert_eq!(
        client,
        [
            "client connect",
            "client ready",
            "client end writeOnly",
            "client finish closed",
            "client close false"
        ]
    );
    let server = log.starting_with("server");
    assert_eq!(server, ["server data late", "server end"]);
}

#[test]
fn destroy_closes_without_error_and_later_writes_fail_quietly() {
    // Node: destroy() -> close(false) only; a write afterwards returns
    // false and its callback gets ERR_STREAM_DESTROYED, with no `error`.
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("destroy");
        let server = net::create_server(|_, sock: &Socket| {
            sock.on(Socket::ERROR, |_, _| {});
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        record_with(&c, &l, "client", STATES);
        let lc = l.clone();
        c.on(Socket::CONNECT, move |c, _| {
            c.destroy();
            assert!(c.destroyed());
            assert_eq!(c.ready_state(), ReadyState::Closed);
            let lw = lc.clone();
            assert!(!c.write_with("too late", move |_, err| {
                lw.push(format!(
                    "write callback {}",
                    err.map(|e| e.code().as_str()).unwrap_or("none")
                ))
            }));
            c.destroy(); // idempotent
            c.end(); // harmless
            lc.push("destroyed");
        });
        c.on(Socket::CLOSE, move |_, _| {
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        [
            "client connect",
            "destroyed",
            "client ready",
            "write callback ERR_STREAM_DESTROYED",
            "client close false"
        ]
    );
}

#[test]
fn destroy_with_an_error_emits_it_then_close_true() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("destroy_with");
        let server = net::create_server(|_, sock: &Socket| {
            sock.on(Socket::ERROR, |_, _| {});
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        record_with(&c, &l, "client", STATES);
        c.on(Socket::ERROR, |_, e| {
            assert_eq!(e.code(), ErrorCode::ECONNRESET);
        });
        c.on(Socket::READY, |c, _| {
            c.destroy_with(Error::new(ErrorCode::ECONNRESET, "custom failure"));
            // A second destroy changes nothing: one error, one close.
            c.destroy_with(Error::new(ErrorCode::EPIPE, "second"));
        });
        c.on(Socket::CLOSE, move |_, _| {
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        [
            "client connect",
            "client ready",
            "client error custom failure",
            "client close true"
        ]
    );
}

#[test]
fn write_after_end_fails_with_write_after_end() {
    // Node: the callback first, then `error`, then close(true).
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("write after end");
        let server = net::create_server(|_, sock: &Socket| {
            sock.on(Socket::DATA, |_, _| {});
            sock.on(Socket::ERROR, |_, _| {});
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        record_with(&c, &l, "client", STATES);
        let lc = l.clone();
        c.on(Socket::CONNECT, move |c, _| {
            c.end();
            let lw = lc.clone();
            assert!(!c.write_with("y", move |_, err| {
                lw.push(format!(
                    "write callback {}",
                    err.map(|e| e.code().as_str()).unwrap_or("none")
                ))
            }));
        });
        c.on(Socket::CLOSE, move |_, _| {
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        [
            "client connect",
            "client ready",
            "write callback ERR_STREAM_WRITE_AFTER_END",
            "client error write after end",
            "client close true"
        ]
    );
}

/// Write on each loop iteration until a write fails at once (the peer's
/// RST makes the syscall fail); log that write's callback.
fn write_until_refused(c: Socket, log: Log, left: usize) {
    assert!(left > 0, "no write failed after the peer's reset");
    if c.destroyed() {
        return;
    }
    let l = log.clone();
    c.write_with("x", move |_, err| {
        if err.is_some() {
            l.push("write callback with an error");
        }
    });
    set_immediate(move || write_until_refused(c, log, left - 1));
}

#[test]
fn a_write_the_kernel_refuses_calls_back_before_close() {
    // Found by tests/proptest_sockets.rs: the callback of a write whose
    // syscall failed at once (the peer had reset) ran in the next
    // iteration's pending phase, after the `close` emitted in this one.
    // Node (`onwriteError`, on the next tick): the callback, then `error`,
    // then close(true).
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("write into a reset");
        // The server resets once the client is connected (a reset that
        // arrives with the handshake fails the connect instead), and the
        // client writes once the server's socket is closed.
        let accepted: Rc<RefCell<Option<Socket>>> = Rc::default();
        let client: Rc<RefCell<Option<Socket>>> = Rc::default();
        let (acc, cl, lc) = (Rc::clone(&accepted), Rc::clone(&client), l.clone());
        let server = net::create_server(move |server, sock: &Socket| {
            server.close();
            let (cl, lc) = (Rc::clone(&cl), lc.clone());
            sock.on(Socket::CLOSE, move |_, _| {
                let c = cl.borrow_mut().take().expect("the client connected first");
                // From the check phase, as the model test did: the close
                // phase of the same iteration comes before the next
                // pending phase.
                let lc = lc.clone();
                set_immediate(move || write_until_refused(c, lc, 10_000));
            });
            *acc.borrow_mut() = Some(sock.clone());
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        // Never reads, so only a write finds the RST.
        c.pause();
        let lc = l.clone();
        c.on(Socket::ERROR, move |_, e| {
            assert!(
                matches!(e.code(), ErrorCode::ECONNRESET | ErrorCode::EPIPE),
                "{e}"
            );
            lc.push("error");
        });
        let lc = l.clone();
        c.on(Socket::CLOSE, move |_, had_error| {
            lc.push(format!("close {had_error}"))
        });
        // Both the client's `connect` and the server's `connection` have
        // happened (in either order) before the reset.
        let reset = when_both(move || {
            let sock = accepted.borrow_mut().take().expect("accepted");
            sock.reset_and_destroy();
        });
        let (r, cl) = (reset.clone(), Rc::clone(&client));
        c.on(Socket::CONNECT, move |c, _| {
            *cl.borrow_mut() = Some(c.clone());
            r();
        });
        server.on(Server::CONNECTION, move |_, _| reset());
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        ["write callback with an error", "error", "close true"]
    );
}

#[test]
fn close_is_last_and_exactly_once() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("close once");
        let server = net::create_server(|_, sock: &Socket| {
            sock.destroy();
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        record_with(&c, &l, "client", STATES);
        c.on(Socket::DATA, |_, _| {});
        // Everything that could close it again.
        c.on(Socket::END, |c, _| {
            c.destroy();
            c.end();
        });
        c.on(Socket::ERROR, |c, _| {
            c.destroy();
        });
        let srv = server.clone();
        c.on(Socket::CLOSE, move |c, _| {
            c.destroy();
            c.end();
            c.destroy_with(Error::new(ErrorCode::EPIPE, "after close"));
            srv.close();
        });
        // Still nothing after a few more loop iterations.
        let lc = l.clone();
        c.on(Socket::CLOSE, move |_, _| {
            let lc = lc.clone();
            set_immediate(move || {
                set_immediate(lc.recorder("two iterations later"));
            });
        });
        Ok(())
    })
    .unwrap();
    let e = log.entries();
    let closes = log.starting_with("client close");
    assert_eq!(closes.len(), 1, "{e:?}");
    assert_eq!(e[e.len() - 2], closes[0], "close was not last: {e:?}");
    assert_eq!(e[e.len() - 1], "two iterations later");
    assert_eq!(log.count("client error after close"), 0);
}

#[test]
fn pause_holds_data_and_resume_delivers_it_on_a_later_tick() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("pause/resume");
        let client: Shared<Option<Socket>> = Rc::default();
        let cl = Rc::clone(&client);
        let lr = l.clone();
        // Resume once the client is paused and the server's bytes and FIN
        // reached the kernel (the server's `finish`).
        let resume = when_both(move || {
            let c = cl.borrow().clone().expect("client");
            assert!(c.is_paused());
            assert_eq!(c.bytes_read(), 0, "a paused socket read");
            lr.push("resume");
            c.resume();
            assert!(!c.is_paused());
            lr.push("resume returned");
        });
        let r1 = resume.clone();
        let server = net::create_server(move |_, sock: &Socket| {
            sock.write("abc");
            sock.write("def");
            sock.end();
            let r1 = r1.clone();
            sock.on(Socket::FINISH, move |_, _| r1());
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        c.pause();
        assert!(c.is_paused());
        // The server's two writes may arrive as one chunk or two: log the
        // first chunk's arrival, and everything at `end`.
        let got: Shared<Vec<u8>> = Rc::default();
        let (g, lc) = (Rc::clone(&got), l.clone());
        c.on(Socket::DATA, move |_, d| {
            if g.borrow().is_empty() {
                lc.push("data");
            }
            g.borrow_mut().extend_from_slice(d);
        });
        // A data listener on a paused socket does not resume it.
        assert!(c.is_paused());
        let lc = l.clone();
        c.on(Socket::END, move |_, _| {
            lc.push(format!(
                "end after {}",
                String::from_utf8_lossy(&got.borrow())
            ))
        });
        c.on(Socket::CONNECT, move |_, _| resume());
        c.on(Socket::CLOSE, move |_, _| {
            server.close();
        });
        *client.borrow_mut() = Some(c);
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        ["resume", "resume returned", "data", "end after abcdef"]
    );
}

#[test]
fn pause_inside_a_data_listener_stops_delivery_until_resume() {
    let log = Log::new();
    let l = log.clone();
    let total: Shared<usize> = Rc::default();
    let t = Rc::clone(&total);
    netloop::run(move || {
        let _g = guard("pause mid stream");
        let server = net::create_server(|_, sock: &Socket| {
            sock.end_with(pattern(512 * 1024));
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        let lc = l.clone();
        c.on(Socket::DATA, move |c, d| {
            *t.borrow_mut() += d.len();
            lc.push("data");
            c.pause();
            let c = c.clone();
            let lc = lc.clone();
            set_immediate(move || {
                lc.push("resume");
                c.resume();
            });
        });
        let lc = l.clone();
        c.on(Socket::END, move |_, _| lc.push("end"));
        c.on(Socket::CLOSE, move |_, _| {
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(*total.borrow(), 512 * 1024);
    let e = log.entries();
    assert_eq!(e.last().map(String::as_str), Some("end"), "{e:?}");
    // Every chunk is followed by the resume that its pause waited for.
    let body = &e[..e.len() - 1];
    assert!(body.len() >= 2, "{e:?}");
    for pair in body.chunks(2) {
        assert_eq!(pair, ["data", "resume"], "{e:?}");
    }
}

#[test]
fn data_that_arrives_with_no_listener_is_delivered_later_in_order() {
    // Better than Node, which would lose nothing here either but drops
    // data when the last listener is removed: bytes read while no one
    // listens wait in the socket, and `end` waits for them.
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("late listener");
        let server = net::create_server(|_, sock: &Socket| {
            sock.write("one");
            sock.write("two");
            sock.end_with("three");
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        let lc = l.clone();
        c.on(Socket::END, move |_, _| lc.push("end"));
        let srv = server.clone();
        c.on(Socket::CLOSE, move |_, _| {
            srv.close();
        });
        // Wait until the socket itself has read all 11 bytes (not a sleep:
        // a bounded poll of a counter, with the guard as the limit).
        let timer: Shared<Option<Timer>> = Rc::default();
        let me = Rc::clone(&timer);
        let lc = l.clone();
        let t = set_interval(std::time::Duration::from_millis(1), move || {
            if c.bytes_read() < 11 {
                return;
            }
            me.borrow().as_ref().expect("interval").cancel();
            lc.push("all bytes read, no listener yet");
            let ld = lc.clone();
            c.on(Socket::DATA, move |_, d| {
                ld.push(format!("data {}", String::from_utf8_lossy(d)))
            });
            lc.push("listener added");
        });
        *timer.borrow_mut() = Some(t);
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        [
            "all bytes read, no listener yet",
            "listener added",
            "data onetwothree",
            "end"
        ]
    );
}

#[test]
fn data_is_kept_while_the_data_listener_is_removed() {
    // Node drops chunks read while a socket has no `data` listener after
    // the last one was removed; netloop keeps them for the next listener.
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("listener removed");
        let server = net::create_server(|_, sock: &Socket| {
            sock.write("first");
            sock.on(Socket::DATA, |s, d| {
                assert_eq!(d, b"ack");
                s.end_with("second");
            });
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        let id: Shared<Option<netloop::events::ListenerId>> = Rc::default();
        let (me, lc) = (Rc::clone(&id), l.clone());
        let first = c.on(Socket::DATA, move |c, d| {
            lc.push(format!("first listener {}", String::from_utf8_lossy(d)));
            assert!(c.off(me.borrow().expect("id")));
            c.write("ack");
            // Wait for "second" to be read with no listener, then listen.
            let timer: Shared<Option<Timer>> = Rc::default();
            let t2 = Rc::clone(&timer);
            let (c2, lc2) = (c.clone(), lc.clone());
            let t = set_interval(std::time::Duration::from_millis(1), move || {
                if c2.bytes_read() < 11 {
                    return;
                }
                t2.borrow().as_ref().expect("interval").cancel();
                let lc3 = lc2.clone();
                c2.on(Socket::DATA, move |_, d| {
                    lc3.push(format!("second listener {}", String::from_utf8_lossy(d)))
                });
            });
            *timer.borrow_mut() = Some(t);
        });
        *id.borrow_mut() = Some(first);
        let lc = l.clone();
        c.on(Socket::END, move |_, _| lc.push("end"));
        c.on(Socket::CLOSE, move |_, _| {
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        ["first listener first", "second listener second", "end"]
    );
}

#[test]
fn next_tick_runs_between_data_events() {
    // Each read is its own callback into user code (Node's onStreamRead):
    // a tick queued by one `data` listener runs before the next chunk.
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("ticks between data");
        let opts = ServerOptions {
            pause_on_connect: true,
            ..ServerOptions::default()
        };
        let accepted: Shared<Option<Socket>> = Rc::default();
        let acc = Rc::clone(&accepted);
        // Resume once several hundred KiB wait in the kernel, so one
        // readiness event yields several 64 KiB reads.
        let resume = when_both(move || {
            acc.borrow().as_ref().expect("accepted").resume();
        });
        let (acc, r1, ls) = (Rc::clone(&accepted), resume.clone(), l.clone());
        let server = net::create_server_with(opts, move |_, sock: &Socket| {
            let ls2 = ls.clone();
            sock.on(Socket::DATA, move |_, _| {
                ls2.push("data");
                next_tick(ls2.recorder("tick"));
            });
            let ls = ls.clone();
            sock.on(Socket::END, move |s, _| {
                ls.push(format!("end {}", s.bytes_read()));
            });
            *acc.borrow_mut() = Some(sock.clone());
            r1();
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        c.on(Socket::CONNECT, move |c, _| {
            for _ in 0..6 {
                c.write(pattern(64 * 1024));
            }
            c.end();
            resume();
        });
        c.on(Socket::CLOSE, move |_, _| {
            server.close();
        });
        Ok(())
    })
    .unwrap();
    let e = log.entries();
    assert_eq!(e.last().map(String::as_str), Some("end 393216"), "{e:?}");
    let body = &e[..e.len() - 1];
    assert!(!body.is_empty());
    for pair in body.chunks(2) {
        assert_eq!(pair, ["data", "tick"], "{e:?}");
    }
}

#[test]
fn byte_counters_and_ready_state_through_a_connection() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("counters");
        let server = net::create_server(|_, sock: &Socket| {
            sock.on(Socket::DATA, |s, d| {
                s.write(d);
                s.write(d);
            });
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        assert_eq!(c.bytes_read(), 0);
        assert_eq!(c.bytes_written(), 0);
        c.on(Socket::CONNECT, |c, _| {
            assert_eq!(c.ready_state(), ReadyState::Open);
            c.write("12345");
            assert_eq!(c.bytes_written(), 5);
        });
        let lc = l.clone();
        c.on(Socket::DATA, move |c, _| {
            if c.bytes_read() == 10 {
                lc.push(format!("read 10, state {}", c.ready_state()));
                c.end();
                lc.push(format!("after end(), state {}", c.ready_state()));
            }
        });
        let lc = l.clone();
        c.on(Socket::CLOSE, move |c, _| {
            lc.push(format!(
                "closed: read {} written {} state {} destroyed {}",
                c.bytes_read(),
                c.bytes_written(),
                c.ready_state(),
                c.destroyed()
            ));
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        [
            "read 10, state open",
            "after end(), state readOnly",
            "closed: read 10 written 5 state closed destroyed true"
        ]
    );
}

#[test]
fn server_side_socket_is_a_full_socket_too() {
    // `Server::CONNECTION` hands out the same `Socket` type: the server
    // side writes first and ends; the counters count on both ends.
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("server side");
        let server = Server::new();
        let ls = l.clone();
        server.on(Server::CONNECTION, move |_, sock| {
            sock.end_with("greetings");
            let ls = ls.clone();
            sock.on(Socket::CLOSE, move |s, _| {
                ls.push(format!("server socket wrote {}", s.bytes_written()))
            });
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        c.on(Socket::DATA, |_, _| {});
        let lc = l.clone();
        c.on(Socket::CLOSE, move |c, _| {
            lc.push(format!("client read {}", c.bytes_read()));
            server.close();
        });
        Ok(())
    })
    .unwrap();
    let mut e = log.entries();
    e.sort();
    assert_eq!(e, ["client read 9", "server socket wrote 9"]);
}
