//! Scale-out behind a real load balancer, between real hosts: a client
//! host, a balancer host and two server hosts, each a network namespace of
//! its own, joined by veth pairs. The balancer is HAProxy (`mode tcp`,
//! `send-proxy-v2`, health checks) in one case and nginx's stream module
//! (`proxy_protocol on`) in the other; each server host runs
//! `netloop echo --threads 2 --proxy-protocol required --verbose`.
//!
//! Each case checks that echoes come back whole through the balancer
//! (random sizes, SHA-256), that both servers got connections, that each
//! server reported the client host's own address and port (from the PROXY
//! header, not the balancer's), that a client that skips the balancer and
//! sends no PROXY header is closed without an echo, and that once a server
//! is killed every new connection is served by the other one.
//!
//! ```text
//!   client 10.0.1.2 ── 10.0.1.1  balancer  10.0.2.1 ── 10.0.2.2 s1
//!                                          10.0.3.1 ── 10.0.3.2 s2
//! ```
//!
//! The balancer host forwards IP packets, so the client can also reach the
//! servers directly (the "skipped the balancer" client). The addresses are
//! fixed: every namespace has its own interfaces and routing table, so
//! they can meet neither the machine's networks nor another run's (whose
//! namespaces have other names: the process id and the case are in them).
//! No traffic leaves the namespaces the test creates.
//!
//! The balancer's configuration is read from `docs/scaling/`, the very
//! files `docs/scaling.md` shows, so the documentation and the test cannot
//! drift apart.
//!
//! It needs root (to create namespaces), iproute2, HAProxy, nginx with its
//! stream module, and `node` (the client host's program,
//! `tests/js/scale_out_client.js`); `.ci/run` installs them. When any of
//! that is missing the test fails and says what; it never skips.
//!
//! The process spawns only (no netloop runs in this process), so the two
//! cases run in parallel. Every wait is for something a process prints or
//! for the balancer's own view of its servers; the time limits are
//! failure guards.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_netloop");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Failure guard for every wait.
const GUARD: Duration = Duration::from_secs(20);

const CLIENT_IP: &str = "10.0.1.2";
/// The balancer's address on the client's link; the balancer listens here.
const BALANCER_IP: &str = "10.0.1.1";
const BALANCER_PORT: u16 = 8000;
const SERVER_PORT: u16 = 7000;
/// Each server host: its name, its address, and the balancer's address on
/// its link (the peer address the server sees on every connection).
const SERVERS: [(&str, &str, &str); 2] = [
    ("s1", "10.0.2.2", "10.0.2.1"),
    ("s2", "10.0.3.2", "10.0.3.1"),
];

/// The program each server host runs, and the start of the line it
/// prints once it listens. The one place that names the server under
/// test: it must print `CONNECTED: ADDR:PORT` on stdout for each
/// connection, with the client's address from the PROXY header (the
/// balancer's own for a `LOCAL` header), close a connection that has no
/// valid header without answering, and echo everything else.
fn server_command(ns: &str, ip: &str, port: u16) -> (Command, &'static str) {
    let port = port.to_string();
    let args = [
        "echo",
        "--host",
        ip,
        "--port",
        &port,
        "--threads",
        "2",
        "--proxy-protocol",
        "required",
        "--verbose",
    ];
    (netns_command(ns, BIN, &args), "echo listening on ")
}

#[derive(Clone, Copy, PartialEq)]
enum Balancer {
    HaProxy,
    Nginx,
}

#[test]
fn haproxy_send_proxy_v2_balances_two_echo_servers_and_fails_over() {
    scale_out(Balancer::HaProxy);
}

#[test]
fn nginx_stream_proxy_protocol_balances_two_echo_servers_and_fails_over() {
    scale_out(Balancer::Nginx);
}

/// `docs/scaling.md` shows the balancer configurations the test runs,
/// byte for byte.
#[test]
fn docs_scaling_shows_the_configurations_the_test_runs() {
    let doc = read(&Path::new(ROOT).join("docs/scaling.md"));
    for file in ["haproxy.cfg", "nginx-stream.conf"] {
        let text = read(&Path::new(ROOT).join("docs/scaling").join(file));
        assert!(
            doc.contains(&text),
            "docs/scaling.md does not show docs/scaling/{file} as it stands: copy it in again"
        );
    }
}

