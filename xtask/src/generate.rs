//! LOLRMM YAML → `config/catalog/lolrmm.toml`.
//!
//! Facts only (names, paths, PE strings, signers, domains); no prose is
//! carried over. Rules, each applied the same way on every run:
//! - a tool's id is the curated id when the file is the same product
//!   (`ALIASES`), else a slug of its `Name`; files with the same id merge;
//! - `PEMetadata` may be one mapping or a list; `SupportedOS` names vary in
//!   case; `.yml` files count too; a bare `*` or a name with `<…>`/`[…]`
//!   placeholders is not a name;
//! - names, original file names and products in `not-by-name.toml` are
//!   dropped, as are patterns whose literal start is under 4 characters;
//! - a value another tool already claims (curated first, then LOLRMM files
//!   in file-name order) is dropped and listed in the file header;
//! - a signer is kept only when it names the tool (shares a word of 4+
//!   letters with the tool's name): LOLRMM lists bundled components'
//!   signers too (WinRAR's, PuTTY's), which would stop everyday programs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use yaml_rust2::{Yaml, YamlLoader};

/// LOLRMM file stems that are the same product as a curated id.
const ALIASES: &[(&str, &str)] = &[
    ("aeroadmin", "aeroadmin"),
    ("ammyyadmin", "ammyy"),
    ("anydesk", "anydesk"),
    ("beyondtrust", "beyondtrust-bomgar"),
    ("chrome_remote_desktop", "chrome-remote-desktop"),
    ("connectwise_control", "screenconnect"),
    (
        "dev_tunnels_(aka_visual_studio_dev_tunnel)",
        "visual-studio-dev-tunnel",
    ),
    ("dw_service", "dwservice"),
    ("getscreen", "getscreen"),
    ("gotoassist", "gotoassist"),
    ("gotoassist_(goto_resolve)", "gotoassist"),
    ("gotoassist_agent_desktop_console", "gotoassist"),
    ("hoptodesk", "hoptodesk"),
    ("iperius_remote", "iperius"),
    ("isl_light", "islonline"),
    ("isl_online", "islonline"),
    ("islonline", "islonline"),
    ("logmein", "logmein"),
    ("logmein_rescue", "logmein"),
    ("meshcentral", "meshcentral"),
    ("microsoft_quick_assist", "quickassist"),
    ("netsupport_manager", "netsupport"),
    ("nomachine", "nomachine"),
    ("parsec", "parsec"),
    ("quickassist", "quickassist"),
    ("radmin", "radmin"),
    ("realvnc", "realvnc"),
    ("remote_utilities", "remoteutilities"),
    ("remoteutilities", "remoteutilities"),
    ("rustdesk", "rustdesk"),
    ("screenconnect", "screenconnect"),
    ("splashtop", "splashtop"),
    ("splashtop_remote", "splashtop"),
    ("splashtopbeta", "splashtop"),
    ("sunlogin", "sunlogin"),
    ("supremo", "supremo"),
    ("taniumdeploy", "tanium"),
    ("teamviewer", "teamviewer"),
    ("tigervnc", "tigervnc"),
    ("tightvnc", "tightvnc"),
    ("todesk", "todesk"),
    ("ultra_vnc", "ultravnc"),
    ("ultraviewer", "ultraviewer"),
    ("ultravnc", "ultravnc"),
    ("vnc_connect", "realvnc"),
    ("visual_studio_dev_tunnel", "visual-studio-dev-tunnel"),
    ("xrdp", "xrdp"),
    ("zohoassist", "zohoassist"),
];

/// Shortest literal start of a name pattern (`rustdesk*` yes, `g2a*` no).
const MIN_PATTERN_PREFIX: usize = 4;

/// One LOLRMM file, read.
pub struct SourceFile {
    /// File name, e.g. `anydesk.yaml`.
    pub file: String,
    /// Its text.
    pub text: String,
}

/// Reads every `.yaml`/`.yml` file under `dir/yaml`, sorted by name.
pub fn read_snapshot(dir: &Path) -> Result<Vec<SourceFile>, String> {
    let yaml_dir = dir.join("yaml");
    let entries = std::fs::read_dir(&yaml_dir)
        .map_err(|e| format!("{}: cannot be read: {e}", yaml_dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if name.ends_with(".yaml") || name.ends_with(".yml") {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("{}: cannot be read: {e}", path.display()))?;
            files.push(SourceFile { file: name, text });
        }
    }
    files.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(files)
}

