//! The TLS server where it meets the rest of the server: a PROXY protocol
//! header in front of the ClientHello (HAProxy's `send-proxy` before a TLS
//! backend), client certificates required and refused in Node's words,
//! resumption of a session whose client certificate was verified, and
//! one config shared by the servers of several loops.
//! (Node as the peer: `tests/tls_interop.rs`.)

use std::net::SocketAddr;

use netloop::net::{ConnectOptions, ServerOptions, Socket};
use netloop::proxy::{ProxyHeader, ProxyProtocol, ProxyVersion};
use netloop::tls::{
    self, TlsConnectOptions, TlsServer, TlsServerConfig, TlsServerOptions, TlsSocket, TlsVersion,
};
use netloop::Slot;

use crate::tls::{certs, client_opts, listen, server_opts};
use crate::util::{guard, pattern, Log};

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("a socket address literal")
}

/// A PROXY header, then TLS on the same connection, in both versions of
/// the header: the server reads the header first, `secureConnection`
/// sees the client the header names (the proxy is `transport_peer`), the
/// ClientHello that came in the same segment as the header reaches the
/// TLS layer, and 1 MiB goes through byte-exact with `bytes_read`
/// counting plaintext only (neither the header nor the ClientHello).
#[test]
fn tls_behind_a_proxy_header_sees_the_original_client() {
    for version in [ProxyVersion::V1, ProxyVersion::V2] {
        let log = Log::new();
        let l = log.clone();
        let echoed = netloop::run_returning(move || {
            let _g = guard("tls behind a proxy header");
            let opts = TlsServerOptions {
                net: ServerOptions {
                    proxy_protocol: ProxyProtocol::Required,
                    ..ServerOptions::default()
                },
                ..server_opts(&certs().localhost)
            };
            let ls = l.clone();
            let server = tls::create_server(opts, move |server, sock: &TlsSocket| {
                ls.push(format!(
                    "secureConnection {:?}:{:?} via {:?} header {}",
                    sock.remote_address(),
                    sock.remote_port(),
                    sock.transport_peer().map(|a| a.ip()),
                    sock.proxy_header().is_some(),
                ));
                sock.pipe(sock);
                let ls = ls.clone();
                sock.on(Socket::END, move |s, _| {
                    ls.push(format!("server bytes_read {}", s.bytes_read()));
                });
                server.close();
            })?;
            let ls = l.clone();
            server.on(netloop::net::Server::CLIENT_ERROR, move |_, e| {
                ls.push(format!("clientError {}", e.error));
            });
            let port = listen(&server);
            let header = ProxyHeader::proxy(addr("203.0.113.7:40000"), addr("192.0.2.1:443"))
                .with_version(version);
            let c = tls::connect(TlsConnectOptions {
                servername: Some("localhost".into()),
                net: ConnectOptions {
                    proxy_protocol: Some(header),
                    ..ConnectOptions::default()
                },
                ..client_opts(port)
            })?;
            c.end_with(pattern(1 << 20));
            let got = Slot::new(Vec::new());
            let g = got.clone();
            c.on(Socket::DATA, move |_, d| {
                g.update(|v| v.extend_from_slice(d))
            });
            Ok(got)
        })
        .expect("the loop ran");
        assert_eq!(
            log.entries(),
            [
                "secureConnection Some(203.0.113.7):Some(40000) via Some(127.0.0.1) header true",
                "server bytes_read 1048576",
            ],
            "{version:?}"
        );
        assert!(echoed == pattern(1 << 20), "{version:?}: echo differs");
    }
}

