//! What changed between two generated catalogs, for the person refreshing
//! the sources: tools added and removed, and per tool the names and PE
//! strings added and removed.

use std::collections::{BTreeMap, BTreeSet};

use crate::facts::CatalogFile;

/// The matchers of one tool, by field: comparison key → value as written
/// (names compare like the catalog compares them: case and `.exe` aside).
type Matchers = BTreeMap<&'static str, BTreeMap<String, String>>;

fn key(field: &str, v: &str) -> String {
    let lower = v.trim().to_lowercase();
    match field {
        "executables" | "original_filenames" => {
            lower.strip_suffix(".exe").unwrap_or(&lower).to_string()
        }
        _ => lower,
    }
}

fn tools(text: &str) -> Result<BTreeMap<String, (String, Matchers)>, String> {
    let file: CatalogFile = toml::from_str(text).map_err(|e| e.to_string())?;
    Ok(file
        .tool
        .into_iter()
        .map(|t| {
            let mut m = Matchers::new();
            for (field, values) in [
                ("executables", t.executables),
                ("original_filenames", t.original_filenames),
                ("products", t.products),
                ("companies", t.companies),
                ("signers", t.signers),
                ("paths", t.paths),
                ("bundles", t.bundles),
            ] {
                if !values.is_empty() {
                    m.insert(
                        field,
                        values.into_iter().map(|v| (key(field, &v), v)).collect(),
                    );
                }
            }
            (t.id, (t.name, m))
        })
        .collect())
}

/// Counts and lines describing the change from `old` to `new` (both
/// generated catalog texts; an unreadable old text counts as empty).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub tools_before: usize,
    pub tools_after: usize,
    pub tools_added: usize,
    pub tools_removed: usize,
    pub values_before: usize,
    pub values_after: usize,
    pub values_added: usize,
    pub values_removed: usize,
    /// One line per tool that changed.
    pub lines: Vec<String>,
}

impl Summary {
    pub fn between(old: &str, new: &str) -> Result<Summary, String> {
        let before = tools(old).unwrap_or_default();
        let after = tools(new).map_err(|e| format!("the new catalog does not parse: {e}"))?;
        let count = |t: &BTreeMap<String, (String, Matchers)>| -> usize {
            t.values()
                .map(|(_, m)| m.values().map(BTreeMap::len).sum::<usize>())
                .sum()
        };
        let mut s = Summary {
            tools_before: before.len(),
            tools_after: after.len(),
            values_before: count(&before),
            values_after: count(&after),
            ..Summary::default()
        };
        let empty = Matchers::new();
        let ids: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
        for id in ids {
            let (old, new) = (before.get(id), after.get(id));
            let old_m = old.map(|(_, m)| m).unwrap_or(&empty);
            let new_m = new.map(|(_, m)| m).unwrap_or(&empty);
            let mut parts = Vec::new();
            let fields: BTreeSet<&&str> = old_m.keys().chain(new_m.keys()).collect();
            for field in fields {
                let none = BTreeMap::new();
                let o = old_m.get(*field).unwrap_or(&none);
                let n = new_m.get(*field).unwrap_or(&none);
                let added: Vec<&String> = n
                    .iter()
                    .filter(|(k, _)| !o.contains_key(*k))
                    .map(|(_, v)| v)
                    .collect();
                let removed: Vec<&String> = o
                    .iter()
                    .filter(|(k, _)| !n.contains_key(*k))
                    .map(|(_, v)| v)
                    .collect();
                s.values_added += added.len();
                s.values_removed += removed.len();
                if !added.is_empty() {
                    parts.push(format!("+{field} {}", join(&added)));
                }
                if !removed.is_empty() {
                    parts.push(format!("-{field} {}", join(&removed)));
                }
            }
            match (old, new) {
                (None, Some((name, _))) => {
                    s.tools_added += 1;
                    s.lines
                        .push(format!("+ {id} ({name}): {}", parts.join("; ")));
                }
                (Some((name, _)), None) => {
                    s.tools_removed += 1;
                    s.lines
                        .push(format!("- {id} ({name}): {}", parts.join("; ")));
                }
                _ if !parts.is_empty() => s.lines.push(format!("~ {id}: {}", parts.join("; "))),
                _ => {}
            }
        }
        Ok(s)
    }

    /// True when nothing a workstation matches changed.
    pub fn is_unchanged(&self) -> bool {
        self.lines.is_empty()
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "catalog: {} tools (was {}: {} added, {} removed); {} names, paths and PE strings (was {}: {} added, {} removed)",
            self.tools_after,
            self.tools_before,
            self.tools_added,
            self.tools_removed,
            self.values_after,
            self.values_before,
            self.values_added,
            self.values_removed
        )?;
        for l in &self.lines {
            writeln!(f, "  {l}")?;
        }
        Ok(())
    }
}

fn join(values: &[&String]) -> String {
    values
        .iter()
        .map(|v| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_and_values_added_and_removed_are_listed() {
        let old = "[[tool]]\nid = \"a\"\nname = \"A\"\nexecutables = [\"a.exe\", \"old.exe\"]\n\n[[tool]]\nid = \"gone\"\nname = \"Gone\"\nexecutables = [\"g.exe\"]\n";
        let new = "[[tool]]\nid = \"a\"\nname = \"A\"\nexecutables = [\"a.exe\", \"new.exe\"]\nproducts = [\"A Product\"]\n\n[[tool]]\nid = \"b\"\nname = \"B\"\nexecutables = [\"b.exe\"]\n";
        let s = Summary::between(old, new).unwrap();
        assert_eq!((s.tools_before, s.tools_after), (2, 2));
        assert_eq!((s.tools_added, s.tools_removed), (1, 1));
        assert_eq!((s.values_added, s.values_removed), (3, 2));
        assert_eq!(
            s.lines,
            [
                "~ a: +executables \"new.exe\"; -executables \"old.exe\"; +products \"A Product\"",
                "+ b (B): +executables \"b.exe\"",
                "- gone (Gone): -executables \"g.exe\"",
            ]
        );
        assert!(Summary::between(new, new).unwrap().is_unchanged());
        let respelled = new.replace("b.exe", "B.EXE");
        assert!(
            Summary::between(new, &respelled).unwrap().is_unchanged(),
            "a name spelled differently matches the same programs"
        );
    }
}
