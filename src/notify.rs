//! Showing a message on the operator's desktop.
//!
//! Notifications run in their own task: enforcement never waits for them.
//! Without a notification server (a headless machine, CI, a system service
//! with no session bus) the failure is logged and enforcement goes on.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::messages::Message;

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

/// Shows `message` and reports whether a notification server took it.
pub async fn deliver(message: &Message, level: Level) -> Result<(), String> {
    platform::deliver(message, level).await
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
    use crate::session_agent::{self, Notice};

    /// A service (LocalSystem, session 0) has no desktop: the agents in
    /// the user sessions show the notice. Anything else shows a toast.
    pub async fn deliver(message: &Message, level: Level) -> Result<(), String> {
        let (title, body) = (message.title.clone(), message.body.clone());
        let as_service = crate::sys::is_local_system();
        tokio::task::spawn_blocking(move || {
            if as_service {
                let notice = Notice {
                    title,
                    body,
                    critical: level == Level::Critical,
                };
                session_agent::broadcast(&notice).map(|_| ())
            } else {
                super::toast(&title, &body, level)
            }
        })
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
    n.app_id(crate::session_agent::APP_ID)
        .summary(title)
        .body(body);
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
