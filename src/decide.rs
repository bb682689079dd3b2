//! The decision: may this process run now?
//!
//! Pure: the same facts, catalog, schedule, mode and instant always give
//! the same verdict. Everything that touches the system happens in the
//! callers, with the verdict as a plain value they log, show and enforce.
#![forbid(unsafe_code)]

use jiff::Timestamp;

use crate::policy::catalog::{Identification, MatchedBy};
use crate::policy::schedule::{Mode, Opening, Schedule};

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

/// Decides whether a process identified as a remote tool (`found`) may run
/// at `now` under `schedule`, and what happens to it otherwise (`mode`).
///
/// Identification comes first and is asked once, at the edge
/// (`crate::policy::identify`): this function never reads the process or
/// its file, so the same inputs always give the same verdict.
pub fn decide(
    found: &Identification<'_>,
    schedule: &Schedule,
    mode: Mode,
    now: Timestamp,
) -> Decision {
    let tool = found.tool;
    let (verdict, window) = match schedule.open_for(&tool.id, now) {
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
    Decision {
        verdict,
        tool_id: tool.id.clone(),
        tool_name: tool.name.clone(),
        matched_by: found.matched_by,
        window,
        mode,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::ProcessFacts;
    use crate::policy::catalog::{Catalog, Evidence};
    use crate::policy::schedule;

    fn facts(exe: &str) -> ProcessFacts {
        ProcessFacts {
            exe: Some(exe.into()),
            cmdline: vec![exe.into()],
            ..ProcessFacts::test("x")
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

    /// Identification by name, then the decision: the order every source
    /// follows.
    fn judge(c: &Catalog, s: &Schedule, exe: &str, mode: Mode, now: &str) -> Option<Decision> {
        c.identify(&facts(exe))
            .map(|found| decide(&found, s, mode, at(now)))
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
        let d = judge(&c, &s, "/x/AnyDesk", Mode::Block, "2025-11-26T13:30:00Z").unwrap();
        assert_eq!(d.verdict, Verdict::Allowed);
        let w = d.window.unwrap();
        assert_eq!(w.id, "INC-1");
        assert_eq!(w.technician.as_deref(), Some("Mario Rossi"));
    }

    #[test]
    fn blocked_outside_and_alerted_in_alert_mode() {
        let (c, s) = setup(ANYDESK_WINDOW);
        let later = "2025-11-26T15:00:00Z"; // 16:00 Rome: the end is exclusive
        let d = judge(&c, &s, "/x/AnyDesk.exe", Mode::Block, later).unwrap();
        assert_eq!((d.verdict, d.window), (Verdict::Blocked, None));
        let d = judge(&c, &s, "/x/AnyDesk.exe", Mode::Alert, later).unwrap();
        assert_eq!(d.verdict, Verdict::Alerted);
    }

    #[test]
    fn window_for_another_tool_does_not_admit() {
        let (c, s) = setup(
            "[[window]]\nid = \"tv\"\ntools = [\"teamviewer\"]\nstart = 2025-11-26T14:00:00\nend = 2025-11-26T16:00:00\n",
        );
        let now = "2025-11-26T13:30:00Z";
        let d = judge(&c, &s, "/x/AnyDesk", Mode::Block, now).unwrap();
        assert_eq!(d.verdict, Verdict::Blocked);
        let d = judge(&c, &s, "/x/TeamViewer", Mode::Block, now).unwrap();
        assert_eq!(d.verdict, Verdict::Allowed);
    }

    #[test]
    fn star_admits_any_tool() {
        let (c, s) = setup(
            "[[window]]\nid = \"all\"\ntools = [\"*\"]\nstart = 2025-11-26T14:00:00\nend = 2025-11-26T16:00:00\n",
        );
        let d = judge(
            &c,
            &s,
            "/usr/bin/x11vnc",
            Mode::Block,
            "2025-11-26T13:30:00Z",
        )
        .unwrap();
        assert_eq!(d.verdict, Verdict::Allowed);
    }

    #[test]
    fn ordinary_processes_are_not_identified_so_get_no_decision() {
        let (c, s) = setup("");
        assert!(
            judge(
                &c,
                &s,
                "/usr/bin/firefox",
                Mode::Block,
                "2025-11-26T13:30:00Z"
            )
            .is_none()
        );
    }

    #[test]
    fn renamed_tool_is_decided_on_its_evidence_and_says_how() {
        let (c, s) = setup(ANYDESK_WINDOW);
        let renamed = facts("/home/op/Scaricati/fattura.exe");
        assert!(c.identify(&renamed).is_none());
        let evidence = Evidence {
            original_filename: Some("AnyDesk.exe".into()),
            ..Evidence::default()
        };
        let found = c.identify_with(&renamed, &evidence).unwrap();
        let d = decide(&found, &s, Mode::Block, at("2025-11-26T15:30:00Z"));
        assert_eq!(d.tool_id, "anydesk");
        assert_eq!(d.verdict, Verdict::Blocked);
        assert_eq!(d.matched_by, MatchedBy::PeOriginalFilename);
    }

    #[test]
    fn fail_closed_schedule_blocks_everything() {
        let c = Catalog::embedded().unwrap();
        let s = Schedule::fail_closed();
        let d = judge(&c, &s, "/x/rustdesk", Mode::Block, "2025-11-26T13:30:00Z").unwrap();
        assert_eq!(d.verdict, Verdict::Blocked);
    }
}
