//! The named pipe between the varco service (SYSTEM, session 0) and the
//! agent in each user session.
//!
//! The agent is the server: `\\.\pipe\varco-agent-<session>`, created as
//! the pipe's first instance (so nobody can have squatted the name) with an
//! access list that admits only SYSTEM and the session's user, and no
//! remote clients. The service connects as a client and first checks that
//! the server process really runs in that session.

use std::fs::File;
use std::io;
use std::os::windows::io::{AsRawHandle, FromRawHandle};

use windows_sys::Win32::Foundation::{ERROR_PIPE_CONNECTED, HANDLE};
use windows_sys::Win32::Security::Authorization::ConvertStringSecurityDescriptorToSecurityDescriptorW;
use windows_sys::Win32::Security::{PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES};
use windows_sys::Win32::Storage::FileSystem::{FILE_FLAG_FIRST_PIPE_INSTANCE, PIPE_ACCESS_DUPLEX};
use windows_sys::Win32::System::Pipes::{
    ConnectNamedPipe, CreateNamedPipeW, GetNamedPipeServerProcessId, PIPE_READMODE_BYTE,
    PIPE_REJECT_REMOTE_CLIENTS, PIPE_TYPE_BYTE, PIPE_UNLIMITED_INSTANCES, PIPE_WAIT,
};
use windows_sys::Win32::System::RemoteDesktop::{
    ProcessIdToSessionId, WTS_SESSION_INFOW, WTSEnumerateSessionsW, WTSFreeMemory,
    WTSGetActiveConsoleSessionId,
};

use super::security::{Local, sid_string};
use super::{Handle, wide, with_token_user};

/// The pipe of the agent in `session`.
pub fn pipe_name(session: u32) -> String {
    format!(r"\\.\pipe\varco-agent-{session}")
}

/// The session this process runs in.
pub fn current_session() -> io::Result<u32> {
    session_of(std::process::id())
}

/// The session `pid` runs in.
pub fn session_of(pid: u32) -> io::Result<u32> {
    let mut session = 0;
    // SAFETY: plain pid and a valid out-pointer.
    if unsafe { ProcessIdToSessionId(pid, &mut session) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(session)
}

/// Sessions where an agent may listen: every session Remote Desktop
/// Services lists, plus the console session.
pub fn sessions() -> Vec<u32> {
    let mut out = Vec::new();
    let mut info: *mut WTS_SESSION_INFOW = std::ptr::null_mut();
    let mut count = 0u32;
    // SAFETY: the local server's pseudo-handle is null; out-pointers valid.
    if unsafe { WTSEnumerateSessionsW(std::ptr::null_mut(), 0, 1, &mut info, &mut count) } != 0 {
        // SAFETY: on success `info` points to `count` entries, freed below.
        let list = unsafe { std::slice::from_raw_parts(info, count as usize) };
        out.extend(list.iter().map(|s| s.SessionId).filter(|id| *id != 0));
        // SAFETY: `info` came from WTSEnumerateSessionsW.
        unsafe { WTSFreeMemory(info.cast()) };
    }
    // SAFETY: no arguments; returns 0xFFFFFFFF when no console session.
    let console = unsafe { WTSGetActiveConsoleSessionId() };
    if console != u32::MAX && !out.contains(&console) {
        out.push(console);
    }
    out
}

/// The agent's end: accepts one connection at a time.
pub struct PipeListener {
    name: Vec<u16>,
    sddl: String,
    next: Handle,
}

impl PipeListener {
    /// Creates the pipe of the current session, admitting SYSTEM and the
    /// current user. Fails if the name already exists (another agent, or
    /// a squatter).
    pub fn create() -> io::Result<PipeListener> {
        let user = current_user_sid()?;
        let sddl = format!("D:P(A;;GA;;;SY)(A;;GA;;;{user})");
        PipeListener::create_named(&pipe_name(current_session()?), sddl)
    }

    /// Creates the pipe `name` as its first instance with the access list
    /// `sddl`. Fails if the name already exists (a squatter).
    pub fn create_named(name: &str, sddl: String) -> io::Result<PipeListener> {
        let name = wide(std::ffi::OsStr::new(name));
        let next = instance(&name, &sddl, true)?;
        Ok(PipeListener { name, sddl, next })
    }

    /// Waits for the next client and returns the connection as a file.
    pub fn accept(&mut self) -> io::Result<File> {
        // SAFETY: `next` is a live pipe instance; no overlapped I/O.
        let ok = unsafe { ConnectNamedPipe(self.next.raw(), std::ptr::null_mut()) };
        if ok == 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(ERROR_PIPE_CONNECTED as i32) {
                return Err(e);
            }
        }
        // The next instance exists before this one is handed out, so the
        // name never lapses and cannot be taken over in between.
        let fresh = instance(&self.name, &self.sddl, false)?;
        let connected = std::mem::replace(&mut self.next, fresh);
        let raw = connected.raw();
        std::mem::forget(connected);
        // SAFETY: `raw` is an owned, connected pipe handle whose ownership
        // moves into the File (the Handle wrapper was forgotten).
        Ok(unsafe { File::from_raw_handle(raw as _) })
    }
}

