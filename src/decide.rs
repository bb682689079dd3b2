//! The decision: may this process run now?
//!
//! Pure: the same facts, catalog, schedule, mode and instant always give
//! the same verdict. Everything that touches the system happens in the
//! callers, with the verdict as a plain value they log, show and enforce.
#![forbid(unsafe_code)]

use jiff::Timestamp;

use crate::facts::Provenance;
use crate::policy::catalog::{Identification, MatchedBy};
use crate::policy::schedule::{MaintenanceWindow, Mode, Opening, Schedule};
use crate::policy::suspension::Suspension;

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
    /// How much the verdict restricts, for choosing between two decisions
    /// on one process (a loader launch judged on its path and on what it
    /// mapped): blocked over alerted over allowed.
    pub fn strictness(self) -> u8 {
        match self {
            Verdict::Allowed => 0,
            Verdict::Alerted => 1,
            Verdict::Blocked => 2,
        }
    }

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
    /// Why it was refused although a window was open, or although the
    /// mode only alerts.
    pub refusal: Option<Refusal>,
    /// The URL the executable was downloaded from, when it says.
    pub origin: Option<String>,
}

/// Why a tool was stopped where the windows and the mode alone would have
/// let it run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The operator pressed the panic button: the windows open then are
    /// shut, and nothing outside a window runs, whatever the mode.
    Suspended,
    /// The window admits installed copies only, and this one runs from a
    /// user folder or carries a download mark.
    NotInstalled {
        /// The window that would have admitted it.
        window: String,
    },
}

impl Refusal {
    /// What the audit record's `reason` says.
    pub fn describe(&self, origin: Option<&str>) -> String {
        match self {
            Refusal::Suspended => {
                "the operator pressed the panic button: windows are suspended".to_string()
            }
            Refusal::NotInstalled { window } => match origin {
                Some(url) => format!(
                    "window \"{window}\" admits installed copies only; this one was downloaded from {url}"
                ),
                None => format!(
                    "window \"{window}\" admits installed copies only; this one runs from a user or temporary folder"
                ),
            },
        }
    }
}

/// What the edges found out that the decision weighs besides the
/// schedule: values, gathered before `decide` is called.
#[derive(Debug, Clone, Copy, Default)]
pub struct Circumstances<'a> {
    /// The operator's panic, if one was pressed (it may have lapsed).
    pub suspension: Option<&'a Suspension>,
    /// Where the executable came from; `None` when it could not be told
    /// (then a window with `installed_only` does not admit it).
    pub provenance: Option<&'a Provenance>,
}

/// The verdict on a peer that connected to a tool a window admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerVerdict {
    /// The window lists no peers: anyone the operator accepts.
    Unrestricted,
    /// One of the contractor's installations.
    Listed,
    /// Someone else: the tool is stopped.
    Unlisted,
}

/// Whether the peer `id` may be connected to a tool admitted by `window`.
/// IDs are compared by their digits only (AnyDesk shows "123 456 789").
pub fn judge_peer(window: &MaintenanceWindow, id: &str) -> PeerVerdict {
    let Some(peers) = &window.peers else {
        return PeerVerdict::Unrestricted;
    };
    let digits: String = id.chars().filter(|c| !c.is_whitespace()).collect();
    if peers.contains(&digits) {
        PeerVerdict::Listed
    } else {
        PeerVerdict::Unlisted
    }
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
    decide_in(found, schedule, mode, now, Circumstances::default())
}

/// Whether where the executable came from can change the verdict on
/// `found` at `now`: only a window open now, admitting the tool, that
/// admits installed copies only, weighs it. Gathering provenance reads the
/// file's marks and the process's environment; fanotify holds the exec
/// while it decides, so it gathers provenance before the verdict only
/// when this says so, and after the verdict (for the record's `origin`)
/// otherwise.
pub fn weighs_provenance(found: &Identification<'_>, schedule: &Schedule, now: Timestamp) -> bool {
    schedule.windows.iter().any(|w| {
        w.installed_only
            && w.admits(&found.tool.id)
            && w.opening_at(&schedule.timezone, now).is_some()
    })
}

