//! Ports of Node's happy-eyeballs tests (`test-net-autoselectfamily*.js`).
//!
//! Node's tests answer the lookup from a fake DNS server through the
//! `lookup` option; these pass a [`Lookup`] that answers with fixed
//! addresses, which is the same hook without the DNS server. Only `::1`
//! and `127.0.0.1` are used: an address "unreachable" in Node's tests is
//! either a port with nothing listening (refused at once; held by a
//! socket that is bound but never listens, so no parallel test can take
//! it) or a black hole, a listener whose accept queue is full so the
//! kernel drops the SYN and the attempt stays pending until the attempt
//! timer fires.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use crate::util::{
    fixed_lookup, guard, ipv6_black_hole_with_free_ipv4_port, ipv6_refused_ipv4_free,
    refused_port_v4_v6, server_port_v4_v6, Calls, Log,
};
use netloop::net::{self, ConnectOptions, Encoding, Family, Lookup, Server, Socket};
use netloop::ErrorCode;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Log every connect-related event of `sock` into `log`, Node-style.
fn trace(sock: &Socket, log: &Log) {
    let l = log.clone();
    sock.on(Socket::LOOKUP, move |_, info| match &info.error {
        Some(e) => l.push(format!("lookup error {}", e.code().as_str())),
        None => l.push(format!("lookup {}", info.address.unwrap())),
    });
    let l = log.clone();
    sock.on(Socket::CONNECTION_ATTEMPT, move |_, a| {
        l.push(format!("attempt {} {}", a.address, a.family.number()))
    });
    let l = log.clone();
    sock.on(Socket::CONNECTION_ATTEMPT_FAILED, move |_, a| {
        let e = a.error.as_ref().unwrap();
        l.push(format!(
            "failed {} {} {}",
            a.address,
            e.code().as_str(),
            e.message()
        ))
    });
    let l = log.clone();
    sock.on(Socket::CONNECTION_ATTEMPT_TIMEOUT, move |_, a| {
        l.push(format!("timeout {}", a.address))
    });
    let l = log.clone();
    sock.on(Socket::CONNECT, move |_, _| l.push("connect"));
    let l = log.clone();
    sock.on(Socket::READY, move |_, _| l.push("ready"));
    let l = log.clone();
    sock.on(Socket::END, move |_, _| l.push("end"));
    let l = log.clone();
    sock.on(Socket::CLOSE, move |_, had_error| {
        l.push(format!("close {had_error}"))
    });
}

/// A server answering the first chunk with `reply` and ending, as in
/// Node's tests; counts its connections.
fn reply_server(reply: &'static str, connections: Calls) -> Server {
    net::create_server(move |_, sock: &Socket| {
        connections.hit();
        sock.once(Socket::DATA, move |s, _| {
            s.write(reply);
            s.end();
        });
    })
}

/// The client side of Node's tests: write "request", collect the reply.
fn request(sock: &Socket, response: &Rc<RefCell<String>>) {
    sock.set_encoding(Some(Encoding::Utf8));
    let r = Rc::clone(response);
    sock.on(Socket::DATA, move |_, d| {
        r.borrow_mut().push_str(std::str::from_utf8(d).unwrap())
    });
    sock.write("request");
}

/// Keep `sock`'s attempted-address list, as it is at `ready`.
fn keep_attempted(sock: &Socket, attempted: &Rc<RefCell<Option<Vec<SocketAddr>>>>) {
    let at = Rc::clone(attempted);
    sock.on(Socket::READY, move |s, _| {
        *at.borrow_mut() = s.auto_select_family_attempted_addresses();
    });
}

/// What [`race_both_families`] saw.
struct Race {
    port: u16,
    response: String,
    v4_conns: usize,
    v6_conns: usize,
    attempted: Option<Vec<SocketAddr>>,
}

