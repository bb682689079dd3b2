//! `varco run`: wires a process source, the decision and the effects
//! together, reloads the windows file, and stops cleanly.
//!
//! The loop holds no policy of its own. For each observation it asks the
//! policy for a decision, stops the tool first if the decision says so, and
//! only then records and notifies.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tokio::sync::mpsc;

use crate::agent;
use crate::audit::{AuditHandle, AuditLog, AuditSink, Event, Record};
use crate::catalog::{Catalog, CatalogError};
use crate::config::{self, ConfigSource, LoadError};
use crate::decide::{Decision, Verdict};
use crate::enforce::{self, Outcome};
use crate::identify::Identifier;
use crate::messages::{Lang, Notice, Texts};
use crate::notify::{self, Admission, Level, Throttle};
use crate::policy::{Policy, SharedPolicy};
use crate::process::ProcessFacts;
use crate::schedule::{Mode, Schedule};
use crate::source::{self, Choice, Observation};
use crate::sys::{self, sd_notify};

/// How often the windows file is re-read and admitted tools re-checked.
const TICK: Duration = Duration::from_secs(1);

/// What `varco run` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The windows file.
    pub config: ConfigSource,
    /// The audit log.
    pub audit_log: PathBuf,
    /// Mode from the command line, overriding the file.
    pub mode: Option<Mode>,
    /// Scan interval.
    pub poll: Duration,
    /// Who shows the operator what happened.
    pub notify: NotifyRoute,
    /// Where session agents listen (see [`agent::socket_path`]).
    pub agent_base: PathBuf,
    /// IT's catalog extension; `None`: `catalog.toml` next to the windows
    /// file, if present.
    pub catalog: Option<PathBuf>,
    /// The process source asked for.
    pub source: Choice,
    /// Trials: fanotify marks only these paths' filesystems.
    pub fanotify_only: Vec<PathBuf>,
}

/// Who shows notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyRoute {
    /// `varco run` runs in the operator's session and shows them itself.
    Session,
    /// `varco run` is a system service: the agent in the session of the
    /// process's owner shows them.
    Agent,
}

impl NotifyRoute {
    /// A Linux system service (root, no session bus) hands notices to the
    /// agents; anything else runs in a session and shows them itself. (On
    /// Windows the notify layer itself hands a service's notices to the
    /// session agents.)
    pub fn detect() -> NotifyRoute {
        if cfg!(target_os = "linux")
            && sys::is_privileged()
            && std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none()
        {
            NotifyRoute::Agent
        } else {
            NotifyRoute::Session
        }
    }
}

/// How long a notification may take before the record is written anyway
/// with `notified: false`.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(6);

/// Why the daemon could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The embedded catalog is broken (a build defect).
    #[error("the embedded catalog is invalid (this is a build defect, please report it): {0}")]
    Catalog(#[from] CatalogError),
    /// The async runtime or a thread could not start.
    #[error("cannot start: {0}")]
    Io(#[from] std::io::Error),
    /// The process source stopped: enforcement would be off.
    #[error("the process source '{0}' stopped; exiting so the service manager restarts varco")]
    SourceStopped(&'static str),
}

/// Runs until SIGTERM/SIGINT (Ctrl-C).
pub fn run(options: Options) -> Result<(), DaemonError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run_async(options, None))
}

/// Runs until SIGTERM/SIGINT or until `stop` fires (or is dropped): the
/// Windows service stops this way when the service manager asks.
pub fn run_until(
    options: Options,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<(), DaemonError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run_async(options, Some(stop)))
}

struct Daemon {
    options: Options,
    policy: SharedPolicy,
    audit: AuditLog,
    texts: Texts,
    /// The text of the windows file last seen, to notice edits.
    last_text: Option<Result<String, String>>,
    /// Tools running inside a window, re-checked when windows close.
    admitted: Vec<(ProcessFacts, Decision)>,
    source_name: &'static str,
    /// One notification per tool per minute.
    throttle: Throttle,
    /// Records waiting for their notification to be shown (or not).
    pending: tokio::task::JoinSet<()>,
    /// What the notification says about the incident report.
    report_hint: String,
    /// Where syslog forwarding goes, from the windows file.
    syslog: crate::syslog::Control,
    /// Content evidence for files not recognised by name (renamed tools),
    /// cached per file version.
    identifier: Identifier,
    /// IT's catalog extension (path, named explicitly) and the text last
    /// seen, to notice edits; the embedded catalog it extends.
    catalog_file: Option<(PathBuf, bool)>,
    last_catalog_text: Option<Result<String, String>>,
    embedded: Catalog,
}

