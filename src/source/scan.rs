//! The portable source: list processes every few hundred milliseconds and
//! report the new ones.
//!
//! It works unprivileged and on every platform, at the price of latency (a
//! tool runs until the next scan) and of missing processes that live less
//! than one interval.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

#[cfg(not(unix))]
use sysinfo::Users;
use sysinfo::{Pid, Process, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};
use tokio::sync::mpsc::Sender;

use super::{Judge, Observation, ProcessSource};
use crate::facts::{ProcessFacts, SourceKind};
use crate::policy::SharedPolicy;
use crate::sys;

/// Default interval between two scans.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(500);

/// Periodic process listing through sysinfo.
pub struct Scan {
    policy: SharedPolicy,
    interval: Duration,
    reason: String,
}

impl Scan {
    /// A scan every `interval` under `policy`; `reason` says why no better
    /// source runs.
    pub fn new(policy: SharedPolicy, interval: Duration, reason: impl Into<String>) -> Self {
        Scan {
            policy,
            interval,
            reason: reason.into(),
        }
    }
}

/// Judges `fresh` processes on the program that runs in each
/// ([`Judge::judge_process`]) and sends the remote tools among them, as
/// seen by `source`; false once the daemon is gone.
pub fn send_tools(
    judge: &mut Judge,
    fresh: Vec<ProcessFacts>,
    events: &Sender<Observation>,
    source: SourceKind,
) -> bool {
    let now = sys::clock::now();
    let me = std::process::id();
    for mut facts in fresh {
        if facts.pid == me {
            continue;
        }
        // Exited (or a zombie) since it was listed: nothing to stop, and
        // without its start time in the kernel's unit the daemon could not
        // tell it is the process another source already reported.
        #[cfg(target_os = "linux")]
        match sys::running_since(facts.pid) {
            Some(marker) => facts.start_marker = marker,
            None => continue,
        }
        if let Some(decision) = judge.judge_process(&mut facts, now)
            && events
                .blocking_send(Observation::Started {
                    facts,
                    decision,
                    source,
                })
                .is_err()
        {
            return false;
        }
    }
    !events.is_closed()
}

impl ProcessSource for Scan {
    fn kind(&self) -> SourceKind {
        SourceKind::Scan
    }

    fn reason(&self) -> String {
        self.reason.clone()
    }

    fn run(self: Box<Self>, events: Sender<Observation>) {
        let mut watcher = match Watcher::new() {
            Ok(w) => w,
            Err(e) => {
                // Dropping `events` tells the daemon enforcement is off.
                tracing::error!("cannot list processes: {e}");
                return;
            }
        };
        let mut judge = Judge::new(self.policy.clone()).reporting_to(events.clone());
        while send_tools(
            &mut judge,
            watcher.new_processes(),
            &events,
            SourceKind::Scan,
        ) {
            std::thread::sleep(self.interval);
        }
    }
}

/// Remembers which processes were already reported.
pub struct Watcher {
    system: System,
    /// Account names (Windows: from SIDs). On Unix names come from the
    /// name service, directories included ([`sys::user_name`]).
    #[cfg(not(unix))]
    users: Option<Users>,
    /// Where the OS lists pids cheaply (Linux): the pids seen last time.
    known: HashSet<Pid>,
    /// Elsewhere: pid and start time of every process seen last time.
    seen: HashSet<(Pid, u64)>,
}

impl Watcher {
    /// A watcher that has seen nothing yet: its first call reports every
    /// running process, so tools already running are decided too.
    pub fn new() -> Result<Self, sysinfo::Error> {
        Ok(Watcher {
            system: System::new()?,
            // Without the user list, records just lack the user name.
            #[cfg(not(unix))]
            users: Users::new_with_refreshed_list().ok(),
            known: HashSet::new(),
            seen: HashSet::new(),
        })
    }

