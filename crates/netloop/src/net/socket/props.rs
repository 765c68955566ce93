//! Options and properties: timeouts, `TCP_NODELAY`, keep-alive, addresses,
//! counters, `readyState`, ref and unref.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use super::state::{Conn, ReadSide};
use super::{Socket, SocketInner};
use crate::net::options::{Family, ReadyState};
use crate::timers;

impl Socket {
    /// Emit [`Socket::TIMEOUT`] after `d` without reads or writes (Node:
    /// `socket.setTimeout(ms)`); `Duration::ZERO` turns it off.
    ///
    /// Every read and write re-arms the timer, and it fires once per idle
    /// period. The socket is not closed: `timeout` is a notification, and what
    /// to do (usually [`destroy`](Socket::destroy) or [`end`](Socket::end)) is
    /// yours. The timer never keeps the loop alive. It also runs while
    /// connecting, which makes it a connect timeout. On a destroyed socket
    /// the call does nothing. Node's `setTimeout(ms, cb)` is
    /// `.once(Socket::TIMEOUT, cb)`.
    ///
    /// # Examples
    ///
    /// A client gives up on a server that never says anything:
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use std::time::Duration;
    /// use netloop::net::{self, Socket};
    ///
    /// let log = Rc::new(RefCell::new(Vec::new()));
    /// let events = Rc::clone(&log);
    /// netloop::run(move || {
    ///     let server = net::create_server(|server, _silent: &Socket| {
    ///         server.close();
    ///     });
    ///     server.listen(0, "127.0.0.1")?;
    ///     let port = server.address().expect("bound at once").port();
    ///
    ///     let client = net::connect(port, "127.0.0.1")?;
    ///     client.set_timeout(Duration::from_millis(20));
    ///     let log = Rc::clone(&events);
    ///     client.on(Socket::TIMEOUT, move |c, _| {
    ///         log.borrow_mut().push(format!("timeout after {:?}", c.timeout()));
    ///         c.destroy();
    ///     });
    ///     let log = Rc::clone(&events);
    ///     client.on(Socket::CLOSE, move |_, had_error| {
    ///         log.borrow_mut().push(format!("close: {had_error}"));
    ///     });
    ///     Ok(())
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(*log.borrow(), ["timeout after Some(20ms)", "close: false"]);
    /// ```
    pub fn set_timeout(&self, d: Duration) -> &Socket {
        let existing = {
            let mut st = self.inner.st.borrow_mut();
            if st.destroyed() {
                // Node's `setStreamTimeout` ignores a destroyed socket.
                return self;
            }
            if d.is_zero() && st.cold.is_none() {
                return self; // no timeout was set: nothing to clear
            }
            let cold = st.cold();
            cold.timeout_after = (!d.is_zero()).then_some(d);
            if d.is_zero() {
                cold.timeout.take()
            } else {
                cold.timeout.clone()
            }
        };
        if d.is_zero() {
            if let Some(t) = existing {
                t.cancel();
            }
            return self;
        }
        if let Some(t) = existing {
            if t.is_active() {
                t.reset(d);
                return self;
            }
            t.cancel();
        }
        let me = self.downgrade();
        // Until it first fires, the timer holds the socket, as Node's timer
        // list holds the bound `_onTimeout`: a socket nobody else holds
        // (one that never connected) still gets its `timeout`. After that a
        // weak reference does: re-arming comes from reads and writes of a
        // registered socket, which the loop holds anyway.
        let mut hold = Some(Rc::clone(&self.inner));
        let t = timers::rearmable(&self.inner.lp, d, move || {
            let inner = match hold.take() {
                Some(inner) => inner,
                None => match me.upgrade() {
                    Some(inner) => inner,
                    None => return,
                },
            };
            let s = Socket { inner };
            if !s.destroyed() {
                tracing::debug!(target: "netloop::net", "_onTimeout");
                s.emit(Socket::TIMEOUT, &());
            }
        });
        t.unref();
        self.inner.st.borrow_mut().cold().timeout = Some(t);
        self
    }

    /// The idle timeout set by [`set_timeout`](Socket::set_timeout), if any
    /// (Node: `socket.timeout`, `undefined` where this is `None`).
    pub fn timeout(&self) -> Option<Duration> {
        self.inner
            .st
            .borrow()
            .cold
            .as_ref()
            .and_then(|c| c.timeout_after)
    }

