//! What a large queued write costs in memory: `write(&buf)` copies what the
//! kernel does not take into the write queue, `write_owned(buf)` queues the
//! buffer itself. Measured as the growth of the process's anonymous
//! resident memory (`RssAnon` in `/proc/self/status`) across the call,
//! with a peer that never reads, so almost all of the write stays queued.
//!
//! A test binary of its own with a single test: in the `it` binary other
//! tests run on parallel threads and allocate while this one measures.
//! Run it with `--nocapture` to see the figures (quoted in the docs of
//! `Socket::write_owned` and in the README).

#![cfg(target_os = "linux")]

use std::cell::Cell;
use std::rc::Rc;

use netloop::net::{self, Socket};

/// The size of the write: large enough that the kernel's socket buffers
/// (a few MB on loopback) take only a small part of it.
const LEN: usize = 100 << 20;

/// This process's anonymous resident memory, in KiB.
fn rss_anon_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("an RssAnon line")
}

/// How the test writes its buffer.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// `write(&buf)` once connected; the caller keeps `buf` past the call.
    Borrowed,
    /// `write_owned(buf)` once connected.
    Owned,
    /// `write_owned(buf)` right after `connect()`, held until connected.
    OwnedWhileConnecting,
}

/// How much anonymous memory (KiB) one `LEN`-byte write adds while it is
/// queued, measured from just before the write to the `connect` event
/// (by then a write made while connecting has moved into the queue).
fn queued_write_growth(mode: Mode) -> u64 {
    // A peer that never reads: the kernel completes the handshake from the
    // listen backlog, and the data fills its receive buffer, then ours.
    let peer = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = peer.local_addr().expect("local addr").port();
    let growth = Rc::new(Cell::new(None));
    let out = Rc::clone(&growth);
    netloop::run(move || {
        let client = net::connect(port, "127.0.0.1")?;
        // Every page written, so the buffer is resident before the first
        // reading (`vec![0; n]` would map untouched zero pages).
        let mut buf = Some(vec![0x5a_u8; LEN]);
        let mut before = rss_anon_kib();
        if mode == Mode::OwnedWhileConnecting {
            client.write_owned(buf.take().expect("the buffer"));
        }
        client.on(Socket::CONNECT, move |c, _| {
            match (mode, buf.take()) {
                (Mode::Borrowed, Some(buf)) => {
                    before = rss_anon_kib();
                    assert!(!c.write(&buf), "100 MB cannot fit in the kernel's buffers");
                    // The caller's buffer lives on past the call, as it
                    // does in a program that wrote it.
                    out.set(Some(rss_anon_kib().saturating_sub(before)));
                }
                (Mode::Owned, Some(buf)) => {
                    before = rss_anon_kib();
                    assert!(
                        !c.write_owned(buf),
                        "100 MB cannot fit in the kernel's buffers"
                    );
                    out.set(Some(rss_anon_kib().saturating_sub(before)));
                }
                _ => out.set(Some(rss_anon_kib().saturating_sub(before))),
            }
            assert!(c.writable_length() > LEN / 2, "{}", c.writable_length());
            c.destroy();
        });
        Ok(())
    })
    .expect("the loop ran");
    drop(peer);
    growth.get().expect("the client connected")
}

#[test]
fn write_owned_queues_a_100_mb_buffer_without_a_copy() {
    let borrowed = queued_write_growth(Mode::Borrowed);
    let owned = queued_write_growth(Mode::Owned);
    let connecting = queued_write_growth(Mode::OwnedWhileConnecting);
    let mb = |kib: u64| kib as f64 / 1024.0;
    eprintln!(
        "a 100 MB write with a peer that does not read, anonymous RSS growth: \
         write(&buf) +{:.1} MB, write_owned(buf) +{:.1} MB, \
         write_owned(buf) while connecting +{:.1} MB",
        mb(borrowed),
        mb(owned),
        mb(connecting)
    );
    // The copy `write` makes is most of 100 MB: the measurement sees it.
    assert!(
        borrowed > 50 * 1024,
        "write(&buf) grew RSS by {borrowed} KiB"
    );
    // `write_owned` makes none, connected or not: only bookkeeping.
    assert!(owned < 4 * 1024, "write_owned(buf) grew RSS by {owned} KiB");
    assert!(
        connecting < 4 * 1024,
        "write_owned(buf) while connecting grew RSS by {connecting} KiB"
    );
}
