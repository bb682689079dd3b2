//! The Linux event sources against real processes: fanotify refuses an
//! unscheduled tool's exec before it runs, the proc connector kills it on
//! its exec event, and source selection steps down (and says why) when a
//! source is not wanted or not available. These need root, as CI has.

#![cfg(target_os = "linux")]

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{Daemon, Scratch, exits_within, open_window, read_records, varco_bin};

fn require_root() {
    crate::support::require_root(
        "this test (fanotify needs CAP_SYS_ADMIN, the proc connector CAP_NET_ADMIN)",
    );
}

/// Pids of live processes whose executable is `exe`.
fn running(exe: &std::path::Path) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe"))
                .ok()
                .as_deref()
                == Some(exe)
        })
        .collect()
}

fn started_record(d: &Daemon) -> serde_json::Value {
    d.records()
        .into_iter()
        .find(|r| r["event"] == "started")
        .unwrap()
}

#[test]
fn fanotify_refuses_an_unscheduled_tool_before_it_starts() {
    require_root();
    let s = Scratch::new("fan-blocked");
    let config = s.write("approved-windows.toml", "mode = \"block\"\n");
    let tool = s.fake_tool("AnyDesk");
    let d = Daemon::start(
        &s,
        &["--config", config.to_str().unwrap(), "--source", "fanotify"],
    );
    assert_eq!(started_record(&d)["source"], "fanotify");
    let err = Command::new(&tool)
        .arg("60")
        .spawn()
        .expect_err("the exec of an unscheduled AnyDesk succeeded");
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    assert!(running(&tool).is_empty(), "an AnyDesk process exists");
    let r = d
        .wait_for(|r| r["event"] == "blocked", Duration::from_secs(3))
        .expect("no `blocked` record");
    assert_eq!(r["before_start"], true, "{r}");
    // Read while the exec was held: without the owner, the agent in the
    // operator's session could not be found and told.
    assert!(r["user"].is_string(), "owner unknown: {r}");
    assert_eq!(r["tool"], "anydesk");
    assert_eq!(r["exe"], tool.to_str().unwrap());
    assert_eq!(r["source"], "fanotify");
    assert!(r["pid"].is_u64(), "the caller of execve is named: {r}");
}

