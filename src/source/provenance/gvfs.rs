//! GIO's file metadata as gvfs stores it (`metadata::download-uri`, set by
//! Firefox and GNOME Web on the files they download), read straight from
//! its files so no session bus is needed: a root service has none.
//!
//! Each user's metadata lives under `~/.local/share/gvfs-metadata/`: a
//! tree file per filesystem (`home` for files under the home folder,
//! paths relative to it; `root` for the root filesystem, absolute paths),
//! and a journal of recent changes next to it, `<tree>-<tag>.log`, that
//! the daemon folds into the tree from time to time. Both are big-endian,
//! as gvfs's `metadata/file-format.txt` describes; this reader follows that
//! description and gvfs's own lookup (journal newest first, then the
//! tree). What it cannot read: trees of other mounts, which gvfs names
//! after a device through its D-Bus service.
//!
//! Pure: bytes in, a value out. Every offset is checked; a damaged file
//! reads as "no mark", never as a panic.

/// The key GIO's `metadata::download-uri` is stored under.
pub const DOWNLOAD_URI: &str = "download-uri";

const TREE_MAGIC: &[u8] = b"\xda\x1ameta";
const JOURNAL_MAGIC: &[u8] = b"\xda\x1ajour";
const IS_LIST: u32 = 1 << 31;

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn cstr_at(b: &[u8], at: usize) -> Option<&[u8]> {
    let rest = b.get(at..)?;
    let end = rest.iter().position(|&c| c == 0)?;
    Some(&rest[..end])
}

/// The tag naming the journal that goes with a tree (`<tree>-%08x.log`).
pub fn tree_tag(tree: &[u8]) -> Option<u32> {
    (tree.get(..6)? == TREE_MAGIC && tree.get(6) == Some(&1)).then(|| u32_at(tree, 12))?
}

/// The string value of `key` for `path` (tree-relative, starting with
/// `/`), looking in the journal first (newest entry first), then in the
/// tree.
pub fn lookup(
    tree: Option<&[u8]>,
    journal: Option<&[u8]>,
    path: &str,
    key: &str,
) -> Option<String> {
    let mut path = path.to_string();
    if let Some(j) = journal.filter(|j| journal_matches(j, tree.and_then(tree_tag))) {
        match journal_lookup(j, &path, key) {
            Found::Value(v) => return Some(v),
            Found::Gone => return None,
            Found::Moved(from) => path = from,
            Found::NotHere => {}
        }
    }
    tree_lookup(tree?, &path, key)
}

fn journal_matches(journal: &[u8], tag: Option<u32>) -> bool {
    journal.get(..6) == Some(JOURNAL_MAGIC)
        && journal.get(6) == Some(&1)
        && (tag.is_none() || u32_at(journal, 8) == tag)
}

enum Found {
    Value(String),
    Gone,
    Moved(String),
    NotHere,
}

/// One journal entry: operation, path, and its arguments.
struct Entry<'a> {
    op: u8,
    path: &'a str,
    args: &'a [u8],
}

/// The valid entries, oldest first; stops at the first damaged one.
fn journal_entries(j: &[u8]) -> Vec<Entry<'_>> {
    let count = u32_at(j, 16).unwrap_or(0) as usize;
    let mut out = Vec::new();
    let mut at = 20usize;
    while out.len() < count {
        let Some(size) = u32_at(j, at).map(|s| s as usize) else {
            break;
        };
        let Some(end) = at.checked_add(size).filter(|&e| e <= j.len()) else {
            break;
        };
        if size < 4 + 4 + 8 + 1 + 1 + 4
            || !size.is_multiple_of(4)
            || u32_at(j, end - 4) != Some(size as u32)
        {
            break;
        }
        let body = &j[at + 16..end - 4];
        let op = body[0];
        let Some(path) = cstr_at(body, 1).and_then(|p| std::str::from_utf8(p).ok()) else {
            break;
        };
        out.push(Entry {
            op,
            path,
            args: &body[1 + path.len() + 1..],
        });
        at = end;
    }
    out
}

/// `path` relative to `prefix` when `prefix` is it or one of its parents.
fn under<'p>(path: &'p str, prefix: &str) -> Option<&'p str> {
    let prefix = prefix.trim_end_matches('/');
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

