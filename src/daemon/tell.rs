//! Telling what happened: the audit record (and through it syslog, the
//! Event Log and the incident report) and the operator's notification.
//!
//! Runs apart from enforcement: the kill has happened before anything
//! here is called. The record of a decision is written at once, before
//! anything slow; what follows — the notification, shown on a task of its
//! own, and the executable's fingerprint, taken on a thread of its own —
//! is recorded when it is known, in a `notice` and a `fingerprint` record
//! naming the decision's id. So nothing waits for a notification server
//! or a disk, lines stay in the order things happened, and a decision is
//! on disk even if what follows never completes.
//!
//! Every record is made and queued on the daemon's one thread, with the
//! time of the moment it is queued: the audit writer receives them in
//! time order.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::agent;
use crate::control::Caller;
use crate::decide::{Decision, Verdict};
use crate::effect::audit::fingerprint::{self, Bounds, NotHashed};
use crate::effect::audit::{AuditHandle, AuditLog, Event, Record, RecordIds, RecordTime};
use crate::effect::notify::{self, Admission, Level, NotShown, Throttle};
use crate::effect::stop::Outcome;
use crate::facts::{ProcessFacts, SourceKind};
use crate::messages::{Notice, Texts};
use crate::policy::Policy;
use crate::sys::clock::{self, Jump};

/// How long a notification may take before its `notice` record is
/// written anyway with `notified: false`.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(6);

