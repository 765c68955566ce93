//! netloop's TLS client against netloop's TLS server, in process: event
//! order, bulk data both ways, half-close, backpressure, verification
//! errors, ALPN, SNI, client certificates, resumption, failed handshakes.
//! (Node and OpenSSL as peers: `tests/tls_interop.rs`.)

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use netloop::net::{self, Socket};
use netloop::tls::{
    self, SecureContext, TlsConnectOptions, TlsServer, TlsServerOptions, TlsSocket, TlsVersion,
};
use netloop::{ErrorCode, Slot};

use crate::certs::{Certs, Pair};
use crate::util::{assert_error, guard, pattern, Log};

/// The certificates every TLS test shares (made once per run).
pub(crate) fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(Certs::new)
}

/// A server with `pair`'s key and certificate.
pub(crate) fn server_opts(pair: &Pair) -> TlsServerOptions {
    TlsServerOptions {
        key: pair.key.clone().into_bytes(),
        cert: pair.cert.clone().into_bytes(),
        ..TlsServerOptions::default()
    }
}

/// A client of 127.0.0.1:`port` that trusts the test CA.
pub(crate) fn client_opts(port: u16) -> TlsConnectOptions {
    TlsConnectOptions {
        port,
        host: Some("127.0.0.1".into()),
        ca: Some(certs().ca.clone().into_bytes()),
        ..TlsConnectOptions::default()
    }
}

/// Listen on 127.0.0.1:0; the port.
pub(crate) fn listen(server: &TlsServer) -> u16 {
    server.listen(0, "127.0.0.1").expect("listen");
    server.address().expect("bound at once").port()
}

/// Node 20 (`node -e`, a `tls` server that answers `pong` and ends):
/// client `connect`, `ready`, `secureConnect`, server `secureConnection`,
/// server `data 4`, client `data pong`, `end`, `finish`, `close false`;
/// `bytesRead`/`bytesWritten` count plaintext, and a write made before
/// the handshake counts in `writableLength` (4) until it leaves.
#[test]
fn tls_client_and_server_events_in_node_order() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("tls event order");
        let ls = l.clone();
        let server = tls::create_server(server_opts(&certs().localhost), move |server, sock| {
            ls.push(format!(
                "server secureConnection {}",
                sock.get_protocol().unwrap_or("?")
            ));
            let ls2 = ls.clone();
            sock.on(Socket::DATA, move |s, d| {
                ls2.push(format!("server data {}", d.len()));
                s.write("pong");
                s.end();
            });
            server.close();
        })?;
        let port = listen(&server);
        let c = tls::connect(client_opts(port))?;
        assert!(c.write("ping"));
        assert_eq!(c.writable_length(), 4);
        assert_eq!(c.bytes_written(), 4);
        for (name, ev) in [
            ("connect", Socket::CONNECT),
            ("ready", Socket::READY),
            ("secureConnect", TlsSocket::SECURE_CONNECT),
            ("end", Socket::END),
            ("finish", Socket::FINISH),
        ] {
            let l = l.clone();
            c.on(ev, move |c, _| {
                l.push(format!(
                    "client {name} read {} written {}",
                    c.bytes_read(),
                    c.bytes_written()
                ))
            });
        }
        let lc = l.clone();
        c.on(Socket::DATA, move |c, d| {
            assert!(c.authorized());
            lc.push(format!("client data {}", String::from_utf8_lossy(d)));
        });
        let lc = l.clone();
        c.on(Socket::CLOSE, move |c, had_error| {
            assert!(c.wire_bytes_read() > c.bytes_read());
            lc.push(format!("client close {had_error}"));
        });
        Ok(())
    })
    .expect("the loop ran");
    let entries = log.entries();
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.starts_with("client"))
            .cloned()
            .collect::<Vec<_>>(),
        [
            "client connect read 0 written 4",
            "client ready read 0 written 4",
            "client secureConnect read 0 written 4",
            "client data pong",
            "client end read 4 written 4",
            "client finish read 4 written 4",
            "client close false",
        ]
    );
    assert!(log.position("server secureConnection TLSv1.3") < log.position("server data 4"));
    assert!(log.position("server data 4") < log.position("client data pong"));
}

