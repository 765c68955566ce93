//! Misbehaving clients, for `scripts/stress.sh`: each runs for
//! `--duration` seconds against an echo server on loopback and reports
//! what it did and, with `--server-pid`, the server's resident memory and
//! descriptor count before, at the peak, and after (one second after the
//! attack's sockets closed).
//!
//! - `slowread`: `-c` connections write `--size`-byte chunks as fast as the
//!   kernel takes them and never read. An echo server with backpressure
//!   stops reading once its replies cannot leave, so the bytes it accepts
//!   and its memory stay bounded (by the socket buffers and its high-water
//!   mark) however long the attack runs; one without keeps buffering.
//! - `halfopen`: `-c` connections each send `--size` bytes, then their FIN
//!   (`shutdown(SHUT_WR)`), and are held open without ever reading. A server
//!   that is not half-open ends its side and closes; the report counts the
//!   connections whose server side closed while the client still held
//!   them, and the server's descriptors during the hold.
//! - `rst`: `-c` workers connect, write `--size` bytes and close with an
//!   RST (`SO_LINGER` 0) as soon as the first echoed bytes arrive, over and
//!   over: every connection dies mid-stream.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use super::net;
use super::procfs;
use super::{fields, Config, Report};

/// What the server looked like: resident KiB and open descriptors.
#[derive(Clone, Copy, Default)]
struct Sample {
    rss_kib: u64,
    fds: u64,
}

fn sample(pid: u32) -> Option<Sample> {
    Some(Sample {
        rss_kib: procfs::rss_kib(pid)?,
        fds: procfs::fd_count(pid)?,
    })
}

