//! `netloop::dns::lookup`: Node's `dns.lookup` (getaddrinfo on the pool;
//! IP literals answered on the next tick without it).

use std::cell::Cell;
use std::net::IpAddr;
use std::rc::Rc;

use crate::util::{guard, Log};
use netloop::net::Family;
use netloop::timers::set_immediate;
use netloop::{dns, next_tick, ErrorCode};

#[test]
fn ip_literals_are_answered_on_the_next_tick_never_inside_lookup() {
    // Node: the literal's callback is a process.nextTick, so it runs after
    // the caller returns, before ticks queued later and before immediates.
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let returned = Rc::new(Cell::new(false));
        let r = Rc::clone(&returned);
        let l1 = l.clone();
        dns::lookup("127.0.0.1", None, move |res| {
            assert!(r.get(), "callback ran inside lookup()");
            l1.push(format!("lookup {}", res.unwrap()));
        });
        returned.set(true);
        next_tick(l.recorder("tick queued after"));
        let l2 = l.clone();
        dns::lookup_all("::1", None, move |res| {
            l2.push(format!("all {:?}", res.unwrap()));
        });
        set_immediate(l.recorder("immediate"));
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        [
            "lookup 127.0.0.1",
            "tick queued after",
            "all [::1]",
            "immediate"
        ]
    );
}

#[test]
fn ip_literal_ignores_the_family_asked_for() {
    // Node 20: dns.lookup('127.0.0.1', { family: 6 }) gives 127.0.0.1, 4.
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let l1 = l.clone();
        dns::lookup("127.0.0.1", Some(Family::IPv6), move |res| {
            l1.push(res.unwrap().to_string())
        });
        dns::lookup_all("::1", Some(Family::IPv4), move |res| {
            l.push(format!("{:?}", res.unwrap()))
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["127.0.0.1", "[::1]"]);
}

#[test]
fn localhost_resolves_to_loopback_on_the_pool() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("localhost");
        let returned = Rc::new(Cell::new(false));
        let r = Rc::clone(&returned);
        let l1 = l.clone();
        dns::lookup("localhost", None, move |res| {
            assert!(r.get(), "callback ran inside lookup()");
            let ip = res.expect("localhost resolves");
            assert!(ip.is_loopback(), "{ip}");
            l1.push("one");
        });
        returned.set(true);
        dns::lookup_all("localhost", None, move |res| {
            let all: Vec<IpAddr> = res.expect("localhost resolves");
            assert!(!all.is_empty());
            assert!(all.iter().all(|ip| ip.is_loopback()), "{all:?}");
            // One entry per address, not one per socket type.
            let mut dedup = all.clone();
            dedup.sort();
            dedup.dedup();
            assert_eq!(dedup.len(), all.len(), "{all:?}");
            l.push("all");
        });
        Ok(())
    })
    .unwrap();
    let mut e = log.entries();
    e.sort();
    assert_eq!(e, ["all", "one"]);
}

#[test]
fn localhost_with_family_4_gives_ipv4() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("localhost v4");
        dns::lookup("localhost", Some(Family::IPv4), move |res| {
            l.push(res.expect("localhost has an IPv4 address").to_string())
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["127.0.0.1"]);
}

#[test]
fn nonexistent_name_fails_with_enotfound_like_node() {
    // `.invalid` is reserved (RFC 2606): it never resolves.
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("nonexistent");
        dns::lookup("nonexistent.invalid", None, move |res| {
            let err = res.expect_err("must not resolve");
            assert_eq!(err.code(), ErrorCode::ENOTFOUND);
            assert_eq!(err.code().as_str(), "ENOTFOUND");
            assert_eq!(err.syscall(), Some("getaddrinfo"));
            assert_eq!(err.hostname(), Some("nonexistent.invalid"));
            assert_eq!(err.errno(), Some(-3008));
            assert_eq!(err.to_string(), "getaddrinfo ENOTFOUND nonexistent.invalid");
            l.push("failed");
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(log.entries(), ["failed"]);
}
