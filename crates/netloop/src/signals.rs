//! Signals: Node's `process.on('SIGINT', listener)`, delivered on the
//! loop's thread.
//!
//! | Node | netloop |
//! | --- | --- |
//! | `process.on('SIGINT', f)` | [`on`]`(Signal::INT, f) -> Result<ListenerId>` |
//! | `process.off('SIGINT', f)` | [`off`]`(id)` |
//! | `process.listenerCount('SIGINT')` | [`listener_count`]`(Signal::INT)` |
//! | `process.kill(process.pid, 'SIGINT')` | [`raise`]`(Signal::INT)` |
//!
//! Node's rules, kept:
//!
//! - A listener runs on the loop's thread, in the poll phase, like any
//!   I/O callback (never inside the signal handler), and the
//!   [`next_tick`](crate::next_tick) queue is drained after it.
//! - Listening replaces the signal's default action: a process that
//!   listens for `SIGINT` is no longer killed by Ctrl-C.
//! - A listener does not keep the loop alive: [`run`](crate::run) returns
//!   when nothing else is alive, listener or not (Node unrefs its signal
//!   handles).
//! - Removing the last listener for a signal (in the whole process)
//!   restores the default action: a second Ctrl-C after the listener is
//!   gone kills the process, exit status "killed by signal 2". When
//!   [`run`](crate::run) returns, its loop's listeners are removed too.
//!
//! Several loops in one process (threads, [`cluster`](crate::cluster)):
//! each loop that listens for a signal gets every arrival of it, and runs
//! its own listeners for it. The default action comes back only when no
//! loop has a listener left.
//!
//! Arrivals are coalesced as the kernel coalesces pending signals: several
//! arrivals of one signal before the loop looks are delivered once, and
//! different signals that arrive together are delivered in signal-number
//! order.
//!
//! The signal handler itself comes from the signal-hook crate, which
//! writes to a self-pipe per listening loop (the self-pipe trick, as
//! libuv's `uv_signal_t` does in `src/unix/signal.c`), so netloop's own
//! code has no `unsafe` for it.
//!
//! # Graceful shutdown
//!
//! The pattern the `netloop server` and `netloop echo` commands follow:
//! on `SIGINT` or `SIGTERM`, stop accepting, let open connections finish,
//! and destroy what remains after a deadline. Listeners do not keep the
//! loop alive, so once the server's last connection is gone `run` returns
//! by itself.
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use std::time::Duration;
//! use netloop::net::{self, Socket};
//! use netloop::signals::{self, Signal};
//! use netloop::timers;
//!
//! netloop::run(|| {
//!     let open: Rc<RefCell<Vec<Socket>>> = Rc::default();
//!     let track = Rc::clone(&open);
//!     let server = net::create_server(move |_, sock: &Socket| {
//!         track.borrow_mut().push(sock.clone());
//!         sock.pipe(sock);
//!     });
//!     server.listen(0, "127.0.0.1")?;
//!     for sig in [Signal::INT, Signal::TERM] {
//!         let (server, open) = (server.clone(), Rc::clone(&open));
//!         signals::on(sig, move |sig| {
//!             eprintln!("{sig}: shutting down");
//!             server.close();
//!             // The deadline is unref'd: if every connection ends first,
//!             // nothing waits for it.
//!             let open = Rc::clone(&open);
//!             timers::set_timeout(Duration::from_secs(10), move || {
//!                 for sock in open.borrow().iter() {
//!                     sock.destroy();
//!                 }
//!             })
//!             .unref();
//!         })?;
//!     }
//!     // A real server waits for Ctrl-C; this example sends itself SIGTERM.
//!     signals::raise(Signal::TERM)?;
//!     Ok(())
//! })
//! .expect("the server shut down");
//! ```

use std::fmt;

use crate::error::{Error, Result};
use crate::event_loop::current;

/// A signal netloop can listen for (Node: the signal names of
/// `os.constants.signals`). `Display` prints Node's name, `SIGINT`.
///
/// ```
/// use netloop::signals::Signal;
///
/// assert_eq!(Signal::INT.to_string(), "SIGINT");
/// assert_eq!(Signal::TERM.as_raw(), 15); // on Linux
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signal(i32);

impl Signal {
    /// Interrupt from the terminal: Ctrl-C.
    pub const INT: Signal = Signal(libc::SIGINT);
    /// A polite request to terminate: what `kill PID`, service managers
    /// and container runtimes send first.
    pub const TERM: Signal = Signal(libc::SIGTERM);
    /// The controlling terminal went away; daemons often take it as
    /// "reload the configuration".
    pub const HUP: Signal = Signal(libc::SIGHUP);
    /// User-defined signal 1 (Node reserves it for its inspector; netloop
    /// does not).
    pub const USR1: Signal = Signal(libc::SIGUSR1);
    /// User-defined signal 2.
    pub const USR2: Signal = Signal(libc::SIGUSR2);
    /// The terminal window changed size (its default action: none).
    pub const WINCH: Signal = Signal(libc::SIGWINCH);

