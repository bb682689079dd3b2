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

pub use crate::facts::Source;

impl Source {
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
