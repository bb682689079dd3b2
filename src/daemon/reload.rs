//! Keeping the policy in force in step with IT's files: the windows file
//! and the catalog extension next to it, read at start and re-read when
//! their text changes.
//!
//! Fail closed: at start, a file that cannot be used leaves no window open
//! (and only the embedded catalog in force); while running, a file that
//! breaks keeps the last good one in force. Either way the problem is
//! reported as a [`Change`] for the daemon to record and tell.

use std::path::PathBuf;

use crate::policy::catalog::Catalog;
use crate::policy::files::{self, ConfigSource, LoadError};
use crate::policy::schedule::Mode;
use crate::policy::{Policy, SharedPolicy};
use crate::sys;

/// What a (re)load found, for the record.
#[derive(Debug)]
pub enum Change {
    /// An edited windows file is now in force.
    WindowsReloaded {
        /// The file.
        path: PathBuf,
        /// How many windows it holds.
        windows: usize,
    },
    /// IT's edited catalog extension is now in force.
    CatalogReloaded {
        /// The file.
        path: PathBuf,
        /// How many tools the catalog now knows.
        tools: usize,
    },
    /// A file cannot be used; `reason` says which, why, what to do, and
    /// what stays in force.
    Problem {
        /// What IT reads.
        reason: String,
    },
}

/// IT's files and the text of each last seen, to notice edits.
pub struct Files {
    windows: ConfigSource,
    last_windows: Option<Result<String, String>>,
    /// The catalog extension and whether IT named it explicitly (then a
    /// missing file is an error, not "no extension").
    catalog: Option<(PathBuf, bool)>,
    last_catalog: Option<Result<String, String>>,
    embedded: Catalog,
}

impl Files {
    /// The windows file `windows` and the catalog extension `catalog`
    /// (`None`: `catalog.toml` next to the windows file, if present), over
    /// the `embedded` catalog.
    pub fn new(windows: ConfigSource, catalog: Option<PathBuf>, embedded: Catalog) -> Files {
        let catalog = match catalog {
            Some(p) => Some((p, true)),
            None => files::default_catalog_path(&windows).map(|p| (p, false)),
        };
        Files {
            windows,
            last_windows: None,
            catalog,
            last_catalog: None,
            embedded,
        }
    }

    /// The policy to start with, and the problems found on the way (each
    /// already reflected in the policy: a broken catalog extension leaves
    /// the embedded catalog; a broken windows file leaves no window open).
    pub fn initial(&mut self, mode_override: Option<Mode>) -> (Policy, Vec<Change>) {
        let mut problems = Vec::new();
        let catalog = match self.catalog.clone() {
            Some((path, explicit)) => {
                self.last_catalog = Some(read(&path));
                match files::load_catalog(&self.embedded, &path, explicit, sys::is_privileged()) {
                    Ok(c) => c,
                    Err(e) => {
                        // Windows naming the broken extension's tools no
                        // longer validate, so they stay closed.
                        problems.push(problem(&e, ""));
                        self.embedded.clone()
                    }
                }
            }
            None => self.embedded.clone(),
        };
        let mut policy = Policy::fail_closed(catalog, mode_override);
        if let ConfigSource::File(path) = &self.windows {
            self.last_windows = Some(read(path));
            match files::load(path, &policy.catalog, sys::is_privileged()) {
                Ok(s) => policy.schedule = s,
                Err(e) => problems.push(problem(&e, "")),
            }
        }
        (policy, problems)
    }

    /// Re-reads the files whose text changed and swaps what they hold into
    /// `policy`. A good catalog extension replaces the catalog and has the
    /// windows file validated again against it.
    pub fn reload(&mut self, policy: &SharedPolicy) -> Vec<Change> {
        let mut changes = Vec::new();
        if let Some((path, explicit)) = self.catalog.clone() {
            let text = read(&path);
            if self.last_catalog.as_ref() != Some(&text) {
                self.last_catalog = Some(text);
                match files::load_catalog(&self.embedded, &path, explicit, sys::is_privileged()) {
                    Ok(catalog) => {
                        let tools = catalog.tools().len();
                        tracing::info!("{}: reloaded, {tools} tools", path.display());
                        policy.set_catalog(catalog);
                        // Windows naming the extension's tools validate only now.
                        self.last_windows = None;
                        changes.push(Change::CatalogReloaded { path, tools });
                    }
                    Err(e) => changes.push(problem(&e, " (the last valid catalog stays in force)")),
                }
            }
        }
        if let ConfigSource::File(path) = &self.windows {
            let text = read(path);
            if self.last_windows.as_ref() != Some(&text) {
                self.last_windows = Some(text);
                match files::load(path, &policy.current().catalog, sys::is_privileged()) {
                    Ok(s) => {
                        let windows = s.windows.len();
                        tracing::info!("{}: reloaded, {windows} window(s)", path.display());
                        policy.set_schedule(s);
                        changes.push(Change::WindowsReloaded {
                            path: path.clone(),
                            windows,
                        });
                    }
                    Err(e) => {
                        changes.push(problem(&e, " (the last valid windows file stays in force)"))
                    }
                }
            }
        }
        changes
    }
}

/// A file's text, or why it cannot be read: what is compared to notice
/// an edit.
fn read(path: &std::path::Path) -> Result<String, String> {
    files::read(path).map_err(|e| e.to_string())
}

fn problem(e: &LoadError, kept: &str) -> Change {
    tracing::error!("{e}");
    Change::Problem {
        reason: format!("{e}{kept}"),
    }
}
