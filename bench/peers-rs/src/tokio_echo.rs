//! The tokio peer for `bench/compare.sh`: a current-thread runtime, one
//! task per connection, `tokio::io::copy` from the socket's read half to
//! its write half (tokio's own idiom for an echo server).
//!
//! Run by compare.sh as `peer-tokio-echo --serve --port P` (port 0 picks a
//! free one); it prints `listening on ADDR` and serves until killed.
//! Without `--serve` it returns at once (the command line it had as a
//! `cargo bench` target, kept as compare.sh uses it).

use std::net::SocketAddr;

use tokio::net::TcpListener;

fn main() -> std::io::Result<()> {
    let Some(port) = serve_port() else {
        return Ok(());
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async move {
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let listener = TcpListener::bind(addr).await?;
        println!("listening on {}", listener.local_addr()?);
        loop {
            let (mut sock, _) = match listener.accept().await {
                Ok(x) => x,
                Err(_) => continue,
            };
            tokio::spawn(async move {
                let (mut r, mut w) = sock.split();
                // A reset peer is not the server's failure.
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    })
}

/// `--serve --port P`; without `--serve`, "not asked to serve".
fn serve_port() -> Option<u16> {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--serve") {
        return None;
    }
    let port = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    Some(port)
}
