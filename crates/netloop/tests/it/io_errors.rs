//! netloop's errors in std's `io` world: `?` into `std::io::Result`, the
//! OS error behind `source()`, `io::Error`s without an errno, and Node's
//! code and message for every errno a socket call can return.

use std::error::Error as _;
use std::io;

use crate::util::{guard, refused_port};
use netloop::net::{self, Socket};
use netloop::{Error, ErrorCode, Slot};

/// A real `connect ECONNREFUSED` error, caught by an `error` listener.
fn refused_connect_error() -> (Error, u16) {
    let refused = refused_port();
    let port = refused.port();
    let err = netloop::run_returning(|| {
        let _g = guard("refused");
        let seen = Slot::new(None);
        let client = net::connect(port, "127.0.0.1")?;
        let s = seen.clone();
        client.on(Socket::ERROR, move |_, err| s.set(Some(err.clone())));
        Ok(seen)
    })
    .unwrap()
    .expect("the connect was refused");
    (err, port)
}

/// The OS error a netloop error's `source()` holds.
fn os_source<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a io::Error> {
    err.source().and_then(|s| s.downcast_ref::<io::Error>())
}

/// `source()` of a system error is the OS's `io::Error` with its errno
/// (it used to be rebuilt from kind and text, which lost the errno).
#[test]
fn econnrefused_source_keeps_the_errno() {
    let (err, port) = refused_connect_error();
    assert_eq!(
        err.to_string(),
        format!("connect ECONNREFUSED 127.0.0.1:{port}")
    );
    let source = os_source(&err).expect("an io::Error source");
    assert_eq!(source.raw_os_error(), Some(libc::ECONNREFUSED));
    assert_eq!(source.kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED));
    assert_eq!(err.errno(), Some(-libc::ECONNREFUSED));
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
}

