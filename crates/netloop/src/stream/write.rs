//! The write queue of a stream handle (libuv's `uv_write` requests).
//!
//! A write tries the syscall at once when nothing is queued and queues only
//! the rest; queued chunks go out with `writev` when the fd turns writable.
//! Completed requests are handed back to the caller, who runs their
//! callbacks (never inside `write()` itself).
//!
//! A request owns its bytes with an offset into them. Borrowed bytes are
//! copied into a request only for the part the kernel did not take; owned
//! bytes ([`WriteData::Owned`]) become the request as they are, so a large
//! queued write costs no second buffer (libuv's `uv_write` never copies:
//! the caller keeps the buffer alive until the callback, which Rust says by
//! moving it in).

use std::collections::VecDeque;
use std::io::{self, IoSlice};

use super::io::StreamIo;
use crate::error::Error;

/// A write request's callback (libuv's `uv_write_cb`).
pub(crate) type WriteCb = Box<dyn FnOnce(Option<&Error>)>;

/// How many chunks one `writev` takes at most (Linux's `IOV_MAX` is 1024;
/// 64 covers any realistic queue without a large stack array).
const MAX_IOVS: usize = 64;

/// Queued writes without a callback are joined into one buffer up to this
/// size; larger writes keep their own.
const COALESCE_LIMIT: usize = 64 * 1024;

/// The bytes of one write, as the caller hands them over.
pub(crate) enum WriteData<'a> {
    /// The caller keeps its bytes: whatever the kernel does not take at
    /// once is copied into the queue.
    Borrowed(&'a [u8]),
    /// The caller gives its buffer away: if the kernel does not take all
    /// of it, the same buffer is queued with an offset, never copied.
    Owned(Vec<u8>),
}

impl WriteData<'_> {
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            WriteData::Borrowed(b) => b,
            WriteData::Owned(v) => v,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// The bytes as a buffer of their own: moved if owned, copied if
    /// borrowed (writes held while connecting or corked).
    pub(crate) fn into_vec(self) -> Vec<u8> {
        match self {
            WriteData::Borrowed(b) => b.to_vec(),
            WriteData::Owned(v) => v,
        }
    }
}

/// One queued write (libuv's `uv_write_t`): its buffer, how much of it
/// already reached the kernel, and its callback.
struct WriteReq {
    data: Vec<u8>,
    offset: usize,
    cb: Option<WriteCb>,
}

/// What became of a write.
pub(crate) enum WriteOutcome {
    /// All bytes reached the kernel; the callback (if any) is handed back
    /// for the owner to run later (`net` runs it on the next tick, as Node's
    /// `onwrite`), never inside the write.
    Done(Option<WriteCb>),
    /// Some or all bytes are queued until the fd is writable.
    Queued,
}

/// The requests of one stream that have not fully reached the kernel.
#[derive(Default)]
pub(crate) struct WriteQueue {
    queue: VecDeque<WriteReq>,
    queued_bytes: usize,
}

impl WriteQueue {
    /// True when no request waits (not even an empty one).
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Bytes accepted by `write` that have not reached the kernel yet.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Write `data`: at once if nothing is queued, queuing what the kernel
    /// does not take (copied if borrowed, moved if owned). On a write error
    /// the callback comes back with it.
    pub(crate) fn write(
        &mut self,
        io: &StreamIo,
        data: WriteData<'_>,
        cb: Option<WriteCb>,
    ) -> Result<WriteOutcome, (io::Error, Option<WriteCb>)> {
        let bytes = data.as_slice();
        let mut offset = 0;
        if self.queue.is_empty() {
            while offset < bytes.len() {
                match io.write(&bytes[offset..]) {
                    Ok(n) => offset += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err((e, cb)),
                }
            }
            if offset == bytes.len() {
                return Ok(WriteOutcome::Done(cb));
            }
        }
        let rest = &bytes[offset..];
        self.queued_bytes += rest.len();
        // A small write behind a queued request that has no callback joins
        // it: no allocation per write, one iovec for the lot. Its own
        // callback (if any) becomes the joined request's, which completes
        // exactly when these bytes, the last of it, reach the kernel. The
        // limit also keeps a large owned buffer from being grown (and so
        // reallocated and copied) by the small writes behind it.
        if let Some(back) = self.queue.back_mut() {
            if back.cb.is_none() && back.data.len() + rest.len() <= COALESCE_LIMIT {
                back.data.extend_from_slice(rest);
                back.cb = cb;
                return Ok(WriteOutcome::Queued);
            }
        }
        let (data, offset) = match data {
            WriteData::Borrowed(b) => (b[offset..].to_vec(), 0),
            // The same buffer, with what the kernel took skipped: no copy.
            WriteData::Owned(v) => (v, offset),
        };
        self.queue.push_back(WriteReq { data, offset, cb });
        Ok(WriteOutcome::Queued)
    }

