//! Who may change a file, judged from a Windows access list.
//!
//! A varco service running as LocalSystem must refuse an approved-windows
//! file that a non-administrator can change: otherwise the operator (or a
//! caller talking them through it) could open a window. The OS layer
//! (`sys::windows`) reads the owner and the access entries; this module,
//! pure and platform-neutral so it is tested everywhere, says whether they
//! let anyone but SYSTEM, Administrators or TrustedInstaller write.

#![forbid(unsafe_code)]

/// LocalSystem, the account the service runs as.
pub const SYSTEM: &str = "S-1-5-18";
/// The local Administrators group.
pub const ADMINISTRATORS: &str = "S-1-5-32-544";
/// The TrustedInstaller service (owns system files).
pub const TRUSTED_INSTALLER: &str =
    "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464";
/// CREATOR OWNER: a placeholder that only matters for inheritance.
const CREATOR_OWNER: &str = "S-1-3-0";

/// `ACCESS_ALLOWED_ACE_TYPE`.
pub const ACCESS_ALLOWED: u8 = 0;
/// `INHERIT_ONLY_ACE`: the entry applies to children, not to this object.
pub const INHERIT_ONLY: u8 = 0x08;

/// Rights that let a holder change what varco reads: write or append the
/// file (or add files to the folder), delete it or a child, rewrite its
/// access list or take ownership, and the generic rights that include
/// those.
pub const WRITE_RIGHTS: u32 = 0x0002 // FILE_WRITE_DATA / FILE_ADD_FILE
    | 0x0004 // FILE_APPEND_DATA / FILE_ADD_SUBDIRECTORY
    | 0x0040 // FILE_DELETE_CHILD
    | 0x0001_0000 // DELETE
    | 0x0004_0000 // WRITE_DAC
    | 0x0008_0000 // WRITE_OWNER
    | 0x1000_0000 // GENERIC_ALL
    | 0x4000_0000; // GENERIC_WRITE

/// One access-control entry as the OS layer read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ace {
    /// `ACE_HEADER.AceType`.
    pub kind: u8,
    /// `ACE_HEADER.AceFlags`.
    pub flags: u8,
    /// The rights granted.
    pub mask: u32,
    /// The trustee, as a string SID (`S-1-5-32-545`).
    pub sid: String,
}

/// What the OS layer read from a file's security descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    /// The owner (who can always rewrite the access list).
    pub owner: Option<String>,
    /// The access list; `None` is a NULL DACL: everyone has full access.
    pub dacl: Option<Vec<Ace>>,
}

/// Whether `sid` is an account a non-administrator cannot act as.
pub fn is_trusted(sid: &str) -> bool {
    [SYSTEM, ADMINISTRATORS, TRUSTED_INSTALLER].contains(&sid)
}

/// A readable name for the SIDs an IT person meets in these messages.
pub fn sid_name(sid: &str) -> String {
    let name = match sid {
        "S-1-1-0" => "Everyone",
        "S-1-5-11" => "Authenticated Users",
        "S-1-5-32-545" => "Users",
        "S-1-5-4" => "INTERACTIVE",
        "S-1-5-32-547" => "Power Users",
        "S-1-5-32-546" => "Guests",
        "S-1-3-4" => "OWNER RIGHTS",
        SYSTEM => "SYSTEM",
        ADMINISTRATORS => "Administrators",
        _ => return sid.to_string(),
    };
    format!("{name} ({sid})")
}

/// Why `what` (a file or folder named in the message) cannot be trusted,
/// or `None` when only SYSTEM, Administrators and TrustedInstaller can
/// change it.
pub fn untrusted_writers(what: &str, sec: &Security) -> Option<String> {
    if let Some(owner) = &sec.owner
        && !is_trusted(owner)
    {
        return Some(format!(
            "{what} is owned by {}, who can change its permissions; make Administrators the owner",
            sid_name(owner)
        ));
    }
    let Some(dacl) = &sec.dacl else {
        return Some(format!(
            "{what} has no access list (everyone can change it)"
        ));
    };
    let writers: Vec<String> = dacl
        .iter()
        .filter(|a| a.kind == ACCESS_ALLOWED && a.flags & INHERIT_ONLY == 0)
        .filter(|a| a.mask & WRITE_RIGHTS != 0)
        .filter(|a| !is_trusted(&a.sid) && a.sid != CREATOR_OWNER)
        .map(|a| sid_name(&a.sid))
        .collect();
    if writers.is_empty() {
        None
    } else {
        Some(format!(
            "{what} can be changed by {} (non-administrators)",
            writers.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ace(sid: &str, mask: u32, flags: u8) -> Ace {
        Ace {
            kind: ACCESS_ALLOWED,
            flags,
            mask,
            sid: sid.into(),
        }
    }

    /// The ACL install.ps1 writes: full control for SYSTEM and
    /// Administrators, read for Users.
    fn protected() -> Security {
        Security {
            owner: Some(ADMINISTRATORS.into()),
            dacl: Some(vec![
                ace(SYSTEM, 0x1F01FF, 0),
                ace(ADMINISTRATORS, 0x1F01FF, 0),
                ace("S-1-5-32-545", 0x1200A9, 0),
            ]),
        }
    }

    #[test]
    fn the_installed_acl_is_trusted() {
        assert_eq!(untrusted_writers("f", &protected()), None);
    }

    #[test]
    fn users_with_modify_are_named() {
        let mut s = protected();
        s.dacl.as_mut().unwrap().push(ace("S-1-5-11", 0x1301BF, 0));
        let why = untrusted_writers("C:\\ProgramData\\varco", &s).unwrap();
        assert!(why.contains("Authenticated Users (S-1-5-11)"), "{why}");
    }

    #[test]
    fn programdata_default_add_file_right_is_a_write() {
        // %ProgramData% lets Users create files in new subfolders: a user
        // could then create the windows file before IT does.
        let mut s = protected();
        s.dacl.as_mut().unwrap().push(ace("S-1-5-32-545", 0x2, 0));
        assert!(untrusted_writers("d", &s).is_some());
    }

    #[test]
    fn inherit_only_and_deny_entries_do_not_grant() {
        let mut s = protected();
        let d = s.dacl.as_mut().unwrap();
        d.push(ace("S-1-1-0", 0x1F01FF, INHERIT_ONLY));
        d.push(Ace {
            kind: 1,
            flags: 0,
            mask: 0x1F01FF,
            sid: "S-1-1-0".into(),
        });
        d.push(ace(CREATOR_OWNER, 0x1F01FF, 0));
        assert_eq!(untrusted_writers("f", &s), None);
    }

    #[test]
    fn a_user_owner_or_a_null_dacl_is_untrusted() {
        let mut s = protected();
        s.owner = Some("S-1-5-21-1-2-3-1001".into());
        assert!(untrusted_writers("f", &s).unwrap().contains("owned by"));
        let null = Security {
            owner: Some(SYSTEM.into()),
            dacl: None,
        };
        assert!(
            untrusted_writers("f", &null)
                .unwrap()
                .contains("no access list")
        );
    }

    #[test]
    fn read_only_rights_for_everyone_are_fine() {
        let mut s = protected();
        s.dacl.as_mut().unwrap().push(ace("S-1-1-0", 0x1200A9, 0));
        assert_eq!(untrusted_writers("f", &s), None);
    }
}
