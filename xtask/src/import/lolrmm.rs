//! LOLRMM: one YAML file per tool under `yaml/`.
//!
//! Quirks handled: `PEMetadata` may be one mapping or a list;
//! `SupportedOS` names vary in case; `.yml` files count too; a bare `*` or a
//! name with `<…>`/`[…]` placeholders is not a name; `Description` is
//! often prose, so it counts as a PE string only when it is short and names
//! the tool.

use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

use super::read;
use crate::facts::{Entry, is_executable_name};

pub fn import(dir: &Path) -> Result<Vec<Entry>, String> {
    let yaml_dir = dir.join("yaml");
    let listing = std::fs::read_dir(&yaml_dir).map_err(|e| {
        format!(
            "{}: cannot be read: {e} (give the folder holding LOLRMM's yaml/)",
            yaml_dir.display()
        )
    })?;
    let mut files = Vec::new();
    for item in listing {
        let path = item.map_err(|e| e.to_string())?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if name.ends_with(".yaml") || name.ends_with(".yml") {
            files.push((name, path));
        }
    }
    files.sort();
    let mut entries = Vec::new();
    for (file, path) in files {
        if let Some(e) = entry(&file, &read(&path)?)? {
            entries.push(e);
        }
    }
    Ok(entries)
}

/// The facts of one LOLRMM file, or `None` for a file without a `Name`.
pub fn entry(file: &str, text: &str) -> Result<Option<Entry>, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| format!("{file}: {e}"))?;
    let Some(doc) = docs.first() else {
        return Ok(None);
    };
    let Some(name) = scalar(&doc["Name"]) else {
        return Ok(None);
    };
    let mut e = Entry::new(file, &name);
    let details = &doc["Details"];
    for os in items(&details["SupportedOS"]).filter_map(scalar) {
        e.add_platform(&os);
    }
    for meta in items(&details["PEMetadata"]) {
        if let Some(v) = scalar(&meta["Filename"]) {
            e.add_executable(&v);
        }
        if let Some(v) = scalar(&meta["OriginalFileName"])
            && is_executable_name(&v)
        {
            e.add_original_filename(&v);
        }
        if let Some(v) = scalar(&meta["Product"]) {
            e.add_product(&v);
        }
        if let Some(v) = scalar(&meta["Description"])
            && is_product_like(&v, &name)
        {
            e.add_product(&v);
        }
    }
    for p in items(&details["InstallationPaths"]).filter_map(scalar) {
        e.add_path(&p);
    }
    for net in items(&doc["Artifacts"]["Network"]) {
        for d in items(&net["Domains"]).filter_map(scalar) {
            e.add_domain(&d);
        }
    }
    let signing = &doc["CodeSigning"];
    for c in items(&signing["certificates"]) {
        if let Some(s) = scalar(&c["signer_name"]) {
            e.add_signer(&s);
        }
    }
    for s in items(&signing["signer_names"]).filter_map(scalar) {
        e.add_signer(&s);
    }
    Ok(Some(e))
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
fn scalar(y: &Yaml) -> Option<String> {
    let s = match y {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        _ => return None,
    };
    let s = s.trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// A LOLRMM `Description` is often prose; only a short product-like string
/// naming the tool is a PE FileDescription worth matching.
fn is_product_like(v: &str, tool_name: &str) -> bool {
    v.len() <= 32
        && !v.contains(['(', ')', ',', ';', ':', '.'])
        && v.split_whitespace().count() <= 3
        && crate::facts::shares_word(v, tool_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_mapping_and_list_both_read() {
        let one = "Name: Foo Remote\nDetails:\n  PEMetadata:\n    Filename: foorem.exe\n    OriginalFileName: FooRem.exe\n    Description: Foo Remote\n";
        let e = entry("a.yaml", one).unwrap().unwrap();
        assert!(e.original_filenames.contains("FooRem.exe"));
        assert!(e.executables.contains("foorem.exe"));
        assert!(e.products.contains("Foo Remote"));
        let many = "Name: Bar Desk\nDetails:\n  PEMetadata:\n    - Filename: bardesk.exe\n    - Filename: bardesk_svc.exe\n      Description: The long prose, about Bar Desk.\n  SupportedOS: [Windows, MacOS, mac]\n";
        let e = entry("b.yml", many).unwrap().unwrap();
        assert_eq!(e.executables.len(), 2);
        assert!(e.products.is_empty(), "prose is not a PE string");
        assert_eq!(e.platforms.iter().collect::<Vec<_>>(), ["macos", "windows"]);
    }

    #[test]
    fn paths_signers_and_domains_are_facts() {
        let y = "Name: Level\nCodeSigning:\n  certificates:\n    - signer_name: Level Software, Inc.\nDetails:\n  InstallationPaths:\n    - C:\\Program Files\\Level\\*\n    - '*'\nArtifacts:\n  Network:\n    - Domains: [agents.level.io, '*']\n";
        let e = entry("level.yaml", y).unwrap().unwrap();
        assert!(e.signers.contains("Level Software, Inc."));
        assert!(e.paths.contains("C:/Program Files/Level/*"));
        assert_eq!(e.domains.iter().collect::<Vec<_>>(), ["agents.level.io"]);
    }

    #[test]
    fn a_file_without_name_is_no_entry() {
        assert_eq!(entry("x.yaml", "Details: {}\n").unwrap(), None);
    }
}
