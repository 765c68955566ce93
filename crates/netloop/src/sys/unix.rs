//! Unix sockets through socket2, handed to mio as non-blocking sources, and
//! the process facts the handle layer needs (a spare descriptor, what an
//! `accept` error means, `RLIMIT_NOFILE`).

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, TcpKeepalive, Type};

/// Options for a listening TCP socket.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TcpListenOpts {
    pub backlog: i32,
    pub ipv6_only: bool,
    pub reuse_port: bool,
}

/// Bind and listen on `addr`. `SO_REUSEADDR` is always set, as libuv does,
/// so a restarted server can bind while old connections sit in TIME_WAIT.
pub(crate) fn tcp_listen(
    addr: SocketAddr,
    opts: &TcpListenOpts,
) -> io::Result<mio::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        // Linux defaults to dual-stack; Node asks for v6-only explicitly
        // when `ipv6Only` is set and leaves the default otherwise.
        socket.set_only_v6(opts.ipv6_only)?;
    }
    if opts.reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(opts.backlog)?;
    Ok(mio::net::TcpListener::from_std(socket.into()))
}

/// Which step of [`tcp_connect`] failed: Node reports a failed local bind
/// as `bind EADDRINUSE 127.0.0.1:4000`, not as a connect error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConnectStep {
    /// Binding to the requested local address/port.
    Bind,
    /// Creating the socket or starting the connect.
    Connect,
}

/// Start a non-blocking connect to `addr`, bound first to `local` if given.
/// Returns while the handshake is in flight; completion shows as
/// writability, and `SO_ERROR` tells the outcome.
pub(crate) fn tcp_connect(
    addr: SocketAddr,
    local: Option<SocketAddr>,
) -> Result<mio::net::TcpStream, (ConnectStep, io::Error)> {
    let connect_err = |e| (ConnectStep::Connect, e);
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(connect_err)?;
    socket.set_nonblocking(true).map_err(connect_err)?;
    if let Some(local) = local {
        // libuv's `uv__tcp_bind` sets SO_REUSEADDR before every bind, so a
        // local port still in TIME_WAIT can be bound again, as in Node.
        socket
            .set_reuse_address(true)
            .and_then(|()| socket.bind(&local.into()))
            .map_err(|e| (ConnectStep::Bind, e))?;
    }
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(connect_err(e)),
    }
    Ok(mio::net::TcpStream::from_std(socket.into()))
}

/// A Unix socket address: a path, or a Linux abstract name when the path
/// starts with a NUL byte (socket2 encodes both).
fn unix_addr(path: &Path) -> io::Result<SockAddr> {
    SockAddr::unix(path).map_err(|e| {
        if e.kind() == io::ErrorKind::InvalidInput {
            io::Error::from_raw_os_error(libc::ENAMETOOLONG)
        } else {
            e
        }
    })
}

/// Bind and listen on a Unix socket path. An existing file is never
/// removed: binding over it fails with `EADDRINUSE`, as in libuv.
pub(crate) fn unix_listen(path: &Path, backlog: i32) -> io::Result<mio::net::UnixListener> {
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    socket.bind(&unix_addr(path)?)?;
    socket.listen(backlog)?;
    let std_listener: std::os::unix::net::UnixListener = socket.into();
    Ok(mio::net::UnixListener::from_std(std_listener))
}

/// Connect to a Unix socket. A local connect completes or fails at once;
/// `EAGAIN` (the listener's backlog is full) is reported as is.
pub(crate) fn unix_connect(path: &Path) -> io::Result<mio::net::UnixStream> {
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    match socket.connect(&unix_addr(path)?) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let std_stream: std::os::unix::net::UnixStream = socket.into();
    Ok(mio::net::UnixStream::from_std(std_stream))
}

/// `SO_LINGER {1, 0}`: closing the socket then sends RST instead of FIN
/// (Node's `resetAndDestroy`).
pub(crate) fn set_linger_zero(sock: SockRef<'_>) -> io::Result<()> {
    sock.set_linger(Some(Duration::ZERO))
}