fn scale_out(balancer: Balancer) {
    let case = match balancer {
        Balancer::HaProxy => "haproxy",
        Balancer::Nginx => "nginx",
    };
    let mut lab = Lab::new(case);
    let namespaces = lab.namespaces.clone();

    for (name, ip, _) in SERVERS {
        let (cmd, ready) = server_command(&lab.ns(name), ip, SERVER_PORT);
        lab.spawn(name, cmd);
        lab.wait_for(&format!("{name} listening"), |l| {
            l.who == name && l.text.starts_with(ready)
        });
    }
    match balancer {
        Balancer::HaProxy => start_haproxy(&mut lab),
        Balancer::Nginx => start_nginx(&mut lab),
    }

    // Echo integrity through the balancer, and both servers used.
    let first = lab.run_client(8, 1);
    lab.wait_connected(&first);
    let on = servers_of(&lab, &first);
    for (name, _, _) in SERVERS {
        assert!(
            on.contains(&name),
            "{case}: {name} got none of the client's connections: {on:?}\n{}",
            lab.dump()
        );
    }

    // A client that skips the balancer and sends no PROXY header is closed
    // without an echo, by both servers.
    let mut skipped = Vec::new();
    for (_, ip, _) in SERVERS {
        let out = lab.client(&["refused", ip, &SERVER_PORT.to_string()]);
        let line = out.lines().next().unwrap_or_default();
        let rest = line.strip_prefix("CLOSED ").unwrap_or_else(|| {
            panic!("{case}: a direct client without a PROXY header to {ip}: {out:?} (expected the server to close without an echo)")
        });
        skipped.push(rest.to_owned());
    }

    // Kill s2. HAProxy's health checks take it out (wait until it says
    // so); nginx finds out on the next connection that s2 refuses, and
    // tries s1 instead. Either way every new connection succeeds, on s1.
    lab.kill("s2");
    let s2 = SERVERS[1].1;
    if balancer == Balancer::HaProxy {
        // HAProxy logs each change of a server's state on stderr.
        lab.wait_for("HAProxy's health checks mark s2 DOWN", |l| {
            l.who == "haproxy" && l.text.contains("Server echo_servers/s2 is DOWN")
        });
    }
    let second = lab.run_client(6, 2);
    lab.wait_connected(&second);
    if balancer == Balancer::Nginx {
        // One of the new connections was s2's turn: nginx's connect was
        // refused, it took s2 out for fail_timeout, and went on to s1.
        lab.wait_for("nginx takes s2 out after a refused connect", |l| {
            l.who == "nginx"
                && l.text.contains("upstream server temporarily disabled")
                && l.text.contains(s2)
        });
    }
    let on = servers_of(&lab, &second);
    assert!(
        on.iter().all(|s| *s == "s1"),
        "{case}: after s2 was killed, connections went to {on:?}\n{}",
        lab.dump()
    );

    // Every connection a server reported from the client host is one the
    // client made through the balancer, once, and the direct clients were
    // never reported as connected. The balancer's own connections (HAProxy's
    // health checks, with a LOCAL header) may be reported too, with the
    // balancer's address; nginx makes none.
    let mut through: Vec<String> = first.iter().chain(&second).cloned().collect();
    through.sort();
    let mut reported = Vec::new();
    for (name, _, _) in SERVERS {
        for peer in lab.connected(name) {
            if peer.starts_with(&format!("{CLIENT_IP}:")) {
                reported.push(peer);
            } else {
                assert!(
                    balancer == Balancer::HaProxy,
                    "{case}: {name} reported a connection from {peer}, not from the client host\n{}",
                    lab.dump()
                );
            }
        }
    }
    reported.sort();
    assert_eq!(
        reported,
        through,
        "{case}: the servers' CONNECTED lines from the client host\n{}",
        lab.dump()
    );
    for peer in &skipped {
        assert!(
            !reported.contains(peer),
            "{case}: the direct client {peer} was reported as connected"
        );
    }

    drop(lab);
    let left = String::from_utf8_lossy(&ip(&["netns", "list"]).stdout).into_owned();
    for ns in &namespaces {
        assert!(
            !left
                .lines()
                .any(|l| l.split_whitespace().next() == Some(ns)),
            "namespace {ns} left behind: {left}"
        );
    }
}

