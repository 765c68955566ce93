//! A model-based property test of the socket: random sequences of
//! operations (write, end, destroy, pause, resume, set_timeout,
//! reset_and_destroy, and waits that let the loop run) applied to both
//! ends of connected pairs on 127.0.0.1, one loop holding both ends, and
//! checked against what must always hold whatever the timing:
//!
//! - what one side reads is a prefix of what the other wrote (the bytes of
//!   every write made while it was neither ended nor destroyed), and the
//!   whole of it once the writer emitted `finish` and the reader `end`;
//! - when neither side was destroyed or reset by the test and neither had
//!   an error, both end cleanly (`end`, `finish`, `close(false)`) and each
//!   read exactly what the other wrote;
//! - `close` fires exactly once per socket and last: no event and no
//!   callback of an operation made before it comes after it; `error` comes
//!   at most once, and `close(true)` exactly when it did;
//! - every write callback runs exactly once, and with no error only for a
//!   write the socket accepted; `bytes_written` grows by exactly what was
//!   accepted;
//! - after `netloop::run` returns, the process holds as many descriptors
//!   as before (`/proc/self/fd`).
//!
//! Only invariants are asserted, never an outcome that depends on timing
//! (which write lands before a reset, whether a timeout fires): the cases
//! are generated from a fixed seed, so a run is repeatable in what it
//! tries, and stays correct whatever the scheduler does.
//!
//! The descriptor count is process-wide, so this binary holds one test
//! (cargo runs test binaries one after another, and the cases of one
//! proptest run in sequence). `PROPTEST_CASES` and `PROPTEST_RNG_SEED`
//! override the defaults (64 cases, a fixed seed) for a longer search:
//!
//! ```text
//! PROPTEST_CASES=2000 PROPTEST_RNG_SEED=7 cargo test -p netloop --test proptest_sockets
//! ```

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use netloop::net::{self, ServerOptions, Socket, SocketOptions};
use netloop::timers;
use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestCaseError};

/// Which end of a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

/// One operation on one socket.
#[derive(Clone, Debug)]
enum Op {
    /// `write` (or `write_with`, checking the callback) of `len` bytes
    /// made from `seed`.
    Write {
        len: usize,
        seed: u64,
        with_cb: bool,
    },
    /// `end`, or `end_then` with a callback.
    End {
        with_cb: bool,
    },
    Destroy,
    ResetAndDestroy,
    Pause,
    Resume,
    /// `set_timeout`; 0 clears it.
    SetTimeout {
        ms: u64,
    },
    /// Let the loop run for this many milliseconds before the next step.
    Wait {
        ms: u64,
    },
}

#[derive(Clone, Debug)]
struct Step {
    pair: usize,
    side: Side,
    op: Op,
}

/// How a pair's two sockets are made.
#[derive(Clone, Debug)]
struct PairSpec {
    allow_half_open: bool,
    high_water_mark: Option<usize>,
}

#[derive(Clone, Debug)]
struct Case {
    pairs: Vec<PairSpec>,
    steps: Vec<Step>,
}

