//! `listen` in a worker (Node: `cluster._getServer`, the worker asking
//! the primary for a handle): where a TCP server's connections come from
//! under each policy, and the table of sockets the workers share.
//!
//! - **Shared**: the worker binds a socket of its own with
//!   `SO_REUSEPORT` on the port the cluster uses for that address; the
//!   first worker to ask for port 0 picks the port, the others get it
//!   (the table remembers it while any worker listens there).
//! - **Round robin**: the first worker to ask binds the one socket and
//!   gives it to the acceptor; every worker's server registers with the
//!   acceptor, which hands it connections in turn. The socket closes once
//!   no worker's server listens on it.
//!
//! The table is behind a mutex, and messages to the acceptor are posted
//! while it is held, so the acceptor sees them in the order the table
//! changed.

use std::io;
use std::time::{Duration, Instant};

use super::acceptor::{self, Target};
use super::state::{lock, ListenKey, Listening};
use super::worker::WorkerContext;
use super::Policy;
use crate::net::Server;
use crate::stream::tcp::{ListenAddr, ListenOpts};
use crate::stream::ListenerIo;

/// How long a `listen` on a fixed port waits for the acceptor to close
/// the old socket on that port (closed by the last worker's server just
/// before): the acceptor does it on its next loop iteration.
const CLOSING_WAIT: Duration = Duration::from_secs(2);

/// What a TCP `listen` got.
pub(crate) enum Bound {
    /// A socket of the server's own: outside a cluster, a Unix path, an
    /// adopted listener, or `exclusive`.
    Own(ListenerIo),
    /// A socket of the server's own on the cluster's port for that
    /// address (shared policy).
    Shared(ListenerIo, ClusterListen),
    /// No socket in this worker: the acceptor hands the server
    /// connections (round robin).
    RoundRobin(ClusterListen),
}

/// A server's place in the cluster's table, given back when it closes.
#[derive(Debug)]
pub(crate) struct ClusterListen {
    key: ListenKey,
    address: std::net::SocketAddr,
    /// Round robin: the acceptor's id of the socket, and the server's key
    /// in the worker's `rr_servers`.
    rr: Option<(u64, usize)>,
}

impl ClusterListen {
    /// The address the server reports: the same in every worker.
    pub(crate) fn address(&self) -> std::net::SocketAddr {
        self.address
    }

    /// True when the server has no socket of its own.
    pub(crate) fn is_round_robin(&self) -> bool {
        self.rr.is_some()
    }
}

fn aborted() -> io::Error {
    io::Error::from(io::ErrorKind::ConnectionAborted)
}

impl WorkerContext {
    /// Bind `server` on `at` as the cluster's policy says.
    ///
    /// # Errors
    ///
    /// The bind's error (`EADDRINUSE`, ...), or `ECONNABORTED` when the
    /// cluster's acceptor has stopped (a shutdown is under way).
    pub(crate) fn listen_tcp(
        &self,
        server: &Server,
        at: ListenAddr,
        opts: &ListenOpts,
    ) -> io::Result<Bound> {
        let index = self.take_index(at, opts.ipv6_only);
        let key = ListenKey {
            at,
            ipv6_only: opts.ipv6_only,
            index,
        };
        let res = match self.state.policy {
            Policy::Shared => self.listen_shared(key, opts),
            Policy::RoundRobin => self.listen_round_robin(server, key, opts),
        };
        if res.is_err() {
            self.free_index(&key);
        }
        res
    }

    fn listen_shared(&self, key: ListenKey, opts: &ListenOpts) -> io::Result<Bound> {
        let mut ports = lock(&self.state.ports);
        let at = ports.table.get(&key).map_or(key.at, |l| l.bound);
        let opts = ListenOpts {
            reuse_port: true,
            ..*opts
        };
        let io = at.listen(&opts)?;
        let address = io
            .local_addr()
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        ports
            .table
            .entry(key)
            .and_modify(|l| l.refs += 1)
            .or_insert(Listening {
                rr_id: None,
                address,
                bound: key.at.with_port(address.port()),
                refs: 1,
            });
        let ticket = ClusterListen {
            key,
            address,
            rr: None,
        };
        Ok(Bound::Shared(io, ticket))
    }

