//! `Socket`: Node's `net.Socket`, a duplex stream over a TCP or Unix
//! connection.
//!
//! The socket keeps Node's rules only; the descriptor, its reads, writes,
//! connect and shutdown belong to the stream handle below it
//! (`crate::stream`), which reports completions through [`StreamOwner`].
//! The files split the socket by concern, each with the public methods it
//! documents: `connect.rs` (lookup, happy eyeballs, connect completion),
//! `read.rs` (flowing, paused, buffering, `end`), `header.rs` (the PROXY
//! protocol header an accepted socket reads first), `write.rs` (writes,
//! backpressure, `end()`, `finish`), `destroy.rs`, `props.rs` (options and
//! getters), `state.rs` (the state machines), `interop.rs` (std streams and
//! descriptors), `tls.rs` (the seam where a TLS layer sits between the
//! socket and its stream: see that file for the contract).

mod connect;
mod destroy;
mod header;
mod interop;
mod props;
mod read;
mod state;
mod tls;
mod write;

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use crate::error::Error;
use crate::event_loop::{self, EventLoop, HandleRef, IoHandler, Ready};
use crate::events::{builtin, impl_emitter, BuiltinEvent, Event, Listeners};
use crate::net::options::{
    ConnectionAttempt, LookupInfo, ServerOptions, SocketOptions, DEFAULT_HIGH_WATER_MARK,
};
use crate::proxy::ProxyProtocol;
use crate::stream::{
    failed_before_header, Accepted, Connected, HeaderEnd, StreamHandle, StreamOwner, WriteCb,
};
use state::{Conn, Flow, State};

pub use interop::StdStream;
pub(crate) use tls::{session_of, SECURE, TLS_HANDSHAKE_ERROR};

