//! Linux exec events through the kernel's process connector (netlink):
//! the fallback where fanotify is unavailable. The kernel reports each
//! exec just after it happened; a remote tool is killed then, having run
//! for the time the event takes to arrive (measured in the benchmark).
//!
//! Needs the initial network namespace, and root (CAP_NET_ADMIN) on
//! kernels before 6.6; later kernels let any user listen, so an
//! unprivileged session gets exec events too (it can still stop only its
//! own user's programs). The kernel drops events when the socket's
//! buffer is full: then the source lists every process once, so a tool
//! started during the overrun is still decided.

use std::time::Duration;

use jiff::Timestamp;
use proc_connector::{Error as PcError, EventMask, ProcConnector as Socket, ProcEvent};
use sysinfo::Users;
use tokio::sync::mpsc::Sender;

use super::{Observation, ProcessSource, procfs, scan};
use crate::identify::Identifier;
use crate::policy::SharedPolicy;

/// Receive buffer asked of the kernel: room for a storm of exec events
/// while the daemon is busy.
const RECV_BUFFER: usize = 4 << 20;

/// How often the loop wakes when idle to notice shutdown.
const IDLE_WAKE: Duration = Duration::from_secs(1);

/// The netlink process-connector source.
pub struct ProcConnector {
    socket: Socket,
    policy: SharedPolicy,
    reason: String,
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
        if let Err(e) = socket.set_recv_buf_size(RECV_BUFFER) {
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
        })
    }
}

impl ProcessSource for ProcConnector {
    fn name(&self) -> &'static str {
        "proc-connector"
    }

    fn reason(&self) -> String {
        self.reason.clone()
    }

    fn run(self: Box<Self>, events: Sender<Observation>) {
        let mut users = Users::new_with_refreshed_list().ok();
        // Content evidence (renamed tools), cached per file version.
        let mut identifier = Identifier::new();
        // Subscribed first, listed second: nothing falls in between.
        let mut watcher = scan::Watcher::new().ok();
        if let Some(w) = watcher.as_mut() {
            let all = w.new_processes();
            if !self.send_tools(all, &events, &mut identifier) {
                return;
            }
        }
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match self.socket.recv_timeout(&mut buf, IDLE_WAKE) {
                Ok(Some(ProcEvent::Exec { tgid, .. })) => {
                    if !self.exec(tgid, &events, &mut users, &mut identifier) {
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
                    tracing::warn!("process connector: events were lost; listing every process");
                    if let Some(w) = watcher.as_mut() {
                        let fresh = w.new_processes();
                        if !self.send_tools(fresh, &events, &mut identifier) {
                            return;
                        }
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

impl ProcConnector {
    /// Decides on one exec; false when the daemon has gone.
    fn exec(
        &self,
        pid: u32,
        events: &Sender<Observation>,
        users: &mut Option<Users>,
        identifier: &mut Identifier,
    ) -> bool {
        let Some(mut facts) = procfs::names_of(pid) else {
            return true; // already exited
        };
        if identifier
            .decide(&self.policy.current(), &facts, Timestamp::now())
            .is_none()
        {
            return true;
        }
        if !procfs::complete(&mut facts, users) {
            return true;
        }
        events.blocking_send(Observation::Started(facts)).is_ok()
    }

    /// Sends the remote tools among `all`; false when the daemon has gone.
    fn send_tools(
        &self,
        all: Vec<crate::process::ProcessFacts>,
        events: &Sender<Observation>,
        identifier: &mut Identifier,
    ) -> bool {
        let p = self.policy.current();
        let now = Timestamp::now();
        all.into_iter()
            .filter(|f| identifier.decide(&p, f, now).is_some())
            .all(|f| events.blocking_send(Observation::Started(f)).is_ok())
    }
}
