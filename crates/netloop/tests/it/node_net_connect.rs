//! Connecting and looking up, ported from Node's `test/parallel`: the
//! `lookup` event, IP literals skipping the lookup, a custom `lookup`
//! function, lookup failures, `connecting`, `ready`, and argument checks.
//! Each test names the Node test it ports.

use std::net::IpAddr;

use crate::util::{guard, has_ipv6, listen_local, Calls, Log, UNRESOLVABLE};
use netloop::net::{self, ConnectOptions, Family, Lookup, ReadyState, Server, Socket};
use netloop::{Error, ErrorCode};

/// test-net-dns-lookup: connecting to `localhost` emits `lookup` once with
/// no error, the address, its family and the host name.
#[test]
fn node_net_dns_lookup() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("dns-lookup");
        let server = net::create_server(|server, client: &Socket| {
            client.end();
            server.close();
        });
        let port = listen_local(&server);
        let c = net::connect(port, "localhost")?;
        c.on(Socket::LOOKUP, move |_, info| {
            assert!(info.error.is_none());
            l.push(format!(
                "{:?} {:?} {}",
                info.address,
                info.family.map(Family::number),
                info.host
            ));
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["Some(127.0.0.1) Some(4) localhost"]);
}

/// test-net-dns-lookup-skip: IP literals (v4 and v6) connect without a
/// lookup: no `lookup` event, and a custom lookup function is never
/// called.
#[test]
fn node_net_dns_lookup_skip() {
    let lookups = Calls::new();
    let connects = Calls::new();
    let (lk, cn) = (lookups.clone(), connects.clone());
    netloop::run(move || {
        let _g = guard("dns-lookup-skip");
        let mut addresses = vec!["127.0.0.1"];
        if has_ipv6() {
            addresses.push("::1");
        }
        for address in addresses {
            let server = net::create_server(|server, client: &Socket| {
                client.end();
                server.close();
            });
            server.listen(0, address)?;
            let port = server.address().unwrap().port();
            let lk2 = lk.clone();
            let c = net::connect_with(ConnectOptions {
                port,
                host: Some(address.into()),
                lookup: Some(Lookup::new(move |_, _, _| lk2.hit())),
                ..ConnectOptions::default()
            })?;
            c.on(Socket::LOOKUP, |_, _| panic!("no lookup for an IP literal"));
            let cn = cn.clone();
            c.on(Socket::CONNECT, move |_, _| cn.hit());
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(lookups.get(), 0);
    assert_eq!(connects.get(), if has_ipv6() { 2 } else { 1 });
}

/// test-net-dns-custom-lookup: a `lookup` function replaces the resolver;
/// it is called once with the host, never from inside `connect()`, and
/// the `lookup` event carries its answer (IPv4, then IPv6 if available).
#[test]
fn node_net_dns_custom_lookup() {
    let mut families = vec![4u8];
    if has_ipv6() {
        families.push(6);
    }
    for family in families {
        let log = Log::new();
        let l = log.clone();
        netloop::run(move || {
            let _g = guard("dns-custom-lookup");
            let address = if family == 4 { "127.0.0.1" } else { "::1" };
            let server = net::create_server(|server, client: &Socket| {
                client.end();
                server.close();
            });
            server.listen(0, address)?;
            let port = server.address().unwrap().port();
            let inside_connect = std::rc::Rc::new(std::cell::Cell::new(true));
            let (ic, l1) = (inside_connect.clone(), l.clone());
            let lookup = Lookup::new(move |host, _family, done| {
                assert!(!ic.get(), "lookup called inside connect()");
                l1.push(format!("lookup {host}"));
                done(Ok(vec![address.parse().unwrap()]));
            });
            let c = net::connect_with(ConnectOptions {
                port,
                host: Some("localhost".into()),
                lookup: Some(lookup),
                ..ConnectOptions::default()
            })?;
            inside_connect.set(false);
            let l1 = l.clone();
            c.on(Socket::LOOKUP, move |_, info| {
                assert!(info.error.is_none());
                l1.push(format!(
                    "event {} {}",
                    info.address.unwrap(),
                    info.family.unwrap().number()
                ));
            });
            c.on(Socket::CONNECT, move |_, _| l.push("connect"));
            Ok(())
        })
        .unwrap();
        let address = if family == 4 { "127.0.0.1" } else { "::1" };
        assert_eq!(
            log.entries(),
            [
                "lookup localhost".to_string(),
                format!("event {address} {family}"),
                "connect".to_string()
            ]
        );
    }
}

/// test-net-dns-error: a name that cannot resolve gives `lookup` with the
/// error (no address, no family), then `error` `ENOTFOUND`, then
/// `close(true)`; `connect` never comes.
#[test]
fn node_net_dns_error() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("dns-error");
        // Node 20's test uses 64 '*' (one label over 63 characters).
        let host = "*".repeat(64);
        let socket = net::connect(42, &host)?;
        socket.on(Socket::CONNECT, |_, _| panic!("must not connect"));
        let l1 = l.clone();
        socket.on(Socket::LOOKUP, move |_, info| {
            let err = info.error.as_ref().expect("a lookup error");
            assert!(info.address.is_none());
            assert!(info.family.is_none());
            l1.push(format!("lookup {}", err.code().as_str()));
        });
        let (l1, h) = (l.clone(), host.clone());
        socket.on(Socket::ERROR, move |_, err| {
            assert_eq!(err.syscall(), Some("getaddrinfo"));
            assert_eq!(err.hostname(), Some(h.as_str()));
            l1.push(format!("error {}", err.code().as_str()));
        });
        socket.on(Socket::CLOSE, move |_, h| l.push(format!("close {h}")));
        Ok(())
    })
    .unwrap();
    let entries = log.entries();
    // Node accepts ENOTFOUND or EAI_FAIL for a name this long.
    let code = entries[0].trim_start_matches("lookup ").to_string();
    assert!(code == "ENOTFOUND" || code == "EAI_FAIL", "{entries:?}");
    assert_eq!(
        entries,
        [
            format!("lookup {code}"),
            format!("error {code}"),
            "close true".to_string()
        ]
    );
}

