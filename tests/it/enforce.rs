//! `varco run` against real processes: fake remote tools (copies of
//! `sleep` named like the tool) are started, and what happens to them and
//! what the audit log says is checked.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{Daemon, Scratch, exits_within, open_window};

fn spawn(path: &std::path::Path) -> std::process::Child {
    Command::new(path).arg("60").spawn().unwrap()
}

#[test]
fn unscheduled_tool_is_killed_within_two_seconds_and_recorded_blocked() {
    let s = Scratch::new("blocked");
    let config = s.write("approved-windows.toml", "mode = \"block\"\n");
    let tool = s.fake_tool("AnyDesk");
    let _d = Daemon::start(&s, &["--config", config.to_str().unwrap()]);
    let started = Instant::now();
    let mut child = spawn(&tool);
    assert!(
        exits_within(&mut child, Duration::from_secs(2)),
        "AnyDesk still running after 2 s"
    );
    let took = started.elapsed();
    let r = _d
        .wait_for(
            |r| r["event"] == "blocked" && r["pid"] == child.id(),
            Duration::from_secs(2),
        )
        .expect("no `blocked` record");
    assert_eq!(r["tool"], "anydesk");
    assert_eq!(r["exe"], tool.to_str().unwrap());
    assert_eq!(r["window"], serde_json::Value::Null);
    assert_eq!(r["mode"], "block");
    assert_eq!(r["outcome"], "stopped", "{r}");
    eprintln!("killed after {took:?}");
}

#[test]
fn tool_inside_its_window_lives_and_is_recorded_allowed() {
    let s = Scratch::new("allowed");
    let config = s.write(
        "approved-windows.toml",
        &open_window("INC-7", "\"anydesk\""),
    );
    let tool = s.fake_tool("AnyDesk");
    let d = Daemon::start(&s, &["--config", config.to_str().unwrap()]);
    let mut child = spawn(&tool);
    let r = d
        .wait_for(|r| r["pid"] == child.id(), Duration::from_secs(3))
        .expect("no record for the tool");
    assert_eq!(r["event"], "allowed");
    assert_eq!(r["window"], "INC-7");
    assert_eq!(r["technician"], "Mario Rossi");
    assert!(
        !exits_within(&mut child, Duration::from_millis(1500)),
        "an admitted tool was stopped"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn window_for_another_tool_does_not_admit_it() {
    let s = Scratch::new("other-window");
    let config = s.write(
        "approved-windows.toml",
        &open_window("TV-1", "\"teamviewer\""),
    );
    let tool = s.fake_tool("AnyDesk");
    let d = Daemon::start(&s, &["--config", config.to_str().unwrap()]);
    let mut child = spawn(&tool);
    assert!(
        exits_within(&mut child, Duration::from_secs(2)),
        "a teamviewer-only window admitted AnyDesk"
    );
    let r = d
        .wait_for(|r| r["pid"] == child.id(), Duration::from_secs(2))
        .unwrap();
    assert_eq!(r["event"], "blocked");
}

#[test]
fn alert_mode_leaves_it_running_and_records_alerted() {
    let s = Scratch::new("alert");
    let config = s.write("approved-windows.toml", "mode = \"alert\"\n");
    let tool = s.fake_tool("rustdesk");
    let d = Daemon::start(&s, &["--config", config.to_str().unwrap()]);
    let mut child = spawn(&tool);
    let r = d
        .wait_for(|r| r["pid"] == child.id(), Duration::from_secs(3))
        .expect("no record");
    assert_eq!(r["event"], "alerted");
    assert_eq!(r["tool"], "rustdesk");
    assert_eq!(r["mode"], "alert");
    assert!(
        !exits_within(&mut child, Duration::from_millis(1000)),
        "alert mode stopped the tool"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn missing_windows_file_blocks_and_records_config_error() {
    let s = Scratch::new("missing");
    let config = s.path("does-not-exist.toml");
    let tool = s.fake_tool("AnyDesk.exe");
    let d = Daemon::start(&s, &["--config", config.to_str().unwrap()]);
    let err = d
        .wait_for(|r| r["event"] == "config_error", Duration::from_secs(2))
        .expect("no config_error");
    assert!(
        err["reason"].as_str().unwrap().contains("file not found"),
        "{err}"
    );
    let mut child = spawn(&tool);
    assert!(
        exits_within(&mut child, Duration::from_secs(2)),
        "tool ran with no windows file"
    );
    let r = d
        .wait_for(|r| r["pid"] == child.id(), Duration::from_secs(2))
        .unwrap();
    assert_eq!(r["event"], "blocked");
}

#[test]
fn invalid_windows_file_blocks_even_the_tool_it_meant_to_admit() {
    let s = Scratch::new("invalid");
    // A typo in a key: the window must not open (nor be silently dropped).
    let text = open_window("INC-8", "\"anydesk\"").replace("technician", "tecnician");
    let config = s.write("approved-windows.toml", &text);
    let tool = s.fake_tool("AnyDesk");
    let d = Daemon::start(&s, &["--config", config.to_str().unwrap()]);
    let err = d
        .wait_for(|r| r["event"] == "config_error", Duration::from_secs(2))
        .expect("no config_error");
    assert!(
        err["reason"]
            .as_str()
            .unwrap()
            .contains("unknown key `tecnician`"),
        "{err}"
    );
    let mut child = spawn(&tool);
    assert!(exits_within(&mut child, Duration::from_secs(2)));
}

/// The operator must not open a window by editing the file: a root daemon
/// refuses a windows file a non-administrator owns or can write, exactly
/// like an invalid one.
#[test]
fn a_root_daemon_refuses_a_windows_file_others_can_change() {
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        effective_uid(),
        0,
        "this test needs root: run bash tests/run.sh as root"
    );
    let s = Scratch::new("untrusted");
    let tool = s.fake_tool("AnyDesk");
    for (name, why) in [
        ("owned-by-nobody.toml", "owned by uid 65534"),
        (
            "world-writable.toml",
            "can be changed by non-administrators",
        ),
    ] {
        let config = s.write(name, &open_window("INC-9", "\"anydesk\""));
        if name.starts_with("owned") {
            let status = Command::new("chown")
                .args(["65534", config.to_str().unwrap()])
                .status()
                .unwrap();
            assert!(status.success());
        } else {
            std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o666)).unwrap();
        }
        let mut d = Daemon::start(&s, &["--config", config.to_str().unwrap()]);
        let err = d
            .wait_for(|r| r["event"] == "config_error", Duration::from_secs(3))
            .expect("no config_error for an untrusted file");
        let reason = err["reason"].as_str().unwrap();
        assert!(
            reason.contains("not trusted") && reason.contains(why),
            "{err}"
        );
        let mut child = spawn(&tool);
        assert!(
            exits_within(&mut child, Duration::from_secs(2)),
            "an untrusted file opened its window ({name})"
        );
        d.stop();
        let _ = std::fs::remove_file(s.path("audit.jsonl"));
    }
}

/// The effective uid, read from /proc so the test needs no libc.
fn effective_uid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|u| u.parse().ok())
        .unwrap()
}

