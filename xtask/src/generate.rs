//! Source snapshots → `config/catalog/generated.toml`.
//!
//! The rules, applied the same way on every run, in merge order (curated
//! first, then LOLRMM, Splunk, Sigma, Surveyor; entries in reference
//! order):
//! - an entry's tool id is the one `aliases.toml` gives it; else the curated
//!   or already generated id its name slugs to; else the id of the tool that
//!   already claims at least half of its names and PE strings (the same
//!   product listed by another source); else a new slug of its name;
//! - entries listed under `[[exclude]]` in `not-by-name.toml` are left out;
//! - names, original file names, PE strings and signers in
//!   `not-by-name.toml` are dropped, as are name patterns whose literal start
//!   is under 4 characters and install paths ending in a dropped name;
//! - a value another tool already claims is dropped and listed in the
//!   file header (the first claim wins);
//! - a LOLRMM signer counts only when it names the tool (LOLRMM lists
//!   bundled components' signers too: WinRAR's, PuTTY's); a signer is also
//!   taken as the PE `CompanyName`.
//!
//! Every value keeps the sources that asserted it: each tool lists the
//! upstream entries it was built from (`sources`) and, in a comment, which
//! source gave which value.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::facts::shares_word;
use crate::facts::{CatalogFile, Entry, Snapshot, list, quote};
use crate::import::Source;

/// Shortest literal start of a name pattern (`rustdesk*` yes, `g2a*` no).
const MIN_PATTERN_PREFIX: usize = 4;

/// The files the generator reads besides the snapshots.
pub struct Inputs<'a> {
    /// `curated.toml`: its ids and claims come first.
    pub curated: &'a str,
    /// `not-by-name.toml`: generic names and excluded entries.
    pub deny: &'a str,
    /// `aliases.toml`: upstream entries that are a known tool.
    pub aliases: &'a str,
    /// One snapshot per source (any order; at most one per source).
    pub snapshots: &'a [Snapshot],
}

/// What was generated.
#[derive(Debug)]
pub struct Output {
    /// The TOML text.
    pub text: String,
    /// Tools written.
    pub tools: usize,
    /// Entries left out, with why.
    pub skipped: Vec<String>,
    /// Values claimed by two tools, with who kept them.
    pub ambiguous: Vec<String>,
    /// Entries joined to a tool another source named differently.
    pub joined: Vec<String>,
    /// Generic values dropped.
    pub generic: Vec<String>,
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
    /// `source:ref`, e.g. `lolrmm:nvda.yaml`.
    entry: String,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AliasFile {
    #[serde(default)]
    alias: Vec<Alias>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Alias {
    id: String,
    /// `source:ref` of each upstream entry that is this tool.
    entries: Vec<String>,
}

/// The kinds of value a tool claims for itself alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Executable,
    Original,
    Product,
    Company,
    Signer,
    Path,
    Bundle,
    Domain,
}

impl Kind {
    const LISTED: [Kind; 8] = [
        Kind::Executable,
        Kind::Original,
        Kind::Product,
        Kind::Company,
        Kind::Signer,
        Kind::Path,
        Kind::Bundle,
        Kind::Domain,
    ];

    fn field(self) -> &'static str {
        match self {
            Kind::Executable => "executables",
            Kind::Original => "original_filenames",
            Kind::Product => "products",
            Kind::Company => "companies",
            Kind::Signer => "signers",
            Kind::Path => "paths",
            Kind::Bundle => "bundles",
            Kind::Domain => "domains",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Kind::Executable => "executable",
            Kind::Original => "original",
            Kind::Product => "product",
            Kind::Company => "company",
            Kind::Signer => "signer",
            Kind::Path => "path",
            Kind::Bundle => "bundle",
            Kind::Domain => "domain",
        }
    }

    /// Claimed by one tool only (paths and domains may be shared).
    fn exclusive(self) -> bool {
        !matches!(self, Kind::Path | Kind::Domain)
    }

    /// A matcher a workstation can use (domains are data for IT).
    fn matches(self) -> bool {
        self != Kind::Domain
    }

    /// How two spellings of a value compare.
    fn key(self, v: &str) -> String {
        match self {
            Kind::Executable | Kind::Original => normalise(v),
            _ => v.trim().to_lowercase(),
        }
    }
}

/// One generated tool, as it is built.
#[derive(Default)]
struct Draft {
    name: String,
    /// (kind, key) → (value as first written, sources asserting it).
    values: BTreeMap<(Kind, String), (String, BTreeSet<Source>)>,
    platforms: BTreeSet<String>,
    /// `source:ref` of every entry merged in.
    sources: BTreeSet<String>,
}

