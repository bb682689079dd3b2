//! SigmaHQ: YAML detection rules under the repository's `rules*` folders.
//!
//! A rule counts when it is about remote-access software (tagged ATT&CK
//! T1219, or named `*remote_access_tools*`) and watches process creation.
//! Only the identity of a program is taken: the exact values of `Image`
//! (its file name), `OriginalFileName`, `Product`, `Description` and
//! `Company`, from selections the condition uses positively (a `filter` or
//! a `not` selection names what is *not* the tool) and that test nothing
//! but identity: a selection that also needs a command line or a parent
//! (`code.exe` running `tunnel`) does not make the program itself a tool.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

use crate::facts::Entry;

pub fn import(root: &Path) -> Result<Vec<Entry>, String> {
    let mut files = Vec::new();
    let is_rules_dir = root
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("rules"));
    let tops: Vec<PathBuf> = if is_rules_dir {
        vec![root.to_path_buf()]
    } else {
        let listing = std::fs::read_dir(root)
            .map_err(|e| format!("{}: cannot be read: {e}", root.display()))?;
        let mut tops: Vec<PathBuf> = listing
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.is_dir()
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("rules"))
            })
            .collect();
        tops.sort();
        tops
    };
    if tops.is_empty() {
        return Err(format!(
            "{}: no rules*/ folder (give the SigmaHQ repository root or a rules folder)",
            root.display()
        ));
    }
    for top in &tops {
        walk(top, &mut files)?;
    }
    files.sort();
    let mut entries = Vec::new();
    for path in files {
        let rel = path
            .strip_prefix(root.parent().filter(|_| is_rules_dir).unwrap_or(root))
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        if let Some(e) = entry(&rel, &super::read(&path)?)? {
            entries.push(e);
        }
    }
    Ok(entries)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let listing =
        std::fs::read_dir(dir).map_err(|e| format!("{}: cannot be read: {e}", dir.display()))?;
    for item in listing {
        let path = item.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| x == "yml" || x == "yaml")
        {
            out.push(path);
        }
    }
    Ok(())
}

/// The facts of one rule file (`reference` is its path in the
/// repository), or `None` when it is not about running remote-access
/// software or names no program.
pub fn entry(reference: &str, text: &str) -> Result<Option<Entry>, String> {
    // A file that is not valid YAML is not a rule the project ships;
    // report it rather than guess.
    let docs = YamlLoader::load_from_str(text).map_err(|e| format!("{reference}: {e}"))?;
    let Some(rule) = docs.first() else {
        return Ok(None);
    };
    let tagged = items(&rule["tags"])
        .filter_map(Yaml::as_str)
        .any(|t| t.to_lowercase().starts_with("attack.t1219"));
    let named = reference.contains("remote_access_tools");
    let process = rule["logsource"]["category"].as_str() == Some("process_creation");
    if !(tagged || named) || !process {
        return Ok(None);
    }
    let title = rule["title"].as_str().unwrap_or(reference);
    let mut e = Entry::new(reference, title);
    if let Some(p) = rule["logsource"]["product"].as_str() {
        e.add_platform(p);
    }
    let detection = &rule["detection"];
    let condition = detection["condition"].as_str().unwrap_or("");
    let Yaml::Hash(map) = detection else {
        return Ok(None);
    };
    let names: Vec<&str> = map
        .keys()
        .filter_map(Yaml::as_str)
        .filter(|k| !matches!(*k, "condition" | "timeframe"))
        .collect();
    let positive = positive_selections(condition, &names);
    for (key, value) in map {
        let Some(name) = key.as_str() else { continue };
        if !positive.contains(name) {
            continue;
        }
        for group in items(value) {
            if let Yaml::Hash(fields) = group {
                identity(fields, &mut e);
            }
        }
    }
    Ok(e.has_matchers().then_some(e))
}

/// Takes the identity values of one selection map, when it tests nothing
/// else.
fn identity(fields: &yaml_rust2::yaml::Hash, e: &mut Entry) {
    let parsed: Vec<(&str, Vec<&str>, &Yaml)> = fields
        .iter()
        .filter_map(|(k, v)| {
            let k = k.as_str()?;
            let mut parts = k.split('|');
            let field = parts.next()?;
            Some((field, parts.collect(), v))
        })
        .collect();
    let only_identity = parsed.iter().all(|(f, _, _)| {
        matches!(
            *f,
            "Image" | "OriginalFileName" | "Product" | "Description" | "Company"
        )
    });
    if !only_identity {
        return;
    }
    for (field, modifiers, value) in parsed {
        let values: Vec<&str> = items(value).filter_map(Yaml::as_str).collect();
        match (field, modifiers.as_slice()) {
            ("Image", ["endswith"] | []) => {
                for v in values {
                    let file = v.rsplit(['\\', '/']).next().unwrap_or(v);
                    e.add_executable(file);
                }
            }
            ("OriginalFileName", []) => values.iter().for_each(|v| e.add_original_filename(v)),
            ("Product" | "Description", []) => values.iter().for_each(|v| e.add_product(v)),
            ("Company", []) => values.iter().for_each(|v| e.add_company(v)),
            _ => {}
        }
    }
}

/// The selections that identify the tool *by themselves* under a Sigma
/// condition: `selection`, `1 of selection_*`, `sel or other`, each
/// optionally `and not filter`. A selection that must hold together with
/// another (`parent and child`, `all of selection_*` over several) is
/// only part of the story and is left out.
fn positive_selections<'a>(condition: &str, names: &[&'a str]) -> BTreeSet<&'a str> {
    let spaced = condition.replace('(', " ( ").replace(')', " ) ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    sufficient(&tokens, names)
}