/// [`decide`], weighing what the edges found out (`seen`): a panic in
/// force and where the executable came from.
pub fn decide_in(
    found: &Identification<'_>,
    schedule: &Schedule,
    mode: Mode,
    now: Timestamp,
    seen: Circumstances<'_>,
) -> Decision {
    let tool = found.tool;
    let suspension = seen.suspension.filter(|s| s.in_force(now));
    let installed = seen.provenance.is_some_and(Provenance::is_installed);
    let mut refusal = None;
    let mut admitted = None;
    for w in schedule.windows.iter().filter(|w| w.admits(&tool.id)) {
        let Some(opening) = w.opening_at(&schedule.timezone, now) else {
            continue;
        };
        if suspension.is_some_and(|s| s.shuts(&w.id)) {
            refusal.get_or_insert(Refusal::Suspended);
            continue;
        }
        if w.installed_only && !installed {
            refusal.get_or_insert(Refusal::NotInstalled {
                window: w.id.clone(),
            });
            continue;
        }
        admitted = Some(AdmittingWindow {
            id: w.id.clone(),
            technician: w.technician.clone(),
            ticket: w.ticket.clone(),
            opening,
        });
        break;
    }
    if admitted.is_some() {
        refusal = None;
    } else if suspension.is_some() {
        refusal = Some(Refusal::Suspended);
    }
    let verdict = match (&admitted, &refusal, mode) {
        (Some(_), _, _) => Verdict::Allowed,
        (None, Some(_), _) | (None, None, Mode::Block) => Verdict::Blocked,
        (None, None, Mode::Alert) => Verdict::Alerted,
    };
    Decision {
        verdict,
        tool_id: tool.id.clone(),
        tool_name: tool.name.clone(),
        matched_by: found.matched_by,
        window: admitted,
        mode,
        refusal,
        origin: seen.provenance.and_then(|p| p.origin.clone()),
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

    fn anydesk(c: &Catalog) -> Identification<'_> {
        c.identify(&facts("/opt/AnyDesk/AnyDesk")).unwrap()
    }

    #[test]
    fn a_panic_shuts_the_open_window_and_blocks_even_in_alert_mode() {
        let (c, s) = setup(ANYDESK_WINDOW);
        let now = at("2025-11-26T13:30:00Z");
        let panic = Suspension::start(
            now,
            vec!["INC-1".into()],
            crate::policy::schedule::PanicUntil::Resume,
            &s.timezone,
            Some(1000),
            None,
        );
        let seen = Circumstances {
            suspension: Some(&panic),
            provenance: None,
        };
        let d = decide_in(&anydesk(&c), &s, Mode::Alert, now, seen);
        assert_eq!(
            (d.verdict, d.refusal),
            (Verdict::Blocked, Some(Refusal::Suspended))
        );
        // Outside every window too: stopped, not alerted.
        let later = at("2025-11-26T18:00:00Z");
        let d = decide_in(&anydesk(&c), &s, Mode::Alert, later, seen);
        assert_eq!(d.verdict, Verdict::Blocked);
        // A window the panic did not shut still admits.
        let other = Suspension::start(
            now,
            vec!["other".into()],
            crate::policy::schedule::PanicUntil::Resume,
            &s.timezone,
            None,
            None,
        );
        let d = decide_in(
            &anydesk(&c),
            &s,
            Mode::Block,
            now,
            Circumstances {
                suspension: Some(&other),
                provenance: None,
            },
        );
        assert_eq!(d.verdict, Verdict::Allowed);
    }

    #[test]
    fn a_lapsed_panic_changes_nothing() {
        let (c, s) = setup(ANYDESK_WINDOW);
        let now = at("2025-11-26T13:30:00Z");
        let mut panic = Suspension::start(
            now,
            vec!["INC-1".into()],
            crate::policy::schedule::PanicUntil::NextDay,
            &s.timezone,
            None,
            None,
        );
        panic.until = Some(now);
        let seen = Circumstances {
            suspension: Some(&panic),
            provenance: None,
        };
        let d = decide_in(&anydesk(&c), &s, Mode::Block, now, seen);
        assert_eq!(d.verdict, Verdict::Allowed);
    }

    /// A copy downloaded (with its URL), one lying in Downloads, one
    /// installed.
    fn provenances() -> [Provenance; 3] {
        let downloaded = Provenance {
            origin: Some("https://download.example/AnyDesk.exe".into()),
            downloaded: true,
            place: None,
        };
        let in_downloads = Provenance {
            place: Some(crate::facts::UserPlace::Downloads),
            ..Provenance::default()
        };
        [downloaded, in_downloads, Provenance::default()]
    }

    #[test]
    fn installed_only_refuses_downloaded_copies_inside_the_window() {
        let (c, s) =
            setup(&ANYDESK_WINDOW.replace("technician =", "installed_only = true\ntechnician ="));
        let now = at("2025-11-26T13:30:00Z");
        let [downloaded, in_downloads, installed] = provenances();
        for (p, verdict) in [
            (Some(&downloaded), Verdict::Blocked),
            (Some(&in_downloads), Verdict::Blocked),
            (None, Verdict::Blocked),
            (Some(&installed), Verdict::Allowed),
        ] {
            let seen = Circumstances {
                suspension: None,
                provenance: p,
            };
            let d = decide_in(&anydesk(&c), &s, Mode::Alert, now, seen);
            assert_eq!(d.verdict, verdict, "{p:?}");
            if verdict == Verdict::Blocked {
                assert_eq!(
                    d.refusal,
                    Some(Refusal::NotInstalled {
                        window: "INC-1".into()
                    })
                );
            }
        }
        let seen = Circumstances {
            suspension: None,
            provenance: Some(&downloaded),
        };
        let d = decide_in(&anydesk(&c), &s, Mode::Block, now, seen);
        assert_eq!(
            d.origin.as_deref(),
            Some("https://download.example/AnyDesk.exe")
        );
    }

    /// fanotify decides without provenance when `weighs_provenance` says
    /// it cannot matter: then every provenance must give the same verdict,
    /// refusal and window as none at all.
    #[test]
    fn provenance_is_weighed_only_by_an_open_installed_only_window() {
        let installed_only =
            ANYDESK_WINDOW.replace("technician =", "installed_only = true\ntechnician =");
        let other_tool = ANYDESK_WINDOW.replace("[\"anydesk\"]", "[\"teamviewer\"]");
        let [downloaded, in_downloads, installed] = provenances();
        let mut weighed = 0;
        for (text, expect_weighed) in [
            (ANYDESK_WINDOW, false),
            (installed_only.as_str(), true),
            (
                other_tool
                    .replace("technician =", "installed_only = true\ntechnician =")
                    .as_str(),
                false,
            ),
        ] {
            let (c, s) = setup(text);
            for (when, open) in [
                ("2025-11-26T13:30:00Z", true),
                ("2025-11-26T15:30:00Z", false),
                ("2025-11-25T13:30:00Z", false),
            ] {
                let now = at(when);
                let found = anydesk(&c);
                let weighs = weighs_provenance(&found, &s, now);
                assert_eq!(weighs, expect_weighed && open, "{text} at {when}");
                weighed += usize::from(weighs);
                if weighs {
                    continue;
                }
                for mode in [Mode::Block, Mode::Alert] {
                    let none = decide_in(&found, &s, mode, now, Circumstances::default());
                    for p in [&downloaded, &in_downloads, &installed] {
                        let seen = Circumstances {
                            suspension: None,
                            provenance: Some(p),
                        };
                        let d = decide_in(&found, &s, mode, now, seen);
                        assert_eq!(
                            (d.verdict, &d.refusal, &d.window),
                            (none.verdict, &none.refusal, &none.window),
                            "{text} at {when}, {p:?}"
                        );
                    }
                }
            }
        }
        assert_eq!(weighed, 1);
    }

    #[test]
    fn peers_are_judged_by_their_digits() {
        let (_, s) = setup(
            &ANYDESK_WINDOW.replace("technician =", "peers = [\"123 456 789\"]\ntechnician ="),
        );
        let w = &s.windows[0];
        assert_eq!(judge_peer(w, "123456789"), PeerVerdict::Listed);
        assert_eq!(judge_peer(w, "123 456 789"), PeerVerdict::Listed);
        assert_eq!(judge_peer(w, "987654321"), PeerVerdict::Unlisted);
        let (_, open) = setup(ANYDESK_WINDOW);
        assert_eq!(
            judge_peer(&open.windows[0], "987654321"),
            PeerVerdict::Unrestricted
        );
    }

    #[test]
    fn fail_closed_schedule_blocks_everything() {
        let c = Catalog::embedded().unwrap();
        let s = Schedule::fail_closed();
        let d = judge(&c, &s, "/x/rustdesk", Mode::Block, "2025-11-26T13:30:00Z").unwrap();
        assert_eq!(d.verdict, Verdict::Blocked);
    }
}
