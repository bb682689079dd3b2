//! The catalog of remote-access tools: data, not code.
//!
//! The tools are reviewed TOML files under `config/catalog/`, embedded in
//! the binary so a workstation never depends on a file the operator could
//! delete: `generated.toml` (merged from LOLRMM and other public sources
//! by `cargo run -p xtask -- catalog`, see docs/catalog.md) and
//! `curated.toml` (hand-written: Linux and macOS names, content markers,
//! tools missing upstream). An entry with the same id in
//! both is one tool with the union of their matchers. IT can add in-house
//! or newly seen tools with a catalog file of its own, validated the same
//! way.
//!
//! Matching is pure: names and paths come from [`ProcessFacts`], what a
//! file *contains* (PE version resource, signer, content markers) arrives
//! as [`Evidence`] gathered by `crate::policy::identify` at the edge.
#![forbid(unsafe_code)]

use std::collections::HashMap;

use serde::Deserialize;
use toml::Spanned;

use crate::facts::ProcessFacts;
use crate::policy::diagnostic::{Diagnostic, render_all};

/// The embedded catalog files, in the order they are merged. Curated first:
/// its hand decisions are the reference the generator resolves against.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "config/catalog/curated.toml",
        include_str!("../../../config/catalog/curated.toml"),
    ),
    (
        "config/catalog/generated.toml",
        include_str!("../../../config/catalog/generated.toml"),
    ),
];

/// Names too generic to identify a tool by themselves (reviewed list with
/// the reason for each). Every catalog file, IT's included, is checked
/// against it.
const NOT_BY_NAME: &str = include_str!("../../../config/catalog/not-by-name.toml");

/// Shortest literal start a name pattern may have: `rustdesk*` is fine,
/// `rd*` would catch everyday programs.
const MIN_PATTERN_PREFIX: usize = 4;

/// One remote-access product.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tool {
    /// Stable lowercase slug used by the windows file and the audit log.
    pub id: String,
    /// Name shown to the operator.
    pub name: String,
    /// Executable file names, normalised (lowercase, no `.exe`).
    pub executables: Vec<String>,
    /// Executable name patterns with `*` (e.g. `rustdesk*`), normalised.
    pub name_patterns: Vec<String>,
    /// PE `OriginalFileName` values, normalised like executables.
    pub original_filenames: Vec<String>,
    /// PE `ProductName` / `FileDescription` values, lowercase.
    pub products: Vec<String>,
    /// PE `CompanyName` values, lowercase.
    pub companies: Vec<String>,
    /// Authenticode signer names, lowercase.
    pub signers: Vec<String>,
    /// Install paths as lowercase globs with `/` separators.
    pub paths: Vec<String>,
    /// macOS bundle names (`anydesk.app`), lowercase.
    pub bundles: Vec<String>,
    /// Byte strings found in the tool's own binaries (renamed ELF/Mach-O),
    /// as lowercase hex so varco's own binary never contains the bytes.
    pub markers: Vec<String>,
    /// Relay and rendezvous domains (data for IT and network rules; not
    /// matched on the workstation).
    pub domains: Vec<String>,
    /// Where the entry's facts come from.
    pub sources: Vec<String>,
}

/// How a process was recognised; recorded in the audit log so IT can judge
/// a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// The executable's (or argv\[0\]'s, or the process's) file name, or an
    /// AppImage/bundle name.
    Name,
    /// The PE version resource's `OriginalFileName`: survives a rename.
    PeOriginalFilename,
    /// The PE version resource's `ProductName` or `FileDescription`.
    Product,
    /// The PE version resource's `CompanyName`.
    Company,
    /// The Authenticode signer's name.
    Signer,
    /// The executable lives under a known install path.
    Path,
    /// A byte marker of the tool inside the file.
    Content,
    /// Not recognised: examining the file's content failed inside varco,
    /// so it is treated as a tool no window admits
    /// (`crate::policy::identify::unjudged`).
    Unjudged,
}