/// 1 MiB each way, byte-exact, with backpressure on both sides: an echo
/// server (`pipe`) and a client that writes until `write()` says false
/// and waits for `drain`.
#[test]
fn tls_one_mebibyte_each_way_through_an_echo() {
    const TOTAL: usize = 1 << 20;
    let got = netloop::run_returning(|| {
        let _g = guard("tls 1 MiB");
        let server = tls::create_server(server_opts(&certs().localhost), |server, sock| {
            sock.pipe(sock);
            server.close();
        })?;
        let port = listen(&server);
        let c = tls::connect(client_opts(port))?;
        let data = Arc::new(pattern(TOTAL));
        let sent = Slot::new(0usize);
        let falses = Slot::new(0usize);
        let pump = {
            let (data, sent, falses) = (Arc::clone(&data), sent.clone(), falses.clone());
            move |c: &TlsSocket| {
                while sent.get() < TOTAL {
                    let at = sent.get();
                    let end = (at + 48 * 1024).min(TOTAL);
                    sent.set(end);
                    if !c.write(&data[at..end]) {
                        falses.update(|f| *f += 1);
                        return;
                    }
                }
                c.end();
            }
        };
        let p = pump.clone();
        c.on(TlsSocket::SECURE_CONNECT, move |c, _| p(c));
        c.on(Socket::DRAIN, move |c, _| pump(c));
        let got = Slot::new(Vec::with_capacity(TOTAL));
        let sink = got.clone();
        c.on(Socket::DATA, move |_, d| {
            sink.update(|g| g.extend_from_slice(d))
        });
        Ok(got)
    })
    .expect("the loop ran");
    assert_eq!(got.len(), TOTAL);
    assert!(got == pattern(TOTAL), "bytes differ");
}

/// Half-open over TLS: the client ends (close_notify then FIN), the
/// half-open server still answers, then ends.
#[test]
fn tls_half_close_keeps_the_other_direction() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("tls half close");
        let opts = TlsServerOptions {
            net: net::ServerOptions {
                allow_half_open: true,
                ..Default::default()
            },
            ..server_opts(&certs().localhost)
        };
        let ls = l.clone();
        let server = tls::create_server(opts, move |server, sock| {
            let got = Slot::new(Vec::new());
            let g = got.clone();
            sock.on(Socket::DATA, move |_, d| {
                g.update(|v| v.extend_from_slice(d))
            });
            let ls = ls.clone();
            sock.on(Socket::END, move |s, _| {
                ls.push(format!(
                    "server end after {:?}",
                    String::from_utf8_lossy(&got.get())
                ));
                assert!(s.writable());
                s.end_with("reply after your end");
            });
            server.close();
        })?;
        let port = listen(&server);
        let c = tls::connect(client_opts(port))?;
        c.end_with("request");
        let reply = Slot::new(Vec::new());
        let r = reply.clone();
        c.on(Socket::DATA, move |_, d| {
            r.update(|v| v.extend_from_slice(d))
        });
        let lc = l.clone();
        c.on(Socket::END, move |_, _| {
            lc.push(format!(
                "client end {:?}",
                String::from_utf8_lossy(&reply.get())
            ))
        });
        let lc = l.clone();
        c.on(Socket::CLOSE, move |_, h| lc.push(format!("close {h}")));
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        log.entries(),
        [
            "server end after \"request\"",
            "client end \"reply after your end\"",
            "close false",
        ]
    );
}

/// Run one client against a server and return what the client saw:
/// `secure authorized=..` or `error CODE message`, then `close`.
fn client_outcome(
    server_opts: TlsServerOptions,
    client: impl FnOnce(u16) -> TlsConnectOptions + 'static,
) -> Vec<String> {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("tls client outcome");
        let server = tls::create_server(server_opts, |_, sock| {
            sock.on(Socket::ERROR, |_, _| {});
            sock.end_with("hi");
        })?;
        let port = listen(&server);
        let c = tls::connect(client(port))?;
        let lc = l.clone();
        c.on(TlsSocket::SECURE_CONNECT, move |c, _| {
            lc.push(format!(
                "secure authorized={} error={}",
                c.authorized(),
                c.authorization_error()
                    .map(|e| e.code().as_str())
                    .unwrap_or("none")
            ));
        });
        let lc = l.clone();
        c.on(Socket::ERROR, move |_, e| {
            lc.push(format!("error {} {}", e.code().as_str(), e))
        });
        c.on(Socket::DATA, |_, _| {});
        let lc = l.clone();
        c.on(Socket::CLOSE, move |_, _| {
            lc.push("close");
            server.close();
        });
        Ok(())
    })
    .expect("the loop ran");
    log.entries()
}

