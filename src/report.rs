//! `varco report`: the incident report an operator or IT attaches when
//! reporting to the Polizia Postale and to the Direzione Centrale per i
//! Servizi Demografici.
//!
//! Built from the audit log (the primary record) and the windows file:
//! which workstation and user, each blocked or alerted event with the
//! executable's SHA-256, the windows in force, whom to call back. Markdown
//! for e-mail and tickets, and a self-contained HTML page that prints on
//! A4. Italian by default.
//!
//! The running enforcer also keeps an up-to-date copy next to the audit
//! log after every blocked or alerted event ([`AutoReport`]), so the
//! notification can say where it is: nobody has to look for logs while
//! under pressure.

use std::io;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value;

use crate::audit::{AuditSink, Event, Record};
use crate::catalog::Catalog;
use crate::config::{self, ConfigSource};
use crate::schedule::{Schedule, Tools, When};

/// The file name (without extension) of the report kept by the enforcer.
pub const AUTO_NAME: &str = "rapporto-incidente";

/// How far back the report kept by the enforcer looks.
const AUTO_DAYS: i64 = 7;

/// One blocked or alerted event, as the report shows it.
#[derive(Debug, Clone)]
struct Incident {
    time: Option<Timestamp>,
    event: String,
    tool: String,
    exe: Option<String>,
    sha256: Option<(String, HashWhen)>,
    matched_by: String,
    mode: String,
    user: Option<String>,
    pid: Option<u64>,
    host: Option<String>,
    outcome: Option<String>,
    cmdline: Option<String>,
    notified: Option<(bool, Option<String>)>,
}

/// When the fingerprint was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HashWhen {
    /// By the enforcer right after the decision (in the audit record).
    AtDecision,
    /// Now, from the file still on disk: it may have changed since.
    AtReport,
}

/// An incident report, ready to render.
#[derive(Debug, Clone)]
pub struct Report {
    generated: Timestamp,
    since: Option<Timestamp>,
    tz: TimeZone,
    tz_name: String,
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
}

