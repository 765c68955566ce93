//! The command-line tool: the seed's dialogue between `netloop server` and
//! `netloop client`, the client's failure output, and `netloop echo`.

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
