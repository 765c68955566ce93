//! TLS: Node's `tls` module, a TLS layer over netloop's streams, with
//! rustls as the engine.
//!
//! Node's `tls` is `net` with encryption: `tls.TLSSocket` extends
//! `net.Socket`, and `tls.Server` extends `net.Server`. netloop layers it
//! the same way. A [`TlsSocket`] *is* a [`Socket`](crate::net::Socket)
//! (it dereferences to one) whose bytes pass through a TLS layer between
//! the socket's Node rules and its stream handle: ciphertext below,
//! plaintext above. Every `Socket` method and event works on it, with
//! Node's semantics (backpressure, half-open with `close_notify`,
//! `pause`/`resume`, timeouts, `destroy`); `net/socket/tls.rs` writes the
//! seam's contract down. A [`TlsServer`] is a
//! [`Server`](crate::net::Server) whose connections get that layer.
//!
//! | Node | netloop |
//! | --- | --- |
//! | `tls.createServer(options, listener)` | [`create_server(opts, \|server, sock\| ..)`](create_server) (`secureConnection`) |
//! | `tls.connect(options)` | [`connect(opts)`](connect) (`secureConnect`) |
//! | `new tls.TLSSocket(socket, options)` (STARTTLS) | [`connect`] with [`TlsConnectOptions::socket`], [`TlsServer::upgrade`] |
//! | `tls.createSecureContext({ key, cert })` | [`SecureContext::new`] |
//! | `server.addContext(hostname, context)`, `SNICallback` | [`TlsServer::add_context`], [`TlsServerOptions::sni_callback`] |
//! | cluster workers with the same `ticketKeys` | one [`TlsServerConfig`] for every worker, [`TlsServer::from_config`] |
//!
//! ```
//! use netloop::tls::{self, TlsConnectOptions, TlsServerOptions, TlsSocket};
//! use netloop::net::Socket;
//!
//! // A CA and a certificate for localhost, made for this example.
//! let ca = rcgen::KeyPair::generate().expect("a key");
//! let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
//! params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
//! let ca_cert = params.self_signed(&ca).expect("a CA");
//! let key = rcgen::KeyPair::generate().expect("a key");
//! let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()])
//!     .expect("params")
//!     .signed_by(&key, &rcgen::Issuer::from_params(&params, &ca))
//!     .expect("a leaf");
//! let (key_pem, cert_pem, ca_pem) = (key.serialize_pem(), leaf.pem(), ca_cert.pem());
//!
//! let reply = netloop::run_returning(move || {
//!     let opts = TlsServerOptions {
//!         key: key_pem.into_bytes(),
//!         cert: cert_pem.into_bytes(),
//!         ..TlsServerOptions::default()
//!     };
//!     let server = tls::create_server(opts, |server, sock: &TlsSocket| {
//!         assert_eq!(sock.get_protocol(), Some("TLSv1.3"));
//!         sock.pipe(sock); // echo, in plaintext above the layer
//!         server.close();
//!     })?;
//!     server.listen(0, "127.0.0.1")?;
//!     let port = server.address().expect("bound at once").port();
//!
//!     let client = tls::connect(TlsConnectOptions {
//!         port,
//!         host: Some("127.0.0.1".into()),
//!         servername: Some("localhost".into()),
//!         ca: Some(ca_pem.into_bytes()),
//!         ..TlsConnectOptions::default()
//!     })?;
//!     client.end_with("hello over TLS"); // held until the handshake is done
//!     let reply = netloop::Slot::new(Vec::new());
//!     let sink = reply.clone();
//!     client.on(TlsSocket::SECURE_CONNECT, |c, _| assert!(c.authorized()));
//!     client.on(Socket::DATA, move |_, data| sink.update(|r| r.extend_from_slice(data)));
//!     Ok(reply)
//! })
//! .expect("the loop ran");
//! assert_eq!(reply, b"hello over TLS");
//! ```
//!
//! # The engine
//!
//! rustls 0.23 with the aws-lc-rs provider (chosen in one place,
//! `tls/provider.rs`): a memory-safe TLS stack, TLS 1.2 and 1.3 only
//! (Node 20's default range too). Each server builds its rustls config
//! once and shares it with every connection; client configs are shared by
//! every connection made with the same options. A connection carries only
//! rustls's state; the plaintext it decrypts passes through one buffer
//! per thread.
//!
//! # Errors in Node's words
//!
//! | Code | Message | Cause |
//! | --- | --- | --- |
//! | `ERR_TLS_CERT_ALTNAME_INVALID` | `Hostname/IP does not match certificate's altnames: Host: x. is not in the cert's altnames: DNS:localhost` | the certificate names another host |
//! | `DEPTH_ZERO_SELF_SIGNED_CERT` | `self-signed certificate` | an untrusted self-signed certificate |
//! | `UNABLE_TO_VERIFY_LEAF_SIGNATURE` | `unable to verify the first certificate` | no trusted issuer for the leaf |
//! | `CERT_HAS_EXPIRED` | `certificate has expired` | |
//! | `ERR_SSL_WRONG_VERSION_NUMBER` | `wrong version number` | the peer does not speak TLS |
//! | `ERR_SSL_HTTP_REQUEST` | `http request` | plain HTTP sent to a TLS server |
//! | `ECONNRESET` | `Client network socket disconnected before secure TLS connection was established` | the server closed mid-handshake |
//! | `ECONNRESET` | `socket hang up` (server's `tlsClientError`) | the client left mid-handshake |
//! | `ERR_TLS_HANDSHAKE_TIMEOUT` | `TLS handshake timeout` | `handshake_timeout` passed |
//! | `ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION`, ... | `tlsv1 alert protocol version`, ... | the peer's alert |

