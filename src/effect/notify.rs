//! Showing a message on the operator's desktop, in the session this
//! process runs in (a system service hands its notices to the session
//! agents instead: `crate::agent`).
//!
//! Notifications run in their own task: enforcement never waits for them.
//! Without a notification server (a headless machine, CI, a system service
//! with no session bus) the failure is recorded and enforcement goes on.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::messages::Message;

/// varco's AppUserModelID on Windows: toasts are shown as "varco", not as
/// PowerShell. `varco service install` registers it.
pub const APP_ID: &str = "it.varco.Agent";

/// Why the operator did not see a notice, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "not_notified", rename_all = "snake_case")]
pub enum NotShown {
    /// One for this tool was shown less than [`PER_TOOL_INTERVAL`] ago.
    #[error("rate limit: one notification per tool every {} s", PER_TOOL_INTERVAL.as_secs())]
    RateLimit,
    /// The windows file turns notes for admitted tools off.
    #[error("notes for admitted tools are off ([notify] allowed = false)")]
    AllowedNotesOff,
    /// Told in one message with the others: the panic button's
    /// confirmation names every tool it stopped.
    #[error("told in the panic button's confirmation, which names every tool stopped")]
    InSummary,
    /// The process's owner is not known, so neither is their session.
    #[error("the process's owner is not known, so neither is their session")]
    OwnerUnknown,
    /// No varco agent answers in the session(s) concerned.
    #[error("no varco agent is running in the user's session ({detail})")]
    NoAgent {
        /// Which session, and what failed.
        #[serde(rename = "not_notified_detail")]
        detail: String,
    },
    /// The session has no notification server (or it refused the notice).
    #[error("no notification server in the session ({detail})")]
    NoNotificationServer {
        /// What the notification library said.
        #[serde(rename = "not_notified_detail")]
        detail: String,
    },
    /// Showing it took longer than the enforcer waits.
    #[error("the notification did not complete in time")]
    Timeout,
    /// Anything else (an agent that refused or broke the protocol).
    #[error("{detail}")]
    Failed {
        /// What happened.
        #[serde(rename = "not_notified_detail")]
        detail: String,
    },
}

impl NotShown {
    /// The word the audit log's `not_notified` field holds.
    pub fn kind(&self) -> &'static str {
        match self {
            NotShown::RateLimit => "rate_limit",
            NotShown::AllowedNotesOff => "allowed_notes_off",
            NotShown::InSummary => "in_summary",
            NotShown::OwnerUnknown => "owner_unknown",
            NotShown::NoAgent { .. } => "no_agent",
            NotShown::NoNotificationServer { .. } => "no_notification_server",
            NotShown::Timeout => "timeout",
            NotShown::Failed { .. } => "failed",
        }
    }

    /// The technical detail, when there is one.
    pub fn detail(&self) -> Option<&str> {
        match self {
            NotShown::NoAgent { detail }
            | NotShown::NoNotificationServer { detail }
            | NotShown::Failed { detail } => Some(detail),
            _ => None,
        }
    }
}

/// At most one notification per tool in this interval: a tool restarted
/// in a loop (by a fraudster's script, or by its own watchdog) must not
/// bury the screen in pop-ups the operator can no longer read.
pub const PER_TOOL_INTERVAL: Duration = Duration::from_secs(60);

/// Decides which notifications are shown and counts those held back.
/// Pure: the caller passes the clock.
#[derive(Debug, Default)]
pub struct Throttle {
    tools: HashMap<String, Shown>,
}

#[derive(Debug)]
struct Shown {
    at: Instant,
    held_back: u32,
}

/// Whether to show a notification now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Show it; `held_back` notifications for this tool were not shown
    /// since the previous one.
    Show {
        /// How many were held back before this one.
        held_back: u32,
    },
    /// Do not show it: one for this tool was shown less than
    /// [`PER_TOOL_INTERVAL`] ago.
    HoldBack,
}

