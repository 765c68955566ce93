//! `TlsServer`: Node's `tls.Server`, a [`Server`] whose connections get a
//! TLS layer.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;

use super::config::{self, Resolver};
use super::hooks::ClientVerifier;
use super::layer::TlsLayer;
use super::options::{SecureContext, TlsServerOptions};
use super::{errors, TlsSocket};
use crate::error::{Error, Result};
use crate::events::{Event, ListenerId};
use crate::net::socket::{SECURE, TLS_HANDSHAKE_ERROR};
use crate::net::{Server, ServerOptions, Socket};
use crate::timers;

/// A TLS server (Node: `tls.Server`, which extends `net.Server`).
///
/// It dereferences to the [`Server`] underneath: `listen`, `address`,
/// `close`, `connections`, the `listening`, `connection` (the raw TCP
/// connection, before any TLS) and `close` events all work as for a plain
/// server. Each accepted connection gets a TLS layer; once its handshake
/// completes the server emits [`SECURE_CONNECTION`](TlsServer::SECURE_CONNECTION)
/// with the [`TlsSocket`]. A handshake that fails (a client that does not
/// speak TLS, a protocol error, a client that leaves, `handshake_timeout`)
/// emits [`TLS_CLIENT_ERROR`](TlsServer::TLS_CLIENT_ERROR) and the socket
/// is destroyed; without a listener that happens silently, as in Node.
///
/// The rustls config is built once, when the server is created, and
/// shared by every connection; [`TlsServer::from_config`] shares one
/// [`TlsServerConfig`] between the servers of several loops.
#[derive(Clone)]
pub struct TlsServer {
    server: Server,
    config: TlsServerConfig,
}

/// A TLS server's settings, built once from [`TlsServerOptions`]: the
/// parsed key and certificates, the rustls config, its session-ticket
/// keys and the client certificate checks (Node has no such object: each
/// `tls.Server` builds its own `SecureContext`).
///
/// It is `Send + Sync` and cheap to clone. Build it once and give it to
/// every worker of a [`cluster`](crate::cluster), each making its server
/// with [`TlsServer::from_config`]: the workers then share one config
/// instead of parsing the key once each, and, since they share the
/// session-ticket keys, a client resumes its session whichever worker it
/// reaches next (Node's cluster workers each have keys of their own
/// unless given the same `ticketKeys`). Contexts added with
/// [`TlsServer::add_context`] belong to the config: every server made
/// from it serves them.
///
/// ```
/// use netloop::net::ServerOptions;
/// use netloop::tls::{TlsServer, TlsServerConfig, TlsServerOptions};
///
/// let key = rcgen::KeyPair::generate().expect("a key");
/// let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
///     .expect("params")
///     .self_signed(&key)
///     .expect("a certificate");
/// let config = TlsServerConfig::new(&TlsServerOptions {
///     key: key.serialize_pem().into_bytes(),
///     cert: cert.pem().into_bytes(),
///     ..TlsServerOptions::default()
/// })
/// .expect("a key and a certificate that match");
/// let workers: Vec<_> = (0..2)
///     .map(|_| {
///         let config = config.clone();
///         std::thread::spawn(move || {
///             netloop::run(move || {
///                 let server = TlsServer::from_config(&config, ServerOptions::default());
///                 server.listen(0, "127.0.0.1")?;
///                 server.close();
///                 Ok(())
///             })
///         })
///     })
///     .collect();
/// for w in workers {
///     w.join().expect("no panic").expect("the loop ran");
/// }
/// ```
#[derive(Clone)]
pub struct TlsServerConfig {
    inner: Arc<ConfigInner>,
}

struct ConfigInner {
    config: Arc<ServerConfig>,
    resolver: Arc<Resolver>,
    client_verifier: Option<Arc<ClientVerifier>>,
    reject_unauthorized: bool,
    handshake_timeout: Duration,
}

impl std::fmt::Debug for TlsServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServerConfig")
            .field("request_cert", &self.inner.client_verifier.is_some())
            .field("reject_unauthorized", &self.inner.reject_unauthorized)
            .field("handshake_timeout", &self.inner.handshake_timeout)
            .finish()
    }
}

