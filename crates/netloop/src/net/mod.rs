//! Node's `net` module: TCP and Unix-socket [`Server`]s and [`Socket`]s.
//!
//! | Node | netloop |
//! | --- | --- |
//! | `net.createServer([options][, listener])` | [`create_server`], [`create_server_with`], [`Server::new`] |
//! | `net.connect(port, host)`, `net.createConnection(port, host)` | [`connect`], [`create_connection`] |
//! | `net.connect(path)` | [`connect_path`] |
//! | `net.connect(options)` | [`connect_with`] with [`ConnectOptions`] |
//! | `new net.Socket([options])` | [`Socket::new`], [`Socket::with_options`] |
//! | `new net.Socket({ fd })`, `server.listen({ fd })` | [`Socket::from_std`], [`Server::listen_std`] (std's `TcpStream`, `UnixListener`, ..., or an `OwnedFd`) |
//! | `net.isIP`, `net.isIPv4`, `net.isIPv6` | [`is_ip`], [`is_ipv4`], [`is_ipv6`] |
//! | `net.BlockList`, `net.SocketAddress` | [`BlockList`], [`SocketAddress`] |
//! | `net.getDefaultAutoSelectFamily()` and its siblings | [`default_auto_select_family`], [`set_default_auto_select_family`], [`default_auto_select_family_attempt_timeout`], [`set_default_auto_select_family_attempt_timeout`] |
//!
//! Everything here runs on the loop of [`netloop::run`](crate::run), and
//! follows Node's two rules: an invalid argument is an `Err` from the call;
//! an operational failure (refused, in use, reset, not found) is an `error`
//! event on a later tick. [`Server`] and [`Socket`] explain their
//! lifecycles, events and errors in detail.
//!
//! Node's introductory example, a server that echoes what it is told and a
//! client that talks to it:
//!
//! ```js
//! const server = net.createServer((sock) => {
//!   sock.on('data', (data) => sock.write(`You said "${data}"`));
//! });
//! server.listen(6969, '127.0.0.1');
//! const client = net.connect(6969, '127.0.0.1', () => client.write('I am Chuck Norris!'));
//! client.on('data', (data) => { console.log(`DATA: ${data}`); client.destroy(); });
//! client.on('close', () => console.log('Connection closed'));
//! ```
//!
//! In netloop (on port 0, which picks a free port):
//!
//! ```
//! use netloop::net::{self, Socket};
//! use netloop::Slot;
//!
//! // `run_returning` hands back what the callbacks put in the slot.
//! let replies = netloop::run_returning(|| {
//!     let replies = Slot::new(Vec::new());
//!     let server = net::create_server(|_, sock: &Socket| {
//!         sock.on(Socket::DATA, |s, data| {
//!             s.write(format!("You said \"{}\"", String::from_utf8_lossy(data)));
//!         });
//!     });
//!     server.listen(0, "127.0.0.1")?;
//!     let port = server.address().expect("bound at once").port();
//!
//!     let client = net::connect(port, "127.0.0.1")?;
//!     client.once(Socket::CONNECT, |c, _| {
//!         c.write("I am Chuck Norris!");
//!     });
//!     let sink = replies.clone();
//!     client.on(Socket::DATA, move |c, data| {
//!         sink.update(|r| r.push(String::from_utf8_lossy(data).into_owned()));
//!         c.destroy();
//!     });
//!     client.on(Socket::CLOSE, move |_, _had_error| {
//!         server.close(); // the loop ends once nothing is left
//!     });
//!     Ok(replies)
//! })
//! .expect("the loop ran");
//! assert_eq!(replies, ["You said \"I am Chuck Norris!\""]);
//! ```

mod blocklist;
mod options;
mod server;
pub(crate) mod socket;

use std::path::Path;

pub use crate::ip::{is_ip, is_ipv4, is_ipv6};
pub use blocklist::{BlockList, SocketAddress};
pub use options::{
    default_auto_select_family, default_auto_select_family_attempt_timeout,
    set_default_auto_select_family, set_default_auto_select_family_attempt_timeout,
    ClientErrorInfo, ConnectOptions, ConnectionAttempt, DropInfo, Encoding, Family, ListenOptions,
    Lookup, LookupCallback, LookupInfo, ReadyState, ServerOptions, SocketOptions,
    DEFAULT_AUTO_SELECT_FAMILY_ATTEMPT_TIMEOUT, DEFAULT_HIGH_WATER_MARK,
};
pub(crate) use server::WeakServer;
pub use server::{Server, StdListener};
pub use socket::{Socket, StdStream};

use crate::error::Result;

/// A server whose `connection` listener is `listener` (Node:
/// `net.createServer(listener)`). Call [`Server::listen`] next; the
/// [`Server`] documentation has the whole story.
///
/// # Panics
///
/// Outside [`run`](crate::run).
pub fn create_server(listener: impl FnMut(&Server, &Socket) + 'static) -> Server {
    create_server_with(ServerOptions::default(), listener)
}

/// A server with options, whose `connection` listener is `listener` (Node:
/// `net.createServer(options, listener)`). See [`ServerOptions`], and
/// [`Socket::end`] and [`Socket::pause`] for examples.
///
/// # Panics
///
/// Outside [`run`](crate::run).
pub fn create_server_with(
    options: ServerOptions,
    listener: impl FnMut(&Server, &Socket) + 'static,
) -> Server {
    let server = Server::with_options(options);
    server.on(Server::CONNECTION, listener);
    server
}

/// A new socket connecting to `host:port` (Node: `net.connect(port, host)`);
/// see [`Socket::connect`]. Node's `connect(port, host, listener)` is
/// `.once(Socket::CONNECT, listener)` on the result.
///
/// # Errors
///
/// At once: `ERR_SOCKET_BAD_PORT` for port 0. Connection failures
/// (`ECONNREFUSED`, `ENOTFOUND`, ...) arrive as an `error` event.
///
/// # Panics
///
/// Outside [`run`](crate::run).
pub fn connect(port: u16, host: &str) -> Result<Socket> {
    let s = Socket::new();
    s.connect(port, host)?;
    Ok(s)
}

/// A new socket connecting to a Unix socket (Node: `net.connect(path)`);
/// see [`Server::listen_path`] for an example.
///
/// # Errors
///
/// None at once; failures (`ENOENT`, `ECONNREFUSED`, `EACCES`) arrive as an
/// `error` event.
///
/// # Panics
///
/// Outside [`run`](crate::run).
pub fn connect_path(path: impl AsRef<Path>) -> Result<Socket> {
    let s = Socket::new();
    s.connect_path(path)?;
    Ok(s)
}

/// A new socket connecting with options (Node: `net.connect(options)`); its
/// `allow_half_open` and `high_water_mark` come from `options` too. See
/// [`Socket::connect_with`] for an example.
///
/// # Errors
///
/// As [`Socket::connect_with`]: `ERR_SOCKET_BAD_PORT`,
/// `ERR_INVALID_IP_ADDRESS` for a bad `local_address`.
///
/// # Panics
///
/// Outside [`run`](crate::run).
pub fn connect_with(options: ConnectOptions) -> Result<Socket> {
    let s = Socket::with_options(SocketOptions {
        allow_half_open: options.allow_half_open,
        high_water_mark: options.high_water_mark,
    });
    s.connect_with(options)?;
    Ok(s)
}

/// Alias of [`connect`] (Node: `net.createConnection(port, host)`).
///
/// # Errors
///
/// As [`connect`].
///
/// # Panics
///
/// Outside [`run`](crate::run).
pub fn create_connection(port: u16, host: &str) -> Result<Socket> {
    connect(port, host)
}
