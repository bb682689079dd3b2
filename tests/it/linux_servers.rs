//! Every remote-desktop server Debian packages, recognised by content when
//! renamed and stopped by the real daemon outside a window.
//!
//! The binaries are the real ones `tests/run.sh` installs (TigerVNC,
//! TightVNC, x11vnc, xrdp and xorgxrdp, FreeRDP's shadow server, krfb,
//! GNOME Remote Desktop, xpra, X2Go): each is copied under an everyday name
//! and must still be recognised by the markers curated.toml records. A
//! marker must also be absent from every other program of this machine:
//! the last test reads every ELF and `#!` file under /usr and proves it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use varco::policy::catalog::Catalog;

use crate::support::{Daemon, Scratch, shm_segments, varco_bin, which};

/// The Debian packages whose files may carry a tool's markers.
const OWNERS: &[(&str, &[&str])] = &[
    (
        "tigervnc",
        &["tigervnc-standalone-server", "tigervnc-scraping-server"],
    ),
    ("tightvnc", &["tightvncserver"]),
    ("x11vnc", &["x11vnc"]),
    ("xrdp", &["xrdp", "xorgxrdp"]),
    (
        "freerdp",
        &[
            "freerdp2-shadow-x11",
            "libfreerdp-shadow2-2",
            "libfreerdp-shadow-subsystem2-2",
        ],
    ),
    ("krfb", &["krfb"]),
    ("gnome-remote-desktop", &["gnome-remote-desktop"]),
    ("xpra", &["xpra"]),
    (
        "x2go",
        &[
            "x2goserver",
            "x2goserver-common",
            "x2goserver-extensions",
            "x2goserver-xsession",
            "x2goserver-x2goagent",
            "x2goserver-desktopsharing",
            "x2goserver-fmbindings",
            "x2goserver-printing",
            "libx2go-config-perl",
            "libx2go-log-perl",
            "libx2go-server-perl",
            "libx2go-server-db-perl",
            "nxagent",
        ],
    ),
];

/// Each server program (or module, or launcher script) as Debian installs
/// it, the tool it is, and the everyday name its copy gets.
const PROGRAMS: &[(&str, &str, &str)] = &[
    ("tigervnc", "/usr/bin/Xtigervnc", "Xorg"),
    ("tigervnc", "/usr/bin/X0tigervnc", "evolution"),
    ("tightvnc", "/usr/bin/Xtightvnc", "Xwayland"),
    ("x11vnc", "/usr/bin/x11vnc", "gpg-agent"),
    ("xrdp", "/usr/sbin/xrdp", "cupsd"),
    ("xrdp", "/usr/sbin/xrdp-sesman", "colord"),
    ("xrdp", "/usr/sbin/xrdp-chansrv", "pipewire"),
    (
        "xrdp",
        "/usr/lib/xorg/modules/libxorgxrdp.so",
        "libwacom.so",
    ),
    (
        "xrdp",
        "/usr/lib/xorg/modules/drivers/xrdpdev_drv.so",
        "modesetting_drv.so",
    ),
    ("freerdp", "/usr/bin/freerdp-shadow-cli", "nautilus"),
    ("krfb", "/usr/bin/krfb", "okular"),
    ("krfb", "/usr/bin/krfb-virtualmonitor", "dolphin"),
    (
        "gnome-remote-desktop",
        "/usr/libexec/gnome-remote-desktop-daemon",
        "gsd-sharing",
    ),
    (
        "x2go",
        "/usr/lib/x86_64-linux-gnu/nx/bin/x2goagent",
        "gnome-shell",
    ),
    ("x2go", "/usr/sbin/x2gocleansessions", "update-notifier"),
    ("x2go", "/usr/bin/x2goruncommand", "xdg-open"),
    ("xpra", "/usr/bin/xpra", "gnome-software"),
    ("xpra", "/usr/bin/xpra_launcher", "evince"),
];

