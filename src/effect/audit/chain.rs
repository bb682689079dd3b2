//! The audit log's hash chain: every line carries `prev`, the SHA-256 of
//! the previous line's bytes (without its newline), so a line edited,
//! removed, inserted or moved breaks the chain at that point. The first
//! line of a new log chains to 64 zeros; the first line of a log that was
//! rotated chains to the last line of the file before it.
//!
//! A chain alone does not stop someone who rewrites the whole tail of the
//! file, links included: that is what the chain head is for. The writer
//! sends the head (how many lines, the hash of the last) to syslog, the
//! Event Log and the service log regularly; a file that no longer holds
//! the last head sent was cut or rewritten.
//!
//! Pure but for [`tail`], which reads what an existing log ends with.

use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// What the first line of a new log chains to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// SHA-256 (hex) of one line's bytes, without its newline.
pub fn line_hash(line: &[u8]) -> String {
    format!("{:x}", Sha256::digest(line))
}

/// The lines of a log: split at newlines; a last line without its
/// newline (a write cut short by a crash) counts as a line.
pub fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let empty = bytes.is_empty();
    body.split(|b| *b == b'\n').filter(move |_| !empty)
}

/// Where a log's chain stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Lines in the file.
    pub lines: u64,
    /// Hash of its last line (or of the predecessor's last line, or
    /// [`GENESIS`]): what the next line's `prev` must be.
    pub hash: String,
    /// The file ends in the middle of a line (a crash cut the last write
    /// short): the writer ends that line before adding its own.
    pub torn: bool,
}

/// Where the chain of the log at `path` stands, read from the file; for
/// an empty or missing file, from the file it was rotated to
/// ([`predecessor`]), else the start of a new chain.
pub fn tail(path: &Path) -> io::Result<Head> {
    let bytes = read_or_empty(path)?;
    if let Some(last) = lines(&bytes).last() {
        return Ok(Head {
            lines: lines(&bytes).count() as u64,
            hash: line_hash(last),
            torn: !bytes.ends_with(b"\n"),
        });
    }
    let hash = match predecessor(path) {
        Some(before) => lines(&read_or_empty(&before)?)
            .last()
            .map_or_else(|| GENESIS.to_string(), line_hash),
        None => GENESIS.to_string(),
    };
    Ok(Head {
        lines: 0,
        hash,
        torn: false,
    })
}

fn read_or_empty(path: &Path) -> io::Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The file a log was rotated to, as logrotate names it: `audit.jsonl`
/// → `audit.jsonl.1`, `audit.jsonl.1` → `audit.jsonl.2`. Only if it
/// exists.
pub fn predecessor(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let next = match name.rsplit_once('.') {
        Some((stem, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{stem}.{}", n.parse::<u64>().ok()? + 1)
        }
        _ => format!("{name}.1"),
    };
    let p = path.with_file_name(next);
    p.is_file().then_some(p)
}

/// One file to check, oldest first.
pub struct Checked<'a> {
    /// How messages name it.
    pub name: &'a str,
    /// Its bytes.
    pub bytes: &'a [u8],
}

/// What a check of an intact chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intact {
    /// Lines carrying a link, all checked.
    pub records: u64,
    /// Lines passed through: written before the chain existed (at the
    /// start of the oldest file) or cut short by a crash.
    pub unchained: u64,
    /// How the oldest file's chain starts.
    pub start: Start,
    /// The hash of the last line: compare it with the last `chain_head`
    /// the log collector received.
    pub head: Option<String>,
    /// Lines in the last file.
    pub last_file_lines: u64,
}

/// How a chain starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// From 64 zeros: a new log.
    New,
    /// From the last line of the file given before it (checked).
    After(String),
    /// After lines written before the chain existed.
    AfterUnchained,
    /// From the last line of an earlier file that was not given: that
    /// link is not checked.
    Unchecked,
    /// No line carries a link.
    Empty,
}