/// A TCP or Unix-socket connection (Node: `net.Socket`).
///
/// A `Socket` is a duplex byte stream and an event emitter. You get one
/// from [`net::connect`](crate::net::connect) (or [`Socket::new`] and then
/// [`connect`](Socket::connect)), or already open from a server's
/// [`Server::CONNECTION`](crate::net::Server::CONNECTION) event. Listeners
/// added with [`on`](Socket::on) receive the socket first (JavaScript's
/// `this`), so they never need to capture it. The handle is a cheap clone
/// of a shared object, like a JavaScript reference: clones compare equal,
/// and the socket lives while the loop or any clone holds it. It is `!Send`:
/// it belongs to the loop of the thread that created it.
///
/// ```
/// use netloop::net::{self, Socket};
///
/// netloop::run(|| {
///     let server = net::create_server(|_, sock: &Socket| {
///         sock.pipe(sock); // echo
///     });
///     server.listen(0, "127.0.0.1")?;
///     let port = server.address().expect("bound at once").port();
///
///     let client = Socket::new();
///     client.connect(port, "127.0.0.1")?;
///     client.write("I am Chuck Norris!"); // queued until connected
///     client.on(Socket::DATA, |c, data| {
///         assert_eq!(data, b"I am Chuck Norris!");
///         c.destroy();
///     });
///     client.on(Socket::CLOSE, move |_, had_error| {
///         assert!(!had_error);
///         server.close();
///     });
///     Ok(())
/// })
/// .expect("the loop ran");
/// ```
///
/// # Lifecycle
///
/// | [`ready_state()`](Socket::ready_state) | [`connecting()`](Socket::connecting) | [`pending()`](Socket::pending) | [`destroyed()`](Socket::destroyed) | Meaning |
/// | --- | --- | --- | --- | --- |
/// | `Closed` | false | true | false | new: never connected |
/// | `Opening` | true | true | false | looking the host up, then the TCP handshake |
/// | `Open` | false | false | false | connected, both directions |
/// | `ReadOnly` | false | false | false | we called [`end`](Socket::end); the peer may still send |
/// | `WriteOnly` | false | false | false | the peer ended; we may still send (half-open) |
/// | `Closed` | false | true | true | destroyed: the fd is closed |
///
/// A socket is destroyed by [`destroy`](Socket::destroy) or
/// [`destroy_with`](Socket::destroy_with), by an error, or on its own once
/// both directions have ended. A destroyed socket may
/// [`connect`](Socket::connect) again; its listeners stay (Node's
/// `_undestroy`).
///
/// # Events, in order
///
/// | Event | Payload | When | Node |
/// | --- | --- | --- | --- |
/// | [`LOOKUP`](Socket::LOOKUP) | [`LookupInfo`](crate::net::LookupInfo) | a host name was resolved (never for an IP literal) | `'lookup'` |
/// | [`CONNECT`](Socket::CONNECT) | `()` | the handshake completed | `'connect'` |
/// | [`READY`](Socket::READY) | `()` | right after `connect` | `'ready'` |
/// | [`DATA`](Socket::DATA) | `[u8]` | a chunk was read, in order | `'data'` |
/// | [`DRAIN`](Socket::DRAIN) | `()` | the write queue emptied after `write()` returned false | `'drain'` |
/// | [`TIMEOUT`](Socket::TIMEOUT) | `()` | the idle timeout passed (a notification only) | `'timeout'` |
/// | [`END`](Socket::END) | `()` | the peer's FIN, on the tick after the last byte before it was delivered | `'end'` |
/// | [`FINISH`](Socket::FINISH) | `()` | our FIN was sent, after every write callback | `'finish'` |
/// | [`ERROR`](Socket::ERROR) | [`Error`] | a failure; at most once, right before `close` | `'error'` |
/// | [`CLOSE`](Socket::CLOSE) | `bool` (`had_error`) | the fd is closed: always last, exactly once | `'close'` |
///
/// `connect`, `ready` come once per connection; `data`, `drain` and
/// `timeout` any number of times in between; `end` and `finish` at most
/// once each, in whichever order the two FINs happen. Happy eyeballs adds
/// [`CONNECTION_ATTEMPT`](Socket::CONNECTION_ATTEMPT),
/// [`CONNECTION_ATTEMPT_FAILED`](Socket::CONNECTION_ATTEMPT_FAILED) and
/// [`CONNECTION_ATTEMPT_TIMEOUT`](Socket::CONNECTION_ATTEMPT_TIMEOUT)
/// between `lookup` and `connect`. A client that writes, ends, and reads
/// the echo sees:
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
///         sock.pipe(sock); // echo, and end when the client ends
///         server.close(); // no more connections; `close` once this one ends
///     });
///     server.listen(0, "127.0.0.1")?;
///     let port = server.address().expect("bound at once").port();
///
///     let client = net::connect(port, "127.0.0.1")?;
///     client.write("ping"); // queued until connected
///     client.end(); // our FIN follows the queued bytes
///     for (name, event) in [
///         ("connect", Socket::CONNECT),
///         ("ready", Socket::READY),
///         ("finish", Socket::FINISH),
///         ("end", Socket::END),
///     ] {
///         let log = Rc::clone(&events);
///         client.on(event, move |_, _| log.borrow_mut().push(name.to_string()));
///     }
///     let log = Rc::clone(&events);
///     client.on(Socket::DATA, move |_, data| {
///         log.borrow_mut().push(format!("data {}", String::from_utf8_lossy(data)));
///     });
///     let log = Rc::clone(&events);
///     client.on(Socket::CLOSE, move |_, had_error| {
///         log.borrow_mut().push(format!("close {had_error}"));
///     });
///     Ok(())
/// })
/// .expect("the loop ran");
/// assert_eq!(
///     *log.borrow(),
///     ["connect", "ready", "finish", "data ping", "end", "close false"]
/// );
/// ```
///
/// Listeners added right after `connect()` see every event: the connect
/// (and any error it finds) starts on a later tick, never inside the call.
///
/// # Reading, pausing and buffering
///
/// Reading starts when a `data` listener is attached, or on
/// [`resume`](Socket::resume). A read takes up to 64 KiB; chunk boundaries
/// are wherever the kernel put them, not where the peer's writes were (TCP
/// is a byte stream). [`set_encoding`](Socket::set_encoding) can make
/// chunks end on UTF-8 character boundaries.
///
/// Bytes are never dropped for want of a listener. Those that arrive
/// before any `data` listener or `resume()`, while the socket is
/// [paused](Socket::pause), or after its last `data` listener was removed,
/// wait in the socket up to the high-water mark (16 KiB by default); then
/// reading stops and the kernel's buffers fill, which slows the peer down:
/// real TCP backpressure. They are delivered in order, on the next tick,
/// once a listener is attached; `end` waits until they have been. Only an
/// explicit [`resume`](Socket::resume) with no listener discards them, as
/// in Node (the drain idiom). [`bytes_read`](Socket::bytes_read) counts
/// what came off the wire.
///
/// # Writing and backpressure
///
/// [`write`](Socket::write) hands bytes to the kernel at once when nothing
/// is queued, and queues only what the kernel does not take; the queue
/// drains with `writev` when the socket turns writable. `write()` returns
/// `false` once the queue ([`writable_length`](Socket::writable_length))
/// reaches the high-water mark
/// ([`writable_high_water_mark`](Socket::writable_high_water_mark), 16 KiB
/// by default); [`Socket::DRAIN`] follows when it is empty again. The bytes
/// are still queued, not lost: `false` means "stop producing", as in Node.
/// Writes made while connecting are queued in order and leave in one
/// `writev` once connected. [`write_with`](Socket::write_with) adds a
/// callback that runs on a later loop phase, never inside `write()`;
/// [`cork`](Socket::cork) holds small writes to send them together.
///
/// # Half-open sockets
///
/// TCP closes each direction separately. [`end`](Socket::end) sends our FIN
/// once the queue is empty, then `finish`; the socket is `ReadOnly` and
/// still reads. The peer's FIN gives `end` and makes the socket
/// `WriteOnly`. What happens next depends on `allow_half_open`
/// ([`SocketOptions`](crate::net::SocketOptions),
/// [`ServerOptions`](crate::net::ServerOptions),
/// [`ConnectOptions`](crate::net::ConnectOptions)):
///
/// - off (the default): the socket ends its own side on the tick after
///   `end`, once its queued writes are flushed; inside the `end` listener
///   it is still writable, so a last reply gets out;
/// - on: it stays `WriteOnly` until you call `end()` yourself (see the
///   example on [`end`](Socket::end)).
///
/// Once both directions have ended the socket destroys itself: `close(false)`.
///
/// # Errors
///
/// Following Node, invalid arguments fail at once, with `Err` from the
/// call (`ERR_SOCKET_BAD_PORT` for port 0, `ERR_SOCKET_CONNECTING`,
/// `ERR_INVALID_IP_ADDRESS`, `ERR_INVALID_ARG_VALUE`). Operational failures
/// arrive as an [`Socket::ERROR`] event on a later tick, followed by
/// `close(true)`:
///
/// | Code | Message, as Node prints it | Cause |
/// | --- | --- | --- |
/// | `ECONNREFUSED` | `connect ECONNREFUSED 127.0.0.1:8080` | nothing listens there |
/// | `ENOTFOUND` | `getaddrinfo ENOTFOUND nope.invalid` | the host name does not resolve |
/// | `ECONNRESET` | `read ECONNRESET` | the peer reset the connection ([`reset_and_destroy`](Socket::reset_and_destroy)) |
/// | `EPIPE` | `This socket has been ended by the other party` | a write after the peer's FIN, not half-open |
/// | `ERR_STREAM_WRITE_AFTER_END` | `write after end` | a write after our own `end()` |
/// | `ERR_SOCKET_CLOSED` | `Socket is closed` | a write to a socket that never connected |
/// | `ENOENT` | `connect ENOENT /tmp/x.sock` | no Unix socket at that path |
///
/// A socket emits at most one `error`. The callbacks of writes that never
/// reached the kernel are called with an error too, after the `error`
/// event: `ERR_SOCKET_CLOSED_BEFORE_CONNECTION` while connecting, otherwise
/// the error the socket died of, or `ERR_STREAM_DESTROYED` after a plain
/// `destroy()`. An `error` with no listener ends [`run`](crate::run) with
/// that error, as an uncaught exception ends a Node process: listen for
/// `error` on every socket whose failure you expect. See
/// [`Error`](crate::Error) for the fields (`code`, `syscall`, `address`,
/// `port`).
///
/// # Timeouts
///
/// [`set_timeout`](Socket::set_timeout) arms an idle timer that every read
/// and write re-arms. When it fires the socket emits `timeout` and nothing
/// else: closing is your decision. The timer never keeps the loop alive,
/// and it works on a socket that is still connecting, which makes it a
/// connect timeout too ([`ConnectOptions::timeout`](crate::net::ConnectOptions::timeout)).
///
/// # Keeping the loop alive: ref and unref
///
/// As a libuv stream handle, a ref'd socket keeps [`run`](crate::run)
/// going while it is connecting, reading, or holding queued writes. One
/// that read the peer's FIN and has nothing left to write, or that was
/// paused before it ever read, does not (Node exits there too).
/// [`unref`](Socket::unref) takes the socket out of the count without
/// closing it; a connect in progress still finishes first.
///
/// # Differences from Node, and why
///
/// - Bytes that arrive after the last `data` listener was removed are kept
///   until a listener comes; Node discards them. Losing data silently is the
///   bug this prevents; netloop has no paused mode (`read()`, `'readable'`)
///   because nothing needs it.
/// - [`pause`](Socket::pause) stops reading at once and leaves the bytes
///   in the kernel; Node reads on into its buffer up to the high-water
///   mark. The peer feels the backpressure sooner, and memory stays bounded.
/// - `write()` returns `false` only when bytes are actually queued; Node
///   also counts bytes the kernel already took until their callback runs.
///   netloop knows exactly what is queued, so it says so.
/// - [`uncork`](Socket::uncork) sends on the next tick rather than inside
///   the call, so `drain` is never emitted from inside the caller's code.
/// - A socket that never connected reports
///   [`ReadyState::Closed`](crate::net::ReadyState::Closed), not Node's
///   `'open'`: it has no connection to be open.
/// - [`remote_address`](Socket::remote_address) and friends stay readable
///   after `close`; Node keeps them only if they were read before.
/// - Port 0 in `connect` is `Err(ERR_SOCKET_BAD_PORT)` at once: nothing can
///   listen there, and Node 20 only fails later with `ECONNREFUSED`.
/// - Event callbacks of Node's methods (`connect(port, host, cb)`,
///   `setTimeout(ms, cb)`) are `once` listeners here:
///   `.once(Socket::CONNECT, ..)`, `.once(Socket::TIMEOUT, ..)`. Node's
///   `end(cb)` keeps its own list, run before the `finish` listeners:
///   [`end_then`](Socket::end_then).
/// - A second `connect()` while connecting is
///   `Err(ERR_SOCKET_CONNECTING)` and the first connect goes on; Node 20
///   abandons the first and emits `EALREADY`.
///
/// `docs/node-parity.md` lists every method and property with the test
/// that compares it with Node.
#[derive(Clone)]
pub struct Socket {
    inner: Rc<SocketInner>,
}

