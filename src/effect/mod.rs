//! Effects: what happens once a decision is made. Stopping a tool, the
//! audit log and its forwarders (syslog, the Windows Event Log), and
//! showing the operator a notification in their own session.
//!
//! Nothing here decides anything: each module carries out a value the
//! decision produced, and reports what it achieved.

pub mod audit;
pub mod eventlog;
pub mod notify;
pub mod stop;
pub mod syslog;
