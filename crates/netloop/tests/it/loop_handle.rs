//! `netloop::LoopHandle` (libuv's `uv_async_t`) and `netloop::channel`:
//! other threads hand work to a running loop; posts run on the loop
//! thread, in order, keep the loop alive only while in flight, and are
//! refused once the loop has ended.
//!
//! No test here waits with a sleep: threads and the loop meet through
//! channels and joins, and the unref'd guard timers only fail a test that
//! would otherwise hang.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

use crate::util::{guard, keep_alive, listen_local, Log};
use netloop::net::{self, Socket};
use netloop::{next_tick, Error, ErrorCode};

/// libuv's `test-async.c` in spirit: a thread posts, the loop runs each
/// post on its own thread, in the order posted, then ends by itself.
#[test]
fn posts_from_another_thread_run_on_the_loop_thread_in_order() {
    let ran: Arc<Mutex<Vec<(thread::ThreadId, usize)>>> = Arc::default();
    let sink = Arc::clone(&ran);
    let mut loop_thread = None;
    netloop::run(|| {
        let _g = guard("posts in order");
        loop_thread = Some(thread::current().id());
        let handle = netloop::loop_handle();
        let poster = thread::spawn(move || {
            for i in 0..200 {
                let sink = Arc::clone(&sink);
                handle
                    .post(move || sink.lock().unwrap().push((thread::current().id(), i)))
                    .expect("the loop is running");
            }
        });
        // Every post is accepted before `main` returns, and nothing else
        // is alive: only the posts in flight keep the loop running.
        poster.join().unwrap();
        Ok(())
    })
    .unwrap();
    let ran = ran.lock().unwrap();
    let loop_thread = loop_thread.unwrap();
    assert!(
        ran.iter().all(|(t, _)| *t == loop_thread),
        "ran off the loop thread"
    );
    let order: Vec<usize> = ran.iter().map(|(_, i)| *i).collect();
    assert_eq!(order, (0..200).collect::<Vec<_>>());
}

/// The handle is unref'd: a thread holding one (and waiting to use it)
/// does not keep `run` from returning; its post afterwards is refused.
#[test]
fn run_returns_while_another_thread_holds_a_handle_then_post_fails() {
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let ran = Arc::new(AtomicBool::new(false));
    let r = Arc::clone(&ran);
    let mut holder = None;
    netloop::run(|| {
        // If the handle kept the loop alive, this guard would fail the
        // test instead of letting it hang.
        let _g = guard("a held handle kept the loop alive");
        let handle = netloop::loop_handle();
        holder = Some(thread::spawn(move || {
            go_rx.recv().unwrap();
            let res = handle.post(move || r.store(true, Ordering::SeqCst));
            (res, handle.is_closed())
        }));
        Ok(())
    })
    .unwrap();
    go_tx.send(()).unwrap();
    let (res, closed) = holder.unwrap().join().unwrap();
    let err = res.expect_err("the loop has ended");
    assert_eq!(err.code(), ErrorCode::ERR_LOOP_CLOSED);
    assert_eq!(err.to_string(), "Event loop is closed");
    assert!(closed);
    assert!(!ran.load(Ordering::SeqCst), "a refused post ran");
}

/// An accepted post counts as alive until it ran: with nothing else
/// alive, the loop waits for it instead of ending (and dropping it).
#[test]
fn a_post_in_flight_keeps_the_loop_alive_until_it_ran() {
    let ran = Arc::new(AtomicBool::new(false));
    let r = Arc::clone(&ran);
    netloop::run(move || {
        let _g = guard("post in flight");
        let handle = netloop::loop_handle();
        let (accepted_tx, accepted_rx) = mpsc::channel();
        thread::spawn(move || {
            let res = handle.post(move || r.store(true, Ordering::SeqCst));
            accepted_tx.send(res.is_ok()).unwrap();
        });
        assert!(accepted_rx.recv().unwrap(), "the post was accepted");
        // `main` returns with only the post in flight.
        Ok(())
    })
    .unwrap();
    assert!(ran.load(Ordering::SeqCst), "the accepted post never ran");
}

