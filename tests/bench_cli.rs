//! `netloop bench`: each mode runs against `netloop echo` on 127.0.0.1:0
//! and reports what it did; failures (a refused port, a server that dies)
//! exit non-zero and say where; `--hdr-log` writes a log HdrHistogram
//! reads; `netloop bench report` turns a results directory into
//! BENCHMARKS.md. Counts only: nothing here asserts a speed.
//!
//! These tests only spawn processes (no listener lives in this one), as
//! tests/util's rule for the root package's tests asks.

#[path = "../crates/netloop/tests/util/mod.rs"]
mod util;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use util::refused_port;

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
    echo_server_with(&[])
}

/// `netloop echo` with more options (`--threads 2`).
fn echo_server_with(options: &[&str]) -> (Guard, u16) {
    let mut child = Command::new(BIN)
        .args(["echo", "--host", "127.0.0.1", "--port", "0", "--quiet"])
        .args(options)
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

/// Run `netloop bench ARGS --json -q`.
fn bench_output(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("bench")
        .args(args)
        .args(["--json", "-q"])
        .output()
        .expect("run netloop bench")
}

/// Run `netloop bench ARGS --json -q`, expect success, and return its one
/// JSON line.
fn bench(args: &[&str]) -> String {
    let out = bench_output(args);
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

/// The number after `"key": ` in a flat JSON object.
fn float(json: &str, key: &str) -> f64 {
    let pat = format!("\"{key}\": ");
    let at = json
        .find(&pat)
        .unwrap_or_else(|| panic!("no {key} in {json}"))
        + pat.len();
    let number: String = json[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | 'e' | '+'))
        .collect();
    number
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number in {json}"))
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
        "stream", "-p", &port, "-c", "2", "-s", "16384", "-d", "0.3", "-w", "0",
    ]);
    assert!(int(&stream, "bytes") > 0, "{stream}");
    assert_eq!(int(&stream, "errors"), 0, "{stream}");
    assert_eq!(int(&stream, "connections"), 2, "{stream}");
    assert_eq!(int(&stream, "size"), 16384, "{stream}");

    // Without -c/-s a stream is one connection of 64 KiB writes, not the
    // ping-pong defaults.
    let stream = bench(&["stream", "-p", &port, "-d", "300ms", "-w", "0"]);
    assert_eq!(int(&stream, "connections"), 1, "{stream}");
    assert_eq!(int(&stream, "size"), 65536, "{stream}");

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
fn server_cpu_counts_every_thread_and_the_acceptor_apart() {
    // Round robin: one process, and its acceptor thread's CPU reported as
    // a part of the server's.
    let (server, port) = echo_server_with(&["--threads", "2", "--policy", "round-robin"]);
    let pid = server.0.id().to_string();
    let port = port.to_string();
    let connect = bench(&[
        "connect",
        "-p",
        &port,
        "-c",
        "4",
        "-d",
        "0.5",
        "-w",
        "0",
        "--server-pid",
        &pid,
    ]);
    assert_eq!(int(&connect, "server_processes"), 1, "{connect}");
    assert!(
        connect.contains("\"server_acceptor\": \"thread netloop-acceptor\""),
        "{connect}"
    );
    assert_eq!(int(&connect, "server_workers"), 2, "{connect}");
    let share = float(&connect, "server_acceptor_share");
    assert!((0.0..=1.0).contains(&share), "{connect}");
    assert!(
        float(&connect, "server_acceptor_cpu_s") <= float(&connect, "server_cpu_s"),
        "{connect}"
    );
    drop(server);

    // Shared: no acceptor, so no acceptor fields.
    let (server, port) = echo_server_with(&["--threads", "2", "--policy", "shared"]);
    let pid = server.0.id().to_string();
    let pingpong = bench(&[
        "pingpong",
        "-p",
        &port.to_string(),
        "-c",
        "4",
        "-d",
        "0.3",
        "-w",
        "0",
        "--server-pid",
        &pid,
    ]);
    assert_eq!(int(&pingpong, "server_processes"), 1, "{pingpong}");
    assert!(!pingpong.contains("server_acceptor"), "{pingpong}");
}

/// Node's cluster (bench/peers/node_cluster_echo.js): a primary and its
/// workers, stopped with SIGTERM (the primary takes its workers along)
/// when the test ends.
struct NodeCluster(Child);

