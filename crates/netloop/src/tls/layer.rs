//! The TLS layer: rustls between the socket's Node rules and its stream
//! handle. Ciphertext goes in and out below, plaintext above.
//!
//! The layer does no I/O and calls no user code: the socket hands it what
//! the stream read ([`TlsLayer::feed`]), and gets back the plaintext to
//! deliver, the bytes to write (handshake flights, alerts) and what
//! happened (the handshake completed, the peer's `close_notify`, an
//! error). Writes go the other way through [`TlsLayer::encrypt`]. The
//! socket side of this contract is `net/socket/tls.rs`.

use std::io::{BufRead, Write};
use std::rc::Rc;
use std::sync::Arc;

use rustls::pki_types::{ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, Connection, HandshakeKind, ServerConfig, ServerConnection,
};

use super::cert::PeerCertificate;
use super::errors;
use super::hooks;
use super::{Cipher, TlsSession};
use crate::error::{Error, ErrorCode};

/// Node's `checkServerIdentity(hostname, cert)`: `Some(error)` rejects.
pub type CheckServerIdentity = Rc<dyn Fn(&str, &PeerCertificate) -> Option<Error>>;

/// Which side of the handshake this end plays.
pub(crate) enum Role {
    Client {
        /// The name the certificate must carry (Node: `servername` or
        /// `host`).
        host: String,
        check_server_identity: Option<CheckServerIdentity>,
    },
    Server {
        /// With `request_cert`: the client certificate verifier, to check
        /// a resumed session's certificate again.
        client_verifier: Option<Arc<hooks::ClientVerifier>>,
    },
}

/// What one [`TlsLayer::feed`] produced.
#[derive(Default)]
pub(crate) struct Fed {
    /// Ciphertext to write: handshake messages, tickets, alerts.
    pub out: Vec<u8>,
    /// The handshake completed with these bytes.
    pub secure_now: bool,
    /// The peer sent `close_notify`: nothing more will be read.
    pub eof: bool,
    /// The connection failed.
    pub error: Option<Error>,
    /// NSS key log lines (when asked for).
    pub keylog: Vec<Vec<u8>>,
    /// Session tickets (or a TLS 1.2 session) the server gave this client.
    pub sessions: usize,
}

/// One connection's TLS state. Boxed in the socket's state, so plain TCP
/// sockets carry one pointer for it.
pub(crate) struct TlsLayer {
    conn: Connection,
    pub(crate) role: Role,
    pub(crate) reject_unauthorized: bool,
    secure: bool,
    /// The socket emitted `secure`: the user holds it now (Node's
    /// `_controlReleased`, set at `secureConnection` on a server). Until
    /// then a server socket's failures are the server's `tlsClientError`.
    pub(crate) released: bool,
    /// `settle` ran: `authorized` and `authorization_error` are final.
    settled: bool,
    close_notify_sent: bool,
    /// The first bytes the peer sent, to name a plain HTTP request.
    first: [u8; 8],
    first_len: u8,
    /// The peer's certificate check, as the verifier recorded it. A
    /// failure is boxed: a `rustls::Error` inline would cost every
    /// connection 48 bytes for the rest of its life, for a result read
    /// once when the handshake settles.
    verify: Option<Result<(), Box<rustls::Error>>>,
    pub(crate) authorized: bool,
    pub(crate) authorization_error: Option<Error>,
    /// The client's session: offered to resume, then what the server sent.
    pub(crate) session: Option<TlsSession>,
    pub(crate) wire_read: u64,
    pub(crate) wire_written: u64,
}

impl TlsLayer {
    /// A client layer; its ClientHello waits in [`take_output`](Self::take_output).
    ///
    /// # Errors
    ///
    /// `ERR_INVALID_ARG_VALUE` for a server name rustls cannot send.
    pub(crate) fn client(
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
        host: String,
        offer: Option<TlsSession>,
        reject_unauthorized: bool,
        check_server_identity: Option<CheckServerIdentity>,
    ) -> Result<TlsLayer, Error> {
        hooks::begin(false, offer.clone());
        let conn = ClientConnection::new(config, name);
        drop(hooks::end());
        let conn = conn.map_err(|e| Error::new(ErrorCode::ERR_INVALID_ARG_VALUE, e.to_string()))?;
        Ok(TlsLayer::with_conn(
            Connection::Client(conn),
            Role::Client {
                host,
                check_server_identity,
            },
            reject_unauthorized,
            offer,
        ))
    }

