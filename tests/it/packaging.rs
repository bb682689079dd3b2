//! The files that start varco at login are real: the systemd unit and the
//! XDG autostart entry pass their own tools' validators and start the
//! binary that was built.

use std::process::Command;

use crate::support::{Scratch, varco_bin, which};

#[test]
fn systemd_user_unit_is_valid_and_runs_varco() {
    let s = Scratch::new("unit");
    let text = std::fs::read_to_string("packaging/linux/varco.service").unwrap();
    assert!(text.contains("ExecStart=/usr/local/bin/varco run"));
    verify_unit(&s, &text);
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

#[test]
fn systemd_system_unit_is_valid_runs_varco_as_root_and_always_restarts() {
    let s = Scratch::new("system-unit");
    let text = std::fs::read_to_string("packaging/linux/varco-system.service").unwrap();
    for needed in [
        "ExecStart=/usr/local/bin/varco run --source auto",
        "Restart=always",
        "StartLimitIntervalSec=0",
        "User=root",
        "CAP_SYS_ADMIN",
        "CAP_DAC_OVERRIDE",
        "WantedBy=multi-user.target",
    ] {
        assert!(text.contains(needed), "the system unit lacks {needed}");
    }
    let settings: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(
        !settings
            .iter()
            .any(|l| l.starts_with("ProtectSystem") || l.starts_with("PrivateTmp")),
        "a private mount namespace would hide the real /tmp from fanotify"
    );
    verify_unit(&s, &text);
}

/// Runs `systemd-analyze verify` on a unit's text, pointed at the binary
/// this test run built.
fn verify_unit(s: &Scratch, text: &str) {
    let unit = s.write(
        "varco.service",
        &text.replace("/usr/local/bin/varco", varco_bin().to_str().unwrap()),
    );
    let out = Command::new(which("systemd-analyze"))
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn agent_user_unit_is_valid_and_runs_varco_agent() {
    let s = Scratch::new("agent-unit");
    let text = std::fs::read_to_string("packaging/linux/varco-agent.service").unwrap();
    assert!(text.contains("ExecStart=/usr/local/bin/varco agent"));
    verify_unit(&s, &text);
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

/// The operator's panic button is a real launcher: valid, shown in the
/// menu (not hidden like the autostart entries), no terminal, and the
/// command it runs exists.
#[test]
fn the_panic_launcher_is_valid_visible_and_runs_varco_panic() {
    let path = "packaging/linux/varco-panic.desktop";
    let out = Command::new(which("desktop-file-validate"))
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = std::fs::read_to_string(path).unwrap();
    for needed in [
        "Name=Interrompi assistenza remota",
        "Exec=/usr/local/bin/varco panic",
        "Terminal=false",
    ] {
        assert!(text.contains(needed), "the launcher lacks {needed}");
    }
    assert!(
        !text.contains("NoDisplay=true"),
        "the launcher must be shown"
    );
    let install = std::fs::read_to_string("packaging/linux/install.sh").unwrap();
    assert!(install.contains("varco-panic.desktop\" /usr/share/applications/"));
    let help = Command::new(varco_bin())
        .args(["panic", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success());
}
