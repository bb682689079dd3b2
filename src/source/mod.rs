//! Where process starts come from.
//!
//! Each source watches the system its own way, asks its [`Judge`] about
//! every process it sees — identification, then the decision, once each,
//! in that order — and reports the remote tools as [`Observation`]s on one
//! channel, so the daemon does not care which source runs. The scan works
//! everywhere; event-driven sources (exec events, Windows process events)
//! slot in behind the same trait.

#[cfg(target_os = "linux")]
pub mod fanotify;
#[cfg(target_os = "linux")]
pub mod launch;
pub mod peer_log;
#[cfg(target_os = "linux")]
pub mod proc_connector;
#[cfg(target_os = "linux")]
mod procfs;
pub mod provenance;
pub mod scan;
#[cfg(windows)]
pub mod wmi;

use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::mpsc::Sender;

use crate::decide::{Circumstances, Decision, decide_in};
use crate::facts::{ProcessFacts, Provenance, SourceKind};
use crate::policy::SharedPolicy;
use crate::policy::identify::{Identifier, IdentifyError};

/// What a source reports: only remote tools, each with its decision.
#[derive(Debug, Clone)]
pub enum Observation {
    /// A remote tool started (or was running when the source started); the
    /// daemon carries out `decision`.
    Started {
        /// The process.
        facts: ProcessFacts,
        /// What must happen to it.
        decision: Decision,
        /// The source that saw it.
        source: SourceKind,
    },
    /// The source already enforced a decision itself, before the process
    /// could run (e.g. an exec denied by the kernel); the daemon records
    /// and tells.
    Enforced {
        /// The process that tried to start.
        facts: ProcessFacts,
        /// What was decided and done.
        decision: Decision,
    },
    /// A process's content could not be judged; the daemon records it
    /// (`identify_error`). When the error fails closed, a `Started` or
    /// `Enforced` observation for the same process follows.
    Unjudged {
        /// The process.
        facts: ProcessFacts,
        /// Why.
        error: IdentifyError,
    },
    /// Process starts may have gone unseen: the kernel's queue overflowed
    /// (fanotify's `FAN_Q_OVERFLOW`, the proc connector's `ENOBUFS`) or
    /// the daemon's queue could not take an observation. The daemon
    /// records it and decides every running process again.
    Lost {
        /// The source that lost them.
        source: SourceKind,
        /// What was lost, for the record.
        reason: String,
    },
}

/// Identification, then the decision: what is asked about every process,
/// once, in that order. Each source owns one (and so does the daemon, for
/// the re-decisions when a window closes): the content evidence it caches
/// is forgotten whenever the catalog in force changes.
pub struct Judge {
    policy: SharedPolicy,
    identifier: Identifier,
    /// The catalog generation the cached evidence was gathered under.
    catalog: u64,
    /// Where content that could not be judged is reported.
    reports: Option<Sender<Observation>>,
}

impl Judge {
    /// A judge under the policy in force, with an empty cache.
    pub fn new(policy: SharedPolicy) -> Judge {
        Judge {
            catalog: policy.current().catalog_generation,
            policy,
            identifier: Identifier::new(),
            reports: None,
        }
    }

    /// This judge, reporting content it could not judge to `events` as
    /// [`Observation::Unjudged`] (without waiting: when the queue is full
    /// the report is dropped, the decision is not).
    pub fn reporting_to(mut self, events: Sender<Observation>) -> Judge {
        self.reports = Some(events);
        self
    }

    /// Which remote tool `facts` is, if any, and whether it may run at
    /// `now`. `None`: not a remote-access tool.
    pub fn judge(&mut self, facts: &ProcessFacts, now: Timestamp) -> Option<Decision> {
        let policy = self.current();
        let found = self.identifier.identify(&policy.catalog, facts);
        let found = self.settle(facts, found)?;
        Some(decided(&policy, &found, || provenance::of_process(facts), now).with_origin())
    }

