//! Linux exec events through the kernel's process connector (netlink):
//! the fallback where fanotify is unavailable. The kernel reports each
//! exec just after it happened; a remote tool is killed then, having run
//! for the time the event takes to arrive (measured in the benchmark).
//!
//! Needs the initial network namespace, and root (CAP_NET_ADMIN) on
//! kernels before 6.6; later kernels let any user listen, so an
//! unprivileged session gets exec events too (it can still stop only its
//! own user's programs). The kernel drops events when the socket's
//! buffer is full (`ENOBUFS`): then the daemon is told
//! ([`Observation::Lost`]), records it and decides every running process
//! again, so a tool started during the overrun is still decided.
//!
//! Where fanotify works this source runs beside it, and decides every
//! exec again on what actually runs ([`Judge::judge_exec`]): the
//! executable opened once through `/proc/PID/exe`, or the program a
//! loader or interpreter was asked to run, a memfd by its name. That is
//! what fanotify cannot see: loader launches, memfds, files on mounts of
//! another mount namespace, paths longer than `PATH_MAX`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use proc_connector::{Error as PcError, EventMask, ProcConnector as Socket, ProcEvent};
use tokio::sync::mpsc::Sender;
use tokio::sync::mpsc::error::TrySendError;

use super::{Judge, Observation, ProcessSource, procfs, scan};
use crate::decide::Decision;
use crate::facts::{ProcessFacts, SourceKind};
use crate::policy::SharedPolicy;

/// Receive buffer asked of the kernel: room for a storm of exec events
/// while the daemon is busy.
const RECV_BUFFER: usize = 4 << 20;

/// The receive buffer to ask for: [`RECV_BUFFER`]. Debug builds only
/// (the ones `cargo test` runs): `VARCO_TEST_NETLINK_BUFFER` sets it, so
/// an integration test can overflow it with a burst of execs, as a flood
/// would overflow the real one. Release builds do not read the variable.
fn recv_buffer() -> usize {
    #[cfg(debug_assertions)]
    if let Some(n) = std::env::var("VARCO_TEST_NETLINK_BUFFER")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return n;
    }
    RECV_BUFFER
}

/// How often the loop wakes when idle to notice shutdown.
const IDLE_WAKE: Duration = Duration::from_secs(1);

const KIND: SourceKind = SourceKind::ProcConnector;

/// The netlink process-connector source.
pub struct ProcConnector {
    socket: Socket,
    policy: SharedPolicy,
    reason: String,
    /// Running beside fanotify, which already answered every exec it could
    /// see: this one looks again without preempting what runs.
    beside: bool,
}

/// Why the process connector cannot be used here.
#[derive(Debug, thiserror::Error)]
#[error(
    "the process connector is unavailable ({0}): it needs the initial network namespace, a kernel with CONFIG_PROC_EVENTS, and root (CAP_NET_ADMIN) on kernels before 6.6"
)]
pub struct ProcConnectorError(String);

impl ProcConnector {
    /// Subscribes to exec events; `why` says why no better source runs.
    pub fn open(policy: SharedPolicy, why: &str) -> Result<ProcConnector, ProcConnectorError> {
        let socket = Socket::new().map_err(|e| ProcConnectorError(e.to_string()))?;
        // Non-blocking before narrowing to exec events: the kernel's
        // acknowledgement of a filtered subscription is itself filtered
        // out (it is not an exec event), and the crate's blocking wait for
        // it would hang until some exec happened. The loop polls anyway.
        socket
            .set_nonblocking()
            .map_err(|e| ProcConnectorError(e.to_string()))?;
        match socket.subscribe_filtered(EventMask::EXEC) {
            Ok(()) | Err(PcError::WouldBlock) => {}
            Err(e) => return Err(ProcConnectorError(e.to_string())),
        }
        if let Err(e) = socket.set_recv_buf_size(recv_buffer()) {
            tracing::warn!("process connector: cannot enlarge the receive buffer: {e}");
        }
        let reason = if why.is_empty() {
            "netlink process connector: kill on exec".to_string()
        } else {
            format!("netlink process connector: kill on exec ({why})")
        };
        Ok(ProcConnector {
            socket,
            policy,
            reason,
            beside: false,
        })
    }

