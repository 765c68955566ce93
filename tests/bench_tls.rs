//! `netloop bench --tls`: every TLS mode against a real Node `tls` echo
//! server (bench/peers/node_tls_echo.js) with a certificate from `netloop
//! tls-cert`, on 127.0.0.1:0. The generator completes requests, bytes,
//! handshakes (full, and resumed with --tls-resume) and idle connections
//! without errors and reports what was negotiated; a certificate it does
//! not trust, or TLS options that make no sense, fail with a clear
//! message. Counts only: nothing here asserts a speed.
//!
//! These tests only spawn processes (node, the CLI), as tests/util's rule
//! for the root package's tests asks.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_netloop");

/// A folder with a certificate and key, removed when the test ends.
struct Certs(PathBuf);

impl Certs {
    fn new(tag: &str, algorithm: &str) -> Certs {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!(
            "netloop-bench-tls-{}-{tag}-{n}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        let out = Command::new(BIN)
            .args(["tls-cert", "--algorithm", algorithm, "--out-dir"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Certs(dir)
    }

    fn cert(&self) -> String {
        self.0.join("cert.pem").display().to_string()
    }

    fn key(&self) -> String {
        self.0.join("key.pem").display().to_string()
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Kills the server when the test ends, pass or fail.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Node's TLS echo peer on 127.0.0.1:0 with these certificates.
fn node_tls_server(certs: &Certs) -> (Guard, u16) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/peers/node_tls_echo.js");
    let mut child = Command::new("node")
        .arg(script)
        .args(["0", &certs.cert(), &certs.key()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn node (Node 20 on PATH)");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with("listening on 127.0.0.1:"), "{line:?}");
    let port = line.trim().rsplit(':').next().unwrap().parse().unwrap();
    (Guard(child), port)
}

fn bench_output(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("bench")
        .args(args)
        .args(["--json", "-q"])
        .output()
        .expect("run netloop bench")
}

/// Run `netloop bench ARGS --json -q`, expect success, return its JSON.
fn bench(args: &[&str]) -> String {
    let out = bench_output(args);
    assert!(
        out.status.success(),
        "netloop bench {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one JSON object: {stdout:?}");
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

/// What every TLS report says about the session: TLS 1.3, X25519, and
/// Node's default suite.
fn assert_negotiated(json: &str) {
    for field in [
        "\"tls\": \"TLSv1_3\"",
        "\"tls_cipher\": \"TLS13_AES_256_GCM_SHA384\"",
        "\"tls_group\": \"X25519\"",
    ] {
        assert!(json.contains(field), "{field} in {json}");
    }
}

#[test]
fn pingpong_and_stream_over_tls() {
    let certs = Certs::new("pp", "ecdsa-p256");
    let (server, port) = node_tls_server(&certs);
    let pid = server.0.id().to_string();
    let port = port.to_string();
    let ca = certs.cert();
    let pp = bench(&[
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
        "--tls",
        "--ca",
        &ca,
    ]);
    assert!(int(&pp, "requests") > 0, "{pp}");
    assert_eq!(int(&pp, "errors"), 0, "{pp}");
    assert_negotiated(&pp);
    assert!(pp.contains("\"tls_verify\": \"ca\""), "{pp}");

    let stream = bench(&[
        "stream", "-p", &port, "-c", "2", "-d", "0.3", "-w", "0", "--tls", "--ca", &ca,
    ]);
    assert!(int(&stream, "bytes") > 0, "{stream}");
    assert_eq!(int(&stream, "errors"), 0, "{stream}");
    assert_negotiated(&stream);

    // The open loop, by name rather than address (the certificate names
    // localhost), and a single cipher suite asked for.
    let open = bench(&[
        "pingpong",
        "--host",
        "localhost",
        "-p",
        &port,
        "-c",
        "2",
        "-d",
        "0.3",
        "-w",
        "0",
        "--rate",
        "500",
        "--tls",
        "--ca",
        &ca,
        "--tls-cipher",
        "aes-128-gcm",
    ]);
    assert!(int(&open, "requests") > 0, "{open}");
    assert!(
        open.contains("\"tls_cipher\": \"TLS13_AES_128_GCM_SHA256\""),
        "{open}"
    );
}

#[test]
fn full_and_resumed_handshakes_with_an_rsa_certificate() {
    let certs = Certs::new("hs", "rsa-2048");
    let (server, port) = node_tls_server(&certs);
    let pid = server.0.id().to_string();
    let port = port.to_string();
    let ca = certs.cert();
    let full = bench(&[
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
        "--tls",
        "--ca",
        &ca,
    ]);
    assert!(int(&full, "connects") > 0, "{full}");
    assert_eq!(int(&full, "errors"), 0, "{full}");
    assert!(int(&full, "handshakes_full") > 0, "{full}");
    assert_eq!(int(&full, "handshakes_resumed"), 0, "{full}");
    assert_eq!(int(&full, "tls_resume"), 0, "{full}");
    assert_negotiated(&full);

    // Node sends two tickets per full handshake and none after a resumed
    // one, so resumed handshakes happen, and full ones still do.
    let resumed = bench(&[
        "connect",
        "-p",
        &port,
        "-c",
        "4",
        "-d",
        "0.5",
        "-w",
        "0.2",
        "--tls",
        "--ca",
        &ca,
        "--tls-resume",
    ]);
    assert_eq!(int(&resumed, "errors"), 0, "{resumed}");
    assert!(int(&resumed, "handshakes_resumed") > 0, "{resumed}");
    assert_eq!(int(&resumed, "tls_resume"), 1, "{resumed}");

    // --insecure: no --ca, and still every handshake completes.
    let insecure = bench(&[
        "connect",
        "-p",
        &port,
        "-c",
        "2",
        "-d",
        "0.3",
        "-w",
        "0",
        "--tls",
        "--insecure",
    ]);
    assert_eq!(int(&insecure, "errors"), 0, "{insecure}");
    assert!(
        insecure.contains("\"tls_verify\": \"insecure\""),
        "{insecure}"
    );
}

#[test]
fn idle_tls_connections_are_held_and_measured() {
    let certs = Certs::new("idle", "ecdsa-p256");
    let (server, port) = node_tls_server(&certs);
    let pid = server.0.id().to_string();
    let idle = bench(&[
        "idle",
        "-p",
        &port.to_string(),
        "-c",
        "50",
        "--server-pid",
        &pid,
        "--tls",
        "--ca",
        &certs.cert(),
    ]);
    assert_eq!(int(&idle, "established"), 50, "{idle}");
    assert_eq!(int(&idle, "errors"), 0, "{idle}");
    assert!(idle.contains("\"idle_kib_per_conn\": "), "{idle}");
    assert_negotiated(&idle);
}

#[test]
fn an_untrusted_certificate_fails_the_run_and_says_why() {
    let served = Certs::new("served", "ecdsa-p256");
    let other = Certs::new("other", "ecdsa-p256");
    let (_server, port) = node_tls_server(&served);
    let out = bench_output(&[
        "pingpong",
        "-p",
        &port.to_string(),
        "-c",
        "1",
        "-d",
        "0.2",
        "-w",
        "0",
        "--tls",
        "--ca",
        &other.cert(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "handshake 127.0.0.1:{port}: TLS: invalid peer certificate"
        )),
        "{stderr}"
    );

    // A name the certificate does not carry. (Connect mode counts failed
    // cycles and goes on; the window is long enough for the first to end.)
    let out = bench_output(&[
        "connect",
        "-p",
        &port.to_string(),
        "-c",
        "1",
        "-d",
        "1",
        "-w",
        "0",
        "--tls",
        "--ca",
        &served.cert(),
        "--servername",
        "example.test",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid peer certificate"), "{stderr}");
}

#[test]
fn tls_options_are_checked_before_connecting() {
    // A refused port: none of these gets as far as connecting.
    let fails = |args: &[&str], expected: &str| {
        let out = bench_output(args);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    };
    fails(&["pingpong", "-p", "1", "--tls"], "--tls needs --ca FILE");
    fails(&["pingpong", "-p", "1", "--ca", "cert.pem"], "--tls");
    fails(
        &["pingpong", "-p", "1", "--tls", "--tls-resume", "--insecure"],
        "--tls-resume applies to connect mode",
    );
    fails(
        &["slowread", "-p", "1", "--tls", "--insecure"],
        "--tls applies to pingpong, stream, connect and idle modes",
    );
    fails(
        &[
            "connect",
            "-p",
            "1",
            "--tls",
            "--ca",
            "/nonexistent/cert.pem",
        ],
        "--ca /nonexistent/cert.pem: ",
    );
}
