//! The path from a decision to its records, against the real daemon:
//! the decision is on disk before anything slow happens (the operator's
//! notification, the executable's hash), lines stay in time order, hashing
//! never stalls on what is put at the executable's path, the clock cannot
//! be set back into a closed window, and operators whose accounts come
//! from a directory are recorded and told like any other.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Daemon, Scratch, exits_within, open_window, varco_bin, which};

/// Kills a process left running when a test fails half-way.
struct Running(Child);

impl Running {
    fn spawn(cmd: &mut Command) -> Running {
        Running(crate::support::spawn_fresh(cmd))
    }

    fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn block_mode(s: &Scratch) -> PathBuf {
    s.write(
        "approved-windows.toml",
        "mode = \"block\"\n[contact]\ncompany = \"Esempio Informatica S.r.l.\"\nphone = \"+39 06 1234567\"\n",
    )
}

/// The record of a decision on `pid`, waited for.
fn decision(d: &Daemon, event: &str, pid: u32, timeout: Duration) -> Value {
    d.wait_for(|r| r["event"] == event && r["pid"] == pid, timeout)
        .unwrap_or_else(|| panic!("no {event} record for pid {pid}: {:#?}", d.records()))
}

/// A session agent that takes notices and answers only when told to: a
/// notification that hangs for as long as the test wants. Listens where
/// the enforcer looks for root's agent (the fake tools run as root).
struct HeldAgent {
    received: mpsc::Receiver<String>,
    release: mpsc::Sender<()>,
}

impl HeldAgent {
    fn listen(agents: &Path) -> HeldAgent {
        let dir = agents.join("0");
        std::fs::create_dir_all(&dir).unwrap();
        let listener = UnixListener::bind(dir.join("varco-agent.sock")).unwrap();
        let (got, received) = mpsc::channel();
        let (release, go) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            let mut held: Vec<UnixStream> = Vec::new();
            listener.set_nonblocking(true).unwrap();
            loop {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        let mut line = String::new();
                        BufReader::new(&stream).read_line(&mut line).unwrap();
                        let _ = got.send(line);
                        held.push(stream);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if go.try_recv().is_ok() || held.len() > 8 {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            }
            for mut s in held {
                let _ = s.write_all(b"{\"shown\":true}\n");
            }
        });
        HeldAgent { received, release }
    }
}

/// The decision is written at once: while the operator's agent still
/// holds the notification, both tools' records are on disk; the notices
/// follow once it answers, and every line is in time order (before,
/// records waited up to 6 s for their notification and came out of order).
#[test]
fn decisions_are_on_disk_while_their_notifications_are_still_pending() {
    let s = Scratch::new("pipeline-record-first");
    let agents = s.path("agents");
    let agent = HeldAgent::listen(&agents);
    let config = block_mode(&s);
    let d = Daemon::start(
        &s,
        &[
            "--config",
            config.to_str().unwrap(),
            "--notify",
            "agent",
            "--agent-dir",
            agents.to_str().unwrap(),
            "--poll-ms",
            "100",
        ],
    );
    let anydesk = s.fake_tool("AnyDesk");
    let rustdesk = s.fake_tool("RustDesk");
    let mut first = Running::spawn(Command::new(&anydesk).arg("60"));
    assert!(exits_within(&mut first.0, Duration::from_secs(3)));
    let r1 = decision(&d, "blocked", first.id(), Duration::from_secs(3));
    // The agent has the notice and has not answered.
    let notice = agent
        .received
        .recv_timeout(Duration::from_secs(3))
        .expect("the agent was not asked");
    assert!(notice.contains("AnyDesk"), "{notice}");
    let mut second = Running::spawn(Command::new(&rustdesk).arg("60"));
    assert!(exits_within(&mut second.0, Duration::from_secs(3)));
    let r2 = decision(&d, "blocked", second.id(), Duration::from_secs(3));
    agent
        .received
        .recv_timeout(Duration::from_secs(3))
        .expect("the agent was not asked about the second tool");
    assert!(
        d.follow_up(&r1, "notice", Duration::ZERO).is_none(),
        "a notice was recorded before the agent answered"
    );
    // The hashes need no agent: already there.
    for (r, tool) in [(&r1, &anydesk), (&r2, &rustdesk)] {
        let f = d
            .follow_up(r, "fingerprint", Duration::from_secs(5))
            .expect("no fingerprint record");
        assert_eq!(f["exe_sha256"], sha256sum(tool), "{f}");
        assert_eq!(f["pid"], r["pid"], "{f}");
    }

    agent.release.send(()).unwrap();
    for r in [&r1, &r2] {
        let n = d.notice_of(r);
        assert_eq!(n["notified"], true, "{n}");
        assert_eq!(n["tool"], r["tool"], "{n}");
    }
    let records = d.records();
    let position = |pred: &dyn Fn(&Value) -> bool| records.iter().position(pred).unwrap();
    let blocked2 = position(&|r| r["id"] == r2["id"]);
    let notice1 = position(&|r| r["event"] == "notice" && r["about"] == r1["id"]);
    assert!(
        blocked2 < notice1,
        "the second decision waited for the first notification"
    );
    assert_in_time_order(&records);
}

