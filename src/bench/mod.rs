//! `netloop bench`: a load generator on plain mio, one loop per thread,
//! and the report of a `bench/compare.sh` run.
//!
//! Modes:
//!
//! - `pingpong`: N connections each keep `--pipeline` messages of
//!   `--size` bytes in flight and send the next one as each echo returns
//!   (closed loop); with `--rate R` it sends R requests per second on a
//!   fixed schedule instead (open loop) and measures each latency from the
//!   time the request was *due*, so a stalled server is charged for every
//!   request it delayed (no coordinated omission, as in wrk2).
//! - `stream`: every connection writes `--size`-byte chunks as fast as the
//!   server takes them and reads the echo back: bulk throughput both ways.
//!   One connection and 64 KiB writes unless `-c`/`-s` say otherwise: the
//!   ping-pong defaults (50 connections, 64-byte messages) would measure
//!   small writes, not a stream.
//! - `connect`: `-c` workers each connect, echo one message and close, over
//!   and over: connections per second.
//! - `idle`: open `-c` connections, echo one message on each, and hold
//!   them; with `--server-pid` it reports the server's RSS growth per
//!   connection.
//! - `slowread`, `halfopen`, `rst`: misbehaving clients for
//!   `scripts/stress.sh` (see `attack.rs`): writers that never read, FINs
//!   held open, resets mid-stream; with `--server-pid` they report the
//!   server's memory and descriptors before, at the peak and after.
//! - `timers`, `refresh`: in-process netloop timer costs (1,000,000 timers
//!   set and fired; 1,000,000 socket idle-timeout refreshes), to set beside
//!   `bench/peers/node_timers.js`.
//! - `report DIR`: the Markdown report (BENCHMARKS.md) from the JSON files
//!   a `bench/compare.sh` run left in DIR.
//!
//! Every timed mode runs a warm-up, then measures for `--duration` (`10s`,
//! `500ms`, `2m`; a bare number is seconds). `--host` may be a name: it is
//! looked up once, before any connection, so the run measures the server
//! and not the resolver. With `--server-pid` the server's CPU time
//! (utime + stime from `/proc/PID/stat`, all threads, of the process and
//! of every process descended from it: a cluster's primary and workers)
//! over the measured window is divided by the work done; the part of it
//! spent by the acceptor (netloop's round-robin acceptor thread, or the
//! primary of a process tree) is reported on its own. A progress bar is drawn on a
//! terminal, plain lines otherwise; the result is a table, or with
//! `--json` one JSON object on stdout for scripts; `--hdr-log FILE` writes
//! the latency histogram in HdrHistogram's interval log format.
//!
//! With `--tls` (and `--ca FILE` or `--insecure`) the pingpong, stream,
//! connect and idle modes speak TLS 1.3 through rustls, every connection
//! sharing one client config (`tls.rs`); connect mode then measures full
//! handshakes per second, or resumed ones with `--tls-resume`.
//!
//! The exit status is non-zero when a connection or request failed or the
//! server went away, after the report is printed: a run that lost
//! connections measured something other than what was asked. When every
//! connection is lost (or, in connect mode, connects are refused) the
//! server is taken to have gone away: the run stops there and its rates
//! are over the time the server was up.

mod attack;
mod connect;
mod duration;
mod fields;
mod hdr_log;
mod idle;
mod json;
mod net;
mod output;
mod pingpong;
mod procfs;
mod progress;
mod report;
mod stream;
mod timers;
mod tls;

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;

use output::{Origin, Report};

/// What to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Pingpong,
    Stream,
    Connect,
    Idle,
    Timers,
    Refresh,
    Slowread,
    Halfopen,
    Rst,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Pingpong => "pingpong",
            Mode::Stream => "stream",
            Mode::Connect => "connect",
            Mode::Idle => "idle",
            Mode::Slowread => "slowread",
            Mode::Halfopen => "halfopen",
            Mode::Rst => "rst",
            Mode::Timers => "timers",
            Mode::Refresh => "refresh",
        }
    }
}

