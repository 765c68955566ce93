//! rustls's errors in Node's codes and words.
//!
//! Node's TLS errors come from OpenSSL: a verification result
//! (`X509_V_ERR_*`, reported by its short name such as
//! `DEPTH_ZERO_SELF_SIGNED_CERT` and OpenSSL's text), or an SSL library
//! error whose code Node builds as `ERR_SSL_` plus OpenSSL's reason in
//! upper case (`wrong version number` is `ERR_SSL_WRONG_VERSION_NUMBER`).
//! The messages below are those strings, as Node 20 printed them for the
//! same failures (see `tests/tls_interop.rs`); Node prefixes library
//! errors with OpenSSL's error-queue location, which says nothing about
//! the peer and is left out.

use std::net::IpAddr;

use rustls::pki_types::CertificateDer;
use rustls::{AlertDescription, CertificateError, PeerIncompatible};

use super::cert;
use crate::error::{Error, ErrorCode};

/// A verification failure of the peer's chain, in Node's terms
/// (`authorizationError` and the error `tls.connect` fails with). `host`
/// is the name checked (the servername, or the host when there is none).
pub(crate) fn verify_error(err: &rustls::Error, chain: &[CertificateDer<'_>], host: &str) -> Error {
    let rustls::Error::InvalidCertificate(ce) = err else {
        return Error::new(ErrorCode::Custom("ERR_TLS_VERIFY"), err.to_string());
    };
    match ce {
        CertificateError::UnknownIssuer => {
            let leaf_self_issued = chain.first().is_some_and(|c| cert::is_self_issued(c));
            let root_self_issued =
                chain.len() > 1 && chain.last().is_some_and(|c| cert::is_self_issued(c));
            if chain.len() == 1 && leaf_self_issued {
                Error::new(
                    ErrorCode::DEPTH_ZERO_SELF_SIGNED_CERT,
                    "self-signed certificate",
                )
            } else if root_self_issued {
                Error::new(
                    ErrorCode::SELF_SIGNED_CERT_IN_CHAIN,
                    "self-signed certificate in certificate chain",
                )
            } else if chain.len() == 1 {
                Error::new(
                    ErrorCode::UNABLE_TO_VERIFY_LEAF_SIGNATURE,
                    "unable to verify the first certificate",
                )
            } else {
                Error::new(
                    ErrorCode::UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
                    "unable to get local issuer certificate",
                )
            }
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            Error::new(ErrorCode::CERT_HAS_EXPIRED, "certificate has expired")
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => Error::new(
            ErrorCode::CERT_NOT_YET_VALID,
            "certificate is not yet valid",
        ),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            altname_error(host, chain.first().map(|c| c.as_ref()))
        }
        CertificateError::BadSignature => Error::new(
            ErrorCode::Custom("CERT_SIGNATURE_FAILURE"),
            "certificate signature failure",
        ),
        CertificateError::Revoked => {
            Error::new(ErrorCode::Custom("CERT_REVOKED"), "certificate revoked")
        }
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            Error::new(
                ErrorCode::Custom("INVALID_PURPOSE"),
                "unsupported certificate purpose",
            )
        }
        other => Error::new(
            ErrorCode::Custom("CERT_REJECTED"),
            format!("certificate rejected: {other:?}"),
        ),
    }
}

/// Node's `checkServerIdentity` failure:
/// `Hostname/IP does not match certificate's altnames: Host: x. is not in
/// the cert's altnames: DNS:localhost`.
pub(crate) fn altname_error(host: &str, leaf: Option<&[u8]>) -> Error {
    let alt = leaf.and_then(cert::alt_names_of).unwrap_or_default();
    let reason = if host.parse::<IpAddr>().is_ok() {
        format!("IP: {host} is not in the cert's list: {alt}")
    } else {
        format!("Host: {host}. is not in the cert's altnames: {alt}")
    };
    Error::new(
        ErrorCode::ERR_TLS_CERT_ALTNAME_INVALID,
        format!("Hostname/IP does not match certificate's altnames: {reason}"),
    )
}

