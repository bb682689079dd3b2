//! The audit log: one JSON object per line ([`Record`]), appended, never
//! truncated, each line chained to the one before it ([`chain`]).
//!
//! Records are written by a thread of their own, so stopping a tool never
//! waits for a disk. Each line is flushed as soon as it is written: after a
//! crash, what was decided is on disk. That thread is the one writer, so
//! the chain is computed over exactly the bytes written, in the order
//! written; it also sends the chain head out at least every
//! [`HEAD_EVERY`] and when the log closes.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub mod chain;
pub mod fingerprint;
mod record;

use chain::Head;
pub use record::{Event, Record, RecordId, RecordIds, RecordTime, parse_all};

/// The longest the chain head goes unpublished after a record was
/// written: a log cut short shows against the last head the collector
/// received, at most this much later.
pub const HEAD_EVERY: Duration = Duration::from_secs(600);

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
        Self::open_publishing_every(path, extra, HEAD_EVERY)
    }

    /// As [`AuditLog::open`], publishing the chain head `every` so long
    /// after a record (tests use less than [`HEAD_EVERY`]).
    fn open_publishing_every(
        path: &Path,
        extra: Vec<Box<dyn AuditSink>>,
        every: Duration,
    ) -> io::Result<AuditLog> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        // Where the chain stands: the daemon goes on from the log's last
        // line (or the file it was rotated to).
        let head = chain::tail(path)?;
        let mut file = open_append(path)?;
        if head.torn {
            // A crash cut the last line short: end it, so the next record
            // starts a line of its own (and chains to the torn one).
            file.write_all(b"\n")?;
        }
        let name = path.display().to_string();
        Self::start(
            Box::new(LineSink {
                out: Box::new(file),
                name,
            }),
            extra,
            path.to_path_buf(),
            head,
            every,
        )
    }

    /// A log that writes to standard error, for when the file cannot be
    /// opened: the service manager keeps what a daemon prints.
    pub fn stderr(extra: Vec<Box<dyn AuditSink>>) -> io::Result<AuditLog> {
        let sink = LineSink {
            out: Box::new(io::stderr()),
            name: "standard error".into(),
        };
        let head = Head {
            lines: 0,
            hash: chain::GENESIS.to_string(),
            torn: false,
        };
        Self::start(
            Box::new(sink),
            extra,
            PathBuf::from("<stderr>"),
            head,
            HEAD_EVERY,
        )
    }

    fn start(
        main: Box<dyn AuditSink>,
        extra: Vec<Box<dyn AuditSink>>,
        path: PathBuf,
        head: Head,
        every: Duration,
    ) -> io::Result<AuditLog> {
        let (tx, rx) = mpsc::channel::<Record>();
        let mut sinks = vec![main];
        sinks.extend(extra);
        let thread = std::thread::Builder::new()
            .name("varco-audit".into())
            .spawn(move || write_loop(sinks, rx, head, every))?;
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

/// Writes every record it receives, in order, each chained to the line
/// before; publishes the chain head `every` after the first record since
/// the last head, and when the log closes.
fn write_loop(
    mut sinks: Vec<Box<dyn AuditSink>>,
    rx: mpsc::Receiver<Record>,
    mut head: Head,
    every: Duration,
) {
    // What the last record was written with, for the head records.
    let mut last: Option<(jiff::tz::Offset, crate::policy::schedule::Mode)> = None;
    let mut head_due: Option<Instant> = None;
    loop {
        let received = match head_due {
            Some(due) => rx.recv_timeout(due.saturating_duration_since(Instant::now())),
            None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(record) => {
                last = Some((record.time.offset, record.mode));
                write_one(&mut sinks, &mut head, record);
                head_due.get_or_insert_with(|| Instant::now() + every);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                write_head(&mut sinks, &mut head, last);
                head_due = None;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    if head_due.is_some() {
        write_head(&mut sinks, &mut head, last);
    }
    for sink in &mut sinks {
        sink.flush();
    }
}

/// Links `record` to the chain, writes it to every sink, and moves the
/// chain on to the line written.
fn write_one(sinks: &mut [Box<dyn AuditSink>], head: &mut Head, mut record: Record) {
    record.prev = Some(head.hash.clone());
    let line = match serde_json::to_string(&record) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot encode an audit record: {e}");
            return;
        }
    };
    head.hash = chain::line_hash(line.as_bytes());
    head.lines += 1;
    for sink in sinks.iter_mut() {
        if let Err(e) = sink.write(&record, &line) {
            // The record still reaches the service log, so it is not lost.
            tracing::error!(
                "cannot write the audit record to {}: {e}; record: {line}",
                sink.name()
            );
        }
    }
}

/// Publishes where the chain stands: a `chain_head` record (so it reaches
/// syslog and the Event Log like every record, and stands in the log
/// itself), and a line in the service log (the journal).
fn write_head(
    sinks: &mut [Box<dyn AuditSink>],
    head: &mut Head,
    last: Option<(jiff::tz::Offset, crate::policy::schedule::Mode)>,
) {
    let (offset, mode) = last.unwrap_or((jiff::tz::Offset::UTC, Default::default()));
    let mut r = Record::new(
        Event::ChainHead,
        jiff::Timestamp::now(),
        &jiff::tz::TimeZone::fixed(offset),
        mode,
    );
    r.chain_lines = Some(head.lines);
    r.chain_head = Some(head.hash.clone());
    tracing::info!(
        "audit chain head: {} line(s), the last with sha256 {}",
        head.lines,
        head.hash
    );
    write_one(sinks, head, r);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::schedule::Mode;
    use jiff::Timestamp;
    use jiff::tz::TimeZone;

    /// A collector holds a head at most `every` after any record, while
    /// the daemon runs, not only when it stops; a quiet log sends none.
    #[test]
    fn the_head_follows_a_record_while_the_log_stays_open() {
        let dir = std::env::temp_dir().join(format!("varco-audit-head-{}", std::process::id()));
        let path = dir.join("audit.jsonl");
        let _ = std::fs::remove_file(&path);
        let tz = TimeZone::UTC;
        let every = Duration::from_millis(200);
        let log = AuditLog::open_publishing_every(&path, Vec::new(), every).unwrap();
        let heads = || {
            parse_all(&std::fs::read_to_string(&path).unwrap_or_default())
                .filter(|r| r.event == Event::ChainHead)
                .count()
        };
        std::thread::sleep(every * 3);
        assert_eq!(heads(), 0, "a head with nothing new to cover");
        log.record(Record::new(
            Event::Blocked,
            Timestamp::now(),
            &tz,
            Mode::Block,
        ));
        let deadline = std::time::Instant::now() + every * 20;
        while heads() == 0 {
            assert!(std::time::Instant::now() < deadline, "no head while open");
            std::thread::sleep(Duration::from_millis(20));
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let last = parse_all(&text).last().unwrap();
        assert_eq!(last.chain_lines, Some(1), "{text}");
        let first = text.lines().next().unwrap();
        assert_eq!(
            last.chain_head.as_deref(),
            Some(chain::line_hash(first.as_bytes()).as_str()),
            "{text}"
        );
        // One head per quiet spell, not one per tick.
        std::thread::sleep(every * 3);
        assert_eq!(heads(), 1);
        log.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

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
        let read: Vec<Record> = parse_all(&text)
            .filter(|r| r.event != Event::ChainHead)
            .map(|r| Record { prev: None, ..r })
            .collect();
        assert_eq!(
            read, written,
            "appended, not truncated, and read back whole"
        );
        // Each run closed with its head, and the second run went on from
        // the first one's last line.
        let files = [chain::Checked {
            name: "audit.jsonl",
            bytes: text.as_bytes(),
        }];
        let intact = chain::verify(&files, None).unwrap();
        assert_eq!((intact.records, intact.start), (4, chain::Start::New));
        let heads: Vec<Record> = parse_all(&text)
            .filter(|r| r.event == Event::ChainHead)
            .collect();
        assert_eq!(heads.len(), 2);
        assert_eq!(heads[1].chain_lines, Some(3));
        let third = text.lines().nth(2).unwrap();
        assert_eq!(
            heads[1].chain_head,
            Some(chain::line_hash(third.as_bytes()))
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
