//! Who is at the other end of a local socket, as the kernel says: the
//! session agent and the enforcer authenticate each other by uid, so a
//! program run by another user cannot show fake varco pop-ups nor read
//! what varco tells the operator.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// The effective uid of the process at the other end of a connected Unix
/// socket (`SO_PEERCRED`), fixed when the connection was made.
pub fn peer_uid(socket: BorrowedFd<'_>) -> io::Result<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid, writable and live for the call;
    // `len` holds the size of `cred`, so the kernel writes within it. The
    // descriptor is borrowed, hence open.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cred.uid)
}

/// The effective uid of this process.
pub fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}
