//! `BlockList` and `SocketAddress`: Node's address rules and address
//! objects.

use std::cell::RefCell;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;

use crate::error::{invalid_arg, Error, ErrorCode, Result};
use crate::net::Family;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Rule {
    Address(IpAddr),
    Range(IpAddr, IpAddr),
    Subnet(IpAddr, u8),
}

/// A set of address rules (Node: `net.BlockList`). Clones share the same
/// rules, as JavaScript references do.
///
/// IPv4 rules also match IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`),
/// and IPv6 rules match the mapped form of an IPv4 address, as in Node.
///
/// A list does nothing by itself: give it to
/// [`ServerOptions::block_list`](crate::net::ServerOptions::block_list) to
/// close connections from its addresses, or to
/// [`ConnectOptions::block_list`](crate::net::ConnectOptions::block_list) to
/// refuse to connect to them (`ERR_IP_BLOCKED`). It needs no loop.
///
/// ```
/// use std::net::IpAddr;
/// use netloop::net::BlockList;
///
/// fn ip(s: &str) -> IpAddr {
///     s.parse().expect("an IP literal")
/// }
///
/// let list = BlockList::new();
/// list.add_address(ip("10.0.0.1"));
/// list.add_subnet(ip("192.168.0.0"), 16).expect("16 fits in 32 bits");
/// list.add_range(ip("172.16.0.10"), ip("172.16.0.20")).expect("start before end");
///
/// assert!(list.check(ip("10.0.0.1")));
/// assert!(!list.check(ip("10.0.0.2")));
/// assert!(list.check(ip("172.16.0.15")));
/// assert!(list.check(ip("::ffff:192.168.4.4"))); // IPv4-mapped, as Node
///
/// let err = list.add_subnet(ip("10.0.0.0"), 33).expect_err("33 > 32");
/// assert_eq!(err.code().as_str(), "ERR_OUT_OF_RANGE");
/// let err = list.add_range(ip("10.0.0.9"), ip("10.0.0.1")).expect_err("backwards");
/// assert_eq!(err.code().as_str(), "ERR_INVALID_ARG_VALUE");
///
/// assert_eq!(
///     list.rules(),
///     [
///         "Range: IPv4 172.16.0.10-172.16.0.20",
///         "Subnet: IPv4 192.168.0.0/16",
///         "Address: IPv4 10.0.0.1",
///     ]
/// );
/// ```
#[derive(Clone, Default)]
pub struct BlockList {
    rules: Rc<RefCell<Vec<Rule>>>,
}

impl fmt::Debug for BlockList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.rules()).finish()
    }
}

/// The IPv4 address an IPv4-mapped IPv6 address carries.
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

fn to_bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u32::from(v4) as u128, 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

impl BlockList {
    /// An empty list (Node: `new net.BlockList()`).
    pub fn new() -> BlockList {
        BlockList::default()
    }

    /// Block one address (Node: `blockList.addAddress(address)`).
    pub fn add_address(&self, ip: IpAddr) -> &BlockList {
        self.rules.borrow_mut().push(Rule::Address(ip));
        self
    }

    /// Block an inclusive range (Node: `blockList.addRange(start, end)`).
    ///
    /// # Errors
    ///
    /// `ERR_INVALID_ARG_VALUE` when `start` is after `end` or the families
    /// differ.
    pub fn add_range(&self, start: IpAddr, end: IpAddr) -> Result<&BlockList> {
        if !same_family(start, end) || to_bits(start).0 > to_bits(end).0 {
            return Err(invalid_arg("start", start, "must come before end"));
        }
        self.rules.borrow_mut().push(Rule::Range(start, end));
        Ok(self)
    }

    /// Block a subnet (Node: `blockList.addSubnet(net, prefix)`).
    ///
    /// # Errors
    ///
    /// `ERR_OUT_OF_RANGE` when the prefix exceeds 32 (IPv4) or 128 (IPv6).
    pub fn add_subnet(&self, net: IpAddr, prefix: u8) -> Result<&BlockList> {
        let max = to_bits(net).1;
        if prefix > max {
            return Err(Error::new(
                ErrorCode::ERR_OUT_OF_RANGE,
                format!(
                    "The value of \"prefix\" is out of range. It must be >= 0 && <= {max}. Received {prefix}"
                ),
            ));
        }
        self.rules.borrow_mut().push(Rule::Subnet(net, prefix));
        Ok(self)
    }

    /// True if any rule matches `ip` (Node: `blockList.check(address)`).
    /// IPv4 rules match the IPv4-mapped IPv6 form too, and back.
    pub fn check(&self, ip: IpAddr) -> bool {
        let candidates = [ip, unmap(ip), map(ip)];
        self.rules
            .borrow()
            .iter()
            .any(|rule| candidates.iter().any(|c| rule_matches(rule, *c)))
    }

