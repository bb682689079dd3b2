//! Which program a process really runs, from its executable's name and
//! its command line: pure, so every rule is tested without processes.
//!
//! The kernel reports the file it executed, which is not always the
//! program: `/lib64/ld-linux-x86-64.so.2 ./AnyDesk` executes the dynamic
//! loader, which then maps `./AnyDesk` itself (no exec the kernel could
//! ask about); `python3 ./xpra` executes the interpreter, and the remote
//! desktop server is the script. A process started from a memfd
//! (`memfd_create` and an exec of `/proc/self/fd/N`) has no file name at
//! all, only the name the memfd was created with. The source edge
//! (`procfs.rs`) reads `/proc`; this module only says where to look.
//!
//! Where the command line cannot be understood (an unknown option of an
//! interpreter), the answer is the first argument that is not an option:
//! a wrong guess is a file judged for nothing, while the executable itself
//! is still judged as well.

use crate::facts::file_name_of;

/// What `/proc/PID/exe` says about the executable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExeLink<'a> {
    /// A file at this path (as the process's mount namespace names it).
    Path(&'a str),
    /// A file deleted since it was executed; this was its path.
    Deleted(&'a str),
    /// An anonymous memory file (`memfd_create`), with the name it was
    /// given: the only name such a program has.
    Memfd(&'a str),
}

impl<'a> ExeLink<'a> {
    /// Reads the text of the `/proc/PID/exe` link.
    pub fn parse(link: &'a str) -> ExeLink<'a> {
        let (path, deleted) = match link.strip_suffix(" (deleted)") {
            Some(p) => (p, true),
            None => (link, false),
        };
        if let Some(name) = path.strip_prefix("/memfd:") {
            return ExeLink::Memfd(name);
        }
        if deleted {
            ExeLink::Deleted(path)
        } else {
            ExeLink::Path(path)
        }
    }

    /// The path (or memfd name) without the kernel's decorations.
    pub fn path(self) -> &'a str {
        match self {
            ExeLink::Path(p) | ExeLink::Deleted(p) | ExeLink::Memfd(p) => p,
        }
    }
}

/// How a process's program is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launch<'a> {
    /// The executable is the program.
    Direct,
    /// The dynamic loader runs the program at this path (as written on
    /// the command line: relative to the process's working folder unless
    /// it starts with `/`).
    Loader(&'a str),
    /// An interpreter runs the script (or Java archive) at this path.
    Script(&'a str),
}

/// Interpreters whose script argument is the program, by family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Python,
    Perl,
    Shell,
    Java,
    /// ruby, node, php, lua, tclsh: the first argument that is not an
    /// option.
    Plain,
}

/// Which program runs in a process whose executable is `exe` (its path
/// or file name) with command line `argv` (argv\[0\] first).
pub fn of<'a>(exe: &str, argv: &'a [String]) -> Launch<'a> {
    let name = file_name_of(exe);
    let args = argv.get(1..).unwrap_or_default();
    if is_loader(name) {
        return loader_program(args).map_or(Launch::Direct, Launch::Loader);
    }
    if is_wine(name) {
        return wine_program(args).map_or(Launch::Direct, Launch::Loader);
    }
    let Some(family) = family(name) else {
        return Launch::Direct;
    };
    let script = match family {
        Family::Python => python_script(args),
        Family::Perl => perl_script(args),
        Family::Shell => shell_script(args),
        Family::Java => java_archive(args),
        Family::Plain => plain_script(args),
    };
    script.map_or(Launch::Direct, Launch::Script)
}

/// Which program a loader runs, whatever its file is called: for an
/// executable recognised as a loader by its content ([`runs_like_a_loader`]).
pub fn as_loader(argv: &[String]) -> Launch<'_> {
    loader_program(argv.get(1..).unwrap_or_default()).map_or(Launch::Direct, Launch::Loader)
}

