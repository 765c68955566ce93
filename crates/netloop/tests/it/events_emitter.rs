//! Node's `EventEmitter` API on both emitters, `Server` and `Socket`:
//! on / once / prepend_listener / prepend_once_listener / off /
//! remove_all_listeners / listener_count / event_names / emit, with the
//! orders Node 20 gives (checked with `node`), and the payload-type rules:
//! a listener for a built-in event must take its payload type, and an emit
//! reports whether a listener of its own type ran.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use crate::util::{guard, listen_local, refused_port, Calls, Log};
use netloop::events::{Event, ListenerId};
use netloop::net::{self, Server, Socket};
use netloop::ErrorCode;

const X: Event<u32> = Event::new("x");
const Y: Event<str> = Event::new("y");
const OTHER: Event<()> = Event::new("other");

/// A user payload type: any `'static` type works.
#[derive(Debug, PartialEq)]
struct Greeting {
    from: &'static str,
    n: usize,
}
const GREET: Event<Greeting> = Event::new("greet");

/// The message of a caught panic.
fn panic_text(err: Box<dyn Any + Send>) -> String {
    match err.downcast::<String>() {
        Ok(s) => *s,
        Err(err) => err
            .downcast::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    }
}

/// Runs `add` (an `on` call), which must panic with `ERR_INVALID_ARG_TYPE`
/// naming the event and both payload types; returns the message.
fn rejected<R>(add: impl FnOnce() -> R, event: &str, expected: &str, actual: &str) -> String {
    let text = match catch_unwind(AssertUnwindSafe(add)) {
        Ok(_) => panic!("the listener for {event:?} taking &{actual} was accepted"),
        Err(err) => panic_text(err),
    };
    assert!(text.starts_with("ERR_INVALID_ARG_TYPE"), "{text}");
    assert!(text.contains(&format!("{event:?}")), "{text}");
    assert!(
        text.contains(&format!("must take &{expected}, not &{actual}")),
        "{text}"
    );
    text
}

