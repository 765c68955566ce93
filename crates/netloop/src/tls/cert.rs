//! Certificates: PEM input (`key`, `cert`, `ca`), and the peer's
//! certificate as Node's `getPeerCertificate()` describes it.
//!
//! rustls hands over certificates as DER and never parses more of them
//! than verification needs, so the few fields Node shows (subject, issuer,
//! validity, alternative names, serial number) are read here with a small
//! DER walker (X.690 definite-length encoding, RFC 5280 section 4.1)
//! rather than a full X.509 crate.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::provider;
use crate::error::{Error, ErrorCode, Result};

/// Every certificate in a PEM text, in order (a chain: the leaf first).
///
/// # Errors
///
/// `ERR_INVALID_ARG_VALUE` when the text holds no certificate or a broken
/// one.
pub(crate) fn certs_from_pem(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs: std::result::Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
    match certs {
        Ok(c) if !c.is_empty() => Ok(c),
        Ok(_) => Err(bad_pem(what, "no certificate found")),
        Err(e) => Err(bad_pem(what, &e.to_string())),
    }
}

/// The first private key in a PEM text (PKCS#8, PKCS#1 or SEC1).
///
/// # Errors
///
/// `ERR_INVALID_ARG_VALUE` when there is none.
pub(crate) fn key_from_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| bad_pem("key", &e.to_string()))
}

fn bad_pem(what: &str, why: &str) -> Error {
    Error::new(
        ErrorCode::ERR_INVALID_ARG_VALUE,
        format!("The property 'options.{what}' is invalid: {why}"),
    )
}

/// The peer's certificate (Node: `tlsSocket.getPeerCertificate()`).
///
/// Names are lists of `(attribute, value)` pairs in certificate order,
/// with OpenSSL's short attribute names (`CN`, `O`, `OU`, `C`, `ST`, `L`),
/// as Node's `subject` and `issuer` objects hold them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerCertificate {
    /// The subject's name (Node: `subject`).
    pub subject: Vec<(String, String)>,
    /// The issuer's name (Node: `issuer`).
    pub issuer: Vec<(String, String)>,
    /// Start of validity, as Node prints it: `Jan  1 00:00:00 2025 GMT`
    /// (Node: `valid_from`).
    pub valid_from: String,
    /// End of validity, same format (Node: `valid_to`).
    pub valid_to: String,
    /// The alternative names, as Node joins them:
    /// `DNS:localhost, IP Address:127.0.0.1` (Node: `subjectaltname`).
    pub subjectaltname: Option<String>,
    /// The serial number in upper-case hex (Node: `serialNumber`).
    pub serial_number: String,
    /// SHA-1 of the DER, `AB:CD:..` (Node: `fingerprint`).
    pub fingerprint: String,
    /// SHA-256 of the DER, `AB:CD:..` (Node: `fingerprint256`).
    pub fingerprint256: String,
    /// The certificate itself, DER-encoded (Node: `raw`).
    pub raw: Vec<u8>,
}

impl PeerCertificate {
    /// Parse a DER certificate; `None` if it is not one this walker can
    /// read (rustls accepted it, so that means an unusual encoding).
    pub(crate) fn from_der(der: &[u8]) -> Option<PeerCertificate> {
        let tbs = Tbs::parse(der)?;
        Some(PeerCertificate {
            subject: name(tbs.subject)?,
            issuer: name(tbs.issuer)?,
            valid_from: time(tbs.not_before)?,
            valid_to: time(tbs.not_after)?,
            subjectaltname: tbs.san.map(alt_names),
            serial_number: hex_upper(strip_leading_zero(tbs.serial), ""),
            fingerprint: hex_upper(&provider::sha1(der), ":"),
            fingerprint256: hex_upper(&provider::sha256(der), ":"),
            raw: der.to_vec(),
        })
    }