    /// A server layer, waiting for the ClientHello.
    ///
    /// # Errors
    ///
    /// When rustls cannot make a connection from the config (it always
    /// can for a config netloop built).
    pub(crate) fn server(
        config: Arc<ServerConfig>,
        client_verifier: Option<Arc<hooks::ClientVerifier>>,
        reject_unauthorized: bool,
    ) -> Result<TlsLayer, Error> {
        let conn = ServerConnection::new(config)
            .map_err(|e| Error::new(ErrorCode::ERR_INVALID_ARG_VALUE, e.to_string()))?;
        Ok(TlsLayer::with_conn(
            Connection::Server(conn),
            Role::Server { client_verifier },
            reject_unauthorized,
            None,
        ))
    }

    fn with_conn(
        mut conn: Connection,
        role: Role,
        reject: bool,
        session: Option<TlsSession>,
    ) -> TlsLayer {
        // The layer drains rustls's output after every call, so rustls
        // never holds more than one write's records: no limit is needed,
        // and with one a large write would be cut short.
        conn.set_buffer_limit(None);
        TlsLayer {
            conn,
            role,
            reject_unauthorized: reject,
            secure: false,
            released: false,
            settled: false,
            close_notify_sent: false,
            first: [0; 8],
            first_len: 0,
            verify: None,
            authorized: false,
            authorization_error: None,
            session,
            wire_read: 0,
            wire_written: 0,
        }
    }

    /// True until the handshake has completed.
    pub(crate) fn handshaking(&self) -> bool {
        !self.secure
    }

    pub(crate) fn is_server(&self) -> bool {
        matches!(self.role, Role::Server { .. })
    }

    /// A server that asks clients for a certificate (`request_cert`).
    pub(crate) fn requests_cert(&self) -> bool {
        matches!(
            self.role,
            Role::Server {
                client_verifier: Some(_)
            }
        )
    }

    /// A server that requires a trusted client certificate and did not
    /// get one: it closes the connection once the handshake completed
    /// (Node's `onServerSocketSecure`). Settles first.
    pub(crate) fn refuses_client(&mut self) -> bool {
        if !self.is_server() {
            return false;
        }
        self.settle();
        self.requests_cert() && self.reject_unauthorized && self.authorization_error.is_some()
    }

