//! An echo server that honours backpressure.
//!
//! Each socket is piped into itself: when the client stops reading, the
//! socket's write queue fills, `write` returns false, the socket pauses
//! reading, and the kernel's buffers push back on the client. Nothing grows
//! without bound.
//!
//! ```sh
//! cargo run --example echo            # listens on 127.0.0.1:7000
//! nc 127.0.0.1 7000                   # type; every line comes back
//! ```

use netloop::net::{self, Socket};

fn main() -> netloop::Result<()> {
    netloop::run(|| {
        let server = net::create_server(|_, sock: &Socket| {
            sock.pipe(sock);
            sock.on(Socket::ERROR, |_, err| eprintln!("client error: {err}"));
        });
        server.listen(7000, "127.0.0.1")?;
        if let Some(addr) = server.address() {
            println!("echo server on {addr}");
        }
        Ok(())
    })
}
