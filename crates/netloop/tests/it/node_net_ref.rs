//! Ports of Node's ref/unref tests: Node's exit rule, where an unref'd
//! server, socket or timer does not keep the process (here `netloop::run`)
//! alive (`test/parallel/test-net-server-unref*.js`,
//! `test-net-persistent-ref-unref.js`, `test-net-socket-timeout-unref.js`,
//! `test-timers-unref.js`).
//!
//! Each test's failure guard is an unref'd timer that panics: if the
//! handle under test wrongly held the loop open, the guard fires.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use crate::util::{guard, guard_secs, Calls, Log};
use netloop::net::{self, Server, Socket};
use netloop::timers::{self, set_interval, set_timeout};

/// `test-net-server-unref.js`: a listening, unref'd server lets the loop
/// end.
#[test]
fn node_net_server_unref() {
    let state = Log::new();
    netloop::run(|| {
        let s = Server::new();
        s.listen_port(0)?;
        s.unref();
        state.push(format!(
            "listening={} has_ref={}",
            s.listening(),
            s.has_ref()
        ));
        let _guard = guard("node_net_server_unref");
        Ok(())
    })
    .unwrap();
    assert_eq!(state.entries(), vec!["listening=true has_ref=false"]);
}

/// `test-net-server-unref-persistent.js`: `unref()` before `listen()`
/// still holds once listening.
#[test]
fn node_net_server_unref_persistent() {
    let listening = Calls::new();
    netloop::run(|| {
        let s = Server::new();
        s.unref();
        s.listen_port(0)?;
        let l = listening.clone();
        s.on(Server::LISTENING, move |_, _| l.hit());
        let _guard = guard("node_net_server_unref_persistent");
        Ok(())
    })
    .unwrap();
    // `listening` is a next-tick: it still runs before the loop ends.
    assert_eq!(listening.get(), 1);
}

/// A ref'd-again server keeps the loop alive until it is closed.
#[test]
fn node_net_server_ref_after_unref() {
    let closed_by_timer = Calls::new();
    netloop::run(|| {
        let _guard = guard("node_net_server_ref_after_unref");
        let s = Server::new();
        s.listen(0, "127.0.0.1")?;
        s.unref();
        s.set_ref(true);
        assert!(s.has_ref());
        let k = closed_by_timer.clone();
        set_timeout(Duration::from_millis(20), move || {
            k.hit();
            s.close();
        })
        .unref();
        Ok(())
    })
    .unwrap();
    assert_eq!(
        closed_by_timer.get(),
        1,
        "the ref'd server kept the loop alive"
    );
}

