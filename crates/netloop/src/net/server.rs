//! `Server`: Node's `net.Server`.

use std::cell::RefCell;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};

use mio::Token;

use crate::dns;
use crate::error::{Error, ErrorCode, Result};
use crate::event_loop::{self, EventLoop, HandleRef, IoHandler, Ready};
use crate::events::{impl_emitter, Event, Listeners};
use crate::net::options::{DropInfo, Family, ListenOptions, ServerOptions};
use crate::net::{is_ip, Socket};
use crate::stream::{ListenerIo, StreamIo};
use crate::{pipe, tcp};

/// A TCP or Unix-socket server (Node: `net.Server`).
///
/// Create one with [`net::create_server`](crate::net::create_server), call
/// [`listen`](Server::listen), and handle [`Server::CONNECTION`]. Like every
/// netloop handle it is a cheap clone of a shared object.
///
/// ```
/// use netloop::net::{self, Server, Socket};
///
/// netloop::run(|| {
///     let server = net::create_server(|server, sock: &Socket| {
///         println!("CONNECTED: {:?}:{:?}", sock.remote_address(), sock.remote_port());
///         sock.end();
///         server.close();
///     });
///     // Bound at once for an IP literal: address() works on the next line.
///     server.listen(0, "127.0.0.1")?;
///     let port = server.address().expect("bound at once").port();
///     net::connect(port, "127.0.0.1")?;
///     Ok(())
/// })
/// .expect("the loop ran");
/// ```
///
/// Differences from Node, on purpose: `listen(port, ip)` binds synchronously
/// for IP literals (Node returns `null` from `address()` until the next
/// tick), and [`connections`](Server::connections) answers at once.
#[derive(Clone)]
pub struct Server {
    inner: Rc<ServerInner>,
}

pub(crate) struct ServerInner {
    lp: Rc<EventLoop>,
    listeners: Listeners,
    handle_ref: HandleRef,
    st: RefCell<State>,
    me: Weak<ServerInner>,
}

struct State {
    opts: ServerOptions,
    listener: Option<(ListenerIo, Token)>,
    /// A listen waiting for its host lookup; the number identifies it so a
    /// close in between makes the answer stale.
    binding: Option<u64>,
    bind_seq: u64,
    address: Option<SocketAddr>,
    path: Option<PathBuf>,
    connections: usize,
    max_connections: Option<usize>,
    close_scheduled: bool,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.inner.st.borrow();
        f.debug_struct("Server")
            .field("address", &st.address)
            .field("path", &st.path)
            .field("listening", &st.listener.is_some())
            .field("connections", &st.connections)
            .finish()
    }
}

impl Server {
    /// Emitted for each accepted connection (Node: `'connection'`).
    pub const CONNECTION: Event<Socket> = Event::new("connection");
    /// Emitted once the server is bound and listening (Node: `'listening'`).
    pub const LISTENING: Event<()> = Event::new("listening");
    /// Emitted when the server has closed and its last connection ended
    /// (Node: `'close'`).
    pub const CLOSE: Event<()> = Event::new("close");
    /// Emitted on a listen or accept failure (Node: `'error'`).
    pub const ERROR: Event<Error> = Event::new("error");
    /// Emitted when a connection is refused because of `max_connections`
    /// (Node: `'drop'`).
    pub const DROP: Event<DropInfo> = Event::new("drop");

    /// A server with default options (Node: `new net.Server()`).
    ///
    /// # Panics
    ///
    /// Outside `netloop::run`.
    pub fn new() -> Server {
        Server::with_options(ServerOptions::default())
    }

