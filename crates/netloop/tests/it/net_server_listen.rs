//! `Server::listen` and `Server::close`: binding, `listening`, errors, and
//! when `close` is emitted (orders checked against Node 20).

use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use crate::util::{guard, listen_local, temp_sock_path, Calls, Log};
use netloop::net::{self, Server, Socket};
use netloop::timers::set_timeout;
use netloop::{next_tick, ErrorCode};

#[test]
fn listen_on_an_ip_literal_binds_before_returning_and_emits_listening_later() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let server = Server::new();
        let returned = Rc::new(Cell::new(false));
        let r = Rc::clone(&returned);
        let ll = l.clone();
        server.on(Server::LISTENING, move |s, _| {
            assert!(r.get(), "listening emitted inside listen()");
            assert!(s.listening());
            ll.push("listening");
            s.close();
        });
        assert!(server.address().is_none());
        assert!(!server.listening());
        server.listen(0, "127.0.0.1")?;
        returned.set(true);
        // Better than Node: the address is there on the next line.
        let addr = server.address().expect("bound synchronously");
        assert_eq!(addr.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_ne!(addr.port(), 0);
        assert!(server.listening());
        l.push("listen returned");
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["listen returned", "listening"]);
}

#[test]
fn listen_on_ipv6_loopback() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("::1");
        let server = net::create_server(|_, sock: &Socket| {
            sock.end();
        });
        server.listen(0, "::1")?;
        let addr = server.address().expect("bound synchronously");
        assert_eq!(addr.ip(), IpAddr::V6(Ipv6Addr::LOCALHOST));
        let client = net::connect(addr.port(), "::1")?;
        client.on(Socket::CLOSE, move |c, had_error| {
            assert!(!had_error);
            l.push(format!(
                "{:?} {}",
                c.remote_address(),
                c.remote_family().unwrap()
            ));
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["Some(::1) IPv6"]);
}

#[test]
fn listen_on_a_name_binds_after_the_lookup() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("listen localhost");
        let server = net::create_server(|_, sock: &Socket| {
            sock.end_with("hi");
        });
        server.listen(0, "localhost")?;
        // The name is looked up on the pool first: nothing bound yet.
        assert!(server.address().is_none());
        assert!(!server.listening());
        let ll = l.clone();
        server.on(Server::LISTENING, move |s, _| {
            let addr = s.address().expect("bound once listening");
            assert!(addr.ip().is_loopback(), "{addr}");
            assert_ne!(addr.port(), 0);
            ll.push("listening");
            let client = net::connect(addr.port(), &addr.ip().to_string()).unwrap();
            let lc = ll.clone();
            client.on(Socket::DATA, move |_, d| {
                lc.push(String::from_utf8_lossy(d).into_owned())
            });
            let s = s.clone();
            client.on(Socket::CLOSE, move |_, _| {
                s.close();
            });
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["listening", "hi"]);
}

#[test]
fn listen_on_a_name_that_does_not_resolve_emits_enotfound() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("listen nonexistent");
        let server = Server::new();
        server.on(Server::LISTENING, |_, _| panic!("listening"));
        server.on(Server::ERROR, move |s, err| {
            assert!(!s.listening());
            l.push(format!("{} {}", err.code().as_str(), err));
        });
        server.listen(0, "nonexistent.invalid")?;
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        ["ENOTFOUND getaddrinfo ENOTFOUND nonexistent.invalid"]
    );
}

#[test]
fn address_in_use_is_an_error_event_with_nodes_message() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("EADDRINUSE");
        let server = Server::new();
        server.on(Server::LISTENING, |_, _| panic!("listening"));
        let returned = Rc::new(Cell::new(false));
        let r = Rc::clone(&returned);
        server.on(Server::ERROR, move |s, err| {
            assert!(r.get(), "error emitted inside listen()");
            assert!(!s.listening());
            assert!(s.address().is_none());
            assert_eq!(err.code(), ErrorCode::EADDRINUSE);
            assert_eq!(err.syscall(), Some("listen"));
            assert_eq!(err.address(), Some("127.0.0.1"));
            assert_eq!(err.port(), Some(port));
            assert_eq!(err.errno(), Some(-libc_eaddrinuse()));
            l.push(err.to_string());
        });
        // Not an Err: operational failures are events.
        server.listen(port, "127.0.0.1")?;
        returned.set(true);
        Ok(())
    })
    .unwrap();
    // The failed server keeps nothing alive: run() returned.
    assert_eq!(
        log.entries(),
        [format!(
            "listen EADDRINUSE: address already in use 127.0.0.1:{port}"
        )]
    );
    drop(taken);
}

