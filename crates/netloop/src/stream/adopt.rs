//! Descriptors made elsewhere (std's `TcpStream`, `UnixListener`, a
//! socket2 `Socket`, any `OwnedFd`), adopted by a handle: libuv's
//! `uv_tcp_open` and `uv_pipe_open`, which Node's `new net.Socket({ fd })`
//! and `server.listen({ fd })` use.
//!
//! As libuv's `uv_guess_handle`, the kind comes from the kernel, not from
//! the Rust type the descriptor arrived in: a stream socket of `AF_INET`
//! or `AF_INET6` is TCP, one of `AF_UNIX` a Unix socket (Node's `PIPE`),
//! anything else is refused with Node's `ERR_INVALID_FD_TYPE`. The
//! descriptor is made non-blocking; on any error it is closed.

use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use socket2::{SockRef, Type};

use super::io::{ListenerIo, StreamIo};
use super::listener::Accepted;
use super::tcp::DEFAULT_BACKLOG;
use crate::error::{Error, ErrorCode};
use crate::sys;

/// What a descriptor is, in libuv's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Tcp,
    Pipe,
}

/// Classify `fd` as `uv_guess_handle` does: a stream socket of an IP or
/// Unix family, or `ERR_INVALID_FD_TYPE` naming what it is instead.
fn kind(fd: &OwnedFd) -> Result<Kind, Error> {
    let sock = SockRef::from(fd);
    let (ty, addr) = match sock.r#type().and_then(|ty| Ok((ty, sock.local_addr()?))) {
        Ok(found) => found,
        // Not a socket at all: a file, a pipe, a terminal.
        Err(e) if e.raw_os_error() == Some(libc::ENOTSOCK) => return Err(bad_type("UNKNOWN")),
        Err(e) => return Err(Error::from_syscall(&e, "getsockopt")),
    };
    let ip = addr.is_ipv4() || addr.is_ipv6();
    match ty {
        Type::STREAM if ip => Ok(Kind::Tcp),
        Type::STREAM if addr.is_unix() => Ok(Kind::Pipe),
        Type::DGRAM if ip => Err(bad_type("UDP")),
        _ => Err(bad_type("UNKNOWN")),
    }
}

/// Node's `ERR_INVALID_FD_TYPE` (`new net.Socket({ fd })` on a UDP
/// socket: "Unsupported fd type: UDP").
fn bad_type(what: &str) -> Error {
    Error::new(
        ErrorCode::ERR_INVALID_FD_TYPE,
        format!("Unsupported fd type: {what}"),
    )
}

/// A connected stream socket, made non-blocking, ready to attach.
///
/// # Errors
///
/// `ERR_INVALID_FD_TYPE` for anything but a TCP or Unix stream socket;
/// `ENOTCONN` (syscall `getpeername`) for one that is not connected (never
/// connected, a connect still in flight, or reset).
pub(crate) fn stream(fd: OwnedFd) -> Result<Accepted, Error> {
    let kind = kind(&fd)?;
    // The peer, which also proves the socket is connected (Node would
    // adopt an unconnected socket and fail on the first read; failing here
    // names the actual problem).
    let peer = SockRef::from(&fd)
        .peer_addr()
        .map_err(|e| Error::from_syscall(&e, "getpeername"))?;
    let nonblocking = |e: io::Error| Error::from_syscall(&e, "ioctl");
    let io = match kind {
        Kind::Tcp => {
            let s = std::net::TcpStream::from(fd);
            s.set_nonblocking(true).map_err(nonblocking)?;
            StreamIo::Tcp(mio::net::TcpStream::from_std(s))
        }
        Kind::Pipe => {
            let s = std::os::unix::net::UnixStream::from(fd);
            s.set_nonblocking(true).map_err(nonblocking)?;
            StreamIo::Unix(mio::net::UnixStream::from_std(s))
        }
    };
    tracing::debug!(target: "netloop::net", ?kind, "adopted a connected socket");
    Ok(Accepted::new(io, peer.as_socket()))
}

/// A listening socket, made non-blocking; one that is bound but not
/// listening is made to listen with Node's backlog (libuv's `uv_listen`
/// does the same with the descriptor Node is given). Returns the Unix
/// socket's path too, if it has one.
///
/// # Errors
///
/// `ERR_INVALID_FD_TYPE` for anything but a TCP or Unix stream socket;
/// `listen EINVAL: invalid argument` for one that cannot listen (a
/// connected socket, an unbound Unix socket).
pub(crate) fn listener(fd: OwnedFd) -> Result<(ListenerIo, Option<PathBuf>), Error> {
    let kind = kind(&fd)?;
    sys::ensure_listening(SockRef::from(&fd), DEFAULT_BACKLOG)
        .map_err(|e| Error::uv_host_port(&e, "listen", None, None))?;
    let nonblocking = |e: io::Error| Error::from_syscall(&e, "ioctl");
    let adopted = match kind {
        Kind::Tcp => {
            let l = std::net::TcpListener::from(fd);
            l.set_nonblocking(true).map_err(nonblocking)?;
            (ListenerIo::Tcp(mio::net::TcpListener::from_std(l)), None)
        }
        Kind::Pipe => {
            let l = std::os::unix::net::UnixListener::from(fd);
            l.set_nonblocking(true).map_err(nonblocking)?;
            let path = l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(PathBuf::from));
            (ListenerIo::Unix(mio::net::UnixListener::from_std(l)), path)
        }
    };
    tracing::debug!(target: "netloop::net", ?kind, "adopted a listening socket");
    Ok(adopted)
}
