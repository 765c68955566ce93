//! The command-line tool: the seed's dialogue between `netloop server` and
//! `netloop client`, the client's failure output, `netloop echo`, the
//! PROXY protocol on both servers (`--proxy-protocol`), the servers out of
//! file descriptors, and `netloop nc`'s exit status.

#[path = "../crates/netloop/tests/util/mod.rs"]
mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use util::refused_port;

const BIN: &str = env!("CARGO_BIN_EXE_netloop");

/// Kills the child when the test ends, pass or fail.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start a long-running subcommand on port 0 and read the port from the
/// line it prints first.
fn start(args: &[&str], prefix: &str) -> (Guard, BufReader<ChildStdout>, u16) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn netloop");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with(prefix), "unexpected first line: {line:?}");
    let port: u16 = line.trim().rsplit(':').next().unwrap().parse().unwrap();
    (Guard(child), out, port)
}

#[test]
fn seed_dialogue_between_cli_server_and_cli_client() {
    let (_server, mut server_out, port) = start(
        &["server", "--host", "127.0.0.1", "--port", "0"],
        "Server listening on 127.0.0.1:",
    );
    let client = Command::new(BIN)
        .args(["client", "--port", &port.to_string()])
        .output()
        .unwrap();
    assert!(client.status.success());
    let stdout = String::from_utf8(client.stdout).unwrap();
    assert_eq!(
        stdout,
        format!(
            "CONNECTED TO: 127.0.0.1:{port}\nDATA: You said \"I am Chuck Norris!\"\nConnection closed\n"
        )
    );

    let mut lines = Vec::new();
    for _ in 0..3 {
        let mut l = String::new();
        server_out.read_line(&mut l).unwrap();
        lines.push(l.trim_end().to_owned());
    }
    assert!(lines[0].starts_with("CONNECTED: 127.0.0.1:"), "{lines:?}");
    assert_eq!(lines[1], "DATA 127.0.0.1: I am Chuck Norris!");
    let client_port = lines[0].rsplit(':').next().unwrap();
    assert_eq!(lines[2], format!("CLOSED: 127.0.0.1 {client_port}"));
}

