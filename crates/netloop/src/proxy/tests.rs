//! Unit tests of the parser and encoder: the specification's examples
//! (HAProxy's `doc/proxy-protocol.txt`), every rejection with its exact
//! message, byte-by-byte feeding, and a round trip property.

use std::net::{IpAddr, SocketAddr};

use super::parse::crc32c;
use super::*;
use crate::error::ErrorCode;

fn addr(s: &str) -> SocketAddr {
    s.parse()
        .expect("test addresses are socket address literals")
}

/// `parse`, which must find a whole header.
fn done(bytes: &[u8]) -> (ProxyHeader, usize) {
    match parse(bytes) {
        Ok(Parsed::Done(h, n)) => (h, n),
        other => panic!("{:?}: {other:?}", bytes.escape_ascii().to_string()),
    }
}

/// `parse`'s error message, which must be an `ERR_PROXY_PROTOCOL`.
fn error(bytes: &[u8]) -> String {
    match parse(bytes) {
        Err(e) => {
            assert_eq!(e.code(), ErrorCode::ERR_PROXY_PROTOCOL);
            e.to_string()
        }
        other => panic!("{:?}: {other:?}", bytes.escape_ascii().to_string()),
    }
}

/// Feed `bytes` one at a time; the verdict and where the header ended.
fn byte_by_byte(bytes: &[u8]) -> crate::Result<(Parsed, usize)> {
    let mut p = ProxyParser::new();
    for (i, b) in bytes.iter().enumerate() {
        match p.feed(std::slice::from_ref(b))? {
            Parsed::Incomplete => {}
            Parsed::Done(h, n) => return Ok((Parsed::Done(h, i + n), i)),
            other => return Ok((other, i)),
        }
    }
    Ok((Parsed::Incomplete, bytes.len()))
}

/// The version 2 bytes of `ver_cmd`, `fam` and an address block.
fn v2(ver_cmd: u8, fam: u8, block: &[u8]) -> Vec<u8> {
    let mut b = SIGNATURE.to_vec();
    b.push(ver_cmd);
    b.push(fam);
    b.extend_from_slice(&(block.len() as u16).to_be_bytes());
    b.extend_from_slice(block);
    b
}

#[test]
fn v1_examples_of_the_specification() {
    // Section 2.1's example, before an HTTP request.
    let wire = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n";
    let (h, n) = done(wire);
    assert_eq!(&wire[n..], b"GET / HTTP/1.1\r\n");
    assert_eq!(h.version(), ProxyVersion::V1);
    assert_eq!(h.command(), Command::Proxy);
    assert_eq!(h.transport(), Transport::Stream);
    assert_eq!(h.source(), Some(addr("192.168.0.1:56324")));
    assert_eq!(h.destination(), Some(addr("192.168.0.11:443")));
    assert!(h.tlvs().is_empty());

    // The longest lines the receiver must support.
    let v4 = b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
    assert_eq!(v4.len(), 56);
    assert_eq!(done(v4).1, 56);
    let f = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    let v6 = format!("PROXY TCP6 {f} {f} 65535 65535\r\n");
    assert_eq!(v6.len(), 104);
    let (h, n) = done(v6.as_bytes());
    assert_eq!((h.source().map(|a| a.port()), n), (Some(65535), 104));
    let unknown = b"PROXY UNKNOWN\r\n";
    let (h, n) = done(unknown);
    assert_eq!(
        (h.command(), h.addresses(), n),
        (Command::Proxy, &ProxyAddresses::Unspec, 15)
    );
    assert_eq!(h.source(), None);
    let worst = format!("PROXY UNKNOWN {f} {f} 65535 65535\r\n");
    assert_eq!(worst.len(), V1_MAX_LEN);
    assert_eq!(done(worst.as_bytes()).1, 107);
    // UNKNOWN: "the receiver must ignore anything presented before the CRLF".
    assert_eq!(done(b"PROXY UNKNOWN \xff\x00junk\r\n").1, 22);
}