    /// The rules as Node prints them, newest first (Node:
    /// `blockList.rules`).
    pub fn rules(&self) -> Vec<String> {
        self.rules
            .borrow()
            .iter()
            .rev()
            .map(|r| match r {
                Rule::Address(ip) => format!("Address: {} {ip}", Family::of(ip)),
                Rule::Range(a, b) => format!("Range: {} {a}-{b}", Family::of(a)),
                Rule::Subnet(ip, p) => format!("Subnet: {} {ip}/{p}", Family::of(ip)),
            })
            .collect()
    }
}

fn map(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
        v6 => v6,
    }
}

fn rule_matches(rule: &Rule, ip: IpAddr) -> bool {
    match *rule {
        Rule::Address(a) => a == ip,
        Rule::Range(a, b) => {
            same_family(a, ip) && {
                let x = to_bits(ip).0;
                to_bits(a).0 <= x && x <= to_bits(b).0
            }
        }
        Rule::Subnet(net, prefix) => {
            if !same_family(net, ip) {
                return false;
            }
            let (n, width) = to_bits(net);
            let (x, _) = to_bits(ip);
            let shift = u32::from(width - prefix);
            if shift >= 128 {
                return true;
            }
            (n >> shift) == (x >> shift)
        }
    }
}

/// An address, port, family and IPv6 flow label (Node:
/// `net.SocketAddress`). It needs no loop.
///
/// ```
/// use std::net::SocketAddr;
/// use netloop::net::{Family, SocketAddress};
///
/// let v6 = SocketAddress::parse("[::1]:8080").expect("an address and a port");
/// assert_eq!(v6.address().to_string(), "::1");
/// assert_eq!(v6.port(), 8080);
/// assert_eq!(v6.family(), Family::IPv6);
///
/// assert_eq!(SocketAddress::parse("10.0.0.1").map(|a| a.port()), Some(0));
/// assert_eq!(SocketAddress::parse("example.com:80"), None); // names are not addresses
///
/// let std_addr: SocketAddr = "127.0.0.1:9000".parse().expect("an address");
/// assert_eq!(SocketAddress::from(std_addr), SocketAddress::new(std_addr.ip(), 9000));
///
/// let default = SocketAddress::default(); // Node's default: 127.0.0.1, port 0
/// assert_eq!((default.address().to_string(), default.port()), ("127.0.0.1".to_string(), 0));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SocketAddress {
    address: IpAddr,
    port: u16,
    flowlabel: u32,
}

impl SocketAddress {
    /// Node: `new net.SocketAddress({ address, port })`.
    pub fn new(address: IpAddr, port: u16) -> SocketAddress {
        SocketAddress {
            address,
            port,
            flowlabel: 0,
        }
    }

    /// Parse `"1.2.3.4:80"`, `"[::1]:80"`, or an address without a port
    /// (`"1.2.3.4"`, `"[::1]"`: port 0) (Node 22: `SocketAddress.parse`).
    /// Node parses with the WHATWG URL parser and so also accepts forms such
    /// as `"0xffffffff"` or `"user@1.2.3.4"`; those return `None` here.
    pub fn parse(input: &str) -> Option<SocketAddress> {
        if let Ok(sa) = input.parse::<std::net::SocketAddr>() {
            return Some(SocketAddress::new(sa.ip(), sa.port()));
        }
        let bare = match input.strip_prefix('[') {
            Some(rest) => rest
                .strip_suffix(']')?
                .parse::<std::net::Ipv6Addr>()
                .ok()?
                .into(),
            None => input.parse::<Ipv4Addr>().ok()?.into(),
        };
        Some(SocketAddress::new(bare, 0))
    }

    /// Set the IPv6 flow label (Node: the `flowlabel` option).
    pub fn with_flowlabel(mut self, flowlabel: u32) -> SocketAddress {
        self.flowlabel = flowlabel;
        self
    }

    /// The IP address (Node: `socketaddress.address`).
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// The port (Node: `socketaddress.port`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The family (Node: `socketaddress.family`, as `'ipv4'`/`'ipv6'`).
    pub fn family(&self) -> Family {
        Family::of(&self.address)
    }

    /// The IPv6 flow label, 0 for IPv4 (Node: `socketaddress.flowlabel`).
    pub fn flowlabel(&self) -> u32 {
        self.flowlabel
    }
}

impl Default for SocketAddress {
    /// Node's default: `127.0.0.1`, port 0.
    fn default() -> SocketAddress {
        SocketAddress::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)
    }
}

impl From<std::net::SocketAddr> for SocketAddress {
    fn from(sa: std::net::SocketAddr) -> SocketAddress {
        let flowlabel = match sa {
            std::net::SocketAddr::V6(v6) => v6.flowinfo(),
            _ => 0,
        };
        SocketAddress::new(sa.ip(), sa.port()).with_flowlabel(flowlabel)
    }
}
