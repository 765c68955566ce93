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
