//! Facts about a live process, read from `/proc` (Linux event sources).
//!
//! Event sources learn only a pid from the kernel; this is where the pid
//! becomes [`ProcessFacts`]. Reading is split so a source can stop early:
//! the cheap names first (enough to know whether the catalog cares), the
//! rest only for the few processes it does.
//!
//! The command line is read only where it decides something: when the
//! executable is a loader or an interpreter, or cannot be named (a path
//! longer than a page), and for the record of a tool. Reading
//! `/proc/PID/cmdline` takes the process's memory-map lock, which a
//! program that has just been executed needs to map its libraries: doing
//! it for every exec on the machine measurably slowed every exec.

use std::fs::File;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::launch::{self, ExeLink, Launch, Mapping};
use crate::facts::{ProcessFacts, file_name_of};
use crate::sys;

/// What identification needs before [`program_of`] adds the executable
/// (and, where it matters, the command line): the kernel's short name.
/// `None` when the process already exited.
pub fn names_of(pid: u32) -> Option<ProcessFacts> {
    use std::io::Read;
    // One read into a buffer: the kernel's name is at most 15 bytes and a
    // newline (done for every exec on the machine).
    let mut buf = [0u8; 64];
    let n = File::open(format!("/proc/{pid}/comm"))
        .ok()?
        .read(&mut buf)
        .ok()?;
    let name = String::from_utf8_lossy(&buf[..n]).trim_end().to_string();
    Some(ProcessFacts {
        pid,
        parent_pid: None,
        start_marker: 0,
        name,
        exe: None,
        cmdline: Vec::new(),
        uid: None,
        user: None,
    })
}

/// Reads the command line of a process that has executed its program
/// (post-exec sources), when it was not read to decide: for the record
/// of a tool. Never for a pending exec (fanotify): that is still the old
/// program's, and its memory map is the parent's during a vfork.
pub fn add_cmdline(facts: &mut ProcessFacts) {
    if facts.cmdline.is_empty() {
        facts.cmdline = cmdline_of(facts.pid);
    }
}

