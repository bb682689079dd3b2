//! Shared harness for the integration tests: a scratch folder, the real
//! `varco` binary, fake remote tools (copies of `sleep` under a tool's
//! name), and reading the audit log.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `varco` binary cargo built for this test run.
pub fn varco_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_varco"))
}

/// A scratch folder removed when dropped. It also holds a machine-wide
/// lock for its lifetime: a running varco watches every process on the
/// machine, so two tests with daemons at once would stop each other's fake
/// tools. Tests in all test binaries take turns.
pub struct Scratch {
    pub dir: PathBuf,
    _turn: std::fs::File,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let turn = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(std::env::temp_dir().join("varco-tests.lock"))
            .unwrap();
        turn.lock().unwrap();
        let dir = std::env::temp_dir().join(format!("varco-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch { dir, _turn: turn }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// A copy of `sleep` named `name`: a fake remote tool whose executable
    /// file name is what the catalog matches.
    /// A copy of `sleep` named `name`. `cp` writes it, not this process:
    /// a descriptor open for writing here would be inherited by any child
    /// another test thread forks meanwhile, and the copy's exec would fail
    /// with ETXTBSY until that child execs.
    pub fn fake_tool(&self, name: &str) -> PathBuf {
        let p = self.path(name);
        run_ok(Command::new("cp").arg(which("sleep")).arg(&p));
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Fails the test unless it runs as root (`what` says what needs it): the
/// effective uid as `id -u` prints it (no unsafe outside src/sys).
pub fn require_root(what: &str) {
    let out = Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&out.stdout).trim() != "0" {
        panic!("{what} needs root: run bash tests/run.sh as root");
    }
}

/// Runs `cmd` to completion; panics with its output unless it succeeds.
pub fn run_ok(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Spawns `cmd`, whose program may have just been written. Another test
/// thread forking at the moment the copy was written holds its descriptor
/// open until that child execs, so the exec can fail with ETXTBSY for an
/// instant; that is retried, any other error is not.
pub fn spawn_fresh(cmd: &mut Command) -> Child {
    for _ in 0..50 {
        match cmd.spawn() {
            Ok(c) => return c,
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("cannot start {cmd:?}: {e}"),
        }
    }
    panic!("{cmd:?} stayed busy (ETXTBSY)");
}

/// Full path of a program on PATH.
pub fn which(program: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join(program);
        if p.is_file() {
            return p;
        }
    }
    panic!("{program} not found on PATH: the test command installs it (bash tests/run.sh)");
}

/// A running `varco run`, stopped (SIGTERM) when dropped.
pub struct Daemon {
    pub child: Child,
    pub audit: PathBuf,
}

impl Daemon {
    /// Starts `varco run` with these extra arguments and an audit log in
    /// `scratch`, and waits until it has written its `started` record.
    /// Without a `--source` argument it runs the scan: tests written for
    /// "the tool starts, then is stopped" keep meaning that as root, where
    /// `auto` would refuse the exec itself (tests/sources.rs covers that).
    pub fn start(scratch: &Scratch, args: &[&str]) -> Daemon {
        Daemon::start_with_env(scratch, args, &[], &[])
    }

    /// As [`Daemon::start`], with variables set in (`env`) or removed from
    /// (`remove`) the daemon's environment: a desktop session's display,
    /// bus and locale.
    pub fn start_with_env(
        scratch: &Scratch,
        args: &[&str],
        env: &[(&str, &str)],
        remove: &[&str],
    ) -> Daemon {
        let audit = scratch.path("audit.jsonl");
        // The scan unless a test asks for a source, so "the tool starts,
        // then is stopped" keeps meaning that as root.
        let default_source: &[&str] = if args.contains(&"--source") {
            &[]
        } else {
            &["--source", "scan"]
        };
        // Each daemon its own control socket and state folder, so a test
        // never reaches (or inherits a panic from) another's.
        let mut own: Vec<String> = Vec::new();
        if !args.contains(&"--socket") {
            own.push("--socket".into());
            own.push(scratch.path("control/control.sock").display().to_string());
        }
        if !args.contains(&"--state-dir") {
            own.push("--state-dir".into());
            own.push(scratch.path("state").display().to_string());
        }
        let mut cmd = Command::new(varco_bin());
        cmd.arg("run")
            .arg("--audit-log")
            .arg(&audit)
            .args(default_source)
            .args(&own)
            .args(args)
            .env("VARCO_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        for k in remove {
            cmd.env_remove(k);
        }
        let d = Daemon {
            child: cmd.spawn().unwrap(),
            audit,
        };
        d.wait_for(|r| r["event"] == "started", Duration::from_secs(10))
            .expect("the daemon wrote no `started` record");
        d
    }

    /// Every record written so far.
    pub fn records(&self) -> Vec<Value> {
        read_records(&self.audit)
    }

    /// Waits for a record matching `pred`.
    pub fn wait_for(&self, pred: impl Fn(&Value) -> bool, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(r) = self.records().into_iter().find(|r| pred(r)) {
                return Some(r);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the `event` record (`notice`, `fingerprint`) that follows
    /// up `record` (a decision or a `config_error`): what the operator was
    /// told and the executable's hash come after the decision, in records
    /// naming its `id` in `about`.
    pub fn follow_up(&self, record: &Value, event: &str, timeout: Duration) -> Option<Value> {
        let id = record["id"]
            .as_str()
            .expect("the record has no id")
            .to_string();
        self.wait_for(
            |r| r["event"] == event && r["about"] == id.as_str(),
            timeout,
        )
    }

    /// The `notice` record about `record`: whether the operator was told.
    pub fn notice_of(&self, record: &Value) -> Value {
        self.follow_up(record, "notice", Duration::from_secs(10))
            .unwrap_or_else(|| panic!("no notice record about {record}"))
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        signal(self.child.id(), "TERM");
        self.child.wait().unwrap()
    }
}

impl Drop for Daemon {
    /// Kills the daemon and whatever it runs under: when the child is a
    /// launcher (strace), killing it alone would leave a root `varco run`
    /// enforcing on the machine after the test.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let below = descendants(self.child.id());
            let _ = self.child.kill();
            for pid in below {
                signal(pid, "KILL");
            }
            let _ = self.child.wait();
        }
    }
}

/// Every process below `pid`, children before their own children.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut next = vec![pid];
    while let Some(p) = next.pop() {
        let tasks = std::fs::read_dir(format!("/proc/{p}/task"))
            .into_iter()
            .flatten();
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                found.push(child);
                next.push(child);
            }
        }
    }
    found
}