/// Linux's EADDRINUSE (98); Node's errno is its negation.
fn libc_eaddrinuse() -> i32 {
    std::io::Error::from(std::io::ErrorKind::AddrInUse)
        .raw_os_error()
        .unwrap_or(98)
}

#[test]
fn listen_twice_is_an_immediate_err() {
    netloop::run(|| {
        let server = Server::new();
        listen_local(&server);
        let err = server.listen(0, "127.0.0.1").expect_err("second listen");
        assert_eq!(err.code(), ErrorCode::ERR_SERVER_ALREADY_LISTEN);
        assert_eq!(err.code().as_str(), "ERR_SERVER_ALREADY_LISTEN");
        assert_eq!(
            err.to_string(),
            "Listen method has been called more than once without closing."
        );
        // Still listening on the first address.
        assert!(server.listening());
        server.close();

        // Also while a name is being looked up.
        let named = Server::new();
        named.listen(0, "localhost")?;
        let err = named
            .listen(0, "127.0.0.1")
            .expect_err("listen during lookup");
        assert_eq!(err.code(), ErrorCode::ERR_SERVER_ALREADY_LISTEN);
        named.on(Server::LISTENING, |s, _| {
            s.close();
        });
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_closed_server_may_listen_again() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("listen again");
        let server = Server::new();
        let first = listen_local(&server);
        let ll = l.clone();
        server.close_with(move |s, err| {
            assert!(err.is_none());
            ll.push("closed");
            let second = listen_local(s);
            ll.push(format!("listening again, same port: {}", second == first));
            s.close();
        });
        Ok(())
    })
    .unwrap();
    let e = log.entries();
    assert_eq!(e[0], "closed");
    assert!(e[1].starts_with("listening again"), "{e:?}");
    assert_eq!(e.len(), 2);
}

#[test]
fn close_on_a_server_that_is_not_listening() {
    // Node: close(cb) on a server that never listened calls cb with
    // ERR_SERVER_NOT_RUNNING, and `close` is still emitted.
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let server = Server::new();
        let lc = l.clone();
        server.close_with(move |s, err| {
            let err = err.expect("ERR_SERVER_NOT_RUNNING");
            assert!(!s.listening());
            lc.push(format!("callback {} {}", err.code().as_str(), err));
        });
        server.on(Server::CLOSE, move |_, _| l.push("close event"));
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        [
            "callback ERR_SERVER_NOT_RUNNING Server is not running.",
            "close event"
        ]
    );
}

