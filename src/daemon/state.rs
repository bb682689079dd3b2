//! varco's own state on disk: the serial of the signed windows file in
//! force, so a rollback is refused across restarts, and the last good
//! copy of a windows file fetched from IT's server, so a workstation that
//! cannot reach the server starts with it.
//!
//! The folder is the daemon's alone: `/var/lib/varco` for the root
//! service, `%ProgramData%\varco\state` for the Windows service (it
//! inherits the folder's access list), the user data folder otherwise
//! (`--state-dir` chooses another). Every file in it is written whole or
//! not at all ([`crate::sys::write_atomic`]).

use std::io;
use std::path::{Path, PathBuf};

use crate::policy::files::{self, Candidate, LoadError};
use crate::policy::trust::Accepted;
use crate::sys;

/// The serial (and digest) of the signed windows file in force.
const SERIAL_FILE: &str = "windows-serial.json";

/// Where the state lives when `--state-dir` is not given.
pub fn default_dir() -> PathBuf {
    #[cfg(windows)]
    if sys::is_administrator()
        && let Some(dir) = files::system_dir()
    {
        return dir.join("state");
    }
    #[cfg(not(windows))]
    if sys::is_privileged() {
        return PathBuf::from("/var/lib/varco");
    }
    directories::ProjectDirs::from("it", "varco", "varco")
        .map(|d| d.data_dir().join("state"))
        .unwrap_or_else(|| PathBuf::from("varco-state"))
}

/// The state folder, created and checked.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    /// The name of the last good copy of a remote windows file (its
    /// signature beside it).
    pub const COPY_FILE_NAME: &str = "remote-approved-windows.toml";

    /// Creates `dir` if needed (readable by its owner only, on Unix). A
    /// privileged daemon refuses a folder non-administrators can change:
    /// whoever could would reset the serial and roll back the windows.
    pub fn open(dir: &Path, privileged: bool) -> Result<StateDir, String> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        if privileged && let Some(why) = sys::untrusted_reason(dir) {
            return Err(why);
        }
        Ok(StateDir {
            dir: dir.to_path_buf(),
        })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The serial of the last signed file put in force, if any. A file
    /// that cannot be read or understood is an error, never "none": that
    /// would let any older file in.
    pub fn accepted(&self) -> Result<Option<Accepted>, String> {
        let path = self.dir.join(SERIAL_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
                format!(
                    "{} is damaged ({e}); an administrator who knows the serial in force may delete it",
                    path.display()
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// Remembers `a` as the file in force.
    pub fn accept(&self, a: &Accepted) -> io::Result<()> {
        let text = serde_json::to_string(a).map_err(io::Error::other)?;
        sys::write_atomic(&self.dir.join(SERIAL_FILE), text.as_bytes(), 0o600)
    }

    /// Where the copy of a remote windows file is kept.
    pub fn copy_path(&self) -> PathBuf {
        self.dir.join(Self::COPY_FILE_NAME)
    }

    /// Keeps `c` (fetched, verified and in force) as the last good copy:
    /// the signature first, then the file, so the pair on disk is whole
    /// but for a crash between the two (then the copy is refused at the
    /// next start, and the server's file is fetched as usual).
    pub fn save_copy(&self, c: &Candidate) -> io::Result<()> {
        let path = self.copy_path();
        if let Some(sig) = &c.signature {
            sys::write_atomic(&files::signature_path(&path), sig.as_bytes(), 0o600)?;
        }
        sys::write_atomic(&path, c.text.as_bytes(), 0o600)
    }

    /// The last good copy, if one was kept.
    pub fn load_copy(&self, privileged: bool) -> Option<Result<Candidate, LoadError>> {
        let path = self.copy_path();
        let bytes = match files::read_policy(&path, privileged) {
            Err(LoadError::Missing { .. }) => return None,
            Err(e) => return Some(Err(e)),
            Ok(b) => b,
        };
        let sig = std::fs::read_to_string(files::signature_path(&path)).ok();
        Some(Candidate::new(&path, bytes, sig))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serial_survives_a_new_handle_and_a_damaged_file_is_an_error() {
        let dir = std::env::temp_dir().join(format!("varco-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = StateDir::open(&dir, false).unwrap();
        assert_eq!(s.accepted(), Ok(None));
        let a = Accepted {
            serial: 9,
            sha256: "ab".into(),
        };
        s.accept(&a).unwrap();
        let again = StateDir::open(&dir, false).unwrap();
        assert_eq!(again.accepted(), Ok(Some(a)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(SERIAL_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        std::fs::write(dir.join(SERIAL_FILE), "{\"serial\":").unwrap();
        assert!(again.accepted().unwrap_err().contains("damaged"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