/// Every JSON line of an audit log (none if it does not exist yet).
pub fn read_records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Sends a signal by name with kill(1).
pub fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status();
}

/// Waits until `child` exits, up to `timeout`; returns whether it did.
pub fn exits_within(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// A one-off window for `tools` open from an hour ago to an hour ahead.
pub fn open_window(id: &str, tools: &str) -> String {
    let now = jiff::Timestamp::now();
    let start = now - jiff::SignedDuration::from_hours(1);
    let end = now + jiff::SignedDuration::from_hours(1);
    format!(
        "[contact]\ncompany = \"Esempio Informatica S.r.l.\"\nphone = \"+39 06 1234567\"\n\n[[window]]\nid = \"{id}\"\ntools = [{tools}]\nstart = {}\nend = {}\ntechnician = \"Mario Rossi\"\n",
        start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        end.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
}

/// Full path of a program on PATH, if it is there.
pub fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

/// Ids of the SysV shared-memory segments, only the detached ones when
/// `detached`, from /proc/sysvipc/shm. X and VNC servers a test kills leave
/// theirs behind: a few dozen runs of the suite would fill the kernel's
/// table (`shmget: No space left on device`), so tests remove the detached
/// segments that appeared during their turn.
pub fn shm_segments(detached: bool) -> Vec<u64> {
    std::fs::read_to_string("/proc/sysvipc/shm")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let id = f.get(1)?.parse().ok()?;
            let nattch: u64 = f.get(6)?.parse().ok()?;
            (!detached || nattch == 0).then_some(id)
        })
        .collect()
}