/// The same tests for each emitter type (they share no trait, as in Node
/// they share a prototype).
macro_rules! emitter_tests {
    ($module:ident, $ty:ty, $make:expr) => {
        mod $module {
            use super::*;

            fn make() -> $ty {
                $make
            }

            #[test]
            fn listeners_run_in_order_and_once_listeners_run_once() {
                let log = Log::new();
                let l = log.clone();
                netloop::run(move || {
                    let e = make();
                    let r = |name: &'static str| {
                        let l = l.clone();
                        move |_: &$ty, v: &u32| l.push(format!("{name}{v}"))
                    };
                    e.on(X, r("a"));
                    e.on(X, r("b"));
                    e.prepend_listener(X, r("c"));
                    e.prepend_once_listener(X, r("d"));
                    e.once(X, r("e"));
                    assert_eq!(e.listener_count("x"), 5);
                    assert!(e.emit(X, &1));
                    assert_eq!(e.listener_count("x"), 3);
                    assert!(e.emit(X, &2));
                    Ok(())
                })
                .unwrap();
                assert_eq!(
                    log.entries(),
                    ["d1", "c1", "a1", "b1", "e1", "c2", "a2", "b2"]
                );
            }

            #[test]
            fn off_removes_one_listener_and_reports_whether_it_was_there() {
                let log = Log::new();
                let l = log.clone();
                netloop::run(move || {
                    let e = make();
                    let la = l.clone();
                    let a: ListenerId = e.on(X, move |_, _| la.push("a"));
                    let lb = l.clone();
                    e.on(X, move |_, _| lb.push("b"));
                    let lo = l.clone();
                    let once = e.once(X, move |_, _| lo.push("once"));
                    assert!(e.off(a));
                    assert!(!e.off(a));
                    assert!(e.off(once));
                    assert_eq!(e.listener_count("x"), 1);
                    e.emit(X, &0);
                    Ok(())
                })
                .unwrap();
                assert_eq!(log.entries(), ["b"]);
            }

            #[test]
            fn remove_all_listeners_by_name_or_all() {
                netloop::run(|| {
                    let e = make();
                    e.on(X, |_, _| panic!("removed listener ran"));
                    e.on(Y, |_, _| {});
                    e.on(OTHER, |_, _| panic!("removed listener ran"));
                    e.remove_all_listeners(Some("x"));
                    assert_eq!(e.listener_count("x"), 0);
                    assert_eq!(e.event_names(), ["y", "other"]);
                    assert!(!e.emit(X, &1));
                    assert!(e.emit(Y, "still here"));
                    e.remove_all_listeners(None);
                    assert!(e.event_names().is_empty());
                    assert!(!e.emit(Y, "gone"));
                    assert!(!e.emit(OTHER, &()));
                    Ok(())
                })
                .unwrap();
            }

            #[test]
            fn event_names_keep_the_order_names_first_got_a_listener() {
                // Node: on('a'), on('b'), prependListener('c') gives
                // ['a', 'b', 'c']; prepending orders listeners, not names.
                netloop::run(|| {
                    let e = make();
                    assert!(e.event_names().is_empty());
                    let a: Event<()> = Event::new("a");
                    let b: Event<()> = Event::new("b");
                    let c: Event<()> = Event::new("c");
                    let first_a = e.on(a, |_, _| {});
                    e.on(b, |_, _| {});
                    e.prepend_listener(c, |_, _| {});
                    e.on(a, |_, _| {});
                    assert_eq!(e.event_names(), ["a", "b", "c"]);
                    assert_eq!(e.listener_count("a"), 2);
                    e.off(first_a);
                    assert_eq!(e.event_names(), ["a", "b", "c"]);
                    e.remove_all_listeners(Some("a"));
                    e.on(a, |_, _| {});
                    assert_eq!(e.event_names(), ["b", "c", "a"]);
                    // A once listener's name goes away once it ran.
                    let d: Event<()> = Event::new("d");
                    e.once(d, |_, _| {});
                    assert_eq!(e.event_names(), ["b", "c", "a", "d"]);
                    e.emit(d, &());
                    assert_eq!(e.event_names(), ["b", "c", "a"]);
                    assert_eq!(e.listener_count("d"), 0);
                    assert_eq!(e.listener_count("never"), 0);
                    Ok(())
                })
                .unwrap();
            }

            #[test]
            fn listeners_receive_the_emitter_first() {
                let hits = Calls::new();
                let h = hits.clone();
                netloop::run(move || {
                    let e = make();
                    let h2 = h.clone();
                    e.on(OTHER, move |_, _| h2.hit());
                    // The `me` a listener gets is the emitter itself: what
                    // it emits reaches the emitter's own listeners.
                    e.on(X, move |me, v| {
                        assert_eq!(*v, 7);
                        assert!(me.emit(OTHER, &()));
                        h.hit();
                    });
                    e.emit(X, &7);
                    Ok(())
                })
                .unwrap();
                assert_eq!(hits.get(), 2);
            }

            #[test]
            fn listeners_added_or_removed_during_an_emit() {
                // Node calls the listeners registered when emit began: one
                // added during the emit waits for the next emit, and one
                // removed during it (even a once listener) still runs in it.
                let log = Log::new();
                let l = log.clone();
                netloop::run(move || {
                    let e = make();
                    let victim: Rc<RefCell<Option<ListenerId>>> = Rc::new(RefCell::new(None));
                    let once_victim: Rc<RefCell<Option<ListenerId>>> = Rc::new(RefCell::new(None));
                    let (v, ov, la) = (victim.clone(), once_victim.clone(), l.clone());
                    e.on(X, move |me, n| {
                        la.push(format!("first{n}"));
                        if *n == 1 {
                            assert!(me.off(v.borrow().expect("victim")));
                            assert!(me.off(ov.borrow().expect("once victim")));
                            let ladd = la.clone();
                            me.on(X, move |_, n| ladd.push(format!("added{n}")));
                        }
                    });
                    let lv = l.clone();
                    *victim.borrow_mut() = Some(e.on(X, move |_, n| lv.push(format!("victim{n}"))));
                    let lo = l.clone();
                    *once_victim.borrow_mut() =
                        Some(e.once(X, move |_, n| lo.push(format!("once victim{n}"))));
                    e.emit(X, &1);
                    e.emit(X, &2);
                    Ok(())
                })
                .unwrap();
                assert_eq!(
                    log.entries(),
                    ["first1", "victim1", "once victim1", "first2", "added2"]
                );
            }

            #[test]
            fn once_listener_is_removed_before_it_runs() {
                // A once listener that emits its own event again is not
                // called a second time (Node removes it before calling).
                let count = Calls::new();
                let c = count.clone();
                netloop::run(move || {
                    let e = make();
                    e.once(X, move |me, n| {
                        c.hit();
                        assert!(!me.emit(X, &(n + 1)));
                    });
                    assert!(e.emit(X, &1));
                    assert!(!e.emit(X, &2));
                    Ok(())
                })
                .unwrap();
                assert_eq!(count.get(), 1);
            }

            #[test]
            fn user_events_with_custom_names_and_payloads() {
                let log = Log::new();
                let l = log.clone();
                netloop::run(move || {
                    let e = make();
                    let lg = l.clone();
                    e.on(GREET, move |_, g| lg.push(format!("{} {}", g.from, g.n)));
                    let ly = l.clone();
                    e.on(Y, move |_, s: &str| ly.push(s.to_owned()));
                    assert!(e.emit(
                        GREET,
                        &Greeting {
                            from: "chuck",
                            n: 3
                        }
                    ));
                    assert!(e.emit(Y, "text payload"));
                    // A name nobody listens to: false, and nothing else.
                    let nobody: Event<u8> = Event::new("nobody");
                    assert!(!e.emit(nobody, &1));
                    // A listener registered with another payload type for
                    // the same name is not called with the wrong type, and
                    // the emit says no listener ran.
                    let as_number: Event<u64> = Event::new("y");
                    assert!(!e.emit(as_number, &9));
                    assert_eq!(GREET.name(), "greet");
                    Ok(())
                })
                .unwrap();
                assert_eq!(log.entries(), ["chuck 3", "text payload"]);
            }

            #[test]
            fn emit_is_false_when_no_listener_takes_its_payload_type() {
                let hits = Calls::new();
                let h = hits.clone();
                netloop::run(move || {
                    let e = make();
                    let h1 = h.clone();
                    e.on(X, move |_, _| h1.hit());
                    // Only a `u32` listener has the name "x": nothing ran.
                    let as_text: Event<str> = Event::new("x");
                    assert!(!e.emit(as_text, "nine"));
                    assert_eq!(e.listener_count("x"), 1);
                    assert!(e.emit(X, &9));
                    // Two payload types under one user name: each emit runs
                    // the listeners of its own.
                    e.on(as_text, move |_, s| {
                        assert_eq!(s, "ten");
                        h.hit();
                    });
                    assert_eq!(e.listener_count("x"), 2);
                    assert!(e.emit(as_text, "ten"));
                    assert_eq!(e.event_names(), ["x"]);
                    Ok(())
                })
                .unwrap();
                assert_eq!(hits.get(), 2);
            }

            #[test]
            fn an_error_listener_of_another_payload_type_is_rejected() {
                let emitter = stringify!($ty);
                netloop::run(move || {
                    let e = make();
                    let as_text: Event<str> = Event::new("error");
                    let text = rejected(
                        || e.on(as_text, |_, _| {}),
                        "error",
                        "netloop::error::Error",
                        "str",
                    );
                    assert!(text.contains(emitter), "{text}");
                    let as_u32: Event<u32> = Event::new("error");
                    for add in [
                        &(|| e.once(as_u32, |_, _| {})) as &dyn Fn() -> ListenerId,
                        &|| e.prepend_listener(as_u32, |_, _| {}),
                        &|| e.prepend_once_listener(as_u32, |_, _| {}),
                    ] {
                        rejected(add, "error", "netloop::error::Error", "u32");
                    }
                    assert_eq!(e.listener_count("error"), 0);
                    assert!(e.event_names().is_empty());
                    Ok(())
                })
                .unwrap();
            }

            #[test]
            fn a_user_error_no_listener_takes_ends_run() {
                // An `error` listener exists, but it takes `Error`: an emit
                // of a text error runs nothing, and ends `run` as Node's
                // unhandled error does.
                let res = netloop::run(|| {
                    let e = make();
                    e.on(<$ty>::ERROR, |_, err| panic!("called with {err}"));
                    let as_text: Event<str> = Event::new("error");
                    assert!(!e.emit(as_text, "boom"));
                    Ok(())
                });
                assert_eq!(
                    res.expect_err("unhandled").code(),
                    ErrorCode::ERR_UNHANDLED_ERROR
                );
            }

            #[test]
            fn event_names_skip_rejected_listeners_and_keep_their_places() {
                netloop::run(|| {
                    let e = make();
                    let a: Event<()> = Event::new("a");
                    let b: Event<()> = Event::new("b");
                    let c: Event<()> = Event::new("c");
                    let d: Event<()> = Event::new("d");
                    let first_a = e.on(a, |_, _| {});
                    // A rejected listener adds no name.
                    let as_u32: Event<u32> = Event::new("error");
                    rejected(
                        || e.on(as_u32, |_, _| {}),
                        "error",
                        "netloop::error::Error",
                        "u32",
                    );
                    assert_eq!(e.event_names(), ["a"]);
                    e.on(b, |_, _| {});
                    e.on(c, |_, _| {});
                    e.on(a, |_, _| {});
                    // Prepending to a name keeps its place; a new name goes
                    // last, prepended or not.
                    e.prepend_listener(c, |_, _| {});
                    e.prepend_once_listener(d, |_, _| {});
                    assert_eq!(e.event_names(), ["a", "b", "c", "d"]);
                    // a's first listener goes during an emit: a keeps its
                    // place, during the emit and after it.
                    e.on(b, move |me, _| {
                        me.off(first_a);
                        assert_eq!(me.event_names(), ["a", "b", "c", "d"]);
                    });
                    assert!(e.emit(b, &()));
                    assert_eq!(e.event_names(), ["a", "b", "c", "d"]);
                    assert_eq!(e.listener_count("a"), 1);
                    // A name whose last listener goes leaves; added again,
                    // it comes last.
                    assert!(e.emit(d, &()));
                    e.remove_all_listeners(Some("a"));
                    assert_eq!(e.event_names(), ["b", "c"]);
                    e.prepend_listener(a, |_, _| {});
                    assert_eq!(e.event_names(), ["b", "c", "a"]);
                    Ok(())
                })
                .unwrap();
            }
        }
    };
}

