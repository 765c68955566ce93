//! The loop's phases and queues: `next_tick`, timers, immediates, close
//! callbacks, in Node 20's order (each expected order below was checked
//! against `node` v20).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use crate::util::{guard, listen_local, Calls, Log};
use netloop::net::{self, Socket};
use netloop::next_tick;
use netloop::timers::{set_immediate, set_interval, set_timeout, Timer};

const MS: Duration = Duration::from_millis(1);

#[test]
fn next_tick_drains_ticks_queued_by_ticks_before_timers_and_immediates() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let l2 = l.clone();
        next_tick(move || {
            l2.push("tick 1");
            let l3 = l2.clone();
            next_tick(move || {
                l3.push("tick 2");
                next_tick(l3.recorder("tick 3"));
            });
        });
        set_immediate(l.recorder("immediate"));
        set_timeout(MS, l.recorder("timeout"));
        l.push("main done");
        Ok(())
    })
    .unwrap();
    let e = log.entries();
    assert_eq!(e[..4], ["main done", "tick 1", "tick 2", "tick 3"]);
    // From the main script the order of a 1 ms timeout and an immediate
    // depends on how long the script took, in Node too.
    assert_eq!(log.count("immediate"), 1);
    assert_eq!(log.count("timeout"), 1);
    assert_eq!(e.len(), 6);
}

#[test]
fn next_tick_is_drained_after_every_timer_and_immediate() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        // Equal deadlines: both timers are due in the same timers phase.
        let la = l.clone();
        set_timeout(MS, move || {
            la.push("timer A");
            let lt = la.clone();
            next_tick(move || {
                lt.push("A tick");
                next_tick(lt.recorder("A tick tick"));
            });
            let li = la.clone();
            set_immediate(move || {
                li.push("immediate 1");
                next_tick(li.recorder("immediate 1 tick"));
            });
            set_immediate(la.recorder("immediate 2"));
        });
        set_timeout(MS, l.recorder("timer B"));
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        [
            "timer A",
            "A tick",
            "A tick tick",
            "timer B",
            "immediate 1",
            "immediate 1 tick",
            "immediate 2"
        ]
    );
}

#[test]
fn immediates_queued_by_immediates_wait_for_the_next_iteration() {
    // Node: an immediate scheduled from the check phase runs in the next
    // loop iteration, after that iteration's timers.
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let l1 = l.clone();
        set_immediate(move || {
            l1.push("immediate 1");
            set_immediate(l1.recorder("immediate 3 (queued by 1)"));
        });
        set_immediate(l.recorder("immediate 2"));
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        ["immediate 1", "immediate 2", "immediate 3 (queued by 1)"]
    );
}