/// Samples the server every 100 ms on a thread of its own and keeps the
/// peak of each figure.
struct Watcher {
    pid: Option<u32>,
    before: Option<Sample>,
    peak: Arc<Mutex<Sample>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watcher {
    fn start(pid: Option<u32>) -> Watcher {
        let before = pid.and_then(sample);
        let peak = Arc::new(Mutex::new(before.unwrap_or_default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = pid.map(|pid| {
            let (peak, stop) = (Arc::clone(&peak), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let (Some(s), Ok(mut p)) = (sample(pid), peak.lock()) {
                        p.rss_kib = p.rss_kib.max(s.rss_kib);
                        p.fds = p.fds.max(s.fds);
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        });
        Watcher {
            pid,
            before,
            peak,
            stop,
            thread,
        }
    }

    /// The server now (`during`), without stopping the sampling.
    fn now(&self) -> Option<Sample> {
        self.pid.and_then(sample)
    }

    /// Stop sampling, wait a second for the server to finish closing, and
    /// add before / peak / after to the report.
    fn finish(mut self, r: &mut Report) {
        std::thread::sleep(Duration::from_secs(1));
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let Some(pid) = self.pid else { return };
        r.int(fields::SERVER_PID, u64::from(pid));
        r.int(
            fields::SERVER_ALIVE,
            u64::from(procfs::rss_kib(pid).is_some()),
        );
        let after = sample(pid);
        let peak = self.peak.lock().map(|p| *p).unwrap_or_default();
        if let Some(b) = self.before {
            r.int(fields::SERVER_RSS_BEFORE_KIB, b.rss_kib);
            r.int(fields::SERVER_RSS_PEAK_KIB, peak.rss_kib.max(b.rss_kib));
            r.int(fields::SERVER_FDS_BEFORE, b.fds);
            r.int(fields::SERVER_FDS_PEAK, peak.fds.max(b.fds));
        }
        if let Some(a) = after {
            r.int(fields::SERVER_RSS_AFTER_KIB, a.rss_kib);
            r.int(fields::SERVER_FDS_AFTER, a.fds);
        }
    }
}

fn head(cfg: &Config, mode: &str) -> Report {
    let mut r = Report::new();
    r.str(fields::MODE, mode);
    if let Some(l) = &cfg.args.out.label {
        r.str(fields::LABEL, l);
    }
    r.str(fields::SERVER, &cfg.addr.to_string());
    r.int(fields::CONNECTIONS, cfg.connections as u64);
    r.int(fields::SIZE, cfg.size as u64);
    r
}

/// Open `n` connections and wait until all are connected (30 s at most).
fn open_all(cfg: &Config, poll: &mut Poll) -> io::Result<Vec<mio::net::TcpStream>> {
    let n = cfg.connections;
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = net::connect(cfg.addr, cfg.source_for(i))?;
        poll.registry()
            .register(&mut s, Token(i), Interest::READABLE | Interest::WRITABLE)?;
        conns.push(s);
    }
    let mut up = vec![false; n];
    let mut count = 0;
    let mut events = Events::with_capacity(1024);
    let deadline = Instant::now() + Duration::from_secs(30);
    while count < n {
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{count} of {n} connections established within 30 s"),
            ));
        }
        poll.poll(&mut events, Some(Duration::from_millis(50)))?;
        for ev in events.iter() {
            let i = ev.token().0;
            if !up[i] && net::finish_connect(&conns[i])? {
                up[i] = true;
                count += 1;
            }
        }
    }
    Ok(conns)
}

/// `slowread`: write forever, never read.
pub(crate) fn slow_reader(cfg: &Config) -> io::Result<Report> {
    let watcher = Watcher::start(cfg.args.server_pid);
    let mut poll = Poll::new()?;
    let mut conns = open_all(cfg, &mut poll)?;
    let payload = vec![b'x'; cfg.size];
    let mut events = Events::with_capacity(1024);
    let mut sent: u64 = 0;
    let mut dead = vec![false; conns.len()];
    let mut errors = 0u64;
    let start = Instant::now();
    let duration = cfg.args.duration;
    // Sent bytes at the half-way point: a bounded server stops taking
    // bytes early, so the second half adds (next to) nothing.
    let mut sent_half: Option<u64> = None;
    let mut ready: Vec<usize> = (0..conns.len()).collect();
    while start.elapsed() < duration {
        for &i in &ready {
            if dead[i] {
                continue;
            }
            match net::write_owed(&mut conns[i], &payload, usize::MAX) {
                Ok(n) => sent += n as u64,
                Err(_) => {
                    dead[i] = true;
                    errors += 1;
                }
            }
        }
        if sent_half.is_none() && start.elapsed() >= duration / 2 {
            sent_half = Some(sent);
        }
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        ready = events
            .iter()
            .filter(|e| e.is_writable())
            .map(|e| e.token().0)
            .collect();
    }
    let during = watcher.now();
    drop(conns);
    let mut r = head(cfg, "slowread");
    r.float(fields::DURATION_S, start.elapsed().as_secs_f64());
    r.int(fields::BYTES_SENT, sent);
    r.int(
        fields::BYTES_SENT_SECOND_HALF,
        sent - sent_half.unwrap_or(sent),
    );
    r.int(fields::ERRORS, errors);
    if let Some(d) = during {
        r.int(fields::SERVER_RSS_DURING_KIB, d.rss_kib);
    }
    watcher.finish(&mut r);
    Ok(r)
}

/// `halfopen`: send, FIN, hold without reading.
pub(crate) fn half_open(cfg: &Config) -> io::Result<Report> {
    let watcher = Watcher::start(cfg.args.server_pid);
    let mut poll = Poll::new()?;
    let mut conns = open_all(cfg, &mut poll)?;
    let payload = vec![b'x'; cfg.size];
    let mut errors = 0u64;
    for s in &mut conns {
        let ok = net::write_owed(s, &payload, payload.len()).is_ok_and(|n| n == payload.len())
            && s.shutdown(std::net::Shutdown::Write).is_ok();
        if !ok {
            errors += 1;
        }
    }
    // Hold. A connection whose server side closed reports read-closed
    // (its FIN arrived); nothing is read, so the echo stays unread.
    let mut server_closed = vec![false; conns.len()];
    let mut closed_count = 0;
    let mut events = Events::with_capacity(1024);
    let start = Instant::now();
    let duration = cfg.args.duration;
    while start.elapsed() < duration {
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        for e in events.iter() {
            let i = e.token().0;
            if e.is_read_closed() && !server_closed[i] {
                server_closed[i] = true;
                closed_count += 1;
            }
        }
    }
    let during = watcher.now();
    drop(conns);
    let mut r = head(cfg, "halfopen");
    r.float(fields::HOLD_S, start.elapsed().as_secs_f64());
    r.int(fields::ERRORS, errors);
    r.int(fields::SERVER_CLOSED_WHILE_HELD, closed_count);
    if let Some(d) = during {
        r.int(fields::SERVER_FDS_DURING_HOLD, d.fds);
        r.int(fields::SERVER_RSS_DURING_HOLD_KIB, d.rss_kib);
    }
    watcher.finish(&mut r);
    Ok(r)
}

/// One `rst` worker's connection.
struct Victim {
    stream: mio::net::TcpStream,
    generation: usize,
    connected: bool,
}

/// `rst`: connect, write, reset as the echo starts, again.
pub(crate) fn reset_mid_stream(cfg: &Config) -> io::Result<Report> {
    let watcher = Watcher::start(cfg.args.server_pid);
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let payload = vec![b'x'; cfg.size];
    let mut buf = vec![0u8; 64 * 1024];
    let n = cfg.connections;
    let mut slots: Vec<Option<Victim>> = (0..n).map(|_| None).collect();
    let mut generation = 0usize;
    let (mut resets, mut errors) = (0u64, 0u64);
    let start = Instant::now();
    let duration = cfg.args.duration;
    // Tokens carry the slot in the low 20 bits and a generation above, so
    // an event for a connection already reset is ignored.
    const SLOT_BITS: usize = 20;
    while start.elapsed() < duration {
        for (i, slot) in slots.iter_mut().enumerate() {
            if slot.is_some() {
                continue;
            }
            generation += 1;
            match net::connect(cfg.addr, cfg.source_for(i)).and_then(|mut s| {
                let token = Token(i | (generation << SLOT_BITS));
                poll.registry()
                    .register(&mut s, token, Interest::READABLE | Interest::WRITABLE)?;
                Ok(s)
            }) {
                Ok(stream) => {
                    *slot = Some(Victim {
                        stream,
                        generation,
                        connected: false,
                    })
                }
                Err(_) => errors += 1,
            }
        }
        poll.poll(&mut events, Some(Duration::from_millis(10)))?;
        for e in events.iter() {
            let i = e.token().0 & ((1 << SLOT_BITS) - 1);
            let gen = e.token().0 >> SLOT_BITS;
            let Some(v) = slots[i].as_mut().filter(|v| v.generation == gen) else {
                continue;
            };
            let mut done = false;
            if !v.connected {
                match net::finish_connect(&v.stream) {
                    Ok(true) => {
                        v.connected = true;
                        if net::write_owed(&mut v.stream, &payload, payload.len()).is_err() {
                            errors += 1;
                            done = true;
                        }
                    }
                    Ok(false) => {}
                    Err(_) => {
                        errors += 1;
                        done = true;
                    }
                }
            }
            if v.connected && !done && e.is_readable() {
                match v.stream.read(&mut buf) {
                    // The echo has started: reset now, mid-stream.
                    Ok(n) if n > 0 => {
                        let _ = socket2::SockRef::from(&v.stream).set_linger(Some(Duration::ZERO));
                        resets += 1;
                        done = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // EOF or an error before any echo: the server closed
                    // first, which this attack does not expect.
                    _ => {
                        errors += 1;
                        done = true;
                    }
                }
            }
            if done {
                slots[i] = None; // close: an RST when linger was set
            }
        }
    }
    drop(slots);
    let mut r = head(cfg, "rst");
    r.float(fields::DURATION_S, start.elapsed().as_secs_f64());
    r.int(fields::RESETS, resets);
    r.int(fields::ERRORS, errors);
    watcher.finish(&mut r);
    Ok(r)
}
