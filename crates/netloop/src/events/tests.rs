//! The listener table's rules, unit by unit.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};

use super::entry::*;
use super::*;
use crate::error::{Error, ErrorCode};

struct Thing;

const DATA: Event<[u8]> = Event::new("data");
const END: Event<()> = Event::new("end");
const CLOSE: Event<bool> = Event::new("close");
const ERROR: Event<Error> = Event::new("error");
const X: Event<u32> = Event::new("x");
const Y: Event<()> = Event::new("y");

impl Emitter for Thing {
    const NAME: &'static str = "Thing";
    const BUILTIN_EVENTS: &'static [BuiltinEvent] =
        &[builtin(DATA), builtin(END), builtin(CLOSE), builtin(ERROR)];
}

type Log = Rc<RefCell<Vec<String>>>;

fn recorder<A: ?Sized + fmt::Debug + 'static>(
    log: &Log,
    tag: &'static str,
) -> impl FnMut(&Thing, &A) + 'static {
    let log = Rc::clone(log);
    move |_, v| log.borrow_mut().push(format!("{tag}{v:?}"))
}

fn panic_text(err: Box<dyn Any + Send>) -> String {
    match err.downcast::<String>() {
        Ok(s) => *s,
        Err(err) => err
            .downcast::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    }
}

#[test]
fn an_entry_is_at_most_40_bytes() {
    let entry = std::mem::size_of::<Entry<Thing>>();
    let table = std::mem::size_of::<Listeners<Thing>>();
    println!("listener entry: {entry} bytes; table: {table} bytes");
    assert!(entry <= 40, "{entry} bytes");
    assert!(table <= 48, "{table} bytes");
}

#[test]
fn built_in_shapes_are_stored_without_allocating_an_empty_closure() {
    let l = Listeners::<Thing>::default();
    l.add(DATA, false, false, |_, _| {});
    l.add(END, false, false, |_, _| {});
    l.add(CLOSE, true, false, |_, _| {});
    l.add(ERROR, false, false, |_, _| {});
    let captured = String::from("captured");
    l.add(DATA, false, false, move |_, _| {
        std::hint::black_box(captured.len());
    });
    let entries = l.entries.borrow();
    // A box of a zero-sized closure never allocates.
    let sizes: Vec<Option<usize>> = entries
        .iter()
        .map(|e| match &e.body {
            Body::Unit(_, Some(f)) => Some(std::mem::size_of_val(&**f)),
            Body::Bytes(_, Some(f)) => Some(std::mem::size_of_val(&**f)),
            Body::Bool(_, Some(f)) => Some(std::mem::size_of_val(&**f)),
            Body::Error(_, Some(f)) => Some(std::mem::size_of_val(&**f)),
            _ => None,
        })
        .collect();
    assert_eq!(
        sizes,
        [
            Some(0),
            Some(0),
            Some(0),
            Some(0),
            Some(std::mem::size_of::<String>())
        ]
    );
}

#[test]
fn once_runs_once_and_order_is_kept() {
    let l = Listeners::<Thing>::default();
    let log = Log::default();
    l.add(X, false, false, recorder(&log, "a"));
    l.add(X, true, false, recorder(&log, "b"));
    l.add(X, false, true, recorder(&log, "c"));
    l.add(X, true, true, recorder(&log, "d"));
    assert_eq!(l.count("x"), 4);
    assert!(l.emit(&Thing, X, &1));
    assert!(l.emit(&Thing, X, &2));
    assert_eq!(*log.borrow(), ["d1", "c1", "a1", "b1", "c2", "a2"]);
    assert_eq!(l.count("x"), 2);
    l.remove_all(Some("x"));
    assert!(!l.emit(&Thing, X, &3));
}

#[test]
fn more_listeners_than_the_inline_snapshot() {
    let l = Listeners::<Thing>::default();
    let log = Log::default();
    for tag in ["a", "b", "c", "d", "e", "f"] {
        l.add(X, false, false, recorder(&log, tag));
    }
    assert!(l.emit(&Thing, X, &0));
    assert_eq!(*log.borrow(), ["a0", "b0", "c0", "d0", "e0", "f0"]);
}