#[test]
fn v1_rejections_say_what_was_wrong() {
    let f = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    let cases: &[(&[u8], &str)] = &[
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\n",
            "invalid v1 source port \"99999\"",
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 80 065535\r\n",
            "invalid v1 destination port \"065535\"",
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 +80 80\r\n",
            "invalid v1 source port \"+80\"",
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 00 80\r\n",
            "invalid v1 source port \"00\"",
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 8a 80\r\n",
            "invalid v1 source port \"8a\"",
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 4294967376 80\r\n",
            "invalid v1 source port \"4294967376\"",
        ),
        (
            b"PROXY TCP4 01.2.3.4 5.6.7.8 80 80\r\n",
            "invalid v1 source address \"01.2.3.4\" for TCP4",
        ),
        (
            b"PROXY TCP4 ::1 5.6.7.8 80 80\r\n",
            "invalid v1 source address \"::1\" for TCP4",
        ),
        (
            b"PROXY TCP4 1.2.3.4 256.0.0.1 80 80\r\n",
            "invalid v1 destination address \"256.0.0.1\" for TCP4",
        ),
        (
            b"PROXY TCP6 ::1 1.2.3.4 80 80\r\n",
            "invalid v1 destination address \"1.2.3.4\" for TCP6",
        ),
        (
            b"PROXY TCP6 fe80::1%eth0 ::1 80 80\r\n",
            "invalid v1 source address \"fe80::1%eth0\" for TCP6",
        ),
        (
            b"PROXY TCP4 1.2.3.\xff 5.6.7.8 80 80\r\n",
            "invalid v1 source address \"1.2.3.\\xff\" for TCP4",
        ),
        (
            b"PROXY TCP5 1.2.3.4 5.6.7.8 80 80\r\n",
            "invalid v1 protocol \"TCP5\"",
        ),
        (
            b"PROXY UDP4 1.2.3.4 5.6.7.8 80 80\r\n",
            "invalid v1 protocol \"UDP4\"",
        ),
        (b"PROXY UNKNOWNX\r\n", "invalid v1 protocol \"UNKNOWNX\""),
        (b"PROXY \r\n", "invalid v1 protocol \"\""),
        (
            b"PROXY tcp4 1.2.3.4 5.6.7.8 80 80\r\n",
            "invalid v1 protocol \"tcp4\"",
        ),
        (
            b"PROXY TCP4  1.2.3.4 5.6.7.8 80 80\r\n",
            "invalid v1 header \"PROXY TCP4  1.2.3.4 5.6.7.8 80 80\" (expected \"PROXY TCP4 \
             <source> <destination> <source port> <destination port>\", single spaces)",
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n",
            "invalid v1 header \"PROXY TCP4 1.2.3.4 5.6.7.8 80\" (expected \"PROXY TCP4 \
             <source> <destination> <source port> <destination port>\", single spaces)",
        ),
        (
            b"PROXY TCP6 ::1 ::1 80 80 \r\n",
            "invalid v1 header \"PROXY TCP6 ::1 ::1 80 80 \" (expected \"PROXY TCP6 \
             <source> <destination> <source port> <destination port>\", single spaces)",
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 80 80\n",
            "v1 header has a LF without a CR before it",
        ),
        (
            b"PROXY TCP4 1.2.3.4\rX",
            "v1 header has a CR without a LF after it",
        ),
    ];
    for (input, message) in cases {
        assert_eq!(
            error(input),
            format!("PROXY protocol: {message}"),
            "{:?}",
            input.escape_ascii().to_string()
        );
    }
    // One byte too long: no CRLF within 107 bytes.
    let long = format!("PROXY UNKNOWN {f} {f} 65535 655351\r\n");
    assert_eq!(long.len(), 108);
    assert!(error(long.as_bytes()).starts_with("PROXY protocol: v1 header longer than 107 bytes"));
    // Decided as soon as 106 bytes show no CR.
    assert!(parse(&long.as_bytes()[..106]).is_err());
    assert_eq!(
        parse(&long.as_bytes()[..105]).expect("not yet"),
        Parsed::Incomplete
    );
}

