//! Forwarding audit events to syslog, for fleets that collect logs
//! centrally: RFC 5424 messages over UDP (RFC 5426), TCP with octet
//! counting (RFC 6587), and the local syslog socket.
//!
//! Each message carries the record's fields as structured data
//! (`[varco@32473 event="blocked" tool="anydesk" …]`) and the JSON line as
//! its text, so a collector that ignores structured data still has
//! everything. 32473 is the enterprise number RFC 5612 reserves for
//! documentation: varco has no number of its own.
//!
//! The formatter is written here rather than taken from a crate: it is a
//! few lines, and the part that matters — a bounded queue per destination,
//! sent in order from its own thread, retried with back-off, counting what
//! it had to drop — is ours in any case. Enforcement never waits on it:
//! the audit thread only pushes to a queue.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::effect::audit::{AuditSink, Event, Record};
use crate::policy::schedule::{LogSettings, Transport};

/// Messages kept per destination while it is unreachable. When full, new
/// messages are dropped (and counted): the first events of an outage —
/// the incident itself — are kept; what goes is the tail, typically a tool
/// restarting in a loop. The audit log file keeps everything.
pub const QUEUE_LIMIT: usize = 1000;

/// The longest wait between two delivery attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Structured-data id: `varco` under the documentation enterprise number.
const SD_ID: &str = "varco@32473";

/// The audit sink: queues every record for every configured destination.
#[derive(Clone, Default)]
pub struct Syslog {
    forwarders: Arc<Mutex<Forwarders>>,
}

/// Changes where [`Syslog`] sends, when the windows file changes.
pub struct Control {
    forwarders: Arc<Mutex<Forwarders>>,
}

#[derive(Default)]
struct Forwarders {
    settings: Option<LogSettings>,
    running: Vec<Forwarder>,
}

impl Syslog {
    /// A sink sending nowhere until [`Control::configure`] says where.
    pub fn new() -> (Syslog, Control) {
        let s = Syslog::default();
        let c = Control {
            forwarders: s.forwarders.clone(),
        };
        (s, c)
    }
}

impl Control {
    /// Sends to the destinations in `settings` from now on. Unchanged
    /// settings keep their queues; a destination that goes away is closed
    /// after it tried to deliver what it held.
    pub fn configure(&self, settings: &LogSettings) {
        let mut f = lock(&self.forwarders);
        if f.settings.as_ref() == Some(settings) {
            return;
        }
        for old in f.running.drain(..) {
            old.close();
        }
        let mut targets = Vec::new();
        if let Some(path) = &settings.local {
            targets.push(Target::Local(path.clone()));
        }
        if let Some(r) = &settings.remote {
            targets.push(Target::Remote {
                transport: r.transport,
                host: r.host.clone(),
                port: r.port,
            });
        }
        for target in targets {
            match Forwarder::start(target, settings.facility) {
                Ok(fw) => f.running.push(fw),
                Err(e) => tracing::error!("cannot start syslog forwarding: {e}"),
            }
        }
        f.settings = Some(settings.clone());
    }
}

impl AuditSink for Syslog {
    fn write(&mut self, record: &Record, line: &str) -> io::Result<()> {
        let f = lock(&self.forwarders);
        if f.running.is_empty() {
            return Ok(());
        }
        let entry = Entry::of(record, line);
        for fw in &f.running {
            fw.push(entry.clone());
        }
        Ok(())
    }

    fn name(&self) -> String {
        "syslog".into()
    }
}

/// A destination.
#[derive(Debug, Clone)]
enum Target {
    Local(PathBuf),
    Remote {
        transport: Transport,
        host: String,
        port: u16,
    },
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Local(p) => write!(f, "{}", p.display()),
            Target::Remote {
                transport,
                host,
                port,
            } => {
                let scheme = match transport {
                    Transport::Udp => "udp",
                    Transport::Tcp => "tcp",
                };
                write!(f, "{scheme}://{host}:{port}")
            }
        }
    }
}

/// One record, ready to be formatted with the drop count of the moment.
#[derive(Debug, Clone)]
struct Entry {
    severity: u8,
    msgid: String,
    time: String,
    params: Vec<(String, String)>,
    json: String,
}

impl Entry {
    fn of(record: &Record, line: &str) -> Entry {
        let params = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(map)) => map
                .into_iter()
                .filter_map(|(k, v)| {
                    let v = match v {
                        Value::Null => return None,
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    Some((k, v))
                })
                .collect(),
            _ => Vec::new(),
        };
        Entry {
            severity: severity(record.event),
            msgid: record.event.as_str().to_string(),
            time: record.time.to_string(),
            params,
            json: line.to_string(),
        }
    }
}

