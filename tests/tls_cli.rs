//! The command line over TLS: `netloop server|echo --tls-cert --tls-key`
//! (with `--threads`, `--proxy-protocol` and the graceful shutdown),
//! `netloop client --tls [--ca] [--servername]` and `netloop nc --ssl`,
//! against Node 20's `tls`, `openssl s_client` / `s_server` and each
//! other. Certificates are made at test time (rcgen, the library tests'
//! `util/certs.rs`) and written to a temporary directory.
//!
//! Only processes run here (no netloop loop in this process), so the
//! tests may run in parallel. Every step waits for something a process
//! prints or for its exit, never for time; timeouts are failure guards.

#[path = "../crates/netloop/tests/util/certs.rs"]
mod certs;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_netloop");
/// How long anything may take before the test fails.
const GUARD: Duration = Duration::from_secs(30);

/// The directory with the PEM files (`ca.pem`, `localhost.pem`,
/// `localhost.key`, `selfca.pem`, ...; see `certs.rs`).
fn certs() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("netloop-tls-cli-{}", std::process::id()));
        certs::Certs::new().write_to(&dir)
    })
}

fn pem(name: &str) -> String {
    certs().join(name).display().to_string()
}

/// Lines read from `r` on a thread, so a silent child cannot hang a test.
fn lines(r: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// A running process: its stdin, its stdout and stderr lines, and a kill
/// when the test ends, pass or fail.
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
}

impl Proc {
    fn spawn(program: &str, args: &[&str]) -> Proc {
        Proc::spawn_with(Command::new(program).args(args))
    }

    /// Spawn `cmd` with `CERTS` (the PEM directory) in its environment.
    fn spawn_with(cmd: &mut Command) -> Proc {
        let mut child = cmd
            .env("CERTS", certs())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        Proc {
            stdout: lines(child.stdout.take().expect("piped")),
            stderr: lines(child.stderr.take().expect("piped")),
            stdin: child.stdin.take(),
            child,
        }
    }

    /// A server subcommand on port 0: waits for its first line (`prefix`
    /// and the address) and returns the process and the port.
    fn server(args: &[&str], prefix: &str) -> (Proc, u16) {
        let p = Proc::spawn(BIN, args);
        let line = p.stdout_line();
        assert!(line.starts_with(prefix), "unexpected first line: {line:?}");
        let port = line.rsplit(':').next().unwrap().parse().unwrap();
        (p, port)
    }

    fn stdout_line(&self) -> String {
        self.stdout.recv_timeout(GUARD).expect("a line on stdout")
    }

    fn stderr_line(&self) -> String {
        self.stderr.recv_timeout(GUARD).expect("a line on stderr")
    }

    fn send(&mut self, data: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(data).unwrap();
        stdin.flush().unwrap();
    }

    fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// Send a signal with kill(1), as a service manager would.
    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .expect("run kill(1)");
        assert!(status.success(), "kill -s {name}: {status}");
    }

    /// The exit status; fails the test if it does not come in time.
    fn exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + GUARD;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the process did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Everything it printed on stdout, once it exited.
    fn rest_of_stdout(&self) -> Vec<String> {
        self.stdout.iter().collect()
    }

    fn rest_of_stderr(&self) -> String {
        self.stderr.iter().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run a `node -e` script to its end with `CERTS` and `PORT` set; its
/// stdout lines (it must succeed).
fn node_on(script: &str, port: u16) -> Vec<String> {
    let mut p = Proc::spawn_with(
        Command::new("node")
            .args(["-e", script])
            .env("PORT", port.to_string()),
    );
    let status = p.exit();
    let out = p.rest_of_stdout();
    assert!(
        status.success(),
        "node failed: {status}: {out:?} {}",
        p.rest_of_stderr()
    );
    out
}

/// Run the CLI to its end.
fn netloop(args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn netloop");
    let deadline = Instant::now() + GUARD;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("netloop {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The seed's client over Node's `tls`: connect, say the line, print the
/// answer, destroy, print `Connection closed`.
const NODE_SEED_CLIENT: &str = r#"
const tls = require('tls'), fs = require('fs');
setTimeout(() => { console.log('node timed out'); process.exit(2); }, 20000).unref();
const client = tls.connect({ port: +process.env.PORT, host: '127.0.0.1', servername: 'localhost',
  ca: fs.readFileSync(process.env.CERTS + '/ca.pem') }, () => {
  console.log('CONNECTED TO: 127.0.0.1:' + process.env.PORT + ' ' + client.authorized + ' ' + client.getProtocol());
  client.write('I am Chuck Norris!');
});
client.on('data', d => { console.log('DATA: ' + d); client.destroy(); });
client.on('close', () => console.log('Connection closed'));
"#;

/// `netloop server --tls-cert --tls-key`: the seed's dialogue, byte for
/// byte, with Node's `tls` client and with `netloop client --tls --ca`;
/// the server's lines are those of the plain server, `CONNECTED:` once
/// the handshake is done.
#[test]
fn server_tls_seed_dialogue_with_node_and_netloop_clients() {
    let (server, port) = Proc::server(
        &[
            "server",
            "--port",
            "0",
            "--tls-cert",
            &pem("localhost.pem"),
            "--tls-key",
            &pem("localhost.key"),
        ],
        "Server listening on 127.0.0.1:",
    );
    assert_eq!(
        node_on(NODE_SEED_CLIENT, port),
        [
            format!("CONNECTED TO: 127.0.0.1:{port} true TLSv1.3"),
            "DATA: You said \"I am Chuck Norris!\"".to_owned(),
            "Connection closed".to_owned(),
        ]
    );
    let out = netloop(&[
        "client",
        "--port",
        &port.to_string(),
        "--tls",
        "--ca",
        &pem("ca.pem"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!(
            "CONNECTED TO: 127.0.0.1:{port}\nDATA: You said \"I am Chuck Norris!\"\nConnection closed\n"
        )
    );
    for _ in 0..2 {
        let connected = server.stdout_line();
        let client_port = connected
            .strip_prefix("CONNECTED: 127.0.0.1:")
            .unwrap_or_else(|| panic!("{connected:?}"))
            .to_owned();
        assert_eq!(server.stdout_line(), "DATA 127.0.0.1: I am Chuck Norris!");
        assert_eq!(
            server.stdout_line(),
            format!("CLOSED: 127.0.0.1 {client_port}")
        );
    }
}

/// Node's `tls` client: 1 MiB echoed byte-exact on each of two
/// connections, the second resuming the first one's session.
const NODE_ECHO_CLIENT: &str = r#"
const tls = require('tls'), fs = require('fs');
setTimeout(() => { console.log('node timed out'); process.exit(2); }, 25000).unref();
const big = Buffer.alloc(1 << 20); for (let i = 0; i < big.length; i++) big[i] = (i * 7) % 251;
const once = session => new Promise(res => {
  const c = tls.connect({ port: +process.env.PORT, host: '127.0.0.1', servername: 'localhost',
    ca: fs.readFileSync(process.env.CERTS + '/ca.pem'), session });
  const got = []; let ticket, reused;
  c.on('session', s => { ticket = s; });
  c.on('secureConnect', () => { reused = c.isSessionReused(); c.end(big); });
  c.on('data', d => got.push(d));
  c.on('close', () => {
    const all = Buffer.concat(got);
    console.log('echo ' + all.length + ' ' + all.equals(big) + ' reused ' + reused);
    res(ticket);
  });
});
(async () => { const ticket = await once(); await once(ticket); })();
"#;

/// `netloop echo --tls-cert --tls-key --threads 2` under both policies:
/// 1 MiB echoed byte-exact, and a session one worker issued resumes on
/// the next connection (with round robin, the other worker): the workers
/// share one TLS config and its ticket keys. SIGTERM then ends it with
/// exit 0.
#[test]
fn echo_tls_threads_echo_one_mebibyte_and_resume_on_any_worker() {
    for policy in ["round-robin", "shared"] {
        let (mut echo, port) = Proc::server(
            &[
                "echo",
                "--port",
                "0",
                "--tls-cert",
                &pem("localhost.pem"),
                "--tls-key",
                &pem("localhost.key"),
                "--threads",
                "2",
                "--policy",
                policy,
            ],
            "echo listening on 127.0.0.1:",
        );
        assert_eq!(
            node_on(NODE_ECHO_CLIENT, port),
            [
                "echo 1048576 true reused false",
                "echo 1048576 true reused true"
            ],
            "{policy}"
        );
        echo.signal("TERM");
        assert!(echo.exit().success(), "{policy}: {}", echo.rest_of_stderr());
    }
}

/// A client behind a load balancer: Node sends a PROXY v1 header on a
/// plain connection, then starts TLS on it (HAProxy's `send-proxy` in
/// front of a TLS backend does the same), and the echo server reports
/// the client the header names and echoes the bytes; one loop and two.
#[test]
fn echo_tls_behind_proxy_protocol_shows_the_headers_client() {
    const CLIENT: &str = r#"
const net = require('net'), tls = require('tls'), fs = require('fs');
setTimeout(() => { console.log('node timed out'); process.exit(2); }, 20000).unref();
const raw = net.connect(+process.env.PORT, '127.0.0.1', () => {
  raw.write('PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\n');
  const c = tls.connect({ socket: raw, servername: 'localhost', ca: fs.readFileSync(process.env.CERTS + '/ca.pem') }, () => {
    c.end('hello through the proxy');
  });
  let got = '';
  c.on('data', d => { got += d; });
  c.on('close', () => console.log('echo: ' + got));
});
"#;
    for threads in ["1", "2"] {
        let (mut echo, port) = Proc::server(
            &[
                "echo",
                "--verbose",
                "--port",
                "0",
                "--tls-cert",
                &pem("localhost.pem"),
                "--tls-key",
                &pem("localhost.key"),
                "--proxy-protocol",
                "required",
                "--threads",
                threads,
            ],
            "echo listening on 127.0.0.1:",
        );
        assert_eq!(
            node_on(CLIENT, port),
            ["echo: hello through the proxy"],
            "--threads {threads}"
        );
        assert_eq!(
            echo.stdout_line(),
            "CONNECTED: 203.0.113.7:40000",
            "--threads {threads}"
        );
        echo.signal("TERM");
        assert!(echo.exit().success());
    }
}

/// `netloop client --tls` verifies by default (Node's
/// `rejectUnauthorized: true`): a self-signed server without `--ca` and a
/// wrong `--servername` fail with exit 1 and Node's code and words; the
/// server's own certificate as `--ca` is trusted. Both kinds of
/// self-signed certificate: rcgen's, and one marked as a CA, as `openssl
/// req -x509` makes them.
#[test]
fn client_tls_verification_failures_exit_1_in_nodes_words() {
    for name in ["self", "selfca"] {
        let (_server, port) = Proc::server(
            &[
                "server",
                "--port",
                "0",
                "--tls-cert",
                &pem(&format!("{name}.pem")),
                "--tls-key",
                &pem(&format!("{name}.key")),
            ],
            "Server listening on 127.0.0.1:",
        );
        let port = port.to_string();
        let out = netloop(&["client", "--port", &port, "--tls"]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert_eq!(
            text(&out.stderr),
            "Error [DEPTH_ZERO_SELF_SIGNED_CERT]: self-signed certificate\n"
        );
        assert_eq!(text(&out.stdout), "Connection closed\n");

        let ca = pem(&format!("{name}.pem"));
        let out = netloop(&[
            "client",
            "--port",
            &port,
            "--tls",
            "--ca",
            &ca,
            "--servername",
            "wrong.example",
        ]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert_eq!(
            text(&out.stderr),
            "Error [ERR_TLS_CERT_ALTNAME_INVALID]: Hostname/IP does not match certificate's \
             altnames: Host: wrong.example. is not in the cert's altnames: DNS:localhost, \
             IP Address:127.0.0.1\n"
        );

        let out = netloop(&[
            "client",
            "--port",
            &port,
            "--tls",
            "--ca",
            &ca,
            "--servername",
            "localhost",
        ]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains("DATA: You said \"I am Chuck Norris!\""),
            "{name}"
        );
    }
    // A file that is not there: Node's fs words, exit 1.
    let out = netloop(&["client", "--tls", "--ca", "/nonexistent/ca.pem"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "--ca: ENOENT: no such file or directory, open '/nonexistent/ca.pem'\n"
    );
}

/// A client that does not speak TLS (the plain `netloop client`) is one
/// `tlsClientError` line on the server's stderr, with Node's words and
/// code, and the server goes on serving; a server with a key that does
/// not match its certificate exits 1 before listening.
#[test]
fn server_tls_reports_failed_handshakes_and_keeps_serving() {
    let (server, port) = Proc::server(
        &[
            "server",
            "--port",
            "0",
            "--tls-cert",
            &pem("localhost.pem"),
            "--tls-key",
            &pem("localhost.key"),
        ],
        "Server listening on 127.0.0.1:",
    );
    let port = port.to_string();
    let out = netloop(&["client", "--port", &port]);
    assert!(out.status.success());
    let line = server.stderr_line();
    assert!(
        line.starts_with("tlsClientError 127.0.0.1:")
            && line.ends_with(": wrong version number (ERR_SSL_WRONG_VERSION_NUMBER)"),
        "{line}"
    );
    let out = netloop(&["client", "--port", &port, "--tls", "--ca", &pem("ca.pem")]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = netloop(&[
        "server",
        "--port",
        "0",
        "--tls-cert",
        &pem("localhost.pem"),
        "--tls-key",
        &pem("sni.key"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("--tls-cert/--tls-key: "),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "");
}

/// `--tls-request-cert --tls-ca`: a client certificate from that CA is
/// served, a client without one is refused (Node's
/// `ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE` on the server's stderr).
#[test]
fn server_tls_request_cert_refuses_clients_without_one() {
    const CLIENT: &str = r#"
const tls = require('tls'), fs = require('fs');
const r = f => fs.readFileSync(process.env.CERTS + '/' + f);
setTimeout(() => { console.log('node timed out'); process.exit(2); }, 20000).unref();
const trial = (name, opts) => new Promise(res => {
  const c = tls.connect(Object.assign({ port: +process.env.PORT, host: '127.0.0.1', servername: 'localhost', ca: r('ca.pem') }, opts));
  const seen = [];
  c.on('secureConnect', () => c.write('I am Chuck Norris!'));
  c.on('data', d => { seen.push('data ' + d); c.end(); });
  c.on('error', e => seen.push('error ' + e.code));
  c.on('close', () => { console.log(name + ': ' + seen.join(', ')); res(); });
});
(async () => {
  await trial('with a certificate', { key: r('client.key'), cert: r('client.pem') });
  await trial('without', {});
})();
"#;
    let (server, port) = Proc::server(
        &[
            "server",
            "--port",
            "0",
            "--tls-cert",
            &pem("localhost.pem"),
            "--tls-key",
            &pem("localhost.key"),
            "--tls-request-cert",
            "--tls-ca",
            &pem("ca.pem"),
        ],
        "Server listening on 127.0.0.1:",
    );
    assert_eq!(
        node_on(CLIENT, port),
        [
            "with a certificate: data You said \"I am Chuck Norris!\"",
            "without: error ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
        ]
    );
    let line = server.stderr_line();
    assert!(
        line.ends_with(
            ": peer did not return a certificate (ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE)"
        ),
        "{line}"
    );
}

/// SIGTERM while a TLS connection is open (an `openssl s_client` that
/// stays): the server stops accepting, closes the connection at
/// `--shutdown-timeout` and exits 0; `s_client` sees the close.
#[test]
fn echo_tls_shuts_down_gracefully_on_sigterm() {
    let (mut echo, port) = Proc::server(
        &[
            "echo",
            "--verbose",
            "--port",
            "0",
            "--tls-cert",
            &pem("localhost.pem"),
            "--tls-key",
            &pem("localhost.key"),
            "--shutdown-timeout",
            "0.2",
        ],
        "echo listening on 127.0.0.1:",
    );
    let mut client = s_client(port);
    // Connected once the server says so, and echoing.
    assert!(echo.stdout_line().starts_with("CONNECTED: 127.0.0.1:"));
    client.send(b"ping\n");
    assert_eq!(client.stdout_line(), "ping");
    echo.signal("TERM");
    assert!(echo.exit().success(), "{}", echo.rest_of_stderr());
    let stderr = echo.rest_of_stderr();
    assert!(
        stderr.contains("echo: shutdown timeout: closing 1 remaining connection(s)"),
        "{stderr}"
    );
    // s_client ends once the server closed the connection.
    client.exit();
}

/// `openssl s_server -rev` answers each line reversed; prints `ACCEPT`
/// once it listens. Returns it and its port.
fn s_server() -> (Proc, u16) {
    // s_server takes no port 0 it would report: a free port, released.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let p = Proc::spawn(
        "openssl",
        &[
            "s_server",
            "-accept",
            &format!("127.0.0.1:{port}"),
            "-naccept",
            "1",
            "-rev",
            "-key",
            &pem("localhost.key"),
            "-cert",
            &pem("localhost.pem"),
        ],
    );
    while !p.stdout_line().contains("ACCEPT") {}
    (p, port)
}

/// `netloop nc --ssl` to `openssl s_server`: ncat's client semantics.
/// Without `--ssl-verify` the server is not checked (its CA is unknown
/// here) and the line comes back reversed; with `--ssl-verify` and no
/// trust for that CA it fails (exit 1, Node's code and words); with
/// `--ssl-trustfile` (which implies `--ssl-verify`) it is trusted.
#[test]
fn nc_ssl_connects_to_openssl_s_server() {
    for verify in [&[][..], &["--ssl-trustfile", &pem("ca.pem")][..]] {
        let (_s, port) = s_server();
        let port = port.to_string();
        let mut args = vec!["nc", "--ssl"];
        args.extend_from_slice(verify);
        args.extend_from_slice(&["127.0.0.1", &port]);
        let mut nc = Proc::spawn(BIN, &args);
        nc.send(b"hello openssl\n");
        assert_eq!(nc.stdout_line(), "lssnepo olleh", "{verify:?}");
        nc.close_stdin();
        assert!(nc.exit().success(), "{verify:?}: {}", nc.rest_of_stderr());
    }
    let (_s, port) = s_server();
    let mut nc = Proc::spawn(BIN, &["nc", "--ssl-verify", "127.0.0.1", &port.to_string()]);
    assert_eq!(nc.exit().code(), Some(1));
    assert_eq!(
        nc.rest_of_stderr(),
        "Error [UNABLE_TO_VERIFY_LEAF_SIGNATURE]: unable to verify the first certificate"
    );
}

/// `netloop nc -l --ssl --ssl-cert --ssl-key` for `openssl s_client`: a
/// line each way; nc's end of stdin closes the connection (TLS
/// `close_notify`, then FIN), `s_client` exits, and so does nc, 0. A
/// plain client before it is reported and does not end the listener.
#[test]
fn nc_ssl_listens_for_openssl_s_client() {
    let mut nc = Proc::spawn(
        BIN,
        &[
            "nc",
            "-lv",
            "--ssl",
            "--ssl-cert",
            &pem("localhost.pem"),
            "--ssl-key",
            &pem("localhost.key"),
            "-p",
            "0",
            "127.0.0.1",
        ],
    );
    let line = nc.stderr_line();
    let port = line
        .strip_prefix("Listening on 127.0.0.1 ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_owned();
    // Not TLS: reported, and the listener goes on.
    let plain = netloop(&["client", "--port", &port]);
    assert!(plain.status.success());
    let line = nc.stderr_line();
    assert!(
        line.starts_with("Failed TLS connection from 127.0.0.1 ")
            && line.ends_with(": wrong version number"),
        "{line}"
    );
    let mut client = s_client(port);
    let line = nc.stderr_line();
    assert!(
        line.starts_with("Connection received on 127.0.0.1 "),
        "{line}"
    );
    client.send(b"from s_client\n");
    assert_eq!(nc.stdout_line(), "from s_client");
    nc.send(b"from nc\n");
    assert_eq!(client.stdout_line(), "from nc");
    nc.close_stdin();
    client.exit();
    assert!(nc.exit().success(), "{}", nc.rest_of_stderr());
}

/// ncat's rules for `--ssl` on a listener and with other modes: usage
/// errors, exit 2.
#[test]
fn nc_ssl_usage_errors() {
    for (args, message) in [
        (
            &["nc", "-l", "--ssl", "7000"][..],
            "--ssl with -l needs --ssl-cert and --ssl-key",
        ),
        (
            &["nc", "--ssl", "-U", "/tmp/netloop-no-such.sock"][..],
            "--ssl is not supported with Unix sockets (-U)",
        ),
        (
            &["nc", "--ssl", "-z", "127.0.0.1", "1"][..],
            "--ssl cannot be used with -z",
        ),
    ] {
        let out = netloop(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out.stderr).contains(message), "{args:?}");
    }
}

/// `openssl s_client` to 127.0.0.1:`port` as `localhost`, verifying the
/// server against the test CA and failing on a bad certificate.
fn s_client(port: impl std::fmt::Display) -> Proc {
    Proc::spawn(
        "openssl",
        &[
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            "localhost",
            "-verify_return_error",
            "-CAfile",
            &pem("ca.pem"),
            "-quiet",
        ],
    )
}
