//! Stream handles: libuv's `uv_stream_t` (with `uv_tcp_t` and `uv_pipe_t`
//! as its two kinds) and its listening counterpart.
//!
//! # The contract
//!
//! This layer is what `net` stands on; `net` keeps only Node's rules
//! (flowing and paused, buffering, half-open, events, options) and imports
//! neither `mio` nor `libc`. Any backend of this layer (today readiness
//! through mio; a completion-based one, such as io_uring, must be able to
//! meet the same terms without `net` changing) provides:
//!
//! - **A stream handle** ([`StreamHandle`]) that owns one connected or
//!   connecting descriptor, its registration with the loop, and its write
//!   queue. It is empty before it is attached and after it is closed; every
//!   operation on an empty handle is a no-op.
//! - **Requests from above**, all non-blocking, none of which calls back
//!   into its caller: [`attach`](StreamHandle::attach) a descriptor
//!   (connecting or already connected), [`read_start`](StreamHandle::read_start)
//!   / [`read_stop`](StreamHandle::read_stop), [`write`](StreamHandle::write)
//!   (the kernel takes what it can at once; the rest is queued, in order),
//!   [`write_all_queued`](StreamHandle::write_all_queued) (several requests in
//!   one `writev`), [`shutdown`](StreamHandle::shutdown) (our FIN, sent once
//!   the queue has drained), [`close`](StreamHandle::close) (now, with a FIN
//!   or an RST, handing back the callbacks of requests that never
//!   completed).
//! - **A header read before the stream's own bytes** (the PROXY protocol,
//!   [`read_header`](StreamHandle::read_header)): the handle reads, whether
//!   or not the owner called `read_start`, and feeds what it reads to a
//!   [`HeaderReader`] until that decides; it reports the outcome once
//!   through [`StreamOwner::on_header`] (the header, or none in optional
//!   mode, with the bytes that followed it in the same read; or the error:
//!   malformed, not a header, the peer's FIN or a read error first). No
//!   `on_read`, `on_eof` or `on_error` comes before it; after it, reads go
//!   on as `read_start`/`read_stop` say, and a FIN that ended an optional
//!   header's wait is reported by `on_eof` right after. The owner ends the
//!   wait itself with [`take_header`](StreamHandle::take_header) (its
//!   timeout).
//! - **Completions reported upward** through [`StreamOwner`], in the terms
//!   libuv reports to Node's `afterConnect`, `onStreamRead`, `afterWrite`
//!   and `afterShutdown`: the connect result, each chunk read, the end of
//!   the stream, completed writes, the shutdown, and an error. They are
//!   delivered only from the loop (the owner's readiness callback), never
//!   from inside a request. After each one the handle checks whether the
//!   owner closed it before touching it again (libuv's `stream.c`: "read_cb
//!   closed stream").
//! - **Errors already classified**: every error that reaches the owner is a
//!   [`crate::Error`] with Node's code, syscall and message (`read
//!   ECONNRESET`, `connect ECONNREFUSED 127.0.0.1:80`).
//! - **A listener handle** ([`ListenerHandle`]) that owns a listening
//!   descriptor and its accept loop, reporting each accepted connection
//!   through [`ListenerOwner`]. Accept failures stay here, as libuv 1.46
//!   keeps them from Node: out of descriptors it sheds the queued
//!   connections with a spare descriptor (libuv's EMFILE trick), and
//!   whatever it could not accept it looks at again on a timer, since an
//!   edge-triggered poller reports queued connections only once.
//! - **Descriptors lent, never dangling**: both handles lend their
//!   descriptor (`fd()`, for `AsFd` on `Socket` and `Server`) for as long
//!   as the handle is borrowed. A lent descriptor is closed through
//!   `sys::retire`, which keeps its number reserved until the handle is
//!   dropped, so a `BorrowedFd` taken before a `destroy()` never names
//!   another file.
//!
//! The descriptors are created by [`tcp`] and [`pipe`] (libuv's `uv_tcp_*`
//! and `uv_pipe_*`), which call into `sys`, or adopted from std's types by
//! [`adopt`] (libuv's `uv_tcp_open` and `uv_pipe_open`).