/// A handshake or record-layer failure. `first` holds the first bytes the
/// peer sent, so a plain HTTP request to a TLS server is named as
/// OpenSSL names it.
pub(crate) fn protocol_error(err: &rustls::Error, first: &[u8]) -> Error {
    use rustls::Error as E;
    let ssl =
        |code: &'static str, reason: &str| Error::new(ErrorCode::Custom(code), reason.to_owned());
    match err {
        E::InvalidMessage(_) | E::InappropriateMessage { .. } if looks_like_http(first) => {
            Error::new(ErrorCode::ERR_SSL_HTTP_REQUEST, "http request")
        }
        E::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType
            | rustls::InvalidMessage::UnknownProtocolVersion,
        )
        | E::PeerSentOversizedRecord => Error::new(
            ErrorCode::ERR_SSL_WRONG_VERSION_NUMBER,
            "wrong version number",
        ),
        E::InvalidMessage(_) => ssl("ERR_SSL_DECODE_ERROR", "decode error"),
        E::InappropriateMessage { .. } | E::InappropriateHandshakeMessage { .. } => {
            ssl("ERR_SSL_UNEXPECTED_MESSAGE", "unexpected message")
        }
        E::AlertReceived(a) => alert_error(*a),
        E::NoCertificatesPresented => ssl(
            "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE",
            "peer did not return a certificate",
        ),
        E::DecryptError => ssl(
            "ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC",
            "decryption failed or bad record mac",
        ),
        E::NoApplicationProtocol => {
            ssl("ERR_SSL_NO_APPLICATION_PROTOCOL", "no application protocol")
        }
        E::PeerIncompatible(p) => match p {
            PeerIncompatible::NoCipherSuitesInCommon => {
                ssl("ERR_SSL_NO_SHARED_CIPHER", "no shared cipher")
            }
            PeerIncompatible::ServerDoesNotSupportTls12Or13
            | PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig
            | PeerIncompatible::Tls12NotOffered
            | PeerIncompatible::Tls12NotOfferedOrEnabled
            | PeerIncompatible::SupportedVersionsExtensionRequired => {
                ssl("ERR_SSL_UNSUPPORTED_PROTOCOL", "unsupported protocol")
            }
            other => ssl(
                "ERR_SSL_SSL_HANDSHAKE_FAILURE",
                &format!("ssl handshake failure: {other:?}"),
            ),
        },
        E::InvalidCertificate(_) => ssl(
            "ERR_SSL_CERTIFICATE_VERIFY_FAILED",
            "certificate verify failed",
        ),
        other => ssl(
            "ERR_SSL_SSL_HANDSHAKE_FAILURE",
            &format!("ssl handshake failure: {other}"),
        ),
    }
}

fn looks_like_http(first: &[u8]) -> bool {
    [
        "GET ", "POST", "HEAD", "PUT ", "DELETE", "OPTIONS", "CONNECT", "PATCH",
    ]
    .iter()
    .any(|m| first.starts_with(m.as_bytes()))
}

