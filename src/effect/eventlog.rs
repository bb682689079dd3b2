//! Audit records in the Windows Event Log (Application log, source
//! `varco`), where a Windows IT department and its monitoring look first.
//!
//! Each entry carries the same JSON line as the audit file, after a
//! one-line summary, so nothing is lost and log collectors can parse it.
//! Event ids are stable per event kind so alerts can filter on them.

use crate::effect::audit::{AuditSink, Event};

/// The event source name (install.ps1 registers it).
pub const SOURCE: &str = "varco";

/// Stable Event Log id of each audit event.
pub fn event_id(event: Event) -> u32 {
    match event {
        Event::Allowed => 1001,
        Event::Blocked => 1002,
        Event::Alerted => 1003,
        Event::ConfigError => 1004,
        Event::Started => 1005,
        Event::Stopped => 1006,
        Event::ConfigReloaded => 1007,
        Event::Notice => 1008,
        Event::Fingerprint => 1009,
        Event::ClockJump => 1010,
        Event::FetchFailed => 1011,
        Event::FetchRecovered => 1012,
        Event::ChainHead => 1013,
        Event::IdentifyError => 1014,
        Event::WindowEnding => 1015,
        Event::Panic => 1016,
        Event::Resumed => 1017,
        Event::UnlistedPeer => 1018,
        Event::PeerUnverifiable => 1019,
        Event::Exited => 1020,
        Event::EventsLost => 1021,
    }
}

/// The extra audit sinks of this platform: the Event Log on Windows,
/// none elsewhere. A failure to open it is logged; the file log goes on.
pub fn sinks() -> Vec<Box<dyn AuditSink>> {
    #[cfg(windows)]
    {
        match crate::sys::EventLog::open(SOURCE) {
            Ok(log) => vec![Box::new(windows::EventLogSink(log)) as Box<dyn AuditSink>],
            Err(e) => {
                tracing::error!(
                    "cannot open the Windows Event Log (source {SOURCE}): {e}; records go to the audit file only"
                );
                Vec::new()
            }
        }
    }
    #[cfg(not(windows))]
    {
        Vec::new()
    }
}

#[cfg(windows)]
mod windows {
    use std::io;

    use super::event_id;
    use crate::effect::audit::{AuditSink, Event, Record};
    use crate::sys::{EventLog, Severity};

    pub struct EventLogSink(pub EventLog);

    impl AuditSink for EventLogSink {
        fn write(&mut self, record: &Record, line: &str) -> io::Result<()> {
            let severity = match record.event {
                // The Event Log has no "alert": its highest level is error.
                Event::Panic | Event::UnlistedPeer | Event::ConfigError | Event::IdentifyError => {
                    Severity::Error
                }
                Event::Blocked
                | Event::Alerted
                | Event::ClockJump
                | Event::FetchFailed
                | Event::PeerUnverifiable
                | Event::EventsLost => Severity::Warning,
                Event::Allowed
                | Event::Started
                | Event::Stopped
                | Event::ConfigReloaded
                | Event::Notice
                | Event::Fingerprint
                | Event::FetchRecovered
                | Event::ChainHead
                | Event::WindowEnding
                | Event::Resumed
                | Event::Exited => Severity::Information,
            };
            let text = format!("{}\n{line}", super::summary(record));
            self.0.report(severity, event_id(record.event), &text)
        }

        fn name(&self) -> String {
            "the Windows Event Log".into()
        }
    }
}

