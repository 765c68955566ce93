//! `Socket`: Node's `net.Socket`, a duplex stream over a TCP or Unix
//! connection.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};
use std::time::Duration;

use crate::dns;
use crate::error::{bad_port_nonzero, Error, ErrorCode, Result};
use crate::event_loop::{self, EventLoop, HandleRef, IoHandler, Ready};
use crate::events::{builtin, impl_emitter, BuiltinEvent, Event, Listeners};
use crate::net::options::{
    ConnectOptions, ConnectionAttempt, Encoding, Family, LookupInfo, ReadyState, ServerOptions,
    SocketOptions, DEFAULT_AUTO_SELECT_FAMILY_ATTEMPT_TIMEOUT, DEFAULT_HIGH_WATER_MARK,
};
use crate::net::server::ServerInner;
use crate::net::{is_ip, BlockList};
use crate::stream::{Stream, StreamIo, WriteCb, WriteOutcome};
use crate::timers::{self, Timer};
use crate::{pipe, tcp};

thread_local! {
    pub(crate) static AUTO_SELECT_FAMILY: Cell<bool> = const { Cell::new(true) };
    pub(crate) static ATTEMPT_TIMEOUT: Cell<Duration> =
        const { Cell::new(DEFAULT_AUTO_SELECT_FAMILY_ATTEMPT_TIMEOUT) };
}

/// At most this many reads per readiness event before yielding to other
/// handles (libuv's `uv__read` loops 32 times; 64 KiB reads make 16 plenty).
const MAX_READS_PER_EVENT: usize = 16;

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
/// Bytes are never dropped. Those that arrive while there is no `data`
/// listener, or while the socket is [paused](Socket::pause), wait in the
/// socket up to the high-water mark (16 KiB by default); then reading
/// stops and the kernel's buffers fill, which slows the peer down: real
/// TCP backpressure. They are delivered in order, on the next tick, once a
/// listener is attached or [`resume`](Socket::resume) is called; `end`
/// waits until they have been. [`bytes_read`](Socket::bytes_read) counts
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
/// - Bytes that arrive with no `data` listener, or after `resume()` with
///   none, are kept until a listener comes; Node discards them. Losing data
///   silently is the bug this prevents; netloop has no paused mode
///   (`read()`, `'readable'`) because nothing needs it.
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
///   `end(cb)`, `setTimeout(ms, cb)`) are `once` listeners here:
///   `.once(Socket::CONNECT, ..)`, `.once(Socket::FINISH, ..)`,
///   `.once(Socket::TIMEOUT, ..)`.
///
/// `docs/node-parity.md` lists every method and property with the test
/// that compares it with Node.
#[derive(Clone)]
pub struct Socket {
    inner: Rc<SocketInner>,
}

pub(crate) struct SocketInner {
    lp: Rc<EventLoop>,
    listeners: Listeners<Socket>,
    handle_ref: HandleRef,
    /// The connect request (lookup and handshake): it keeps the loop alive
    /// while connecting even when the socket is unref'd, as libuv counts
    /// active requests regardless of `uv_unref` (Node's unref'd sockets
    /// still connect).
    connect_req: HandleRef,
    st: RefCell<State>,
    me: Weak<SocketInner>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Never connected.
    Idle,
    /// Looking up or connecting.
    Connecting,
    Open,
    Closed,
}

/// A write made before the connection was up.
struct PendingWrite {
    data: Vec<u8>,
    cb: Option<WriteCb>,
}

/// The state of a connect: the addresses left to try (happy eyeballs), the
/// errors so far, and the attempt timer.
struct ConnectPlan {
    host: String,
    port: u16,
    addrs: VecDeque<IpAddr>,
    errors: Vec<Error>,
    /// Happy eyeballs may run: auto-select on, no `family` and no
    /// `local_address` (Node's condition in `lookupAndConnect`). It runs
    /// when the lookup gives more than one address.
    auto: bool,
    attempt_timeout: Duration,
    attempt_timer: Option<Timer>,
    current: Option<SocketAddr>,
    local_address: Option<IpAddr>,
    local_port: u16,
    block_list: Option<BlockList>,
}

impl ConnectPlan {
    /// The local address to bind before connecting to `ip`: Node binds when
    /// `localAddress` or `localPort` is given, defaulting the address to
    /// `0.0.0.0` / `::` by the remote family.
    fn bind_addr(&self, ip: IpAddr) -> Option<SocketAddr> {
        match (self.local_address, self.local_port) {
            (Some(l), p) => Some(SocketAddr::new(l, p)),
            (None, 0) => None,
            (None, p) => Some(SocketAddr::new(unspecified_like(ip), p)),
        }
    }

    /// The ` - Local (addr:port)` detail of connect errors: only with a
    /// local port, as Node's `afterConnect` (`req.localAddress &&
    /// req.localPort`).
    fn local_detail(&self, ip: IpAddr) -> Option<(String, u16)> {
        if self.local_port == 0 {
            return None;
        }
        let addr = self.local_address.unwrap_or_else(|| unspecified_like(ip));
        Some((addr.to_string(), self.local_port))
    }
}

/// `0.0.0.0` or `::`, the family of `ip`.
fn unspecified_like(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}

struct State {
    phase: Phase,
    stream: Option<Stream>,
    /// Node's `autoSelectFamilyAttemptedAddresses`: set when happy eyeballs
    /// runs, kept after the connect.
    attempted: Option<Vec<SocketAddr>>,
    /// Identifies the current connect so a stale lookup answer is ignored.
    connect_seq: u64,
    /// Boxed: only a connecting socket has one, and inline it would make
    /// every accepted socket ~190 bytes larger.
    plan: Option<Box<ConnectPlan>>,
    unix_path: Option<PathBuf>,

    // Read side.
    /// `None` until a `data` listener or `resume()`; `Some(false)` paused.
    flowing: Option<bool>,
    /// Node's `handle.reading`: reading was started and not stopped by
    /// EOF or a full read buffer. A socket paused before it ever read
    /// never starts (Node's `afterConnect` skips `read(0)` when paused).
    reading: bool,
    /// Read but not yet delivered.
    read_buf: Vec<u8>,
    readable_hwm: usize,
    eof: bool,
    /// The poller reported the peer's FIN or an error: read to the end.
    peer_closed: bool,
    /// `end` is queued for the next tick.
    end_scheduled: bool,
    end_emitted: bool,
    flush_scheduled: bool,
    encoding: Option<Encoding>,
    /// A UTF-8 character cut by a read boundary.
    partial: Vec<u8>,

    // Write side.
    hwm: usize,
    pending: Vec<PendingWrite>,
    pending_bytes: usize,
    /// `cork()` depth: while above zero, writes wait in `pending`.
    corked: u32,
    need_drain: bool,
    ended: bool,
    shutdown_done: bool,
    /// Write callbacks queued for the pending phase and not yet run.
    write_cbs_pending: usize,
    /// Our FIN went out while write callbacks were still queued: `finish`
    /// follows the last of them.
    finish_waiting: bool,
    finished: bool,
    allow_half_open: bool,

