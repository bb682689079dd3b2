//! The catalog of remote-access tools: data, not code.
//!
//! The list of tools is a reviewed TOML file under `config/catalog/`,
//! embedded in the binary so a workstation never depends on a file the
//! operator could delete. IT can add in-house or newly seen tools with a
//! catalog file of its own, validated the same way.
#![forbid(unsafe_code)]

use std::collections::HashMap;

use serde::Deserialize;
use toml::Spanned;

use crate::diagnostic::{Diagnostic, render_all};
use crate::process::ProcessFacts;

/// The embedded catalog files, in the order they are merged.
const EMBEDDED: &[(&str, &str)] = &[(
    "config/catalog/curated.toml",
    include_str!("../config/catalog/curated.toml"),
)];

/// One remote-access product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    /// Stable lowercase slug used by the windows file and the audit log.
    pub id: String,
    /// Name shown to the operator.
    pub name: String,
    /// Executable file names, normalised (lowercase, no `.exe`).
    pub executables: Vec<String>,
}

/// How a process was recognised; recorded in the audit log so IT can judge
/// a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// The executable's (or argv\[0\]'s, or the process's) file name.
    Name,
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

/// All known tools, indexed for matching.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    tools: Vec<Tool>,
    by_executable: HashMap<String, usize>,
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
}

impl Catalog {
    /// The catalog compiled into the binary. It is validated by the test
    /// suite, so an error here is a build defect, reported rather than
    /// panicking.
    pub fn embedded() -> Result<Catalog, CatalogError> {
        let mut catalog = Catalog::default();
        for (origin, text) in EMBEDDED {
            catalog.add_file(origin, text)?;
        }
        Ok(catalog)
    }

    /// Adds the tools in one catalog file (TOML text); `origin` names it in
    /// errors. Nothing is added when any entry is wrong.
    pub fn add_file(&mut self, origin: &str, text: &str) -> Result<(), CatalogError> {
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
        let mut next = self.clone();
        let mut diags = Vec::new();
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
            if next.tools.iter().any(|t| t.id == id) {
                diags.push(Diagnostic::at(
                    text,
                    id_span,
                    format!("tool id \"{id}\" is defined twice"),
                    "give each tool one entry, or a different id",
                ));
                continue;
            }
            if entry.executables.is_empty() {
                diags.push(Diagnostic::at(
                    text,
                    id_span,
                    format!("tool \"{id}\" has no executables"),
                    "list at least one executable file name",
                ));
                continue;
            }
            let index = next.tools.len();
            let mut executables = Vec::new();
            for exe in entry.executables {
                let span = Some(exe.span());
                let normalised = normalise(exe.get_ref());
                if normalised.is_empty() || normalised.contains(['/', '\\']) {
                    diags.push(Diagnostic::at(
                        text,
                        span,
                        format!("\"{}\" is not an executable file name", exe.get_ref()),
                        "write the file name only, without folders",
                    ));
                    continue;
                }
                match next.by_executable.get(&normalised) {
                    Some(&other) if other != index => diags.push(Diagnostic::at(
                        text,
                        span,
                        format!(
                            "executable \"{}\" already belongs to tool \"{}\"",
                            exe.get_ref(),
                            next.tools[other].id
                        ),
                        "an executable name may name one tool only",
                    )),
                    Some(_) => {}
                    None => {
                        next.by_executable.insert(normalised.clone(), index);
                        executables.push(normalised);
                    }
                }
            }
            next.tools.push(Tool {
                id,
                name: entry.name,
                executables,
            });
        }
        if diags.is_empty() {
            *self = next;
            Ok(())
        } else {
            Err(fail(diags))
        }
    }

    /// Recognises a process as a remote-access tool, or `None` when it is
    /// not one.
    pub fn identify(&self, facts: &ProcessFacts) -> Option<Identification<'_>> {
        facts.candidate_names().find_map(|name| {
            self.lookup_name(name).map(|tool| Identification {
                tool,
                matched_by: MatchedBy::Name,
                matched: name.to_string(),
            })
        })
    }

    /// The tool an executable file name belongs to (case-insensitive, with
    /// or without `.exe`).
    pub fn lookup_name(&self, name: &str) -> Option<&Tool> {
        let name = crate::process::file_name_of(name);
        self.by_executable
            .get(&normalise(name))
            .map(|&i| &self.tools[i])
    }

    /// The tool with this id.
    pub fn get(&self, id: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.id == id)
    }

    /// Every tool, in catalog order.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }
}

