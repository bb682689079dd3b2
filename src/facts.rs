//! What varco knows about a process when it starts, and which source saw
//! it.
//!
//! Every event source (scan, exec events, Windows events) reduces what it
//! saw to these facts, so identification and the decision never depend on
//! where they came from, and tests can build them by hand.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A process that has just started (or was already running when varco
/// started), as seen by an event source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessFacts {
    /// Operating-system process id.
    pub pid: u32,
    /// The process that started it, when known; used to stop a whole tree.
    pub parent_pid: Option<u32>,
    /// When the process started, in the platform's own unit. Together with
    /// `pid` it names one process: a kill re-checks it so a reused pid is
    /// never hit.
    pub start_marker: u64,
    /// The short process name the OS reports (may be truncated, e.g. to 15
    /// bytes on Linux).
    pub name: String,
    /// Full path of the executable image, when readable.
    pub exe: Option<PathBuf>,
    /// Command line, first element being argv\[0\].
    pub cmdline: Vec<String>,
    /// The numeric account id (Unix uid) the process runs as, when known.
    /// Kept even when no name resolves (users from a directory), so the
    /// operator's session can still be found and the record still says who.
    pub uid: Option<u32>,
    /// The account's name, when it resolves.
    pub user: Option<String>,
}

impl ProcessFacts {
    /// Facts of a file that is not running (`varco catalog lookup`,
    /// `varco scan`): only its name and path are known.
    pub fn of_file(path: &Path) -> ProcessFacts {
        ProcessFacts {
            pid: 0,
            parent_pid: None,
            start_marker: 0,
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            exe: Some(path.to_path_buf()),
            cmdline: Vec::new(),
            uid: None,
            user: None,
        }
    }

    /// Facts with only a process name, for tests to fill in.
    #[cfg(test)]
    pub(crate) fn test(name: &str) -> ProcessFacts {
        ProcessFacts {
            pid: 42,
            parent_pid: Some(1),
            start_marker: 7,
            name: name.into(),
            exe: None,
            cmdline: Vec::new(),
            uid: Some(1000),
            user: Some("operatore".into()),
        }
    }

    /// The names a tool can be recognised by, most reliable first: the
    /// executable's file name (cannot be faked by argv\[0\] games), then
    /// argv\[0\]'s file name, then the OS process name.
    pub fn candidate_names(&self) -> impl Iterator<Item = &str> {
        let exe_name = self
            .exe
            .as_deref()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str());
        let argv0 = self.cmdline.first().map(|a| file_name_of(a));
        exe_name
            .into_iter()
            .chain(argv0)
            .chain(std::iter::once(self.name.as_str()))
            .filter(|n| !n.is_empty())
    }
}

/// The last component of a path written with `/` or `\` separators, so a
/// Windows path is understood on every platform.
pub fn file_name_of(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// Where a remote tool's executable came from: gathered at the edge
/// (`crate::source::provenance`) from the file's own marks and its place,
/// and handed to the decision as a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    /// The URL it was downloaded from, when the file says (Windows
    /// `Zone.Identifier` `HostUrl`, Linux `user.xdg.origin.url` or GIO's
    /// `metadata::download-uri`).
    pub origin: Option<String>,
    /// The file carries a download mark (Zone.Identifier ZoneId 3 or 4,
    /// or an origin URL).
    pub downloaded: bool,
    /// It sits where users put what they fetch, not where software is
    /// installed.
    pub place: Option<UserPlace>,
}

/// A folder where portable copies run from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserPlace {
    /// Downloads / Scaricati.
    Downloads,
    /// Desktop / Scrivania.
    Desktop,
    /// A temporary folder (/tmp, /var/tmp, /dev/shm, %TEMP%).
    Temporary,
}