mod cert;
mod config;
pub(crate) mod errors;
pub(crate) mod hooks;
pub(crate) mod layer;
mod options;
mod provider;
mod server;
mod session;
mod socket;

use rustls::pki_types::ServerName;

pub use cert::PeerCertificate;
pub use layer::CheckServerIdentity;
pub use options::{SecureContext, SniCallback, TlsConnectOptions, TlsServerOptions, TlsVersion};
pub use server::{TlsClientError, TlsKeylog, TlsServer, TlsServerConfig};
pub use session::TlsSession;
pub use socket::TlsSocket;

use crate::error::{Error, ErrorCode, Result};
use crate::net::{self, ConnectOptions};
use layer::TlsLayer;

/// A TLS server whose `secureConnection` listener is `listener` (Node:
/// `tls.createServer(options, secureConnectionListener)`). See the
/// [module documentation](self) for an example.
///
/// # Errors
///
/// `ERR_INVALID_ARG_VALUE` for a key or certificate that cannot be
/// loaded, or a version range that is empty.
///
/// # Panics
///
/// Outside [`run`](crate::run).
pub fn create_server(
    opts: TlsServerOptions,
    listener: impl FnMut(&TlsServer, &TlsSocket) + 'static,
) -> Result<TlsServer> {
    let server = TlsServer::new(opts)?;
    server.on(TlsServer::SECURE_CONNECTION, listener);
    Ok(server)
}

/// Connect and start a TLS client (Node: `tls.connect(options)`), or
/// start TLS on [`opts.socket`](TlsConnectOptions::socket) (STARTTLS).
///
/// The socket emits `connect` and `ready` for the TCP connection, then
/// [`TlsSocket::SECURE_CONNECT`] once the handshake completed and the
/// server's certificate was accepted. Writes made before that are held
/// and sent after it, in order.
///
/// # Errors
///
/// At once: the errors of [`net::connect_with`]; `ERR_INVALID_ARG_VALUE`
/// for a `servername` that is not a valid DNS name or IP address, for PEM
/// input that cannot be loaded, or a `socket` that already runs TLS. As
/// an `error` event: the connection's errors, the handshake's
/// (`ERR_SSL_*`), and with `reject_unauthorized` the certificate's
/// (`ERR_TLS_CERT_ALTNAME_INVALID`, `DEPTH_ZERO_SELF_SIGNED_CERT`, ...).
///
/// # Panics
///
/// Outside [`run`](crate::run).
pub fn connect(opts: TlsConnectOptions) -> Result<TlsSocket> {
    let config = config::client_config(&opts)?;
    let host = opts.host.clone().unwrap_or_else(|| "localhost".to_owned());
    let name = opts.servername.clone().unwrap_or_else(|| host.clone());
    let server_name = ServerName::try_from(name.clone()).map_err(|_| {
        Error::new(
            ErrorCode::ERR_INVALID_ARG_VALUE,
            format!("The property 'options.servername' is invalid. Received '{name}'"),
        )
    })?;
    let layer = TlsLayer::client(
        config,
        server_name,
        name,
        opts.session,
        opts.reject_unauthorized,
        opts.check_server_identity,
    )?;
    let socket = match opts.socket {
        Some(s) => {
            if TlsSocket::from_socket(&s).is_some() {
                return Err(server::already_tls());
            }
            s
        }
        None => net::connect_with(ConnectOptions {
            port: opts.port,
            host: Some(host),
            path: None,
            ..opts.net
        })?,
    };
    // Node's `onConnectSecure`: `secureConnect` follows the internal
    // `secure` of a client socket.
    socket.once(TlsSocket::SECURE, |s, _| {
        s.emit(TlsSocket::SECURE_CONNECT, &());
    });
    socket.start_tls(layer);
    Ok(TlsSocket { socket })
}

