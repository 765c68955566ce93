//! `SocketAddress::parse` on any string: no panic; what it accepts is
//! exactly `std`'s `SocketAddr` syntax plus a bare address (`1.2.3.4`,
//! `[::1]`, port 0); the result prints back to a string that parses to
//! the same address, and a bare address is one `is_ip` accepts.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use netloop::net::{is_ipv4, is_ipv6, Family, SocketAddress};

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let s = s.as_ref();
    let parsed = SocketAddress::parse(s);

    let with_port = s.parse::<SocketAddr>().ok();
    let bare: Option<IpAddr> = match s.strip_prefix('[') {
        Some(rest) => rest
            .strip_suffix(']')
            .and_then(|a| a.parse::<Ipv6Addr>().ok())
            .map(IpAddr::V6),
        None => s.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
    };
    let want = with_port
        .map(|sa| (sa.ip(), sa.port()))
        .or(bare.map(|ip| (ip, 0)));
    assert_eq!(
        parsed.as_ref().map(|a| (a.address(), a.port())),
        want,
        "SocketAddress::parse({s:?})"
    );

    let Some(a) = parsed else { return };
    // A bare address is an IP literal by Node's rules too.
    if with_port.is_none() {
        match a.address() {
            IpAddr::V4(_) => assert!(is_ipv4(s), "{s:?}"),
            IpAddr::V6(_) => assert!(is_ipv6(&s[1..s.len() - 1]), "{s:?}"),
        }
    }
    // Printed back with its port, it parses to the same address.
    let printed = match a.address() {
        IpAddr::V4(ip) => format!("{ip}:{}", a.port()),
        IpAddr::V6(ip) => format!("[{ip}]:{}", a.port()),
    };
    let again = SocketAddress::parse(&printed).expect("a printed address parses");
    assert_eq!((again.address(), again.port()), (a.address(), a.port()));
    assert_eq!(a.flowlabel(), 0);
    assert_eq!(a.family(), Family::of(&a.address()));
});
