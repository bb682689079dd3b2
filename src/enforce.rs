//! Stopping a tool: the one place where a decision becomes a kill.
//!
//! Kept apart so it can be audited on its own: it stops exactly the
//! process that was decided on (pid and start time) and its descendants.

use crate::process::ProcessFacts;
use crate::sys::{self, KillError};

/// What an attempt to stop a tool achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The tool and this many processes in its tree were killed.
    Stopped(usize),
    /// It had already exited.
    AlreadyGone,
    /// It could not be stopped: it is still running.
    Failed(String),
}

impl Outcome {
    /// Whether the tool is no longer running.
    pub fn is_stopped(&self) -> bool {
        !matches!(self, Outcome::Failed(_))
    }

    /// How the audit log says it.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Stopped(n) => format!("stopped {n} process(es)"),
            Outcome::AlreadyGone => "already exited".into(),
            Outcome::Failed(why) => format!("NOT stopped: {why}"),
        }
    }
}

/// Stops the process described by `facts` and its whole tree.
pub fn stop(facts: &ProcessFacts) -> Outcome {
    match sys::kill_tree(facts.pid, facts.start_marker) {
        Ok(k) => Outcome::Stopped(k.processes),
        Err(KillError::Gone) | Err(KillError::Reused) => Outcome::AlreadyGone,
        Err(e) => Outcome::Failed(e.to_string()),
    }
}
