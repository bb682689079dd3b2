//! What the operator sees, for real: an X server (Xvfb), a private D-Bus
//! session bus and a real notification daemon (dunst), with `dbus-monitor`
//! recording exactly what reached the notification server. Then real VNC
//! servers (x11vnc, TigerVNC's x0vncserver) on that display, stopped by
//! varco outside a window and reachable by a VNC client inside one.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Daemon, Scratch, exits_within, open_window, shm_segments, varco_bin, which};

const PHONE: &str = "+39 06 1234567";

/// Kills a helper process (Xvfb, dbus-daemon, dunst, …) when dropped.
struct Helper(Child);

impl Drop for Helper {
    fn drop(&mut self) {
        // SIGTERM first, so Xvfb removes its socket and lock file.
        crate::support::signal(self.0.id(), "TERM");
        if !exits_within(&mut self.0, Duration::from_secs(2)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// An X display with a session bus, a notification daemon and a monitor
/// recording every `Notify` call.
struct Desktop {
    display: String,
    bus: String,
    monitor_log: PathBuf,
    // Dropped in reverse order of start: monitor, dunst, bus, X.
    _helpers: Vec<Helper>,
    /// SysV shared-memory segments that existed before this desktop.
    shm_before: Vec<u64>,
}

impl Drop for Desktop {
    /// X servers and VNC servers killed by a test leave their SysV
    /// shared-memory segments behind; without this, a few dozen runs of
    /// the suite fill the kernel's table (`shmget: No space left on
    /// device`) and every VNC server after that fails to start. Tests take
    /// turns (the Scratch lock), so a detached segment that appeared during
    /// this desktop's life is this test's.
    fn drop(&mut self) {
        drop(std::mem::take(&mut self._helpers));
        for id in shm_segments(true) {
            if !self.shm_before.contains(&id) {
                let _ = Command::new("ipcrm").arg("-m").arg(id.to_string()).status();
            }
        }
    }
}

impl Desktop {
    fn start(s: &Scratch) -> Desktop {
        Desktop::start_as(s, None)
    }

    /// The session bus, dunst and the monitor run as `uid` when given (an
    /// operator who is not root); the X server is shared.
    fn start_as(s: &Scratch, uid: Option<u32>) -> Desktop {
        for p in [
            "Xvfb",
            "dbus-daemon",
            "dunst",
            "dbus-monitor",
            "import",
            "ipcrm",
        ] {
            which(p);
        }
        let shm_before = shm_segments(false);
        // Xvfb picks a free display itself and prints its number on
        // -displayfd once it accepts clients: no race with other X servers.
        let mut x = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut number = String::new();
        BufReader::new(x.stdout.take().unwrap())
            .read_line(&mut number)
            .unwrap();
        let n: u32 = number
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("Xvfb printed no display number: {number:?}"));
        let display = format!(":{n}");
        let mut helpers = vec![Helper(x)];
        // An office-like background, so the screenshot reads as a desktop
        // (retried: the socket exists a moment before X accepts clients).
        wait_until(
            "xsetroot to paint the background",
            Duration::from_secs(10),
            || {
                Command::new(which("xsetroot"))
                    .args(["-display", &display, "-solid", "#2f5d8a"])
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            },
        );

        let mut bus = as_user(uid, "dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut address = String::new();
        BufReader::new(bus.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        let bus_address = address.trim().to_string();
        assert!(!bus_address.is_empty(), "dbus-daemon printed no address");
        helpers.push(Helper(bus));

        let monitor_log = s.path("dbus-monitor.log");
        helpers.push(Helper(
            as_user(uid, "dbus-monitor")
                .args([
                    "--address",
                    &bus_address,
                    "type='method_call',interface='org.freedesktop.Notifications',member='Notify'",
                ])
                .stdout(std::fs::File::create(&monitor_log).unwrap())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        ));
        let dunstrc = s.write("dunstrc", DUNSTRC);
        helpers.push(Helper(
            as_user(uid, "dunst")
                .arg("-config")
                .arg(&dunstrc)
                .env("DISPLAY", &display)
                .env("DBUS_SESSION_BUS_ADDRESS", &bus_address)
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        ));
        let d = Desktop {
            display,
            bus: bus_address,
            monitor_log,
            _helpers: helpers,
            shm_before,
        };
        wait_until(
            "dunst to own org.freedesktop.Notifications",
            Duration::from_secs(10),
            || {
                as_user(uid, "dbus-send")
                    .args([
                        &format!("--bus={}", d.bus),
                        "--print-reply",
                        "--dest=org.freedesktop.DBus",
                        "/org/freedesktop/DBus",
                        "org.freedesktop.DBus.NameHasOwner",
                        "string:org.freedesktop.Notifications",
                    ])
                    .output()
                    .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("boolean true"))
            },
        );
        d
    }

    /// The `Notify` calls the notification server received so far.
    fn received(&self) -> String {
        std::fs::read_to_string(&self.monitor_log).unwrap_or_default()
    }

    fn session_env(&self, cmd: &mut Command) {
        cmd.env("DISPLAY", &self.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus);
    }

    /// Saves a screenshot of the whole screen.
    fn screenshot(&self, to: &Path) {
        let ok = Command::new("import")
            .args(["-display", &self.display, "-window", "root"])
            .arg(to)
            .status()
            .unwrap()
            .success();
        assert!(ok, "import could not take a screenshot");
        let size = std::fs::metadata(to).unwrap().len();
        assert!(
            size > 10_000,
            "screenshot {} is only {size} bytes",
            to.display()
        );
    }
}

/// `program`, run as `uid` (through setpriv) when given.
fn as_user(uid: Option<u32>, program: &str) -> Command {
    match uid {
        None => Command::new(program),
        Some(uid) => {
            let mut c = Command::new(which("setpriv"));
            c.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={uid}"))
                .arg("--clear-groups")
                .arg(which(program))
                .env("HOME", "/nonexistent");
            c
        }
    }
}

/// Big enough to read the whole message, wrapped, and critical ones stay
/// until dismissed.
const DUNSTRC: &str = r##"
[global]
    monitor = 0
    follow = none
    width = 640
    height = 600
    origin = top-right
    offset = 24x24
    padding = 14
    horizontal_padding = 16
    frame_width = 3
    gap_size = 8
    font = DejaVu Sans 12
    markup = full
    format = "<b>%s</b>\n\n%b"
    alignment = left
    word_wrap = yes
    ellipsize = end
    ignore_newline = no
    show_age_threshold = -1
    idle_threshold = 0
[urgency_low]
    background = "#f4f4f4"
    foreground = "#222222"
    frame_color = "#888888"
    timeout = 10
[urgency_normal]
    background = "#f4f4f4"
    foreground = "#222222"
    frame_color = "#888888"
    timeout = 10
[urgency_critical]
    background = "#fff4f2"
    foreground = "#1a1a1a"
    frame_color = "#c62828"
    timeout = 0
"##;

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `varco run` with an explicit environment.
fn varco_run(s: &Scratch, args: &[&str], env: &[(&str, &str)], remove: &[&str]) -> Daemon {
    Daemon::start_with_env(s, args, env, remove)
}

fn contact_file_text(extra: &str) -> String {
    format!(
        "mode = \"block\"\n[contact]\ncompany = \"Esempio Informatica S.r.l.\"\nphone = \"{PHONE}\"\nreferent = \"CED del Comune, interno 204\"\n{extra}"
    )
}

fn contact_file(s: &Scratch, extra: &str) -> PathBuf {
    s.write("approved-windows.toml", &contact_file_text(extra))
}

fn spawn(path: &Path) -> Child {
    Command::new(path).arg("60").spawn().unwrap()
}

/// The `Notify` call about `tool` in a dbus-monitor log, or "".
fn notify_call<'a>(log: &'a str, title: &str) -> &'a str {
    log.split("method call")
        .find(|call| call.contains(title))
        .unwrap_or("")
}

/// Checks one `Notify` call: title, body facts, critical urgency (byte 2)
/// and no expiry (0 = stays until dismissed).
fn assert_blocked_notification(log: &str, tool: &str) {
    let title = format!("Accesso remoto bloccato: {tool}");
    let call = notify_call(log, &title);
    assert!(
        !call.is_empty(),
        "no Notify with title {title:?}; the server received:\n{log}"
    );
    for needle in [
        "string \"varco\"",
        "non è programmato nessun intervento tecnico",
        "non chiede MAI al telefono password, codici o la smart card",
        "riattacchi",
        PHONE,
        "Esempio Informatica S.r.l.",
        "referente informatico del Comune (CED del Comune, interno 204)",
        "rapporto-incidente.html",
    ] {
        assert!(
            call.contains(needle),
            "missing {needle:?} in the notification:\n{call}"
        );
    }
    let urgency = call
        .split("string \"urgency\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no urgency hint in\n{call}"));
    assert!(
        urgency.trim_start().starts_with("variant") && urgency.contains("byte 2"),
        "urgency is not critical (byte 2):\n{call}"
    );
    assert!(
        call.trim_end().ends_with("int32 0"),
        "expire_timeout is not 0 (stays until dismissed):\n{call}"
    );
}

