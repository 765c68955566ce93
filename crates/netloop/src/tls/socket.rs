//! `TlsSocket`: Node's `tls.TLSSocket`, a [`Socket`] with a TLS layer.

use std::ops::Deref;

use super::cert::PeerCertificate;
use super::{Cipher, TlsSession};
use crate::error::{Error, Result};
use crate::events::{Event, ListenerId};
use crate::net::Socket;

/// A TLS connection (Node: `tls.TLSSocket`, which extends `net.Socket`).
///
/// A `TlsSocket` is a [`Socket`] whose bytes pass through a TLS layer:
/// it dereferences to that socket, so every `Socket` method and event
/// works on it, with plaintext: `write` (returning `false` against the
/// high-water mark, then `drain`), `end` (our `close_notify`, then the
/// FIN), half-open sockets, `pause`/`resume` (real backpressure: the
/// layer reads only while the socket does), timeouts, `destroy`,
/// `reset_and_destroy`, the addresses. [`bytes_read`](Socket::bytes_read)
/// and [`bytes_written`](Socket::bytes_written) count plaintext, as Node's
/// do; [`wire_bytes_read`](TlsSocket::wire_bytes_read) and
/// [`wire_bytes_written`](TlsSocket::wire_bytes_written) count what went
/// over the connection.
///
/// Get one from [`tls::connect`](crate::tls::connect), or from a
/// [`TlsServer`](crate::tls::TlsServer)'s `secureConnection`. Listeners
/// added with [`on`](TlsSocket::on) receive the `TlsSocket`, so the TLS
/// getters are at hand in every event.
///
/// # Events, in order
///
/// Node 20's client order, verified with `node` (see
/// `tests/tls_interop.rs`): `connect`, `ready` (the TCP connection), then
/// `keylog` lines during the handshake, `secureConnect`, then `data`,
/// `session` (TLS 1.3 tickets arrive after the handshake), `end`,
/// `finish`, `close`. `data` never comes before `secureConnect`; writes
/// made before it are held and sent, in order, once it is done.
///
/// | Event | Payload | When | Node |
/// | --- | --- | --- | --- |
/// | [`SECURE_CONNECT`](TlsSocket::SECURE_CONNECT) | `()` | a client's handshake completed (and, with `reject_unauthorized`, the server was verified) | `'secureConnect'` |
/// | [`SECURE`](TlsSocket::SECURE) | `()` | the handshake completed, either side | `'secure'` |
/// | [`KEYLOG`](TlsSocket::KEYLOG) | `[u8]` | a line of NSS key log, for Wireshark | `'keylog'` |
/// | [`SESSION`](TlsSocket::SESSION) | [`TlsSession`] | the server sent a ticket: a later connect can resume | `'session'` |
///
/// # Differences from Node
///
/// - The certificate check runs during the handshake and its outcome is
///   acted on when the handshake completes, as in Node: a rejected server
///   sees the handshake complete and the client close.
/// - [`TlsSession`] is an in-memory value, not a serializable buffer.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct TlsSocket {
    pub(crate) socket: Socket,
}

impl Deref for TlsSocket {
    type Target = Socket;

    fn deref(&self) -> &Socket {
        &self.socket
    }
}

impl TlsSocket {
    /// The client's handshake completed and the server is trusted, or
    /// `reject_unauthorized` is off (Node: `'secureConnect'`).
    pub const SECURE_CONNECT: Event<()> = Event::new("secureConnect");
    /// The handshake completed, on either side (Node: `'secure'`).
    pub const SECURE: Event<()> = crate::net::socket::SECURE;
    /// A line of key material in NSS key log format, newline included
    /// (Node: `'keylog'`). Lines are made only while a listener exists;
    /// `SSLKEYLOGFILE` writes them to a file for every connection.
    pub const KEYLOG: Event<[u8]> = Event::new("keylog");
    /// The server sent a session ticket; the payload resumes with
    /// [`TlsConnectOptions::session`](crate::tls::TlsConnectOptions::session)
    /// (Node: `'session'`).
    pub const SESSION: Event<TlsSession> = Event::new("session");

    /// The TLS socket of `socket`, if TLS runs on it (a listener given a
    /// `&Socket` can get back to the TLS getters).
    pub fn from_socket(socket: &Socket) -> Option<TlsSocket> {
        socket.with_tls(|_| ()).map(|()| TlsSocket {
            socket: socket.clone(),
        })
    }

    /// The socket underneath (the same object: clones compare equal).
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// True (Node: `tlsSocket.encrypted`).
    pub fn encrypted(&self) -> bool {
        true
    }

    /// True once the peer's certificate was verified: trusted, and for a
    /// client naming the server (Node: `tlsSocket.authorized`).
    pub fn authorized(&self) -> bool {
        self.socket.with_tls(|t| t.authorized).unwrap_or(false)
    }

    /// Why the peer's certificate was not verified (Node:
    /// `tlsSocket.authorizationError`, here the whole error with Node's
    /// code: `DEPTH_ZERO_SELF_SIGNED_CERT`, `ERR_TLS_CERT_ALTNAME_INVALID`,
    /// ...).
    pub fn authorization_error(&self) -> Option<Error> {
        self.socket
            .with_tls(|t| t.authorization_error.clone())
            .flatten()
    }

