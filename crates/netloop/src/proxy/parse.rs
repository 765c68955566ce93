//! Reading a header: [`parse`] on bytes that are all there, and
//! [`ProxyParser`] on bytes that come in pieces.
//!
//! Both give the same verdict however the input is split: every check
//! looks only at bytes that are present, in the order they come on the
//! wire, so a prefix of the input is either `Incomplete` or already fails
//! the way the whole input does (the `proxy_header` fuzz target checks
//! this). Version 1 waits for the whole line (the specification: "the
//! receiver must wait for the CRLF sequence before starting to decode the
//! addresses"); version 2 checks its fixed bytes as they arrive and
//! decodes the rest once `16 + length` bytes are in.

use std::fmt::Display;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use super::header::{Command, ProxyAddresses, ProxyHeader, ProxyVersion, Tlv, Transport};
use super::{MAX_HEADER, SIGNATURE, V1_MAX_LEN};
use crate::error::{Error, ErrorCode, Result};

/// The `PROXY ` that starts a version 1 header.
const V1_PREFIX: &[u8] = b"PROXY ";

/// What [`parse`] or [`ProxyParser::feed`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The bytes so far start a header (or could): more are needed.
    Incomplete,
    /// The bytes cannot start a PROXY header: neither `PROXY ` nor the
    /// version 2 signature. Decided at the first byte that differs from
    /// both.
    NotProxy,
    /// A whole, valid header, and how many bytes it took: from the start
    /// of the input for [`parse`], from the start of the last chunk for
    /// [`ProxyParser::feed`]. The bytes after it are the connection's own.
    Done(ProxyHeader, usize),
}

/// Read a PROXY protocol header (version 1 or 2) from the start of
/// `bytes`, which may hold more after it.
///
/// # Errors
///
/// `ERR_PROXY_PROTOCOL` with what was wrong, for a header that cannot be
/// valid whatever follows: `PROXY protocol: invalid v1 source port
/// "99999"`, `PROXY protocol: invalid v2 command 2 (byte 13 is 0x22)`, ...
///
/// # Examples
///
/// ```
/// use netloop::proxy::{self, Parsed};
///
/// let line = b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 443\r\nhello";
/// let Parsed::Done(header, len) = proxy::parse(line)? else { panic!("complete") };
/// assert_eq!(header.source(), Some("[2001:db8::1]:4000".parse().expect("an address")));
/// assert_eq!(&line[len..], b"hello");
///
/// assert_eq!(proxy::parse(b"PROXY TCP4 1.2")?, Parsed::Incomplete);
/// assert_eq!(proxy::parse(b"GET / HTTP/1.1\r\n")?, Parsed::NotProxy);
/// let err = proxy::parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\n").expect_err("bad port");
/// assert_eq!(err.code().as_str(), "ERR_PROXY_PROTOCOL");
/// assert_eq!(err.to_string(), "PROXY protocol: invalid v1 source port \"99999\"");
/// # Ok::<(), netloop::Error>(())
/// ```
pub fn parse(bytes: &[u8]) -> Result<Parsed> {
    parse_limited(bytes, MAX_HEADER)
}

/// [`parse`] with version 2 headers longer than `limit` bytes refused.
pub(super) fn parse_limited(bytes: &[u8], limit: usize) -> Result<Parsed> {
    match bytes.first() {
        None => Ok(Parsed::Incomplete),
        Some(b'P') => v1(bytes),
        Some(b'\r') => v2(bytes, limit),
        Some(_) => Ok(Parsed::NotProxy),
    }
}

/// An incremental reader of one header, for bytes that come in reads of
/// any size (a header split across TCP segments, even one byte at a
/// time). It keeps what it has seen until the header is complete, and at
/// most one header's worth.
///
/// ```
/// use netloop::proxy::{Parsed, ProxyParser};
///
/// let mut parser = ProxyParser::new();
/// assert_eq!(parser.feed(b"PROXY TCP4 192.168.0.1 ")?, Parsed::Incomplete);
/// assert_eq!(parser.feed(b"192.168.0.11 56324")?, Parsed::Incomplete);
/// let Parsed::Done(header, used) = parser.feed(b" 443\r\nGET /")? else { panic!("done") };
/// assert_eq!(header.source(), Some("192.168.0.1:56324".parse().expect("an address")));
/// assert_eq!(used, 6); // " 443\r\n": "GET /" is the connection's
///
/// let mut parser = ProxyParser::new();
/// assert_eq!(parser.feed(b"PRO")?, Parsed::Incomplete);
/// assert_eq!(parser.feed(b"TOCOL")?, Parsed::NotProxy);
/// assert_eq!(parser.take_buffered(), b"PRO"); // then the last chunk: not a header
/// # Ok::<(), netloop::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ProxyParser {
    buf: Vec<u8>,
    max_header: usize,
}