#[test]
fn next_tick_is_drained_after_each_accepted_connection() {
    // Two connections waiting in the backlog are accepted by one readiness
    // event; Node still runs the first connection's ticks before emitting
    // the second `connection` (each accept is its own call into JS).
    let log = Log::new();
    let l = log.clone();
    let mut peers = Vec::new();
    netloop::run(|| {
        let _g = guard("accept ticks");
        let n = Calls::new();
        let server = net::create_server(move |server, sock: &Socket| {
            n.hit();
            let i = n.get();
            l.push(format!("connection {i}"));
            next_tick(l.recorder(format!("tick {i}")));
            sock.destroy();
            if i == 2 {
                server.close();
            }
        });
        let port = listen_local(&server);
        // Blocking connects complete in the kernel's backlog before the
        // loop first polls, so both are accepted in one event.
        for _ in 0..2 {
            peers.push(std::net::TcpStream::connect(("127.0.0.1", port)).unwrap());
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        ["connection 1", "tick 1", "connection 2", "tick 2"]
    );
}

#[test]
fn immediate_runs_before_timeout_when_both_are_scheduled_from_io() {
    // Node's documented guarantee: inside an I/O callback, setImmediate
    // always runs before a setTimeout(0).
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("immediate after io");
        let server = net::create_server(|_, _| {});
        let port = listen_local(&server);
        let client = net::connect(port, "127.0.0.1")?;
        client.on(Socket::CONNECT, move |c, _| {
            l.push("connect");
            set_timeout(Duration::ZERO, l.recorder("timeout"));
            set_immediate(l.recorder("immediate"));
            c.destroy();
        });
        client.on(Socket::CLOSE, move |_, _| {
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["connect", "immediate", "timeout"]);
}

#[test]
fn close_events_run_after_the_check_phase_and_drain_their_ticks() {
    // Node: destroy() in a timer -> tick, immediate, then `close` (close
    // phase), then the tick queued by the close listener, then the next
    // iteration's immediate.
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("close phase");
        let server = net::create_server(|_, _| {});
        let port = listen_local(&server);
        let client = net::connect(port, "127.0.0.1")?;
        let lc = l.clone();
        client.on(Socket::CONNECT, move |c, _| {
            let c = c.clone();
            let lt = lc.clone();
            set_timeout(MS, move || {
                lt.push("timer");
                c.destroy();
                set_immediate(lt.recorder("immediate"));
                next_tick(lt.recorder("tick"));
            });
        });
        client.on(Socket::CLOSE, move |_, _| {
            l.push("close");
            next_tick(l.recorder("close tick"));
            let server = server.clone();
            let li = l.clone();
            set_immediate(move || {
                li.push("immediate 2");
                server.close();
            });
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        [
            "timer",
            "tick",
            "immediate",
            "close",
            "close tick",
            "immediate 2"
        ]
    );
}

#[test]
fn equal_deadline_timers_fire_in_scheduling_order() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        for i in 0..20 {
            set_timeout(Duration::from_millis(5), l.recorder(i));
        }
        Ok(())
    })
    .unwrap();
    let expected: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    assert_eq!(log.entries(), expected);
}

#[test]
fn timers_fire_by_deadline_then_by_scheduling_order() {
    // All scheduled against the same cached loop time, so the deadlines
    // differ exactly by their durations.
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        for (i, ms) in [3u64, 1, 2, 1, 3].into_iter().enumerate() {
            set_timeout(
                Duration::from_millis(ms),
                l.recorder(format!("#{i} ({ms} ms)")),
            );
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        [
            "#1 (1 ms)",
            "#3 (1 ms)",
            "#2 (2 ms)",
            "#0 (3 ms)",
            "#4 (3 ms)"
        ]
    );
}

#[test]
fn interval_cancelled_from_its_own_callback_stops_and_lets_the_loop_end() {
    let count = Calls::new();
    let c = count.clone();
    netloop::run(move || {
        let _g = guard("interval");
        let me: Rc<RefCell<Option<Timer>>> = Rc::new(RefCell::new(None));
        let handle = Rc::clone(&me);
        let t = set_interval(MS, move || {
            c.hit();
            if c.get() == 3 {
                let t = handle.borrow_mut().take().expect("interval handle");
                t.cancel();
                assert!(!t.is_active());
            }
        });
        assert!(t.is_active());
        *me.borrow_mut() = Some(t);
        Ok(())
    })
    .unwrap();
    assert_eq!(count.get(), 3);
}

#[test]
fn cancelled_timeout_never_runs_and_does_not_keep_the_loop_alive() {
    netloop::run(|| {
        // If cancel() left the timer ref'd the loop would wait an hour and
        // the guard would fail the test first.
        let _g = guard("cancelled timeout");
        let t = set_timeout(Duration::from_secs(3600), || panic!("cancelled timer ran"));
        assert!(t.is_active());
        t.cancel();
        assert!(!t.is_active());
        t.cancel(); // twice is harmless, as clearTimeout
        Ok(())
    })
    .unwrap();
}

#[test]
fn timeout_cancelled_by_an_earlier_timer_in_the_same_phase_never_runs() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let victim: Rc<RefCell<Option<Timer>>> = Rc::new(RefCell::new(None));
        let v = Rc::clone(&victim);
        let la = l.clone();
        set_timeout(MS, move || {
            la.push("A");
            v.borrow().as_ref().expect("B scheduled").cancel();
        });
        // Same deadline as A, scheduled after it: due in the same phase.
        let b = set_timeout(MS, || panic!("B ran after being cancelled"));
        *victim.borrow_mut() = Some(b);
        set_timeout(MS, l.recorder("C"));
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["A", "C"]);
}

