//! varco's integration tests, in one binary (as ripgrep keeps them): each
//! module drives the real `varco` binary against real processes and real
//! programs; `support` is the harness they share (scratch folders, the
//! daemon, fake tools, reading the audit log).

mod support;

mod audit;
#[cfg(target_os = "linux")]
mod bypass;
mod catalog_data;
mod cli;
mod desktop;
mod enforce;
mod fetch;
mod hardening;
mod identify;
#[cfg(target_os = "linux")]
mod linux_servers;
mod operator;
mod packaging;
mod pipeline;
mod report;
mod sources;
mod syslog;
mod trust;
mod windows;
