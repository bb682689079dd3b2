//! The facts-only snapshot of one upstream source.
//!
//! An importer reads an upstream export in the format its project publishes
//! and reduces every tool it describes to an [`Entry`]: names, paths, PE
//! strings, signers and domains, nothing else. The reduced snapshot is what
//! varco commits (`config/catalog/sources/SOURCE.toml`): reviewable, small,
//! and free of upstream prose. The generator merges the snapshots; it never
//! reads an upstream file.

use std::collections::BTreeSet;

use serde::Deserialize;

/// What one upstream entry (a LOLRMM file, a Splunk app, a Sigma rule, a
/// Surveyor tool) says about a tool, as facts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Where in the upstream export this entry is (file name, app name,
    /// rule file): with the snapshot's version, the provenance of its facts.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The tool's name as upstream writes it.
    pub name: String,
    /// Executable file names (Windows names keep `.exe`); `*` patterns
    /// allowed.
    #[serde(default)]
    pub executables: BTreeSet<String>,
    /// PE version resource `OriginalFileName` values.
    #[serde(default)]
    pub original_filenames: BTreeSet<String>,
    /// PE `ProductName` / `FileDescription` values.
    #[serde(default)]
    pub products: BTreeSet<String>,
    /// PE `CompanyName` values.
    #[serde(default)]
    pub companies: BTreeSet<String>,
    /// Authenticode signer names.
    #[serde(default)]
    pub signers: BTreeSet<String>,
    /// Install folders or programs as globs with `/` separators.
    #[serde(default)]
    pub paths: BTreeSet<String>,
    /// macOS bundle names.
    #[serde(default)]
    pub bundles: BTreeSet<String>,
    /// Relay and rendezvous domains.
    #[serde(default)]
    pub domains: BTreeSet<String>,
    /// Operating systems upstream says the tool runs on.
    #[serde(default)]
    pub platforms: BTreeSet<String>,
}

impl Entry {
    /// An entry with its upstream reference and name.
    pub fn new(reference: &str, name: &str) -> Entry {
        Entry {
            reference: reference.trim().to_string(),
            name: name.trim().to_string(),
            ..Entry::default()
        }
    }

    /// Adds a file name if it names a program: not a placeholder, not a
    /// path, not a library or document.
    pub fn add_executable(&mut self, raw: &str) {
        if let Some(v) = program_name(raw) {
            self.executables.insert(v);
        }
    }

    /// Adds a PE `OriginalFileName`; a program's original name is also a
    /// name it runs under.
    pub fn add_original_filename(&mut self, raw: &str) {
        if let Some(v) = program_name(raw) {
            self.original_filenames.insert(v.clone());
            self.executables.insert(v);
        }
    }

    /// Adds a PE string (product or description); shorter than 4
    /// characters says nothing.
    pub fn add_product(&mut self, raw: &str) {
        if let Some(v) = pe_string(raw) {
            self.products.insert(v);
        }
    }

    /// Adds a PE `CompanyName`.
    pub fn add_company(&mut self, raw: &str) {
        if let Some(v) = pe_string(raw) {
            self.companies.insert(v);
        }
    }

    /// Adds a code-signing signer name.
    pub fn add_signer(&mut self, raw: &str) {
        if let Some(v) = pe_string(raw) {
            self.signers.insert(v);
        }
    }

    /// Adds a relay domain when it looks like one.
    pub fn add_domain(&mut self, raw: &str) {
        let d = raw.trim().trim_matches(['"', '\'']).to_lowercase();
        if d.contains('.')
            && !d.starts_with('.')
            && d.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*' | ':' | '_'))
        {
            self.domains.insert(d);
        }
    }

    /// Adds a platform name, spelled one way.
    pub fn add_platform(&mut self, raw: &str) {
        let p = match raw.trim().to_lowercase().as_str() {
            "" => return,
            "mac" | "macos" | "osx" | "os x" | "darwin" => "macos".to_string(),
            other => other.to_string(),
        };
        self.platforms.insert(p);
    }

