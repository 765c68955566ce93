//! Tests that need a fresh process: the thread pool is process-wide and
//! starts once, so only a new process shows how it starts. Each test here
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

use std::cell::Cell;
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use netloop::dns;
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
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--ignored", "--nocapture"])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child {name} with {env:?} failed:\n{stdout}\n{}",
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
