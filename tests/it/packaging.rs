//! The files that install and start varco are real: the systemd units and
//! the XDG autostart entries pass their own tools' validators, and the
//! Debian package is built with cargo-deb, installed with `dpkg -i` on this
//! machine, checked, removed and purged, leaving nothing behind.

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
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

fn dpkg(args: &[&str]) -> String {
    let out = run(Command::new("dpkg")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "dpkg {args:?}:\n{text}");
    text
}

/// dpkg's two-letter state of the varco package ("ii", "rc"), or "" when
/// dpkg does not know it.
fn package_state() -> String {
    let out = run(Command::new("dpkg-query").args(["-W", "-f=${db:Status-Abbrev}", "varco"]));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Every path whose name mentions varco under the places a package
/// writes to (the files, the enablement links, deb-systemd-helper's
/// state), for the before/after comparison.
fn varco_paths() -> BTreeSet<PathBuf> {
    fn walk(dir: &Path, found: &mut BTreeSet<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains("varco"))
            {
                found.insert(p.clone());
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&p, found);
            }
        }
    }
    let mut found = BTreeSet::new();
    for root in [
        "/etc",
        "/usr/bin",
        "/usr/lib/systemd",
        "/usr/share/doc",
        "/usr/share/man/man1",
        "/var/lib",
        "/var/log",
    ] {
        walk(Path::new(root), &mut found);
    }
    found
}

const DEB_DIRS: [&str; 3] = ["/etc/varco", "/var/lib/varco", "/var/log/varco"];

