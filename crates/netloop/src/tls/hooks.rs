//! What rustls calls back into: certificate verifiers, the key log and
//! the client's session store.
//!
//! A rustls config is shared by every connection made with it (one
//! `Arc<ServerConfig>` per server, so an idle connection does not pay for
//! a config of its own), so its callbacks cannot know which connection
//! they serve. They do not need to: rustls calls them synchronously from
//! inside the one connection method the loop thread is running, so they
//! record into a thread-local [`Capture`] that the layer sets up before
//! that call and collects right after it. No user code runs in between.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, NamedGroup, SignatureScheme};

use super::session::SessionData;
use super::TlsSession;

/// What callbacks recorded during one call into a connection.
#[derive(Default)]
pub(crate) struct Capture {
    /// Collect key log lines (a `keylog` listener exists).
    pub keylog: bool,
    pub keylog_lines: Vec<Vec<u8>>,
    /// The outcome of the peer's certificate check, when one ran.
    pub verify: Option<Result<(), rustls::Error>>,
    /// The session a client offers to resume.
    pub offer: Option<TlsSession>,
    /// Tickets and sessions the server gave this client.
    pub received: SessionData,
    pub received_count: usize,
}

thread_local! {
    static CAPTURE: RefCell<Capture> = RefCell::new(Capture::default());
}

/// Run `f` with the capture state.
pub(crate) fn with<R>(f: impl FnOnce(&mut Capture) -> R) -> R {
    CAPTURE.with(|c| f(&mut c.borrow_mut()))
}

/// Start a capture (before a call into a connection).
pub(crate) fn begin(keylog: bool, offer: Option<TlsSession>) {
    with(|c| {
        *c = Capture {
            keylog,
            offer,
            ..Capture::default()
        }
    });
}

/// End the capture and take what it recorded.
pub(crate) fn end() -> Capture {
    with(std::mem::take)
}

// ----- key log ---------------------------------------------------------

/// NSS key log lines (Node's `keylog` event), and the `SSLKEYLOGFILE`
/// file when the variable is set.
pub(crate) struct KeyLogHook {
    file: Option<rustls::KeyLogFile>,
}

impl KeyLogHook {
    pub(crate) fn new() -> Arc<KeyLogHook> {
        let file = std::env::var_os("SSLKEYLOGFILE").map(|_| rustls::KeyLogFile::new());
        Arc::new(KeyLogHook { file })
    }
}

impl fmt::Debug for KeyLogHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyLogHook")
            .field("file", &self.file.is_some())
            .finish()
    }
}

