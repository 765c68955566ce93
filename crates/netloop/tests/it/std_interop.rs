//! std's sockets and descriptors: `Socket::from_std` (Node's `new
//! net.Socket({ fd })`), `Server::listen_std` (Node's `server.listen({ fd
//! })`), and the descriptor lent through `fd()`, `AsFd` and `AsRawFd`
//! (socket2's `SockRef` on a netloop socket).

use std::io::Read;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::util::{
    assert_error, guard, record, record_with, temp_sock_path, with_server, Calls, Log, RecordOpts,
};
use netloop::net::{self, Server, Socket, SocketOptions};
use netloop::ErrorCode;
use socket2::{Domain, SockRef, Type};

/// A std stream connected by blocking code, adopted inside the loop,
/// talks to a netloop server: no `connect` event (it connected before
/// netloop saw it), data both ways, `finish`, `end`, and `close` exactly
/// once and last. The peer's address is read from the socket.
#[test]
fn from_std_tcp_stream_exchanges_data_with_a_netloop_server() {
    let log = Log::new();
    let data = Log::new();
    netloop::run(|| {
        let _g = guard("from_std tcp");
        let (_server, port) = with_server(|sock| {
            sock.pipe(sock); // echo, and end on end
        });
        // The kernel completes the handshake from the listen backlog, so a
        // blocking connect returns before the loop accepts.
        let std_stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let client = Socket::from_std(std_stream)?;
        assert!(!client.connecting() && !client.pending());
        assert_eq!(client.remote_port(), Some(port));
        assert_eq!(client.ready_state(), net::ReadyState::Open);
        record(&client, &log, "client");
        let d = data.clone();
        client.on(Socket::DATA, move |_, chunk| {
            d.push(String::from_utf8_lossy(chunk))
        });
        client.end_with("ping");
        Ok(())
    })
    .unwrap();
    assert_eq!(data.entries().concat(), "ping");
    assert_eq!(
        log.entries(),
        ["client finish", "client end", "client close false"]
    );
}

