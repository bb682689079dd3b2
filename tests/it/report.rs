//! `varco report` on audit records written by a real daemon run: a
//! blocked fake tool, then the Markdown and HTML reports checked for what
//! the Polizia Postale and the Direzione Centrale need.

use std::process::Command;
use std::time::Duration;

use crate::support::{Daemon, Scratch, exits_within, open_window, varco_bin};

fn sha256sum(path: &std::path::Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn report_lists_the_blocked_tool_with_its_hash_the_windows_and_the_contact() {
    let s = Scratch::new("report");
    // A window for TeamViewer only: AnyDesk is blocked; the window shows
    // up in the report as the one in force.
    let config = s.write(
        "approved-windows.toml",
        &open_window("INC-2025-0142", "\"teamviewer\"").replacen(
            "phone = \"+39 06 1234567\"\n",
            "phone = \"+39 06 1234567\"\nreferent = \"CED del Comune, interno 204\"\n",
            1,
        ),
    );
    let tool = s.fake_tool("AnyDesk");
    let hash = sha256sum(&tool);
    let mut d = Daemon::start(&s, &["--config", config.to_str().unwrap()]);
    let mut child = Command::new(&tool).arg("60").spawn().unwrap();
    assert!(exits_within(&mut child, Duration::from_secs(3)));
    d.wait_for(
        |r| r["event"] == "blocked" && r["pid"] == child.id(),
        Duration::from_secs(8),
    )
    .expect("no blocked record");
    d.stop();

    // The copy the enforcer keeps next to the audit log (named in the
    // notification) exists already.
    let auto = s.path("rapporto-incidente.html");
    assert!(auto.exists(), "no automatic report at {}", auto.display());
    assert!(std::fs::read_to_string(&auto).unwrap().contains(&hash));

    // The file is gone by the time IT writes the report: the hash comes
    // from the record, taken at the time of the event.
    std::fs::remove_file(&tool).unwrap();
    let out = s.path("rapporto");
    let status = Command::new(varco_bin())
        .args(["report", "--since", "2020-01-01", "--out"])
        .arg(&out)
        .arg("--audit-log")
        .arg(&d.audit)
        .arg("--config")
        .arg(&config)
        .status()
        .unwrap();
    assert!(status.success());
    let md = std::fs::read_to_string(s.path("rapporto.md")).unwrap();
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let pid = child.id().to_string();
    for needle in [
        "# Rapporto di incidente",
        "Polizia Postale",
        "Direzione Centrale per i Servizi Demografici",
        "## Eventi bloccati o segnalati (1)",
        "AnyDesk bloccato",
        tool.to_str().unwrap(),
        &hash,
        "calcolato da varco al momento dell'evento",
        "nome del file eseguibile",
        "blocco (lo strumento viene chiuso)",
        "processi fermati: 1",
        &pid,
        "INC-2025-0142",
        "Mario Rossi",
        "Esempio Informatica S.r.l.",
        "+39 06 1234567",
        "CED del Comune, interno 204",
        host.as_str(),
    ] {
        assert!(
            md.contains(needle),
            "missing {needle:?} in the report:\n{md}"
        );
    }
    let html = std::fs::read_to_string(s.path("rapporto.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("@media print") && html.contains("@page"));
    assert!(html.contains(&hash) && html.contains("+39 06 1234567"));
    assert!(
        !html.contains("<script") && !html.contains("http"),
        "not self-contained"
    );

    // --since after the event: nothing to report, and it says so.
    let tomorrow = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(48))
        .strftime("%Y-%m-%d")
        .to_string();
    let out = Command::new(varco_bin())
        .args(["report", "--since", &tomorrow, "--audit-log"])
        .arg(&d.audit)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        md.contains("(0)") && md.contains("Nessun accesso remoto"),
        "{md}"
    );

    let bad = Command::new(varco_bin())
        .args(["report", "--since", "ieri", "--audit-log"])
        .arg(&d.audit)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("YYYY-MM-DD"));
}

/// A user controls the path (and so the command line) of what they run:
/// the report shows it as text, never as a link, HTML or a table cell of
/// its own; IT's copy is readable by owner and group only, the operator's
/// copy by the operator.
#[cfg(unix)]
#[test]
fn report_shows_a_hostile_path_as_text_and_is_not_world_readable() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new("report-hostile");
    let config = s.write("approved-windows.toml", "mode = \"block\"\n");
    let dir = s.path("a|b*`x`[x](javascript:alert(1))<script>alert(1)<");
    std::fs::create_dir_all(&dir).unwrap();
    let tool = dir.join("AnyDesk");
    crate::support::run_ok(
        Command::new("cp")
            .arg(crate::support::which("sleep"))
            .arg(&tool),
    );
    let mut d = Daemon::start(&s, &["--config", config.to_str().unwrap()]);
    let mut child = Command::new(&tool).arg("60").spawn().unwrap();
    assert!(exits_within(&mut child, Duration::from_secs(3)));
    d.wait_for(|r| r["event"] == "blocked", Duration::from_secs(8))
        .expect("no blocked record");
    d.stop();
    let out = s.path("rapporto");
    let status = Command::new(varco_bin())
        .args(["report", "--out"])
        .arg(&out)
        .arg("--audit-log")
        .arg(&d.audit)
        .arg("--config")
        .arg(&config)
        .status()
        .unwrap();
    assert!(status.success());
    let md = std::fs::read_to_string(s.path("rapporto.md")).unwrap();
    let html = std::fs::read_to_string(s.path("rapporto.html")).unwrap();
    // In a code span (the path) nothing needs escaping but the fence.
    assert!(md.contains(&format!("``{}``", tool.display())), "{md}");
    assert!(
        !html.contains("<script>") && html.contains("&lt;script&gt;"),
        "{html}"
    );
    for path in [s.path("rapporto.md"), s.path("rapporto.html")] {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "{}", path.display());
    }
    // The copy the notification sends the operator to: an operator who is
    // not root opens it; the audit log beside it stays closed to them.
    let as_nobody = |path: &std::path::Path| {
        Command::new(crate::support::which("setpriv"))
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "cat"])
            .arg(path)
            .output()
            .unwrap()
    };
    let operator_copy = as_nobody(&s.path("rapporto-incidente.html"));
    assert!(
        operator_copy.status.success()
            && String::from_utf8_lossy(&operator_copy.stdout).contains("&lt;script&gt;"),
        "the operator cannot open the report the notification names: {}",
        String::from_utf8_lossy(&operator_copy.stderr)
    );
    assert!(
        !as_nobody(&d.audit).status.success(),
        "nobody read the audit log"
    );
    assert!(!as_nobody(&s.path("rapporto.html")).status.success());
}
