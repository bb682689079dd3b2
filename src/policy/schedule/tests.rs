use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::policy::catalog::Catalog;

fn parse_ok(text: &str) -> Schedule {
    parse(text, &Catalog::embedded().unwrap()).unwrap_or_else(|d| panic!("{d:#?}"))
}

fn errors(text: &str) -> Vec<String> {
    parse(text, &Catalog::embedded().unwrap())
        .expect_err("expected errors")
        .iter()
        .map(|d| d.display("f.toml").to_string())
        .collect()
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn open_ids(s: &Schedule, now: &str) -> Vec<String> {
    s.open_at(at(now))
        .into_iter()
        .map(|(w, _)| w.id.clone())
        .collect()
}

const EXAMPLE: &str = include_str!("../../../config/approved-windows.example.toml");

#[test]
fn the_example_file_is_valid() {
    let s = parse_ok(EXAMPLE);
    assert_eq!(s.mode, Mode::Block);
    assert_eq!(s.timezone_name, "Europe/Rome");
    assert!(s.contact.phone.is_some());
    assert!(s.windows.len() >= 2);
}

#[test]
fn defaults_are_block_and_rome() {
    let s = parse_ok("");
    assert_eq!(s.mode, Mode::Block);
    assert_eq!(s.timezone_name, "Europe/Rome");
    assert!(s.windows.is_empty());
}

#[test]
fn one_off_window_local_and_with_offset() {
    let s = parse_ok(
        "[[window]]\nid = \"a\"\ntools = [\"anydesk\"]\nstart = 2025-11-26T14:00:00\nend = 2025-11-26T16:00:00\n\n[[window]]\nid = \"b\"\ntools = [\"*\"]\nstart = 2025-11-26T14:00:00Z\nend = 2025-11-26T15:00:00Z\n",
    );
    // Local 14:00 in Rome in November is 13:00 UTC.
    assert_eq!(open_ids(&s, "2025-11-26T12:59:59Z"), Vec::<String>::new());
    assert_eq!(open_ids(&s, "2025-11-26T13:00:00Z"), ["a"]);
    assert_eq!(open_ids(&s, "2025-11-26T14:30:00Z"), ["a", "b"]);
    assert_eq!(open_ids(&s, "2025-11-26T15:00:00Z"), Vec::<String>::new());
}

const WEEKLY_OVERNIGHT: &str = "[[window]]\nid = \"night\"\ntools = [\"*\"]\ndays = [\"tue\"]\nfrom = \"22:00\"\nto = \"02:00\"\n";

#[test]
fn overnight_window_runs_past_midnight_into_the_next_day() {
    let s = parse_ok(WEEKLY_OVERNIGHT);
    // Tuesday 2025-11-25 22:30 Rome = 21:30 UTC; Wednesday 01:30 Rome = 00:30 UTC.
    assert_eq!(open_ids(&s, "2025-11-25T21:30:00Z"), ["night"]);
    assert_eq!(open_ids(&s, "2025-11-26T00:30:00Z"), ["night"]);
    assert!(
        open_ids(&s, "2025-11-26T01:00:00Z").is_empty(),
        "closes at 02:00"
    );
    // Wednesday night does not open (only Tuesday starts count).
    assert!(open_ids(&s, "2025-11-26T21:30:00Z").is_empty());
}

#[test]
fn recurring_window_follows_local_time_across_dst() {
    let s = parse_ok(
        "[[window]]\nid = \"w\"\ntools = [\"*\"]\ndays = [\"sun\", \"mon\"]\nfrom = \"18:00\"\nto = \"20:00\"\n",
    );
    // Sunday 2026-03-29 is the spring change: 18:00 CEST = 16:00 UTC.
    assert_eq!(open_ids(&s, "2026-03-29T16:00:00Z"), ["w"]);
    assert!(!open_ids(&s, "2026-03-29T17:00:00Z").is_empty());
    assert!(open_ids(&s, "2026-03-29T18:00:00Z").is_empty());
    // The Monday before (CET) 18:00 = 17:00 UTC.
    assert_eq!(open_ids(&s, "2026-03-23T17:00:00Z"), ["w"]);
    assert!(open_ids(&s, "2026-03-23T16:30:00Z").is_empty());
    // Sunday 2026-10-25, the autumn change: 18:00 CET = 17:00 UTC.
    assert_eq!(open_ids(&s, "2026-10-25T17:00:00Z"), ["w"]);
    assert!(open_ids(&s, "2026-10-25T16:30:00Z").is_empty());
}

#[test]
fn window_over_the_dst_night_has_its_real_length() {
    // 01:00–04:00 local on the spring-change night lasts two real hours,
    // on the autumn-change night four.
    let s = parse_ok(
        "[[window]]\nid = \"n\"\ntools = [\"*\"]\ndays = [\"sun\"]\nfrom = \"01:00\"\nto = \"04:00\"\n",
    );
    let spring = s.windows[0]
        .opening_at(&s.timezone, at("2026-03-29T00:30:00Z"))
        .unwrap();
    assert_eq!(spring.end.duration_since(spring.start).as_hours(), 2);
    let autumn = s.windows[0]
        .opening_at(&s.timezone, at("2026-10-25T00:30:00Z"))
        .unwrap();
    assert_eq!(autumn.end.duration_since(autumn.start).as_hours(), 4);
}

#[test]
fn window_starting_in_the_skipped_hour_opens_after_the_change() {
    // 02:30 does not exist on 2026-03-29 in Rome; it is read as 03:30 CEST.
    let s = parse_ok(
        "[[window]]\nid = \"g\"\ntools = [\"*\"]\ndays = [\"sun\"]\nfrom = \"02:30\"\nto = \"05:00\"\n",
    );
    assert!(open_ids(&s, "2026-03-29T01:00:00Z").is_empty()); // 03:00 CEST
    assert_eq!(open_ids(&s, "2026-03-29T01:30:00Z"), ["g"]); // 03:30 CEST
}

#[test]
fn validity_dates_bound_a_recurring_window() {
    let s = parse_ok(
        "[[window]]\nid = \"v\"\ntools = [\"*\"]\ndays = [\"tue\"]\nfrom = \"18:00\"\nto = \"20:00\"\nvalid_from = 2025-11-20\nvalid_until = 2025-11-30\n",
    );
    assert_eq!(open_ids(&s, "2025-11-25T17:30:00Z"), ["v"]);
    assert!(
        open_ids(&s, "2025-11-18T17:30:00Z").is_empty(),
        "before valid_from"
    );
    assert!(
        open_ids(&s, "2025-12-02T17:30:00Z").is_empty(),
        "after valid_until"
    );
}

#[test]
fn next_opening_skips_to_valid_from_and_stops_after_valid_until() {
    let s = parse_ok(
        "[[window]]\nid = \"v\"\ntools = [\"*\"]\ndays = [\"tue\"]\nfrom = \"18:00\"\nto = \"20:00\"\nvalid_from = 2026-01-01\nvalid_until = 2026-01-31\n",
    );
    let next = s.upcoming(at("2025-11-25T00:00:00Z"));
    assert_eq!(s.local(next[0].1.start), "2026-01-06 18:00 CET");
    assert!(s.upcoming(at("2026-02-01T00:00:00Z")).is_empty());
}

#[test]
fn reports_every_error_with_line_and_fix() {
    let text = r#"mode = "blok"
timezone = "Europe/Roma"

[[window]]
id = "a"
tools = ["anydsk"]
start = 2025-11-26T16:00:00
end = 2025-11-26T14:00:00
tecnician = "x"

[[window]]
id = "a"
tools = ["*"]
days = ["tue", "tux"]
from = "18:00"
to = "18:00"
"#;
    let errs = errors(text);
    let want = [
        "f.toml:1:8: mode \"blok\" is not known",
        "f.toml:2:12: time zone \"Europe/Roma\" is not known",
        "f.toml:6:10: unknown tool \"anydsk\" — did you mean \"anydesk\"?",
        "f.toml:9:1: unknown key `tecnician` in [[window]] — did you mean `technician`?",
        "f.toml:14:16: \"tux\" is not a day",
    ];
    for w in want {
        assert!(
            errs.iter().any(|e| e.starts_with(w)),
            "missing {w:?} in {errs:#?}"
        );
    }
}

#[test]
fn end_before_start_and_zero_length_are_errors() {
    let errs = errors(
        "[[window]]\nid = \"a\"\ntools = [\"*\"]\nstart = 2025-11-26T16:00:00\nend = 2025-11-26T16:00:00\n",
    );
    assert!(
        errs[0].starts_with("f.toml:5:7: `end` is not after `start`"),
        "{errs:?}"
    );
    let errs = errors(
        "[[window]]\nid = \"a\"\ntools = [\"*\"]\ndays = [\"mon\"]\nfrom = \"18:00\"\nto = \"18:00\"\n",
    );
    assert!(
        errs[0].starts_with("f.toml:6:6: `from` and `to` are the same time"),
        "{errs:?}"
    );
}

#[test]
fn duplicate_ids_are_errors() {
    let w = "[[window]]\nid = \"same\"\ntools = [\"*\"]\nstart = 2025-11-26T14:00:00\nend = 2025-11-26T16:00:00\n";
    let errs = errors(&format!("{w}\n{w}"));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("f.toml:8:6: window id \"same\" is used twice (first at line 1)"),
        "{errs:?}"
    );
}

