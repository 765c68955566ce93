//! Options of `tls.createServer` and `tls.connect`, and secure contexts.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rustls::sign::CertifiedKey;

use super::cert;
use super::layer::CheckServerIdentity;
use super::provider;
use super::TlsSession;
use crate::error::{Error, ErrorCode, Result};
use crate::net::{ConnectOptions, ServerOptions, Socket};

/// A TLS protocol version (Node: `'TLSv1.2'`, `'TLSv1.3'` in
/// `minVersion` / `maxVersion`). rustls speaks only these two; Node 20's
/// default range is the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    /// TLS 1.2 (RFC 5246).
    Tls12,
    /// TLS 1.3 (RFC 8446).
    Tls13,
}

impl TlsVersion {
    /// Node's name: `TLSv1.2` or `TLSv1.3`.
    pub fn as_str(&self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "TLSv1.2",
            TlsVersion::Tls13 => "TLSv1.3",
        }
    }
}

/// A certificate chain and its private key, ready to serve (Node:
/// `tls.createSecureContext({ key, cert })`), for
/// [`TlsServer::add_context`](crate::tls::TlsServer::add_context) and
/// the SNI callback.
#[derive(Clone)]
pub struct SecureContext(pub(crate) Arc<CertifiedKey>);

impl SecureContext {
    /// Load a PEM private key and a PEM certificate chain (leaf first).
    ///
    /// # Errors
    ///
    /// `ERR_INVALID_ARG_VALUE` for a PEM text without a key or a
    /// certificate, or a key that does not match the certificate.
    pub fn new(key_pem: &[u8], cert_pem: &[u8]) -> Result<SecureContext> {
        let chain = cert::certs_from_pem(cert_pem, "cert")?;
        let key = cert::key_from_pem(key_pem)?;
        let ck = CertifiedKey::from_der(chain, key, &provider::provider()).map_err(|e| {
            Error::new(
                ErrorCode::ERR_INVALID_ARG_VALUE,
                format!("The property 'options.key' is invalid: {e}"),
            )
        })?;
        Ok(SecureContext(Arc::new(ck)))
    }
}

impl fmt::Debug for SecureContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecureContext")
            .field("chain_len", &self.0.cert.len())
            .finish()
    }
}

/// Node's `SNICallback(servername, cb)`: the context to serve for a name
/// the client asked for, or `None` for the default one. It runs inside
/// the handshake, possibly on any loop thread, so it must be `Send +
/// Sync` and must not touch netloop handles.
pub type SniCallback = Arc<dyn Fn(&str) -> Option<SecureContext> + Send + Sync>;

/// Options of [`tls::create_server`](crate::tls::create_server) (Node:
/// `tls.createServer(options)`).
#[derive(Clone)]
pub struct TlsServerOptions {
    /// The private key, PEM (Node: `key`).
    pub key: Vec<u8>,
    /// The certificate chain, PEM, leaf first (Node: `cert`).
    pub cert: Vec<u8>,
    /// Trusted issuers of client certificates, PEM (Node: `ca`).
    pub ca: Option<Vec<u8>>,
    /// Ask clients for a certificate (Node: `requestCert`, default false).
    pub request_cert: bool,
    /// With `request_cert`: close connections whose client certificate is
    /// missing or not trusted (Node: `rejectUnauthorized`, default true).
    pub reject_unauthorized: bool,
    /// Protocols for ALPN, most preferred first (Node: `ALPNProtocols`).
    pub alpn_protocols: Vec<String>,
    /// Lowest version accepted (Node: `minVersion`, default TLS 1.2).
    pub min_version: TlsVersion,
    /// Highest version accepted (Node: `maxVersion`, default TLS 1.3).
    pub max_version: TlsVersion,
    /// Choose a certificate by the client's SNI name (Node:
    /// `SNICallback`); asked before the names added with `add_context`.
    pub sni_callback: Option<SniCallback>,
    /// Give up on a handshake that has not completed in this time, with
    /// `tlsClientError` `ERR_TLS_HANDSHAKE_TIMEOUT` (Node:
    /// `handshakeTimeout`, 120 s by default).
    pub handshake_timeout: Duration,
    /// Issue session tickets for resumption (Node issues them by default;
    /// its `ticketKeys` rotate, as these do).
    pub session_tickets: bool,
    /// The `net` options of the server underneath (Node passes them to
    /// `net.Server`): `allow_half_open`, `pause_on_connect`, ...
    pub net: ServerOptions,
}

