//! `varco report`: the incident report an operator or IT attaches when
//! reporting to the Polizia Postale and to the Direzione Centrale per i
//! Servizi Demografici.
//!
//! Built from the audit log (the primary record, read through its type,
//! [`Record`]) and the windows file: which workstation and user, each
//! blocked or alerted event with the executable's SHA-256 and whether the
//! operator was told, the windows in force, whom to call back. Both of
//! those come in follow-up records (`fingerprint`, `notice`) joined to
//! their decision by its id; logs written before follow-ups existed carry
//! them on the decision itself, and are read too. Its words are in `config/messages.toml`
//! (`[report]`), Italian. Rendered by [`render`] as Markdown and as a
//! printable HTML page; [`auto`] keeps an up-to-date copy next to the
//! audit log while the daemon runs.

mod auto;
pub mod contract;
mod render;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use jiff::tz::TimeZone;

pub use auto::{AUTO_COALESCE, AutoReport};
pub use contract::ContractReport;
use render::{Block, code};

use crate::effect::audit::fingerprint::{self, Bounds, NotHashed};
use crate::effect::audit::{Event, Record, RecordId, parse_all};
use crate::effect::stop::Outcome;
use crate::messages::{ReportTexts, fill};
use crate::policy::catalog::Catalog;
use crate::policy::files::{self, ConfigSource, Trust};
use crate::policy::schedule::{Mode, Schedule, Tools, When};

/// The file name (without extension) of the report kept by the enforcer.
pub const AUTO_NAME: &str = "rapporto-incidente";

/// Who may read a written report (Unix permissions; on Windows a report
/// takes the access list of its folder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readers {
    /// Owner and group (0640): what `varco report` writes for IT, who
    /// passes it on.
    OwnerAndGroup,
    /// Everyone (0644): the copy the enforcer keeps for the operator, whom
    /// the notification sends to it. It holds what the operator was just
    /// told (tool, path, time, the company's number) for this workstation
    /// only; the audit log beside it stays 0640.
    Everyone,
}

impl Readers {
    fn mode(self) -> u32 {
        match self {
            Readers::OwnerAndGroup => 0o640,
            Readers::Everyone => 0o644,
        }
    }
}

/// How far back the report kept by the enforcer looks.
const AUTO_DAYS: i64 = 7;

/// Where an event's fingerprint comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fingerprint {
    /// Taken by the enforcer right after the decision (in the record).
    AtDecision(String),
    /// Taken now, from the file still on disk: it may have changed since.
    AtReport(String),
    /// The enforcer did not take it, for this reason (too large, not a
    /// regular file, …); nor is it taken now.
    NotTaken(NotHashed),
    /// Neither: the file was unreadable or is gone.
    Unknown,
}

/// One blocked or alerted event, as the report shows it.
#[derive(Debug, Clone)]
struct Incident {
    record: Record,
    /// Whether the operator was told: the `notice` about this record, or
    /// (older logs) the record itself.
    notice: Option<Record>,
    fingerprint: Option<Fingerprint>,
}

