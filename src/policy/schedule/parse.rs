//! From the text of `approved-windows.toml` to a [`Schedule`], reporting
//! every problem with its line and column.
//!
//! The file is read into a spanned TOML tree and checked by hand rather
//! than through serde, so that one pass reports all problems (not just the
//! first) and each one says how to fix it. A typo must never drop or open a
//! window: unknown keys, unknown tools and half-written windows are errors.

use std::collections::HashMap;
use std::ops::Range;

use jiff::civil::{Date, Time};
use jiff::tz::{Offset, TimeZone};
use toml::Spanned;
use toml::de::{DeTable, DeValue};
use toml::value::Datetime;

use jiff::SignedDuration;

use super::{
    Contact, DEFAULT_TIMEZONE, DEFAULT_WARN_BEFORE_END, FACILITIES, LogSettings, MaintenanceWindow,
    Mode, PanicUntil, Remote, Schedule, Tools, Transport, When, local_instant,
};
use crate::policy::catalog::Catalog;
use crate::policy::diagnostic::{Diagnostic, closest};

const TOP_KEYS: &[&str] = &[
    "serial",
    "expires",
    "mode",
    "timezone",
    "warn_before_end",
    "contact",
    "notify",
    "log",
    "panic",
    "window",
];
const PANIC_KEYS: &[&str] = &["until"];
const LOG_KEYS: &[&str] = &["local", "remote", "facility"];
/// The local syslog socket `local = true` means.
const DEV_LOG: &str = "/dev/log";
const CONTACT_KEYS: &[&str] = &["company", "phone", "email", "referent"];
const NOTIFY_KEYS: &[&str] = &["allowed"];
const WINDOW_KEYS: &[&str] = &[
    "id",
    "tools",
    "start",
    "end",
    "days",
    "from",
    "to",
    "valid_from",
    "valid_until",
    "technician",
    "ticket",
    "note",
    "warn_before_end",
    "peers",
    "installed_only",
];
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Parses and validates the approved-windows file. `catalog` decides which
/// tool ids exist. On error, every problem found is returned, in file order.
pub fn parse(text: &str, catalog: &Catalog) -> Result<Schedule, Vec<Diagnostic>> {
    let (root, syntax) = DeTable::parse_recoverable(text);
    let mut c = Checker {
        text,
        diags: Vec::new(),
    };
    for e in syntax {
        c.error(
            e.span(),
            e.message().trim().to_string(),
            "fix the TOML syntax (strings in \"quotes\", one key per line)",
        );
    }
    if !c.diags.is_empty() {
        // A broken syntax tree would only produce follow-on noise.
        return Err(c.diags);
    }
    let root = root.into_inner();
    c.unknown_keys(&root, TOP_KEYS, "at the top of the file");

    let mode = match root.get("mode") {
        None => Mode::Block,
        Some(v) => match c.string(v, "mode").as_deref() {
            Some("block") => Mode::Block,
            Some("alert") => Mode::Alert,
            Some(other) => {
                c.error(
                    Some(v.span()),
                    format!("mode \"{other}\" is not known"),
                    "write mode = \"block\" (stop the tool) or mode = \"alert\" (only warn)",
                );
                Mode::Block
            }
            None => Mode::Block,
        },
    };

    let (timezone, timezone_name) = match root.get("timezone") {
        None => (
            TimeZone::get(DEFAULT_TIMEZONE).ok(),
            DEFAULT_TIMEZONE.to_string(),
        ),
        Some(v) => match c.string(v, "timezone") {
            Some(name) => match TimeZone::get(&name) {
                Ok(tz) => (Some(tz), name),
                Err(_) => {
                    c.error(
                        Some(v.span()),
                        format!("time zone \"{name}\" is not known"),
                        "use an IANA name such as \"Europe/Rome\"",
                    );
                    (None, name)
                }
            },
            None => (None, String::new()),
        },
    };

    let serial = root.get("serial").and_then(|v| c.serial(v));
    let expires = root
        .get("expires")
        .and_then(|_| c.instant(&root, "expires", 0..0, timezone.as_ref()));

    let contact = root
        .get("contact")
        .and_then(|v| c.table(v, "[contact]"))
        .map(|t| {
            c.unknown_keys(t, CONTACT_KEYS, "in [contact]");
            Contact {
                company: c.opt_string(t, "company"),
                phone: c.opt_string(t, "phone"),
                email: c.opt_string(t, "email"),
                referent: c.opt_string(t, "referent"),
            }
        })
        .unwrap_or_default();

    let notify_allowed = root
        .get("notify")
        .and_then(|v| c.table(v, "[notify]"))
        .map(|t| {
            c.unknown_keys(t, NOTIFY_KEYS, "in [notify]");
            t.get("allowed")
                .is_none_or(|v| c.boolean(v, "allowed").unwrap_or(true))
        })
        .unwrap_or(true);

    let log = root
        .get("log")
        .and_then(|v| c.table(v, "[log]"))
        .map(|t| c.log(t))
        .unwrap_or_default();

    let warn_before_end = root
        .get("warn_before_end")
        .and_then(|v| c.duration(v, "warn_before_end"))
        .unwrap_or(DEFAULT_WARN_BEFORE_END);

    let panic_until = root
        .get("panic")
        .and_then(|v| c.table(v, "[panic]"))
        .map(|t| c.panic(t))
        .unwrap_or_default();

    let mut windows = Vec::new();
    if let Some(v) = root.get("window") {
        match v.get_ref().as_array() {
            Some(items) => {
                let mut seen: HashMap<String, usize> = HashMap::new();
                for item in items {
                    let Some(table) = c.table(item, "[[window]]") else {
                        continue;
                    };
                    let at = item.span();
                    let defaults = WindowDefaults {
                        tz: timezone.as_ref(),
                        warn_before_end,
                    };
                    if let Some(w) = c.window(table, at.clone(), &defaults, catalog) {
                        if let Some(first) = seen.get(&w.id) {
                            c.error(
                                table.get("id").map(|v| v.span()),
                                format!(
                                    "window id \"{}\" is used twice (first at line {first})",
                                    w.id
                                ),
                                "give every window its own id",
                            );
                        } else {
                            seen.insert(w.id.clone(), c.line_of(at.start));
                            windows.push(w);
                        }
                    }
                }
            }
            None => c.error(
                Some(v.span()),
                "`window` must be a list of [[window]] tables",
                "write each window under its own [[window]] header",
            ),
        }
    }

    if c.diags.is_empty() {
        Ok(Schedule {
            mode,
            timezone: timezone.unwrap_or(TimeZone::UTC),
            timezone_name,
            contact,
            notify_allowed,
            log,
            panic_until,
            windows,
            serial,
            expires,
        })
    } else {
        c.diags.sort_by_key(|d| (d.line, d.col));
        Err(c.diags)
    }
}