/// Node: `Hostname/IP does not match certificate's altnames: Host:
/// wrong.example. is not in the cert's altnames: DNS:localhost, IP
/// Address:127.0.0.1`, code `ERR_TLS_CERT_ALTNAME_INVALID`.
#[test]
fn tls_wrong_host_name_is_rejected_with_nodes_code() {
    let out = client_outcome(server_opts(&certs().localhost), |port| TlsConnectOptions {
        servername: Some("wrong.example".into()),
        ..client_opts(port)
    });
    assert_eq!(
        out,
        [
            "error ERR_TLS_CERT_ALTNAME_INVALID Hostname/IP does not match certificate's altnames: \
             Host: wrong.example. is not in the cert's altnames: DNS:localhost, IP Address:127.0.0.1",
            "close"
        ]
    );
}

#[test]
fn tls_verification_errors_in_nodes_words() {
    let cases: [(&Pair, bool, &str); 3] = [
        (
            &certs().self_signed,
            false,
            "error DEPTH_ZERO_SELF_SIGNED_CERT self-signed certificate",
        ),
        (
            &certs().localhost,
            true,
            "error UNABLE_TO_VERIFY_LEAF_SIGNATURE unable to verify the first certificate",
        ),
        (
            &certs().expired,
            false,
            "error CERT_HAS_EXPIRED certificate has expired",
        ),
    ];
    for (pair, no_ca, expected) in cases {
        let out = client_outcome(server_opts(pair), move |port| TlsConnectOptions {
            ca: if no_ca {
                Some(certs().sni.cert.clone().into_bytes())
            } else {
                client_opts(port).ca
            },
            ..client_opts(port)
        });
        assert_eq!(out, [expected, "close"]);
    }
}

/// `reject_unauthorized: false`: the handshake completes, `authorized()`
/// is false and `authorization_error()` says why (Node:
/// `authorizationError` `ERR_TLS_CERT_ALTNAME_INVALID`).
#[test]
fn tls_unauthorized_allowed_reports_the_reason() {
    let out = client_outcome(server_opts(&certs().localhost), |port| TlsConnectOptions {
        servername: Some("wrong.example".into()),
        reject_unauthorized: false,
        ..client_opts(port)
    });
    assert_eq!(
        out,
        [
            "secure authorized=false error=ERR_TLS_CERT_ALTNAME_INVALID",
            "close"
        ]
    );
}

#[test]
fn tls_check_server_identity_decides() {
    let out = client_outcome(server_opts(&certs().localhost), |port| TlsConnectOptions {
        servername: Some("wrong.example".into()),
        check_server_identity: Some(std::rc::Rc::new(|host, cert| {
            assert_eq!(host, "wrong.example");
            assert_eq!(cert.common_name(), Some("localhost"));
            None
        })),
        ..client_opts(port)
    });
    assert_eq!(out, ["secure authorized=true error=none", "close"]);
}

