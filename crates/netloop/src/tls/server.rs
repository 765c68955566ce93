//! `TlsServer`: Node's `tls.Server`, a [`Server`] whose connections get a
//! TLS layer.

use std::ops::Deref;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;

use super::config::{self, Resolver};
use super::layer::TlsLayer;
use super::options::{SecureContext, TlsServerOptions};
use super::{errors, TlsSocket};
use crate::error::{Error, Result};
use crate::events::{Event, ListenerId};
use crate::net::socket::{SECURE, TLS_HANDSHAKE_ERROR};
use crate::net::{Server, Socket};
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
/// shared by every connection.
#[derive(Clone)]
pub struct TlsServer {
    server: Server,
    shared: Rc<Shared>,
}

struct Shared {
    config: Arc<ServerConfig>,
    resolver: Arc<Resolver>,
    request_cert: bool,
    reject_unauthorized: bool,
    handshake_timeout: Duration,
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
        let (config, resolver) = config::server_config(&opts)?;
        let shared = Rc::new(Shared {
            config,
            resolver,
            request_cert: opts.request_cert,
            reject_unauthorized: opts.reject_unauthorized,
            handshake_timeout: opts.handshake_timeout,
        });
        let server = Server::with_options(opts.net);
        let s = Rc::clone(&shared);
        server.on(Server::CONNECTION, move |srv, sock| {
            if let Err(err) = s.secure(srv, sock) {
                tracing::warn!(target: "netloop::tls", error = %err, "no TLS layer: connection closed");
                sock.destroy();
            }
        });
        Ok(TlsServer { server, shared })
    }

    /// The plain server underneath.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Serve `ctx` to clients asking for `hostname` by SNI (Node:
    /// `server.addContext(hostname, context)`); `*.example.com` matches
    /// one label. Later additions win.
    pub fn add_context(&self, hostname: &str, ctx: SecureContext) -> &TlsServer {
        self.shared.resolver.add(hostname, ctx);
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
        self.shared.secure(&self.server, socket)?;
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
        let shared = Rc::clone(&self.shared);
        self.server.on(ev, move |s, a| {
            f(
                &TlsServer {
                    server: s.clone(),
                    shared: Rc::clone(&shared),
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
        let shared = Rc::clone(&self.shared);
        self.server.once(ev, move |s, a| {
            f(
                &TlsServer {
                    server: s.clone(),
                    shared: Rc::clone(&shared),
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

impl Shared {
    /// Node's `tlsConnectionListener`: a TLS layer on the connection, the
    /// handshake timer, and the events that report how it went.
    fn secure(&self, server: &Server, sock: &Socket) -> Result<()> {
        let layer = TlsLayer::server(
            Arc::clone(&self.config),
            self.request_cert,
            self.reject_unauthorized,
        )?;
        sock.start_tls(layer);
        // Node arms `handshakeTimeout` with the socket's own timer; a
        // timer of its own leaves the socket's `set_timeout` to the user.
        // Unref'd, as socket timers are: it never keeps the loop alive.
        let weak = sock.downgrade_weak();
        let timer = timers::set_timeout(self.handshake_timeout, move || {
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