/// What a socket tells the server that accepted it (Node's
/// `socket.server` and `server._connections`).
pub(crate) trait ConnectionOwner {
    /// The accepted socket is set up: it counts as a connection.
    fn connection_opened(&self);
    /// The socket closed, having read and written these many bytes: it
    /// no longer counts.
    fn connection_closed(&self, bytes_read: u64, bytes_written: u64);
    /// The socket's PROXY protocol header was read (or, optional, found
    /// absent): the server may emit `connection` now.
    fn header_done(&self, socket: &Socket);
    /// Reading the header failed and the socket was destroyed: `err` says
    /// why, `peer` is the TCP peer.
    fn header_failed(&self, err: Error, peer: Option<std::net::SocketAddr>);
}

pub(crate) struct SocketInner {
    lp: Rc<EventLoop>,
    listeners: Listeners<Socket>,
    /// Counts the socket in the loop's alive total while it is active and
    /// ref'd, and while its connect request runs even when unref'd (libuv
    /// counts active requests regardless of `uv_unref`).
    handle_ref: HandleRef,
    stream: StreamHandle,
    st: RefCell<State>,
    me: Weak<SocketInner>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.inner.st.borrow();
        f.debug_struct("Socket")
            .field("conn", &st.conn)
            .field("read", &st.read)
            .field("write", &st.write)
            .field("remote", &st.remote)
            .finish()
    }
}

