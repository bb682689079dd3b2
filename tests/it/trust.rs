//! A signed windows file against the real `minisign` (Debian's package):
//! IT signs with the stock tool, and `varco run` refuses whatever IT did
//! not sign — unsigned, signed with another key, changed after signing,
//! older than the file in force (also across a restart), reused serial,
//! expired — always failing closed and saying why.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{Daemon, Scratch, exits_within, open_window, varco_bin, which};

/// A minisign key pair made by the real tool, without a password.
pub struct Key {
    pub public: PathBuf,
    secret: PathBuf,
}

impl Key {
    pub fn new(s: &Scratch, name: &str) -> Key {
        let public = s.path(&format!("{name}.pub"));
        let secret = s.path(&format!("{name}.key"));
        let out = Command::new(which("minisign"))
            .args(["-G", "-W", "-f", "-p"])
            .arg(&public)
            .arg("-s")
            .arg(&secret)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "minisign -G: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Key { public, secret }
    }

    /// `minisign -Sm FILE`, as IT does: writes FILE.minisig.
    pub fn sign(&self, file: &Path) {
        let out = Command::new(which("minisign"))
            .args(["-S", "-W", "-s"])
            .arg(&self.secret)
            .arg("-m")
            .arg(file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "minisign -S: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `FILE.minisig`.
pub fn sig_of(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".minisig");
    PathBuf::from(s)
}

/// A windows file with a window for AnyDesk open now, and `serial`.
pub fn windows_text(serial: u64, id: &str) -> String {
    format!("serial = {serial}\n{}", open_window(id, "\"anydesk\""))
}

fn run_args<'a>(config: &'a str, key: &'a str, state: &'a str) -> Vec<&'a str> {
    vec![
        "--config",
        config,
        "--trusted-key",
        key,
        "--state-dir",
        state,
    ]
}

/// Starts AnyDesk and says what varco recorded for it: the event and
/// the window that admitted it (empty when none).
pub fn verdict(s: &Scratch, d: &Daemon) -> (String, String) {
    let tool = s.fake_tool("AnyDesk");
    let mut child = Command::new(&tool).arg("60").spawn().unwrap();
    let r = d
        .wait_for(|r| r["pid"] == child.id(), Duration::from_secs(4))
        .expect("no record for the tool");
    let _ = child.kill();
    let _ = child.wait();
    (
        r["event"].as_str().unwrap().to_string(),
        r["window"].as_str().unwrap_or("").to_string(),
    )
}

fn anydesk_verdict(s: &Scratch, d: &Daemon) -> String {
    verdict(s, d).0
}

/// `varco run` on `config` under `key`, with its state in `state`.
fn start_signed(s: &Scratch, config: &Path, key: &Key, state: &Path) -> Daemon {
    Daemon::start(
        s,
        &run_args(
            config.to_str().unwrap(),
            key.public.to_str().unwrap(),
            state.to_str().unwrap(),
        ),
    )
}