/// Lowercase, without a trailing `.exe`, so `AnyDesk.EXE`, `anydesk.exe`
/// and `anydesk` compare equal.
fn normalise(name: &str) -> String {
    let lower = name.trim().to_lowercase();
    match lower.strip_suffix(".exe") {
        Some(stem) => stem.to_string(),
        None => lower,
    }
}

fn is_slug(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.starts_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(name: &str, exe: Option<&str>) -> ProcessFacts {
        ProcessFacts {
            pid: 10,
            parent_pid: None,
            start_marker: 1,
            name: name.into(),
            exe: exe.map(Into::into),
            cmdline: vec![],
            user: None,
        }
    }

    #[test]
    fn embedded_catalog_is_valid_and_has_the_common_tools() {
        let catalog = Catalog::embedded().unwrap();
        for id in [
            "anydesk",
            "teamviewer",
            "rustdesk",
            "supremo",
            "quickassist",
            "screenconnect",
            "splashtop",
            "ultraviewer",
            "ammyy",
            "tightvnc",
            "realvnc",
            "ultravnc",
            "tigervnc",
            "x11vnc",
            "xrdp",
            "gnome-remote-desktop",
            "krfb",
            "logmein",
            "remoteutilities",
            "dwservice",
            "chrome-remote-desktop",
        ] {
            assert!(catalog.get(id).is_some(), "{id} missing");
        }
        assert!(catalog.tools().len() >= 25);
    }

    #[test]
    fn matches_case_insensitively_with_or_without_exe() {
        let catalog = Catalog::embedded().unwrap();
        for name in ["AnyDesk.exe", "ANYDESK", "anydesk", r"C:\x\AnyDesk.EXE"] {
            assert_eq!(
                catalog.lookup_name(name).map(|t| t.id.as_str()),
                Some("anydesk"),
                "{name}"
            );
        }
        assert!(catalog.lookup_name("anydesk.exe.bak").is_none());
        assert!(catalog.lookup_name("firefox").is_none());
    }

    #[test]
    fn identifies_by_executable_even_when_comm_differs() {
        let catalog = Catalog::embedded().unwrap();
        let found = catalog
            .identify(&facts("sleep", Some("/tmp/t/AnyDesk")))
            .unwrap();
        assert_eq!(found.tool.id, "anydesk");
        assert_eq!(found.matched, "AnyDesk");
        assert!(
            catalog
                .identify(&facts("bash", Some("/usr/bin/bash")))
                .is_none()
        );
    }

    #[test]
    fn rejects_duplicate_ids_and_shared_executables_with_lines() {
        let mut catalog = Catalog::embedded().unwrap();
        let text = "[[tool]]\nid = \"anydesk\"\nname = \"x\"\nexecutables = [\"y\"]\n\n[[tool]]\nid = \"mine\"\nname = \"m\"\nexecutables = [\"TeamViewer.exe\"]\n";
        let err = catalog.add_file("extra.toml", text).unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.contains("extra.toml:2:6: tool id \"anydesk\" is defined twice"),
            "{shown}"
        );
        assert!(shown.contains("extra.toml:9:16: executable \"TeamViewer.exe\" already belongs to tool \"teamviewer\""), "{shown}");
        assert!(catalog.get("mine").is_none(), "nothing is added on error");
    }

    #[test]
    fn rejects_unknown_keys_with_position() {
        let mut catalog = Catalog::default();
        let err = catalog
            .add_file(
                "x.toml",
                "[[tool]]\nid = \"a\"\nname = \"A\"\nexecutable = [\"a\"]\n",
            )
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("x.toml:4:1: unknown field `executable`"),
            "{err}"
        );
    }
}