    /// Set `TCP_NODELAY`: `true` turns Nagle's algorithm off, so small writes
    /// leave at once (Node: `socket.setNoDelay(noDelay)`). Nagle is on by
    /// default, as in Node. Before connecting, the value is remembered and
    /// applied once connected; on a Unix socket it does nothing. A failure is
    /// ignored, as in Node. See [`connect_with`](Socket::connect_with) for an
    /// example with the [`no_delay`](Socket::no_delay) getter.
    pub fn set_no_delay(&self, no_delay: bool) -> &Socket {
        // Remembered as Node's `kSetNoDelay`: applied again once connected,
        // since happy eyeballs may replace the connecting fd.
        self.inner.st.borrow_mut().cold().no_delay = Some(no_delay);
        self.inner.stream.set_nodelay(no_delay);
        self
    }

    /// Set `SO_KEEPALIVE`, with the idle time before the first probe (Node:
    /// `socket.setKeepAlive(enable, initialDelay)`). As libuv 1.46: probes every
    /// second, 10 of them; a delay under 1 s leaves the idle time unchanged.
    /// Remembered before connecting, as [`set_no_delay`](Socket::set_no_delay).
    pub fn set_keep_alive(&self, enable: bool, initial_delay: Duration) -> &Socket {
        // Remembered as Node's `kSetKeepAlive`, for the connected fd.
        self.inner.st.borrow_mut().cold().keep_alive = Some((enable, initial_delay));
        self.inner.stream.set_keepalive(enable, initial_delay);
        self
    }

    /// Whether `TCP_NODELAY` is on, read from the connection (like tokio's
    /// `TcpStream::nodelay`; Node has no getter). `None` before connecting,
    /// after closing, and for Unix sockets.
    pub fn no_delay(&self) -> Option<bool> {
        self.inner.stream.nodelay()
    }

    /// Whether `SO_KEEPALIVE` is on, read from the connection (Node has no
    /// getter). `None` before connecting, after closing, and for Unix sockets.
    pub fn keep_alive(&self) -> Option<bool> {
        self.inner.stream.keepalive()
    }

    /// Our end's address and port (Node: `socket.address()`); `None` before
    /// connecting, after close, and for Unix sockets (Node returns `{}`). See
    /// [`connect`](Socket::connect) for an example of every address getter.
    pub fn address(&self) -> Option<SocketAddr> {
        self.inner.local()
    }

    /// The peer's IP address (Node: `socket.remoteAddress`). `None` while
    /// connecting and for Unix sockets; unlike Node, still readable after
    /// `close`. On a server reading the PROXY protocol
    /// ([`ServerOptions::proxy_protocol`](crate::net::ServerOptions::proxy_protocol)),
    /// the original client the header names (on a Unix socket too);
    /// [`transport_peer`](Socket::transport_peer) is the real peer.
    pub fn remote_address(&self) -> Option<IpAddr> {
        self.inner.st.borrow().remote.map(|a| a.ip())
    }

    /// The peer's port (Node: `socket.remotePort`), as
    /// [`remote_address`](Socket::remote_address).
    pub fn remote_port(&self) -> Option<u16> {
        self.inner.st.borrow().remote.map(|a| a.port())
    }

    /// The peer's address family (Node: `socket.remoteFamily`), as
    /// [`remote_address`](Socket::remote_address).
    pub fn remote_family(&self) -> Option<Family> {
        self.inner.st.borrow().remote.map(|a| Family::of(&a.ip()))
    }

    /// Our IP address (Node: `socket.localAddress`); `None` before connecting,
    /// after close, and for Unix sockets.
    pub fn local_address(&self) -> Option<IpAddr> {
        self.inner.local().map(|a| a.ip())
    }

    /// Our port (Node: `socket.localPort`), as
    /// [`local_address`](Socket::local_address).
    pub fn local_port(&self) -> Option<u16> {
        self.inner.local().map(|a| a.port())
    }

    /// Our address family (Node: `socket.localFamily`), as
    /// [`local_address`](Socket::local_address).
    pub fn local_family(&self) -> Option<Family> {
        self.inner.local().map(|a| Family::of(&a.ip()))
    }

