//! `varco run`: wires a process source, the decision and the effects
//! together, and stops cleanly.
//!
//! The daemon holds no policy of its own. Sources judge every process
//! (identification, then the decision) and report the remote tools; the
//! daemon carries each decision out — the kill first — and only then has
//! it recorded and told ([`tell`]). Once a second it re-reads IT's files
//! ([`reload`]); when a window has closed or the policy changed it decides
//! every running process again from a full walk of the process table
//! ([`walk`]), so a maintenance session does not outlive its window even
//! when its tool daemonized; and it checks the wall
//! clock for jumps ([`crate::sys::clock`]): decisions, here and in the
//! sources, are taken on that one clock, which never goes back.

mod ending;
pub mod fetch;
pub mod panic;
mod peers;
pub mod reload;
pub mod state;
pub mod tell;
mod walk;

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::decide::{Decision, Verdict};
use crate::effect::audit::{AuditLog, AuditSink, Event};
use crate::effect::stop::{self, Outcome};
use crate::facts::ProcessFacts;
use crate::messages::{Lang, Texts};
use crate::policy::SharedPolicy;
use crate::policy::catalog::{Catalog, CatalogError};
use crate::policy::files::{ConfigSource, KeySource};
use crate::policy::schedule::Mode;
use crate::source::{self, Choice, Judge, Observation};
use crate::sys::{self, sd_notify};
use reload::{Change, Files, Sources};
pub use tell::NotifyRoute;
use tell::{Teller, Told};

/// How often IT's files are re-read and admitted tools re-checked.
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
    /// Where session agents listen (Linux: `DIR/<uid>/varco-agent.sock`).
    pub agent_base: PathBuf,
    /// IT's catalog extension; `None`: `catalog.toml` next to the windows
    /// file, if present.
    pub catalog: Option<PathBuf>,
    /// The process source asked for.
    pub source: Choice,
    /// Trials: fanotify marks only these paths' filesystems.
    pub fanotify_only: Vec<PathBuf>,
    /// IT's public key: `--trusted-key`, else `trusted.pub` in IT's
    /// folder when present.
    pub key: Option<KeySource>,
    /// Where `varco panic` and `varco resume` reach the daemon.
    pub control: PathBuf,
    /// varco's state folder (serials, the copy of a remote file, a panic's
    /// suspension).
    pub state_dir: PathBuf,
    /// How often IT's server is asked (URL mode).
    pub refresh: Duration,
    /// IT's CA certificate for HTTPS (URL mode), PEM.
    pub ca_cert: Option<Vec<u8>>,
}

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
    /// A windows file from a server with nothing to check its signature.
    #[error(
        "--config {0}: a windows file from a server needs IT's public key: pass --trusted-key KEY.pub (the .pub file `minisign -G` wrote), or install it as {1}"
    )]
    RemoteWithoutKey(String, String),
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