impl TlsServerConfig {
    /// Build the settings of `opts` (all but [`net`](TlsServerOptions::net),
    /// which each server takes for itself: see
    /// [`TlsServer::from_config`]).
    ///
    /// # Errors
    ///
    /// `ERR_INVALID_ARG_VALUE` for a key or certificate that cannot be
    /// loaded, or a version range that is empty.
    pub fn new(opts: &TlsServerOptions) -> Result<TlsServerConfig> {
        let parts = config::server_config(opts)?;
        Ok(TlsServerConfig {
            inner: Arc::new(ConfigInner {
                config: parts.config,
                resolver: parts.resolver,
                client_verifier: parts.client_verifier,
                reject_unauthorized: opts.reject_unauthorized,
                handshake_timeout: opts.handshake_timeout,
            }),
        })
    }
}

/// The payload of [`TlsServer::TLS_CLIENT_ERROR`] (Node's listener
/// arguments `(exception, tlsSocket)`).
#[derive(Clone, Debug)]
pub struct TlsClientError {
    /// Why the handshake failed, in Node's code and words.
    pub error: Error,
    /// The connection, already being destroyed.
    pub socket: TlsSocket,
}

/// The payload of [`TlsServer::KEYLOG`] (Node's `(line, tlsSocket)`).
#[derive(Clone, Debug)]
pub struct TlsKeylog {
    /// One NSS key log line, newline included.
    pub line: Vec<u8>,
    /// The connection it belongs to.
    pub socket: TlsSocket,
}

impl Deref for TlsServer {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer")
            .field("server", &self.server)
            .finish()
    }
}

impl TlsServer {
    /// A connection's handshake completed (Node: `'secureConnection'`).
    pub const SECURE_CONNECTION: Event<TlsSocket> = Event::new("secureConnection");
    /// A connection's handshake failed (Node: `'tlsClientError'`).
    pub const TLS_CLIENT_ERROR: Event<TlsClientError> = Event::new("tlsClientError");
    /// Key material of a connection's handshake (Node: the server's
    /// `'keylog'`); lines are made only while a listener exists.
    pub const KEYLOG: Event<TlsKeylog> = Event::new("keylog");

    /// A TLS server (Node: `new tls.Server(options)`); see
    /// [`tls::create_server`](crate::tls::create_server).
    ///
    /// # Errors
    ///
    /// `ERR_INVALID_ARG_VALUE` for a key or certificate that cannot be
    /// loaded, or a version range that is empty.
    ///
    /// # Panics
    ///
    /// Outside [`run`](crate::run).
    pub fn new(opts: TlsServerOptions) -> Result<TlsServer> {
        let config = TlsServerConfig::new(&opts)?;
        Ok(TlsServer::from_config(&config, opts.net))
    }

    /// A TLS server with settings built before, on this loop or another
    /// (see [`TlsServerConfig`]), and `net` for the server underneath.
    ///
    /// # Panics
    ///
    /// Outside [`run`](crate::run).
    pub fn from_config(config: &TlsServerConfig, net: ServerOptions) -> TlsServer {
        let server = Server::with_options(net);
        let c = config.clone();
        server.on(Server::CONNECTION, move |srv, sock| {
            if let Err(err) = c.secure(srv, sock) {
                tracing::warn!(target: "netloop::tls", error = %err, "no TLS layer: connection closed");
                sock.destroy();
            }
        });
        TlsServer {
            server,
            config: config.clone(),
        }
    }

    /// The settings this server was made with (to make more servers
    /// with, on other loops).
    pub fn config(&self) -> &TlsServerConfig {
        &self.config
    }

    /// The plain server underneath.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Serve `ctx` to clients asking for `hostname` by SNI (Node:
    /// `server.addContext(hostname, context)`); `*.example.com` matches
    /// one label. Later additions win.
    pub fn add_context(&self, hostname: &str, ctx: SecureContext) -> &TlsServer {
        self.config.inner.resolver.add(hostname, ctx);
        self
    }