/// Which server reported each of `peers` (client address:port pairs).
fn servers_of(lab: &Lab, peers: &[String]) -> Vec<&'static str> {
    peers
        .iter()
        .map(|p| {
            SERVERS
                .iter()
                .find(|(name, _, _)| lab.connected(name).contains(p))
                .map(|(name, _, _)| *name)
                .expect("wait_connected saw every peer")
        })
        .collect()
}

fn start_haproxy(lab: &mut Lab) {
    require_tool("haproxy", &["-v"], "HAProxy (Debian's `haproxy`)");
    let cfg = lab.dir.join("haproxy.cfg");
    let text = render(
        "haproxy.cfg",
        &[
            ("RUN_DIR", lab.dir.display().to_string()),
            ("LISTEN", format!("{BALANCER_IP}:{BALANCER_PORT}")),
            ("SERVER1", format!("{}:{SERVER_PORT}", SERVERS[0].1)),
            ("SERVER2", format!("{}:{SERVER_PORT}", SERVERS[1].1)),
        ],
    );
    std::fs::write(&cfg, text).expect("write haproxy.cfg");
    // -db: stay in the foreground, a child of the test like the others.
    let cmd = netns_command(
        &lab.ns("lb"),
        "haproxy",
        &["-db", "-f", &cfg.display().to_string()],
    );
    lab.spawn("haproxy", cmd);
    for (name, _, _) in SERVERS {
        haproxy_wait_status(lab, name, "UP");
    }
}

/// Wait until HAProxy's runtime API reports `status` (`UP`, `DOWN`) for
/// the backend server `name`. HAProxy says nothing when it has bound its
/// listeners, nor when a server's first check passes, so at start this
/// asks it every 20 ms (an answer also means HAProxy is listening: it
/// binds every listener before it serves the API).
fn haproxy_wait_status(lab: &Lab, name: &str, status: &str) {
    let sock = lab.dir.join("haproxy.sock");
    let deadline = Instant::now() + GUARD;
    let mut last = String::from("(the runtime API socket never answered)");
    loop {
        if let Ok(mut s) = UnixStream::connect(&sock) {
            let mut stat = String::new();
            if s.write_all(b"show stat\n").is_ok() && s.read_to_string(&mut stat).is_ok() {
                if haproxy_status(&stat, "echo_servers", name)
                    .is_some_and(|s| s.starts_with(status))
                {
                    return;
                }
                last = stat;
            }
        }
        assert!(
            Instant::now() < deadline,
            "HAProxy did not report {name} {status} within {GUARD:?}; last `show stat`:\n{last}\n{}",
            lab.dump()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `status` column of `show stat`'s CSV for one server.
fn haproxy_status(stat: &str, backend: &str, server: &str) -> Option<String> {
    let mut lines = stat.lines();
    let header: Vec<&str> = lines.next()?.trim_start_matches("# ").split(',').collect();
    let col = header.iter().position(|h| *h == "status")?;
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&backend) && f.get(1) == Some(&server))
        .and_then(|f| f.get(col).map(|s| s.to_string()))
}

fn start_nginx(lab: &mut Lab) {
    let version = require_tool("nginx", &["-V"], "nginx (Debian's `nginx`)");
    let stream = lab.dir.join("stream.conf");
    let text = render(
        "nginx-stream.conf",
        &[
            ("LISTEN", format!("{BALANCER_IP}:{BALANCER_PORT}")),
            ("SERVER1", format!("{}:{SERVER_PORT}", SERVERS[0].1)),
            ("SERVER2", format!("{}:{SERVER_PORT}", SERVERS[1].1)),
        ],
    );
    std::fs::write(&stream, text).expect("write stream.conf");
    // Debian builds the stream module as a dynamic module
    // (`--with-stream=dynamic`, package libnginx-mod-stream); its own
    // nginx.conf loads it from modules-enabled/, which this one does not
    // read.
    let mut conf =
        String::from("# Written by tests/scale_out.rs around docs/scaling/nginx-stream.conf.\n");
    if version.contains("--with-stream=dynamic") {
        let dir = version
            .split_whitespace()
            .find_map(|a| a.strip_prefix("--modules-path="))
            .unwrap_or("/usr/lib/nginx/modules");
        let module = Path::new(dir).join("ngx_stream_module.so");
        assert!(
            module.exists(),
            "nginx's stream module {} is missing: install Debian's libnginx-mod-stream",
            module.display()
        );
        writeln!(conf, "load_module {};", module.display()).unwrap();
    }
    // In the foreground, one worker, everything in the temp directory,
    // and the notice "start worker process" on stderr, which says the
    // listening socket is open (the master opens it before it forks).
    // Workers run as root: Debian has no group `nobody`, nginx's default.
    writeln!(
        conf,
        "daemon off;\nuser root;\nworker_processes 1;\npid {dir}/nginx.pid;\nerror_log stderr notice;\n\
         events {{ worker_connections 256; }}\ninclude {stream};",
        dir = lab.dir.display(),
        stream = stream.display()
    )
    .unwrap();
    let path = lab.dir.join("nginx.conf");
    std::fs::write(&path, conf).expect("write nginx.conf");
    let (prefix, path) = (lab.dir.display().to_string(), path.display().to_string());
    let cmd = netns_command(&lab.ns("lb"), "nginx", &["-p", &prefix, "-c", &path]);
    lab.spawn("nginx", cmd);
    lab.wait_for("nginx started", |l| {
        l.who == "nginx" && l.text.contains("start worker process")
    });
}

/// Run `program --version`-like `args` to check the tool is installed;
/// returns what it printed (both streams).
fn require_tool(program: &str, args: &[&str], what: &str) -> String {
    match Command::new(program).args(args).output() {
        Ok(out) if out.status.success() => {
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr)
        }
        Ok(out) => panic!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => {
            panic!("{what} is needed for this test and cannot be run: {e} (.ci/run installs it)")
        }
    }
}

