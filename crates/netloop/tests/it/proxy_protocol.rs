//! The PROXY protocol (`netloop::proxy`, HAProxy's `proxy-protocol.txt`)
//! over real loopback sockets: servers with `proxy_protocol` reading
//! version 1 and 2 headers before `connection`, every way a header fails
//! (`clientError`, never `connection` or `data`), the header timeout,
//! optional mode, the connection limit and block list, and clients sending
//! a header with `ConnectOptions::proxy_protocol`, up to a proxy passing a
//! client on to a server behind it. Node has no PROXY protocol: these
//! tests check the specification and netloop's own contract.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use crate::util::{guard, ip, listen_local, temp_sock_path, Calls, Log};
use netloop::net::{self, BlockList, ConnectOptions, Server, ServerOptions, Socket};
use netloop::proxy::{Command, ProxyHeader, ProxyProtocol, ProxyVersion, Tlv};
use netloop::timers;
use netloop::ErrorCode;

fn addr(s: &str) -> SocketAddr {
    s.parse()
        .expect("test addresses are socket address literals")
}

fn opts(mode: ProxyProtocol) -> ServerOptions {
    ServerOptions {
        proxy_protocol: mode,
        ..ServerOptions::default()
    }
}

/// How a `connection` looks in a log: the client the socket reports, and
/// where the connection really came from.
fn describe(sock: &Socket) -> String {
    let remote = sock
        .remote_address()
        .zip(sock.remote_port())
        .map(|(a, p)| SocketAddr::new(a, p));
    let family = sock
        .remote_family()
        .map(|f| f.to_string())
        .unwrap_or_default();
    match (remote, sock.transport_peer()) {
        (Some(r), Some(peer)) if r == peer => format!("connection from the TCP peer ({family})"),
        (Some(r), Some(peer)) => format!("connection {r} {family} via {}", peer.ip()),
        other => format!("connection {other:?}"),
    }
}

/// A server in `opts` that logs every `connection` (see [`describe`]), the
/// data of each connection at its `end`, and every `clientError` (checking
/// it names the TCP peer); it closes once `outcomes` connections and
/// client errors have come, so the loop ends with the clients.
fn logging_server(opts: ServerOptions, log: &Log, outcomes: usize) -> (Server, u16) {
    let seen = Calls::new();
    let count = {
        let seen = seen.clone();
        move |server: &Server| {
            seen.hit();
            if seen.get() == outcomes {
                server.close();
            }
        }
    };
    let (l, done) = (log.clone(), count.clone());
    let server = net::create_server_with(opts, move |server, sock: &Socket| {
        l.push(describe(sock));
        let data = Rc::new(RefCell::new(Vec::new()));
        let d = Rc::clone(&data);
        sock.on(Socket::DATA, move |_, chunk| {
            d.borrow_mut().extend_from_slice(chunk)
        });
        let l = l.clone();
        sock.on(Socket::END, move |s, _| {
            l.push(format!(
                "end after {:?} ({} bytes read)",
                String::from_utf8_lossy(&data.borrow()),
                s.bytes_read()
            ));
        });
        done(server);
    });
    let l = log.clone();
    server.on(Server::CLIENT_ERROR, move |s, info| {
        assert_eq!(info.error.code(), ErrorCode::ERR_PROXY_PROTOCOL);
        assert_eq!(info.remote_address, Some(ip("127.0.0.1")));
        assert!(info.remote_port.is_some());
        // Closed before the event: it no longer counts.
        assert_eq!(s.connections(), 0);
        l.push(format!("clientError {}", info.error));
        count(s);
    });
    let port = listen_local(&server);
    (server, port)
}

/// A client that sends `bytes`, ends, and drains what comes back.
fn send(port: u16, bytes: impl AsRef<[u8]>) -> Socket {
    let c = net::connect(port, "127.0.0.1").expect("a valid port");
    // A server that closes on a bad header may reset the connection.
    c.on(Socket::ERROR, |_, _| {});
    c.write(bytes);
    c.end();
    c.resume();
    c
}

