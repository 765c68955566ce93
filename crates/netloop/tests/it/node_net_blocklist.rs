//! Ports of Node's BlockList, SocketAddress and isIP tests
//! (`test/parallel/test-blocklist.js`, `test-socketaddress.js`,
//! `test-net-isip*.js`, `test-net-blocklist.js`,
//! `test-net-server-blocklist.js`), asserting Node 20's answers.
//!
//! JavaScript-only parts (argument type checks, the `family` string
//! argument, `util.inspect`, structured cloning) have no Rust counterpart:
//! addresses are typed `IpAddr`s, so a family mismatch cannot be expressed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::util::{guard, ip, refused_port, Calls, Log};
use netloop::net::{self, BlockList, ConnectOptions, Server, ServerOptions, Socket, SocketAddress};
use netloop::ErrorCode;

#[test]
fn node_blocklist() {
    // Addresses, with IPv4 rules matching the IPv4-mapped IPv6 form and a
    // mapped IPv6 rule matching the plain IPv4 address.
    {
        let list = BlockList::new();
        list.add_address(ip("1.1.1.1"));
        list.add_address(ip("8592:757c:efae:4e45:fb5d:d62a:0d00:8e17"));
        list.add_address(ip("::ffff:1.1.1.2"));

        assert!(list.check(ip("1.1.1.1")));
        assert!(list.check(ip("8592:757c:efae:4e45:fb5d:d62a:0d00:8e17")));
        assert!(list.check(ip("::ffff:1.1.1.1")));
        assert!(list.check(ip("1.1.1.2")));
        assert!(!list.check(ip("1.2.3.4")));
        assert!(!list.check(ip("::1")));
    }

    // SocketAddress arguments (Node accepts either form).
    {
        let list = BlockList::new();
        let sa1 = SocketAddress::new(ip("1.1.1.1"), 0);
        let sa2 = SocketAddress::new(ip("8592:757c:efae:4e45:fb5d:d62a:0d00:8e17"), 0);
        let sa3 = SocketAddress::new(ip("1.1.1.2"), 0);
        list.add_address(sa1.address());
        list.add_address(sa2.address());
        list.add_address(ip("::ffff:1.1.1.2"));
        assert!(list.check(sa1.address()));
        assert!(list.check(sa2.address()));
        assert!(list.check(sa3.address()));
        assert!(list.check(ip("::ffff:1.1.1.1")));
        assert!(!list.check(ip("1.2.3.4")));
        assert!(!list.check(ip("::1")));
    }

    // Node 20 keeps duplicate rules (it has no removeAddress yet).
    {
        let list = BlockList::new();
        list.add_address(ip("1.1.1.1"));
        list.add_address(ip("1.1.1.1"));
        assert_eq!(
            list.rules(),
            vec!["Address: IPv4 1.1.1.1", "Address: IPv4 1.1.1.1"]
        );
    }

    // Ranges, inclusive at both ends.
    {
        let list = BlockList::new();
        list.add_range(ip("1.1.1.1"), ip("1.1.1.10")).unwrap();
        list.add_range(ip("::1"), ip("::f")).unwrap();
        assert!(!list.check(ip("1.1.1.0")));
        for n in 1..=10 {
            assert!(list.check(ip(&format!("1.1.1.{n}"))), "1.1.1.{n}");
        }
        assert!(!list.check(ip("1.1.1.11")));
        assert!(!list.check(ip("::0")));
        for n in 0x1..=0xf {
            assert!(list.check(ip(&format!("::{n:x}"))), "::{n:x}");
        }
        assert!(!list.check(ip("::10")));
    }

    // Subnets.
    {
        let list = BlockList::new();
        list.add_subnet(ip("1.1.1.0"), 16).unwrap();
        list.add_subnet(ip("8592:757c:efae:4e45::"), 64).unwrap();
        assert!(list.check(ip("1.1.0.1")));
        assert!(list.check(ip("1.1.1.1")));
        assert!(!list.check(ip("1.2.0.1")));
        assert!(list.check(ip("::ffff:1.1.0.1")));
        assert!(list.check(ip("8592:757c:efae:4e45:f::")));
        assert!(list.check(ip("8592:757c:efae:4e45::f")));
        assert!(!list.check(ip("8592:757c:efae:4f45::f")));
    }

    // Rules print newest first, as Node's `blockList.rules`.
    {
        let list = BlockList::new();
        list.add_address(ip("1.1.1.1"));
        list.add_range(ip("10.0.0.1"), ip("10.0.0.10")).unwrap();
        list.add_subnet(ip("8592:757c:efae:4e45::"), 64).unwrap();
        assert_eq!(
            list.rules(),
            vec![
                "Subnet: IPv6 8592:757c:efae:4e45::/64",
                "Range: IPv4 10.0.0.1-10.0.0.10",
                "Address: IPv4 1.1.1.1",
            ]
        );
        assert!(list.check(ip("1.1.1.1")));
        assert!(list.check(ip("10.0.0.5")));
        assert!(list.check(ip("::ffff:10.0.0.5")));
        assert!(list.check(ip("8592:757c:efae:4e45::f")));
        assert!(!list.check(ip("123.123.123.123")));
        assert!(!list.check(ip("8592:757c:efaf:4e45:fb5d:d62a:0d00:8e17")));
        assert!(!list.check(ip("::ffff:123.123.123.123")));
    }

    // Prefixes that do not fall on a byte boundary.
    {
        let list = BlockList::new();
        list.add_subnet(ip("10.0.0.0"), 27).unwrap();
        list.add_subnet(ip("8592:757c:efaf::"), 51).unwrap();
        for n in 0..=31 {
            assert!(list.check(ip(&format!("10.0.0.{n}"))));
        }
        assert!(!list.check(ip("10.0.0.32")));
        assert!(list.check(ip("8592:757c:efaf:0:0:0:0:0")));
        assert!(list.check(ip("8592:757c:efaf:1fff:ffff:ffff:ffff:ffff")));
        assert!(!list.check(ip("8592:757c:efaf:2fff:ffff:ffff:ffff:ffff")));
    }

    // nodejs/node#39074: IPv4-mapped IPv6 checks against an IPv4 range.
    {
        let list = BlockList::new();
        list.add_range(ip("10.0.0.2"), ip("10.0.0.10")).unwrap();
        assert!(list.check(ip("10.0.0.2")));
        assert!(list.check(ip("10.0.0.10")));
        assert!(!list.check(ip("192.168.0.3")));
        assert!(!list.check(ip("2.2.2.2")));
        assert!(!list.check(ip("255.255.255.255")));
        assert!(list.check(ip("::ffff:0a00:0002")));
        assert!(list.check(ip("::ffff:0a00:000a")));
        assert!(!list.check(ip("::ffff:c0a8:0003")));
        assert!(!list.check(ip("::ffff:0202:0202")));
        assert!(!list.check(ip("::ffff:ffff:ffff")));
    }

    // A prefix of 0 matches the whole family, and only that family.
    {
        let list = BlockList::new();
        list.add_subnet(ip("0.0.0.0"), 0).unwrap();
        assert!(list.check(ip("9.9.9.9")));
        assert!(!list.check(ip("::1")));
    }

    // Invalid arguments, with Node's codes and messages.
    {
        let list = BlockList::new();
        let err = list.add_range(ip("1.1.1.2"), ip("1.1.1.1")).unwrap_err();
        assert_eq!(err.code(), ErrorCode::ERR_INVALID_ARG_VALUE);
        assert!(
            err.message()
                .starts_with("The argument 'start' must come before end."),
            "{err}"
        );
        let err = list.add_subnet(ip("1.1.1.1"), 33).unwrap_err();
        assert_eq!(err.code(), ErrorCode::ERR_OUT_OF_RANGE);
        assert_eq!(
            err.message(),
            "The value of \"prefix\" is out of range. It must be >= 0 && <= 32. Received 33"
        );
        let err = list.add_subnet(ip("::"), 129).unwrap_err();
        assert_eq!(err.code(), ErrorCode::ERR_OUT_OF_RANGE);
        assert_eq!(
            err.message(),
            "The value of \"prefix\" is out of range. It must be >= 0 && <= 128. Received 129"
        );
        assert!(list.rules().is_empty());
    }

    // Clones share their rules, as JavaScript references do.
    {
        let list = BlockList::new();
        let alias = list.clone();
        alias.add_address(ip("5.5.5.5"));
        assert!(list.check(ip("5.5.5.5")));
    }
}