impl MatchedBy {
    /// Every way a tool can be recognised.
    pub const ALL: [MatchedBy; 8] = [
        MatchedBy::Name,
        MatchedBy::PeOriginalFilename,
        MatchedBy::Product,
        MatchedBy::Company,
        MatchedBy::Signer,
        MatchedBy::Path,
        MatchedBy::Content,
        MatchedBy::Unjudged,
    ];

    /// The word used in the audit log and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchedBy::Name => "name",
            MatchedBy::PeOriginalFilename => "pe_original_filename",
            MatchedBy::Product => "product",
            MatchedBy::Company => "company",
            MatchedBy::Signer => "signer",
            MatchedBy::Path => "path",
            MatchedBy::Content => "content",
            MatchedBy::Unjudged => "unjudged",
        }
    }
}

/// What a file's content says about it, gathered by `crate::policy::identify`.
/// Empty for a file that could not be read or is not an executable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evidence {
    /// PE `OriginalFileName`.
    pub original_filename: Option<String>,
    /// PE `ProductName`.
    pub product: Option<String>,
    /// PE `FileDescription`.
    pub description: Option<String>,
    /// PE `CompanyName`.
    pub company: Option<String>,
    /// Names (CN and O) of the Authenticode signers whose signature
    /// verifies over the file's own digest.
    pub signers: Vec<String>,
    /// Catalog markers (hex) found in the file's bytes.
    pub markers: Vec<String>,
}

impl Evidence {
    /// True when nothing was learnt from the content.
    pub fn is_empty(&self) -> bool {
        *self == Evidence::default()
    }
}

/// A process recognised as a remote-access tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification<'c> {
    /// The tool it is.
    pub tool: &'c Tool,
    /// How it was recognised.
    pub matched_by: MatchedBy,
    /// The value that matched (e.g. the file name as seen).
    pub matched: String,
}

/// A catalog that cannot be used, with every problem found.
#[derive(Debug, thiserror::Error)]
#[error("{}", render_all(origin, diagnostics))]
pub struct CatalogError {
    /// The file the problems are in.
    pub origin: String,
    /// What is wrong, where.
    pub diagnostics: Vec<Diagnostic>,
}

/// How a file's entries combine with the tools already known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// Every id must be new (IT's extension: a typo must not silently
    /// extend another tool).
    NewOnly,
    /// An id already known gains the entry's matchers (the embedded files).
    Union,
}

/// An install path glob: matches the path itself (`pattern`) or anything
/// under it (`under`, precomputed so matching allocates nothing).
#[derive(Debug, Clone)]
struct PathGlob {
    pattern: String,
    under: String,
    tool: usize,
}

impl PathGlob {
    fn new(pattern: &str, tool: usize) -> PathGlob {
        PathGlob {
            pattern: pattern.to_string(),
            under: format!("{}/*", pattern.trim_end_matches('/')),
            tool,
        }
    }

    fn matches(&self, path: &str) -> bool {
        glob(&self.pattern, path) || glob(&self.under, path)
    }
}

/// All known tools, indexed for matching.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    tools: Vec<Tool>,
    by_executable: HashMap<String, usize>,
    /// Names that match only when written with `.exe` (see
    /// `not-by-name.toml`, `only_without_exe`).
    exe_only: std::collections::HashSet<String>,
    by_original: HashMap<String, usize>,
    by_product: HashMap<String, usize>,
    by_company: HashMap<String, usize>,
    by_signer: HashMap<String, usize>,
    by_bundle: HashMap<String, usize>,
    by_marker: HashMap<String, usize>,
    /// Markers as bytes, with their hex form (the key of `by_marker`).
    marker_bytes: Vec<(Vec<u8>, String)>,
    /// Name patterns indexed by their literal start (its first
    /// `MIN_PATTERN_PREFIX` characters), so a name is tried against few.
    patterns: HashMap<String, Vec<(String, usize)>>,
    /// Path globs indexed by one literal, specific folder name they need.
    paths_by_folder: HashMap<String, Vec<PathGlob>>,
    /// Path globs without such a folder name, tried on every path.
    paths_other: Vec<PathGlob>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    tool: Vec<ToolEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolEntry {
    id: Spanned<String>,
    name: String,
    #[serde(default)]
    executables: Vec<Spanned<String>>,
    #[serde(default)]
    original_filenames: Vec<Spanned<String>>,
    #[serde(default)]
    products: Vec<Spanned<String>>,
    #[serde(default)]
    companies: Vec<Spanned<String>>,
    #[serde(default)]
    signers: Vec<Spanned<String>>,
    #[serde(default)]
    paths: Vec<Spanned<String>>,
    #[serde(default)]
    bundles: Vec<Spanned<String>>,
    #[serde(default)]
    markers: Vec<Spanned<String>>,
    #[serde(default)]
    domains: Vec<String>,
    #[serde(default)]
    sources: Vec<String>,
}

