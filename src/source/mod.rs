//! Where process starts come from.
//!
//! Each source watches the system its own way and reports what it saw as
//! [`Observation`]s on one channel, so the daemon does not care which one
//! runs. The scan works everywhere; event-driven sources (exec events,
//! Windows process events) slot in behind the same trait.

pub mod scan;
#[cfg(windows)]
pub mod wmi;

use std::time::Duration;

use tokio::sync::mpsc::Sender;

use crate::decide::Decision;
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

/// The best source this platform offers, with the scan (every `poll`) as
/// the fallback; the chosen source's `reason` says why.
pub fn platform_default(poll: Duration) -> Box<dyn ProcessSource> {
    #[cfg(windows)]
    {
        match wmi::WmiEvents::probe() {
            Ok(events) => Box::new(events),
            Err(why) => {
                tracing::warn!("{why}; falling back to the process scan");
                Box::new(scan::Scan::new(poll, why))
            }
        }
    }
    #[cfg(not(windows))]
    {
        Box::new(scan::Scan::new(
            poll,
            "portable process scan (no event source in this build)",
        ))
    }
}
