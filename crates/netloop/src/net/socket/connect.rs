//! Connecting: Node's `lookupAndConnect`, `internalConnect`,
//! `internalConnectMultiple` (happy eyeballs) and `afterConnect`.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use super::state::{Conn, ConnectPlan, Flow, State};
use super::{Socket, SocketInner};
use crate::dns;
use crate::error::{bad_port_nonzero, Error, ErrorCode, Result};
use crate::ip::is_ip;
use crate::net::options::{
    default_auto_select_family, default_auto_select_family_attempt_timeout, ConnectOptions,
    ConnectionAttempt, Family, LookupInfo,
};
use crate::proxy::ProxyHeader;
use crate::stream::pipe;
use crate::stream::tcp::{self, ConnectFailure};
use crate::stream::{Connected, WriteData};
use crate::timers;

impl Socket {
    /// Connect to `host:port` (Node: `socket.connect(port, host)`).
    ///
    /// An IP literal is connected to directly; a name is looked up first (on
    /// the thread pool, as Node's `dns.lookup`), which emits
    /// [`Socket::LOOKUP`], and with several addresses happy eyeballs tries them
    /// in turn ([`ConnectOptions::auto_select_family`]). `connect` and `ready`
    /// follow; everything starts on a later tick, so listeners added after this
    /// call see every event. Node's `connect(port, host, listener)` is
    /// `.once(Socket::CONNECT, listener)`. A destroyed socket may connect again;
    /// its listeners stay.
    ///
    /// # Errors
    ///
    /// At once: `ERR_SOCKET_BAD_PORT` for port 0, `ERR_SOCKET_CONNECTING` while
    /// a connect is in progress. Everything else is an `error` event followed by
    /// `close(true)`: `ECONNREFUSED`, `ENOTFOUND`/`EAI_AGAIN` (lookup),
    /// `ECONNRESET`; when happy eyeballs runs out of addresses, one error
    /// whose [`errors()`](Error::errors) are every attempt's (`ETIMEDOUT`
    /// for one that timed out) and whose code is the first one's.
    ///
    /// # Panics
    ///
    /// When `host` is a name and no loop runs on this thread (a socket kept
    /// after [`run`](crate::run) returned): there is no pool to look it up on.
    ///
    /// # Examples
    ///
    /// The address getters, `ready_state()`, `connecting()` and `pending()`
    /// through a connect:
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::net::IpAddr;
    /// use std::rc::Rc;
    /// use netloop::net::{self, Family, ReadyState, Socket};
    ///
    /// let connected = Rc::new(Cell::new(0));
    /// let count = Rc::clone(&connected);
    /// netloop::run(move || {
    ///     let server = net::create_server(|server, sock: &Socket| {
    ///         sock.end();
    ///         server.close();
    ///     });
    ///     server.listen(0, "127.0.0.1")?;
    ///     let port = server.address().expect("bound at once").port();
    ///     let loopback: IpAddr = "127.0.0.1".parse().expect("an IP literal");
    ///
    ///     let client = Socket::new();
    ///     assert_eq!(client.ready_state(), ReadyState::Closed);
    ///     client.connect(port, "127.0.0.1")?;
    ///     assert!(client.connecting() && client.pending());
    ///     assert_eq!(client.ready_state(), ReadyState::Opening);
    ///     assert_eq!(client.remote_address(), None); // known once connected
    ///
    ///     // A second connect while connecting is refused at once.
    ///     let err = client.connect(port, "127.0.0.1").expect_err("already connecting");
    ///     assert_eq!(err.code().as_str(), "ERR_SOCKET_CONNECTING");
    ///
    ///     client.once(Socket::CONNECT, move |c, _| {
    ///         assert!(!c.connecting() && !c.pending());
    ///         assert_eq!(c.ready_state(), ReadyState::Open);
    ///         assert_eq!(c.remote_address(), Some(loopback));
    ///         assert_eq!(c.remote_port(), Some(port));
    ///         assert_eq!(c.remote_family(), Some(Family::IPv4));
    ///         assert_eq!(c.local_address(), Some(loopback));
    ///         assert_eq!(c.local_family(), Some(Family::IPv4));
    ///         assert_eq!(c.address().map(|a| a.port()), c.local_port()); // ephemeral
    ///         count.set(count.get() + 1);
    ///     });
    ///     Ok(())
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(connected.get(), 1);
    /// ```
    pub fn connect(&self, port: u16, host: &str) -> Result<&Socket> {
        self.connect_with(ConnectOptions {
            port,
            host: Some(host.to_owned()),
            ..ConnectOptions::default()
        })
    }

