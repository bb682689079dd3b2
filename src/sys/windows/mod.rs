//! Windows: processes through checked handles, file trust from access
//! lists, the Event Log and the agent's named pipe.
//!
//! A kill opens a handle first and compares the process creation time
//! through that handle: once it matches, the handle names that process
//! whatever happens to the pid, so `TerminateProcess` cannot hit a process
//! that reused it. Children are found with a Toolhelp snapshot and checked
//! the same way (a child never starts before its parent).

mod eventlog;
mod pipe;
mod registry;
mod security;

pub use eventlog::{EventLog, Severity};
pub use pipe::{
    PipeListener, connect_control, connect_pipe, current_session, pipe_client, pipe_name,
    session_of, sessions,
};
pub use registry::{RegValue, delete_machine_key, delete_machine_value, set_machine_value};
pub use security::{
    create_protected_dir, dir_untrusted_reason, protect_dir, read_trusted, untrusted_reason,
};

use std::collections::HashSet;
use std::io;

use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_ACCESS_DENIED, ERROR_INVALID_PARAMETER, FILETIME, HANDLE,
    INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Security::{
    CheckTokenMembership, CreateWellKnownSid, GetTokenInformation, IsWellKnownSid, PSID,
    TOKEN_QUERY, TOKEN_USER, TokenUser, WinBuiltinAdministratorsSid, WinLocalSystemSid,
};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, PROCESSENTRY32W, Process32FirstW, Process32NextW, TH32CS_SNAPPROCESS,
};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, GetProcessTimes, OpenProcess, OpenProcessToken,
    PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_TERMINATE,
};

use super::{KillError, Killed};

/// Exit code given to stopped tools, so a log reader can tell varco
/// stopped them ("VARC" would not fit; 0xBA5E is short for "base").
const STOPPED_EXIT_CODE: u32 = 0xBA5E;

/// FILETIME ticks (100 ns) per second.
const TICKS_PER_SECOND: u64 = 10_000_000;
/// Seconds from 1601-01-01 (FILETIME epoch) to 1970-01-01.
const EPOCH_GAP_SECONDS: u64 = 11_644_473_600;

/// An owned kernel handle, closed when dropped.
pub(crate) struct Handle(HANDLE);

impl Handle {
    /// Takes ownership of `h`, or reports the thread's last error when
    /// the call that produced it failed.
    pub(crate) fn checked(h: HANDLE) -> io::Result<Handle> {
        if h.is_null() || h == INVALID_HANDLE_VALUE {
            Err(io::Error::last_os_error())
        } else {
            Ok(Handle(h))
        }
    }

    pub(crate) fn raw(&self) -> HANDLE {
        self.0
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle is owned by self and closed exactly once.
        unsafe { CloseHandle(self.0) };
    }
}

/// Opens `pid` with `access`.
fn open(pid: u32, access: u32) -> io::Result<Handle> {
    // SAFETY: OpenProcess takes plain values and returns a handle or null.
    Handle::checked(unsafe { OpenProcess(access, 0, pid) })
}

/// Creation time of the process behind `h`, in FILETIME ticks.
fn creation_time(h: &Handle) -> Option<u64> {
    let mut created = FILETIME::default();
    let (mut a, mut b, mut c) = (
        FILETIME::default(),
        FILETIME::default(),
        FILETIME::default(),
    );
    // SAFETY: the handle is live; the four out-pointers are valid FILETIMEs.
    let ok = unsafe { GetProcessTimes(h.raw(), &mut created, &mut a, &mut b, &mut c) };
    (ok != 0).then(|| (u64::from(created.dwHighDateTime) << 32) | u64::from(created.dwLowDateTime))
}

/// Creation time of `pid` in FILETIME ticks (100 ns since 1601): with the
/// pid it names exactly one process.
pub fn start_marker(pid: u32) -> Option<u64> {
    creation_time(&open(pid, PROCESS_QUERY_LIMITED_INFORMATION).ok()?)
}

/// Always false here: every executable's content may be inspected.
pub fn placed_by_root_only(_path: &std::path::Path) -> bool {
    false
}

