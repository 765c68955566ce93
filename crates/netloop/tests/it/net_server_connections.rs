//! Accepted connections: `connection`, `connections()`, `max_connections`
//! and `drop`, and the options a server passes to the sockets it accepts
//! (`allow_half_open`, `pause_on_connect`).

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;

use crate::util::{guard, listen_local, Calls, Log};
use netloop::net::{self, DropInfo, Family, ReadyState, Server, ServerOptions, Socket};
use netloop::timers::set_immediate;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[test]
fn connection_gives_a_connected_socket_for_each_client() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("connection");
        let ls = l.clone();
        let server = net::create_server(move |server, sock: &Socket| {
            // The accepted socket is open and knows both ends.
            assert!(!sock.connecting());
            assert!(!sock.pending());
            assert_eq!(sock.ready_state(), ReadyState::Open);
            assert_eq!(sock.local_port(), server.address().map(|a| a.port()));
            assert_eq!(sock.remote_address(), Some(LOCALHOST));
            ls.push(format!("connection {}", sock.remote_port().unwrap()));
            sock.end();
        });
        let port = listen_local(&server);
        let done = Calls::new();
        for _ in 0..3 {
            let c = net::connect(port, "127.0.0.1")?;
            let (done, server, l) = (done.clone(), server.clone(), l.clone());
            // Like Node, a destroyed socket has no local name: note it
            // while connected.
            c.on(Socket::CONNECT, move |c, _| {
                l.push(format!("client {}", c.local_port().unwrap()))
            });
            c.on(Socket::CLOSE, move |_, had_error| {
                assert!(!had_error);
                done.hit();
                if done.get() == 3 {
                    server.close();
                }
            });
        }
        Ok(())
    })
    .unwrap();
    // Every client was seen by the server under its own port.
    let e = log.entries();
    assert_eq!(e.len(), 6, "{e:?}");
    for entry in log.starting_with("client ") {
        let port = entry.trim_start_matches("client ");
        assert_eq!(log.count(&format!("connection {port}")), 1, "{e:?}");
    }
}

#[test]
fn connections_counts_open_sockets_and_drops_as_they_close() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("connections()");
        let accepted: Rc<RefCell<Vec<Socket>>> = Rc::default();
        let acc = Rc::clone(&accepted);
        let server = Server::new();
        server.on(Server::CONNECTION, move |server, sock| {
            acc.borrow_mut().push(sock.clone());
            l.push(format!("open {}", server.connections()));
            let l2 = l.clone();
            let srv = server.clone();
            sock.on(Socket::CLOSE, move |_, _| {
                l2.push(format!("closed, now {}", srv.connections()));
            });
            if server.connections() == 3 {
                // Destroy them one by one, a loop iteration apart.
                let acc = Rc::clone(&acc);
                let srv = server.clone();
                set_immediate(move || {
                    for s in acc.borrow().iter() {
                        s.destroy();
                    }
                    assert_eq!(srv.connections(), 0);
                    srv.close();
                });
            }
        });
        let port = listen_local(&server);
        assert_eq!(server.connections(), 0);
        for _ in 0..3 {
            let c = net::connect(port, "127.0.0.1")?;
            c.on(Socket::ERROR, |_, _| {}); // destroyed by the server
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        [
            "open 1",
            "open 2",
            "open 3",
            "closed, now 0",
            "closed, now 0",
            "closed, now 0"
        ]
    );
}

