//! `BlockList` under any sequence of `add_address`, `add_range`,
//! `add_subnet` and `check`, with addresses given as numbers, as
//! IPv4-mapped IPv6 addresses, or as strings (parsed as `std` does, or by
//! `SocketAddress::parse`): no panic, the errors exactly when Node gives
//! them, and every `check` equal to a model written from the documented
//! rules with masks instead of the library's shifts.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use netloop::net::{BlockList, SocketAddress};

#[derive(Arbitrary, Debug)]
enum Addr {
    V4(u32),
    V6(u128),
    /// `::ffff:a.b.c.d`.
    Mapped(u32),
    /// A string: `std`'s `IpAddr` syntax, else `SocketAddress::parse`.
    Text(String),
}

impl Addr {
    fn ip(&self) -> Option<IpAddr> {
        match self {
            Addr::V4(n) => Some(IpAddr::V4(Ipv4Addr::from(*n))),
            Addr::V6(n) => Some(IpAddr::V6(Ipv6Addr::from(*n))),
            Addr::Mapped(n) => Some(IpAddr::V6(Ipv4Addr::from(*n).to_ipv6_mapped())),
            Addr::Text(s) => s
                .parse::<IpAddr>()
                .ok()
                .or_else(|| SocketAddress::parse(s).map(|a| a.address())),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Address(Addr),
    Range(Addr, Addr),
    Subnet(Addr, u8),
    Check(Addr),
}

/// A rule as the model keeps it.
#[derive(Debug)]
enum Rule {
    Address(IpAddr),
    Range(IpAddr, IpAddr),
    Subnet(IpAddr, u8),
}

/// The address as a number and its width in bits.
fn bits(ip: IpAddr) -> (u128, u32) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

/// The network mask of a `prefix`-bit subnet of a `width`-bit address.
fn mask(width: u32, prefix: u8) -> u128 {
    let all = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    let host = width - u32::from(prefix);
    if host >= 128 {
        0
    } else {
        all & !((1u128 << host) - 1)
    }
}

/// Whether `rule` matches `ip` within one family.
fn matches_same_family(rule: &Rule, ip: IpAddr) -> bool {
    let (x, width) = bits(ip);
    match *rule {
        Rule::Address(a) => a == ip,
        Rule::Range(a, b) => bits(a).1 == width && bits(a).0 <= x && x <= bits(b).0,
        Rule::Subnet(n, p) => {
            let (n, w) = bits(n);
            w == width && n & mask(w, p) == x & mask(w, p)
        }
    }
}

/// The documented rule: a rule matches an address of its own family
/// directly; an IPv4 rule also matches the IPv4-mapped IPv6 form of an
/// address, and an IPv6 rule the mapped form of an IPv4 address.
fn model_check(rules: &[Rule], ip: IpAddr) -> bool {
    let also = match ip {
        IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
    };
    rules
        .iter()
        .any(|r| matches_same_family(r, ip) || matches_same_family(r, also))
}

fuzz_target!(|ops: Vec<Op>| {
    let list = BlockList::new();
    let shared = list.clone();
    let mut rules: Vec<Rule> = Vec::new();
    for op in ops.iter().take(64) {
        match op {
            Op::Address(a) => {
                let Some(ip) = a.ip() else { continue };
                list.add_address(ip);
                rules.push(Rule::Address(ip));
            }
            Op::Range(a, b) => {
                let (Some(start), Some(end)) = (a.ip(), b.ip()) else {
                    continue;
                };
                let ok = bits(start).1 == bits(end).1 && bits(start).0 <= bits(end).0;
                match list.add_range(start, end) {
                    Ok(_) => {
                        assert!(ok, "add_range({start}, {end}) accepted");
                        rules.push(Rule::Range(start, end));
                    }
                    Err(e) => {
                        assert!(!ok, "add_range({start}, {end}): {e}");
                        assert_eq!(e.code().as_str(), "ERR_INVALID_ARG_VALUE");
                    }
                }
            }
            Op::Subnet(a, prefix) => {
                let Some(net) = a.ip() else { continue };
                let ok = u32::from(*prefix) <= bits(net).1;
                match list.add_subnet(net, *prefix) {
                    Ok(_) => {
                        assert!(ok, "add_subnet({net}, {prefix}) accepted");
                        rules.push(Rule::Subnet(net, *prefix));
                    }
                    Err(e) => {
                        assert!(!ok, "add_subnet({net}, {prefix}): {e}");
                        assert_eq!(e.code().as_str(), "ERR_OUT_OF_RANGE");
                    }
                }
            }
            Op::Check(a) => {
                let Some(ip) = a.ip() else { continue };
                let got = list.check(ip);
                assert_eq!(got, model_check(&rules, ip), "check({ip}) with {rules:?}");
                assert_eq!(shared.check(ip), got, "a clone shares the rules");
                if let IpAddr::V4(v4) = ip {
                    let mapped = IpAddr::V6(v4.to_ipv6_mapped());
                    assert_eq!(list.check(mapped), got, "check({mapped}) against {ip}");
                }
            }
        }
        assert_eq!(list.rules().len(), rules.len());
    }
    // Every rule's own boundaries are checked against the model too.
    for rule in &rules {
        let edges: Vec<IpAddr> = match *rule {
            Rule::Address(a) => vec![a],
            Rule::Range(a, b) => vec![a, b],
            Rule::Subnet(n, _) => vec![n],
        };
        for ip in edges {
            assert!(list.check(ip), "{ip} is an edge of {rule:?}");
            assert!(
                model_check(&rules, ip),
                "the model: {ip} is an edge of {rule:?}"
            );
        }
    }
});