/// The command line of `pid` (argv\[0\] first); empty when it is gone.
fn cmdline_of(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// The program a running process runs, open for reading: what
/// identification reads instead of any path.
#[derive(Debug)]
pub struct Program {
    /// The executable (`/proc/PID/exe` opened once), or the program a
    /// loader or interpreter was asked to run (opened through the
    /// process's own root or working folder, so another mount namespace
    /// or a path longer than `PATH_MAX` makes no difference).
    pub file: File,
    /// True for a script an interpreter runs (searched for markers
    /// whatever its format).
    pub script: bool,
    /// For a loader launch: the files the loader actually mapped as code
    /// (besides itself and system libraries), opened through
    /// `/proc/PID/map_files/`. The program is opened by its path a moment
    /// after the exec, and a file swapped at that path after the loader
    /// opened it would be judged in its place: these are judged too.
    pub mapped: Mapped,
}

/// Makes `facts` name the program that runs in its process, and opens it.
///
/// The executable comes from `/proc/PID/exe`, opened once: a memfd is
/// named by the name it was created with (`facts.name`; its executable
/// field keeps the kernel's `/memfd:NAME (deleted)`), a deleted file by
/// the path it had. When the executable is the dynamic loader or an
/// interpreter ([`launch::of`]), the program or script it was asked to run
/// becomes `facts.exe` and is the file opened. `None` when the process's
/// executable cannot be opened (it exited, a kernel thread, or varco lacks
/// the right): the caller judges the facts it has.
pub fn program_of(facts: &mut ProcessFacts, moment: Moment) -> Option<Program> {
    let pid = facts.pid;
    let exe = File::open(format!("/proc/{pid}/exe")).ok()?;
    let link = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    let text = link.as_deref().and_then(Path::to_str);
    // ENAMETOOLONG for a path longer than a page: no name from the
    // executable, the command line and the kernel's name remain.
    facts.exe = None;
    if let Some(text) = text {
        match ExeLink::parse(text) {
            ExeLink::Memfd(name) => {
                facts.name = name.to_string();
                facts.exe = Some(PathBuf::from(text));
            }
            ExeLink::Deleted(p) | ExeLink::Path(p) => facts.exe = Some(PathBuf::from(p)),
        }
    } else if let Some(link) = &link {
        facts.exe = Some(link.clone());
    }
    let exe_text = text.map(|t| ExeLink::parse(t).path()).unwrap_or_default();
    if facts.cmdline.is_empty() && (text.is_none() || launch::may_launch(exe_text)) {
        facts.cmdline = cmdline_of(pid);
    }
    let by_name = launch::of(exe_text, &facts.cmdline);
    let launch = if by_name == Launch::Direct && loader_by_content(&exe) {
        // A loader copied under another name (or into a folder whose name
        // is not text) is still a loader: told by its header.
        if facts.cmdline.is_empty() {
            facts.cmdline = cmdline_of(pid);
        }
        launch::as_loader(&facts.cmdline)
    } else {
        by_name
    };
    let (path, script) = match launch {
        Launch::Direct => {
            return Some(Program {
                file: exe,
                script: false,
                mapped: Mapped::default(),
            });
        }
        Launch::Loader(p) => (p.to_string(), false),
        Launch::Script(p) => (p.to_string(), true),
    };
    // Judged as what it runs, by name and content. Not readable (gone,
    // a folder, a FIFO): the names are still judged, with the launcher's
    // own file as content.
    facts.exe = Some(shown_path(pid, &path));
    let opened = open_in(pid, &path);
    let mapped = if script {
        Mapped::default()
    } else {
        mapped_by_loader(pid, &exe, moment)
    };
    match opened {
        Some(file) => Some(Program {
            file,
            script,
            mapped,
        }),
        None => Some(Program {
            file: exe,
            script: false,
            mapped,
        }),
    }
}

/// When a process is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// Just executed (the proc connector's exec event): a loader has not
    /// run yet, so its mapping is waited for.
    JustExecuted,
    /// Already running (a walk, the scan): what a loader mapped is there.
    Running,
}

/// How long a loader launch is watched for its program's mapping: the
/// exec event comes before the loader has run, and it maps the program
/// first, its libraries next, within a millisecond or two.
const MAPPING_WAIT: Duration = Duration::from_millis(20);

/// The most waiting for mappings per second, machine-wide: loader
/// launches that never map anything (a program path that is a FIFO blocks
/// the loader's open) must not hold the source back.
const MAPPING_WAIT_PER_SECOND: Duration = Duration::from_millis(100);

/// How long this look may wait for a mapping, taken from the budget of
/// the current second.
fn mapping_wait(moment: Moment) -> Duration {
    use std::sync::Mutex;
    static BUDGET: Mutex<Option<(Instant, Duration)>> = Mutex::new(None);
    if moment == Moment::Running {
        return Duration::ZERO;
    }
    let mut budget = BUDGET.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    let (since, spent) = budget.get_or_insert((now, Duration::ZERO));
    if now.duration_since(*since) >= Duration::from_secs(1) {
        (*since, *spent) = (now, Duration::ZERO);
    }
    let wait = MAPPING_WAIT.min(MAPPING_WAIT_PER_SECOND.saturating_sub(*spent));
    *spent += wait;
    wait
}

/// At most this many mapped files are judged per loader launch (a
/// program with dozens of libraries of its own, `LD_PRELOAD`…); files
/// deleted or renamed since they were mapped come first.
const MAPPED_LIMIT: usize = 64;

/// What a loader launch has mapped as code, besides the loader.
#[derive(Debug, Default)]
pub struct Mapped {
    /// The files to judge, opened through `/proc/PID/map_files/`.
    pub files: Vec<File>,
    /// True when the loader had mapped nothing besides itself when last
    /// looked at: its program is still to come (the loader can be held
    /// before it opens it), so the process must be looked at again.
    pub pending: bool,
}

