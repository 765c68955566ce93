//! Option structs and small value types of `net`, with Node's defaults.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::net::BlockList;

/// Node's default `highWaterMark` for sockets: 16 KiB.
pub const DEFAULT_HIGH_WATER_MARK: usize = 16 * 1024;

/// Node 20's default happy-eyeballs attempt timeout: 250 ms.
pub const DEFAULT_AUTO_SELECT_FAMILY_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(250);

/// Options for [`Server::with_options`](crate::net::Server::with_options)
/// (Node: `net.createServer(options)`).
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// Keep accepted sockets half-open after the peer's FIN (default false:
    /// the socket ends its side once its writes flush).
    pub allow_half_open: bool,
    /// Accepted sockets start paused: no reading until `resume()`.
    pub pause_on_connect: bool,
    /// Set `TCP_NODELAY` on accepted sockets.
    pub no_delay: bool,
    /// Set `SO_KEEPALIVE` on accepted sockets.
    pub keep_alive: bool,
    /// The keep-alive idle time for accepted sockets.
    pub keep_alive_initial_delay: Duration,
    /// Write high-water mark of accepted sockets (default 16 KiB).
    pub high_water_mark: Option<usize>,
    /// Connections from addresses on this list are dropped.
    pub block_list: Option<BlockList>,
}

/// Options for [`Socket::with_options`](crate::net::Socket::with_options)
/// (Node: `new net.Socket(options)`).
#[derive(Clone, Debug, Default)]
pub struct SocketOptions {
    /// Stay half-open after the peer's FIN (default false).
    pub allow_half_open: bool,
    /// Write high-water mark (default 16 KiB).
    pub high_water_mark: Option<usize>,
}

/// Options for [`net::connect_with`](crate::net::connect_with) (Node:
/// `net.connect(options)`). Set `path` for a Unix socket, `port`/`host`
/// for TCP.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// Remote port.
    pub port: u16,
    /// Remote host: an IP literal or a name (default `localhost`).
    pub host: Option<String>,
    /// A Unix socket path (takes precedence over `port`/`host`).
    pub path: Option<PathBuf>,
    /// 4, 6, or 0 for either.
    pub family: u8,
    /// Bind to this local address before connecting.
    pub local_address: Option<String>,
    /// Bind to this local port before connecting.
    pub local_port: Option<u16>,
    /// Idle timeout, as `socket.set_timeout`.
    pub timeout: Option<Duration>,
    /// Set `TCP_NODELAY` once connected.
    pub no_delay: bool,
    /// Set `SO_KEEPALIVE` once connected.
    pub keep_alive: bool,
    /// Keep-alive idle time.
    pub keep_alive_initial_delay: Duration,
    /// Happy eyeballs (default on, as in Node 20).
    pub auto_select_family: Option<bool>,
    /// Per-attempt timeout of happy eyeballs (default 250 ms).
    pub auto_select_family_attempt_timeout: Option<Duration>,
    /// Stay half-open after the peer's FIN.
    pub allow_half_open: bool,
    /// Write high-water mark (default 16 KiB).
    pub high_water_mark: Option<usize>,
    /// Refuse to connect to addresses on this list (`ERR_IP_BLOCKED`).
    pub block_list: Option<BlockList>,
    /// Resolve `host` with this function instead of the system resolver
    /// (Node's `lookup` option).
    pub lookup: Option<Lookup>,
}

/// The callback a [`Lookup`] function answers through: the host's
/// addresses in the order the resolver gives them, or the lookup error.
pub type LookupCallback = Box<dyn FnOnce(Result<Vec<IpAddr>>)>;

/// A custom host-name lookup for [`ConnectOptions::lookup`] (Node: the
/// `lookup` option of `net.connect`, a `dns.lookup`-shaped function).
///
/// The function receives the host, the wanted family (4, 6, or 0 for
/// either) and a callback to answer with, now or later. netloop calls it on
/// the tick after `connect`, never from inside `connect` itself, so every
/// listener added after `connect` sees the `lookup` events.
///
/// ```
/// use std::net::IpAddr;
/// use netloop::net::{self, ConnectOptions, Lookup, Socket};
///
/// netloop::run(|| {
///     let server = net::create_server(|_, s: &Socket| { s.end(); });
///     server.listen(0, "127.0.0.1")?;
///     let port = server.address().expect("bound at once").port();
///     let lookup = Lookup::new(|_host, _family, done| {
///         done(Ok(vec!["127.0.0.1".parse::<IpAddr>().expect("an IP literal")]))
///     });
///     let c = net::connect_with(ConnectOptions {
///         port,
///         host: Some("example.test".into()),
///         lookup: Some(lookup),
///         ..ConnectOptions::default()
///     })?;
///     c.on(Socket::CLOSE, move |_, _| { server.close(); });
///     Ok(())
/// })
/// .expect("the loop ran");
/// ```
#[derive(Clone)]
pub struct Lookup(Rc<LookupFn>);

