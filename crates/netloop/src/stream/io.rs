//! The descriptors a stream handle owns: a connected TCP or Unix stream,
//! or a listening socket of either kind (mio's non-blocking wrappers).

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use socket2::SockRef;

/// The fd of a connected stream.
pub(crate) enum StreamIo {
    Tcp(mio::net::TcpStream),
    Unix(mio::net::UnixStream),
}

impl StreamIo {
    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            StreamIo::Tcp(s) => (&*s).read(buf),
            StreamIo::Unix(s) => (&*s).read(buf),
        }
    }

    pub(crate) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            StreamIo::Tcp(s) => (&*s).write(buf),
            StreamIo::Unix(s) => (&*s).write(buf),
        }
    }

    pub(crate) fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            StreamIo::Tcp(s) => (&*s).write_vectored(bufs),
            StreamIo::Unix(s) => (&*s).write_vectored(bufs),
        }
    }

    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        match self {
            StreamIo::Tcp(s) => s.shutdown(Shutdown::Write),
            StreamIo::Unix(s) => s.shutdown(Shutdown::Write),
        }
    }

    /// `SO_ERROR`: the outcome of a non-blocking connect.
    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            StreamIo::Tcp(s) => s.take_error(),
            StreamIo::Unix(s) => s.take_error(),
        }
    }

    pub(crate) fn peer_addr(&self) -> io::Result<Option<SocketAddr>> {
        match self {
            StreamIo::Tcp(s) => s.peer_addr().map(Some),
            StreamIo::Unix(s) => s.peer_addr().map(|_| None),
        }
    }

    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            StreamIo::Tcp(s) => s.local_addr().ok(),
            StreamIo::Unix(_) => None,
        }
    }

    pub(crate) fn sock_ref(&self) -> SockRef<'_> {
        match self {
            StreamIo::Tcp(s) => SockRef::from(s),
            StreamIo::Unix(s) => SockRef::from(s),
        }
    }

    pub(crate) fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            StreamIo::Tcp(s) => s,
            StreamIo::Unix(s) => s,
        }
    }

    pub(crate) fn is_tcp(&self) -> bool {
        matches!(self, StreamIo::Tcp(_))
    }
}

impl AsFd for StreamIo {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            StreamIo::Tcp(s) => s.as_fd(),
            StreamIo::Unix(s) => s.as_fd(),
        }
    }
}

impl From<StreamIo> for OwnedFd {
    fn from(io: StreamIo) -> OwnedFd {
        match io {
            StreamIo::Tcp(s) => s.into(),
            StreamIo::Unix(s) => s.into(),
        }
    }
}

/// The fd of a listening socket.
pub(crate) enum ListenerIo {
    Tcp(mio::net::TcpListener),
    Unix(mio::net::UnixListener),
}

impl ListenerIo {
    /// Accept one connection and its peer address (`accept4` reports it, so
    /// no `getpeername` is needed); `WouldBlock` when the backlog is empty.
    pub(crate) fn accept(&self) -> io::Result<(StreamIo, Option<SocketAddr>)> {
        match self {
            ListenerIo::Tcp(l) => l.accept().map(|(s, peer)| (StreamIo::Tcp(s), Some(peer))),
            ListenerIo::Unix(l) => l.accept().map(|(s, _)| (StreamIo::Unix(s), None)),
        }
    }

    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            ListenerIo::Tcp(l) => l.local_addr().ok(),
            ListenerIo::Unix(_) => None,
        }
    }

    pub(crate) fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            ListenerIo::Tcp(l) => l,
            ListenerIo::Unix(l) => l,
        }
    }
}

impl AsFd for ListenerIo {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            ListenerIo::Tcp(l) => l.as_fd(),
            ListenerIo::Unix(l) => l.as_fd(),
        }
    }
}

impl From<ListenerIo> for OwnedFd {
    fn from(io: ListenerIo) -> OwnedFd {
        match io {
            ListenerIo::Tcp(l) => l.into(),
            ListenerIo::Unix(l) => l.into(),
        }
    }
}