pub(crate) mod adopt;
mod io;
mod listener;
pub(crate) mod pipe;
pub(crate) mod tcp;
#[cfg(test)]
mod tests;
mod write;

use std::cell::RefCell;
use std::io as stdio;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::rc::Rc;

use mio::Token;

use crate::error::Error;
use crate::event_loop::{EventLoop, IoHandler, Ready};
pub(crate) use crate::proxy::reader::{failed_before_header, HeaderEnd, HeaderReader};
use crate::sys;

pub(crate) use io::{ListenerIo, StreamIo};
pub(crate) use listener::{Accepted, ListenerHandle, ListenerOwner};
use write::WriteQueue;
pub(crate) use write::{WriteCb, WriteData, WriteOutcome};

/// At most this many reads per readiness event before yielding to other
/// handles (libuv's `uv__read` loops 32 times; 64 KiB reads make 16 plenty).
const MAX_READS_PER_EVENT: usize = 16;

/// What a completed connect reports (libuv's `uv_connect_cb` status 0).
pub(crate) struct Connected {
    /// The peer (TCP only).
    pub peer: Option<SocketAddr>,
    /// Our end (TCP only).
    pub local: Option<SocketAddr>,
}

/// Completions of a stream handle, reported to the object that owns it
/// (Node's `net.Socket`). Each is called from the loop, never from inside
/// a request the owner made.
pub(crate) trait StreamOwner {
    /// The connect request finished (Node's `afterConnect`).
    fn after_connect(&self, res: Result<Connected, Error>);
    /// A chunk was read (Node's `onStreamRead` with data).
    fn on_read(&self, chunk: &[u8]);
    /// The peer's FIN: nothing more will be read (`UV_EOF`).
    fn on_eof(&self);
    /// Queued write requests reached the kernel, in order (Node's
    /// `afterWrite`); `done` holds the callbacks of those that had one.
    fn after_write(&self, done: Vec<WriteCb>);
    /// Our FIN was sent (Node's `afterShutdown`).
    fn after_shutdown(&self);
    /// Reading or writing failed; the handle is still attached and the
    /// owner decides to close it.
    fn on_error(&self, err: Error);
    /// Reading the header asked for with
    /// [`read_header`](StreamHandle::read_header) ended: the header (or
    /// none) and the bytes after it, or why the connection must close.
    /// Reported once, before any `on_read`, `on_eof` or `on_error`.
    fn on_header(&self, res: Result<HeaderEnd<'_>, Error>);
}

/// Where a connect request goes, kept to word its errors as Node does.
enum ConnectReq {
    Tcp {
        addr: SocketAddr,
        bind: Option<SocketAddr>,
    },
    Unix(PathBuf),
}

impl ConnectReq {
    fn error(&self, e: &stdio::Error) -> Error {
        match self {
            ConnectReq::Tcp { addr, bind } => tcp::connect_error(*addr, *bind, e),
            ConnectReq::Unix(path) => pipe::connect_error(path, e),
        }
    }
}

/// The state of an attached descriptor.
struct Stream {
    io: StreamIo,
    token: Token,
    /// Allocated the first time the kernel does not take a whole write:
    /// a connection whose writes always go out at once never pays for it.
    queue: Option<Box<WriteQueue>>,
    /// What must happen before the stream's own reads: a connect in
    /// flight, or a header to read. One box for both (a stream never has
    /// both), so a connected stream pays one pointer for them.
    before: Option<Box<Before>>,
    /// `read_start` was called and neither `read_stop` nor EOF followed.
    reading: bool,
    /// The poller reported the peer's FIN or an error: read on to the end
    /// even after a short read (no later edge will come).
    peer_closed: bool,
    /// `shutdown` was asked for and waits for the queue to drain.
    shutdown_pending: bool,
    /// The descriptor was lent (`fd()`): it must be closed through
    /// `sys::retire`.
    lent: bool,
}

/// See [`Stream::before`].
enum Before {
    /// The connect is in flight.
    Connect(ConnectReq),
    /// A PROXY protocol header is read first (`read_header`).
    Header(HeaderReader),
}

impl Stream {
    /// True while the connect is in flight.
    fn connecting(&self) -> bool {
        matches!(self.before.as_deref(), Some(Before::Connect(_)))
    }