    /// Processes that appeared since the last call.
    pub fn new_processes(&mut self) -> Vec<ProcessFacts> {
        // Only what the decision needs: names, executable, command line,
        // owner, parent. No CPU, memory, disk or thread data.
        let what = ProcessRefreshKind::nothing()
            .without_tasks()
            .with_exe(UpdateKind::OnlyIfNotSet)
            .with_cmd(UpdateKind::OnlyIfNotSet)
            .with_user(UpdateKind::OnlyIfNotSet);
        let fresh = match sys::live_pids() {
            Some(pids) => self.refresh_new_only(pids, what),
            None => self.refresh_all(what),
        };
        let processes: &HashMap<Pid, Process> = self.system.processes();
        #[cfg(not(unix))]
        let mut users_refreshed = false;
        let mut out = Vec::with_capacity(fresh.len());
        for pid in fresh {
            let Some(p) = processes.get(&pid) else {
                continue;
            };
            let uid = uid_number(p.user_id());
            #[cfg(unix)]
            let user = uid.and_then(sys::user_name);
            #[cfg(not(unix))]
            let user = p
                .user_id()
                .zip(self.users.as_mut())
                .and_then(|(uid, users)| {
                    if users.get_user_by_id(uid).is_none() && !users_refreshed {
                        users.refresh();
                        users_refreshed = true;
                    }
                    users.get_user_by_id(uid).map(|u| u.name().to_string())
                });
            out.push(ProcessFacts {
                pid: pid.as_u32(),
                parent_pid: p.parent().map(|p| p.as_u32()),
                start_marker: sys::marker_of(p),
                name: p.name().to_string_lossy().into_owned(),
                exe: p.exe().map(|e| e.to_path_buf()),
                cmdline: p
                    .cmd()
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect(),
                uid,
                user,
            });
        }
        out
    }

    /// Reads only the processes whose pid is new since the last scan, and
    /// forgets the ones that exited. Idle cost: one listing of `/proc`.
    /// A pid reused between two scans (the kernel would have to hand out
    /// every other pid in half a second) would go unnoticed; the event
    /// sources, not the scan, are the defence on Linux.
    fn refresh_new_only(&mut self, pids: Vec<u32>, what: ProcessRefreshKind) -> Vec<Pid> {
        let live: HashSet<Pid> = pids.into_iter().map(Pid::from_u32).collect();
        let gone: Vec<Pid> = self.known.difference(&live).copied().collect();
        let new: Vec<Pid> = live.difference(&self.known).copied().collect();
        if !gone.is_empty() {
            self.system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&gone),
                true,
                ProcessRefreshKind::nothing().without_tasks(),
            );
        }
        if !new.is_empty() {
            self.system
                .refresh_processes_specifics(ProcessesToUpdate::Some(&new), true, what);
        }
        self.known = live;
        new
    }

    /// Lists every process and compares pid and start time with the last
    /// scan, for platforms without a cheap pid listing.
    fn refresh_all(&mut self, what: ProcessRefreshKind) -> Vec<Pid> {
        self.system
            .refresh_processes_specifics(ProcessesToUpdate::All, true, what);
        let now: HashSet<(Pid, u64)> = self
            .system
            .processes()
            .iter()
            .map(|(pid, p)| (*pid, p.start_time()))
            .collect();
        let fresh = now.difference(&self.seen).map(|(pid, _)| *pid).collect();
        self.seen = now;
        fresh
    }
}

/// The numeric uid behind sysinfo's user id (Unix); `None` on Windows,
/// where accounts are SIDs.
fn uid_number(id: Option<&sysinfo::Uid>) -> Option<u32> {
    #[cfg(unix)]
    {
        id.map(|u| **u)
    }
    #[cfg(not(unix))]
    {
        let _ = id;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_running_processes_once_and_new_ones_later() {
        let mut w = Watcher::new().unwrap();
        let first = w.new_processes();
        let me = std::process::id();
        assert!(
            first.iter().any(|f| f.pid == me),
            "the first scan reports what already runs"
        );
        assert!(
            !w.new_processes().iter().any(|f| f.pid == me),
            "reported once"
        );
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let later = w.new_processes();
        let seen = later
            .iter()
            .find(|f| f.pid == child.id())
            .expect("new child reported");
        assert_eq!(seen.parent_pid, Some(me));
        assert_eq!(
            seen.exe.as_deref().and_then(|e| e.file_name()).unwrap(),
            "sleep"
        );
        child.kill().unwrap();
        child.wait().unwrap();
        w.new_processes();
        assert!(
            !w.system.processes().contains_key(&Pid::from_u32(seen.pid)),
            "an exited process is forgotten, so a long-running scan does not grow"
        );
    }
}