impl Report {
    /// Reads the audit log at `audit_log` (events at or after `since`) and
    /// the windows file `config`.
    pub fn build(
        audit_log: &Path,
        config: &ConfigSource,
        catalog: &Catalog,
        since: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Report, ReportError> {
        let text = std::fs::read_to_string(audit_log).map_err(|source| ReportError::Audit {
            path: audit_log.to_path_buf(),
            source,
        })?;
        let (schedule, config_problem) = match config {
            ConfigSource::EmbeddedDefault => (Schedule::fail_closed(), None),
            ConfigSource::File(p) => match config::load(p, catalog, false) {
                Ok(s) => (s, None),
                Err(e) => (Schedule::fail_closed(), Some(e.to_string())),
            },
        };
        let mut incidents = Vec::new();
        let mut hosts = Vec::new();
        let mut users = Vec::new();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let event = str_of(&v, "event").unwrap_or_default();
            if event != "blocked" && event != "alerted" {
                continue;
            }
            let time = str_of(&v, "time").and_then(|t| t.parse::<Timestamp>().ok());
            if let (Some(since), Some(t)) = (since, time)
                && t < since
            {
                continue;
            }
            let exe = str_of(&v, "exe");
            let sha256 = match str_of(&v, "exe_sha256") {
                Some(h) => Some((h, HashWhen::AtDecision)),
                None => exe
                    .as_deref()
                    .and_then(|e| sha256_of(Path::new(e)))
                    .map(|h| (h, HashWhen::AtReport)),
            };
            let host = str_of(&v, "host");
            let user = str_of(&v, "user");
            for (list, item) in [(&mut hosts, &host), (&mut users, &user)] {
                if let Some(i) = item
                    && !list.contains(i)
                {
                    list.push(i.clone());
                }
            }
            incidents.push(Incident {
                time,
                event,
                tool: str_of(&v, "tool_name")
                    .or_else(|| str_of(&v, "tool"))
                    .unwrap_or_else(|| "?".into()),
                exe,
                sha256,
                matched_by: str_of(&v, "matched_by").unwrap_or_default(),
                mode: str_of(&v, "mode").unwrap_or_default(),
                user,
                pid: v.get("pid").and_then(Value::as_u64),
                host,
                outcome: str_of(&v, "outcome"),
                cmdline: str_of(&v, "cmdline"),
                notified: v
                    .get("notified")
                    .and_then(Value::as_bool)
                    .map(|b| (b, str_of(&v, "not_notified"))),
            });
        }
        if hosts.is_empty()
            && let Ok(h) = sysinfo::System::host_name()
        {
            hosts.push(h);
        }
        Ok(Report {
            generated: now,
            since,
            tz: schedule.timezone.clone(),
            tz_name: schedule.timezone_name.clone(),
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

    fn local(&self, t: Option<Timestamp>) -> String {
        t.map(|t| {
            t.to_zoned_datetime(self.tz.clone())
                .strftime("%d/%m/%Y %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| "ora non registrata".into())
    }

    /// The report's content as blocks, rendered by [`Report::markdown`]
    /// and [`Report::html`] alike so the two never say different things.
    fn blocks(&self) -> Vec<Block> {
        let mut b = Vec::new();
        b.push(Block::Title(
            "Rapporto di incidente: tentativo di accesso remoto non programmato".into(),
        ));
        b.push(Block::Para(format!(
            "Generato da varco {} il {} (fuso orario {}). Da allegare alla segnalazione alla Polizia Postale e alla Direzione Centrale per i Servizi Demografici.",
            env!("CARGO_PKG_VERSION"),
            self.local(Some(self.generated)),
            self.tz_name
        )));
        b.push(Block::Heading("Postazione".into()));
        let period = match self.since {
            Some(s) => format!(
                "dal {} al {}",
                self.local(Some(s)),
                self.local(Some(self.generated))
            ),
            None => format!(
                "tutto il registro, fino al {}",
                self.local(Some(self.generated))
            ),
        };
        b.push(Block::Fields(vec![
            (
                "Postazione (nome host)".into(),
                join_or(&self.hosts, "non registrata"),
            ),
            (
                "Utente della sessione".into(),
                join_or(&self.users, "non registrato"),
            ),
            ("Periodo esaminato".into(), period),
            (
                "Registro di audit".into(),
                code(&self.audit_log.display().to_string()),
            ),
            ("File delle finestre".into(), code(&self.config)),
        ]));
        b.push(Block::Heading(format!(
            "Eventi bloccati o segnalati ({})",
            self.incidents.len()
        )));
        if self.incidents.is_empty() {
            b.push(Block::Para(
                "Nessun accesso remoto è stato bloccato o segnalato nel periodo esaminato.".into(),
            ));
        } else {
            b.push(Block::Table {
                head: vec![
                    "Ora locale".into(),
                    "Esito".into(),
                    "Strumento".into(),
                    "Utente".into(),
                ],
                rows: self
                    .incidents
                    .iter()
                    .map(|i| {
                        vec![
                            self.local(i.time),
                            verdict_it(&i.event).into(),
                            i.tool.clone(),
                            i.user.clone().unwrap_or_else(|| "—".into()),
                        ]
                    })
                    .collect(),
            });
        }
        for (n, i) in self.incidents.iter().enumerate() {
            b.push(Block::Subheading(format!(
                "{}. {} — {} {}",
                n + 1,
                self.local(i.time),
                i.tool,
                verdict_it(&i.event)
            )));
            let mut f = vec![
                ("Ora locale".into(), self.local(i.time)),
                ("Strumento".into(), i.tool.clone()),
                (
                    "Esito".into(),
                    i.outcome.clone().map_or_else(
                        || verdict_it(&i.event).to_string(),
                        |o| format!("{} ({})", verdict_it(&i.event), outcome_it(&o)),
                    ),
                ),
                ("Modalità".into(), mode_it(&i.mode).into()),
                (
                    "Eseguibile".into(),
                    i.exe.as_deref().map_or("non leggibile".into(), code),
                ),
                (
                    "SHA-256 dell'eseguibile".into(),
                    match &i.sha256 {
                        Some((h, HashWhen::AtDecision)) => {
                            format!("{} (calcolato da varco al momento dell'evento)", code(h))
                        }
                        Some((h, HashWhen::AtReport)) => format!(
                            "{} (calcolato alla stesura del rapporto: il file potrebbe essere cambiato)",
                            code(h)
                        ),
                        None => "non disponibile (file non leggibile o già rimosso)".into(),
                    },
                ),
                ("Riconosciuto da".into(), matched_by_it(&i.matched_by)),
                (
                    "Utente".into(),
                    i.user.clone().unwrap_or_else(|| "non registrato".into()),
                ),
                ("PID".into(), i.pid.map_or("—".into(), |p| p.to_string())),
                (
                    "Postazione".into(),
                    i.host.clone().unwrap_or_else(|| "—".into()),
                ),
            ];
            if let Some(c) = &i.cmdline {
                f.push(("Riga di comando".into(), code(c)));
            }
            f.push((
                "Operatore avvisato".into(),
                match &i.notified {
                    Some((true, _)) => "sì, con una notifica sullo schermo".into(),
                    Some((false, why)) => not_told_it(why.as_deref()),
                    None => "non registrato".into(),
                },
            ));
            b.push(Block::Fields(f));
        }
        b.push(Block::Heading(
            "Finestre di manutenzione nel file (al momento del rapporto)".into(),
        ));
        b.push(Block::Para(
            "Un evento è «bloccato» o «segnalato» solo se in quel momento nessuna di queste finestre ammetteva lo strumento.".into(),
        ));
        if let Some(p) = &self.config_problem {
            b.push(Block::Para(format!(
                "Il file delle finestre non è utilizzabile: nessuna finestra è aperta. Dettagli: {p}"
            )));
        }
        if self.schedule.windows.is_empty() {
            b.push(Block::Para(
                "Nessuna finestra di manutenzione approvata: ogni accesso remoto viene bloccato."
                    .into(),
            ));
        } else {
            b.push(Block::Table {
                head: vec![
                    "Finestra".into(),
                    "Quando".into(),
                    "Strumenti".into(),
                    "Tecnico".into(),
                    "Ticket".into(),
                ],
                rows: self
                    .schedule
                    .windows
                    .iter()
                    .map(|w| {
                        vec![
                            w.id.clone(),
                            self.when_it(&w.when),
                            match &w.tools {
                                Tools::Any => "tutti".into(),
                                Tools::Only(ids) => ids.join(", "),
                            },
                            w.technician.clone().unwrap_or_else(|| "—".into()),
                            w.ticket.clone().unwrap_or_else(|| "—".into()),
                        ]
                    })
                    .collect(),
            });
        }
        b.push(Block::Para(format!(
            "Modalità fuori dalle finestre: {}.",
            mode_it(self.schedule.mode.as_str())
        )));
        b.push(Block::Heading("Contatti in archivio".into()));
        let c = &self.schedule.contact;
        let or = |v: &Option<String>| v.clone().unwrap_or_else(|| "non indicato".into());
        b.push(Block::Fields(vec![
            ("Ditta incaricata".into(), or(&c.company)),
            ("Telefono noto della ditta".into(), or(&c.phone)),
            ("E-mail della ditta".into(), or(&c.email)),
            ("Referente informatico del Comune".into(), or(&c.referent)),
        ]));
        b.push(Block::Heading("Note per chi riceve il rapporto".into()));
        b.push(Block::Para(format!(
            "Le ore sono ore locali ({}). La fonte è il registro di audit di varco sulla postazione, che riporta ogni evento in formato JSON con l'ora in RFC 3339: conservarlo insieme a questo rapporto. Un vero tecnico della ditta incaricata non chiede mai per telefono password, codici o la smart card; se la chiamata è avvenuta, annotare numero chiamante, ora e nome dichiarato.",
            self.tz_name
        )));
        b
    }

    fn when_it(&self, w: &When) -> String {
        match w {
            When::Once { start, end } => format!(
                "dal {} al {}",
                self.local(Some(*start)),
                self.local(Some(*end))
            ),
            When::Weekly {
                days,
                from,
                to,
                valid_from,
                valid_until,
            } => {
                const NAMES: [&str; 7] = ["lun", "mar", "mer", "gio", "ven", "sab", "dom"];
                let d: Vec<&str> = NAMES
                    .iter()
                    .zip(days)
                    .filter(|(_, on)| **on)
                    .map(|(n, _)| *n)
                    .collect();
                let mut s = format!(
                    "ogni {} dalle {} alle {}",
                    d.join(", "),
                    from.strftime("%H:%M"),
                    to.strftime("%H:%M")
                );
                if let Some(v) = valid_from {
                    s.push_str(&format!(", dal {}", v.strftime("%d/%m/%Y")));
                }
                if let Some(v) = valid_until {
                    s.push_str(&format!(", fino al {}", v.strftime("%d/%m/%Y")));
                }
                s
            }
        }
    }

    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        for block in self.blocks() {
            match block {
                Block::Title(t) => out.push_str(&format!("# {t}\n\n")),
                Block::Heading(t) => out.push_str(&format!("## {t}\n\n")),
                Block::Subheading(t) => out.push_str(&format!("### {t}\n\n")),
                Block::Para(t) => out.push_str(&format!("{}\n\n", md_text(&t))),
                Block::Fields(fields) => {
                    for (k, v) in fields {
                        out.push_str(&format!("- **{k}:** {}\n", md_text(&v)));
                    }
                    out.push('\n');
                }
                Block::Table { head, rows } => {
                    out.push_str(&format!("| {} |\n", head.join(" | ")));
                    out.push_str(&format!("|{}\n", "---|".repeat(head.len())));
                    for r in rows {
                        let cells: Vec<String> =
                            r.iter().map(|c| md_text(c).replace('|', "\\|")).collect();
                        out.push_str(&format!("| {} |\n", cells.join(" | ")));
                    }
                    out.push('\n');
                }
            }
        }
        out
    }

    /// The report as one self-contained HTML page that prints well.
    pub fn html(&self) -> String {
        let mut out = String::from(concat!(
            "<!DOCTYPE html>\n<html lang=\"it\">\n<head>\n<meta charset=\"utf-8\">\n",
            "<title>Rapporto di incidente varco</title>\n<style>\n",
            include_str!("report.css"),
            "</style>\n</head>\n<body>\n"
        ));
        for block in self.blocks() {
            match block {
                Block::Title(t) => out.push_str(&format!("<h1>{}</h1>\n", html_text(&t))),
                Block::Heading(t) => out.push_str(&format!("<h2>{}</h2>\n", html_text(&t))),
                Block::Subheading(t) => out.push_str(&format!("<h3>{}</h3>\n", html_text(&t))),
                Block::Para(t) => out.push_str(&format!("<p>{}</p>\n", html_text(&t))),
                Block::Fields(fields) => {
                    out.push_str("<table class=\"fields\">\n");
                    for (k, v) in fields {
                        out.push_str(&format!(
                            "<tr><th>{}</th><td>{}</td></tr>\n",
                            html_text(&k),
                            html_text(&v)
                        ));
                    }
                    out.push_str("</table>\n");
                }
                Block::Table { head, rows } => {
                    out.push_str("<table class=\"list\">\n<thead><tr>");
                    for h in head {
                        out.push_str(&format!("<th>{}</th>", html_text(&h)));
                    }
                    out.push_str("</tr></thead>\n<tbody>\n");
                    for r in rows {
                        out.push_str("<tr>");
                        for c in r {
                            out.push_str(&format!("<td>{}</td>", html_text(&c)));
                        }
                        out.push_str("</tr>\n");
                    }
                    out.push_str("</tbody>\n</table>\n");
                }
            }
        }
        out.push_str("</body>\n</html>\n");
        out
    }

    /// Writes `<stem>.md` and `<stem>.html` for `out` (any extension of
    /// `out` is replaced); returns both paths.
    pub fn write(&self, out: &Path) -> io::Result<(PathBuf, PathBuf)> {
        let md = out.with_extension("md");
        let html = out.with_extension("html");
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&md, self.markdown())?;
        std::fs::write(&html, self.html())?;
        Ok((md, html))
    }
}

/// What a report is made of, whatever the output format.
enum Block {
    Title(String),
    Heading(String),
    Subheading(String),
    Para(String),
    Fields(Vec<(String, String)>),
    Table {
        head: Vec<String>,
        rows: Vec<Vec<String>>,
    },
}

/// Marks verbatim text (paths, hashes, command lines); each renderer
/// shows it as code.
fn code(s: &str) -> String {
    format!("\u{1}{s}\u{2}")
}

fn md_text(s: &str) -> String {
    s.replace(['\u{1}', '\u{2}'], "`")
}

fn html_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\u{1}', "<code>")
        .replace('\u{2}', "</code>")
}

/// SHA-256 of a file, in hex, when it can be read: identifies the exact
/// executable for the police, whatever its name.
pub fn sha256_of(path: &Path) -> Option<String> {
    use sha2::{Digest, Sha256};
    let mut file = std::fs::File::open(path).ok()?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher).ok()?;
    Some(format!("{:x}", hasher.finalize()))
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn join_or(list: &[String], none: &str) -> String {
    if list.is_empty() {
        none.to_string()
    } else {
        list.join(", ")
    }
}

fn verdict_it(event: &str) -> &'static str {
    match event {
        "blocked" => "bloccato",
        "alerted" => "segnalato (lasciato in esecuzione)",
        _ => "altro",
    }
}

fn mode_it(mode: &str) -> &'static str {
    match mode {
        "block" => "blocco (lo strumento viene chiuso)",
        "alert" => "avviso (lo strumento resta aperto, l'operatore è avvisato)",
        _ => "non registrata",
    }
}

fn outcome_it(outcome: &str) -> String {
    if let Some(n) = outcome
        .strip_prefix("stopped ")
        .and_then(|r| r.strip_suffix(" process(es)"))
    {
        return format!("processi fermati: {n}");
    }
    match outcome {
        "already exited" => "era già terminato".into(),
        "refused before it started" => "rifiutato prima dell'avvio".into(),
        other => other.to_string(),
    }
}

/// Why the operator was not told, in Italian; the technical detail
/// (recorded in English for IT) follows.
fn not_told_it(why: Option<&str>) -> String {
    let Some(why) = why else {
        return "no (motivo non registrato)".into();
    };
    let summary = if why.starts_with("rate limit") {
        "era appena stata mostrata una notifica per lo stesso strumento (al massimo una al minuto)"
    } else if why.contains("no varco agent") {
        "nessun agent varco era attivo nella sessione dell'utente"
    } else if why.contains("notification server") {
        "nessun servizio di notifica nella sessione"
    } else {
        "la notifica non è stata consegnata"
    };
    format!("no: {summary} (dettaglio tecnico: {why})")
}

fn matched_by_it(m: &str) -> String {
    match m {
        "name" => "nome del file eseguibile (catalogo varco)".into(),
        "" => "non registrato".into(),
        other => format!("{other} (catalogo varco)"),
    }
}

/// Keeps `rapporto-incidente.md` and `.html` next to the audit log up to
/// date after every blocked or alerted event, covering the last week. An
/// audit sink, so it runs after the line is on disk and never on the kill
/// path. The report is rebuilt on a thread of its own, at most once per
/// [`AUTO_COALESCE`]: a tool restarting in a loop (or a storm of execs)
/// costs one rebuild, not one per event, and the last event is always in.
#[derive(Clone)]
pub struct AutoReport {
    audit_log: PathBuf,
    wake: std::sync::mpsc::Sender<Wake>,
}

/// What the rebuilder is told.
enum Wake {
    /// A blocked or alerted event was recorded.
    Dirty,
    /// The daemon is stopping: write what is pending, then answer.
    Flush(std::sync::mpsc::Sender<()>),
}

/// How long the rebuilder waits for more events before writing.
pub const AUTO_COALESCE: std::time::Duration = std::time::Duration::from_secs(1);

impl AutoReport {
    /// The report kept for the audit log at `audit_log`.
    pub fn new(audit_log: &Path, config: ConfigSource) -> AutoReport {
        let (tx, wake) = std::sync::mpsc::channel::<Wake>();
        let log = audit_log.to_path_buf();
        let html = html_path_for(audit_log);
        let _ = std::thread::Builder::new()
            .name("varco-report".into())
            .spawn(move || rebuild_loop(&log, &config, &html, &wake));
        AutoReport {
            audit_log: audit_log.to_path_buf(),
            wake: tx,
        }
    }

