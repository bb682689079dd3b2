//! The best Linux source: the kernel asks varco before every exec, and an
//! unscheduled remote tool is refused before it runs a single instruction
//! (the `execve` fails with EPERM).
//!
//! Every filesystem an executable can come from is marked (tmpfs such as
//! /tmp and /dev/shm included); a thread watches `/proc/self/mountinfo` and
//! marks filesystems mounted later.
//!
//! # Never hang the machine
//! While an exec waits for an answer, the program that called it is
//! frozen, so the answering loop:
//! - answers every permission event exactly once — an event that is not
//!   explicitly denied is allowed, even when handling it panics
//!   ([`ExecEvent`] allows on drop);
//! - never blocks: no logging, no notification, no disk; observations go
//!   to the daemon with `try_send` (dropped and counted when its queue is
//!   full), and a monitor thread logs the counters;
//! - denies only a catalog match outside its window; any internal error
//!   (unreadable path, unknown layout) allows, and varco's own process and
//!   executable are always allowed. Allowing is not letting through: the
//!   post-exec source that always runs beside this one (see
//!   [`super::select`]) decides every exec again on what actually runs, so
//!   an exec this loop cannot judge (a path it cannot resolve, a file with
//!   no name) is left to it, counted, never silently admitted;
//! - is watched: if it stops making progress for [`STALL`], the monitor
//!   aborts the daemon. When the group's descriptor closes (exit, crash,
//!   abort, `kill -9`) the kernel allows every pending and future exec, and
//!   the service manager restarts varco.
//!
//! # Cost
//! A file only root can change or rename is allowed once and then not
//! asked about again until its content changes (an inode ignore mark the
//! kernel clears on write), so the programs a workstation runs all day add
//! nothing to their exec. When IT's catalog changes, these marks are
//! flushed (and the identification cache forgotten) before the next
//! answer: a file once judged harmless may be a tool under the new one.
//!
//! # What is identified
//! The name of the file being executed (from the event's descriptor) and,
//! for scripts, the script itself: executing `./AnyDesk` with a `#!` line
//! produces an event for the script file and one for its interpreter, and
//! the script's name is enough to refuse it. Content (a renamed copy) is
//! read through the event's own descriptor ([`ExecEvent::open_file`]), so
//! a rename or a swap after the exec began changes nothing. A tool passed
//! as an argument to an interpreter (`sh ./AnyDesk`) or mapped by the
//! dynamic loader (`ld-linux-x86-64.so.2 ./AnyDesk`) is not an exec of
//! that file: the post-exec source decides those on the program that
//! runs.
//!
//! # Lost events
//! When the kernel's queue overflows it allows the execs it could not
//! queue and reports `FAN_Q_OVERFLOW`; an observation the daemon's full
//! queue cannot take is lost too. Either way the daemon is sent
//! [`Observation::Lost`] (retried until its queue takes it): it records
//! `events_lost` and decides every running process again.

use std::collections::HashSet;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::Sender;
use tokio::sync::mpsc::error::TrySendError;

use super::{Judge, Observation, ProcessSource, procfs, scan};
use crate::decide::Verdict;
use crate::facts::SourceKind;
use crate::policy::SharedPolicy;
use crate::sys::fanotify::{ExecEvent, Group, MarkKind, wait_mount_change};

/// How long the answering loop may go without progress before the monitor
/// aborts the daemon (which makes the kernel allow everything pending).
pub const STALL: Duration = Duration::from_secs(5);

/// How often the answering loop wakes when idle, to notice shutdown and
/// show it is alive.
const IDLE_WAKE_MS: i32 = 1000;

/// Filesystem types nothing is executed from: kernel interfaces.
const PSEUDO: &[&str] = &[
    "proc",
    "sysfs",
    "cgroup",
    "cgroup2",
    "devpts",
    "mqueue",
    "debugfs",
    "tracefs",
    "securityfs",
    "pstore",
    "bpf",
    "configfs",
    "fusectl",
    "autofs",
    "binfmt_misc",
    "efivarfs",
    "nsfs",
    "rpc_pipefs",
    "selinuxfs",
    "hugetlbfs",
];