fn op() -> impl Strategy<Value = Op> {
    let len = prop_oneof![
        4 => 0usize..64,
        3 => 64usize..32 * 1024,
        1 => 256 * 1024usize..2 * 1024 * 1024,
        // Past what the kernel takes on loopback at once (about 4 MiB with
        // Linux's default `tcp_wmem`): the write queue, `write()` saying
        // false, and `drain` come into play.
        1 => 5 * 1024 * 1024usize..8 * 1024 * 1024,
    ];
    prop_oneof![
        8 => (len, any::<u64>(), any::<bool>())
            .prop_map(|(len, seed, with_cb)| Op::Write { len, seed, with_cb }),
        4 => (0u64..10).prop_map(|ms| Op::Wait { ms }),
        2 => Just(Op::Pause),
        3 => Just(Op::Resume),
        1 => any::<bool>().prop_map(|with_cb| Op::End { with_cb }),
        1 => Just(Op::Destroy),
        1 => Just(Op::ResetAndDestroy),
        1 => prop_oneof![Just(0u64), 1u64..10].prop_map(|ms| Op::SetTimeout { ms }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let pair = (
        any::<bool>(),
        prop_oneof![Just(None), Just(Some(1usize)), Just(Some(4096usize))],
    )
        .prop_map(|(allow_half_open, high_water_mark)| PairSpec {
            allow_half_open,
            high_water_mark,
        });
    prop::collection::vec(pair, 1..=3).prop_flat_map(|pairs| {
        let n = pairs.len();
        let step = (
            0..n,
            prop_oneof![Just(Side::Client), Just(Side::Server)],
            op(),
        )
            .prop_map(|(pair, side, op)| Step { pair, side, op });
        (Just(pairs), prop::collection::vec(step, 0..32))
            .prop_map(|(pairs, steps)| Case { pairs, steps })
    })
}

/// Deterministic bytes for a write: a xorshift stream from `seed`, so a
/// lost, repeated or reordered chunk shows up as a mismatch.
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// One write or `end_then` callback: how often it ran, and whether it ran
/// after the socket's `close`.
struct CallbackTrack {
    what: String,
    calls: Cell<u32>,
    issued_after_close: bool,
    late: Cell<bool>,
    /// The socket took the write (it was neither ended nor destroyed).
    accepted: bool,
    ok: Cell<bool>,
}

/// What one socket did, as its listeners saw it.
#[derive(Default)]
struct Track {
    name: String,
    /// Bytes of every write the socket accepted, in order.
    sent: Vec<u8>,
    received: Vec<u8>,
    events: Vec<&'static str>,
    closed: bool,
    had_error: Option<bool>,
    /// The test destroyed or reset the socket.
    destroyed_by_test: bool,
    violations: Vec<String>,
    callbacks: Vec<Rc<CallbackTrack>>,
}

type Tracked = Rc<RefCell<Track>>;

impl Track {
    fn count(&self, event: &str) -> usize {
        self.events.iter().filter(|e| **e == event).count()
    }
}

fn note(t: &Tracked, event: &'static str) {
    let mut t = t.borrow_mut();
    if t.closed {
        let name = t.name.clone();
        t.violations
            .push(format!("{name}: `{event}` after `close`"));
    }
    t.events.push(event);
}

/// Listen to every event of `sock` into `t`.
fn watch(sock: &Socket, t: &Tracked) {
    let tr = Rc::clone(t);
    sock.on(Socket::DATA, move |_, chunk| {
        note(&tr, "data");
        tr.borrow_mut().received.extend_from_slice(chunk);
    });
    for (event, name) in [
        (Socket::END, "end"),
        (Socket::FINISH, "finish"),
        (Socket::DRAIN, "drain"),
        (Socket::TIMEOUT, "timeout"),
        (Socket::CONNECT, "connect"),
        (Socket::READY, "ready"),
    ] {
        let tr = Rc::clone(t);
        sock.on(event, move |_, _| note(&tr, name));
    }
    let tr = Rc::clone(t);
    sock.on(Socket::ERROR, move |_, _| note(&tr, "error"));
    let tr = Rc::clone(t);
    sock.on(Socket::CLOSE, move |s, had_error| {
        note(&tr, "close");
        let mut t = tr.borrow_mut();
        if (s.bytes_read() as usize) < t.received.len() {
            let msg = format!(
                "{}: delivered {} bytes but bytes_read() is {}",
                t.name,
                t.received.len(),
                s.bytes_read()
            );
            t.violations.push(msg);
        }
        t.closed = true;
        t.had_error = Some(*had_error);
    });
}

fn callback(t: &Tracked, what: String, accepted: bool) -> Rc<CallbackTrack> {
    let cb = Rc::new(CallbackTrack {
        what,
        calls: Cell::new(0),
        issued_after_close: t.borrow().closed,
        late: Cell::new(false),
        accepted,
        ok: Cell::new(false),
    });
    t.borrow_mut().callbacks.push(Rc::clone(&cb));
    cb
}

/// The callback body: count, note lateness and the outcome.
fn called(t: &Tracked, cb: &CallbackTrack, ok: bool) {
    cb.calls.set(cb.calls.get() + 1);
    cb.ok.set(ok);
    if t.borrow().closed {
        cb.late.set(true);
    }
}

fn apply(sock: &Socket, t: &Tracked, op: &Op) {
    match *op {
        Op::Write { len, seed, with_cb } => {
            let data = bytes(len, seed);
            let accepted = !sock.destroyed() && !sock.writable_ended();
            let before = sock.bytes_written();
            if with_cb {
                let cb = callback(t, format!("write of {len} bytes"), accepted);
                let tr = Rc::clone(t);
                sock.write_with(&data, move |_, err| called(&tr, &cb, err.is_none()));
            } else {
                sock.write(&data);
            }
            let grew = sock.bytes_written() - before;
            let want = if accepted { len as u64 } else { 0 };
            let mut t = t.borrow_mut();
            if grew != want {
                let msg = format!(
                    "{}: a write of {len} bytes (accepted: {accepted}) moved bytes_written by {grew}",
                    t.name
                );
                t.violations.push(msg);
            }
            if accepted {
                t.sent.extend_from_slice(&data);
            }
        }
        Op::End { with_cb } => {
            if with_cb {
                let cb = callback(t, "end_then".to_string(), true);
                let tr = Rc::clone(t);
                sock.end_then(move |_, err| called(&tr, &cb, err.is_none()));
            } else {
                sock.end();
            }
        }
        Op::Destroy => {
            t.borrow_mut().destroyed_by_test = true;
            sock.destroy();
        }
        Op::ResetAndDestroy => {
            t.borrow_mut().destroyed_by_test = true;
            sock.reset_and_destroy();
        }
        Op::Pause => {
            sock.pause();
        }
        Op::Resume => {
            sock.resume();
        }
        Op::SetTimeout { ms } => {
            sock.set_timeout(Duration::from_millis(ms));
        }
        Op::Wait { .. } => {}
    }
}

/// A connected pair: (client, server) sockets with their tracks.
struct Pair {
    client: (Socket, Tracked),
    server: (Socket, Tracked),
}

/// Run the steps one after another, each in its own loop iteration (an
/// immediate, or a timer for a wait), then end every socket that is
/// still open so that the loop finishes.
fn run_steps(pairs: Rc<Vec<Pair>>, steps: Rc<Vec<Step>>, i: usize) {
    let Some(step) = steps.get(i) else {
        for p in pairs.iter() {
            for (sock, _) in [&p.client, &p.server] {
                if !sock.destroyed() {
                    sock.resume();
                    sock.end();
                }
            }
        }
        return;
    };
    let pair = &pairs[step.pair];
    let (sock, t) = match step.side {
        Side::Client => &pair.client,
        Side::Server => &pair.server,
    };
    apply(sock, t, &step.op);
    let next = {
        let (pairs, steps) = (Rc::clone(&pairs), Rc::clone(&steps));
        move || run_steps(pairs, steps, i + 1)
    };
    match step.op {
        Op::Wait { ms } => {
            timers::set_timeout(Duration::from_millis(ms), next);
        }
        _ => {
            timers::set_immediate(next);
        }
    }
}

/// A pair while it comes up: (client once connected, server's socket
/// once accepted).
type Slot = (Option<Socket>, Option<Socket>);

/// Run one case and return every track, client then server per pair.
fn run_case(case: &Case) -> Vec<(Tracked, Tracked)> {
    let tracks: Vec<(Tracked, Tracked)> = (0..case.pairs.len())
        .map(|i| {
            let t = |side: &str| {
                Rc::new(RefCell::new(Track {
                    name: format!("pair {i} {side}"),
                    ..Track::default()
                }))
            };
            (t("client"), t("server"))
        })
        .collect();
    let specs = case.pairs.clone();
    let steps = Rc::new(case.steps.clone());
    let tr = tracks.clone();
    netloop::run(move || {
        let _guard = util::guard_secs("a socket property case", 120);
        let n = specs.len();
        // Slots filled as each pair comes up; the steps start once every
        // client has connected and every server accepted.
        let slots: Rc<RefCell<Vec<Slot>>> = Rc::new(RefCell::new(vec![(None, None); n]));
        let start = {
            let slots = Rc::clone(&slots);
            let tr = tr.clone();
            let steps = Rc::clone(&steps);
            Rc::new(move || {
                let ready = slots
                    .borrow()
                    .iter()
                    .all(|(c, s)| c.is_some() && s.is_some());
                if !ready {
                    return;
                }
                let pairs: Vec<Pair> = slots
                    .borrow_mut()
                    .drain(..)
                    .zip(tr.iter())
                    .map(|((c, s), (tc, ts))| Pair {
                        client: (c.expect("filled"), Rc::clone(tc)),
                        server: (s.expect("filled"), Rc::clone(ts)),
                    })
                    .collect();
                run_steps(Rc::new(pairs), Rc::clone(&steps), 0);
            })
        };
        for (i, spec) in specs.iter().enumerate() {
            let server_opts = ServerOptions {
                allow_half_open: spec.allow_half_open,
                high_water_mark: spec.high_water_mark,
                ..ServerOptions::default()
            };
            let (slots_s, start_s, track_s) =
                (Rc::clone(&slots), Rc::clone(&start), Rc::clone(&tr[i].1));
            let server = net::create_server_with(server_opts, move |server, sock: &Socket| {
                watch(sock, &track_s);
                server.close();
                slots_s.borrow_mut()[i].1 = Some(sock.clone());
                start_s();
            });
            let port = util::listen_local(&server);
            let client = Socket::with_options(SocketOptions {
                allow_half_open: spec.allow_half_open,
                high_water_mark: spec.high_water_mark,
            });
            watch(&client, &tr[i].0);
            let (slots_c, start_c) = (Rc::clone(&slots), Rc::clone(&start));
            client.once(Socket::CONNECT, move |c, _| {
                slots_c.borrow_mut()[i].0 = Some(c.clone());
                start_c();
            });
            client.connect(port, "127.0.0.1")?;
        }
        Ok(())
    })
    .expect("every error had a listener");
    tracks
}

/// The invariants of one socket on its own.
fn check_socket(t: &Track) -> Result<(), TestCaseError> {
    if let Some(v) = t.violations.first() {
        return Err(TestCaseError::fail(v.clone()));
    }
    let name = &t.name;
    prop_assert_eq!(
        t.count("close"),
        1,
        "{}: close count; events {:?}",
        name,
        t.events
    );
    prop_assert_eq!(
        t.events.last().copied(),
        Some("close"),
        "{}: {:?}",
        name,
        t.events
    );
    prop_assert!(t.count("error") <= 1, "{}: {:?}", name, t.events);
    prop_assert!(t.count("end") <= 1, "{}: {:?}", name, t.events);
    prop_assert!(t.count("finish") <= 1, "{}: {:?}", name, t.events);
    prop_assert!(t.count("connect") <= 1, "{}: {:?}", name, t.events);
    prop_assert_eq!(
        t.had_error,
        Some(t.count("error") == 1),
        "{}: close(had_error) against the error events {:?}",
        name,
        t.events
    );
    if let Some(end) = t.events.iter().position(|e| *e == "end") {
        prop_assert!(
            !t.events[end..].contains(&"data"),
            "{}: data after end: {:?}",
            name,
            t.events
        );
    }
    for cb in &t.callbacks {
        prop_assert_eq!(
            cb.calls.get(),
            1,
            "{}: {} ran {} times",
            name,
            cb.what,
            cb.calls.get()
        );
        prop_assert!(
            cb.issued_after_close || !cb.late.get(),
            "{}: {} ran after close",
            name,
            cb.what
        );
        prop_assert!(
            cb.accepted || !cb.ok.get(),
            "{}: {} succeeded though the socket could not take it",
            name,
            cb.what
        );
    }
    Ok(())
}

/// The invariants of one direction: `from` wrote, `to` read.
fn check_direction(from: &Track, to: &Track) -> Result<(), TestCaseError> {
    prop_assert!(
        from.sent.starts_with(&to.received),
        "{} read {} bytes that are not a prefix of the {} {} wrote",
        to.name,
        to.received.len(),
        from.sent.len(),
        from.name
    );
    let finished = from.count("finish") == 1 && to.count("end") == 1;
    if finished {
        prop_assert_eq!(
            to.received.len(),
            from.sent.len(),
            "{} finished and {} ended, yet not every byte arrived",
            from.name,
            to.name
        );
    }
    Ok(())
}

fn check_pair(client: &Track, server: &Track) -> Result<(), TestCaseError> {
    check_socket(client)?;
    check_socket(server)?;
    check_direction(client, server)?;
    check_direction(server, client)?;
    let undisturbed = !client.destroyed_by_test
        && !server.destroyed_by_test
        && client.count("error") == 0
        && server.count("error") == 0;
    if undisturbed {
        for t in [client, server] {
            prop_assert_eq!(t.count("end"), 1, "{}: {:?}", t.name, t.events);
            prop_assert_eq!(t.count("finish"), 1, "{}: {:?}", t.name, t.events);
            prop_assert_eq!(t.had_error, Some(false), "{}", t.name);
        }
        prop_assert_eq!(server.received.len(), client.sent.len());
        prop_assert_eq!(client.received.len(), server.sent.len());
    }
    Ok(())
}

/// 64 cases from a fixed seed unless `PROPTEST_CASES` / `PROPTEST_RNG_SEED`
/// say otherwise.
fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 64;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(0x006e_6574_6c6f_6f70); // "netloop" in ASCII
    }
    // Shrinking a failure re-runs real connections: keep it bounded.
    config.max_shrink_iters = 256;
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn socket_pairs_keep_their_invariants_under_random_operations(case in case()) {
        let baseline = util::fd_set();
        let tracks = run_case(&case);
        for (client, server) in &tracks {
            check_pair(&client.borrow(), &server.borrow())?;
        }
        prop_assert_eq!(
            util::left_open(&baseline),
            Vec::<String>::new(),
            "descriptors left open after the loop"
        );
    }
}
