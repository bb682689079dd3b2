//! Extended attributes (Linux): where browsers and GIO mark a downloaded
//! file with the URL it came from (`user.xdg.origin.url`).

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The longest value read: a URL, not a file.
const MAX_VALUE: usize = 8192;

/// The value of attribute `name` on the file at `path` (following
/// symlinks), when it has one that fits.
pub fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let path = CString::new(path.as_os_str().as_bytes()).ok()?;
    let name = CString::new(name).ok()?;
    let mut buf = vec![0u8; MAX_VALUE];
    // SAFETY: both strings are NUL-terminated and live for the call; the
    // buffer is writable for `buf.len()` bytes, as passed.
    let n = unsafe {
        libc::getxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    usize::try_from(n).ok().map(|n| {
        buf.truncate(n);
        buf
    })
}

/// As [`xattr`], through an open descriptor (the executable fanotify
/// handed over: never re-opened by path).
pub fn fxattr(fd: BorrowedFd<'_>, name: &str) -> Option<Vec<u8>> {
    let name = CString::new(name).ok()?;
    let mut buf = vec![0u8; MAX_VALUE];
    // SAFETY: the descriptor is borrowed, hence open; the name is
    // NUL-terminated; the buffer is writable for `buf.len()` bytes.
    let n = unsafe {
        libc::fgetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    usize::try_from(n).ok().map(|n| {
        buf.truncate(n);
        buf
    })
}