emitter_tests!(socket, Socket, Socket::new());
emitter_tests!(server, Server, Server::new());

#[test]
fn a_data_listener_may_destroy_the_socket_mid_emit() {
    // The second listener still gets the chunk (Node's snapshot), and
    // `close` follows exactly once, without error.
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("destroy mid emit");
        let server = net::create_server(|_, sock: &Socket| {
            sock.end_with("hello");
        });
        let port = listen_local(&server);
        let client = net::connect(port, "127.0.0.1")?;
        let l1 = l.clone();
        client.on(Socket::DATA, move |me, d| {
            l1.push(format!("first {}", String::from_utf8_lossy(d)));
            me.destroy();
            assert!(me.destroyed());
        });
        let l2 = l.clone();
        client.on(Socket::DATA, move |me, d| {
            l2.push(format!(
                "second {} destroyed={}",
                String::from_utf8_lossy(d),
                me.destroyed()
            ));
            me.destroy(); // idempotent
        });
        let l3 = l.clone();
        client.on(Socket::END, move |_, _| l3.push("end"));
        client.on(Socket::CLOSE, move |_, had_error| {
            l.push(format!("close {had_error}"));
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        ["first hello", "second hello destroyed=true", "close false"]
    );
}

#[test]
fn a_connection_listener_may_close_the_server_mid_emit() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("close mid emit");
        let server = Server::new();
        let l1 = l.clone();
        server.on(Server::CONNECTION, move |me, sock| {
            l1.push("first");
            me.close();
            sock.destroy();
        });
        let l2 = l.clone();
        server.on(Server::CONNECTION, move |me, _| {
            l2.push(format!("second listening={}", me.listening()));
        });
        let l3 = l.clone();
        server.on(Server::CLOSE, move |_, _| l3.push("server close"));
        let port = listen_local(&server);
        net::connect(port, "127.0.0.1")?.on(Socket::CLOSE, move |_, _| l.push("client close"));
        Ok(())
    })
    .unwrap();
    let e = log.entries();
    assert_eq!(e[..2], ["first", "second listening=false"]);
    assert_eq!(log.count("server close"), 1);
    assert_eq!(log.count("client close"), 1);
    assert_eq!(e.len(), 4);
}

