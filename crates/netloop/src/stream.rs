//! Stream handles: libuv's `uv_stream_t`, shared by TCP (`tcp.rs`) and
//! Unix sockets (`pipe.rs`).
//!
//! A handle owns the fd and the write queue; it knows nothing of Node's
//! events. Reads go into the loop's shared buffer (the caller passes it in).
//! Writes try the syscall at once when nothing is queued and queue only the
//! rest; queued chunks go out with `writev` when the fd turns writable.
//! Completed write requests are handed back to the caller, who runs their
//! callbacks in the pending phase.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};

use mio::Token;
use socket2::SockRef;

use crate::error::Error;

/// A write request's callback (libuv's `uv_write_cb`).
pub(crate) type WriteCb = Box<dyn FnOnce(Option<&Error>)>;

/// How many chunks one `writev` takes at most (Linux's `IOV_MAX` is 1024;
/// 64 covers any realistic queue without a large stack array).
const MAX_IOVS: usize = 64;

/// Queued writes without a callback are joined into one buffer up to this
/// size; larger writes keep their own.
const COALESCE_LIMIT: usize = 64 * 1024;

/// The fd of a connected stream.
pub(crate) enum StreamIo {
    Tcp(mio::net::TcpStream),
    Unix(mio::net::UnixStream),
}

impl StreamIo {
    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            StreamIo::Tcp(s) => (&*s).read(buf),
            StreamIo::Unix(s) => (&*s).read(buf),
        }
    }

    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            StreamIo::Tcp(s) => (&*s).write(buf),
            StreamIo::Unix(s) => (&*s).write(buf),
        }
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            StreamIo::Tcp(s) => (&*s).write_vectored(bufs),
            StreamIo::Unix(s) => (&*s).write_vectored(bufs),
        }
    }

    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        match self {
            StreamIo::Tcp(s) => s.shutdown(Shutdown::Write),
            StreamIo::Unix(s) => s.shutdown(Shutdown::Write),
        }
    }

    /// `SO_ERROR`: the outcome of a non-blocking connect.
    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            StreamIo::Tcp(s) => s.take_error(),
            StreamIo::Unix(s) => s.take_error(),
        }
    }

    pub(crate) fn peer_addr(&self) -> io::Result<Option<SocketAddr>> {
        match self {
            StreamIo::Tcp(s) => s.peer_addr().map(Some),
            StreamIo::Unix(s) => s.peer_addr().map(|_| None),
        }
    }

    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            StreamIo::Tcp(s) => s.local_addr().ok(),
            StreamIo::Unix(_) => None,
        }
    }

    pub(crate) fn sock_ref(&self) -> SockRef<'_> {
        match self {
            StreamIo::Tcp(s) => SockRef::from(s),
            StreamIo::Unix(s) => SockRef::from(s),
        }
    }

    pub(crate) fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            StreamIo::Tcp(s) => s,
            StreamIo::Unix(s) => s,
        }
    }

    pub(crate) fn is_tcp(&self) -> bool {
        matches!(self, StreamIo::Tcp(_))
    }
}

/// The fd of a listening socket.
pub(crate) enum ListenerIo {
    Tcp(mio::net::TcpListener),
    Unix(mio::net::UnixListener),
}

impl ListenerIo {
    /// Accept one connection and its peer address (`accept4` reports it, so
    /// no `getpeername` is needed); `WouldBlock` when the backlog is empty.
    pub(crate) fn accept(&self) -> io::Result<(StreamIo, Option<SocketAddr>)> {
        match self {
            ListenerIo::Tcp(l) => l.accept().map(|(s, peer)| (StreamIo::Tcp(s), Some(peer))),
            ListenerIo::Unix(l) => l.accept().map(|(s, _)| (StreamIo::Unix(s), None)),
        }
    }

    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            ListenerIo::Tcp(l) => l.local_addr().ok(),
            ListenerIo::Unix(_) => None,
        }
    }

    pub(crate) fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            ListenerIo::Tcp(l) => l,
            ListenerIo::Unix(l) => l,
        }
    }
}

struct WriteReq {
    data: Vec<u8>,
    offset: usize,
    cb: Option<WriteCb>,
}

/// What became of a write.
pub(crate) enum WriteOutcome {
    /// All bytes reached the kernel; the callback (if any) is handed back to
    /// be run in the pending phase.
    Done(Option<WriteCb>),
    /// Some or all bytes are queued until the fd is writable.
    Queued,
}

/// A connected stream: the fd, its poll token and its write queue.
pub(crate) struct Stream {
    pub(crate) io: StreamIo,
    pub(crate) token: Token,
    queue: VecDeque<WriteReq>,
    queued_bytes: usize,
}

impl Stream {
    pub(crate) fn new(io: StreamIo, token: Token) -> Stream {
        Stream {
            io,
            token,
            queue: VecDeque::new(),
            queued_bytes: 0,
        }
    }

    /// Bytes accepted by `write` that have not reached the kernel yet.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Write `data`: at once if nothing is queued, queuing what the kernel
    /// does not take. On a write error the callback comes back with it.
    pub(crate) fn write(
        &mut self,
        data: &[u8],
        cb: Option<WriteCb>,
    ) -> Result<WriteOutcome, (io::Error, Option<WriteCb>)> {
        let mut offset = 0;
        if self.queue.is_empty() {
            while offset < data.len() {
                match self.io.write(&data[offset..]) {
                    Ok(n) => offset += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err((e, cb)),
                }
            }
            if offset == data.len() {
                return Ok(WriteOutcome::Done(cb));
            }
        }
        let rest = &data[offset..];
        self.queued_bytes += rest.len();
        // A small write behind a queued request that has no callback joins
        // it: no allocation per write, one iovec for the lot. Its own
        // callback (if any) becomes the joined request's, which completes
        // exactly when these bytes, the last of it, reach the kernel.
        if let Some(back) = self.queue.back_mut() {
            if back.cb.is_none() && back.data.len() + rest.len() <= COALESCE_LIMIT {
                back.data.extend_from_slice(rest);
                back.cb = cb;
                return Ok(WriteOutcome::Queued);
            }
        }
        self.queue.push_back(WriteReq {
            data: rest.to_vec(),
            offset: 0,
            cb,
        });
        Ok(WriteOutcome::Queued)
    }

