//! The incident report the running enforcer keeps next to the audit log,
//! so the notification can say where it is: nobody has to look for logs
//! while under pressure.

use std::io;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::{AUTO_DAYS, AUTO_NAME, Readers, Report};
use crate::effect::audit::{AuditSink, Event, Record};
use crate::policy::catalog::Catalog;
use crate::policy::files::{ConfigSource, KeySource, Trust};

/// Keeps `rapporto-incidente.md` and `.html` next to the audit log up to
/// date after every blocked or alerted event (and what follows one: the
/// `notice` and `fingerprint` records), covering the last week. An
/// audit sink, so it runs after the line is on disk and never on the kill
/// path. The report is rebuilt on a thread of its own, at most once per
/// [`AUTO_COALESCE`]: a tool restarting in a loop (or a storm of execs)
/// costs one rebuild, not one per event, and the last event is always in.
#[derive(Clone)]
pub struct AutoReport {
    audit_log: PathBuf,
    wake: std::sync::mpsc::Sender<Wake>,
}

/// What the rebuilder is told.
enum Wake {
    /// A blocked or alerted event was recorded.
    Dirty,
    /// The daemon is stopping: write what is pending, then answer.
    Flush(std::sync::mpsc::Sender<()>),
}

/// How long the rebuilder waits for more events before writing.
pub const AUTO_COALESCE: std::time::Duration = std::time::Duration::from_secs(1);

impl AutoReport {
    /// The report kept for the audit log at `audit_log`.
    pub fn new(audit_log: &Path, config: ConfigSource, key: Option<KeySource>) -> AutoReport {
        let (tx, wake) = std::sync::mpsc::channel::<Wake>();
        let log = audit_log.to_path_buf();
        let html = html_path_for(audit_log);
        let _ = std::thread::Builder::new()
            .name("varco-report".into())
            .spawn(move || rebuild_loop(&log, &config, key.as_ref(), &html, &wake));
        AutoReport {
            audit_log: audit_log.to_path_buf(),
            wake: tx,
        }
    }

    /// Where the HTML report is kept.
    pub fn html_path(&self) -> PathBuf {
        html_path_for(&self.audit_log)
    }

    /// What the notification says: where the report is.
    pub fn hint(&self) -> String {
        self.html_path().display().to_string()
    }
}

fn html_path_for(audit_log: &Path) -> PathBuf {
    audit_log
        .parent()
        .unwrap_or(Path::new("."))
        .join(AUTO_NAME)
        .with_extension("html")
}

/// Waits for events, lets a burst settle, then rebuilds once. Ends when
/// every [`AutoReport`] handle is gone.
fn rebuild_loop(
    audit_log: &Path,
    config: &ConfigSource,
    key: Option<&KeySource>,
    html: &Path,
    wake: &std::sync::mpsc::Receiver<Wake>,
) {
    let Ok(catalog) = Catalog::embedded() else {
        return;
    };
    let build = || {
        let now = Timestamp::now();
        let since = now - jiff::SignedDuration::from_hours(24 * AUTO_DAYS);
        // The windows are listed only as varco trusts them (signed, when
        // IT installed a key); with a key that cannot be read, none is in
        // force, and none is listed.
        let (config, trust) = match KeySource::trust(key, crate::sys::is_privileged()) {
            Ok(t) => (config.clone(), t),
            Err(_) => (ConfigSource::EmbeddedDefault, Trust::default()),
        };
        match Report::build(audit_log, &config, &catalog, &trust, Some(since), now) {
            Ok(report) => {
                if let Err(e) = report.write(html, Readers::Everyone) {
                    tracing::error!("cannot write the incident report {}: {e}", html.display());
                }
            }
            Err(e) => tracing::error!("cannot build the incident report: {e}"),
        }
    };
    while let Ok(first) = wake.recv() {
        let mut flushes = Vec::new();
        let mut dirty = false;
        let mut next = Some(first);
        // Collect the burst: what arrives within the coalescing time, for
        // at most a few rounds (a tool restarting forever must not starve
        // the report), or until someone asks for a flush.
        let deadline = std::time::Instant::now() + AUTO_COALESCE * 5;
        while let Some(w) = next.take() {
            match w {
                Wake::Dirty => dirty = true,
                Wake::Flush(ack) => flushes.push(ack),
            }
            if flushes.is_empty() && std::time::Instant::now() < deadline {
                next = wake.recv_timeout(AUTO_COALESCE).ok();
            }
        }
        if dirty {
            build();
        }
        for ack in flushes {
            let _ = ack.send(());
        }
    }
}

impl AuditSink for AutoReport {
    fn write(&mut self, record: &Record, _line: &str) -> io::Result<()> {
        if matches!(
            record.event,
            Event::Blocked | Event::Alerted | Event::Notice | Event::Fingerprint
        ) {
            self.wake
                .send(Wake::Dirty)
                .map_err(|_| io::Error::other("the report rebuilder has stopped"))?;
        }
        Ok(())
    }

    fn flush(&mut self) {
        let (ack, done) = std::sync::mpsc::channel();
        if self.wake.send(Wake::Flush(ack)).is_ok() {
            let _ = done.recv_timeout(std::time::Duration::from_secs(10));
        }
    }

    fn name(&self) -> String {
        format!("incident report {}", self.html_path().display())
    }
}