#[test]
fn fanotify_lets_a_tool_run_inside_its_window() {
    require_root();
    let s = Scratch::new("fan-allowed");
    let config = s.write(
        "approved-windows.toml",
        &open_window("INC-11", "\"anydesk\""),
    );
    let tool = s.fake_tool("AnyDesk");
    let d = Daemon::start(
        &s,
        &["--config", config.to_str().unwrap(), "--source", "fanotify"],
    );
    let mut child = Command::new(&tool).arg("60").spawn().unwrap();
    let r = d
        .wait_for(|r| r["pid"] == child.id(), Duration::from_secs(3))
        .expect("no record for the admitted tool");
    assert_eq!(r["event"], "allowed");
    assert_eq!(r["window"], "INC-11");
    assert_eq!(r["source"], "fanotify");
    assert!(
        !exits_within(&mut child, Duration::from_millis(1000)),
        "an admitted tool was stopped"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn fanotify_refuses_a_script_named_like_a_tool_and_a_launcher_exec() {
    require_root();
    let s = Scratch::new("fan-script");
    let config = s.write("approved-windows.toml", "");
    let script = s.write("TeamViewer", "#!/bin/sh\nsleep 60\n");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let tool = s.fake_tool("rustdesk");
    let d = Daemon::start(
        &s,
        &["--config", config.to_str().unwrap(), "--source", "fanotify"],
    );
    let err = Command::new(&script).spawn().expect_err("the script ran");
    assert_eq!(err.raw_os_error(), Some(libc::EPERM));
    // A short-lived launcher that execs the real tool: caught at the exec.
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("exec {} 60", tool.display()))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(
        status.code(),
        Some(126),
        "the launcher's exec was not refused"
    );
    assert!(running(&tool).is_empty());
    for tool_id in ["teamviewer", "rustdesk"] {
        let r = d
            .wait_for(
                |r| r["event"] == "blocked" && r["tool"] == tool_id,
                Duration::from_secs(3),
            )
            .unwrap_or_else(|| panic!("no blocked record for {tool_id}"));
        assert_eq!(r["before_start"], true);
    }
}

#[test]
fn when_the_fanotify_daemon_dies_execs_go_through() {
    require_root();
    let s = Scratch::new("fan-dies");
    let config = s.write("approved-windows.toml", "");
    let tool = s.fake_tool("AnyDesk");
    let mut d = Daemon::start(
        &s,
        &["--config", config.to_str().unwrap(), "--source", "fanotify"],
    );
    d.child.kill().unwrap(); // SIGKILL: no cleanup of its own
    d.child.wait().unwrap();
    let mut child = Command::new(&tool)
        .arg("60")
        .spawn()
        .expect("the kernel kept refusing after the daemon died");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(Command::new("true").status().unwrap().success());
}

#[test]
fn proc_connector_kills_an_unscheduled_tool_and_a_launched_one() {
    require_root();
    let s = Scratch::new("pc-blocked");
    let config = s.write("approved-windows.toml", "mode = \"block\"\n");
    let tool = s.fake_tool("AnyDesk");
    let d = Daemon::start(
        &s,
        &[
            "--config",
            config.to_str().unwrap(),
            "--source",
            "proc-connector",
        ],
    );
    let started = started_record(&d);
    assert_eq!(started["source"], "proc-connector");
    let mut child = Command::new(&tool).arg("60").spawn().unwrap();
    assert!(
        exits_within(&mut child, Duration::from_millis(500)),
        "AnyDesk still running 500 ms after its exec"
    );
    let r = d
        .wait_for(
            |r| r["event"] == "blocked" && r["pid"] == child.id(),
            Duration::from_secs(2),
        )
        .expect("no blocked record");
    assert_eq!(r["source"], "proc-connector");
    assert_eq!(r["outcome"], "stopped", "{r}");
    // A launcher that lives a moment, then execs the tool (same pid).
    let mut launcher = Command::new("sh")
        .arg("-c")
        .arg(format!("sleep 0.3; exec {} 60", tool.display()))
        .spawn()
        .unwrap();
    assert!(
        exits_within(&mut launcher, Duration::from_secs(2)),
        "the launched tool survived"
    );
    d.wait_for(
        |r| r["event"] == "blocked" && r["pid"] == launcher.id(),
        Duration::from_secs(2),
    )
    .expect("no blocked record for the launched tool");
}

/// As root, `auto` runs fanotify and, beside it, the proc connector that
/// decides every exec again after it happened; the `started` record and
/// `varco status` name both.
#[test]
fn auto_picks_fanotify_and_the_proc_connector_as_root_and_status_says_so() {
    require_root();
    let s = Scratch::new("auto");
    let config = s.write("approved-windows.toml", "");
    let d = Daemon::start(
        &s,
        &["--config", config.to_str().unwrap(), "--source", "auto"],
    );
    let started = started_record(&d);
    assert_eq!(started["source"], "fanotify", "{started}");
    assert_eq!(
        started["sources"],
        serde_json::json!(["fanotify", "proc-connector"]),
        "{started}"
    );
    let reason = started["reason"].as_str().unwrap();
    assert!(reason.contains("filesystem(s) marked"), "{started}");
    assert!(reason.contains("beside it, proc-connector"), "{started}");
    let out = Command::new(varco_bin())
        .args(["status", "--config", config.to_str().unwrap()])
        .arg("--audit-log")
        .arg(&d.audit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("daemon: sources fanotify + proc-connector since"),
        "{text}"
    );
    assert!(text.contains("fanotify: available"), "{text}");
}

#[test]
fn forced_scan_is_used_and_the_record_says_why() {
    require_root();
    let s = Scratch::new("forced-scan");
    let config = s.write("approved-windows.toml", "");
    let tool = s.fake_tool("AnyDesk");
    let d = Daemon::start(
        &s,
        &["--config", config.to_str().unwrap(), "--source", "scan"],
    );
    let started = started_record(&d);
    assert_eq!(started["source"], "scan");
    assert!(
        started["reason"]
            .as_str()
            .unwrap()
            .contains("--source scan"),
        "{started}"
    );
    // The scan still stops it (after it ran).
    let mut child = Command::new(&tool).arg("60").spawn().unwrap();
    assert!(exits_within(&mut child, Duration::from_secs(2)));
}

/// Runs `varco run` (auto source) as `nobody`, optionally in a network
/// namespace of its own, and returns its `started` record.
fn unprivileged_start(s: &Scratch, own_netns: bool) -> serde_json::Value {
    let config = s.write("approved-windows.toml", "");
    // A copy the unprivileged user can surely execute.
    let bin = s.path("varco");
    if !bin.exists() {
        std::fs::copy(varco_bin(), &bin).unwrap();
    }
    let audit = s.path(&format!("audit-{own_netns}.jsonl"));
    let mut cmd = Command::new(if own_netns { "unshare" } else { "setpriv" });
    if own_netns {
        cmd.args(["-n", "setpriv"]);
    }
    let mut child = cmd
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(["run", "--config", config.to_str().unwrap()])
        .arg("--audit-log")
        .arg(&audit)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let started = loop {
        if let Some(r) = read_records(&audit)
            .into_iter()
            .find(|r| r["event"] == "started")
        {
            break Some(r);
        }
        if std::time::Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Stopped before any assertion: a stray daemon would stop other
    // tests' fake tools.
    let _ = child.kill();
    let _ = child.wait();
    started.expect("no started record from the unprivileged daemon")
}

#[test]
fn without_privileges_auto_steps_down_and_says_why() {
    require_root();
    let s = Scratch::new("unprivileged");
    std::fs::set_permissions(&s.dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    // Kernels since 6.6 let any user listen to the process connector.
    let started = unprivileged_start(&s, false);
    assert_eq!(started["source"], "proc-connector", "{started}");
    let reason = started["reason"].as_str().unwrap();
    assert!(reason.contains("fanotify is unavailable"), "{reason}");
    // Outside the initial network namespace it is unavailable too.
    let started = unprivileged_start(&s, true);
    assert_eq!(started["source"], "scan", "{started}");
    let reason = started["reason"].as_str().unwrap();
    assert!(reason.contains("fanotify is unavailable"), "{reason}");
    assert!(
        reason.contains("process connector is unavailable"),
        "{reason}"
    );
}

/// Guards the per-file cache of allowed execs: a file its user can rename
/// is asked about at every exec, so running it once under a harmless name
/// does not let it run later as a tool.
#[test]
fn fanotify_refuses_a_user_file_renamed_to_a_tool_after_it_ran() {
    require_root();
    let s = Scratch::new("fan-rename");
    let config = s.write("approved-windows.toml", "");
    let harmless = s.fake_tool("worker");
    let status = Command::new("chown")
        .arg("65534:65534")
        .arg(&harmless)
        .status()
        .unwrap();
    assert!(status.success());
    let d = Daemon::start(
        &s,
        &["--config", config.to_str().unwrap(), "--source", "fanotify"],
    );
    for _ in 0..2 {
        assert!(Command::new(&harmless).arg("0").status().unwrap().success());
    }
    let tool = s.path("AnyDesk");
    std::fs::rename(&harmless, &tool).unwrap();
    let err = Command::new(&tool)
        .arg("60")
        .spawn()
        .expect_err("the renamed file ran as AnyDesk");
    assert_eq!(err.raw_os_error(), Some(libc::EPERM));
    d.wait_for(|r| r["event"] == "blocked", Duration::from_secs(3))
        .expect("no blocked record");
}

#[test]
fn fanotify_source_also_stops_a_tool_that_ran_before_varco_started() {
    require_root();
    let s = Scratch::new("fan-already");
    let config = s.write("approved-windows.toml", "");
    let tool = s.fake_tool("teamviewer");
    let mut child = spawn_fresh_copy(&tool);
    let d = Daemon::start(
        &s,
        &["--config", config.to_str().unwrap(), "--source", "fanotify"],
    );
    assert!(
        exits_within(&mut child, Duration::from_secs(3)),
        "a tool running before varco started was left alone"
    );
    let r = d
        .wait_for(
            |r| r["event"] == "blocked" && r["pid"] == child.id(),
            Duration::from_secs(2),
        )
        .expect("no blocked record");
    assert!(r["before_start"].is_null(), "it did run: {r}");
    assert_eq!(r["outcome"], "stopped", "{r}");
}

/// Spawns a just-written executable (see [`crate::support::spawn_fresh`]).
fn spawn_fresh_copy(tool: &std::path::Path) -> std::process::Child {
    crate::support::spawn_fresh(Command::new(tool).arg("60"))
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: std::path::PathBuf) -> Tmpfs {
        std::fs::create_dir_all(&at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "varco-test"])
            .arg(&at)
            .status()
            .unwrap()
            .success();
        assert!(ok, "cannot mount a tmpfs at {}", at.display());
        Tmpfs(at)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn fanotify_marks_a_filesystem_mounted_after_it_started() {
    require_root();
    let s = Scratch::new("fan-mount");
    let config = s.write("approved-windows.toml", "");
    let d = Daemon::start(
        &s,
        &["--config", config.to_str().unwrap(), "--source", "fanotify"],
    );
    let fs = Tmpfs::mount(s.path("late"));
    let tool = fs.0.join("AnyDesk");
    std::fs::copy(crate::support::which("sleep"), &tool).unwrap();
    // The mount watcher wakes on the change; give it a moment to mark.
    std::thread::sleep(Duration::from_millis(300));
    match Command::new(&tool).arg("60").spawn() {
        Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}"),
        Ok(mut c) => {
            let _ = c.kill();
            let _ = c.wait();
            panic!("AnyDesk ran from a tmpfs mounted after varco started");
        }
    }
    d.wait_for(|r| r["event"] == "blocked", Duration::from_secs(3))
        .expect("no blocked record");
}

/// The scheduling policy of each thread of `pid`, by thread name
/// (`/proc/PID/task/TID/stat`, field 41).
fn thread_policies(pid: u32) -> Vec<(String, u32)> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| {
            let stat = std::fs::read_to_string(t.ok()?.path().join("stat")).ok()?;
            let (head, rest) = stat.rsplit_once(')')?;
            let name = head.split_once('(')?.1.to_string();
            // After the name: field 3 (state) is index 0, so 41 is 38.
            let policy = rest.split_whitespace().nth(38)?.parse().ok()?;
            Some((name, policy))
        })
        .collect()
}

