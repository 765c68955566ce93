//! Client sockets for the load generator: non-blocking connects through
//! socket2, handed to mio; and error messages that name the address
//! (`connect 127.0.0.1:7000: Connection refused`).

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
/// epoll reports the next arrival), which saves the `EAGAIN` read; a TLS
/// [`super::tls::Stream`] keeps that promise too.
pub(crate) fn read_all(s: &mut impl Read, buf: &mut [u8]) -> io::Result<(usize, bool)> {
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
pub(crate) fn write_owed(s: &mut impl Write, payload: &[u8], owed: usize) -> io::Result<usize> {
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

/// `OP ADDR: what the OS said`, as in `connect 127.0.0.1:7000: Connection
/// refused`: the operation and the peer first, so a failure on a machine
/// running several servers says which one failed.
pub(crate) fn describe(op: &str, addr: SocketAddr, e: &io::Error) -> String {
    format!("{op} {addr}: {}", os_message(e))
}

/// [`describe`] as an `io::Error` of the same kind.
pub(crate) fn error(op: &str, addr: SocketAddr, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), describe(op, addr, &e))
}

/// The OS's words for an error without std's ` (os error 111)` suffix,
/// which repeats the errno the words already name.
pub(crate) fn os_message(e: &io::Error) -> String {
    let text = e.to_string();
    match e.raw_os_error() {
        Some(code) => text
            .strip_suffix(&format!(" (os error {code})"))
            .unwrap_or(&text)
            .to_owned(),
        None => text,
    }
}

/// What a connection that ended before it should have says: the server
/// closed it.
pub(crate) fn closed(addr: SocketAddr) -> String {
    format!("read {addr}: the server closed the connection")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_operation_and_the_address() {
        let addr: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(
            describe("connect", addr, &refused),
            "connect 127.0.0.1:7000: Connection refused"
        );
        let e = error("read", addr, io::Error::other("boom"));
        assert_eq!(e.to_string(), "read 127.0.0.1:7000: boom");
    }
}
