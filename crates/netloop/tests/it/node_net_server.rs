//! Ports of Node's server tests for `close`, `maxConnections` and `drop`
//! (`test/parallel/test-net-server-max-connections*.js`,
//! `test-net-server-drop-connections.js`, `test-net-server-close.js`,
//! `test-net-listen-close-server.js`,
//! `test-net-server-close-before-calling-lookup-callback.js`).

use std::cell::RefCell;
use std::rc::Rc;

use crate::util::{guard, guard_secs, Calls, Log};
use netloop::net::{self, DropInfo, Family, Server, Socket};
use netloop::ErrorCode;

/// `test-net-server-max-connections.js`: 20 connections, made one after
/// another, to a server limited to 10: the first 10 are served (they get
/// data), the last 10 are closed at once (no data), and every client
/// closes.
#[test]
fn node_net_server_max_connections() {
    const N: usize = 20;
    let connections = Calls::new();
    let drops = Calls::new();
    let closes = Rc::new(RefCell::new(Vec::<usize>::new()));
    let got_data = Rc::new(RefCell::new(vec![false; N]));
    let errors = Log::new();
    // Makes the next connection; it holds itself (through `make2`), so the
    // test breaks that cycle once the loop is done.
    type MakeFn = Rc<RefCell<Option<Box<dyn Fn(usize)>>>>;
    let make_outer: MakeFn = Rc::default();
    netloop::run(|| {
        let _guard = guard_secs("node_net_server_max_connections", 20);
        let waits: Rc<RefCell<Vec<Socket>>> = Rc::default();
        let (k, w) = (connections.clone(), Rc::clone(&waits));
        let server = net::create_server(move |_, conn: &Socket| {
            k.hit();
            conn.write("hello");
            w.borrow_mut().push(conn.clone());
        });
        server.set_max_connections(Some(N / 2));
        assert_eq!(server.max_connections(), Some(N / 2));
        let d = drops.clone();
        server.on(Server::DROP, move |_, _| d.hit());
        server.listen(0, "127.0.0.1")?;
        let port = server.address().unwrap().port();

        let make = Rc::clone(&make_outer);
        let make2 = Rc::clone(&make);
        let (closes, got_data, errors) = (Rc::clone(&closes), Rc::clone(&got_data), errors.clone());
        *make.borrow_mut() = Some(Box::new(move |index: usize| {
            let c = net::create_connection(port, "127.0.0.1").unwrap();
            let gd = Rc::clone(&got_data);
            let make3 = Rc::clone(&make2);
            let (closes, got_data, waits, server) = (
                Rc::clone(&closes),
                Rc::clone(&got_data),
                Rc::clone(&waits),
                server.clone(),
            );
            c.on(Socket::CONNECT, move |c, _| {
                if index + 1 < N {
                    if let Some(f) = make3.borrow().as_ref() {
                        f(index + 1);
                    }
                }
                let (closes, got_data, waits, server) = (
                    Rc::clone(&closes),
                    Rc::clone(&got_data),
                    Rc::clone(&waits),
                    server.clone(),
                );
                c.on(Socket::CLOSE, move |_, _| {
                    closes.borrow_mut().push(index);
                    let n = closes.borrow().len();
                    if n < N / 2 {
                        assert!(
                            index >= N / 2,
                            "{index} should not be one of the first closed connections"
                        );
                    }
                    if n == N / 2 {
                        for conn in waits.borrow_mut().drain(..) {
                            conn.end();
                        }
                        server.close();
                    }
                    assert_eq!(got_data.borrow()[index], index < N / 2, "data for {index}");
                });
            });
            c.on(Socket::END, |c, _| {
                c.end();
            });
            c.on(Socket::DATA, move |_, b| {
                assert!(!b.is_empty());
                gd.borrow_mut()[index] = true;
            });
            let e = errors.clone();
            c.on(Socket::ERROR, move |_, err| {
                e.push(format!("{index}: {err}"))
            });
        }));
        if let Some(f) = make.borrow().as_ref() {
            f(0);
        }
        Ok(())
    })
    .unwrap();
    make_outer.borrow_mut().take();
    assert_eq!(connections.get(), N / 2);
    assert_eq!(drops.get(), N / 2);
    assert_eq!(closes.borrow().len(), N);
    assert_eq!(errors.entries(), Vec::<String>::new());
    let mut first_half: Vec<usize> = closes.borrow()[..N / 2].to_vec();
    first_half.sort();
    assert_eq!(first_half, (N / 2..N).collect::<Vec<_>>());
}