impl Default for ProxyParser {
    fn default() -> Self {
        ProxyParser::new()
    }
}

impl ProxyParser {
    /// A parser that takes any header the specification allows (a
    /// version 2 header of up to [`MAX_HEADER`] bytes).
    pub fn new() -> ProxyParser {
        ProxyParser::with_max_header(MAX_HEADER)
    }

    /// A parser that refuses version 2 headers longer than `max` bytes
    /// (addresses and TLVs included; version 1 lines have their own limit
    /// of 107 bytes).
    pub fn with_max_header(max: usize) -> ProxyParser {
        ProxyParser {
            buf: Vec::new(),
            max_header: max.min(MAX_HEADER),
        }
    }

    /// Feed the next bytes read. `Done(header, n)` means the header ended
    /// `n` bytes into `chunk`: `&chunk[n..]` is the connection's data.
    /// `NotProxy` means [`buffered`](ProxyParser::buffered) followed by
    /// `chunk` is not a header. After `Done` the parser is empty and would
    /// read a new header.
    ///
    /// # Errors
    ///
    /// As [`parse`]: the header is malformed or over the limit.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Parsed> {
        if self.buf.is_empty() {
            // The usual case, a header that comes whole: no copy.
            let res = parse_limited(chunk, self.max_header)?;
            if res == Parsed::Incomplete {
                self.buf.extend_from_slice(chunk);
            }
            return Ok(res);
        }
        let old = self.buf.len();
        // Never more than a header's worth: the rest of a large read is
        // the connection's data, which the caller still has.
        let cap = if self.buf[0] == b'P' {
            V1_MAX_LEN
        } else {
            self.max_header.max(16)
        };
        let take = chunk.len().min(cap.saturating_sub(old));
        self.buf.extend_from_slice(&chunk[..take]);
        match parse_limited(&self.buf, self.max_header)? {
            Parsed::Done(header, len) => {
                self.buf.clear();
                Ok(Parsed::Done(header, len.saturating_sub(old)))
            }
            Parsed::NotProxy => {
                self.buf.truncate(old);
                Ok(Parsed::NotProxy)
            }
            Parsed::Incomplete => Ok(Parsed::Incomplete),
        }
    }

    /// The bytes fed so far that are held for an incomplete header.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Take the bytes held for an incomplete header (to hand them on as
    /// data after `NotProxy`, or when giving up).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// True once the held bytes start with a whole signature (`PROXY ` or
    /// the 12 bytes of version 2): they are a header or an error, never
    /// the connection's data.
    pub(crate) fn signature_seen(&self) -> bool {
        self.buf.starts_with(V1_PREFIX) || self.buf.starts_with(&SIGNATURE)
    }
}

/// An `ERR_PROXY_PROTOCOL` error saying what was wrong.
pub(crate) fn proxy_error(what: impl Display) -> Error {
    Error::new(
        ErrorCode::ERR_PROXY_PROTOCOL,
        format!("PROXY protocol: {what}"),
    )
}