    /// Start the server side of TLS on a connected socket (Node: `new
    /// tls.TLSSocket(socket, { isServer: true, ... })`): STARTTLS. The
    /// handshake's outcome is this server's `secureConnection` or
    /// `tlsClientError`, and the socket's [`TlsSocket::SECURE`].
    ///
    /// # Errors
    ///
    /// `ERR_INVALID_ARG_VALUE` if TLS already runs on the socket.
    pub fn upgrade(&self, socket: &Socket) -> Result<TlsSocket> {
        if TlsSocket::from_socket(socket).is_some() {
            return Err(already_tls());
        }
        self.config.secure(&self.server, socket)?;
        Ok(TlsSocket {
            socket: socket.clone(),
        })
    }

    /// Add a listener that receives this `TlsServer` (Node:
    /// `server.on(name, fn)`); the [`Server`] events work too.
    ///
    /// # Panics
    ///
    /// As [`Server::on`].
    #[track_caller]
    pub fn on<A: ?Sized + 'static>(
        &self,
        ev: Event<A>,
        mut f: impl FnMut(&TlsServer, &A) + 'static,
    ) -> ListenerId {
        let config = self.config.clone();
        self.server.on(ev, move |s, a| {
            f(
                &TlsServer {
                    server: s.clone(),
                    config: config.clone(),
                },
                a,
            )
        })
    }

    /// [`on`](TlsServer::on), once (Node: `server.once(name, fn)`).
    ///
    /// # Panics
    ///
    /// As [`Server::on`].
    #[track_caller]
    pub fn once<A: ?Sized + 'static>(
        &self,
        ev: Event<A>,
        mut f: impl FnMut(&TlsServer, &A) + 'static,
    ) -> ListenerId {
        let config = self.config.clone();
        self.server.once(ev, move |s, a| {
            f(
                &TlsServer {
                    server: s.clone(),
                    config: config.clone(),
                },
                a,
            )
        })
    }
}

pub(crate) fn already_tls() -> Error {
    Error::new(
        crate::error::ErrorCode::ERR_INVALID_ARG_VALUE,
        "The argument 'socket' is invalid: TLS already runs on it",
    )
}

impl TlsServerConfig {
    /// Node's `tlsConnectionListener`: a TLS layer on the connection, the
    /// handshake timer, and the events that report how it went.
    fn secure(&self, server: &Server, sock: &Socket) -> Result<()> {
        let inner = &*self.inner;
        let layer = TlsLayer::server(
            Arc::clone(&inner.config),
            inner.client_verifier.clone(),
            inner.reject_unauthorized,
        )?;
        sock.start_tls(layer);
        // Node arms `handshakeTimeout` with the socket's own timer; a
        // timer of its own leaves the socket's `set_timeout` to the user.
        // Unref'd, as socket timers are: it never keeps the loop alive.
        let weak = sock.downgrade_weak();
        let timer = timers::set_timeout(inner.handshake_timeout, move || {
            if let Some(s) = weak.upgrade() {
                s.fail_tls_handshake(errors::handshake_timeout());
            }
        });
        timer.unref();
        let t = timer.clone();
        let srv = server.clone();
        sock.once(SECURE, move |s, _| {
            t.cancel();
            s.remove_all_listeners(Some(TLS_HANDSHAKE_ERROR.name()));
            srv.emit(
                TlsServer::SECURE_CONNECTION,
                &TlsSocket { socket: s.clone() },
            );
        });
        let srv = server.clone();
        sock.once(TLS_HANDSHAKE_ERROR, move |s, err| {
            timer.cancel();
            srv.emit(
                TlsServer::TLS_CLIENT_ERROR,
                &TlsClientError {
                    error: err.clone(),
                    socket: TlsSocket { socket: s.clone() },
                },
            );
        });
        if server.listener_count(TlsServer::KEYLOG.name()) > 0 {
            let srv = server.clone();
            sock.on(TlsSocket::KEYLOG, move |s, line| {
                srv.emit(
                    TlsServer::KEYLOG,
                    &TlsKeylog {
                        line: line.to_vec(),
                        socket: TlsSocket { socket: s.clone() },
                    },
                );
            });
        }
        Ok(())
    }
}