    /// Take in ciphertext read from the stream; append the plaintext it
    /// carried to `plain`.
    pub(crate) fn feed(&mut self, mut wire: &[u8], plain: &mut Vec<u8>, keylog: bool) -> Fed {
        self.wire_read += wire.len() as u64;
        if usize::from(self.first_len) < self.first.len() {
            let at = usize::from(self.first_len);
            let n = wire.len().min(self.first.len() - at);
            self.first[at..at + n].copy_from_slice(&wire[..n]);
            self.first_len += n as u8;
        }
        hooks::begin(keylog, None);
        let mut fed = Fed::default();
        while !wire.is_empty() && fed.error.is_none() && !fed.eof {
            match self.conn.read_tls(&mut wire) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    fed.error = Some(Error::new(
                        ErrorCode::ERR_SSL_WRONG_VERSION_NUMBER,
                        e.to_string(),
                    ));
                    break;
                }
            }
            if let Err(e) = self.conn.process_new_packets() {
                let first = &self.first[..usize::from(self.first_len)];
                fed.error = Some(errors::protocol_error(&e, first));
                break;
            }
            fed.eof = self.drain_plaintext(plain);
        }
        let capture = hooks::end();
        if let Some(res) = capture.verify {
            self.verify = Some(res.map_err(Box::new));
        }
        fed.keylog = capture.keylog_lines;
        if capture.received_count > 0 {
            fed.sessions = capture.received_count;
            self.session
                .get_or_insert_with(TlsSession::default)
                .absorb(capture.received);
        }
        // After an error rustls may have queued an alert for the peer.
        let first_flight = self.is_server() && self.wire_written == 0;
        let tls12 = self.conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_2);
        // Once the handshake is done, what rustls queued (a server's
        // session tickets, a client's Finished, a key update) stays in
        // rustls: the socket writes it together with whatever the data
        // listeners answer in this same read, or on its own right after
        // (`SocketInner::tls_on_read`). Written apart, a small reply
        // waits behind the tickets for the peer's delayed ACK (Nagle):
        // 40 ms per request-response connection. rustls's buffer keeps
        // the records in sequence either way.
        // Only after the handshake: the handshake's own messages (a
        // client's Finished, a TLS 1.2 server's last flight) leave before
        // `secure`, as OpenSSL's do, so a listener that destroys the
        // socket there does not fail the peer's handshake.
        let tls13 = self.conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3);
        let hold = fed.error.is_none()
            && !self.conn.is_handshaking()
            && (self.secure || (self.is_server() && tls13));
        if !hold {
            fed.out = self.take_output();
        }
        if let Some(err) = &fed.error {
            errors::alert_as_openssl(err, first_flight, tls12, &mut fed.out);
        }
        if fed.error.is_none() && !self.secure && !self.conn.is_handshaking() {
            self.secure = true;
            fed.secure_now = true;
        }
        fed
    }

    /// Move decrypted bytes into `plain` (one copy, out of rustls's
    /// buffer); true once the peer's `close_notify` was read.
    fn drain_plaintext(&mut self, plain: &mut Vec<u8>) -> bool {
        let mut reader = self.conn.reader();
        loop {
            match reader.fill_buf() {
                Ok([]) => return true,
                Ok(buf) => {
                    let n = buf.len();
                    plain.extend_from_slice(buf);
                    reader.consume(n);
                }
                // WouldBlock: nothing more for now. UnexpectedEof (the
                // peer's FIN without close_notify) is seen by the stream.
                Err(_) => return false,
            }
        }
    }

    /// Encrypt `data` into records, ready to write.
    ///
    /// # Errors
    ///
    /// When rustls refuses the write (after our `close_notify`).
    pub(crate) fn encrypt(&mut self, data: &[u8]) -> Result<Vec<u8>, Error> {
        if let Err(e) = self.conn.writer().write_all(data) {
            return Err(Error::new(
                ErrorCode::ERR_STREAM_WRITE_AFTER_END,
                e.to_string(),
            ));
        }
        let records = data.len() / 16384 + 1;
        let mut out = Vec::with_capacity(data.len() + records * 40);
        self.drain_into(&mut out);
        Ok(out)
    }

    /// Queued handshake messages or alerts (empty if none).
    pub(crate) fn take_output(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.drain_into(&mut out);
        out
    }

    fn drain_into(&mut self, out: &mut Vec<u8>) {
        while self.conn.wants_write() {
            match self.conn.write_tls(out) {
                Ok(0) | Err(_) => break,
                Ok(n) => self.wire_written += n as u64,
            }
        }
    }

    /// Our `close_notify` alert, once (RFC 8446 section 6.1), before the
    /// FIN of `end()`.
    pub(crate) fn close_notify(&mut self) -> Vec<u8> {
        if self.close_notify_sent || !self.secure {
            return Vec::new();
        }
        self.close_notify_sent = true;
        self.conn.send_close_notify();
        self.take_output()
    }

    /// Settle `authorized()` / `authorization_error()` once the handshake
    /// completed. Returns the name check left to a user's
    /// `check_server_identity`: the host and the leaf certificate.
    pub(crate) fn settle(&mut self) -> Option<(CheckServerIdentity, String, PeerCertificate)> {
        if std::mem::replace(&mut self.settled, true) {
            return None;
        }
        let verify = self.verify.take().map(|r| r.map_err(|e| *e));
        let chain: Vec<_> = self
            .conn
            .peer_certificates()
            .map(|c| c.to_vec())
            .unwrap_or_default();
        match &self.role {
            Role::Client {
                host,
                check_server_identity,
            } => {
                // A resumed session is not verified again (RFC 8446 section
                // 2.2: the server's identity comes from the original
                // handshake, and the session is offered to that name only).
                let resumed = self.conn.handshake_kind() == Some(HandshakeKind::Resumed);
                let res = verify.unwrap_or_else(|| {
                    if resumed {
                        Ok(())
                    } else {
                        Err(rustls::Error::InvalidCertificate(
                            rustls::CertificateError::UnknownIssuer,
                        ))
                    }
                });
                let name_only = matches!(
                    &res,
                    Err(rustls::Error::InvalidCertificate(
                        rustls::CertificateError::NotValidForName
                            | rustls::CertificateError::NotValidForNameContext { .. }
                    ))
                );
                if let Some(check) = check_server_identity {
                    if res.is_ok() || name_only {
                        // The chain is good (at most the name failed): the
                        // user's check decides, as Node calls
                        // `checkServerIdentity` once the chain verified.
                        let leaf = chain.first().and_then(|c| PeerCertificate::from_der(c));
                        if let Some(leaf) = leaf {
                            return Some((Rc::clone(check), host.clone(), leaf));
                        }
                    }
                }
                match res {
                    Ok(()) => self.authorized = true,
                    Err(e) => {
                        self.authorization_error = Some(errors::verify_error(&e, &chain, host));
                    }
                }
                None
            }
            Role::Server {
                client_verifier: Some(verifier),
            } => {
                // A resumed session was not verified by this handshake:
                // check the certificate it carries again, as OpenSSL
                // keeps the first handshake's verdict in the session.
                let verify = match verify {
                    None if self.conn.handshake_kind() == Some(HandshakeKind::Resumed) => chain
                        .split_first()
                        .map(|(leaf, rest)| verifier.check(leaf, rest, UnixTime::now())),
                    v => v,
                };
                match verify {
                    Some(Ok(())) => self.authorized = true,
                    Some(Err(e)) => {
                        self.authorization_error = Some(errors::verify_error(&e, &chain, ""));
                    }
                    None => {
                        // Node (OpenSSL) with requestCert and no
                        // client certificate: `UNABLE_TO_GET_ISSUER_CERT`.
                        self.authorization_error = Some(Error::new(
                            ErrorCode::Custom("UNABLE_TO_GET_ISSUER_CERT"),
                            "unable to get issuer certificate",
                        ));
                    }
                }
                None
            }
            Role::Server {
                client_verifier: None,
            } => None,
        }
    }

    /// The outcome of a user's `check_server_identity`.
    pub(crate) fn identity_checked(&mut self, res: Option<Error>) {
        match res {
            None => {
                self.authorized = true;
                self.authorization_error = None;
            }
            Some(e) => {
                self.authorized = false;
                self.authorization_error = Some(e);
            }
        }
    }

    // ----- getters -------------------------------------------------------

    /// `TLSv1.2` / `TLSv1.3` once negotiated (Node: `getProtocol()`).
    pub(crate) fn protocol(&self) -> Option<&'static str> {
        match self.conn.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_3 => Some("TLSv1.3"),
            rustls::ProtocolVersion::TLSv1_2 => Some("TLSv1.2"),
            _ => Some("unknown"),
        }
    }

    pub(crate) fn cipher(&self) -> Option<Cipher> {
        let suite = self.conn.negotiated_cipher_suite()?;
        Some(Cipher::of(
            suite.suite(),
            self.protocol().unwrap_or("unknown"),
        ))
    }

    pub(crate) fn alpn_protocol(&self) -> Option<String> {
        self.conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned())
    }

    pub(crate) fn peer_certificate(&self) -> Option<PeerCertificate> {
        self.conn
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|c| PeerCertificate::from_der(c))
    }

    pub(crate) fn peer_chain(&self) -> Vec<PeerCertificate> {
        self.conn
            .peer_certificates()
            .map(|c| {
                c.iter()
                    .filter_map(|c| PeerCertificate::from_der(c))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The SNI name the client sent (server side), or the one we sent.
    pub(crate) fn servername(&self) -> Option<String> {
        match (&self.conn, &self.role) {
            (Connection::Server(s), _) => s.server_name().map(str::to_owned),
            (Connection::Client(_), Role::Client { host, .. }) => Some(host.clone()),
            _ => None,
        }
    }

    pub(crate) fn is_session_reused(&self) -> bool {
        self.conn.handshake_kind() == Some(HandshakeKind::Resumed)
    }

    /// Node's `exportKeyingMaterial(length, label, context)` (RFC 5705).
    pub(crate) fn export_keying_material(
        &self,
        len: usize,
        label: &[u8],
        context: Option<&[u8]>,
    ) -> Result<Vec<u8>, Error> {
        let mut out = vec![0u8; len];
        self.conn
            .export_keying_material(&mut out[..], label, context)
            .map_err(|e| Error::new(ErrorCode::Custom("ERR_TLS_INVALID_STATE"), e.to_string()))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::pki_types::ServerName;

    use super::TlsLayer;
    use crate::tls::config::{client_config, server_config};
    use crate::tls::{TlsConnectOptions, TlsServerOptions};

    /// A client and a server layer over a self-signed certificate for
    /// 127.0.0.1.
    fn pair() -> (TlsLayer, TlsLayer) {
        let key = rcgen::KeyPair::generate().expect("a key");
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("a certificate");
        let server = server_config(&TlsServerOptions {
            key: key.serialize_pem().into_bytes(),
            cert: cert.pem().into_bytes(),
            ..TlsServerOptions::default()
        })
        .expect("a server config");
        let client = client_config(&TlsConnectOptions {
            ca: Some(cert.pem().into_bytes()),
            ..TlsConnectOptions::default()
        })
        .expect("a client config");
        let name = ServerName::try_from("127.0.0.1").expect("an IP literal");
        let c = TlsLayer::client(client, name, "127.0.0.1".into(), None, true, None)
            .expect("a client layer");
        let s = TlsLayer::server(Arc::clone(&server.config), None, false).expect("a server layer");
        (c, s)
    }

    /// The server's session tickets, queued as its TLS 1.3 handshake
    /// completes, wait for the reply to the request that came with the
    /// client's Finished, and leave in one buffer with it: written apart,
    /// the reply would wait behind them for the client's delayed ACK
    /// (Nagle). The client's own Finished is never held.
    #[test]
    fn session_tickets_leave_with_the_first_reply() {
        let (mut client, mut server) = pair();
        let mut plain = Vec::new();
        let hello = client.take_output();
        let fed = server.feed(&hello, &mut plain, false);
        assert!(
            fed.error.is_none() && !fed.out.is_empty(),
            "the server's flight"
        );
        let fed_c = client.feed(&fed.out, &mut plain, false);
        assert!(fed_c.secure_now, "the client is done");
        assert!(!fed_c.out.is_empty(), "the client's Finished is not held");
        let mut wire = fed_c.out;
        wire.extend(client.encrypt(b"ping").expect("records"));

        let fed = server.feed(&wire, &mut plain, false);
        assert!(fed.secure_now && fed.error.is_none());
        assert_eq!(plain, b"ping");
        assert!(fed.out.is_empty(), "the tickets wait for the reply");
        let reply = server.encrypt(b"pong").expect("records");
        let alone = {
            let (mut c2, mut s2) = pair();
            let mut p = Vec::new();
            let f = s2.feed(&c2.take_output(), &mut p, false);
            let f = c2.feed(&f.out, &mut p, false);
            let mut w = f.out;
            w.extend(c2.encrypt(b"ping").expect("records"));
            s2.feed(&w, &mut p, false);
            let _tickets = s2.take_output();
            s2.encrypt(b"pong").expect("records").len()
        };
        assert!(reply.len() > alone, "tickets and reply in one buffer");

        plain.clear();
        let fed = client.feed(&reply, &mut plain, false);
        assert!(fed.error.is_none());
        assert_eq!(plain, b"pong", "the records arrive in sequence");
        assert_eq!(
            server.take_output(),
            Vec::<u8>::new(),
            "nothing left behind"
        );
    }

    /// What one TLS connection's layer costs inline (rustls's buffers come
    /// on top, allocated as records pass); the idle-memory target is a
    /// quarter of Node's 34 KiB per idle TLS connection. rustls's
    /// `ServerConnection` is 1,168 bytes of it; netloop's own fields are
    /// the rest (bench/analysis.md, "TLS idle memory").
    #[test]
    fn tls_layer_stays_small() {
        let size = std::mem::size_of::<TlsLayer>();
        let conn = std::mem::size_of::<rustls::Connection>();
        eprintln!("TlsLayer {size} bytes, rustls::Connection {conn} bytes");
        assert!(
            size <= conn + 112,
            "TlsLayer grew to {size} bytes ({conn} of them rustls's)"
        );
    }
}