    /// As [`Judge::judge`], for a running process whose executable is open
    /// as `exe` (fanotify's event descriptor, `/proc/PID/exe` opened once):
    /// its content is read through `exe`, never re-opened by path.
    pub fn judge_exe(
        &mut self,
        facts: &ProcessFacts,
        exe: &std::fs::File,
        now: Timestamp,
    ) -> Option<Decision> {
        Some(self.judge_held_exec(facts, exe, now)?.with_origin())
    }

    /// As [`Judge::judge_exe`], for an exec the kernel holds until it is
    /// answered (fanotify): where the file came from is read before the
    /// verdict only when it can change it
    /// ([`crate::decide::weighs_provenance`]); otherwise the caller answers
    /// first and then adds the record's `origin` ([`Judged::with_origin`]).
    pub fn judge_held_exec(
        &mut self,
        facts: &ProcessFacts,
        exe: &std::fs::File,
        now: Timestamp,
    ) -> Option<Judged<impl FnOnce() -> Option<Provenance> + use<>>> {
        let policy = self.current();
        let found = self.identifier.identify_exe(&policy.catalog, facts, exe);
        let found = self.settle(facts, found)?;
        // A remote tool (rare): its own copies, so the exec can be answered
        // (and the event's descriptor given back) before they are read.
        let (facts, exe) = (facts.clone(), exe.try_clone());
        let read = move || provenance::of_open_file(&facts, exe.as_ref().ok()?);
        Some(decided(&policy, &found, read, now))
    }

    /// As [`Judge::judge_exe`], for an interpreter (`facts`) running the
    /// script open as `script` (`facts.exe` names it): the script is
    /// searched for the catalog's markers whatever its first bytes.
    pub fn judge_script(
        &mut self,
        facts: &ProcessFacts,
        script: &std::fs::File,
        now: Timestamp,
    ) -> Option<Decision> {
        let policy = self.current();
        let path = facts.exe.clone().unwrap_or_default();
        let found = self
            .identifier
            .identify_script(&policy.catalog, facts, &path, script);
        let found = self.settle(facts, found)?;
        Some(
            decided(
                &policy,
                &found,
                || provenance::of_open_file(facts, script),
                now,
            )
            .with_origin(),
        )
    }

    /// Judges a running process on the program that actually runs in it
    /// (Linux: `procfs::program_of` — the executable opened once, or the
    /// program a loader or interpreter runs, a memfd by its name), and
    /// makes `facts` name that program for the record. Where the
    /// executable cannot be opened (elsewhere, or without the right),
    /// judges `facts` as they are.
    pub fn judge_process(&mut self, facts: &mut ProcessFacts, now: Timestamp) -> Option<Decision> {
        #[cfg(target_os = "linux")]
        return self
            .judge_running(facts, now, procfs::Moment::Running)
            .decision;
        #[cfg(not(target_os = "linux"))]
        self.judge(facts, now)
    }

    /// As [`Judge::judge_process`], for a process whose exec was just
    /// reported (the proc connector): a loader it runs has not mapped its
    /// program yet, and that mapping is waited for, briefly; when the
    /// loader is held longer, [`ExecJudged::look_again`] says so.
    #[cfg(target_os = "linux")]
    pub fn judge_exec(&mut self, facts: &mut ProcessFacts, now: Timestamp) -> ExecJudged {
        self.judge_running(facts, now, procfs::Moment::JustExecuted)
    }

    /// As [`Judge::judge_exec`], looking again at a process whose loader
    /// had not mapped its program: nothing is waited for this time.
    #[cfg(target_os = "linux")]
    pub fn judge_again(&mut self, facts: &mut ProcessFacts, now: Timestamp) -> ExecJudged {
        self.judge_running(facts, now, procfs::Moment::Running)
    }

