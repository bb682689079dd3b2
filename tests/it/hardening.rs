//! The hardened system unit (packaging/linux/varco-system.service) against
//! the real daemon: the capabilities it keeps are each needed and together
//! enough, every system call the daemon makes passes its filter, and the
//! daemon speaks the `Type=notify` + watchdog protocol it promises.
//!
//! No systemd runs here, so the sandbox itself is not applied by systemd:
//! the capability set is applied with `setpriv` (the same bounding set a
//! root service gets), the system calls are recorded with `strace` and
//! checked against the unit's filter as `systemd-analyze` expands it, and
//! the notify socket is a real datagram socket. Each daemon marks only a
//! tmpfs of its own with fanotify, so other tests' programs are not asked.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Daemon, Scratch, exits_within, signal, varco_bin, which};

const UNIT: &str = "packaging/linux/varco-system.service";
/// The unprivileged user whose programs the service must stop and whose
/// agent it must reach.
const NOBODY: u32 = 65534;

/// Values of every `KEY=` line of the system unit, in order.
fn unit_values(key: &str) -> Vec<String> {
    std::fs::read_to_string(UNIT)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_string)
        .collect()
}

/// The unit's capabilities, as setpriv names them (`sys_admin`, ...).
fn unit_capabilities() -> Vec<String> {
    unit_values("CapabilityBoundingSet")
        .concat()
        .split_whitespace()
        .map(|c| c.trim_start_matches("CAP_").to_ascii_lowercase())
        .collect()
}

/// A scratch folder with a tmpfs of its own mounted in it: the only
/// filesystem the trial daemon marks. Unmounted when dropped.
struct Trial {
    s: Scratch,
    fs: PathBuf,
}

impl Trial {
    fn new(name: &str) -> Trial {
        let s = Scratch::new(name);
        let fs = s.path("fs");
        std::fs::create_dir(&fs).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "mode=755", "tmpfs"])
            .arg(&fs)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mount tmpfs (the tests run as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let run = fs.join("run").join(NOBODY.to_string());
        std::fs::create_dir_all(&run).unwrap();
        std::os::unix::fs::chown(&run, Some(NOBODY), Some(NOBODY)).unwrap();
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(
            fs.join("approved-windows.toml"),
            std::fs::read_to_string("config/approved-windows.default.toml").unwrap(),
        )
        .unwrap();
        // An execute-only tool owned by its user: reading it to identify
        // it needs CAP_DAC_OVERRIDE.
        let tool = fs.join("AnyDesk");
        std::fs::copy(which("sleep"), &tool).unwrap();
        std::os::unix::fs::chown(&tool, Some(NOBODY), Some(NOBODY)).unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o111)).unwrap();
        Trial { s, fs }
    }

    /// `varco agent` for nobody, listening in this trial's runtime folder.
    fn agent(&self) -> Child {
        let mut agent = as_nobody(&varco_bin())
            .arg("agent")
            .arg("--agent-dir")
            .arg(self.fs.join("run"))
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let socket = self.fs.join(format!("run/{NOBODY}/varco-agent.sock"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "the agent did not listen");
            assert!(agent.try_wait().unwrap().is_none(), "the agent exited");
            std::thread::sleep(Duration::from_millis(20));
        }
        agent
    }

    /// `varco run` with only `caps` in its bounding set, as a root service
    /// with `CapabilityBoundingSet=` has them.
    fn daemon(&self, caps: &[String], source: &str) -> Daemon {
        let bounding = std::iter::once("-all".to_string())
            .chain(caps.iter().map(|c| format!("+{c}")))
            .collect::<Vec<_>>()
            .join(",");
        let mut setpriv = Command::new(which("setpriv"));
        setpriv
            .arg(format!("--bounding-set={bounding}"))
            .arg("--inh-caps=-all")
            .arg("--");
        self.daemon_under(setpriv, source)
    }

    /// `varco run` on this trial's tmpfs, windows file and agents, started
    /// by `launcher` (which runs the command line it is given).
    fn daemon_under(&self, mut launcher: Command, source: &str) -> Daemon {
        let audit = self.s.path("audit.jsonl");
        let _ = std::fs::remove_file(&audit);
        let child = launcher
            .arg(varco_bin())
            .args(["run", "--notify", "agent", "--source", source])
            .arg("--fanotify-only")
            .arg(&self.fs)
            .arg("--config")
            .arg(self.fs.join("approved-windows.toml"))
            .arg("--audit-log")
            .arg(&audit)
            .arg("--agent-dir")
            .arg(self.fs.join("run"))
            .env("VARCO_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let d = Daemon { child, audit };
        d.wait_for(|r| r["event"] == "started", Duration::from_secs(20))
            .expect("the daemon wrote no `started` record");
        d
    }

    /// Starts the tool as nobody; returns it with how long it took to end
    /// (None: still running after 3 s).
    fn run_tool(&self) -> (Child, Option<Duration>) {
        let started = Instant::now();
        let mut tool = as_nobody(&self.fs.join("AnyDesk"))
            .arg("30")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let ended = exits_within(&mut tool, Duration::from_secs(3)).then(|| started.elapsed());
        (tool, ended)
    }
}

