//! The audit log: one JSON object per line, appended, never truncated.
//!
//! Records are written by a thread of their own, so stopping a tool never
//! waits for a disk. Each line is flushed as soon as it is written: after a
//! crash, what was decided is on disk.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::catalog::MatchedBy;
use crate::schedule::Mode;

/// What a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A remote tool ran inside a window.
    Allowed,
    /// A remote tool was stopped (or refused before it started).
    Blocked,
    /// A remote tool runs outside every window in alert mode.
    Alerted,
    /// The windows file is missing, unreadable, invalid or untrusted.
    ConfigError,
    /// An edited windows file was loaded and is now in force.
    ConfigReloaded,
    /// The daemon started.
    Started,
    /// The daemon stopped.
    Stopped,
}

/// One line of the audit log. The first fields are always present (null
/// when they do not apply), so log tools can rely on them.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// When, RFC 3339 with the local offset.
    pub time: String,
    /// What happened.
    pub event: Event,
    /// Catalog id of the tool.
    pub tool: Option<String>,
    /// Its process id.
    pub pid: Option<u32>,
    /// Its executable path.
    pub exe: Option<String>,
    /// The account it ran as.
    pub user: Option<String>,
    /// The window that admitted it.
    pub window: Option<String>,
    /// The technician announced for that window.
    pub technician: Option<String>,
    /// The mode in force.
    pub mode: Mode,
    /// The workstation.
    pub host: Option<String>,
    /// How the tool was recognised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_by: Option<MatchedBy>,
    /// The tool's display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// The full command line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<String>,
    /// What enforcement achieved (e.g. "stopped 3 processes").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Why (config errors, re-decisions when a window closes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// True when the tool was refused before it ran a single instruction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before_start: Option<bool>,
    /// The event source that saw it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The windows file in use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// varco's version, on `started`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// SHA-256 of the executable, computed by varco right after the
    /// decision (for the incident report: identifies the exact file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exe_sha256: Option<String>,
    /// Whether the operator was shown a notification for this record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notified: Option<bool>,
    /// Why the operator was not told (no agent, no notification server,
    /// rate limit, notes for admitted tools off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_notified: Option<String>,
    /// Notifications for this tool held back by the rate limit since the
    /// previous one shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_back: Option<u32>,
}

impl Record {
    /// A record of `event` at `now`, shown in `tz`, with every optional
    /// field empty.
    pub fn new(event: Event, now: Timestamp, tz: &TimeZone, mode: Mode) -> Record {
        Record {
            time: rfc3339(now, tz),
            event,
            tool: None,
            pid: None,
            exe: None,
            user: None,
            window: None,
            technician: None,
            mode,
            host: sysinfo::System::host_name().ok(),
            matched_by: None,
            tool_name: None,
            cmdline: None,
            outcome: None,
            reason: None,
            before_start: None,
            source: None,
            config: None,
            version: None,
            exe_sha256: None,
            notified: None,
            not_notified: None,
            held_back: None,
        }
    }
}

/// `now` as RFC 3339 with the offset of `tz`, millisecond precision.
pub fn rfc3339(now: Timestamp, tz: &TimeZone) -> String {
    now.to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string()
}

/// Somewhere audit records go besides (or instead of) the file: syslog,
/// the Windows Event Log. Called on the audit thread, never on the kill
/// path; a sink that talks to the network must not block here (queue and
/// send from a thread of its own).
pub trait AuditSink: Send {
    /// Delivers one record; an error is logged, never fatal.
    fn write(&mut self, record: &Record, line: &str) -> io::Result<()>;

    /// Names the sink in error messages.
    fn name(&self) -> String;

    /// Finishes pending work before the daemon exits (the log is closing).
    fn flush(&mut self) {}
}

/// The JSON-lines file (or standard error when the file cannot be opened).
struct LineSink {
    out: Box<dyn Write + Send>,
    name: String,
}