/// Bytes as they may be quoted in a message: ASCII, escaped.
pub(crate) fn quote(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// How far `bytes` matches a signature.
enum Sig {
    /// Shorter than the signature, and equal to its start.
    Short,
    /// Starts with the whole signature.
    Whole,
    /// Differs.
    Differs,
}

fn signature(bytes: &[u8], sig: &[u8]) -> Sig {
    let n = bytes.len().min(sig.len());
    if bytes[..n] != sig[..n] {
        Sig::Differs
    } else if n < sig.len() {
        Sig::Short
    } else {
        Sig::Whole
    }
}

// ----- version 1 ---------------------------------------------------------

/// Section 2.1: one line of at most 107 bytes, CRLF included; a lone CR
/// or LF is an error, not a line end.
fn v1(b: &[u8]) -> Result<Parsed> {
    match signature(b, V1_PREFIX) {
        Sig::Differs => return Ok(Parsed::NotProxy),
        Sig::Short => return Ok(Parsed::Incomplete),
        Sig::Whole => {}
    }
    // The CR of a line that fits is at index 105 at the latest.
    for i in 0..b.len().min(V1_MAX_LEN - 1) {
        match b[i] {
            b'\n' => return Err(proxy_error("v1 header has a LF without a CR before it")),
            b'\r' => {
                return match b.get(i + 1) {
                    None => Ok(Parsed::Incomplete),
                    Some(b'\n') => v1_line(&b[..i]).map(|h| Parsed::Done(h, i + 2)),
                    Some(_) => Err(proxy_error("v1 header has a CR without a LF after it")),
                };
            }
            _ => {}
        }
    }
    if b.len() >= V1_MAX_LEN - 1 {
        Err(proxy_error(format!(
            "v1 header longer than {V1_MAX_LEN} bytes (no CRLF in \"{}\")",
            quote(&b[..V1_MAX_LEN - 1])
        )))
    } else {
        Ok(Parsed::Incomplete)
    }
}

/// The line without its CRLF: `PROXY TCP4|TCP6 src dst sport dport`, or
/// `PROXY UNKNOWN` with anything after a space.
fn v1_line(line: &[u8]) -> Result<ProxyHeader> {
    let rest = &line[V1_PREFIX.len()..];
    if rest == b"UNKNOWN" || rest.starts_with(b"UNKNOWN ") {
        // "the receiver must ignore anything presented before the CRLF".
        return Ok(ProxyHeader {
            version: ProxyVersion::V1,
            ..ProxyHeader::unknown()
        });
    }
    let fields: Vec<&[u8]> = rest.split(|&c| c == b' ').collect();
    let v6 = match fields[0] {
        b"TCP4" => false,
        b"TCP6" => true,
        other => {
            return Err(proxy_error(format!(
                "invalid v1 protocol \"{}\"",
                quote(other)
            )))
        }
    };
    let proto = if v6 { "TCP6" } else { "TCP4" };
    if fields.len() != 5 || fields.iter().any(|f| f.is_empty()) {
        return Err(proxy_error(format!(
            "invalid v1 header \"{}\" (expected \"PROXY {proto} <source> <destination> \
             <source port> <destination port>\", single spaces)",
            quote(line)
        )));
    }
    let source = v1_address(fields[1], v6, "source", proto)?;
    let destination = v1_address(fields[2], v6, "destination", proto)?;
    let source_port = v1_port(fields[3], "source")?;
    let destination_port = v1_port(fields[4], "destination")?;
    Ok(ProxyHeader {
        version: ProxyVersion::V1,
        command: Command::Proxy,
        transport: Transport::Stream,
        addresses: ProxyAddresses::Inet {
            source: SocketAddr::new(source, source_port),
            destination: SocketAddr::new(destination, destination_port),
        },
        tlvs: Vec::new(),
    })
}

/// An address of the line's family. std's parsers take exactly the
/// canonical forms the specification allows: four decimal numbers without
/// leading zeros for IPv4, and for IPv6 hex groups with at most one `::`.
fn v1_address(field: &[u8], v6: bool, which: &str, proto: &str) -> Result<std::net::IpAddr> {
    let text = std::str::from_utf8(field).ok();
    let ip = if v6 {
        text.and_then(|t| t.parse::<Ipv6Addr>().ok())
            .map(Into::into)
    } else {
        text.and_then(|t| t.parse::<Ipv4Addr>().ok())
            .map(Into::into)
    };
    ip.ok_or_else(|| {
        proxy_error(format!(
            "invalid v1 {which} address \"{}\" for {proto}",
            quote(field)
        ))
    })
}

/// A port: 1 to 5 decimal digits, no leading zero (the specification
/// forbids them "to avoid any possible confusion with octal numbers"), at
/// most 65535. (`u16::from_str` would also take `+80` and `0080`.)
fn v1_port(field: &[u8], which: &str) -> Result<u16> {
    let bad = || proxy_error(format!("invalid v1 {which} port \"{}\"", quote(field)));
    let digits = field.len() <= 5 && field.iter().all(u8::is_ascii_digit);
    if !digits || (field.len() > 1 && field[0] == b'0') {
        return Err(bad());
    }
    let value = field.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    u16::try_from(value).map_err(|_| bad())
}

// ----- version 2 ---------------------------------------------------------

/// Section 2.2: the signature, version and command, family and transport,
/// the length, then addresses and TLVs.
fn v2(b: &[u8], limit: usize) -> Result<Parsed> {
    match signature(b, &SIGNATURE) {
        Sig::Differs => return Ok(Parsed::NotProxy),
        Sig::Short => return Ok(Parsed::Incomplete),
        Sig::Whole => {}
    }
    let Some(&ver_cmd) = b.get(12) else {
        return Ok(Parsed::Incomplete);
    };
    if ver_cmd >> 4 != 2 {
        return Err(proxy_error(format!(
            "invalid v2 version {} (byte 13 is 0x{ver_cmd:02x})",
            ver_cmd >> 4
        )));
    }
    let command = match ver_cmd & 0x0f {
        0 => Command::Local,
        1 => Command::Proxy,
        other => {
            return Err(proxy_error(format!(
                "invalid v2 command {other} (byte 13 is 0x{ver_cmd:02x})"
            )))
        }
    };
    let Some(&fam) = b.get(13) else {
        return Ok(Parsed::Incomplete);
    };
    let family = fam >> 4;
    if family > 3 {
        return Err(proxy_error(format!(
            "invalid v2 address family {family} (byte 14 is 0x{fam:02x})"
        )));
    }
    let transport = match fam & 0x0f {
        0 => Transport::Unspec,
        1 => Transport::Stream,
        2 => Transport::Datagram,
        other => {
            return Err(proxy_error(format!(
                "invalid v2 transport protocol {other} (byte 14 is 0x{fam:02x})"
            )))
        }
    };
    if b.len() < 16 {
        return Ok(Parsed::Incomplete);
    }
    let total = 16 + usize::from(u16::from_be_bytes([b[14], b[15]]));
    if total > limit {
        return Err(proxy_error(format!(
            "v2 header of {total} bytes is over the limit of {limit} bytes"
        )));
    }
    if b.len() < total {
        return Ok(Parsed::Incomplete);
    }
    let block = &b[16..total];
    // How many bytes of the block are addresses. A known family with the
    // UNSPEC transport falls back to UNSPEC mode, as the specification
    // asks of receivers, and its block is skipped whole.
    let addr_len = match (family, transport) {
        (0, _) => Some(0),
        (_, Transport::Unspec) => None,
        (1, _) => Some(12),
        (2, _) => Some(36),
        _ => Some(216),
    };
    let Some(addr_len) = addr_len else {
        return Ok(Parsed::Done(
            ProxyHeader {
                command,
                ..ProxyHeader::unknown()
            },
            total,
        ));
    };
    // LOCAL and AF_UNSPEC: "the receiver ... must use the real connection
    // endpoints and discard the protocol block" / "should ignore address
    // information". Their TLVs are kept when well formed, and the block is
    // ignored otherwise.
    let lenient = command == Command::Local || family == 0;
    let mut header = ProxyHeader {
        version: ProxyVersion::V2,
        command,
        transport,
        addresses: ProxyAddresses::Unspec,
        tlvs: Vec::new(),
    };
    if block.len() < addr_len {
        if lenient {
            return Ok(Parsed::Done(header, total));
        }
        return Err(proxy_error(format!(
            "v2 address block of {} bytes is too short for {} ({addr_len} bytes)",
            block.len(),
            family_name(family, transport)
        )));
    }
    if command == Command::Proxy {
        header.addresses = addresses(family, &block[..addr_len]);
    }
    let tlv_start = 16 + addr_len;
    match tlvs(&b[tlv_start..total]) {
        Ok(list) => header.tlvs = list,
        Err(_) if lenient => return Ok(Parsed::Done(header, total)),
        Err(e) => return Err(e),
    }
    check_crc32c(&b[..total], tlv_start)?;
    Ok(Parsed::Done(header, total))
}

fn family_name(family: u8, transport: Transport) -> &'static str {
    match (family, transport) {
        (1, Transport::Datagram) => "UDP over IPv4",
        (1, _) => "TCP over IPv4",
        (2, Transport::Datagram) => "UDP over IPv6",
        (2, _) => "TCP over IPv6",
        (_, Transport::Datagram) => "Unix datagram",
        _ => "Unix stream",
    }
}

