//! `netloop bench report DIR`: BENCHMARKS.md from the files a
//! `bench/compare.sh` run left in DIR (one JSON report per run, named
//! SCENARIO-SERVER-ROUND.json, and `settings.txt`). Every figure is the
//! median over the rounds; the report gives the machine, the command, one
//! table per scenario with each figure also as a ratio to Node and to
//! tokio, the targets, and then `bench/analysis.md` (the profiler-backed
//! notes, written by hand).
//!
//! It reads the fields by the names the JSON writer writes them under
//! (`fields.rs`), and it formats numbers as `bench/report.js`, the Node
//! script it replaces, did (`toFixed`, `toLocaleString`): the same results
//! give the same BENCHMARKS.md, and "report.js" below means that script.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::fields::{self, Field};
use super::json::{self, Value};
use super::output::group;

mod cluster;
mod tls;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The results directory of a bench/compare.sh run (its JSON files and
    /// settings.txt).
    pub dir: PathBuf,
    /// Write the report to FILE (only once it is complete) instead of
    /// stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// The hand-written notes that end the report. Built in, as report.js read
/// them from beside itself: the report does not depend on the directory it
/// is run from.
const NOTES: &str = include_str!("../../bench/analysis.md");

pub(crate) fn run(args: &Args) -> io::Result<()> {
    let text = render(&args.dir)?;
    match &args.out {
        Some(path) => fs::write(path, text)
            .map_err(|e| io::Error::new(e.kind(), format!("write {}: {e}", path.display()))),
        None => {
            let mut stdout = io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()
        }
    }
}

/// The report of the results in `dir`, on this machine.
pub(crate) fn render(dir: &Path) -> io::Result<String> {
    let settings_path = dir.join("settings.txt");
    let settings = fs::read(&settings_path)
        .map_err(|e| io::Error::new(e.kind(), format!("read {}: {e}", settings_path.display())))?;
    let settings = Settings::parse(&String::from_utf8_lossy(&settings));
    let runs = Runs::read(dir)?;
    Ok(Report::new(&settings, &runs).render(&Machine::here(), Some(NOTES)))
}

// ----- settings.txt ---------------------------------------------------------

/// compare.sh's settings.txt: lines of NAME=value pairs. The lists (and
/// the other values that may hold spaces) are alone on their line and
/// take the rest of it.
struct Settings {
    values: HashMap<String, String>,
    /// The non-empty lines, in order.
    lines: Vec<String>,
}

const WHOLE_LINE: [&str; 13] = [
    "SERVERS",
    "CLUSTER_SERVERS",
    "LOADAVG_START",
    "LOADAVG_END",
    "TLS_UNAVAILABLE",
    "NETLOOP_BASE",
    "SCENARIOS",
    "UNAVAILABLE",
    "NODE_VERSION",
    "BUN_VERSION",
    "RUSTC_VERSION",
    "ELAPSED",
    "PINNED",
];

impl Settings {
    fn parse(text: &str) -> Settings {
        let mut values = HashMap::new();
        let mut lines = Vec::new();
        for line in text.split('\n') {
            let name_end = line
                .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                .unwrap_or(line.len());
            let whole = name_end > 0
                && line[name_end..].starts_with('=')
                && WHOLE_LINE.contains(&&line[..name_end]);
            if whole {
                values.insert(
                    line[..name_end].to_owned(),
                    line[name_end + 1..].trim().to_owned(),
                );
            } else {
                for (k, v) in pairs(line) {
                    values.insert(k.to_owned(), v.to_owned());
                }
            }
            if !line.is_empty() {
                lines.push(line.to_owned());
            }
        }
        Settings { values, lines }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// The value, or `default` when it is missing or empty.
    fn or<'a>(&'a self, key: &str, default: &'a str) -> &'a str {
        match self.get(key) {
            Some(v) if !v.is_empty() => v,
            _ => default,
        }
    }

    /// The value as written into a heading ("?" when missing).
    fn show(&self, key: &str) -> &str {
        self.get(key).unwrap_or("?")
    }
}

/// Every `NAME=value` in a line: NAME a run of capitals and underscores,
/// value a run of non-blanks (at least one).
fn pairs(line: &str) -> Vec<(&str, &str)> {
    let b = line.as_bytes();
    let name_byte = |c: u8| c.is_ascii_uppercase() || c == b'_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !name_byte(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && name_byte(b[i]) {
            i += 1;
        }
        let value_start = i + 1;
        let mut end = value_start;
        while end < b.len() && !b[end].is_ascii_whitespace() {
            end += 1;
        }
        if b.get(i) == Some(&b'=') && end > value_start {
            out.push((&line[start..i], &line[value_start..end]));
            i = end;
        }
    }
    out
}

// ----- the runs ---------------------------------------------------------------

/// Every parsed report, by scenario and server.
struct Runs(BTreeMap<String, BTreeMap<String, Vec<Value>>>);