impl Socket {
    /// The connection is established (Node: `'connect'`); once per connect.
    pub const CONNECT: Event<()> = Event::new("connect");
    /// Emitted right after `connect`, even if a `connect` listener destroyed
    /// the socket (Node: `'ready'`).
    pub const READY: Event<()> = Event::new("ready");
    /// A chunk of received bytes (Node: `'data'`). Attaching the first listener
    /// starts reading, unless the socket was paused; bytes that came earlier
    /// are delivered first.
    pub const DATA: Event<[u8]> = Event::new("data");
    /// The peer ended its side: its FIN arrived and every byte before it was
    /// delivered (Node: `'end'`). At most once.
    pub const END: Event<()> = Event::new("end");
    /// Our side ended: our FIN was sent after every queued write, and every
    /// write callback has run (Node: `'finish'`). At most once.
    pub const FINISH: Event<()> = Event::new("finish");
    /// The write queue emptied after `write()` returned `false` (Node:
    /// `'drain'`); once per run of `false` writes.
    pub const DRAIN: Event<()> = Event::new("drain");
    /// The idle timeout set by [`set_timeout`](Socket::set_timeout) passed
    /// (Node: `'timeout'`); the socket stays open.
    pub const TIMEOUT: Event<()> = Event::new("timeout");
    /// The socket is closed; the payload is `had_error` (Node: `'close'`).
    /// Always the last event, exactly once per connection.
    pub const CLOSE: Event<bool> = Event::new("close");
    /// A failure (Node: `'error'`); at most once, and `close(true)` follows.
    /// With no listener, the error ends [`run`](crate::run).
    pub const ERROR: Event<Error> = Event::new("error");
    /// A host name was looked up (Node: `'lookup'`): once per address used
    /// (every address when happy eyeballs may run), or once with the lookup
    /// error. Never for an IP literal.
    pub const LOOKUP: Event<LookupInfo> = Event::new("lookup");
    /// A connection attempt to one address started (Node:
    /// `'connectionAttempt'`).
    pub const CONNECTION_ATTEMPT: Event<ConnectionAttempt> = Event::new("connectionAttempt");
    /// A connection attempt failed; the payload carries the error (Node:
    /// `'connectionAttemptFailed'`). Emitted for single-address connects too,
    /// as in Node 20.20.
    pub const CONNECTION_ATTEMPT_FAILED: Event<ConnectionAttempt> =
        Event::new("connectionAttemptFailed");
    /// A happy-eyeballs attempt took longer than
    /// `auto_select_family_attempt_timeout`; the next address is tried (Node:
    /// `'connectionAttemptTimeout'`).
    pub const CONNECTION_ATTEMPT_TIMEOUT: Event<ConnectionAttempt> =
        Event::new("connectionAttemptTimeout");
    /// Every event above: a listener for one of these names must take its
    /// payload type (`on` panics with `ERR_INVALID_ARG_TYPE` otherwise).
    pub(crate) const BUILTIN_EVENTS: &'static [BuiltinEvent] = &[
        builtin(Socket::CONNECT),
        builtin(Socket::READY),
        builtin(Socket::DATA),
        builtin(Socket::END),
        builtin(Socket::FINISH),
        builtin(Socket::DRAIN),
        builtin(Socket::TIMEOUT),
        builtin(Socket::CLOSE),
        builtin(Socket::ERROR),
        builtin(Socket::LOOKUP),
        builtin(Socket::CONNECTION_ATTEMPT),
        builtin(Socket::CONNECTION_ATTEMPT_FAILED),
        builtin(Socket::CONNECTION_ATTEMPT_TIMEOUT),
    ];

    /// An unconnected socket (Node: `new net.Socket()`).
    ///
    /// # Panics
    ///
    /// Outside `netloop::run`.
    pub fn new() -> Socket {
        Socket::with_options(SocketOptions::default())
    }

    /// An unconnected socket with options (Node: `new net.Socket(options)`).
    ///
    /// # Panics
    ///
    /// Outside `netloop::run`.
    pub fn with_options(opts: SocketOptions) -> Socket {
        let lp = event_loop::current();
        let hwm = opts.high_water_mark.unwrap_or(DEFAULT_HIGH_WATER_MARK);
        let socket = Socket::from_state(lp, State::new(opts.allow_half_open, hwm));
        // Not registered until it connects: teardown must still reach it.
        socket.inner.track();
        socket
    }

    fn from_state(lp: Rc<EventLoop>, st: State) -> Socket {
        let inner = Rc::new_cyclic(|me| SocketInner {
            handle_ref: HandleRef::new(Rc::clone(&lp)),
            lp,
            listeners: Listeners::default(),
            stream: StreamHandle::default(),
            st: RefCell::new(st),
            me: me.clone(),
        });
        Socket { inner }
    }

    /// Wrap an accepted connection (Node's `onconnection` making
    /// `new Socket({ handle, allowHalfOpen, pauseOnCreate })`); the socket
    /// counts as one of `server`'s connections from here on.
    pub(crate) fn from_accepted(
        conn: Accepted,
        opts: &ServerOptions,
        server: Rc<dyn ConnectionOwner>,
    ) -> Result<Socket, Error> {
        let lp = event_loop::current();
        let hwm = opts.high_water_mark.unwrap_or(DEFAULT_HIGH_WATER_MARK);
        let mut st = State::new(opts.allow_half_open, hwm);
        st.conn = Conn::Open;
        // The local address is read lazily (`getsockname`) on first use.
        st.remote = conn.peer();
        if opts.pause_on_connect {
            st.flow = Flow::Paused;
        } else {
            st.reading = true;
        }
        let sys_err = |e: &std::io::Error| Error::from_syscall(e, "accept");
        if opts.no_delay {
            conn.set_nodelay(true).map_err(|e| sys_err(&e))?;
        }
        if opts.keep_alive {
            conn.set_keepalive(true, opts.keep_alive_initial_delay)
                .map_err(|e| sys_err(&e))?;
        }
        let socket = Socket::open_with(lp, st, conn)?;
        server.connection_opened();
        socket.inner.st.borrow_mut().server = Some(server);
        if opts.proxy_protocol != ProxyProtocol::Off {
            socket.inner.start_header(opts);
        }
        Ok(socket)
    }

    /// A socket whose connection is already up (accepted, or adopted from
    /// std): `st` says how it starts, `conn` is attached to its stream
    /// handle, and reading starts as `st` allows.
    fn open_with(lp: Rc<EventLoop>, st: State, conn: Accepted) -> Result<Socket, Error> {
        let socket = Socket::from_state(lp, st);
        let inner = &socket.inner;
        inner
            .stream
            .attach(&inner.lp, conn, Rc::clone(inner) as Rc<dyn IoHandler>)?;
        inner.sync_read();
        inner.update_active();
        Ok(socket)
    }

    fn listeners(&self) -> &Listeners<Socket> {
        &self.inner.listeners
    }

    fn lp(&self) -> &EventLoop {
        &self.inner.lp
    }

    /// Attaching a `data` listener starts the flow of data, unless the
    /// socket was paused explicitly (Node's `Readable.prototype.on`).
    fn on_listener_added(&self, name: &str) {
        if name == "data" && self.inner.st.borrow().flow != Flow::Paused {
            self.inner.start_flowing();
        }
    }

    fn downgrade(&self) -> Weak<SocketInner> {
        Rc::downgrade(&self.inner)
    }
}

