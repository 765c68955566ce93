//! `idle`: open `-c` connections (at most `--concurrency` connecting at
//! once), echo one message on each, and hold them all. With
//! `--server-pid`, the server's resident memory is read before the first
//! connect and once every connection has echoed (after a one-second
//! settle); the growth divided by the connections is the user-space memory
//! an idle connection costs (kernel socket buffers are not in RSS). With
//! `--tls` each connection finishes a full TLS handshake before its echo,
//! so the growth is an idle TLS connection's.

use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use super::net;
use super::output::Report;
use super::procfs;
use super::progress::Progress;
use super::tls::Stream;
use super::{fields, Config, Run};

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Connecting,
    /// TLS: connected, the handshake under way.
    Handshaking,
    Sent,
    Done,
    Failed,
}

pub(crate) fn run(cfg: &Config) -> std::io::Result<Run> {
    let args = &cfg.args;
    let total = cfg.connections;
    let size = cfg.size;
    let addr = cfg.addr;
    let pid = args.server_pid;
    let mut bar = Progress::new(args.out.quiet, "idle");

    // The server's whole process tree (a cluster's primary and workers).
    let rss0 = pid.and_then(|p| procfs::tree_rss_kib(p, false));
    let anon0 = pid.and_then(|p| procfs::tree_rss_kib(p, true));
    let cpu0 = pid.and_then(procfs::server_cpu);

    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let payload = vec![b'x'; size];
    let mut buf = vec![0u8; 64 * 1024];
    let mut streams: Vec<Stream> = Vec::with_capacity(total);
    let mut state: Vec<State> = Vec::with_capacity(total);
    let mut received: Vec<usize> = Vec::with_capacity(total);
    let mut in_flight = 0usize;
    let mut done = 0usize;
    let mut failed = 0usize;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(300);
    let mut first_error: Option<String> = None;
    // One source: let `connect()` pick the port (it can reuse TIME_WAIT
    // entries, a `bind()` to port 0 cannot).
    let source = |i: usize| {
        if cfg.sources.len() > 1 {
            cfg.source_for(i)
        } else {
            None
        }
    };
    let mut opening = true;
    // TLS: what the first handshake negotiated.
    let mut tls_seen = None;

    while done + failed < total {
        while opening && in_flight < args.concurrency && streams.len() < total {
            let i = streams.len();
            match net::connect(cfg.addr, source(i)).and_then(|tcp| {
                let mut s = Stream::new(tcp, cfg.tls.as_ref())?;
                poll.registry().register(
                    &mut s,
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                )?;
                Ok(s)
            }) {
                Ok(s) => {
                    streams.push(s);
                    state.push(State::Connecting);
                    received.push(0);
                    in_flight += 1;
                }
                Err(e) => {
                    // Out of fds or ports: no point opening more.
                    first_error.get_or_insert_with(|| net::describe("connect", addr, &e));
                    failed += total - streams.len();
                    opening = false;
                    break;
                }
            }
        }
        if done + failed >= total {
            break;
        }
        if Instant::now() > deadline {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("{addr}: {done} of {total} connections echoed within 300 s"),
            ));
        }
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        for ev in events.iter() {
            let i = ev.token().0;
            let s = &mut streams[i];
            let mut ok = true;
            if state[i] == State::Connecting && (ev.is_writable() || ev.is_error()) {
                match net::finish_connect(s.tcp()) {
                    Ok(true) => state[i] = State::Handshaking,
                    Ok(false) => {}
                    Err(e) => {
                        first_error.get_or_insert_with(|| net::describe("connect", addr, &e));
                        ok = false;
                    }
                }
            }
            // The TLS handshake (none for plain TCP), then the message.
            if ok && state[i] == State::Handshaking {
                match s.handshake() {
                    Ok(true) => {
                        state[i] = State::Sent;
                        if tls_seen.is_none() {
                            tls_seen = s.negotiated();
                        }
                        match net::write_owed(s, &payload, size) {
                            Ok(n) if n == size => {}
                            Ok(_) => {
                                first_error
                                    .get_or_insert_with(|| format!("write {addr}: a short write"));
                                ok = false;
                            }
                            Err(e) => {
                                first_error.get_or_insert_with(|| net::describe("write", addr, &e));
                                ok = false;
                            }
                        }
                    }
                    Ok(false) => {}
                    Err(e) => {
                        first_error.get_or_insert_with(|| net::describe("handshake", addr, &e));
                        ok = false;
                    }
                }
            }
            if ok && state[i] == State::Sent && (ev.is_readable() || ev.is_read_closed()) {
                match net::read_all(s, &mut buf) {
                    Ok((n, closed)) => {
                        received[i] += n;
                        if received[i] >= size {
                            state[i] = State::Done;
                            done += 1;
                            in_flight -= 1;
                        } else if closed {
                            first_error.get_or_insert_with(|| net::closed(addr));
                            ok = false;
                        }
                    }
                    Err(e) => {
                        first_error.get_or_insert_with(|| net::describe("read", addr, &e));
                        ok = false;
                    }
                }
            }
            if !ok
                && matches!(
                    state[i],
                    State::Connecting | State::Handshaking | State::Sent
                )
            {
                state[i] = State::Failed;
                failed += 1;
                in_flight -= 1;
            }
        }
        bar.count(done as u64, total as u64, "connections echoed");
    }
    let open_secs = started.elapsed().as_secs_f64();
    bar.finish();
    if done == 0 {
        // Nothing to hold and nothing to measure.
        let why = first_error.unwrap_or_else(|| format!("{addr}: no connection was established"));
        return Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            why,
        ));
    }
    // Let the server finish whatever it defers (close callbacks, timers).
    std::thread::sleep(Duration::from_secs(1));
    let rss1 = pid.and_then(|p| procfs::tree_rss_kib(p, false));
    let anon1 = pid.and_then(|p| procfs::tree_rss_kib(p, true));
    let cpu1 = pid.and_then(procfs::server_cpu);
    if !args.hold.is_zero() {
        std::thread::sleep(args.hold);
    }
    drop(streams);
    std::thread::sleep(Duration::from_secs(1));
    let rss2 = pid.and_then(|p| procfs::tree_rss_kib(p, false));

    let mut r = Report::new();
    r.str(fields::MODE, cfg.mode.name());
    if let Some(l) = &args.out.label {
        r.str(fields::LABEL, l);
    }
    if args.host.parse::<std::net::IpAddr>().is_err() {
        r.str(fields::HOST, &args.host);
    }
    r.str(fields::SERVER, &addr.to_string());
    r.int(fields::CONNECTIONS, total as u64);
    r.int(fields::ESTABLISHED, done as u64);
    r.int(fields::ERRORS, failed as u64);
    if let Some(e) = &first_error {
        r.str(fields::FIRST_ERROR, e);
    }
    if let Some(n) = &tls_seen {
        r.str(fields::TLS_VERSION, &n.version);
        r.str(fields::TLS_CIPHER, &n.cipher);
        r.str(fields::TLS_GROUP, &n.group);
    }
    r.int(fields::SOURCES, cfg.sources.len().max(1) as u64);
    r.float(fields::OPEN_S, open_secs);
    r.float(fields::CONNS_S, done as f64 / open_secs.max(1e-9));
    if let Some(pid) = pid {
        r.int(fields::SERVER_PID, u64::from(pid));
    }
    if let (Some(a), Some(b)) = (rss0, rss1) {
        r.int(fields::SERVER_RSS_BEFORE_KIB, a);
        r.int(fields::SERVER_RSS_AFTER_KIB, b);
        r.float(
            fields::IDLE_KIB_PER_CONN,
            (b as f64 - a as f64) / (done.max(1)) as f64,
        );
    }
    if let (Some(a), Some(b)) = (anon0, anon1) {
        r.float(
            fields::IDLE_ANON_KIB_PER_CONN,
            (b as f64 - a as f64) / (done.max(1)) as f64,
        );
    }
    if let Some(c) = rss2 {
        r.int(fields::SERVER_RSS_AFTER_CLOSE_KIB, c);
    }
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        let cpu = b.since(&a);
        r.float(
            fields::SERVER_CPU_US_PER_CONN,
            cpu.total_us / (done.max(1)) as f64,
        );
        super::server_tree_fields(&mut r, &cpu);
    }
    let failure = (failed > 0).then(|| {
        let first = first_error
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default();
        format!("{failed} of {total} connections failed{first}")
    });
    Ok(Run {
        report: r,
        latency: None,
        failure,
    })
}
