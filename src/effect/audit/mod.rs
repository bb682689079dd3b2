//! The audit log: one JSON object per line ([`Record`]), appended, never
//! truncated.
//!
//! Records are written by a thread of their own, so stopping a tool never
//! waits for a disk. Each line is flushed as soon as it is written: after a
//! crash, what was decided is on disk.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

pub mod fingerprint;
mod record;

pub use record::{Event, Record, RecordId, RecordIds, RecordTime, parse_all};

/// Where the audit log goes by default: a system folder for a privileged
/// daemon, the user's data folder otherwise.
pub fn default_path() -> PathBuf {
    #[cfg(windows)]
    if crate::sys::is_administrator()
        && let Some(dir) = crate::policy::files::system_dir()
    {
        return dir.join("audit.jsonl");
    }
    #[cfg(not(windows))]
    if crate::sys::is_privileged() {
        return PathBuf::from("/var/log/varco/audit.jsonl");
    }
    directories::ProjectDirs::from("it", "varco", "varco")
        .map(|d| d.data_dir().join("audit.jsonl"))
        .unwrap_or_else(|| PathBuf::from("varco-audit.jsonl"))
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
    use crate::policy::schedule::Mode;
    use jiff::Timestamp;
    use jiff::tz::TimeZone;

    #[test]
    fn appends_records_that_read_back() {
        let dir = std::env::temp_dir().join(format!("varco-audit-{}", std::process::id()));
        let path = dir.join("audit.jsonl");
        let _ = std::fs::remove_file(&path);
        let tz = TimeZone::get("Europe/Rome").unwrap();
        let now: Timestamp = "2025-11-26T13:30:00Z".parse().unwrap();
        let mut written = Vec::new();
        for pid in [42, 43] {
            let log = AuditLog::open(&path, Vec::new()).unwrap();
            let mut r = Record::new(Event::Blocked, now, &tz, Mode::Block);
            r.tool = Some("anydesk".into());
            r.pid = Some(pid);
            written.push(r.clone());
            log.record(r);
            log.close();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let read: Vec<Record> = parse_all(&text).collect();
        assert_eq!(
            read, written,
            "appended, not truncated, and read back whole"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