impl Default for Socket {
    fn default() -> Self {
        Socket::new()
    }
}

impl PartialEq for Socket {
    fn eq(&self, other: &Socket) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Socket {}

/// Hashes the identity that `==` compares (clones of one socket are
/// equal), so sockets can be kept in a `HashSet`, as Node programs keep
/// their clients in a `Set`. The hash is the shared object's address,
/// which never changes while the socket lives: clippy's `mutable_key_type`
/// lint, which sees the socket's interior mutability, is a false positive
/// here (allow it, or list `netloop::net::Socket` under
/// `ignore-interior-mutability` in `clippy.toml`).
///
/// ```
/// use std::collections::HashSet;
/// use netloop::net::{self, Socket};
/// use netloop::Slot;
///
/// let (joined, left) = netloop::run_returning(|| {
///     let clients = Slot::new(HashSet::new());
///     let counts = Slot::new((0, 0));
///     let (set, seen) = (clients.clone(), counts.clone());
///     let server = net::create_server(move |server, sock: &Socket| {
///         // clients.add(sock): a new socket, and a clone is the same one.
///         assert!(set.update(|c| c.insert(sock.clone())));
///         assert!(set.update(|c| c.contains(&sock.clone())));
///         seen.update(|(joined, _)| *joined += 1);
///         if seen.get().0 == 2 {
///             server.close();
///         }
///         let (set, seen) = (set.clone(), seen.clone());
///         sock.on(Socket::CLOSE, move |s, _| {
///             assert!(set.update(|c| c.remove(s))); // clients.delete(sock)
///             seen.update(|(_, left)| *left = set.update(|c| c.len()));
///         });
///     });
///     server.listen(0, "127.0.0.1")?;
///     let port = server.address().expect("bound at once").port();
///     for _ in 0..2 {
///         net::connect(port, "127.0.0.1")?.on(Socket::CONNECT, |c, _| {
///             c.end();
///         });
///     }
///     Ok(counts)
/// })
/// .expect("the loop ran");
/// assert_eq!((joined, left), (2, 0));
/// ```
impl std::hash::Hash for Socket {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Rc::as_ptr(&self.inner).hash(state);
    }
}

