//! What the operator and the comune meet beyond the gatekeeping itself,
//! on the real daemon: the warning before a window ends, the panic button
//! (run by a user who is not root) and `varco resume`, windows that admit
//! only the contractor's peers (fake tools writing AnyDesk's and
//! TeamViewer's real log lines), where a tool came from (a real extended
//! attribute, real gvfs metadata written by the real gvfsd-metadata), and
//! the contract report.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::support::{Daemon, Scratch, exits_within, open_window, varco_bin, which};

const NOBODY: &str = "65534";

/// `varco ARGS` run as user `nobody` (as an operator without rights).
fn varco_as_nobody(args: &[&str]) -> Output {
    Command::new(which("setpriv"))
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
        ])
        .arg(varco_bin())
        .args(args)
        .env("LANG", "it_IT.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .unwrap()
}

fn varco(args: &[&str]) -> Output {
    Command::new(varco_bin())
        .args(args)
        .env("LANG", "it_IT.UTF-8")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn spawn(path: &Path) -> Child {
    Command::new(path).arg("60").spawn().unwrap()
}

fn socket(s: &Scratch) -> String {
    s.path("control/control.sock").display().to_string()
}

fn count(d: &Daemon, event: &str) -> usize {
    d.records().iter().filter(|r| r["event"] == event).count()
}

/// A one-off window from an hour ago to `ends_in` from now.
fn window_ending_in(id: &str, tools: &str, ends_in: Duration, extra: &str) -> String {
    let now = jiff::Timestamp::now();
    let start = now - jiff::SignedDuration::from_hours(1);
    let end = now + jiff::SignedDuration::try_from(ends_in).unwrap();
    format!(
        "[contact]\ncompany = \"Esempio Informatica S.r.l.\"\nphone = \"+39 06 1234567\"\n\n[[window]]\nid = \"{id}\"\ntools = [{tools}]\nstart = {}\nend = {}\ntechnician = \"Mario Rossi\"\n{extra}",
        start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        end.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
}

#[test]
fn the_operator_is_warned_once_before_the_window_ends_then_the_tool_is_stopped() {
    let s = Scratch::new("op-ending");
    let config = s.write(
        "approved-windows.toml",
        &window_ending_in(
            "INC-END",
            "\"anydesk\"",
            Duration::from_secs(7),
            "warn_before_end = \"4s\"\n",
        ),
    );
    let tool = s.fake_tool("AnyDesk");
    let mut d = Daemon::start(&s, &["--config", config.to_str().unwrap()]);
    let mut child = spawn(&tool);
    d.wait_for(
        |r| r["event"] == "allowed" && r["pid"] == child.id(),
        Duration::from_secs(5),
    )
    .expect("AnyDesk not admitted");
    let warned = d
        .wait_for(|r| r["event"] == "window_ending", Duration::from_secs(8))
        .expect("no window_ending record");
    assert_eq!(warned["window"], "INC-END", "{warned}");
    assert_eq!(warned["tools"], serde_json::json!(["AnyDesk"]), "{warned}");
    assert!(warned["until"].is_string(), "{warned}");
    // At the end, stopped as before.
    assert!(
        exits_within(&mut child, Duration::from_secs(8)),
        "AnyDesk outlived its window"
    );
    let stop = d
        .wait_for(
            |r| r["event"] == "blocked" && r["pid"] == child.id(),
            Duration::from_secs(5),
        )
        .expect("no record of the stop at the end");
    assert!(
        stop["reason"].as_str().unwrap().contains("no longer open"),
        "{stop}"
    );
    assert_eq!(count(&d, "window_ending"), 1, "warned more than once");
    // A tool started after the window: what IT must explain on the bill.
    let outside = s.fake_tool("RustDesk");
    let mut late = spawn(&outside);
    assert!(exits_within(&mut late, Duration::from_secs(5)));
    d.wait_for(
        |r| r["event"] == "blocked" && r["pid"] == late.id(),
        Duration::from_secs(5),
    )
    .expect("RustDesk not blocked after the window");
    d.stop();

    // The contract report of the day, from what this daemon wrote.
    // The local date, as the report counts days.
    let today = Command::new("date").arg("+%F").output().unwrap();
    let today = String::from_utf8_lossy(&today.stdout).trim().to_string();
    let out = s.path("contratto");
    let o = varco(&[
        "report",
        "--windows",
        "--from",
        &today,
        "--to",
        &today,
        "--audit-log",
        d.audit.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let md = std::fs::read_to_string(out.with_extension("md")).unwrap();
    for needle in [
        "| INC-END | dal ",
        "| Mario Rossi | non indicato | sì (1) |",
        "fermato da varco alla chiusura della finestra",
        "Strumenti fermati o segnalati fuori dalle finestre (1)",
        "RustDesk",
    ] {
        assert!(md.contains(needle), "missing {needle:?} in\n{md}");
    }
}

#[test]
fn the_panic_button_stops_tools_inside_a_window_and_only_root_reopens_it() {
    let s = Scratch::new("op-panic");
    let config = s.write(
        "approved-windows.toml",
        &open_window("INC-PANIC", "\"anydesk\"")
            .replace("[contact]", "[panic]\nuntil = \"resume\"\n\n[contact]"),
    );
    let tool = s.fake_tool("AnyDesk");
    let mut d = Daemon::start(&s, &["--config", config.to_str().unwrap()]);
    let mut child = spawn(&tool);
    d.wait_for(
        |r| r["event"] == "allowed" && r["pid"] == child.id(),
        Duration::from_secs(5),
    )
    .expect("AnyDesk not admitted inside its window");

    // Any user of the desktop may press it.
    let out = varco_as_nobody(&["panic", "--socket", &socket(&s)]);
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("Assistenza remota interrotta") && said.contains("+39 06 1234567"),
        "{said}"
    );
    assert!(
        exits_within(&mut child, Duration::from_secs(3)),
        "the panic left AnyDesk running"
    );
    let panic = d
        .wait_for(|r| r["event"] == "panic", Duration::from_secs(8))
        .expect("no panic record");
    // The user comes from the socket's peer credentials.
    assert_eq!(panic["uid"], 65534, "{panic}");
    assert_eq!(panic["user"], "nobody", "{panic}");
    assert_eq!(
        panic["windows"],
        serde_json::json!(["INC-PANIC"]),
        "{panic}"
    );
    assert_eq!(panic["tools"], serde_json::json!(["AnyDesk"]), "{panic}");
    let stop = d
        .wait_for(
            |r| r["event"] == "blocked" && r["pid"] == child.id(),
            Duration::from_secs(5),
        )
        .expect("no record of the stop");
    assert!(stop["reason"].as_str().unwrap().contains("panic"), "{stop}");
    // One message for the whole panic, not one per tool.
    let notice = d.notice_of(&stop);
    assert_eq!(notice["not_notified"], "in_summary", "{notice}");

    // The caller tells the operator to start it again: refused.
    let mut again = spawn(&tool);
    assert!(
        exits_within(&mut again, Duration::from_secs(3)),
        "the suspended window still admits AnyDesk"
    );
    // ... or to run `varco resume`: refused, the operator is not root.
    let out = varco_as_nobody(&["resume", "--socket", &socket(&s)]);
    assert_eq!(out.status.code(), Some(77), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("only an administrator"),
        "{}",
        text(&out)
    );
    // ... or to send the daemon a request that claims to be root: who
    // asks comes from the kernel, not from the request.
    let forged = r#"{"command":"resume","uid":0,"user":"root","admin":true}"#;
    let script = format!(
        "use IO::Socket::UNIX; my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die \"connect: $!\"; print $s '{forged}'.\"\\n\"; my $a = <$s>; print $a;"
    );
    let out = Command::new(which("setpriv"))
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "/usr/bin/perl",
            "-e",
            &script,
        ])
        .arg(socket(&s))
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(answer.contains("\"refused\""), "{}", text(&out));
    assert_eq!(
        count(&d, "resumed"),
        0,
        "a forged request lifted the suspension"
    );
    // ... or to press the button again and again: harmless.
    for _ in 0..3 {
        assert!(
            varco_as_nobody(&["panic", "--socket", &socket(&s)])
                .status
                .success()
        );
    }
    // ... or to remove the socket: the folder is root's.
    let rm = Command::new(which("setpriv"))
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "rm",
            "-f",
        ])
        .arg(socket(&s))
        .output()
        .unwrap();
    assert!(!rm.status.success(), "nobody removed the control socket");

    // A restart does not reopen the window.
    d.stop();
    let mut d = Daemon::start(&s, &["--config", config.to_str().unwrap()]);
    let mut third = spawn(&tool);
    assert!(
        exits_within(&mut third, Duration::from_secs(3)),
        "a restart reopened the suspended window"
    );
    assert_eq!(count(&d, "resumed"), 0);
    // IT, called back, sees it first in `varco status`.
    let status = |d: &Daemon| {
        let out = varco(&[
            "status",
            "--config",
            config.to_str().unwrap(),
            "--audit-log",
            d.audit.to_str().unwrap(),
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let said = status(&d);
    assert!(
        said.contains("SUSPENDED by the panic button") && said.contains("by nobody"),
        "{said}"
    );

    // An administrator reopens it.
    let out = varco(&["resume", "--socket", &socket(&s)]);
    assert!(out.status.success(), "{}", text(&out));
    let resumed = d
        .wait_for(|r| r["event"] == "resumed", Duration::from_secs(5))
        .expect("no resumed record");
    assert_eq!(resumed["uid"], 0, "{resumed}");
    let mut fourth = spawn(&tool);
    d.wait_for(
        |r| r["event"] == "allowed" && r["pid"] == fourth.id(),
        Duration::from_secs(5),
    )
    .expect("the window did not admit AnyDesk after resume");
    let said = status(&d);
    assert!(!said.contains("SUSPENDED"), "{said}");
    assert!(!exits_within(&mut fourth, Duration::from_millis(1500)));
    let _ = fourth.kill();
    let _ = fourth.wait();
    d.stop();
}

#[test]
fn panic_without_a_daemon_says_so_and_fails() {
    let s = Scratch::new("op-panic-none");
    let out = varco(&[
        "panic",
        "--socket",
        &s.path("none.sock").display().to_string(),
    ]);
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot reach varco") && err.contains("Chiuda subito"),
        "{err}"
    );
}

/// A fake AnyDesk or TeamViewer: a script named like the tool that, when
/// the test hands it a line (the peer connecting), appends it to its own
/// log at `log` (relative to its `HOME`, or absolute) and keeps running.
fn fake_logging_tool(s: &Scratch, name: &str, log: &str) -> PathBuf {
    let log = if log.starts_with('/') {
        log.to_string()
    } else {
        format!("$HOME/{log}")
    };
    let script = format!(
        "#!/bin/sh\nlog=\"{log}\"\nmkdir -p \"$(dirname \"$log\")\"\ntouch \"$log\"\nwhile :; do\n  if [ -e \"$HOME/connect\" ]; then cat \"$HOME/connect\" >> \"$log\"; rm -f \"$HOME/connect\"; fi\n  sleep 0.1\ndone\n"
    );
    let p = s.write(name, &script);
    Command::new("chmod").arg("755").arg(&p).status().unwrap();
    p
}

/// The peer connects: the fake tool writes `line` to its log.
fn connect(home: &Path, line: &str) {
    let tmp = home.join("connect.tmp");
    std::fs::write(&tmp, format!("{line}\n")).unwrap();
    std::fs::rename(&tmp, home.join("connect")).unwrap();
}

fn start_in(home: &Path, tool: &Path) -> Child {
    std::fs::create_dir_all(home).unwrap();
    Command::new(tool)
        .env("HOME", home)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn a_peer_not_listed_in_the_window_has_the_tool_stopped_even_inside_it() {
    let s = Scratch::new("op-peers");
    let config = s.write(
        "approved-windows.toml",
        &format!(
            "{}peers = [\"123 456 789\", \"1651063400\"]\n",
            open_window("INC-PEERS", "\"anydesk\", \"teamviewer\", \"rustdesk\"")
        ),
    );
    let mut d = Daemon::start(&s, &["--config", config.to_str().unwrap()]);

    // AnyDesk: the listed technician connects, then a stranger.
    let anydesk = fake_logging_tool(&s, "AnyDesk", ".anydesk/ad.trace");
    let home = s.path("home-anydesk");
    let mut child = start_in(&home, &anydesk);
    d.wait_for(
        |r| r["event"] == "allowed" && r["pid"] == child.id(),
        Duration::from_secs(5),
    )
    .expect("AnyDesk not admitted");
    // Past the tick that hands it to the log watcher.
    std::thread::sleep(Duration::from_millis(1500));
    connect(
        &home,
        "   info 2025-11-26 14:05:00.001       back   4668   6440                   app.backend_session - Incoming session request: Mario Rossi (123456789)",
    );
    assert!(
        !exits_within(&mut child, Duration::from_millis(1500)),
        "a listed peer had the tool stopped"
    );
    connect(
        &home,
        "   info 2025-11-26 14:06:00.001       back   4668   6440                   app.backend_session - Incoming session request: Supporto Tecnico (987654321)",
    );
    assert!(
        exits_within(&mut child, Duration::from_secs(3)),
        "AnyDesk kept running with an unlisted peer"
    );
    let r = d
        .wait_for(|r| r["event"] == "unlisted_peer", Duration::from_secs(8))
        .expect("no unlisted_peer record");
    assert_eq!(r["peer_id"], "987654321", "{r}");
    assert_eq!(r["peer_alias"], "Supporto Tecnico", "{r}");
    assert_eq!(r["window"], "INC-PEERS", "{r}");
    assert_eq!(r["outcome"], "stopped", "{r}");

    // TeamViewer: the workstation itself joins (type=3), then a stranger.
    let teamviewer = fake_logging_tool(
        &s,
        "TeamViewer",
        ".local/share/teamviewer15/logfiles/TeamViewer15_Logfile.log",
    );
    let home = s.path("home-teamviewer");
    let mut tv = start_in(&home, &teamviewer);
    d.wait_for(
        |r| r["event"] == "allowed" && r["pid"] == tv.id(),
        Duration::from_secs(5),
    )
    .expect("TeamViewer not admitted");
    std::thread::sleep(Duration::from_millis(1500));
    connect(
        &home,
        "2025/11/26 14:07:00.100  3160  3604 S0   CPersistentParticipantManager::AddParticipant: [1349779002,-1525645512] type=3 name=UFFICIO-ANAGRAFE",
    );
    assert!(
        !exits_within(&mut tv, Duration::from_millis(1500)),
        "the workstation's own participant had TeamViewer stopped"
    );
    connect(
        &home,
        "2025/11/26 14:07:01.200  3160  3604 S0   CPersistentParticipantManager::AddParticipant: [1000000001,876631011] type=6 name=Assistenza Remota",
    );
    assert!(
        exits_within(&mut tv, Duration::from_secs(3)),
        "TeamViewer kept running with an unlisted peer"
    );
    d.wait_for(
        |r| r["event"] == "unlisted_peer" && r["peer_id"] == "1000000001",
        Duration::from_secs(8),
    )
    .expect("no unlisted_peer record for TeamViewer");

    // RustDesk writes no log varco reads: it still runs (the window's
    // other rules apply), recorded once.
    let rustdesk = s.fake_tool("rustdesk");
    let mut rd = spawn(&rustdesk);
    let r = d
        .wait_for(
            |r| r["event"] == "peer_unverifiable" && r["pid"] == rd.id(),
            Duration::from_secs(8),
        )
        .expect("no peer_unverifiable record");
    assert_eq!(r["window"], "INC-PEERS", "{r}");
    let mut rd2 = spawn(&rustdesk);
    d.wait_for(
        |r| r["event"] == "allowed" && r["pid"] == rd2.id(),
        Duration::from_secs(5),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!exits_within(&mut rd, Duration::from_millis(100)));
    assert_eq!(count(&d, "peer_unverifiable"), 1, "recorded more than once");
    for c in [&mut rd, &mut rd2] {
        let _ = c.kill();
        let _ = c.wait();
    }
    d.stop();
}

/// AnyDesk's service writes its own trace (`/var/log/anydesk*.trace` on
/// Linux) with `Accept request from ID`: followed like the user's trace.
#[test]
fn the_anydesk_service_trace_is_followed_too() {
    let s = Scratch::new("op-peers-service");
    let trace = Path::new("/var/log/anydesk-varco-test.trace");
    struct Remove<'a>(&'a Path);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(self.0);
        }
    }
    let _ = std::fs::remove_file(trace);
    let _cleanup = Remove(trace);
    let config = s.write(
        "approved-windows.toml",
        &format!(
            "{}peers = [\"221436813\"]\n",
            open_window("INC-SVC", "\"anydesk\"")
        ),
    );
    let mut d = Daemon::start(&s, &["--config", config.to_str().unwrap()]);
    let anydesk = fake_logging_tool(&s, "AnyDesk", &trace.display().to_string());
    let home = s.path("home-service");
    let mut child = start_in(&home, &anydesk);
    d.wait_for(
        |r| r["event"] == "allowed" && r["pid"] == child.id(),
        Duration::from_secs(5),
    )
    .expect("AnyDesk not admitted");
    std::thread::sleep(Duration::from_millis(1500));
    connect(
        &home,
        "   info 2025-11-26 14:05:00.001       gsvc   4660   4700                   anynet.any_socket - Accept request from 221436813.",
    );
    assert!(
        !exits_within(&mut child, Duration::from_millis(1500)),
        "the listed peer had the tool stopped"
    );
    connect(
        &home,
        "   info 2025-11-26 14:06:00.001       gsvc   4660   4700                   anynet.any_socket - Accept request from 555666777.",
    );
    assert!(
        exits_within(&mut child, Duration::from_secs(3)),
        "AnyDesk kept running with an unlisted peer in its service trace"
    );
    let r = d
        .wait_for(|r| r["event"] == "unlisted_peer", Duration::from_secs(8))
        .expect("no unlisted_peer record");
    assert_eq!(r["peer_id"], "555666777", "{r}");
    d.stop();
}