/// `docs/scaling/NAME` with its `{{KEY}}` placeholders replaced.
fn render(name: &str, vars: &[(&str, String)]) -> String {
    let mut text = read(&Path::new(ROOT).join("docs/scaling").join(name));
    for (key, value) in vars {
        text = text.replace(&format!("{{{{{key}}}}}"), value);
    }
    assert!(
        !text.contains("{{"),
        "docs/scaling/{name}: a placeholder is left: {text}"
    );
    text
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn netns_command(ns: &str, program: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, program]).args(args);
    cmd
}

/// Run `ip ARGS`; returns its output whatever the status.
fn ip(args: &[&str]) -> std::process::Output {
    Command::new("ip").args(args).output().unwrap_or_else(|e| {
        panic!("`ip` (iproute2) is needed for this test and cannot be run: {e}")
    })
}

/// One line a child printed.
struct Line {
    who: String,
    stderr: bool,
    text: String,
    /// Not a line: both of the process's streams have closed (it exited).
    end: bool,
}

/// The hosts of one case: its namespaces, the processes in them, a temp
/// directory for configurations and sockets, and everything the processes
/// printed, in the order it arrived. Dropping it, pass or fail, kills
/// every process in the namespaces, deletes the namespaces (and so their
/// veth pairs) and removes the directory.
struct Lab {
    prefix: String,
    namespaces: Vec<String>,
    children: Vec<(String, Child)>,
    /// The processes the test killed on purpose.
    killed: Vec<String>,
    dir: PathBuf,
    tx: Sender<Line>,
    rx: Receiver<Line>,
    seen: Vec<Line>,
}