#[test]
fn an_emit_calls_the_listeners_registered_when_it_started() {
    // Node copies the listener array: a listener added during an emit
    // waits for the next one; listeners removed during it (by `off` or
    // `remove_all`, once or not) still run in it.
    let l = Rc::new(Listeners::<Thing>::default());
    let log = Log::default();
    let ids: Rc<RefCell<Vec<ListenerId>>> = Rc::default();
    let (table, lg, victims) = (Rc::downgrade(&l), Rc::clone(&log), Rc::clone(&ids));
    l.add(X, false, false, move |_, n| {
        lg.borrow_mut().push(format!("first{n}"));
        let Some(l) = table.upgrade() else { return };
        if *n == 1 {
            for id in victims.borrow().iter() {
                assert!(l.remove(*id));
                assert!(!l.remove(*id));
            }
            assert_eq!(l.count("x"), 2);
            l.add(X, false, false, recorder(&lg, "added"));
            // Removed listeners are gone for everything but this emit.
            assert_eq!(l.count("x"), 3);
            assert_eq!(l.names(), ["x", "y"]);
            l.remove_all(Some("y"));
            assert_eq!(l.names(), ["x"]);
        }
    });
    ids.borrow_mut()
        .push(l.add(X, false, false, recorder(&log, "victim")));
    ids.borrow_mut()
        .push(l.add(X, true, false, recorder(&log, "once victim")));
    l.add(X, false, false, recorder(&log, "last"));
    l.add(Y, false, false, recorder(&log, "y"));
    assert!(l.emit(&Thing, X, &1));
    assert!(l.emit(&Thing, X, &2));
    assert!(!l.emit(&Thing, Y, &()));
    assert_eq!(
        *log.borrow(),
        [
            "first1",
            "victim1",
            "once victim1",
            "last1",
            "first2",
            "last2",
            "added2"
        ]
    );
    // The removed entries were dropped when the emit ended.
    assert_eq!(l.entries.borrow().len(), 3);
}

#[test]
fn a_once_listener_is_removed_before_it_runs() {
    let l = Rc::new(Listeners::<Thing>::default());
    let calls = Rc::new(Cell::new(0));
    let (table, c) = (Rc::downgrade(&l), Rc::clone(&calls));
    l.add(X, true, false, move |me, n| {
        c.set(c.get() + 1);
        let Some(l) = table.upgrade() else { return };
        assert_eq!(l.count("x"), 0);
        assert!(l.names().is_empty());
        assert!(!l.emit(me, X, &(n + 1)));
    });
    assert!(l.emit(&Thing, X, &1));
    assert!(!l.emit(&Thing, X, &2));
    assert_eq!(calls.get(), 1);
}

#[test]
fn a_nested_emit_skips_the_running_listener() {
    let l = Rc::new(Listeners::<Thing>::default());
    let log = Log::default();
    let (table, lg) = (Rc::downgrade(&l), Rc::clone(&log));
    l.add(X, false, false, move |me, n| {
        lg.borrow_mut().push(format!("outer{n}"));
        if let Some(l) = table.upgrade() {
            if *n == 1 {
                // Only the second listener runs in the nested emit.
                assert!(l.emit(me, X, &2));
            }
        }
    });
    l.add(X, false, false, recorder(&log, "second"));
    assert!(l.emit(&Thing, X, &1));
    assert_eq!(*log.borrow(), ["outer1", "second2", "second1"]);
    // Put back after the call: it runs again.
    assert!(l.emit(&Thing, X, &3));
    assert_eq!(log.borrow().len(), 5);
}

#[test]
fn a_panicking_listener_is_kept_and_the_table_stays_usable() {
    let l = Listeners::<Thing>::default();
    let calls = Rc::new(Cell::new(0));
    let c = Rc::clone(&calls);
    l.add(X, false, false, move |_, n| {
        c.set(c.get() + 1);
        assert!(*n != 1, "listener panics");
    });
    let res = catch_unwind(AssertUnwindSafe(|| l.emit(&Thing, X, &1)));
    assert!(res.is_err());
    assert_eq!(l.emitting.get(), 0);
    assert!(l.emit(&Thing, X, &2));
    assert_eq!(calls.get(), 2);
}