#[derive(clap::Args, Debug)]
#[command(subcommand_required = true, arg_required_else_help = true)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Request/response over N connections (closed loop, or open loop with --rate).
    Pingpong(LoadArgs),
    /// Bulk throughput both ways (one connection and 64 KiB writes by default).
    Stream(LoadArgs),
    /// Connect, echo one message, close: connections per second.
    Connect(LoadArgs),
    /// Open and hold N connections; the server's memory per connection.
    Idle(LoadArgs),
    /// Attack: write without ever reading; the server's memory must stay bounded.
    Slowread(LoadArgs),
    /// Attack: send, FIN, hold without reading; the server must close its side.
    Halfopen(LoadArgs),
    /// Attack: connect, write, reset as the echo starts, over and over.
    Rst(LoadArgs),
    /// 1,000,000 netloop timers set and fired (in-process, no server).
    Timers(TimerArgs),
    /// 1,000,000 netloop socket idle-timeout refreshes (in-process).
    Refresh(TimerArgs),
    /// The Markdown report (BENCHMARKS.md) of a bench/compare.sh results directory.
    Report(report::Args),
}

/// The options of the modes that talk to a server.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct LoadArgs {
    /// Server to connect to: an IP address, or a host name looked up once
    /// before the run.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Server port to connect to.
    #[arg(long, short = 'p', default_value_t = 7000)]
    pub port: u16,
    /// Connections (pingpong, stream, idle) or concurrent connect workers
    /// (connect) [default: 50; stream: 1].
    #[arg(long, short = 'c')]
    pub connections: Option<usize>,
    /// Message size in bytes; the size of each write in stream mode
    /// [default: 64; stream: 65536].
    #[arg(long, short = 's')]
    pub size: Option<usize>,
    /// Requests in flight per connection (pingpong, closed loop).
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// How long to measure: 10s, 500ms, 2m (a bare number is seconds).
    #[arg(long, short = 'd', default_value = "10s", value_parser = duration::parse)]
    pub duration: Duration,
    /// Warm-up before measuring (units as for --duration).
    #[arg(long, short = 'w', default_value = "2s", value_parser = duration::parse)]
    pub warmup: Duration,
    /// Load-generator threads, one mio loop each; connections are split
    /// between them.
    #[arg(long, short = 't', default_value_t = 1)]
    pub threads: usize,
    /// Open loop: total requests per second on a fixed schedule (pingpong).
    #[arg(long)]
    pub rate: Option<f64>,
    /// The server's process id: report its CPU per request (and its RSS
    /// growth per connection in idle mode).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Spread client connections over this many source addresses,
    /// 127.0.0.1, 127.0.0.2, ... (each has its own ephemeral-port range).
    /// 0 picks one per 25,000 connections in idle mode, none otherwise.
    #[arg(long, default_value_t = 0)]
    pub sources: usize,
    /// Idle mode: connects in flight at once while opening.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Idle mode: how long to hold the connections after measuring (units
    /// as for --duration).
    #[arg(long, default_value = "0s", value_parser = duration::parse)]
    pub hold: Duration,
    /// Write the latency histogram (nanoseconds) to FILE in HdrHistogram's
    /// interval log format (pingpong, connect).
    #[arg(long, value_name = "FILE")]
    pub hdr_log: Option<PathBuf>,
    #[command(flatten, next_help_heading = "TLS")]
    pub tls: tls::TlsArgs,
    #[command(flatten, next_help_heading = "Output")]
    pub out: OutputArgs,
}

/// The options of the in-process timer modes.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct TimerArgs {
    /// How many timers (timers) or refreshes (refresh).
    #[arg(long, default_value_t = 1_000_000)]
    pub count: u64,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// How the result is shown.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct OutputArgs {
    /// A name for this run, copied into the report (e.g. the server's name).
    #[arg(long)]
    pub label: Option<String>,
    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// No progress output.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Counters shared by the load-generator threads and the timeline thread.
