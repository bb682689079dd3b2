//! Red Canary Surveyor: `definitions/remote-admin.json`, an object of tools,
//! each with `process_name` (file names, some with `*`), `internal_name`
//! (PE `InternalName`, often the original name without `.exe`),
//! `digsig_publisher` (signers), `domain` and `cmdline` (not used: a
//! command line is not an identity).

use std::path::Path;

use serde_json::Value;

use crate::facts::Entry;

pub fn import(path: &Path) -> Result<Vec<Entry>, String> {
    let text = super::read(path)?;
    entries(&text).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn entries(text: &str) -> Result<Vec<Entry>, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let tools = doc
        .as_object()
        .ok_or("expected an object of tools (is this remote-admin.json?)")?;
    let mut out = Vec::new();
    for (tool, fields) in tools {
        let mut e = Entry::new(tool, tool);
        let strings = |key: &str| -> Vec<String> {
            match &fields[key] {
                Value::Array(a) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                Value::String(s) => vec![s.clone()],
                _ => Vec::new(),
            }
        };
        for n in strings("process_name") {
            e.add_executable(&n);
        }
        for s in strings("digsig_publisher") {
            e.add_signer(&s);
        }
        for d in strings("domain") {
            e.add_domain(&d);
        }
        out.push(e);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_signers_and_domains() {
        let json = r#"{
            "AnyDesk": {"process_name": ["anydesk.exe"], "domain": ["net.anydesk.com"],
                        "digsig_publisher": ["philandro Software GmbH"]},
            "Chrome Remote Desktop": {"cmdline": ["efmjfjelnicpmdcmfikempdhlmainjcb*"]},
            "Ammyy Admin": {"process_name": ["aa_v*.exe"]}
        }"#;
        let e = entries(json).unwrap();
        assert_eq!(e.len(), 3);
        let anydesk = e.iter().find(|e| e.name == "AnyDesk").unwrap();
        assert!(anydesk.signers.contains("philandro Software GmbH"));
        assert!(anydesk.domains.contains("net.anydesk.com"));
        let crd = e
            .iter()
            .find(|e| e.name == "Chrome Remote Desktop")
            .unwrap();
        assert!(!crd.has_matchers(), "a command line is not an identity");
        let ammyy = e.iter().find(|e| e.name == "Ammyy Admin").unwrap();
        assert!(ammyy.executables.contains("aa_v*.exe"));
    }

    #[test]
    fn another_json_is_refused() {
        assert!(entries("[1, 2]").is_err());
    }
}