impl rustls::KeyLog for KeyLogHook {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        if let Some(file) = &self.file {
            file.log(label, client_random, secret);
        }
        with(|c| {
            if c.keylog {
                let line = format!("{label} {} {}\n", hex(client_random), hex(secret));
                c.keylog_lines.push(line.into_bytes());
            }
        });
    }

    fn will_log(&self, _label: &str) -> bool {
        self.file.is_some() || with(|c| c.keylog)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

// ----- sessions ----------------------------------------------------------

/// The client's session store: it offers the session given to
/// `tls::connect` (Node's `session` option) and hands the tickets the
/// server sends to the connection (Node's `session` event). Nothing is
/// cached across connections behind the user's back, as in Node.
#[derive(Debug)]
pub(crate) struct SessionHook;

impl ClientSessionStore for SessionHook {
    fn set_kx_hint(&self, _server_name: ServerName<'static>, _group: NamedGroup) {}

    fn kx_hint(&self, _server_name: &ServerName<'_>) -> Option<NamedGroup> {
        None
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        with(|c| {
            c.received.server_name = Some(server_name);
            c.received.tls12 = Some(value);
            c.received_count += 1;
        });
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        with(|c| c.offer.as_ref().and_then(|s| s.tls12(server_name)))
    }

    fn remove_tls12_session(&self, _server_name: &ServerName<'static>) {}

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        with(|c| {
            c.received.server_name = Some(server_name);
            c.received.tls13.push(value);
            c.received_count += 1;
        });
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        with(|c| c.offer.as_ref().and_then(|s| s.take_tls13(server_name)))
    }
}

// ----- verifiers ---------------------------------------------------------

/// The client's check of the server certificate. It records the outcome
/// and lets the handshake finish; the socket then decides, as Node's
/// `onConnectSecure` does after OpenSSL's handshake: with
/// `reject_unauthorized` it fails with the error, otherwise it goes on with
/// `authorized() == false` and `authorization_error()` set.
#[derive(Debug)]
pub(crate) struct ServerVerifier {
    /// `None` when there is no trusted root at all: every chain fails.
    pub inner: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    /// The certificates of `ca`, as given (see [`self_signed_leaf`]).
    pub trusted: Vec<CertificateDer<'static>>,
    pub provider: Arc<CryptoProvider>,
}

/// webpki refuses a leaf whose basic constraints say it is a CA
/// (`CaUsedAsEndEntity`), and that is what `openssl req -x509` makes by
/// default: the everyday self-signed certificate. OpenSSL (so Node)
/// takes such a certificate when it is itself in the trust store, and
/// otherwise calls it `DEPTH_ZERO_SELF_SIGNED_CERT`. For a self-issued
/// leaf refused that way: `Ok` when the very certificate is trusted
/// (webpki checked its validity period before its constraints; the
/// caller checks the name), an unknown issuer otherwise, which Node's
/// words for a lone self-signed certificate come from. Other chains keep
/// webpki's verdict.
fn self_signed_leaf(
    res: Result<(), rustls::Error>,
    end_entity: &CertificateDer<'_>,
    trusted: &[CertificateDer<'static>],
) -> Result<(), rustls::Error> {
    match res {
        // rustls passes webpki's error on as `Other`, whose type is
        // webpki's own: its name is what can be matched without
        // depending on webpki.
        Err(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)))
            if format!("{other:?}").contains("CaUsedAsEndEntity")
                && super::cert::is_self_issued(end_entity) =>
        {
            if trusted.iter().any(|t| t.as_ref() == end_entity.as_ref()) {
                Ok(())
            } else {
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::UnknownIssuer,
                ))
            }
        }
        other => other,
    }
}

/// The handshake-signature checks both verifiers leave to the crypto
/// provider's algorithms (their `provider` field): only the certificate
/// checks are netloop's own.
macro_rules! provider_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    };
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let res = match &self.inner {
            Some(v) => v
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .map(|_| ()),
            None => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        };
        let trusted_as_is = res.is_err() && self.trusted.iter().any(|t| t == end_entity);
        let res = self_signed_leaf(res, end_entity, &self.trusted).and_then(|()| {
            if trusted_as_is {
                // Trusted as it is: the name is still checked.
                let leaf = rustls::server::ParsedCertificate::try_from(end_entity)?;
                rustls::client::verify_server_name(&leaf, server_name)
            } else {
                Ok(())
            }
        });
        with(|c| c.verify = Some(res));
        Ok(ServerCertVerified::assertion())
    }

    provider_signatures!();
}

/// The server's check of a client certificate (`request_cert`). It
/// records the outcome and accepts, so the socket can report
/// `authorized()` / `authorization_error()` and, with
/// `reject_unauthorized`, close the connection as Node's
/// `onServerSocketSecure` does. A client that sends no certificate at all
/// fails the handshake when the server rejects the unauthorized (Node's
/// `ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE`).
#[derive(Debug)]
pub(crate) struct ClientVerifier {
    pub inner: Option<Arc<dyn ClientCertVerifier>>,
    /// The certificates of `ca`, as given (see [`self_signed_leaf`]).
    pub trusted: Vec<CertificateDer<'static>>,
    pub provider: Arc<CryptoProvider>,
    pub mandatory: bool,
}

impl ClientVerifier {
    /// Check a client's chain (leaf first) against the trusted issuers.
    pub(crate) fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let res = match &self.inner {
            Some(v) => v
                .verify_client_cert(end_entity, intermediates, now)
                .map(|_| ()),
            None => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        };
        self_signed_leaf(res, end_entity, &self.trusted)
    }
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        match &self.inner {
            Some(v) => v.root_hint_subjects(),
            None => &[],
        }
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let res = self.check(end_entity, intermediates, now);
        with(|c| c.verify = Some(res));
        Ok(ClientCertVerified::assertion())
    }

    provider_signatures!();
}