/// RFC 5424 severities: what a log system should page on.
fn severity(event: Event) -> u8 {
    match event {
        // The operator asked for help: page someone now.
        Event::Panic => 1, // alert
        // A stranger reached a tool inside a window.
        Event::UnlistedPeer => 2,                       // critical
        Event::ConfigError | Event::IdentifyError => 3, // error
        Event::Blocked
        | Event::Alerted
        | Event::ClockJump
        | Event::FetchFailed
        | Event::PeerUnverifiable
        | Event::EventsLost => 4, // warning
        Event::Allowed | Event::FetchRecovered | Event::WindowEnding | Event::Resumed => 5, // notice
        Event::Started | Event::Stopped | Event::ConfigReloaded | Event::Exited => 6, // informational
        Event::Notice | Event::Fingerprint | Event::ChainHead => 6, // informational
    }
}

/// Formats one RFC 5424 message.
fn format(entry: &Entry, facility: u8, host: &str, dropped: u64) -> String {
    let pri = u16::from(facility) * 8 + u16::from(entry.severity);
    let mut sd = format!("[{SD_ID}");
    for (k, v) in &entry.params {
        sd.push_str(&format!(" {}=\"{}\"", sd_name(k), sd_escape(v)));
    }
    if dropped > 0 {
        sd.push_str(&format!(" dropped=\"{dropped}\""));
    }
    sd.push(']');
    format!(
        "<{pri}>1 {} {} varco {} {} {sd} \u{feff}{}",
        entry.time,
        header_field(host, 255),
        std::process::id(),
        header_field(&entry.msgid, 32),
        entry.json
    )
}

/// A header field: printable US-ASCII without spaces, bounded, "-" if empty.
fn header_field(s: &str, max: usize) -> String {
    let v: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if v.is_empty() { "-".into() } else { v }
}

/// A structured-data parameter name: at most 32 printable characters
/// without `=`, space, `]` or `"`.
fn sd_name(s: &str) -> String {
    let v: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic() && !matches!(c, '=' | ']' | '"'))
        .take(32)
        .collect();
    if v.is_empty() { "_".into() } else { v }
}

/// A parameter value: `"`, `\` and `]` escaped with a backslash.
fn sd_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

struct Queue {
    entries: VecDeque<Entry>,
    dropped: u64,
    closed: bool,
}

/// One destination: its queue and the thread that empties it in order.
struct Forwarder {
    queue: Arc<(Mutex<Queue>, Condvar)>,
}

impl Forwarder {
    fn start(target: Target, facility: u8) -> io::Result<Forwarder> {
        let queue = Arc::new((
            Mutex::new(Queue {
                entries: VecDeque::new(),
                dropped: 0,
                closed: false,
            }),
            Condvar::new(),
        ));
        let q = queue.clone();
        std::thread::Builder::new()
            .name("varco-syslog".into())
            .spawn(move || send_loop(&target, facility, &q))?;
        Ok(Forwarder { queue })
    }

    fn push(&self, entry: Entry) {
        let (m, cv) = &*self.queue;
        let mut q = lock(m);
        if q.entries.len() >= QUEUE_LIMIT {
            q.dropped += 1;
        } else {
            q.entries.push_back(entry);
        }
        cv.notify_one();
    }

    fn close(self) {
        let (m, cv) = &*self.queue;
        lock(m).closed = true;
        cv.notify_one();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

enum Connection {
    Udp(UdpSocket),
    Tcp(TcpStream),
    #[cfg(unix)]
    Local(std::os::unix::net::UnixDatagram),
}

impl Connection {
    fn open(target: &Target) -> io::Result<Connection> {
        let timeout = Some(Duration::from_secs(5));
        match target {
            #[cfg(unix)]
            Target::Local(path) => {
                let s = std::os::unix::net::UnixDatagram::unbound()?;
                s.connect(path)?;
                s.set_write_timeout(timeout)?;
                Ok(Connection::Local(s))
            }
            #[cfg(not(unix))]
            Target::Local(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "no local syslog socket on this platform",
            )),
            Target::Remote {
                transport,
                host,
                port,
            } => {
                let addr = (host.as_str(), *port)
                    .to_socket_addrs()?
                    .next()
                    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
                match transport {
                    Transport::Udp => {
                        let bind = if addr.is_ipv6() {
                            "[::]:0"
                        } else {
                            "0.0.0.0:0"
                        };
                        let s = UdpSocket::bind(bind)?;
                        s.connect(addr)?;
                        Ok(Connection::Udp(s))
                    }
                    Transport::Tcp => {
                        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
                        s.set_write_timeout(timeout)?;
                        Ok(Connection::Tcp(s))
                    }
                }
            }
        }
    }

    fn send(&mut self, msg: &str) -> io::Result<()> {
        match self {
            Connection::Udp(s) => s.send(msg.as_bytes()).map(|_| ()),
            Connection::Tcp(s) => {
                // A collector that restarted closed our connection; the
                // first write would still "succeed" into the void. Look
                // first, so the message goes on a fresh connection.
                if tcp_closed(s) {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "the collector closed the connection",
                    ));
                }
                s.write_all(format!("{} {msg}", msg.len()).as_bytes())?;
                s.flush()
            }
            #[cfg(unix)]
            Connection::Local(s) => s.send(msg.as_bytes()).map(|_| ()),
        }
    }
}

