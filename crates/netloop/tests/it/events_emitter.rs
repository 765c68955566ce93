//! Node's `EventEmitter` API on both emitters, `Server` and `Socket`:
//! on / once / prepend_listener / prepend_once_listener / off /
//! remove_all_listeners / listener_count / event_names / emit, with the
//! orders Node 20 gives (checked with `node`).

use std::cell::RefCell;
use std::rc::Rc;

use crate::util::{guard, listen_local, Calls, Log};
use netloop::events::{Event, ListenerId};
use netloop::net::{self, Server, Socket};

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
                    // the same name is not called with the wrong type.
                    let as_number: Event<u64> = Event::new("y");
                    assert!(e.emit(as_number, &9));
                    assert_eq!(GREET.name(), "greet");
                    Ok(())
                })
                .unwrap();
                assert_eq!(log.entries(), ["chuck 3", "text payload"]);
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