#[test]
fn mixing_one_off_and_recurring_is_an_error() {
    let errs = errors(
        "[[window]]\nid = \"m\"\ntools = [\"*\"]\nstart = 2025-11-26T14:00:00\nend = 2025-11-26T16:00:00\ndays = [\"mon\"]\n",
    );
    assert!(errs[0].contains("mixes one-off fields"), "{errs:?}");
}

#[test]
fn half_written_windows_are_errors_not_silently_dropped() {
    for (text, needle) in [
        (
            "[[window]]\nid = \"x\"\ntools = [\"*\"]\n",
            "says nothing about when",
        ),
        (
            "[[window]]\nid = \"x\"\ntools = [\"*\"]\nstart = 2025-11-26T14:00:00\n",
            "has no `end`",
        ),
        (
            "[[window]]\ntools = [\"*\"]\nstart = 2025-11-26T14:00:00\nend = 2025-11-26T15:00:00\n",
            "has no `id`",
        ),
        (
            "[[window]]\nid = \"x\"\nstart = 2025-11-26T14:00:00\nend = 2025-11-26T15:00:00\n",
            "has no `tools`",
        ),
        (
            "[[window]]\nid = \"x\"\ntools = []\nstart = 2025-11-26T14:00:00\nend = 2025-11-26T15:00:00\n",
            "`tools` is empty",
        ),
        (
            "[[window]]\nid = \"x\"\ntools = [\"*\"]\nstart = \"2025-11-26 14:00\"\nend = 2025-11-26T15:00:00\n",
            "`start` must be a date and time",
        ),
        (
            "[[window]]\nid = \"x\"\ntools = [\"*\"]\ndays = [\"mon\"]\nfrom = \"25:00\"\nto = \"02:00\"\n",
            "`from` is not a time of day",
        ),
        (
            "[[window]]\nid = \"x\"\ntools = [\"*\"]\ndays = [\"mon\"]\nfrom = \"18:00\"\nto = \"20:00\"\nvalid_until = 2026-01-01\nvalid_from = 2026-02-01\n",
            "`valid_until` is before `valid_from`",
        ),
        ("mode = \"block\"\nmode = \"alert\"\n", "duplicate key"),
        ("[contact]\nphone = 123\n", "`phone` must be text"),
    ] {
        let errs = errors(text);
        assert!(
            errs.iter().any(|e| e.contains(needle)),
            "{needle:?} not in {errs:#?}"
        );
    }
}