#[test]
fn node_socketaddress() {
    // Defaults.
    let sa = SocketAddress::default();
    assert_eq!(sa.address(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(sa.port(), 0);
    assert_eq!(sa.family(), net::Family::IPv4);
    assert_eq!(sa.flowlabel(), 0);

    // Simple IPv4, with and without a port.
    let sa = SocketAddress::new(ip("123.123.123.123"), 0);
    assert_eq!(sa.address().to_string(), "123.123.123.123");
    assert_eq!(
        (sa.port(), sa.family(), sa.flowlabel()),
        (0, net::Family::IPv4, 0)
    );
    let sa = SocketAddress::new(ip("123.123.123.123"), 80);
    assert_eq!(sa.port(), 80);

    // IPv6 (Node's default IPv6 address is `::`) and its flow label.
    let sa = SocketAddress::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0);
    assert_eq!(sa.address().to_string(), "::");
    assert_eq!(sa.family(), net::Family::IPv6);
    assert_eq!(sa.flowlabel(), 0);
    let sa = sa.with_flowlabel(1);
    assert_eq!(sa.flowlabel(), 1);
    assert_eq!(sa.family().to_string(), "IPv6");

    // From a std SocketAddr, keeping the flow label.
    let v6 = std::net::SocketAddrV6::new(Ipv6Addr::LOCALHOST, 443, 7, 0);
    let sa = SocketAddress::from(std::net::SocketAddr::V6(v6));
    assert_eq!(
        (sa.address().to_string(), sa.port(), sa.flowlabel()),
        ("::1".into(), 443, 7)
    );

    // `SocketAddress.parse` (Node 22+): the forms that are plain addresses.
    let good = [
        ("1.2.3.4", "1.2.3.4", 0, net::Family::IPv4),
        ("[1:0::]", "1::", 0, net::Family::IPv6),
        ("[1::8]:123", "1::8", 123, net::Family::IPv6),
        ("127.0.0.1:80", "127.0.0.1", 80, net::Family::IPv4),
        ("127.0.0.1:443", "127.0.0.1", 443, net::Family::IPv4),
        ("[::1]:80", "::1", 80, net::Family::IPv6),
        ("[::1]:443", "::1", 443, net::Family::IPv6),
    ];
    for (input, address, port, family) in good {
        let sa = SocketAddress::parse(input).unwrap_or_else(|| panic!("{input} should parse"));
        assert_eq!(sa.address().to_string(), address, "{input}");
        assert_eq!(sa.port(), port, "{input}");
        assert_eq!(sa.family(), family, "{input}");
    }
    for bad in ["not an ip", "abc.123", "259.1.1.1", "12:12:12"] {
        assert_eq!(SocketAddress::parse(bad), None, "{bad}");
    }
}

#[test]
fn node_net_isip() {
    let cases: &[(&str, u8)] = &[
        ("127.0.0.1", 4),
        ("x127.0.0.1", 0),
        ("example.com", 0),
        ("0000:0000:0000:0000:0000:0000:0000:0000", 6),
        ("0000:0000:0000:0000:0000:0000:0000:0000::0000", 0),
        ("1050:0:0:0:5:600:300c:326b", 6),
        ("2001:252:0:1::2008:6", 6),
        ("2001:dead:beef:1::2008:6", 6),
        ("2001::", 6),
        ("2001:dead::", 6),
        ("2001:dead:beef::", 6),
        ("2001:dead:beef:1::", 6),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 6),
        (":2001:252:0:1::2008:6:", 0),
        (":2001:252:0:1::2008:6", 0),
        ("2001:252:0:1::2008:6:", 0),
        ("2001:252::1::2008:6", 0),
        ("::2001:252:1:2008:6", 6),
        ("::2001:252:1:1.1.1.1", 6),
        ("::2001:252:1:255.255.255.255", 6),
        ("::2001:252:1:255.255.255.255.76", 0),
        ("::anything", 0),
        ("::1", 6),
        ("::", 6),
        ("0000:0000:0000:0000:0000:0000:12345:0000", 0),
        ("0", 0),
        ("", 0),
        // Answers taken from Node 20 for the edges of its grammar.
        ("1::2:3:4:5:6:7", 6),
        ("fe80::1%eth0", 6),
        ("fe80::1%", 0),
        ("fe80::1%a_b", 0),
        ("fe80::1%a b", 0),
        ("::1%1%2", 0),
        ("::ffff:1.2.3.04", 0),
        ("01.2.3.4", 0),
        ("1.2.3.4 ", 0),
        (" 1.2.3.4", 0),
        ("::ffff:127.0.0.1", 6),
        ("1:2:3:4:5:6:7:8%x", 6),
        ("[::1]", 0),
        ("0x1.2.3.4", 0),
        ("1.2.3.4.5", 0),
        ("1:2:3:4:5:6:7:1.2.3.4", 0),
        ("::1:2:3:4:5:6:7", 6),
        ("1:2:3:4:5:6:7::", 6),
    ];
    for (input, want) in cases {
        assert_eq!(net::is_ip(input), *want, "isIP({input:?})");
        assert_eq!(net::is_ipv4(input), *want == 4, "isIPv4({input:?})");
        assert_eq!(net::is_ipv6(input), *want == 6, "isIPv6({input:?})");
    }
}

