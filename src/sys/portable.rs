//! Platforms without a dedicated layer yet (macOS): processes
//! through sysinfo. The start time is in seconds, so a pid reused within
//! the same second would not be told apart.

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use super::{KillError, Killed};

fn snapshot() -> Result<System, KillError> {
    let mut sys = System::new().map_err(|e| KillError::Os(std::io::Error::other(e.to_string())))?;
    sys.refresh_processes_specifics(
        ProcessesToUpdate::All,
        true,
        ProcessRefreshKind::nothing().without_tasks(),
    );
    Ok(sys)
}

/// Start time of `pid` in seconds since the epoch.
pub fn start_marker(pid: u32) -> Option<u64> {
    snapshot()
        .ok()?
        .process(Pid::from_u32(pid))
        .map(|p| p.start_time())
}

/// Always false here: every executable's content may be inspected.
pub fn placed_by_root_only(_path: &std::path::Path) -> bool {
    false
}

/// No cheap way to list pids alone on this platform: the scan lists (and
/// reads) every process through sysinfo.
pub fn live_pids() -> Option<Vec<u32>> {
    None
}

/// The start marker of a process sysinfo listed (see [`start_marker`]).
pub fn marker_of(process: &sysinfo::Process) -> u64 {
    process.start_time()
}

/// Why a configuration file cannot be trusted by a privileged daemon.
/// Not checked on this platform yet.
pub fn untrusted_reason(_path: &std::path::Path) -> Option<String> {
    None
}

/// Reads a configuration file; its ownership is not judged on this
/// platform yet (see [`untrusted_reason`]).
pub fn read_trusted(path: &std::path::Path) -> std::io::Result<Result<Vec<u8>, String>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(super::POLICY_FILE_LIMIT)
        .read_to_end(&mut bytes)?;
    Ok(Ok(bytes))
}

/// Whether varco runs with the rights to stop any user's programs.
pub fn is_privileged() -> bool {
    false
}

/// Stops `pid` and its descendants, provided `pid` still started at
/// `marker`.
pub fn kill_tree(pid: u32, marker: u64) -> Result<Killed, KillError> {
    let sys = snapshot()?;
    let root = Pid::from_u32(pid);
    match sys.process(root) {
        None => return Err(KillError::Gone),
        Some(p) if p.start_time() != marker => return Err(KillError::Reused),
        Some(_) => {}
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        let children: Vec<Pid> = sys
            .processes()
            .iter()
            .filter(|(pid, p)| p.parent() == Some(parent) && !tree.contains(pid))
            .map(|(pid, _)| *pid)
            .collect();
        tree.extend(children);
        i += 1;
    }
    let mut processes = 0;
    for pid in tree {
        if sys.process(pid).is_some_and(|p| p.kill()) {
            processes += 1;
        }
    }
    if processes == 0 {
        return Err(KillError::Os(std::io::Error::other("the kill was refused")));
    }
    Ok(Killed { processes })
}

/// Whether an open file's metadata can be trusted to change with its
/// content: assumed on the platforms without a filesystem probe (the
/// content fingerprint still guards the cache).
pub fn content_tracked(_file: &std::fs::File, _path: &std::path::Path) -> bool {
    true
}
