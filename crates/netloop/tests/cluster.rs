//! `netloop::cluster`: both scheduling policies, port 0, the cluster-wide
//! connection limit, counters, graceful shutdown, panics and restarts,
//! and connections that wait for their worker's loop.
//!
//! Threads only, no child processes (workers are threads of this test
//! binary). The clients are blocking std sockets on the test's thread or
//! threads of their own; every read has a timeout as a failure guard, and
//! every step waits for something a worker reports over a channel (it
//! listens, a connection closed, a worker exited), never for time.

#[path = "util/mod.rs"]
mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netloop::cluster::{self, Cluster, ClusterOptions, ExitReason, Policy, Worker, WorkerExit};
use netloop::net::{ListenOptions, Server, Socket};
use netloop::ErrorCode;

/// Failure guard for every wait of the test thread.
const GUARD: Duration = Duration::from_secs(20);

fn recv<T>(rx: &Receiver<T>, what: &str) -> T {
    rx.recv_timeout(GUARD)
        .unwrap_or_else(|e| panic!("waiting for {what}: {e}"))
}

fn connect(addr: SocketAddr) -> TcpStream {
    let c = TcpStream::connect(addr).expect("connect");
    c.set_read_timeout(Some(GUARD)).unwrap();
    c.set_write_timeout(Some(GUARD)).unwrap();
    c
}

/// A small deterministic generator (xorshift), for payload sizes and
/// contents that differ per connection.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Start a cluster whose workers each run `setup` and then report
/// `(worker, address)`; wait until all of them listen.
fn start_listening(
    opts: ClusterOptions,
    setup: impl Fn(Worker) -> netloop::Result<Server> + Send + Sync + 'static,
) -> (Cluster, SocketAddr, Receiver<(Worker, SocketAddr)>) {
    let workers = opts.workers;
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let cluster = cluster::start(opts, move |worker| {
        let server = setup(worker)?;
        let addr = server.address().expect("bound at once");
        // The test may have stopped listening for restarts: ignore.
        let _ = tx.lock().unwrap().send((worker, addr));
        Ok(())
    })
    .expect("the cluster started");
    let addrs: Vec<SocketAddr> = (0..workers)
        .map(|_| recv(&rx, "a worker listening").1)
        .collect();
    assert!(addrs.iter().all(|a| *a == addrs[0]), "{addrs:?}");
    assert_ne!(addrs[0].port(), 0);
    (cluster, addrs[0], rx)
}

fn echo_server() -> netloop::Result<Server> {
    let server = Server::new();
    server.on(Server::CONNECTION, |_, sock: &Socket| {
        sock.on(Socket::ERROR, |_, _| {});
        sock.pipe(sock);
    });
    server.listen(0, "127.0.0.1")?;
    Ok(server)
}

/// One client: send `payload` (from another thread, so that a large one
/// cannot block on the echo's backpressure), end, read everything back.
fn echo_exchange(addr: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let mut c = connect(addr);
    let mut writer = c.try_clone().unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            writer.write_all(payload).unwrap();
            writer.shutdown(Shutdown::Write).unwrap();
        });
        let mut back = Vec::with_capacity(payload.len());
        c.read_to_end(&mut back).unwrap();
        back
    })
}

fn opts(workers: usize, policy: Policy) -> ClusterOptions {
    ClusterOptions {
        workers,
        policy,
        ..ClusterOptions::default()
    }
}

/// `connections` clients in batches of 8 at once, random sizes up to
/// 256 KiB: every byte comes back, in order, and the counters add up.
fn serves_every_connection_byte_exact(policy: Policy, workers: usize, connections: usize) {
    let (cluster, addr, _rx) = start_listening(opts(workers, policy), |_| echo_server());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ workers as u64);
    let payloads: Vec<Vec<u8>> = (0..connections)
        .map(|_| {
            let len = (rng.next() % (256 * 1024)) as usize;
            rng.bytes(len)
        })
        .collect();
    for batch in payloads.chunks(8) {
        std::thread::scope(|s| {
            for payload in batch {
                s.spawn(move || {
                    let back = echo_exchange(addr, payload);
                    assert_eq!(back.len(), payload.len());
                    assert!(back == *payload, "echo differs");
                });
            }
        });
    }
    let handle = cluster.handle();
    assert!(cluster.shutdown(GUARD));
    cluster.join().expect("every worker ended cleanly");

    let stats = handle.stats();
    assert_eq!(stats.len(), workers);
    let total: u64 = stats.iter().map(|s| s.connections_total).sum();
    let read: u64 = stats.iter().map(|s| s.bytes_read).sum();
    let written: u64 = stats.iter().map(|s| s.bytes_written).sum();
    let sent: u64 = payloads.iter().map(|p| p.len() as u64).sum();
    assert_eq!(total, connections as u64);
    assert_eq!((read, written), (sent, sent));
    assert!(stats.iter().all(|s| s.connections == 0 && !s.running));
    assert!(stats.iter().all(|s| s.generation == 1 && s.restarts == 0));
    assert_eq!(handle.connections(), 0);
    if policy == Policy::RoundRobin {
        // Batches of 8 are not sequential, but every worker had its turn.
        assert!(stats.iter().all(|s| s.connections_total > 0), "{stats:?}");
    }
}