#[test]
fn node_net_isipv4() {
    let v4 = [
        "0.0.0.0",
        "8.8.8.8",
        "127.0.0.1",
        "100.100.100.100",
        "192.168.0.1",
        "18.101.25.153",
        "123.23.34.2",
        "172.26.168.134",
        "212.58.241.131",
        "128.0.0.0",
        "23.71.254.72",
        "223.255.255.255",
        "192.0.2.235",
        "99.198.122.146",
        "46.51.197.88",
        "173.194.34.134",
    ];
    let v4not = [
        ".100.100.100.100",
        "100..100.100.100.",
        "100.100.100.100.",
        "999.999.999.999",
        "256.256.256.256",
        "256.100.100.100.100",
        "123.123.123",
        "http://123.123.123",
        "1000.2.3.4",
        "999.2.3.4",
        "0000000192.168.0.200",
        "192.168.0.2000000000",
    ];
    for s in v4 {
        assert!(net::is_ipv4(s), "{s}");
    }
    for s in v4not {
        assert!(!net::is_ipv4(s), "{s}");
    }
}

#[test]
fn node_net_isipv6() {
    let v6 = [
        "::",
        "1::",
        "::1",
        "1::8",
        "1::7:8",
        "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6::8",
        "1:2:3:4:5:6:7::",
        "1:2:3:4:5::7:8",
        "1:2:3:4:5::8",
        "1:2:3::8",
        "1::4:5:6:7:8",
        "1::6:7:8",
        "1::3:4:5:6:7:8",
        "1:2:3:4::6:7:8",
        "1:2::4:5:6:7:8",
        "::2:3:4:5:6:7:8",
        "1:2::8",
        "2001:0000:1234:0000:0000:C1C0:ABCD:0876",
        "3ffe:0b00:0000:0000:0001:0000:0000:000a",
        "FF02:0000:0000:0000:0000:0000:0000:0001",
        "0000:0000:0000:0000:0000:0000:0000:0001",
        "0000:0000:0000:0000:0000:0000:0000:0000",
        "::ffff:192.168.1.26",
        "2::10",
        "ff02::1",
        "fe80::",
        "2002::",
        "2001:db8::",
        "2001:0db8:1234::",
        "::ffff:0:0",
        "::ffff:192.168.1.1",
        "1:2:3:4::8",
        "1::2:3:4:5:6:7",
        "1::2:3:4:5:6",
        "1::2:3:4:5",
        "1::2:3:4",
        "1::2:3",
        "::2:3:4:5:6:7",
        "::2:3:4:5:6",
        "::2:3:4:5",
        "::2:3:4",
        "::2:3",
        "::8",
        "1:2:3:4:5:6::",
        "1:2:3:4:5::",
        "1:2:3:4::",
        "1:2:3::",
        "1:2::",
        "1:2:3:4::7:8",
        "1:2:3::7:8",
        "1:2::7:8",
        "1:2:3:4:5:6:1.2.3.4",
        "1:2:3:4:5::1.2.3.4",
        "1:2:3:4::1.2.3.4",
        "1:2:3::1.2.3.4",
        "1:2::1.2.3.4",
        "1::1.2.3.4",
        "1:2:3:4::5:1.2.3.4",
        "1:2:3::5:1.2.3.4",
        "1:2::5:1.2.3.4",
        "1::5:1.2.3.4",
        "1::5:11.22.33.44",
        "fe80::217:f2ff:254.7.237.98",
        "fe80::217:f2ff:fe07:ed62",
        "2001:DB8:0:0:8:800:200C:417A",
        "FF01:0:0:0:0:0:0:101",
        "0:0:0:0:0:0:0:1",
        "0:0:0:0:0:0:0:0",
        "2001:DB8::8:800:200C:417A",
        "FF01::101",
        "0:0:0:0:0:0:13.1.68.3",
        "0:0:0:0:0:FFFF:129.144.52.38",
        "::13.1.68.3",
        "::FFFF:129.144.52.38",
        "fe80:0000:0000:0000:0204:61ff:fe9d:f156",
        "fe80:0:0:0:204:61ff:fe9d:f156",
        "fe80::204:61ff:fe9d:f156",
        "fe80:0:0:0:204:61ff:254.157.241.86",
        "fe80::204:61ff:254.157.241.86",
        "fe80::1",
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        "2001:db8:85a3:0:0:8a2e:370:7334",
        "2001:db8:85a3::8a2e:370:7334",
        "2001:0db8:0000:0000:0000:0000:1428:57ab",
        "2001:0db8:0000:0000:0000::1428:57ab",
        "2001:0db8:0:0:0:0:1428:57ab",
        "2001:0db8:0:0::1428:57ab",
        "2001:0db8::1428:57ab",
        "2001:db8::1428:57ab",
        "::ffff:12.34.56.78",
        "::ffff:0c22:384e",
        "2001:0db8:1234:0000:0000:0000:0000:0000",
        "2001:0db8:1234:ffff:ffff:ffff:ffff:ffff",
        "2001:db8:a::123",
        "::ffff:192.0.2.128",
        "::ffff:c000:280",
        "a:b:c:d:e:f:f1:f2",
        "a:b:c::d:e:f:f1",
        "a:b:c::d:e:f",
        "a:b:c::d:e",
        "a:b:c::d",
        "::a",
        "::a:b:c",
        "::a:b:c:d:e:f:f1",
        "a::",
        "a:b:c::",
        "a:b:c:d:e:f:f1::",
        "a:bb:ccc:dddd:000e:00f:0f::",
        "0:a:0:a:0:0:0:a",
        "0:a:0:0:a:0:0:a",
        "2001:db8:1:1:1:1:0:0",
        "2001:db8:1:1:1:0:0:0",
        "2001:db8:1:1:0:0:0:0",
        "2001:db8:1:0:0:0:0:0",
        "2001:db8:0:0:0:0:0:0",
        "2001:0:0:0:0:0:0:0",
        "A:BB:CCC:DDDD:000E:00F:0F::",
        "0:0:0:0:0:0:0:a",
        "0:0:0:0:a:0:0:0",
        "0:0:0:a:0:0:0:0",
        "a:0:0:a:0:0:a:a",
        "a:0:0:a:0:0:0:a",
        "a:0:0:0:a:0:0:a",
        "a:0:0:0:a:0:0:0",
        "a:0:0:0:0:0:0:0",
        "fe80::7:8%eth0",
        "fe80::7:8%1",
    ];
    let v6not = [
        "",
        "1:",
        ":1",
        "11:36:12",
        "02001:0000:1234:0000:0000:C1C0:ABCD:0876",
        "2001:0000:1234:0000:00001:C1C0:ABCD:0876",
        "2001:0000:1234: 0000:0000:C1C0:ABCD:0876",
        "2001:1:1:1:1:1:255Z255X255Y255",
        "3ffe:0b00:0000:0001:0000:0000:000a",
        "FF02:0000:0000:0000:0000:0000:0000:0000:0001",
        "3ffe:b00::1::a",
        "::1111:2222:3333:4444:5555:6666::",
        "1:2:3::4:5::7:8",
        "12345::6:7:8",
        "1::5:400.2.3.4",
        "1::5:260.2.3.4",
        "1::5:256.2.3.4",
        "1::5:1.256.3.4",
        "1::5:1.2.256.4",
        "1::5:1.2.3.256",
        "1::5:300.2.3.4",
        "1::5:1.300.3.4",
        "1::5:1.2.300.4",
        "1::5:1.2.3.300",
        "1::5:900.2.3.4",
        "1::5:1.900.3.4",
        "1::5:1.2.900.4",
        "1::5:1.2.3.900",
        "1::5:300.300.300.300",
        "1::5:3000.30.30.30",
        "1::400.2.3.4",
        "1::260.2.3.4",
        "1::256.2.3.4",
        "1::1.256.3.4",
        "1::1.2.256.4",
        "1::1.2.3.256",
        "1::300.2.3.4",
        "1::1.300.3.4",
        "1::1.2.300.4",
        "1::1.2.3.300",
        "1::900.2.3.4",
        "1::1.900.3.4",
        "1::1.2.900.4",
        "1::1.2.3.900",
        "1::300.300.300.300",
        "1::3000.30.30.30",
        "::400.2.3.4",
        "::260.2.3.4",
        "::256.2.3.4",
        "::1.256.3.4",
        "::1.2.256.4",
        "::1.2.3.256",
        "::300.2.3.4",
        "::1.300.3.4",
        "::1.2.300.4",
        "::1.2.3.300",
        "::900.2.3.4",
        "::1.900.3.4",
        "::1.2.900.4",
        "::1.2.3.900",
        "::300.300.300.300",
        "::3000.30.30.30",
        "2001:DB8:0:0:8:800:200C:417A:221",
        "FF01::101::2",
        "1111:2222:3333:4444::5555:",
        "1111:2222:3333::5555:",
        "1111:2222::5555:",
        "1111::5555:",
        "::5555:",
        ":::",
        "1111:",
        ":",
        ":1111:2222:3333:4444::5555",
        ":1111:2222:3333::5555",
        ":1111:2222::5555",
        ":1111::5555",
        ":::5555",
        "1.2.3.4:1111:2222:3333:4444::5555",
        "1.2.3.4:1111:2222:3333::5555",
        "1.2.3.4:1111:2222::5555",
        "1.2.3.4:1111::5555",
        "1.2.3.4::5555",
        "1.2.3.4::",
        "fe80:0000:0000:0000:0204:61ff:254.157.241.086",
        "123",
        "ldkfj",
        "2001::FFD3::57ab",
        "2001:db8:85a3::8a2e:37023:7334",
        "2001:db8:85a3::8a2e:370k:7334",
        "1:2:3:4:5:6:7:8:9",
        "1::2::3",
        "1:::3:4:5",
        "1:2:3::4:5:6:7:8:9",
        "::ffff:2.3.4",
        "::ffff:257.1.2.3",
        "::ffff:12345678901234567890.1.26",
        "2001:0000:1234:0000:0000:C1C0:ABCD:0876 0",
        "02001:0000:1234:0000:0000:C1C0:ABCD:0876",
    ];
    for s in v6 {
        assert!(net::is_ipv6(s), "{s} should be IPv6");
    }
    for s in v6not {
        assert!(!net::is_ipv6(s), "{s} should not be IPv6");
    }
}

