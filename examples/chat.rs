//! A chat room: every line a client sends goes to every other client.
//!
//! Shows a server keeping its own list of sockets, `end`/`close` handling,
//! and that listeners receive their socket so they capture no cycles.
//!
//! ```sh
//! cargo run --example chat            # listens on 127.0.0.1:7001
//! nc 127.0.0.1 7001                   # in two or more terminals
//! ```

use std::cell::RefCell;
use std::rc::Rc;

use netloop::net::{self, Socket};

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

            let peers = Rc::clone(&room);
            let from = name.clone();
            sock.on(Socket::DATA, move |me, data| {
                let line = format!("{from}> {}", String::from_utf8_lossy(data));
                for other in peers.borrow().iter().filter(|s| *s != me) {
                    other.write(&line);
                }
            });
            let peers = Rc::clone(&room);
            sock.on(Socket::CLOSE, move |me, _| {
                peers.borrow_mut().retain(|s| s != me);
                println!("{name} left");
            });
            sock.on(Socket::ERROR, |_, err| eprintln!("client error: {err}"));
        });
        server.listen(7001, "127.0.0.1")?;
        println!("chat server on 127.0.0.1:7001");
        Ok(())
    })
}
