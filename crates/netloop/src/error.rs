//! One error type shaped like Node's: a `code`, and for system errors the
//! `syscall`, `errno`, `address` and `port` that Node puts on its `Error`
//! objects, with a `Display` that prints Node's own message text.

use std::fmt;
use std::io;
use std::sync::Arc;

/// `Result` with netloop's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

macro_rules! error_codes {
    (
        system { $( $sys:ident $msg:literal, )* }
        node { $( $(#[$doc:meta])* $name:ident, )* }
    ) => {
        /// Node's error codes: system error names (`ECONNREFUSED`) and Node's
        /// own `ERR_*` codes.
        ///
        /// The system names are libuv's (`uv-errno.h`), each with libuv's
        /// message (`uv_strerror`, which Node prints in `listen EADDRINUSE:
        /// address already in use`): every errno libuv names on both Linux
        /// and the BSDs. An errno libuv has no name for (`ENETRESET`,
        /// `ETOOMANYREFS`) is [`ErrorCode::Errno`], as Node's
        /// `util.getSystemErrorName` calls it `Unknown system error -102`.
        ///
        /// Node: `err.code`.
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $(
                #[doc = concat!("`", stringify!($sys), "`: ", $msg, ".")]
                $sys,
            )*
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
                    $( ErrorCode::$sys => stringify!($sys), )*
                    $( ErrorCode::$name => stringify!($name), )*
                    ErrorCode::Errno(_) => "UNKNOWN",
                    ErrorCode::Custom(code) => code,
                }
            }

            /// The code for a positive errno value, as libuv names it (Node:
            /// `util.getSystemErrorName(-errno)`); [`ErrorCode::Errno`] for one it
            /// does not name.
            ///
            /// ```
            /// use netloop::ErrorCode;
            ///
            /// assert_eq!(ErrorCode::from_errno(libc::EHOSTDOWN).as_str(), "EHOSTDOWN");
            /// assert_eq!(ErrorCode::from_errno(libc::ENETRESET), ErrorCode::Errno(libc::ENETRESET));
            /// ```
            pub fn from_errno(errno: i32) -> ErrorCode {
                match errno {
                    $( libc::$sys => ErrorCode::$sys, )*
                    other => ErrorCode::Errno(other),
                }
            }

            /// The positive errno of a system code on this platform (as
            /// `io::Error::raw_os_error`); `None` for codes that are not an
            /// errno (`ENOTFOUND`, `EOF`, `ERR_*`).
            ///
            /// ```
            /// use netloop::ErrorCode;
            ///
            /// assert_eq!(ErrorCode::ETIMEDOUT.raw_os_error(), Some(libc::ETIMEDOUT));
            /// assert_eq!(ErrorCode::ERR_SOCKET_CLOSED.raw_os_error(), None);
            /// ```
            pub fn raw_os_error(&self) -> Option<i32> {
                match self {
                    $( ErrorCode::$sys => Some(libc::$sys), )*
                    ErrorCode::Errno(n) => Some(*n),
                    _ => None,
                }
            }

            /// libuv's message for a system error code (`uv_strerror`), used where
            /// Node prints it (`listen EADDRINUSE: address already in use ...`).
            fn uv_message(&self) -> Option<&'static str> {
                Some(match self {
                    $( ErrorCode::$sys => $msg, )*
                    ErrorCode::EAI_AGAIN => "temporary failure",
                    ErrorCode::EOF => "end of file",
                    ErrorCode::UNKNOWN | ErrorCode::Errno(_) => "unknown error",
                    _ => return None,
                })
            }
        }
    };
}