    /// A server with options (Node: `new net.Server(options)`).
    ///
    /// # Panics
    ///
    /// Outside `netloop::run`.
    pub fn with_options(opts: ServerOptions) -> Server {
        let lp = event_loop::current();
        let inner = Rc::new_cyclic(|me| ServerInner {
            handle_ref: HandleRef::new(Rc::clone(&lp)),
            lp,
            listeners: Listeners::default(),
            st: RefCell::new(State {
                opts,
                listener: None,
                binding: None,
                bind_seq: 0,
                address: None,
                path: None,
                connections: 0,
                max_connections: None,
                close_scheduled: false,
            }),
            me: me.clone(),
        });
        Server { inner }
    }

    fn listeners(&self) -> &Listeners {
        &self.inner.listeners
    }

    fn lp(&self) -> &EventLoop {
        &self.inner.lp
    }

    fn on_listener_added(&self, _name: &str) {}

    /// Listen on `host:port` (Node: `server.listen(port, host)`). An IP
    /// literal is bound before this returns, so [`address`](Server::address)
    /// works on the next line; a name is looked up first. `listening`
    /// follows on a later tick.
    ///
    /// # Errors
    ///
    /// `ERR_SERVER_ALREADY_LISTEN` at once if listening (or about to).
    /// Bind failures (`EADDRINUSE`, `EACCES`) arrive as an `error` event.
    pub fn listen(&self, port: u16, host: &str) -> Result<&Server> {
        self.listen_with(ListenOptions {
            port,
            host: Some(host.to_owned()),
            ..ListenOptions::default()
        })
    }

    /// Listen on every address: `::` dual-stack, or `0.0.0.0` where IPv6 is
    /// unavailable (Node: `server.listen(port)`).
    ///
    /// # Errors
    ///
    /// As [`listen`](Server::listen).
    pub fn listen_port(&self, port: u16) -> Result<&Server> {
        self.listen_with(ListenOptions {
            port,
            ..ListenOptions::default()
        })
    }

    /// Listen on a Unix socket path, or a Linux abstract name starting with
    /// `\0` (Node: `server.listen(path)`). The file is removed on `close()`;
    /// an existing file is an `EADDRINUSE` error, never silently replaced.
    ///
    /// # Errors
    ///
    /// As [`listen`](Server::listen).
    pub fn listen_path(&self, path: impl AsRef<Path>) -> Result<&Server> {
        self.listen_with(ListenOptions {
            path: Some(path.as_ref().to_path_buf()),
            ..ListenOptions::default()
        })
    }