pub(crate) struct Shared {
    /// Threads whose connections are up.
    pub ready: AtomicUsize,
    /// All threads may start sending.
    pub go: AtomicBool,
    /// Record latencies (the measured window is open).
    pub measuring: AtomicBool,
    /// Stop and return.
    pub stop: AtomicBool,
    /// Completed requests (or connections, in connect mode).
    pub requests: AtomicU64,
    /// Bytes received (stream mode).
    pub bytes: AtomicU64,
    /// Failed connections or requests, warm-up included.
    errors: AtomicU64,
    /// The first failure, with its address.
    first_error: Mutex<Option<String>>,
    /// Connections still up (pingpong, stream).
    alive: AtomicUsize,
    /// When the server went away, in nanoseconds since `epoch`; 0 while
    /// it is up.
    gone_ns: AtomicU64,
    epoch: Instant,
    /// Connect mode: explicit source ports skipped because another
    /// socket held them (`EADDRINUSE`), warm-up included.
    pub ports_skipped: AtomicU64,
    /// TLS: full and resumed handshakes finished in the measured window.
    pub handshakes_full: AtomicU64,
    pub handshakes_resumed: AtomicU64,
    /// TLS: what the first finished handshake negotiated.
    negotiated: OnceLock<tls::Negotiated>,
}

impl Shared {
    /// Counters for `connections` long-lived connections (0 in connect
    /// mode, whose connections come and go).
    pub(crate) fn new(connections: usize) -> Shared {
        Shared {
            ready: AtomicUsize::new(0),
            go: AtomicBool::new(false),
            measuring: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            first_error: Mutex::new(None),
            alive: AtomicUsize::new(connections),
            gone_ns: AtomicU64::new(0),
            epoch: Instant::now(),
            ports_skipped: AtomicU64::new(0),
            handshakes_full: AtomicU64::new(0),
            handshakes_resumed: AtomicU64::new(0),
            negotiated: OnceLock::new(),
        }
    }

