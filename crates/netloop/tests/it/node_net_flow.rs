//! Flow control, ported from Node's `test/parallel`: pause and resume
//! (also before the connection is up), `pause_on_connect`, backpressure
//! (`write()` returning false, `writable_length`, `drain`), writes queued
//! while connecting, write callbacks of a socket that dies first, byte
//! counters, `set_encoding`, and `pipe`. Each test names the Node test it
//! ports.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::util::{guard, listen_local, pattern, Calls, Log};
use netloop::net::{
    self, ConnectOptions, Encoding, ReadyState, Server, ServerOptions, Socket, SocketOptions,
};
use netloop::timers::set_immediate;

/// test-net-pause-resume-connecting: pause/resume calls made while
/// connecting decide whether data flows once connected. Clients 1, 2 and 4
/// end flowing and get data; 3 and 5 end paused and get none until the
/// teardown resumes them.
///
/// Node's teardown removes the `data` listeners and calls `resume()` to
/// throw the bytes away; netloop never discards bytes for want of a
/// listener, so the teardown attaches a counting listener instead.
#[test]
fn node_net_pause_resume_connecting() {
    let connections = Calls::new();
    let data_ok = Calls::new();
    let torn_down_bytes = Rc::new(Cell::new(0usize));
    let (conns, ok, td) = (
        connections.clone(),
        data_ok.clone(),
        torn_down_bytes.clone(),
    );
    netloop::run(move || {
        let _g = guard("pause-resume-connecting");
        let server = Server::new();
        server.on(Server::CONNECTION, move |server, conn| {
            conns.hit();
            conn.end_with("This was the year he fell to pieces.");
            if conns.get() == 5 {
                server.close();
            }
        });
        let port = listen_local(&server);
        let connect = || net::connect(port, "localhost").unwrap();
        let on_ok = |c: &Socket| {
            let ok = ok.clone();
            c.on(Socket::DATA, move |_, _| ok.hit());
        };
        let on_fail = |c: &Socket| {
            c.on(Socket::DATA, |_, _| panic!("a paused client got data"));
        };
        let tear_down = |c: &Socket| {
            let (c, td) = (c.clone(), td.clone());
            // Node tears down after 100 ms; a later loop iteration, once
            // the other clients have seen their data, is enough.
            netloop::timers::set_timeout(std::time::Duration::from_millis(50), move || {
                assert!(c.is_paused());
                c.remove_all_listeners(Some("data"));
                let td = td.clone();
                c.on(Socket::DATA, move |_, d| td.set(td.get() + d.len()));
                c.resume();
            });
        };

        // Client 1
        let c = connect();
        c.resume();
        on_ok(&c);
        // Client 2
        let c = connect();
        c.pause();
        c.resume();
        on_ok(&c);
        // Client 3
        let c = connect();
        c.pause();
        on_fail(&c);
        tear_down(&c);
        // Client 4
        let c = connect();
        c.resume();
        c.pause();
        c.resume();
        on_ok(&c);
        // Client 5
        let c = connect();
        c.resume();
        c.resume();
        c.pause();
        on_fail(&c);
        tear_down(&c);
        Ok(())
    })
    .unwrap();
    assert_eq!(connections.get(), 5);
    assert_eq!(data_ok.get(), 3);
    assert_eq!(torn_down_bytes.get(), 2 * 36);
}

/// test-net-server-pause-on-connect: a `pause_on_connect` server's sockets
/// read nothing (`bytes_read` stays 0) until resumed; a normal server's
/// sockets read at once.
#[test]
fn node_net_server_pause_on_connect() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("server-pause-on-connect");
        let stopped = Rc::new(Cell::new(true));
        let server1_sock: Rc<RefCell<Option<Socket>>> = Rc::default();
        let server1 = Server::with_options(ServerOptions {
            pause_on_connect: true,
            ..ServerOptions::default()
        });
        let (st, l1, s1) = (stopped.clone(), l.clone(), server1_sock.clone());
        server1.on(Server::CONNECTION, move |server1, socket| {
            assert!(socket.is_paused());
            let (st, l1, server1) = (st.clone(), l1.clone(), server1.clone());
            socket.on(Socket::DATA, move |s, data| {
                assert!(!st.get(), "data before resume");
                assert_eq!(data, b"test");
                l1.push("server1 data");
                s.end();
                server1.close();
            });
            *s1.borrow_mut() = Some(socket.clone());
        });
        let server2 = net::create_server_with(ServerOptions::default(), |_, _| {});
        let (st, l1, s1) = (stopped.clone(), l.clone(), server1_sock.clone());
        server2.on(Server::CONNECTION, move |server2, socket| {
            assert!(!socket.is_paused());
            let (st, l1, s1, server2) = (st.clone(), l1.clone(), s1.clone(), server2.clone());
            socket.on(Socket::DATA, move |s, data| {
                assert_eq!(data, b"test");
                l1.push("server2 data");
                s.end();
                server2.close();
                let first = s1.borrow().clone().expect("server1 connection");
                assert_eq!(first.bytes_read(), 0);
                first.resume();
                st.set(false);
            });
        });
        let port1 = listen_local(&server1);
        let c1 = net::connect(port1, "127.0.0.1")?;
        c1.write_with("test", move |_, err| {
            assert!(err.is_none());
            // The first write reached the kernel: now the second server.
            let port2 = listen_local(&server2);
            net::connect(port2, "127.0.0.1").unwrap().write("test");
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["server2 data", "server1 data"]);
}

