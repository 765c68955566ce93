//! `netloop::framing` over real sockets: lines and length-prefixed frames
//! cut by read boundaries wherever they fall, the limits, the end of the
//! stream; and `Socket::write_owned` next to `write`.
//!
//! Read boundaries are made, not hoped for: the peer sends its next piece
//! only after the server acknowledged the previous read with one byte, so
//! each piece ends a read (TCP may split a piece, never join two).

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::Duration;

use crate::util::{assert_error, guard, pattern, record, with_server, Log};
use netloop::framing::{self, FrameOptions, Frames, Header, LineOptions, Lines};
use netloop::net::{self, Socket};
use netloop::ErrorCode;

type Shared<T> = Rc<RefCell<T>>;

/// Acknowledge every read with one byte, so that a peer writing through
/// [`send_pieces`] or [`std_peer`] knows the piece was read. Added before
/// the splitter, so it also logs each raw read as `read <len>`.
fn ack_reads(sock: &Socket, reads: &Shared<Vec<usize>>) {
    let reads = Rc::clone(reads);
    sock.on(Socket::DATA, move |s, chunk| {
        reads.borrow_mut().push(chunk.len());
        s.write(b"k");
    });
}

/// A netloop client that sends `pieces` one read at a time: the first on
/// `connect`, each next one once the server acknowledged a read; then
/// `end()` if `end`.
fn send_pieces(port: u16, pieces: Vec<Vec<u8>>, end: bool) -> netloop::Result<Socket> {
    let client = net::connect(port, "127.0.0.1")?;
    client.set_no_delay(true);
    let next = Rc::new(Cell::new(0));
    let send = move |c: &Socket| {
        let i = next.get();
        match pieces.get(i) {
            Some(piece) => {
                next.set(i + 1);
                c.write(piece);
            }
            None if end && i == pieces.len() => {
                next.set(i + 1);
                c.end();
            }
            None => {}
        }
    };
    let first = send.clone();
    client.once(Socket::CONNECT, move |c, _| first(c));
    client.on(Socket::DATA, move |c, acks| {
        for _ in acks {
            send(c);
        }
    });
    // The server may destroy the connection with our bytes unread.
    client.on(Socket::ERROR, |_, _| {});
    Ok(client)
}

/// A blocking std peer on its own thread that writes `bytes` one byte per
/// read of the server (waiting for each acknowledgement), then ends.
fn std_peer(port: u16, bytes: Vec<u8>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_nodelay(true).expect("nodelay");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut ack = [0u8; 1];
        for b in bytes {
            s.write_all(&[b]).expect("write");
            s.read_exact(&mut ack).expect("ack");
        }
        s.shutdown(std::net::Shutdown::Write).expect("shutdown");
        // Until the server closes: it must not see a reset.
        let _ = s.read_to_end(&mut Vec::new());
    })
}

/// Log every line as `line <text>`.
fn log_lines(sock: &Socket, log: &Log) {
    let log = log.clone();
    sock.on(Lines::LINE, move |_, line| {
        log.push(format!("line {}", String::from_utf8_lossy(line)))
    });
}

/// `payload` behind its `header`, as `write_frame` sends it.
fn framed(header: Header, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut out = match header {
        Header::U16 => u16::try_from(len).expect("short").to_be_bytes().to_vec(),
        Header::U32 => u32::try_from(len).expect("short").to_be_bytes().to_vec(),
    };
    out.extend_from_slice(payload);
    out
}

#[test]
fn lines_cut_across_reads_come_out_whole() {
    let log = Log::new();
    let reads: Shared<Vec<usize>> = Rc::default();
    let (l, r) = (log.clone(), Rc::clone(&reads));
    netloop::run(move || {
        let _g = guard("lines across reads");
        let (_, port) = with_server(move |sock| {
            ack_reads(sock, &r);
            let lines = framing::lines(sock, LineOptions::default());
            log_lines(sock, &l);
            let l = l.clone();
            sock.on(Socket::END, move |_, _| {
                l.push(format!("end, {} bytes held", lines.buffered()))
            });
        });
        send_pieces(
            port,
            vec![b"hel".to_vec(), b"lo\nwor".to_vec(), b"ld\r\n".to_vec()],
            true,
        )?;
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        log.entries(),
        ["line hello", "line world", "end, 0 bytes held"]
    );
    // Each piece was a read of its own (a piece may be split, never joined).
    assert_eq!(reads.borrow().iter().sum::<usize>(), 13);
    assert!(reads.borrow().len() >= 3, "{:?}", reads.borrow());
}

#[test]
fn a_last_line_without_a_newline_comes_before_end() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("last line");
        let (_, port) = with_server(move |sock| {
            // An `end` listener added before the splitter still runs after
            // the last line.
            sock.on(Socket::END, {
                let l = l.clone();
                move |_, _| l.push("end")
            });
            framing::lines(sock, LineOptions::default());
            log_lines(sock, &l);
        });
        net::connect(port, "127.0.0.1")?.end_with("one\r\n\ntwo");
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(log.entries(), ["line one", "line ", "line two", "end"]);
}