#[test]
fn tool_already_running_at_start_is_decided_too() {
    let s = Scratch::new("already");
    let config = s.write("approved-windows.toml", "");
    let tool = s.fake_tool("teamviewer");
    let mut child = spawn(&tool);
    std::thread::sleep(Duration::from_millis(100));
    let _d = Daemon::start(&s, &["--config", config.to_str().unwrap()]);
    assert!(
        exits_within(&mut child, Duration::from_secs(2)),
        "a tool running before varco started was left alone"
    );
}

#[test]
fn a_window_that_breaks_while_running_keeps_the_last_good_one() {
    let s = Scratch::new("reload");
    let good = open_window("INC-9", "\"anydesk\"");
    let config = s.write("approved-windows.toml", &good);
    let tool = s.fake_tool("AnyDesk");
    let d = Daemon::start(&s, &["--config", config.to_str().unwrap()]);
    std::fs::write(&config, format!("{good}\nbroken = [\n")).unwrap();
    d.wait_for(|r| r["event"] == "config_error", Duration::from_secs(4))
        .expect("a broken edit raised no config_error");
    let mut child = spawn(&tool);
    let r = d
        .wait_for(|r| r["pid"] == child.id(), Duration::from_secs(3))
        .unwrap();
    assert_eq!(
        r["event"], "allowed",
        "the last good file should still be in force"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn removing_the_window_stops_the_tool_it_had_admitted() {
    let s = Scratch::new("closes");
    let config = s.write(
        "approved-windows.toml",
        &open_window("INC-10", "\"anydesk\""),
    );
    let tool = s.fake_tool("AnyDesk");
    let d = Daemon::start(&s, &["--config", config.to_str().unwrap()]);
    let mut child = spawn(&tool);
    d.wait_for(
        |r| r["event"] == "allowed" && r["pid"] == child.id(),
        Duration::from_secs(3),
    )
    .unwrap();
    std::fs::write(&config, "mode = \"block\"\n").unwrap();
    d.wait_for(|r| r["event"] == "config_reloaded", Duration::from_secs(3))
        .expect("the edit was not reloaded");
    assert!(
        exits_within(&mut child, Duration::from_secs(4)),
        "the tool outlived its window"
    );
    let r = d
        .wait_for(
            |r| r["event"] == "blocked" && r["pid"] == child.id(),
            Duration::from_secs(2),
        )
        .unwrap();
    assert!(r["reason"].as_str().unwrap().contains("INC-10"), "{r}");
    // The quiet note of its admission, moments ago, must not have used up
    // the warning that it was stopped.
    let n = d.notice_of(&r);
    assert_ne!(n["not_notified"], "rate_limit", "{n}");
}

#[test]
fn sigterm_writes_stopped_and_exits_zero() {
    let s = Scratch::new("sigterm");
    let config = s.write("approved-windows.toml", "");
    let mut d = Daemon::start(&s, &["--config", config.to_str().unwrap()]);
    let status = d.stop();
    assert!(status.success(), "{status:?}");
    let last = d.records().pop().unwrap();
    assert_eq!(last["event"], "stopped");
}

#[test]
fn ordinary_programs_are_left_alone() {
    let s = Scratch::new("ordinary");
    let config = s.write("approved-windows.toml", "");
    let tool = s.fake_tool("libreoffice");
    let d = Daemon::start(&s, &["--config", config.to_str().unwrap()]);
    let mut child = spawn(&tool);
    assert!(!exits_within(&mut child, Duration::from_millis(1500)));
    assert!(!d.records().iter().any(|r| r["pid"] == child.id()));
    child.kill().unwrap();
    child.wait().unwrap();
}