async fn run_async(
    options: Options,
    stop: Option<tokio::sync::oneshot::Receiver<()>>,
) -> Result<(), DaemonError> {
    let embedded = Catalog::embedded()?;
    let (catalog_path, explicit) = match &options.catalog {
        Some(p) => (Some(p.clone()), true),
        None => (config::default_catalog_path(&options.config), false),
    };
    let mut catalog_error = None;
    let last_catalog_text = catalog_path
        .as_ref()
        .map(|p| config::read(p).map_err(|e| e.to_string()));
    let catalog = match &catalog_path {
        Some(p) => match config::load_catalog(&embedded, p, explicit, sys::is_privileged()) {
            Ok(c) => c,
            Err(e) => {
                catalog_error = Some(e);
                embedded.clone()
            }
        },
        None => embedded.clone(),
    };
    let (syslog, syslog_control) = crate::syslog::Syslog::new();
    let report = crate::report::AutoReport::new(&options.audit_log, options.config.clone());
    let report_hint = report.hint();
    let sinks = || -> Vec<Box<dyn AuditSink>> {
        let mut sinks: Vec<Box<dyn AuditSink>> =
            vec![Box::new(syslog.clone()), Box::new(report.clone())];
        sinks.extend(crate::eventlog::sinks());
        sinks
    };
    let audit = match AuditLog::open(&options.audit_log, sinks()) {
        Ok(a) => a,
        Err(e) => {
            // Enforcement matters more than the file: go on, and say so on
            // every record (they still reach the service log via stderr).
            tracing::error!(
                "cannot open the audit log {}: {e}; records go to the service log only — pass --audit-log FILE",
                options.audit_log.display()
            );
            AuditLog::stderr(sinks())?
        }
    };
    let policy = SharedPolicy::new(Policy {
        catalog,
        schedule: Schedule::fail_closed(),
        mode_override: options.mode,
    });
    let mut daemon = Daemon {
        policy,
        options,
        audit,
        texts: Texts::load(Lang::from_env()),
        last_text: None,
        admitted: Vec::new(),
        source_name: "none",
        throttle: Throttle::default(),
        pending: tokio::task::JoinSet::new(),
        report_hint,
        syslog: syslog_control,
        identifier: Identifier::new(),
        catalog_file: catalog_path.map(|p| (p, explicit)),
        last_catalog_text,
        embedded,
    };
    // The policy is loaded before the source starts: a source that answers
    // the kernel decides with the real windows from its first event.
    let config_error = daemon.load_initial();
    daemon
        .syslog
        .configure(&daemon.policy.current().schedule.log);
    let source = source::select(
        &source::Settings {
            choice: daemon.options.source,
            poll: daemon.options.poll,
            fanotify_only: daemon.options.fanotify_only.clone(),
        },
        &daemon.policy,
    );
    daemon.source_name = source.name();
    let (name, reason) = (source.name(), source.reason());
    // Started at once: a fanotify source has marked filesystems, and execs
    // wait for its loop.
    let (tx, mut rx) = mpsc::channel::<Observation>(4096);
    std::thread::Builder::new()
        .name(format!("varco-source-{name}"))
        .spawn(move || source.run(tx))?;
    daemon.record_started(name, &reason);
    if let Some(e) = catalog_error {
        // Only the embedded catalog is in force; windows naming tools of the
        // broken extension no longer validate, so they stay closed.
        daemon.config_error(&e);
    }
    if let Some(e) = config_error {
        daemon.config_error(&e);
    }
    // Under systemd (Type=notify): started only now, with marks in place.
    let status = format!("enforcing with {name}: {reason}");
    for state in [sd_notify::State::Status(&status), sd_notify::State::Ready] {
        if let Err(e) = sd_notify::notify(state) {
            tracing::warn!("cannot tell systemd {state:?}: {e}");
        }
    }

    let mut tick = tokio::time::interval(TICK);
    let shutdown = async move {
        match stop {
            Some(stop) => tokio::select! {
                why = shutdown_signal() => why,
                _ = stop => "stop requested by the service manager",
            },
            None => shutdown_signal().await,
        }
    };
    tokio::pin!(shutdown);
    let result = loop {
        tokio::select! {
            obs = rx.recv() => match obs {
                Some(obs) => daemon.observe(obs),
                None => break Err(DaemonError::SourceStopped(daemon.source_name)),
            },
            _ = tick.tick() => {
                // The unit's watchdog: a stuck loop gets varco restarted.
                let _ = sd_notify::notify(sd_notify::State::Watchdog);
                daemon.reload_catalog_if_changed();
                daemon.reload_if_changed();
                daemon.recheck_admitted();
            }
            Some(_) = daemon.pending.join_next(), if !daemon.pending.is_empty() => {}
            why = &mut shutdown => {
                tracing::info!("{why}: stopping");
                let _ = sd_notify::notify(sd_notify::State::Stopping);
                break Ok(());
            }
        }
    };
    // Records still waiting for a notification are written before the last.
    let _ = tokio::time::timeout(NOTIFY_TIMEOUT, async {
        while daemon.pending.join_next().await.is_some() {}
    })
    .await;
    daemon.pending.abort_all();
    let policy = daemon.policy.current();
    let mut r = Record::new(
        Event::Stopped,
        Timestamp::now(),
        &policy.schedule.timezone,
        policy.mode(),
    );
    r.reason = Some(match &result {
        Ok(()) => "signal".into(),
        Err(e) => e.to_string(),
    });
    daemon.audit.record(r);
    daemon.audit.close();
    result
}

