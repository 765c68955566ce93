//! `netloop bench --tls`: the load generator's TLS client, rustls on the
//! generator's own mio loops.
//!
//! One `Arc<ClientConfig>` is built per run and shared by every
//! connection of every thread, as issue 12 asks of a generator that is to
//! load a TLS server at all: the trust store, the parsed certificate and
//! the session-ticket store are made once, and a connection costs only its
//! handshake. TLS 1.3 only; key exchange X25519 unless `--tls-group` says
//! otherwise (Node 20's OpenSSL negotiates X25519 with any client that
//! offers it, so every server gets the same handshake); the cipher suites
//! offered are rustls's, TLS_AES_256_GCM_SHA384 first (Node's default),
//! unless `--tls-cipher` picks one. The crypto provider is aws-lc-rs:
//! bench/analysis.md ("TLS crypto provider") measured it against ring.
//!
//! Without `--tls-resume` the client keeps no tickets, so every connection
//! is a full handshake. With it, the run's one ticket store keeps every
//! ticket the server sends and each connection resumes with one, if there
//! is one. rustls uses a TLS 1.3 ticket once (RFC 8446 C.4 advises
//! against reuse), while Node's server issues two tickets after a full
//! handshake and none after a resumed one (OpenSSL renews a ticket only
//! when its key callback asks; Node's own client and `openssl s_client
//! -sess_in` reuse theirs instead): against Node every third connection
//! is a full handshake. The report counts both kinds
//! (`handshakes_full`, `handshakes_resumed`), and `netloop bench report`
//! takes the full handshakes' share out of the CPU per resumed one with
//! the full-handshake run's figure.
//!
//! [`Stream`] is what the modes hold: plain TCP, or TCP with a rustls
//! client connection, with the same non-blocking `Read` and `Write` as a
//! socket, so the modes drive either the same way. Two rules keep the TLS
//! kind correct under edge-triggered epoll: a read returns short only once
//! the socket said `EAGAIN` (rustls hands out at most one record's
//! plaintext at a time, so "short read means drained" would otherwise stop
//! at every record and wait for an edge that never comes), and encrypted
//! bytes a full socket refused are written on the next writable event
//! ([`Stream::flush_pending`]), whether or not the mode has more to send.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use mio::net::TcpStream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionStore, Resumption, Tls12ClientSessionValue};
use rustls::client::{Tls13ClientSessionValue, WebPkiServerVerifier};
use rustls::crypto::{aws_lc_rs, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, HandshakeKind, NamedGroup,
    RootCertStore, SignatureScheme,
};

/// The TLS options of the modes that talk to a server.
#[derive(clap::Args, Clone, Debug, Default)]
pub(crate) struct TlsArgs {
    /// Speak TLS 1.3 to the server (pingpong, stream, connect, idle); needs
    /// --ca or --insecure.
    #[arg(long)]
    pub tls: bool,
    /// Trust the certificates in this PEM file (the server's own
    /// self-signed certificate, as `netloop tls-cert` writes it, or its CA).
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls",
        conflicts_with = "insecure"
    )]
    pub ca: Option<PathBuf>,
    /// Accept any server certificate (benchmarks only: the server is not
    /// authenticated). The handshake's signature is still checked, so the
    /// client's work per handshake stays close to a verifying client's.
    #[arg(long, requires = "tls")]
    pub insecure: bool,
    /// The name sent as SNI and checked against the certificate [default:
    /// --host, a name or an IP address].
    #[arg(long, value_name = "NAME", requires = "tls")]
    pub servername: Option<String>,
    /// Resume TLS sessions with the server's tickets (connect mode: resumed
    /// handshakes per second). Without it every connection is a full
    /// handshake.
    #[arg(long, requires = "tls")]
    pub tls_resume: bool,
    /// The key exchange group offered.
    #[arg(long, value_enum, default_value_t = Group::X25519, requires = "tls")]
    pub tls_group: Group,
    /// Offer this cipher suite only [default: rustls's list,
    /// TLS_AES_256_GCM_SHA384 first, as Node's].
    #[arg(long, value_enum, requires = "tls")]
    pub tls_cipher: Option<Cipher>,
}