#[test]
fn post_after_the_loop_ended_returns_loop_closed() {
    let mut kept = None;
    netloop::run(|| {
        kept = Some(netloop::loop_handle());
        Ok(())
    })
    .unwrap();
    let handle = kept.unwrap();
    let dropped = Arc::new(AtomicBool::new(false));
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let flag = Flag(Arc::clone(&dropped));
    let err = handle
        .post(move || {
            let _flag = &flag;
            panic!("ran after the loop ended")
        })
        .expect_err("the loop has ended");
    assert_eq!(err.code(), ErrorCode::ERR_LOOP_CLOSED);
    assert!(
        dropped.load(Ordering::SeqCst),
        "the refused closure was kept"
    );
    assert!(format!("{handle:?}").contains("closed: true"));
}

/// A post is a callback like any other: its `next_tick`s run right after
/// it, before the next post; a post from the loop thread itself runs
/// later, never inside the call.
#[test]
fn a_post_drains_next_ticks_and_never_runs_inside_the_call() {
    let log: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let l = Arc::clone(&log);
    netloop::run(move || {
        let handle = netloop::loop_handle();
        let (l1, l2) = (Arc::clone(&l), Arc::clone(&l));
        handle.post(move || {
            l1.lock().unwrap().push("post 1");
            let l = Arc::clone(&l1);
            next_tick(move || l.lock().unwrap().push("tick of post 1"));
        })?;
        handle.post(move || l2.lock().unwrap().push("post 2"))?;
        l.lock().unwrap().push("main, after posting");
        Ok(())
    })
    .unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        ["main, after posting", "post 1", "tick of post 1", "post 2"]
    );
}

/// A channel's callback holds loop-side handles (here a `Server`) that a
/// posted closure cannot: another thread stops the server through it.
#[test]
fn a_channel_lets_another_thread_stop_a_server() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("stop a server from another thread");
        let server = net::create_server(|_, _| {});
        listen_local(&server);
        let l = l.clone();
        let stop = netloop::channel(move |why: String| {
            l.push(format!("stop: {why}"));
            let l = l.clone();
            server.close_with(move |_, err| {
                l.push(format!("closed {:?}", err.map(Error::code)));
            });
        });
        // The listening server keeps the loop alive until the thread's
        // message closes it.
        thread::spawn(move || stop.send("asked".to_owned()).unwrap());
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["stop: asked", "closed None"]);
}

/// Messages run in order; the callback (and what it holds) is freed on
/// the loop thread after the last sender is dropped, after its messages.
#[test]
fn a_channel_delivers_in_order_then_frees_its_callback() {
    struct Dropped(Log);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.push("callback dropped");
        }
    }
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("channel order");
        let dropped = Dropped(l.clone());
        let tx = netloop::channel(move |n: u32| {
            let _ = &dropped;
            dropped.0.push(format!("message {n}"));
        });
        let tx2 = tx.clone();
        let sender = thread::spawn(move || {
            for n in 0..3 {
                tx.send(n).unwrap();
            }
            drop(tx);
            tx2.send(3).unwrap();
        });
        sender.join().unwrap();
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        [
            "message 0",
            "message 1",
            "message 2",
            "message 3",
            "callback dropped"
        ]
    );
}

