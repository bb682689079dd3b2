//! Keeping the policy in force in step with IT's files: the windows file
//! (on this machine or fetched from IT's server), the catalog extension
//! and IT's public key, read at start and judged again whenever what was
//! read changes.
//!
//! Fail closed: at start, a file that cannot be used leaves no window open
//! (and only the embedded catalog in force); while running, a file that
//! breaks keeps the last good one in force. A windows file whose
//! `expires` passes closes every window, even while nothing changes on
//! disk. Every problem is reported as a [`Change`] for the daemon to
//! record and tell.
//!
//! Under IT's key, a signed windows file must also be new enough: its
//! serial is checked against the one kept in the state folder
//! ([`super::state`]), and kept there once it is in force.

use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::fetch::{Feed, FetchReport, Remote};
use super::state::StateDir;
use crate::policy::catalog::Catalog;
use crate::policy::files::{self, Candidate, ConfigSource, KeySource, LoadError, Trust};
use crate::policy::schedule::{Mode, Schedule};
use crate::policy::trust::{self, Accepted};
use crate::policy::{Policy, SharedPolicy};
use crate::sys;

/// What a (re)load found, for the record.
#[derive(Debug)]
pub enum Change {
    /// An edited windows file is now in force.
    WindowsReloaded {
        /// The file (or URL).
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
    /// IT's server could not be reached (first failure, or a reminder).
    FetchFailed {
        /// What IT reads.
        reason: String,
    },
    /// IT's server answers again.
    FetchRecovered {
        /// What IT reads.
        reason: String,
    },
}

/// Where IT's files are and how they are trusted.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The windows file (or IT's server).
    pub windows: ConfigSource,
    /// IT's catalog extension; `None`: `catalog.toml` beside the windows
    /// file (IT's folder for a remote one), if present.
    pub catalog: Option<PathBuf>,
    /// IT's public key, if one is configured.
    pub key: Option<KeySource>,
    /// varco's state folder (serials, the copy of a remote file).
    pub state_dir: PathBuf,
    /// How often IT's server is asked (URL mode).
    pub refresh: std::time::Duration,
    /// IT's CA certificate for HTTPS (URL mode), PEM.
    pub ca_cert: Option<Vec<u8>>,
}

/// What was read the last time, to notice a change: a file's text and
/// signature, or why it could not be read.
type Seen = Option<Result<Candidate, String>>;

/// IT's files and what was last read of each.
pub struct Files {
    sources: Sources,
    catalog: Option<(PathBuf, bool)>,
    privileged: bool,
    embedded: Catalog,
    feed: Option<Feed>,
    state: Option<StateDir>,
    last_key: Seen,
    last_catalog: Seen,
    last_windows: Seen,
    /// The expiry of the file in force has been recorded.
    expiry_told: bool,
}

impl Files {
    /// IT's files as `sources` says, over the `embedded` catalog. A
    /// remote windows file starts being fetched now.
    pub fn new(sources: Sources, embedded: Catalog) -> Files {
        let catalog = match &sources.catalog {
            Some(p) => Some((p.clone(), true)),
            None => files::default_catalog_path(&sources.windows).map(|p| (p, false)),
        };
        let feed = match &sources.windows {
            ConfigSource::Url(url) => match Feed::start(Remote {
                url: url.clone(),
                refresh: sources.refresh,
                ca_cert: sources.ca_cert.clone(),
            }) {
                Ok(f) => Some(f),
                Err(e) => {
                    tracing::error!("{url}: {e}");
                    None
                }
            },
            _ => None,
        };
        Files {
            sources,
            catalog,
            privileged: sys::is_privileged(),
            embedded,
            feed,
            state: None,
            last_key: None,
            last_catalog: None,
            last_windows: None,
            expiry_told: false,
        }
    }

    /// The policy to start with, and the problems found on the way (each
    /// already reflected in the policy: a broken catalog extension leaves
    /// the embedded catalog; an unusable windows file leaves no window
    /// open). A remote windows file starts from the last good copy, if
    /// one was kept; the server's answer follows at the next ticks.
    pub fn initial(&mut self, mode_override: Option<Mode>) -> (Policy, Vec<Change>) {
        let policy = SharedPolicy::new(Policy::fail_closed(self.embedded.clone(), mode_override));
        let changes = self.step(&policy, sys::clock::now(), true);
        let problems = changes
            .into_iter()
            .filter(|c| {
                !matches!(
                    c,
                    Change::WindowsReloaded { .. } | Change::CatalogReloaded { .. }
                )
            })
            .collect();
        ((*policy.current()).clone(), problems)
    }

