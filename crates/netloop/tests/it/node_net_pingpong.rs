//! Ports of Node's ping-pong and reconnect tests
//! (`test/parallel/test-net-pingpong.js`, `test-net-reconnect.js`,
//! `test-net-reconnect-error.js`): a closed socket can `connect()` again
//! and keeps its listeners.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::util::{guard_secs, refused_port, temp_sock_path, Calls, Log};
use netloop::net::{self, Encoding, ReadyState, Server, ServerOptions, Socket};
use netloop::ErrorCode;

const N: usize = 1000;

enum Target {
    Pipe(std::path::PathBuf),
    Tcp(&'static str),
}

/// One ping-pong run (Node's `pingPongTest`): the client sends PING, the
/// server answers PONG, N times; then a last PING with `end()`. The
/// server allows half-open, so it still writes its last PONG after the
/// client's FIN, then ends.
fn ping_pong(target: Target, done: Calls) {
    let server = Server::with_options(ServerOptions {
        allow_half_open: true,
        ..ServerOptions::default()
    });
    let count = Rc::new(Cell::new(0usize));
    let sent_pongs = Rc::new(Cell::new(0usize));
    let c2 = Rc::clone(&count);
    let server_done = done.clone();
    server.on(Server::CONNECTION, move |server, socket| {
        assert_eq!(server.connections(), 1);
        socket.set_no_delay(true);
        socket.set_encoding(Some(Encoding::Utf8));
        let (count, sent_pongs) = (Rc::clone(&c2), Rc::clone(&sent_pongs));
        let sp = Rc::clone(&sent_pongs);
        socket.on(Socket::DATA, move |s, data| {
            // We never queue data (we always wait for the PING before
            // sending a PONG), so at most one message is buffered.
            assert!(s.writable_length() <= 4);
            assert_eq!(s.ready_state(), ReadyState::Open);
            assert!(count.get() <= N);
            assert_eq!(data, b"PING");
            let sp = Rc::clone(&sp);
            s.write_with("PONG", move |_, err| {
                assert!(err.is_none());
                sp.set(sp.get() + 1);
            });
        });
        socket.on(Socket::END, |s, _| {
            // Half-open: still writable, no longer readable.
            assert_eq!(s.ready_state(), ReadyState::WriteOnly);
            s.end();
        });
        let srv = server.clone();
        let server_done = server_done.clone();
        socket.on(Socket::CLOSE, move |s, had_error| {
            assert!(!had_error);
            assert_eq!(s.ready_state(), ReadyState::Closed);
            // Every PONG's write callback ran before `close`.
            assert_eq!(sent_pongs.get(), N + 1);
            server_done.hit();
            srv.close();
        });
    });
    let client_count = Rc::clone(&count);
    let on_listening =
        move |port: Option<u16>, host: &'static str, path: Option<std::path::PathBuf>| {
            let client = match (&path, port) {
                (Some(p), _) => net::connect_path(p).unwrap(),
                (None, Some(port)) => net::create_connection(port, host).unwrap(),
                _ => unreachable!(),
            };
            client.set_encoding(Some(Encoding::Utf8));
            client.on(Socket::CONNECT, |c, _| {
                assert_eq!(c.ready_state(), ReadyState::Open);
                c.write("PING");
            });
            let sent_final_ping = Rc::new(Cell::new(false));
            let (count, sfp) = (Rc::clone(&client_count), Rc::clone(&sent_final_ping));
            client.on(Socket::DATA, move |c, data| {
                assert_eq!(data, b"PONG");
                count.set(count.get() + 1);
                if sfp.get() {
                    // Our side ended: readable, not writable.
                    assert_eq!(c.ready_state(), ReadyState::ReadOnly);
                    return;
                }
                assert_eq!(c.ready_state(), ReadyState::Open);
                if count.get() < N {
                    c.write("PING");
                } else {
                    sfp.set(true);
                    c.write("PING");
                    c.end();
                }
            });
            let (count, sfp) = (Rc::clone(&client_count), Rc::clone(&sent_final_ping));
            client.on(Socket::CLOSE, move |_, had_error| {
                assert!(!had_error);
                assert_eq!(count.get(), N + 1);
                assert!(sfp.get());
                done.hit();
            });
        };
    // `once` listeners are FnMut; the client setup runs once.
    let mut on_listening = Some(on_listening);
    match target {
        Target::Pipe(path) => {
            server.listen_path(&path).unwrap();
            server.once(Server::LISTENING, move |_, _| {
                if let Some(f) = on_listening.take() {
                    f(None, "", Some(path.clone()))
                }
            });
        }
        Target::Tcp(host) => {
            server.listen(0, host).unwrap();
            server.once(Server::LISTENING, move |s, _| {
                let port = s.address().unwrap().port();
                if let Some(f) = on_listening.take() {
                    f(Some(port), host, None)
                }
            });
        }
    }
}