impl_emitter!(Socket);

impl SocketInner {
    /// Let the loop's teardown reach this socket while it holds no
    /// registered descriptor (see `EventLoop::track`).
    fn track(&self) {
        if let Some(handler) = self.handler() {
            self.lp.track(Rc::downgrade(&handler));
        }
    }

    fn socket(&self) -> Option<Socket> {
        self.me.upgrade().map(|inner| Socket { inner })
    }

    fn handler(&self) -> Option<Rc<dyn IoHandler>> {
        self.me.upgrade().map(|inner| inner as Rc<dyn IoHandler>)
    }

    /// libuv's rule for a stream handle: it is active (and keeps the loop
    /// alive while ref'd) while connecting, reading, or holding queued
    /// writes. A socket that read EOF with nothing left to write, or that
    /// was paused before it ever read, lets the loop end, as in Node
    /// (`test-net-connect-paused-connection`).
    fn update_active(&self) {
        let active = {
            let st = self.st.borrow();
            match st.conn {
                Conn::Connecting => true,
                // Waiting for a PROXY header is a read in progress, even
                // for a socket that will start paused.
                Conn::Open => {
                    st.reading
                        || st.pending_bytes() > 0
                        || self.stream.queued_bytes() > 0
                        || st.header_pending()
                }
                Conn::Idle | Conn::Destroyed { .. } => false,
            }
        };
        self.handle_ref.set_active(active);
    }

