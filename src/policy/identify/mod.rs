//! Identification by content: what an executable file *is*, whatever it is
//! called.
//!
//! A fraudster's download may be `fattura.exe`; its PE version resource
//! still says `OriginalFileName = AnyDesk.exe`, its signature still names
//! the vendor (and is counted only when it verifies over the file, see
//! `authenticode.rs`), a renamed Linux binary or script still carries its
//! own strings. This module reads files (the edge); matching the evidence
//! against the catalog stays pure in [`crate::policy::catalog`].
//!
//! A running program is read through a descriptor that names exactly the
//! file that runs ([`Identifier::identify_exe`]: fanotify's event
//! descriptor, or `/proc/PID/exe` opened once), never re-opened by path; a
//! script an interpreter was asked to run, through the descriptor of the
//! script ([`Identifier::identify_script`]); a file on disk that does not
//! run (`varco catalog lookup`, `varco scan`) by its path
//! ([`Identifier::identify`]).
//!
//! # Failing safely
//! Every parser here checks every length it reads against the bytes it
//! has, and returns damage as a typed [`Problem`]; the crates it relies on
//! do the same (and `fuzz/` holds targets that check it). Should one
//! panic anyway, the panic is contained to that one file
//! ([`IdentifyError::Panicked`]): the process is then treated as a remote
//! tool no window admits ([`unjudged`]), never let through unjudged. A
//! file that cannot be read, or whose content is damaged where it would
//! have named the program, is judged on what could be read and reported
//! ([`IdentifyError`]), and a read error is never remembered.
//!
//! # Cost
//! A file is read only when its name and path did not already identify
//! it and a user could have put it there (on Linux, programs only root
//! could have installed are not read), at most [`MAX_READ`] bytes, and
//! what was found is cached per version of the file (`cache.rs`: by
//! device, inode, ctime and size, checked against a fingerprint of the
//! content), so each binary is inspected once however often it runs.

// Parser panics are contained with catch_unwind; with panic=abort a
// defect in one file's examination would take the daemon down instead.
#[cfg(panic = "abort")]
compile_error!("identification contains parser panics: build varco with panic = \"unwind\"");

mod authenticode;
mod cache;
mod markers;
mod pe;

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use crate::facts::ProcessFacts;
use crate::policy::catalog::{Catalog, Evidence, Identification, MatchedBy, Tool};
pub use cache::{CACHE_ENTRIES, FINGERPRINT_BLOCK, SETTLED};
use markers::Format;

/// Largest Windows (PE) file read for identification: the version
/// resource sits near the end, and remote tools are 1–80 MB. The cap keeps
/// a huge file from stalling the daemon.
pub const MAX_READ: u64 = 128 * 1024 * 1024;

/// How much of an ELF or Mach-O file is searched for content markers: the
/// read-only strings of the tools we know sit well within it.
pub const MAX_MARKER_READ: u64 = 32 * 1024 * 1024;

/// How much of a script is searched for content markers: remote desktop
/// servers written in Python or Perl (xpra, X2Go) are launchers of a few
/// kilobytes.
pub const MAX_SCRIPT_READ: u64 = 1024 * 1024;

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

/// Why a file's content could not be judged. The name and path checks
/// were made before and found nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifyError {
    /// The file could not be read; it is read again next time.
    #[error(
        "{path}: its content cannot be read ({error}); judged by its name only, and read again next time"
    )]
    Unreadable {
        /// The file.
        path: String,
        /// What the system said.
        error: String,
    },
    /// The content is damaged where it would have named the program, and
    /// what could be read names no tool.
    #[error("{path}: {problem}; what could be read names no remote-access tool")]
    Damaged {
        /// The file.
        path: String,
        /// The damage.
        problem: Problem,
    },
    /// Examining the content failed inside varco (a defect): the program
    /// is treated as a remote tool no window admits.
    #[error(
        "{path}: examining its content failed inside varco ({message}); it is treated as a remote-access tool that no window admits — please report this defect with the file"
    )]
    Panicked {
        /// The file.
        path: String,
        /// The panic's message.
        message: String,
    },
}