/// The whole life of the Debian package on this machine: build (the test
/// run's binary, packed by the same script and cargo-deb as a release),
/// `dpkg -i`, the files with their owners and modes, the units verified
/// where they were installed, lintian, an upgrade that keeps IT's edit,
/// `dpkg -r` (service gone, conffile and logs kept), `dpkg --purge`
/// (nothing left). This machine runs no systemd: the maintainer scripts'
/// path without it is the one exercised (enable, do not start).
#[test]
fn deb_package_installs_checks_removes_and_purges_cleanly() {
    // It installs /usr/bin/varco and /etc/varco, which every root varco
    // would read: no other test may run a daemon meanwhile.
    let s = Scratch::new("deb");
    if !package_state().is_empty() {
        // An aborted run left it installed (or half removed).
        dpkg(&["--purge", "varco"]);
    }
    for dir in DEB_DIRS {
        assert!(
            !Path::new(dir).exists(),
            "{dir} exists but the varco package is not installed: a manual install is here; remove it first (this test would purge it)"
        );
    }
    let before = varco_paths();

    let started = std::time::Instant::now();
    let out = run(Command::new("bash")
        .arg("packaging/linux/build-deb.sh")
        .env("VARCO_BIN", varco_bin()));
    assert!(
        out.status.success(),
        "build-deb.sh:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("package built in {:?}", started.elapsed());
    let debs: Vec<PathBuf> = std::fs::read_dir("target/debian")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let version = env!("CARGO_PKG_VERSION");
    let arch =
        String::from_utf8(run(Command::new("dpkg").arg("--print-architecture")).stdout).unwrap();
    let expected = PathBuf::from(format!("target/debian/varco_{version}_{}.deb", arch.trim()));
    assert_eq!(debs, std::slice::from_ref(&expected), "exactly one package");
    let deb = std::fs::canonicalize(&expected).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        expected.to_str().unwrap()
    );

    let description = dpkg(&["-f", deb.to_str().unwrap(), "Description"]);
    assert!(
        description.contains("opens NO window: every remote-access tool"),
        "{description}"
    );

    // Install.
    let installed = dpkg(&["-i", deb.to_str().unwrap()]);
    assert!(
        installed.contains("opens no maintenance window"),
        "{installed}"
    );
    assert_eq!(package_state(), "ii");
    let listed: Vec<PathBuf> = dpkg(&["-L", "varco"]).lines().map(PathBuf::from).collect();
    for (path, mode) in [
        ("/usr/bin/varco", 0o755),
        ("/etc/varco", 0o755),
        ("/etc/varco/approved-windows.toml", 0o644),
        ("/usr/lib/systemd/system/varco-system.service", 0o644),
        ("/usr/lib/systemd/user/varco-agent.service", 0o644),
        ("/etc/xdg/autostart/varco-agent.desktop", 0o644),
        ("/usr/share/applications/varco-panic.desktop", 0o644),
        ("/usr/share/man/man1/varco.1.gz", 0o644),
        ("/usr/share/doc/varco/copyright", 0o644),
        ("/usr/share/doc/varco/changelog.gz", 0o644),
        ("/usr/share/doc/varco/README.md", 0o644),
        ("/usr/share/doc/varco/deploy.md", 0o644),
        ("/usr/share/doc/varco/messages.toml", 0o644),
        (
            "/usr/share/doc/varco/examples/approved-windows.example.toml",
            0o644,
        ),
    ] {
        let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(meta.permissions().mode() & 0o7777, mode, "{path}");
        assert_eq!((meta.uid(), meta.gid()), (0, 0), "{path} not root:root");
        assert!(
            listed.contains(&PathBuf::from(path)),
            "{path} not in dpkg -L"
        );
    }
    // The operator's panic button runs the packaged binary and is a valid
    // menu entry.
    let panic_button =
        std::fs::read_to_string("/usr/share/applications/varco-panic.desktop").unwrap();
    assert!(
        panic_button.contains("Exec=/usr/bin/varco panic"),
        "{panic_button}"
    );
    let valid =
        run(Command::new("desktop-file-validate")
            .arg("/usr/share/applications/varco-panic.desktop"));
    assert!(
        valid.status.success() && valid.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&valid.stdout)
    );
    let conffiles = run(Command::new("dpkg-query").args(["-W", "-f=${Conffiles}", "varco"]));
    let conffiles = String::from_utf8_lossy(&conffiles.stdout);
    assert!(
        conffiles.contains("/etc/varco/approved-windows.toml"),
        "not a conffile: {conffiles}"
    );
    assert_eq!(
        std::fs::read_to_string("/etc/varco/approved-windows.toml").unwrap(),
        std::fs::read_to_string("config/approved-windows.default.toml").unwrap()
    );
    let copyright = std::fs::read_to_string("/usr/share/doc/varco/copyright").unwrap();
    for needed in [
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/",
        "Files: config/catalog/lolrmm.toml",
        "Files: vendor/tokio-",
        "License: Unlicense\n",
    ] {
        assert!(copyright.contains(needed), "copyright lacks {needed}");
    }

    // Enabled the way deb-systemd-helper does, started by nothing: no
    // systemd runs here.
    for (link, unit) in [
        (
            "/etc/systemd/system/multi-user.target.wants/varco-system.service",
            "/usr/lib/systemd/system/varco-system.service",
        ),
        (
            "/etc/systemd/user/graphical-session.target.wants/varco-agent.service",
            "/usr/lib/systemd/user/varco-agent.service",
        ),
    ] {
        // /lib or /usr/lib: the same file on a merged-/usr system.
        assert_eq!(
            std::fs::canonicalize(link).unwrap_or_else(|e| panic!("{link}: {e}")),
            std::fs::canonicalize(unit).unwrap(),
            "{link} does not enable {unit}"
        );
    }
    assert!(
        !std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read_link(e.path().join("exe")).is_ok_and(|x| x == Path::new("/usr/bin/varco"))
        }),
        "the maintainer scripts started varco without systemd"
    );

    // What IT does first.
    let check =
        run(Command::new("/usr/bin/varco").args(["check", "/etc/varco/approved-windows.toml"]));
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("OK — 0 window(s), mode block"),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    // IT installs its public key where the installed varco looks for it:
    // from then on only a windows file IT signed passes, without a flag.
    let key = crate::trust::Key::new(&s, "it");
    std::fs::copy(&key.public, "/etc/varco/trusted.pub").unwrap();
    let release = s.write("release.toml", "serial = 1\nmode = \"block\"\n");
    let unsigned = run(Command::new("/usr/bin/varco").arg("check").arg(&release));
    let said = String::from_utf8_lossy(&unsigned.stdout).into_owned()
        + &String::from_utf8_lossy(&unsigned.stderr);
    assert!(
        !unsigned.status.success() && said.contains("refused: it is not signed"),
        "{said}"
    );
    key.sign(&release);
    let signed = run(Command::new("/usr/bin/varco").arg("check").arg(&release));
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stdout)
    );
    std::fs::remove_file("/etc/varco/trusted.pub").unwrap();
    verify_unit_file(Path::new("/usr/lib/systemd/system/varco-system.service"));
    verify_unit_file(Path::new("/usr/lib/systemd/user/varco-agent.service"));
    desktop_file_validate(Path::new("/etc/xdg/autostart/varco-agent.desktop"));
    let security = run(Command::new(which("systemd-analyze"))
        .args(["security", "--offline=true", "--threshold=40"])
        .arg("/usr/lib/systemd/system/varco-system.service"));
    let report = String::from_utf8_lossy(&security.stdout);
    let score = report
        .lines()
        .find_map(|l| l.strip_prefix("→ Overall exposure level for varco-system.service: "))
        .unwrap_or_else(|| panic!("no score: {report}"));
    assert!(
        security.status.success(),
        "exposure above 4.0 (was 3.5 in docs/deploy.md): {score}"
    );
    eprintln!("systemd-analyze security: {score}");

    let lintian = run(Command::new(which("lintian"))
        .args(["--pedantic", "--display-info"])
        .arg(&deb));
    let tags: Vec<String> = String::from_utf8_lossy(&lintian.stdout)
        .lines()
        .filter(|l| !l.starts_with("N:"))
        .map(str::to_string)
        .collect();
    eprintln!("lintian: {tags:#?}");
    assert!(
        !tags
            .iter()
            .any(|t| t.starts_with("E:") || t.starts_with("W:")),
        "lintian errors or warnings: {tags:#?}"
    );

    // An upgrade (here: the same version again) keeps IT's edit.
    let edited = format!(
        "{}\n[contact]\ncompany = \"Esempio Informatica S.r.l.\"\nphone = \"+39 06 1234567\"\n",
        std::fs::read_to_string("/etc/varco/approved-windows.toml").unwrap()
    );
    std::fs::write("/etc/varco/approved-windows.toml", &edited).unwrap();
    dpkg(&["-i", deb.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string("/etc/varco/approved-windows.toml").unwrap(),
        edited
    );

    // What the running service would have written.
    for dir in ["/var/lib/varco", "/var/log/varco"] {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write("/var/log/varco/audit.jsonl", "{}\n").unwrap();

    // Remove: the service's files go, IT's file and the records stay.
    dpkg(&["-r", "varco"]);
    assert_eq!(package_state(), "rc");
    for gone in [
        "/usr/bin/varco",
        "/usr/lib/systemd/system/varco-system.service",
        "/usr/lib/systemd/user/varco-agent.service",
        "/usr/share/doc/varco",
    ] {
        assert!(!Path::new(gone).exists(), "{gone} left after dpkg -r");
    }
    // A conffile too (it is in /etc): kept, and inert without the binary.
    let autostart = std::fs::read_to_string("/etc/xdg/autostart/varco-agent.desktop").unwrap();
    assert!(
        autostart.contains("TryExec=/usr/bin/varco\n"),
        "{autostart}"
    );
    assert_eq!(
        std::fs::read_to_string("/etc/varco/approved-windows.toml").unwrap(),
        edited,
        "dpkg -r must keep the conffile"
    );
    assert!(Path::new("/var/log/varco/audit.jsonl").exists());

    // Purge: nothing of varco is left.
    dpkg(&["--purge", "varco"]);
    assert_eq!(package_state(), "");
    for dir in DEB_DIRS {
        assert!(!Path::new(dir).exists(), "{dir} left after purge");
    }
    for path in &listed {
        let existed = before.iter().any(|b| b == path) || !path.to_string_lossy().contains("varco");
        assert!(
            existed || !path.exists(),
            "{} from the package is left after purge",
            path.display()
        );
    }
    let after = varco_paths();
    let left: Vec<_> = after.difference(&before).collect();
    assert!(left.is_empty(), "left behind after purge: {left:?}");
    eprintln!(
        "package built, installed, checked and purged in {:?}",
        started.elapsed()
    );
}

/// The operator's panic button is a real launcher: valid, shown in the
/// menu (not hidden like the autostart entries), no terminal, and the
/// command it runs exists.
#[test]
fn the_panic_launcher_is_valid_visible_and_runs_varco_panic() {
    let path = "packaging/linux/varco-panic.desktop";
    let out = Command::new(which("desktop-file-validate"))
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = std::fs::read_to_string(path).unwrap();
    for needed in [
        "Name=Interrompi assistenza remota",
        "Exec=/usr/bin/varco panic",
        "Terminal=false",
    ] {
        assert!(text.contains(needed), "the launcher lacks {needed}");
    }
    assert!(
        !text.contains("NoDisplay=true"),
        "the launcher must be shown"
    );
    let install = std::fs::read_to_string("packaging/linux/install.sh").unwrap();
    assert!(install.contains("varco-panic.desktop\" /usr/share/applications/"));
    let help = Command::new(varco_bin())
        .args(["panic", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success());
}