    /// Connect to a Unix socket (Node: `socket.connect(path)`). On Linux a
    /// path starting with `\0` names an abstract socket. See
    /// [`Server::listen_path`](crate::net::Server::listen_path) for an example.
    ///
    /// # Errors
    ///
    /// At once: `ERR_SOCKET_CONNECTING` while a connect is in progress. As an
    /// `error` event: `ENOENT` (`connect ENOENT <path>`: nothing there),
    /// `ECONNREFUSED` (a socket file nobody listens on), `EACCES`.
    pub fn connect_path(&self, path: impl AsRef<Path>) -> Result<&Socket> {
        self.connect_with(ConnectOptions {
            path: Some(path.as_ref().to_path_buf()),
            ..ConnectOptions::default()
        })
    }

    /// Connect with options (Node: `socket.connect(options)`): a Unix `path`,
    /// or `port` and `host` with a local address, family, timeout, socket
    /// options, happy-eyeballs settings, a [`BlockList`](crate::net::BlockList) or a custom
    /// [`Lookup`](crate::net::Lookup). See [`ConnectOptions`].
    ///
    /// # Errors
    ///
    /// At once: `ERR_SOCKET_BAD_PORT` (port 0 without a `path`),
    /// `ERR_INVALID_IP_ADDRESS` (a `local_address` that is not an IP literal),
    /// `ERR_SOCKET_CONNECTING`. (Node's `ERR_INVALID_ARG_VALUE` for a
    /// `family` other than 0, 4 or 6 cannot happen: the option is an
    /// `Option<Family>`; [`Family::from_number`](crate::net::Family::from_number)
    /// checks numbers.) As events, the errors of
    /// [`connect`](Socket::connect) and [`connect_path`](Socket::connect_path),
    /// plus `EADDRINUSE` (`bind EADDRINUSE ...`) for a `local_port` in use and
    /// `ERR_IP_BLOCKED` for an address on the `block_list`.
    ///
    /// # Panics
    ///
    /// As [`connect`](Socket::connect).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use std::time::Duration;
    /// use netloop::net::{self, ConnectOptions, Family, Socket};
    ///
    /// let checked = Rc::new(Cell::new(0));
    /// let count = Rc::clone(&checked);
    /// netloop::run(move || {
    ///     let server = net::create_server(|server, sock: &Socket| {
    ///         sock.end();
    ///         server.close();
    ///     });
    ///     server.listen(0, "127.0.0.1")?;
    ///     let port = server.address().expect("bound at once").port();
    ///
    ///     // Invalid options fail at once.
    ///     let unused = Socket::new();
    ///     let bad = unused.connect_with(ConnectOptions {
    ///         port,
    ///         local_address: Some("localhost".into()),
    ///         ..ConnectOptions::default()
    ///     });
    ///     let err = bad.expect_err("a local address must be an IP literal");
    ///     assert_eq!(err.code().as_str(), "ERR_INVALID_IP_ADDRESS");
    ///     assert_eq!(err.to_string(), "Invalid IP address: localhost");
    ///
    ///     let client = net::connect_with(ConnectOptions {
    ///         port,
    ///         host: Some("127.0.0.1".into()),
    ///         family: Some(Family::IPv4),
    ///         local_address: Some("127.0.0.1".into()),
    ///         no_delay: true,
    ///         keep_alive: true,
    ///         timeout: Some(Duration::from_secs(10)),
    ///         ..ConnectOptions::default()
    ///     })?;
    ///     assert_eq!(client.timeout(), Some(Duration::from_secs(10)));
    ///     client.once(Socket::CONNECT, move |c, _| {
    ///         assert_eq!(c.no_delay(), Some(true));
    ///         assert_eq!(c.keep_alive(), Some(true));
    ///         count.set(count.get() + 1);
    ///     });
    ///     Ok(())
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(checked.get(), 1);
    /// ```
    pub fn connect_with(&self, opts: ConnectOptions) -> Result<&Socket> {
        let (local_address, local_port) = self.validate_connect(&opts)?;
        let proxy_out = opts
            .proxy_protocol
            .as_ref()
            .map(ProxyHeader::encode)
            .transpose()?;
        let inner = &self.inner;
        let (seq, old) = {
            let mut st = inner.st.borrow_mut();
            let old = if st.destroyed() {
                // Node's `_undestroy`: a closed socket may connect again,
                // keeping its options, encoding and flow.
                let flow = st.flow;
                let encoding = st.cold.as_ref().and_then(|c| c.encoding);
                let fresh = State::new(st.allow_half_open, st.hwm as usize);
                let mut old = std::mem::replace(&mut *st, fresh);
                st.flow = flow;
                st.readable_hwm = old.readable_hwm;
                if encoding.is_some() {
                    st.cold().encoding = encoding;
                }
                old.cold.take()
            } else {
                None
            };
            st.conn = Conn::Connecting;
            let cold = st.cold();
            cold.connect_seq += 1;
            if opts.no_delay {
                cold.no_delay = Some(true);
            }
            if opts.keep_alive {
                cold.keep_alive = Some((true, opts.keep_alive_initial_delay));
            }
            cold.proxy_out = proxy_out;
            (cold.connect_seq, old)
        };
        // The old connection's leftovers drop outside the borrow.
        drop(old);
        inner.handle_ref.set_active(true);
        inner.handle_ref.req_start();
        if let Some(t) = opts.timeout {
            self.set_timeout(t);
        }
        if let Some(path) = opts.path {
            inner.st.borrow_mut().cold().unix_path = Some(path.clone());
            // The pending connect keeps the socket alive, as Node's handle
            // does, even if the caller drops every reference.
            let inner = Rc::clone(inner);
            self.lp().next_tick(move || {
                if inner.st.borrow().connect_seq() == seq {
                    inner.connect_unix(path);
                }
            });
            return Ok(self);
        }
        let host = opts.host.unwrap_or_else(|| "localhost".to_owned());
        let auto = opts
            .auto_select_family
            .unwrap_or_else(default_auto_select_family)
            && opts.family.is_none()
            && local_address.is_none();
        let attempt_timeout = opts
            .auto_select_family_attempt_timeout
            .map(|d| d.max(Duration::from_millis(10)))
            .unwrap_or_else(default_auto_select_family_attempt_timeout);
        let mut plan = ConnectPlan {
            host: host.clone(),
            port: opts.port,
            addrs: VecDeque::new(),
            errors: Vec::new(),
            auto,
            attempt_timeout,
            attempt_timer: None,
            current: None,
            local_address,
            local_port,
            block_list: opts.block_list,
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            // An IP literal skips the lookup; connect on the next tick so
            // listeners added after this call see every event.
            plan.addrs.push_back(ip);
            inner.st.borrow_mut().cold().plan = Some(Box::new(plan));
            let inner = Rc::clone(inner);
            self.lp().next_tick(move || {
                if inner.st.borrow().connect_seq() == seq {
                    inner.next_attempt();
                }
            });
            return Ok(self);
        }
        inner.st.borrow_mut().cold().plan = Some(Box::new(plan));
        let family = opts.family;
        let me = Rc::clone(inner);
        let on_answer = move |res: Result<Vec<IpAddr>>| {
            let stale = {
                let st = me.st.borrow();
                st.connect_seq() != seq || st.destroyed()
            };
            if !stale {
                me.after_lookup(res);
            }
        };
        tracing::debug!(target: "netloop::net", %host, "lookupAndConnect");
        match opts.lookup {
            // A user lookup runs on the next tick, never inside connect().
            Some(lookup) => self
                .lp()
                .next_tick(move || lookup.call(&host, family, Box::new(on_answer))),
            None => dns::lookup_all(&host, family, on_answer),
        }
        Ok(self)
    }

