//! # netloop
//!
//! Node.js's `net` module rebuilt in Rust: a libuv-style event loop, TCP
//! and Unix-socket handles, and [`Server`](net::Server) /
//! [`Socket`](net::Socket) objects that are event emitters with Node's
//! semantics.
//!
//! ```
//! use netloop::net::{self, Socket};
//!
//! fn main() -> netloop::Result<()> {
//!     netloop::run(|| {
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
//!         client.on(Socket::DATA, |c, data| {
//!             println!("DATA: {}", String::from_utf8_lossy(data));
//!             c.destroy();
//!         });
//!         client.on(Socket::CLOSE, move |_, _| {
//!             println!("Connection closed");
//!             server.close();
//!         });
//!         Ok(())
//!     })
//! }
//! ```
//!
//! ## Layers
//!
//! - [`net`]: Node's semantics (events, options, state machines);
//! - `tcp`, `pipe`, `stream`, [`dns`]: libuv's handles and requests;
//! - `event_loop`: phases, timers, `next_tick`, thread pool, ref counting;
//! - `sys`: the operating system (the only `unsafe`).
//!
//! For more cores, [`cluster`] runs one loop per thread in one process.
//!
//! See `docs/design.md` for the loop's phases and rules.

#![deny(missing_docs)]

mod error;
mod event_loop;
mod pipe;
mod stream;
mod sys;
mod tcp;

pub mod cluster;
pub mod dns;
pub mod events;
pub mod net;
pub mod timers;

pub use error::{Error, ErrorCode, Result};
pub use event_loop::{next_tick, run};

/// Process-level helpers for tools built on netloop.
pub mod process {
    /// Raise this process's open-file limit to its hard limit (for servers
    /// and load generators holding many connections); returns the new limit.
    ///
    /// # Errors
    ///
    /// The `getrlimit`/`setrlimit` failure.
    pub fn raise_fd_limit() -> std::io::Result<u64> {
        crate::sys::raise_nofile_limit()
    }
}
