//! The policy in force: what IT decided, read from its files. The catalog
//! of remote-access tools, the approved-windows file (schedule), and
//! identification — what an executable *is*, by name, path and content.
//!
//! Nothing here reads a clock or starts a process: `now` is a parameter,
//! and the only I/O is reading files handed to it (IT's files, and an
//! executable being identified). [`SharedPolicy`] lets the sources read
//! the policy while the daemon swaps in a reloaded one.
//!
//! A reload swaps the whole policy at once, so a decision never sees half
//! of an old file and half of a new one.

pub mod catalog;
pub mod diagnostic;
pub mod files;
pub mod identify;
pub mod schedule;
pub mod suspension;
pub mod trust;

use std::sync::{Arc, RwLock};

use catalog::Catalog;
use schedule::{Mode, Schedule};

/// Everything a decision needs besides the facts and the clock.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Known remote tools.
    pub catalog: Catalog,
    /// The approved windows in force.
    pub schedule: Schedule,
    /// Mode given on the command line, overriding the file's.
    pub mode_override: Option<Mode>,
    /// Counts catalog replacements, so whoever caches what the catalog
    /// said about a file (content evidence) knows to forget it.
    pub catalog_generation: u64,
    /// The operator's panic, while it holds: the windows it shut admit
    /// nothing, and tools outside every window are stopped whatever the
    /// mode.
    pub suspension: Option<suspension::Suspension>,
}

impl Policy {
    /// A policy with `catalog`, no window open (fail closed) and the mode
    /// from the command line, if any.
    pub fn fail_closed(catalog: Catalog, mode_override: Option<Mode>) -> Policy {
        Policy {
            catalog,
            schedule: Schedule::fail_closed(),
            mode_override,
            catalog_generation: 0,
            suspension: None,
        }
    }
}

impl Policy {
    /// The mode that applies: the command line's, else the file's.
    pub fn mode(&self) -> Mode {
        self.mode_override.unwrap_or(self.schedule.mode)
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
        self.swap(|p| {
            p.catalog = catalog;
            p.catalog_generation += 1;
        });
    }

    /// Sets (or with `None` lifts) the operator's suspension.
    pub fn set_suspension(&self, suspension: Option<suspension::Suspension>) {
        self.swap(|p| p.suspension = suspension);
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
