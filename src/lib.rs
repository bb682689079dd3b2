//! varco: a remote-access gatekeeper for the workstations of Italian
//! municipal registry offices (ANPR).
//!
//! Fraudsters phone registry operators posing as technicians and ask them
//! to accept a remote-desktop connection. varco lets remote-access tools
//! run only inside maintenance windows agreed in advance with the
//! contracted IT company, and stops (or reports) them otherwise.
//!
//! The flow, one folder per role (see `docs/ARCHITECTURE.md`):
//!
//! ```text
//! source ──facts──▶ policy::identify ──what it is──▶ decide ──verdict──▶ effect
//! (what starts)     (catalog: name, content)        (windows, now)      (stop, audit,
//!                                                                          notify, syslog)
//! ```
//!
//! [`source`] reports process starts as [`facts::ProcessFacts`];
//! [`policy::identify`] says which remote tool a process is, if any;
//! [`decide::decide`] says whether it may run now under the windows file;
//! [`effect`] carries the verdict out and records it; [`agent`] shows it in
//! the operator's session. [`daemon`] only wires these together and
//! [`cli`] parses the command line. Only [`sys`] touches the OS directly.

#![deny(unsafe_code)]

pub mod agent;
pub mod cli;
pub mod control;
pub mod daemon;
pub mod decide;
pub mod effect;
pub mod facts;
pub mod messages;
pub mod policy;
pub mod report;
pub mod service;
pub mod source;
#[allow(unsafe_code)] // the OS layer: every block carries a SAFETY comment
pub mod sys;
