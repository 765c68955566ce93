//! Ports of Node's address and socket-option tests: IPv6, dual stack,
//! `ipv6Only`, local addresses, `EADDRINUSE`, `SO_REUSEPORT`, backlog,
//! keep-alive and no-delay (`test/parallel/test-net-connect-options-ipv6.js`,
//! `test-net-listen-ipv6only.js`, `test-net-server-address.js`,
//! `test-net-socket-local-address.js`, `test-net-bind-twice.js`,
//! `test-net-persistent-keepalive.js`, `test-net-persistent-nodelay.js`,
//! `test-net-socket-setnodelay.js`, `test-net-server-keepalive.js`,
//! `test-net-server-nodelay.js`, `test-net-connect-keepalive.js`,
//! `test-net-connect-nodelay.js`).
//!
//! Node checks the socket options by wrapping its native handle's
//! `setKeepAlive`/`setNoDelay`; these tests read them back from the
//! connection with `Socket::keep_alive()` / `Socket::no_delay()`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use crate::util::{guard, ip, Calls, Log};
use netloop::net::{self, ConnectOptions, Family, ListenOptions, Server, ServerOptions, Socket};
use netloop::ErrorCode;

/// `test-net-connect-options-ipv6.js`: connecting to `::1` with
/// `family: 6`; both ends see IPv6 addresses.
#[test]
fn node_net_connect_options_ipv6() {
    let seen = Log::new();
    netloop::run(|| {
        let _guard = guard("node_net_connect_options_ipv6");
        let s = seen.clone();
        let server = net::create_server(move |server, sock: &Socket| {
            s.push(format!(
                "server: remote {:?} {:?} local {:?}",
                sock.remote_address(),
                sock.remote_family(),
                sock.local_address()
            ));
            sock.end();
            server.close();
        });
        server.listen(0, "::1")?;
        let addr = server.address().unwrap();
        assert_eq!(addr.ip(), ip("::1"));
        let c = net::connect_with(ConnectOptions {
            host: Some("::1".into()),
            port: addr.port(),
            family: Some(Family::IPv6),
            ..ConnectOptions::default()
        })?;
        let s = seen.clone();
        c.on(Socket::CONNECT, move |c, _| {
            s.push(format!(
                "client: remote {:?} {:?} {} local family {:?}",
                c.remote_address(),
                c.remote_family(),
                c.remote_port() == Some(addr.port()),
                c.local_family()
            ));
        });
        Ok(())
    })
    .unwrap();
    // The two ends' events may come in either order (one poll batch).
    let mut seen = seen.entries();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            "client: remote Some(::1) Some(IPv6) true local family Some(IPv6)",
            "server: remote Some(::1) Some(IPv6) local Some(::1)",
        ]
    );
}

