//! Syslog forwarding against a real rsyslog started by the test on
//! loopback with its own configuration: TCP (octet counting), UDP and a
//! local syslog socket, each message checked for the audit fields in its
//! structured data; and delivery in order after the collector was down.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Daemon, Scratch, exits_within, varco_bin, which};

struct Rsyslog {
    child: Child,
    out: PathBuf,
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// rsyslogd in the foreground, listening on loopback only, writing what
/// it receives (input, MSGID, structured data, text) to `received.log`.
fn rsyslog(s: &Scratch, name: &str, udp: u16, tcp: u16) -> Rsyslog {
    let rsyslogd = which("rsyslogd");
    let dir = s.path(name);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("received.log");
    let conf = format!(
        r#"global(workDirectory="{dir}")
module(load="imudp")
module(load="imtcp")
module(load="imuxsock" SysSock.Use="off")
input(type="imudp" address="127.0.0.1" port="{udp}")
input(type="imtcp" address="127.0.0.1" port="{tcp}")
input(type="imuxsock" Socket="{dir}/log.sock" UseSpecialParser="off" ParseHostname="on")
template(name="fields" type="string" string="%inputname% %syslogfacility-text%.%syslogseverity-text% %msgid% %structured-data% %msg%\n")
*.* action(type="omfile" file="{out}" template="fields")
"#,
        dir = dir.display(),
        out = out.display(),
    );
    let conf_path = dir.join("rsyslog.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = Command::new(rsyslogd)
        .arg("-n")
        .arg("-f")
        .arg(&conf_path)
        .arg("-i")
        .arg(dir.join("rsyslog.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let r = Rsyslog { child, out };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dir.join("log.sock").exists()
        || std::net::TcpStream::connect(("127.0.0.1", tcp)).is_err()
    {
        assert!(
            Instant::now() < deadline,
            "rsyslogd did not start listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    r
}

fn free_tcp() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_udp() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits for a received line matching all `needles`.
fn received(out: &Path, needles: &[&str], timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let text = std::fs::read_to_string(out).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
            return line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "rsyslog received no line with {needles:?}; it received:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn block_a_tool(s: &Scratch, d: &Daemon, name: &str) -> u32 {
    let tool = s.fake_tool(name);
    let mut child = Command::new(&tool).arg("60").spawn().unwrap();
    assert!(
        exits_within(&mut child, Duration::from_secs(3)),
        "{name} not stopped"
    );
    d.wait_for(
        |r| r["event"] == "blocked" && r["pid"] == child.id(),
        Duration::from_secs(8),
    )
    .expect("no blocked record");
    child.id()
}

#[test]
fn audit_events_reach_a_real_rsyslog_over_tcp_udp_and_the_local_socket() {
    let s = Scratch::new("syslog");
    let (udp, tcp) = (free_udp(), free_tcp());
    let r = rsyslog(&s, "rsyslog", udp, tcp);
    let socket = r.out.with_file_name("log.sock");
    let config = s.write(
        "approved-windows.toml",
        &format!(
            "mode = \"block\"\n[log]\nremote = \"tcp://127.0.0.1:{tcp}\"\nlocal = \"{}\"\nfacility = \"local3\"\n",
            socket.display()
        ),
    );
    let mut d = Daemon::start(&s, &["--config", config.to_str().unwrap()]);
    let pid = block_a_tool(&s, &d, "AnyDesk");
    let pid_field = format!("pid=\"{pid}\"");
    let tool_fields = [
        "blocked [varco@32473 ",
        "event=\"blocked\"",
        "tool=\"anydesk\"",
        "tool_name=\"AnyDesk\"",
        "mode=\"block\"",
        "matched_by=\"name\"",
        pid_field.as_str(),
        "exe=\"/tmp/",
        "outcome=\"stopped",
        "\"event\":\"blocked\"",
    ];
    let mut tcp_needles = vec!["imtcp ", " local3.warning blocked "];
    tcp_needles.extend(tool_fields);
    let line = received(&r.out, &tcp_needles, Duration::from_secs(10));
    eprintln!("rsyslog (tcp) received: {line}");
    let mut local_needles = vec!["imuxsock "];
    local_needles.extend(tool_fields);
    received(&r.out, &local_needles, Duration::from_secs(10));
    received(
        &r.out,
        &["imtcp ", "started [varco@32473 ", "version=\""],
        Duration::from_secs(5),
    );
    // The executable's hash follows the decision in a record of its own.
    received(
        &r.out,
        &[
            "imtcp ",
            "fingerprint [varco@32473 ",
            "exe_sha256=\"",
            "about=\"",
        ],
        Duration::from_secs(10),
    );

    // IT switches to UDP: the reload takes effect without a restart.
    std::fs::write(
        &config,
        format!("mode = \"block\"\n[log]\nremote = \"udp://127.0.0.1:{udp}\"\n"),
    )
    .unwrap();
    d.wait_for(|r| r["event"] == "config_reloaded", Duration::from_secs(5))
        .expect("no reload");
    let pid = block_a_tool(&s, &d, "RustDesk");
    let pid_field = format!("pid=\"{pid}\"");
    received(
        &r.out,
        &[
            "imudp ",
            "blocked [varco@32473 ",
            "tool=\"rustdesk\"",
            &pid_field,
        ],
        Duration::from_secs(10),
    );

    // The operator presses the panic button: the collector gets it at
    // alert severity, the highest varco sends, to page someone now.
    let out = Command::new(varco_bin())
        .args(["panic", "--socket"])
        .arg(s.path("control/control.sock"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "varco panic: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    received(
        &r.out,
        &[
            "imudp ",
            " auth.alert panic [varco@32473 ",
            "event=\"panic\"",
        ],
        Duration::from_secs(10),
    );
    d.stop();
}

#[test]
fn records_wait_in_order_while_the_collector_is_down_and_arrive_when_it_is_up() {
    let s = Scratch::new("syslog-down");
    let (udp, tcp) = (free_udp(), free_tcp());
    let config = s.write(
        "approved-windows.toml",
        &format!("mode = \"block\"\n[log]\nremote = \"tcp://127.0.0.1:{tcp}\"\n"),
    );
    // Nothing listens yet: enforcement must not care.
    let mut d = Daemon::start(&s, &["--config", config.to_str().unwrap()]);
    let started = Instant::now();
    let pid = block_a_tool(&s, &d, "AnyDesk");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "blocking waited for the collector"
    );
    std::thread::sleep(Duration::from_secs(1));
    let r = rsyslog(&s, "rsyslog", udp, tcp);
    let pid_field = format!("pid=\"{pid}\"");
    received(
        &r.out,
        &["imtcp ", "blocked [varco@32473 ", &pid_field],
        Duration::from_secs(15),
    );
    let text = std::fs::read_to_string(&r.out).unwrap();
    let started_at = text
        .find("started [varco@32473")
        .expect("`started` not delivered");
    let blocked_at = text.find(&pid_field).unwrap();
    assert!(started_at < blocked_at, "delivered out of order:\n{text}");
    d.stop();
}

#[test]
fn the_chain_head_reaches_rsyslog_and_shows_a_log_cut_short() {
    let s = Scratch::new("syslog-head");
    let (udp, tcp) = (free_udp(), free_tcp());
    let r = rsyslog(&s, "rsyslog", udp, tcp);
    let config = s.write(
        "approved-windows.toml",
        &format!("mode = \"block\"\n[log]\nremote = \"tcp://127.0.0.1:{tcp}\"\n"),
    );
    let mut d = Daemon::start(&s, &["--config", config.to_str().unwrap()]);
    block_a_tool(&s, &d, "AnyDesk");
    // At shutdown the writer sends the head: how many lines, and the hash
    // of the last one (`stopped`).
    d.stop();
    let line = received(
        &r.out,
        &["imtcp ", "chain_head [varco@32473 ", "chain_head=\""],
        Duration::from_secs(10),
    );
    let field = |name: &str| {
        let start = line.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        line[start..].split('"').next().unwrap().to_string()
    };
    let (lines, head) = (
        field("chain_lines").parse::<usize>().unwrap(),
        field("chain_head"),
    );
    let log = std::fs::read_to_string(&d.audit).unwrap();
    let covered = log.lines().nth(lines - 1).unwrap();
    assert!(covered.contains("\"event\":\"stopped\""), "{covered}");
    assert_eq!(
        sha256_hex(covered.as_bytes()),
        head,
        "the head names the log's line {lines}"
    );
    // Whoever cuts the log short (here: the last records) leaves a chain
    // that still holds, but no longer reaches the head the collector has.
    let cut: Vec<&str> = log.lines().take(lines - 1).collect();
    assert!(
        !cut.iter().any(|l| sha256_hex(l.as_bytes()) == head),
        "the cut log still holds the head"
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    let out = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(bytes)?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}
