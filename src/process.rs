//! What varco knows about a process when it starts.
//!
//! Every event source (scan, exec events, Windows events) reduces what it
//! saw to these facts, so the decision never depends on where they came
//! from, and tests can build them by hand.

use std::path::PathBuf;

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
    /// Account the process runs as, when resolvable.
    pub user: Option<String>,
}

impl ProcessFacts {
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
    fn candidate_names_prefer_the_executable() {
        let facts = ProcessFacts {
            pid: 1,
            parent_pid: None,
            start_marker: 0,
            name: "comm".into(),
            exe: Some("/opt/x/AnyDesk".into()),
            cmdline: vec!["/tmp/argv0name".into()],
            user: None,
        };
        let names: Vec<_> = facts.candidate_names().collect();
        assert_eq!(names, ["AnyDesk", "argv0name", "comm"]);
    }
}