#[test]
fn max_connections_drops_the_excess_and_reports_the_five_tuple() {
    // Node 20: the dropped client sees `connect`, then the server's FIN
    // (`end`), then `close(false)`; the server emits `drop` with both ends.
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("max_connections");
        let server = Server::new();
        assert_eq!(server.max_connections(), None);
        server.set_max_connections(Some(1));
        assert_eq!(server.max_connections(), Some(1));
        let first: Rc<RefCell<Option<Socket>>> = Rc::default();
        let f = Rc::clone(&first);
        let lc = l.clone();
        server.on(Server::CONNECTION, move |_, sock| {
            lc.push("connection");
            *f.borrow_mut() = Some(sock.clone());
        });
        let port = listen_local(&server);
        let dropped_port: Rc<RefCell<Option<u16>>> = Rc::default();
        let (dp, ld) = (Rc::clone(&dropped_port), l.clone());
        server.on(Server::DROP, move |_, info: &DropInfo| {
            assert_eq!(info.local_address, Some(LOCALHOST));
            assert_eq!(info.local_port, Some(port));
            assert_eq!(info.local_family, Some(Family::IPv4));
            assert_eq!(info.remote_address, Some(LOCALHOST));
            assert_eq!(info.remote_family, Some(Family::IPv4));
            *dp.borrow_mut() = Some(info.remote_port.expect("remote port"));
            ld.push("drop");
        });
        let a = net::connect(port, "127.0.0.1")?;
        let (lb, srv, first2) = (l.clone(), server.clone(), Rc::clone(&first));
        a.on(Socket::CONNECT, move |_, _| {
            // Once the first is in, a second one is over the limit.
            let b = net::connect(port, "127.0.0.1").unwrap();
            let lx = lb.clone();
            let b_port: Rc<RefCell<Option<u16>>> = Rc::default();
            let bp = Rc::clone(&b_port);
            b.on(Socket::CONNECT, move |b, _| {
                *bp.borrow_mut() = b.local_port();
                lx.push("b connect");
            });
            let lx = lb.clone();
            b.on(Socket::END, move |_, _| lx.push("b end"));
            let lx = lb.clone();
            b.on(Socket::ERROR, move |_, e| lx.push(format!("b error {e}")));
            let (lx, srv, first) = (lb.clone(), srv.clone(), Rc::clone(&first2));
            let dp = Rc::clone(&dropped_port);
            b.on(Socket::CLOSE, move |_, had_error| {
                // The dropped peer was this client.
                assert!(b_port.borrow().is_some());
                assert_eq!(*dp.borrow(), *b_port.borrow(), "drop's remote port");
                lx.push(format!("b close {had_error}"));
                if let Some(s) = first.borrow().as_ref() {
                    s.destroy();
                }
                srv.close();
            });
        });
        a.on(Socket::ERROR, |_, _| {});
        Ok(())
    })
    .unwrap();
    let e = log.entries();
    assert_eq!(e[0], "connection");
    assert_eq!(log.count("drop"), 1, "{e:?}");
    assert_eq!(log.count("b connect"), 1, "{e:?}");
    assert_eq!(log.count("connection"), 1, "{e:?}");
    let tail = log.starting_with("b ");
    assert_eq!(tail, ["b connect", "b end", "b close false"], "{e:?}");
}

#[test]
fn max_connections_zero_refuses_everything() {
    let drops = Calls::new();
    let d = drops.clone();
    netloop::run(move || {
        let _g = guard("max 0");
        let server = net::create_server(|_, _| panic!("accepted over the limit"));
        server.set_max_connections(Some(0));
        let port = listen_local(&server);
        server.on(Server::DROP, move |_, _| d.hit());
        let closed = Calls::new();
        for _ in 0..2 {
            let c = net::connect(port, "127.0.0.1")?;
            c.on(Socket::ERROR, |_, _| {});
            let (closed, server) = (closed.clone(), server.clone());
            c.on(Socket::CLOSE, move |_, _| {
                closed.hit();
                if closed.get() == 2 {
                    server.close();
                }
            });
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(drops.get(), 2);
}

#[test]
fn allow_half_open_server_sockets_stay_writable_after_the_peers_end() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("half open server");
        let opts = ServerOptions {
            allow_half_open: true,
            ..ServerOptions::default()
        };
        let ls = l.clone();
        let server = net::create_server_with(opts, move |_, sock: &Socket| {
            sock.on(Socket::DATA, |_, _| {});
            let lx = ls.clone();
            sock.on(Socket::END, move |s, _| {
                lx.push(format!("server end {}", s.ready_state()));
                let s = s.clone();
                let lx = lx.clone();
                // Still writable, on a later iteration too.
                set_immediate(move || {
                    assert!(s.write("late reply"));
                    s.end();
                    lx.push("server replied");
                });
            });
            let lx = ls.clone();
            sock.on(Socket::FINISH, move |_, _| lx.push("server finish"));
            let lx = ls.clone();
            sock.on(Socket::CLOSE, move |_, _| lx.push("server close"));
        });
        let port = listen_local(&server);
        let c = net::connect_with(net::ConnectOptions {
            port,
            host: Some("127.0.0.1".into()),
            allow_half_open: true,
            ..Default::default()
        })?;
        c.end();
        let got: Rc<RefCell<Vec<u8>>> = Rc::default();
        let g = Rc::clone(&got);
        c.on(Socket::DATA, move |_, d| {
            g.borrow_mut().extend_from_slice(d)
        });
        let lc = l.clone();
        c.on(Socket::END, move |_, _| {
            lc.push(format!(
                "client got {:?}",
                String::from_utf8_lossy(&got.borrow())
            ))
        });
        c.on(Socket::CLOSE, move |_, _| {
            server.close();
        });
        Ok(())
    })
    .unwrap();
    let e = log.entries();
    assert_eq!(
        e[..4],
        [
            "server end writeOnly",
            "server replied",
            "server finish",
            "server close"
        ],
        "{e:?}"
    );
    assert_eq!(log.count("client got \"late reply\""), 1, "{e:?}");
}

