//! Small things a port from Node needs: sockets and servers in a
//! `HashSet` (Node's `Set` of clients), `socket.readable` and
//! `socket.writable`, typed address families, and `run_returning`.

use std::collections::HashSet;
use std::rc::Rc;

use crate::util::{guard, refused_port, Calls, Log};
use netloop::net::{self, ConnectOptions, Family, Server, ServerOptions, Socket};
use netloop::{Error, ErrorCode, Slot};

/// Node's chat-server idiom, `const clients = new Set()`: accepted sockets
/// go into a `HashSet`, clones are found, closed ones removed; distinct
/// sockets never collide.
#[test]
fn a_hash_set_of_sockets_like_nodes_set_of_clients() {
    let report = netloop::run_returning(|| {
        let _g = guard("hash set");
        let clients: Slot<HashSet<Socket>> = Slot::default();
        let report = Slot::new(Vec::new());
        let (set, rep) = (clients.clone(), report.clone());
        let server = net::create_server(move |server, sock: &Socket| {
            let new = set.update(|c| c.insert(sock.clone()));
            let found = set.update(|c| c.contains(&sock.clone()));
            let size = set.update(|c| c.len());
            rep.update(|r| r.push(format!("add {new} found {found} size {size}")));
            if size == 3 {
                server.close();
                // Broadcast to every client, as the chat server does.
                set.update(|c| {
                    for s in c.iter() {
                        s.end_with("bye");
                    }
                });
            }
            let (set, rep) = (set.clone(), rep.clone());
            sock.on(Socket::CLOSE, move |s, _| {
                let removed = set.update(|c| c.remove(s));
                rep.update(|r| r.push(format!("delete {removed}")));
            });
        });
        server.listen(0, "127.0.0.1")?;
        let port = server.address().expect("bound").port();
        for _ in 0..3 {
            net::connect(port, "127.0.0.1")?.resume();
        }
        Ok(report)
    })
    .unwrap();
    assert_eq!(
        report,
        [
            "add true found true size 1",
            "add true found true size 2",
            "add true found true size 3",
            "delete true",
            "delete true",
            "delete true",
        ]
    );
}

/// Servers compare by identity too, and hash the same way.
// clippy's `mutable_key_type` sees the interior mutability behind the
// `Rc`; the hash is the pointer, which never changes.
#[allow(clippy::mutable_key_type)]
#[test]
fn servers_are_equal_to_their_clones_and_hash_by_identity() {
    netloop::run(|| {
        let a = Server::new();
        let b = Server::new();
        assert_eq!(a, a.clone());
        assert_ne!(a, b);
        let set: HashSet<Server> = [a.clone(), b.clone(), a.clone()].into_iter().collect();
        assert_eq!(set.len(), 2);
        assert!(set.contains(&b));
        Ok(())
    })
    .unwrap();
}