    /// The subject's common name, if any.
    pub fn common_name(&self) -> Option<&str> {
        self.subject
            .iter()
            .find(|(k, _)| k == "CN")
            .map(|(_, v)| v.as_str())
    }
}

/// True when a DER certificate names itself as its issuer.
pub(crate) fn is_self_issued(der: &[u8]) -> bool {
    Tbs::parse(der).is_some_and(|t| t.subject == t.issuer)
}

/// The `subjectaltname` string of a DER certificate, if it has one.
pub(crate) fn alt_names_of(der: &[u8]) -> Option<String> {
    Tbs::parse(der).and_then(|t| t.san.map(alt_names))
}

/// The fields of a `TBSCertificate` that Node shows, as raw DER contents.
struct Tbs<'a> {
    serial: &'a [u8],
    issuer: &'a [u8],
    not_before: (u8, &'a [u8]),
    not_after: (u8, &'a [u8]),
    subject: &'a [u8],
    /// The `subjectAltName` extension's `GeneralNames` contents.
    san: Option<&'a [u8]>,
}

impl<'a> Tbs<'a> {
    fn parse(der: &'a [u8]) -> Option<Tbs<'a>> {
        let (tag, cert, _) = tlv(der)?;
        if tag != 0x30 {
            return None;
        }
        let (tag, tbs, _) = tlv(cert)?;
        if tag != 0x30 {
            return None;
        }
        let mut rest = tbs;
        let (mut tag, mut val, mut next) = tlv(rest)?;
        if tag == 0xa0 {
            // [0] EXPLICIT version
            rest = next;
            (tag, val, next) = tlv(rest)?;
        }
        if tag != 0x02 {
            return None;
        }
        let serial = val;
        let (_, _, next) = tlv(next)?; // signature AlgorithmIdentifier
        let (_, issuer, next) = tlv(next)?;
        let (_, validity, next) = tlv(next)?;
        let (t1, nb, after) = tlv(validity)?;
        let (t2, na, _) = tlv(after)?;
        let (_, subject, mut next) = tlv(next)?;
        let (_, _, after_spki) = tlv(next)?; // subjectPublicKeyInfo
        next = after_spki;
        let mut san = None;
        while !next.is_empty() {
            let (tag, val, rest) = tlv(next)?;
            next = rest;
            if tag == 0xa3 {
                san = find_san(val);
            }
        }
        Some(Tbs {
            serial,
            issuer,
            not_before: (t1, nb),
            not_after: (t2, na),
            subject,
            san,
        })
    }
}

/// The `GeneralNames` of the subjectAltName extension (2.5.29.17) in an
/// `[3] EXPLICIT Extensions` value.
fn find_san(ext_wrapper: &[u8]) -> Option<&[u8]> {
    const SAN_OID: &[u8] = &[0x55, 0x1d, 0x11];
    let (_, mut exts, _) = tlv(ext_wrapper)?;
    while !exts.is_empty() {
        let (_, ext, rest) = tlv(exts)?;
        exts = rest;
        let (_, oid, mut inner) = tlv(ext)?;
        if oid != SAN_OID {
            continue;
        }
        let (mut tag, mut val, after) = tlv(inner)?;
        if tag == 0x01 {
            // critical BOOLEAN
            inner = after;
            (tag, val, _) = tlv(inner)?;
        }
        if tag != 0x04 {
            return None;
        }
        let (_, names, _) = tlv(val)?;
        return Some(names);
    }
    None
}

/// One DER element: its tag, its contents, and what follows it.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// A `Name` as `(short name, value)` pairs.
fn name(mut rdns: &[u8]) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    while !rdns.is_empty() {
        let (_, set, rest) = tlv(rdns)?;
        rdns = rest;
        let mut atvs = set;
        while !atvs.is_empty() {
            let (_, atv, rest) = tlv(atvs)?;
            atvs = rest;
            let (_, oid, after) = tlv(atv)?;
            let (_, value, _) = tlv(after)?;
            out.push((attr_name(oid), String::from_utf8_lossy(value).into_owned()));
        }
    }
    Some(out)
}

/// OpenSSL's short name of an attribute type (X.520, 2.5.4.x).
fn attr_name(oid: &[u8]) -> String {
    let short = match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x55, 0x04, 0x05] => "serialNumber",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress",
        other => return hex_upper(other, ""),
    };
    short.to_owned()
}