/// Node's two-server setup: a server answering "response-ipv4" on
/// `127.0.0.1:P` and one answering "response-ipv6" on `[::1]:P`, and a
/// happy-eyeballs client whose lookup answers `order`.
fn race_both_families(test: &'static str, order: [&str; 2]) -> Race {
    let v4_conns = Calls::new();
    let v6_conns = Calls::new();
    let response = Rc::new(RefCell::new(String::new()));
    let attempted = Rc::new(RefCell::new(None));
    let held = server_port_v4_v6();
    let p = held.port();
    netloop::run(|| {
        let _guard = guard(test);
        let v4 = reply_server("response-ipv4", v4_conns.clone());
        v4.listen(p, "127.0.0.1")?;
        let v6 = reply_server("response-ipv6", v6_conns.clone());
        v6.listen(p, "::1")?;
        let c = net::connect_with(ConnectOptions {
            host: Some("example.org".into()),
            port: p,
            lookup: Some(fixed_lookup(&order, Calls::new())),
            auto_select_family: Some(true),
            ..ConnectOptions::default()
        })?;
        keep_attempted(&c, &attempted);
        request(&c, &response);
        c.on(Socket::END, move |_, _| {
            v4.close();
            v6.close();
        });
        Ok(())
    })
    .unwrap();
    let response = response.borrow().clone();
    let attempted = attempted.borrow().clone();
    Race {
        port: p,
        response,
        v4_conns: v4_conns.get(),
        v6_conns: v6_conns.get(),
        attempted,
    }
}

