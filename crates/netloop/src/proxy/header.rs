//! The header itself: what a PROXY protocol header says (version,
//! command, transport, addresses, TLVs), how to build one, and the
//! helpers for the TLVs the specification registers.

use std::net::{IpAddr, SocketAddr};

use crate::net::Socket;

/// The two wire formats of the PROXY protocol (HAProxy's
/// `proxy-protocol.txt`, sections 2.1 and 2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProxyVersion {
    /// Version 1: one line of text, `PROXY TCP4 <src> <dst> <sport> <dport>\r\n`.
    V1,
    /// Version 2: a binary block with a 12-byte signature, addresses in
    /// network byte order and optional TLVs.
    V2,
}

/// The v2 command (the low four bits of the 13th byte). Version 1 has no
/// command: a v1 header is always [`Command::Proxy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// `LOCAL` (`\x0`): the proxy opened the connection on its own behalf
    /// (a health check); the real connection's endpoints stand and the
    /// addresses are ignored.
    Local,
    /// `PROXY` (`\x1`): the connection is relayed for a client, whose
    /// addresses the header carries.
    Proxy,
}

/// The transport protocol of the proxied connection (the low four bits of
/// the v2 header's 14th byte; a v1 `TCP4`/`TCP6` line is `Stream`, an
/// `UNKNOWN` line `Unspec`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Unknown or unsupported: the receiver ignores the addresses.
    Unspec,
    /// `SOCK_STREAM`: TCP, or a Unix stream socket.
    Stream,
    /// `SOCK_DGRAM`: UDP, or a Unix datagram socket.
    Datagram,
}

/// The addresses of the original connection, as the header gives them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ProxyAddresses {
    /// None: a `LOCAL` command, a v1 `UNKNOWN` line, or the v2 `AF_UNSPEC`
    /// family. The real connection's endpoints stand.
    Unspec,
    /// TCP or UDP over IPv4 or IPv6 (`AF_INET`, `AF_INET6`): the client
    /// (`source`) and the address it connected to (`destination`). Both
    /// are of the same family.
    Inet {
        /// The original client.
        source: SocketAddr,
        /// The address the client connected to (on the proxy).
        destination: SocketAddr,
    },
    /// `AF_UNIX` (v2 only): the two `sun_path` fields, 108 bytes each as
    /// sent (NUL-padded; an abstract name starts with a NUL). See
    /// [`ProxyHeader::unix_addresses`] for them without the padding.
    Unix {
        /// The source socket's path field.
        source: Vec<u8>,
        /// The destination socket's path field.
        destination: Vec<u8>,
    },
}

/// One v2 Type-Length-Value vector: a type byte and its value (section
/// 2.2 of the specification). The registered types are associated
/// constants ([`Tlv::ALPN`], ...).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tlv {
    /// The type (`PP2_TYPE_*`).
    pub kind: u8,
    /// The value, as sent.
    pub value: Vec<u8>,
}

impl Tlv {
    /// `PP2_TYPE_ALPN`: the application protocol (the TLS ALPN value).
    pub const ALPN: u8 = 0x01;
    /// `PP2_TYPE_AUTHORITY`: the host name the client asked for (TLS SNI),
    /// UTF-8.
    pub const AUTHORITY: u8 = 0x02;
    /// `PP2_TYPE_CRC32C`: a CRC32c of the whole header, checked on receipt
    /// and computed by the encoder.
    pub const CRC32C: u8 = 0x03;
    /// `PP2_TYPE_NOOP`: padding, ignored.
    pub const NOOP: u8 = 0x04;
    /// `PP2_TYPE_UNIQUE_ID`: an opaque connection id of up to 128 bytes.
    pub const UNIQUE_ID: u8 = 0x05;
    /// `PP2_TYPE_SSL`: the client's TLS details, with sub-TLVs (see
    /// [`SslInfo`]).
    pub const SSL: u8 = 0x20;
    /// `PP2_SUBTYPE_SSL_VERSION`, inside [`Tlv::SSL`]: the TLS version text.
    pub const SSL_VERSION: u8 = 0x21;
    /// `PP2_SUBTYPE_SSL_CN`, inside [`Tlv::SSL`]: the client certificate's
    /// Common Name.
    pub const SSL_CN: u8 = 0x22;
    /// `PP2_SUBTYPE_SSL_CIPHER`, inside [`Tlv::SSL`]: the cipher's name.
    pub const SSL_CIPHER: u8 = 0x23;
    /// `PP2_SUBTYPE_SSL_SIG_ALG`, inside [`Tlv::SSL`]: the certificate's
    /// signature algorithm.
    pub const SSL_SIG_ALG: u8 = 0x24;
    /// `PP2_SUBTYPE_SSL_KEY_ALG`, inside [`Tlv::SSL`]: the certificate's
    /// key algorithm.
    pub const SSL_KEY_ALG: u8 = 0x25;
    /// `PP2_TYPE_NETNS`: the network namespace's name.
    pub const NETNS: u8 = 0x30;