    /// A TLS handshake finished on `stream`: note what it negotiated (the
    /// first time) and, in the measured window, whether it resumed.
    pub(crate) fn secured(&self, stream: &tls::Stream) {
        let Some(resumed) = stream.resumed() else {
            return;
        };
        if self.negotiated.get().is_none() {
            if let Some(n) = stream.negotiated() {
                // Another thread may have set it first: either is right.
                let _ = self.negotiated.set(n);
            }
        }
        if self.measuring() {
            let counter = if resumed {
                &self.handshakes_resumed
            } else {
                &self.handshakes_full
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn measuring(&self) -> bool {
        self.measuring.load(Ordering::Relaxed)
    }

    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// A connection or request failed; `what` says how, with the address.
    pub(crate) fn fail(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        first.get_or_insert(what);
    }

    /// A long-lived connection failed and is gone for good. When it was
    /// the last one, the server has gone away: nothing is left to measure.
    pub(crate) fn lost(&self, what: String) {
        self.fail(what);
        if self.alive.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.server_gone();
        }
    }

    /// The server is gone (every connection lost, or a connect refused):
    /// note when, and stop.
    pub(crate) fn server_gone(&self) {
        let now = (self.epoch.elapsed().as_nanos() as u64).max(1);
        let _ = self
            .gone_ns
            .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
        self.stop.store(true, Ordering::Release);
    }

    fn gone_at(&self) -> Option<Instant> {
        match self.gone_ns.load(Ordering::Acquire) {
            0 => None,
            ns => Some(self.epoch + Duration::from_nanos(ns)),
        }
    }

    fn first_error(&self) -> Option<String> {
        self.first_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A latency histogram in nanoseconds, 1 ns to 100 s, 3 significant digits.
pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds")
}

/// The resolved settings every mode reads.
pub(crate) struct Config {
    pub mode: Mode,
    pub args: LoadArgs,
    /// The server, looked up once.
    pub addr: SocketAddr,
    /// `--connections`, or the mode's default.
    pub connections: usize,
    /// `--size`, or the mode's default.
    pub size: usize,
    pub sources: Vec<IpAddr>,
    /// `--tls`: the client context every connection shares.
    pub tls: Option<tls::Client>,
}

impl Config {
    /// The source address for connection number `i` (none: let the kernel
    /// choose).
    pub(crate) fn source_for(&self, i: usize) -> Option<IpAddr> {
        if self.sources.is_empty() {
            None
        } else {
            Some(self.sources[i % self.sources.len()])
        }
    }
}

/// What one mode's run produced.
pub(crate) struct Run {
    pub report: Report,
    /// The latencies of the measured window, when the mode has them, with
    /// when that window opened and how long it lasted.
    pub latency: Option<(Histogram<u64>, SystemTime, Duration)>,
    /// Why the run counts as failed (the exit status), in words.
    pub failure: Option<String>,
}

impl Run {
    /// A run with a report only: no latencies, and failures, if any, are
    /// in the report's own fields (the attack modes).
    fn report(report: Report) -> Run {
        Run {
            report,
            latency: None,
            failure: None,
        }
    }
}

pub fn run(args: Args) -> netloop::Result<()> {
    let origin = Origin::now();
    let result = match args.command {
        Command::Pingpong(a) => load(Mode::Pingpong, a, &origin),
        Command::Stream(a) => load(Mode::Stream, a, &origin),
        Command::Connect(a) => load(Mode::Connect, a, &origin),
        Command::Idle(a) => load(Mode::Idle, a, &origin),
        Command::Slowread(a) => load(Mode::Slowread, a, &origin),
        Command::Halfopen(a) => load(Mode::Halfopen, a, &origin),
        Command::Rst(a) => load(Mode::Rst, a, &origin),
        Command::Timers(a) => timers::run_timers(&a).map(|r| print(&r, &a.out, &origin)),
        Command::Refresh(a) => timers::run_refresh(&a).map(|r| print(&r, &a.out, &origin)),
        Command::Report(a) => report::run(&a),
    };
    result.map_err(netloop::Error::from)
}

fn print(report: &Report, out: &OutputArgs, origin: &Origin) {
    if out.json {
        println!("{}", report.to_json(origin));
    } else {
        print!("{}", report.to_text());
    }
}

/// Run a mode against a server: settle the defaults, look the host up,
/// measure, print, and fail (after printing) if the run lost anything.
fn load(mode: Mode, args: LoadArgs, origin: &Origin) -> io::Result<()> {
    let stream = mode == Mode::Stream;
    let connections = args.connections.unwrap_or(if stream { 1 } else { 50 });
    let size = args.size.unwrap_or(if stream { 64 * 1024 } else { 64 });
    if let Err(e) = validate(mode, &args, connections, size) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, e));
    }
    // Load generators hold many sockets.
    let _ = netloop::process::raise_fd_limit();
    let addr = resolve(&args.host, args.port, args.out.quiet)?;
    let n_sources = match (args.sources, mode) {
        (0, Mode::Idle) => connections.div_ceil(25_000).max(1),
        (0, _) => 0,
        (n, _) => n,
    };
    let tls = match args.tls.tls {
        true => Some(tls::Client::new(&args.tls, &args.host, connections)?),
        false => None,
    };
    let cfg = Config {
        mode,
        sources: source_addresses(addr.ip(), n_sources),
        args,
        addr,
        connections,
        size,
        tls,
    };
    let mut run = match mode {
        Mode::Pingpong => pingpong::run(&cfg)?,
        Mode::Stream => stream::run(&cfg)?,
        Mode::Connect => connect::run(&cfg)?,
        Mode::Idle => idle::run(&cfg)?,
        Mode::Slowread => Run::report(attack::slow_reader(&cfg)?),
        Mode::Halfopen => Run::report(attack::half_open(&cfg)?),
        Mode::Rst => Run::report(attack::reset_mid_stream(&cfg)?),
        Mode::Timers | Mode::Refresh => unreachable!("timer modes need no server"),
    };
    if let (Some(path), Some((hist, started, window))) = (&cfg.args.hdr_log, &run.latency) {
        hdr_log::write(path, hist, *started, *window, cfg.args.out.label.as_deref())
            .map_err(|e| io::Error::new(e.kind(), format!("--hdr-log {}: {e}", path.display())))?;
        run.report.str(fields::HDR_LOG, &path.display().to_string());
    }
    print(&run.report, &cfg.args.out, origin);
    match run.failure {
        Some(why) => Err(io::Error::other(why)),
        None => Ok(()),
    }
}