/// Key exchange groups the generator can offer.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Group {
    /// X25519 (what Node 20 negotiates).
    #[default]
    X25519,
    /// NIST P-256.
    Secp256r1,
    /// The hybrid post-quantum X25519MLKEM768.
    X25519mlkem768,
}

/// TLS 1.3 cipher suites the generator can insist on.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cipher {
    /// TLS_AES_256_GCM_SHA384.
    #[value(name = "aes-256-gcm")]
    Aes256Gcm,
    /// TLS_AES_128_GCM_SHA256.
    #[value(name = "aes-128-gcm")]
    Aes128Gcm,
    /// TLS_CHACHA20_POLY1305_SHA256.
    #[value(name = "chacha20-poly1305")]
    Chacha20Poly1305,
}

/// The client context every connection of a run shares.
#[derive(Clone)]
pub(crate) struct Client {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl Client {
    /// Build the run's one client config from the options; `host` is
    /// `--host`, the default server name.
    pub(crate) fn new(args: &TlsArgs, host: &str, connections: usize) -> io::Result<Client> {
        let provider = Arc::new(provider(args));
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| io::Error::other(format!("TLS 1.3 with this provider: {e}")))?;
        let verifier: Arc<dyn ServerCertVerifier> = match (&args.ca, args.insecure) {
            (Some(path), _) => {
                let roots = Arc::new(roots(path)?);
                WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                    .build()
                    .map_err(|e| io::Error::other(format!("--ca {}: {e}", path.display())))?
            }
            (None, true) => Arc::new(AnyCertificate(provider.signature_verification_algorithms)),
            (None, false) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "--tls needs --ca FILE (the server's certificate, e.g. the cert.pem of \
                     `netloop tls-cert`, or its CA) or --insecure",
                ))
            }
        };
        let mut config = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.resumption = if args.tls_resume {
            // Room for a ticket per connection in flight and as many again
            // (servers send one or two per handshake), so no connection
            // finds the store empty and falls back to a full handshake.
            Resumption::store(Arc::new(TicketStore::new(2 * connections + 16)))
        } else {
            Resumption::disabled()
        };
        let name = args.servername.as_deref().unwrap_or(host);
        let name = ServerName::try_from(name.to_owned()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("--servername {name:?}: {e}"),
            )
        })?;
        Ok(Client {
            config: Arc::new(config),
            name,
        })
    }

    fn connect(&self) -> io::Result<ClientConnection> {
        ClientConnection::new(self.config.clone(), self.name.clone()).map_err(tls_error)
    }
}

/// aws-lc-rs with the one group and, if asked, the one suite.
fn provider(args: &TlsArgs) -> CryptoProvider {
    let base = aws_lc_rs::default_provider();
    let group = match args.tls_group {
        Group::X25519 => aws_lc_rs::kx_group::X25519,
        Group::Secp256r1 => aws_lc_rs::kx_group::SECP256R1,
        Group::X25519mlkem768 => aws_lc_rs::kx_group::X25519MLKEM768,
    };
    let cipher_suites = match args.tls_cipher {
        None => base.cipher_suites.clone(),
        Some(c) => vec![match c {
            Cipher::Aes256Gcm => aws_lc_rs::cipher_suite::TLS13_AES_256_GCM_SHA384,
            Cipher::Aes128Gcm => aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256,
            Cipher::Chacha20Poly1305 => aws_lc_rs::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
        }],
    };
    CryptoProvider {
        cipher_suites,
        kx_groups: vec![group],
        ..base
    }
}

/// The certificates of a PEM file, as trust anchors.
fn roots(path: &Path) -> io::Result<RootCertStore> {
    let what = |e: &dyn std::fmt::Display| format!("--ca {}: {e}", path.display());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| io::Error::other(what(&e)))?
        .collect::<Result<_, _>>()
        .map_err(|e| io::Error::other(what(&e)))?;
    if certs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            what(&"no certificate in it (a PEM file with BEGIN CERTIFICATE)"),
        ));
    }
    let mut store = RootCertStore::empty();
    for cert in certs {
        store.add(cert).map_err(|e| io::Error::other(what(&e)))?;
    }
    Ok(store)
}