#[test]
fn v1_tcp4_header_and_data_in_one_write() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        guard("v1 tcp4");
        let (_server, port) = logging_server(opts(ProxyProtocol::Required), &l, 1);
        send(
            port,
            "PROXY TCP4 203.0.113.7 198.51.100.1 41000 80\r\nhello",
        );
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        log.entries(),
        [
            "connection 203.0.113.7:41000 IPv4 via 127.0.0.1",
            "end after \"hello\" (5 bytes read)"
        ]
    );
}

#[test]
fn v1_tcp6_and_unknown() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        guard("v1 tcp6");
        let (_server, port) = logging_server(opts(ProxyProtocol::Required), &l, 2);
        let c = send(port, "PROXY TCP6 2001:db8::7 2001:db8::1 41000 443\r\nsix");
        // The second client only once the first is done: a fixed order.
        c.on(Socket::CLOSE, move |_, _| {
            send(port, "PROXY UNKNOWN\r\nunknown");
        });
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        log.entries(),
        [
            "connection [2001:db8::7]:41000 IPv6 via 127.0.0.1",
            "end after \"six\" (3 bytes read)",
            // UNKNOWN keeps the real peer.
            "connection from the TCP peer (IPv4)",
            "end after \"unknown\" (7 bytes read)",
        ]
    );
}

/// A v2 header from a client's `ConnectOptions::proxy_protocol`, and what
/// the server's `connection` listener sees of it.
fn v2_case(header: ProxyHeader) -> (Vec<String>, Option<ProxyHeader>) {
    let log = Log::new();
    let seen = Rc::new(RefCell::new(None));
    let (l, s) = (log.clone(), Rc::clone(&seen));
    netloop::run(move || {
        guard("v2");
        let (server, port) = logging_server(opts(ProxyProtocol::Required), &l, 1);
        server.prepend_listener(Server::CONNECTION, move |_, sock| {
            *s.borrow_mut() = sock.proxy_header();
        });
        let client = net::connect_with(ConnectOptions {
            port,
            host: Some("127.0.0.1".into()),
            proxy_protocol: Some(header),
            ..ConnectOptions::default()
        })?;
        client.end_with("v2 data");
        client.resume();
        Ok(())
    })
    .expect("the loop ran");
    let header = seen.borrow().clone();
    (log.entries(), header)
}

#[test]
fn v2_proxy_over_ipv4_and_ipv6() {
    let sent = ProxyHeader::proxy(addr("203.0.113.7:41000"), addr("198.51.100.1:443"));
    let (log, header) = v2_case(sent.clone());
    assert_eq!(
        log,
        [
            "connection 203.0.113.7:41000 IPv4 via 127.0.0.1",
            "end after \"v2 data\" (7 bytes read)"
        ]
    );
    assert_eq!(header, Some(sent));

    let sent = ProxyHeader::proxy(addr("[2001:db8::7]:41000"), addr("[2001:db8::1]:443"));
    let (log, header) = v2_case(sent.clone());
    assert_eq!(log[0], "connection [2001:db8::7]:41000 IPv6 via 127.0.0.1");
    assert_eq!(header.map(|h| h.version()), Some(ProxyVersion::V2));
}

#[test]
fn v2_local_and_unspec_keep_the_real_peer() {
    for sent in [ProxyHeader::local(), ProxyHeader::unknown()] {
        let (log, header) = v2_case(sent.clone());
        assert_eq!(
            log,
            [
                "connection from the TCP peer (IPv4)",
                "end after \"v2 data\" (7 bytes read)"
            ]
        );
        let header = header.expect("a header was read");
        assert_eq!(header.command(), sent.command());
        assert_eq!(header.source(), None);
    }
    let (_, header) = v2_case(ProxyHeader::local());
    assert_eq!(header.map(|h| h.command()), Some(Command::Local));
}

