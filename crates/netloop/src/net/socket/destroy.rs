//! Destroying: Node's `destroy`, `destroySoon` and `resetAndDestroy`, and
//! the `error` and `close` events that end every socket.

use super::state::{Conn, WriteSide};
use super::{Socket, SocketInner};
use crate::error::{Error, ErrorCode};
use crate::stream::WriteCb;

impl Socket {
    /// Close now (Node: `socket.destroy()`): the fd is closed at once, queued
    /// writes are dropped (their callbacks get `ERR_STREAM_DESTROYED`, or
    /// `ERR_SOCKET_CLOSED_BEFORE_CONNECTION` while connecting), and
    /// `close(false)` follows in the close phase. Calling it again does
    /// nothing. See [`destroy_with`](Socket::destroy_with) for an example.
    pub fn destroy(&self) -> &Socket {
        self.inner.destroy(None);
        self
    }

    /// Close now with an error (Node: `socket.destroy(err)`): as
    /// [`destroy`](Socket::destroy), then `error` with `err` on the next tick,
    /// the callbacks of dropped writes, and `close(true)`. With no `error`
    /// listener, `err` ends [`run`](crate::run).
    ///
    /// # Examples
    ///
    /// Destroyed while connecting: the queued write never leaves.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use netloop::net::{self, Socket};
    /// use netloop::{Error, ErrorCode};
    ///
    /// let log = Rc::new(RefCell::new(Vec::new()));
    /// let events = Rc::clone(&log);
    /// netloop::run(move || {
    ///     let server = net::create_server(|_, _| {});
    ///     server.listen(0, "127.0.0.1")?;
    ///     let port = server.address().expect("bound at once").port();
    ///     server.close();
    ///
    ///     let client = net::connect(port, "127.0.0.1")?;
    ///     let log = Rc::clone(&events);
    ///     client.write_with("never sent", move |_, err| {
    ///         let code = err.map(|e| e.code().as_str()).unwrap_or("none");
    ///         log.borrow_mut().push(format!("write: {code}"));
    ///     });
    ///     let log = Rc::clone(&events);
    ///     client.on(Socket::ERROR, move |_, err| log.borrow_mut().push(format!("error: {err}")));
    ///     let log = Rc::clone(&events);
    ///     client.on(Socket::CLOSE, move |_, had_error| {
    ///         log.borrow_mut().push(format!("close: {had_error}"));
    ///     });
    ///     client.destroy_with(Error::new(ErrorCode::ECONNABORTED, "gave up"));
    ///     assert!(client.destroyed());
    ///     client.destroy(); // already destroyed: nothing happens
    ///     Ok(())
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(
    ///     *log.borrow(),
    ///     ["error: gave up", "write: ERR_SOCKET_CLOSED_BEFORE_CONNECTION", "close: true"]
    /// );
    /// ```
    pub fn destroy_with(&self, err: Error) -> &Socket {
        self.inner.destroy(Some(err));
        self
    }

    /// End, then destroy once the queued writes and the FIN are out (Node:
    /// `socket.destroySoon()`): unlike [`end`](Socket::end), the socket does
    /// not wait for the peer's FIN.
    pub fn destroy_soon(&self) -> &Socket {
        // Node: `if (this.writable) this.end(); if (this.writableFinished)
        // this.destroy(); else this.once('finish', this.destroy);` — a
        // `finish` listener added before this call runs before the destroy,
        // one added after it finds the socket destroyed.
        let (writable, finished) = {
            let st = self.inner.st.borrow();
            (
                !st.ended() && !st.destroyed(),
                st.write == WriteSide::Finished,
            )
        };
        if writable {
            self.end();
        }
        if finished {
            self.destroy();
        } else {
            self.once(Socket::FINISH, |s, _| {
                s.destroy();
            });
        }
        self
    }

    /// Close with a TCP RST instead of a FIN (Node:
    /// `socket.resetAndDestroy()`): `SO_LINGER` with a zero timeout, then
    /// [`destroy`](Socket::destroy). The peer gets `ECONNRESET`; queued writes
    /// are dropped. While connecting, the reset waits for the connection. On a
    /// socket that never connected it destroys with `ERR_SOCKET_CLOSED`, as
    /// Node; on a Unix socket (no RST there) it destroys normally, where Node
    /// throws `ERR_INVALID_HANDLE_TYPE`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use netloop::net::{self, Socket};
    ///
    /// let log = Rc::new(RefCell::new(Vec::new()));
    /// let events = Rc::clone(&log);
    /// netloop::run(move || {
    ///     let server = net::create_server(|server, sock: &Socket| {
    ///         sock.reset_and_destroy();
    ///         server.close();
    ///     });
    ///     server.listen(0, "127.0.0.1")?;
    ///     let port = server.address().expect("bound at once").port();
    ///
    ///     let client = net::connect(port, "127.0.0.1")?;
    ///     client.on(Socket::DATA, |_, _| {});
    ///     let log = Rc::clone(&events);
    ///     client.on(Socket::ERROR, move |_, err| {
    ///         // `read ECONNRESET`, or `connect ECONNRESET 127.0.0.1:port` when the
    ///         // RST arrives with the handshake, as in Node.
    ///         log.borrow_mut().push(err.code().as_str().to_string());
    ///     });
    ///     let log = Rc::clone(&events);
    ///     client.on(Socket::CLOSE, move |_, had_error| {
    ///         log.borrow_mut().push(format!("close: {had_error}"));
    ///     });
    ///     Ok(())
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(*log.borrow(), ["ECONNRESET", "close: true"]);
    /// ```
    pub fn reset_and_destroy(&self) -> &Socket {
        let conn = self.inner.st.borrow().conn;
        if conn == Conn::Idle {
            // No handle to reset: Node destroys with ERR_SOCKET_CLOSED.
            return self.destroy_with(Error::new(ErrorCode::ERR_SOCKET_CLOSED, "Socket is closed"));
        }
        self.inner.st.borrow_mut().reset_on_close = true;
        if conn == Conn::Connecting {
            self.once(Socket::CONNECT, |s, _| {
                s.destroy();
            });
        } else {
            self.destroy();
        }
        self
    }
}

impl SocketInner {
    /// Node's `destroy` / `_destroy`: close the fd now, fail pending
    /// writes, `error` on the next tick, `close` in the close phase.
    pub(super) fn destroy(&self, err: Option<Error>) {
        if let Some(err) = err {
            // Every path that fails a TLS server socket before the user
            // holds it (a read, a write, the handshake) ends here.
            if self.tls_unreleased_server() && !self.st.borrow().destroyed() {
                return self.tls_client_error(err);
            }
            return self.destroy_now(Some(err));
        }
        self.destroy_now(None)
    }