async fn run_async(
    options: Options,
    stop: Option<tokio::sync::oneshot::Receiver<()>>,
) -> Result<(), DaemonError> {
    if let ConfigSource::Url(url) = &options.config
        && !options
            .key
            .as_ref()
            .is_some_and(|k| k.explicit || k.path.exists())
    {
        let default = crate::policy::files::default_key_path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        return Err(DaemonError::RemoteWithoutKey(url.clone(), default));
    }
    // The policy is loaded before the source starts: a source that answers
    // the kernel decides with the real windows from its first event.
    let mut files = Files::new(
        Sources {
            windows: options.config.clone(),
            catalog: options.catalog.clone(),
            key: options.key.clone(),
            state_dir: options.state_dir.clone(),
            refresh: options.refresh,
            ca_cert: options.ca_cert.clone(),
        },
        Catalog::embedded()?,
    );
    let (mut policy, problems) = files.initial(options.mode);
    // A panic outlives a restart: the windows it shut stay shut from the
    // first event on.
    policy.suspension = panic::load(&options.state_dir, sys::clock::now());
    let policy = SharedPolicy::new(policy);

    let (syslog, syslog_control) = crate::effect::syslog::Syslog::new();
    syslog_control.configure(&policy.current().schedule.log);
    let report = crate::report::AutoReport::new(
        &options.audit_log,
        files.readable_source(),
        options.key.clone(),
    );
    let report_hint = report.hint();
    let sinks = || -> Vec<Box<dyn AuditSink>> {
        let mut sinks: Vec<Box<dyn AuditSink>> =
            vec![Box::new(syslog.clone()), Box::new(report.clone())];
        sinks.extend(crate::effect::eventlog::sinks());
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
    let mut teller = Teller::new(
        audit,
        options.notify,
        &options.agent_base,
        Texts::load(Lang::from_env()),
        report_hint,
        options.config.describe(),
    );

    let sources = source::select(
        &source::Settings {
            choice: options.source,
            poll: options.poll,
            fanotify_only: options.fanotify_only.clone(),
        },
        &policy,
    );
    let kinds: Vec<_> = sources.iter().map(|s| s.kind()).collect();
    let kind = kinds[0];
    let reason = sources
        .iter()
        .enumerate()
        .map(|(i, s)| match i {
            0 => s.reason(),
            _ => format!("beside it, {}: {}", s.kind().as_str(), s.reason()),
        })
        .collect::<Vec<_>>()
        .join("; ");
    // Started at once: a fanotify source has marked filesystems, and execs
    // wait for its loop. Each source says when it stops: enforcement is
    // then partly off, and the daemon exits so the service manager
    // restarts it.
    let (tx, mut rx) = mpsc::channel::<Observation>(4096);
    let (stopped_tx, mut stopped_rx) = mpsc::channel::<source::Stopped>(4);
    for source in sources {
        let (tx, stopped_tx) = (tx.clone(), stopped_tx.clone());
        let kind = source.kind();
        std::thread::Builder::new()
            .name(format!("varco-source-{}", kind.as_str()))
            .spawn(move || {
                source.run(tx);
                let _ = stopped_tx.blocking_send(source::Stopped(kind));
            })?;
    }
    drop((tx, stopped_tx));
    teller.started(&policy.current(), &kinds, &reason);
    for change in problems {
        tell_change(&mut teller, &policy, change, &syslog_control);
    }

    let (control_tx, mut control_rx) = mpsc::channel::<crate::control::Incoming>(16);
    if let Err(e) = crate::control::listen(&options.control, control_tx) {
        // Enforcement goes on; only the panic button is missing.
        tracing::error!("{e}: `varco panic` cannot reach this daemon");
    }

    let (peers, mut peer_rx) = match peers::PeerWatch::start() {
        Ok((w, rx)) => (Some(w), rx),
        Err(e) => {
            tracing::error!(
                "cannot follow remote tools' logs: {e}; windows' `peers` are not checked"
            );
            (None, mpsc::channel(1).1)
        }
    };

    let mut daemon = Daemon {
        judge: Judge::new(policy.clone()),
        seen_policy: policy.current(),
        open_windows: Vec::new(),
        decided: walk::Decided::default(),
        policy,
        teller,
        admitted: Vec::new(),
        state_dir: options.state_dir.clone(),
        warnings: ending::Warnings::default(),
        peers,
    };
    daemon.policy_moved(sys::clock::now());
    // Under systemd (Type=notify): ready only now, with marks in place.
    let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    let status = format!("enforcing with {}: {reason}", names.join(" + "));
    for state in [sd_notify::State::Status(&status), sd_notify::State::Ready] {
        if let Err(e) = sd_notify::notify(state) {
            tracing::warn!("cannot tell systemd {state:?}: {e}");
        }
    }
    let mut tick = tokio::time::interval(TICK);
    let shutdown = async move {
        match stop {
            Some(stop) => tokio::select! {
                why = sys::shutdown_signal() => why,
                _ = stop => "stop requested by the service manager",
            },
            None => sys::shutdown_signal().await,
        }
    };
    tokio::pin!(shutdown);
    let result = loop {
        tokio::select! {
            obs = rx.recv() => match obs {
                Some(obs) => daemon.observe(obs),
                None => break Err(DaemonError::SourceStopped(kind.as_str())),
            },
            Some(stopped) = stopped_rx.recv() => {
                break Err(DaemonError::SourceStopped(stopped.0.as_str()));
            }
            Some(incoming) = control_rx.recv() => daemon.control(incoming),
            Some(report) = peer_rx.recv() => daemon.peer_report(report),
            _ = tick.tick() => {
                // The unit's watchdog: a stuck loop gets varco restarted.
                let _ = sd_notify::notify(sd_notify::State::Watchdog);
                if let Some(jump) = sys::clock::system().check() {
                    daemon.teller.clock_jump(&daemon.policy.current(), &jump);
                }
                for change in files.reload(&daemon.policy) {
                    tell_change(&mut daemon.teller, &daemon.policy, change, &syslog_control);
                }
                let now = sys::clock::now();
                daemon.expire_suspension(now);
                match daemon.policy_moved(now) {
                    Some(why) => {
                        daemon.decide_everything(walk::Why::PolicyChanged(why));
                    }
                    None => daemon.recheck_admitted(),
                }
                daemon.warn_before_end(now);
                daemon.watch_peers();
            }
            _ = daemon.teller.reap(), if daemon.teller.has_pending() => {}
            why = &mut shutdown => {
                tracing::info!("{why}: stopping");
                let _ = sd_notify::notify(sd_notify::State::Stopping);
                break Ok(());
            }
        }
    };
    let why = match &result {
        Ok(()) => "signal".to_string(),
        Err(e) => e.to_string(),
    };
    let policy = daemon.policy.current();
    daemon.teller.close(&policy, why).await;
    result
}

/// Records what a (re)load found; a new windows file also re-aims syslog.
fn tell_change(
    teller: &mut Teller,
    policy: &SharedPolicy,
    change: Change,
    syslog: &crate::effect::syslog::Control,
) {
    let p = policy.current();
    match change {
        Change::WindowsReloaded { path, windows } => {
            syslog.configure(&p.schedule.log);
            teller.reloaded(&p, &path, windows);
        }
        Change::CatalogReloaded { .. } => {}
        Change::Problem { reason } => teller.config_error(&p, &reason),
        Change::FetchFailed { reason } => teller.note(&p, Event::FetchFailed, reason),
        Change::FetchRecovered { reason } => teller.note(&p, Event::FetchRecovered, reason),
    }
}

/// The running enforcer: carries decisions out and remembers what it let
/// run.
struct Daemon {
    policy: SharedPolicy,
    /// For the re-decisions when windows close.
    judge: Judge,
    /// The policy in force at the last tick: when it is replaced
    /// (reload, catalog, panic), everything is decided again.
    seen_policy: std::sync::Arc<crate::policy::Policy>,
    /// The windows open at the last tick: when one closes, everything is
    /// decided again.
    open_windows: Vec<String>,
    /// What was recorded per process, so two sources seeing one start
    /// make one record.
    decided: walk::Decided,
    teller: Teller,
    /// Tools running inside a window, decided again when windows close.
    admitted: Vec<(ProcessFacts, Decision)>,
    /// Where the panic's suspension is kept.
    state_dir: PathBuf,
    /// The window-end warnings already given.
    warnings: ending::Warnings,
    /// Who connects to tools under windows with `peers`.
    peers: Option<peers::PeerWatch>,
}

impl Daemon {
    fn observe(&mut self, obs: Observation) {
        match obs {
            Observation::Started {
                facts,
                decision,
                source,
            } => {
                // Seen already by the other source with the same verdict
                // (fanotify before the exec, the proc connector after):
                // one record. A blocked tool still running is stopped
                // again whatever was recorded.
                let alive = || sys::still_running(facts.pid, facts.start_marker);
                if self.decided.already(&facts, &decision)
                    && (decision.verdict != Verdict::Blocked || !alive())
                {
                    return;
                }
                let _ = self.carry_out_from(facts, decision, None, false, Some(source));
            }
            Observation::Lost { source, reason } => {
                self.teller
                    .events_lost(&self.policy.current(), source, reason);
                self.decide_everything(walk::Why::EventsLost);
            }
            Observation::Unjudged { facts, error } => {
                self.teller
                    .identify_error(&self.policy.current(), &facts, &error);
            }
            Observation::Enforced { facts, decision } => {
                self.decided.remember(&facts, &decision);
                let told = Told {
                    before_start: true,
                    source: Some(crate::facts::SourceKind::Fanotify),
                    ..Told::default()
                };
                self.teller
                    .decision(&self.policy.current(), &facts, &decision, told);
            }
        }
    }

    /// Carries out a decision: the kill first, then the record and the
    /// notification. Returns what the kill achieved, if there was one.
    fn carry_out(
        &mut self,
        facts: ProcessFacts,
        decision: Decision,
        reason: Option<String>,
    ) -> Option<Outcome> {
        self.carry_out_told(facts, decision, reason, false)
    }

    /// [`Daemon::carry_out`]; with `in_summary` the operator is told in one
    /// message about all the tools (the panic confirmation), not per tool.
    fn carry_out_told(
        &mut self,
        facts: ProcessFacts,
        decision: Decision,
        reason: Option<String>,
        in_summary: bool,
    ) -> Option<Outcome> {
        self.carry_out_from(facts, decision, reason, in_summary, None)
    }

    /// [`Daemon::carry_out_told`], naming the source that saw the process
    /// (`None`: the daemon's own re-decision).
    fn carry_out_from(
        &mut self,
        facts: ProcessFacts,
        decision: Decision,
        reason: Option<String>,
        in_summary: bool,
        source: Option<crate::facts::SourceKind>,
    ) -> Option<Outcome> {
        self.decided.remember(&facts, &decision);
        let outcome = (decision.verdict == Verdict::Blocked).then(|| stop::stop(&facts));
        let result = outcome.clone();
        if let Some(Outcome::NotStopped { error }) = &outcome {
            tracing::error!(
                "could not stop {} (pid {}): {error}",
                decision.tool_name,
                facts.pid
            );
        }
        let told = Told {
            outcome,
            reason,
            before_start: false,
            in_summary,
            source,
        };
        self.teller
            .decision(&self.policy.current(), &facts, &decision, told);
        if decision.verdict == Verdict::Allowed {
            self.admitted.push((facts, decision));
        }
        result
    }

    /// Tools admitted by a window are decided again once it closes (or the
    /// file no longer admits them): a maintenance session does not outlive
    /// its window.
    fn recheck_admitted(&mut self) {
        if self.admitted.is_empty() {
            return;
        }
        self.recheck_admitted_at(sys::clock::now());
    }

    /// [`Daemon::recheck_admitted`] at `now`.
    fn recheck_admitted_at(&mut self, now: jiff::Timestamp) {
        let admitted = std::mem::take(&mut self.admitted);
        for (facts, before) in admitted {
            if sys::start_marker(facts.pid) != Some(facts.start_marker) {
                // Exited by itself: the end of its session, for the
                // contract report.
                self.teller.exited(&self.policy.current(), &facts, &before);
                continue;
            }
            let mut facts = facts;
            match self.judge.judge_process(&mut facts, now) {
                Some(d) if d.verdict == Verdict::Allowed => self.admitted.push((facts, d)),
                Some(d) => {
                    let window = before.window.map(|w| w.id).unwrap_or_default();
                    let reason = format!("window \"{window}\" is no longer open");
                    let _ = self.carry_out(facts, d, Some(reason));
                }
                None => {}
            }
        }
    }
}
