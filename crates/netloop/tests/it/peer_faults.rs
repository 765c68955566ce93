//! Peers that misbehave, and callers that destroy a socket from inside
//! any of its callbacks: every socket still gets `close` exactly once and
//! last, errors come once, and no byte that was delivered is lost.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use netloop::net::{self, ServerOptions, Socket};

use crate::util::{guard, listen_local, pattern, record_with, Log, RecordOpts};

/// Errors are logged by code: their wording depends on when the reset
/// arrives (`read ECONNRESET`, `connect ECONNRESET ...`).
const CODES: RecordOpts = RecordOpts {
    ready_state: false,
    error_code_only: true,
};

/// The server resets the connection while the client is reading a long
/// stream: the client gets `ECONNRESET` once, then `close(true)`, and every
/// byte it did get is a prefix of what was sent.
#[test]
fn rst_mid_stream_gives_one_econnreset_then_close_true() {
    const SIZE: usize = 4 << 20;
    let log = Log::new();
    let got: Rc<RefCell<Vec<u8>>> = Rc::default();
    let (l, g) = (log.clone(), Rc::clone(&got));
    netloop::run(move || {
        let _g = guard("rst mid-stream");
        let server = net::create_server(|server, sock: &Socket| {
            server.close();
            sock.write(pattern(SIZE));
            // Reset once the client has started reading.
            sock.on(Socket::DATA, |s, _| {
                s.reset_and_destroy();
            });
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        record_with(&c, &l, "client", CODES);
        let first = Rc::new(std::cell::Cell::new(true));
        c.on(Socket::DATA, move |c, d| {
            g.borrow_mut().extend_from_slice(d);
            if first.replace(false) {
                c.write("go");
            }
        });
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        log.entries(),
        [
            "client connect",
            "client ready",
            "client error ECONNRESET",
            "client close true"
        ]
    );
    let got = got.borrow();
    assert!(got.len() < SIZE, "the reset came after everything was read");
    assert!(
        pattern(SIZE).starts_with(&got),
        "the bytes read are not a prefix"
    );
}

/// The peer ends its side while we are still writing a megabyte: without
/// `allow_half_open` we end ours once our queued bytes are out, and the
/// peer reads every one of them.
#[test]
fn fin_while_we_write_loses_no_byte() {
    const SIZE: usize = 1 << 20;
    let log = Log::new();
    let received = Rc::new(std::cell::Cell::new(0usize));
    let (l, r) = (log.clone(), Rc::clone(&received));
    netloop::run(move || {
        let _g = guard("fin while writing");
        let half_open = ServerOptions {
            allow_half_open: true,
            ..ServerOptions::default()
        };
        let ls = l.clone();
        let server = net::create_server_with(half_open, move |server, sock: &Socket| {
            server.close();
            record_with(sock, &ls, "server", CODES);
            sock.end(); // FIN at once; keep reading (half-open)
            let r = Rc::clone(&r);
            sock.on(Socket::DATA, move |_, d| r.set(r.get() + d.len()));
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        for chunk in pattern(SIZE).chunks(64 * 1024) {
            c.write(chunk);
        }
        record_with(&c, &l, "client", CODES);
        c.on(Socket::DATA, |_, _| {});
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(received.get(), SIZE);
    assert_eq!(
        log.starting_with("client").last().map(String::as_str),
        Some("client close false")
    );
    assert_eq!(log.count("client end"), 1);
    assert_eq!(log.count("client finish"), 1);
    assert_eq!(
        log.starting_with("server").last().map(String::as_str),
        Some("server close false")
    );
    assert!(
        !log.entries().iter().any(|e| e.contains("error")),
        "{:?}",
        log.entries()
    );
}

/// Both sides end at once: each sees `end` and `finish` once and closes
/// without error.
#[test]
fn fin_both_ways_at_once() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("fin both ways");
        let ls = l.clone();
        let server = net::create_server(move |server, sock: &Socket| {
            server.close();
            record_with(sock, &ls, "server", CODES);
            sock.on(Socket::DATA, |_, _| {});
            sock.end();
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        record_with(&c, &l, "client", CODES);
        c.on(Socket::DATA, |_, _| {});
        c.on(Socket::CONNECT, |c, _| {
            c.end();
        });
        Ok(())
    })
    .expect("the loop ran");
    for who in ["client", "server"] {
        let mine = log.starting_with(who);
        assert_eq!(
            mine.iter().filter(|e| e.ends_with(" end")).count(),
            1,
            "{mine:?}"
        );
        assert_eq!(
            mine.iter().filter(|e| e.ends_with(" finish")).count(),
            1,
            "{mine:?}"
        );
        assert_eq!(
            mine.last().map(String::as_str),
            Some(&*format!("{who} close false"))
        );
    }
}

/// The listener goes away with our connection still in its accept queue
/// (the kernel completed the handshake, nobody accepted): the peer is gone
/// mid-connect, and the client gets one `ECONNRESET`, then `close(true)`.
#[test]
fn a_listener_closed_before_accepting_resets_the_client() {
    let log = Log::new();
    let l = log.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("bound").port();
    let holder = Rc::new(RefCell::new(Some(listener)));
    netloop::run(move || {
        let _g = guard("peer vanishes");
        let c = net::connect(port, "127.0.0.1")?;
        record_with(&c, &l, "client", CODES);
        c.on(Socket::DATA, |_, _| {
            panic!("data from a peer that never accepted")
        });
        // Once connected (the kernel answered for the listener), close the
        // listener: its queued connection is reset.
        let h = Rc::clone(&holder);
        c.on(Socket::CONNECT, move |_, _| {
            h.borrow_mut().take();
        });
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        log.entries(),
        [
            "client connect",
            "client ready",
            "client error ECONNRESET",
            "client close true"
        ]
    );
}

/// Which callback the socket is destroyed from.
#[derive(Clone, Copy, Debug)]
enum From {
    Connect,
    Data,
    End,
    Finish,
    Drain,
    Timeout,
    WriteCallback,
    EndCallback,
}

/// `destroy()` from inside each kind of callback: `close` comes exactly
/// once, last, and nothing after it; the peer sees the connection end.
#[test]
fn destroy_from_inside_every_kind_of_callback() {
    for from in [
        From::Connect,
        From::Data,
        From::End,
        From::Finish,
        From::Drain,
        From::Timeout,
        From::WriteCallback,
        From::EndCallback,
    ] {
        let log = Log::new();
        let l = log.clone();
        netloop::run(move || {
            let _g = guard("destroy from a callback");
            let server = net::create_server(move |server, sock: &Socket| {
                server.close();
                sock.on(Socket::DATA, |_, _| {});
                match from {
                    // Give the client data to read, then its FIN.
                    From::Data => {
                        sock.write("hello");
                    }
                    From::End => {
                        sock.end();
                    }
                    _ => {}
                }
            });
            let port = listen_local(&server);
            let c = net::connect(port, "127.0.0.1")?;
            record_with(&c, &l, "client", CODES);
            let destroy = |s: &Socket| {
                s.destroy();
                s.destroy(); // twice: still one close
            };
            match from {
                From::Connect => {
                    c.on(Socket::CONNECT, move |s, _| destroy(s));
                }
                From::Data => {
                    c.on(Socket::DATA, move |s, _| destroy(s));
                }
                From::End => {
                    c.on(Socket::DATA, |_, _| {});
                    c.on(Socket::END, move |s, _| destroy(s));
                }
                From::Finish => {
                    c.on(Socket::FINISH, move |s, _| destroy(s));
                    c.end();
                }
                From::Drain => {
                    assert!(!c.write(vec![0u8; 64 * 1024]));
                    c.on(Socket::DRAIN, move |s, _| destroy(s));
                }
                From::Timeout => {
                    c.set_timeout(Duration::from_millis(1));
                    c.on(Socket::TIMEOUT, move |s, _| destroy(s));
                }
                From::WriteCallback => {
                    c.on(Socket::CONNECT, move |s, _| {
                        s.write_with("x", move |s, err| {
                            assert!(err.is_none());
                            destroy(s);
                        });
                    });
                }
                From::EndCallback => {
                    c.end_then(move |s, err| {
                        assert!(err.is_none());
                        destroy(s);
                    });
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{from:?}: {e}"));
        let entries = log.entries();
        assert_eq!(log.count("client close false"), 1, "{from:?}: {entries:?}");
        assert_eq!(
            entries.last().map(String::as_str),
            Some("client close false"),
            "{from:?}"
        );
        assert!(
            !entries.iter().any(|e| e.contains("error")),
            "{from:?}: {entries:?}"
        );
    }
}