impl UserPlace {
    /// The word used in records.
    pub fn as_str(self) -> &'static str {
        match self {
            UserPlace::Downloads => "downloads",
            UserPlace::Desktop => "desktop",
            UserPlace::Temporary => "temporary",
        }
    }

    /// Which user folder `path` lies in, judged by its components (both
    /// separators, any case): Downloads/Scaricati, Desktop/Scrivania, or a
    /// temporary folder.
    pub fn of(path: &str) -> Option<UserPlace> {
        let lower = path.replace('\\', "/").to_lowercase();
        let parts: Vec<&str> = lower.split('/').filter(|p| !p.is_empty()).collect();
        let dir = &parts[..parts.len().saturating_sub(1)];
        if dir.iter().any(|p| matches!(*p, "downloads" | "scaricati")) {
            return Some(UserPlace::Downloads);
        }
        if dir.iter().any(|p| matches!(*p, "desktop" | "scrivania")) {
            return Some(UserPlace::Desktop);
        }
        let temporary = matches!(dir.first(), Some(&"tmp"))
            || dir.starts_with(&["var", "tmp"])
            || dir.starts_with(&["dev", "shm"])
            || dir.iter().any(|p| matches!(*p, "temp" | "tmp"));
        temporary.then_some(UserPlace::Temporary)
    }
}

impl Provenance {
    /// Whether this looks like an installed copy: no download mark and not
    /// in a user folder.
    pub fn is_installed(&self) -> bool {
        !self.downloaded && self.place.is_none()
    }
}

/// The watcher that saw a process start, named in the audit log and by
/// `varco status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// fanotify exec-permission events (Linux): decided before the exec.
    Fanotify,
    /// The netlink process connector (Linux): decided just after the exec.
    ProcConnector,
    /// The periodic process listing (every platform).
    Scan,
    /// WMI process-start events (Windows).
    Wmi,
}

impl SourceKind {
    /// The name used on the command line, in the audit log and in status.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Fanotify => "fanotify",
            SourceKind::ProcConnector => "proc-connector",
            SourceKind::Scan => "scan",
            SourceKind::Wmi => "wmi",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_name_handles_both_separators() {
        assert_eq!(
            file_name_of(r"C:\Program Files\AnyDesk\AnyDesk.exe"),
            "AnyDesk.exe"
        );
        assert_eq!(file_name_of("/usr/bin/x11vnc"), "x11vnc");
        assert_eq!(file_name_of("plain"), "plain");
    }

    #[test]
    fn user_places_are_found_by_folder_on_both_systems() {
        for (path, place) in [
            ("/home/op/Scaricati/AnyDesk", Some(UserPlace::Downloads)),
            ("/home/op/Downloads/x/AnyDesk", Some(UserPlace::Downloads)),
            (r"C:\Users\op\Desktop\AnyDesk.exe", Some(UserPlace::Desktop)),
            ("/home/op/Scrivania/AnyDesk", Some(UserPlace::Desktop)),
            ("/tmp/varco/AnyDesk", Some(UserPlace::Temporary)),
            ("/var/tmp/AnyDesk", Some(UserPlace::Temporary)),
            (
                r"C:\Users\op\AppData\Local\Temp\AnyDesk.exe",
                Some(UserPlace::Temporary),
            ),
            ("/usr/bin/anydesk", None),
            (r"C:\Program Files (x86)\AnyDesk\AnyDesk.exe", None),
            // A file named like a folder is not in it.
            ("/opt/tools/Downloads", None),
        ] {
            assert_eq!(UserPlace::of(path), place, "{path}");
        }
    }

    #[test]
    fn candidate_names_prefer_the_executable() {
        let facts = ProcessFacts {
            pid: 1,
            parent_pid: None,
            start_marker: 0,
            name: "comm".into(),
            exe: Some("/opt/x/AnyDesk".into()),
            cmdline: vec!["/tmp/argv0name".into()],
            uid: None,
            user: None,
        };
        let names: Vec<_> = facts.candidate_names().collect();
        assert_eq!(names, ["AnyDesk", "argv0name", "comm"]);
    }
}