#[test]
fn detection_decides_at_the_first_byte_that_differs() {
    for incomplete in [
        &b""[..],
        b"P",
        b"PROXY",
        b"PROXY TCP4 1.2.3.4",
        b"\r",
        b"\r\n\r\n\0\r\nQUI",
        b"\r\n\r\n\0\r\nQUIT\n",
    ] {
        assert_eq!(
            parse(incomplete).expect("a prefix"),
            Parsed::Incomplete,
            "{incomplete:?}"
        );
    }
    for not in [
        &b"G"[..],
        b"GET / HTTP/1.1\r\n",
        b"PROXX",
        b"PROXY\r\n",
        b"\r\n\r\n\x01",
        b"\x16\x03\x01",
        b"\n",
    ] {
        assert_eq!(parse(not).expect("a verdict"), Parsed::NotProxy, "{not:?}");
    }
}

#[test]
fn v2_example_from_a_haproxy_capture() {
    // HAProxy's `send-proxy-v2` in front of an HTTP request (TCP over
    // IPv4, 172.19.0.1:42578 -> 172.19.0.3:80).
    let mut wire = vec![
        0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0x00,
        0x0c, 0xac, 0x13, 0x00, 0x01, 0xac, 0x13, 0x00, 0x03, 0xa6, 0x52, 0x00, 0x50,
    ];
    wire.extend_from_slice(b"GET / HTTP/1.1\r\n");
    let (h, n) = done(&wire);
    assert_eq!(n, 28);
    assert_eq!(h.version(), ProxyVersion::V2);
    assert_eq!(h.source(), Some(addr("172.19.0.1:42578")));
    assert_eq!(h.destination(), Some(addr("172.19.0.3:80")));
    assert_eq!(h.encode().expect("encodes"), &wire[..28]);
}

#[test]
fn v2_families_commands_and_tlvs() {
    // TCP over IPv6 with TLVs, kept in order and readable.
    let mut block = Vec::new();
    block.extend_from_slice(
        &"2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .expect("ip")
            .octets(),
    );
    block.extend_from_slice(
        &"2001:db8::2"
            .parse::<std::net::Ipv6Addr>()
            .expect("ip")
            .octets(),
    );
    block.extend_from_slice(&[0x0f, 0xa0, 0x01, 0xbb]);
    let ssl_value = [
        &[0x01u8, 0, 0, 0, 0][..],
        &[0x21, 0, 7],
        b"TLSv1.3",
        &[0x22, 0, 3],
        b"bob",
    ]
    .concat();
    for (kind, value) in [
        (Tlv::ALPN, &b"h2"[..]),
        (Tlv::NOOP, &b""[..]),
        (Tlv::AUTHORITY, &b"example.com"[..]),
        (Tlv::UNIQUE_ID, &b"id-42"[..]),
        (Tlv::SSL, &ssl_value[..]),
        (Tlv::NETNS, &b"blue"[..]),
        (0xe0, &b"custom"[..]),
    ] {
        block.push(kind);
        block.extend_from_slice(&(value.len() as u16).to_be_bytes());
        block.extend_from_slice(value);
    }
    let wire = v2(0x21, 0x21, &block);
    let (h, n) = done(&wire);
    assert_eq!(n, wire.len());
    assert_eq!(h.source(), Some(addr("[2001:db8::1]:4000")));
    assert_eq!(h.destination(), Some(addr("[2001:db8::2]:443")));
    let kinds: Vec<u8> = h.tlvs().iter().map(|t| t.kind).collect();
    assert_eq!(kinds, [0x01, 0x04, 0x02, 0x05, 0x20, 0x30, 0xe0]);
    assert_eq!(h.alpn(), Some(&b"h2"[..]));
    assert_eq!(h.authority(), Some("example.com"));
    assert_eq!(h.unique_id(), Some(&b"id-42"[..]));
    assert_eq!(h.netns(), Some("blue"));
    assert_eq!(h.tlv(0xe0), Some(&b"custom"[..]));
    let ssl = h.ssl().expect("a well-formed SSL TLV");
    assert_eq!((ssl.client, ssl.verify), (SslInfo::CLIENT_SSL, 0));
    assert_eq!(
        (ssl.version(), ssl.common_name(), ssl.cipher()),
        (Some("TLSv1.3"), Some("bob"), None)
    );
    assert_eq!(h.encode().expect("encodes"), wire);

    // UDP over IPv4.
    let (h, _) = done(&v2(0x21, 0x12, &[1, 2, 3, 4, 5, 6, 7, 8, 0, 53, 0, 54]));
    assert_eq!(
        (h.transport(), h.source()),
        (Transport::Datagram, Some(addr("1.2.3.4:53")))
    );

    // LOCAL (a health check): no addresses, whatever the block holds.
    let (h, n) = done(&v2(0x20, 0x00, &[]));
    assert_eq!(
        (h.command(), h.addresses(), n),
        (Command::Local, &ProxyAddresses::Unspec, 16)
    );
    let (h, _) = done(&v2(0x20, 0x11, &[1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2]));
    assert_eq!((h.command(), h.source()), (Command::Local, None));
    // PROXY over AF_UNSPEC: the real peer stands.
    let (h, _) = done(&v2(0x21, 0x00, &[]));
    assert_eq!((h.command(), h.source()), (Command::Proxy, None));
    // A known family with the UNSPEC transport falls back to UNSPEC.
    let (h, n) = done(&v2(0x21, 0x10, &[9; 12]));
    assert_eq!((h.addresses(), n), (&ProxyAddresses::Unspec, 28));

    // Unix stream sockets: two 108-byte paths.
    let mut unix = vec![0u8; 216];
    unix[..9].copy_from_slice(b"/run/a.so");
    unix[108..117].copy_from_slice(b"/run/b.so");
    let (h, _) = done(&v2(0x21, 0x31, &unix));
    assert_eq!(
        h.unix_addresses(),
        Some((&b"/run/a.so"[..], &b"/run/b.so"[..]))
    );
    assert_eq!(h.source(), None);
    assert_eq!(h.encode().expect("encodes"), v2(0x21, 0x31, &unix));
}

