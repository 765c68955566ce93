//! `netloop::signals` (Node's `process.on('SIGINT')`): delivery on the
//! loop thread, to every loop that listens; no keep-alive; the default
//! action restored when the last listener goes.
//!
//! Signals are process-wide, so these tests live in a binary of their own
//! (cargo runs test binaries one after another: nothing in `tests/it`
//! runs meanwhile) and each holds [`serial`] for its whole run, so one
//! test's signal never reaches another's listener. In this process they
//! raise only `SIGUSR1` and `SIGUSR2`, and only while a listener for it
//! exists (without one, the default action would kill the test binary).
//! Tests whose point is that the process dies re-run this binary with one
//! `#[ignore]`d test selected, as `tests/fresh_process.rs` does, and check
//! how the child ended.

mod util;

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use netloop::signals::{self, Signal};
use netloop::timers;
use util::{guard, serial, Calls, Log};

/// Run the `#[ignore]`d test `name` of this binary in a child process and
/// return how it ended, with its output.
fn run_child(name: &str) -> (std::process::ExitStatus, String, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            name,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A reffed timer that keeps a loop alive until the signal under test
/// arrives (the listener cancels it), and fails the test if it never does.
fn await_signal(what: &'static str) -> timers::Timer {
    timers::set_timeout(Duration::from_secs(10), move || {
        panic!("{what}: no signal within 10 s")
    })
}

#[test]
fn a_raised_signal_reaches_the_listener_on_the_loop_thread() {
    let _s = serial();
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let loop_thread = thread::current().id();
        let waiting = await_signal("SIGUSR1");
        signals::on(Signal::USR1, move |sig| {
            assert_eq!(thread::current().id(), loop_thread, "off the loop thread");
            l.push(format!("listener {sig}"));
            let l = l.clone();
            netloop::next_tick(move || l.push("tick after the listener"));
            waiting.cancel();
        })?;
        assert_eq!(signals::listener_count(Signal::USR1), 1);
        signals::raise(Signal::USR1)?;
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        ["listener SIGUSR1", "tick after the listener"]
    );
}

/// The signal comes from another thread (where the handler runs, as
/// `raise` targets the calling thread) while the loop waits in its poll
/// phase: the self-pipe wakes it.
#[test]
fn a_signal_raised_on_another_thread_wakes_the_loop() {
    let _s = serial();
    let heard = Calls::new();
    let h = heard.clone();
    netloop::run(move || {
        let waiting = await_signal("SIGUSR2 from a thread");
        signals::on(Signal::USR2, move |_| {
            h.hit();
            waiting.cancel();
        })?;
        thread::spawn(|| signals::raise(Signal::USR2).unwrap());
        Ok(())
    })
    .unwrap();
    assert_eq!(heard.get(), 1);
}

/// Node unrefs its signal handles: a listener alone does not keep `run`
/// going.
#[test]
fn a_signal_listener_alone_does_not_keep_run_alive() {
    let _s = serial();
    netloop::run(|| {
        // Fails the test if the listener kept the loop alive.
        let _g = guard("a signal listener kept the loop alive");
        signals::on(Signal::USR1, |_| panic!("no signal was raised"))?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn off_removes_one_listener_and_the_others_still_hear() {
    let _s = serial();
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let waiting = await_signal("SIGUSR1 after off");
        let la = l.clone();
        let a = signals::on(Signal::USR1, move |_| la.push("a"))?;
        let lb = l.clone();
        signals::on(Signal::USR1, move |_| {
            lb.push("b");
            waiting.cancel();
        })?;
        assert!(signals::off(a));
        assert!(!signals::off(a), "removed twice");
        assert_eq!(signals::listener_count(Signal::USR1), 1);
        signals::raise(Signal::USR1)?;
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["b"]);
}

/// Two loops on two threads listen for the same signal: each gets it.
#[test]
fn every_loop_that_listens_gets_the_signal() {
    let _s = serial();
    let (ready_tx, ready_rx) = mpsc::channel();
    let (heard_tx, heard_rx) = mpsc::channel();
    let loops: Vec<_> = (0..2)
        .map(|n| {
            let (ready, heard) = (ready_tx.clone(), heard_tx.clone());
            thread::spawn(move || {
                netloop::run(move || {
                    let waiting = await_signal("SIGUSR2 on two loops");
                    signals::on(Signal::USR2, move |sig| {
                        heard.send((n, sig)).unwrap();
                        waiting.cancel();
                    })?;
                    ready.send(()).unwrap();
                    Ok(())
                })
            })
        })
        .collect();
    for _ in 0..2 {
        ready_rx.recv().unwrap();
    }
    signals::raise(Signal::USR2).unwrap();
    for l in loops {
        l.join().unwrap().unwrap();
    }
    let mut heard: Vec<_> = heard_rx.try_iter().collect();
    heard.sort_by_key(|(n, _)| *n);
    assert_eq!(heard, [(0, Signal::USR2), (1, Signal::USR2)]);
}

/// Run in a child by the test below: the first SIGINT reaches the
/// listener, which removes itself; the second SIGINT finds no listener and
/// kills the process, as a second Ctrl-C does in Node once the listener is
/// gone.
#[test]
#[ignore = "run in a child process by removing_the_last_listener_restores_the_default_action"]
fn default_action_child() {
    netloop::run(|| {
        let waiting = await_signal("the first SIGINT");
        let id = std::rc::Rc::new(std::cell::Cell::new(None));
        let own = std::rc::Rc::clone(&id);
        id.set(Some(signals::on(Signal::INT, move |_| {
            println!("first SIGINT heard");
            assert!(signals::off(own.get().expect("set before any signal")));
            waiting.cancel();
            // No listener left: this one kills the process.
            signals::raise(Signal::INT).expect("raise");
            println!("survived the second SIGINT");
        })?));
        signals::raise(Signal::INT)?;
        Ok(())
    })
    .unwrap();
    println!("run returned");
}

#[test]
fn removing_the_last_listener_restores_the_default_action() {
    let _s = serial();
    let (status, stdout, stderr) = run_child("default_action_child");
    assert_eq!(
        status.signal(),
        Some(libc::SIGINT),
        "the child was not killed by SIGINT: {status}\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("first SIGINT heard"), "{stdout}");
    assert!(!stdout.contains("survived"), "{stdout}");
}

/// Run in a child by the test below: while a listener exists SIGTERM is
/// the listener's; once `run` has returned (its loop's listeners gone),
/// SIGTERM terminates the process again.
#[test]
#[ignore = "run in a child process by the_default_action_comes_back_when_run_returns"]
fn run_returns_child() {
    netloop::run(|| {
        let waiting = await_signal("SIGTERM");
        signals::on(Signal::TERM, move |_| {
            println!("SIGTERM heard");
            waiting.cancel();
        })?;
        signals::raise(Signal::TERM)?;
        Ok(())
    })
    .unwrap();
    println!("run returned");
    signals::raise(Signal::TERM).unwrap();
    println!("survived SIGTERM after run");
}

#[test]
fn the_default_action_comes_back_when_run_returns() {
    let _s = serial();
    let (status, stdout, stderr) = run_child("run_returns_child");
    assert_eq!(
        status.signal(),
        Some(libc::SIGTERM),
        "the child was not killed by SIGTERM: {status}\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("SIGTERM heard\nrun returned\n"), "{stdout}");
    assert!(!stdout.contains("survived"), "{stdout}");
}
