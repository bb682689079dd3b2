//! `varco report`: writes the incident report from the audit log.

use std::path::Path;
use std::process::ExitCode;

use jiff::Timestamp;

use super::args::TrustedKeyFile;
use crate::policy::catalog::Catalog;
use crate::policy::files::{self, ConfigSource, Trust};
use crate::policy::schedule::Schedule;
use crate::report::Report;

/// Writes the report (Markdown on standard output, or FILE.md and
/// FILE.html with `--out FILE`).
pub fn report(
    since: Option<&str>,
    out: Option<&Path>,
    audit_log: &Path,
    source: &ConfigSource,
    catalog: &Catalog,
) -> ExitCode {
    let trust = match super::trust(TrustedKeyFile { path: None }) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("varco report: {e}");
            Trust::default()
        }
    };
    let tz = match source {
        ConfigSource::File(p) => files::load(p, catalog, &trust)
            .map(|s| s.timezone)
            .unwrap_or_else(|_| Schedule::fail_closed().timezone),
        ConfigSource::Url(_) | ConfigSource::EmbeddedDefault => Schedule::fail_closed().timezone,
    };
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
        Some(out) => match report.write(out) {
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