    #[cfg(target_os = "linux")]
    fn judge_running(
        &mut self,
        facts: &mut ProcessFacts,
        now: Timestamp,
        moment: procfs::Moment,
    ) -> ExecJudged {
        let Some(program) = (facts.pid != 0)
            .then(|| procfs::program_of(facts, moment))
            .flatten()
        else {
            return ExecJudged {
                decision: self.judge(facts, now),
                look_again: false,
            };
        };
        let mut decision = if program.script {
            self.judge_script(facts, &program.file, now)
        } else {
            self.judge_exe(facts, &program.file, now)
        };
        // A loader launch: what the loader mapped counts too, and the
        // strictest verdict wins (a tool a window admits at the path must
        // not cover another one mapped). Mapped files are judged by their
        // content alone: the names are the path's, already judged, and
        // would name the mapped file after it.
        let by_content = ProcessFacts {
            name: String::new(),
            exe: None,
            cmdline: Vec::new(),
            ..facts.clone()
        };
        for file in &program.mapped.files {
            if decision
                .as_ref()
                .is_some_and(|d| d.verdict == crate::decide::Verdict::Blocked)
            {
                break;
            }
            if let Some(d) = self.judge_exe(&by_content, file, now)
                && decision
                    .as_ref()
                    .is_none_or(|cur| d.verdict.strictness() > cur.verdict.strictness())
            {
                decision = Some(d);
            }
        }
        ExecJudged {
            decision,
            look_again: program.mapped.pending,
        }
    }

    /// What identification's answer means for the decision: content that
    /// could not be judged is reported, and decided as a tool no window
    /// admits when the error fails closed (a parser defect), as no tool
    /// otherwise (it was judged on what could be read).
    fn settle<'c>(
        &self,
        facts: &ProcessFacts,
        found: crate::policy::identify::Identified<'c>,
    ) -> Option<crate::policy::catalog::Identification<'c>> {
        match found {
            Ok(found) => found,
            Err(error) => {
                let treated = error.treated_as();
                if let Some(events) = &self.reports {
                    let _ = events.try_send(Observation::Unjudged {
                        facts: facts.clone(),
                        error,
                    });
                }
                treated
            }
        }
    }

    /// The policy in force, with the evidence cache forgotten if the
    /// catalog changed since it was gathered.
    fn current(&mut self) -> std::sync::Arc<crate::policy::Policy> {
        let policy = self.policy.current();
        if policy.catalog_generation != self.catalog {
            self.identifier = Identifier::new();
            self.catalog = policy.catalog_generation;
        }
        policy
    }

    /// The policy this judge decides under.
    pub fn policy(&self) -> &SharedPolicy {
        &self.policy
    }
}

/// What judging a just-executed process found.
#[derive(Debug)]
pub struct ExecJudged {
    /// The decision, if it is a remote tool.
    pub decision: Option<Decision>,
    /// A loader launch whose program was not mapped yet: it must be looked
    /// at again once it is.
    pub look_again: bool,
}

/// Sent by a source's thread when the source stopped watching.
#[derive(Debug, Clone, Copy)]
pub struct Stopped(pub SourceKind);

/// A decision, and where the file came from when the decision has not
/// read it yet.
pub struct Judged<G> {
    /// What must happen to the process. Its `origin` is filled once
    /// provenance has been read.
    pub decision: Decision,
    /// Reads the provenance, when the decision did not need it.
    pending: Option<G>,
}

impl<G: FnOnce() -> Option<Provenance>> Judged<G> {
    /// The decision with its `origin` (the download URL the file carries,
    /// for the record and the incident report), reading the provenance
    /// now if the decision did not.
    pub fn with_origin(self) -> Decision {
        let mut decision = self.decision;
        if let Some(read) = self.pending {
            decision.origin = read().and_then(|p| p.origin);
        }
        decision
    }
}