/// Whether the first bytes of an executable are the ELF header of a
/// shared object with no interpreter (`ET_DYN`, no `PT_INTERP`): the
/// dynamic loader is one, and a copy of it under any name runs whatever
/// program it is given. So is a static position-independent program,
/// which is then judged as a loader too: its arguments are looked at, and
/// what it maps. `head` must hold the program headers (the first 4 KiB
/// do for every real loader).
pub fn runs_like_a_loader(head: &[u8]) -> bool {
    const ET_DYN: u16 = 3;
    const PT_INTERP: u32 = 3;
    if head.len() < 64 || head[..4] != *b"\x7fELF" || head[5] != 1 {
        return false; // not ELF, or not little-endian (not a loader here)
    }
    let bytes = |o: usize, n: usize| head.get(o..o.checked_add(n)?);
    let u16_at = |o: usize| bytes(o, 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| bytes(o, 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let u64_at = |o: usize| {
        bytes(o, 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let (phoff, phentsize, phnum) = match head[4] {
        1 => (u32_at(28).map(u64::from), u16_at(42), u16_at(44)),
        2 => (u64_at(32), u16_at(54), u16_at(56)),
        _ => return false,
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = (phoff, phentsize, phnum) else {
        return false;
    };
    if u16_at(16) != Some(ET_DYN) || phentsize < 4 {
        return false;
    }
    let Ok(phoff) = usize::try_from(phoff) else {
        return false;
    };
    (0..usize::from(phnum)).all(|i| {
        let at = phoff.saturating_add(i.saturating_mul(usize::from(phentsize)));
        // A header beyond what was read is not known to be an interpreter.
        u32_at(at).is_some_and(|t| t != PT_INTERP)
    })
}

/// Whether an executable named `exe` (path or file name) may run another
/// program named on its command line: a loader or an interpreter. Only
/// then is the command line worth reading.
pub fn may_launch(exe: &str) -> bool {
    let name = file_name_of(exe);
    is_loader(name) || is_wine(name) || family(name).is_some()
}

/// Wine's launchers (`wine`, `wine64`, `wine64-preloader`, …): like a
/// loader, they run a Windows program named on their command line.
fn is_wine(name: &str) -> bool {
    matches!(
        name,
        "wine" | "wine64" | "wine-preloader" | "wine64-preloader" | "wine-stable" | "wine64-stable"
    )
}

/// The Windows program a Wine launcher runs: the first argument that is
/// neither an option nor Wine itself (the preloader is given `wine64`
/// first). A Windows path (`C:\…\AnyDesk.exe`) is judged by its file
/// name.
fn wine_program(args: &[String]) -> Option<&str> {
    args.iter()
        .map(String::as_str)
        .find(|a| !a.starts_with('-') && !is_wine(file_name_of(a)))
}

/// The dynamic loader: glibc's `ld-linux-x86-64.so.2`, `ld-linux.so.2`,
/// `ld-2.31.so`, `ld64.so.2`, musl's `ld-musl-x86_64.so.1`, `ld.so`.
pub fn is_loader(name: &str) -> bool {
    name == "ld.so"
        || ((name.starts_with("ld-") || name.starts_with("ld64.so")) && name.contains(".so"))
}

/// glibc's and musl's loader options that take the next argument.
const LOADER_VALUE_OPTIONS: &[&str] = &[
    "--library-path",
    "--inhibit-rpath",
    "--audit",
    "--preload",
    "--argv0",
    "--glibc-hwcaps-prepend",
    "--glibc-hwcaps-mask",
];

fn loader_program(args: &[String]) -> Option<&str> {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a == "--" {
            return args.get(i + 1).map(String::as_str);
        }
        if !a.starts_with("--") {
            return Some(a);
        }
        i += if LOADER_VALUE_OPTIONS.contains(&a.as_str()) {
            2
        } else {
            1
        };
    }
    None
}

/// The interpreter family of an executable's file name, with any version
/// suffix (`python3.11`, `perl5.36.0`) ignored.
fn family(name: &str) -> Option<Family> {
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    Some(match base {
        "python" | "pypy" => Family::Python,
        "perl" => Family::Perl,
        "sh" | "bash" | "dash" | "zsh" | "ksh" | "mksh" | "yash" | "fish" => Family::Shell,
        "java" => Family::Java,
        "ruby" | "node" | "nodejs" | "php" | "lua" | "luajit" | "tclsh" | "wish" => Family::Plain,
        _ => return None,
    })
}

/// `python [options] SCRIPT`: `-c` and `-m` run no file; `-W`, `-X` and
/// `--check-hash-based-pycs` take a value; short flags may be grouped
/// (`-uB`), and a value may follow its flag in the same argument.
fn python_script(args: &[String]) -> Option<&str> {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a == "--" {
            return args.get(i + 1).map(String::as_str).filter(|s| *s != "-");
        }
        if a == "-" {
            return None;
        }
        if a == "--check-hash-based-pycs" {
            i += 2;
            continue;
        }
        if a.starts_with("--") {
            i += 1;
            continue;
        }
        let Some(flags) = a.strip_prefix('-') else {
            return Some(a);
        };
        let mut skip = 1;
        for (k, c) in flags.char_indices() {
            match c {
                'c' | 'm' => return None,
                'W' | 'X' => {
                    if k + 1 == flags.len() {
                        skip = 2;
                    }
                    break;
                }
                _ => {}
            }
        }
        i += skip;
    }
    None
}

/// `perl [switches] [--] PROGRAM`: `-e`/`-E` run no file; `-I`, `-x`,
/// `-i`, `-M`, `-m`, `-0`, `-C`, `-F`, `-d`, `-D`, `-l` carry their value
/// in the same argument, except `-I DIR` which may take the next one.
fn perl_script(args: &[String]) -> Option<&str> {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a == "--" {
            return args.get(i + 1).map(String::as_str).filter(|s| *s != "-");
        }
        if a == "-" {
            return None;
        }
        let Some(flags) = a.strip_prefix('-') else {
            return Some(a);
        };
        let mut skip = 1;
        for c in flags.chars() {
            match c {
                'e' | 'E' => return None,
                'I' => {
                    if flags.ends_with('I') && flags.len() == 1 {
                        skip = 2;
                    }
                    break;
                }
                'x' | 'i' | 'M' | 'm' | '0' | 'C' | 'F' | 'd' | 'D' | 'l' => break,
                _ => {}
            }
        }
        i += skip;
    }
    None
}

/// `sh [options] SCRIPT`: `-c` and `-s` run no file (a command string
/// executes its programs, which are execs of their own); `-o`/`+o` and
/// `-O`/`+O` take a value; long options of bash that take a file.
fn shell_script(args: &[String]) -> Option<&str> {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a == "--" || a == "-" {
            return args.get(i + 1).map(String::as_str);
        }
        if a == "--rcfile" || a == "--init-file" {
            i += 2;
            continue;
        }
        if a.starts_with("--") {
            i += 1;
            continue;
        }
        let Some(flags) = a.strip_prefix('-').or_else(|| a.strip_prefix('+')) else {
            return Some(a);
        };
        if flags.contains(['c', 's']) && a.starts_with('-') {
            return None;
        }
        i += if flags.ends_with(['o', 'O']) { 2 } else { 1 };
    }
    None
}

/// `java [options] -jar ARCHIVE`: only an archive is a file; a main class
/// is found on the class path and is not judged here.
fn java_archive(args: &[String]) -> Option<&str> {
    const VALUE: &[&str] = &[
        "-cp",
        "-classpath",
        "--class-path",
        "-p",
        "--module-path",
        "--add-modules",
        "--add-opens",
        "--add-exports",
        "--add-reads",
        "-splash",
    ];
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a == "-jar" {
            return args.get(i + 1).map(String::as_str);
        }
        if !a.starts_with('-') {
            return None; // a main class: the program's arguments follow
        }
        i += if VALUE.contains(&a.as_str()) { 2 } else { 1 };
    }
    None
}

