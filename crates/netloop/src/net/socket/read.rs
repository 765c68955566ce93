//! Reading: flowing and paused (Node's `Readable`), buffering while no
//! `data` listener is attached, encodings, `pipe`, and the `end` event.

use super::state::{Conn, Flow, ReadSide, WriteSide};
use super::{Socket, SocketInner};
use crate::net::options::Encoding;

impl Socket {
    /// Stop reading (Node: `socket.pause()`). Nothing more is read until
    /// [`resume`](Socket::resume); what arrives meanwhile waits in the kernel,
    /// so the peer is slowed down by real TCP backpressure. Attaching a `data`
    /// listener does not resume a socket paused this way. Node reads on into
    /// its own buffer up to the high-water mark; netloop stops at once.
    ///
    /// # Examples
    ///
    /// A server created with `pause_on_connect` reads nothing until it resumes:
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use netloop::net::{self, ServerOptions, Socket};
    /// use netloop::timers::set_immediate;
    ///
    /// let received = Rc::new(RefCell::new(Vec::new()));
    /// let sink = Rc::clone(&received);
    /// netloop::run(move || {
    ///     let paused = ServerOptions { pause_on_connect: true, ..ServerOptions::default() };
    ///     let server = net::create_server_with(paused, move |server, sock: &Socket| {
    ///         let sink = Rc::clone(&sink);
    ///         sock.on(Socket::DATA, move |_, data| sink.borrow_mut().extend_from_slice(data));
    ///         assert!(sock.is_paused()); // the listener did not start the flow
    ///         let sock = sock.clone();
    ///         set_immediate(move || {
    ///             assert_eq!(sock.bytes_read(), 0);
    ///             sock.resume();
    ///         });
    ///         server.close();
    ///     });
    ///     server.listen(0, "127.0.0.1")?;
    ///     let port = server.address().expect("bound at once").port();
    ///     net::connect(port, "127.0.0.1")?.end_with("hello");
    ///     Ok(())
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(*received.borrow(), b"hello");
    /// ```
    pub fn pause(&self) -> &Socket {
        self.inner.st.borrow_mut().flow = Flow::Paused;
        self.inner.sync_read();
        self
    }

    /// Start reading again (Node: `socket.resume()`). Bytes buffered while
    /// paused are delivered first, on the next tick, never inside this call.
    /// As in Node, a socket resumed with no `data` listener reads and throws
    /// the bytes away, and reaches `end`: `sock.resume()` is the idiom that
    /// drains a socket whose data is not wanted. (Bytes that arrive before
    /// any `data` listener or `resume()`, or while a socket that flowed
    /// only because of a listener has none left, are kept instead.) See
    /// [`pause`](Socket::pause) for an example.
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
    ///         sock.end_with("not wanted");
    ///         server.close();
    ///     });
    ///     server.listen(0, "127.0.0.1")?;
    ///     let port = server.address().expect("bound at once").port();
    ///     let client = net::connect(port, "127.0.0.1")?;
    ///     client.resume(); // drain: read and discard
    ///     client.on(Socket::END, move |c, _| {
    ///         events.borrow_mut().push(format!("end after {} bytes", c.bytes_read()));
    ///     });
    ///     Ok(())
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(*log.borrow(), ["end after 10 bytes"]);
    /// ```
    pub fn resume(&self) -> &Socket {
        self.inner.st.borrow_mut().resumed = true;
        self.inner.start_flowing();
        self
    }

    /// True after [`pause`](Socket::pause) (or `pause_on_connect`) until
    /// [`resume`](Socket::resume) (Node: `socket.isPaused()`).
    pub fn is_paused(&self) -> bool {
        self.inner.st.borrow().flow == Flow::Paused
    }

    /// True once `end` was emitted: the peer's FIN arrived and every byte
    /// before it was delivered (Node: `socket.readableEnded`).
    pub fn readable_ended(&self) -> bool {
        self.inner.st.borrow().read == ReadSide::EndEmitted
    }

