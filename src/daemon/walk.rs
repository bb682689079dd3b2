//! Deciding everything again: one walk of the whole process table, and
//! the memory of what was already decided.
//!
//! The sources decide each process when it starts. Some things change a
//! decision later: a window closes, IT's windows file or catalog changes,
//! the operator presses the panic button, a source lost events. Then
//! every running process is decided again from a full walk of the process
//! table — not only the tools remembered as admitted — so a tool that
//! daemonized (double fork, new session, parent gone), was re-parented or
//! started before varco is found wherever it is.
//!
//! Two sources (fanotify before the exec, the proc connector after it) see
//! most tool starts twice; the daemon records a process once per decision
//! ([`Decided`]): a second observation with the same tool and verdict for
//! the same process (pid and start time) is dropped, one with another
//! verdict (a window closed in between) is carried out.

use std::collections::{HashMap, VecDeque};

use jiff::Timestamp;

use super::Daemon;
use crate::decide::{Decision, Verdict};
use crate::facts::ProcessFacts;

/// How many decisions are remembered for deduplication: far more tool
/// processes than a workstation starts between two observations of one.
const REMEMBERED: usize = 1024;

/// One process: pid and start marker.
type Key = (u32, u64);

/// The last decisions recorded, per process, bounded (oldest forgotten).
#[derive(Debug, Default)]
pub struct Decided {
    recent: VecDeque<(Key, String, Verdict)>,
}

impl Decided {
    /// True when `facts` was already recorded with this tool and verdict.
    pub fn already(&self, facts: &ProcessFacts, decision: &Decision) -> bool {
        let key = (facts.pid, facts.start_marker);
        self.recent
            .iter()
            .rev()
            .find(|(k, _, _)| *k == key)
            .is_some_and(|(_, tool, verdict)| {
                *tool == decision.tool_id && *verdict == decision.verdict
            })
    }

    /// Remembers that `facts` was recorded with `decision`.
    pub fn remember(&mut self, facts: &ProcessFacts, decision: &Decision) {
        if self.recent.len() == REMEMBERED {
            self.recent.pop_front();
        }
        self.recent.push_back((
            (facts.pid, facts.start_marker),
            decision.tool_id.clone(),
            decision.verdict,
        ));
    }
}

/// Why the daemon decides everything again, for the records of the tools
/// it stops.
#[derive(Debug, Clone)]
pub enum Why {
    /// Windows closed, or IT's files changed.
    PolicyChanged(String),
    /// A source lost events.
    EventsLost,
    /// The panic button (the operator is told in one summary).
    Panic(String),
}

impl Daemon {
    /// Decides every running process again under the policy in force and
    /// carries the decisions out; returns the display names of the tools
    /// stopped. Tools admitted before and admitted still are kept without
    /// a new record; admitted tools that exited get their `exited` record.
    pub(super) fn decide_everything(&mut self, why: Why) -> Vec<String> {
        let now = crate::sys::clock::now();
        let policy = self.policy.current();
        let mut before: HashMap<Key, (ProcessFacts, Decision)> = HashMap::new();
        for (facts, decision) in std::mem::take(&mut self.admitted) {
            if crate::sys::start_marker(facts.pid) == Some(facts.start_marker) {
                before.insert((facts.pid, facts.start_marker), (facts, decision));
            } else {
                self.teller.exited(&policy, &facts, &decision);
            }
        }
        let running = match crate::source::scan::Watcher::new() {
            Ok(mut w) => w.new_processes(),
            Err(e) => {
                tracing::error!("cannot list processes to decide them again: {e}");
                Vec::new()
            }
        };
        let me = std::process::id();
        let mut stopped = Vec::new();
        // Kernel threads and zombies have neither executable nor command
        // line: nothing runs there to decide on (and a zombie's record
        // would say "stopped" of a process already dead).
        let live = running
            .into_iter()
            .filter(|f| f.pid != me && (f.exe.is_some() || !f.cmdline.is_empty()));
        for mut facts in live {
            let Some(decision) = self.judge.judge_process(&mut facts, now) else {
                continue;
            };
            let key = (facts.pid, facts.start_marker);
            let earlier = before.remove(&key);
            if decision.verdict == Verdict::Allowed
                && let Some((facts, _)) = earlier
            {
                self.admitted.push((facts, decision));
                continue;
            }
            if decision.verdict != Verdict::Blocked && self.decided.already(&facts, &decision) {
                if decision.verdict == Verdict::Allowed {
                    self.admitted.push((facts, decision));
                }
                continue;
            }
            let reason = match (&why, &earlier) {
                (Why::Panic(r), _) => Some(r.clone()),
                (_, Some((_, was))) if decision.verdict == Verdict::Blocked => {
                    let window = was.window.as_ref().map(|w| w.id.as_str()).unwrap_or("");
                    Some(format!("window \"{window}\" is no longer open"))
                }
                (Why::PolicyChanged(r), _) => Some(r.clone()),
                (Why::EventsLost, _) => {
                    Some("decided again after process events were lost".to_string())
                }
            };
            let name = decision.tool_name.clone();
            let in_summary = matches!(why, Why::Panic(_));
            let outcome = self.carry_out_told(facts, decision, reason, in_summary);
            if outcome.is_some_and(|o| o.is_stopped()) && !stopped.contains(&name) {
                stopped.push(name);
            }
        }
        // Admitted tools the walk did not list (it failed, or they exited
        // meanwhile): decided on their own, as before.
        for (_, (facts, decision)) in before {
            self.admitted.push((facts, decision));
        }
        if !self.admitted.is_empty() {
            self.recheck_admitted_at(now);
        }
        stopped
    }

