//! Graceful shutdown of `netloop echo` and `netloop server` on SIGTERM
//! and SIGINT: stop accepting, let open connections finish, exit 0; close
//! what remains at `--shutdown-timeout`; a second signal stops at once.
//!
//! These tests only spawn processes and talk to them over loopback (no
//! netloop runs in this process), so they may run in parallel. Every step
//! waits for something the tool says or does (a line, a byte, its exit),
//! never for time; the timeouts are failure guards.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_netloop");
/// Failure guard for reads and for the process's exit.
const GUARD: Duration = Duration::from_secs(20);

/// Kills the child when the test ends, pass or fail.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Tool {
    child: Guard,
    stdout: BufReader<ChildStdout>,
    stderr: BufReader<ChildStderr>,
    port: u16,
}

impl Tool {
    /// Start a server subcommand on port 0 and read its port from the
    /// first line it prints (printed once the signal listeners are in).
    fn start(args: &[&str], prefix: &str) -> Tool {
        let mut child = Command::new(BIN)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn netloop");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert!(line.starts_with(prefix), "unexpected first line: {line:?}");
        let port = line.trim().rsplit(':').next().unwrap().parse().unwrap();
        Tool {
            child: Guard(child),
            stdout,
            stderr,
            port,
        }
    }

    /// Send the signal `name` (`TERM`, `INT`) to the tool, with kill(1)
    /// (procps), as a service manager or a shell would.
    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.0.id().to_string()])
            .status()
            .expect("run kill(1)");
        assert!(status.success(), "kill -s {name}: {status}");
    }

    /// The next line the tool prints to stderr.
    fn stderr_line(&mut self) -> String {
        let mut line = String::new();
        self.stderr.read_line(&mut line).unwrap();
        line
    }

    fn connect(&self) -> TcpStream {
        let c = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        c.set_read_timeout(Some(GUARD)).unwrap();
        c
    }

    /// Wait for the process to exit (bounded by the failure guard).
    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + GUARD;
        loop {
            if let Some(status) = self.child.0.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the tool did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn echo_round_trip(c: &mut TcpStream, msg: &[u8]) {
    c.write_all(msg).unwrap();
    let mut back = vec![0u8; msg.len()];
    c.read_exact(&mut back).unwrap();
    assert_eq!(back, msg);
}

#[test]
fn echo_on_sigterm_stops_accepting_finishes_open_connections_and_exits_0() {
    let mut echo = Tool::start(
        &["echo", "--host", "127.0.0.1", "--port", "0"],
        "echo listening on 127.0.0.1:",
    );
    let mut c = echo.connect();
    // The echo proves the connection is accepted and open.
    echo_round_trip(&mut c, b"before");
    echo.signal("TERM");
    let line = echo.stderr_line();
    assert!(
        line.starts_with(
            "echo: SIGTERM: not accepting; waiting up to 10s for 1 open connection(s)"
        ),
        "{line:?}"
    );
    // The line is printed after the listener closed: nothing accepts now.
    let refused = TcpStream::connect(("127.0.0.1", echo.port)).expect_err("still accepting");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    // The open connection is still served.
    echo_round_trip(&mut c, b"after the signal");
    assert!(
        echo.child.0.try_wait().unwrap().is_none(),
        "exited with a connection open"
    );
    // The client ends; the echo server ends its side, and with no
    // connection left the process exits 0.
    c.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    let status = echo.wait();
    assert!(status.success(), "{status}");
    let mut out = String::new();
    echo.stdout.read_to_string(&mut out).unwrap();
    assert_eq!(out, "", "nothing after the listening line");
}

#[test]
fn echo_closes_what_remains_at_the_shutdown_timeout_and_exits_0() {
    let mut echo = Tool::start(
        &[
            "echo",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--shutdown-timeout",
            "0",
        ],
        "echo listening on 127.0.0.1:",
    );
    let mut c = echo.connect();
    echo_round_trip(&mut c, b"idle from now on");
    echo.signal("INT");
    assert!(echo
        .stderr_line()
        .starts_with("echo: SIGINT: not accepting"));
    assert_eq!(
        echo.stderr_line(),
        "echo: shutdown timeout: closing 1 remaining connection(s)\n"
    );
    // The server side closed the idle connection.
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    let status = echo.wait();
    assert!(status.success(), "{status}");
}

#[test]
fn echo_quiet_prints_nothing_on_shutdown() {
    let mut echo = Tool::start(
        &["echo", "--host", "127.0.0.1", "--port", "0", "--quiet"],
        "echo listening on 127.0.0.1:",
    );
    echo.signal("TERM");
    let status = echo.wait();
    assert!(status.success(), "{status}");
    let mut err = String::new();
    echo.stderr.read_to_string(&mut err).unwrap();
    assert_eq!(err, "");
}

#[test]
fn a_second_signal_stops_the_server_at_once() {
    let mut server = Tool::start(
        &["server", "--host", "127.0.0.1", "--port", "0"],
        "Server listening on 127.0.0.1:",
    );
    let _c = server.connect();
    let mut connected = String::new();
    server.stdout.read_line(&mut connected).unwrap();
    assert!(
        connected.starts_with("CONNECTED: 127.0.0.1:"),
        "{connected:?}"
    );
    server.signal("INT");
    // Printed once the listeners were removed: the next SIGINT has its
    // default action back.
    let line = server.stderr_line();
    assert!(
        line.starts_with("server: SIGINT: not accepting"),
        "{line:?}"
    );
    server.signal("INT");
    let status = server.wait();
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status}");
}