    /// Where the HTML report is kept.
    pub fn html_path(&self) -> PathBuf {
        html_path_for(&self.audit_log)
    }

    /// What the notification says: where the report is.
    pub fn hint(&self) -> String {
        self.html_path().display().to_string()
    }
}

fn html_path_for(audit_log: &Path) -> PathBuf {
    audit_log
        .parent()
        .unwrap_or(Path::new("."))
        .join(AUTO_NAME)
        .with_extension("html")
}

/// Waits for events, lets a burst settle, then rebuilds once. Ends when
/// every [`AutoReport`] handle is gone.
fn rebuild_loop(
    audit_log: &Path,
    config: &ConfigSource,
    html: &Path,
    wake: &std::sync::mpsc::Receiver<Wake>,
) {
    let Ok(catalog) = Catalog::embedded() else {
        return;
    };
    let build = || {
        let now = Timestamp::now();
        let since = now - jiff::SignedDuration::from_hours(24 * AUTO_DAYS);
        match Report::build(audit_log, config, &catalog, Some(since), now) {
            Ok(report) => {
                if let Err(e) = report.write(html) {
                    tracing::error!("cannot write the incident report {}: {e}", html.display());
                }
            }
            Err(e) => tracing::error!("cannot build the incident report: {e}"),
        }
    };
    while let Ok(first) = wake.recv() {
        let mut flushes = Vec::new();
        let mut dirty = false;
        let mut next = Some(first);
        // Collect the burst: what arrives within the coalescing time, for
        // at most a few rounds (a tool restarting forever must not starve
        // the report), or until someone asks for a flush.
        let deadline = std::time::Instant::now() + AUTO_COALESCE * 5;
        while let Some(w) = next.take() {
            match w {
                Wake::Dirty => dirty = true,
                Wake::Flush(ack) => flushes.push(ack),
            }
            if flushes.is_empty() && std::time::Instant::now() < deadline {
                next = wake.recv_timeout(AUTO_COALESCE).ok();
            }
        }
        if dirty {
            build();
        }
        for ack in flushes {
            let _ = ack.send(());
        }
    }
}

impl AuditSink for AutoReport {
    fn write(&mut self, record: &Record, _line: &str) -> io::Result<()> {
        if matches!(record.event, Event::Blocked | Event::Alerted) {
            self.wake
                .send(Wake::Dirty)
                .map_err(|_| io::Error::other("the report rebuilder has stopped"))?;
        }
        Ok(())
    }

    fn flush(&mut self) {
        let (ack, done) = std::sync::mpsc::channel();
        if self.wake.send(Wake::Flush(ack)).is_ok() {
            let _ = done.recv_timeout(std::time::Duration::from_secs(10));
        }
    }

    fn name(&self) -> String {
        format!("incident report {}", self.html_path().display())
    }
}