#[test]
fn times_accept_toml_local_times_too() {
    let s = parse_ok(
        "[[window]]\nid = \"t\"\ntools = [\"*\"]\ndays = [\"mon\"]\nfrom = 18:00:00\nto = 20:00\n",
    );
    assert!(matches!(s.windows[0].when, When::Weekly { .. }));
}

#[test]
fn log_section_reads_local_remote_and_facility() {
    let s =
        parse_ok("[log]\nlocal = true\nremote = \"tcp://127.0.0.1:6514\"\nfacility = \"local3\"\n");
    assert_eq!(
        s.log.local.as_deref(),
        Some(std::path::Path::new("/dev/log"))
    );
    assert_eq!(
        s.log.remote,
        Some(Remote {
            transport: Transport::Tcp,
            host: "127.0.0.1".into(),
            port: 6514
        })
    );
    assert_eq!(s.log.facility, 19);
    let s = parse_ok("[log]\nremote = \"udp://[::1]:514\"\n");
    assert_eq!(s.log.remote.unwrap().host, "::1");
    assert_eq!(parse_ok("").log, LogSettings::default());
}

#[test]
fn log_section_errors_have_lines_and_fixes() {
    let errs = errors(
        "mode = \"block\"\n[log]\nremote = \"syslog.example:514\"\nfacility = \"locl0\"\nlocal = \"dev/log\"\nlevel = 3\n",
    );
    let want = [
        "f.toml:3:10: remote \"syslog.example:514\": the transport is missing",
        "f.toml:4:12: facility \"locl0\" is not known — did you mean \"local0\"?",
        "f.toml:5:9: `local` must be true, false or the absolute path",
        "f.toml:6:1: unknown key `level` in [log]",
    ];
    for w in want {
        assert!(
            errs.iter().any(|e| e.starts_with(w)),
            "missing {w:?} in {errs:#?}"
        );
    }
    let errs = errors("[log]\nremote = \"tcp://host:99999\"\n");
    assert!(errs[0].contains("the port must be a number"), "{errs:?}");
}

