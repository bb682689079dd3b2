//! The decision: may this process run now?
//!
//! Pure: the same facts, catalog, schedule, mode and instant always give
//! the same verdict. Everything that touches the system happens in the
//! callers, with the verdict as a plain value they log, show and enforce.
#![forbid(unsafe_code)]

use jiff::Timestamp;

use crate::catalog::{Catalog, Evidence, MatchedBy};
use crate::process::ProcessFacts;
use crate::schedule::{Mode, Opening, Schedule};

/// What happens to a remote tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Inside an approved window: runs, and is recorded.
    Allowed,
    /// Outside every window in block mode: its process tree is stopped.
    Blocked,
    /// Outside every window in alert mode: it runs, the operator is warned.
    Alerted,
}

impl Verdict {
    /// The word used in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::Blocked => "blocked",
            Verdict::Alerted => "alerted",
        }
    }
}

/// The window that admitted a tool, as recorded and shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmittingWindow {
    /// The window's id from the file.
    pub id: String,
    /// Who was announced to connect.
    pub technician: Option<String>,
    /// The IT company's ticket.
    pub ticket: Option<String>,
    /// This opening's bounds.
    pub opening: Opening,
}

/// A verdict on one remote-tool process, with everything needed to act on
/// it, record it and explain it.
#[must_use = "a decision that is not enforced lets the tool run"]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// What happens.
    pub verdict: Verdict,
    /// Catalog id of the tool.
    pub tool_id: String,
    /// Its display name.
    pub tool_name: String,
    /// How it was recognised.
    pub matched_by: MatchedBy,
    /// The window that admitted it (only for `Allowed`).
    pub window: Option<AdmittingWindow>,
    /// The mode in force.
    pub mode: Mode,
}

/// Decides on a process. `None` means it is not a remote-access tool and
/// varco has nothing to say about it.
pub fn decide(
    facts: &ProcessFacts,
    catalog: &Catalog,
    schedule: &Schedule,
    mode: Mode,
    now: Timestamp,
) -> Option<Decision> {
    decide_with(facts, &Evidence::default(), catalog, schedule, mode, now)
}