    /// Queue a request without trying to write it: the caller flushes the
    /// queue with [`flush`](WriteQueue::flush), so several requests leave in one
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
    pub(crate) fn flush(&mut self, io: &StreamIo, done: &mut Vec<WriteCb>) -> io::Result<()> {
        while !self.queue.is_empty() {
            let n = {
                let mut slices = [IoSlice::new(&[]); MAX_IOVS];
                let mut count = 0;
                for (slot, req) in slices.iter_mut().zip(self.queue.iter()) {
                    *slot = IoSlice::new(&req.data[req.offset..]);
                    count += 1;
                }
                match io.write_vectored(&slices[..count]) {
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
    fn pair() -> (StreamIo, WriteQueue, std::net::TcpStream) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let c = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let (peer, _) = l.accept().expect("accept");
        c.set_nonblocking(true).expect("nonblocking");
        let io = StreamIo::Tcp(mio::net::TcpStream::from_std(c));
        (io, WriteQueue::default(), peer)
    }

    #[test]
    fn small_queued_writes_join_until_one_has_a_callback() {
        let (io, mut st, peer) = pair();
        // Fill the kernel's buffers in 1 KiB writes until one is queued.
        let chunk = [1u8; 1024];
        let mut direct = 0usize;
        while let Ok(WriteOutcome::Done(_)) = st.write(&io, WriteData::Borrowed(&chunk), None) {
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
        assert!(matches!(
            st.write(&io, WriteData::Borrowed(b"abc"), None),
            Ok(WriteOutcome::Queued)
        ));
        assert!(matches!(
            st.write(&io, WriteData::Borrowed(b"def"), cb("def")),
            Ok(WriteOutcome::Queued)
        ));
        // Joined so far: the filler's rest, "abc" and "def" are one request.
        assert_eq!(st.queue.len(), 1);
        assert!(matches!(
            st.write(&io, WriteData::Borrowed(b"ghi"), None),
            Ok(WriteOutcome::Queued)
        ));
        assert!(matches!(
            st.write(&io, WriteData::Borrowed(b"jkl"), cb("jkl")),
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
            st.flush(&io, &mut done).expect("flush");
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

    #[test]
    fn an_owned_write_is_queued_as_its_own_buffer_and_small_ones_still_join() {
        let (io, mut st, peer) = pair();
        // More than loopback's send and receive buffers can hold while the
        // peer does not read, so part of it must be queued.
        let len = 32 << 20;
        let big = vec![7u8; len];
        let ptr = big.as_ptr();
        assert!(matches!(
            st.write(&io, WriteData::Owned(big), None),
            Ok(WriteOutcome::Queued)
        ));
        assert_eq!(st.queue.len(), 1);
        let front = &st.queue[0];
        // The very allocation the caller gave, skipped past what the
        // kernel took: nothing was copied.
        assert_eq!(front.data.as_ptr(), ptr);
        assert!(front.offset > 0 && front.offset < len, "{}", front.offset);
        assert_eq!(st.queued_bytes(), len - front.offset);
        let taken = front.offset;

        // A small owned write behind a large one is queued on its own (no
        // growing of the large buffer); the small writes behind it join it.
        let small = b"tail".to_vec();
        assert!(matches!(
            st.write(&io, WriteData::Owned(small), None),
            Ok(WriteOutcome::Queued)
        ));
        assert!(matches!(
            st.write(&io, WriteData::Borrowed(b"-end"), None),
            Ok(WriteOutcome::Queued)
        ));
        assert_eq!(st.queue.len(), 2);
        assert_eq!(st.queue[0].data.as_ptr(), ptr);
        assert_eq!(st.queue[1].data, b"tail-end");
        assert_eq!(st.queued_bytes(), len - taken + 8);

        let reader = std::thread::spawn(move || {
            use std::io::Read;
            let mut peer = peer;
            let mut all = Vec::with_capacity(len + 8);
            let _ = peer.read_to_end(&mut all);
            all
        });
        let mut done = Vec::new();
        while st.queued_bytes() > 0 {
            st.flush(&io, &mut done).expect("flush");
        }
        drop(io);
        let all = reader.join().expect("reader");
        assert_eq!(all.len(), len + 8);
        assert!(all[..len].iter().all(|&b| b == 7));
        assert_eq!(&all[len..], b"tail-end");
    }
}