/// `udp://host:port` or `tcp://host:port` (IPv6 hosts in brackets).
fn parse_remote(text: &str) -> Result<Remote, String> {
    let (scheme, rest) = text
        .split_once("://")
        .ok_or("the transport is missing (udp:// or tcp://)")?;
    let transport = match scheme {
        "udp" => Transport::Udp,
        "tcp" => Transport::Tcp,
        other => return Err(format!("transport \"{other}\" is not known")),
    };
    let (host, port) = rest.rsplit_once(':').ok_or("the port is missing")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains('/') {
        return Err("the host is missing or malformed".into());
    }
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or("the port must be a number from 1 to 65535")?;
    Ok(Remote {
        transport,
        host: host.to_string(),
        port,
    })
}

/// `"10m"`, `"90s"`, `"1h"`, `"1h30m"` or `"0"`: a length of time
/// between zero and a day, as IT writes it in the windows file.
pub(crate) fn parse_duration(text: &str) -> Result<SignedDuration, String> {
    let t = text.trim();
    if t == "0" {
        return Ok(SignedDuration::ZERO);
    }
    let mut total: i64 = 0;
    let mut number = String::new();
    let mut units = 0;
    for ch in t.chars() {
        match ch {
            '0'..='9' => number.push(ch),
            'h' | 'm' | 's' => {
                let n: i64 = number
                    .parse()
                    .map_err(|_| format!("a number is missing before `{ch}`"))?;
                number.clear();
                units += 1;
                let secs = match ch {
                    'h' => 3600,
                    'm' => 60,
                    _ => 1,
                };
                total = n
                    .checked_mul(secs)
                    .and_then(|x| total.checked_add(x))
                    .ok_or("the length is too long")?;
            }
            other => return Err(format!("`{other}` is not a unit (use h, m or s)")),
        }
    }
    if !number.is_empty() || units == 0 {
        return Err("the unit is missing (e.g. 10m)".into());
    }
    if total > 24 * 3600 {
        return Err("longer than a day".into());
    }
    Ok(SignedDuration::from_secs(total))
}