/// What was generated.
pub struct Output {
    /// The TOML text.
    pub text: String,
    /// Tools written.
    pub tools: usize,
    /// Files read.
    pub files: usize,
    /// Tools left out, with why.
    pub skipped: Vec<String>,
    /// Values claimed by two tools, with who kept them.
    pub ambiguous: Vec<String>,
    /// Generic values dropped.
    pub generic: Vec<String>,
}

#[derive(Default)]
struct Draft {
    name: String,
    executables: BTreeSet<String>,
    original_filenames: BTreeSet<String>,
    products: BTreeSet<String>,
    companies: BTreeSet<String>,
    signers: BTreeSet<String>,
    paths: BTreeSet<String>,
    bundles: BTreeSet<String>,
    domains: BTreeSet<String>,
    platforms: BTreeSet<String>,
    sources: BTreeSet<String>,
}

#[derive(Deserialize)]
struct CuratedFile {
    #[serde(default)]
    tool: Vec<CuratedTool>,
}

#[derive(Deserialize)]
struct CuratedTool {
    id: String,
    #[serde(default)]
    executables: Vec<String>,
    #[serde(default)]
    original_filenames: Vec<String>,
    #[serde(default)]
    products: Vec<String>,
    #[serde(default)]
    companies: Vec<String>,
    #[serde(default)]
    signers: Vec<String>,
    #[serde(default)]
    bundles: Vec<String>,
}

#[derive(Deserialize)]
struct DenyFile {
    #[serde(default)]
    name: Vec<DenyName>,
    #[serde(default)]
    exclude: Vec<Exclude>,
}

#[derive(Deserialize)]
struct Exclude {
    file: String,
    why: String,
}

#[derive(Deserialize)]
struct DenyName {
    value: String,
    /// Everyday only without `.exe` (a Unix program): the catalog keeps
    /// the Windows name and matches it only with `.exe`.
    #[serde(default)]
    only_without_exe: bool,
}