#[test]
fn v2_rejections_say_what_was_wrong() {
    let inet = [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2];
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            v2(0x11, 0x11, &inet),
            "invalid v2 version 1 (byte 13 is 0x11)",
        ),
        (
            v2(0x22, 0x11, &inet),
            "invalid v2 command 2 (byte 13 is 0x22)",
        ),
        (
            v2(0x21, 0x41, &inet),
            "invalid v2 address family 4 (byte 14 is 0x41)",
        ),
        (
            v2(0x21, 0x13, &inet),
            "invalid v2 transport protocol 3 (byte 14 is 0x13)",
        ),
        (
            v2(0x21, 0x11, &inet[..8]),
            "v2 address block of 8 bytes is too short for TCP over IPv4 (12 bytes)",
        ),
        (
            v2(0x21, 0x22, &[0; 12]),
            "v2 address block of 12 bytes is too short for UDP over IPv6 (36 bytes)",
        ),
        (
            v2(0x21, 0x31, &[0; 100]),
            "v2 address block of 100 bytes is too short for Unix stream (216 bytes)",
        ),
        (
            [&v2(0x21, 0x11, &[inet.as_slice(), &[0xe0, 0, 9, 1]].concat())[..]].concat(),
            "v2 TLV 0xe0 of 9 bytes runs past the end of the header (1 bytes left)",
        ),
        (
            v2(0x21, 0x11, &[inet.as_slice(), &[0xe0, 0]].concat()),
            "v2 TLVs end with 2 stray byte(s)",
        ),
        (
            v2(0x21, 0x11, &[inet.as_slice(), &[0x03, 0, 2, 0, 0]].concat()),
            "v2 CRC32C TLV of 2 bytes (4 expected)",
        ),
    ];
    for (input, message) in cases {
        assert_eq!(
            error(&input),
            format!("PROXY protocol: {message}"),
            "{input:02x?}"
        );
    }
    // Decided with the byte that is wrong, before the rest arrives.
    assert!(parse(&v2(0x22, 0x11, &inet)[..13]).is_err());
    // Over the limit: decided with the length field.
    let big = v2(
        0x21,
        0x11,
        &[inet.as_slice(), &[0xe0, 0x0f, 0xf0], &[0; 0x0ff0]].concat(),
    );
    let mut p = ProxyParser::with_max_header(4096);
    assert_eq!(
        p.feed(&big[..16]).expect_err("over the limit").to_string(),
        "PROXY protocol: v2 header of 4111 bytes is over the limit of 4096 bytes"
    );
    assert_eq!(done(&big).1, 4111); // within the protocol's own limit
}