#[test]
fn a_line_over_the_limit_destroys_the_socket_and_is_never_delivered() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("line too long");
        let (_, port) = with_server(move |sock| {
            ack_reads(sock, &Rc::default());
            framing::lines(sock, LineOptions { max_len: 10 });
            log_lines(sock, &l);
            record(sock, &l, "server");
        });
        // 10 bytes are fine, even cut in two; the 11th byte of the next
        // line fails it, before its end ever comes (the peer stays open).
        let pieces = ["0123", "456789\nok\nabcdefgh", "ij", "k", "never\n"];
        send_pieces(
            port,
            pieces.iter().map(|p| p.as_bytes().to_vec()).collect(),
            false,
        )?;
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        log.entries(),
        [
            "line 0123456789",
            "line ok",
            "server error Line exceeds the maximum length of 10 bytes",
            "server close true",
        ]
    );
}

#[test]
fn the_line_error_carries_its_code() {
    let err: Shared<Option<netloop::Error>> = Rc::default();
    let e = Rc::clone(&err);
    netloop::run(move || {
        let _g = guard("line error code");
        let (_, port) = with_server(move |sock| {
            framing::lines(sock, LineOptions { max_len: 3 });
            let e = Rc::clone(&e);
            sock.on(Socket::ERROR, move |_, err| {
                *e.borrow_mut() = Some(err.clone())
            });
        });
        let c = net::connect(port, "127.0.0.1")?;
        c.on(Socket::ERROR, |_, _| {});
        c.end_with("four\n");
        Ok(())
    })
    .expect("the loop ran");
    let err = err.borrow_mut().take().expect("an error");
    assert_error(
        &err,
        ErrorCode::ERR_FRAME_TOO_LONG,
        "Line exceeds the maximum length of 3 bytes",
    );
    assert_eq!(err.code().as_str(), "ERR_FRAME_TOO_LONG");
}

#[test]
fn a_line_listener_that_destroys_the_socket_stops_the_rest_of_the_read() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("destroy from a line");
        let (_, port) = with_server(move |sock| {
            framing::lines(sock, LineOptions::default());
            let l = l.clone();
            sock.on(Lines::LINE, move |s, line| {
                l.push(format!("line {}", String::from_utf8_lossy(line)));
                if line == b"b" {
                    s.destroy();
                }
            });
        });
        let c = net::connect(port, "127.0.0.1")?;
        c.on(Socket::ERROR, |_, _| {});
        c.end_with("a\nb\nc\nd");
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(log.entries(), ["line a", "line b"]);
}

/// Node's readline documents that `rl.pause()` does not stop the lines
/// already read; pausing the socket from a `line` listener behaves the
/// same, and reading stops after them.
#[test]
fn a_line_listener_that_pauses_still_gets_the_rest_of_the_read_as_readline() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("pause from a line");
        let (_, port) = with_server(move |sock| {
            framing::lines(sock, LineOptions::default());
            let l2 = l.clone();
            sock.on(Lines::LINE, move |s, line| {
                let paused = if s.is_paused() { " (paused)" } else { "" };
                l2.push(format!("line {}{paused}", String::from_utf8_lossy(line)));
                if line == b"a" {
                    s.pause();
                    let s = s.clone();
                    netloop::timers::set_immediate(move || {
                        s.resume();
                    });
                }
            });
            let l2 = l.clone();
            sock.on(Socket::END, move |_, _| l2.push("end"));
        });
        net::connect(port, "127.0.0.1")?.end_with("a\nb\nc\n");
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        log.entries(),
        ["line a", "line b (paused)", "line c (paused)", "end"]
    );
}

