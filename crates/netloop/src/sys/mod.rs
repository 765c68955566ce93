//! The operating-system layer: the only place that knows which kernel it
//! runs on.
//!
//! Every backend provides the same small contract, used by the handle layer
//! (`tcp.rs`, `pipe.rs`) and nothing else:
//!
//! - create a listening TCP socket with Node's options (backlog,
//!   `SO_REUSEADDR`, `IPV6_V6ONLY`, `SO_REUSEPORT`), non-blocking;
//! - start a non-blocking TCP connect, optionally from a local address,
//!   returning while the handshake is in flight (`EINPROGRESS`);
//! - the same two for Unix domain sockets, including Linux abstract names;
//! - socket options Node exposes (`TCP_NODELAY`, `SO_KEEPALIVE` with its
//!   idle time, `SO_LINGER {1, 0}` for resets);
//! - what an `accept` error means (skip it, out of descriptors, or retry
//!   later), and a spare descriptor to close when out of them (libuv's
//!   EMFILE trick);
//! - process facts the tools need (raising `RLIMIT_NOFILE`);
//! - adopting descriptors made elsewhere (`listen(2)` on a bound socket
//!   that does not listen yet), and lending descriptors to `AsFd` callers
//!   soundly although a shared handle can close them (`lend.rs`).
//!
//! Readiness itself comes from mio (epoll on Linux, kqueue on the BSDs),
//! registered edge-triggered, once per fd.

#[cfg(unix)]
mod lend;
#[cfg(unix)]
mod unix;

#[cfg(unix)]
pub(crate) use lend::{lend, release, retire};

#[cfg(unix)]
pub(crate) use unix::*;

#[cfg(not(unix))]
compile_error!("netloop supports Unix-like systems (epoll or kqueue through mio) only");