/// The files a loader launch (`pid`, running the loader open as `loader`)
/// has mapped as code, other than the loader and system libraries (placed
/// by root only, checked against the mapped file): opened through
/// `/proc/PID/map_files/`, so what is judged is what runs.
///
/// Just after the exec, waits up to [`MAPPING_WAIT`] (within the budget
/// of [`MAPPING_WAIT_PER_SECOND`]) for the loader to map something besides
/// itself (the program comes first), so a file swapped at the program's
/// path between this source's look and the loader's open is still seen.
fn mapped_by_loader(pid: u32, loader: &File, moment: Moment) -> Mapped {
    let Ok(loader) = loader.metadata().map(|m| (m.dev(), m.ino())) else {
        return Mapped::default();
    };
    let deadline = Instant::now() + mapping_wait(moment);
    let mut code = loop {
        match mapped_code(pid, loader) {
            Some(code) if !code.is_empty() => break code,
            Some(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(1)),
            // Waited enough, or gone (no mappings to read).
            _ => {
                return Mapped {
                    files: Vec::new(),
                    pending: true,
                };
            }
        }
    };
    // Deleted (a file swapped in at the path) first, then the rest.
    code.sort_by_key(|c| !c.deleted);
    Mapped {
        files: code
            .into_iter()
            .filter(|c| c.deleted || !system_library(&c.path, c.id))
            .take(MAPPED_LIMIT)
            .map(|c| c.file)
            .collect(),
        pending: false,
    }
}

/// The device and inode of the executable `pid` runs (for a loader
/// launch, the loader), as `stat` gives them.
pub fn exe_id(pid: u32) -> Option<(u64, u64)> {
    let meta = std::fs::metadata(format!("/proc/{pid}/exe")).ok()?;
    Some((meta.dev(), meta.ino()))
}

/// Whether a loader launch (`pid`, its loader `loader` as [`exe_id`] gave
/// it) has still mapped no code but the loader's: the cheap look before
/// judging it again.
pub fn awaits_its_program(pid: u32, loader: (u64, u64)) -> bool {
    mapped_code(pid, loader).is_none_or(|code| code.is_empty())
}

/// Most executable mappings opened per look.
const MAPPINGS_OPENED: usize = 256;

/// A file mapped as code, open through `/proc/PID/map_files/`.
struct Code {
    file: File,
    /// Device and inode as `stat` gives them (on btrfs, not the device
    /// `/proc/PID/maps` shows): compared with other `stat`s only.
    id: (u64, u64),
    path: String,
    deleted: bool,
}

/// The files `pid` has mapped as code other than the loader (`loader`:
/// its device and inode), each once. A file is told by what its opened
/// mapping is, never by the text of its path (which `/proc/PID/maps`
/// escapes) nor by the device that file shows (which btrfs changes).
/// `None` when the mappings cannot be read (the process is gone).
fn mapped_code(pid: u32, loader: (u64, u64)) -> Option<Vec<Code>> {
    let bytes = std::fs::read(format!("/proc/{pid}/maps")).ok()?;
    // Paths are whatever bytes a user chose: read lossily; a path that does
    // not exist as read is not a system library, so it is judged.
    let maps = String::from_utf8_lossy(&bytes);
    let mut code: Vec<Code> = Vec::new();
    for m in maps
        .lines()
        .filter_map(Mapping::parse)
        .filter(|m| m.executable)
        .take(MAPPINGS_OPENED)
    {
        let Ok(file) = File::open(format!("/proc/{pid}/map_files/{}", m.range)) else {
            continue;
        };
        let Ok(meta) = file.metadata() else {
            continue;
        };
        let id = (meta.dev(), meta.ino());
        if id == loader || code.iter().any(|c| c.id == id) {
            continue;
        }
        code.push(Code {
            file,
            id,
            path: m.path.to_string(),
            deleted: m.deleted,
        });
    }
    Some(code)
}

