//! One loop per core: several workers serve one port through SO_REUSEPORT.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use netloop::cluster;
use netloop::net::{ListenOptions, Server, Socket};
use netloop::timers;

#[test]
fn cluster_workers_share_a_port_and_serve_every_connection() {
    const WORKERS: usize = 2;
    const CLIENTS: usize = 32;
    let port = cluster::reserve_port("127.0.0.1").unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel::<(usize, u16)>();

    let (acc, stp) = (Arc::clone(&accepted), Arc::clone(&stop));
    let workers = std::thread::spawn(move || {
        cluster::run(WORKERS, move |worker| {
            let acc = Arc::clone(&acc);
            let server = Server::new();
            server.on(Server::CONNECTION, move |_, sock: &Socket| {
                acc.fetch_add(1, Ordering::SeqCst);
                sock.pipe(sock);
            });
            server.listen_with(ListenOptions {
                port,
                host: Some("127.0.0.1".into()),
                reuse_port: true,
                ..ListenOptions::default()
            })?;
            ready_tx
                .send((worker.id, server.address().unwrap().port()))
                .unwrap();
            // Workers share nothing; the test tells them to stop through a
            // flag they poll.
            let stp = Arc::clone(&stp);
            let srv = server.clone();
            let t = timers::set_interval(Duration::from_millis(5), move || {
                if stp.load(Ordering::SeqCst) {
                    srv.close();
                }
            });
            // Closing the server ends the polling, so the loop can end.
            server.on(Server::CLOSE, move |_, _| t.cancel());
            Ok(())
        })
    });

    let mut ports: Vec<(usize, u16)> = (0..WORKERS)
        .map(|_| ready_rx.recv_timeout(Duration::from_secs(10)).unwrap())
        .collect();
    ports.sort();
    assert_eq!(ports, vec![(0, port), (1, port)]);

    for i in 0..CLIENTS {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let msg = format!("hello {i}");
        c.write_all(msg.as_bytes()).unwrap();
        let mut buf = vec![0u8; msg.len()];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(buf, msg.as_bytes());
    }
    stop.store(true, Ordering::SeqCst);
    workers.join().unwrap().unwrap();
    assert_eq!(accepted.load(Ordering::SeqCst), CLIENTS);
}

#[test]
fn cluster_rejects_zero_workers_and_reports_worker_errors() {
    let err = cluster::run(0, |_| Ok(())).unwrap_err();
    assert_eq!(err.code().as_str(), "ERR_INVALID_ARG_VALUE");

    let err = cluster::run(2, |w| {
        if w.id == 1 {
            Err(netloop::Error::new(
                netloop::ErrorCode::ERR_INVALID_ARG_VALUE,
                "worker one failed",
            ))
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    assert_eq!(err.to_string(), "worker one failed");
}
