use super::*;

const CURATED: &str =
    "[[tool]]\nid = \"anydesk\"\nname = \"AnyDesk\"\nexecutables = [\"anydesk\"]\n";
const DENY: &str = "[[name]]\nvalue = \"setup.exe\"\nwhy = \"x\"\n\
                    [[exclude]]\nentry = \"lolrmm:nvda.yaml\"\nwhy = \"screen reader\"\n";

fn entry(reference: &str, name: &str, exes: &[&str]) -> Entry {
    let mut e = Entry::new(reference, name);
    for x in exes {
        e.add_executable(x);
    }
    e
}

fn run(snapshots: &[Snapshot], aliases: &str) -> Output {
    generate(&Inputs {
        curated: CURATED,
        deny: DENY,
        aliases,
        snapshots,
    })
    .unwrap()
}

#[test]
fn sources_merge_into_one_tool_with_provenance_per_value() {
    let lolrmm = Snapshot::new(
        Source::Lolrmm,
        "abc",
        vec![entry(
            "foo.yaml",
            "Foo Remote",
            &["foorem.exe", "foosvc.exe"],
        )],
    );
    let splunk = Snapshot::new(
        Source::Splunk,
        "def",
        vec![entry(
            "Foo Remote Inc",
            "Foo Remote Inc",
            &["foorem.exe", "fooupd.exe"],
        )],
    );
    let out = run(&[splunk, lolrmm], "");
    assert_eq!(out.tools, 1, "{}", out.text);
    assert!(
        out.text
            .contains("executables = [\"foorem.exe\", \"foosvc.exe\", \"fooupd.exe\"]"),
        "{}",
        out.text
    );
    assert!(
        out.text
            .contains("sources = [\"lolrmm:foo.yaml\", \"splunk:Foo Remote Inc\"]"),
        "{}",
        out.text
    );
    assert!(
        out.text.contains(
            "#   executables: lolrmm: foosvc.exe; lolrmm+splunk: foorem.exe; splunk: fooupd.exe"
        ),
        "{}",
        out.text
    );
    assert!(out.joined[0].contains("splunk:Foo Remote Inc → foo-remote"));
    assert!(out.text.contains("lolrmm    LOLRMM"), "{}", out.text);
    assert!(out.text.contains("version abc, 1 entries"), "{}", out.text);
}

#[test]
fn aliases_and_names_reach_curated_ids_and_the_first_claim_wins() {
    let mut a = entry("anydesk.yaml", "AnyDesk", &["AnyDesk.exe"]);
    a.add_path(r"C:\Program Files\AnyDesk\*");
    a.add_path("/Applications/AnyDesk.app");
    let clone = entry(
        "clone.yaml",
        "Clone Tool",
        &["anydesk.exe", "clonetool.exe", "clonehelp.exe", "setup.exe"],
    );
    let sigma = entry(
        "rules/anydesk.yml",
        "Remote Access Tool - AnyDesk Execution",
        &["AnyDeskMSI.exe"],
    );
    let out = run(
        &[
            Snapshot::new(Source::Lolrmm, "v", vec![a, clone]),
            Snapshot::new(Source::Sigma, "w", vec![sigma]),
        ],
        "[[alias]]\nid = \"anydesk\"\nentries = [\"sigma:rules/anydesk.yml\"]\n",
    );
    assert!(out.text.contains("id = \"anydesk\""));
    assert!(
        out.text.contains("bundles = [\"AnyDesk.app\"]"),
        "{}",
        out.text
    );
    assert!(
        out.text
            .contains("executables = [\"AnyDesk.exe\", \"AnyDeskMSI.exe\"]"),
        "{}",
        out.text
    );
    assert_eq!(out.ambiguous.len(), 1, "{:?}", out.ambiguous);
    assert!(out.ambiguous[0].contains("kept for \"anydesk\", dropped from \"clone-tool\""));
    assert!(
        out.text
            .contains("executables = [\"clonehelp.exe\", \"clonetool.exe\"]"),
        "{}",
        out.text
    );
    assert!(out.generic.contains(&"setup.exe".to_string()));
}

#[test]
fn excluded_entries_and_empty_ones_are_listed_not_written() {
    let nvda = entry("nvda.yaml", "NVDA", &["nvdaremote.exe"]);
    let mut domains_only = Entry::new("d.yaml", "Dom Only");
    domains_only.add_domain("relay.example.com");
    let out = run(
        &[Snapshot::new(Source::Lolrmm, "v", vec![nvda, domains_only])],
        "",
    );
    assert_eq!(out.tools, 0);
    assert!(out.skipped[0].contains("excluded by not-by-name.toml — screen reader"));
    assert!(out.skipped[1].contains("domains only"), "{:?}", out.skipped);
}

