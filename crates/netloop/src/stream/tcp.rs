//! TCP handles (libuv's `uv_tcp_t`): listening and connecting sockets,
//! created through `sys`, and the TCP socket options Node exposes.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::io::{ListenerIo, StreamIo};
use crate::error::Error;
use crate::sys;

pub(crate) use crate::sys::TcpListenOpts as ListenOpts;

/// Node's default backlog: 511, because the kernel rounds `backlog + 1` up
/// to a power of two (`roundup_pow_of_two` in `net/socket.c`), so 511 asks
/// for exactly 512 slots.
pub(crate) const DEFAULT_BACKLOG: i32 = 511;

/// Bind and listen, non-blocking (libuv's `uv_tcp_bind` + `uv_listen`).
pub(crate) fn listen(addr: SocketAddr, opts: &ListenOpts) -> io::Result<ListenerIo> {
    let listener = sys::tcp_listen(addr, opts)?;
    tracing::debug!(target: "netloop::net", %addr, "listen");
    Ok(ListenerIo::Tcp(listener))
}

/// Where a TCP server listens: one address, or every address (Node's
/// `listen(port)` without a host).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ListenAddr {
    /// An IP address and port.
    At(SocketAddr),
    /// Every address, on this port: see [`listen_unspecified`].
    Any(u16),
}

impl ListenAddr {
    pub(crate) fn port(&self) -> u16 {
        match self {
            ListenAddr::At(a) => a.port(),
            ListenAddr::Any(p) => *p,
        }
    }

    /// The same address on another port.
    pub(crate) fn with_port(&self, port: u16) -> ListenAddr {
        match self {
            ListenAddr::At(a) => ListenAddr::At(SocketAddr::new(a.ip(), port)),
            ListenAddr::Any(_) => ListenAddr::Any(port),
        }
    }

    /// Bind and listen there.
    pub(crate) fn listen(&self, opts: &ListenOpts) -> io::Result<ListenerIo> {
        match self {
            ListenAddr::At(a) => listen(*a, opts),
            ListenAddr::Any(p) => listen_unspecified(*p, opts),
        }
    }
}

/// Listen on every address: dual-stack `::`, falling back to `0.0.0.0`
/// when the machine has no IPv6 (Node's `listen(port)` without a host).
pub(crate) fn listen_unspecified(port: u16, opts: &ListenOpts) -> io::Result<ListenerIo> {
    let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
    match listen(v6, opts) {
        Err(e) if is_no_ipv6(&e) => listen(
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            opts,
        ),
        other => other,
    }
}

/// The errors a kernel without IPv6 gives for a bind to `::`.
fn is_no_ipv6(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT) | Some(libc::EADDRNOTAVAIL) | Some(libc::EPROTONOSUPPORT)
    )
}

/// A connect that failed at once, before any readiness.
pub(crate) enum ConnectFailure {
    /// Binding the requested local address failed: Node reports it as
    /// `bind EADDRINUSE 127.0.0.1:4000`, not as a connect error.
    Bind(Error),
    /// Creating the socket or starting the connect failed (`connect
    /// ECONNREFUSED 127.0.0.1:80`).
    Connect(Error),
}

/// Start a non-blocking connect (libuv's `uv_tcp_bind` +
/// `uv_tcp_connect`); it returns while the handshake is in flight.
pub(crate) fn connect(
    addr: SocketAddr,
    bind: Option<SocketAddr>,
) -> Result<StreamIo, ConnectFailure> {
    tracing::debug!(target: "netloop::net", %addr, ?bind, "connect");
    sys::tcp_connect(addr, bind)
        .map(StreamIo::Tcp)
        .map_err(|(step, e)| match step {
            sys::ConnectStep::Bind => {
                let (la, lp) = bind.map_or((String::new(), 0), |b| (b.ip().to_string(), b.port()));
                ConnectFailure::Bind(Error::syscall_host_port(
                    &e,
                    "bind",
                    Some(&la),
                    Some(lp),
                    None,
                ))
            }
            sys::ConnectStep::Connect => ConnectFailure::Connect(connect_error(addr, bind, &e)),
        })
}

/// Node's `createConnectionError`: `connect ECONNREFUSED 127.0.0.1:80`,
/// with ` - Local (addr:port)` when bound to a local port (Node's
/// `afterConnect` checks `req.localAddress && req.localPort`).
pub(crate) fn connect_error(addr: SocketAddr, bind: Option<SocketAddr>, e: &io::Error) -> Error {
    let local = bind
        .filter(|b| b.port() != 0)
        .map(|b| (b.ip().to_string(), b.port()));
    Error::syscall_host_port(
        e,
        "connect",
        Some(&addr.ip().to_string()),
        Some(addr.port()),
        local.as_ref().map(|(a, p)| (a.as_str(), *p)),
    )
}

/// The `ETIMEDOUT` connect error of a happy-eyeballs attempt that took too
/// long (Node's `internalConnectMultipleTimeout`).
pub(crate) fn connect_timed_out(addr: SocketAddr, bind: Option<SocketAddr>) -> Error {
    connect_error(addr, bind, &io::Error::from_raw_os_error(libc::ETIMEDOUT))
}

/// `TCP_NODELAY` (libuv's `uv_tcp_nodelay`).
pub(crate) fn set_nodelay(io: &StreamIo, enable: bool) -> io::Result<()> {
    match io {
        StreamIo::Tcp(s) => s.set_nodelay(enable),
        StreamIo::Unix(_) => Ok(()),
    }
}

/// Whether `TCP_NODELAY` is set; `None` for Unix sockets.
pub(crate) fn nodelay(io: &StreamIo) -> Option<bool> {
    match io {
        StreamIo::Tcp(s) => s.nodelay().ok(),
        StreamIo::Unix(_) => None,
    }
}

/// Whether `SO_KEEPALIVE` is set; `None` for Unix sockets.
pub(crate) fn keepalive(io: &StreamIo) -> Option<bool> {
    if !io.is_tcp() {
        return None;
    }
    io.sock_ref().keepalive().ok()
}

/// `SO_KEEPALIVE` (libuv's `uv_tcp_keepalive`).
pub(crate) fn set_keepalive(io: &StreamIo, enable: bool, delay: Duration) -> io::Result<()> {
    if !io.is_tcp() {
        return Ok(());
    }
    sys::set_keepalive(io.sock_ref(), enable, delay)
}

/// Arrange for close to send RST (libuv's `uv_tcp_close_reset`).
pub(crate) fn set_reset_on_close(io: &StreamIo) -> io::Result<()> {
    if !io.is_tcp() {
        return Ok(());
    }
    sys::set_linger_zero(io.sock_ref())
}