    /// Check the arguments; returns the local address and port to bind.
    fn validate_connect(&self, opts: &ConnectOptions) -> Result<(Option<IpAddr>, u16)> {
        if self.inner.st.borrow().conn == Conn::Connecting {
            return Err(Error::new(
                ErrorCode::ERR_SOCKET_CONNECTING,
                "Socket is already connecting",
            ));
        }
        if let Some(path) = &opts.path {
            pipe::check_path(path)?;
            return Ok((None, 0));
        }
        if opts.port == 0 {
            return Err(bad_port_nonzero(0));
        }
        let local_ip = match &opts.local_address {
            Some(a) => match a.parse::<IpAddr>() {
                Ok(ip) if is_ip(a) != 0 => Some(ip),
                _ => {
                    return Err(Error::new(
                        ErrorCode::ERR_INVALID_IP_ADDRESS,
                        format!("Invalid IP address: {a}"),
                    ))
                }
            },
            None => None,
        };
        Ok((local_ip, opts.local_port.unwrap_or(0)))
    }
}

impl SocketInner {
    fn connecting_now(&self) -> bool {
        self.st.borrow().conn == Conn::Connecting
    }

    /// Node's `lookupAndConnect` / `lookupAndConnectMultiple` callbacks:
    /// `lookup` for the address used (for every address when happy eyeballs
    /// may run), then the first attempt.
    fn after_lookup(&self, res: Result<Vec<IpAddr>>) {
        let Some(socket) = self.socket() else { return };
        let Some((host, auto)) = self
            .st
            .borrow_mut()
            .plan()
            .map(|p| (p.host.clone(), p.auto))
        else {
            return;
        };
        let res = match res {
            Ok(addrs) if addrs.is_empty() => Err(Error::lookup_failed(ErrorCode::ENOTFOUND, &host)),
            other => other,
        };
        let addrs = match res {
            Err(err) => {
                socket.emit(
                    Socket::LOOKUP,
                    &LookupInfo {
                        error: Some(err.clone()),
                        address: None,
                        family: None,
                        host,
                    },
                );
                if self.connecting_now() {
                    self.destroy(Some(err));
                }
                return;
            }
            Ok(addrs) => addrs,
        };
        let emitted: Vec<IpAddr> = if auto { addrs.clone() } else { vec![addrs[0]] };
        for ip in emitted {
            socket.emit(
                Socket::LOOKUP,
                &LookupInfo {
                    error: None,
                    address: Some(ip),
                    family: Some(Family::of(&ip)),
                    host: host.clone(),
                },
            );
            if !self.connecting_now() {
                return;
            }
        }
        let ordered = if auto {
            interleave(dedup(addrs))
        } else {
            vec![addrs[0]]
        };
        {
            let mut st = self.st.borrow_mut();
            let cold = st.cold();
            if ordered.len() > 1 {
                cold.attempted = Some(Vec::new());
            }
            if let Some(plan) = cold.plan.as_mut() {
                plan.addrs = ordered.into_iter().collect();
            }
        }
        self.next_attempt();
    }