/// `test-net-pingpong.js`: all at once, over a Unix socket, 127.0.0.1,
/// "localhost" and ::1.
#[test]
fn node_net_pingpong() {
    let done = Calls::new();
    let path = temp_sock_path("pingpong");
    netloop::run(|| {
        let _guard = guard_secs("node_net_pingpong", 60);
        ping_pong(Target::Pipe(path.clone()), done.clone());
        ping_pong(Target::Tcp("127.0.0.1"), done.clone());
        ping_pong(Target::Tcp("localhost"), done.clone());
        ping_pong(Target::Tcp("::1"), done.clone());
        Ok(())
    })
    .unwrap();
    // Four server sockets and four clients closed, each after its checks.
    assert_eq!(done.get(), 8);
    assert!(!path.exists(), "the socket file is removed on close");
}

/// `test-net-reconnect.js`: the same socket connects N+1 times; its
/// listeners (registered once) see every round.
#[test]
fn node_net_reconnect() {
    const ROUNDS: usize = 50;
    let client_recv = Calls::new();
    let client_end = Calls::new();
    let disconnects = Calls::new();
    let server_closes = Log::new();
    netloop::run(|| {
        let _guard = guard_secs("node_net_reconnect", 30);
        let sc = server_closes.clone();
        let server = net::create_server(move |_, socket: &Socket| {
            socket.resume();
            socket.write("hello\r\n");
            socket.on(Socket::END, |s, _| {
                s.end();
            });
            let sc = sc.clone();
            socket.on(Socket::CLOSE, move |_, had_error| {
                sc.push(format!("{had_error}"));
            });
        });
        server.listen(0, "127.0.0.1")?;
        let port = server.address().unwrap().port();
        let client = net::create_connection(port, "127.0.0.1")?;
        client.set_encoding(Some(Encoding::Utf8));
        let k = client_recv.clone();
        client.on(Socket::DATA, move |c, chunk| {
            k.hit();
            assert_eq!(chunk, b"hello\r\n");
            c.end();
        });
        let k = client_end.clone();
        client.on(Socket::END, move |_, _| k.hit());
        let k = disconnects.clone();
        client.on(Socket::CLOSE, move |c, had_error| {
            assert!(!had_error);
            let n = k.get();
            k.hit();
            if n < ROUNDS {
                c.connect(port, "127.0.0.1").unwrap();
            } else {
                server.close();
            }
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(disconnects.get(), ROUNDS + 1);
    assert_eq!(client_recv.get(), ROUNDS + 1);
    assert_eq!(client_end.get(), ROUNDS + 1);
    let closes = server_closes.entries();
    assert_eq!(closes.len(), ROUNDS + 1);
    assert!(closes.iter().all(|c| c == "false"));
}

/// `test-net-reconnect-error.js`: reconnecting after a refused connect;
/// every round emits `error` (ECONNREFUSED) then `close`.
#[test]
fn node_net_reconnect_error() {
    const ROUNDS: usize = 20;
    let errors = Rc::new(RefCell::new(Vec::<ErrorCode>::new()));
    let disconnects = Calls::new();
    let connects = Calls::new();
    let refused = refused_port();
    let port = refused.port();
    netloop::run(|| {
        let _guard = guard_secs("node_net_reconnect_error", 30);
        let c = net::create_connection(port, "127.0.0.1")?;
        let k = connects.clone();
        c.on(Socket::CONNECT, move |_, _| k.hit());
        let e = Rc::clone(&errors);
        c.on(Socket::ERROR, move |_, err| e.borrow_mut().push(err.code()));
        let d = disconnects.clone();
        c.on(Socket::CLOSE, move |c, had_error| {
            assert!(had_error);
            let n = d.get();
            d.hit();
            if n < ROUNDS {
                c.connect(port, "127.0.0.1").unwrap();
            }
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(connects.get(), 0);
    assert_eq!(disconnects.get(), ROUNDS + 1);
    assert_eq!(*errors.borrow(), vec![ErrorCode::ECONNREFUSED; ROUNDS + 1]);
}