#[test]
fn cancelled_immediate_never_runs() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let first = set_immediate(|| panic!("cancelled immediate ran"));
        first.cancel();
        assert!(!first.is_active());
        let victim: Rc<RefCell<Option<Timer>>> = Rc::new(RefCell::new(None));
        let v = Rc::clone(&victim);
        let la = l.clone();
        set_immediate(move || {
            la.push("A");
            v.borrow().as_ref().expect("B queued").cancel();
        });
        *victim.borrow_mut() = Some(set_immediate(|| panic!("B ran after being cancelled")));
        set_immediate(l.recorder("C"));
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["A", "C"]);
}

#[test]
fn refresh_moves_a_timer_behind_timers_with_the_same_deadline() {
    // Node 20: `a = setTimeout(f, 10); b = setTimeout(g, 10); a.refresh()`
    // prints b then a: a refreshed timer is rescheduled, so it goes after
    // the timers already due at its new deadline.
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let a = set_timeout(Duration::from_millis(10), l.recorder("a"));
        set_timeout(Duration::from_millis(10), l.recorder("b"));
        a.refresh();
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["b", "a"]);
}

#[test]
fn refresh_postpones_a_pending_timeout_which_then_fires_once() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let a = set_timeout(Duration::from_millis(3), l.recorder("a"));
        let lb = l.clone();
        // b is due before a and restarts a's 3 ms from b's time, so a now
        // fires after c, which b schedules 2 ms ahead. Even if the loop
        // wakes late with both due, b runs first (earlier deadline).
        set_timeout(Duration::from_millis(2), move || {
            lb.push("b");
            a.refresh();
            set_timeout(Duration::from_millis(2), lb.recorder("c"));
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["b", "c", "a"]);
}

#[test]
fn refresh_after_a_one_shot_fired_does_not_run_it_again() {
    // netloop's timeouts take an FnOnce, so a fired one-shot cannot run
    // again (Node would re-run it); the refresh must not keep the loop
    // alive either.
    let count = Calls::new();
    let c = count.clone();
    netloop::run(move || {
        let _g = guard("refresh fired");
        let t = set_timeout(MS, move || c.hit());
        set_timeout(Duration::from_millis(5), move || {
            assert!(!t.is_active());
            t.refresh();
            assert!(!t.is_active());
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(count.get(), 1);
}

#[test]
fn unref_timer_does_not_keep_the_loop_alive() {
    netloop::run(|| {
        let t = set_timeout(Duration::from_secs(3600), || panic!("unref'd timer ran"));
        assert!(t.has_ref());
        t.unref();
        assert!(!t.has_ref());
        assert!(t.is_active());
        Ok(())
    })
    .unwrap();
}

#[test]
fn unref_immediate_does_not_keep_the_loop_alive() {
    // Node: `setImmediate(f).unref()` alone lets the process exit without f.
    netloop::run(|| {
        set_immediate(|| panic!("unref'd immediate ran")).unref();
        Ok(())
    })
    .unwrap();
}

#[test]
fn reffed_timer_keeps_the_loop_alive_and_set_ref_undoes_unref() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        set_timeout(Duration::from_millis(20), l.recorder("ref'd"));
        let t = set_timeout(Duration::from_millis(30), l.recorder("re-ref'd"));
        t.unref();
        t.set_ref(true);
        assert!(t.has_ref());
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["ref'd", "re-ref'd"]);
}

#[test]
fn unref_timer_still_fires_while_something_else_keeps_the_loop_alive() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        set_timeout(MS, l.recorder("unref'd")).unref();
        set_timeout(Duration::from_millis(20), l.recorder("ref'd"));
        // Due after the only ref'd timer: the loop has ended by then.
        set_timeout(Duration::from_secs(3600), l.recorder("never")).unref();
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["unref'd", "ref'd"]);
}

#[test]
fn interval_that_unrefs_itself_lets_the_loop_end() {
    let count = Calls::new();
    let c = count.clone();
    netloop::run(move || {
        let _g = guard("interval unref");
        let me: Rc<RefCell<Option<Timer>>> = Rc::new(RefCell::new(None));
        let handle = Rc::clone(&me);
        let t = set_interval(MS, move || {
            c.hit();
            if c.get() == 2 {
                handle.borrow().as_ref().expect("interval handle").unref();
            }
        });
        *me.borrow_mut() = Some(t);
        Ok(())
    })
    .unwrap();
    assert_eq!(count.get(), 2);
}
