//! `Server`: Node's `net.Server` (std listeners and descriptors: `interop`).

mod accept;
mod interop;
mod listen;

pub use interop::StdListener;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::{Rc, Weak};

use crate::cluster::{ClusterListen, WorkerContext};
use crate::error::{Error, ErrorCode};
use crate::event_loop::{self, EventLoop, HandleRef, IoHandler, Ready};
use crate::events::{builtin, impl_emitter, BuiltinEvent, Event, Listeners};
use crate::net::options::{ClientErrorInfo, DropInfo, ServerOptions};
use crate::net::Socket;
use crate::stream::{pipe, ListenerHandle};
use accept::Acceptor;

/// A TCP or Unix-socket server (Node: `net.Server`).
///
/// Create one with [`net::create_server`](crate::net::create_server) (or
/// [`Server::new`] and a [`Server::CONNECTION`] listener), call
/// [`listen`](Server::listen), and handle each accepted [`Socket`]. The
/// handle is a cheap clone of a shared object, like a JavaScript reference,
/// and is `!Send`: it belongs to the loop of the thread that created it.
/// Listeners receive the server first, so they never need to capture it.
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use netloop::net::{self, Server, Socket};
///
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let events = Rc::clone(&log);
/// netloop::run(move || {
///     let server = Server::new();
///     let log = Rc::clone(&events);
///     server.on(Server::LISTENING, move |s, _| {
///         log.borrow_mut().push(format!("listening, {} open", s.connections()));
///     });
///     let log = Rc::clone(&events);
///     server.on(Server::CONNECTION, move |s, sock| {
///         log.borrow_mut().push(format!("connection, {} open", s.connections()));
///         sock.end_with("bye");
///         s.close(); // stop accepting; `close` waits for this connection
///     });
///     let log = Rc::clone(&events);
///     server.on(Server::CLOSE, move |s, _| {
///         log.borrow_mut().push(format!("close, {} open", s.connections()));
///     });
///
///     // Bound before `listen` returns: address() works on the next line.
///     server.listen(0, "127.0.0.1")?;
///     assert!(server.listening());
///     let port = server.address().expect("bound at once").port();
///
///     let client = net::connect(port, "127.0.0.1")?;
///     let log = Rc::clone(&events);
///     client.on(Socket::DATA, move |_, data| {
///         log.borrow_mut().push(format!("client got {}", String::from_utf8_lossy(data)));
///     });
///     Ok(())
/// })
/// .expect("the loop ran");
/// assert_eq!(
///     *log.borrow(),
///     ["listening, 0 open", "connection, 1 open", "client got bye", "close, 0 open"]
/// );
/// ```
///
/// # Lifecycle
///
/// 1. **Listen.** [`listen`](Server::listen) (`port`, `host`),
///    [`listen_port`](Server::listen_port) (every address),
///    [`listen_path`](Server::listen_path) (a Unix socket) or
///    [`listen_with`](Server::listen_with) (options). An IP literal or a
///    path is bound before the call returns, so
///    [`address`](Server::address) and [`listening`](Server::listening)
///    answer on the next line; a host name is looked up first. Either
///    way `listening` (or `error`) comes on a later tick.
/// 2. **Accept.** Each connection is a [`Socket`], already open and
///    reading, handed to `connection` with the [`ServerOptions`] applied
///    (`allow_half_open`, `pause_on_connect`, `no_delay`, `keep_alive`,
///    `high_water_mark`). With
///    [`proxy_protocol`](ServerOptions::proxy_protocol), the connection
///    first reads its PROXY header, and `connection` comes once it has
///    (see [`crate::proxy`]). The listener accepts until the kernel's backlog
///    is empty; each connection is its own callback, and the `next_tick`
///    queue runs between two of them, as in Node.
/// 3. **Close.** [`close`](Server::close) stops accepting at once (the fd
///    is closed, a Unix socket file removed); open connections carry on,
///    and `close` is emitted once the last one has closed. A closed server,
///    or one whose listen failed, may listen again.
///
/// # Events
///
/// | Event | Payload | When | Node |
/// | --- | --- | --- | --- |
/// | [`LISTENING`](Server::LISTENING) | `()` | bound and listening, on a later tick | `'listening'` |
/// | [`CONNECTION`](Server::CONNECTION) | [`Socket`] | a connection was accepted | `'connection'` |
/// | [`DROP`](Server::DROP) | [`DropInfo`] | a connection was refused: [`max_connections`](Server::set_max_connections) reached | `'drop'` |
/// | [`CLIENT_ERROR`](Server::CLIENT_ERROR) | [`ClientErrorInfo`] | a connection's PROXY protocol header failed; it was closed | none (`http`'s `'clientError'`) |
/// | [`ERROR`](Server::ERROR) | [`Error`] | listen (or the host lookup) failed | `'error'` |
/// | [`CLOSE`](Server::CLOSE) | `()` | closed, and the last connection ended | `'close'` |
///
/// # Errors
///
/// Invalid calls fail at once with `Err`: `ERR_SERVER_ALREADY_LISTEN` for
/// a second `listen` while listening, `ERR_INVALID_ARG_VALUE` for a
/// negative backlog. Failures of the bind or the lookup are an `error`
/// event on a later tick, and the server is then not listening:
///
/// | Code | Message, as Node prints it |
/// | --- | --- |
/// | `EADDRINUSE` | `listen EADDRINUSE: address already in use 127.0.0.1:8080` (or the path) |
/// | `EACCES` | `listen EACCES: permission denied 0.0.0.0:80` |
/// | `EADDRNOTAVAIL` | `listen EADDRNOTAVAIL: address not available 10.9.9.9:8080` |
/// | `ENOTFOUND` | `getaddrinfo ENOTFOUND nope.invalid` |
///
/// As everywhere in netloop, an `error` with no listener ends
/// [`run`](crate::run) with that error.
///
/// Once listening, a server emits no `error`, as in Node 20: a failed
/// `accept` never reaches it (libuv 1.46's `uv__server_io` drops accept
/// errors; measured with Node 20.20.2 under `prlimit --nofile=64:64`, 300
/// concurrent clients: no `error` with a listener, no crash without one).
/// Out of file descriptors (`EMFILE`, `ENFILE`), the server sheds load as
/// libuv does: it closes a spare descriptor the loop keeps, accepts and
/// closes every connection waiting in the queue, and takes the spare
/// back. Clients that come while it has no descriptor see their
/// connection closed at once; those it holds are served on; once
/// descriptors free up, new clients are served again. Where nothing could
/// be shed (no spare descriptor, or `ENOBUFS`/`ENOMEM`), the waiting
/// connections are accepted by a retry 100 ms later, never left behind.
/// Such a spell is logged through `tracing` (a `WARN` on `netloop::net`
/// when it starts and when it ends), the only trace Node does not leave.
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use netloop::net::{self, Server};
///
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let events = Rc::clone(&log);
/// netloop::run(move || {
///     let first = net::create_server(|_, _| {});
///     first.listen(0, "127.0.0.1")?;
///     let port = first.address().expect("bound at once").port();
///
///     // Invalid: at once.
///     let again = first.listen(0, "127.0.0.1").expect_err("already listening");
///     assert_eq!(again.code().as_str(), "ERR_SERVER_ALREADY_LISTEN");
///
///     // Operational: an `error` event on a later tick.
///     let second = net::create_server(|_, _| {});
///     let log = Rc::clone(&events);
///     second.on(Server::ERROR, move |s, err| {
///         log.borrow_mut().push(err.to_string().replace(&port.to_string(), "PORT"));
///         assert!(!s.listening());
///         first.close();
///     });
///     second.listen(port, "127.0.0.1")?;
///     Ok(())
/// })
/// .expect("the loop ran");
/// assert_eq!(
///     *log.borrow(),
///     ["listen EADDRINUSE: address already in use 127.0.0.1:PORT"]
/// );
/// ```
///
/// # Keeping the loop alive
///
/// A listening server keeps [`run`](crate::run) going, as a ref'd libuv
/// handle does; [`unref`](Server::unref) lets the loop end while it still
/// listens, and `close` ends it for good. Accepted sockets count on their
/// own (see [`Socket`]).
///
/// # Differences from Node, and why
///
/// - `listen` on an IP literal binds before it returns. Node binds on the
///   next tick, so `server.address()` is `null` right after `listen()`, and
///   the classic tutorial that prints it crashes. A host name is still
///   looked up first, as in Node.
/// - [`connections`](Server::connections) answers at once (Node's
///   `getConnections(cb)` answers through a callback to ask cluster
///   workers in other processes; netloop's workers are threads, and a
///   cluster's total is
///   [`ClusterHandle::connections`](crate::cluster::ClusterHandle::connections)).
/// - In a [`cluster`](crate::cluster) worker, `listen` on a TCP address
///   shares the port with the other workers, as in a Node worker (see the
///   cluster's documentation).
/// - [`set_max_connections`](Server::set_max_connections)`(Some(0))`
///   refuses every connection; in Node 20 `0` means "no limit" (`None`
///   here), because 0 is falsy in JavaScript.
/// - Several `close()` calls in one tick give one `close` event; Node
///   emits one per call.
/// - For a Unix socket, [`address`](Server::address) is `None` and
///   [`path`](Server::path) gives the path (two typed getters instead of
///   Node's string-or-object).
/// - `listen(port, host, backlog, cb)`: the callback is
///   `.once(Server::LISTENING, cb)`, the backlog a field of
///   [`ListenOptions`](crate::net::ListenOptions).
///
/// `docs/node-parity.md` lists every method and option with the test that
/// compares it with Node.
#[derive(Clone)]
pub struct Server {
    inner: Rc<ServerInner>,
}