/// Counters shared by the answering loop and the monitor.
#[derive(Debug, Default)]
struct Stats {
    /// Milliseconds since `epoch` at the loop's last sign of life.
    heartbeat_ms: AtomicU64,
    events: AtomicU64,
    denied: AtomicU64,
    /// Events allowed because something went wrong (path unreadable...).
    allowed_on_error: AtomicU64,
    /// Observations the daemon's full queue could not take.
    dropped: AtomicU64,
    /// Files the kernel no longer asks about (see `allow_ordinary`).
    skipped: AtomicU64,
    /// Execs whose file could not be named or read, allowed here and left
    /// to the post-exec source.
    left_to_post_exec: AtomicU64,
    /// Queue overflows the kernel reported.
    overflows: AtomicU64,
    /// Events or observations lost since the daemon was last told.
    lost: AtomicU64,
    /// Slowest answer, in microseconds from read to answer.
    slowest_us: AtomicU64,
    done: AtomicBool,
}

/// The fanotify exec-permission source.
pub struct Fanotify {
    group: Arc<Group>,
    policy: SharedPolicy,
    /// Superblocks (device numbers) and mounts already marked.
    marked: Marked,
    /// Trial mode: only these paths' filesystems, no mount watching.
    trial: bool,
    /// Whether this source lists what already runs at start (not when
    /// the post-exec source beside it does).
    initial_scan: bool,
    reason: String,
}

#[derive(Debug, Default, Clone)]
struct Marked {
    devices: HashSet<String>,
    mounts: HashSet<u64>,
}

/// Why fanotify cannot be used here.
#[derive(Debug, thiserror::Error)]
pub enum FanotifyError {
    /// The group could not be created.
    #[error(
        "fanotify is unavailable ({0}): it needs root (CAP_SYS_ADMIN) and a kernel with CONFIG_FANOTIFY_ACCESS_PERMISSIONS"
    )]
    Init(std::io::Error),
    /// Not one filesystem could be marked.
    #[error("fanotify could not mark any filesystem: {0}")]
    NoMark(String),
}

impl Fanotify {
    /// Creates the group and marks every local filesystem (or, with
    /// `only` non-empty, just the filesystems holding those paths — for
    /// trials on a machine others use). Marks are in place when this
    /// returns: execs wait for the answering loop from then on, so call
    /// [`ProcessSource::run`] at once.
    pub fn open(policy: SharedPolicy, only: &[PathBuf]) -> Result<Fanotify, FanotifyError> {
        let group = Group::new().map_err(FanotifyError::Init)?;
        let mut marked = Marked::default();
        let mut failures = Vec::new();
        if only.is_empty() {
            let text = std::fs::read_to_string("/proc/self/mountinfo")
                .map_err(|e| FanotifyError::NoMark(format!("/proc/self/mountinfo: {e}")))?;
            failures = mark_new(&group, &text, &mut marked);
        } else {
            for p in only {
                match group.mark(p) {
                    Ok(_) => {
                        marked.devices.insert(p.display().to_string());
                    }
                    Err(e) => failures.push(format!("{}: {e}", p.display())),
                }
            }
        }
        if marked.devices.is_empty() && marked.mounts.is_empty() {
            return Err(FanotifyError::NoMark(failures.join("; ")));
        }
        for f in &failures {
            tracing::warn!("fanotify: not marked: {f}");
        }
        let reason = if only.is_empty() {
            format!(
                "fanotify pre-exec denial: {} filesystem(s) marked, new mounts followed",
                marked.devices.len()
            )
        } else {
            format!(
                "fanotify pre-exec denial, TRIAL: only the filesystems of {}",
                only.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Ok(Fanotify {
            group,
            policy,
            marked,
            trial: !only.is_empty(),
            initial_scan: true,
            reason,
        })
    }

    /// This source, leaving the processes already running at start to the
    /// post-exec source beside it, which lists and decides them anyway:
    /// one listing at start instead of two on a machine busy starting.
    pub fn without_initial_scan(mut self) -> Fanotify {
        self.initial_scan = false;
        self
    }
}

impl ProcessSource for Fanotify {
    fn kind(&self) -> SourceKind {
        SourceKind::Fanotify
    }

    fn reason(&self) -> String {
        self.reason.clone()
    }

    fn run(self: Box<Self>, events: Sender<Observation>) {
        let Fanotify {
            group,
            policy,
            marked,
            trial,
            initial_scan,
            ..
        } = *self;
        let stats = Arc::new(Stats::default());
        let epoch = Instant::now();
        spawn_monitor(Arc::clone(&stats), epoch);
        if !trial {
            let weak = Arc::downgrade(&group);
            let stats = Arc::clone(&stats);
            let _ = std::thread::Builder::new()
                .name("varco-mounts".into())
                .spawn(move || follow_mounts(weak, marked, stats));
        }
        let me = Me::new();
        let mut judge = Judge::new(policy.clone()).reporting_to(events.clone());
        let mut catalog = policy.current().catalog_generation;
        // At most ~170 events (each with an open descriptor) per read: the
        // kernel refuses an exec whose descriptor it cannot install, so a
        // read must never approach the open-file limit.
        let mut buf = vec![0u8; 4096];
        let mut batch: Vec<ExecEvent> = Vec::with_capacity(256);
        if initial_scan {
            // Tools already running when varco started: decided once, off
            // the answering thread (a scan can take a while).
            let (policy, events, stats) = (policy.clone(), events.clone(), Arc::clone(&stats));
            let _ = std::thread::Builder::new()
                .name("varco-initial-scan".into())
                .spawn(move || report_running(&policy, &events, &stats));
        }
        let failure = loop {
            stats
                .heartbeat_ms
                .store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
            if events.is_closed() {
                break None;
            }
            if let Err(e) = group.wait(IDLE_WAKE_MS) {
                break Some(format!("waiting for events failed: {e}"));
            }
            let read_at = Instant::now();
            if let Err(e) = group.read(&mut buf, &mut batch) {
                break Some(format!("reading events failed: {e}"));
            }
            let generation = policy.current().catalog_generation;
            if generation != catalog {
                catalog = generation;
                flush_ignore_marks(&group, &stats);
            }
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                for ev in batch.drain(..) {
                    answer(ev, &me, &mut judge, &events, &stats);
                }
            }));
            // A panic dropped (so allowed) the events it had not reached.
            batch.clear();
            if outcome.is_err() {
                stats.allowed_on_error.fetch_add(1, Ordering::Relaxed);
            }
            tell_lost(&events, &stats);
            stats
                .slowest_us
                .fetch_max(read_at.elapsed().as_micros() as u64, Ordering::Relaxed);
        };
        stats.done.store(true, Ordering::Relaxed);
        // Answered (allowed) and closed before anything is logged: the
        // kernel then allows every exec, whatever the log does.
        drop(batch);
        drop(group);
        if let Some(f) = failure {
            tracing::error!("fanotify: {f}; exiting so the service manager restarts varco");
        }
        log_stats(&stats);
    }
}