    /// Whether the policy changed or a window closed since the last tick:
    /// then everything is decided again. Remembers what it saw.
    pub(super) fn policy_moved(&mut self, now: Timestamp) -> Option<String> {
        let policy = self.policy.current();
        let open: Vec<String> = policy
            .schedule
            .open_at(now)
            .into_iter()
            .map(|(w, _)| w.id.clone())
            .collect();
        let closed: Vec<&String> = self
            .open_windows
            .iter()
            .filter(|id| !open.contains(id))
            .collect();
        let why = if !closed.is_empty() {
            Some(format!(
                "window {} closed",
                closed
                    .iter()
                    .map(|c| format!("\"{c}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        } else if !std::sync::Arc::ptr_eq(&policy, &self.seen_policy) {
            Some("the policy in force changed".to_string())
        } else {
            None
        };
        self.open_windows = open;
        self.seen_policy = policy;
        why
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::Verdict;
    use crate::policy::catalog::MatchedBy;
    use crate::policy::schedule::Mode;

    fn decision(tool: &str, verdict: Verdict) -> Decision {
        Decision {
            verdict,
            tool_id: tool.into(),
            tool_name: tool.into(),
            matched_by: MatchedBy::Name,
            window: None,
            mode: Mode::Block,
            refusal: None,
            origin: None,
        }
    }

    #[test]
    fn the_same_decision_on_the_same_process_is_recorded_once() {
        let mut d = Decided::default();
        let facts = ProcessFacts::test("AnyDesk");
        let allowed = decision("anydesk", Verdict::Allowed);
        assert!(!d.already(&facts, &allowed));
        d.remember(&facts, &allowed);
        assert!(d.already(&facts, &allowed));
        // Another verdict (a window closed between the two sources'
        // looks), another tool, another process: not a duplicate.
        assert!(!d.already(&facts, &decision("anydesk", Verdict::Blocked)));
        assert!(!d.already(&facts, &decision("rustdesk", Verdict::Allowed)));
        let mut reused = facts.clone();
        reused.start_marker += 1;
        assert!(!d.already(&reused, &allowed));
        // The latest decision on a process is the one compared.
        d.remember(&facts, &decision("anydesk", Verdict::Blocked));
        assert!(!d.already(&facts, &allowed));
    }

    #[test]
    fn the_memory_is_bounded() {
        let mut d = Decided::default();
        let allowed = decision("anydesk", Verdict::Allowed);
        let mut first = ProcessFacts::test("AnyDesk");
        first.pid = 1;
        d.remember(&first, &allowed);
        for pid in 2..=(REMEMBERED as u32 + 1) {
            let mut f = first.clone();
            f.pid = pid;
            d.remember(&f, &allowed);
        }
        assert_eq!(d.recent.len(), REMEMBERED);
        assert!(!d.already(&first, &allowed), "the oldest is forgotten");
    }
}