fn instance(name: &[u16], sddl: &str, first: bool) -> io::Result<Handle> {
    let sddl_w = wide(std::ffi::OsStr::new(sddl));
    let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: NUL-terminated SDDL, revision 1, valid out-pointer.
    if unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            sddl_w.as_ptr(),
            1,
            &mut sd,
            std::ptr::null_mut(),
        )
    } == 0
    {
        return Err(io::Error::last_os_error());
    }
    let _sd = Local(sd);
    let sa = SECURITY_ATTRIBUTES {
        nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: sd,
        bInheritHandle: 0,
    };
    let open_mode = PIPE_ACCESS_DUPLEX
        | if first {
            FILE_FLAG_FIRST_PIPE_INSTANCE
        } else {
            0
        };
    // SAFETY: `name` is NUL-terminated; `sa` and the descriptor it points
    // to live across the call.
    Handle::checked(unsafe {
        CreateNamedPipeW(
            name.as_ptr(),
            open_mode,
            PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
            PIPE_UNLIMITED_INSTANCES,
            64 * 1024,
            64 * 1024,
            0,
            &sa,
        )
    })
}

/// Who is at the other end of a server pipe `conn` that has been read
/// from: their SID, and whether their token (as they connected, i.e.
/// elevated or not) is in Administrators or is SYSTEM. Asked by
/// impersonating them for the length of two calls.
pub fn pipe_client(conn: &File) -> io::Result<(String, bool)> {
    use windows_sys::Win32::Security::{
        CheckTokenMembership, CreateWellKnownSid, IsWellKnownSid, RevertToSelf, TOKEN_QUERY,
        WinBuiltinAdministratorsSid, WinLocalSystemSid,
    };
    use windows_sys::Win32::System::Pipes::ImpersonateNamedPipeClient;
    use windows_sys::Win32::System::Threading::{GetCurrentThread, OpenThreadToken};

    // SAFETY: the handle is a live, connected server pipe owned by `conn`.
    if unsafe { ImpersonateNamedPipeClient(conn.as_raw_handle() as HANDLE) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: the pseudo-handle of this thread; "open as self" so the
    // service's own rights open the token; valid out-pointer.
    let opened = unsafe { OpenThreadToken(GetCurrentThread(), TOKEN_QUERY, 1, &mut token) };
    let open_error = io::Error::last_os_error();
    // SAFETY: no arguments; ends the impersonation started above. If it
    // failed the thread would keep the caller's rights: give up then.
    if unsafe { RevertToSelf() } == 0 {
        return Err(io::Error::last_os_error());
    }
    if opened == 0 {
        return Err(open_error);
    }
    let token = super::Handle::checked(token)?;
    let (sid, system) = super::with_user_of(&token, |user| {
        // SAFETY: the SID is valid during this call.
        let system = unsafe { IsWellKnownSid(user, WinLocalSystemSid) } != 0;
        sid_string(user).map(|sid| (sid, system))
    })??;
    let mut admins = [0u8; 68];
    let mut admins_len = admins.len() as u32;
    // SAFETY: the buffer is SECURITY_MAX_SID_SIZE bytes, as passed.
    let built = unsafe {
        CreateWellKnownSid(
            WinBuiltinAdministratorsSid,
            std::ptr::null_mut(),
            admins.as_mut_ptr().cast(),
            &mut admins_len,
        )
    } != 0;
    let mut member = 0;
    // SAFETY: an impersonation token from OpenThreadToken, the SID just
    // built, a valid out-pointer.
    let checked = built
        && unsafe { CheckTokenMembership(token.raw(), admins.as_mut_ptr().cast(), &mut member) }
            != 0;
    Ok((sid, system || (checked && member != 0)))
}

/// The client's end of the control pipe: opens it after checking that
/// the process serving it runs in session 0, where only services run, or
/// as the caller themselves (a `varco run` of their own); anyone else
/// serving the name is an impostor.
pub fn connect_control(name: &str) -> io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name)?;
    let mut server = 0u32;
    // SAFETY: the handle is a live pipe client handle owned by `file`.
    if unsafe { GetNamedPipeServerProcessId(file.as_raw_handle() as HANDLE, &mut server) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let session = session_of(server)?;
    if session == 0 || super::process_user_sid(server)? == current_user_sid()? {
        return Ok(file);
    }
    Err(io::Error::other(format!(
        "{name} is served from session {session} by another user, not by the varco service: not trusted"
    )))
}

fn current_user_sid() -> io::Result<String> {
    with_token_user(sid_string)?
}

/// The service's end: opens the pipe of `session`'s agent, after checking
/// that the process serving it runs in that session (a user in another
/// session cannot stand in for it).
pub fn connect_pipe(session: u32) -> io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(pipe_name(session))?;
    let mut server = 0u32;
    // SAFETY: the handle is a live pipe client handle owned by `file`.
    if unsafe { GetNamedPipeServerProcessId(file.as_raw_handle() as HANDLE, &mut server) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let actual = session_of(server)?;
    if actual != session {
        return Err(io::Error::other(format!(
            "the pipe of session {session} is served from session {actual}: not trusted"
        )));
    }
    Ok(file)
}