    /// True while happy eyeballs runs (Node's `internalConnectMultiple`).
    fn multi(&self) -> bool {
        self.st
            .borrow()
            .cold
            .as_ref()
            .is_some_and(|c| c.attempted.is_some())
    }

    /// Record a failed attempt of happy eyeballs and try the next address.
    fn multi_failed(&self, err: Error) {
        if let Some(p) = self.st.borrow_mut().plan() {
            p.errors.push(err);
        }
        if self.connecting_now() {
            self.next_attempt();
        }
    }

    /// Try the next address of the plan (Node's `internalConnect` /
    /// `internalConnectMultiple`), or fail with every error so far.
    fn next_attempt(&self) {
        let (Some(socket), Some(handler)) = (self.socket(), self.handler()) else {
            return;
        };
        let multi = self.multi();
        let (next, port, bind, blocked) = {
            let mut st = self.st.borrow_mut();
            if st.destroyed() {
                return;
            }
            let Some(plan) = st.plan() else { return };
            plan.cancel_attempt_timer();
            let next = plan.addrs.pop_front();
            let blocked = match (&plan.block_list, next) {
                (Some(list), Some(ip)) => list.check(ip),
                _ => false,
            };
            let bind = next.and_then(|ip| plan.bind_addr(ip));
            (next, plan.port, bind, blocked)
        };
        let Some(ip) = next else {
            // Every address failed: Node's AggregateError (its code is the
            // first error's), or ERR_SOCKET_CONNECTION_TIMEOUT without any.
            let errors = self
                .st
                .borrow_mut()
                .plan()
                .map(|p| std::mem::take(&mut p.errors))
                .unwrap_or_default();
            let err = if errors.is_empty() {
                Error::new(
                    ErrorCode::ERR_SOCKET_CONNECTION_TIMEOUT,
                    "Socket connection timeout",
                )
            } else {
                Error::aggregate(errors)
            };
            self.destroy(Some(err));
            return;
        };
        let addr = SocketAddr::new(ip, port);
        if blocked {
            let err = Error::new(
                ErrorCode::ERR_IP_BLOCKED,
                format!("IP({ip}) is blocked by net.BlockList"),
            );
            if multi {
                socket.emit(
                    Socket::CONNECTION_ATTEMPT_FAILED,
                    &attempt(addr, Some(err.clone())),
                );
                self.multi_failed(err);
            } else {
                self.destroy(Some(err));
            }
            return;
        }
        let res = match self.stream.connect_tcp(&self.lp, addr, bind, handler) {
            Err(ConnectFailure::Bind(err)) => {
                // Node: `bind EADDRINUSE 127.0.0.1:4000`, before any
                // `connectionAttempt`.
                if multi {
                    self.multi_failed(err);
                } else {
                    self.destroy(Some(err));
                }
                return;
            }
            Err(ConnectFailure::Connect(err)) => Err(err),
            Ok(()) => Ok(()),
        };
        socket.emit(Socket::CONNECTION_ATTEMPT, &attempt(addr, None));
        if !self.connecting_now() {
            return; // a listener destroyed the socket, and closed the fd
        }
        let more = {
            let mut st = self.st.borrow_mut();
            let cold = st.cold();
            if let Some(list) = cold.attempted.as_mut() {
                list.push(addr);
            }
            match cold.plan.as_mut() {
                Some(p) => {
                    p.current = Some(addr);
                    !p.addrs.is_empty()
                }
                None => false,
            }
        };
        match res {
            // Node arms the attempt timer for every address but the last.
            Ok(()) if multi && more => self.start_attempt_timer(addr, bind),
            Ok(()) => {}
            // libuv reports a refused loopback connect through the connect
            // callback even when connect(2) fails at once; other immediate
            // failures of a single connect destroy without
            // `connectionAttemptFailed`, as Node's `internalConnect`.
            Err(err) if multi || err.code() == ErrorCode::ECONNREFUSED => {
                self.attempt_failed(addr, err)
            }
            Err(err) => self.destroy(Some(err)),
        }
    }

