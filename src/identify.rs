//! Identification by content: what an executable file *is*, whatever it is
//! called.
//!
//! A fraudster's download may be `fattura.exe`; its PE version resource
//! still says `OriginalFileName = AnyDesk.exe`, its certificate still names
//! the vendor, and a renamed Linux binary still carries its own strings.
//! This module reads files (the edge); matching the evidence against the
//! catalog stays pure in [`crate::catalog`].
//!
//! Cost control: a file is read only when its name and path did not
//! already identify it and a user could have put it there (on Linux,
//! programs only root could have installed are not read), at most
//! [`MAX_READ`] bytes, and the evidence is
//! cached by (device, inode, mtime, size) — by (path, size, mtime) on
//! Windows — so each binary is inspected once however often it runs.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use jiff::Timestamp;

use crate::catalog::{Catalog, Evidence, Identification};
use crate::decide::Decision;
use crate::policy::Policy;
use crate::process::ProcessFacts;

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
        let meta = std::fs::metadata(path)?;
        Ok(FileKey {
            #[cfg(unix)]
            dev: std::os::unix::fs::MetadataExt::dev(&meta),
            #[cfg(unix)]
            ino: std::os::unix::fs::MetadataExt::ino(&meta),
            #[cfg(not(unix))]
            path: path.to_path_buf(),
            size: meta.len(),
            mtime: meta.modified().ok(),
        })
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

    /// Decides on a process under `policy`: by name and path first, then,
    /// for a file those did not identify, by its content. This is the call
    /// for every event source that decides by itself (e.g. before an exec
    /// is allowed); the daemon uses it for every observation.
    pub fn decide(
        &mut self,
        policy: &Policy,
        facts: &ProcessFacts,
        now: Timestamp,
    ) -> Option<Decision> {
        if let Some(d) = policy.decide(facts, now) {
            return Some(d);
        }
        let exe = facts.exe.as_deref()?;
        let evidence = self.evidence(&policy.catalog, exe);
        if evidence.is_empty() {
            return None;
        }
        policy.decide_with(facts, &evidence, now)
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
        if self.cache.len() >= CACHE_ENTRIES {
            self.cache.clear();
        }
        self.reads += 1;
        self.cache.insert(key, evidence.clone());
        evidence
    }
}

/// Reads `path` (up to [`MAX_READ`] bytes) and gathers its evidence.
pub fn evidence_of_file(catalog: &Catalog, path: &Path) -> std::io::Result<Evidence> {
    let file = std::fs::File::open(path)?;
    let mut head = [0u8; 4];
    let mut limited = file.take(MAX_READ);
    let n = read_fully(&mut limited, &mut head)?;
    if !is_executable_format(&head[..n]) {
        return Ok(Evidence::default());
    }
    if !head.starts_with(b"MZ") {
        if catalog.markers().next().is_none() {
            return Ok(Evidence::default());
        }
        limited.set_limit(MAX_MARKER_READ - n as u64);
    }
    let mut bytes = Vec::with_capacity(4096);
    bytes.extend_from_slice(&head[..n]);
    limited.read_to_end(&mut bytes)?;
    Ok(evidence_of_bytes(catalog, &bytes))
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

/// PE (`MZ`), ELF, Mach-O (both byte orders, fat) — the formats a process
/// image can have. Scripts and documents give no evidence.
fn is_executable_format(head: &[u8]) -> bool {
    head.starts_with(b"MZ")
        || head.starts_with(b"\x7fELF")
        || matches!(
            head,
            [0xfe, 0xed, 0xfa, 0xce | 0xcf]
                | [0xce | 0xcf, 0xfa, 0xed, 0xfe]
                | [0xca, 0xfe, 0xba, 0xbe]
        )
}

/// Evidence from a file's bytes: the PE version resource and certificate
/// names for Windows binaries, the catalog's content markers for the
/// others.
pub fn evidence_of_bytes(catalog: &Catalog, bytes: &[u8]) -> Evidence {
    if bytes.starts_with(b"MZ") {
        return pe_evidence(bytes);
    }
    let markers = catalog
        .markers()
        .filter(|(m, _)| contains(bytes, m))
        .map(|(_, hex)| hex.to_string())
        .collect();
    Evidence {
        markers,
        ..Evidence::default()
    }
}

/// True when `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let mut from = 0;
    while let Some(pos) = haystack[from..].iter().position(|&b| b == first) {
        let at = from + pos;
        if haystack.len() - at < needle.len() {
            return false;
        }
        if &haystack[at + 1..at + needle.len()] == rest {
            return true;
        }
        from = at + 1;
    }
    false
}

