//! Telling what happened: the audit record (and through it syslog, the
//! Event Log and the incident report) and the operator's notification.
//!
//! Runs apart from enforcement: the kill has happened before anything
//! here is called, and a notification is shown on a task of its own, so a
//! slow agent or notification server never delays the next decision.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::agent;
use crate::control::Caller;
use crate::decide::{Decision, Verdict};
use crate::effect::audit::{AuditHandle, AuditLog, Event, Record};
use crate::effect::notify::{self, Admission, Level, NotShown, Throttle};
use crate::effect::stop::Outcome;
use crate::facts::{ProcessFacts, SourceKind};
use crate::messages::{Notice, Texts};
use crate::policy::Policy;

/// How long a notification may take before the record is written anyway
/// with `notified: false`.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(6);

/// Who shows notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyRoute {
    /// `varco run` runs in the operator's session and shows them itself.
    Session,
    /// `varco run` is a system service: the agent in the operator's
    /// session shows them.
    Agent,
}

impl NotifyRoute {
    /// A system service (root without a session bus on Linux; LocalSystem
    /// on Windows) hands notices to the agents; anything else runs in a
    /// session and shows them itself.
    pub fn detect() -> NotifyRoute {
        #[cfg(windows)]
        let service = crate::sys::is_local_system();
        #[cfg(not(windows))]
        let service =
            crate::sys::is_privileged() && std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none();
        if service {
            NotifyRoute::Agent
        } else {
            NotifyRoute::Session
        }
    }
}

/// Whose session a notice goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audience {
    /// The session of the process's owner (uid, when known).
    Owner(Option<u32>),
    /// Every session: a problem with IT's files concerns whoever is there.
    Everyone,
}

/// What a record of a decision says beyond the decision itself.
#[derive(Debug, Default)]
pub struct Told {
    /// What enforcement achieved, when it acted.
    pub outcome: Option<Outcome>,
    /// Why this decision was taken now (e.g. a window closed).
    pub reason: Option<String>,
    /// The source refused the exec itself.
    pub before_start: bool,
    /// The operator is told about this tool in one summary (the panic
    /// confirmation), not by a notice of its own.
    pub in_summary: bool,
}

/// What a panic did, for its record.
pub struct PanicDone {
    /// Display names of the tools stopped.
    pub stopped: Vec<String>,
    /// The windows now suspended.
    pub windows: Vec<String>,
    /// When the suspension lapses by itself.
    pub until: Option<Timestamp>,
}

/// A tool stopped because of who connected to it.
pub struct PeerStop<'a> {
    /// The process.
    pub facts: &'a ProcessFacts,
    /// The decision that had admitted it.
    pub decision: &'a Decision,
    /// The peer's ID.
    pub peer_id: &'a str,
    /// The name the peer gave itself.
    pub alias: Option<&'a str>,
    /// What stopping it achieved.
    pub outcome: Outcome,
}

/// The audit log and the operator's notifications.
pub struct Teller {
    audit: AuditLog,
    route: NotifyRoute,
    agent_base: PathBuf,
    texts: Texts,
    /// One notification per tool per minute.
    throttle: Throttle,
    /// Records waiting for their notification to be shown (or not).
    pending: tokio::task::JoinSet<()>,
    /// What the notification says about the incident report.
    report_hint: String,
    /// The source watching, named on every record of a decision.
    pub source: Option<SourceKind>,
    /// The windows file, as records name it.
    config: String,
}

impl Teller {
    /// A teller writing to `audit`, showing notices by `route`.
    pub fn new(
        audit: AuditLog,
        route: NotifyRoute,
        agent_base: &Path,
        texts: Texts,
        report_hint: String,
        config: String,
    ) -> Teller {
        Teller {
            audit,
            route,
            agent_base: agent_base.to_path_buf(),
            texts,
            throttle: Throttle::default(),
            pending: tokio::task::JoinSet::new(),
            report_hint,
            source: None,
            config,
        }
    }

    /// A record of `event` at `now` under `policy`, every other field empty.
    pub fn blank(&self, event: Event, policy: &Policy, now: Timestamp) -> Record {
        Record::new(event, now, &policy.schedule.timezone, policy.mode())
    }

    /// Writes a record that needs no notification.
    pub fn record(&self, r: Record) {
        self.audit.record(r);
    }

    /// Where the audit log is.
    pub fn audit_path(&self) -> &Path {
        self.audit.path()
    }