/// The first argument that is not an option; `-e`, `-r` (code to run)
/// end the search.
fn plain_script(args: &[String]) -> Option<&str> {
    for a in args {
        if a == "-e" || a == "-r" || a == "-" || a == "--eval" {
            return None;
        }
        if !a.starts_with('-') {
            return Some(a);
        }
    }
    None
}

/// One line of `/proc/PID/maps` that maps a file: what a loader launch has
/// actually mapped, whatever its path names now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping<'a> {
    /// The address range, as `/proc/PID/map_files/` names the mapping.
    pub range: &'a str,
    /// Mapped executable (`x` in the permissions).
    pub executable: bool,
    /// The file's device (major, minor) and inode.
    pub device: (u32, u32),
    /// The file's inode.
    pub inode: u64,
    /// The file's path when it was mapped, without the kernel's
    /// ` (deleted)`.
    pub path: &'a str,
    /// The path no longer names this file (deleted or replaced).
    pub deleted: bool,
}

impl<'a> Mapping<'a> {
    /// Reads one line (`start-end perms offset major:minor inode   path`);
    /// `None` for anonymous memory and anything not understood.
    pub fn parse(line: &'a str) -> Option<Mapping<'a>> {
        let mut fields = line.splitn(6, ' ');
        let range = fields.next()?;
        let perms = fields.next()?;
        let _offset = fields.next()?;
        let (major, minor) = fields.next()?.split_once(':')?;
        let inode: u64 = fields.next()?.parse().ok()?;
        let path = fields.next()?.trim_start();
        if inode == 0 || !path.starts_with('/') || !range.contains('-') {
            return None;
        }
        let (path, deleted) = match path.strip_suffix(" (deleted)") {
            Some(p) => (p, true),
            None => (path, false),
        };
        Some(Mapping {
            range,
            executable: perms.contains('x'),
            device: (
                u32::from_str_radix(major, 16).ok()?,
                u32::from_str_radix(minor, 16).ok()?,
            ),
            inode,
            path,
            deleted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loader_is_told_by_its_header_and_programs_are_not() {
        let read = |p: &str| {
            let mut head = std::fs::read(p).unwrap();
            head.truncate(4096);
            head
        };
        assert!(runs_like_a_loader(&read("/lib64/ld-linux-x86-64.so.2")));
        // Programs name their interpreter (glibc's libc.so.6, which can be
        // run, too).
        for program in [
            "/bin/sh",
            "/usr/bin/env",
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
        ] {
            assert!(!runs_like_a_loader(&read(program)), "{program}");
        }
        assert!(!runs_like_a_loader(b"#!/bin/sh\n"));
        assert!(!runs_like_a_loader(&[0u8; 4096]));
        // Damaged headers answer, never panic.
        let mut head = read("/lib64/ld-linux-x86-64.so.2");
        head[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(!runs_like_a_loader(&head));
        let mut head = read("/lib64/ld-linux-x86-64.so.2");
        head[4] = 9;
        assert!(!runs_like_a_loader(&head));
    }

    #[test]
    fn maps_lines_give_the_mapped_files() {
        let m = Mapping::parse(
            "7f1c2a400000-7f1c2a428000 r-xp 00001000 fd:01 1313861                    /tmp/x/Strumento (deleted)",
        )
        .unwrap();
        assert_eq!(m.range, "7f1c2a400000-7f1c2a428000");
        assert!(m.executable && m.deleted);
        assert_eq!((m.device, m.inode), ((0xfd, 1), 1313861));
        assert_eq!(m.path, "/tmp/x/Strumento");
        let lib = Mapping::parse(
            "7f1c2a600000-7f1c2a628000 r--p 00000000 08:11 42  /usr/lib/x86_64-linux-gnu/libc.so.6",
        )
        .unwrap();
        assert!(!lib.executable && !lib.deleted);
        assert_eq!(lib.path, "/usr/lib/x86_64-linux-gnu/libc.so.6");
        // A path with spaces is kept whole.
        let spaced =
            Mapping::parse("1000-2000 r-xp 00000000 00:2a 7 /home/u/Scaricati/a b.bin").unwrap();
        assert_eq!(spaced.path, "/home/u/Scaricati/a b.bin");
        for anonymous in [
            "7ffd1000-7ffd2000 rw-p 00000000 00:00 0                          [stack]",
            "7ffd1000-7ffd2000 rw-p 00000000 00:00 0",
            "7ffd1000-7ffd2000 r-xp 00000000 00:00 0                          [vdso]",
            "",
            "garbage",
        ] {
            assert_eq!(Mapping::parse(anonymous), None, "{anonymous}");
        }
    }
    use proptest::prelude::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    fn launch(exe: &str, words: &[&str]) -> Option<String> {
        let a = argv(words);
        match of(exe, &a) {
            Launch::Direct => None,
            Launch::Loader(p) => Some(format!("loader {p}")),
            Launch::Script(p) => Some(format!("script {p}")),
        }
    }

    #[test]
    fn loader_launches_name_the_program_after_the_loader_options() {
        let ld = "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2";
        assert_eq!(
            launch(ld, &["ld", "./AnyDesk", "60"]).as_deref(),
            Some("loader ./AnyDesk")
        );
        assert_eq!(
            launch(
                ld,
                &[
                    "x",
                    "--inhibit-cache",
                    "--library-path",
                    "/tmp/l",
                    "--argv0",
                    "bash",
                    "--preload",
                    "a.so",
                    "/tmp/AnyDesk"
                ]
            )
            .as_deref(),
            Some("loader /tmp/AnyDesk")
        );
        assert_eq!(
            launch(ld, &["x", "--", "--odd"]).as_deref(),
            Some("loader --odd")
        );
        // Nothing to run: the loader itself is the program.
        assert_eq!(launch(ld, &["x", "--help"]), None);
        for name in [
            "/lib/ld-linux.so.2",
            "/lib/ld-musl-x86_64.so.1",
            "/lib64/ld64.so.2",
            "/lib/ld-2.31.so",
            "/usr/bin/ld.so",
        ] {
            assert!(is_loader(file_name_of(name)), "{name}");
        }
        for name in ["ld", "ldd", "ldconfig", "gold-ld", "libld.so"] {
            assert!(!is_loader(name), "{name}");
        }
        assert!(may_launch("/usr/lib64/ld-linux-x86-64.so.2"));
        assert!(may_launch("/usr/bin/python3.11"));
        assert!(!may_launch("/usr/bin/sleep"));
        assert_eq!(
            launch(
                "/usr/lib/wine/wine64-preloader",
                &[
                    "wine64-preloader",
                    "/usr/lib/wine/wine64",
                    "C:\\Temp\\AnyDesk.exe"
                ]
            )
            .as_deref(),
            Some("loader C:\\Temp\\AnyDesk.exe")
        );
        assert_eq!(
            launch("/usr/bin/wine", &["wine", "fattura.exe", "/S"]).as_deref(),
            Some("loader fattura.exe")
        );
    }

    #[test]
    fn interpreters_name_their_script() {
        for (exe, words, want) in [
            (
                "/usr/bin/python3.11",
                &["python3", "./xpra", "start"][..],
                Some("script ./xpra"),
            ),
            (
                "/usr/bin/python3",
                &["python3", "-u", "-W", "ignore", "-X", "dev", "/opt/x.py"][..],
                Some("script /opt/x.py"),
            ),
            (
                "/usr/bin/python3",
                &["python3", "-uBWignore", "x.py"][..],
                Some("script x.py"),
            ),
            (
                "/usr/bin/python3",
                &["python3", "-c", "import os"][..],
                None,
            ),
            (
                "/usr/bin/python3",
                &["python3", "-Im", "http.server"][..],
                None,
            ),
            ("/usr/bin/python3", &["python3"][..], None),
            (
                "/usr/bin/perl",
                &["perl", "-w", "-I", "/lib", "-Mstrict", "./x2goagent"][..],
                Some("script ./x2goagent"),
            ),
            ("/usr/bin/perl", &["perl", "-e", "print 1"][..], None),
            (
                "/usr/bin/perl5.36.0",
                &["perl", "--", "tool"][..],
                Some("script tool"),
            ),
            (
                "/usr/bin/dash",
                &["sh", "./AnyDesk", "60"][..],
                Some("script ./AnyDesk"),
            ),
            (
                "/usr/bin/bash",
                &["bash", "-x", "-o", "pipefail", "--norc", "run.sh"][..],
                Some("script run.sh"),
            ),
            (
                "/usr/bin/bash",
                &["bash", "--rcfile", "rc", "t"][..],
                Some("script t"),
            ),
            ("/usr/bin/bash", &["bash", "-c", "./AnyDesk"][..], None),
            ("/usr/bin/bash", &["bash", "-ec", "x"][..], None),
            (
                "/usr/lib/jvm/bin/java",
                &["java", "-Xmx1g", "-cp", "a.jar", "-jar", "tool.jar"][..],
                Some("script tool.jar"),
            ),
            (
                "/usr/lib/jvm/bin/java",
                &["java", "-cp", "a.jar", "org.Main", "-jar", "x"][..],
                None,
            ),
            (
                "/usr/bin/node",
                &["node", "--inspect", "srv.js"][..],
                Some("script srv.js"),
            ),
            ("/usr/bin/ruby", &["ruby", "-e", "1"][..], None),
            ("/usr/bin/sleep", &["sleep", "60"][..], None),
            ("/usr/bin/pythonista", &["x", "y"][..], None),
        ] {
            assert_eq!(launch(exe, words).as_deref(), want, "{exe} {words:?}");
        }
    }

    #[test]
    fn exe_links_name_memfds_and_deleted_files() {
        assert_eq!(
            ExeLink::parse("/memfd:AnyDesk (deleted)"),
            ExeLink::Memfd("AnyDesk")
        );
        assert_eq!(ExeLink::parse("/memfd:"), ExeLink::Memfd(""));
        assert_eq!(
            ExeLink::parse("/tmp/x/AnyDesk (deleted)"),
            ExeLink::Deleted("/tmp/x/AnyDesk")
        );
        assert_eq!(
            ExeLink::parse("/usr/bin/sleep"),
            ExeLink::Path("/usr/bin/sleep")
        );
        assert_eq!(ExeLink::parse("/memfd:x (deleted)").path(), "x");
    }

    proptest! {
        /// Whatever the command line, the answer is one of its arguments
        /// after argv[0] (never argv[0], which the caller chooses freely),
        /// and parsing never panics.
        #[test]
        fn the_program_found_is_one_of_the_arguments(
            exe in prop::sample::select(vec![
                "/lib64/ld-linux-x86-64.so.2", "/usr/bin/python3", "/usr/bin/perl",
                "/bin/sh", "/usr/bin/java", "/usr/bin/node", "/bin/true",
            ]),
            words in prop::collection::vec("(-{0,2}[a-zA-Z0-9+./]{0,6})", 0..8),
        ) {
            let a: Vec<String> = words;
            match of(exe, &a) {
                Launch::Direct => {}
                Launch::Loader(p) | Launch::Script(p) => {
                    prop_assert!(a[1..].iter().any(|w| w == p), "{p} not in {a:?}");
                }
            }
        }

        /// A loader launch of a program path with any loader options in
        /// front finds that program.
        #[test]
        fn loader_options_never_hide_the_program(
            opts in prop::collection::vec(
                prop::sample::select(vec![
                    "--inhibit-cache", "--library-path", "--preload", "--argv0", "--audit", "--verify",
                ]), 0..5),
            program in "[./a-zA-Z]{1,12}",
        ) {
            let mut a = vec!["ld.so".to_string()];
            for o in &opts {
                a.push(o.to_string());
                if LOADER_VALUE_OPTIONS.contains(o) {
                    a.push("value".into());
                }
            }
            prop_assume!(!program.starts_with("--"));
            a.push(program.clone());
            a.push("60".into());
            prop_assert_eq!(of("/lib64/ld-linux-x86-64.so.2", &a), Launch::Loader(program.as_str()));
        }
    }
}