impl Throttle {
    /// Asks to notify about `tool` at `now`.
    pub fn admit(&mut self, tool: &str, now: Instant) -> Admission {
        match self.tools.get_mut(tool) {
            Some(s) if now.saturating_duration_since(s.at) < PER_TOOL_INTERVAL => {
                s.held_back += 1;
                Admission::HoldBack
            }
            Some(s) => {
                let held_back = std::mem::take(&mut s.held_back);
                s.at = now;
                Admission::Show { held_back }
            }
            None => {
                self.tools.insert(
                    tool.to_string(),
                    Shown {
                        at: now,
                        held_back: 0,
                    },
                );
                Admission::Show { held_back: 0 }
            }
        }
    }
}

/// How insistent a notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Stays until dismissed: a tool was blocked or is running unscheduled.
    Critical,
    /// A quiet note: a scheduled intervention started.
    Quiet,
}

/// Shows `message` in this session and reports whether a notification
/// server took it.
pub async fn deliver(message: &Message, level: Level) -> Result<(), NotShown> {
    platform::deliver(message, level)
        .await
        .map_err(|detail| NotShown::NoNotificationServer { detail })
}

#[cfg(all(unix, not(target_os = "macos")))]
mod platform {
    use notify_rust::{Notification, Timeout, Urgency};

    use super::Level;
    use crate::messages::Message;
    pub async fn deliver(message: &Message, level: Level) -> Result<(), String> {
        let mut n = Notification::new();
        n.appname("varco")
            .summary(&message.title)
            .body(&message.body);
        match level {
            Level::Critical => n.urgency(Urgency::Critical).timeout(Timeout::Never),
            Level::Quiet => n.urgency(Urgency::Low),
        };
        n.show_async().await.map(|_| ()).map_err(|e| e.to_string())
    }
}

#[cfg(target_os = "macos")]
mod platform {
    use notify_rust::Notification;

    use super::Level;
    use crate::messages::Message;
    pub async fn deliver(message: &Message, _level: Level) -> Result<(), String> {
        let (title, body) = (message.title.clone(), message.body.clone());
        tokio::task::spawn_blocking(move || {
            Notification::new()
                .appname("varco")
                .summary(&title)
                .body(&body)
                .show()
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

#[cfg(windows)]
mod platform {
    use super::Level;
    use crate::messages::Message;

    /// A WinRT toast in this session (the Windows service itself has no
    /// desktop: it hands its notices to the session agents).
    pub async fn deliver(message: &Message, level: Level) -> Result<(), String> {
        let (title, body) = (message.title.clone(), message.body.clone());
        tokio::task::spawn_blocking(move || super::toast(&title, &body, level))
            .await
            .map_err(|e| e.to_string())?
    }
}

/// Shows a WinRT toast under varco's AppUserModelID. Blocking: call it
/// from a plain thread or `spawn_blocking`.
#[cfg(windows)]
pub fn toast(title: &str, body: &str, level: Level) -> Result<(), String> {
    use notify_rust::{Notification, Timeout, Urgency};
    let mut n = Notification::new();
    n.app_id(APP_ID).summary(title).body(body);
    if level == Level::Critical {
        n.urgency(Urgency::Critical).timeout(Timeout::Never);
    }
    n.show().map(|_| ()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_notification_per_tool_per_minute_and_the_rest_counted() {
        let mut t = Throttle::default();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        assert_eq!(t.admit("anydesk", t0), Admission::Show { held_back: 0 });
        assert_eq!(t.admit("anydesk", t0 + s(1)), Admission::HoldBack);
        assert_eq!(t.admit("anydesk", t0 + s(59)), Admission::HoldBack);
        assert_eq!(
            t.admit("teamviewer", t0 + s(2)),
            Admission::Show { held_back: 0 },
            "another tool is not held back"
        );
        assert_eq!(
            t.admit("anydesk", t0 + s(60)),
            Admission::Show { held_back: 2 }
        );
        assert_eq!(t.admit("anydesk", t0 + s(61)), Admission::HoldBack);
        assert_eq!(
            t.admit("anydesk", t0 + s(130)),
            Admission::Show { held_back: 1 }
        );
    }
}