/// An incident report, ready to render.
#[derive(Debug, Clone)]
pub struct Report {
    texts: ReportTexts,
    generated: Timestamp,
    since: Option<Timestamp>,
    tz: TimeZone,
    audit_log: PathBuf,
    config: String,
    config_problem: Option<String>,
    schedule: Schedule,
    incidents: Vec<Incident>,
    hosts: Vec<String>,
    users: Vec<String>,
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The audit log cannot be read.
    #[error("cannot read the audit log {}: {source} — pass --audit-log FILE (the service writes /var/log/varco/audit.jsonl)", path.display())]
    Audit {
        /// The log.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The report's words are missing (a build defect).
    #[error("{0}")]
    Texts(String),
}

impl Report {
    /// Reads the audit log at `audit_log` (events at or after `since`) and
    /// the windows file `config`.
    pub fn build(
        audit_log: &Path,
        config: &ConfigSource,
        catalog: &Catalog,
        trust: &Trust,
        since: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Report, ReportError> {
        let texts = ReportTexts::load().map_err(ReportError::Texts)?;
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
            ConfigSource::Url(u) => (
                Schedule::fail_closed(),
                Some(format!("{u}: fetched by the daemon, not read here")),
            ),
        };
        let mut incidents: Vec<Incident> = Vec::new();
        let mut by_id: HashMap<RecordId, usize> = HashMap::new();
        let mut hosts = Vec::new();
        let mut users = Vec::new();
        for record in parse_all(&text) {
            if since.is_some_and(|s| record.time.at < s) {
                continue;
            }
            match record.event {
                Event::Blocked | Event::Alerted => {}
                Event::Notice | Event::Fingerprint => {
                    let about = record.about.as_ref().and_then(|id| by_id.get(id));
                    if let Some(&i) = about {
                        incidents[i].follow(record);
                    }
                    continue;
                }
                _ => continue,
            }
            for (list, item) in [
                (&mut hosts, record.host.clone()),
                (&mut users, record.who()),
            ] {
                if let Some(i) = item
                    && !list.contains(&i)
                {
                    list.push(i);
                }
            }
            if let Some(id) = &record.id {
                by_id.insert(id.clone(), incidents.len());
            }
            incidents.push(Incident::of(record));
        }
        for i in &mut incidents {
            i.fingerprint.get_or_insert_with(|| match &i.record.exe {
                Some(exe) => fingerprint::sha256_of(Path::new(exe), Bounds::default())
                    .map_or(Fingerprint::Unknown, Fingerprint::AtReport),
                None => Fingerprint::Unknown,
            });
        }
        if hosts.is_empty()
            && let Ok(h) = sysinfo::System::host_name()
        {
            hosts.push(h);
        }
        Ok(Report {
            texts,
            generated: now,
            since,
            tz: schedule.timezone.clone(),
            audit_log: audit_log.to_path_buf(),
            config: config.describe(),
            config_problem,
            schedule,
            incidents,
            hosts,
            users,
        })
    }

    /// How many blocked or alerted events the report lists.
    pub fn len(&self) -> usize {
        self.incidents.len()
    }

    /// Whether the report lists no event.
    pub fn is_empty(&self) -> bool {
        self.incidents.is_empty()
    }

    fn local(&self, t: Timestamp) -> String {
        t.to_zoned_datetime(self.tz.clone())
            .strftime("%d/%m/%Y %H:%M:%S")
            .to_string()
    }

    fn verdict(&self, event: Event) -> &str {
        match event {
            Event::Alerted => &self.texts.verdict_alerted,
            _ => &self.texts.verdict_blocked,
        }
    }

    fn mode(&self, mode: Mode) -> &str {
        match mode {
            Mode::Block => &self.texts.mode_block,
            Mode::Alert => &self.texts.mode_alert,
        }
    }

    fn outcome(&self, o: &Outcome) -> String {
        let t = &self.texts;
        match o {
            Outcome::Stopped { processes } => {
                fill(&t.outcome_stopped, &[("n", &processes.to_string())])
            }
            Outcome::AlreadyExited => t.outcome_already_exited.clone(),
            Outcome::RefusedBeforeStart => t.outcome_refused_before_start.clone(),
            Outcome::NotStopped { error } => fill(&t.outcome_not_stopped, &[("error", error)]),
        }
    }

    fn or_none(&self, v: Option<String>) -> String {
        v.unwrap_or_else(|| self.texts.none.clone())
    }

    /// The report's content as blocks.
    fn blocks(&self) -> Vec<Block> {
        let t = &self.texts;
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
            Block::Heading(t.heading_workstation.clone()),
        ];
        let to = self.local(self.generated);
        let period = match self.since {
            Some(s) => fill(&t.period_since, &[("from", &self.local(s)), ("to", &to)]),
            None => fill(&t.period_all, &[("to", &to)]),
        };
        b.push(Block::Fields(vec![
            (
                t.field_hosts.clone(),
                join_or(&self.hosts, &t.hosts_unknown),
            ),
            (t.field_users.clone(), join_or(&self.users, &t.not_recorded)),
            (t.field_period.clone(), period),
            (
                t.field_audit_log.clone(),
                code(&self.audit_log.display().to_string()),
            ),
            (t.field_windows_file.clone(), code(&self.config)),
        ]));
        b.push(Block::Heading(fill(
            &t.heading_events,
            &[("count", &self.incidents.len().to_string())],
        )));
        if self.incidents.is_empty() {
            b.push(Block::Para(t.no_events.clone()));
        } else {
            b.push(Block::Table {
                head: vec![
                    t.field_time.clone(),
                    t.field_result.clone(),
                    t.field_tool.clone(),
                    t.field_user.clone(),
                ],
                rows: self
                    .incidents
                    .iter()
                    .map(|i| {
                        vec![
                            self.local(i.record.time.at),
                            self.verdict(i.record.event).to_string(),
                            tool_name(&i.record),
                            self.or_none(i.record.who()),
                        ]
                    })
                    .collect(),
            });
        }
        for (n, i) in self.incidents.iter().enumerate() {
            b.push(Block::Subheading(fill(
                &t.event_heading,
                &[
                    ("n", &(n + 1).to_string()),
                    ("time", &self.local(i.record.time.at)),
                    ("tool", &tool_name(&i.record)),
                    ("verdict", self.verdict(i.record.event)),
                ],
            )));
            b.push(Block::Fields(self.incident_fields(i)));
        }
        b.extend(self.windows_blocks());
        let c = &self.schedule.contact;
        let given = |v: &Option<String>| v.clone().unwrap_or_else(|| t.not_given.clone());
        b.push(Block::Heading(t.heading_contacts.clone()));
        b.push(Block::Fields(vec![
            (t.field_company.clone(), given(&c.company)),
            (t.field_phone.clone(), given(&c.phone)),
            (t.field_email.clone(), given(&c.email)),
            (t.field_referent.clone(), given(&c.referent)),
        ]));
        b.push(Block::Heading(t.heading_notes.clone()));
        b.push(Block::Para(fill(
            &t.notes,
            &[("zone", &self.schedule.timezone_name)],
        )));
        b
    }

