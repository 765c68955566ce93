//! Ports of Node's happy-eyeballs tests (`test-net-autoselectfamily*.js`).
//!
//! Node's tests answer the lookup from a fake DNS server through the
//! `lookup` option; these pass a [`Lookup`] that answers with fixed
//! addresses, which is the same hook without the DNS server. Only `::1`
//! and `127.0.0.1` are used: an address "unreachable" in Node's tests is
//! either a port with nothing listening (refused at once) or a black hole,
//! a listener whose accept queue is full so the kernel drops the SYN and
//! the attempt stays pending until the attempt timer fires.

#[path = "util/parity_b.rs"]
mod parity_b;

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use netloop::net::{self, ConnectOptions, Encoding, Lookup, Server, Socket};
use netloop::ErrorCode;
use parity_b::{
    failsafe, fixed_lookup, ipv6_black_hole_with_free_ipv4_port, port_free, refused_port, Calls,
    Log,
};

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

/// "Test that IPV4 is reached if IPV6 is not reachable."
#[test]
fn node_net_autoselectfamily() {
    let log = Log::new();
    let lookups = Calls::new();
    let v4_conns = Calls::new();
    let response = Rc::new(RefCell::new(String::new()));
    let attempted = Rc::new(RefCell::new(None));
    let port = Rc::new(RefCell::new(0));
    netloop::run(|| {
        let _guard = failsafe(10);
        let server = reply_server("response-ipv4", v4_conns.clone());
        server.listen(0, "127.0.0.1")?;
        let p = server.address().unwrap().port();
        *port.borrow_mut() = p;
        assert!(port_free("::1", p), "nothing may listen on [::1]:{p}");
        let c = net::connect_with(ConnectOptions {
            host: Some("example.org".into()),
            port: p,
            lookup: Some(fixed_lookup(&["::1", "127.0.0.1"], lookups.clone())),
            auto_select_family: Some(true),
            auto_select_family_attempt_timeout: Some(Duration::from_millis(250)),
            ..ConnectOptions::default()
        })?;
        trace(&c, &log);
        let at = Rc::clone(&attempted);
        c.on(Socket::READY, move |s, _| {
            *at.borrow_mut() = s.auto_select_family_attempted_addresses();
        });
        request(&c, &response);
        c.on(Socket::END, move |_, _| {
            server.close();
        });
        Ok(())
    })
    .unwrap();
    let p = *port.borrow();
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
    assert_eq!(
        log.entries(),
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
    let v4_conns = Calls::new();
    let v6_conns = Calls::new();
    let response = Rc::new(RefCell::new(String::new()));
    let attempted = Rc::new(RefCell::new(None));
    let port = Rc::new(RefCell::new(0));
    netloop::run(|| {
        let _guard = failsafe(10);
        let v4 = reply_server("response-ipv4", v4_conns.clone());
        v4.listen(0, "127.0.0.1")?;
        let p = v4.address().unwrap().port();
        *port.borrow_mut() = p;
        let v6 = reply_server("response-ipv6", v6_conns.clone());
        v6.listen(p, "::1")?;
        let c = net::connect_with(ConnectOptions {
            host: Some("example.org".into()),
            port: p,
            lookup: Some(fixed_lookup(&["::1", "127.0.0.1"], Calls::new())),
            auto_select_family: Some(true),
            ..ConnectOptions::default()
        })?;
        let at = Rc::clone(&attempted);
        c.on(Socket::READY, move |s, _| {
            *at.borrow_mut() = s.auto_select_family_attempted_addresses();
        });
        request(&c, &response);
        c.on(Socket::END, move |_, _| {
            v4.close();
            v6.close();
        });
        Ok(())
    })
    .unwrap();
    let p = *port.borrow();
    assert_eq!(*response.borrow(), "response-ipv6");
    assert_eq!((v4_conns.get(), v6_conns.get()), (0, 1));
    assert_eq!(*attempted.borrow(), Some(vec![sa(&format!("[::1]:{p}"))]));
}

/// "Test that when all errors are returned when no connections succeeded":
/// an aggregate error whose code is the first error's.
#[test]
fn node_net_autoselectfamily_all_fail() {
    let log = Log::new();
    let errors = Rc::new(RefCell::new(Vec::new()));
    let attempted = Rc::new(RefCell::new(None));
    let port = refused_port();
    assert!(port_free("::1", port));
    netloop::run(|| {
        let _guard = failsafe(10);
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
    let port = Rc::new(RefCell::new(0));
    netloop::run(|| {
        let _guard = failsafe(10);
        let server = reply_server("response-ipv4", v4_conns.clone());
        server.listen(0, "127.0.0.1")?;
        let p = server.address().unwrap().port();
        *port.borrow_mut() = p;
        assert!(port_free("::1", p));
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
    let p = *port.borrow();
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
        netloop::run(|| {
            let _guard = failsafe(10);
            net::set_default_auto_select_family(default);
            let server = reply_server("response-ipv4", Calls::new());
            server.listen(0, "127.0.0.1")?;
            let p = server.address().unwrap().port();
            assert!(port_free("::1", p));
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
    let v4_conns = Calls::new();
    let v6_conns = Calls::new();
    let response = Rc::new(RefCell::new(String::new()));
    let attempted = Rc::new(RefCell::new(None));
    let port = Rc::new(RefCell::new(0));
    netloop::run(|| {
        let _guard = failsafe(10);
        let v4 = reply_server("response-ipv4", v4_conns.clone());
        v4.listen(0, "127.0.0.1")?;
        let p = v4.address().unwrap().port();
        *port.borrow_mut() = p;
        let v6 = reply_server("response-ipv6", v6_conns.clone());
        v6.listen(p, "::1")?;
        let c = net::connect_with(ConnectOptions {
            host: Some("example.org".into()),
            port: p,
            lookup: Some(fixed_lookup(&["127.0.0.1", "::1"], Calls::new())),
            auto_select_family: Some(true),
            ..ConnectOptions::default()
        })?;
        let at = Rc::clone(&attempted);
        c.on(Socket::READY, move |s, _| {
            *at.borrow_mut() = s.auto_select_family_attempted_addresses();
        });
        request(&c, &response);
        c.on(Socket::END, move |_, _| {
            v4.close();
            v6.close();
        });
        Ok(())
    })
    .unwrap();
    let p = *port.borrow();
    assert_eq!(*response.borrow(), "response-ipv4");
    assert_eq!((v4_conns.get(), v6_conns.get()), (1, 0));
    assert_eq!(
        *attempted.borrow(),
        Some(vec![sa(&format!("127.0.0.1:{p}"))])
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
    let log = Log::new();
    let v4_conns = Calls::new();
    let response = Rc::new(RefCell::new(String::new()));
    let attempted = Rc::new(RefCell::new(None));
    let hole = ipv6_black_hole_with_free_ipv4_port();
    let p = hole.port();
    netloop::run(|| {
        let _guard = failsafe(10);
        let server = reply_server("response-ipv4", v4_conns.clone());
        server.listen(p, "127.0.0.1")?;
        let c = net::connect_with(ConnectOptions {
            host: Some("example.org".into()),
            port: p,
            lookup: Some(fixed_lookup(&["::1", "127.0.0.1"], Calls::new())),
            auto_select_family: Some(true),
            auto_select_family_attempt_timeout: Some(Duration::from_millis(50)),
            ..ConnectOptions::default()
        })?;
        trace(&c, &log);
        let at = Rc::clone(&attempted);
        c.on(Socket::READY, move |s, _| {
            *at.borrow_mut() = s.auto_select_family_attempted_addresses();
        });
        request(&c, &response);
        c.on(Socket::END, move |_, _| {
            server.close();
        });
        Ok(())
    })
    .unwrap();
    drop(hole);
    assert_eq!(v4_conns.get(), 1);
    assert_eq!(*response.borrow(), "response-ipv4");
    assert_eq!(
        *attempted.borrow(),
        Some(vec![
            sa(&format!("[::1]:{p}")),
            sa(&format!("127.0.0.1:{p}"))
        ])
    );
    assert_eq!(
        log.entries(),
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
        let _guard = failsafe(10);
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
    let port = Rc::new(RefCell::new(0));
    netloop::run(|| {
        let _guard = failsafe(10);
        let server = net::create_server(|_, s: &Socket| {
            s.end();
        });
        server.listen(0, "127.0.0.1")?;
        let p = server.address().unwrap().port();
        *port.borrow_mut() = p;
        let c = net::connect(p, "localhost")?;
        trace(&c, &log);
        let at = Rc::clone(&attempted);
        c.on(Socket::READY, move |s, _| {
            *at.borrow_mut() = s.auto_select_family_attempted_addresses();
        });
        c.on(Socket::CLOSE, move |_, _| {
            server.close();
        });
        Ok(())
    })
    .unwrap();
    let p = *port.borrow();
    let lookups: Vec<String> = log
        .entries()
        .into_iter()
        .filter(|e| e.starts_with("lookup"))
        .collect();
    let expected: Vec<String> = resolved.iter().map(|a| format!("lookup {a}")).collect();
    assert_eq!(lookups, expected, "one `lookup` event per address");
    assert!(log.contains("connect") && log.contains("ready"));
    if resolved.len() > 1 {
        let tried = attempted.borrow().clone().expect("happy eyeballs ran");
        assert_eq!(tried.last(), Some(&sa(&format!("127.0.0.1:{p}"))));
    } else {
        assert_eq!(*attempted.borrow(), None);
        assert_eq!(
            log.entries()
                .iter()
                .filter(|e| e.starts_with("attempt"))
                .count(),
            1
        );
    }
}

/// A failing custom lookup: `lookup` with the error, then `error` and
/// `close(true)` (Node's `lookupAndConnect` error path).
#[test]
fn node_net_autoselectfamily_lookup_error() {
    let log = Log::new();
    let errors = Log::new();
    netloop::run(|| {
        let _guard = failsafe(10);
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
        let _guard = failsafe(10);
        let server = net::create_server(|_, s: &Socket| {
            s.end();
        });
        server.listen(0, "127.0.0.1")?;
        let f = families.clone();
        let lookup = Lookup::new(move |_host, family, done| {
            f.push(family.to_string());
            done(Ok(vec![
                "127.0.0.1".parse().unwrap(),
                "::1".parse().unwrap(),
            ]))
        });
        let c = net::connect_with(ConnectOptions {
            host: Some("example.org".into()),
            port: server.address().unwrap().port(),
            family: 4,
            lookup: Some(lookup),
            auto_select_family: Some(true),
            ..ConnectOptions::default()
        })?;
        trace(&c, &log);
        let at = Rc::clone(&attempted);
        c.on(Socket::READY, move |s, _| {
            *at.borrow_mut() = s.auto_select_family_attempted_addresses();
        });
        c.on(Socket::CLOSE, move |_, _| {
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(families.entries(), vec!["4"]);
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