/// Where and why the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: line {line}: {why}")]
pub struct Broken {
    /// The file.
    pub file: String,
    /// The first line (1-based) where the chain does not hold.
    pub line: u64,
    /// What is wrong, in words.
    pub why: String,
}

/// Checks `files` (oldest first) as one chain. `before` is the hash of
/// the last line of the file before the first one, when it is known.
pub fn verify(files: &[Checked<'_>], before: Option<(&str, String)>) -> Result<Intact, Broken> {
    let mut expected: Option<String> = None;
    let mut previous_line: Option<(String, u64)> = None;
    let mut start = Start::Empty;
    let (mut records, mut unchained, mut last_lines) = (0, 0, 0);
    let mut head = None;
    for file in files {
        last_lines = 0;
        for (i, line) in lines(file.bytes).enumerate() {
            let n = i as u64 + 1;
            last_lines = n;
            let hash = line_hash(line);
            let broken = |why: String| Broken {
                file: file.name.to_string(),
                line: n,
                why,
            };
            match link(line) {
                Link::NotARecord => unchained += 1,
                Link::Missing if expected.is_none() => unchained += 1,
                Link::Missing => {
                    return Err(broken(
                        "it has no `prev` (every record the daemon writes has one): it was edited or inserted".into(),
                    ));
                }
                Link::Prev(prev) => {
                    match &expected {
                        Some(e) if *e == prev => {
                            if start == Start::Empty {
                                start = Start::AfterUnchained;
                            }
                        }
                        Some(_) => {
                            let (pfile, pline) = previous_line.clone().unwrap_or_default();
                            let here = if pfile == file.name {
                                format!("line {pline}")
                            } else {
                                format!("line {pline} of {pfile}")
                            };
                            return Err(broken(format!(
                                "its prev is not the SHA-256 of {here}: {here} or this line was edited, or lines were removed, inserted or moved between them"
                            )));
                        }
                        // The very first line of all.
                        None => match &before {
                            Some((name, h)) if *h == prev => start = Start::After(name.to_string()),
                            Some((name, _)) => {
                                return Err(broken(format!(
                                    "its prev is not the SHA-256 of the last line of {name}: the end of {name} or the start of this file was changed"
                                )));
                            }
                            None if prev == GENESIS => start = Start::New,
                            None => start = Start::Unchecked,
                        },
                    }
                    records += 1;
                }
            }
            expected = Some(hash.clone());
            previous_line = Some((file.name.to_string(), n));
            head = Some(hash);
        }
    }
    Ok(Intact {
        records,
        unchained,
        start,
        head,
        last_file_lines: last_lines,
    })
}

/// What a line says about its link.
enum Link {
    /// Not a JSON object: a line cut short by a crash.
    NotARecord,
    /// A record without `prev`.
    Missing,
    /// The record's `prev`.
    Prev(String),
}

fn link(line: &[u8]) -> Link {
    match serde_json::from_slice::<serde_json::Value>(line) {
        Ok(serde_json::Value::Object(map)) => match map.get("prev") {
            Some(serde_json::Value::String(p)) => Link::Prev(p.clone()),
            _ => Link::Missing,
        },
        _ => Link::NotARecord,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chained log of `n` lines, as the writer makes it.
    fn log(n: usize, first_prev: &str) -> Vec<String> {
        let mut prev = first_prev.to_string();
        (0..n)
            .map(|i| {
                let line = format!("{{\"event\":\"blocked\",\"pid\":{i},\"prev\":\"{prev}\"}}");
                prev = line_hash(line.as_bytes());
                line
            })
            .collect()
    }

    fn check(lines: &[String]) -> Result<Intact, Broken> {
        let text = format!("{}\n", lines.join("\n"));
        verify(
            &[Checked {
                name: "audit.jsonl",
                bytes: text.as_bytes(),
            }],
            None,
        )
    }

    #[test]
    fn an_intact_log_verifies_and_gives_its_head() {
        let l = log(5, GENESIS);
        let ok = check(&l).unwrap();
        assert_eq!(ok.records, 5);
        assert_eq!(ok.start, Start::New);
        assert_eq!(ok.head, Some(line_hash(l[4].as_bytes())));
    }

    #[test]
    fn each_kind_of_tampering_names_its_line() {
        let l = log(6, GENESIS);
        let mut edited = l.clone();
        edited[2] = edited[2].replace("\"pid\":2", "\"pid\":9");
        assert_eq!(check(&edited).unwrap_err().line, 4);
        let mut deleted = l.clone();
        deleted.remove(2);
        assert_eq!(check(&deleted).unwrap_err().line, 3);
        let mut swapped = l.clone();
        swapped.swap(2, 3);
        assert_eq!(check(&swapped).unwrap_err().line, 3);
        let mut inserted = l.clone();
        let forged = format!(
            "{{\"event\":\"allowed\",\"prev\":\"{}\"}}",
            line_hash(l[1].as_bytes())
        );
        inserted.insert(2, forged);
        assert_eq!(check(&inserted).unwrap_err().line, 4);
        let mut unlinked = l.clone();
        unlinked.insert(2, "{\"event\":\"allowed\"}".into());
        assert_eq!(check(&unlinked).unwrap_err().line, 3);
        let mut first = l.clone();
        first.remove(0);
        assert_eq!(
            check(&first).unwrap().start,
            Start::Unchecked,
            "a file may continue one not given"
        );
    }

    #[test]
    fn a_line_cut_short_by_a_crash_is_passed_through() {
        let mut l = log(2, GENESIS);
        let torn = "{\"event\":\"blo".to_string();
        let next = format!(
            "{{\"event\":\"started\",\"prev\":\"{}\"}}",
            line_hash(torn.as_bytes())
        );
        l.push(torn);
        l.push(next);
        let ok = check(&l).unwrap();
        assert_eq!((ok.records, ok.unchained), (3, 1));
    }

    #[test]
    fn a_rotated_log_chains_to_the_file_before_it() {
        let old = log(3, GENESIS);
        let new = log(2, &line_hash(old[2].as_bytes()));
        let (a, b) = (
            format!("{}\n", old.join("\n")),
            format!("{}\n", new.join("\n")),
        );
        let files = [
            Checked {
                name: "audit.jsonl.1",
                bytes: a.as_bytes(),
            },
            Checked {
                name: "audit.jsonl",
                bytes: b.as_bytes(),
            },
        ];
        let ok = verify(&files, None).unwrap();
        assert_eq!((ok.records, ok.last_file_lines), (5, 2));
        let before = ("audit.jsonl.1", line_hash(old[2].as_bytes()));
        assert_eq!(
            verify(&files[1..], Some(before)).unwrap().start,
            Start::After("audit.jsonl.1".into())
        );
        let wrong = ("audit.jsonl.1", line_hash(old[1].as_bytes()));
        assert_eq!(verify(&files[1..], Some(wrong)).unwrap_err().line, 1);
    }

    #[test]
    fn tail_reads_the_last_line_or_the_rotated_file() {
        let dir = std::env::temp_dir().join(format!("varco-chain-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log_path = dir.join("audit.jsonl");
        assert_eq!(tail(&log_path).unwrap().hash, GENESIS);
        std::fs::write(dir.join("audit.jsonl.1"), "a\nb\n").unwrap();
        assert_eq!(tail(&log_path).unwrap().hash, line_hash(b"b"));
        std::fs::write(&log_path, "c\nd").unwrap();
        let h = tail(&log_path).unwrap();
        assert_eq!((h.lines, h.hash, h.torn), (2, line_hash(b"d"), true));
        assert_eq!(
            predecessor(&dir.join("audit.jsonl.1")),
            None,
            "no audit.jsonl.2"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
