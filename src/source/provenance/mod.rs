//! Where a remote tool's executable came from, read from the file's own
//! marks when it starts: the fact a window's `installed_only` weighs, and
//! the `origin` URL the audit record and the incident report carry.
//!
//! - Windows: the `Zone.Identifier` alternate data stream ([`zone`]).
//! - Linux: the `user.xdg.origin.url` extended attribute (Chromium and
//!   browsers built on it write it; so does GIO when asked), then GIO's
//!   `metadata::download-uri` in the owner's gvfs metadata ([`gvfs`]:
//!   Firefox and GNOME Web set it), read from the files, with no session
//!   bus.
//! - Everywhere: whether the file sits in Downloads, Desktop or a
//!   temporary folder ([`UserPlace`]).
//!
//! Only asked about processes already identified as remote tools, so the
//! cost is paid rarely. An unreadable mark is no mark: the place still
//! counts, and a window with `installed_only` admits only what is known
//! to be installed.

pub mod gvfs;
pub mod zone;

use std::path::{Path, PathBuf};

use crate::facts::{ProcessFacts, Provenance, UserPlace};

/// The provenance of `facts`'s executable, read by path; `None` when the
/// process has no readable executable path.
pub fn of_process(facts: &ProcessFacts) -> Option<Provenance> {
    let exe = facts.exe.as_deref()?;
    Some(of_file(exe, None, home_of(facts)))
}

/// As [`of_process`], reading the Linux attribute through `open`, the
/// descriptor the source holds (never re-opened by path).
pub fn of_open_file(facts: &ProcessFacts, open: &std::fs::File) -> Option<Provenance> {
    let exe = facts.exe.as_deref()?;
    Some(of_file(exe, Some(open), home_of(facts)))
}

/// The `HOME` the process runs with (Linux): the desktop's file metadata
/// of whoever started it is kept there.
fn home_of(facts: &ProcessFacts) -> Option<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        super::procfs::environ_home(facts.pid)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = facts;
        None
    }
}

/// The marks and the place of the file at `exe`; `home` is the folder
/// whose desktop metadata is consulted first (besides the accounts').
pub fn of_file(exe: &Path, open: Option<&std::fs::File>, home: Option<PathBuf>) -> Provenance {
    let place = UserPlace::of(&exe.to_string_lossy());
    let (origin, downloaded) = marks(exe, open, home);
    Provenance {
        origin,
        downloaded,
        place,
    }
}

#[cfg(target_os = "linux")]
fn marks(
    exe: &Path,
    open: Option<&std::fs::File>,
    home: Option<PathBuf>,
) -> (Option<String>, bool) {
    use std::os::fd::AsFd;
    const ORIGIN: &str = "user.xdg.origin.url";
    let attr = match open {
        Some(f) => crate::sys::fxattr(f.as_fd(), ORIGIN),
        None => crate::sys::xattr(exe, ORIGIN),
    };
    let origin = attr
        .and_then(|v| String::from_utf8(v).ok())
        .map(|s| s.trim_end_matches('\0').to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| gio_download_uri(exe, home));
    let downloaded = origin.is_some();
    (origin, downloaded)
}

#[cfg(windows)]
fn marks(
    exe: &Path,
    _open: Option<&std::fs::File>,
    _home: Option<PathBuf>,
) -> (Option<String>, bool) {
    let mut stream = exe.as_os_str().to_owned();
    stream.push(":Zone.Identifier");
    match std::fs::read(PathBuf::from(stream)) {
        Ok(bytes) => {
            let mark = zone::parse(&bytes);
            (mark.host_url.clone(), mark.is_download())
        }
        Err(_) => (None, false),
    }
}

#[cfg(not(any(target_os = "linux", windows)))]
fn marks(
    _exe: &Path,
    _open: Option<&std::fs::File>,
    _home: Option<PathBuf>,
) -> (Option<String>, bool) {
    (None, false)
}

/// GIO's `metadata::download-uri` for `exe`, from the gvfs metadata of
/// the home folder that holds it (tree `home`: the process's own `HOME`,
/// then the accounts'), else of the file's owner for the root filesystem
/// (tree `root`).
#[cfg(target_os = "linux")]
fn gio_download_uri(exe: &Path, home: Option<PathBuf>) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let mut homes = homes(&passwd);
    if let Some(h) = home.and_then(|h| h.to_str().map(|s| s.trim_end_matches('/').to_string())) {
        homes.push((u32::MAX, h));
    }
    let text = exe.to_string_lossy();
    let holder = homes
        .iter()
        .filter(|(_, home)| home.len() > 1 && under(&text, home).is_some())
        .max_by_key(|(_, home)| home.len());
    if let Some((_, home)) = holder {
        let rel = under(&text, home)?;
        if let Some(url) = read_tree(Path::new(home), "home", rel) {
            return Some(url);
        }
    }
    let owner = std::fs::metadata(exe).ok()?.uid();
    let (_, home) = homes.iter().find(|(uid, _)| *uid == owner)?;
    read_tree(Path::new(home), "root", &text)
}

#[cfg(target_os = "linux")]
fn read_tree(home: &Path, name: &str, path: &str) -> Option<String> {
    /// gvfs files are small; anything larger is not one.
    const MAX: u64 = 64 * 1024 * 1024;
    let dir = home.join(".local/share/gvfs-metadata");
    let read = |p: PathBuf| -> Option<Vec<u8>> {
        let f = std::fs::File::open(&p).ok()?;
        if f.metadata().ok()?.len() > MAX {
            return None;
        }
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX), &mut out).ok()?;
        Some(out)
    };
    let tree = read(dir.join(name));
    let journal = tree
        .as_deref()
        .and_then(gvfs::tree_tag)
        .and_then(|tag| read(dir.join(format!("{name}-{tag:08x}.log"))))
        .or_else(|| {
            // No tree yet: the daemon has written only a journal.
            std::fs::read_dir(&dir)
                .ok()?
                .flatten()
                .map(|e| e.path())
                .find(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&format!("{name}-")) && n.ends_with(".log"))
                })
                .and_then(read)
        });
    gvfs::lookup(
        tree.as_deref(),
        journal.as_deref(),
        path,
        gvfs::DOWNLOAD_URI,
    )
}

/// Each account's uid and home folder, from `/etc/passwd`'s text.
#[cfg(any(target_os = "linux", test))]
fn homes(passwd: &str) -> Vec<(u32, String)> {
    passwd
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((
                f.get(2)?.parse().ok()?,
                f.get(5)?.trim_end_matches('/').to_string(),
            ))
        })
        .filter(|(_, home)| home.starts_with('/'))
        .collect()
}

/// `path` relative to `dir` (starting with `/`) when `dir` holds it.
#[cfg(any(target_os = "linux", test))]
fn under<'p>(path: &'p str, dir: &str) -> Option<&'p str> {
    let rest = path.strip_prefix(dir)?;
    rest.starts_with('/').then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homes_come_from_passwd_and_hold_paths_by_folder() {
        let h =
            homes("root:x:0:0:root:/root:/bin/bash\nop:x:1000:1000::/home/op/:/bin/sh\nbad line\n");
        assert_eq!(
            h,
            [(0, "/root".to_string()), (1000, "/home/op".to_string())]
        );
        assert_eq!(
            under("/home/op/Scaricati/x", "/home/op"),
            Some("/Scaricati/x")
        );
        assert_eq!(under("/home/opera/x", "/home/op"), None);
    }
}
