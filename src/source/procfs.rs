//! Facts about a live process, read from `/proc` (Linux event sources).
//!
//! Event sources learn only a pid from the kernel; this is where the pid
//! becomes [`ProcessFacts`]. Reading is split in two so a source can stop
//! early: the cheap names first (enough to know whether the catalog cares),
//! the rest only for the few processes it does.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use crate::facts::{ProcessFacts, file_name_of};
use crate::sys;

/// What identification needs: the executable, the command line and the
/// kernel's short name. `None` when the process already exited.
pub fn names_of(pid: u32) -> Option<ProcessFacts> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()?
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim_end().to_string())
        .unwrap_or_default();
    Some(ProcessFacts {
        pid,
        parent_pid: None,
        start_marker: 0,
        name,
        exe,
        cmdline,
        uid: None,
        user: None,
    })
}

/// Facts for an exec that has not happened yet (fanotify): the file about
/// to run is known, its command line is not.
pub fn pending_exec(pid: u32, exe: PathBuf) -> ProcessFacts {
    let name = exe
        .to_str()
        .map(|p| file_name_of(p).to_string())
        .unwrap_or_default();
    ProcessFacts {
        pid,
        parent_pid: None,
        start_marker: 0,
        name,
        exe: Some(exe),
        cmdline: Vec::new(),
        uid: None,
        user: None,
    }
}

/// Adds the parent, start marker and owner: what enforcement and the
/// audit record need. Returns false when the process is gone.
///
/// The owner's name comes from the name service ([`sys::user_name`]), so
/// operators from a directory (sssd, Active Directory) are named too;
/// whatever the name, the numeric uid is kept.
pub fn complete(facts: &mut ProcessFacts) -> bool {
    let Some(marker) = sys::start_marker(facts.pid) else {
        return false;
    };
    facts.start_marker = marker;
    facts.parent_pid = sys::parent_pid(facts.pid);
    if let Ok(meta) = std::fs::metadata(format!("/proc/{}", facts.pid)) {
        facts.uid = Some(meta.uid());
        facts.user = sys::user_name(meta.uid());
    }
    true
}

/// `HOME` in the process's own environment: where it keeps its per-user
/// files (logs, the desktop's file metadata).
pub fn environ_home(pid: u32) -> Option<PathBuf> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    env.split(|b| *b == 0)
        .find_map(|kv| kv.strip_prefix(b"HOME="))
        .filter(|h| h.starts_with(b"/"))
        .map(|h| PathBuf::from(String::from_utf8_lossy(h).into_owned()))
}
