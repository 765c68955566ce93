//! TCP handles (libuv's `uv_tcp_t`): listening and connecting sockets,
//! created through `sys` and driven as [`Stream`](crate::stream::Stream)s.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::stream::{ListenerIo, StreamIo};
use crate::sys;

/// Node's default backlog: 511, because the kernel rounds `backlog + 1` up
/// to a power of two (`roundup_pow_of_two` in `net/socket.c`), so 511 asks
/// for exactly 512 slots.
pub(crate) const DEFAULT_BACKLOG: i32 = 511;

/// Options for [`listen`].
pub(crate) struct ListenOpts {
    pub backlog: i32,
    pub ipv6_only: bool,
    pub reuse_port: bool,
}

/// Bind and listen, non-blocking (libuv's `uv_tcp_bind` + `uv_listen`).
pub(crate) fn listen(addr: SocketAddr, opts: &ListenOpts) -> io::Result<ListenerIo> {
    let listener = sys::tcp_listen(
        addr,
        &sys::TcpListenOpts {
            backlog: opts.backlog,
            ipv6_only: opts.ipv6_only,
            reuse_port: opts.reuse_port,
        },
    )?;
    tracing::debug!(target: "netloop::net", %addr, "listen");
    Ok(ListenerIo::Tcp(listener))
}

pub(crate) use crate::sys::ConnectStep;

/// Start a non-blocking connect (libuv's `uv_tcp_bind` + `uv_tcp_connect`);
/// a failure says whether the local bind or the connect failed.
pub(crate) fn connect(
    addr: SocketAddr,
    local: Option<SocketAddr>,
) -> Result<StreamIo, (ConnectStep, io::Error)> {
    tracing::debug!(target: "netloop::net", %addr, ?local, "connect");
    sys::tcp_connect(addr, local).map(StreamIo::Tcp)
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
