//! Length-prefixed frames: the header, the splitter, its options and
//! its event, and the writing side.

use std::cell::RefCell;
use std::rc::Rc;

use super::KEEP_CAPACITY;
use crate::error::{Error, ErrorCode, Result};
use crate::events::Event;
use crate::net::Socket;

/// The default maximum frame length, 8 MiB (tokio-util's
/// `LengthDelimitedCodec` has the same default).
pub const DEFAULT_MAX_FRAME: usize = 8 * 1024 * 1024;

/// The length header in front of each frame: an unsigned big-endian
/// integer (network byte order) that counts the payload's bytes, not its
/// own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Header {
    /// Two bytes: payloads of at most 65535 bytes.
    U16,
    /// Four bytes: payloads of at most 4 GiB - 1.
    #[default]
    U32,
}

impl Header {
    /// The header's own length in bytes: 2 or 4.
    pub const fn size(self) -> usize {
        match self {
            Header::U16 => 2,
            Header::U32 => 4,
        }
    }

    /// The longest payload the header can announce.
    pub const fn max_payload(self) -> usize {
        match self {
            Header::U16 => u16::MAX as usize,
            Header::U32 => u32::MAX as usize,
        }
    }

    /// The header for a payload of `len` bytes, in the first
    /// [`size`](Header::size) bytes of the array.
    fn encode(self, len: usize) -> Result<[u8; 4]> {
        let too_long = || {
            Error::new(
                ErrorCode::ERR_OUT_OF_RANGE,
                format!(
                    "The value of \"payload.length\" is out of range. It must be <= {}. Received {len}",
                    self.max_payload()
                ),
            )
        };
        match self {
            Header::U16 => {
                let [a, b] = u16::try_from(len).map_err(|_| too_long())?.to_be_bytes();
                Ok([a, b, 0, 0])
            }
            Header::U32 => Ok(u32::try_from(len).map_err(|_| too_long())?.to_be_bytes()),
        }
    }

    /// The payload length announced by a header, held in the first
    /// [`size`](Header::size) bytes of `head`.
    fn decode(self, head: [u8; 4]) -> usize {
        match self {
            Header::U16 => usize::from(u16::from_be_bytes([head[0], head[1]])),
            // Lossless on every target netloop builds for (64-bit Linux);
            // saturating keeps a 32-bit build correct too, since such a
            // length is over any limit anyway.
            Header::U32 => usize::try_from(u32::from_be_bytes(head)).unwrap_or(usize::MAX),
        }
    }
}

/// How [`frames`] cuts a socket's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameOptions {
    /// The length header in front of each frame, [`Header::U32`] by
    /// default.
    pub header: Header,
    /// The longest payload accepted: a header announcing more destroys the
    /// socket with `ERR_FRAME_TOO_LONG` before any of the payload is read.
    /// [`DEFAULT_MAX_FRAME`] (8 MiB) by default.
    pub max_len: usize,
}

impl Default for FrameOptions {
    fn default() -> Self {
        FrameOptions {
            header: Header::U32,
            max_len: DEFAULT_MAX_FRAME,
        }
    }
}

/// A frame splitter attached to a socket by [`frames`]. Its events are
/// emitted on the socket.
#[derive(Clone)]
pub struct Frames {
    state: Rc<RefCell<FrameSplitter>>,
}

impl Frames {
    /// A whole frame's payload, without its header; emitted on the socket.
    pub const FRAME: Event<[u8]> = Event::new("frame");

    /// Bytes of a frame (header or payload) that has begun and not ended
    /// yet, held until its end arrives.
    pub fn buffered(&self) -> usize {
        let st = self.state.borrow();
        st.head_len + st.body.len()
    }
}

impl std::fmt::Debug for Frames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.state.borrow();
        f.debug_struct("Frames")
            .field("header", &st.header)
            .field("max_len", &st.max_len)
            .field("buffered", &(st.head_len + st.body.len()))
            .finish()
    }
}

