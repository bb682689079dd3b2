//! The operating-system layer: the only place with raw system calls and
//! `unsafe`. Each platform implements the same few functions; everything
//! above this module is platform-neutral.

/// Who may change a file, judged from a Windows access list (pure, so it
/// is tested on every platform).
pub mod acl;

mod signal;
pub use signal::{end_quietly_on_closed_pipe, shutdown_signal};

/// The one wall clock decisions are taken with, and its jumps.
pub mod clock;

/// Account names through the system's name service (directories too).
#[cfg(unix)]
mod users;
#[cfg(unix)]
pub use users::user_name;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::*;

#[cfg(target_os = "linux")]
mod xattr;
#[cfg(target_os = "linux")]
pub use xattr::{fxattr, xattr};

#[cfg(target_os = "linux")]
mod peer;
#[cfg(target_os = "linux")]
pub use peer::{current_uid, peer_uid};
/// Exec-permission events (Linux): the pre-exec denial source's kernel side.
#[cfg(target_os = "linux")]
pub mod fanotify;
/// Readiness and watchdog pings to systemd (a no-op elsewhere).
pub mod sd_notify;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::*;

#[cfg(not(any(target_os = "linux", windows)))]
mod portable;
#[cfg(not(any(target_os = "linux", windows)))]
pub use portable::*;

/// Whether the process `pid` that started at `marker` still runs. On
/// Linux a zombie (stopped, not yet reaped by its parent) does not: the
/// daemon does not stop or record it twice.
pub fn still_running(pid: u32, marker: u64) -> bool {
    #[cfg(target_os = "linux")]
    {
        linux::running_since(pid) == Some(marker)
    }
    #[cfg(not(target_os = "linux"))]
    {
        start_marker(pid) == Some(marker)
    }
}

/// The most a policy file (windows file, catalog extension, key,
/// signature) may hold: far above any real one, low enough that a huge
/// or endless file cannot exhaust the daemon's memory.
pub const POLICY_FILE_LIMIT: u64 = 4 << 20;

/// Writes `bytes` to `path` so that a reader (or a crash) sees either the
/// old file or the new one whole: a temporary file beside it, flushed to
/// disk, renamed over it, and (Unix) the folder flushed too. `mode` is the
/// new file's Unix permission bits; on Windows the file inherits its
/// folder's access list.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(name);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        #[cfg(unix)]
        {
            // A file left by an earlier crash keeps its old mode.
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        #[cfg(unix)]
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Why a process could not be stopped.
#[derive(Debug, thiserror::Error)]
pub enum KillError {
    /// It exited before it could be stopped (nothing left to do).
    #[error("the process had already exited")]
    Gone,
    /// The pid now belongs to another process; nothing was signalled.
    #[error("the pid was reused by another process; nothing was stopped")]
    Reused,
    /// varco lacks the right to stop it (e.g. another user's process
    /// while varco runs unprivileged).
    #[error(
        "not allowed to stop it ({0}); run varco as a system service to stop other users' programs"
    )]
    Denied(std::io::Error),
    /// Any other failure from the OS.
    #[error("the system refused: {0}")]
    Os(std::io::Error),
}

/// What a kill achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Killed {
    /// Processes signalled: the tool and its descendants.
    pub processes: usize,
}