/// The version-resource strings and certificate names of a PE file.
fn pe_evidence(bytes: &[u8]) -> Evidence {
    // pelite wants 4-byte alignment; a fresh allocation has it in practice,
    // and a copy is the safe way to get it otherwise.
    let aligned;
    let bytes = if (bytes.as_ptr() as usize).is_multiple_of(8) {
        bytes
    } else {
        aligned = bytes.to_vec();
        &aligned
    };
    let Ok(pe) = pelite::PeFile::from_bytes(bytes) else {
        return Evidence::default();
    };
    let mut e = Evidence::default();
    if let Ok(info) = pe
        .resources()
        .and_then(|r| r.version_info().map_err(|_| pelite::Error::Null))
    {
        let mut langs: Vec<_> = info.translation().to_vec();
        if langs.is_empty() {
            langs = info.file_info().strings.keys().copied().collect();
            langs.sort_by_key(|l| (l.lang_id, l.charset_id));
        }
        for lang in langs {
            let get = |k: &str| {
                info.value(lang, k)
                    .map(|v| v.trim_end_matches('\0').trim().to_string())
                    .filter(|v| !v.is_empty())
            };
            e.original_filename = e.original_filename.or_else(|| get("OriginalFilename"));
            e.product = e.product.or_else(|| get("ProductName"));
            e.description = e.description.or_else(|| get("FileDescription"));
            e.company = e.company.or_else(|| get("CompanyName"));
        }
    }
    if let Ok(security) = pe.security() {
        e.signers = certificate_names(security.certificate_data());
    }
    e
}

/// Common names and organisations (OIDs 2.5.4.3 and 2.5.4.10) found in a
/// DER certificate blob. The signature is not verified: a name only ever
/// makes varco *stop* a file, and a forged vendor name buys an attacker
/// nothing but that.
fn certificate_names(der: &[u8]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut i = 0;
    while i + 7 < der.len() {
        let oid_match = der[i] == 0x06
            && der[i + 1] == 0x03
            && der[i + 2] == 0x55
            && der[i + 3] == 0x04
            && matches!(der[i + 4], 0x03 | 0x0a);
        if !oid_match {
            i += 1;
            continue;
        }
        let tag = der[i + 5];
        let len = der[i + 6] as usize;
        let start = i + 7;
        if len < 0x80 && start + len <= der.len() {
            let raw = &der[start..start + len];
            let text = match tag {
                0x0c | 0x13 | 0x14 | 0x16 => String::from_utf8_lossy(raw).into_owned(),
                0x1e => String::from_utf16_lossy(
                    &raw.chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect::<Vec<_>>(),
                ),
                _ => String::new(),
            };
            let text = text.trim().to_string();
            if !text.is_empty() && !names.contains(&text) {
                names.push(text);
            }
        }
        i = start;
    }
    names
}

/// Folders the catalog's install paths name that exist here (the literal
/// part of each glob), for `varco scan`'s "installed" list.
pub fn install_roots(catalog: &Catalog) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = catalog
        .install_paths()
        .filter_map(|(_, glob)| {
            let literal = glob.split('*').next()?;
            let folder = literal.rsplit_once('/')?.0;
            let absolute = folder.starts_with('/')
                || (cfg!(windows) && folder.as_bytes().get(1) == Some(&b':'));
            (absolute && folder.len() > 3).then(|| PathBuf::from(folder))
        })
        .filter(|p| p.is_dir())
        // System folders a glob happens to name (/usr/bin/glpi-agent) are
        // program folders, checked by name.
        .filter(|p| !p.starts_with("/etc") && !program_dirs().contains(p))
        .collect();
    roots.sort();
    roots.dedup();
    roots
}

/// The system's program folders: checked by name only (their files are the
/// administrator's, and reading every one would take long).
pub fn program_dirs() -> Vec<PathBuf> {
    if cfg!(windows) {
        return Vec::new();
    }
    [
        "/usr/bin",
        "/usr/sbin",
        "/usr/local/bin",
        "/usr/local/sbin",
        "/usr/libexec",
        "/bin",
        "/sbin",
    ]
    .iter()
    .filter_map(|p| std::fs::canonicalize(p).ok())
    .filter(|p| p.is_dir())
    .fold(Vec::new(), |mut dirs, p| {
        // /bin is /usr/bin on merged-/usr systems: list each folder once.
        if !dirs.contains(&p) {
            dirs.push(p);
        }
        dirs
    })
}

/// Where `varco scan` looks for portable copies: every user's Downloads,
/// Desktop and temporary folders, the system temporary folders, `/opt`,
/// `/Applications`, Program Files.
pub fn default_scan_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    let homes: Vec<PathBuf> = if cfg!(windows) {
        std::env::var_os("SystemDrive")
            .map(|d| PathBuf::from(format!("{}\\Users", d.to_string_lossy())))
            .into_iter()
            .collect()
    } else if cfg!(target_os = "macos") {
        vec![PathBuf::from("/Users")]
    } else {
        vec![PathBuf::from("/home"), PathBuf::from("/root")]
    };
    for base in homes {
        let users: Vec<PathBuf> = if base.ends_with("root") {
            vec![base.clone()]
        } else {
            std::fs::read_dir(&base)
                .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
                .unwrap_or_default()
        };
        for home in users {
            for sub in [
                "Downloads",
                "Scaricati",
                "Desktop",
                "Scrivania",
                "AppData/Local/Temp",
            ] {
                let p = home.join(sub);
                if p.is_dir() {
                    roots.push(p);
                }
            }
        }
    }
    roots.push(std::env::temp_dir());
    if !cfg!(windows) {
        for p in ["/tmp", "/var/tmp", "/opt", "/Applications"] {
            let p = PathBuf::from(p);
            if p.is_dir() && !roots.contains(&p) {
                roots.push(p);
            }
        }
    } else {
        for var in ["ProgramFiles", "ProgramFiles(x86)", "ProgramData"] {
            if let Some(p) = std::env::var_os(var) {
                roots.push(PathBuf::from(p));
            }
        }
    }
    roots.sort();
    roots.dedup();
    roots
}