fn screenshot_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn blocked_tool_shows_a_critical_italian_notification_on_a_real_desktop() {
    let s = Scratch::new("desktop-session");
    let desktop = Desktop::start(&s);
    let config = contact_file(&s, "");
    let tool = s.fake_tool("AnyDesk");
    let mut d = varco_run(
        &s,
        &["--config", config.to_str().unwrap(), "--notify", "session"],
        &[
            ("DISPLAY", &desktop.display),
            ("DBUS_SESSION_BUS_ADDRESS", &desktop.bus),
            ("LANG", "it_IT.UTF-8"),
        ],
        &["LC_ALL", "LC_MESSAGES"],
    );
    let mut child = spawn(&tool);
    assert!(
        exits_within(&mut child, Duration::from_secs(3)),
        "AnyDesk not stopped"
    );
    let r = d
        .wait_for(
            |r| r["event"] == "blocked" && r["pid"] == child.id(),
            Duration::from_secs(8),
        )
        .expect("no blocked record");
    let n = d.notice_of(&r);
    assert_eq!(n["notified"], true, "{n}");
    let f = d
        .follow_up(&r, "fingerprint", Duration::from_secs(8))
        .expect("no fingerprint record");
    let sha = f["exe_sha256"].as_str().expect("no exe_sha256");
    assert_eq!(sha.len(), 64, "{f}");
    wait_until(
        "the Notify call in dbus-monitor",
        Duration::from_secs(5),
        || desktop.received().contains(PHONE),
    );
    assert_blocked_notification(&desktop.received(), "AnyDesk");

    // The tool restarting in a loop: no second pop-up within the minute,
    // and the record says why.
    let mut again = spawn(&tool);
    assert!(exits_within(&mut again, Duration::from_secs(3)));
    let r2 = d
        .wait_for(
            |r| r["event"] == "blocked" && r["pid"] == again.id(),
            Duration::from_secs(8),
        )
        .expect("no record for the restart");
    let n2 = d.notice_of(&r2);
    assert_eq!(n2["notified"], false, "{n2}");
    assert_eq!(n2["not_notified"], "rate_limit", "{n2}");
    assert_eq!(
        desktop
            .received()
            .matches("Accesso remoto bloccato")
            .count(),
        1,
        "a restart within the minute raised a second pop-up"
    );

    // dunst draws it; the picture is what the README shows.
    std::thread::sleep(Duration::from_millis(700));
    let shot = screenshot_dir().join("notification.png");
    desktop.screenshot(&shot);
    eprintln!("screenshot: {}", shot.display());
    d.stop();
}

