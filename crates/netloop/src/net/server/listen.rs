//! Listening: `listen` on a port, a host, a Unix path or with options,
//! and `listening` (or the bind's error) on Node's tick.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::{Server, ServerInner};
use crate::cluster::Bound;
use crate::dns;
use crate::error::{Error, ErrorCode, Result};
use crate::event_loop::{self, EventLoop, IoHandler};
use crate::ip::is_ip;
use crate::net::options::ListenOptions;
use crate::stream::pipe;
use crate::stream::tcp::{self, ListenAddr};

impl Server {
    /// Listen on `host:port` (Node: `server.listen(port, host)`); port 0 picks
    /// a free port. An IP literal is bound before this returns, so
    /// [`address`](Server::address) works on the next line; a name is looked up
    /// first (`localhost` may give `::1` or `127.0.0.1`). `listening` follows
    /// on a later tick. The backlog is 511, as Node's. See the
    /// [type documentation](Server) for an example.
    ///
    /// # Errors
    ///
    /// At once: `ERR_SERVER_ALREADY_LISTEN` if listening or about to. As an
    /// `error` event: `EADDRINUSE`, `EACCES`, `EADDRNOTAVAIL`, and the lookup's
    /// `ENOTFOUND`/`EAI_AGAIN` for a name.
    ///
    /// # Panics
    ///
    /// When `host` is a name and no loop runs on this thread (a server kept
    /// after [`run`](crate::run) returned): there is no pool to look it up on.
    pub fn listen(&self, port: u16, host: &str) -> Result<&Server> {
        self.listen_with(ListenOptions {
            port,
            host: Some(host.to_owned()),
            ..ListenOptions::default()
        })
    }

    /// Listen on every address (Node: `server.listen(port)`): `::` dual-stack,
    /// so IPv4 clients are accepted too, or `0.0.0.0` where IPv6 is unavailable.
    /// This makes the server reachable from other machines; tests and local
    /// tools should [`listen`](Server::listen) on `127.0.0.1`.
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
    /// `\0` (Node: `server.listen(path)`). The path is bound before this
    /// returns; `close()` removes the file. An existing file is an `EADDRINUSE`
    /// error and is left alone, never silently replaced (remove a stale one
    /// yourself).
    ///
    /// # Errors
    ///
    /// At once: `ERR_SERVER_ALREADY_LISTEN`. As an `error` event: `EADDRINUSE`
    /// (the path exists), `EACCES` (`listen EACCES: permission denied <path>`,
    /// also for a missing directory, as libuv reports it), `ENAMETOOLONG`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use netloop::net::{self, Socket};
    ///
    /// let path = std::env::temp_dir().join(format!("netloop-doc-{}.sock", std::process::id()));
    /// let received = Rc::new(RefCell::new(Vec::new()));
    /// let (sink, socket_path) = (Rc::clone(&received), path.clone());
    /// netloop::run(move || {
    ///     let server = net::create_server(|server, sock: &Socket| {
    ///         assert_eq!(sock.remote_address(), None); // no IP on a Unix socket
    ///         sock.end_with("hello over a Unix socket");
    ///         server.close(); // removes the socket file
    ///     });
    ///     server.listen_path(&socket_path)?;
    ///     assert!(socket_path.exists()); // bound at once
    ///     assert_eq!(server.path().as_deref(), Some(socket_path.as_path()));
    ///     assert_eq!(server.address(), None);
    ///
    ///     let client = net::connect_path(&socket_path)?;
    ///     client.on(Socket::DATA, move |_, data| sink.borrow_mut().extend_from_slice(data));
    ///     Ok(())
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(*received.borrow(), b"hello over a Unix socket");
    /// assert!(!path.exists());
    /// ```
    pub fn listen_path(&self, path: impl AsRef<Path>) -> Result<&Server> {
        self.listen_with(ListenOptions {
            path: Some(path.as_ref().to_path_buf()),
            ..ListenOptions::default()
        })
    }