#[test]
fn cli_client_prints_nodes_error_and_fails_when_refused() {
    let refused = refused_port();
    let port = refused.port();
    let out = Command::new(BIN)
        .args(["client", "--port", &port.to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(&format!("connect ECONNREFUSED 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "Connection closed\n"
    );
}

#[test]
fn cli_echo_returns_one_mebibyte_byte_exact() {
    let (_echo, _out, port) = start(
        &["echo", "--host", "127.0.0.1", "--port", "0"],
        "echo listening on 127.0.0.1:",
    );
    let data: Vec<u8> = (0..1024 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut w = c.try_clone().unwrap();
    let sent = data.clone();
    let writer = std::thread::spawn(move || {
        w.write_all(&sent).unwrap();
        w.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    writer.join().unwrap();
    assert_eq!(back.len(), data.len());
    assert!(back == data, "echoed bytes differ");
}

#[test]
fn cli_nc_sends_stdin_and_prints_the_reply_then_exits() {
    let (_echo, _out, port) = start(
        &["echo", "--host", "127.0.0.1", "--port", "0"],
        "echo listening on 127.0.0.1:",
    );
    let mut nc = Command::new(BIN)
        .args(["nc", "127.0.0.1", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // End of stdin half-closes the connection; the echo server ends its
    // side after echoing, and nc exits once the socket closes.
    nc.stdin.take().unwrap().write_all(b"hello nc\n").unwrap();
    let out = nc.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, b"hello nc\n");
}

// ----- out of file descriptors ---------------------------------------------

/// The descriptor limit the servers below run under (`prlimit`): Node 20
/// under the same limit keeps serving.
const NOFILE: &str = "--nofile=64:64";

/// How many clients flood a server whose limit is [`NOFILE`]: several
/// times what it can hold open at once.
const FLOOD: usize = 200;

/// Start a long-running server subcommand under `prlimit` (util-linux),
/// read the port from its first line, and collect the rest of its stdout
/// and its stderr on threads (a full pipe would block it).
fn start_limited(args: &[&str], prefix: &str) -> Limited {
    let mut child = Command::new("prlimit")
        .arg(NOFILE)
        .arg(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn prlimit (util-linux) with netloop");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with(prefix), "unexpected first line: {line:?}");
    let port: u16 = line.trim().rsplit(':').next().unwrap().parse().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = out.read_to_string(&mut rest);
        rest
    });
    let stderr = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = err.read_to_string(&mut all);
        all
    });
    Limited {
        child: Guard(child),
        port,
        stdout,
        stderr,
    }
}

struct Limited {
    child: Guard,
    port: u16,
    stdout: std::thread::JoinHandle<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Limited {
    /// Stop the server and return its stdout (after the first line) and
    /// stderr.
    fn stop(self) -> (String, String) {
        drop(self.child);
        (self.stdout.join().unwrap(), self.stderr.join().unwrap())
    }

    /// Whether the server is still running.
    fn running(&mut self) -> bool {
        self.child.0.try_wait().unwrap().is_none()
    }
}

/// Open [`FLOOD`] connections at once, each sending `msg`, hold them all,
/// then close them all.
fn flood(port: u16, msg: &[u8]) {
    let mut clients = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        // The kernel completes each handshake into the server's backlog
        // (511), whether or not the server has a descriptor to accept it.
        let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect during the flood");
        // A server that already closed this connection makes the write
        // fail; that is its right.
        let _ = c.write_all(msg);
        clients.push(c);
    }
    drop(clients);
}

/// After a flood: a fresh client sends `msg` and must read `want`. The
/// server may still be closing the flood's connections and shed the first
/// attempt (as Node does while it has no descriptor), so attempts repeat
/// until a generous deadline, a failure guard only. Returns the server's
/// output once it is stopped.
fn served_after_flood(mut server: Limited, msg: &[u8], want: &[u8]) -> (String, String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut last = String::new();
    while std::time::Instant::now() < deadline && server.running() {
        let attempt = (|| -> std::io::Result<Vec<u8>> {
            let mut c = TcpStream::connect(("127.0.0.1", server.port))?;
            c.set_read_timeout(Some(Duration::from_secs(5)))?;
            c.write_all(msg)?;
            let mut got = vec![0u8; want.len()];
            c.read_exact(&mut got)?;
            Ok(got)
        })();
        match attempt {
            Ok(got) => {
                assert_eq!(got, want, "a fresh client's reply");
                return server.stop();
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let exited = !server.running();
    let (_, stderr) = server.stop();
    assert!(!exited, "the server exited; stderr:\n{stderr}");
    panic!("no fresh client was served within 20 s; last attempt: {last}; stderr:\n{stderr}");
}

/// `netloop echo` out of descriptors: Node's echo server under the same
/// limit closes the connections it cannot hold, echoes on those it holds
/// and serves fresh clients afterwards. Before, netloop's exited with
/// `accept EMFILE` after about 56 connections.
#[test]
fn cli_echo_survives_running_out_of_descriptors() {
    let echo = start_limited(
        &["echo", "--host", "127.0.0.1", "--port", "0"],
        "echo listening on 127.0.0.1:",
    );
    flood(echo.port, b"x");
    let (_, stderr) = served_after_flood(echo, b"fresh", b"fresh");
    // The shedding is logged, once per spell without descriptors.
    assert!(stderr.contains("EMFILE"), "stderr: {stderr}");
}

/// `echo --quiet` sheds load the same way and prints nothing about it.
#[test]
fn cli_echo_quiet_survives_running_out_of_descriptors_silently() {
    let echo = start_limited(
        &["echo", "--quiet", "--host", "127.0.0.1", "--port", "0"],
        "echo listening on 127.0.0.1:",
    );
    flood(echo.port, b"x");
    let (_, stderr) = served_after_flood(echo, b"fresh", b"fresh");
    assert_eq!(stderr, "");
}

/// The seed's server, out of descriptors: it keeps answering.
#[test]
fn cli_server_survives_running_out_of_descriptors() {
    let server = start_limited(
        &["server", "--host", "127.0.0.1", "--port", "0"],
        "Server listening on 127.0.0.1:",
    );
    flood(server.port, b"x");
    let (stdout, stderr) = served_after_flood(server, b"ping", b"You said \"ping\"");
    assert!(stdout.contains("DATA 127.0.0.1: ping"), "stdout: {stdout}");
    assert!(stderr.contains("EMFILE"), "stderr: {stderr}");
}

// ----- nc's exit status ------------------------------------------------------

/// A refused connection is a failure: non-zero, and the reason on stderr
/// (netcat exits 1 when it cannot connect).
#[test]
fn cli_nc_fails_when_the_connection_is_refused() {
    let refused = refused_port();
    let port = refused.port();
    let out = Command::new(BIN)
        .args(["nc", "127.0.0.1", &port.to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "exit status {}; stderr: {stderr}",
        out.status
    );
    assert!(
        stderr.contains(&format!("connect ECONNREFUSED 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert_eq!(out.stdout, b"");
}

/// `nc -l` on a port that is taken fails the same way.
#[test]
fn cli_nc_listen_fails_when_the_port_is_taken() {
    // Bound without SO_REUSEADDR: netloop's listen cannot share it.
    let taken = refused_port();
    let port = taken.port();
    let out = Command::new(BIN)
        .args(["nc", "-l", "127.0.0.1", &port.to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "exit status {}; stderr: {stderr}",
        out.status
    );
    assert!(
        stderr.contains(&format!(
            "listen EADDRINUSE: address already in use 127.0.0.1:{port}"
        )),
        "{stderr}"
    );
}

#[test]
fn node_debug_output_has_no_colour_codes_when_piped() {
    let refused = refused_port();
    let out = Command::new(BIN)
        .args(["client", "--port", &refused.port().to_string()])
        .env("NODE_DEBUG", "net")
        .env_remove("RUST_LOG")
        // Piping alone must turn colour off, with or without NO_COLOR.
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("DEBUG netloop::net: connect"), "{stderr}");
    assert!(!stderr.contains('\x1b'), "escape codes in {stderr:?}");
}

#[test]
fn server_and_client_describe_their_own_host_and_port() {
    let help = |cmd: &str| {
        let out = Command::new(BIN).args([cmd, "--help"]).output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let server = help("server");
    assert!(server.contains("Address to listen on"), "{server}");
    assert!(server.contains("Port to listen on"), "{server}");
    let client = help("client");
    assert!(client.contains("Server to connect to"), "{client}");
    assert!(client.contains("Server port to connect to"), "{client}");
}

/// `netloop server --proxy-protocol required`: the CONNECTED and DATA
/// lines show the client the PROXY header names, a connection without a
/// header is reported on stderr and closed, and the server goes on.
#[test]
fn cli_server_proxy_protocol_shows_the_original_client() {
    let mut child = Command::new(BIN)
        .args(["server", "--port", "0", "--proxy-protocol", "required"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn netloop");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let _server = Guard(child);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("Server listening on 127.0.0.1:"),
        "{line:?}"
    );
    let port: u16 = line.trim().rsplit(':').next().unwrap().parse().unwrap();
    let next = |from: &mut dyn BufRead| {
        let mut l = String::new();
        from.read_line(&mut l).unwrap();
        l.trim_end().to_owned()
    };

    // A client without a header: reported, closed, never CONNECTED.
    let mut bad = TcpStream::connect(("127.0.0.1", port)).unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    bad.write_all(b"hello").unwrap();
    let bad_port = bad.local_addr().unwrap().port();
    let _ = bad.read_to_end(&mut Vec::new());
    assert_eq!(
        next(&mut err),
        format!("clientError 127.0.0.1:{bad_port}: PROXY protocol: header required, got \"hello\"")
    );

    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"PROXY TCP4 203.0.113.7 198.51.100.1 41000 6969\r\nI am Chuck Norris!")
        .unwrap();
    let want = b"You said \"I am Chuck Norris!\"";
    let mut reply = vec![0u8; want.len()];
    c.read_exact(&mut reply).unwrap();
    assert_eq!(reply, want);
    drop(c);
    assert_eq!(next(&mut out), "CONNECTED: 203.0.113.7:41000");
    assert_eq!(next(&mut out), "DATA 203.0.113.7: I am Chuck Norris!");
    assert_eq!(next(&mut out), "CLOSED: 203.0.113.7 41000");
}

/// `netloop echo --proxy-protocol required` echoes what follows a v1 or
/// v2 header, never the header.
#[test]
fn cli_echo_proxy_protocol_echoes_only_the_data() {
    use netloop::proxy::ProxyHeader;

    let (_echo, _out, port) = start(
        &["echo", "--port", "0", "--proxy-protocol", "required"],
        "echo listening on 127.0.0.1:",
    );
    let v2 = ProxyHeader::proxy(
        "[2001:db8::7]:41000".parse().unwrap(),
        "[2001:db8::1]:7000".parse().unwrap(),
    )
    .encode()
    .unwrap();
    let v1 = b"PROXY TCP4 203.0.113.7 198.51.100.1 41000 7000\r\n".to_vec();
    for header in [v1, v2] {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(&[header, b"ping".to_vec()].concat()).unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut back = Vec::new();
        c.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"ping");
    }
}