/// `--insecure`: any certificate is accepted for any name, but the
/// handshake's signature by its key is still verified (so a client's CPU
/// per handshake stays close to a verifying one's).
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// The session tickets of a run. rustls's own store keeps at most eight
/// TLS 1.3 tickets per server; with 50 connections in flight and two
/// tickets per full handshake, tickets would be dropped that a later
/// connection could have resumed with, so this store holds as many as the
/// run can use (the oldest dropped first). One lock, taken twice per
/// connection: nothing next to a handshake.
#[derive(Debug)]
struct TicketStore {
    tickets: Mutex<VecDeque<Tls13ClientSessionValue>>,
    kx_hint: Mutex<Option<NamedGroup>>,
    max: usize,
}

impl TicketStore {
    fn new(max: usize) -> TicketStore {
        TicketStore {
            tickets: Mutex::new(VecDeque::with_capacity(max)),
            kx_hint: Mutex::new(None),
            max,
        }
    }
}

// One server per run, so the server name is not part of any key.
impl ClientSessionStore for TicketStore {
    fn set_kx_hint(&self, _: ServerName<'static>, group: NamedGroup) {
        *self.kx_hint.lock().unwrap_or_else(|e| e.into_inner()) = Some(group);
    }

    fn kx_hint(&self, _: &ServerName<'_>) -> Option<NamedGroup> {
        *self.kx_hint.lock().unwrap_or_else(|e| e.into_inner())
    }

    // TLS 1.2 is never negotiated (the config offers TLS 1.3 only).
    fn set_tls12_session(&self, _: ServerName<'static>, _: Tls12ClientSessionValue) {}

    fn tls12_session(&self, _: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        None
    }

    fn remove_tls12_session(&self, _: &ServerName<'static>) {}

    fn insert_tls13_ticket(&self, _: ServerName<'static>, value: Tls13ClientSessionValue) {
        let mut t = self.tickets.lock().unwrap_or_else(|e| e.into_inner());
        if t.len() == self.max {
            t.pop_front();
        }
        t.push_back(value);
    }

    fn take_tls13_ticket(&self, _: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        // The newest first: the oldest are the likeliest to have expired.
        self.tickets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_back()
    }
}

/// What the first finished handshake of a run negotiated, for the report.
pub(crate) struct Negotiated {
    pub version: String,
    pub cipher: String,
    pub group: String,
}

/// A client connection: plain TCP, or TLS over it.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

/// TCP and the rustls client connection on it.
pub(crate) struct TlsStream {
    tcp: TcpStream,
    tls: ClientConnection,
    /// The socket read end-of-file.
    eof: bool,
}

impl Stream {
    /// `tcp` as it is, or with a new TLS client connection on it (its
    /// ClientHello goes out with the first [`Stream::handshake`], once the
    /// TCP connect has finished).
    pub(crate) fn new(tcp: TcpStream, tls: Option<&Client>) -> io::Result<Stream> {
        Ok(match tls {
            None => Stream::Plain(tcp),
            Some(client) => Stream::Tls(Box::new(TlsStream {
                tcp,
                tls: client.connect()?,
                eof: false,
            })),
        })
    }

    /// The TCP socket (for `finish_connect`).
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => &t.tcp,
        }
    }

    /// Move the handshake on as far as the socket allows (after the TCP
    /// connect finished, and on each event until it is done). `Ok(true)`
    /// once the connection is ready for data; plain TCP always is.
    pub(crate) fn handshake(&mut self) -> io::Result<bool> {
        match self {
            Stream::Plain(_) => Ok(true),
            Stream::Tls(t) => t.handshake(),
        }
    }