fn config_error(d: &Daemon) -> String {
    d.wait_for(|r| r["event"] == "config_error", Duration::from_secs(4))
        .map(|r| r["reason"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no config_error: {:?}", d.records()))
}

/// Stops the daemon and empties the log for the next run.
fn restart(s: &Scratch, d: &mut Daemon) {
    d.stop();
    std::fs::remove_file(s.path("audit.jsonl")).unwrap();
}

#[test]
fn only_a_file_signed_with_the_trusted_key_opens_a_window() {
    let s = Scratch::new("signed");
    let it = Key::new(&s, "it");
    let other = Key::new(&s, "other");
    let config = s.write("approved-windows.toml", &windows_text(1, "INC-S1"));
    let state = s.path("state");
    let (c, k, st) = (
        config.to_str().unwrap(),
        it.public.to_str().unwrap(),
        state.to_str().unwrap(),
    );

    // Unsigned: refused at start, no window.
    let mut d = Daemon::start(&s, &run_args(c, k, st));
    let why = config_error(&d);
    assert!(why.contains("it is not signed"), "{why}");
    assert!(why.contains("minisign -Sm approved-windows.toml"), "{why}");
    assert_eq!(anydesk_verdict(&s, &d), "blocked");
    restart(&s, &mut d);

    // Signed with another key.
    other.sign(&config);
    let mut d = Daemon::start(&s, &run_args(c, k, st));
    let why = config_error(&d);
    assert!(why.contains("signed with another key"), "{why}");
    assert_eq!(anydesk_verdict(&s, &d), "blocked");
    restart(&s, &mut d);

    // Changed after IT signed it: a window for every tool slipped in.
    it.sign(&config);
    std::fs::write(
        &config,
        windows_text(1, "INC-S1").replace("\"anydesk\"", "\"*\""),
    )
    .unwrap();
    let mut d = Daemon::start(&s, &run_args(c, k, st));
    let why = config_error(&d);
    assert!(why.contains("does not match its content"), "{why}");
    assert_eq!(anydesk_verdict(&s, &d), "blocked");
    restart(&s, &mut d);

    // Signed by IT: the window opens.
    std::fs::write(&config, windows_text(1, "INC-S1")).unwrap();
    it.sign(&config);
    let d = Daemon::start(&s, &run_args(c, k, st));
    assert_eq!(anydesk_verdict(&s, &d), "allowed");
    assert!(
        !d.records().iter().any(|r| r["event"] == "config_error"),
        "{:?}",
        d.records()
    );
}

#[test]
fn an_older_or_reused_serial_is_refused_even_after_a_restart() {
    let s = Scratch::new("rollback");
    let it = Key::new(&s, "it");
    let config = s.path("approved-windows.toml");
    let state = s.path("state");
    let (c, k, st) = (
        config.to_str().unwrap(),
        it.public.to_str().unwrap(),
        state.to_str().unwrap(),
    );
    // IT's old file (serial 1, a window), kept by someone.
    std::fs::write(&config, windows_text(1, "OLD")).unwrap();
    it.sign(&config);
    let old = std::fs::read(&config).unwrap();
    let old_sig = std::fs::read(sig_of(&config)).unwrap();

    // IT withdraws the window: serial 2, no window.
    let new = "serial = 2\nmode = \"block\"\n";
    std::fs::write(&config, new).unwrap();
    it.sign(&config);
    let mut d = Daemon::start(&s, &run_args(c, k, st));
    assert_eq!(anydesk_verdict(&s, &d), "blocked");
    let kept = std::fs::read_to_string(state.join("windows-serial.json")).unwrap();
    assert!(kept.contains("\"serial\":2"), "{kept}");
    restart(&s, &mut d);

    // The old signed file put back, and varco restarted: refused.
    std::fs::write(&config, &old).unwrap();
    std::fs::write(sig_of(&config), &old_sig).unwrap();
    let mut d = Daemon::start(&s, &run_args(c, k, st));
    let why = config_error(&d);
    assert!(
        why.contains("older than the file in force: serial 1, but serial 2 was already accepted"),
        "{why}"
    );
    assert_eq!(anydesk_verdict(&s, &d), "blocked");
    restart(&s, &mut d);

    // Serial 2 again, signed, but with a window: one serial, one file.
    std::fs::write(&config, windows_text(2, "SAME-SERIAL")).unwrap();
    it.sign(&config);
    let d = Daemon::start(&s, &run_args(c, k, st));
    let why = config_error(&d);
    assert!(
        why.contains("serial 2 was already accepted with different content"),
        "{why}"
    );
    assert_eq!(anydesk_verdict(&s, &d), "blocked");
}

#[test]
fn a_bad_signature_while_running_keeps_the_last_good_file() {
    let s = Scratch::new("signed-reload");
    let it = Key::new(&s, "it");
    let config = s.write("approved-windows.toml", &windows_text(1, "INC-R1"));
    it.sign(&config);
    let state = s.path("state");
    let d = start_signed(&s, &config, &it, &state);
    // An edit nobody signed: refused, and the signed file stays.
    std::fs::write(&config, windows_text(2, "INC-R2")).unwrap();
    let why = config_error(&d);
    assert!(why.contains("does not match its content"), "{why}");
    assert!(
        why.contains("the last valid windows file stays in force"),
        "{why}"
    );
    let tool = s.fake_tool("AnyDesk");
    let mut child = Command::new(&tool).arg("60").spawn().unwrap();
    let r = d
        .wait_for(|r| r["pid"] == child.id(), Duration::from_secs(4))
        .unwrap();
    assert_eq!(
        (r["event"].as_str(), r["window"].as_str()),
        (Some("allowed"), Some("INC-R1"))
    );
    // IT signs it: now it is in force.
    it.sign(&config);
    d.wait_for(|r| r["event"] == "config_reloaded", Duration::from_secs(4))
        .expect("the signed edit was not put in force");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn expiry_closes_the_windows_while_running_and_stops_what_they_admitted() {
    let s = Scratch::new("expiry");
    let it = Key::new(&s, "it");
    let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3);
    let text = format!(
        "expires = {}\n{}",
        expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        windows_text(1, "INC-E1")
    );
    let config = s.write("approved-windows.toml", &text);
    it.sign(&config);
    let state = s.path("state");
    let d = start_signed(&s, &config, &it, &state);
    let tool = s.fake_tool("AnyDesk");
    let mut child = Command::new(&tool).arg("60").spawn().unwrap();
    let r = d
        .wait_for(|r| r["pid"] == child.id(), Duration::from_secs(3))
        .unwrap();
    assert_eq!(r["event"], "allowed", "{r}");
    let why = d
        .wait_for(|r| r["event"] == "config_error", Duration::from_secs(8))
        .expect("expiry was not recorded")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(why.contains("expired at"), "{why}");
    assert!(
        exits_within(&mut child, Duration::from_secs(4)),
        "the tool outlived the expired file"
    );
    let r = d
        .wait_for(
            |r| r["event"] == "blocked" && r["pid"] == child.id(),
            Duration::from_secs(2),
        )
        .unwrap();
    assert!(r["reason"].as_str().unwrap().contains("INC-E1"), "{r}");
}

#[test]
fn an_unsigned_catalog_extension_is_refused_under_a_key() {
    let s = Scratch::new("signed-catalog");
    let it = Key::new(&s, "it");
    // IT's in-house tool, and a window for it; the extension unsigned.
    s.write(
        "catalog.toml",
        "[[tool]]\nid = \"gestionale\"\nname = \"Gestionale\"\nexecutables = [\"gestionale-remoto\"]\n",
    );
    let config = s.write(
        "approved-windows.toml",
        &format!("serial = 1\n{}", open_window("G-1", "\"gestionale\"")),
    );
    it.sign(&config);
    let state = s.path("state");
    let d = start_signed(&s, &config, &it, &state);
    let errors: Vec<String> = (0..40)
        .find_map(|_| {
            let e: Vec<String> = d
                .records()
                .iter()
                .filter(|r| r["event"] == "config_error")
                .map(|r| r["reason"].as_str().unwrap().to_string())
                .collect();
            if e.len() >= 2 {
                return Some(e);
            }
            std::thread::sleep(Duration::from_millis(100));
            None
        })
        .unwrap_or_else(|| panic!("{:?}", d.records()));
    assert!(
        errors[0].contains("catalog.toml: refused: it is not signed"),
        "{errors:?}"
    );
    // Without the extension its tool id is unknown: the window stays shut.
    assert!(
        errors[1].contains("unknown tool \"gestionale\""),
        "{errors:?}"
    );
}

#[test]
fn a_trusted_key_others_can_change_is_refused_by_the_root_daemon() {
    let s = Scratch::new("key-owner");
    let it = Key::new(&s, "it");
    let config = s.write("approved-windows.toml", &windows_text(1, "INC-K1"));
    it.sign(&config);
    // Whoever owns the key file could swap in their own key.
    let chown = Command::new("chown")
        .arg("65534")
        .arg(&it.public)
        .status()
        .unwrap();
    assert!(chown.success());
    let state = s.path("state");
    let d = start_signed(&s, &config, &it, &state);
    let why = config_error(&d);
    assert!(
        why.contains("the trusted key cannot be used: not trusted") && why.contains("uid 65534"),
        "{why}"
    );
    assert_eq!(anydesk_verdict(&s, &d), "blocked");
}

#[test]
fn check_verifies_the_signature_and_names_the_key() {
    let s = Scratch::new("check-signed");
    let it = Key::new(&s, "it");
    let config = s.write("approved-windows.toml", &windows_text(3, "INC-C1"));
    let check = |file: &Path| {
        Command::new(varco_bin())
            .arg("check")
            .arg(file)
            .arg("--trusted-key")
            .arg(&it.public)
            .output()
            .unwrap()
    };
    let out = check(&config);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused: it is not signed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    it.sign(&config);
    let out = check(&config);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // minisign's comment writes the key id without leading zeros (one key
    // in sixteen starts with one), varco writes all 16 digits: the same
    // number.
    let key_id = std::fs::read_to_string(&it.public).unwrap();
    let key_id = key_id.lines().next().unwrap().rsplit(' ').next().unwrap();
    let key_id = u64::from_str_radix(key_id, 16).unwrap();
    assert!(
        stdout.contains(&format!("OK — signed with key id {key_id:016X}, serial 3;")),
        "{stdout}"
    );
}
