//! The warning before a window ends: once per opening, when the tools
//! running under it will be stopped at its end.
//!
//! No warning for a window with no tool running under it: the message
//! promises that "the remote session will be closed", and an always-on
//! window (IT's own agent, 00:00–24:00) would otherwise pop up every night.
//! Nor for tools another window (or the next day's opening of the same
//! one) admits at the end: their session goes on, nothing is closed. A
//! tool that starts inside the warning time is warned about then.

use std::collections::HashSet;

use jiff::Timestamp;

use crate::decide::Decision;
use crate::facts::ProcessFacts;
use crate::policy::schedule::Schedule;

impl super::Daemon {
    /// Gives the warnings due at `now` (called on every tick).
    pub(super) fn warn_before_end(&mut self, now: Timestamp) {
        let policy = self.policy.current();
        for due in self.warnings.due(&policy.schedule, &self.admitted, now) {
            self.teller
                .window_ending(&policy, &due.window, due.end, due.tools);
        }
    }
}

/// One warning to give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The window.
    pub window: String,
    /// When its opening ends.
    pub end: Timestamp,
    /// Display names of the tools that will be stopped then.
    pub tools: Vec<String>,
}

/// The openings already warned about.
#[derive(Debug, Default)]
pub struct Warnings {
    given: HashSet<(String, Timestamp)>,
}

impl Warnings {
    /// The warnings due at `now` for the tools in `admitted`, each given
    /// once per opening.
    pub fn due(
        &mut self,
        schedule: &Schedule,
        admitted: &[(ProcessFacts, Decision)],
        now: Timestamp,
    ) -> Vec<Due> {
        let mut out = Vec::new();
        for (w, opening) in schedule.ending_soon(now) {
            let key = (w.id.clone(), opening.start);
            if self.given.contains(&key) {
                continue;
            }
            let mut tools: Vec<String> = admitted
                .iter()
                .filter(|(_, d)| d.window.as_ref().is_some_and(|a| a.id == w.id))
                // Still admitted right after the end: nothing closes.
                .filter(|(_, d)| schedule.open_for(&d.tool_id, opening.end).is_none())
                .map(|(_, d)| d.tool_name.clone())
                .collect();
            tools.dedup();
            if tools.is_empty() {
                continue;
            }
            self.given.insert(key);
            out.push(Due {
                window: w.id.clone(),
                end: opening.end,
                tools,
            });
        }
        // Forget openings long past, so the set stays small.
        self.given
            .retain(|(_, start)| now.as_second() - start.as_second() < 8 * 86_400);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::{AdmittingWindow, Verdict};
    use crate::policy::catalog::{Catalog, MatchedBy};
    use crate::policy::schedule::{self, Mode, Opening};

    fn admitted(window: &str, tool: &str) -> (ProcessFacts, Decision) {
        let o = Opening {
            start: Timestamp::UNIX_EPOCH,
            end: Timestamp::UNIX_EPOCH,
        };
        (
            ProcessFacts::test(tool),
            Decision {
                verdict: Verdict::Allowed,
                tool_id: tool.to_lowercase(),
                tool_name: tool.into(),
                matched_by: MatchedBy::Name,
                window: Some(AdmittingWindow {
                    id: window.into(),
                    technician: None,
                    ticket: None,
                    opening: o,
                }),
                mode: Mode::Block,
                refusal: None,
                origin: None,
            },
        )
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn once_per_opening_only_with_tools_that_will_be_stopped() {
        let s = schedule::parse(
            "[[window]]\nid = \"INC-1\"\ntools = [\"anydesk\"]\nstart = 2025-11-26T14:00:00\nend = 2025-11-26T16:00:00\n",
            &Catalog::embedded().unwrap(),
        )
        .unwrap();
        let mut w = Warnings::default();
        let tools = [admitted("INC-1", "AnyDesk")];
        assert!(w.due(&s, &tools, at("2025-11-26T14:40:00Z")).is_empty());
        let due = w.due(&s, &tools, at("2025-11-26T14:50:00Z"));
        assert_eq!(
            due,
            [Due {
                window: "INC-1".into(),
                end: at("2025-11-26T15:00:00Z"),
                tools: vec!["AnyDesk".into()],
            }]
        );
        assert!(w.due(&s, &tools, at("2025-11-26T14:51:00Z")).is_empty());
        // No tool under the window: no warning.
        let mut fresh = Warnings::default();
        assert!(fresh.due(&s, &[], at("2025-11-26T14:55:00Z")).is_empty());
    }

    #[test]
    fn an_always_on_window_is_not_warned_about_at_midnight() {
        let s = schedule::parse(
            "[[window]]\nid = \"agent\"\ntools = [\"anydesk\"]\ndays = [\"mon\",\"tue\",\"wed\",\"thu\",\"fri\",\"sat\",\"sun\"]\nfrom = \"00:00\"\nto = \"24:00\"\n",
            &Catalog::embedded().unwrap(),
        )
        .unwrap();
        let mut w = Warnings::default();
        let tools = [admitted("agent", "AnyDesk")];
        assert!(w.due(&s, &tools, at("2025-11-26T22:55:00Z")).is_empty());
    }
}