/// ALPN agreed, SNI picking a certificate, the peer certificate's fields.
#[test]
fn tls_alpn_sni_and_peer_certificate() {
    let seen = netloop::run_returning(|| {
        let _g = guard("tls alpn sni");
        let opts = TlsServerOptions {
            alpn_protocols: vec!["h2".into(), "http/1.1".into()],
            ..server_opts(&certs().localhost)
        };
        let server = tls::create_server(opts, |server, sock| {
            assert_eq!(sock.servername().as_deref(), Some("sni.example"));
            assert_eq!(sock.alpn_protocol().as_deref(), Some("http/1.1"));
            sock.end();
            server.close();
        })?;
        let sni = &certs().sni;
        server.add_context(
            "sni.example",
            SecureContext::new(sni.key.as_bytes(), sni.cert.as_bytes())?,
        );
        let port = listen(&server);
        let c = tls::connect(TlsConnectOptions {
            servername: Some("sni.example".into()),
            alpn_protocols: vec!["http/1.1".into()],
            ..client_opts(port)
        })?;
        let seen = Slot::new(Vec::new());
        let s = seen.clone();
        c.on(TlsSocket::SECURE_CONNECT, move |c, _| {
            let cert = c.get_peer_certificate().expect("a peer certificate");
            s.update(|v| {
                v.push(format!("alpn {:?}", c.alpn_protocol()));
                v.push(format!("cn {:?}", cert.common_name()));
                v.push(format!("san {:?}", cert.subjectaltname));
                v.push(format!(
                    "issuer {:?}",
                    cert.issuer.iter().find(|(k, _)| k == "CN")
                ));
                v.push(format!("fp256 {}", cert.fingerprint256.len()));
                v.push(format!("cipher {:?}", c.get_cipher().map(|x| x.version)));
                v.push(format!("chain {}", c.get_peer_certificate_chain().len()));
                let ekm = c
                    .export_keying_material(32, b"EXPORTER-test", None)
                    .map(|k| k.len());
                v.push(format!("ekm {ekm:?}"));
            });
        });
        c.resume();
        Ok(seen)
    })
    .expect("the loop ran");
    assert_eq!(
        seen,
        [
            "alpn Some(\"http/1.1\")",
            "cn Some(\"sni.example\")",
            "san Some(\"DNS:sni.example\")",
            "issuer Some((\"CN\", \"netloop test CA\"))",
            "fp256 95",
            "cipher Some(\"TLSv1.3\")",
            "chain 1",
            "ekm Ok(32)",
        ]
    );
}

/// Client certificates: accepted (authorized on the server), and one from
/// an untrusted CA refused (`tlsClientError` `ECONNRESET`, as Node's
/// server reports it); without one the handshake fails on the server
/// with Node's `ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE`.
#[test]
fn tls_client_certificates_accepted_and_rejected() {
    for (client, expected) in [
        (Some(&certs().client), "secure authorized=true"),
        // Node's server says `socket hang up`: the connection closed
        // before control passed to the user (tests/it/tls_server.rs).
        (Some(&certs().rogue_client), "tlsClientError ECONNRESET"),
        (
            None,
            "tlsClientError ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE",
        ),
    ] {
        let log = Log::new();
        let l = log.clone();
        netloop::run(move || {
            let _g = guard("tls client certs");
            let opts = TlsServerOptions {
                request_cert: true,
                ca: Some(certs().ca.clone().into_bytes()),
                ..server_opts(&certs().localhost)
            };
            let ls = l.clone();
            let server = tls::create_server(opts, move |_, sock| {
                ls.push(format!("secure authorized={}", sock.authorized()));
                assert_eq!(
                    sock.get_peer_certificate()
                        .and_then(|c| c.common_name().map(str::to_owned))
                        .as_deref(),
                    Some("netloop client")
                );
                sock.end();
            })?;
            let ls = l.clone();
            server.on(TlsServer::TLS_CLIENT_ERROR, move |_, e| {
                ls.push(format!("tlsClientError {}", e.error.code().as_str()));
            });
            let port = listen(&server);
            let c = tls::connect(TlsConnectOptions {
                key: client.map(|p| p.key.clone().into_bytes()),
                cert: client.map(|p| p.cert.clone().into_bytes()),
                ..client_opts(port)
            })?;
            c.on(Socket::ERROR, |_, _| {});
            c.resume();
            let ls = l.clone();
            c.on(Socket::CLOSE, move |_, _| {
                if ls.is_empty() {
                    ls.push("closed unauthorized");
                }
                server.close();
            });
            Ok(())
        })
        .expect("the loop ran");
        assert_eq!(log.entries()[0], expected);
    }
}

