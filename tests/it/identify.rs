//! Identification by content against real binaries: Windows PEs built here
//! with mingw-w64 and windres (version resource only, renamed), and a real
//! Linux tool (Debian's x11vnc) copied under an innocent name.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{Daemon, Scratch, open_window, varco_bin, which};

/// Builds `name` in `dir`: a tiny Windows program whose VERSIONINFO
/// carries `strings` (key, value).
fn build_pe(dir: &Path, name: &str, strings: &[(&str, &str)]) -> PathBuf {
    let gcc = which("x86_64-w64-mingw32-gcc");
    let windres = which("x86_64-w64-mingw32-windres");
    let src = dir.join("main.c");
    std::fs::write(&src, "int main(void) { return 0; }\n").unwrap();
    let values: String = strings
        .iter()
        .map(|(k, v)| format!("      VALUE \"{k}\", \"{v}\"\n"))
        .collect();
    let rc = dir.join("version.rc");
    std::fs::write(
        &rc,
        format!(
            "1 VERSIONINFO\nFILEVERSION 9,0,0,0\nPRODUCTVERSION 9,0,0,0\nFILEOS 0x40004\nFILETYPE 0x1\nBEGIN\n  BLOCK \"StringFileInfo\"\n  BEGIN\n    BLOCK \"040904b0\"\n    BEGIN\n{values}    END\n  END\n  BLOCK \"VarFileInfo\"\n  BEGIN\n    VALUE \"Translation\", 0x409, 1200\n  END\nEND\n"
        ),
    )
    .unwrap();
    let res = dir.join("version.o");
    let ok = Command::new(windres)
        .arg(&rc)
        .arg("-O")
        .arg("coff")
        .arg("-o")
        .arg(&res)
        .status()
        .unwrap();
    assert!(ok.success(), "windres failed");
    let out = dir.join(name);
    let ok = Command::new(gcc)
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .arg(&res)
        .status()
        .unwrap();
    assert!(ok.success(), "mingw gcc failed");
    out
}

