//! Lines (Node's `readline` over a socket): the splitter, its options
//! and its event.

use std::cell::RefCell;
use std::rc::Rc;

use super::KEEP_CAPACITY;
use crate::error::{Error, ErrorCode, Result};
use crate::events::Event;
use crate::net::Socket;

/// The default maximum line length, 64 KiB: one full read, and far more
/// than any line protocol allows (SMTP: 1000 bytes, HTTP/1 headers: 16 KiB
/// in Node).
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;

/// How [`lines`] cuts a socket's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineOptions {
    /// The longest line accepted, in bytes, not counting its `\n` or
    /// `\r\n`: a longer one destroys the socket with `ERR_FRAME_TOO_LONG`.
    /// [`DEFAULT_MAX_LINE`] (64 KiB) by default.
    pub max_len: usize,
}

impl Default for LineOptions {
    fn default() -> Self {
        LineOptions {
            max_len: DEFAULT_MAX_LINE,
        }
    }
}

/// A line splitter attached to a socket by [`lines`] (Node:
/// `readline.Interface`). Its events are emitted on the socket.
#[derive(Clone)]
pub struct Lines {
    state: Rc<RefCell<LineSplitter>>,
}

impl Lines {
    /// A whole line, without its `\n` or `\r\n` (Node: readline's
    /// `'line'`); emitted on the socket. Also the last bytes before the
    /// peer's FIN when they do not end with a newline, right before
    /// [`Socket::END`].
    pub const LINE: Event<[u8]> = Event::new("line");

    /// Bytes of a line that has begun and not ended yet, held until its end
    /// arrives (0 when every read so far ended on a line boundary).
    pub fn buffered(&self) -> usize {
        self.state.borrow().partial.len()
    }
}

impl std::fmt::Debug for Lines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.state.borrow();
        f.debug_struct("Lines")
            .field("max_len", &st.max_len)
            .field("buffered", &st.partial.len())
            .finish()
    }
}

/// Split what `socket` reads into lines, emitted as [`Lines::LINE`] on the
/// socket (Node: `readline.createInterface({ input: socket })` and its
/// `'line'` events).
///
/// A line ends at `\n`; a `\r` right before it is removed too, so `\n` and
/// `\r\n` endings both work, even when a read boundary falls between the
/// `\r` and the `\n`. When the peer ends, the bytes after the last newline,
/// if any, are delivered as a last line before the `end` listeners run
/// (readline's last `'line'` before `'close'`). Empty lines are delivered
/// as empty slices. The socket keeps its other events; its `data`
/// listeners, if any, still see the raw chunks.
///
/// This adds a `data` listener, which starts reading unless the socket was
/// paused, and an `end` listener ahead of the others. Call it once per
/// socket.
///
/// # Errors
///
/// A line longer than [`LineOptions::max_len`] destroys the socket with
/// `ERR_FRAME_TOO_LONG` (`Line exceeds the maximum length of 1024
/// bytes`): `error`, then `close(true)`. It is found as soon as the line
/// outgrows the limit, whether or not its end has arrived, and nothing of
/// it is delivered.
///
/// # Differences from Node
///
/// Node's readline also ends a line at a lone `\r`, and guesses with its
/// `crlfDelay` whether a `\r` at the end of a read is followed by a `\n`
/// in the next one. netloop ends lines at `\n` only, so there is nothing
/// to guess: a lone `\r` stays in the line (only one right before the
/// `\n`, or at the very end of the stream, is removed). Node's readline
/// has no limit on a line's length and buffers without bound.
///
/// # Examples
///
/// An over-long line: the lines before it are delivered, it is not.
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use netloop::framing::{self, LineOptions, Lines};
/// use netloop::net::{self, Socket};
///
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let events = Rc::clone(&log);
/// netloop::run(move || {
///     let server = net::create_server(move |server, sock: &Socket| {
///         framing::lines(sock, LineOptions { max_len: 8 });
///         let log = Rc::clone(&events);
///         sock.on(Lines::LINE, move |_, line| {
///             log.borrow_mut().push(format!("line {}", String::from_utf8_lossy(line)));
///         });
///         let log = Rc::clone(&events);
///         sock.on(Socket::ERROR, move |_, err| {
///             log.borrow_mut().push(format!("{}: {err}", err.code().as_str()));
///         });
///         let log = Rc::clone(&events);
///         sock.on(Socket::CLOSE, move |_, had_error| {
///             log.borrow_mut().push(format!("close {had_error}"));
///         });
///         server.close();
///     });
///     server.listen(0, "127.0.0.1")?;
///     let port = server.address().expect("bound at once").port();
///     let client = net::connect(port, "127.0.0.1")?;
///     client.end_with("short\nmuch too long for eight\n");
///     client.on(Socket::ERROR, |_, _| {}); // the server may reset it
///     Ok(())
/// })
/// .expect("the loop ran");
/// assert_eq!(
///     *log.borrow(),
///     [
///         "line short",
///         "ERR_FRAME_TOO_LONG: Line exceeds the maximum length of 8 bytes",
///         "close true",
///     ]
/// );
/// ```
pub fn lines(socket: &Socket, opts: LineOptions) -> Lines {
    let state = Rc::new(RefCell::new(LineSplitter {
        partial: Vec::new(),
        max_len: opts.max_len,
    }));
    let st = Rc::clone(&state);
    socket.on(Socket::DATA, move |sock, chunk| {
        let res = split_lines(&st, chunk, &mut |line| {
            sock.emit(Lines::LINE, line);
            !sock.destroyed()
        });
        if let Err(err) = res {
            sock.destroy_with(err);
        }
    });
    let st = Rc::clone(&state);
    // Ahead of the user's `end` listeners, whenever they were added: the
    // last line belongs before the end, as readline's last `'line'`
    // comes before its `'close'`.
    socket.prepend_once_listener(Socket::END, move |sock, _| {
        let last = std::mem::take(&mut st.borrow_mut().partial);
        if !last.is_empty() {
            sock.emit(Lines::LINE, strip_cr(&last));
        }
    });
    Lines { state }
}