/// A file root placed (a system library), checked on the file its path
/// names here, which must be the mapped one (`id`): in another mount
/// namespace the same path can name another file, which is then judged.
fn system_library(path: &str, id: (u64, u64)) -> bool {
    let path = Path::new(path);
    std::fs::metadata(path).is_ok_and(|meta| (meta.dev(), meta.ino()) == id)
        && sys::placed_by_root_only(path)
}

/// Whether `exe`, a program not known as a loader by its name, is one by
/// its header ([`launch::runs_like_a_loader`]), whoever owns it: root's own
/// loader can be given another name without copying it (a bind mount in
/// a user namespace). Each file's header is read once, remembered by
/// device, inode and change time (a rewrite changes the time).
fn loader_by_content(exe: &File) -> bool {
    use std::collections::HashMap;
    use std::os::unix::fs::FileExt;
    use std::sync::Mutex;
    /// Files remembered at most; past it, forgotten all at once.
    const REMEMBERED: usize = 4096;
    /// Device, inode, change time (seconds, nanoseconds).
    type Version = (u64, u64, i64, i64);
    static SEEN: Mutex<Option<HashMap<Version, bool>>> = Mutex::new(None);
    let Ok(meta) = exe.metadata() else {
        return false;
    };
    let key = (meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec());
    if let Some(&known) = SEEN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|seen| seen.get(&key))
    {
        return known;
    }
    let mut head = vec![0u8; 4096];
    let n = exe.read_at(&mut head, 0).unwrap_or(0);
    let loader = launch::runs_like_a_loader(&head[..n]);
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let seen = seen.get_or_insert_with(HashMap::new);
    if seen.len() >= REMEMBERED {
        seen.clear();
    }
    seen.insert(key, loader);
    loader
}

/// A path as the process wrote it, made absolute against its working
/// folder when that can be read, `.` components dropped (for the record
/// and for name matching; `..` is left as written).
fn shown_path(pid: u32, path: &str) -> PathBuf {
    let full = if path.starts_with('/') {
        PathBuf::from(path)
    } else {
        match std::fs::read_link(format!("/proc/{pid}/cwd")) {
            Ok(cwd) => cwd.join(path),
            Err(_) => PathBuf::from(path),
        }
    };
    full.components().collect()
}