impl Drop for Trial {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.fs).status();
    }
}

fn as_nobody(program: &Path) -> Command {
    let mut c = Command::new(which("setpriv"));
    c.arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={NOBODY}"))
        .arg("--clear-groups")
        .arg(program);
    c
}

/// The first `blocked` record, once the notification attempt that
/// follows it (its `notice` record) is written too.
fn blocked(d: &Daemon) -> Value {
    let r = d
        .wait_for(|r| r["event"] == "blocked", Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no `blocked` record: {:?}", d.records()));
    d.notice_of(&r);
    r
}

/// Each `blocked` record of `records` with what its follow-ups say (the
/// `notice`: whether the operator was told; the `fingerprint`: the
/// executable's hash) folded in, so one value says all about one stop.
fn blocked_with_follow_ups(records: &[Value]) -> Vec<Value> {
    records
        .iter()
        .filter(|r| r["event"] == "blocked")
        .map(|r| {
            let mut whole = r.clone();
            for f in records
                .iter()
                .filter(|f| r["id"].is_string() && f["about"] == r["id"])
            {
                for key in [
                    "notified",
                    "not_notified",
                    "not_notified_detail",
                    "exe_sha256",
                    "not_hashed",
                ] {
                    if !f[key].is_null() {
                        whole[key] = f[key].clone();
                    }
                }
            }
            whole
        })
        .collect()
}

/// The agent was reached (whether or not it could show the notice: nobody
/// has no desktop here, so the agent answers that it has no notification
/// server).
fn agent_reached(r: &Value) -> bool {
    r["notified"] == true || r["not_notified"] == "no_notification_server"
}

fn stop_rest(mut agent: Child, mut tool: Child) {
    let _ = tool.kill();
    let _ = tool.wait();
    let _ = agent.kill();
    let _ = agent.wait();
}

/// What one attempt of nobody's tool against a daemon with `caps` gave.
struct Attempt {
    /// The daemon's `started` record.
    started: Value,
    /// Every `blocked` record (the proc connector may decide one exec
    /// twice; the assertions hold for all of them or for one, as said).
    blocked: Vec<Value>,
    /// How long the tool lived (None: still alive after 3 s).
    ended: Option<Duration>,
}

impl Attempt {
    fn any(&self, what: &str, pred: impl Fn(&Value) -> bool) -> &Value {
        self.blocked
            .iter()
            .find(|r| pred(r))
            .unwrap_or_else(|| panic!("no `blocked` record {what}: {:#?}", self.blocked))
    }

    fn none(&self, what: &str, pred: impl Fn(&Value) -> bool) {
        assert!(
            !self.blocked.iter().any(pred),
            "a `blocked` record {what}: {:#?}",
            self.blocked
        );
    }
}

impl Trial {
    fn attempt(&self, caps: &[String], source: &str) -> Attempt {
        let agent = self.agent();
        let mut d = self.daemon(caps, source);
        let (tool, ended) = self.run_tool();
        blocked(&d);
        // Stopping writes the records still waiting for their notice.
        d.stop();
        stop_rest(agent, tool);
        let records = d.records();
        Attempt {
            started: records[0].clone(),
            blocked: blocked_with_follow_ups(&records),
            ended,
        }
    }
}

#[test]
fn with_the_units_capabilities_the_service_refuses_kills_identifies_and_notifies() {
    let caps = unit_capabilities();
    let t = Trial::new("caps-enough");
    let identified = |r: &Value| {
        r["exe"].as_str().is_some_and(|e| e.ends_with("/AnyDesk")) && r["exe_sha256"].is_string()
    };

    let a = t.attempt(&caps, "fanotify");
    assert!(a.ended.is_some(), "nobody's AnyDesk ran with fanotify on");
    a.any("refused before it started", |r| {
        r["outcome"] == "refused_before_start"
    });
    a.any("with the execute-only tool read", identified);
    a.any("that reached nobody's agent", agent_reached);

    let a = t.attempt(&caps, "proc-connector");
    assert!(
        a.ended.is_some(),
        "nobody's AnyDesk outlived the proc connector"
    );
    a.any("stopped", |r| {
        r["outcome"] == "stopped" && r["stopped_processes"] == 1
    });
    a.any("with the tool's exe and content", identified);
    a.any("that reached nobody's agent", agent_reached);
}

#[test]
fn each_capability_of_the_unit_is_needed() {
    let caps = unit_capabilities();
    assert_eq!(
        caps,
        [
            "sys_admin",
            "kill",
            "sys_ptrace",
            "dac_override",
            "net_admin"
        ],
        "a capability was added or removed: prove it here and in docs/deploy.md"
    );
    let without = |cap: &str| {
        caps.iter()
            .filter(|c| *c != cap)
            .cloned()
            .collect::<Vec<_>>()
    };
    let t = Trial::new("caps-needed");

    // fanotify needs CAP_SYS_ADMIN: auto falls back, and says why.
    let a = t.attempt(&without("sys_admin"), "auto");
    assert_eq!(a.started["source"], "proc-connector", "{}", a.started);

    // Other users' /proc/PID/exe needs CAP_SYS_PTRACE.
    let a = t.attempt(&without("sys_ptrace"), "proc-connector");
    a.none("with an exe read without CAP_SYS_PTRACE", |r| {
        !r["exe"].is_null()
    });

    // Their programs can be stopped only with CAP_KILL.
    let a = t.attempt(&without("kill"), "proc-connector");
    assert!(a.ended.is_none(), "stopped without CAP_KILL");
    a.none("that stopped it without CAP_KILL", |r| {
        r["outcome"] != "not_stopped"
    });

    // Execute-only files and the users' agent sockets need CAP_DAC_OVERRIDE.
    let a = t.attempt(&without("dac_override"), "fanotify");
    a.any("refused before it started", |r| {
        r["outcome"] == "refused_before_start"
    });
    a.none("with content read without DAC", |r| {
        r.get("exe_sha256").is_some()
    });
    a.none("that reached the agent without DAC", agent_reached);
}

/// Every system call in the sets of the unit's `SystemCallFilter=` lines,
/// applied in order as systemd does (an allow list, then `~` removals and
/// later additions).
fn unit_allowed_syscalls() -> BTreeSet<String> {
    fn expand(name: &str) -> Vec<String> {
        if !name.starts_with('@') {
            return vec![name.to_string()];
        }
        let out = Command::new(which("systemd-analyze"))
            .args(["syscall-filter", name])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "systemd-analyze syscall-filter {name}"
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .filter(|w| !w.starts_with('#'))
            .flat_map(expand)
            .collect()
    }
    let mut allowed = BTreeSet::new();
    for line in unit_values("SystemCallFilter") {
        let (remove, list) = match line.strip_prefix('~') {
            Some(rest) => (true, rest),
            None => (false, line.as_str()),
        };
        for name in list.split_whitespace().flat_map(expand) {
            if remove {
                allowed.remove(&name);
            } else {
                allowed.insert(name);
            }
        }
    }
    allowed
}

#[test]
fn every_system_call_the_daemon_makes_passes_the_units_filter() {
    let allowed = unit_allowed_syscalls();
    assert!(allowed.contains("fanotify_init") && !allowed.contains("chown"));
    let t = Trial::new("syscalls");
    // Remote syslog too: its sockets are part of what the service does.
    let config = t.fs.join("approved-windows.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[log]\nlocal = true\nremote = \"udp://127.0.0.1:9\"\n");
    std::fs::write(&config, text).unwrap();
    let mut used = BTreeSet::new();
    for source in ["fanotify", "proc-connector"] {
        let agent = t.agent();
        let trace = t.s.path(&format!("strace-{source}"));
        let mut strace = Command::new(which("strace"));
        strace.args(["-f", "-qq", "-o"]).arg(&trace);
        let d = t.daemon_under(strace, source);
        let (tool, _) = t.run_tool();
        blocked(&d);
        // A reload of the windows file, then a clean stop.
        std::fs::write(&config, std::fs::read_to_string(&config).unwrap() + "#\n").unwrap();
        d.wait_for(|r| r["event"] == "config_reloaded", Duration::from_secs(10))
            .expect("no reload");
        // strace is the child: signal varco itself.
        let varco = pgrep_child(d.child.id());
        signal(varco, "TERM");
        let mut d = d;
        let status = d.child.wait().unwrap();
        assert!(status.success(), "varco under strace: {status}");
        stop_rest(agent, tool);
        let text = std::fs::read_to_string(&trace).unwrap();
        used.extend(text.lines().filter_map(syscall_name));
    }
    for needed in [
        "fanotify_init",
        "fanotify_mark",
        "pidfd_send_signal",
        "connect",
        // The proc connector's thread beside fanotify, made a batch thread.
        "sched_setscheduler",
    ] {
        assert!(used.contains(needed), "the trace missed {needed}: {used:?}");
    }
    // strace itself execs varco: that exec is the service manager's.
    used.remove("execve");
    let refused: Vec<_> = used.difference(&allowed).collect();
    assert!(
        refused.is_empty(),
        "the unit's SystemCallFilter= refuses calls varco makes: {refused:?} (add them to {UNIT})"
    );
    eprintln!(
        "varco made {} distinct system calls, all allowed",
        used.len()
    );
}

/// The system call named on one line of `strace -f` output.
fn syscall_name(line: &str) -> Option<String> {
    let rest = line.split_once(' ')?.1.trim_start();
    let rest = rest.strip_prefix("<... ").unwrap_or(rest);
    let name: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty() && rest[name.len()..].starts_with(['(', ' '])).then_some(name)
}

