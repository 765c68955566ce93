//! The TLS seam: where a socket's bytes pass through its TLS layer.
//!
//! A socket's transport is either its stream handle alone (plain TCP or a
//! Unix socket) or the stream handle with a TLS layer over it
//! ([`TlsLayer`], boxed in the socket's state only once TLS starts, so
//! plain sockets pay one pointer). Node's rules above the seam do not
//! change: they see plaintext. The layer changes four paths:
//!
//! - **Reads.** Ciphertext from the stream goes into the layer; the
//!   plaintext it yields goes into the ordinary read path
//!   (`on_read_chunk`: flowing, buffering, backpressure, `bytes_read`),
//!   and what rustls has to send (handshake messages, tickets, alerts) is
//!   written to the stream. The peer's `close_notify` is the end of the
//!   readable side; so is its FIN without one, as in Node (which emits
//!   `end` on a bare FIN after the handshake). A FIN, a reset or a
//!   protocol error before the handshake completed fails the handshake.
//! - **Writes.** Plaintext is encrypted and the records go to the stream
//!   as one owned buffer, with the write's callback on it. Writes made
//!   before the handshake completed are held in order, as writes made
//!   while connecting are, and leave once it completes; they count in
//!   `writable_length`, so `write()` says `false` against the high-water
//!   mark as for any socket.
//! - **End.** `end()` sends `close_notify`, then the FIN.
//! - **The handshake's end.** The layer settles `authorized()`; a client
//!   that rejects the unauthorized fails with the verification error
//!   (Node's `onConnectSecure`), a server that requires client
//!   certificates and got none it trusts closes the connection without
//!   sending its last flight (`onServerSocketSecure`) and reports it as
//!   a failed handshake, `socket hang up`, as Node's server does.
//!   Otherwise the socket emits [`SECURE`], on which the TLS client emits
//!   `secureConnect` and the TLS server `secureConnection`; then held
//!   writes and a held `end()` go out.
//!
//! A handshake failure is the socket's `error` on the client. On the
//! server the socket emits [`TLS_HANDSHAKE_ERROR`] (the TLS server turns
//! it into `tlsClientError`) and is destroyed without an `error` event:
//! nobody had a chance to listen on it yet.

use std::cell::Cell;

use super::state::Conn;
use super::{Socket, SocketInner};
use crate::error::Error;
use crate::events::Event;
use crate::stream::{WriteCb, WriteData, WriteOutcome};
use crate::tls::layer::TlsLayer;
use crate::tls::{errors, TlsSession, TlsSocket};

/// A write held in the socket: its bytes and its callback.
type HeldWrite = (Vec<u8>, Option<WriteCb>);

/// The handshake completed (Node's internal `secure` event).
pub(crate) const SECURE: Event<()> = Event::new("secure");
/// A server-side handshake failed; the TLS server reports it as
/// `tlsClientError`.
pub(crate) const TLS_HANDSHAKE_ERROR: Event<Error> = Event::new("_tlsHandshakeError");