#[test]
fn v2_tlvs_are_readable_on_the_server() {
    let ssl = [&[0x01u8, 0, 0, 0, 0][..], &[0x21, 0, 7], b"TLSv1.3"].concat();
    let sent = ProxyHeader::proxy(addr("203.0.113.7:41000"), addr("198.51.100.1:443"))
        .with_tlv(Tlv::ALPN, "h2")
        .with_tlv(Tlv::AUTHORITY, "example.com")
        .with_tlv(Tlv::UNIQUE_ID, [7u8; 16])
        .with_tlv(Tlv::SSL, ssl)
        .with_tlv(Tlv::CRC32C, [0u8; 4])
        .with_tlv(0xea, "vpce-0123");
    let (_, header) = v2_case(sent);
    let h = header.expect("a header was read");
    assert_eq!(h.alpn(), Some(&b"h2"[..]));
    assert_eq!(h.authority(), Some("example.com"));
    assert_eq!(h.unique_id(), Some(&[7u8; 16][..]));
    assert_eq!(
        h.ssl()
            .and_then(|s| s.version().map(str::to_owned))
            .as_deref(),
        Some("TLSv1.3")
    );
    assert!(h.crc32c().is_some());
    assert_eq!(h.tlv(0xea), Some(&b"vpce-0123"[..]));
    let kinds: Vec<u8> = h.tlvs().iter().map(|t| t.kind).collect();
    assert_eq!(kinds, [0x01, 0x02, 0x05, 0x20, 0x03, 0xea]);
}

/// Write `bytes` one at a time, each on a later timer (with Nagle off), so
/// the server's reads most likely see them one by one; the outcome must
/// not depend on how they are cut.
fn trickle(sock: &Socket, bytes: Vec<u8>, then: impl FnOnce(&Socket) + 'static) {
    fn step(sock: Socket, bytes: Rc<Vec<u8>>, at: usize, then: Box<dyn FnOnce(&Socket)>) {
        if at == bytes.len() {
            then(&sock);
            return;
        }
        sock.write(&bytes[at..at + 1]);
        timers::set_timeout(Duration::from_millis(1), move || {
            step(sock, bytes, at + 1, then)
        });
    }
    sock.set_no_delay(true);
    step(sock.clone(), Rc::new(bytes), 0, Box::new(then));
}

#[test]
fn a_header_split_byte_by_byte() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        guard("byte by byte");
        let (_server, port) = logging_server(opts(ProxyProtocol::Required), &l, 2);
        let v1 = net::connect(port, "127.0.0.1")?;
        v1.once(Socket::CONNECT, move |c, _| {
            let bytes = b"PROXY TCP4 203.0.113.7 198.51.100.1 41000 80\r\nab".to_vec();
            trickle(c, bytes, move |c| {
                c.end();
                c.resume();
                let v2 = net::connect(port, "127.0.0.1").expect("a valid port");
                v2.once(Socket::CONNECT, |c, _| {
                    let header =
                        ProxyHeader::proxy(addr("[2001:db8::9]:7"), addr("[2001:db8::1]:8"))
                            .with_tlv(Tlv::AUTHORITY, "split.example")
                            .encode()
                            .expect("encodes");
                    trickle(c, [header, b"cd".to_vec()].concat(), |c| {
                        c.end();
                        c.resume();
                    });
                });
            });
        });
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        log.entries(),
        [
            "connection 203.0.113.7:41000 IPv4 via 127.0.0.1",
            "end after \"ab\" (2 bytes read)",
            "connection [2001:db8::9]:7 IPv6 via 127.0.0.1",
            "end after \"cd\" (2 bytes read)",
        ]
    );
}

/// Each input, from its own client, gives one `clientError` with this
/// message (after `PROXY protocol: `), and never a `connection`.
fn assert_client_errors(mode: ProxyProtocol, cases: &[(&[u8], &str)]) {
    let log = Log::new();
    let l = log.clone();
    let cases: Vec<(Vec<u8>, String)> = cases
        .iter()
        .map(|(b, m)| (b.to_vec(), format!("clientError PROXY protocol: {m}")))
        .collect();
    let inputs: Vec<Vec<u8>> = cases.iter().map(|(b, _)| b.clone()).collect();
    netloop::run(move || {
        guard("client errors");
        let (_server, port) = logging_server(opts(mode), &l, inputs.len());
        // One at a time, each after the previous one's close, so the log
        // is in the order of the cases.
        fn next(port: u16, mut inputs: Vec<Vec<u8>>) {
            if inputs.is_empty() {
                return;
            }
            let input = inputs.remove(0);
            send(port, input).on(Socket::CLOSE, move |_, _| next(port, inputs.clone()));
        }
        next(port, inputs);
        Ok(())
    })
    .expect("a clientError never ends the loop");
    let want: Vec<String> = cases.into_iter().map(|(_, m)| m).collect();
    assert_eq!(log.entries(), want);
}