/// A post racing with the loop's end either runs or is refused: never
/// accepted and then lost. A thread posts as fast as it can while the loop
/// ends; every `Ok` must have run.
#[test]
fn posts_racing_with_the_end_either_run_or_are_refused() {
    for _round in 0..20 {
        let ran = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (r, a) = (Arc::clone(&ran), Arc::clone(&accepted));
        let mut poster = None;
        netloop::run(|| {
            let handle = netloop::loop_handle();
            poster = Some(thread::spawn(move || {
                for _ in 0..2_000 {
                    let r = Arc::clone(&r);
                    match handle.post(move || {
                        r.fetch_add(1, Ordering::SeqCst);
                    }) {
                        Ok(()) => {
                            a.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => {
                            assert_eq!(e.code(), ErrorCode::ERR_LOOP_CLOSED);
                            return;
                        }
                    }
                }
            }));
            Ok(())
        })
        .unwrap();
        // The loop has ended, so nothing runs any more: what the thread
        // had accepted when `run` returned ran. The thread may still be
        // between a refused post and its return: join it first.
        poster.unwrap().join().unwrap();
        assert_eq!(
            ran.load(Ordering::SeqCst),
            accepted.load(Ordering::SeqCst),
            "an accepted post did not run"
        );
    }
}

/// A loop stopped early (an `error` event nobody listened to) drops the
/// posts it accepted without running them, on its own thread, and refuses
/// later ones.
#[test]
fn a_loop_stopped_by_an_unhandled_error_drops_its_queued_posts() {
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let ran = Arc::new(AtomicBool::new(false));
    let (d, r) = (Arc::clone(&dropped), Arc::clone(&ran));
    let mut kept = None;
    let err = netloop::run(|| {
        let handle = netloop::loop_handle();
        let flag = Flag(d);
        handle.post(move || {
            let _flag = &flag;
            r.store(true, Ordering::SeqCst);
        })?;
        kept = Some(handle);
        // Emitted on the next tick, before the poll phase that would run
        // the post.
        Socket::new().destroy_with(Error::new(ErrorCode::ECONNABORTED, "nobody listens"));
        Ok(())
    })
    .expect_err("the unhandled error");
    assert_eq!(err.code(), ErrorCode::ECONNABORTED);
    assert!(!ran.load(Ordering::SeqCst), "ran after the loop stopped");
    assert!(dropped.load(Ordering::SeqCst), "the queued post was kept");
    let refused = kept.unwrap().post(|| {}).expect_err("closed");
    assert_eq!(refused.code(), ErrorCode::ERR_LOOP_CLOSED);
}

/// Only a post into an empty queue wakes the loop (as libuv's
/// `uv_async_send` coalesces): a lone post to a loop asleep in its poll
/// must still wake it, every time, and a burst behind it must all run.
/// A thread alternates the two 300 times; a lost wake-up would leave a
/// lone post waiting for the 10 s failure guard.
#[test]
fn a_lone_post_always_wakes_the_loop_and_a_burst_all_runs() {
    const ROUNDS: usize = 300;
    const BURST: usize = 20;
    let ran = Arc::new(AtomicUsize::new(0));
    let woken = Arc::new(AtomicUsize::new(0));
    let (ran2, woken2) = (Arc::clone(&ran), Arc::clone(&woken));
    netloop::run(move || {
        // Keeps the loop waiting in its poll between posts until the
        // thread is done (and fails the test after 10 s).
        let keep = keep_alive("lone posts and bursts");
        let done = netloop::channel(move |()| keep.cancel());
        let handle = netloop::loop_handle();
        thread::spawn(move || {
            let (tx, rx) = mpsc::channel();
            for _ in 0..ROUNDS {
                let tx = tx.clone();
                handle.post(move || tx.send(()).unwrap()).unwrap();
                if rx.recv_timeout(std::time::Duration::from_secs(10)).is_err() {
                    break;
                }
                woken2.fetch_add(1, Ordering::SeqCst);
                for _ in 0..BURST {
                    let ran = Arc::clone(&ran2);
                    handle
                        .post(move || {
                            ran.fetch_add(1, Ordering::SeqCst);
                        })
                        .unwrap();
                }
            }
            done.send(()).unwrap();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(woken.load(Ordering::SeqCst), ROUNDS);
    assert_eq!(ran.load(Ordering::SeqCst), ROUNDS * BURST);
}
