//! Linux: processes through `/proc` and pidfds.
//!
//! A kill goes through a pidfd opened before the start time is checked, so
//! once the check passes the signal cannot reach a different process that
//! reused the pid. The tree is frozen with SIGSTOP before it is killed, so
//! a tool cannot spawn a new helper between the listing and the kill.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::{KillError, Killed};

/// Start time of `pid` in clock ticks since boot (field 22 of
/// `/proc/PID/stat`): with the pid it names exactly one process.
pub fn start_marker(pid: u32) -> Option<u64> {
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// The start marker of `pid` while it runs: `None` once it exited,
/// including as a zombie (killed, not yet reaped by its parent).
pub fn running_since(pid: u32) -> Option<u64> {
    let fields = stat_fields(pid)?;
    if matches!(fields.first().map(String::as_str), Some("Z" | "X" | "x")) {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Parent of `pid`, from `/proc/PID/stat`.
pub fn parent_pid(pid: u32) -> Option<u32> {
    parent_of(pid)
}

fn parent_of(pid: u32) -> Option<u32> {
    // Called for every process on each kill (the tree walk): parsed in
    // place, without collecting the other fields.
    after_name(pid)?.split_whitespace().nth(1)?.parse().ok()
}

/// `/proc/PID/stat` after the `(comm)` field: numbers and the state
/// letter. The name before it is whatever the program or its caller chose
/// (spaces, parentheses, bytes that are not UTF-8), so the file is read as
/// bytes and cut at the last `)`: a name must not make a process look
/// gone, which would let a tool go unstopped.
fn after_name(pid: u32) -> Option<String> {
    let stat = fs::read(format!("/proc/{pid}/stat")).ok()?;
    let end = stat.iter().rposition(|b| *b == b')')?;
    String::from_utf8(stat[end + 1..].to_vec()).ok()
}

/// Makes the calling thread a batch thread (`SCHED_BATCH`): it gets the
/// same share of the processor, but waking it does not preempt the task
/// that runs. For a watcher woken by every exec on the machine whose
/// answer is not awaited (the post-exec source beside fanotify): on a
/// small machine, preempting the program that was just executed to look
/// at it slowed every exec measurably (see docs/sources.md).
pub fn wake_without_preempting() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid sched_param for the call's duration; pid 0
    // is the calling thread.
    let r = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The start marker and parent of `pid`, from one read of
/// `/proc/PID/stat` (fanotify reads them while it holds a tool's exec).
/// `None` once it exited.
pub fn start_and_parent(pid: u32) -> Option<(u64, Option<u32>)> {
    let stat = after_name(pid)?;
    // Parsed in place, as in `parent_of`: after the name come the state
    // (0), the parent (1) … and the start time (19).
    let mut fields = stat.split_whitespace();
    let parent = fields.nth(1).and_then(|p| p.parse().ok());
    let start = fields.nth(17)?.parse().ok()?;
    Some((start, parent))
}

/// Fields of `/proc/PID/stat` after the `(comm)` field: index 0 is the
/// state, 1 the parent pid, 19 the start time.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    Some(
        after_name(pid)?
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    )
}

/// The start marker of a process sysinfo listed (see [`start_marker`]).
pub fn marker_of(process: &sysinfo::Process) -> u64 {
    start_marker(process.pid().as_u32()).unwrap_or_else(|| process.start_time())
}

/// Why a configuration file cannot be trusted by a privileged daemon: a
/// file or folder that a non-administrator can change would let the
/// operator (or a caller talking them through it) open a window.
pub fn untrusted_reason(path: &std::path::Path) -> Option<String> {
    let mut checked = Some(path);
    while let Some(p) = checked {
        if let Ok(meta) = fs::metadata(p)
            && let Some(why) = untrusted_meta(p, &meta)
        {
            return Some(why);
        }
        checked = p.parent().filter(|p| !p.as_os_str().is_empty());
    }
    None
}

/// Why `meta` (of `p`) lets a non-administrator change it.
fn untrusted_meta(p: &std::path::Path, meta: &fs::Metadata) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    if meta.uid() != 0 {
        return Some(format!(
            "{} is owned by uid {}, not by root",
            p.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 && !(meta.is_dir() && meta.mode() & 0o1000 != 0) {
        return Some(format!(
            "{} can be changed by non-administrators (mode {:o})",
            p.display(),
            meta.mode() & 0o7777
        ));
    }
    None
}

/// Reads a file IT owns through one descriptor, judged on that descriptor
/// (`fstat`), so nothing can be swapped in between the check and the
/// read; the folders above it are judged as [`untrusted_reason`] does.
/// `Ok(Err(why))` when it is not trusted; an I/O error when it cannot be
/// opened or read. Only regular files are read (never a FIFO that would
/// block the daemon), up to [`super::POLICY_FILE_LIMIT`] bytes.
pub fn read_trusted(path: &std::path::Path) -> std::io::Result<Result<Vec<u8>, String>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(Err(format!("{} is not a regular file", path.display())));
    }
    if let Some(why) = untrusted_meta(path, &meta) {
        return Ok(Err(why));
    }
    if let Some(why) = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .and_then(untrusted_reason)
    {
        return Ok(Err(why));
    }
    let mut bytes = Vec::new();
    file.by_ref()
        .take(super::POLICY_FILE_LIMIT)
        .read_to_end(&mut bytes)?;
    Ok(Ok(bytes))
}

/// Whether only root could have put this file where it is, under this
/// name: it and every folder above it are root's and writable by no one
/// else (a sticky world-writable folder such as /tmp does not count: any
/// user can create files there). Such a file was installed by an
/// administrator, so its name and path are trusted and its content is not
/// read.
pub fn placed_by_root_only(path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let mut checked = Some(path);
    while let Some(p) = checked {
        match fs::metadata(p) {
            Ok(meta) if meta.uid() == 0 && meta.mode() & 0o022 == 0 => {}
            _ => return false,
        }
        checked = p.parent().filter(|p| !p.as_os_str().is_empty());
    }
    true
}

/// Whether varco runs with the rights to stop any user's programs.
pub fn is_privileged() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

struct Pidfd(OwnedFd);

impl Pidfd {
    fn open(pid: u32) -> io::Result<Pidfd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new file
        // descriptor or -1; no memory is passed.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel returned a fresh descriptor that we now own.
        Ok(Pidfd(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
    }

    fn signal(&self, sig: libc::c_int) -> io::Result<()> {
        // SAFETY: the descriptor is a live pidfd owned by self; a null
        // siginfo is allowed and means "as kill(2) would".
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

fn classify(e: io::Error) -> KillError {
    match e.raw_os_error() {
        Some(libc::ESRCH) => KillError::Gone,
        Some(libc::EPERM) | Some(libc::EACCES) => KillError::Denied(e),
        _ => KillError::Os(e),
    }
}

/// Stops `pid` and all its descendants with SIGKILL, provided `pid` is
/// still the process that started at `marker`.
pub fn kill_tree(pid: u32, marker: u64) -> Result<Killed, KillError> {
    let root = Pidfd::open(pid).map_err(classify)?;
    // Checked after the pidfd exists: if the marker matches now, the pidfd
    // is bound to the right process whatever happens to the pid later.
    match start_marker(pid) {
        Some(m) if m == marker => {}
        Some(_) => return Err(KillError::Reused),
        None => return Err(KillError::Gone),
    }
    root.signal(libc::SIGSTOP).map_err(classify)?;

    let mut frozen = vec![root];
    let mut known: HashSet<u32> = HashSet::from([pid]);
    // A frozen process cannot fork, so each round finds only children that
    // appeared before their parent froze; a few rounds reach a fixed point.
    for _ in 0..64 {
        let children: Vec<u32> = parents()
            .into_iter()
            .filter(|(child, parent)| known.contains(parent) && !known.contains(child))
            .map(|(child, _)| child)
            .collect();
        if children.is_empty() {
            break;
        }
        for child in children {
            known.insert(child);
            if let Ok(fd) = Pidfd::open(child)
                && fd.signal(libc::SIGSTOP).is_ok()
            {
                frozen.push(fd);
            }
        }
    }
    let mut processes = 0;
    for fd in &frozen {
        if fd.signal(libc::SIGKILL).is_ok() {
            processes += 1;
        }
    }
    Ok(Killed { processes })
}

/// child pid → parent pid for every process.
fn parents() -> HashMap<u32, u32> {
    live_pids()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|pid| Some((pid, parent_of(pid)?)))
        .collect()
}

/// Every process id, from the names in `/proc` alone: no per-process
/// file is opened, so a periodic scan can find the new pids for the cost
/// of one directory listing and read details for those only.
pub fn live_pids() -> Option<Vec<u32>> {
    let dir = fs::read_dir("/proc").ok()?;
    Some(
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .collect(),
    )
}

/// Whether what an open file's metadata says about its content can be
/// trusted to change when the content does: true on local filesystems,
/// where the kernel updates ctime on every write. False on FUSE (the
/// mounting user's own program answers stat and read, and may answer
/// differently each time) and on network filesystems (another machine
/// may change the file), and when the filesystem cannot be asked.
pub fn content_tracked(file: &fs::File, _path: &std::path::Path) -> bool {
    // Filesystem magics (linux/magic.h and the filesystems' sources).
    const UNTRACKED: &[i64] = &[
        0x6573_5546,            // FUSE_SUPER_MAGIC
        0x6969,                 // NFS_SUPER_MAGIC
        0xFF53_4D42_u32 as i64, // CIFS_SUPER_MAGIC
        0xFE53_4D42_u32 as i64, // SMB2_SUPER_MAGIC
        0x517B,                 // SMB_SUPER_MAGIC
        0x0102_1997,            // V9FS_MAGIC
        0x00C3_6400,            // CEPH_SUPER_MAGIC
        0x5346_414F,            // AFS_FS_MAGIC
        0x6B41_4653,            // AFS_SUPER_MAGIC
        0x0BD0_0BD0,            // LUSTRE_SUPER_MAGIC
        0x4750_4653,            // GPFS_SUPER_MAGIC
    ];
    let mut stat = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `file` is an open descriptor for the call's duration and
    // `stat` points to writable memory of the size fstatfs fills.
    let rc = unsafe { libc::fstatfs(file.as_raw_fd(), stat.as_mut_ptr()) };
    if rc != 0 {
        return false;
    }
    // SAFETY: fstatfs returned 0, so it filled `stat`.
    let stat = unsafe { stat.assume_init() };
    #[allow(clippy::unnecessary_cast)] // f_type's width depends on the architecture
    let kind = stat.f_type as i64;
    !UNTRACKED.contains(&kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn one_read_of_stat_gives_what_the_two_readers_give() {
        use std::os::unix::ffi::OsStrExt;
        // A name with spaces, parentheses and a byte that is not UTF-8, as
        // a user can choose one: the process must not look gone.
        let dir = std::env::temp_dir().join(format!("varco-stat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let odd = dir.join(std::ffi::OsStr::from_bytes(b"a) b (\xff"));
        // Copied by `cp`: a descriptor this process wrote through could be
        // inherited by another test's child and make the exec fail (ETXTBSY).
        assert!(
            Command::new("cp")
                .arg("/bin/sleep")
                .arg(&odd)
                .status()
                .unwrap()
                .success()
        );
        let mut child = Command::new(&odd).arg("5").spawn().unwrap();
        let pid = child.id();
        // Until the exec is done the child still has this process's name.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !std::fs::read(format!("/proc/{pid}/comm")).is_ok_and(|c| c.contains(&0xff)) {
            assert!(
                std::time::Instant::now() < deadline,
                "the odd name never showed"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let (start, parent) = start_and_parent(pid).expect("an odd name is still a process");
        assert_eq!(running_since(pid), Some(start));
        assert_eq!(Some(start), start_marker(pid));
        assert_eq!(parent, parent_pid(pid));
        assert_eq!(parent, Some(std::process::id()));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(start_and_parent(pid), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn kills_a_child_tree_and_refuses_a_wrong_marker() {
        let mut child = Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30 & wait"])
            .spawn()
            .unwrap();
        let pid = child.id();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let marker = start_marker(pid).unwrap();
        assert!(matches!(kill_tree(pid, marker + 1), Err(KillError::Reused)));
        let grandchildren: Vec<u32> = parents()
            .into_iter()
            .filter(|(_, p)| *p == pid)
            .map(|(c, _)| c)
            .collect();
        assert_eq!(grandchildren.len(), 2);
        let killed = kill_tree(pid, marker).unwrap();
        assert_eq!(killed.processes, 3);
        let status = child.wait().unwrap();
        assert!(!status.success());
        std::thread::sleep(std::time::Duration::from_millis(100));
        for g in grandchildren {
            let state = stat_fields(g).map(|f| f[0].clone());
            assert!(
                state.is_none() || state.as_deref() == Some("Z"),
                "grandchild {g} survived: {state:?}"
            );
        }
    }
}