/// Split what `socket` reads into length-prefixed frames, emitted as
/// [`Frames::FRAME`] on the socket (Node has no built-in equivalent: it is
/// the `buf.readUInt32BE(0)` loop every Node protocol writes by hand).
///
/// Each frame is a [`Header`] (a big-endian payload length) followed by
/// that many bytes; listeners receive the payload. Headers and payloads
/// may be cut anywhere by read boundaries, and a read may hold many frames;
/// either way each frame is delivered once, whole, in order. Empty frames
/// are delivered as empty slices. [`write_frame`] writes the other side.
///
/// This adds a `data` listener, which starts reading unless the socket was
/// paused, and an `end` listener ahead of the others. Call it once per
/// socket.
///
/// # Errors
///
/// - A header announcing more than [`FrameOptions::max_len`] destroys the
///   socket with `ERR_FRAME_TOO_LONG` (`Frame of 70000 bytes exceeds the
///   maximum length of 65536 bytes`) as soon as the header is read, before
///   any of the payload is buffered: `error`, then `close(true)`.
/// - A peer that ends in the middle of a frame destroys the socket with
///   `ERR_STREAM_PREMATURE_CLOSE` (`Premature close: the stream ended 3
///   bytes into a frame of 10 bytes`) right after its `end` listeners ran:
///   the partial frame is never delivered, and its loss is not silent.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use netloop::framing::{self, FrameOptions, Frames, Header};
/// use netloop::net::{self, Socket};
///
/// let heard = Rc::new(RefCell::new(Vec::new()));
/// let sink = Rc::clone(&heard);
/// netloop::run(move || {
///     let opts = FrameOptions { header: Header::U16, max_len: 1024 };
///     let server = net::create_server(move |server, sock: &Socket| {
///         framing::frames(sock, opts);
///         let sink = Rc::clone(&sink);
///         sock.on(Frames::FRAME, move |_, payload| sink.borrow_mut().push(payload.to_vec()));
///         server.close();
///     });
///     server.listen(0, "127.0.0.1")?;
///     let port = server.address().expect("bound at once").port();
///
///     let client = net::connect(port, "127.0.0.1")?;
///     framing::write_frame(&client, Header::U16, b"hello")?;
///     framing::write_frame(&client, Header::U16, b"")?;
///     client.write([0, 3, b'a']); // a frame cut in two by hand
///     client.end_with("bc");
///     Ok(())
/// })
/// .expect("the loop ran");
/// assert_eq!(*heard.borrow(), [&b"hello"[..], b"", b"abc"]);
/// ```
pub fn frames(socket: &Socket, opts: FrameOptions) -> Frames {
    let state = Rc::new(RefCell::new(FrameSplitter {
        header: opts.header,
        max_len: opts.max_len,
        head: [0; 4],
        head_len: 0,
        body: Vec::new(),
        body_len: None,
    }));
    let st = Rc::clone(&state);
    socket.on(Socket::DATA, move |sock, chunk| {
        let res = split_frames(&st, chunk, &mut |frame| {
            sock.emit(Frames::FRAME, frame);
            !sock.destroyed()
        });
        if let Err(err) = res {
            sock.destroy_with(err);
        }
    });
    let st = Rc::clone(&state);
    socket.prepend_once_listener(Socket::END, move |sock, _| {
        let cut = {
            let mut st = st.borrow_mut();
            let cut = match (st.head_len, st.body_len) {
                (0, None) => None,
                (at, None) => Some(format!("{at} bytes into a frame header")),
                (_, Some(len)) => Some(format!(
                    "{} bytes into a frame of {len} bytes",
                    st.body.len()
                )),
            };
            st.head_len = 0;
            st.body_len = None;
            st.body = Vec::new();
            cut
        };
        if let Some(cut) = cut {
            sock.destroy_with(Error::new(
                ErrorCode::ERR_STREAM_PREMATURE_CLOSE,
                format!("Premature close: the stream ended {cut}"),
            ));
        }
    });
    Frames { state }
}

/// The state of a frame splitter: a header or a payload cut by a read
/// boundary.
struct FrameSplitter {
    header: Header,
    max_len: usize,
    /// The bytes of a header cut by a read boundary.
    head: [u8; 4],
    head_len: usize,
    /// The bytes of a payload cut by a read boundary, and its length once
    /// its header was read.
    body: Vec<u8>,
    body_len: Option<usize>,
}

fn frame_too_long(len: usize, max_len: usize) -> Error {
    Error::new(
        ErrorCode::ERR_FRAME_TOO_LONG,
        format!("Frame of {len} bytes exceeds the maximum length of {max_len} bytes"),
    )
}