    /// The daemon started, watching with `source` for `reason`.
    pub fn started(&mut self, policy: &Policy, source: SourceKind, reason: &str) {
        self.source = Some(source);
        let mut r = self.blank(Event::Started, policy, Timestamp::now());
        r.source = Some(source);
        r.reason = Some(reason.to_string());
        r.config = Some(self.config.clone());
        r.version = Some(env!("CARGO_PKG_VERSION").to_string());
        self.record(r);
        tracing::info!(
            "varco {} started: source {} ({}), windows file {}, mode {}, audit log {}",
            env!("CARGO_PKG_VERSION"),
            source.as_str(),
            reason,
            self.config,
            policy.mode().as_str(),
            self.audit.path().display()
        );
    }

    /// An edited windows file is in force.
    pub fn reloaded(&self, policy: &Policy, path: &Path, windows: usize) {
        let mut r = self.blank(Event::ConfigReloaded, policy, Timestamp::now());
        r.reason = Some(format!("{windows} window(s) in force"));
        r.config = Some(path.display().to_string());
        r.source = self.source;
        self.record(r);
    }

    /// A file IT wrote cannot be used: recorded, and whoever is at the
    /// workstation is told no remote access is admitted until IT fixes it.
    pub fn config_error(&mut self, policy: &Policy, reason: &str) {
        let mut r = self.blank(Event::ConfigError, policy, Timestamp::now());
        r.reason = Some(reason.to_string());
        r.config = Some(self.config.clone());
        let notice = Notice::for_config_error(reason, &policy.schedule.contact);
        self.finish(r, None, Ok((notice, Audience::Everyone)));
    }

    /// Records a decision on `facts` and tells the operator. `told` says
    /// what enforcement achieved; a tool that could not be stopped is told
    /// as running (the operator must close it), never as stopped.
    pub fn decision(
        &mut self,
        policy: &Policy,
        facts: &ProcessFacts,
        decision: &Decision,
        told: Told,
        now: Timestamp,
    ) {
        let mut r = Record::new(
            event_of(decision.verdict),
            now,
            &policy.schedule.timezone,
            decision.mode,
        );
        r.tool = Some(decision.tool_id.clone());
        r.tool_name = Some(decision.tool_name.clone());
        r.pid = Some(facts.pid);
        r.exe = facts.exe.as_ref().map(|e| e.display().to_string());
        r.user = facts.user.clone();
        r.uid = facts.uid;
        r.window = decision.window.as_ref().map(|w| w.id.clone());
        r.technician = decision.window.as_ref().and_then(|w| w.technician.clone());
        r.matched_by = Some(decision.matched_by);
        r.cmdline = (!facts.cmdline.is_empty()).then(|| facts.cmdline.join(" "));
        r.source = self.source;
        r.origin = decision.origin.clone();
        r.reason = told.reason.or_else(|| {
            decision
                .refusal
                .as_ref()
                .map(|why| why.describe(decision.origin.as_deref()))
        });
        let still_running = told.outcome.as_ref().is_some_and(|o| !o.is_stopped());
        if told.before_start {
            r.before_start = Some(true);
            r.outcome = Some(Outcome::RefusedBeforeStart);
        } else {
            r.outcome = told.outcome;
        }
        let verdict = if still_running {
            Verdict::Alerted
        } else {
            decision.verdict
        };
        let notice = if verdict == Verdict::Allowed && !policy.schedule.notify_allowed {
            Err(NotShown::AllowedNotesOff)
        } else if told.in_summary {
            Err(NotShown::InSummary)
        } else {
            Ok((
                Notice::for_decision(
                    decision,
                    verdict,
                    &policy.schedule.contact,
                    &self.report_hint,
                ),
                Audience::Owner(facts.uid),
            ))
        };
        self.finish(r, facts.exe.clone(), notice);
    }

    /// `window` ends at `end` with `tools` running under it: recorded, and
    /// whoever is at the workstation is warned.
    pub fn window_ending(
        &mut self,
        policy: &Policy,
        window: &str,
        end: Timestamp,
        tools: Vec<String>,
        now: Timestamp,
    ) {
        let tz = &policy.schedule.timezone;
        let mut r = self.blank(Event::WindowEnding, policy, now);
        r.window = Some(window.to_string());
        r.until = Some(crate::effect::audit::RecordTime::new(end, tz));
        let hhmm = end
            .to_zoned_datetime(tz.clone())
            .strftime("%H:%M")
            .to_string();
        let notice = Notice::window_ending(window, &hhmm, &tools, &policy.schedule.contact);
        r.tools = Some(tools);
        self.finish(r, None, Ok((notice, Audience::Everyone)));
    }