    const ALL: [Signal; 6] = [
        Signal::INT,
        Signal::TERM,
        Signal::HUP,
        Signal::USR1,
        Signal::USR2,
        Signal::WINCH,
    ];

    /// Node's name for the signal: `"SIGINT"`.
    pub fn name(&self) -> &'static str {
        match *self {
            Signal::INT => "SIGINT",
            Signal::TERM => "SIGTERM",
            Signal::HUP => "SIGHUP",
            Signal::USR1 => "SIGUSR1",
            Signal::USR2 => "SIGUSR2",
            Signal::WINCH => "SIGWINCH",
            // Every `Signal` is one of the constants above.
            _ => "SIGUNKNOWN",
        }
    }

    /// The signal's number on this system (Node:
    /// `os.constants.signals.SIGINT`).
    pub fn as_raw(&self) -> i32 {
        self.0
    }

    fn from_raw(signum: i32) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| s.0 == signum)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Names a listener added with [`on`], to remove it with [`off`]. Unique
/// in the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

/// Run `listener` on this loop's thread each time `signal` arrives (Node:
/// `process.on('SIGINT', listener)`); the listener gets the signal, as
/// Node passes its name. See the [module](self) documentation for the
/// rules: the signal's default action is off while any listener exists
/// in the process, and the listener does not keep the loop alive.
///
/// # Errors
///
/// The system error of setting up the handler or the loop's self-pipe
/// (`uv_signal_start EMFILE`, say), as Node throws from `process.on`.
///
/// # Panics
///
/// Outside [`run`](crate::run).
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use netloop::signals::{self, Signal};
///
/// let heard = Rc::new(Cell::new(None));
/// let h = Rc::clone(&heard);
/// netloop::run(move || {
///     let loop_thread = std::thread::current().id();
///     // The listener alone would not keep the loop alive; the signal
///     // raised below is what it waits for, so keep it alive until then.
///     let keep = netloop::timers::set_timeout(std::time::Duration::from_secs(10), || {
///         panic!("no signal came")
///     });
///     signals::on(Signal::USR2, move |sig| {
///         assert_eq!(std::thread::current().id(), loop_thread);
///         h.set(Some(sig));
///         keep.cancel();
///     })?;
///     signals::raise(Signal::USR2)?;
///     Ok(())
/// })
/// .expect("the loop ran");
/// assert_eq!(heard.get(), Some(Signal::USR2));
/// ```
pub fn on(signal: Signal, mut listener: impl FnMut(Signal) + 'static) -> Result<ListenerId> {
    let lp = current();
    let id = lp
        .signal_start(
            signal.as_raw(),
            Box::new(move |signum| {
                if let Some(sig) = Signal::from_raw(signum) {
                    listener(sig);
                }
            }),
        )
        .map_err(|e| Error::from_syscall(&e, "uv_signal_start"))?;
    Ok(ListenerId(id))
}

/// Remove the listener `id` (Node: `process.off('SIGINT', listener)`);
/// false if this loop has no such listener (removed already, or added on
/// another loop). Removing the last listener for a signal in the process
/// restores its default action.
///
/// # Panics
///
/// Outside [`run`](crate::run).
///
/// # Examples
///
/// ```
/// use netloop::signals::{self, Signal};
///
/// netloop::run(|| {
///     let id = signals::on(Signal::HUP, |_| println!("reloading"))?;
///     assert_eq!(signals::listener_count(Signal::HUP), 1);
///     assert!(signals::off(id));
///     assert!(!signals::off(id), "already removed");
///     // SIGHUP terminates the process again from here on.
///     assert_eq!(signals::listener_count(Signal::HUP), 0);
///     Ok(())
/// })
/// .expect("the loop ran");
/// ```
pub fn off(id: ListenerId) -> bool {
    current().signal_stop(id.0)
}

/// How many listeners this loop has for `signal` (Node:
/// `process.listenerCount('SIGINT')`).
///
/// # Panics
///
/// Outside [`run`](crate::run).
pub fn listener_count(signal: Signal) -> usize {
    current().signal_listener_count(signal.as_raw())
}

/// Send `signal` to this process (Node: `process.kill(process.pid,
/// 'SIGINT')`), as the terminal's Ctrl-C or `kill` would: with a listener,
/// it reaches the listeners of every loop that listens; without one, the
/// signal's default action runs (for all but `WINCH`, the process dies).
/// Works outside [`run`](crate::run) too.
///
/// # Errors
///
/// The system error of `raise(3)`, which fails only for an invalid
/// signal number.
pub fn raise(signal: Signal) -> Result<()> {
    signal_hook::low_level::raise(signal.as_raw()).map_err(|e| Error::from_syscall(&e, "kill"))
}