/// `test-net-server-max-connections-close-makes-more-available.js`: with
/// `maxConnections = 1`, closing the served connection makes room for the
/// next one.
#[test]
fn node_net_server_max_connections_close_makes_more_available() {
    let sent = Log::new();
    let received = Log::new();
    let errors = Log::new();
    netloop::run(|| {
        let _guard = guard_secs(
            "node_net_server_max_connections_close_makes_more_available",
            20,
        );
        let r = received.clone();
        let server = net::create_server(move |_, socket: &Socket| {
            let r = r.clone();
            socket.on(Socket::DATA, move |s, data| {
                r.push(String::from_utf8_lossy(data));
                s.write("acknowledged");
            });
        });
        server.set_max_connections(Some(1));
        server.listen(0, "127.0.0.1")?;
        let port = server.address().unwrap().port();

        // The promise chain of the Node test, as a list of steps; each
        // step calls `next` once it has "resolved".
        type Step = Box<dyn FnOnce(Rc<dyn Fn()>)>;
        let conns: Rc<RefCell<Vec<Socket>>> = Rc::default();
        let create = |index: usize| -> Step {
            let (conns, sent, errors) = (Rc::clone(&conns), sent.clone(), errors.clone());
            Box::new(move |next: Rc<dyn Fn()>| {
                let c = net::create_connection(port, "127.0.0.1").unwrap();
                let resolved = Rc::new(std::cell::Cell::new(false));
                let resolve = {
                    let resolved = Rc::clone(&resolved);
                    move || {
                        if !resolved.replace(true) {
                            next();
                        }
                    }
                };
                let s = sent.clone();
                c.on(Socket::CONNECT, move |c, _| {
                    c.write(index.to_string());
                    s.push(index.to_string());
                });
                let (r1, r2, r3) = (resolve.clone(), resolve.clone(), resolve);
                let e = errors.clone();
                c.on(Socket::ERROR, move |_, err| {
                    e.push(err.code().as_str());
                    r1();
                });
                c.on(Socket::DATA, move |_, _| r2());
                c.on(Socket::END, move |_, _| r3());
                conns.borrow_mut().push(c);
            })
        };
        let close_conn = |index: usize| -> Step {
            let conns = Rc::clone(&conns);
            Box::new(move |next: Rc<dyn Fn()>| {
                let c = conns.borrow()[index].clone();
                c.once(Socket::END, move |_, _| next());
                c.end();
            })
        };
        let srv = server.clone();
        let steps: Vec<Step> = vec![
            create(0),
            create(1),
            close_conn(0),
            create(2),
            create(3),
            Box::new(move |next: Rc<dyn Fn()>| {
                srv.close();
                next();
            }),
            close_conn(2),
        ];
        type Chain = Rc<RefCell<std::collections::VecDeque<Step>>>;
        let chain: Chain = Rc::new(RefCell::new(steps.into()));
        fn run_next(chain: Chain) {
            let step = chain.borrow_mut().pop_front();
            if let Some(step) = step {
                let c = Rc::clone(&chain);
                step(Rc::new(move || run_next(Rc::clone(&c))));
            }
        }
        run_next(chain);
        Ok(())
    })
    .unwrap();
    assert_eq!(sent.entries(), vec!["0", "1", "2", "3"]);
    assert_eq!(received.entries(), vec!["0", "2"]);
    for e in errors.entries() {
        assert_eq!(e, ErrorCode::ECONNRESET.as_str());
    }
}