/// Node's `subjectaltname` string.
fn alt_names(mut names: &[u8]) -> String {
    let mut out: Vec<String> = Vec::new();
    while let Some((tag, val, rest)) = tlv(names) {
        names = rest;
        match tag {
            0x82 => out.push(format!("DNS:{}", String::from_utf8_lossy(val))),
            0x81 => out.push(format!("email:{}", String::from_utf8_lossy(val))),
            0x86 => out.push(format!("URI:{}", String::from_utf8_lossy(val))),
            0x87 => match val.len() {
                4 => out.push(format!(
                    "IP Address:{}",
                    std::net::Ipv4Addr::new(val[0], val[1], val[2], val[3])
                )),
                16 => {
                    let mut b = [0u8; 16];
                    b.copy_from_slice(val);
                    // OpenSSL prints IPv6 SANs in full upper-case groups.
                    let groups: Vec<String> = b
                        .chunks(2)
                        .map(|g| format!("{:X}", u16::from_be_bytes([g[0], g[1]])))
                        .collect();
                    out.push(format!("IP Address:{}", groups.join(":")));
                }
                _ => {}
            },
            _ => {}
        }
        if names.is_empty() {
            break;
        }
    }
    out.join(", ")
}

/// A `UTCTime` (tag 0x17) or `GeneralizedTime` (0x18) as Node prints it:
/// `Jan  1 00:00:00 2025 GMT`.
fn time((tag, v): (u8, &[u8])) -> Option<String> {
    let s = std::str::from_utf8(v).ok()?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: u32 = s.get(0..2)?.parse().ok()?;
            // RFC 5280 4.1.2.5.1: 50..99 are 19xx.
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, s.get(2..)?)
        }
        0x18 => (s.get(0..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    let month: usize = rest.get(0..2)?.parse().ok()?;
    let day: u32 = rest.get(2..4)?.parse().ok()?;
    let (h, m, sec) = (rest.get(4..6)?, rest.get(6..8)?, rest.get(8..10)?);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mon = MONTHS.get(month.checked_sub(1)?)?;
    Some(format!("{mon} {day:>2} {h}:{m}:{sec} {year} GMT"))
}

fn strip_leading_zero(b: &[u8]) -> &[u8] {
    match b {
        [0, rest @ ..] if !rest.is_empty() => rest,
        other => other,
    }
}

/// Upper-case hex, bytes joined by `sep`.
pub(crate) fn hex_upper(bytes: &[u8], sep: &str) -> String {
    let parts: Vec<String> = bytes.iter().map(|b| format!("{b:02X}")).collect();
    parts.join(sep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_rejects_truncated_input() {
        assert!(tlv(&[0x30]).is_none());
        assert!(tlv(&[0x30, 0x05, 0x00]).is_none());
        assert!(tlv(&[0x30, 0x85, 0, 0, 0, 0, 1]).is_none());
        assert_eq!(
            tlv(&[0x04, 0x01, 0xaa, 0xbb]),
            Some((0x04, &[0xaa][..], &[0xbb][..]))
        );
    }

    #[test]
    fn times_print_as_node_does() {
        assert_eq!(
            time((0x17, b"250101000000Z")).as_deref(),
            Some("Jan  1 00:00:00 2025 GMT")
        );
        assert_eq!(
            time((0x18, b"20991231235959Z")).as_deref(),
            Some("Dec 31 23:59:59 2099 GMT")
        );
        assert_eq!(time((0x17, b"991301000000Z")), None);
    }
}