    /// Bytes received so far, counted as they are read off the socket, whether
    /// delivered yet or not (Node: `socket.bytesRead`). A PROXY protocol
    /// header ([`proxy_header`](Socket::proxy_header)) is not part of the
    /// stream and not counted. See [`pause`](Socket::pause) for an example.
    pub fn bytes_read(&self) -> u64 {
        self.inner.st.borrow().bytes_read
    }

    /// Bytes accepted by `write` so far, queued ones included (Node:
    /// `socket.bytesWritten`). The PROXY protocol header a client sends
    /// first ([`ConnectOptions::proxy_protocol`](crate::net::ConnectOptions::proxy_protocol))
    /// is not counted. See [`write`](Socket::write) for an example.
    pub fn bytes_written(&self) -> u64 {
        self.inner.st.borrow().bytes_written
    }

    /// Bytes written but not yet handed to the kernel, including writes held
    /// while connecting or corked (Node: `socket.writableLength`, and the
    /// deprecated `bufferSize`). 0 after close. See [`write`](Socket::write).
    pub fn writable_length(&self) -> usize {
        self.inner.queued_bytes()
    }

    /// Which directions are open (Node: `socket.readyState`); see the table in
    /// the [type documentation](Socket#lifecycle). A socket that never
    /// connected is `Closed`, where Node says `'open'`.
    pub fn ready_state(&self) -> ReadyState {
        let st = self.inner.st.borrow();
        match st.conn {
            Conn::Connecting => ReadyState::Opening,
            Conn::Idle | Conn::Destroyed { .. } => ReadyState::Closed,
            Conn::Open => match (st.read != ReadSide::EndEmitted, !st.ended()) {
                (true, true) => ReadyState::Open,
                (true, false) => ReadyState::ReadOnly,
                (false, true) => ReadyState::WriteOnly,
                (false, false) => ReadyState::Closed,
            },
        }
    }

    /// True while the readable side is open: until `end` was emitted, and
    /// not destroyed (Node: `socket.readable`). As in Node it is true
    /// before `connect` (reading starts once connected), already false
    /// inside the `end` listener, and false from the moment the socket is
    /// destroyed. See [`writable`](Socket::writable) for the whole trace.
    pub fn readable(&self) -> bool {
        let st = self.inner.st.borrow();
        !st.destroyed() && st.read != ReadSide::EndEmitted
    }