    /// Make the stream read exactly while Node's rules allow it (see
    /// [`State::can_read`]).
    fn sync_read(&self) {
        if self.st.borrow().can_read() {
            self.stream.read_start();
        } else {
            self.stream.read_stop();
        }
    }

    fn refresh_timeout(&self) {
        if let Some(t) = self.st.borrow().timer() {
            t.refresh();
        }
    }

    /// Bytes written and not yet handed to the kernel: held in the socket
    /// (connecting, corked) or queued in the stream.
    fn queued_bytes(&self) -> usize {
        self.st.borrow().pending_bytes() + self.stream.queued_bytes()
    }
}

impl IoHandler for SocketInner {
    fn on_ready(self: Rc<Self>, ready: Ready) {
        self.stream.on_ready(&self.lp, ready, &*self);
    }

    fn teardown(&self) {
        let mut dropped = Vec::new();
        self.stream.close(&self.lp, false, &mut dropped);
        let (cold, server) = {
            let mut st = self.st.borrow_mut();
            (st.cold.take(), st.server.take())
        };
        let timers = cold.as_ref().map(|c| {
            let header = c.proxy.as_ref().and_then(|p| p.timer.clone());
            [c.timeout.clone(), header]
        });
        for t in timers.into_iter().flatten().flatten() {
            t.cancel();
        }
        // Dropped outside the borrow: a closure's drop may touch the socket.
        // Dropping the server breaks the socket -> server -> listener ->
        // socket cycle.
        drop((dropped, cold, server));
        self.handle_ref.set_active(false);
        self.handle_ref.req_clear();
        self.listeners.remove_all(None);
    }