/// A folder outside every temporary or user folder, for an "installed"
/// copy; removed when dropped.
struct Installed(PathBuf);

impl Installed {
    fn new(name: &str) -> Installed {
        let p = PathBuf::from(format!("/var/lib/varco-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Installed(p)
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_of_sleep(to: &Path) -> PathBuf {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(which("sleep"), to).unwrap();
    to.to_path_buf()
}

#[test]
fn installed_only_refuses_downloaded_copies_and_the_record_says_where_from() {
    let s = Scratch::new("op-origin");
    let config = s.write(
        "approved-windows.toml",
        &format!(
            "{}installed_only = true\n",
            open_window("INC-INST", "\"anydesk\"")
        ),
    );
    let root = Installed::new("origin");
    let installed = copy_of_sleep(&root.0.join("opt/AnyDesk"));
    // The same program, marked by a browser with where it came from.
    let downloaded = copy_of_sleep(&root.0.join("fetched/AnyDesk"));
    let url = "https://download.example/it/AnyDesk";
    let ok = Command::new(which("setfattr"))
        .args(["-n", "user.xdg.origin.url", "-v", url])
        .arg(&downloaded)
        .status()
        .unwrap();
    assert!(ok.success(), "setfattr failed");
    // A copy in the user's Scaricati, marked by GIO (through the real
    // gvfsd-metadata): only the desktop's metadata says where from.
    let home = s.path("home");
    let in_downloads = copy_of_sleep(&home.join("Scaricati/AnyDesk"));
    let gio_url = "https://mirror.example/AnyDesk";
    gio_mark(&home, &in_downloads, gio_url);

    let mut d = Daemon::start(&s, &["--config", config.to_str().unwrap()]);
    let mut child = spawn(&downloaded);
    assert!(
        exits_within(&mut child, Duration::from_secs(3)),
        "a downloaded copy ran inside an installed_only window"
    );
    let r = d
        .wait_for(
            |r| r["event"] == "blocked" && r["pid"] == child.id(),
            Duration::from_secs(8),
        )
        .expect("no blocked record");
    assert_eq!(r["origin"], url, "{r}");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("installed copies only"),
        "{r}"
    );

    let mut child = Command::new(&in_downloads)
        .arg("60")
        .env("HOME", &home)
        .spawn()
        .unwrap();
    assert!(exits_within(&mut child, Duration::from_secs(3)));
    let r = d
        .wait_for(
            |r| r["event"] == "blocked" && r["pid"] == child.id(),
            Duration::from_secs(8),
        )
        .expect("no blocked record for the copy in Scaricati");
    assert_eq!(r["origin"], gio_url, "{r}");

    let mut ok = spawn(&installed);
    d.wait_for(
        |r| r["event"] == "allowed" && r["pid"] == ok.id(),
        Duration::from_secs(5),
    )
    .expect("the installed copy was not admitted");
    assert!(!exits_within(&mut ok, Duration::from_millis(1200)));
    let _ = ok.kill();
    let _ = ok.wait();
    d.stop();

    // The incident report names where the copy came from.
    let report = std::fs::read_to_string(s.path("rapporto-incidente.md")).unwrap();
    assert!(report.contains(url) && report.contains(gio_url), "{report}");
}

/// Sets `metadata::download-uri` on `file` the way a GTK browser does:
/// `gio set` on a private session bus, where the real gvfsd-metadata
/// stores it under `home`.
fn gio_mark(home: &Path, file: &Path, url: &str) {
    which("gio");
    assert!(
        Path::new("/usr/libexec/gvfsd-metadata").exists(),
        "gvfsd-metadata missing: install gvfs-daemons (bash tests/run.sh installs it)"
    );
    let mut bus = Command::new(which("dbus-daemon"))
        .args(["--session", "--nofork", "--print-address=1"])
        .env("HOME", home)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut address = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(bus.stdout.take().unwrap()),
        &mut address,
    )
    .unwrap();
    let out = Command::new(which("gio"))
        .arg("set")
        .arg(file)
        .args(["metadata::download-uri", url])
        .env("HOME", home)
        .env("DBUS_SESSION_BUS_ADDRESS", address.trim())
        .output()
        .unwrap();
    // gvfsd-metadata writes its journal when it handles the call.
    let metadata = home.join(".local/share/gvfs-metadata");
    let written = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        std::fs::read_dir(&metadata).is_ok_and(|d| d.count() >= 2)
    });
    let _ = bus.kill();
    let _ = bus.wait();
    assert!(
        out.status.success() && written,
        "gio set did not store the metadata: {}",
        text(&out)
    );
}

