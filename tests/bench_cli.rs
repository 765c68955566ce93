//! `netloop bench`: each mode runs against `netloop echo` on 127.0.0.1:0
//! and reports what it did. Counts only: nothing here asserts a speed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_netloop");

/// Kills the echo server when the test ends, pass or fail.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn echo_server() -> (Guard, u16) {
    let mut child = Command::new(BIN)
        .args(["echo", "--host", "127.0.0.1", "--port", "0", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn netloop echo");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with("echo listening on 127.0.0.1:"), "{line:?}");
    let port = line.trim().rsplit(':').next().unwrap().parse().unwrap();
    (Guard(child), port)
}

/// Run `netloop bench ARGS --json -q` and return its one JSON line.
fn bench(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("bench")
        .args(args)
        .args(["--json", "-q"])
        .output()
        .expect("run netloop bench");
    assert!(
        out.status.success(),
        "netloop bench {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one JSON object: {stdout:?}");
    assert!(stdout.starts_with('{') && stdout.trim_end().ends_with('}'));
    stdout
}

/// The integer value of `"key": N` in a flat JSON object.
fn int(json: &str, key: &str) -> u64 {
    let pat = format!("\"{key}\": ");
    let at = json
        .find(&pat)
        .unwrap_or_else(|| panic!("no {key} in {json}"))
        + pat.len();
    let digits: String = json[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not an integer in {json}"))
}

#[test]
fn pingpong_closed_and_open_loop_complete_requests_without_errors() {
    let (server, port) = echo_server();
    let pid = server.0.id().to_string();
    let port = port.to_string();
    let closed = bench(&[
        "pingpong",
        "-p",
        &port,
        "-c",
        "4",
        "-d",
        "0.3",
        "-w",
        "0",
        "--server-pid",
        &pid,
    ]);
    assert!(int(&closed, "requests") > 0, "{closed}");
    assert_eq!(int(&closed, "errors"), 0, "{closed}");
    assert!(closed.contains("\"p99_us\": "), "{closed}");
    assert!(closed.contains("\"server_cpu_us_per_req\": "), "{closed}");

    let open = bench(&[
        "pingpong", "-p", &port, "-c", "4", "-d", "0.3", "-w", "0", "--rate", "2000",
    ]);
    assert!(int(&open, "requests") > 0, "{open}");
    assert_eq!(int(&open, "errors"), 0, "{open}");
}

#[test]
fn stream_and_connect_move_bytes_and_connections() {
    let (_server, port) = echo_server();
    let port = port.to_string();
    let stream = bench(&[
        "stream", "-p", &port, "-c", "1", "-s", "16384", "-d", "0.3", "-w", "0",
    ]);
    assert!(int(&stream, "bytes") > 0, "{stream}");
    assert_eq!(int(&stream, "errors"), 0, "{stream}");

    let connect = bench(&["connect", "-p", &port, "-c", "4", "-d", "0.3", "-w", "0"]);
    assert!(int(&connect, "connects") > 0, "{connect}");
}

#[test]
fn idle_holds_every_connection_and_reads_the_servers_memory() {
    let (server, port) = echo_server();
    let pid = server.0.id().to_string();
    let idle = bench(&[
        "idle",
        "-p",
        &port.to_string(),
        "-c",
        "200",
        "--server-pid",
        &pid,
    ]);
    assert_eq!(int(&idle, "established"), 200, "{idle}");
    assert_eq!(int(&idle, "errors"), 0, "{idle}");
    assert!(idle.contains("\"idle_kib_per_conn\": "), "{idle}");
}

#[test]
fn attacks_run_and_the_server_survives_them() {
    // The misbehaving clients of scripts/stress.sh, briefly: each one
    // completes, and the echo server is still up afterwards.
    let (server, port) = echo_server();
    let pid = server.0.id().to_string();
    let port = port.to_string();
    let common = |mode: &'static str, conns: &'static str| {
        let args = [
            mode,
            "-p",
            &port,
            "-c",
            conns,
            "-d",
            "0.3",
            "--server-pid",
            &pid,
        ];
        bench(&args)
    };
    let slow = common("slowread", "2");
    assert!(int(&slow, "bytes_sent") > 0, "{slow}");
    assert_eq!(int(&slow, "errors"), 0, "{slow}");
    assert_eq!(int(&slow, "server_alive"), 1, "{slow}");

    let half = common("halfopen", "10");
    assert_eq!(int(&half, "errors"), 0, "{half}");
    assert_eq!(int(&half, "server_alive"), 1, "{half}");
    assert!(half.contains("\"server_closed_while_held\": "), "{half}");

    let rst = common("rst", "2");
    assert_eq!(int(&rst, "server_alive"), 1, "{rst}");
    assert!(rst.contains("\"resets\": "), "{rst}");
}

#[test]
fn timers_and_refresh_run_every_one() {
    let timers = bench(&["timers", "--count", "10000"]);
    assert_eq!(int(&timers, "fired"), 10_000, "{timers}");
    let refresh = bench(&["refresh", "--count", "10000"]);
    assert_eq!(int(&refresh, "count"), 10_000, "{refresh}");
    assert!(
        refresh.contains("\"timer_refresh_ns_per_op\": "),
        "{refresh}"
    );
}

#[test]
fn bad_arguments_fail_at_once() {
    let out = Command::new(BIN)
        .args(["bench", "pingpong", "--connections", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--connections"));
    let out = Command::new(BIN)
        .args(["bench", "stream", "--rate", "10"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rate"));
}
