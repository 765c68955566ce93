//! One error type shaped like Node's: a `code`, and for system errors the
//! `syscall`, `errno`, `address` and `port` that Node puts on its `Error`
//! objects, with a `Display` that prints Node's own message text.

use std::fmt;
use std::io;
use std::sync::Arc;

/// `Result` with netloop's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $name:ident ),* $(,)?) => {
        /// Node's error codes: system error names (`ECONNREFUSED`) and Node's
        /// own `ERR_*` codes.
        ///
        /// Node: `err.code`.
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[$doc])* $name, )*
            /// A system error with no name in this table; holds the errno.
            Errno(i32),
            /// A code of the program's own, for errors it makes itself
            /// (Node: `Object.assign(new Error('boom'), { code: 'EBOOM' })`);
            /// [`as_str`](ErrorCode::as_str) returns it as given. See
            /// [`ErrorCode::custom`].
            Custom(&'static str),
        }

        impl ErrorCode {
            /// Node's code string, such as `"ECONNREFUSED"` (Node:
            /// `err.code`); `"UNKNOWN"` for [`ErrorCode::Errno`].
            pub fn as_str(&self) -> &'static str {
                match self {
                    $( ErrorCode::$name => stringify!($name), )*
                    ErrorCode::Errno(_) => "UNKNOWN",
                    ErrorCode::Custom(code) => code,
                }
            }
        }
    };
}

error_codes! {
    /// Connection refused by the peer.
    ECONNREFUSED,
    /// Address already in use.
    EADDRINUSE,
    /// Address not available on this machine.
    EADDRNOTAVAIL,
    /// Connection reset by the peer.
    ECONNRESET,
    /// Connection aborted.
    ECONNABORTED,
    /// Broken pipe: written after the peer closed.
    EPIPE,
    /// Timed out.
    ETIMEDOUT,
    /// Host name not found (`getaddrinfo`).
    ENOTFOUND,
    /// Temporary failure in name resolution (`getaddrinfo`).
    EAI_AGAIN,
    /// No such file or directory.
    ENOENT,
    /// Permission denied.
    EACCES,
    /// Operation not permitted.
    EPERM,
    /// Invalid argument.
    EINVAL,
    /// Socket is not connected.
    ENOTCONN,
    /// Host is unreachable.
    EHOSTUNREACH,
    /// Network is unreachable.
    ENETUNREACH,
    /// Too many open files in this process.
    EMFILE,
    /// Too many open files in the system.
    ENFILE,
    /// Address family not supported.
    EAFNOSUPPORT,
    /// Not a socket, or a path that is not a socket.
    ENOTSOCK,
    /// Resource temporarily unavailable.
    EAGAIN,
    /// Name too long (Unix socket paths).
    ENAMETOOLONG,
    /// Invalid port number.
    ERR_SOCKET_BAD_PORT,
    /// `listen()` called on a listening server.
    ERR_SERVER_ALREADY_LISTEN,
    /// `close()` called on a server that is not listening.
    ERR_SERVER_NOT_RUNNING,
    /// Operation on a closed socket.
    ERR_SOCKET_CLOSED,
    /// The socket was destroyed before it connected.
    ERR_SOCKET_CLOSED_BEFORE_CONNECTION,
    /// `write()` after `end()`.
    ERR_STREAM_WRITE_AFTER_END,
    /// Operation on a destroyed stream.
    ERR_STREAM_DESTROYED,
    /// `end()` after the stream already finished.
    ERR_STREAM_ALREADY_FINISHED,
    /// The stream was closed before it finished.
    ERR_STREAM_PREMATURE_CLOSE,
    /// A line or frame from the peer is longer than the limit set in
    /// [`framing`](crate::framing) (netloop's own code: Node's `readline`
    /// has no limit).
    ERR_FRAME_TOO_LONG,
    /// An argument has a value that is not allowed.
    ERR_INVALID_ARG_VALUE,
    /// An argument has the wrong type or shape.
    ERR_INVALID_ARG_TYPE,
    /// A string that should be an IP address is not one.
    ERR_INVALID_IP_ADDRESS,
    /// A connection to or from an address on a `BlockList`.
    ERR_IP_BLOCKED,
    /// A socket is connecting already.
    ERR_SOCKET_CONNECTING,
    /// Every connection attempt of a happy-eyeballs connect timed out.
    ERR_SOCKET_CONNECTION_TIMEOUT,
    /// A value is out of range.
    ERR_OUT_OF_RANGE,
    /// The operation is not supported by this handle.
    ERR_NOT_SUPPORTED,
    /// An `error` event had no listener: Node's uncaught exception.
    ERR_UNHANDLED_ERROR,
    /// Several errors at once (happy eyeballs).
    ERR_AGGREGATE,
    /// Work posted to a loop that has ended
    /// ([`LoopHandle::post`](crate::LoopHandle::post)).
    ERR_LOOP_CLOSED,
}

