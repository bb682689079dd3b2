//! The daemon's control endpoint: how `varco panic` and `varco resume`
//! reach the running enforcer.
//!
//! One exchange, one JSON line each way: the client sends a [`Request`],
//! the daemon answers an [`Answer`]. Who asks is never taken from the
//! request: the daemon asks the OS who is at the other end ([`Caller`]).
//! Any local user may ask for a panic (it only stops tools and closes
//! windows); only root / an Administrator may resume.
//!
//! - Linux ([`unix`]): a Unix socket, by default
//!   `/run/varco/control.sock` for the root service (the folder is root's,
//!   so nobody else can remove or replace the socket) and
//!   `$XDG_RUNTIME_DIR/varco/control.sock` for a daemon run by a user.
//!   The caller is identified with `SO_PEERCRED`.
//! - Windows ([`windows`]): the named pipe `\\.\pipe\varco-control`,
//!   created by the service as its first instance; interactive users may
//!   write to it, and the caller's token (impersonated) says whether they
//!   are an Administrator.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[cfg(target_os = "linux")]
pub mod unix;
#[cfg(windows)]
pub mod windows;

use crate::policy::schedule::PanicUntil;

/// The longest line either side accepts.
pub const MAX_LINE: u64 = 16 * 1024;

/// How long either side waits for the other.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What a client asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Request {
    /// Stop every remote tool and suspend the open windows.
    Panic,
    /// Lift the suspension (administrators only).
    Resume,
}

/// What the daemon answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Answer {
    /// The panic was carried out.
    Panicked {
        /// Display names of the tools stopped.
        stopped: Vec<String>,
        /// The windows now suspended.
        windows: Vec<String>,
        /// When they reopen by themselves (RFC 3339), if ever.
        until: Option<String>,
        /// How the file says a panic lapses.
        lapse: PanicUntil,
        /// Whom to call back, as the windows file says.
        company: Option<String>,
        /// Their known number.
        phone: Option<String>,
    },
    /// The suspension was lifted (or there was none).
    Resumed {
        /// Whether a suspension was in force.
        was_suspended: bool,
    },
    /// The request was refused.
    Refused {
        /// Why, for the person who asked.
        why: String,
    },
}

/// Who is at the other end, as the OS says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Unix uid (none on Windows).
    pub uid: Option<u32>,
    /// Account name, when it resolves.
    pub user: Option<String>,
    /// Root, or a member of Administrators (elevated).
    pub admin: bool,
}

/// A request read from a caller, waiting for the daemon's answer.
#[derive(Debug)]
pub struct Incoming {
    /// What was asked.
    pub request: Request,
    /// Who asked.
    pub caller: Caller,
    /// Where the answer goes.
    pub reply: tokio::sync::oneshot::Sender<Answer>,
}

/// Why the control endpoint could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The endpoint could not be created.
    #[error("cannot listen on {endpoint}: {source}")]
    Listen {
        /// The socket path or pipe name.
        endpoint: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The daemon could not be reached.
    #[error(
        "cannot reach varco at {endpoint}: {source} — is the varco service running? (another socket: --socket PATH)"
    )]
    Connect {
        /// The socket path or pipe name.
        endpoint: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Something other than varco answers there.
    #[error("{0}")]
    NotTrusted(String),
    /// The exchange broke.
    #[error("the exchange with varco failed: {0}")]
    Exchange(String),
    /// No control transport on this platform.
    #[error("varco panic/resume are not available on this platform yet")]
    Unsupported,
}

/// The default endpoint: the system socket when this process is root, or
/// when it exists (a user's `varco panic` talks to the root service);
/// else the per-user one.
pub fn default_socket() -> PathBuf {
    let system = PathBuf::from(SYSTEM_SOCKET);
    if crate::sys::is_privileged() || system.exists() {
        return system;
    }
    std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d).join("varco").join("control.sock"))
        .unwrap_or(system)
}

/// The root service's socket (Linux); the pipe's name on Windows.
#[cfg(not(windows))]
pub const SYSTEM_SOCKET: &str = "/run/varco/control.sock";
/// The root service's socket (Linux); the pipe's name on Windows.
#[cfg(windows)]
pub const SYSTEM_SOCKET: &str = r"\\.\pipe\varco-control";

/// Opens the control endpoint and hands every admitted request to
/// `requests` (the daemon's loop answers them). Call inside the daemon's
/// runtime.
pub fn listen(
    endpoint: &std::path::Path,
    requests: tokio::sync::mpsc::Sender<Incoming>,
) -> Result<(), ControlError> {
    #[cfg(target_os = "linux")]
    {
        unix::listen(endpoint, requests)
    }
    #[cfg(windows)]
    {
        windows::listen(endpoint, requests)
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        let _ = (endpoint, requests);
        Err(ControlError::Unsupported)
    }
}

/// Sends `request` to the daemon at `endpoint` and returns its answer.
pub fn ask(endpoint: &std::path::Path, request: Request) -> Result<Answer, ControlError> {
    #[cfg(target_os = "linux")]
    {
        unix::ask(endpoint, request)
    }
    #[cfg(windows)]
    {
        windows::ask(endpoint, request)
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        let _ = (endpoint, request);
        Err(ControlError::Unsupported)
    }
}

/// Decides what the daemon's loop is asked to do with one line from
/// `caller`: the request, or the refusal to send back at once.
pub fn admit(line: &str, caller: &Caller) -> Result<Request, Answer> {
    let request: Request = serde_json::from_str(line.trim()).map_err(|e| Answer::Refused {
        why: format!("not a varco request ({e})"),
    })?;
    if request == Request::Resume && !caller.admin {
        return Err(Answer::Refused {
            why: "only an administrator (root, or a member of Administrators) may resume the windows; the suspension stays".into(),
        });
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(admin: bool) -> Caller {
        Caller {
            uid: Some(if admin { 0 } else { 1000 }),
            user: None,
            admin,
        }
    }

    #[test]
    fn anyone_may_panic_only_an_administrator_may_resume() {
        let panic = serde_json::to_string(&Request::Panic).unwrap();
        let resume = serde_json::to_string(&Request::Resume).unwrap();
        assert_eq!(admit(&panic, &user(false)), Ok(Request::Panic));
        assert_eq!(admit(&resume, &user(true)), Ok(Request::Resume));
        assert!(matches!(
            admit(&resume, &user(false)),
            Err(Answer::Refused { .. })
        ));
        // What the client claims about itself is not read at all.
        let claim = r#"{"command":"resume","uid":0,"admin":true}"#;
        assert!(matches!(
            admit(claim, &user(false)),
            Err(Answer::Refused { .. })
        ));
        assert!(matches!(
            admit("stop", &user(true)),
            Err(Answer::Refused { .. })
        ));
    }
}
