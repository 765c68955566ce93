//! The listening handle: a listening descriptor, its registration, and the
//! accept loop (libuv's `uv_listen` and `uv__server_io`), including what
//! happens when the process runs out of descriptors (libuv's
//! `uv__emfile_trick`).

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

use mio::Token;

use super::io::{ListenerIo, StreamIo};
use crate::error::Error;
use crate::event_loop::timers::TimerKey;
use crate::event_loop::{EventLoop, IoHandler, Ready};
use crate::sys::{self, AcceptFailure, SpareFd};

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
///
/// Accept failures are not reported: the handle deals with them (see
/// [`ListenerHandle::on_ready`]), as libuv 1.46 (Node 20) does, whose
/// `uv__server_io` never passes an accept error on to Node.
pub(crate) trait ListenerOwner {
    /// One accepted connection (Node's `onconnection`). Each is its own
    /// callback: ticks queued by one run before the next is reported.
    fn on_connection(&self, conn: Accepted);

    /// Whether to accept another connection now. An owner that cannot
    /// place more (the cluster's acceptor, when every worker is busy)
    /// says no, and the connections wait in the kernel's backlog, which
    /// is the backpressure TCP already has, until the owner calls
    /// [`ListenerHandle::rearm`].
    fn wants_more(&self) -> bool {
        true
    }
}

/// How long a listener waits before looking at its queue again after an
/// accept failure it could not shed (no spare descriptor, `ENOBUFS`,
/// `ENOMEM`). libuv needs no such delay: its poller is level-triggered and
/// asks again on the next iteration (at full speed, while the failure
/// lasts). Ours is edge-triggered and would never ask again for the
/// connections already queued, so a timer asks instead: often enough that
/// a client waiting in the queue is served soon after descriptors free up,
/// rarely enough to cost nothing while they do not.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// A listening descriptor and its registration.
struct Listening {
    io: ListenerIo,
    token: Token,
    /// The timer that looks at the queue again after a failure (see
    /// [`ACCEPT_RETRY_DELAY`]), while it is armed.
    retry: Option<TimerKey>,
    /// Set while accepting fails: the first failure of a spell is logged,
    /// and so is its end, not every failure in between.
    failing: Option<Failing>,
}

/// A spell of failed accepts.
struct Failing {
    /// The first failure, as Node would word it (`accept EMFILE`).
    error: Error,
    /// Connections closed unserved to shed load.
    shed: u64,
}

/// A listening handle: empty until a descriptor is attached, empty again
/// once closed.
#[derive(Default)]
pub(crate) struct ListenerHandle {
    slot: RefCell<Option<Listening>>,
    /// A descriptor was lent (`fd()`): close through `sys::retire`.
    lent: Cell<bool>,
}