    /// The panic button was pressed by `by`: `stopped` tools were stopped
    /// and `windows` suspended until `until` (never by itself: `None`).
    pub fn panic(&mut self, policy: &Policy, by: &Caller, panic: PanicDone, now: Timestamp) {
        let tz = &policy.schedule.timezone;
        let mut r = self.blank(Event::Panic, policy, now);
        r.uid = by.uid;
        r.user = by.user.clone();
        r.windows = Some(panic.windows);
        r.until = panic
            .until
            .map(|u| crate::effect::audit::RecordTime::new(u, tz));
        r.reason = Some("the operator pressed the panic button".into());
        let notice = Notice::panic(
            &panic.stopped,
            policy.schedule.panic_until,
            &policy.schedule.contact,
        );
        r.tools = Some(panic.stopped);
        let to = match by.uid {
            Some(uid) => Audience::Owner(Some(uid)),
            None => Audience::Everyone,
        };
        self.finish(r, None, Ok((notice, to)));
    }

    /// The suspension was lifted: by an administrator (`by`) or because it
    /// lapsed (`by` is `None`).
    pub fn resumed(&self, policy: &Policy, by: Option<&Caller>, now: Timestamp) {
        let mut r = self.blank(Event::Resumed, policy, now);
        match by {
            Some(c) => {
                r.uid = c.uid;
                r.user = c.user.clone();
                r.reason = Some("varco resume by an administrator".into());
            }
            None => r.reason = Some("the suspension lapsed (next calendar day)".into()),
        }
        self.record(r);
    }

    /// `facts` was stopped because `peer_id` (calling itself `alias`)
    /// connected and `window` does not list it.
    pub fn unlisted_peer(&mut self, policy: &Policy, stop: PeerStop<'_>, now: Timestamp) {
        let PeerStop {
            facts,
            decision,
            peer_id,
            alias,
            outcome,
        } = stop;
        let mut r = self.blank(Event::UnlistedPeer, policy, now);
        r.tool = Some(decision.tool_id.clone());
        r.tool_name = Some(decision.tool_name.clone());
        r.pid = Some(facts.pid);
        r.exe = facts.exe.as_ref().map(|e| e.display().to_string());
        r.user = facts.user.clone();
        r.uid = facts.uid;
        r.window = decision.window.as_ref().map(|w| w.id.clone());
        r.technician = decision.window.as_ref().and_then(|w| w.technician.clone());
        r.peer_id = Some(peer_id.to_string());
        r.peer_alias = alias.map(str::to_string);
        r.outcome = Some(outcome);
        r.origin = decision.origin.clone();
        r.reason = Some(format!(
            "peer {peer_id} is not listed in window \"{}\"",
            r.window.as_deref().unwrap_or("?")
        ));
        let who = match alias {
            Some(a) => format!("{a} ({peer_id})"),
            None => peer_id.to_string(),
        };
        let notice = Notice::unlisted_peer(
            &decision.tool_name,
            &who,
            &policy.schedule.contact,
            &self.report_hint,
        );
        self.finish(
            r,
            facts.exe.clone(),
            Ok((notice, Audience::Owner(facts.uid))),
        );
    }

    /// Who connects to `decision`'s tool cannot be checked: recorded once.
    pub fn peer_unverifiable(
        &self,
        policy: &Policy,
        facts: &ProcessFacts,
        decision: &Decision,
        why: &str,
        now: Timestamp,
    ) {
        let mut r = self.blank(Event::PeerUnverifiable, policy, now);
        r.tool = Some(decision.tool_id.clone());
        r.tool_name = Some(decision.tool_name.clone());
        r.pid = Some(facts.pid);
        r.window = decision.window.as_ref().map(|w| w.id.clone());
        r.reason = Some(why.to_string());
        self.record(r);
    }

    /// An admitted tool exited by itself: the end of its session.
    pub fn exited(
        &self,
        policy: &Policy,
        facts: &ProcessFacts,
        decision: &Decision,
        now: Timestamp,
    ) {
        let mut r = self.blank(Event::Exited, policy, now);
        r.tool = Some(decision.tool_id.clone());
        r.tool_name = Some(decision.tool_name.clone());
        r.pid = Some(facts.pid);
        r.user = facts.user.clone();
        r.uid = facts.uid;
        r.window = decision.window.as_ref().map(|w| w.id.clone());
        r.technician = decision.window.as_ref().and_then(|w| w.technician.clone());
        self.record(r);
    }

