//! The ways around enforcement a fraudster on the phone can talk an
//! operator through, each against the real root daemon with its default
//! sources (fanotify before the exec, the proc connector after it): the
//! dynamic loader, a memfd, a path longer than PATH_MAX, a tmpfs mounted
//! in a private mount namespace, an interpreter running a tool's script,
//! a tool admitted inside a window that daemonizes, and lost events.
//!
//! The fake tool is a copy of `dash` named like a catalog tool, told to
//! write a marker file after one second: each test proves the marker
//! never appears (the tool never reached its second second of life), the
//! process is gone, and the audit log holds the `blocked` record.

#![cfg(target_os = "linux")]

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Daemon, Scratch, exits_within, run_ok, spawn_fresh, which};

fn require_root() {
    crate::support::require_root("the bypass tests (fanotify, proc connector, mounts)");
}

/// Debian's python3, not a version manager's shim on PATH.
fn python3() -> PathBuf {
    let p = PathBuf::from("/usr/bin/python3");
    assert!(
        p.is_file(),
        "/usr/bin/python3 is missing: bash tests/run.sh installs python3-minimal"
    );
    p
}

/// The shell command a fake tool runs: wait a second, then leave `marker`
/// (proof it lived into its second second), then linger.
fn after_one_second(marker: &Path) -> String {
    format!("sleep 1; touch '{}'; sleep 60", marker.display())
}

/// A copy of dash named `name` in `dir`: an ELF program a loader can run,
/// that the catalog knows only by its name. Written by `cp`, not this
/// process (see `Scratch::fake_tool`).
fn dash_named(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    run_ok(Command::new("cp").arg(which("dash")).arg(&p));
    p
}

/// The daemon as installed: `--source auto`, which as root is fanotify
/// with the proc connector beside it.
fn daemon(s: &Scratch, config: &Path) -> Daemon {
    let d = Daemon::start(
        s,
        &["--config", config.to_str().unwrap(), "--source", "auto"],
    );
    let started = d
        .records()
        .into_iter()
        .find(|r| r["event"] == "started")
        .unwrap();
    assert_eq!(
        started["sources"],
        serde_json::json!(["fanotify", "proc-connector"]),
        "{started}"
    );
    d
}

/// The tool started as `child` never reached its second second: it is
/// gone (killed), `marker` never appeared, and a `blocked` record names
/// its pid. Returns that record.
fn assert_stopped_in_its_first_second(
    d: &Daemon,
    child: &mut Child,
    marker: &Path,
    spawned: Instant,
) -> Value {
    let pid = child.id();
    let exited = exits_within(child, Duration::from_millis(1500));
    let record = d.wait_for(
        |r| r["event"] == "blocked" && r["pid"] == pid,
        Duration::from_secs(3),
    );
    // Past the tool's second second, the marker would be there.
    let until = spawned + Duration::from_millis(2500);
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the tool (pid {pid}) still ran 1.5 s after it started");
    }
    let status = child.wait().unwrap();
    assert!(
        status.signal().is_some(),
        "the tool was not killed but exited by itself: {status}"
    );
    assert!(
        !marker.exists(),
        "the tool lived into its second second ({} written)",
        marker.display()
    );
    let r = record.unwrap_or_else(|| panic!("no blocked record for pid {pid}: {:?}", d.records()));
    assert_eq!(r["tool"], "anydesk", "{r}");
    assert_eq!(r["outcome"], "stopped", "{r}");
    r
}

#[test]
fn a_tool_run_through_the_dynamic_loader_is_stopped() {
    require_root();
    let s = Scratch::new("bypass-loader");
    assert_loader_launch_stopped(&s);
}

