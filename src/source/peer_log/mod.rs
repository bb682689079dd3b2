//! Who connects to a remote tool a window admitted, read from the tool's
//! own log as it is written (AnyDesk, TeamViewer), so a window can admit
//! only the contractor's installations (`peers`).
//!
//! [`parse`] reads one line (pure); [`follow`] follows one file; the
//! [`Watcher`] here runs on a thread of its own — files are polled every
//! quarter second and a slow disk never holds the daemon's loop — and
//! reports each peer seen, or that no log can be read, on a channel.
//!
//! Where the logs are (each candidate that exists is followed):
//! - AnyDesk: the tool's user's `~/.anydesk/ad.trace` (Linux; `$HOME` from
//!   the process's own environment, and the account's home), the service's
//!   `/var/log/anydesk*.trace`; on Windows `%ProgramData%\AnyDesk\ad_svc.trace`
//!   and every profile's `AppData\Roaming\AnyDesk\ad.trace`; and `ad.trace`
//!   next to a portable copy.
//! - TeamViewer: `TeamViewer*_Logfile.log` in `/var/log/teamviewer*/`,
//!   `/opt/teamviewer/logfiles/` and the user's
//!   `~/.local/share/teamviewer*/logfiles/`; on Windows in the installation
//!   folder (Program Files) and `AppData\Roaming\TeamViewer`; and next to
//!   the executable.

pub mod follow;
pub mod parse;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use follow::Follower;
pub use parse::{LogKind, PeerSeen};

use crate::facts::ProcessFacts;

/// How often the followed files are looked at.
pub const POLL: Duration = Duration::from_millis(250);

/// How long after a tool is admitted its log may take to appear before
/// the peers are declared unverifiable.
pub const GRACE: Duration = Duration::from_secs(5);

/// A tool process to watch.
#[derive(Debug, Clone)]
pub struct Watch {
    /// The process (pid and start marker name it).
    pub pid: u32,
    /// Its start marker.
    pub marker: u64,
    /// Which log format.
    pub kind: LogKind,
    /// Where its log may be.
    pub places: Vec<Place>,
}

/// A file name pattern in a folder: `prefix*suffix`, or an exact name
/// when there is no `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The folder.
    pub dir: PathBuf,
    /// The name, possibly with one `*`.
    pub name: String,
}

impl Place {
    fn new(dir: impl Into<PathBuf>, name: &str) -> Place {
        Place {
            dir: dir.into(),
            name: name.to_string(),
        }
    }

    /// The files matching now.
    fn files(&self) -> Vec<PathBuf> {
        match self.name.split_once('*') {
            None => {
                let p = self.dir.join(&self.name);
                if p.is_file() { vec![p] } else { Vec::new() }
            }
            Some((prefix, suffix)) => std::fs::read_dir(&self.dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| {
                    e.file_name()
                        .to_str()
                        .is_some_and(|n| n.starts_with(prefix) && n.ends_with(suffix))
                })
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect(),
        }
    }
}

/// What the watcher reports.
#[derive(Debug, Clone)]
pub enum Report {
    /// A peer connected (or asked to).
    Seen {
        /// The tool's pid.
        pid: u32,
        /// Its start marker.
        marker: u64,
        /// Who.
        peer: PeerSeen,
        /// The log that said so.
        log: PathBuf,
    },
    /// No log of this tool could be read within [`GRACE`].
    NoLog {
        /// The tool's pid.
        pid: u32,
        /// Its start marker.
        marker: u64,
        /// Where varco looked.
        looked: String,
    },
}

