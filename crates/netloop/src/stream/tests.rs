//! The stream contract, driven without `net`: a recording owner attached
//! to real loopback sockets sees exactly the completions libuv would
//! report (connect, reads, EOF, writes, shutdown, errors), in order.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::time::Duration;

use super::*;
use crate::event_loop::{current, IoHandler, Ready};
use crate::timers;

/// The test's next step, run after each recorded entry.
type Step = Box<dyn FnMut(&Recorder, &str)>;

/// Records every completion; its stream handle is the one under test.
#[derive(Default)]
struct Recorder {
    stream: StreamHandle,
    log: RefCell<Vec<String>>,
    read: RefCell<Vec<u8>>,
    /// Called after each completion (the test's next step).
    then: RefCell<Option<Step>>,
    /// Log readable events too (before the stream handles them).
    report_readable: std::cell::Cell<bool>,
}

impl Recorder {
    fn note(&self, entry: String) {
        self.log.borrow_mut().push(entry.clone());
        let next = self.then.borrow_mut().take();
        if let Some(mut f) = next {
            f(self, &entry);
            let mut slot = self.then.borrow_mut();
            if slot.is_none() {
                *slot = Some(f);
            }
        }
    }

    fn close(&self, reset: bool) -> Vec<WriteCb> {
        let mut cancelled = Vec::new();
        self.stream.close(&current(), reset, &mut cancelled);
        cancelled
    }
}

impl IoHandler for Recorder {
    fn on_ready(self: Rc<Self>, ready: Ready) {
        self.stream.on_ready(&current(), ready, &*self);
        if ready.readable && self.report_readable.get() && self.stream.is_attached() {
            self.note("readable".into());
        }
    }

    fn teardown(&self) {
        self.close(false);
        self.then.borrow_mut().take();
    }
}

impl StreamOwner for Recorder {
    fn after_connect(&self, res: Result<Connected, Error>) {
        match res {
            Ok(c) => self.note(format!("connect ok, peer known: {}", c.peer.is_some())),
            Err(e) => self.note(format!("connect error: {e}")),
        }
    }

    fn on_read(&self, chunk: &[u8]) {
        self.read.borrow_mut().extend_from_slice(chunk);
        self.note("read".into());
    }

    fn on_eof(&self) {
        self.note("eof".into());
    }

    fn after_write(&self, done: Vec<WriteCb>) {
        let n = done.len();
        for cb in done {
            cb(None);
        }
        self.note(format!("after_write {n}"));
    }

    fn after_shutdown(&self) {
        self.note("shutdown".into());
    }

    fn on_error(&self, err: Error) {
        self.note(format!("error: {}", err.code().as_str()));
    }

    fn on_header(&self, res: Result<HeaderEnd<'_>, Error>) {
        match res {
            Ok(end) => {
                self.read.borrow_mut().extend_from_slice(&end.rest);
                let source = end.header.and_then(|h| h.source());
                self.note(format!(
                    "header {source:?}, {} bytes after it",
                    end.rest.len()
                ));
            }
            Err(e) => self.note(format!("header error: {e}")),
        }
    }
}

fn local_listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = l.local_addr().expect("bound");
    (l, addr)
}

/// An unref'd failure guard, as the integration tests arm.
fn guard() {
    timers::set_timeout(Duration::from_secs(10), || {
        panic!("stream test still running after 10 s")
    })
    .unref();
}

/// A ref'd timer that keeps the loop alive until the test cancels it (a
/// bare stream handle does not count in the loop's alive total: its owner
/// does that), and fails the test if that never happens.
fn keep_alive() -> timers::Timer {
    timers::set_timeout(Duration::from_secs(10), || {
        panic!("stream test: the expected completion never came")
    })
}

/// Connect `rec` to `addr`; a failure at once is recorded as
/// `after_connect` would have reported it.
fn connect(rec: &Rc<Recorder>, addr: SocketAddr) {
    let handler: Rc<dyn IoHandler> = rec.clone();
    match rec.stream.connect_tcp(&current(), addr, None, handler) {
        Ok(()) => {}
        // Some kernels refuse a loopback connect inside connect(2).
        Err(tcp::ConnectFailure::Connect(e)) => rec.note(format!("connect error: {e}")),
        Err(tcp::ConnectFailure::Bind(e)) => panic!("no bind was asked for: {e}"),
    }
}

