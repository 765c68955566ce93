//! The listening handle: a listening descriptor, its registration, and the
//! accept loop (libuv's `uv_listen` and `uv__server_io`).

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::rc::Rc;

use mio::Token;

use super::io::{ListenerIo, StreamIo};
use crate::error::Error;
use crate::event_loop::{EventLoop, IoHandler};

/// A connection taken off the listen queue, not yet attached to a stream
/// handle (Node's `clientHandle` in `onconnection`).
pub(crate) struct Accepted {
    pub(super) io: StreamIo,
    peer: Option<SocketAddr>,
}

impl Accepted {
    /// A connected descriptor that did not come from `accept` (adopted
    /// from std: see `adopt`).
    pub(super) fn new(io: StreamIo, peer: Option<SocketAddr>) -> Accepted {
        Accepted { io, peer }
    }

    /// The peer's address (TCP only); `accept4` reports it, so no
    /// `getpeername` is needed.
    pub(crate) fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Our end's address (`getsockname`; TCP only).
    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        self.io.local_addr()
    }

    /// `TCP_NODELAY` before the socket is handed to anyone.
    pub(crate) fn set_nodelay(&self, enable: bool) -> io::Result<()> {
        super::tcp::set_nodelay(&self.io, enable)
    }

    /// `SO_KEEPALIVE` with Node's initial delay.
    pub(crate) fn set_keepalive(&self, enable: bool, delay: std::time::Duration) -> io::Result<()> {
        super::tcp::set_keepalive(&self.io, enable, delay)
    }
}

/// What a listener handle reports to the object that owns it (Node's
/// `net.Server`).
pub(crate) trait ListenerOwner {
    /// One accepted connection (Node's `onconnection`). Each is its own
    /// callback: ticks queued by one run before the next is reported.
    fn on_connection(&self, conn: Accepted);
    /// `accept` failed with something other than "nothing pending".
    fn on_accept_error(&self, err: Error);
}

/// A listening handle: empty until a descriptor is attached, empty again
/// once closed.
#[derive(Default)]
pub(crate) struct ListenerHandle {
    slot: RefCell<Option<(ListenerIo, Token)>>,
    /// A descriptor was lent (`fd()`): close through `sys::retire`.
    lent: Cell<bool>,
}

impl ListenerHandle {
    /// Register a listening descriptor for `handler` (whose readiness
    /// callback forwards to [`on_ready`](ListenerHandle::on_ready)).
    ///
    /// # Errors
    ///
    /// The registration failure, unclassified (the caller words it with the
    /// address it listened on).
    pub(crate) fn attach(
        &self,
        lp: &EventLoop,
        mut io: ListenerIo,
        handler: Rc<dyn IoHandler>,
    ) -> io::Result<()> {
        let token = lp.register(io.source(), handler)?;
        *self.slot.borrow_mut() = Some((io, token));
        Ok(())
    }

    /// True while a descriptor is attached.
    pub(crate) fn is_attached(&self) -> bool {
        self.slot.borrow().is_some()
    }

    /// Lend the listening descriptor for as long as this handle is
    /// borrowed (see `StreamHandle::fd`); `None` when detached.
    pub(crate) fn fd(&self) -> Option<BorrowedFd<'_>> {
        let slot = self.slot.borrow();
        let (l, _) = slot.as_ref()?;
        self.lent.set(true);
        Some(crate::sys::lend(self, l.as_fd()))
    }

    /// The listening descriptor's number, without lending it.
    pub(crate) fn raw_fd(&self) -> Option<RawFd> {
        self.slot
            .borrow()
            .as_ref()
            .map(|(l, _)| l.as_fd().as_raw_fd())
    }

    /// The bound address (TCP only).
    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        self.slot
            .borrow()
            .as_ref()
            .and_then(|(l, _)| l.local_addr())
    }

    /// Deregister and close the descriptor; true if one was attached.
    pub(crate) fn close(&self, lp: &EventLoop) -> bool {
        let taken = self.slot.borrow_mut().take();
        match taken {
            Some((mut l, token)) => {
                lp.deregister(l.source(), token);
                if self.lent.get() {
                    crate::sys::retire(self, OwnedFd::from(l));
                }
                true
            }
            None => false,
        }
    }

    /// Readiness: accept until the backlog is empty (edge-triggered), one
    /// callback per connection, stopping if the owner closed the handle or
    /// the loop is stopping.
    pub(crate) fn on_ready(&self, lp: &EventLoop, owner: &dyn ListenerOwner) {
        loop {
            if lp.stopping() {
                return;
            }
            let res = {
                let slot = self.slot.borrow();
                let Some((l, _)) = slot.as_ref() else {
                    return; // closed by a connection listener
                };
                l.accept()
            };
            match res {
                Ok((io, peer)) => lp.invoke(|| owner.on_connection(Accepted { io, peer })),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // A connection reset before we took it, or a signal: the
                // next one may be fine (libuv skips ECONNABORTED too).
                Err(e)
                    if e.kind() == io::ErrorKind::Interrupted
                        || e.kind() == io::ErrorKind::ConnectionAborted => {}
                Err(e) => {
                    owner.on_accept_error(Error::from_syscall(&e, "accept"));
                    return;
                }
            }
        }
    }
}

impl Drop for ListenerHandle {
    fn drop(&mut self) {
        // Lent descriptors closed earlier: no borrow of this handle is left.
        crate::sys::release(self);
    }
}