#[test]
#[should_panic(expected = "ERR_INVALID_ARG_TYPE")]
fn a_listener_with_the_wrong_payload_for_a_built_in_event_is_rejected() {
    let l = Listeners::<Thing>::default();
    l.add(Event::<Vec<u8>>::new("data"), false, false, |_, _| {});
}

#[test]
fn the_rejection_names_the_event_and_both_types_and_adds_nothing() {
    let l = Listeners::<Thing>::default();
    for (res, expected, actual) in [
        (
            catch_unwind(AssertUnwindSafe(|| {
                l.add(Event::<Vec<u8>>::new("data"), false, false, |_, _| {});
            })),
            "[u8]",
            "alloc::vec::Vec<u8>",
        ),
        (
            catch_unwind(AssertUnwindSafe(|| {
                l.add(Event::<str>::new("error"), true, true, |_, _| {});
            })),
            "netloop::error::Error",
            "str",
        ),
        (
            catch_unwind(AssertUnwindSafe(|| {
                l.add(Event::<()>::new("close"), false, false, |_, _| {});
            })),
            "bool",
            "()",
        ),
    ] {
        let text = panic_text(res.expect_err("rejected"));
        assert!(text.starts_with("ERR_INVALID_ARG_TYPE"), "{text}");
        assert!(text.contains("Thing"), "{text}");
        assert!(
            text.contains(&format!("must take &{expected}, not &{actual}")),
            "{text}"
        );
    }
    assert!(l.names().is_empty());
    assert_eq!(l.next_id.get(), 0);
    // The right payload types are accepted.
    l.add(DATA, false, false, |_, _| {});
    l.add(CLOSE, false, false, |_, _| {});
    assert_eq!(l.names(), ["data", "close"]);
}

#[test]
fn an_emit_runs_only_listeners_of_its_payload_type() {
    let l = Listeners::<Thing>::default();
    let log = Log::default();
    let as_u32 = X;
    let as_str: Event<str> = Event::new("x");
    l.add(as_u32, false, false, recorder(&log, "u32 "));
    l.add(as_str, false, false, recorder(&log, "str "));
    assert_eq!(l.count("x"), 2);
    assert!(l.emit(&Thing, as_u32, &7));
    assert!(l.emit(&Thing, as_str, "seven"));
    // No listener takes a u64: none ran.
    assert!(!l.emit(&Thing, Event::<u64>::new("x"), &7));
    assert_eq!(*log.borrow(), ["u32 7", "str \"seven\""]);
}

#[test]
fn a_generic_emit_reaches_the_typed_listeners() {
    let l = Listeners::<Thing>::default();
    let log = Log::default();
    l.add(DATA, false, false, recorder(&log, "data "));
    l.add(END, false, false, recorder(&log, "end "));
    l.add(CLOSE, false, false, recorder(&log, "close "));
    let lg = Rc::clone(&log);
    l.add(ERROR, false, false, move |_, e: &Error| {
        lg.borrow_mut().push(format!("error {}", e.code().as_str()))
    });
    assert!(l.emit(&Thing, Event::<[u8]>::new("data"), b"hi"));
    assert!(l.emit(&Thing, END, &()));
    assert!(l.emit(&Thing, CLOSE, &true));
    let err = Error::new(ErrorCode::ECONNRESET, "reset");
    assert!(l.emit(&Thing, ERROR, &err));
    // Another payload type under a built-in name reaches nobody.
    assert!(!l.emit(&Thing, Event::<str>::new("error"), "text"));
    assert!(!l.emit(&Thing, Event::<Vec<u8>>::new("data"), &vec![1]));
    assert_eq!(
        *log.borrow(),
        [
            "data [104, 105]",
            "end ()",
            "close true",
            "error ECONNRESET"
        ]
    );
}

