//! The windows file from IT's server: a real nginx (Debian's), started by
//! the test on loopback with its own configuration, serving a file signed
//! with the real `minisign`. Checked: windows from the server, an edit
//! picked up within the refresh, the server going away (the last good
//! copy stays, one record), a restart while it is away (the kept copy),
//! its return (a record), and every bad file it could serve refused;
//! conditional requests answered 304; HTTPS with IT's own CA.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Daemon, Scratch, varco_bin, which};
use crate::trust::{Key, sig_of, verdict, windows_text};

/// nginx in the foreground, one process, everything in its folder.
struct Nginx {
    child: Option<Child>,
    dir: PathBuf,
    port: u16,
    tls: bool,
}

impl Nginx {
    /// Serves `dir/www` on 127.0.0.1:`port` (HTTPS with `dir/cert.pem`
    /// when `tls`).
    fn start(dir: &Path, port: u16, tls: bool) -> Nginx {
        let www = dir.join("www");
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        std::fs::create_dir_all(&www).unwrap();
        let d = dir.display();
        let listen = if tls {
            format!(
                "listen 127.0.0.1:{port} ssl; ssl_certificate {d}/cert.pem; ssl_certificate_key {d}/key.pem;"
            )
        } else {
            format!("listen 127.0.0.1:{port};")
        };
        let conf = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{ worker_connections 64; }}\nhttp {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp; uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;\n  default_type text/plain;\n  server {{ {listen} root {}; }}\n}}\n",
            www.display()
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(which("nginx"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not listen: {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx {
            child: Some(child),
            dir: dir.to_path_buf(),
            port,
            tls,
        }
    }

    fn www(&self, name: &str) -> PathBuf {
        self.dir.join("www").join(name)
    }

    fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}/approved-windows.toml", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Puts something on the server.
type Serve<'a> = Box<dyn Fn() + 'a>;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Publishes `text` on the server, signed by `key`, as IT would (file,
/// then `minisign -Sm`). A second apart from the last publication: the
/// server's validators (ETag, Last-Modified) count whole seconds, and
/// varco asks without them only now and then.
fn publish(n: &Nginx, key: &Key, text: &str) {
    std::thread::sleep(Duration::from_millis(1100));
    let file = n.www("approved-windows.toml");
    std::fs::write(&file, text).unwrap();
    key.sign(&file);
}

/// Waits for a `config_error` after the first `before` ones whose reason
/// says `reason` (a publication is two writes, so a transient refusal
/// of the half-written pair may come first).
fn refused(d: &Daemon, before: usize, reason: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let found = d
            .records()
            .iter()
            .filter(|r| r["event"] == "config_error")
            .skip(before)
            .map(|r| r["reason"].as_str().unwrap_or("").to_string())
            .find(|r| r.contains(reason));
        if let Some(r) = found {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "no config_error saying «{reason}»: {:#?}",
            d.records()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn count(d: &Daemon, event: &str) -> usize {
    d.records().iter().filter(|r| r["event"] == event).count()
}

/// Waits for the `n`-th record of `event` and returns its reason.
fn nth(d: &Daemon, event: &str, n: usize, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let found: Vec<String> = d
            .records()
            .iter()
            .filter(|r| r["event"] == event)
            .map(|r| r["reason"].as_str().unwrap_or("").to_string())
            .collect();
        if found.len() >= n {
            return found[n - 1].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {event} #{n}: {:#?}",
            d.records()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn windows_come_from_the_server_and_survive_it_going_away() {
    let s = Scratch::new("fetch");
    let it = Key::new(&s, "it");
    let other = Key::new(&s, "other");
    let mut n = Nginx::start(&s.path("nginx"), free_port(), false);
    publish(&n, &it, &windows_text(1, "SRV-1"));
    let url = n.url();
    let state = s.path("state");
    let args = [
        "--config",
        url.as_str(),
        "--trusted-key",
        it.public.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--refresh",
        "1",
    ];

    // From the server at start.
    let mut d = Daemon::start(&s, &args);
    let r = d
        .wait_for(|r| r["event"] == "config_reloaded", Duration::from_secs(5))
        .expect("the server's file was not put in force");
    assert_eq!(r["config"], url.as_str(), "{r}");
    assert_eq!(verdict(&s, &d), ("allowed".into(), "SRV-1".into()));

    // IT edits and re-signs: in force within the refresh.
    publish(&n, &it, &windows_text(2, "SRV-2"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while count(&d, "config_reloaded") < 2 {
        assert!(
            Instant::now() < deadline,
            "the edit was not fetched; nginx's log:\n{}\nrecords: {:#?}",
            n.access_log(),
            d.records()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(verdict(&s, &d), ("allowed".into(), "SRV-2".into()));

    // Unchanged files are asked for with conditions: nginx answers 304.
    std::thread::sleep(Duration::from_millis(2500));
    let log = n.access_log();
    for path in ["/approved-windows.toml ", "/approved-windows.toml.minisig "] {
        assert!(
            log.lines()
                .any(|l| l.contains(&format!("GET {path}")) && l.contains("\" 304 ")),
            "no 304 for {path}:\n{log}"
        );
    }

    // The server goes away: the last good file stays, one record.
    n.stop();
    let why = nth(&d, "fetch_failed", 1, Duration::from_secs(5));
    assert!(why.contains("the last good copy stays in force"), "{why}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(count(&d, "fetch_failed"), 1, "one record per outage");
    assert_eq!(verdict(&s, &d), ("allowed".into(), "SRV-2".into()));

    // Restarted while the server is away: the kept copy is in force.
    d.stop();
    std::fs::remove_file(s.path("audit.jsonl")).unwrap();
    let d = Daemon::start(&s, &args);
    assert_eq!(verdict(&s, &d), ("allowed".into(), "SRV-2".into()));
    let why = nth(&d, "fetch_failed", 1, Duration::from_secs(5));
    assert!(why.contains("the last good copy stays in force"), "{why}");
    assert_eq!(count(&d, "config_error"), 0, "{:#?}", d.records());

    // The server is back: recorded once.
    let n = Nginx::start(&s.path("nginx"), n.port, false);
    let back = nth(&d, "fetch_recovered", 1, Duration::from_secs(5));
    assert!(back.contains("answers again"), "{back}");

    // Everything a server (or whoever answers for it) could serve that IT
    // did not sign as the newest file is refused; the last good stays.
    let served = n.www("approved-windows.toml");
    let refusals: [(&str, Serve); 4] = [
        (
            "older than the file in force: serial 1",
            Box::new(|| publish(&n, &it, &windows_text(1, "OLD"))),
        ),
        (
            "it is not signed",
            Box::new(|| {
                std::thread::sleep(Duration::from_millis(1100));
                std::fs::remove_file(sig_of(&served)).unwrap();
                std::fs::write(&served, windows_text(3, "UNSIGNED")).unwrap();
            }),
        ),
        (
            "signed with another key",
            Box::new(|| publish(&n, &other, &windows_text(4, "FOREIGN"))),
        ),
        (
            "does not match its content",
            Box::new(|| {
                // IT's signature of one file, served with another.
                let signed = s.write("signed.toml", &windows_text(5, "SIGNED"));
                it.sign(&signed);
                std::thread::sleep(Duration::from_millis(1100));
                std::fs::copy(sig_of(&signed), sig_of(&served)).unwrap();
                std::fs::write(
                    &served,
                    windows_text(5, "SIGNED").replace("\"anydesk\"", "\"*\""),
                )
                .unwrap();
            }),
        ),
    ];
    for (reason, serve) in &refusals {
        let before = count(&d, "config_error");
        serve();
        refused(&d, before, reason);
        assert_eq!(verdict(&s, &d), ("allowed".into(), "SRV-2".into()));
    }

    // An expired file, signed and newer: no window at all.
    let expired = format!(
        "expires = 2020-01-01T00:00:00Z\n{}",
        windows_text(6, "EXPIRED")
    );
    let before = count(&d, "config_error");
    publish(&n, &it, &expired);
    refused(&d, before, "expired at");
    assert_eq!(verdict(&s, &d).0, "blocked");
    assert_eq!(count(&d, "fetch_recovered"), 1);
}

#[test]
fn a_remote_file_without_a_trusted_key_is_refused_at_start() {
    let s = Scratch::new("fetch-nokey");
    let out = Command::new(varco_bin())
        .args([
            "run",
            "--config",
            "http://127.0.0.1:9/approved-windows.toml",
            "--source",
            "scan",
            "--audit-log",
        ])
        .arg(s.path("audit.jsonl"))
        .arg("--state-dir")
        .arg(s.path("state"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("a windows file from a server needs IT's public key: pass --trusted-key"),
        "{err}"
    );
}

#[test]
fn https_with_its_own_ca_is_fetched_and_without_it_is_refused() {
    let s = Scratch::new("fetch-tls");
    let it = Key::new(&s, "it");
    let dir = s.path("nginx");
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(which("openssl"))
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n = Nginx::start(&dir, free_port(), true);
    publish(&n, &it, &windows_text(1, "TLS-1"));
    let url = n.url();
    let key = it.public.to_str().unwrap().to_string();

    // Without IT's CA: the built-in roots do not know this server.
    let state = s.path("state-roots");
    let mut d = Daemon::start(
        &s,
        &[
            "--config",
            &url,
            "--trusted-key",
            &key,
            "--state-dir",
            state.to_str().unwrap(),
        ],
    );
    let why = nth(&d, "fetch_failed", 1, Duration::from_secs(5));
    assert!(why.contains("no copy yet: no window is open"), "{why}");
    assert!(why.to_lowercase().contains("certificate"), "{why}");
    assert_eq!(verdict(&s, &d).0, "blocked");
    d.stop();
    std::fs::remove_file(s.path("audit.jsonl")).unwrap();

    // With it.
    let state = s.path("state-ca");
    let ca = dir.join("cert.pem");
    let d = Daemon::start(
        &s,
        &[
            "--config",
            &url,
            "--trusted-key",
            &key,
            "--state-dir",
            state.to_str().unwrap(),
            "--ca-cert",
            ca.to_str().unwrap(),
        ],
    );
    d.wait_for(|r| r["event"] == "config_reloaded", Duration::from_secs(5))
        .expect("not fetched over HTTPS with IT's CA");
    assert_eq!(verdict(&s, &d), ("allowed".into(), "TLS-1".into()));
}
