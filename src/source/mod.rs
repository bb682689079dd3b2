//! Where process starts come from.
//!
//! Each source watches the system its own way and reports what it saw as
//! [`Observation`]s on one channel, so the daemon does not care which one
//! runs. The scan works everywhere; event-driven sources (exec events,
//! Windows process events) slot in behind the same trait.

#[cfg(target_os = "linux")]
pub mod fanotify;
#[cfg(target_os = "linux")]
pub mod proc_connector;
#[cfg(target_os = "linux")]
mod procfs;
pub mod scan;

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc::Sender;

use crate::decide::Decision;
use crate::policy::SharedPolicy;
use crate::process::ProcessFacts;

/// What a source reports.
#[derive(Debug, Clone)]
pub enum Observation {
    /// A process started (or was running when the source started); the
    /// daemon decides and enforces.
    Started(ProcessFacts),
    /// The source already enforced a decision itself, before the process
    /// could run (e.g. an exec denied by the kernel); the daemon records
    /// and tells.
    Enforced {
        /// The process that tried to start.
        facts: ProcessFacts,
        /// What was decided and done.
        decision: Decision,
    },
}

/// A watcher of process starts.
pub trait ProcessSource: Send + 'static {
    /// Short name for the audit log and `varco status` (e.g. "scan").
    fn name(&self) -> &'static str;

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

/// Starts the best source allowed by `settings`. A source asked for
/// explicitly that cannot work here steps down to the next one rather than
/// leaving the machine unguarded; the chosen source's reason says what was
/// asked, what failed and why.
pub fn select(settings: &Settings, policy: &SharedPolicy) -> Box<dyn ProcessSource> {
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
                Ok(f) => return Box::new(f),
                Err(e) => notes.push(e.to_string()),
            }
        }
        if settings.choice != Choice::Scan {
            match proc_connector::ProcConnector::open(policy.clone(), &notes.join("; ")) {
                Ok(p) => return Box::new(p),
                Err(e) => notes.push(e.to_string()),
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = policy;
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
    Box::new(scan::Scan::new(settings.poll, reason))
}

/// Which event sources would work here now, for `varco status`: each
/// source's name and, when it cannot run, why. Probing opens and closes
/// the kernel interface without marking or subscribing to anything.
pub fn availability() -> Vec<(&'static str, Result<(), String>)> {
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
    out.push(("scan", Ok(())));
    out
}