    /// Queue a request without trying to write it: the caller flushes the
    /// queue with [`flush`](Stream::flush), so several requests leave in one
    /// `writev` (writes buffered while connecting or corked).
    pub(crate) fn enqueue(&mut self, data: Vec<u8>, cb: Option<WriteCb>) {
        self.queued_bytes += data.len();
        self.queue.push_back(WriteReq {
            data,
            offset: 0,
            cb,
        });
    }

    /// Write queued chunks with `writev` until the queue is empty or the
    /// kernel buffer is full. Callbacks of completed requests are pushed to
    /// `done`.
    pub(crate) fn flush(&mut self, done: &mut Vec<WriteCb>) -> io::Result<()> {
        while !self.queue.is_empty() {
            let n = {
                let mut slices = [IoSlice::new(&[]); MAX_IOVS];
                let mut count = 0;
                for (slot, req) in slices.iter_mut().zip(self.queue.iter()) {
                    *slot = IoSlice::new(&req.data[req.offset..]);
                    count += 1;
                }
                match self.io.write_vectored(&slices[..count]) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) => return Err(e),
                }
            };
            self.queued_bytes -= n;
            let mut left = n;
            while left > 0 {
                let Some(front) = self.queue.front_mut() else {
                    break;
                };
                let avail = front.data.len() - front.offset;
                if left >= avail {
                    left -= avail;
                    if let Some(req) = self.queue.pop_front() {
                        if let Some(cb) = req.cb {
                            done.push(cb);
                        }
                    }
                } else {
                    front.offset += left;
                    left = 0;
                }
            }
            // Requests with nothing left to write (empty writes) complete too.
            while matches!(self.queue.front(), Some(r) if r.offset == r.data.len()) {
                if let Some(cb) = self.queue.pop_front().and_then(|r| r.cb) {
                    done.push(cb);
                }
            }
        }
        Ok(())
    }

    /// Take every queued request's callback (the stream is closing).
    pub(crate) fn cancel_writes(&mut self, out: &mut Vec<WriteCb>) {
        self.queued_bytes = 0;
        out.extend(self.queue.drain(..).filter_map(|r| r.cb));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// A connected pair on 127.0.0.1:0: our non-blocking stream and the
    /// peer's blocking end.
    fn pair() -> (Stream, std::net::TcpStream) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let c = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let (peer, _) = l.accept().expect("accept");
        c.set_nonblocking(true).expect("nonblocking");
        let io = StreamIo::Tcp(mio::net::TcpStream::from_std(c));
        (Stream::new(io, Token(0)), peer)
    }

    #[test]
    fn small_queued_writes_join_until_one_has_a_callback() {
        let (mut st, peer) = pair();
        // Fill the kernel's buffers in 1 KiB writes until one is queued.
        let chunk = [1u8; 1024];
        let mut direct = 0usize;
        while let Ok(WriteOutcome::Done(_)) = st.write(&chunk, None) {
            direct += chunk.len();
            assert!(direct < 64 << 20, "the kernel never pushed back");
        }
        assert_eq!(st.queue.len(), 1);
        let first_queued = st.queued_bytes();
        let log = Rc::new(RefCell::new(Vec::new()));
        let cb = |name: &'static str| -> Option<WriteCb> {
            let log = Rc::clone(&log);
            Some(Box::new(move |err: Option<&Error>| {
                assert!(err.is_none());
                log.borrow_mut().push(name);
            }))
        };
        assert!(matches!(st.write(b"abc", None), Ok(WriteOutcome::Queued)));
        assert!(matches!(
            st.write(b"def", cb("def")),
            Ok(WriteOutcome::Queued)
        ));
        // Joined so far: the filler's rest, "abc" and "def" are one request.
        assert_eq!(st.queue.len(), 1);
        assert!(matches!(st.write(b"ghi", None), Ok(WriteOutcome::Queued)));
        assert!(matches!(
            st.write(b"jkl", cb("jkl")),
            Ok(WriteOutcome::Queued)
        ));
        // "def" carried a callback, so "ghi" started a new request.
        assert_eq!(st.queue.len(), 2);
        assert_eq!(st.queued_bytes(), first_queued + 12);

        // The write that was queued may have been taken in part by the
        // kernel: all of that chunk reaches the peer, whatever the split.
        let total = direct + chunk.len() + 12;
        let reader = std::thread::spawn(move || {
            use std::io::Read;
            let mut peer = peer;
            let mut all = Vec::with_capacity(total);
            let mut buf = vec![0u8; 64 * 1024];
            while all.len() < total {
                match peer.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => all.extend_from_slice(&buf[..n]),
                }
            }
            all
        });
        let mut done = Vec::new();
        while st.queued_bytes() > 0 {
            st.flush(&mut done).expect("flush");
        }
        for cb in done {
            cb(None);
        }
        assert_eq!(*log.borrow(), ["def", "jkl"]);
        let all = reader.join().expect("reader");
        assert_eq!(all.len(), total);
        assert!(all.ends_with(b"abcdefghijkl"));
        assert!(all[..total - 12].iter().all(|&b| b == 1));
    }
}
