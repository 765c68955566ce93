//! Micro-benchmarks of netloop's hot paths, through its public API:
//!
//! - `emit`: `Socket::emit` of a user event with 0, 1 and 3 listeners;
//! - `timer_*`: insert (+ cancel), refresh, and a whole loop that sets and
//!   fires 100,000 timers;
//! - `write_queue_*`: 64-byte writes queued behind a full kernel buffer
//!   (push), and 1 MiB written in 4 KiB chunks to a reader on
//!   127.0.0.1:0 (queue drained with `writev` as the reader catches up);
//! - `is_ip`: `net::is_ip` on v4, v6, scoped v6 and non-addresses.
//!
//! `cargo bench --bench micro` runs them; CI only builds them
//! (`cargo bench --no-run`).

use std::cell::Cell;
use std::hint::black_box;
use std::io::Read;
use std::rc::Rc;
use std::time::Duration;

use divan::counter::{BytesCount, ItemsCount};
use divan::Bencher;
use netloop::events::Event;
use netloop::net::{self, Socket};
use netloop::timers;

fn main() {
    divan::main();
}

const PING: Event<u64> = Event::new("ping");

#[divan::bench(args = [0, 1, 3])]
fn emit(bencher: Bencher, listeners: usize) {
    netloop::run(move || {
        let s = Socket::new();
        for _ in 0..listeners {
            s.on(PING, |_, v| {
                black_box(v);
            });
        }
        bencher.bench_local(|| s.emit(PING, black_box(&7)));
        Ok(())
    })
    .expect("loop");
}

#[divan::bench]
fn timer_insert_cancel(bencher: Bencher) {
    netloop::run(move || {
        // Other timers of the same duration exist, as on a busy server.
        let others: Vec<_> = (0..1000)
            .map(|_| timers::set_timeout(Duration::from_secs(60), || {}))
            .collect();
        bencher.bench_local(|| timers::set_timeout(Duration::from_secs(60), || {}).cancel());
        for t in others {
            t.cancel();
        }
        Ok(())
    })
    .expect("loop");
}

#[divan::bench]
fn timer_refresh(bencher: Bencher) {
    netloop::run(move || {
        let others: Vec<_> = (0..1000)
            .map(|_| timers::set_timeout(Duration::from_secs(60), || {}))
            .collect();
        let t = timers::set_timeout(Duration::from_secs(60), || {});
        // Refresh one from the middle of its list, then it stays at the tail.
        bencher.bench_local(|| {
            others[500].refresh();
            t.refresh();
        });
        t.cancel();
        for t in others {
            t.cancel();
        }
        Ok(())
    })
    .expect("loop");
}

/// A whole loop: set 100,000 timeouts over 1..=100 ms and fire them all.
/// Includes creating the loop and waiting for the last deadline (100 ms).
#[divan::bench(sample_count = 10, sample_size = 1)]
fn timer_set_and_fire_100k(bencher: Bencher) {
    const N: u64 = 100_000;
    bencher.counter(ItemsCount::new(N)).bench(|| {
        let fired = Rc::new(Cell::new(0u64));
        let f = Rc::clone(&fired);
        netloop::run(move || {
            for i in 0..N {
                let f = Rc::clone(&f);
                timers::set_timeout(Duration::from_millis(1 + i % 100), move || {
                    f.set(f.get() + 1)
                });
            }
            Ok(())
        })
        .expect("loop");
        assert_eq!(fired.get(), N);
    });
}

/// Push: 65,536 writes of 64 bytes queued behind a kernel buffer that is
/// already full (the reader thread holds the connection without reading).
/// One loop per iteration: the connect and the filling of the kernel's
/// buffers (a few dozen 64 KiB writes) are included, the pushes dominate.
#[divan::bench(sample_count = 20, sample_size = 1)]
fn write_queue_push_64k(bencher: Bencher) {
    const N: usize = 65_536;
    bencher.counter(ItemsCount::new(N)).bench(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let (s, _) = listener.accept().expect("accept");
            // Hold the connection unread until the writer is done.
            let _ = done_rx.recv();
            drop(s);
        });
        let queued = Rc::new(Cell::new(0usize));
        let q = Rc::clone(&queued);
        netloop::run(move || {
            let client = net::connect(port, "127.0.0.1")?;
            client.on(Socket::CONNECT, move |c, _| {
                let fill = [7u8; 64 * 1024];
                // Fill the kernel's buffers (bounded: 4096 x 64 KiB).
                for _ in 0..4096 {
                    if !c.write(fill) {
                        break;
                    }
                }
                let before = c.writable_length();
                for _ in 0..N {
                    c.write(black_box([1u8; 64]));
                }
                q.set(c.writable_length() - before);
                c.destroy();
            });
            Ok(())
        })
        .expect("loop");
        let _ = done_tx.send(());
        holder.join().expect("holder");
        assert_eq!(queued.get(), N * 64);
    });
}

/// Drain: 1 MiB written at once in 4 KiB chunks to a reader thread on
/// 127.0.0.1:0; whatever the kernel does not take at once is queued and
/// flushed with `writev` as the reader catches up.
#[divan::bench(sample_count = 20, sample_size = 1)]
fn write_queue_drain_1mib(bencher: Bencher) {
    const TOTAL: usize = 1 << 20;
    bencher.counter(BytesCount::new(TOTAL)).bench(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let reader = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let mut buf = vec![0u8; 256 * 1024];
            let mut got = 0;
            while got < TOTAL {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n,
                }
            }
            got
        });
        netloop::run(move || {
            let client = net::connect(port, "127.0.0.1")?;
            client.on(Socket::CONNECT, |c, _| {
                let chunk = [3u8; 4096];
                for _ in 0..TOTAL / chunk.len() {
                    c.write(chunk);
                }
                c.end();
            });
            client.on(Socket::FINISH, |c, _| {
                c.destroy();
            });
            Ok(())
        })
        .expect("loop");
        assert_eq!(reader.join().expect("reader"), TOTAL);
    });
}

#[divan::bench(args = ["127.0.0.1", "::1", "2001:db8::ff00:42:8329", "fe80::1%eth0", "::ffff:10.0.0.1", "localhost"])]
fn is_ip(s: &str) -> u8 {
    net::is_ip(black_box(s))
}