/// Executables hashed at the same time, at most. A read stuck in the
/// kernel (a hung network share) keeps its thread; past this many, the
/// next fingerprints are recorded as not taken rather than piling up
/// threads.
pub const MAX_HASHING: usize = 4;

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
    /// The source that saw the process; `None`: the daemon's own
    /// re-decision (a window closed, a panic), named after the first
    /// source running.
    pub source: Option<SourceKind>,
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
    /// Follow-ups under way (notifications shown, executables hashed).
    pending: tokio::task::JoinSet<()>,
    /// What the notification says about the incident report.
    report_hint: String,
    /// The source watching, named on every record of a decision.
    pub source: Option<SourceKind>,
    /// The windows file, as records name it.
    config: String,
    /// Ids of the records that others follow up.
    ids: RecordIds,
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
            ids: RecordIds::new(clock::wall_now()),
        }
    }

    /// A record of `event` made now under `policy`, every other field
    /// empty.
    pub fn blank(&self, event: Event, policy: &Policy) -> Record {
        Record::new(
            event,
            clock::wall_now(),
            &policy.schedule.timezone,
            policy.mode(),
        )
    }

    /// Writes a record that needs no notification.
    pub fn record(&self, r: Record) {
        self.audit.record(r);
    }

    /// Where the audit log is.
    pub fn audit_path(&self) -> &Path {
        self.audit.path()
    }

    /// The daemon started, watching with `sources` (the first is named
    /// in `source`) for `reason`.
    pub fn started(&mut self, policy: &Policy, sources: &[SourceKind], reason: &str) {
        let source = sources.first().copied().unwrap_or(SourceKind::Scan);
        self.source = Some(source);
        let mut r = self.blank(Event::Started, policy);
        r.source = Some(source);
        r.sources = Some(sources.to_vec());
        r.reason = Some(reason.to_string());
        r.config = Some(self.config.clone());
        r.version = Some(env!("CARGO_PKG_VERSION").to_string());
        self.record(r);
        tracing::info!(
            "varco {} started: source {} ({}), windows file {}, mode {}, audit log {}",
            env!("CARGO_PKG_VERSION"),
            sources
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" + "),
            reason,
            self.config,
            policy.mode().as_str(),
            self.audit.path().display()
        );
    }

    /// `source` lost process events (`reason` says how many and where);
    /// written before the full walk that makes up for them.
    pub fn events_lost(&self, policy: &Policy, source: SourceKind, reason: String) {
        let mut r = self.blank(Event::EventsLost, policy);
        r.source = Some(source);
        r.reason = Some(reason);
        tracing::warn!(
            "{}: {}; deciding every running process again",
            source.as_str(),
            r.reason.as_deref().unwrap_or_default()
        );
        self.record(r);
    }

    /// An edited windows file is in force.
    pub fn reloaded(&self, policy: &Policy, path: &Path, windows: usize) {
        let mut r = self.blank(Event::ConfigReloaded, policy);
        r.reason = Some(format!("{windows} window(s) in force"));
        r.config = Some(path.display().to_string());
        r.source = self.source;
        self.record(r);
    }

    /// Something for IT's record alone (the operator has nothing to do):
    /// IT's server unreachable, or back.
    pub fn note(&self, policy: &Policy, event: Event, reason: String) {
        let mut r = self.blank(event, policy);
        r.reason = Some(reason);
        r.config = Some(self.config.clone());
        self.record(r);
    }

    /// A file IT wrote cannot be used: recorded, and whoever is at the
    /// workstation is told no remote access is admitted until IT fixes it.
    pub fn config_error(&mut self, policy: &Policy, reason: &str) {
        let mut r = self.blank(Event::ConfigError, policy);
        r.id = Some(self.ids.next_id());
        r.reason = Some(reason.to_string());
        r.config = Some(self.config.clone());
        let notice = Notice::for_config_error(reason, &policy.schedule.contact);
        self.finish(
            r,
            &policy.schedule.timezone,
            None,
            Ok((notice, Audience::Everyone)),
        );
    }

    /// A program's content could not be judged (`error`): recorded for IT
    /// with the process and the reason; the operator is not interrupted
    /// (a program that fails closed is also decided, and that decision
    /// is what they are told).
    pub fn identify_error(
        &self,
        policy: &Policy,
        facts: &ProcessFacts,
        error: &crate::policy::identify::IdentifyError,
    ) {
        let mut r = self.blank(Event::IdentifyError, policy);
        r.pid = Some(facts.pid);
        r.exe = facts.exe.as_ref().map(|e| e.display().to_string());
        r.user = facts.user.clone();
        r.uid = facts.uid;
        r.cmdline = (!facts.cmdline.is_empty()).then(|| facts.cmdline.join(" "));
        r.source = self.source;
        r.reason = Some(error.to_string());
        self.record(r);
    }

    /// The wall clock jumped: recorded, with what it means for decisions
    /// ([`crate::sys::clock`]).
    pub fn clock_jump(&self, policy: &Policy, jump: &Jump) {
        let tz = &policy.schedule.timezone;
        let mut r = self.blank(Event::ClockJump, policy);
        let difference = jump.difference();
        r.clock_from = Some(RecordTime::new(jump.from, tz));
        r.clock_to = Some(RecordTime::new(jump.to, tz));
        r.clock_difference_ms = Some(i64::try_from(difference.as_millis()).unwrap_or(i64::MAX));
        let reason = if difference.is_negative() {
            "the system clock was set back: decisions keep the time already reached until the clock passes it again, so no window that had closed opens again"
        } else {
            "the system clock moved forward: decisions follow it, so windows that end before the new time are closed"
        };
        r.reason = Some(reason.into());
        r.source = self.source;
        tracing::warn!(
            "the system clock jumped by {} s ({} → {}): {reason}",
            difference.as_secs(),
            jump.from,
            jump.to
        );
        self.record(r);
    }

    /// Records a decision on `facts` at once, then tells the operator and
    /// fingerprints the executable. `told` says what enforcement achieved;
    /// a tool that could not be stopped is told as running (the operator
    /// must close it), never as stopped.
    pub fn decision(
        &mut self,
        policy: &Policy,
        facts: &ProcessFacts,
        decision: &Decision,
        told: Told,
    ) {
        let tz = &policy.schedule.timezone;
        let now = clock::wall_now();
        let mut r = Record::new(event_of(decision.verdict), now, tz, decision.mode);
        r.id = Some(self.ids.next_id());
        if clock::system().held(now).is_some() {
            r.decided_at = Some(RecordTime::new(clock::system().effective(now), tz));
        }
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
        r.source = told.source.or(self.source);
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
        self.finish(r, tz, Some(facts.exe.clone()), notice);
    }

    /// `window` ends at `end` with `tools` running under it: recorded, and
    /// whoever is at the workstation is warned.
    pub fn window_ending(
        &mut self,
        policy: &Policy,
        window: &str,
        end: Timestamp,
        tools: Vec<String>,
    ) {
        let tz = &policy.schedule.timezone;
        let mut r = self.blank(Event::WindowEnding, policy);
        r.window = Some(window.to_string());
        r.until = Some(crate::effect::audit::RecordTime::new(end, tz));
        let hhmm = end
            .to_zoned_datetime(tz.clone())
            .strftime("%H:%M")
            .to_string();
        let notice = Notice::window_ending(window, &hhmm, &tools, &policy.schedule.contact);
        r.tools = Some(tools);
        r.id = Some(self.ids.next_id());
        self.finish(r, tz, None, Ok((notice, Audience::Everyone)));
    }

    /// The panic button was pressed by `by`: `stopped` tools were stopped
    /// and `windows` suspended until `until` (never by itself: `None`).
    pub fn panic(&mut self, policy: &Policy, by: &Caller, panic: PanicDone) {
        let tz = &policy.schedule.timezone;
        let mut r = self.blank(Event::Panic, policy);
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
        r.id = Some(self.ids.next_id());
        self.finish(r, tz, None, Ok((notice, to)));
    }

    /// The suspension was lifted: by an administrator (`by`) or because it
    /// lapsed (`by` is `None`).
    pub fn resumed(&self, policy: &Policy, by: Option<&Caller>) {
        let mut r = self.blank(Event::Resumed, policy);
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
    pub fn unlisted_peer(&mut self, policy: &Policy, stop: PeerStop<'_>) {
        let PeerStop {
            facts,
            decision,
            peer_id,
            alias,
            outcome,
        } = stop;
        let mut r = self.blank(Event::UnlistedPeer, policy);
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
        r.id = Some(self.ids.next_id());
        self.finish(
            r,
            &policy.schedule.timezone,
            Some(facts.exe.clone()),
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
    ) {
        let mut r = self.blank(Event::PeerUnverifiable, policy);
        r.tool = Some(decision.tool_id.clone());
        r.tool_name = Some(decision.tool_name.clone());
        r.pid = Some(facts.pid);
        r.window = decision.window.as_ref().map(|w| w.id.clone());
        r.reason = Some(why.to_string());
        self.record(r);
    }

    /// An admitted tool exited by itself: the end of its session.
    pub fn exited(&self, policy: &Policy, facts: &ProcessFacts, decision: &Decision) {
        let mut r = self.blank(Event::Exited, policy);
        r.tool = Some(decision.tool_id.clone());
        r.tool_name = Some(decision.tool_name.clone());
        r.pid = Some(facts.pid);
        r.user = facts.user.clone();
        r.uid = facts.uid;
        r.window = decision.window.as_ref().map(|w| w.id.clone());
        r.technician = decision.window.as_ref().and_then(|w| w.technician.clone());
        self.record(r);
    }

    /// Writes `r` at once; then tells the operator and, when `exe` is
    /// given, fingerprints the executable, each recorded in a follow-up of
    /// `r` when known. Enforcement never waits for either.
    fn finish(
        &mut self,
        r: Record,
        tz: &TimeZone,
        exe: Option<Option<PathBuf>>,
        notice: Result<(Notice, Audience), NotShown>,
    ) {
        let mut held_back = None;
        let notice = notice.and_then(|(n, to)| {
            // Decisions on a tool share one limit (a tool restarting in a
            // loop), warnings and quiet notes apart: the quiet note that a
            // tool was admitted must never hold back the warning that it
            // was stopped when its window closed a minute later. Every
            // other kind of notice has its own.
            let key = match r.event {
                Event::Allowed | Event::Blocked | Event::Alerted => format!(
                    "{}{}",
                    r.tool.as_deref().unwrap_or_default(),
                    if n.is_critical() { "" } else { " (note)" }
                ),
                other => format!(
                    "{}:{}",
                    other.as_str(),
                    r.tool.as_deref().or(r.window.as_deref()).unwrap_or("")
                ),
            };
            match self.throttle.admit(&key, Instant::now()) {
                Admission::Show { held_back: n_held } => {
                    held_back = (n_held > 0).then_some(n_held);
                    Ok((n, to))
                }
                Admission::HoldBack => Err(NotShown::RateLimit),
            }
        });
        self.audit.record(r.clone());
        let Some(audit) = self.audit.handle() else {
            return;
        };
        let follow = FollowUp {
            of: r,
            tz: tz.clone(),
            audit,
        };
        match notice {
            Ok((n, to)) => {
                let (follow, route, texts) = (follow.clone(), self.route, self.texts.clone());
                let base = self.agent_base.clone();
                self.pending.spawn(async move {
                    let show = deliver(route, &base, &texts, &n, to);
                    let told = tokio::time::timeout(NOTIFY_TIMEOUT, show)
                        .await
                        .unwrap_or(Err(NotShown::Timeout));
                    follow.notice(told, held_back);
                });
            }
            // Known now: recorded now.
            Err(why) => follow.notice(Err(why), held_back),
        }
        if let Some(exe) = exe {
            self.pending.spawn(async move {
                let hashed = fingerprint_of(exe).await;
                follow.fingerprint(hashed);
            });
        }
    }

    /// Lets finished follow-up tasks go; call when
    /// [`Teller::has_pending`].
    pub async fn reap(&mut self) {
        let _ = self.pending.join_next().await;
    }

    /// Whether follow-ups are still under way.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Writes the follow-ups still under way (waiting at most
    /// [`NOTIFY_TIMEOUT`]; the decisions they follow are already written),
    /// then the `stopped` record, and closes the log.
    pub async fn close(mut self, policy: &Policy, why: String) {
        let _ = tokio::time::timeout(NOTIFY_TIMEOUT, async {
            while self.pending.join_next().await.is_some() {}
        })
        .await;
        self.pending.abort_all();
        let mut r = self.blank(Event::Stopped, policy);
        r.reason = Some(why);
        self.audit.record(r);
        self.audit.close();
    }
}

/// What a follow-up record needs: the record it follows, its zone and
/// the writer.
#[derive(Clone)]
struct FollowUp {
    of: Record,
    tz: TimeZone,
    audit: AuditHandle,
}

impl FollowUp {
    /// Records whether the operator was told.
    fn notice(&self, told: Result<(), NotShown>, held_back: Option<u32>) {
        let mut r = self
            .of
            .follow_up(Event::Notice, clock::wall_now(), &self.tz);
        r.notified = Some(told.is_ok());
        r.not_notified = told.err();
        r.held_back = held_back;
        // Held back on purpose: the audit log has it; the service log stays
        // readable when a tool restarts in a loop.
        if let Some(why) = &r.not_notified
            && *why != NotShown::RateLimit
        {
            tracing::warn!(
                "the operator was not told about {} ({}): {why}",
                self.of.tool_name.as_deref().unwrap_or("the windows file"),
                self.of.event.as_str(),
            );
        }
        self.audit.record(r);
    }

    /// Records the executable's fingerprint, or why there is none.
    fn fingerprint(&self, hashed: Result<String, NotHashed>) {
        let mut r = self
            .of
            .follow_up(Event::Fingerprint, clock::wall_now(), &self.tz);
        match hashed {
            Ok(h) => r.exe_sha256 = Some(h),
            Err(why) => r.not_hashed = Some(why),
        }
        self.audit.record(r);
    }
}

/// Executables being hashed now (see [`MAX_HASHING`]).
static HASHING: AtomicUsize = AtomicUsize::new(0);

/// One of the [`MAX_HASHING`] places, given back when dropped.
struct HashingSlot;

impl HashingSlot {
    fn take() -> Option<HashingSlot> {
        HASHING
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_HASHING).then_some(n + 1)
            })
            .ok()
            .map(|_| HashingSlot)
    }
}

