//! Client sockets for the load generator: non-blocking connects through
//! socket2, handed to mio.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};

use mio::net::TcpStream;
use socket2::{Domain, Protocol, Socket, Type};

/// Start a non-blocking connect to `addr`, from `source` if given (port
/// chosen by the kernel). `TCP_NODELAY` is set: the generator writes whole
/// messages and must not wait for Nagle.
pub(crate) fn connect(addr: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    connect_from(addr, source.map(|ip| SocketAddr::new(ip, 0)))
}

/// Start a non-blocking connect from an explicit source address and port
/// (port 0: the kernel picks). With an explicit port `SO_REUSEADDR` is
/// set, so a port whose last connection sits in TIME_WAIT can be bound
/// again; the kernel then reuses that TIME_WAIT entry (`tcp_tw_reuse`,
/// on for loopback by default).
pub(crate) fn connect_from(addr: SocketAddr, source: Option<SocketAddr>) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_nodelay(true)?;
    if let Some(src) = source {
        if src.port() != 0 {
            socket.set_reuse_address(true)?;
        }
        socket.bind(&src.into())?;
    }
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(socket.into()))
}

/// After a writable event on a connecting stream: `Ok(true)` once
/// connected, `Ok(false)` if still in progress.
pub(crate) fn finish_connect(s: &TcpStream) -> io::Result<bool> {
    if let Some(e) = s.take_error()? {
        return Err(e);
    }
    match s.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e),
    }
}

/// Read until the kernel buffer is drained; returns the bytes read and
/// whether the peer closed. A short read means drained (edge-triggered
/// epoll reports the next arrival), which saves the `EAGAIN` read.
pub(crate) fn read_all(s: &mut TcpStream, buf: &mut [u8]) -> io::Result<(usize, bool)> {
    let mut total = 0;
    loop {
        match s.read(buf) {
            Ok(0) => return Ok((total, true)),
            Ok(n) => {
                total += n;
                if n < buf.len() {
                    return Ok((total, false));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((total, false)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Write up to `owed` bytes from the repeating `payload`; returns how many
/// the kernel took (fewer when its buffer is full).
pub(crate) fn write_owed(s: &mut TcpStream, payload: &[u8], owed: usize) -> io::Result<usize> {
    let mut done = 0;
    while done < owed {
        let n = (owed - done).min(payload.len());
        match s.write(&payload[..n]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(k) => done += k,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
