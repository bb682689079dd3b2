//! One line of the audit log, as a type: written with serde by the audit
//! writer, read back with serde by `varco report` and `varco status`, so
//! the log's format and its readers can never drift apart.
//!
//! Every field a log tool may filter on is a value of its own (no outcome
//! or reason to parse out of a sentence): `event`, `outcome`,
//! `not_notified`, `source` and `matched_by` are enums, the user's numeric
//! `uid` stands beside the name.
//!
//! A decision is recorded at once, before anything slow: what followed —
//! whether the operator was told (`notice`), the executable's SHA-256
//! (`fingerprint`) — comes in records of its own, each naming the
//! decision's `id` in `about`. Lines are written by one writer in the order
//! they happen; none waits for another.

use std::fmt;

use jiff::Timestamp;
use jiff::tz::{Offset, TimeZone};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::fingerprint::NotHashed;
use crate::effect::notify::NotShown;
use crate::effect::stop::Outcome;
use crate::facts::SourceKind;
use crate::policy::catalog::MatchedBy;
use crate::policy::schedule::Mode;

/// What a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A remote tool ran inside a window.
    Allowed,
    /// A remote tool was stopped (or refused before it started).
    Blocked,
    /// A remote tool runs outside every window in alert mode.
    Alerted,
    /// The windows file is missing, unreadable, invalid or untrusted.
    ConfigError,
    /// A program's content could not be judged: unreadable, damaged where
    /// it would name the program, or (a defect) varco's reader failed on
    /// it — then the program is also stopped as a tool no window admits.
    IdentifyError,
    /// An edited windows file was loaded and is now in force.
    ConfigReloaded,
    /// The daemon started.
    Started,
    /// The daemon stopped.
    Stopped,
    /// Whether the operator was told about the record named in `about`
    /// (`notified`, `not_notified`, `held_back`).
    Notice,
    /// The SHA-256 of the executable of the decision named in `about`
    /// (`exe_sha256`), or why it was not taken (`not_hashed`).
    Fingerprint,
    /// The wall clock jumped (`clock_from`, `clock_to`,
    /// `clock_difference_ms`).
    ClockJump,
    /// IT's server cannot be reached (first failure, then hourly); what
    /// is in force does not change.
    FetchFailed,
    /// IT's server answers again.
    FetchRecovered,
    /// The head of the audit chain: how many lines the log holds and the
    /// SHA-256 of the last one, sent out regularly so that a log cut short
    /// afterwards shows.
    ChainHead,
    /// A window with remote tools running under it is about to end: the
    /// operator was warned (`window`, `tools`, `until` = the end).
    WindowEnding,
    /// The operator pressed the panic button: every remote tool stopped,
    /// the open windows suspended (`user`/`uid` from the OS, `windows`,
    /// `until`).
    Panic,
    /// An administrator lifted the suspension, or it lapsed (`reason`).
    Resumed,
    /// A peer not listed in the window connected; the tool was stopped
    /// (`peer_id`, `peer_alias`).
    UnlistedPeer,
    /// A window lists `peers` but the tool's log cannot be read, so who
    /// connects cannot be checked; the window's other rules still apply.
    PeerUnverifiable,
    /// A tool a window admitted exited by itself: the end of its session.
    Exited,
    /// A source reported that the kernel dropped process events (its
    /// queue overflowed) or that its observations could not all reach the
    /// daemon (`source`, `reason`): every running process was decided
    /// again from a full walk of the process table.
    EventsLost,
}

impl Event {
    /// The word used in the log (`blocked`, `config_error`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Allowed => "allowed",
            Event::Blocked => "blocked",
            Event::Alerted => "alerted",
            Event::ConfigError => "config_error",
            Event::IdentifyError => "identify_error",
            Event::ConfigReloaded => "config_reloaded",
            Event::Started => "started",
            Event::Stopped => "stopped",
            Event::Notice => "notice",
            Event::Fingerprint => "fingerprint",
            Event::ClockJump => "clock_jump",
            Event::FetchFailed => "fetch_failed",
            Event::FetchRecovered => "fetch_recovered",
            Event::ChainHead => "chain_head",
            Event::WindowEnding => "window_ending",
            Event::Panic => "panic",
            Event::Resumed => "resumed",
            Event::UnlistedPeer => "unlisted_peer",
            Event::PeerUnverifiable => "peer_unverifiable",
            Event::Exited => "exited",
            Event::EventsLost => "events_lost",
        }
    }
}