#[test]
fn close_waits_for_connections_and_comes_before_their_close_events() {
    // Node 20 order: close() stops accepting at once; the server's `close`
    // (listeners in registration order, close(cb) last) comes after the
    // last connection is destroyed, before that socket's own `close`.
    let log = Log::new();
    let l = log.clone();
    let mut port = 0;
    netloop::run(|| {
        let _g = guard("close ordering");
        let server = Server::new();
        let lc = l.clone();
        server.on(Server::CLOSE, move |s, _| {
            assert_eq!(s.connections(), 0);
            lc.push("server close event");
        });
        let client: Rc<std::cell::RefCell<Option<Socket>>> = Rc::default();
        let cl = Rc::clone(&client);
        let ls = l.clone();
        server.on(Server::CONNECTION, move |s, sock| {
            ls.push(format!("connection {}", s.connections()));
            let lx = ls.clone();
            sock.on(Socket::END, move |_, _| lx.push("server socket end"));
            let lx = ls.clone();
            sock.on(Socket::CLOSE, move |_, _| lx.push("server socket close"));
            let lx = ls.clone();
            s.close_with(move |_, err| {
                assert!(err.is_none());
                lx.push("close callback");
            });
            assert!(!s.listening());
            assert_eq!(s.connections(), 1);
            ls.push("close() returned");
            let c = cl.borrow().clone().expect("client");
            let lx = ls.clone();
            set_timeout(Duration::from_millis(5), move || {
                lx.push("client end");
                c.end();
            });
        });
        port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        c.on(Socket::CLOSE, move |_, _| l.push("client close"));
        *client.borrow_mut() = Some(c);
        Ok(())
    })
    .unwrap();
    let e = log.entries();
    assert_eq!(e.len(), 8, "{e:?}");
    assert_eq!(
        e[..7],
        [
            "connection 1",
            "close() returned",
            "client end",
            "server socket end",
            "server close event",
            "close callback",
            "server socket close",
        ]
    );
    assert_eq!(log.count("client close"), 1);
    assert_eq!(e.len(), 8);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "still accepting after close"
    );
}

#[test]
fn close_stops_accepting_at_once() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("stop accepting");
        let server = net::create_server(|_, _| panic!("accepted after close"));
        let port = listen_local(&server);
        server.close();
        assert!(!server.listening());
        let client = net::connect(port, "127.0.0.1")?;
        let le = l.clone();
        client.on(Socket::ERROR, move |_, e| le.push(e.code().as_str()));
        client.on(Socket::CLOSE, move |_, had_error| {
            l.push(format!("close {had_error}"))
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["ECONNREFUSED", "close true"]);
}

#[test]
fn close_is_emitted_once_even_if_close_is_called_twice() {
    let count = Calls::new();
    let c = count.clone();
    netloop::run(move || {
        let server = Server::new();
        listen_local(&server);
        server.on(Server::CLOSE, move |_, _| c.hit());
        server.close();
        server.close();
        Ok(())
    })
    .unwrap();
    assert_eq!(count.get(), 1);
}

#[test]
fn unref_server_does_not_keep_the_loop_alive() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("unref server");
        let server = net::create_server(|_, _| panic!("connection"));
        listen_local(&server);
        assert!(server.has_ref());
        server.unref();
        assert!(!server.has_ref());
        // A ref'd server stays alive until closed.
        let kept = Server::new();
        listen_local(&kept);
        kept.unref();
        kept.set_ref(true);
        let ll = l.clone();
        set_timeout(Duration::from_millis(5), move || {
            ll.push("timer");
            kept.close();
        })
        .unref();
        next_tick(l.recorder("tick"));
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["tick", "timer"]);
}

#[test]
fn listen_on_a_unix_socket_path() {
    let path = temp_sock_path("listen");
    let log = Log::new();
    let l = log.clone();
    let p = path.clone();
    netloop::run(move || {
        let _g = guard("unix listen");
        let server = net::create_server(|_, sock: &Socket| {
            sock.end_with("over unix");
        });
        server.listen_path(&p)?;
        assert_eq!(server.path().as_deref(), Some(p.as_path()));
        assert!(server.address().is_none());
        let client = net::connect_path(&p)?;
        let ld = l.clone();
        client.on(Socket::DATA, move |_, d| {
            ld.push(String::from_utf8_lossy(d).into_owned())
        });
        client.on(Socket::CLOSE, move |_, had_error| {
            l.push(format!("close {had_error}"));
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["over unix", "close false"]);
    assert!(!path.exists(), "close() leaves the socket file");
}

#[test]
fn address_is_the_socket_addr_that_was_bound() {
    netloop::run(|| {
        let server = Server::new();
        server.listen(0, "127.0.0.1")?;
        let addr: SocketAddr = server.address().unwrap();
        // The OS agrees: a plain std client reaches it.
        std::net::TcpStream::connect(addr).expect("connect to address()");
        server.close();
        Ok(())
    })
    .unwrap();
}