impl Daemon {
    /// Loads the windows file at start. On any problem no window is open
    /// (block mode unless the command line says otherwise).
    fn load_initial(&mut self) -> Option<LoadError> {
        let ConfigSource::File(path) = self.options.config.clone() else {
            return None;
        };
        let text = config::read(&path).map_err(|e| e.to_string());
        self.last_text = Some(text);
        match config::load(&path, &self.policy.current().catalog, sys::is_privileged()) {
            Ok(s) => {
                self.policy.set_schedule(s);
                None
            }
            Err(e) => Some(e),
        }
    }

    /// Re-reads IT's catalog extension if it changed. A good one replaces
    /// the catalog and has the windows file validated again against it; a
    /// broken one keeps the last valid catalog and raises a config error.
    fn reload_catalog_if_changed(&mut self) {
        let Some((path, explicit)) = self.catalog_file.clone() else {
            return;
        };
        let text = config::read(&path).map_err(|e| e.to_string());
        if self.last_catalog_text.as_ref() == Some(&text) {
            return;
        }
        self.last_catalog_text = Some(text);
        match config::load_catalog(&self.embedded, &path, explicit, sys::is_privileged()) {
            Ok(catalog) => {
                tracing::info!(
                    "{}: reloaded, {} tools",
                    path.display(),
                    catalog.tools().len()
                );
                self.policy.set_catalog(catalog);
                // Cached evidence holds the old catalog's markers.
                self.identifier = Identifier::new();
                // Windows naming the extension's tools validate only now.
                self.last_text = None;
            }
            Err(e) => {
                tracing::error!("{e}");
                self.config_error_text(&format!("{e} (the last valid catalog stays in force)"));
            }
        }
    }

    /// Re-reads the windows file if it changed. A file that breaks while
    /// running keeps the last good schedule and raises a config error.
    fn reload_if_changed(&mut self) {
        let ConfigSource::File(path) = self.options.config.clone() else {
            return;
        };
        let text = config::read(&path).map_err(|e| e.to_string());
        if self.last_text.as_ref() == Some(&text) {
            return;
        }
        self.last_text = Some(text);
        match config::load(&path, &self.policy.current().catalog, sys::is_privileged()) {
            Ok(s) => {
                tracing::info!(
                    "{}: reloaded, {} window(s)",
                    path.display(),
                    s.windows.len()
                );
                self.policy.set_schedule(s);
                let p = self.policy.current();
                self.syslog.configure(&p.schedule.log);
                let mut r = Record::new(
                    Event::ConfigReloaded,
                    Timestamp::now(),
                    &p.schedule.timezone,
                    p.mode(),
                );
                r.reason = Some(format!("{} window(s) in force", p.schedule.windows.len()));
                r.config = Some(path.display().to_string());
                r.source = Some(self.source_name.to_string());
                self.audit.record(r);
            }
            Err(e) => {
                tracing::error!("{e}");
                let kept = format!("{e} (the last valid windows file stays in force)");
                self.config_error_text(&kept);
            }
        }
    }

    fn record_started(&self, name: &str, reason: &str) {
        let p = self.policy.current();
        let mut r = Record::new(
            Event::Started,
            Timestamp::now(),
            &p.schedule.timezone,
            p.mode(),
        );
        r.source = Some(name.to_string());
        r.reason = Some(reason.to_string());
        r.config = Some(self.options.config.describe());
        r.version = Some(env!("CARGO_PKG_VERSION").to_string());
        self.audit.record(r);
        tracing::info!(
            "varco {} started: source {} ({}), windows file {}, mode {}, audit log {}",
            env!("CARGO_PKG_VERSION"),
            name,
            reason,
            self.options.config.describe(),
            p.mode().as_str(),
            self.audit.path().display()
        );
    }