/// test-net-connect-immediate-finish: `end()` right after connecting to a
/// name that does not resolve still reports the lookup failure: `error`
/// once, with Node's fields.
#[test]
fn node_net_connect_immediate_finish() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("connect-immediate-finish");
        let lookups = Calls::new();
        let lk = lookups.clone();
        let client = net::connect_with(ConnectOptions {
            port: 80,
            host: Some(UNRESOLVABLE.into()),
            // Node's test mocks the lookup; so does this one, to stay off
            // the network.
            lookup: Some(Lookup::new(move |host, _, done| {
                lk.hit();
                done(Err(Error::lookup_failed(ErrorCode::ENOTFOUND, host)))
            })),
            ..ConnectOptions::default()
        })?;
        let l1 = l.clone();
        client.once(Socket::ERROR, move |_, err| {
            assert_eq!(err.code(), ErrorCode::ENOTFOUND);
            assert_eq!(err.errno(), Some(-3008));
            assert_eq!(err.syscall(), Some("getaddrinfo"));
            assert_eq!(err.hostname(), Some(UNRESOLVABLE));
            assert_eq!(
                err.to_string(),
                format!("getaddrinfo ENOTFOUND {UNRESOLVABLE}")
            );
            l1.push("error");
        });
        client.on(Socket::CLOSE, move |_, h| {
            assert_eq!(lookups.get(), 1);
            l.push(format!("close {h}"))
        });
        client.end();
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["error", "close true"]);
}

/// The same with the system resolver and a reserved `.invalid` name:
/// `ENOTFOUND` (or `EAI_AGAIN` where no resolver answers), as Node
/// reports.
#[test]
fn node_net_connect_immediate_finish_system_resolver() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("connect-immediate-finish (resolver)");
        let client = net::connect(80, UNRESOLVABLE)?;
        let l1 = l.clone();
        client.once(Socket::ERROR, move |_, err| {
            assert!(
                matches!(err.code(), ErrorCode::ENOTFOUND | ErrorCode::EAI_AGAIN),
                "{err:?}"
            );
            assert_eq!(err.syscall(), Some("getaddrinfo"));
            assert_eq!(err.hostname(), Some(UNRESOLVABLE));
            l1.push("error");
        });
        client.on(Socket::CLOSE, move |_, h| l.push(format!("close {h}")));
        client.end();
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["error", "close true"]);
}