/// A remote tool found on disk by `varco scan`.
#[derive(Debug, Clone)]
pub struct Found {
    /// The file.
    pub path: PathBuf,
    /// Catalog id.
    pub tool_id: String,
    /// How it was recognised (audit-log word).
    pub matched_by: &'static str,
    /// The value that matched.
    pub matched: String,
}

/// Walks `roots` (at most `max_depth` folders deep, symbolic links not
/// followed) and returns the files the catalog recognises by name, path,
/// bundle, and — when `by_content` — by content.
pub fn scan_files(
    catalog: &Catalog,
    identifier: &mut Identifier,
    roots: &[PathBuf],
    max_depth: usize,
    by_content: bool,
) -> Vec<Found> {
    let mut found = Vec::new();
    let mut stack: Vec<(PathBuf, usize)> = roots.iter().map(|r| (r.clone(), 0)).collect();
    let mut seen = std::collections::HashSet::new();
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.filter_map(|e| e.ok()).collect();
        entries.sort_by_key(|e| e.path());
        for entry in entries {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                if depth < max_depth {
                    stack.push((path, depth + 1));
                }
                continue;
            }
            if !kind.is_file() || !seen.insert(path.clone()) {
                continue;
            }
            let facts = ProcessFacts {
                pid: 0,
                parent_pid: None,
                start_marker: 0,
                name: entry.file_name().to_string_lossy().into_owned(),
                exe: Some(path.clone()),
                cmdline: Vec::new(),
                user: None,
            };
            let id = if by_content {
                identifier.identify(catalog, &facts)
            } else {
                catalog.identify(&facts)
            };
            if let Some(id) = id {
                found.push(Found {
                    path: path.clone(),
                    tool_id: id.tool.id.clone(),
                    matched_by: id.matched_by.as_str(),
                    matched: id.matched,
                });
            }
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_needles_anywhere_and_only_whole() {
        assert!(contains(b"xxabcdyy", b"abcd"));
        assert!(contains(b"abcd", b"abcd"));
        assert!(!contains(b"abc", b"abcd"));
        assert!(!contains(b"aabcabcx", b"abcd"));
    }

    #[test]
    fn reads_common_names_and_organisations_from_der() {
        let mut der = vec![0x30, 0x10];
        der.extend([0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x05]);
        der.extend(b"AnyDe");
        der.extend([0x06, 0x03, 0x55, 0x04, 0x0a, 0x13, 0x03]);
        der.extend(b"Org");
        der.extend([
            0x06, 0x03, 0x55, 0x04, 0x03, 0x1e, 0x04, 0x00, b'H', 0x00, b'i',
        ]);
        assert_eq!(certificate_names(&der), ["AnyDe", "Org", "Hi"]);
    }

    #[test]
    fn only_executable_formats_are_read() {
        assert!(is_executable_format(b"MZ\x90\x00"));
        assert!(is_executable_format(b"\x7fELF"));
        assert!(is_executable_format(&[0xcf, 0xfa, 0xed, 0xfe]));
        assert!(!is_executable_format(b"#!/b"));
        assert!(!is_executable_format(b"%PDF"));
    }

    #[test]
    fn a_renamed_copy_of_a_real_tool_binary_is_found_by_its_marker() {
        let x11vnc = PathBuf::from("/usr/bin/x11vnc");
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
        let facts = ProcessFacts {
            pid: 1,
            parent_pid: None,
            start_marker: 0,
            name: "fattura".into(),
            exe: Some(renamed.clone()),
            cmdline: vec![],
            user: None,
        };
        let found = id.identify(&catalog, &facts).expect("found by content");
        assert_eq!(found.tool.id, "x11vnc");
        assert_eq!(found.matched_by, crate::catalog::MatchedBy::Content);
        id.identify(&catalog, &facts).unwrap();
        assert_eq!(id.reads, 1, "the second look comes from the cache");
        // An unrelated binary of the system is not a tool.
        let ls = ProcessFacts {
            exe: Some(PathBuf::from("/bin/ls")),
            name: "ls".into(),
            ..facts
        };
        assert!(id.identify(&catalog, &ls).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
