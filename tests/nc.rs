//! `netloop nc`'s netcat options: `-l -p`, `-k`, `-v`, `-z`, `-w`, `-q`,
//! `-U`/`-lU` and `-u`. Each test spawns the binary and synchronises on
//! what it prints (stderr with `-v`, stdout) or on its exit; the timeouts
//! are failure guards only.
//!
//! The few in-process sockets (a std client or listener, a refused port,
//! a black hole) live for the whole test; every test holds [`serial`], so
//! no child inherits another test's socket while it closes (see the
//! helpers' module docs).

#[path = "../crates/netloop/tests/util/mod.rs"]
mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use util::{refused_port, serial, temp_sock_path, BlackHole};

const BIN: &str = env!("CARGO_BIN_EXE_netloop");

/// How long anything may take before the test fails.
const GUARD: Duration = Duration::from_secs(20);

/// A running `netloop nc`: its stdin, its stdout and stderr lines as they
/// come (read on threads, so a silent child cannot hang the test), and a
/// kill when the test ends, pass or fail.
struct Nc {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
}

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

fn nc(args: &[&str]) -> Nc {
    let mut child = Command::new(BIN)
        .arg("nc")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn netloop nc");
    let stdout = lines(child.stdout.take().unwrap());
    let stderr = lines(child.stderr.take().unwrap());
    Nc {
        stdin: child.stdin.take(),
        child,
        stdout,
        stderr,
    }
}

impl Nc {
    fn stderr_line(&self) -> String {
        self.stderr.recv_timeout(GUARD).expect("a line on stderr")
    }

    fn stdout_line(&self) -> String {
        self.stdout.recv_timeout(GUARD).expect("a line on stdout")
    }

    /// `-v`'s `Listening on ADDR PORT`: the port.
    fn listening_port(&self, addr: &str) -> u16 {
        let line = self.stderr_line();
        let prefix = format!("Listening on {addr} ");
        let port = line.strip_prefix(&prefix).unwrap_or_else(|| {
            panic!("expected {prefix:?}..., got {line:?}");
        });
        port.parse().unwrap()
    }

    fn send(&mut self, data: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(data).unwrap();
        stdin.flush().unwrap();
    }

    fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// The exit status; fails the test if it does not come in time.
    fn exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + GUARD;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "nc did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// What is left on stderr once it exited.
    fn rest_of_stderr(&self) -> String {
        self.stderr.iter().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Nc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(port: u16) -> TcpStream {
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(GUARD)).unwrap();
    c
}

/// Everything the peer sends until it closes.
fn read_all(mut r: impl Read) -> String {
    let mut s = String::new();
    r.read_to_string(&mut s).unwrap();
    s
}

#[test]
fn nc_listen_dash_p_zero_says_its_port_and_prints_a_line() {
    let _serial = serial();
    let mut server = nc(&["-lv", "-p", "0", "127.0.0.1"]);
    let port = server.listening_port("127.0.0.1");
    let mut c = client(port);
    let line = server.stderr_line();
    assert!(
        line.starts_with("Connection received on 127.0.0.1 "),
        "{line}"
    );
    c.write_all(b"hello listener\n").unwrap();
    assert_eq!(server.stdout_line(), "hello listener");
    drop(c);
    server.close_stdin();
    assert!(server.exit().success());
}

/// `nc -l PORT` listens on every address, as netcat does.
#[test]
fn nc_listen_port_alone_listens_on_all_addresses() {
    let _serial = serial();
    let mut server = nc(&["-l", "-v", "0"]);
    let port = server.listening_port("0.0.0.0");
    let mut c = client(port);
    c.write_all(b"from loopback\n").unwrap();
    assert_eq!(server.stdout_line(), "from loopback");
    drop(c);
    server.close_stdin();
    assert!(server.exit().success());
}

/// `-k` serves one client, then the next; stdin goes to the current one.
#[test]
fn nc_keep_listening_serves_two_clients_one_after_the_other() {
    let _serial = serial();
    let mut server = nc(&["-lkv", "127.0.0.1", "0"]);
    let port = server.listening_port("127.0.0.1");
    for n in 1..=2 {
        let mut c = client(port);
        assert!(server
            .stderr_line()
            .starts_with("Connection received on 127.0.0.1 "));
        c.write_all(format!("client {n}\n").as_bytes()).unwrap();
        assert_eq!(server.stdout_line(), format!("client {n}"));
        server.send(format!("to client {n}\n").as_bytes());
        let mut reply = String::new();
        BufReader::new(&c).read_line(&mut reply).unwrap();
        assert_eq!(reply, format!("to client {n}\n"));
        drop(c);
    }
    // Still listening after both.
    assert!(server.child.try_wait().unwrap().is_none());
}

#[test]
fn nc_scan_exits_0_on_an_open_port() {
    let _serial = serial();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let mut scan = nc(&["-zv", "127.0.0.1", &port]);
    assert!(scan.exit().success());
    assert_eq!(
        scan.rest_of_stderr(),
        format!("Connection to 127.0.0.1 {port} port [tcp/*] succeeded!")
    );
    // Nothing was sent: the accepted connection reads its end at once.
    let (conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(GUARD)).unwrap();
    assert_eq!(read_all(conn), "");
}

#[test]
fn nc_scan_exits_1_on_a_refused_port() {
    let _serial = serial();
    let refused = refused_port();
    let port = refused.port().to_string();
    // Quiet without -v, as netcat.
    let mut quiet = nc(&["-z", "127.0.0.1", &port]);
    assert_eq!(quiet.exit().code(), Some(1));
    assert_eq!(quiet.rest_of_stderr(), "");

    let mut verbose = nc(&["-zv", "127.0.0.1", &port]);
    assert_eq!(verbose.exit().code(), Some(1));
    assert_eq!(
        verbose.rest_of_stderr(),
        format!(
            "connect to 127.0.0.1 port {port} (tcp) failed: connect ECONNREFUSED 127.0.0.1:{port}"
        )
    );
}

/// A range is open when any port in it is.
#[test]
fn nc_scan_of_a_range_exits_0_when_one_port_is_open() {
    let _serial = serial();
    let refused = refused_port();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (closed, open) = (refused.port(), listener.local_addr().unwrap().port());
    let range = format!("{}-{}", closed.min(open), closed.max(open));
    let mut scan = nc(&["-z", "127.0.0.1", &range]);
    assert!(scan.exit().success());
}

/// `-w 1`: an idle connection is closed after a second, and that is a
/// normal end (OpenBSD's nc exits 0 when its poll times out).
#[test]
fn nc_wait_closes_an_idle_connection_and_exits_0() {
    let _serial = serial();
    let mut server = nc(&["-lv", "-w", "1", "127.0.0.1", "0"]);
    let port = server.listening_port("127.0.0.1");
    let c = client(port);
    // stdin stays open and the client sends nothing: only -w ends it.
    assert_eq!(read_all(&c), "");
    assert!(server.exit().success());
}

/// `-w` bounds the connect too: a connect that never completes fails with
/// exit 1 and says it timed out.
#[test]
fn nc_wait_fails_a_connect_that_takes_too_long() {
    let _serial = serial();
    let hole = BlackHole::new("127.0.0.1");
    let port = hole.port().to_string();
    let mut nc = nc(&["-w", "1", "127.0.0.1", &port]);
    assert_eq!(nc.exit().code(), Some(1));
    let stderr = nc.rest_of_stderr();
    assert!(
        stderr.contains(&format!("connect to 127.0.0.1 {port} timed out after 1s")),
        "{stderr}"
    );
}

/// `-q 0` quits once stdin's end has been sent, though the peer keeps the
/// connection open; without `-q` nc would wait for the peer.
#[test]
fn nc_quit_0_exits_after_stdin_ends_while_the_peer_stays() {
    let _serial = serial();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let mut nc = nc(&["-q", "0", "127.0.0.1", &port]);
    let (conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(GUARD)).unwrap();
    nc.send(b"bye\n");
    nc.close_stdin();
    assert!(nc.exit().success());
    assert_eq!(read_all(&conn), "bye\n");
    drop(conn); // only now does the peer close
}

#[test]
fn nc_unix_socket_connect_and_listen() {
    let _serial = serial();
    // -U connects to a std listener.
    let path = temp_sock_path("nc-connect");
    let listener = UnixListener::bind(&path).unwrap();
    let mut connector = nc(&["-U", path.to_str().unwrap()]);
    let (mut conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(GUARD)).unwrap();
    conn.write_all(b"over a unix socket\n").unwrap();
    assert_eq!(connector.stdout_line(), "over a unix socket");
    drop(conn);
    connector.close_stdin();
    assert!(connector.exit().success());
    let _ = std::fs::remove_file(&path);

    // -lU listens; a std client talks to it.
    let path = temp_sock_path("nc-listen");
    let mut server = nc(&["-lvU", path.to_str().unwrap()]);
    assert_eq!(
        server.stderr_line(),
        format!("Listening on {}", path.display())
    );
    let mut c = UnixStream::connect(&path).unwrap();
    c.write_all(b"to the listener\n").unwrap();
    assert_eq!(server.stdout_line(), "to the listener");
    drop(c);
    server.close_stdin();
    assert!(server.exit().success());
    // It stopped listening after its one connection and removed its file.
    assert!(!path.exists());
}

/// An existing file is not replaced, as netcat: EADDRINUSE, exit 1.
#[test]
fn nc_listen_unix_fails_when_the_path_exists() {
    let _serial = serial();
    let path = temp_sock_path("nc-stale");
    std::fs::write(&path, b"").unwrap();
    let mut server = nc(&["-lU", path.to_str().unwrap()]);
    assert_eq!(server.exit().code(), Some(1));
    let stderr = server.rest_of_stderr();
    assert!(stderr.contains("EADDRINUSE"), "{stderr}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn nc_udp_is_a_usage_error() {
    let mut nc = nc(&["-u", "127.0.0.1", "7000"]);
    assert_eq!(nc.exit().code(), Some(2));
    let stderr = nc.rest_of_stderr();
    assert!(stderr.contains("UDP is not supported"), "{stderr}");
}

#[test]
fn nc_verbose_connect_says_it_succeeded() {
    let _serial = serial();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let mut nc = nc(&["-v", "127.0.0.1", &port]);
    let (conn, _) = listener.accept().unwrap();
    assert_eq!(
        nc.stderr_line(),
        format!("Connection to 127.0.0.1 {port} port [tcp/*] succeeded!")
    );
    nc.close_stdin();
    drop(conn);
    assert!(nc.exit().success());
}

#[test]
fn nc_connect_failure_exits_1_with_the_reason() {
    let _serial = serial();
    let refused = refused_port();
    let port = refused.port();
    let mut nc = nc(&["-v", "127.0.0.1", &port.to_string()]);
    assert_eq!(nc.exit().code(), Some(1));
    let stderr = nc.rest_of_stderr();
    assert!(
        stderr.contains(&format!("connect ECONNREFUSED 127.0.0.1:{port}")),
        "{stderr}"
    );
}
