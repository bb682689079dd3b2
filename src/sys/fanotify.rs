//! Linux fanotify exec-permission events: the kernel asks before every
//! `execve` of a file on a marked filesystem, and the exec waits for the
//! answer.
//!
//! That wait is the danger: an event left unanswered freezes the program
//! that tried to start, and with whole filesystems marked that is every
//! program on the machine. So every event read from the group is answered
//! exactly once, whatever happens: [`ExecEvent`] answers "allow" when it is
//! dropped without an explicit answer (including during a panic unwind),
//! and closing the group (the daemon exiting or crashing) makes the kernel
//! allow everything still pending.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How a filesystem was marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    /// The whole filesystem (every mount of it, bind mounts included).
    Filesystem,
    /// Only this mount (kernels or filesystems without filesystem marks).
    Mount,
}

/// A fanotify group that receives exec-permission events.
#[derive(Debug)]
pub struct Group {
    fd: OwnedFd,
}

const PERMISSION_EVENTS: u64 =
    libc::FAN_OPEN_PERM | libc::FAN_ACCESS_PERM | libc::FAN_OPEN_EXEC_PERM;

impl Group {
    /// Creates a group in the content class, which permission events need.
    /// Fails with EPERM without CAP_SYS_ADMIN and with EINVAL on a kernel
    /// built without `CONFIG_FANOTIFY_ACCESS_PERMISSIONS`.
    ///
    /// Also raises this process's open-file limit to its hard limit: each
    /// event read carries a descriptor, and when the kernel cannot install
    /// one it refuses that exec itself.
    ///
    /// The queue is unlimited (`FAN_UNLIMITED_QUEUE`): with the default
    /// limit of 16,384 events, the kernel drops an exec-permission event
    /// it cannot queue and lets that exec through unasked. Each queued
    /// exec-permission event holds its caller until answered, so the queue
    /// cannot outgrow the processes exec'ing at once, and the watchdog
    /// aborts the daemon if answers stop.
    pub fn new() -> io::Result<Arc<Group>> {
        raise_open_file_limit();
        // SAFETY: fanotify_init takes two flag words and returns a new
        // descriptor or -1; no memory is passed.
        let fd = unsafe {
            libc::fanotify_init(
                libc::FAN_CLASS_CONTENT
                    | libc::FAN_CLOEXEC
                    | libc::FAN_NONBLOCK
                    | libc::FAN_UNLIMITED_QUEUE,
                (libc::O_RDONLY | libc::O_LARGEFILE | libc::O_CLOEXEC) as libc::c_uint,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel returned a fresh descriptor that we now own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Arc::new(Group { fd }))
    }

    /// Asks for exec-permission events on the filesystem holding `path`
    /// (falling back to its mount where filesystem marks are refused).
    pub fn mark(&self, path: &Path) -> io::Result<MarkKind> {
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mark = |how: libc::c_uint| {
            // SAFETY: `c` is a NUL-terminated path that outlives the call;
            // the group descriptor is live.
            let r = unsafe {
                libc::fanotify_mark(
                    self.fd.as_raw_fd(),
                    libc::FAN_MARK_ADD | how,
                    libc::FAN_OPEN_EXEC_PERM,
                    libc::AT_FDCWD,
                    c.as_ptr(),
                )
            };
            if r < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        match mark(libc::FAN_MARK_FILESYSTEM) {
            Ok(()) => Ok(MarkKind::Filesystem),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EXDEV)) => {
                mark(libc::FAN_MARK_MOUNT).map(|()| MarkKind::Mount)
            }
            Err(e) => Err(e),
        }
    }

