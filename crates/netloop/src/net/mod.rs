//! Node's `net` module: TCP and Unix-socket [`Server`]s and [`Socket`]s.
//!
//! | Node | netloop |
//! | --- | --- |
//! | `net.createServer([options][, listener])` | [`create_server`], [`create_server_with`], [`Server::new`] |
//! | `net.connect(port, host)`, `net.createConnection(port, host)` | [`connect`], [`create_connection`] |
//! | `net.connect(path)` | [`connect_path`] |
//! | `net.connect(options)` | [`connect_with`] with [`ConnectOptions`] |
//! | `new net.Socket([options])` | [`Socket::new`], [`Socket::with_options`] |
//! | `net.isIP`, `net.isIPv4`, `net.isIPv6` | [`is_ip`], [`is_ipv4`], [`is_ipv6`] |
//! | `net.BlockList`, `net.SocketAddress` | [`BlockList`], [`SocketAddress`] |
//! | `net.getDefaultAutoSelectFamily()` and its siblings | [`default_auto_select_family`], [`set_default_auto_select_family`], [`default_auto_select_family_attempt_timeout`], [`set_default_auto_select_family_attempt_timeout`] |
//!
//! Everything here runs on the loop of [`netloop::run`](crate::run), and
//! follows Node's two rules: an invalid argument is an `Err` from the call;
//! an operational failure (refused, in use, reset, not found) is an `error`
//! event on a later tick. [`Server`] and [`Socket`] explain their
//! lifecycles, events and errors in detail.
//!
//! Node's introductory example, a server that echoes what it is told and a
//! client that talks to it:
//!
//! ```js
//! const server = net.createServer((sock) => {
//!   sock.on('data', (data) => sock.write(`You said "${data}"`));
//! });
//! server.listen(6969, '127.0.0.1');
//! const client = net.connect(6969, '127.0.0.1', () => client.write('I am Chuck Norris!'));
//! client.on('data', (data) => { console.log(`DATA: ${data}`); client.destroy(); });
//! client.on('close', () => console.log('Connection closed'));
//! ```
//!
//! In netloop (on port 0, which picks a free port):
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use netloop::net::{self, Socket};
//!
//! let replies = Rc::new(RefCell::new(Vec::new()));
//! let sink = Rc::clone(&replies);
//! netloop::run(move || {
//!     let server = net::create_server(|_, sock: &Socket| {
//!         sock.on(Socket::DATA, |s, data| {
//!             s.write(format!("You said \"{}\"", String::from_utf8_lossy(data)));
//!         });
//!     });
//!     server.listen(0, "127.0.0.1")?;
//!     let port = server.address().expect("bound at once").port();
//!
//!     let client = net::connect(port, "127.0.0.1")?;
//!     client.once(Socket::CONNECT, |c, _| {
//!         c.write("I am Chuck Norris!");
//!     });
//!     client.on(Socket::DATA, move |c, data| {
//!         sink.borrow_mut().push(String::from_utf8_lossy(data).into_owned());
//!         c.destroy();
//!     });
//!     client.on(Socket::CLOSE, move |_, _had_error| {
//!         server.close(); // the loop ends once nothing is left
//!     });
//!     Ok(())
//! })
//! .expect("the loop ran");
//! assert_eq!(*replies.borrow(), ["You said \"I am Chuck Norris!\""]);
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
/// `net.createServer(listener)`). Call [`Server::listen`] next; the
/// [`Server`] documentation has the whole story.
///
/// # Panics
///
/// Outside [`run`](crate::run).
pub fn create_server(listener: impl FnMut(&Server, &Socket) + 'static) -> Server {
    create_server_with(ServerOptions::default(), listener)
}

/// A server with options, whose `connection` listener is `listener` (Node:
/// `net.createServer(options, listener)`). See [`ServerOptions`], and
/// [`Socket::end`] and [`Socket::pause`] for examples.
///
/// # Panics
///
/// Outside [`run`](crate::run).
pub fn create_server_with(
    options: ServerOptions,
    listener: impl FnMut(&Server, &Socket) + 'static,
) -> Server {
    let server = Server::with_options(options);
    server.on(Server::CONNECTION, listener);
    server
}

/// A new socket connecting to `host:port` (Node: `net.connect(port, host)`);
/// see [`Socket::connect`]. Node's `connect(port, host, listener)` is
/// `.once(Socket::CONNECT, listener)` on the result.
///
/// # Errors
///
/// At once: `ERR_SOCKET_BAD_PORT` for port 0. Connection failures
/// (`ECONNREFUSED`, `ENOTFOUND`, ...) arrive as an `error` event.
///
/// # Panics
///
/// Outside [`run`](crate::run).
pub fn connect(port: u16, host: &str) -> Result<Socket> {
    let s = Socket::new();
    s.connect(port, host)?;
    Ok(s)
}

/// A new socket connecting to a Unix socket (Node: `net.connect(path)`);
/// see [`Server::listen_path`] for an example.
///
/// # Errors
///
/// None at once; failures (`ENOENT`, `ECONNREFUSED`, `EACCES`) arrive as an
/// `error` event.
///
/// # Panics
///
/// Outside [`run`](crate::run).
pub fn connect_path(path: impl AsRef<Path>) -> Result<Socket> {
    let s = Socket::new();
    s.connect_path(path)?;
    Ok(s)
}

/// A new socket connecting with options (Node: `net.connect(options)`); its
/// `allow_half_open` and `high_water_mark` come from `options` too. See
/// [`Socket::connect_with`] for an example.
///
/// # Errors
///
/// As [`Socket::connect_with`]: `ERR_SOCKET_BAD_PORT`,
/// `ERR_INVALID_IP_ADDRESS` for a bad `local_address`,
/// `ERR_INVALID_ARG_VALUE` for a bad `family`.
///
/// # Panics
///
/// Outside [`run`](crate::run).
pub fn connect_with(options: ConnectOptions) -> Result<Socket> {
    let s = Socket::with_options(SocketOptions {
        allow_half_open: options.allow_half_open,
        high_water_mark: options.high_water_mark,
    });
    s.connect_with(options)?;
    Ok(s)
}

/// Alias of [`connect`] (Node: `net.createConnection(port, host)`).
///
/// # Errors
///
/// As [`connect`].
///
/// # Panics
///
/// Outside [`run`](crate::run).
pub fn create_connection(port: u16, host: &str) -> Result<Socket> {
    connect(port, host)
}

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

/// Whether connects to a host name use happy eyeballs unless told otherwise
/// (Node: `net.getDefaultAutoSelectFamily()`); true by default, as in Node
/// 20. Per thread, since each thread has its own loop.
pub fn default_auto_select_family() -> bool {
    socket::AUTO_SELECT_FAMILY.with(|c| c.get())
}

/// Change the default of [`ConnectOptions::auto_select_family`] on this
/// thread (Node: `net.setDefaultAutoSelectFamily(value)`, per process).
pub fn set_default_auto_select_family(value: bool) {
    socket::AUTO_SELECT_FAMILY.with(|c| c.set(value));
}

/// How long happy eyeballs waits for one address before trying the next,
/// unless told otherwise (Node:
/// `net.getDefaultAutoSelectFamilyAttemptTimeout()`): 250 ms.
pub fn default_auto_select_family_attempt_timeout() -> std::time::Duration {
    socket::ATTEMPT_TIMEOUT.with(|c| c.get())
}

/// Change the default attempt timeout on this thread (Node:
/// `net.setDefaultAutoSelectFamilyAttemptTimeout(ms)`); values under 10 ms
/// become 10 ms, as in Node, where Node throws for values under 1 ms.
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