#[test]
fn lolrmm_signers_count_only_when_they_name_the_tool() {
    let mut e = entry("level.yaml", "Level", &["levelrem.exe"]);
    e.add_signer("Level Software, Inc.");
    e.add_signer("win.rar GmbH");
    let mut r = entry("Pulseway", "Pulseway", &["pcmonitorsrv.exe"]);
    r.add_signer("MMSOFT Design Ltd.");
    let out = run(
        &[
            Snapshot::new(Source::Lolrmm, "v", vec![e]),
            Snapshot::new(Source::Surveyor, "v", vec![r]),
        ],
        "",
    );
    assert!(
        out.text.contains("signers = [\"Level Software, Inc.\"]"),
        "{}",
        out.text
    );
    assert!(out.text.contains("companies = [\"Level Software, Inc.\"]"));
    assert!(!out.text.contains("win.rar"));
    assert!(
        out.text.contains("signers = [\"MMSOFT Design Ltd.\"]"),
        "a curated inventory's signer is the vendor's: {}",
        out.text
    );
}

#[test]
fn short_patterns_and_generic_paths_are_dropped() {
    let mut e = entry("x.yaml", "Ex Tool", &["g2a*.exe", "extool*.exe"]);
    e.add_path(r"C:\Windows\System32\setup.exe");
    let out = run(&[Snapshot::new(Source::Lolrmm, "v", vec![e])], "");
    assert!(
        out.text.contains("executables = [\"extool*.exe\"]"),
        "{}",
        out.text
    );
    assert!(!out.text.contains("System32"), "{}", out.text);
    assert!(out.generic.contains(&"g2a*.exe".to_string()));
}

#[test]
fn output_does_not_depend_on_input_order() {
    let a = entry("a.yaml", "Ay Remote", &["ayrem.exe"]);
    let z = entry("z.yaml", "Zed Remote", &["zedrem.exe"]);
    let s1 = Snapshot::new(Source::Lolrmm, "v", vec![a.clone(), z.clone()]);
    let s2 = Snapshot::new(Source::Lolrmm, "v", vec![z, a]);
    let r = Snapshot::new(
        Source::Surveyor,
        "w",
        vec![entry("Zed", "Zed", &["zedrem.exe", "zedhelper.exe"])],
    );
    let one = run(&[s1, r.clone()], "");
    let two = run(&[r, s2], "");
    assert_eq!(one.text, two.text);
}

#[test]
fn an_alias_given_twice_is_an_error() {
    let err = generate(&Inputs {
        curated: CURATED,
        deny: DENY,
        aliases: "[[alias]]\nid = \"a\"\nentries = [\"lolrmm:x.yaml\"]\n[[alias]]\nid = \"b\"\nentries = [\"lolrmm:x.yaml\"]\n",
        snapshots: &[],
    })
    .unwrap_err();
    assert!(err.contains("given to both"), "{err}");
}

/// Guards "same inputs, same bytes" on the real data: the committed
/// snapshots regenerate the committed catalog exactly, twice in a row and
/// whatever order the snapshots are given in.
#[test]
fn committed_snapshots_regenerate_the_committed_catalog_byte_for_byte() {
    let dir = crate::catalog_dir();
    let c = crate::Committed::read(&dir).unwrap();
    assert_eq!(
        c.snapshots.len(),
        Source::ALL.len(),
        "a snapshot per source under config/catalog/sources/"
    );
    let first = c.generate(&c.snapshots).unwrap();
    let mut reversed = c.snapshots.clone();
    reversed.reverse();
    for s in &mut reversed {
        s.entries.reverse();
        *s = Snapshot::new(s.source, &s.version, std::mem::take(&mut s.entries));
    }
    let second = c.generate(&reversed).unwrap();
    assert_eq!(first.text, second.text, "generation is not deterministic");
    assert!(
        first.text == c.generated,
        "config/catalog/generated.toml is out of date: run cargo run -p xtask -- catalog\n{}",
        crate::summary::Summary::between(&c.generated, &first.text).unwrap()
    );
    // Each committed snapshot is in its canonical form too.
    for s in &c.snapshots {
        let path = crate::snapshot_path(&dir, s.source);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            s.to_text(),
            "{} is not in canonical form",
            path.display()
        );
    }
}
