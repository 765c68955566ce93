//! Sockets and std's types: adopting a connected std stream
//! ([`Socket::from_std`], Node's `new net.Socket({ fd })`) and lending the
//! descriptor ([`Socket::fd`], `AsFd`, `AsRawFd`).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use super::state::{Conn, State};
use super::Socket;
use crate::error::Result;
use crate::event_loop;
use crate::net::options::{SocketOptions, DEFAULT_HIGH_WATER_MARK};
use crate::stream::adopt;

/// A connected stream socket for [`Socket::from_std`]: a
/// `std::net::TcpStream`, a `std::os::unix::net::UnixStream`, or any
/// `OwnedFd` (a socket2 `Socket` through `OwnedFd::from`), which netloop
/// owns from then on (Node: the `fd` of `new net.Socket({ fd })`).
///
/// Whether it is TCP or a Unix socket is asked of the kernel, as libuv's
/// `uv_guess_handle` does, not taken from the Rust type it came in.
#[derive(Debug)]
pub struct StdStream(OwnedFd);

impl From<std::net::TcpStream> for StdStream {
    fn from(s: std::net::TcpStream) -> StdStream {
        StdStream(s.into())
    }
}

impl From<std::os::unix::net::UnixStream> for StdStream {
    fn from(s: std::os::unix::net::UnixStream) -> StdStream {
        StdStream(s.into())
    }
}

impl From<OwnedFd> for StdStream {
    fn from(fd: OwnedFd) -> StdStream {
        StdStream(fd)
    }
}

impl Socket {
    /// An open socket over a stream that is already connected (Node: `new
    /// net.Socket({ fd })`): a `std::net::TcpStream`, a
    /// `std::os::unix::net::UnixStream`, or an `OwnedFd`. netloop takes it
    /// over: it is made non-blocking and attached to this thread's loop,
    /// and from here on it is an ordinary open socket, as one a server
    /// accepted. There is no `connect` event (it connected before netloop
    /// saw it); it reads at once, and the bytes wait for a `data` listener
    /// as on any socket; `end`, `finish`, `error` and `close` follow Node's
    /// rules. The peer's address is read from the socket
    /// ([`remote_address`](Socket::remote_address)).
    ///
    /// Use it to hand netloop a connection made elsewhere: by blocking code
    /// before the loop started, by `socketpair`, by a parent process, or by
    /// socket2 with options netloop does not set.
    ///
    /// # Errors
    ///
    /// At once, and the descriptor is closed: `ERR_INVALID_FD_TYPE`
    /// (`Unsupported fd type: UDP`) for anything but a TCP or Unix stream
    /// socket, as Node; `ENOTCONN` (syscall `getpeername`) for a socket
    /// that is not connected, which Node would only report on the first
    /// read.
    ///
    /// # Panics
    ///
    /// Outside [`run`](crate::run).
    ///
    /// # Examples
    ///
    /// A std connection made before the loop runs, adopted inside it:
    ///
    /// ```
    /// use netloop::net::{self, Socket};
    ///
    /// let heard = netloop::run_returning(|| {
    ///     let heard = netloop::Slot::new(Vec::new());
    ///     let server = net::create_server(|server, sock: &Socket| {
    ///         sock.end_with("hello from netloop");
    ///         server.close();
    ///     });
    ///     server.listen(0, "127.0.0.1")?;
    ///     let addr = server.address().expect("bound at once");
    ///
    ///     // A blocking std connect: the kernel completes it from its
    ///     // backlog, before netloop accepts.
    ///     let std_stream = std::net::TcpStream::connect(addr).expect("connected");
    ///     let client = Socket::from_std(std_stream)?;
    ///     assert!(!client.connecting() && client.remote_port() == Some(addr.port()));
    ///     let sink = heard.clone();
    ///     client.on(Socket::DATA, move |_, data| sink.update(|v| v.extend_from_slice(data)));
    ///     Ok(heard)
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(heard, b"hello from netloop");
    /// ```
    pub fn from_std(stream: impl Into<StdStream>) -> Result<Socket> {
        Socket::from_std_with(stream, SocketOptions::default())
    }