    /// Choose how `data` chunks are cut and shaped (Node:
    /// `socket.setEncoding(encoding)`); `None` goes back to raw bytes.
    ///
    /// [`Encoding::Utf8`] ends every chunk on a character boundary (a character
    /// split across two reads arrives whole with the second), so each chunk is
    /// valid UTF-8 if the peer sent UTF-8; [`Encoding::Hex`] delivers each chunk
    /// as lowercase hex text. Payloads stay `&[u8]` either way. Node's other
    /// encodings are not provided: decode bytes with the crate of your choice.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use netloop::net::{self, Encoding, Socket};
    ///
    /// let received = Rc::new(RefCell::new(String::new()));
    /// let sink = Rc::clone(&received);
    /// netloop::run(move || {
    ///     let server = net::create_server(move |server, sock: &Socket| {
    ///         let sink = Rc::clone(&sink);
    ///         sock.set_encoding(Some(Encoding::Hex));
    ///         sock.on(Socket::DATA, move |_, hex| {
    ///             sink.borrow_mut().push_str(std::str::from_utf8(hex).expect("hex is ASCII"));
    ///         });
    ///         server.close();
    ///     });
    ///     server.listen(0, "127.0.0.1")?;
    ///     let port = server.address().expect("bound at once").port();
    ///     net::connect(port, "127.0.0.1")?.end_with([0xde, 0xad, 0xbe, 0xef]);
    ///     Ok(())
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(*received.borrow(), "deadbeef");
    /// ```
    pub fn set_encoding(&self, encoding: Option<Encoding>) -> &Socket {
        let mut st = self.inner.st.borrow_mut();
        if encoding.is_some() || st.cold.is_some() {
            st.cold().encoding = encoding;
        }
        self
    }

    /// Forward everything read to `dest` (Node: `socket.pipe(dest)`): pause
    /// this socket while `dest.write()` says `false`, resume it on `dest`'s
    /// `drain`, and end `dest` on `end`. Piping a socket into itself makes an
    /// echo server. The pipe lasts until either socket closes (there is no
    /// `unpipe`); it holds neither socket alive.
    ///
    /// # Examples
    ///
    /// A proxy: each client connection is piped to a new connection to an
    /// upstream echo server, and back. The proxy is half-open: the client's
    /// FIN travels on upstream, and the proxy side keeps writing until the
    /// reply has come back and upstream ended too (without `allow_half_open`
    /// it would end its side at once and cut the reply off, as in Node).
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use netloop::net::{self, Server, ServerOptions, Socket};
    ///
    /// let reply = Rc::new(RefCell::new(Vec::new()));
    /// let sink = Rc::clone(&reply);
    /// netloop::run(move || {
    ///     let upstream = net::create_server(|_, sock: &Socket| {
    ///         sock.pipe(sock);
    ///     });
    ///     upstream.listen(0, "127.0.0.1")?;
    ///     let upstream_port = upstream.address().expect("bound at once").port();
    ///
    ///     let half_open = ServerOptions { allow_half_open: true, ..ServerOptions::default() };
    ///     let proxy = net::create_server_with(half_open, move |proxy: &Server, client: &Socket| {
    ///         match net::connect(upstream_port, "127.0.0.1") {
    ///             Ok(back) => {
    ///                 client.pipe(&back);
    ///                 back.pipe(client);
    ///             }
    ///             Err(_) => {
    ///                 client.destroy();
    ///             }
    ///         }
    ///         proxy.close();
    ///     });
    ///     proxy.listen(0, "127.0.0.1")?;
    ///     let proxy_port = proxy.address().expect("bound at once").port();
    ///
    ///     let client = net::connect(proxy_port, "127.0.0.1")?;
    ///     client.end_with("through the proxy");
    ///     client.on(Socket::DATA, move |_, data| sink.borrow_mut().extend_from_slice(data));
    ///     client.on(Socket::CLOSE, move |_, _| {
    ///         upstream.close();
    ///     });
    ///     Ok(())
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(*reply.borrow(), b"through the proxy");
    /// ```
    pub fn pipe(&self, dest: &Socket) -> &Socket {
        if self == dest {
            // An echo. The same three listeners, but each reaches the
            // socket through its `this` argument instead of a captured weak
            // reference: closures that capture nothing are not allocated,
            // which an echo server holding many idle connections feels.
            self.on(Socket::DATA, |s, chunk| {
                if !s.write(chunk) {
                    s.pause();
                }
            });
            self.on(Socket::DRAIN, |s, _| {
                if s.is_paused() {
                    s.resume();
                }
            });
            self.once(Socket::END, |s, _| {
                s.end();
            });
            return self;
        }
        let dest_weak = dest.downgrade();
        self.on(Socket::DATA, move |src, chunk| {
            if let Some(d) = dest_weak.upgrade() {
                if !(Socket { inner: d }).write(chunk) {
                    src.pause();
                }
            }
        });
        let src_weak = self.downgrade();
        dest.on(Socket::DRAIN, move |_, _| {
            if let Some(s) = src_weak.upgrade() {
                let src = Socket { inner: s };
                if src.is_paused() {
                    src.resume();
                }
            }
        });
        let dest_weak = dest.downgrade();
        self.once(Socket::END, move |_, _| {
            if let Some(d) = dest_weak.upgrade() {
                Socket { inner: d }.end();
            }
        });
        self
    }
}

