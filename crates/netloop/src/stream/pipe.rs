//! Unix domain socket handles (libuv's `uv_pipe_t`). A path whose first
//! byte is NUL names a Linux abstract socket, which has no file.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::io::{ListenerIo, StreamIo};
use crate::error::Error;
use crate::sys;

/// True for a Linux abstract socket name (leading NUL byte).
pub(crate) fn is_abstract(path: &Path) -> bool {
    path.as_os_str().as_bytes().first() == Some(&0)
}

/// Bind and listen on `path`. An existing file makes this fail with
/// `EADDRINUSE`; it is never removed behind the user's back.
pub(crate) fn listen(path: &Path, backlog: i32) -> io::Result<ListenerIo> {
    // libuv's `uv_pipe_bind` reports a missing directory as EACCES, so Node
    // prints `listen EACCES: permission denied /no/such/dir/sock`.
    let l = sys::unix_listen(path, backlog).map_err(|e| {
        if e.raw_os_error() == Some(libc::ENOENT) {
            io::Error::from_raw_os_error(libc::EACCES)
        } else {
            e
        }
    })?;
    tracing::debug!(target: "netloop::net", path = %path.display(), "listen (unix)");
    Ok(ListenerIo::Unix(l))
}

/// Add read and/or write permission for everyone to a bound socket file
/// (libuv's `uv_pipe_chmod` with `UV_READABLE` / `UV_WRITABLE`).
pub(crate) fn chmod_all(path: &Path, readable: bool, writable: bool) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut wanted = 0o000;
    if readable {
        wanted |= 0o444;
    }
    if writable {
        wanted |= 0o222;
    }
    let mode = std::fs::metadata(path)?.permissions().mode();
    if (mode & wanted) == wanted {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | wanted))
}

/// Node's error for a failed Unix connect: `connect ENOENT /tmp/x.sock`.
pub(crate) fn connect_error(path: &Path, e: &io::Error) -> Error {
    Error::syscall_host_port(e, "connect", Some(&path.display().to_string()), None, None)
}

/// Connect to `path`.
pub(crate) fn connect(path: &Path) -> io::Result<StreamIo> {
    tracing::debug!(target: "netloop::net", path = %path.display(), "connect (unix)");
    sys::unix_connect(path).map(StreamIo::Unix)
}

/// Remove the socket file of a closed listener, as libuv does when a bound
/// pipe closes. Abstract names have no file.
pub(crate) fn unlink(path: &Path) {
    if !is_abstract(path) {
        // The file may already be gone (removed by the user); nothing to do.
        let _ = std::fs::remove_file(path);
    }
}

/// A path with a NUL byte after its first byte cannot name a socket file:
/// the kernel would cut it at the NUL, bind a different path, and leave that
/// file behind. (A leading NUL is a Linux abstract name, whose bytes are
/// free.) Node reports such strings as ERR_INVALID_ARG_VALUE.
///
/// # Errors
///
/// `ERR_INVALID_ARG_VALUE` for such a path.
pub(crate) fn check_path(path: &Path) -> Result<(), Error> {
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() > 1 && bytes[1..].contains(&0) {
        return Err(Error::new(
            crate::error::ErrorCode::ERR_INVALID_ARG_VALUE,
            format!(
                "The argument 'path' must be a string without null bytes. Received {:?}",
                path.as_os_str()
            ),
        ));
    }
    Ok(())
}