impl IdentifyError {
    /// True when the process must be treated as a remote tool no window
    /// admits ([`unjudged`]): varco's own reader failed on it, so nothing
    /// at all is known of its content. A file that is unreadable or
    /// damaged was judged on what could be read.
    pub fn fails_closed(&self) -> bool {
        matches!(self, IdentifyError::Panicked { .. })
    }

    /// What a process whose content could not be judged is treated as:
    /// [`unjudged`] when the error fails closed, nothing otherwise.
    pub fn treated_as(&self) -> Option<Identification<'static>> {
        self.fails_closed().then(|| Identification {
            tool: unjudged(),
            matched_by: MatchedBy::Unjudged,
            matched: "content could not be judged".to_string(),
        })
    }
}

/// The id of [`unjudged`]: not a slug, so no catalog file can define it
/// and no window can name it.
pub const UNJUDGED_ID: &str = "(unjudged)";

/// What a program whose content varco failed to examine is treated as: a
/// remote-access tool that no window admits (stopped in block mode,
/// reported in alert mode).
pub fn unjudged() -> &'static Tool {
    static UNJUDGED: LazyLock<Tool> = LazyLock::new(|| Tool {
        id: UNJUDGED_ID.to_string(),
        name: "Programma non verificabile".to_string(),
        ..Tool::default()
    });
    &UNJUDGED
}

/// What identification found: a tool, nothing, or why the content could
/// not be judged.
pub type Identified<'c> = Result<Option<Identification<'c>>, IdentifyError>;

/// How a file handed to the identifier is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// An executable: PE, ELF, Mach-O and `#!` scripts are read.
    Program,
    /// A file an interpreter was asked to run: read whatever its format.
    Script,
}

/// Gathers and caches content evidence for the sources and the CLI.
#[derive(Debug)]
pub struct Identifier {
    cache: cache::Cache,
    /// How long before its reading a file must have last changed for what
    /// was found to be kept ([`SETTLED`]).
    settle: Duration,
    /// Programs only root could have placed are not read (false: every
    /// file is, for [`Identifier::examine_file`]).
    trust_root: bool,
    /// Files read (cache misses), for the benchmark and the status line.
    pub reads: u64,
}

impl Default for Identifier {
    fn default() -> Identifier {
        Identifier {
            cache: cache::Cache::default(),
            settle: SETTLED,
            trust_root: true,
            reads: 0,
        }
    }
}

impl Identifier {
    /// An identifier with an empty cache.
    pub fn new() -> Identifier {
        Identifier::default()
    }

