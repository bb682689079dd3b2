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

use std::time::Duration;

use proc_connector::{Error as PcError, EventMask, ProcConnector as Socket, ProcEvent};
use tokio::sync::mpsc::Sender;

use super::{Judge, Observation, ProcessSource, procfs, scan};
use crate::facts::SourceKind;
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
        loop {
            match self.socket.recv_timeout(&mut buf, IDLE_WAKE) {
                Ok(Some(ProcEvent::Exec { tgid, .. })) => {
                    if !exec(tgid, &events, &mut judge) {
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
fn exec(pid: u32, events: &Sender<Observation>, judge: &mut Judge) -> bool {
    let Some(mut facts) = procfs::names_of(pid) else {
        return true; // already exited
    };
    let Some(decision) = judge.judge_exec(&mut facts, crate::sys::clock::now()) else {
        return true;
    };
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