fn installed(path: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.is_file(),
        "{path} is missing: run bash tests/run.sh, which installs Debian's remote-desktop servers"
    );
    p
}

/// Copies a real installed program into the scratch folder under an
/// everyday name (mode kept, so it runs).
fn renamed(s: &Scratch, installed_path: &str, name: &str) -> PathBuf {
    let copy = s.path(name);
    std::fs::copy(installed(installed_path), &copy).unwrap();
    copy
}

fn lookup(path: &Path) -> (bool, String) {
    let out = Command::new(varco_bin())
        .args(["catalog", "lookup"])
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The first promise for Linux: a copy of any of Debian's
/// remote-desktop servers under an everyday name is still that tool.
#[test]
fn renamed_copies_of_every_debian_server_are_recognised_by_content() {
    let s = Scratch::new("linux-servers-lookup");
    for (tool, path, name) in PROGRAMS {
        let copy = renamed(&s, path, name);
        let (ok, out) = lookup(&copy);
        assert!(ok, "{path} renamed to {name}: {out}");
        assert!(
            out.starts_with(&format!("{tool}  matched_by=content")),
            "{path} renamed to {name}: {out}"
        );
        std::fs::remove_file(&copy).unwrap();
    }
}

/// A marker that an everyday program also contained would stop that
/// program: every marker of the catalog is searched for in every ELF file
/// and `#!` script under /usr/bin, /usr/sbin, /usr/lib and /usr/libexec of
/// this machine, and may only be found in its own tool's packages (where it
/// must be found: markers come from the real installed binaries).
#[test]
fn markers_are_only_in_their_own_tools_files() {
    let catalog = Catalog::embedded().unwrap();
    let owners: BTreeMap<&str, &[&str]> = OWNERS.iter().copied().collect();
    // marker bytes → tool id
    let mut markers: Vec<(Vec<u8>, String)> = Vec::new();
    for t in catalog.tools() {
        for hex in &t.markers {
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            markers.push((bytes, t.id.clone()));
        }
    }
    for (_, id) in &markers {
        assert!(
            owners.contains_key(id.as_str()),
            "marker of {id}: add its Debian packages to OWNERS"
        );
    }
    let s = Scratch::new("linux-servers-markers");
    let patterns = s.path("markers");
    let mut text = Vec::new();
    for (m, _) in &markers {
        text.extend_from_slice(m);
        text.push(b'\n');
    }
    std::fs::write(&patterns, text).unwrap();

    let files = programs_and_scripts();
    assert!(
        files.len() > 1000,
        "too few programs found: {}",
        files.len()
    );
    let mut hits: BTreeSet<PathBuf> = BTreeSet::new();
    for chunk in files.chunks(500) {
        let out = Command::new("grep")
            .args(["-F", "-l", "-a", "-f"])
            .arg(&patterns)
            .arg("--")
            .args(chunk)
            .output()
            .unwrap();
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "grep failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            hits.insert(PathBuf::from(line));
        }
    }
    let packages = packages_of(&hits);
    let mut found_for: BTreeMap<String, usize> = BTreeMap::new();
    let mut strays = Vec::new();
    for file in &hits {
        let bytes = std::fs::read(file).unwrap();
        let package = packages.get(file);
        for (m, id) in &markers {
            if !bytes.windows(m.len()).any(|w| w == m.as_slice()) {
                continue;
            }
            *found_for.entry(id.clone()).or_default() += 1;
            if !package.is_some_and(|p| owners[id.as_str()].contains(&p.as_str())) {
                strays.push(format!(
                    "{} ({package:?}) holds a marker of {id}",
                    file.display()
                ));
            }
        }
    }
    println!(
        "markers: {} searched in {} programs and scripts; files holding one, per tool: {found_for:?}",
        markers.len(),
        files.len()
    );
    assert!(
        strays.is_empty(),
        "markers outside their tool's packages: {strays:?}"
    );
    for (id, _) in OWNERS {
        assert!(
            found_for.get(*id).copied().unwrap_or(0) > 0,
            "no installed file holds a marker of {id}: markers must come from the real binaries"
        );
    }
}

