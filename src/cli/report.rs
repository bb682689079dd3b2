//! `varco report`: writes the incident report from the audit log.

use std::path::Path;
use std::process::ExitCode;

use jiff::Timestamp;

use super::args::TrustedKeyFile;
use crate::policy::catalog::Catalog;
use crate::policy::files::{self, ConfigSource, Trust};
use crate::policy::schedule::Schedule;
use crate::report::{ContractReport, Report};

/// Writes the report (Markdown on standard output, or FILE.md and
/// FILE.html with `--out FILE`).
pub fn report(
    since: Option<&str>,
    out: Option<&Path>,
    audit_log: &Path,
    source: &ConfigSource,
    catalog: &Catalog,
) -> ExitCode {
    let trust = report_trust();
    let tz = zone_of(source, catalog, &trust);
    let since = match since.map(|s| parse_since(s, &tz)).transpose() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("varco report: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match Report::build(audit_log, source, catalog, &trust, since, Timestamp::now()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("varco report: {e}");
            return ExitCode::FAILURE;
        }
    };
    match out {
        None => {
            print!("{}", report.markdown());
            ExitCode::SUCCESS
        }
        Some(out) => match report.write(out, crate::report::Readers::OwnerAndGroup) {
            Ok((md, html)) => {
                println!(
                    "{} event(s): {} and {} (open the .html to print it)",
                    report.len(),
                    md.display(),
                    html.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("varco report: cannot write {}: {e}", out.display());
                ExitCode::FAILURE
            }
        },
    }
}

/// `varco report --windows --from DATE --to DATE`: the contract report
/// (Markdown on standard output, or FILE.md and FILE.html with `--out`).
pub fn contract(
    (from, to): (&str, &str),
    out: Option<&Path>,
    audit_log: &Path,
    source: &ConfigSource,
    catalog: &Catalog,
) -> ExitCode {
    let trust = report_trust();
    let tz = zone_of(source, catalog, &trust);
    let period = parse_since(from, &tz)
        .map_err(|e| e.replace("--since", "--from"))
        .and_then(|f| Ok((f, parse_until(to, &tz)?)));
    let (from, to) = match period {
        Ok((f, t)) if t > f => (f, t),
        Ok(_) => {
            eprintln!("varco report: --to must not be before --from");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("varco report: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match ContractReport::build(
        audit_log,
        source,
        catalog,
        &trust,
        (from, to),
        Timestamp::now(),
    ) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("varco report: {e}");
            return ExitCode::FAILURE;
        }
    };
    match out {
        None => {
            print!("{}", report.markdown());
            ExitCode::SUCCESS
        }
        Some(out) => {
            let md = out.with_extension("md");
            let html = out.with_extension("html");
            if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty())
                && let Err(e) = std::fs::create_dir_all(dir)
            {
                eprintln!("varco report: cannot create {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
            match std::fs::write(&md, report.markdown())
                .and_then(|()| std::fs::write(&html, report.html()))
            {
                Ok(()) => {
                    println!(
                        "{} window(s) planned: {} and {} (open the .html to print it)",
                        report.planned(),
                        md.display(),
                        html.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("varco report: cannot write {}: {e}", out.display());
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// The zone of the windows file (Europe/Rome when it cannot be read).
/// IT's files are trusted as the daemon trusts them: with the key
/// installed in IT's folder, when there is one.
fn report_trust() -> Trust {
    match super::trust(TrustedKeyFile { path: None }) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("varco report: {e}");
            Trust::default()
        }
    }
}

fn zone_of(source: &ConfigSource, catalog: &Catalog, trust: &Trust) -> jiff::tz::TimeZone {
    match source {
        ConfigSource::File(p) => files::load(p, catalog, trust)
            .map(|s| s.timezone)
            .unwrap_or_else(|_| Schedule::fail_closed().timezone),
        ConfigSource::Url(_) | ConfigSource::EmbeddedDefault => Schedule::fail_closed().timezone,
    }
}

/// `--to`: the end of a local date (the next midnight), or an instant.
fn parse_until(s: &str, tz: &jiff::tz::TimeZone) -> Result<Timestamp, String> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    s.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.tomorrow().ok())
        .and_then(|d| tz.to_ambiguous_timestamp(d.to_datetime(jiff::civil::Time::midnight())).compatible().ok())
        .ok_or_else(|| format!("--to {s}: not a date; write YYYY-MM-DD (the day is included) or an instant such as 2025-11-30T23:59:59+01:00"))
}

/// `--since`: a local date (midnight in the windows file's zone) or an
/// RFC 3339 instant.
fn parse_since(s: &str, tz: &jiff::tz::TimeZone) -> Result<Timestamp, String> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    s.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| tz.to_ambiguous_timestamp(d.to_datetime(jiff::civil::Time::midnight())).compatible().ok())
        .ok_or_else(|| format!("--since {s}: not a date; write YYYY-MM-DD (e.g. 2025-11-26) or an instant such as 2025-11-26T14:00:00+01:00"))
}
