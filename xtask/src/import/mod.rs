//! One importer per upstream source. Each reads the export as its project
//! publishes it (a folder of YAML files, a CSV lookup, a folder of Sigma
//! rules, a JSON definition file) and returns facts-only [`Entry`]s.
//! Judging the facts (generic names, claims by two tools) is the
//! generator's job, so a change to `not-by-name.toml` needs no re-import.

mod lolrmm;
mod sigma;
mod splunk;
mod surveyor;

use std::path::Path;

use crate::facts::Entry;

/// The sources the catalog is merged from, in merge order: an earlier
/// source's claim on a name wins over a later one's (curated.toml's win
/// over all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// LOLRMM, the RMM inventory with PE metadata and install paths.
    Lolrmm,
    /// Splunk Security Content's `remote_access_software` lookup.
    Splunk,
    /// SigmaHQ's detection rules for remote-access software.
    Sigma,
    /// Red Canary Surveyor's `remote-admin` definitions.
    Surveyor,
}

impl Source {
    /// Every source, in merge order.
    pub const ALL: [Source; 4] = [
        Source::Lolrmm,
        Source::Splunk,
        Source::Sigma,
        Source::Surveyor,
    ];

    /// The short name used on the command line, in file names and in each
    /// catalog entry's `sources`.
    pub fn name(self) -> &'static str {
        match self {
            Source::Lolrmm => "lolrmm",
            Source::Splunk => "splunk",
            Source::Sigma => "sigma",
            Source::Surveyor => "surveyor",
        }
    }

    /// The source with this short name.
    pub fn from_name(name: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The short names, for messages.
    pub fn names() -> String {
        Source::ALL.map(Source::name).join(", ")
    }

    /// The project's name.
    pub fn title(self) -> &'static str {
        match self {
            Source::Lolrmm => "LOLRMM (Living Off the Land Remote Monitoring and Management)",
            Source::Splunk => "Splunk Security Content, remote_access_software lookup",
            Source::Sigma => "SigmaHQ detection rules",
            Source::Surveyor => "Red Canary Surveyor, remote-admin definitions",
        }
    }

    /// Where the project is published.
    pub fn url(self) -> &'static str {
        match self {
            Source::Lolrmm => "https://github.com/magicsword-io/LOLRMM",
            Source::Splunk => "https://github.com/splunk/security_content",
            Source::Sigma => "https://github.com/SigmaHQ/sigma",
            Source::Surveyor => "https://github.com/redcanaryco/surveyor",
        }
    }

    /// The licence the facts are used under.
    pub fn licence(self) -> &'static str {
        match self {
            Source::Lolrmm | Source::Splunk => "Apache License 2.0",
            Source::Sigma => "Detection Rule License 1.1",
            Source::Surveyor => "MIT License",
        }
    }

    /// Which export the importer reads: what IT downloads.
    pub fn export(self) -> &'static str {
        match self {
            Source::Lolrmm => "the repository's yaml/ folder (PATH is the folder holding yaml/)",
            Source::Splunk => {
                "lookups/remote_access_software*.csv (either the 2024 or the 2025 column layout)"
            }
            Source::Sigma => {
                "the repository's rules*/ folders (PATH is the repository root or a rules folder)"
            }
            Source::Surveyor => "definitions/remote-admin.json",
        }
    }

    /// Whether a signer listed by this source may belong to a bundled
    /// component rather than the tool: LOLRMM lists WinRAR's and PuTTY's
    /// signers beside the vendor's, so its signers count only when they
    /// name the tool.
    pub fn signers_may_be_bundled(self) -> bool {
        self == Source::Lolrmm
    }

    /// Reads the export at `path`.
    pub fn import(self, path: &Path) -> Result<Vec<Entry>, String> {
        match self {
            Source::Lolrmm => lolrmm::import(path),
            Source::Splunk => splunk::import(path),
            Source::Sigma => sigma::import(path),
            Source::Surveyor => surveyor::import(path),
        }
    }
}

/// Reads a file as text, with its path in the error.
pub fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: cannot be read: {e}", path.display()))
}