#[test]
fn malformed_headers_are_client_errors_with_what_was_wrong() {
    let mut v2_bad_command = netloop::proxy::SIGNATURE.to_vec();
    v2_bad_command.extend_from_slice(&[0x22, 0x11, 0, 12]);
    v2_bad_command.extend_from_slice(&[0; 12]);
    let mut v2_short = netloop::proxy::SIGNATURE.to_vec();
    v2_short.extend_from_slice(&[0x21, 0x21, 0, 12]);
    v2_short.extend_from_slice(&[0; 12]);
    let cases: &[(&[u8], &str)] = &[
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\ndata",
            "invalid v1 source port \"99999\"",
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 80 080\r\n",
            "invalid v1 destination port \"080\"",
        ),
        (
            b"PROXY TCP4 ::1 5.6.7.8 80 80\r\n",
            "invalid v1 source address \"::1\" for TCP4",
        ),
        (
            b"PROXY TCP9 1.2.3.4 5.6.7.8 80 80\r\n",
            "invalid v1 protocol \"TCP9\"",
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 80 80\n",
            "v1 header has a LF without a CR before it",
        ),
        (&v2_bad_command, "invalid v2 command 2 (byte 13 is 0x22)"),
        (
            &v2_short,
            "v2 address block of 12 bytes is too short for TCP over IPv6 (36 bytes)",
        ),
        (b"hello", "header required, got \"hello\""),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            "header required, got \"GET / HT\"",
        ),
        (
            b"PROXY TCP4 1.2",
            "connection closed before the header was complete (14 bytes received)",
        ),
        (
            b"",
            "connection closed before the header (no bytes received)",
        ),
    ];
    assert_client_errors(ProxyProtocol::Required, cases);
}

#[test]
fn oversized_headers_are_client_errors() {
    let f = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    let long_v1 = format!("PROXY UNKNOWN {f} {f} 65535 65535 \r\n");
    let big_v2 = ProxyHeader::proxy(addr("1.2.3.4:5"), addr("5.6.7.8:9"))
        .with_tlv(0xe0, vec![0u8; 2000])
        .encode()
        .expect("encodes");
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        guard("oversized");
        let limited = ServerOptions {
            proxy_protocol_max_header: Some(1024),
            ..opts(ProxyProtocol::Required)
        };
        let (_server, port) = logging_server(limited, &l, 2);
        send(port, long_v1).on(Socket::CLOSE, move |_, _| {
            send(port, &big_v2);
        });
        Ok(())
    })
    .expect("the loop ran");
    let entries = log.entries();
    assert!(
        entries[0].starts_with("clientError PROXY protocol: v1 header longer than 107 bytes"),
        "{entries:?}"
    );
    assert_eq!(
        entries[1],
        "clientError PROXY protocol: v2 header of 2031 bytes is over the limit of 1024 bytes"
    );
}

#[test]
fn optional_mode_detects_either_way() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        guard("optional");
        let (_server, port) = logging_server(opts(ProxyProtocol::Optional), &l, 4);
        let first = send(port, "PROXY TCP4 203.0.113.7 198.51.100.1 41000 80\r\nwith");
        first.on(Socket::CLOSE, move |_, _| {
            send(port, "hello, no header").on(Socket::CLOSE, move |_, _| {
                // A prefix of the signature, then the FIN: not a header.
                send(port, "PROX").on(Socket::CLOSE, move |_, _| {
                    // Decided at the first byte that is not the signature's.
                    send(port, "\r\n\r\nnot v2");
                });
            });
        });
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        log.entries(),
        [
            "connection 203.0.113.7:41000 IPv4 via 127.0.0.1",
            "end after \"with\" (4 bytes read)",
            "connection from the TCP peer (IPv4)",
            "end after \"hello, no header\" (16 bytes read)",
            "connection from the TCP peer (IPv4)",
            "end after \"PROX\" (4 bytes read)",
            "connection from the TCP peer (IPv4)",
            "end after \"\\r\\n\\r\\nnot v2\" (10 bytes read)",
        ]
    );
}