/// `test-net-server-drop-connections.js`: a connection over the limit
/// emits `drop` with both ends' addresses.
#[test]
fn node_net_server_drop_connections() {
    let connections = Calls::new();
    let drops = Rc::new(RefCell::new(Vec::<DropInfo>::new()));
    let ports = Rc::new(RefCell::new((0u16, Vec::<u16>::new())));
    netloop::run(|| {
        let _guard = guard("node_net_server_drop_connections");
        let first: Rc<RefCell<Option<Socket>>> = Rc::default();
        let (k, f) = (connections.clone(), Rc::clone(&first));
        let server = net::create_server(move |_, socket: &Socket| {
            k.hit();
            *f.borrow_mut() = Some(socket.clone());
        });
        server.set_max_connections(Some(1));
        let d = Rc::clone(&drops);
        server.on(Server::DROP, move |server, info| {
            d.borrow_mut().push(info.clone());
            if let Some(s) = first.borrow().as_ref() {
                s.destroy();
            }
            server.close();
        });
        server.listen(0, "127.0.0.1")?;
        let port = server.address().unwrap().port();
        ports.borrow_mut().0 = port;
        for _ in 0..2 {
            let c = net::create_connection(port, "127.0.0.1")?;
            let p = Rc::clone(&ports);
            c.on(Socket::CONNECT, move |c, _| {
                p.borrow_mut().1.push(c.local_port().unwrap())
            });
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(connections.get(), 1);
    let drops = drops.borrow();
    assert_eq!(drops.len(), 1);
    let info = &drops[0];
    let (server_port, client_ports) = ports.borrow().clone();
    assert_eq!(info.local_address, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(info.local_port, Some(server_port));
    assert_eq!(info.local_family, Some(Family::IPv4));
    assert_eq!(info.remote_address, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(info.remote_family, Some(Family::IPv4));
    assert!(client_ports.contains(&info.remote_port.unwrap()));
}

/// `test-net-server-close.js`: `close` waits for the open connections; one
/// server `close` and two socket `close`s, and no connection left.
#[test]
fn node_net_server_close() {
    let events = Log::new();
    let counts = Rc::new(RefCell::new(Vec::<usize>::new()));
    let final_count = Rc::new(RefCell::new(usize::MAX));
    netloop::run(|| {
        let _guard = guard("node_net_server_close");
        let sockets: Rc<RefCell<Vec<Socket>>> = Rc::default();
        let (ev, cn) = (events.clone(), Rc::clone(&counts));
        let server = net::create_server(move |server, c: &Socket| {
            let ev = ev.clone();
            c.on(Socket::CLOSE, move |_, _| ev.push("client"));
            sockets.borrow_mut().push(c.clone());
            cn.borrow_mut().push(server.connections());
            if sockets.borrow().len() == 2 {
                server.close();
                assert!(!server.listening());
                for s in sockets.borrow().iter() {
                    s.destroy();
                }
            }
        });
        let (ev, fc) = (events.clone(), Rc::clone(&final_count));
        server.on(Server::CLOSE, move |s, _| {
            ev.push("server");
            *fc.borrow_mut() = s.connections();
        });
        server.listen(0, "127.0.0.1")?;
        let port = server.address().unwrap().port();
        net::create_connection(port, "127.0.0.1")?;
        net::create_connection(port, "127.0.0.1")?;
        Ok(())
    })
    .unwrap();
    assert_eq!(*counts.borrow(), vec![1, 2]);
    assert_eq!(*final_count.borrow(), 0);
    // Node 20 prints [ 'server', 'client', 'client' ]: the server's `close`
    // is a next-tick from the last socket's destroy, the sockets' `close`
    // events come in the close phase.
    assert_eq!(events.entries(), vec!["server", "client", "client"]);
}

/// `test-net-listen-close-server.js`: closing right after `listen()`:
/// no `listening`, no `error`, one `close`.
#[test]
fn node_net_listen_close_server() {
    let events = Log::new();
    netloop::run(|| {
        let server = net::create_server(|_, _| {});
        let ev = events.clone();
        server.on(Server::LISTENING, move |_, _| ev.push("listening"));
        let ev = events.clone();
        server.on(Server::ERROR, move |_, _| ev.push("error"));
        let ev = events.clone();
        server.on(Server::CLOSE, move |_, _| ev.push("close"));
        server.listen_port(0)?;
        server.close();
        Ok(())
    })
    .unwrap();
    assert_eq!(events.entries(), vec!["close"]);
}

/// `test-net-server-close-before-calling-lookup-callback.js`: closing while
/// the host name is looked up: no server is created and the loop ends.
#[test]
fn node_net_server_close_before_calling_lookup_callback() {
    let events = Log::new();
    netloop::run(|| {
        let _guard = guard("node_net_server_close_before_calling_lookup_callback");
        let server = Server::new();
        let ev = events.clone();
        server.on(Server::LISTENING, move |_, _| ev.push("listening"));
        let ev = events.clone();
        server.on(Server::CLOSE, move |s, _| {
            assert!(!s.listening());
            assert_eq!(s.address(), None);
            ev.push("close");
        });
        server.listen(0, "localhost")?.close();
        Ok(())
    })
    .unwrap();
    assert_eq!(events.entries(), vec!["close"]);
}

/// `server.close(callback)` (Node's `Server.prototype.close`): the callback
/// runs on `close`, with ERR_SERVER_NOT_RUNNING when the server was not
/// listening.
#[test]
fn node_net_server_close_callback() {
    let results = Log::new();
    netloop::run(|| {
        let idle = Server::new();
        let r = results.clone();
        idle.close_with(move |_, err| {
            r.push(match err {
                Some(e) => format!("idle: {} {}", e.code().as_str(), e.message()),
                None => "idle: ok".into(),
            })
        });
        let running = Server::new();
        running.listen(0, "127.0.0.1")?;
        let r = results.clone();
        running.close_with(move |s, err| {
            assert!(!s.listening());
            r.push(match err {
                Some(e) => format!("running: {}", e.code().as_str()),
                None => "running: ok".into(),
            })
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        results.entries(),
        vec![
            "idle: ERR_SERVER_NOT_RUNNING Server is not running.",
            "running: ok"
        ]
    );
}

/// `test-net-server-call-listen-multiple-times.js`: a second `listen`
/// while listening fails at once with ERR_SERVER_ALREADY_LISTEN; after
/// `close()` the server can listen again.
#[test]
fn node_net_server_call_listen_multiple_times() {
    let events = Log::new();
    netloop::run(|| {
        let _guard = guard("node_net_server_call_listen_multiple_times");
        let server = Server::new();
        server.listen(0, "127.0.0.1")?;
        let err = server.listen(0, "127.0.0.1").unwrap_err();
        assert_eq!(err.code(), ErrorCode::ERR_SERVER_ALREADY_LISTEN);
        assert_eq!(
            err.message(),
            "Listen method has been called more than once without closing."
        );
        server.close();
        server.listen(0, "127.0.0.1")?;
        let ev = events.clone();
        server.on(Server::LISTENING, move |s, _| {
            ev.push("listening");
            s.close();
        });
        let ev = events.clone();
        server.on(Server::CLOSE, move |_, _| ev.push("close"));
        Ok(())
    })
    .unwrap();
    assert_eq!(events.entries(), vec!["close", "listening", "close"]);
}

/// `server.address()` is Node's `null` once the server is closed; a Unix
/// server keeps its path.
#[test]
fn node_net_server_address_after_close() {
    let path = crate::util::temp_sock_path("addr-after-close");
    netloop::run(|| {
        let tcp = Server::new();
        tcp.listen(0, "127.0.0.1")?;
        assert!(tcp.address().is_some());
        tcp.close();
        assert_eq!(tcp.address(), None);
        assert!(!tcp.listening());

        let unix = Server::new();
        unix.listen_path(&path)?;
        unix.close();
        assert_eq!(unix.path(), Some(path.clone()));
        assert_eq!(unix.address(), None);
        Ok(())
    })
    .unwrap();
    assert!(!path.exists());
}