/// Every regular ELF file and `#!` script under the system's program and
/// library folders.
fn programs_and_scripts() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = ["/usr/bin", "/usr/sbin", "/usr/lib", "/usr/libexec"]
        .iter()
        .map(PathBuf::from)
        .collect();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(kind) = e.file_type() else { continue };
            let p = e.path();
            if kind.is_dir() {
                stack.push(p);
            } else if kind.is_file() {
                let mut head = [0u8; 4];
                let n = std::fs::File::open(&p)
                    .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
                    .unwrap_or(0);
                if head[..n].starts_with(b"\x7fELF") || head[..n].starts_with(b"#!") {
                    out.push(p);
                }
            }
        }
    }
    out.sort();
    out
}

/// The Debian package that installed each file (by its path or the path
/// it resolves to), in one `dpkg -S` call; a file no package installed is
/// absent.
fn packages_of(files: &BTreeSet<PathBuf>) -> BTreeMap<PathBuf, String> {
    let mut asked: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    for f in files {
        asked.insert(f.clone(), f.clone());
        if let Ok(real) = std::fs::canonicalize(f) {
            asked.entry(real).or_insert_with(|| f.clone());
        }
    }
    let out = Command::new("dpkg")
        .arg("-S")
        .args(asked.keys())
        .output()
        .unwrap();
    let mut found = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((pkgs, path)) = line.split_once(": ") else {
            continue;
        };
        if let Some(file) = asked.get(Path::new(path.trim())) {
            let pkg = pkgs.split(',').next().unwrap_or(pkgs);
            let pkg = pkg.split(':').next().unwrap_or(pkg).trim().to_string();
            found.entry(file.clone()).or_insert(pkg);
        }
    }
    found
}

/// What killed X and VNC servers leave behind (lock files, sockets, SysV
/// shared memory), removed when the test ends so later runs find free
/// displays and a kernel table with room.
struct Leftovers {
    displays: Vec<u16>,
    shm_before: Vec<u64>,
}

impl Leftovers {
    fn new() -> Leftovers {
        Leftovers {
            displays: Vec::new(),
            shm_before: shm_segments(false),
        }
    }