/// `SO_KEEPALIVE`, and with a delay of at least a second the idle time
/// before the first probe (Node's `setKeepAlive(enable, initialDelay)`).
/// As libuv 1.46 (Node 20), a delay also sets a 1 s probe interval and 10
/// probes; a delay under a second leaves the system's idle time unchanged
/// (Node's docs: "Setting 0 for initialDelay will leave the value
/// unchanged"; libuv's `TCP_KEEPIDLE` of 0 fails and is ignored).
pub(crate) fn set_keepalive(sock: SockRef<'_>, enable: bool, delay: Duration) -> io::Result<()> {
    if !enable || delay.as_secs() == 0 {
        return sock.set_keepalive(enable);
    }
    let params = TcpKeepalive::new()
        .with_time(Duration::from_secs(delay.as_secs()))
        .with_interval(Duration::from_secs(1))
        .with_retries(10);
    sock.set_tcp_keepalive(&params)
}

/// A descriptor held in reserve so that a listener out of descriptors can
/// still take connections off its queue and close them (libuv's
/// `loop->emfile_fd`; see `stream/listener.rs`). Dropping it closes it.
pub(crate) struct SpareFd {
    _held: std::fs::File,
}

impl SpareFd {
    /// Open the spare: `/dev/null` read-only and close-on-exec (std opens
    /// every file with `O_CLOEXEC`), or `/` where `/dev/null` is missing,
    /// as libuv's `uv__stream_init` does.
    pub(crate) fn open() -> io::Result<SpareFd> {
        std::fs::File::open("/dev/null")
            .or_else(|_| std::fs::File::open("/"))
            .map(|held| SpareFd { _held: held })
    }
}

/// What a failed `accept` means for the accept loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AcceptFailure {
    /// Nothing is pending (`EAGAIN`).
    Drained,
    /// This one connection failed and left the queue; the next may be
    /// fine. `EINTR`; `ECONNABORTED` (reset before it was taken; libuv
    /// skips it too); and the network errors Linux passes on from the new
    /// socket, which accept(2) says "should be treated like EAGAIN by
    /// retrying" (`ENETDOWN`, `EPROTO`, `ENOPROTOOPT`, `EHOSTDOWN`,
    /// `ENONET`, `EHOSTUNREACH`, `EOPNOTSUPP`, `ENETUNREACH`), with
    /// `EPERM` (a firewall rule refused this connection).
    Skip,
    /// The process (`EMFILE`) or the system (`ENFILE`) is out of file
    /// descriptors: the connection is still queued.
    OutOfDescriptors,
    /// Anything else (`ENOBUFS`, `ENOMEM`): the connection is still
    /// queued; try again later.
    Other,
}

/// Classify an `accept` error (see [`AcceptFailure`]).
pub(crate) fn accept_failure(e: &io::Error) -> AcceptFailure {
    if e.kind() == io::ErrorKind::WouldBlock {
        return AcceptFailure::Drained;
    }
    match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE) => AcceptFailure::OutOfDescriptors,
        Some(
            libc::EINTR
            | libc::ECONNABORTED
            | libc::ENETDOWN
            | libc::EPROTO
            | libc::ENOPROTOOPT
            | libc::EHOSTDOWN
            | libc::EHOSTUNREACH
            | libc::EOPNOTSUPP
            | libc::ENETUNREACH
            | libc::EPERM,
        ) => AcceptFailure::Skip,
        #[cfg(target_os = "linux")]
        Some(libc::ENONET) => AcceptFailure::Skip,
        _ => AcceptFailure::Other,
    }
}

/// Raise the soft `RLIMIT_NOFILE` to the hard limit; returns the new soft
/// limit. Load tools holding many connections call this.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for the duration of the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: `lim` is a valid rlimit read above; the kernel only reads it.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(lim.rlim_cur)
}

/// Make an adopted socket listen with `backlog`, as libuv's `uv_listen`
/// does with the descriptor Node's `server.listen({ fd })` is given. One
/// that already listens keeps its own backlog where the kernel can tell
/// (`SO_ACCEPTCONN`); elsewhere `listen(2)` runs again, which only
/// changes the backlog.
pub(crate) fn ensure_listening(sock: SockRef<'_>, backlog: i32) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    if sock.is_listener()? {
        return Ok(());
    }
    sock.listen(backlog)
}