/// One line a person reads first in Event Viewer.
pub fn summary(r: &crate::effect::audit::Record) -> String {
    let tool = r.tool_name.as_deref().or(r.tool.as_deref());
    match (r.event, tool) {
        (Event::Allowed, Some(t)) => format!(
            "varco: {t} allowed by window {}",
            r.window.as_deref().unwrap_or("?")
        ),
        (Event::Blocked, Some(t)) => format!(
            "varco: {t} outside every window — {}",
            r.outcome
                .as_ref()
                .map_or_else(|| "blocked".to_string(), ToString::to_string)
        ),
        (Event::Alerted, Some(t)) => {
            format!("varco: {t} running outside every window (alert mode)")
        }
        (Event::ConfigError, _) => format!(
            "varco: problem with the windows file — {}",
            r.reason.as_deref().unwrap_or("")
        ),
        (Event::Started, _) => format!(
            "varco started ({})",
            r.source.map_or("unknown source", |s| s.as_str())
        ),
        (Event::Stopped, _) => "varco stopped".to_string(),
        (Event::IdentifyError, _) => format!(
            "varco: a program's content could not be judged — {}",
            r.reason.as_deref().unwrap_or("")
        ),
        (Event::ConfigReloaded, _) => format!(
            "varco: windows file reloaded ({})",
            r.config.as_deref().unwrap_or("")
        ),
        (Event::Notice, _) => {
            let about = tool.unwrap_or("the windows file");
            match (&r.notified, &r.not_notified) {
                (Some(true), _) => format!("varco: the operator was told about {about}"),
                (_, Some(why)) => format!("varco: the operator was NOT told about {about}: {why}"),
                _ => format!("varco: notice about {about}"),
            }
        }
        (Event::Fingerprint, _) => match (&r.exe_sha256, &r.not_hashed) {
            (Some(h), _) => format!("varco: SHA-256 of {}: {h}", r.exe.as_deref().unwrap_or("?")),
            (_, Some(why)) => format!("varco: {} {why}", r.exe.as_deref().unwrap_or("?")),
            _ => "varco: fingerprint".to_string(),
        },
        (Event::ClockJump, _) => format!(
            "varco: the system clock jumped by {} ms",
            r.clock_difference_ms.unwrap_or(0)
        ),
        (Event::FetchFailed | Event::FetchRecovered, _) => {
            format!("varco: {}", r.reason.as_deref().unwrap_or(""))
        }
        (Event::ChainHead, _) => format!(
            "varco audit chain head: line {} sha256 {}",
            r.chain_lines.unwrap_or_default(),
            r.chain_head.as_deref().unwrap_or("")
        ),
        (Event::WindowEnding, _) => format!(
            "varco: window {} ends soon; the operator was warned",
            r.window.as_deref().unwrap_or("?")
        ),
        (Event::Panic, _) => format!(
            "varco: PANIC button pressed by {} — every remote tool stopped, windows suspended",
            r.who().unwrap_or_else(|| "an unknown user".into())
        ),
        (Event::Resumed, _) => format!(
            "varco: windows resumed ({})",
            r.reason.as_deref().unwrap_or("")
        ),
        (Event::UnlistedPeer, t) => format!(
            "varco: {} stopped — unlisted peer {} connected",
            t.unwrap_or("a remote tool"),
            r.peer_id.as_deref().unwrap_or("?")
        ),
        (Event::PeerUnverifiable, t) => format!(
            "varco: who connects to {} cannot be checked (no readable log)",
            t.unwrap_or("a remote tool")
        ),
        (Event::Exited, Some(t)) => format!("varco: {t} exited (end of its session)"),
        (Event::EventsLost, _) => format!(
            "varco: {} lost process events; every running process decided again — {}",
            r.source.map_or("a source", |s| s.as_str()),
            r.reason.as_deref().unwrap_or("")
        ),
        (event, None) => format!("varco: {event:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effect::audit::Record;
    use crate::policy::schedule::Mode;

    #[test]
    fn a_blocked_record_reads_plainly_and_ids_are_distinct() {
        let tz = jiff::tz::TimeZone::UTC;
        let mut r = Record::new(
            Event::Blocked,
            jiff::Timestamp::UNIX_EPOCH,
            &tz,
            Mode::Block,
        );
        r.tool_name = Some("AnyDesk".into());
        r.outcome = Some(crate::effect::stop::Outcome::Stopped { processes: 2 });
        assert_eq!(
            summary(&r),
            "varco: AnyDesk outside every window — stopped 2 process(es)"
        );
        let ids: std::collections::HashSet<u32> = ALL.into_iter().map(event_id).collect();
        assert_eq!(ids.len(), ALL.len());
    }

    /// IT filters and forwards on these ids: the table in the docs is the
    /// one the code writes, and names every event.
    #[test]
    fn the_ids_in_the_docs_are_the_ids_written() {
        let doc = include_str!("../../docs/audit-log.md");
        let documented: Vec<(u32, String)> = doc
            .lines()
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                let id = cells.get(1)?.parse().ok()?;
                let name = cells.get(2)?.strip_prefix('`')?.strip_suffix('`')?;
                Some((id, name.to_string()))
            })
            .collect();
        let written: Vec<(u32, String)> = ALL
            .into_iter()
            .map(|e| (event_id(e), e.as_str().to_string()))
            .collect();
        let mut documented_sorted = documented.clone();
        documented_sorted.sort();
        let mut written_sorted = written;
        written_sorted.sort();
        assert_eq!(
            documented_sorted, written_sorted,
            "docs/audit-log.md, Windows Event Log"
        );
    }

    const ALL: [Event; 21] = [
        Event::Allowed,
        Event::Blocked,
        Event::Alerted,
        Event::ConfigError,
        Event::Started,
        Event::Stopped,
        Event::ConfigReloaded,
        Event::Notice,
        Event::Fingerprint,
        Event::ClockJump,
        Event::FetchFailed,
        Event::FetchRecovered,
        Event::ChainHead,
        Event::IdentifyError,
        Event::WindowEnding,
        Event::Panic,
        Event::Resumed,
        Event::UnlistedPeer,
        Event::PeerUnverifiable,
        Event::Exited,
        Event::EventsLost,
    ];
}
