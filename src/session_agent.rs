//! The Windows session agent (`varco agent`) and the service's side of
//! the named pipe to it.
//!
//! A service runs in session 0, which has no desktop: it cannot show a
//! toast. Each logon starts `varco agent` (HKLM Run key, set by `varco
//! service install`), which listens on `\\.\pipe\varco-agent-<session>`
//! (access: SYSTEM and the session's user only; see `sys::windows::pipe`)
//! and shows what the service sends as a toast under varco's own
//! AppUserModelID.
//!
//! The exchange is one JSON line each way: the service sends a
//! [`Notice`], the agent answers `shown` or `not shown: <why>`. This is a
//! small transport on purpose: whatever richer notice type the session
//! agent grows, [`send_line`] and [`serve_lines`] carry it unchanged.

use serde::{Deserialize, Serialize};

use crate::messages::Message;
use crate::notify::Level;

/// varco's AppUserModelID: toasts are shown as "varco", not as
/// PowerShell. `varco service install` registers it.
pub const APP_ID: &str = "it.varco.Agent";

/// What the service asks an agent to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// Title line.
    pub title: String,
    /// Body text.
    pub body: String,
    /// Stays on screen until dismissed.
    pub critical: bool,
}

impl Notice {
    /// The notice for `message` at `level`.
    pub fn new(message: &Message, level: Level) -> Notice {
        Notice {
            title: message.title.clone(),
            body: message.body.clone(),
            critical: level == Level::Critical,
        }
    }
}

/// The agent's answer when it showed a notice.
pub const SHOWN: &str = "shown";

#[cfg(windows)]
pub use windows::{broadcast, send_line, serve, serve_lines, test_notice};

#[cfg(windows)]
mod windows {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::time::Duration;

    use super::{Notice, SHOWN};
    use crate::notify::{self, Level};
    use crate::sys;

    /// Longest line accepted, so a misbehaving peer cannot grow memory.
    const MAX_LINE: u64 = 64 * 1024;

    /// Sends one line to the agent of `session` and returns its answer.
    pub fn send_line(session: u32, line: &str) -> Result<String, String> {
        let mut pipe = sys::connect_pipe(session)
            .map_err(|e| format!("no varco agent in session {session} ({e})"))?;
        pipe.write_all(format!("{line}\n").as_bytes())
            .map_err(|e| format!("session {session}: {e}"))?;
        let mut answer = String::new();
        BufReader::new(pipe.take(MAX_LINE))
            .read_line(&mut answer)
            .map_err(|e| format!("session {session}: {e}"))?;
        Ok(answer.trim_end().to_string())
    }

    /// How long the service waits for an agent's answer.
    const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

    /// [`send_line`] with a deadline: a stuck agent costs one parked
    /// thread, never the notifications of the other sessions.
    fn send_line_within(session: u32, line: &str, timeout: Duration) -> Result<String, String> {
        let (tx, rx) = std::sync::mpsc::channel();
        let line = line.to_string();
        std::thread::Builder::new()
            .name(format!("varco-agent-{session}"))
            .spawn(move || {
                let _ = tx.send(send_line(session, &line));
            })
            .map_err(|e| e.to_string())?;
        rx.recv_timeout(timeout).unwrap_or_else(|_| {
            Err(format!(
                "session {session}: the agent did not answer within {timeout:?}"
            ))
        })
    }

    /// Sends `notice` to the agent of every session; returns how many
    /// showed it, or why none did.
    pub fn broadcast(notice: &Notice) -> Result<usize, String> {
        let line = serde_json::to_string(notice).map_err(|e| e.to_string())?;
        let mut shown = 0;
        let mut failures = Vec::new();
        for session in sys::sessions() {
            match send_line_within(session, &line, ANSWER_TIMEOUT) {
                Ok(a) if a == SHOWN => shown += 1,
                Ok(a) => failures.push(format!("session {session}: {a}")),
                Err(e) => failures.push(e),
            }
        }
        if shown == 0 {
            Err(if failures.is_empty() {
                "no user session is open".to_string()
            } else {
                failures.join("; ")
            })
        } else {
            Ok(shown)
        }
    }

    /// Sends a test notice to this session's agent and returns its answer.
    pub fn test_notice() -> Result<String, String> {
        let notice = Notice {
            title: "varco: prova di notifica".into(),
            body: "Se leggi questo messaggio, l'agente di varco funziona.".into(),
            critical: false,
        };
        let session = sys::current_session().map_err(|e| e.to_string())?;
        let line = serde_json::to_string(&notice).map_err(|e| e.to_string())?;
        send_line(session, &line)
    }

    /// Listens on this session's pipe and answers each line with
    /// `handle(line)`, one client at a time, until the pipe fails.
    pub fn serve_lines(mut handle: impl FnMut(&str) -> String) -> std::io::Result<()> {
        let mut listener = sys::PipeListener::create()?;
        tracing::info!(
            "varco agent listening on {}",
            sys::pipe_name(sys::current_session()?)
        );
        loop {
            let mut conn = listener.accept()?;
            let mut line = String::new();
            let read = BufReader::new((&mut conn).take(MAX_LINE)).read_line(&mut line);
            let answer = match read {
                Ok(_) => handle(line.trim_end()),
                Err(e) => format!("not shown: {e}"),
            };
            if let Err(e) = conn.write_all(format!("{answer}\n").as_bytes()) {
                tracing::warn!("could not answer the service: {e}");
            }
        }
    }

    /// `varco agent`: shows each notice the service sends as a toast.
    pub fn serve() -> std::io::Result<()> {
        // Started at logon, the agent must not leave a console window on
        // the operator's screen.
        sys::drop_own_console();
        serve_lines(|line| match serde_json::from_str::<Notice>(line) {
            Ok(n) => {
                tracing::info!("notice from the service: {}", n.title);
                let level = if n.critical {
                    Level::Critical
                } else {
                    Level::Quiet
                };
                match notify::toast(&n.title, &n.body, level) {
                    Ok(()) => SHOWN.to_string(),
                    Err(e) => {
                        tracing::warn!("the toast could not be shown: {e}");
                        format!("not shown: {e}")
                    }
                }
            }
            Err(e) => format!("not shown: not a varco notice ({e})"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_is_one_json_line() {
        let m = Message {
            title: "AnyDesk bloccato".into(),
            body: "riga 1\nriga 2".into(),
        };
        let line = serde_json::to_string(&Notice::new(&m, Level::Critical)).unwrap();
        assert!(!line.contains('\n'), "{line}");
        let back: Notice = serde_json::from_str(&line).unwrap();
        assert!(back.critical);
        assert_eq!(back.body, "riga 1\nriga 2");
    }
}