/// Every line's time is at or after the previous line's.
fn assert_in_time_order(records: &[Value]) {
    let times: Vec<jiff::Timestamp> = records
        .iter()
        .map(|r| r["time"].as_str().unwrap().parse().unwrap())
        .collect();
    for (i, pair) in times.windows(2).enumerate() {
        assert!(
            pair[0] <= pair[1],
            "line {} is earlier than line {}:\n{}\n{}",
            i + 2,
            i + 1,
            records[i],
            records[i + 1]
        );
    }
}

/// A FIFO mounted over a file until dropped.
struct MountedOver(PathBuf);

impl MountedOver {
    fn fifo(s: &Scratch, over: &Path) -> MountedOver {
        let fifo = s.path("fifo");
        assert!(
            Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let ok = Command::new("mount")
            .arg("--bind")
            .arg(&fifo)
            .arg(over)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount --bind (the test runs as root) failed");
        MountedOver(over.to_path_buf())
    }
}

impl Drop for MountedOver {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// What is found at a tool's path when it is hashed — a FIFO (reading
/// would wait for a writer forever), a sparse file of 8 GiB (hours of
/// zeros) — is recorded as not hashed, and the daemon goes on deciding.
#[test]
fn a_fifo_or_a_sparse_giant_at_the_tools_path_is_recorded_unhashed_without_a_stall() {
    let s = Scratch::new("pipeline-unhashable");
    let config = block_mode(&s);
    // A working program padded to 8 GiB without taking disk space.
    let giant = s.fake_tool("AnyDesk");
    // `truncate` pads it, for the reason `fake_tool` copies with `cp`.
    crate::support::run_ok(Command::new("truncate").arg("-s").arg("8G").arg(&giant));
    let giant_run = Running::spawn(Command::new(&giant).arg("60"));
    // A running tool whose path now leads to a FIFO: the process runs the
    // file it was started from, its path opens the FIFO.
    let hidden = s.fake_tool("TeamViewer");
    let hidden_run = Running::spawn(Command::new(&hidden).arg("60"));
    std::thread::sleep(Duration::from_millis(100));
    let _fifo = MountedOver::fifo(&s, &hidden);

    // Started now, the daemon finds both running.
    let d = Daemon::start(
        &s,
        &[
            "--config",
            config.to_str().unwrap(),
            "--notify",
            "agent",
            "--agent-dir",
            s.path("agents").to_str().unwrap(),
            "--poll-ms",
            "100",
        ],
    );
    let r = decision(&d, "blocked", giant_run.id(), Duration::from_secs(5));
    let f = d
        .follow_up(&r, "fingerprint", Duration::from_secs(5))
        .expect("no fingerprint record for the sparse giant");
    assert_eq!(f["not_hashed"], "too_large", "{f}");
    assert_eq!(f["not_hashed_size"], 8u64 << 30, "{f}");
    assert!(f.get("exe_sha256").is_none(), "{f}");

    let r = decision(&d, "blocked", hidden_run.id(), Duration::from_secs(5));
    let f = d
        .follow_up(&r, "fingerprint", Duration::from_secs(5))
        .expect("no fingerprint record for the FIFO");
    assert_eq!(f["not_hashed"], "not_regular", "{f}");
    assert_eq!(f["not_hashed_detail"], "a FIFO", "{f}");

    // Nothing is stuck: the next tool is decided and hashed as usual.
    let next = s.fake_tool("RustDesk");
    let mut run = Running::spawn(Command::new(&next).arg("60"));
    assert!(exits_within(&mut run.0, Duration::from_secs(3)));
    let r = decision(&d, "blocked", run.id(), Duration::from_secs(3));
    let f = d
        .follow_up(&r, "fingerprint", Duration::from_secs(5))
        .expect("no fingerprint record after the stall attempts");
    assert_eq!(f["exe_sha256"], sha256sum(&next), "{f}");
}

/// Sets the daemon's wall clock `seconds` away from the real one (the
/// debug-build test hook, `VARCO_TEST_CLOCK_FILE`).
fn set_clock(file: &Path, seconds: i64) {
    std::fs::write(file, seconds.to_string()).unwrap();
}

/// A window open now admits the tool; the clock jumps two hours forward,
/// past the window's end: the tool is stopped. The clock is set back into
/// the window: the tool started again is still stopped — setting the
/// clock back never reopens a window that had closed. Each jump is
/// recorded.
#[test]
fn a_clock_set_back_never_reopens_a_window_that_had_closed() {
    let s = Scratch::new("pipeline-clock");
    let clock = s.write("clock-offset", "0");
    let config = s.write(
        "approved-windows.toml",
        &open_window("INC-CLOCK", "\"anydesk\""),
    );
    let d = Daemon::start_with_env(
        &s,
        &[
            "--config",
            config.to_str().unwrap(),
            "--notify",
            "agent",
            "--agent-dir",
            s.path("agents").to_str().unwrap(),
            "--poll-ms",
            "100",
        ],
        &[("VARCO_TEST_CLOCK_FILE", clock.to_str().unwrap())],
        &[],
    );
    let tool = s.fake_tool("AnyDesk");
    let mut admitted = Running::spawn(Command::new(&tool).arg("60"));
    let r = decision(&d, "allowed", admitted.id(), Duration::from_secs(3));
    assert_eq!(r["window"], "INC-CLOCK", "{r}");

    // Two hours forward: the window (one more hour) has ended.
    set_clock(&clock, 2 * 3600);
    let jump = d
        .wait_for(|r| r["event"] == "clock_jump", Duration::from_secs(5))
        .expect("no clock_jump record for the forward jump");
    let ms = jump["clock_difference_ms"].as_i64().unwrap();
    assert!((7_190_000..=7_210_000).contains(&ms), "{jump}");
    assert!(jump["clock_from"].is_string() && jump["clock_to"].is_string());
    assert!(
        exits_within(&mut admitted.0, Duration::from_secs(3)),
        "the admitted tool outlived its window"
    );
    let stopped = decision(&d, "blocked", admitted.id(), Duration::from_secs(3));
    assert!(
        stopped["reason"]
            .as_str()
            .unwrap_or("")
            .contains("no longer open"),
        "{stopped}"
    );

    // Back into the window.
    set_clock(&clock, 0);
    let back = d
        .wait_for(
            |r| {
                r["event"] == "clock_jump"
                    && r["clock_difference_ms"].as_i64().is_some_and(|ms| ms < 0)
            },
            Duration::from_secs(5),
        )
        .expect("no clock_jump record for the backward jump");
    let ms = back["clock_difference_ms"].as_i64().unwrap();
    assert!((-7_210_000..=-7_190_000).contains(&ms), "{back}");
    let mut again = Running::spawn(Command::new(&tool).arg("60"));
    assert!(
        exits_within(&mut again.0, Duration::from_secs(3)),
        "setting the clock back reopened the window"
    );
    let r = decision(&d, "blocked", again.id(), Duration::from_secs(3));
    // Recorded at the system's time, decided at the time already reached.
    let time: jiff::Timestamp = r["time"].as_str().unwrap().parse().unwrap();
    let decided: jiff::Timestamp = r["decided_at"]
        .as_str()
        .unwrap_or_else(|| panic!("no decided_at: {r}"))
        .parse()
        .unwrap();
    assert!(
        decided.duration_since(time) > jiff::SignedDuration::from_mins(110),
        "{r}"
    );
}

/// A uid that no name service knows.
const NAMELESS: u32 = 4242;
/// The uid of an account from a directory, served through NSS by
/// nss-systemd from a drop-in record, not in /etc/passwd (as sssd serves
/// Active Directory accounts).
const DIRECTORY_UID: u32 = 4243;
const DIRECTORY_USER: &str = "operatore-ad";

fn getent_passwd(key: &str) -> Option<String> {
    let out = Command::new("getent")
        .args(["passwd", key])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// An account that exists only in the name service's directory (a
/// systemd user-database drop-in), removed when dropped.
struct DirectoryUser {
    files: Vec<PathBuf>,
}

impl DirectoryUser {
    fn add(name: &str, uid: u32) -> DirectoryUser {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
        assert!(
            !passwd
                .lines()
                .any(|l| l.split(':').nth(2) == Some(&uid.to_string())),
            "uid {uid} is in /etc/passwd: this test needs it free"
        );
        let dir = Path::new("/run/userdb");
        std::fs::create_dir_all(dir).unwrap();
        let record = dir.join(format!("{name}.user"));
        std::fs::write(
            &record,
            format!(
                "{{\"userName\":\"{name}\",\"uid\":{uid},\"gid\":{uid},\"homeDirectory\":\"/nonexistent\",\"shell\":\"/usr/sbin/nologin\",\"disposition\":\"regular\"}}\n"
            ),
        )
        .unwrap();
        let by_uid = dir.join(format!("{uid}.user"));
        let _ = std::fs::remove_file(&by_uid);
        std::os::unix::fs::symlink(&record, &by_uid).unwrap();
        let user = DirectoryUser {
            files: vec![by_uid, record],
        };
        let found = getent_passwd(&uid.to_string()).unwrap_or_default();
        assert!(
            found.starts_with(&format!("{name}:")),
            "the name service does not resolve uid {uid} from /run/userdb (is libnss-systemd installed and `systemd` listed for passwd in /etc/nsswitch.conf? bash tests/run.sh installs it): {found:?}"
        );
        user
    }
}

impl Drop for DirectoryUser {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// An operator from a directory (not in /etc/passwd) is named in the
/// record, with the uid, and their own agent shows the notice on their
/// desktop (a real dunst on their own session bus).
#[test]
fn an_operator_from_a_directory_is_named_and_told_on_their_desktop() {
    let _user = DirectoryUser::add(DIRECTORY_USER, DIRECTORY_UID);
    crate::desktop::operator_is_told_by_their_own_agent(
        "pipeline-directory-user",
        &[],
        DIRECTORY_UID,
        DIRECTORY_USER,
    );
}

/// A uid no name service knows is recorded by number (`user` null), and
/// the enforcer still reaches the agent of that uid: the agent answers
/// (it has no notification server — nothing can start a session bus for
/// a nameless uid) and says so in its log. Under fanotify, so the owner is
/// read while the exec is held.
#[test]
fn a_uid_without_a_name_is_recorded_by_number_and_its_agent_is_reached() {
    assert_eq!(
        getent_passwd(&NAMELESS.to_string()),
        None,
        "uid {NAMELESS} has a name here: this test needs it nameless"
    );
    let s = Scratch::new("pipeline-nameless");
    let agents = s.path("agents");
    let own = agents.join(NAMELESS.to_string());
    std::fs::create_dir_all(&own).unwrap();
    let ids = format!("{NAMELESS}:{NAMELESS}");
    assert!(
        Command::new("chown")
            .arg(&ids)
            .arg(&own)
            .status()
            .unwrap()
            .success()
    );
    let agent_log = s.path("agent.log");
    let _agent = Running::spawn(
        as_uid(NAMELESS, &varco_bin())
            .arg("agent")
            .arg("--agent-dir")
            .arg(&agents)
            .env("VARCO_LOG", "info")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env_remove("DISPLAY")
            .stderr(std::fs::File::create(&agent_log).unwrap()),
    );
    let socket = own.join("varco-agent.sock");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the agent of uid {NAMELESS} did not listen: {}",
            std::fs::read_to_string(&agent_log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let config = block_mode(&s);
    let d = Daemon::start_with_env(
        &s,
        &[
            "--config",
            config.to_str().unwrap(),
            "--notify",
            "agent",
            "--agent-dir",
            agents.to_str().unwrap(),
            "--source",
            "fanotify",
        ],
        &[],
        &["DBUS_SESSION_BUS_ADDRESS", "DISPLAY"],
    );
    let tool = s.fake_tool("AnyDesk");
    let mut run = Running::spawn(as_uid(NAMELESS, &tool).arg("60").stderr(Stdio::null()));
    assert!(
        exits_within(&mut run.0, Duration::from_secs(3)),
        "the nameless user's AnyDesk was not stopped"
    );
    let r = decision(&d, "blocked", run.id(), Duration::from_secs(5));
    assert_eq!(r["uid"], NAMELESS, "{r}");
    assert_eq!(r["user"], Value::Null, "{r}");
    let n = d.notice_of(&r);
    assert_eq!(n["uid"], NAMELESS, "{n}");
    assert_eq!(
        n["not_notified"], "no_notification_server",
        "the enforcer did not reach the agent of uid {NAMELESS}: {n}"
    );
    let log = std::fs::read_to_string(&agent_log).unwrap();
    assert!(
        log.contains("notice from the service") && log.contains("AnyDesk"),
        "the agent's log does not show the notice: {log}"
    );
}

/// `program` run as `uid` (and its group) without supplementary groups.
fn as_uid(uid: u32, program: &Path) -> Command {
    let mut c = Command::new(which("setpriv"));
    c.arg(format!("--reuid={uid}"))
        .arg(format!("--regid={uid}"))
        .arg("--clear-groups")
        .arg(program)
        .env("HOME", "/nonexistent");
    c
}