/// The decision on an identified tool, under `policy` at `now`: the last
/// step of every way of judging. Where the file came from (`provenance`,
/// read from its marks and the process's environment) is read first only
/// when it can change the verdict; otherwise it is left to
/// [`Judged::with_origin`], so an exec held by fanotify is answered
/// without it.
fn decided<G: FnOnce() -> Option<Provenance>>(
    policy: &crate::policy::Policy,
    found: &crate::policy::catalog::Identification<'_>,
    provenance: G,
    now: Timestamp,
) -> Judged<G> {
    let (read, pending) = if crate::decide::weighs_provenance(found, &policy.schedule, now) {
        (provenance(), None)
    } else {
        (None, Some(provenance))
    };
    let seen = Circumstances {
        suspension: policy.suspension.as_ref(),
        provenance: read.as_ref(),
    };
    Judged {
        decision: decide_in(found, &policy.schedule, policy.mode(), now, seen),
        pending,
    }
}

/// A watcher of process starts.
pub trait ProcessSource: Send + 'static {
    /// Which source this is, for the audit log and `varco status`.
    fn kind(&self) -> SourceKind;

    /// Why this source was chosen, for the `started` record.
    fn reason(&self) -> String;

    /// Watches until `events` is closed. Runs on its own thread: sources
    /// may block on the kernel.
    fn run(self: Box<Self>, events: Sender<Observation>);
}

/// Which source `varco run` should use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// The best one that works here, stepping down with a logged reason.
    Auto,
    /// fanotify pre-exec denial (Linux, root).
    Fanotify,
    /// Netlink exec events (Linux, root).
    ProcConnector,
    /// The portable periodic scan.
    Scan,
}

/// What source selection needs to know.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The source asked for.
    pub choice: Choice,
    /// Interval of the scan, when it is the one chosen.
    pub poll: Duration,
    /// Trials: mark only these paths' filesystems with fanotify.
    pub fanotify_only: Vec<PathBuf>,
}

/// Starts the sources allowed by `settings`, the first being the best. A
/// source asked for explicitly that cannot work here steps down to the
/// next one rather than leaving the machine unguarded; the chosen source's
/// reason says what was asked, what failed and why.
///
/// Where fanotify works, a post-exec source always runs beside it (the
/// proc connector, else the scan): fanotify decides on the file the
/// kernel is about to execute, which is not always the program that runs
/// (a loader launch, a memfd, a mount in another namespace, a path it
/// cannot resolve, events lost to an overflow); the post-exec source
/// decides every exec again on what actually runs.
pub fn select(settings: &Settings, policy: &SharedPolicy) -> Vec<Box<dyn ProcessSource>> {
    let mut notes: Vec<String> = Vec::new();
    let asked = match settings.choice {
        Choice::Auto => None,
        Choice::Fanotify => Some("fanotify"),
        Choice::ProcConnector => Some("proc-connector"),
        Choice::Scan => Some("scan"),
    };
    if let Some(a) = asked
        && a != "scan"
    {
        notes.push(format!("--source {a} was asked for"));
    }
    #[cfg(target_os = "linux")]
    {
        if matches!(settings.choice, Choice::Auto | Choice::Fanotify) {
            match fanotify::Fanotify::open(policy.clone(), &settings.fanotify_only) {
                Ok(f) => {
                    let beside = "after the exec, beside fanotify";
                    let post: Box<dyn ProcessSource> =
                        match proc_connector::ProcConnector::open(policy.clone(), beside) {
                            Ok(p) => Box::new(p.beside_fanotify()),
                            Err(e) => Box::new(scan::Scan::new(
                                policy.clone(),
                                settings.poll,
                                format!("{beside}, every {} ms: {e}", settings.poll.as_millis()),
                            )),
                        };
                    return vec![Box::new(f.without_initial_scan()), post];
                }
                Err(e) => notes.push(e.to_string()),
            }
        }
        if settings.choice != Choice::Scan {
            match proc_connector::ProcConnector::open(policy.clone(), &notes.join("; ")) {
                Ok(p) => return vec![Box::new(p)],
                Err(e) => notes.push(e.to_string()),
            }
        }
    }
    #[cfg(windows)]
    {
        if settings.choice != Choice::Scan {
            match wmi::WmiEvents::probe(policy.clone()) {
                Ok(events) => return vec![Box::new(events)],
                Err(why) => notes.push(why),
            }
        }
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        if settings.choice != Choice::Scan {
            notes.push("no event source on this platform yet".into());
        }
    }
    let reason = if settings.choice == Choice::Scan {
        format!(
            "chosen with --source scan, every {} ms",
            settings.poll.as_millis()
        )
    } else {
        format!(
            "fallback, every {} ms: {}",
            settings.poll.as_millis(),
            notes.join("; ")
        )
    };
    vec![Box::new(scan::Scan::new(
        policy.clone(),
        settings.poll,
        reason,
    ))]
}