impl ErrorCode {
    /// The code for a positive errno value, as libuv names it (Node:
    /// `util.getSystemErrorName(-errno)`); [`ErrorCode::Errno`] for one it
    /// does not name.
    pub fn from_errno(errno: i32) -> ErrorCode {
        match errno {
            libc::ECONNREFUSED => ErrorCode::ECONNREFUSED,
            libc::EADDRINUSE => ErrorCode::EADDRINUSE,
            libc::EADDRNOTAVAIL => ErrorCode::EADDRNOTAVAIL,
            libc::ECONNRESET => ErrorCode::ECONNRESET,
            libc::ECONNABORTED => ErrorCode::ECONNABORTED,
            libc::EPIPE => ErrorCode::EPIPE,
            libc::ETIMEDOUT => ErrorCode::ETIMEDOUT,
            libc::ENOENT => ErrorCode::ENOENT,
            libc::EACCES => ErrorCode::EACCES,
            libc::EPERM => ErrorCode::EPERM,
            libc::EINVAL => ErrorCode::EINVAL,
            libc::ENOTCONN => ErrorCode::ENOTCONN,
            libc::EHOSTUNREACH => ErrorCode::EHOSTUNREACH,
            libc::ENETUNREACH => ErrorCode::ENETUNREACH,
            libc::EMFILE => ErrorCode::EMFILE,
            libc::ENFILE => ErrorCode::ENFILE,
            libc::EAFNOSUPPORT => ErrorCode::EAFNOSUPPORT,
            libc::ENOTSOCK => ErrorCode::ENOTSOCK,
            libc::EAGAIN => ErrorCode::EAGAIN,
            libc::ENAMETOOLONG => ErrorCode::ENAMETOOLONG,
            other => ErrorCode::Errno(other),
        }
    }

