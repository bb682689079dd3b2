//! Maintenance tasks for varco: the catalog of remote-access tools.
//!
//! ```text
//! cargo run -p xtask -- catalog [--check]
//! cargo run -p xtask -- update SOURCE=PATH[@VERSION]... [--dry-run | --check]
//! ```
//!
//! `catalog` regenerates `config/catalog/generated.toml` from the committed
//! source snapshots (`config/catalog/sources/*.toml`), `curated.toml`,
//! `not-by-name.toml` and `aliases.toml`; `--check` only tells whether the
//! committed file is current. `update` imports newer upstream exports
//! (downloaded files, read offline), rewrites their snapshots and the
//! catalog, and prints what was added and removed. The output depends only
//! on those files: the same inputs give the same bytes. docs/catalog.md is
//! the guide.

mod facts;
mod generate;
mod import;
mod summary;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use facts::Snapshot;
use import::Source;
use summary::Summary;

const USAGE: &str = "usage:
  cargo run -p xtask -- catalog [--check]
      regenerate config/catalog/generated.toml from the committed snapshots;
      --check only tells whether the committed file is current
  cargo run -p xtask -- update SOURCE=PATH[@VERSION]... [--dry-run | --check]
      import newer exports (lolrmm, splunk, sigma, surveyor), rewrite their
      snapshots and the catalog, print what was added and removed;
      VERSION is the upstream commit or release (kept with every fact);
      --dry-run writes nothing; --check fails when anything would change
      (VERSION may then be left out: the committed one is used)
see docs/catalog.md";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("catalog") => match &args[1..] {
            [] => catalog(false),
            [flag] if flag == "--check" => catalog(true),
            _ => Err(USAGE.to_string()),
        },
        Some("update") => update(&args[1..]),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::from(2)
        }
    }
}

/// The repository's `config/catalog/`.
fn catalog_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
        .join("config/catalog")
}

/// The committed inputs of the generator.
struct Committed {
    curated: String,
    deny: String,
    aliases: String,
    snapshots: Vec<Snapshot>,
    generated: String,
}

fn read(p: &Path) -> Result<String, String> {
    std::fs::read_to_string(p).map_err(|e| format!("{}: cannot be read: {e}", p.display()))
}

fn snapshot_path(dir: &Path, s: Source) -> PathBuf {
    dir.join("sources").join(format!("{}.toml", s.name()))
}

impl Committed {
    fn read(dir: &Path) -> Result<Committed, String> {
        let mut snapshots = Vec::new();
        for s in Source::ALL {
            let p = snapshot_path(dir, s);
            if p.exists() {
                let snap = Snapshot::parse(&p.display().to_string(), &read(&p)?)?;
                if snap.source != s {
                    return Err(format!(
                        "{}: says source = \"{}\"",
                        p.display(),
                        snap.source.name()
                    ));
                }
                snapshots.push(snap);
            }
        }
        Ok(Committed {
            curated: read(&dir.join("curated.toml"))?,
            deny: read(&dir.join("not-by-name.toml"))?,
            aliases: read(&dir.join("aliases.toml"))?,
            snapshots,
            generated: std::fs::read_to_string(dir.join("generated.toml")).unwrap_or_default(),
        })
    }

    fn generate(&self, snapshots: &[Snapshot]) -> Result<generate::Output, String> {
        generate::generate(&generate::Inputs {
            curated: &self.curated,
            deny: &self.deny,
            aliases: &self.aliases,
            snapshots,
        })
    }
}