fn validate(mode: Mode, args: &LoadArgs, connections: usize, size: usize) -> Result<(), String> {
    if connections == 0 {
        return Err("--connections must be at least 1".into());
    }
    if size == 0 {
        return Err("--size must be at least 1".into());
    }
    if args.pipeline == 0 {
        return Err("--pipeline must be at least 1".into());
    }
    if args.threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    if args.threads > connections {
        return Err("--threads must not exceed --connections".into());
    }
    if args.duration.is_zero() {
        return Err("--duration must be more than zero".into());
    }
    if let Some(r) = args.rate {
        if !(r > 0.0 && r.is_finite()) {
            return Err("--rate must be a positive number of requests per second".into());
        }
        if mode != Mode::Pingpong {
            return Err("--rate applies to pingpong mode only".into());
        }
    }
    if args.hdr_log.is_some() && !matches!(mode, Mode::Pingpong | Mode::Connect) {
        return Err("--hdr-log needs latencies: pingpong or connect mode".into());
    }
    if args.tls.tls
        && !matches!(
            mode,
            Mode::Pingpong | Mode::Stream | Mode::Connect | Mode::Idle
        )
    {
        return Err("--tls applies to pingpong, stream, connect and idle modes".into());
    }
    if args.tls.tls_resume && mode != Mode::Connect {
        // Long-lived connections handshake once: nothing to resume.
        return Err("--tls-resume applies to connect mode (one handshake per connection)".into());
    }
    Ok(())
}

/// The server's address, looked up once here so that no connection of the
/// run waits for the resolver. A name with several addresses (`localhost`
/// is often `::1` and `127.0.0.1`) is probed in the resolver's order and the
/// first that accepts a connection is used, as Node's `net.connect` does
/// with `autoSelectFamily`: a server listening on one family only is still
/// found. An IP literal is used as given, without a probe.
fn resolve(host: &str, port: u16, quiet: bool) -> io::Result<SocketAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let lookup_error =
        |e: io::Error| io::Error::new(e.kind(), format!("lookup {host}: {}", net::os_message(&e)));
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for a in (host, port).to_socket_addrs().map_err(lookup_error)? {
        if !addrs.contains(&a) {
            addrs.push(a);
        }
    }
    let chosen = match addrs.as_slice() {
        [] => {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("lookup {host}: no addresses"),
            ))
        }
        [one] => *one,
        several => {
            let mut failures = Vec::new();
            let mut found = None;
            for a in several {
                // The probe is closed at once; the server sees one short
                // connection before the run.
                match TcpStream::connect_timeout(a, Duration::from_secs(2)) {
                    Ok(_) => {
                        found = Some(*a);
                        break;
                    }
                    Err(e) => failures.push(net::describe("connect", *a, &e)),
                }
            }
            match found {
                Some(a) => a,
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionRefused,
                        format!("{host}: {}", failures.join("; ")),
                    ))
                }
            }
        }
    };
    if !quiet {
        eprintln!("{host} is {chosen}");
    }
    Ok(chosen)
}

/// `sources` addresses counting up from the server's loopback address
/// family: 127.0.0.1, 127.0.0.2, ... (all of 127/8 is loopback on Linux).
fn source_addresses(server: IpAddr, n: usize) -> Vec<IpAddr> {
    match server {
        IpAddr::V4(v4) if v4.is_loopback() => (0..n)
            .map(|i| IpAddr::V4(std::net::Ipv4Addr::from(0x7f00_0001u32 + i as u32)))
            .collect(),
        // Elsewhere only the server's own family's unspecified source makes
        // sense; one source is all we can offer.
        _ => Vec::new(),
    }
}

/// The numbers one measured window produced.
pub(crate) struct Window {
    /// When the window opened (for the latency log).
    pub started: SystemTime,
    /// The time the rates are over: the whole window, or the part of it
    /// before the server went away.
    pub elapsed: Duration,
    /// When the server went away, counted from the window's start.
    pub server_gone: Option<Duration>,
    pub requests: u64,
    pub bytes: u64,
    /// Failures over the whole run, warm-up included.
    pub errors: u64,
    pub first_error: Option<String>,
    /// Server CPU microseconds over the window (with `--server-pid`):
    /// every thread of its process tree.
    pub server_cpu_us: Option<f64>,
    /// The same window's server CPU in full: processes, and the
    /// acceptor's part.
    pub server_cpu: Option<procfs::ServerCpu>,
    /// Load-generator CPU microseconds over the window (this process).
    pub client_cpu_us: Option<f64>,
    /// The whole machine's CPUs busy and stolen over the window, in CPUs.
    pub machine_cpus: Option<(f64, f64)>,
}

