//! What identification costs per exec. Run with:
//!
//!     cargo bench --bench identify
//!
//! Prints, per case, the mean time of one call. Cases:
//! - `name+path, unrelated exec`: the pure catalog check every exec pays;
//! - `content, cache hit`: an unrelated binary already inspected (the
//!   steady state: every later exec of the same file), one installed by
//!   root (not read, so no fingerprint) and a user's copy (fingerprinted:
//!   the first and last 4 KiB are hashed on every hit);
//! - `content, first exec`: a file never seen (read + parse), for a small
//!   ELF, x11vnc (1.6 MB, marker scan), this benchmark's own binary, and a
//!   PE built with mingw-w64 (version resource), also padded to 60 MB like
//!   a large installer. Missing inputs (no mingw, no x11vnc) are reported,
//!   not silently left out.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use varco::facts::ProcessFacts;
use varco::policy::catalog::Catalog;
use varco::policy::identify::Identifier;

fn facts(exe: &Path) -> ProcessFacts {
    ProcessFacts {
        pid: 1,
        parent_pid: None,
        start_marker: 0,
        name: exe.file_name().unwrap().to_string_lossy().into_owned(),
        exe: Some(exe.to_path_buf()),
        cmdline: vec![exe.display().to_string()],
        uid: None,
        user: None,
    }
}

/// Mean duration of `f` over enough runs to fill about `budget`.
fn measure(label: &str, budget: Duration, mut f: impl FnMut()) {
    f();
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < budget || n < 3 {
        f();
        n += 1;
    }
    let mean = start.elapsed() / n;
    println!(
        "{label:<52} {:>12.3} µs  ({n} runs)",
        mean.as_secs_f64() * 1e6
    );
}

fn build_pe(dir: &Path) -> Option<PathBuf> {
    let rc = dir.join("v.rc");
    std::fs::write(&rc, "1 VERSIONINFO\nBEGIN\n BLOCK \"StringFileInfo\"\n BEGIN\n  BLOCK \"040904b0\"\n  BEGIN\n   VALUE \"OriginalFilename\", \"AnyDesk.exe\"\n  END\n END\n BLOCK \"VarFileInfo\"\n BEGIN\n  VALUE \"Translation\", 0x409, 1200\n END\nEND\n").ok()?;
    let c = dir.join("m.c");
    std::fs::write(&c, "int main(void){return 0;}\n").ok()?;
    let o = dir.join("v.o");
    let exe = dir.join("fattura.exe");
    let ok = Command::new("x86_64-w64-mingw32-windres")
        .args([
            rc.as_os_str(),
            "-O".as_ref(),
            "coff".as_ref(),
            "-o".as_ref(),
            o.as_os_str(),
        ])
        .status()
        .ok()?
        .success()
        && Command::new("x86_64-w64-mingw32-gcc")
            .args(["-o".as_ref(), exe.as_os_str(), c.as_os_str(), o.as_os_str()])
            .status()
            .ok()?
            .success();
    ok.then_some(exe)
}

fn main() {
    let catalog = Catalog::embedded().expect("embedded catalog");
    let budget = Duration::from_millis(700);
    let dir = std::env::temp_dir().join(format!("varco-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "varco identification cost, {} tools, {} (mean per call)",
        catalog.tools().len(),
        std::env::consts::ARCH
    );

    let ls = PathBuf::from("/bin/ls");
    let unrelated = facts(&ls);
    measure("name+path, unrelated exec (/bin/ls)", budget, || {
        black_box(catalog.identify(black_box(&unrelated)));
    });
    let win = facts(Path::new(
        r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
    ));
    measure(
        "name+path, unrelated exec (WINWORD.EXE path)",
        budget,
        || {
            black_box(catalog.identify(black_box(&win)));
        },
    );

    let mut identifier = Identifier::new();
    let _ = identifier.identify(&catalog, &unrelated);
    measure(
        "content, cache hit (/bin/ls by path: stat + lookup)",
        budget,
        || {
            let _ = black_box(identifier.identify(&catalog, black_box(&unrelated)));
        },
    );
    let ls_open = std::fs::File::open(&ls).unwrap();
    let _ = identifier.identify_exe(&catalog, &unrelated, &ls_open);
    measure(
        "content, cache hit (/bin/ls by descriptor: fstat + lookup)",
        budget,
        || {
            let _ = black_box(identifier.identify_exe(&catalog, black_box(&unrelated), &ls_open));
        },
    );
    // A user's program (read, then kept once it has settled): every later
    // exec costs an fstat, a lookup and the fingerprint's two reads.
    let user_copy = dir.join("programma");
    std::fs::copy(&ls, &user_copy).unwrap();
    std::thread::sleep(varco::policy::identify::SETTLED + Duration::from_millis(100));
    let open = std::fs::File::open(&user_copy).unwrap();
    let user = facts(&user_copy);
    let _ = identifier.identify_exe(&catalog, &user, &open);
    let reads = identifier.reads;
    measure(
        "content, cache hit (user's copy of /bin/ls by descriptor: fstat + lookup + fingerprint)",
        budget,
        || {
            let _ = black_box(identifier.identify_exe(&catalog, black_box(&user), &open));
        },
    );
    assert_eq!(identifier.reads, reads, "the user's copy was read again");

    let mut cases: Vec<(String, PathBuf)> = vec![("small ELF (/bin/ls)".into(), ls.clone())];
    let x11vnc = dir.join("fattura-x11vnc");
    match std::fs::copy("/usr/bin/x11vnc", &x11vnc) {
        Ok(_) => cases.push(("renamed x11vnc, 1.6 MB ELF, marker hit".into(), x11vnc)),
        Err(e) => println!("(no x11vnc case: {e}; bash tests/run.sh installs it)"),
    }
    if let Ok(me) = std::env::current_exe() {
        let size = std::fs::metadata(&me).map(|m| m.len()).unwrap_or(0);
        cases.push((
            format!("this bench binary, {:.1} MB ELF, no hit", size as f64 / 1e6),
            me,
        ));
    }
    match build_pe(&dir) {
        Some(pe) => {
            cases.push(("PE with version resource (AnyDesk.exe)".into(), pe.clone()));
            let big = dir.join("big.exe");
            let mut bytes = std::fs::read(&pe).unwrap();
            bytes.resize(60 * 1024 * 1024, 0);
            std::fs::write(&big, bytes).unwrap();
            cases.push(("PE padded to 60 MB (large installer)".into(), big));
        }
        None => println!("(no PE case: mingw-w64 not installed; bash tests/run.sh installs it)"),
    }
    let mut fresh = Identifier::new();
    for (label, path) in &cases {
        measure(&format!("content, first exec: {label}"), budget, || {
            black_box(fresh.examine_file(&catalog, black_box(path)).unwrap());
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
}