error_codes! {
    system {
        E2BIG "argument list too long",
        EACCES "permission denied",
        EADDRINUSE "address already in use",
        EADDRNOTAVAIL "address not available",
        EAFNOSUPPORT "address family not supported",
        EAGAIN "resource temporarily unavailable",
        EALREADY "connection already in progress",
        EBADF "bad file descriptor",
        EBUSY "resource busy or locked",
        ECANCELED "operation canceled",
        ECONNABORTED "software caused connection abort",
        ECONNREFUSED "connection refused",
        ECONNRESET "connection reset by peer",
        EDESTADDRREQ "destination address required",
        EEXIST "file already exists",
        EFAULT "bad address in system call argument",
        EFBIG "file too large",
        EHOSTDOWN "host is down",
        EHOSTUNREACH "host is unreachable",
        EILSEQ "illegal byte sequence",
        EINTR "interrupted system call",
        EINVAL "invalid argument",
        EIO "i/o error",
        EISCONN "socket is already connected",
        EISDIR "illegal operation on a directory",
        ELOOP "too many symbolic links encountered",
        EMFILE "too many open files",
        EMLINK "too many links",
        EMSGSIZE "message too long",
        ENAMETOOLONG "name too long",
        ENETDOWN "network is down",
        ENETUNREACH "network is unreachable",
        ENFILE "file table overflow",
        ENOBUFS "no buffer space available",
        ENODATA "no data available",
        ENODEV "no such device",
        ENOENT "no such file or directory",
        ENOMEM "not enough memory",
        ENOPROTOOPT "protocol not available",
        ENOSPC "no space left on device",
        ENOSYS "function not implemented",
        ENOTCONN "socket is not connected",
        ENOTDIR "not a directory",
        ENOTEMPTY "directory not empty",
        ENOTSOCK "socket operation on non-socket",
        ENOTSUP "operation not supported on socket",
        ENOTTY "inappropriate ioctl for device",
        ENXIO "no such device or address",
        EOVERFLOW "value too large for defined data type",
        EPERM "operation not permitted",
        EPIPE "broken pipe",
        EPROTO "protocol error",
        EPROTONOSUPPORT "protocol not supported",
        EPROTOTYPE "protocol wrong type for socket",
        ERANGE "result too large",
        EROFS "read-only file system",
        ESHUTDOWN "cannot send after transport endpoint shutdown",
        ESOCKTNOSUPPORT "socket type not supported",
        ESPIPE "invalid seek",
        ESRCH "no such process",
        ETIMEDOUT "connection timed out",
        ETXTBSY "text file is busy",
        EXDEV "cross-device link not permitted",
    }
    node {
        /// Host name not found (`getaddrinfo`).
        ENOTFOUND,
        /// Temporary failure in name resolution (`getaddrinfo`).
        EAI_AGAIN,
        /// libuv's end of file (`UV_EOF`), and an `io::Error` of kind
        /// `UnexpectedEof`.
        EOF,
        /// libuv's unknown error (`UV_UNKNOWN`), and an `io::Error` with
        /// no errno and no kind netloop can name (`Other`, `InvalidData`).
        UNKNOWN,
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
        /// An argument has a value that is not allowed.
        ERR_INVALID_ARG_VALUE,
        /// An argument has the wrong type or shape.
        ERR_INVALID_ARG_TYPE,
        /// A descriptor given to `Socket::from_std` or `Server::listen_std`
        /// is not a TCP or Unix stream socket (Node: `new net.Socket({ fd })`
        /// on a UDP socket).
        ERR_INVALID_FD_TYPE,
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
        /// A line or frame from the peer is longer than the limit set in
        /// [`framing`](crate::framing) (netloop's own code: Node's `readline`
        /// has no limit).
        ERR_FRAME_TOO_LONG,
        /// A connection's PROXY protocol header was missing, malformed, too
        /// long, cut short or late; the message says which (netloop's own
        /// code: Node has no PROXY protocol). See [`proxy`](crate::proxy).
        ERR_PROXY_PROTOCOL,
        /// Work posted to a loop that has ended
        /// ([`LoopHandle::post`](crate::LoopHandle::post)).
        ERR_LOOP_CLOSED,
        /// An `error` event had no listener: Node's uncaught exception.
        ERR_UNHANDLED_ERROR,
        /// Several errors at once (happy eyeballs).
        ERR_AGGREGATE,
        /// The server's certificate does not name the host connected to
        /// (Node's `checkServerIdentity`).
        ERR_TLS_CERT_ALTNAME_INVALID,
        /// The TLS handshake took longer than `handshake_timeout`.
        ERR_TLS_HANDSHAKE_TIMEOUT,
        /// The peer's certificate is self-signed and not trusted (OpenSSL's
        /// `X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT`).
        DEPTH_ZERO_SELF_SIGNED_CERT,
        /// The peer's chain ends in a self-signed certificate that is not
        /// trusted.
        SELF_SIGNED_CERT_IN_CHAIN,
        /// The peer sent only its own certificate, and no trusted issuer
        /// signed it.
        UNABLE_TO_VERIFY_LEAF_SIGNATURE,
        /// No trusted issuer for the peer's chain.
        UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
        /// The peer's certificate has expired.
        CERT_HAS_EXPIRED,
        /// The peer's certificate is not valid yet.
        CERT_NOT_YET_VALID,
        /// The peer does not speak TLS (OpenSSL's `wrong version number`).
        ERR_SSL_WRONG_VERSION_NUMBER,
        /// A plain HTTP request reached a TLS server.
        ERR_SSL_HTTP_REQUEST,
    }
}