/// Names a record that others follow up (`id` on a decision or a
/// `config_error`, `about` on its `notice` and `fingerprint`): the
/// daemon's run (when it started, in milliseconds since the epoch, hex),
/// a dot, and a count within the run, so ids stay unique across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RecordId(pub String);

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Hands out the [`RecordId`]s of one run of the daemon.
#[derive(Debug)]
pub struct RecordIds {
    run: String,
    next: u64,
}

impl RecordIds {
    /// Ids for a run that started at `started`.
    pub fn new(started: Timestamp) -> RecordIds {
        RecordIds {
            run: format!("{:x}", started.as_millisecond().max(0)),
            next: 1,
        }
    }

    /// The next id.
    pub fn next_id(&mut self) -> RecordId {
        let id = RecordId(format!("{}.{}", self.run, self.next));
        self.next += 1;
        id
    }
}

/// When a record was made: an instant, written with the UTC offset of the
/// windows file's zone at that instant (RFC 3339, milliseconds), so a
/// person reads office time and a machine reads an exact instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordTime {
    /// The instant.
    pub at: Timestamp,
    /// The offset it is written with.
    pub offset: Offset,
}

/// The layout of [`RecordTime`] in the log.
const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3f%:z";

impl RecordTime {
    /// `at`, shown in `tz`.
    pub fn new(at: Timestamp, tz: &TimeZone) -> RecordTime {
        RecordTime {
            at,
            offset: tz.to_offset(at),
        }
    }
}

impl fmt::Display for RecordTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let local = self.at.to_zoned_datetime(TimeZone::fixed(self.offset));
        write!(f, "{}", local.strftime(TIME_FORMAT))
    }
}

impl std::str::FromStr for RecordTime {
    type Err = jiff::Error;

    fn from_str(s: &str) -> Result<RecordTime, jiff::Error> {
        let at: Timestamp = s.parse()?;
        let offset = jiff::fmt::strtime::parse(TIME_FORMAT, s)
            .ok()
            .and_then(|t| t.offset())
            .unwrap_or(Offset::UTC);
        Ok(RecordTime { at, offset })
    }
}