#[test]
fn a_mistyped_data_listener_is_rejected_and_the_bytes_reach_the_typed_one() {
    // A `data` listener taking `Vec<u8>` could never be called; counted as
    // a data listener, it used to start the flow of bytes that nobody
    // received. It is rejected at once, so the bytes wait for a listener
    // that takes them.
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("mistyped data listener");
        let server = net::create_server(|_, sock: &Socket| {
            sock.end_with("hello");
        });
        let port = listen_local(&server);
        let client = net::connect(port, "127.0.0.1")?;
        let as_vec: Event<Vec<u8>> = Event::new("data");
        let text = rejected(
            || client.on(as_vec, |_, _| panic!("never called")),
            "data",
            "[u8]",
            "alloc::vec::Vec<u8>",
        );
        assert!(text.contains("Socket"), "{text}");
        assert_eq!(client.listener_count("data"), 0);
        assert!(!client.event_names().contains(&"data"));
        let ld = l.clone();
        client.on(Socket::DATA, move |_, d| {
            ld.push(format!("data {}", String::from_utf8_lossy(d)))
        });
        let le = l.clone();
        client.on(Socket::END, move |_, _| le.push("end"));
        client.on(Socket::CLOSE, move |_, had_error| {
            l.push(format!("close {had_error}"));
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["data hello", "end", "close false"]);
}

#[test]
fn a_mistyped_error_listener_is_rejected_and_the_error_still_ends_run() {
    // An `error` listener taking `str` could never be called; it used to
    // count as a listener, so the error was swallowed and `run` returned
    // `Ok(())`.
    let reserved = refused_port();
    let refused = reserved.port();
    let res = netloop::run(move || {
        let _g = guard("mistyped error listener");
        let client = net::connect(refused, "127.0.0.1")?;
        let as_text: Event<str> = Event::new("error");
        rejected(
            || client.on(as_text, |_, _| panic!("never called")),
            "error",
            "netloop::error::Error",
            "str",
        );
        assert_eq!(client.listener_count("error"), 0);
        Ok(())
    });
    let err = res.expect_err("the unhandled error ends run");
    assert_eq!(err.code(), ErrorCode::ECONNREFUSED);
    assert_eq!(err.port(), Some(refused));
}

#[test]
fn a_mistyped_connection_listener_is_rejected() {
    netloop::run(|| {
        let server = Server::new();
        let as_unit: Event<()> = Event::new("connection");
        let text = rejected(
            || server.on(as_unit, |_, _| {}),
            "connection",
            "netloop::net::socket::Socket",
            "()",
        );
        assert!(text.contains("Server"), "{text}");
        assert_eq!(server.listener_count("connection"), 0);
        Ok(())
    })
    .unwrap();
}