#[test]
fn the_contract_report_lists_windows_sessions_and_what_ran_outside() {
    let s = Scratch::new("op-contract");
    let config = s.write(
        "approved-windows.toml",
        r#"[contact]
company = "Esempio Informatica S.r.l."
phone = "+39 06 1234567"

[[window]]
id = "INC-2025-0142"
tools = ["anydesk"]
start = 2025-11-26T14:00:00
end = 2025-11-26T16:00:00
technician = "Mario Rossi"
ticket = "T-0142"

[[window]]
id = "patch-settimanale"
tools = ["*"]
days = ["thu"]
from = "18:00"
to = "20:00"
technician = "Turno reperibilità"
"#,
    );
    // The records a daemon writes over such a week (times in Rome, +01:00).
    let audit = s.write(
        "audit.jsonl",
        &[
            r#"{"time":"2025-11-26T14:03:10.000+01:00","event":"allowed","tool":"anydesk","pid":100,"exe":"/opt/AnyDesk/AnyDesk","user":"operatore","uid":1000,"window":"INC-2025-0142","technician":"Mario Rossi","mode":"block","host":"anagrafe-01","tool_name":"AnyDesk"}"#,
            r#"{"time":"2025-11-26T15:50:00.000+01:00","event":"window_ending","tool":null,"pid":null,"exe":null,"user":null,"uid":null,"window":"INC-2025-0142","technician":null,"mode":"block","host":"anagrafe-01","tools":["AnyDesk"]}"#,
            r#"{"time":"2025-11-26T16:00:00.500+01:00","event":"blocked","tool":"anydesk","pid":100,"exe":"/opt/AnyDesk/AnyDesk","user":"operatore","uid":1000,"window":null,"technician":null,"mode":"block","host":"anagrafe-01","tool_name":"AnyDesk","outcome":"stopped","stopped_processes":1,"reason":"window \"INC-2025-0142\" is no longer open"}"#,
            r#"{"time":"2025-11-27T10:12:00.000+01:00","event":"blocked","tool":"anydesk","pid":200,"exe":"/home/operatore/Scaricati/AnyDesk","user":"operatore","uid":1000,"window":null,"technician":null,"mode":"block","host":"anagrafe-01","tool_name":"AnyDesk","outcome":"stopped","stopped_processes":1,"origin":"https://download.example/AnyDesk"}"#,
            r#"{"time":"2025-11-27T18:05:00.000+01:00","event":"allowed","tool":"teamviewer","pid":300,"exe":"/opt/teamviewer/tv_bin/TeamViewer","user":"operatore","uid":1000,"window":"patch-settimanale","technician":"Turno reperibilità","mode":"block","host":"anagrafe-01","tool_name":"TeamViewer"}"#,
            r#"{"time":"2025-11-27T18:20:00.000+01:00","event":"unlisted_peer","tool":"teamviewer","pid":300,"exe":null,"user":"operatore","uid":1000,"window":"patch-settimanale","technician":null,"mode":"block","host":"anagrafe-01","tool_name":"TeamViewer","peer_id":"1000000001","peer_alias":"Assistenza Remota","outcome":"stopped","stopped_processes":1}"#,
            r#"{"time":"2025-11-28T09:00:00.000+01:00","event":"panic","tool":null,"pid":null,"exe":null,"user":"operatore","uid":1000,"window":null,"technician":null,"mode":"block","host":"anagrafe-01","windows":[]}"#,
            "",
        ]
        .join("\n"),
    );
    let out = s.path("contratto");
    let o = varco(&[
        "report",
        "--windows",
        "--from",
        "2025-11-24",
        "--to",
        "2025-11-30",
        "--audit-log",
        audit.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let md = std::fs::read_to_string(out.with_extension("md")).unwrap();
    for needle in [
        "Interventi di assistenza remota",
        "| INC-2025-0142 | dal 26/11/2025 14:00 al 26/11/2025 16:00 | Mario Rossi | T-0142 | sì (1) |",
        "| patch-settimanale | dal 27/11/2025 18:00 al 27/11/2025 20:00 | Turno reperibilità | non indicato | sì (1) |",
        "| AnyDesk | 14:03:10 | 16:00:00 | fermato da varco alla chiusura della finestra | operatore |",
        "fermato: collegamento da un computer non autorizzato (Assistenza Remota (1000000001))",
        "Strumenti fermati o segnalati fuori dalle finestre (1)",
        "`https://download.example/AnyDesk`",
        "pulsante di emergenza premuto da operatore",
        "Esempio Informatica S.r.l.",
    ] {
        assert!(md.contains(needle), "missing {needle:?} in\n{md}");
    }
    let html = std::fs::read_to_string(out.with_extension("html")).unwrap();
    assert!(html.contains("<h1>") && html.contains("INC-2025-0142"));

    // A period with nothing planned says so, and bad dates are explained.
    let o = varco(&[
        "report",
        "--windows",
        "--from",
        "2025-12-01",
        "--to",
        "2025-12-02",
        "--audit-log",
        audit.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(
        md.contains("Nessuna finestra di manutenzione era pianificata"),
        "{md}"
    );
    let o = varco(&[
        "report",
        "--windows",
        "--from",
        "26/11/2025",
        "--to",
        "2025-11-30",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--from 26/11/2025: not a date"));
    let o = varco(&["report", "--windows", "--from", "2025-11-26"]);
    assert!(!o.status.success(), "--to is required");
}