impl ErrorCode {
    /// The code of an `io::Error`: its errno's name, or for one without an
    /// errno (made by Rust code, such as a `TimedOut` of std's
    /// `connect_timeout`) the errno its kind stands for. Kinds with no
    /// errno behind them (`Other`, `InvalidData`, `WriteZero`) are
    /// [`UNKNOWN`](ErrorCode::UNKNOWN).
    ///
    /// ```
    /// use std::io;
    /// use netloop::ErrorCode;
    ///
    /// let timed_out = io::Error::new(io::ErrorKind::TimedOut, "gave up");
    /// assert_eq!(ErrorCode::of_io(&timed_out), ErrorCode::ETIMEDOUT);
    /// let os = io::Error::from_raw_os_error(libc::EHOSTDOWN);
    /// assert_eq!(ErrorCode::of_io(&os).as_str(), "EHOSTDOWN");
    /// let other = io::Error::new(io::ErrorKind::Other, "boom");
    /// assert_eq!(ErrorCode::of_io(&other), ErrorCode::UNKNOWN);
    /// ```
    pub fn of_io(err: &io::Error) -> ErrorCode {
        if let Some(errno) = err.raw_os_error() {
            return ErrorCode::from_errno(errno);
        }
        use io::ErrorKind as K;
        match err.kind() {
            K::NotFound => ErrorCode::ENOENT,
            K::PermissionDenied => ErrorCode::EACCES,
            K::ConnectionRefused => ErrorCode::ECONNREFUSED,
            K::ConnectionReset => ErrorCode::ECONNRESET,
            K::ConnectionAborted => ErrorCode::ECONNABORTED,
            K::NotConnected => ErrorCode::ENOTCONN,
            K::AddrInUse => ErrorCode::EADDRINUSE,
            K::AddrNotAvailable => ErrorCode::EADDRNOTAVAIL,
            K::BrokenPipe => ErrorCode::EPIPE,
            K::AlreadyExists => ErrorCode::EEXIST,
            K::WouldBlock => ErrorCode::EAGAIN,
            K::InvalidInput => ErrorCode::EINVAL,
            K::TimedOut => ErrorCode::ETIMEDOUT,
            K::Interrupted => ErrorCode::EINTR,
            K::Unsupported => ErrorCode::ENOTSUP,
            K::OutOfMemory => ErrorCode::ENOMEM,
            K::UnexpectedEof => ErrorCode::EOF,
            _ => ErrorCode::UNKNOWN,
        }
    }