    destroyed: bool,
    had_error: bool,
    reset_on_close: bool,
    destroy_after_finish: bool,

    bytes_read: u64,
    bytes_written: u64,
    remote: Option<SocketAddr>,
    local: Option<SocketAddr>,

    timeout: Option<Timer>,
    /// The idle timeout set by `set_timeout` (Node's `socket.timeout`).
    timeout_after: Option<Duration>,
    no_delay: Option<bool>,
    keep_alive: Option<(bool, Duration)>,
    /// The server that accepted this socket. Strong, as Node's
    /// `socket.server`: a closed server nobody else holds must live until
    /// its last connection ends, to emit its `close`. Taken on destroy.
    server: Option<Rc<ServerInner>>,
}

impl State {
    fn new(allow_half_open: bool, hwm: usize) -> State {
        State {
            phase: Phase::Idle,
            stream: None,
            attempted: None,
            connect_seq: 0,
            plan: None,
            unix_path: None,
            flowing: None,
            reading: false,
            read_buf: Vec::new(),
            readable_hwm: hwm,
            eof: false,
            peer_closed: false,
            end_scheduled: false,
            end_emitted: false,
            flush_scheduled: false,
            encoding: None,
            partial: Vec::new(),
            hwm,
            pending: Vec::new(),
            pending_bytes: 0,
            corked: 0,
            need_drain: false,
            ended: false,
            shutdown_done: false,
            write_cbs_pending: 0,
            finish_waiting: false,
            finished: false,
            allow_half_open,
            destroyed: false,
            had_error: false,
            reset_on_close: false,
            destroy_after_finish: false,
            bytes_read: 0,
            bytes_written: 0,
            remote: None,
            local: None,
            timeout: None,
            timeout_after: None,
            no_delay: None,
            keep_alive: None,
            server: None,
        }
    }

    fn queued_bytes(&self) -> usize {
        self.pending_bytes + self.stream.as_ref().map_or(0, |s| s.queued_bytes())
    }