#[test]
fn u16_and_u32_frames_cut_at_every_byte_come_out_whole() {
    for header in [Header::U16, Header::U32] {
        let payloads = [b"hello".to_vec(), Vec::new(), pattern(300), b"x".to_vec()];
        let wire: Vec<u8> = payloads.iter().flat_map(|p| framed(header, p)).collect();
        let received: Shared<Vec<Vec<u8>>> = Rc::default();
        let reads: Shared<Vec<usize>> = Rc::default();
        let log = Log::new();
        let (got, r, l) = (Rc::clone(&received), Rc::clone(&reads), log.clone());
        let wire_len = wire.len();
        let mut peer = None;
        netloop::run(|| {
            let _g = guard("frames byte by byte");
            let (_, port) = with_server(move |sock| {
                ack_reads(sock, &r);
                let opts = FrameOptions {
                    header,
                    ..FrameOptions::default()
                };
                framing::frames(sock, opts);
                let got = Rc::clone(&got);
                sock.on(Frames::FRAME, move |_, f| got.borrow_mut().push(f.to_vec()));
                record(sock, &l, "server");
            });
            peer = Some(std_peer(port, wire));
            Ok(())
        })
        .expect("the loop ran");
        peer.expect("started").join().expect("the peer");
        assert_eq!(*received.borrow(), payloads, "{header:?}");
        assert_eq!(
            *reads.borrow(),
            vec![1; wire_len],
            "{header:?}: one byte per read"
        );
        assert_eq!(
            log.entries(),
            ["server end", "server finish", "server close false"]
        );
    }
}

#[test]
fn a_frame_header_over_the_limit_destroys_the_socket_before_its_payload() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("frame too long");
        let (_, port) = with_server(move |sock| {
            let opts = FrameOptions {
                header: Header::U16,
                max_len: 100,
            };
            framing::frames(sock, opts);
            let l2 = l.clone();
            sock.on(Frames::FRAME, move |_, f| {
                l2.push(format!("frame {}", f.len()))
            });
            record(sock, &l, "server");
        });
        let c = net::connect(port, "127.0.0.1")?;
        c.on(Socket::ERROR, |_, _| {});
        // A frame of exactly 100 bytes, then a header announcing 101 with
        // its payload behind it in the same write.
        let mut wire = framed(Header::U16, &pattern(100));
        wire.extend_from_slice(&framed(Header::U16, &pattern(101)));
        c.write(wire);
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        log.entries(),
        [
            "frame 100",
            "server error Frame of 101 bytes exceeds the maximum length of 100 bytes",
            "server close true",
        ]
    );
}

#[test]
fn a_stream_that_ends_inside_a_frame_is_an_error_not_a_frame() {
    for (tail, cut) in [
        (
            &[0, 0, 0, 10, 1, 2, 3][..],
            "3 bytes into a frame of 10 bytes",
        ),
        (&[0, 0][..], "2 bytes into a frame header"),
    ] {
        let log = Log::new();
        let l = log.clone();
        netloop::run(move || {
            let _g = guard("premature close");
            let (_, port) = with_server(move |sock| {
                framing::frames(sock, FrameOptions::default());
                let l2 = l.clone();
                sock.on(Frames::FRAME, move |_, f| {
                    l2.push(format!("frame {}", f.len()))
                });
                record(sock, &l, "server");
            });
            let c = net::connect(port, "127.0.0.1")?;
            c.on(Socket::ERROR, |_, _| {});
            let mut wire = framed(Header::U32, b"whole");
            wire.extend_from_slice(tail);
            c.end_with(wire);
            Ok(())
        })
        .expect("the loop ran");
        assert_eq!(
            log.entries(),
            [
                "frame 5".to_string(),
                "server end".to_string(),
                format!("server error Premature close: the stream ended {cut}"),
                "server close true".to_string(),
            ]
        );
    }
}

