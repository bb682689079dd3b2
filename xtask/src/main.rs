//! Maintenance tasks for varco.
//!
//! `cargo run -p xtask -- catalog PATH/TO/lolrmm` regenerates
//! `config/catalog/lolrmm.toml` from a LOLRMM snapshot (the folder holding
//! `yaml/`). The output depends only on the snapshot, `curated.toml` and
//! `not-by-name.toml`: the same inputs give the same bytes, so a newer
//! snapshot shows up as a reviewable diff.

mod generate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["catalog", lolrmm] => catalog(Path::new(lolrmm), false),
        ["catalog", lolrmm, "--check"] => catalog(Path::new(lolrmm), true),
        _ => {
            eprintln!(
                "usage: cargo run -p xtask -- catalog PATH/TO/lolrmm [--check]\n\
                 regenerates config/catalog/lolrmm.toml from a LOLRMM snapshot; \
                 --check only tells whether the committed file is up to date"
            );
            ExitCode::from(2)
        }
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn catalog(lolrmm: &Path, check: bool) -> ExitCode {
    let root = repo_root();
    let catalog_dir = root.join("config/catalog");
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| format!("{}: cannot be read: {e}", p.display()))
    };
    let result = (|| -> Result<generate::Output, String> {
        let curated = read(&catalog_dir.join("curated.toml"))?;
        let deny = read(&catalog_dir.join("not-by-name.toml"))?;
        let snapshot = generate::read_snapshot(lolrmm)?;
        generate::generate(&snapshot, &curated, &deny)
    })();
    let out = match result {
        Ok(o) => o,
        Err(e) => {
            eprintln!("xtask catalog: {e}");
            return ExitCode::FAILURE;
        }
    };
    let target = catalog_dir.join("lolrmm.toml");
    if check {
        let current = std::fs::read_to_string(&target).unwrap_or_default();
        if current == out.text {
            println!("{}: up to date", target.display());
            return ExitCode::SUCCESS;
        }
        eprintln!(
            "{}: out of date — run cargo run -p xtask -- catalog {}",
            target.display(),
            lolrmm.display()
        );
        return ExitCode::FAILURE;
    }
    if let Err(e) = std::fs::write(&target, &out.text) {
        eprintln!(
            "xtask catalog: {}: cannot be written: {e}",
            target.display()
        );
        return ExitCode::FAILURE;
    }
    println!(
        "{}: {} tools from {} files ({} skipped: no matcher), {} ambiguous claims dropped, {} generic names dropped",
        target.display(),
        out.tools,
        out.files,
        out.skipped.len(),
        out.ambiguous.len(),
        out.generic.len()
    );
    for line in out.ambiguous.iter().chain(&out.skipped) {
        println!("  {line}");
    }
    ExitCode::SUCCESS
}