pub(crate) struct ServerInner {
    lp: Rc<EventLoop>,
    listeners: Listeners<Server>,
    handle_ref: HandleRef,
    listener: ListenerHandle,
    st: RefCell<State>,
    me: Weak<ServerInner>,
    /// The cluster worker whose thread made this server, if any: its TCP
    /// listens go through the cluster, and its connections count in the
    /// worker's and the cluster's totals.
    cluster: Option<Rc<WorkerContext>>,
}

struct State {
    opts: ServerOptions,
    /// A listen waiting for its host lookup; the number identifies it so a
    /// close in between makes the answer stale.
    binding: Option<u64>,
    bind_seq: u64,
    address: Option<SocketAddr>,
    path: Option<PathBuf>,
    connections: usize,
    max_connections: Option<usize>,
    close_scheduled: bool,
    /// From `listen_std`: `close()` leaves the socket file to its binder.
    adopted: bool,
    /// Listening through the cluster (`cluster`): with the round-robin
    /// policy, through the acceptor instead of a descriptor of its own.
    cluster_listen: Option<ClusterListen>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.inner.st.borrow();
        f.debug_struct("Server")
            .field("address", &st.address)
            .field("path", &st.path)
            .field(
                "listening",
                &(self.inner.listener.is_attached() || st.cluster_listen.is_some()),
            )
            .field("connections", &st.connections)
            .finish()
    }
}