impl Drop for HashingSlot {
    fn drop(&mut self) {
        HASHING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The executable's SHA-256, bounded ([`fingerprint`]). Read on a thread
/// of its own, not the runtime's blocking pool: a read stuck in the kernel
/// must not hold up the daemon's exit, only its own thread (and place).
async fn fingerprint_of(exe: Option<PathBuf>) -> Result<String, NotHashed> {
    let exe = exe.ok_or(NotHashed::NoPath)?;
    let slot = HashingSlot::take().ok_or(NotHashed::Busy)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let bounds = Bounds::default();
    std::thread::Builder::new()
        .name("varco-fingerprint".into())
        .spawn(move || {
            let _slot = slot;
            let _ = tx.send(fingerprint::sha256_of(&exe, bounds));
        })
        .map_err(|e| NotHashed::Unreadable {
            detail: e.to_string(),
        })?;
    // The read checks its own deadline; this one also covers an open or a
    // read that never returns.
    match tokio::time::timeout(bounds.max_time + Duration::from_secs(1), rx).await {
        Ok(Ok(hashed)) => hashed,
        Ok(Err(_)) => Err(NotHashed::Unreadable {
            detail: "the hashing thread stopped".into(),
        }),
        Err(_) => Err(NotHashed::Timeout),
    }
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