    /// A TLV of type `kind` holding `value`.
    pub fn new(kind: u8, value: impl Into<Vec<u8>>) -> Tlv {
        Tlv {
            kind,
            value: value.into(),
        }
    }
}

/// The value of a [`Tlv::SSL`] vector (`struct pp2_tlv_ssl`): which TLS
/// facts the proxy saw, whether the client certificate verified, and the
/// sub-TLVs that name them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SslInfo {
    /// `PP2_CLIENT_*` bits: `0x01` TLS was used, `0x02` a client
    /// certificate on this connection, `0x04` one on the TLS session.
    pub client: u8,
    /// Zero when the client presented a certificate that verified.
    pub verify: u32,
    /// The sub-TLVs ([`Tlv::SSL_VERSION`], [`Tlv::SSL_CN`], ...), in order.
    pub tlvs: Vec<Tlv>,
}

impl SslInfo {
    /// `PP2_CLIENT_SSL`: the client connected over TLS.
    pub const CLIENT_SSL: u8 = 0x01;
    /// `PP2_CLIENT_CERT_CONN`: a client certificate on this connection.
    pub const CLIENT_CERT_CONN: u8 = 0x02;
    /// `PP2_CLIENT_CERT_SESS`: a client certificate on this TLS session.
    pub const CLIENT_CERT_SESS: u8 = 0x04;

    /// The first sub-TLV of type `kind`, as UTF-8 text; `None` if absent or
    /// not UTF-8.
    pub fn text(&self, kind: u8) -> Option<&str> {
        let tlv = self.tlvs.iter().find(|t| t.kind == kind)?;
        std::str::from_utf8(&tlv.value).ok()
    }

    /// The TLS version (`PP2_SUBTYPE_SSL_VERSION`), such as `"TLSv1.3"`.
    pub fn version(&self) -> Option<&str> {
        self.text(Tlv::SSL_VERSION)
    }

    /// The client certificate's Common Name (`PP2_SUBTYPE_SSL_CN`).
    pub fn common_name(&self) -> Option<&str> {
        self.text(Tlv::SSL_CN)
    }

    /// The cipher (`PP2_SUBTYPE_SSL_CIPHER`), such as
    /// `"ECDHE-RSA-AES128-GCM-SHA256"`.
    pub fn cipher(&self) -> Option<&str> {
        self.text(Tlv::SSL_CIPHER)
    }
}

/// A PROXY protocol header (HAProxy's `proxy-protocol.txt`): who the
/// client of a relayed connection really was.
///
/// A server with [`ServerOptions::proxy_protocol`](crate::net::ServerOptions::proxy_protocol)
/// reads one from each connection before `connection` and shows it
/// through [`Socket::proxy_header`]; a client sends one first on its
/// connection with
/// [`ConnectOptions::proxy_protocol`](crate::net::ConnectOptions::proxy_protocol).
/// [`parse`](crate::proxy::parse) and [`ProxyParser`](crate::proxy::ProxyParser)
/// read one from bytes, [`encode`](ProxyHeader::encode) writes one.
///
/// Node has no PROXY protocol; this is netloop's own.
///
/// ```
/// use netloop::proxy::{self, Command, Parsed, ProxyHeader, ProxyVersion, Tlv};
///
/// let client = "192.168.0.1:56324".parse().expect("a socket address");
/// let server = "192.168.0.11:443".parse().expect("a socket address");
/// let header = ProxyHeader::proxy(client, server).with_tlv(Tlv::AUTHORITY, "example.com");
///
/// let v1 = header.clone().with_version(ProxyVersion::V1).encode()?;
/// assert_eq!(v1, b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
///
/// let mut wire = header.encode()?; // version 2, the default
/// wire.extend_from_slice(b"GET / HTTP/1.1\r\n");
/// let Parsed::Done(read, len) = proxy::parse(&wire)? else { panic!("a whole header") };
/// assert_eq!(&wire[len..], b"GET / HTTP/1.1\r\n");
/// assert_eq!(read.command(), Command::Proxy);
/// assert_eq!(read.source(), Some(client));
/// assert_eq!(read.authority(), Some("example.com"));
/// assert_eq!(read, header);
/// # Ok::<(), netloop::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProxyHeader {
    pub(super) version: ProxyVersion,
    pub(super) command: Command,
    pub(super) transport: Transport,
    pub(super) addresses: ProxyAddresses,
    pub(super) tlvs: Vec<Tlv>,
}