    /// Everything the record says about one event.
    fn incident_fields(&self, i: &Incident) -> Vec<(String, String)> {
        let t = &self.texts;
        let r = &i.record;
        let verdict = self.verdict(r.event);
        let result = match &r.outcome {
            Some(o) => fill(
                &t.result_with_outcome,
                &[("verdict", verdict), ("outcome", &self.outcome(o))],
            ),
            None => verdict.to_string(),
        };
        let fingerprint = match &i.fingerprint {
            Some(Fingerprint::AtDecision(h)) => fill(&t.sha256_at_decision, &[("hash", &code(h))]),
            Some(Fingerprint::AtReport(h)) => fill(&t.sha256_at_report, &[("hash", &code(h))]),
            Some(Fingerprint::NotTaken(why)) => fill(
                &t.sha256_not_taken,
                &[
                    (
                        "reason",
                        t.not_hashed.get(why.kind()).map_or("", String::as_str),
                    ),
                    ("detail", &why.to_string()),
                ],
            ),
            Some(Fingerprint::Unknown) | None => t.sha256_unknown.clone(),
        };
        let matched_by = r
            .matched_by
            .and_then(|m| t.matched_by.get(m.as_str()).cloned())
            .unwrap_or_else(|| t.not_recorded.clone());
        let mut f = vec![
            (t.field_time.clone(), self.local(r.time.at)),
            (t.field_tool.clone(), tool_name(r)),
            (t.field_result.clone(), result),
            (t.field_mode.clone(), self.mode(r.mode).to_string()),
            (
                t.field_exe.clone(),
                r.exe.as_deref().map_or(t.exe_unknown.clone(), code),
            ),
            (t.field_sha256.clone(), fingerprint),
            (t.field_matched_by.clone(), matched_by),
            (
                t.field_user.clone(),
                r.who().unwrap_or_else(|| t.not_recorded.clone()),
            ),
            (
                t.field_pid.clone(),
                self.or_none(r.pid.map(|p| p.to_string())),
            ),
            (t.field_host.clone(), self.or_none(r.host.clone())),
        ];
        if let Some(c) = &r.cmdline {
            f.push((t.field_cmdline.clone(), code(c)));
        }
        if let Some(url) = &r.origin {
            f.push((t.field_origin.clone(), code(url)));
        }
        let n = i.notice.as_ref().unwrap_or(r);
        let told = match (n.notified, &n.not_notified) {
            (Some(true), _) => t.told_yes.clone(),
            // Told, together with the other tools, in one message.
            (_, Some(crate::effect::notify::NotShown::InSummary)) => t
                .not_notified
                .get("in_summary")
                .cloned()
                .unwrap_or_default(),
            (_, Some(why)) => fill(
                &t.told_no,
                &[
                    (
                        "summary",
                        t.not_notified.get(why.kind()).map_or("", String::as_str),
                    ),
                    ("detail", &why.to_string()),
                ],
            ),
            _ => t.not_recorded.clone(),
        };
        f.push((t.field_told.clone(), told));
        f
    }

