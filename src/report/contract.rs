//! `varco report --windows`: the contract report. Every maintenance window
//! planned in a period, with technician and ticket; whether a remote
//! session happened in it, with which tool, from when to when and how it
//! ended; every remote tool stopped or alerted outside the windows; and
//! the interruptions (panic button, unlisted peers). What the comune
//! checks before paying the IT company's invoice.
//!
//! Built from the audit records (read through [`Record`]) and the windows
//! file in force; words in `config/messages.toml` (`[contract]`).

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::render::{self, Block, code};
use super::{ReportError, join_or, tool_name};
use crate::effect::audit::{Event, Record, parse_all};
use crate::messages::{ContractTexts, fill};
use crate::policy::catalog::Catalog;
use crate::policy::files::{self, ConfigSource, Trust};
use crate::policy::schedule::{MaintenanceWindow, Opening, Schedule, Tools};

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// varco stopped it when its window closed.
    WindowClosed(Timestamp),
    /// It exited by itself.
    Exited(Timestamp),
    /// The operator pressed the panic button.
    Panic(Timestamp),
    /// An unlisted peer connected.
    UnlistedPeer(Timestamp, String),
    /// varco stopped it for another reason.
    Stopped(Timestamp, String),
    /// No end in the records of the period.
    Open,
}

/// One remote session: a tool admitted by a window, until it ended.
#[derive(Debug, Clone)]
struct Session {
    window: String,
    tool: String,
    user: Option<String>,
    from: Timestamp,
    end: End,
}

/// The contract report, ready to render.
#[derive(Debug, Clone)]
pub struct ContractReport {
    texts: ContractTexts,
    generated: Timestamp,
    from: Timestamp,
    to: Timestamp,
    tz: TimeZone,
    audit_log: PathBuf,
    config: String,
    config_problem: Option<String>,
    schedule: Schedule,
    sessions: Vec<Session>,
    outside: Vec<Record>,
    interruptions: Vec<Record>,
    hosts: Vec<String>,
}

impl ContractReport {
    /// Reads the audit log at `audit_log` and the windows file `config`
    /// for the period `[from, to)`.
    pub fn build(
        audit_log: &Path,
        config: &ConfigSource,
        catalog: &Catalog,
        trust: &Trust,
        (from, to): (Timestamp, Timestamp),
        now: Timestamp,
    ) -> Result<ContractReport, ReportError> {
        let texts = ContractTexts::load().map_err(ReportError::Texts)?;
        let text = std::fs::read_to_string(audit_log).map_err(|source| ReportError::Audit {
            path: audit_log.to_path_buf(),
            source,
        })?;
        let (schedule, config_problem) = match config {
            ConfigSource::EmbeddedDefault => (Schedule::fail_closed(), None),
            ConfigSource::File(p) => match files::load(p, catalog, trust) {
                Ok(s) => (s, None),
                Err(e) => (Schedule::fail_closed(), Some(e.to_string())),
            },
            ConfigSource::Url(url) => (
                Schedule::fail_closed(),
                Some(format!(
                    "{url}: the report reads the copy the daemon keeps of a remote windows file"
                )),
            ),
        };
        let mut records: Vec<Record> = parse_all(&text)
            .filter(|r| r.time.at >= from && r.time.at < to)
            .collect();
        records.sort_by_key(|r| r.time.at);
        let mut hosts = Vec::new();
        for h in records.iter().filter_map(|r| r.host.clone()) {
            if !hosts.contains(&h) {
                hosts.push(h);
            }
        }
        let sessions = sessions(&records);
        let admitted_pids: Vec<u32> = records
            .iter()
            .filter(|r| r.event == Event::Allowed)
            .filter_map(|r| r.pid)
            .collect();
        let outside = records
            .iter()
            .filter(|r| matches!(r.event, Event::Blocked | Event::Alerted))
            // A session stopped at its window's end is not an incident.
            .filter(|r| !r.pid.is_some_and(|p| admitted_pids.contains(&p)))
            .cloned()
            .collect();
        let interruptions = records
            .iter()
            .filter(|r| matches!(r.event, Event::Panic | Event::UnlistedPeer | Event::Resumed))
            .cloned()
            .collect();
        Ok(ContractReport {
            texts,
            generated: now,
            from,
            to,
            tz: schedule.timezone.clone(),
            audit_log: audit_log.to_path_buf(),
            config: config.describe(),
            config_problem,
            schedule,
            sessions,
            outside,
            interruptions,
            hosts,
        })
    }

