//! The PROXY protocol on an accepted socket (see [`crate::proxy`]): the
//! header read before the server emits `connection`, and the getters that
//! show it.
//!
//! The stream handle reads the header (`StreamHandle::read_header`) and
//! reports once through `on_header`; the socket then takes the original
//! client as its remote address, keeps the bytes that followed the header
//! as its first data, and tells its server, which emits `connection` (or,
//! on failure, `clientError` after the socket was closed).

use std::net::SocketAddr;
use std::time::Duration;

use super::state::{Flow, ProxyState};
use super::{Socket, SocketInner};
use crate::error::Error;
use crate::net::options::ServerOptions;
use crate::proxy::{ProxyHeader, DEFAULT_MAX_HEADER, DEFAULT_TIMEOUT};
use crate::stream::{HeaderEnd, HeaderReader};
use crate::timers;

impl Socket {
    /// The PROXY protocol header this connection started with, TLVs
    /// included (netloop's own: Node has no PROXY protocol). `None` for a
    /// server without
    /// [`proxy_protocol`](crate::net::ServerOptions::proxy_protocol), in
    /// optional mode when the client sent none, and for client sockets.
    /// A `PROXY` header over IPv4 or IPv6 is also what
    /// [`remote_address`](Socket::remote_address) and
    /// [`remote_port`](Socket::remote_port) report; `LOCAL` and `UNKNOWN`
    /// keep the real peer there.
    ///
    /// # Examples
    ///
    /// ```
    /// use netloop::net::{self, Server, ServerOptions, Socket};
    /// use netloop::proxy::{ProxyHeader, ProxyProtocol, Tlv};
    ///
    /// let seen = netloop::run_returning(|| {
    ///     let seen = netloop::Slot::new(Vec::new());
    ///     let log = seen.clone();
    ///     let opts = ServerOptions { proxy_protocol: ProxyProtocol::Required, ..ServerOptions::default() };
    ///     let server = net::create_server_with(opts, move |server, sock: &Socket| {
    ///         let header = sock.proxy_header().expect("required");
    ///         log.update(|l| {
    ///             l.push(format!("client {:?}", sock.remote_address()));
    ///             l.push(format!("authority {:?}", header.authority()));
    ///             l.push(format!("proxy {:?}", sock.transport_peer().map(|a| a.ip())));
    ///         });
    ///         sock.end();
    ///         server.close();
    ///     });
    ///     server.listen(0, "127.0.0.1")?;
    ///     let port = server.address().expect("bound at once").port();
    ///     let client = "[2001:db8::7]:5000".parse().expect("an address");
    ///     let header = ProxyHeader::proxy(client, "[2001:db8::1]:443".parse().expect("an address"))
    ///         .with_tlv(Tlv::AUTHORITY, "example.com")
    ///         .encode()?;
    ///     net::connect(port, "127.0.0.1")?.end_with(header).resume();
    ///     Ok(seen)
    /// })
    /// .expect("the loop ran");
    /// assert_eq!(
    ///     seen,
    ///     [
    ///         "client Some(2001:db8::7)",
    ///         "authority Some(\"example.com\")",
    ///         "proxy Some(127.0.0.1)",
    ///     ]
    /// );
    /// ```
    pub fn proxy_header(&self) -> Option<ProxyHeader> {
        let st = self.inner.st.borrow();
        let proxy = st.cold.as_ref()?.proxy.as_ref()?;
        proxy.header.clone()
    }

    /// The TCP peer this connection really comes from: the proxy, when a
    /// PROXY header named another client (which
    /// [`remote_address`](Socket::remote_address) reports); otherwise the
    /// same address and port as `remote_address` and
    /// [`remote_port`](Socket::remote_port). `None` while connecting and
    /// for Unix sockets (whose `remote_address` is the header's client
    /// when one came). Node has no such getter.
    pub fn transport_peer(&self) -> Option<SocketAddr> {
        let st = self.inner.st.borrow();
        match st.cold.as_ref().and_then(|c| c.proxy.as_ref()) {
            Some(p) if p.proxied => p.transport_peer,
            _ => st.remote,
        }
    }

