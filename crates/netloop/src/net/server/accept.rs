//! Accepting: Node's `onconnection` (the block list, `maxConnections`,
//! the `Socket` made for each connection), the PROXY protocol header read
//! before `connection`, and the connection count the sockets keep up to
//! date. Connections a cluster's round-robin acceptor hands to this worker
//! come in here too ([`Server::adopt`]).

use std::net::SocketAddr;
use std::rc::Rc;

use super::{Server, ServerInner};
use crate::error::Error;
use crate::net::options::{ClientErrorInfo, DropInfo, Family};
use crate::net::socket::ConnectionOwner;
use crate::net::Socket;
use crate::stream::{Accepted, ListenerOwner};

impl ServerInner {
    /// Node's `onconnection`: enforce the block list and
    /// `maxConnections`, wrap the accepted handle in a `Socket`, emit
    /// `connection`.
    fn on_connection_accepted(self: &Rc<Self>, server: &Server, conn: Accepted) {
        let (over_limit, opts) = {
            let st = self.st.borrow();
            let over = matches!(st.max_connections, Some(max) if st.connections >= max);
            (over, st.opts.clone())
        };
        let peer = conn.peer();
        let blocked = match (&opts.block_list, peer) {
            (Some(list), Some(p)) => list.check(p.ip()),
            _ => false,
        };
        if blocked {
            // Node (22+) closes a blocked peer's connection at once, without
            // `drop` or `connection`.
            tracing::debug!(target: "netloop::net", ?peer, "onconnection: blocked");
            drop(conn);
            return;
        }
        // A cluster-wide limit (`ClusterOptions::max_connections`): a slot
        // is taken here, exactly, or the connection is dropped as over
        // this server's own limit would be.
        let cluster = self.cluster.as_ref();
        let over_limit = over_limit || cluster.is_some_and(|c| !c.admit());
        if over_limit {
            let local = conn.local_addr();
            drop(conn);
            let info = DropInfo {
                local_address: local.map(|a| a.ip()),
                local_port: local.map(|a| a.port()),
                local_family: local.map(|a| Family::of(&a.ip())),
                remote_address: peer.map(|a| a.ip()),
                remote_port: peer.map(|a| a.port()),
                remote_family: peer.map(|a| Family::of(&a.ip())),
            };
            tracing::debug!(target: "netloop::net", ?peer, "onconnection: drop");
            server.emit(Server::DROP, &info);
            return;
        }
        let owner: Rc<dyn ConnectionOwner> = Rc::clone(self) as Rc<dyn ConnectionOwner>;
        let socket = match Socket::from_accepted(conn, &opts, owner) {
            Ok(s) => s,
            Err(err) => {
                if let Some(c) = cluster {
                    c.release();
                }
                // The connection is closed unserved and the server goes
                // on, without an `error`: Node's `TCPWrap::OnConnection`
                // returns silently when `uv_accept` fails, and no accept
                // failure reaches a Node 20 server (see the Server docs).
                tracing::warn!(target: "netloop::net", ?peer, error = %err, "onconnection: connection closed");
                return;
            }
        };
        if socket.header_pending() {
            // `connection` waits for the PROXY header (`header_done`), as
            // a TLS server's `secureConnection` waits for its handshake.
            tracing::debug!(target: "netloop::net", ?peer, "onconnection: reading the PROXY header");
            return;
        }
        tracing::debug!(target: "netloop::net", ?peer, "onconnection");
        server.emit(Server::CONNECTION, &socket);
    }
}

impl ConnectionOwner for ServerInner {
    fn connection_opened(&self) {
        self.st.borrow_mut().connections += 1;
    }

    fn connection_closed(&self, bytes_read: u64, bytes_written: u64) {
        {
            let mut st = self.st.borrow_mut();
            st.connections = st.connections.saturating_sub(1);
        }
        if let Some(c) = &self.cluster {
            c.closed(bytes_read, bytes_written);
        }
        self.emit_close_if_drained();
    }

    fn header_done(&self, socket: &Socket) {
        let Some(server) = self.server() else { return };
        let list = self.st.borrow().opts.block_list.clone();
        // The block list again, now against the original client: a proxy
        // must not carry a blocked client in (the TCP peer, the proxy, was
        // checked at accept). Closed as Node closes a blocked peer: with
        // neither `connection` nor `drop`.
        let blocked = match (list, socket.remote_address()) {
            (Some(list), Some(ip)) => list.check(ip),
            _ => false,
        };
        if blocked {
            tracing::debug!(target: "netloop::net", client = ?socket.remote_address(), "onconnection: blocked (PROXY header)");
            socket.destroy();
            return;
        }
        tracing::debug!(target: "netloop::net", client = ?socket.remote_address(), "onconnection");
        server.emit(Server::CONNECTION, socket);
    }

    fn header_failed(&self, error: Error, peer: Option<SocketAddr>) {
        let Some(server) = self.server() else { return };
        let info = ClientErrorInfo {
            error,
            remote_address: peer.map(|a| a.ip()),
            remote_port: peer.map(|a| a.port()),
            remote_family: peer.map(|a| Family::of(&a.ip())),
        };
        if !server.emit(Server::CLIENT_ERROR, &info) {
            // No listener: logged, never fatal (see `Server::CLIENT_ERROR`).
            tracing::warn!(target: "netloop::net", ?peer, error = %info.error, "clientError");
        }
    }
}

impl Server {
    /// Take a connection accepted elsewhere (the cluster's round-robin
    /// acceptor, on another thread) as if this server had accepted it:
    /// the same `onconnection` path, so the block list, the limits, the
    /// options and the `connection` event apply alike. Nothing read from
    /// the descriptor before: the kernel kept every byte.
    pub(crate) fn adopt(&self, conn: Accepted) {
        self.inner.on_connection_accepted(self, conn);
    }
}

/// The accept loop reports here: the server's `Rc`, so a connection can
/// take a strong reference to its server.
pub(super) struct Acceptor<'a>(pub(super) &'a Rc<ServerInner>);

impl ListenerOwner for Acceptor<'_> {
    fn on_connection(&self, conn: Accepted) {
        let Some(server) = self.0.server() else {
            return;
        };
        self.0.on_connection_accepted(&server, conn);
    }
}
