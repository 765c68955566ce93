//! The library's integration tests, by area, in one test binary (it links
//! once, as ripgrep's `tests/integration.rs` does).
//!
//! Nothing in this binary spawns a process: a child holds a copy of every
//! descriptor between `fork` and `exec`, which would keep a listener that a
//! parallel test just closed accepting for that window (see `util`). Tests
//! that need a fresh process live in `tests/fresh_process.rs`; tests that
//! run the CLI or `node` live in the root package's `tests/`.

#[path = "../util/certs.rs"]
mod certs;
#[path = "../util/mod.rs"]
mod util;

mod cluster;
mod dns_lookup;
mod event_loop_phases;
mod event_loop_run;
mod events_emitter;
mod framing;
mod io_errors;
mod loop_handle;
mod misuse;
mod net_server_connections;
mod net_server_listen;
mod net_socket_connect;
mod net_socket_io;
mod node_conformance;
mod node_net_addresses;
mod node_net_blocklist;
mod node_net_connect;
mod node_net_errors;
mod node_net_flow;
mod node_net_half_open;
mod node_net_happy_eyeballs;
mod node_net_listen;
mod node_net_pingpong;
mod node_net_ref;
mod node_net_server;
mod node_net_timeouts;
mod node_net_unix;
mod peer_faults;
mod port_gaps;
mod proxy_protocol;
mod std_interop;
mod tls;
mod tls_server;
