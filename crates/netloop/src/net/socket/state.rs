//! The socket's state, as one enum per concern so that impossible
//! combinations cannot be written (`docs/design.md` draws the
//! transitions), split into a hot part every connection carries and a cold
//! part, boxed on first use, that an idle connected socket never touches.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use super::ConnectionOwner;
use crate::error::Error;
use crate::net::options::Encoding;
use crate::net::BlockList;
use crate::proxy::ProxyHeader;
use crate::stream::WriteCb;
use crate::timers::Timer;

/// The connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Conn {
    /// Never connected.
    Idle,
    /// Looking the host up, then the handshake (the plan is in [`Cold`]).
    Connecting,
    /// Connected: the stream handle is attached.
    Open,
    /// Destroyed: the descriptor is closed. `connect` may start over
    /// (Node's `_undestroy`).
    Destroyed {
        /// `close`'s payload.
        had_error: bool,
    },
}

/// The readable side: the peer's FIN, and the `end` event after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ReadSide {
    /// The peer may still send.
    Open,
    /// EOF was read; `end` waits until every byte before it was delivered.
    EofSeen,
    /// `end` is queued on the next tick.
    EndQueued,
    /// `end` was emitted.
    EndEmitted,
}

/// The writable side: our `end()`, the FIN, and the `finish` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WriteSide {
    /// Writes are accepted.
    Open,
    /// `end()` was called; the FIN waits for queued writes.
    Ending,
    /// The FIN was sent; `finish` waits for the write callbacks.
    ShutdownSent,
    /// `finish` is queued on the next tick.
    FinishQueued,
    /// `finish` was emitted.
    Finished,
}

/// Node's `readableFlowing`: `null`, `true` or `false`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Flow {
    /// No `data` listener and no `resume()` yet.
    Unset,
    /// Delivering `data`.
    Flowing,
    /// Paused by `pause()` or `pause_on_connect`.
    Paused,
}

/// What every socket carries.
pub(super) struct State {
    pub conn: Conn,
    pub read: ReadSide,
    pub write: WriteSide,
    pub flow: Flow,
    /// Node's `handle.reading`: reading was started and not stopped by EOF
    /// or a full buffer. It decides whether the socket keeps the loop
    /// alive (libuv's active-handle rule); a socket paused before it ever
    /// read never starts.
    pub reading: bool,
    pub allow_half_open: bool,
    /// `write()` returned false: `drain` follows when the queue empties.
    pub need_drain: bool,
    /// Buffered bytes are queued for delivery on the next tick.
    pub flush_scheduled: bool,
    /// `resume()` was called explicitly (not by attaching a `data`
    /// listener): while flowing, chunks nobody listens to are discarded, as
    /// in Node. Flowing only because of a listener that was later removed,
    /// the socket keeps them instead.
    pub resumed: bool,
    /// Close with an RST (`reset_and_destroy`).
    pub reset_on_close: bool,
    /// The write and read high-water marks (16 KiB by default).
    pub hwm: u32,
    pub readable_hwm: u32,
    /// Write callbacks queued to run and not yet run: `finish` waits for
    /// them (Node's `pendingcb`).
    pub write_cbs_pending: u32,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub remote: Option<SocketAddr>,
    /// The server that accepted this socket. Strong, as Node's
    /// `socket.server`: a closed server nobody else holds must live until
    /// its last connection ends, to emit its `close`. Taken on destroy.
    pub server: Option<Rc<dyn ConnectionOwner>>,
    pub cold: Option<Box<Cold>>,
}