/// test-net-connect-paused-connection: a socket paused before it connected
/// never starts reading, so (with the server unref'd) nothing keeps the
/// loop alive and `run` returns.
#[test]
fn node_net_connect_paused_connection() {
    let client: Rc<RefCell<Option<Socket>>> = Rc::default();
    let c2 = client.clone();
    netloop::run(move || {
        let _g = guard("connect-paused-connection: expected to exit");
        let server = net::create_server(|_, conn: &Socket| {
            conn.unref();
        });
        let port = listen_local(&server);
        server.unref();
        let c = net::connect(port, "localhost")?;
        c.pause();
        *c2.borrow_mut() = Some(c);
        Ok(())
    })
    .unwrap();
    // The loop ended on its own with the paused socket still open.
    let c = client.borrow_mut().take().unwrap();
    assert!(c.is_paused());
}

/// test-net-write-cb-on-destroy-before-connect: a write made while
/// connecting is failed with `ERR_SOCKET_CLOSED_BEFORE_CONNECTION` when the
/// socket is destroyed first; `connect` never comes.
#[test]
fn node_net_write_cb_on_destroy_before_connect() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("write-cb-on-destroy-before-connect");
        let server = Server::new();
        let port = listen_local(&server);
        let socket = Socket::new();
        socket.on(Socket::CONNECT, |_, _| panic!("must not connect"));
        socket.connect_with(ConnectOptions {
            port,
            host: Some("127.0.0.1".into()),
            ..ConnectOptions::default()
        })?;
        assert!(socket.connecting());
        let l1 = l.clone();
        socket.write_with("foo", move |_, err| {
            let err = err.expect("the write must fail");
            l1.push(format!("{} {err}", err.code().as_str()));
        });
        socket.on(Socket::CLOSE, move |_, h| l.push(format!("close {h}")));
        socket.destroy();
        server.close();
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        [
            "ERR_SOCKET_CLOSED_BEFORE_CONNECTION Socket closed before the connection was established",
            "close false"
        ]
    );
}