/// Client certificates required (`request_cert` with
/// `reject_unauthorized`), Node 20's outcomes, verified with a `node -e`
/// server first: no certificate fails the handshake
/// (`ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE`); a certificate from an
/// untrusted CA completes the handshake and is closed at once, which
/// Node's server reports as `tlsClientError` `ECONNRESET` `socket hang
/// up` (its `onSocketClose`: the socket closed before control passed to
/// the user), with no `secureConnection`. The client of a refused
/// certificate reads nothing; over TLS 1.2 it never sees the server's
/// Finished, so its handshake fails (Node's client says `ECONNRESET`).
#[test]
fn tls_required_client_certificate_refused_in_nodes_words() {
    let cases = [
        (
            None,
            TlsVersion::Tls13,
            "tlsClientError ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE peer did not return a certificate",
        ),
        (
            Some(&certs().rogue_client),
            TlsVersion::Tls13,
            "tlsClientError ECONNRESET socket hang up",
        ),
        (
            Some(&certs().rogue_client),
            TlsVersion::Tls12,
            "tlsClientError ECONNRESET socket hang up",
        ),
    ];
    for (client, version, expected) in cases {
        let log = Log::new();
        let l = log.clone();
        netloop::run(move || {
            let _g = guard("tls client certificate refused");
            let opts = TlsServerOptions {
                request_cert: true,
                ca: Some(certs().ca.clone().into_bytes()),
                ..server_opts(&certs().localhost)
            };
            let server = tls::create_server(opts, |_, _| panic!("no secureConnection"))?;
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
            let c = tls::connect(TlsConnectOptions {
                key: client.map(|p| p.key.clone().into_bytes()),
                cert: client.map(|p| p.cert.clone().into_bytes()),
                max_version: version,
                ..client_opts(port)
            })?;
            let lc = l.clone();
            c.on(Socket::DATA, move |_, d| {
                lc.push(format!("client data {d:?}"))
            });
            let lc = l.clone();
            c.on(Socket::ERROR, move |_, e| {
                lc.push(format!("client error {}", e.code().as_str()))
            });
            Ok(())
        })
        .expect("the loop ran");
        let entries = log.entries();
        assert_eq!(
            log.starting_with("tlsClientError"),
            [expected],
            "{version:?}: {entries:?}"
        );
        assert!(log.starting_with("client data").is_empty(), "{entries:?}");
        if version == TlsVersion::Tls12 {
            assert!(log.contains("client error ECONNRESET"), "{entries:?}");
        }
    }
}

/// A client certificate asked for but not required (`request_cert`
/// without `reject_unauthorized`) and not sent: `secureConnection`, not
/// authorized, and Node 20's `authorizationError`,
/// `UNABLE_TO_GET_ISSUER_CERT` (checked with a `node -e` server, with and
/// without a `ca`).
#[test]
fn tls_requested_client_certificate_missing_is_unable_to_get_issuer_cert() {
    let got = netloop::run_returning(|| {
        let _g = guard("tls client certificate missing");
        let got = Slot::new(String::new());
        let g = got.clone();
        let opts = TlsServerOptions {
            request_cert: true,
            reject_unauthorized: false,
            ca: Some(certs().ca.clone().into_bytes()),
            ..server_opts(&certs().localhost)
        };
        let server = tls::create_server(opts, move |server, sock| {
            let err = sock.authorization_error().expect("no certificate came");
            g.set(format!(
                "authorized={} {} {err}",
                sock.authorized(),
                err.code().as_str()
            ));
            sock.end();
            server.close();
        })?;
        let port = listen(&server);
        tls::connect(client_opts(port))?.resume();
        Ok(got)
    })
    .expect("the loop ran");
    assert_eq!(
        got,
        "authorized=false UNABLE_TO_GET_ISSUER_CERT unable to get issuer certificate"
    );
}

/// A session resumed by a client whose certificate was verified on the
/// first connection stays authorized on a server that requires client
/// certificates (OpenSSL keeps the verification result in the session;
/// so does netloop), over TLS 1.3 and TLS 1.2.
#[test]
fn tls_resumed_session_keeps_its_client_certificate_authorized() {
    for version in [TlsVersion::Tls13, TlsVersion::Tls12] {
        let seen = netloop::run_returning(move || {
            let _g = guard("tls resumption with client certificates");
            let seen = Slot::new(Vec::new());
            let s = seen.clone();
            let opts = TlsServerOptions {
                request_cert: true,
                ca: Some(certs().ca.clone().into_bytes()),
                max_version: version,
                ..server_opts(&certs().localhost)
            };
            let server = tls::create_server(opts, move |_, sock| {
                s.update(|v| {
                    v.push(format!(
                        "reused={} authorized={}",
                        sock.is_session_reused(),
                        sock.authorized()
                    ))
                });
                sock.end_with("x");
            })?;
            let port = listen(&server);
            let with_cert = TlsConnectOptions {
                key: Some(certs().client.key.clone().into_bytes()),
                cert: Some(certs().client.cert.clone().into_bytes()),
                ..client_opts(port)
            };
            let first = tls::connect(with_cert.clone())?;
            first.resume();
            first.on(Socket::CLOSE, move |c, _| {
                let second = tls::connect(TlsConnectOptions {
                    session: c.get_session(),
                    ..with_cert.clone()
                })
                .expect("connect");
                second.resume();
                let server = server.clone();
                second.on(Socket::CLOSE, move |_, _| {
                    server.close();
                });
            });
            Ok(seen)
        })
        .expect("the loop ran");
        assert_eq!(
            seen,
            [
                "reused=false authorized=true",
                "reused=true authorized=true"
            ],
            "{version:?}"
        );
    }
}

