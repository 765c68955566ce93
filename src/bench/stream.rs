//! `stream`: bulk throughput both ways. Every connection writes
//! `--size`-byte chunks for as long as the kernel takes them and reads the
//! echo back; the figure is echoed bytes received per second (each byte
//! crossed the server twice: in and out).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::{Events, Interest, Poll, Token};

use super::net;
use super::tls::{self, Stream};
use super::{fields, Config, Run, Shared};

pub(crate) fn run(cfg: &Config) -> std::io::Result<Run> {
    let shared = Arc::new(Shared::new(cfg.connections));
    let addr = cfg.addr;
    let size = cfg.size;
    let sources: Vec<_> = (0..cfg.connections).map(|i| cfg.source_for(i)).collect();
    let tls = cfg.tls.clone();
    let handles = super::spawn_workers(cfg, &shared, move |_, first, n, shared| {
        worker(addr, &sources[first..first + n], tls.as_ref(), size, shared)
    });
    let window = super::timeline(cfg, &shared, "stream");
    shared.stop.store(true, Ordering::Release);
    super::join_workers(handles)?;
    let w = window?;
    let mut r = super::base_report(cfg, &w);
    super::tls_fields(&mut r, cfg, &shared);
    let secs = w.elapsed.as_secs_f64();
    let mb = w.bytes as f64 / 1e6;
    r.int(fields::BYTES, w.bytes);
    r.float(fields::MB_S, mb / secs);
    if let Some(cpu) = w.server_cpu_us {
        r.float(fields::SERVER_CPU_S, cpu / 1e6);
        r.float(fields::SERVER_CPU_US_PER_MB, cpu / mb.max(1e-9));
        r.float(fields::SERVER_CPU_UTIL, cpu / 1e6 / secs);
    }
    let lost = format!("{} of {} connections lost", w.errors, cfg.connections);
    Ok(Run {
        report: r,
        failure: super::failure(cfg, &w, &lost),
        latency: None,
    })
}

fn worker(
    addr: std::net::SocketAddr,
    sources: &[Option<std::net::IpAddr>],
    tls: Option<&tls::Client>,
    size: usize,
    shared: &Shared,
) -> std::io::Result<Histogram<u64>> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(256);
    let mut conns = Vec::with_capacity(sources.len());
    for (i, src) in sources.iter().enumerate() {
        let tcp = net::connect(addr, *src).map_err(|e| net::error("connect", addr, e))?;
        let mut s = Stream::new(tcp, tls)?;
        poll.registry()
            .register(&mut s, Token(i), Interest::READABLE | Interest::WRITABLE)?;
        // (stream, TCP connected, dead); `secured` below: handshake done.
        conns.push((s, false, false));
    }
    let mut secured = vec![false; conns.len()];
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
            let i = ev.token().0;
            let c = &mut conns[i];
            if !c.1 && net::finish_connect(c.0.tcp()).map_err(|e| net::error("connect", addr, e))? {
                c.1 = true;
            }
            if c.1
                && !secured[i]
                && c.0
                    .handshake()
                    .map_err(|e| net::error("handshake", addr, e))?
            {
                secured[i] = true;
                shared.secured(&c.0);
                up += 1;
            }
        }
    }
    shared.ready.fetch_add(1, Ordering::AcqRel);
    while !shared.go.load(Ordering::Acquire) {
        if shared.stopped() {
            return Ok(super::new_histogram());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let payload = vec![b'x'; size];
    let mut buf = vec![0u8; 256 * 1024];
    // Fill every connection once; after that, events drive both ways. A
    // connection that still had work after its turn stays on the list (its
    // edge will not come again) and the next poll does not wait.
    let mut ready: Vec<usize> = (0..conns.len()).collect();
    let mut again: Vec<usize> = Vec::new();
    while !shared.stopped() {
        for &i in &ready {
            let (s, _, dead) = &mut conns[i];
            if *dead {
                continue;
            }
            let mut exhausted = false;
            for _ in 0..TURNS {
                let (n, closed, drained) = match read_some(s, &mut buf) {
                    Ok(x) => x,
                    Err(e) => {
                        *dead = true;
                        shared.lost(net::describe("read", addr, &e));
                        exhausted = true;
                        break;
                    }
                };
                if n > 0 {
                    shared.bytes.fetch_add(n as u64, Ordering::Relaxed);
                }
                if closed {
                    *dead = true;
                    shared.lost(net::closed(addr));
                    exhausted = true;
                    break;
                }
                let w = match net::write_owed(s, &payload, payload.len() * 4) {
                    Ok(w) => w,
                    Err(e) => {
                        *dead = true;
                        shared.lost(net::describe("write", addr, &e));
                        exhausted = true;
                        break;
                    }
                };
                // Both directions said "would block": wait for an edge.
                if drained && w < payload.len() * 4 {
                    exhausted = true;
                    break;
                }
            }
            if !exhausted && !again.contains(&i) {
                again.push(i);
            }
        }
        let timeout = if again.is_empty() { 50 } else { 0 };
        poll.poll(&mut events, Some(Duration::from_millis(timeout)))?;
        ready.clear();
        ready.append(&mut again);
        for e in events.iter() {
            if !ready.contains(&e.token().0) {
                ready.push(e.token().0);
            }
        }
    }
    Ok(super::new_histogram())
}

/// Read and write turns one connection gets before the others get theirs.
const TURNS: usize = 16;

/// Read up to 16 buffers' worth; returns the bytes read, whether the peer
/// closed, and whether the socket said `EAGAIN` (drained). Bulk data
/// needs the `EAGAIN`: the short-read shortcut would stop at every
/// segment boundary.
fn read_some(s: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<(usize, bool, bool)> {
    let mut total = 0;
    for _ in 0..16 {
        match s.read(buf) {
            Ok(0) => return Ok((total, true, true)),
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Ok((total, false, true))
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((total, false, false))
}
