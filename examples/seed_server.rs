//! The seed's TCP server, line by line in Rust.
//!
//! The JavaScript it follows creates a server, listens on 127.0.0.1:6969,
//! prints the bound address straight after `listen` (which netloop supports:
//! IP literals are bound synchronously), and logs every connection.
//!
//! Run it:
//!
//! ```sh
//! cargo run --example seed_server
//! ```
//!
//! and talk to it from a second terminal with `nc 127.0.0.1 6969`, the
//! seed's `node client.js`, or `cargo run --example seed_client`.

use netloop::net::{Server, Socket};

fn main() -> netloop::Result<()> {
    netloop::run(|| {
        // var HOST = '127.0.0.1'; var PORT = 6969;
        let host = "127.0.0.1";
        let port = 6969;

        // var server = net.createServer(); server.listen(PORT, HOST);
        let server = Server::new();
        server.listen(port, host)?;
        // console.log('Server listening on ' + server.address().address + ':' + server.address().port);
        if let Some(addr) = server.address() {
            println!("Server listening on {}:{}", addr.ip(), addr.port());
        }

        // server.on('connection', function(sock) { console.log('CONNECTED: ' + ...); });
        server.on(Server::CONNECTION, |_, sock: &Socket| {
            println!(
                "CONNECTED: {}:{}",
                sock.remote_address()
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                sock.remote_port().unwrap_or(0)
            );
            // Answer, so the seed's client has something to print.
            sock.on(Socket::DATA, |s, data| {
                s.write(format!("You said \"{}\"", String::from_utf8_lossy(data)));
            });
        });
        Ok(())
    })
}