    /// Listen with options (Node: `server.listen(options)`).
    ///
    /// # Errors
    ///
    /// `ERR_SERVER_ALREADY_LISTEN`; `ERR_INVALID_ARG_VALUE` for a negative
    /// backlog.
    pub fn listen_with(&self, opts: ListenOptions) -> Result<&Server> {
        {
            let st = self.inner.st.borrow();
            if st.listener.is_some() || st.binding.is_some() {
                return Err(Error::new(
                    ErrorCode::ERR_SERVER_ALREADY_LISTEN,
                    "Listen method has been called more than once without closing.",
                ));
            }
        }
        let backlog = match opts.backlog {
            Some(b) if b < 0 => {
                return Err(crate::error::invalid_arg(
                    "options.backlog",
                    b,
                    "must be a non-negative number",
                ))
            }
            Some(b) => b,
            None => tcp::DEFAULT_BACKLOG,
        };
        self.inner.st.borrow_mut().close_scheduled = false;
        let tcp_opts = tcp::ListenOpts {
            backlog,
            ipv6_only: opts.ipv6_only,
            reuse_port: opts.reuse_port,
        };
        if let Some(path) = opts.path {
            let (readable, writable) = (opts.readable_all, opts.writable_all);
            if (readable || writable) && pipe::is_abstract(&path) {
                // Node: an abstract socket has no file to chmod.
                return Err(crate::error::invalid_arg(
                    "options",
                    &path,
                    "can not set readableAll or writableAllt to true when path is abstract unix socket",
                ));
            }
            let res = pipe::listen(&path, backlog);
            if res.is_ok() && (readable || writable) {
                // Node's `uv_pipe_chmod` after the bind; a failure throws.
                if let Err(e) = pipe::chmod_all(&path, readable, writable) {
                    drop(res);
                    pipe::unlink(&path);
                    return Err(Error::from_syscall(&e, "uv_pipe_chmod"));
                }
            }
            self.inner.finish_listen(res, Some(path), None, opts.port);
            return Ok(self);
        }
        match opts.host {
            None => {
                let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), opts.port);
                let res = match tcp::listen(v6, &tcp_opts) {
                    Err(e) if is_no_ipv6(&e) => {
                        let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), opts.port);
                        tcp::listen(v4, &tcp_opts)
                    }
                    other => other,
                };
                self.inner
                    .finish_listen(res, None, Some("::".to_owned()), opts.port);
            }
            Some(host) if is_ip(&host) != 0 => {
                let res = host
                    .parse::<IpAddr>()
                    .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
                    .and_then(|ip| tcp::listen(SocketAddr::new(ip, opts.port), &tcp_opts));
                self.inner.finish_listen(res, None, Some(host), opts.port);
            }
            Some(host) => {
                let seq = {
                    let mut st = self.inner.st.borrow_mut();
                    st.bind_seq += 1;
                    st.binding = Some(st.bind_seq);
                    st.bind_seq
                };
                // Pending lookups keep the loop alive through the pool.
                let inner = Rc::clone(&self.inner);
                let port = opts.port;
                dns::lookup(&host, 0, move |res| {
                    if inner.st.borrow().binding != Some(seq) {
                        return; // closed while looking up
                    }
                    inner.st.borrow_mut().binding = None;
                    match res {
                        Ok(ip) => {
                            let res = tcp::listen(SocketAddr::new(ip, port), &tcp_opts);
                            inner.finish_listen(res, None, Some(ip.to_string()), port);
                        }
                        Err(err) => {
                            let server = Server { inner };
                            server.emit_error(&err);
                        }
                    }
                });
            }
        }
        Ok(self)
    }

    /// The bound address, available right after `listen` for IP literals
    /// (Node: `server.address()`). `None` before listening, after
    /// `close()`, and for Unix sockets (see [`path`](Server::path)).
    pub fn address(&self) -> Option<SocketAddr> {
        self.inner.st.borrow().address
    }

    /// The Unix socket path, if listening on one.
    pub fn path(&self) -> Option<PathBuf> {
        self.inner.st.borrow().path.clone()
    }

    /// Stop accepting; `close` is emitted once every connection has ended
    /// (Node: `server.close()`).
    pub fn close(&self) -> &Server {
        self.inner.close_listener();
        self.inner.emit_close_if_drained();
        self
    }

    /// [`close`](Server::close), calling `f` on the `close` event, with
    /// `ERR_SERVER_NOT_RUNNING` if the server was not listening (Node:
    /// `server.close(callback)`).
    pub fn close_with(&self, f: impl FnOnce(&Server, Option<&Error>) + 'static) -> &Server {
        let running = {
            let st = self.inner.st.borrow();
            st.listener.is_some() || st.binding.is_some()
        };
        let mut f = Some(f);
        if running {
            self.once(Server::CLOSE, move |s, _| {
                if let Some(f) = f.take() {
                    f(s, None);
                }
            });
        } else {
            let err = Error::new(ErrorCode::ERR_SERVER_NOT_RUNNING, "Server is not running.");
            self.once(Server::CLOSE, move |s, _| {
                if let Some(f) = f.take() {
                    f(s, Some(&err));
                }
            });
        }
        self.close()
    }

    /// Open connections (Node: `server.getConnections()`, answered at once).
    pub fn connections(&self) -> usize {
        self.inner.st.borrow().connections
    }

    /// Refuse connections beyond `max` (Node: `server.maxConnections`).
    /// `None` is unlimited; `Some(0)` refuses every connection. Refused
    /// connections are closed at once and reported with [`Server::DROP`].
    pub fn set_max_connections(&self, max: Option<usize>) -> &Server {
        self.inner.st.borrow_mut().max_connections = max;
        self
    }

    /// Node: `server.maxConnections`.
    pub fn max_connections(&self) -> Option<usize> {
        self.inner.st.borrow().max_connections
    }

    /// True while bound and accepting (Node: `server.listening`).
    pub fn listening(&self) -> bool {
        self.inner.st.borrow().listener.is_some()
    }

    /// Let the loop end while this server listens (Node: `server.unref()`).
    pub fn unref(&self) -> &Server {
        self.set_ref(false)
    }

    /// Node: `server.ref()` / `unref()`.
    pub fn set_ref(&self, reffed: bool) -> &Server {
        self.inner.handle_ref.set_ref(reffed);
        self
    }

    /// Node: `server.hasRef()` (not in Node's docs, but on its timers).
    pub fn has_ref(&self) -> bool {
        self.inner.handle_ref.has_ref()
    }
}