#[test]
fn round_robin_two_workers_echo_byte_exact() {
    serves_every_connection_byte_exact(Policy::RoundRobin, 2, 48);
}

#[test]
fn round_robin_four_workers_echo_byte_exact() {
    serves_every_connection_byte_exact(Policy::RoundRobin, 4, 48);
}

#[test]
fn shared_two_workers_echo_byte_exact() {
    serves_every_connection_byte_exact(Policy::Shared, 2, 48);
}

#[test]
fn shared_three_workers_echo_byte_exact() {
    serves_every_connection_byte_exact(Policy::Shared, 3, 48);
}

/// A server that tells each client which worker (and generation) took
/// it, then echoes; `panic` as data panics the worker.
fn who_server(worker: Worker) -> netloop::Result<Server> {
    let server = Server::new();
    server.on(Server::CONNECTION, move |_, sock: &Socket| {
        sock.on(Socket::ERROR, |_, _| {});
        sock.write(format!("{}/{}\n", worker.id, worker.generation));
        sock.on(Socket::DATA, |s, data| {
            if data == b"panic" {
                panic!("boom on request");
            }
            s.write(data);
        });
    });
    server.listen(0, "127.0.0.1")?;
    Ok(server)
}

/// The `id/generation` line a [`who_server`] sends first.
fn who(c: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while c.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    String::from_utf8(line).unwrap()
}

#[test]
fn round_robin_hands_sequential_connections_to_the_workers_in_turn() {
    const WORKERS: usize = 3;
    let (cluster, addr, _rx) = start_listening(opts(WORKERS, Policy::RoundRobin), who_server);
    let mut seen = Vec::new();
    for _ in 0..4 * WORKERS {
        let mut c = connect(addr);
        seen.push(who(&mut c));
        // The worker adopted it (it answered): the next one is the next
        // worker's, whatever the first connection's worker does now.
    }
    let first: Vec<&String> = seen.iter().take(WORKERS).collect();
    let mut sorted = first.clone();
    sorted.sort();
    assert_eq!(sorted, ["0/1", "1/1", "2/1"]);
    for (i, w) in seen.iter().enumerate() {
        assert_eq!(w, first[i % WORKERS], "connection {i}: {seen:?}");
    }
    let handle = cluster.handle();
    cluster.shutdown(Duration::ZERO);
    cluster.join().unwrap();
    let totals: Vec<u64> = handle.stats().iter().map(|s| s.connections_total).collect();
    assert_eq!(totals, [4, 4, 4]);
}

fn port_zero_is_one_port_for_every_worker(policy: Policy) {
    const WORKERS: usize = 3;
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let cluster = cluster::start(opts(WORKERS, policy), move |worker| {
        // Two servers per worker on port 0: each worker's first shares a
        // port with the others' first, its second with their second.
        let first = echo_server()?;
        let second = echo_server()?;
        tx.lock()
            .unwrap()
            .send((
                worker.id,
                first.address().unwrap(),
                second.address().unwrap(),
            ))
            .unwrap();
        Ok(())
    })
    .unwrap();
    let got: Vec<(usize, SocketAddr, SocketAddr)> = (0..WORKERS)
        .map(|_| recv(&rx, "a worker listening"))
        .collect();
    let (first, second) = (got[0].1, got[0].2);
    assert_ne!(first.port(), second.port());
    assert!(got.iter().all(|g| (g.1, g.2) == (first, second)), "{got:?}");
    // Both ports serve.
    assert_eq!(echo_exchange(first, b"one"), b"one");
    assert_eq!(echo_exchange(second, b"two"), b"two");
    cluster.shutdown(GUARD);
    cluster.join().unwrap();
}

#[test]
fn round_robin_port_zero_is_one_port_for_every_worker() {
    port_zero_is_one_port_for_every_worker(Policy::RoundRobin);
}

#[test]
fn shared_port_zero_is_one_port_for_every_worker() {
    port_zero_is_one_port_for_every_worker(Policy::Shared);
}