    /// The peer's certificate (Node: `tlsSocket.getPeerCertificate()`);
    /// `None` before the handshake, or when the peer sent none.
    pub fn get_peer_certificate(&self) -> Option<PeerCertificate> {
        self.socket.with_tls(|t| t.peer_certificate()).flatten()
    }

    /// The peer's whole chain, leaf first (Node:
    /// `getPeerCertificate(true)` follows `issuerCertificate`).
    pub fn get_peer_certificate_chain(&self) -> Vec<PeerCertificate> {
        self.socket.with_tls(|t| t.peer_chain()).unwrap_or_default()
    }

    /// `"TLSv1.3"` or `"TLSv1.2"` once negotiated (Node:
    /// `tlsSocket.getProtocol()`).
    pub fn get_protocol(&self) -> Option<&'static str> {
        self.socket.with_tls(|t| t.protocol()).flatten()
    }

    /// The negotiated cipher suite (Node: `tlsSocket.getCipher()`).
    pub fn get_cipher(&self) -> Option<Cipher> {
        self.socket.with_tls(|t| t.cipher()).flatten()
    }

    /// The protocol agreed by ALPN (Node: `tlsSocket.alpnProtocol`, which
    /// is `false` where this is `None`).
    pub fn alpn_protocol(&self) -> Option<String> {
        self.socket.with_tls(|t| t.alpn_protocol()).flatten()
    }

    /// The SNI name: the one the client asked for (server side) or the
    /// one checked (client side) (Node: `tlsSocket.servername`).
    pub fn servername(&self) -> Option<String> {
        self.socket.with_tls(|t| t.servername()).flatten()
    }

    /// The session to resume with later (Node: `tlsSocket.getSession()`);
    /// `None` until the server sent a ticket.
    pub fn get_session(&self) -> Option<TlsSession> {
        crate::net::socket::session_of(&self.socket).filter(TlsSession::is_resumable)
    }

    /// True when this connection resumed a session (Node:
    /// `tlsSocket.isSessionReused()`).
    pub fn is_session_reused(&self) -> bool {
        self.socket
            .with_tls(|t| t.is_session_reused())
            .unwrap_or(false)
    }

    /// Keying material from the session (RFC 5705; Node:
    /// `tlsSocket.exportKeyingMaterial(length, label, context)`).
    ///
    /// # Errors
    ///
    /// Before the handshake completed.
    pub fn export_keying_material(
        &self,
        len: usize,
        label: &[u8],
        context: Option<&[u8]>,
    ) -> Result<Vec<u8>> {
        self.socket
            .with_tls(|t| t.export_keying_material(len, label, context))
            .unwrap_or_else(|| {
                Err(Error::new(
                    crate::error::ErrorCode::ERR_SOCKET_CLOSED,
                    "Socket is closed",
                ))
            })
    }

    /// Bytes read off the connection: records, handshake and alerts
    /// included ([`bytes_read`](Socket::bytes_read) counts plaintext).
    pub fn wire_bytes_read(&self) -> u64 {
        self.socket.with_tls(|t| t.wire_read).unwrap_or(0)
    }

    /// Bytes handed to the connection: records, handshake and alerts
    /// included ([`bytes_written`](Socket::bytes_written) counts
    /// plaintext).
    pub fn wire_bytes_written(&self) -> u64 {
        self.socket.with_tls(|t| t.wire_written).unwrap_or(0)
    }

    /// Add a listener that receives this `TlsSocket` (Node:
    /// `tlsSocket.on(name, fn)`); the [`Socket`] events work too. See
    /// [`Socket::on`] for the rules.
    ///
    /// # Panics
    ///
    /// As [`Socket::on`].
    #[track_caller]
    pub fn on<A: ?Sized + 'static>(
        &self,
        ev: Event<A>,
        mut f: impl FnMut(&TlsSocket, &A) + 'static,
    ) -> ListenerId {
        self.socket.on(ev, move |s, a| f(&wrap(s), a))
    }

    /// [`on`](TlsSocket::on), once (Node: `tlsSocket.once(name, fn)`).
    ///
    /// # Panics
    ///
    /// As [`Socket::on`].
    #[track_caller]
    pub fn once<A: ?Sized + 'static>(
        &self,
        ev: Event<A>,
        mut f: impl FnMut(&TlsSocket, &A) + 'static,
    ) -> ListenerId {
        self.socket.once(ev, move |s, a| f(&wrap(s), a))
    }

    /// [`on`](TlsSocket::on), before the listeners already added (Node:
    /// `prependListener`).
    ///
    /// # Panics
    ///
    /// As [`Socket::on`].
    #[track_caller]
    pub fn prepend_listener<A: ?Sized + 'static>(
        &self,
        ev: Event<A>,
        mut f: impl FnMut(&TlsSocket, &A) + 'static,
    ) -> ListenerId {
        self.socket.prepend_listener(ev, move |s, a| f(&wrap(s), a))
    }
}

fn wrap(s: &Socket) -> TlsSocket {
    TlsSocket { socket: s.clone() }
}
