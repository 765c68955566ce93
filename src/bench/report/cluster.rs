//! The cluster part of the report: issue 11's measurements. The same
//! ping-pong and connect work as the plain rows, against servers that use
//! both CPUs: netloop with one thread and with two under each policy,
//! Node's `cluster` with two workers under both of its policies, and one
//! Node process as the reference. Nothing is pinned, so the load
//! generator shares the CPUs with the server (as in the issue), and each
//! row says what bounded it. The server CPU is the whole process tree's
//! (Node's primary and workers), and the acceptor's part (netloop's
//! acceptor thread, Node's primary) is shown apart. Ratios are to Node's
//! cluster with round-robin, the reference.

use super::tls::{generator_use, get};
use super::{fields, fmt, median, ratio, to_fixed, truthy, Field, Report, Targets, Value};

/// compare.sh's cluster scenarios.
const SCENARIOS: [&str; 2] = ["clusterpingpong", "clusterconnect"];

/// compare.sh's CLUSTER_SERVERS default, for settings that do not say.
const DEFAULT_SERVERS: &str =
    "node netloop-t1 netloop-t2-rr netloop-t2-shared node-cluster-rr node-cluster-shared";

/// The reference of every ratio: Node's cluster, round-robin.
const REFERENCE: &str = "node-cluster-rr";

/// A generator thread this busy could not ask for more.
const BUSY: f64 = 0.9;

/// Two rows whose other work on the machine differs by more CPUs than
/// this were not measured under the same conditions: their rates are not
/// compared as if they were.
const UNEVEN_OTHER_WORK: f64 = 0.25;

/// The row label of each cluster server.
fn cluster_name(server: &str) -> &str {
    match server {
        "node" => "Node `net`, one process (`node_echo.js`)",
        "netloop-t1" => "netloop, 1 thread (`echo --threads 1`)",
        "netloop-t2-rr" => "netloop, 2 threads, round-robin (`--policy round-robin`)",
        "netloop-t2-shared" => "netloop, 2 threads, shared (`--policy shared`)",
        "node-cluster-rr" => "Node `cluster`, 2 workers, SCHED_RR (`node_cluster_echo.js`)",
        "node-cluster-shared" => "Node `cluster`, 2 workers, SCHED_NONE (`node_cluster_echo.js`)",
        other => other,
    }
}

/// How many loops a server runs (what "saturated" means for it).
fn loops(server: &str, workers: f64) -> f64 {
    match server {
        "node" | "netloop-t1" => 1.0,
        _ => workers,
    }
}

/// What limited a row, from its median CPU uses: the generator's thread
/// ("generator"), the machine's CPUs, full with the server, the generator
/// and any other work on the machine ("CPUs"), the server's own loops
/// ("server"), or nothing that CPU time shows ("–": latency, or stalls of
/// the machine). `machine` is the whole machine's busy CPUs; without it
/// (older results) the server and the generator stand for the machine.
fn bound_by(
    server_use: Option<f64>,
    generator: Option<f64>,
    machine: Option<f64>,
    loops: f64,
    cpus: f64,
) -> &'static str {
    let busy = machine.or_else(|| Some(server_use? + generator?));
    match (server_use, generator, busy) {
        (_, Some(g), _) if g >= BUSY => "generator",
        (_, _, Some(m)) if m >= BUSY * cpus => "CPUs",
        (Some(s), _, _) if s >= BUSY * loops => "server",
        _ => "–",
    }
}

/// The machine's busy CPUs beyond the server and the generator in one run
/// (never below zero: the processes' CPU is counted in 10 ms ticks, the
/// machine's in its own, and the two can disagree by a tick or two).
fn other_work(run: &Value) -> Option<f64> {
    let busy = get(run, fields::MACHINE_CPUS_BUSY)?;
    Some((busy - get(run, fields::SERVER_CPU_UTIL)? - generator_use(run)?).max(0.0))
}

/// One work: its scenario, its rate's field and its CPU field.
struct Work {
    scenario: &'static str,
    rate: Field,
    rate_title: &'static str,
    cpu: Field,
    cpu_title: &'static str,
}

const PINGPONG: Work = Work {
    scenario: "clusterpingpong",
    rate: fields::RPS,
    rate_title: "req/s",
    cpu: fields::SERVER_CPU_US_PER_REQ,
    cpu_title: "server CPU µs/req",
};

const CONNECT: Work = Work {
    scenario: "clusterconnect",
    rate: fields::CONNS_S,
    rate_title: "conns/s",
    cpu: fields::SERVER_CPU_US_PER_CONN,
    cpu_title: "server CPU µs/conn",
};

/// A percentage as the tables show it ("29.3%").
fn percent(x: Option<f64>) -> String {
    match x {
        Some(_) => format!("{}%", fmt(x.map(|v| 100.0 * v))),
        None => "–".to_owned(),
    }
}