/// Node's fallback setup: a server answering "response-ipv4" on
/// `127.0.0.1:P`, and a happy-eyeballs client (lookup answers `::1`, then
/// `127.0.0.1`) whose `[::1]:P` attempt must fail or time out. Asserts
/// that the client reached the IPv4 server after trying both, once, and
/// returns its event trace.
fn connect_falls_back_to_ipv4(
    test: &'static str,
    p: u16,
    attempt_timeout: Duration,
) -> Vec<String> {
    let log = Log::new();
    let lookups = Calls::new();
    let v4_conns = Calls::new();
    let response = Rc::new(RefCell::new(String::new()));
    let attempted = Rc::new(RefCell::new(None));
    netloop::run(|| {
        let _guard = guard(test);
        let server = reply_server("response-ipv4", v4_conns.clone());
        server.listen(p, "127.0.0.1")?;
        let c = net::connect_with(ConnectOptions {
            host: Some("example.org".into()),
            port: p,
            lookup: Some(fixed_lookup(&["::1", "127.0.0.1"], lookups.clone())),
            auto_select_family: Some(true),
            auto_select_family_attempt_timeout: Some(attempt_timeout),
            ..ConnectOptions::default()
        })?;
        trace(&c, &log);
        keep_attempted(&c, &attempted);
        request(&c, &response);
        c.on(Socket::END, move |_, _| {
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(lookups.get(), 1);
    assert_eq!(v4_conns.get(), 1);
    assert_eq!(*response.borrow(), "response-ipv4");
    assert_eq!(
        *attempted.borrow(),
        Some(vec![
            sa(&format!("[::1]:{p}")),
            sa(&format!("127.0.0.1:{p}"))
        ])
    );
    log.entries()
}

/// "Test that IPV4 is reached if IPV6 is not reachable."
#[test]
fn node_net_autoselectfamily() {
    // Nothing listens on [::1]:p; the server takes 127.0.0.1:p.
    let held = ipv6_refused_ipv4_free();
    let p = held.port();
    let log =
        connect_falls_back_to_ipv4("node_net_autoselectfamily", p, Duration::from_millis(250));
    assert_eq!(
        log,
        vec![
            "lookup ::1".to_string(),
            "lookup 127.0.0.1".into(),
            "attempt ::1 6".into(),
            format!("failed ::1 ECONNREFUSED connect ECONNREFUSED ::1:{p}"),
            "attempt 127.0.0.1 4".into(),
            "connect".into(),
            "ready".into(),
            "end".into(),
            "close false".into(),
        ]
    );
}

/// "Test that IPV4 is NOT reached if IPV6 is reachable."
#[test]
fn node_net_autoselectfamily_ipv6_reachable() {
    let race = race_both_families(
        "node_net_autoselectfamily_ipv6_reachable",
        ["::1", "127.0.0.1"],
    );
    assert_eq!(race.response, "response-ipv6");
    assert_eq!((race.v4_conns, race.v6_conns), (0, 1));
    assert_eq!(
        race.attempted,
        Some(vec![sa(&format!("[::1]:{}", race.port))])
    );
}

/// "Test that when all errors are returned when no connections succeeded":
/// an aggregate error whose code is the first error's.
#[test]
fn node_net_autoselectfamily_all_fail() {
    let log = Log::new();
    let errors = Rc::new(RefCell::new(Vec::new()));
    let attempted = Rc::new(RefCell::new(None));
    let refused = refused_port_v4_v6();
    let port = refused.port();
    netloop::run(|| {
        let _guard = guard("node_net_autoselectfamily_all_fail");
        let c = net::connect_with(ConnectOptions {
            host: Some("example.org".into()),
            port,
            lookup: Some(fixed_lookup(&["::1", "127.0.0.1"], Calls::new())),
            auto_select_family: Some(true),
            ..ConnectOptions::default()
        })?;
        trace(&c, &log);
        let (errs, at) = (Rc::clone(&errors), Rc::clone(&attempted));
        c.on(Socket::ERROR, move |s, e| {
            *at.borrow_mut() = s.auto_select_family_attempted_addresses();
            let list: Vec<String> = e.errors().iter().map(|x| x.message().to_owned()).collect();
            errs.borrow_mut().push((e.code(), list));
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        *errors.borrow(),
        vec![(
            ErrorCode::ECONNREFUSED,
            vec![
                format!("connect ECONNREFUSED ::1:{port}"),
                format!("connect ECONNREFUSED 127.0.0.1:{port}"),
            ]
        )]
    );
    assert_eq!(
        *attempted.borrow(),
        Some(vec![
            sa(&format!("[::1]:{port}")),
            sa(&format!("127.0.0.1:{port}"))
        ])
    );
    assert_eq!(
        log.entries(),
        vec![
            "lookup ::1".to_string(),
            "lookup 127.0.0.1".into(),
            "attempt ::1 6".into(),
            format!("failed ::1 ECONNREFUSED connect ECONNREFUSED ::1:{port}"),
            "attempt 127.0.0.1 4".into(),
            format!("failed 127.0.0.1 ECONNREFUSED connect ECONNREFUSED 127.0.0.1:{port}"),
            "close true".into(),
        ]
    );
}

/// "Test that the option can be disabled": only the first address is
/// tried, and its own error is reported.
#[test]
fn node_net_autoselectfamily_disabled() {
    let log = Log::new();
    let errors = Log::new();
    let attempted = Rc::new(RefCell::new(Some(Vec::new())));
    let v4_conns = Calls::new();
    let held = ipv6_refused_ipv4_free();
    let p = held.port();
    netloop::run(|| {
        let _guard = guard("node_net_autoselectfamily_disabled");
        let server = reply_server("response-ipv4", v4_conns.clone());
        server.listen(p, "127.0.0.1")?;
        let c = net::connect_with(ConnectOptions {
            host: Some("example.org".into()),
            port: p,
            lookup: Some(fixed_lookup(&["::1", "127.0.0.1"], Calls::new())),
            auto_select_family: Some(false),
            ..ConnectOptions::default()
        })?;
        trace(&c, &log);
        let (errs, at) = (errors.clone(), Rc::clone(&attempted));
        c.on(Socket::ERROR, move |s, e| {
            *at.borrow_mut() = s.auto_select_family_attempted_addresses();
            errs.push(format!("{} {}", e.code().as_str(), e.message()));
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(v4_conns.get(), 0);
    assert_eq!(*attempted.borrow(), None);
    assert_eq!(
        errors.entries(),
        vec![format!("ECONNREFUSED connect ECONNREFUSED ::1:{p}")]
    );
    assert_eq!(
        log.entries(),
        vec![
            "lookup ::1".to_string(),
            "attempt ::1 6".into(),
            format!("failed ::1 ECONNREFUSED connect ECONNREFUSED ::1:{p}"),
            "close true".into(),
        ]
    );
}

/// `test-net-autoselectfamily-default.js`: the thread default decides
/// when the option is not given.
#[test]
fn node_net_autoselectfamily_default() {
    assert!(net::default_auto_select_family(), "Node 20's default is on");
    let outcomes = Log::new();
    for default in [true, false] {
        let out = outcomes.clone();
        let held = ipv6_refused_ipv4_free();
        let p = held.port();
        netloop::run(|| {
            let _guard = guard("node_net_autoselectfamily_default");
            net::set_default_auto_select_family(default);
            let server = reply_server("response-ipv4", Calls::new());
            server.listen(p, "127.0.0.1")?;
            let c = net::connect_with(ConnectOptions {
                host: Some("example.org".into()),
                port: p,
                lookup: Some(fixed_lookup(&["::1", "127.0.0.1"], Calls::new())),
                ..ConnectOptions::default()
            })?;
            let response = Rc::new(RefCell::new(String::new()));
            request(&c, &response);
            let o = out.clone();
            c.on(Socket::ERROR, move |_, e| {
                o.push(format!("default {default}: error {}", e.code().as_str()))
            });
            let o = out.clone();
            c.on(Socket::CLOSE, move |_, _| {
                o.push(format!(
                    "default {default}: response {:?}",
                    response.borrow()
                ));
                server.close();
            });
            Ok(())
        })
        .unwrap();
    }
    net::set_default_auto_select_family(true);
    assert_eq!(
        outcomes.entries(),
        vec![
            "default true: response \"response-ipv4\"".to_string(),
            "default false: error ECONNREFUSED".into(),
            "default false: response \"\"".into(),
        ]
    );
}

/// `test-net-autoselectfamily-ipv4first.js`: the family of the first
/// answer goes first, so IPv6 is not reached.
#[test]
fn node_net_autoselectfamily_ipv4first() {
    let race = race_both_families("node_net_autoselectfamily_ipv4first", ["127.0.0.1", "::1"]);
    assert_eq!(race.response, "response-ipv4");
    assert_eq!((race.v4_conns, race.v6_conns), (1, 0));
    assert_eq!(
        race.attempted,
        Some(vec![sa(&format!("127.0.0.1:{}", race.port))])
    );
}

/// `test-net-autoselectfamily-attempt-timeout-default-value.js`: 250 ms,
/// and values under 10 ms become 10 ms.
#[test]
fn node_net_autoselectfamily_attempt_timeout_default_value() {
    assert_eq!(
        net::default_auto_select_family_attempt_timeout(),
        Duration::from_millis(250)
    );
    assert_eq!(
        net::DEFAULT_AUTO_SELECT_FAMILY_ATTEMPT_TIMEOUT,
        Duration::from_millis(250)
    );
    net::set_default_auto_select_family_attempt_timeout(Duration::from_millis(5));
    assert_eq!(
        net::default_auto_select_family_attempt_timeout(),
        Duration::from_millis(10)
    );
    net::set_default_auto_select_family_attempt_timeout(Duration::from_millis(123));
    assert_eq!(
        net::default_auto_select_family_attempt_timeout(),
        Duration::from_millis(123)
    );
    net::set_default_auto_select_family_attempt_timeout(Duration::from_millis(250));
}

/// From `test-net-autoselectfamily.js` ("only the last successful
/// connection is established"): an address that does not answer times out
/// after the attempt timeout (`connectionAttemptTimeout`), and the next
/// family is tried.
#[test]
fn node_net_autoselectfamily_attempt_timeout() {
    let hole = ipv6_black_hole_with_free_ipv4_port();
    let p = hole.port();
    let log = connect_falls_back_to_ipv4(
        "node_net_autoselectfamily_attempt_timeout",
        p,
        Duration::from_millis(50),
    );
    drop(hole);
    assert_eq!(
        log,
        vec![
            "lookup ::1".to_string(),
            "lookup 127.0.0.1".into(),
            "attempt ::1 6".into(),
            "timeout ::1".into(),
            "attempt 127.0.0.1 4".into(),
            "connect".into(),
            "ready".into(),
            "end".into(),
            "close false".into(),
        ]
    );
}

/// A timed-out attempt counts as `connect ETIMEDOUT` in the aggregate, so
/// the aggregate's code is ETIMEDOUT when that attempt came first.
#[test]
fn node_net_autoselectfamily_attempt_timeout_all_fail() {
    let errors = Rc::new(RefCell::new(Vec::new()));
    let log = Log::new();
    let hole = ipv6_black_hole_with_free_ipv4_port();
    let p = hole.port();
    netloop::run(|| {
        let _guard = guard("node_net_autoselectfamily_attempt_timeout_all_fail");
        let c = net::connect_with(ConnectOptions {
            host: Some("example.org".into()),
            port: p,
            lookup: Some(fixed_lookup(&["::1", "127.0.0.1"], Calls::new())),
            auto_select_family: Some(true),
            auto_select_family_attempt_timeout: Some(Duration::from_millis(20)),
            ..ConnectOptions::default()
        })?;
        trace(&c, &log);
        let errs = Rc::clone(&errors);
        c.on(Socket::ERROR, move |_, e| {
            let list: Vec<(ErrorCode, String, Option<String>, Option<i32>)> = e
                .errors()
                .iter()
                .map(|x| {
                    (
                        x.code(),
                        x.message().to_owned(),
                        x.syscall().map(str::to_owned),
                        x.errno(),
                    )
                })
                .collect();
            errs.borrow_mut().push((e.code(), list));
        });
        Ok(())
    })
    .unwrap();
    drop(hole);
    assert_eq!(
        *errors.borrow(),
        vec![(
            ErrorCode::ETIMEDOUT,
            vec![
                (
                    ErrorCode::ETIMEDOUT,
                    format!("connect ETIMEDOUT ::1:{p}"),
                    Some("connect".to_string()),
                    Some(-libc::ETIMEDOUT)
                ),
                (
                    ErrorCode::ECONNREFUSED,
                    format!("connect ECONNREFUSED 127.0.0.1:{p}"),
                    Some("connect".to_string()),
                    Some(-libc::ECONNREFUSED)
                ),
            ]
        )]
    );
    assert_eq!(
        log.entries(),
        vec![
            "lookup ::1".to_string(),
            "lookup 127.0.0.1".into(),
            "attempt ::1 6".into(),
            "timeout ::1".into(),
            "attempt 127.0.0.1 4".into(),
            format!("failed 127.0.0.1 ECONNREFUSED connect ECONNREFUSED 127.0.0.1:{p}"),
            "close true".into(),
        ]
    );
}

/// The real resolver with "localhost": with both `::1` and `127.0.0.1`
/// (as on many machines) happy eyeballs runs; with one address (this
/// machine's /etc/hosts may list only 127.0.0.1) Node switches back to a
/// single connect and sets no attempted-address list.
#[test]
fn node_net_autoselectfamily_localhost() {
    use std::net::ToSocketAddrs;
    let mut resolved: Vec<IpAddr> = Vec::new();
    for a in ("localhost", 0).to_socket_addrs().unwrap() {
        if !resolved.contains(&a.ip()) {
            resolved.push(a.ip());
        }
    }
    let log = Log::new();
    let attempted = Rc::new(RefCell::new(None));
    let held = ipv6_refused_ipv4_free();
    let p = held.port();
    netloop::run(|| {
        let _guard = guard("node_net_autoselectfamily_localhost");
        let server = net::create_server(|_, s: &Socket| {
            s.end();
        });
        server.listen(p, "127.0.0.1")?;
        let c = net::connect(p, "localhost")?;
        trace(&c, &log);
        keep_attempted(&c, &attempted);
        c.on(Socket::CLOSE, move |_, _| {
            server.close();
        });
        Ok(())
    })
    .unwrap();
    let lookups = log.starting_with("lookup");
    let expected: Vec<String> = resolved.iter().map(|a| format!("lookup {a}")).collect();
    assert_eq!(lookups, expected, "one `lookup` event per address");
    assert!(log.contains("connect") && log.contains("ready"));
    if resolved.len() > 1 {
        let tried = attempted.borrow().clone().expect("happy eyeballs ran");
        assert_eq!(tried.last(), Some(&sa(&format!("127.0.0.1:{p}"))));
    } else {
        assert_eq!(*attempted.borrow(), None);
        assert_eq!(log.starting_with("attempt").len(), 1);
    }
}

/// A failing custom lookup: `lookup` with the error, then `error` and
/// `close(true)` (Node's `lookupAndConnect` error path).
#[test]
fn node_net_autoselectfamily_lookup_error() {
    let log = Log::new();
    let errors = Log::new();
    netloop::run(|| {
        let _guard = guard("node_net_autoselectfamily_lookup_error");
        let lookup = Lookup::new(|host, _family, done| {
            done(Err(netloop::Error::from(std::io::Error::other(format!(
                "no such host {host}"
            )))))
        });
        let c = net::connect_with(ConnectOptions {
            host: Some("example.org".into()),
            port: 80,
            lookup: Some(lookup),
            ..ConnectOptions::default()
        })?;
        trace(&c, &log);
        let e = errors.clone();
        c.on(Socket::ERROR, move |_, err| e.push(err.message()));
        Ok(())
    })
    .unwrap();
    assert_eq!(errors.entries(), vec!["no such host example.org"]);
    assert_eq!(log.len(), 2, "{:?}", log.entries());
    assert!(log.entries()[0].starts_with("lookup error"));
    assert_eq!(log.entries()[1], "close true");
}

/// Happy eyeballs is off when a `family` is given (Node's
/// `lookupAndConnect` condition): one `lookup` event, one attempt, no
/// attempted-address list.
#[test]
fn node_net_autoselectfamily_family_option() {
    let log = Log::new();
    let attempted = Rc::new(RefCell::new(Some(Vec::new())));
    let families = Log::new();
    netloop::run(|| {
        let _guard = guard("node_net_autoselectfamily_family_option");
        let server = net::create_server(|_, s: &Socket| {
            s.end();
        });
        server.listen(0, "127.0.0.1")?;
        let f = families.clone();
        let lookup = Lookup::new(move |_host, family, done| {
            f.push(format!("{family:?}"));
            done(Ok(vec![
                "127.0.0.1".parse().unwrap(),
                "::1".parse().unwrap(),
            ]))
        });
        let c = net::connect_with(ConnectOptions {
            host: Some("example.org".into()),
            port: server.address().unwrap().port(),
            family: Some(Family::IPv4),
            lookup: Some(lookup),
            auto_select_family: Some(true),
            ..ConnectOptions::default()
        })?;
        trace(&c, &log);
        keep_attempted(&c, &attempted);
        c.on(Socket::CLOSE, move |_, _| {
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(families.entries(), vec!["Some(IPv4)"]);
    assert_eq!(*attempted.borrow(), None);
    assert_eq!(
        log.entries(),
        vec![
            "lookup 127.0.0.1",
            "attempt 127.0.0.1 4",
            "connect",
            "ready",
            "end",
            "close false"
        ]
    );
}
