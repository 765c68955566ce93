//! `-z`: connect to each port in turn and close at once without sending
//! anything, as netcat's scan. Exit 0 when any port accepted; with `-v`,
//! a line per port says which.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use netloop::net::Socket;

use super::{Options, Target};

struct Scan {
    opts: Options,
    queue: RefCell<VecDeque<Target>>,
    any_open: Cell<bool>,
}

/// Probe `targets` one after another; returns whether any was open.
pub(super) fn run(targets: Vec<Target>, opts: Options) -> netloop::Result<bool> {
    let scan = Rc::new(Scan {
        opts,
        queue: RefCell::new(targets.into()),
        any_open: Cell::new(false),
    });
    let s = Rc::clone(&scan);
    netloop::run(move || probe_next(&s))?;
    Ok(scan.any_open.get())
}

/// Connect to the next target; its close starts the one after. One at a
/// time, as netcat, so a long range does not open hundreds of sockets.
fn probe_next(scan: &Rc<Scan>) -> netloop::Result<()> {
    let Some(target) = scan.queue.borrow_mut().pop_front() else {
        return Ok(());
    };
    let sock = super::connect(&target, &scan.opts)?;
    let s = Rc::clone(scan);
    sock.once(Socket::CONNECT, move |sock, _| {
        s.any_open.set(true);
        sock.destroy();
    });
    let verbose = scan.opts.verbose;
    sock.on(Socket::ERROR, move |_, err| {
        if verbose {
            // OpenBSD nc's words, with the reason in Node's.
            match &target {
                Target::Tcp { host, port } => {
                    eprintln!("connect to {host} port {port} (tcp) failed: {err}")
                }
                Target::Unix(_) => eprintln!("{err}"),
            }
        }
    });
    let s = Rc::clone(scan);
    sock.on(Socket::CLOSE, move |_, _| {
        if let Err(err) = probe_next(&s) {
            eprintln!("{err}");
        }
    });
    Ok(())
}