/// test-net-socket-connecting: `connecting()` is true from `connect()`
/// until the `connect` event, false inside it.
#[test]
fn node_net_socket_connecting() {
    let connects = Calls::new();
    let c2 = connects.clone();
    netloop::run(move || {
        let _g = guard("socket-connecting");
        let server = net::create_server(|server, conn: &Socket| {
            conn.end();
            server.close();
        });
        let port = listen_local(&server);
        let client = net::connect(port, "127.0.0.1")?;
        client.on(Socket::CONNECT, move |c, _| {
            assert!(!c.connecting());
            assert!(!c.pending());
            c2.hit();
            c.end();
        });
        assert!(client.connecting());
        assert!(client.pending());
        assert_eq!(client.ready_state(), ReadyState::Opening);
        Ok(())
    })
    .unwrap();
    assert_eq!(connects.get(), 1);
}

/// test-net-socket-ready-without-cb: `Socket::new()` then `connect()`
/// with only event listeners: `connect` and then `ready`, once each.
#[test]
fn node_net_socket_ready_without_cb() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("socket-ready-without-cb");
        let server = net::create_server(|server, conn: &Socket| {
            conn.end();
            server.close();
        });
        let port = listen_local(&server);
        let client = Socket::new();
        let l1 = l.clone();
        client.on(Socket::CONNECT, move |_, _| l1.push("connect"));
        client.on(Socket::READY, move |c, _| {
            l.push("ready");
            c.end();
        });
        client.connect(port, "127.0.0.1")?;
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["connect", "ready"]);
}

/// test-net-connect-options-port: a bad port fails at once with
/// `ERR_SOCKET_BAD_PORT` (the type checks on non-numbers cannot happen
/// with `u16`). Node 20 lets port 0 through and fails later with
/// `ECONNREFUSED`; netloop rejects it at once, since nothing can listen
/// on port 0.
#[test]
fn node_net_connect_options_port() {
    netloop::run(|| {
        for res in [
            net::connect(0, "127.0.0.1").map(|_| ()),
            net::connect_with(ConnectOptions {
                port: 0,
                host: Some("localhost".into()),
                ..ConnectOptions::default()
            })
            .map(|_| ()),
            Socket::new().connect(0, "127.0.0.1").map(|_| ()),
        ] {
            let err = res.expect_err("port 0 is refused at once");
            assert_eq!(err.code(), ErrorCode::ERR_SOCKET_BAD_PORT);
        }
        Ok(())
    })
    .unwrap();
}

/// The `family` option (Node's `net.connect({ family: 4 })`, as
/// test-net-dns-custom-lookup passes it to the lookup): `family: 4` picks the IPv4 address of `localhost` and the `lookup`
/// event says so (the lookup gets the family asked for).
#[test]
fn node_net_dns_custom_lookup_family() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("connect family");
        let server = net::create_server(|server, conn: &Socket| {
            conn.end();
            server.close();
        });
        let port = listen_local(&server);
        let l1 = l.clone();
        let c = net::connect_with(ConnectOptions {
            port,
            host: Some("localhost".into()),
            family: Some(Family::IPv4),
            lookup: Some(Lookup::new(move |host, family, done| {
                l1.push(format!("lookup {host} family {}", family.unwrap()));
                done(Ok(vec!["127.0.0.1".parse::<IpAddr>().unwrap()]))
            })),
            ..ConnectOptions::default()
        })?;
        let l1 = l.clone();
        c.on(Socket::LOOKUP, move |_, info| {
            l1.push(format!("event {}", info.family.unwrap()))
        });
        c.on(Socket::CONNECT, move |c, _| {
            l.push(format!("connect {}", c.remote_family().unwrap()));
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        ["lookup localhost family IPv4", "event IPv4", "connect IPv4"]
    );
}

/// test-net-socket-connect-without-cb: a `connect` listener added before
/// `connect()` (no callback argument) fires once; the server has no
/// `connection` listener and still accepts.
#[test]
fn node_net_socket_connect_without_cb() {
    let connects = Calls::new();
    let c2 = connects.clone();
    netloop::run(move || {
        let _g = guard("connect without cb");
        let server = Server::new();
        let port = listen_local(&server);
        let client = Socket::new();
        client.on(Socket::CONNECT, move |c, _| {
            c2.hit();
            c.destroy();
            server.close();
        });
        client.connect(port, "127.0.0.1")?;
        Ok(())
    })
    .unwrap();
    assert_eq!(connects.get(), 1);
}
