//! Framing: messages out of a socket's byte stream, as lines (Node's
//! `readline` over a socket) or as length-prefixed frames.
//!
//! TCP delivers bytes, not the writes the peer made: `hel` and `lo\n` may
//! arrive as two `data` chunks, and two messages as one. A protocol built
//! on [`Socket::DATA`](crate::net::Socket::DATA) must cut the stream itself, and the usual bug is to
//! treat each chunk as a message. This module does the cutting. Attach a
//! splitter to a socket and listen for whole messages on the socket itself:
//!
//! | Node | netloop |
//! | --- | --- |
//! | `readline.createInterface({ input: socket })` | [`lines(&socket, LineOptions::default())`](lines) |
//! | `rl.on('line', fn)` | `socket.on(Lines::LINE, \|socket, line\| ..)` |
//! | `rl.on('close', fn)` after the input ended | `socket.on(Socket::END, ..)` (the last line comes first) |
//! | a length-prefixed protocol by hand (`buf.readUInt32BE`) | [`frames(&socket, FrameOptions::default())`](frames), `socket.on(Frames::FRAME, ..)` |
//! | `socket.write(header + payload)` | [`write_frame(&socket, Header::U32, payload)`](write_frame) |
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use netloop::framing::{self, LineOptions, Lines};
//! use netloop::net::{self, Socket};
//!
//! let heard = Rc::new(RefCell::new(Vec::new()));
//! let sink = Rc::clone(&heard);
//! netloop::run(move || {
//!     // A server that answers every line, however the bytes arrive.
//!     let server = net::create_server(|server, sock: &Socket| {
//!         framing::lines(sock, LineOptions::default());
//!         sock.on(Lines::LINE, |sock, line| {
//!             sock.write(format!("{} bytes\n", line.len()));
//!         });
//!         server.close();
//!     });
//!     server.listen(0, "127.0.0.1")?;
//!     let port = server.address().expect("bound at once").port();
//!
//!     let client = net::connect(port, "127.0.0.1")?;
//!     client.write("hel");
//!     client.write("lo\r\nworld\n");
//!     client.end_with("no newline at the end");
//!     framing::lines(&client, LineOptions::default());
//!     client.on(Lines::LINE, move |_, line| {
//!         sink.borrow_mut().push(String::from_utf8_lossy(line).into_owned());
//!     });
//!     Ok(())
//! })
//! .expect("the loop ran");
//! assert_eq!(*heard.borrow(), ["5 bytes", "5 bytes", "21 bytes"]);
//! ```
//!
//! # How messages are delivered
//!
//! - **On the socket.** [`Lines::LINE`] and [`Frames::FRAME`] are events
//!   of the socket, so a listener receives the socket first, as every
//!   socket listener does, and can answer without capturing it. Attaching a
//!   splitter adds a `data` listener, which starts reading (Node's flowing
//!   mode); add the message listener in the same callback, since messages
//!   nobody listens to are gone, as `readline`'s lines are.
//! - **Without copies where possible.** A message that lies whole inside
//!   one read is handed to the listeners as a slice of that read's buffer.
//!   Only the start of a message cut by a read boundary is copied, into a
//!   buffer of the splitter, until its end arrives.
//! - **Bounded.** Each splitter has a maximum message length. A peer that
//!   goes past it (a line with no end in sight, a length header announcing
//!   more than the maximum) is not buffered: the socket is destroyed with
//!   an [`ERR_FRAME_TOO_LONG`](crate::ErrorCode::ERR_FRAME_TOO_LONG) error,
//!   so `error` then `close(true)` follow, and nothing of that message is
//!   delivered. Messages before it in the same read are delivered first.
//! - **In order, until destroyed.** A listener that destroys the socket
//!   stops the delivery of the rest of that read. One that pauses it does
//!   not: the messages already read are delivered (Node's `rl.pause()`
//!   documents the same), and reading stops after them.

mod frames;
mod lines;

pub use frames::{
    frames, write_frame, write_frame_owned, FrameOptions, Frames, Header, DEFAULT_MAX_FRAME,
};
pub use lines::{lines, LineOptions, Lines, DEFAULT_MAX_LINE};

/// Buffers for a partial message keep at most this much capacity between
/// messages: a connection that once received a long message does not hold
/// its memory forever (an idle connection costs what its buffers keep).
const KEEP_CAPACITY: usize = 4 * 1024;