#[test]
fn connect_read_and_eof_are_reported_in_order() {
    let (listener, addr) = local_listener();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.write_all(b"hello").expect("peer write");
        // Dropping the stream sends the FIN.
    });
    let rec = Rc::new(Recorder::default());
    let r = Rc::clone(&rec);
    crate::run(move || {
        guard();
        let keep = keep_alive();
        *r.then.borrow_mut() = Some(Box::new(move |rec: &Recorder, entry: &str| {
            if entry.starts_with("connect ok") {
                rec.stream.read_start();
            }
            if entry == "eof" {
                keep.cancel();
                rec.close(false);
            }
        }));
        connect(&r, addr);
        Ok(())
    })
    .expect("the loop ran");
    peer.join().expect("peer thread");
    let log = rec.log.borrow().clone();
    assert_eq!(
        log.first().map(String::as_str),
        Some("connect ok, peer known: true")
    );
    assert_eq!(log.last().map(String::as_str), Some("eof"));
    assert!(log[1..log.len() - 1].iter().all(|e| e == "read"), "{log:?}");
    assert!(
        log.len() >= 3,
        "at least one read between connect and EOF: {log:?}"
    );
    assert_eq!(*rec.read.borrow(), b"hello");
}

#[test]
fn bytes_wait_in_the_kernel_until_read_start_and_read_now() {
    let (listener, addr) = local_listener();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.write_all(b"held").expect("peer write");
        let mut buf = [0u8; 1];
        // Wait for the test to close its end.
        let _ = s.read(&mut buf);
    });
    let rec = Rc::new(Recorder::default());
    rec.report_readable.set(true);
    let r = Rc::clone(&rec);
    crate::run(move || {
        guard();
        let keep = keep_alive();
        *r.then.borrow_mut() = Some(Box::new(move |rec: &Recorder, entry: &str| {
            // Reading was never started, so the readable edge that brought
            // the bytes delivered nothing; no new edge will come for them.
            // `read_start` plus `read_now` fetches them.
            // (The reads it reports are logged while this closure runs.)
            if entry == "readable" && rec.read.borrow().is_empty() {
                rec.report_readable.set(false);
                rec.stream.read_start();
                rec.stream.read_now(&current(), rec);
                if rec.read.borrow().len() == 4 {
                    keep.cancel();
                    rec.close(false);
                }
            }
        }));
        connect(&r, addr);
        Ok(())
    })
    .expect("the loop ran");
    peer.join().expect("peer thread");
    assert_eq!(*rec.read.borrow(), b"held");
    let log = rec.log.borrow().clone();
    let first_read = log.iter().position(|e| e == "read").expect("a read");
    assert!(
        log[..first_read].contains(&"readable".to_string()),
        "{log:?}"
    );
    assert_eq!(log[0], "connect ok, peer known: true");
}

#[test]
fn refused_connect_is_reported_with_nodes_message() {
    // A port bound but not listening refuses connects.
    let holder =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let any: SocketAddr = "127.0.0.1:0".parse().expect("literal");
    holder.bind(&any.into()).expect("bind");
    let addr = holder
        .local_addr()
        .expect("bound")
        .as_socket()
        .expect("IPv4");
    let rec = Rc::new(Recorder::default());
    let r = Rc::clone(&rec);
    crate::run(move || {
        guard();
        let keep = keep_alive();
        *r.then.borrow_mut() = Some(Box::new(move |rec: &Recorder, _: &str| {
            keep.cancel();
            rec.close(false);
        }));
        connect(&r, addr);
        Ok(())
    })
    .expect("the loop ran");
    let port = addr.port();
    assert_eq!(
        *rec.log.borrow(),
        [format!(
            "connect error: connect ECONNREFUSED 127.0.0.1:{port}"
        )]
    );
}

/// A listener handle that hands each accepted connection to `on_conn`.
struct Acceptor {
    listener: ListenerHandle,
    on_conn: RefCell<Box<dyn FnMut(Accepted)>>,
}

impl IoHandler for Acceptor {
    fn on_ready(self: Rc<Self>, _ready: Ready) {
        self.listener.on_ready(&current(), &*self);
    }

    fn teardown(&self) {
        self.listener.close(&current());
    }
}

impl ListenerOwner for Acceptor {
    fn on_connection(&self, conn: Accepted) {
        (self.on_conn.borrow_mut())(conn);
    }
}

