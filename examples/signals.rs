//! Graceful shutdown on Ctrl-C (SIGINT) or SIGTERM, with
//! `netloop::signals` (Node's `process.on('SIGINT')`).
//!
//! An echo server keeps a list of its open connections. On the first
//! signal it stops accepting (`server.close()`), lets the open connections
//! finish, and destroys whatever is still open after a deadline. Signal
//! listeners do not keep the loop alive, so `run` returns by itself once
//! the last connection is gone. The first signal also removes the
//! listeners: a second Ctrl-C gets the default action back and kills the
//! process at once.
//!
//! So that it ends by itself (in CI, say), the example plays both sides:
//! a client connects and says hello, the example sends itself SIGINT after
//! a second, and the client hangs up a second after that. Press Ctrl-C
//! sooner to do it yourself.
//!
//! ```sh
//! cargo run --example signals         # ends by itself after ~2 s
//! nc 127.0.0.1 PORT                   # from a second terminal, before it does
//! ```

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use netloop::net::{self, Server, Socket};
use netloop::signals::{self, ListenerId, Signal};
use netloop::timers;

/// How long open connections may take to finish after the signal.
const DEADLINE: Duration = Duration::from_secs(5);

type Open = Rc<RefCell<Vec<Socket>>>;

fn main() -> netloop::Result<()> {
    netloop::run(|| {
        let open: Open = Rc::default();
        let track = Rc::clone(&open);
        let server = net::create_server(move |_, sock: &Socket| {
            track.borrow_mut().push(sock.clone());
            let untrack = Rc::clone(&track);
            sock.on(Socket::CLOSE, move |s, _| {
                untrack.borrow_mut().retain(|o| o != s);
            });
            sock.on(Socket::ERROR, |_, err| eprintln!("client error: {err}"));
            sock.pipe(sock);
        });
        server.listen(0, "127.0.0.1")?;
        let port = server.address().map_or(0, |a| a.port());
        println!("echo server on 127.0.0.1:{port}; Ctrl-C to stop");

        let listeners: Rc<RefCell<Vec<ListenerId>>> = Rc::default();
        for sig in [Signal::INT, Signal::TERM] {
            let (server, open, ids) = (server.clone(), Rc::clone(&open), Rc::clone(&listeners));
            let id = signals::on(sig, move |sig| shutdown(sig, &server, &open, &ids))?;
            listeners.borrow_mut().push(id);
        }

        demo_client(port)?;
        Ok(())
    })?;
    println!("every connection closed: bye");
    Ok(())
}

/// Stop accepting, then give the open connections until the deadline.
fn shutdown(sig: Signal, server: &Server, open: &Open, listeners: &Rc<RefCell<Vec<ListenerId>>>) {
    // Once: with the listeners gone, a second Ctrl-C kills at once.
    for id in listeners.borrow_mut().drain(..) {
        signals::off(id);
    }
    server.close();
    println!(
        "{sig}: not accepting; {} connection(s) have {} s to finish",
        open.borrow().len(),
        DEADLINE.as_secs()
    );
    let open = Rc::clone(open);
    // Unref'd: if every connection ends sooner, nothing waits for it.
    timers::set_timeout(DEADLINE, move || {
        let remaining = std::mem::take(&mut *open.borrow_mut());
        println!("deadline: destroying {} connection(s)", remaining.len());
        for sock in remaining {
            sock.destroy();
        }
    })
    .unref();
}

/// The example's own client: says hello, and hangs up a second after the
/// server began shutting down. The SIGINT it sends stands in for Ctrl-C.
fn demo_client(port: u16) -> netloop::Result<()> {
    let client = net::connect(port, "127.0.0.1")?;
    client.on(Socket::CONNECT, |c, _| {
        c.write("hello");
    });
    client.on(Socket::DATA, |c, data| {
        println!("client: echoed {:?}", String::from_utf8_lossy(data));
        let c = c.clone();
        timers::set_timeout(Duration::from_secs(1), move || {
            println!("client: sending myself SIGINT");
            if let Err(err) = signals::raise(Signal::INT) {
                eprintln!("raise: {err}");
            }
            timers::set_timeout(Duration::from_secs(1), move || {
                println!("client: done, hanging up");
                c.end();
            });
        });
    });
    Ok(())
}
