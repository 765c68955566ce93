//! Writing: Node's `Writable` side of the socket — writes and their
//! callbacks, backpressure and `drain`, cork, `end()`, the FIN and
//! `finish`.

use super::state::{Conn, ReadSide, WriteSide};
use super::{Socket, SocketInner};
use crate::error::{Error, ErrorCode};
use crate::stream::{WriteCb, WriteData, WriteOutcome};

impl Socket {
    /// Write bytes (Node: `socket.write(data)`); `&str` is written as UTF-8.
    ///
    /// The bytes go to the kernel at once if nothing is queued; what it does
    /// not take is queued, in order. Returns `false` once the queued bytes
    /// ([`writable_length`](Socket::writable_length)) reach the high-water mark:
    /// stop writing and wait for [`Socket::DRAIN`]. Nothing is lost either way.
    /// While connecting, writes are queued and leave in one `writev` once
    /// connected. [`bytes_written`](Socket::bytes_written) counts every byte
    /// accepted here. Queued bytes are a copy: to hand a large buffer over
    /// without one, use [`write_owned`](Socket::write_owned).
    ///
    /// # Errors
    ///
    /// Nothing is returned; a write that cannot be made returns `false` and
    /// destroys the socket with an `error` event on a later tick:
    /// `ERR_STREAM_WRITE_AFTER_END` after our own `end()`, `EPIPE` after the
    /// peer's FIN (unless half-open), `ERR_SOCKET_CLOSED` on a socket that never
    /// connected, the `write` syscall's error (`EPIPE`, `ECONNRESET`). On a
    /// destroyed socket it only returns `false`. Use
    /// [`write_with`](Socket::write_with) to hear about one write's fate.
    ///
    /// # Examples
    ///
    /// Backpressure: 64 KiB written while connecting is over the 16 KiB mark,
    /// so `write` says `false` and `drain` follows once all of it left.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use netloop::net::{self, Socket};
    ///
    /// let received = Rc::new(Cell::new(0));
    /// let drains = Rc::new(Cell::new(0));
    /// let (total, drained) = (Rc::clone(&received), Rc::clone(&drains));
    /// netloop::run(move || {
    ///     let server = net::create_server(move |server, sock: &Socket| {
    ///         let total = Rc::clone(&total);
    ///         sock.on(Socket::DATA, move |_, chunk| total.set(total.get() + chunk.len()));
    ///         server.close();
    ///     });
    ///     server.listen(0, "127.0.0.1")?;
    ///     let port = server.address().expect("bound at once").port();
    ///
    ///     let client = net::connect(port, "127.0.0.1")?;
    ///     assert!(!client.write(vec![b'x'; 64 * 1024]));
    ///     assert_eq!(client.writable_length(), 64 * 1024);
    ///     client.on(Socket::DRAIN, move |c, _| {
    ///         drained.set(drained.get() + 1);
    ///         assert_eq!(c.writable_length(), 0);
    ///         assert_eq!(c.bytes_written(), 64 * 1024);
    ///         c.end();
    ///     });
    ///     Ok(())
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(drains.get(), 1);
    /// assert_eq!(received.get(), 64 * 1024);
    /// ```
    pub fn write(&self, data: impl AsRef<[u8]>) -> bool {
        self.inner.write(WriteData::Borrowed(data.as_ref()), None)
    }