#[test]
fn accepted_stream_queues_writes_and_shuts_down_after_the_queue_drains() {
    // The peer reads nothing until the test has queued everything, so the
    // kernel's buffers fill and writes queue in the stream; then it reads
    // to EOF.
    const CHUNK: usize = 64 * 1024;
    const TOTAL: usize = 8 << 20;
    let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        let addr = addr_rx.recv().expect("listen address");
        let mut s = TcpStream::connect(addr).expect("connect");
        go_rx.recv().expect("go");
        let mut all = Vec::new();
        s.read_to_end(&mut all).expect("read to EOF");
        all
    });
    let rec = Rc::new(Recorder::default());
    let callbacks = Rc::new(std::cell::Cell::new(0usize));
    let queued_at_shutdown = Rc::new(std::cell::Cell::new(0usize));
    let acceptor = Rc::new(Acceptor {
        listener: ListenerHandle::default(),
        on_conn: RefCell::new(Box::new(|_| {})),
    });
    let (r, a, cbs, q) = (
        Rc::clone(&rec),
        Rc::clone(&acceptor),
        Rc::clone(&callbacks),
        Rc::clone(&queued_at_shutdown),
    );
    crate::run(move || {
        guard();
        let keep = keep_alive();
        let lp = current();
        let l = tcp::listen(
            "127.0.0.1:0".parse().expect("literal"),
            &default_listen_opts(),
        )
        .map_err(|e| Error::from_syscall(&e, "listen"))?;
        let handler: Rc<dyn IoHandler> = a.clone();
        a.listener
            .attach(&lp, l, handler)
            .map_err(|e| Error::from_syscall(&e, "listen"))?;
        addr_tx
            .send(a.listener.local_addr().expect("bound"))
            .expect("send the address");
        let (r2, a2) = (Rc::clone(&r), Rc::clone(&a));
        *a.on_conn.borrow_mut() = Box::new(move |conn: Accepted| {
            assert!(conn.peer().is_some(), "accept4 reports the peer");
            a2.listener.close(&current());
            let handler: Rc<dyn IoHandler> = r2.clone();
            r2.stream
                .attach(&current(), conn, handler)
                .expect("attach the accepted stream");
            let mut sent = 0;
            while sent < TOTAL {
                let cbs = Rc::clone(&cbs);
                let cb: WriteCb = Box::new(move |err| {
                    assert!(err.is_none());
                    cbs.set(cbs.get() + 1);
                });
                match r2
                    .stream
                    .write(WriteData::Borrowed(&[7u8; CHUNK]), Some(cb))
                {
                    Ok(WriteOutcome::Done(Some(cb))) => cb(None),
                    Ok(WriteOutcome::Done(None)) => unreachable!("a callback was given"),
                    Ok(WriteOutcome::Queued) => {}
                    Err((e, _)) => panic!("write failed: {e}"),
                }
                sent += CHUNK;
            }
            q.set(r2.stream.queued_bytes());
            r2.stream.shutdown(&*r2);
            go_tx.send(()).expect("go");
        });
        *r.then.borrow_mut() = Some(Box::new(move |rec: &Recorder, entry: &str| {
            if entry == "shutdown" {
                keep.cancel();
                rec.close(false);
            }
        }));
        Ok(())
    })
    .expect("the loop ran");
    let all = peer.join().expect("peer thread");
    assert!(
        queued_at_shutdown.get() > 0,
        "the kernel took 8 MiB at once"
    );
    assert_eq!(
        all.len(),
        TOTAL,
        "every queued byte reached the peer, then EOF"
    );
    let log = rec.log.borrow().clone();
    assert_eq!(log.last().map(String::as_str), Some("shutdown"), "{log:?}");
    assert!(
        log[..log.len() - 1]
            .iter()
            .all(|e| e.starts_with("after_write")),
        "{log:?}"
    );
    assert_eq!(callbacks.get(), TOTAL / CHUNK, "one callback per write");
}

#[test]
fn close_with_reset_sends_an_rst() {
    let (listener, addr) = local_listener();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 16];
        // Nothing is ever written: the read ends with the reset.
        s.read(&mut buf).map_err(|e| e.kind())
    });
    let rec = Rc::new(Recorder::default());
    let r = Rc::clone(&rec);
    crate::run(move || {
        guard();
        let keep = keep_alive();
        *r.then.borrow_mut() = Some(Box::new(move |rec: &Recorder, entry: &str| {
            assert!(entry.starts_with("connect ok"), "{entry}");
            keep.cancel();
            let cancelled = rec.close(true);
            assert!(cancelled.is_empty(), "no write was queued");
        }));
        connect(&r, addr);
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        peer.join().expect("peer thread"),
        Err(std::io::ErrorKind::ConnectionReset)
    );
}

