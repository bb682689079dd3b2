//! Stopping a tool: the one place where a decision becomes a kill.
//!
//! Kept apart so it can be audited on its own: it stops exactly the
//! process that was decided on (pid and start time) and its descendants.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::facts::ProcessFacts;
use crate::sys::{self, KillError};

/// What enforcement achieved for one tool, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The tool and this many processes in its tree were killed.
    Stopped {
        /// Processes killed, the tool included.
        #[serde(rename = "stopped_processes")]
        processes: usize,
    },
    /// It had already exited.
    AlreadyExited,
    /// The kernel refused its exec: it never ran a single instruction.
    RefusedBeforeStart,
    /// It could not be stopped: it is still running.
    NotStopped {
        /// What the system said.
        #[serde(rename = "stop_error")]
        error: String,
    },
}

impl Outcome {
    /// Whether the tool is no longer running.
    pub fn is_stopped(&self) -> bool {
        !matches!(self, Outcome::NotStopped { .. })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Stopped { processes } => write!(f, "stopped {processes} process(es)"),
            Outcome::AlreadyExited => write!(f, "already exited"),
            Outcome::RefusedBeforeStart => write!(f, "refused before it started"),
            Outcome::NotStopped { error } => write!(f, "NOT stopped: {error}"),
        }
    }
}

/// Stops the process described by `facts` and its whole tree.
pub fn stop(facts: &ProcessFacts) -> Outcome {
    match sys::kill_tree(facts.pid, facts.start_marker) {
        Ok(k) => Outcome::Stopped {
            processes: k.processes,
        },
        Err(KillError::Gone) | Err(KillError::Reused) => Outcome::AlreadyExited,
        Err(e) => Outcome::NotStopped {
            error: e.to_string(),
        },
    }
}
