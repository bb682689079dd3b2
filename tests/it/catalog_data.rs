//! The catalog's data, judged on lists written for varco (tests/data/):
//! remote-tool names from vendors' documentation and public detection
//! rules (not from LOLRMM, the catalog's main source), and everyday
//! office processes. Recall and false positives are printed.

use std::collections::HashSet;

use varco::policy::catalog::Catalog;

fn lines(name: &str) -> Vec<String> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Every entry has an id, a name and a matcher; ids are unique.
#[test]
fn every_entry_is_complete_and_ids_are_unique() {
    let catalog = Catalog::embedded().unwrap();
    let mut ids = HashSet::new();
    for t in catalog.tools() {
        assert!(!t.id.is_empty() && !t.name.is_empty(), "{t:?}");
        assert!(ids.insert(t.id.clone()), "duplicate id {}", t.id);
        let matchers = t.executables.len()
            + t.name_patterns.len()
            + t.original_filenames.len()
            + t.products.len()
            + t.companies.len()
            + t.signers.len()
            + t.paths.len()
            + t.bundles.len()
            + t.markers.len();
        assert!(matchers > 0, "{} has no matcher", t.id);
    }
    println!("catalog: {} tools", catalog.tools().len());
}

/// Guards the headline promise: the tools detection rules name are known.
#[test]
fn recall_on_remote_tool_names_is_at_least_98_percent() {
    let catalog = Catalog::embedded().unwrap();
    let list = lines("remote-tools.txt");
    let mut missed = Vec::new();
    let mut wrong = Vec::new();
    for line in &list {
        let (want, name) = line.split_once(' ').expect("`id name` lines");
        match catalog.lookup_name(name) {
            None => missed.push(name.to_string()),
            Some(t) if want != "*" && t.id != want => {
                wrong.push(format!("{name} → {} (want {want})", t.id))
            }
            Some(_) => {}
        }
    }
    let found = list.len() - missed.len() - wrong.len();
    let recall = found as f64 / list.len() as f64 * 100.0;
    println!(
        "recall: {found}/{} = {recall:.1}% (missed: {missed:?}; wrong tool: {wrong:?})",
        list.len()
    );
    assert!(list.len() >= 150, "the list must stay meaningful");
    assert!(
        recall >= 98.0,
        "recall {recall:.1}% < 98%: missed {missed:?}, wrong {wrong:?}"
    );
}

/// Guards the operator's day: stopping an everyday program is a defect.
#[test]
fn no_everyday_process_is_taken_for_a_tool() {
    let catalog = Catalog::embedded().unwrap();
    let list = lines("everyday-processes.txt");
    let hits: Vec<String> = list
        .iter()
        .filter_map(|n| catalog.lookup_name(n).map(|t| format!("{n} → {}", t.id)))
        .collect();
    println!(
        "false positives: {}/{} everyday names {hits:?}",
        hits.len(),
        list.len()
    );
    assert!(list.len() >= 150);
    assert!(
        hits.is_empty(),
        "everyday processes taken for tools: {hits:?}"
    );
}

/// Install-path, bundle and AppImage matching must not catch everyday
/// programs either.
#[test]
fn no_everyday_program_path_is_taken_for_a_tool() {
    let catalog = Catalog::embedded().unwrap();
    let list = lines("everyday-paths.txt");
    let hits: Vec<String> = list
        .iter()
        .filter_map(|p| {
            let facts = varco::facts::ProcessFacts {
                pid: 1,
                parent_pid: None,
                start_marker: 0,
                name: varco::facts::file_name_of(p).to_string(),
                exe: Some(p.into()),
                cmdline: vec![p.clone()],
                uid: None,
                user: None,
            };
            catalog
                .identify(&facts)
                .map(|f| format!("{p} → {} by {}", f.tool.id, f.matched_by.as_str()))
        })
        .collect();
    println!(
        "false positives: {}/{} everyday paths {hits:?}",
        hits.len(),
        list.len()
    );
    assert!(
        hits.is_empty(),
        "everyday programs taken for tools: {hits:?}"
    );
}