impl AuditSink for LineSink {
    fn write(&mut self, _record: &Record, line: &str) -> io::Result<()> {
        self.out.write_all(line.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }

    fn name(&self) -> String {
        self.name.clone()
    }
}

/// A running audit writer.
pub struct AuditLog {
    tx: Option<mpsc::Sender<Record>>,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
}

impl AuditLog {
    /// Opens (creating if needed) the log at `path` for appending, and
    /// also delivers every record to `extra` sinks.
    pub fn open(path: &Path, extra: Vec<Box<dyn AuditSink>>) -> io::Result<AuditLog> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = open_append(path)?;
        let name = path.display().to_string();
        Self::start(
            Box::new(LineSink {
                out: Box::new(file),
                name,
            }),
            extra,
            path.to_path_buf(),
        )
    }

    /// A log that writes to standard error, for when the file cannot be
    /// opened: the service manager keeps what a daemon prints.
    pub fn stderr(extra: Vec<Box<dyn AuditSink>>) -> io::Result<AuditLog> {
        let sink = LineSink {
            out: Box::new(io::stderr()),
            name: "standard error".into(),
        };
        Self::start(Box::new(sink), extra, PathBuf::from("<stderr>"))
    }

    fn start(
        main: Box<dyn AuditSink>,
        extra: Vec<Box<dyn AuditSink>>,
        path: PathBuf,
    ) -> io::Result<AuditLog> {
        let (tx, rx) = mpsc::channel::<Record>();
        let mut sinks = vec![main];
        sinks.extend(extra);
        let thread = std::thread::Builder::new()
            .name("varco-audit".into())
            .spawn(move || write_loop(sinks, rx))?;
        Ok(AuditLog {
            tx: Some(tx),
            thread: Some(thread),
            path,
        })
    }

    /// Where the log file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues a record; returns at once.
    pub fn record(&self, record: Record) {
        if let Some(tx) = &self.tx {
            AuditHandle(tx.clone()).record(record);
        }
    }

    /// A handle that queues records from another task, e.g. once the
    /// operator has (or has not) been told.
    pub fn handle(&self) -> Option<AuditHandle> {
        self.tx.clone().map(AuditHandle)
    }

    /// Writes every queued record and closes the sinks.
    pub fn close(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Queues records on a running [`AuditLog`] from elsewhere.
#[derive(Debug, Clone)]
pub struct AuditHandle(mpsc::Sender<Record>);

impl AuditHandle {
    /// Queues a record; returns at once.
    pub fn record(&self, record: Record) {
        if self.0.send(record).is_err() {
            tracing::error!("audit writer has stopped; record lost");
        }
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Readable by the owner and its group (IT), not by every user.
        opts.mode(0o640);
    }
    opts.open(path)
}

fn write_loop(mut sinks: Vec<Box<dyn AuditSink>>, rx: mpsc::Receiver<Record>) {
    for record in rx {
        let line = match serde_json::to_string(&record) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("cannot encode an audit record: {e}");
                continue;
            }
        };
        for sink in &mut sinks {
            if let Err(e) = sink.write(&record, &line) {
                // The record still reaches the service log, so it is not lost.
                tracing::error!(
                    "cannot write the audit record to {}: {e}; record: {line}",
                    sink.name()
                );
            }
        }
    }
    for sink in &mut sinks {
        sink.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_json_lines_with_the_required_fields() {
        let dir = std::env::temp_dir().join(format!("varco-audit-{}", std::process::id()));
        let path = dir.join("audit.jsonl");
        let _ = std::fs::remove_file(&path);
        let tz = TimeZone::get("Europe/Rome").unwrap();
        let now: Timestamp = "2025-11-26T13:30:00Z".parse().unwrap();
        for _ in 0..2 {
            let log = AuditLog::open(&path, Vec::new()).unwrap();
            let mut r = Record::new(Event::Blocked, now, &tz, Mode::Block);
            r.tool = Some("anydesk".into());
            r.pid = Some(42);
            log.record(r);
            log.close();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "appended, not truncated");
        let r = &lines[0];
        assert_eq!(r["time"], "2025-11-26T14:30:00.000+01:00");
        assert_eq!(r["event"], "blocked");
        assert_eq!(r["tool"], "anydesk");
        assert_eq!(r["mode"], "block");
        for key in ["pid", "exe", "user", "window", "technician"] {
            assert!(r.get(key).is_some(), "{key} always present");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