    /// Re-reads IT's files (and what the server sent), puts what changed
    /// and is good in force, and closes every window once the file in
    /// force expires.
    pub fn reload(&mut self, policy: &SharedPolicy) -> Vec<Change> {
        self.step(policy, sys::clock::now(), false)
    }

    fn step(&mut self, policy: &SharedPolicy, now: Timestamp, starting: bool) -> Vec<Change> {
        let kept = |what: &str| {
            if starting {
                String::new()
            } else {
                format!(" (the last valid {what} stays in force)")
            }
        };
        let mut changes = Vec::new();

        // A new key (or one gone) judges both files again.
        let key_seen = self
            .sources
            .key
            .as_ref()
            .map(|k| files::read_candidate(&k.path, false).map_err(|e| e.to_string()));
        if self.last_key != key_seen {
            self.last_key = key_seen;
            self.last_catalog = None;
            self.last_windows = None;
        }

        if let Some((path, explicit)) = self.catalog.clone() {
            let seen =
                Some(files::read_candidate(&path, self.privileged).map_err(|e| e.to_string()));
            if self.last_catalog != seen {
                self.last_catalog = seen;
                let loaded = self
                    .trust()
                    .and_then(|t| files::load_catalog(&self.embedded, &path, explicit, &t));
                match loaded {
                    Ok(catalog) => {
                        let tools = catalog.tools().len();
                        if !starting {
                            tracing::info!("{}: in force, {tools} tools", path.display());
                        }
                        policy.set_catalog(catalog);
                        // Windows naming the extension's tools validate only now.
                        self.last_windows = None;
                        changes.push(Change::CatalogReloaded { path, tools });
                    }
                    // Windows naming the broken extension's tools no
                    // longer validate, so they stay closed.
                    Err(e) => changes.push(problem(&e, &kept("catalog"))),
                }
            }
        }

        if let Some((origin, candidate)) = self.windows_candidate(starting) {
            let seen = Some(
                candidate
                    .as_ref()
                    .map(Clone::clone)
                    .map_err(|e| e.to_string()),
            );
            if self.last_windows != seen {
                self.last_windows = seen;
                let catalog = policy.current().catalog.clone();
                match self.judge_windows(&origin, candidate, &catalog) {
                    Ok(s) if s.expired_at(now) => {
                        let e = expired(&origin, &s);
                        policy.set_schedule(s.expired());
                        self.expiry_told = true;
                        changes.push(problem(&e, ""));
                    }
                    Ok(s) => {
                        let windows = s.windows.len();
                        tracing::info!("{}: in force, {windows} window(s)", origin.display());
                        policy.set_schedule(s);
                        self.expiry_told = false;
                        changes.push(Change::WindowsReloaded {
                            path: origin,
                            windows,
                        });
                    }
                    Err(e) => changes.push(problem(&e, &kept("windows file"))),
                }
            }
        }

        // After the files: a report says what is in force now.
        if let Some(feed) = &self.feed {
            changes.extend(
                feed.take_reports()
                    .into_iter()
                    .map(|r| self.fetch_change(r)),
            );
        }

        let current = policy.current();
        if !self.expiry_told && current.schedule.expired_at(now) {
            let origin = PathBuf::from(self.sources.windows.describe());
            let e = expired(&origin, &current.schedule);
            policy.set_schedule(current.schedule.expired());
            self.expiry_told = true;
            changes.push(problem(&e, ""));
        }
        changes
    }

    /// What to judge now: the local file, or what the server last sent
    /// (at start: the copy kept from the last run). `None` when there is
    /// nothing (new) to judge.
    fn windows_candidate(
        &mut self,
        starting: bool,
    ) -> Option<(PathBuf, Result<Candidate, LoadError>)> {
        let source = self.sources.windows.clone();
        match &source {
            ConfigSource::File(path) => {
                Some((path.clone(), files::read_candidate(path, self.privileged)))
            }
            ConfigSource::EmbeddedDefault => None,
            ConfigSource::Url(url) => {
                let origin = PathBuf::from(url);
                if starting {
                    let privileged = self.privileged;
                    let state = match self.state(&origin) {
                        Ok(s) => s,
                        Err(e) => return Some((origin, Err(e))),
                    };
                    let copy = state.load_copy(privileged)?;
                    tracing::info!(
                        "{url}: starting from the copy kept in {}",
                        state.path().display()
                    );
                    Some((origin, copy))
                } else {
                    let f = self.feed.as_ref()?.latest()?;
                    let candidate = Candidate::new(&origin, f.bytes, f.signature);
                    Some((origin, candidate))
                }
            }
        }
    }