/// The reviewed list of names that must not identify a tool alone.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NotByNameFile {
    #[serde(default)]
    name: Vec<NotByName>,
    /// LOLRMM files the generator leaves out; read by the generator only.
    #[serde(default)]
    #[allow(dead_code)]
    exclude: Vec<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NotByName {
    value: String,
    #[allow(dead_code)] // read by reviewers, required so none is missing
    why: String,
    #[serde(default)]
    only_without_exe: bool,
}

/// The reviewed generic names: `(normalised name, only_without_exe)`. With
/// `only_without_exe` the bare name is an everyday Unix program (`kitty`)
/// while the `.exe` is the tool. The file is embedded and tested; a broken
/// one yields an empty list and a failing test, never a panic.
pub fn not_by_name() -> Vec<(String, bool)> {
    toml::from_str::<NotByNameFile>(NOT_BY_NAME)
        .map(|f| {
            f.name
                .iter()
                .map(|n| (normalise(&n.value), n.only_without_exe))
                .collect()
        })
        .unwrap_or_default()
}

/// Which matcher list of an entry a value belongs to, for validation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Executable,
    Original,
    Product,
    Company,
    Signer,
    Path,
    Bundle,
    Marker,
}

impl Kind {
    fn what(self) -> &'static str {
        match self {
            Kind::Executable => "executable",
            Kind::Original => "original file name",
            Kind::Product => "product",
            Kind::Company => "company",
            Kind::Signer => "signer",
            Kind::Path => "path",
            Kind::Bundle => "bundle",
            Kind::Marker => "marker",
        }
    }
}

impl Catalog {
    /// The catalog compiled into the binary. It is validated by the test
    /// suite, so an error here is a build defect, reported rather than
    /// panicking.
    pub fn embedded() -> Result<Catalog, CatalogError> {
        let mut catalog = Catalog::default();
        for (origin, text) in EMBEDDED {
            catalog.add_file_with(origin, text, Merge::Union)?;
        }
        Ok(catalog)
    }

    /// Adds the tools of IT's catalog file (TOML text); `origin` names it
    /// in errors. Ids must be new. Nothing is added when any entry is
    /// wrong.
    pub fn add_file(&mut self, origin: &str, text: &str) -> Result<(), CatalogError> {
        self.add_file_with(origin, text, Merge::NewOnly)
    }