#[test]
fn the_header_timeout_closes_or_takes_the_connection() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        guard("timeout");
        let short = |mode| ServerOptions {
            proxy_protocol_timeout: Some(Duration::from_millis(50)),
            ..opts(mode)
        };
        // Required: a client that sends nothing, then half a header.
        let (_server, port) = logging_server(short(ProxyProtocol::Required), &l, 2);
        let silent = net::connect(port, "127.0.0.1")?;
        silent.resume();
        let l2 = l.clone();
        silent.on(Socket::CLOSE, move |_, _| {
            let partial = net::connect(port, "127.0.0.1").expect("a valid port");
            partial.write("PROXY TCP4 1.2.3.4 ");
            partial.resume();
            let l2 = l2.clone();
            partial.on(Socket::CLOSE, move |_, _| {
                // Optional: a client waiting for the server to speak first
                // is taken without a header once the timeout passed.
                let l3 = l2.clone();
                let server =
                    net::create_server_with(short(ProxyProtocol::Optional), move |s, sock| {
                        l3.push(describe(sock));
                        sock.end_with("220 welcome");
                        s.close();
                    });
                let port = listen_local(&server);
                let client = net::connect(port, "127.0.0.1").expect("a valid port");
                let l4 = l2.clone();
                client.on(Socket::DATA, move |_, d| {
                    l4.push(format!("client got {}", String::from_utf8_lossy(d)))
                });
            });
        });
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        log.entries(),
        [
            "clientError PROXY protocol: no header within 50ms",
            "clientError PROXY protocol: header incomplete after 50ms (19 bytes received)",
            "connection from the TCP peer (IPv4)",
            "client got 220 welcome",
        ]
    );
}

#[test]
fn a_waiting_connection_counts_against_max_connections() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        guard("max connections");
        let (server, port) = logging_server(opts(ProxyProtocol::Required), &l, 1);
        server.set_max_connections(Some(1));
        let l2 = l.clone();
        server.on(Server::DROP, move |s, info| {
            l2.push(format!(
                "drop, {} open, remote {:?}",
                s.connections(),
                info.remote_address
            ));
        });
        let first = net::connect(port, "127.0.0.1")?;
        first.resume();
        first.once(Socket::CONNECT, move |first, _| {
            // The first connection waits for its header; the second is
            // over the limit.
            let second = net::connect(port, "127.0.0.1").expect("a valid port");
            second.on(Socket::ERROR, |_, _| {});
            second.resume();
            let first = first.clone();
            second.on(Socket::CLOSE, move |_, _| {
                first.end_with("PROXY TCP4 203.0.113.7 198.51.100.1 41000 80\r\n");
            });
        });
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        log.entries(),
        [
            "drop, 1 open, remote Some(127.0.0.1)",
            "connection 203.0.113.7:41000 IPv4 via 127.0.0.1",
            "end after \"\" (0 bytes read)",
        ]
    );
}

#[test]
fn the_block_list_checks_the_original_client() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        guard("block list");
        let list = BlockList::new();
        list.add_address(ip("203.0.113.66"));
        let with_list = ServerOptions {
            block_list: Some(list),
            ..opts(ProxyProtocol::Required)
        };
        let (_server, port) = logging_server(with_list, &l, 1);
        let blocked = send(port, "PROXY TCP4 203.0.113.66 198.51.100.1 41000 80\r\nno");
        let l2 = l.clone();
        blocked.on(Socket::CLOSE, move |c, _| {
            l2.push(format!(
                "blocked client closed after {} bytes",
                c.bytes_read()
            ));
            send(port, "PROXY TCP4 203.0.113.7 198.51.100.1 41000 80\r\nyes");
        });
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        log.entries(),
        [
            "blocked client closed after 0 bytes",
            "connection 203.0.113.7:41000 IPv4 via 127.0.0.1",
            "end after \"yes\" (3 bytes read)",
        ]
    );
}

