//! netloop against real Node.js, both ways: the seed's dialogue (node
//! client -> `netloop server`, `netloop client` -> node server), 1 MiB
//! echoed byte-exact in both directions, and half-close across the two
//! implementations. The JavaScript lives in `tests/js/`.
//!
//! Needs `node` (v20) on PATH; without it every test here fails and says
//! to install it.
//!
//! These tests both spawn processes and run netloop in-process, so each
//! holds `util::serial()` for its whole run: no child is forked while
//! another test's sockets close (a forked child keeps a copy of every
//! descriptor until it execs; see `util`).

#[path = "../crates/netloop/tests/util/mod.rs"]
mod util;

use std::cell::RefCell;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use netloop::net::{self, ConnectOptions, ServerOptions, Socket};
use util::{guard, listen_local, pattern, serial, Log};

const NETLOOP: &str = env!("CARGO_BIN_EXE_netloop");
const MIB: usize = 1024 * 1024;
/// Generous: every exchange here takes milliseconds.
const LIMIT: Duration = Duration::from_secs(20);

fn js(name: &str) -> String {
    format!("{}/tests/js/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The `node` binary, or a failure that says how to get it.
fn node() -> &'static str {
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => {
            let v = String::from_utf8_lossy(&out.stdout);
            if !v.starts_with("v20.") {
                eprintln!("note: the interop tests are written for Node.js 20; found {v}");
            }
            "node"
        }
        Ok(out) => panic!(
            "`node --version` failed ({}): the interop tests need Node.js 20; \
             install it (https://nodejs.org/en/download, or `apt-get install nodejs`) \
             and make sure `node` is on PATH",
            out.status
        ),
        Err(e) => panic!(
            "`node` was not found ({e}): the interop tests need Node.js 20; \
             install it (https://nodejs.org/en/download, or `apt-get install nodejs`) \
             and make sure `node` is on PATH"
        ),
    }
}

/// A child process whose stdout lines arrive on a channel, killed when the
/// guard drops (pass or fail).
struct Proc {
    child: Child,
    lines: Receiver<String>,
    what: String,
}

impl Proc {
    fn spawn(program: &str, args: &[&str]) -> Proc {
        let what = format!("{program} {}", args.join(" "));
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Proc { child, lines, what }
    }

    fn node(script: &str, args: &[&str]) -> Proc {
        let path = js(script);
        let mut all = vec![path.as_str()];
        all.extend_from_slice(args);
        Proc::spawn(node(), &all)
    }

    /// The next line of output, failing the test after `LIMIT`.
    fn line(&self) -> String {
        self.lines
            .recv_timeout(LIMIT)
            .unwrap_or_else(|e| panic!("{}: no output line ({e})", self.what))
    }

