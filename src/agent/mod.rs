//! `varco agent`: the per-session process that shows the operator what the
//! enforcer decided.
//!
//! Stopping a tool before it runs needs root (SYSTEM on Windows), and such
//! a service has no desktop session: it cannot show a notification. So the
//! enforcer sends each [`Notice`] — facts without wording — to the agent in
//! the operator's session; the agent words it in the session's language,
//! shows it, and answers whether it could. The enforcer never waits on
//! this to enforce.
//!
//! One protocol, two transports. The exchange is one JSON line each way:
//! the enforcer sends a [`Notice`], the agent answers an [`Answer`]. Each
//! transport authenticates both ends with what the OS says about the peer:
//! - Linux ([`unix`]): `/run/user/<uid>/varco-agent.sock`, in a folder only
//!   that user can enter; both ends check the other's uid (`SO_PEERCRED`):
//!   the agent accepts only root, the enforcer talks only to an agent run
//!   by the process's owner.
//! - Windows ([`windows`]): `\\.\pipe\varco-agent-<session>`, created by
//!   the agent as the pipe's first instance with an access list admitting
//!   SYSTEM and the session's user; the service checks the serving process
//!   runs in that session.

use std::path::Path;

use crate::effect::notify::NotShown;
use crate::messages::{Lang, Notice, Texts};

mod protocol;
#[cfg(target_os = "linux")]
mod unix;
#[cfg(windows)]
mod windows;

pub use protocol::{AgentError, Answer};

/// Where per-user runtime folders live on Linux; the agent's socket is
/// `<base>/<uid>/varco-agent.sock`.
pub const DEFAULT_BASE: &str = "/run/user";

/// Sends `notice` to the agent of the user `uid` and returns once it was
/// shown, or why the operator was not told. On Windows every session's
/// agent is asked (the service does not map a process to its session yet).
pub async fn send(base: &Path, uid: Option<u32>, notice: &Notice) -> Result<(), NotShown> {
    #[cfg(target_os = "linux")]
    {
        let uid = uid.ok_or(NotShown::OwnerUnknown)?;
        unix::send(base, uid, notice).await
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = uid;
        broadcast(base, notice).await.map(|_| ())
    }
}

/// Sends `notice` to every agent (a problem with the windows file concerns
/// whoever is at the workstation). Returns how many showed it, or why none
/// did.
pub async fn broadcast(base: &Path, notice: &Notice) -> Result<usize, NotShown> {
    #[cfg(target_os = "linux")]
    {
        unix::broadcast(base, notice).await
    }
    #[cfg(windows)]
    {
        let _ = base;
        windows::broadcast(notice).await
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        let _ = (base, notice);
        Err(NotShown::NoAgent {
            detail: "no agent transport on this platform yet".into(),
        })
    }
}

/// Runs the agent of the current user/session until it is stopped.
pub fn serve(base: &Path) -> Result<(), AgentError> {
    let texts = Texts::load(Lang::from_env());
    #[cfg(target_os = "linux")]
    {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(unix::serve(base, texts))
    }
    #[cfg(windows)]
    {
        let _ = base;
        windows::serve(texts)
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        let _ = (base, texts);
        Err(AgentError::Unsupported)
    }
}

/// Windows: sends a test notice to this session's agent and returns its
/// answer, to check that it runs and can show toasts.
#[cfg(windows)]
pub fn test_notice() -> Result<Answer, String> {
    windows::test_notice()
}
