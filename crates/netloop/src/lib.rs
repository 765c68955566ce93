//! # netloop
//!
//! Node.js's `net` module rebuilt in Rust: a libuv-style event loop, TCP
//! and Unix-socket handles, and [`Server`](net::Server) /
//! [`Socket`](net::Socket) objects that are event emitters with Node's
//! semantics. Code reads like its Node original, with Node's names in Rust
//! case (`createServer` is [`create_server`](net::create_server),
//! `bytesRead` is [`bytes_read()`](net::Socket::bytes_read)):
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use netloop::net::{self, Socket};
//!
//! fn main() -> netloop::Result<()> {
//!     let heard = Rc::new(RefCell::new(Vec::new()));
//!     let sink = Rc::clone(&heard);
//!     netloop::run(move || {
//!         let server = net::create_server(|_, sock: &Socket| {
//!             println!("CONNECTED: {:?}:{:?}", sock.remote_address(), sock.remote_port());
//!             sock.on(Socket::DATA, |s, data| {
//!                 s.write(format!("You said \"{}\"", String::from_utf8_lossy(data)));
//!             });
//!         });
//!         server.listen(0, "127.0.0.1")?;
//!         let port = server.address().expect("bound at once").port();
//!
//!         let client = net::connect(port, "127.0.0.1")?;
//!         client.on(Socket::CONNECT, |c, _| {
//!             c.write("I am Chuck Norris!");
//!         });
//!         client.on(Socket::DATA, move |c, data| {
//!             sink.borrow_mut().push(String::from_utf8_lossy(data).into_owned());
//!             c.destroy();
//!         });
//!         client.on(Socket::CLOSE, move |_, _| {
//!             println!("Connection closed");
//!             server.close();
//!         });
//!         Ok(())
//!     })?;
//!     assert_eq!(*heard.borrow(), ["You said \"I am Chuck Norris!\""]);
//!     Ok(())
//! }
//! ```
//!
//! ## Where to start
//!
//! - [`run`]: the loop, and the rule for when it ends; [`next_tick`];
//!   [`run_returning`] and [`Slot`] for a value the loop produces.
//! - [`net::Server`] and [`net::Socket`]: lifecycles, event orders,
//!   backpressure, half-open sockets, errors, timeouts. The [`net`] module
//!   lists Node's functions next to netloop's.
//! - [`events`]: typed events (`on`, `once`, `off`, `emit`).
//! - [`timers`]: `set_timeout`, `set_interval`, `set_immediate`.
//! - [`dns`]: `lookup` on the thread pool.
//! - [`Error`] and [`ErrorCode`]: Node's codes and messages.
//! - [`cluster`]: one loop per core, in one process.
//! - [`framing`]: lines and length-prefixed frames out of a socket's bytes
//!   (Node's `readline` over a socket), bounded and without copies.
//! - [`LoopHandle`] ([`loop_handle`]) and [`channel`]: other threads hand
//!   work to a running loop.
//! - [`signals`]: Node's `process.on('SIGINT')`, for graceful shutdown.
//! - [`proxy`]: the PROXY protocol (versions 1 and 2), so a server behind
//!   a load balancer sees the real clients, and a proxy can pass them on.
//!
//! ## Node's rules, kept
//!
//! Every handle is `!Send` and belongs to the loop of its thread; other
//! threads reach a loop through a [`LoopHandle`] or a [`channel`]. User
//! code is never called from inside the user's own call: an error found inside
//! `connect()` or `listen()` is an event on the next tick. An invalid
//! argument is an `Err` from the call; an operational failure is an `error`
//! event, and an `error` nobody listens to ends [`run`] with that error.
//! Where Node has a known wart, netloop does the better thing and says so
//! in the item's docs (`listen` binds IP literals synchronously, bytes are
//! never dropped for want of a `data` listener).
//!
//! ## Layers
//!
//! - [`framing`]: built on [`net`]'s public API only;
//! - [`proxy`]: the header's types and parser (a leaf the stream layer
//!   uses to read a header before `connection`);
//! - [`net`]: Node's semantics (events, options, state machines);
//! - `stream` (with its `tcp` and `pipe` kinds), [`dns`]: libuv's
//!   handles and requests;
//! - `event_loop`: phases, timers, `next_tick`, thread pool, ref counting;
//! - `sys`: the operating system (the only `unsafe`).
//!
//! See `docs/design.md` for the loop's phases and rules, and
//! `docs/node-parity.md` for every item of Node's `net` module with the
//! test that compares it.

#![deny(missing_docs)]
// `unsafe` lives in `sys` only, each block with a `// SAFETY:` comment.
#![deny(unsafe_code)]

mod error;
mod event_loop;
mod ip;
mod slot;
mod stream;
#[allow(unsafe_code)]
mod sys;

pub mod cluster;
pub mod dns;
pub mod events;
pub mod framing;
pub mod net;
pub mod proxy;
pub mod signals;
pub mod timers;
pub mod tls;

pub use error::{Error, ErrorCode, Result};
pub use event_loop::{channel, loop_handle, next_tick, run, LoopHandle, Sender};
pub use slot::{run_returning, Slot};

/// Process-level helpers for tools built on netloop.
pub mod process {
    /// Raise this process's open-file limit (`RLIMIT_NOFILE`) to its hard
    /// limit, for servers and load generators holding many connections;
    /// returns the new limit (Node has no API for it: `ulimit -n` in the
    /// shell).
    ///
    /// # Errors
    ///
    /// The `getrlimit`/`setrlimit` failure.
    pub fn raise_fd_limit() -> std::io::Result<u64> {
        crate::sys::raise_nofile_limit()
    }
}