impl Default for TlsServerOptions {
    fn default() -> Self {
        TlsServerOptions {
            key: Vec::new(),
            cert: Vec::new(),
            ca: None,
            request_cert: false,
            reject_unauthorized: true,
            alpn_protocols: Vec::new(),
            min_version: TlsVersion::Tls12,
            max_version: TlsVersion::Tls13,
            sni_callback: None,
            handshake_timeout: Duration::from_secs(120),
            session_tickets: true,
            net: ServerOptions::default(),
        }
    }
}

/// Options of [`tls::connect`](crate::tls::connect) (Node:
/// `tls.connect(options)`).
#[derive(Clone)]
pub struct TlsConnectOptions {
    /// The server's port (Node: `port`).
    pub port: u16,
    /// The server's host, `localhost` if `None` (Node: `host`).
    pub host: Option<String>,
    /// The name sent for SNI and checked in the certificate (Node:
    /// `servername`); the host when `None`. An IP address is never sent
    /// as SNI (RFC 6066 section 3) but is checked against the
    /// certificate's IP addresses.
    pub servername: Option<String>,
    /// Trusted issuers, PEM (Node: `ca`). Without it, the system's
    /// bundle (`/etc/ssl/certs/ca-certificates.crt`, Debian's
    /// `ca-certificates`) is trusted, where Node uses its own copy of
    /// Mozilla's list.
    pub ca: Option<Vec<u8>>,
    /// A client certificate's private key, PEM (Node: `key`).
    pub key: Option<Vec<u8>>,
    /// A client certificate chain, PEM (Node: `cert`).
    pub cert: Option<Vec<u8>>,
    /// Fail when the server's certificate is not trusted or does not name
    /// the server (Node: `rejectUnauthorized`, default true). With false,
    /// the connection goes on and `authorized()` says false.
    pub reject_unauthorized: bool,
    /// Protocols to offer for ALPN (Node: `ALPNProtocols`).
    pub alpn_protocols: Vec<String>,
    /// Lowest version offered (Node: `minVersion`).
    pub min_version: TlsVersion,
    /// Highest version offered (Node: `maxVersion`).
    pub max_version: TlsVersion,
    /// A session to resume (Node: `session`), from
    /// [`TlsSocket::get_session`](crate::tls::TlsSocket::get_session) or
    /// the [`SESSION`](crate::tls::TlsSocket::SESSION) event.
    pub session: Option<TlsSession>,
    /// Replace the host-name check (Node: `checkServerIdentity(host,
    /// cert)`): called when the chain is trusted; `Some(error)` rejects.
    pub check_server_identity: Option<CheckServerIdentity>,
    /// Start TLS on this connected socket instead of connecting (Node:
    /// `socket`): STARTTLS.
    pub socket: Option<Socket>,
    /// The `net` options of the connection (timeout, local address,
    /// `allow_half_open`, ...); its `port`, `host` and `path` are ignored.
    pub net: ConnectOptions,
}

impl Default for TlsConnectOptions {
    fn default() -> Self {
        TlsConnectOptions {
            port: 0,
            host: None,
            servername: None,
            ca: None,
            key: None,
            cert: None,
            reject_unauthorized: true,
            alpn_protocols: Vec::new(),
            min_version: TlsVersion::Tls12,
            max_version: TlsVersion::Tls13,
            session: None,
            check_server_identity: None,
            socket: None,
            net: ConnectOptions::default(),
        }
    }
}

/// `min..=max` as rustls's version list.
pub(crate) fn versions(
    min: TlsVersion,
    max: TlsVersion,
) -> Result<&'static [&'static rustls::SupportedProtocolVersion]> {
    static BOTH: &[&rustls::SupportedProtocolVersion] =
        &[&rustls::version::TLS13, &rustls::version::TLS12];
    static V13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
    static V12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
    match (min, max) {
        (TlsVersion::Tls12, TlsVersion::Tls13) => Ok(BOTH),
        (TlsVersion::Tls13, TlsVersion::Tls13) => Ok(V13),
        (TlsVersion::Tls12, TlsVersion::Tls12) => Ok(V12),
        (TlsVersion::Tls13, TlsVersion::Tls12) => Err(Error::new(
            ErrorCode::ERR_INVALID_ARG_VALUE,
            "The property 'options.minVersion' is invalid: it is above maxVersion",
        )),
    }
}