fn fixed_lookup(addrs: &[&str]) -> netloop::net::Lookup {
    crate::util::fixed_lookup(addrs, Calls::new())
}

#[test]
fn node_net_blocklist() {
    let errors = Log::new();
    let closes = Calls::new();
    let connects = Calls::new();
    let refused = refused_port();
    let port = refused.port();
    netloop::run(|| {
        let _guard = guard("node_net_blocklist");
        let list = BlockList::new();
        list.add_address(ip("127.0.0.1"));
        list.add_address(ip("127.0.0.2"));
        let variants: Vec<(&str, ConnectOptions)> = vec![
            (
                "ip literal",
                ConnectOptions {
                    port,
                    host: Some("127.0.0.1".into()),
                    block_list: Some(list.clone()),
                    ..ConnectOptions::default()
                },
            ),
            (
                "single lookup",
                ConnectOptions {
                    port,
                    host: Some("localhost".into()),
                    block_list: Some(list.clone()),
                    lookup: Some(fixed_lookup(&["127.0.0.1"])),
                    auto_select_family: Some(false),
                    ..ConnectOptions::default()
                },
            ),
            (
                "auto, one address",
                ConnectOptions {
                    port,
                    host: Some("localhost".into()),
                    block_list: Some(list.clone()),
                    lookup: Some(fixed_lookup(&["127.0.0.1"])),
                    auto_select_family: Some(true),
                    ..ConnectOptions::default()
                },
            ),
            (
                "auto, two addresses",
                ConnectOptions {
                    port,
                    host: Some("localhost".into()),
                    block_list: Some(list.clone()),
                    lookup: Some(fixed_lookup(&["127.0.0.1", "127.0.0.2"])),
                    auto_select_family: Some(true),
                    ..ConnectOptions::default()
                },
            ),
        ];
        for (name, opts) in variants {
            let sock = net::connect_with(opts)?;
            let (errors, closes, connects) = (errors.clone(), closes.clone(), connects.clone());
            sock.on(Socket::CONNECT, move |_, _| connects.hit());
            sock.on(Socket::ERROR, move |_, e| {
                errors.push(format!("{name}: {} {}", e.code().as_str(), e.message()));
            });
            sock.on(Socket::CLOSE, move |_, had_error| {
                assert!(*had_error);
                closes.hit();
            });
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(connects.get(), 0);
    assert_eq!(closes.get(), 4);
    let errors = errors.entries();
    assert_eq!(errors.len(), 4, "{errors:?}");
    for e in &errors {
        assert!(e.contains("ERR_IP_BLOCKED"), "{e}");
    }
    assert!(errors.contains(
        &"ip literal: ERR_IP_BLOCKED IP(127.0.0.1) is blocked by net.BlockList".to_string()
    ));
    assert!(errors.contains(
        &"single lookup: ERR_IP_BLOCKED IP(127.0.0.1) is blocked by net.BlockList".to_string()
    ));
    assert!(errors.contains(
        &"auto, one address: ERR_IP_BLOCKED IP(127.0.0.1) is blocked by net.BlockList".to_string()
    ));
}

#[test]
fn node_net_server_blocklist() {
    let connections = Calls::new();
    let drops = Calls::new();
    let client_closes = Calls::new();
    netloop::run(|| {
        let _guard = guard("node_net_server_blocklist");
        let list = BlockList::new();
        list.add_address(ip("127.0.0.1"));
        let server = Server::with_options(ServerOptions {
            block_list: Some(list),
            ..ServerOptions::default()
        });
        let c = connections.clone();
        server.on(Server::CONNECTION, move |_, _| c.hit());
        let d = drops.clone();
        server.on(Server::DROP, move |_, _| d.hit());
        server.listen(0, "127.0.0.1")?;
        let port = server.address().unwrap().port();
        let client = net::connect_with(ConnectOptions {
            port,
            host: Some("127.0.0.1".into()),
            local_address: Some("127.0.0.1".into()),
            ..ConnectOptions::default()
        })?;
        let closes = client_closes.clone();
        client.on(Socket::CLOSE, move |_, _| {
            closes.hit();
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        connections.get(),
        0,
        "a blocked peer never reaches 'connection'"
    );
    assert_eq!(
        drops.get(),
        0,
        "Node closes blocked connections without 'drop'"
    );
    assert_eq!(client_closes.get(), 1);
}
