//! Windows process-start events from WMI.
//!
//! Each event wakes an immediate process listing, so a tool is decided as
//! soon as Windows reports it instead of at the next scan. The event
//! carries only a pid; the listing (the same [`Watcher`] the scan uses)
//! supplies the full facts and never reports a process twice. A slow
//! listing keeps running beside the events, so a lost event delays a
//! decision but never skips one.
//!
//! `Win32_ProcessStartTrace` is fed by the kernel's process events and
//! needs administrator rights (the service has them);
//! `__InstanceCreationEvent` works for any user but is WMI polling every
//! second. When neither can be subscribed (WMI stopped, or Wine, which
//! does not implement event queries), [`WmiEvents::probe`] says why and
//! the daemon runs the plain scan instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::Sender;
use wmi::{Variant, WMIConnection};

use super::scan::{Watcher, send_tools};
use super::{Judge, Observation, ProcessSource};
use crate::facts::SourceKind;
use crate::policy::SharedPolicy;

/// Event queries, best first.
const QUERIES: [(&str, &str); 2] = [
    (
        "SELECT ProcessID FROM Win32_ProcessStartTrace",
        "WMI Win32_ProcessStartTrace (kernel process-start events)",
    ),
    (
        "SELECT * FROM __InstanceCreationEvent WITHIN 1 WHERE TargetInstance ISA 'Win32_Process'",
        "WMI __InstanceCreationEvent (WMI polls every second; Win32_ProcessStartTrace needs administrator rights)",
    ),
];

/// The interval of the safety-net listing beside the events.
const SAFETY_NET: Duration = Duration::from_secs(2);

/// Process starts from WMI event notifications.
pub struct WmiEvents {
    policy: SharedPolicy,
    query: &'static str,
    reason: String,
}

impl WmiEvents {
    /// Whether WMI process events work here, for `varco status`.
    pub fn available() -> Result<(), String> {
        Self::find_query().map(|_| ())
    }

    /// Subscribes once to find which query works here. Returns why none
    /// does, for the `started` record of the scan that replaces it.
    pub fn probe(policy: SharedPolicy) -> Result<WmiEvents, String> {
        let (query, reason) = Self::find_query()?;
        Ok(WmiEvents {
            policy,
            query,
            reason,
        })
    }

    fn find_query() -> Result<(&'static str, String), String> {
        let con = WMIConnection::new().map_err(|e| format!("cannot connect to WMI: {e}"))?;
        let mut failures = Vec::new();
        for (query, what) in QUERIES {
            match con.exec_notification_query(query) {
                Ok(_) => {
                    return Ok((
                        query,
                        format!("{what}, with a listing every {SAFETY_NET:?} as a safety net"),
                    ));
                }
                Err(e) => failures.push(format!("{what}: {e}")),
            }
        }
        Err(format!("no WMI process events ({})", failures.join("; ")))
    }
}

impl ProcessSource for WmiEvents {
    fn kind(&self) -> SourceKind {
        SourceKind::Wmi
    }

    fn reason(&self) -> String {
        self.reason.clone()
    }

    fn run(self: Box<Self>, events: Sender<Observation>) {
        let watcher = match Watcher::new() {
            Ok(w) => Arc::new(Mutex::new((
                w,
                Judge::new(self.policy.clone()).reporting_to(events.clone()),
            ))),
            Err(e) => {
                // Dropping `events` tells the daemon enforcement is off.
                tracing::error!("cannot list processes: {e}");
                return;
            }
        };
        // The first listing reports what already runs.
        if !report(&watcher, &events) {
            return;
        }
        let net_watcher = Arc::clone(&watcher);
        let net_events = events.clone();
        let net = std::thread::Builder::new()
            .name("varco-wmi-safety-net".into())
            .spawn(move || {
                while report(&net_watcher, &net_events) {
                    std::thread::sleep(SAFETY_NET);
                }
            });
        if let Err(e) = net {
            tracing::error!("cannot start the safety-net listing: {e}");
            return;
        }
        // WMI connections belong to the thread that made them.
        let con = match WMIConnection::new() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(
                    "cannot connect to WMI ({e}); only the listing every {SAFETY_NET:?} runs"
                );
                return wait_closed(&events);
            }
        };
        let stream = match con.raw_notification::<HashMap<String, Variant>>(self.query) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(
                    "WMI process events stopped ({e}); only the listing every {SAFETY_NET:?} runs"
                );
                return wait_closed(&events);
            }
        };
        for event in stream {
            if let Err(e) = event {
                tracing::warn!("WMI event error: {e}");
                continue;
            }
            if !report(&watcher, &events) {
                return;
            }
        }
        tracing::error!("WMI process events ended; only the listing every {SAFETY_NET:?} runs");
        wait_closed(&events);
    }
}

/// Lists processes and reports the remote tools among the new ones;
/// false once the daemon is gone.
fn report(watcher: &Mutex<(Watcher, Judge)>, events: &Sender<Observation>) -> bool {
    let mut guard = match watcher.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    let (watcher, judge) = &mut *guard;
    let fresh = watcher.new_processes();
    send_tools(judge, fresh, events, SourceKind::Wmi)
}

/// Keeps the event thread (and its sender) alive while the safety net
/// works alone, so the daemon does not take the source for dead.
fn wait_closed(events: &Sender<Observation>) {
    while !events.is_closed() {
        std::thread::sleep(SAFETY_NET);
    }
}
