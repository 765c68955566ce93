//! The floor reference for `bench/compare.sh`: the least user-space work an
//! echo server can do per message on mio. One loop, one shared read buffer,
//! every fd registered once (edge-triggered, both directions), a read
//! answered by a write straight from that buffer, and only bytes the
//! kernel refused are copied into a per-connection backlog.
//!
//! Run by compare.sh as `peer-mio-echo --serve --port P` (port 0 picks a
//! free one); it prints `listening on ADDR` and serves until killed.
//! Without `--serve` it returns at once (the command line it had as a
//! `cargo bench` target, kept as compare.sh uses it).

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENER: Token = Token(usize::MAX);

struct Conn {
    stream: TcpStream,
    backlog: Vec<u8>,
    /// The poller reported the peer's FIN.
    peer_closed: bool,
}

fn main() -> io::Result<()> {
    let Some(port) = serve_port() else {
        return Ok(());
    };
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut listener = TcpListener::bind(addr)?;
    println!("listening on {}", listener.local_addr()?);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let mut conns: slab::Slab<Conn> = slab::Slab::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in events.iter() {
            if ev.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            let entry = conns.vacant_entry();
                            poll.registry().register(
                                &mut stream,
                                Token(entry.key()),
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                            entry.insert(Conn {
                                stream,
                                backlog: Vec::new(),
                                peer_closed: false,
                            });
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => break,
                    }
                }
                continue;
            }
            let key = ev.token().0;
            let Some(conn) = conns.get_mut(key) else {
                continue;
            };
            let mut close = false;
            conn.peer_closed |= ev.is_read_closed();
            let mut read = ev.is_readable() || ev.is_read_closed();
            if ev.is_writable() && !conn.backlog.is_empty() {
                close = flush(conn).is_err();
                // Reading stopped while the backlog waited, so the kernel
                // may hold bytes whose edge was already reported.
                read |= conn.backlog.is_empty();
            }
            if !close && read {
                close = on_readable(conn, &mut buf);
            }
            if close {
                let mut c = conns.remove(key);
                let _ = poll.registry().deregister(&mut c.stream);
            }
        }
    }
}

/// Read and echo until drained; true when the connection should close.
fn on_readable(conn: &mut Conn, buf: &mut [u8]) -> bool {
    loop {
        // While a backlog waits for writability, stop reading: the kernel's
        // receive buffer then pushes back on the client.
        if !conn.backlog.is_empty() {
            return false;
        }
        match conn.stream.read(buf) {
            Ok(0) => return true,
            Ok(n) => {
                let mut off = 0;
                while off < n {
                    match conn.stream.write(&buf[off..n]) {
                        Ok(k) => off += k,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            conn.backlog.extend_from_slice(&buf[off..n]);
                            break;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => return true,
                    }
                }
                // A short read drained the socket; the next arrival is a
                // new edge. With the peer's FIN already seen, read on to
                // the end of file.
                if n < buf.len() && !conn.peer_closed {
                    return false;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
}

fn flush(conn: &mut Conn) -> io::Result<()> {
    while !conn.backlog.is_empty() {
        match conn.stream.write(&conn.backlog) {
            Ok(k) => {
                conn.backlog.drain(..k);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
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
