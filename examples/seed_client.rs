//! The seed's TCP client, line by line in Rust.
//!
//! It connects to 127.0.0.1:6969, sends `I am Chuck Norris!`, prints the
//! server's answer, destroys the socket and prints `Connection closed`.
//!
//! Start a server first (`cargo run --example seed_server`, or
//! `cargo run --release -- server`), then:
//!
//! ```sh
//! cargo run --example seed_client
//! ```

use netloop::net::Socket;

fn main() -> netloop::Result<()> {
    netloop::run(|| {
        // var HOST = '127.0.0.1'; var PORT = 6969;
        let host = "127.0.0.1";
        let port = 6969;

        // var client = new net.Socket();
        let client = Socket::new();
        // client.connect(PORT, HOST, function() { ... });
        client.connect(port, host)?;
        client.once(Socket::CONNECT, move |client, _| {
            println!("CONNECTED TO: {host}:{port}");
            // Write a message to the socket as soon as the client is connected.
            client.write("I am Chuck Norris!");
        });

        // client.on('data', function(data) { console.log('DATA: ' + data); client.destroy(); });
        client.on(Socket::DATA, |client, data| {
            println!("DATA: {}", String::from_utf8_lossy(data));
            // Close the client socket completely.
            client.destroy();
        });

        // client.on('close', function() { console.log('Connection closed'); });
        client.on(Socket::CLOSE, |_, _had_error| {
            println!("Connection closed");
        });
        Ok(())
    })
}
