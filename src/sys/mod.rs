//! The operating-system layer: the only place with raw system calls and
//! `unsafe`. Each platform implements the same few functions; everything
//! above this module is platform-neutral.

/// Who may change a file, judged from a Windows access list (pure, so it
/// is tested on every platform).
pub mod acl;

mod signal;
pub use signal::shutdown_signal;

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

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::*;

#[cfg(not(any(target_os = "linux", windows)))]
mod portable;
#[cfg(not(any(target_os = "linux", windows)))]
pub use portable::*;

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
