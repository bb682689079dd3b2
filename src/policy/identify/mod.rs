//! Identification by content: what an executable file *is*, whatever it is
//! called.
//!
//! A fraudster's download may be `fattura.exe`; its PE version resource
//! still says `OriginalFileName = AnyDesk.exe`, its certificate still names
//! the vendor, and a renamed Linux binary still carries its own strings.
//! This module reads files (the edge); matching the evidence against the
//! catalog stays pure in [`crate::policy::catalog`].
//!
//! A running program is read through a descriptor that names exactly the
//! file that runs ([`Identifier::identify_exe`]: fanotify's event
//! descriptor, or `/proc/PID/exe` opened once), never re-opened by path; a
//! file on disk that does not run (`varco catalog lookup`, `varco scan`)
//! is read by its path ([`Identifier::identify`]).
//!
//! Cost control: a file is read only when its name and path did not
//! already identify it and a user could have put it there (on Linux,
//! programs only root could have installed are not read), at most
//! [`MAX_READ`] bytes, and the evidence is
//! cached by (device, inode, mtime, size) — by (path, size, mtime) on
//! Windows — so each binary is inspected once however often it runs.

mod authenticode;
mod markers;
mod pe;

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;
#[cfg(not(unix))]
use std::path::PathBuf;
use std::time::SystemTime;

use crate::facts::ProcessFacts;
use crate::policy::catalog::{Catalog, Evidence, Identification};
use markers::Format;

/// Largest Windows (PE) file read for identification: the version
/// resource sits near the end, and remote tools are 1–80 MB. The cap keeps
/// a huge file from stalling the daemon.
pub const MAX_READ: u64 = 128 * 1024 * 1024;

/// How much of an ELF or Mach-O file is searched for content markers: the
/// read-only strings of the tools we know sit well within it.
pub const MAX_MARKER_READ: u64 = 32 * 1024 * 1024;

/// How many files' evidence is remembered; the cache is emptied when full
/// (a simple bound: a workstation runs far fewer distinct binaries).
pub const CACHE_ENTRIES: usize = 8192;

/// What names one version of one file on disk.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FileKey {
    #[cfg(unix)]
    dev: u64,
    #[cfg(unix)]
    ino: u64,
    #[cfg(not(unix))]
    path: PathBuf,
    size: u64,
    mtime: Option<SystemTime>,
}

impl FileKey {
    fn of(path: &Path) -> std::io::Result<FileKey> {
        Ok(FileKey::from_meta(path, &std::fs::metadata(path)?))
    }

    #[cfg_attr(unix, allow(unused_variables))]
    fn from_meta(path: &Path, meta: &std::fs::Metadata) -> FileKey {
        FileKey {
            #[cfg(unix)]
            dev: std::os::unix::fs::MetadataExt::dev(meta),
            #[cfg(unix)]
            ino: std::os::unix::fs::MetadataExt::ino(meta),
            #[cfg(not(unix))]
            path: path.to_path_buf(),
            size: meta.len(),
            mtime: meta.modified().ok(),
        }
    }
}

/// Gathers and caches content evidence for the daemon and `varco scan`.
#[derive(Debug, Default)]
pub struct Identifier {
    cache: HashMap<FileKey, Evidence>,
    /// Files read (cache misses), for the benchmark and the status line.
    pub reads: u64,
}

impl Identifier {
    /// An identifier with an empty cache.
    pub fn new() -> Identifier {
        Identifier::default()
    }