    /// [`from_std`](Socket::from_std) with options (Node: `new
    /// net.Socket({ fd, allowHalfOpen })`): `allow_half_open` and
    /// `high_water_mark`.
    ///
    /// # Errors
    ///
    /// As [`from_std`](Socket::from_std).
    ///
    /// # Panics
    ///
    /// Outside [`run`](crate::run).
    pub fn from_std_with(stream: impl Into<StdStream>, opts: SocketOptions) -> Result<Socket> {
        let lp = event_loop::current();
        let conn = adopt::stream(stream.into().0)?;
        let hwm = opts.high_water_mark.unwrap_or(DEFAULT_HIGH_WATER_MARK);
        let mut st = State::new(opts.allow_half_open, hwm);
        st.conn = Conn::Open;
        st.remote = conn.peer();
        // Reading starts at once, as Node's constructor calls `read(0)`
        // for a socket made from a descriptor; bytes wait for a listener.
        st.reading = true;
        Socket::open_with(lp, st, conn)
    }

    /// The socket's descriptor, lent for as long as this `&Socket` is
    /// borrowed, to set what netloop does not wrap (socket2's `SockRef`,
    /// `getsockopt`); `None` when the socket has none (Node has only the
    /// undocumented `socket._handle.fd`, -1 then).
    ///
    /// A socket has a descriptor once its connect started (the tick after
    /// [`connect`](Socket::connect), after any lookup) and until it is
    /// destroyed. While connecting it is the current attempt's: happy
    /// eyeballs may close it and try the next address, so set options for
    /// the connection in a [`Socket::CONNECT`] listener, or before
    /// [`from_std`](Socket::from_std).
    ///
    /// Closing a socket whose descriptor was lent closes the connection as
    /// usual (the peer sees the FIN or RST at once), but the descriptor's
    /// number stays reserved, pointing at `/dev/null`, until the last
    /// clone of the socket is dropped: a `BorrowedFd` taken before a
    /// `destroy()` never names a file opened later, and calls through it
    /// fail with `ENOTSOCK`. This is what makes the loan sound although
    /// any clone can close the socket through `&self`.
    ///
    /// # Examples
    ///
    /// ```
    /// use netloop::net::{self, Socket};
    ///
    /// netloop::run(|| {
    ///     let server = net::create_server(|server, sock: &Socket| {
    ///         // An option netloop does not wrap, through socket2.
    ///         let fd = sock.fd().expect("an accepted socket has one");
    ///         socket2::SockRef::from(&fd).set_recv_buffer_size(64 * 1024).expect("setsockopt");
    ///         sock.destroy();
    ///         assert!(sock.fd().is_none());
    ///         server.close();
    ///     });
    ///     server.listen(0, "127.0.0.1")?;
    ///     let port = server.address().expect("bound at once").port();
    ///     let client = net::connect(port, "127.0.0.1")?;
    ///     assert!(client.fd().is_none()); // the connect starts on a later tick
    ///     client.on(Socket::ERROR, |_, _| {}); // the server may reset it
    ///     Ok(())
    /// })
    /// .expect("the loop ran");
    /// ```
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.inner.stream.fd()
    }
}

/// The socket's descriptor (see [`Socket::fd`]), so that socket2's
/// `SockRef::from(&socket)` and other `AsFd` APIs take a socket directly.
///
/// # Panics
///
/// When the socket has no descriptor: before its connect started, or
/// after it was destroyed. `AsFd` cannot say "none" and a made-up
/// descriptor would be a lie, so check [`Socket::fd`] first where the
/// socket may not be open (inside a [`Socket::CONNECT`] listener, or on a
/// socket from a server's `connection` event, it always has one).
impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self.fd() {
            Some(fd) => fd,
            None => panic!(
                "netloop: Socket::as_fd on a socket with no descriptor (not connected yet, \
                 or destroyed); Socket::fd() returns None then"
            ),
        }
    }
}

/// The socket's descriptor number, or -1 when it has none (before its
/// connect started, after it was destroyed): a raw number promises
/// nothing, and -1 makes any call with it fail with `EBADF`. Prefer
/// [`Socket::fd`].
impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.stream.raw_fd().unwrap_or(-1)
    }
}