/// Cut `chunk` into frames for `emit`, which returns whether to go on. The
/// splitter's state is never borrowed while `emit` runs.
///
/// # Errors
///
/// `ERR_FRAME_TOO_LONG` for a header over the limit.
fn split_frames(
    state: &RefCell<FrameSplitter>,
    chunk: &[u8],
    emit: &mut dyn FnMut(&[u8]) -> bool,
) -> Result<()> {
    let (header, max_len) = {
        let st = state.borrow();
        (st.header, st.max_len)
    };
    let size = header.size();
    let mut rest = chunk;
    loop {
        // A payload begun in an earlier read: complete it.
        let cut_body = {
            let mut st = state.borrow_mut();
            match st.body_len {
                Some(len) => {
                    let take = (len - st.body.len()).min(rest.len());
                    st.body.extend_from_slice(&rest[..take]);
                    rest = &rest[take..];
                    if st.body.len() < len {
                        return Ok(());
                    }
                    st.body_len = None;
                    Some(std::mem::take(&mut st.body))
                }
                None => None,
            }
        };
        if let Some(mut body) = cut_body {
            let go_on = emit(&body);
            body.clear();
            if body.capacity() <= KEEP_CAPACITY {
                state.borrow_mut().body = body;
            }
            if !go_on {
                return Ok(());
            }
            continue;
        }
        if rest.is_empty() {
            return Ok(());
        }
        // The header: from this read alone, or completing a cut one.
        let len = {
            let mut st = state.borrow_mut();
            if st.head_len == 0 && rest.len() >= size {
                let mut head = [0; 4];
                head[..size].copy_from_slice(&rest[..size]);
                rest = &rest[size..];
                header.decode(head)
            } else {
                let at = st.head_len;
                let take = (size - at).min(rest.len());
                st.head[at..at + take].copy_from_slice(&rest[..take]);
                st.head_len += take;
                rest = &rest[take..];
                if st.head_len < size {
                    return Ok(());
                }
                st.head_len = 0;
                header.decode(st.head)
            }
        };
        if len > max_len {
            return Err(frame_too_long(len, max_len));
        }
        if rest.len() >= len {
            // The whole payload is in this read: a slice of it, no copy.
            let (frame, after) = rest.split_at(len);
            rest = after;
            if !emit(frame) {
                return Ok(());
            }
            continue;
        }
        // The payload goes on in later reads. Reserve for what is here
        // now, not for what the header announces: a peer could announce
        // `max_len` on every connection and send nothing more.
        let mut st = state.borrow_mut();
        st.body.reserve(rest.len());
        st.body.extend_from_slice(rest);
        st.body_len = Some(len);
        return Ok(());
    }
}

/// Write one frame: `payload` behind its [`Header`] (Node: writing the
/// length with `buf.writeUInt32BE` and the payload after it).
///
/// A payload of up to 64 KiB is copied behind its header into one buffer
/// that is written with [`Socket::write_owned`], so the frame leaves in one
/// syscall; a larger one is written with [`Socket::write`] right after
/// its header, so only what the kernel does not take is copied. Returns
/// what the last write returned: `false` means wait for
/// [`Socket::DRAIN`], as for `write`.
///
/// # Errors
///
/// `ERR_OUT_OF_RANGE` at once, and nothing is written, if the payload is
/// longer than the header can announce ([`Header::max_payload`]: 65535
/// bytes for [`Header::U16`]). The write's own failures arrive as for
/// [`Socket::write`]: an `error` event on a later tick.
///
/// # Examples
///
/// See [`frames`] for the reading side.
///
/// ```
/// use netloop::framing::{self, Header};
/// use netloop::net::{self, Socket};
/// use netloop::ErrorCode;
///
/// netloop::run(|| {
///     let server = net::create_server(|server, sock: &Socket| {
///         sock.resume();
///         server.close();
///     });
///     server.listen(0, "127.0.0.1")?;
///     let port = server.address().expect("bound at once").port();
///     let client = net::connect(port, "127.0.0.1")?;
///     let err = framing::write_frame(&client, Header::U16, &vec![0; 70_000]).unwrap_err();
///     assert_eq!(err.code(), ErrorCode::ERR_OUT_OF_RANGE);
///     framing::write_frame(&client, Header::U16, b"fits")?;
///     client.end();
///     Ok(())
/// })
/// .expect("the loop ran");
/// ```
pub fn write_frame(socket: &Socket, header: Header, payload: &[u8]) -> Result<bool> {
    let head = header.encode(payload.len())?;
    let head = &head[..header.size()];
    if payload.len() <= KEEP_FRAME_WHOLE {
        let mut frame = Vec::with_capacity(head.len() + payload.len());
        frame.extend_from_slice(head);
        frame.extend_from_slice(payload);
        return Ok(socket.write_owned(frame));
    }
    socket.write(head);
    Ok(socket.write(payload))
}

