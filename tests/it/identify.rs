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

/// Sets the `wLength` of the version-resource node named `key` (its
/// UTF-16 name follows the 6-byte header).
fn damage_node(pe: &Path, key: &str, length: u16) {
    let mut bytes = std::fs::read(pe).unwrap();
    let name: Vec<u8> = key.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let at = bytes
        .windows(name.len())
        .position(|w| w == name.as_slice())
        .unwrap_or_else(|| panic!("{key} not in {}", pe.display()))
        - 6;
    bytes[at..at + 2].copy_from_slice(&length.to_le_bytes());
    std::fs::write(pe, bytes).unwrap();
}

/// The damage that made pelite 0.10 panic in `varco catalog lookup`
/// (issue 12): a string whose length ends right after its odd-length
/// name. Now the strings before the damage still identify the tool, and
/// damage that hides the name is a clear message, never a crash.
#[test]
fn damaged_version_resource_is_judged_on_what_precedes_it_never_a_crash() {
    let s = Scratch::new("pe-damaged");
    let after = build_pe(
        &s.dir,
        "dopo.exe",
        &[
            ("OriginalFilename", "AnyDesk.exe"),
            ("CompanyName", "Test Vendor"),
        ],
    );
    // 30 bytes: header (6) + "CompanyName" and its NUL (24).
    damage_node(&after, "CompanyName", 30);
    let (ok, out, err) = varco(&["catalog", "lookup", after.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(
        out.starts_with("anydesk  matched_by=pe_original_filename"),
        "{out}"
    );

    let build = s.path("b");
    std::fs::create_dir_all(&build).unwrap();
    let before = build_pe(
        &build,
        "prima.exe",
        &[
            ("CompanyName", "Test Vendor"),
            ("OriginalFilename", "AnyDesk.exe"),
        ],
    );
    damage_node(&before, "CompanyName", 30);
    let out = Command::new(varco_bin())
        .args(["catalog", "lookup", before.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("not a known remote-access tool, but:")
            && err.contains("PE version resource is damaged"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// Offset of the certificate table's data directory entry in a PE.
fn security_entry(pe: &[u8]) -> usize {
    let nt = u32::from_le_bytes(pe[0x3c..0x40].try_into().unwrap()) as usize;
    let magic = u16::from_le_bytes(pe[nt + 24..nt + 26].try_into().unwrap());
    nt + 24 + if magic == 0x10b { 96 } else { 112 } + 4 * 8
}

/// Signs `exe` into `out` with a fresh self-made certificate whose CN is
/// `signer` (openssl + osslsigncode, as a vendor's build would).
fn sign(dir: &Path, exe: &Path, signer: &str, out: &Path) {
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    let ok = Command::new(which("openssl"))
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .arg("-subj")
        .arg(format!("/CN={signer}/O={signer}"))
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success(), "openssl failed");
    let ok = Command::new(which("osslsigncode"))
        .args(["sign", "-h", "sha256", "-certs"])
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .arg("-in")
        .arg(exe)
        .arg("-out")
        .arg(out)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success(), "osslsigncode failed");
}

/// Issue 13.4: a signer's name counts only when the signature verifies
/// over the file's own digest. A vendor's signature copied onto another
/// program, or a signed file changed by one byte, is not the vendor's.
#[test]
fn a_signer_counts_only_when_the_signature_verifies_over_the_file() {
    let s = Scratch::new("pe-signed");
    let plain = build_pe(&s.dir, "plain.exe", &[("ProductName", "Test product")]);
    let signed = s.path("firmato.exe");
    sign(&s.dir, &plain, "AnyDesk Software GmbH", &signed);
    let (ok, out, err) = varco(&["catalog", "lookup", signed.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(
        out.starts_with("anydesk  matched_by=signer  (AnyDesk Software GmbH)"),
        "{out}"
    );

    let lookup_refuses = |file: &Path, why: &str| {
        let (ok, out, err) = varco(&["catalog", "lookup", file.to_str().unwrap()]);
        assert!(!ok, "{} counted as signed: {out}", file.display());
        assert!(
            err.contains("naming \"AnyDesk Software GmbH\" does not count") && err.contains(why),
            "{err}"
        );
    };

    // One byte of the program changed after signing.
    let mut bytes = std::fs::read(&signed).unwrap();
    bytes[0x400 + 16] ^= 0xff;
    let changed = s.path("cambiato.exe");
    std::fs::write(&changed, &bytes).unwrap();
    lookup_refuses(&changed, "changed after signing");

    // The certificate table lent to another program.
    let signed_bytes = std::fs::read(&signed).unwrap();
    let entry = security_entry(&signed_bytes);
    let at = u32::from_le_bytes(signed_bytes[entry..entry + 4].try_into().unwrap()) as usize;
    let size = u32::from_le_bytes(signed_bytes[entry + 4..entry + 8].try_into().unwrap()) as usize;
    let other_dir = s.path("altro");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = build_pe(&other_dir, "altro.exe", &[("ProductName", "Another")]);
    let mut lent = std::fs::read(&other).unwrap();
    while !lent.len().is_multiple_of(8) {
        lent.push(0);
    }
    let e = security_entry(&lent);
    let table_at = lent.len() as u32;
    lent[e..e + 4].copy_from_slice(&table_at.to_le_bytes());
    lent[e + 4..e + 8].copy_from_slice(&(size as u32).to_le_bytes());
    lent.extend_from_slice(&signed_bytes[at..at + size]);
    let borrowed = s.path("prestato.exe");
    std::fs::write(&borrowed, &lent).unwrap();
    lookup_refuses(&borrowed, "copied from another file");

    // The signature value itself altered: the digest matches, the
    // signature over it does not.
    let mut forged = signed_bytes.clone();
    let pkcs7 = at + 8;
    let der_len = u16::from_be_bytes([forged[pkcs7 + 2], forged[pkcs7 + 3]]) as usize;
    forged[pkcs7 + 4 + der_len - 1] ^= 0x01;
    let forged_path = s.path("contraffatto.exe");
    std::fs::write(&forged_path, &forged).unwrap();
    lookup_refuses(&forged_path, "does not verify with the signer's public key");
}

/// Issue 12.3's reviewer case against the real daemon: a file judged
/// harmless (and remembered), then rewritten in place with a real tool of
/// the same size and its modification time put back (`touch -r`), is
/// judged again at its next exec and refused. The owner can restore the
/// mtime; the kernel's ctime changes all the same.
#[test]
#[cfg(target_os = "linux")]
fn fanotify_judges_again_a_file_rewritten_in_place_after_it_was_judged() {
    let out = Command::new("id").arg("-u").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "this test needs root (fanotify needs CAP_SYS_ADMIN): run bash tests/run.sh as root"
    );
    let s = Scratch::new("fan-swap");
    let tool = std::fs::read("/usr/bin/x11vnc")
        .expect("x11vnc not found: run bash tests/run.sh, which installs it");
    // The same binary with its content marker spoilt: same size, runs the
    // same, names no tool.
    let mut harmless = tool.clone();
    for marker in x11vnc_markers() {
        let mut found = false;
        for at in 0..tool.len().saturating_sub(marker.len()) {
            if tool[at..at + marker.len()] == marker[..] {
                harmless[at] ^= 0xff;
                found = true;
            }
        }
        assert!(found, "a catalog marker of x11vnc is not in x11vnc");
    }
    let x = s.path("x");
    std::fs::write(&x, &harmless).unwrap();
    std::fs::set_permissions(&x, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = s.write("approved-windows.toml", "");
    let d = Daemon::start(
        &s,
        &["--config", config.to_str().unwrap(), "--source", "fanotify"],
    );
    // Settled (so the verdict is kept), then run twice: harmless.
    std::thread::sleep(Duration::from_millis(1200));
    for _ in 0..2 {
        let status = Command::new(&x)
            .arg("-version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("the harmless file runs");
        assert!(status.code().is_some(), "{status}");
    }
    // Rewritten in place, mtime put back.
    let mtime = std::fs::metadata(&x).unwrap().modified().unwrap();
    let mut f = std::fs::OpenOptions::new().write(true).open(&x).unwrap();
    std::io::Write::write_all(&mut f, &tool).unwrap();
    f.set_modified(mtime).unwrap();
    drop(f);
    assert_eq!(std::fs::metadata(&x).unwrap().modified().unwrap(), mtime);
    let err = Command::new(&x)
        .arg("-version")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect_err("the rewritten file ran");
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    let r = d
        .wait_for(|r| r["event"] == "blocked", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no blocked record: {:?}", d.records()));
    assert_eq!(r["tool"], "x11vnc");
    assert_eq!(r["matched_by"], "content");
}

/// The x11vnc markers of the embedded catalog, as bytes.
#[cfg(target_os = "linux")]
fn x11vnc_markers() -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/catalog/curated.toml"),
    )
    .unwrap();
    let catalog: toml::Value = toml::from_str(&text).unwrap();
    let markers = catalog["tool"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"].as_str() == Some("x11vnc"))
        .and_then(|t| t.get("markers"))
        .and_then(|m| m.as_array())
        .expect("x11vnc has markers in curated.toml")
        .clone();
    markers
        .iter()
        .map(|m| {
            let hex = m.as_str().unwrap();
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect()
        })
        .collect()
}

/// Under fanotify, executing a PE whose version resource is damaged (the
/// kernel asks before it even looks for a loader) is answered from what
/// precedes the damage: refused as the tool it is, the daemon unharmed.
#[test]
#[cfg(target_os = "linux")]
fn fanotify_refuses_a_damaged_pe_of_a_tool_and_keeps_answering() {
    let out = Command::new("id").arg("-u").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "this test needs root (fanotify needs CAP_SYS_ADMIN): run bash tests/run.sh as root"
    );
    let s = Scratch::new("fan-damaged-pe");
    let pe = build_pe(
        &s.dir,
        "preventivo.exe",
        &[
            ("OriginalFilename", "AnyDesk.exe"),
            ("CompanyName", "Test Vendor"),
        ],
    );
    damage_node(&pe, "CompanyName", 30);
    std::fs::set_permissions(&pe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = s.write("approved-windows.toml", "");
    let d = Daemon::start(
        &s,
        &["--config", config.to_str().unwrap(), "--source", "fanotify"],
    );
    let err = Command::new(&pe).spawn().expect_err("the damaged PE ran");
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    let r = d
        .wait_for(|r| r["event"] == "blocked", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no blocked record: {:?}", d.records()));
    assert_eq!(r["tool"], "anydesk");
    // Still answering: an ordinary program runs.
    let ok = Command::new("/bin/true").status().unwrap();
    assert!(ok.success());

    // Damage before the name: not judged a tool (nothing readable names
    // one), so not refused, but recorded for IT.
    let build = s.path("b");
    std::fs::create_dir_all(&build).unwrap();
    let hidden = build_pe(
        &build,
        "prima.exe",
        &[
            ("CompanyName", "Test Vendor"),
            ("OriginalFilename", "AnyDesk.exe"),
        ],
    );
    damage_node(&hidden, "CompanyName", 30);
    std::fs::set_permissions(&hidden, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    match Command::new(&hidden).spawn() {
        // No PE loader registered: the kernel refuses the format itself.
        Err(e) => assert_ne!(e.raw_os_error(), Some(libc::EPERM), "{e}"),
        Ok(mut child) => {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    let r = d
        .wait_for(|r| r["event"] == "identify_error", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no identify_error record: {:?}", d.records()));
    assert_eq!(r["exe"], hidden.to_str().unwrap());
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("PE version resource is damaged"),
        "{r}"
    );
}

/// Property tests (issue 12.4): real files, mutated, never make a parser
/// panic; every answer is a typed value. They run in the normal test
/// command; `fuzz/` holds the open-ended fuzz targets.
mod mutated {
    use std::path::Path;
    use std::sync::LazyLock;

    use proptest::prelude::*;
    use varco::policy::catalog::Catalog;
    use varco::policy::identify::{examine, fuzzing};
    use varco::policy::schedule::parse;

    use super::{build_pe, sign};
    use crate::support::Scratch;

    static CATALOG: LazyLock<Catalog> = LazyLock::new(|| Catalog::embedded().unwrap());

    /// The PEs of these tests: windres-built (version resource), plain
    /// mingw-built, and signed with osslsigncode.
    static PES: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
        let s = Scratch::new("pe-mutated");
        let versioned = build_pe(
            &s.dir,
            "v.exe",
            &[
                ("CompanyName", "Test Vendor"),
                ("OriginalFilename", "AnyDesk.exe"),
                ("ProductName", "Test product"),
            ],
        );
        let plain_dir = s.path("plain");
        std::fs::create_dir_all(&plain_dir).unwrap();
        let plain = build_pe(&plain_dir, "p.exe", &[]);
        let signed = s.path("s.exe");
        sign(&s.dir, &versioned, "AnyDesk Software GmbH", &signed);
        [versioned, plain, signed]
            .iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect()
    });

    /// Where damage matters: the headers, the version resource, the
    /// certificate table (and anywhere, now and then).
    fn regions(pe: &[u8]) -> Vec<(usize, usize)> {
        let mut r = vec![(0, 0x400.min(pe.len())), (0, pe.len())];
        let key: Vec<u8> = "VS_VERSION_INFO"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        if let Some(at) = pe.windows(key.len()).position(|w| w == key.as_slice()) {
            r.push((at - 6, (at + 600).min(pe.len())));
        }
        let entry = super::security_entry(pe);
        let table = u32::from_le_bytes(pe[entry..entry + 4].try_into().unwrap()) as usize;
        if table > 0 && table < pe.len() {
            r.push((table, pe.len()));
        }
        r
    }

    /// One edit: a byte, a 16-bit or a 32-bit little-endian value written
    /// at an offset within a region, or the file cut short.
    #[derive(Debug, Clone)]
    enum Edit {
        Byte(usize, usize, u8),
        Word(usize, usize, u16),
        Dword(usize, usize, u32),
        Cut(usize),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        let word = prop_oneof![
            Just(0u16),
            Just(1),
            Just(6),
            Just(0x7fff),
            Just(0xffff),
            any::<u16>()
        ];
        prop_oneof![
            4 => (any::<usize>(), any::<usize>(), any::<u8>()).prop_map(|(r, o, v)| Edit::Byte(r, o, v)),
            4 => (any::<usize>(), any::<usize>(), word).prop_map(|(r, o, v)| Edit::Word(r, o, v)),
            2 => (any::<usize>(), any::<usize>(), any::<u32>()).prop_map(|(r, o, v)| Edit::Dword(r, o, v)),
            1 => any::<usize>().prop_map(Edit::Cut),
        ]
    }

    fn apply(pe: &[u8], edits: &[Edit]) -> Vec<u8> {
        let regions = regions(pe);
        let mut b = pe.to_vec();
        for e in edits {
            let at = |r: usize, o: usize, width: usize| {
                let (start, end) = regions[r % regions.len()];
                let span = end.saturating_sub(start).saturating_sub(width).max(1);
                start + o % span
            };
            match *e {
                Edit::Byte(r, o, v) => {
                    let i = at(r, o, 1);
                    if i < b.len() {
                        b[i] = v;
                    }
                }
                Edit::Word(r, o, v) => {
                    let i = at(r, o, 2);
                    if i + 2 <= b.len() {
                        b[i..i + 2].copy_from_slice(&v.to_le_bytes());
                    }
                }
                Edit::Dword(r, o, v) => {
                    let i = at(r, o, 4);
                    if i + 4 <= b.len() {
                        b[i..i + 4].copy_from_slice(&v.to_le_bytes());
                    }
                }
                Edit::Cut(n) => b.truncate(n % (b.len() + 1)),
            }
        }
        b
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Mutated real PEs: the evidence and problems come back, no panic,
        /// and the signature check runs to an answer.
        #[test]
        fn mutated_pe_files_get_an_answer(
            which in 0usize..3,
            edits in prop::collection::vec(edit(), 1..6),
        ) {
            let bytes = apply(&PES[which], &edits);
            let examined = examine(&CATALOG, &bytes);
            // Typed: what names the program is text without NULs.
            for v in [&examined.evidence.original_filename, &examined.evidence.product]
                .into_iter()
                .flatten()
            {
                prop_assert!(!v.contains('\0'), "{v:?}");
            }
            let _ = fuzzing::authenticode(&bytes);
        }
    }

    /// The example windows file of the repository.
    fn example() -> String {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("config/approved-windows.example.toml"),
        )
        .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Mutated windows files: a schedule or diagnostics, each
        /// diagnostic pointing inside the text; the decisions a schedule
        /// then makes at extreme instants do not panic either.
        #[test]
        fn mutated_windows_files_get_a_schedule_or_diagnostics(
            edits in prop::collection::vec(
                (any::<usize>(), prop_oneof![
                    Just(String::new()),
                    Just("\"".to_string()),
                    Just("9999".to_string()),
                    Just("-".to_string()),
                    Just("[".to_string()),
                    Just("\n".to_string()),
                    Just("T24:60:61".to_string()),
                    "[ -~]{0,8}",
                ]),
                1..5,
            ),
            cut in any::<bool>(),
        ) {
            let mut text = example();
            for (at, insert) in &edits {
                let mut i = at % (text.len() + 1);
                while !text.is_char_boundary(i) {
                    i -= 1;
                }
                if cut {
                    let end = (i + insert.len() + 1).min(text.len());
                    let mut end = end;
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    text.replace_range(i..end, insert);
                } else {
                    text.insert_str(i, insert);
                }
            }
            match parse(&text, &CATALOG) {
                Ok(schedule) => {
                    for at in [
                        jiff::Timestamp::MIN,
                        jiff::Timestamp::UNIX_EPOCH,
                        jiff::Timestamp::MAX,
                    ] {
                        let _ = schedule.open_for("anydesk", at);
                    }
                }
                Err(diagnostics) => {
                    prop_assert!(!diagnostics.is_empty());
                    let lines = text.lines().count().max(1) + 1;
                    for d in &diagnostics {
                        prop_assert!(d.line >= 1 && d.line <= lines, "{d:?} of {lines}");
                    }
                }
            }
        }
    }
}