/// Whether a file's metadata can be trusted to change with its content.
/// Windows exposes no change time through std, and the key a cache can
/// build (path, size, write time) is settable by the file's owner, so the
/// content fingerprint is what guards it; files on network shares
/// (`\\server\share`, `\\?\UNC\`) are not trusted at all and are read
/// every time.
pub fn content_tracked(_file: &std::fs::File, path: &std::path::Path) -> bool {
    let p = path.as_os_str().to_string_lossy();
    let unc = p.starts_with(r"\\?\UNC\") || (p.starts_with(r"\\") && !p.starts_with(r"\\?\"));
    !unc
}

/// No cheap way to list pids alone on Windows: the scan lists (and
/// reads) every process through sysinfo.
pub fn live_pids() -> Option<Vec<u32>> {
    None
}

/// The start marker of a process sysinfo listed (see [`start_marker`]).
/// When the creation time cannot be read, sysinfo's start second is used
/// in the same unit; [`kill_tree`] then compares to the second.
pub fn marker_of(process: &sysinfo::Process) -> u64 {
    start_marker(process.pid().as_u32())
        .unwrap_or_else(|| (process.start_time() + EPOCH_GAP_SECONDS) * TICKS_PER_SECOND)
}

/// Whether a creation time matches a marker: exactly, or to the second
/// for a marker that came from sysinfo's whole seconds.
fn same_process(created: u64, marker: u64) -> bool {
    created == marker
        || (marker.is_multiple_of(TICKS_PER_SECOND)
            && created / TICKS_PER_SECOND == marker / TICKS_PER_SECOND)
}

fn classify(e: io::Error) -> KillError {
    match e.raw_os_error().map(|c| c as u32) {
        Some(ERROR_INVALID_PARAMETER) => KillError::Gone,
        Some(ERROR_ACCESS_DENIED) => KillError::Denied(e),
        _ => KillError::Os(e),
    }
}

/// Stops `pid` and all its descendants with `TerminateProcess`, provided
/// `pid` is still the process created at `marker`.
pub fn kill_tree(pid: u32, marker: u64) -> Result<Killed, KillError> {
    let access = PROCESS_TERMINATE | PROCESS_QUERY_LIMITED_INFORMATION;
    let root = open(pid, access).map_err(classify)?;
    let root_created = match creation_time(&root) {
        Some(c) if same_process(c, marker) => c,
        Some(_) => return Err(KillError::Reused),
        None => return Err(KillError::Os(io::Error::last_os_error())),
    };
    // The root goes first: once it is dead it starts no more helpers.
    terminate(&root).map_err(classify)?;
    let mut processes = 1;
    // (pid, creation time) of every process of the tree met so far.
    let mut tree: Vec<(u32, u64)> = vec![(pid, root_created)];
    let mut seen: HashSet<u32> = HashSet::from([pid]);
    // Helpers may start helpers while we work: repeat until a snapshot
    // shows no new descendant.
    for _ in 0..16 {
        let mut found = false;
        let snapshot = parents().map_err(KillError::Os)?;
        let alive: HashSet<u32> = snapshot.iter().map(|(pid, _)| *pid).collect();
        for (child, parent) in snapshot {
            if seen.contains(&child) {
                continue;
            }
            let Some(&(_, parent_created)) = tree.iter().find(|(p, _)| *p == parent) else {
                continue;
            };
            // The parent pid, if it is running now, must still be the
            // tree's process: a stopped member's pid reused by a newcomer
            // does not make the newcomer's children ours.
            if alive.contains(&parent) && start_marker(parent).is_some_and(|c| c != parent_created)
            {
                continue;
            }
            let Ok(h) = open(child, access) else {
                continue;
            };
            // A "child" older than its parent has a parent pid that was
            // reused: it is not part of this tree.
            let Some(created) = creation_time(&h).filter(|c| *c >= parent_created) else {
                continue;
            };
            seen.insert(child);
            tree.push((child, created));
            found = true;
            if terminate(&h).is_ok() {
                processes += 1;
            }
        }
        if !found {
            break;
        }
    }
    Ok(Killed { processes })
}

fn terminate(h: &Handle) -> io::Result<()> {
    // SAFETY: the handle is live and was opened with PROCESS_TERMINATE.
    if unsafe {
        windows_sys::Win32::System::Threading::TerminateProcess(h.raw(), STOPPED_EXIT_CODE)
    } == 0
    {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// (child pid, parent pid) of every process, from a Toolhelp snapshot.
fn parents() -> io::Result<Vec<(u32, u32)>> {
    // SAFETY: plain flags; the result is checked and owned below.
    let snap = Handle::checked(unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0) })?;
    let mut entry = PROCESSENTRY32W {
        dwSize: std::mem::size_of::<PROCESSENTRY32W>() as u32,
        ..Default::default()
    };
    let mut out = Vec::new();
    // SAFETY: the snapshot handle is live and `entry.dwSize` is set as
    // the API requires.
    let mut more = unsafe { Process32FirstW(snap.raw(), &mut entry) } != 0;
    while more {
        out.push((entry.th32ProcessID, entry.th32ParentProcessID));
        // SAFETY: as above.
        more = unsafe { Process32NextW(snap.raw(), &mut entry) } != 0;
    }
    Ok(out)
}

/// Whether varco runs as the system service (LocalSystem): the
/// deployment the operator must not be able to influence, so the windows
/// file's access list is checked (fail closed) only then. An
/// administrator testing `varco run` in a console is not checked.
pub fn is_privileged() -> bool {
    is_local_system()
}

/// Whether varco runs as LocalSystem or as an elevated administrator: it
/// may then write under `%ProgramData%\varco` and stop any user's
/// programs.
pub fn is_administrator() -> bool {
    is_local_system() || in_administrators()
}

/// Whether this process runs as LocalSystem, i.e. as the varco service.
pub fn is_local_system() -> bool {
    // SAFETY: the SID is valid during the call (see `with_token_user`).
    with_token_user(|sid| unsafe { IsWellKnownSid(sid, WinLocalSystemSid) != 0 }).unwrap_or(false)
}

/// Calls `f` with the SID of the account this process runs as. The SID is
/// valid only during the call.
pub(crate) fn with_token_user<T>(f: impl FnOnce(PSID) -> T) -> io::Result<T> {
    let token = current_token().ok_or_else(io::Error::last_os_error)?;
    with_user_of(&token, f)
}

/// Calls `f` with the SID of the account `token` belongs to, valid only
/// during the call.
pub(crate) fn with_user_of<T>(token: &Handle, f: impl FnOnce(PSID) -> T) -> io::Result<T> {
    let mut buf = [0u8; 256];
    let mut len = 0u32;
    // SAFETY: the token is live; the buffer and its length are valid.
    let ok = unsafe {
        GetTokenInformation(
            token.raw(),
            TokenUser,
            buf.as_mut_ptr().cast(),
            buf.len() as u32,
            &mut len,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success the buffer starts with a TOKEN_USER whose SID
    // points into the same buffer; read_unaligned copes with the byte
    // array's alignment.
    let user: TOKEN_USER = unsafe { std::ptr::read_unaligned(buf.as_ptr().cast()) };
    Ok(f(user.User.Sid))
}

/// The SID (as text) of the account process `pid` runs as.
pub(crate) fn process_user_sid(pid: u32) -> io::Result<String> {
    let process = open(pid, PROCESS_QUERY_LIMITED_INFORMATION)?;
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: the process handle is live; the out-pointer is valid.
    if unsafe { OpenProcessToken(process.raw(), TOKEN_QUERY, &mut token) } == 0 {
        return Err(io::Error::last_os_error());
    }
    with_user_of(&Handle::checked(token)?, security::sid_string)?
}

pub(crate) fn current_token() -> Option<Handle> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: GetCurrentProcess returns a pseudo-handle; the out-pointer
    // is valid.
    let ok = unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) };
    (ok != 0).then_some(Handle(token))
}