    /// Adds the tools in one catalog file, combining ids as `merge` says.
    /// All or nothing.
    pub fn add_file_with(
        &mut self,
        origin: &str,
        text: &str,
        merge: Merge,
    ) -> Result<(), CatalogError> {
        let fail = |diagnostics| CatalogError {
            origin: origin.to_string(),
            diagnostics,
        };
        let file: CatalogFile = toml::from_str(text).map_err(|e| {
            fail(vec![Diagnostic::at(
                text,
                e.span(),
                e.message().trim().to_string(),
                "see config/catalog/curated.toml for the format",
            )])
        })?;
        let (exe_only, generic): (Vec<_>, Vec<_>) =
            not_by_name().into_iter().partition(|(_, only)| *only);
        let generic: Vec<String> = generic.into_iter().map(|(n, _)| n).collect();
        let mut next = self.clone();
        next.exe_only.extend(exe_only.into_iter().map(|(n, _)| n));
        let mut diags = Vec::new();
        let mut seen_here: Vec<String> = Vec::new();
        for entry in file.tool {
            let id_span = Some(entry.id.span());
            let id = entry.id.into_inner();
            if !is_slug(&id) {
                diags.push(Diagnostic::at(
                    text,
                    id_span.clone(),
                    format!("tool id \"{id}\" is not a lowercase slug"),
                    "use lowercase letters, digits and '-', e.g. \"anydesk\"",
                ));
                continue;
            }
            let known = next.tools.iter().position(|t| t.id == id);
            if seen_here.contains(&id) || (known.is_some() && merge == Merge::NewOnly) {
                diags.push(Diagnostic::at(
                    text,
                    id_span,
                    format!("tool id \"{id}\" is defined twice"),
                    "give each tool one entry, or a different id",
                ));
                continue;
            }
            seen_here.push(id.clone());
            let matchers = entry.executables.len()
                + entry.original_filenames.len()
                + entry.products.len()
                + entry.companies.len()
                + entry.signers.len()
                + entry.paths.len()
                + entry.bundles.len()
                + entry.markers.len();
            if matchers == 0 && known.is_none() {
                diags.push(Diagnostic::at(
                    text,
                    id_span,
                    format!("tool \"{id}\" has no executables"),
                    "list at least one executable file name (or original_filenames, products, paths, bundles, markers)",
                ));
                continue;
            }
            let index = known.unwrap_or_else(|| {
                next.tools.push(Tool {
                    id: id.clone(),
                    name: entry.name.clone(),
                    ..Tool::default()
                });
                next.tools.len() - 1
            });
            let lists = [
                (Kind::Executable, &entry.executables),
                (Kind::Original, &entry.original_filenames),
                (Kind::Product, &entry.products),
                (Kind::Company, &entry.companies),
                (Kind::Signer, &entry.signers),
                (Kind::Path, &entry.paths),
                (Kind::Bundle, &entry.bundles),
                (Kind::Marker, &entry.markers),
            ];
            for (kind, values) in lists {
                for value in values {
                    if let Err((problem, fix)) =
                        next.add_value(index, kind, value.get_ref(), &generic)
                    {
                        diags.push(Diagnostic::at(text, Some(value.span()), problem, fix));
                    }
                }
            }
            let tool = &mut next.tools[index];
            for d in entry.domains {
                push_unique(&mut tool.domains, d.trim().to_lowercase());
            }
            for s in entry.sources {
                push_unique(&mut tool.sources, s);
            }
        }
        if diags.is_empty() {
            *self = next;
            Ok(())
        } else {
            Err(fail(diags))
        }
    }