/// Echo once to know a connection is served (adopted and open).
fn round_trip(c: &mut TcpStream, msg: &[u8]) {
    c.write_all(msg).unwrap();
    let mut back = vec![0u8; msg.len()];
    c.read_exact(&mut back).unwrap();
    assert_eq!(back, msg);
}

/// The connection was closed by the server: EOF or a reset, never data.
fn assert_closed_by_server(c: &mut TcpStream) {
    let mut buf = [0u8; 16];
    match c.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("got {n} bytes from a connection that should be closed"),
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
    }
}

fn cluster_wide_max_connections(policy: Policy) {
    let (events_tx, events) = mpsc::channel::<&'static str>();
    let events_tx = Mutex::new(events_tx);
    let (cluster, addr, _rx) = start_listening(
        ClusterOptions {
            max_connections: Some(2),
            ..opts(2, policy)
        },
        move |_| {
            let server = echo_server()?;
            let tx = events_tx.lock().unwrap().clone();
            server.on(Server::DROP, move |_, _| tx.send("drop").unwrap());
            let tx = events_tx.lock().unwrap().clone();
            server.on(Server::CONNECTION, move |_, sock: &Socket| {
                let tx = tx.clone();
                sock.on(Socket::CLOSE, move |_, _| tx.send("closed").unwrap());
            });
            Ok(server)
        },
    );
    let mut a = connect(addr);
    round_trip(&mut a, b"a");
    let mut b = connect(addr);
    round_trip(&mut b, b"b");
    assert_eq!(cluster.connections(), 2);
    // Over the limit, whichever worker gets it: dropped at once.
    let mut c = connect(addr);
    assert_eq!(recv(&events, "the drop"), "drop");
    assert_closed_by_server(&mut c);
    // One closes; the next one is served.
    drop(a);
    assert_eq!(recv(&events, "a closing"), "closed");
    assert_eq!(cluster.connections(), 1);
    let mut d = connect(addr);
    round_trip(&mut d, b"d");
    assert_eq!(cluster.connections(), 2);
    drop((b, d));
    let handle = cluster.handle();
    cluster.shutdown(GUARD);
    cluster.join().unwrap();
    assert_eq!(events.try_iter().filter(|e| *e == "drop").count(), 0);
    let total: u64 = handle.stats().iter().map(|s| s.connections_total).sum();
    assert_eq!(total, 3, "the dropped one is not counted");
}

#[test]
fn round_robin_max_connections_is_cluster_wide() {
    cluster_wide_max_connections(Policy::RoundRobin);
}

#[test]
fn shared_max_connections_is_cluster_wide() {
    cluster_wide_max_connections(Policy::Shared);
}

fn shutdown_finishes_open_connections_and_refuses_new_ones(policy: Policy) {
    // A port held for this test: refused before and after the cluster
    // listens on it, never taken by a parallel test meanwhile.
    let reserved = util::server_port();
    let port = reserved.port();
    let (cluster, addr, _rx) = start_listening(opts(2, policy), move |_| {
        let server = Server::new();
        server.on(Server::CONNECTION, |_, sock: &Socket| {
            sock.pipe(sock);
        });
        server.listen(port, "127.0.0.1")?;
        Ok(server)
    });
    let mut open = connect(addr);
    round_trip(&mut open, b"before");
    let handle = cluster.handle();
    // From another thread than the one that started the cluster.
    let first = std::thread::spawn(move || handle.shutdown(GUARD))
        .join()
        .unwrap();
    assert!(first);
    let refused = TcpStream::connect(addr).expect_err("still accepting");
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    // The open connection is served to its end.
    round_trip(&mut open, b"after the shutdown");
    open.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    open.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    cluster
        .join()
        .expect("the workers ended once the connection did");
}

#[test]
fn round_robin_shutdown_finishes_open_connections_and_refuses_new_ones() {
    shutdown_finishes_open_connections_and_refuses_new_ones(Policy::RoundRobin);
}

#[test]
fn shared_shutdown_finishes_open_connections_and_refuses_new_ones() {
    shutdown_finishes_open_connections_and_refuses_new_ones(Policy::Shared);
}

fn shutdown_closes_idle_connections_at_the_deadline(policy: Policy) {
    let (cluster, addr, _rx) = start_listening(opts(2, policy), |_| echo_server());
    let mut idle: Vec<TcpStream> = (0..4).map(|_| connect(addr)).collect();
    for (i, c) in idle.iter_mut().enumerate() {
        round_trip(c, format!("idle {i}").as_bytes());
    }
    assert_eq!(cluster.connections(), 4);
    cluster.shutdown(Duration::from_millis(100));
    for c in &mut idle {
        assert_closed_by_server(c);
    }
    let handle = cluster.handle();
    cluster.join().unwrap();
    assert_eq!(handle.connections(), 0);
}

