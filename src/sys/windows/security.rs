//! File trust on Windows: reading an access list for [`crate::sys::acl`] to
//! judge, and writing the one varco's folder must have.

use std::io;
use std::path::Path;

use windows_sys::Win32::Foundation::{HANDLE, HLOCAL, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW,
    GetNamedSecurityInfoW, GetSecurityInfo, SE_FILE_OBJECT, SetNamedSecurityInfoW,
};
use windows_sys::Win32::Security::{
    ACCESS_ALLOWED_ACE, ACE_HEADER, ACL, ACL_SIZE_INFORMATION, AclSizeInformation,
    DACL_SECURITY_INFORMATION, GetAce, GetAclInformation, GetSecurityDescriptorDacl,
    GetSecurityDescriptorOwner, OWNER_SECURITY_INFORMATION, PROTECTED_DACL_SECURITY_INFORMATION,
    PSECURITY_DESCRIPTOR, PSID,
};

use super::wide;
use crate::sys::acl::{self, Ace, Security};

/// The access list of varco's folder, inherited by the files in it:
/// owner Administrators; full control for SYSTEM and Administrators; read
/// and execute for Users; nothing inherited from %ProgramData%.
pub const PROTECTED_SDDL: &str = "O:BAD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)";

/// A LocalAlloc'ed block (security descriptor, string SID), freed on drop.
pub(crate) struct Local(pub(crate) *mut core::ffi::c_void);

impl Drop for Local {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from an API that documents LocalFree
            // as its release function, and is freed once.
            unsafe { LocalFree(self.0 as HLOCAL) };
        }
    }
}

/// Why a windows file cannot be trusted by the varco service: the file or
/// its folder can be changed by someone other than SYSTEM,
/// Administrators or TrustedInstaller. Unreadable security information is
/// itself a reason (fail closed).
pub fn untrusted_reason(path: &Path) -> Option<String> {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
    for p in std::iter::once(path).chain(folder) {
        if !p.exists() {
            continue;
        }
        let what = p.display().to_string();
        match read_security(p) {
            Ok(sec) => {
                if let Some(why) = acl::untrusted_writers(&what, &sec) {
                    return Some(why);
                }
            }
            Err(e) => return Some(format!("cannot read the permissions of {what}: {e}")),
        }
    }
    None
}

/// Owner and access list of a file or folder.
fn read_security(path: &Path) -> io::Result<Security> {
    let name = wide(path.as_os_str());
    security_from(|owner, dacl, sd| {
        // SAFETY: `name` is NUL-terminated; the out-pointers are valid (see
        // `security_from`).
        unsafe {
            GetNamedSecurityInfoW(
                name.as_ptr(),
                SE_FILE_OBJECT,
                OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                owner,
                std::ptr::null_mut(),
                dacl,
                std::ptr::null_mut(),
                sd,
            )
        }
    })
}

/// Owner and access list of the object an open handle names.
fn handle_security(handle: HANDLE) -> io::Result<Security> {
    security_from(|owner, dacl, sd| {
        // SAFETY: the handle is open with READ_CONTROL (see
        // `read_trusted`); the out-pointers are valid.
        unsafe {
            GetSecurityInfo(
                handle,
                SE_FILE_OBJECT,
                OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                owner,
                std::ptr::null_mut(),
                dacl,
                std::ptr::null_mut(),
                sd,
            )
        }
    })
}

/// Runs `get` (GetNamedSecurityInfoW or GetSecurityInfo) with valid
/// out-pointers and reads owner and access list from what it returned.
fn security_from(
    get: impl FnOnce(&mut PSID, &mut *mut ACL, &mut PSECURITY_DESCRIPTOR) -> u32,
) -> io::Result<Security> {
    let mut owner: PSID = std::ptr::null_mut();
    let mut dacl: *mut ACL = std::ptr::null_mut();
    let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    let rc = get(&mut owner, &mut dacl, &mut sd);
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc as i32));
    }
    // The owner and DACL pointers point into `sd`, kept alive until the
    // end of this function.
    let _sd = Local(sd);
    let owner = (!owner.is_null()).then(|| sid_string(owner)).transpose()?;
    let dacl = if dacl.is_null() {
        None
    } else {
        Some(aces(dacl)?)
    };
    Ok(Security { owner, dacl })
}

