//! The panic button on the daemon's side: `varco panic` stops every
//! remote tool now, even inside a window, and suspends the windows open
//! now; `varco resume` (an administrator) lifts the suspension, or it
//! lapses the next calendar day (`[panic] until`).
//!
//! The suspension is part of the shared policy, so every source's judge
//! refuses from the next event on; it is kept in the state folder
//! (`suspension.json`) so a restart — or a fraudster asking for one —
//! does not reopen the windows. A file that is there but cannot be read
//! suspends every window until an administrator resumes (fail closed).

use std::io;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::Daemon;
use super::tell::PanicDone;
use crate::control::{Answer, Caller, Incoming, Request};
use crate::policy::suspension::{Suspended, Suspension};

/// The file, in the state folder, that keeps a suspension across restarts.
pub const FILE_NAME: &str = "suspension.json";

/// Where the daemon keeps its state when `--state-dir` is not given:
/// `/var/lib/varco` for the root service, `%ProgramData%\varco\state` on
/// Windows, else the user data folder (the same default as the signed
/// windows file's serial).
pub fn default_state_dir() -> PathBuf {
    #[cfg(windows)]
    if crate::sys::is_administrator()
        && let Some(dir) = crate::policy::files::system_dir()
    {
        return dir.join("state");
    }
    #[cfg(not(windows))]
    if crate::sys::is_privileged() {
        return PathBuf::from("/var/lib/varco");
    }
    directories::ProjectDirs::from("it", "varco", "varco")
        .map(|d| d.data_dir().join("state"))
        .unwrap_or_else(|| PathBuf::from("varco-state"))
}

/// The suspension kept in `dir`, if any. A file that exists but cannot be
/// read shuts every window until resumed.
pub fn load(dir: &Path, now: Timestamp) -> Option<Suspension> {
    let path = dir.join(FILE_NAME);
    match std::fs::read_to_string(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Ok(text) => match serde_json::from_str::<Suspension>(&text) {
            Ok(s) => {
                tracing::warn!(
                    "{}: the panic of {} still holds (windows {:?})",
                    path.display(),
                    s.since,
                    s.window_ids()
                );
                Some(s)
            }
            Err(e) => Some(damaged(&path, &e.to_string(), now)),
        },
        Err(e) => Some(damaged(&path, &e.to_string(), now)),
    }
}

fn damaged(path: &Path, why: &str, now: Timestamp) -> Suspension {
    tracing::error!(
        "{}: cannot read the suspension ({why}); every window stays suspended until `varco resume`",
        path.display()
    );
    Suspension {
        since: now,
        until: None,
        windows: Suspended::All,
        by_uid: None,
        by_user: None,
    }
}

/// Keeps `s` in `dir` (written whole, then renamed), or removes it.
fn save(dir: &Path, s: Option<&Suspension>) -> io::Result<()> {
    let path = dir.join(FILE_NAME);
    let Some(s) = s else {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    };
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let text = serde_json::to_string_pretty(s).map_err(io::Error::other)?;
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)
}

impl Daemon {
    /// Answers one request from the control endpoint.
    pub(super) fn control(&mut self, incoming: Incoming) {
        let Incoming {
            request,
            caller,
            reply,
        } = incoming;
        let answer = match request {
            Request::Panic => self.panic(&caller),
            Request::Resume => self.resume(&caller),
        };
        let _ = reply.send(answer);
    }

    /// Suspends the open windows, stops every remote tool, records it.
    fn panic(&mut self, caller: &Caller) -> Answer {
        let now = crate::sys::clock::now();
        let policy = self.policy.current();
        let schedule = &policy.schedule;
        let open: Vec<String> = schedule
            .open_at(now)
            .into_iter()
            .map(|(w, _)| w.id.clone())
            .collect();
        let suspension = match policy.suspension.clone().filter(|s| s.in_force(now)) {
            Some(mut s) => {
                s.extend(now, open, schedule.panic_until, &schedule.timezone);
                s
            }
            None => Suspension::start(
                now,
                open,
                schedule.panic_until,
                &schedule.timezone,
                caller.uid,
                caller.user.clone(),
            ),
        };
        self.policy.set_suspension(Some(suspension.clone()));
        if let Err(e) = save(&self.state_dir, Some(&suspension)) {
            tracing::error!(
                "cannot keep the suspension in {}: {e}; it holds until varco restarts",
                self.state_dir.display()
            );
        }
        let stopped = self.stop_every_tool(caller);
        let policy = self.policy.current();
        self.teller.panic(
            &policy,
            caller,
            PanicDone {
                stopped: stopped.clone(),
                windows: suspension.window_ids(),
                until: suspension.until,
            },
        );
        Answer::Panicked {
            stopped,
            windows: suspension.window_ids(),
            until: suspension.until.map(|u| u.to_string()),
            lapse: policy.schedule.panic_until,
            company: policy.schedule.contact.company.clone(),
            phone: policy.schedule.contact.phone.clone(),
        }
    }

    /// Decides again on every running process under the suspension just
    /// set (the walk that window closes and reloads use too) and stops
    /// every remote tool; returns the names of those stopped.
    fn stop_every_tool(&mut self, caller: &Caller) -> Vec<String> {
        let reason = format!(
            "panic button pressed by {}",
            caller
                .user
                .clone()
                .or_else(|| caller.uid.map(|u| format!("uid {u}")))
                .unwrap_or_else(|| "an unknown user".into())
        );
        self.decide_everything(super::walk::Why::Panic(reason))
    }

    /// Lifts the suspension (the caller was checked to be an
    /// administrator before the request got here).
    fn resume(&mut self, caller: &Caller) -> Answer {
        let was_suspended = self.policy.current().suspension.is_some();
        if was_suspended {
            self.lift(Some(caller));
        }
        Answer::Resumed { was_suspended }
    }

    /// Ends a suspension whose time has come (called on every tick).
    pub(super) fn expire_suspension(&mut self, now: Timestamp) {
        let lapsed = self
            .policy
            .current()
            .suspension
            .as_ref()
            .is_some_and(|s| !s.in_force(now));
        if lapsed {
            self.lift(None);
        }
    }

    fn lift(&mut self, by: Option<&Caller>) {
        self.policy.set_suspension(None);
        if let Err(e) = save(&self.state_dir, None) {
            tracing::error!(
                "cannot remove {}: {e}; the windows would be suspended again at the next start",
                self.state_dir.join(FILE_NAME).display()
            );
        }
        self.teller.resumed(&self.policy.current(), by);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_suspension_reads_back_and_a_damaged_one_shuts_everything() {
        let dir = std::env::temp_dir().join(format!("varco-panic-unit-{}", std::process::id()));
        let now: Timestamp = "2025-11-26T10:00:00Z".parse().unwrap();
        assert_eq!(load(&dir, now), None);
        let s = Suspension {
            since: now,
            until: None,
            windows: Suspended::Only(vec!["INC-1".into()]),
            by_uid: Some(1000),
            by_user: Some("operatore".into()),
        };
        save(&dir, Some(&s)).unwrap();
        assert_eq!(load(&dir, now), Some(s));
        std::fs::write(dir.join(FILE_NAME), "{torn").unwrap();
        let damaged = load(&dir, now).unwrap();
        assert_eq!((damaged.windows, damaged.until), (Suspended::All, None));
        save(&dir, None).unwrap();
        assert_eq!(load(&dir, now), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