/// Beside fanotify, the proc connector's thread is woken by every exec on
/// the machine and awaited by none: it is a batch thread, so it does not
/// take the processor from the program just executed. fanotify's thread,
/// which every exec waits for, keeps the normal policy, and so does the
/// proc connector where it is the only source (it is then what stops a
/// tool).
#[test]
fn beside_fanotify_the_proc_connector_thread_does_not_preempt() {
    require_root();
    const OTHER: u32 = libc::SCHED_OTHER as u32;
    const BATCH: u32 = libc::SCHED_BATCH as u32;
    for (source, fanotify, proc_connector) in [
        ("fanotify", Some(OTHER), BATCH),
        ("proc-connector", None, OTHER),
    ] {
        let s = Scratch::new(&format!("sched-{source}"));
        let config = s.write("approved-windows.toml", "");
        let d = Daemon::start(
            &s,
            &["--config", config.to_str().unwrap(), "--source", source],
        );
        let policy_of = |name: &str| {
            thread_policies(d.child.id())
                .into_iter()
                .find(|(n, _)| n == name)
                .map(|(_, p)| p)
        };
        // The thread sets its policy as it starts: give it a moment.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while policy_of("varco-source-pr") != Some(proc_connector)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            policy_of("varco-source-pr"),
            Some(proc_connector),
            "--source {source}: {:?}",
            thread_policies(d.child.id())
        );
        assert_eq!(
            policy_of("varco-source-fa"),
            fanotify,
            "--source {source}: {:?}",
            thread_policies(d.child.id())
        );
    }
}
