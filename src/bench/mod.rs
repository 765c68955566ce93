//! `netloop bench`: a load generator on plain mio, one loop per thread.
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
//!
//! Every mode runs a warm-up, then measures for `--duration` seconds. With
//! `--server-pid` the server's CPU time (utime + stime from
//! `/proc/PID/stat`, all threads) over the measured window is divided by
//! the work done. A progress bar is drawn on a terminal, plain lines
//! otherwise; `--json` prints one JSON object on stdout for scripts.

mod attack;
mod connect;
mod idle;
mod net;
mod pingpong;
mod procfs;
mod progress;
mod report;
mod stream;
mod timers;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

pub(crate) use report::Report;

/// What to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Request/response over N connections (closed loop, or open loop with --rate).
    Pingpong,
    /// Bulk throughput both ways.
    Stream,
    /// Connect, echo one message, close: connections per second.
    Connect,
    /// Open and hold N connections; the server's memory per connection.
    Idle,
    /// Attack: write without ever reading; the server's memory must stay bounded.
    Slowread,
    /// Attack: send, FIN, hold without reading; the server must close its side.
    Halfopen,
    /// Attack: connect, write, reset as the echo starts, over and over.
    Rst,
    /// 1,000,000 netloop timers set and fired (in-process, no server).
    Timers,
    /// 1,000,000 netloop socket idle-timeout refreshes (in-process).
    Refresh,
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

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// What to measure.
    #[arg(value_enum)]
    pub mode: Mode,
    /// Server address (an IP literal).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Server port.
    #[arg(long, short = 'p', default_value_t = 7000)]
    pub port: u16,
    /// Connections (pingpong, stream, idle) or concurrent connect workers (connect).
    #[arg(long, short = 'c', default_value_t = 50)]
    pub connections: usize,
    /// Message size in bytes (the chunk size in stream mode).
    #[arg(long, short = 's', default_value_t = 64)]
    pub size: usize,
    /// Requests in flight per connection (pingpong, closed loop).
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// Seconds to measure.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of warm-up before measuring.
    #[arg(long, short = 'w', default_value_t = 2.0)]
    pub warmup: f64,
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
    /// Idle mode: seconds to hold the connections after measuring.
    #[arg(long, default_value_t = 0.0)]
    pub hold: f64,
    /// Timers and refresh modes: how many.
    #[arg(long, default_value_t = 1_000_000)]
    pub count: u64,
    /// A name for this run, copied into the report (e.g. the server's name).
    #[arg(long)]
    pub label: Option<String>,
    /// Print one JSON object on stdout instead of the text report.
    #[arg(long)]
    pub json: bool,
    /// No progress output.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Counters shared by the load-generator threads and the timeline thread.
#[derive(Default)]
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
    /// Failed connections or reads.
    pub errors: AtomicU64,
}

impl Shared {
    pub(crate) fn measuring(&self) -> bool {
        self.measuring.load(Ordering::Relaxed)
    }

    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// A latency histogram in nanoseconds, 1 ns to 100 s, 3 significant digits.
pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds")
}

/// The resolved settings every mode reads.
pub(crate) struct Config {
    pub args: Args,
    pub addr: SocketAddr,
    pub sources: Vec<IpAddr>,
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

pub fn run(args: Args) -> netloop::Result<()> {
    match run_inner(args) {
        Ok(()) => Ok(()),
        Err(e) => Err(netloop::Error::from(e)),
    }
}

fn run_inner(args: Args) -> std::io::Result<()> {
    if let Err(e) = validate(&args) {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, e));
    }
    // Load generators hold many sockets.
    let _ = netloop::process::raise_fd_limit();
    let report = match args.mode {
        Mode::Timers => timers::run_timers(&args)?,
        Mode::Refresh => timers::run_refresh(&args)?,
        mode => {
            let ip: IpAddr = args.host.parse().map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("--host must be an IP address, got {:?}", args.host),
                )
            })?;
            let addr = SocketAddr::new(ip, args.port);
            let n_sources = match (args.sources, mode) {
                (0, Mode::Idle) => args.connections.div_ceil(25_000).max(1),
                (0, _) => 0,
                (n, _) => n,
            };
            let sources = source_addresses(ip, n_sources);
            let cfg = Config {
                args: args.clone(),
                addr,
                sources,
            };
            match mode {
                Mode::Pingpong => pingpong::run(&cfg)?,
                Mode::Stream => stream::run(&cfg)?,
                Mode::Connect => connect::run(&cfg)?,
                Mode::Idle => idle::run(&cfg)?,
                Mode::Slowread => attack::slow_reader(&cfg)?,
                Mode::Halfopen => attack::half_open(&cfg)?,
                Mode::Rst => attack::reset_mid_stream(&cfg)?,
                Mode::Timers | Mode::Refresh => unreachable!("handled above"),
            }
        }
    };
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}

fn validate(args: &Args) -> Result<(), String> {
    if args.connections == 0 {
        return Err("--connections must be at least 1".into());
    }
    if args.size == 0 {
        return Err("--size must be at least 1".into());
    }
    if args.pipeline == 0 {
        return Err("--pipeline must be at least 1".into());
    }
    if args.threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    if args.threads > args.connections {
        return Err("--threads must not exceed --connections".into());
    }
    if !(args.duration > 0.0 && args.duration.is_finite()) {
        return Err("--duration must be a positive number of seconds".into());
    }
    if !(args.warmup >= 0.0 && args.warmup.is_finite()) {
        return Err("--warmup must be zero or more seconds".into());
    }
    if let Some(r) = args.rate {
        if !(r > 0.0 && r.is_finite()) {
            return Err("--rate must be a positive number of requests per second".into());
        }
        if args.mode != Mode::Pingpong {
            return Err("--rate applies to pingpong mode only".into());
        }
    }
    Ok(())
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
    pub elapsed: Duration,
    pub requests: u64,
    pub bytes: u64,
    pub errors: u64,
    /// Server CPU microseconds over the window (with `--server-pid`).
    pub server_cpu_us: Option<f64>,
    /// Load-generator CPU microseconds over the window (this process).
    pub client_cpu_us: Option<f64>,
}

