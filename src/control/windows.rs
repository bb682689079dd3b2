//! The control pipe on Windows: `\\.\pipe\varco-control`, created by the
//! service as the pipe's first instance (nobody can have squatted the name
//! once the service runs) with an access list admitting SYSTEM,
//! Administrators and interactive users (read and write), no remote
//! clients. The caller is identified by impersonating them: their SID, and
//! whether they are an Administrator with an elevated token.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use tokio::sync::mpsc::Sender;

use super::{Answer, Caller, ControlError, Incoming, MAX_LINE, Request, admit};
use crate::sys;

/// Who may open the pipe: SYSTEM and Administrators fully, interactive
/// users (IU: whoever sits at a desktop session) to read and write.
const SDDL: &str = "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GRGW;;;IU)";

/// Creates the pipe and serves callers on a thread of its own, one at a
/// time, handing each request to `requests`.
pub fn listen(endpoint: &Path, requests: Sender<Incoming>) -> Result<(), ControlError> {
    let name = endpoint.to_string_lossy().into_owned();
    let listen_error = |source| ControlError::Listen {
        endpoint: name.clone(),
        source,
    };
    // The pipe's handles stay on the thread that serves them.
    let (created, outcome) = std::sync::mpsc::channel();
    let pipe = name.clone();
    std::thread::Builder::new()
        .name("varco-control".into())
        .spawn(move || {
            let mut listener = match sys::PipeListener::create_named(&pipe, SDDL.into()) {
                Ok(l) => {
                    let _ = created.send(Ok(()));
                    l
                }
                Err(e) => {
                    let _ = created.send(Err(e));
                    return;
                }
            };
            loop {
                match listener.accept() {
                    Ok(conn) => serve(conn, &requests),
                    Err(e) => {
                        tracing::warn!("control pipe: {e}");
                        std::thread::sleep(std::time::Duration::from_millis(200));
                    }
                }
            }
        })
        .map_err(listen_error)?;
    match outcome.recv() {
        Ok(Ok(())) => {
            tracing::info!("control pipe {name}");
            Ok(())
        }
        Ok(Err(e)) => Err(listen_error(e)),
        Err(_) => Err(listen_error(std::io::Error::other(
            "the control thread stopped",
        ))),
    }
}

fn serve(mut conn: std::fs::File, requests: &Sender<Incoming>) {
    let mut line = String::new();
    if BufReader::new((&mut conn).take(MAX_LINE))
        .read_line(&mut line)
        .is_err()
    {
        return;
    }
    let answer = match sys::pipe_client(&conn) {
        Err(e) => Answer::Refused {
            why: format!("cannot tell who you are ({e}); refused"),
        },
        Ok((sid, admin)) => {
            let caller = Caller {
                uid: None,
                user: Some(sid),
                admin,
            };
            match admit(&line, &caller) {
                Err(refusal) => refusal,
                Ok(request) => {
                    let (reply, answer) = tokio::sync::oneshot::channel();
                    match requests.blocking_send(Incoming {
                        request,
                        caller,
                        reply,
                    }) {
                        Ok(()) => answer.blocking_recv().unwrap_or(Answer::Refused {
                            why: "the daemon did not answer".into(),
                        }),
                        Err(_) => Answer::Refused {
                            why: "the daemon is stopping".into(),
                        },
                    }
                }
            }
        }
    };
    if let Ok(text) = serde_json::to_string(&answer) {
        let _ = conn.write_all(format!("{text}\n").as_bytes());
    }
}

/// The client: sends `request` through the pipe and reads the answer.
pub fn ask(endpoint: &Path, request: Request) -> Result<Answer, ControlError> {
    let name = endpoint.to_string_lossy().into_owned();
    let mut pipe = sys::connect_control(&name).map_err(|source| ControlError::Connect {
        endpoint: name.clone(),
        source,
    })?;
    let broken = |e: std::io::Error| ControlError::Exchange(e.to_string());
    let line =
        serde_json::to_string(&request).map_err(|e| ControlError::Exchange(e.to_string()))?;
    pipe.write_all(format!("{line}\n").as_bytes())
        .map_err(broken)?;
    let mut answer = String::new();
    BufReader::new((&mut pipe).take(MAX_LINE))
        .read_line(&mut answer)
        .map_err(broken)?;
    serde_json::from_str(&answer)
        .map_err(|e| ControlError::Exchange(format!("unreadable answer ({e}): {answer:?}")))
}