    /// Sorts an install path into a program name, a bundle or a folder
    /// glob. `%VAR%\…` means anywhere; a folder needs one component
    /// specific to the tool (`C:\Program Files\*` says nothing).
    pub fn add_path(&mut self, raw: &str) {
        let p = raw.trim().trim_matches(['"', '\'']);
        if p.is_empty() || p == "*" || p.contains(['<', '>', '[', ']', '\'', '$']) {
            return;
        }
        let last = p.rsplit(['\\', '/']).next().unwrap_or(p);
        let has_folder = p.contains(['\\', '/']);
        let lower_last = last.to_lowercase();
        if lower_last.ends_with(".app") {
            self.bundles.insert(last.to_string());
            return;
        }
        if let Some(bundle) = p
            .split(['\\', '/'])
            .find(|c| c.to_lowercase().ends_with(".app") && c.len() > 4)
        {
            self.bundles.insert(bundle.to_string());
        }
        if lower_last.ends_with(".exe") {
            self.add_executable(last);
            if !has_folder || last.starts_with('*') {
                return;
            }
        } else if !has_folder {
            // A bare file that is not a program (.dll, .msi, .pkg, .lnk) or
            // not a path at all ("can't find this one").
            return;
        }
        let mut glob = p.replace('\\', "/");
        while glob.contains("//") {
            glob = glob.replace("//", "/");
        }
        if glob.starts_with('%')
            && let Some(end) = glob[1..].find('%')
        {
            glob = format!("*{}", &glob[end + 2..]);
        }
        if glob.ends_with('/') {
            glob.push('*');
        }
        let specific = glob.split('/').any(|c| {
            !GENERIC_FOLDERS.contains(&c.to_lowercase().as_str()) && c.replace('*', "").len() >= 3
        });
        let ext = lower_last.rsplit_once('.').map(|(_, e)| e.to_string());
        let non_program = matches!(
            ext.as_deref(),
            Some(
                "dll"
                    | "msi"
                    | "mst"
                    | "pkg"
                    | "lnk"
                    | "service"
                    | "conf"
                    | "txt"
                    | "log"
                    | "sys"
                    | "ini"
                    | "xml"
                    | "plist"
                    | "json"
            )
        );
        if specific && !non_program {
            self.paths.insert(glob);
        }
    }

    /// True when the entry names nothing a workstation could match.
    pub fn has_matchers(&self) -> bool {
        !(self.executables.is_empty()
            && self.original_filenames.is_empty()
            && self.products.is_empty()
            && self.companies.is_empty()
            && self.signers.is_empty()
            && self.paths.is_empty()
            && self.bundles.is_empty())
    }
}

/// Folder names that say nothing about a tool.
const GENERIC_FOLDERS: &[&str] = &[
    "",
    "*",
    "c:",
    "program files",
    "program files (x86)",
    "programdata",
    "windows",
    "system32",
    "syswow64",
    "users",
    "appdata",
    "local",
    "roaming",
    "temp",
    "opt",
    "usr",
    "bin",
    "sbin",
    "etc",
    "var",
    "lib",
    "share",
    "applications",
    "library",
    "application support",
];

/// A program's file name, trimmed, or `None` for a placeholder, a path, a
/// bare `*` or a non-program file.
pub fn program_name(raw: &str) -> Option<String> {
    let v = raw.trim().trim_matches(['"', '\'']).trim();
    if v.is_empty()
        || v.chars().all(|c| c == '*' || c == '.')
        || v.contains(['<', '>', '[', ']', '\\', '/', '%', '$', '|', '"'])
        || !is_executable_name(v)
    {
        return None;
    }
    Some(v.to_string())
}