    /// Recognises a process by name and path first (no file access), then
    /// by the content of the file at its executable's path. Use
    /// [`Identifier::identify_exe`] for a running process: its path may
    /// name another file by now.
    pub fn identify<'c>(&mut self, catalog: &'c Catalog, facts: &ProcessFacts) -> Identified<'c> {
        if let Some(found) = catalog.identify(facts) {
            return Ok(Some(found));
        }
        let Some(exe) = facts.exe.as_deref() else {
            return Ok(None);
        };
        // An installed program seen before: a stat answers (the common
        // case by path, at the cost it had before the cache checked
        // content).
        if let Ok(meta) = std::fs::metadata(exe)
            && self
                .cache
                .kept_unread(&cache::Version::of_metadata(&meta, exe))
        {
            return Ok(None);
        }
        let file = match open_regular(exe) {
            Ok(Some(f)) => f,
            // A FIFO, a device, a folder: no program content to judge.
            Ok(None) => return Ok(None),
            // Nothing at that path: no content to judge (a running image
            // is read through its descriptor instead).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unreadable(exe, &e)),
        };
        self.by_content(catalog, facts, &file, exe, Reading::Program)
    }

    /// Recognises a running process whose executable is open as `exe`: by
    /// name and path first, then by the content read through `exe`
    /// itself, so what is judged is the file that runs even if the path
    /// now names another one.
    pub fn identify_exe<'c>(
        &mut self,
        catalog: &'c Catalog,
        facts: &ProcessFacts,
        exe: &File,
    ) -> Identified<'c> {
        if let Some(found) = catalog.identify(facts) {
            return Ok(Some(found));
        }
        let path = facts.exe.as_deref().unwrap_or(Path::new(""));
        self.by_content(catalog, facts, exe, path, Reading::Program)
    }

    /// Recognises an interpreter process (`facts`) by what it was asked to
    /// run: the script open as `script` (last known at `path`) is searched
    /// for the catalog's markers whatever its first bytes, so
    /// `python3 ./fattura` is judged as the tool `fattura` is.
    pub fn identify_script<'c>(
        &mut self,
        catalog: &'c Catalog,
        facts: &ProcessFacts,
        path: &Path,
        script: &File,
    ) -> Identified<'c> {
        if let Some(found) = catalog.identify(facts) {
            return Ok(Some(found));
        }
        self.by_content(catalog, facts, script, path, Reading::Script)
    }

    /// What the content of `path` says, read and examined without the
    /// cache and whoever placed it (the benchmark's "first exec").
    pub fn examine_file(
        &mut self,
        catalog: &Catalog,
        path: &Path,
    ) -> Result<Examined, IdentifyError> {
        let Some(file) = open_regular(path).map_err(|e| unreadable(path, &e))? else {
            return Ok(Examined::default());
        };
        let mut fresh = Identifier {
            settle: Duration::MAX,
            ..Identifier::default()
        };
        fresh.trust_root = false;
        let examined = fresh.examined(catalog, &file, path, Reading::Program)?;
        self.reads += fresh.reads;
        Ok(examined.examined)
    }

    fn by_content<'c>(
        &mut self,
        catalog: &'c Catalog,
        facts: &ProcessFacts,
        file: &File,
        path: &Path,
        reading: Reading,
    ) -> Identified<'c> {
        let hit = self.examined(catalog, file, path, reading)?;
        if let Some(found) = catalog.identify_with(facts, &hit.examined.evidence) {
            return Ok(Some(found));
        }
        match hit.examined.problems.into_iter().next() {
            // Reported once per version of a file, not on every exec.
            Some(problem) if hit.first => Err(IdentifyError::Damaged {
                path: path.display().to_string(),
                problem,
            }),
            _ => Ok(None),
        }
    }

    /// What `file`'s content says, from the cache when this version of it
    /// was examined before.
    fn examined(
        &mut self,
        catalog: &Catalog,
        file: &File,
        path: &Path,
        reading: Reading,
    ) -> Result<cache::Hit, IdentifyError> {
        let mut version = cache::Version::of(file, path).map_err(|e| unreadable(path, &e))?;
        if reading == Reading::Script {
            version = version.read_as_script();
        }
        if let Some(hit) = self
            .cache
            .get(&version, file)
            .map_err(|e| unreadable(path, &e))?
        {
            return Ok(hit);
        }
        // An administrator's installed program: its name and path are what
        // they are; only files a user could have planted or renamed are
        // read. The path must still name the file that is open.
        let trusted = reading == Reading::Program
            && self.trust_root
            && crate::sys::placed_by_root_only(path)
            && version.is_at(path);
        let started = SystemTime::now();
        let examined = if trusted {
            Examined::default()
        } else {
            self.reads += 1;
            let bytes = read_content(catalog, file, reading).map_err(|e| unreadable(path, &e))?;
            contained(|| examine_as(catalog, &bytes, reading)).map_err(|message| {
                IdentifyError::Panicked {
                    path: path.display().to_string(),
                    message,
                }
            })?
        };
        let settled = self.settle == Duration::ZERO || version.settled_at(started, self.settle);
        if settled && crate::sys::content_tracked(file, path) {
            self.cache.insert(version, file, examined.clone(), !trusted);
        }
        Ok(cache::Hit {
            examined,
            first: true,
        })
    }
}

/// Opens `path` for reading if it is a regular file. Opened without
/// waiting (a FIFO put where a program was would otherwise block the
/// caller until someone writes to it), then checked.
fn open_regular(path: &Path) -> std::io::Result<Option<File>> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path)?;
    Ok(file.metadata()?.is_file().then_some(file))
}

fn unreadable(path: &Path, e: &std::io::Error) -> IdentifyError {
    IdentifyError::Unreadable {
        path: path.display().to_string(),
        error: e.to_string(),
    }
}

