//! `varco check FILE`: validates a windows file (and the catalog
//! extension next to it) before IT deploys it.

use std::path::Path;
use std::process::ExitCode;

use jiff::Timestamp;

use super::args::CatalogFile;
use crate::policy::catalog::Catalog;
use crate::policy::files::{self, ConfigSource};
use crate::policy::schedule::Schedule;

/// Checks `file` against the embedded catalog plus IT's extension.
pub fn check(embedded: &Catalog, file: &Path, extension: CatalogFile) -> ExitCode {
    let source = ConfigSource::File(file.to_path_buf());
    match super::with_extension(embedded, extension, &source) {
        Ok(catalog) => check_with(file, &catalog),
        Err(e) => {
            eprintln!("{e}");
            eprintln!("→ while this catalog file is broken, windows naming its tools stay closed");
            // The windows file as the daemon would then read it.
            let _ = check_with(file, embedded);
            ExitCode::FAILURE
        }
    }
}

fn check_with(file: &Path, catalog: &Catalog) -> ExitCode {
    match files::load(file, catalog, false) {
        Ok(schedule) => {
            println!(
                "{}: OK — {}",
                file.display(),
                summary(&schedule, Timestamp::now())
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// One line: how many windows, which is open now, the next opening.
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
    format!(
        "{} window(s), mode {}, zone {}; {open_text}; {next_text}",
        s.windows.len(),
        s.mode.as_str(),
        s.timezone_name
    )
}
