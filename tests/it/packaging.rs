//! The files that install and start varco are real: the systemd units and
//! the XDG autostart entries pass their own tools' validators.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::{Scratch, varco_bin, which};

#[test]
fn systemd_user_unit_is_valid_and_runs_varco() {
    let s = Scratch::new("unit");
    let text = std::fs::read_to_string("packaging/linux/varco.service").unwrap();
    assert!(text.contains("ExecStart=/usr/bin/varco run"));
    verify_unit(&s, &text);
}

#[test]
fn xdg_autostart_entry_is_valid_and_hidden() {
    let path = "packaging/linux/varco-autostart.desktop";
    desktop_file_validate(Path::new(path));
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains("Exec=/usr/bin/varco run"));
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
        "ExecStart=/usr/bin/varco run --source auto",
        "Restart=always",
        "StartLimitIntervalSec=0",
        "User=root",
        "WantedBy=multi-user.target",
        // The sandbox of issue 12 part 9 (tests/it/hardening.rs proves
        // the capabilities and the system-call filter against the daemon).
        "ProtectSystem=strict",
        "ProtectHome=read-only",
        "LogsDirectory=varco",
        "StateDirectory=varco",
        "NoNewPrivileges=yes",
        "RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6",
        "MemoryMax=",
        "TasksMax=",
        "WatchdogSec=",
    ] {
        assert!(text.contains(needed), "the system unit lacks {needed}");
    }
    let settings: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    for hidden in ["PrivateTmp", "PrivateDevices", "ProtectProc", "ProcSubset"] {
        assert!(
            !settings.iter().any(|l| l.starts_with(hidden)),
            "{hidden}= would hide the machine's real files or processes from varco"
        );
    }
    verify_unit(&s, &text);
}

/// `systemd-analyze verify` on a unit's text, pointed at the binary this
/// test run built.
fn verify_unit(s: &Scratch, text: &str) {
    let unit = s.write(
        "varco.service",
        &text.replace("/usr/bin/varco", varco_bin().to_str().unwrap()),
    );
    verify_unit_file(&unit);
}

fn verify_unit_file(unit: &Path) {
    let out = run(Command::new(which("systemd-analyze"))
        .args(["verify", "--man=no"])
        .arg(unit));
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify {}: {}",
        unit.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn desktop_file_validate(path: &Path) {
    let out = run(Command::new(which("desktop-file-validate")).arg(path));
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn agent_user_unit_is_valid_and_runs_varco_agent() {
    let s = Scratch::new("agent-unit");
    let text = std::fs::read_to_string("packaging/linux/varco-agent.service").unwrap();
    assert!(text.contains("ExecStart=/usr/bin/varco agent"));
    verify_unit(&s, &text);
}

#[test]
fn agent_autostart_entry_is_valid_and_silent() {
    let path = Path::new("packaging/linux/varco-agent-autostart.desktop");
    desktop_file_validate(path);
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains("Exec=/usr/bin/varco agent"));
    assert!(
        text.contains("TryExec=/usr/bin/varco\n"),
        "inert once removed"
    );
    assert!(text.contains("NoDisplay=true") && text.contains("Terminal=false"));
}

#[test]
fn man_page_names_every_command() {
    let page = std::fs::read_to_string("packaging/linux/varco.1").unwrap();
    let help = run(Command::new(varco_bin()).arg("--help"));
    let help = String::from_utf8_lossy(&help.stdout);
    let commands = help
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("Options:")
        .next()
        .unwrap();
    for line in commands.lines() {
        let Some(command) = line.split_whitespace().next() else {
            continue;
        };
        if command != "help" {
            assert!(
                page.contains(&format!(".B {command}\n"))
                    || page.contains(&format!(".BI \"{command}")),
                "packaging/linux/varco.1 does not describe `varco {command}`"
            );
        }
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}