/// Reads a file IT owns through ONE handle: opened first, its access list
/// judged through that handle (`GetSecurityInfo`), then read from it, so
/// no other file can be swapped in between the check and the read. Other
/// writers are shut out while it is open (read sharing only). The folder
/// is judged by name, as [`untrusted_reason`] does. `Ok(Err(why))` when
/// it is not trusted.
pub fn read_trusted(path: &Path) -> io::Result<Result<Vec<u8>, String>> {
    use std::io::Read;
    use std::os::windows::fs::OpenOptionsExt;
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::Foundation::GENERIC_READ;
    use windows_sys::Win32::Storage::FileSystem::{FILE_SHARE_READ, READ_CONTROL};

    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .access_mode(GENERIC_READ | READ_CONTROL)
        .share_mode(FILE_SHARE_READ)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Ok(Err(format!("{} is not a regular file", path.display())));
    }
    let what = path.display().to_string();
    match handle_security(file.as_raw_handle() as HANDLE) {
        Ok(sec) => {
            if let Some(why) = acl::untrusted_writers(&what, &sec) {
                return Ok(Err(why));
            }
        }
        Err(e) => return Ok(Err(format!("cannot read the permissions of {what}: {e}"))),
    }
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Some(why) = untrusted_reason(folder)
    {
        return Ok(Err(why));
    }
    let mut bytes = Vec::new();
    file.by_ref()
        .take(crate::sys::POLICY_FILE_LIMIT)
        .read_to_end(&mut bytes)?;
    Ok(Ok(bytes))
}

fn aces(dacl: *mut ACL) -> io::Result<Vec<Ace>> {
    let mut info = ACL_SIZE_INFORMATION::default();
    // SAFETY: `dacl` is a valid ACL inside a live security descriptor;
    // `info` is the structure AclSizeInformation asks for.
    let ok = unsafe {
        GetAclInformation(
            dacl,
            (&mut info as *mut ACL_SIZE_INFORMATION).cast(),
            std::mem::size_of::<ACL_SIZE_INFORMATION>() as u32,
            AclSizeInformation,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::with_capacity(info.AceCount as usize);
    for i in 0..info.AceCount {
        let mut ace: *mut core::ffi::c_void = std::ptr::null_mut();
        // SAFETY: `i` is below the ACL's entry count.
        if unsafe { GetAce(dacl, i, &mut ace) } == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: every ACE starts with an ACE_HEADER.
        let header: ACE_HEADER = unsafe { std::ptr::read_unaligned(ace.cast()) };
        if header.AceType != acl::ACCESS_ALLOWED {
            // Deny and object entries never grant a right; record the
            // type so the judgement can see them.
            out.push(Ace {
                kind: header.AceType,
                flags: header.AceFlags,
                mask: 0,
                sid: String::new(),
            });
            continue;
        }
        let allowed = ace.cast::<ACCESS_ALLOWED_ACE>();
        // SAFETY: an access-allowed ACE has this layout; its SID starts at
        // `SidStart` and lies within the ACE.
        let (mask, sid) = unsafe {
            (
                std::ptr::read_unaligned(&raw const (*allowed).Mask),
                (&raw mut (*allowed).SidStart).cast::<core::ffi::c_void>(),
            )
        };
        out.push(Ace {
            kind: header.AceType,
            flags: header.AceFlags,
            mask,
            sid: sid_string(sid)?,
        });
    }
    Ok(out)
}

pub(crate) fn sid_string(sid: PSID) -> io::Result<String> {
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY: `sid` is a valid SID; the out-pointer is valid.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let _free = Local(text.cast());
    // SAFETY: on success `text` is a NUL-terminated wide string.
    let len = (0..).take_while(|&i| unsafe { *text.add(i) } != 0).count();
    // SAFETY: `len` characters were just read from it.
    let chars = unsafe { std::slice::from_raw_parts(text, len) };
    Ok(String::from_utf16_lossy(chars))
}

/// Why a folder itself (not the one above it) cannot be trusted: owned by
/// someone other than SYSTEM, Administrators or TrustedInstaller, or
/// writable by others; a link (junction, symbolic link or other reparse
/// point) is never trusted, whatever it points to.
pub fn dir_untrusted_reason(dir: &Path) -> io::Result<Option<String>> {
    use std::os::windows::fs::MetadataExt;
    use windows_sys::Win32::Storage::FileSystem::FILE_ATTRIBUTE_REPARSE_POINT;
    let meta = std::fs::symlink_metadata(dir)?;
    let what = dir.display().to_string();
    if meta.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
        return Ok(Some(format!(
            "{what} is a link (junction, symbolic link or other reparse point) to another place"
        )));
    }
    if !meta.is_dir() {
        return Ok(Some(format!("{what} is not a folder")));
    }
    Ok(acl::untrusted_writers(&what, &read_security(dir)?))
}

/// The security descriptor [`PROTECTED_SDDL`] describes, built.
fn protected_descriptor() -> io::Result<Local> {
    let sddl = wide(std::ffi::OsStr::new(PROTECTED_SDDL));
    let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: `sddl` is NUL-terminated; revision 1 is the only one.
    let ok = unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            sddl.as_ptr(),
            1,
            &mut sd,
            std::ptr::null_mut(),
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Local(sd))
}