impl Default for Server {
    fn default() -> Self {
        Server::new()
    }
}

impl_emitter!(Server);

/// The errors that mean "no IPv6 here": fall back to IPv4.
fn is_no_ipv6(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT) | Some(libc::EADDRNOTAVAIL) | Some(libc::EPROTONOSUPPORT)
    )
}

impl ServerInner {
    fn server(&self) -> Option<Server> {
        self.me.upgrade().map(|inner| Server { inner })
    }

    /// Register a bound listener, or report why binding failed; both
    /// events come on a later tick, never from inside `listen()`.
    fn finish_listen(
        &self,
        res: io::Result<ListenerIo>,
        path: Option<PathBuf>,
        host: Option<String>,
        port: u16,
    ) {
        let Some(server) = self.server() else { return };
        let registered = res.and_then(|mut l| {
            let handler: Rc<dyn IoHandler> = server.inner.clone();
            let token = self.lp.register(l.source(), handler)?;
            Ok((l, token))
        });
        match registered {
            Ok((l, token)) => {
                let seq = {
                    let mut st = self.st.borrow_mut();
                    st.address = l.local_addr();
                    st.path = path;
                    st.listener = Some((l, token));
                    // This listen's number: a close (and a new listen)
                    // before the tick makes its `listening` stale, as
                    // Node's `_listeningId`.
                    st.bind_seq += 1;
                    st.bind_seq
                };
                self.handle_ref.set_active(true);
                tracing::debug!(target: "netloop::net", address = ?self.st.borrow().address, "listening");
                self.lp.next_tick(move || {
                    let current = server.inner.st.borrow().bind_seq == seq;
                    if current && server.listening() {
                        server.emit(Server::LISTENING, &());
                    }
                });
            }
            Err(e) => {
                let address = path.as_ref().map(|p| p.display().to_string()).or(host);
                let port = if path.is_some() { None } else { Some(port) };
                let err = Error::uv_host_port(&e, "listen", address.as_deref(), port);
                tracing::debug!(target: "netloop::net", error = %err, "listen failed");
                self.lp.next_tick(move || server.emit_error(&err));
            }
        }
    }

    fn close_listener(&self) {
        let (listener, path) = {
            let mut st = self.st.borrow_mut();
            st.binding = None;
            st.bind_seq += 1;
            (st.listener.take(), st.path.clone())
        };
        if let Some((mut l, token)) = listener {
            // Node's `address()` is null once closed (a Unix server keeps
            // its path, as Node keeps `_pipeName`).
            self.st.borrow_mut().address = None;
            self.lp.deregister(l.source(), token);
            drop(l);
            if let Some(path) = path {
                pipe::unlink(&path);
            }
            self.handle_ref.set_active(false);
            tracing::debug!(target: "netloop::net", "server closed");
        }
    }

