//! Option structs and small value types of `net`, with Node's defaults.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use crate::error::{Error, Result};
pub use crate::ip::Family;
use crate::net::BlockList;
use crate::proxy::{ProxyHeader, ProxyProtocol};

/// Node's default `highWaterMark` for sockets: 16 KiB (Node 20:
/// `stream.getDefaultHighWaterMark(false)`). The write queue's limit before
/// `write()` returns `false`, and the most a socket keeps unread.
pub const DEFAULT_HIGH_WATER_MARK: usize = 16 * 1024;

/// Node 20's default happy-eyeballs attempt timeout: 250 ms (Node:
/// `net.getDefaultAutoSelectFamilyAttemptTimeout()` before any change).
pub const DEFAULT_AUTO_SELECT_FAMILY_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(250);

/// Options for [`Server::with_options`](crate::net::Server::with_options)
/// and [`create_server_with`](crate::net::create_server_with) (Node:
/// `net.createServer(options)`). They apply to every accepted socket;
/// `Default` gives Node's defaults. See [`Socket::end`](crate::net::Socket::end)
/// (`allow_half_open`) and [`Socket::pause`](crate::net::Socket::pause)
/// (`pause_on_connect`) for examples.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// Keep accepted sockets half-open after the peer's FIN (Node:
    /// `allowHalfOpen`). Default false: the socket ends its side once its
    /// writes flush.
    pub allow_half_open: bool,
    /// Accepted sockets start paused: no reading until `resume()` (Node:
    /// `pauseOnConnect`).
    pub pause_on_connect: bool,
    /// Set `TCP_NODELAY` on accepted sockets (Node: `noDelay`).
    pub no_delay: bool,
    /// Set `SO_KEEPALIVE` on accepted sockets (Node: `keepAlive`).
    pub keep_alive: bool,
    /// The keep-alive idle time for accepted sockets (Node:
    /// `keepAliveInitialDelay`).
    pub keep_alive_initial_delay: Duration,
    /// High-water mark of accepted sockets, default 16 KiB (Node:
    /// `highWaterMark`).
    pub high_water_mark: Option<usize>,
    /// Connections from addresses on this list are closed at once, with
    /// neither `connection` nor `drop` (Node 22: `blockList`). With
    /// [`proxy_protocol`](ServerOptions::proxy_protocol), both the TCP
    /// peer (at accept) and the original client the header names (before
    /// `connection`) are checked.
    pub block_list: Option<BlockList>,
    /// Read a PROXY protocol header (version 1 or 2) from each connection
    /// before emitting `connection`: [`ProxyProtocol::Off`] (the default),
    /// `Required` or `Optional`. See [`crate::proxy`]; netloop's own, not
    /// in Node.
    ///
    /// The `connection` listener then sees the original client in
    /// [`Socket::remote_address`](crate::net::Socket::remote_address) and
    /// [`Socket::proxy_header`](crate::net::Socket::proxy_header); bytes
    /// that came with the header are the first `data`. A connection whose
    /// header is missing (required), malformed, over
    /// [`proxy_protocol_max_header`](ServerOptions::proxy_protocol_max_header),
    /// cut short by the peer, or not there within
    /// [`proxy_protocol_timeout`](ServerOptions::proxy_protocol_timeout)
    /// is closed and reported with
    /// [`Server::CLIENT_ERROR`](crate::net::Server::CLIENT_ERROR). A
    /// connection waiting for its header counts in
    /// [`Server::connections`](crate::net::Server::connections) and
    /// against `max_connections`: it holds a descriptor like any other.
    pub proxy_protocol: ProxyProtocol,
    /// How long a connection may take to send its whole PROXY header;
    /// `None` is [`proxy::DEFAULT_TIMEOUT`](crate::proxy::DEFAULT_TIMEOUT)
    /// (30 s, as nginx's `proxy_protocol_timeout`), `Duration::ZERO` waits
    /// forever. In optional mode a connection that sent nothing by then is
    /// taken without a header.
    pub proxy_protocol_timeout: Option<Duration>,
    /// The longest version 2 PROXY header taken, in bytes; `None` is
    /// [`proxy::DEFAULT_MAX_HEADER`](crate::proxy::DEFAULT_MAX_HEADER)
    /// (16 KiB), and more than 16 + 65535 (what the protocol can say)
    /// changes nothing. Version 1 lines have the specification's own limit
    /// of 107 bytes.
    pub proxy_protocol_max_header: Option<usize>,
}