    /// libuv's message for a system error code (`uv_strerror`), used where
    /// Node prints it (`listen EADDRINUSE: address already in use ...`).
    fn uv_message(&self) -> Option<&'static str> {
        Some(match self {
            ErrorCode::ECONNREFUSED => "connection refused",
            ErrorCode::EADDRINUSE => "address already in use",
            ErrorCode::EADDRNOTAVAIL => "address not available",
            ErrorCode::ECONNRESET => "connection reset by peer",
            ErrorCode::ECONNABORTED => "software caused connection abort",
            ErrorCode::EPIPE => "broken pipe",
            ErrorCode::ETIMEDOUT => "connection timed out",
            ErrorCode::ENOENT => "no such file or directory",
            ErrorCode::EACCES => "permission denied",
            ErrorCode::EPERM => "operation not permitted",
            ErrorCode::EINVAL => "invalid argument",
            ErrorCode::ENOTCONN => "socket is not connected",
            ErrorCode::EHOSTUNREACH => "host is unreachable",
            ErrorCode::ENETUNREACH => "network is unreachable",
            ErrorCode::EMFILE => "too many open files",
            ErrorCode::ENFILE => "file table overflow",
            ErrorCode::EAFNOSUPPORT => "address family not supported",
            ErrorCode::ENOTSOCK => "socket operation on non-socket",
            ErrorCode::EAGAIN => "resource temporarily unavailable",
            ErrorCode::ENAMETOOLONG => "name too long",
            _ => return None,
        })
    }

    /// True for system error names (`E...`, `EAI_AGAIN`), false for Node's
    /// own `ERR_*` codes and for [custom](ErrorCode::Custom) ones.
    pub fn is_system(&self) -> bool {
        !matches!(self, ErrorCode::Custom(_)) && !self.as_str().starts_with("ERR_")
    }

    /// A code of the program's own, for an [`Error`] it makes itself and
    /// passes to [`Socket::destroy_with`](crate::net::Socket::destroy_with)
    /// or emits (Node: setting `err.code` on an `Error`). Codes are usually
    /// literals, hence `&'static str`.
    ///
    /// ```
    /// use netloop::{Error, ErrorCode};
    ///
    /// let err = Error::new(ErrorCode::custom("EBOOM"), "boom");
    /// assert_eq!(err.code().as_str(), "EBOOM");
    /// assert_eq!(err.code(), ErrorCode::custom("EBOOM"));
    /// assert!(!err.code().is_system());
    /// assert_eq!(err.to_string(), "boom");
    /// ```
    pub const fn custom(code: &'static str) -> ErrorCode {
        ErrorCode::Custom(code)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorCode::Errno(n) => write!(f, "errno {n}"),
            _ => f.write_str(self.as_str()),
        }
    }
}

/// netloop's error: Node's `Error` with `code`, `syscall`, `errno`,
/// `address`, `port` and `hostname` (Node: the system errors and `ERR_*`
/// errors of `net`).
///
/// `Display` prints Node's message, word for word
/// (`connect ECONNREFUSED 127.0.0.1:8080`,
/// `listen EADDRINUSE: address already in use 127.0.0.1:8080`,
/// `getaddrinfo ENOTFOUND nope.invalid`, `write after end`), and
/// [`code`](Error::code) gives Node's code to match on. Errors reach you in
/// two ways, as in Node: an invalid argument is an `Err` from the call
/// itself; an operational failure is an `error` event on a later tick, and
/// with no `error` listener it ends [`run`](crate::run), which returns it.
/// Cloning is cheap (the fields are shared), so one error can reach an
/// `error` listener and every pending write callback.
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use netloop::net::{self, Socket};
/// use netloop::{Error, ErrorCode};
///
/// // A port nothing listens on: a socket bound to it that never listens
/// // makes connects there fail, and keeps other programs off the port.
/// let holder = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
///     .expect("a socket");
/// let any_port: std::net::SocketAddr = "127.0.0.1:0".parse().expect("an address");
/// holder.bind(&any_port.into()).expect("a free port");
/// let port = holder.local_addr().expect("bound").as_socket().expect("IPv4").port();
///
/// // With an `error` listener, the listener gets it.
/// let seen: Rc<RefCell<Option<Error>>> = Rc::default();
/// let slot = Rc::clone(&seen);
/// netloop::run(move || {
///     let client = net::connect(port, "127.0.0.1")?;
///     client.on(Socket::ERROR, move |_, err| *slot.borrow_mut() = Some(err.clone()));
///     Ok(())
/// })
/// .expect("the error was handled");
/// let err = seen.borrow_mut().take().expect("the connect failed");
/// assert_eq!(err.code(), ErrorCode::ECONNREFUSED);
/// assert_eq!(err.code().as_str(), "ECONNREFUSED");
/// assert!(err.code().is_system());
/// assert_eq!(err.to_string(), format!("connect ECONNREFUSED 127.0.0.1:{port}"));
/// assert_eq!(err.syscall(), Some("connect"));
/// assert_eq!(err.address(), Some("127.0.0.1"));
/// assert_eq!(err.port(), Some(port));
/// assert!(err.errno().is_some_and(|errno| errno < 0)); // libuv's negative errno
///
/// // Without one, it ends `run` (Node's uncaught exception).
/// let err = netloop::run(move || {
///     net::connect(port, "127.0.0.1")?;
///     Ok(())
/// })
/// .expect_err("nobody listened for the error");
/// assert_eq!(err.code(), ErrorCode::ECONNREFUSED);
///
/// // Invalid arguments fail at once.
/// let err = netloop::run(|| net::connect(0, "127.0.0.1").map(drop))
///     .expect_err("port 0 is invalid");
/// assert_eq!(err.code(), ErrorCode::ERR_SOCKET_BAD_PORT);
/// assert!(!err.code().is_system());
/// assert_eq!(err.to_string(), "Port should be > 0 and < 65536. Received 0.");
/// ```
#[derive(Clone)]
pub struct Error {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    code: ErrorCode,
    message: String,
    syscall: Option<String>,
    errno: Option<i32>,
    address: Option<String>,
    port: Option<u16>,
    hostname: Option<String>,
    errors: Vec<Error>,
    source: Option<io::Error>,
}