impl Runs {
    fn read(dir: &Path) -> io::Result<Runs> {
        let mut runs: BTreeMap<String, BTreeMap<String, Vec<Value>>> = BTreeMap::new();
        let entries = fs::read_dir(dir)
            .map_err(|e| io::Error::new(e.kind(), format!("read {}: {e}", dir.display())))?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        for name in names {
            let Some((scenario, server)) = run_name(&name) else {
                continue;
            };
            // A file that cannot be read or parsed (a run cut short) is
            // left out, as report.js left it.
            let Ok(bytes) = fs::read(dir.join(&name)) else {
                continue;
            };
            // Any JSON value counts as a run, as in report.js (a value
            // that is not an object has no figures); `null`, on which
            // report.js stopped with a TypeError, is left out.
            let report = match json::parse(&String::from_utf8_lossy(&bytes)) {
                Ok(Value::Null) | Err(_) => continue,
                Ok(report) => report,
            };
            runs.entry(scenario.to_owned())
                .or_default()
                .entry(server.to_owned())
                .or_default()
                .push(report);
        }
        Ok(Runs(runs))
    }

    fn has(&self, scenario: &str) -> bool {
        self.0.contains_key(scenario)
    }

    fn of(&self, scenario: &str, server: &str) -> &[Value] {
        self.0
            .get(scenario)
            .and_then(|s| s.get(server))
            .map_or(&[], Vec::as_slice)
    }

    fn count(&self, scenario: &str, server: &str) -> usize {
        self.of(scenario, server).len()
    }

    /// The median of `field` over the rounds (numbers only).
    fn med(&self, scenario: &str, server: &str, field: Field) -> Option<f64> {
        let mut v: Vec<f64> = self
            .of(scenario, server)
            .iter()
            .filter_map(|r| r.get(field.key).and_then(Value::as_f64))
            .filter(|x| x.is_finite())
            .collect();
        v.sort_by(f64::total_cmp);
        median(&v)
    }
}

/// `SCENARIO-SERVER-ROUND.json`: SCENARIO in lower case, SERVER lower case,
/// digits and dashes (`netloop-t2-rr`), ROUND digits.
fn run_name(file: &str) -> Option<(&str, &str)> {
    let stem = file.strip_suffix(".json")?;
    let (rest, round) = stem.rsplit_once('-')?;
    let (scenario, server) = rest.split_once('-')?;
    let ok = !round.is_empty()
        && round.bytes().all(|c| c.is_ascii_digit())
        && !scenario.is_empty()
        && scenario.bytes().all(|c| c.is_ascii_lowercase())
        && !server.is_empty()
        && server
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
    ok.then_some((scenario, server))
}

fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

// ----- numbers as report.js printed them ------------------------------------------

/// JavaScript's `x.toFixed(digits)`: the exact binary value rounded half
/// up (away from zero) at `digits` decimals. Rust's `{:.N}` rounds an
/// exact tie to even instead (2.5 gives "2"), so the rounding is done here
/// on the exact decimal expansion, which `{:.1074}` gives for every f64.
fn to_fixed(x: f64, digits: usize) -> String {
    if !x.is_finite() {
        return match x {
            f64::INFINITY => "Infinity",
            f64::NEG_INFINITY => "-Infinity",
            _ => "NaN",
        }
        .to_owned();
    }
    let exact = format!("{:.1074}", x.abs());
    let (int, frac) = exact.split_once('.').expect("a fixed-point number");
    let mut kept: Vec<u8> = int.bytes().chain(frac.bytes().take(digits)).collect();
    if frac.as_bytes()[digits] >= b'5' {
        let mut i = kept.len();
        loop {
            if i == 0 {
                kept.insert(0, b'1');
                break;
            }
            i -= 1;
            if kept[i] == b'9' {
                kept[i] = b'0';
            } else {
                kept[i] += 1;
                break;
            }
        }
    }
    let int_len = kept.len() - digits;
    let mut out = String::new();
    // JavaScript writes a minus sign for any negative number, -0.001
    // included ("-0.00"), but not for -0.
    if x < 0.0 {
        out.push('-');
    }
    out.push_str(std::str::from_utf8(&kept[..int_len]).expect("digits"));
    if digits > 0 {
        out.push('.');
        out.push_str(std::str::from_utf8(&kept[int_len..]).expect("digits"));
    }
    out
}

/// JavaScript's `Math.round`: to the nearest integer, a tie towards +∞.
fn js_round(x: f64) -> f64 {
    let f = x.floor();
    if x - f >= 0.5 {
        f + 1.0
    } else {
        f
    }
}

