//! Listening and addresses, ported from Node's `test/parallel`:
//! `listening`, the listen variants, a failed listen that is retried, and
//! `listening` listeners that run once. Each test names the Node test it
//! ports. Servers listen on 127.0.0.1 / ::1 only; the variants of Node's
//! tests that listen on every interface (`listen()` with no host) are
//! left to `listen_port`'s own tests.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::util::{guard, has_ipv6, listen_local, Calls, Log};
use netloop::net::{self, Family, ListenOptions, Server, Socket};
use netloop::ErrorCode;

/// test-net-listening: `listening()` is false before `listen`, true once
/// listening (at once for an IP literal, netloop binding synchronously),
/// and false again when `close` is emitted.
#[test]
fn node_net_listening() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("listening");
        let server = net::create_server(|_, _| {});
        assert!(!server.listening());
        server.listen(0, "127.0.0.1")?;
        assert!(server.listening());
        let l1 = l.clone();
        server.on(Server::LISTENING, move |s, _| {
            assert!(s.listening());
            l1.push("listening");
            let l2 = l1.clone();
            s.close_with(move |s, err| {
                assert!(err.is_none());
                assert!(!s.listening());
                l2.push("closed");
            });
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["listening", "closed"]);
}

/// test-net-server-listen-options: `listen(port, host)` and
/// `listen_with(ListenOptions { port, .. })` with port 0 each get a port
/// from the OS and emit `listening` once; the server closes from its own
/// listener. (The argument checks of that test are on JavaScript values
/// that `u16` and `ListenOptions` cannot express.)
#[test]
fn node_net_server_listen_options() {
    let listening = Calls::new();
    let l = listening.clone();
    netloop::run(move || {
        let _g = guard("server-listen-options");
        let close = move |s: &Server, _: &()| {
            l.hit();
            assert_ne!(s.address().unwrap().port(), 0);
            s.close();
        };
        net::create_server(|_, _| {})
            .listen(0, "127.0.0.1")?
            .on(Server::LISTENING, close.clone());
        net::create_server(|_, _| {})
            .listen_with(ListenOptions {
                port: 0,
                host: Some("127.0.0.1".into()),
                ..ListenOptions::default()
            })?
            .on(Server::LISTENING, close.clone());
        // A name is looked up first; `listening` still comes once.
        net::create_server(|_, _| {})
            .listen(0, "localhost")?
            .on(Server::LISTENING, close);
        Ok(())
    })
    .unwrap();
    assert_eq!(listening.get(), 3);
}

/// test-net-server-bind: every listen form gets its address: port 0 gives
/// an OS port, a backlog can be passed (`ListenOptions::backlog`), and the
/// address family is the host's.
#[test]
fn node_net_server_bind() {
    let addresses = std::rc::Rc::new(std::cell::RefCell::new(Vec::<SocketAddr>::new()));
    let a = addresses.clone();
    netloop::run(move || {
        let _g = guard("server-bind");
        let record = |s: &Server| {
            let a = a.clone();
            s.on(Server::LISTENING, move |s, _| {
                a.borrow_mut().push(s.address().unwrap());
                s.close();
            });
        };
        let server0 = net::create_server(|_, _| {});
        server0.listen(0, "127.0.0.1")?;
        record(&server0);
        let server3 = net::create_server(|_, _| {});
        server3.listen_with(ListenOptions {
            port: 0,
            host: Some("127.0.0.1".into()),
            backlog: Some(127),
            ..ListenOptions::default()
        })?;
        record(&server3);
        if has_ipv6() {
            let server6 = net::create_server(|_, _| {});
            server6.listen(0, "::1")?;
            record(&server6);
        }
        Ok(())
    })
    .unwrap();
    let addresses = addresses.borrow();
    assert_eq!(addresses.len(), if has_ipv6() { 3 } else { 2 });
    for addr in addresses.iter() {
        assert!(addr.port() > 0);
        assert!(addr.ip().is_loopback());
    }
    assert_eq!(addresses[0].ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(Family::of(&addresses[0].ip()), Family::IPv4);
    if has_ipv6() {
        assert_eq!(Family::of(&addresses[2].ip()), Family::IPv6);
    }
}

/// test-net-server-try-ports: a second server on a port in use gets one
/// `EADDRINUSE` error (Node's message, on a later tick), is not
/// listening, and can listen again on another port.
#[test]
fn node_net_server_try_ports() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("server-try-ports");
        let connections = Calls::new();
        let c1 = connections.clone();
        let server1 = net::create_server(move |_, s: &Socket| {
            c1.hit();
            s.destroy();
        });
        let port = listen_local(&server1);
        let server2 = net::create_server(|_, s: &Socket| {
            s.destroy();
        });
        let l1 = l.clone();
        server2.on(Server::ERROR, move |s2, err| {
            assert_eq!(err.code(), ErrorCode::EADDRINUSE);
            assert_eq!(err.syscall(), Some("listen"));
            assert_eq!(
                err.to_string(),
                format!("listen EADDRINUSE: address already in use 127.0.0.1:{port}")
            );
            assert!(!s2.listening());
            l1.push("server2 error");
            // Now try again, on a free port.
            s2.listen(0, "127.0.0.1").unwrap();
            let (l2, server1) = (l1.clone(), server1.clone());
            s2.on(Server::LISTENING, move |s2, _| {
                l2.push("server2 listening");
                server1.close();
                s2.close();
            });
        });
        // Returns Ok: the failure is an `error` event.
        server2.listen(port, "127.0.0.1")?;
        l.push("listen returned");
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        ["listen returned", "server2 error", "server2 listening"]
    );
}

/// test-net-server-listen-remove-callback: a `listening` listener added
/// with `once` (Node's listen callback) runs once and is gone afterwards.
/// The first `close` comes on the tick after `close()`, when the second
/// listen's callback is already waiting (Node 20 prints 1 there too); the
/// last `close` finds none left.
#[test]
fn node_net_server_listen_remove_callback() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("server-listen-remove-callback");
        let server = net::create_server(|_, _| {});
        let l1 = l.clone();
        server.on(Server::CLOSE, move |s, _| {
            l1.push(format!("close {}", s.listener_count("listening")));
        });
        server.listen(0, "127.0.0.1")?;
        let l1 = l.clone();
        server.once(Server::LISTENING, move |s, _| {
            l1.push("first listening");
            s.close();
            s.listen(0, "127.0.0.1").unwrap();
            let l2 = l1.clone();
            s.once(Server::LISTENING, move |s, _| {
                l2.push("second listening");
                s.close();
            });
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        ["first listening", "close 1", "second listening", "close 0"]
    );
}