fn varco(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(varco_bin()).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The headline case: AnyDesk renamed to fattura.exe.
#[test]
fn renamed_pe_is_recognised_by_original_filename_in_lookup_and_scan() {
    let s = Scratch::new("pe-anydesk");
    let downloads = s.path("Downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let build = s.path("build");
    std::fs::create_dir_all(&build).unwrap();
    let built = build_pe(
        &build,
        "tool.exe",
        &[
            ("CompanyName", "Test Vendor"),
            ("FileDescription", "Test build"),
            ("OriginalFilename", "AnyDesk.exe"),
            ("ProductName", "Test product"),
        ],
    );
    let fattura = downloads.join("fattura.exe");
    std::fs::rename(&built, &fattura).unwrap();

    let (ok, out, err) = varco(&["catalog", "lookup", fattura.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(
        out.starts_with("anydesk  matched_by=pe_original_filename  (AnyDesk.exe)"),
        "{out}"
    );
    let (ok, _, err) = varco(&["catalog", "lookup", "fattura.exe"]);
    assert!(!ok, "the bare name is not a tool");
    assert!(err.contains("not a known remote-access tool"), "{err}");

    let none = s.write("approved-windows.toml", "");
    let (ok, out, err) = varco(&[
        "scan",
        "--config",
        none.to_str().unwrap(),
        "--root",
        downloads.to_str().unwrap(),
    ]);
    assert!(ok, "{out}{err}");
    let line = out
        .lines()
        .find(|l| l.contains("fattura.exe"))
        .unwrap_or_else(|| panic!("scan missed fattura.exe:\n{out}"));
    assert!(line.trim_start().starts_with("anydesk"), "{line}");
    assert!(line.contains("matched_by=pe_original_filename"), "{line}");
    assert!(
        line.contains("would be stopped now; no window admits it"),
        "{line}"
    );

    let open = s.write("open.toml", &open_window("INC-7", "\"anydesk\""));
    let (_, out, _) = varco(&[
        "scan",
        "--config",
        open.to_str().unwrap(),
        "--root",
        downloads.to_str().unwrap(),
    ]);
    assert!(
        out.contains("allowed now by window \"INC-7\""),
        "scan says what the windows allow:\n{out}"
    );
}

/// ProductName alone (no telling file name) is enough too.
#[test]
fn renamed_pe_is_recognised_by_product_name() {
    let s = Scratch::new("pe-product");
    let pe = build_pe(
        &s.dir,
        "preventivo.exe",
        &[("ProductName", "TeamViewer"), ("OriginalFilename", "x.exe")],
    );
    let (ok, out, err) = varco(&["catalog", "lookup", pe.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(out.starts_with("teamviewer  matched_by=product"), "{out}");
}

/// A PE with everyday metadata is not a tool: content matching must not
/// invent tools.
#[test]
fn pe_with_everyday_version_strings_is_not_a_tool() {
    let s = Scratch::new("pe-everyday");
    let pe = build_pe(
        &s.dir,
        "WINWORD.EXE",
        &[
            ("CompanyName", "Microsoft Corporation"),
            ("OriginalFilename", "WinWord.exe"),
            ("ProductName", "Microsoft Office"),
        ],
    );
    let (ok, out, _) = varco(&["catalog", "lookup", pe.to_str().unwrap()]);
    assert!(!ok, "{out}");
}

/// A renamed real Linux tool is stopped by the daemon, and the audit log
/// says it was recognised by content.
#[test]
fn daemon_stops_renamed_x11vnc_and_records_matched_by_content() {
    let s = Scratch::new("elf-x11vnc");
    let x11vnc = Path::new("/usr/bin/x11vnc");
    assert!(
        x11vnc.exists(),
        "x11vnc not found: run bash tests/run.sh, which installs it"
    );
    let renamed = s.path("fattura");
    std::fs::copy(x11vnc, &renamed).unwrap();
    let config = s.write("approved-windows.toml", "");
    let d = Daemon::start(
        &s,
        &["--config", config.to_str().unwrap(), "--poll-ms", "100"],
    );
    // -loop keeps a parent alive retrying a display that does not exist.
    let mut child = Command::new(&renamed)
        .args(["-display", ":97", "-loop500", "-q"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let record = d
        .wait_for(
            |r| r["event"] == "blocked" && r["pid"] == child.id(),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|| panic!("no blocked record: {:?}", d.records()));
    assert_eq!(record["tool"], "x11vnc");
    assert_eq!(record["matched_by"], "content");
    assert!(crate::support::exits_within(
        &mut child,
        Duration::from_secs(5)
    ));
}

/// IT's extension adds a tool; a broken one fails closed for windows that
/// name its tools.
#[test]
fn it_catalog_extension_is_used_and_a_broken_one_keeps_its_windows_closed() {
    let s = Scratch::new("catalog-ext");
    s.write(
        "catalog.toml",
        "[[tool]]\nid = \"gestionale-remoto\"\nname = \"Assistenza gestionale\"\nexecutables = [\"gestass.exe\"]\n",
    );
    let windows = s.write(
        "approved-windows.toml",
        &open_window("INC-9", "\"gestionale-remoto\""),
    );
    let (ok, out, err) = varco(&["check", windows.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let catalog = s.path("catalog.toml");
    let (ok, out, _) = varco(&[
        "catalog",
        "--catalog",
        catalog.to_str().unwrap(),
        "lookup",
        "GestAss.exe",
    ]);
    assert!(ok && out.starts_with("gestionale-remoto"), "{out}");

    s.write(
        "catalog.toml",
        "[[tool]]\nid = \"gestionale-remoto\"\nname = \"x\"\nexecutables = [\"setup.exe\"]\n",
    );
    let (ok, _, err) = varco(&["check", windows.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("catalog.toml:4:16: executable \"setup.exe\" is too generic"),
        "{err}"
    );
    assert!(err.contains("stay closed"), "{err}");

    // The daemon: a config_error for the catalog, and the window naming the
    // extension's tool does not open (the windows file no longer validates).
    let d = Daemon::start(&s, &["--config", windows.to_str().unwrap()]);
    let errors = d
        .wait_for(
            |r| {
                r["event"] == "config_error"
                    && r["reason"].as_str().unwrap_or("").contains("catalog.toml")
            },
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| panic!("no config_error for the catalog: {:?}", d.records()));
    assert!(errors["reason"].as_str().unwrap().contains("too generic"));
    d.wait_for(
        |r| {
            r["event"] == "config_error"
                && r["reason"]
                    .as_str()
                    .unwrap_or("")
                    .contains("unknown tool \"gestionale-remoto\"")
        },
        Duration::from_secs(5),
    )
    .unwrap_or_else(|| panic!("the window file still validated: {:?}", d.records()));

    // IT fixes the extension while varco runs: the catalog is reloaded, the
    // windows file validates again, and the in-house tool is admitted.
    s.write(
        "catalog.toml",
        "[[tool]]\nid = \"gestionale-remoto\"\nname = \"Assistenza gestionale\"\nexecutables = [\"gestass.exe\"]\n",
    );
    d.wait_for(
        |r| r["event"] == "config_reloaded" && r["reason"] == "1 window(s) in force",
        Duration::from_secs(5),
    )
    .unwrap_or_else(|| panic!("no reload after the fix: {:?}", d.records()));
    let tool = s.fake_tool("gestass.exe");
    let mut child = Command::new(&tool).arg("30").spawn().unwrap();
    let allowed = d
        .wait_for(
            |r| r["event"] == "allowed" && r["pid"] == child.id(),
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| panic!("the in-house tool was not admitted: {:?}", d.records()));
    assert_eq!(allowed["tool"], "gestionale-remoto");
    assert_eq!(allowed["window"], "INC-9");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Without --root, scan lists tools installed in the program folders (here
/// Debian's x11vnc, installed by tests/run.sh) under "installed".
#[test]
fn scan_by_default_lists_installed_tools() {
    let s = Scratch::new("scan-installed");
    assert!(
        Path::new("/usr/bin/x11vnc").exists(),
        "x11vnc not found: run bash tests/run.sh, which installs it"
    );
    let none = s.write("approved-windows.toml", "");
    let (ok, out, err) = varco(&["scan", "--config", none.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let installed = out
        .split("portable copies")
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(installed.starts_with("windows file:"), "{out}");
    assert!(
        installed
            .lines()
            .any(|l| l.trim_start().starts_with("x11vnc") && l.contains("/usr/bin/x11vnc")),
        "{out}"
    );
    assert!(out.contains("running now:"), "{out}");
}

/// With fanotify (root), a renamed real tool is refused before it runs,
/// recognised by its content while its exec waits.
#[test]
#[cfg(target_os = "linux")]
fn fanotify_refuses_renamed_x11vnc_by_content_before_it_starts() {
    let out = Command::new("id").arg("-u").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "this test needs root (fanotify needs CAP_SYS_ADMIN): run bash tests/run.sh as root"
    );
    let s = Scratch::new("fan-content");
    let x11vnc = Path::new("/usr/bin/x11vnc");
    assert!(
        x11vnc.exists(),
        "x11vnc not found: run bash tests/run.sh, which installs it"
    );
    let renamed = s.path("preventivo");
    std::fs::copy(x11vnc, &renamed).unwrap();
    let config = s.write("approved-windows.toml", "");
    let d = Daemon::start(
        &s,
        &["--config", config.to_str().unwrap(), "--source", "fanotify"],
    );
    let err = Command::new(&renamed)
        .arg("-version")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect_err("the renamed x11vnc ran");
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    let r = d
        .wait_for(|r| r["event"] == "blocked", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no blocked record: {:?}", d.records()));
    assert_eq!(r["tool"], "x11vnc");
    assert_eq!(r["matched_by"], "content");
    assert_eq!(r["before_start"], true, "{r}");
}
