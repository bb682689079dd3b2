//! varco: a remote-access gatekeeper for the workstations of Italian
//! municipal registry offices (ANPR).
//!
//! Fraudsters phone registry operators posing as technicians and ask them
//! to accept a remote-desktop connection. varco lets remote-access tools
//! run only inside maintenance windows agreed in advance with the
//! contracted IT company, and stops (or reports) them otherwise.
//!
//! The shape: event sources report process starts as [`process::ProcessFacts`];
//! [`decide::decide`] turns facts, the [`catalog::Catalog`] and the
//! [`schedule::Schedule`] into a [`decide::Decision`]; effects (kill,
//! audit, notify) carry it out. Only the `sys` layer touches the OS.

#![deny(unsafe_code)]

pub mod acl;
pub mod agent;
pub mod audit;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod decide;
pub mod diagnostic;
pub mod enforce;
pub mod eventlog;
pub mod identify;
pub mod messages;
pub mod notify;
pub mod policy;
pub mod process;
pub mod report;
pub mod schedule;
pub mod service;
pub mod session_agent;
pub mod source;
#[allow(unsafe_code)] // the OS layer: every block carries a SAFETY comment
pub mod sys;
pub mod syslog;