    fn can_read(&self) -> bool {
        self.phase == Phase::Open
            && !self.destroyed
            && !self.eof
            && self.flowing != Some(false)
            // A high-water mark of 0 still reads one chunk at a time, as
            // Node's flowing mode hands chunks on without buffering them.
            && self.read_buf.len() < self.readable_hwm.max(1)
    }
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.inner.st.borrow();
        f.debug_struct("Socket")
            .field("phase", &st.phase)
            .field("remote", &st.remote)
            .field("local", &st.local)
            .field("destroyed", &st.destroyed)
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
        Socket::from_state(lp, State::new(opts.allow_half_open, hwm))
    }

    fn from_state(lp: Rc<EventLoop>, st: State) -> Socket {
        let inner = Rc::new_cyclic(|me| SocketInner {
            handle_ref: HandleRef::new(Rc::clone(&lp)),
            connect_req: HandleRef::new(Rc::clone(&lp)),
            lp,
            listeners: Listeners::default(),
            st: RefCell::new(st),
            me: me.clone(),
        });
        Socket { inner }
    }

    /// Wrap an accepted connection (Node's `onconnection` making
    /// `new Socket({ handle, allowHalfOpen, pauseOnCreate })`).
    pub(crate) fn from_accepted(
        io: StreamIo,
        peer: Option<SocketAddr>,
        opts: &ServerOptions,
        server: Rc<ServerInner>,
    ) -> io::Result<Socket> {
        let lp = event_loop::current();
        let hwm = opts.high_water_mark.unwrap_or(DEFAULT_HIGH_WATER_MARK);
        let mut st = State::new(opts.allow_half_open, hwm);
        st.phase = Phase::Open;
        // The local address is read lazily (`getsockname`) on first use.
        st.remote = peer;
        st.server = Some(server);
        if opts.pause_on_connect {
            st.flowing = Some(false);
        } else {
            st.reading = true;
        }
        if opts.no_delay {
            tcp::set_nodelay(&io, true)?;
        }
        if opts.keep_alive {
            tcp::set_keepalive(&io, true, opts.keep_alive_initial_delay)?;
        }
        let socket = Socket::from_state(lp, st);
        socket.inner.attach(io)?;
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
        if name == "data" && self.inner.st.borrow().flowing != Some(false) {
            self.resume();
        }
    }

    fn downgrade(&self) -> Weak<SocketInner> {
        Rc::downgrade(&self.inner)
    }

    // ----- connecting ---------------------------------------------------------

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
    /// options, happy-eyeballs settings, a [`BlockList`] or a custom
    /// [`Lookup`](crate::net::Lookup). See [`ConnectOptions`].
    ///
    /// # Errors
    ///
    /// At once: `ERR_SOCKET_BAD_PORT` (port 0 without a `path`),
    /// `ERR_INVALID_IP_ADDRESS` (a `local_address` that is not an IP literal),
    /// `ERR_INVALID_ARG_VALUE` (a `family` other than 0, 4 or 6),
    /// `ERR_SOCKET_CONNECTING`. As events, the errors of
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
    /// use netloop::net::{self, ConnectOptions, Socket};
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
    ///         family: 5,
    ///         ..ConnectOptions::default()
    ///     });
    ///     let err = bad.expect_err("family 5 does not exist");
    ///     assert_eq!(err.code().as_str(), "ERR_INVALID_ARG_VALUE");
    ///     assert_eq!(
    ///         err.to_string(),
    ///         "The property 'options.family' must be one of: 0, 4, 6. Received 5"
    ///     );
    ///
    ///     let client = net::connect_with(ConnectOptions {
    ///         port,
    ///         host: Some("127.0.0.1".into()),
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
        let inner = &self.inner;
        let seq = {
            let mut st = inner.st.borrow_mut();
            if st.destroyed || st.phase == Phase::Closed {
                // Node's `_undestroy`: a closed socket may connect again.
                let allow = st.allow_half_open;
                let hwm = st.hwm;
                let encoding = st.encoding;
                let flowing = st.flowing;
                *st = State::new(allow, hwm);
                st.encoding = encoding;
                st.flowing = flowing;
            }
            st.phase = Phase::Connecting;
            st.connect_seq += 1;
            if opts.no_delay {
                st.no_delay = Some(true);
            }
            if opts.keep_alive {
                st.keep_alive = Some((true, opts.keep_alive_initial_delay));
            }
            st.connect_seq
        };
        inner.handle_ref.set_active(true);
        inner.connect_req.set_active(true);
        if let Some(t) = opts.timeout {
            self.set_timeout(t);
        }
        if let Some(path) = opts.path {
            inner.st.borrow_mut().unix_path = Some(path.clone());
            // The pending connect keeps the socket alive, as Node's handle
            // does, even if the caller drops every reference.
            let inner = Rc::clone(inner);
            self.lp().next_tick(move || {
                if inner.st.borrow().connect_seq == seq {
                    inner.connect_unix(&path);
                }
            });
            return Ok(self);
        }
        let host = opts.host.unwrap_or_else(|| "localhost".to_owned());
        let auto = opts
            .auto_select_family
            .unwrap_or_else(super::default_auto_select_family)
            && opts.family == 0
            && local_address.is_none();
        let attempt_timeout = opts
            .auto_select_family_attempt_timeout
            .map(|d| d.max(Duration::from_millis(10)))
            .unwrap_or_else(super::default_auto_select_family_attempt_timeout);
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
            inner.st.borrow_mut().plan = Some(Box::new(plan));
            let inner = Rc::clone(inner);
            self.lp().next_tick(move || {
                if inner.st.borrow().connect_seq == seq {
                    inner.next_attempt();
                }
            });
            return Ok(self);
        }
        inner.st.borrow_mut().plan = Some(Box::new(plan));
        let family = opts.family;
        let me = Rc::clone(inner);
        let on_answer = move |res: Result<Vec<IpAddr>>| {
            if me.st.borrow().connect_seq != seq || me.st.borrow().destroyed {
                return;
            }
            me.after_lookup(res);
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
        if self.inner.st.borrow().phase == Phase::Connecting {
            return Err(Error::new(
                ErrorCode::ERR_SOCKET_CONNECTING,
                "Socket is already connecting",
            ));
        }
        if opts.path.is_some() {
            return Ok((None, 0));
        }
        if opts.port == 0 {
            return Err(bad_port_nonzero(0));
        }
        if !matches!(opts.family, 0 | 4 | 6) {
            return Err(crate::error::invalid_arg(
                "options.family",
                opts.family,
                "must be one of: 0, 4, 6",
            ));
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

    // ----- writing ------------------------------------------------------------

    /// Write bytes (Node: `socket.write(data)`); `&str` is written as UTF-8.
    ///
    /// The bytes go to the kernel at once if nothing is queued; what it does
    /// not take is queued, in order. Returns `false` once the queued bytes
    /// ([`writable_length`](Socket::writable_length)) reach the high-water mark:
    /// stop writing and wait for [`Socket::DRAIN`]. Nothing is lost either way.
    /// While connecting, writes are queued and leave in one `writev` once
    /// connected. [`bytes_written`](Socket::bytes_written) counts every byte
    /// accepted here.
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
        self.inner.write(data.as_ref(), None)
    }

    /// Write and call `f` once the bytes reached the kernel, or with the error
    /// if the socket failed first (Node: `socket.write(data, cb)`).
    ///
    /// `f` always runs on a later loop phase (write completions run in the
    /// pending phase), never inside this call, and always before `finish`. It
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
        // The request holds the socket, as a libuv write request holds its
        // handle: the callback runs even when the user dropped every other
        // reference (a write made just before `end()`). The cycle lasts
        // only while the request is queued; completion, destroy and loop
        // teardown all consume it.
        let socket = self.clone();
        let cb: WriteCb = Box::new(move |err| f(&socket, err));
        self.inner.write(data.as_ref(), Some(cb))
    }

    /// End our side (Node: `socket.end()`): our FIN goes out once the queued
    /// writes have, then `finish`. A connected socket is then
    /// [`ReadOnly`](crate::net::ReadyState::ReadOnly) and keeps reading until
    /// the peer ends too; with `allow_half_open` off (the default) a peer that
    /// ends first makes the socket call this itself. Node's `end(cb)` is
    /// `.once(Socket::FINISH, cb)`. Called before or during `connect`, the
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

    /// Write `data`, then [`end`](Socket::end) (Node: `socket.end(data)`).
    /// After `end()` the data is not written.
    pub fn end_with(&self, data: impl AsRef<[u8]>) -> &Socket {
        if !self.inner.st.borrow().ended {
            self.write(data);
        }
        self.end()
    }

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
        let finished = {
            let mut st = self.inner.st.borrow_mut();
            st.destroy_after_finish = true;
            st.finished
        };
        self.end();
        if finished {
            self.destroy();
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
        if self.inner.st.borrow().phase == Phase::Idle {
            // No handle to reset: Node destroys with ERR_SOCKET_CLOSED.
            return self.destroy_with(Error::new(ErrorCode::ERR_SOCKET_CLOSED, "Socket is closed"));
        }
        self.inner.st.borrow_mut().reset_on_close = true;
        let connecting = self.inner.st.borrow().phase == Phase::Connecting;
        if connecting {
            self.once(Socket::CONNECT, |s, _| {
                s.destroy();
            });
        } else {
            self.destroy();
        }
        self
    }

    // ----- reading ------------------------------------------------------------

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
        self.inner.st.borrow_mut().flowing = Some(false);
        self
    }

    /// Start reading again (Node: `socket.resume()`). Bytes buffered while
    /// paused are delivered first, on the next tick, never inside this call.
    /// Node's `resume()` with no `data` listener reads and throws the bytes
    /// away; netloop keeps them until a listener is attached. See
    /// [`pause`](Socket::pause) for an example.
    pub fn resume(&self) -> &Socket {
        {
            let mut st = self.inner.st.borrow_mut();
            st.flowing = Some(true);
            if st.phase == Phase::Open && !st.eof && !st.destroyed {
                st.reading = true;
            }
        }
        self.inner.update_active();
        self.inner.schedule_flush();
        self
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
        self.inner.st.borrow_mut().corked += 1;
        self
    }

    /// Undo one [`cork`](Socket::cork); the last one sends the held writes on
    /// the next tick (Node: `socket.uncork()`, which sends at once: netloop
    /// waits so that `drain` is never emitted from inside this call). Extra
    /// calls do nothing.
    pub fn uncork(&self) -> &Socket {
        let flush = {
            let mut st = self.inner.st.borrow_mut();
            if st.corked == 0 {
                return self;
            }
            st.corked -= 1;
            st.corked == 0
        };
        if flush {
            self.inner.schedule_uncork_flush();
        }
        self
    }

    /// How many [`cork`](Socket::cork) calls are not yet undone (Node:
    /// `socket.writableCorked`).
    pub fn writable_corked(&self) -> u32 {
        self.inner.st.borrow().corked
    }

    /// The write high-water mark, 16 KiB unless set with `high_water_mark`
    /// (Node: `socket.writableHighWaterMark`). It is also the limit of bytes
    /// kept for a paused socket or one without a `data` listener.
    pub fn writable_high_water_mark(&self) -> usize {
        self.inner.st.borrow().hwm
    }

    /// The idle timeout set by [`set_timeout`](Socket::set_timeout), if any
    /// (Node: `socket.timeout`, `undefined` where this is `None`).
    pub fn timeout(&self) -> Option<Duration> {
        self.inner.st.borrow().timeout_after
    }

    /// True after [`pause`](Socket::pause) (or `pause_on_connect`) until
    /// [`resume`](Socket::resume) (Node: `socket.isPaused()`).
    pub fn is_paused(&self) -> bool {
        self.inner.st.borrow().flowing == Some(false)
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
        self.inner.st.borrow_mut().encoding = encoding;
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

    // ----- options --------------------------------------------------------------

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
        if self.inner.st.borrow().destroyed {
            // Node's `setStreamTimeout` ignores a destroyed socket.
            return self;
        }
        let existing = self.inner.st.borrow().timeout.clone();
        self.inner.st.borrow_mut().timeout_after = (!d.is_zero()).then_some(d);
        if d.is_zero() {
            if let Some(t) = existing {
                t.cancel();
            }
            self.inner.st.borrow_mut().timeout = None;
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
        self.inner.st.borrow_mut().timeout = Some(t);
        self
    }

    /// Set `TCP_NODELAY`: `true` turns Nagle's algorithm off, so small writes
    /// leave at once (Node: `socket.setNoDelay(noDelay)`). Nagle is on by
    /// default, as in Node. Before connecting, the value is remembered and
    /// applied once connected; on a Unix socket it does nothing. A failure is
    /// ignored, as in Node. See [`connect_with`](Socket::connect_with) for an
    /// example with the [`no_delay`](Socket::no_delay) getter.
    pub fn set_no_delay(&self, no_delay: bool) -> &Socket {
        let mut st = self.inner.st.borrow_mut();
        // Remembered as Node's `kSetNoDelay`: applied again once connected,
        // since happy eyeballs may replace the connecting fd.
        st.no_delay = Some(no_delay);
        if let Some(s) = &st.stream {
            if let Err(e) = tcp::set_nodelay(&s.io, no_delay) {
                tracing::debug!(target: "netloop::net", error = %e, "setNoDelay failed");
            }
        }
        self
    }

    /// Set `SO_KEEPALIVE`, with the idle time before the first probe (Node:
    /// `socket.setKeepAlive(enable, initialDelay)`). As libuv 1.46: probes every
    /// second, 10 of them; a delay under 1 s leaves the idle time unchanged.
    /// Remembered before connecting, as [`set_no_delay`](Socket::set_no_delay).
    pub fn set_keep_alive(&self, enable: bool, initial_delay: Duration) -> &Socket {
        let mut st = self.inner.st.borrow_mut();
        // Remembered as Node's `kSetKeepAlive`, for the connected fd.
        st.keep_alive = Some((enable, initial_delay));
        if let Some(s) = &st.stream {
            if let Err(e) = tcp::set_keepalive(&s.io, enable, initial_delay) {
                tracing::debug!(target: "netloop::net", error = %e, "setKeepAlive failed");
            }
        }
        self
    }

    /// Whether `TCP_NODELAY` is on, read from the connection (like tokio's
    /// `TcpStream::nodelay`; Node has no getter). `None` before connecting,
    /// after closing, and for Unix sockets.
    pub fn no_delay(&self) -> Option<bool> {
        self.inner
            .st
            .borrow()
            .stream
            .as_ref()
            .and_then(|s| tcp::nodelay(&s.io))
    }

    /// Whether `SO_KEEPALIVE` is on, read from the connection (Node has no
    /// getter). `None` before connecting, after closing, and for Unix sockets.
    pub fn keep_alive(&self) -> Option<bool> {
        self.inner
            .st
            .borrow()
            .stream
            .as_ref()
            .and_then(|s| tcp::keepalive(&s.io))
    }

    // ----- properties -------------------------------------------------------------

    /// Our end's address and port (Node: `socket.address()`); `None` before
    /// connecting, after close, and for Unix sockets (Node returns `{}`). See
    /// [`connect`](Socket::connect) for an example of every address getter.
    pub fn address(&self) -> Option<SocketAddr> {
        self.inner.local()
    }

    /// The peer's IP address (Node: `socket.remoteAddress`). `None` while
    /// connecting and for Unix sockets; unlike Node, still readable after
    /// `close`.
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
    /// delivered yet or not (Node: `socket.bytesRead`). See
    /// [`pause`](Socket::pause) for an example.
    pub fn bytes_read(&self) -> u64 {
        self.inner.st.borrow().bytes_read
    }

    /// Bytes accepted by `write` so far, queued ones included (Node:
    /// `socket.bytesWritten`). See [`write`](Socket::write) for an example.
    pub fn bytes_written(&self) -> u64 {
        self.inner.st.borrow().bytes_written
    }

    /// Bytes written but not yet handed to the kernel, including writes held
    /// while connecting or corked (Node: `socket.writableLength`, and the
    /// deprecated `bufferSize`). 0 after close. See [`write`](Socket::write).
    pub fn writable_length(&self) -> usize {
        self.inner.st.borrow().queued_bytes()
    }

    /// Which directions are open (Node: `socket.readyState`); see the table in
    /// the [type documentation](Socket#lifecycle). A socket that never
    /// connected is `Closed`, where Node says `'open'`.
    pub fn ready_state(&self) -> ReadyState {
        let st = self.inner.st.borrow();
        match st.phase {
            Phase::Connecting => ReadyState::Opening,
            Phase::Idle | Phase::Closed => ReadyState::Closed,
            Phase::Open => {
                let readable = !st.end_emitted;
                let writable = !st.ended;
                match (readable, writable) {
                    (true, true) => ReadyState::Open,
                    (true, false) => ReadyState::ReadOnly,
                    (false, true) => ReadyState::WriteOnly,
                    (false, false) => ReadyState::Closed,
                }
            }
        }
    }

    /// The addresses happy eyeballs tried, in order, once it ran (Node:
    /// `socket.autoSelectFamilyAttemptedAddresses`, which holds the same
    /// addresses as `"ip:port"` strings). `None` when the connect used a
    /// single address.
    pub fn auto_select_family_attempted_addresses(&self) -> Option<Vec<SocketAddr>> {
        self.inner.st.borrow().attempted.clone()
    }

    /// True while looking up or connecting (Node: `socket.connecting`).
    pub fn connecting(&self) -> bool {
        self.inner.st.borrow().phase == Phase::Connecting
    }

    /// True while not connected: before `connect`, while connecting, and after
    /// close (Node: `socket.pending`).
    pub fn pending(&self) -> bool {
        self.inner.st.borrow().phase != Phase::Open
    }

    /// True once destroyed (Node: `socket.destroyed`); `connect` clears it.
    pub fn destroyed(&self) -> bool {
        self.inner.st.borrow().destroyed
    }

    /// The Unix socket path given to [`connect_path`](Socket::connect_path),
    /// if any (Node keeps it internally; it has no public getter).
    pub fn path(&self) -> Option<PathBuf> {
        self.inner.st.borrow().unix_path.clone()
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

impl_emitter!(Socket);

impl SocketInner {
    fn socket(&self) -> Option<Socket> {
        self.me.upgrade().map(|inner| Socket { inner })
    }

    /// The local address, cached after the first `getsockname`.
    fn local(&self) -> Option<SocketAddr> {
        let mut st = self.st.borrow_mut();
        if st.destroyed {
            // No handle, no name (Node: `address()` is `{}` after close).
            return None;
        }
        if st.local.is_none() && st.phase == Phase::Open {
            st.local = st.stream.as_ref().and_then(|s| s.io.local_addr());
        }
        st.local
    }

    /// libuv's rule for a stream handle: it is active (and keeps the loop
    /// alive while ref'd) while connecting, reading, or holding queued
    /// writes. A socket that read EOF with nothing left to write, or that
    /// was paused before it ever read, lets the loop end, as in Node
    /// (`test-net-connect-paused-connection`).
    fn update_active(&self) {
        let active = {
            let st = self.st.borrow();
            !st.destroyed
                && match st.phase {
                    Phase::Connecting => true,
                    Phase::Open => st.reading || st.queued_bytes() > 0,
                    Phase::Idle | Phase::Closed => false,
                }
        };
        self.handle_ref.set_active(active);
    }

    fn has_data_listener(&self) -> bool {
        self.listeners.count("data") > 0
    }

    fn refresh_timeout(&self, st: &State) {
        if let Some(t) = &st.timeout {
            t.refresh();
        }
    }

    // ----- connect ------------------------------------------------------------

    fn connecting_now(&self) -> bool {
        let st = self.st.borrow();
        st.phase == Phase::Connecting && !st.destroyed
    }

    /// Node's `lookupAndConnect` / `lookupAndConnectMultiple` callbacks:
    /// `lookup` for the address used (for every address when happy eyeballs
    /// may run), then the first attempt.
    fn after_lookup(&self, res: Result<Vec<IpAddr>>) {
        let Some(socket) = self.socket() else { return };
        let (host, auto) = match self.st.borrow().plan.as_ref() {
            Some(p) => (p.host.clone(), p.auto),
            None => return,
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
            if ordered.len() > 1 {
                st.attempted = Some(Vec::new());
            }
            if let Some(plan) = st.plan.as_mut() {
                plan.addrs = ordered.into_iter().collect();
            }
        }
        self.next_attempt();
    }

    /// True while happy eyeballs runs (Node's `internalConnectMultiple`).
    fn multi(&self) -> bool {
        self.st.borrow().attempted.is_some()
    }

    /// Record a failed attempt of happy eyeballs and try the next address.
    fn multi_failed(&self, err: Error) {
        if let Some(p) = self.st.borrow_mut().plan.as_mut() {
            p.errors.push(err);
        }
        if self.connecting_now() {
            self.next_attempt();
        }
    }

    /// Try the next address of the plan (Node's `internalConnect` /
    /// `internalConnectMultiple`), or fail with every error so far.
    fn next_attempt(&self) {
        let Some(socket) = self.socket() else { return };
        let multi = self.multi();
        let (next, port, bind, blocked) = {
            let mut st = self.st.borrow_mut();
            if st.destroyed {
                return;
            }
            let Some(plan) = st.plan.as_mut() else { return };
            if let Some(t) = plan.attempt_timer.take() {
                t.cancel();
            }
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
                .plan
                .as_mut()
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
        let attempt = |error: Option<Error>| ConnectionAttempt {
            address: ip,
            port,
            family: Family::of(&ip),
            error,
        };
        if blocked {
            let err = Error::new(
                ErrorCode::ERR_IP_BLOCKED,
                format!("IP({ip}) is blocked by net.BlockList"),
            );
            if multi {
                socket.emit(
                    Socket::CONNECTION_ATTEMPT_FAILED,
                    &attempt(Some(err.clone())),
                );
                self.multi_failed(err);
            } else {
                self.destroy(Some(err));
            }
            return;
        }
        let res = tcp::connect(addr, bind);
        let res = match res {
            Err((tcp::ConnectStep::Bind, e)) => {
                // Node: `bind EADDRINUSE 127.0.0.1:4000`, before any
                // `connectionAttempt`.
                let (la, lp) = bind.map_or((String::new(), 0), |b| (b.ip().to_string(), b.port()));
                let err = Error::syscall_host_port(&e, "bind", Some(&la), Some(lp), None);
                if multi {
                    self.multi_failed(err);
                } else {
                    self.destroy(Some(err));
                }
                return;
            }
            Err((tcp::ConnectStep::Connect, e)) => Err(e),
            Ok(io) => Ok(io),
        };
        socket.emit(Socket::CONNECTION_ATTEMPT, &attempt(None));
        if !self.connecting_now() {
            return; // a listener destroyed the socket; the new fd drops here
        }
        if let Some(list) = self.st.borrow_mut().attempted.as_mut() {
            list.push(addr);
        }
        match res {
            Ok(io) => {
                let more = {
                    let mut st = self.st.borrow_mut();
                    // A new fd: a FIN seen on a failed attempt's fd is not its.
                    st.peer_closed = false;
                    match st.plan.as_mut() {
                        Some(p) => {
                            p.current = Some(addr);
                            !p.addrs.is_empty()
                        }
                        None => false,
                    }
                };
                if let Err(e) = self.attach(io) {
                    self.attempt_failed(addr, e);
                    return;
                }
                // Node arms the attempt timer for every address but the last.
                if multi && more {
                    self.start_attempt_timer(addr);
                }
            }
            // libuv reports a refused loopback connect through the connect
            // callback even when connect(2) fails at once; other immediate
            // failures of a single connect destroy without
            // `connectionAttemptFailed`, as Node's `internalConnect`.
            Err(e) if multi || e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                self.attempt_failed(addr, e)
            }
            Err(e) => {
                let err = self.connect_error(addr, &e);
                self.destroy(Some(err));
            }
        }
    }

    /// Node's `createConnectionError`: `connect ECONNREFUSED 127.0.0.1:80`,
    /// with ` - Local (addr:port)` when bound to a local port.
    fn connect_error(&self, addr: SocketAddr, e: &io::Error) -> Error {
        let local = self
            .st
            .borrow()
            .plan
            .as_ref()
            .and_then(|p| p.local_detail(addr.ip()));
        Error::syscall_host_port(
            e,
            "connect",
            Some(&addr.ip().to_string()),
            Some(addr.port()),
            local.as_ref().map(|(a, p)| (a.as_str(), *p)),
        )
    }

    fn start_attempt_timer(&self, addr: SocketAddr) {
        let Some(d) = self.st.borrow().plan.as_ref().map(|p| p.attempt_timeout) else {
            return;
        };
        let me = self.me.clone();
        let t = timers::set_timeout(d, move || {
            let Some(inner) = me.upgrade() else { return };
            let current = inner.st.borrow().plan.as_ref().and_then(|p| p.current);
            if current != Some(addr) || !inner.connecting_now() {
                return;
            }
            let Some(socket) = inner.socket() else { return };
            // Node's `internalConnectMultipleTimeout`: the event, an
            // ETIMEDOUT error for the aggregate, then the next address.
            inner.close_stream();
            if let Some(p) = inner.st.borrow_mut().plan.as_mut() {
                p.attempt_timer = None;
                p.current = None;
            }
            socket.emit(
                Socket::CONNECTION_ATTEMPT_TIMEOUT,
                &ConnectionAttempt {
                    address: addr.ip(),
                    port: addr.port(),
                    family: Family::of(&addr.ip()),
                    error: None,
                },
            );
            let err = inner.connect_error(addr, &io::Error::from_raw_os_error(libc::ETIMEDOUT));
            inner.multi_failed(err);
        });
        if let Some(p) = self.st.borrow_mut().plan.as_mut() {
            p.attempt_timer = Some(t);
        }
    }

    /// An attempt failed (Node's `afterConnect` / `afterConnectMultiple`
    /// with an error): `connectionAttemptFailed`, then the next address
    /// (happy eyeballs) or the error.
    fn attempt_failed(&self, addr: SocketAddr, e: io::Error) {
        let Some(socket) = self.socket() else { return };
        self.close_stream();
        let err = self.connect_error(addr, &e);
        tracing::debug!(target: "netloop::net", error = %err, "connect attempt failed");
        if let Some(p) = self.st.borrow_mut().plan.as_mut() {
            if let Some(t) = p.attempt_timer.take() {
                t.cancel();
            }
            p.current = None;
        }
        let multi = self.multi();
        socket.emit(
            Socket::CONNECTION_ATTEMPT_FAILED,
            &ConnectionAttempt {
                address: addr.ip(),
                port: addr.port(),
                family: Family::of(&addr.ip()),
                error: Some(err.clone()),
            },
        );
        if multi {
            self.multi_failed(err);
        } else if self.connecting_now() {
            self.destroy(Some(err));
        }
    }

    fn connect_unix(&self, path: &Path) {
        match pipe::connect(path) {
            Ok(io) => {
                if let Err(e) = self.attach(io) {
                    self.destroy(Some(Error::syscall_host_port(
                        &e,
                        "connect",
                        Some(&path.display().to_string()),
                        None,
                        None,
                    )));
                }
            }
            Err(e) => self.destroy(Some(Error::syscall_host_port(
                &e,
                "connect",
                Some(&path.display().to_string()),
                None,
                None,
            ))),
        }
    }

    /// Register a stream fd with the loop and make it this socket's.
    fn attach(&self, mut io: StreamIo) -> io::Result<()> {
        let me = self
            .me
            .upgrade()
            .ok_or_else(|| io::Error::other("socket dropped"))?;
        let handler: Rc<dyn IoHandler> = me;
        let token = self.lp.register(io.source(), handler)?;
        self.st.borrow_mut().stream = Some(Stream::new(io, token));
        self.update_active();
        Ok(())
    }

    /// Deregister and close the current fd (a failed attempt or a close).
    fn close_stream(&self) {
        let stream = self.st.borrow_mut().stream.take();
        if let Some(mut s) = stream {
            self.lp.deregister(s.io.source(), s.token);
        }
    }

    /// The fd turned writable while connecting: `SO_ERROR` says how it went.
    fn after_connect(&self) {
        let outcome = {
            let st = self.st.borrow();
            let Some(stream) = st.stream.as_ref() else {
                return;
            };
            match stream.io.take_error() {
                Ok(Some(e)) | Err(e) => Err(e),
                Ok(None) => match stream.io.peer_addr() {
                    Ok(peer) => Ok((peer, stream.io.local_addr())),
                    Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => return, // not yet
                    Err(e) => Err(e),
                },
            }
        };
        let current = self.st.borrow().plan.as_ref().and_then(|p| p.current);
        match outcome {
            Err(e) => match current {
                Some(addr) => self.attempt_failed(addr, e),
                None => {
                    let path = self.st.borrow().unix_path.clone();
                    self.destroy(Some(Error::syscall_host_port(
                        &e,
                        "connect",
                        path.map(|p| p.display().to_string()).as_deref(),
                        None,
                        None,
                    )))
                }
            },
            Ok((peer, local)) => self.on_connected(peer, local),
        }
    }

    /// Node's `afterConnect`: `connect`, `ready`, then queued writes and a
    /// queued `end()`, then reading.
    fn on_connected(&self, peer: Option<SocketAddr>, local: Option<SocketAddr>) {
        let Some(socket) = self.socket() else { return };
        {
            let mut st = self.st.borrow_mut();
            st.phase = Phase::Open;
            st.reading = st.flowing != Some(false);
            st.remote = peer;
            st.local = local;
            self.connect_req.set_active(false);
            if let Some(p) = st.plan.as_mut() {
                if let Some(t) = p.attempt_timer.take() {
                    t.cancel();
                }
            }
            st.plan = None;
            let no_delay = st.no_delay;
            let keep_alive = st.keep_alive;
            if let Some(s) = st.stream.as_ref() {
                if let Some(nd) = no_delay {
                    let _ = tcp::set_nodelay(&s.io, nd);
                }
                if let Some((on, delay)) = keep_alive {
                    let _ = tcp::set_keepalive(&s.io, on, delay);
                }
            }
            self.refresh_timeout(&st);
        }
        tracing::debug!(target: "netloop::net", ?peer, "afterConnect");
        // Node's `afterConnect` emits `ready` right after `connect` even if
        // a `connect` listener destroyed the socket.
        socket.emit(Socket::CONNECT, &());
        socket.emit(Socket::READY, &());
        if self.st.borrow().destroyed {
            return;
        }
        // Writes made while connecting, in order, in one `writev` (unless
        // the socket is corked: then they wait for `uncork()`).
        if self.st.borrow().corked == 0 {
            self.flush_pending();
            if self.st.borrow().destroyed {
                return;
            }
        }
        self.maybe_drain();
        self.maybe_shutdown();
        self.update_active();
        self.on_readable();
    }

    // ----- reading ----------------------------------------------------------------

    /// Read until the kernel has nothing more, the high-water mark is
    /// reached, or the socket is paused or closed (libuv's `uv__read`).
    fn on_readable(&self) {
        for _ in 0..MAX_READS_PER_EVENT {
            if !self.st.borrow().can_read() {
                self.after_read_stop();
                return;
            }
            let mut buf = self.lp.take_read_buf();
            let res = {
                let st = self.st.borrow();
                match st.stream.as_ref() {
                    Some(s) => s.io.read(&mut buf),
                    None => Ok(0),
                }
            };
            match res {
                Ok(0) => {
                    self.lp.put_read_buf(buf);
                    self.on_eof();
                    return;
                }
                Ok(n) => {
                    {
                        let mut st = self.st.borrow_mut();
                        st.bytes_read += n as u64;
                        self.refresh_timeout(&st);
                    }
                    self.deliver(&buf[..n]);
                    let full = n == buf.len();
                    self.lp.put_read_buf(buf);
                    // One callback per read, as Node's `onStreamRead`:
                    // ticks queued by a `data` listener run before the next
                    // chunk is delivered (with the read buffer back in place,
                    // so a tick that reads again reuses it).
                    self.lp.drain_ticks();
                    if !full && !self.st.borrow().peer_closed {
                        // A short read drained the kernel buffer; the next
                        // edge brings the rest. Not so once the peer's FIN
                        // (or an error) was signalled: it came with the edge
                        // we are serving and no other edge will follow, so
                        // read on to reach it (libuv does the same).
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.lp.put_read_buf(buf);
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    self.lp.put_read_buf(buf);
                }
                Err(e) => {
                    self.lp.put_read_buf(buf);
                    self.destroy(Some(Error::from_syscall(&e, "read")));
                    return;
                }
            }
        }
        // Still readable after a full batch: continue next iteration so
        // other handles get their turn.
        self.schedule_read();
    }

    /// Reading paused: a full read buffer stops reading as Node's
    /// `readStop` does when `push()` returns false.
    fn after_read_stop(&self) {
        {
            let mut st = self.st.borrow_mut();
            if st.phase != Phase::Open || st.read_buf.len() < st.readable_hwm.max(1) {
                return;
            }
            st.reading = false;
        }
        self.update_active();
    }

    fn schedule_read(&self) {
        let me = self.me.clone();
        self.lp.defer(move || {
            if let Some(inner) = me.upgrade() {
                inner.on_readable();
            }
        });
    }

    /// Hand a chunk to `data` listeners, or keep it until there are some.
    fn deliver(&self, chunk: &[u8]) {
        let direct = {
            let st = self.st.borrow();
            st.flowing == Some(true) && st.read_buf.is_empty() && !st.destroyed
        } && self.has_data_listener();
        if direct {
            self.emit_data(chunk);
        } else {
            self.st.borrow_mut().read_buf.extend_from_slice(chunk);
        }
    }

    /// Emit `data`, applying the encoding.
    fn emit_data(&self, chunk: &[u8]) {
        let Some(socket) = self.socket() else { return };
        let encoding = self.st.borrow().encoding;
        match encoding {
            None => {
                socket.emit(Socket::DATA, chunk);
            }
            Some(Encoding::Utf8) => {
                let mut joined = std::mem::take(&mut self.st.borrow_mut().partial);
                joined.extend_from_slice(chunk);
                let cut = utf8_boundary(&joined);
                let rest = joined.split_off(cut);
                self.st.borrow_mut().partial = rest;
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

    fn schedule_flush(&self) {
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
    /// and start reading again.
    fn flush_buffered(&self) {
        let buffered = {
            let mut st = self.st.borrow_mut();
            st.flush_scheduled = false;
            if st.destroyed || st.flowing != Some(true) {
                return;
            }
            if !st.read_buf.is_empty() && self.has_data_listener() {
                Some(std::mem::take(&mut st.read_buf))
            } else {
                None
            }
        };
        if let Some(data) = buffered {
            self.emit_data(&data);
            if self.st.borrow().destroyed {
                return;
            }
        }
        self.maybe_end();
        if self.st.borrow().can_read() {
            self.st.borrow_mut().reading = true;
            self.update_active();
            self.on_readable();
        }
    }

    fn on_eof(&self) {
        {
            let mut st = self.st.borrow_mut();
            st.eof = true;
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
            if !st.eof || !st.read_buf.is_empty() || st.end_scheduled || st.destroyed {
                return;
            }
            st.end_scheduled = true;
        }
        let me = self.me.clone();
        self.lp.next_tick(move || {
            let Some(inner) = me.upgrade() else { return };
            let Some(socket) = inner.socket() else { return };
            if inner.st.borrow().destroyed {
                return;
            }
            let partial = std::mem::take(&mut inner.st.borrow_mut().partial);
            if !partial.is_empty() {
                socket.emit(Socket::DATA, &partial[..]);
                if inner.st.borrow().destroyed {
                    return;
                }
            }
            // Only now is the readable side over (Node sets `endEmitted` in
            // `endReadableNT`): a `finish` tick queued before this one must
            // not take the socket down before `end` was emitted.
            inner.st.borrow_mut().end_emitted = true;
            socket.emit(Socket::END, &());
            inner.after_end();
        });
    }

    /// After the readable side ended: end our side too unless half-open is
    /// allowed; destroy once both sides are done.
    fn after_end(&self) {
        let (destroyed, ended, finished, allow) = {
            let st = self.st.borrow();
            (st.destroyed, st.ended, st.finished, st.allow_half_open)
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

    // ----- writing -------------------------------------------------------------------

    fn write(&self, data: &[u8], cb: Option<WriteCb>) -> bool {
        let (phase, destroyed, ended, eof, allow) = {
            let st = self.st.borrow();
            (
                st.phase,
                st.destroyed,
                st.ended,
                st.end_emitted,
                st.allow_half_open,
            )
        };
        if destroyed {
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
            let err = if eof && !allow {
                Error::new(
                    ErrorCode::EPIPE,
                    "This socket has been ended by the other party",
                )
            } else {
                Error::new(ErrorCode::ERR_STREAM_WRITE_AFTER_END, "write after end")
            };
            if let Some(cb) = cb {
                let e = err.clone();
                self.lp.next_tick(move || cb(Some(&e)));
            }
            self.destroy(Some(err));
            return false;
        }
        // Writes made in `connect`/`ready` listeners queue behind the ones
        // made while connecting (Node's Writable buffers them while the
        // first write waits for `connect`), so order is kept.
        let behind_pending = {
            let st = self.st.borrow();
            !st.pending.is_empty() || st.corked > 0
        };
        match phase {
            Phase::Open if !behind_pending => {
                if !self.write_now(data, cb) {
                    return false;
                }
            }
            Phase::Idle => {
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
            Phase::Connecting | Phase::Open => {
                let mut st = self.st.borrow_mut();
                st.bytes_written += data.len() as u64;
                st.pending_bytes += data.len();
                st.pending.push(PendingWrite {
                    data: data.to_vec(),
                    cb,
                });
            }
            Phase::Closed => return false,
        }
        let mut st = self.st.borrow_mut();
        let ok = st.queued_bytes() < st.hwm;
        if !ok {
            st.need_drain = true;
        }
        ok
    }

    /// Hand bytes to the stream handle; false if the socket failed.
    fn write_now(&self, data: &[u8], cb: Option<WriteCb>) -> bool {
        let res = {
            let mut st = self.st.borrow_mut();
            st.bytes_written += data.len() as u64;
            self.refresh_timeout(&st);
            match st.stream.as_mut() {
                Some(s) => s.write(data, cb),
                None => return false,
            }
        };
        match res {
            Ok(WriteOutcome::Done(cb)) => {
                if let Some(cb) = cb {
                    self.defer_write_cb(cb);
                }
                true
            }
            Ok(WriteOutcome::Queued) => {
                self.update_active();
                true
            }
            Err((e, cb)) => {
                let err = Error::from_syscall(&e, "write");
                if let Some(cb) = cb {
                    let e2 = err.clone();
                    self.lp.defer(move || cb(Some(&e2)));
                }
                self.destroy(Some(err));
                false
            }
        }
    }

    /// Move the writes buffered while connecting or corked into the
    /// stream's queue and send them together with `writev`. Their bytes
    /// were counted in `bytes_written` when `write()` took them.
    fn flush_pending(&self) {
        {
            let mut st = self.st.borrow_mut();
            if st.pending.is_empty() || st.stream.is_none() {
                return;
            }
            let pending = std::mem::take(&mut st.pending);
            st.pending_bytes = 0;
            if let Some(stream) = st.stream.as_mut() {
                for w in pending {
                    stream.enqueue(w.data, w.cb);
                }
            }
        }
        self.on_writable();
    }

    fn on_writable(&self) {
        let mut done: Vec<WriteCb> = Vec::new();
        let res = {
            let mut st = self.st.borrow_mut();
            match st.stream.as_mut() {
                Some(s) if s.queued_bytes() > 0 => Some(s.flush(&mut done)),
                _ => None,
            }
        };
        let Some(res) = res else {
            return self.maybe_shutdown();
        };
        for cb in done {
            self.defer_write_cb(cb);
        }
        if let Err(e) = res {
            self.destroy(Some(Error::from_syscall(&e, "write")));
            return;
        }
        self.refresh_timeout(&self.st.borrow());
        self.update_active();
        self.maybe_drain();
        self.maybe_shutdown();
    }

    fn maybe_drain(&self) {
        let emit = {
            let mut st = self.st.borrow_mut();
            if st.need_drain && st.queued_bytes() == 0 && !st.destroyed {
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

    fn end(&self) {
        let was_corked = {
            let mut st = self.st.borrow_mut();
            if st.ended || st.destroyed {
                return;
            }
            st.ended = true;
            // Node's `end()` uncorks fully first.
            std::mem::take(&mut st.corked) > 0
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
                let open = inner.st.borrow().phase == Phase::Open;
                if open && inner.st.borrow().corked == 0 {
                    inner.flush_pending();
                    inner.maybe_shutdown();
                }
            }
        });
    }

    /// Send our FIN once `end()` was called and every write reached the
    /// kernel; `finish` follows on the next tick.
    fn maybe_shutdown(&self) {
        let res = {
            let mut st = self.st.borrow_mut();
            if !st.ended
                || st.shutdown_done
                || st.destroyed
                || st.phase != Phase::Open
                || st.queued_bytes() > 0
            {
                return;
            }
            st.shutdown_done = true;
            match st.stream.as_ref() {
                Some(s) => s.io.shutdown_write(),
                None => return,
            }
        };
        if let Err(e) = res {
            // Node ignores shutdown errors (`afterShutdown`): the peer is
            // gone and the read side reports it.
            tracing::debug!(target: "netloop::net", error = %e, "shutdown failed");
        }
        // `finish` comes after every write callback (Node's `finishMaybe`
        // waits for `pendingcb` to reach zero).
        let waiting = {
            let mut st = self.st.borrow_mut();
            st.finish_waiting = st.write_cbs_pending > 0;
            st.finish_waiting
        };
        if !waiting {
            self.schedule_finish();
        }
    }

    /// Emit `finish` on the next tick; destroy if the readable side is
    /// over too (or `destroy_soon` asked for it).
    fn schedule_finish(&self) {
        let me = self.me.clone();
        self.lp.next_tick(move || {
            let Some(inner) = me.upgrade() else { return };
            if inner.st.borrow().destroyed {
                return;
            }
            inner.st.borrow_mut().finished = true;
            if let Some(s) = inner.socket() {
                s.emit(Socket::FINISH, &());
            }
            let (end_emitted, destroy_soon) = {
                let st = inner.st.borrow();
                (st.end_emitted, st.destroy_after_finish)
            };
            if end_emitted || destroy_soon {
                inner.destroy(None);
            }
        });
    }

    /// Run a completed write's callback in the pending phase; the last
    /// one releases a `finish` that waited for it.
    fn defer_write_cb(&self, cb: WriteCb) {
        let Some(me) = self.me.upgrade() else { return };
        self.st.borrow_mut().write_cbs_pending += 1;
        self.lp.defer(move || {
            cb(None);
            let release = {
                let mut st = me.st.borrow_mut();
                st.write_cbs_pending = st.write_cbs_pending.saturating_sub(1);
                let release = st.write_cbs_pending == 0 && st.finish_waiting;
                if release {
                    st.finish_waiting = false;
                }
                release
            };
            if release {
                me.schedule_finish();
            }
        });
    }

    // ----- destroy ------------------------------------------------------------------

    /// Node's `destroy` / `_destroy`: close the fd now, fail pending
    /// writes, `error` on the next tick, `close` in the close phase.
    fn destroy(&self, err: Option<Error>) {
        let (was_connecting, mut cbs, stream, timeout, server, reset, plan) = {
            let mut st = self.st.borrow_mut();
            if st.destroyed {
                return;
            }
            st.destroyed = true;
            st.had_error = err.is_some();
            let was_connecting = st.phase == Phase::Connecting;
            st.phase = Phase::Closed;
            let mut cbs: Vec<WriteCb> = st.pending.drain(..).filter_map(|w| w.cb).collect();
            st.pending_bytes = 0;
            let mut stream = st.stream.take();
            if let Some(s) = stream.as_mut() {
                s.cancel_writes(&mut cbs);
            }
            st.read_buf = Vec::new();
            (
                was_connecting,
                cbs,
                stream,
                st.timeout.take(),
                st.server.take(),
                st.reset_on_close,
                st.plan.take(),
            )
        };
        if let Some(t) = timeout {
            t.cancel();
        }
        if let Some(t) = plan.and_then(|p| p.attempt_timer) {
            t.cancel();
        }
        if let Some(mut s) = stream {
            if reset {
                if let Err(e) = tcp::set_reset_on_close(&s.io) {
                    tracing::debug!(target: "netloop::net", error = %e, "SO_LINGER failed");
                }
            }
            self.lp.deregister(s.io.source(), s.token);
            drop(s);
        }
        self.handle_ref.set_active(false);
        self.connect_req.set_active(false);
        tracing::debug!(target: "netloop::net", error = ?err.as_ref().map(|e| e.to_string()), "destroy");
        if let Some(server) = server {
            server.connection_closed();
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
        if let Some(err) = err {
            let s = socket.clone();
            self.lp.next_tick(move || s.emit_error(&err));
        }
        for cb in cbs.drain(..) {
            let e = cancel.clone();
            self.lp.next_tick(move || cb(Some(&e)));
        }
        self.lp.defer_close(move || {
            tracing::debug!(target: "netloop::net", "emit close");
            socket.emit(Socket::CLOSE, &had_error);
        });
    }
}

impl IoHandler for SocketInner {
    fn on_ready(self: Rc<Self>, ready: Ready) {
        let phase = self.st.borrow().phase;
        match phase {
            Phase::Connecting => {
                // The edge that completes the connect can already carry the
                // peer's data and FIN (a server that writes and ends at
                // once); no later edge will report the FIN, so remember it
                // for the reads that follow the connect.
                if ready.read_closed || ready.error {
                    self.st.borrow_mut().peer_closed = true;
                }
                if ready.writable || ready.error || ready.read_closed {
                    self.after_connect();
                }
            }
            Phase::Open => {
                if ready.read_closed || ready.error {
                    self.st.borrow_mut().peer_closed = true;
                }
                if ready.writable || ready.error {
                    self.on_writable();
                }
                if self.st.borrow().destroyed {
                    return;
                }
                if ready.readable || ready.read_closed || ready.error {
                    self.on_readable();
                }
            }
            Phase::Idle | Phase::Closed => {}
        }
    }

    fn teardown(&self) {
        self.close_stream();
        let timeout = self.st.borrow_mut().timeout.take();
        if let Some(t) = timeout {
            t.cancel();
        }
        self.st.borrow_mut().pending.clear();
        // Break the socket -> server -> listener -> socket cycle.
        let server = self.st.borrow_mut().server.take();
        drop(server);
        self.handle_ref.set_active(false);
        self.connect_req.set_active(false);
        self.listeners.remove_all(None);
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