/// Opens `path` as process `pid` sees it: through `/proc/PID/root` when
/// absolute, `/proc/PID/cwd` when relative. Without waiting (a FIFO
/// would block), and only a regular file.
fn open_in(pid: u32, path: &str) -> Option<File> {
    let full = if let Some(rest) = path.strip_prefix('/') {
        format!("/proc/{pid}/root/{rest}")
    } else {
        format!("/proc/{pid}/cwd/{path}")
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(full)
        .ok()?;
    file.metadata().ok()?.is_file().then_some(file)
}

/// Facts for an exec that has not happened yet (fanotify): the file about
/// to run is known, its command line is not.
pub fn pending_exec(pid: u32, exe: PathBuf) -> ProcessFacts {
    let name = exe
        .to_str()
        .map(|p| file_name_of(p).to_string())
        .unwrap_or_default();
    ProcessFacts {
        pid,
        parent_pid: None,
        start_marker: 0,
        name,
        exe: Some(exe),
        cmdline: Vec::new(),
        uid: None,
        user: None,
    }
}

/// Facts for an exec whose file the kernel cannot name (a path longer
/// than a page): only the caller is known.
pub fn pending_exec_unnamed(pid: u32) -> ProcessFacts {
    ProcessFacts {
        pid,
        parent_pid: None,
        start_marker: 0,
        name: String::new(),
        exe: None,
        cmdline: Vec::new(),
        uid: None,
        user: None,
    }
}

/// Adds the parent, start marker and owner: what enforcement and the
/// audit record need. Returns false when the process is gone.
///
/// The owner's name comes from the name service ([`sys::user_name`]), so
/// operators from a directory (sssd, Active Directory) are named too;
/// whatever the name, the numeric uid is kept.
pub fn complete(facts: &mut ProcessFacts) -> bool {
    let Some((marker, parent)) = sys::start_and_parent(facts.pid) else {
        return false;
    };
    facts.start_marker = marker;
    facts.parent_pid = parent;
    if let Ok(meta) = std::fs::metadata(format!("/proc/{}", facts.pid)) {
        facts.uid = Some(meta.uid());
        facts.user = sys::user_name(meta.uid());
    }
    true
}

/// `HOME` in the process's own environment: where it keeps its per-user
/// files (logs, the desktop's file metadata).
pub fn environ_home(pid: u32) -> Option<PathBuf> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    env.split(|b| *b == 0)
        .find_map(|kv| kv.strip_prefix(b"HOME="))
        .filter(|h| h.starts_with(b"/"))
        .map(|h| PathBuf::from(String::from_utf8_lossy(h).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Spawns `cmd`, waits until its exec is done (its command line shows
    /// `marker`), and returns its facts as the proc connector reads them.
    fn running(cmd: &mut Command, marker: &str) -> (std::process::Child, ProcessFacts) {
        let mut child = cmd.spawn().unwrap();
        for _ in 0..200 {
            if cmdline_of(child.id()).iter().any(|a| a.contains(marker))
                && let Some(f) = names_of(child.id())
            {
                return (child, f);
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the child never showed {marker}");
    }

    #[test]
    fn waiting_for_mappings_is_bounded_per_second() {
        assert_eq!(mapping_wait(Moment::Running), Duration::ZERO);
        let waits: Vec<Duration> = (0..8).map(|_| mapping_wait(Moment::JustExecuted)).collect();
        assert_eq!(waits[0], MAPPING_WAIT);
        assert_eq!(waits.iter().sum::<Duration>(), MAPPING_WAIT_PER_SECOND);
        assert_eq!(waits[7], Duration::ZERO);
    }

    #[test]
    fn a_loader_launch_names_and_opens_the_program_relative_to_its_folder() {
        let dir = std::env::temp_dir().join(format!("varco-procfs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy("/bin/sleep", dir.join("Strumento")).unwrap();
        let (mut child, mut facts) = running(
            Command::new("/lib64/ld-linux-x86-64.so.2")
                .args(["--inhibit-cache", "./Strumento", "5"])
                .current_dir(&dir),
            "Strumento",
        );
        let program = program_of(&mut facts, Moment::Running).expect("opened");
        assert_eq!(facts.exe.as_deref(), Some(dir.join("Strumento").as_path()));
        assert!(!program.script);
        assert_eq!(
            program.file.metadata().unwrap().ino(),
            std::fs::metadata(dir.join("Strumento")).unwrap().ino(),
            "the program was opened, not the loader"
        );
        child.kill().unwrap();
        child.wait().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_interpreter_names_its_script_and_a_plain_program_itself() {
        let dir = std::env::temp_dir().join(format!("varco-procfs-sh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("copione"), "sleep 5\n").unwrap();
        let (mut child, mut facts) = running(
            Command::new("sh").arg("copione").current_dir(&dir),
            "copione",
        );
        let program = program_of(&mut facts, Moment::Running).expect("opened");
        assert!(program.script);
        assert_eq!(facts.exe.as_deref(), Some(dir.join("copione").as_path()));
        child.kill().unwrap();
        child.wait().unwrap();
        let (mut child, mut facts) = running(Command::new("sleep").arg("5.123"), "5.123");
        let program = program_of(&mut facts, Moment::Running).expect("opened");
        assert!(!program.script);
        assert_eq!(
            facts.exe.as_deref().and_then(|e| e.file_name()),
            Some(std::ffi::OsStr::new("sleep"))
        );
        child.kill().unwrap();
        child.wait().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
