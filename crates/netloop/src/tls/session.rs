//! Client sessions for resumption (Node: `tlsSocket.getSession()` and the
//! `session` option of `tls.connect`).

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use rustls::client::{Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;

/// What a server gave a client to resume with: TLS 1.3 tickets (each good
/// for one resumption, as RFC 8446 section 4.6.1 advises) or a TLS 1.2
/// session.
#[derive(Default)]
pub(crate) struct SessionData {
    /// The server name the session was made with: it is offered to that
    /// name only.
    pub server_name: Option<ServerName<'static>>,
    pub tls13: Vec<Tls13ClientSessionValue>,
    pub tls12: Option<Tls12ClientSessionValue>,
}

/// A TLS session a later [`tls::connect`](crate::tls::connect) can resume
/// (Node: the `Buffer` from `tlsSocket.getSession()` or the `session`
/// event, passed back as the `session` option).
///
/// Unlike Node's buffer it is an in-memory value, not bytes: rustls does
/// not serialize sessions, so it cannot be saved to disk. Clones share the
/// same tickets; a TLS 1.3 ticket is used up by the connect that offers
/// it, so a session is good for as many resumptions as the server sent
/// tickets (two by default, as Node's servers send), and every resumed
/// connection brings new ones.
///
/// ```
/// # use netloop::tls::TlsSession;
/// let none = TlsSession::default();
/// assert!(!none.is_resumable());
/// ```
#[derive(Clone, Default)]
pub struct TlsSession(Rc<RefCell<SessionData>>);

impl TlsSession {
    /// True while it holds a ticket or session to offer.
    pub fn is_resumable(&self) -> bool {
        let d = self.0.borrow();
        !d.tls13.is_empty() || d.tls12.is_some()
    }

    /// How many TLS 1.3 tickets are left to offer.
    pub fn tickets(&self) -> usize {
        self.0.borrow().tls13.len()
    }

    fn for_name(&self, name: &ServerName<'_>) -> bool {
        self.0
            .borrow()
            .server_name
            .as_ref()
            .is_some_and(|n| n == name)
    }

    pub(crate) fn tls12(&self, name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        if !self.for_name(name) {
            return None;
        }
        self.0.borrow().tls12.clone()
    }

    /// The newest ticket first: it lives longest.
    pub(crate) fn take_tls13(&self, name: &ServerName<'_>) -> Option<Tls13ClientSessionValue> {
        if !self.for_name(name) {
            return None;
        }
        self.0.borrow_mut().tls13.pop()
    }

    /// Add what a connection received.
    pub(crate) fn absorb(&self, data: SessionData) {
        let mut d = self.0.borrow_mut();
        if data.server_name.is_some() && d.server_name != data.server_name {
            // Tickets for another name are of no use with this one.
            d.tls13.clear();
            d.tls12 = None;
            d.server_name = data.server_name;
        }
        d.tls13.extend(data.tls13);
        if data.tls12.is_some() {
            d.tls12 = data.tls12;
        }
    }
}

impl fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0.borrow();
        f.debug_struct("TlsSession")
            .field("tls13_tickets", &d.tls13.len())
            .field("tls12", &d.tls12.is_some())
            .finish()
    }
}
