//! `is_ip`, `is_ipv4` and `is_ipv6` on any string: no panic, the three
//! agree with each other, and they agree with `std`'s parsers where the
//! library relies on it. `Server::listen`, `dns::lookup` and `connect`'s
//! `local_address` treat a host as an IP literal when `is_ip` says so and
//! then parse it with `std`: a literal `is_ip` accepts (without an IPv6
//! zone id, which `std` does not parse) must parse.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use netloop::net::{is_ip, is_ipv4, is_ipv6};

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let s = s.as_ref();
    let (v4, v6, ip) = (is_ipv4(s), is_ipv6(s), is_ip(s));

    // The three agree.
    assert!(!(v4 && v6), "{s:?} is both IPv4 and IPv6");
    let want = if v4 {
        4
    } else if v6 {
        6
    } else {
        0
    };
    assert_eq!(ip, want, "is_ip({s:?})");

    // IPv4: exactly std's dotted quad (both reject leading zeros, as
    // Node's `v4Seg` does).
    assert_eq!(
        v4,
        s.parse::<Ipv4Addr>().is_ok(),
        "is_ipv4({s:?}) against Ipv4Addr"
    );

    // IPv6: without a zone id, exactly std's parser; with one, the address
    // part parses and the zone is Node's `%[0-9a-zA-Z-.:]+`.
    match s.split_once('%') {
        None => assert_eq!(
            v6,
            s.parse::<Ipv6Addr>().is_ok(),
            "is_ipv6({s:?}) against Ipv6Addr"
        ),
        Some((addr, zone)) => {
            if v6 {
                assert!(addr.parse::<Ipv6Addr>().is_ok(), "{s:?}");
                assert!(!zone.is_empty(), "{s:?}");
                assert!(
                    zone.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b)),
                    "{s:?}"
                );
            }
        }
    }

    // What the listen, lookup and connect paths rely on.
    if ip != 0 && !s.contains('%') {
        let parsed: IpAddr = s
            .parse()
            .unwrap_or_else(|_| panic!("{s:?} is_ip but does not parse"));
        assert_eq!(
            u8::from(parsed.is_ipv4()) * 4 + u8::from(parsed.is_ipv6()) * 6,
            ip
        );
    }
});