/// Decides on a process whose file's content was inspected at the edge
/// (`crate::identify`): a renamed tool is recognised by its `evidence`.
pub fn decide_with(
    facts: &ProcessFacts,
    evidence: &Evidence,
    catalog: &Catalog,
    schedule: &Schedule,
    mode: Mode,
    now: Timestamp,
) -> Option<Decision> {
    let found = catalog.identify_with(facts, evidence)?;
    let tool = found.tool;
    let admitted = schedule.open_for(&tool.id, now);
    let (verdict, window) = match admitted {
        Some((w, opening)) => (
            Verdict::Allowed,
            Some(AdmittingWindow {
                id: w.id.clone(),
                technician: w.technician.clone(),
                ticket: w.ticket.clone(),
                opening,
            }),
        ),
        None => match mode {
            Mode::Block => (Verdict::Blocked, None),
            Mode::Alert => (Verdict::Alerted, None),
        },
    };
    Some(Decision {
        verdict,
        tool_id: tool.id.clone(),
        tool_name: tool.name.clone(),
        matched_by: found.matched_by,
        window,
        mode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule;

    fn facts(exe: &str) -> ProcessFacts {
        ProcessFacts {
            pid: 42,
            parent_pid: Some(1),
            start_marker: 7,
            name: "x".into(),
            exe: Some(exe.into()),
            cmdline: vec![exe.into()],
            user: Some("operatore".into()),
        }
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn setup(text: &str) -> (Catalog, Schedule) {
        let catalog = Catalog::embedded().unwrap();
        let schedule = schedule::parse(text, &catalog).unwrap();
        (catalog, schedule)
    }

    const ANYDESK_WINDOW: &str = r#"
[[window]]
id = "INC-1"
tools = ["anydesk"]
start = 2025-11-26T14:00:00
end = 2025-11-26T16:00:00
technician = "Mario Rossi"
"#;

    #[test]
    fn allowed_inside_its_window_naming_it() {
        let (c, s) = setup(ANYDESK_WINDOW);
        // 14:30 in Rome (CET, UTC+1) is 13:30 UTC.
        let d = decide(
            &facts("/x/AnyDesk"),
            &c,
            &s,
            Mode::Block,
            at("2025-11-26T13:30:00Z"),
        )
        .unwrap();
        assert_eq!(d.verdict, Verdict::Allowed);
        let w = d.window.unwrap();
        assert_eq!(w.id, "INC-1");
        assert_eq!(w.technician.as_deref(), Some("Mario Rossi"));
    }

    #[test]
    fn blocked_outside_and_alerted_in_alert_mode() {
        let (c, s) = setup(ANYDESK_WINDOW);
        let later = at("2025-11-26T15:00:00Z"); // 16:00 Rome: the end is exclusive
        let d = decide(&facts("/x/AnyDesk.exe"), &c, &s, Mode::Block, later).unwrap();
        assert_eq!((d.verdict, d.window), (Verdict::Blocked, None));
        let d = decide(&facts("/x/AnyDesk.exe"), &c, &s, Mode::Alert, later).unwrap();
        assert_eq!(d.verdict, Verdict::Alerted);
    }

    #[test]
    fn window_for_another_tool_does_not_admit() {
        let (c, s) = setup(
            "[[window]]\nid = \"tv\"\ntools = [\"teamviewer\"]\nstart = 2025-11-26T14:00:00\nend = 2025-11-26T16:00:00\n",
        );
        let d = decide(
            &facts("/x/AnyDesk"),
            &c,
            &s,
            Mode::Block,
            at("2025-11-26T13:30:00Z"),
        )
        .unwrap();
        assert_eq!(d.verdict, Verdict::Blocked);
        let d = decide(
            &facts("/x/TeamViewer"),
            &c,
            &s,
            Mode::Block,
            at("2025-11-26T13:30:00Z"),
        )
        .unwrap();
        assert_eq!(d.verdict, Verdict::Allowed);
    }

    #[test]
    fn star_admits_any_tool() {
        let (c, s) = setup(
            "[[window]]\nid = \"all\"\ntools = [\"*\"]\nstart = 2025-11-26T14:00:00\nend = 2025-11-26T16:00:00\n",
        );
        let d = decide(
            &facts("/usr/bin/x11vnc"),
            &c,
            &s,
            Mode::Block,
            at("2025-11-26T13:30:00Z"),
        )
        .unwrap();
        assert_eq!(d.verdict, Verdict::Allowed);
    }

    #[test]
    fn ordinary_processes_get_no_decision() {
        let (c, s) = setup("");
        assert!(
            decide(
                &facts("/usr/bin/firefox"),
                &c,
                &s,
                Mode::Block,
                at("2025-11-26T13:30:00Z")
            )
            .is_none()
        );
    }

    #[test]
    fn renamed_tool_is_decided_on_its_evidence_and_says_how() {
        let (c, s) = setup(ANYDESK_WINDOW);
        let renamed = facts("/home/op/Scaricati/fattura.exe");
        let now = at("2025-11-26T15:30:00Z");
        assert!(decide(&renamed, &c, &s, Mode::Block, now).is_none());
        let evidence = Evidence {
            original_filename: Some("AnyDesk.exe".into()),
            ..Evidence::default()
        };
        let d = decide_with(&renamed, &evidence, &c, &s, Mode::Block, now).unwrap();
        assert_eq!(d.tool_id, "anydesk");
        assert_eq!(d.verdict, Verdict::Blocked);
        assert_eq!(d.matched_by, MatchedBy::PeOriginalFilename);
    }

    #[test]
    fn fail_closed_schedule_blocks_everything() {
        let c = Catalog::embedded().unwrap();
        let s = Schedule::fail_closed();
        let d = decide(
            &facts("/x/rustdesk"),
            &c,
            &s,
            Mode::Block,
            at("2025-11-26T13:30:00Z"),
        )
        .unwrap();
        assert_eq!(d.verdict, Verdict::Blocked);
    }
}
