//! Splunk Security Content: the `remote_access_software` lookup, a CSV with
//! one row per (tool, fact). Two column layouts are published:
//! - 2024 (`lookups/remote_access_software20240726.csv`): `description`
//!   (the tool), `remote_domain`, `remote_utility` (a file name, pattern or
//!   bundle), `remote_utility_fileinfo` (a PE string pattern), …;
//! - 2025 (`lookups/csv/remote_access_software.csv`): `app` (the tool),
//!   `match_pattern`, `domain`, `file_path`, `file_name`, `file_info`, ….
//!
//! Rows of one tool become one entry. PE strings with `*` are patterns the
//! catalog cannot match exactly and are left out, as is `match_pattern`
//! (a free pattern of the tool's name, not a program name).

use std::path::Path;

use crate::facts::Entry;

pub fn import(path: &Path) -> Result<Vec<Entry>, String> {
    let text = super::read(path)?;
    entries(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Which column holds which fact, found from the header.
struct Columns {
    tool: usize,
    name: Option<usize>,
    path: Option<usize>,
    info: Option<usize>,
    domain: Option<usize>,
}

impl Columns {
    fn of(header: &csv::StringRecord) -> Result<Columns, String> {
        let find = |names: &[&str]| header.iter().position(|h| names.contains(&h.trim()));
        let tool = find(&["app"])
            .or_else(|| find(&["description"]).filter(|_| find(&["remote_utility"]).is_some()))
            .ok_or(
                "no `app` (2025 layout) or `description` + `remote_utility` (2024 layout) column: \
                 is this the remote_access_software lookup?",
            )?;
        Ok(Columns {
            tool,
            name: find(&["file_name", "remote_utility"]),
            path: find(&["file_path"]),
            info: find(&["file_info", "remote_utility_fileinfo"]),
            domain: find(&["domain", "remote_domain"]),
        })
    }
}

pub fn entries(text: &str) -> Result<Vec<Entry>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let cols = Columns::of(reader.headers().map_err(|e| e.to_string())?)?;
    let mut out = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| e.to_string())?;
        let get = |i: Option<usize>| i.and_then(|i| row.get(i)).unwrap_or("").trim();
        let tool = get(Some(cols.tool));
        if tool.is_empty() {
            continue;
        }
        let mut e = Entry::new(tool, tool);
        let name = get(cols.name);
        if name.to_lowercase().ends_with(".app") {
            e.bundles.insert(name.to_string());
        } else {
            e.add_executable(name);
        }
        e.add_path(get(cols.path));
        e.add_product(get(cols.info));
        e.add_domain(get(cols.domain));
        out.push(e);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Snapshot;
    use crate::import::Source;

    #[test]
    fn reads_the_2024_layout() {
        let csv = "description,remote_domain,remote_utility,remote_utility_fileinfo,remote_appid,isutility,category,comment_reference,last_update\n\
AnyDesk,net.anydesk.com,anydesk.exe,anydesk*,anydesk,TRUE,RMM,https://x,2/7/2024\n\
AnyDesk,,,philandro Software*,anydesk,TRUE,RMM,https://x,2/7/2024\n\
Apple Remote Desktop,user_managed,ARDAgent.app,,apple-remote-desktop,TRUE,RMM,https://x,2/24/2024\n\
Echoware,,echoware.dll,,,TRUE,RMM,,2/7/2024\n\
Acronis,cloud.acronis.com,AcronisCyberProtectConnectAgent.exe,Acronis Cyber Protect Connect Agent,,TRUE,RMM,x,2/26/2024\n";
        let s = Snapshot::new(Source::Splunk, "v", entries(csv).unwrap());
        let names: Vec<_> = s.entries.iter().map(|e| e.reference.as_str()).collect();
        assert_eq!(
            names,
            ["Acronis", "AnyDesk", "Apple Remote Desktop", "Echoware"]
        );
        let anydesk = &s.entries[1];
        assert!(anydesk.executables.contains("anydesk.exe"));
        assert!(anydesk.products.is_empty(), "patterns are not PE strings");
        assert!(anydesk.domains.contains("net.anydesk.com"));
        assert!(s.entries[2].bundles.contains("ARDAgent.app"));
        assert!(s.entries[2].domains.is_empty(), "user_managed is no domain");
        assert!(!s.entries[3].has_matchers(), "a DLL is not a program");
        assert!(
            s.entries[0]
                .products
                .contains("Acronis Cyber Protect Connect Agent")
        );
    }

    #[test]
    fn reads_the_2025_layout() {
        let csv = "app,\"match_pattern\",domain,\"file_path\",\"file_name\",\"file_info\",category,reference,description\n\
\"Access Remote PC\",\"AccessRemotePC*\",,,,,RMM,\"\",\"prose, with a comma\"\n\
\"Access Remote PC\",,,\"C:\\Program Files (x86)\\RemotePC\\*\",,,RMM,\"\",\"prose\"\n\
Action1,,\"*.action1.com\",,,,RMM,\"\",\"prose\"\n\
Action1,,,,\"action1_agent.exe\",,RMM,\"\",\"prose\"\n";
        let s = Snapshot::new(Source::Splunk, "v", entries(csv).unwrap());
        assert_eq!(s.entries.len(), 2);
        assert!(
            s.entries[0]
                .paths
                .contains("C:/Program Files (x86)/RemotePC/*")
        );
        assert!(
            s.entries[0].executables.is_empty(),
            "match_pattern is not a name"
        );
        assert!(s.entries[1].executables.contains("action1_agent.exe"));
        assert!(s.entries[1].domains.contains("*.action1.com"));
    }

    #[test]
    fn another_csv_is_refused() {
        assert!(entries("a,b\n1,2\n").is_err());
    }
}
