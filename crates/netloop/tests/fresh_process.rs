//! Tests that need a fresh process: the thread pool is process-wide and
//! starts once, so only a new process shows how it starts; and a process
//! that runs out of file descriptors must be one of its own, with its own
//! limit (`prlimit`), or it would starve every other test. Each test here
//! re-runs this binary with one `#[ignore]`d test selected.
//!
//! They live in a test binary of their own on purpose. Between `fork` and
//! `exec` a child holds a copy of every descriptor of the parent
//! (close-on-exec acts only at `exec`), so a listener another test has just
//! closed stays open in the child for that window and still accepts: a
//! test that probes "nothing listens here any more" fails at random. Cargo
//! runs test binaries one after another, so nothing in `tests/it` (which
//! never spawns a process) runs while these do.

mod util;

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::Read;
use std::net::TcpStream;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use netloop::dns;
use netloop::net::{self, Server, Socket};
use netloop::timers::set_immediate;
use util::{guard, Calls};

/// How many of this process's threads are netloop's pool threads (Linux:
/// `/proc/self/task/*/comm`).
pub fn pool_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("netloop-pool"))
        .count()
}

/// Run the `#[ignore]`d test `name` of this test binary in a fresh process
/// with `env` set, and assert that it ran and passed. The thread pool is
/// process-wide and starts once, so only a fresh process shows how it
/// starts.
pub fn run_child_test(name: &str, env: &[(&str, &str)]) {
    let mut child = Command::new(std::env::current_exe().unwrap());
    child.envs(env.iter().copied());
    run_child(name, child);
}

/// Run the `#[ignore]`d test `name` in a fresh process whose descriptor
/// limit is `nofile` (soft and hard), set by util-linux's `prlimit` before
/// the test binary starts: no `setrlimit` (and no `unsafe`) in the test.
pub fn run_child_test_with_nofile(name: &str, nofile: u64) {
    let mut child = Command::new("prlimit");
    child
        .arg(format!("--nofile={nofile}:{nofile}"))
        .arg(std::env::current_exe().unwrap())
        .env(NOFILE_VAR, nofile.to_string());
    run_child(name, child);
}