impl Error {
    /// An error with a code and a message, for
    /// [`Socket::destroy_with`](crate::net::Socket::destroy_with) or a
    /// custom event (Node: `new Error(message)` with `err.code` set).
    ///
    /// ```
    /// use netloop::{Error, ErrorCode};
    ///
    /// let err = Error::new(ErrorCode::ECONNABORTED, "the client gave up");
    /// assert_eq!(err.to_string(), "the client gave up");
    /// assert_eq!(err.code().as_str(), "ECONNABORTED");
    /// assert_eq!(err.syscall(), None);
    /// ```
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Error {
        Error::from_inner(Inner {
            code,
            message: message.into(),
            syscall: None,
            errno: None,
            address: None,
            port: None,
            hostname: None,
            errors: Vec::new(),
            source: None,
        })
    }

    fn from_inner(inner: Inner) -> Error {
        Error {
            inner: Arc::new(inner),
        }
    }

    /// A system error from a failed syscall, printed as Node's
    /// `exceptionWithHostPort` does: `connect ECONNREFUSED 127.0.0.1:8080`,
    /// with ` - Local (addr:port)` when the socket was bound locally.
    pub fn syscall_host_port(
        err: &io::Error,
        syscall: &str,
        address: Option<&str>,
        port: Option<u16>,
        local: Option<(&str, u16)>,
    ) -> Error {
        let errno = err.raw_os_error();
        let code = errno
            .map(ErrorCode::from_errno)
            .unwrap_or(ErrorCode::EINVAL);
        let mut message = format!("{syscall} {}", code_text(code, errno));
        push_host_port(&mut message, address, port);
        if let Some((la, lp)) = local {
            message.push_str(&format!(" - Local ({la}:{lp})"));
        }
        Error::system(code, message, syscall, errno, address, port, err)
    }

    /// A system error printed as Node's `uvExceptionWithHostPort` does:
    /// `listen EADDRINUSE: address already in use 127.0.0.1:8080`.
    pub fn uv_host_port(
        err: &io::Error,
        syscall: &str,
        address: Option<&str>,
        port: Option<u16>,
    ) -> Error {
        let errno = err.raw_os_error();
        let code = errno
            .map(ErrorCode::from_errno)
            .unwrap_or(ErrorCode::EINVAL);
        let text = code
            .uv_message()
            .map(str::to_owned)
            .unwrap_or_else(|| err.to_string().to_lowercase());
        let mut message = format!("{syscall} {}: {text}", code_text(code, errno));
        push_host_port(&mut message, address, port);
        Error::system(code, message, syscall, errno, address, port, err)
    }