    /// Read the first line, `PREFIX...:PORT`, and return the port.
    fn port_from_first_line(&self, prefix: &str) -> u16 {
        let line = self.line();
        assert!(line.starts_with(prefix), "{}: {line:?}", self.what);
        line.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Every remaining line, once the process has exited by itself, and
    /// whether it succeeded.
    fn finish(mut self) -> (bool, Vec<String>) {
        let mut out = Vec::new();
        // The reader thread ends at EOF, when the process exits.
        loop {
            match self.lines.recv_timeout(LIMIT) {
                Ok(l) => out.push(l),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(e) => panic!("{}: did not exit ({e}); output so far {out:?}", self.what),
            }
        }
        let ok = self.child.wait().map(|s| s.success()).unwrap_or(false);
        (ok, out)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Only our own child, by its handle; harmless if it already exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The seed's dialogue, seen from both ends: `client` (on `port`) prints
/// the three lines of the seed's client and exits with success; `server`
/// logs the connection from the client's port, the message, and the close
/// from that same port.
fn assert_seed_dialogue(server: &Proc, client: Proc, port: u16, message: &str) {
    let (ok, out) = client.finish();
    assert!(ok, "client failed: {out:?}");
    assert_eq!(
        out,
        [
            format!("CONNECTED TO: 127.0.0.1:{port}"),
            format!("DATA: You said \"{message}\""),
            "Connection closed".to_owned()
        ]
    );
    let connected = server.line();
    assert!(
        connected.starts_with("CONNECTED: 127.0.0.1:"),
        "{connected}"
    );
    let client_port = connected.rsplit(':').next().unwrap().to_owned();
    assert_eq!(server.line(), format!("DATA 127.0.0.1: {message}"));
    assert_eq!(server.line(), format!("CLOSED: 127.0.0.1 {client_port}"));
}

#[test]
fn node_client_talks_to_netloop_server() {
    let _serial = serial();
    node();
    let server = Proc::spawn(NETLOOP, &["server", "--host", "127.0.0.1", "--port", "0"]);
    let port = server.port_from_first_line("Server listening on 127.0.0.1:");
    let client = Proc::node(
        "seed_client.js",
        &[&port.to_string(), "127.0.0.1", "I am Chuck Norris!"],
    );
    assert_seed_dialogue(&server, client, port, "I am Chuck Norris!");
}

#[test]
fn netloop_client_talks_to_node_server() {
    let _serial = serial();
    let server = Proc::node("seed_server.js", &["0", "127.0.0.1"]);
    let port = server.port_from_first_line("Server listening on 127.0.0.1:");
    let client = Proc::spawn(
        NETLOOP,
        &[
            "client",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--message",
            "Hello from Rust",
        ],
    );
    assert_seed_dialogue(&server, client, port, "Hello from Rust");
}

#[test]
fn node_client_gets_one_mebibyte_back_from_netloop_echo() {
    let _serial = serial();
    node();
    let echo = Proc::spawn(NETLOOP, &["echo", "--host", "127.0.0.1", "--port", "0"]);
    let port = echo.port_from_first_line("echo listening on 127.0.0.1:");
    // The node client ends its side right after the MiB and reads the echo
    // to netloop's FIN: half-close from node to netloop.
    let client = Proc::node("echo_client.js", &[&port.to_string(), &MIB.to_string()]);
    let (ok, out) = client.finish();
    assert_eq!(out, ["echoed 1048576 bytes, byte-exact"]);
    assert!(ok);
}

#[test]
fn netloop_socket_gets_one_mebibyte_back_from_node_echo() {
    let _serial = serial();
    let echo = Proc::node("echo_server.js", &["0", "127.0.0.1"]);
    let port = echo.port_from_first_line("echo listening on 127.0.0.1:");
    let data = pattern(MIB);
    let back: Rc<RefCell<Vec<u8>>> = Rc::default();
    let log = Log::new();
    let (b, l, sent) = (Rc::clone(&back), log.clone(), data.clone());
    netloop::run(move || {
        let _g = guard("node echo");
        let c = net::connect(port, "127.0.0.1")?;
        // Writes queue while connecting; end() sends our FIN after them,
        // and the node side keeps echoing after it (half-close).
        for piece in sent.chunks(64 * 1024) {
            c.write(piece);
        }
        c.end();
        c.on(Socket::DATA, move |_, d| {
            b.borrow_mut().extend_from_slice(d)
        });
        let lf = l.clone();
        c.on(Socket::FINISH, move |_, _| lf.push("finish"));
        let le = l.clone();
        c.on(Socket::END, move |c, _| {
            le.push(format!("end after {} bytes", c.bytes_read()))
        });
        c.on(Socket::CLOSE, move |_, had_error| {
            l.push(format!("close {had_error}"))
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        ["finish", "end after 1048576 bytes", "close false"]
    );
    assert_eq!(back.borrow().len(), MIB);
    assert!(*back.borrow() == data, "echoed bytes differ");
}

#[test]
fn half_close_netloop_client_node_server() {
    let _serial = serial();
    // We send and end; node reads to our FIN, answers on its open side,
    // then ends. The reply must arrive after our `finish`.
    let server = Proc::node("half_close_server.js", &["0", "127.0.0.1"]);
    let port = server.port_from_first_line("half-close server listening on 127.0.0.1:");
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("half close to node");
        let c = net::connect_with(ConnectOptions {
            port,
            host: Some("127.0.0.1".into()),
            allow_half_open: true,
            ..ConnectOptions::default()
        })?;
        c.end_with("ping from netloop");
        let reply: Rc<RefCell<Vec<u8>>> = Rc::default();
        let r = Rc::clone(&reply);
        c.on(Socket::DATA, move |_, d| {
            r.borrow_mut().extend_from_slice(d)
        });
        let lf = l.clone();
        c.on(Socket::FINISH, move |_, _| lf.push("finish"));
        let le = l.clone();
        c.on(Socket::END, move |_, _| {
            le.push(format!(
                "end, reply {:?}",
                String::from_utf8_lossy(&reply.borrow())
            ))
        });
        c.on(Socket::CLOSE, move |_, had_error| {
            l.push(format!("close {had_error}"))
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        [
            "finish",
            "end, reply \"after your FIN I got 17 bytes: ping from netloop\"",
            "close false"
        ]
    );
    let (ok, out) = server.finish();
    assert!(ok);
    assert_eq!(
        out,
        [
            "server got \"ping from netloop\" then FIN",
            "server socket closed, error: false"
        ]
    );
}

#[test]
fn half_close_node_client_netloop_server() {
    let _serial = serial();
    // Node sends and ends; the netloop server (allow_half_open) reads to the
    // FIN, answers on its open side, then ends. The netloop server runs on
    // its own thread with its own loop while this thread drives node.
    let (port_tx, port_rx) = mpsc::channel();
    let server = std::thread::spawn(move || {
        let log = Log::new();
        let l = log.clone();
        netloop::run(move || {
            let _g = guard("half close from node");
            let opts = ServerOptions {
                allow_half_open: true,
                ..ServerOptions::default()
            };
            let server = net::create_server_with(opts, move |server, sock: &Socket| {
                server.close();
                let got: Rc<RefCell<Vec<u8>>> = Rc::default();
                let g = Rc::clone(&got);
                sock.on(Socket::DATA, move |_, d| {
                    g.borrow_mut().extend_from_slice(d)
                });
                let l1 = l.clone();
                sock.on(Socket::END, move |s, _| {
                    let text = String::from_utf8_lossy(&got.borrow()).into_owned();
                    l1.push(format!("server got {text:?} then FIN"));
                    s.end_with(format!("netloop heard {} bytes after your FIN", text.len()));
                });
                let l2 = l.clone();
                sock.on(Socket::FINISH, move |_, _| l2.push("server finish"));
                let l3 = l.clone();
                sock.on(Socket::CLOSE, move |_, e| {
                    l3.push(format!("server close {e}"))
                });
            });
            port_tx.send(listen_local(&server)).unwrap();
            Ok(())
        })
        .unwrap();
        log.entries()
    });
    let port = port_rx.recv_timeout(LIMIT).expect("server port");
    let client = Proc::node(
        "half_close_client.js",
        &[&port.to_string(), "ping from node"],
    );
    let (ok, out) = client.finish();
    assert!(ok, "{out:?}");
    assert_eq!(
        out,
        [
            "reply: netloop heard 14 bytes after your FIN",
            "events: finish, end, close false"
        ]
    );
    let server_log = server.join().expect("server thread");
    assert_eq!(
        server_log,
        [
            "server got \"ping from node\" then FIN",
            "server finish",
            "server close false"
        ]
    );
}