/// Whether the peer has closed `s` (end of stream or an error pending).
fn tcp_closed(s: &TcpStream) -> bool {
    if s.set_nonblocking(true).is_err() {
        return true;
    }
    let mut b = [0u8; 1];
    let closed = match s.peek(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != io::ErrorKind::WouldBlock,
    };
    closed || s.set_nonblocking(false).is_err()
}

fn send_loop(target: &Target, facility: u8, queue: &(Mutex<Queue>, Condvar)) {
    let (m, cv) = queue;
    let host = sysinfo::System::host_name().unwrap_or_default();
    let mut conn: Option<Connection> = None;
    let mut backoff = Duration::from_millis(200);
    let mut failing = false;
    loop {
        let (entry, dropped) = {
            let mut q = lock(m);
            while q.entries.is_empty() && !q.closed {
                q = cv.wait(q).unwrap_or_else(|e| e.into_inner());
            }
            match q.entries.front() {
                Some(e) => (e.clone(), q.dropped),
                None => return, // closed and empty
            }
        };
        let msg = format(&entry, facility, &host, dropped);
        let sent = match conn.as_mut() {
            Some(c) => c.send(&msg),
            None => Connection::open(target).and_then(|mut c| {
                let r = c.send(&msg);
                conn = Some(c);
                r
            }),
        };
        match sent {
            Ok(()) => {
                let mut q = lock(m);
                q.entries.pop_front();
                q.dropped -= dropped;
                if failing {
                    tracing::info!("syslog {target}: delivering again");
                    failing = false;
                }
                backoff = Duration::from_millis(200);
            }
            Err(e) => {
                conn = None;
                if !failing {
                    tracing::warn!(
                        "syslog {target}: cannot deliver ({e}); retrying, records wait in order (up to {QUEUE_LIMIT})"
                    );
                    failing = true;
                }
                let q = lock(m);
                if q.closed {
                    let lost = q.entries.len() as u64 + q.dropped;
                    tracing::warn!(
                        "syslog {target}: no longer configured; {lost} record(s) not delivered"
                    );
                    return;
                }
                let _ = cv.wait_timeout(q, backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::schedule::Mode;

    #[test]
    fn message_is_rfc5424_with_the_record_fields_escaped() {
        let tz = jiff::tz::TimeZone::get("Europe/Rome").unwrap();
        let mut r = Record::new(
            Event::Blocked,
            "2025-11-26T13:30:00Z".parse().unwrap(),
            &tz,
            Mode::Block,
        );
        r.tool = Some("anydesk".into());
        r.cmdline = Some(r#"AnyDesk --x="a]b\c""#.into());
        let line = serde_json::to_string(&r).unwrap();
        let m = format(&Entry::of(&r, &line), 4, "pc 01", 3);
        assert!(
            m.starts_with("<36>1 2025-11-26T14:30:00.000+01:00 pc01 varco "),
            "{m}"
        );
        assert!(m.contains(" blocked [varco@32473 "), "{m}");
        assert!(m.contains(r#" tool="anydesk""#), "{m}");
        assert!(m.contains(r#" mode="block""#), "{m}");
        assert!(m.contains(r#"cmdline="AnyDesk --x=\"a\]b\\c\"""#), "{m}");
        assert!(m.contains(r#" dropped="3"]"#), "{m}");
        assert!(!m.contains("pid=\""), "null fields are left out: {m}");
        assert!(m.ends_with(&format!("\u{feff}{line}")), "{m}");
    }

    #[test]
    fn a_full_queue_drops_new_records_and_the_next_message_says_how_many() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let fw = Forwarder::start(
            Target::Remote {
                transport: Transport::Tcp,
                host: "127.0.0.1".into(),
                port,
            },
            4,
        )
        .unwrap();
        let tz = jiff::tz::TimeZone::UTC;
        for n in 0..QUEUE_LIMIT + 5 {
            let mut r = Record::new(Event::Blocked, jiff::Timestamp::now(), &tz, Mode::Block);
            r.pid = Some(n as u32);
            let line = serde_json::to_string(&r).unwrap();
            fw.push(Entry::of(&r, &line));
        }
        assert_eq!(lock(&fw.queue.0).dropped, 5);
        // The collector comes up: the first record arrives first, and the
        // messages that follow carry the count of what was dropped. Usually
        // the first says 5; when the sender formatted it before the last
        // drop (a loaded machine), it says 4 and the next one 1: the
        // total is what must not be lost.
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let counted = |got: &str| -> u64 {
            got.split(r#" dropped=""#)
                .skip(1)
                .filter_map(|rest| rest.split('"').next()?.parse::<u64>().ok())
                .sum()
        };
        let mut buf = vec![0u8; 4096];
        let mut got = String::new();
        while !got.contains('{') || counted(&got) < 5 {
            let n = std::io::Read::read(&mut conn, &mut buf).unwrap();
            assert!(n > 0, "connection closed: {got}");
            got.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        // The first message's header and structured data come before its
        // JSON body.
        let first = &got[..got.find('{').unwrap()];
        assert!(first.contains(r#" pid="0""#), "{got}");
        assert_eq!(counted(&got), 5, "{got}");
        fw.close();
    }
}
