//! `netloop client`: the seed's client, line for line; with `--tls`, the
//! same dialogue over TLS (Node's `tls.connect`), whose `CONNECTED TO:`
//! line comes once the handshake is done and the server's certificate
//! verified.

use std::cell::RefCell;
use std::rc::Rc;

use netloop::net::Socket;
use netloop::tls::{self, TlsSocket};

#[derive(clap::Args)]
pub struct Args {
    /// Server to connect to: an IP address or a host name.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Server port to connect to.
    #[arg(long, default_value_t = 6969)]
    port: u16,
    /// The message to send.
    #[arg(long, default_value = "I am Chuck Norris!")]
    message: String,
    #[command(flatten)]
    tls: crate::tls_args::TlsClientArgs,
}

pub fn run(args: Args) -> netloop::Result<()> {
    let failure: Rc<RefCell<Option<netloop::Error>>> = Rc::new(RefCell::new(None));
    let fail = Rc::clone(&failure);
    let tls = args.tls.options(&args.host, args.port)?;
    netloop::run(move || {
        let (host, port, message) = (args.host.clone(), args.port, args.message.clone());
        let connected = move |c: &Socket| {
            println!("CONNECTED TO: {host}:{port}");
            c.write(&message);
        };
        let client = match tls {
            None => {
                let client = Socket::new();
                client.connect(port, &args.host)?;
                client.on(Socket::CONNECT, move |c, _| connected(c));
                client
            }
            // Node's `tls.connect(options, callback)`: the callback is a
            // `secureConnect` listener. A server that fails verification
            // is an `error` instead (Node's `rejectUnauthorized`).
            Some(opts) => {
                let client = tls::connect(opts)?;
                client.on(TlsSocket::SECURE_CONNECT, move |c, _| connected(c));
                client.socket().clone()
            }
        };
        client.on(Socket::DATA, |c, data| {
            println!("DATA: {}", String::from_utf8_lossy(data));
            c.destroy();
        });
        client.on(Socket::ERROR, move |_, err| {
            *fail.borrow_mut() = Some(err.clone());
        });
        client.on(Socket::CLOSE, |_, _| {
            println!("Connection closed");
        });
        Ok(())
    })?;
    let failed = failure.borrow_mut().take();
    match failed {
        // Node's first line of an uncaught error: the code is named when
        // the message does not say it (`Error [DEPTH_ZERO_SELF_SIGNED_CERT]:
        // self-signed certificate`).
        Some(e) => Err(netloop::Error::new(
            e.code(),
            crate::tls_args::with_code(&e),
        )),
        None => Ok(()),
    }
}