    /// Write encrypted bytes that a full socket refused earlier (on every
    /// writable event). Nothing to do for plain TCP.
    pub(crate) fn flush_pending(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(_) => Ok(()),
            Stream::Tls(t) => t.flush_tls().map(|_| ()),
        }
    }

    /// Say goodbye before closing: TLS's close_notify alert, best effort
    /// (a full socket just loses it). Nothing for plain TCP.
    pub(crate) fn close_notify(&mut self) {
        if let Stream::Tls(t) = self {
            t.tls.send_close_notify();
            let _ = t.flush_tls();
        }
    }

    /// Whether the finished handshake resumed a session (`None` for plain
    /// TCP or a handshake still under way).
    pub(crate) fn resumed(&self) -> Option<bool> {
        match self {
            Stream::Plain(_) => None,
            Stream::Tls(t) => t
                .tls
                .handshake_kind()
                .filter(|_| !t.tls.is_handshaking())
                .map(|k| k == HandshakeKind::Resumed),
        }
    }

    /// What the handshake settled (TLS, once it is done).
    pub(crate) fn negotiated(&self) -> Option<Negotiated> {
        let Stream::Tls(t) = self else {
            return None;
        };
        if t.tls.is_handshaking() {
            return None;
        }
        let name = |s: Option<String>| s.unwrap_or_else(|| "?".to_owned());
        Some(Negotiated {
            version: name(
                t.tls
                    .protocol_version()
                    .and_then(|v| v.as_str().map(str::to_owned)),
            ),
            cipher: name(
                t.tls
                    .negotiated_cipher_suite()
                    .and_then(|s| s.suite().as_str().map(str::to_owned)),
            ),
            group: name(
                t.tls
                    .negotiated_key_exchange_group()
                    .map(|g| format!("{:?}", g.name())),
            ),
        })
    }
}

impl TlsStream {
    fn handshake(&mut self) -> io::Result<bool> {
        // ClientHello (first call), or our Finished.
        self.flush_tls()?;
        while self.tls.is_handshaking() {
            match self.tls.read_tls(&mut self.tcp) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection during the TLS handshake",
                    ))
                }
                Ok(_) => {
                    self.process()?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            self.flush_tls()?;
        }
        Ok(!self.tls.is_handshaking())
    }

    /// Decrypt and act on what was read; a TLS error sends its alert
    /// (best effort) and ends the connection.
    fn process(&mut self) -> io::Result<usize> {
        match self.tls.process_new_packets() {
            Ok(state) => Ok(state.plaintext_bytes_to_read()),
            Err(e) => {
                let _ = self.flush_tls();
                Err(tls_error(e))
            }
        }
    }

    /// Write what rustls has encrypted until it is all out or the socket
    /// is full; `Ok(true)` when nothing is left.
    fn flush_tls(&mut self) -> io::Result<bool> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.tcp) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

impl Read for TlsStream {
    /// Fill `buf` with plaintext, reading the socket until it is drained
    /// (`EAGAIN`) or `buf` is full: a short read means drained, as for a
    /// socket. `Ok(0)` at the end (close_notify, or the socket's EOF).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut total = 0;
        while total < buf.len() {
            match self.tls.reader().read(&mut buf[total..]) {
                Ok(0) => return Ok(total), // close_notify: the end
                Ok(n) => {
                    total += n;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The socket ended without close_notify: the end too, for
                // a load generator (many servers close that way).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(total),
                Err(e) => return if total > 0 { Ok(total) } else { Err(e) },
            }
            // No plaintext left: records already read first, then the
            // socket.
            if self.process()? > 0 {
                continue;
            }
            if self.eof {
                return Ok(total);
            }
            match self.tls.read_tls(&mut self.tcp) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return if total > 0 { Ok(total) } else { Err(e) };
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return if total > 0 { Ok(total) } else { Err(e) },
            }
            // Answers the peer's messages may need (a key update).
            self.flush_tls()?;
        }
        Ok(total)
    }
}

impl Write for TlsStream {
    /// Encrypt up to rustls's buffer (64 KiB) of `data` and write what the
    /// socket takes. `WouldBlock` while earlier records still wait for
    /// the socket: the socket's buffer is the backpressure, as for TCP.
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if !self.flush_tls()? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self.tls.writer().write(data)?;
        self.flush_tls()?;
        if n == 0 && !data.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_tls().map(|_| ())
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(data),
            Stream::Tls(t) => t.write(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(t) => t.flush(),
        }
    }
}

impl mio::event::Source for Stream {
    fn register(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.register(registry, token, interests),
            Stream::Tls(t) => t.tcp.register(registry, token, interests),
        }
    }

    fn reregister(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.reregister(registry, token, interests),
            Stream::Tls(t) => t.tcp.reregister(registry, token, interests),
        }
    }

    fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.deregister(registry),
            Stream::Tls(t) => t.tcp.deregister(registry),
        }
    }
}

/// A rustls error as an `io::Error` in rustls's words ("invalid peer
/// certificate: UnknownIssuer").
fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}"))
}