/// `readable` and `writable` through a client's and a server socket's
/// lifecycle, against Node 20.20.2 running the same script:
///
/// ```js
/// const net = require('net');
/// const log = (who, s, what) =>
///   console.log(`${who} ${what}: readable=${s.readable} writable=${s.writable}`);
/// const server = net.createServer((sock) => {
///   log('server', sock, 'connection');
///   sock.on('end', () => log('server', sock, 'end'));
///   sock.on('finish', () => log('server', sock, 'finish'));
///   sock.on('close', () => { log('server', sock, 'close'); server.close(); });
///   sock.resume();
/// });
/// server.listen(0, '127.0.0.1', () => {
///   const c = new net.Socket();
///   log('client', c, 'new');
///   c.connect(server.address().port, '127.0.0.1');
///   log('client', c, 'connecting');
///   c.on('connect', () => { log('client', c, 'connect'); c.end(); log('client', c, 'after end()'); });
///   c.on('finish', () => log('client', c, 'finish'));
///   c.on('end', () => log('client', c, 'end'));
///   c.on('close', () => log('client', c, 'close'));
///   c.resume();
/// });
/// ```
///
/// ```text
/// client new: readable=true writable=true
/// client connecting: readable=true writable=true
/// server connection: readable=true writable=true
/// client connect: readable=true writable=true
/// client after end(): readable=true writable=false
/// client finish: readable=true writable=false
/// server end: readable=false writable=true
/// server finish: readable=false writable=false
/// server close: readable=false writable=false
/// client end: readable=false writable=false
/// client close: readable=false writable=false
/// ```
///
/// (The order between the two sides is the network's; each side's own
/// order is compared.)
#[test]
fn node_net_socket_readable_writable_lifecycle() {
    let log = Log::new();
    netloop::run(|| {
        let _g = guard("readable/writable");
        let sides = |who: &'static str, what: &'static str, log: &Log| {
            let log = log.clone();
            move |s: &Socket| {
                log.push(format!(
                    "{who} {what}: readable={} writable={}",
                    s.readable(),
                    s.writable()
                ))
            }
        };
        let l = log.clone();
        let server = net::create_server(move |server, sock: &Socket| {
            server.close();
            sides("server", "connection", &l)(sock);
            let end = sides("server", "end", &l);
            sock.on(Socket::END, move |s, _| end(s));
            let finish = sides("server", "finish", &l);
            sock.on(Socket::FINISH, move |s, _| finish(s));
            let close = sides("server", "close", &l);
            sock.on(Socket::CLOSE, move |s, _| close(s));
            sock.resume();
        });
        server.listen(0, "127.0.0.1")?;
        let port = server.address().expect("bound").port();
        let c = Socket::new();
        sides("client", "new", &log)(&c);
        c.connect(port, "127.0.0.1")?;
        sides("client", "connecting", &log)(&c);
        let (connect, after_end) = (
            sides("client", "connect", &log),
            sides("client", "after end()", &log),
        );
        c.on(Socket::CONNECT, move |c, _| {
            connect(c);
            c.end();
            after_end(c);
        });
        for (what, event) in [("finish", Socket::FINISH), ("end", Socket::END)] {
            let f = sides("client", what, &log);
            c.on(event, move |s, _| f(s));
        }
        let close = sides("client", "close", &log);
        c.on(Socket::CLOSE, move |s, _| close(s));
        c.resume();
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.starting_with("client"),
        [
            "client new: readable=true writable=true",
            "client connecting: readable=true writable=true",
            "client connect: readable=true writable=true",
            "client after end(): readable=true writable=false",
            "client finish: readable=true writable=false",
            "client end: readable=false writable=false",
            "client close: readable=false writable=false",
        ]
    );
    assert_eq!(
        log.starting_with("server"),
        [
            "server connection: readable=true writable=true",
            "server end: readable=false writable=true",
            "server finish: readable=false writable=false",
            "server close: readable=false writable=false",
        ]
    );
}

/// The edge cases, against Node 20.20.2 (`allowHalfOpen` server that
/// writes after the peer's FIN, `end()` and `destroy()` on sockets that
/// never connected, a refused connect):
///
/// ```text
/// server end (half-open): readable=false writable=true
/// server after write: readable=false writable=true
/// server after destroy(): readable=false writable=false
/// server close: readable=false writable=false
/// e end() before connect: readable=true writable=false
/// d destroy() new: readable=false writable=false
/// f error ECONNREFUSED: readable=false writable=false
/// f close: readable=false writable=false
/// ```
#[test]
fn node_net_socket_readable_writable_edge_cases() {
    let refused = refused_port();
    let refused_port = refused.port();
    let log = Log::new();
    netloop::run(|| {
        let _g = guard("readable/writable edges");
        let state = |s: &Socket| format!("readable={} writable={}", s.readable(), s.writable());
        let l = log.clone();
        let opts = ServerOptions {
            allow_half_open: true,
            ..ServerOptions::default()
        };
        let server = net::create_server_with(opts, move |server, sock: &Socket| {
            server.close();
            let l = l.clone();
            sock.on(Socket::END, move |s, _| {
                l.push(format!("server end (half-open): {}", state(s)));
                s.write("x");
                l.push(format!("server after write: {}", state(s)));
                s.destroy();
                l.push(format!("server after destroy(): {}", state(s)));
            });
            sock.resume();
        });
        server.listen(0, "127.0.0.1")?;
        let port = server.address().expect("bound").port();
        let c = net::connect(port, "127.0.0.1")?;
        c.on(Socket::CONNECT, |c, _| {
            c.end();
        });
        c.on(Socket::ERROR, |_, _| {}); // the server may reset it
        c.resume();

        let e = Socket::new();
        e.end();
        log.push(format!("e end() before connect: {}", state(&e)));
        let d = Socket::new();
        d.destroy();
        log.push(format!("d destroy() new: {}", state(&d)));
        let f = net::connect(refused_port, "127.0.0.1")?;
        let l = log.clone();
        f.on(Socket::ERROR, move |s, err| {
            l.push(format!("f error {}: {}", err.code().as_str(), state(s)))
        });
        let l = log.clone();
        f.on(Socket::CLOSE, move |s, _| {
            l.push(format!("f close: {}", state(s)))
        });
        Ok(())
    })
    .unwrap();
    let mut entries = log.entries();
    entries.sort();
    let mut want = [
        "server end (half-open): readable=false writable=true",
        "server after write: readable=false writable=true",
        "server after destroy(): readable=false writable=false",
        "e end() before connect: readable=true writable=false",
        "d destroy() new: readable=false writable=false",
        "f error ECONNREFUSED: readable=false writable=false",
        "f close: readable=false writable=false",
    ];
    want.sort();
    assert_eq!(entries, want);
}

/// `family` is an `Option<Family>` where Node takes 4, 6 or 0: `None` is
/// either, a fixed family reaches a custom lookup as given, and numbers
/// from outside go through `Family::from_number` with Node's validation.
#[test]
fn family_options_are_typed_and_numbers_keep_nodes_validation() {
    assert_eq!(Family::from_number(0).unwrap(), None);
    assert_eq!(Family::from_number(4).unwrap(), Some(Family::IPv4));
    assert_eq!(Family::from_number(6).unwrap(), Some(Family::IPv6));
    let err = Family::from_number(5).unwrap_err();
    assert_eq!(err.code(), ErrorCode::ERR_INVALID_ARG_VALUE);
    assert_eq!(
        err.message(),
        "The property 'options.family' must be one of: 0, 4, 6. Received 5"
    );

    let asked = Log::new();
    netloop::run(|| {
        let _g = guard("family");
        let server = net::create_server(|server, s: &Socket| {
            s.end();
            server.close();
        });
        server.listen(0, "127.0.0.1")?;
        let port = server.address().expect("bound").port();
        for family in [None, Some(Family::IPv4)] {
            let a = asked.clone();
            let lookup = net::Lookup::new(move |_, family, done| {
                a.push(format!("{family:?}"));
                done(Ok(vec!["127.0.0.1".parse().expect("an IP literal")]))
            });
            let c = net::connect_with(ConnectOptions {
                port,
                host: Some("example.test".into()),
                family,
                lookup: Some(lookup),
                ..ConnectOptions::default()
            })?;
            c.on(Socket::ERROR, |_, _| {}); // the second may find the server gone
            c.resume();
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(asked.entries(), ["None", "Some(IPv4)"]);
}

/// `run_returning` hands back what the callbacks left in the slot, after
/// the loop ended and every listener (with its clone of the slot) was
/// dropped; its errors are `run`'s.
#[test]
fn run_returning_hands_back_the_slot_and_run_errors() {
    let dropped = Calls::new();
    struct CountDrop(Calls);
    impl Drop for CountDrop {
        fn drop(&mut self) {
            self.0.hit();
        }
    }
    let got = netloop::run_returning(|| {
        let out = Slot::new(0u32);
        let (o, witness) = (out.clone(), CountDrop(dropped.clone()));
        netloop::timers::set_timeout(std::time::Duration::ZERO, move || {
            let _keep = &witness;
            o.update(|n| *n += 41);
        });
        let o = out.clone();
        netloop::next_tick(move || o.update(|n| *n += 1));
        Ok(out)
    })
    .unwrap();
    assert_eq!(got, 42);
    assert_eq!(dropped.get(), 1);

    let err = netloop::run_returning::<(), _>(|| {
        Err(Error::new(ErrorCode::ERR_INVALID_ARG_VALUE, "bad config"))
    })
    .unwrap_err();
    assert_eq!(err.message(), "bad config");

    let err = netloop::run_returning(|| {
        let s = Socket::new();
        s.destroy_with(Error::new(ErrorCode::ECONNABORTED, "nobody listens"));
        Ok(Slot::new("unused"))
    })
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ECONNABORTED);

    // A clone kept past the loop is empty: reading it is a clear panic.
    let kept: Rc<std::cell::RefCell<Option<Slot<u8>>>> = Rc::default();
    let k = Rc::clone(&kept);
    let value = netloop::run_returning(move || {
        let out = Slot::new(7u8);
        *k.borrow_mut() = Some(out.clone());
        Ok(out)
    })
    .unwrap();
    assert_eq!(value, 7);
    let stale = kept.borrow_mut().take().expect("kept");
    let panic =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || stale.get())).unwrap_err();
    let text = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        text.contains("after run_returning took its value"),
        "{text}"
    );
}