    /// Node's `_emitCloseIfDrained`: `close` on the next tick once the
    /// listener is gone and no connection remains.
    pub(crate) fn emit_close_if_drained(&self) {
        {
            let mut st = self.st.borrow_mut();
            if st.listener.is_some() || st.binding.is_some() || st.connections > 0 {
                return;
            }
            if st.close_scheduled {
                return;
            }
            st.close_scheduled = true;
        }
        let Some(server) = self.server() else { return };
        self.lp.next_tick(move || {
            // Several close() calls in one tick make one `close`; a later
            // close() emits again, as in Node.
            server.inner.st.borrow_mut().close_scheduled = false;
            server.emit(Server::CLOSE, &());
        });
    }

    /// A connection of this server closed (called from the socket's
    /// destroy, as Node's `_destroy` decrements `_connections`).
    pub(crate) fn connection_closed(&self) {
        {
            let mut st = self.st.borrow_mut();
            st.connections = st.connections.saturating_sub(1);
        }
        self.emit_close_if_drained();
    }

    fn accept_one(&self) -> Option<io::Result<(StreamIo, Option<SocketAddr>)>> {
        let st = self.st.borrow();
        let (l, _) = st.listener.as_ref()?;
        Some(l.accept())
    }

    /// Node's `onconnection`: enforce `max_connections`, wrap the accepted
    /// fd in a `Socket`, and emit `connection`.
    fn on_connection(self: &Rc<Self>, server: &Server, io: StreamIo, peer: Option<SocketAddr>) {
        let (over_limit, opts) = {
            let st = self.st.borrow();
            let over = matches!(st.max_connections, Some(max) if st.connections >= max);
            (over, st.opts.clone())
        };
        let blocked = match (&opts.block_list, peer) {
            (Some(list), Some(p)) => list.check(p.ip()),
            _ => false,
        };
        if blocked {
            // Node (22+) closes a blocked peer's connection at once, without
            // `drop` or `connection`.
            tracing::debug!(target: "netloop::net", ?peer, "onconnection: blocked");
            drop(io);
            return;
        }
        if over_limit {
            let local = io.local_addr();
            drop(io);
            let info = DropInfo {
                local_address: local.map(|a| a.ip()),
                local_port: local.map(|a| a.port()),
                local_family: local.map(|a| Family::of(&a.ip())),
                remote_address: peer.map(|a| a.ip()),
                remote_port: peer.map(|a| a.port()),
                remote_family: peer.map(|a| Family::of(&a.ip())),
            };
            tracing::debug!(target: "netloop::net", ?peer, "onconnection: drop");
            server.emit(Server::DROP, &info);
            return;
        }
        let socket = match Socket::from_accepted(io, peer, &opts, Rc::clone(self)) {
            Ok(s) => s,
            Err(e) => {
                server.emit_error(&Error::from_syscall(&e, "accept"));
                return;
            }
        };
        self.st.borrow_mut().connections += 1;
        tracing::debug!(target: "netloop::net", ?peer, "onconnection");
        server.emit(Server::CONNECTION, &socket);
    }
}

impl IoHandler for ServerInner {
    fn on_ready(self: Rc<Self>, _ready: Ready) {
        let server = Server {
            inner: Rc::clone(&self),
        };
        // Edge-triggered: accept until the backlog is empty.
        loop {
            if self.lp.stopping() {
                return;
            }
            let Some(res) = self.accept_one() else {
                return; // closed by a connection listener
            };
            match res {
                // Each accepted connection is its own callback into user
                // code, as in Node: ticks queued by one `connection`
                // listener run before the next connection is emitted.
                Ok((io, peer)) => self.lp.invoke(|| self.on_connection(&server, io, peer)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if e.kind() == io::ErrorKind::Interrupted
                        || e.raw_os_error() == Some(libc::ECONNABORTED) => {}
                Err(e) => {
                    server.emit_error(&Error::from_syscall(&e, "accept"));
                    return;
                }
            }
        }
    }

    fn teardown(&self) {
        self.close_listener();
        self.listeners.remove_all(None);
    }
}