/// `test-net-listen-ipv6only.js`: a `::` listener with `ipv6Only` refuses
/// IPv4 clients.
#[test]
fn node_net_listen_ipv6only() {
    let errors = Log::new();
    let connects = Calls::new();
    netloop::run(|| {
        let _guard = guard("node_net_listen_ipv6only");
        let server = Server::new();
        server.listen_with(ListenOptions {
            host: Some("::".into()),
            port: 0,
            ipv6_only: true,
            ..ListenOptions::default()
        })?;
        let addr = server.address().unwrap();
        assert_eq!(addr.ip(), ip("::"));
        let socket = net::connect(addr.port(), "127.0.0.1")?;
        let k = connects.clone();
        socket.on(Socket::CONNECT, move |_, _| k.hit());
        let e = errors.clone();
        socket.on(Socket::ERROR, move |_, err| {
            e.push(format!("{} {}", err.code().as_str(), err.message()));
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(connects.get(), 0);
    let errors = errors.entries();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("ECONNREFUSED connect ECONNREFUSED 127.0.0.1:"),
        "{errors:?}"
    );
}

/// `test-net-server-address.js`: `address()` for IPv4, IPv6, and no host
/// (dual-stack `::`, which also accepts IPv4 clients as
/// `::ffff:127.0.0.1`, family IPv6).
#[test]
fn node_net_server_address() {
    let seen = Log::new();
    netloop::run(|| {
        let _guard = guard("node_net_server_address");
        let v4 = Server::new();
        v4.listen(0, "127.0.0.1")?;
        let a = v4.address().unwrap();
        assert_eq!(
            (a.ip(), Family::of(&a.ip())),
            (ip("127.0.0.1"), Family::IPv4)
        );
        assert_ne!(a.port(), 0);
        v4.close();

        let v6 = Server::new();
        v6.listen(0, "::1")?;
        let a = v6.address().unwrap();
        assert_eq!((a.ip(), Family::of(&a.ip())), (ip("::1"), Family::IPv6));
        v6.close();

        let s = seen.clone();
        let dual = net::create_server(move |server, sock: &Socket| {
            s.push(format!(
                "{:?} {:?} {:?} {:?}",
                sock.remote_address(),
                sock.remote_family(),
                sock.local_address(),
                sock.local_family()
            ));
            sock.destroy();
            if s.len() == 2 {
                server.close();
            }
        });
        dual.listen_port(0)?;
        let a = dual.address().unwrap();
        assert_eq!((a.ip(), Family::of(&a.ip())), (ip("::"), Family::IPv6));
        // One client at a time, so the log order is fixed.
        let c = net::connect(a.port(), "127.0.0.1")?;
        c.on(Socket::CLOSE, move |_, _| {
            net::connect(a.port(), "::1").unwrap();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        seen.entries(),
        vec![
            "Some(::ffff:127.0.0.1) Some(IPv6) Some(::ffff:127.0.0.1) Some(IPv6)",
            "Some(::1) Some(IPv6) Some(::1) Some(IPv6)",
        ]
    );
}

/// `test-net-socket-local-address.js`: a client connecting twice with the
/// same socket; the server sees it from the client's local port, and its
/// own socket's local end is the listening address.
#[test]
fn node_net_socket_local_address() {
    let client_ports = Rc::new(RefCell::new(Vec::<u16>::new()));
    let server_seen = Rc::new(RefCell::new(Vec::<u16>::new()));
    netloop::run(|| {
        let _guard = guard("node_net_socket_local_address");
        let seen = Rc::clone(&server_seen);
        let server = net::create_server(move |server, socket: &Socket| {
            assert_eq!(socket.local_address(), Some(ip("127.0.0.1")));
            assert_eq!(socket.local_port(), server.address().map(|a| a.port()));
            seen.borrow_mut().push(socket.remote_port().unwrap());
            socket.resume();
        });
        server.listen(0, "127.0.0.1")?;
        let port = server.address().unwrap().port();
        let client = Socket::new();
        let conns = Rc::new(std::cell::Cell::new(0));
        let ports = Rc::clone(&client_ports);
        client.on(Socket::CONNECT, move |c, _| {
            ports.borrow_mut().push(c.local_port().unwrap());
            assert_eq!(c.local_address(), Some(ip("127.0.0.1")));
            c.end();
        });
        let c2 = Rc::clone(&conns);
        client.on(Socket::CLOSE, move |c, _| {
            if c2.get() == 2 {
                server.close();
            } else {
                c2.set(c2.get() + 1);
                c.connect(port, "127.0.0.1").unwrap();
            }
        });
        conns.set(1);
        client.connect(port, "127.0.0.1")?;
        Ok(())
    })
    .unwrap();
    assert_eq!(client_ports.borrow().len(), 2);
    assert_eq!(*client_ports.borrow(), *server_seen.borrow());
}

/// `test-net-bind-twice.js`: a second listener on a port in use fails
/// with Node's message, syscall, errno, address and port.
#[test]
fn node_net_bind_twice() {
    let errors = Log::new();
    let listening = Calls::new();
    netloop::run(|| {
        let _guard = guard("node_net_bind_twice");
        let first = Server::new();
        first.listen(0, "127.0.0.1")?;
        let port = first.address().unwrap().port();
        let second = Server::new();
        let l = listening.clone();
        second.on(Server::LISTENING, move |_, _| l.hit());
        let e = errors.clone();
        second.on(Server::ERROR, move |s, err| {
            e.push(format!(
                "{} | {} | {:?} {:?} {:?} {:?} | listening={}",
                err.code().as_str(),
                err.message()
                    == format!("listen EADDRINUSE: address already in use 127.0.0.1:{port}"),
                err.syscall(),
                err.errno(),
                err.address(),
                err.port() == Some(port),
                s.listening()
            ));
            first.close();
        });
        second.listen(port, "127.0.0.1")?;
        Ok(())
    })
    .unwrap();
    assert_eq!(listening.get(), 0);
    assert_eq!(
        errors.entries(),
        vec!["EADDRINUSE | true | Some(\"listen\") Some(-98) Some(\"127.0.0.1\") true | listening=false"]
    );
}

/// `SO_REUSEPORT` (Node 22's `reusePort` listen option, Linux): two
/// listeners share a port and both accept.
#[test]
fn node_net_server_reuseport() {
    let accepted = Rc::new(RefCell::new(Vec::<&'static str>::new()));
    netloop::run(|| {
        let _guard = guard("node_net_server_reuseport");
        let make = |name: &'static str| {
            let acc = Rc::clone(&accepted);
            net::create_server(move |_, s: &Socket| {
                acc.borrow_mut().push(name);
                s.end();
            })
        };
        let a = make("a");
        a.listen_with(ListenOptions {
            host: Some("127.0.0.1".into()),
            reuse_port: true,
            ..ListenOptions::default()
        })?;
        let port = a.address().unwrap().port();
        let b = make("b");
        b.listen_with(ListenOptions {
            host: Some("127.0.0.1".into()),
            port,
            reuse_port: true,
            ..ListenOptions::default()
        })?;
        assert!(a.listening() && b.listening());
        assert_eq!(b.address().unwrap().port(), port);
        // Connect until the kernel has given a connection to each (bounded).
        let acc = Rc::clone(&accepted);
        fn connect_more(
            port: u16,
            left: usize,
            acc: Rc<RefCell<Vec<&'static str>>>,
            a: Server,
            b: Server,
        ) {
            let c = net::connect(port, "127.0.0.1").unwrap();
            c.on(Socket::CLOSE, move |_, _| {
                let both = acc.borrow().contains(&"a") && acc.borrow().contains(&"b");
                if both || left == 0 {
                    a.close();
                    b.close();
                } else {
                    connect_more(port, left - 1, Rc::clone(&acc), a.clone(), b.clone());
                }
            });
        }
        connect_more(port, 200, acc, a, b);
        Ok(())
    })
    .unwrap();
    let acc = accepted.borrow();
    assert!(acc.contains(&"a") && acc.contains(&"b"), "{acc:?}");
}

/// The listen backlog option: a small backlog still serves connections;
/// a negative one is refused at once (netloop; Node 20 passes it on).
#[test]
fn node_net_server_listen_options_backlog() {
    let served = Calls::new();
    netloop::run(|| {
        let _guard = guard("node_net_server_listen_options_backlog");
        let bad = Server::new();
        let err = bad
            .listen_with(ListenOptions {
                host: Some("127.0.0.1".into()),
                backlog: Some(-1),
                ..ListenOptions::default()
            })
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::ERR_INVALID_ARG_VALUE);
        assert!(!bad.listening());

        let k = served.clone();
        let server = net::create_server(move |server, s: &Socket| {
            k.hit();
            s.end();
            server.close();
        });
        server.listen_with(ListenOptions {
            host: Some("127.0.0.1".into()),
            backlog: Some(1),
            ..ListenOptions::default()
        })?;
        net::connect(server.address().unwrap().port(), "127.0.0.1")?;
        Ok(())
    })
    .unwrap();
    assert_eq!(served.get(), 1);
}

/// Runs a server with `opts` and one client made by `connect`; returns
/// what `probe` read on the client (after `connect`) and on the server's
/// socket.
fn probe_options(
    opts: ServerOptions,
    connect: impl FnOnce(u16) -> Socket + 'static,
) -> (String, String) {
    let client_seen = Rc::new(RefCell::new(String::new()));
    let server_seen = Rc::new(RefCell::new(String::new()));
    let read = |s: &Socket| {
        format!(
            "no_delay={:?} keep_alive={:?}",
            s.no_delay(),
            s.keep_alive()
        )
    };
    netloop::run(|| {
        let _guard = guard("probe_options");
        let ss = Rc::clone(&server_seen);
        let server = Server::with_options(opts);
        server.on(Server::CONNECTION, move |server, s| {
            *ss.borrow_mut() = read(s);
            s.end();
            server.close();
        });
        server.listen(0, "127.0.0.1")?;
        let c = connect(server.address().unwrap().port());
        let cs = Rc::clone(&client_seen);
        c.on(Socket::CONNECT, move |c, _| *cs.borrow_mut() = read(c));
        Ok(())
    })
    .unwrap();
    let c = client_seen.borrow().clone();
    let s = server_seen.borrow().clone();
    (c, s)
}

/// `test-net-persistent-keepalive.js` / `test-net-persistent-nodelay.js`:
/// options set before connecting apply once connected.
#[test]
fn node_net_persistent_keepalive() {
    let (client, _) = probe_options(ServerOptions::default(), |port| {
        let s = Socket::new();
        assert_eq!((s.no_delay(), s.keep_alive()), (None, None));
        s.set_keep_alive(true, Duration::from_millis(400));
        s.set_no_delay(true);
        s.connect(port, "127.0.0.1").unwrap();
        s
    });
    assert_eq!(client, "no_delay=Some(true) keep_alive=Some(true)");
}

/// Defaults: Nagle on and no keep-alive, on both ends (Node's defaults).
#[test]
fn node_net_persistent_nodelay() {
    let (client, server) = probe_options(ServerOptions::default(), |port| {
        net::connect(port, "127.0.0.1").unwrap()
    });
    assert_eq!(client, "no_delay=Some(false) keep_alive=Some(false)");
    assert_eq!(server, "no_delay=Some(false) keep_alive=Some(false)");
}

/// `test-net-server-keepalive.js` / `test-net-server-nodelay.js`: server
/// options apply to accepted sockets.
#[test]
fn node_net_server_keepalive() {
    let (_, server) = probe_options(
        ServerOptions {
            keep_alive: true,
            keep_alive_initial_delay: Duration::from_secs(1),
            no_delay: true,
            ..ServerOptions::default()
        },
        |port| net::connect(port, "127.0.0.1").unwrap(),
    );
    assert_eq!(server, "no_delay=Some(true) keep_alive=Some(true)");
}

/// `test-net-connect-keepalive.js` / `test-net-connect-nodelay.js`:
/// connect options apply once connected.
#[test]
fn node_net_connect_keepalive() {
    let (client, _) = probe_options(ServerOptions::default(), |port| {
        net::connect_with(ConnectOptions {
            port,
            host: Some("127.0.0.1".into()),
            keep_alive: true,
            keep_alive_initial_delay: Duration::from_secs(1),
            no_delay: true,
            ..ConnectOptions::default()
        })
        .unwrap()
    });
    assert_eq!(client, "no_delay=Some(true) keep_alive=Some(true)");
}

/// `test-net-socket-setnodelay.js`: toggling on a connected socket, and
/// harmless after close.
#[test]
fn node_net_socket_setnodelay() {
    let seen = Log::new();
    netloop::run(|| {
        let _guard = guard("node_net_socket_setnodelay");
        let server = net::create_server(|server, s: &Socket| {
            s.end();
            server.close();
        });
        server.listen(0, "127.0.0.1")?;
        let c = net::connect(server.address().unwrap().port(), "127.0.0.1")?;
        let s = seen.clone();
        c.on(Socket::CONNECT, move |c, _| {
            c.set_no_delay(true);
            s.push(format!("{:?}", c.no_delay()));
            c.set_no_delay(false);
            s.push(format!("{:?}", c.no_delay()));
            c.set_keep_alive(true, Duration::ZERO);
            s.push(format!("{:?}", c.keep_alive()));
            c.set_keep_alive(false, Duration::ZERO);
            s.push(format!("{:?}", c.keep_alive()));
        });
        let s = seen.clone();
        c.on(Socket::CLOSE, move |c, _| {
            c.set_no_delay(true);
            c.set_keep_alive(true, Duration::from_secs(1));
            s.push(format!("closed {:?} {:?}", c.no_delay(), c.keep_alive()));
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        seen.entries(),
        vec![
            "Some(true)",
            "Some(false)",
            "Some(true)",
            "Some(false)",
            "closed None None"
        ]
    );
}