/// One [`TlsServerConfig`] built once and given to the servers of two
/// loops (two threads, as the workers of a cluster): a session ticket one
/// server issued resumes on the other, since they share its ticket keys.
#[test]
fn tls_server_config_is_shared_across_loops_and_so_are_tickets() {
    let config = TlsServerConfig::new(&server_opts(&certs().localhost)).expect("a config");
    let (ports_tx, ports_rx) = std::sync::mpsc::channel();
    let mut servers = Vec::new();
    for _ in 0..2 {
        let (config, ports_tx) = (config.clone(), ports_tx.clone());
        servers.push(std::thread::spawn(move || {
            netloop::run(move || {
                let _g = guard("tls shared config server");
                let server =
                    TlsServer::from_config(&config, netloop::net::ServerOptions::default());
                server.on(TlsServer::SECURE_CONNECTION, |s, sock| {
                    sock.end_with(if sock.is_session_reused() {
                        "resumed"
                    } else {
                        "full"
                    });
                    s.close();
                });
                let port = listen(&server);
                ports_tx.send(port).expect("the test waits");
                Ok(())
            })
            .expect("the server loop ran");
        }));
    }
    let (a, b) = (
        ports_rx.recv().expect("a port"),
        ports_rx.recv().expect("a port"),
    );
    let replies = netloop::run_returning(move || {
        let _g = guard("tls shared config client");
        let replies = Slot::new(Vec::new());
        let first = tls::connect(client_opts(a))?;
        let r = replies.clone();
        first.on(Socket::DATA, move |_, d| {
            r.update(|v| v.push(String::from_utf8_lossy(d).into_owned()))
        });
        let r = replies.clone();
        first.on(Socket::CLOSE, move |c, _| {
            let second = tls::connect(TlsConnectOptions {
                session: c.get_session(),
                ..client_opts(b)
            })
            .expect("connect");
            let r = r.clone();
            second.on(Socket::DATA, move |_, d| {
                r.update(|v| v.push(String::from_utf8_lossy(d).into_owned()))
            });
        });
        Ok(replies)
    })
    .expect("the loop ran");
    for s in servers {
        s.join().expect("a server thread");
    }
    assert_eq!(replies, ["full", "resumed"]);
}

/// A self-signed server certificate marked as a CA (what `openssl req
/// -x509` makes by default), as Node 20 takes it (checked with `node
/// -e`): untrusted, `DEPTH_ZERO_SELF_SIGNED_CERT`; given as the client's
/// `ca`, trusted as it is; with the wrong name, Node's altname error.
#[test]
fn tls_self_signed_ca_certificate_as_node_takes_it() {
    let pair = &certs().self_signed_ca;
    let trusted = Some(pair.cert.clone().into_bytes());
    let cases = [
        (None, None, "error DEPTH_ZERO_SELF_SIGNED_CERT self-signed certificate"),
        (trusted.clone(), None, "secureConnect authorized=true"),
        (
            trusted,
            Some("wrong.example"),
            "error ERR_TLS_CERT_ALTNAME_INVALID Hostname/IP does not match certificate's altnames: \
             Host: wrong.example. is not in the cert's altnames: DNS:localhost, IP Address:127.0.0.1",
        ),
    ];
    for (ca, servername, expected) in cases {
        let got = netloop::run_returning(move || {
            let _g = guard("tls self-signed CA certificate");
            let server = tls::create_server(server_opts(pair), |server, sock| {
                // A client that refused the server resets the connection.
                sock.on(Socket::ERROR, |_, _| {});
                sock.end();
                server.close();
            })?;
            let ls = server.clone();
            server.on(TlsServer::TLS_CLIENT_ERROR, move |_, _| {
                ls.close();
            });
            let port = listen(&server);
            let c = tls::connect(TlsConnectOptions {
                ca,
                servername: servername.map(str::to_owned),
                ..client_opts(port)
            })?;
            c.resume();
            let got = Slot::new(String::new());
            let g = got.clone();
            c.on(TlsSocket::SECURE_CONNECT, move |c, _| {
                g.set(format!("secureConnect authorized={}", c.authorized()))
            });
            let g = got.clone();
            c.on(Socket::ERROR, move |_, e| {
                g.set(format!("error {} {e}", e.code().as_str()))
            });
            Ok(got)
        })
        .expect("the loop ran");
        assert_eq!(got, expected);
    }
}