fn pe_string(raw: &str) -> Option<String> {
    let v = raw.trim().trim_matches('"').trim();
    (v.chars().count() >= 4 && !v.contains('*')).then(|| v.to_string())
}

/// `.exe` or no extension at all (Linux/macOS programs); not `.dll`,
/// `.msi`, `.zip`…
pub fn is_executable_name(v: &str) -> bool {
    let lower = v.to_lowercase();
    if lower.ends_with(".exe") || lower.ends_with(".exe*") {
        return true;
    }
    match lower.rsplit_once('.') {
        None => true,
        // "Freshservice.DiscoveryProbe.X" style names end in a word, not an
        // extension of 2-4 letters; "nxserver.bin" is a Linux program.
        Some((_, ext)) => ext.len() > 4 || ext == "bin",
    }
}

/// A tool entry of a catalog file (curated.toml, generated.toml) as the
/// generator and the change summary read it: its id, name and matchers.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CatalogTool {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub executables: Vec<String>,
    #[serde(default)]
    pub original_filenames: Vec<String>,
    #[serde(default)]
    pub products: Vec<String>,
    #[serde(default)]
    pub companies: Vec<String>,
    #[serde(default)]
    pub signers: Vec<String>,
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub bundles: Vec<String>,
}

/// A catalog file's tools.
#[derive(Debug, Default, Deserialize)]
pub struct CatalogFile {
    #[serde(default)]
    pub tool: Vec<CatalogTool>,
}

/// One source's snapshot: the reduced facts with the upstream version they
/// were taken from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Which source.
    pub source: Source,
    /// Upstream version (commit or release) of the export.
    pub version: String,
    /// Entries, sorted by reference.
    pub entries: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotFile {
    source: String,
    version: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

impl Snapshot {
    /// A snapshot with entries put in reference order (merging entries that
    /// share a reference), so the text never depends on upstream order.
    pub fn new(source: Source, version: &str, entries: Vec<Entry>) -> Snapshot {
        let mut by_ref: std::collections::BTreeMap<String, Entry> = Default::default();
        for e in entries {
            match by_ref.get_mut(&e.reference) {
                None => {
                    by_ref.insert(e.reference.clone(), e);
                }
                Some(have) => {
                    have.executables.extend(e.executables);
                    have.original_filenames.extend(e.original_filenames);
                    have.products.extend(e.products);
                    have.companies.extend(e.companies);
                    have.signers.extend(e.signers);
                    have.paths.extend(e.paths);
                    have.bundles.extend(e.bundles);
                    have.domains.extend(e.domains);
                    have.platforms.extend(e.platforms);
                }
            }
        }
        Snapshot {
            source,
            version: version.trim().to_string(),
            entries: by_ref.into_values().collect(),
        }
    }

    /// Reads a committed snapshot; `origin` names it in errors.
    pub fn parse(origin: &str, text: &str) -> Result<Snapshot, String> {
        let file: SnapshotFile = toml::from_str(text).map_err(|e| format!("{origin}: {e}"))?;
        let source = Source::from_name(&file.source).ok_or_else(|| {
            format!(
                "{origin}: unknown source \"{}\" (known: {})",
                file.source,
                Source::names()
            )
        })?;
        Ok(Snapshot::new(source, &file.version, file.entry))
    }

    /// The snapshot as committed text: a header saying where the facts come
    /// from and under which licence, then one `[[entry]]` per upstream
    /// entry, lists sorted. Byte-identical for identical facts.
    pub fn to_text(&self) -> String {
        let s = self.source;
        let mut out = String::new();
        out.push_str(&format!(
            "# Facts from {} ({}), {}.\n\
             # Export read: {}.\n\
             # Reduced to names, paths, PE strings, signers and domains by\n\
             # `cargo run -p xtask -- update {}=PATH@VERSION`; no upstream prose is kept.\n\
             # Do not edit: re-import, or correct in curated.toml / not-by-name.toml /\n\
             # aliases.toml. See config/catalog/ATTRIBUTION.md.\n\n",
            s.title(),
            s.url(),
            s.licence(),
            s.export(),
            s.name(),
        ));
        out.push_str(&format!("source = {}\n", quote(s.name())));
        out.push_str(&format!("version = {}\n", quote(&self.version)));
        for e in &self.entries {
            out.push_str("\n[[entry]]\n");
            out.push_str(&format!("ref = {}\n", quote(&e.reference)));
            out.push_str(&format!("name = {}\n", quote(&e.name)));
            for (field, set) in [
                ("executables", &e.executables),
                ("original_filenames", &e.original_filenames),
                ("products", &e.products),
                ("companies", &e.companies),
                ("signers", &e.signers),
                ("paths", &e.paths),
                ("bundles", &e.bundles),
                ("domains", &e.domains),
                ("platforms", &e.platforms),
            ] {
                if !set.is_empty() {
                    out.push_str(&format!("{field} = {}\n", list(set.iter())));
                }
            }
        }
        out
    }
}

/// A TOML inline array of basic strings.
pub fn list<'a>(values: impl Iterator<Item = &'a String>) -> String {
    let items: Vec<String> = values.map(|v| quote(v)).collect();
    format!("[{}]", items.join(", "))
}