    /// Recognises a process: by name and path first (no file access), then,
    /// for an executable file not seen before, by its content.
    pub fn identify<'c>(
        &mut self,
        catalog: &'c Catalog,
        facts: &ProcessFacts,
    ) -> Option<Identification<'c>> {
        if let Some(found) = catalog.identify(facts) {
            return Some(found);
        }
        let exe = facts.exe.as_deref()?;
        let evidence = self.evidence(catalog, exe);
        catalog.identify_with(facts, &evidence)
    }

    /// Recognises a running process whose executable is open as `exe`:
    /// by name and path first, then by the content read through `exe`
    /// itself, so what is judged is the file that runs even if the path
    /// now names another one.
    pub fn identify_exe<'c>(
        &mut self,
        catalog: &'c Catalog,
        facts: &ProcessFacts,
        exe: &File,
    ) -> Option<Identification<'c>> {
        if let Some(found) = catalog.identify(facts) {
            return Some(found);
        }
        let evidence = self.evidence_open(catalog, facts.exe.as_deref(), exe);
        catalog.identify_with(facts, &evidence)
    }

    /// The evidence for the open file `exe` (last known at `path`).
    fn evidence_open(&mut self, catalog: &Catalog, path: Option<&Path>, exe: &File) -> Evidence {
        let Ok(meta) = exe.metadata() else {
            return Evidence::default();
        };
        let key = FileKey::from_meta(path.unwrap_or(Path::new("")), &meta);
        if let Some(e) = self.cache.get(&key) {
            return e.clone();
        }
        let trusted = path.is_some_and(crate::sys::placed_by_root_only);
        let evidence = if trusted {
            Evidence::default()
        } else {
            evidence_of_reader(catalog, ReadAt { file: exe, pos: 0 }).unwrap_or_default()
        };
        self.remember(key, evidence)
    }

    fn remember(&mut self, key: FileKey, evidence: Evidence) -> Evidence {
        if self.cache.len() >= CACHE_ENTRIES {
            self.cache.clear();
        }
        self.reads += 1;
        self.cache.insert(key, evidence.clone());
        evidence
    }

    /// The evidence for the file at `path`, from the cache when the same
    /// version of the file was read before. A file that cannot be read
    /// gives no evidence (the name and path checks still apply).
    pub fn evidence(&mut self, catalog: &Catalog, path: &Path) -> Evidence {
        let Ok(key) = FileKey::of(path) else {
            return Evidence::default();
        };
        if let Some(e) = self.cache.get(&key) {
            return e.clone();
        }
        // An administrator's installed program: its name and path are what
        // they are; only files a user could have planted or renamed are read.
        let evidence = if crate::sys::placed_by_root_only(path) {
            Evidence::default()
        } else {
            evidence_of_file(catalog, path).unwrap_or_default()
        };
        self.remember(key, evidence)
    }
}

/// Reads a shared descriptor from its start without moving its offset
/// (positional reads), so whoever else holds it is not disturbed.
struct ReadAt<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(self.file, buf, self.pos)?;
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_read(self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Reads `path` (up to [`MAX_READ`] bytes) and gathers its evidence.
pub fn evidence_of_file(catalog: &Catalog, path: &Path) -> std::io::Result<Evidence> {
    evidence_of_reader(catalog, File::open(path)?)
}

/// Reads an executable (up to [`MAX_READ`] bytes) and gathers its
/// evidence.
fn evidence_of_reader(catalog: &Catalog, file: impl Read) -> std::io::Result<Evidence> {
    let mut head = [0u8; 4];
    let mut limited = file.take(MAX_READ);
    let n = read_fully(&mut limited, &mut head)?;
    match Format::of(&head[..n]) {
        Format::Other => return Ok(Evidence::default()),
        Format::Pe => {}
        Format::Binary | Format::Script => {
            if catalog.markers().next().is_none() {
                return Ok(Evidence::default());
            }
            limited.set_limit(MAX_MARKER_READ - n as u64);
        }
    }
    let mut bytes = Vec::with_capacity(4096);
    bytes.extend_from_slice(&head[..n]);
    limited.read_to_end(&mut bytes)?;
    Ok(examine(catalog, &bytes).evidence)
}

fn read_fully(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Something in a file's content that is damaged and so hides what it
/// would have said about the program.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The PE resource directory cannot be walked.
    #[error("its PE resource directory is damaged ({0})")]
    Resources(String),
    /// The PE version resource is damaged; the strings before the damage
    /// were read.
    #[error("its PE version resource is damaged at byte {offset} of the resource ({what})")]
    VersionResource {
        /// Where in the resource.
        offset: usize,
        /// What is wrong there.
        what: &'static str,
    },
    /// The Authenticode certificate table or a signature in it cannot be
    /// read.
    #[error("its Authenticode signature cannot be read ({0})")]
    Signature(String),
    /// A signature names a signer of the catalog but does not verify over
    /// this file: the name does not count.
    #[error("its Authenticode signature naming \"{signer}\" does not count: {why}")]
    Unverified {
        /// The name the certificate gives.
        signer: String,
        /// Why it does not count.
        why: String,
    },
}

/// What a file's content says about it, and what in it was damaged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Examined {
    /// What the content says.
    pub evidence: Evidence,
    /// The damage found, each hiding part of the evidence.
    pub problems: Vec<Problem>,
}