    /// The windows in the file now, and the mode outside them.
    fn windows_blocks(&self) -> Vec<Block> {
        let t = &self.texts;
        let mut b = vec![
            Block::Heading(t.heading_windows.clone()),
            Block::Para(t.windows_note.clone()),
        ];
        if let Some(p) = &self.config_problem {
            b.push(Block::Para(fill(&t.windows_unusable, &[("reason", p)])));
        }
        if self.schedule.windows.is_empty() {
            b.push(Block::Para(t.no_windows.clone()));
        } else {
            b.push(Block::Table {
                head: vec![
                    t.column_window.clone(),
                    t.column_when.clone(),
                    t.column_tools.clone(),
                    t.column_technician.clone(),
                    t.column_ticket.clone(),
                ],
                rows: self
                    .schedule
                    .windows
                    .iter()
                    .map(|w| {
                        vec![
                            w.id.clone(),
                            self.when(&w.when),
                            match &w.tools {
                                Tools::Any => t.tools_any.clone(),
                                Tools::Only(ids) => ids.join(", "),
                            },
                            self.or_none(w.technician.clone()),
                            self.or_none(w.ticket.clone()),
                        ]
                    })
                    .collect(),
            });
        }
        b.push(Block::Para(fill(
            &t.mode_outside,
            &[("mode", self.mode(self.schedule.mode))],
        )));
        b
    }