    fn start_attempt_timer(&self, addr: SocketAddr, bind: Option<SocketAddr>) {
        let Some(d) = self.st.borrow_mut().plan().map(|p| p.attempt_timeout) else {
            return;
        };
        let me = self.me.clone();
        let t = timers::set_timeout(d, move || {
            let Some(inner) = me.upgrade() else { return };
            let current = inner.st.borrow_mut().plan().and_then(|p| p.current);
            if current != Some(addr) || !inner.connecting_now() {
                return;
            }
            let Some(socket) = inner.socket() else { return };
            // Node's `internalConnectMultipleTimeout`: the event, an
            // ETIMEDOUT error for the aggregate, then the next address.
            inner.close_attempt();
            if let Some(p) = inner.st.borrow_mut().plan() {
                p.attempt_timer = None;
                p.current = None;
            }
            socket.emit(Socket::CONNECTION_ATTEMPT_TIMEOUT, &attempt(addr, None));
            inner.multi_failed(tcp::connect_timed_out(addr, bind));
        });
        if let Some(p) = self.st.borrow_mut().plan() {
            p.attempt_timer = Some(t);
        }
    }

    /// Close a failed attempt's descriptor (nothing was written to it:
    /// writes wait in the socket until connected).
    fn close_attempt(&self) {
        let mut none = Vec::new();
        self.stream.close(&self.lp, false, &mut none);
    }

    /// An attempt failed (Node's `afterConnect` / `afterConnectMultiple`
    /// with an error): `connectionAttemptFailed`, then the next address
    /// (happy eyeballs) or the error.
    fn attempt_failed(&self, addr: SocketAddr, err: Error) {
        let Some(socket) = self.socket() else { return };
        self.close_attempt();
        tracing::debug!(target: "netloop::net", error = %err, "connect attempt failed");
        if let Some(p) = self.st.borrow_mut().plan() {
            p.cancel_attempt_timer();
            p.current = None;
        }
        let multi = self.multi();
        socket.emit(
            Socket::CONNECTION_ATTEMPT_FAILED,
            &attempt(addr, Some(err.clone())),
        );
        if multi {
            self.multi_failed(err);
        } else if self.connecting_now() {
            self.destroy(Some(err));
        }
    }

    fn connect_unix(&self, path: PathBuf) {
        let Some(handler) = self.handler() else {
            return;
        };
        if let Err(err) = self.stream.connect_unix(&self.lp, path, handler) {
            self.destroy(Some(err));
        }
    }

