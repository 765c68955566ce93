//! `connect`: `-c` workers each connect, write one message, read its echo
//! and close, over and over. The figure is completed cycles per second;
//! the latency is one whole cycle (connect start to echo received).
//!
//! The client closes first, so the TIME_WAIT sockets are the client's.
//! Left to the kernel, `connect()` then searches the ephemeral range past
//! thousands of TIME_WAIT entries for a usable port (`__inet_hash_connect`
//! was 18% of the generator's CPU in `perf`, enough to make the generator,
//! not the server, the bottleneck). So on loopback the generator picks its
//! source ports itself: round-robin over ports 10000..30000 (below the
//! kernel's ephemeral range) of `--sources` addresses 127.0.0.1, .2, ...
//! (default 4), each bound with `SO_REUSEADDR`; the kernel reuses the
//! port's TIME_WAIT entry (`tcp_tw_reuse`, on for loopback by default),
//! and each port comes round again only after seconds.
//!
//! With `--tls` each cycle is a TLS handshake as well (full, or resumed
//! with `--tls-resume`): connect, handshake, echo, close_notify, close.
//! The figure is then handshakes per second.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::{Events, Interest, Poll, Token};

use super::net;
use super::tls::{self, Stream};
use super::{fields, Config, Run, Shared};

/// Slot index in the low 32 bits of a token, the slot's generation above,
/// so an event for a socket closed earlier in the same batch is ignored.
const SLOT_BITS: u32 = 32;

struct Slot {
    stream: Option<Stream>,
    generation: u64,
    started: Instant,
    connected: bool,
    /// The TLS handshake is done and the message sent (at once after the
    /// connect for plain TCP).
    secured: bool,
    received: usize,
}

pub(crate) fn run(cfg: &Config) -> std::io::Result<Run> {
    let shared = Arc::new(Shared::new(0));
    let addr = cfg.addr;
    let size = cfg.size;
    let sources = cfg.sources.clone();
    let n_sources = sources.len();
    let threads = cfg.args.threads;
    let tls = cfg.tls.clone();
    let handles = super::spawn_workers(cfg, &shared, move |t, _, n, shared| {
        let ports = PortCycle::new(&sources, t, threads);
        worker(addr, ports, tls.as_ref(), n, size, shared)
    });
    let window = super::timeline(cfg, &shared, "connect");
    shared.stop.store(true, Ordering::Release);
    let hist = super::join_workers(handles)?;
    let w = window?;
    let mut r = super::base_report(cfg, &w);
    super::tls_fields(&mut r, cfg, &shared);
    r.int(fields::SOURCES, n_sources.max(1) as u64);
    r.int(fields::CONNECTS, w.requests);
    let skipped = shared.ports_skipped.load(Ordering::Relaxed);
    if skipped > 0 {
        r.int(fields::SOURCE_PORTS_SKIPPED, skipped);
    }
    r.float(fields::CONNS_S, w.requests as f64 / w.elapsed.as_secs_f64());
    super::latency_fields(&mut r, &hist);
    if let Some(cpu) = w.server_cpu_us {
        r.float(fields::SERVER_CPU_S, cpu / 1e6);
        r.float(
            fields::SERVER_CPU_US_PER_CONN,
            cpu / w.requests.max(1) as f64,
        );
        r.float(fields::SERVER_CPU_UTIL, cpu / 1e6 / w.elapsed.as_secs_f64());
    }
    let lost = format!("{} connects failed", w.errors);
    Ok(Run {
        report: r,
        failure: super::failure(cfg, &w, &lost),
        latency: Some((hist, w.started, w.elapsed)),
    })
}

/// Explicit source addresses for the connections of one thread: its share
/// of ports 10000..30000 on each source address, taken in turn.
struct PortCycle {
    sources: Vec<std::net::IpAddr>,
    ports: std::ops::Range<u16>,
    next: usize,
}

impl PortCycle {
    const FIRST: u16 = 10_000;
    const END: u16 = 30_000;

    fn new(sources: &[std::net::IpAddr], thread: usize, threads: usize) -> PortCycle {
        let share = (Self::END - Self::FIRST) / threads.max(1) as u16;
        let first = Self::FIRST + share * thread as u16;
        PortCycle {
            sources: sources.to_vec(),
            ports: first..first + share,
            next: 0,
        }
    }

    /// The next source; `None` to let the kernel choose (no sources).
    fn next(&mut self) -> Option<std::net::SocketAddr> {
        if self.sources.is_empty() {
            return None;
        }
        let per_ip = self.ports.len();
        let i = self.next % (per_ip * self.sources.len());
        self.next = self.next.wrapping_add(1);
        let ip = self.sources[i % self.sources.len()];
        let port = self.ports.start + (i / self.sources.len()) as u16;
        Some(std::net::SocketAddr::new(ip, port))
    }
}

/// Source ports tried for one connection before its failure counts: a
/// port that another socket on the machine holds (another program's
/// generator using the same range, or a 4-tuple still in use) fails with
/// `EADDRINUSE`, which says nothing about the server; the next port in
/// the cycle is tried instead, and the skip is counted.
const PORT_TRIES: usize = 8;