/// Resumption: the second connect offers the first one's session and is
/// resumed.
#[test]
fn tls_session_resumption_on_the_second_connect() {
    let reused = netloop::run_returning(|| {
        let _g = guard("tls resumption");
        let server = tls::create_server(server_opts(&certs().localhost), |_, sock| {
            sock.end_with("x");
        })?;
        let port = listen(&server);
        let reused = Slot::new(Vec::new());
        let first = tls::connect(client_opts(port))?;
        first.resume();
        let r = reused.clone();
        first.on(Socket::CLOSE, move |c, _| {
            r.update(|v| v.push(c.is_session_reused()));
            let session = c.get_session().expect("tickets arrived");
            let second = tls::connect(TlsConnectOptions {
                session: Some(session),
                ..client_opts(port)
            })
            .expect("connect");
            second.resume();
            let r = r.clone();
            let server = server.clone();
            second.on(Socket::CLOSE, move |c, _| {
                r.update(|v| v.push(c.is_session_reused()));
                server.close();
            });
        });
        Ok(reused)
    })
    .expect("the loop ran");
    assert_eq!(reused, [false, true]);
}

/// A plain-TCP client speaking HTTP to the TLS server: a clean
/// `tlsClientError` (Node: `ERR_SSL_HTTP_REQUEST`), and the connection
/// closes; no `secureConnection`.
#[test]
fn tls_garbage_client_gets_a_clean_tls_client_error() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("tls garbage");
        let server = tls::create_server(server_opts(&certs().localhost), |_, _| {
            panic!("no secure connection")
        })?;
        let ls = l.clone();
        server.on(TlsServer::TLS_CLIENT_ERROR, move |s, e| {
            ls.push(format!(
                "tlsClientError {} {}",
                e.error.code().as_str(),
                e.error
            ));
            s.close();
        });
        let port = listen(&server);
        let c = net::connect(port, "127.0.0.1")?;
        c.write("GET / HTTP/1.1\r\n\r\n");
        c.resume();
        let lc = l.clone();
        c.on(Socket::CLOSE, move |_, h| lc.push(format!("close {h}")));
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        log.entries(),
        [
            "tlsClientError ERR_SSL_HTTP_REQUEST http request",
            "close false"
        ]
    );
}

/// A client that connects and says nothing: `handshake_timeout` gives
/// `tlsClientError` `ERR_TLS_HANDSHAKE_TIMEOUT`.
#[test]
fn tls_handshake_timeout() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("tls handshake timeout");
        let opts = TlsServerOptions {
            handshake_timeout: Duration::from_millis(50),
            ..server_opts(&certs().localhost)
        };
        let server = tls::create_server(opts, |_, _| {})?;
        let ls = l.clone();
        server.on(TlsServer::TLS_CLIENT_ERROR, move |s, e| {
            assert_error(
                &e.error,
                ErrorCode::ERR_TLS_HANDSHAKE_TIMEOUT,
                "TLS handshake timeout",
            );
            ls.push("tlsClientError");
            s.close();
        });
        let port = listen(&server);
        let c = net::connect(port, "127.0.0.1")?;
        c.resume();
        let lc = l.clone();
        c.on(Socket::CLOSE, move |_, h| lc.push(format!("close {h}")));
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(log.entries(), ["tlsClientError", "close false"]);
}

/// The server closes mid-handshake: Node's client error.
#[test]
fn tls_server_gone_mid_handshake() {
    let out = netloop::run_returning(|| {
        let _g = guard("tls mid handshake");
        let server = net::create_server(|server, sock| {
            sock.once(Socket::DATA, |s, _| {
                s.end();
            });
            server.close();
        });
        server.listen(0, "127.0.0.1")?;
        let port = server.address().expect("bound").port();
        let c = tls::connect(client_opts(port))?;
        let out = Slot::new(String::new());
        let o = out.clone();
        c.on(Socket::ERROR, move |_, e| {
            o.set(format!("{} {}", e.code().as_str(), e))
        });
        Ok(out)
    })
    .expect("the loop ran");
    assert_eq!(
        out,
        "ECONNRESET Client network socket disconnected before secure TLS connection was established"
    );
}