impl ProxyHeader {
    /// A version 2 `PROXY` header for a TCP connection from `source` (the
    /// client) to `destination` (the address it connected to). When the
    /// two differ in family, the IPv4 one is written as an IPv4-mapped
    /// IPv6 address (`::ffff:a.b.c.d`): the protocol carries one family.
    pub fn proxy(source: SocketAddr, destination: SocketAddr) -> ProxyHeader {
        let (source, destination) = match (source, destination) {
            (SocketAddr::V4(_), SocketAddr::V6(_)) => (to_v6(source), destination),
            (SocketAddr::V6(_), SocketAddr::V4(_)) => (source, to_v6(destination)),
            _ => (source, destination),
        };
        ProxyHeader {
            version: ProxyVersion::V2,
            command: Command::Proxy,
            transport: Transport::Stream,
            addresses: ProxyAddresses::Inet {
                source,
                destination,
            },
            tlvs: Vec::new(),
        }
    }

    /// A version 2 `LOCAL` header: the connection is the proxy's own (a
    /// health check), and the receiver keeps the real endpoints. In
    /// version 1 it is written as `PROXY UNKNOWN`.
    pub fn local() -> ProxyHeader {
        ProxyHeader {
            version: ProxyVersion::V2,
            command: Command::Local,
            transport: Transport::Unspec,
            addresses: ProxyAddresses::Unspec,
            tlvs: Vec::new(),
        }
    }

    /// A version 2 `PROXY` header with no addresses (`AF_UNSPEC`; in
    /// version 1 `PROXY UNKNOWN`): relayed, but the proxy cannot say for
    /// whom, so the receiver keeps the real endpoints.
    pub fn unknown() -> ProxyHeader {
        ProxyHeader {
            command: Command::Proxy,
            ..ProxyHeader::local()
        }
    }

    /// The header a proxy sends upstream to pass on the client of
    /// `socket`, a connection it accepted: the source is the socket's
    /// (original) remote address and port, the destination the address
    /// that client connected to (the one its own PROXY header named, or
    /// else the socket's local address). A socket without IP addresses
    /// (a Unix socket) gives [`ProxyHeader::unknown`].
    ///
    /// ```
    /// use netloop::net::{self, Socket};
    /// use netloop::proxy::{ProxyHeader, ProxyVersion};
    ///
    /// let line = netloop::run_returning(|| {
    ///     let line = netloop::Slot::new(Vec::new());
    ///     let out = line.clone();
    ///     let server = net::create_server(move |server, sock: &Socket| {
    ///         let header = ProxyHeader::for_socket(sock, ProxyVersion::V1);
    ///         out.set(header.encode().expect("v1 always encodes"));
    ///         sock.end();
    ///         server.close();
    ///     });
    ///     server.listen(0, "127.0.0.1")?;
    ///     let port = server.address().expect("bound at once").port();
    ///     net::connect(port, "127.0.0.1")?.resume();
    ///     Ok(line)
    /// })
    /// .expect("the loop ran");
    /// let line = String::from_utf8(line).expect("v1 is text");
    /// assert!(line.starts_with("PROXY TCP4 127.0.0.1 127.0.0.1 "), "{line}");
    /// ```
    pub fn for_socket(socket: &Socket, version: ProxyVersion) -> ProxyHeader {
        let source = socket
            .remote_address()
            .zip(socket.remote_port())
            .map(|(ip, port)| SocketAddr::new(ip, port));
        let destination = socket
            .proxy_header()
            .and_then(|h| h.destination())
            .or_else(|| socket.address());
        let header = match (source, destination) {
            (Some(s), Some(d)) => ProxyHeader::proxy(s, d),
            _ => ProxyHeader::unknown(),
        };
        header.with_version(version)
    }

    /// The same header in the other wire format.
    pub fn with_version(mut self, version: ProxyVersion) -> ProxyHeader {
        self.version = version;
        self
    }

