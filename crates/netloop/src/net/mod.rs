//! Node's `net` module: [`Server`], [`Socket`], and the module functions.
//!
//! ```
//! use netloop::net::{self, Server, Socket};
//!
//! netloop::run(|| {
//!     let server = net::create_server(|_server, sock: &Socket| {
//!         sock.on(Socket::DATA, |s, data| {
//!             s.write(data);
//!             s.end();
//!         });
//!     });
//!     server.listen(0, "127.0.0.1")?;
//!     let port = server.address().expect("bound at once").port();
//!
//!     let client = net::connect(port, "127.0.0.1")?;
//!     client.on(Socket::CONNECT, |c, _| {
//!         c.write("ping");
//!     });
//!     client.on(Socket::DATA, |_, data| assert_eq!(data, b"ping"));
//!     client.on(Socket::CLOSE, move |_, _| {
//!         server.close();
//!     });
//!     Ok(())
//! })
//! .expect("the loop ran");
//! ```

mod blocklist;
mod options;
mod server;
mod socket;

use std::net::Ipv6Addr;
use std::path::Path;

pub use blocklist::{BlockList, SocketAddress};
pub use options::{
    ConnectOptions, ConnectionAttempt, DropInfo, Encoding, Family, ListenOptions, Lookup,
    LookupCallback, LookupInfo, ReadyState, ServerOptions, SocketOptions,
    DEFAULT_AUTO_SELECT_FAMILY_ATTEMPT_TIMEOUT, DEFAULT_HIGH_WATER_MARK,
};
pub use server::Server;
pub use socket::Socket;

use crate::error::Result;

/// A server whose `connection` listener is `listener` (Node:
/// `net.createServer(listener)`).
///
/// # Panics
///
/// Outside `netloop::run`.
pub fn create_server(listener: impl FnMut(&Server, &Socket) + 'static) -> Server {
    create_server_with(ServerOptions::default(), listener)
}

/// A server with options (Node: `net.createServer(options, listener)`).
///
/// # Panics
///
/// Outside `netloop::run`.
pub fn create_server_with(
    options: ServerOptions,
    listener: impl FnMut(&Server, &Socket) + 'static,
) -> Server {
    let server = Server::with_options(options);
    server.on(Server::CONNECTION, listener);
    server
}

/// Connect to `host:port` (Node: `net.connect(port, host)`).
///
/// # Errors
///
/// Invalid arguments only (`ERR_SOCKET_BAD_PORT` for port 0); connection
/// failures arrive as an `error` event.
pub fn connect(port: u16, host: &str) -> Result<Socket> {
    let s = Socket::new();
    s.connect(port, host)?;
    Ok(s)
}

/// Connect to a Unix socket (Node: `net.connect(path)`).
///
/// # Errors
///
/// None at once; failures (`ENOENT`) arrive as an `error` event.
pub fn connect_path(path: impl AsRef<Path>) -> Result<Socket> {
    let s = Socket::new();
    s.connect_path(path)?;
    Ok(s)
}

/// Connect with options (Node: `net.connect(options)`).
///
/// # Errors
///
/// Invalid arguments (`ERR_SOCKET_BAD_PORT`, `ERR_INVALID_IP_ADDRESS` for a
/// bad `local_address`).
pub fn connect_with(options: ConnectOptions) -> Result<Socket> {
    let s = Socket::with_options(SocketOptions {
        allow_half_open: options.allow_half_open,
        high_water_mark: options.high_water_mark,
    });
    s.connect_with(options)?;
    Ok(s)
}

/// Alias of [`connect`] (Node: `net.createConnection`).
///
/// # Errors
///
/// As [`connect`].
pub fn create_connection(port: u16, host: &str) -> Result<Socket> {
    connect(port, host)
}

/// 4 for an IPv4 address, 6 for IPv6, 0 otherwise (Node: `net.isIP`).
/// IPv4 octets may not have leading zeros; IPv6 may carry a zone id
/// (`fe80::1%eth0`).
pub fn is_ip(input: &str) -> u8 {
    if is_ipv4(input) {
        4
    } else if is_ipv6(input) {
        6
    } else {
        0
    }
}

/// Node: `net.isIPv4`.
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

/// Node: `net.isIPv6`.
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

/// Node 20's default for `autoSelectFamily`: true.
pub fn default_auto_select_family() -> bool {
    socket::AUTO_SELECT_FAMILY.with(|c| c.get())
}

/// Change the default for `autoSelectFamily` on this thread (Node:
/// `net.setDefaultAutoSelectFamily`).
pub fn set_default_auto_select_family(value: bool) {
    socket::AUTO_SELECT_FAMILY.with(|c| c.set(value));
}

/// The default happy-eyeballs attempt timeout (Node:
/// `net.getDefaultAutoSelectFamilyAttemptTimeout`).
pub fn default_auto_select_family_attempt_timeout() -> std::time::Duration {
    socket::ATTEMPT_TIMEOUT.with(|c| c.get())
}

/// Change the default attempt timeout on this thread; values under 10 ms
/// become 10 ms, as in Node.
pub fn set_default_auto_select_family_attempt_timeout(value: std::time::Duration) {
    let v = value.max(std::time::Duration::from_millis(10));
    socket::ATTEMPT_TIMEOUT.with(|c| c.set(v));
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