#[test]
fn round_robin_shutdown_closes_idle_connections_at_the_deadline() {
    shutdown_closes_idle_connections_at_the_deadline(Policy::RoundRobin);
}

#[test]
fn shared_shutdown_closes_idle_connections_at_the_deadline() {
    shutdown_closes_idle_connections_at_the_deadline(Policy::Shared);
}

#[test]
fn a_worker_shuts_the_cluster_down_from_its_own_loop() {
    // The worker's loop cannot answer a post while it is inside
    // `shutdown`: its own part is done in the call, and the call returns.
    let (cluster, addr, _rx) = start_listening(opts(2, Policy::RoundRobin), |_| {
        let server = Server::new();
        server.on(Server::CONNECTION, |_, sock: &Socket| {
            sock.on(Socket::DATA, |s, _| {
                let handle = cluster::handle().expect("in a worker");
                let first = handle.shutdown(GUARD);
                s.end_with(format!("first: {first}"));
            });
        });
        server.listen(0, "127.0.0.1")?;
        Ok(server)
    });
    let mut c = connect(addr);
    c.write_all(b"stop").unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "first: true");
    drop(c);
    cluster.join().unwrap();
    assert!(cluster::handle().is_none(), "the test thread is no worker");
}

fn a_panicking_worker_is_reported_and_restarted(policy: Policy) {
    let (exit_tx, exits) = mpsc::channel::<WorkerExit>();
    let exit_tx = Mutex::new(exit_tx);
    let (cluster, addr, listening) = start_listening(
        ClusterOptions {
            on_worker_exit: Some(Arc::new(move |exit: &WorkerExit| {
                exit_tx.lock().unwrap().send(exit.clone()).unwrap();
            })),
            ..opts(2, policy)
        },
        who_server,
    );
    // Two connections on different workers (round robin: in turn; shared:
    // as many as it takes, at most 64).
    let mut a = connect(addr);
    let a_worker = who(&mut a);
    let (mut b, b_worker) = (0..64)
        .find_map(|_| {
            let mut b = connect(addr);
            let w = who(&mut b);
            (w != a_worker).then_some((b, w))
        })
        .expect("a connection on the other worker");
    // `a`'s worker panics.
    a.write_all(b"panic").unwrap();
    let exit = recv(&exits, "the worker's exit");
    assert_eq!(format!("{}/{}", exit.id, exit.generation), a_worker);
    match &exit.reason {
        ExitReason::Panicked(msg) => assert_eq!(msg, "boom on request"),
        other => panic!("{other:?}"),
    }
    assert!(exit.restarting);
    // Its connections went with its loop.
    assert_closed_by_server(&mut a);
    // The other worker kept serving throughout.
    round_trip(&mut b, b"still here");
    // The new generation listens again, with the same id.
    let (again, again_addr) = recv(&listening, "the restarted worker");
    assert_eq!(again.id, exit.id);
    assert_eq!(again.generation, 2);
    assert_eq!(again_addr, addr);
    // And serves: round robin hands it every other connection; shared
    // lets the kernel choose, so ask until it answers (bounded).
    let restarted = format!("{}/2", exit.id);
    let mut served_by = Vec::new();
    for _ in 0..64 {
        let mut c = connect(addr);
        let w = who(&mut c);
        round_trip(&mut c, b"ping");
        served_by.push(w.clone());
        if w == restarted && served_by.contains(&b_worker) {
            break;
        }
    }
    assert!(served_by.contains(&restarted), "{served_by:?}");
    if policy == Policy::RoundRobin {
        assert!(served_by.len() <= 2, "{served_by:?}");
    }
    let handle = cluster.handle();
    drop(b);
    cluster.shutdown(GUARD);
    cluster.join().expect("a restarted panic is no error");
    let stats = handle.stats();
    assert_eq!((stats[exit.id].generation, stats[exit.id].restarts), (2, 1));
    assert_eq!(handle.connections(), 0);
    assert!(exits
        .try_iter()
        .all(|e| matches!(e.reason, ExitReason::Ended)));
}

#[test]
fn round_robin_panicking_worker_is_reported_and_restarted() {
    a_panicking_worker_is_reported_and_restarted(Policy::RoundRobin);
}

#[test]
fn shared_panicking_worker_is_reported_and_restarted() {
    a_panicking_worker_is_reported_and_restarted(Policy::Shared);
}