impl SocketInner {
    /// Node's `resume()`: flowing from now on; buffered bytes are
    /// delivered on the next tick and reading starts again.
    pub(super) fn start_flowing(&self) {
        {
            let mut st = self.st.borrow_mut();
            st.flow = Flow::Flowing;
            if st.conn == Conn::Open && !st.eof() {
                st.reading = true;
            }
        }
        self.sync_read();
        self.update_active();
        self.schedule_flush();
    }

    /// Whether a flowing socket hands chunks on now: to its `data`
    /// listeners, or into the void after an explicit `resume()` (Node's
    /// drain idiom). Otherwise they are kept until a listener comes.
    fn delivers(&self) -> bool {
        self.st.borrow().resumed || self.listeners.count("data") > 0
    }

    /// A chunk came off the wire: hand it to `data` listeners, or keep it
    /// until there are some (or the socket is resumed). A full buffer stops
    /// reading, as Node's `readStop` when `push()` returns false.
    pub(super) fn on_read_chunk(&self, chunk: &[u8]) {
        self.st.borrow_mut().bytes_read += chunk.len() as u64;
        self.refresh_timeout();
        let direct = {
            let st = self.st.borrow();
            st.flow == Flow::Flowing && st.buffered() == 0 && !st.destroyed()
        } && self.delivers();
        if direct {
            // Nothing was buffered, so nothing can be full: a listener that
            // paused or destroyed the socket already stopped the reads.
            self.emit_data(chunk);
            return;
        }
        self.st
            .borrow_mut()
            .cold()
            .read_buf
            .extend_from_slice(chunk);
        let full = {
            let mut st = self.st.borrow_mut();
            let full = st.conn == Conn::Open && st.buffered() >= (st.readable_hwm as usize).max(1);
            if full {
                st.reading = false;
            }
            full
        };
        self.sync_read();
        if full {
            self.update_active();
        }
    }

    /// Emit `data`, applying the encoding.
    fn emit_data(&self, chunk: &[u8]) {
        let Some(socket) = self.socket() else { return };
        let encoding = self.st.borrow().cold.as_ref().and_then(|c| c.encoding);
        match encoding {
            None => {
                socket.emit(Socket::DATA, chunk);
            }
            Some(Encoding::Utf8) => {
                let mut joined = std::mem::take(&mut self.st.borrow_mut().cold().partial);
                joined.extend_from_slice(chunk);
                let cut = utf8_boundary(&joined);
                let rest = joined.split_off(cut);
                self.st.borrow_mut().cold().partial = rest;
                if !joined.is_empty() {
                    socket.emit(Socket::DATA, &joined[..]);
                }
            }
            Some(Encoding::Hex) => {
                let hex: String = chunk.iter().map(|b| format!("{b:02x}")).collect();
                socket.emit(Socket::DATA, hex.as_bytes());
            }
        }
    }

    /// Deliver buffered bytes on the next tick, never inside the user's
    /// own call (`resume()`, `on(DATA)`).
    pub(super) fn schedule_flush(&self) {
        {
            let mut st = self.st.borrow_mut();
            if st.flush_scheduled {
                return;
            }
            st.flush_scheduled = true;
        }
        let me = self.me.clone();
        self.lp.next_tick(move || {
            if let Some(inner) = me.upgrade() {
                inner.flush_buffered();
            }
        });
    }

    /// Deliver buffered bytes to a flowing socket, emit a pending `end`,
    /// and read what waited in the kernel.
    fn flush_buffered(&self) {
        let buffered = {
            let mut st = self.st.borrow_mut();
            st.flush_scheduled = false;
            if st.destroyed() || st.flow != Flow::Flowing {
                return;
            }
            if st.buffered() > 0 && (st.resumed || self.listeners.count("data") > 0) {
                st.cold.as_mut().map(|c| std::mem::take(&mut c.read_buf))
            } else {
                None
            }
        };
        if let Some(data) = buffered {
            self.emit_data(&data);
            if self.st.borrow().destroyed() {
                return;
            }
        }
        self.maybe_end();
        if self.st.borrow().can_read() {
            self.st.borrow_mut().reading = true;
            self.update_active();
            self.sync_read();
            // Bytes that arrived while reading was stopped raised no new
            // readiness event: read them now.
            self.stream.read_now(&self.lp, self);
        }
    }

    /// The stream reached the peer's FIN.
    pub(super) fn on_read_eof(&self) {
        {
            let mut st = self.st.borrow_mut();
            if st.read == ReadSide::Open {
                st.read = ReadSide::EofSeen;
            }
            st.reading = false;
        }
        self.update_active();
        tracing::debug!(target: "netloop::net", "read EOF");
        self.maybe_end();
    }