/// A negotiated cipher suite (Node: `tlsSocket.getCipher()`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cipher {
    /// OpenSSL's name, as Node reports it (`TLS_AES_256_GCM_SHA384`,
    /// `ECDHE-RSA-AES128-GCM-SHA256`).
    pub name: String,
    /// The IANA name (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`).
    pub standard_name: String,
    /// The protocol version the suite belongs to (`TLSv1.3`).
    pub version: String,
}

impl Cipher {
    fn of(suite: rustls::CipherSuite, version: &str) -> Cipher {
        let rustls_name = suite.as_str().unwrap_or("unknown");
        let standard = match rustls_name.strip_prefix("TLS13_") {
            Some(rest) => format!("TLS_{rest}"),
            None => rustls_name.to_owned(),
        };
        let openssl = match standard.as_str() {
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => "ECDHE-ECDSA-AES128-GCM-SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => "ECDHE-ECDSA-AES256-GCM-SHA384",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" => "ECDHE-ECDSA-CHACHA20-POLY1305",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => "ECDHE-RSA-AES128-GCM-SHA256",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => "ECDHE-RSA-AES256-GCM-SHA384",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" => "ECDHE-RSA-CHACHA20-POLY1305",
            other => other,
        }
        .to_owned();
        Cipher {
            name: openssl,
            standard_name: standard,
            version: version.to_owned(),
        }
    }
}

/// The server side of the TLS layer without sockets, for the fuzz target
/// (`fuzz/fuzz_targets/tls_server.rs`). Not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    use std::sync::Arc;

    use super::config;
    use super::errors;
    use super::layer::TlsLayer;
    use super::TlsServerOptions;
    use crate::error::Result;

    /// A server config to feed connections through.
    pub struct ServerFeeder {
        config: Arc<rustls::ServerConfig>,
    }

    impl ServerFeeder {
        /// Build the config once.
        ///
        /// # Errors
        ///
        /// As [`TlsServer::new`](super::TlsServer::new).
        pub fn new(opts: &TlsServerOptions) -> Result<ServerFeeder> {
            Ok(ServerFeeder {
                config: config::server_config(opts)?.config,
            })
        }

        /// Feed `chunks` to a new server connection, as the socket does
        /// with what the stream reads; the end of the chunks is the
        /// peer's FIN. Returns the plaintext byte count when the
        /// connection ended cleanly, or the error it ended with.
        ///
        /// # Errors
        ///
        /// The connection's error, as the socket would report it.
        pub fn feed<'a>(&self, chunks: impl IntoIterator<Item = &'a [u8]>) -> Result<usize> {
            let mut layer = TlsLayer::server(Arc::clone(&self.config), None, false)?;
            let mut plain = Vec::new();
            for chunk in chunks {
                let fed = layer.feed(chunk, &mut plain, true);
                if let Some(err) = fed.error {
                    return Err(err);
                }
                if fed.eof {
                    return Ok(plain.len());
                }
            }
            if layer.handshaking() {
                return Err(errors::hang_up());
            }
            Ok(plain.len())
        }
    }
}