/// Runs a parser, turning a panic into its message: a defect in one
/// file's examination must not take the daemon (or a batch of exec
/// answers) with it.
fn contained<T>(parse: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string())
    })
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

/// The bytes of `file` worth examining: a PE up to [`MAX_READ`], ELF and
/// Mach-O up to [`MAX_MARKER_READ`] and scripts up to [`MAX_SCRIPT_READ`]
/// (when the catalog has markers to look for), nothing for other files
/// read as programs.
fn read_content(catalog: &Catalog, file: &File, reading: Reading) -> std::io::Result<Vec<u8>> {
    let mut head = [0u8; 4];
    let mut limited = ReadAt { file, pos: 0 }.take(MAX_READ);
    let n = read_fully(&mut limited, &mut head)?;
    let has_markers = catalog.markers().next().is_some();
    let limit = match (Format::of(&head[..n]), reading) {
        (Format::Pe, _) => MAX_READ,
        (Format::Other, Reading::Program) => return Ok(Vec::new()),
        (_, _) if !has_markers => return Ok(Vec::new()),
        (Format::Binary, _) => MAX_MARKER_READ,
        (Format::Script | Format::Other, _) => MAX_SCRIPT_READ,
    };
    limited.set_limit(limit - n as u64);
    // Sized once from the file's length: no regrowing (and copying) a
    // 60 MB buffer by doubling.
    let size = file.metadata()?.len().min(limit);
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0).max(n));
    bytes.extend_from_slice(&head[..n]);
    limited.read_to_end(&mut bytes)?;
    Ok(bytes)
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

/// Examines an executable's bytes: the PE version resource and verified
/// signer names for Windows programs, the catalog's content markers for
/// ELF, Mach-O and `#!` scripts, nothing for other files. Every length in
/// the file is checked against the bytes there are; damage is returned,
/// not panicked on.
pub fn examine(catalog: &Catalog, bytes: &[u8]) -> Examined {
    examine_as(catalog, bytes, Reading::Program)
}

/// As [`examine`], for a file an interpreter was asked to run: searched
/// for markers whatever its format (but a PE is still read as a PE).
pub fn examine_script(catalog: &Catalog, bytes: &[u8]) -> Examined {
    examine_as(catalog, bytes, Reading::Script)
}

