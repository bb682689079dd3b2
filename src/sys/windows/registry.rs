//! The machine-wide registry values varco sets at install: the agent's
//! logon entry and the Event Log source.

use std::io;

use windows_sys::Win32::System::Registry::{
    HKEY_LOCAL_MACHINE, REG_DWORD, REG_EXPAND_SZ, REG_SZ, RegDeleteKeyValueW, RegDeleteTreeW,
    RegSetKeyValueW,
};

use super::wide;

/// A value to store.
pub enum RegValue<'a> {
    /// A string.
    Text(&'a str),
    /// A string with `%VARIABLES%` expanded by its reader.
    ExpandText(&'a str),
    /// A 32-bit number.
    Number(u32),
}

/// Sets `HKLM\<key>\<name>`, creating the key if needed.
pub fn set_machine_value(key: &str, name: &str, value: RegValue) -> io::Result<()> {
    let key_w = wide(std::ffi::OsStr::new(key));
    let name_w = wide(std::ffi::OsStr::new(name));
    let (kind, bytes): (u32, Vec<u8>) = match value {
        RegValue::Text(t) | RegValue::ExpandText(t) => {
            let kind = if matches!(value, RegValue::Text(_)) {
                REG_SZ
            } else {
                REG_EXPAND_SZ
            };
            let w = wide(std::ffi::OsStr::new(t));
            (kind, w.iter().flat_map(|c| c.to_le_bytes()).collect())
        }
        RegValue::Number(n) => (REG_DWORD, n.to_le_bytes().to_vec()),
    };
    // SAFETY: key and name are NUL-terminated; `bytes` holds exactly
    // `bytes.len()` bytes of the declared type (strings include their NUL).
    let rc = unsafe {
        RegSetKeyValueW(
            HKEY_LOCAL_MACHINE,
            key_w.as_ptr(),
            name_w.as_ptr(),
            kind,
            bytes.as_ptr().cast(),
            bytes.len() as u32,
        )
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc as i32));
    }
    Ok(())
}

/// Removes `HKLM\<key>\<name>`; a value already absent is fine.
pub fn delete_machine_value(key: &str, name: &str) -> io::Result<()> {
    let key_w = wide(std::ffi::OsStr::new(key));
    let name_w = wide(std::ffi::OsStr::new(name));
    // SAFETY: both strings are NUL-terminated.
    let rc = unsafe { RegDeleteKeyValueW(HKEY_LOCAL_MACHINE, key_w.as_ptr(), name_w.as_ptr()) };
    match rc {
        0 | 2 => Ok(()), // 2: ERROR_FILE_NOT_FOUND
        _ => Err(io::Error::from_raw_os_error(rc as i32)),
    }
}

/// Removes `HKLM\<key>` and everything under it; an absent key is fine.
pub fn delete_machine_key(key: &str) -> io::Result<()> {
    let key_w = wide(std::ffi::OsStr::new(key));
    // SAFETY: the string is NUL-terminated.
    let rc = unsafe { RegDeleteTreeW(HKEY_LOCAL_MACHINE, key_w.as_ptr()) };
    match rc {
        0 | 2 => Ok(()),
        _ => Err(io::Error::from_raw_os_error(rc as i32)),
    }
}