    /// The same header with one more TLV after the others (version 2
    /// only: version 1 has none and leaves them out).
    pub fn with_tlv(mut self, kind: u8, value: impl Into<Vec<u8>>) -> ProxyHeader {
        self.tlvs.push(Tlv::new(kind, value));
        self
    }

    /// Which format the header came in, or is written in.
    pub fn version(&self) -> ProxyVersion {
        self.version
    }

    /// `LOCAL` or `PROXY` (always `PROXY` for version 1).
    pub fn command(&self) -> Command {
        self.command
    }

    /// The transport protocol of the relayed connection.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The addresses, as the header gives them.
    pub fn addresses(&self) -> &ProxyAddresses {
        &self.addresses
    }

    /// The original client's address and port: the source of a `PROXY`
    /// header over IPv4 or IPv6; `None` for `LOCAL`, `UNKNOWN`, `AF_UNSPEC`
    /// and Unix addresses.
    pub fn source(&self) -> Option<SocketAddr> {
        match (&self.command, &self.addresses) {
            (Command::Proxy, ProxyAddresses::Inet { source, .. }) => Some(*source),
            _ => None,
        }
    }

    /// The address the original client connected to, as
    /// [`source`](ProxyHeader::source).
    pub fn destination(&self) -> Option<SocketAddr> {
        match (&self.command, &self.addresses) {
            (Command::Proxy, ProxyAddresses::Inet { destination, .. }) => Some(*destination),
            _ => None,
        }
    }

    /// The source and destination Unix socket paths of a `PROXY` header
    /// over `AF_UNIX`, without their NUL padding.
    pub fn unix_addresses(&self) -> Option<(&[u8], &[u8])> {
        match (&self.command, &self.addresses) {
            (
                Command::Proxy,
                ProxyAddresses::Unix {
                    source,
                    destination,
                },
            ) => Some((trim_nul(source), trim_nul(destination))),
            _ => None,
        }
    }

    /// Every TLV, in the order the header carried them (NOOP and unknown
    /// types included).
    pub fn tlvs(&self) -> &[Tlv] {
        &self.tlvs
    }

    /// The value of the first TLV of type `kind`.
    pub fn tlv(&self, kind: u8) -> Option<&[u8]> {
        self.tlvs
            .iter()
            .find(|t| t.kind == kind)
            .map(|t| t.value.as_slice())
    }

    /// The application protocol ([`Tlv::ALPN`]), such as `b"h2"`.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.tlv(Tlv::ALPN)
    }

    /// The host name the client asked for ([`Tlv::AUTHORITY`], the TLS
    /// SNI); `None` if absent or not UTF-8.
    pub fn authority(&self) -> Option<&str> {
        self.tlv(Tlv::AUTHORITY)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The proxy's id for the connection ([`Tlv::UNIQUE_ID`]).
    pub fn unique_id(&self) -> Option<&[u8]> {
        self.tlv(Tlv::UNIQUE_ID)
    }

    /// The network namespace ([`Tlv::NETNS`]); `None` if absent or not UTF-8.
    pub fn netns(&self) -> Option<&str> {
        self.tlv(Tlv::NETNS)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The checksum ([`Tlv::CRC32C`]) the header carried. A parsed header's
    /// checksum was verified.
    pub fn crc32c(&self) -> Option<u32> {
        let v: [u8; 4] = self.tlv(Tlv::CRC32C)?.try_into().ok()?;
        Some(u32::from_be_bytes(v))
    }

    /// The client's TLS details ([`Tlv::SSL`]) with their sub-TLVs; `None`
    /// if absent or malformed (the raw value stays in
    /// [`tlvs`](ProxyHeader::tlvs)).
    pub fn ssl(&self) -> Option<SslInfo> {
        let v = self.tlv(Tlv::SSL)?;
        let (&client, rest) = v.split_first()?;
        let verify: [u8; 4] = rest.get(..4)?.try_into().ok()?;
        let tlvs = super::parse::tlvs(&rest[4..]).ok()?;
        Some(SslInfo {
            client,
            verify: u32::from_be_bytes(verify),
            tlvs,
        })
    }
}

/// `a.b.c.d:port` as `[::ffff:a.b.c.d]:port`.
fn to_v6(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), addr.port()),
        IpAddr::V6(_) => addr,
    }
}

/// A `sun_path` without the NULs that pad it.
fn trim_nul(path: &[u8]) -> &[u8] {
    let end = path.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &path[..end]
}
