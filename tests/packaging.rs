//! The files that start varco at login are real: the systemd unit and the
//! XDG autostart entry pass their own tools' validators and start the
//! binary that was built.

mod support;

use std::process::Command;

use support::{Scratch, varco_bin, which};

#[test]
fn systemd_user_unit_is_valid_and_runs_varco() {
    let s = Scratch::new("unit");
    verify_unit(&s, "varco.service", "run");
}

#[test]
fn xdg_autostart_entry_is_valid_and_hidden() {
    let out = Command::new(which("desktop-file-validate"))
        .arg("packaging/linux/varco-autostart.desktop")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = std::fs::read_to_string("packaging/linux/varco-autostart.desktop").unwrap();
    assert!(text.contains("Exec=/usr/local/bin/varco run"));
    assert!(
        text.contains("NoDisplay=true") && text.contains("Terminal=false"),
        "must start silently"
    );
}

fn verify_unit(s: &Scratch, file: &str, exec: &str) {
    let text = std::fs::read_to_string(format!("packaging/linux/{file}")).unwrap();
    assert!(
        text.contains(&format!("ExecStart=/usr/local/bin/varco {exec}")),
        "{file}"
    );
    let unit = s.write(
        file,
        &text.replace("/usr/local/bin/varco", varco_bin().to_str().unwrap()),
    );
    let out = Command::new(which("systemd-analyze"))
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "systemd-analyze verify {file}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn agent_user_unit_and_enforcer_system_unit_are_valid() {
    let s = Scratch::new("agent-units");
    verify_unit(&s, "varco-agent.service", "agent");
    verify_unit(&s, "varco-enforcer.service", "run --notify agent");
}

#[test]
fn agent_autostart_entry_is_valid_and_silent() {
    let path = "packaging/linux/varco-agent-autostart.desktop";
    let out = Command::new(which("desktop-file-validate"))
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains("Exec=/usr/local/bin/varco agent"));
    assert!(text.contains("NoDisplay=true") && text.contains("Terminal=false"));
}