/// What a window takes from the top of the file unless it says otherwise.
struct WindowDefaults<'a> {
    tz: Option<&'a TimeZone>,
    warn_before_end: SignedDuration,
}

struct Checker<'t> {
    text: &'t str,
    diags: Vec<Diagnostic>,
}

type Value<'i> = Spanned<DeValue<'i>>;

impl Checker<'_> {
    fn error(
        &mut self,
        span: Option<Range<usize>>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.diags
            .push(Diagnostic::at(self.text, span, problem, fix));
    }

    fn line_of(&self, offset: usize) -> usize {
        Diagnostic::at(self.text, Some(offset..offset), "", "").line
    }

    fn unknown_keys(&mut self, table: &DeTable<'_>, allowed: &[&str], place: &str) {
        for key in table.keys() {
            let name: &str = key.get_ref();
            if !allowed.contains(&name) {
                let fix = match closest(name, allowed.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("allowed here: {}", allowed.join(", ")),
                };
                self.error(
                    Some(key.span()),
                    format!("unknown key `{name}` {place}"),
                    fix,
                );
            }
        }
    }

    fn type_error(&mut self, v: &Value<'_>, what: &str, expected: &str, example: &str) {
        self.error(
            Some(v.span()),
            format!(
                "`{what}` must be {expected}, not a {}",
                v.get_ref().type_str()
            ),
            format!("for example {what} = {example}"),
        );
    }

    fn string(&mut self, v: &Value<'_>, what: &str) -> Option<String> {
        match v.get_ref().as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                self.type_error(v, what, "text in quotes", "\"...\"");
                None
            }
        }
    }

    fn boolean(&mut self, v: &Value<'_>, what: &str) -> Option<bool> {
        let b = v.get_ref().as_bool();
        if b.is_none() {
            self.type_error(v, what, "true or false", "false");
        }
        b
    }

    /// `serial = N`: a whole number from 1 on.
    fn serial(&mut self, v: &Value<'_>) -> Option<u64> {
        let Some(n) = v.get_ref().as_integer() else {
            self.type_error(v, "serial", "a whole number", "42");
            return None;
        };
        let serial = u64::from_str_radix(n.as_str(), n.radix())
            .ok()
            .filter(|n| *n > 0);
        if serial.is_none() {
            self.error(
                Some(v.span()),
                format!("serial {} is not a positive number", n.as_str()),
                "start at serial = 1 and raise it at every release",
            );
        }
        serial
    }

    fn opt_string(&mut self, t: &DeTable<'_>, key: &str) -> Option<String> {
        let v = t.get(key)?;
        self.string(v, key).filter(|s| !s.trim().is_empty())
    }

    fn log(&mut self, t: &DeTable<'_>) -> LogSettings {
        self.unknown_keys(t, LOG_KEYS, "in [log]");
        let mut log = LogSettings::default();
        if let Some(v) = t.get("local") {
            log.local = match (v.get_ref().as_bool(), v.get_ref().as_str()) {
                (Some(true), _) => Some(DEV_LOG.into()),
                (Some(false), _) => None,
                (_, Some(path)) if path.starts_with('/') => Some(path.into()),
                _ => {
                    self.error(
                        Some(v.span()),
                        "`local` must be true, false or the absolute path of a syslog socket",
                        format!("for example local = true (sends to {DEV_LOG})"),
                    );
                    None
                }
            };
        }
        if let Some(v) = t.get("remote")
            && let Some(text) = self.string(v, "remote")
        {
            match parse_remote(&text) {
                Ok(r) => log.remote = Some(r),
                Err(problem) => self.error(
                    Some(v.span()),
                    format!("remote \"{text}\": {problem}"),
                    "write remote = \"udp://HOST:PORT\" or remote = \"tcp://HOST:PORT\", e.g. \"tcp://syslog.comune.example:514\"",
                ),
            }
        }
        if let Some(v) = t.get("facility")
            && let Some(name) = self.string(v, "facility")
        {
            match FACILITIES.iter().find(|(n, _)| *n == name) {
                Some((_, code)) => log.facility = *code,
                None => {
                    let names: Vec<&str> = FACILITIES.iter().map(|(n, _)| *n).collect();
                    let fix = match closest(&name, names.iter().copied()) {
                        Some(s) => format!("did you mean \"{s}\"?"),
                        None => format!("use one of: {}", names.join(", ")),
                    };
                    self.error(
                        Some(v.span()),
                        format!("facility \"{name}\" is not known"),
                        fix,
                    );
                }
            }
        }
        log
    }

    fn duration(&mut self, v: &Value<'_>, what: &str) -> Option<SignedDuration> {
        let text = self.string(v, what)?;
        match parse_duration(&text) {
            Ok(d) => Some(d),
            Err(problem) => {
                self.error(
                    Some(v.span()),
                    format!("{what} \"{text}\": {problem}"),
                    format!(
                        "write a length such as {what} = \"10m\" (h, m, s; \"0\" turns it off; at most a day)"
                    ),
                );
                None
            }
        }
    }

    /// `[panic]`: how long the panic button suspends the windows.
    fn panic(&mut self, t: &DeTable<'_>) -> PanicUntil {
        self.unknown_keys(t, PANIC_KEYS, "in [panic]");
        let Some(v) = t.get("until") else {
            return PanicUntil::default();
        };
        match self.string(v, "until").as_deref() {
            Some("next_day") => PanicUntil::NextDay,
            Some("resume") => PanicUntil::Resume,
            Some(other) => {
                self.error(
                    Some(v.span()),
                    format!("until \"{other}\" is not known"),
                    "write until = \"next_day\" (windows reopen the next calendar day) or until = \"resume\" (only `varco resume` by an administrator reopens them)",
                );
                PanicUntil::default()
            }
            None => PanicUntil::default(),
        }
    }

    /// `peers`: the contractor's AnyDesk/TeamViewer IDs, digits only
    /// (spaces, as the tools show them, are dropped).
    fn peers(&mut self, v: &Value<'_>) -> Option<Vec<String>> {
        let example = "[\"123456789\"]";
        let Some(items) = v.get_ref().as_array() else {
            self.type_error(v, "peers", "a list", example);
            return None;
        };
        if items.is_empty() {
            self.error(
                Some(v.span()),
                "`peers` is empty, so no technician could connect",
                "list the IDs of the technician's AnyDesk or TeamViewer, or remove `peers` to accept any",
            );
            return None;
        }
        let mut ids = Vec::new();
        for item in items {
            let Some(text) = self.string(item, "peers") else {
                continue;
            };
            let id: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            if id.len() < 6 || id.len() > 12 || !id.chars().all(|c| c.is_ascii_digit()) {
                self.error(
                    Some(item.span()),
                    format!("\"{text}\" is not an AnyDesk or TeamViewer ID"),
                    "write the ID's digits as the tool shows them, e.g. \"123 456 789\" (an alias such as name@ad is chosen by whoever connects, so it proves nothing)",
                );
            } else {
                ids.push(id);
            }
        }
        Some(ids)
    }

    fn table<'a, 'i>(&mut self, v: &'a Value<'i>, what: &str) -> Option<&'a DeTable<'i>> {
        let t = v.get_ref().as_table();
        if t.is_none() {
            self.error(
                Some(v.span()),
                format!("{what} must be a table, not a {}", v.get_ref().type_str()),
                format!("write it as a {what} section"),
            );
        }
        t
    }

    fn window(
        &mut self,
        t: &DeTable<'_>,
        at: Range<usize>,
        defaults: &WindowDefaults<'_>,
        catalog: &Catalog,
    ) -> Option<MaintenanceWindow> {
        let tz = defaults.tz;
        let before = self.diags.len();
        self.unknown_keys(t, WINDOW_KEYS, "in [[window]]");
        let id = match t.get("id") {
            Some(v) => self.string(v, "id").filter(|s| {
                let ok = !s.trim().is_empty();
                if !ok {
                    self.error(
                        Some(v.span()),
                        "window id is empty",
                        "write the ticket or a short name",
                    );
                }
                ok
            }),
            None => {
                self.error(
                    Some(at.clone()),
                    "window has no `id`",
                    "add id = \"...\" (e.g. the ticket number); it appears in the audit log",
                );
                None
            }
        };
        let tools = self.tools(t, at.clone(), catalog);
        let when = self.when(t, at, tz);
        let technician = self.opt_string(t, "technician");
        let ticket = self.opt_string(t, "ticket");
        let note = self.opt_string(t, "note");
        let warn_before_end = match t.get("warn_before_end") {
            Some(v) => self.duration(v, "warn_before_end"),
            None => Some(defaults.warn_before_end),
        };
        let peers = t.get("peers").map(|v| self.peers(v));
        let installed_only = t
            .get("installed_only")
            .is_some_and(|v| self.boolean(v, "installed_only").unwrap_or(false));
        if self.diags.len() > before {
            return None;
        }
        Some(MaintenanceWindow {
            id: id?,
            tools: tools?,
            when: when?,
            technician,
            ticket,
            note,
            warn_before_end: warn_before_end?,
            peers: peers.flatten(),
            installed_only,
        })
    }

    fn tools(&mut self, t: &DeTable<'_>, at: Range<usize>, catalog: &Catalog) -> Option<Tools> {
        let Some(v) = t.get("tools") else {
            self.error(
                Some(at),
                "window has no `tools`",
                "add tools = [\"anydesk\"] (ids from `varco catalog list`) or tools = [\"*\"] for any",
            );
            return None;
        };
        let Some(items) = v.get_ref().as_array() else {
            self.type_error(v, "tools", "a list", "[\"anydesk\"]");
            return None;
        };
        if items.is_empty() {
            self.error(
                Some(v.span()),
                "`tools` is empty, so this window admits nothing",
                "list the tool ids, or [\"*\"] for any remote tool",
            );
            return None;
        }
        let mut ids = Vec::new();
        let mut any = false;
        for item in items {
            let Some(id) = self.string(item, "tools") else {
                continue;
            };
            if id == "*" {
                any = true;
            } else if catalog.get(&id).is_some() {
                ids.push(id);
            } else {
                let ids_known = catalog.tools().iter().map(|t| t.id.as_str());
                let fix = match closest(&id, ids_known) {
                    Some(s) => {
                        format!("did you mean \"{s}\"? (`varco catalog list` shows all ids)")
                    }
                    None => {
                        "use an id from `varco catalog list`, or \"*\" for any remote tool".into()
                    }
                };
                self.error(Some(item.span()), format!("unknown tool \"{id}\""), fix);
            }
        }
        if any && !ids.is_empty() {
            self.error(
                Some(v.span()),
                "`tools` mixes \"*\" with tool ids",
                "write either [\"*\"] or the list of ids",
            );
        }
        Some(if any { Tools::Any } else { Tools::Only(ids) })
    }

    fn when(&mut self, t: &DeTable<'_>, at: Range<usize>, tz: Option<&TimeZone>) -> Option<When> {
        let once = ["start", "end"].iter().any(|k| t.contains_key(*k));
        let weekly = ["days", "from", "to", "valid_from", "valid_until"]
            .iter()
            .any(|k| t.contains_key(*k));
        match (once, weekly) {
            (true, true) => {
                self.error(
                    Some(at),
                    "window mixes one-off fields (start/end) with recurring ones (days/from/to/valid_*)",
                    "split it into two windows, or keep one kind",
                );
                None
            }
            (false, false) => {
                self.error(
                    Some(at),
                    "window says nothing about when it is open",
                    "add start/end for a one-off window, or days/from/to for a recurring one",
                );
                None
            }
            (true, false) => self.once(t, at, tz),
            (false, true) => self.weekly(t, at),
        }
    }

    fn once(&mut self, t: &DeTable<'_>, at: Range<usize>, tz: Option<&TimeZone>) -> Option<When> {
        let start = self.instant(t, "start", at.clone(), tz);
        let end = self.instant(t, "end", at, tz);
        let (start, end) = (start?, end?);
        if end <= start {
            self.error(
                t.get("end").map(|v| v.span()),
                "`end` is not after `start`",
                "a window must end after it starts; check the date and the hours",
            );
            return None;
        }
        Some(When::Once { start, end })
    }

    fn instant(
        &mut self,
        t: &DeTable<'_>,
        key: &str,
        at: Range<usize>,
        tz: Option<&TimeZone>,
    ) -> Option<jiff::Timestamp> {
        let example = "2025-11-26T14:00:00";
        let Some(v) = t.get(key) else {
            self.error(
                Some(at),
                format!("one-off window has no `{key}`"),
                format!("add {key} = {example}"),
            );
            return None;
        };
        let Some(dt) = v.get_ref().as_datetime() else {
            self.type_error(v, key, "a date and time (not in quotes)", example);
            return None;
        };
        let (Some(date), Some(time)) = (dt.date, dt.time) else {
            self.error(
                Some(v.span()),
                format!("`{key}` needs both a date and a time"),
                format!("for example {key} = {example}"),
            );
            return None;
        };
        let civil = match civil_date(date).and_then(|d| Ok(d.to_datetime(civil_time(time)?))) {
            Ok(dt) => dt,
            Err(e) => {
                self.error(
                    Some(v.span()),
                    format!("`{key}` is not a valid date: {e}"),
                    "check the day and month",
                );
                return None;
            }
        };
        match offset_of(dt) {
            Some(offset) => offset.to_timestamp(civil).ok(),
            // Without its zone a local time cannot be placed; the zone's own
            // error has been reported already.
            None => tz.and_then(|tz| local_instant(tz, civil)),
        }
    }

    fn weekly(&mut self, t: &DeTable<'_>, at: Range<usize>) -> Option<When> {
        let days = self.days(t, at.clone());
        let from = self.clock(t, "from", at.clone());
        let to = self.clock(t, "to", at);
        let valid_from = self.date(t, "valid_from");
        let valid_until = self.date(t, "valid_until");
        let (days, from, to) = (days?, from?, to?);
        // "24:00" is the end of the day: with from = "00:00" a whole day,
        // which is how IT admits its own always-on management agent.
        let to_end_of_day = t
            .get("to")
            .and_then(|v| v.get_ref().as_str())
            .is_some_and(|s| s.trim() == "24:00");
        if from == to && !to_end_of_day {
            self.error(
                t.get("to").map(|v| v.span()),
                "`from` and `to` are the same time, so the window has no length",
                "for a window past midnight write e.g. from = \"22:00\", to = \"02:00\"",
            );
            return None;
        }
        if let (Some(Some(a)), Some(Some(b))) = (valid_from, valid_until)
            && b < a
        {
            self.error(
                t.get("valid_until").map(|v| v.span()),
                "`valid_until` is before `valid_from`",
                "swap the dates, or fix the year",
            );
            return None;
        }
        Some(When::Weekly {
            days,
            from,
            to,
            valid_from: valid_from.flatten(),
            valid_until: valid_until.flatten(),
        })
    }

    fn days(&mut self, t: &DeTable<'_>, at: Range<usize>) -> Option<[bool; 7]> {
        let Some(v) = t.get("days") else {
            self.error(
                Some(at),
                "recurring window has no `days`",
                "add days = [\"tue\", \"thu\"]",
            );
            return None;
        };
        let Some(items) = v.get_ref().as_array() else {
            self.type_error(v, "days", "a list", "[\"tue\", \"thu\"]");
            return None;
        };
        if items.is_empty() {
            self.error(
                Some(v.span()),
                "`days` is empty, so this window never opens",
                "list the days, e.g. [\"mon\"]",
            );
            return None;
        }
        let mut days = [false; 7];
        let mut ok = true;
        for item in items {
            let Some(name) = self.string(item, "days") else {
                ok = false;
                continue;
            };
            match DAYS.iter().position(|d| *d == name.to_lowercase()) {
                Some(i) => days[i] = true,
                None => {
                    ok = false;
                    self.error(
                        Some(item.span()),
                        format!("\"{name}\" is not a day"),
                        "use mon, tue, wed, thu, fri, sat, sun",
                    );
                }
            }
        }
        ok.then_some(days)
    }

    fn clock(&mut self, t: &DeTable<'_>, key: &str, at: Range<usize>) -> Option<Time> {
        let Some(v) = t.get(key) else {
            self.error(
                Some(at),
                format!("recurring window has no `{key}`"),
                format!("add {key} = \"18:00\""),
            );
            return None;
        };
        let parsed = match v.get_ref() {
            // The end of the day, read as the next midnight.
            DeValue::String(s) if key == "to" && s.trim() == "24:00" => Some(Time::midnight()),
            DeValue::String(s) => parse_clock(s),
            DeValue::Datetime(Datetime {
                date: None,
                time: Some(time),
                offset: None,
            }) => civil_time(*time).ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.error(
                Some(v.span()),
                format!("`{key}` is not a time of day"),
                format!(
                    "write {key} = \"18:00\" (24-hour HH:MM; to = \"24:00\" for the end of the day)"
                ),
            );
        }
        parsed
    }

    /// `None` when absent, `Some(None)` when present but wrong (reported).
    fn date(&mut self, t: &DeTable<'_>, key: &str) -> Option<Option<Date>> {
        let v = t.get(key)?;
        let parsed = match v.get_ref() {
            DeValue::Datetime(Datetime {
                date: Some(d),
                time: None,
                offset: None,
            }) => civil_date(*d).ok(),
            DeValue::String(s) => s.parse::<Date>().ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.error(
                Some(v.span()),
                format!("`{key}` is not a date"),
                format!("write {key} = 2026-06-30"),
            );
        }
        Some(parsed)
    }
}

fn civil_date(d: toml::value::Date) -> Result<Date, jiff::Error> {
    Date::new(d.year as i16, d.month as i8, d.day as i8)
}

fn civil_time(t: toml::value::Time) -> Result<Time, jiff::Error> {
    Time::new(
        t.hour as i8,
        t.minute as i8,
        t.second.unwrap_or(0) as i8,
        t.nanosecond.unwrap_or(0) as i32,
    )
}

fn offset_of(dt: &Datetime) -> Option<Offset> {
    match dt.offset? {
        toml::value::Offset::Z => Some(Offset::UTC),
        toml::value::Offset::Custom { minutes } => {
            Offset::from_seconds(i32::from(minutes) * 60).ok()
        }
    }
}

/// "HH:MM" or "HH:MM:SS", 24-hour.
fn parse_clock(s: &str) -> Option<Time> {
    let s = s.trim();
    let full = if s.len() == 5 {
        format!("{s}:00")
    } else {
        s.to_string()
    };
    let t: Time = full.parse().ok()?;
    (s.len() == 5 || s.len() == 8).then_some(t)
}