/// STARTTLS: a plain connection that agrees to upgrade, both ends.
#[test]
fn tls_starttls_upgrades_a_plain_connection() {
    let got = netloop::run_returning(|| {
        let _g = guard("tls starttls");
        let tls_ctx = tls::create_server(server_opts(&certs().localhost), |_, sock| {
            sock.on(Socket::DATA, |s, d| {
                assert_eq!(d, b"secret");
                s.end_with("secret reply");
            });
        })?;
        let server = net::create_server(move |server, sock| {
            let tls_ctx = tls_ctx.clone();
            sock.once(Socket::DATA, move |s, d| {
                assert_eq!(d, b"STARTTLS\n");
                s.remove_all_listeners(Some("data"));
                s.write("OK\n");
                tls_ctx.upgrade(s).expect("upgrade");
            });
            server.close();
        });
        server.listen(0, "127.0.0.1")?;
        let port = server.address().expect("bound").port();
        let plain = net::connect(port, "127.0.0.1")?;
        plain.write("STARTTLS\n");
        let got = Slot::new(Vec::new());
        let g = got.clone();
        plain.once(Socket::DATA, move |s, d| {
            assert_eq!(d, b"OK\n");
            s.remove_all_listeners(Some("data"));
            let secure = tls::connect(TlsConnectOptions {
                socket: Some(s.clone()),
                servername: Some("localhost".into()),
                ..client_opts(0)
            })
            .expect("starttls");
            secure.write("secret");
            let g = g.clone();
            secure.on(Socket::DATA, move |_, d| {
                g.update(|v| v.extend_from_slice(d))
            });
        });
        Ok(got)
    })
    .expect("the loop ran");
    assert_eq!(got, b"secret reply");
}

/// TLS 1.2 only, and keylog lines.
#[test]
fn tls12_and_keylog_lines() {
    let (lines, proto) = netloop::run_returning(|| {
        let _g = guard("tls12 keylog");
        let opts = TlsServerOptions {
            max_version: TlsVersion::Tls12,
            ..server_opts(&certs().localhost)
        };
        let server = tls::create_server(opts, |server, sock| {
            sock.end();
            server.close();
        })?;
        let port = listen(&server);
        let c = tls::connect(client_opts(port))?;
        let out = Slot::new((Vec::new(), String::new()));
        let l = out.clone();
        c.on(TlsSocket::KEYLOG, move |_, line| {
            l.update(|(v, _)| v.push(String::from_utf8_lossy(line).into_owned()))
        });
        let p = out.clone();
        c.on(TlsSocket::SECURE_CONNECT, move |c, _| {
            p.update(|(_, proto)| *proto = c.get_protocol().unwrap_or("?").to_owned())
        });
        c.resume();
        Ok(out)
    })
    .expect("the loop ran");
    assert_eq!(proto, "TLSv1.2");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("CLIENT_RANDOM ") && lines[0].ends_with('\n'));
}

/// A client that resets right after its side of the handshake: its
/// Finished and its RST reach the server together, so the server's
/// handshake completes and its session tickets meet a reset connection.
/// Nobody listens on the server's socket before `secureConnection`
/// (Node's `_controlReleased`), so the failure is the server's
/// `tlsClientError`, never an `error` with no listener that would end
/// `run`: a remote must not be able to stop a TLS server.
#[test]
fn tls_client_reset_right_after_its_handshake_is_a_client_error() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("tls reset after handshake");
        let ls = l.clone();
        let server = tls::create_server(server_opts(&certs().localhost), move |s, sock| {
            // The reset may also come after control was released: then it
            // is the socket's own error, and a listener is there.
            let ls = ls.clone();
            sock.on(Socket::ERROR, move |_, e| {
                ls.push(format!("socket error {}", e.code().as_str()))
            });
            s.close();
        })?;
        let ls = l.clone();
        server.on(TlsServer::TLS_CLIENT_ERROR, move |s, e| {
            ls.push(format!("tlsClientError {}", e.error.code().as_str()));
            s.close();
        });
        let port = listen(&server);
        let c = tls::connect(client_opts(port))?;
        c.on(TlsSocket::SECURE_CONNECT, |s, _| {
            s.reset_and_destroy();
        });
        let lc = l.clone();
        c.on(Socket::CLOSE, move |_, h| {
            lc.push(format!("client close {h}"))
        });
        Ok(())
    })
    .expect("a client's reset never ends the server's loop");
    let entries = log.entries();
    assert_eq!(entries[0], "client close false", "{entries:?}");
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(
        entries[1] == "tlsClientError ECONNRESET" || entries[1] == "socket error ECONNRESET",
        "{entries:?}"
    );
}