    fn config_error(&mut self, e: &LoadError) {
        tracing::error!("{e}");
        self.config_error_text(&e.to_string());
    }

    fn config_error_text(&mut self, reason: &str) {
        let p = self.policy.current();
        let mut r = Record::new(
            Event::ConfigError,
            Timestamp::now(),
            &p.schedule.timezone,
            p.mode(),
        );
        r.reason = Some(reason.to_string());
        r.config = Some(self.options.config.describe());
        let notice = Notice::for_config_error(reason, &p.schedule.contact);
        self.finish(r, None, Ok((notice, None)));
    }

    fn observe(&mut self, obs: Observation) {
        let now = Timestamp::now();
        match obs {
            Observation::Started(facts) => {
                let Some(decision) = self.decide_on(&facts, now) else {
                    return;
                };
                self.act(facts, decision, None, now);
            }
            Observation::Enforced { facts, decision } => {
                self.report(&facts, &decision, None, true, now);
            }
        }
    }

    /// Decides on a process: by name and path, then, for a file not
    /// recognised so, by its content (read once per file version).
    fn decide_on(&mut self, facts: &ProcessFacts, now: Timestamp) -> Option<Decision> {
        let policy = self.policy.current();
        self.identifier.decide(&policy, facts, now)
    }

    /// Carries out a decision: the kill first, then the record and the
    /// notification.
    fn act(
        &mut self,
        facts: ProcessFacts,
        decision: Decision,
        reason: Option<String>,
        now: Timestamp,
    ) {
        let outcome = (decision.verdict == Verdict::Blocked).then(|| enforce::stop(&facts));
        if let Some(Outcome::Failed(why)) = &outcome {
            tracing::error!(
                "could not stop {} (pid {}): {why}",
                decision.tool_name,
                facts.pid
            );
        }
        let mut r = self.record_for(&facts, &decision, now);
        r.outcome = outcome.as_ref().map(Outcome::describe);
        r.reason = reason;
        let still_running = outcome.as_ref().is_some_and(|o| !o.is_stopped());
        let notice = self.tell(&decision, still_running, facts.user.clone());
        self.finish(r, facts.exe.clone(), notice);
        if decision.verdict == Verdict::Allowed {
            self.admitted.push((facts, decision));
        }
    }

    /// Records and tells a decision a source already enforced.
    fn report(
        &mut self,
        facts: &ProcessFacts,
        decision: &Decision,
        reason: Option<String>,
        before_start: bool,
        now: Timestamp,
    ) {
        let mut r = self.record_for(facts, decision, now);
        r.before_start = Some(before_start);
        r.reason = reason;
        if before_start {
            r.outcome = Some("refused before it started".into());
        }
        let notice = self.tell(decision, false, facts.user.clone());
        self.finish(r, facts.exe.clone(), notice);
    }

    fn record_for(&self, facts: &ProcessFacts, d: &Decision, now: Timestamp) -> Record {
        let p = self.policy.current();
        let mut r = Record::new(event_of(d.verdict), now, &p.schedule.timezone, d.mode);
        r.tool = Some(d.tool_id.clone());
        r.tool_name = Some(d.tool_name.clone());
        r.pid = Some(facts.pid);
        r.exe = facts.exe.as_ref().map(|e| e.display().to_string());
        r.user = facts.user.clone();
        r.window = d.window.as_ref().map(|w| w.id.clone());
        r.technician = d.window.as_ref().and_then(|w| w.technician.clone());
        r.matched_by = Some(d.matched_by);
        r.cmdline = (!facts.cmdline.is_empty()).then(|| facts.cmdline.join(" "));
        r.source = Some(self.source_name.to_string());
        r
    }

    /// The notice for a decision and whose session it goes to, or why
    /// the operator is not told this time.
    fn tell(
        &mut self,
        decision: &Decision,
        still_running: bool,
        user: Option<String>,
    ) -> Result<(Notice, Option<String>), String> {
        let p = self.policy.current();
        // The kill failed: telling the operator it was stopped would be a
        // lie; tell them to close it instead.
        let verdict = if still_running {
            Verdict::Alerted
        } else {
            decision.verdict
        };
        if verdict == Verdict::Allowed && !p.schedule.notify_allowed {
            return Err("notes for admitted tools are off ([notify] allowed = false)".into());
        }
        let notice =
            Notice::for_decision(decision, verdict, &p.schedule.contact, &self.report_hint);
        Ok((notice, user))
    }