impl Draft {
    fn add(&mut self, kind: Kind, value: &str, source: Source) {
        self.values
            .entry((kind, kind.key(value)))
            .or_insert_with(|| (value.trim().to_string(), BTreeSet::new()))
            .1
            .insert(source);
    }

    fn has_matchers(&self) -> bool {
        self.values.keys().any(|(k, _)| k.matches())
    }
}

/// Merges the snapshots into the catalog text.
pub fn generate(inputs: &Inputs) -> Result<Output, String> {
    let curated: CatalogFile =
        toml::from_str(inputs.curated).map_err(|e| format!("curated.toml: {e}"))?;
    let deny: DenyFile =
        toml::from_str(inputs.deny).map_err(|e| format!("not-by-name.toml: {e}"))?;
    let aliases: AliasFile =
        toml::from_str(inputs.aliases).map_err(|e| format!("aliases.toml: {e}"))?;
    let excluded: BTreeMap<&str, &str> = deny
        .exclude
        .iter()
        .map(|x| (x.entry.as_str(), x.why.as_str()))
        .collect();
    let deny: BTreeSet<String> = deny
        .name
        .iter()
        .filter(|n| !n.only_without_exe)
        .map(|n| normalise(&n.value))
        .collect();
    let mut alias_of: BTreeMap<&str, &str> = BTreeMap::new();
    for a in &aliases.alias {
        for e in &a.entries {
            if let Some(other) = alias_of.insert(e.as_str(), a.id.as_str())
                && other != a.id
            {
                return Err(format!(
                    "aliases.toml: {e} is given to both \"{other}\" and \"{}\"",
                    a.id
                ));
            }
        }
    }

    let mut snapshots: Vec<&Snapshot> = inputs.snapshots.iter().collect();
    snapshots.sort_by_key(|s| s.source);
    for pair in snapshots.windows(2) {
        if pair[0].source == pair[1].source {
            return Err(format!("two snapshots of {}", pair[0].source.name()));
        }
    }

    // (kind, key) → id that owns it.
    let mut claims: BTreeMap<(Kind, String), String> = BTreeMap::new();
    let curated_ids: BTreeSet<String> = curated.tool.iter().map(|t| t.id.clone()).collect();
    for t in &curated.tool {
        for (kind, values) in [
            (Kind::Executable, &t.executables),
            (Kind::Original, &t.original_filenames),
            (Kind::Product, &t.products),
            (Kind::Company, &t.companies),
            (Kind::Signer, &t.signers),
            (Kind::Bundle, &t.bundles),
        ] {
            for v in values {
                claims
                    .entry((kind, kind.key(v)))
                    .or_insert_with(|| t.id.clone());
            }
        }
    }

    let mut drafts: BTreeMap<String, Draft> = BTreeMap::new();
    // Name slug → the id an entry of that name went to, so a later source
    // naming the tool the same way finds it even when it was joined.
    let mut by_slug: BTreeMap<String, String> = curated_ids
        .iter()
        .map(|id| (id.clone(), id.clone()))
        .collect();
    let mut skipped = Vec::new();
    let mut ambiguous = Vec::new();
    let mut joined = Vec::new();
    let mut generic = BTreeSet::new();
    // id → the ids that kept the values it claimed too.
    let mut covered_by: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for snapshot in &snapshots {
        let source = snapshot.source;
        for entry in &snapshot.entries {
            let key = format!("{}:{}", source.name(), entry.reference);
            if let Some(why) = excluded.get(key.as_str()) {
                skipped.push(format!("{key}: excluded by not-by-name.toml — {why}"));
                continue;
            }
            let facts = judged(entry, &deny, &mut generic);
            let id = if let Some(id) = alias_of.get(key.as_str()) {
                id.to_string()
            } else if let Some(id) = slugs(&entry.name)
                .iter()
                .find_map(|s| by_slug.get(s).cloned())
            {
                id
            } else if let Some((owner, by)) = owner_of_most(&facts, &claims) {
                joined.push(format!("{key} → {owner} (by {by})"));
                owner
            } else {
                slug(&entry.name)
            };
            for s in slugs(&entry.name) {
                by_slug.entry(s).or_insert_with(|| id.clone());
            }
            by_slug.entry(id.clone()).or_insert_with(|| id.clone());
            let draft = drafts.entry(id.clone()).or_default();
            if draft.name.is_empty() {
                draft.name = entry.name.clone();
            }
            draft.sources.insert(key.clone());
            draft.platforms.extend(entry.platforms.iter().cloned());
            for (kind, value) in facts {
                if kind == Kind::Signer
                    && source.signers_may_be_bundled()
                    && !names_tool(&value, &entry.name, &entry.reference, &id)
                {
                    continue;
                }
                let mut kinds = vec![kind];
                if kind == Kind::Signer {
                    kinds.push(Kind::Company);
                }
                for kind in kinds {
                    if kind.exclusive() {
                        match claims.get(&(kind, kind.key(&value))) {
                            Some(owner) if *owner != id => {
                                covered_by
                                    .entry(id.clone())
                                    .or_default()
                                    .insert(owner.clone());
                                ambiguous.push(format!(
                                    "{} \"{value}\": kept for \"{owner}\", dropped from \"{id}\" ({key})",
                                    kind.word()
                                ));
                                continue;
                            }
                            Some(_) => {}
                            None => {
                                claims.insert((kind, kind.key(&value)), id.clone());
                            }
                        }
                    }
                    draft.add(kind, &value, source);
                }
            }
        }
    }

    let mut body = String::new();
    let mut written = 0;
    for (id, d) in &drafts {
        if !d.has_matchers() && !curated_ids.contains(id) {
            let from = d.sources.iter().cloned().collect::<Vec<_>>().join(", ");
            let why = match covered_by.get(id) {
                Some(owners) => format!(
                    "same product as {}: its names are there",
                    owners.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
                None if d.values.is_empty() => "no name, path or PE string upstream".into(),
                None => "no name, path or PE string upstream (domains only)".into(),
            };
            skipped.push(format!("{id} ({from}): {why}"));
            continue;
        }
        written += 1;
        body.push_str(&tool_text(id, d));
    }

    let mut text = String::new();
    text.push_str(
        "# GENERATED by `cargo run -p xtask -- catalog` from the source snapshots in\n\
         # config/catalog/sources/ — do not edit by hand: put corrections in\n\
         # curated.toml, not-by-name.toml or aliases.toml and regenerate. How to\n\
         # refresh the sources: docs/catalog.md.\n\
         #\n\
         # Facts (tool names, executable names, PE strings, install paths, signers,\n\
         # domains) from these sources (see config/catalog/ATTRIBUTION.md):\n",
    );
    for s in &snapshots {
        text.push_str(&format!(
            "#   {:<9} {} — {}, {}, version {}, {} entries\n",
            s.source.name(),
            s.source.title(),
            s.source.url(),
            s.source.licence(),
            s.version,
            s.entries.len()
        ));
    }
    text.push_str(&format!("#\n# {written} tools.\n"));
    let mut section = |title: &str, lines: &[String]| {
        if !lines.is_empty() {
            text.push_str(&format!("#\n# {title}:\n"));
            for l in lines {
                text.push_str(&format!("#   {l}\n"));
            }
        }
    };
    section("Left out (nothing to recognise on a workstation)", &skipped);
    section(
        "Joined to a tool another source names differently (by the names it already claims)",
        &joined,
    );
    section(
        "Claimed by two tools (the first claim wins: curated, then merge order)",
        &ambiguous,
    );
    if !generic.is_empty() {
        text.push_str("#\n# Dropped as too generic (not-by-name.toml, short patterns):\n#   ");
        text.push_str(&generic.iter().cloned().collect::<Vec<_>>().join(", "));
        text.push('\n');
    }
    text.push_str(&body);
    Ok(Output {
        text,
        tools: written,
        skipped,
        ambiguous,
        joined,
        generic: generic.into_iter().collect(),
    })
}

/// An entry's facts with the generic ones dropped (and recorded).
fn judged(
    e: &Entry,
    deny: &BTreeSet<String>,
    generic: &mut BTreeSet<String>,
) -> Vec<(Kind, String)> {
    let mut out = Vec::new();
    let mut keep = |kind: Kind, v: &str, out: &mut Vec<(Kind, String)>| {
        let n = normalise(v);
        if deny.contains(&n) {
            generic.insert(v.trim().to_lowercase());
            return;
        }
        if matches!(kind, Kind::Executable)
            && n.contains('*')
            && n.split('*').next().unwrap_or("").chars().count() < MIN_PATTERN_PREFIX
        {
            generic.insert(v.trim().to_lowercase());
            return;
        }
        out.push((kind, v.trim().to_string()));
    };
    for (kind, set) in [
        (Kind::Executable, &e.executables),
        (Kind::Original, &e.original_filenames),
        (Kind::Product, &e.products),
        (Kind::Company, &e.companies),
        (Kind::Signer, &e.signers),
        (Kind::Bundle, &e.bundles),
    ] {
        for v in set {
            keep(kind, v, &mut out);
        }
    }
    for p in &e.paths {
        let last = p.rsplit('/').next().unwrap_or(p);
        if deny.contains(&normalise(last)) {
            // A generic program at a fixed place (mstsc.exe in System32) is
            // still that everyday program.
            generic.insert(last.to_lowercase());
            continue;
        }
        out.push((Kind::Path, p.clone()));
    }
    for d in &e.domains {
        out.push((Kind::Domain, d.clone()));
    }
    out
}

/// The tool that already claims at least half of an entry's names and PE
/// strings (most claims; ties to the smaller id), with the values that
/// showed it. A name counts whether it was claimed as an executable or an
/// original file name. Companies and signers do not count: a vendor sells
/// more than one product (Bitvise's SSH client and server).
fn owner_of_most(
    facts: &[(Kind, String)],
    claims: &BTreeMap<(Kind, String), String>,
) -> Option<(String, String)> {
    let evidence: Vec<&(Kind, String)> = facts
        .iter()
        .filter(|(k, _)| {
            matches!(
                k,
                Kind::Executable | Kind::Original | Kind::Product | Kind::Bundle
            )
        })
        .collect();
    let mut by_owner: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for (kind, v) in &evidence {
        let as_name = matches!(kind, Kind::Executable | Kind::Original);
        // One program named twice (file name and original name) is one
        // piece of evidence.
        if !seen.insert((as_name, kind.key(v))) {
            continue;
        }
        total += 1;
        let owner = if as_name {
            claims
                .get(&(Kind::Executable, kind.key(v)))
                .or_else(|| claims.get(&(Kind::Original, kind.key(v))))
        } else {
            claims.get(&(*kind, kind.key(v)))
        };
        if let Some(owner) = owner {
            by_owner.entry(owner).or_default().insert(v);
        }
    }
    let (owner, values) = by_owner
        .into_iter()
        .max_by(|a, b| a.1.len().cmp(&b.1.len()).then(b.0.cmp(a.0)))?;
    (values.len() * 2 >= total).then(|| {
        let shown: Vec<&str> = values.into_iter().collect();
        (owner.to_string(), shown.join(", "))
    })
}

fn tool_text(id: &str, d: &Draft) -> String {
    let mut out = String::new();
    out.push_str("\n[[tool]]\n");
    out.push_str(&format!("id = {}\n", quote(id)));
    out.push_str(&format!("name = {}\n", quote(&d.name)));
    let mut provenance = Vec::new();
    for kind in Kind::LISTED {
        let values: Vec<&(String, BTreeSet<Source>)> = d
            .values
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|(_, v)| v)
            .collect();
        if values.is_empty() {
            continue;
        }
        let shown: BTreeSet<&String> = values.iter().map(|(v, _)| v).collect();
        out.push_str(&format!("{} = {}\n", kind.field(), list(shown.into_iter())));
        // Group the values by the set of sources that gave them.
        let mut groups: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
        for (v, sources) in &values {
            let who: Vec<&str> = sources.iter().map(|s| s.name()).collect();
            groups.entry(who.join("+")).or_default().insert(v);
        }
        let groups: Vec<String> = groups
            .iter()
            .map(|(who, vs)| {
                format!(
                    "{who}: {}",
                    vs.iter().copied().collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        provenance.push(format!("#   {}: {}\n", kind.field(), groups.join("; ")));
    }
    out.push_str(&format!("sources = {}\n", list(d.sources.iter())));
    if !provenance.is_empty() {
        out.push_str("# which source gave which value:\n");
        for p in provenance {
            out.push_str(&p);
        }
    }
    if !d.platforms.is_empty() {
        let ps: Vec<&str> = d.platforms.iter().map(String::as_str).collect();
        out.push_str(&format!("# platforms: {}\n", ps.join(", ")));
    }
    out
}

/// A tool id from a name: lowercase letters and digits, `-` between words.
pub fn slug(name: &str) -> String {
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

/// The ids a name may already have: its slug, and the slug without a
/// parenthesised part ("BeyondTrust (Bomgar)" is "beyondtrust").
fn slugs(name: &str) -> Vec<String> {
    let mut out = vec![slug(name)];
    if let Some((head, _)) = name.split_once('(') {
        let s = slug(head);
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// Compares like the catalog does: lowercase, no `.exe`.
pub fn normalise(name: &str) -> String {
    let lower = name.trim().to_lowercase();
    lower.strip_suffix(".exe").unwrap_or(&lower).to_string()
}

fn names_tool(signer: &str, name: &str, reference: &str, id: &str) -> bool {
    let stem = reference
        .trim_end_matches(".yaml")
        .trim_end_matches(".yml")
        .replace('_', " ");
    shares_word(signer, name) || shares_word(signer, &stem) || shares_word(signer, id)
}

#[cfg(test)]
mod tests;
