//! IP address literals: Node's `net.isIP`, `isIPv4` and `isIPv6`, and
//! address families. A leaf module: `dns` and `net` both use it, and it
//! uses nothing of netloop's but its errors.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// 4 for an IPv4 address, 6 for IPv6, 0 otherwise (Node: `net.isIP`).
/// IPv4 octets may not have leading zeros; IPv6 may carry a zone id
/// (`fe80::1%eth0`). Works without a loop.
///
/// ```
/// use netloop::net::{is_ip, is_ipv4, is_ipv6};
///
/// assert_eq!(is_ip("127.0.0.1"), 4);
/// assert_eq!(is_ip("::1"), 6);
/// assert_eq!(is_ip("fe80::1%eth0"), 6);
/// assert_eq!(is_ip("::ffff:127.0.0.1"), 6);
/// assert_eq!(is_ip("127.000.000.001"), 0); // leading zeros, as Node
/// assert_eq!(is_ip("localhost"), 0); // a name, not an address
/// assert!(is_ipv4("10.0.0.1") && !is_ipv4("::1"));
/// assert!(is_ipv6("2001:db8::1") && !is_ipv6("10.0.0.1"));
/// ```
pub fn is_ip(input: &str) -> u8 {
    if is_ipv4(input) {
        4
    } else if is_ipv6(input) {
        6
    } else {
        0
    }
}

/// True for a dotted-quad IPv4 address without leading zeros (Node:
/// `net.isIPv4`). See [`is_ip`].
pub fn is_ipv4(input: &str) -> bool {
    // Four dot-separated decimal parts, each 0..=255 in at most three
    // digits and without a leading zero (Node's `v4Seg`), scanned in one
    // pass with no parsing or allocation.
    let b = input.as_bytes();
    let mut parts = 0;
    let mut i = 0;
    loop {
        let start = i;
        let mut value = 0u32;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start == 3 {
                return false;
            }
            value = value * 10 + u32::from(b[i] - b'0');
            i += 1;
        }
        let len = i - start;
        if len == 0 || value > 255 || (len > 1 && b[start] == b'0') {
            return false;
        }
        parts += 1;
        if i == b.len() {
            return parts == 4;
        }
        if b[i] != b'.' || parts == 4 {
            return false;
        }
        i += 1;
    }
}

/// True for an IPv6 address, with an optional zone id (Node:
/// `net.isIPv6`). See [`is_ip`].
pub fn is_ipv6(input: &str) -> bool {
    let (addr, zone) = match input.split_once('%') {
        Some((a, z)) => (a, Some(z)),
        None => (input, None),
    };
    if let Some(zone) = zone {
        let zone_ok = !zone.is_empty()
            && zone
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b':');
        if !zone_ok {
            return false;
        }
    }
    if !addr.contains(':') {
        return false;
    }
    // An embedded IPv4 tail follows the IPv4 rules (no leading zeros).
    if let Some(idx) = addr.rfind(':') {
        let tail = &addr[idx + 1..];
        if tail.contains('.') && !is_ipv4(tail) {
            return false;
        }
    }
    addr.parse::<Ipv6Addr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_ip_matches_node() {
        assert_eq!(is_ip("127.0.0.1"), 4);
        assert_eq!(is_ip("127.000.000.001"), 0);
        assert_eq!(is_ip("1.2.3"), 0);
        assert_eq!(is_ip("::1"), 6);
        assert_eq!(is_ip("fe80::1%eth0"), 6);
        assert_eq!(is_ip("::ffff:127.0.0.1"), 6);
        assert_eq!(is_ip(""), 0);
        assert_eq!(is_ip("1.2.3.4 "), 0);
        assert_eq!(is_ip("abc"), 0);
    }
}

/// An address family (Node's `'IPv4'` / `'IPv6'` strings, which
/// `Display` prints). Where Node's options take a family number (4, 6, or
/// 0 for either), netloop takes an `Option<Family>`, `None` for either:
/// [`ConnectOptions::family`](crate::net::ConnectOptions::family), the
/// family of [`dns::lookup`](crate::dns::lookup) and of a
/// [`Lookup`](crate::net::Lookup) function.
///
/// ```
/// use std::net::IpAddr;
/// use netloop::net::Family;
///
/// let ip: IpAddr = "::1".parse().expect("an IP literal");
/// assert_eq!(Family::of(&ip), Family::IPv6);
/// assert_eq!(Family::IPv6.to_string(), "IPv6");
/// assert_eq!(Family::IPv4.number(), 4);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4.
    IPv4,
    /// IPv6.
    IPv6,
}

impl Family {
    /// The family of a `family` number as Node's options and
    /// `dns.lookup` take it: `None` (either family) for 0, `IPv4` for 4,
    /// `IPv6` for 6. For numbers read from a configuration or a command
    /// line, with Node's validation; in code, write the `Option<Family>`.
    ///
    /// # Errors
    ///
    /// `ERR_INVALID_ARG_VALUE` for any other number, in Node's words.
    ///
    /// ```
    /// use netloop::net::Family;
    ///
    /// assert_eq!(Family::from_number(0).ok(), Some(None));
    /// assert_eq!(Family::from_number(6).ok(), Some(Some(Family::IPv6)));
    /// let err = Family::from_number(5).expect_err("no family 5");
    /// assert_eq!(err.code().as_str(), "ERR_INVALID_ARG_VALUE");
    /// assert_eq!(
    ///     err.to_string(),
    ///     "The property 'options.family' must be one of: 0, 4, 6. Received 5"
    /// );
    /// ```
    pub fn from_number(family: u8) -> crate::error::Result<Option<Family>> {
        match family {
            0 => Ok(None),
            4 => Ok(Some(Family::IPv4)),
            6 => Ok(Some(Family::IPv6)),
            other => Err(crate::error::invalid_arg(
                "options.family",
                other,
                "must be one of: 0, 4, 6",
            )),
        }
    }

    /// Whether `ip` is of the wanted family; `None` wants either.
    pub(crate) fn matches(wanted: Option<Family>, ip: &IpAddr) -> bool {
        wanted.is_none() || wanted == Some(Family::of(ip))
    }

    /// The family of an IP address.
    pub fn of(ip: &IpAddr) -> Family {
        if ip.is_ipv4() {
            Family::IPv4
        } else {
            Family::IPv6
        }
    }

    /// 4 or 6, the numbers Node's `family` options and `net.isIP` use.
    pub fn number(self) -> u8 {
        match self {
            Family::IPv4 => 4,
            Family::IPv6 => 6,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::IPv4 => "IPv4",
            Family::IPv6 => "IPv6",
        })
    }
}