#[test]
fn pause_on_connect_still_reads_the_header_first() {
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = Rc::clone(&got);
    netloop::run(move || {
        guard("pause on connect");
        let paused = ServerOptions {
            pause_on_connect: true,
            ..opts(ProxyProtocol::Required)
        };
        let server = net::create_server_with(paused, move |server, sock| {
            g.borrow_mut().push(describe(sock));
            assert!(sock.is_paused());
            let g = Rc::clone(&g);
            sock.on(Socket::DATA, move |_, d| {
                g.borrow_mut().push(String::from_utf8_lossy(d).into_owned())
            });
            let sock = sock.clone();
            timers::set_immediate(move || {
                sock.resume();
            });
            server.close();
        });
        let port = listen_local(&server);
        send(
            port,
            "PROXY TCP4 203.0.113.7 198.51.100.1 41000 80\r\npaused data",
        );
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        *got.borrow(),
        [
            "connection 203.0.113.7:41000 IPv4 via 127.0.0.1",
            "paused data"
        ]
    );
}

#[test]
fn client_errors_without_a_listener_do_not_end_the_loop() {
    let closed = Calls::new();
    let c = closed.clone();
    netloop::run(move || {
        guard("no clientError listener");
        let server = net::create_server_with(opts(ProxyProtocol::Required), |_, _| {
            panic!("no connection")
        });
        let port = listen_local(&server);
        send(port, "nonsense").on(Socket::CLOSE, move |_, _| {
            c.hit();
            server.close();
        });
        Ok(())
    })
    .expect("a clientError with no listener is only logged");
    assert_eq!(closed.get(), 1);
}

#[test]
fn the_client_header_goes_first_and_is_not_counted() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        guard("client header first");
        let (_server, port) = logging_server(opts(ProxyProtocol::Required), &l, 1);
        let client = Socket::new();
        client.connect_with(ConnectOptions {
            port,
            host: Some("127.0.0.1".into()),
            proxy_protocol: Some(
                ProxyHeader::proxy(addr("203.0.113.7:41000"), addr("198.51.100.1:80"))
                    .with_version(ProxyVersion::V1),
            ),
            ..ConnectOptions::default()
        })?;
        client.write("queued while connecting, ");
        let l = l.clone();
        client.once(Socket::CONNECT, move |c, _| {
            c.write("then written on connect");
            l.push(format!("client bytes_written {}", c.bytes_written()));
            c.end();
        });
        client.resume();
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        log.entries(),
        [
            "client bytes_written 48",
            "connection 203.0.113.7:41000 IPv4 via 127.0.0.1",
            "end after \"queued while connecting, then written on connect\" (48 bytes read)",
        ]
    );
}

#[test]
fn an_invalid_client_header_is_refused_at_once() {
    netloop::run(|| {
        let err = net::connect_with(ConnectOptions {
            port: 9,
            host: Some("127.0.0.1".into()),
            proxy_protocol: Some(ProxyHeader::local().with_tlv(Tlv::CRC32C, [0u8; 2])),
            ..ConnectOptions::default()
        })
        .expect_err("a CRC32C TLV holds 4 bytes");
        assert_eq!(err.code(), ErrorCode::ERR_PROXY_PROTOCOL);
        assert_eq!(
            err.to_string(),
            "PROXY protocol: v2 CRC32C TLV of 2 bytes (4 expected)"
        );
        Ok(())
    })
    .expect("the loop ran");
}