impl Serialize for RecordTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RecordTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RecordTime, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One line of the audit log. The first fields are always present (null
/// when they do not apply), so log tools can rely on them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// When.
    pub time: RecordTime,
    /// What happened.
    pub event: Event,
    /// This record's id, on records that others follow up (decisions,
    /// `config_error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<RecordId>,
    /// The record a follow-up (`notice`, `fingerprint`) is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<RecordId>,
    /// Catalog id of the tool.
    pub tool: Option<String>,
    /// Its process id.
    pub pid: Option<u32>,
    /// Its executable path.
    pub exe: Option<String>,
    /// The name of the account it ran as, when it resolves.
    pub user: Option<String>,
    /// The numeric id (Unix uid) of that account, kept when no name
    /// resolves (users from a directory).
    pub uid: Option<u32>,
    /// The window that admitted it.
    pub window: Option<String>,
    /// The technician announced for that window.
    pub technician: Option<String>,
    /// The mode in force.
    pub mode: Mode,
    /// The workstation.
    pub host: Option<String>,
    /// How the tool was recognised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_by: Option<MatchedBy>,
    /// The tool's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// The full command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<String>,
    /// What enforcement achieved: `outcome` (`stopped`, `already_exited`,
    /// `refused_before_start`, `not_stopped`) with `stopped_processes` or
    /// `stop_error` beside it.
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Why (config errors, re-decisions when a window closes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// True when the tool was refused before it ran a single instruction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_start: Option<bool>,
    /// The event source that saw it (on `started`: the first of those
    /// running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceKind>,
    /// On `started`: every source running (fanotify before the exec and
    /// a post-exec source beside it, where fanotify works).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<SourceKind>>,
    /// The windows file in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// varco's version, on `started`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The time the decision was taken at, when it is not the record's
    /// `time`: the system clock was set back and decisions keep the time
    /// already reached (see `clock_jump`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<RecordTime>,
    /// SHA-256 of the executable, computed by varco right after the
    /// decision (on `fingerprint`; for the incident report: identifies the
    /// exact file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe_sha256: Option<String>,
    /// Why there is no `exe_sha256`: `not_hashed` (`too_large`,
    /// `not_regular`, `timeout`, …) with `not_hashed_detail` or
    /// `not_hashed_size` beside it.
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub not_hashed: Option<NotHashed>,
    /// Whether the operator was shown a notification for this record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notified: Option<bool>,
    /// Why the operator was not told: `not_notified` (`rate_limit`,
    /// `no_agent`, …) with `not_notified_detail` beside it.
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub not_notified: Option<NotShown>,
    /// Notifications for this tool held back by the rate limit since the
    /// previous one shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_back: Option<u32>,
    /// On `clock_jump`: where the wall clock should have been.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_from: Option<RecordTime>,
    /// On `clock_jump`: where it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_to: Option<RecordTime>,
    /// On `clock_jump`: `clock_to - clock_from`, in milliseconds
    /// (negative: set back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_difference_ms: Option<i64>,
    /// On `chain_head`: how many lines the log file holds before this
    /// record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_lines: Option<u64>,
    /// On `chain_head`: the SHA-256 (hex) of the last of those lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_head: Option<String>,
    /// SHA-256 (hex) of the previous line's bytes, or 64 zeros for the
    /// first line of a new log: the chain that shows an edited, removed,
    /// inserted or reordered line. Set by the audit writer, the one
    /// place that knows what it wrote last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
    /// The URL the executable was downloaded from, when the file says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The ID of the peer that connected (`unlisted_peer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_id: Option<String>,
    /// The name that peer gave itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_alias: Option<String>,
    /// The tools running under a window (`window_ending`) or stopped by a
    /// panic (`panic`), by display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    /// The windows a panic suspended (`["*"]`: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<Vec<String>>,
    /// When a window ends (`window_ending`) or a suspension lapses
    /// (`panic`; absent: only `varco resume` lifts it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<RecordTime>,
}

impl Record {
    /// A record of `event` at `now`, shown in `tz`, with every optional
    /// field empty.
    pub fn new(event: Event, now: Timestamp, tz: &TimeZone, mode: Mode) -> Record {
        Record {
            time: RecordTime::new(now, tz),
            event,
            id: None,
            about: None,
            tool: None,
            pid: None,
            exe: None,
            user: None,
            uid: None,
            window: None,
            technician: None,
            mode,
            host: sysinfo::System::host_name().ok(),
            matched_by: None,
            tool_name: None,
            cmdline: None,
            outcome: None,
            reason: None,
            before_start: None,
            source: None,
            sources: None,
            config: None,
            version: None,
            decided_at: None,
            exe_sha256: None,
            not_hashed: None,
            notified: None,
            not_notified: None,
            held_back: None,
            clock_from: None,
            clock_to: None,
            clock_difference_ms: None,
            chain_lines: None,
            chain_head: None,
            prev: None,
            origin: None,
            peer_id: None,
            peer_alias: None,
            tools: None,
            windows: None,
            until: None,
        }
    }

    /// A follow-up of this record (`notice`, `fingerprint`) at `now`:
    /// names it in `about` and repeats what a reader filtering on one line
    /// needs (tool, pid, user, executable, window).
    pub fn follow_up(&self, event: Event, now: Timestamp, tz: &TimeZone) -> Record {
        let mut r = Record::new(event, now, tz, self.mode);
        r.about = self.id.clone();
        r.window = self.window.clone();
        r.technician = self.technician.clone();
        r.tool = self.tool.clone();
        r.tool_name = self.tool_name.clone();
        r.pid = self.pid;
        r.exe = self.exe.clone();
        r.user = self.user.clone();
        r.uid = self.uid;
        r.host = self.host.clone();
        r
    }

    /// Reads one line of the log; `None` for a line that is not a record
    /// (a torn last line after a power cut, a line from a future version
    /// with an event this one does not know).
    pub fn parse(line: &str) -> Option<Record> {
        serde_json::from_str(line).ok()
    }

    /// The user as a person reads it: the name, else `uid N`.
    pub fn who(&self) -> Option<String> {
        match (&self.user, self.uid) {
            (Some(name), _) => Some(name.clone()),
            (None, Some(uid)) => Some(format!("uid {uid}")),
            (None, None) => None,
        }
    }
}

/// Every record in `text` (one JSON object per line), skipping lines that
/// are not records.
pub fn parse_all(text: &str) -> impl Iterator<Item = Record> + '_ {
    text.lines().filter_map(Record::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked() -> Record {
        let tz = TimeZone::get("Europe/Rome").unwrap();
        let now: Timestamp = "2025-11-26T13:30:00Z".parse().unwrap();
        let mut r = Record::new(Event::Blocked, now, &tz, Mode::Block);
        r.tool = Some("anydesk".into());
        r.pid = Some(42);
        r.uid = Some(1000);
        r.outcome = Some(Outcome::Stopped { processes: 3 });
        r.not_notified = Some(NotShown::NoAgent {
            detail: "uid 1000".into(),
        });
        r.notified = Some(false);
        r.source = Some(SourceKind::ProcConnector);
        r.matched_by = Some(MatchedBy::PeOriginalFilename);
        r
    }

    #[test]
    fn a_record_reads_back_as_the_same_value() {
        let r = blocked();
        let line = serde_json::to_string(&r).unwrap();
        assert_eq!(Record::parse(&line), Some(r));
    }

    #[test]
    fn fields_are_flat_values_a_log_tool_can_filter_on() {
        let v: serde_json::Value = serde_json::to_value(blocked()).unwrap();
        assert_eq!(v["time"], "2025-11-26T14:30:00.000+01:00");
        assert_eq!(v["event"], "blocked");
        assert_eq!(v["outcome"], "stopped");
        assert_eq!(v["stopped_processes"], 3);
        assert_eq!(v["not_notified"], "no_agent");
        assert_eq!(v["not_notified_detail"], "uid 1000");
        assert_eq!(v["source"], "proc-connector");
        assert_eq!(v["matched_by"], "pe_original_filename");
        assert_eq!(v["uid"], 1000);
        for key in ["pid", "exe", "user", "window", "technician", "uid"] {
            assert!(v.get(key).is_some(), "{key} always present");
        }
    }

    #[test]
    fn follow_ups_name_their_decision_and_read_back() {
        let mut ids = RecordIds::new("2025-11-26T13:00:00Z".parse().unwrap());
        let mut decision = blocked();
        decision.id = Some(ids.next_id());
        let next = ids.next_id();
        assert_ne!(decision.id.as_ref(), Some(&next), "ids are not reused");
        assert_eq!(next.0, "19ac03fd480.2");
        let tz = TimeZone::get("Europe/Rome").unwrap();
        let later: Timestamp = "2025-11-26T13:30:01Z".parse().unwrap();
        let mut hashed = decision.follow_up(Event::Fingerprint, later, &tz);
        hashed.not_hashed = Some(NotHashed::TooLarge { size: 1 << 40 });
        let v: serde_json::Value = serde_json::to_value(&hashed).unwrap();
        assert_eq!(v["event"], "fingerprint");
        assert_eq!(v["about"], "19ac03fd480.1");
        assert_eq!(v["pid"], 42);
        assert_eq!(v["not_hashed"], "too_large");
        assert_eq!(v["not_hashed_size"], 1u64 << 40);
        assert!(v.get("id").is_none(), "a follow-up has no id of its own");
        let back = Record::parse(&serde_json::to_string(&hashed).unwrap()).unwrap();
        assert_eq!(back, hashed);
    }

    #[test]
    fn a_clock_jump_reads_back() {
        let tz = TimeZone::get("Europe/Rome").unwrap();
        let from: Timestamp = "2025-11-26T15:30:00Z".parse().unwrap();
        let to: Timestamp = "2025-11-26T13:30:00Z".parse().unwrap();
        let mut r = Record::new(Event::ClockJump, to, &tz, Mode::Block);
        r.clock_from = Some(RecordTime::new(from, &tz));
        r.clock_to = Some(RecordTime::new(to, &tz));
        r.clock_difference_ms = Some(-7_200_000);
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(v["event"], "clock_jump");
        assert_eq!(v["clock_from"], "2025-11-26T16:30:00.000+01:00");
        assert_eq!(v["clock_difference_ms"], -7_200_000);
        assert_eq!(Record::parse(&serde_json::to_string(&r).unwrap()), Some(r));
    }

    #[test]
    fn a_torn_or_foreign_line_is_not_a_record() {
        assert_eq!(Record::parse("{\"time\":\"2025-11-26T14:"), None);
        assert_eq!(Record::parse("not json"), None);
    }

    #[test]
    fn the_time_keeps_its_instant_and_offset() {
        let t: RecordTime = "2025-07-01T10:00:00.250+02:00".parse().unwrap();
        assert_eq!(
            t.at,
            "2025-07-01T08:00:00.25Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(t.to_string(), "2025-07-01T10:00:00.250+02:00");
    }
}