/// Options for [`Socket::with_options`](crate::net::Socket::with_options)
/// (Node: `new net.Socket(options)`).
#[derive(Clone, Debug, Default)]
pub struct SocketOptions {
    /// Stay half-open after the peer's FIN, default false (Node:
    /// `allowHalfOpen`).
    pub allow_half_open: bool,
    /// High-water mark, default 16 KiB (Node: `highWaterMark`).
    pub high_water_mark: Option<usize>,
}

/// Options for [`net::connect_with`](crate::net::connect_with) and
/// [`Socket::connect_with`](crate::net::Socket::connect_with) (Node:
/// `net.connect(options)`). Set `path` for a Unix socket, `port` and `host`
/// for TCP; `Default` gives Node's defaults. See
/// [`Socket::connect_with`](crate::net::Socket::connect_with) for an
/// example.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// Remote port; 0 is refused with `ERR_SOCKET_BAD_PORT` (Node: `port`).
    pub port: u16,
    /// Remote host: an IP literal or a name, default `localhost` (Node:
    /// `host`).
    pub host: Option<String>,
    /// A Unix socket path; takes precedence over `port` and `host` (Node:
    /// `path`).
    pub path: Option<PathBuf>,
    /// The family to connect with, `None` (the default) for either; a
    /// fixed family turns happy eyeballs off (Node: `family`, 4 or 6, 0 for
    /// either: see [`Family::from_number`] for numbers).
    pub family: Option<Family>,
    /// Bind to this local IP literal before connecting; turns happy
    /// eyeballs off (Node: `localAddress`).
    pub local_address: Option<String>,
    /// Bind to this local port before connecting, on `0.0.0.0`/`::` when no
    /// `local_address` is given (Node: `localPort`).
    pub local_port: Option<u16>,
    /// Idle timeout, armed before connecting, as
    /// [`Socket::set_timeout`](crate::net::Socket::set_timeout) (Node:
    /// `timeout`).
    pub timeout: Option<Duration>,
    /// Set `TCP_NODELAY` once connected (Node: `noDelay`).
    pub no_delay: bool,
    /// Set `SO_KEEPALIVE` once connected (Node: `keepAlive`).
    pub keep_alive: bool,
    /// Keep-alive idle time (Node: `keepAliveInitialDelay`).
    pub keep_alive_initial_delay: Duration,
    /// Happy eyeballs (RFC 8305): try every address of a name, the
    /// families interleaved. `None` takes
    /// [`default_auto_select_family`](crate::net::default_auto_select_family),
    /// on by default as in Node 20 (Node: `autoSelectFamily`).
    pub auto_select_family: Option<bool>,
    /// How long one happy-eyeballs attempt may take before the next address
    /// is tried, default 250 ms, at least 10 ms (Node:
    /// `autoSelectFamilyAttemptTimeout`).
    pub auto_select_family_attempt_timeout: Option<Duration>,
    /// Stay half-open after the peer's FIN (Node: `allowHalfOpen`).
    pub allow_half_open: bool,
    /// High-water mark, default 16 KiB (Node: `highWaterMark`).
    pub high_water_mark: Option<usize>,
    /// Refuse to connect to addresses on this list: `ERR_IP_BLOCKED`
    /// (Node 22: `blockList`).
    pub block_list: Option<BlockList>,
    /// Resolve `host` with this function instead of the system resolver
    /// (Node: `lookup`).
    pub lookup: Option<Lookup>,
    /// Send this PROXY protocol header (in its own version) as the very
    /// first bytes of the connection, before any write, those made while
    /// connecting included; see [`crate::proxy`] and
    /// [`ProxyHeader::for_socket`](crate::proxy::ProxyHeader::for_socket)
    /// to pass an accepted client on. It is encoded by `connect_with`
    /// (an invalid header is an `Err` at once) and not counted in
    /// [`bytes_written`](crate::net::Socket::bytes_written), which counts
    /// your writes. netloop's own, not in Node.
    pub proxy_protocol: Option<ProxyHeader>,
}