/// The state of a line splitter: the start of a line cut by a read
/// boundary.
struct LineSplitter {
    partial: Vec<u8>,
    max_len: usize,
}

/// `line` without one trailing `\r`.
fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn line_too_long(max_len: usize) -> Error {
    Error::new(
        ErrorCode::ERR_FRAME_TOO_LONG,
        format!("Line exceeds the maximum length of {max_len} bytes"),
    )
}

/// Whether the start of a line, `len` bytes ending with `last`, is already
/// longer than `max_len` allows: a `\r` one past the limit may still be
/// the first half of the line's `\r\n`.
fn partial_too_long(len: usize, last: Option<u8>, max_len: usize) -> bool {
    len > max_len && !(len == max_len + 1 && last == Some(b'\r'))
}

/// Cut `chunk` into lines for `emit`, which returns whether to go on (the
/// socket is still alive). The splitter's state is never borrowed while
/// `emit` runs, so a listener may look at it.
///
/// # Errors
///
/// `ERR_FRAME_TOO_LONG` for a line over the limit; the splitter keeps
/// nothing of it.
fn split_lines(
    state: &RefCell<LineSplitter>,
    chunk: &[u8],
    emit: &mut dyn FnMut(&[u8]) -> bool,
) -> Result<()> {
    let max_len = state.borrow().max_len;
    let mut rest = chunk;
    if !state.borrow().partial.is_empty() {
        // The end of the line begun in an earlier read.
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            let mut st = state.borrow_mut();
            let len = st.partial.len() + rest.len();
            let last = rest.last().copied();
            if partial_too_long(len, last, max_len) {
                st.partial = Vec::new();
                return Err(line_too_long(max_len));
            }
            st.partial.extend_from_slice(rest);
            return Ok(());
        };
        let mut line = std::mem::take(&mut state.borrow_mut().partial);
        line.extend_from_slice(&rest[..nl]);
        rest = &rest[nl + 1..];
        if strip_cr(&line).len() > max_len {
            return Err(line_too_long(max_len));
        }
        let go_on = emit(strip_cr(&line));
        line.clear();
        if line.capacity() <= KEEP_CAPACITY {
            // Reuse the buffer for the next cut line.
            state.borrow_mut().partial = line;
        }
        if !go_on {
            return Ok(());
        }
    }
    // Whole lines inside this read: slices of it, no copy.
    while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
        let line = strip_cr(&rest[..nl]);
        rest = &rest[nl + 1..];
        if line.len() > max_len {
            return Err(line_too_long(max_len));
        }
        if !emit(line) {
            return Ok(());
        }
    }
    if !rest.is_empty() {
        if partial_too_long(rest.len(), rest.last().copied(), max_len) {
            return Err(line_too_long(max_len));
        }
        state.borrow_mut().partial.extend_from_slice(rest);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a splitter delivered: each message, and whether it was a slice
    /// of the chunk it came in (no copy).
    type Out = Vec<(Vec<u8>, bool)>;

    fn line_splitter(max_len: usize) -> RefCell<LineSplitter> {
        RefCell::new(LineSplitter {
            partial: Vec::new(),
            max_len,
        })
    }

    /// Feed one read to a line splitter, noting for each line whether it
    /// is a slice of that read.
    fn feed(st: &RefCell<LineSplitter>, chunk: &[u8], out: &mut Out) -> Result<()> {
        let range = chunk.as_ptr_range();
        split_lines(st, chunk, &mut |m| {
            let p = m.as_ptr();
            out.push((m.to_vec(), range.contains(&p) || p == range.end));
            true
        })
    }

    #[test]
    fn lines_cut_anywhere_come_out_whole_and_only_cut_ones_are_copied() {
        let st = line_splitter(64);
        let mut out = Out::new();
        for chunk in [&b"hel"[..], b"lo\nwor", b"ld\r", b"\none\r\ntwo\n\nlast"] {
            feed(&st, chunk, &mut out).expect("within the limit");
        }
        let lines: Vec<&[u8]> = out.iter().map(|(l, _)| &l[..]).collect();
        assert_eq!(lines, [&b"hello"[..], b"world", b"one", b"two", b""]);
        let copied: Vec<bool> = out.iter().map(|(_, inside)| !inside).collect();
        assert_eq!(copied, [true, true, false, false, false]);
        assert_eq!(st.borrow().partial, b"last");
    }

    #[test]
    fn a_line_over_the_limit_fails_before_its_end_arrives() {
        let st = line_splitter(4);
        let mut out = Out::new();
        feed(&st, b"abcd\r", &mut out).expect("the \\r may start \\r\\n");
        feed(&st, b"\nabcd", &mut out).expect("4 bytes fit");
        let err = feed(&st, b"e", &mut out).expect_err("5 bytes do not");
        assert_eq!(err.code(), ErrorCode::ERR_FRAME_TOO_LONG);
        assert_eq!(
            err.to_string(),
            "Line exceeds the maximum length of 4 bytes"
        );
        assert_eq!(out.len(), 1);
        assert!(st.borrow().partial.is_empty());
        // Within one read too, with or without its end.
        for chunk in [&b"ok\ntoolong\n"[..], b"ok\ntoolong"] {
            let st = line_splitter(4);
            let mut out = Out::new();
            assert!(feed(&st, chunk, &mut out).is_err());
            assert_eq!(out, [(b"ok".to_vec(), true)]);
        }
    }
}
