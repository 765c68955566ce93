//! `pingpong`: request/response over N connections.
//!
//! Closed loop: each connection keeps `--pipeline` messages in flight and
//! sends one more for every echo that completes. Open loop (`--rate`):
//! request k of a thread is due at `start + k / rate`, goes to connection
//! `k % N`, and its latency is measured from when it was due, so time the
//! server spends stalled is charged to every request it held up.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::{Events, Interest, Poll, Token};

use super::net;
use super::tls::{self, Stream};
use super::{fields, Config, Run, Shared};

struct Conn {
    stream: Stream,
    /// When each request in flight was sent (or due, in open loop).
    sent: VecDeque<Instant>,
    /// Bytes of the current response received so far.
    partial: usize,
    /// Bytes accepted for sending that the kernel has not taken yet.
    owed: usize,
    connected: bool,
    /// The TLS handshake is done (at once for plain TCP).
    secured: bool,
    dead: bool,
}

pub(crate) fn run(cfg: &Config) -> std::io::Result<Run> {
    let shared = Arc::new(Shared::new(cfg.connections));
    let addr = cfg.addr;
    let size = cfg.size;
    let pipeline = cfg.args.pipeline;
    let threads = cfg.args.threads;
    let rate = cfg.args.rate.map(|r| r / threads as f64);
    let sources: Vec<_> = (0..cfg.connections).map(|i| cfg.source_for(i)).collect();
    let tls = cfg.tls.clone();
    let handles = super::spawn_workers(cfg, &shared, move |_, first, n, shared| {
        worker(
            addr,
            &sources[first..first + n],
            tls.as_ref(),
            size,
            pipeline,
            rate,
            shared,
        )
    });
    let what = if cfg.args.rate.is_some() {
        "rate"
    } else {
        "pingpong"
    };
    let window = super::timeline(cfg, &shared, what);
    shared.stop.store(true, Ordering::Release);
    let hist = super::join_workers(handles)?;
    let w = window?;
    let mut r = super::base_report(cfg, &w);
    super::tls_fields(&mut r, cfg, &shared);
    r.int(fields::PIPELINE, pipeline as u64);
    if let Some(rate) = cfg.args.rate {
        r.float(fields::TARGET_RPS, rate);
    }
    r.int(fields::REQUESTS, w.requests);
    let rps = w.requests as f64 / w.elapsed.as_secs_f64();
    r.float(fields::RPS, rps);
    super::latency_fields(&mut r, &hist);
    if let Some(cpu) = w.server_cpu_us {
        r.float(fields::SERVER_CPU_S, cpu / 1e6);
        r.float(
            fields::SERVER_CPU_US_PER_REQ,
            cpu / w.requests.max(1) as f64,
        );
        r.float(fields::SERVER_CPU_UTIL, cpu / 1e6 / w.elapsed.as_secs_f64());
    }
    let lost = format!("{} of {} connections lost", w.errors, cfg.connections);
    Ok(Run {
        report: r,
        failure: super::failure(cfg, &w, &lost),
        latency: Some((hist, w.started, w.elapsed)),
    })
}