/// The callback a [`Lookup`] function answers through: the host's
/// addresses in the order the resolver gives them, or the lookup error
/// (Node: the `callback(err, address, family)` of a `lookup` function,
/// here one `Result` carrying every address).
pub type LookupCallback = Box<dyn FnOnce(Result<Vec<IpAddr>>)>;

/// A custom host-name lookup for [`ConnectOptions::lookup`] (Node: the
/// `lookup` option of `net.connect`, a `dns.lookup`-shaped function).
///
/// The function receives the host, the wanted family (`None` for either)
/// and a callback to answer with, now or later. netloop calls it on
/// the tick after `connect`, never from inside `connect` itself, so every
/// listener added after `connect` sees the `lookup` events.
///
/// ```
/// use std::cell::RefCell;
/// use std::net::IpAddr;
/// use std::rc::Rc;
/// use netloop::net::{self, ConnectOptions, Lookup, Socket};
///
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let (asked, looked_up) = (Rc::clone(&log), Rc::clone(&log));
/// netloop::run(move || {
///     let server = net::create_server(|server, s: &Socket| {
///         s.end();
///         server.close();
///     });
///     server.listen(0, "127.0.0.1")?;
///     let port = server.address().expect("bound at once").port();
///     // A fixed table instead of DNS: every name is 127.0.0.1.
///     let lookup = Lookup::new(move |host, family, done| {
///         asked.borrow_mut().push(format!("asked for {host}, family {family:?}"));
///         done(Ok(vec!["127.0.0.1".parse::<IpAddr>().expect("an IP literal")]))
///     });
///     let client = net::connect_with(ConnectOptions {
///         port,
///         host: Some("example.test".into()),
///         lookup: Some(lookup),
///         ..ConnectOptions::default()
///     })?;
///     client.on(Socket::LOOKUP, move |_, info| {
///         let address = info.address.map(|a| a.to_string()).unwrap_or_default();
///         looked_up.borrow_mut().push(format!("lookup {} -> {address}", info.host));
///     });
///     Ok(())
/// })
/// .expect("the loop ran");
/// assert_eq!(
///     *log.borrow(),
///     ["asked for example.test, family None", "lookup example.test -> 127.0.0.1"]
/// );
/// ```
#[derive(Clone)]
pub struct Lookup(Rc<LookupFn>);

/// The function behind a [`Lookup`]: `(host, family, callback)`.
type LookupFn = dyn Fn(&str, Option<Family>, LookupCallback);

impl Lookup {
    /// Wrap a lookup function `f(host, family, callback)`; `f` answers
    /// through `callback`, at once or later (Node: a `dns.lookup`-shaped
    /// function).
    pub fn new(f: impl Fn(&str, Option<Family>, LookupCallback) + 'static) -> Lookup {
        Lookup(Rc::new(f))
    }

    /// Run the lookup.
    pub(crate) fn call(&self, host: &str, family: Option<Family>, done: LookupCallback) {
        (self.0)(host, family, done)
    }
}

impl fmt::Debug for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Lookup(..)")
    }
}

/// Options for [`Server::listen_with`](crate::net::Server::listen_with)
/// (Node: `server.listen(options)`). `Default` gives Node's defaults; see
/// [`Server::listen_with`](crate::net::Server::listen_with) for an example.
#[derive(Clone, Debug, Default)]
pub struct ListenOptions {
    /// Port; 0 picks a free one (Node: `port`).
    pub port: u16,
    /// Host: an IP literal or a name. `None` listens on `::` (dual-stack),
    /// falling back to `0.0.0.0` (Node: `host`).
    pub host: Option<String>,
    /// A Unix socket path; takes precedence over `port` and `host` (Node:
    /// `path`).
    pub path: Option<PathBuf>,
    /// Listen backlog, default 511: the kernel rounds `backlog + 1` up to a
    /// power of two, so 511 gives 512 slots (Node: `backlog`).
    pub backlog: Option<i32>,
    /// IPv6 only: do not accept IPv4 on `::` (Node: `ipv6Only`).
    pub ipv6_only: bool,
    /// `SO_REUSEPORT`: several listeners share the port, one per loop, as
    /// [`cluster`](crate::cluster) does (Node 22: `reusePort`).
    pub reuse_port: bool,
    /// In a [`cluster`](crate::cluster) worker, listen with a socket of
    /// this worker's own instead of sharing the port with the other
    /// workers (Node: `exclusive`). Outside a cluster it changes nothing.
    pub exclusive: bool,
    /// Unix socket: make the socket file readable by all users (Node's
    /// `readableAll`). Not allowed for abstract names.
    pub readable_all: bool,
    /// Unix socket: make the socket file writable by all users (Node's
    /// `writableAll`). Not allowed for abstract names.
    pub writable_all: bool,
}