#[test]
fn to_24_00_is_the_end_of_the_day_so_a_window_can_be_always_open() {
    let s = parse_ok(
        "[[window]]\nid = \"zabbix\"\ntools = [\"*\"]\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\nfrom = \"00:00\"\nto = \"24:00\"\n",
    );
    for now in [
        "2026-11-25T23:00:00Z",
        "2026-11-25T23:30:00Z",
        "2026-03-29T01:30:00Z",
        "2026-10-25T01:30:00Z",
    ] {
        assert_eq!(open_ids(&s, now), ["zabbix"], "{now}");
    }
    // From the evening to the end of the day.
    let s = parse_ok(
        "[[window]]\nid = \"e\"\ntools = [\"*\"]\ndays = [\"wed\"]\nfrom = \"18:00\"\nto = \"24:00\"\n",
    );
    assert_eq!(open_ids(&s, "2026-11-25T22:59:00Z"), ["e"]); // 23:59 Rome
    assert!(open_ids(&s, "2026-11-25T23:00:00Z").is_empty()); // 00:00 Thursday
    // "24:00" is only an end.
    let errs = errors(
        "[[window]]\nid = \"x\"\ntools = [\"*\"]\ndays = [\"mon\"]\nfrom = \"24:00\"\nto = \"02:00\"\n",
    );
    assert!(errs[0].contains("`from` is not a time of day"), "{errs:?}");
}

#[test]
fn serial_and_expires_are_read_expires_in_the_file_zone() {
    let s = parse_ok(&format!(
        "serial = 7\nexpires = 2027-01-31T00:00:00\n{WEEKLY_OVERNIGHT}"
    ));
    assert_eq!(s.serial, Some(7));
    // Midnight in Rome in January is 23:00 UTC the day before.
    assert_eq!(s.expires, Some(at("2027-01-30T23:00:00Z")));
    let with_offset = parse_ok("expires = 2027-01-31T00:00:00Z\n");
    assert_eq!(with_offset.expires, Some(at("2027-01-31T00:00:00Z")));
}

#[test]
fn an_expired_file_opens_no_window_and_lists_none_ahead() {
    let s = parse_ok(&format!(
        "expires = 2025-11-26T00:00:00\n{WEEKLY_OVERNIGHT}"
    ));
    // Tuesday 25 November 2025, 23:00 local: open, the file still valid.
    assert_eq!(open_ids(&s, "2025-11-25T22:00:00Z"), ["night"]);
    // Past midnight the window would still run, but the file has expired.
    assert!(s.expired_at(at("2025-11-25T23:00:00Z")));
    assert_eq!(open_ids(&s, "2025-11-25T23:30:00Z"), Vec::<String>::new());
    assert!(s.open_for("anydesk", at("2025-11-25T23:30:00Z")).is_none());
    assert!(s.upcoming(at("2025-11-25T23:30:00Z")).is_empty());
    let after = s.expired();
    assert!(after.windows.is_empty());
    assert_eq!(after.mode, Mode::Block);
}

#[test]
fn bad_serial_and_expires_are_errors_with_line_and_col() {
    let errs = errors("serial = \"7\"\nexpires = 2027-01-31\n");
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(
        errs[0].starts_with("f.toml:1:10: `serial` must be a whole number"),
        "{errs:#?}"
    );
    assert!(
        errs[1].starts_with("f.toml:2:11: `expires` needs both a date and a time"),
        "{errs:#?}"
    );
    let errs = errors("serial = 0\nexpires = \"tomorrow\"\n");
    assert!(
        errs[0].starts_with("f.toml:1:10: serial 0 is not a positive number"),
        "{errs:#?}"
    );
    assert!(
        errs[1].starts_with("f.toml:2:11: `expires` must be a date and time"),
        "{errs:#?}"
    );
    let errs = errors("serail = 3\n");
    assert!(errs[0].contains("did you mean `serial`?"), "{errs:#?}");
}

