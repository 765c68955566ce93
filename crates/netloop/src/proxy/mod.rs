//! The PROXY protocol, versions 1 (text) and 2 (binary), after HAProxy's
//! specification (`doc/proxy-protocol.txt`): how a load balancer tells the
//! server behind it who the client really was.
//!
//! A proxy that relays a TCP connection sends, before anything else, a
//! short header naming the original client and the address it connected
//! to. A server that reads it can log, limit and answer the real client
//! instead of the proxy. Node has no PROXY protocol; this is netloop's own
//! extension of `net`.
//!
//! - **Server side**: [`ServerOptions::proxy_protocol`] (`Off`, `Required`
//!   or `Optional`). Each accepted connection reads its header inside the
//!   library before the server emits `connection`, so the `connection`
//!   listener already sees the original client in
//!   [`remote_address`](crate::net::Socket::remote_address) and
//!   [`remote_port`](crate::net::Socket::remote_port);
//!   [`proxy_header`](crate::net::Socket::proxy_header) gives the whole
//!   header (TLVs included) and
//!   [`transport_peer`](crate::net::Socket::transport_peer) the proxy. A
//!   connection whose header is missing, malformed, too long or late is
//!   closed and reported with
//!   [`Server::CLIENT_ERROR`](crate::net::Server::CLIENT_ERROR), never with
//!   `connection` or `data`.
//! - **Client side**: [`ConnectOptions::proxy_protocol`] sends a header as
//!   the first bytes of a connection;
//!   [`ProxyHeader::for_socket`] builds the one that passes an accepted
//!   socket's client on.
//! - **Bytes**: [`parse`], [`ProxyParser`] (incremental) and
//!   [`ProxyHeader::encode`].
//!
//! [`ServerOptions::proxy_protocol`]: crate::net::ServerOptions::proxy_protocol
//! [`ConnectOptions::proxy_protocol`]: crate::net::ConnectOptions::proxy_protocol
//!
//! ```
//! use std::net::SocketAddr;
//! use netloop::net::{self, ConnectOptions, Server, ServerOptions, Socket};
//! use netloop::proxy::{ProxyHeader, ProxyProtocol};
//!
//! let seen = netloop::run_returning(|| {
//!     let seen = netloop::Slot::new(Vec::new());
//!     let log = seen.clone();
//!     let opts = ServerOptions { proxy_protocol: ProxyProtocol::Required, ..ServerOptions::default() };
//!     let server = net::create_server_with(opts, move |server, sock: &Socket| {
//!         // Already the original client, before any data.
//!         log.update(|l| l.push(format!("connection from {:?}:{:?}", sock.remote_address(), sock.remote_port())));
//!         let log = log.clone();
//!         sock.on(Socket::DATA, move |s, data| {
//!             log.update(|l| l.push(format!("data {}", String::from_utf8_lossy(data))));
//!             s.end();
//!         });
//!         server.close();
//!     });
//!     server.listen(0, "127.0.0.1")?;
//!     let port = server.address().expect("bound at once").port();
//!
//!     // A load balancer passing on a client at 203.0.113.7:41000.
//!     let client: SocketAddr = "203.0.113.7:41000".parse().expect("an address");
//!     let lb = net::connect_with(ConnectOptions {
//!         port,
//!         host: Some("127.0.0.1".into()),
//!         proxy_protocol: Some(ProxyHeader::proxy(client, "198.51.100.1:80".parse().expect("an address"))),
//!         ..ConnectOptions::default()
//!     })?;
//!     lb.end_with("hello");
//!     lb.resume();
//!     Ok(seen)
//! })
//! .expect("the loop ran");
//! assert_eq!(seen, ["connection from Some(203.0.113.7):Some(41000)", "data hello"]);
//! ```
//!
//! # What the server checks
//!
//! Everything the specification says a receiver must reject: for version
//! 1, exactly `PROXY TCP4|TCP6|UNKNOWN` and single spaces, addresses of
//! the named family in canonical form, ports 0 to 65535 without leading
//! zeros or signs, a CRLF within 107 bytes (no lone CR or LF); for version
//! 2, the 12-byte signature, version 2, command `LOCAL` or `PROXY`, a
//! known family and transport, an address block long enough for its
//! family, well-formed TLVs and a matching CRC32C when one is sent. A
//! version 2 header may be up to 16 + 65535 bytes ([`MAX_HEADER`]); a
//! server takes at most
//! [`ServerOptions::proxy_protocol_max_header`](crate::net::ServerOptions::proxy_protocol_max_header)
//! ([`DEFAULT_MAX_HEADER`], 16 KiB, by default). `LOCAL` and `UNKNOWN`
//! (and `AF_UNSPEC`) headers are accepted and keep the real peer, as the
//! specification asks.
//!
//! # Optional mode, and its caveats
//!
//! `Optional` reads a header if the connection starts with one, and
//! otherwise takes the connection as it is: as soon as a byte cannot
//! start `PROXY ` or the version 2 signature, the server emits
//! `connection` and every byte read is the first `data`. The
//! specification warns against this ("the receiver MUST NOT try to guess
//! whether the protocol header is present or not"): any client can then
//! claim any address, so use it only while moving a service behind a
//! proxy, and only where clients cannot reach the server directly. A
//! client that waits for the server to speak first (SMTP, SSH, FTP) sends
//! nothing: the server waits for the timeout
//! ([`ServerOptions::proxy_protocol_timeout`](crate::net::ServerOptions::proxy_protocol_timeout))
//! before taking it as a connection without a header.
//!
//! # Why not the `ppp` crate
//!
//! `ppp` 2.3 parses both versions, but its errors do not say what was
//! wrong (`InvalidSourcePort(Option<ParseIntError>)` loses the text),
//! its headers borrow the input, and it has no "not PROXY at all" verdict
//! for optional mode nor a length limit. The parser here is a few hundred
//! lines, checked against the specification's examples and by the
//! `proxy_header` fuzz target (RELIABILITY.md).