    /// A system error with no address, printed as Node's `errnoException`
    /// does: `read ECONNRESET`.
    pub fn from_syscall(err: &io::Error, syscall: &str) -> Error {
        Error::syscall_host_port(err, syscall, None, None, None)
    }

    fn system(
        code: ErrorCode,
        message: String,
        syscall: &str,
        errno: Option<i32>,
        address: Option<&str>,
        port: Option<u16>,
        err: &io::Error,
    ) -> Error {
        Error::from_inner(Inner {
            code,
            message,
            syscall: Some(syscall.to_owned()),
            // Node's errno is the negative libuv value.
            errno: errno.map(|e| -e),
            address: address.map(str::to_owned),
            port: port.filter(|p| *p > 0),
            hostname: None,
            errors: Vec::new(),
            source: Some(io::Error::new(err.kind(), err.to_string())),
        })
    }

    /// A lookup failure, printed as Node's `dnsException` does:
    /// `getaddrinfo ENOTFOUND host`, with `hostname` set and libuv's
    /// `EAI_*` errno.
    pub fn lookup_failed(code: ErrorCode, hostname: &str) -> Error {
        let errno = match code {
            ErrorCode::EAI_AGAIN => Some(-3001),
            _ => Some(-3008),
        };
        Error::from_inner(Inner {
            code,
            message: format!("getaddrinfo {} {hostname}", code.as_str()),
            syscall: Some("getaddrinfo".to_owned()),
            errno,
            address: None,
            port: None,
            hostname: Some(hostname.to_owned()),
            errors: Vec::new(),
            source: None,
        })
    }

    /// Node's `AggregateError` for happy eyeballs: the code is the first
    /// error's, the message joins the messages, `errors()` lists them all.
    pub fn aggregate(errors: Vec<Error>) -> Error {
        let Some(first) = errors.first() else {
            return Error::new(ErrorCode::ERR_AGGREGATE, "no errors");
        };
        let message = errors
            .iter()
            .map(|e| e.message().to_owned())
            .collect::<Vec<_>>()
            .join("; ");
        Error::from_inner(Inner {
            code: first.code(),
            message,
            syscall: first.syscall().map(str::to_owned),
            errno: first.errno(),
            address: first.address().map(str::to_owned),
            port: first.port(),
            hostname: None,
            errors,
            source: None,
        })
    }

    /// What went wrong, to match on (Node: `err.code`).
    pub fn code(&self) -> ErrorCode {
        self.inner.code
    }

    /// The message, as `Display` prints it (Node: `err.message`, without
    /// the `Error: ` prefix of `toString()`).
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The failed system call: `"connect"`, `"listen"`, `"read"`,
    /// `"getaddrinfo"` (Node: `err.syscall`); `None` for `ERR_*` errors.
    pub fn syscall(&self) -> Option<&str> {
        self.inner.syscall.as_deref()
    }

    /// The negative libuv errno, such as `-111` for `ECONNREFUSED` on
    /// Linux (Node: `err.errno`); `None` for `ERR_*` errors.
    pub fn errno(&self) -> Option<i32> {
        self.inner.errno
    }

    /// The address involved, an IP or a Unix path (Node: `err.address`).
    pub fn address(&self) -> Option<&str> {
        self.inner.address.as_deref()
    }

    /// The port involved (Node: `err.port`).
    pub fn port(&self) -> Option<u16> {
        self.inner.port
    }

    /// The host name that failed to resolve (Node: `err.hostname`).
    pub fn hostname(&self) -> Option<&str> {
        self.inner.hostname.as_deref()
    }

    /// Node's `AggregateError.errors`: every attempt's error (happy eyeballs).
    pub fn errors(&self) -> &[Error] {
        &self.inner.errors
    }

