use super::*;

fn facts(name: &str, exe: Option<&str>) -> ProcessFacts {
    ProcessFacts {
        pid: 10,
        parent_pid: None,
        start_marker: 1,
        name: name.into(),
        exe: exe.map(Into::into),
        cmdline: vec![],
        uid: None,
        user: None,
    }
}

fn id_of(catalog: &Catalog, name: &str) -> Option<String> {
    catalog.lookup_name(name).map(|t| t.id.clone())
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
    assert!(catalog.tools().len() >= 250, "{}", catalog.tools().len());
}

#[test]
fn lolrmm_and_curated_entries_with_one_id_are_one_tool() {
    let catalog = Catalog::embedded().unwrap();
    let anydesk = catalog.get("anydesk").unwrap();
    assert!(anydesk.sources.iter().any(|s| s == "lolrmm:anydesk.yaml"));
    assert!(anydesk.executables.contains(&"anydesk".to_string()));
    assert!(anydesk.domains.iter().any(|d| d.contains("anydesk.com")));
    let ultravnc = catalog.get("ultravnc").unwrap();
    assert!(
        ultravnc
            .sources
            .contains(&"lolrmm:ultravnc.yaml".to_string())
    );
    assert!(
        ultravnc
            .sources
            .contains(&"lolrmm:ultra_vnc.yaml".to_string())
    );
    let qa = catalog.get("quickassist").unwrap();
    assert!(
        qa.sources
            .iter()
            .any(|s| s.contains("microsoft_quick_assist"))
    );
}

#[test]
fn matches_case_insensitively_with_or_without_exe_and_copy_suffix() {
    let catalog = Catalog::embedded().unwrap();
    for name in [
        "AnyDesk.exe",
        "ANYDESK",
        "anydesk",
        r"C:\x\AnyDesk.EXE",
        "AnyDesk (1).exe",
        "AnyDesk(2).exe",
        "AnyDesk_Setup.exe",
    ] {
        assert_eq!(id_of(&catalog, name).as_deref(), Some("anydesk"), "{name}");
    }
    assert!(catalog.lookup_name("firefox").is_none());
    assert!(catalog.lookup_name("").is_none());
}

#[test]
fn exe_only_names_leave_the_unix_program_alone() {
    let catalog = Catalog::embedded().unwrap();
    assert!(id_of(&catalog, "KiTTY.exe").is_some());
    assert_eq!(id_of(&catalog, "kitty"), None, "the Linux terminal");
}

#[test]
fn generic_names_are_never_tools() {
    let catalog = Catalog::embedded().unwrap();
    for name in [
        "setup.exe",
        "update.exe",
        "agent.exe",
        "dwm.exe",
        "mstsc.exe",
        "nvda.exe",
        "dd",
    ] {
        assert_eq!(id_of(&catalog, name), None, "{name}");
    }
}

#[test]
fn identifies_by_executable_even_when_comm_differs() {
    let catalog = Catalog::embedded().unwrap();
    let found = catalog
        .identify(&facts("sleep", Some("/tmp/t/AnyDesk")))
        .unwrap();
    assert_eq!(found.tool.id, "anydesk");
    assert_eq!(found.matched, "AnyDesk");
    assert_eq!(found.matched_by, MatchedBy::Name);
    assert!(
        catalog
            .identify(&facts("bash", Some("/usr/bin/bash")))
            .is_none()
    );
}