/// `test-net-persistent-ref-unref.js`: `unref()` then `ref()` before
/// connecting leaves the socket ref'd; it connects and ends normally.
#[test]
fn node_net_persistent_ref_unref() {
    let ends = Calls::new();
    netloop::run(|| {
        let _guard = guard("node_net_persistent_ref_unref");
        let echo = net::create_server(|_, conn: &Socket| {
            conn.end();
        });
        echo.listen_port(0)?;
        let port = echo.address().unwrap().port();
        let sock = Socket::new();
        sock.unref();
        sock.set_ref(true);
        assert!(sock.has_ref());
        sock.connect(port, "127.0.0.1")?;
        let k = ends.clone();
        sock.on(Socket::END, move |s, _| {
            assert!(s.has_ref());
            k.hit();
            echo.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(ends.get(), 1);
}

/// `test-net-socket-timeout-unref.js`: unref'd sockets with idle timeouts
/// and an unref'd server: the loop ends without any timeout firing. As in
/// Node (whose connect request stays ref'd), the unref'd sockets still
/// finish connecting first.
#[test]
fn node_net_socket_timeout_unref() {
    let timeouts = Calls::new();
    let connects = Calls::new();
    netloop::run(|| {
        let _guard = guard_secs("node_net_socket_timeout_unref", 20);
        let server = net::create_server(|_, c: &Socket| {
            c.write("hello");
            c.unref();
        });
        server.listen(0, "127.0.0.1")?;
        server.unref();
        let port = server.address().unwrap().port();
        for t in [8, 5, 3, 6, 2, 4] {
            let socket = net::create_connection(port, "127.0.0.1")?;
            socket.set_timeout(Duration::from_secs(t));
            let k = timeouts.clone();
            socket.on(Socket::TIMEOUT, move |s, _| {
                k.hit();
                s.destroy();
            });
            let c = connects.clone();
            socket.on(Socket::CONNECT, move |_, _| c.hit());
            socket.unref();
            assert!(!socket.has_ref());
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(
        timeouts.get(),
        0,
        "socket timeouts must not hold the loop open"
    );
    assert_eq!(connects.get(), 6);
}

/// An unref'd socket that is open (connected) does not keep the loop
/// alive; ref'ing it again does, until it closes.
#[test]
fn node_net_socket_unref_connected() {
    let events = Log::new();
    netloop::run(|| {
        let _guard = guard("node_net_socket_unref_connected");
        let server = net::create_server(|_, c: &Socket| {
            c.unref();
        });
        server.listen(0, "127.0.0.1")?;
        server.unref();
        let c = net::connect(server.address().unwrap().port(), "127.0.0.1")?;
        let ev = events.clone();
        c.on(Socket::CONNECT, move |c, _| {
            ev.push("connect");
            c.unref();
            // A ref'd timer re-refs the socket once, and then closes it: the
            // socket held the loop open in between.
            let ev = ev.clone();
            let c = c.clone();
            set_timeout(Duration::from_millis(10), move || {
                ev.push("ref");
                c.set_ref(true);
                let ev = ev.clone();
                let c2 = c.clone();
                set_timeout(Duration::from_millis(10), move || {
                    ev.push("destroy");
                    c2.destroy();
                })
                .unref();
            });
        });
        let ev = events.clone();
        c.on(Socket::CLOSE, move |_, _| ev.push("close"));
        Ok(())
    })
    .unwrap();
    assert_eq!(events.entries(), vec!["connect", "ref", "destroy", "close"]);
}

/// `test-timers-unref.js`: unref'd timers still fire while something else
/// keeps the loop alive, and never hold it open by themselves.
#[test]
fn node_timers_unref() {
    let interval_fired = Rc::new(Cell::new(false));
    let timeout_fired = Rc::new(Cell::new(false));
    let unref_interval = Rc::new(Cell::new(false));
    let unref_timer = Rc::new(Cell::new(false));
    let unref_callbacks = Rc::new(Cell::new(0));
    netloop::run(|| {
        // ref/unref are chainable.
        set_timeout(Duration::from_millis(10), || {})
            .unref()
            .set_ref(true)
            .unref();
        set_interval(Duration::from_millis(10), || {})
            .unref()
            .set_ref(true)
            .unref();

        let f = Rc::clone(&interval_fired);
        set_interval(Duration::from_secs(10), move || f.set(true)).unref();
        let f = Rc::clone(&timeout_fired);
        set_timeout(Duration::from_secs(10), move || f.set(true)).unref();

        let f = Rc::clone(&unref_interval);
        let slot: Rc<std::cell::RefCell<Option<timers::Timer>>> = Rc::default();
        let s2 = Rc::clone(&slot);
        let interval = set_interval(Duration::from_millis(20), move || {
            f.set(true);
            if let Some(t) = s2.borrow().as_ref() {
                t.cancel();
            }
        });
        interval.unref();
        *slot.borrow_mut() = Some(interval);

        let f = Rc::clone(&unref_timer);
        set_timeout(Duration::from_millis(20), move || f.set(true)).unref();

        // A ref'd check keeps the loop alive until both unref'd timers
        // fired (bounded, as Node's `checks > 5`, but by count only).
        let (ui, ut) = (Rc::clone(&unref_interval), Rc::clone(&unref_timer));
        let checks = Rc::new(Cell::new(0));
        let slot: Rc<std::cell::RefCell<Option<timers::Timer>>> = Rc::default();
        let s2 = Rc::clone(&slot);
        let check = set_interval(Duration::from_millis(20), move || {
            checks.set(checks.get() + 1);
            if checks.get() > 500 || (ui.get() && ut.get()) {
                if let Some(t) = s2.borrow().as_ref() {
                    t.cancel();
                }
            }
        });
        *slot.borrow_mut() = Some(check);

        // A timeout that unrefs itself while running runs once.
        let n = Rc::clone(&unref_callbacks);
        let me: Rc<std::cell::RefCell<Option<timers::Timer>>> = Rc::default();
        let me2 = Rc::clone(&me);
        let t = set_timeout(Duration::from_millis(20), move || {
            n.set(n.get() + 1);
            if let Some(t) = me2.borrow().as_ref() {
                t.unref();
            }
        });
        *me.borrow_mut() = Some(t);

        // An interval that unrefs itself does not hold the loop open.
        let me: Rc<std::cell::RefCell<Option<timers::Timer>>> = Rc::default();
        let me2 = Rc::clone(&me);
        let t = set_interval(Duration::from_millis(20), move || {
            if let Some(t) = me2.borrow().as_ref() {
                t.unref();
            }
        });
        *me.borrow_mut() = Some(t);
        Ok(())
    })
    .unwrap();
    assert!(!interval_fired.get(), "interval should not fire");
    assert!(!timeout_fired.get(), "timeout should not fire");
    assert!(unref_timer.get(), "an unref'd timeout should still fire");
    assert!(
        unref_interval.get(),
        "an unref'd interval should still fire"
    );
    assert_eq!(unref_callbacks.get(), 1, "callback should only run once");
}
