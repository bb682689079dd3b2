//! Finding and reading IT's files: the approved-windows file, the
//! catalog extension next to it, IT's public key and the signatures.
//!
//! The system location is owned by IT. When it exists, it is the only one
//! consulted: a file in the operator's own folders must never be able to
//! open a window on a managed workstation.
//!
//! Two kinds of trust, both checked here: who can change a file (a
//! privileged daemon reads IT's files through one handle and refuses what
//! non-administrators can change) and, when IT configured a public key,
//! who signed it ([`crate::policy::trust`]). Whether a signed file is new
//! enough (its serial) is judged by the daemon, which keeps the serials.

use std::path::{Path, PathBuf};

use crate::policy::catalog::Catalog;
use crate::policy::diagnostic::{Diagnostic, render_all};
use crate::policy::schedule::{self, Schedule};
use crate::policy::trust::{
    self, FreshnessError, KeyError, KeyId, SIGNATURE_SUFFIX, SignatureError, TrustedKey,
};
use crate::sys;

/// File name of the approved-windows file in every location.
pub const FILE_NAME: &str = "approved-windows.toml";

/// File name of IT's public key in IT's folder: when it is there, every
/// windows file and catalog extension must carry IT's signature.
pub const KEY_FILE_NAME: &str = "trusted.pub";

/// Which windows file the daemon uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// A file (which may be missing: then no window is open).
    File(PathBuf),
    /// IT's server (`http://` or `https://`), fetched by the daemon.
    Url(String),
    /// No file anywhere: the embedded default (no windows, block mode).
    EmbeddedDefault,
}

impl ConfigSource {
    /// `--config` as given: a URL when it starts with `http://` or
    /// `https://`, else a file.
    pub fn from_arg(arg: PathBuf) -> ConfigSource {
        match arg.to_str() {
            Some(s) if is_url(s) => ConfigSource::Url(s.to_string()),
            _ => ConfigSource::File(arg),
        }
    }

    /// How the audit log and `status` name it.
    pub fn describe(&self) -> String {
        match self {
            ConfigSource::File(p) => p.display().to_string(),
            ConfigSource::Url(u) => u.clone(),
            ConfigSource::EmbeddedDefault => {
                "embedded default (no windows, block mode)".to_string()
            }
        }
    }
}

/// Whether `s` names a file on IT's server rather than on this machine.
pub fn is_url(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
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

/// IT's public key when none is given on the command line: `trusted.pub`
/// in IT's folder. Its presence turns signature checking on.
pub fn default_key_path() -> Option<PathBuf> {
    system_dir().map(|d| d.join(KEY_FILE_NAME))
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
    /// IT's public key cannot be used: nothing signed can be trusted.
    #[error("{}: the trusted key cannot be used: {why} — until it is fixed every windows file is refused", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// A signature is required and this file's is missing or wrong.
    #[error("{}: refused: {why} — IT signs it with `minisign -Sm {}` using the key whose public half varco trusts (key id {key})", path.display(), path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default())]
    Unsigned {
        /// The file.
        path: PathBuf,
        /// What is wrong with its signature.
        why: SignatureError,
        /// The key varco trusts.
        key: KeyId,
    },
    /// A signed file that is not new enough (a rollback).
    #[error("{}: refused: {why}", path.display())]
    Stale {
        /// The file.
        path: PathBuf,
        /// Why it is not new enough.
        why: FreshnessError,
    },
    /// The file's `expires` has passed.
    #[error("{}: expired at {at} — no window is open; publish a new file with a later `expires` (and a higher serial)", path.display())]
    Expired {
        /// The file.
        path: PathBuf,
        /// When it expired, in the file's zone.
        at: String,
    },
    /// varco's own state (serials, the copy of a remote file) is unusable,
    /// so a signed file cannot be checked for rollback.
    #[error("{}: refused: varco's state folder cannot be used ({why}) — the serial of the file in force cannot be checked", path.display())]
    State {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
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

/// How far IT's files are trusted, for one reading of them.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// A privileged daemon: files non-administrators can change are
    /// refused.
    pub privileged: bool,
    /// IT's public key: when set, every windows file and catalog
    /// extension must carry its signature.
    pub key: Option<TrustedKey>,
}

/// Where IT's public key is, and whether IT named it (`--trusted-key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySource {
    /// The key file.
    pub path: PathBuf,
    /// Named on the command line: then a missing file is an error, not
    /// "no key".
    pub explicit: bool,
}

impl KeySource {
    /// `--trusted-key` when given, else `trusted.pub` in IT's folder.
    pub fn new(arg: Option<PathBuf>) -> Option<KeySource> {
        match arg {
            Some(path) => Some(KeySource {
                path,
                explicit: true,
            }),
            None => default_key_path().map(|path| KeySource {
                path,
                explicit: false,
            }),
        }
    }

    /// The key, `None` when none is configured (no file at the default
    /// place), or why it cannot be used. A broken key never means "no
    /// key": it refuses everything.
    pub fn load(&self, privileged: bool) -> Result<Option<TrustedKey>, LoadError> {
        let text = match read_policy(&self.path, privileged) {
            Ok(bytes) => bytes,
            Err(LoadError::Missing { .. }) if !self.explicit => return Ok(None),
            Err(LoadError::Missing { .. }) => {
                return Err(LoadError::Key {
                    path: self.path.clone(),
                    why: "file not found".into(),
                });
            }
            Err(LoadError::Untrusted { why, .. }) => {
                return Err(LoadError::Key {
                    path: self.path.clone(),
                    why: format!("not trusted: {why} — {TRUST_FIX}"),
                });
            }
            Err(e) => {
                return Err(LoadError::Key {
                    path: self.path.clone(),
                    why: e.to_string(),
                });
            }
        };
        let text = String::from_utf8_lossy(&text);
        TrustedKey::parse(&text)
            .map(Some)
            .map_err(|e: KeyError| LoadError::Key {
                path: self.path.clone(),
                why: e.to_string(),
            })
    }

    /// The trust for one reading: the key loaded now.
    pub fn trust(source: Option<&KeySource>, privileged: bool) -> Result<Trust, LoadError> {
        let key = match source {
            Some(k) => k.load(privileged)?,
            None => None,
        };
        Ok(Trust { privileged, key })
    }
}

/// A policy file as read: its text, the digest of its bytes and the text
/// of its signature file, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The file's text.
    pub text: String,
    /// SHA-256 (hex) of its bytes.
    pub sha256: String,
    /// The text of `FILE.minisig`, when there is one.
    pub signature: Option<String>,
}