    fn listen_round_robin(
        &self,
        server: &Server,
        key: ListenKey,
        opts: &ListenOpts,
    ) -> io::Result<Bound> {
        let state = &self.state;
        let mut ports = lock(&state.ports);
        if key.at.port() != 0 && !ports.table.contains_key(&key) {
            // The last server on this port closed just before: wait for
            // the acceptor to close its socket, or this bind would fail.
            let until = Instant::now() + CLOSING_WAIT;
            while ports.closing.contains_key(&key.at) {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                ports = state
                    .ports_changed
                    .wait_timeout(ports, left)
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .0;
            }
        }
        let (rr_id, address) = match ports.table.get_mut(&key) {
            Some(l) => {
                let id = l.rr_id.ok_or_else(aborted)?;
                l.refs += 1;
                (id, l.address)
            }
            None => {
                let io = key.at.listen(opts)?;
                let address = io
                    .local_addr()
                    .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
                let id = ports.next_rr_id;
                ports.next_rr_id += 1;
                let bound = key.at.with_port(address.port());
                if !acceptor::open(state, id, io) {
                    return Err(aborted());
                }
                ports.table.insert(
                    key,
                    Listening {
                        rr_id: Some(id),
                        address,
                        bound,
                        refs: 1,
                    },
                );
                (id, address)
            }
        };
        let reg = self.rr_servers.borrow_mut().insert((server.clone(), rr_id));
        let target = Target {
            worker: self.id,
            generation: self.generation,
            reg,
            handle: crate::loop_handle(),
        };
        let ticket = ClusterListen {
            key,
            address,
            rr: Some((rr_id, reg)),
        };
        if !acceptor::add(state, rr_id, target) {
            drop(ports);
            self.unlisten(ticket);
            return Err(aborted());
        }
        Ok(Bound::RoundRobin(ticket))
    }

    /// The server closed (or its loop is being torn down): give back its
    /// place. The last server on a round-robin socket closes it.
    pub(crate) fn unlisten(&self, ticket: ClusterListen) {
        self.free_index(&ticket.key);
        if let Some((_, reg)) = ticket.rr {
            // Dropped after the borrow: the server's last clone may go
            // with it.
            let removed = self.rr_servers.borrow_mut().try_remove(reg);
            drop(removed);
        }
        let state = &self.state;
        let mut ports = lock(&state.ports);
        let Some(entry) = ports.table.get_mut(&ticket.key) else {
            return;
        };
        entry.refs -= 1;
        if let Some((rr_id, reg)) = ticket.rr {
            acceptor::remove(state, rr_id, self.id, self.generation, reg);
        }
        if entry.refs > 0 {
            return;
        }
        let Some(entry) = ports.table.remove(&ticket.key) else {
            return;
        };
        if let Some(rr_id) = entry.rr_id {
            if acceptor::close(state, rr_id, entry.bound) {
                *ports.closing.entry(entry.bound).or_insert(0) += 1;
            }
        }
    }

    /// The lowest index this worker does not hold for the address.
    fn take_index(&self, at: ListenAddr, ipv6_only: bool) -> usize {
        let mut indexes = self.indexes.borrow_mut();
        let used = indexes.entry((at, ipv6_only)).or_default();
        match used.iter().position(|u| !u) {
            Some(i) => {
                used[i] = true;
                i
            }
            None => {
                used.push(true);
                used.len() - 1
            }
        }
    }

    fn free_index(&self, key: &ListenKey) {
        let mut indexes = self.indexes.borrow_mut();
        if let Some(used) = indexes.get_mut(&(key.at, key.ipv6_only)) {
            if let Some(u) = used.get_mut(key.index) {
                *u = false;
            }
            while used.last() == Some(&false) {
                used.pop();
            }
        }
    }
}