/// A figure: thousands separated from 1,000, then three significant
/// digits or so; "–" when there is none.
fn fmt(x: Option<f64>) -> String {
    let Some(x) = x else {
        return "–".to_owned();
    };
    let a = x.abs();
    if a >= 1000.0 {
        group(&to_fixed(js_round(x), 0))
    } else if a >= 100.0 {
        to_fixed(x, 0)
    } else if a >= 10.0 {
        to_fixed(x, 1)
    } else if a >= 1.0 {
        to_fixed(x, 2)
    } else {
        to_fixed(x, 3)
    }
}

/// `a / b` as "1.59×"; "–" when either is missing or `b` is zero.
fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => format!("{}×", to_fixed(a / b, 2)),
        _ => "–".to_owned(),
    }
}

/// JavaScript's truthiness for a figure: present and not zero.
fn truthy(x: Option<f64>) -> bool {
    matches!(x, Some(v) if v != 0.0 && !v.is_nan())
}

// ----- the machine -------------------------------------------------------------------

/// What the Machine section says: the machine the report is written on,
/// as report.js did (compare.sh writes the report on the machine it ran on).
struct Machine {
    cpu: String,
    cpus: usize,
    mem_bytes: f64,
    /// `uname -s` and `uname -r`: "Linux 6.18.44".
    kernel: String,
}

impl Machine {
    fn here() -> Machine {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
        let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
        // Node's os.cpus() (libuv's uv_cpu_info) has one entry per cpuN
        // line of /proc/stat: the online CPUs.
        let cpus = stat
            .lines()
            .filter(|l| {
                l.strip_prefix("cpu")
                    .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
            })
            .count();
        // Node's os.totalmem() (libuv's uv_get_total_memory): MemTotal.
        let mem_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0);
        Machine {
            cpu: cpu_model(&cpuinfo).unwrap_or_else(|| "?".to_owned()),
            cpus,
            mem_bytes: mem_kib * 1024.0,
            kernel: uname(),
        }
    }
}

/// The first `model name : ...` of /proc/cpuinfo.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|l| {
        let rest = l.strip_prefix("model name")?;
        let rest = rest.trim_start().strip_prefix(':')?;
        Some(rest.trim_start().to_owned())
    })
}

/// Node's `${os.type()} ${os.release()}`: uname's sysname and release,
/// which Linux also shows as these two files.
fn uname() -> String {
    let read = |f: &str| {
        fs::read_to_string(f)
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "?".to_owned())
    };
    format!(
        "{} {}",
        read("/proc/sys/kernel/ostype"),
        read("/proc/sys/kernel/osrelease")
    )
}

// ----- the report ------------------------------------------------------------------

/// compare.sh's defaults, for settings that do not name their selection.
const DEFAULT_SERVERS: &str = "netloop mio tokio node bun-net bun-listen";
const DEFAULT_SCENARIOS: &str =
    "pingpong rate stream connect idle timers tlsecdsa tlsrsa tlsresume tlsbulk tlsidle";

/// `value` as one shell word: as it is when it is plain, else in single
/// quotes.
fn sh_quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_./:@%+=,".contains(&c));
    if plain {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', "'\\''"))
    }
}

/// The row label of each server.
fn name(server: &str) -> &str {
    match server {
        "netloop" => "netloop (`netloop echo`)",
        "netloop-base" => "netloop, base build (`NETLOOP_BASE`)",
        "mio" => "mio floor (`peer-mio-echo`)",
        "tokio" => "tokio current-thread (`peer-tokio-echo`)",
        "node" => "Node `net` (`node_echo.js`)",
        "bun-net" => "Bun `node:net` (`node_echo.js`)",
        "bun-listen" => "Bun `Bun.listen` (`bun_listen_echo.js`)",
        other => other,
    }
}

/// One column of a scenario's table.
struct Metric {
    title: &'static str,
    field: Field,
    /// No ratio columns (a count).
    plain: bool,
}

const fn metric(title: &'static str, field: Field) -> Metric {
    Metric {
        title,
        field,
        plain: false,
    }
}

struct Report<'a> {
    s: &'a Settings,
    runs: &'a Runs,
    servers: Vec<&'a str>,
    unavailable: Vec<&'a str>,
    out: Vec<String>,
}

