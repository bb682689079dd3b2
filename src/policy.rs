//! The policy in force: catalog, schedule and mode, shared between the
//! event sources (which may have to answer the kernel before an exec) and
//! the daemon (which reloads the schedule).
//!
//! A reload swaps the whole policy at once, so a decision never sees half
//! of an old file and half of a new one.

use std::sync::{Arc, RwLock};

use jiff::Timestamp;

use crate::catalog::{Catalog, Evidence};
use crate::decide::{Decision, decide, decide_with};
use crate::process::ProcessFacts;
use crate::schedule::{Mode, Schedule};

/// Everything a decision needs besides the facts and the clock.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Known remote tools.
    pub catalog: Catalog,
    /// The approved windows in force.
    pub schedule: Schedule,
    /// Mode given on the command line, overriding the file's.
    pub mode_override: Option<Mode>,
}

impl Policy {
    /// The mode that applies: the command line's, else the file's.
    pub fn mode(&self) -> Mode {
        self.mode_override.unwrap_or(self.schedule.mode)
    }

    /// Decides on a process under this policy.
    pub fn decide(&self, facts: &ProcessFacts, now: Timestamp) -> Option<Decision> {
        decide(facts, &self.catalog, &self.schedule, self.mode(), now)
    }

    /// Decides on a process with the content evidence gathered for its
    /// file by `crate::identify` (renamed tools).
    pub fn decide_with(
        &self,
        facts: &ProcessFacts,
        evidence: &Evidence,
        now: Timestamp,
    ) -> Option<Decision> {
        decide_with(
            facts,
            evidence,
            &self.catalog,
            &self.schedule,
            self.mode(),
            now,
        )
    }
}

/// The policy, swappable while sources read it.
#[derive(Debug, Clone)]
pub struct SharedPolicy(Arc<RwLock<Arc<Policy>>>);

impl SharedPolicy {
    /// Shares `policy`.
    pub fn new(policy: Policy) -> Self {
        SharedPolicy(Arc::new(RwLock::new(Arc::new(policy))))
    }

    /// The policy in force now. Cheap: readers hold it only for a clone of
    /// the `Arc`.
    pub fn current(&self) -> Arc<Policy> {
        match self.0.read() {
            Ok(p) => Arc::clone(&p),
            // A writer never panics while holding the lock (it only swaps an
            // Arc), but if one did, the last policy is still the safest one.
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Replaces the catalog (IT's extension changed), keeping schedule and
    /// mode override. The caller re-validates the windows file against it.
    pub fn set_catalog(&self, catalog: Catalog) {
        self.swap(|p| p.catalog = catalog);
    }

    /// Replaces the schedule, keeping catalog and mode override.
    pub fn set_schedule(&self, schedule: Schedule) {
        self.swap(|p| p.schedule = schedule);
    }

    /// Installs a changed copy of the policy in one step.
    fn swap(&self, change: impl FnOnce(&mut Policy)) {
        let mut next = (*self.current()).clone();
        change(&mut next);
        let next = Arc::new(next);
        match self.0.write() {
            Ok(mut p) => *p = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }
}