    /// The connect in flight.
    fn connect_req(&self) -> Option<&ConnectReq> {
        match self.before.as_deref() {
            Some(Before::Connect(req)) => Some(req),
            _ => None,
        }
    }

    /// True while a header is read first.
    fn reading_header(&self) -> bool {
        matches!(self.before.as_deref(), Some(Before::Header(_)))
    }

    /// The header reader, while a header is read first.
    fn header_mut(&mut self) -> Option<&mut HeaderReader> {
        match self.before.as_deref_mut() {
            Some(Before::Header(reader)) => Some(reader),
            _ => None,
        }
    }

    /// Stop reading a header first; the reader, if one was.
    fn take_header(&mut self) -> Option<HeaderReader> {
        if !self.reading_header() {
            return None;
        }
        match self.before.take().map(|b| *b) {
            Some(Before::Header(reader)) => Some(reader),
            _ => None,
        }
    }

    /// Close the descriptor (the caller deregistered it), keeping its
    /// number reserved for `owner` if it was lent.
    fn close_fd(self, owner: &StreamHandle) {
        if self.lent {
            sys::retire(owner, OwnedFd::from(self.io));
        }
    }
}

/// A stream handle (libuv's `uv_stream_t`): a slot that holds the
/// descriptor while it is attached. See the module docs for the contract.
#[derive(Default)]
pub(crate) struct StreamHandle {
    slot: RefCell<Option<Stream>>,
}

impl StreamHandle {
    /// Register `io` with the loop for `handler` (whose readiness callback
    /// forwards to [`on_ready`](StreamHandle::on_ready)) and make it this
    /// handle's descriptor. `connect` marks a connect in flight; `None` is
    /// an already connected descriptor (accepted).
    fn attach_req(
        &self,
        lp: &EventLoop,
        mut io: StreamIo,
        handler: Rc<dyn IoHandler>,
        connect: Option<ConnectReq>,
    ) -> Result<(), Error> {
        let token = lp
            .register(io.source(), handler)
            .map_err(|e| match &connect {
                Some(req) => req.error(&e),
                None => Error::from_syscall(&e, "accept"),
            })?;
        let old = self.slot.borrow_mut().replace(Stream {
            io,
            token,
            queue: None,
            before: connect.map(|req| Box::new(Before::Connect(req))),
            reading: false,
            peer_closed: false,
            shutdown_pending: false,
            lent: false,
        });
        debug_assert!(old.is_none(), "a stream handle attached twice");
        if let Some(mut old) = old {
            // Owners close before attaching again; should one not, the old
            // descriptor still leaves the loop and keeps a lent number.
            lp.deregister(old.io.source(), old.token);
            old.close_fd(self);
        }
        Ok(())
    }

    /// Attach an accepted, connected descriptor.
    pub(crate) fn attach(
        &self,
        lp: &EventLoop,
        accepted: Accepted,
        handler: Rc<dyn IoHandler>,
    ) -> Result<(), Error> {
        self.attach_req(lp, accepted.io, handler, None)
    }

    /// Start a TCP connect to `addr`, bound first to `bind` if given
    /// (libuv's `uv_tcp_bind` + `uv_tcp_connect`), and attach it. The
    /// result comes through [`StreamOwner::after_connect`].
    ///
    /// # Errors
    ///
    /// At once, when the socket cannot be created, bound or connected:
    /// [`ConnectFailure`] says which step failed.
    pub(crate) fn connect_tcp(
        &self,
        lp: &EventLoop,
        addr: SocketAddr,
        bind: Option<SocketAddr>,
        handler: Rc<dyn IoHandler>,
    ) -> Result<(), tcp::ConnectFailure> {
        let io = tcp::connect(addr, bind)?;
        self.attach_req(lp, io, handler, Some(ConnectReq::Tcp { addr, bind }))
            .map_err(tcp::ConnectFailure::Connect)
    }