    /// `end` once the peer's FIN arrived and every byte before it was
    /// delivered (Node's `endReadableNT`, on the next tick).
    fn maybe_end(&self) {
        {
            let mut st = self.st.borrow_mut();
            if st.read != ReadSide::EofSeen || st.buffered() > 0 || st.destroyed() {
                return;
            }
            st.read = ReadSide::EndQueued;
        }
        let me = self.me.clone();
        self.lp.next_tick(move || {
            let Some(inner) = me.upgrade() else { return };
            let Some(socket) = inner.socket() else { return };
            if inner.st.borrow().destroyed() {
                return;
            }
            let partial = inner
                .st
                .borrow_mut()
                .cold
                .as_mut()
                .map(|c| std::mem::take(&mut c.partial))
                .unwrap_or_default();
            if !partial.is_empty() {
                socket.emit(Socket::DATA, &partial[..]);
                if inner.st.borrow().destroyed() {
                    return;
                }
            }
            // Only now is the readable side over (Node sets `endEmitted` in
            // `endReadableNT`): a `finish` tick queued before this one must
            // not take the socket down before `end` was emitted.
            inner.st.borrow_mut().read = ReadSide::EndEmitted;
            socket.emit(Socket::END, &());
            inner.after_end();
        });
    }

    /// After the readable side ended: end our side too unless half-open is
    /// allowed; destroy once both sides are done.
    fn after_end(&self) {
        let (destroyed, ended, finished, allow) = {
            let st = self.st.borrow();
            (
                st.destroyed(),
                st.ended(),
                st.write == WriteSide::Finished,
                st.allow_half_open,
            )
        };
        if destroyed {
            return;
        }
        if !ended && !allow {
            let me = self.me.clone();
            self.lp.next_tick(move || {
                if let Some(inner) = me.upgrade() {
                    inner.end();
                }
            });
        } else if finished {
            self.destroy(None);
        }
    }
}

/// The length of the longest prefix of `bytes` that does not end inside a
/// UTF-8 character.
fn utf8_boundary(bytes: &[u8]) -> usize {
    let len = bytes.len();
    // Look back at most 3 bytes for the start of a multi-byte character.
    for back in 1..=3.min(len) {
        let b = bytes[len - back];
        if b & 0b1100_0000 == 0b1000_0000 {
            continue; // continuation byte
        }
        let need = if b & 0b1000_0000 == 0 {
            1
        } else if b & 0b1110_0000 == 0b1100_0000 {
            2
        } else if b & 0b1111_0000 == 0b1110_0000 {
            3
        } else if b & 0b1111_1000 == 0b1111_0000 {
            4
        } else {
            1 // invalid lead byte: pass it through
        };
        return if need > back { len - back } else { len };
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_boundary_holds_back_a_split_character() {
        let s = "aé€😀".as_bytes();
        assert_eq!(utf8_boundary(s), s.len());
        assert_eq!(utf8_boundary(&s[..s.len() - 1]), s.len() - 4);
        assert_eq!(utf8_boundary(&s[..2]), 1);
        assert_eq!(utf8_boundary(b"abc"), 3);
    }

    /// `emit_data`'s carry over `utf8_boundary`, then the flush at `end`:
    /// the chunks delivered for `input` read in pieces cut at `cuts`.
    fn deliver(input: &[u8], cuts: &[usize]) -> (Vec<Vec<u8>>, usize) {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        points.sort_unstable();
        points.push(input.len());
        let (mut out, mut partial, mut start, mut max_held) = (Vec::new(), Vec::new(), 0, 0);
        for end in points {
            let mut joined = std::mem::take(&mut partial);
            joined.extend_from_slice(&input[start..end]);
            start = end;
            let cut = utf8_boundary(&joined);
            partial = joined.split_off(cut);
            max_held = max_held.max(partial.len());
            if !joined.is_empty() {
                out.push(joined);
            }
        }
        if !partial.is_empty() {
            out.push(partial);
        }
        (out, max_held)
    }

    proptest::proptest! {
        /// Network bytes cut anywhere: nothing is lost, repeated or
        /// reordered, at most 3 bytes wait for the rest of a character,
        /// and UTF-8 input arrives as valid UTF-8 chunks.
        #[test]
        fn utf8_chunks_keep_every_byte_and_every_character_whole(
            text in proptest::prelude::any::<String>(),
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..16),
            cuts in proptest::collection::vec(0usize..1024, 0..8),
        ) {
            let (chunks, held) = deliver(text.as_bytes(), &cuts);
            proptest::prop_assert_eq!(chunks.concat(), text.as_bytes());
            proptest::prop_assert!(held <= 3);
            for c in &chunks {
                proptest::prop_assert!(std::str::from_utf8(c).is_ok(), "{:?}", c);
            }
            let mut bytes = text.into_bytes();
            bytes.extend_from_slice(&noise);
            let (chunks, held) = deliver(&bytes, &cuts);
            proptest::prop_assert_eq!(chunks.concat(), bytes);
            proptest::prop_assert!(held <= 3);
        }
    }
}