/// Drive a timed run: wait for every worker to connect, warm up, measure,
/// stop. Returns the measured window; the workers are told to stop.
pub(crate) fn timeline(cfg: &Config, shared: &Shared, what: &str) -> io::Result<Window> {
    let args = &cfg.args;
    let threads = args.threads;
    let deadline = Instant::now() + Duration::from_secs(30);
    while shared.ready.load(Ordering::Acquire) < threads {
        if shared.stopped() {
            return Err(io::Error::other(format!(
                "connect {}: a load-generator thread failed while connecting",
                cfg.addr
            )));
        }
        if Instant::now() > deadline {
            shared.stop.store(true, Ordering::Release);
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "connect {}: connections not established within 30 s",
                    cfg.addr
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    shared.go.store(true, Ordering::Release);
    let mut bar = progress::Progress::new(args.out.quiet, what);
    let warmup = args.warmup;
    let start = Instant::now();
    while start.elapsed() < warmup && !shared.stopped() {
        std::thread::sleep(Duration::from_millis(50).min(warmup.saturating_sub(start.elapsed())));
        bar.warmup(start.elapsed(), warmup);
    }
    let pid = args.server_pid;
    let cpu0 = pid.and_then(procfs::server_cpu);
    let self0 = procfs::cpu_us(std::process::id());
    let machine0 = procfs::machine_cpu();
    let req0 = shared.requests.load(Ordering::Relaxed);
    let bytes0 = shared.bytes.load(Ordering::Relaxed);
    shared.measuring.store(true, Ordering::Release);
    let t0 = Instant::now();
    let started = SystemTime::now();
    let duration = args.duration;
    let mut last = (t0, req0, bytes0);
    while t0.elapsed() < duration && !shared.stopped() {
        std::thread::sleep(Duration::from_millis(100).min(duration.saturating_sub(t0.elapsed())));
        let now = Instant::now();
        let req = shared.requests.load(Ordering::Relaxed);
        let bytes = shared.bytes.load(Ordering::Relaxed);
        let dt = now.duration_since(last.0).as_secs_f64();
        if dt >= 0.5 {
            let rps = (req - last.1) as f64 / dt;
            let mbs = (bytes - last.2) as f64 / dt / 1e6;
            bar.measure(t0.elapsed(), duration, rps, mbs);
            last = (now, req, bytes);
        }
    }
    let end = Instant::now();
    let requests = shared.requests.load(Ordering::Relaxed) - req0;
    let bytes = shared.bytes.load(Ordering::Relaxed) - bytes0;
    let cpu1 = pid.and_then(procfs::server_cpu);
    let self1 = procfs::cpu_us(std::process::id());
    let machine1 = procfs::machine_cpu();
    shared.measuring.store(false, Ordering::Release);
    shared.stop.store(true, Ordering::Release);
    bar.finish();
    let first_error = shared.first_error();
    let gone = shared.gone_at().filter(|&g| g < end);
    if let Some(g) = gone {
        // Gone before the window opened, or before anything at all was
        // done (a connect refused from the start): there are no figures.
        let nothing = shared.requests.load(Ordering::Relaxed) == 0
            && shared.bytes.load(Ordering::Relaxed) == 0;
        let why = match (&first_error, nothing) {
            (Some(e), true) => Some(e.clone()),
            (None, true) => Some(format!("{} went away before anything was done", cfg.addr)),
            (_, false) if g <= t0 => Some(format!(
                "{} went away during the warm-up, {:.2} s in{}: nothing was measured",
                cfg.addr,
                g.duration_since(start).as_secs_f64(),
                first_error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            )),
            _ => None,
        };
        if let Some(why) = why {
            return Err(io::Error::new(io::ErrorKind::ConnectionAborted, why));
        }
    }
    Ok(Window {
        started,
        elapsed: gone.unwrap_or(end).duration_since(t0),
        server_gone: gone.map(|g| g.duration_since(t0)),
        requests,
        bytes,
        errors: shared.errors.load(Ordering::Relaxed),
        first_error,
        server_cpu_us: cpu0
            .as_ref()
            .zip(cpu1.as_ref())
            .map(|(a, b)| b.total_us - a.total_us),
        server_cpu: cpu0.zip(cpu1).map(|(a, b)| b.since(&a)),
        client_cpu_us: self0.zip(self1).map(|(a, b)| b - a),
        machine_cpus: machine0.zip(machine1).map(|(a, b)| {
            let us = end.duration_since(t0).as_secs_f64().max(1e-9) * 1e6;
            ((b.busy_us - a.busy_us) / us, (b.steal_us - a.steal_us) / us)
        }),
    })
}

/// Why a timed run failed, in words, or `None` if nothing did. `lost`
/// says what failed and how many ("3 of 50 connections lost").
pub(crate) fn failure(cfg: &Config, w: &Window, lost: &str) -> Option<String> {
    let first = w
        .first_error
        .as_deref()
        .map(|e| format!(" (first: {e})"))
        .unwrap_or_default();
    match w.server_gone {
        Some(at) => {
            let at = at.as_secs_f64();
            Some(format!(
                "{} went away {at:.2} s into the measured window: {lost}{first}; \
                 the rates are over those {at:.2} s",
                cfg.addr
            ))
        }
        None if w.errors > 0 => Some(format!("{lost}{first}")),
        None => None,
    }
}

/// Split `total` into `parts` near-equal shares.
pub(crate) fn split(total: usize, parts: usize) -> Vec<usize> {
    (0..parts)
        .map(|i| total / parts + usize::from(i < total % parts))
        .collect()
}

/// A load-generator thread's result: its latency histogram.
type Worker = std::thread::JoinHandle<io::Result<Histogram<u64>>>;

/// Spawn one worker per thread and gather their histograms.
pub(crate) fn spawn_workers<F>(cfg: &Config, shared: &Arc<Shared>, f: F) -> Vec<Worker>
where
    F: Fn(usize, usize, usize, &Shared) -> io::Result<Histogram<u64>> + Send + Sync + 'static,
{
    let f = Arc::new(f);
    let mut first = 0;
    let mut handles = Vec::new();
    for (t, n) in split(cfg.connections, cfg.args.threads)
        .into_iter()
        .enumerate()
    {
        let shared = Arc::clone(shared);
        let f = Arc::clone(&f);
        let begin = first;
        first += n;
        handles.push(
            std::thread::Builder::new()
                .name(format!("bench-{t}"))
                .spawn(move || {
                    let res = f(t, begin, n, &shared);
                    if res.is_err() {
                        shared.stop.store(true, Ordering::Release);
                    }
                    res
                })
                .expect("spawn a load-generator thread"),
        );
    }
    handles
}

/// Join the workers and merge their histograms; the first error wins.
pub(crate) fn join_workers(handles: Vec<Worker>) -> io::Result<Histogram<u64>> {
    let mut total = new_histogram();
    let mut first_err = None;
    for h in handles {
        match h.join() {
            Ok(Ok(hist)) => {
                total
                    .add(&hist)
                    .map_err(|e| io::Error::other(format!("{e:?}")))?;
            }
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(_) => {
                first_err.get_or_insert(io::Error::other("a load-generator thread panicked"));
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(total),
    }
}

/// The fields every timed mode reports.
pub(crate) fn base_report(cfg: &Config, w: &Window) -> Report {
    let a = &cfg.args;
    let mut r = Report::new();
    r.str(fields::MODE, cfg.mode.name());
    if let Some(l) = &a.out.label {
        r.str(fields::LABEL, l);
    }
    if a.host.parse::<IpAddr>().is_err() {
        r.str(fields::HOST, &a.host);
    }
    r.str(fields::SERVER, &cfg.addr.to_string());
    r.int(fields::CONNECTIONS, cfg.connections as u64);
    r.int(fields::SIZE, cfg.size as u64);
    r.int(fields::THREADS, a.threads as u64);
    r.float(fields::DURATION_S, w.elapsed.as_secs_f64());
    if let Some(at) = w.server_gone {
        r.float(fields::SERVER_GONE_S, at.as_secs_f64());
    }
    r.int(fields::ERRORS, w.errors);
    if let Some(e) = &w.first_error {
        r.str(fields::FIRST_ERROR, e);
    }
    if let Some(pid) = a.server_pid {
        r.int(fields::SERVER_PID, u64::from(pid));
    }
    if let Some(c) = w.client_cpu_us {
        r.float(fields::CLIENT_CPU_S, c / 1e6);
    }
    if let Some(cpu) = &w.server_cpu {
        server_tree_fields(&mut r, cpu);
    }
    if let Some((busy, steal)) = w.machine_cpus {
        // Other work on a shared machine shows here: what the machine was
        // busy with beyond the server and the generator.
        r.float(fields::MACHINE_CPUS_BUSY, busy);
        r.float(fields::MACHINE_CPUS_STEAL, steal);
    }
    r
}

/// The server's processes and its acceptor's CPU over a window.
pub(crate) fn server_tree_fields(r: &mut Report, cpu: &procfs::ServerCpu) {
    r.int(fields::SERVER_PROCESSES, cpu.processes as u64);
    if let Some((kind, us)) = cpu.acceptor {
        r.str(fields::SERVER_ACCEPTOR, kind.name());
        r.float(fields::SERVER_ACCEPTOR_CPU_S, us / 1e6);
        if cpu.total_us > 0.0 {
            r.float(fields::SERVER_ACCEPTOR_SHARE, us / cpu.total_us);
        }
    }
    if !cpu.workers.is_empty() {
        r.int(fields::SERVER_WORKERS, cpu.workers.len() as u64);
    }
    if let Some(share) = cpu.busiest_worker_share() {
        r.float(fields::SERVER_BUSIEST_WORKER_SHARE, share);
    }
}

/// The TLS settings and what the handshakes negotiated (nothing without
/// `--tls`).
pub(crate) fn tls_fields(r: &mut Report, cfg: &Config, shared: &Shared) {
    let t = &cfg.args.tls;
    if !t.tls {
        return;
    }
    if let Some(n) = shared.negotiated.get() {
        r.str(fields::TLS_VERSION, &n.version);
        r.str(fields::TLS_CIPHER, &n.cipher);
        r.str(fields::TLS_GROUP, &n.group);
    }
    r.str(
        fields::TLS_VERIFY,
        if t.insecure { "insecure" } else { "ca" },
    );
    if cfg.mode == Mode::Connect {
        r.int(fields::TLS_RESUME, u64::from(t.tls_resume));
        r.int(
            fields::HANDSHAKES_FULL,
            shared.handshakes_full.load(Ordering::Relaxed),
        );
        r.int(
            fields::HANDSHAKES_RESUMED,
            shared.handshakes_resumed.load(Ordering::Relaxed),
        );
    }
}

/// p50 .. max of a latency histogram, in microseconds.
pub(crate) fn latency_fields(r: &mut Report, h: &Histogram<u64>) {
    if h.is_empty() {
        return;
    }
    for (field, q) in [
        (fields::P50_US, 0.5),
        (fields::P90_US, 0.9),
        (fields::P99_US, 0.99),
        (fields::P999_US, 0.999),
    ] {
        r.float(field, h.value_at_quantile(q) as f64 / 1e3);
    }
    r.float(fields::MAX_US, h.max() as f64 / 1e3);
    r.float(fields::MEAN_US, h.mean() / 1e3);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals_are_used_as_given() {
        let a = resolve("127.0.0.1", 7000, true).unwrap();
        assert_eq!(a, "127.0.0.1:7000".parse().unwrap());
        let a = resolve("::1", 7000, true).unwrap();
        assert_eq!(a, "[::1]:7000".parse().unwrap());
    }

    #[test]
    fn an_unresolvable_name_says_which() {
        let e = resolve("no.way.you.will.resolve.this.invalid", 7000, true).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("lookup no.way.you.will.resolve.this.invalid: "),
            "{e}"
        );
    }

    #[test]
    fn a_lost_last_connection_means_the_server_went_away() {
        let shared = Shared::new(2);
        shared.lost("read 127.0.0.1:1: first".into());
        assert!(shared.gone_at().is_none() && !shared.stopped());
        shared.lost("read 127.0.0.1:1: second".into());
        assert!(shared.gone_at().is_some() && shared.stopped());
        assert_eq!(shared.errors.load(Ordering::Relaxed), 2);
        assert_eq!(shared.first_error().unwrap(), "read 127.0.0.1:1: first");
    }
}