/// The pid of the only child of `parent`.
fn pgrep_child(parent: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let children = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
            .unwrap_or_default();
        if let Some(pid) = children.split_whitespace().next() {
            return pid.parse().unwrap();
        }
        assert!(Instant::now() < deadline, "strace started no child");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_daemon_tells_systemd_it_is_ready_alive_and_stopping() {
    let s = Scratch::new("sd-notify");
    let socket = s.path("notify");
    let server = UnixDatagram::bind(&socket).unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut d = Daemon::start_with_env(
        &s,
        &[
            "--config",
            s.write("approved-windows.toml", "").to_str().unwrap(),
        ],
        &[("NOTIFY_SOCKET", socket.to_str().unwrap())],
        &[],
    );
    let mut buf = [0u8; 512];
    let mut next = || {
        let n = server.recv(&mut buf).expect("no datagram from varco");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let status = next();
    assert!(status.starts_with("STATUS=enforcing with scan"), "{status}");
    assert_eq!(next(), "READY=1");
    // The watchdog ping comes from the main loop, every second.
    let started = Instant::now();
    assert_eq!(next(), "WATCHDOG=1");
    assert_eq!(next(), "WATCHDOG=1");
    // Well inside WatchdogSec=20s even on a loaded machine.
    assert!(started.elapsed() < Duration::from_secs(5));
    d.stop();
    let mut last = next();
    while last == "WATCHDOG=1" {
        last = next();
    }
    assert_eq!(last, "STOPPING=1");
    let watchdog = unit_values("WatchdogSec");
    assert_eq!(
        watchdog,
        ["20s"],
        "ping every 1 s, well inside the watchdog"
    );
    assert_eq!(unit_values("Type"), ["notify"]);
}
