//! The agent's Linux transport: a Unix socket in the user's runtime folder,
//! both ends authenticated by uid (`SO_PEERCRED`).

use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use super::protocol::{self, ANSWER_TIMEOUT, AgentError, MAX_LINE};
use crate::effect::notify::NotShown;
use crate::messages::{Notice, Texts};
use crate::sys;

/// The socket's file name inside the user's runtime folder.
pub const SOCKET_NAME: &str = "varco-agent.sock";

/// The socket of the agent of user `uid`.
pub fn socket_path(base: &Path, uid: u32) -> PathBuf {
    base.join(uid.to_string()).join(SOCKET_NAME)
}

/// Sends `notice` to the agent of `uid` and waits for its answer.
pub async fn send(base: &Path, uid: u32, notice: &Notice) -> Result<(), NotShown> {
    let path = socket_path(base, uid);
    let exchange = async {
        let mut stream = UnixStream::connect(&path)
            .await
            .map_err(|e| NotShown::NoAgent {
                detail: format!("uid {uid}: {}: {e}", path.display()),
            })?;
        let peer = sys::peer_uid(stream.as_fd()).map_err(|e| NotShown::Failed {
            detail: e.to_string(),
        })?;
        if peer != uid {
            return Err(NotShown::Failed {
                detail: format!(
                    "{} is served by uid {peer}, not by uid {uid}: not trusted",
                    path.display()
                ),
            });
        }
        let failed = |e: std::io::Error| NotShown::Failed {
            detail: e.to_string(),
        };
        stream
            .write_all(protocol::request_line(notice)?.as_bytes())
            .await
            .map_err(failed)?;
        let mut answer = String::new();
        BufReader::new(stream.take(MAX_LINE))
            .read_line(&mut answer)
            .await
            .map_err(failed)?;
        protocol::read_answer(&answer)
    };
    tokio::time::timeout(ANSWER_TIMEOUT, exchange)
        .await
        .unwrap_or(Err(NotShown::Timeout))
}

/// Sends `notice` to every agent listening under `base`.
pub async fn broadcast(base: &Path, notice: &Notice) -> Result<usize, NotShown> {
    let uids: Vec<u32> = std::fs::read_dir(base)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|uid| socket_path(base, *uid).exists())
        .collect();
    let mut shown = 0;
    let mut last = None;
    for uid in uids {
        match send(base, uid, notice).await {
            Ok(()) => shown += 1,
            Err(e) => {
                tracing::warn!("uid {uid} was not told: {e}");
                last = Some(e);
            }
        }
    }
    match (shown, last) {
        (0, Some(e)) => Err(e),
        (0, None) => Err(NotShown::NoAgent {
            detail: "no varco agent is running in any session".into(),
        }),
        (n, _) => Ok(n),
    }
}

/// Runs the agent of the current user until SIGTERM/SIGINT.
pub async fn serve(base: &Path, texts: Texts) -> Result<(), AgentError> {
    let uid = sys::current_uid();
    let path = socket_path(base, uid);
    let listen_error = |source| AgentError::Listen {
        endpoint: path.display().to_string(),
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
    let shutdown = sys::shutdown_signal();
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

/// Answers one connection, from root only: another program must not be
/// able to raise fake varco pop-ups.
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
        BufReader::new(read.take(MAX_LINE)).read_line(&mut line),
    )
    .await;
    if !matches!(read, Ok(Ok(n)) if n > 0) {
        return;
    }
    let reply = protocol::answer_line(&line, texts).await;
    if let Ok(mut text) = serde_json::to_string(&reply) {
        text.push('\n');
        let _ = write.write_all(text.as_bytes()).await;
    }
}