/// Generates the catalog text from the snapshot files, the curated
/// catalog (its claims win) and the deny list.
pub fn generate(files: &[SourceFile], curated: &str, deny: &str) -> Result<Output, String> {
    let curated: CuratedFile = toml::from_str(curated).map_err(|e| format!("curated.toml: {e}"))?;
    let deny: DenyFile = toml::from_str(deny).map_err(|e| format!("not-by-name.toml: {e}"))?;
    let excluded = deny.exclude;
    let deny: BTreeSet<String> = deny
        .name
        .iter()
        .filter(|n| !n.only_without_exe)
        .map(|n| normalise(&n.value))
        .collect();

    // (kind, value) -> id that owns it.
    let mut claims: BTreeMap<(&'static str, String), String> = BTreeMap::new();
    for t in &curated.tool {
        for (kind, values) in [
            ("executable", &t.executables),
            ("original", &t.original_filenames),
            ("product", &t.products),
            ("company", &t.companies),
            ("signer", &t.signers),
            ("bundle", &t.bundles),
        ] {
            for v in values {
                claims
                    .entry((kind, key(kind, v)))
                    .or_insert_with(|| t.id.clone());
            }
        }
    }

    let mut drafts: BTreeMap<String, Draft> = BTreeMap::new();
    let mut skipped = Vec::new();
    let mut ambiguous = Vec::new();
    let mut generic = BTreeSet::new();
    // id -> the ids that kept the values it claimed too.
    let mut covered_by: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        if let Some(x) = excluded.iter().find(|x| x.file == f.file) {
            skipped.push(format!(
                "{}: excluded by not-by-name.toml — {}",
                f.file, x.why
            ));
            continue;
        }
        let docs = YamlLoader::load_from_str(&f.text).map_err(|e| format!("{}: {e}", f.file))?;
        let Some(doc) = docs.first() else {
            skipped.push(format!("{}: empty file", f.file));
            continue;
        };
        let name = text(&doc["Name"]).unwrap_or_default();
        if name.is_empty() {
            skipped.push(format!("{}: no Name", f.file));
            continue;
        }
        let stem = f
            .file
            .trim_end_matches(".yaml")
            .trim_end_matches(".yml")
            .to_string();
        let id = ALIASES
            .iter()
            .find(|(s, _)| *s == stem)
            .map(|(_, id)| id.to_string())
            .unwrap_or_else(|| slug(&name));
        let mut d = Draft::default();
        d.sources.insert(format!("lolrmm:{}", f.file));
        let details = &doc["Details"];
        for os in items(&details["SupportedOS"]) {
            if let Some(os) = text(os) {
                d.platforms.insert(platform(&os));
            }
        }
        for meta in items(&details["PEMetadata"]) {
            if let Some(v) = text(&meta["Filename"]) {
                add_name(&mut d.executables, &v, &deny, &mut generic);
            }
            if let Some(v) = text(&meta["OriginalFileName"])
                && is_executable_name(&v)
            {
                add_name(&mut d.original_filenames, &v, &deny, &mut generic);
                add_name(&mut d.executables, &v, &deny, &mut generic);
            }
            if let Some(v) = text(&meta["Product"]) {
                add_product(&mut d.products, &v, &deny, &mut generic);
            }
            if let Some(v) = text(&meta["Description"])
                && is_product_like(&v, &name)
            {
                add_product(&mut d.products, &v, &deny, &mut generic);
            }
        }
        for p in items(&details["InstallationPaths"]) {
            if let Some(p) = text(p) {
                add_path(&mut d, &p, &deny, &mut generic);
            }
        }
        for net in items(&doc["Artifacts"]["Network"]) {
            for dom in items(&net["Domains"]) {
                if let Some(dom) = text(dom).map(|s| s.to_lowercase())
                    && is_domain(&dom)
                {
                    d.domains.insert(dom);
                }
            }
        }
        let signing = &doc["CodeSigning"];
        let mut signer_names: Vec<String> = items(&signing["certificates"])
            .filter_map(|c| text(&c["signer_name"]))
            .collect();
        signer_names.extend(items(&signing["signer_names"]).filter_map(text));
        for s in signer_names {
            if deny.contains(&normalise(&s)) {
                generic.insert(s.trim().to_lowercase());
            } else if names_tool(&s, &name, &stem) {
                d.signers.insert(s.trim().to_string());
                d.companies.insert(s.trim().to_string());
            }
        }
        // Resolve claims in file order.
        for (kind, set) in [
            ("executable", &mut d.executables),
            ("original", &mut d.original_filenames),
            ("product", &mut d.products),
            ("company", &mut d.companies),
            ("signer", &mut d.signers),
            ("bundle", &mut d.bundles),
        ] {
            let mut kept = BTreeSet::new();
            for v in std::mem::take(set) {
                match claims.get(&(kind, key(kind, &v))) {
                    Some(owner) if *owner != id => {
                        covered_by
                            .entry(id.clone())
                            .or_default()
                            .insert(owner.clone());
                        ambiguous.push(format!(
                            "{kind} \"{v}\": kept for \"{owner}\", dropped from \"{id}\" ({})",
                            f.file
                        ))
                    }
                    _ => {
                        claims.insert((kind, key(kind, &v)), id.clone());
                        kept.insert(v);
                    }
                }
            }
            *set = kept;
        }
        let entry = drafts.entry(id).or_default();
        if entry.name.is_empty() {
            entry.name = name;
        }
        entry.executables.extend(d.executables);
        entry.original_filenames.extend(d.original_filenames);
        entry.products.extend(d.products);
        entry.companies.extend(d.companies);
        entry.signers.extend(d.signers);
        entry.paths.extend(d.paths);
        entry.bundles.extend(d.bundles);
        entry.domains.extend(d.domains);
        entry.platforms.extend(d.platforms);
        entry.sources.extend(d.sources);
    }

    let curated_ids: BTreeSet<&str> = curated.tool.iter().map(|t| t.id.as_str()).collect();
    let mut body = String::new();
    let mut written = 0;
    for (id, d) in &drafts {
        let matchers = d.executables.len()
            + d.original_filenames.len()
            + d.products.len()
            + d.companies.len()
            + d.signers.len()
            + d.paths.len()
            + d.bundles.len();
        if matchers == 0 && !curated_ids.contains(id.as_str()) {
            let why = match covered_by.get(id) {
                Some(owners) => format!(
                    "same product as {}: its names are there",
                    owners.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
                None if d.domains.is_empty() => "no name, path or PE string in LOLRMM".into(),
                None => "no name, path or PE string in LOLRMM (domains only)".into(),
            };
            skipped.push(format!(
                "{id} ({}): {why}",
                d.sources.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
            continue;
        }
        written += 1;
        body.push_str("\n[[tool]]\n");
        body.push_str(&format!("id = {}\n", quote(id)));
        body.push_str(&format!("name = {}\n", quote(&d.name)));
        for (field, set) in [
            ("executables", &d.executables),
            ("original_filenames", &d.original_filenames),
            ("products", &d.products),
            ("companies", &d.companies),
            ("signers", &d.signers),
            ("paths", &d.paths),
            ("bundles", &d.bundles),
            ("domains", &d.domains),
            ("sources", &d.sources),
        ] {
            if !set.is_empty() {
                let list: Vec<String> = set.iter().map(|v| quote(v)).collect();
                body.push_str(&format!("{field} = [{}]\n", list.join(", ")));
            }
        }
        if !d.platforms.is_empty() {
            let list: Vec<&str> = d.platforms.iter().map(String::as_str).collect();
            body.push_str(&format!("# platforms: {}\n", list.join(", ")));
        }
    }

    let mut text = String::new();
    text.push_str(
        "# GENERATED by `cargo run -p xtask -- catalog PATH/TO/lolrmm` — do not edit by hand;\n\
         # put corrections in curated.toml or not-by-name.toml and regenerate.\n\
         #\n\
         # Facts (tool names, executable names, PE strings, install paths, signers,\n\
         # domains) from the LOLRMM project, https://lolrmm.io, Apache License 2.0.\n\
         # See config/catalog/ATTRIBUTION.md.\n",
    );
    text.push_str(&format!(
        "#\n# {written} tools from {} files.\n",
        files.len()
    ));
    if !skipped.is_empty() {
        text.push_str("#\n# Left out (nothing to recognise on a workstation):\n");
        for s in &skipped {
            text.push_str(&format!("#   {s}\n"));
        }
    }
    if !ambiguous.is_empty() {
        text.push_str(
            "#\n# Claimed by two tools (the first claim wins: curated, then file order):\n",
        );
        for a in &ambiguous {
            text.push_str(&format!("#   {a}\n"));
        }
    }
    if !generic.is_empty() {
        text.push_str("#\n# Dropped as too generic (not-by-name.toml, short patterns):\n#   ");
        text.push_str(&generic.iter().cloned().collect::<Vec<_>>().join(", "));
        text.push('\n');
    }
    text.push_str(&body);
    Ok(Output {
        text,
        tools: written,
        files: files.len(),
        skipped,
        ambiguous,
        generic: generic.into_iter().collect(),
    })
}

/// The elements of a list, or the value itself when the data holds a
/// single mapping (or string) where a list is expected.
fn items(y: &Yaml) -> Box<dyn Iterator<Item = &Yaml> + '_> {
    match y {
        Yaml::Array(a) => Box::new(a.iter()),
        Yaml::BadValue | Yaml::Null => Box::new(std::iter::empty()),
        other => Box::new(std::iter::once(other)),
    }
}

/// A scalar as trimmed text; empty strings are none.
fn text(y: &Yaml) -> Option<String> {
    let s = match y {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        _ => return None,
    };
    let s = s.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn platform(os: &str) -> String {
    match os.trim().to_lowercase().as_str() {
        "mac" | "macos" | "osx" | "os x" => "macos".into(),
        other => other.into(),
    }
}

fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// Compares like the catalog does: lowercase, no `.exe`.
fn normalise(name: &str) -> String {
    let lower = name.trim().to_lowercase();
    lower.strip_suffix(".exe").unwrap_or(&lower).to_string()
}

fn key(kind: &str, v: &str) -> String {
    match kind {
        "executable" | "original" => normalise(v),
        _ => v.trim().to_lowercase(),
    }
}

/// `.exe` or no extension at all (Linux/macOS binaries); not `.dll`, `.msi`…
fn is_executable_name(v: &str) -> bool {
    let lower = v.to_lowercase();
    if lower.ends_with(".exe") {
        return true;
    }
    match lower.rsplit_once('.') {
        None => true,
        // "Freshservice.DiscoveryProbe.X" style names end in a word, not an
        // extension of 2-4 letters.
        Some((_, ext)) => ext.len() > 4,
    }
}

fn add_name(
    set: &mut BTreeSet<String>,
    raw: &str,
    deny: &BTreeSet<String>,
    dropped: &mut BTreeSet<String>,
) {
    let v = raw.trim();
    if v.is_empty()
        || v == "*"
        || v.contains(['<', '>', '[', ']', '\\', '/', '%'])
        || !is_executable_name(v)
    {
        return;
    }
    let n = normalise(v);
    if deny.contains(&n) {
        dropped.insert(v.to_lowercase());
        return;
    }
    if let Some(prefix) = n.split('*').next()
        && n.contains('*')
        && prefix.chars().count() < MIN_PATTERN_PREFIX
    {
        dropped.insert(v.to_lowercase());
        return;
    }
    set.insert(v.to_string());
}

fn add_product(
    set: &mut BTreeSet<String>,
    raw: &str,
    deny: &BTreeSet<String>,
    dropped: &mut BTreeSet<String>,
) {
    let v = raw.trim();
    if v.len() < 4 {
        return;
    }
    if deny.contains(&normalise(v)) {
        dropped.insert(v.to_lowercase());
        return;
    }
    set.insert(v.to_string());
}

/// A LOLRMM `Description` is often prose; only a short product-like string
/// naming the tool is a PE FileDescription worth matching.
fn is_product_like(v: &str, tool_name: &str) -> bool {
    v.len() <= 32
        && !v.contains(['(', ')', ',', ';', ':', '.'])
        && v.split_whitespace().count() <= 3
        && shares_word(v, tool_name)
}

/// True when `a` and `b` share a word of 4 letters or more.
fn shares_word(a: &str, b: &str) -> bool {
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

fn names_tool(signer: &str, name: &str, stem: &str) -> bool {
    shares_word(signer, name) || shares_word(signer, &stem.replace('_', " "))
}

fn is_domain(d: &str) -> bool {
    d.contains('.')
        && d.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*' | ':' | '_'))
}

/// Sorts an install path into a name, a bundle or a folder glob.
fn add_path(d: &mut Draft, raw: &str, deny: &BTreeSet<String>, dropped: &mut BTreeSet<String>) {
    let p = raw.trim().trim_matches(['"', '\'']);
    if p.is_empty() || p == "*" || p.contains(['<', '>', '[', ']', '\'']) {
        return;
    }
    let last = p.rsplit(['\\', '/']).next().unwrap_or(p);
    let has_folder = p.contains(['\\', '/']);
    let lower_last = last.to_lowercase();
    if lower_last.ends_with(".app") {
        d.bundles.insert(last.to_string());
        return;
    }
    if lower_last.ends_with(".exe") {
        if deny.contains(&normalise(last)) {
            // A generic program at a fixed place (mstsc.exe in System32) is
            // still that everyday program.
            dropped.insert(lower_last);
            return;
        }
        add_name(&mut d.executables, last, deny, dropped);
        if !has_folder || last.starts_with('*') {
            return;
        }
    } else if !has_folder {
        // A bare file that is not a program (.dll, .msi, .pkg, .lnk) or not a
        // path at all ("can't find this one").
        return;
    }
    // Folders and programs at a known place. `%VAR%\…` is anywhere.
    let mut glob = p.replace('\\', "/");
    if glob.starts_with('%')
        && let Some(end) = glob[1..].find('%')
    {
        glob = format!("*{}", &glob[end + 2..]);
    }
    if glob.ends_with('/') {
        glob.push('*');
    }
    let specific = glob
        .split('/')
        .any(|c| !GENERIC.contains(&c.to_lowercase().as_str()) && c.replace('*', "").len() >= 3);
    let ext = lower_last.rsplit_once('.').map(|(_, e)| e.to_string());
    let non_program = matches!(
        ext.as_deref(),
        Some("dll" | "msi" | "mst" | "pkg" | "lnk" | "service" | "conf" | "txt" | "log" | "sys")
    );
    if specific && !non_program {
        d.paths.insert(glob);
    }
}

const GENERIC: &[&str] = &[
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

fn quote(s: &str) -> String {
    // TOML basic string: escape backslash, quote and control characters.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> SourceFile {
        SourceFile {
            file: name.into(),
            text: text.into(),
        }
    }

    const CURATED: &str =
        "[[tool]]\nid = \"anydesk\"\nname = \"AnyDesk\"\nexecutables = [\"anydesk\"]\n";
    const DENY: &str = "[[name]]\nvalue = \"setup.exe\"\nwhy = \"x\"\n";

    #[test]
    fn single_mapping_and_list_both_read() {
        let one = "Name: Foo Remote\nDetails:\n  PEMetadata:\n    Filename: foorem.exe\n    OriginalFileName: FooRem.exe\n";
        let many = "Name: Bar Desk\nDetails:\n  PEMetadata:\n    - Filename: bardesk.exe\n    - Filename: bardesk_svc.exe\n  SupportedOS: [Windows, MacOS, mac]\n";
        let out = generate(&[file("a.yaml", one), file("b.yml", many)], CURATED, DENY).unwrap();
        assert!(
            out.text.contains("original_filenames = [\"FooRem.exe\"]"),
            "{}",
            out.text
        );
        assert!(
            out.text.contains("\"bardesk.exe\", \"bardesk_svc.exe\""),
            "{}",
            out.text
        );
        assert!(
            out.text.contains("# platforms: macos, windows"),
            "{}",
            out.text
        );
    }

    #[test]
    fn aliases_merge_into_curated_ids_and_claims_first_wins() {
        let a = "Name: AnyDesk\nDetails:\n  PEMetadata:\n    - Filename: AnyDesk.exe\n  InstallationPaths:\n    - C:\\Program Files\\AnyDesk\\*\n    - /Applications/AnyDesk.app\n";
        let b = "Name: Clone Tool\nDetails:\n  InstallationPaths:\n    - '*\\anydesk.exe'\n    - '*\\clonetool.exe'\n    - '*'\n    - setup.exe\n";
        let out = generate(
            &[file("anydesk.yaml", a), file("clone.yaml", b)],
            CURATED,
            DENY,
        )
        .unwrap();
        assert!(out.text.contains("id = \"anydesk\""));
        assert!(
            out.text.contains("bundles = [\"AnyDesk.app\"]"),
            "{}",
            out.text
        );
        assert!(
            out.text
                .contains("paths = [\"C:/Program Files/AnyDesk/*\"]"),
            "{}",
            out.text
        );
        assert_eq!(out.ambiguous.len(), 1, "{:?}", out.ambiguous);
        assert!(out.ambiguous[0].contains("kept for \"anydesk\", dropped from \"clone-tool\""));
        assert!(
            out.text.contains("executables = [\"clonetool.exe\"]"),
            "{}",
            out.text
        );
        assert!(out.generic.contains(&"setup.exe".to_string()));
    }

    #[test]
    fn output_is_deterministic_whatever_the_input_order() {
        let a = file(
            "z.yaml",
            "Name: Zed\nDetails:\n  PEMetadata:\n    Filename: zedrem.exe\n",
        );
        let b = file(
            "a.yaml",
            "Name: Ay\nDetails:\n  PEMetadata:\n    Filename: ayrem.exe\n",
        );
        let one = generate(
            &[file("a.yaml", &b.text), file("z.yaml", &a.text)],
            CURATED,
            DENY,
        )
        .unwrap();
        let again = generate(
            &[file("a.yaml", &b.text), file("z.yaml", &a.text)],
            CURATED,
            DENY,
        )
        .unwrap();
        assert_eq!(one.text, again.text);
    }

    #[test]
    fn signers_kept_only_when_they_name_the_tool() {
        let y = "Name: Level\nCodeSigning:\n  certificates:\n    - signer_name: Level Software, Inc.\n    - signer_name: win.rar GmbH\nDetails:\n  PEMetadata:\n    Filename: levelrem.exe\n";
        let out = generate(&[file("level.yaml", y)], CURATED, DENY).unwrap();
        assert!(
            out.text.contains("signers = [\"Level Software, Inc.\"]"),
            "{}",
            out.text
        );
        assert!(!out.text.contains("win.rar"));
    }
}