    fn local(&self, t: Timestamp) -> String {
        t.to_zoned_datetime(self.tz.clone())
            .strftime("%d/%m/%Y %H:%M")
            .to_string()
    }

    fn day(&self, t: Timestamp) -> String {
        t.to_zoned_datetime(self.tz.clone())
            .strftime("%d/%m/%Y")
            .to_string()
    }

    fn clock(&self, t: Timestamp) -> String {
        t.to_zoned_datetime(self.tz.clone())
            .strftime("%H:%M:%S")
            .to_string()
    }

    fn or_not_given(&self, v: &Option<String>) -> String {
        v.clone().unwrap_or_else(|| self.texts.not_given.clone())
    }

    fn when(&self, o: &Opening) -> String {
        fill(
            &self.texts.when,
            &[("start", &self.local(o.start)), ("end", &self.local(o.end))],
        )
    }

    /// The sessions that started inside `o` of window `w`.
    fn sessions_in(&self, w: &MaintenanceWindow, o: &Opening) -> Vec<&Session> {
        self.sessions
            .iter()
            .filter(|s| s.window == w.id && o.contains(s.from))
            .collect()
    }

    fn end(&self, s: &Session) -> (String, String) {
        let t = &self.texts;
        match &s.end {
            End::WindowClosed(at) => (self.clock(*at), t.end_window_closed.clone()),
            End::Exited(at) => (self.clock(*at), t.end_exited.clone()),
            End::Panic(at) => (self.clock(*at), t.end_panic.clone()),
            End::UnlistedPeer(at, peer) => (
                self.clock(*at),
                fill(&t.end_unlisted_peer, &[("peer", peer)]),
            ),
            End::Stopped(at, why) => (self.clock(*at), fill(&t.end_stopped, &[("reason", why)])),
            End::Open => ("—".into(), t.end_open.clone()),
        }
    }