/// `?` turns a netloop error into an `io::Error` that keeps everything:
/// the kind, the message, the netloop error itself (downcast back, code,
/// syscall, address, port, errno), and the errno on its `source()`; `?`
/// the other way gives the same netloop error back.
#[test]
fn question_mark_into_io_error_keeps_code_and_errno_and_downcasts_back() {
    let (err, port) = refused_connect_error();
    fn tool(err: Error) -> io::Result<()> {
        Err(err)?;
        Ok(())
    }
    let io_err = tool(err.clone()).unwrap_err();
    assert_eq!(io_err.kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(io_err.to_string(), err.to_string());
    // An io::Error holds an errno or a payload, not both: this one holds
    // the netloop error, and the errno is one step down.
    assert_eq!(io_err.raw_os_error(), None);
    assert_eq!(
        io_err
            .source()
            .and_then(|s| s.downcast_ref::<io::Error>())
            .and_then(io::Error::raw_os_error),
        Some(libc::ECONNREFUSED)
    );
    let inner = io_err
        .get_ref()
        .and_then(|e| e.downcast_ref::<Error>())
        .expect("the netloop error inside");
    assert_eq!(inner.code(), ErrorCode::ECONNREFUSED);
    assert_eq!(inner.syscall(), Some("connect"));
    assert_eq!(inner.port(), Some(port));
    assert_eq!(inner.raw_os_error(), Some(libc::ECONNREFUSED));

    fn back(io_err: io::Error) -> netloop::Result<()> {
        Err(io_err)?;
        Ok(())
    }
    let again = back(io_err).unwrap_err();
    assert_eq!(again.code(), ErrorCode::ECONNREFUSED);
    assert_eq!(again.message(), err.message());
    assert_eq!(again.address(), Some("127.0.0.1"));

    // Node's own errors convert too, as `Other`.
    let closed = Error::new(ErrorCode::ERR_SOCKET_CLOSED, "Socket is closed");
    let io_err = io::Error::from(closed);
    assert_eq!(io_err.kind(), io::ErrorKind::Other);
    assert_eq!(io_err.to_string(), "Socket is closed");
    assert_eq!(Error::from(io_err).code(), ErrorCode::ERR_SOCKET_CLOSED);
}

/// Node's `util.getSystemErrorMap()` on Linux (Node v20.20.2), for every
/// errno a socket call can return: the code, and libuv's message that
/// `uvException` prints. Reproduce with
/// `node -e "console.log(require('util').getSystemErrorMap().get(-113))"`.
const NODE_SOCKET_ERRNOS: &[(i32, &str, &str)] = &[
    (libc::EACCES, "EACCES", "permission denied"),
    (libc::EADDRINUSE, "EADDRINUSE", "address already in use"),
    (
        libc::EADDRNOTAVAIL,
        "EADDRNOTAVAIL",
        "address not available",
    ),
    (
        libc::EAFNOSUPPORT,
        "EAFNOSUPPORT",
        "address family not supported",
    ),
    (libc::EAGAIN, "EAGAIN", "resource temporarily unavailable"),
    (libc::EALREADY, "EALREADY", "connection already in progress"),
    (libc::EBADF, "EBADF", "bad file descriptor"),
    (libc::ECANCELED, "ECANCELED", "operation canceled"),
    (
        libc::ECONNABORTED,
        "ECONNABORTED",
        "software caused connection abort",
    ),
    (libc::ECONNREFUSED, "ECONNREFUSED", "connection refused"),
    (libc::ECONNRESET, "ECONNRESET", "connection reset by peer"),
    (
        libc::EDESTADDRREQ,
        "EDESTADDRREQ",
        "destination address required",
    ),
    (
        libc::EFAULT,
        "EFAULT",
        "bad address in system call argument",
    ),
    (libc::EHOSTDOWN, "EHOSTDOWN", "host is down"),
    (libc::EHOSTUNREACH, "EHOSTUNREACH", "host is unreachable"),
    (libc::EINTR, "EINTR", "interrupted system call"),
    (libc::EINVAL, "EINVAL", "invalid argument"),
    (libc::EIO, "EIO", "i/o error"),
    (libc::EISCONN, "EISCONN", "socket is already connected"),
    (libc::EMFILE, "EMFILE", "too many open files"),
    (libc::EMSGSIZE, "EMSGSIZE", "message too long"),
    (libc::ENAMETOOLONG, "ENAMETOOLONG", "name too long"),
    (libc::ENETDOWN, "ENETDOWN", "network is down"),
    (libc::ENETUNREACH, "ENETUNREACH", "network is unreachable"),
    (libc::ENFILE, "ENFILE", "file table overflow"),
    (libc::ENOBUFS, "ENOBUFS", "no buffer space available"),
    (libc::ENOENT, "ENOENT", "no such file or directory"),
    (libc::ENOMEM, "ENOMEM", "not enough memory"),
    (libc::ENOPROTOOPT, "ENOPROTOOPT", "protocol not available"),
    (libc::ENOTCONN, "ENOTCONN", "socket is not connected"),
    (libc::ENOTSOCK, "ENOTSOCK", "socket operation on non-socket"),
    // Linux's EOPNOTSUPP is ENOTSUP (95): Node names it ENOTSUP.
    (
        libc::EOPNOTSUPP,
        "ENOTSUP",
        "operation not supported on socket",
    ),
    (libc::EPERM, "EPERM", "operation not permitted"),
    (libc::EPIPE, "EPIPE", "broken pipe"),
    (libc::EPROTO, "EPROTO", "protocol error"),
    (
        libc::EPROTONOSUPPORT,
        "EPROTONOSUPPORT",
        "protocol not supported",
    ),
    (
        libc::EPROTOTYPE,
        "EPROTOTYPE",
        "protocol wrong type for socket",
    ),
    (
        libc::ESHUTDOWN,
        "ESHUTDOWN",
        "cannot send after transport endpoint shutdown",
    ),
    (
        libc::ESOCKTNOSUPPORT,
        "ESOCKTNOSUPPORT",
        "socket type not supported",
    ),
    (libc::ETIMEDOUT, "ETIMEDOUT", "connection timed out"),
];

/// Every socket errno has Node's code and message, in both of Node's
/// wordings (`connect EHOSTDOWN 10.0.0.1:80`, `listen EHOSTDOWN: host is
/// down 10.0.0.1:80`); `EHOSTDOWN` (112) used to be `UNKNOWN`.
#[test]
fn every_socket_errno_has_nodes_code_and_message() {
    let ehostdown = Error::from_syscall(&io::Error::from_raw_os_error(112), "connect");
    assert_eq!(ehostdown.code().as_str(), "EHOSTDOWN");
    assert_eq!(ehostdown.to_string(), "connect EHOSTDOWN");
    assert_eq!(ehostdown.errno(), Some(-112));

    for &(errno, code, message) in NODE_SOCKET_ERRNOS {
        let os = io::Error::from_raw_os_error(errno);
        let e = Error::syscall_host_port(&os, "connect", Some("10.0.0.1"), Some(80), None);
        assert_eq!(e.code().as_str(), code, "errno {errno}");
        assert_eq!(e.to_string(), format!("connect {code} 10.0.0.1:80"));
        assert_eq!(e.code().raw_os_error(), Some(errno));
        assert_eq!(ErrorCode::from_errno(errno), e.code());
        let e = Error::uv_host_port(&os, "listen", Some("10.0.0.1"), Some(80));
        assert_eq!(
            e.to_string(),
            format!("listen {code}: {message} 10.0.0.1:80")
        );
        assert_eq!(e.errno(), Some(-errno));
        assert!(e.code().is_system());
    }
}

/// An errno libuv has no name for stays unnamed, in Node's words: Node
/// 20 prints `connect Unknown system error -102 10.0.0.1:80` (code
/// `Unknown system error -102`) and `listen UNKNOWN: unknown error
/// 10.0.0.1:80` (code `UNKNOWN`) for ENETRESET, and the same for
/// ETOOMANYREFS.
#[test]
fn errnos_libuv_does_not_name_read_as_node_prints_them() {
    for errno in [libc::ENETRESET, libc::ETOOMANYREFS] {
        let os = io::Error::from_raw_os_error(errno);
        let e = Error::syscall_host_port(&os, "connect", Some("10.0.0.1"), Some(80), None);
        assert_eq!(e.code(), ErrorCode::Errno(errno));
        assert_eq!(e.code().as_str(), "UNKNOWN");
        assert_eq!(
            e.to_string(),
            format!("connect Unknown system error -{errno} 10.0.0.1:80")
        );
        let e = Error::uv_host_port(&os, "listen", Some("10.0.0.1"), Some(80));
        assert_eq!(e.to_string(), "listen UNKNOWN: unknown error 10.0.0.1:80");
        assert_eq!(e.raw_os_error(), Some(errno));
    }
}

/// An `io::Error` without an errno (made by Rust code: std's
/// `connect_timeout`, a library's own error) gets the code its kind stands
/// for, with Node's errno for it; `TimedOut` and `Other` used to be
/// `EINVAL` both.
#[test]
fn io_errors_without_errno_map_by_kind() {
    use io::ErrorKind as K;
    let cases = [
        (K::TimedOut, ErrorCode::ETIMEDOUT),
        (K::ConnectionRefused, ErrorCode::ECONNREFUSED),
        (K::ConnectionReset, ErrorCode::ECONNRESET),
        (K::ConnectionAborted, ErrorCode::ECONNABORTED),
        (K::NotConnected, ErrorCode::ENOTCONN),
        (K::BrokenPipe, ErrorCode::EPIPE),
        (K::AddrInUse, ErrorCode::EADDRINUSE),
        (K::AddrNotAvailable, ErrorCode::EADDRNOTAVAIL),
        (K::NotFound, ErrorCode::ENOENT),
        (K::PermissionDenied, ErrorCode::EACCES),
        (K::AlreadyExists, ErrorCode::EEXIST),
        (K::WouldBlock, ErrorCode::EAGAIN),
        (K::InvalidInput, ErrorCode::EINVAL),
        (K::Interrupted, ErrorCode::EINTR),
        (K::Unsupported, ErrorCode::ENOTSUP),
        (K::OutOfMemory, ErrorCode::ENOMEM),
        (K::UnexpectedEof, ErrorCode::EOF),
        (K::Other, ErrorCode::UNKNOWN),
        (K::InvalidData, ErrorCode::UNKNOWN),
        (K::WriteZero, ErrorCode::UNKNOWN),
    ];
    for (kind, code) in cases {
        let e = Error::from(io::Error::new(kind, "made by Rust code"));
        assert_eq!(e.code(), code, "{kind:?}");
        assert_eq!(e.kind(), kind, "the kind survives");
        assert_eq!(e.raw_os_error(), None, "no errno was invented for {kind:?}");
        assert_eq!(e.to_string(), "made by Rust code");
    }

    let timed_out = io::Error::new(K::TimedOut, "connect timed out");
    let e = Error::from_syscall(&timed_out, "connect");
    assert_eq!(e.to_string(), "connect ETIMEDOUT");
    assert_eq!(e.errno(), Some(-libc::ETIMEDOUT));
    let e = Error::uv_host_port(&io::Error::other("boom"), "listen", None, None);
    assert_eq!(e.to_string(), "listen UNKNOWN: unknown error");
    assert_eq!(e.errno(), Some(-4094)); // libuv's UV_UNKNOWN
    let source = os_source(&e).expect("a source");
    assert_eq!(
        (source.kind(), source.to_string()),
        (K::Other, "boom".to_string())
    );
}

/// A code made with `Error::new` has the kind of its errno, so it
/// converts to the `io::Error` a std caller would match on.
#[test]
fn error_new_with_a_system_code_has_its_kind() {
    let e = Error::new(ErrorCode::ETIMEDOUT, "the peer went quiet");
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    assert_eq!(io::Error::from(e).kind(), io::ErrorKind::TimedOut);
    let e = Error::new(ErrorCode::ECONNRESET, "reset");
    assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
    assert_eq!(e.raw_os_error(), None);
}