#[test]
fn identifies_by_install_path_bundle_and_appimage() {
    let catalog = Catalog::embedded().unwrap();
    let by_path = catalog
        .identify(&facts(
            "x",
            Some(r"C:\Program Files (x86)\AnyDesk\helper-renamed.exe"),
        ))
        .unwrap();
    assert_eq!(
        (by_path.tool.id.as_str(), by_path.matched_by),
        ("anydesk", MatchedBy::Path)
    );
    let linux = catalog
        .identify(&facts("x", Some("/opt/teamviewer/tv_bin/renamed")))
        .unwrap();
    assert_eq!(
        (linux.tool.id.as_str(), linux.matched_by),
        ("teamviewer", MatchedBy::Path)
    );
    let bundle = catalog
        .identify(&facts(
            "x",
            Some("/Applications/TeamViewer.app/Contents/MacOS/helper"),
        ))
        .unwrap();
    assert_eq!(bundle.tool.id, "teamviewer");
    assert_eq!(bundle.matched, "teamviewer.app");
    let appimage = catalog
        .identify(&facts(
            "x",
            Some("/home/op/Scaricati/RustDesk-1.3.2-x86_64.AppImage"),
        ))
        .unwrap();
    assert_eq!(appimage.tool.id, "rustdesk");
    assert!(
        catalog
            .identify(&facts(
                "x",
                Some(r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE")
            ))
            .is_none()
    );
    assert!(
        catalog
            .identify(&facts(
                "x",
                Some("/Applications/Safari.app/Contents/MacOS/Safari")
            ))
            .is_none()
    );
}

#[test]
fn identifies_by_content_evidence_in_order() {
    let catalog = Catalog::embedded().unwrap();
    let renamed = facts("fattura.exe", Some(r"C:\Users\op\Downloads\fattura.exe"));
    assert!(catalog.identify(&renamed).is_none());
    let by = |e: Evidence| {
        catalog
            .identify_with(&renamed, &e)
            .map(|f| (f.tool.id.clone(), f.matched_by))
    };
    assert_eq!(
        by(Evidence {
            original_filename: Some("AnyDesk.exe".into()),
            ..Evidence::default()
        }),
        Some(("anydesk".into(), MatchedBy::PeOriginalFilename))
    );
    assert_eq!(
        by(Evidence {
            product: Some("TeamViewer".into()),
            ..Evidence::default()
        }),
        Some(("teamviewer".into(), MatchedBy::Product))
    );
    assert_eq!(
        by(Evidence {
            signers: vec![
                "DigiCert Trusted G4 Code Signing".into(),
                "AnyDesk Software GmbH".into()
            ],
            ..Evidence::default()
        }),
        Some(("anydesk".into(), MatchedBy::Signer))
    );
    assert_eq!(
        by(Evidence {
            markers: vec!["583131564e435f41505053484152455f434c49454e545f4d41534b".into()],
            ..Evidence::default()
        }),
        Some(("x11vnc".into(), MatchedBy::Content))
    );
    for vendor in [
        "ESET, spol. s r.o.",
        "GoTo Technologies USA, LLC",
        "Microsoft Corporation",
    ] {
        let e = Evidence {
            company: Some(vendor.into()),
            signers: vec![vendor.into()],
            ..Evidence::default()
        };
        assert_eq!(by(e), None, "{vendor} also signs everyday software");
    }
    assert_eq!(
        by(Evidence {
            original_filename: Some("WINWORD.EXE".into()),
            product: Some("Microsoft Office".into()),
            company: Some("Microsoft Corporation".into()),
            signers: vec!["Microsoft Corporation".into()],
            ..Evidence::default()
        }),
        None
    );
}

#[test]
fn markers_never_appear_as_bytes_in_the_embedded_text() {
    // varco's own binary embeds these files: a marker in clear would make
    // every varco build (and test binary) look like the tool.
    let catalog = Catalog::embedded().unwrap();
    let mut count = 0;
    for (bytes, _) in catalog.markers() {
        count += 1;
        for (origin, text) in EMBEDDED.iter().chain([&("not-by-name", NOT_BY_NAME)]) {
            assert!(
                !text
                    .as_bytes()
                    .windows(bytes.len())
                    .any(|w| w.eq_ignore_ascii_case(bytes)),
                "a marker is in clear in {origin}"
            );
        }
    }
    assert!(count >= 1);
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
    assert!(
        shown.contains(
            "extra.toml:9:16: executable \"TeamViewer.exe\" already belongs to tool \"teamviewer\""
        ),
        "{shown}"
    );
    assert!(catalog.get("mine").is_none(), "nothing is added on error");
}

#[test]
fn rejects_generic_names_short_patterns_and_bad_markers_with_lines() {
    let mut catalog = Catalog::embedded().unwrap();
    let text = "[[tool]]\nid = \"gestionale-remoto\"\nname = \"G\"\nexecutables = [\"setup.exe\", \"gr*\"]\nmarkers = [\"zz\", \"41\"]\npaths = [\"C:\\\\Program Files\\\\*\"]\n";
    let shown = catalog.add_file("it.toml", text).unwrap_err().to_string();
    assert!(
        shown.contains("it.toml:4:16: executable \"setup.exe\" is too generic"),
        "{shown}"
    );
    assert!(
        shown.contains("it.toml:4:29: name pattern \"gr*\" starts with fewer than 4"),
        "{shown}"
    );
    assert!(
        shown.contains("it.toml:5:12: marker \"zz\" is not hexadecimal"),
        "{shown}"
    );
    assert!(
        shown.contains("it.toml:5:18: marker \"41\" is shorter than 8 bytes"),
        "{shown}"
    );
    assert!(
        shown.contains("it.toml:6:10: path \"C:\\Program Files\\*\" names no folder"),
        "{shown}"
    );
}

#[test]
fn it_extension_adds_new_tools() {
    let mut catalog = Catalog::embedded().unwrap();
    catalog
        .add_file(
            "it.toml",
            "[[tool]]\nid = \"gestionale-remoto\"\nname = \"Assistenza Gestionale\"\nexecutables = [\"gestass.exe\"]\npaths = ['C:\\Programmi\\GestAss\\*']\n",
        )
        .unwrap();
    assert_eq!(
        id_of(&catalog, "GESTASS.EXE").as_deref(),
        Some("gestionale-remoto")
    );
    let f = catalog
        .identify(&facts("x", Some(r"C:\Programmi\GestAss\other.exe")))
        .unwrap();
    assert_eq!(f.matched_by, MatchedBy::Path);
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

#[test]
fn glob_matches_stars_across_folders() {
    assert!(glob(
        "c:/program files*/anydesk/*",
        "c:/program files (x86)/anydesk/x.exe"
    ));
    assert!(glob("rustdesk*", "rustdesk-1.2"));
    assert!(!glob("rustdesk*", "xrustdesk"));
    let atera = PathGlob::new("c:/program files/atera networks", 0);
    assert!(atera.matches("c:/program files/atera networks/a/b.exe"));
    assert!(!atera.matches("c:/program files/atera networksx/b.exe"));
}