    /// The report as blocks.
    fn blocks(&self) -> Vec<Block> {
        let t = &self.texts;
        let openings = self.schedule.openings_between(self.from, self.to);
        let used = openings
            .iter()
            .filter(|(w, o)| !self.sessions_in(w, o).is_empty())
            .count();
        let mut b = vec![
            Block::Title(t.title.clone()),
            Block::Para(fill(
                &t.generated,
                &[
                    ("version", env!("CARGO_PKG_VERSION")),
                    ("time", &self.local(self.generated)),
                    ("zone", &self.schedule.timezone_name),
                ],
            )),
            Block::Heading(t.heading_summary.clone()),
            Block::Fields(vec![
                (
                    t.field_period.clone(),
                    // `to` is the first instant after the period: name the
                    // last day in it.
                    fill(
                        &t.period,
                        &[
                            ("from", &self.day(self.from)),
                            (
                                "to",
                                &self.day(self.to - jiff::SignedDuration::from_nanos(1)),
                            ),
                        ],
                    ),
                ),
                (
                    t.field_hosts.clone(),
                    join_or(&self.hosts, &t.hosts_unknown),
                ),
                (
                    t.field_company.clone(),
                    self.or_not_given(&self.schedule.contact.company),
                ),
                (t.field_planned.clone(), openings.len().to_string()),
                (t.field_used.clone(), used.to_string()),
                (t.field_outside.clone(), self.outside.len().to_string()),
                (
                    t.field_interruptions.clone(),
                    self.interruptions
                        .iter()
                        .filter(|r| r.event != Event::Resumed)
                        .count()
                        .to_string(),
                ),
                (
                    t.field_audit_log.clone(),
                    code(&self.audit_log.display().to_string()),
                ),
                (t.field_windows_file.clone(), code(&self.config)),
            ]),
        ];
        if let Some(p) = &self.config_problem {
            b.push(Block::Para(fill(&t.windows_unusable, &[("reason", p)])));
        }
        b.push(Block::Heading(fill(
            &t.heading_windows,
            &[("count", &openings.len().to_string())],
        )));
        if openings.is_empty() {
            b.push(Block::Para(t.no_windows.clone()));
        } else {
            b.push(Block::Table {
                head: vec![
                    t.column_window.clone(),
                    t.column_when.clone(),
                    t.column_technician.clone(),
                    t.column_ticket.clone(),
                    t.column_session.clone(),
                ],
                rows: openings
                    .iter()
                    .map(|(w, o)| {
                        let n = self.sessions_in(w, o).len();
                        vec![
                            w.id.clone(),
                            self.when(o),
                            self.or_not_given(&w.technician),
                            self.or_not_given(&w.ticket),
                            if n == 0 {
                                t.session_no.clone()
                            } else {
                                fill(&t.session_yes, &[("count", &n.to_string())])
                            },
                        ]
                    })
                    .collect(),
            });
        }
        for (w, o) in &openings {
            b.push(Block::Subheading(fill(
                &t.window_heading,
                &[("window", &w.id), ("when", &self.when(o))],
            )));
            b.push(Block::Fields(vec![
                (t.field_technician.clone(), self.or_not_given(&w.technician)),
                (
                    t.field_company.clone(),
                    self.or_not_given(&self.schedule.contact.company),
                ),
                (t.field_ticket.clone(), self.or_not_given(&w.ticket)),
                (
                    t.field_tools.clone(),
                    match &w.tools {
                        Tools::Any => t.tools_any.clone(),
                        Tools::Only(ids) => ids.join(", "),
                    },
                ),
            ]));
            let sessions = self.sessions_in(w, o);
            if sessions.is_empty() {
                b.push(Block::Para(t.no_sessions.clone()));
            } else {
                b.push(Block::Table {
                    head: vec![
                        t.column_tool.clone(),
                        t.column_from.clone(),
                        t.column_to.clone(),
                        t.column_end.clone(),
                        t.column_user.clone(),
                    ],
                    rows: sessions
                        .iter()
                        .map(|s| {
                            let (to, how) = self.end(s);
                            vec![
                                s.tool.clone(),
                                self.clock(s.from),
                                to,
                                how,
                                s.user.clone().unwrap_or_else(|| "—".into()),
                            ]
                        })
                        .collect(),
                });
            }
        }
        b.push(Block::Heading(fill(
            &t.heading_outside,
            &[("count", &self.outside.len().to_string())],
        )));
        if self.outside.is_empty() {
            b.push(Block::Para(t.no_outside.clone()));
        } else {
            b.push(Block::Table {
                head: vec![
                    t.column_time.clone(),
                    t.column_tool.clone(),
                    t.column_result.clone(),
                    t.column_user.clone(),
                    t.column_origin.clone(),
                ],
                rows: self
                    .outside
                    .iter()
                    .map(|r| {
                        vec![
                            self.local(r.time.at),
                            tool_name(r),
                            match r.event {
                                Event::Alerted => t.verdict_alerted.clone(),
                                _ => t.verdict_blocked.clone(),
                            },
                            r.who().unwrap_or_else(|| "—".into()),
                            r.origin.as_deref().map_or_else(|| "—".into(), code),
                        ]
                    })
                    .collect(),
            });
        }
        b.push(Block::Heading(fill(
            &t.heading_interruptions,
            &[("count", &self.interruptions.len().to_string())],
        )));
        if self.interruptions.is_empty() {
            b.push(Block::Para(t.no_interruptions.clone()));
        } else {
            b.push(Block::Table {
                head: vec![t.column_time.clone(), t.column_what.clone()],
                rows: self
                    .interruptions
                    .iter()
                    .map(|r| vec![self.local(r.time.at), self.interruption(r)])
                    .collect(),
            });
        }
        b.push(Block::Heading(t.heading_notes.clone()));
        b.push(Block::Para(fill(
            &t.notes,
            &[("zone", &self.schedule.timezone_name)],
        )));
        b
    }