    /// The `std::io::ErrorKind` of the underlying system error, `Other`
    /// for Node's own `ERR_*` errors (Node has no equivalent).
    pub fn kind(&self) -> io::ErrorKind {
        match &self.inner.source {
            Some(e) => e.kind(),
            None => io::ErrorKind::Other,
        }
    }
}

fn code_text(code: ErrorCode, errno: Option<i32>) -> String {
    match code {
        ErrorCode::Errno(_) => format!("Unknown system error {}", -errno.unwrap_or(0)),
        c => c.as_str().to_owned(),
    }
}

fn push_host_port(message: &mut String, address: Option<&str>, port: Option<u16>) {
    match (address, port) {
        (Some(a), Some(p)) if p > 0 => message.push_str(&format!(" {a}:{p}")),
        (Some(a), _) => message.push_str(&format!(" {a}")),
        _ => {}
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("code", &self.inner.code.as_str())
            .field("message", &self.inner.message);
        if let Some(s) = &self.inner.syscall {
            d.field("syscall", s);
        }
        if let Some(e) = self.inner.errno {
            d.field("errno", &e);
        }
        if let Some(a) = &self.inner.address {
            d.field("address", a);
        }
        if let Some(p) = self.inner.port {
            d.field("port", &p);
        }
        if let Some(h) = &self.inner.hostname {
            d.field("hostname", h);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.inner.source {
            Some(e) => Some(e),
            None => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Error {
        let errno = err.raw_os_error();
        let code = errno
            .map(ErrorCode::from_errno)
            .unwrap_or(ErrorCode::EINVAL);
        Error::from_inner(Inner {
            code,
            message: err.to_string(),
            syscall: None,
            errno: errno.map(|e| -e),
            address: None,
            port: None,
            hostname: None,
            errors: Vec::new(),
            source: Some(err),
        })
    }
}

/// Node's `ERR_SOCKET_BAD_PORT` message where port 0 is not allowed
/// (connecting).
pub(crate) fn bad_port_nonzero(value: impl fmt::Display) -> Error {
    Error::new(
        ErrorCode::ERR_SOCKET_BAD_PORT,
        format!("Port should be > 0 and < 65536. Received {value}."),
    )
}

/// Node's `ERR_INVALID_ARG_VALUE` message: "The argument 'x' ..." or, for a
/// dotted name such as `options.family`, "The property 'options.family' ...".
pub(crate) fn invalid_arg(name: &str, value: impl fmt::Debug, reason: &str) -> Error {
    let kind = if name.contains('.') {
        "property"
    } else {
        "argument"
    };
    Error::new(
        ErrorCode::ERR_INVALID_ARG_VALUE,
        format!("The {kind} '{name}' {reason}. Received {value:?}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_refused_reads_like_node() {
        let io = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        let e = Error::syscall_host_port(&io, "connect", Some("127.0.0.1"), Some(8080), None);
        assert_eq!(e.to_string(), "connect ECONNREFUSED 127.0.0.1:8080");
        assert_eq!(e.code(), ErrorCode::ECONNREFUSED);
        assert_eq!(e.errno(), Some(-libc::ECONNREFUSED));
        assert_eq!(e.syscall(), Some("connect"));
        assert_eq!(e.port(), Some(8080));
    }

    #[test]
    fn listen_in_use_reads_like_node() {
        let io = io::Error::from_raw_os_error(libc::EADDRINUSE);
        let e = Error::uv_host_port(&io, "listen", Some("127.0.0.1"), Some(6969));
        assert_eq!(
            e.to_string(),
            "listen EADDRINUSE: address already in use 127.0.0.1:6969"
        );
    }

    #[test]
    fn lookup_failure_reads_like_node() {
        let e = Error::lookup_failed(ErrorCode::ENOTFOUND, "nope.invalid");
        assert_eq!(e.to_string(), "getaddrinfo ENOTFOUND nope.invalid");
        assert_eq!(e.hostname(), Some("nope.invalid"));
    }
}