    /// The trust for this reading: IT's key as it is now.
    fn trust(&self) -> Result<Trust, LoadError> {
        KeySource::trust(self.sources.key.as_ref(), self.privileged)
    }

    /// The state folder, opened once.
    fn state(&mut self, origin: &Path) -> Result<&StateDir, LoadError> {
        if self.state.is_none() {
            let dir = StateDir::open(&self.sources.state_dir, self.privileged).map_err(|why| {
                LoadError::State {
                    path: origin.to_path_buf(),
                    why,
                }
            })?;
            self.state = Some(dir);
        }
        Ok(self.state.as_ref().expect("opened above"))
    }

    /// Judges a windows file: signed (when a key is configured, and
    /// always for a remote one), valid, and not older than the one in
    /// force; then keeps its serial (and, remote, the copy).
    fn judge_windows(
        &mut self,
        origin: &Path,
        candidate: Result<Candidate, LoadError>,
        catalog: &Catalog,
    ) -> Result<Schedule, LoadError> {
        let trust = self.trust()?;
        let remote = matches!(self.sources.windows, ConfigSource::Url(_));
        if remote && trust.key.is_none() {
            return Err(LoadError::Key {
                path: self
                    .sources
                    .key
                    .as_ref()
                    .map_or_else(|| PathBuf::from("--trusted-key"), |k| k.path.clone()),
                why: "no trusted key: a windows file from a server is accepted only signed".into(),
            });
        }
        let candidate = candidate?;
        let schedule = files::judge(origin, &candidate, catalog, trust.key.as_ref())?;
        if trust.key.is_none() {
            return Ok(schedule);
        }
        let state = self.state(origin)?;
        let last = state.accepted().map_err(|why| LoadError::State {
            path: origin.to_path_buf(),
            why,
        })?;
        trust::check_fresh(schedule.serial, &candidate.sha256, last.as_ref()).map_err(|why| {
            LoadError::Stale {
                path: origin.to_path_buf(),
                why,
            }
        })?;
        let accepted = Accepted {
            serial: schedule.serial.unwrap_or_default(),
            sha256: candidate.sha256.clone(),
        };
        if last.as_ref() != Some(&accepted) {
            // Kept before it is in force: a file whose serial cannot be
            // kept would be open to a rollback at the next restart.
            state.accept(&accepted).map_err(|e| LoadError::State {
                path: origin.to_path_buf(),
                why: format!("cannot keep the serial: {e}"),
            })?;
        }
        if remote && let Err(e) = state.save_copy(&candidate) {
            tracing::error!(
                "cannot keep a copy of {} in {}: {e}",
                origin.display(),
                state.path().display()
            );
        }
        Ok(schedule)
    }

    fn fetch_change(&self, report: FetchReport) -> Change {
        let url = self.sources.windows.describe();
        match report {
            FetchReport::Failed {
                reason,
                attempts,
                since,
            } => {
                let kept = match self.last_windows {
                    Some(Ok(_)) => "the last good copy stays in force",
                    _ => "no copy yet: no window is open",
                };
                let reason = format!(
                    "cannot fetch {url}: {reason} — {attempts} attempt(s) since {since}; {kept}; next report when it works again or in an hour"
                );
                tracing::warn!("{reason}");
                Change::FetchFailed { reason }
            }
            FetchReport::Recovered { attempts, since } => {
                let reason = format!(
                    "{url} answers again, after {attempts} failed attempt(s) since {since}"
                );
                tracing::info!("{reason}");
                Change::FetchRecovered { reason }
            }
        }
    }

    /// Where the windows in force can be read back from disk (for the
    /// incident report): the file, or the copy of a remote one.
    pub fn readable_source(&self) -> ConfigSource {
        match &self.sources.windows {
            ConfigSource::Url(_) => {
                ConfigSource::File(self.sources.state_dir.join(StateDir::COPY_FILE_NAME))
            }
            other => other.clone(),
        }
    }
}

fn expired(origin: &Path, s: &Schedule) -> LoadError {
    LoadError::Expired {
        path: origin.to_path_buf(),
        at: s.expires.map(|e| s.local(e)).unwrap_or_default(),
    }
}

fn problem(e: &LoadError, kept: &str) -> Change {
    tracing::error!("{e}");
    Change::Problem {
        reason: format!("{e}{kept}"),
    }
}