    fn interruption(&self, r: &Record) -> String {
        let t = &self.texts;
        match r.event {
            Event::Panic => fill(
                &t.interruption_panic,
                &[
                    ("user", &r.who().unwrap_or_else(|| t.unknown_user.clone())),
                    ("windows", &{
                        let ids = r.windows.clone().unwrap_or_default();
                        if ids.is_empty() {
                            "—".to_string()
                        } else {
                            ids.join(", ")
                        }
                    }),
                ],
            ),
            Event::UnlistedPeer => fill(
                &t.interruption_unlisted_peer,
                &[("tool", &tool_name(r)), ("peer", &peer_of(r))],
            ),
            _ => fill(
                &t.interruption_resumed,
                &[("reason", r.reason.as_deref().unwrap_or(""))],
            ),
        }
    }

    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        render::markdown(&self.blocks())
    }

    /// The report as one self-contained HTML page that prints well.
    pub fn html(&self) -> String {
        render::html(&self.texts.title, &self.blocks())
    }

    /// How many windows were planned in the period.
    pub fn planned(&self) -> usize {
        self.schedule.openings_between(self.from, self.to).len()
    }
}

/// "ALIAS (ID)" or the ID alone.
fn peer_of(r: &Record) -> String {
    let id = r.peer_id.clone().unwrap_or_else(|| "?".into());
    match &r.peer_alias {
        Some(a) => format!("{a} ({id})"),
        None => id,
    }
}

/// Each `allowed` record opens a session; the next record for the same
/// process that says it ended closes it.
fn sessions(records: &[Record]) -> Vec<Session> {
    let mut out: Vec<Session> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        if r.event != Event::Allowed {
            continue;
        }
        let (Some(window), Some(pid)) = (r.window.clone(), r.pid) else {
            continue;
        };
        let end = records[i + 1..]
            .iter()
            .filter(|later| later.pid == Some(pid) && later.tool == r.tool)
            .find_map(|later| {
                let at = later.time.at;
                match later.event {
                    Event::Exited => Some(End::Exited(at)),
                    Event::UnlistedPeer => Some(End::UnlistedPeer(at, peer_of(later))),
                    Event::Blocked => {
                        let why = later.reason.clone().unwrap_or_default();
                        Some(if why.contains("panic") {
                            End::Panic(at)
                        } else if why.contains("no longer open") {
                            End::WindowClosed(at)
                        } else {
                            End::Stopped(at, why)
                        })
                    }
                    _ => None,
                }
            })
            .unwrap_or(End::Open);
        out.push(Session {
            window,
            tool: tool_name(r),
            user: r.who(),
            from: r.time.at,
            end,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::schedule::Mode;

    fn rec(event: Event, at: &str, pid: u32, window: Option<&str>, reason: Option<&str>) -> Record {
        let tz = TimeZone::get("Europe/Rome").unwrap();
        let mut r = Record::new(event, at.parse().unwrap(), &tz, Mode::Block);
        r.pid = Some(pid);
        r.tool = Some("anydesk".into());
        r.tool_name = Some("AnyDesk".into());
        r.window = window.map(str::to_string);
        r.reason = reason.map(str::to_string);
        r
    }

    #[test]
    fn a_session_ends_at_the_record_that_says_how() {
        let records = vec![
            rec(
                Event::Allowed,
                "2025-11-26T13:05:00Z",
                10,
                Some("INC-1"),
                None,
            ),
            rec(
                Event::Allowed,
                "2025-11-26T13:10:00Z",
                11,
                Some("INC-1"),
                None,
            ),
            rec(
                Event::Exited,
                "2025-11-26T13:40:00Z",
                10,
                Some("INC-1"),
                None,
            ),
            rec(
                Event::Blocked,
                "2025-11-26T15:00:00Z",
                11,
                None,
                Some("window \"INC-1\" is no longer open"),
            ),
            rec(
                Event::Allowed,
                "2025-11-26T15:30:00Z",
                12,
                Some("INC-2"),
                None,
            ),
        ];
        let s = sessions(&records);
        assert_eq!(s.len(), 3);
        assert_eq!(
            s[0].end,
            End::Exited("2025-11-26T13:40:00Z".parse().unwrap())
        );
        assert_eq!(
            s[1].end,
            End::WindowClosed("2025-11-26T15:00:00Z".parse().unwrap())
        );
        assert_eq!(s[2].end, End::Open);
    }
}