fn worker(
    addr: std::net::SocketAddr,
    sources: &[Option<std::net::IpAddr>],
    tls: Option<&tls::Client>,
    size: usize,
    pipeline: usize,
    rate: Option<f64>,
    shared: &Shared,
) -> std::io::Result<Histogram<u64>> {
    let mut hist = super::new_histogram();
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut conns = Vec::with_capacity(sources.len());
    for (i, src) in sources.iter().enumerate() {
        let tcp = net::connect(addr, *src).map_err(|e| net::error("connect", addr, e))?;
        let mut stream = Stream::new(tcp, tls)?;
        poll.registry().register(
            &mut stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        conns.push(Conn {
            stream,
            sent: VecDeque::new(),
            partial: 0,
            owed: 0,
            connected: false,
            secured: false,
            dead: false,
        });
    }
    // Wait for every connection (and TLS handshake), then for the other
    // threads.
    let mut up = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while up < conns.len() {
        if shared.stopped() || Instant::now() > deadline {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "connect {addr}: {up} of {} connections established within 20 s",
                    conns.len()
                ),
            ));
        }
        poll.poll(&mut events, Some(Duration::from_millis(50)))?;
        for ev in events.iter() {
            let c = &mut conns[ev.token().0];
            if !c.connected
                && (ev.is_writable() || ev.is_error())
                && net::finish_connect(c.stream.tcp())
                    .map_err(|e| net::error("connect", addr, e))?
            {
                c.connected = true;
            }
            if c.connected
                && !c.secured
                && c.stream
                    .handshake()
                    .map_err(|e| net::error("handshake", addr, e))?
            {
                c.secured = true;
                shared.secured(&c.stream);
                up += 1;
            }
        }
    }
    shared.ready.fetch_add(1, Ordering::AcqRel);
    while !shared.go.load(Ordering::Acquire) {
        if shared.stopped() {
            return Ok(hist);
        }
        std::thread::sleep(Duration::from_millis(1));
    }

    let payload = vec![b'x'; (size * pipeline).max(64 * 1024)];
    let mut buf = vec![0u8; 64 * 1024];
    let start = Instant::now();
    if rate.is_none() {
        for c in conns.iter_mut() {
            let now = Instant::now();
            c.sent.extend(std::iter::repeat_n(now, pipeline));
            c.owed = size * pipeline;
            c.owed -= net::write_owed(&mut c.stream, &payload, c.owed)?;
        }
    }
    // Open loop schedule.
    let interval = rate.map(|r| Duration::from_secs_f64(1.0 / r));
    let mut next_k: u64 = 0;
    let mut next_due = start;
    let n = conns.len();

    while !shared.stopped() {
        let timeout = match interval {
            None => Some(Duration::from_millis(50)),
            Some(iv) => {
                // Send everything that is due (a burst if we fell behind).
                let now = Instant::now();
                while next_due <= now {
                    let i = (next_k % n as u64) as usize;
                    let c = &mut conns[i];
                    if !c.dead {
                        c.sent.push_back(next_due);
                        c.owed += size;
                        if c.owed == size {
                            match net::write_owed(&mut c.stream, &payload, c.owed) {
                                Ok(k) => c.owed -= k,
                                Err(e) => kill(c, shared, net::describe("write", addr, &e)),
                            }
                        }
                    }
                    next_k += 1;
                    next_due = start + iv.mul_f64(next_k as f64);
                }
                // epoll waits in whole milliseconds: spin through the last
                // one so requests leave on time.
                let gap = next_due.saturating_duration_since(Instant::now());
                Some(if gap < Duration::from_micros(1500) {
                    Duration::ZERO
                } else {
                    (gap - Duration::from_millis(1)).min(Duration::from_millis(50))
                })
            }
        };
        poll.poll(&mut events, timeout)?;
        let measuring = shared.measuring();
        let mut completed = 0u64;
        for ev in events.iter() {
            let c = &mut conns[ev.token().0];
            if c.dead {
                continue;
            }
            if ev.is_writable() {
                // TLS records a full socket refused go first.
                if let Err(e) = c.stream.flush_pending() {
                    kill(c, shared, net::describe("write", addr, &e));
                    continue;
                }
            }
            if ev.is_writable() && c.owed > 0 {
                match net::write_owed(&mut c.stream, &payload, c.owed) {
                    Ok(k) => c.owed -= k,
                    Err(e) => {
                        kill(c, shared, net::describe("write", addr, &e));
                        continue;
                    }
                }
            }
            if !(ev.is_readable() || ev.is_read_closed() || ev.is_error()) {
                continue;
            }
            let (got, closed) = match net::read_all(&mut c.stream, &mut buf) {
                Ok(x) => x,
                Err(e) => {
                    kill(c, shared, net::describe("read", addr, &e));
                    continue;
                }
            };
            c.partial += got;
            let done = c.partial / size;
            c.partial %= size;
            if done > 0 {
                let now = Instant::now();
                for _ in 0..done {
                    if let Some(t) = c.sent.pop_front() {
                        if measuring {
                            hist.saturating_record(now.duration_since(t).as_nanos().max(1) as u64);
                        }
                    }
                }
                completed += done as u64;
                if interval.is_none() {
                    // Closed loop: one new request per completed one.
                    c.sent.extend(std::iter::repeat_n(now, done));
                    let was_idle = c.owed == 0;
                    c.owed += size * done;
                    if was_idle {
                        match net::write_owed(&mut c.stream, &payload, c.owed) {
                            Ok(k) => c.owed -= k,
                            Err(e) => {
                                kill(c, shared, net::describe("write", addr, &e));
                                continue;
                            }
                        }
                    }
                }
            }
            if closed {
                kill(c, shared, net::closed(addr));
            }
        }
        if completed > 0 {
            shared.requests.fetch_add(completed, Ordering::Relaxed);
        }
    }
    Ok(hist)
}

/// A connection failed: it sends no more, and counts as lost.
fn kill(c: &mut Conn, shared: &Shared, why: String) {
    if !c.dead {
        c.dead = true;
        shared.lost(why);
    }
}