    /// `destroy`, once a TLS server's early failures were routed away.
    fn destroy_now(&self, err: Option<Error>) {
        // A PROXY header no longer awaited (cancelled outside the borrow:
        // a timer's drop may touch the loop).
        let header_timer = self
            .st
            .borrow_mut()
            .cold
            .as_mut()
            .and_then(|c| c.proxy.as_mut())
            .and_then(|p| {
                p.pending = false;
                p.timer.take()
            });
        if let Some(t) = header_timer {
            t.cancel();
        }
        let (was_connecting, pending, timeout, server, reset, plan, on_finished, bytes) = {
            let mut st = self.st.borrow_mut();
            if st.destroyed() {
                return;
            }
            let was_connecting = st.conn == Conn::Connecting;
            st.conn = Conn::Destroyed {
                had_error: err.is_some(),
            };
            let (pending, timeout, plan, on_finished) = match st.cold.as_mut() {
                Some(c) => {
                    c.pending_bytes = 0;
                    c.read_buf = Vec::new();
                    c.proxy_out = None;
                    (
                        std::mem::take(&mut c.pending),
                        c.timeout.take(),
                        c.plan.take(),
                        std::mem::take(&mut c.on_finished),
                    )
                }
                None => (Vec::new(), None, None, Vec::new()),
            };
            (
                was_connecting,
                pending,
                timeout,
                st.server.take(),
                st.reset_on_close,
                plan,
                on_finished,
                (st.bytes_read, st.bytes_written),
            )
        };
        if let Some(t) = timeout {
            t.cancel();
        }
        if let Some(mut p) = plan {
            p.cancel_attempt_timer();
        }
        let mut cbs: Vec<WriteCb> = pending.into_iter().filter_map(|(_, cb)| cb).collect();
        self.stream.close(&self.lp, reset, &mut cbs);
        // Out of the readiness slab now: teardown must still reach it.
        self.track();
        self.handle_ref.set_active(false);
        self.handle_ref.req_clear();
        tracing::debug!(target: "netloop::net", error = ?err.as_ref().map(|e| e.to_string()), "destroy");
        if let Some(server) = server {
            server.connection_closed(bytes.0, bytes.1);
        }
        // Writes still queued fail after the `error` event, as in Node:
        // those waiting for the connection with
        // ERR_SOCKET_CLOSED_BEFORE_CONNECTION; the others with the error
        // the socket died of (Node's `state.errored`, e.g. the
        // `ECONNRESET` a write ran into), or ERR_STREAM_DESTROYED after a
        // plain `destroy()`.
        let cancel = if was_connecting {
            Error::new(
                ErrorCode::ERR_SOCKET_CLOSED_BEFORE_CONNECTION,
                "Socket closed before the connection was established",
            )
        } else {
            err.clone().unwrap_or_else(|| {
                Error::new(
                    ErrorCode::ERR_STREAM_DESTROYED,
                    "Cannot call write after a stream was destroyed",
                )
            })
        };
        let Some(socket) = self.socket() else { return };
        let had_error = err.is_some();
        if !on_finished.is_empty() {
            // Node's `errorBuffer`, queued before the `error` tick: `end(cb)`
            // callbacks still waiting for `finish` get the error the socket
            // died of, or ERR_STREAM_DESTROYED.
            let e = err.clone().unwrap_or_else(end_destroyed);
            let s = socket.clone();
            self.lp.next_tick(move || {
                for f in on_finished {
                    f(&s, Some(&e));
                }
            });
        }
        if let Some(err) = err {
            let s = socket.clone();
            self.lp.next_tick(move || s.emit_error(&err));
        }
        for cb in cbs {
            let e = cancel.clone();
            self.lp.next_tick(move || cb(Some(&e)));
        }
        self.lp.defer_close(move || {
            tracing::debug!(target: "netloop::net", "emit close");
            socket.emit(Socket::CLOSE, &had_error);
        });
    }
}

/// Node's `ERR_STREAM_DESTROYED('end')`.
pub(super) fn end_destroyed() -> Error {
    Error::new(
        ErrorCode::ERR_STREAM_DESTROYED,
        "Cannot call end after a stream was destroyed",
    )
}
