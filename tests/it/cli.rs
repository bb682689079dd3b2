//! The command line as IT meets it: exact output of `check`, `status` and
//! `catalog`, pinned so that a wording change shows up in review.

use std::process::{Command, Output};

use crate::support::{Scratch, open_window, varco_bin};

fn varco(args: &[&str]) -> Output {
    Command::new(varco_bin()).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_accepts_the_example_file() {
    let out = varco(&["check", "config/approved-windows.example.toml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    assert!(
        line.starts_with(
            "config/approved-windows.example.toml: OK — 2 window(s), mode block, zone Europe/Rome;"
        ),
        "{line}"
    );
    assert_eq!(line.lines().count(), 1, "one-line summary: {line}");
}

#[test]
fn check_names_the_open_window_and_the_next_opening() {
    let s = Scratch::new("cli-open");
    let f = s.write("w.toml", &open_window("INC-1", "\"anydesk\""));
    let out = varco(&["check", f.to_str().unwrap()]);
    let line = text(&out.stdout);
    assert!(line.contains("open now: \"INC-1\" until "), "{line}");
}

#[test]
fn check_reports_every_error_as_file_line_col_and_exits_nonzero() {
    let s = Scratch::new("cli-bad");
    let f = s.write(
        "bad.toml",
        "mode = \"blok\"\n[[window]]\nid = \"x\"\ntools = [\"anydsk\"]\nstart = 2025-01-01T10:00:00\nend = 2025-01-01T09:00:00\n",
    );
    let out = varco(&["check", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let p = f.display();
    let expected = format!(
        "{p}:1:8: mode \"blok\" is not known — write mode = \"block\" (stop the tool) or mode = \"alert\" (only warn)\n\
         {p}:4:10: unknown tool \"anydsk\" — did you mean \"anydesk\"? (`varco catalog list` shows all ids)\n\
         {p}:6:7: `end` is not after `start` — a window must end after it starts; check the date and the hours\n"
    );
    assert_eq!(text(&out.stderr), expected);
    assert!(out.stdout.is_empty());
}

#[test]
fn check_on_a_missing_file_says_what_to_do() {
    let out = varco(&["check", "/nonexistent/approved-windows.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "/nonexistent/approved-windows.toml: file not found — no window is open; create it from approved-windows.example.toml and check it with `varco check`\n"
    );
}

#[test]
fn status_lists_open_and_upcoming_windows_in_local_time() {
    let s = Scratch::new("cli-status");
    let f = s.write("w.toml", &open_window("INC-2", "\"teamviewer\""));
    let out = varco(&["status", "--config", f.to_str().unwrap()]);
    assert!(out.status.success());
    let t = text(&out.stdout);
    assert!(t.contains("mode: block   zone: Europe/Rome"), "{t}");
    assert!(
        t.contains("contact: Esempio Informatica S.r.l. +39 06 1234567"),
        "{t}"
    );
    assert!(t.contains("  INC-2  until "), "{t}");
    assert!(
        t.contains("tools: teamviewer  technician: Mario Rossi"),
        "{t}"
    );
}

#[test]
fn status_on_a_broken_file_says_no_window_is_open() {
    let s = Scratch::new("cli-status-bad");
    let f = s.write("w.toml", "mode = [\n");
    let out = varco(&["status", "--config", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out.stdout);
    assert!(t.contains("PROBLEM: "), "{t}");
    assert!(
        t.contains("no window is open until the file is fixed"),
        "{t}"
    );
    assert!(t.contains("open now: none"), "{t}");
}

#[test]
fn catalog_lookup_exit_codes() {
    let out = varco(&["catalog", "lookup", "AnyDesk.exe"]);
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), "anydesk\n".into())
    );
    let out = varco(&["catalog", "lookup", "x11vnc"]);
    assert_eq!(text(&out.stdout), "x11vnc\n");
    let out = varco(&["catalog", "lookup", "firefox"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}

#[test]
fn catalog_list_shows_at_least_25_tools() {
    let out = varco(&["catalog", "list"]);
    assert!(out.status.success());
    let t = text(&out.stdout);
    assert!(t.lines().count() >= 25, "{t}");
    assert!(t.lines().any(|l| l.starts_with("anydesk ")), "{t}");
}

/// `varco catalog list | head -1` must end quietly when `head` stops
/// reading, not print a panic on the terminal.
#[test]
fn output_piped_into_a_reader_that_went_away_ends_quietly() {
    use std::process::Stdio;
    let mut child = Command::new(varco_bin())
        .args(["catalog", "list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before varco writes its first line.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !out.status.success(),
        "the listing cannot have been written"
    );
}
