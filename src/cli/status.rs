//! `varco status`: the windows open now and next, and which source the
//! daemon runs.

use std::path::Path;
use std::process::ExitCode;

use jiff::Timestamp;

use super::args::{CatalogFile, TrustedKeyFile};
use crate::effect::audit::{Event, parse_all};
use crate::policy::catalog::Catalog;
use crate::policy::files::{self, ConfigSource, LoadError, Trust};
use crate::policy::schedule::{MaintenanceWindow, Schedule, Tools, When};
use crate::source;

/// Prints the status; fails when the windows file or catalog has a problem.
pub fn status(
    embedded: &Catalog,
    windows: ConfigSource,
    extension: CatalogFile,
    key: TrustedKeyFile,
    audit_log: &Path,
) -> ExitCode {
    if let ConfigSource::Url(url) = &windows {
        println!("windows from: {url} (the daemon fetches it; below, the last good copy it kept)");
    }
    let windows = super::readable(windows);
    let trust = match super::trust(key) {
        Ok(t) => t,
        Err(e) => {
            println!("windows file: {}", windows.describe());
            println!("PROBLEM: {e}");
            println!("→ no window is open and only the embedded catalog is in force (fail closed)");
            source_status(audit_log);
            return ExitCode::FAILURE;
        }
    };
    if let Some(k) = &trust.key {
        println!("signatures: required, trusted key id {}", k.id());
    }
    let code = match super::with_extension(embedded, extension, &windows, &trust) {
        Ok(catalog) => windows_status(windows, &catalog, &trust),
        Err(e) => {
            println!("PROBLEM: {e}");
            println!("→ only the embedded catalog is in force (fail closed)");
            let _ = windows_status(windows, embedded, &trust);
            ExitCode::FAILURE
        }
    };
    source_status(audit_log);
    code
}

/// Loads the windows file, printing which one and any problem; a problem
/// means no window is open (fail closed).
pub fn schedule_shown(
    source: &ConfigSource,
    catalog: &Catalog,
    trust: &Trust,
) -> (Schedule, Option<LoadError>) {
    let now = Timestamp::now();
    let (schedule, problem) = match source {
        ConfigSource::EmbeddedDefault => (Schedule::fail_closed(), None),
        ConfigSource::File(path) => match files::load(path, catalog, trust) {
            Ok(s) if s.expired_at(now) => {
                let at = s.expires.map(|e| s.local(e)).unwrap_or_default();
                let e = LoadError::Expired {
                    path: path.clone(),
                    at,
                };
                (s.expired(), Some(e))
            }
            Ok(s) => (s, None),
            Err(e) => (Schedule::fail_closed(), Some(e)),
        },
        ConfigSource::Url(url) => (
            Schedule::fail_closed(),
            Some(LoadError::Missing {
                path: std::path::PathBuf::from(url),
            }),
        ),
    };
    println!("windows file: {}", source.describe());
    if let ConfigSource::File(path) = &source
        && path.exists()
    {
        match crate::sys::untrusted_reason(path) {
            None => println!("permissions: only administrators can change it"),
            Some(why) => {
                println!("PERMISSIONS: {why} → the system service refuses this file (fail closed)")
            }
        }
    }
    if let Some(e) = &problem {
        println!("PROBLEM: {e}");
        println!("→ no window is open until the file is fixed (fail closed)");
    }
    (schedule, problem)
}

