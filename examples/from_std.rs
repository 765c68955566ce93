//! Handing std sockets to netloop, and reaching under netloop with socket2.
//!
//! Before the loop exists, ordinary blocking code binds a
//! `std::net::TcpListener` and connects a `std::net::TcpStream` to it (the
//! kernel completes the handshake from the listen backlog). Inside the
//! loop, `Server::listen_std` adopts the listener (Node's
//! `server.listen({ fd })`) and `Socket::from_std` adopts the stream (Node's
//! `new net.Socket({ fd })`); from then on both are ordinary netloop
//! handles with events. The server sets a keep-alive probe interval, which
//! netloop does not wrap, through socket2's `SockRef` on the accepted
//! socket (`AsFd`). `main` returns `std::io::Result`: netloop's errors
//! convert with `?`.
//!
//! ```sh
//! cargo run --example from_std            # the demo: prints what happens, then exits
//! cargo run --example from_std -- serve   # keeps serving on 127.0.0.1:7001
//! nc 127.0.0.1 7001                       # (with `serve`) lines come back upper-cased
//! ```

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use netloop::net::{Server, Socket};
use netloop::Slot;
use socket2::{SockRef, TcpKeepalive};

fn main() -> std::io::Result<()> {
    let serve = std::env::args().nth(1).as_deref() == Some("serve");
    let listener = TcpListener::bind(if serve {
        "127.0.0.1:7001"
    } else {
        "127.0.0.1:0"
    })?;
    let addr = listener.local_addr()?;
    let stream = TcpStream::connect(addr)?;
    // Set with std before netloop takes over; it stays set.
    stream.set_nodelay(true)?;

    let reply = netloop::run_returning(move || {
        let server = Server::new();
        server.on(Server::CONNECTION, move |server, sock| {
            // Keep-alive probes every 5 s after 30 s idle: netloop's
            // `set_keep_alive` sets only the idle time, socket2 does the rest.
            let probes = TcpKeepalive::new()
                .with_time(Duration::from_secs(30))
                .with_interval(Duration::from_secs(5));
            if let Err(e) = SockRef::from(sock).set_tcp_keepalive(&probes) {
                eprintln!("server: could not set keep-alive: {e}");
            }
            println!(
                "server: connection from {:?}, keep-alive {:?}",
                sock.remote_address(),
                sock.keep_alive()
            );
            sock.on(Socket::DATA, |s, data| {
                s.write(data.to_ascii_uppercase());
            });
            sock.on(Socket::ERROR, |_, err| eprintln!("server: {err}"));
            if !serve {
                server.close(); // the demo takes one connection
            }
        });
        server.listen_std(listener)?;
        println!("server: adopted a std listener on {addr}");

        let client = Socket::from_std(stream)?;
        println!(
            "client: adopted a std stream to port {:?}, no_delay {:?}",
            client.remote_port(),
            client.no_delay()
        );
        let reply = Slot::new(String::new());
        let r = reply.clone();
        client.on(Socket::DATA, move |c, data| {
            r.update(|s| s.push_str(&String::from_utf8_lossy(data)));
            c.end();
        });
        client.write("hello from a std stream\n");
        Ok(reply)
    })?;
    print!("client: the server said {reply}");
    Ok(())
}