/// Evidence from a file's bytes: the PE version resource and signer names
/// for Windows programs, the catalog's content markers for the others.
pub fn evidence_of_bytes(catalog: &Catalog, bytes: &[u8]) -> Evidence {
    examine(catalog, bytes).evidence
}

/// Examines a file's bytes (see [`evidence_of_bytes`]), saying also what
/// was damaged. Never panics: every length in the file is checked against
/// the bytes there are.
pub fn examine(catalog: &Catalog, bytes: &[u8]) -> Examined {
    match Format::of(bytes) {
        Format::Pe => pe_examined(catalog, bytes),
        _ => Examined {
            evidence: Evidence {
                markers: markers::found(catalog, bytes),
                ..Evidence::default()
            },
            problems: Vec::new(),
        },
    }
}

/// The version-resource strings and verified signer names of a PE file.
fn pe_examined(catalog: &Catalog, bytes: &[u8]) -> Examined {
    let Some(layout) = pe::Layout::parse(bytes) else {
        return Examined::default();
    };
    let (strings, mut problems) = pe::version_evidence(&layout);
    let mut e = Evidence::default();
    if let Some(v) = strings {
        e.original_filename = v.get("OriginalFilename");
        e.product = v.get("ProductName");
        e.description = v.get("FileDescription");
        e.company = v.get("CompanyName");
    }
    let is_signer = |name: &str| {
        let name = name.trim().to_lowercase();
        catalog.tools().iter().any(|t| t.signers.contains(&name))
    };
    let (signers, unsigned) = authenticode::verified_signers(&layout, &is_signer);
    e.signers = signers;
    problems.extend(unsigned);
    Examined {
        evidence: e,
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renamed_copy_of_a_real_tool_binary_is_found_by_its_marker() {
        let x11vnc = std::path::PathBuf::from("/usr/bin/x11vnc");
        assert!(
            x11vnc.exists(),
            "x11vnc not found: run bash tests/run.sh, which installs it"
        );
        let dir = std::env::temp_dir().join(format!("varco-identify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let renamed = dir.join("fattura");
        std::fs::copy(&x11vnc, &renamed).unwrap();
        let catalog = Catalog::embedded().unwrap();
        let mut id = Identifier::new();
        let facts = ProcessFacts::of_file(&renamed);
        let found = id.identify(&catalog, &facts).expect("found by content");
        assert_eq!(found.tool.id, "x11vnc");
        assert_eq!(found.matched_by, crate::policy::catalog::MatchedBy::Content);
        id.identify(&catalog, &facts).unwrap();
        assert_eq!(id.reads, 1, "the second look comes from the cache");
        // An unrelated binary of the system is not a tool.
        let ls = ProcessFacts::of_file(Path::new("/bin/ls"));
        assert!(id.identify(&catalog, &ls).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_running_file_is_read_through_its_descriptor_not_its_path() {
        let dir = std::env::temp_dir().join(format!("varco-identify-fd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let renamed = dir.join("fattura");
        std::fs::copy("/usr/bin/x11vnc", &renamed).unwrap();
        let running = File::open(&renamed).unwrap();
        // The path now names an everyday program; the descriptor still
        // names the file that runs.
        let decoy = dir.join("decoy");
        std::fs::copy("/bin/ls", &decoy).unwrap();
        std::fs::rename(&decoy, &renamed).unwrap();
        let catalog = Catalog::embedded().unwrap();
        let facts = ProcessFacts::of_file(&renamed);
        let mut id = Identifier::new();
        assert!(id.identify(&catalog, &facts).is_none(), "by path: ls");
        let found = id
            .identify_exe(&catalog, &facts, &running)
            .expect("by descriptor: x11vnc");
        assert_eq!(found.tool.id, "x11vnc");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