    /// Writes `r` once the operator has been told (or not), so the record
    /// says which. Runs apart from the loop: enforcement never waits for a
    /// notification. Also fingerprints the executable for the report.
    fn finish(
        &mut self,
        mut r: Record,
        exe: Option<PathBuf>,
        notice: Result<(Notice, Audience), NotShown>,
    ) {
        let notice = notice.and_then(|n| {
            // Decisions on a tool share one limit (a tool restarting in a
            // loop); every other kind of notice has its own.
            let key = match r.event {
                Event::Allowed | Event::Blocked | Event::Alerted => {
                    r.tool.clone().unwrap_or_default()
                }
                other => format!(
                    "{}:{}",
                    other.as_str(),
                    r.tool.as_deref().or(r.window.as_deref()).unwrap_or("")
                ),
            };
            match self.throttle.admit(&key, Instant::now()) {
                Admission::Show { held_back } => {
                    r.held_back = (held_back > 0).then_some(held_back);
                    Ok(n)
                }
                Admission::HoldBack => Err(NotShown::RateLimit),
            }
        });
        let Some(audit) = self.audit.handle() else {
            return;
        };
        let route = self.route;
        let base = self.agent_base.clone();
        let texts = self.texts.clone();
        self.pending.spawn(async move {
            if let Some(exe) = exe {
                r.exe_sha256 = tokio::task::spawn_blocking(move || crate::report::sha256_of(&exe))
                    .await
                    .ok()
                    .flatten();
            }
            let told = match notice {
                Ok((n, to)) => {
                    let show = deliver(route, &base, &texts, &n, to);
                    tokio::time::timeout(NOTIFY_TIMEOUT, show)
                        .await
                        .unwrap_or(Err(NotShown::Timeout))
                }
                Err(why) => Err(why),
            };
            r.notified = Some(told.is_ok());
            r.not_notified = told.err();
            write_record(&audit, r);
        });
    }

    /// Lets finished notification tasks go; call when
    /// [`Teller::has_pending`].
    pub async fn reap(&mut self) {
        let _ = self.pending.join_next().await;
    }

    /// Whether records still wait for their notification.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Writes the records still waiting for a notification (for at most
    /// [`NOTIFY_TIMEOUT`]), then the `stopped` record, and closes the log.
    pub async fn close(mut self, policy: &Policy, why: String) {
        let _ = tokio::time::timeout(NOTIFY_TIMEOUT, async {
            while self.pending.join_next().await.is_some() {}
        })
        .await;
        self.pending.abort_all();
        let mut r = self.blank(Event::Stopped, policy, Timestamp::now());
        r.reason = Some(why);
        self.audit.record(r);
        self.audit.close();
    }
}

fn write_record(audit: &AuditHandle, r: Record) {
    // Held back on purpose: the audit log has it; the service log stays
    // readable when a tool restarts in a loop.
    if let Some(why) = &r.not_notified
        && *why != NotShown::RateLimit
    {
        tracing::warn!(
            "the operator was not told about {} ({}): {why}",
            r.tool_name.as_deref().unwrap_or("the windows file"),
            r.event.as_str(),
        );
    }
    audit.record(r);
}

/// Shows a notice by `route` to `to`.
async fn deliver(
    route: NotifyRoute,
    base: &Path,
    texts: &Texts,
    notice: &Notice,
    to: Audience,
) -> Result<(), NotShown> {
    match (route, to) {
        (NotifyRoute::Session, _) => {
            let level = if notice.is_critical() {
                Level::Critical
            } else {
                Level::Quiet
            };
            notify::deliver(&texts.render(notice), level).await
        }
        (NotifyRoute::Agent, Audience::Everyone) => {
            agent::broadcast(base, notice).await.map(|_| ())
        }
        (NotifyRoute::Agent, Audience::Owner(uid)) => agent::send(base, uid, notice).await,
    }
}

fn event_of(v: Verdict) -> Event {
    match v {
        Verdict::Allowed => Event::Allowed,
        Verdict::Blocked => Event::Blocked,
        Verdict::Alerted => Event::Alerted,
    }
}