impl<'a> Report<'a> {
    fn new(s: &'a Settings, runs: &'a Runs) -> Report<'a> {
        Report {
            s,
            runs,
            servers: s
                .or("SERVERS", DEFAULT_SERVERS)
                .split_whitespace()
                .collect(),
            unavailable: s.or("UNAVAILABLE", "").split_whitespace().collect(),
            out: Vec::new(),
        }
    }

    fn p(&mut self, line: impl Into<String>) {
        self.out.push(line.into());
    }

    fn med(&self, scenario: &str, server: &str, field: Field) -> Option<f64> {
        self.runs.med(scenario, server, field)
    }

    /// One table: rows are servers, each metric with its ratio to Node and
    /// tokio.
    fn table(&mut self, scenario: &str, metrics: &[Metric]) {
        let mut head = vec!["server", "runs"];
        for m in metrics {
            head.extend([m.title, "÷ Node", "÷ tokio"]);
        }
        let rule: Vec<&str> = (0..head.len())
            .map(|i| if i < 1 { " --- " } else { " ---: " })
            .collect();
        self.p(format!("| {} |", head.join(" | ")));
        self.p(format!("|{}|", rule.join("|")));
        for s in self.servers.clone() {
            let mut row = vec![name(s).to_owned()];
            if self.unavailable.contains(&s) {
                row.push("unavailable".to_owned());
                for _ in metrics {
                    row.extend(["–", "–", "–"].map(String::from));
                }
            } else {
                row.push(self.runs.count(scenario, s).to_string());
                for m in metrics {
                    let v = self.med(scenario, s, m.field);
                    if m.plain {
                        row.extend([fmt(v), String::new(), String::new()]);
                    } else {
                        row.extend([
                            fmt(v),
                            ratio(v, self.med(scenario, "node", m.field)),
                            ratio(v, self.med(scenario, "tokio", m.field)),
                        ]);
                    }
                }
            }
            self.p(format!("| {} |", row.join(" | ")));
        }
        self.p("");
    }

    fn render(mut self, machine: &Machine, notes: Option<&str>) -> String {
        self.header(machine);
        self.scenarios();
        self.cluster(machine.cpus);
        self.targets();
        if let Some(notes) = notes {
            self.p(notes.trim_end());
            self.p("");
        }
        self.out.join("\n")
    }

    fn header(&mut self, m: &Machine) {
        let s = self.s;
        self.p("# netloop benchmarks");
        self.p("");
        self.p("Written by `bench/compare.sh` from its latest run; every figure is the");
        self.p("median over the rounds. Ratios are this row's figure divided by Node's");
        self.p("and by tokio's (for times and CPU, lower is better; for rates, higher).");
        self.p("");
        self.p("## Machine");
        self.p("");
        self.p(format!(
            "- CPU: {}, {} logical CPUs; {} GiB memory",
            m.cpu,
            m.cpus,
            to_fixed(m.mem_bytes / (1u64 << 30) as f64, 0)
        ));
        self.p(format!("- Kernel: {}", m.kernel));
        self.p(format!(
            "- {}; Node {}; Bun {}",
            s.or("RUSTC_VERSION", "rustc ?"),
            s.or("NODE_VERSION", "?"),
            s.or("BUN_VERSION", "?")
        ));
        const GENERATOR: &str = "the load generator (`netloop bench`, mio, one thread)";
        let any_cluster = self.runs.0.keys().any(|sc| sc.starts_with("cluster"));
        let only_cluster = any_cluster && self.runs.0.keys().all(|sc| sc.starts_with("cluster"));
        if only_cluster {
            self.p(format!(
                "- Not pinned (the cluster rows): the servers and {GENERATOR} shared the CPUs; a fresh server process serves each run."
            ));
        } else if s.get("PINNED") == Some("no") {
            self.p(format!(
                "- Not pinned (taskset or a second CPU was missing): the server and {GENERATOR} shared the CPUs; a fresh server process serves each run."
            ));
        } else {
            let pinned = match s.or("PINNED", "") {
                "" => format!("CPU 0 and {GENERATOR} to CPU 1"),
                p => {
                    let p = p.strip_prefix("server ").unwrap_or(p);
                    p.replacen(", generator ", &format!(" and {GENERATOR} to "), 1)
                }
            };
            self.p(format!(
                "- The server under test is pinned to {pinned}; a fresh server process serves each run."
            ));
            if any_cluster {
                self.p("- The Scale-out (cluster) rows are not pinned: see there.");
            }
        }
        self.p(format!(
            "- Run took {} s. Other work on the machine was not stopped: treat differences under ~5% as noise.",
            s.or("ELAPSED", "?")
        ));
        if let (Some(a), Some(b)) = (s.get("LOADAVG_START"), s.get("LOADAVG_END")) {
            self.p(format!(
                "- Load average (1, 5, 15 min): {a} at the start, {b} at the end."
            ));
        }
        self.p("");
        self.p("## Command");
        self.p("");
        self.p("```sh");
        let command: Vec<String> = [
            "ROUNDS",
            "DURATION",
            "WARMUP",
            "CONNS",
            "SIZE",
            "PIPELINE",
            "RATE",
            "STREAM_CONNS",
            "STREAM_SIZE",
            "CONNECT_CONNS",
            "CONNECT_SOURCES",
            "IDLE_CONNS",
            "TIMER_COUNT",
            "TLS_CONNS",
            "TLS_IDLE_CONNS",
        ]
        .iter()
        .filter_map(|k| s.get(k).map(|v| format!("{k}={v}")))
        .collect();
        // What was run, against what: the selection is part of the command
        // (a report of two servers is not the default run), and --update is
        // what writes BENCHMARKS.md.
        self.p(format!("{} \\", command.join(" ")));
        self.p(format!(
            "  SERVERS={} \\",
            sh_quote(s.or("SERVERS", DEFAULT_SERVERS))
        ));
        self.p(format!(
            "  SCENARIOS={} \\",
            sh_quote(s.or("SCENARIOS", DEFAULT_SCENARIOS))
        ));
        if let Some(cluster) = s.get("CLUSTER_SERVERS") {
            self.p(format!("  CLUSTER_SERVERS={} \\", sh_quote(cluster)));
        }
        if self.servers.contains(&"netloop-base") {
            let base = s.or("NETLOOP_BASE", "path/to/base/netloop");
            self.p(format!("  NETLOOP_BASE={} \\", sh_quote(base)));
        }
        self.p("  bench/compare.sh --update");
        self.p("```");
        self.p("");
        for l in s.lines.clone() {
            if l.contains("asked") {
                let from = l.rfind("IDLE_CONNS").unwrap_or(0);
                self.p(format!("({})", &l[from..]));
            }
        }
        self.p("");
        self.p("Without `--update` the report goes beside the raw results");
        self.p("(`bench/results/DATE/report.md`) and this file is left alone.");
        self.p("`netloop bench report bench/results/DATE` writes the report again from");
        self.p("a results directory; `netloop bench --help` lists the load generator's");
        self.p("modes and options.");
        self.p("");
    }

    fn scenarios(&mut self) {
        let s = self.s;
        if self.runs.has("pingpong") {
            self.p(format!(
                "## Ping-pong: {} connections, {}-byte messages, pipeline {}, one loop (closed loop)",
                s.show("CONNS"),
                s.show("SIZE"),
                s.show("PIPELINE")
            ));
            self.p("");
            self.table(
                "pingpong",
                &[
                    metric("req/s", fields::RPS),
                    metric("p99 µs", fields::P99_US),
                    metric("server CPU µs/req", fields::SERVER_CPU_US_PER_REQ),
                ],
            );
            self.p("Latency percentiles (µs): p50 / p90 / p99 / p99.9 / max");
            self.p("");
            self.p("| server | p50 | p90 | p99 | p99.9 | max | server CPU use |");
            self.p("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
            for sv in self.servers.clone() {
                if self.unavailable.contains(&sv) || self.runs.count("pingpong", sv) == 0 {
                    continue;
                }
                let f = |field| fmt(self.med("pingpong", sv, field));
                let util = self
                    .med("pingpong", sv, fields::SERVER_CPU_UTIL)
                    .unwrap_or(0.0);
                let row = format!(
                    "| {} | {} | {} | {} | {} | {} | {}% |",
                    name(sv),
                    f(fields::P50_US),
                    f(fields::P90_US),
                    f(fields::P99_US),
                    f(fields::P999_US),
                    f(fields::MAX_US),
                    fmt(Some(100.0 * util))
                );
                self.p(row);
            }
            self.p("");
        }
        if self.runs.has("rate") {
            self.p(format!(
                "## Open loop: {} requests/s over {} connections (latency from each request's due time)",
                s.show("RATE"),
                s.show("CONNS")
            ));
            self.p("");
            self.table(
                "rate",
                &[
                    metric("req/s done", fields::RPS),
                    metric("p50 µs", fields::P50_US),
                    metric("p99 µs", fields::P99_US),
                    metric("p99.9 µs", fields::P999_US),
                    metric("server CPU µs/req", fields::SERVER_CPU_US_PER_REQ),
                ],
            );
        }
        if self.runs.has("stream") {
            self.p(format!(
                "## Stream: {} connection(s), {}-byte writes, echoed both ways",
                s.show("STREAM_CONNS"),
                s.show("STREAM_SIZE")
            ));
            self.p("");
            self.table(
                "stream",
                &[
                    metric("MB/s", fields::MB_S),
                    metric("server CPU µs/MB", fields::SERVER_CPU_US_PER_MB),
                ],
            );
        }
        if self.runs.has("connect") {
            self.p(format!(
                "## Connect: {} workers, each connect + {}-byte echo + close (client ports spread over {} source addresses)",
                s.show("CONNECT_CONNS"),
                s.show("SIZE"),
                s.or("CONNECT_SOURCES", "1")
            ));
            self.p("");
            self.table(
                "connect",
                &[
                    metric("conns/s", fields::CONNS_S),
                    metric("p99 µs", fields::P99_US),
                    metric("server CPU µs/conn", fields::SERVER_CPU_US_PER_CONN),
                ],
            );
        }
        if self.runs.has("idle") {
            self.p(format!(
                "## Idle: {} connections opened, one echo each, held",
                s.show("IDLE_CONNS")
            ));
            self.p("");
            self.table(
                "idle",
                &[
                    Metric {
                        plain: true,
                        ..metric("established", fields::ESTABLISHED)
                    },
                    metric("RSS KiB/conn", fields::IDLE_KIB_PER_CONN),
                    metric("anon KiB/conn", fields::IDLE_ANON_KIB_PER_CONN),
                    metric("server CPU µs/conn", fields::SERVER_CPU_US_PER_CONN),
                ],
            );
        }
        self.tls();
        self.timers();
    }

    fn timers(&mut self) {
        let rows: Vec<&str> = ["netloop", "node", "bun"]
            .into_iter()
            .filter(|sv| self.runs.count("timers", sv) + self.runs.count("refresh", sv) > 0)
            .collect();
        if rows.is_empty() {
            return;
        }
        let count = self.s.show("TIMER_COUNT");
        self.p(format!(
            "## Timers: {count} timeouts (delays 1..100 ms) set and fired; {count} idle-timeout refreshes"
        ));
        self.p("");
        self.p("`netloop bench timers|refresh` beside `bench/peers/node_timers.js timers|refresh` (run by Node and by Bun), each pinned to CPU 0.");
        self.p("");
        let cols = [
            ("timers", fields::TOTAL_MS, "set + fire all, ms"),
            ("timers", fields::SET_MS, "set all, ms"),
            ("timers", fields::CPU_MS, "CPU ms"),
            (
                "refresh",
                fields::SOCKET_SET_TIMEOUT_NS_PER_OP,
                "socket.setTimeout ns/op",
            ),
            (
                "refresh",
                fields::TIMER_REFRESH_NS_PER_OP,
                "timeout.refresh() ns/op",
            ),
        ];
        let mut head = vec!["runtime"];
        for c in &cols {
            head.extend([c.2, "÷ Node"]);
        }
        let rule: Vec<&str> = (0..head.len())
            .map(|i| if i > 0 { " ---: " } else { " --- " })
            .collect();
        self.p(format!("| {} |", head.join(" | ")));
        self.p(format!("|{}|", rule.join("|")));
        for sv in rows {
            let mut row = vec![sv.to_owned()];
            for (scenario, field, _) in &cols {
                let v = self.med(scenario, sv, *field);
                row.extend([fmt(v), ratio(v, self.med(scenario, "node", *field))]);
            }
            self.p(format!("| {} |", row.join(" | ")));
        }
        self.p("");
        self.p("(No tokio column here: these are Node API costs; Node's CPU includes its helper threads.)");
        self.p("");
    }

    fn targets(&mut self) {
        let mut t = Targets(Vec::new());
        let nl = |scenario, field| self.med(scenario, "netloop", field);
        let both = |a: Option<f64>, b: Option<f64>| truthy(a) && truthy(b);
        // Only called once `both` or `truthy` said the figure is there.
        let x = |v: Option<f64>| v.unwrap_or(f64::NAN);
        {
            let per_req = fields::SERVER_CPU_US_PER_REQ;
            let a = nl("pingpong", per_req);
            let tk = self.med("pingpong", "tokio", per_req);
            let m = self.med("pingpong", "mio", per_req);
            let ok = both(a, tk);
            t.check(
                "ping-pong: server CPU/req ≤ tokio",
                ok.then(|| x(a) <= x(tk)),
                format!("{} vs {} µs ({})", fmt(a), fmt(tk), ratio(a, tk)),
                None,
                ok.then(|| x(a) / x(tk) - 1.0),
            );
            let ok = both(a, m);
            t.check(
                "ping-pong: server CPU/req within 5% of the mio floor",
                ok.then(|| x(a) <= x(m) * 1.05),
                format!("{} vs {} µs ({})", fmt(a), fmt(m), ratio(a, m)),
                None,
                ok.then(|| x(a) / (x(m) * 1.05) - 1.0),
            );
            let b = self.med("pingpong", "netloop-base", per_req);
            if truthy(b) {
                t.check(
                    "ping-pong: server CPU/req no worse than the base build",
                    truthy(a).then(|| x(a) <= x(b)),
                    format!("{} vs {} µs ({})", fmt(a), fmt(b), ratio(a, b)),
                    None,
                    truthy(a).then(|| x(a) / x(b) - 1.0),
                );
            }
            let r = nl("pingpong", fields::RPS);
            let n = self.med("pingpong", "node", fields::RPS);
            t.check(
                "ping-pong: req/s ≥ 1.5× Node",
                both(r, n).then(|| x(r) >= 1.5 * x(n)),
                format!("{} vs {} ({})", fmt(r), fmt(n), ratio(r, n)),
                None,
                None,
            );
        }
        {
            let a = nl("stream", fields::SERVER_CPU_US_PER_MB);
            let tk = self.med("stream", "tokio", fields::SERVER_CPU_US_PER_MB);
            t.check(
                "stream: server CPU/MB ≤ tokio",
                both(a, tk).then(|| x(a) <= x(tk)),
                format!("{} vs {} µs/MB ({})", fmt(a), fmt(tk), ratio(a, tk)),
                None,
                None,
            );
        }
        {
            let a = nl("connect", fields::CONNS_S);
            let n = self.med("connect", "node", fields::CONNS_S);
            let b = self.med("connect", "bun-net", fields::CONNS_S);
            let f = self.med("connect", "mio", fields::CONNS_S);
            let ca = nl("connect", fields::SERVER_CPU_US_PER_CONN);
            let cn = self.med("connect", "node", fields::SERVER_CPU_US_PER_CONN);
            t.check(
                "connect: ≥ 2.5× Node",
                both(a, n).then(|| x(a) >= 2.5 * x(n)),
                format!(
                    "{} vs {} conns/s ({}); the mio floor reaches {} with the same generator; server CPU per connection {} vs {} µs ({} less)",
                    fmt(a),
                    fmt(n),
                    ratio(a, n),
                    ratio(f, n),
                    fmt(ca),
                    fmt(cn),
                    ratio(cn, ca)
                ),
                None,
                both(a, n).then(|| 1.0 - x(a) / (2.5 * x(n))),
            );
            t.check(
                "connect: ≥ Bun node:net",
                both(a, b).then(|| x(a) >= x(b)),
                format!("{} vs {} conns/s ({})", fmt(a), fmt(b), ratio(a, b)),
                None,
                None,
            );
        }
        {
            let k = nl("idle", fields::IDLE_KIB_PER_CONN);
            let ka = nl("idle", fields::IDLE_ANON_KIB_PER_CONN);
            let kb = self.med("idle", "bun-listen", fields::IDLE_ANON_KIB_PER_CONN);
            t.check(
                "idle: ≤ 0.5 KiB user-space memory per connection",
                k.map(|k| k <= 0.5),
                format!("{} KiB/conn (RSS growth / connections)", fmt(k)),
                None,
                None,
            );
            t.check(
                "idle: below Bun.listen (anonymous memory)",
                ka.zip(kb).map(|(ka, kb)| ka < kb),
                format!(
                    "{} vs {} anon KiB/conn ({})",
                    fmt(ka),
                    fmt(kb),
                    ratio(ka, kb)
                ),
                None,
                None,
            );
            let est = nl("idle", fields::ESTABLISHED);
            // JavaScript's Number(): blank is 0, anything else unparsable NaN;
            // either way "runnable" (no limit known to be too low).
            let fd_limit: f64 = self
                .s
                .get("FD_LIMIT")
                .map(|v| v.trim())
                .map(|v| if v.is_empty() { Ok(0.0) } else { v.parse() })
                .and_then(Result::ok)
                .unwrap_or(f64::NAN);
            let runnable = fd_limit.is_nan() || fd_limit <= 0.0 || fd_limit > 100_200.0;
            t.check(
                "idle: one loop holds 100,000 connections",
                est.map(|e| e >= 100_000.0),
                format!(
                    "{} held here (RLIMIT_NOFILE {}); see the notes",
                    fmt(est),
                    self.s.or("FD_LIMIT", "?")
                ),
                (!runnable).then_some("**not runnable here**"),
                None,
            );
        }
        {
            let a = nl("timers", fields::TOTAL_MS);
            let n = self.med("timers", "node", fields::TOTAL_MS);
            t.check(
                "1,000,000 timers set and fired faster than Node",
                both(a, n).then(|| x(a) < x(n)),
                format!("{} vs {} ms ({})", fmt(a), fmt(n), ratio(a, n)),
                None,
                None,
            );
            let r = nl("refresh", fields::SOCKET_SET_TIMEOUT_NS_PER_OP);
            let rn = self.med("refresh", "node", fields::SOCKET_SET_TIMEOUT_NS_PER_OP);
            t.check(
                "1,000,000 idle-timeout refreshes faster than Node",
                both(r, rn).then(|| x(r) < x(rn)),
                format!("{} vs {} ns/op ({})", fmt(r), fmt(rn), ratio(r, rn)),
                None,
                None,
            );
        }
        self.tls_targets(&mut t);
        self.cluster_targets(&mut t);
        self.p("## Targets");
        self.p("");
        self.p("| target | status | netloop vs reference |");
        self.p("| --- | --- | --- |");
        for row in t.0 {
            self.p(row);
        }
        self.p("");
    }
}