/// A client behind a load balancer, a netloop proxy that requires the
/// balancer's header and passes the client on with a v2 header of its
/// own, and a netloop server behind the proxy: the server sees the
/// original client and the address it connected to.
#[test]
fn a_netloop_proxy_passes_the_client_on() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        guard("proxy chain");
        let l2 = l.clone();
        let upstream = net::create_server_with(opts(ProxyProtocol::Required), move |s, sock| {
            let h = sock.proxy_header().expect("required");
            l2.push(format!(
                "upstream: {} to {:?}, {:?}",
                describe(sock),
                h.destination(),
                h.version()
            ));
            sock.pipe(sock);
            s.close();
        });
        let upstream_port = listen_local(&upstream);

        let half_open = ServerOptions {
            allow_half_open: true,
            ..opts(ProxyProtocol::Required)
        };
        let l3 = l.clone();
        let proxy = net::create_server_with(half_open, move |proxy: &Server, client: &Socket| {
            l3.push(format!("proxy: {}", describe(client)));
            let back = net::connect_with(ConnectOptions {
                port: upstream_port,
                host: Some("127.0.0.1".into()),
                proxy_protocol: Some(ProxyHeader::for_socket(client, ProxyVersion::V2)),
                ..ConnectOptions::default()
            })
            .expect("a valid port");
            client.pipe(&back);
            back.pipe(client);
            proxy.close();
        });
        let proxy_port = listen_local(&proxy);

        // The load balancer's side: its header, then the client's bytes.
        let client = send(
            proxy_port,
            "PROXY TCP4 203.0.113.7 198.51.100.1 41000 443\r\nround trip",
        );
        let reply = Rc::new(RefCell::new(Vec::new()));
        let r = Rc::clone(&reply);
        client.on(Socket::DATA, move |_, d| {
            r.borrow_mut().extend_from_slice(d)
        });
        let l4 = l.clone();
        client.on(Socket::END, move |_, _| {
            l4.push(format!(
                "client got {}",
                String::from_utf8_lossy(&reply.borrow())
            ));
        });
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        log.entries(),
        [
            "proxy: connection 203.0.113.7:41000 IPv4 via 127.0.0.1",
            "upstream: connection 203.0.113.7:41000 IPv4 via 127.0.0.1 to \
             Some(198.51.100.1:443), V2",
            "client got round trip",
        ]
    );
}

#[test]
fn for_socket_without_a_header_names_the_tcp_ends() {
    let got = Rc::new(RefCell::new(None));
    let g = Rc::clone(&got);
    netloop::run(move || {
        guard("for_socket");
        let server = net::create_server(move |server, sock| {
            let h = ProxyHeader::for_socket(sock, ProxyVersion::V2);
            let ends = (sock.transport_peer(), sock.address());
            *g.borrow_mut() = Some((h.source(), h.destination(), ends));
            sock.end();
            server.close();
        });
        let port = listen_local(&server);
        send(port, "");
        Ok(())
    })
    .expect("the loop ran");
    let (source, destination, (peer, local)) = (*got.borrow()).expect("a connection");
    assert_eq!((source, destination), (peer, local));
    assert_eq!(local.map(|a| a.ip()), Some(IpAddr::from([127, 0, 0, 1])));
}

/// A Unix-socket server behind a proxy: the header's client becomes the
/// socket's remote address, and there is no transport peer to report.
#[test]
fn a_unix_socket_server_reads_the_header_too() {
    let path = temp_sock_path("proxy");
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = Rc::clone(&got);
    let p = path.clone();
    netloop::run(move || {
        guard("unix");
        let server = net::create_server_with(opts(ProxyProtocol::Required), move |server, sock| {
            g.borrow_mut().push(format!(
                "{:?}:{:?} via {:?}",
                sock.remote_address(),
                sock.remote_port(),
                sock.transport_peer()
            ));
            let g = Rc::clone(&g);
            sock.on(Socket::DATA, move |_, d| {
                g.borrow_mut().push(String::from_utf8_lossy(d).into_owned())
            });
            server.close();
        });
        server.listen_path(&p)?;
        let client = net::connect_with(ConnectOptions {
            path: Some(p),
            proxy_protocol: Some(ProxyHeader::proxy(
                addr("203.0.113.7:41000"),
                addr("198.51.100.1:80"),
            )),
            ..ConnectOptions::default()
        })?;
        client.end_with("over unix");
        client.resume();
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        *got.borrow(),
        ["Some(203.0.113.7):Some(41000) via None", "over unix"]
    );
    assert!(!path.exists());
}