impl ListenerHandle {
    /// Register a listening descriptor for `handler` (whose readiness
    /// callback forwards to [`on_ready`](ListenerHandle::on_ready)), and
    /// make sure the loop holds a spare descriptor for it (libuv opens
    /// one in `uv__stream_init`).
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
        *self.slot.borrow_mut() = Some(Listening {
            io,
            token,
            retry: None,
            failing: None,
        });
        open_spare(lp);
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
        let l = slot.as_ref()?;
        self.lent.set(true);
        Some(crate::sys::lend(self, l.io.as_fd()))
    }

    /// The listening descriptor's number, without lending it.
    pub(crate) fn raw_fd(&self) -> Option<RawFd> {
        self.slot
            .borrow()
            .as_ref()
            .map(|l| l.io.as_fd().as_raw_fd())
    }

    /// The bound address (TCP only).
    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        self.slot.borrow().as_ref().and_then(|l| l.io.local_addr())
    }

    /// Look at the listen queue again in the pending phase: an owner that
    /// stopped accepting ([`ListenerOwner::wants_more`]) takes the
    /// connections that queued meanwhile, for which the edge-triggered
    /// poller will report nothing new.
    pub(crate) fn rearm(&self, lp: &EventLoop) {
        if let Some(l) = self.slot.borrow().as_ref() {
            lp.defer_ready(l.token, Ready::readable());
        }
    }

    /// Deregister and close the descriptor, and stop any retry; true if
    /// one was attached.
    pub(crate) fn close(&self, lp: &EventLoop) -> bool {
        let taken = self.slot.borrow_mut().take();
        match taken {
            Some(mut l) => {
                if let Some(key) = l.retry.take() {
                    lp.timers.cancel(key);
                }
                lp.deregister(l.io.source(), l.token);
                if self.lent.get() {
                    crate::sys::retire(self, OwnedFd::from(l.io));
                }
                true
            }
            None => false,
        }
    }

    /// Readiness (or the retry timer): accept until the queue is empty
    /// (edge-triggered), one callback per connection, stopping if the owner
    /// closed the handle or the loop is stopping.
    ///
    /// Out of descriptors (`EMFILE`, or `ENFILE` for the whole system), the
    /// connections still queued cannot be taken, and the kernel keeps
    /// completing handshakes into the queue. libuv's answer, which this
    /// follows (`uv__emfile_trick` in `src/unix/stream.c`): close the
    /// spare descriptor the loop keeps, accept and close every queued
    /// connection with the descriptor that frees, then reopen the spare.
    /// The clients see their connection closed at once, not a hang, and
    /// the queue is empty, so the next connection raises a new edge.
    /// Without a spare (it could not be opened, or someone took the freed
    /// descriptor first), or on another failure (`ENOBUFS`, `ENOMEM`), the
    /// connections wait in the queue and a timer looks again after
    /// [`ACCEPT_RETRY_DELAY`]: the poller would never report them again.
    /// Nothing is reported to the owner (Node 20 emits no `error` for any
    /// of this); the first failure of a spell and its end are logged.
    pub(crate) fn on_ready(&self, lp: &EventLoop, owner: &dyn ListenerOwner) {
        self.cancel_retry(lp);
        loop {
            if lp.stopping() || !owner.wants_more() {
                return;
            }
            let res = {
                let slot = self.slot.borrow();
                let Some(l) = slot.as_ref() else {
                    return; // closed by a connection listener
                };
                l.io.accept()
            };
            let err = match res {
                Ok((io, peer)) => {
                    self.recovered(lp);
                    lp.invoke(|| owner.on_connection(Accepted { io, peer }));
                    continue;
                }
                Err(e) => e,
            };
            match sys::accept_failure(&err) {
                AcceptFailure::Drained => return,
                AcceptFailure::Skip => {}
                AcceptFailure::OutOfDescriptors => {
                    self.failed(&err);
                    match self.shed(lp) {
                        // The queue is empty: the next connection raises
                        // an edge of its own.
                        Ok(()) => return,
                        Err(e) => {
                            tracing::debug!(target: "netloop::net", error = %e, "could not shed load");
                            return self.retry_later(lp);
                        }
                    }
                }
                AcceptFailure::Other => {
                    self.failed(&err);
                    return self.retry_later(lp);
                }
            }
        }
    }

    /// libuv's `uv__emfile_trick`: close the loop's spare descriptor,
    /// accept and close every queued connection, reopen the spare.
    ///
    /// # Errors
    ///
    /// When there is no spare, or accepting stopped on a failure other
    /// than an empty queue: connections may still be queued.
    fn shed(&self, lp: &EventLoop) -> io::Result<()> {
        let Some(spare) = lp.spare_fd.borrow_mut().take() else {
            return Err(io::Error::other("no spare descriptor"));
        };
        drop(spare);
        let mut shed = 0;
        let end = loop {
            let res = {
                let slot = self.slot.borrow();
                let Some(l) = slot.as_ref() else {
                    break Ok(());
                };
                l.io.accept()
            };
            match res {
                // Dropped at once: closed unserved, and its descriptor is
                // free for the next one.
                Ok(_) => shed += 1,
                Err(e) => match sys::accept_failure(&e) {
                    AcceptFailure::Drained => break Ok(()),
                    AcceptFailure::Skip => {}
                    AcceptFailure::OutOfDescriptors | AcceptFailure::Other => break Err(e),
                },
            }
        };
        open_spare(lp);
        if let Some(f) = self
            .slot
            .borrow_mut()
            .as_mut()
            .and_then(|l| l.failing.as_mut())
        {
            f.shed += shed;
        }
        end
    }

    /// Note a failure; the first of a spell is logged.
    fn failed(&self, err: &io::Error) {
        let mut slot = self.slot.borrow_mut();
        let Some(l) = slot.as_mut() else { return };
        if l.failing.is_some() {
            return;
        }
        let error = Error::from_syscall(err, "accept");
        let local = l.io.local_addr();
        if matches!(sys::accept_failure(err), AcceptFailure::OutOfDescriptors) {
            tracing::warn!(
                target: "netloop::net",
                ?local,
                "{error}: out of file descriptors; closing new connections until some are free"
            );
        } else {
            tracing::warn!(
                target: "netloop::net",
                ?local,
                "{error}; trying again every {} ms",
                ACCEPT_RETRY_DELAY.as_millis()
            );
        }
        l.failing = Some(Failing { error, shed: 0 });
    }

    /// A connection was accepted: a spell of failures, if any, is over,
    /// and the spare descriptor is taken back if it was lost.
    fn recovered(&self, lp: &EventLoop) {
        let spell = {
            let mut slot = self.slot.borrow_mut();
            let Some(l) = slot.as_mut() else { return };
            let Some(f) = l.failing.take() else { return };
            (f, l.io.local_addr())
        };
        let (f, local) = spell;
        tracing::warn!(
            target: "netloop::net",
            ?local,
            shed = f.shed,
            "accepting again after {}; {} connections were closed unserved",
            f.error,
            f.shed
        );
        open_spare(lp);
    }

    /// Arm the retry timer: the poller reports nothing new for connections
    /// that are already queued.
    fn retry_later(&self, lp: &EventLoop) {
        let mut slot = self.slot.borrow_mut();
        let Some(l) = slot.as_mut() else { return };
        if l.retry.is_none() {
            l.retry = lp.ready_after(l.token, Ready::readable(), ACCEPT_RETRY_DELAY);
        }
    }

    fn cancel_retry(&self, lp: &EventLoop) {
        let key = self.slot.borrow_mut().as_mut().and_then(|l| l.retry.take());
        if let Some(key) = key {
            lp.timers.cancel(key);
        }
    }
}

/// Open the loop's spare descriptor unless it holds one. Failing is not an
/// error: it only means the next EMFILE cannot be shed, and is retried.
fn open_spare(lp: &EventLoop) {
    let mut spare = lp.spare_fd.borrow_mut();
    if spare.is_some() {
        return;
    }
    match SpareFd::open() {
        Ok(fd) => *spare = Some(fd),
        Err(e) => {
            tracing::debug!(target: "netloop::net", error = %e, "no spare descriptor for EMFILE");
        }
    }
}

impl Drop for ListenerHandle {
    fn drop(&mut self) {
        // Lent descriptors closed earlier: no borrow of this handle is left.
        crate::sys::release(self);
    }
}