fn journal_lookup(j: &[u8], path: &str, key: &str) -> Found {
    let mut path = path.to_string();
    let mut moved = false;
    for e in journal_entries(j).iter().rev() {
        match e.op {
            // set, setv, unset: only for this very path and key.
            0..=2 if e.path == path => {
                let Some(k) = cstr_at(e.args, 0) else {
                    continue;
                };
                if k != key.as_bytes() {
                    continue;
                }
                return match e.op {
                    0 => cstr_at(e.args, k.len() + 1)
                        .and_then(|v| std::str::from_utf8(v).ok())
                        .map_or(Found::Gone, |v| Found::Value(v.to_string())),
                    _ => Found::Gone,
                };
            }
            // copy: the destination's data came from the source.
            3 => {
                if let Some(rest) = under(&path, e.path)
                    && let Some(src) = cstr_at(e.args, 0).and_then(|s| std::str::from_utf8(s).ok())
                {
                    path = format!("{}{rest}", src.trim_end_matches('/'));
                    moved = true;
                }
            }
            // remove: nothing older counts.
            4 if under(&path, e.path).is_some() => return Found::Gone,
            _ => {}
        }
    }
    if moved {
        Found::Moved(path)
    } else {
        Found::NotHere
    }
}

fn tree_lookup(t: &[u8], path: &str, key: &str) -> Option<String> {
    tree_tag(t)?;
    let root = u32_at(t, 16)? as usize;
    let attributes = u32_at(t, 20)? as usize;
    let n_attr = u32_at(t, attributes)? as usize;
    let key_id = (0..n_attr.min(t.len() / 4)).find(|i| {
        u32_at(t, attributes + 4 + 4 * i)
            .and_then(|o| cstr_at(t, o as usize))
            .is_some_and(|name| name == key.as_bytes())
    })? as u32;
    let mut dirent = root;
    for part in path.split('/').filter(|p| !p.is_empty()) {
        let children = u32_at(t, dirent + 4)? as usize;
        if children == 0 {
            return None;
        }
        let n = u32_at(t, children)? as usize;
        dirent = (0..n.min(t.len() / 16))
            .map(|i| children + 4 + 16 * i)
            .find(|&d| {
                u32_at(t, d)
                    .and_then(|o| cstr_at(t, o as usize))
                    .is_some_and(|name| name == part.as_bytes())
            })?;
    }
    let metadata = u32_at(t, dirent + 8)? as usize;
    if metadata == 0 {
        return None;
    }
    let n = u32_at(t, metadata)? as usize;
    (0..n.min(t.len() / 8)).find_map(|i| {
        let at = metadata + 4 + 8 * i;
        let k = u32_at(t, at)?;
        if k & IS_LIST != 0 || k != key_id {
            return None;
        }
        let v = cstr_at(t, u32_at(t, at + 4)? as usize)?;
        std::str::from_utf8(v).ok().map(str::to_string)
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn be(out: &mut Vec<u8>, v: u32) {
        out.extend(v.to_be_bytes());
    }

    fn pad(out: &mut Vec<u8>) {
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    }

    /// A tree with one file, `/Scaricati/AnyDesk`, holding `download-uri`.
    pub(crate) fn tree(tag: u32, url: &str) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend(TREE_MAGIC);
        t.extend([1, 0]);
        be(&mut t, 0); // rotated
        be(&mut t, tag);
        be(&mut t, 0); // root, patched
        be(&mut t, 0); // attributes, patched
        t.extend(0u64.to_be_bytes());
        let strings: Vec<&str> = vec!["download-uri", "/", "Scaricati", "AnyDesk", url];
        // Strings first, then blocks pointing at them.
        let mut offset = std::collections::HashMap::new();
        for s in &strings {
            offset.insert(*s, t.len() as u32);
            t.extend(s.as_bytes());
            t.push(0);
        }
        pad(&mut t);
        let attrs = t.len() as u32;
        be(&mut t, 1);
        be(&mut t, offset["download-uri"]);
        let meta = t.len() as u32;
        be(&mut t, 1);
        be(&mut t, 0); // key id 0
        be(&mut t, offset[url]);
        let file_dir = t.len() as u32; // children of Scaricati
        be(&mut t, 1);
        for v in [offset["AnyDesk"], 0, meta, 0] {
            be(&mut t, v);
        }
        let home_dir = t.len() as u32; // children of the root
        be(&mut t, 1);
        for v in [offset["Scaricati"], file_dir, 0, 0] {
            be(&mut t, v);
        }
        let root = t.len() as u32;
        for v in [offset["/"], home_dir, 0, 0] {
            be(&mut t, v);
        }
        t[16..20].copy_from_slice(&root.to_be_bytes());
        t[20..24].copy_from_slice(&attrs.to_be_bytes());
        t
    }

    /// A journal of `entries` (op, path, args).
    pub(crate) fn journal(tag: u32, entries: &[(u8, &str, Vec<&str>)]) -> Vec<u8> {
        let mut j = Vec::new();
        j.extend(JOURNAL_MAGIC);
        j.extend([1, 0]);
        be(&mut j, tag);
        be(&mut j, 0); // size, patched
        be(&mut j, entries.len() as u32);
        for (op, path, args) in entries {
            let mut e = Vec::new();
            be(&mut e, 0);
            be(&mut e, 0);
            e.extend(0u64.to_be_bytes());
            e.push(*op);
            e.extend(path.as_bytes());
            e.push(0);
            for a in args {
                e.extend(a.as_bytes());
                e.push(0);
            }
            pad(&mut e);
            let size = e.len() as u32 + 4;
            be(&mut e, size);
            e[..4].copy_from_slice(&size.to_be_bytes());
            j.extend(e);
        }
        let size = j.len() as u32;
        j[12..16].copy_from_slice(&size.to_be_bytes());
        j
    }

    #[test]
    fn the_tree_answers_for_a_file_it_holds() {
        let t = tree(7, "https://get.example/AnyDesk");
        assert_eq!(tree_tag(&t), Some(7));
        assert_eq!(
            lookup(Some(&t), None, "/Scaricati/AnyDesk", DOWNLOAD_URI).as_deref(),
            Some("https://get.example/AnyDesk")
        );
        assert_eq!(
            lookup(Some(&t), None, "/Scaricati/other", DOWNLOAD_URI),
            None
        );
        assert_eq!(
            lookup(Some(&t), None, "/Scaricati/AnyDesk", "other-key"),
            None
        );
    }

    #[test]
    fn the_journal_is_newer_than_the_tree() {
        let t = tree(7, "https://old.example/");
        let j = journal(
            7,
            &[
                (
                    0,
                    "/Scaricati/AnyDesk",
                    vec![DOWNLOAD_URI, "https://new.example/"],
                ),
                (0, "/Scaricati/x", vec![DOWNLOAD_URI, "https://x.example/"]),
            ],
        );
        assert_eq!(
            lookup(Some(&t), Some(&j), "/Scaricati/AnyDesk", DOWNLOAD_URI).as_deref(),
            Some("https://new.example/")
        );
        // Only in the journal (the tree has not been rewritten yet).
        assert_eq!(
            lookup(None, Some(&j), "/Scaricati/x", DOWNLOAD_URI).as_deref(),
            Some("https://x.example/")
        );
        // A journal of another tree generation is ignored.
        let stale = journal(
            8,
            &[(
                0,
                "/Scaricati/AnyDesk",
                vec![DOWNLOAD_URI, "https://stale/"],
            )],
        );
        assert_eq!(
            lookup(Some(&t), Some(&stale), "/Scaricati/AnyDesk", DOWNLOAD_URI).as_deref(),
            Some("https://old.example/")
        );
    }

    #[test]
    fn unset_remove_and_copy_are_followed() {
        let t = tree(1, "https://get.example/AnyDesk");
        let unset = journal(1, &[(2, "/Scaricati/AnyDesk", vec![DOWNLOAD_URI])]);
        assert_eq!(
            lookup(Some(&t), Some(&unset), "/Scaricati/AnyDesk", DOWNLOAD_URI),
            None
        );
        let removed = journal(1, &[(4, "/Scaricati", vec![])]);
        assert_eq!(
            lookup(Some(&t), Some(&removed), "/Scaricati/AnyDesk", DOWNLOAD_URI),
            None
        );
        // Moved to the desktop: the copy keeps the source's data.
        let copied = journal(1, &[(3, "/Scrivania/AnyDesk", vec!["/Scaricati/AnyDesk"])]);
        assert_eq!(
            lookup(Some(&t), Some(&copied), "/Scrivania/AnyDesk", DOWNLOAD_URI).as_deref(),
            Some("https://get.example/AnyDesk")
        );
    }

    #[test]
    fn damaged_files_read_as_no_mark() {
        let t = tree(1, "https://get.example/AnyDesk");
        for cut in [0, 5, 20, 40, t.len() - 3] {
            let _ = lookup(Some(&t[..cut]), None, "/Scaricati/AnyDesk", DOWNLOAD_URI);
        }
        let mut j = journal(1, &[(0, "/a", vec![DOWNLOAD_URI, "u"])]);
        let last = j.len() - 1;
        j[last] ^= 0xff;
        assert_eq!(lookup(None, Some(&j), "/a", DOWNLOAD_URI), None);
        assert_eq!(
            lookup(None, Some(b"\xda\x1ajour"), "/a", DOWNLOAD_URI),
            None
        );
    }
}