/// Beside fanotify the post-exec source does not preempt on wake-up (a
/// batch thread): a caller who keeps every processor busy must still not
/// keep it from stopping what only it can see.
#[test]
fn a_tool_run_through_the_dynamic_loader_is_stopped_while_every_processor_is_busy() {
    require_root();
    let s = Scratch::new("bypass-loader-busy");
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let _busy: Vec<Busy> = (0..2 * cpus)
        .map(|_| {
            Busy(
                Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    assert_loader_launch_stopped(&s);
}

/// The loader started through a link whose name is not UTF-8 gives the
/// process that name, and the kernel's process file carries it: the
/// process must not look gone (it did, and the tool ran unrecorded).
#[test]
fn a_tool_run_through_a_loader_named_with_bytes_that_are_not_utf8_is_stopped() {
    use std::os::unix::ffi::OsStrExt;
    require_root();
    let s = Scratch::new("bypass-loader-name");
    let link = s.dir.join(std::ffi::OsStr::from_bytes(b"\xff"));
    std::os::unix::fs::symlink("/lib64/ld-linux-x86-64.so.2", &link).unwrap();
    assert_launch_stopped(&s, &link);
}

/// A copy of the loader under another name, owned by a user (as the
/// operator would have copied it), in a folder whose name is not UTF-8:
/// no name says it is a loader, its header does (found by a review
/// helper: both ran a tool unrecorded).
#[test]
fn a_tool_run_through_a_renamed_copy_of_the_loader_is_stopped() {
    use std::os::unix::ffi::OsStrExt;
    require_root();
    let s = Scratch::new("bypass-loader-copy");
    let dir = s.dir.join(std::ffi::OsStr::from_bytes(b"\xff"));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("aiuto");
    run_ok(
        Command::new("cp")
            .arg("/lib64/ld-linux-x86-64.so.2")
            .arg(&copy),
    );
    run_ok(Command::new("chown").arg("nobody").arg(&copy));
    assert_launch_stopped(&s, &copy);
}

/// Root's own loader under another name without copying it: bound over
/// an empty file in a private mount namespace (an operator can do the
/// same in a user namespace). The file is root's, so only its header says
/// it is a loader (found by a third review helper).
#[test]
fn a_tool_run_through_the_loader_bound_under_another_name_is_stopped() {
    require_root();
    let s = Scratch::new("bypass-loader-bound");
    let name = s.path("aiuto");
    assert_launch_with_stopped(&s, |cmd| {
        let script = format!(
            "touch '{name}' && mount --bind /lib64/ld-linux-x86-64.so.2 '{name}' && exec '{name}' ./AnyDesk -c \"{cmd}\"",
            name = name.display(),
        );
        let mut unshare = Command::new("unshare");
        unshare.args(["-m", "--propagation", "private", "sh", "-c", &script]);
        unshare
    });
}

/// A busy loop, killed when dropped.
struct Busy(Child);

impl Drop for Busy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the daemon, runs a copy of dash named AnyDesk through the
/// dynamic loader, and proves the post-exec source stopped it in its
/// first second.
fn assert_loader_launch_stopped(s: &Scratch) {
    assert_launch_stopped(s, Path::new("/lib64/ld-linux-x86-64.so.2"));
}

/// As [`assert_loader_launch_stopped`], with the loader run as `loader`.
fn assert_launch_stopped(s: &Scratch, loader: &Path) {
    assert!(loader.exists(), "no dynamic loader at {}", loader.display());
    assert_launch_with_stopped(s, |cmd| {
        // The kernel executes the loader; the loader maps ./AnyDesk itself.
        let mut launch = Command::new(loader);
        launch.args(["--inhibit-cache", "./AnyDesk", "-c", cmd]);
        launch
    });
}

/// Starts the daemon, makes a copy of dash named AnyDesk, runs it through
/// the loader as `launch` says (given the shell command the tool runs, in
/// the scratch folder), and proves the post-exec source stopped it in its
/// first second.
fn assert_launch_with_stopped(s: &Scratch, launch: impl FnOnce(&str) -> Command) {
    let config = s.write("approved-windows.toml", "");
    dash_named(&s.dir, "AnyDesk");
    let marker = s.path("alive-after-1s");
    let d = daemon(s, &config);
    let spawned = Instant::now();
    let mut child = launch(&after_one_second(&marker))
        .current_dir(&s.dir)
        .spawn()
        .unwrap();
    let r = assert_stopped_in_its_first_second(&d, &mut child, &marker, spawned);
    assert_eq!(r["source"], "proc-connector", "{r}");
    assert_eq!(r["exe"], s.path("AnyDesk").to_str().unwrap(), "{r}");
}

#[test]
fn a_tool_executed_from_a_memfd_is_stopped() {
    require_root();
    let s = Scratch::new("bypass-memfd");
    let config = s.write("approved-windows.toml", "");
    let marker = s.path("alive-after-1s");
    let d = daemon(&s, &config);
    // memfd_create("AnyDesk"), dash's bytes into it, exec of
    // /proc/self/fd/N under a harmless argv[0]: no file on any disk.
    let helper = format!(
        "import os\n\
         fd = os.memfd_create('AnyDesk', 0)\n\
         os.write(fd, open('{dash}', 'rb').read())\n\
         os.execv('/proc/self/fd/%d' % fd, ['worker', '-c', \"{cmd}\"])\n",
        dash = which("dash").display(),
        cmd = after_one_second(&marker),
    );
    let spawned = Instant::now();
    let mut child = Command::new(python3())
        .arg("-c")
        .arg(helper)
        .spawn()
        .unwrap();
    let r = assert_stopped_in_its_first_second(&d, &mut child, &marker, spawned);
    assert_eq!(r["exe"], "/memfd:AnyDesk (deleted)", "{r}");
    assert_eq!(r["source"], "proc-connector", "{r}");
}

#[test]
fn a_tool_under_a_path_longer_than_path_max_is_stopped() {
    require_root();
    let s = Scratch::new("bypass-longpath");
    let config = s.write("approved-windows.toml", "");
    let marker = s.path("alive-after-1s");
    let d = daemon(&s, &config);
    // 24 folders of 200 characters: 4,800 bytes, past PATH_MAX (4,096),
    // reached one relative chdir at a time (a shell's `cd` refuses); the
    // tool is executed as ./AnyDesk.
    let helper = format!(
        "import os, shutil\n\
         os.chdir('{dir}')\n\
         for _ in range(24):\n    os.mkdir('d' * 200)\n    os.chdir('d' * 200)\n\
         shutil.copy('{dash}', 'AnyDesk')\n\
         os.execv('./AnyDesk', ['./AnyDesk', '-c', \"{cmd}\"])\n",
        dir = s.dir.display(),
        dash = which("dash").display(),
        cmd = after_one_second(&marker),
    );
    let spawned = Instant::now();
    let mut child = Command::new(python3())
        .arg("-c")
        .arg(helper)
        .spawn()
        .unwrap();
    let r = assert_stopped_in_its_first_second(&d, &mut child, &marker, spawned);
    assert_eq!(r["source"], "proc-connector", "{r}");
}

#[test]
fn a_tool_on_a_tmpfs_mounted_in_a_private_mount_namespace_is_stopped() {
    require_root();
    let s = Scratch::new("bypass-unshare");
    let config = s.write("approved-windows.toml", "");
    let marker = s.path("alive-after-1s");
    let mnt = s.path("private");
    std::fs::create_dir_all(&mnt).unwrap();
    let d = daemon(&s, &config);
    // The mount exists only in the new namespace: varco's mount table
    // never shows it, so fanotify never marks it.
    let script = format!(
        "set -e; mount -t tmpfs varco-bypass '{mnt}'; cp '{dash}' '{mnt}/AnyDesk'; \
         exec '{mnt}/AnyDesk' -c \"{cmd}\"",
        mnt = mnt.display(),
        dash = which("dash").display(),
        cmd = after_one_second(&marker),
    );
    let spawned = Instant::now();
    let mut child = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(script)
        .spawn()
        .unwrap();
    let r = assert_stopped_in_its_first_second(&d, &mut child, &marker, spawned);
    assert_eq!(r["source"], "proc-connector", "{r}");
    assert_eq!(r["exe"], format!("{}/AnyDesk", mnt.display()), "{r}");
    let mounted = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounted.contains("varco-bypass"),
        "the mount leaked into the test's namespace"
    );
}

#[test]
fn a_tool_script_run_by_an_interpreter_is_stopped() {
    require_root();
    let s = Scratch::new("bypass-interp");
    let config = s.write("approved-windows.toml", "");
    let d = daemon(&s, &config);
    // `sh ./AnyDesk`: the kernel executes sh; the tool is its argument.
    let marker = s.path("sh-alive-after-1s");
    s.write("AnyDesk", &after_one_second(&marker));
    let spawned = Instant::now();
    let mut child = Command::new("sh")
        .args(["-e", "./AnyDesk"])
        .current_dir(&s.dir)
        .spawn()
        .unwrap();
    let r = assert_stopped_in_its_first_second(&d, &mut child, &marker, spawned);
    assert_eq!(r["exe"], s.path("AnyDesk").to_str().unwrap(), "{r}");
    // `python3 -u AnyDesk.py` from another folder, by absolute path.
    let marker = s.path("py-alive-after-1s");
    let script = s.write(
        "anydesk",
        &format!(
            "import time\ntime.sleep(1)\nopen('{}', 'w').close()\ntime.sleep(60)\n",
            marker.display()
        ),
    );
    let spawned = Instant::now();
    let mut child = Command::new(python3())
        .arg("-u")
        .arg(&script)
        .current_dir("/")
        .spawn()
        .unwrap();
    assert_stopped_in_its_first_second(&d, &mut child, &marker, spawned);
}

/// Pids of live processes whose executable is `exe`.
fn running(exe: &Path) -> Vec<u32> {
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

/// A window for `tools` opened an hour ago that closes `secs` from now.
fn window_closing_in(id: &str, tools: &str, secs: i64) -> (String, jiff::Timestamp) {
    let now = jiff::Timestamp::now();
    let start = now - jiff::SignedDuration::from_hours(1);
    let end = now + jiff::SignedDuration::from_secs(secs);
    let text = format!(
        "[contact]\ncompany = \"Esempio Informatica S.r.l.\"\nphone = \"+39 06 1234567\"\n\n[[window]]\nid = \"{id}\"\ntools = [{tools}]\nstart = {}\nend = {}\ntechnician = \"Mario Rossi\"\n",
        start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        end.strftime("%Y-%m-%dT%H:%M:%SZ"),
    );
    (text, end)
}

#[test]
fn a_daemonized_tool_admitted_in_a_window_is_stopped_when_it_closes() {
    require_root();
    let s = Scratch::new("bypass-daemonize");
    let (text, end) = window_closing_in("INC-77", "\"anydesk\"", 6);
    let config = s.write("approved-windows.toml", &text);
    let tool = dash_named(&s.dir, "AnyDesk");
    let beat = s.path("heartbeat");
    let d = daemon(&s, &config);
    // Inside the window: admitted. The tool forks twice and its first
    // process exits: the survivor, re-parented, was never an exec varco
    // saw, and its pid is not the one admitted.
    let loop_cmd = format!("while :; do touch '{}'; sleep 0.1; done", beat.display());
    let mut first = spawn_fresh(
        Command::new(&tool)
            .arg("-c")
            .arg(format!("( ( {loop_cmd} ) & ) ; exit 0"))
            .stdout(Stdio::null()),
    );
    let admitted = first.id();
    assert!(first.wait().unwrap().success());
    d.wait_for(
        |r| r["event"] == "allowed" && r["pid"] == admitted,
        Duration::from_secs(3),
    )
    .expect("the tool was not admitted inside its window");
    let survivors = running(&tool);
    assert!(
        survivors.iter().any(|p| *p != admitted),
        "the tool did not daemonize"
    );
    // Both sources saw the exec: one record.
    std::thread::sleep(Duration::from_millis(300));
    let allowed = d
        .records()
        .into_iter()
        .filter(|r| r["event"] == "allowed" && r["pid"] == admitted)
        .count();
    assert_eq!(allowed, 1, "two records for one start: {:?}", d.records());
    // The window closes; within two seconds nothing of the tool runs.
    let deadline = end + jiff::SignedDuration::from_millis(2000);
    while jiff::Timestamp::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left = running(&tool);
    for p in &left {
        let _ = Command::new("kill").args(["-9", &p.to_string()]).status();
    }
    assert!(
        left.is_empty(),
        "the daemonized tool still ran 2 s after its window closed: {left:?}"
    );
    let beat_at = std::fs::metadata(&beat).unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        std::fs::metadata(&beat).unwrap().modified().unwrap(),
        beat_at,
        "something of the tool still writes its heartbeat"
    );
    let stopped = d
        .records()
        .into_iter()
        .find(|r| {
            r["event"] == "blocked" && survivors.contains(&(r["pid"].as_u64().unwrap_or(0) as u32))
        })
        .unwrap_or_else(|| panic!("no blocked record for the survivor: {:?}", d.records()));
    assert_eq!(stopped["outcome"], "stopped", "{stopped}");
    assert!(
        stopped["reason"]
            .as_str()
            .is_some_and(|r| r.contains("INC-77") && r.contains("closed")),
        "{stopped}"
    );
}

#[test]
fn lost_exec_events_are_recorded_and_everything_is_decided_again() {
    require_root();
    let s = Scratch::new("bypass-overflow");
    let config = s.write("approved-windows.toml", "");
    let marker = s.path("alive-after-1s");
    // A receive buffer of a few messages (debug builds only): a burst of
    // execs overflows it, as a flood would overflow the real one.
    let d = Daemon::start_with_env(
        &s,
        &["--config", config.to_str().unwrap(), "--source", "auto"],
        &[("VARCO_TEST_NETLINK_BUFFER", "1")],
        &[],
    );
    let burst = Command::new("sh")
        .arg("-c")
        .arg("for i in $(seq 600); do /bin/true & done; wait")
        .status()
        .unwrap();
    assert!(burst.success());
    let lost = d
        .wait_for(|r| r["event"] == "events_lost", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no events_lost record: {:?}", d.records()));
    assert_eq!(lost["source"], "proc-connector", "{lost}");
    assert!(
        lost["reason"].as_str().unwrap().contains("ENOBUFS"),
        "{lost}"
    );
    // Enforcement goes on after the overflow.
    let tool = dash_named(&s.dir, "AnyDesk");
    let start = || {
        (
            Instant::now(),
            Command::new(&tool)
                .arg("-c")
                .arg(after_one_second(&marker))
                .spawn(),
        )
    };
    let (mut spawned, mut started) = start();
    for _ in 0..50 {
        // A copy just written by `cp` can be busy for an instant (ETXTBSY).
        match &started {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(Duration::from_millis(20));
                (spawned, started) = start();
            }
            _ => break,
        }
    }
    match started {
        Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}"),
        Ok(mut child) => {
            assert_stopped_in_its_first_second(&d, &mut child, &marker, spawned);
        }
    }
    assert!(!marker.exists());
}

/// A loader launch whose program is swapped at its path once the loader
/// has mapped it: the path then names a harmless file, but what runs is
/// the tool, and that is what is judged (through `/proc/PID/map_files`).
/// The launch comes before varco starts, so varco's first look (its walk
/// of what runs) is certain to come after the swap. The tool is xrdp,
/// which only its content identifies, under an everyday name.
#[test]
fn a_loader_launch_whose_program_was_swapped_after_mapping_is_stopped() {
    require_root();
    let s = Scratch::new("bypass-loader-swap");
    let config = s.write("approved-windows.toml", "");
    assert_swapped_launch_stopped(&s, &config, "cupsd");
}

/// As above, with a tool a window admits by name at the path (TeamViewer)
/// and xrdp mapped: the strictest verdict wins, the admitted name must not
/// cover the tool that runs.
#[test]
fn a_loader_launch_named_like_an_admitted_tool_is_judged_on_what_it_mapped() {
    require_root();
    let s = Scratch::new("bypass-loader-admitted");
    let (text, _) = window_closing_in("INC-TV", "\"teamviewer\"", 3600);
    let config = s.write("approved-windows.toml", &text);
    assert_swapped_launch_stopped(&s, &config, "TeamViewer");
}

/// Runs xrdp (known by content only) through the loader as `./NAME`,
/// swaps a copy of sleep in at that path once it is mapped, then starts
/// varco under `config`: its walk at start must stop the launch.
fn assert_swapped_launch_stopped(s: &Scratch, config: &Path, name: &str) {
    let _ = std::fs::remove_file(XRDP_PID_FILE);
    let program = s.path(name);
    run_ok(Command::new("cp").arg("/usr/sbin/xrdp").arg(&program));
    let harmless = s.path("innocuo");
    run_ok(Command::new("cp").arg(which("sleep")).arg(&harmless));
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("/lib64/ld-linux-x86-64.so.2")
        .args([
            "--inhibit-cache",
            &format!("./{name}"),
            "--nodaemon",
            "--port",
        ])
        .arg(port.to_string())
        .current_dir(&s.dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mapped = || {
        std::fs::read_to_string(format!("/proc/{pid}/maps"))
            .unwrap_or_default()
            .contains(program.to_str().unwrap())
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !mapped() {
        assert!(
            Instant::now() < deadline,
            "the loader never mapped ./{name}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::rename(&harmless, &program).unwrap();
    let d = daemon(s, config);
    let record = d.wait_for(
        |r| r["event"] == "blocked" && r["pid"] == pid,
        Duration::from_secs(5),
    );
    let killed = exits_within(&mut child, Duration::from_secs(5));
    if !killed {
        let _ = child.kill();
        let _ = child.wait();
    }
    let r = record.unwrap_or_else(|| {
        panic!(
            "the swapped loader launch (pid {pid}) was not stopped; records: {:?}",
            d.records()
        )
    });
    assert!(killed, "the tool still ran: {r}");
    assert_eq!(r["tool"], "xrdp", "{r}");
    assert_eq!(r["matched_by"], "content", "{r}");
    assert_eq!(r["exe"], program.to_str().unwrap(), "{r}");
}

/// The loader can be held before it opens its program, past the moment
/// the post-exec source looks: `LD_DEBUG` with an unknown word makes it
/// write a warning first, to a standard error that is a full pipe. The
/// program's path names a harmless file when it is looked at; xrdp (known
/// by content only) is swapped in, then the pipe is drained. The launch
/// must be looked at again once the loader mapped its program (it ran
/// unrecorded before; found by a review helper).
#[test]
fn a_loader_held_before_it_maps_its_program_is_looked_at_again() {
    assert_held_launch_stopped("bypass-loader-held", false);
}

/// As above, and the program forks and its first process ends before it
/// is looked at again (xrdp daemonizing): what it forked never executed
/// anything, so no exec event names it; the daemon decides every process
/// again (found by a second review helper).
#[test]
fn a_held_loader_launch_that_forks_and_ends_is_still_stopped() {
    assert_held_launch_stopped("bypass-loader-held-fork", true);
}

/// xrdp's pid file: a daemonizing xrdp that is killed leaves it, and the
/// next xrdp then takes itself for a second copy and exits at once.
const XRDP_PID_FILE: &str = "/var/run/xrdp/xrdp.pid";

fn assert_held_launch_stopped(name: &str, forks: bool) {
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    require_root();
    let s = Scratch::new(name);
    let _ = std::fs::remove_file(XRDP_PID_FILE);
    let config = s.write("approved-windows.toml", "");
    let program = s.path("prog");
    run_ok(Command::new("cp").arg(which("sleep")).arg(&program));
    let tool = s.path("cupsd");
    run_ok(Command::new("cp").arg("/usr/sbin/xrdp").arg(&tool));
    let fifo = s.path("stderr");
    run_ok(Command::new("mkfifo").arg(&fifo));
    // Our end (read and write, so opening never waits), a full pipe, and a
    // blocking writer for the loader's standard error.
    let mut ours = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let mut filler = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let block = [0u8; 4096];
    while filler.write(&block).is_ok() {}
    drop(filler);
    let stderr = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let d = daemon(&s, &config);
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new("/lib64/ld-linux-x86-64.so.2");
    cmd.arg("./prog");
    if !forks {
        cmd.arg("--nodaemon");
    }
    let mut child = cmd
        .arg("--port")
        .arg(port.to_string())
        .env("LD_DEBUG", "varco-test-unknown")
        .current_dir(&s.dir)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let pid = child.id();
    // Well past the source's first look (and its 20 ms wait for a mapping).
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the held loader ended by itself"
    );
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    assert!(
        !maps.contains(program.to_str().unwrap()),
        "the loader was not held: it mapped ./prog already"
    );
    std::fs::rename(&tool, &program).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let draining = std::sync::Arc::clone(&stop);
    let drain = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while !draining.load(std::sync::atomic::Ordering::Relaxed) {
            if ours.read(&mut buf).is_err() {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    let record = d.wait_for(
        |r| r["event"] == "blocked" && r["tool"] == "xrdp" && (forks || r["pid"] == pid),
        Duration::from_secs(8),
    );
    // Whatever runs the mapped xrdp (the launch, or what it forked) must
    // be gone.
    let running = || -> Vec<u32> {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/maps"))
                    .is_ok_and(|m| m.contains(program.to_str().unwrap()))
            })
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut left = running();
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        left = running();
    }
    for p in &left {
        crate::support::signal(*p, "KILL");
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(XRDP_PID_FILE);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = drain.join();
    let r = record.unwrap_or_else(|| {
        panic!(
            "the held loader launch (pid {pid}) was not stopped; records: {:?}",
            d.records()
        )
    });
    assert!(left.is_empty(), "xrdp still ran in {left:?}: {r}");
    assert_eq!(r["matched_by"], "content", "{r}");
}