#[test]
fn english_session_gets_the_english_text() {
    let s = Scratch::new("desktop-english");
    let desktop = Desktop::start(&s);
    let config = contact_file(&s, "");
    let tool = s.fake_tool("RustDesk");
    let mut d = varco_run(
        &s,
        &["--config", config.to_str().unwrap(), "--notify", "session"],
        &[
            ("DISPLAY", &desktop.display),
            ("DBUS_SESSION_BUS_ADDRESS", &desktop.bus),
            ("LANG", "en_GB.UTF-8"),
        ],
        &["LC_ALL", "LC_MESSAGES"],
    );
    let mut child = spawn(&tool);
    assert!(exits_within(&mut child, Duration::from_secs(3)));
    wait_until("the Notify call", Duration::from_secs(8), || {
        desktop
            .received()
            .contains("Remote access blocked: RustDesk")
    });
    let log = desktop.received();
    let call = notify_call(&log, "Remote access blocked: RustDesk");
    assert!(call.contains("hang up") && call.contains(PHONE), "{call}");
    d.stop();
}

#[test]
fn root_service_notifies_through_the_session_agent_and_records_when_none_listens() {
    let s = Scratch::new("desktop-agent");
    let desktop = Desktop::start(&s);
    let agents = s.path("run-user");
    let config = contact_file(&s, "");
    let (agent, socket) = start_agent(&desktop, &agents, None);

    let mut d = system_enforcer(&s, &config, &agents);
    let tool = s.fake_tool("AnyDesk");
    let mut child = spawn(&tool);
    assert!(
        exits_within(&mut child, Duration::from_secs(3)),
        "AnyDesk not stopped"
    );
    let r = d
        .wait_for(
            |r| r["event"] == "blocked" && r["pid"] == child.id(),
            Duration::from_secs(8),
        )
        .expect("no blocked record");
    assert_eq!(d.notice_of(&r)["notified"], true, "{r}");
    wait_until("the agent's Notify call", Duration::from_secs(5), || {
        desktop.received().contains(PHONE)
    });
    assert_blocked_notification(&desktop.received(), "AnyDesk");
    let shot = screenshot_dir().join("notification-agent.png");
    std::thread::sleep(Duration::from_millis(700));
    desktop.screenshot(&shot);

    // A program that is not the service cannot raise a varco pop-up, even
    // if the socket's permissions were loosened: the agent checks the
    // peer's uid.
    spoof_as_nobody(&socket);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !desktop.received().contains("FALSO"),
        "the agent showed a notice from an unprivileged user"
    );

    // A broken windows file belongs to no process: every session's agent
    // is told.
    std::fs::write(&config, "mode = \"blok\"\n").unwrap();
    let r = d
        .wait_for(|r| r["event"] == "config_error", Duration::from_secs(10))
        .expect("no config_error record");
    assert_eq!(d.notice_of(&r)["notified"], true, "{r}");
    wait_until(
        "the config error notification",
        Duration::from_secs(5),
        || {
            desktop
                .received()
                .contains("varco: file delle finestre non valido")
        },
    );
    std::fs::write(&config, contact_file_text("")).unwrap();

    // No agent: enforcement goes on, the record says the operator was not told.
    drop(agent);
    let other = s.fake_tool("TeamViewer");
    let mut child = spawn(&other);
    assert!(
        exits_within(&mut child, Duration::from_secs(3)),
        "enforcement stopped without an agent"
    );
    let r = d
        .wait_for(
            |r| r["event"] == "blocked" && r["pid"] == child.id(),
            Duration::from_secs(10),
        )
        .expect("no blocked record without an agent");
    let n = d.notice_of(&r);
    assert_eq!(n["notified"], false, "{n}");
    assert_eq!(n["not_notified"], "no_agent", "{n}");

    // An impostor listening where root's agent should be, as another
    // user: the enforcer sees its uid and sends nothing.
    let heard = s.path("impostor.log");
    let impostor = impostor_agent(&socket, &heard);
    let third = s.fake_tool("RustDesk");
    let mut child = spawn(&third);
    assert!(exits_within(&mut child, Duration::from_secs(3)));
    let r = d
        .wait_for(
            |r| r["event"] == "blocked" && r["pid"] == child.id(),
            Duration::from_secs(10),
        )
        .expect("no blocked record with an impostor agent");
    let n = d.notice_of(&r);
    assert_eq!(n["notified"], false, "{n}");
    assert_eq!(n["not_notified"], "failed", "{n}");
    assert!(
        n["not_notified_detail"]
            .as_str()
            .unwrap()
            .contains("not trusted"),
        "{n}"
    );
    drop(impostor);
    let heard = std::fs::read_to_string(&heard).unwrap_or_default();
    assert!(
        heard.is_empty(),
        "the enforcer talked to an impostor: {heard}"
    );
    d.stop();
}