    /// True while the writable side is open: until [`end`](Socket::end)
    /// was called, and not destroyed (Node: `socket.writable`). As in
    /// Node it is true before `connect` (writes are queued until
    /// connected), false right after `end()`, and still true inside the
    /// `end` listener of a socket whose peer ended first.
    ///
    /// # Examples
    ///
    /// A client that ends its side, against Node 20's trace of the same
    /// script (`readable writable` at each step):
    ///
    /// ```
    /// use netloop::net::{self, Socket};
    /// use netloop::Slot;
    ///
    /// fn sides(s: &Socket) -> (bool, bool) {
    ///     (s.readable(), s.writable())
    /// }
    ///
    /// let trace = netloop::run_returning(|| {
    ///     let trace = Slot::new(Vec::new());
    ///     let server = net::create_server(|server, sock: &Socket| {
    ///         sock.resume();
    ///         server.close();
    ///     });
    ///     server.listen(0, "127.0.0.1")?;
    ///     let port = server.address().expect("bound at once").port();
    ///
    ///     let client = Socket::new();
    ///     trace.update(|t| t.push(("new", sides(&client))));
    ///     client.connect(port, "127.0.0.1")?;
    ///     trace.update(|t| t.push(("connecting", sides(&client))));
    ///     let t = trace.clone();
    ///     client.on(Socket::CONNECT, move |c, _| {
    ///         c.end();
    ///         t.update(|t| t.push(("after end()", sides(c))));
    ///     });
    ///     for (name, event) in [("finish", Socket::FINISH), ("end", Socket::END)] {
    ///         let t = trace.clone();
    ///         client.on(event, move |c, _| t.update(|t| t.push((name, sides(c)))));
    ///     }
    ///     let t = trace.clone();
    ///     client.on(Socket::CLOSE, move |c, _| t.update(|t| t.push(("close", sides(c)))));
    ///     client.resume();
    ///     Ok(trace)
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(
    ///     trace,
    ///     [
    ///         ("new", (true, true)),
    ///         ("connecting", (true, true)),
    ///         ("after end()", (true, false)),
    ///         ("finish", (true, false)),
    ///         ("end", (false, false)),
    ///         ("close", (false, false)),
    ///     ]
    /// );
    /// ```
    pub fn writable(&self) -> bool {
        let st = self.inner.st.borrow();
        !st.destroyed() && !st.ended()
    }

    /// The addresses happy eyeballs tried, in order, once it ran (Node:
    /// `socket.autoSelectFamilyAttemptedAddresses`, which holds the same
    /// addresses as `"ip:port"` strings). `None` when the connect used a
    /// single address.
    pub fn auto_select_family_attempted_addresses(&self) -> Option<Vec<SocketAddr>> {
        self.inner
            .st
            .borrow()
            .cold
            .as_ref()
            .and_then(|c| c.attempted.clone())
    }

    /// True while looking up or connecting (Node: `socket.connecting`).
    pub fn connecting(&self) -> bool {
        self.inner.st.borrow().conn == Conn::Connecting
    }

    /// True while not connected: before `connect`, while connecting, and after
    /// close (Node: `socket.pending`).
    pub fn pending(&self) -> bool {
        self.inner.st.borrow().conn != Conn::Open
    }

    /// True once destroyed (Node: `socket.destroyed`); `connect` clears it.
    pub fn destroyed(&self) -> bool {
        self.inner.st.borrow().destroyed()
    }

    /// The Unix socket path given to [`connect_path`](Socket::connect_path),
    /// if any (Node keeps it internally; it has no public getter).
    pub fn path(&self) -> Option<PathBuf> {
        self.inner
            .st
            .borrow()
            .cold
            .as_ref()
            .and_then(|c| c.unix_path.clone())
    }

    /// Let the loop end while this socket is open (Node: `socket.unref()`).
    /// The socket keeps working while something else keeps the loop alive. A
    /// connect in progress still finishes first, as libuv counts the connect
    /// request on its own (Node defers an early `unref()` to the connect, with
    /// the same effect).
    ///
    /// # Examples
    ///
    /// Two idle connected sockets, both unref'd: `run` returns with them still
    /// open (and closes them on the way out).
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use netloop::net::{self, Socket};
    ///
    /// let closes = Rc::new(Cell::new(0));
    /// let connects = Rc::new(Cell::new(0));
    /// let (closed, connected) = (Rc::clone(&closes), Rc::clone(&connects));
    /// netloop::run(move || {
    ///     let server = net::create_server(|server, sock: &Socket| {
    ///         sock.unref();
    ///         server.close();
    ///     });
    ///     server.listen(0, "127.0.0.1")?;
    ///     let port = server.address().expect("bound at once").port();
    ///
    ///     let client = net::connect(port, "127.0.0.1")?;
    ///     client.unref(); // still connects first
    ///     assert!(!client.has_ref());
    ///     client.on(Socket::CONNECT, move |_, _| connected.set(connected.get() + 1));
    ///     client.on(Socket::CLOSE, move |_, _| closed.set(closed.get() + 1));
    ///     Ok(())
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(connects.get(), 1);
    /// assert_eq!(closes.get(), 0); // never closed while the loop ran
    /// ```
    pub fn unref(&self) -> &Socket {
        self.set_ref(false)
    }

    /// Count this socket, or not, in the loop's alive total (Node:
    /// `socket.ref()` is `set_ref(true)`, `socket.unref()` is
    /// `set_ref(false)`). See [`unref`](Socket::unref).
    pub fn set_ref(&self, reffed: bool) -> &Socket {
        self.inner.handle_ref.set_ref(reffed);
        self
    }

    /// True unless unref'd (Node has no such getter on sockets; its timers
    /// have `hasRef()`).
    pub fn has_ref(&self) -> bool {
        self.inner.handle_ref.has_ref()
    }
}

impl SocketInner {
    /// The local address, cached after the first `getsockname`.
    fn local(&self) -> Option<SocketAddr> {
        let mut st = self.st.borrow_mut();
        if st.destroyed() {
            // No handle, no name (Node: `address()` is `{}` after close).
            return None;
        }
        if let Some(local) = st.cold.as_ref().and_then(|c| c.local) {
            return Some(local);
        }
        if st.conn != Conn::Open {
            return None;
        }
        let local = self.stream.local_addr()?;
        st.cold().local = Some(local);
        Some(local)
    }
}