/// Both ends of a `socketpair` adopted: two netloop sockets over a Unix
/// stream that no listener made. Bytes that arrive before the `data`
/// listener wait for it, as on any socket; half-open works as usual.
#[test]
fn from_std_unix_stream_pair_with_half_open() {
    let log = Log::new();
    let data = Log::new();
    netloop::run(|| {
        let _g = guard("from_std pair");
        let (a, b) = UnixStream::pair().expect("socketpair");
        let left = Socket::from_std(a)?;
        let right = Socket::from_std_with(
            b,
            SocketOptions {
                allow_half_open: true,
                ..SocketOptions::default()
            },
        )?;
        assert_eq!(left.remote_address(), None); // no IP on a Unix socket
        record(&left, &log, "left");
        record(&right, &log, "right");
        left.end_with("from the left");
        let d = data.clone();
        right.on(Socket::DATA, move |_, chunk| {
            d.push(String::from_utf8_lossy(chunk))
        });
        // Half-open: the right side answers after the left's FIN, then ends.
        right.on(Socket::END, |r, _| {
            assert!(r.writable() && !r.readable());
            r.end_with(" and back");
        });
        let d = data.clone();
        left.on(Socket::DATA, move |_, chunk| {
            d.push(String::from_utf8_lossy(chunk))
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(data.entries().concat(), "from the left and back");
    assert_eq!(log.count("left close false"), 1);
    assert_eq!(log.count("right close false"), 1);
    let left = log.starting_with("left");
    assert_eq!(left, ["left finish", "left end", "left close false"]);
    let right = log.starting_with("right");
    assert_eq!(right, ["right end", "right finish", "right close false"]);
}

/// Invalid input fails at once, Node's way where Node checks
/// (`ERR_INVALID_FD_TYPE` for a UDP socket or a file), and with the
/// kernel's word where Node would only fail on the first read (a socket
/// that is not connected).
#[test]
fn from_std_rejects_what_is_not_a_connected_stream_socket() {
    netloop::run(|| {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("udp");
        let err = Socket::from_std(OwnedFd::from(udp)).unwrap_err();
        assert_error(
            &err,
            ErrorCode::ERR_INVALID_FD_TYPE,
            "Unsupported fd type: UDP",
        );

        let file = std::fs::File::open("/dev/null").expect("/dev/null");
        let err = Socket::from_std(OwnedFd::from(file)).unwrap_err();
        assert_error(
            &err,
            ErrorCode::ERR_INVALID_FD_TYPE,
            "Unsupported fd type: UNKNOWN",
        );

        let unconnected = socket2::Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        let err = Socket::from_std(OwnedFd::from(unconnected)).unwrap_err();
        assert_error(&err, ErrorCode::ENOTCONN, "getpeername ENOTCONN");
        assert_eq!(err.raw_os_error(), Some(libc::ENOTCONN));

        // A listener is not a connected stream either.
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let err = Socket::from_std(OwnedFd::from(listener)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::ENOTCONN);
        Ok(())
    })
    .unwrap();
}

/// A std listener adopted by a server: `address()` and `listening()` at
/// once, `listening` on the next tick (before a tick queued after the
/// call, as Node's `emitListeningNT` queued inside `listen({ fd })`), then
/// connections; `close` closes it and a second listen is refused.
#[test]
fn listen_std_accepts_on_a_std_tcp_listener() {
    let log = Log::new();
    netloop::run(|| {
        let _g = guard("listen_std tcp");
        let std_listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = std_listener.local_addr().unwrap();
        let server = Server::new();
        let l = log.clone();
        server.on(Server::LISTENING, move |_, _| l.push("listening"));
        let l = log.clone();
        server.on(Server::CONNECTION, move |s, sock| {
            l.push(format!("connection from {:?}", sock.remote_address()));
            sock.end_with("hi");
            s.close();
        });
        let l = log.clone();
        server.on(Server::CLOSE, move |_, _| l.push("close"));
        server.listen_std(std_listener)?;
        netloop::next_tick(log.recorder("tick after listen_std"));
        assert!(server.listening());
        assert_eq!(server.address(), Some(addr));
        assert_eq!(server.path(), None);

        let again = TcpListener::bind("127.0.0.1:0").expect("bind");
        let err = server.listen_std(again).unwrap_err();
        assert_eq!(err.code(), ErrorCode::ERR_SERVER_ALREADY_LISTEN);

        let client = net::connect(addr.port(), "127.0.0.1")?;
        let l = log.clone();
        client.on(Socket::DATA, move |_, d| {
            l.push(format!("client got {}", String::from_utf8_lossy(d)))
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log.entries(),
        [
            "listening",
            "tick after listen_std",
            "connection from Some(127.0.0.1)",
            "client got hi",
            "close"
        ]
    );
}

/// A bound socket that does not listen yet is made to listen (libuv's
/// `uv_listen` on the descriptor Node is given); what cannot listen is
/// refused at once.
#[test]
fn listen_std_makes_a_bound_socket_listen_and_refuses_what_cannot() {
    let accepted = Calls::new();
    netloop::run(|| {
        let _g = guard("listen_std bound");
        let bound = socket2::Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
        bound.bind(&any.into()).expect("bind");
        let server = Server::new();
        let a = accepted.clone();
        server.on(Server::CONNECTION, move |s, sock| {
            a.hit();
            sock.destroy();
            s.close();
        });
        server.listen_std(OwnedFd::from(bound))?;
        assert!(SockRef::from(&server).is_listener().expect("SO_ACCEPTCONN"));
        let port = server.address().expect("bound").port();
        net::connect(port, "127.0.0.1")?.on(Socket::ERROR, |_, _| {});

        let udp = UdpSocket::bind("127.0.0.1:0").expect("udp");
        let err = Server::new().listen_std(OwnedFd::from(udp)).unwrap_err();
        assert_error(
            &err,
            ErrorCode::ERR_INVALID_FD_TYPE,
            "Unsupported fd type: UDP",
        );

        let unbound = socket2::Socket::new(Domain::UNIX, Type::STREAM, None).expect("socket");
        let err = Server::new()
            .listen_std(OwnedFd::from(unbound))
            .unwrap_err();
        assert_error(&err, ErrorCode::EINVAL, "listen EINVAL: invalid argument");
        Ok(())
    })
    .unwrap();
    assert_eq!(accepted.get(), 1);
}

/// A std Unix listener: `path()` gives its path, clients connect by path,
/// and `close()` leaves the socket file to whoever bound it (unlike
/// `listen_path`, which removes its own).
#[test]
fn listen_std_on_a_unix_listener_leaves_its_socket_file() {
    let path = temp_sock_path("listen-std");
    let got = Log::new();
    netloop::run(|| {
        let _g = guard("listen_std unix");
        let std_listener = UnixListener::bind(&path).expect("bind");
        let server = net::create_server(|s, sock: &Socket| {
            sock.end_with("over a std unix listener");
            s.close();
        });
        server.listen_std(std_listener)?;
        assert_eq!(server.path().as_deref(), Some(path.as_path()));
        let client = net::connect_path(&path)?;
        let g = got.clone();
        client.on(Socket::DATA, move |_, d| g.push(String::from_utf8_lossy(d)));
        Ok(())
    })
    .unwrap();
    assert_eq!(got.entries().concat(), "over a std unix listener");
    assert!(path.exists(), "close() removed a file it did not create");
    std::fs::remove_file(&path).unwrap();
}

/// socket2's `SockRef` through `AsFd`, on both ends and on the server: an
/// option set with socket2 is what netloop's getter reads back (the same
/// socket), and one netloop set is what socket2 reads.
#[test]
fn sock_ref_through_as_fd_sets_and_reads_back_options() {
    let checked = Calls::new();
    netloop::run(|| {
        let _g = guard("SockRef");
        let c = checked.clone();
        let (server, port) = with_server(move |sock| {
            // Through `AsFd` for `Socket`: `SockRef::from(&socket)`.
            SockRef::from(sock)
                .set_keepalive(true)
                .expect("SO_KEEPALIVE");
            assert_eq!(sock.keep_alive(), Some(true));
            sock.set_no_delay(true);
            assert!(SockRef::from(sock).nodelay().expect("TCP_NODELAY"));
            SockRef::from(sock).set_ttl(42).expect("IP_TTL");
            assert_eq!(SockRef::from(sock).ttl().expect("IP_TTL"), 42);
            c.hit();
            sock.end();
        });
        // netloop's listen sets SO_REUSEADDR, as libuv does.
        assert!(SockRef::from(&server)
            .reuse_address()
            .expect("SO_REUSEADDR"));
        assert!(server.as_raw_fd() >= 0);
        assert_eq!(server.fd().map(|f| f.as_raw_fd()), Some(server.as_raw_fd()));

        let client = net::connect(port, "127.0.0.1")?;
        let c = checked.clone();
        client.on(Socket::CONNECT, move |s, _| {
            let fd = s.fd().expect("connected");
            assert_eq!(fd.as_raw_fd(), s.as_raw_fd());
            let local = SockRef::from(&fd).local_addr().expect("getsockname");
            assert_eq!(local.as_socket(), s.address());
            c.hit();
        });
        client.resume();
        Ok(())
    })
    .unwrap();
    assert_eq!(checked.get(), 2);
}

/// Without a descriptor (never connected, destroyed, a server that is not
/// listening): `fd()` is `None`, `as_raw_fd()` is -1, and `as_fd()` panics
/// with a message that says so.
#[test]
fn without_a_descriptor_fd_is_none_raw_is_minus_one_and_as_fd_panics() {
    netloop::run(|| {
        let socket = Socket::new();
        assert!(socket.fd().is_none());
        assert_eq!(socket.as_raw_fd(), -1);
        let panic = catch_unwind(AssertUnwindSafe(|| socket.as_fd().as_raw_fd())).unwrap_err();
        let text = match panic.downcast_ref::<&str>() {
            Some(text) => text.to_string(),
            None => panic.downcast_ref::<String>().cloned().unwrap_or_default(),
        };
        assert!(text.contains("no descriptor"), "{text}");

        let server = Server::new();
        assert!(server.fd().is_none());
        assert_eq!(server.as_raw_fd(), -1);
        assert!(catch_unwind(AssertUnwindSafe(|| server.as_fd().as_raw_fd())).is_err());
        server.listen(0, "127.0.0.1")?;
        assert!(server.fd().is_some());
        server.close();
        assert!(server.fd().is_none());
        assert_eq!(server.as_raw_fd(), -1);
        Ok(())
    })
    .unwrap();
}

/// A descriptor lent and then closed by `destroy()`: the peer sees the FIN
/// at once, but the number stays reserved (on `/dev/null`) while the
/// socket lives, so the stale `BorrowedFd` names no other file: socket
/// calls through it fail with `ENOTSOCK`, and files opened meanwhile get
/// other numbers. `reset_and_destroy()` still sends its RST.
#[test]
fn a_lent_descriptor_closed_by_destroy_stays_reserved() {
    let log = Log::new();
    netloop::run(|| {
        let _g = guard("lent fd");
        let (_server, port) = with_server(|sock| {
            let fd = sock.fd().expect("accepted");
            let number = fd.as_raw_fd();
            sock.destroy();
            assert!(sock.fd().is_none());
            assert_eq!(sock.as_raw_fd(), -1);
            // The borrow outlived the close: it must not name a new file.
            let opened: Vec<std::fs::File> = (0..4)
                .map(|_| std::fs::File::open("/dev/null").expect("open"))
                .collect();
            assert!(opened.iter().all(|f| f.as_raw_fd() != number));
            let err = SockRef::from(&fd).r#type().unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ENOTSOCK));
            assert_eq!(fd.as_raw_fd(), number);
        });
        let client = net::connect(port, "127.0.0.1")?;
        record(&client, &log, "client");
        client.resume();

        let (_reset_server, reset_port) = with_server(|sock| {
            let fd = sock.as_fd();
            sock.reset_and_destroy();
            assert!(SockRef::from(&fd).r#type().is_err());
        });
        let reset = net::connect(reset_port, "127.0.0.1")?;
        // `read ECONNRESET`, or `connect ECONNRESET ...` when the RST beats
        // the connect's completion: the code is what matters.
        let code_only = RecordOpts {
            error_code_only: true,
            ..RecordOpts::default()
        };
        record_with(&reset, &log, "reset", code_only);
        reset.resume();
        Ok(())
    })
    .unwrap();
    let client = log.starting_with("client");
    assert_eq!(client[..2], ["client connect", "client ready"]);
    assert_eq!(
        client[2..],
        ["client end", "client finish", "client close false"]
    );
    let reset = log.starting_with("reset");
    assert_eq!(reset.last().map(String::as_str), Some("reset close true"));
    assert!(
        reset.contains(&"reset error ECONNRESET".to_string()),
        "{reset:?}"
    );
}

/// A socket adopted from std keeps what socket2 set on it before, and a
/// std stream on the other end sees what netloop writes: std and netloop
/// sockets interoperate both ways.
#[test]
fn options_set_before_from_std_are_kept_and_std_reads_what_netloop_writes() {
    let (mut ours, theirs) = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let theirs = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
        let (ours, _) = listener.accept().expect("accept");
        (ours, theirs)
    };
    SockRef::from(&theirs)
        .set_keepalive(true)
        .expect("SO_KEEPALIVE");
    // Our FIN first, so the netloop side ends and closes once it has
    // written: the loop then ends by itself.
    ours.shutdown(std::net::Shutdown::Write).expect("shutdown");
    netloop::run(move || {
        let s = Socket::from_std(theirs)?;
        assert_eq!(s.keep_alive(), Some(true));
        s.end_with("netloop to std");
        Ok(())
    })
    .unwrap();
    ours.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = String::new();
    ours.read_to_string(&mut got).expect("read to EOF");
    assert_eq!(got, "netloop to std");
}