/// test-net-write-connect-write: a write while connecting and one on
/// `connect` arrive in order through an echo (`pipe` into itself), read
/// with `set_encoding(Utf8)`.
#[test]
fn node_net_write_connect_write() {
    let received = Rc::new(RefCell::new(String::new()));
    let ends = Calls::new();
    let (r, e) = (received.clone(), ends.clone());
    netloop::run(move || {
        let _g = guard("write-connect-write");
        let server = net::create_server(|_, socket: &Socket| {
            socket.pipe(socket);
        });
        let port = listen_local(&server);
        let conn = net::connect(port, "127.0.0.1")?;
        conn.set_encoding(Some(Encoding::Utf8));
        conn.write("before");
        conn.on(Socket::CONNECT, |c, _| {
            c.write("after");
        });
        conn.on(Socket::DATA, move |c, buf| {
            r.borrow_mut().push_str(std::str::from_utf8(buf).unwrap());
            c.end();
        });
        conn.on(Socket::END, move |_, _| {
            e.hit();
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(ends.get(), 1);
    assert_eq!(*received.borrow(), "beforeafter");
}

/// test-net-connect-buffer: writes while connecting are queued: they count
/// in `bytes_written` at once (in bytes, not characters), `write()` says
/// false with a high-water mark of 0, the callback runs once connected with
/// the socket `readOnly` (the queued `end` went out too), and the echo
/// comes back whole through `set_encoding(Utf8)`.
#[test]
fn node_net_connect_buffer() {
    let a = "L'État, c'est ";
    let b = "moi";
    let result = Rc::new(RefCell::new(String::new()));
    let log = Log::new();
    let (res, l) = (result.clone(), log.clone());
    netloop::run(move || {
        let _g = guard("connect-buffer");
        let server = net::create_server(|server, s: &Socket| {
            server.close();
            s.pipe(s);
        });
        let port = listen_local(&server);
        let c = net::connect_with(ConnectOptions {
            port,
            host: Some("127.0.0.1".into()),
            high_water_mark: Some(0),
            ..ConnectOptions::default()
        })?;
        assert!(c.pending());
        assert!(c.connecting());
        assert_eq!(c.ready_state(), ReadyState::Opening);
        assert_eq!(c.bytes_written(), 0);
        c.set_encoding(Some(Encoding::Utf8));
        let r = res.clone();
        c.on(Socket::DATA, move |_, chunk| {
            r.borrow_mut().push_str(std::str::from_utf8(chunk).unwrap())
        });
        let (r, l1) = (res.clone(), l.clone());
        c.on(Socket::END, move |_, _| {
            assert_eq!(*r.borrow(), format!("{a}{b}"));
            l1.push("end");
        });
        let l1 = l.clone();
        let ret = c.write_with(a, move |c, err| {
            assert!(err.is_none());
            assert!(!c.pending());
            assert!(!c.connecting());
            assert_eq!(c.ready_state(), ReadyState::ReadOnly);
            assert_eq!(c.bytes_written(), (a.len() + b.len()) as u64);
            l1.push("write cb");
        });
        assert!(
            !ret,
            "a high-water mark of 0 makes every queued write say false"
        );
        // Bytes, not characters: 'É' is two bytes.
        assert_eq!(c.bytes_written(), a.len() as u64);
        assert_eq!(a.len(), a.chars().count() + 1);
        c.on(Socket::CLOSE, move |_, h| l.push(format!("close {h}")));
        c.end_with(b);
        assert_eq!(c.ready_state(), ReadyState::Opening);
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["write cb", "end", "close false"]);
    assert_eq!(*result.borrow(), format!("{a}{b}"));
}

/// test-net-buffersize: `writable_length` (Node's `bufferSize`) counts the
/// bytes queued while connecting, one per write here, and is 0 at `finish`.
#[test]
fn node_net_buffersize() {
    let finishes = Calls::new();
    let f = finishes.clone();
    netloop::run(move || {
        let _g = guard("buffersize");
        let server = net::create_server(|server, socket: &Socket| {
            socket.on(Socket::DATA, |_, _| {});
            let server = server.clone();
            socket.on(Socket::END, move |_, _| {
                server.close();
            });
        });
        let port = listen_local(&server);
        let client = net::connect(port, "127.0.0.1")?;
        client.on(Socket::FINISH, move |c, _| {
            assert_eq!(c.writable_length(), 0);
            f.hit();
        });
        for i in 1..10 {
            client.write("a");
            assert_eq!(client.writable_length(), i);
        }
        client.end();
        Ok(())
    })
    .unwrap();
    assert_eq!(finishes.get(), 1);
}

/// test-net-socket-byteswritten: writes queued while connecting count in
/// `bytes_written` once, in bytes ("twø" is 4), before and after the
/// connection is up.
#[test]
fn node_net_socket_byteswritten() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("socket-byteswritten");
        let server = net::create_server(|_, socket: &Socket| {
            socket.end();
        });
        let port = listen_local(&server);
        let socket = net::connect(port, "127.0.0.1")?;
        socket.write("one");
        socket.write("twø".as_bytes());
        assert_eq!(socket.bytes_written(), 3 + 4);
        let l1 = l.clone();
        socket.on(Socket::CONNECT, move |s, _| {
            assert_eq!(s.bytes_written(), 3 + 4);
            l1.push("connect");
        });
        socket.on(Socket::END, move |s, _| {
            assert_eq!(s.bytes_written(), 3 + 4);
            l.push("end");
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["connect", "end"]);
}

/// test-net-bytes-stats: `bytes_read` and `bytes_written` per connection,
/// summed over a socket that reconnects after `close` (3 + 3 bytes each
/// time, twice).
#[test]
fn node_net_bytes_stats() {
    let bytes_read = Rc::new(Cell::new(0u64));
    let bytes_written = Rc::new(Cell::new(0u64));
    let count = Rc::new(Cell::new(0u32));
    let (br, bw, cnt) = (bytes_read.clone(), bytes_written.clone(), count.clone());
    netloop::run(move || {
        let _g = guard("bytes-stats");
        let tcp = net::create_server(move |_, s: &Socket| {
            s.on(Socket::DATA, |_, _| {});
            let br = br.clone();
            s.on(Socket::END, move |s, _| br.set(br.get() + s.bytes_read()));
        });
        let port = listen_local(&tcp);
        let socket = net::connect(port, "127.0.0.1")?;
        let c = cnt.clone();
        socket.on(Socket::CONNECT, move |s, _| {
            c.set(c.get() + 1);
            s.write_with("foo", |s, err| {
                assert!(err.is_none());
                s.end_with("bar");
            });
        });
        socket.on(Socket::DATA, |_, _| {});
        let bw = bw.clone();
        socket.on(Socket::FINISH, move |s, _| {
            bw.set(bw.get() + s.bytes_written())
        });
        socket.on(Socket::CLOSE, move |s, _| {
            if cnt.get() < 2 {
                // Reconnecting resets the counters; listeners stay.
                s.connect(port, "127.0.0.1").unwrap();
                assert_eq!(s.bytes_written(), 0);
                assert_eq!(s.bytes_read(), 0);
            } else {
                tcp.close();
            }
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(count.get(), 2);
    assert_eq!(bytes_read.get(), 12);
    assert_eq!(bytes_written.get(), 12);
}

/// test-net-bytes-read: `bytes_read` grows with every chunk, and equals the
/// whole 1 MiB at `end` and still at `close`.
#[test]
fn node_net_bytes_read() {
    const BIG: usize = 1024 * 1024;
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("bytes-read");
        let server = net::create_server(|server, socket: &Socket| {
            socket.end_with(vec![0u8; BIG]);
            server.close();
        });
        let port = listen_local(&server);
        let socket = net::connect(port, "127.0.0.1")?;
        let prev = Rc::new(Cell::new(0u64));
        let l1 = l.clone();
        socket.on(Socket::CONNECT, move |s, _| {
            let p = prev.clone();
            s.on(Socket::DATA, move |s, chunk| {
                assert!(s.bytes_read() > p.get());
                assert_eq!(s.bytes_read(), p.get() + chunk.len() as u64);
                p.set(s.bytes_read());
            });
            let (p, l2) = (prev.clone(), l1.clone());
            s.on(Socket::END, move |s, _| {
                assert_eq!(s.bytes_read(), p.get());
                assert_eq!(s.bytes_read(), BIG as u64);
                l2.push("end");
            });
            let (p, l2) = (prev.clone(), l1.clone());
            s.on(Socket::CLOSE, move |s, _| {
                assert_eq!(s.bytes_read(), p.get());
                assert_eq!(s.bytes_read(), BIG as u64);
                l2.push("close");
            });
        });
        socket.end();
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["end", "close"]);
}

/// test-net-bytes-written-large: `bytes_written` counts a 10 MB write whole
/// at once (what the kernel took plus what was queued), and the peer reads
/// all of it. Two variants: one write, and two writes of 10 MB.
#[test]
fn node_net_bytes_written_large() {
    const N: usize = 10_000_000;
    for writes in [1usize, 2] {
        let log = Log::new();
        let l = log.clone();
        netloop::run(move || {
            let _g = guard("bytes-written-large");
            let l1 = l.clone();
            let server = net::create_server(move |_, socket: &Socket| {
                for i in 1..=writes {
                    socket.write(vec![b'a'; N]);
                    assert_eq!(socket.bytes_written(), (i * N) as u64);
                }
                let l2 = l1.clone();
                socket.write_with(b"", move |s, err| {
                    assert!(err.is_none());
                    assert_eq!(s.bytes_written(), (writes * N) as u64);
                    l2.push("server write cb");
                });
                socket.end();
                assert_eq!(socket.bytes_written(), (writes * N) as u64);
            });
            let port = listen_local(&server);
            let client = net::connect(port, "127.0.0.1")?;
            client.on(Socket::DATA, |_, _| {});
            client.on(Socket::CLOSE, move |c, _| {
                assert_eq!(c.bytes_read(), (writes * N) as u64);
                l.push("client close");
                server.close();
            });
            Ok(())
        })
        .unwrap();
        let mut got = log.entries();
        got.sort();
        assert_eq!(got, ["client close", "server write cb"], "{writes} writes");
    }
}

/// test-net-large-string: 40 Ki three-byte characters through a socket
/// with `set_encoding(Utf8)`: every chunk is whole characters, and the
/// server counts exactly 40 Ki of them.
#[test]
fn node_net_large_string() {
    const SIZE: usize = 40 * 1024;
    let received = Rc::new(Cell::new(0usize));
    let ends = Calls::new();
    let (r, e) = (received.clone(), ends.clone());
    netloop::run(move || {
        let _g = guard("large-string");
        let server = net::create_server(move |_, socket: &Socket| {
            socket.set_encoding(Some(Encoding::Utf8));
            let r = r.clone();
            socket.on(Socket::DATA, move |_, d| {
                let text = std::str::from_utf8(d).expect("chunks end on character boundaries");
                assert!(text.chars().all(|c| c == 'あ'));
                r.set(r.get() + text.chars().count());
            });
            let e = e.clone();
            socket.on(Socket::END, move |s, _| {
                e.hit();
                s.end();
            });
        });
        let port = listen_local(&server);
        let client = net::connect(port, "127.0.0.1")?;
        client.on(Socket::END, move |_, _| {
            server.close();
        });
        client.write("あ".repeat(SIZE));
        client.end();
        Ok(())
    })
    .unwrap();
    assert_eq!(ends.get(), 1);
    assert_eq!(received.get(), SIZE);
}

/// `set_encoding(Utf8)` when a character is cut between two writes (and so
/// between two reads): the first byte of 'é' waits until the second comes,
/// and nothing but whole characters is ever delivered (the
/// character-boundary rule of test-net-large-string, made deterministic:
/// the second half is sent only after the client saw the first chunk).
#[test]
fn node_net_large_string_split_character() {
    let chunks = Log::new();
    let c2 = chunks.clone();
    netloop::run(move || {
        let _g = guard("split character");
        let e_acute = "é".as_bytes().to_vec();
        assert_eq!(e_acute.len(), 2);
        let server_sock: Rc<RefCell<Option<Socket>>> = Rc::default();
        let ss = server_sock.clone();
        let first = [b'a', e_acute[0]];
        let server = net::create_server(move |server, s: &Socket| {
            server.close();
            s.write(first);
            *ss.borrow_mut() = Some(s.clone());
        });
        let port = listen_local(&server);
        let client = net::connect(port, "127.0.0.1")?;
        client.set_encoding(Some(Encoding::Utf8));
        let rest = [e_acute[1], b'b'];
        client.on(Socket::DATA, move |_, d| {
            c2.push(std::str::from_utf8(d).expect("whole characters only"));
            if c2.entries().concat() == "a" {
                // The client holds back the cut byte; send the rest now.
                let s = server_sock.borrow().clone().unwrap();
                s.end_with(rest);
            }
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(chunks.entries(), ["a", "éb"]);
}

/// test-net-write-slow: ten 200 kB writes with callbacks and an `end`,
/// against a client that pauses on every chunk and resumes on a later loop
/// iteration: every byte arrives and every callback runs once.
#[test]
fn node_net_write_slow() {
    const SIZE: usize = 200_000;
    const N: usize = 10;
    let flushed = Rc::new(Cell::new(0usize));
    let received = Rc::new(Cell::new(0usize));
    let (f, r) = (flushed.clone(), received.clone());
    netloop::run(move || {
        let _g = guard("write-slow");
        let server = net::create_server(move |_, socket: &Socket| {
            socket.set_no_delay(true);
            for _ in 0..N {
                let f = f.clone();
                socket.write_with(vec![b'a'; SIZE], move |_, err| {
                    assert!(err.is_none());
                    f.set(f.get() + 1);
                });
            }
            socket.end();
        });
        let port = listen_local(&server);
        let conn = net::connect(port, "127.0.0.1")?;
        conn.on(Socket::DATA, move |c, buf| {
            r.set(r.get() + buf.len());
            c.pause();
            let c = c.clone();
            set_immediate(move || {
                c.resume();
            });
        });
        conn.on(Socket::END, move |_, _| {
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(flushed.get(), N);
    assert_eq!(received.get(), SIZE * N);
}

/// test-net-write-fully-async-buffer: write 1 MB buffers until `write()`
/// says false, then again on each `drain`. `drain` comes exactly once per
/// false (Node loops 200 times; 20 rounds keep the debug build quick).
#[test]
fn node_net_write_fully_async_buffer() {
    const ROUNDS: usize = 20;
    let falses = Rc::new(Cell::new(0usize));
    let drains = Rc::new(Cell::new(0usize));
    let received = Rc::new(Cell::new(0usize));
    let written = Rc::new(Cell::new(0usize));
    let (fa, dr, rc, wr) = (
        falses.clone(),
        drains.clone(),
        received.clone(),
        written.clone(),
    );
    netloop::run(move || {
        let _g = guard("write-fully-async-buffer");
        let rc2 = rc.clone();
        let server = net::create_server(move |_, conn: &Socket| {
            let rc2 = rc2.clone();
            conn.on(Socket::DATA, move |_, d| rc2.set(rc2.get() + d.len()));
        });
        let port = listen_local(&server);
        let conn = net::connect(port, "127.0.0.1")?;
        let data = vec![7u8; 1_000_000];
        let count = Rc::new(Cell::new(0usize));
        let write_loop = Rc::new(move |conn: &Socket| {
            let n = count.get();
            count.set(n + 1);
            if n == ROUNDS {
                conn.end();
                server.close();
                return;
            }
            // Bounded: the kernel takes at most a few MB before false.
            for _ in 0..1000 {
                wr.set(wr.get() + data.len());
                if !conn.write(&data) {
                    fa.set(fa.get() + 1);
                    assert!(conn.writable_length() > 0);
                    return;
                }
            }
            panic!("write() never said false");
        });
        let wl = write_loop.clone();
        conn.on(Socket::DRAIN, move |c, _| {
            assert_eq!(c.writable_length(), 0);
            dr.set(dr.get() + 1);
            wl(c);
        });
        conn.on(Socket::CONNECT, move |c, _| write_loop(c));
        Ok(())
    })
    .unwrap();
    assert_eq!(falses.get(), ROUNDS);
    assert_eq!(drains.get(), ROUNDS);
    assert_eq!(received.get(), written.get());
}

/// Per-socket and per-server high-water marks (Node's `highWaterMark`
/// option, default 16 KiB): `write()` says false once the queued bytes
/// reach the mark, and `drain` follows exactly once when the queue
/// empties. Writes made while connecting are all queued, so the count is
/// exact: with a mark of 8, 4 + 3 bytes are under it and the next byte
/// reaches it. `end()` was called before the queue emptied, so no `drain`
/// follows (Node's `afterWrite` skips it once the stream is ending). Node
/// 20 on the same program prints
/// `w1 true, w2 true, w3 false, w4 false, server write true, close`.
#[test]
fn node_net_connect_buffer_high_water_mark() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("high water mark");
        let server = Server::with_options(ServerOptions {
            high_water_mark: Some(4),
            ..ServerOptions::default()
        });
        let l1 = l.clone();
        server.on(Server::CONNECTION, move |server, s| {
            server.close();
            s.on(Socket::DATA, |_, _| {});
            let l2 = l1.clone();
            s.on(Socket::DRAIN, move |_, _| l2.push("server drain"));
            // The kernel takes these at once: nothing is queued, so true
            // even over the mark (netloop's rule; Node says false here).
            l1.push(format!("server write {}", s.write("0123456789abcdef")));
            s.end();
        });
        let port = listen_local(&server);
        let socket = Socket::with_options(SocketOptions {
            high_water_mark: Some(8),
            ..SocketOptions::default()
        });
        socket.connect(port, "127.0.0.1")?;
        l.push(format!("w1 {}", socket.write("1234")));
        l.push(format!("w2 {}", socket.write("567")));
        l.push(format!("w3 {}", socket.write("8")));
        l.push(format!("w4 {}", socket.write("9")));
        assert_eq!(socket.writable_length(), 9);
        let l1 = l.clone();
        socket.on(Socket::DRAIN, move |_, _| l1.push("drain"));
        socket.on(Socket::DATA, |_, _| {});
        socket.on(Socket::CLOSE, move |_, _| l.push("close"));
        socket.end();
        Ok(())
    })
    .unwrap();
    let entries = log.entries();
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.starts_with('w'))
            .collect::<Vec<_>>(),
        ["w1 true", "w2 true", "w3 false", "w4 false"]
    );
    assert_eq!(log.count("drain"), 0);
    assert_eq!(log.count("server write true"), 1);
    assert_eq!(log.count("server drain"), 0);
    assert_eq!(log.count("close"), 1);
}

/// test-net-stream: a server writes 20 MB to a client that pauses on its
/// first chunk and then destroys the connection; the server's writes fail
/// (its error handler destroys it), it closes once, and `pause()` returns
/// the socket. Every write callback runs once: those still queued get the
/// error the socket died of, after the `error` event (Node 20 passes
/// `ECONNRESET` to them too).
#[test]
fn node_net_stream() {
    const SIZE: usize = 2_000_000;
    const N: usize = 10;
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("net-stream");
        let l1 = l.clone();
        let server = net::create_server(move |server, socket: &Socket| {
            socket.set_no_delay(true);
            let l2 = l1.clone();
            socket.on(Socket::ERROR, move |s, err| {
                l2.push(format!("server error {}", err.code().as_str()));
                s.destroy();
            });
            let (l2, server) = (l1.clone(), server.clone());
            socket.on(Socket::CLOSE, move |_, _| {
                l2.push("server close");
                server.close();
            });
            for i in 0..N {
                let l2 = l1.clone();
                socket.write_with(vec![b'a'; SIZE], move |_, err| match err {
                    None => l2.push(format!("cb{i} ok")),
                    Some(e) => l2.push(format!("cb{i} {}", e.code().as_str())),
                });
            }
            socket.end();
        });
        let port = listen_local(&server);
        let conn = net::connect(port, "127.0.0.1")?;
        conn.once(Socket::DATA, |conn, _| {
            assert!(conn.pause() == conn);
            let conn = conn.clone();
            set_immediate(move || {
                conn.destroy();
            });
        });
        Ok(())
    })
    .unwrap();
    let entries = log.entries();
    assert_eq!(log.count("server close"), 1);
    assert_eq!(entries.last().map(String::as_str), Some("server close"));
    // The peer's close shows as a reset or a broken pipe, reported once.
    let errors = log.starting_with("server error");
    assert_eq!(errors.len(), 1, "{entries:?}");
    let code = errors[0].trim_start_matches("server error ").to_string();
    assert!(code == "ECONNRESET" || code == "EPIPE", "{entries:?}");
    let error_at = log.position(&errors[0]).unwrap();
    for i in 0..N {
        let ok = log.position(&format!("cb{i} ok"));
        let failed = log.position(&format!("cb{i} {code}"));
        match (ok, failed) {
            (Some(_), None) => {}
            (None, Some(at)) => assert!(at > error_at, "{entries:?}"),
            _ => panic!("write callback {i} ran {entries:?}"),
        }
    }
    // The last write cannot have reached a peer that stopped reading.
    assert!(
        log.position(&format!("cb{} {code}", N - 1)).is_some(),
        "{entries:?}"
    );
}

/// `pipe(&dest)` through a proxy: the source pauses when `dest.write()`
/// says false, resumes on `dest`'s `drain`, and ends `dest` on `end`; every
/// byte arrives in order (Node's `Readable.prototype.pipe` contract, as
/// test-net-write-connect-write uses it for an echo).
#[test]
fn node_net_write_connect_write_pipe_backpressure() {
    const TOTAL: usize = 16 * 1024 * 1024;
    let got = Rc::new(RefCell::new(Vec::<u8>::with_capacity(TOTAL)));
    let pauses = Rc::new(Cell::new(0usize));
    let drains = Rc::new(Cell::new(0usize));
    let sink_ends = Calls::new();
    let (g, pa, dr, se) = (
        got.clone(),
        pauses.clone(),
        drains.clone(),
        sink_ends.clone(),
    );
    netloop::run(move || {
        let _g = guard("pipe backpressure");
        // The source sends TOTAL bytes and ends.
        let source = net::create_server(|server, s: &Socket| {
            server.close();
            s.end_with(pattern(TOTAL));
        });
        let source_port = listen_local(&source);
        // The sink starts paused and is resumed once the pipe paused.
        let sink_sock: Rc<RefCell<Option<Socket>>> = Rc::default();
        let ss = sink_sock.clone();
        let sink = Server::with_options(ServerOptions {
            pause_on_connect: true,
            ..ServerOptions::default()
        });
        let g2 = g.clone();
        sink.on(Server::CONNECTION, move |server, s| {
            server.close();
            let g2 = g2.clone();
            s.on(Socket::DATA, move |_, d| {
                g2.borrow_mut().extend_from_slice(d)
            });
            let se = se.clone();
            s.on(Socket::END, move |_, _| se.hit());
            *ss.borrow_mut() = Some(s.clone());
        });
        let sink_port = listen_local(&sink);
        let from = net::connect(source_port, "127.0.0.1")?;
        let to = net::connect(sink_port, "127.0.0.1")?;
        from.pipe(&to);
        let dr2 = dr.clone();
        to.on(Socket::DRAIN, move |_, _| dr2.set(dr2.get() + 1));
        let release = Rc::new(move || {
            if let Some(s) = sink_sock.borrow().as_ref() {
                if s.is_paused() {
                    s.resume();
                }
            }
        });
        let r = release.clone();
        // Added after pipe's own listener, so it sees the pause it made.
        from.on(Socket::DATA, move |from, _| {
            if from.is_paused() {
                pa.set(pa.get() + 1);
                r();
            }
        });
        // Fallback so a missing pause fails the assertions, not the guard.
        from.on(Socket::END, move |_, _| release());
        Ok(())
    })
    .unwrap();
    assert_eq!(sink_ends.get(), 1, "pipe ends dest on end");
    assert!(pauses.get() >= 1, "the source never paused");
    assert!(drains.get() >= 1, "dest never drained");
    let got = got.borrow();
    assert_eq!(got.len(), TOTAL);
    assert!(*got == pattern(TOTAL), "bytes out of order");
}

/// A socket destroyed with an error while writes are still queued: the
/// `error` event comes first, then each queued write's callback with that
/// same error (Node's `state.errored`), then `close(true)` (Node 20's
/// order for `socket.destroy(err)` with buffered writes, the rule
/// test-net-stream exercises through a reset).
#[test]
fn node_net_stream_destroy_with_error() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("destroy with queued writes");
        // The peer never reads, so the writes stay queued.
        let server = Server::with_options(ServerOptions {
            pause_on_connect: true,
            ..ServerOptions::default()
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        let l1 = l.clone();
        c.on(Socket::ERROR, move |_, e| l1.push(format!("error {e}")));
        let l1 = l.clone();
        c.on(Socket::CLOSE, move |_, h| {
            l1.push(format!("close {h}"));
            server.close();
        });
        let l1 = l.clone();
        c.on(Socket::CONNECT, move |c, _| {
            let mut i = 0;
            // Bounded: the kernel buffers at most a few MB.
            while c.writable_length() == 0 && i < 64 {
                let l2 = l1.clone();
                c.write_with(pattern(1 << 20), move |_, err| {
                    if let Some(e) = err {
                        l2.push(format!("cb {e}"));
                    }
                });
                i += 1;
            }
            assert!(c.writable_length() > 0, "nothing queued");
            c.destroy_with(netloop::Error::new(
                netloop::ErrorCode::ECONNABORTED,
                "boom",
            ));
        });
        Ok(())
    })
    .unwrap();
    let entries = log.entries();
    assert_eq!(entries.first().map(String::as_str), Some("error boom"));
    assert_eq!(entries.last().map(String::as_str), Some("close true"));
    let middle = &entries[1..entries.len() - 1];
    assert!(!middle.is_empty(), "{entries:?}");
    assert!(middle.iter().all(|e| e == "cb boom"), "{entries:?}");
}

/// The default high-water mark is Node's 16 KiB: writes queued while
/// connecting say true up to 16 KiB - 1 bytes and false from 16 KiB on,
/// and one `drain` follows once they are flushed.
#[test]
fn node_net_connect_buffer_default_high_water_mark() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("default high water mark");
        let server = net::create_server(|server, s: &Socket| {
            server.close();
            s.on(Socket::DATA, |_, _| {});
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        assert_eq!(net::DEFAULT_HIGH_WATER_MARK, 16 * 1024);
        l.push(format!("{}", c.write(vec![0u8; 16 * 1024 - 1])));
        l.push(format!("{}", c.write([0u8])));
        l.push(format!("{}", c.write([0u8])));
        let l1 = l.clone();
        c.on(Socket::DRAIN, move |c, _| {
            l1.push(format!("drain {}", c.writable_length()));
            c.end();
        });
        c.on(Socket::CLOSE, move |_, h| l.push(format!("close {h}")));
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        ["true", "false", "false", "drain 0", "close false"]
    );
}

/// `set_encoding(Some(Encoding::Hex))` delivers each chunk as lowercase
/// hex text, and `set_encoding(None)` goes back to raw bytes (Node's
/// `setEncoding('hex')`). The server sends its second chunk only once the
/// client saw the first, so the two cannot share a read.
#[test]
fn node_net_large_string_hex_encoding() {
    let chunks = Log::new();
    let c2 = chunks.clone();
    netloop::run(move || {
        let _g = guard("hex encoding");
        let server_sock: Rc<RefCell<Option<Socket>>> = Rc::default();
        let ss = server_sock.clone();
        let server = net::create_server(move |server, s: &Socket| {
            server.close();
            s.write([0x01u8, 0xab, 0xff]);
            *ss.borrow_mut() = Some(s.clone());
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        c.set_encoding(Some(Encoding::Hex));
        c.on(Socket::DATA, move |c, d| {
            c2.push(String::from_utf8_lossy(d).into_owned());
            c.set_encoding(None);
            if let Some(s) = server_sock.borrow_mut().take() {
                s.end_with("ok");
            }
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(chunks.entries(), ["01abff", "ok"]);
}

/// test-net-socket-byteswritten's `cork()` part: writes made while corked
/// stay in the socket (counted by `bytes_written` and `writable_length`,
/// not sent) until `uncork()`, then leave together and arrive in order.
#[test]
fn node_net_socket_byteswritten_corked() {
    let log = Log::new();
    let received = Rc::new(RefCell::new(Vec::new()));
    let (l, got) = (log.clone(), received.clone());
    netloop::run(move || {
        let _g = guard("socket-byteswritten");
        let got2 = got.clone();
        let server = net::create_server(move |server, conn| {
            let got = got2.clone();
            conn.on(Socket::DATA, move |_, d| {
                got.borrow_mut().extend_from_slice(d)
            });
            server.close();
        });
        let port = listen_local(&server);
        let client = net::connect(port, "127.0.0.1")?;
        client.on(Socket::CONNECT, move |c, _| {
            c.cork();
            c.write("foo");
            c.write(b"bar");
            l.push(format!(
                "corked {} written {} queued {}",
                c.writable_corked(),
                c.bytes_written(),
                c.writable_length()
            ));
            let (l, c) = (l.clone(), c.clone());
            // A whole loop iteration later nothing has been sent.
            set_immediate(move || {
                l.push(format!("still queued {}", c.writable_length()));
                c.uncork();
                l.push(format!("uncork is deferred {}", c.writable_length()));
                let (l, c) = (l.clone(), c.clone());
                set_immediate(move || {
                    l.push(format!(
                        "sent {} corked {}",
                        c.writable_length(),
                        c.writable_corked()
                    ));
                    c.end();
                });
            });
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        [
            "corked 1 written 6 queued 6",
            "still queued 6",
            "uncork is deferred 6",
            "sent 0 corked 0",
        ]
    );
    assert_eq!(&received.borrow()[..], b"foobar");
}

/// `end()` uncorks fully (Node's `Writable.end`), so writes held by
/// nested `cork()` calls still go out before the FIN. No Node test of its
/// own.
#[test]
fn node_net_end_uncorks() {
    let received = Rc::new(RefCell::new(Vec::new()));
    let ends = Calls::new();
    let (got, e) = (received.clone(), ends.clone());
    netloop::run(move || {
        let _g = guard("end-uncorks");
        let server = net::create_server(move |server, conn| {
            let got = got.clone();
            conn.on(Socket::DATA, move |_, d| {
                got.borrow_mut().extend_from_slice(d)
            });
            let e = e.clone();
            conn.on(Socket::END, move |_, _| e.hit());
            server.close();
        });
        let port = listen_local(&server);
        let client = net::connect(port, "127.0.0.1")?;
        client.on(Socket::CONNECT, |c, _| {
            c.cork().cork();
            c.write("held ");
            c.write("twice");
            c.end();
            assert_eq!(c.writable_corked(), 0);
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(&received.borrow()[..], b"held twice");
    assert_eq!(ends.get(), 1);
}

/// Node's `socket.timeout` and `socket.writableHighWaterMark` properties.
#[test]
fn node_net_socket_timeout_and_high_water_mark_properties() {
    netloop::run(|| {
        let s = Socket::with_options(SocketOptions {
            high_water_mark: Some(1024),
            ..SocketOptions::default()
        });
        assert_eq!(s.writable_high_water_mark(), 1024);
        assert_eq!(Socket::new().writable_high_water_mark(), 16 * 1024);
        assert_eq!(s.timeout(), None);
        s.set_timeout(std::time::Duration::from_millis(250));
        assert_eq!(s.timeout(), Some(std::time::Duration::from_millis(250)));
        s.set_timeout(std::time::Duration::ZERO);
        assert_eq!(s.timeout(), None);
        Ok(())
    })
    .unwrap();
}