const ONE: &str = r#"[[window]]
id = "INC-1"
tools = ["anydesk"]
start = 2025-11-26T14:00:00
end = 2025-11-26T16:00:00
"#;

#[test]
fn warn_before_end_defaults_to_ten_minutes_and_a_window_may_change_it() {
    let s = parse_ok(ONE);
    assert_eq!(s.windows[0].warn_before_end, DEFAULT_WARN_BEFORE_END);
    let s = parse_ok(&format!("warn_before_end = \"5m\"\n{ONE}"));
    assert_eq!(s.windows[0].warn_before_end, SignedDuration::from_mins(5));
    let s = parse_ok(&format!(
        "warn_before_end = \"5m\"\n{ONE}warn_before_end = \"1h30m\"\n"
    ));
    assert_eq!(s.windows[0].warn_before_end, SignedDuration::from_mins(90));
    let s = parse_ok(&format!("{ONE}warn_before_end = \"0\"\n"));
    assert!(s.windows[0].warn_before_end.is_zero());
}

#[test]
fn the_warning_time_comes_within_warn_before_end_of_the_end() {
    let s = parse_ok(ONE); // 14:00-16:00 Rome = 13:00-15:00 UTC
    assert!(s.ending_soon(at("2025-11-26T14:49:59Z")).is_empty());
    assert_eq!(s.ending_soon(at("2025-11-26T14:50:00Z")).len(), 1);
    assert!(s.ending_soon(at("2025-11-26T15:00:00Z")).is_empty());
}

#[test]
fn operator_fields_are_checked_with_line_and_column() {
    let text = r#"warn_before_end = "10 minutes"

[panic]
until = "tomorrow"

[[window]]
id = "INC-1"
tools = ["anydesk"]
start = 2025-11-26T14:00:00
end = 2025-11-26T16:00:00
warn_before_end = 10
peers = ["123 456 789", "mario@ad", ""]
installed_only = "yes"
"#;
    let errs = errors(text);
    for w in [
        "f.toml:1:19: warn_before_end \"10 minutes\": ` ` is not a unit",
        "f.toml:4:9: until \"tomorrow\" is not known",
        "f.toml:11:19: `warn_before_end` must be text in quotes",
        "f.toml:12:25: \"mario@ad\" is not an AnyDesk or TeamViewer ID",
        "f.toml:12:37: \"\" is not an AnyDesk or TeamViewer ID",
        "f.toml:13:18: `installed_only` must be true or false",
    ] {
        assert!(
            errs.iter().any(|e| e.starts_with(w)),
            "missing {w:?} in {errs:#?}"
        );
    }
    assert!(errors(&format!("{ONE}peers = []\n"))[0].contains("`peers` is empty"));
    assert!(errors("warn_before_end = \"25h\"\n")[0].contains("longer than a day"));
}

#[test]
fn peers_installed_only_and_panic_read_back() {
    let s = parse_ok(&format!(
        "[panic]\nuntil = \"resume\"\n\n{ONE}peers = [\"123 456 789\", \"1234567890\"]\ninstalled_only = true\n"
    ));
    assert_eq!(s.panic_until, PanicUntil::Resume);
    let w = &s.windows[0];
    assert_eq!(
        w.peers.as_deref(),
        Some(&["123456789".to_string(), "1234567890".to_string()][..])
    );
    assert!(w.installed_only);
    assert_eq!(parse_ok(ONE).panic_until, PanicUntil::NextDay);
    assert_eq!(parse_ok(ONE).windows[0].peers, None);
}

#[test]
fn openings_between_lists_each_occurrence_once() {
    let s = parse_ok(
        r#"[[window]]
id = "weekly"
tools = ["*"]
days = ["tue", "thu"]
from = "18:00"
to = "20:00"

[[window]]
id = "once"
tools = ["anydesk"]
start = 2025-11-26T14:00:00
end = 2025-11-26T16:00:00
"#,
    );
    // Monday 24 to Sunday 30 November 2025.
    let got: Vec<(String, Timestamp)> = s
        .openings_between(at("2025-11-23T23:00:00Z"), at("2025-11-30T23:00:00Z"))
        .into_iter()
        .map(|(w, o)| (w.id.clone(), o.start))
        .collect();
    assert_eq!(
        got,
        [
            ("weekly".to_string(), at("2025-11-25T17:00:00Z")),
            ("once".to_string(), at("2025-11-26T13:00:00Z")),
            ("weekly".to_string(), at("2025-11-27T17:00:00Z")),
        ]
    );
}