    /// Writes `r` once the operator has been told (or not), so the record
    /// says which. Runs apart from the loop: enforcement never waits for a
    /// notification. Also fingerprints the executable for the report.
    fn finish(
        &mut self,
        mut r: Record,
        exe: Option<PathBuf>,
        notice: Result<(Notice, Option<String>), String>,
    ) {
        let notice = match notice {
            Ok((n, user)) => match self
                .throttle
                .admit(&r.tool.clone().unwrap_or_default(), Instant::now())
            {
                Admission::Show { held_back } => {
                    r.held_back = (held_back > 0).then_some(held_back);
                    Ok((n, user))
                }
                Admission::HoldBack => Err(format!(
                    "rate limit: one notification per tool every {} s",
                    notify::PER_TOOL_INTERVAL.as_secs()
                )),
            },
            Err(why) => Err(why),
        };
        let Some(audit) = self.audit.handle() else {
            return;
        };
        let route = self.options.notify;
        let base = self.options.agent_base.clone();
        let texts = self.texts.clone();
        self.pending.spawn(async move {
            if let Some(exe) = exe {
                r.exe_sha256 = tokio::task::spawn_blocking(move || crate::report::sha256_of(&exe))
                    .await
                    .ok()
                    .flatten();
            }
            let told = match notice {
                Ok((n, user)) => {
                    let show = deliver(route, &base, &texts, &n, user.as_deref());
                    tokio::time::timeout(NOTIFY_TIMEOUT, show)
                        .await
                        .unwrap_or_else(|_| Err("the notification did not complete in time".into()))
                }
                Err(why) => Err(why),
            };
            r.notified = Some(told.is_ok());
            r.not_notified = told.err();
            write_record(&audit, r);
        });
    }

    /// Tools admitted by a window are decided again once it closes (or the
    /// file no longer admits them): a maintenance session does not outlive
    /// its window.
    fn recheck_admitted(&mut self) {
        if self.admitted.is_empty() {
            return;
        }
        let now = Timestamp::now();
        let admitted = std::mem::take(&mut self.admitted);
        for (facts, before) in admitted {
            if sys::start_marker(facts.pid) != Some(facts.start_marker) {
                continue; // exited
            }
            match self.decide_on(&facts, now) {
                Some(d) if d.verdict == Verdict::Allowed => self.admitted.push((facts, d)),
                Some(d) => {
                    let window = before.window.map(|w| w.id).unwrap_or_default();
                    let reason = format!("window \"{window}\" is no longer open");
                    self.act(facts, d, Some(reason), now);
                }
                None => {}
            }
        }
    }
}

fn write_record(audit: &AuditHandle, r: Record) {
    let throttled = r
        .not_notified
        .as_deref()
        .is_some_and(|w| w.starts_with("rate limit"));
    // Held back on purpose: the audit log has it; the service log stays
    // readable when a tool restarts in a loop.
    if r.notified == Some(false) && !throttled {
        tracing::warn!(
            "the operator was not told about {} ({}): {}",
            r.tool_name.as_deref().unwrap_or("the windows file"),
            serde_json::to_value(r.event)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            r.not_notified.as_deref().unwrap_or("")
        );
    }
    audit.record(r);
}

/// Shows a notice by `route`.
async fn deliver(
    route: NotifyRoute,
    base: &Path,
    texts: &Texts,
    notice: &Notice,
    user: Option<&str>,
) -> Result<(), String> {
    match route {
        NotifyRoute::Session => {
            let level = if notice.is_critical() {
                Level::Critical
            } else {
                Level::Quiet
            };
            notify::deliver(&texts.render(notice), level)
                .await
                .map_err(|e| format!("no notification server in this session: {e}"))
        }
        NotifyRoute::Agent if notice.tool.is_empty() => {
            // A windows-file problem belongs to no process: whoever is
            // logged in is told.
            match agent::broadcast(base, notice).await {
                0 => Err("no varco agent is running in any session".into()),
                _ => Ok(()),
            }
        }
        NotifyRoute::Agent => agent::send(base, user, notice).await,
    }
}

fn event_of(v: Verdict) -> Event {
    match v {
        Verdict::Allowed => Event::Allowed,
        Verdict::Blocked => Event::Blocked,
        Verdict::Alerted => Event::Alerted,
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C on Windows).
pub async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