fn catalog(check: bool) -> Result<ExitCode, String> {
    let dir = catalog_dir();
    let committed = Committed::read(&dir)?;
    let out = committed.generate(&committed.snapshots)?;
    let target = dir.join("generated.toml");
    if check {
        if committed.generated == out.text {
            println!("{}: up to date", target.display());
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!(
            "{}: out of date — run cargo run -p xtask -- catalog\n{}",
            target.display(),
            Summary::between(&committed.generated, &out.text)?
        );
        return Ok(ExitCode::FAILURE);
    }
    write(&target, &out.text)?;
    report(&out);
    print!("{}", Summary::between(&committed.generated, &out.text)?);
    Ok(ExitCode::SUCCESS)
}

/// One `SOURCE=PATH[@VERSION]` argument.
fn parse_update(arg: &str) -> Result<(Source, PathBuf, Option<String>), String> {
    let (name, rest) = arg
        .split_once('=')
        .ok_or_else(|| format!("{arg}: expected SOURCE=PATH[@VERSION]\n{USAGE}"))?;
    let source = Source::from_name(name)
        .ok_or_else(|| format!("{name}: unknown source (known: {})", Source::names()))?;
    let (path, version) = match rest.rsplit_once('@') {
        Some((p, v)) if !v.is_empty() && !v.contains(['/', '\\']) => (p, Some(v.to_string())),
        _ => (rest, None),
    };
    Ok((source, PathBuf::from(path), version))
}

fn update(args: &[String]) -> Result<ExitCode, String> {
    let mut dry_run = false;
    let mut check = false;
    let mut wanted = Vec::new();
    for a in args {
        match a.as_str() {
            "--dry-run" => dry_run = true,
            "--check" => check = true,
            _ => wanted.push(parse_update(a)?),
        }
    }
    if wanted.is_empty() {
        return Err(USAGE.to_string());
    }
    let dir = catalog_dir();
    let committed = Committed::read(&dir)?;
    let mut snapshots = committed.snapshots.clone();
    let mut changed_files = Vec::new();
    for (source, path, version) in wanted {
        let before = snapshots.iter().position(|s| s.source == source);
        let version = match (version, before, check) {
            (Some(v), _, _) => v,
            (None, Some(i), true) => snapshots[i].version.clone(),
            _ => {
                return Err(format!(
                    "{}: give the upstream version: {}={}@COMMIT_OR_RELEASE",
                    source.name(),
                    source.name(),
                    path.display()
                ));
            }
        };
        let entries = source.import(&path)?;
        let new = Snapshot::new(source, &version, entries);
        let old_text = before.map(|i| snapshots[i].to_text()).unwrap_or_default();
        println!(
            "{}: {} entries, version {} (was {})",
            source.name(),
            new.entries.len(),
            new.version,
            before
                .map(|i| format!(
                    "{} entries, version {}",
                    snapshots[i].entries.len(),
                    snapshots[i].version
                ))
                .unwrap_or_else(|| "not imported".into())
        );
        if new.to_text() != old_text {
            changed_files.push((snapshot_path(&dir, source), new.to_text()));
        }
        match before {
            Some(i) => snapshots[i] = new,
            None => snapshots.push(new),
        }
    }
    let out = committed.generate(&snapshots)?;
    let summary = Summary::between(&committed.generated, &out.text)?;
    print!("{summary}");
    if summary.is_unchanged() {
        println!("  (no tool gains or loses a name, path or PE string)");
    }
    if out.text != committed.generated {
        changed_files.push((dir.join("generated.toml"), out.text.clone()));
    }
    if check {
        if changed_files.is_empty() {
            println!("snapshots and catalog are up to date with these exports");
            return Ok(ExitCode::SUCCESS);
        }
        for (p, _) in &changed_files {
            eprintln!("{}: differs from what these exports give", p.display());
        }
        return Ok(ExitCode::FAILURE);
    }
    if dry_run {
        println!("dry run: nothing written");
        return Ok(ExitCode::SUCCESS);
    }
    for (p, text) in &changed_files {
        write(p, text)?;
        println!("wrote {}", p.display());
    }
    report(&out);
    Ok(ExitCode::SUCCESS)
}

fn write(p: &Path, text: &str) -> Result<(), String> {
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("{}: cannot be created: {e}", parent.display()))?;
    }
    std::fs::write(p, text).map_err(|e| format!("{}: cannot be written: {e}", p.display()))
}

fn report(out: &generate::Output) {
    println!(
        "generated.toml: {} tools; {} entries left out, {} joined, {} values claimed twice, {} generic values dropped (details in its header)",
        out.tools,
        out.skipped.len(),
        out.joined.len(),
        out.ambiguous.len(),
        out.generic.len()
    );
}