/// [`write_frame`] with a payload the socket takes over: a payload over
/// 64 KiB is never copied (see [`Socket::write_owned`]); a smaller one is
/// copied behind its header, so the frame leaves in one syscall.
///
/// # Errors
///
/// As [`write_frame`]: `ERR_OUT_OF_RANGE` at once for a payload longer than
/// the header can announce.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use netloop::framing::{self, FrameOptions, Frames, Header};
/// use netloop::net::{self, Socket};
///
/// let sizes = Rc::new(Cell::new(0));
/// let seen = Rc::clone(&sizes);
/// netloop::run(move || {
///     let server = net::create_server(move |server, sock: &Socket| {
///         framing::frames(sock, FrameOptions::default());
///         let seen = Rc::clone(&seen);
///         sock.on(Frames::FRAME, move |_, payload| seen.set(payload.len()));
///         server.close();
///     });
///     server.listen(0, "127.0.0.1")?;
///     let port = server.address().expect("bound at once").port();
///
///     let client = net::connect(port, "127.0.0.1")?;
///     let image = vec![0xff; 3 << 20]; // 3 MiB, moved in: never copied
///     framing::write_frame_owned(&client, Header::U32, image)?;
///     client.end();
///     Ok(())
/// })
/// .expect("the loop ran");
/// assert_eq!(sizes.get(), 3 << 20);
/// ```
pub fn write_frame_owned(socket: &Socket, header: Header, payload: Vec<u8>) -> Result<bool> {
    if payload.len() <= KEEP_FRAME_WHOLE {
        return write_frame(socket, header, &payload);
    }
    let head = header.encode(payload.len())?;
    socket.write(&head[..header.size()]);
    Ok(socket.write_owned(payload))
}

/// Frames up to this size are written as one buffer with their header:
/// copying them costs less than a second syscall (and, with `TCP_NODELAY`,
/// a second packet for the header alone). It is the write queue's
/// coalescing limit too.
const KEEP_FRAME_WHOLE: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    /// What a splitter delivered: each message, and whether it was a slice
    /// of the chunk it came in (no copy).
    type Out = Vec<(Vec<u8>, bool)>;

    fn frame_splitter(header: Header, max_len: usize) -> RefCell<FrameSplitter> {
        RefCell::new(FrameSplitter {
            header,
            max_len,
            head: [0; 4],
            head_len: 0,
            body: Vec::new(),
            body_len: None,
        })
    }

    /// Feed one read to a frame splitter, noting for each non-empty frame
    /// whether it is a slice of that read (an empty one has no bytes to
    /// copy, and says false).
    fn feed_frames(st: &RefCell<FrameSplitter>, chunk: &[u8], out: &mut Out) -> Result<()> {
        let range = chunk.as_ptr_range();
        split_frames(st, chunk, &mut |m| {
            let inside = !m.is_empty() && range.contains(&m.as_ptr());
            out.push((m.to_vec(), inside));
            true
        })
    }

    #[test]
    fn frames_cut_at_every_byte_come_out_whole() {
        for header in [Header::U16, Header::U32] {
            let mut wire = Vec::new();
            for payload in [&b"first"[..], b"", b"third frame"] {
                let head = header.encode(payload.len()).expect("short");
                wire.extend_from_slice(&head[..header.size()]);
                wire.extend_from_slice(payload);
            }
            let st = frame_splitter(header, 64);
            let mut out = Out::new();
            for b in &wire {
                feed_frames(&st, std::slice::from_ref(b), &mut out).expect("within the limit");
            }
            let frames: Vec<&[u8]> = out.iter().map(|(f, _)| &f[..]).collect();
            assert_eq!(frames, [&b"first"[..], b"", b"third frame"], "{header:?}");
            assert_eq!(st.borrow().head_len + st.borrow().body.len(), 0);

            // All in one read: slices of it.
            let mut out = Out::new();
            feed_frames(&st, &wire, &mut out).expect("within the limit");
            let inside: Vec<bool> = out.iter().map(|(_, i)| *i).collect();
            assert_eq!(inside, [true, false, true], "{header:?}"); // the empty one has no address
        }
    }

    #[test]
    fn a_frame_header_over_the_limit_fails_before_its_payload() {
        let st = frame_splitter(Header::U32, 1000);
        let mut out = Out::new();
        let err = feed_frames(&st, &[0, 0, 3, 233, 1, 2], &mut out).expect_err("1001 > 1000");
        assert_eq!(err.code(), ErrorCode::ERR_FRAME_TOO_LONG);
        assert_eq!(
            err.to_string(),
            "Frame of 1001 bytes exceeds the maximum length of 1000 bytes"
        );
        assert!(out.is_empty());
        assert_eq!(st.borrow().body.capacity(), 0);
    }

    #[test]
    fn headers_encode_big_endian_and_refuse_what_they_cannot_announce() {
        assert_eq!(Header::U16.encode(0x0102).expect("fits")[..2], [1, 2]);
        assert_eq!(Header::U32.encode(0x01020304).expect("fits"), [1, 2, 3, 4]);
        let err = Header::U16.encode(70_000).expect_err("over 65535");
        assert_eq!(err.code(), ErrorCode::ERR_OUT_OF_RANGE);
        assert_eq!(
            err.to_string(),
            "The value of \"payload.length\" is out of range. It must be <= 65535. Received 70000"
        );
        assert_eq!(Header::U16.decode([0xff, 0xfe, 9, 9]), 0xfffe);
        assert_eq!(Header::U32.decode([0, 1, 0, 0]), 65536);
    }
}
