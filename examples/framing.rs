//! Messages out of a byte stream: a line protocol and a length-prefixed
//! one over loopback, each fed in pieces that cut its messages anywhere.
//!
//! TCP delivers bytes in order but forgets where the peer's writes began
//! and ended, so a server that treats each `data` chunk as a message breaks
//! as soon as a message is split (a slow link, a large message) or two
//! arrive together (a fast client). The server prints the raw chunks it
//! reads next to the messages `netloop::framing` cuts out of them:
//!
//! - lines (Node's `readline` over a socket): an upper-casing server, fed
//!   `hel`, `lo\r\nwor`, `ld\nand a last line` a few milliseconds apart;
//! - frames with a 4-byte big-endian length header: a server that answers
//!   each frame with its size, fed a small frame, an empty one, a 5 MB one
//!   handed over without a copy (`write_frame_owned`), and a frame written
//!   one byte at a time.
//!
//! ```sh
//! cargo run --example framing      # both conversations on 127.0.0.1, then exits
//! ```
//!
//! It listens on port 0 and exits once both conversations are over; to
//! type lines at a server yourself, run the `chat` example and
//! `nc 127.0.0.1 7001`.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use netloop::framing::{self, FrameOptions, Frames, Header, LineOptions, Lines};
use netloop::net::{self, Socket};
use netloop::timers::set_timeout;

fn main() -> netloop::Result<()> {
    netloop::run(|| {
        lines_demo(|| {
            if let Err(e) = frames_demo() {
                eprintln!("frames: {e}");
            }
        })
    })
}

/// Print a chunk as the server read it.
fn show(who: &str, chunk: &[u8]) {
    println!("{who} read {:?}", String::from_utf8_lossy(chunk));
}

/// Send `pieces` 20 ms apart (so that each is likely a read of its own;
/// the messages come out the same either way), then end.
fn send_spread(client: &Socket, pieces: Vec<Vec<u8>>) {
    let mut delay = Duration::ZERO;
    for piece in pieces {
        delay += Duration::from_millis(20);
        let c = client.clone();
        set_timeout(delay, move || {
            c.write_owned(piece);
        });
    }
    let c = client.clone();
    set_timeout(delay + Duration::from_millis(20), move || {
        c.end();
    });
}

fn lines_demo(then: impl FnOnce() + 'static) -> netloop::Result<()> {
    let server = net::create_server(|server, sock: &Socket| {
        sock.on(Socket::DATA, |_, chunk| show("lines server", chunk));
        framing::lines(sock, LineOptions { max_len: 1024 });
        sock.on(Lines::LINE, |sock, line| {
            println!("lines server line {:?}", String::from_utf8_lossy(line));
            let mut reply = line.to_ascii_uppercase();
            reply.push(b'\n');
            sock.write_owned(reply);
        });
        server.close(); // one client, so that the example ends
    });
    server.listen(0, "127.0.0.1")?;
    let port = server.address().expect("bound at once").port();

    let client = net::connect(port, "127.0.0.1")?;
    client.set_no_delay(true);
    framing::lines(&client, LineOptions::default());
    client.on(Lines::LINE, |_, line| {
        println!("lines client got {:?}", String::from_utf8_lossy(line));
    });
    let mut then = Some(then);
    client.on(Socket::CLOSE, move |_, _| {
        println!();
        if let Some(then) = then.take() {
            then();
        }
    });
    let pieces = ["hel", "lo\r\nwor", "ld\nand a last line"];
    send_spread(
        &client,
        pieces.iter().map(|p| p.as_bytes().to_vec()).collect(),
    );
    Ok(())
}

fn frames_demo() -> netloop::Result<()> {
    let server = net::create_server(|server, sock: &Socket| {
        // Reads since the last frame: a large frame takes many.
        let reads = Rc::new(Cell::new(0));
        let count = Rc::clone(&reads);
        sock.on(Socket::DATA, move |_, chunk| {
            count.set(count.get() + 1);
            if chunk.len() <= 16 {
                show("frames server", chunk);
            }
        });
        framing::frames(sock, FrameOptions::default());
        sock.on(Frames::FRAME, move |sock, frame| {
            let reads = match reads.replace(0) {
                0 => "in the same read as the one before".to_string(),
                1 => "1 read".to_string(),
                n => format!("{n} reads"),
            };
            println!("frames server frame of {} bytes, {reads}", frame.len());
            let reply = format!("got {} bytes", frame.len());
            if let Err(e) = framing::write_frame(sock, Header::U32, reply.as_bytes()) {
                eprintln!("reply: {e}");
            }
        });
        server.close();
    });
    server.listen(0, "127.0.0.1")?;
    let port = server.address().expect("bound at once").port();

    let client = net::connect(port, "127.0.0.1")?;
    client.set_no_delay(true);
    framing::frames(&client, FrameOptions::default());
    client.on(Frames::FRAME, |_, frame| {
        println!("frames client got {:?}", String::from_utf8_lossy(frame));
    });
    framing::write_frame(&client, Header::U32, b"hello")?;
    framing::write_frame(&client, Header::U32, b"")?;
    framing::write_frame_owned(&client, Header::U32, vec![b'x'; 5_000_000])?;
    // A 3-byte frame, one byte per write.
    let pieces = [0, 0, 0, 3, b'a', b'b', b'c']
        .iter()
        .map(|b| vec![*b])
        .collect();
    send_spread(&client, pieces);
    Ok(())
}