#[test]
fn crc32c_is_checked_and_written() {
    // RFC 3720's check value for CRC32c.
    assert_eq!(crc32c(&[b"123456789"]), 0xe306_9283);
    let h = ProxyHeader::proxy(addr("10.0.0.1:1000"), addr("10.0.0.2:80"))
        .with_tlv(Tlv::CRC32C, [0u8; 4])
        .with_tlv(Tlv::UNIQUE_ID, "abc");
    let wire = h.encode().expect("encodes");
    let (read, _) = done(&wire);
    let crc = read.crc32c().expect("a checksum");
    let mut zeroed = wire.clone();
    zeroed[31..35].fill(0);
    assert_eq!(crc, crc32c(&[&zeroed]));
    let mut bad = wire.clone();
    bad[17] ^= 1;
    assert!(error(&bad).starts_with("PROXY protocol: v2 CRC32C mismatch (the header says 0x"));
}

#[test]
fn encoding_both_versions() {
    let v4 = ProxyHeader::proxy(addr("192.168.0.1:56324"), addr("192.168.0.11:443"));
    assert_eq!(
        v4.encode_v1(),
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
    );
    let mixed = ProxyHeader::proxy(addr("1.2.3.4:5"), addr("[::1]:6"));
    assert_eq!(mixed.encode_v1(), b"PROXY TCP6 ::ffff:1.2.3.4 ::1 5 6\r\n");
    let (back, _) = done(&mixed.encode_v1());
    assert_eq!(back.source(), Some(addr("[::ffff:1.2.3.4]:5")));
    assert_eq!(ProxyHeader::unknown().encode_v1(), b"PROXY UNKNOWN\r\n");
    assert_eq!(
        ProxyHeader::local().encode_v2().expect("encodes"),
        v2(0x20, 0x00, &[])
    );
    assert_eq!(
        ProxyHeader::unknown().encode_v2().expect("encodes"),
        v2(0x21, 0x00, &[])
    );
    for h in [v4, mixed, ProxyHeader::local(), ProxyHeader::unknown()] {
        for version in [ProxyVersion::V1, ProxyVersion::V2] {
            let h = h.clone().with_version(version);
            let wire = h.encode().expect("encodes");
            let (back, n) = done(&wire);
            assert_eq!(n, wire.len());
            if !(version == ProxyVersion::V1 && h.command() == Command::Local) {
                assert_eq!(back, h);
            }
        }
    }
    let huge = ProxyHeader::local().with_tlv(0xe0, vec![0; 65533]);
    assert_eq!(
        huge.encode_v2().expect_err("too long").to_string(),
        "PROXY protocol: v2 header too long: 65536 bytes of addresses and TLVs (at most 65535)"
    );
    let unix = ProxyHeader {
        addresses: ProxyAddresses::Unix {
            source: vec![b'a'; 109],
            destination: Vec::new(),
        },
        transport: Transport::Stream,
        ..ProxyHeader::unknown()
    };
    assert!(unix.encode_v2().is_err());
    assert_eq!(unix.encode_v1(), b"PROXY UNKNOWN\r\n");
}

#[test]
fn byte_by_byte_gives_the_same_verdict() {
    let mut inputs: Vec<Vec<u8>> = vec![
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET /".to_vec(),
        b"PROXY UNKNOWN\r\n".to_vec(),
        b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\nx".to_vec(),
        b"PROXY TCP4 1.2.3.4\rX".to_vec(),
        b"PROXX".to_vec(),
        b"GET / HTTP/1.0\r\n".to_vec(),
        v2(
            0x21,
            0x11,
            &[1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2, 0xe0, 0, 1, 7],
        ),
        v2(0x23, 0x11, &[]),
    ];
    inputs[6].extend_from_slice(b"data");
    for input in &inputs {
        let whole = parse(input).map_err(|e| e.to_string());
        let split = byte_by_byte(input)
            .map(|(p, _)| p)
            .map_err(|e| e.to_string());
        assert_eq!(split, whole, "{:?}", input.escape_ascii().to_string());
    }
    // The bytes after a header fed in one piece with its last byte.
    let mut p = ProxyParser::new();
    assert_eq!(
        p.feed(b"PROXY UNKNOWN\r").expect("a prefix"),
        Parsed::Incomplete
    );
    match p.feed(b"\nrest").expect("done") {
        Parsed::Done(_, 1) => {}
        other => panic!("{other:?}"),
    }
    assert!(p.buffered().is_empty());
}