    /// This source as the second one, beside fanotify: its thread is woken
    /// by every exec on the machine but no exec waits for it, so it does
    /// not preempt the program it was woken for
    /// ([`crate::sys::wake_without_preempting`]); it runs as soon as a
    /// processor is free or at the next tick.
    pub fn beside_fanotify(mut self) -> ProcConnector {
        self.beside = true;
        self
    }
}

impl ProcessSource for ProcConnector {
    fn kind(&self) -> SourceKind {
        SourceKind::ProcConnector
    }

    fn reason(&self) -> String {
        self.reason.clone()
    }

    fn run(self: Box<Self>, events: Sender<Observation>) {
        if self.beside
            && let Err(e) = crate::sys::wake_without_preempting()
        {
            tracing::warn!("process connector: cannot lower its wake-up priority: {e}");
        }
        let mut judge = Judge::new(self.policy.clone()).reporting_to(events.clone());
        // Subscribed first, listed second: nothing falls in between.
        let mut watcher = scan::Watcher::new().ok();
        if watcher.is_none() {
            // Nothing listed at start: make the daemon walk the table.
            let _ = events.blocking_send(Observation::Lost {
                source: KIND,
                reason: "the processes running at start could not be listed".into(),
            });
        }
        if let Some(w) = watcher.as_mut()
            && !scan::send_tools(&mut judge, w.new_processes(), &events, KIND)
        {
            return;
        }
        drop(watcher);
        let mut buf = vec![0u8; 16 * 1024];
        let mut awaiting = Awaiting::default();
        loop {
            let wake = awaiting.next_due().map_or(IDLE_WAKE, |due| {
                due.saturating_duration_since(Instant::now())
                    .clamp(Duration::from_millis(1), IDLE_WAKE)
            });
            let received = self.socket.recv_timeout(&mut buf, wake);
            if !awaiting.look_again(&mut judge, &events) {
                return;
            }
            match received {
                Ok(Some(ProcEvent::Exec { tgid, .. })) => {
                    if !exec(tgid, &events, &mut judge, &mut awaiting) {
                        return;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(PcError::Interrupted) | Err(PcError::WouldBlock) => {
                    if events.is_closed() {
                        return;
                    }
                }
                Err(PcError::Overrun) => {
                    let lost = Observation::Lost {
                        source: KIND,
                        reason: "the kernel dropped exec events: the netlink receive buffer was full (ENOBUFS)".into(),
                    };
                    if events.blocking_send(lost).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    // Dropping `events` tells the daemon enforcement is off.
                    tracing::error!("process connector failed: {e}");
                    return;
                }
            }
        }
    }
}

/// Decides on one exec; false when the daemon has gone.
fn exec(
    pid: u32,
    events: &Sender<Observation>,
    judge: &mut Judge,
    awaiting: &mut Awaiting,
) -> bool {
    let Some(mut facts) = procfs::names_of(pid) else {
        return true; // already exited
    };
    let judged = judge.judge_exec(&mut facts, crate::sys::clock::now());
    if judged.look_again
        && !judged
            .decision
            .as_ref()
            .is_some_and(|d| d.verdict == crate::decide::Verdict::Blocked)
        && !awaiting.add(pid, events)
    {
        return false;
    }
    match judged.decision {
        Some(decision) => send(facts, decision, events),
        None => true,
    }
}

/// Sends a tool's observation, with what the record needs; false when the
/// daemon has gone.
fn send(mut facts: ProcessFacts, decision: Decision, events: &Sender<Observation>) -> bool {
    if !procfs::complete(&mut facts) {
        return true;
    }
    procfs::add_cmdline(&mut facts);
    events
        .blocking_send(Observation::Started {
            facts,
            decision,
            source: KIND,
        })
        .is_ok()
}

/// The first look again at a loader launch whose program was not mapped.
const FIRST_LOOK_AGAIN: Duration = Duration::from_millis(10);
/// The longest wait between two looks (each wait doubles).
const LONGEST_LOOK_AGAIN: Duration = Duration::from_secs(2);
/// Most loader launches awaited at once (a few dozen bytes each).
const AWAITING_LIMIT: usize = 65536;
/// Least time between two walks asked for because an awaited launch ended.
const WALK_EVERY: Duration = Duration::from_secs(1);

/// Loader launches whose program was not mapped when their exec was
/// judged: a loader can be held before it opens its program (its standard
/// error a full pipe, its program a FIFO), and the file at the program's
/// path swapped meanwhile. Each is looked at again, ever less often (a
/// cheap look at its mappings first), until the loader has mapped
/// something, then judged on it. One that ends first may have forked what
/// it mapped: the daemon is asked to decide every process again.
#[derive(Default)]
struct Awaiting {
    /// By when each is due, soonest first.
    due: BinaryHeap<Reverse<(Instant, u32)>>,
    entries: HashMap<u32, Waiting>,
    /// Launches not awaited because the list was full, not yet reported.
    refused: usize,
    /// An awaited launch ended before it was judged on what it mapped.
    walk_owed: bool,
    last_walk: Option<Instant>,
}

/// No command line is kept: a held loader's can be megabytes, and it is
/// read again once, when the loader has mapped its program.
struct Waiting {
    marker: u64,
    loader: (u64, u64),
    every: Duration,
}

impl Awaiting {
    /// Awaits the launch `pid`; false when the daemon has gone. When the list is full the launch is not awaited, and that is
    /// reported as lost events.
    fn add(&mut self, pid: u32, events: &Sender<Observation>) -> bool {
        let (Some(marker), Some(loader)) = (crate::sys::start_marker(pid), procfs::exe_id(pid))
        else {
            return true;
        };
        if self.entries.len() >= AWAITING_LIMIT {
            self.refused += 1;
            let lost = Observation::Lost {
                source: KIND,
                reason: format!(
                    "{} loader launch(es) not looked at again: {AWAITING_LIMIT} already await their program",
                    self.refused
                ),
            };
            return match events.try_send(lost) {
                Ok(()) => {
                    self.refused = 0;
                    true
                }
                Err(TrySendError::Full(_)) => true,
                Err(TrySendError::Closed(_)) => false,
            };
        }
        let every = FIRST_LOOK_AGAIN;
        self.entries.insert(
            pid,
            Waiting {
                marker,
                loader,
                every,
            },
        );
        self.due.push(Reverse((Instant::now() + every, pid)));
        true
    }

    fn next_due(&self) -> Option<Instant> {
        let walk = self
            .walk_owed
            .then(|| self.last_walk.map_or_else(Instant::now, |t| t + WALK_EVERY));
        let look = self.due.peek().map(|Reverse((at, _))| *at);
        walk.into_iter().chain(look).min()
    }

    /// Looks again at the launches that are due; false when the daemon has
    /// gone.
    fn look_again(&mut self, judge: &mut Judge, events: &Sender<Observation>) -> bool {
        let now = Instant::now();
        while let Some(Reverse((at, pid))) = self.due.peek().copied() {
            if at > now {
                break;
            }
            self.due.pop();
            let Some(w) = self.entries.get_mut(&pid) else {
                continue;
            };
            if !crate::sys::still_running(pid, w.marker) {
                self.entries.remove(&pid);
                self.walk_owed = true;
                continue;
            }
            if procfs::awaits_its_program(pid, w.loader) {
                w.every = (w.every * 2).min(LONGEST_LOOK_AGAIN);
                self.due.push(Reverse((now + w.every, pid)));
                continue;
            }
            self.entries.remove(&pid);
            let Some(mut facts) = procfs::names_of(pid) else {
                self.walk_owed = true;
                continue;
            };
            let judged = judge.judge_again(&mut facts, crate::sys::clock::now());
            if let Some(decision) = judged.decision
                && !send(facts, decision, events)
            {
                return false;
            }
        }
        if self.walk_owed
            && self
                .last_walk
                .is_none_or(|t| now.duration_since(t) >= WALK_EVERY)
        {
            let lost = Observation::Lost {
                source: KIND,
                reason: "a loader launch ended before the program it was held from mapping could be judged; what it started is decided again".into(),
            };
            match events.try_send(lost) {
                Ok(()) => {
                    self.walk_owed = false;
                    self.last_walk = Some(now);
                }
                Err(TrySendError::Full(_)) => {}
                Err(TrySendError::Closed(_)) => return false,
            }
        }
        true
    }
}
