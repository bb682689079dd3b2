//! Following a log file as it is written: new complete lines since the
//! last look, surviving rotation (a new file under the same name) and
//! truncation. Polled; never blocks on a file that does not grow.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The most read from one file in one look: a log written in a burst is
/// caught up over a few looks rather than stalling the others.
const MAX_CHUNK: u64 = 1024 * 1024;

/// One followed file.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    offset: u64,
    identity: Option<(u64, u64)>,
    partial: Vec<u8>,
}

impl Follower {
    /// Follows `path` from its current end (`from_end`) or from its start
    /// (a file that appeared after the tool started).
    pub fn new(path: &Path, from_end: bool) -> io::Result<Follower> {
        let meta = std::fs::metadata(path)?;
        Ok(Follower {
            path: path.to_path_buf(),
            offset: if from_end { meta.len() } else { 0 },
            identity: identity(&meta),
            partial: Vec::new(),
        })
    }

    /// The file followed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The complete lines written since the last call.
    pub fn poll(&mut self) -> io::Result<Vec<String>> {
        let meta = std::fs::metadata(&self.path)?;
        if identity(&meta) != self.identity || meta.len() < self.offset {
            // Rotated or truncated: the new content starts at 0.
            self.identity = identity(&meta);
            self.offset = 0;
            self.partial.clear();
        }
        if meta.len() == self.offset {
            return Ok(Vec::new());
        }
        let mut f = File::open(&self.path)?;
        f.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        f.take(MAX_CHUNK).read_to_end(&mut buf)?;
        self.offset += buf.len() as u64;
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

#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn identity(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    // No stable file id through std here: creation time tells a rotated
    // file apart.
    meta.created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| (d.as_secs(), u64::from(d.subsec_nanos())))
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
