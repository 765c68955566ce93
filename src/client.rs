//! `netloop client`: the seed's client, line for line.

use std::cell::RefCell;
use std::rc::Rc;

use netloop::net::Socket;

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
}

pub fn run(args: Args) -> netloop::Result<()> {
    let failure: Rc<RefCell<Option<netloop::Error>>> = Rc::new(RefCell::new(None));
    let fail = Rc::clone(&failure);
    netloop::run(move || {
        let client = Socket::new();
        let (host, port, message) = (args.host.clone(), args.port, args.message.clone());
        client.connect(port, &host)?;
        client.on(Socket::CONNECT, move |c, _| {
            println!("CONNECTED TO: {host}:{port}");
            c.write(&message);
        });
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
        Some(e) => Err(e),
        None => Ok(()),
    }
}