impl Drop for NodeCluster {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

#[test]
fn server_cpu_covers_a_node_clusters_primary_and_workers() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/peers/node_cluster_echo.js");
    let mut child = Command::new("node")
        .arg(script)
        .args(["0", "2", "rr"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn node (Node 20 on PATH)");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let cluster = NodeCluster(child);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with("listening on 127.0.0.1:"), "{line:?}");
    let port = line.trim().rsplit(':').next().unwrap().to_owned();
    let pid = cluster.0.id().to_string();
    let connect = bench(&[
        "connect",
        "-p",
        &port,
        "-c",
        "4",
        "-d",
        "0.5",
        "-w",
        "0",
        "--server-pid",
        &pid,
    ]);
    // The primary and two workers, the primary being the acceptor.
    assert_eq!(int(&connect, "server_processes"), 3, "{connect}");
    assert_eq!(int(&connect, "server_workers"), 2, "{connect}");
    let busiest = float(&connect, "server_busiest_worker_share");
    assert!((0.5..=1.0).contains(&busiest), "{connect}");
    assert!(
        connect.contains("\"server_acceptor\": \"primary process\""),
        "{connect}"
    );
    assert!(
        float(&connect, "server_acceptor_cpu_s") <= float(&connect, "server_cpu_s"),
        "{connect}"
    );
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
    let out = Command::new(BIN)
        .args(["bench", "stream", "--hdr-log", "/dev/null"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--hdr-log"));
    let out = Command::new(BIN)
        .args(["bench", "pingpong", "-d", "10parsecs"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown unit"));
}

#[test]
fn durations_take_units_and_json_says_what_made_it() {
    let (_server, port) = echo_server();
    let port = port.to_string();
    let json = bench(&["pingpong", "-p", &port, "-c", "2", "-d", "500ms", "-w", "0"]);
    // Measured for half a second, not 500 of them (the run would not
    // have ended); the upper bound only allows for a loaded machine.
    let measured = float(&json, "duration_s");
    assert!((0.5..30.0).contains(&measured), "{json}");
    assert_eq!(int(&json, "format_version"), 1, "{json}");
    // "timestamp": "2026-12-01T02:43:37.123Z"
    let ts_at = json.find("\"timestamp\": \"").expect("a timestamp") + 14;
    let ts = &json[ts_at..ts_at + 24];
    assert!(
        ts.len() == 24 && &ts[4..5] == "-" && &ts[10..11] == "T" && ts.ends_with('Z'),
        "{json}"
    );
    assert!(
        json.contains(&format!(
            "\"command\": [\"{BIN}\", \"bench\", \"pingpong\", \"-p\", \"{port}\", \"-c\", \"2\", \"-d\", \"500ms\""
        )),
        "{json}"
    );
}

#[test]
fn the_table_is_the_default_output() {
    let (_server, port) = echo_server();
    let out = Command::new(BIN)
        .args(["bench", "pingpong", "-p", &port.to_string()])
        .args(["-c", "2", "-d", "200ms", "-w", "0", "-q"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(&format!("pingpong: 127.0.0.1:{port}\n")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("  throughput") && l.ends_with(" req/s")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("  latency p99") && l.ends_with(" µs")),
        "{text}"
    );
}

#[test]
fn a_host_name_is_looked_up_once_before_the_run() {
    // Only where `localhost` is 127.0.0.1 alone: the lookup probes every
    // address it gets, and these tests talk to 127.0.0.1 only.
    use std::net::ToSocketAddrs;
    let Ok(addrs) = ("localhost", 1).to_socket_addrs() else {
        return;
    };
    if !addrs
        .into_iter()
        .all(|a| a.ip() == std::net::Ipv4Addr::LOCALHOST)
    {
        eprintln!("skipped: localhost is not only 127.0.0.1 here");
        return;
    }
    let (_server, port) = echo_server();
    let json = bench(&[
        "pingpong",
        "--host",
        "localhost",
        "-p",
        &port.to_string(),
        "-c",
        "2",
        "-d",
        "200ms",
        "-w",
        "0",
    ]);
    assert!(json.contains("\"host\": \"localhost\""), "{json}");
    assert!(
        json.contains(&format!("\"server\": \"127.0.0.1:{port}\"")),
        "{json}"
    );
    assert!(int(&json, "requests") > 0, "{json}");
}

#[test]
fn a_refused_port_fails_and_names_the_address() {
    let refused = refused_port();
    let port = refused.port();
    for mode in ["pingpong", "stream", "connect", "idle"] {
        let out = bench_output(&[
            mode,
            "-p",
            &port.to_string(),
            "-c",
            "2",
            "-d",
            "1s",
            "-w",
            "0",
        ]);
        assert!(!out.status.success(), "{mode} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("connect 127.0.0.1:{port}: Connection refused")),
            "{mode}: {stderr}"
        );
    }
}

#[test]
fn the_server_dying_mid_run_fails_and_rates_stop_where_it_died() {
    let (mut server, port) = echo_server();
    // Without -q the progress lines come on stderr; the first one while
    // measuring says the window is open.
    let mut bench = Command::new(BIN)
        .args(["bench", "pingpong", "-p", &port.to_string()])
        .args(["-c", "2", "-d", "60s", "-w", "0", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(bench.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("req/s") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "no progress line");
    }
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let out = bench.wait_with_output().unwrap();
    assert!(!out.status.success());
    let json = String::from_utf8(out.stdout).unwrap();
    assert!(
        rest.contains(&format!("127.0.0.1:{port} went away"))
            && rest.contains("2 of 2 connections lost")
            && rest.contains("the rates are over those"),
        "{rest}"
    );
    // The run stopped when the server died, and its time is the rates'.
    let gone = float(&json, "server_gone_s");
    assert!(gone < 60.0, "{json}");
    assert_eq!(float(&json, "duration_s"), gone, "{json}");
    assert_eq!(int(&json, "errors"), 2, "{json}");
}

#[test]
fn hdr_log_writes_an_interval_log_hdrhistogram_reads() {
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::serialization::Deserializer;

    let (_server, port) = echo_server();
    let path = std::env::temp_dir().join(format!("netloop-bench-{}.hlog", std::process::id()));
    let json = bench(&[
        "pingpong",
        "-p",
        &port.to_string(),
        "-c",
        "2",
        "-d",
        "300ms",
        "-w",
        "0",
        "--label",
        "netloop",
        "--hdr-log",
        path.to_str().unwrap(),
    ]);
    let log = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let mut intervals = Vec::new();
    for entry in IntervalLogIterator::new(&log) {
        if let LogEntry::Interval(i) = entry.expect("a well-formed interval log") {
            intervals.push((
                i.tag().map(|t| t.as_str().to_owned()),
                i.encoded_histogram().to_owned(),
            ));
        }
    }
    assert_eq!(intervals.len(), 1, "{}", String::from_utf8_lossy(&log));
    let (tag, encoded) = &intervals[0];
    assert_eq!(tag.as_deref(), Some("netloop"));
    let bytes = base64_decode(encoded);
    let hist: hdrhistogram::Histogram<u64> =
        Deserializer::new().deserialize(&mut &bytes[..]).unwrap();
    // The window's latencies (the count need not equal "requests": a poll
    // batch straddling the window's edge counts in one and not the other).
    assert!(!hist.is_empty() && int(&json, "requests") > 0, "{json}");
    assert!(json.contains("\"hdr_log\": "), "{json}");
}

/// Standard base64 (the log's histogram encoding), decoded here rather
/// than adding a crate for one test.
fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base64") as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bench-results")
}

/// `netloop bench report` of the fixture results directory `name`: the
/// Markdown it printed (it must succeed).
fn report_of(name: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let out = Command::new(BIN)
        .args(["bench", "report"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn report_turns_a_results_directory_into_benchmarks_md() {
    let md = report_of("bench-results");
    let lines: Vec<&str> = md.lines().collect();
    for expected in [
        "# netloop benchmarks",
        "- rustc 1.95.0 (59807616e 2026-04-14); Node v20.20.2; Bun none",
        "- The server under test is pinned to CPU 0 and the load generator (`netloop bench`, mio, one thread) to CPU 1; a fresh server process serves each run.",
        "- Run took 123 s. Other work on the machine was not stopped: treat differences under ~5% as noise.",
        // The command, with the servers and scenarios the run selected.
        "ROUNDS=2 DURATION=4 WARMUP=1 CONNS=50 SIZE=64 PIPELINE=1 RATE=20000 STREAM_CONNS=1 STREAM_SIZE=65536 CONNECT_CONNS=50 CONNECT_SOURCES=4 IDLE_CONNS=15000 TIMER_COUNT=1000000 \\",
        "  SERVERS='netloop mio tokio node bun-net' \\",
        "  SCENARIOS='pingpong connect idle timers' \\",
        "  bench/compare.sh --update",
        "## Ping-pong: 50 connections, 64-byte messages, pipeline 1, one loop (closed loop)",
        // Medians over two rounds (the third file is cut short and left
        // out), ratios to Node and tokio.
        "| netloop (`netloop echo`) | 2 | 183,471 | 1.60× | 1.02× | 385 | 0.42× | 0.84× | 5.37 | 0.62× | 1.01× |",
        "| Bun `node:net` (`node_echo.js`) | unavailable | – | – | – | – | – | – | – | – | – |",
        "| netloop (`netloop echo`) | 260 | 294 | 385 | 1,211 | 12,600 | 98.5% |",
        "| netloop (`netloop echo`) | 1 | 15,000 |  |  | 0.445 | – | – | 0.445 | – | – | 19.3 | – | – |",
        "| netloop | 181 | 0.26× | 121 | 0.24× | 208 | 0.30× | 14.3 | 0.12× | 4.79 | 0.07× |",
        "| ping-pong: server CPU/req ≤ tokio | **not met** (by 0.9%, inside run-to-run noise) | 5.37 vs 5.32 µs (1.01×) |",
        "| stream: server CPU/MB ≤ tokio | not measured | – vs – µs/MB (–) |",
        "| connect: ≥ 2.5× Node | **not met** | 23,822 vs 13,394 conns/s (1.78×); the mio floor reaches – with the same generator; server CPU per connection 36.0 vs 73.9 µs (2.05× less) |",
        "| idle: one loop holds 100,000 connections | **not runnable here** | 15,000 held here (RLIMIT_NOFILE 20000); see the notes |",
        // bench/analysis.md follows the targets.
        "## How the figures are made",
    ] {
        assert!(lines.contains(&expected), "missing {expected:?} in\n{md}");
    }
    // No results, no section (bench/analysis.md has "### Stream" notes).
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("## Stream") || l.starts_with("## Open loop")),
        "{md}"
    );

    // -o writes the same text to a file.
    let path = std::env::temp_dir().join(format!("netloop-report-{}.md", std::process::id()));
    let status = Command::new(BIN)
        .args(["bench", "report"])
        .arg(fixture())
        .arg("-o")
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    let written = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(written, md);
}

#[test]
fn report_of_a_directory_without_settings_says_which_file() {
    let out = Command::new(BIN)
        .args(["bench", "report", "/nonexistent-results"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/nonexistent-results/settings.txt"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn report_has_the_cluster_rows_ratios_and_targets() {
    // A cluster-only run (tests/fixtures/bench-results-cluster): one
    // round of each server; ratios to Node's cluster with round-robin,
    // the acceptor's share, what bounded each row, and issue 11's targets.
    let md = report_of("bench-results-cluster");
    let lines: Vec<&str> = md.lines().collect();
    for expected in [
        "- Not pinned (the cluster rows): the servers and the load generator (`netloop bench`, mio, one thread) shared the CPUs; a fresh server process serves each run.",
        "- Load average (1, 5, 15 min): 1.50 1.20 0.90 at the start, 2.00 1.50 1.00 at the end.",
        "  CLUSTER_SERVERS='node netloop-t1 netloop-t2-rr netloop-t2-shared node-cluster-rr node-cluster-shared' \\",
        "## Scale-out (cluster)",
        "### Ping-pong, closed loop",
        "| netloop, 1 thread (`echo --threads 1`) | 1 | 110,000 | 1.22× | 1.83× | 5.00 | 0.50× | – | – | 55.0% | 90.0% | 0.60 | generator |",
        "| Node `cluster`, 2 workers, SCHED_NONE (`node_cluster_echo.js`) | 1 | 100,000 | 1.11× | 1.67× | 12.0 | 1.20× | 0.500% | – | 120% | 70.0% | 0.00 | CPUs |",
        "### Connect + echo + close",
        "| Node `net`, one process (`node_echo.js`) | 1 | 9,000 | 1.13× | 1.00× | 105 | 0.70× | – | – | 94.5% | 20.0% | – | server |",
        "| netloop, 2 threads, round-robin (`--policy round-robin`) | 1 | 20,000 | 2.50× | 2.22× | 40.0 | 0.27× | 25.0% | 52.0% | 80.0% | 100% | – | generator |",
        "| Node `cluster`, 2 workers, SCHED_RR (`node_cluster_echo.js`) | 1 | 8,000 | 1.00× | 0.89× | 150 | 1.00× | 30.0% | 55.0% | 120% | 25.0% | – | – |",
        // Other work on the machine (1.95 CPUs busy, 0.77 + 0.875 of them
        // the server's and the generator's) fills the CPUs.
        "| netloop, 2 threads, shared (`--policy shared`) | 1 | 22,000 | 2.75× | 2.44× | 35.0 | 0.23× | – | – | 77.0% | 87.5% | 0.30 | CPUs |",
        "| netloop: 2 threads round-robin ÷ 1 thread | 1.09× | 0.95× |",
        "| Node: cluster SCHED_NONE ÷ one process | 1.67× | 1.11× |",
        "| cluster: server CPU per request, netloop 2 threads round-robin ≤ 0.6× Node cluster round-robin | met | 6.00 vs 10.0 µs (0.60×) |",
        "| cluster: server CPU per connection, netloop 2 threads round-robin ≤ 0.4× Node cluster round-robin | met | 40.0 vs 150 µs (0.27×) |",
        // Other work took 0.60 CPUs during the 1-thread ping-pong run and
        // none during the 2-thread one: not the same conditions.
        "| cluster: netloop 2 threads, round-robin: throughput ≥ its 1-thread figure | **not met**, but inconclusive: other work differed | 120,000 vs 110,000 req/s (1.09×, other work 0.00 vs 0.60 CPUs); 20,000 vs 21,000 conns/s (0.95×) |",
        "| cluster: netloop 2 threads, shared: throughput ≥ its 1-thread figure | met | 125,000 vs 110,000 req/s (1.14×); 22,000 vs 21,000 conns/s (1.05×) |",
        "| cluster: the acceptor's own share of server CPU reported | met | connect, round-robin: netloop's acceptor thread 25.0%, Node's primary 30.0% of the server's CPU |",
    ] {
        assert!(lines.contains(&expected), "missing {expected:?} in:\n{md}");
    }
    // The cluster rows are not pinned, whatever the plain rows were.
    assert!(md.contains("**Nothing is pinned**"), "{md}");
}

#[test]
fn report_has_the_tls_rows_and_targets_with_netloops_row_pending() {
    // A TLS-only run of Node and Bun (tests/fixtures/bench-results-tls),
    // made before `netloop echo --tls-cert` existed: netloop's rows say
    // so, Node's resumed handshakes are priced with the full handshakes
    // of the run taken out ((2 s - 2000 × 400 µs) / 4000 = 300 µs).
    let md = report_of("bench-results-tls");
    let lines: Vec<&str> = md.lines().collect();
    for expected in [
        "ROUNDS=1 DURATION=4 WARMUP=1 CONNS=50 SIZE=64 PIPELINE=1 RATE=20000 STREAM_CONNS=1 STREAM_SIZE=65536 CONNECT_CONNS=50 CONNECT_SOURCES=4 IDLE_CONNS=15000 TIMER_COUNT=1000000 TLS_CONNS=50 TLS_IDLE_CONNS=2000 \\",
        "## TLS",
        "### Full handshakes, ECDSA P-256 certificate",
        "| netloop (`netloop echo --tls-cert`) | not built yet | – | – | – | – | – | – |",
        "| Node `tls` (`node_tls_echo.js`) | 1 | 1,500 | 1.00× | 400 | 1.00× | 60.0% | 99.0% |",
        "| Bun `node:tls` (`node_tls_echo.js`) | 1 | 2,000 | 1.33× | 300 | 0.75× | 60.0% | 100% |",
        "| Node `tls` (`node_tls_echo.js`) | 1 | 1,500 | 1.00× | 66.7 | 333 | 1.00× | 300 | 1.00× |",
        "| Node `tls` (`node_tls_echo.js`) | 1 | 500 | 1.00× | 2,000 | 1.00× | – |",
        "| Node `tls` (`node_tls_echo.js`) | 1 | 2,000 | 34.0 | 1.00× | 33.5 | 1.00× | – |",
        "| TLS: server CPU per full ECDSA P-256 handshake ≤ 0.6× Node | not measured | netloop's TLS server is not built yet; Node: 400 µs |",
        "| TLS: server CPU per resumed handshake ≤ 0.5× Node | not measured | netloop's TLS server is not built yet; Node: 300 µs |",
        "| TLS: memory per idle TLS connection ≤ 0.25× Node | not measured | netloop's TLS server is not built yet; Node: 34.0 KiB/conn |",
    ] {
        assert!(lines.contains(&expected), "missing {expected:?} in:\n{md}");
    }
    assert!(
        md.contains("Negotiated: TLSv1.3, X25519, TLS_AES_256_GCM_SHA384."),
        "{md}"
    );
    // No RSA run in the fixture: no RSA table, no RSA target.
    assert!(!md.contains("### Full handshakes, RSA-2048"), "{md}");
    assert!(!md.contains("| TLS: server CPU per full RSA-2048"), "{md}");
}