    /// A display number nothing uses, with its VNC and X ports free; its
    /// files are removed at the end.
    fn free_display(&mut self) -> u16 {
        let n = (40..100u16)
            .find(|n| {
                !self.displays.contains(n)
                    && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
                    && !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                    && TcpListener::bind(("0.0.0.0", 5900 + n)).is_ok()
                    && TcpListener::bind(("0.0.0.0", 6000 + n)).is_ok()
            })
            .expect("no free X display between :40 and :99");
        self.displays.push(n);
        n
    }
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        for n in &self.displays {
            let _ = std::fs::remove_file(format!("/tmp/.X{n}-lock"));
            let _ = std::fs::remove_file(format!("/tmp/.X11-unix/X{n}"));
        }
        for id in shm_segments(true) {
            if !self.shm_before.contains(&id) {
                let _ = Command::new("ipcrm").arg("-m").arg(id.to_string()).status();
            }
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A helper process (Xvfb, a bus) asked to end when dropped, then killed.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        crate::support::signal(self.0.id(), "TERM");
        if !crate::support::exits_within(&mut self.0, Duration::from_secs(3)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A real X server without a screen (Xvfb, an everyday program) on display
/// `n`, for the servers that share an existing display.
fn xvfb(n: u16) -> Running {
    let child = Command::new(which("Xvfb"))
        .arg(format!(":{n}"))
        .args(["-screen", "0", "1024x768x24", "-nolisten", "tcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "Xvfb :{n} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Running(child)
}

/// A private D-Bus session bus for the servers that need one; its address.
fn session_bus() -> (Running, String) {
    let mut child = Command::new(which("dbus-daemon"))
        .args(["--session", "--nofork", "--print-address=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.starts_with("unix:"), "no bus address: {line:?}");
    (Running(child), line.trim().to_string())
}

/// A home folder and a runtime folder in the scratch folder, for servers
/// that keep state there.
fn home(s: &Scratch, cmd: &mut Command) {
    let (home, runtime) = (s.path("home"), s.path("runtime"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&runtime).unwrap();
    cmd.env("HOME", home).env("XDG_RUNTIME_DIR", runtime);
}

/// The renamed server: the daemon is expected to kill it; killed here if
/// it was not.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the daemon (no window open), runs `cmd` (a renamed server) and
/// proves the daemon killed it: a `blocked` record for its pid naming
/// `tool`, matched by content, and an exit by SIGKILL, which only varco
/// sends here.
fn assert_stopped(s: &Scratch, tool: &str, mut cmd: Command) {
    let config = s.write("approved-windows.toml", "");
    let d = Daemon::start(
        s,
        &["--config", config.to_str().unwrap(), "--poll-ms", "100"],
    );
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut child = Killed(child);
    let record = d
        .wait_for(
            |r| r["event"] == "blocked" && r["pid"] == pid,
            Duration::from_secs(15),
        )
        .unwrap_or_else(|| {
            panic!(
                "no blocked record for the renamed {tool} (pid {pid}); alive: {:?}; records: {:?}",
                child.0.try_wait(),
                d.records()
            )
        });
    assert_eq!(record["tool"], tool, "{record}");
    assert_eq!(record["matched_by"], "content", "{record}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = child.0.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "the renamed {tool} still runs");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "the renamed {tool} ended by itself ({status}), it was not stopped"
    );
}

/// TigerVNC's Xvnc serves a virtual desktop of its own.
#[test]
fn daemon_stops_renamed_tigervnc_xvnc() {
    let s = Scratch::new("stop-xvnc");
    let mut left = Leftovers::new();
    let n = left.free_display();
    let mut cmd = Command::new(renamed(&s, "/usr/bin/Xtigervnc", "Xorg"));
    cmd.arg(format!(":{n}")).args([
        "-SecurityTypes",
        "None",
        "-rfbport",
        "-1",
        "-nolisten",
        "tcp",
    ]);
    assert_stopped(&s, "tigervnc", cmd);
}

/// TigerVNC's x0vncserver shares a running X display (Xvfb here).
#[test]
fn daemon_stops_renamed_tigervnc_x0vncserver() {
    let s = Scratch::new("stop-x0vnc");
    let mut left = Leftovers::new();
    let n = left.free_display();
    let _x = xvfb(n);
    let mut cmd = Command::new(renamed(&s, "/usr/bin/X0tigervnc", "evolution"));
    cmd.args(["-display", &format!(":{n}")])
        .args(["-SecurityTypes", "None", "-rfbport", "-1"]);
    assert_stopped(&s, "tigervnc", cmd);
}

/// TightVNC's X server (Xtightvnc).
#[test]
fn daemon_stops_renamed_tightvnc_xserver() {
    let s = Scratch::new("stop-xtightvnc");
    let mut left = Leftovers::new();
    let n = left.free_display();
    let mut cmd = Command::new(renamed(&s, "/usr/bin/Xtightvnc", "Xwayland"));
    cmd.arg(format!(":{n}"))
        .args(["-rfbport", &free_port().to_string(), "-nolisten", "tcp"]);
    assert_stopped(&s, "tightvnc", cmd);
}

/// xrdp, the RDP server (its session manager launches Xorg with xorgxrdp,
/// whose modules only the lookup test can show: a module is not a process).
#[test]
fn daemon_stops_renamed_xrdp() {
    let s = Scratch::new("stop-xrdp");
    // A daemonizing xrdp that was killed leaves its pid file, and xrdp then
    // takes itself for a second copy and exits at once.
    let _ = std::fs::remove_file("/var/run/xrdp/xrdp.pid");
    let mut cmd = Command::new(renamed(&s, "/usr/sbin/xrdp", "cupsd"));
    cmd.args(["--nodaemon", "--port", &free_port().to_string()]);
    assert_stopped(&s, "xrdp", cmd);
}

/// FreeRDP's shadow server shares a running X display over RDP.
#[test]
fn daemon_stops_renamed_freerdp_shadow_server() {
    let s = Scratch::new("stop-freerdp-shadow");
    let mut left = Leftovers::new();
    let n = left.free_display();
    let _x = xvfb(n);
    let mut cmd = Command::new(renamed(&s, "/usr/bin/freerdp-shadow-cli", "nautilus"));
    cmd.env("DISPLAY", format!(":{n}"))
        .arg(format!("/port:{}", free_port()))
        .arg("-auth");
    assert_stopped(&s, "freerdp", cmd);
}

/// KDE's desktop sharing (krfb) on a display with a session bus.
#[test]
fn daemon_stops_renamed_krfb() {
    let s = Scratch::new("stop-krfb");
    let mut left = Leftovers::new();
    let n = left.free_display();
    let _x = xvfb(n);
    let (_bus, address) = session_bus();
    let mut cmd = Command::new(renamed(&s, "/usr/bin/krfb", "okular"));
    home(&s, &mut cmd);
    cmd.env("DISPLAY", format!(":{n}"))
        .env("DBUS_SESSION_BUS_ADDRESS", address)
        .arg("--nodialog");
    assert_stopped(&s, "krfb", cmd);
}

/// GNOME Remote Desktop's daemon, headless, on a session bus.
#[test]
fn daemon_stops_renamed_gnome_remote_desktop() {
    let s = Scratch::new("stop-grd");
    let (_bus, address) = session_bus();
    let mut cmd = Command::new(renamed(
        &s,
        "/usr/libexec/gnome-remote-desktop-daemon",
        "gsd-sharing",
    ));
    home(&s, &mut cmd);
    cmd.env("DBUS_SESSION_BUS_ADDRESS", address)
        .arg("--headless");
    assert_stopped(&s, "gnome-remote-desktop", cmd);
}

/// X2Go's agent (x2goagent, the X server of an X2Go session), nested in a
/// display.
#[test]
fn daemon_stops_renamed_x2goagent() {
    let s = Scratch::new("stop-x2goagent");
    let mut left = Leftovers::new();
    let n = left.free_display();
    let m = left.free_display();
    let _x = xvfb(n);
    let mut cmd = Command::new(renamed(
        &s,
        "/usr/lib/x86_64-linux-gnu/nx/bin/x2goagent",
        "gnome-shell",
    ));
    home(&s, &mut cmd);
    cmd.env("DISPLAY", format!(":{n}"))
        .args(["-D", &format!(":{m}")]);
    assert_stopped(&s, "x2go", cmd);
}

/// xpra, a Python program: its launcher script copied under an everyday
/// name and started as a program (the kernel runs the interpreter its `#!`
/// line names), sharing a running display (`xpra shadow`). The process's
/// executable is Python; the script it runs is what is judged.
#[test]
fn daemon_stops_renamed_xpra() {
    let s = Scratch::new("stop-xpra");
    let mut left = Leftovers::new();
    let n = left.free_display();
    let _x = xvfb(n);
    let mut cmd = Command::new(renamed(&s, "/usr/bin/xpra", "gnome-software"));
    home(&s, &mut cmd);
    std::fs::create_dir_all(s.path("sockets")).unwrap();
    cmd.env("DISPLAY", format!(":{n}"))
        .args(["shadow", &format!(":{n}"), "--daemon=no"])
        .arg(format!("--bind-tcp=127.0.0.1:{}", free_port()))
        .arg(format!("--socket-dirs={}", s.path("sockets").display()))
        .args(["--mdns=no", "--notifications=no", "--pulseaudio=no"])
        .args(["--systemd-run=no", "--dbus-proxy=no", "--printing=no"]);
    assert_stopped(&s, "xpra", cmd);
}