thread_local! {
    /// Decrypted bytes on their way to `on_read_chunk`: one buffer per
    /// thread, not per connection.
    static PLAIN: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Keep at most this much scratch capacity between reads.
const PLAIN_KEEP: usize = 256 * 1024;

fn take_plain() -> Vec<u8> {
    PLAIN.with(Cell::take)
}

fn put_plain(mut v: Vec<u8>) {
    v.clear();
    if v.capacity() <= PLAIN_KEEP {
        PLAIN.with(|p| p.set(v));
    }
}

impl Socket {
    /// Put a TLS layer over this socket's stream (a TLS client or server
    /// socket, or STARTTLS on an open one).
    pub(crate) fn start_tls(&self, layer: TlsLayer) {
        self.inner.start_tls(layer);
    }

    /// Run `f` on the TLS layer; `None` for a plain socket.
    pub(crate) fn with_tls<R>(&self, f: impl FnOnce(&mut TlsLayer) -> R) -> Option<R> {
        self.inner.st.borrow_mut().tls_mut().map(f)
    }

    /// Fail the handshake from outside (the server's handshake timeout);
    /// nothing happens once it completed.
    pub(crate) fn fail_tls_handshake(&self, err: Error) {
        let handshaking = self.inner.st.borrow().tls_handshaking();
        if handshaking && !self.destroyed() {
            self.inner.tls_fail(err);
        }
    }
}

impl SocketInner {
    fn start_tls(&self, layer: TlsLayer) {
        let (open, buffered) = {
            let mut st = self.st.borrow_mut();
            st.cold().tls = Some(Box::new(layer));
            let open = st.conn == Conn::Open;
            if open && !st.eof() {
                st.reading = true;
            }
            // Bytes read and not delivered yet belong to the TLS stream:
            // a STARTTLS client may send its ClientHello right behind the
            // command that asked for it, and a client behind a proxy sends
            // it right behind the PROXY header. They were counted in
            // `bytes_read` as they came; they are ciphertext, and
            // `bytes_read` counts the plaintext they will carry.
            let buffered = if open {
                st.cold.as_mut().map(|c| std::mem::take(&mut c.read_buf))
            } else {
                None
            }
            .unwrap_or_default();
            st.bytes_read = st.bytes_read.saturating_sub(buffered.len() as u64);
            (open, buffered)
        };
        if !open {
            // The handshake starts once connected (`on_connected`).
            return;
        }
        if !self.tls_send_output() {
            return;
        }
        self.sync_read();
        self.update_active();
        // Never inside the caller's own call: what was buffered, and what
        // waits in the kernel (no new edge will report it), is read on
        // the next tick.
        let me = self.me.clone();
        self.lp.next_tick(move || {
            let Some(inner) = me.upgrade() else { return };
            if inner.st.borrow().destroyed() {
                return;
            }
            if !buffered.is_empty() {
                inner.tls_on_read(&buffered);
            }
            if inner.st.borrow().can_read() {
                inner.stream.read_now(&inner.lp, &*inner);
            }
        });
    }

    /// True while a TLS layer is present and its handshake not done.
    pub(super) fn tls_handshaking(&self) -> bool {
        self.st.borrow().tls_handshaking()
    }

    /// Write what rustls queued (a ClientHello, handshake replies,
    /// alerts); false if the socket failed.
    pub(super) fn tls_send_output(&self) -> bool {
        let out = self
            .st
            .borrow_mut()
            .tls_mut()
            .map(|t| t.take_output())
            .unwrap_or_default();
        out.is_empty() || self.tls_write_wire(out)
    }

    fn tls_write_wire(&self, out: Vec<u8>) -> bool {
        match self.stream.write(WriteData::Owned(out), None) {
            Ok(WriteOutcome::Done(_)) => true,
            Ok(WriteOutcome::Queued) => {
                self.update_active();
                true
            }
            Err((err, _)) => {
                self.destroy(Some(err));
                false
            }
        }
    }

    /// Plaintext to ciphertext for the stream; a plain socket's bytes
    /// pass as they are.
    pub(super) fn tls_wrap<'a>(&self, data: WriteData<'a>) -> Result<WriteData<'a>, Error> {
        let mut st = self.st.borrow_mut();
        match st.tls_mut() {
            None => Ok(data),
            Some(t) => t.encrypt(data.as_slice()).map(WriteData::Owned),
        }
    }

    /// Encrypt writes held during the handshake or while corked.
    pub(super) fn tls_wrap_all(&self, pending: Vec<HeldWrite>) -> Result<Vec<HeldWrite>, Error> {
        let mut st = self.st.borrow_mut();
        let Some(t) = st.tls_mut() else {
            return Ok(pending);
        };
        pending
            .into_iter()
            .map(|(data, cb)| t.encrypt(&data).map(|c| (c, cb)))
            .collect()
    }

    /// Our `close_notify`, written before the FIN.
    pub(super) fn tls_close_notify(&self) {
        let out = self
            .st
            .borrow_mut()
            .tls_mut()
            .map(|t| t.close_notify())
            .unwrap_or_default();
        if !out.is_empty() {
            self.tls_write_wire(out);
        }
    }

    /// Ciphertext came off the wire. What the TLS layer held back for
    /// this read (see `TlsLayer::feed`) leaves with the first write a
    /// listener makes, or here once they all ran.
    pub(super) fn tls_on_read(&self, chunk: &[u8]) {
        self.tls_on_read_records(chunk);
        if !self.st.borrow().destroyed() {
            self.tls_send_output();
        }
    }

    fn tls_on_read_records(&self, chunk: &[u8]) {
        let keylog = self.listeners.count(TlsSocket::KEYLOG.name()) > 0;
        let mut plain = take_plain();
        let fed = {
            let mut st = self.st.borrow_mut();
            match st.tls_mut() {
                Some(t) => t.feed(chunk, &mut plain, keylog),
                None => {
                    drop(st);
                    put_plain(plain);
                    return self.on_read_chunk(chunk);
                }
            }
        };
        let done = |inner: &SocketInner| inner.st.borrow().destroyed();
        // A server that refuses the client's certificate closes the
        // connection without its last flight (Node's `onServerSocketSecure`
        // destroys the socket before OpenSSL's Finished or tickets leave):
        // a TLS 1.2 client sees its handshake fail.
        let refused = fed.secure_now
            && fed.error.is_none()
            && self
                .st
                .borrow_mut()
                .tls_mut()
                .is_some_and(|t| t.refuses_client());
        if !refused && !fed.out.is_empty() && !self.tls_write_wire(fed.out) {
            return put_plain(plain);
        }
        if let Some(socket) = self.socket() {
            for line in &fed.keylog {
                socket.emit(TlsSocket::KEYLOG, &line[..]);
            }
        }
        if let Some(err) = fed.error {
            put_plain(plain);
            return self.tls_fail(err);
        }
        if refused {
            put_plain(plain);
            return self.tls_refuse_client();
        }
        if fed.secure_now {
            self.tls_secure();
            if done(self) {
                return put_plain(plain);
            }
        }
        if !plain.is_empty() {
            self.on_read_chunk(&plain);
        }
        put_plain(plain);
        if done(self) {
            return;
        }
        if fed.sessions > 0 {
            let session = self
                .st
                .borrow()
                .tls()
                .and_then(|t| t.session.clone())
                .unwrap_or_default();
            if let Some(socket) = self.socket() {
                for _ in 0..fed.sessions {
                    socket.emit(TlsSocket::SESSION, &session);
                }
            }
            if done(self) {
                return;
            }
        }
        if fed.eof {
            self.on_read_eof();
        }
    }

    /// The stream's EOF: the end of the readable side once secure (with or
    /// without `close_notify`, as Node), a failed handshake before.
    pub(super) fn tls_on_eof(&self) {
        let (handshaking, server) = {
            let st = self.st.borrow();
            match st.tls() {
                Some(t) => (t.handshaking(), t.is_server()),
                None => (false, false),
            }
        };
        if !handshaking {
            return self.on_read_eof();
        }
        self.tls_fail(if server {
            errors::hang_up()
        } else {
            errors::client_disconnected()
        });
    }

    /// A stream error: during the handshake it fails the handshake.
    pub(super) fn tls_on_error(&self, err: Error) {
        if self.tls_handshaking() {
            self.tls_fail(err);
        } else {
            self.destroy(Some(err));
        }
    }

    /// A server socket the user does not hold yet: no `secureConnection`
    /// was emitted for it (Node's `!_controlReleased`). That lasts past
    /// the handshake's end by the session tickets the server writes then.
    pub(super) fn tls_unreleased_server(&self) -> bool {
        self.st
            .borrow()
            .tls()
            .is_some_and(|t| t.is_server() && !t.released)
    }

    /// The handshake or the connection failed.
    fn tls_fail(&self, err: Error) {
        if !self.tls_unreleased_server() {
            return self.destroy(Some(err));
        }
        self.tls_client_error(err);
    }

    /// A server socket failed before the user held it: nobody can listen
    /// for its `error`, so the server reports it (`tlsClientError`, Node's
    /// `tlsConnectionListener` routing `_tlsError` while control is not
    /// released) and the socket is destroyed without one. A reset that
    /// meets the session tickets the server writes right after the
    /// handshake lands here, not in an unhandled `error` that would end
    /// `run`.
    pub(super) fn tls_client_error(&self, err: Error) {
        tracing::debug!(target: "netloop::tls", error = %err, "tlsClientError");
        if let Some(socket) = self.socket() {
            socket.emit(TLS_HANDSHAKE_ERROR, &err);
        }
        self.destroy(None);
    }

    /// The server refused the client's certificate: the connection closes,
    /// and the server reports it as Node's does (`tlsClientError`
    /// `ECONNRESET` `socket hang up`, from its `onSocketClose`: the socket
    /// closed before control passed to the user). No `secureConnection`.
    fn tls_refuse_client(&self) {
        let err = self
            .st
            .borrow()
            .tls()
            .and_then(|t| t.authorization_error.clone());
        tracing::debug!(target: "netloop::tls", error = ?err, "client certificate refused");
        if let Some(socket) = self.socket() {
            socket.emit(TLS_HANDSHAKE_ERROR, &errors::hang_up());
        }
        self.destroy(None);
    }

    /// The handshake completed: settle authorization, then `secure`, then
    /// the writes held meanwhile.
    fn tls_secure(&self) {
        let check = self.st.borrow_mut().tls_mut().and_then(|t| t.settle());
        if let Some((check, host, leaf)) = check {
            let res = check(&host, &leaf);
            if let Some(t) = self.st.borrow_mut().tls_mut() {
                t.identity_checked(res);
            }
        }
        let (server, reject, auth_err) = {
            let st = self.st.borrow();
            let Some(t) = st.tls() else { return };
            (
                t.is_server(),
                t.reject_unauthorized,
                t.authorization_error.clone(),
            )
        };
        tracing::debug!(target: "netloop::tls", server, authorized = auth_err.is_none(), "secure");
        // A server's refusal was acted on before (`tls_refuse_client`); a
        // client that rejects the unauthorized fails with the reason
        // (Node's `onConnectSecure`).
        if let Some(err) = auth_err.filter(|_| reject && !server) {
            return self.destroy(Some(err));
        }
        let Some(socket) = self.socket() else { return };
        if let Some(t) = self.st.borrow_mut().tls_mut() {
            t.released = true;
        }
        socket.emit(SECURE, &());
        if self.st.borrow().destroyed() {
            return;
        }
        if self.st.borrow().corked() == 0 {
            self.flush_pending();
            if self.st.borrow().destroyed() {
                return;
            }
        }
        self.maybe_drain();
        self.maybe_shutdown();
        self.sync_read();
        self.update_active();
    }
}

/// The session a TLS client socket holds.
pub(crate) fn session_of(socket: &Socket) -> Option<TlsSession> {
    socket.with_tls(|t| t.session.clone()).flatten()
}

/// A weak reference to a socket, for timers that must not keep it alive.
pub(crate) struct WeakSocket(std::rc::Weak<SocketInner>);

impl WeakSocket {
    pub(crate) fn upgrade(&self) -> Option<Socket> {
        self.0.upgrade().map(|inner| Socket { inner })
    }
}

impl Socket {
    /// A weak reference to this socket.
    pub(crate) fn downgrade_weak(&self) -> WeakSocket {
        WeakSocket(self.downgrade())
    }
}