/// Decode a whole address block of `family` (its length was checked);
/// `AF_UNSPEC` has none.
fn addresses(family: u8, a: &[u8]) -> ProxyAddresses {
    let port = |i: usize| u16::from_be_bytes([a[i], a[i + 1]]);
    match family {
        1 => {
            let ip = |i: usize| Ipv4Addr::new(a[i], a[i + 1], a[i + 2], a[i + 3]);
            ProxyAddresses::Inet {
                source: SocketAddr::new(ip(0).into(), port(8)),
                destination: SocketAddr::new(ip(4).into(), port(10)),
            }
        }
        2 => {
            let ip = |i: usize| {
                let mut o = [0u8; 16];
                o.copy_from_slice(&a[i..i + 16]);
                Ipv6Addr::from(o)
            };
            ProxyAddresses::Inet {
                source: SocketAddr::new(ip(0).into(), port(32)),
                destination: SocketAddr::new(ip(16).into(), port(34)),
            }
        }
        3 => ProxyAddresses::Unix {
            source: a[..108].to_vec(),
            destination: a[108..216].to_vec(),
        },
        _ => ProxyAddresses::Unspec,
    }
}

/// A list of TLVs filling `bytes` exactly (type, 16-bit length, value).
pub(super) fn tlvs(mut bytes: &[u8]) -> Result<Vec<Tlv>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < 3 {
            return Err(proxy_error(format!(
                "v2 TLVs end with {} stray byte(s)",
                bytes.len()
            )));
        }
        let kind = bytes[0];
        let len = usize::from(u16::from_be_bytes([bytes[1], bytes[2]]));
        if len > bytes.len() - 3 {
            return Err(proxy_error(format!(
                "v2 TLV 0x{kind:02x} of {len} bytes runs past the end of the header \
                 ({} bytes left)",
                bytes.len() - 3
            )));
        }
        out.push(Tlv::new(kind, &bytes[3..3 + len]));
        bytes = &bytes[3 + len..];
    }
    Ok(out)
}

