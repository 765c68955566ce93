//! Handle bookkeeping: readiness delivery and the ref/active accounting that
//! decides whether a handle keeps the loop alive (libuv's
//! `uv__handle_start` / `uv_ref` / `uv_unref`).

use std::cell::Cell;
use std::rc::Rc;

use super::EventLoop;

/// What a poll event says about a source, copied out of mio's event.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ready {
    pub readable: bool,
    pub writable: bool,
    /// The peer closed its write side (or the socket is fully closed).
    pub read_closed: bool,
    /// An error is pending on the socket (`SO_ERROR`).
    pub error: bool,
}

impl Ready {
    /// Readable only: a stream that yielded goes on reading.
    pub(crate) fn readable() -> Ready {
        Ready {
            readable: true,
            ..Ready::default()
        }
    }

    pub(crate) fn from_event(e: &mio::event::Event) -> Ready {
        Ready {
            readable: e.is_readable(),
            writable: e.is_writable(),
            read_closed: e.is_read_closed(),
            error: e.is_error(),
        }
    }
}

/// Something registered with the loop's poller (libuv's `uv__io_t` callback).
pub(crate) trait IoHandler {
    /// Called in the poll phase with the readiness of the handler's source.
    fn on_ready(self: Rc<Self>, ready: Ready);

    /// The loop is ending with this handler still registered: close the
    /// source and drop user callbacks without emitting anything.
    fn teardown(&self);

    /// Destroy this handle if it is a connection accepted by the server
    /// whose shared object is at `server`, and say whether it was one.
    /// `Server::close_all_connections` finds a server's connections this
    /// way, among the loop's registered handles, so that a server keeps
    /// no list of them (memory per idle connection is a measured number).
    fn close_if_accepted_by(&self, _server: *const ()) -> bool {
        false
    }
}

/// Whether one handle counts toward the loop's "alive" total: it counts
/// while it is both active and ref'd, or while it has a request in flight
/// (a connect: libuv counts active requests regardless of `uv_unref`),
/// exactly once either way.
pub(crate) struct HandleRef {
    lp: Rc<EventLoop>,
    active: Cell<bool>,
    reffed: Cell<bool>,
    counted: Cell<bool>,
    requests: Cell<u32>,
}

impl HandleRef {
    pub(crate) fn new(lp: Rc<EventLoop>) -> HandleRef {
        HandleRef {
            lp,
            active: Cell::new(false),
            reffed: Cell::new(true),
            counted: Cell::new(false),
            requests: Cell::new(0),
        }
    }

    pub(crate) fn set_active(&self, active: bool) {
        self.active.set(active);
        self.sync();
    }

    pub(crate) fn set_ref(&self, reffed: bool) {
        self.reffed.set(reffed);
        self.sync();
    }

    pub(crate) fn has_ref(&self) -> bool {
        self.reffed.get()
    }

    /// A request of this handle started (libuv's `uv__req_register`).
    pub(crate) fn req_start(&self) {
        self.requests.set(self.requests.get() + 1);
        self.sync();
    }

    /// A request of this handle finished.
    pub(crate) fn req_done(&self) {
        self.requests.set(self.requests.get().saturating_sub(1));
        self.sync();
    }

    /// Every request of this handle is over (the handle closed).
    pub(crate) fn req_clear(&self) {
        self.requests.set(0);
        self.sync();
    }

    fn sync(&self) {
        let want = (self.active.get() && self.reffed.get()) || self.requests.get() > 0;
        if want != self.counted.get() {
            self.counted.set(want);
            if want {
                self.lp.ref_inc();
            } else {
                self.lp.ref_dec();
            }
        }
    }
}

impl Drop for HandleRef {
    fn drop(&mut self) {
        if self.counted.get() {
            self.lp.ref_dec();
        }
    }
}