fn in_administrators() -> bool {
    let mut sid = [0u8; 68]; // SECURITY_MAX_SID_SIZE
    let mut len = sid.len() as u32;
    let psid: PSID = sid.as_mut_ptr().cast();
    // SAFETY: the buffer is SECURITY_MAX_SID_SIZE bytes, as `len` says.
    if unsafe {
        CreateWellKnownSid(
            WinBuiltinAdministratorsSid,
            std::ptr::null_mut(),
            psid,
            &mut len,
        )
    } == 0
    {
        return false;
    }
    let mut member = 0;
    // SAFETY: a null token means "the calling thread's token"; the SID
    // was just built; the out-pointer is valid.
    let ok = unsafe { CheckTokenMembership(std::ptr::null_mut(), psid, &mut member) };
    ok != 0 && member != 0
}

/// The machine-wide data folder (`C:\ProgramData`), asked of the shell
/// rather than read from `%ProgramData%`: a service's environment, or a
/// user's, may say otherwise.
pub fn program_data() -> Option<std::path::PathBuf> {
    use windows_sys::Win32::System::Com::CoTaskMemFree;
    use windows_sys::Win32::UI::Shell::{FOLDERID_ProgramData, SHGetKnownFolderPath};
    let mut path: *mut u16 = std::ptr::null_mut();
    // SAFETY: the GUID is a static; no token; valid out-pointer. The
    // returned string is freed with CoTaskMemFree below, even on failure
    // (as the API documents).
    let hr =
        unsafe { SHGetKnownFolderPath(&FOLDERID_ProgramData, 0, std::ptr::null_mut(), &mut path) };
    let result = (hr == 0 && !path.is_null()).then(|| {
        // SAFETY: on success `path` is a NUL-terminated wide string.
        let len = (0..).take_while(|&i| unsafe { *path.add(i) } != 0).count();
        // SAFETY: `len` characters were just read from it.
        let chars = unsafe { std::slice::from_raw_parts(path, len) };
        std::path::PathBuf::from(String::from_utf16_lossy(chars))
    });
    // SAFETY: `path` came from SHGetKnownFolderPath (null is allowed).
    unsafe { CoTaskMemFree(path.cast()) };
    result
}