/// A TOML basic string: backslash, quote and control characters escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

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
}

/// True when `a` and `b` share a word of 4 letters or more.
pub fn shares_word(a: &str, b: &str) -> bool {
    let words = |s: &str| -> BTreeSet<String> {
        s.to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() >= 4)
            .map(str::to_string)
            .collect()
    };
    let (wa, wb) = (words(a), words(b));
    wa.iter().any(|w| {
        wb.contains(w)
            || wb
                .iter()
                .any(|x| x.contains(w.as_str()) || w.contains(x.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_names_bundles_or_specific_folders() {
        let mut e = Entry::new("x", "X");
        e.add_path(r"C:\Program Files\AnyDesk\AnyDesk.exe");
        e.add_path(r"%ProgramFiles%\Foo Remote\*");
        e.add_path(r"C:\Program Files\*");
        e.add_path("/Applications/AnyDesk.app/Contents/MacOS/AnyDesk");
        e.add_path(r"C:\Windows\foo.dll");
        e.add_path("*");
        assert_eq!(
            e.paths.iter().collect::<Vec<_>>(),
            [
                "*/Foo Remote/*",
                "/Applications/AnyDesk.app/Contents/MacOS/AnyDesk",
                "C:/Program Files/AnyDesk/AnyDesk.exe"
            ]
        );
        assert!(e.executables.contains("AnyDesk.exe"));
        assert!(e.bundles.contains("AnyDesk.app"));
    }

    #[test]
    fn placeholders_and_libraries_are_not_program_names() {
        for bad in [
            "*",
            "<random>.exe",
            r"C:\x.exe",
            "foo.dll",
            "setup.msi",
            "a|b.exe",
        ] {
            assert_eq!(program_name(bad), None, "{bad}");
        }
        for good in ["AnyDesk.exe", "x11vnc", "nxserver.bin", "rustdesk*.exe"] {
            assert_eq!(program_name(good).as_deref(), Some(good));
        }
    }

    #[test]
    fn snapshot_text_round_trips_and_is_sorted() {
        let mut b = Entry::new("b.yaml", "Bee");
        b.add_executable("zz.exe");
        b.add_executable("aa.exe");
        let a = Entry::new("a.yaml", "Ay \"quoted\"");
        let s = Snapshot::new(Source::Lolrmm, "abc123", vec![b, a]);
        let text = s.to_text();
        assert!(text.find("a.yaml").unwrap() < text.find("b.yaml").unwrap());
        assert!(text.contains("executables = [\"aa.exe\", \"zz.exe\"]"));
        let back = Snapshot::parse("t", &text).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.to_text(), text);
    }
}