    /// Node's `err.errno` for this code: the negative errno of a system
    /// code, libuv's own negative values for the others it has.
    fn uv_errno(&self) -> Option<i32> {
        match self {
            ErrorCode::EOF => Some(-4095),
            ErrorCode::UNKNOWN => Some(-4094),
            ErrorCode::EAI_AGAIN => Some(-3001),
            ErrorCode::ENOTFOUND => Some(-3008),
            c => c.raw_os_error().map(|e| -e),
        }
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
/// use netloop::net::{self, Socket};
/// use netloop::{ErrorCode, Slot};
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
/// let seen = netloop::run_returning(|| {
///     let seen = Slot::new(None);
///     let client = net::connect(port, "127.0.0.1")?;
///     let slot = seen.clone();
///     client.on(Socket::ERROR, move |_, err| slot.set(Some(err.clone())));
///     Ok(seen)
/// })
/// .expect("the error was handled");
/// let err = seen.expect("the connect failed");
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
        let code = ErrorCode::of_io(err);
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
        let code = ErrorCode::of_io(err);
        let text = code
            .uv_message()
            .map(str::to_owned)
            .unwrap_or_else(|| err.to_string().to_lowercase());
        // Node's `uvException` names an errno libuv does not know
        // `UNKNOWN: unknown error`, not `Unknown system error -102`.
        let mut message = format!("{syscall} {}: {text}", code.as_str());
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
            // Node's errno is the negative libuv value; an io::Error without
            // one gets its code's (`TimedOut` is -110, as `ETIMEDOUT`).
            errno: errno.map(|e| -e).or_else(|| code.uv_errno()),
            address: address.map(str::to_owned),
            port: port.filter(|p| *p > 0),
            hostname: None,
            errors: Vec::new(),
            source: Some(copy_io_error(err)),
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

    /// The `std::io::ErrorKind` of the underlying system error, or the
    /// kind of its code's errno (an [`Error::new`] with `ECONNREFUSED` is
    /// `ConnectionRefused`); `Other` for Node's own `ERR_*` errors and the
    /// lookup codes (Node has no equivalent).
    pub fn kind(&self) -> io::ErrorKind {
        match (&self.inner.source, self.inner.code.raw_os_error()) {
            (Some(e), _) => e.kind(),
            (None, Some(errno)) => io::Error::from_raw_os_error(errno).kind(),
            (None, None) => io::ErrorKind::Other,
        }
    }

    /// The operating system's errno this error came from, positive, as
    /// `std::io::Error::raw_os_error` gives it (`Some(111)` for a refused
    /// connect on Linux); `None` for Node's own errors, lookup failures,
    /// and errors made from an `io::Error` that had no errno. See
    /// [`errno`](Error::errno) for Node's negative value, which every
    /// system error has.
    ///
    /// ```
    /// use std::error::Error as _;
    /// use std::io;
    /// use netloop::{Error, ErrorCode};
    ///
    /// let err = Error::from(io::Error::from_raw_os_error(libc::ECONNREFUSED));
    /// assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED));
    /// assert_eq!(err.errno(), Some(-libc::ECONNREFUSED));
    /// // `source()` is the io::Error itself, errno included.
    /// let source = err.source().and_then(|s| s.downcast_ref::<io::Error>());
    /// assert_eq!(source.and_then(io::Error::raw_os_error), Some(libc::ECONNREFUSED));
    ///
    /// let timed_out = Error::from(io::Error::new(io::ErrorKind::TimedOut, "gave up"));
    /// assert_eq!(timed_out.code(), ErrorCode::ETIMEDOUT);
    /// assert_eq!(timed_out.raw_os_error(), None); // the OS never said so
    /// assert_eq!(timed_out.errno(), Some(-libc::ETIMEDOUT)); // Node's view
    /// ```
    pub fn raw_os_error(&self) -> Option<i32> {
        self.inner.source.as_ref().and_then(io::Error::raw_os_error)
    }
}

/// An owned copy of an `io::Error` for [`Error::source`]: `io::Error` is
/// not `Clone`, so an OS error is rebuilt from its errno (which keeps
/// `raw_os_error`), any other from its kind and message.
fn copy_io_error(err: &io::Error) -> io::Error {
    match err.raw_os_error() {
        Some(errno) => io::Error::from_raw_os_error(errno),
        None => io::Error::new(err.kind(), err.to_string()),
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

/// A netloop error as an `io::Error`, so `?` works in functions that
/// return `std::io::Result` (tokio and std code, `main` of a tool).
///
/// The `io::Error` has the error's [`kind`](Error::kind), prints its
/// message, and holds the netloop error itself, so nothing is lost:
/// `get_ref()` and `into_inner()` downcast back to [`Error`] (with code,
/// syscall, address and port), `source()` reaches the OS error with its
/// errno, and converting back with `Error::from` (or `?`) returns the
/// original. An `io::Error` holds either an errno or a payload, not both,
/// so its own `raw_os_error()` is `None`: read the errno from the netloop
/// error ([`Error::raw_os_error`]) or from `source()`.
///
/// ```
/// use std::error::Error as _;
/// use std::io;
/// use netloop::{Error, ErrorCode};
///
/// fn connect_step() -> netloop::Result<()> {
///     Err(Error::from(io::Error::from_raw_os_error(libc::ECONNREFUSED)))
/// }
/// fn tool() -> io::Result<()> {
///     connect_step()?; // netloop::Error -> io::Error
///     Ok(())
/// }
///
/// let err = tool().expect_err("refused");
/// assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
/// let inner = err.get_ref().and_then(|e| e.downcast_ref::<Error>()).expect("a netloop error");
/// assert_eq!(inner.code(), ErrorCode::ECONNREFUSED);
/// let os = err.source().and_then(|s| s.downcast_ref::<io::Error>()).expect("the OS error");
/// assert_eq!(os.raw_os_error(), Some(libc::ECONNREFUSED));
/// assert_eq!(Error::from(err).code(), ErrorCode::ECONNREFUSED); // and back
/// ```
impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        io::Error::new(err.kind(), err)
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Error {
        // A netloop error that went through `?` into an io::Error comes
        // back as itself.
        let err = match err.downcast::<Error>() {
            Ok(netloop) => return netloop,
            Err(err) => err,
        };
        let errno = err.raw_os_error();
        let code = ErrorCode::of_io(&err);
        Error::from_inner(Inner {
            code,
            message: err.to_string(),
            syscall: None,
            errno: errno.map(|e| -e).or_else(|| code.uv_errno()),
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