#[test]
fn default_server_sockets_end_their_side_after_the_peers_end() {
    // allow_half_open off: the server socket ends itself after `end`,
    // without a call to end(), then closes.
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("not half open");
        let ls = l.clone();
        let server = net::create_server(move |_, sock: &Socket| {
            sock.on(Socket::DATA, |_, _| {});
            let lx = ls.clone();
            sock.on(Socket::END, move |_, _| lx.push("server end"));
            let lx = ls.clone();
            sock.on(Socket::FINISH, move |_, _| lx.push("server finish"));
            let lx = ls.clone();
            sock.on(Socket::CLOSE, move |_, e| {
                lx.push(format!("server close {e}"))
            });
        });
        let port = listen_local(&server);
        let c = net::connect_with(net::ConnectOptions {
            port,
            host: Some("127.0.0.1".into()),
            allow_half_open: true,
            ..Default::default()
        })?;
        c.end();
        c.on(Socket::DATA, |_, _| {});
        let lc = l.clone();
        c.on(Socket::END, move |_, _| lc.push("client end"));
        c.on(Socket::CLOSE, move |_, _| {
            server.close();
        });
        Ok(())
    })
    .unwrap();
    let e = log.entries();
    assert_eq!(
        e[..3],
        ["server end", "server finish", "server close false"],
        "{e:?}"
    );
    assert_eq!(log.count("client end"), 1, "{e:?}");
}

#[test]
fn pause_on_connect_holds_data_until_resume() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("pause_on_connect");
        let opts = ServerOptions {
            pause_on_connect: true,
            ..ServerOptions::default()
        };
        // Resume once both happened: the server accepted the socket, and
        // the client's `finish` says its bytes and FIN were sent.
        let accepted: Rc<RefCell<Option<Socket>>> = Rc::default();
        let ready = Calls::new();
        let try_resume = {
            let (accepted, ready, l) = (Rc::clone(&accepted), ready.clone(), l.clone());
            move || {
                ready.hit();
                if ready.get() == 2 {
                    let s = accepted.borrow().clone().expect("accepted");
                    l.push("resume");
                    s.resume();
                    l.push("resume returned");
                }
            }
        };
        let ls = l.clone();
        let (acc, resume) = (Rc::clone(&accepted), try_resume.clone());
        let server = net::create_server_with(opts, move |_, sock: &Socket| {
            assert!(sock.is_paused());
            // A data listener does not start a socket paused on purpose.
            let got: Rc<RefCell<Vec<u8>>> = Rc::default();
            let g = Rc::clone(&got);
            let lx = ls.clone();
            sock.on(Socket::DATA, move |s, d| {
                assert!(!s.is_paused());
                if g.borrow().is_empty() {
                    lx.push("first data");
                }
                g.borrow_mut().extend_from_slice(d);
            });
            let lx = ls.clone();
            sock.on(Socket::END, move |s, _| {
                lx.push(format!(
                    "end after {:?}, read {}",
                    String::from_utf8_lossy(&got.borrow()),
                    s.bytes_read()
                ));
            });
            ls.push("paused");
            *acc.borrow_mut() = Some(sock.clone());
            resume();
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        c.write("held ");
        c.write("back");
        c.end();
        c.on(Socket::FINISH, move |_, _| try_resume());
        c.on(Socket::CLOSE, move |_, _| {
            server.close();
        });
        Ok(())
    })
    .unwrap();
    let e = log.entries();
    let pos = |x: &str| {
        e.iter()
            .position(|y| y == x)
            .unwrap_or_else(|| panic!("{x} missing: {e:?}"))
    };
    assert!(pos("paused") < pos("resume"), "{e:?}");
    assert_eq!(
        e[pos("resume")..],
        [
            "resume",
            "resume returned",
            "first data",
            "end after \"held back\", read 9"
        ]
    );
    assert_eq!(e.len(), 5, "{e:?}");
}
