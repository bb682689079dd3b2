//! Facts about a live process, read from `/proc` (Linux event sources).
//!
//! Event sources learn only a pid from the kernel; this is where the pid
//! becomes [`ProcessFacts`]. Reading is split in two so a source can stop
//! early: the cheap names first (enough to know whether the catalog cares),
//! the rest only for the few processes it does.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use sysinfo::{Uid, Users};

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
pub fn complete(facts: &mut ProcessFacts, users: &mut Option<Users>) -> bool {
    let Some(marker) = sys::start_marker(facts.pid) else {
        return false;
    };
    facts.start_marker = marker;
    facts.parent_pid = sys::parent_pid(facts.pid);
    if let Ok(meta) = std::fs::metadata(format!("/proc/{}", facts.pid)) {
        facts.uid = Some(meta.uid());
        // Without the user list (unreadable), records keep the uid alone.
        if let (Some(users), Ok(uid)) = (users.as_mut(), meta.uid().to_string().parse::<Uid>()) {
            if users.get_user_by_id(&uid).is_none() {
                users.refresh();
            }
            facts.user = users.get_user_by_id(&uid).map(|u| u.name().to_string());
        }
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
