//! The control socket on Linux: a Unix socket any local user may connect
//! to, in a folder only root (or the daemon's own user) can change; the
//! caller is whoever the kernel says (`SO_PEERCRED`).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc::Sender;

use super::{Answer, Caller, ControlError, Incoming, MAX_LINE, Request, TIMEOUT, admit};
use crate::sys;

/// Creates the socket at `path` (and its folder, mode 0755, if missing)
/// and serves callers until the daemon stops, handing each request to
/// `requests`. Refuses a folder others could change: whoever can replace
/// the socket can make `varco panic` talk to an impostor.
pub fn listen(path: &Path, requests: Sender<Incoming>) -> Result<(), ControlError> {
    let listen_error = |source| ControlError::Listen {
        endpoint: path.display().to_string(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(listen_error)?;
    let meta = std::fs::metadata(dir).map_err(listen_error)?;
    let me = sys::current_uid();
    if meta.uid() != me || meta.mode() & 0o022 != 0 {
        return Err(listen_error(std::io::Error::other(format!(
            "{} must belong to uid {me} and be writable by it alone (now uid {}, mode {:o}): anyone else could replace the socket",
            dir.display(),
            meta.uid(),
            meta.mode() & 0o7777
        ))));
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).map_err(listen_error)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)).map_err(listen_error)?;
    tracing::info!("control socket {}", path.display());
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let requests = requests.clone();
                    tokio::spawn(async move { serve(stream, requests).await });
                }
                Err(e) => {
                    tracing::warn!("control socket: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(())
}

/// Answers one caller.
async fn serve(stream: UnixStream, requests: Sender<Incoming>) {
    let caller = match sys::peer_uid(stream.as_fd()) {
        Ok(uid) => Caller {
            uid: Some(uid),
            user: user_name(uid),
            admin: uid == 0,
        },
        Err(e) => {
            tracing::warn!("control socket: cannot tell who connected ({e}); refused");
            return;
        }
    };
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let read = tokio::time::timeout(
        TIMEOUT,
        tokio::io::BufReader::new(read.take(MAX_LINE)).read_line(&mut line),
    )
    .await;
    if !matches!(read, Ok(Ok(n)) if n > 0) {
        return;
    }
    let answer = match admit(&line, &caller) {
        Err(refusal) => {
            tracing::warn!(
                "control socket: refused a request from {}: {line:?}",
                describe(&caller)
            );
            refusal
        }
        Ok(request) => {
            let (reply, answer) = tokio::sync::oneshot::channel();
            let sent = requests
                .send(Incoming {
                    request,
                    caller,
                    reply,
                })
                .await;
            match (sent, tokio::time::timeout(TIMEOUT, answer).await) {
                (Ok(()), Ok(Ok(a))) => a,
                _ => Answer::Refused {
                    why: "the daemon did not answer in time".into(),
                },
            }
        }
    };
    if let Ok(mut text) = serde_json::to_string(&answer) {
        text.push('\n');
        let _ = write.write_all(text.as_bytes()).await;
    }
}

/// The client: sends `request` to the socket at `path` and reads the
/// answer. Talks only to a daemon run by root or by the caller: a socket
/// served by anyone else is an impostor.
pub fn ask(path: &Path, request: Request) -> Result<Answer, ControlError> {
    let endpoint = path.display().to_string();
    let mut stream =
        std::os::unix::net::UnixStream::connect(path).map_err(|source| ControlError::Connect {
            endpoint: endpoint.clone(),
            source,
        })?;
    let server =
        sys::peer_uid(stream.as_fd()).map_err(|e| ControlError::Exchange(e.to_string()))?;
    let me = sys::current_uid();
    if server != 0 && server != me {
        return Err(ControlError::NotTrusted(format!(
            "{endpoint} is served by uid {server}, neither root nor you: not varco, refused"
        )));
    }
    let broken = |e: std::io::Error| ControlError::Exchange(e.to_string());
    stream.set_read_timeout(Some(TIMEOUT)).map_err(broken)?;
    let mut line =
        serde_json::to_string(&request).map_err(|e| ControlError::Exchange(e.to_string()))?;
    line.push('\n');
    stream.write_all(line.as_bytes()).map_err(broken)?;
    let mut answer = String::new();
    BufReader::new((&stream).take(MAX_LINE))
        .read_line(&mut answer)
        .map_err(broken)?;
    serde_json::from_str(&answer)
        .map_err(|e| ControlError::Exchange(format!("unreadable answer ({e}): {answer:?}")))
}

/// The account name of `uid`, from the system's user list.
fn user_name(uid: u32) -> Option<String> {
    let users = sysinfo::Users::new_with_refreshed_list().ok()?;
    users
        .iter()
        .find(|u| **u.id() == uid)
        .map(|u| u.name().to_string())
}

fn describe(c: &Caller) -> String {
    match (&c.user, c.uid) {
        (Some(u), Some(uid)) => format!("{u} (uid {uid})"),
        (None, Some(uid)) => format!("uid {uid}"),
        (Some(u), None) => u.clone(),
        (None, None) => "an unknown caller".into(),
    }
}
