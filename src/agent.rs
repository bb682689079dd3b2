//! `varco agent`: the per-session process that shows what the enforcer
//! decided.
//!
//! Stopping a tool before it runs needs root (SYSTEM on Windows), and such
//! a service has no session bus: it cannot show a notification. So the
//! enforcer sends each notice, as facts without wording, to the agent of
//! the user who owns the process; the agent words it in the session's
//! language and shows it, and answers whether it could. The enforcer never
//! waits on this to enforce.
//!
//! On Linux the agent listens on `/run/user/<uid>/varco-agent.sock`: the
//! folder belongs to the user (mode 700) so only that user and root can
//! reach it, and both ends check the other's uid with `SO_PEERCRED`: the
//! agent accepts only root, so another program cannot raise fake varco
//! pop-ups; the enforcer talks only to an agent run by the process's
//! owner. Another transport (a named pipe on Windows) implements the same
//! two functions, [`send`] and [`serve`].

use std::path::{Path, PathBuf};

use crate::messages::{Lang, Notice, Texts};

/// Where per-user runtime folders live; the agent's socket is
/// `<base>/<uid>/varco-agent.sock`.
pub const DEFAULT_BASE: &str = "/run/user";

/// The socket's file name inside the user's runtime folder.
pub const SOCKET_NAME: &str = "varco-agent.sock";

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The socket could not be created.
    #[error("cannot listen on {}: {source} — is another varco agent running for this user?", path.display())]
    Listen {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The async runtime could not start.
    #[error("cannot start: {0}")]
    Io(#[from] std::io::Error),
    /// This platform has no agent transport yet.
    #[error("varco agent is not available on this platform yet")]
    Unsupported,
}

/// The socket of the agent of user `uid`.
pub fn socket_path(base: &Path, uid: u32) -> PathBuf {
    base.join(uid.to_string()).join(SOCKET_NAME)
}

/// Sends `notice` to the agent of `user` and returns once it was shown, or
/// why the operator was not told.
pub async fn send(base: &Path, user: Option<&str>, notice: &Notice) -> Result<(), String> {
    let user = user.ok_or("the process's owner is not known, so neither is their session")?;
    let uid = uid_of(user).ok_or_else(|| format!("no account named {user}"))?;
    transport::send(base, uid, notice).await
}

/// Sends `notice` to every agent listening under `base` (a problem with
/// the windows file concerns whoever is at the workstation). Returns how
/// many showed it.
pub async fn broadcast(base: &Path, notice: &Notice) -> usize {
    let uids: Vec<u32> = std::fs::read_dir(base)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|uid| socket_path(base, *uid).exists())
        .collect();
    let mut shown = 0;
    for uid in uids {
        match transport::send(base, uid, notice).await {
            Ok(()) => shown += 1,
            Err(e) => tracing::warn!("uid {uid} was not told: {e}"),
        }
    }
    shown
}

fn uid_of(user: &str) -> Option<u32> {
    #[cfg(unix)]
    {
        sysinfo::Users::new_with_refreshed_list()
            .ok()?
            .iter()
            .find(|u| u.name() == user)
            .map(|u| **u.id())
    }
    #[cfg(not(unix))]
    {
        let _ = user;
        None
    }
}

/// Runs the agent of the current user until SIGTERM/SIGINT.
pub fn serve(base: &Path) -> Result<(), AgentError> {
    let texts = Texts::load(Lang::from_env());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(transport::serve(base, texts))
}

#[cfg(target_os = "linux")]
mod transport {
    use std::os::fd::AsFd;
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    use std::path::Path;
    use std::time::Duration;

    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{UnixListener, UnixStream};

    use super::{AgentError, socket_path};
    use crate::messages::{Notice, Texts};
    use crate::notify::{self, Level};
    use crate::sys;

    /// How long the enforcer waits for an agent to say it showed a notice.
    const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

    /// The longest notice accepted, so a stuck peer cannot grow memory.
    const MAX_NOTICE: u64 = 64 * 1024;

