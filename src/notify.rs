//! Showing a message on the operator's desktop.
//!
//! Notifications run in their own task: enforcement never waits for them.
//! Without a notification server (a headless machine, CI, a system service
//! with no session bus) the failure is logged and enforcement goes on.

use crate::messages::Message;

/// How insistent a notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Stays until dismissed: a tool was blocked or is running unscheduled.
    Critical,
    /// A quiet note: a scheduled intervention started.
    Quiet,
}

/// Shows `message` without waiting for it; a failure is logged.
pub fn show(message: Message, level: Level) {
    tokio::spawn(async move {
        if let Err(e) = deliver(&message, level).await {
            tracing::warn!(
                "the operator could not be notified ({e}); enforcement goes on. Message was: {}",
                message.title
            );
        }
    });
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