/// varco's own process and executable: never refused.
struct Me {
    pid: u32,
    exe: Option<PathBuf>,
}

impl Me {
    fn new() -> Me {
        Me {
            pid: std::process::id(),
            exe: std::env::current_exe().ok(),
        }
    }
}

/// Answers one event; the only place that denies.
fn answer(ev: ExecEvent, me: &Me, judge: &mut Judge, events: &Sender<Observation>, stats: &Stats) {
    if ev.is_overflow() {
        stats.overflows.fetch_add(1, Ordering::Relaxed);
        stats.lost.fetch_add(1, Ordering::Relaxed);
        return;
    }
    stats.events.fetch_add(1, Ordering::Relaxed);
    let pid = ev.pid();
    if pid == me.pid {
        let _ = ev.allow();
        return;
    }
    let path = ev.path();
    if path.is_some() && me.exe.as_deref() == path.as_deref() {
        let _ = ev.allow();
        return;
    }
    // No descriptor (the kernel could not open the file for us): nothing
    // to judge here; the post-exec source judges what runs.
    let Some(file) = ev.open_file() else {
        stats.left_to_post_exec.fetch_add(1, Ordering::Relaxed);
        let _ = ev.allow();
        return;
    };
    // A path the kernel cannot name (longer than a page): judged on its
    // content through the descriptor; its name is for the post-exec
    // source, which reads the process's command line.
    let named = path.is_some();
    let mut facts = match path {
        Some(path) => procfs::pending_exec(pid, path),
        None => procfs::pending_exec_unnamed(pid),
    };
    let Some(judged) = judge.judge_held_exec(&facts, file, crate::sys::clock::now()) else {
        if named {
            allow_ordinary(ev, facts.exe.as_deref(), stats);
        } else {
            stats.left_to_post_exec.fetch_add(1, Ordering::Relaxed);
            let _ = ev.allow();
        }
        return;
    };
    // A remote tool (rare): gather what the record and the notification
    // need while the exec is held, since the process is sure to exist only
    // now — once refused, a shell's child reports EPERM and exits at once,
    // and without its owner the operator's agent could not be found. This
    // costs a few /proc reads (and, for a user not seen before, one name
    // lookup, waited for at most sys::users::WAIT) on the exec of a remote
    // tool only.
    procfs::complete(&mut facts);
    let refused = if judged.decision.verdict == Verdict::Blocked {
        match ev.deny() {
            Ok(()) => {
                stats.denied.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => {
                // Allowed instead (see ExecEvent::deny); the daemon kills
                // it once it runs.
                stats.allowed_on_error.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    } else {
        let _ = ev.allow();
        false
    };
    // Answered: where the file came from is read now, for the record.
    let decision = judged.with_origin();
    let obs = if refused {
        Observation::Enforced { facts, decision }
    } else {
        Observation::Started {
            facts,
            decision,
            source: SourceKind::Fanotify,
        }
    };
    if let Err(TrySendError::Full(_)) = events.try_send(obs) {
        stats.dropped.fetch_add(1, Ordering::Relaxed);
        stats.lost.fetch_add(1, Ordering::Relaxed);
    }
}

/// Tells the daemon that events were lost since it was last told, without
/// waiting: when its queue is full the count stays and the next batch (or
/// idle wake) tries again.
fn tell_lost(events: &Sender<Observation>, stats: &Stats) {
    let lost = stats.lost.load(Ordering::Relaxed);
    if lost == 0 {
        return;
    }
    let obs = Observation::Lost {
        source: SourceKind::Fanotify,
        reason: format!(
            "{lost} exec event(s) or observation(s) lost (kernel queue overflows so far: {}, observations the daemon's full queue could not take: {})",
            stats.overflows.load(Ordering::Relaxed),
            stats.dropped.load(Ordering::Relaxed)
        ),
    };
    if events.try_send(obs).is_ok() {
        stats.lost.fetch_sub(lost, Ordering::Relaxed);
    }
}

/// Forgets which files the kernel need not ask about (after a catalog
/// change). A failure is logged off this thread's hot path by the monitor
/// (the counter), and the marks then lapse only with the files' content.
fn flush_ignore_marks(group: &Group, stats: &Stats) {
    if group.flush_ignore_marks().is_ok() {
        stats.skipped.store(0, Ordering::Relaxed);
    } else {
        stats.allowed_on_error.fetch_add(1, Ordering::Relaxed);
    }
}

/// Allows an exec that is not a remote tool. A file only root can change
/// or rename (root-owned, in root-owned folders no one else can write) is
/// not asked about again until its content changes: the commonest
/// programs then cost nothing per exec. Anything else — a user's file, a
/// file in /tmp — is asked about every time, because a rename to a tool's
/// name must still be caught.
fn allow_ordinary(ev: ExecEvent, exe: Option<&Path>, stats: &Stats) {
    let skip = exe.is_some_and(|p| crate::sys::untrusted_reason(p).is_none())
        && stats.skipped.load(Ordering::Relaxed) < MAX_SKIPPED;
    if skip {
        if ev.allow_and_skip_from_now_on().is_ok() {
            stats.skipped.fetch_add(1, Ordering::Relaxed);
        }
    } else {
        let _ = ev.allow();
    }
}

/// Most files the kernel is told to stop asking about: each ignore mark
/// pins an inode in memory.
const MAX_SKIPPED: u64 = 8192;

/// Reports tools that were already running, for the daemon to decide.
fn report_running(policy: &SharedPolicy, events: &Sender<Observation>, stats: &Stats) {
    let Ok(mut w) = scan::Watcher::new() else {
        return;
    };
    let mut judge = Judge::new(policy.clone()).reporting_to(events.clone());
    let now = crate::sys::clock::now();
    for mut facts in w.new_processes() {
        if let Some(decision) = judge.judge_process(&mut facts, now)
            && let Err(TrySendError::Full(_)) = events.try_send(Observation::Started {
                facts,
                decision,
                source: SourceKind::Fanotify,
            })
        {
            stats.dropped.fetch_add(1, Ordering::Relaxed);
            stats.lost.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Logs the counters when they change, and aborts the daemon if the
/// answering loop stalls.
fn spawn_monitor(stats: Arc<Stats>, epoch: Instant) {
    let _ = std::thread::Builder::new()
        .name("varco-fanotify-watchdog".into())
        .spawn(move || {
            let mut last = (0, 0, 0);
            while !stats.done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                let beat = stats.heartbeat_ms.load(Ordering::Relaxed);
                let now = epoch.elapsed().as_millis() as u64;
                if !stats.done.load(Ordering::Relaxed)
                    && now.saturating_sub(beat) > STALL.as_millis() as u64
                {
                    eprintln!(
                        "varco: the fanotify answering loop made no progress for {} s; aborting so the kernel lets every exec through (the service manager restarts varco)",
                        STALL.as_secs()
                    );
                    std::process::abort();
                }
                let current = (
                    stats.denied.load(Ordering::Relaxed),
                    stats.allowed_on_error.load(Ordering::Relaxed),
                    stats.dropped.load(Ordering::Relaxed) + stats.overflows.load(Ordering::Relaxed),
                );
                if current != last {
                    last = current;
                    log_stats(&stats);
                }
            }
        });
}

fn log_stats(stats: &Stats) {
    let errors = stats.allowed_on_error.load(Ordering::Relaxed);
    let dropped = stats.dropped.load(Ordering::Relaxed);
    let line = format!(
        "fanotify: {} exec events answered, {} system files no longer asked about, {} refused, {} allowed after an internal error, {} left to the post-exec source (no name or descriptor), {} queue overflows, {} observations dropped (daemon queue full), slowest batch {} µs",
        stats.events.load(Ordering::Relaxed),
        stats.skipped.load(Ordering::Relaxed),
        stats.denied.load(Ordering::Relaxed),
        errors,
        stats.left_to_post_exec.load(Ordering::Relaxed),
        stats.overflows.load(Ordering::Relaxed),
        dropped,
        stats.slowest_us.load(Ordering::Relaxed)
    );
    if errors > 0 || dropped > 0 || stats.overflows.load(Ordering::Relaxed) > 0 {
        tracing::warn!("{line}");
    } else {
        tracing::info!("{line}");
    }
}

/// Marks filesystems as they are mounted, until the group is gone. Holds
/// the group only weakly: if the answering loop ends, the group must close
/// (so the kernel allows execs) even while this thread lives.
fn follow_mounts(group: Weak<Group>, mut marked: Marked, stats: Arc<Stats>) {
    let Ok(mut file) = std::fs::File::open("/proc/self/mountinfo") else {
        tracing::error!("fanotify: cannot watch /proc/self/mountinfo; new mounts are not marked");
        return;
    };
    let mut text = String::new();
    while !stats.done.load(Ordering::Relaxed) {
        match wait_mount_change(&file, 1000) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::error!("fanotify: watching mounts failed: {e}; new mounts are not marked");
                return;
            }
        }
        text.clear();
        if file.rewind().is_err() || file.read_to_string(&mut text).is_err() {
            continue;
        }
        let Some(g) = group.upgrade() else { return };
        for f in mark_new(&g, &text, &mut marked) {
            tracing::warn!("fanotify: new mount not marked: {f}");
        }
    }
}

/// One line of `/proc/self/mountinfo`, the fields that matter here.
#[derive(Debug, PartialEq, Eq)]
struct Mount {
    id: u64,
    device: String,
    point: PathBuf,
    fstype: String,
}

fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let fstype = right.split(' ').next()?;
            Some(Mount {
                id: l.first()?.parse().ok()?,
                device: l.get(2)?.to_string(),
                point: PathBuf::from(unescape(l.get(4)?)),
                fstype: fstype.to_string(),
            })
        })
        .collect()
}

