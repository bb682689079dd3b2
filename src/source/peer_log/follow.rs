//! Following a log file as it is written: new complete lines since the
//! last look, surviving rotation (a new file under the same name) and
//! truncation. Polled; never blocks on a file that does not grow.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The most read from one file in one look: a log written in a burst is
/// caught up over a few looks rather than stalling the others.
const MAX_CHUNK: u64 = 1024 * 1024;

/// How many of a file's first bytes tell it apart from the file that
/// replaces it under the same name: a log's first line carries a time.
const HEAD: usize = 64;

/// One followed file.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    offset: u64,
    /// (device, inode) where the system has them.
    identity: Option<(u64, u64)>,
    /// The file's first bytes, up to [`HEAD`]: what tells a rotated file
    /// where no stable file id is at hand. Creation time cannot: Wine
    /// reports the inode's change time as creation time, which every
    /// write moves.
    head: Vec<u8>,
    partial: Vec<u8>,
}

impl Follower {
    /// Follows `path` from its current end (`from_end`) or from its start
    /// (a file that appeared after the tool started).
    pub fn new(path: &Path, from_end: bool) -> io::Result<Follower> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        let offset = if from_end { meta.len() } else { 0 };
        let head = read_head(&mut file, offset)?;
        Ok(Follower {
            path: path.to_path_buf(),
            offset,
            identity: identity(&meta),
            head,
            partial: Vec::new(),
        })
    }

    /// The file followed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The complete lines written since the last call.
    pub fn poll(&mut self) -> io::Result<Vec<String>> {
        let mut f = File::open(&self.path)?;
        let meta = f.metadata()?;
        let replaced = identity(&meta) != self.identity
            || meta.len() < self.offset
            || read_head(&mut f, self.head.len() as u64)? != self.head;
        if replaced {
            // Rotated or truncated: the new content starts at 0.
            self.identity = identity(&meta);
            self.offset = 0;
            self.head.clear();
            self.partial.clear();
        }
        if meta.len() == self.offset {
            return Ok(Vec::new());
        }
        f.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        (&mut f).take(MAX_CHUNK).read_to_end(&mut buf)?;
        self.offset += buf.len() as u64;
        if self.head.len() < HEAD {
            self.head = read_head(&mut f, self.offset)?;
        }
        self.partial.extend(buf);
        let mut lines = Vec::new();
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            lines.push(String::from_utf8_lossy(&line).into_owned());
        }
        // A line longer than a chunk is not a log line worth keeping whole.
        if self.partial.len() as u64 > MAX_CHUNK {
            self.partial.clear();
        }
        Ok(lines)
    }
}

/// The first bytes of `file`, no more than [`HEAD`] and no more than the
/// `upto` already followed.
fn read_head(file: &mut File, upto: u64) -> io::Result<Vec<u8>> {
    let want = upto.min(HEAD as u64);
    let mut head = Vec::with_capacity(HEAD);
    file.seek(SeekFrom::Start(0))?;
    file.take(want).read_to_end(&mut head)?;
    Ok(head)
}

#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn identity(_meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn new_lines_only_whole_and_across_rotation_and_truncation() {
        let dir = std::env::temp_dir().join(format!("varco-follow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("ad.trace");
        std::fs::write(&p, "old line\n").unwrap();
        let mut f = Follower::new(&p, true).unwrap();
        assert!(f.poll().unwrap().is_empty());
        let mut w = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        w.write_all(b"one\ntw").unwrap();
        assert_eq!(f.poll().unwrap(), ["one\n"]);
        w.write_all(b"o\n").unwrap();
        assert_eq!(f.poll().unwrap(), ["two\n"]);
        // Truncated in place.
        std::fs::write(&p, "three\n").unwrap();
        assert_eq!(f.poll().unwrap(), ["three\n"]);
        // Rotated: the writer closes the file, renames it away and starts
        // a new one under the name (Windows renames no file its writer
        // still holds open without delete sharing).
        drop(w);
        std::fs::rename(&p, dir.join("ad.trace.old")).unwrap();
        std::fs::write(&p, "four\n").unwrap();
        assert_eq!(f.poll().unwrap(), ["four\n"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