    /// The stream's connect request finished.
    pub(super) fn after_connect_stream(&self, res: std::result::Result<Connected, Error>) {
        match res {
            Ok(c) => self.on_connected(c.peer, c.local),
            Err(err) => {
                let current = self.st.borrow_mut().plan().and_then(|p| p.current);
                match current {
                    Some(addr) => self.attempt_failed(addr, err),
                    None => self.destroy(Some(err)),
                }
            }
        }
    }

    /// Node's `afterConnect`: `connect`, `ready`, then queued writes and a
    /// queued `end()`, then reading (the stream reads whatever came with
    /// the connect once this returns).
    fn on_connected(&self, peer: Option<SocketAddr>, local: Option<SocketAddr>) {
        let Some(socket) = self.socket() else { return };
        let (plan, no_delay, keep_alive, proxy_header) = {
            let mut st = self.st.borrow_mut();
            st.conn = Conn::Open;
            st.reading = st.flow != Flow::Paused;
            st.remote = peer;
            let cold = st.cold();
            if local.is_some() {
                cold.local = local;
            }
            (
                cold.plan.take(),
                cold.no_delay,
                cold.keep_alive,
                cold.proxy_out.take(),
            )
        };
        self.handle_ref.req_done();
        if let Some(mut p) = plan {
            p.cancel_attempt_timer();
        }
        if let Some(nd) = no_delay {
            self.stream.set_nodelay(nd);
        }
        if let Some((on, delay)) = keep_alive {
            self.stream.set_keepalive(on, delay);
        }
        self.refresh_timeout();
        if let Some(header) = proxy_header {
            // The PROXY header is the connection's first bytes: before the
            // writes held while connecting (flushed below) and any a
            // `connect` listener makes, which queue behind it if the
            // kernel does not take it whole. Not counted in
            // `bytes_written`, which counts the user's writes.
            if let Err((err, _)) = self.stream.write(WriteData::Owned(header), None) {
                self.destroy(Some(err));
                return;
            }
        }
        tracing::debug!(target: "netloop::net", ?peer, "afterConnect");
        // Node's `afterConnect` emits `ready` right after `connect` even if
        // a `connect` listener destroyed the socket.
        socket.emit(Socket::CONNECT, &());
        socket.emit(Socket::READY, &());
        if self.st.borrow().destroyed() {
            return;
        }
        // A TLS client's ClientHello leaves now, after `connect` and
        // `ready` (Node's order: `connect`, `ready`, then `secureConnect`
        // once the handshake completes).
        if !self.tls_send_output() {
            return;
        }
        // Writes made while connecting, in order, in one `writev` (unless
        // the socket is corked: then they wait for `uncork()`).
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

/// A `connectionAttempt*` event's payload.
fn attempt(addr: SocketAddr, error: Option<Error>) -> ConnectionAttempt {
    ConnectionAttempt {
        address: addr.ip(),
        port: addr.port(),
        family: Family::of(&addr.ip()),
        error,
    }
}

/// Keep the first occurrence of each address (Node: "only try an address
/// once").
fn dedup(addrs: Vec<IpAddr>) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::with_capacity(addrs.len());
    for a in addrs {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// Order addresses for happy eyeballs: alternate families, starting with
/// the family of the first answer (RFC 8305 section 4, as Node does).
fn interleave(addrs: Vec<IpAddr>) -> Vec<IpAddr> {
    let Some(first) = addrs.first().copied() else {
        return addrs;
    };
    let (mut same, mut other): (VecDeque<IpAddr>, VecDeque<IpAddr>) = addrs
        .into_iter()
        .partition(|a| a.is_ipv4() == first.is_ipv4());
    let mut out = Vec::with_capacity(same.len() + other.len());
    loop {
        match (same.pop_front(), other.pop_front()) {
            (None, None) => break,
            (a, b) => {
                out.extend(a);
                out.extend(b);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_alternates_families() {
        let v: Vec<IpAddr> = ["::1", "::2", "127.0.0.1", "127.0.0.2", "::3"]
            .iter()
            .map(|s| s.parse().expect("test addresses are IP literals"))
            .collect();
        let out: Vec<String> = interleave(v).iter().map(|a| a.to_string()).collect();
        assert_eq!(out, ["::1", "127.0.0.1", "::2", "127.0.0.2", "::3"]);
    }
}