#[test]
fn names_keep_the_order_each_first_got_a_listener() {
    let l = Listeners::<Thing>::default();
    let a: Event<()> = Event::new("a");
    let b: Event<()> = Event::new("b");
    let c: Event<()> = Event::new("c");
    let a1 = l.add(a, false, false, |_, _| {});
    l.add(b, false, false, |_, _| {});
    l.add(a, false, false, |_, _| {});
    l.add(c, false, true, |_, _| {}); // a new name goes last, prepended or not
    l.add(b, false, true, |_, _| {}); // prepending keeps b's place
    assert_eq!(l.names(), ["a", "b", "c"]);
    // Removing a's first listener keeps a's place: its second takes it.
    assert!(l.remove(a1));
    assert_eq!(l.names(), ["a", "b", "c"]);
    l.add(a, false, true, |_, _| {});
    assert_eq!(l.names(), ["a", "b", "c"]);
    assert_eq!(l.count("a"), 2);
    l.remove_all(Some("a"));
    assert_eq!(l.names(), ["b", "c"]);
    l.add(a, true, false, |_, _| {});
    assert_eq!(l.names(), ["b", "c", "a"]);
    assert!(l.emit(&Thing, a, &()));
    assert_eq!(l.names(), ["b", "c"]);
    l.remove_all(None);
    assert!(l.names().is_empty());
}

#[test]
fn names_keep_their_order_when_listeners_go_during_an_emit() {
    let l = Rc::new(Listeners::<Thing>::default());
    let a: Event<()> = Event::new("a");
    let b: Event<()> = Event::new("b");
    let c: Event<()> = Event::new("c");
    let a1 = l.add(a, false, false, |_, _| {});
    l.add(b, false, false, |_, _| {});
    let table = Rc::downgrade(&l);
    l.add(c, false, false, move |_, _| {
        let Some(l) = table.upgrade() else { return };
        // a's first listener goes; its second keeps a's place.
        assert!(l.remove(a1));
        assert_eq!(l.names(), ["a", "b", "c"]);
        l.remove_all(Some("b"));
        assert_eq!(l.names(), ["a", "c"]);
    });
    l.add(a, false, false, |_, _| {});
    assert_eq!(l.names(), ["a", "b", "c"]);
    assert!(l.emit(&Thing, c, &()));
    assert_eq!(l.names(), ["a", "c"]);
    l.add(b, false, true, |_, _| {});
    assert_eq!(l.names(), ["a", "c", "b"]);
}

/// Touches the table when dropped: it must not be borrowed then.
struct TouchOnDrop(Weak<Listeners<Thing>>, Rc<Cell<usize>>);

impl Drop for TouchOnDrop {
    fn drop(&mut self) {
        if let Some(l) = self.0.upgrade() {
            l.count("x");
            l.add(Event::<u8>::new("dropped"), false, false, |_, _| {});
            self.1.set(self.1.get() + 1);
        }
    }
}

#[test]
fn closures_are_dropped_after_the_borrow_ends() {
    let l = Rc::new(Listeners::<Thing>::default());
    let drops = Rc::new(Cell::new(0));
    let probe = || {
        let t = TouchOnDrop(Rc::downgrade(&l), Rc::clone(&drops));
        move |_: &Thing, _: &u32| {
            let _ = &t;
        }
    };
    // off, remove_all by name and all, a once listener that ran.
    let id = l.add(X, false, false, probe());
    assert!(l.remove(id));
    l.add(X, false, false, probe());
    l.remove_all(Some("x"));
    l.add(X, false, false, probe());
    l.remove_all(None);
    l.add(X, true, false, probe());
    assert!(l.emit(&Thing, X, &1));
    assert_eq!(drops.get(), 4);
    // Removed during an emit: dropped when the emit ends.
    let (table, p) = (Rc::downgrade(&l), probe());
    l.add(X, false, false, move |_, _| {
        let _ = &p;
        if let Some(l) = table.upgrade() {
            l.remove_all(Some("x"));
        }
    });
    assert!(l.emit(&Thing, X, &2));
    assert_eq!(drops.get(), 5);
    assert_eq!(l.count("x"), 0);
    assert_eq!(l.count("dropped"), 3); // `remove_all(None)` took two
}