impl<'a> Report<'a> {
    fn cluster_servers(&self) -> Vec<&'a str> {
        let s: &'a super::Settings = self.s;
        s.or("CLUSTER_SERVERS", DEFAULT_SERVERS)
            .split_whitespace()
            .collect()
    }

    fn cluster_workers(&self) -> f64 {
        self.s
            .get("CLUSTER_WORKERS")
            .and_then(|v| v.parse().ok())
            .unwrap_or(2.0)
    }

    /// The CPUs the run had: compare.sh's NPROC, else this machine's.
    fn cpus(&self, here: usize) -> f64 {
        self.s
            .get("NPROC")
            .and_then(|v| v.parse().ok())
            .unwrap_or(here as f64)
    }

    /// The median over `server`'s runs of `scenario` of a per-run value.
    fn cluster_med(
        &self,
        scenario: &str,
        server: &str,
        value: impl Fn(&Value) -> Option<f64>,
    ) -> Option<f64> {
        let mut v: Vec<f64> = self
            .runs
            .of(scenario, server)
            .iter()
            .filter_map(value)
            .filter(|x| x.is_finite())
            .collect();
        v.sort_by(f64::total_cmp);
        median(&v)
    }

    fn cluster_table(&mut self, work: &Work, cpus: f64) {
        let sc = work.scenario;
        self.p(format!(
            "| server | runs | {} | ÷ Node cluster RR | ÷ one Node | {} | ÷ Node cluster RR | acceptor share | busiest worker | server CPU use | generator CPU use | other work, CPUs | bound by |",
            work.rate_title, work.cpu_title
        ));
        self.p(
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        );
        let workers = self.cluster_workers();
        for sv in self.cluster_servers() {
            let mut row = vec![cluster_name(sv).to_owned()];
            if self.unavailable.contains(&sv) {
                row.push("unavailable".to_owned());
                row.extend(std::iter::repeat_n("–".to_owned(), 11));
                self.p(format!("| {} |", row.join(" | ")));
                continue;
            }
            let rate = self.med(sc, sv, work.rate);
            let cpu = self.med(sc, sv, work.cpu);
            let share = self.cluster_med(sc, sv, |r| get(r, fields::SERVER_ACCEPTOR_SHARE));
            let busiest = self.med(sc, sv, fields::SERVER_BUSIEST_WORKER_SHARE);
            let server_use = self.med(sc, sv, fields::SERVER_CPU_UTIL);
            let generator = self.cluster_med(sc, sv, generator_use);
            let machine = self.med(sc, sv, fields::MACHINE_CPUS_BUSY);
            let other = self.cluster_med(sc, sv, other_work);
            row.extend([
                self.runs.count(sc, sv).to_string(),
                fmt(rate),
                ratio(rate, self.med(sc, REFERENCE, work.rate)),
                ratio(rate, self.med(sc, "node", work.rate)),
                fmt(cpu),
                ratio(cpu, self.med(sc, REFERENCE, work.cpu)),
                percent(share),
                percent(busiest),
                percent(server_use),
                percent(generator),
                other.map_or_else(|| "–".to_owned(), |o| to_fixed(o, 2)),
                bound_by(server_use, generator, machine, loops(sv, workers), cpus).to_owned(),
            ]);
            self.p(format!("| {} |", row.join(" | ")));
        }
        self.p("");
    }

    /// The cluster section, when the run has a cluster scenario.
    pub(super) fn cluster(&mut self, cpus_here: usize) {
        if !SCENARIOS.iter().any(|sc| self.runs.has(sc)) {
            return;
        }
        let s = self.s;
        let cpus = self.cpus(cpus_here);
        self.p("## Scale-out (cluster)");
        self.p("");
        self.p(format!(
            "Issue 11's measurements: the ping-pong ({} connections, {}-byte messages) and connect ({} workers, {}-byte echo) work of the tables above, against servers that use every CPU. **Nothing is pinned**: the server and the load generator (`netloop bench`, one thread) share the machine's {} CPUs, as in the issue. Server CPU counts every thread of the server's process and of its child processes (Node's primary and workers); the acceptor share is the part of it spent by netloop's round-robin acceptor thread or by Node's primary process. Ratios are to Node's cluster with round-robin (÷ Node cluster RR) and to one Node process (÷ one Node). Load average (1, 5, 15 min) {} at the start of the run, {} at its end.",
            s.show("CONNS"),
            s.show("SIZE"),
            s.show("CONNECT_CONNS"),
            s.show("SIZE"),
            cpus,
            s.or("LOADAVG_START", "?"),
            s.or("LOADAVG_END", "?"),
        ));
        self.p("");
        if self.runs.has(PINGPONG.scenario) {
            self.p("### Ping-pong, closed loop");
            self.p("");
            self.cluster_table(&PINGPONG, cpus);
        }
        if self.runs.has(CONNECT.scenario) {
            self.p("### Connect + echo + close");
            self.p("");
            self.cluster_table(&CONNECT, cpus);
        }
        self.p(format!(
            "Busiest worker: its part of the CPU the workers used (50% is an even spread over two; Node's workers are processes, netloop's threads). Other work: what the machine's CPUs were busy with (`/proc/stat`) beyond the server and the generator: other processes, and the kernel's softirq work for loopback packets, which no process is charged for. Bound by: *generator*, its thread used ≥ {}% of a CPU and could not ask for more; *CPUs*, the machine was ≥ {}% busy over its {} CPUs (server, generator and other work), so the generator got what the rest left and its share bounds the rate; *server*, the server's loops used ≥ {}% of a CPU each; *–*, none of these (latency, or stalls of the machine).",
            fmt(Some(100.0 * BUSY)),
            fmt(Some(100.0 * BUSY)),
            cpus,
            fmt(Some(100.0 * BUSY)),
        ));
        self.p("");
        self.p("| scaling | ping-pong req/s | connect conns/s |");
        self.p("| --- | ---: | ---: |");
        for (label, a, b) in [
            (
                "netloop: 2 threads round-robin ÷ 1 thread",
                "netloop-t2-rr",
                "netloop-t1",
            ),
            (
                "netloop: 2 threads shared ÷ 1 thread",
                "netloop-t2-shared",
                "netloop-t1",
            ),
            (
                "Node: cluster SCHED_RR ÷ one process",
                "node-cluster-rr",
                "node",
            ),
            (
                "Node: cluster SCHED_NONE ÷ one process",
                "node-cluster-shared",
                "node",
            ),
        ] {
            let r = |w: &Work, sv| self.med(w.scenario, sv, w.rate);
            self.p(format!(
                "| {label} | {} | {} |",
                ratio(r(&PINGPONG, a), r(&PINGPONG, b)),
                ratio(r(&CONNECT, a), r(&CONNECT, b))
            ));
        }
        self.p("");
    }

    /// Issue 11's targets.
    pub(super) fn cluster_targets(&self, t: &mut Targets) {
        if !SCENARIOS.iter().any(|sc| self.runs.has(sc)) {
            return;
        }
        for (work, bound, what) in [(&PINGPONG, 0.6, "request"), (&CONNECT, 0.4, "connection")] {
            if !self.runs.has(work.scenario) {
                continue;
            }
            let a = self.med(work.scenario, "netloop-t2-rr", work.cpu);
            let n = self.med(work.scenario, REFERENCE, work.cpu);
            let ok = (truthy(a) && truthy(n)).then(|| a.unwrap_or(0.0) <= bound * n.unwrap_or(0.0));
            let miss = ok.map(|_| a.unwrap_or(0.0) / (bound * n.unwrap_or(1.0)) - 1.0);
            t.check(
                &format!(
                    "cluster: server CPU per {what}, netloop 2 threads round-robin ≤ {}× Node cluster round-robin",
                    to_fixed(bound, 1)
                ),
                ok,
                format!("{} vs {} µs ({})", fmt(a), fmt(n), ratio(a, n)),
                None,
                miss,
            );
        }
        for (sv, policy) in [
            ("netloop-t2-rr", "round-robin"),
            ("netloop-t2-shared", "shared"),
        ] {
            let mut ok = Some(true);
            let mut detail = Vec::new();
            let mut uneven = false;
            for work in [&PINGPONG, &CONNECT] {
                if !self.runs.has(work.scenario) {
                    continue;
                }
                let two = self.med(work.scenario, sv, work.rate);
                let one = self.med(work.scenario, "netloop-t1", work.rate);
                let this = (truthy(two) && truthy(one)).then(|| two >= one);
                ok = match (ok, this) {
                    (Some(a), Some(b)) => Some(a && b),
                    _ => None,
                };
                // A rate is only comparable to another measured while the
                // rest of the machine took about as much CPU.
                let other_two = self.cluster_med(work.scenario, sv, other_work);
                let other_one = self.cluster_med(work.scenario, "netloop-t1", other_work);
                let other = match (other_two, other_one) {
                    (Some(a), Some(b)) => {
                        uneven |= (a - b).abs() > UNEVEN_OTHER_WORK;
                        format!(", other work {} vs {} CPUs", to_fixed(a, 2), to_fixed(b, 2))
                    }
                    _ => String::new(),
                };
                detail.push(format!(
                    "{} vs {} {} ({}{other})",
                    fmt(two),
                    fmt(one),
                    work.rate_title,
                    ratio(two, one)
                ));
            }
            let status = match (uneven, ok) {
                (true, Some(true)) => Some("met, but **inconclusive**: other work differed"),
                (true, Some(false)) => Some("**not met**, but inconclusive: other work differed"),
                _ => None,
            };
            t.check(
                &format!("cluster: netloop 2 threads, {policy}: throughput ≥ its 1-thread figure"),
                ok,
                detail.join("; "),
                status,
                None,
            );
        }
        if self.runs.has(CONNECT.scenario) {
            let share = |sv| {
                self.cluster_med(CONNECT.scenario, sv, |r| {
                    get(r, fields::SERVER_ACCEPTOR_SHARE)
                })
            };
            let (a, n) = (share("netloop-t2-rr"), share(REFERENCE));
            t.check(
                "cluster: the acceptor's own share of server CPU reported",
                Some(a.is_some()),
                format!(
                    "connect, round-robin: netloop's acceptor thread {}, Node's primary {} of the server's CPU",
                    percent(a),
                    percent(n)
                ),
                None,
                None,
            );
        }
    }
}
