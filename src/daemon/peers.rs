//! Only the contractor's peers: for every tool admitted by a window that
//! lists `peers`, the tool's own log is followed ([`crate::source::peer_log`],
//! on a thread of its own) and a peer that is not listed has the tool
//! stopped, even inside the window (`unlisted_peer`). A tool whose log
//! cannot be read keeps the window's other rules; that is recorded once
//! per window opening and tool (`peer_unverifiable`).

use std::collections::HashSet;

use jiff::Timestamp;
use tokio::sync::mpsc;

use super::Daemon;
use super::tell::PeerStop;
use crate::decide::{PeerVerdict, judge_peer};
use crate::effect::stop;
use crate::source::peer_log::{self, LogKind, Report, Watch, Watcher};

/// The daemon's side of the peer watcher.
pub struct PeerWatch {
    requests: std::sync::mpsc::Sender<Watch>,
    /// Tool processes already handed to the watcher (pid, start marker).
    requested: HashSet<(u32, u64)>,
    /// (window, opening start, tool) already recorded as unverifiable.
    unverifiable: HashSet<(String, Timestamp, String)>,
}

impl PeerWatch {
    /// Starts the watcher thread; its reports arrive on the receiver.
    pub fn start() -> std::io::Result<(PeerWatch, mpsc::Receiver<Report>)> {
        let (requests, incoming) = std::sync::mpsc::channel();
        let (reports, rx) = mpsc::channel(256);
        Watcher::spawn(incoming, reports)?;
        Ok((
            PeerWatch {
                requests,
                requested: HashSet::new(),
                unverifiable: HashSet::new(),
            },
            rx,
        ))
    }
}

impl Daemon {
    /// Hands the tools admitted by windows with `peers` to the watcher
    /// (called on every tick; each process once).
    pub(super) fn watch_peers(&mut self) {
        let Some(watch) = self.peers.as_mut() else {
            return;
        };
        let policy = self.policy.current();
        let live: HashSet<(u32, u64)> = self
            .admitted
            .iter()
            .map(|(f, _)| (f.pid, f.start_marker))
            .collect();
        watch.requested.retain(|k| live.contains(k));
        let mut unverifiable = Vec::new();
        for (facts, decision) in &self.admitted {
            let Some(admitting) = &decision.window else {
                continue;
            };
            let restricted = policy
                .schedule
                .windows
                .iter()
                .any(|w| w.id == admitting.id && w.peers.is_some());
            if !restricted || !watch.requested.insert((facts.pid, facts.start_marker)) {
                continue;
            }
            match LogKind::of_tool(&decision.tool_id) {
                Some(kind) => {
                    let _ = watch.requests.send(Watch {
                        pid: facts.pid,
                        marker: facts.start_marker,
                        kind,
                        places: peer_log::places(kind, facts),
                    });
                }
                None => unverifiable.push((
                    facts.clone(),
                    decision.clone(),
                    format!(
                        "varco reads the peers of AnyDesk and TeamViewer only, not of {}: who connects cannot be checked; the window's other rules still apply",
                        decision.tool_name
                    ),
                )),
            }
        }
        for (facts, decision, why) in unverifiable {
            self.record_unverifiable(&facts, &decision, &why);
        }
    }

    /// Acts on what the watcher saw.
    pub(super) fn peer_report(&mut self, report: Report) {
        match report {
            Report::Seen {
                pid,
                marker,
                peer,
                log,
            } => {
                let Some(i) = self
                    .admitted
                    .iter()
                    .position(|(f, _)| f.pid == pid && f.start_marker == marker)
                else {
                    return;
                };
                let policy = self.policy.current();
                let window = self.admitted[i]
                    .1
                    .window
                    .as_ref()
                    .and_then(|a| policy.schedule.windows.iter().find(|w| w.id == a.id));
                let verdict = window.map_or(PeerVerdict::Unrestricted, |w| judge_peer(w, &peer.id));
                match verdict {
                    PeerVerdict::Unlisted => {
                        let (facts, decision) = self.admitted.remove(i);
                        let outcome = stop::stop(&facts);
                        tracing::warn!(
                            "{}: peer {} ({}) is not listed; {} {}",
                            log.display(),
                            peer.id,
                            peer.alias.as_deref().unwrap_or("no alias"),
                            decision.tool_name,
                            outcome
                        );
                        self.teller.unlisted_peer(
                            &policy,
                            PeerStop {
                                facts: &facts,
                                decision: &decision,
                                peer_id: &peer.id,
                                alias: peer.alias.as_deref(),
                                outcome,
                            },
                        );
                    }
                    PeerVerdict::Listed => tracing::info!(
                        "{}: peer {} is one of the window's peers",
                        log.display(),
                        peer.id
                    ),
                    PeerVerdict::Unrestricted => {}
                }
            }
            Report::NoLog {
                pid,
                marker,
                looked,
            } => {
                let Some((facts, decision)) = self
                    .admitted
                    .iter()
                    .find(|(f, _)| f.pid == pid && f.start_marker == marker)
                    .cloned()
                else {
                    return;
                };
                let why = format!(
                    "no readable log of {} (looked for {looked}): who connects cannot be checked; the window's other rules still apply",
                    decision.tool_name
                );
                self.record_unverifiable(&facts, &decision, &why);
            }
        }
    }

    /// Records `peer_unverifiable` once per window opening and tool.
    fn record_unverifiable(
        &mut self,
        facts: &crate::facts::ProcessFacts,
        decision: &crate::decide::Decision,
        why: &str,
    ) {
        let (Some(watch), Some(w)) = (self.peers.as_mut(), decision.window.as_ref()) else {
            return;
        };
        let key = (w.id.clone(), w.opening.start, decision.tool_id.clone());
        if watch.unverifiable.insert(key) {
            self.teller
                .peer_unverifiable(&self.policy.current(), facts, decision, why);
        }
    }
}