    /// Connect to a Unix socket at `path` (libuv's `uv_pipe_connect`) and
    /// attach it; the result comes through [`StreamOwner::after_connect`].
    ///
    /// # Errors
    ///
    /// At once, when the connect fails (`connect ENOENT <path>`).
    pub(crate) fn connect_unix(
        &self,
        lp: &EventLoop,
        path: PathBuf,
        handler: Rc<dyn IoHandler>,
    ) -> Result<(), Error> {
        let io = pipe::connect(&path).map_err(|e| pipe::connect_error(&path, &e))?;
        self.attach_req(lp, io, handler, Some(ConnectReq::Unix(path)))
    }

    /// True while a descriptor is attached.
    pub(crate) fn is_attached(&self) -> bool {
        self.slot.borrow().is_some()
    }

    /// Lend the attached descriptor for as long as this handle is
    /// borrowed; from now on it is closed through `sys::retire`, which
    /// keeps its number until the handle is dropped. `None` when detached.
    pub(crate) fn fd(&self) -> Option<BorrowedFd<'_>> {
        let mut slot = self.slot.borrow_mut();
        let s = slot.as_mut()?;
        s.lent = true;
        Some(sys::lend(self, s.io.as_fd()))
    }

    /// The attached descriptor's number, without lending it (a raw number
    /// promises nothing).
    pub(crate) fn raw_fd(&self) -> Option<RawFd> {
        self.slot
            .borrow()
            .as_ref()
            .map(|s| s.io.as_fd().as_raw_fd())
    }

    /// Start delivering reads (libuv's `uv_read_start`).
    pub(crate) fn read_start(&self) {
        if let Some(s) = self.slot.borrow_mut().as_mut() {
            s.reading = true;
        }
    }

    /// Read a PROXY protocol header first, whatever `read_start` and
    /// `read_stop` say; the outcome comes once through
    /// [`StreamOwner::on_header`] (see the module docs).
    pub(crate) fn read_header(&self, reader: HeaderReader) {
        if let Some(s) = self.slot.borrow_mut().as_mut() {
            if !s.connecting() {
                s.before = Some(Box::new(Before::Header(reader)));
            }
        }
    }

    /// Stop reading a header (the owner's timeout): the reader, with what
    /// it has read, for the owner to decide; `None` if no header is being
    /// read.
    pub(crate) fn take_header(&self) -> Option<HeaderReader> {
        let mut slot = self.slot.borrow_mut();
        slot.as_mut().and_then(Stream::take_header)
    }

    /// Stop delivering reads; what arrives waits in the kernel (libuv's
    /// `uv_read_stop`).
    pub(crate) fn read_stop(&self) {
        if let Some(s) = self.slot.borrow_mut().as_mut() {
            s.reading = false;
        }
    }