/// What only some sockets need: a connect in progress, buffered reads,
/// held writes, encodings, timeouts, remembered options.
#[derive(Default)]
pub(super) struct Cold {
    /// The connect in progress. Boxed: it lives for the connect only,
    /// and inline it would make every socket that needs the cold part (a
    /// TLS server socket, for its layer) carry its 192 bytes for good.
    pub plan: Option<Box<ConnectPlan>>,
    /// Identifies the current connect so a stale lookup answer is ignored.
    pub connect_seq: u64,
    /// Node's `autoSelectFamilyAttemptedAddresses`: set when happy eyeballs
    /// runs, kept after the connect.
    pub attempted: Option<Vec<SocketAddr>>,
    pub unix_path: Option<PathBuf>,
    /// Read but not yet delivered (no `data` listener, or paused).
    pub read_buf: Vec<u8>,
    pub encoding: Option<Encoding>,
    /// A UTF-8 character cut by a read boundary.
    pub partial: Vec<u8>,
    /// Writes made while connecting or corked, in order.
    pub pending: Vec<(Vec<u8>, Option<WriteCb>)>,
    pub pending_bytes: usize,
    /// `cork()` depth.
    pub corked: u32,
    /// Cached `getsockname`.
    pub local: Option<SocketAddr>,
    pub timeout: Option<Timer>,
    /// The idle timeout set by `set_timeout` (Node's `socket.timeout`).
    pub timeout_after: Option<Duration>,
    pub no_delay: Option<bool>,
    pub keep_alive: Option<(bool, Duration)>,
    /// `end_then` callbacks waiting for `finish` (Node's `kOnFinished`).
    pub on_finished: Vec<EndCb>,
    /// The PROXY protocol header of an accepted connection, and the wait
    /// for it.
    pub proxy: Option<Box<ProxyState>>,
    /// The PROXY protocol header to send first once connected, encoded
    /// (`ConnectOptions::proxy_protocol`).
    pub proxy_out: Option<Vec<u8>>,
    /// The TLS layer over the stream, once TLS started (`tls.rs`). Here
    /// rather than in the hot part: a TLS connection carries rustls's
    /// state anyway, and a plain one should not pay a pointer for it.
    pub tls: Option<Box<crate::tls::layer::TlsLayer>>,
}

/// An accepted connection's PROXY protocol header (see `header.rs`).
#[derive(Default)]
pub(super) struct ProxyState {
    /// The header is being read: the server has not emitted `connection`.
    pub pending: bool,
    /// The header timeout, while pending.
    pub timer: Option<Timer>,
    /// The header read; `None` while pending, or when an optional header
    /// was absent.
    pub header: Option<ProxyHeader>,
    /// The header replaced `remote` with the original client.
    pub proxied: bool,
    /// The real peer (the proxy) when `proxied`: `None` for a Unix
    /// socket.
    pub transport_peer: Option<SocketAddr>,
}

/// An `end_then` callback.
pub(super) type EndCb = Box<dyn FnOnce(&super::Socket, Option<&Error>)>;

/// A connect: the addresses left to try (happy eyeballs), the errors so
/// far, and the attempt timer.
pub(super) struct ConnectPlan {
    pub host: String,
    pub port: u16,
    pub addrs: VecDeque<IpAddr>,
    pub errors: Vec<Error>,
    /// Happy eyeballs may run: auto-select on, no `family` and no
    /// `local_address` (Node's condition in `lookupAndConnect`). It runs
    /// when the lookup gives more than one address.
    pub auto: bool,
    pub attempt_timeout: Duration,
    pub attempt_timer: Option<Timer>,
    pub current: Option<SocketAddr>,
    pub local_address: Option<IpAddr>,
    pub local_port: u16,
    pub block_list: Option<BlockList>,
}

impl ConnectPlan {
    /// The local address to bind before connecting to `ip`: Node binds when
    /// `localAddress` or `localPort` is given, defaulting the address to
    /// `0.0.0.0` / `::` by the remote family.
    pub fn bind_addr(&self, ip: IpAddr) -> Option<SocketAddr> {
        match (self.local_address, self.local_port) {
            (Some(l), p) => Some(SocketAddr::new(l, p)),
            (None, 0) => None,
            (None, p) => Some(SocketAddr::new(unspecified_like(ip), p)),
        }
    }

    /// Cancel the attempt timer, if one runs.
    pub fn cancel_attempt_timer(&mut self) {
        if let Some(t) = self.attempt_timer.take() {
            t.cancel();
        }
    }
}