/// Which directions of a socket are open (Node: `socket.readyState`).
/// `Display` prints Node's strings (`"open"`, `"readOnly"`, ...). See the
/// lifecycle table of [`Socket`](crate::net::Socket#lifecycle).
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
    /// Not connected, or destroyed (Node says `open` for a socket that
    /// never connected).
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

/// How `data` chunks are cut and shaped (Node: the `encoding` of
/// `socket.setEncoding`). Payloads stay bytes; an encoding changes where
/// chunks are split and, for `Hex`, what the bytes are. See
/// [`Socket::set_encoding`](crate::net::Socket::set_encoding).
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
/// connection refused because of `max_connections` (Node: the `'drop'`
/// event's `data` object). All `None` for a Unix socket, where Node passes
/// `undefined`. See
/// [`Server::set_max_connections`](crate::net::Server::set_max_connections).
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

/// The payload of [`Server::CLIENT_ERROR`](crate::net::Server::CLIENT_ERROR):
/// a connection closed before `connection` because its PROXY protocol
/// header was missing, malformed, too long, cut short or late (Node's
/// `http.Server` `'clientError'` names the same idea; `net` has none).
#[derive(Clone, Debug)]
pub struct ClientErrorInfo {
    /// What was wrong: `ERR_PROXY_PROTOCOL`, with a message such as
    /// `PROXY protocol: invalid v1 source port "99999"`.
    pub error: Error,
    /// The TCP peer's address (the proxy, or whoever connected).
    pub remote_address: Option<IpAddr>,
    /// The TCP peer's port.
    pub remote_port: Option<u16>,
    /// The TCP peer's family.
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

/// The payload of [`Socket::CONNECTION_ATTEMPT`](crate::net::Socket::CONNECTION_ATTEMPT)
/// and its `_FAILED` and `_TIMEOUT` siblings (Node: the events' arguments
/// `(ip, port, family[, error])`).
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

thread_local! {
    static AUTO_SELECT_FAMILY: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
    static ATTEMPT_TIMEOUT: std::cell::Cell<Duration> =
        const { std::cell::Cell::new(DEFAULT_AUTO_SELECT_FAMILY_ATTEMPT_TIMEOUT) };
}

/// Whether connects to a host name use happy eyeballs unless told otherwise
/// (Node: `net.getDefaultAutoSelectFamily()`); true by default, as in Node
/// 20. Per thread, since each thread has its own loop.
pub fn default_auto_select_family() -> bool {
    AUTO_SELECT_FAMILY.with(|c| c.get())
}

/// Change the default of [`ConnectOptions::auto_select_family`] on this
/// thread (Node: `net.setDefaultAutoSelectFamily(value)`, per process).
pub fn set_default_auto_select_family(value: bool) {
    AUTO_SELECT_FAMILY.with(|c| c.set(value));
}

/// How long happy eyeballs waits for one address before trying the next,
/// unless told otherwise (Node:
/// `net.getDefaultAutoSelectFamilyAttemptTimeout()`): 250 ms.
pub fn default_auto_select_family_attempt_timeout() -> std::time::Duration {
    ATTEMPT_TIMEOUT.with(|c| c.get())
}

/// Change the default attempt timeout on this thread (Node:
/// `net.setDefaultAutoSelectFamilyAttemptTimeout(ms)`); values under 10 ms
/// become 10 ms, as in Node, where Node throws for values under 1 ms.
pub fn set_default_auto_select_family_attempt_timeout(value: std::time::Duration) {
    let v = value.max(std::time::Duration::from_millis(10));
    ATTEMPT_TIMEOUT.with(|c| c.set(v));
}
