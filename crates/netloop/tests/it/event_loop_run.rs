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
        dns::lookup("localhost", None, move |res| {
            let ip = res.expect("localhost resolves");
            assert!(ip.is_loopback(), "{ip}");
            l.push("looked up");
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["looked up"]);
}

// ----- teardown: callbacks whose drop schedules work --------------------------

/// A value whose `Drop` schedules more work on the running loop, as a
/// captured handle whose drop notifies or closes something would: a tick,
/// a timeout, an immediate and a pool lookup, each carrying the next link
/// of the chain (`depth` more levels), so the loop's teardown must go
/// round until nothing new appears. None of that work may run: it is
/// scheduled while `run` is ending. Every drop is logged by name.
struct ScheduleOnDrop {
    log: Log,
    name: String,
    depth: u32,
}

impl ScheduleOnDrop {
    fn new(log: &Log, name: &str, depth: u32) -> ScheduleOnDrop {
        ScheduleOnDrop {
            log: log.clone(),
            name: name.to_owned(),
            depth,
        }
    }

    fn child(&self, kind: &str) -> ScheduleOnDrop {
        ScheduleOnDrop::new(&self.log, &format!("{}/{kind}", self.name), self.depth - 1)
    }

    /// Every name a chain rooted at `name` logs when it is dropped whole.
    fn names(name: &str, depth: u32) -> Vec<String> {
        let mut out = vec![format!("dropped {name}")];
        if depth > 0 {
            for kind in ["tick", "timeout", "immediate", "lookup"] {
                out.extend(ScheduleOnDrop::names(&format!("{name}/{kind}"), depth - 1));
            }
        }
        out
    }
}

impl Drop for ScheduleOnDrop {
    fn drop(&mut self) {
        self.log.push(format!("dropped {}", self.name));
        if self.depth == 0 {
            return;
        }
        let tick = self.child("tick");
        next_tick(move || panic!("{}: scheduled while run ended, yet ran", tick.name));
        let timeout = self.child("timeout");
        set_timeout(Duration::from_millis(1), move || {
            panic!("{}: scheduled while run ended, yet ran", timeout.name)
        });
        let immediate = self.child("immediate");
        set_immediate(move || panic!("{}: scheduled while run ended, yet ran", immediate.name));
        let lookup = self.child("lookup");
        dns::lookup("localhost", None, move |_| {
            panic!("{}: scheduled while run ended, yet ran", lookup.name)
        });
    }
}

/// The log's entries sorted: teardown drops queues in its own order.
fn sorted(mut entries: Vec<String>) -> Vec<String> {
    entries.sort();
    entries
}

/// `names` of every root, sorted.
fn expected_drops(roots: &[&str], depth: u32) -> Vec<String> {
    sorted(
        roots
            .iter()
            .flat_map(|r| ScheduleOnDrop::names(r, depth))
            .collect(),
    )
}

#[test]
fn callbacks_whose_drop_schedules_work_are_dropped_when_main_fails() {
    let log = Log::new();
    let l = log.clone();
    let held = server_port();
    let port = held.port();
    let res = netloop::run(move || {
        let in_listener = ScheduleOnDrop::new(&l, "connection listener", 2);
        let server =
            net::create_server(move |_, _| panic!("{}: ran after main failed", in_listener.name));
        server.listen(port, "127.0.0.1")?;
        let tick = ScheduleOnDrop::new(&l, "tick", 2);
        next_tick(move || panic!("{}: ran after main failed", tick.name));
        let timeout = ScheduleOnDrop::new(&l, "timeout", 2);
        set_timeout(Duration::from_millis(1), move || {
            panic!("{}: ran after main failed", timeout.name)
        });
        let immediate = ScheduleOnDrop::new(&l, "immediate", 2);
        set_immediate(move || panic!("{}: ran after main failed", immediate.name));
        let lookup = ScheduleOnDrop::new(&l, "lookup", 2);
        dns::lookup("localhost", None, move |_| {
            panic!("{}: ran after main failed", lookup.name)
        });
        Err(Error::new(ErrorCode::ERR_INVALID_ARG_VALUE, "main gave up"))
    });
    let err = res.expect_err("main's error");
    assert_eq!(err.code(), ErrorCode::ERR_INVALID_ARG_VALUE);
    assert_eq!(err.to_string(), "main gave up");
    // Every callback, and everything their drops scheduled, was dropped
    // inside run (a leftover would be dropped outside it, where its drop
    // finds no loop and panics).
    assert_eq!(
        sorted(log.entries()),
        expected_drops(
            &[
                "connection listener",
                "tick",
                "timeout",
                "immediate",
                "lookup"
            ],
            2
        )
    );
    assert!(!accepts(port), "the server outlived run()");
}