/// `0.0.0.0` or `::`, the family of `ip`.
fn unspecified_like(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}

/// A high-water mark as stored: saturated to `u32` (4 GiB is no limit
/// anyone sets on purpose).
pub(super) fn hwm_u32(hwm: usize) -> u32 {
    u32::try_from(hwm).unwrap_or(u32::MAX)
}

impl State {
    pub fn new(allow_half_open: bool, hwm: usize) -> State {
        State {
            conn: Conn::Idle,
            read: ReadSide::Open,
            write: WriteSide::Open,
            flow: Flow::Unset,
            reading: false,
            allow_half_open,
            need_drain: false,
            flush_scheduled: false,
            resumed: false,
            reset_on_close: false,
            hwm: hwm_u32(hwm),
            readable_hwm: hwm_u32(hwm),
            write_cbs_pending: 0,
            bytes_read: 0,
            bytes_written: 0,
            remote: None,
            server: None,
            cold: None,
        }
    }

    /// The cold part, allocated on first use.
    pub fn cold(&mut self) -> &mut Cold {
        self.cold.get_or_insert_with(Box::default)
    }

    pub fn destroyed(&self) -> bool {
        matches!(self.conn, Conn::Destroyed { .. })
    }

    /// The connect plan, if a connect is in progress.
    pub fn plan(&mut self) -> Option<&mut ConnectPlan> {
        self.cold.as_mut().and_then(|c| c.plan.as_deref_mut())
    }

    pub fn connect_seq(&self) -> u64 {
        self.cold.as_ref().map_or(0, |c| c.connect_seq)
    }

    /// Bytes read and not yet delivered.
    pub fn buffered(&self) -> usize {
        self.cold.as_ref().map_or(0, |c| c.read_buf.len())
    }

    /// Writes held while connecting or corked.
    pub fn pending_bytes(&self) -> usize {
        self.cold.as_ref().map_or(0, |c| c.pending_bytes)
    }

    pub fn has_pending(&self) -> bool {
        self.cold.as_ref().is_some_and(|c| !c.pending.is_empty())
    }

    pub fn corked(&self) -> u32 {
        self.cold.as_ref().map_or(0, |c| c.corked)
    }

    pub fn timer(&self) -> Option<&Timer> {
        self.cold.as_ref().and_then(|c| c.timeout.as_ref())
    }

    /// True while an accepted connection's PROXY header is being read.
    pub fn header_pending(&self) -> bool {
        self.cold
            .as_ref()
            .and_then(|c| c.proxy.as_ref())
            .is_some_and(|p| p.pending)
    }

    /// True once EOF was read (the peer ended).
    pub fn eof(&self) -> bool {
        self.read != ReadSide::Open
    }

    /// True once `end()` was called.
    pub fn ended(&self) -> bool {
        self.write != WriteSide::Open
    }

    /// Whether reading may go on: connected, not at EOF, not paused, and
    /// the buffer under the high-water mark (a mark of 0 still reads one
    /// chunk at a time, as Node's flowing mode hands chunks on).
    pub fn can_read(&self) -> bool {
        self.conn == Conn::Open
            && !self.eof()
            && (self.flow != Flow::Paused || self.tls_handshaking())
            && self.buffered() < (self.readable_hwm as usize).max(1)
    }

    /// A TLS layer whose handshake has not completed: the handshake reads
    /// even while the socket is paused, and writes wait for it.
    pub fn tls_handshaking(&self) -> bool {
        self.tls().is_some_and(|t| t.handshaking())
    }

    /// The TLS layer, if TLS runs on this socket.
    pub fn tls(&self) -> Option<&crate::tls::layer::TlsLayer> {
        self.cold.as_ref()?.tls.as_deref()
    }

    /// The TLS layer, mutably.
    pub fn tls_mut(&mut self) -> Option<&mut crate::tls::layer::TlsLayer> {
        self.cold.as_mut()?.tls.as_deref_mut()
    }
}