    /// True while the connection's PROXY header is being read (the server
    /// emits `connection` after it).
    pub(crate) fn header_pending(&self) -> bool {
        self.inner.st.borrow().header_pending()
    }
}

impl SocketInner {
    /// Read a PROXY header before anything else, as `opts` asks, with its
    /// timeout on the loop's timers.
    pub(super) fn start_header(&self, opts: &ServerOptions) {
        let max = opts.proxy_protocol_max_header.unwrap_or(DEFAULT_MAX_HEADER);
        self.stream
            .read_header(HeaderReader::new(opts.proxy_protocol, max));
        let after = opts.proxy_protocol_timeout.unwrap_or(DEFAULT_TIMEOUT);
        let timer = (!after.is_zero()).then(|| {
            let me = self.me.clone();
            let t = timers::set_timeout(after, move || {
                if let Some(inner) = me.upgrade() {
                    inner.header_timed_out(after);
                }
            });
            // The wait itself keeps the loop alive (see `update_active`),
            // as the socket's idle timeout does not.
            t.unref();
            t
        });
        self.st.borrow_mut().cold().proxy = Some(Box::new(ProxyState {
            pending: true,
            timer,
            ..ProxyState::default()
        }));
        self.update_active();
    }

    /// The header timeout fired: take the reader from the stream and let
    /// it decide (optional mode may take the connection without one).
    fn header_timed_out(&self, after: Duration) {
        if let Some(p) = self.st.borrow_mut().cold().proxy.as_mut() {
            p.timer = None;
        }
        let Some(mut reader) = self.stream.take_header() else {
            return;
        };
        let end = reader.timed_out(after);
        self.after_header(end);
    }

    /// Reading the header ended: on success the socket takes the original
    /// client as its remote address and the bytes after the header as its
    /// first data, and the server emits `connection`; on failure the
    /// socket closes without an event of its own and the server emits
    /// `clientError`.
    pub(super) fn after_header(&self, res: Result<HeaderEnd<'_>, Error>) {
        let Some(socket) = self.socket() else { return };
        let (timer, server) = {
            let mut st = self.st.borrow_mut();
            if !st.header_pending() {
                return;
            }
            let server = st.server.clone();
            let proxy = st.cold().proxy.get_or_insert_with(Box::default);
            proxy.pending = false;
            (proxy.timer.take(), server)
        };
        if let Some(t) = timer {
            t.cancel();
        }
        // Still reading a header when the failure came another way.
        drop(self.stream.take_header());
        let end = match res {
            Ok(end) => end,
            Err(err) => {
                let peer = self.st.borrow().remote;
                tracing::debug!(target: "netloop::net", ?peer, error = %err, "PROXY header failed");
                self.destroy(None);
                if let Some(server) = server {
                    server.header_failed(err, peer);
                }
                return;
            }
        };
        {
            let mut st = self.st.borrow_mut();
            let tcp_peer = st.remote;
            let source = end.header.as_ref().and_then(ProxyHeader::source);
            if source.is_some() {
                st.remote = source;
            }
            // `bytes_read` counts the connection's own bytes: the header
            // is not part of the stream the user reads.
            st.bytes_read += end.rest.len() as u64;
            let hwm = (st.readable_hwm as usize).max(1);
            let cold = st.cold();
            cold.read_buf.extend_from_slice(&end.rest);
            let full = cold.read_buf.len() >= hwm;
            if let Some(p) = cold.proxy.as_mut() {
                if source.is_some() {
                    p.proxied = true;
                    p.transport_peer = tcp_peer;
                }
                p.header = end.header;
            }
            if full {
                st.reading = false;
            }
        }
        tracing::debug!(target: "netloop::net", remote = ?self.st.borrow().remote, "PROXY header read");
        if let Some(server) = server {
            server.header_done(&socket);
        }
        if self.st.borrow().destroyed() {
            return;
        }
        self.sync_read();
        self.update_active();
        // Bytes that came with the header wait in the buffer: a `data`
        // listener added in `connection` has scheduled their delivery;
        // otherwise they wait for one, as any bytes do.
        let flowing = {
            let st = self.st.borrow();
            st.flow == Flow::Flowing && st.buffered() > 0
        };
        if flowing {
            self.schedule_flush();
        }
    }
}
