//! `netloop::run`: when it returns, what it returns, and the thread pool's
//! part in keeping it alive.

use std::time::Duration;

use crate::util::{guard, refused_port, server_port, Calls, Log};
use netloop::net::{self, Server, Socket};
use netloop::timers::{set_immediate, set_timeout};
use netloop::{dns, next_tick, Error, ErrorCode};

/// True if something accepts connections on 127.0.0.1:`port` (a port from
/// [`server_port`], so only the test's own server can be there).
fn accepts(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn run_returns_mains_error_and_runs_nothing_it_scheduled() {
    let held = server_port();
    let port = held.port();
    let res = netloop::run(|| {
        let server = net::create_server(|_, _| panic!("connection after main failed"));
        server.listen(port, "127.0.0.1")?;
        assert!(accepts(port), "the server listens");
        next_tick(|| panic!("tick ran after main failed"));
        set_immediate(|| panic!("immediate ran after main failed"));
        set_timeout(Duration::from_millis(1), || {
            panic!("timer ran after main failed")
        });
        Err(Error::new(ErrorCode::ERR_INVALID_ARG_VALUE, "main gave up"))
    });
    let err = res.expect_err("main's error");
    assert_eq!(err.code(), ErrorCode::ERR_INVALID_ARG_VALUE);
    assert_eq!(err.to_string(), "main gave up");
    // Like a process that threw from its main script: the server is gone.
    assert!(!accepts(port), "the server outlived run()");
}

#[test]
fn run_returns_ok_once_nothing_is_alive() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        next_tick(l.recorder("tick"));
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["tick"]);
}

#[test]
fn unhandled_connect_error_ends_run_with_that_error_and_closes_handles() {
    let reserved = refused_port();
    let refused = reserved.port();
    let held = server_port();
    let close_events = Calls::new();
    let c = close_events.clone();
    let kept: std::rc::Rc<std::cell::RefCell<Option<net::Server>>> = Default::default();
    let keep = kept.clone();
    let res = netloop::run(|| {
        let _g = guard("unhandled error");
        // A listening server and an hour-long ref'd timer would keep the
        // loop alive; the unhandled error must end it anyway.
        let server = net::create_server(|_, _| {});
        server.listen(held.port(), "127.0.0.1")?;
        *keep.borrow_mut() = Some(server.clone());
        set_timeout(Duration::from_secs(3600), || {
            panic!("timer outlived the error")
        });
        let client = net::connect(refused, "127.0.0.1")?;
        // No error listener: Node's uncaught exception.
        client.on(Socket::CLOSE, move |_, _| c.hit());
        Ok(())
    });
    let err = res.expect_err("the unhandled error");
    assert_eq!(err.code(), ErrorCode::ECONNREFUSED);
    assert_eq!(err.syscall(), Some("connect"));
    assert_eq!(err.address(), Some("127.0.0.1"));
    assert_eq!(err.port(), Some(refused));
    assert_eq!(
        err.to_string(),
        format!("connect ECONNREFUSED 127.0.0.1:{refused}")
    );
    // The process would have died: no `close` after the uncaught error.
    assert_eq!(close_events.get(), 0);
    assert!(!accepts(held.port()), "the server outlived run()");
    let server = kept.borrow_mut().take().expect("the server handle");
    assert!(!server.listening(), "the server outlived run()");
}

#[test]
fn unhandled_server_error_ends_run_with_that_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let res = netloop::run(|| {
        let _g = guard("unhandled listen error");
        Server::new().listen(port, "127.0.0.1")?;
        Ok(())
    });
    let err = res.expect_err("EADDRINUSE");
    assert_eq!(err.code(), ErrorCode::EADDRINUSE);
    assert_eq!(
        err.to_string(),
        format!("listen EADDRINUSE: address already in use 127.0.0.1:{port}")
    );
}

#[test]
fn an_error_listener_keeps_the_error_from_ending_run() {
    let log = Log::new();
    let l = log.clone();
    let reserved = refused_port();
    let refused = reserved.port();
    netloop::run(move || {
        let _g = guard("handled error");
        let client = net::connect(refused, "127.0.0.1")?;
        let le = l.clone();
        client.on(Socket::ERROR, move |_, e| {
            le.push(format!("error {}", e.code().as_str()))
        });
        client.on(Socket::CLOSE, move |_, had_error| {
            l.push(format!("close {had_error}"))
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["error ECONNREFUSED", "close true"]);
}

#[test]
fn user_emitted_error_without_listener_ends_run() {
    // Node throws ERR_UNHANDLED_ERROR for `emit('error', x)` with no
    // listener when x is not an Error object.
    const ERROR_TEXT: netloop::events::Event<str> = netloop::events::Event::new("error");
    let res = netloop::run(|| {
        let s = Socket::new();
        next_tick(move || {
            assert!(!s.emit(ERROR_TEXT, "boom"));
        });
        set_timeout(Duration::from_secs(3600), || {
            panic!("loop outlived the error")
        });
        Ok(())
    });
    assert_eq!(
        res.expect_err("unhandled").code(),
        ErrorCode::ERR_UNHANDLED_ERROR
    );
}

#[test]
fn pool_lookup_keeps_the_loop_alive_until_it_completes() {
    // Nothing but a getaddrinfo on the pool is pending: libuv counts active
    // requests, so run() must wait for the answer.
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("pool lookup");
        dns::lookup("localhost", 0, move |res| {
            let ip = res.expect("localhost resolves");
            assert!(ip.is_loopback(), "{ip}");
            l.push("looked up");
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["looked up"]);
}