#[test]
fn callbacks_whose_drop_schedules_work_are_dropped_when_an_error_stops_the_loop() {
    let log = Log::new();
    let l = log.clone();
    let res = netloop::run(move || {
        let _g = guard("error stops the loop");
        let on_server = l.clone();
        let server = net::create_server(move |_, accepted| {
            let l = &on_server;
            let write_cb = ScheduleOnDrop::new(l, "write callback", 2);
            let tick = ScheduleOnDrop::new(l, "tick", 2);
            let timeout = ScheduleOnDrop::new(l, "timeout", 2);
            let immediate = ScheduleOnDrop::new(l, "immediate", 2);
            set_timeout(Duration::from_secs(3600), move || {
                panic!("{}: ran after the loop stopped", timeout.name)
            });
            set_immediate(move || panic!("{}: ran after the loop stopped", immediate.name));
            // The error goes out on the next tick, with no listener: the
            // loop stops there, before the tick queued after it.
            accepted.destroy_with(Error::new(ErrorCode::ECONNABORTED, "nobody listens"));
            // A write to the destroyed socket: its callback (with
            // ERR_STREAM_DESTROYED) waits on a tick queued after the error.
            accepted.write_with("x", move |_, _| {
                panic!("{}: ran after the loop stopped", write_cb.name)
            });
            next_tick(move || panic!("{}: ran after the loop stopped", tick.name));
        });
        let port = crate::util::listen_local(&server);
        let client = net::connect(port, "127.0.0.1")?;
        // The client is registered with the loop (connecting, or connected)
        // when the loop stops: its teardown drops this listener.
        let in_listener = ScheduleOnDrop::new(&l, "client listener", 2);
        client.on(Socket::END, move |_, _| {
            panic!("{}: ran after the loop stopped", in_listener.name)
        });
        Ok(())
    });
    let err = res.expect_err("the unhandled error");
    assert_eq!(err.code(), ErrorCode::ECONNABORTED);
    assert_eq!(err.to_string(), "nobody listens");
    assert_eq!(
        sorted(log.entries()),
        expected_drops(
            &[
                "write callback",
                "tick",
                "timeout",
                "immediate",
                "client listener"
            ],
            2
        )
    );
}

#[test]
fn cancelling_an_immediate_whose_drop_sets_an_immediate() {
    struct SetImmediateOnDrop(Log);
    impl Drop for SetImmediateOnDrop {
        fn drop(&mut self) {
            set_immediate(self.0.recorder("immediate set by a drop"));
        }
    }
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let captured = SetImmediateOnDrop(l.clone());
        let cancelled = set_immediate(move || {
            let _keep = &captured;
            panic!("a cancelled immediate ran")
        });
        cancelled.cancel();
        l.push("cancelled");
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(log.entries(), ["cancelled", "immediate set by a drop"]);
}

// ----- panics unwinding out of run ----------------------------------------------

/// Run `main` in a loop that is expected to panic with `message`; returns
/// once the panic came out of `run`.
fn run_expecting_panic(message: &str, main: impl FnOnce() -> netloop::Result<()>) {
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| netloop::run(main)));
    let payload = match res {
        Ok(out) => panic!("run returned {out:?} instead of panicking"),
        Err(payload) => payload,
    };
    let got = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned());
    assert_eq!(got.as_deref(), Some(message), "the panic that left run");
}

/// What every panic test checks afterwards: the server the panicking run
/// listened on is closed, and a new loop runs on this thread.
fn assert_torn_down_and_runnable(port: u16) {
    assert!(!accepts(port), "the server outlived the panicking run()");
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        next_tick(l.recorder("tick"));
        set_timeout(Duration::from_millis(1), l.recorder("timeout"));
        Ok(())
    })
    .expect("a later run on the same thread");
    assert_eq!(log.entries(), ["tick", "timeout"]);
}

#[test]
fn a_panicking_timer_unwinds_out_of_run_and_the_loop_is_torn_down() {
    let held = server_port();
    let port = held.port();
    let log = Log::new();
    let l = log.clone();
    run_expecting_panic("timer panicked", move || {
        let server = net::create_server(|_, _| {});
        server.listen(port, "127.0.0.1")?;
        // Teardown while unwinding drops these, and their drops schedule
        // more: no double borrow (which would abort the process).
        let pending = ScheduleOnDrop::new(&l, "long timeout", 1);
        set_timeout(Duration::from_secs(3600), move || {
            panic!("{}: ran", pending.name)
        });
        let tick = ScheduleOnDrop::new(&l, "tick", 1);
        set_timeout(Duration::from_millis(1), move || {
            next_tick(move || panic!("{}: ran", tick.name));
            panic!("timer panicked");
        });
        Ok(())
    });
    assert_eq!(
        sorted(log.entries()),
        expected_drops(&["long timeout", "tick"], 1)
    );
    assert_torn_down_and_runnable(port);
}