/// The function behind a [`Lookup`]: `(host, family, callback)`.
type LookupFn = dyn Fn(&str, u8, LookupCallback);

impl Lookup {
    /// Wrap a lookup function `f(host, family, callback)`.
    pub fn new(f: impl Fn(&str, u8, LookupCallback) + 'static) -> Lookup {
        Lookup(Rc::new(f))
    }

    /// Run the lookup.
    pub(crate) fn call(&self, host: &str, family: u8, done: LookupCallback) {
        (self.0)(host, family, done)
    }
}

impl fmt::Debug for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Lookup(..)")
    }
}

/// Options for [`Server::listen_with`](crate::net::Server::listen_with)
/// (Node: `server.listen(options)`).
#[derive(Clone, Debug, Default)]
pub struct ListenOptions {
    /// Port (0 picks a free one).
    pub port: u16,
    /// Host: an IP literal or a name. `None` listens on `::` (dual-stack),
    /// falling back to `0.0.0.0`.
    pub host: Option<String>,
    /// A Unix socket path (takes precedence over `port`/`host`).
    pub path: Option<PathBuf>,
    /// Listen backlog (default 511).
    pub backlog: Option<i32>,
    /// IPv6 only: do not accept IPv4 on `::`.
    pub ipv6_only: bool,
    /// `SO_REUSEPORT`: several listeners share the port (one per loop).
    pub reuse_port: bool,
    /// Unix socket: make the socket file readable by all users (Node's
    /// `readableAll`). Not allowed for abstract names.
    pub readable_all: bool,
    /// Unix socket: make the socket file writable by all users (Node's
    /// `writableAll`). Not allowed for abstract names.
    pub writable_all: bool,
}

/// An address family (Node's `'IPv4'` / `'IPv6'` strings).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4.
    IPv4,
    /// IPv6.
    IPv6,
}

impl Family {
    /// The family of an IP address.
    pub fn of(ip: &IpAddr) -> Family {
        if ip.is_ipv4() {
            Family::IPv4
        } else {
            Family::IPv6
        }
    }

    /// 4 or 6.
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

/// Node's `socket.readyState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadyState {
    /// Connecting.
    Opening,
    /// Readable and writable.
    Open,
    /// Our side ended; still reading.
    ReadOnly,
    /// The peer ended; still writing.
    WriteOnly,
    /// Not connected, or destroyed.
    Closed,
}

impl fmt::Display for ReadyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReadyState::Opening => "opening",
            ReadyState::Open => "open",
            ReadyState::ReadOnly => "readOnly",
            ReadyState::WriteOnly => "writeOnly",
            ReadyState::Closed => "closed",
        })
    }
}

/// How `data` chunks are cut and shaped (Node: `socket.setEncoding`).
/// Payloads stay bytes; an encoding changes where chunks are split and, for
/// `Hex`, what the bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encoding {
    /// Chunks end on UTF-8 character boundaries: a character split across
    /// two reads is delivered whole with the second.
    Utf8,
    /// Each chunk is delivered as lowercase hex text.
    Hex,
}

/// The payload of [`Server::DROP`](crate::net::Server::DROP): the
/// connection refused because of `max_connections`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropInfo {
    /// Our address.
    pub local_address: Option<IpAddr>,
    /// Our port.
    pub local_port: Option<u16>,
    /// Our family.
    pub local_family: Option<Family>,
    /// The peer's address.
    pub remote_address: Option<IpAddr>,
    /// The peer's port.
    pub remote_port: Option<u16>,
    /// The peer's family.
    pub remote_family: Option<Family>,
}

/// The payload of [`Socket::LOOKUP`](crate::net::Socket::LOOKUP) (Node's
/// `'lookup'` arguments `(err, address, family, host)`).
#[derive(Clone, Debug)]
pub struct LookupInfo {
    /// The lookup error, if it failed.
    pub error: Option<Error>,
    /// The address found.
    pub address: Option<IpAddr>,
    /// Its family.
    pub family: Option<Family>,
    /// The host name looked up.
    pub host: String,
}

/// The payload of the `connectionAttempt*` events (happy eyeballs).
#[derive(Clone, Debug)]
pub struct ConnectionAttempt {
    /// The address tried.
    pub address: IpAddr,
    /// The port.
    pub port: u16,
    /// Its family.
    pub family: Family,
    /// The failure (`connectionAttemptFailed` only).
    pub error: Option<Error>,
}
