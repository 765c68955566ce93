//! Descriptors lent out by shared handles, for `AsFd` on `Socket` and
//! `Server`.
//!
//! A `BorrowedFd<'a>` promises that its descriptor stays open for `'a`.
//! tokio keeps that promise for free: only the owner can close its stream,
//! by dropping it. A netloop handle is shared instead, and any clone can
//! close it through `&self` (`destroy()`, `close()`), so a descriptor lent
//! from `&'a Socket` could be closed, and its number reused by the next
//! `open`, while the borrow lives. To keep the promise, a descriptor that
//! was lent is never simply closed: [`retire`] points its number at
//! `/dev/null` (`dup3` closes the socket itself, so the peer still sees the
//! FIN or the RST at once) and keeps that number open until the handle
//! that lent it is dropped ([`release`]), which no borrow can outlive. A
//! stale `BorrowedFd` then names `/dev/null`, never another file, and
//! socket calls through it fail with `ENOTSOCK`.
//!
//! The contract for the stream layer, the only caller: a handle that
//! [`lend`]s one of its descriptors closes that descriptor only through
//! [`retire`], passing the same `owner`, and calls [`release`] when it is
//! dropped. Handles that never lend pay nothing but one thread-local check
//! on drop.

use std::cell::RefCell;
use std::collections::HashMap;
use std::mem::ManuallyDrop;
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;

use socket2::SockRef;

thread_local! {
    /// The retired descriptors of live handles, by the handle's address
    /// (handles are `!Send` and never move: they live in an `Rc`). Never
    /// dropped at thread exit: a handle leaked into another thread-local
    /// may still have lent its descriptors then, so they stay open until
    /// the process ends.
    static RETIRED: ManuallyDrop<RefCell<HashMap<usize, Vec<OwnedFd>>>> =
        ManuallyDrop::new(RefCell::new(HashMap::new()));
}

fn key<T: ?Sized>(owner: &T) -> usize {
    (owner as *const T).cast::<()>() as usize
}

/// Lend `fd`, a descriptor `owner` holds, for as long as `owner` is
/// borrowed. See the module docs for the contract that makes this sound.
pub(crate) fn lend<'a, T: ?Sized>(_owner: &'a T, fd: BorrowedFd<'_>) -> BorrowedFd<'a> {
    // SAFETY: `fd` is open now (it is borrowed), and it stays open for
    // `'a`: the handle `owner` closes a lent descriptor only through
    // `retire`, which keeps the number open until `release(owner)`, and
    // `release` runs from the handle's `Drop`, which cannot happen while
    // `owner` is borrowed.
    unsafe { BorrowedFd::borrow_raw(fd.as_raw_fd()) }
}

/// Close the socket behind `fd`, a descriptor `owner` lent, but keep its
/// number open (on `/dev/null`) until [`release`]`(owner)`.
pub(crate) fn retire<T: ?Sized>(owner: &T, fd: OwnedFd) {
    if point_at_null(&fd).is_err() {
        // No `/dev/null` to point at (a bare chroot) or `dup3` failed: keep
        // the socket itself open, shut down both ways so the peer sees
        // our FIN and nothing more is read or written. An RST asked for
        // with `SO_LINGER` is lost: it needs the last close.
        if let Err(e) = SockRef::from(&fd).shutdown(Shutdown::Both) {
            tracing::debug!(target: "netloop::net", error = %e, "shutdown of a lent descriptor failed");
        }
    }
    RETIRED.with(|r| r.borrow_mut().entry(key(owner)).or_default().push(fd));
}

/// Close every descriptor `owner` retired; called when the handle is
/// dropped.
pub(crate) fn release<T: ?Sized>(owner: &T) {
    // `try_with`: a handle dropped during thread exit finds nothing to do.
    let _ = RETIRED.try_with(|r| {
        let taken = {
            let mut r = r.borrow_mut();
            if r.is_empty() {
                return;
            }
            let taken = r.remove(&key(owner));
            if r.is_empty() {
                // The map is never dropped (see `RETIRED`): give its table
                // back once nothing is retired, so a thread that lent
                // descriptors leaves nothing behind when it ends.
                r.shrink_to_fit();
            }
            taken
        };
        drop(taken); // closed outside the borrow
    });
}

/// The process's `/dev/null`, opened once, close-on-exec (std's default).
fn null() -> Option<BorrowedFd<'static>> {
    static NULL: OnceLock<Option<OwnedFd>> = OnceLock::new();
    NULL.get_or_init(|| std::fs::File::open("/dev/null").ok().map(OwnedFd::from))
        .as_ref()
        .map(|f| f.as_fd())
}

/// Make `fd`'s number name `/dev/null`; the file it named is closed as by
/// `close(2)`.
fn point_at_null(fd: &OwnedFd) -> std::io::Result<()> {
    let null = null().ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))?;
    dup_onto(null, fd)
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn dup_onto(from: BorrowedFd<'_>, onto: &OwnedFd) -> std::io::Result<()> {
    // SAFETY: both descriptors are open for the duration of the call;
    // `dup3` atomically replaces `onto`'s file, which `onto` keeps owning.
    let rc = unsafe { libc::dup3(from.as_raw_fd(), onto.as_raw_fd(), libc::O_CLOEXEC) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn dup_onto(from: BorrowedFd<'_>, onto: &OwnedFd) -> std::io::Result<()> {
    // No `dup3` here: `dup2` clears close-on-exec, so set it again (a
    // `fork` in between may leak `/dev/null` into a child: harmless).
    // SAFETY: both descriptors are open for the duration of the calls.
    unsafe {
        if libc::dup2(from.as_raw_fd(), onto.as_raw_fd()) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        libc::fcntl(onto.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC);
    }
    Ok(())
}