#[test]
fn a_panicking_connect_listener_unwinds_out_of_run_and_the_loop_is_torn_down() {
    let held = server_port();
    let port = held.port();
    run_expecting_panic("connect listener panicked", move || {
        let _g = guard("panicking connect listener");
        let server = net::create_server(|_, _| {});
        server.listen(port, "127.0.0.1")?;
        let client = net::connect(port, "127.0.0.1")?;
        client.on(Socket::CONNECT, |_, _| panic!("connect listener panicked"));
        Ok(())
    });
    assert_torn_down_and_runnable(port);
}

#[test]
fn a_panicking_main_unwinds_out_of_run_and_the_loop_is_torn_down() {
    let held = server_port();
    let port = held.port();
    let log = Log::new();
    let l = log.clone();
    run_expecting_panic("main panicked", move || {
        let server = net::create_server(|_, _| {});
        server.listen(port, "127.0.0.1")?;
        assert!(accepts(port), "the server listens");
        let tick = ScheduleOnDrop::new(&l, "tick", 1);
        next_tick(move || panic!("{}: ran", tick.name));
        panic!("main panicked");
    });
    assert_eq!(sorted(log.entries()), expected_drops(&["tick"], 1));
    assert_torn_down_and_runnable(port);
}

#[test]
fn a_nested_run_panics_and_leaves_the_outer_loop_installed() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let nested = std::panic::catch_unwind(|| netloop::run(|| Ok(())));
        assert!(nested.is_err(), "a nested run must panic");
        // The outer loop is still this thread's loop.
        next_tick(l.recorder("outer tick"));
        Ok(())
    })
    .expect("the outer loop ran");
    assert_eq!(log.entries(), ["outer tick"]);
}

#[test]
fn an_interval_cancelled_while_it_runs_whose_drop_sets_a_timeout() {
    struct SetTimeoutOnDrop(Log);
    impl Drop for SetTimeoutOnDrop {
        fn drop(&mut self) {
            set_timeout(
                Duration::from_millis(1),
                self.0.recorder("timeout set by a drop"),
            );
        }
    }
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let me: std::rc::Rc<std::cell::OnceCell<netloop::timers::Timer>> = Default::default();
        let handle = me.clone();
        let captured = SetTimeoutOnDrop(l.clone());
        let interval = netloop::timers::set_interval(Duration::from_millis(1), move || {
            captured.0.push("interval ran");
            // Cancelled while it runs: its callback is dropped once it
            // returns.
            handle.get().expect("the interval's handle").cancel();
        });
        let _ = me.set(interval);
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(log.entries(), ["interval ran", "timeout set by a drop"]);
}

/// A captured value whose `Drop` panics, for the teardown's own panics.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("a drop panicked during teardown");
    }
}

#[test]
fn a_drop_panicking_in_the_teardown_of_a_panicking_run_neither_aborts_nor_cuts_it_short() {
    let held = server_port();
    let port = held.port();
    let log = Log::new();
    let l = log.clone();
    // The timer's panic is the one that leaves run; the drop's, raised
    // while it unwinds, must not abort the process.
    run_expecting_panic("timer panicked", move || {
        let server = net::create_server(|_, _| {});
        server.listen(port, "127.0.0.1")?;
        // Dropped after the tick queue, where the panicking drop is.
        let later = ScheduleOnDrop::new(&l, "long timeout", 1);
        set_timeout(Duration::from_secs(3600), move || {
            panic!("{}: ran", later.name)
        });
        set_timeout(Duration::from_millis(1), || {
            let bomb = PanicOnDrop;
            next_tick(move || {
                let _keep = &bomb;
                panic!("the tick ran")
            });
            panic!("timer panicked");
        });
        Ok(())
    });
    assert_eq!(sorted(log.entries()), expected_drops(&["long timeout"], 1));
    assert_torn_down_and_runnable(port);
}

#[test]
fn a_drop_panicking_in_the_teardown_after_main_failed_comes_out_of_run() {
    let held = server_port();
    let port = held.port();
    let log = Log::new();
    let l = log.clone();
    run_expecting_panic("a drop panicked during teardown", move || {
        let server = net::create_server(|_, _| {});
        server.listen(port, "127.0.0.1")?;
        let later = ScheduleOnDrop::new(&l, "long timeout", 1);
        set_timeout(Duration::from_secs(3600), move || {
            panic!("{}: ran", later.name)
        });
        let bomb = PanicOnDrop;
        next_tick(move || {
            let _keep = &bomb;
            panic!("the tick ran")
        });
        Err(Error::new(ErrorCode::ERR_INVALID_ARG_VALUE, "main gave up"))
    });
    assert_eq!(sorted(log.entries()), expected_drops(&["long timeout"], 1));
    assert_torn_down_and_runnable(port);
}
