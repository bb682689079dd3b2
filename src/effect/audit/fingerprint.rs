//! The SHA-256 of an executable, for the incident report: it names the
//! exact file for the police, whatever it was called.
//!
//! The file is whatever sits at the path by then, possibly put there by
//! someone who expects varco to read it: a FIFO renamed to `AnyDesk`
//! (reading would wait forever), a device, a sparse file of terabytes, a
//! file on a network share that no longer answers. So hashing is bounded:
//! only regular files are read, and only through the descriptor whose
//! type was checked (opened without blocking, then `fstat`); files over
//! [`MAX_SIZE`] are not read at all; reading stops at a deadline. What was
//! not hashed is recorded with the reason.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Files larger than this are not hashed ("too large"). Remote-access
/// tools are a few to a hundred megabytes; a larger file would be read
/// for seconds, and a sparse giant for hours.
pub const MAX_SIZE: u64 = 256 * 1024 * 1024;

/// Reading stops after this long ("did not finish in time").
pub const MAX_TIME: Duration = Duration::from_secs(5);

/// The bounds one hashing works within.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Largest file read.
    pub max_size: u64,
    /// Time after which reading stops.
    pub max_time: Duration,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds {
            max_size: MAX_SIZE,
            max_time: MAX_TIME,
        }
    }
}

/// Why an executable was not hashed, as the audit log records it
/// (`not_hashed`, with `not_hashed_detail` or `not_hashed_size`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "not_hashed", rename_all = "snake_case")]
pub enum NotHashed {
    /// Larger than [`MAX_SIZE`] (a sparse giant counts by its size): not
    /// read.
    #[error("not hashed: too large ({size} bytes)")]
    TooLarge {
        /// Its size.
        #[serde(rename = "not_hashed_size")]
        size: u64,
    },
    /// Not a regular file (a FIFO, a device, a folder): never read.
    #[error("not hashed: not a regular file ({detail})")]
    NotRegular {
        /// What it is.
        #[serde(rename = "not_hashed_detail")]
        detail: String,
    },
    /// It could not be opened or read (gone, no permission, I/O error).
    #[error("not hashed: cannot read it ({detail})")]
    Unreadable {
        /// What the OS said.
        #[serde(rename = "not_hashed_detail")]
        detail: String,
    },
    /// Reading did not finish within the time allowed (a slow or hung
    /// network share).
    #[error("not hashed: reading did not finish in time")]
    Timeout,
    /// Too many executables were still being hashed (stuck on hung
    /// shares): not started.
    #[error("not hashed: too many files still being read")]
    Busy,
    /// No path is known for the executable.
    #[error("not hashed: the executable's path is not known")]
    NoPath,
}

impl NotHashed {
    /// The word the audit log's `not_hashed` field holds.
    pub fn kind(&self) -> &'static str {
        match self {
            NotHashed::TooLarge { .. } => "too_large",
            NotHashed::NotRegular { .. } => "not_regular",
            NotHashed::Unreadable { .. } => "unreadable",
            NotHashed::Timeout => "timeout",
            NotHashed::Busy => "busy",
            NotHashed::NoPath => "no_path",
        }
    }
}

/// The SHA-256 of the regular file at `path`, in hex, within `bounds`.
pub fn sha256_of(path: &Path, bounds: Bounds) -> Result<String, NotHashed> {
    let deadline = Instant::now() + bounds.max_time;
    let unreadable = |e: io::Error| NotHashed::Unreadable {
        detail: e.to_string(),
    };
    // Looked at before opening, so a device or FIFO is not even opened
    // (opening some devices does something); checked again on the
    // descriptor, since the path may change in between.
    check(&std::fs::metadata(path).map_err(unreadable)?, bounds)?;
    let file = open_nonblocking(path).map_err(unreadable)?;
    check(&file.metadata().map_err(unreadable)?, bounds)?;
    let mut hasher = Sha256::new();
    let mut limited = file.take(bounds.max_size + 1);
    let mut buf = vec![0u8; 256 * 1024];
    let mut total: u64 = 0;
    loop {
        if Instant::now() >= deadline {
            return Err(NotHashed::Timeout);
        }
        let n = match limited.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(unreadable(e)),
        };
        total += n as u64;
        if total > bounds.max_size {
            // It grew while being read.
            return Err(NotHashed::TooLarge { size: total });
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// Refuses what must not be read.
fn check(meta: &std::fs::Metadata, bounds: Bounds) -> Result<(), NotHashed> {
    if !meta.is_file() {
        return Err(NotHashed::NotRegular {
            detail: kind_of(meta).into(),
        });
    }
    if meta.len() > bounds.max_size {
        return Err(NotHashed::TooLarge { size: meta.len() });
    }
    Ok(())
}

/// What a file that is not a regular file is, in words.
fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

/// Opens for reading without waiting: a FIFO opened this way returns at
/// once instead of waiting for a writer, and no terminal becomes ours.
fn open_nonblocking(path: &Path) -> io::Result<File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    opts.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d =
            std::env::temp_dir().join(format!("varco-fingerprint-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_small_file_hashes_to_its_sha256() {
        let d = scratch("small");
        let f = d.join("AnyDesk");
        std::fs::write(&f, b"abc").unwrap();
        assert_eq!(
            sha256_of(&f, Bounds::default()).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_sparse_giant_is_not_read() {
        let d = scratch("sparse");
        let f = d.join("AnyDesk");
        let file = File::create(&f).unwrap();
        file.set_len(64 * 1024 * 1024 * 1024).unwrap();
        // Closed before it is judged and removed: Windows keeps an open
        // file from being deleted.
        drop(file);
        let started = Instant::now();
        assert_eq!(
            sha256_of(&f, Bounds::default()),
            Err(NotHashed::TooLarge {
                size: 64 * 1024 * 1024 * 1024
            })
        );
        assert!(started.elapsed() < Duration::from_secs(1), "it was read");
        std::fs::remove_dir_all(d).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_never_opened_for_a_read_that_would_wait() {
        let d = scratch("fifo");
        let f = d.join("AnyDesk");
        let made = std::process::Command::new("mkfifo")
            .arg(&f)
            .status()
            .unwrap();
        assert!(made.success());
        let r = sha256_of(&f, Bounds::default());
        assert!(
            matches!(&r, Err(NotHashed::NotRegular { detail }) if detail == "a FIFO"),
            "{r:?}"
        );
        // Even when the first look saw a regular file and the path became
        // a FIFO before the open, the descriptor is checked.
        assert!(matches!(
            check(
                &File::open(&d).unwrap().metadata().unwrap(),
                Bounds::default()
            ),
            Err(NotHashed::NotRegular { .. })
        ));
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn reading_stops_at_the_deadline_and_the_size_bound() {
        let d = scratch("bounds");
        let f = d.join("AnyDesk");
        std::fs::write(&f, vec![7u8; 4096]).unwrap();
        let no_time = Bounds {
            max_size: MAX_SIZE,
            max_time: Duration::ZERO,
        };
        assert_eq!(sha256_of(&f, no_time), Err(NotHashed::Timeout));
        let small = Bounds {
            max_size: 1000,
            max_time: MAX_TIME,
        };
        assert_eq!(
            sha256_of(&f, small),
            Err(NotHashed::TooLarge { size: 4096 })
        );
        assert!(matches!(
            sha256_of(&d.join("gone"), Bounds::default()),
            Err(NotHashed::Unreadable { .. })
        ));
        std::fs::remove_dir_all(d).unwrap();
    }
}