impl Lab {
    fn new(case: &str) -> Lab {
        remove_stale();
        let prefix = format!("{PREFIX}{}-{case}", std::process::id());
        let dir = std::env::temp_dir().join(&prefix);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the temp directory");
        let (tx, rx) = mpsc::channel();
        let mut lab = Lab {
            prefix,
            namespaces: Vec::new(),
            children: Vec::new(),
            killed: Vec::new(),
            dir,
            tx,
            rx,
            seen: Vec::new(),
        };
        for host in ["client", "lb", "s1", "s2"] {
            let ns = lab.ns(host);
            let out = ip(&["netns", "add", &ns]);
            assert!(
                out.status.success(),
                "cannot create the network namespace {ns} (this test needs root and iproute2): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            lab.namespaces.push(ns.clone());
            setup(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        lab.link("to-client", "client", "10.0.1.1", CLIENT_IP);
        for (name, ip, balancer_ip) in SERVERS {
            lab.link(&format!("to-{name}"), name, balancer_ip, ip);
            setup(&[
                "-n",
                &lab.ns(name),
                "route",
                "add",
                "default",
                "via",
                balancer_ip,
            ]);
        }
        setup(&[
            "-n",
            &lab.ns("client"),
            "route",
            "add",
            "default",
            "via",
            BALANCER_IP,
        ]);
        // The balancer host routes between its links, so the client can
        // reach a server without going through the balancer's program.
        // (A per-namespace setting: the machine's own stays as it is.)
        let out = netns_command(&lab.ns("lb"), "sysctl", &["-qw", "net.ipv4.ip_forward=1"])
            .output()
            .expect("run sysctl (procps)");
        assert!(
            out.status.success(),
            "enable forwarding: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        lab
    }

    fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.prefix)
    }

    /// A veth pair between the balancer host (`lb_if`, `lb_ip`) and
    /// `host` (`eth0`, `host_ip`), both /24, created inside the two
    /// namespaces (never in the machine's own).
    fn link(&self, lb_if: &str, host: &str, lb_ip: &str, host_ip: &str) {
        let (lb, other) = (self.ns("lb"), self.ns(host));
        setup(&[
            "-n", &lb, "link", "add", lb_if, "type", "veth", "peer", "name", "eth0", "netns",
            &other,
        ]);
        setup(&[
            "-n",
            &lb,
            "addr",
            "add",
            &format!("{lb_ip}/24"),
            "dev",
            lb_if,
        ]);
        setup(&[
            "-n",
            &other,
            "addr",
            "add",
            &format!("{host_ip}/24"),
            "dev",
            "eth0",
        ]);
        setup(&["-n", &lb, "link", "set", lb_if, "up"]);
        setup(&["-n", &other, "link", "set", "eth0", "up"]);
    }

    /// Start a long-running process; every line it prints arrives in
    /// `seen`, tagged `who`.
    fn spawn(&mut self, who: &str, mut cmd: Command) {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {who}: {e}"));
        let out = child.stdout.take().expect("piped");
        let err = child.stderr.take().expect("piped");
        let open = Arc::new(AtomicUsize::new(2));
        self.forward(who, false, out, Arc::clone(&open));
        self.forward(who, true, err, open);
        self.children.push((who.to_owned(), child));
    }

    /// Send each line of `stream` to the lab; the second of a process's
    /// two streams to close then sends its `end`, after every line.
    fn forward(
        &self,
        who: &str,
        stderr: bool,
        stream: impl Read + Send + 'static,
        open: Arc<AtomicUsize>,
    ) {
        let (tx, who) = (self.tx.clone(), who.to_owned());
        std::thread::spawn(move || {
            for text in BufReader::new(stream).lines().map_while(Result::ok) {
                let end = false;
                if tx
                    .send(Line {
                        who: who.clone(),
                        stderr,
                        text,
                        end,
                    })
                    .is_err()
                {
                    return;
                }
            }
            if open.fetch_sub(1, Ordering::SeqCst) == 1 {
                let _ = tx.send(Line {
                    who,
                    stderr,
                    text: String::new(),
                    end: true,
                });
            }
        });
    }

    /// Wait until `found` holds for a line printed so far.
    fn wait_for(&mut self, what: &str, found: impl Fn(&Line) -> bool) {
        self.wait_until(what, |seen| seen.iter().any(&found));
    }

    fn wait_until(&mut self, what: &str, done: impl Fn(&[Line]) -> bool) {
        let deadline = Instant::now() + GUARD;
        while !done(&self.seen) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    // A process that exits on its own fails the test at
                    // once (a server that rejects its options, say).
                    let died = line.end && !self.killed.contains(&line.who);
                    let who = line.who.clone();
                    self.seen.push(line);
                    assert!(
                        !died,
                        "{who} exited while waiting for: {what}\n{}",
                        self.dump()
                    );
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "{what}: not within {GUARD:?} (failure guard)\n{}",
                        self.dump()
                    )
                }
            }
        }
    }

    /// The peers `name` reported in its `CONNECTED: ADDR:PORT` lines.
    fn connected(&self, name: &str) -> Vec<String> {
        self.seen
            .iter()
            .filter(|l| l.who == name && !l.stderr)
            .filter_map(|l| l.text.strip_prefix("CONNECTED: "))
            .map(str::to_owned)
            .collect()
    }

    /// Wait until some server reported each of `peers` as connected.
    fn wait_connected(&mut self, peers: &[String]) {
        let names: Vec<&str> = SERVERS.iter().map(|s| s.0).collect();
        self.wait_until(&format!("CONNECTED lines for {peers:?}"), |seen| {
            peers.iter().all(|p| {
                seen.iter().any(|l| {
                    names.contains(&l.who.as_str())
                        && !l.stderr
                        && l.text.strip_prefix("CONNECTED: ") == Some(p)
                })
            })
        });
    }

    /// Run the client host's program with `args` and return its stdout.
    fn client(&self, args: &[&str]) -> String {
        let script = format!("{ROOT}/tests/js/scale_out_client.js");
        // coreutils' timeout: a failure guard over the client's own.
        let mut cmd = Command::new("timeout");
        cmd.args([
            "120",
            "ip",
            "netns",
            "exec",
            &self.ns("client"),
            "node",
            &script,
        ])
        .args(args);
        let out = cmd.output().expect("run node (the client host's program)");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "client {args:?}: {}\nstdout:\n{stdout}\nstderr:\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.dump()
        );
        stdout
    }

    /// `count` echo connections through the balancer at once; returns the
    /// client's address:port of each.
    fn run_client(&self, count: usize, seed: u32) -> Vec<String> {
        let out = self.client(&[
            "echo",
            BALANCER_IP,
            &BALANCER_PORT.to_string(),
            &count.to_string(),
            &seed.to_string(),
        ]);
        let peers: Vec<String> = out
            .lines()
            .filter_map(|l| l.strip_prefix("OK "))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect();
        assert_eq!(peers.len(), count, "client output:\n{out}");
        for p in &peers {
            assert!(
                p.starts_with(&format!("{CLIENT_IP}:")),
                "the client connected from {p}"
            );
        }
        peers
    }

    /// Kill `who` (SIGKILL: a crash, no goodbye to the balancer).
    fn kill(&mut self, who: &str) {
        let (_, child) = self
            .children
            .iter_mut()
            .find(|(w, _)| w == who)
            .expect("a started process");
        self.killed.push(who.to_owned());
        child.kill().expect("kill");
        child.wait().expect("wait");
    }

    /// Everything the processes printed, for failure messages.
    fn dump(&self) -> String {
        let mut s = String::from("--- output of the test's processes ---\n");
        for l in &self.seen {
            let stream = if l.stderr { "err" } else { "out" };
            let _ = match l.end {
                true => writeln!(s, "{} exited", l.who),
                false => writeln!(s, "{} {stream}: {}", l.who, l.text),
            };
        }
        s
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Every process in the test's namespaces, nginx's worker included
        // (its master is a child of ours, the worker is not).
        for ns in &self.namespaces {
            kill_all_in(ns);
        }
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in &self.namespaces {
            let _ = ip(&["netns", "del", ns]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Start of the name of every namespace and temp directory the test
/// makes; the process id and the case follow.
const PREFIX: &str = "netloop-scale-out-";

/// Remove the namespaces (and the processes in them) and temp directories
/// that an earlier run of this test left behind because it was killed
/// before its `Drop` could run (a Ctrl-C): those whose process is gone.
fn remove_stale() {
    let stale = |name: &str| {
        let pid = name.strip_prefix(PREFIX).and_then(|r| r.split('-').next());
        pid.is_some_and(|pid| !Path::new("/proc").join(pid).exists())
    };
    let list = String::from_utf8_lossy(&ip(&["netns", "list"]).stdout).into_owned();
    for ns in list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| stale(n))
    {
        kill_all_in(ns);
        let _ = ip(&["netns", "del", ns]);
    }
    if let Ok(dir) = std::fs::read_dir(std::env::temp_dir()) {
        for entry in dir.flatten() {
            if stale(&entry.file_name().to_string_lossy()) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// SIGKILL every process in the namespace `ns` (which the test made).
fn kill_all_in(ns: &str) {
    let out = ip(&["netns", "pids", ns]);
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        let _ = Command::new("kill").args(["-KILL", pid]).status();
    }
}

/// One step of building the test network; a failure ends the test with
/// the step and iproute2's message.
fn setup(args: &[&str]) {
    let out = ip(args);
    assert!(
        out.status.success(),
        "setting up the test network: `ip {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}
