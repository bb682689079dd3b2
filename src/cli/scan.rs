//! `varco scan`: remote-access tools on this workstation — installed,
//! portable copies in users' folders, running now — each with what the
//! approved windows allow for it. Read-only: it stops nothing.

use std::path::PathBuf;
use std::process::ExitCode;

use jiff::Timestamp;

use super::args::{CatalogFile, TrustedKeyFile};
use crate::facts::ProcessFacts;
use crate::policy::catalog::Catalog;
use crate::policy::files::{ConfigSource, Trust};
use crate::policy::identify::Identifier;
use crate::policy::schedule::{Mode, Schedule};

/// Runs `varco scan`.
pub fn scan(
    embedded: &Catalog,
    source: ConfigSource,
    extension: CatalogFile,
    roots: Vec<PathBuf>,
    max_depth: usize,
) -> ExitCode {
    let source = super::readable(source);
    let trust = match super::trust(TrustedKeyFile { path: None }) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let catalog = match super::with_extension(embedded, extension, &source, &trust) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    scan_with(&catalog, &source, &trust, roots, max_depth)
}

/// `varco scan`: tools on disk and running, with what the windows allow.
fn scan_with(
    catalog: &Catalog,
    source: &ConfigSource,
    trust: &Trust,
    roots: Vec<PathBuf>,
    depth: usize,
) -> ExitCode {
    let now = Timestamp::now();
    let (schedule, _) = super::status::schedule_shown(source, catalog, trust);
    let mut identifier = Identifier::new();
    let show = |title: &str, found: &[Found]| {
        println!("{title}:");
        if found.is_empty() {
            println!("  none");
        }
        for f in found {
            println!(
                "  {:<24} {}  matched_by={} ({})  — {}",
                f.tool_id,
                f.path.display(),
                f.matched_by,
                f.matched,
                allowance(&schedule, &f.tool_id, now)
            );
        }
    };
    if roots.is_empty() {
        let install = install_roots(catalog);
        let mut installed = scan_files(catalog, &mut identifier, &install, depth, true);
        let programs = program_dirs();
        installed.extend(scan_files(catalog, &mut identifier, &programs, 1, false));
        installed.sort_by(|a, b| a.path.cmp(&b.path));
        installed.dedup_by(|a, b| a.path == b.path);
        show(
            &format!(
                "installed (searched: {})",
                join_paths(&[install, programs].concat())
            ),
            &installed,
        );
        let portable_roots = default_scan_roots();
        let portable = scan_files(catalog, &mut identifier, &portable_roots, depth, true);
        show(
            &format!(
                "portable copies (searched: {})",
                join_paths(&portable_roots)
            ),
            &portable,
        );
    } else {
        let found = scan_files(catalog, &mut identifier, &roots, depth, true);
        show(
            &format!("on disk (searched: {})", join_paths(&roots)),
            &found,
        );
    }
    println!("running now:");
    let running = match crate::source::scan::Watcher::new() {
        Ok(mut w) => w.new_processes(),
        Err(e) => {
            println!("  cannot list processes: {e}");
            Vec::new()
        }
    };
    let me = std::process::id();
    let mut any = false;
    for facts in running.iter().filter(|f| f.pid != me) {
        if let Some(found) = identify_or_say(&mut identifier, catalog, facts) {
            any = true;
            println!(
                "  {:<24} pid {} {}  matched_by={} ({})  — {}",
                found.tool.id,
                facts.pid,
                facts
                    .exe
                    .as_deref()
                    .map_or_else(|| facts.name.clone(), |e| e.display().to_string()),
                found.matched_by.as_str(),
                found.matched,
                allowance(&schedule, &found.tool.id, now)
            );
        }
    }
    if !any {
        println!("  none");
    }
    ExitCode::SUCCESS
}

fn join_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the windows allow for `tool` now, and next.
fn allowance(s: &Schedule, tool: &str, now: Timestamp) -> String {
    if let Some((w, o)) = s.open_for(tool, now) {
        return format!(
            "allowed now by window \"{}\" until {}",
            w.id,
            s.local(o.end)
        );
    }
    let verdict = match s.mode {
        Mode::Block => "would be stopped now",
        Mode::Alert => "would be reported now (alert mode)",
    };
    match s.upcoming(now).into_iter().find(|(w, _)| w.admits(tool)) {
        Some((w, o)) => format!(
            "{verdict}; next window \"{}\" {} → {}",
            w.id,
            s.local(o.start),
            s.local(o.end)
        ),
        None => format!("{verdict}; no window admits it"),
    }
}