fn default_listen_opts() -> tcp::ListenOpts {
    tcp::ListenOpts {
        backlog: tcp::DEFAULT_BACKLOG,
        ipv6_only: false,
        reuse_port: false,
    }
}

/// A stream reading a PROXY header with the owner's reads stopped: the
/// header, then the bytes after it, come in one `on_header`; nothing else
/// until `read_start`, then the rest and EOF.
#[test]
fn a_header_is_read_first_whatever_read_start_says() {
    let (listener, addr) = local_listener();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.write_all(b"PROXY TCP4 1.2.3.4 5.6.7.8 1000 80\r\nhello")
            .expect("peer write");
    });
    let rec = Rc::new(Recorder::default());
    let r = Rc::clone(&rec);
    crate::run(move || {
        guard();
        let keep = keep_alive();
        let mut keep = Some(keep);
        *r.then.borrow_mut() = Some(Box::new(move |rec: &Recorder, entry: &str| {
            if entry.starts_with("connect ok") {
                let mode = crate::proxy::ProxyProtocol::Required;
                rec.stream.read_header(HeaderReader::new(mode, 4096));
            }
            let mut eof = entry == "eof";
            if entry.starts_with("header") {
                rec.stream.read_start();
                // What `read_now` reports is logged while this closure
                // runs (a nested note does not call it again).
                rec.stream.read_now(&current(), rec);
                eof = rec.log.borrow().last().is_some_and(|e| e == "eof");
            }
            if eof {
                if let Some(k) = keep.take() {
                    k.cancel();
                }
                rec.close(false);
            }
        }));
        connect(&r, addr);
        Ok(())
    })
    .expect("the loop ran");
    peer.join().expect("peer thread");
    assert_eq!(
        *rec.log.borrow(),
        [
            "connect ok, peer known: true",
            "header Some(1.2.3.4:1000), 5 bytes after it",
            "eof"
        ]
    );
    assert_eq!(*rec.read.borrow(), b"hello");
}

/// The peer's FIN before the header is complete is the header's error,
/// and no `on_eof` follows it.
#[test]
fn a_header_cut_short_is_an_error_not_an_eof() {
    let (listener, addr) = local_listener();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.write_all(b"PROXY TCP4 1.2").expect("peer write");
    });
    let rec = Rc::new(Recorder::default());
    let r = Rc::clone(&rec);
    crate::run(move || {
        guard();
        let keep = keep_alive();
        let mut keep = Some(keep);
        *r.then.borrow_mut() = Some(Box::new(move |rec: &Recorder, entry: &str| {
            if entry.starts_with("connect ok") {
                let mode = crate::proxy::ProxyProtocol::Optional;
                rec.stream.read_header(HeaderReader::new(mode, 4096));
            }
            if entry.starts_with("header") {
                if let Some(k) = keep.take() {
                    k.cancel();
                }
                rec.close(false);
            }
        }));
        connect(&r, addr);
        Ok(())
    })
    .expect("the loop ran");
    peer.join().expect("peer thread");
    assert_eq!(
        *rec.log.borrow(),
        [
            "connect ok, peer known: true",
            "header error: PROXY protocol: connection closed before the header was complete \
             (14 bytes received)",
        ]
    );
}

/// A reset while the header is read is the header's error, worded with
/// the read's.
#[test]
fn a_reset_before_the_header_is_a_header_error() {
    let (listener, addr) = local_listener();
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        wait.recv().expect("the test's signal");
        s.write_all(b"PROX").expect("peer write");
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .expect("SO_LINGER");
        // Dropped with a zero linger: an RST.
    });
    let rec = Rc::new(Recorder::default());
    let r = Rc::clone(&rec);
    crate::run(move || {
        guard();
        let mut keep = Some(keep_alive());
        *r.then.borrow_mut() = Some(Box::new(move |rec: &Recorder, entry: &str| {
            if entry.starts_with("connect ok") {
                let mode = crate::proxy::ProxyProtocol::Required;
                rec.stream.read_header(HeaderReader::new(mode, 4096));
                go.send(()).expect("the peer waits");
            }
            if entry.starts_with("header") {
                if let Some(k) = keep.take() {
                    k.cancel();
                }
                rec.close(false);
            }
        }));
        connect(&r, addr);
        Ok(())
    })
    .expect("the loop ran");
    peer.join().expect("peer thread");
    assert_eq!(
        *rec.log.borrow(),
        [
            "connect ok, peer known: true",
            "header error: PROXY protocol: read ECONNRESET before the header was complete",
        ]
    );
}