#[test]
fn many_frames_in_one_write_arrive_in_order_as_slices_of_the_reads() {
    const COUNT: usize = 2000;
    let payloads: Vec<Vec<u8>> = (0..COUNT)
        .map(|i| format!("frame number {i}").into_bytes())
        .collect();
    let wire: Vec<u8> = payloads
        .iter()
        .flat_map(|p| framed(Header::U32, p))
        .collect();
    let received: Shared<Vec<Vec<u8>>> = Rc::default();
    let reads = Rc::new(Cell::new(0usize));
    let copied = Rc::new(Cell::new(0usize));
    let (got, r, cp) = (Rc::clone(&received), Rc::clone(&reads), Rc::clone(&copied));
    netloop::run(move || {
        let _g = guard("many frames");
        let (_, port) = with_server(move |sock| {
            // The current read's address range, noted before the splitter
            // sees the read.
            let range = Rc::new(Cell::new((0usize, 0usize)));
            let (rg, r) = (Rc::clone(&range), Rc::clone(&r));
            sock.on(Socket::DATA, move |_, chunk| {
                let p = chunk.as_ptr_range();
                rg.set((p.start as usize, p.end as usize));
                r.set(r.get() + 1);
            });
            framing::frames(sock, FrameOptions::default());
            let (got, cp) = (Rc::clone(&got), Rc::clone(&cp));
            sock.on(Frames::FRAME, move |_, f| {
                let (start, end) = range.get();
                let at = f.as_ptr() as usize;
                if !(start <= at && at + f.len() <= end) {
                    cp.set(cp.get() + 1);
                }
                got.borrow_mut().push(f.to_vec());
            });
        });
        net::connect(port, "127.0.0.1")?.end_with(wire);
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(*received.borrow(), payloads);
    // Only a frame cut by a read boundary is copied: at most one per
    // boundary, none at all when the frames came in one read.
    assert!(
        copied.get() < reads.get(),
        "{} copies for {} reads",
        copied.get(),
        reads.get()
    );
}

#[test]
fn write_frame_round_trips_small_large_and_owned_frames() {
    let big = pattern(3 * 1024 * 1024);
    let expected = vec![
        b"small".to_vec(),
        big.clone(),
        Vec::new(),
        b"owned small".to_vec(),
        big.clone(),
    ];
    let received: Shared<Vec<Vec<u8>>> = Rc::default();
    let got = Rc::clone(&received);
    netloop::run(move || {
        let _g = guard("write_frame");
        let (_, port) = with_server(move |sock| {
            framing::frames(sock, FrameOptions::default());
            let got = Rc::clone(&got);
            sock.on(Frames::FRAME, move |_, f| got.borrow_mut().push(f.to_vec()));
        });
        let c = net::connect(port, "127.0.0.1")?;
        framing::write_frame(&c, Header::U32, b"small")?;
        framing::write_frame(&c, Header::U32, &big)?;
        framing::write_frame(&c, Header::U32, b"")?;
        framing::write_frame_owned(&c, Header::U32, b"owned small".to_vec())?;
        framing::write_frame_owned(&c, Header::U32, big)?;
        let err = framing::write_frame(&c, Header::U16, &pattern(65_536))
            .expect_err("65536 bytes do not fit a u16 header");
        assert_eq!(err.code(), ErrorCode::ERR_OUT_OF_RANGE);
        c.end();
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(received.borrow().len(), expected.len());
    assert!(*received.borrow() == expected, "frames differ");
}

#[test]
fn write_owned_interleaves_with_write_in_order_and_calls_back() {
    let big = pattern(2 * 1024 * 1024 + 7);
    let mut expected = Vec::new();
    for part in [
        &b"<connecting>"[..],
        &big,
        b"|",
        b"owned small",
        b"<open>",
        &big,
        b"|",
        b"owned small",
        b"!",
    ] {
        expected.extend_from_slice(part);
    }
    let received: Shared<Vec<u8>> = Rc::default();
    let log = Log::new();
    let (got, l) = (Rc::clone(&received), log.clone());
    netloop::run(move || {
        let _g = guard("write_owned");
        let (_, port) = with_server(move |sock| {
            let got = Rc::clone(&got);
            sock.on(Socket::DATA, move |_, d| {
                got.borrow_mut().extend_from_slice(d)
            });
        });
        let c = net::connect(port, "127.0.0.1")?;
        // Held while connecting, then in the write queue once connected.
        let writes = move |c: &Socket, when: &'static str, l: &Log| {
            c.write(format!("<{when}>"));
            c.write_owned(big.clone());
            let l2 = l.clone();
            c.write_with("|", move |_, err| {
                assert!(err.is_none());
                l2.push(format!("{when}: write_with"));
            });
            let l2 = l.clone();
            c.write_owned_with(b"owned small".to_vec(), move |_, err| {
                assert!(err.is_none());
                l2.push(format!("{when}: write_owned_with"));
            });
        };
        writes(&c, "connecting", &l);
        let l2 = l.clone();
        c.once(Socket::CONNECT, move |c, _| {
            writes(c, "open", &l2);
            c.end_with("!");
        });
        Ok(())
    })
    .expect("the loop ran");
    assert!(*received.borrow() == expected, "bytes differ");
    assert_eq!(
        log.entries(),
        [
            "connecting: write_with",
            "connecting: write_owned_with",
            "open: write_with",
            "open: write_owned_with",
        ]
    );
}