/// A listener run as `nobody` at `socket` that claims to show everything.
fn impostor_agent(socket: &Path, heard: &Path) -> Helper {
    let _ = std::fs::remove_file(socket);
    Command::new("chmod")
        .arg("777")
        .arg(socket.parent().unwrap())
        .status()
        .unwrap();
    let script = "use IO::Socket::UNIX; $| = 1; my $l = IO::Socket::UNIX->new(Local => $ARGV[0], Listen => 5) or die \"listen: $!\"; while (my $c = $l->accept) { my $line = <$c>; print STDOUT $line if defined $line; print $c \"shown\\n\"; close $c; }";
    let h = Helper(
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "/usr/bin/perl",
                "-e",
                script,
            ])
            .arg(socket)
            .stdout(std::fs::File::create(heard).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_until("the impostor's socket", Duration::from_secs(5), || {
        socket.exists()
    });
    h
}

/// `varco agent` in `desktop`'s session, run as `uid` when given, Italian
/// locale; returns once its socket under `agents` exists.
fn start_agent(desktop: &Desktop, agents: &Path, uid: Option<u32>) -> (Helper, PathBuf) {
    let mut cmd = as_user(uid, varco_bin().to_str().unwrap());
    cmd.arg("agent")
        .arg("--agent-dir")
        .arg(agents)
        .env("LANG", "it_IT.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("VARCO_LOG", "info");
    desktop.session_env(&mut cmd);
    let agent = Helper(cmd.spawn().unwrap());
    let uid = uid.unwrap_or_else(unsafe_free_uid);
    let socket = agents.join(uid.to_string()).join("varco-agent.sock");
    wait_until("the agent's socket", Duration::from_secs(10), || {
        socket.exists()
    });
    (agent, socket)
}

/// `varco run` as a system service would run it: no display, no session
/// bus, notices handed to the agents under `agents`.
fn system_enforcer(s: &Scratch, config: &Path, agents: &Path) -> Daemon {
    system_enforcer_with(s, config, agents, &[])
}

/// The root enforcer with extra arguments (e.g. another source).
fn system_enforcer_with(s: &Scratch, config: &Path, agents: &Path, extra: &[&str]) -> Daemon {
    let mut args = vec![
        "--config",
        config.to_str().unwrap(),
        "--notify",
        "agent",
        "--agent-dir",
        agents.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    varco_run(
        s,
        &args,
        &[("LANG", "C.UTF-8")],
        &[
            "DISPLAY",
            "DBUS_SESSION_BUS_ADDRESS",
            "LC_ALL",
            "LC_MESSAGES",
        ],
    )
}

/// This test process's uid, read without `unsafe` (tests run as root).
fn unsafe_free_uid() -> u32 {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// Connects to the agent as user `nobody` and sends a forged notice.
fn spoof_as_nobody(socket: &Path) {
    which("setpriv");
    // Loosen the permissions as a careless admin might.
    let base = socket.parent().unwrap().parent().unwrap();
    for (p, mode) in [
        (base, "755"),
        (socket.parent().unwrap(), "755"),
        (socket, "666"),
    ] {
        Command::new("chmod").arg(mode).arg(p).status().unwrap();
    }
    let forged = r#"{"kind":"blocked","tool":"FALSO","window":null,"technician":null,"company":"Truffa","phone":"000","referent":null,"report":"x","reason":null}"#;
    // perl-base is on every Debian system; its IO::Socket::UNIX is enough.
    let script = format!(
        "use IO::Socket::UNIX; $SIG{{PIPE}} = 'IGNORE'; my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die \"connect: $!\"; print $s '{forged}'.\"\\n\"; my $a = <$s>; print defined $a ? \"answer: $a\" : \"closed\";"
    );
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/perl",
            "-e",
            &script,
        ])
        .arg(socket)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.trim() == "closed",
        "the forged connection was not simply closed: status {:?}, stdout {said}, stderr {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits up to 3 s for `port` to stop accepting connections; on failure
/// shows who still runs.
fn assert_port_closes(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while listening(port) {
        if Instant::now() > deadline {
            let ps = Command::new("ps")
                .args(["-eo", "pid,ppid,comm,args"])
                .output()
                .unwrap();
            panic!(
                "{what}: port {port} still open:\n{}",
                String::from_utf8_lossy(&ps.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A free TCP port on loopback.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn listening(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

/// An RFB client's first steps: read the server's version, answer with
/// ours, and read the security types it offers.
fn rfb_handshake(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut version = [0u8; 12];
    s.read_exact(&mut version).unwrap();
    let version = String::from_utf8_lossy(&version).to_string();
    assert!(
        version.starts_with("RFB 003.00") && version.ends_with('\n'),
        "not an RFB greeting: {version:?}"
    );
    s.write_all(b"RFB 003.008\n").unwrap();
    let mut count = [0u8; 1];
    s.read_exact(&mut count).unwrap();
    assert!(count[0] > 0, "the server offered no security type");
    version
}

/// A VNC server command line for `display` on `port`.
fn vnc_server(name: &str, display: &str, port: u16) -> Command {
    let mut c = Command::new(which(name));
    let port = port.to_string();
    match name {
        "x11vnc" => c.args([
            "-display",
            display,
            "-rfbport",
            &port,
            "-localhost",
            "-forever",
            "-shared",
            "-nopw",
            "-quiet",
        ]),
        _ => c.args([
            "-display",
            display,
            "-rfbport",
            &port,
            "-localhost",
            "yes",
            "-SecurityTypes",
            "None",
        ]),
    };
    c.stdout(Stdio::null()).stderr(Stdio::null());
    c
}

fn real_vnc_server_is_stopped_outside_a_window_and_reachable_inside(
    name: &str,
    tool_id: &str,
    source: &str,
) {
    let s = Scratch::new(&format!("vnc-{name}-{source}"));
    let desktop = Desktop::start(&s);
    let port = free_port();
    let config = contact_file(&s, "");

    // Running before varco starts: its port listens.
    let mut server = Helper(vnc_server(name, &desktop.display, port).spawn().unwrap());
    wait_until(
        &format!("{name} to listen on {port}"),
        Duration::from_secs(15),
        || listening(port),
    );

    // No window open: varco stops it and the port closes.
    let mut d = varco_run(
        &s,
        &[
            "--config",
            config.to_str().unwrap(),
            "--notify",
            "session",
            "--source",
            source,
        ],
        &[
            ("DISPLAY", &desktop.display),
            ("DBUS_SESSION_BUS_ADDRESS", &desktop.bus),
        ],
        &[],
    );
    assert!(
        exits_within(&mut server.0, Duration::from_secs(3)),
        "{name} still running outside every window"
    );
    assert_port_closes(port, &format!("{name} outside every window"));
    let r = d
        .wait_for(
            // The record of the stop itself: a wrapper's short-lived
            // helpers may be recorded too, as "already exited".
            |r| {
                r["event"] == "blocked"
                    && r["tool"] == tool_id
                    && (r["outcome"] == "stopped" || r["outcome"] == "refused_before_start")
            },
            Duration::from_secs(8),
        )
        .unwrap_or_else(|| panic!("no record of {tool_id} being stopped"));
    // Debian's x0vncserver is a Perl wrapper around X0tigervnc: the record
    // may name the wrapper (exe is the interpreter, the command line names
    // the server) or the server binary itself; either way it is a VNC server.
    // A process caught in the middle of its exec has neither readable yet
    // (it was recognised by its process name); when they are there, they
    // must be the server's.
    if !(r["exe"].is_null() && r["cmdline"].is_null()) {
        let seen = format!("{} {}", r["exe"], r["cmdline"]).to_lowercase();
        assert!(seen.contains("vnc"), "{r}");
    }

    // Started again while varco runs: stopped (scan) or never started
    // (pre-exec denial); either way nobody can connect.
    match vnc_server(name, &desktop.display, port).spawn() {
        Ok(child) => {
            let mut again = Helper(child);
            assert!(
                exits_within(&mut again.0, Duration::from_secs(3)),
                "{name} restarted and kept running"
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            eprintln!("{name}: refused before it started ({e})");
        }
        Err(e) => panic!("cannot start {name}: {e}"),
    }
    assert_port_closes(port, &format!("{name} restarted while varco runs"));

    // A window for this tool opens: the server runs and a client connects.
    std::fs::write(&config, open_window("VNC-1", &format!("\"{tool_id}\""))).unwrap();
    d.wait_for(|r| r["event"] == "config_reloaded", Duration::from_secs(5))
        .expect("the new windows file was not loaded");
    let mut inside = Helper(vnc_server(name, &desktop.display, port).spawn().unwrap());
    wait_until(
        &format!("{name} to listen inside its window"),
        Duration::from_secs(15),
        || listening(port),
    );
    let version = rfb_handshake(port);
    // Still serving a while later: varco left it alone. (The process
    // itself is not watched: Debian's x0vncserver wrapper may exit and
    // leave the real server running.)
    std::thread::sleep(Duration::from_millis(1500));
    rfb_handshake(port);
    let _ = inside.0.try_wait();
    // Records are written once the operator was told, so the file is in
    // decision order only within a few seconds: compare decision times
    // (same zone, so the RFC 3339 strings sort as times).
    let records = d.records();
    let reloaded = records
        .iter()
        .find(|r| r["event"] == "config_reloaded")
        .map(|r| r["time"].as_str().unwrap().to_string())
        .unwrap();
    let since_window: Vec<_> = records
        .iter()
        .filter(|r| r["time"].as_str().unwrap() >= reloaded.as_str())
        .collect();
    assert!(
        !since_window.iter().any(|r| r["event"] == "blocked"),
        "something was blocked inside the window: {since_window:?}"
    );
    let allowed = d
        .wait_for(
            |r| r["event"] == "allowed" && r["tool"] == tool_id,
            Duration::from_secs(5),
        )
        .expect("no allowed record");
    assert_eq!(allowed["window"], "VNC-1");
    eprintln!("{name}: stopped outside the window; inside it answered {version:?}");
    d.stop();
}

#[test]
fn x11vnc_is_stopped_outside_a_window_and_reachable_inside() {
    real_vnc_server_is_stopped_outside_a_window_and_reachable_inside("x11vnc", "x11vnc", "scan");
}

#[test]
fn x11vnc_is_refused_or_stopped_by_the_best_source_and_reachable_inside_a_window() {
    real_vnc_server_is_stopped_outside_a_window_and_reachable_inside("x11vnc", "x11vnc", "auto");
}

#[test]
fn x0vncserver_is_stopped_outside_a_window_and_reachable_inside() {
    real_vnc_server_is_stopped_outside_a_window_and_reachable_inside(
        "x0vncserver",
        "tigervnc",
        "scan",
    );
}

#[test]
fn alert_mode_says_close_it_and_an_admitted_tool_gets_a_quiet_note() {
    let s = Scratch::new("desktop-alert");
    let desktop = Desktop::start(&s);
    // A window for RustDesk; everything else only alerts.
    let config = s.write(
        "approved-windows.toml",
        &open_window("INC-7", "\"rustdesk\"").replacen(
            "[contact]",
            "mode = \"alert\"\n[contact]",
            1,
        ),
    );
    let mut d = varco_run(
        &s,
        &["--config", config.to_str().unwrap(), "--notify", "session"],
        &[
            ("DISPLAY", &desktop.display),
            ("DBUS_SESSION_BUS_ADDRESS", &desktop.bus),
            ("LANG", "it_IT.UTF-8"),
        ],
        &["LC_ALL", "LC_MESSAGES"],
    );
    let admitted = s.fake_tool("RustDesk");
    let mut admitted = spawn(&admitted);
    wait_until("the quiet note", Duration::from_secs(8), || {
        desktop
            .received()
            .contains("Intervento programmato: RustDesk")
    });
    let log = desktop.received();
    let note = notify_call(&log, "Intervento programmato: RustDesk");
    assert!(
        note.contains("«INC-7»") && note.contains("Mario Rossi"),
        "{note}"
    );
    assert!(
        note.split("string \"urgency\"")
            .nth(1)
            .unwrap()
            .contains("byte 0"),
        "an admitted tool's note is not low urgency:\n{note}"
    );

    let unscheduled = s.fake_tool("AnyDesk");
    let mut unscheduled = spawn(&unscheduled);
    wait_until("the alert", Duration::from_secs(8), || {
        desktop
            .received()
            .contains("Accesso remoto NON programmato: AnyDesk")
    });
    let log = desktop.received();
    let alert = notify_call(&log, "Accesso remoto NON programmato: AnyDesk");
    assert!(
        alert.contains("lo chiuda subito") && alert.contains(PHONE),
        "{alert}"
    );
    assert!(
        alert
            .split("string \"urgency\"")
            .nth(1)
            .unwrap()
            .contains("byte 2"),
        "{alert}"
    );
    assert!(
        !exits_within(&mut unscheduled, Duration::from_millis(800)),
        "alert mode stopped the tool"
    );
    for c in [&mut admitted, &mut unscheduled] {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    d.stop();
}

const NOBODY: u32 = 65534;

#[test]
fn an_operator_who_is_not_root_is_told_by_their_own_agent() {
    operator_is_told_by_their_own_agent("desktop-user", &[], NOBODY, "nobody");
}

/// The production setup: the root service refuses the exec (fanotify) and
/// the operator's own agent still says so on their desktop.
#[test]
fn an_operator_whose_tool_is_refused_before_it_starts_is_told_by_their_agent() {
    operator_is_told_by_their_own_agent(
        "desktop-user-fanotify",
        &["--source", "fanotify"],
        NOBODY,
        "nobody",
    );
}

/// The operator `uid` (named `user`) starts a tool outside every window:
/// the root enforcer stops it (or refuses it, by `source`), records it
/// under the name and uid, and the operator's own agent shows the notice
/// on their own desktop.
pub(crate) fn operator_is_told_by_their_own_agent(
    name: &str,
    source: &[&str],
    uid: u32,
    user: &str,
) {
    let s = Scratch::new(name);
    let desktop = Desktop::start_as(&s, Some(uid));
    // What logind provides at login: the user's own runtime folder.
    let agents = s.path("run-user");
    let own = agents.join(uid.to_string());
    std::fs::create_dir_all(&own).unwrap();
    let ids = format!("{uid}:{uid}");
    for (args, p) in [
        (vec!["chown", ids.as_str()], &own),
        (vec!["chmod", "700"], &own),
    ] {
        assert!(
            Command::new(args[0])
                .args(&args[1..])
                .arg(p)
                .status()
                .unwrap()
                .success()
        );
    }
    let (_agent, _socket) = start_agent(&desktop, &agents, Some(uid));
    let config = contact_file(&s, "");
    let mut d = system_enforcer_with(&s, &config, &agents, source);
    let tool = s.fake_tool("AnyDesk");
    // setpriv execs the tool in place: refused (fanotify), setpriv exits
    // with an error; otherwise the tool starts and is stopped.
    let mut child = as_user(Some(uid), tool.to_str().unwrap())
        .arg("60")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        exits_within(&mut child, Duration::from_secs(3)),
        "{user}'s AnyDesk not stopped"
    );
    let r = d
        .wait_for(
            |r| r["event"] == "blocked" && r["pid"] == child.id(),
            Duration::from_secs(8),
        )
        .expect("no blocked record");
    assert_eq!(r["user"], user, "{r}");
    assert_eq!(r["uid"], uid, "{r}");
    assert_eq!(d.notice_of(&r)["notified"], true, "{r}");
    wait_until(
        "the Notify call on the operator's bus",
        Duration::from_secs(5),
        || desktop.received().contains(PHONE),
    );
    assert_blocked_notification(&desktop.received(), "AnyDesk");
    d.stop();
}

/// The operator's two new messages on a real desktop: the warning before
/// the window ends, then the confirmation of the panic button with the
/// callback number. Both screenshots are what docs/operatore.md shows.
#[test]
fn the_window_end_warning_and_the_panic_confirmation_on_a_real_desktop() {
    let s = Scratch::new("desktop-operator");
    let desktop = Desktop::start(&s);
    let now = jiff::Timestamp::now();
    let end = (now + jiff::SignedDuration::from_secs(40))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let start = (now - jiff::SignedDuration::from_hours(1))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let hhmm = end
        .parse::<jiff::Timestamp>()
        .unwrap()
        .to_zoned_datetime(jiff::tz::TimeZone::get("Europe/Rome").unwrap())
        .strftime("%H:%M")
        .to_string();
    let config = contact_file(
        &s,
        &format!(
            "\n[[window]]\nid = \"INC-2025-0142\"\ntools = [\"anydesk\"]\nstart = {start}\nend = {end}\ntechnician = \"Mario Rossi\"\nwarn_before_end = \"10m\"\n"
        ),
    );
    let socket = s.path("control/control.sock");
    let mut d = varco_run(
        &s,
        &[
            "--config",
            config.to_str().unwrap(),
            "--notify",
            "session",
            "--socket",
            socket.to_str().unwrap(),
        ],
        &[
            ("DISPLAY", &desktop.display),
            ("DBUS_SESSION_BUS_ADDRESS", &desktop.bus),
            ("LANG", "it_IT.UTF-8"),
        ],
        &["LC_ALL", "LC_MESSAGES"],
    );
    let tool = s.fake_tool("AnyDesk");
    let mut child = spawn(&tool);
    let title = format!("La manutenzione termina alle {hhmm}");
    wait_until("the window-end warning", Duration::from_secs(10), || {
        desktop.received().contains(&title)
    });
    let log = desktop.received();
    let warning = notify_call(&log, &title);
    assert!(
        warning.contains(&format!(
            "la finestra di manutenzione concordata termina alle {hhmm}; la sessione remota verrà chiusa"
        )) && warning.contains("AnyDesk")
            && warning.contains("INC-2025-0142"),
        "{warning}"
    );
    d.wait_for(|r| r["event"] == "window_ending", Duration::from_secs(5))
        .expect("no window_ending record");
    std::thread::sleep(Duration::from_millis(700));
    let shot = screenshot_dir().join("notification-window-ending.png");
    desktop.screenshot(&shot);
    eprintln!("screenshot: {}", shot.display());
    close_notifications(&desktop);

    // The operator presses "Interrompi assistenza remota".
    let out = Command::new(varco_bin())
        .args(["panic", "--socket", socket.to_str().unwrap()])
        .env("LANG", "it_IT.UTF-8")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        exits_within(&mut child, Duration::from_secs(3)),
        "the panic left AnyDesk running"
    );
    wait_until("the panic confirmation", Duration::from_secs(10), || {
        desktop.received().contains("Assistenza remota interrotta")
    });
    let log = desktop.received();
    let confirmation = notify_call(&log, "Assistenza remota interrotta");
    for needle in [
        "Ogni programma di assistenza remota è stato chiuso (AnyDesk)",
        "sospese fino a domani",
        "riattacchi",
        PHONE,
        "Esempio Informatica S.r.l.",
        "referente informatico del Comune (CED del Comune, interno 204)",
    ] {
        assert!(
            confirmation.contains(needle),
            "missing {needle:?} in\n{confirmation}"
        );
    }
    assert!(
        confirmation.contains("byte 2"),
        "not critical:\n{confirmation}"
    );
    std::thread::sleep(Duration::from_millis(700));
    let shot = screenshot_dir().join("notification-panic.png");
    desktop.screenshot(&shot);
    eprintln!("screenshot: {}", shot.display());
    d.stop();
}

/// Dismisses every notification on screen (dunst's own control tool), so
/// the next screenshot shows only what follows.
fn close_notifications(desktop: &Desktop) {
    let mut cmd = Command::new(which("dunstctl"));
    cmd.arg("close-all");
    desktop.session_env(&mut cmd);
    let _ = cmd.status();
}