mod encode;
mod header;
mod parse;
pub(crate) mod reader;
#[cfg(test)]
mod tests;

pub use header::{Command, ProxyAddresses, ProxyHeader, ProxyVersion, SslInfo, Tlv, Transport};
pub use parse::{parse, Parsed, ProxyParser};

/// The 12 bytes that start a version 2 header (section 2.2).
pub const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The longest version 1 line, CRLF included: `PROXY UNKNOWN` with two
/// full IPv6 addresses and ports (section 2.1).
pub const V1_MAX_LEN: usize = 107;

/// The longest version 2 header the protocol can express: 16 fixed bytes
/// and a 16-bit length.
pub const MAX_HEADER: usize = 16 + 65535;

/// The longest version 2 header a server takes unless told otherwise: 16
/// KiB, as much as an accepted socket keeps unread by default (its
/// high-water mark) and as HAProxy's default buffer. Load balancers send
/// a few hundred bytes at most (addresses, an id, TLS details).
pub const DEFAULT_MAX_HEADER: usize = 16 * 1024;

/// How long a server waits for a connection's header unless told
/// otherwise: 30 s, nginx's `proxy_protocol_timeout` default (the
/// specification asks for "at least 3 seconds to cover a TCP
/// retransmit").
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The size of each `AF_UNIX` address in a version 2 header (`sun_path`).
const UNIX_PATH_LEN: usize = 108;

/// Whether a server reads a PROXY protocol header from each connection
/// ([`ServerOptions::proxy_protocol`](crate::net::ServerOptions::proxy_protocol);
/// the CLI's `--proxy-protocol off|required|optional`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ProxyProtocol {
    /// No header is read: the connection's bytes are its own (the default).
    #[default]
    Off,
    /// Every connection must start with a header (version 1 or 2); one that
    /// does not is closed with a `clientError`. The specification's mode.
    Required,
    /// A header is read if the connection starts with one; otherwise the
    /// connection is taken as it is. See the [module docs](self#optional-mode-and-its-caveats).
    Optional,
}