/// Drive a timed run: wait for every worker to connect, warm up, measure,
/// stop. Returns the measured window; the workers are told to stop.
pub(crate) fn timeline(
    cfg: &Config,
    shared: &Shared,
    threads: usize,
    what: &str,
) -> std::io::Result<Window> {
    let args = &cfg.args;
    let deadline = Instant::now() + Duration::from_secs(30);
    while shared.ready.load(Ordering::Acquire) < threads {
        if shared.stopped() {
            return Err(std::io::Error::other(
                "a load-generator thread failed while connecting",
            ));
        }
        if Instant::now() > deadline {
            shared.stop.store(true, Ordering::Release);
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connections not established within 30 s",
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    shared.go.store(true, Ordering::Release);
    let mut bar = progress::Progress::new(args.quiet, what);
    let warmup = Duration::from_secs_f64(args.warmup);
    let start = Instant::now();
    while start.elapsed() < warmup && !shared.stopped() {
        std::thread::sleep(Duration::from_millis(50).min(warmup.saturating_sub(start.elapsed())));
        bar.warmup(start.elapsed(), warmup);
    }
    let pid = args.server_pid;
    let cpu0 = pid.and_then(procfs::cpu_us);
    let self0 = procfs::cpu_us(std::process::id());
    let req0 = shared.requests.load(Ordering::Relaxed);
    let bytes0 = shared.bytes.load(Ordering::Relaxed);
    let err0 = shared.errors.load(Ordering::Relaxed);
    shared.measuring.store(true, Ordering::Release);
    let t0 = Instant::now();
    let duration = Duration::from_secs_f64(args.duration);
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
    let elapsed = t0.elapsed();
    let requests = shared.requests.load(Ordering::Relaxed) - req0;
    let bytes = shared.bytes.load(Ordering::Relaxed) - bytes0;
    let errors = shared.errors.load(Ordering::Relaxed) - err0;
    let cpu1 = pid.and_then(procfs::cpu_us);
    let self1 = procfs::cpu_us(std::process::id());
    shared.measuring.store(false, Ordering::Release);
    shared.stop.store(true, Ordering::Release);
    bar.finish();
    Ok(Window {
        elapsed,
        requests,
        bytes,
        errors,
        server_cpu_us: cpu0.zip(cpu1).map(|(a, b)| b - a),
        client_cpu_us: self0.zip(self1).map(|(a, b)| b - a),
    })
}

/// Split `total` into `parts` near-equal shares.
pub(crate) fn split(total: usize, parts: usize) -> Vec<usize> {
    (0..parts)
        .map(|i| total / parts + usize::from(i < total % parts))
        .collect()
}

/// Spawn one worker per thread and gather their histograms.
pub(crate) fn spawn_workers<F>(
    cfg: &Config,
    shared: &Arc<Shared>,
    f: F,
) -> Vec<std::thread::JoinHandle<std::io::Result<Histogram<u64>>>>
where
    F: Fn(usize, usize, usize, &Shared) -> std::io::Result<Histogram<u64>> + Send + Sync + 'static,
{
    let f = Arc::new(f);
    let mut first = 0;
    let mut handles = Vec::new();
    for (t, n) in split(cfg.args.connections, cfg.args.threads)
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
pub(crate) fn join_workers(
    handles: Vec<std::thread::JoinHandle<std::io::Result<Histogram<u64>>>>,
) -> std::io::Result<Histogram<u64>> {
    let mut total = new_histogram();
    let mut first_err = None;
    for h in handles {
        match h.join() {
            Ok(Ok(hist)) => {
                total
                    .add(&hist)
                    .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
            }
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(_) => {
                first_err.get_or_insert(std::io::Error::other("a load-generator thread panicked"));
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
    r.str("mode", a.mode.name());
    if let Some(l) = &a.label {
        r.str("label", l);
    }
    r.str("server", &cfg.addr.to_string());
    r.int("connections", a.connections as u64);
    r.int("size", a.size as u64);
    r.int("threads", a.threads as u64);
    r.float("duration_s", w.elapsed.as_secs_f64());
    r.int("errors", w.errors);
    if let Some(pid) = a.server_pid {
        r.int("server_pid", u64::from(pid));
    }
    if let Some(c) = w.client_cpu_us {
        r.float("client_cpu_s", c / 1e6);
    }
    r
}

/// p50 .. max of a latency histogram, in microseconds.
pub(crate) fn latency_fields(r: &mut Report, h: &Histogram<u64>) {
    if h.is_empty() {
        return;
    }
    for (name, q) in [
        ("p50_us", 0.5),
        ("p90_us", 0.9),
        ("p99_us", 0.99),
        ("p999_us", 0.999),
    ] {
        r.float(name, h.value_at_quantile(q) as f64 / 1e3);
    }
    r.float("max_us", h.max() as f64 / 1e3);
    r.float("mean_us", h.mean() / 1e3);
}