/// An alert from the peer, as OpenSSL reports it (`ssl3_read_bytes:tlsv1
/// alert protocol version`, code `ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION`).
fn alert_error(a: AlertDescription) -> Error {
    use AlertDescription as A;
    let (code, reason) = match a {
        A::HandshakeFailure => (
            "ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE",
            "sslv3 alert handshake failure",
        ),
        A::BadCertificate => (
            "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE",
            "sslv3 alert bad certificate",
        ),
        A::UnsupportedCertificate => (
            "ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
            "sslv3 alert unsupported certificate",
        ),
        A::CertificateRevoked => (
            "ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED",
            "sslv3 alert certificate revoked",
        ),
        A::CertificateExpired => (
            "ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED",
            "sslv3 alert certificate expired",
        ),
        A::CertificateUnknown => (
            "ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN",
            "sslv3 alert certificate unknown",
        ),
        A::IllegalParameter => (
            "ERR_SSL_SSLV3_ALERT_ILLEGAL_PARAMETER",
            "sslv3 alert illegal parameter",
        ),
        A::UnexpectedMessage => (
            "ERR_SSL_SSLV3_ALERT_UNEXPECTED_MESSAGE",
            "sslv3 alert unexpected message",
        ),
        A::BadRecordMac => (
            "ERR_SSL_SSLV3_ALERT_BAD_RECORD_MAC",
            "sslv3 alert bad record mac",
        ),
        A::UnknownCA => ("ERR_SSL_TLSV1_ALERT_UNKNOWN_CA", "tlsv1 alert unknown ca"),
        A::AccessDenied => (
            "ERR_SSL_TLSV1_ALERT_ACCESS_DENIED",
            "tlsv1 alert access denied",
        ),
        A::DecodeError => (
            "ERR_SSL_TLSV1_ALERT_DECODE_ERROR",
            "tlsv1 alert decode error",
        ),
        A::DecryptError => (
            "ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR",
            "tlsv1 alert decrypt error",
        ),
        A::ProtocolVersion => (
            "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION",
            "tlsv1 alert protocol version",
        ),
        A::InsufficientSecurity => (
            "ERR_SSL_TLSV1_ALERT_INSUFFICIENT_SECURITY",
            "tlsv1 alert insufficient security",
        ),
        A::InternalError => (
            "ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR",
            "tlsv1 alert internal error",
        ),
        A::UnrecognisedName => ("ERR_SSL_TLSV1_UNRECOGNIZED_NAME", "tlsv1 unrecognized name"),
        A::NoApplicationProtocol => (
            "ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL",
            "tlsv1 alert no application protocol",
        ),
        A::CertificateRequired => (
            "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
            "tlsv13 alert certificate required",
        ),
        _ => ("ERR_SSL_SSL_HANDSHAKE_FAILURE", "ssl handshake failure"),
    };
    Error::new(ErrorCode::Custom(code), reason)
}

/// Make the alert rustls queued after a failed handshake the one OpenSSL
/// (so Node) sends, so that peers see Node's error:
///
/// - none at all when the first bytes a server got were no TLS record (a
///   plain HTTP request, text, noise): OpenSSL answers its first record's
///   `http request` and `wrong version number` with no alert
///   (`SSL_AD_NO_ALERT` in `ssl3_get_record`), so such a client reads
///   nothing before the close, where rustls would send one;
/// - `handshake_failure` for a TLS 1.2 client that sent no certificate to
///   a server requiring one (RFC 5246 section 7.4.6, and OpenSSL's
///   choice), where rustls sends TLS 1.3's `certificate_required` (Node's
///   client would say `ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED` over TLS
///   1.2). At that point of a TLS 1.2 handshake alerts are not encrypted,
///   so the record is rewritten only when it is exactly that plaintext
///   alert.
pub(crate) fn alert_as_openssl(err: &Error, first_flight: bool, tls12: bool, out: &mut Vec<u8>) {
    const CERTIFICATE_REQUIRED_TLS12: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 116];
    const HANDSHAKE_FAILURE: u8 = 40;
    match err.code().as_str() {
        "ERR_SSL_HTTP_REQUEST" | "ERR_SSL_WRONG_VERSION_NUMBER" if first_flight => out.clear(),
        "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE"
            if tls12 && out[..] == CERTIFICATE_REQUIRED_TLS12 =>
        {
            out[6] = HANDSHAKE_FAILURE;
        }
        _ => {}
    }
}

/// The client's error when the connection ends before the handshake
/// (Node's `ERR_SOCKET_CLOSED`-less `ECONNRESET` from `onSocketClose`).
pub(crate) fn client_disconnected() -> Error {
    Error::new(
        ErrorCode::ECONNRESET,
        "Client network socket disconnected before secure TLS connection was established",
    )
}

/// The server's `tlsClientError` when a client leaves mid-handshake.
pub(crate) fn hang_up() -> Error {
    Error::new(ErrorCode::ECONNRESET, "socket hang up")
}

/// `handshakeTimeout` passed (Node's `ERR_TLS_HANDSHAKE_TIMEOUT`).
pub(crate) fn handshake_timeout() -> Error {
    Error::new(
        ErrorCode::ERR_TLS_HANDSHAKE_TIMEOUT,
        "TLS handshake timeout",
    )
}