/// Closes the console window Windows opened for this process alone (the
/// agent started at logon), keeping a console shared with a prompt the
/// user typed in.
pub fn drop_own_console() {
    use windows_sys::Win32::System::Console::{FreeConsole, GetConsoleProcessList};
    let mut pids = [0u32; 2];
    // SAFETY: the buffer holds 2 entries, as passed.
    let attached = unsafe { GetConsoleProcessList(pids.as_mut_ptr(), 2) };
    if attached == 1 {
        // SAFETY: no arguments; detaching from our own console is harmless.
        unsafe { FreeConsole() };
    }
}

/// Writes `s` as a NUL-terminated UTF-16 string for the wide-char APIs.
pub(crate) fn wide(s: &std::ffi::OsStr) -> Vec<u16> {
    use std::os::windows::ffi::OsStrExt;
    s.encode_wide().chain(std::iter::once(0)).collect()
}

/// Run under Wine by `tests/it/windows.rs`
/// (`windows_layer_unit_tests_pass_under_wine`).
#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn kills_a_child_tree_and_refuses_a_wrong_marker() {
        // cmd.exe starting a second cmd.exe that waits on its input.
        let mut child = Command::new("cmd.exe")
            .args(["/c", "cmd.exe /c pause"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !parents().unwrap().iter().any(|(_, p)| *p == pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "no grandchild appeared"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let marker = start_marker(pid).unwrap();
        assert!(matches!(kill_tree(pid, marker + 1), Err(KillError::Reused)));
        assert!(
            child.try_wait().unwrap().is_none(),
            "a wrong marker must stop nothing"
        );
        let killed = kill_tree(pid, marker).unwrap();
        assert_eq!(killed.processes, 2);
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(STOPPED_EXIT_CODE as i32));
        assert!(
            !parents().unwrap().iter().any(|(_, p)| *p == pid),
            "the grandchild survived"
        );
    }

    #[test]
    fn a_sysinfo_second_marker_still_names_the_process() {
        let created = 133_000_000_012_345_678u64;
        assert!(same_process(created, created));
        assert!(same_process(
            created,
            created / TICKS_PER_SECOND * TICKS_PER_SECOND
        ));
        assert!(!same_process(created, created + 1));
    }

    #[test]
    fn this_process_reads_its_own_account() {
        let sid = with_token_user(security::sid_string).unwrap().unwrap();
        assert!(sid.starts_with("S-1-5-"), "{sid}");
    }
}
