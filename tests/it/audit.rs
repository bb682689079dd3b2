//! The audit log's chain on a real daemon's log: `varco audit verify`
//! accepts it whole, and names the line where a copy was edited, cut,
//! added to or reordered; a restarted daemon and a rotated log keep one
//! chain.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::support::{Daemon, Scratch, exits_within, varco_bin};

fn verify(files: &[&Path]) -> Output {
    Command::new(varco_bin())
        .args(["audit", "verify"])
        .args(files)
        .output()
        .unwrap()
}

/// A daemon's log with a few records: started, a blocked tool, stopped,
/// the chain head.
fn real_log(s: &Scratch) -> String {
    let config = s.write("approved-windows.toml", "mode = \"block\"\n");
    let mut d = Daemon::start(s, &["--config", config.to_str().unwrap()]);
    let tool = s.fake_tool("AnyDesk");
    let mut child = Command::new(&tool).arg("60").spawn().unwrap();
    assert!(exits_within(&mut child, Duration::from_secs(3)));
    d.wait_for(|r| r["event"] == "blocked", Duration::from_secs(8))
        .expect("no blocked record");
    d.stop();
    std::fs::read_to_string(&d.audit).unwrap()
}

fn write_lines(s: &Scratch, name: &str, lines: &[&str]) -> std::path::PathBuf {
    s.write(name, &format!("{}\n", lines.join("\n")))
}

#[test]
fn verify_accepts_a_real_log_and_names_each_tampered_line() {
    let s = Scratch::new("audit-verify");
    let text = real_log(&s);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 4, "{text}");
    let out = verify(&[&s.path("audit.jsonl")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("chain intact, {} record(s) checked", lines.len())),
        "{stdout}"
    );
    assert!(stdout.contains("starts: a new log (64 zeros)"), "{stdout}");

    // The blocked record is line 2 or later; tamper around line 2.
    let blocked = lines
        .iter()
        .position(|l| l.contains("\"event\":\"blocked\""))
        .unwrap();
    let mut edited = lines.clone();
    let changed = lines[blocked].replace("\"event\":\"blocked\"", "\"event\":\"allowed\"");
    edited[blocked] = &changed;
    let mut deleted = lines.clone();
    deleted.remove(blocked);
    let mut inserted = lines.clone();
    inserted.insert(1, lines[1]);
    let mut swapped = lines.clone();
    swapped.swap(1, 2);
    let cases = [
        ("edited", edited, blocked + 2),
        ("deleted", deleted, blocked + 1),
        ("inserted", inserted, 3),
        ("swapped", swapped, 2),
    ];
    for (what, copy, line) in cases {
        let path = write_lines(&s, &format!("{what}.jsonl"), &copy);
        let out = verify(&[&path]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(
            err.contains(&format!(
                "{what}.jsonl: line {line}: its prev is not the SHA-256 of line {}",
                line - 1
            )),
            "{what}: expected line {line}: {err}"
        );
    }
}

#[test]
fn a_restarted_daemon_and_a_rotated_log_keep_one_chain() {
    let s = Scratch::new("audit-restart");
    let first = real_log(&s);
    // Restarted on the same log: it goes on from the last line.
    let second = real_log(&s);
    assert!(second.starts_with(&first));
    let out = verify(&[&s.path("audit.jsonl")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("{} record(s) checked", second.lines().count())),
        "{stdout}"
    );
    // Rotated as logrotate does: the new file chains to audit.jsonl.1.
    std::fs::rename(s.path("audit.jsonl"), s.path("audit.jsonl.1")).unwrap();
    real_log(&s);
    let out = verify(&[&s.path("audit.jsonl")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("starts: after the last line of")
            && stdout.contains("audit.jsonl.1 (checked)"),
        "{stdout}"
    );
    let both = verify(&[&s.path("audit.jsonl.1"), &s.path("audit.jsonl")]);
    assert!(both.status.success());
    // The end of the old file cut off: the link from the new one shows it.
    let old = std::fs::read_to_string(s.path("audit.jsonl.1")).unwrap();
    let kept: Vec<&str> = old.lines().collect();
    write_lines(&s, "audit.jsonl.1", &kept[..kept.len() - 1]);
    let out = verify(&[&s.path("audit.jsonl")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("line 1: its prev is not the SHA-256 of the last line of"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
