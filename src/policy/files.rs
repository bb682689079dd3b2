//! Finding and reading IT's files: the approved-windows file and the
//! catalog extension next to it.
//!
//! The system location is owned by IT. When it exists, it is the only one
//! consulted: a file in the operator's own folders must never be able to
//! open a window on a managed workstation.

use std::path::{Path, PathBuf};

use crate::policy::catalog::Catalog;
use crate::policy::diagnostic::{Diagnostic, render_all};
use crate::policy::schedule::{self, Schedule};
use crate::sys;

/// File name of the approved-windows file in every location.
pub const FILE_NAME: &str = "approved-windows.toml";

/// Which windows file the daemon uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// A file (which may be missing: then no window is open).
    File(PathBuf),
    /// No file anywhere: the embedded default (no windows, block mode).
    EmbeddedDefault,
}

impl ConfigSource {
    /// How the audit log and `status` name it.
    pub fn describe(&self) -> String {
        match self {
            ConfigSource::File(p) => p.display().to_string(),
            ConfigSource::EmbeddedDefault => {
                "embedded default (no windows, block mode)".to_string()
            }
        }
    }
}

/// IT's folder for varco: `/etc/varco` on Unix, `%ProgramData%\varco` on
/// Windows.
pub fn system_dir() -> Option<PathBuf> {
    #[cfg(windows)]
    {
        sys::program_data()
            .or_else(|| std::env::var_os("ProgramData").map(PathBuf::from))
            .map(|p| p.join("varco"))
    }
    #[cfg(not(windows))]
    {
        Some(PathBuf::from("/etc/varco"))
    }
}

/// The per-user folder, used only on machines where IT installed no
/// system folder (a developer's or tester's machine).
pub fn user_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("it", "varco", "varco").map(|d| d.config_dir().to_path_buf())
}

/// The windows file to use when none is given on the command line.
pub fn default_source() -> ConfigSource {
    if let Some(dir) = system_dir().filter(|d| d.is_dir()) {
        return ConfigSource::File(dir.join(FILE_NAME));
    }
    match user_dir().map(|d| d.join(FILE_NAME)) {
        Some(p) if p.exists() => ConfigSource::File(p),
        _ => ConfigSource::EmbeddedDefault,
    }
}

/// Why a windows file cannot be used. In every case no window is open.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file does not exist.
    #[error("{}: file not found — no window is open; create it from approved-windows.example.toml and check it with `varco check`", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// The file exists but cannot be read.
    #[error("{}: cannot be read ({source}) — check its permissions", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file has errors.
    #[error("{}", render_all(&path.display().to_string(), diagnostics))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        diagnostics: Vec<Diagnostic>,
    },
    /// A privileged daemon refuses a file non-administrators can change.
    #[error("{}: not trusted: {why} — {}", path.display(), TRUST_FIX)]
    Untrusted {
        /// The file.
        path: PathBuf,
        /// What is wrong with its ownership or permissions.
        why: String,
    },
}

/// How to make a refused windows file trusted again.
#[cfg(not(windows))]
const TRUST_FIX: &str =
    "make it owned by root and writable only by root (chown root: …; chmod 644 …)";
#[cfg(windows)]
const TRUST_FIX: &str = "give it back the permissions varco installs (only Administrators and SYSTEM may change it): run `varco service install` again as an administrator, or install.ps1";

/// Reads and validates a windows file. A privileged daemon also refuses a
/// file that non-administrators could have written.
pub fn load(path: &Path, catalog: &Catalog, privileged: bool) -> Result<Schedule, LoadError> {
    let text = read(path)?;
    if privileged && let Some(why) = sys::untrusted_reason(path) {
        return Err(LoadError::Untrusted {
            path: path.to_path_buf(),
            why,
        });
    }
    parse(path, &text, catalog)
}

/// Reads the file's text.
pub fn read(path: &Path) -> Result<String, LoadError> {
    std::fs::read_to_string(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            LoadError::Missing {
                path: path.to_path_buf(),
            }
        } else {
            LoadError::Unreadable {
                path: path.to_path_buf(),
                source,
            }
        }
    })
}

/// Validates text read from `path`.
pub fn parse(path: &Path, text: &str, catalog: &Catalog) -> Result<Schedule, LoadError> {
    schedule::parse(text, catalog).map_err(|diagnostics| LoadError::Invalid {
        path: path.to_path_buf(),
        diagnostics,
    })
}

/// File name of IT's catalog extension, next to the windows file.
pub const CATALOG_FILE_NAME: &str = "catalog.toml";

/// Where IT's catalog extension is looked for when `--catalog` is not
/// given: next to the windows file in use (IT's folder on a managed
/// workstation). `None` with the embedded default windows.
pub fn default_catalog_path(windows: &ConfigSource) -> Option<PathBuf> {
    match windows {
        ConfigSource::File(p) => Some(
            p.parent()
                .map(Path::to_path_buf)
                .unwrap_or_default()
                .join(CATALOG_FILE_NAME),
        ),
        ConfigSource::EmbeddedDefault => None,
    }
}

/// The embedded catalog plus IT's extension at `path`. A missing file at
/// the default place is no extension; a missing file IT named explicitly
/// (`explicit`) is an error.
///
/// On any error the caller keeps the embedded catalog and raises the error.
/// That fails closed: the windows file is then validated against the
/// embedded catalog, so a window naming a tool only the broken extension
/// defines is an unknown id, the windows file is invalid, and no window
/// opens.
pub fn load_catalog(
    embedded: &Catalog,
    path: &Path,
    explicit: bool,
    privileged: bool,
) -> Result<Catalog, LoadError> {
    let text = match read(path) {
        Ok(t) => t,
        Err(LoadError::Missing { .. }) if !explicit => return Ok(embedded.clone()),
        Err(e) => return Err(e),
    };
    if privileged && let Some(why) = sys::untrusted_reason(path) {
        return Err(LoadError::Untrusted {
            path: path.to_path_buf(),
            why,
        });
    }
    let mut catalog = embedded.clone();
    catalog
        .add_file(&path.display().to_string(), &text)
        .map_err(|e| LoadError::Invalid {
            path: path.to_path_buf(),
            diagnostics: e.diagnostics,
        })?;
    Ok(catalog)
}
