//! `varco check FILE|URL`: validates a windows file (and the catalog
//! extension next to it) before IT deploys it: its content and, when a
//! trusted key is given or installed, its signature.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use jiff::Timestamp;

use super::args::{CatalogFile, TrustedKeyFile};
use crate::daemon::fetch::{self, Remote};
use crate::policy::catalog::Catalog;
use crate::policy::files::{self, Candidate, ConfigSource, LoadError, Trust};
use crate::policy::schedule::Schedule;

/// Checks `file` (or a URL) against the embedded catalog plus IT's
/// extension, with the signature when a key is configured.
pub fn check(
    embedded: &Catalog,
    file: PathBuf,
    extension: CatalogFile,
    key: TrustedKeyFile,
    ca_cert: Option<PathBuf>,
) -> ExitCode {
    let source = ConfigSource::from_arg(file);
    let trust = match super::trust(key) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let read = || read(&source, &trust, ca_cert.as_deref());
    match super::with_extension(embedded, extension, &source, &trust) {
        Ok(catalog) => check_with(&source, read(), &catalog, &trust),
        Err(e) => {
            eprintln!("{e}");
            eprintln!("→ while this catalog file is broken, windows naming its tools stay closed");
            // The windows file as the daemon would then read it.
            let _ = check_with(&source, read(), embedded, &trust);
            ExitCode::FAILURE
        }
    }
}

/// The file (or what the server serves, with its signature).
fn read(
    source: &ConfigSource,
    trust: &Trust,
    ca_cert: Option<&Path>,
) -> Result<Candidate, LoadError> {
    match source {
        ConfigSource::Url(url) => {
            let origin = PathBuf::from(url);
            let unreadable = |why: String| LoadError::Unreadable {
                path: origin.clone(),
                source: std::io::Error::other(why),
            };
            let ca_cert = ca_cert
                .map(fetch::read_ca_cert)
                .transpose()
                .map_err(unreadable)?;
            let remote = Remote {
                url: url.clone(),
                refresh: fetch::DEFAULT_REFRESH,
                ca_cert,
            };
            let f = fetch::fetch_once(&remote).map_err(unreadable)?;
            Candidate::new(&origin, f.bytes, f.signature)
        }
        ConfigSource::File(p) => files::read_candidate(p, trust.privileged),
        ConfigSource::EmbeddedDefault => Err(LoadError::Missing {
            path: PathBuf::from("approved-windows.toml"),
        }),
    }
}

fn check_with(
    source: &ConfigSource,
    candidate: Result<Candidate, LoadError>,
    catalog: &Catalog,
    trust: &Trust,
) -> ExitCode {
    let origin = PathBuf::from(source.describe());
    let checked = candidate.and_then(|c| files::judge(&origin, &c, catalog, trust.key.as_ref()));
    match checked {
        Ok(schedule) if trust.key.is_some() && schedule.serial.is_none() => {
            eprintln!(
                "{}: refused: {}",
                origin.display(),
                crate::policy::trust::FreshnessError::NoSerial
            );
            ExitCode::FAILURE
        }
        Ok(schedule) => {
            let now = Timestamp::now();
            let signed = trust
                .key
                .as_ref()
                .map(|k| format!("signed with key id {}, ", k.id()))
                .unwrap_or_default();
            println!(
                "{}: OK — {signed}{}",
                origin.display(),
                summary(&schedule, now)
            );
            if schedule.expired_at(now) {
                eprintln!(
                    "{}: but it has EXPIRED: no window would be open",
                    origin.display()
                );
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// One line: serial and expiry, how many windows, which is open now, the
/// next opening.
fn summary(s: &Schedule, now: Timestamp) -> String {
    let open = s.open_at(now);
    let open_text = if open.is_empty() {
        "none open now".to_string()
    } else {
        let list: Vec<String> = open
            .iter()
            .map(|(w, o)| format!("\"{}\" until {}", w.id, s.local(o.end)))
            .collect();
        format!("open now: {}", list.join(", "))
    };
    let next_text = match s.upcoming(now).first() {
        Some((w, o)) => format!("next: \"{}\" at {}", w.id, s.local(o.start)),
        None => "no further opening".to_string(),
    };
    let release = match (s.serial, s.expires) {
        (None, None) => String::new(),
        (serial, expires) => {
            let mut parts = Vec::new();
            if let Some(n) = serial {
                parts.push(format!("serial {n}"));
            }
            if let Some(e) = expires {
                parts.push(format!("expires {}", s.local(e)));
            }
            format!("{}; ", parts.join(", "))
        }
    };
    format!(
        "{release}{} window(s), mode {}, zone {}; {open_text}; {next_text}",
        s.windows.len(),
        s.mode.as_str(),
        s.timezone_name
    )
}