#[test]
fn a_panic_without_restarts_ends_the_worker_and_join_reports_it() {
    let (cluster, addr, _rx) = start_listening(
        ClusterOptions {
            restart_on_panic: false,
            ..opts(2, Policy::RoundRobin)
        },
        who_server,
    );
    let mut a = connect(addr);
    let a_worker = who(&mut a);
    a.write_all(b"panic").unwrap();
    assert_closed_by_server(&mut a);
    // The other worker serves every connection from now on.
    let mut b = connect(addr);
    let b_worker = who(&mut b);
    assert_ne!(a_worker, b_worker);
    round_trip(&mut b, b"alone");
    drop(b);
    cluster.shutdown(GUARD);
    let err = cluster.join().expect_err("a panic that was not restarted");
    assert_eq!(err.code(), ErrorCode::ERR_UNHANDLED_ERROR);
    let id = a_worker.split('/').next().unwrap();
    assert_eq!(
        err.to_string(),
        format!("netloop worker {id} panicked: boom on request")
    );
}

#[test]
fn a_worker_whose_setup_fails_ends_and_the_others_serve() {
    let failed = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&failed);
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let cluster = cluster::start(opts(2, Policy::RoundRobin), move |worker| {
        if worker.id == 1 {
            count.fetch_add(1, Ordering::SeqCst);
            return Err(netloop::Error::new(
                ErrorCode::ERR_INVALID_ARG_VALUE,
                "no config for worker 1",
            ));
        }
        let server = echo_server()?;
        tx.lock().unwrap().send(server.address().unwrap()).unwrap();
        Ok(())
    })
    .unwrap();
    let addr = recv(&rx, "worker 0 listening");
    for i in 0..4 {
        let msg = format!("message {i}");
        assert_eq!(echo_exchange(addr, msg.as_bytes()), msg.as_bytes());
    }
    cluster.shutdown(GUARD);
    let err = cluster.join().expect_err("worker 1 failed");
    assert_eq!(err.to_string(), "no config for worker 1");
    assert_eq!(
        failed.load(Ordering::SeqCst),
        1,
        "an error is not restarted"
    );
}

#[test]
fn bytes_sent_before_the_worker_adopts_the_connection_are_not_lost() {
    // One worker, whose loop the test blocks: the acceptor accepts the
    // connection and posts it, the client sends everything and its FIN,
    // and only then does the worker's loop run again and adopt it.
    let (handle_tx, handle_rx) = mpsc::channel();
    let handle_tx = Mutex::new(handle_tx);
    let (cluster, addr, _rx) = start_listening(opts(1, Policy::RoundRobin), move |_| {
        handle_tx
            .lock()
            .unwrap()
            .send(netloop::loop_handle())
            .unwrap();
        echo_server()
    });
    let worker_loop = recv(&handle_rx, "the worker's loop handle");
    let (blocked_tx, blocked) = mpsc::channel();
    let (go, go_rx) = mpsc::channel::<()>();
    worker_loop
        .post(move || {
            blocked_tx.send(()).unwrap();
            go_rx.recv_timeout(GUARD).unwrap();
        })
        .unwrap();
    recv(&blocked, "the worker's loop blocked");
    let payload = util::pattern(32 * 1024);
    let mut c = connect(addr);
    c.write_all(&payload).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    go.send(()).unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    assert!(
        back == payload,
        "{} bytes back of {}",
        back.len(),
        payload.len()
    );
    cluster.shutdown(GUARD);
    cluster.join().unwrap();
}

#[test]
fn exclusive_listen_in_a_worker_is_its_own() {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let cluster = cluster::start(opts(2, Policy::RoundRobin), move |_| {
        let server = Server::new();
        server.listen_with(ListenOptions {
            host: Some("127.0.0.1".into()),
            exclusive: true,
            ..ListenOptions::default()
        })?;
        tx.lock().unwrap().send(server.address().unwrap()).unwrap();
        Ok(())
    })
    .unwrap();
    let (a, b) = (recv(&rx, "worker listening"), recv(&rx, "worker listening"));
    assert_ne!(a.port(), b.port());
    cluster.shutdown(Duration::ZERO);
    cluster.join().unwrap();
}

#[test]
fn cluster_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Cluster>();
    send_sync::<cluster::ClusterHandle>();
    send_sync::<ClusterOptions>();
    assert_eq!("round-robin".parse::<Policy>().unwrap(), Policy::RoundRobin);
    assert_eq!("shared".parse::<Policy>().unwrap(), Policy::Shared);
    assert_eq!(Policy::Shared.to_string(), "shared");
    let err = "fastest".parse::<Policy>().unwrap_err();
    assert_eq!(err.code(), ErrorCode::ERR_INVALID_ARG_VALUE);
}