#[test]
fn well_known_tlv_helpers_refuse_malformed_values() {
    let h = ProxyHeader::unknown()
        .with_tlv(Tlv::SSL, [1u8, 0, 0])
        .with_tlv(Tlv::AUTHORITY, [0xff])
        .with_tlv(Tlv::CRC32C, [1u8]);
    assert_eq!((h.ssl(), h.authority(), h.crc32c()), (None, None, None));
    assert_eq!(h.tlv(Tlv::SSL), Some(&[1u8, 0, 0][..]));
    assert_eq!(
        IpAddr::from([127, 0, 0, 1]),
        ProxyHeader::proxy(addr("127.0.0.1:1"), addr("127.0.0.1:2"))
            .source()
            .expect("proxy")
            .ip()
    );
}

mod round_trip {
    use proptest::prelude::*;

    use super::*;

    fn socket_pair() -> impl Strategy<Value = (SocketAddr, SocketAddr)> {
        prop_oneof![
            (
                any::<[u8; 4]>(),
                any::<[u8; 4]>(),
                any::<u16>(),
                any::<u16>()
            )
                .prop_map(|(a, b, p, q)| (SocketAddr::from((a, p)), SocketAddr::from((b, q)))),
            (
                any::<[u8; 16]>(),
                any::<[u8; 16]>(),
                any::<u16>(),
                any::<u16>()
            )
                .prop_map(|(a, b, p, q)| (SocketAddr::from((a, p)), SocketAddr::from((b, q)))),
        ]
    }

    fn header() -> impl Strategy<Value = ProxyHeader> {
        let tlv = (
            any::<u8>().prop_filter("CRC32C is rewritten", |k| *k != Tlv::CRC32C),
            proptest::collection::vec(any::<u8>(), 0..40),
        );
        (
            prop_oneof![
                socket_pair().prop_map(|(s, d)| ProxyHeader::proxy(s, d)),
                Just(ProxyHeader::local()),
                Just(ProxyHeader::unknown()),
            ],
            proptest::collection::vec(tlv, 0..5),
            any::<bool>(),
        )
            .prop_map(|(mut h, tlvs, v1)| {
                if v1 {
                    h = h.with_version(ProxyVersion::V1);
                } else {
                    for (kind, value) in tlvs {
                        h = h.with_tlv(kind, value);
                    }
                }
                h
            })
    }

    proptest! {
        /// What is encoded parses back to itself, however the bytes are
        /// split, with the connection's own bytes left after it.
        #[test]
        fn encode_then_parse_in_pieces(
            h in header(),
            data in proptest::collection::vec(any::<u8>(), 0..20),
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
        ) {
            prop_assume!(!(h.version() == ProxyVersion::V1 && h.command() == Command::Local));
            let mut wire = h.encode().expect("encodes");
            let len = wire.len();
            wire.extend_from_slice(&data);
            let (back, n) = done(&wire);
            prop_assert_eq!(&back, &h);
            prop_assert_eq!(n, len);

            let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
            points.sort_unstable();
            points.push(wire.len());
            let mut p = ProxyParser::new();
            let mut start = 0;
            let mut found = None;
            for end in points {
                match p.feed(&wire[start..end]).expect("valid") {
                    Parsed::Incomplete => {}
                    Parsed::Done(read, used) => {
                        found = Some((read, start + used));
                        break;
                    }
                    Parsed::NotProxy => prop_assert!(false, "not PROXY"),
                }
                start = end;
            }
            prop_assert_eq!(found, Some((h, len)));
        }
    }
}