/// The rows of the Targets table.
struct Targets(Vec<String>);

impl Targets {
    /// `ok`: met or not, `None` when not measured; `status` overrides the
    /// verdict; `miss`: how far the figure is from the bound, as a
    /// fraction. A miss of a few percent is inside this machine's
    /// run-to-run noise, and the row says so.
    fn check(
        &mut self,
        name: &str,
        ok: Option<bool>,
        detail: String,
        status: Option<&str>,
        miss: Option<f64>,
    ) {
        let mut st = match (status, ok) {
            (Some(s), _) => s.to_owned(),
            (None, None) => "not measured".to_owned(),
            (None, Some(true)) => "met".to_owned(),
            (None, Some(false)) => "**not met**".to_owned(),
        };
        if let (None, Some(false), Some(miss)) = (status, ok, miss) {
            if miss < 0.03 {
                st.push_str(&format!(
                    " (by {}%, inside run-to-run noise)",
                    to_fixed(100.0 * miss, 1)
                ));
            }
        }
        self.0.push(format!("| {name} | {st} | {detail} |"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_fixed_rounds_ties_away_from_zero_as_javascript_does() {
        assert_eq!(to_fixed(2.5, 0), "3");
        assert_eq!(to_fixed(0.125, 2), "0.13");
        // 1.005 is 1.00499999999999989... in binary: no tie, rounds down.
        assert_eq!(to_fixed(1.005, 2), "1.00");
        assert_eq!(to_fixed(99.95, 1), "100.0");
        assert_eq!(to_fixed(9.999, 2), "10.00");
        assert_eq!(to_fixed(-0.001, 2), "-0.00");
        assert_eq!(to_fixed(-0.0, 2), "0.00");
        assert_eq!(to_fixed(-2.5, 0), "-3");
        assert_eq!(to_fixed(1e-7, 3), "0.000");
    }

    #[test]
    fn figures_and_ratios() {
        assert_eq!(fmt(None), "–");
        assert_eq!(fmt(Some(177_054.4)), "177,054");
        assert_eq!(fmt(Some(-1234.5)), "-1,234");
        assert_eq!(fmt(Some(999.5)), "1000");
        assert_eq!(fmt(Some(411.0)), "411");
        assert_eq!(fmt(Some(31.94)), "31.9");
        // 5.515 is 5.51499999999999968... in binary (Node: "5.51").
        assert_eq!(fmt(Some(5.515)), "5.51");
        assert_eq!(fmt(Some(5.525)), "5.53");
        assert_eq!(fmt(Some(0.4448)), "0.445");
        assert_eq!(fmt(Some(0.0)), "0.000");
        assert_eq!(ratio(Some(1.0), Some(3.0)), "0.33×");
        assert_eq!(ratio(Some(1.0), Some(0.0)), "–");
        assert_eq!(ratio(None, Some(1.0)), "–");
    }

    #[test]
    fn settings_lines_and_pairs() {
        let s = Settings::parse(
            "ROUNDS=4 DURATION=4\nIDLE_CONNS=15000 (asked 15000, RLIMIT_NOFILE 20000) TIMER_COUNT=1000000\n\
             PINNED=server CPU 0, generator CPU 1\nSERVERS=netloop mio\nUNAVAILABLE=\nxxFD_LIMIT=20000 A= B\n",
        );
        assert_eq!(s.get("ROUNDS"), Some("4"));
        assert_eq!(s.get("IDLE_CONNS"), Some("15000"));
        assert_eq!(s.get("TIMER_COUNT"), Some("1000000"));
        assert_eq!(s.get("PINNED"), Some("server CPU 0, generator CPU 1"));
        assert_eq!(s.get("SERVERS"), Some("netloop mio"));
        assert_eq!(s.get("UNAVAILABLE"), Some(""));
        assert_eq!(s.get("FD_LIMIT"), Some("20000"));
        assert_eq!(s.get("A"), None);
        assert_eq!(s.or("UNAVAILABLE", "x"), "x");
        assert_eq!(s.lines.len(), 6);
    }

    #[test]
    fn run_file_names() {
        assert_eq!(
            run_name("pingpong-netloop-base-12.json"),
            Some(("pingpong", "netloop-base"))
        );
        assert_eq!(run_name("timers-bun-1.json"), Some(("timers", "bun")));
        assert_eq!(
            run_name("clusterconnect-netloop-t2-rr-3.json"),
            Some(("clusterconnect", "netloop-t2-rr"))
        );
        for bad in [
            "settings.txt",
            "pingpong-netloop.json",
            "pingpong-netloop-x.json",
            "Ping-netloop-1.json",
            "pingpong-Netloop-1.json",
            "pingpong--1.json",
            "pingpong-netloop-1.json.tmp",
        ] {
            assert_eq!(run_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn shell_words() {
        assert_eq!(sh_quote("pingpong"), "pingpong");
        assert_eq!(sh_quote("/tmp/base/netloop"), "/tmp/base/netloop");
        assert_eq!(sh_quote("netloop tokio"), "'netloop tokio'");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
        assert_eq!(sh_quote(""), "''");
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1.0, 2.0, 9.0]), Some(2.0));
        assert_eq!(median(&[1.0, 2.0, 4.0, 9.0]), Some(3.0));
    }
}