/// Splits `tokens` at the top-level occurrences of `word`.
fn split_top<'t>(tokens: &'t [&'t str], word: &str) -> Vec<&'t [&'t str]> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, t) in tokens.iter().enumerate() {
        match *t {
            "(" => depth += 1,
            ")" => depth = depth.saturating_sub(1),
            w if w == word && depth == 0 => {
                parts.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&tokens[start..]);
    parts
}

fn sufficient<'a>(tokens: &[&str], names: &[&'a str]) -> BTreeSet<&'a str> {
    let mut out = BTreeSet::new();
    for term in split_top(tokens, "or") {
        let positive: Vec<&[&str]> = split_top(term, "and")
            .into_iter()
            .filter(|op| op.first().is_some_and(|t| *t != "not"))
            .collect();
        let [op] = positive.as_slice() else {
            continue;
        };
        match *op {
            ["(", inner @ .., ")"] => out.extend(sufficient(inner, names)),
            ["1" | "any", "of", pattern] => out.extend(matching(pattern, names)),
            ["all", "of", pattern] => {
                let m = matching(pattern, names);
                if m.len() == 1 {
                    out.extend(m);
                }
            }
            [name] => out.extend(matching(name, names)),
            _ => {}
        }
    }
    out
}

fn matching<'a>(pattern: &str, names: &[&'a str]) -> Vec<&'a str> {
    names
        .iter()
        .copied()
        .filter(|n| pattern == "them" || glob(pattern, n))
        .collect()
}

/// `*` matches any run of characters (Sigma's selection-name patterns).
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) if !prefix.contains('*') => text.starts_with(prefix),
        _ => pattern == text,
    }
}

fn items(y: &Yaml) -> Box<dyn Iterator<Item = &Yaml> + '_> {
    match y {
        Yaml::Array(a) => Box::new(a.iter()),
        Yaml::BadValue | Yaml::Null => Box::new(std::iter::empty()),
        other => Box::new(std::iter::once(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_values_of_positive_selections_only() {
        let rule = r"title: Remote Access Tool - AnyDesk Execution
tags:
    - attack.command-and-control
    - attack.t1219.002
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        - Image|endswith:
              - '\AnyDesk.exe'
              - '\AnyDeskMSI.exe'
        - Description: AnyDesk
        - Company: AnyDesk Software GmbH
        - Product|contains: anyd
    filter_main_legit:
        Image|endswith: '\Legit.exe'
    condition: selection and not 1 of filter_*
";
        let e = entry("rules/x.yml", rule).unwrap().unwrap();
        assert_eq!(
            e.executables.iter().collect::<Vec<_>>(),
            ["AnyDesk.exe", "AnyDeskMSI.exe"]
        );
        assert_eq!(e.products.iter().collect::<Vec<_>>(), ["AnyDesk"]);
        assert_eq!(
            e.companies.iter().collect::<Vec<_>>(),
            ["AnyDesk Software GmbH"]
        );
        assert_eq!(e.name, "Remote Access Tool - AnyDesk Execution");
    }

    #[test]
    fn a_program_needing_a_command_line_is_not_a_tool() {
        let rule = r"title: VS Code tunnel
tags: [attack.t1219]
logsource: {category: process_creation, product: windows}
detection:
    selection_tunnel:
        Image|endswith: '\code.exe'
        CommandLine|contains: ' tunnel'
    condition: 1 of selection_*
";
        assert_eq!(entry("rules/y.yml", rule).unwrap(), None);
    }

    #[test]
    fn a_child_of_the_tool_is_not_the_tool() {
        let rule = r"title: ScreenConnect Remote Command Execution
tags: [attack.t1219]
logsource: {category: process_creation, product: windows}
detection:
    selection_parent:
        ParentCommandLine|contains: '\\ScreenConnect.ClientService.exe'
    selection_cmd:
        - Image|endswith: '\\cmd.exe'
        - OriginalFileName: 'Cmd.Exe'
    condition: all of selection_*
";
        assert_eq!(entry("rules/s.yml", rule).unwrap(), None);
    }

    #[test]
    fn rules_about_other_things_are_skipped() {
        let rule = "title: Whoami\ntags: [attack.t1033]\nlogsource: {category: process_creation}\ndetection:\n  selection:\n    Image|endswith: '\\whoami.exe'\n  condition: selection\n";
        assert_eq!(entry("rules/z.yml", rule).unwrap(), None);
        let dns = "title: DNS\ntags: [attack.t1219]\nlogsource: {category: dns_query}\ndetection:\n  selection:\n    Image|endswith: '\\x.exe'\n  condition: selection\n";
        assert_eq!(entry("rules/d.yml", dns).unwrap(), None);
    }

    #[test]
    fn conditions_with_not_and_parentheses() {
        let names = ["sel_a", "sel_b", "filter_x", "other"];
        let p = positive_selections("(sel_a or sel_b) and not (filter_x or other)", &names);
        assert_eq!(p.into_iter().collect::<Vec<_>>(), ["sel_a", "sel_b"]);
        let p = positive_selections("1 of sel_* and not 1 of filter_*", &names);
        assert_eq!(p.into_iter().collect::<Vec<_>>(), ["sel_a", "sel_b"]);
        let p = positive_selections("1 of them", &names);
        assert_eq!(p.len(), 4);
        // Together, not alone: a parent and a child, or all of several.
        assert!(positive_selections("sel_a and sel_b", &names).is_empty());
        assert!(positive_selections("all of sel_*", &names).is_empty());
        let p = positive_selections("other or (sel_a and sel_b)", &names);
        assert_eq!(p.into_iter().collect::<Vec<_>>(), ["other"]);
    }
}