/// Folders the catalog's install paths name that exist here (the literal
/// part of each glob), for `varco scan`'s "installed" list.
fn install_roots(catalog: &Catalog) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = catalog
        .install_paths()
        .filter_map(|(_, glob)| {
            let literal = glob.split('*').next()?;
            let folder = literal.rsplit_once('/')?.0;
            let absolute = folder.starts_with('/')
                || (cfg!(windows) && folder.as_bytes().get(1) == Some(&b':'));
            (absolute && folder.len() > 3).then(|| PathBuf::from(folder))
        })
        .filter(|p| p.is_dir())
        // System folders a glob happens to name (/usr/bin/glpi-agent) are
        // program folders, checked by name.
        .filter(|p| !p.starts_with("/etc") && !program_dirs().contains(p))
        .collect();
    roots.sort();
    roots.dedup();
    roots
}

/// The system's program folders: checked by name only (their files are the
/// administrator's, and reading every one would take long).
fn program_dirs() -> Vec<PathBuf> {
    if cfg!(windows) {
        return Vec::new();
    }
    [
        "/usr/bin",
        "/usr/sbin",
        "/usr/local/bin",
        "/usr/local/sbin",
        "/usr/libexec",
        "/bin",
        "/sbin",
    ]
    .iter()
    .filter_map(|p| std::fs::canonicalize(p).ok())
    .filter(|p| p.is_dir())
    .fold(Vec::new(), |mut dirs, p| {
        // /bin is /usr/bin on merged-/usr systems: list each folder once.
        if !dirs.contains(&p) {
            dirs.push(p);
        }
        dirs
    })
}

/// Where `varco scan` looks for portable copies: every user's Downloads,
/// Desktop and temporary folders, the system temporary folders, `/opt`,
/// `/Applications`, Program Files.
fn default_scan_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    let homes: Vec<PathBuf> = if cfg!(windows) {
        std::env::var_os("SystemDrive")
            .map(|d| PathBuf::from(format!("{}\\Users", d.to_string_lossy())))
            .into_iter()
            .collect()
    } else if cfg!(target_os = "macos") {
        vec![PathBuf::from("/Users")]
    } else {
        vec![PathBuf::from("/home"), PathBuf::from("/root")]
    };
    for base in homes {
        let users: Vec<PathBuf> = if base.ends_with("root") {
            vec![base.clone()]
        } else {
            std::fs::read_dir(&base)
                .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
                .unwrap_or_default()
        };
        for home in users {
            for sub in [
                "Downloads",
                "Scaricati",
                "Desktop",
                "Scrivania",
                "AppData/Local/Temp",
            ] {
                let p = home.join(sub);
                if p.is_dir() {
                    roots.push(p);
                }
            }
        }
    }
    roots.push(std::env::temp_dir());
    if !cfg!(windows) {
        for p in ["/tmp", "/var/tmp", "/opt", "/Applications"] {
            let p = PathBuf::from(p);
            if p.is_dir() && !roots.contains(&p) {
                roots.push(p);
            }
        }
    } else {
        for var in ["ProgramFiles", "ProgramFiles(x86)", "ProgramData"] {
            if let Some(p) = std::env::var_os(var) {
                roots.push(PathBuf::from(p));
            }
        }
    }
    roots.sort();
    roots.dedup();
    roots
}

/// A remote tool found on disk by `varco scan`.
#[derive(Debug, Clone)]
struct Found {
    /// The file.
    path: PathBuf,
    /// Catalog id.
    tool_id: String,
    /// How it was recognised (audit-log word).
    matched_by: &'static str,
    /// The value that matched.
    matched: String,
}

/// Walks `roots` (at most `max_depth` folders deep, symbolic links not
/// followed) and returns the files the catalog recognises by name, path,
/// bundle, and — when `by_content` — by content.
/// Identifies `facts`, saying on stderr why content could not be judged
/// (a scan goes on; a file that fails closed is listed as unjudged).
fn identify_or_say<'c>(
    identifier: &mut Identifier,
    catalog: &'c Catalog,
    facts: &ProcessFacts,
) -> Option<crate::policy::catalog::Identification<'c>> {
    identifier.identify(catalog, facts).unwrap_or_else(|e| {
        eprintln!("varco scan: {e}");
        e.treated_as()
    })
}

fn scan_files(
    catalog: &Catalog,
    identifier: &mut Identifier,
    roots: &[PathBuf],
    max_depth: usize,
    by_content: bool,
) -> Vec<Found> {
    let mut found = Vec::new();
    let mut stack: Vec<(PathBuf, usize)> = roots.iter().map(|r| (r.clone(), 0)).collect();
    let mut seen = std::collections::HashSet::new();
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.filter_map(|e| e.ok()).collect();
        entries.sort_by_key(|e| e.path());
        for entry in entries {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                if depth < max_depth {
                    stack.push((path, depth + 1));
                }
                continue;
            }
            if !kind.is_file() || !seen.insert(path.clone()) {
                continue;
            }
            let facts = ProcessFacts::of_file(&path);
            let id = if by_content {
                identify_or_say(identifier, catalog, &facts)
            } else {
                catalog.identify(&facts)
            };
            if let Some(id) = id {
                found.push(Found {
                    path: path.clone(),
                    tool_id: id.tool.id.clone(),
                    matched_by: id.matched_by.as_str(),
                    matched: id.matched,
                });
            }
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}