/// Creates `dir` with [`PROTECTED_SDDL`] from its first instant
/// (`CreateDirectoryW` with the descriptor), so nobody can slip a file
/// into it between its creation and its protection. Fails if it exists.
pub fn create_protected_dir(dir: &Path) -> io::Result<()> {
    use windows_sys::Win32::Security::SECURITY_ATTRIBUTES;
    use windows_sys::Win32::Storage::FileSystem::CreateDirectoryW;
    let sd = protected_descriptor()?;
    let attributes = SECURITY_ATTRIBUTES {
        nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: sd.0,
        bInheritHandle: 0,
    };
    let name = wide(dir.as_os_str());
    // SAFETY: `name` is NUL-terminated; `attributes` points to the live
    // descriptor `sd` for the duration of the call.
    if unsafe { CreateDirectoryW(name.as_ptr(), &attributes) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Gives `dir` (and the files directly in it) [`PROTECTED_SDDL`]: only
/// SYSTEM and Administrators can change them.
pub fn protect_dir(dir: &Path) -> io::Result<()> {
    let descriptor = protected_descriptor()?;
    let sd = descriptor.0;
    let (mut present, mut defaulted) = (0, 0);
    let mut dacl: *mut ACL = std::ptr::null_mut();
    let mut owner: PSID = std::ptr::null_mut();
    // SAFETY: `sd` is the valid descriptor just built; out-pointers valid.
    let ok = unsafe {
        GetSecurityDescriptorDacl(sd, &mut present, &mut dacl, &mut defaulted) != 0
            && GetSecurityDescriptorOwner(sd, &mut owner, &mut defaulted) != 0
    };
    if !ok {
        return Err(io::Error::last_os_error());
    }
    let mut targets = vec![dir.to_path_buf()];
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            targets.push(entry.path());
        }
    }
    for target in targets {
        let name = wide(target.as_os_str());
        // SAFETY: `name` is NUL-terminated; owner and DACL point into the
        // live descriptor `sd`.
        let rc = unsafe {
            SetNamedSecurityInfoW(
                name.as_ptr(),
                SE_FILE_OBJECT,
                OWNER_SECURITY_INFORMATION
                    | DACL_SECURITY_INFORMATION
                    | PROTECTED_DACL_SECURITY_INFORMATION,
                owner,
                std::ptr::null_mut(),
                dacl,
                std::ptr::null(),
            )
        };
        if rc != 0 {
            return Err(io::Error::other(format!(
                "cannot set the permissions of {}: {}",
                target.display(),
                io::Error::from_raw_os_error(rc as i32)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! These run under Wine too, which does not keep an owner set with
    //! SetNamedSecurityInfo or CreateDirectoryW (it reports the Unix
    //! user's SID whatever was asked): they check the refusals, and that
    //! the reading goes through the handle; the installed access list is
    //! judged by the pure tests in `sys::acl`.
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("varco-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_file_a_user_owns_is_refused_through_its_own_handle() {
        let dir = scratch("one-handle");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("approved-windows.toml");
        std::fs::write(&file, "mode = \"block\"\n").unwrap();
        // Made by this process's (non-system) account: not trusted, and
        // said of the file whose handle was judged.
        let why = read_trusted(&file).unwrap().unwrap_err();
        assert!(
            why.contains("approved-windows.toml is owned by S-1-5-21-"),
            "{why}"
        );
        assert_eq!(
            read_trusted(&dir.join("missing.toml")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_folder_a_user_made_is_refused_and_never_taken_over() {
        let planted = scratch("planted");
        std::fs::create_dir_all(&planted).unwrap();
        let why = dir_untrusted_reason(&planted).unwrap().unwrap();
        assert!(why.contains("owned by S-1-5-21-"), "{why}");
        assert!(
            create_protected_dir(&planted).is_err(),
            "an existing folder is never taken over"
        );
        let file = planted.join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(
            dir_untrusted_reason(&file)
                .unwrap()
                .unwrap()
                .contains("is not a folder")
        );
        let fresh = scratch("protected");
        create_protected_dir(&fresh).unwrap();
        assert!(fresh.is_dir());
        let _ = std::fs::remove_dir_all(&planted);
        let _ = std::fs::remove_dir_all(&fresh);
    }
}