    /// Bytes accepted by `write` that have not reached the kernel yet.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.slot
            .borrow()
            .as_ref()
            .and_then(|s| s.queue.as_ref())
            .map_or(0, |q| q.queued_bytes())
    }

    /// Write `data` (libuv's `uv_write`): at once if nothing is queued,
    /// queuing what the kernel does not take (an owned buffer is queued as
    /// it is, borrowed bytes are copied). A write that completed at
    /// once hands its callback back; the owner runs it later, never inside
    /// its own `write()` call.
    ///
    /// # Errors
    ///
    /// The classified write error (`write EPIPE`), with the callback.
    pub(crate) fn write(
        &self,
        data: WriteData<'_>,
        cb: Option<WriteCb>,
    ) -> Result<WriteOutcome, (Error, Option<WriteCb>)> {
        let mut slot = self.slot.borrow_mut();
        let Some(s) = slot.as_mut() else {
            return Err((
                Error::from_syscall(&stdio::Error::from(stdio::ErrorKind::NotConnected), "write"),
                cb,
            ));
        };
        let res = match s.queue.as_deref_mut() {
            Some(q) => q.write(&s.io, data, cb),
            None => {
                let mut q = WriteQueue::default();
                let res = q.write(&s.io, data, cb);
                if !q.is_empty() {
                    s.queue = Some(Box::new(q));
                }
                res
            }
        };
        res.map_err(|(e, cb)| (Error::from_syscall(&e, "write"), cb))
    }

    /// Queue several requests and send them together in one `writev`
    /// (writes held while connecting or corked). Completions are reported
    /// through `owner` before this returns, as a writable event would.
    pub(crate) fn write_all_queued(
        &self,
        reqs: impl IntoIterator<Item = (Vec<u8>, Option<WriteCb>)>,
        owner: &dyn StreamOwner,
    ) {
        {
            let mut slot = self.slot.borrow_mut();
            let Some(s) = slot.as_mut() else { return };
            let queue = s.queue.get_or_insert_with(Box::default);
            for (data, cb) in reqs {
                queue.enqueue(data, cb);
            }
        }
        self.on_writable(owner);
    }

    /// Send our FIN once every queued write has reached the kernel
    /// (libuv's `uv_shutdown`); [`StreamOwner::after_shutdown`] follows,
    /// at once if the queue is already empty.
    pub(crate) fn shutdown(&self, owner: &dyn StreamOwner) {
        {
            let mut slot = self.slot.borrow_mut();
            let Some(s) = slot.as_mut() else { return };
            s.shutdown_pending = true;
        }
        self.maybe_shutdown(owner);
    }

    fn maybe_shutdown(&self, owner: &dyn StreamOwner) {
        let res = {
            let mut slot = self.slot.borrow_mut();
            let Some(s) = slot.as_mut() else { return };
            let queued = s.queue.as_ref().is_some_and(|q| !q.is_empty());
            if !s.shutdown_pending || queued || s.connecting() {
                return;
            }
            s.shutdown_pending = false;
            s.io.shutdown_write()
        };
        if let Err(e) = res {
            // Node ignores shutdown errors (`afterShutdown`): the peer is
            // gone, and the read side reports it.
            tracing::debug!(target: "netloop::net", error = %e, "shutdown failed");
        }
        owner.after_shutdown();
    }

    /// Close the descriptor now: deregister it and drop it, with an RST
    /// instead of a FIN when `reset` (libuv's `uv_tcp_close_reset`; a Unix
    /// socket has no RST and closes normally). The callbacks of requests
    /// that never completed are appended to `cancelled`.
    pub(crate) fn close(&self, lp: &EventLoop, reset: bool, cancelled: &mut Vec<WriteCb>) {
        let stream = self.slot.borrow_mut().take();
        let Some(mut s) = stream else { return };
        if reset {
            if let Err(e) = tcp::set_reset_on_close(&s.io) {
                tracing::debug!(target: "netloop::net", error = %e, "SO_LINGER failed");
            }
        }
        if let Some(q) = s.queue.as_mut() {
            q.cancel_writes(cancelled);
        }
        lp.deregister(s.io.source(), s.token);
        s.close_fd(self);
    }

    /// Our address (`getsockname`; TCP only).
    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        self.slot.borrow().as_ref().and_then(|s| s.io.local_addr())
    }

    /// `TCP_NODELAY` (libuv's `uv_tcp_nodelay`); a no-op for Unix sockets.
    pub(crate) fn set_nodelay(&self, enable: bool) {
        if let Some(s) = self.slot.borrow().as_ref() {
            if let Err(e) = tcp::set_nodelay(&s.io, enable) {
                tracing::debug!(target: "netloop::net", error = %e, "setNoDelay failed");
            }
        }
    }

    /// Whether `TCP_NODELAY` is set; `None` when detached or a Unix socket.
    pub(crate) fn nodelay(&self) -> Option<bool> {
        self.slot
            .borrow()
            .as_ref()
            .and_then(|s| tcp::nodelay(&s.io))
    }

    /// `SO_KEEPALIVE` with Node's initial delay (libuv's
    /// `uv_tcp_keepalive`); a no-op for Unix sockets.
    pub(crate) fn set_keepalive(&self, enable: bool, delay: std::time::Duration) {
        if let Some(s) = self.slot.borrow().as_ref() {
            if let Err(e) = tcp::set_keepalive(&s.io, enable, delay) {
                tracing::debug!(target: "netloop::net", error = %e, "setKeepAlive failed");
            }
        }
    }

    /// Whether `SO_KEEPALIVE` is set; `None` when detached or a Unix socket.
    pub(crate) fn keepalive(&self) -> Option<bool> {
        self.slot
            .borrow()
            .as_ref()
            .and_then(|s| tcp::keepalive(&s.io))
    }

    /// Read what the kernel holds now, reporting through `owner` as a
    /// readable event would. Called by the owner from a loop callback
    /// (never from inside a user's call) after `read_start`: on an
    /// edge-triggered backend, bytes that arrived while reading was stopped
    /// raise no new event.
    pub(crate) fn read_now(&self, lp: &EventLoop, owner: &dyn StreamOwner) {
        self.on_readable(lp, owner);
    }

    // ----- completions ---------------------------------------------------

    /// The descriptor's readiness, from the owner's `IoHandler::on_ready`:
    /// complete a connect, flush the write queue, read.
    pub(crate) fn on_ready(&self, lp: &EventLoop, ready: Ready, owner: &dyn StreamOwner) {
        let connecting = {
            let mut slot = self.slot.borrow_mut();
            let Some(s) = slot.as_mut() else { return };
            // The edge that completes a connect can already carry the
            // peer's data and FIN (a server that writes and ends at once);
            // no later edge reports that FIN, so remember it for the reads
            // that follow.
            if ready.read_closed || ready.error {
                s.peer_closed = true;
            }
            s.connecting()
        };
        if connecting {
            if ready.writable || ready.error || ready.read_closed {
                self.finish_connect(lp, owner);
            }
            return;
        }
        if ready.writable || ready.error {
            self.on_writable(owner);
        }
        if ready.readable || ready.read_closed || ready.error {
            self.on_readable(lp, owner);
        }
    }

    /// The fd turned writable while connecting: `SO_ERROR` says how it
    /// went. On success the owner hears `after_connect`, then whatever the
    /// connect edge brought is read.
    fn finish_connect(&self, lp: &EventLoop, owner: &dyn StreamOwner) {
        let outcome = {
            let mut slot = self.slot.borrow_mut();
            let Some(s) = slot.as_mut() else { return };
            let res = match s.io.take_error() {
                Ok(Some(e)) | Err(e) => Err(e),
                Ok(None) => match s.io.peer_addr() {
                    Ok(peer) => Ok(Connected {
                        peer,
                        local: s.io.local_addr(),
                    }),
                    // Not connected yet: a later edge completes it.
                    Err(e) if e.kind() == stdio::ErrorKind::NotConnected => return,
                    Err(e) => Err(e),
                },
            };
            match res {
                Ok(c) => {
                    s.before = None;
                    Ok(c)
                }
                Err(e) => Err(s
                    .connect_req()
                    .map_or_else(|| Error::from_syscall(&e, "connect"), |req| req.error(&e))),
            }
        };
        let ok = outcome.is_ok();
        owner.after_connect(outcome);
        if ok {
            self.on_readable(lp, owner);
        }
    }

    /// Write queued chunks while the kernel takes them; report completed
    /// requests, an error, or a shutdown that was waiting for the queue.
    fn on_writable(&self, owner: &dyn StreamOwner) {
        let mut done: Vec<WriteCb> = Vec::new();
        let res = {
            let mut slot = self.slot.borrow_mut();
            let Some(s) = slot.as_mut() else { return };
            match s.queue.as_deref_mut() {
                Some(q) if !q.is_empty() => Some(q.flush(&s.io, &mut done)),
                _ => None,
            }
        };
        let Some(res) = res else {
            // Nothing was queued: only a shutdown may be waiting.
            return self.maybe_shutdown(owner);
        };
        if let Err(e) = res {
            // Requests that reached the kernel before the failing `writev`
            // (a flush writes up to `MAX_IOVS` requests per call and goes
            // on) did complete: their callbacks run as usual, as libuv
            // completes each request on its own, and the error takes only
            // the rest. Dropping them here would lose callbacks.
            if !done.is_empty() {
                owner.after_write(done);
            }
            owner.on_error(Error::from_syscall(&e, "write"));
            return;
        }
        owner.after_write(done);
        self.maybe_shutdown(owner);
    }

    /// Read until the kernel has nothing more, reading is stopped, or the
    /// handle is closed (libuv's `uv__read`). Each chunk is one callback
    /// into the owner, followed by the `next_tick` queue, as Node's
    /// `onStreamRead`.
    fn on_readable(&self, lp: &EventLoop, owner: &dyn StreamOwner) {
        for _ in 0..MAX_READS_PER_EVENT {
            let mut buf = lp.take_read_buf();
            let (res, header) = {
                let slot = self.slot.borrow();
                match slot.as_ref() {
                    Some(s) if s.reading_header() || (s.reading && s.before.is_none()) => {
                        (s.io.read(&mut buf), s.reading_header())
                    }
                    _ => {
                        lp.put_read_buf(buf);
                        return;
                    }
                }
            };
            match res {
                Ok(0) => {
                    lp.put_read_buf(buf);
                    let reader = self.slot.borrow_mut().as_mut().and_then(|s| {
                        s.reading = false;
                        s.take_header()
                    });
                    if let Some(mut reader) = reader {
                        let end = reader.eof();
                        let failed = end.is_err();
                        owner.on_header(end);
                        if failed || !self.is_attached() {
                            return;
                        }
                    }
                    owner.on_eof();
                    return;
                }
                Ok(n) => {
                    if header {
                        if !self.header_chunk(&buf[..n], owner) {
                            lp.put_read_buf(buf);
                            return;
                        }
                    } else {
                        owner.on_read(&buf[..n]);
                    }
                    let full = n == buf.len();
                    // The buffer goes back before the ticks run, so a tick
                    // that reads again reuses it.
                    lp.put_read_buf(buf);
                    lp.drain_ticks();
                    let peer_closed = self.slot.borrow().as_ref().is_some_and(|s| s.peer_closed);
                    if !full && !peer_closed {
                        // A short read drained the kernel buffer; the next
                        // edge brings the rest. Not so once the peer's FIN
                        // (or an error) was signalled: it came with the
                        // edge being served and no other edge will follow,
                        // so read on to reach it (libuv does the same).
                        return;
                    }
                }
                Err(e) if e.kind() == stdio::ErrorKind::WouldBlock => {
                    lp.put_read_buf(buf);
                    return;
                }
                Err(e) if e.kind() == stdio::ErrorKind::Interrupted => lp.put_read_buf(buf),
                Err(e) => {
                    lp.put_read_buf(buf);
                    let err = Error::from_syscall(&e, "read");
                    // (Taken in a statement of its own: the slot must not
                    // stay borrowed while the owner runs.)
                    let reader = self
                        .slot
                        .borrow_mut()
                        .as_mut()
                        .and_then(Stream::take_header);
                    match reader {
                        Some(_) => owner.on_header(Err(failed_before_header(&err))),
                        None => owner.on_error(err),
                    }
                    return;
                }
            }
        }
        // Still readable after a full batch: go on in the next iteration's
        // pending phase, so other handles get their turn.
        if let Some(token) = self.slot.borrow().as_ref().map(|s| s.token) {
            lp.defer_ready(token, Ready::readable());
        }
    }

    /// Feed a chunk read while a header is expected; reports the outcome
    /// once it is decided. False when reading must stop here (the
    /// connection is to be closed, or the owner closed it).
    fn header_chunk(&self, chunk: &[u8], owner: &dyn StreamOwner) -> bool {
        let step = {
            let mut slot = self.slot.borrow_mut();
            let attached = slot.is_some();
            let Some(reader) = slot.as_mut().and_then(Stream::header_mut) else {
                return attached;
            };
            reader.feed(chunk)
        };
        match step {
            Ok(None) => true,
            Ok(Some(end)) => {
                if let Some(s) = self.slot.borrow_mut().as_mut() {
                    s.before = None;
                }
                owner.on_header(Ok(end));
                self.is_attached()
            }
            Err(e) => {
                if let Some(s) = self.slot.borrow_mut().as_mut() {
                    s.before = None;
                }
                owner.on_header(Err(e));
                false
            }
        }
    }
}

impl Drop for StreamHandle {
    fn drop(&mut self) {
        // The numbers of lent descriptors closed earlier: no borrow of this
        // handle is left to use them.
        sys::release(self);
    }
}