fn examine_as(catalog: &Catalog, bytes: &[u8], reading: Reading) -> Examined {
    #[cfg(test)]
    if bytes.starts_with(tests::PANIC_TRIGGER) {
        panic!("a parser defect, simulated by a unit test");
    }
    match (Format::of(bytes), reading) {
        (Format::Pe, _) => pe_examined(catalog, bytes),
        (Format::Other, Reading::Program) => Examined::default(),
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

/// Entry points for the fuzz targets in `fuzz/` (not an API).
#[doc(hidden)]
pub mod fuzzing {
    /// Checks every signature in `pe`'s certificate table as if every
    /// signer were in the catalog, so the whole verification runs.
    pub fn authenticode(pe: &[u8]) -> usize {
        match super::pe::Layout::parse(pe) {
            Some(layout) => {
                let (signers, problems) = super::authenticode::verified_signers(&layout, &|_| true);
                signers.len() + problems.len()
            }
            None => 0,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Content that makes [`examine_as`] panic in unit tests only, to
    /// prove a parser defect is contained and fails closed.
    pub(crate) const PANIC_TRIGGER: &[u8] = b"MZ-varco-test-panic";

    /// A scratch folder of this test process, removed on drop.
    pub(crate) struct Dir(pub PathBuf);

    impl Dir {
        pub(crate) fn new(name: &str) -> Dir {
            let dir = std::env::temp_dir().join(format!("varco-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A minimal 64-bit PE whose one section, `.rsrc`, holds `resources`
    /// and is named the resource directory.
    pub(crate) fn pe_with_resources(resources: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 0x200];
        b[..2].copy_from_slice(b"MZ");
        b[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
        b[0x40..0x44].copy_from_slice(b"PE\0\0");
        let put16 =
            |b: &mut Vec<u8>, at: usize, v: u16| b[at..at + 2].copy_from_slice(&v.to_le_bytes());
        let put32 =
            |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        let file = 0x44;
        put16(&mut b, file, 0x8664); // machine
        put16(&mut b, file + 2, 1); // sections
        put16(&mut b, file + 16, 240); // optional header size
        let opt = file + 20;
        put16(&mut b, opt, 0x20b); // PE32+
        put32(&mut b, opt + 32, 0x1000); // section alignment
        put32(&mut b, opt + 36, 0x200); // file alignment
        put32(&mut b, opt + 56, 0x2000); // size of image
        put32(&mut b, opt + 60, 0x200); // size of headers
        put32(&mut b, opt + 108, 16); // data directories
        let size = resources.len() as u32;
        put32(&mut b, opt + 112 + 2 * 8, 0x1000); // resource directory
        put32(&mut b, opt + 112 + 2 * 8 + 4, size);
        let section = opt + 240;
        b[section..section + 5].copy_from_slice(b".rsrc");
        put32(&mut b, section + 8, size); // virtual size
        put32(&mut b, section + 12, 0x1000); // virtual address
        put32(&mut b, section + 16, size); // raw size
        put32(&mut b, section + 20, 0x200); // raw pointer
        b.extend(resources);
        b
    }

    /// A PE whose resource directory claims more entries than it holds.
    pub(crate) fn pe_with_broken_resources() -> Vec<u8> {
        let mut root = vec![0u8; 16];
        root[14..16].copy_from_slice(&500u16.to_le_bytes());
        pe_with_resources(&root)
    }

    #[test]
    fn a_broken_resource_directory_is_a_problem_not_a_panic() {
        let catalog = Catalog::embedded().unwrap();
        let e = examine(&catalog, &pe_with_broken_resources());
        assert!(matches!(e.problems[..], [Problem::Resources(_)]), "{e:?}");
        let empty = examine(&catalog, &pe_with_resources(&[0u8; 16]));
        assert_eq!(empty, Examined::default(), "no version resource, no damage");
    }

    fn x11vnc() -> &'static Path {
        let p = Path::new("/usr/bin/x11vnc");
        assert!(
            p.exists(),
            "x11vnc not found: run bash tests/run.sh, which installs it"
        );
        p
    }

    /// An identifier that keeps what it read at once (the settling delay
    /// is tested on its own).
    fn eager() -> Identifier {
        Identifier {
            settle: Duration::ZERO,
            ..Identifier::default()
        }
    }

    fn x11vnc_marker(catalog: &Catalog) -> Vec<u8> {
        x11vnc_markers(catalog).remove(0)
    }

    fn x11vnc_markers(catalog: &Catalog) -> Vec<Vec<u8>> {
        let hex = |h: &String| {
            (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
                .collect()
        };
        catalog
            .get("x11vnc")
            .unwrap()
            .markers
            .iter()
            .map(hex)
            .collect()
    }

    /// `tool` with every occurrence of every x11vnc marker spoilt: the same
    /// size, naming no tool.
    fn spoilt(catalog: &Catalog, tool: &[u8]) -> Vec<u8> {
        let mut out = tool.to_vec();
        for m in x11vnc_markers(catalog) {
            for at in memchr::memmem::find_iter(tool, &m) {
                out[at] ^= 0xff;
            }
        }
        out
    }

    #[test]
    fn a_renamed_copy_of_a_real_tool_binary_is_found_by_its_marker() {
        let dir = Dir::new("identify");
        let renamed = dir.0.join("fattura");
        std::fs::copy(x11vnc(), &renamed).unwrap();
        let catalog = Catalog::embedded().unwrap();
        let mut id = eager();
        let facts = ProcessFacts::of_file(&renamed);
        let found = id
            .identify(&catalog, &facts)
            .unwrap()
            .expect("found by content");
        assert_eq!(found.tool.id, "x11vnc");
        assert_eq!(found.matched_by, MatchedBy::Content);
        id.identify(&catalog, &facts).unwrap().unwrap();
        assert_eq!(id.reads, 1, "the second look comes from the cache");
        // An unrelated binary of the system is not a tool.
        let ls = ProcessFacts::of_file(Path::new("/bin/ls"));
        assert!(id.identify(&catalog, &ls).unwrap().is_none());
    }

    #[cfg(target_os = "linux")] // real Linux programs, FIFOs and ctimes
    #[test]
    fn a_running_file_is_read_through_its_descriptor_not_its_path() {
        let dir = Dir::new("identify-fd");
        let renamed = dir.0.join("fattura");
        std::fs::copy(x11vnc(), &renamed).unwrap();
        let running = File::open(&renamed).unwrap();
        // The path now names an everyday program; the descriptor still
        // names the file that runs.
        let decoy = dir.0.join("decoy");
        std::fs::copy("/bin/ls", &decoy).unwrap();
        std::fs::rename(&decoy, &renamed).unwrap();
        let catalog = Catalog::embedded().unwrap();
        let facts = ProcessFacts::of_file(&renamed);
        let mut id = eager();
        assert!(
            id.identify(&catalog, &facts).unwrap().is_none(),
            "by path: ls"
        );
        let found = id
            .identify_exe(&catalog, &facts, &running)
            .unwrap()
            .expect("by descriptor: x11vnc");
        assert_eq!(found.tool.id, "x11vnc");
    }

    /// The reviewer's swap: a file judged harmless, then rewritten in
    /// place with a tool of the same size and its old modification time
    /// put back (`touch -r`). The owner can set the mtime, not the ctime.
    #[cfg(target_os = "linux")] // real Linux programs, FIFOs and ctimes
    #[test]
    fn a_file_rewritten_in_place_keeping_size_and_mtime_is_judged_again() {
        let catalog = Catalog::embedded().unwrap();
        let dir = Dir::new("identify-swap");
        let path = dir.0.join("fattura");
        let tool = std::fs::read(x11vnc()).unwrap();
        let harmless = spoilt(&catalog, &tool);
        assert_ne!(harmless, tool);
        std::fs::write(&path, &harmless).unwrap();
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        let facts = ProcessFacts::of_file(&path);
        let mut id = eager();
        assert!(id.identify(&catalog, &facts).unwrap().is_none());
        assert!(id.identify(&catalog, &facts).unwrap().is_none());
        assert_eq!(id.reads, 1, "judged harmless, and remembered");

        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        std::io::Write::write_all(&mut f, &tool).unwrap();
        f.set_modified(mtime).unwrap();
        drop(f);
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
        let found = id
            .identify(&catalog, &facts)
            .unwrap()
            .expect("judged again");
        assert_eq!(found.tool.id, "x11vnc");
        assert_eq!(id.reads, 2);
    }

    /// Where ctime might not change (other platforms, coarse clocks), the
    /// content fingerprint still tells a kept examination from new bytes.
    #[test]
    fn a_kept_examination_is_not_used_for_other_content_under_the_same_key() {
        let catalog = Catalog::embedded().unwrap();
        let dir = Dir::new("identify-fingerprint");
        let (a, b) = (dir.0.join("a"), dir.0.join("b"));
        std::fs::copy("/bin/ls", &a).unwrap();
        let mut other = std::fs::read("/bin/ls").unwrap();
        let last = other.len() - 1;
        other[last] ^= 0xff;
        std::fs::write(&b, &other).unwrap();
        let (fa, fb) = (File::open(&a).unwrap(), File::open(&b).unwrap());
        let version = cache::Version::of(&fa, &a).unwrap();
        let mut cache = cache::Cache::default();
        cache.insert(version.clone(), &fa, examine(&catalog, &[]), true);
        assert!(cache.get(&version, &fa).unwrap().is_some());
        assert!(cache.get(&version, &fb).unwrap().is_none(), "other bytes");
        assert!(cache.get(&version, &fa).unwrap().is_none(), "and forgotten");
    }

    /// A file changed just before it was read may change again within the
    /// same ctime tick: not kept until it has settled.
    #[cfg(target_os = "linux")] // real Linux programs, FIFOs and ctimes
    #[test]
    fn a_file_changed_just_now_is_read_again_next_time() {
        let catalog = Catalog::embedded().unwrap();
        let dir = Dir::new("identify-racy");
        let path = dir.0.join("nuovo");
        std::fs::copy("/bin/ls", &path).unwrap();
        let facts = ProcessFacts::of_file(&path);
        let mut id = Identifier::new();
        id.identify(&catalog, &facts).unwrap();
        id.identify(&catalog, &facts).unwrap();
        assert_eq!(id.reads, 2);
    }

    /// A FIFO put where a program's path points would block a plain open
    /// until someone writes to it, stalling the source: it is not read.
    #[cfg(target_os = "linux")] // real Linux programs, FIFOs and ctimes
    #[test]
    fn a_fifo_at_a_programs_path_is_not_waited_on() {
        let catalog = Catalog::embedded().unwrap();
        let dir = Dir::new("identify-fifo");
        let fifo = dir.0.join("fattura");
        let ok = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(ok.success());
        let facts = ProcessFacts::of_file(&fifo);
        assert_eq!(eager().identify(&catalog, &facts), Ok(None));
    }

    /// A read error is an error, and is not remembered.
    #[cfg(target_os = "linux")] // real Linux programs, FIFOs and ctimes
    #[test]
    fn a_read_error_is_reported_and_never_cached() {
        let catalog = Catalog::embedded().unwrap();
        let dir = Dir::new("identify-unreadable");
        // A directory opens, but reading it fails (EISDIR).
        let not_a_file = File::open(&dir.0).unwrap();
        let facts = ProcessFacts::of_file(&dir.0.join("fattura"));
        let mut id = eager();
        for _ in 0..2 {
            let err = id
                .identify_exe(&catalog, &facts, &not_a_file)
                .expect_err("unreadable");
            assert!(matches!(err, IdentifyError::Unreadable { .. }), "{err}");
            assert!(!err.fails_closed());
        }
        assert_eq!(id.reads, 2, "read again, not answered from the cache");
    }

    /// A parser defect is contained to its file and fails closed.
    #[test]
    fn a_panicking_parser_is_contained_and_fails_closed() {
        let catalog = Catalog::embedded().unwrap();
        let dir = Dir::new("identify-panic");
        let path = dir.0.join("strano.exe");
        std::fs::write(&path, PANIC_TRIGGER).unwrap();
        let facts = ProcessFacts::of_file(&path);
        let err = eager()
            .identify(&catalog, &facts)
            .expect_err("a panic is an error");
        assert!(matches!(err, IdentifyError::Panicked { .. }), "{err}");
        let treated = err.treated_as().expect("fails closed");
        assert_eq!(treated.tool.id, UNJUDGED_ID);
        assert_eq!(treated.matched_by, MatchedBy::Unjudged);
        assert!(catalog.get(UNJUDGED_ID).is_none());
    }

    #[test]
    fn scripts_are_searched_for_markers() {
        let catalog = Catalog::embedded().unwrap();
        let marker = x11vnc_marker(&catalog);
        let dir = Dir::new("identify-script");
        let mut text = b"#!/usr/bin/python3\nprint('".to_vec();
        text.extend(&marker);
        text.extend(b"')\n");
        let shebang = dir.0.join("fattura");
        std::fs::write(&shebang, &text).unwrap();
        let mut id = eager();
        let found = id
            .identify(&catalog, &ProcessFacts::of_file(&shebang))
            .unwrap()
            .expect("a #! script is read");
        assert_eq!(found.tool.id, "x11vnc");

        // Without `#!` it is read only when an interpreter runs it.
        let plain = dir.0.join("fattura.py");
        std::fs::write(
            &plain,
            &text[text.iter().position(|&b| b == b'\n').unwrap() + 1..],
        )
        .unwrap();
        let facts = ProcessFacts::of_file(&plain);
        assert!(id.identify(&catalog, &facts).unwrap().is_none());
        let python = ProcessFacts::of_file(Path::new("/usr/bin/python3"));
        let found = id
            .identify_script(&catalog, &python, &plain, &File::open(&plain).unwrap())
            .unwrap()
            .expect("the interpreter's script is read");
        assert_eq!(found.tool.id, "x11vnc");
    }
}