    /// Listen with options (Node: `server.listen(options)`): a `path`, or a
    /// `port` and `host`, with `backlog`, `ipv6_only`, `reuse_port` and, for
    /// Unix sockets, `readable_all`/`writable_all`. See [`ListenOptions`].
    ///
    /// # Errors
    ///
    /// At once: `ERR_SERVER_ALREADY_LISTEN`; `ERR_INVALID_ARG_VALUE` for a
    /// negative backlog (Node 20 hands it to `listen(2)`), or for
    /// `readable_all`/`writable_all` on an abstract socket; the `chmod` failure
    /// (syscall `uv_pipe_chmod`) for those two options. As events: those of
    /// [`listen`](Server::listen) and [`listen_path`](Server::listen_path).
    ///
    /// # Panics
    ///
    /// As [`listen`](Server::listen).
    ///
    /// # Examples
    ///
    /// ```
    /// use netloop::net::{ListenOptions, Server};
    ///
    /// netloop::run(|| {
    ///     let server = Server::new();
    ///     let err = server
    ///         .listen_with(ListenOptions { backlog: Some(-1), ..ListenOptions::default() })
    ///         .expect_err("a negative backlog");
    ///     assert_eq!(
    ///         err.to_string(),
    ///         "The property 'options.backlog' must be a non-negative number. Received -1"
    ///     );
    ///
    ///     server.listen_with(ListenOptions {
    ///         port: 0,
    ///         host: Some("127.0.0.1".into()),
    ///         backlog: Some(16),
    ///         ..ListenOptions::default()
    ///     })?;
    ///     assert!(server.listening());
    ///     server.close();
    ///     Ok(())
    /// })
    /// .expect("the loop ran");
    /// ```
    pub fn listen_with(&self, opts: ListenOptions) -> Result<&Server> {
        {
            let st = self.inner.st.borrow();
            if self.inner.listener.is_attached()
                || st.cluster_listen.is_some()
                || st.binding.is_some()
            {
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
        self.inner.st.borrow_mut().adopted = false;
        let tcp_opts = tcp::ListenOpts {
            backlog,
            ipv6_only: opts.ipv6_only,
            reuse_port: opts.reuse_port,
        };
        if let Some(path) = opts.path {
            pipe::check_path(&path)?;
            let (readable, writable) = (opts.readable_all, opts.writable_all);
            if (readable || writable) && pipe::is_abstract(&path) {
                // Node: an abstract socket has no file to chmod.
                return Err(crate::error::invalid_arg(
                    "options",
                    &path,
                    "can not set readableAll or writableAllt to true when path is abstract unix socket",
                ));
            }
            let res = pipe::listen(&path, backlog).map(Bound::Own);
            if res.is_ok() && (readable || writable) {
                // Node's `uv_pipe_chmod` after the bind; a failure throws.
                if let Err(e) = pipe::chmod_all(&path, readable, writable) {
                    drop(res);
                    pipe::unlink(&path);
                    return Err(Error::from_syscall(&e, "uv_pipe_chmod"));
                }
            }
            self.inner
                .finish_listen(res, Some(path), None, opts.port, Ticks::One);
            return Ok(self);
        }
        let exclusive = opts.exclusive;
        match opts.host {
            None => {
                let res = self
                    .inner
                    .bind_tcp(ListenAddr::Any(opts.port), &tcp_opts, exclusive);
                self.inner
                    .finish_listen(res, None, Some("::".to_owned()), opts.port, Ticks::One);
            }
            Some(host) if is_ip(&host) != 0 => {
                let res = host
                    .parse::<IpAddr>()
                    .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
                    .and_then(|ip| {
                        let at = ListenAddr::At(SocketAddr::new(ip, opts.port));
                        self.inner.bind_tcp(at, &tcp_opts, exclusive)
                    });
                self.inner
                    .finish_listen(res, None, Some(host), opts.port, Ticks::AfterLookup);
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
                dns::lookup(&host, None, move |res| {
                    if inner.st.borrow().binding != Some(seq) {
                        return; // closed while looking up
                    }
                    inner.st.borrow_mut().binding = None;
                    match res {
                        Ok(ip) => {
                            let at = ListenAddr::At(SocketAddr::new(ip, port));
                            let res = inner.bind_tcp(at, &tcp_opts, exclusive);
                            inner.finish_listen(res, None, Some(ip.to_string()), port, Ticks::One);
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
}

/// When `listening` (or a bind error) is emitted after `listen()`.
#[derive(Clone, Copy)]
pub(super) enum Ticks {
    /// On the next tick: Node's `emitListeningNT` (a port or a path).
    One,
    /// One tick later: a host given as an IP literal still goes through
    /// Node's `dns.lookup`, which answers a literal on the next tick and
    /// only then listens and queues `emitListeningNT`. netloop binds at
    /// once (so `address()` works right after `listen()`) but emits on
    /// Node's tick: a `next_tick` queued right after `listen()` runs first.
    AfterLookup,
}

impl Ticks {
    pub(super) fn queue(self, lp: &EventLoop, f: impl FnOnce() + 'static) {
        match self {
            Ticks::One => lp.next_tick(f),
            Ticks::AfterLookup => lp.next_tick(move || event_loop::current().next_tick(f)),
        }
    }
}

impl ServerInner {
    /// Bind a TCP listener: a descriptor of this server's own, or, in a
    /// cluster worker (unless `exclusive`), as the cluster's policy says
    /// (Node's `listen` in a worker asks the primary, `cluster._getServer`).
    fn bind_tcp(
        &self,
        at: ListenAddr,
        opts: &tcp::ListenOpts,
        exclusive: bool,
    ) -> io::Result<Bound> {
        match &self.cluster {
            Some(ctx) if !exclusive => {
                let server = self
                    .server()
                    .ok_or_else(|| io::Error::other("server dropped"))?;
                ctx.listen_tcp(&server, at, opts)
            }
            _ => at.listen(opts).map(Bound::Own),
        }
    }

    /// Register the bound listener (or report the bind's failure) and queue
    /// `listening` (or `error`) as Node does: `ticks` says how many ticks
    /// later. Both events come on a later tick, never from inside
    /// `listen()`.
    pub(super) fn finish_listen(
        &self,
        res: io::Result<Bound>,
        path: Option<PathBuf>,
        host: Option<String>,
        port: u16,
        ticks: Ticks,
    ) {
        let Some(server) = self.server() else { return };
        let handler: Rc<dyn IoHandler> = server.inner.clone();
        let registered = res.and_then(|bound| match bound {
            Bound::Own(l) => self
                .listener
                .attach(&self.lp, l, handler)
                .map(|()| self.listener.local_addr()),
            Bound::Shared(l, ticket) => match self.listener.attach(&self.lp, l, handler) {
                Ok(()) => {
                    self.st.borrow_mut().cluster_listen = Some(ticket);
                    Ok(self.listener.local_addr())
                }
                Err(e) => {
                    if let Some(ctx) = &self.cluster {
                        ctx.unlisten(ticket);
                    }
                    Err(e)
                }
            },
            Bound::RoundRobin(ticket) => {
                let address = Some(ticket.address());
                self.st.borrow_mut().cluster_listen = Some(ticket);
                Ok(address)
            }
        });
        match registered {
            Ok(address) => {
                let seq = {
                    let mut st = self.st.borrow_mut();
                    st.address = address;
                    st.path = path;
                    // This listen's number: a close (and a new listen)
                    // before the tick makes its `listening` stale, as
                    // Node's `_listeningId`.
                    st.bind_seq += 1;
                    st.bind_seq
                };
                self.handle_ref.set_active(true);
                tracing::debug!(target: "netloop::net", address = ?self.st.borrow().address, "listening");
                ticks.queue(&self.lp, move || {
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
                ticks.queue(&self.lp, move || server.emit_error(&err));
            }
        }
    }
}