/// Where the logs of `facts`'s tool of `kind` may be.
pub fn places(kind: LogKind, facts: &ProcessFacts) -> Vec<Place> {
    let mut homes: Vec<PathBuf> = Vec::new();
    #[cfg(target_os = "linux")]
    {
        if let Some(h) = super::procfs::environ_home(facts.pid) {
            homes.push(h);
        }
        if let Some(uid) = facts.uid
            && let Some(h) = account_home(uid)
            && !homes.contains(&h)
        {
            homes.push(h);
        }
    }
    #[cfg(windows)]
    {
        if let Ok(users) = std::fs::read_dir(r"C:\Users") {
            homes.extend(users.flatten().map(|e| e.path()));
        }
    }
    let exe_dir = facts.exe.as_deref().and_then(Path::parent);
    let mut out = Vec::new();
    match kind {
        LogKind::AnyDesk => {
            for h in &homes {
                if cfg!(windows) {
                    out.push(Place::new(h.join(r"AppData\Roaming\AnyDesk"), "ad.trace"));
                } else {
                    out.push(Place::new(h.join(".anydesk"), "ad.trace"));
                }
            }
            if cfg!(windows) {
                if let Some(pd) = std::env::var_os("ProgramData") {
                    out.push(Place::new(
                        PathBuf::from(pd).join("AnyDesk"),
                        "ad_svc.trace",
                    ));
                }
            } else {
                out.push(Place::new("/var/log", "anydesk*.trace"));
            }
            if let Some(d) = exe_dir {
                out.push(Place::new(d, "ad.trace"));
            }
        }
        LogKind::TeamViewer => {
            let name = "TeamViewer*_Logfile.log";
            if cfg!(windows) {
                for pf in ["ProgramFiles", "ProgramFiles(x86)"] {
                    if let Some(d) = std::env::var_os(pf) {
                        out.push(Place::new(PathBuf::from(d).join("TeamViewer"), name));
                    }
                }
                for h in &homes {
                    out.push(Place::new(h.join(r"AppData\Roaming\TeamViewer"), name));
                }
            } else {
                for base in ["/var/log", "/opt/teamviewer"] {
                    for d in subdirs(Path::new(base), "teamviewer") {
                        out.push(Place::new(d.clone(), name));
                        out.push(Place::new(d.join("logfiles"), name));
                    }
                }
                out.push(Place::new("/opt/teamviewer/logfiles", name));
                for h in &homes {
                    for d in subdirs(&h.join(".local/share"), "teamviewer") {
                        out.push(Place::new(d.join("logfiles"), name));
                    }
                }
            }
            if let Some(d) = exe_dir {
                out.push(Place::new(d, name));
            }
        }
    }
    out
}

/// Folders in `dir` whose name starts with `prefix`.
fn subdirs(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.to_lowercase().starts_with(prefix))
        })
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect()
}

/// The home folder of account `uid`, from `/etc/passwd`.
#[cfg(target_os = "linux")]
fn account_home(uid: u32) -> Option<PathBuf> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        let home = f.get(5)?;
        (f.get(2)?.parse::<u32>().ok()? == uid).then(|| PathBuf::from(home))
    })
}

/// The watcher's side of the channel the daemon gives it tools on.
pub struct Watcher {
    watches: Vec<Watched>,
}

struct Watched {
    watch: Watch,
    since: Instant,
    followers: Vec<Follower>,
    reported_none: bool,
}

impl Watcher {
    /// Starts the watcher thread: tools come in on `requests`, reports go
    /// out on `reports`. Ends when either side is gone.
    pub fn spawn(
        requests: std::sync::mpsc::Receiver<Watch>,
        reports: tokio::sync::mpsc::Sender<Report>,
    ) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name("varco-peers".into())
            .spawn(move || {
                let mut w = Watcher {
                    watches: Vec::new(),
                };
                loop {
                    match requests.recv_timeout(POLL) {
                        Ok(watch) => w.add(watch),
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                    for report in w.look() {
                        if reports.blocking_send(report).is_err() {
                            return;
                        }
                    }
                }
            })
            .map(|_| ())
    }

    fn add(&mut self, watch: Watch) {
        // What is in a log already happened before this run: follow from
        // the end.
        let followers = watch
            .places
            .iter()
            .flat_map(Place::files)
            .filter_map(|p| Follower::new(&p, true).ok())
            .collect();
        self.watches.push(Watched {
            watch,
            since: Instant::now(),
            followers,
            reported_none: false,
        });
    }

    /// One look at every followed file.
    fn look(&mut self) -> Vec<Report> {
        let mut out = Vec::new();
        self.watches
            .retain(|w| crate::sys::start_marker(w.watch.pid) == Some(w.watch.marker));
        for w in &mut self.watches {
            // A log that appeared since: followed from its start.
            for p in w.watch.places.iter().flat_map(Place::files) {
                if !w.followers.iter().any(|f| f.path() == p)
                    && let Ok(f) = Follower::new(&p, false)
                {
                    w.followers.push(f);
                }
            }
            for f in &mut w.followers {
                let Ok(lines) = f.poll() else { continue };
                for line in lines {
                    if let Some(peer) = parse::parse_line(w.watch.kind, &line) {
                        out.push(Report::Seen {
                            pid: w.watch.pid,
                            marker: w.watch.marker,
                            peer,
                            log: f.path().to_path_buf(),
                        });
                    }
                }
            }
            if w.followers.is_empty() && !w.reported_none && w.since.elapsed() >= GRACE {
                w.reported_none = true;
                let looked: Vec<String> = w
                    .watch
                    .places
                    .iter()
                    .map(|p| p.dir.join(&p.name).display().to_string())
                    .collect();
                out.push(Report::NoLog {
                    pid: w.watch.pid,
                    marker: w.watch.marker,
                    looked: looked.join(", "),
                });
            }
        }
        out
    }
}