    fn when(&self, w: &When) -> String {
        let t = &self.texts;
        match w {
            When::Once { start, end } => fill(
                &t.when_once,
                &[("start", &self.local(*start)), ("end", &self.local(*end))],
            ),
            When::Weekly {
                days,
                from,
                to,
                valid_from,
                valid_until,
            } => {
                let d: Vec<&str> = t
                    .days
                    .iter()
                    .zip(days)
                    .filter(|(_, on)| **on)
                    .map(|(n, _)| n.as_str())
                    .collect();
                let mut s = fill(
                    &t.when_weekly,
                    &[
                        ("days", &d.join(", ")),
                        ("from", &from.strftime("%H:%M").to_string()),
                        ("to", &to.strftime("%H:%M").to_string()),
                    ],
                );
                if let Some(v) = valid_from {
                    let date = v.strftime("%d/%m/%Y").to_string();
                    s.push_str(&fill(&t.when_valid_from, &[("date", &date)]));
                }
                if let Some(v) = valid_until {
                    let date = v.strftime("%d/%m/%Y").to_string();
                    s.push_str(&fill(&t.when_valid_until, &[("date", &date)]));
                }
                s
            }
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

    /// Writes `<stem>.md` and `<stem>.html` for `out` (any extension of
    /// `out` is replaced); returns both paths. Each is written whole or
    /// not at all, readable by `readers` (it names users, paths and
    /// command lines).
    pub fn write(&self, out: &Path, readers: Readers) -> io::Result<(PathBuf, PathBuf)> {
        let md = out.with_extension("md");
        let html = out.with_extension("html");
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        crate::sys::write_atomic(&md, self.markdown().as_bytes(), readers.mode())?;
        crate::sys::write_atomic(&html, self.html().as_bytes(), readers.mode())?;
        Ok((md, html))
    }
}

impl Incident {
    /// An incident as its decision record says it; what followed is added
    /// by [`Incident::follow`].
    fn of(record: Record) -> Incident {
        // Logs written before follow-ups existed: on the decision itself.
        let notice = record.notified.is_some().then(|| record.clone());
        let fingerprint = record.exe_sha256.clone().map(Fingerprint::AtDecision);
        Incident {
            record,
            notice,
            fingerprint,
        }
    }

    /// Adds a `notice` or `fingerprint` record about this incident.
    fn follow(&mut self, r: Record) {
        match r.event {
            Event::Notice => self.notice = Some(r),
            Event::Fingerprint => {
                self.fingerprint = match (r.exe_sha256, r.not_hashed) {
                    (Some(h), _) => Some(Fingerprint::AtDecision(h)),
                    (None, Some(why)) => Some(Fingerprint::NotTaken(why)),
                    (None, None) => None,
                }
            }
            _ => {}
        }
    }
}

/// The tool as the record names it for people.
fn tool_name(r: &Record) -> String {
    r.tool_name
        .clone()
        .or_else(|| r.tool.clone())
        .unwrap_or_else(|| "?".into())
}

fn join_or(list: &[String], none: &str) -> String {
    if list.is_empty() {
        none.to_string()
    } else {
        list.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effect::audit::RecordIds;
    use crate::effect::notify::NotShown;

    /// A decision and its follow-ups, as the daemon writes them (in this
    /// order, with the second decision's in between).
    fn log() -> String {
        let tz = TimeZone::get("Europe/Rome").unwrap();
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let mut ids = RecordIds::new(at("2025-11-26T13:00:00Z"));
        let decision = |tool: &str, pid: u32, ids: &mut RecordIds| {
            let mut r = Record::new(Event::Blocked, at("2025-11-26T13:30:00Z"), &tz, Mode::Block);
            r.id = Some(ids.next_id());
            r.tool = Some(tool.into());
            r.pid = Some(pid);
            r.exe = Some(format!("/nonexistent/{tool}"));
            r
        };
        let first = decision("anydesk", 41, &mut ids);
        let second = decision("rustdesk", 42, &mut ids);
        let later = at("2025-11-26T13:30:01Z");
        let mut told = second.follow_up(Event::Notice, later, &tz);
        told.notified = Some(false);
        told.not_notified = Some(NotShown::NoAgent {
            detail: "uid 4242".into(),
        });
        let mut hashed = first.follow_up(Event::Fingerprint, later, &tz);
        hashed.exe_sha256 = Some("ab".repeat(32));
        let mut giant = second.follow_up(Event::Fingerprint, later, &tz);
        giant.not_hashed = Some(NotHashed::TooLarge { size: 1 << 40 });
        // The follow-up of a decision outside the report is ignored.
        let mut stray = decision("teamviewer", 43, &mut ids).follow_up(Event::Notice, later, &tz);
        stray.notified = Some(true);
        [first, second, told, hashed, giant, stray]
            .iter()
            .map(|r| serde_json::to_string(r).unwrap() + "\n")
            .collect()
    }

    #[test]
    fn follow_ups_join_their_decision_by_id() {
        let dir = std::env::temp_dir().join(format!("varco-report-join-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let audit = dir.join("audit.jsonl");
        std::fs::write(&audit, log()).unwrap();
        let catalog = Catalog::embedded().unwrap();
        let now = "2025-11-26T14:00:00Z".parse().unwrap();
        let report = Report::build(
            &audit,
            &ConfigSource::EmbeddedDefault,
            &catalog,
            &Trust::default(),
            None,
            now,
        )
        .unwrap();
        assert_eq!(report.len(), 2, "follow-ups are not incidents");
        let md = report.markdown();
        std::fs::remove_dir_all(dir).unwrap();
        let first =
            &md[md.find("anydesk bloccato").unwrap()..md.find("rustdesk bloccato").unwrap()];
        let second = &md[md.find("rustdesk bloccato").unwrap()..];
        assert!(first.contains(&"ab".repeat(32)), "{first}");
        assert!(
            first.contains("calcolato da varco al momento dell'evento"),
            "{first}"
        );
        assert!(!first.contains("sì, con una notifica"), "{first}");
        assert!(
            second.contains("non calcolato: il file è troppo grande"),
            "{second}"
        );
        assert!(second.contains("nessun agent varco era attivo"), "{second}");
        assert!(!md.contains("teamviewer"), "{md}");
    }

    #[test]
    fn a_log_from_before_follow_ups_still_reads() {
        let dir = std::env::temp_dir().join(format!("varco-report-old-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let audit = dir.join("audit.jsonl");
        let line = format!(
            r#"{{"time":"2025-11-26T14:30:00.000+01:00","event":"blocked","tool":"anydesk","pid":42,"exe":"/nonexistent/AnyDesk","user":"operatore","uid":1000,"window":null,"technician":null,"mode":"block","host":"pc-anagrafe","exe_sha256":"{}","notified":true}}"#,
            "cd".repeat(32)
        );
        std::fs::write(&audit, line + "\n").unwrap();
        let catalog = Catalog::embedded().unwrap();
        let now = "2025-11-26T14:00:00Z".parse().unwrap();
        let md = Report::build(
            &audit,
            &ConfigSource::EmbeddedDefault,
            &catalog,
            &Trust::default(),
            None,
            now,
        )
        .unwrap()
        .markdown();
        std::fs::remove_dir_all(dir).unwrap();
        assert!(md.contains(&"cd".repeat(32)), "{md}");
        assert!(md.contains("sì, con una notifica sullo schermo"), "{md}");
    }
}