/// Which event sources would work here now, for `varco status`: each
/// source's name and, when it cannot run, why. Probing opens and closes
/// the kernel interface without marking or subscribing to anything.
pub fn availability() -> Vec<(&'static str, Result<(), String>)> {
    #[cfg(not(windows))]
    let mut out = Vec::new();
    #[cfg(target_os = "linux")]
    {
        out.push((
            "fanotify",
            crate::sys::fanotify::Group::new()
                .map(|_| ())
                .map_err(|e| format!("{e} (needs root and CONFIG_FANOTIFY_ACCESS_PERMISSIONS)")),
        ));
        out.push((
            "proc-connector",
            ::proc_connector::ProcConnector::new()
                .map(|_| ())
                .map_err(|e| {
                    format!("{e} (needs the initial network namespace and CONFIG_PROC_EVENTS)")
                }),
        ));
    }
    #[cfg(windows)]
    let mut out = vec![("wmi", wmi::WmiEvents::available())];
    out.push(("scan", Ok(())));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::Verdict;
    use crate::policy::Policy;
    use crate::policy::catalog::Catalog;
    use crate::policy::identify::UNJUDGED_ID;
    use crate::policy::identify::tests::{Dir, PANIC_TRIGGER};

    /// A parser defect on one file: that exec is decided as a tool no
    /// window admits (never allowed unjudged), and reported for the record.
    #[test]
    fn content_that_breaks_a_parser_is_reported_and_decided_as_blocked() {
        let dir = Dir::new("judge-panic");
        let path = dir.0.join("strano.exe");
        std::fs::write(&path, PANIC_TRIGGER).unwrap();
        let policy = SharedPolicy::new(Policy::fail_closed(Catalog::embedded().unwrap(), None));
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let mut judge = Judge::new(policy).reporting_to(tx);
        let facts = ProcessFacts::of_file(&path);
        let decision = judge.judge(&facts, Timestamp::now()).expect("decided");
        assert_eq!(decision.verdict, Verdict::Blocked);
        assert_eq!(decision.tool_id, UNJUDGED_ID);
        match rx.try_recv() {
            Ok(Observation::Unjudged { facts: f, error }) => {
                assert_eq!(f, facts);
                assert!(error.fails_closed(), "{error}");
            }
            other => panic!("no report: {other:?}"),
        }
    }

    /// Damage that hides part of a file is reported, and the file judged
    /// on what could be read: here, nothing names a tool.
    #[test]
    fn damaged_content_is_reported_and_judged_on_what_could_be_read() {
        let dir = Dir::new("judge-damaged");
        let path = dir.0.join("rotto.exe");
        // A PE whose resource directory points outside the file.
        std::fs::write(
            &path,
            crate::policy::identify::tests::pe_with_broken_resources(),
        )
        .unwrap();
        let policy = SharedPolicy::new(Policy::fail_closed(Catalog::embedded().unwrap(), None));
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let mut judge = Judge::new(policy).reporting_to(tx);
        assert_eq!(
            judge.judge(&ProcessFacts::of_file(&path), Timestamp::now()),
            None
        );
        match rx.try_recv() {
            Ok(Observation::Unjudged { error, .. }) => assert!(!error.fails_closed(), "{error}"),
            other => panic!("no report: {other:?}"),
        }
    }
}