fn connect_skipping_busy_ports(
    addr: std::net::SocketAddr,
    ports: &mut PortCycle,
    shared: &Shared,
) -> std::io::Result<mio::net::TcpStream> {
    let mut tries = 1;
    loop {
        match net::connect_from(addr, ports.next()) {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < PORT_TRIES => {
                shared.ports_skipped.fetch_add(1, Ordering::Relaxed);
                tries += 1;
            }
            other => return other,
        }
    }
}

fn worker(
    addr: std::net::SocketAddr,
    mut ports: PortCycle,
    tls: Option<&tls::Client>,
    slots_n: usize,
    size: usize,
    shared: &Shared,
) -> std::io::Result<Histogram<u64>> {
    let mut hist = super::new_histogram();
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let payload = vec![b'x'; size];
    let mut buf = vec![0u8; 64 * 1024];
    let mut slots: Vec<Slot> = (0..slots_n)
        .map(|_| Slot {
            stream: None,
            generation: 0,
            started: Instant::now(),
            connected: false,
            secured: false,
            received: 0,
        })
        .collect();
    shared.ready.fetch_add(1, Ordering::AcqRel);
    while !shared.go.load(Ordering::Acquire) {
        if shared.stopped() {
            return Ok(hist);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut open = |slot: &mut Slot, i: usize, poll: &Poll| -> std::io::Result<()> {
        let tcp = connect_skipping_busy_ports(addr, &mut ports, shared)?;
        let mut s = Stream::new(tcp, tls)?;
        slot.generation += 1;
        let token = Token(i | ((slot.generation as usize) << SLOT_BITS));
        poll.registry()
            .register(&mut s, token, Interest::READABLE | Interest::WRITABLE)?;
        slot.stream = Some(s);
        slot.started = Instant::now();
        slot.connected = false;
        slot.secured = false;
        slot.received = 0;
        Ok(())
    };
    // Slots waiting for a new connection (a failed open is retried after
    // the next poll, so running out of ports slows the run, not ends it).
    let mut empty: Vec<usize> = (0..slots_n).collect();
    while !shared.stopped() {
        for i in std::mem::take(&mut empty) {
            if let Err(e) = open(&mut slots[i], i, &poll) {
                if e.kind() == std::io::ErrorKind::ConnectionRefused {
                    shared.server_gone();
                }
                shared.fail(net::describe("connect", addr, &e));
                empty.push(i);
            }
        }
        let timeout = if empty.is_empty() { 50 } else { 1 };
        poll.poll(&mut events, Some(Duration::from_millis(timeout)))?;
        let measuring = shared.measuring();
        let mut completed = 0u64;
        for ev in events.iter() {
            let i = ev.token().0 & ((1usize << SLOT_BITS) - 1);
            let generation = (ev.token().0 >> SLOT_BITS) as u64;
            let slot = &mut slots[i];
            if slot.generation != generation {
                continue;
            }
            let Some(s) = slot.stream.as_mut() else {
                continue;
            };
            let mut failed = None;
            if !slot.connected && (ev.is_writable() || ev.is_error()) {
                match net::finish_connect(s.tcp()) {
                    Ok(true) => slot.connected = true,
                    Ok(false) => {}
                    Err(e) => {
                        // Nothing listens any more (a full accept queue
                        // drops the SYN instead of refusing it): the server
                        // has gone away, and every later connect would fail
                        // the same way.
                        if e.kind() == std::io::ErrorKind::ConnectionRefused {
                            shared.server_gone();
                        }
                        failed = Some(net::describe("connect", addr, &e));
                    }
                }
            }
            // The TLS handshake (none for plain TCP), then the message.
            if failed.is_none() && slot.connected && !slot.secured {
                match s.handshake() {
                    Ok(true) => {
                        slot.secured = true;
                        shared.secured(s);
                        match net::write_owed(s, &payload, size) {
                            Ok(n) if n == size => {}
                            Ok(_) => failed = Some(format!("write {addr}: a short write")),
                            Err(e) => failed = Some(net::describe("write", addr, &e)),
                        }
                    }
                    Ok(false) => {}
                    Err(e) => failed = Some(net::describe("handshake", addr, &e)),
                }
            }
            if failed.is_none() && slot.secured && (ev.is_readable() || ev.is_read_closed()) {
                match net::read_all(s, &mut buf) {
                    Ok((n, closed)) => {
                        slot.received += n;
                        if slot.received >= size {
                            let now = Instant::now();
                            if measuring {
                                hist.saturating_record(
                                    now.duration_since(slot.started).as_nanos().max(1) as u64,
                                );
                            }
                            completed += 1;
                            s.close_notify();
                            slot.stream = None; // close
                            empty.push(i);
                            continue;
                        }
                        if closed {
                            failed = Some(net::closed(addr));
                        }
                    }
                    Err(e) => failed = Some(net::describe("read", addr, &e)),
                }
            }
            if let Some(why) = failed {
                shared.fail(why);
                slot.stream = None;
                empty.push(i);
            }
        }
        if completed > 0 {
            shared.requests.fetch_add(completed, Ordering::Relaxed);
        }
    }
    Ok(hist)
}