// ----- --threads: the same server on several loops ------------------------

/// Many clients at once, each its own bytes, every byte back in order.
fn echo_many(port: u16, clients: usize) {
    std::thread::scope(|s| {
        for i in 0..clients {
            s.spawn(move || {
                let payload: Vec<u8> = (0..64 * 1024 + i * 97).map(|b| (b * 7 + i) as u8).collect();
                let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
                c.set_read_timeout(Some(GUARD)).unwrap();
                let mut writer = c.try_clone().unwrap();
                let sent = payload.clone();
                let w = std::thread::spawn(move || {
                    writer.write_all(&sent).unwrap();
                    writer.shutdown(Shutdown::Write).unwrap();
                });
                let mut back = Vec::new();
                c.read_to_end(&mut back).unwrap();
                w.join().unwrap();
                assert!(
                    back == payload,
                    "client {i}: {} of {} bytes",
                    back.len(),
                    payload.len()
                );
            });
        }
    });
}

fn echo_threads_serve_and_shut_down_on_sigterm(policy: &str) {
    let mut echo = Tool::start(
        &[
            "echo",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--threads",
            "2",
            "--policy",
            policy,
        ],
        "echo listening on 127.0.0.1:",
    );
    echo_many(echo.port, 16);
    let mut c = echo.connect();
    echo_round_trip(&mut c, b"before");
    echo.signal("TERM");
    let line = echo.stderr_line();
    assert!(
        line.starts_with(
            "echo: SIGTERM: not accepting; waiting up to 10s for 1 open connection(s)"
        ),
        "{line:?}"
    );
    // Printed once every thread stopped accepting.
    let refused = TcpStream::connect(("127.0.0.1", echo.port)).expect_err("still accepting");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    echo_round_trip(&mut c, b"after the signal");
    c.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    let status = echo.wait();
    assert!(status.success(), "{status}");
    let mut err = String::new();
    echo.stderr.read_to_string(&mut err).unwrap();
    assert_eq!(err, "", "nothing more on stderr");
}

#[test]
fn echo_threads_round_robin_serves_and_shuts_down_on_sigterm() {
    echo_threads_serve_and_shut_down_on_sigterm("round-robin");
}

#[test]
fn echo_threads_shared_serves_and_shuts_down_on_sigterm() {
    echo_threads_serve_and_shut_down_on_sigterm("shared");
}

#[test]
fn echo_threads_close_what_remains_at_the_shutdown_timeout() {
    let mut echo = Tool::start(
        &[
            "echo",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--threads",
            "2",
            "--shutdown-timeout",
            "0",
        ],
        "echo listening on 127.0.0.1:",
    );
    let mut c = echo.connect();
    echo_round_trip(&mut c, b"idle from now on");
    echo.signal("INT");
    assert!(echo
        .stderr_line()
        .starts_with("echo: SIGINT: not accepting"));
    assert_eq!(
        echo.stderr_line(),
        "echo: shutdown timeout: closing 1 remaining connection(s)\n"
    );
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    let status = echo.wait();
    assert!(status.success(), "{status}");
}

#[test]
fn server_threads_0_starts_one_loop_per_core_and_logs_whole_lines() {
    let mut server = Tool::start(
        &[
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--threads",
            "0",
        ],
        "Server listening on 127.0.0.1:",
    );
    // Several clients at once, on whichever threads: every line whole.
    let clients: Vec<TcpStream> = (0..8).map(|_| server.connect()).collect();
    let mut lines = Vec::new();
    for _ in 0..clients.len() {
        let mut line = String::new();
        server.stdout.read_line(&mut line).unwrap();
        lines.push(line);
    }
    for line in &lines {
        let rest = line
            .strip_prefix("CONNECTED: 127.0.0.1:")
            .unwrap_or_else(|| panic!("{line:?}"));
        rest.trim_end().parse::<u16>().unwrap();
    }
    drop(clients);
    server.signal("INT");
    assert!(server
        .stderr_line()
        .starts_with("server: SIGINT: not accepting"));
    let status = server.wait();
    assert!(status.success(), "{status}");
}

#[test]
fn threads_listen_failure_exits_1_with_the_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(BIN)
        .args([
            "echo",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--threads",
            "2",
        ])
        .output()
        .expect("run netloop");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "listen EADDRINUSE: address already in use 127.0.0.1:{port}"
        )),
        "{err:?}"
    );
    assert!(out.stdout.is_empty());
}