    /// Removes every inode mark of the group: the ignore marks of
    /// [`ExecEvent::allow_and_skip_from_now_on`] (filesystem and mount
    /// marks stay). After a catalog change a file once judged harmless is
    /// asked about again.
    pub fn flush_ignore_marks(&self) -> io::Result<()> {
        // SAFETY: FAN_MARK_FLUSH without a mount or filesystem flag takes
        // no path (null) and removes the inode marks of this live group.
        let r = unsafe {
            libc::fanotify_mark(
                self.fd.as_raw_fd(),
                libc::FAN_MARK_FLUSH,
                0,
                libc::AT_FDCWD,
                std::ptr::null(),
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Waits up to `timeout_ms` for events; true when some are ready.
    pub fn wait(&self, timeout_ms: i32) -> io::Result<bool> {
        Ok(poll_one(self.fd.as_raw_fd(), libc::POLLIN, timeout_ms)? != 0)
    }

    /// Reads the events that are ready (none if nothing is) into `out`.
    /// Never blocks. Every permission event read is in `out`, so it will be
    /// answered; a malformed buffer is an error after the events before it
    /// were taken.
    pub fn read(self: &Arc<Self>, buf: &mut [u8], out: &mut Vec<ExecEvent>) -> io::Result<()> {
        // SAFETY: `buf` is writable for its whole length.
        let n = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast::<libc::c_void>(),
                buf.len(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(()),
                _ => Err(e),
            };
        }
        let n = n as usize;
        let header = std::mem::size_of::<libc::fanotify_event_metadata>();
        let mut at = 0;
        while at + header <= n {
            // SAFETY: at least `header` bytes from `at` were written by the
            // kernel; read_unaligned copes with any alignment.
            let meta: libc::fanotify_event_metadata = unsafe {
                std::ptr::read_unaligned(buf[at..].as_ptr().cast::<libc::fanotify_event_metadata>())
            };
            let fd = (meta.fd >= 0).then(|| {
                // SAFETY: the kernel opened this descriptor for us; we own it.
                let owned = unsafe { OwnedFd::from_raw_fd(meta.fd) };
                std::fs::File::from(owned)
            });
            if meta.vers != libc::FANOTIFY_METADATA_VERSION {
                // The layout is not the one compiled in: nothing after this
                // can be trusted. The descriptor (if any) is closed; the
                // caller drops the group, which allows everything pending.
                return Err(io::Error::other(format!(
                    "fanotify metadata version {} (expected {})",
                    meta.vers,
                    libc::FANOTIFY_METADATA_VERSION
                )));
            }
            out.push(ExecEvent {
                group: Arc::clone(self),
                fd,
                pid: meta.pid,
                needs_answer: meta.mask & PERMISSION_EVENTS != 0,
                overflow: meta.mask & libc::FAN_Q_OVERFLOW != 0,
            });
            if (meta.event_len as usize) < header {
                return Err(io::Error::other("fanotify event shorter than its header"));
            }
            at += meta.event_len as usize;
        }
        Ok(())
    }

    fn respond(&self, fd: RawFd, response: u32) -> io::Result<()> {
        let r = libc::fanotify_response { fd, response };
        let size = std::mem::size_of::<libc::fanotify_response>();
        // SAFETY: `r` is a plain struct of `size` bytes living across the call.
        let n = unsafe {
            libc::write(
                self.fd.as_raw_fd(),
                (&r as *const libc::fanotify_response).cast::<libc::c_void>(),
                size,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

/// One event read from the group. Answered exactly once: by [`allow`],
/// [`deny`], or (allow) when dropped.
///
/// [`allow`]: ExecEvent::allow
/// [`deny`]: ExecEvent::deny
#[derive(Debug)]
pub struct ExecEvent {
    group: Arc<Group>,
    fd: Option<std::fs::File>,
    pid: i32,
    needs_answer: bool,
    overflow: bool,
}

impl ExecEvent {
    /// The process calling `execve`.
    pub fn pid(&self) -> u32 {
        self.pid.max(0) as u32
    }

    /// Whether the kernel's queue overflowed (events were lost; only
    /// non-permission events can be, so no exec went unanswered).
    pub fn is_overflow(&self) -> bool {
        self.overflow
    }

    /// The file being executed, open read-only: identification by content
    /// reads it through this descriptor, so a rename cannot swap it.
    pub fn file(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(|f| f.as_fd())
    }

    /// The same descriptor as a file, for identification to read.
    pub fn open_file(&self) -> Option<&std::fs::File> {
        self.fd.as_ref()
    }

    /// The path of the file being executed, as the kernel names the open
    /// descriptor (one readlink on procfs, no filesystem access).
    pub fn path(&self) -> Option<PathBuf> {
        let fd = self.fd.as_ref()?;
        std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()
    }

    /// Lets the exec go on.
    pub fn allow(mut self) -> io::Result<()> {
        self.answer(libc::FAN_ALLOW)
    }

    /// Lets the exec go on, and asks the kernel not to ask again about this
    /// file until its content is modified (an ignore mark on its inode,
    /// cleared by the kernel on the next write to it). The answer is sent
    /// first; a failed mark only means the next exec asks again.
    pub fn allow_and_skip_from_now_on(mut self) -> io::Result<()> {
        self.answer(libc::FAN_ALLOW)?;
        let Some(fd) = &self.fd else { return Ok(()) };
        // SAFETY: both descriptors are live; a null path with a file
        // descriptor as dirfd marks that descriptor's inode.
        let r = unsafe {
            libc::fanotify_mark(
                self.group.fd.as_raw_fd(),
                libc::FAN_MARK_ADD | libc::FAN_MARK_IGNORED_MASK,
                libc::FAN_OPEN_EXEC_PERM,
                fd.as_raw_fd(),
                std::ptr::null(),
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Makes the exec fail with EPERM.
    pub fn deny(mut self) -> io::Result<()> {
        self.answer(libc::FAN_DENY)
    }

    fn answer(&mut self, response: u32) -> io::Result<()> {
        let result = match (&self.fd, self.needs_answer) {
            (Some(fd), true) => self.group.respond(fd.as_raw_fd(), response),
            _ => Ok(()),
        };
        self.needs_answer = false;
        if result.is_err() && response == libc::FAN_DENY {
            // Never leave it pending: the exec would hang.
            if let Some(fd) = &self.fd {
                let _ = self.group.respond(fd.as_raw_fd(), libc::FAN_ALLOW);
            }
        }
        result
    }
}

impl Drop for ExecEvent {
    fn drop(&mut self) {
        if self.needs_answer {
            let _ = self.answer(libc::FAN_ALLOW);
        }
    }
}

fn raise_open_file_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read or write one rlimit struct that
    // lives across the calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Blocks until `/proc/self/mountinfo` (open as `file`) changes or
/// `timeout_ms` passes; true on a change.
pub fn wait_mount_change(file: &std::fs::File, timeout_ms: i32) -> io::Result<bool> {
    let revents = poll_one(file.as_raw_fd(), libc::POLLPRI, timeout_ms)?;
    Ok(revents & (libc::POLLPRI | libc::POLLERR) != 0)
}

/// Waits up to `timeout_ms` for `events` on one descriptor; the events
/// that happened (0 on timeout or when a signal interrupted the wait).
fn poll_one(
    fd: std::os::fd::RawFd,
    events: libc::c_short,
    timeout_ms: i32,
) -> io::Result<libc::c_short> {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd, count 1.
    let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(0);
        }
        return Err(e);
    }
    Ok(if r > 0 { p.revents } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_group_has_no_events_until_something_is_marked() {
        // Needs CAP_SYS_ADMIN; the integration tests cover real events.
        if !super::super::is_privileged() {
            panic!("fanotify unit test needs root: run bash tests/run.sh as root");
        }
        let g = Group::new().unwrap();
        let mut buf = vec![0u8; 4096];
        let mut out = Vec::new();
        assert!(!g.wait(0).unwrap());
        g.read(&mut buf, &mut out).unwrap();
        assert!(out.is_empty());
    }
}