impl Candidate {
    /// A file's bytes and its signature's text. Bytes that are not UTF-8
    /// are refused as unreadable.
    pub fn new(
        path: &Path,
        bytes: Vec<u8>,
        signature: Option<String>,
    ) -> Result<Candidate, LoadError> {
        let sha256 = trust::sha256_hex(&bytes);
        let text = String::from_utf8(bytes).map_err(|_| LoadError::Unreadable {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not UTF-8 text; save it as UTF-8",
            ),
        })?;
        Ok(Candidate {
            text,
            sha256,
            signature,
        })
    }
}

/// The signature file of `path`: `path` with `.minisig` appended.
pub fn signature_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(SIGNATURE_SUFFIX);
    PathBuf::from(name)
}

/// Reads `path` and its signature file, if there is one; a privileged
/// daemon reads the file through one checked handle. (The signature needs
/// no such care: it proves itself.)
pub fn read_candidate(path: &Path, privileged: bool) -> Result<Candidate, LoadError> {
    let bytes = read_policy(path, privileged)?;
    let signature = match read_policy(&signature_path(path), false) {
        Ok(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        Err(LoadError::Missing { .. }) => None,
        Err(e) => return Err(e),
    };
    Candidate::new(path, bytes, signature)
}

/// Checks a candidate read from `origin`: its signature when `key` is
/// set, then its content.
pub fn judge(
    origin: &Path,
    candidate: &Candidate,
    catalog: &Catalog,
    key: Option<&TrustedKey>,
) -> Result<Schedule, LoadError> {
    verify(origin, candidate, key)?;
    parse(origin, &candidate.text, catalog)
}

/// Checks a candidate's signature, when `key` asks for one.
pub fn verify(
    origin: &Path,
    candidate: &Candidate,
    key: Option<&TrustedKey>,
) -> Result<(), LoadError> {
    match key {
        None => Ok(()),
        Some(k) => k
            .verify(candidate.text.as_bytes(), candidate.signature.as_deref())
            .map_err(|why| LoadError::Unsigned {
                path: origin.to_path_buf(),
                why,
                key: k.id(),
            }),
    }
}

/// Reads and validates a windows file as `trust` asks: a privileged
/// daemon refuses a file that non-administrators could have written, and
/// a configured key refuses one IT did not sign. (Whether a signed file
/// is new enough is the daemon's judgement: it keeps the serials.)
pub fn load(path: &Path, catalog: &Catalog, trust: &Trust) -> Result<Schedule, LoadError> {
    let candidate = read_candidate(path, trust.privileged)?;
    judge(path, &candidate, catalog, trust.key.as_ref())
}

/// Reads a policy file's bytes. A privileged daemon reads through one
/// handle whose ownership and access list are judged first.
pub fn read_policy(path: &Path, privileged: bool) -> Result<Vec<u8>, LoadError> {
    let io_error = |source: std::io::Error| {
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
    };
    if !privileged {
        use std::io::Read;
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(sys::POLICY_FILE_LIMIT).read_to_end(&mut bytes))
            .map_err(io_error)?;
        return Ok(bytes);
    }
    match sys::read_trusted(path).map_err(io_error)? {
        Ok(bytes) => Ok(bytes),
        Err(why) => Err(LoadError::Untrusted {
            path: path.to_path_buf(),
            why,
        }),
    }
}

/// Reads the file's text.
pub fn read(path: &Path) -> Result<String, LoadError> {
    let bytes = read_policy(path, false)?;
    Candidate::new(path, bytes, None).map(|c| c.text)
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
/// workstation). `None` with the embedded default windows. With windows
/// from IT's server, the extension stays local: in IT's folder.
pub fn default_catalog_path(windows: &ConfigSource) -> Option<PathBuf> {
    match windows {
        ConfigSource::File(p) => Some(
            p.parent()
                .map(Path::to_path_buf)
                .unwrap_or_default()
                .join(CATALOG_FILE_NAME),
        ),
        ConfigSource::Url(_) => system_dir().map(|d| d.join(CATALOG_FILE_NAME)),
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
    trust: &Trust,
) -> Result<Catalog, LoadError> {
    let candidate = match read_candidate(path, trust.privileged) {
        Ok(c) => c,
        Err(LoadError::Missing { .. }) if !explicit => return Ok(embedded.clone()),
        Err(e) => return Err(e),
    };
    // Under IT's key the extension is signed like the windows file: it
    // decides which executables a window's tool ids stand for, so whoever
    // could change it unsigned could widen a window without signing one.
    verify(path, &candidate, trust.key.as_ref())?;
    let mut catalog = embedded.clone();
    catalog
        .add_file(&path.display().to_string(), &candidate.text)
        .map_err(|e| LoadError::Invalid {
            path: path.to_path_buf(),
            diagnostics: e.diagnostics,
        })?;
    Ok(catalog)
}