    fn close_if_accepted_by(&self, server: *const ()) -> bool {
        let ours = {
            let st = self.st.borrow();
            st.server
                .as_ref()
                .is_some_and(|s| std::ptr::addr_eq(Rc::as_ptr(s), server))
        };
        if ours {
            self.destroy(None);
        }
        ours
    }
}

impl StreamOwner for SocketInner {
    fn after_connect(&self, res: Result<Connected, Error>) {
        self.after_connect_stream(res);
    }

    fn on_read(&self, chunk: &[u8]) {
        if self.st.borrow().tls().is_some() {
            self.tls_on_read(chunk);
        } else {
            self.on_read_chunk(chunk);
        }
    }

    fn on_eof(&self) {
        if self.st.borrow().tls().is_some() {
            self.tls_on_eof();
        } else {
            self.on_read_eof();
        }
    }

    fn after_write(&self, done: Vec<WriteCb>) {
        self.after_write_done(done);
    }

    fn after_shutdown(&self) {
        self.after_shutdown_done();
    }

    fn on_error(&self, err: Error) {
        if self.st.borrow().header_pending() {
            // Nobody listens yet: a failure before `connection` is the
            // server's `clientError`, never this socket's `error`.
            return self.after_header(Err(failed_before_header(&err)));
        }
        self.tls_on_error(err);
    }

    fn on_header(&self, res: Result<HeaderEnd<'_>, Error>) {
        self.after_header(res);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an idle connected socket costs in its own allocation (the
    /// `Rc<SocketInner>`); the cold part is not allocated for it.
    #[test]
    fn hot_socket_state_stays_small() {
        let inner = std::mem::size_of::<SocketInner>();
        let state = std::mem::size_of::<State>();
        eprintln!("SocketInner {inner} bytes, State {state} bytes");
        assert!(state <= 112, "State grew to {state} bytes");
        assert!(inner <= 248, "SocketInner grew to {inner} bytes");
        // The cold part is allocated for every TLS socket (it holds the
        // layer): it counts in each idle TLS connection's memory.
        let cold = std::mem::size_of::<state::Cold>();
        eprintln!("Cold {cold} bytes");
        assert!(cold <= 320, "Cold grew to {cold} bytes");
    }
}