/// Section 2.2.3: when a `PP2_TYPE_CRC32C` TLV is present, the CRC32c of
/// the whole header with that TLV's value zeroed must equal the value
/// (network byte order, as HAProxy writes it). `tlv_start` is where the
/// well-formed TLV list starts in `header`.
fn check_crc32c(header: &[u8], tlv_start: usize) -> Result<()> {
    let Some(at) = crc_offset(header, tlv_start)? else {
        return Ok(());
    };
    let sent = u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]);
    let computed = crc32c(&[&header[..at], &[0; 4], &header[at + 4..]]);
    if sent != computed {
        return Err(proxy_error(format!(
            "v2 CRC32C mismatch (the header says 0x{sent:08x}, its bytes give 0x{computed:08x})"
        )));
    }
    Ok(())
}

/// Where the value of the first CRC32C TLV starts in `header`, if there is
/// one.
///
/// # Errors
///
/// The TLV's value is not 4 bytes long.
pub(super) fn crc_offset(header: &[u8], mut at: usize) -> Result<Option<usize>> {
    while at + 3 <= header.len() {
        let len = usize::from(u16::from_be_bytes([header[at + 1], header[at + 2]]));
        if header[at] == Tlv::CRC32C {
            if len != 4 {
                return Err(proxy_error(format!(
                    "v2 CRC32C TLV of {len} bytes (4 expected)"
                )));
            }
            return Ok(Some(at + 3));
        }
        at += 3 + len;
    }
    Ok(None)
}

/// CRC32c (Castagnoli, reflected polynomial 0x82F63B78), RFC 4960
/// appendix B, over the concatenation of `parts`.
pub(super) fn crc32c(parts: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for part in parts {
        for &b in *part {
            crc = CRC32C_TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
        }
    }
    !crc
}

static CRC32C_TABLE: [u32; 256] = crc32c_table();

const fn crc32c_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}