    /// Validates one matcher value and indexes it for tool `index`.
    fn add_value(
        &mut self,
        index: usize,
        kind: Kind,
        raw: &str,
        generic: &[String],
    ) -> Result<(), (String, String)> {
        let shown = raw.trim();
        let value = match kind {
            Kind::Executable | Kind::Original => normalise(raw),
            Kind::Path => normalise_path(raw),
            Kind::Marker => raw.trim().to_lowercase(),
            _ => raw.trim().to_lowercase(),
        };
        if value.trim().is_empty() || value == "*" {
            return Err((
                format!("{} \"{shown}\" is empty", kind.what()),
                "remove it or write a specific value".into(),
            ));
        }
        if matches!(kind, Kind::Executable | Kind::Original | Kind::Bundle)
            && value.contains(['/', '\\'])
        {
            return Err((
                format!("\"{shown}\" is not an executable file name"),
                "write the file name only, without folders".into(),
            ));
        }
        if matches!(
            kind,
            Kind::Executable | Kind::Original | Kind::Product | Kind::Company | Kind::Signer
        ) && generic.contains(&normalise(&value))
        {
            return Err((
                format!(
                    "{} \"{shown}\" is too generic to identify a tool",
                    kind.what()
                ),
                "see config/catalog/not-by-name.toml; use a name only this tool has".into(),
            ));
        }
        if kind == Kind::Marker {
            match decode_hex(&value) {
                Some(bytes) if bytes.len() >= 8 => {
                    if !self.by_marker.contains_key(&value) {
                        self.marker_bytes.push((bytes, value.clone()));
                    }
                }
                Some(_) => {
                    return Err((
                        format!("marker \"{shown}\" is shorter than 8 bytes"),
                        "use a longer string only this tool's binaries contain".into(),
                    ));
                }
                None => {
                    return Err((
                        format!("marker \"{shown}\" is not hexadecimal"),
                        "write the bytes as hex (e.g. python3 -c \"print(b'text'.hex())\")".into(),
                    ));
                }
            }
        }
        let map = match kind {
            Kind::Executable if value.contains('*') => {
                let prefix = value.split('*').next().unwrap_or("");
                if prefix.chars().count() < MIN_PATTERN_PREFIX {
                    return Err((
                        format!(
                            "name pattern \"{shown}\" starts with fewer than {MIN_PATTERN_PREFIX} letters"
                        ),
                        "a short pattern would stop everyday programs; make the start longer"
                            .into(),
                    ));
                }
                let list = self.patterns.entry(pattern_key(&value)).or_default();
                if !list.iter().any(|(p, i)| *p == value && *i == index) {
                    list.push((value.clone(), index));
                    self.tools[index].name_patterns.push(value);
                }
                return Ok(());
            }
            Kind::Path => {
                if let Some(folder) = specific_folder(&value) {
                    let list = self.paths_by_folder.entry(folder).or_default();
                    if !list.iter().any(|g| g.pattern == value && g.tool == index) {
                        list.push(PathGlob::new(&value, index));
                    }
                } else if !has_specific_part(&value) {
                    return Err((
                        format!("path \"{shown}\" names no folder specific to the tool"),
                        "a path must include the tool's own folder, e.g. C:\\Program Files\\AnyDesk\\*".into(),
                    ));
                } else if !self
                    .paths_other
                    .iter()
                    .any(|g| g.pattern == value && g.tool == index)
                {
                    self.paths_other.push(PathGlob::new(&value, index));
                }
                push_unique(&mut self.tools[index].paths, value);
                return Ok(());
            }
            Kind::Executable => &mut self.by_executable,
            Kind::Original => &mut self.by_original,
            Kind::Product => &mut self.by_product,
            Kind::Company => &mut self.by_company,
            Kind::Signer => &mut self.by_signer,
            Kind::Bundle => &mut self.by_bundle,
            Kind::Marker => &mut self.by_marker,
        };
        match map.get(&value) {
            Some(&other) if other != index => Err((
                format!(
                    "{} \"{shown}\" already belongs to tool \"{}\"",
                    kind.what(),
                    self.tools[other].id
                ),
                format!("an {} may name one tool only", kind.what()),
            )),
            Some(_) => Ok(()),
            None => {
                map.insert(value.clone(), index);
                let tool = &mut self.tools[index];
                match kind {
                    Kind::Executable => tool.executables.push(value),
                    Kind::Original => tool.original_filenames.push(value),
                    Kind::Product => tool.products.push(value),
                    Kind::Company => tool.companies.push(value),
                    Kind::Signer => tool.signers.push(value),
                    Kind::Bundle => tool.bundles.push(value),
                    Kind::Marker => tool.markers.push(value),
                    Kind::Path => {} // indexed above, never reaches here
                }
                Ok(())
            }
        }
    }