impl Server {
    /// A connection was accepted; the payload is the open [`Socket`] (Node:
    /// `'connection'`).
    pub const CONNECTION: Event<Socket> = Event::new("connection");
    /// The server is bound and listening, emitted on a later tick than
    /// `listen` (Node: `'listening'`). Node's `listen(.., cb)` is
    /// `.once(Server::LISTENING, cb)`.
    pub const LISTENING: Event<()> = Event::new("listening");
    /// The server was closed and its last connection has closed (Node:
    /// `'close'`).
    pub const CLOSE: Event<()> = Event::new("close");
    /// A listen or lookup failure (Node: `'error'`). With no listener, the
    /// error ends [`run`](crate::run). Accept failures, running out of
    /// descriptors included, are not reported, as in Node 20 (see the
    /// [type documentation](Server#errors)).
    pub const ERROR: Event<Error> = Event::new("error");
    /// A connection was closed at once because
    /// [`max_connections`](Server::set_max_connections) was reached (Node:
    /// `'drop'`).
    pub const DROP: Event<DropInfo> = Event::new("drop");
    /// A connection was closed before `connection` because of its PROXY
    /// protocol header ([`ServerOptions::proxy_protocol`]): missing (when
    /// required), malformed, too long, cut short by the peer, or late. The
    /// payload carries the `ERR_PROXY_PROTOCOL` error and the TCP peer.
    /// Emitted after the connection was closed (it no longer counts in
    /// [`connections`](Server::connections)). Unlike `error`, a
    /// `clientError` nobody listens to does not end [`run`](crate::run)
    /// (a remote peer must not be able to stop the server): it is logged
    /// through `tracing` (a `WARN` on `netloop::net`). Node's `net` has no
    /// such event; the name is `http.Server`'s `'clientError'`.
    ///
    /// ```
    /// use netloop::net::{self, Server, ServerOptions, Socket};
    /// use netloop::proxy::ProxyProtocol;
    ///
    /// let errors = netloop::run_returning(|| {
    ///     let errors = netloop::Slot::new(Vec::new());
    ///     let opts = ServerOptions { proxy_protocol: ProxyProtocol::Required, ..ServerOptions::default() };
    ///     let server = net::create_server_with(opts, |_, _: &Socket| panic!("no connection"));
    ///     let log = errors.clone();
    ///     server.on(Server::CLIENT_ERROR, move |s, info| {
    ///         log.update(|l| l.push(format!("{}: {}", info.error.code().as_str(), info.error)));
    ///         s.close();
    ///     });
    ///     server.listen(0, "127.0.0.1")?;
    ///     let port = server.address().expect("bound at once").port();
    ///     let client = net::connect(port, "127.0.0.1")?;
    ///     client.write("GET / HTTP/1.1\r\n\r\n");
    ///     client.resume();
    ///     Ok(errors)
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(errors, ["ERR_PROXY_PROTOCOL: PROXY protocol: header required, got \"GET / HT\""]);
    /// ```
    pub const CLIENT_ERROR: Event<ClientErrorInfo> = Event::new("clientError");
    /// Every event above: a listener for one of these names must take its
    /// payload type (`on` panics with `ERR_INVALID_ARG_TYPE` otherwise).
    pub(crate) const BUILTIN_EVENTS: &'static [BuiltinEvent] = &[
        builtin(Server::CONNECTION),
        builtin(Server::LISTENING),
        builtin(Server::CLOSE),
        builtin(Server::ERROR),
        builtin(Server::DROP),
        builtin(Server::CLIENT_ERROR),
    ];

    /// A server with default options and no `connection` listener yet (Node:
    /// `new net.Server()`).
    ///
    /// # Panics
    ///
    /// Outside [`run`](crate::run): there is no loop to attach it to.
    pub fn new() -> Server {
        Server::with_options(ServerOptions::default())
    }

    /// A server whose accepted sockets get `opts` (Node:
    /// `new net.Server(options)`); see [`ServerOptions`].
    ///
    /// # Panics
    ///
    /// Outside [`run`](crate::run).
    pub fn with_options(opts: ServerOptions) -> Server {
        let lp = event_loop::current();
        let inner = Rc::new_cyclic(|me| ServerInner {
            handle_ref: HandleRef::new(Rc::clone(&lp)),
            lp,
            listeners: Listeners::default(),
            listener: ListenerHandle::default(),
            st: RefCell::new(State {
                opts,
                binding: None,
                bind_seq: 0,
                address: None,
                path: None,
                connections: 0,
                max_connections: None,
                close_scheduled: false,
                adopted: false,
                cluster_listen: None,
            }),
            me: me.clone(),
            cluster: crate::cluster::context(),
        });
        if let Some(ctx) = &inner.cluster {
            ctx.track_server(WeakServer(Rc::downgrade(&inner)));
        }
        // Unregistered until it listens, and again once closed: teardown
        // reaches it through the loop's list.
        let handler: Rc<dyn IoHandler> = inner.clone();
        inner.lp.track(Rc::downgrade(&handler));
        Server { inner }
    }

    fn listeners(&self) -> &Listeners<Server> {
        &self.inner.listeners
    }

    fn lp(&self) -> &EventLoop {
        &self.inner.lp
    }

    fn on_listener_added(&self, _name: &str) {}

    /// The bound address and port (Node: `server.address()`), available right
    /// after `listen` for IP literals. `None` before listening, while a host
    /// name is looked up, after `close()`, and for Unix sockets (see
    /// [`path`](Server::path)).
    pub fn address(&self) -> Option<SocketAddr> {
        self.inner.st.borrow().address
    }

    /// The Unix socket path, once listening on one (Node: `server.address()`
    /// returns it as a string). See [`listen_path`](Server::listen_path).
    pub fn path(&self) -> Option<PathBuf> {
        self.inner.st.borrow().path.clone()
    }

    /// Stop accepting (Node: `server.close()`). The listening fd is closed at
    /// once (a Unix socket file is removed); open connections carry on, and
    /// `close` is emitted on a later tick once the last of them has closed.
    /// Several calls in one tick give one `close` event. See
    /// [`close_with`](Server::close_with) to be told about a server that was not
    /// running.
    pub fn close(&self) -> &Server {
        self.inner.close_listener();
        self.inner.emit_close_if_drained();
        self
    }

    /// [`close`](Server::close), calling `f` with the `close` event (Node:
    /// `server.close(callback)`).
    ///
    /// # Errors
    ///
    /// Passed to `f`: `ERR_SERVER_NOT_RUNNING` ("Server is not running.") if
    /// the server was not listening.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use netloop::net::{self, Server};
    ///
    /// let log = Rc::new(RefCell::new(Vec::new()));
    /// let (first, second) = (Rc::clone(&log), Rc::clone(&log));
    /// netloop::run(move || {
    ///     Server::new().close_with(move |_, err| {
    ///         first.borrow_mut().push(format!("idle: {:?}", err.map(|e| e.to_string())));
    ///     });
    ///     let server = net::create_server(|_, _| {});
    ///     server.listen(0, "127.0.0.1")?;
    ///     server.close_with(move |s, err| {
    ///         second.borrow_mut().push(format!("listening: {err:?}, now {}", s.listening()));
    ///     });
    ///     Ok(())
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(
    ///     *log.borrow(),
    ///     ["idle: Some(\"Server is not running.\")", "listening: None, now false"]
    /// );
    /// ```
    pub fn close_with(&self, f: impl FnOnce(&Server, Option<&Error>) + 'static) -> &Server {
        let running = {
            let st = self.inner.st.borrow();
            self.inner.listener.is_attached() || st.cluster_listen.is_some() || st.binding.is_some()
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

    /// Destroy every connection this server accepted that is still open,
    /// and return how many there were (Node 18.2+:
    /// `server.closeAllConnections()`, which only HTTP servers have; for
    /// a `net` server this is a netloop extension).
    ///
    /// Each socket is [`destroy`](Socket::destroy)ed: its descriptor is
    /// closed at once (the peer gets a FIN, or an RST when unread bytes
    /// remain), queued writes are dropped, and `close` follows as usual.
    /// With [`close`](Server::close) first, this is the end of a graceful
    /// shutdown whose deadline has passed: stop accepting, give the open
    /// connections time, then close whatever is left.
    ///
    /// The server keeps no list of its connections (memory per idle
    /// connection is a number netloop measures): this walks the loop's
    /// registered handles, which costs one pass over the loop's handles
    /// per call.
    ///
    /// # Examples
    ///
    /// ```
    /// use netloop::net::{self, Server, Socket};
    ///
    /// let closed = netloop::run_returning(|| {
    ///     let closed = netloop::Slot::new(0);
    ///     let server = net::create_server(|server, _sock: &Socket| {
    ///         // The client stays connected and idle: stop accepting, then
    ///         // close what is left.
    ///         server.close();
    ///         assert_eq!(server.close_all_connections(), 1);
    ///     });
    ///     server.listen(0, "127.0.0.1")?;
    ///     let port = server.address().expect("bound at once").port();
    ///     let client = net::connect(port, "127.0.0.1")?;
    ///     client.on(Socket::DATA, |_, _| {});
    ///     let count = closed.clone();
    ///     client.on(Socket::CLOSE, move |_, _| count.update(|n| *n += 1));
    ///     Ok(closed)
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(closed, 1);
    /// ```
    pub fn close_all_connections(&self) -> usize {
        let me = Rc::as_ptr(&self.inner) as *const ();
        let mut closed = 0;
        for handler in self.inner.lp.registered() {
            if handler.close_if_accepted_by(me) {
                closed += 1;
            }
        }
        closed
    }

    /// How many accepted connections are open (Node:
    /// `server.getConnections(cb)`, answered at once here).
    pub fn connections(&self) -> usize {
        self.inner.st.borrow().connections
    }

    /// Refuse connections beyond `max` (Node: `server.maxConnections`). `None`
    /// is unlimited (the default); `Some(0)` refuses every connection (in Node
    /// 20, 0 means unlimited). A refused connection is accepted and closed at
    /// once, and reported with [`Server::DROP`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::net::IpAddr;
    /// use std::rc::Rc;
    /// use netloop::net::{self, Server, Socket};
    ///
    /// let drops = Rc::new(Cell::new(0));
    /// let dropped = Rc::clone(&drops);
    /// netloop::run(move || {
    ///     let server = Server::new();
    ///     server.set_max_connections(Some(1));
    ///     assert_eq!(server.max_connections(), Some(1));
    ///     server.listen(0, "127.0.0.1")?;
    ///     let port = server.address().expect("bound at once").port();
    ///
    ///     let first = net::connect(port, "127.0.0.1")?;
    ///     server.on(Server::CONNECTION, move |s, _sock: &Socket| {
    ///         assert_eq!(s.connections(), 1);
    ///         // A second client, once the first one is in: over the limit.
    ///         net::connect(port, "127.0.0.1").expect("a valid port");
    ///     });
    ///     server.on(Server::DROP, move |s, info| {
    ///         let loopback: IpAddr = "127.0.0.1".parse().expect("an IP literal");
    ///         assert_eq!(info.remote_address, Some(loopback));
    ///         assert_eq!(info.local_port, Some(port));
    ///         assert_eq!(s.connections(), 1); // the first one is still open
    ///         dropped.set(dropped.get() + 1);
    ///         first.destroy();
    ///         s.close();
    ///     });
    ///     Ok(())
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(drops.get(), 1);
    /// ```
    pub fn set_max_connections(&self, max: Option<usize>) -> &Server {
        self.inner.st.borrow_mut().max_connections = max;
        self
    }

    /// The connection limit (Node: `server.maxConnections`); see
    /// [`set_max_connections`](Server::set_max_connections).
    pub fn max_connections(&self) -> Option<usize> {
        self.inner.st.borrow().max_connections
    }

    /// True while bound and accepting (Node: `server.listening`): at once after
    /// `listen` on an IP literal or a path, false after `close()` or a failed
    /// listen.
    pub fn listening(&self) -> bool {
        self.inner.is_listening()
    }

    /// Let the loop end while this server listens (Node: `server.unref()`): a
    /// background listener that should not keep the program running by itself.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use netloop::net::{self, Server};
    ///
    /// let listened = Rc::new(Cell::new(0));
    /// let count = Rc::clone(&listened);
    /// netloop::run(move || {
    ///     let server = net::create_server(|_, _| {});
    ///     server.listen(0, "127.0.0.1")?;
    ///     server.unref();
    ///     assert!(!server.has_ref() && server.listening());
    ///     server.on(Server::LISTENING, move |_, _| count.set(count.get() + 1));
    ///     Ok(())
    /// })
    /// .expect("run returns although the server still listens");
    /// assert_eq!(listened.get(), 1); // queued events still ran
    /// ```
    pub fn unref(&self) -> &Server {
        self.set_ref(false)
    }

    /// Count this server, or not, in the loop's alive total (Node:
    /// `server.ref()` is `set_ref(true)`, `server.unref()` is `set_ref(false)`).
    pub fn set_ref(&self, reffed: bool) -> &Server {
        self.inner.handle_ref.set_ref(reffed);
        self
    }

    /// True unless unref'd (Node: `server.hasRef()` is not documented, but its
    /// timers have one).
    pub fn has_ref(&self) -> bool {
        self.inner.handle_ref.has_ref()
    }
}

impl Default for Server {
    fn default() -> Self {
        Server::new()
    }
}

/// A server held weakly, by the cluster worker that made it (to close it
/// on shutdown without keeping it alive).
#[derive(Clone)]
pub(crate) struct WeakServer(Weak<ServerInner>);

impl Server {
    /// Listening, or about to (a host name being looked up).
    pub(crate) fn running(&self) -> bool {
        self.inner.is_listening() || self.inner.st.borrow().binding.is_some()
    }

    pub(crate) fn downgrade(&self) -> WeakServer {
        WeakServer(Rc::downgrade(&self.inner))
    }
}

impl WeakServer {
    pub(crate) fn upgrade(&self) -> Option<Server> {
        self.0.upgrade().map(|inner| Server { inner })
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.0.strong_count() == 0
    }
}

impl_emitter!(Server);

impl ServerInner {
    pub(super) fn server(&self) -> Option<Server> {
        self.me.upgrade().map(|inner| Server { inner })
    }

    /// Bound and accepting: through a descriptor of its own, or through
    /// the cluster's round-robin acceptor.
    fn is_listening(&self) -> bool {
        self.listener.is_attached() || self.st.borrow().cluster_listen.is_some()
    }

    fn close_listener(&self) {
        let (path, ticket) = {
            let mut st = self.st.borrow_mut();
            st.binding = None;
            st.bind_seq += 1;
            (
                st.path.clone().filter(|_| !st.adopted),
                st.cluster_listen.take(),
            )
        };
        if let Some(ticket) = ticket {
            let round_robin = ticket.is_round_robin();
            // The acceptor stops handing this server connections; a socket
            // the workers share closes once no worker's server is left on
            // it.
            if let Some(ctx) = &self.cluster {
                ctx.unlisten(ticket);
            }
            if round_robin {
                self.st.borrow_mut().address = None;
                self.handle_ref.set_active(false);
                tracing::debug!(target: "netloop::net", "server closed (cluster)");
            }
        }
        if self.listener.close(&self.lp) {
            // Node's `address()` is null once closed (a Unix server keeps
            // its path, as Node keeps `_pipeName`).
            self.st.borrow_mut().address = None;
            if let Some(path) = path {
                pipe::unlink(&path);
            }
            self.handle_ref.set_active(false);
            tracing::debug!(target: "netloop::net", "server closed");
        }
    }

    pub(crate) fn emit_close_if_drained(&self) {
        {
            let mut st = self.st.borrow_mut();
            if self.listener.is_attached()
                || st.cluster_listen.is_some()
                || st.binding.is_some()
                || st.connections > 0
            {
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
}

impl IoHandler for ServerInner {
    fn on_ready(self: Rc<Self>, _ready: Ready) {
        self.listener.on_ready(&self.lp, &Acceptor(&self));
    }

    fn teardown(&self) {
        self.close_listener();
        self.listeners.remove_all(None);
    }
}
