//! The one exchange between the enforcer and an agent, whatever carries
//! it: the enforcer sends a [`Notice`] as one JSON line, the agent answers
//! an [`Answer`] as one JSON line.

use serde::{Deserialize, Serialize};

use crate::effect::notify::{self, Level, NotShown};
use crate::messages::{Notice, Texts};

/// The longest line either side accepts, so a misbehaving peer cannot grow
/// memory.
pub const MAX_LINE: u64 = 64 * 1024;

/// How long the enforcer waits for an agent's answer: a stuck agent costs
/// that much, once, and never delays enforcement.
pub const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// What the agent answers for each notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// Whether the notice is on screen.
    pub shown: bool,
    /// Why not, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<NotShown>,
}

impl Answer {
    pub fn of(result: Result<(), NotShown>) -> Answer {
        match result {
            Ok(()) => Answer {
                shown: true,
                why: None,
            },
            Err(why) => Answer {
                shown: false,
                why: Some(why),
            },
        }
    }

    pub fn into_result(self) -> Result<(), NotShown> {
        match (self.shown, self.why) {
            (true, _) => Ok(()),
            (false, Some(why)) => Err(why),
            (false, None) => Err(NotShown::Failed {
                detail: "the agent did not say why it could not show it".into(),
            }),
        }
    }
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Its endpoint (socket, pipe) could not be created.
    #[error(
        "cannot listen on {endpoint}: {source} — is another varco agent running for this user?"
    )]
    Listen {
        /// The socket path or pipe name.
        endpoint: String,
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

/// The agent's side of one exchange: reads a notice, words it in the
/// session's language, shows it, and says whether it could.
pub async fn answer_line(line: &str, texts: &Texts) -> Answer {
    let shown = match serde_json::from_str::<Notice>(line) {
        Ok(notice) => {
            let message = texts.render(&notice);
            tracing::info!("notice from the service: {}", message.title);
            let level = if notice.is_critical() {
                Level::Critical
            } else {
                Level::Quiet
            };
            notify::deliver(&message, level).await
        }
        Err(e) => Err(NotShown::Failed {
            detail: format!("not a varco notice ({e})"),
        }),
    };
    if let Err(why) = &shown {
        tracing::warn!("the notice could not be shown: {why}");
    }
    Answer::of(shown)
}

/// The enforcer's side: the line to send for `notice`.
pub fn request_line(notice: &Notice) -> Result<String, NotShown> {
    let mut line = serde_json::to_string(notice).map_err(|e| NotShown::Failed {
        detail: e.to_string(),
    })?;
    line.push('\n');
    Ok(line)
}

/// The enforcer's side: what the agent's answer line means.
pub fn read_answer(line: &str) -> Result<(), NotShown> {
    if line.trim().is_empty() {
        return Err(NotShown::Failed {
            detail: "the agent closed the connection without answering".into(),
        });
    }
    serde_json::from_str::<Answer>(line)
        .map_err(|e| NotShown::Failed {
            detail: format!("unreadable answer from the agent ({e})"),
        })?
        .into_result()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::NoticeKind;

    #[test]
    fn a_notice_and_its_answer_each_fit_one_line_and_read_back() {
        let notice = Notice {
            reason: Some("riga 1\nriga 2".into()),
            ..Notice::test()
        };
        let line = request_line(&notice).unwrap();
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        let back: Notice = serde_json::from_str(&line).unwrap();
        assert_eq!(back, notice);
        assert_eq!(back.kind, NoticeKind::Test);

        let refused = Answer::of(Err(NotShown::NoNotificationServer {
            detail: "0x80040154".into(),
        }));
        let text = serde_json::to_string(&refused).unwrap();
        assert!(!text.contains('\n'));
        assert_eq!(
            read_answer(&text),
            Err(NotShown::NoNotificationServer {
                detail: "0x80040154".into()
            })
        );
        let shown = serde_json::to_string(&Answer::of(Ok(()))).unwrap();
        assert_eq!(read_answer(&shown), Ok(()));
        assert!(matches!(read_answer(""), Err(NotShown::Failed { .. })));
        assert!(matches!(read_answer("shown"), Err(NotShown::Failed { .. })));
    }
}
