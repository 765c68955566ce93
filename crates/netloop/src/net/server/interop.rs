//! Servers and std's types: adopting a std listener
//! ([`Server::listen_std`], Node's `server.listen({ fd })`), lending its
//! descriptor (`AsFd`, `AsRawFd`), and identity (`Eq`, `Hash`).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::rc::Rc;

use super::listen::Ticks;
use super::Server;
use crate::cluster::Bound;
use crate::error::{Error, ErrorCode, Result};
use crate::stream::adopt;

/// A listening socket for [`Server::listen_std`]: a
/// `std::net::TcpListener`, a `std::os::unix::net::UnixListener`, or any
/// `OwnedFd` of a bound stream socket, which netloop owns from then on
/// (Node: the `fd` of `server.listen({ fd })`).
///
/// Whether it is TCP or a Unix socket is asked of the kernel, as libuv's
/// `uv_guess_handle` does, not taken from the Rust type it came in.
#[derive(Debug)]
pub struct StdListener(OwnedFd);

impl From<std::net::TcpListener> for StdListener {
    fn from(l: std::net::TcpListener) -> StdListener {
        StdListener(l.into())
    }
}

impl From<std::os::unix::net::UnixListener> for StdListener {
    fn from(l: std::os::unix::net::UnixListener) -> StdListener {
        StdListener(l.into())
    }
}

impl From<OwnedFd> for StdListener {
    fn from(fd: OwnedFd) -> StdListener {
        StdListener(fd)
    }
}

impl Server {
    /// Accept on a listener made elsewhere (Node: `server.listen({ fd })`):
    /// a `std::net::TcpListener`, a `std::os::unix::net::UnixListener`, or
    /// an `OwnedFd`, such as a socket2 socket with options netloop does not
    /// set, or a descriptor a supervisor passed down (systemd socket
    /// activation). netloop takes it over: it is made non-blocking and
    /// attached to this thread's loop; from here on the server behaves as
    /// after [`listen`](Server::listen): [`address`](Server::address) (or
    /// [`path`](Server::path)) and [`listening`](Server::listening) answer
    /// at once, `listening` comes on the next tick, then `connection`s.
    ///
    /// A socket that is bound but not listening yet is made to listen with
    /// Node's backlog of 511, as libuv's `uv_listen` does with the
    /// descriptor Node is given; one that listens keeps its own backlog.
    /// [`close`](Server::close) closes the descriptor but, unlike
    /// [`listen_path`](Server::listen_path), leaves a Unix socket's file
    /// where it is: whoever bound it owns it (libuv does the same).
    ///
    /// # Errors
    ///
    /// At once, and the descriptor is closed: `ERR_SERVER_ALREADY_LISTEN`
    /// while listening; `ERR_INVALID_FD_TYPE` (`Unsupported fd type: UDP`)
    /// for anything but a TCP or Unix stream socket; `listen EINVAL:
    /// invalid argument` for a socket that cannot listen (a connected one,
    /// an unbound Unix socket). Node emits the last two as an `error` event
    /// on the next tick; netloop reports them where the bad argument is
    /// given, as for any invalid argument.
    ///
    /// # Panics
    ///
    /// When the server outlived its loop (as [`listen`](Server::listen)).
    ///
    /// # Examples
    ///
    /// ```
    /// use netloop::net::{self, Server, Socket};
    ///
    /// let greeting = netloop::run_returning(|| {
    ///     let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bound");
    ///     let server = Server::new();
    ///     server.on(Server::CONNECTION, |server, sock| {
    ///         sock.end_with("accepted by netloop");
    ///         server.close();
    ///     });
    ///     server.listen_std(std_listener)?;
    ///     let port = server.address().expect("known at once").port();
    ///
    ///     let greeting = netloop::Slot::new(String::new());
    ///     let client = net::connect(port, "127.0.0.1")?;
    ///     let sink = greeting.clone();
    ///     client.on(Socket::DATA, move |_, data| {
    ///         sink.update(|s| s.push_str(&String::from_utf8_lossy(data)));
    ///     });
    ///     Ok(greeting)
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(greeting, "accepted by netloop");
    /// ```
    pub fn listen_std(&self, listener: impl Into<StdListener>) -> Result<&Server> {
        let fd = listener.into().0;
        {
            let st = self.inner.st.borrow();
            if self.inner.listener.is_attached()
                || st.cluster_listen.is_some()
                || st.binding.is_some()
            {
                return Err(Error::new(
                    ErrorCode::ERR_SERVER_ALREADY_LISTEN,
                    "Listen method has been called more than once without closing.",
                ));
            }
        }
        let (io, path) = adopt::listener(fd)?;
        let local = io.local_addr();
        {
            let mut st = self.inner.st.borrow_mut();
            st.close_scheduled = false;
            st.adopted = true;
        }
        let host = local.map(|a| a.ip().to_string());
        let port = local.map_or(0, |a| a.port());
        // `listening` on the next tick, as Node's `emitListeningNT`.
        self.inner
            .finish_listen(Ok(Bound::Own(io)), path, host, port, Ticks::One);
        Ok(self)
    }

    /// The listening descriptor, lent for as long as this `&Server` is
    /// borrowed (to set options netloop does not wrap, through socket2's
    /// `SockRef`); `None` before listening, while a host name is looked
    /// up, after [`close`](Server::close), and in a
    /// [`cluster`](crate::cluster) worker with the round-robin policy
    /// (the socket is the acceptor's). As for
    /// [`Socket::fd`](crate::net::Socket::fd), a lent descriptor's number
    /// stays reserved (on `/dev/null`) after `close` until the last clone
    /// of the server is dropped.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.inner.listener.fd()
    }
}

/// The listening descriptor (see [`Server::fd`]), so that socket2's
/// `SockRef::from(&server)` takes a server directly.
///
/// # Panics
///
/// When the server has no listening descriptor (before `listen`, while a
/// host name is looked up, after `close`, or in a round-robin cluster
/// worker): check [`Server::fd`] first where that may be so.
impl AsFd for Server {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self.fd() {
            Some(fd) => fd,
            None => panic!(
                "netloop: Server::as_fd on a server with no listening descriptor \
                 (not listening, or listening through a round-robin cluster); \
                 Server::fd() returns None then"
            ),
        }
    }
}

/// The listening descriptor's number, or -1 when there is none (see
/// [`Server::fd`]; any call with it fails with `EBADF`). Prefer
/// [`Server::fd`].
impl AsRawFd for Server {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.listener.raw_fd().unwrap_or(-1)
    }
}

/// Two handles are equal when they are clones of the same server (Node
/// compares objects by identity).
impl PartialEq for Server {
    fn eq(&self, other: &Server) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Server {}

/// Hashes the identity that `==` compares, so servers can be kept in a
/// `HashSet` or as `HashMap` keys (clippy's `mutable_key_type` lint is a
/// false positive, as for [`Socket`](crate::net::Socket)'s `Hash`).
impl std::hash::Hash for Server {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Rc::as_ptr(&self.inner).hash(state);
    }
}
