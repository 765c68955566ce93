//! Writing a header: the bytes a client sends first on its connection.

use std::net::{IpAddr, SocketAddr};

use super::header::{Command, ProxyAddresses, ProxyHeader, ProxyVersion, Transport};
use super::parse::{crc32c, crc_offset, proxy_error};
use super::{SIGNATURE, UNIX_PATH_LEN};
use crate::error::Result;

impl ProxyHeader {
    /// The header's bytes in its own [`version`](ProxyHeader::version).
    ///
    /// # Errors
    ///
    /// As [`encode_v2`](ProxyHeader::encode_v2) for a version 2 header;
    /// version 1 always encodes.
    pub fn encode(&self) -> Result<Vec<u8>> {
        match self.version {
            ProxyVersion::V1 => Ok(self.encode_v1()),
            ProxyVersion::V2 => self.encode_v2(),
        }
    }

    /// The version 1 line: `PROXY TCP4|TCP6 <source> <destination>
    /// <source port> <destination port>\r\n` for a `PROXY` header over TCP,
    /// and `PROXY UNKNOWN\r\n` for anything version 1 cannot say (`LOCAL`,
    /// no addresses, UDP, Unix sockets). TLVs are left out: version 1 has
    /// none.
    ///
    /// ```
    /// use netloop::proxy::ProxyHeader;
    ///
    /// let (client, server) = ("[::1]:4000".parse().expect("an address"), "[::1]:443".parse().expect("an address"));
    /// let h = ProxyHeader::proxy(client, server);
    /// assert_eq!(h.encode_v1(), b"PROXY TCP6 ::1 ::1 4000 443\r\n");
    /// assert_eq!(ProxyHeader::local().encode_v1(), b"PROXY UNKNOWN\r\n");
    /// ```
    pub fn encode_v1(&self) -> Vec<u8> {
        match (&self.command, &self.transport, &self.addresses) {
            (
                Command::Proxy,
                Transport::Stream,
                ProxyAddresses::Inet {
                    source,
                    destination,
                },
            ) => {
                let (source, destination) = same_family(*source, *destination);
                let proto = if source.is_ipv4() { "TCP4" } else { "TCP6" };
                format!(
                    "PROXY {proto} {} {} {} {}\r\n",
                    source.ip(),
                    destination.ip(),
                    source.port(),
                    destination.port()
                )
                .into_bytes()
            }
            _ => b"PROXY UNKNOWN\r\n".to_vec(),
        }
    }

    /// The version 2 binary header: signature, version and command, family
    /// and transport, length, addresses, then every TLV in order. A
    /// [`CRC32C`](super::Tlv::CRC32C) TLV gets the checksum of the bytes
    /// written (its value is replaced).
    ///
    /// # Errors
    ///
    /// `ERR_PROXY_PROTOCOL` when the addresses and TLVs take more than the
    /// 65535 bytes the length field can say, a CRC32C TLV does not hold 4
    /// bytes, or a Unix address is longer than 108 bytes.
    pub fn encode_v2(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&SIGNATURE);
        out.push(
            0x20 | match self.command {
                Command::Local => 0,
                Command::Proxy => 1,
            },
        );
        let transport = match self.transport {
            Transport::Unspec => 0,
            Transport::Stream => 1,
            Transport::Datagram => 2,
        };
        // The family byte and length are filled in below.
        out.extend_from_slice(&[0, 0, 0]);
        let family = match (&self.addresses, self.transport) {
            (ProxyAddresses::Unspec, _) | (_, Transport::Unspec) => 0,
            (
                ProxyAddresses::Inet {
                    source,
                    destination,
                },
                _,
            ) => {
                let (source, destination) = same_family(*source, *destination);
                match (source.ip(), destination.ip()) {
                    (IpAddr::V4(s), IpAddr::V4(d)) => {
                        out.extend_from_slice(&s.octets());
                        out.extend_from_slice(&d.octets());
                    }
                    (s, d) => {
                        out.extend_from_slice(&v6_octets(s));
                        out.extend_from_slice(&v6_octets(d));
                    }
                }
                out.extend_from_slice(&source.port().to_be_bytes());
                out.extend_from_slice(&destination.port().to_be_bytes());
                if source.is_ipv4() {
                    1
                } else {
                    2
                }
            }
            (
                ProxyAddresses::Unix {
                    source,
                    destination,
                },
                _,
            ) => {
                for path in [source, destination] {
                    if path.len() > UNIX_PATH_LEN {
                        return Err(proxy_error(format!(
                            "Unix address of {} bytes is longer than {UNIX_PATH_LEN}",
                            path.len()
                        )));
                    }
                    out.extend_from_slice(path);
                    out.resize(out.len() + UNIX_PATH_LEN - path.len(), 0);
                }
                3
            }
        };
        out[13] = (family << 4) | transport;
        let tlv_start = out.len();
        for tlv in &self.tlvs {
            let len =
                u16::try_from(tlv.value.len()).map_err(|_| too_long(&self.tlvs, tlv_start))?;
            out.push(tlv.kind);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&tlv.value);
        }
        let len = u16::try_from(out.len() - 16).map_err(|_| too_long(&self.tlvs, tlv_start))?;
        out[14..16].copy_from_slice(&len.to_be_bytes());
        if let Some(at) = crc_offset(&out, tlv_start)? {
            out[at..at + 4].fill(0);
            let crc = crc32c(&[&out]);
            out[at..at + 4].copy_from_slice(&crc.to_be_bytes());
        }
        Ok(out)
    }
}

/// Addresses of one family: an IPv4 one beside an IPv6 one is mapped.
fn same_family(source: SocketAddr, destination: SocketAddr) -> (SocketAddr, SocketAddr) {
    if source.is_ipv4() == destination.is_ipv4() {
        return (source, destination);
    }
    let v6 = |a: SocketAddr| SocketAddr::new(IpAddr::V6(to_v6(a.ip())), a.port());
    (v6(source), v6(destination))
}

fn to_v6(ip: IpAddr) -> std::net::Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

fn v6_octets(ip: IpAddr) -> [u8; 16] {
    to_v6(ip).octets()
}

fn too_long(tlvs: &[super::Tlv], addresses_end: usize) -> crate::Error {
    let total: usize = (addresses_end - 16) + tlvs.iter().map(|t| 3 + t.value.len()).sum::<usize>();
    proxy_error(format!(
        "v2 header too long: {total} bytes of addresses and TLVs (at most 65535)"
    ))
}