/// Mount points escape space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && let Some(code) = s
                .get(i + 1..i + 4)
                .and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            out.push(code);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Marks the filesystems in `mountinfo` not marked yet; returns what
/// failed, for the log.
fn mark_new(group: &Group, mountinfo: &str, marked: &mut Marked) -> Vec<String> {
    let mut failures = Vec::new();
    for m in parse_mountinfo(mountinfo) {
        let fuse_control = m.fstype == "fuse" && m.point == Path::new("/sys/fs/fuse/connections");
        if PSEUDO.contains(&m.fstype.as_str()) || fuse_control {
            continue;
        }
        if marked.devices.contains(&m.device) || marked.mounts.contains(&m.id) {
            continue;
        }
        match group.mark(&m.point) {
            Ok(MarkKind::Filesystem) => {
                marked.devices.insert(m.device);
            }
            Ok(MarkKind::Mount) => {
                marked.mounts.insert(m.id);
            }
            // Over-mounted or vanished since the table was read.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => failures.push(format!("{} ({}): {e}", m.point.display(), m.fstype)),
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_give_id_device_point_and_type() {
        let text = "22 1 0:21 / /proc rw,nosuid shared:12 - proc proc rw\n\
                    30 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
                    41 30 0:35 / /tmp/with\\040space rw - tmpfs none rw\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 3);
        assert_eq!(m[1].device, "8:1");
        assert_eq!(m[1].point, PathBuf::from("/"));
        assert_eq!(m[1].fstype, "ext4");
        assert_eq!(m[2].point, PathBuf::from("/tmp/with space"));
        assert_eq!(m[2].id, 41);
    }
}