fn windows_status(source: ConfigSource, catalog: &Catalog, trust: &Trust) -> ExitCode {
    let now = Timestamp::now();
    let (schedule, problem) = schedule_shown(&source, catalog, trust);
    if let Some(serial) = schedule.serial {
        println!("serial: {serial}");
    }
    if let Some(expires) = schedule.expires {
        println!("expires: {}", schedule.local(expires));
    }
    println!(
        "mode: {}   zone: {}   now: {}",
        schedule.mode.as_str(),
        schedule.timezone_name,
        schedule.local(now)
    );
    if let Some(phone) = &schedule.contact.phone {
        println!(
            "contact: {} {phone}",
            schedule.contact.company.as_deref().unwrap_or("")
        );
    }
    let open = schedule.open_at(now);
    println!("open now: {}", if open.is_empty() { "none" } else { "" });
    for (w, o) in open {
        println!(
            "  {}  until {}  tools: {}{}",
            w.id,
            schedule.local(o.end),
            tools_text(&w.tools),
            who(w)
        );
    }
    let upcoming = schedule.upcoming(now);
    println!("next: {}", if upcoming.is_empty() { "none" } else { "" });
    for (w, o) in upcoming.iter().take(10) {
        let kind = match w.when {
            When::Once { .. } => "one-off",
            When::Weekly { .. } => "recurring",
        };
        println!(
            "  {}  {} → {}  tools: {}  ({kind}){}",
            w.id,
            schedule.local(o.start),
            schedule.local(o.end),
            tools_text(&w.tools),
            who(w)
        );
    }
    if problem.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn tools_text(t: &Tools) -> String {
    match t {
        Tools::Any => "any remote tool".into(),
        Tools::Only(ids) => ids.join(", "),
    }
}

fn who(w: &MaintenanceWindow) -> String {
    w.technician
        .as_ref()
        .map(|t| format!("  technician: {t}"))
        .unwrap_or_default()
}

/// Which source the daemon runs (from its last `started` record) and which
/// would work here now.
fn source_status(audit_log: &Path) {
    let text = std::fs::read_to_string(audit_log).unwrap_or_default();
    let last = parse_all(&text)
        .filter(|r| matches!(r.event, Event::Started | Event::Stopped))
        .last();
    match last {
        Some(r) if r.event == Event::Started => {
            // Records before two sources ran name one `source` only.
            let names = match &r.sources {
                Some(all) if !all.is_empty() => all
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" + "),
                _ => r.source.map_or("?", |s| s.as_str()).to_string(),
            };
            let word = if names.contains(" + ") {
                "sources"
            } else {
                "source"
            };
            println!(
                "daemon: {word} {names} since {} — {}",
                r.time,
                r.reason.as_deref().unwrap_or("")
            )
        }
        Some(r) => println!(
            "daemon: stopped at {} ({})",
            r.time,
            r.reason.as_deref().unwrap_or("")
        ),
        None => println!(
            "daemon: no start recorded in {} (pass --audit-log FILE)",
            audit_log.display()
        ),
    }
    suspension_status(&text);
    let here: Vec<String> = source::availability()
        .into_iter()
        .map(|(name, r)| match r {
            Ok(()) => format!("{name}: available"),
            Err(why) => format!("{name}: unavailable — {why}"),
        })
        .collect();
    println!("event sources here: {}", here.join("; "));
}

/// Whether a panic suspended the windows and nothing lifted it yet: the
/// operator pressed the button, and IT, called back, must see it first.
fn suspension_status(audit_log: &str) {
    let last = parse_all(audit_log)
        .filter(|r| matches!(r.event, Event::Panic | Event::Resumed))
        .last();
    let Some(panic) = last.filter(|r| r.event == Event::Panic) else {
        return;
    };
    if panic
        .until
        .as_ref()
        .is_some_and(|u| u.at <= Timestamp::now())
    {
        return;
    }
    let by = match (&panic.user, panic.uid) {
        (Some(user), _) => user.clone(),
        (None, Some(uid)) => format!("uid {uid}"),
        (None, None) => "?".to_string(),
    };
    let until = panic.until.as_ref().map_or_else(
        || "until root lifts it".to_string(),
        |u| format!("until {u}"),
    );
    println!(
        "windows: SUSPENDED by the panic button since {} (by {by}), {until} — no tool is admitted; root lifts it with `varco resume`",
        panic.time
    );
}