    /// Write and call `f` once the bytes reached the kernel, or with the error
    /// if the socket failed first (Node: `socket.write(data, cb)`).
    ///
    /// `f` never runs inside this call, and always before `finish`. As in
    /// Node, a write the kernel takes at once calls back on the next tick
    /// (before a `next_tick` queued after this call, before immediates and
    /// timers); a write that waited in the queue calls back when the kernel
    /// takes it, in the poll phase and in write order, after `drain`. It
    /// runs even if every other handle to the socket was dropped. Returns as
    /// [`write`](Socket::write).
    ///
    /// # Errors
    ///
    /// Passed to `f`, never returned: `ERR_SOCKET_CLOSED_BEFORE_CONNECTION` if
    /// the socket was destroyed while connecting, `ERR_STREAM_DESTROYED` after
    /// `destroy()`, the error the socket died of otherwise, and the errors
    /// listed under [`write`](Socket::write).
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
    ///         sock.on(Socket::DATA, |_, _| {});
    ///         server.close();
    ///     });
    ///     server.listen(0, "127.0.0.1")?;
    ///     let port = server.address().expect("bound at once").port();
    ///
    ///     let client = net::connect(port, "127.0.0.1")?;
    ///     client.on(Socket::CONNECT, move |c, _| {
    ///         let log = Rc::clone(&events);
    ///         c.write_with("hello", move |c, err| {
    ///             log.borrow_mut().push(format!("written, error: {:?}", err.map(|e| e.code())));
    ///             c.destroy();
    ///             let log = Rc::clone(&log);
    ///             c.write_with("too late", move |_, err| {
    ///                 let code = err.map(|e| e.code().as_str()).unwrap_or("none");
    ///                 log.borrow_mut().push(format!("late write: {code}"));
    ///             });
    ///         });
    ///         events.borrow_mut().push("write returned".to_string());
    ///     });
    ///     Ok(())
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(
    ///     *log.borrow(),
    ///     ["write returned", "written, error: None", "late write: ERR_STREAM_DESTROYED"]
    /// );
    /// ```
    pub fn write_with(
        &self,
        data: impl AsRef<[u8]>,
        f: impl FnOnce(&Socket, Option<&Error>) + 'static,
    ) -> bool {
        self.inner
            .write(WriteData::Borrowed(data.as_ref()), Some(self.write_cb(f)))
    }

    /// Write a buffer that the socket takes over, so that it is never
    /// copied (Node: `socket.write(buffer)`, which queues the `Buffer`
    /// itself; here ownership says that the caller will not touch it
    /// again).
    ///
    /// [`write`](Socket::write) borrows its bytes, so what the kernel does
    /// not take at once is copied into the write queue: a large write to a
    /// peer that reads slowly holds the caller's buffer and a queued copy.
    /// `write_owned` moves the buffer in instead. The kernel takes what it
    /// can, the rest of the same allocation waits in the queue (an offset
    /// marks how far it went), and the buffer is freed once the kernel has
    /// the last byte of it. Writes made while connecting or corked hold it
    /// as it is too. Measured by `tests/write_memory.rs` (a 100 MB buffer,
    /// a peer that does not read, the process's anonymous RSS before and
    /// after the call): `write(&buf)` adds 96 MB, `write_owned(buf)` less
    /// than 0.1 MB, whether connected or still connecting.
    ///
    /// `Vec<u8>`, `String` and `Box<[u8]>` move in without a copy; `&[u8]`
    /// and `&str` are copied by the conversion, so use
    /// [`write`](Socket::write) for them. A small owned write still joins
    /// the small writes queued around it, as `write` does. Returns `false`
    /// when the caller should wait for [`Socket::DRAIN`], as `write`.
    ///
    /// # Errors
    ///
    /// As [`write`](Socket::write): nothing is returned, and a write that
    /// cannot be made destroys the socket with an `error` event on a later
    /// tick (the buffer is dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use netloop::net::{self, Socket};
    ///
    /// let received = Rc::new(RefCell::new(Vec::new()));
    /// let sink = Rc::clone(&received);
    /// netloop::run(move || {
    ///     let server = net::create_server(move |server, sock: &Socket| {
    ///         let sink = Rc::clone(&sink);
    ///         sock.on(Socket::DATA, move |_, data| sink.borrow_mut().extend_from_slice(data));
    ///         server.close();
    ///     });
    ///     server.listen(0, "127.0.0.1")?;
    ///     let port = server.address().expect("bound at once").port();
    ///
    ///     let client = net::connect(port, "127.0.0.1")?;
    ///     let report: Vec<u8> = (0..=255).cycle().take(1 << 20).collect();
    ///     client.write("size 1048576\n");
    ///     client.write_owned(report); // moved in: no copy, even if queued
    ///     client.end();
    ///     Ok(())
    /// })
    /// .expect("the loop ran");
    /// let received = received.borrow();
    /// assert_eq!(received.len(), 13 + (1 << 20));
    /// assert!(received.starts_with(b"size 1048576\n"));
    /// assert!(received[13..].iter().enumerate().all(|(i, &b)| b == i as u8));
    /// ```
    pub fn write_owned(&self, data: impl Into<Vec<u8>>) -> bool {
        self.inner.write(WriteData::Owned(data.into()), None)
    }

    /// [`write_owned`](Socket::write_owned) with a callback, called as
    /// [`write_with`](Socket::write_with)'s: once the last byte reached the
    /// kernel (the buffer is freed by then), or with the error if the
    /// socket failed first; never inside this call.
    ///
    /// # Errors
    ///
    /// Passed to `f`, never returned, as for
    /// [`write_with`](Socket::write_with).
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
    ///         sock.resume(); // read and discard
    ///         server.close();
    ///     });
    ///     server.listen(0, "127.0.0.1")?;
    ///     let port = server.address().expect("bound at once").port();
    ///
    ///     let client = net::connect(port, "127.0.0.1")?;
    ///     let log = Rc::clone(&events);
    ///     client.write_owned_with(vec![0u8; 4 << 20], move |c, err| {
    ///         assert!(err.is_none());
    ///         log.borrow_mut().push(format!("written: {} bytes", c.bytes_written()));
    ///         c.end();
    ///     });
    ///     Ok(())
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(*log.borrow(), ["written: 4194304 bytes"]);
    /// ```
    pub fn write_owned_with(
        &self,
        data: impl Into<Vec<u8>>,
        f: impl FnOnce(&Socket, Option<&Error>) + 'static,
    ) -> bool {
        self.inner
            .write(WriteData::Owned(data.into()), Some(self.write_cb(f)))
    }

    /// The callback of a write request. It holds the socket, as a libuv
    /// write request holds its handle: the callback runs even when the user
    /// dropped every other reference (a write made just before `end()`).
    /// The cycle lasts only while the request is queued; completion,
    /// destroy and loop teardown all consume it.
    fn write_cb(&self, f: impl FnOnce(&Socket, Option<&Error>) + 'static) -> WriteCb {
        let socket = self.clone();
        Box::new(move |err| f(&socket, err))
    }

    /// End our side (Node: `socket.end()`): our FIN goes out once the queued
    /// writes have, then `finish`. A connected socket is then
    /// [`ReadOnly`](crate::net::ReadyState::ReadOnly) and keeps reading until
    /// the peer ends too; with `allow_half_open` off (the default) a peer that
    /// ends first makes the socket call this itself. Node's `end(cb)` is
    /// [`end_then`](Socket::end_then). Called before or during `connect`, the
    /// FIN follows as soon as the connection is up (and its queued writes
    /// are out), as in Node. Calling it again does nothing.
    ///
    /// # Examples
    ///
    /// A half-open server answers after the client's FIN:
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use netloop::net::{self, ServerOptions, Socket};
    ///
    /// let log = Rc::new(RefCell::new(Vec::new()));
    /// let events = Rc::clone(&log);
    /// netloop::run(move || {
    ///     let half_open = ServerOptions { allow_half_open: true, ..ServerOptions::default() };
    ///     let on_server = Rc::clone(&events);
    ///     let server = net::create_server_with(half_open, move |server, sock: &Socket| {
    ///         let log = Rc::clone(&on_server);
    ///         sock.on(Socket::DATA, |_, _| {});
    ///         sock.on(Socket::END, move |s, _| {
    ///             log.borrow_mut().push(format!("server end: {}", s.ready_state()));
    ///             s.end_with("bye"); // still writable: half-open
    ///         });
    ///         server.close();
    ///     });
    ///     server.listen(0, "127.0.0.1")?;
    ///     let port = server.address().expect("bound at once").port();
    ///
    ///     let client = net::connect(port, "127.0.0.1")?;
    ///     client.end_with("hi");
    ///     let log = Rc::clone(&events);
    ///     client.on(Socket::FINISH, move |c, _| {
    ///         log.borrow_mut().push(format!("client finish: {}", c.ready_state()));
    ///     });
    ///     let log = Rc::clone(&events);
    ///     client.on(Socket::DATA, move |_, data| {
    ///         log.borrow_mut().push(format!("client data: {}", String::from_utf8_lossy(data)));
    ///     });
    ///     let log = Rc::clone(&events);
    ///     client.on(Socket::CLOSE, move |c, _| {
    ///         log.borrow_mut().push(format!("client close: {}", c.ready_state()));
    ///     });
    ///     Ok(())
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(
    ///     *log.borrow(),
    ///     [
    ///         "client finish: readOnly",
    ///         "server end: writeOnly",
    ///         "client data: bye",
    ///         "client close: closed",
    ///     ]
    /// );
    /// ```
    pub fn end(&self) -> &Socket {
        self.inner.end();
        self
    }

    /// End our side and call `f` once `finish` comes, before the `finish`
    /// listeners (Node: `socket.end(cb)`, which keeps its own list of
    /// finish callbacks). `f` gets the error instead if the socket is
    /// destroyed first (the error it died of, or `ERR_STREAM_DESTROYED`),
    /// and on the next tick `ERR_STREAM_ALREADY_FINISHED` if `finish` was
    /// already emitted. It never runs inside this call.
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
    ///         sock.resume();
    ///         server.close();
    ///     });
    ///     server.listen(0, "127.0.0.1")?;
    ///     let port = server.address().expect("bound at once").port();
    ///     let client = net::connect(port, "127.0.0.1")?;
    ///     let log = Rc::clone(&events);
    ///     client.on(Socket::FINISH, move |_, _| log.borrow_mut().push("finish listener"));
    ///     let log = Rc::clone(&events);
    ///     client.end_then(move |c, err| {
    ///         assert!(err.is_none());
    ///         log.borrow_mut().push("end callback");
    ///         c.destroy();
    ///     });
    ///     Ok(())
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(*log.borrow(), ["end callback", "finish listener"]);
    /// ```
    pub fn end_then(&self, f: impl FnOnce(&Socket, Option<&Error>) + 'static) -> &Socket {
        let (ended, finished, destroyed) = {
            let st = self.inner.st.borrow();
            (st.ended(), st.write == WriteSide::Finished, st.destroyed())
        };
        // Node's `Writable.end`: the callback waits for `finish` unless the
        // stream already finished or was destroyed.
        let err = if finished {
            Some(Error::new(
                ErrorCode::ERR_STREAM_ALREADY_FINISHED,
                "Cannot call end after a stream was finished",
            ))
        } else if destroyed {
            Some(super::destroy::end_destroyed())
        } else {
            None
        };
        match err {
            Some(err) => {
                let socket = self.clone();
                self.lp().next_tick(move || f(&socket, Some(&err)));
            }
            None => {
                self.inner
                    .st
                    .borrow_mut()
                    .cold()
                    .on_finished
                    .push(Box::new(f));
                if !ended {
                    self.end();
                }
            }
        }
        self
    }

    /// True once [`end`](Socket::end) was called (Node:
    /// `socket.writableEnded`).
    pub fn writable_ended(&self) -> bool {
        self.inner.st.borrow().ended()
    }

    /// True once `finish` was emitted: our FIN is out and every write
    /// callback ran (Node: `socket.writableFinished`).
    pub fn writable_finished(&self) -> bool {
        self.inner.st.borrow().write == WriteSide::Finished
    }

    /// Write `data`, then [`end`](Socket::end) (Node: `socket.end(data)`).
    ///
    /// # Errors
    ///
    /// After `end()` the data is not written: as in Node, the socket fails
    /// with `ERR_STREAM_WRITE_AFTER_END` ("write after end"), an `error`
    /// event on a later tick, then `close(true)`.
    pub fn end_with(&self, data: impl AsRef<[u8]>) -> &Socket {
        if self.inner.st.borrow().ended() {
            // Node's `end(data)` writes through `Writable`'s own `_write`:
            // after `end()` that is ERR_STREAM_WRITE_AFTER_END (an `error`
            // event, then `close(true)`), whoever ended the socket.
            self.inner.write_after_end(None);
            return self;
        }
        self.write(data);
        self.end()
    }

    /// Hold writes in the socket until [`uncork`](Socket::uncork), so several
    /// small writes leave in one `writev` (Node: `socket.cork()`). Calls nest;
    /// `end()` uncorks fully. Held bytes count in
    /// [`writable_length`](Socket::writable_length).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use netloop::net::{self, Socket};
    ///
    /// let received = Rc::new(RefCell::new(Vec::new()));
    /// let sink = Rc::clone(&received);
    /// netloop::run(move || {
    ///     let server = net::create_server(move |server, sock: &Socket| {
    ///         let sink = Rc::clone(&sink);
    ///         sock.on(Socket::DATA, move |_, data| sink.borrow_mut().extend_from_slice(data));
    ///         server.close();
    ///     });
    ///     server.listen(0, "127.0.0.1")?;
    ///     let port = server.address().expect("bound at once").port();
    ///
    ///     let client = net::connect(port, "127.0.0.1")?;
    ///     client.once(Socket::CONNECT, |c, _| {
    ///         c.cork();
    ///         c.write("HTTP/1.1 200 OK\r\n");
    ///         c.write("\r\n");
    ///         assert_eq!(c.writable_corked(), 1);
    ///         assert_eq!(c.writable_length(), 19); // held, not sent
    ///         c.uncork(); // both leave together on the next tick
    ///         c.end();
    ///     });
    ///     Ok(())
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(*received.borrow(), b"HTTP/1.1 200 OK\r\n\r\n");
    /// ```
    pub fn cork(&self) -> &Socket {
        self.inner.st.borrow_mut().cold().corked += 1;
        self
    }

    /// Undo one [`cork`](Socket::cork); the last one sends the held writes on
    /// the next tick (Node: `socket.uncork()`, which sends at once: netloop
    /// waits so that `drain` is never emitted from inside this call). Extra
    /// calls do nothing.
    pub fn uncork(&self) -> &Socket {
        let flush = {
            let mut st = self.inner.st.borrow_mut();
            let Some(cold) = st.cold.as_mut().filter(|c| c.corked > 0) else {
                return self;
            };
            cold.corked -= 1;
            cold.corked == 0
        };
        if flush {
            self.inner.schedule_uncork_flush();
        }
        self
    }

    /// How many [`cork`](Socket::cork) calls are not yet undone (Node:
    /// `socket.writableCorked`).
    pub fn writable_corked(&self) -> u32 {
        self.inner.st.borrow().corked()
    }

    /// The write high-water mark, 16 KiB unless set with `high_water_mark`
    /// (Node: `socket.writableHighWaterMark`). It is also the limit of bytes
    /// kept for a paused socket or one without a `data` listener.
    pub fn writable_high_water_mark(&self) -> usize {
        self.inner.st.borrow().hwm as usize
    }
}

impl SocketInner {
    /// Every kind of write: queue or send, and say whether the caller may
    /// go on writing.
    fn write(&self, data: WriteData<'_>, cb: Option<WriteCb>) -> bool {
        let (conn, ended, end_emitted, allow) = {
            let st = self.st.borrow();
            (
                st.conn,
                st.ended(),
                st.read == ReadSide::EndEmitted,
                st.allow_half_open,
            )
        };
        if ended && end_emitted && !allow {
            // Node's `writeAfterFIN`: once the peer ended a socket that is
            // not half-open, `write` says EPIPE, even after the socket
            // destroyed itself (its `destroy(er)` is then a no-op).
            let err = Error::new(
                ErrorCode::EPIPE,
                "This socket has been ended by the other party",
            );
            if let Some(cb) = cb {
                let e = err.clone();
                self.lp.next_tick(move || cb(Some(&e)));
            }
            self.destroy(Some(err));
            return false;
        }
        if let Conn::Destroyed { .. } = conn {
            let err = Error::new(
                ErrorCode::ERR_STREAM_DESTROYED,
                "Cannot call write after a stream was destroyed",
            );
            if let Some(cb) = cb {
                self.lp.next_tick(move || cb(Some(&err)));
            }
            return false;
        }
        if ended {
            self.write_after_end(cb);
            return false;
        }
        // Writes made in `connect`/`ready` listeners queue behind the ones
        // made while connecting (Node's Writable buffers them while the
        // first write waits for `connect`), so order is kept.
        let behind_pending = {
            let st = self.st.borrow();
            st.has_pending() || st.corked() > 0 || st.tls_handshaking()
        };
        match conn {
            Conn::Open if !behind_pending => {
                if !self.write_now(data, cb) {
                    return false;
                }
            }
            Conn::Idle => {
                // Node: writing to a socket that never connected destroys it
                // with ERR_SOCKET_CLOSED.
                let err = Error::new(ErrorCode::ERR_SOCKET_CLOSED, "Socket is closed");
                if let Some(cb) = cb {
                    let e = err.clone();
                    self.lp.next_tick(move || cb(Some(&e)));
                }
                self.destroy(Some(err));
                return false;
            }
            Conn::Connecting | Conn::Open | Conn::Destroyed { .. } => {
                let mut st = self.st.borrow_mut();
                st.bytes_written += data.len() as u64;
                let cold = st.cold();
                cold.pending_bytes += data.len();
                // An owned buffer is held as it is; borrowed bytes must be
                // copied, since the caller keeps them.
                cold.pending.push((data.into_vec(), cb));
            }
        }
        let queued = self.queued_bytes();
        let mut st = self.st.borrow_mut();
        let ok = queued < st.hwm as usize;
        if !ok {
            st.need_drain = true;
        }
        ok
    }

    /// A write after our own `end()` (Node's `writeAfterEnd`): the
    /// callback and an `error` on later ticks, then `close(true)`.
    fn write_after_end(&self, cb: Option<WriteCb>) {
        let err = Error::new(ErrorCode::ERR_STREAM_WRITE_AFTER_END, "write after end");
        if let Some(cb) = cb {
            let e = err.clone();
            self.lp.next_tick(move || cb(Some(&e)));
        }
        self.destroy(Some(err));
    }

    /// Hand bytes to the stream handle; false if the socket failed.
    fn write_now(&self, data: WriteData<'_>, cb: Option<WriteCb>) -> bool {
        self.st.borrow_mut().bytes_written += data.len() as u64;
        self.refresh_timeout();
        let data = match self.tls_wrap(data) {
            Ok(d) => d,
            Err(err) => {
                if let Some(cb) = cb {
                    let e2 = err.clone();
                    self.lp.next_tick(move || cb(Some(&e2)));
                }
                self.destroy(Some(err));
                return false;
            }
        };
        match self.stream.write(data, cb) {
            Ok(WriteOutcome::Done(cb)) => {
                if let Some(cb) = cb {
                    self.tick_write_cb(cb);
                }
                true
            }
            Ok(WriteOutcome::Queued) => {
                self.update_active();
                true
            }
            Err((err, cb)) => {
                // Node's `onwriteError` for a write that failed at once: the
                // callback on the next tick, then `error`, then `close`. On
                // the next tick, not in the pending phase: `close` comes in
                // this iteration's close phase, before the next pending
                // phase, and no callback may follow `close`.
                if let Some(cb) = cb {
                    let e2 = err.clone();
                    self.lp.next_tick(move || cb(Some(&e2)));
                }
                self.destroy(Some(err));
                false
            }
        }
    }

    /// Move the writes held while connecting or corked into the stream and
    /// send them together with `writev`. Their bytes were counted in
    /// `bytes_written` when `write()` took them.
    pub(super) fn flush_pending(&self) {
        let pending = {
            let mut st = self.st.borrow_mut();
            if !st.has_pending() || !self.stream.is_attached() || st.tls_handshaking() {
                return;
            }
            let cold = st.cold();
            cold.pending_bytes = 0;
            std::mem::take(&mut cold.pending)
        };
        let pending = match self.tls_wrap_all(pending) {
            Ok(p) => p,
            Err(err) => return self.destroy(Some(err)),
        };
        self.stream.write_all_queued(pending, self);
    }

    /// Queued requests reached the kernel (Node's `afterWrite` for a
    /// write that completed later): `drain` first, then their callbacks,
    /// at once and in order, then a waiting FIN.
    pub(super) fn after_write_done(&self, done: Vec<WriteCb>) {
        self.refresh_timeout();
        self.update_active();
        self.maybe_drain();
        for cb in done {
            cb(None);
        }
        self.maybe_shutdown();
    }

    pub(super) fn maybe_drain(&self) {
        let emit = {
            let queued = self.queued_bytes();
            let mut st = self.st.borrow_mut();
            // Node's `afterWrite`: no `drain` once `end()` was called.
            if st.need_drain && queued == 0 && !st.destroyed() && !st.ended() {
                st.need_drain = false;
                true
            } else {
                false
            }
        };
        if emit {
            if let Some(s) = self.socket() {
                s.emit(Socket::DRAIN, &());
            }
        }
    }

    pub(super) fn end(&self) {
        let was_corked = {
            let mut st = self.st.borrow_mut();
            if st.ended() || st.destroyed() {
                return;
            }
            st.write = WriteSide::Ending;
            // Node's `end()` uncorks fully first.
            st.cold
                .as_mut()
                .is_some_and(|c| std::mem::take(&mut c.corked) > 0)
        };
        if was_corked {
            self.schedule_uncork_flush();
        }
        self.maybe_shutdown();
    }

    /// Send corked writes on the next tick: never from inside the user's
    /// `uncork()`/`end()` call, since sending may emit `drain`.
    fn schedule_uncork_flush(&self) {
        let me = self.me.clone();
        self.lp.next_tick(move || {
            if let Some(inner) = me.upgrade() {
                let ready = {
                    let st = inner.st.borrow();
                    st.conn == Conn::Open && st.corked() == 0
                };
                if ready {
                    inner.flush_pending();
                    inner.maybe_shutdown();
                }
            }
        });
    }

    /// Ask the stream for our FIN once `end()` was called and every write
    /// reached the kernel; [`after_shutdown_done`](Self::after_shutdown_done)
    /// follows.
    pub(super) fn maybe_shutdown(&self) {
        {
            let st = self.st.borrow();
            if st.write != WriteSide::Ending
                || st.conn != Conn::Open
                || st.has_pending()
                || st.tls_handshaking()
            {
                return;
            }
        }
        if self.stream.queued_bytes() > 0 {
            return;
        }
        // TLS: `close_notify` first (sent once), then the FIN after it.
        self.tls_close_notify();
        self.stream.shutdown(self);
    }

    /// Our FIN is out. `finish` comes after every write callback (Node's
    /// `finishMaybe` waits for `pendingcb` to reach zero).
    pub(super) fn after_shutdown_done(&self) {
        let waiting = {
            let mut st = self.st.borrow_mut();
            if st.write != WriteSide::Ending {
                return;
            }
            st.write = WriteSide::ShutdownSent;
            st.write_cbs_pending > 0
        };
        if !waiting {
            self.schedule_finish();
        }
    }

    /// Emit `finish` on the next tick; destroy if the readable side is
    /// over too (or `destroy_soon` asked for it).
    fn schedule_finish(&self) {
        {
            let mut st = self.st.borrow_mut();
            if st.write != WriteSide::ShutdownSent {
                return;
            }
            st.write = WriteSide::FinishQueued;
        }
        let me = self.me.clone();
        self.lp.next_tick(move || {
            let Some(inner) = me.upgrade() else { return };
            if inner.st.borrow().destroyed() {
                return;
            }
            let on_finished = {
                let mut st = inner.st.borrow_mut();
                st.write = WriteSide::Finished;
                st.cold
                    .as_mut()
                    .map(|c| std::mem::take(&mut c.on_finished))
                    .unwrap_or_default()
            };
            let Some(socket) = inner.socket() else { return };
            // Node's `finish()`: the `end(cb)` callbacks, then the event.
            for f in on_finished {
                f(&socket, None);
            }
            socket.emit(Socket::FINISH, &());
            if inner.st.borrow().read == ReadSide::EndEmitted {
                inner.destroy(None);
            }
        });
    }

    /// Run the callback of a write the kernel took at once on the next
    /// tick (Node's `onwrite` defers with `process.nextTick`), never inside
    /// `write()`; the last one releases a `finish` that waited for it.
    fn tick_write_cb(&self, cb: WriteCb) {
        let Some(me) = self.me.upgrade() else { return };
        self.st.borrow_mut().write_cbs_pending += 1;
        self.lp.next_tick(move || {
            cb(None);
            let release = {
                let mut st = me.st.borrow_mut();
                st.write_cbs_pending = st.write_cbs_pending.saturating_sub(1);
                st.write_cbs_pending == 0 && st.write == WriteSide::ShutdownSent
            };
            if release {
                me.schedule_finish();
            }
        });
    }
}