    /// Recognises a process as a remote-access tool from its names and
    /// path alone, or `None` when they say nothing.
    pub fn identify(&self, facts: &ProcessFacts) -> Option<Identification<'_>> {
        self.identify_with(facts, &Evidence::default())
    }

    /// Recognises a process from its names and path, then from what its
    /// file contains (`evidence`, gathered at the edge).
    pub fn identify_with(
        &self,
        facts: &ProcessFacts,
        evidence: &Evidence,
    ) -> Option<Identification<'_>> {
        let found = |i: usize, by: MatchedBy, what: &str| Identification {
            tool: &self.tools[i],
            matched_by: by,
            matched: what.to_string(),
        };
        for name in facts.candidate_names() {
            if let Some(i) = self.name_index(name) {
                return Some(found(i, MatchedBy::Name, name));
            }
        }
        if let Some(exe) = facts.exe.as_deref().and_then(|e| e.to_str()) {
            if let Some((i, what)) = self.container_index(exe) {
                return Some(found(i, MatchedBy::Name, &what));
            }
            if let Some(i) = self.path_index(exe) {
                return Some(found(i, MatchedBy::Path, exe));
            }
        }
        self.evidence_index(evidence)
            .map(|(i, by, what)| found(i, by, &what))
    }

    /// The tool an executable file name belongs to (case-insensitive, with
    /// or without `.exe`, a browser's " (1)" copy suffix ignored).
    pub fn lookup_name(&self, name: &str) -> Option<&Tool> {
        self.name_index(name).map(|i| &self.tools[i])
    }

    fn name_index(&self, name: &str) -> Option<usize> {
        let file = crate::facts::file_name_of(name);
        let name = normalise(file);
        if name.is_empty()
            || (self.exe_only.contains(&name) && !file.to_lowercase().trim_end().ends_with(".exe"))
        {
            return None;
        }
        if let Some(&i) = self.by_executable.get(&name) {
            return Some(i);
        }
        self.patterns
            .get(&pattern_key(&name))?
            .iter()
            .find(|(p, _)| glob(p, &name))
            .map(|&(_, i)| i)
    }

    /// A macOS bundle (`…/AnyDesk.app/Contents/MacOS/x`) or an AppImage
    /// (`RustDesk-1.2.3-x86_64.AppImage`) named after a tool.
    fn container_index(&self, exe: &str) -> Option<(usize, String)> {
        let lower = exe.replace('\\', "/").to_lowercase();
        if let Some(pos) = lower.find(".app/contents/macos/") {
            let bundle = crate::facts::file_name_of(&lower[..pos + 4]).to_string();
            if let Some(&i) = self.by_bundle.get(&bundle) {
                return Some((i, bundle));
            }
            let stem = bundle.trim_end_matches(".app");
            if let Some(i) = self.name_index(stem) {
                return Some((i, bundle));
            }
        }
        let file = crate::facts::file_name_of(&lower);
        if let Some(stem) = file.strip_suffix(".appimage") {
            let base = stem.split(['-', '_', '.', ' ']).next().unwrap_or(stem);
            if let Some(i) = self.name_index(base) {
                return Some((i, file.to_string()));
            }
        }
        None
    }

    /// The tool whose install path contains `exe`.
    fn path_index(&self, exe: &str) -> Option<usize> {
        let path = normalise_path(exe);
        for folder in path.split('/') {
            if let Some(list) = self.paths_by_folder.get(folder)
                && let Some(g) = list.iter().find(|g| g.matches(&path))
            {
                return Some(g.tool);
            }
        }
        self.paths_other
            .iter()
            .find(|g| g.matches(&path))
            .map(|g| g.tool)
    }

    fn evidence_index(&self, e: &Evidence) -> Option<(usize, MatchedBy, String)> {
        if let Some(v) = &e.original_filename
            && let Some(&i) = self.by_original.get(&normalise(v))
        {
            return Some((i, MatchedBy::PeOriginalFilename, v.clone()));
        }
        for v in [&e.product, &e.description].into_iter().flatten() {
            if let Some(&i) = self.by_product.get(&v.trim().to_lowercase()) {
                return Some((i, MatchedBy::Product, v.clone()));
            }
        }
        for v in &e.signers {
            if let Some(&i) = self.by_signer.get(&v.trim().to_lowercase()) {
                return Some((i, MatchedBy::Signer, v.clone()));
            }
        }
        if let Some(v) = &e.company
            && let Some(&i) = self.by_company.get(&v.trim().to_lowercase())
        {
            return Some((i, MatchedBy::Company, v.clone()));
        }
        e.markers.iter().find_map(|m| {
            self.by_marker
                .get(m)
                .map(|&i| (i, MatchedBy::Content, m.clone()))
        })
    }

    /// Every content marker in the catalog as `(bytes, hex)`, for the
    /// content scanner; the hex form is what [`Evidence::markers`] holds.
    pub fn markers(&self) -> impl Iterator<Item = (&[u8], &str)> {
        self.marker_bytes
            .iter()
            .map(|(b, h)| (b.as_slice(), h.as_str()))
    }

    /// The tool with this id.
    pub fn get(&self, id: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.id == id)
    }

    /// Every tool, in catalog order.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// Install path globs of every tool (lowercase, `/` separators), for
    /// `varco scan`.
    pub fn install_paths(&self) -> impl Iterator<Item = (&Tool, &str)> {
        self.tools
            .iter()
            .flat_map(|t| t.paths.iter().map(move |p| (t, p.as_str())))
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

fn push_unique(list: &mut Vec<String>, value: String) {
    if !list.contains(&value) {
        list.push(value);
    }
}

/// Lowercase, without a trailing `.exe` and without the " (1)" a browser
/// adds to a second download, so `AnyDesk.EXE`, `anydesk.exe`,
/// `AnyDesk (1).exe` and `anydesk` compare equal.
pub fn normalise(name: &str) -> String {
    let lower = name.trim().to_lowercase();
    let stem = lower.strip_suffix(".exe").unwrap_or(&lower).trim_end();
    strip_copy_suffix(stem).to_string()
}

fn strip_copy_suffix(stem: &str) -> &str {
    if let Some(open) = stem.rfind('(')
        && stem.ends_with(')')
        && open + 2 < stem.len()
        && stem[open + 1..stem.len() - 1]
            .chars()
            .all(|c| c.is_ascii_digit())
    {
        return stem[..open].trim_end();
    }
    stem
}

/// Lowercase with `/` separators; a path written as a folder (trailing
/// separator or no file extension) gains `/*`; a leading `%VAR%` or drive
/// letter is kept as written.
fn normalise_path(path: &str) -> String {
    let mut p = path.trim().replace('\\', "/").to_lowercase();
    while p.contains("//") {
        p = p.replace("//", "/");
    }
    p
}

/// Folder names that say nothing about a tool: a path glob needs at least
/// one component that is not one of these.
const GENERIC_FOLDERS: &[&str] = &[
    "",
    "*",
    "c:",
    "%programfiles%",
    "%programfiles(x86)%",
    "%programdata%",
    "%appdata%",
    "%localappdata%",
    "%temp%",
    "%userprofile%",
    "%windir%",
    "%systemroot%",
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
    "tmp",
    "opt",
    "usr",
    "bin",
    "sbin",
    "lib",
    "etc",
    "var",
    "local",
    "share",
    "applications",
    "library",
    "application support",
    "home",
    "downloads",
    "desktop",
    "documents",
    "contents",
    "macos",
    "resources",
    "common files",
];

fn is_generic_folder(c: &str) -> bool {
    GENERIC_FOLDERS.contains(&c) || c.chars().filter(|ch| *ch != '*').count() < 2
}

/// The first component of a path glob that is literal and specific, used
/// to index it: a path it matches has that component too.
fn specific_folder(pattern: &str) -> Option<String> {
    pattern
        .split('/')
        .find(|c| !c.contains('*') && !is_generic_folder(c))
        .map(str::to_string)
}

fn has_specific_part(pattern: &str) -> bool {
    pattern.split('/').any(|c| !is_generic_folder(c))
}

/// Glob with `*` matching any run of characters, `/` included.
fn glob(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// The index key of a name pattern or name: its first
/// `MIN_PATTERN_PREFIX` characters.
fn pattern_key(name: &str) -> String {
    name.chars().take(MIN_PATTERN_PREFIX).collect()
}

fn is_slug(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.starts_with('-')
}

#[cfg(test)]
mod tests;
