//! A chat room: every line a client sends goes to every other client.
//!
//! Shows a server keeping its own list of sockets, `end`/`close` handling,
//! that listeners receive their socket so they capture no cycles, and why
//! a chat relays lines, not `data` chunks. TCP keeps bytes in order but
//! not the boundaries of the peer's writes: a slow link (or a client that
//! types `hel`, pauses, then `lo⏎`) delivers `hel` and `lo\n` as two
//! chunks, and relaying chunks would show others two broken lines.
//! `netloop::framing::lines` cuts the stream at each newline instead, and
//! drops a client whose line passes 1 KiB rather than buffer it forever.
//!
//! ```sh
//! cargo run --example chat            # listens on 127.0.0.1:7001
//! nc 127.0.0.1 7001                   # in two or more terminals
//! ```
//!
//! Try `printf 'hel' | nc -q 5 127.0.0.1 7001` against a second client:
//! the room sees nothing until the line ends, and `hel` arrives whole when
//! the sender hangs up (the last line, delivered at `end`).
//!
//! Ctrl-C (SIGINT) shuts the room down gracefully: the server stops
//! accepting, every client is told and ended, and the process exits once
//! the last one has gone (a second Ctrl-C exits at once: the listener is
//! removed after the first, which gives SIGINT its default action back).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use netloop::framing::{self, LineOptions, Lines};
use netloop::net::{self, Socket};
use netloop::signals::{self, Signal};

fn main() -> netloop::Result<()> {
    netloop::run(|| {
        let clients: Rc<RefCell<Vec<Socket>>> = Rc::new(RefCell::new(Vec::new()));
        let room = Rc::clone(&clients);
        let server = net::create_server(move |_, sock: &Socket| {
            let name = format!(
                "{}:{}",
                sock.remote_address()
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                sock.remote_port().unwrap_or(0)
            );
            room.borrow_mut().push(sock.clone());
            sock.write(format!("Welcome {name}\n"));

            framing::lines(sock, LineOptions { max_len: 1024 });
            let peers = Rc::clone(&room);
            let from = name.clone();
            sock.on(Lines::LINE, move |me, line| {
                // The newline was cut off: each relayed line puts it back.
                let line = format!("{from}> {}\n", String::from_utf8_lossy(line));
                for other in peers.borrow().iter().filter(|s| *s != me) {
                    other.write(&line);
                }
            });
            let peers = Rc::clone(&room);
            sock.on(Socket::CLOSE, move |me, _| {
                peers.borrow_mut().retain(|s| s != me);
                println!("{name} left");
            });
            // A line over 1 KiB ends up here (ERR_FRAME_TOO_LONG), then
            // `close` removes the client from the room.
            sock.on(Socket::ERROR, |_, err| eprintln!("client error: {err}"));
        });
        server.listen(7001, "127.0.0.1")?;
        println!("chat server on 127.0.0.1:7001");

        // Node: `process.on('SIGINT', ..)`. The listener does not keep the
        // loop alive; the server and the clients do, until they are gone.
        let id = Rc::new(Cell::new(None));
        let me = Rc::clone(&id);
        id.set(Some(signals::on(Signal::INT, move |_| {
            println!("shutting down");
            server.close();
            for client in clients.borrow().iter() {
                client.end_with("server shutting down\n");
            }
            if let Some(id) = me.take() {
                signals::off(id);
            }
        })?));
        Ok(())
    })
}