fn run_child(name: &str, mut child: Command) {
    let out = child
        .args(["--exact", name, "--ignored", "--nocapture"])
        .output()
        .unwrap_or_else(|e| panic!("run {child:?} (is util-linux's prlimit installed?): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child {child:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The child really ran the one test (a filter typo would pass with
    // "0 passed").
    assert!(stdout.contains("1 passed"), "{stdout}");
}

/// Run in a child process with `NETLOOP_THREADPOOL_SIZE` set (the pool is
/// process-wide and started once, so a fresh process is the only way to see
/// the variable read). Not run on its own: see the test below.
#[test]
#[ignore = "run in a child process by threadpool_size_is_read_from_the_environment"]
fn threadpool_child() {
    let want: usize = std::env::var("NETLOOP_THREADPOOL_SIZE")
        .expect("run by threadpool_size_is_read_from_the_environment")
        .parse()
        .unwrap();
    let done = Calls::new();
    let d = done.clone();
    netloop::run(move || {
        let _g = guard("lookups on a small pool");
        // More lookups than threads: they queue and all complete.
        for _ in 0..8 {
            let d = d.clone();
            dns::lookup("localhost", None, move |res| {
                assert!(res.expect("localhost resolves").is_loopback());
                d.hit();
            });
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(done.get(), 8);
    // A pool thread names itself when it first runs, and one may not have
    // run yet if the others took every job: wait for the names, bounded.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while pool_threads() < want && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(pool_threads(), want, "pool threads");
}

#[test]
fn threadpool_size_is_read_from_the_environment() {
    for size in ["1", "2"] {
        run_child_test("threadpool_child", &[("NETLOOP_THREADPOOL_SIZE", size)]);
    }
}

/// Run in a fresh process by the test below: the pool is process-wide and
/// starts on first use, so only a fresh process shows it was never needed.
#[test]
#[ignore = "run in a child process by ip_literals_never_start_the_thread_pool"]
fn literal_lookups_child() {
    let done = Rc::new(Cell::new(0));
    let d = Rc::clone(&done);
    netloop::run(move || {
        for host in ["127.0.0.1", "::1", "10.1.2.3", "::ffff:127.0.0.1"] {
            let d = Rc::clone(&d);
            dns::lookup(host, None, move |res| {
                assert_eq!(res.unwrap().to_string(), host);
                d.set(d.get() + 1);
            });
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(done.get(), 4);
    assert_eq!(pool_threads(), 0, "an IP literal started the pool");
}

#[test]
fn ip_literals_never_start_the_thread_pool() {
    run_child_test("literal_lookups_child", &[]);
}

// ----- out of file descriptors -------------------------------------------

/// Tells a child test the descriptor limit `prlimit` gave it.
const NOFILE_VAR: &str = "NETLOOP_TEST_NOFILE";

/// The descriptor limit of the EMFILE children: low enough to run out at
/// once, high enough for the clients each test holds.
const NOFILE: u64 = 64;

/// The limit this child runs under; panics when started by hand without
/// `prlimit`, which would exhaust the descriptors of a whole shell.
fn child_nofile() -> u64 {
    let limit: u64 = std::env::var(NOFILE_VAR)
        .expect("run by its parent test, under prlimit")
        .parse()
        .unwrap();
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert!(
        line.contains(&format!(" {limit} ")),
        "not under prlimit: {line}"
    );
    limit
}

/// How many descriptors this process has open (`/proc/self/fd`, less the
/// one the listing itself uses).
fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").unwrap().count() as u64 - 1
}

/// Open `/dev/null` until the process is out of descriptors, and return
/// what was opened: nothing more can be opened (or accepted) until some
/// of it is dropped.
fn exhaust_descriptors() -> Vec<File> {
    let mut fillers = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(f) => fillers.push(f),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => return fillers,
            Err(e) => panic!("open /dev/null: {e}"),
        }
    }
}

/// How many connections wait in the accept queue of the listener on
/// 127.0.0.1:`port` (Linux: `/proc/net/tcp` shows a listening socket's
/// accept backlog as its `rx_queue`). Reading it takes one descriptor.
fn accept_queue_len(port: u16) -> usize {
    let local = format!("0100007F:{port:04X}");
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() > 4 && f[1] == local && f[3] == "0A")
        .map(|f| {
            let rx = f[4].split(':').nth(1).unwrap();
            usize::from_str_radix(rx, 16).unwrap()
        })
        .unwrap_or_else(|| panic!("no listener on 127.0.0.1:{port} in /proc/net/tcp"))
}

/// Connect `n` clients to 127.0.0.1:`port` and wait (bounded) until the
/// kernel has queued all of them on the listener, so the server's next
/// accept loop finds every one: a loopback handshake completes in the
/// kernel without the server, but its last step may run a moment after
/// `connect` returns.
fn queue_clients(port: u16, n: usize) -> Vec<TcpStream> {
    let clients: Vec<TcpStream> = (0..n)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect to the backlog"))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while accept_queue_len(port) < n {
        assert!(
            Instant::now() < deadline,
            "the kernel never queued {n} connections"
        );
        std::thread::yield_now();
    }
    clients
}

/// What a server that ran out of descriptors did, for the parent to check.
#[derive(Clone, Default)]
struct Outcome {
    errors: Rc<RefCell<Vec<String>>>,
    connections: Calls,
    reply: Rc<RefCell<Vec<u8>>>,
}

/// A server that greets each connection with `hi`, counts connections and
/// `error` events, and keeps its sockets in `open` for the test to destroy.
fn greeting_server(outcome: &Outcome, open: &Rc<RefCell<Vec<Socket>>>) -> Server {
    let server = Server::new();
    let errors = Rc::clone(&outcome.errors);
    server.on(Server::ERROR, move |_, err| {
        errors.borrow_mut().push(err.to_string())
    });
    let (count, open) = (outcome.connections.clone(), Rc::clone(open));
    server.on(Server::CONNECTION, move |_, sock| {
        count.hit();
        sock.on(Socket::ERROR, |_, _| {});
        sock.write("hi");
        open.borrow_mut().push(sock.clone());
    });
    server
}

/// Close the server and every socket: the loop ends.
fn finish(server: &Server, open: &Rc<RefCell<Vec<Socket>>>) {
    server.close();
    for s in open.borrow_mut().drain(..) {
        s.destroy();
    }
}

/// Run by the test below under `prlimit --nofile=64:64`.
#[test]
#[ignore = "run in a child process by out_of_descriptors_sheds_the_backlog_then_serves_a_fresh_client"]
fn emfile_shed_child() {
    // Clients the test queues before the server accepts anything: more
    // than the descriptors left once they are connected, so a server that
    // stopped at EMFILE could never work through them (see below).
    const CLIENTS: usize = 40;
    let limit = child_nofile();
    let outcome = Outcome::default();
    let out = outcome.clone();
    netloop::run(move || {
        let _g = guard("EMFILE: shed, then serve");
        let open: Rc<RefCell<Vec<Socket>>> = Rc::default();
        let server = greeting_server(&out, &open);
        let port = util::listen_local(&server);
        // The listener, the loop's poller and waker, a spare descriptor,
        // and room for the clients, the first accepted one and the reads
        // of /proc.
        let free = limit - open_fds();
        assert!(free > CLIENTS as u64 + 8, "only {free} descriptors free");

        let clients = Rc::new(RefCell::new(queue_clients(port, CLIENTS)));
        let first = Cell::new(true);
        let (reply, srv, open2) = (Rc::clone(&out.reply), server.clone(), Rc::clone(&open));
        server.on(Server::CONNECTION, move |_, _| {
            if !first.replace(false) {
                return;
            }
            // Inside the accept loop, after the first connection: take
            // every descriptor left, so the next accept fails with EMFILE.
            let fillers = exhaust_descriptors();
            let (clients, reply, srv, open) = (
                Rc::clone(&clients),
                Rc::clone(&reply),
                srv.clone(),
                Rc::clone(&open2),
            );
            // The check phase comes after this poll phase, so after the
            // accept loop has met EMFILE and returned.
            set_immediate(move || {
                drop(fillers);
                // Node 20 (libuv's EMFILE trick) closed every connection
                // that was waiting: each client reads its end at once.
                for (i, c) in clients.borrow_mut().iter_mut().enumerate().skip(1) {
                    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    let mut buf = [0u8; 2];
                    match c.read(&mut buf) {
                        Ok(0) => {}
                        other => panic!("waiting client {i} was not closed: {other:?}"),
                    }
                }
                // With descriptors free again, one fresh client is
                // served; no other connection has to come and wake the
                // listener.
                let fresh = net::connect(port, "127.0.0.1").expect("connect");
                fresh.on(Socket::DATA, move |s, data| {
                    reply.borrow_mut().extend_from_slice(data);
                    if reply.borrow().len() >= 2 {
                        s.destroy();
                        finish(&srv, &open);
                    }
                });
            });
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        *outcome.errors.borrow(),
        Vec::<String>::new(),
        "server errors"
    );
    // The first client and the fresh one; the others were shed.
    assert_eq!(outcome.connections.get(), 2);
    assert_eq!(*outcome.reply.borrow(), b"hi");
}

/// Node 20 under `prlimit --nofile=64:64` keeps serving: the connections
/// that wait while it has no descriptor are closed (libuv's EMFILE
/// trick; libuv's `test/test-emfile.c` checks that a client is accepted
/// and closed), no `error` is emitted, and a client that comes once
/// descriptors are free again is served. netloop used to emit `error` and
/// stop accepting at the first EMFILE and, its poller being
/// edge-triggered, went on only when more connections arrived: the fresh
/// client waited behind the connections queued before it, for good.
#[test]
fn out_of_descriptors_sheds_the_backlog_then_serves_a_fresh_client() {
    run_child_test_with_nofile("emfile_shed_child", NOFILE);
}

/// Run by the test below under `prlimit --nofile=64:64`.
#[test]
#[ignore = "run in a child process by out_of_descriptors_with_no_spare_accepts_again_by_itself"]
fn emfile_no_spare_child() {
    child_nofile();
    let outcome = Outcome::default();
    let out = outcome.clone();
    netloop::run(move || {
        let _g = guard("EMFILE without a spare descriptor");
        let open: Rc<RefCell<Vec<Socket>>> = Rc::default();
        let server = greeting_server(&out, &open);
        // Listen with one descriptor left: the listener takes it, and the
        // spare descriptor the loop keeps for EMFILE cannot be opened.
        let mut fillers = exhaust_descriptors();
        fillers.pop();
        let port = util::listen_local(&server);
        // Room for two clients and one read of /proc: the first client is
        // accepted, the second meets EMFILE with no spare to shed it.
        fillers.truncate(fillers.len() - 3);
        let clients = queue_clients(port, 2);
        let fillers = Rc::new(RefCell::new(Some(fillers)));
        let (srv, open2) = (server.clone(), Rc::clone(&open));
        let count = out.connections.clone();
        server.on(Server::CONNECTION, move |_, _| {
            if count.get() == 1 {
                // Inside the accept loop: no descriptor is left for the
                // second client. Free them all once the loop has given up
                // (check phase); nothing else arrives after that.
                let fillers = Rc::clone(&fillers);
                set_immediate(move || drop(fillers.borrow_mut().take()));
            } else {
                // The clients stay open until here.
                let _ = &clients;
                finish(&srv, &open2);
            }
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        *outcome.errors.borrow(),
        Vec::<String>::new(),
        "server errors"
    );
    assert_eq!(outcome.connections.get(), 2);
}

/// When the loop could not keep a spare descriptor (the server started
/// listening with none to spare), EMFILE cannot be shed: the connection
/// waits in the backlog. Once descriptors free up the listener must
/// accept it by itself: an edge-triggered poller reports nothing new for
/// a connection that was already waiting.
#[test]
fn out_of_descriptors_with_no_spare_accepts_again_by_itself() {
    run_child_test_with_nofile("emfile_no_spare_child", NOFILE);
}
