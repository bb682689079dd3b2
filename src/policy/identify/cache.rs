//! The evidence cache: each version of a file is read once, and a file
//! changed after it was judged is judged again.
//!
//! # What names a version of a file
//! The key is what the file's owner cannot set: on Unix the device, the
//! inode, the size and the **change time** (ctime). The owner can set the
//! modification time (`touch -r`) but not the ctime: the kernel sets it on
//! every write, truncation, chmod, rename and `utimes` itself. On top of
//! the key, each entry keeps a **fingerprint** of the content: a keyed hash
//! (SipHash with a key drawn at start, so it cannot be aimed at offline) of
//! the first and last [`FINGERPRINT_BLOCK`] bytes, checked on every hit.
//! It catches a swap the key would miss where the metadata is not the
//! kernel's to keep (Windows, where the key is path, size and the
//! owner-settable write time), and costs two small positional reads.
//! A full-content hash on every hit was rejected: it costs a read of the
//! whole file on every exec (milliseconds for a large program, see
//! `benches/identify.rs`), which is the cost the cache exists to avoid.
//!
//! # When an examination is not kept
//! - A read error is never cached: the file is read again next time.
//! - A file changed less than [`SETTLED`] before it was read: ctime has
//!   the granularity of the kernel's coarse clock (a few milliseconds), so
//!   a rewrite right after the read could keep the same ctime ("racily
//!   clean", as git calls it). Such a file is read again next time.
//! - A file whose filesystem does not keep ctime for us (FUSE, where the
//!   mounting user's program answers stat and read; network filesystems):
//!   read every time (`crate::sys::content_tracked`).

use std::collections::HashMap;
use std::fs::File;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::path::Path;
#[cfg(not(unix))]
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::{Examined, ReadAt};

/// How many files' examinations are remembered; the cache is emptied when
/// full (a simple bound: a workstation runs far fewer distinct programs).
pub const CACHE_ENTRIES: usize = 8192;

/// Bytes hashed at each end of a file for its fingerprint.
pub const FINGERPRINT_BLOCK: usize = 4096;

/// How long before its reading a file must have last changed for its
/// examination to be kept (well above the coarse clock's granularity).
pub const SETTLED: Duration = Duration::from_secs(1);

/// One version of a file on disk (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Version {
    #[cfg(unix)]
    dev: u64,
    #[cfg(unix)]
    ino: u64,
    #[cfg(not(unix))]
    path: PathBuf,
    size: u64,
    /// Unix: the ctime (seconds, nanoseconds). Windows: the write time.
    changed: Option<SystemTime>,
    /// Read as a script an interpreter runs (every format searched for
    /// markers), not as a program: the two readings differ.
    as_script: bool,
}

impl Version {
    /// The version of the open `file` (last known at `path`).
    pub fn of(file: &File, path: &Path) -> std::io::Result<Version> {
        Ok(Version::of_metadata(&file.metadata()?, path))
    }

    /// The version `meta` describes (of the file last known at `path`).
    #[cfg_attr(unix, allow(unused_variables))]
    pub fn of_metadata(meta: &std::fs::Metadata, path: &Path) -> Version {
        #[cfg(unix)]
        let changed = {
            use std::os::unix::fs::MetadataExt;
            let (secs, nanos) = (meta.ctime(), meta.ctime_nsec());
            u64::try_from(secs).ok().and_then(|s| {
                SystemTime::UNIX_EPOCH.checked_add(Duration::new(s, u32::try_from(nanos).ok()?))
            })
        };
        #[cfg(not(unix))]
        let changed = meta.modified().ok();
        Version {
            #[cfg(unix)]
            dev: std::os::unix::fs::MetadataExt::dev(meta),
            #[cfg(unix)]
            ino: std::os::unix::fs::MetadataExt::ino(meta),
            #[cfg(not(unix))]
            path: path.to_path_buf(),
            size: meta.len(),
            changed,
            as_script: false,
        }
    }

    /// The same version, read as a script an interpreter runs.
    pub fn read_as_script(mut self) -> Version {
        self.as_script = true;
        self
    }

    /// True when `path` names this very file now (same device and inode):
    /// a path checked for who may write there says nothing about a
    /// descriptor opened on another file.
    pub fn is_at(&self, path: &Path) -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(path).is_ok_and(|m| m.dev() == self.dev && m.ino() == self.ino)
        }
        #[cfg(not(unix))]
        {
            self.path == path
        }
    }

    /// True when the file last changed at least [`SETTLED`] before `read`.
    pub fn settled_at(&self, read: SystemTime, settle: Duration) -> bool {
        self.changed
            .and_then(|c| read.duration_since(c).ok())
            .is_some_and(|age| age >= settle)
    }
}

#[derive(Debug)]
struct Entry {
    /// `None` for a file not read (placed by root only).
    fingerprint: Option<u64>,
    examined: Examined,
    /// Its problems were already returned once.
    reported: bool,
}

/// Examinations by file version.
#[derive(Debug, Default)]
pub(super) struct Cache {
    entries: HashMap<Version, Entry>,
    key: RandomState,
}

/// A cache hit.
pub(super) struct Hit {
    pub examined: Examined,
    /// False when its problems were returned before.
    pub first: bool,
}

impl Cache {
    /// The examination kept for this version of `file`, if its content
    /// still has the fingerprint it had.
    pub fn get(&mut self, version: &Version, file: &File) -> std::io::Result<Option<Hit>> {
        let Some(entry) = self.entries.get(version) else {
            return Ok(None);
        };
        if let Some(kept) = entry.fingerprint
            && kept != fingerprint(&self.key, file, version.size)?
        {
            self.entries.remove(version);
            return Ok(None);
        }
        let Some(entry) = self.entries.get_mut(version) else {
            return Ok(None);
        };
        let first = !entry.reported;
        entry.reported = true;
        Ok(Some(Hit {
            examined: entry.examined.clone(),
            first,
        }))
    }

    /// True when this version was kept without being read (a program
    /// only root could have placed): its metadata alone answers, with no
    /// descriptor to open.
    pub fn kept_unread(&self, version: &Version) -> bool {
        self.entries
            .get(version)
            .is_some_and(|e| e.fingerprint.is_none())
    }

    /// Keeps `examined` for this version of `file`; `read` says whether its
    /// content was read (then it is fingerprinted). Not kept when the
    /// fingerprint cannot be taken.
    pub fn insert(&mut self, version: Version, file: &File, examined: Examined, read: bool) {
        let fingerprint = if read {
            match fingerprint(&self.key, file, version.size) {
                Ok(f) => Some(f),
                Err(_) => return,
            }
        } else {
            None
        };
        if self.entries.len() >= CACHE_ENTRIES {
            self.entries.clear();
        }
        self.entries.insert(
            version,
            Entry {
                fingerprint,
                examined,
                reported: true,
            },
        );
    }
}

/// A keyed hash of the first and last [`FINGERPRINT_BLOCK`] bytes of
/// `file` (`size` bytes long), read at their offsets.
fn fingerprint(key: &RandomState, file: &File, size: u64) -> std::io::Result<u64> {
    let mut h = key.build_hasher();
    let mut buf = [0u8; FINGERPRINT_BLOCK];
    let block = FINGERPRINT_BLOCK as u64;
    let mut read_block = |at: u64| -> std::io::Result<()> {
        let n = super::read_fully(&mut ReadAt { file, pos: at }, &mut buf)?;
        h.write(&buf[..n]);
        Ok(())
    };
    read_block(0)?;
    if size > block {
        read_block(size.saturating_sub(block).max(block))?;
    }
    h.write_u64(size);
    Ok(h.finish())
}