    /// What the agent answers when the notice is on screen; anything else
    /// is the reason it is not.
    const SHOWN: &str = "shown";

    pub async fn send(base: &Path, uid: u32, notice: &Notice) -> Result<(), String> {
        let path = socket_path(base, uid);
        let exchange = async {
            let mut stream = UnixStream::connect(&path).await.map_err(|e| {
                format!(
                    "no varco agent in the session of uid {uid} ({}: {e})",
                    path.display()
                )
            })?;
            let peer = sys::peer_uid(stream.as_fd()).map_err(|e| e.to_string())?;
            if peer != uid {
                return Err(format!(
                    "{} is served by uid {peer}, not by uid {uid}: not trusted",
                    path.display()
                ));
            }
            let mut line = serde_json::to_string(notice).map_err(|e| e.to_string())?;
            line.push('\n');
            stream
                .write_all(line.as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            let mut answer = String::new();
            BufReader::new(stream.take(MAX_NOTICE))
                .read_line(&mut answer)
                .await
                .map_err(|e| e.to_string())?;
            match answer.trim() {
                SHOWN => Ok(()),
                "" => Err("the agent closed the connection without answering".to_string()),
                other => Err(format!("the agent could not show it: {other}")),
            }
        };
        tokio::time::timeout(ANSWER_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| Err("the agent did not answer in time".to_string()))
    }

    pub async fn serve(base: &Path, texts: Texts) -> Result<(), AgentError> {
        let uid = sys::current_uid();
        let path = socket_path(base, uid);
        let listen_error = |source| AgentError::Listen {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(listen_error)?;
        }
        if UnixStream::connect(&path).await.is_ok() {
            return Err(listen_error(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "an agent already answers there",
            )));
        }
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(listen_error)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(listen_error)?;
        tracing::info!("varco agent listening on {}", path.display());
        let shutdown = crate::daemon::shutdown_signal();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                conn = listener.accept() => match conn {
                    Ok((stream, _)) => {
                        let texts = texts.clone();
                        tokio::spawn(async move { answer(stream, &texts).await });
                    }
                    Err(e) => tracing::warn!("accept failed: {e}"),
                },
                why = &mut shutdown => {
                    tracing::info!("{why}: stopping");
                    let _ = std::fs::remove_file(&path);
                    return Ok(());
                }
            }
        }
    }

    async fn answer(stream: UnixStream, texts: &Texts) {
        match sys::peer_uid(stream.as_fd()) {
            Ok(0) => {}
            Ok(uid) => {
                tracing::warn!(
                    "refused a notice from uid {uid}: only the varco service (root) may send them"
                );
                return;
            }
            Err(e) => {
                tracing::warn!("cannot tell who connected ({e}); refused");
                return;
            }
        }
        let (read, mut write) = stream.into_split();
        let mut line = String::new();
        let read = tokio::time::timeout(
            ANSWER_TIMEOUT,
            BufReader::new(read.take(MAX_NOTICE)).read_line(&mut line),
        )
        .await;
        if !matches!(read, Ok(Ok(n)) if n > 0) {
            return;
        }
        let reply = match serde_json::from_str::<Notice>(&line) {
            Ok(notice) => {
                let level = if notice.is_critical() {
                    Level::Critical
                } else {
                    Level::Quiet
                };
                match notify::deliver(&texts.render(&notice), level).await {
                    Ok(()) => SHOWN.to_string(),
                    Err(e) => format!("no notification server in this session ({e})"),
                }
            }
            Err(e) => format!("unreadable notice ({e})"),
        };
        let _ = write.write_all(format!("{reply}\n").as_bytes()).await;
    }
}

#[cfg(not(target_os = "linux"))]
mod transport {
    use std::path::Path;

    use super::AgentError;
    use crate::messages::{Notice, Texts};

    pub async fn send(_base: &Path, _uid: u32, _notice: &Notice) -> Result<(), String> {
        Err("no agent transport on this platform yet".to_string())
    }

    pub async fn serve(_base: &Path, _texts: Texts) -> Result<(), AgentError> {
        Err(AgentError::Unsupported)
    }
}
