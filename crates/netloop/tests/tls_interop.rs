//! netloop's TLS against independent peers: Node 20's `tls` and Debian's
//! `openssl s_client` / `s_server`, with certificates made at test time.
//!
//! A binary of its own: it spawns processes (see `util` on why `tests/it`
//! never does), and each test holds `util::serial()` since it mixes
//! in-process sockets with children.

#[path = "util/certs.rs"]
mod certs;
#[path = "util/mod.rs"]
mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use netloop::net::Socket;
use netloop::tls::{self, SecureContext, TlsConnectOptions, TlsServerOptions, TlsSocket};
use netloop::Slot;

use certs::Certs;
use util::{guard_secs, pattern, serial};

/// The certificates, and the directory `node` and `openssl` read them from.
fn certs() -> &'static (Certs, PathBuf) {
    static CERTS: OnceLock<(Certs, PathBuf)> = OnceLock::new();
    CERTS.get_or_init(|| {
        let c = Certs::new();
        let dir = std::env::temp_dir().join(format!("netloop-tls-interop-{}", std::process::id()));
        let dir = c.write_to(&dir);
        (c, dir)
    })
}

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(certs().1.join(name)).expect("a PEM written by certs()")
}

/// Run `node -e script` with `CERTS` and `PORT` in its environment.
fn node(script: &str, port: u16) -> Child {
    Command::new("node")
        .arg("-e")
        .arg(script)
        .env("CERTS", &certs().1)
        .env("PORT", port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node is installed (.ci/run installs it)")
}

/// Wait for a child and return its stdout, lines.
fn output_of(mut child: Child) -> Vec<String> {
    let mut out = String::new();
    if let Some(mut so) = child.stdout.take() {
        so.read_to_string(&mut out).expect("child output");
    }
    let status = child.wait().expect("the child ran");
    assert!(status.success(), "child failed: {status}; output: {out}");
    out.lines().map(str::to_owned).collect()
}

fn server_opts() -> TlsServerOptions {
    let c = &certs().0;
    TlsServerOptions {
        key: c.localhost.key.clone().into_bytes(),
        cert: c.localhost.cert.clone().into_bytes(),
        ..TlsServerOptions::default()
    }
}

/// Node's `tls` client against netloop's TLS server: the seed's dialogue,
/// 1 MiB each way with a half-close, ALPN, SNI picking a certificate, a
/// client certificate, and resumption seen as resumed by Node.
///
/// Node 20 prints, against itself, the same lines as here (the script
/// ran against `tls.createServer` with the same options first).
#[test]
fn node_tls_client_against_netloop_tls_server() {
    const CLIENT: &str = r#"
const tls = require('tls'), fs = require('fs'), crypto = require('crypto');
const r = f => fs.readFileSync(process.env.CERTS + '/' + f);
const base = { port: +process.env.PORT, host: '127.0.0.1', ca: r('ca.pem'), servername: 'localhost' };
const once = (opts, f) => new Promise(res => { const c = tls.connect(Object.assign({}, base, opts)); f(c, res); });
setTimeout(() => { console.log('node timed out'); process.exit(2); }, 20000).unref();
(async () => {
  await once({ ALPNProtocols: ['http/1.1'] }, (c, res) => {
    c.on('secureConnect', () => { console.log('dialogue', c.authorized, c.getProtocol(), c.alpnProtocol); c.write('I am Chuck Norris!'); });
    c.on('data', d => { console.log('DATA: ' + d); c.end(); });
    c.on('close', res);
  });
  await once({}, (c, res) => {
    const big = Buffer.alloc(1 << 20); for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 255;
    const got = [];
    c.on('secureConnect', () => { c.end(big); });
    c.on('data', d => got.push(d));
    c.on('end', () => { const all = Buffer.concat(got); console.log('bulk', all.length, all.equals(big), c.bytesRead); });
    c.on('close', res);
  });
  await once({ servername: 'sni.example' }, (c, res) => {
    c.on('secureConnect', () => { console.log('sni', c.authorized, c.getPeerCertificate().subject.CN); c.end(); });
    c.resume(); c.on('close', res);
  });
  await once({ key: r('client.key'), cert: r('client.pem') }, (c, res) => {
    c.on('secureConnect', () => c.end('who am I'));
    c.on('data', d => console.log('client cert: ' + d));
    c.on('close', res);
  });
  let session;
  await once({}, (c, res) => {
    c.on('session', s => { session = s; });
    c.on('secureConnect', () => { console.log('first reused', c.isSessionReused()); c.end(); });
    c.resume(); c.on('close', res);
  });
  await once({ session }, (c, res) => {
    c.on('secureConnect', () => { console.log('second reused', c.isSessionReused()); c.end(); });
    c.resume(); c.on('close', res);
  });
})();
"#;
    let _s = serial();
    let server_log = netloop::run_returning(|| {
        let _g = guard_secs("node client", 30);
        let log = Slot::new(Vec::<String>::new());
        let opts = TlsServerOptions {
            alpn_protocols: vec!["h2".into(), "http/1.1".into()],
            request_cert: true,
            reject_unauthorized: false,
            ca: Some(certs().0.ca.clone().into_bytes()),
            ..server_opts()
        };
        let l = log.clone();
        let server = tls::create_server(opts, move |server, sock: &TlsSocket| {
            let cert_cn = sock
                .get_peer_certificate()
                .and_then(|c| c.common_name().map(str::to_owned));
            if let Some(cn) = cert_cn {
                assert!(sock.authorized());
                sock.on(Socket::DATA, move |s, _| {
                    s.write(format!("you are {cn}"));
                });
                sock.on(Socket::END, |s, _| {
                    s.end();
                });
            } else {
                // The seed's answer for the dialogue, an echo for the rest
                // (pipe ends our side when the client ends).
                sock.on(Socket::DATA, |s, d| {
                    if d == b"I am Chuck Norris!" {
                        s.write(format!("You said \"{}\"", String::from_utf8_lossy(d)));
                    } else if !s.write(d) {
                        s.pause();
                    }
                });
                sock.on(Socket::DRAIN, |s, _| {
                    s.resume();
                });
                sock.on(Socket::END, |s, _| {
                    s.end();
                });
            }
            l.update(|v| {
                v.push(format!(
                    "secureConnection reused={}",
                    sock.is_session_reused()
                ))
            });
            // The script makes six connections, one after another.
            if l.update(|v| v.len()) == 6 {
                server.close();
            }
        })?;
        let sni = &certs().0.sni;
        server.add_context(
            "sni.example",
            SecureContext::new(sni.key.as_bytes(), sni.cert.as_bytes())?,
        );
        server.listen(0, "127.0.0.1")?;
        let port = server.address().expect("bound").port();
        let child = node(CLIENT, port);
        CHILD.with(|c| *c.borrow_mut() = Some(child));
        Ok(log)
    })
    .expect("the loop ran");
    let child = CHILD.with(|c| c.borrow_mut().take()).expect("the child");
    assert_eq!(
        output_of(child),
        [
            "dialogue true TLSv1.3 http/1.1",
            "DATA: You said \"I am Chuck Norris!\"",
            "bulk 1048576 true 1048576",
            "sni true sni.example",
            "client cert: you are netloop client",
            "first reused false",
            "second reused true",
        ]
    );
    assert_eq!(
        server_log
            .iter()
            .filter(|l| l.starts_with("secureConnection"))
            .count(),
        6
    );
    assert_eq!(
        server_log.last().map(String::as_str),
        Some("secureConnection reused=true")
    );
}

thread_local! {
    static CHILD: std::cell::RefCell<Option<Child>> = const { std::cell::RefCell::new(None) };
}

/// A Node `tls` server (echo, ALPN `h2`) for netloop's client; prints its
/// port, serves `n` connections, exits.
fn node_tls_server(n: usize) -> (Child, u16) {
    let script = format!(
        r#"
const tls = require('tls'), fs = require('fs');
const r = f => fs.readFileSync(process.env.CERTS + '/' + f);
let left = {n};
const srv = tls.createServer({{ key: r('localhost.key'), cert: r('localhost.pem'), ALPNProtocols: ['h2'] }}, s => {{
  s.pipe(s); s.on('error', () => {{}});
  s.on('close', () => {{ if (--left === 0) srv.close(); }});
}});
srv.on('tlsClientError', (e) => {{ console.log('tlsClientError ' + e.code); if (--left === 0) srv.close(); }});
srv.listen(0, '127.0.0.1', () => console.log(srv.address().port));
setTimeout(() => process.exit(2), 20000).unref();
"#
    );
    let mut child = node(&script, 0);
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped");
    let mut reader = BufReader::new(stdout);
    reader.read_line(&mut line).expect("the port line");
    let port: u16 = line.trim().parse().expect("a port");
    // Give the rest of stdout back to the child for output_of.
    let rest = reader.into_inner();
    child.stdout = Some(rest);
    (child, port)
}

/// netloop's TLS client against Node's `tls` server: 1 MiB each way
/// byte-exact with a half-close, ALPN agreed, a wrong host name rejected
/// with Node's code and words, and resumption on the second connect.
#[test]
fn netloop_tls_client_against_node_tls_server() {
    let _s = serial();
    let (child, port) = node_tls_server(4);
    let log = netloop::run_returning(move || {
        let _g = guard_secs("node server", 30);
        let log = Slot::new(Vec::<String>::new());
        let base = TlsConnectOptions {
            port,
            host: Some("127.0.0.1".into()),
            servername: Some("localhost".into()),
            ca: Some(pem("ca.pem")),
            alpn_protocols: vec!["h2".into()],
            ..TlsConnectOptions::default()
        };
        // 1 MiB each way.
        let big = pattern(1 << 20);
        let c = tls::connect(base.clone())?;
        c.end_with(&big);
        let got = Slot::new(Vec::new());
        let g = got.clone();
        c.on(Socket::DATA, move |_, d| {
            g.update(|v| v.extend_from_slice(d))
        });
        let l = log.clone();
        c.on(TlsSocket::SECURE_CONNECT, move |c, _| {
            l.update(|v| v.push(format!("secure {} {:?}", c.authorized(), c.alpn_protocol())));
        });
        let (l, b2) = (log.clone(), base.clone());
        c.on(Socket::CLOSE, move |c, _| {
            let all = got.get();
            l.update(|v| {
                v.push(format!(
                    "bulk {} {} {}",
                    all.len(),
                    all == pattern(1 << 20),
                    c.bytes_written()
                ))
            });
            // A wrong host name: Node's code and words.
            let bad = tls::connect(TlsConnectOptions {
                servername: Some("wrong.example".into()),
                ..b2.clone()
            })
            .expect("connect");
            let l2 = l.clone();
            bad.on(Socket::ERROR, move |_, e| {
                l2.update(|v| v.push(format!("{}: {}", e.code().as_str(), e)))
            });
            let (l3, b3) = (l.clone(), b2.clone());
            bad.on(Socket::CLOSE, move |_, _| {
                // Resumption: the session of a first connect resumes a second.
                let first = tls::connect(b3.clone()).expect("connect");
                first.on(TlsSocket::SECURE_CONNECT, |c, _| {
                    c.end();
                });
                first.resume();
                let (l4, b4) = (l3.clone(), b3.clone());
                first.on(Socket::CLOSE, move |c, _| {
                    l4.update(|v| v.push(format!("first reused {}", c.is_session_reused())));
                    let second = tls::connect(TlsConnectOptions {
                        session: c.get_session(),
                        ..b4.clone()
                    })
                    .expect("connect");
                    second.on(TlsSocket::SECURE_CONNECT, |c, _| {
                        c.end();
                    });
                    second.resume();
                    let l5 = l4.clone();
                    second.on(Socket::CLOSE, move |c, _| {
                        l5.update(|v| v.push(format!("second reused {}", c.is_session_reused())));
                    });
                });
            });
        });
        Ok(log)
    })
    .expect("the loop ran");
    assert_eq!(
        log,
        [
            "secure true Some(\"h2\")",
            "bulk 1048576 true 1048576",
            "ERR_TLS_CERT_ALTNAME_INVALID: Hostname/IP does not match certificate's altnames: \
             Host: wrong.example. is not in the cert's altnames: DNS:localhost, IP Address:127.0.0.1",
            "first reused false",
            "second reused true",
        ]
    );
    // Node's server saw the rejecting client leave mid-handshake or right
    // after it; either way it served every connection and exited.
    let out = output_of(child);
    assert!(out.len() <= 1, "{out:?}");
}

/// `openssl s_client` against netloop's TLS server: it verifies the
/// chain and the name, sends a line and prints the reply.
#[test]
fn openssl_s_client_against_netloop_tls_server() {
    let _s = serial();
    let got = netloop::run_returning(|| {
        let _g = guard_secs("s_client", 30);
        let got = Slot::new(String::new());
        let server = tls::create_server(server_opts(), |server, sock| {
            sock.on(Socket::DATA, |s, d| {
                let text = String::from_utf8_lossy(d).trim().to_owned();
                s.end_with(format!("netloop heard: {text}\n"));
            });
            server.close();
        })?;
        server.listen(0, "127.0.0.1")?;
        let port = server.address().expect("bound").port();
        let mut child = Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
            .args([
                "-servername",
                "localhost",
                "-verify_hostname",
                "localhost",
                "-verify_return_error",
            ])
            .arg("-CAfile")
            .arg(certs().1.join("ca.pem"))
            .arg("-quiet")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl is installed (.ci/run installs it)");
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(b"hello from openssl\n")
            .expect("s_client stdin");
        CHILD.with(|c| *c.borrow_mut() = Some(child));
        let g = got.clone();
        server.on(netloop::net::Server::CLOSE, move |_, _| {
            g.set("closed".into())
        });
        Ok(got)
    })
    .expect("the loop ran");
    assert_eq!(got, "closed");
    let child = CHILD.with(|c| c.borrow_mut().take()).expect("the child");
    assert_eq!(output_of(child), ["netloop heard: hello from openssl"]);
}

/// netloop's TLS client against `openssl s_server -rev` (it answers each
/// line reversed).
#[test]
fn netloop_tls_client_against_openssl_s_server() {
    let _s = serial();
    let port = util::free_port().release();
    let mut child = Command::new("openssl")
        .args([
            "s_server",
            "-accept",
            &port.to_string(),
            "-naccept",
            "1",
            "-rev",
        ])
        .arg("-key")
        .arg(certs().1.join("localhost.key"))
        .arg("-cert")
        .arg(certs().1.join("localhost.pem"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl is installed");
    // s_server prints ACCEPT once it listens.
    let mut reader = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    while reader.read_line(&mut line).expect("s_server output") > 0 && !line.contains("ACCEPT") {
        line.clear();
    }
    let got = netloop::run_returning(move || {
        let _g = guard_secs("s_server", 30);
        let c = tls::connect(TlsConnectOptions {
            port,
            host: Some("127.0.0.1".into()),
            servername: Some("localhost".into()),
            ca: Some(pem("ca.pem")),
            ..TlsConnectOptions::default()
        })?;
        c.write("hello openssl\n");
        let got = Slot::new(String::new());
        let g = got.clone();
        c.on(Socket::DATA, move |c, d| {
            g.update(|s| s.push_str(&String::from_utf8_lossy(d)));
            if g.get().ends_with('\n') {
                c.destroy();
            }
        });
        Ok(got)
    })
    .expect("the loop ran");
    assert_eq!(got, "lssnepo olleh\n");
    let _ = child.kill();
    let _ = child.wait();
}

/// Node's `tls` client, with no certificate, an untrusted one and a
/// trusted one, against a netloop server that requires client
/// certificates (`request_cert` with `reject_unauthorized`), over TLS 1.3
/// and 1.2. The client script printed these same lines against Node 20's
/// own `tls.createServer({ requestCert: true, ca })`, whose
/// `tlsClientError`s were the same codes: without a certificate the
/// server fails the handshake with an alert (certificate required in TLS
/// 1.3, once the client has already seen `secureConnect`; handshake
/// failure in 1.2), and an untrusted certificate completes the handshake
/// and is closed at once, which the server reports as `ECONNRESET`
/// (`socket hang up`) and a TLS 1.2 client sees as a handshake cut short.
#[test]
fn node_tls_client_certificates_refused_by_netloop_tls_server() {
    const CLIENT: &str = r#"
const tls = require('tls'), fs = require('fs');
const r = f => fs.readFileSync(process.env.CERTS + '/' + f);
const base = { port: +process.env.PORT, host: '127.0.0.1', ca: r('ca.pem'), servername: 'localhost' };
setTimeout(() => { console.log('node timed out'); process.exit(2); }, 20000).unref();
const trial = (name, opts) => new Promise(res => {
  const c = tls.connect(Object.assign({}, base, opts));
  const seen = [];
  c.on('secureConnect', () => seen.push('secureConnect'));
  c.on('data', d => seen.push('data ' + d));
  c.on('error', e => seen.push('error ' + e.code));
  c.on('close', h => { seen.push('close ' + h); console.log(name + ': ' + seen.join(', ')); res(); });
});
(async () => {
  await trial('no cert TLSv1.3', {});
  await trial('no cert TLSv1.2', { maxVersion: 'TLSv1.2' });
  await trial('untrusted cert TLSv1.3', { key: r('rogue.key'), cert: r('rogue.pem') });
  await trial('untrusted cert TLSv1.2', { key: r('rogue.key'), cert: r('rogue.pem'), maxVersion: 'TLSv1.2' });
  await trial('trusted cert', { key: r('client.key'), cert: r('client.pem') });
})();
"#;
    let _s = serial();
    let server_log = netloop::run_returning(|| {
        let _g = guard_secs("node client certificates", 30);
        let log = Slot::new(Vec::<String>::new());
        let opts = TlsServerOptions {
            request_cert: true,
            ca: Some(certs().0.ca.clone().into_bytes()),
            ..server_opts()
        };
        // Five connections, each ends in one of the two events.
        let outcome = |log: &Slot<Vec<String>>, server: &tls::TlsServer, line: String| {
            log.update(|v| v.push(line));
            if log.update(|v| v.len()) == 5 {
                server.close();
            }
        };
        let l = log.clone();
        let server = tls::create_server(opts, move |server, sock: &TlsSocket| {
            outcome(
                &l,
                server,
                format!("secureConnection {}", sock.authorized()),
            );
            sock.end_with("welcome");
        })?;
        let l = log.clone();
        server.on(tls::TlsServer::TLS_CLIENT_ERROR, move |server, e| {
            let line = format!("tlsClientError {}: {}", e.error.code().as_str(), e.error);
            outcome(&l, server, line);
        });
        server.listen(0, "127.0.0.1")?;
        let port = server.address().expect("bound").port();
        let child = node(CLIENT, port);
        CHILD.with(|c| *c.borrow_mut() = Some(child));
        Ok(log)
    })
    .expect("the loop ran");
    let child = CHILD.with(|c| c.borrow_mut().take()).expect("the child");
    assert_eq!(
        output_of(child),
        [
            "no cert TLSv1.3: secureConnect, error ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED, close false",
            "no cert TLSv1.2: error ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE, close true",
            "untrusted cert TLSv1.3: secureConnect, close false",
            "untrusted cert TLSv1.2: error ECONNRESET, close true",
            "trusted cert: secureConnect, data welcome, close false",
        ]
    );
    assert_eq!(
        server_log,
        [
            "tlsClientError ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE: peer did not return a certificate",
            "tlsClientError ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE: peer did not return a certificate",
            "tlsClientError ECONNRESET: socket hang up",
            "tlsClientError ECONNRESET: socket hang up",
            "secureConnection true",
        ]
    );
}

/// Plain TCP clients that do not speak TLS (Node's `net`: an HTTP
/// request, bytes that are no TLS record, and a client that connects and
/// leaves) against a netloop TLS server: each is one clean
/// `tlsClientError` with Node 20's code and words, checked against Node's
/// own `tls.createServer` (`ERR_SSL_HTTP_REQUEST`,
/// `ERR_SSL_WRONG_VERSION_NUMBER`, `ECONNRESET` `socket hang up`); the
/// client reads nothing back, as from Node's server, only the close; and
/// no descriptor is left open once the loop has ended.
#[test]
fn node_plain_clients_get_clean_tls_client_errors_and_leak_nothing() {
    const CLIENT: &str = r#"
const net = require('net');
setTimeout(() => { console.log('node timed out'); process.exit(2); }, 20000).unref();
const trial = (name, bytes) => new Promise(res => {
  const c = net.connect(+process.env.PORT, '127.0.0.1', () => { if (bytes) c.write(bytes); else c.end(); });
  let got = 0;
  c.on('data', d => { got += d.length; });
  c.on('error', e => console.log(name + ' error ' + e.code));
  c.on('close', () => { console.log(name + ': read ' + got + ' bytes, closed'); res(); });
});
(async () => {
  await trial('http', 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await trial('garbage', Buffer.from([0x9c, 0x01, 0xff, 0x33, 0x10, 0x42, 0x00, 0x07, 0x88, 0x99, 0xaa]));
  await trial('text', 'hello, this is not TLS\n');
  await trial('silent', null);
})();
"#;
    let _s = serial();
    // Before anything of this test opens: the certificates are files, read
    // and closed; the child's pipes are closed once its output is read.
    let _ = certs();
    let before = util::fd_set();
    let server_log = netloop::run_returning(|| {
        let _g = guard_secs("node plain clients", 30);
        let log = Slot::new(Vec::<String>::new());
        let server = tls::create_server(server_opts(), |_, _| panic!("no secureConnection"))?;
        let l = log.clone();
        server.on(tls::TlsServer::TLS_CLIENT_ERROR, move |server, e| {
            l.update(|v| v.push(format!("{}: {}", e.error.code().as_str(), e.error)));
            if l.update(|v| v.len()) == 4 {
                server.close();
            }
        });
        server.listen(0, "127.0.0.1")?;
        let port = server.address().expect("bound").port();
        let child = node(CLIENT, port);
        CHILD.with(|c| *c.borrow_mut() = Some(child));
        Ok(log)
    })
    .expect("the loop ran");
    let child = CHILD.with(|c| c.borrow_mut().take()).expect("the child");
    assert_eq!(
        output_of(child),
        [
            "http: read 0 bytes, closed",
            "garbage: read 0 bytes, closed",
            "text: read 0 bytes, closed",
            "silent: read 0 bytes, closed",
        ]
    );
    assert_eq!(
        server_log,
        [
            "ERR_SSL_HTTP_REQUEST: http request",
            "ERR_SSL_WRONG_VERSION_NUMBER: wrong version number",
            "ERR_SSL_WRONG_VERSION_NUMBER: wrong version number",
            "ECONNRESET: socket hang up",
        ]
    );
    assert_eq!(
        util::left_open(&before),
        Vec::<String>::new(),
        "descriptors left open by failed handshakes"
    );
}
