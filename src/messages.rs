//! The words varco uses with people, in one reviewed file
//! (`config/messages.toml`), Italian first: what the operator reads in a
//! notification ([`Texts`], rendered from a [`Notice`]) and what the
//! incident report says ([`ReportTexts`]).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::decide::{Decision, Verdict};
use crate::policy::schedule::{Contact, PanicUntil};

const MESSAGES: &str = include_str!("../config/messages.toml");

/// A language varco speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Italian: the default, whatever the locale says otherwise.
    It,
    /// English, when the session locale is English.
    En,
}

impl Lang {
    /// The session's language from the usual locale variables; Italian
    /// unless the locale is English.
    pub fn from_env() -> Lang {
        #[cfg(windows)]
        if let Some(lang) = windows_ui_language() {
            return lang;
        }
        let var = |k| std::env::var(k).ok().filter(|v: &String| !v.is_empty());
        let locale = var("LC_ALL")
            .or_else(|| var("LC_MESSAGES"))
            .or_else(|| var("LANG"))
            .unwrap_or_default();
        Lang::from_locale(&locale)
    }

    /// The language for a locale name such as `en_GB.UTF-8`.
    pub fn from_locale(locale: &str) -> Lang {
        if locale.to_ascii_lowercase().starts_with("en") {
            Lang::En
        } else {
            Lang::It
        }
    }
}

/// The Windows display language, when it can be read. A hook for the
/// Windows port: the session's UI language, not the locale variables,
/// says what the operator reads there.
#[cfg(windows)]
fn windows_ui_language() -> Option<Lang> {
    None
}

/// One language's texts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Texts {
    blocked_title: String,
    blocked_body: String,
    alerted_title: String,
    alerted_body: String,
    allowed_title: String,
    allowed_body: String,
    technician: String,
    callback_known: String,
    callback_unknown: String,
    company_unknown: String,
    referent: String,
    config_error_title: String,
    config_error_body: String,
    test_title: String,
    test_body: String,
    window_ending_title: String,
    window_ending_body: String,
    panic_title: String,
    panic_body: String,
    panic_until_next_day: String,
    panic_until_resume: String,
    stopped_tools: String,
    unlisted_peer_title: String,
    unlisted_peer_body: String,
    unreachable_title: String,
    unreachable_body: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Catalogue {
    it: Texts,
    en: Texts,
    report: ReportTexts,
    contract: ContractTexts,
}

/// The contract report's words (Italian: it goes to the comune's
/// offices). Each field is a template filled with [`fill`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // one field per phrase; messages.toml says what each is
pub struct ContractTexts {
    pub title: String,
    pub generated: String,
    pub heading_summary: String,
    pub field_period: String,
    pub period: String,
    pub field_hosts: String,
    pub hosts_unknown: String,
    pub field_company: String,
    pub field_audit_log: String,
    pub field_windows_file: String,
    pub windows_unusable: String,
    pub field_planned: String,
    pub field_used: String,
    pub field_outside: String,
    pub field_interruptions: String,
    pub heading_windows: String,
    pub no_windows: String,
    pub column_window: String,
    pub column_when: String,
    pub column_technician: String,
    pub column_ticket: String,
    pub column_session: String,
    pub session_yes: String,
    pub session_no: String,
    pub window_heading: String,
    pub field_technician: String,
    pub field_ticket: String,
    pub field_tools: String,
    pub tools_any: String,
    pub not_given: String,
    pub when: String,
    pub no_sessions: String,
    pub column_tool: String,
    pub column_from: String,
    pub column_to: String,
    pub column_end: String,
    pub column_user: String,
    pub end_window_closed: String,
    pub end_exited: String,
    pub end_panic: String,
    pub end_unlisted_peer: String,
    pub end_stopped: String,
    pub end_open: String,
    pub heading_outside: String,
    pub no_outside: String,
    pub column_time: String,
    pub column_result: String,
    pub column_origin: String,
    pub verdict_blocked: String,
    pub verdict_alerted: String,
    pub heading_interruptions: String,
    pub no_interruptions: String,
    pub column_what: String,
    pub interruption_panic: String,
    pub interruption_unlisted_peer: String,
    pub interruption_resumed: String,
    pub unknown_user: String,
    pub heading_notes: String,
    pub notes: String,
}

impl ContractTexts {
    /// The contract report's words from the embedded `messages.toml`.
    pub fn load() -> Result<ContractTexts, String> {
        toml::from_str::<Catalogue>(MESSAGES)
            .map(|c| c.contract)
            .map_err(|e| format!("config/messages.toml is invalid (a build defect): {e}"))
    }
}

/// The incident report's words (Italian: the report goes to Italian
/// authorities). Each field is a template whose `{placeholders}` the
/// report fills with [`fill`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // one field per phrase; messages.toml says what each is
pub struct ReportTexts {
    pub title: String,
    pub generated: String,
    pub heading_workstation: String,
    pub period_since: String,
    pub period_all: String,
    pub field_hosts: String,
    pub hosts_unknown: String,
    pub field_users: String,
    pub field_period: String,
    pub field_audit_log: String,
    pub field_windows_file: String,
    pub heading_events: String,
    pub no_events: String,
    pub event_heading: String,
    pub field_time: String,
    pub field_result: String,
    pub field_tool: String,
    pub field_user: String,
    pub field_mode: String,
    pub field_exe: String,
    pub exe_unknown: String,
    pub field_sha256: String,
    pub sha256_at_decision: String,
    pub sha256_at_report: String,
    pub sha256_unknown: String,
    pub sha256_not_taken: String,
    pub field_matched_by: String,
    pub field_pid: String,
    pub field_host: String,
    pub field_cmdline: String,
    pub field_origin: String,
    pub field_told: String,
    pub told_yes: String,
    pub told_no: String,
    pub not_recorded: String,
    pub none: String,
    pub result_with_outcome: String,
    pub verdict_blocked: String,
    pub verdict_alerted: String,
    pub mode_block: String,
    pub mode_alert: String,
    pub outcome_stopped: String,
    pub outcome_already_exited: String,
    pub outcome_refused_before_start: String,
    pub outcome_not_stopped: String,
    pub heading_windows: String,
    pub windows_note: String,
    pub windows_unusable: String,
    pub no_windows: String,
    pub column_window: String,
    pub column_when: String,
    pub column_tools: String,
    pub column_technician: String,
    pub column_ticket: String,
    pub tools_any: String,
    pub when_once: String,
    pub when_weekly: String,
    pub when_valid_from: String,
    pub when_valid_until: String,
    pub days: [String; 7],
    pub mode_outside: String,
    pub heading_contacts: String,
    pub field_company: String,
    pub field_phone: String,
    pub field_email: String,
    pub field_referent: String,
    pub not_given: String,
    pub heading_notes: String,
    pub notes: String,
    /// How a tool was recognised, by the audit log's `matched_by` word.
    pub matched_by: HashMap<String, String>,
    /// Why the operator was not told, by the audit log's `not_notified`
    /// word.
    pub not_notified: HashMap<String, String>,
    /// Why the executable was not hashed, by the audit log's `not_hashed`
    /// word.
    pub not_hashed: HashMap<String, String>,
}

impl ReportTexts {
    /// The report's words from the embedded `messages.toml`. The file is
    /// checked by the tests, so an error here is a build defect, reported
    /// rather than panicking.
    pub fn load() -> Result<ReportTexts, String> {
        toml::from_str::<Catalogue>(MESSAGES)
            .map(|c| c.report)
            .map_err(|e| format!("config/messages.toml is invalid (a build defect): {e}"))
    }
}

/// `template` with each `{name}` replaced by its value.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// A notification ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Short title.
    pub title: String,
    /// Body text.
    pub body: String,
}

impl Texts {
    /// The texts for `lang`. The embedded file is checked by the tests; if
    /// it were ever broken, a plain built-in text still tells the operator
    /// what matters.
    pub fn load(lang: Lang) -> Texts {
        match toml::from_str::<Catalogue>(MESSAGES) {
            Ok(c) => match lang {
                Lang::It => c.it,
                Lang::En => c.en,
            },
            Err(_) => Texts::emergency(),
        }
    }

    fn emergency() -> Texts {
        let t = |s: &str| s.to_string();
        Texts {
            blocked_title: t("Accesso remoto bloccato: {tool}"),
            blocked_body: t(
                "{tool}: nessun intervento programmato. Non dia codici o password. {callback} {report}",
            ),
            alerted_title: t("Accesso remoto NON programmato: {tool}"),
            alerted_body: t(
                "{tool}: nessun intervento programmato, lo chiuda. Non dia codici o password. {callback} {report}",
            ),
            allowed_title: t("Intervento programmato: {tool}"),
            allowed_body: t("{tool}: finestra {window}{technician}"),
            technician: t(" ({name})"),
            callback_known: t("Richiami {company} al {phone}."),
            callback_unknown: t("Richiami l'assistenza al numero che conosce."),
            company_unknown: t("l'assistenza informatica"),
            referent: t(" ({referent})"),
            config_error_title: t("varco: file delle finestre non valido"),
            config_error_body: t("{reason}"),
            test_title: t("varco: prova di notifica"),
            test_body: t("L'agente di varco funziona."),
            window_ending_title: t("La manutenzione termina alle {end}"),
            window_ending_body: t(
                "La finestra di manutenzione concordata termina alle {end}; la sessione remota verrà chiusa.",
            ),
            panic_title: t("Assistenza remota interrotta"),
            panic_body: t("Assistenza remota interrotta{stopped}. {callback}"),
            panic_until_next_day: t("fino a domani"),
            panic_until_resume: t("finché l'IT non le riattiva"),
            stopped_tools: t(" ({tools})"),
            unlisted_peer_title: t("Connessione non autorizzata bloccata: {tool}"),
            unlisted_peer_body: t("{tool}: collegamento da {peer} bloccato. {callback}"),
            unreachable_title: t("varco non risponde"),
            unreachable_body: t("Chiuda subito il programma di assistenza remota. {callback}"),
        }
    }

    /// The notification for `notice`, in this language.
    pub fn render(&self, n: &Notice) -> Message {
        let (title, body) = match n.kind {
            NoticeKind::Blocked => (&self.blocked_title, &self.blocked_body),
            NoticeKind::Alerted => (&self.alerted_title, &self.alerted_body),
            NoticeKind::Allowed => (&self.allowed_title, &self.allowed_body),
            NoticeKind::ConfigError => (&self.config_error_title, &self.config_error_body),
            NoticeKind::Test => (&self.test_title, &self.test_body),
            NoticeKind::WindowEnding => (&self.window_ending_title, &self.window_ending_body),
            NoticeKind::Panic => (&self.panic_title, &self.panic_body),
            NoticeKind::UnlistedPeer => (&self.unlisted_peer_title, &self.unlisted_peer_body),
            NoticeKind::Unreachable => (&self.unreachable_title, &self.unreachable_body),
        };
        let until = match n.until {
            Some(PanicUntil::Resume) => self.panic_until_resume.as_str(),
            Some(PanicUntil::NextDay) | None => self.panic_until_next_day.as_str(),
        };
        let stopped = if n.tool.is_empty() {
            String::new()
        } else {
            self.stopped_tools.replace("{tools}", &n.tool)
        };
        let callback = self.callback(n);
        let technician = n
            .technician
            .as_deref()
            .map(|name| self.technician.replace("{name}", name))
            .unwrap_or_default();
        let referent = n
            .referent
            .as_deref()
            .map(|r| self.referent.replace("{referent}", r))
            .unwrap_or_default();
        let fill = |s: &str| {
            s.replace("{tool}", &n.tool)
                .replace("{callback}", &callback)
                .replace("{referent}", &referent)
                .replace("{window}", n.window.as_deref().unwrap_or(""))
                .replace("{technician}", &technician)
                .replace("{report}", &n.report)
                .replace("{reason}", n.reason.as_deref().unwrap_or(""))
                .replace("{end}", n.end.as_deref().unwrap_or(""))
                .replace("{peer}", n.peer.as_deref().unwrap_or(""))
                .replace("{until}", until)
                .replace("{stopped}", &stopped)
        };
        Message {
            title: fill(title),
            body: fill(body),
        }
    }

    fn callback(&self, n: &Notice) -> String {
        match (&n.company, &n.phone) {
            (company, Some(phone)) => self
                .callback_known
                .replace(
                    "{company}",
                    company.as_deref().unwrap_or(&self.company_unknown),
                )
                .replace("{phone}", phone),
            _ => self.callback_unknown.clone(),
        }
    }
}

/// What the operator must be told, as facts without wording. The enforcer
/// sends this to the session agent, which words it in the session's own
/// language: a root service does not know the operator's locale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// What happened.
    pub kind: NoticeKind,
    /// The tool's display name (empty for configuration errors).
    pub tool: String,
    /// The window that admitted it.
    pub window: Option<String>,
    /// The technician announced for that window.
    pub technician: Option<String>,
    /// The contracted company, from `[contact]`.
    pub company: Option<String>,
    /// Its known number, from `[contact]`.
    pub phone: Option<String>,
    /// The comune's IT referent, from `[contact]`.
    pub referent: Option<String>,
    /// Where the incident report is, or how to make it.
    pub report: String,
    /// A configuration problem, for IT.
    pub reason: Option<String>,
    /// When the window ends, as the office clock reads it (HH:MM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Who tried to connect: `ALIAS (ID)`, or the ID alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// How long a panic keeps the windows shut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<PanicUntil>,
}

/// The kinds of notice, each with its own urgency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A tool was stopped.
    Blocked,
    /// A tool runs unscheduled (alert mode, or the kill failed).
    Alerted,
    /// A tool runs inside its window: a quiet note.
    Allowed,
    /// The windows file is unusable.
    ConfigError,
    /// `varco agent --test`: checks that the agent can show notices.
    Test,
    /// The window a remote session runs under is about to end.
    WindowEnding,
    /// The operator pressed the panic button: what was done, whom to call.
    Panic,
    /// Someone not among the contractor's peers tried to connect.
    UnlistedPeer,
    /// `varco panic` could not reach the service.
    Unreachable,
}

impl Notice {
    /// The notice for a decision; `verdict` may differ from the decision's
    /// (a failed kill is told as "still running, close it").
    pub fn for_decision(d: &Decision, verdict: Verdict, contact: &Contact, report: &str) -> Notice {
        Notice {
            kind: match verdict {
                Verdict::Blocked => NoticeKind::Blocked,
                Verdict::Alerted => NoticeKind::Alerted,
                Verdict::Allowed => NoticeKind::Allowed,
            },
            tool: d.tool_name.clone(),
            window: d.window.as_ref().map(|w| w.id.clone()),
            technician: d.window.as_ref().and_then(|w| w.technician.clone()),
            report: report.to_string(),
            reason: None,
            ..Notice::contact(contact)
        }
    }

    /// The warning that `window` ends at `end` (HH:MM) and takes the
    /// sessions of `tools` with it.
    pub fn window_ending(window: &str, end: &str, tools: &[String], contact: &Contact) -> Notice {
        Notice {
            kind: NoticeKind::WindowEnding,
            tool: tools.join(", "),
            window: Some(window.to_string()),
            end: Some(end.to_string()),
            ..Notice::contact(contact)
        }
    }

    /// The confirmation of a panic: the tools stopped and how long the
    /// windows stay shut.
    pub fn panic(stopped: &[String], until: PanicUntil, contact: &Contact) -> Notice {
        Notice {
            kind: NoticeKind::Panic,
            tool: stopped.join(", "),
            until: Some(until),
            ..Notice::contact(contact)
        }
    }

    /// A tool stopped because `peer` is not one of the window's peers.
    pub fn unlisted_peer(tool: &str, peer: &str, contact: &Contact, report: &str) -> Notice {
        Notice {
            kind: NoticeKind::UnlistedPeer,
            tool: tool.to_string(),
            peer: Some(peer.to_string()),
            report: report.to_string(),
            ..Notice::contact(contact)
        }
    }

    /// What `varco panic` shows when the service does not answer.
    pub fn unreachable(contact: &Contact) -> Notice {
        Notice {
            kind: NoticeKind::Unreachable,
            ..Notice::contact(contact)
        }
    }

    /// The notice for an unusable windows file.
    pub fn for_config_error(reason: &str, contact: &Contact) -> Notice {
        Notice {
            kind: NoticeKind::ConfigError,
            reason: Some(reason.to_string()),
            ..Notice::contact(contact)
        }
    }

    fn contact(c: &Contact) -> Notice {
        Notice {
            kind: NoticeKind::ConfigError,
            tool: String::new(),
            window: None,
            technician: None,
            company: c.company.clone(),
            phone: c.phone.clone(),
            referent: c.referent.clone(),
            report: String::new(),
            reason: None,
            end: None,
            peer: None,
            until: None,
        }
    }

    /// The notice `varco agent --test` sends.
    pub fn test() -> Notice {
        Notice {
            kind: NoticeKind::Test,
            ..Notice::contact(&Contact::default())
        }
    }

    /// Critical notices stay on screen until dismissed: all but the quiet
    /// note for an admitted tool and the agent's test.
    pub fn is_critical(&self) -> bool {
        !matches!(self.kind, NoticeKind::Allowed | NoticeKind::Test)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::catalog::MatchedBy;
    use crate::policy::schedule::Mode;

    fn blocked() -> Decision {
        Decision {
            verdict: Verdict::Blocked,
            tool_id: "anydesk".into(),
            tool_name: "AnyDesk".into(),
            matched_by: MatchedBy::Name,
            window: None,
            mode: Mode::Block,
            refusal: None,
            origin: None,
        }
    }

    #[test]
    fn embedded_messages_parse_in_both_languages() {
        toml::from_str::<Catalogue>(MESSAGES).unwrap();
    }

    #[test]
    fn the_report_has_words_for_every_match_and_every_reason_not_told() {
        use crate::effect::notify::NotShown;
        let t = ReportTexts::load().unwrap();
        for by in MatchedBy::ALL {
            assert!(t.matched_by.contains_key(by.as_str()), "{by:?}");
        }
        let detail = String::new();
        for why in [
            NotShown::RateLimit,
            NotShown::AllowedNotesOff,
            NotShown::InSummary,
            NotShown::OwnerUnknown,
            NotShown::NoAgent {
                detail: detail.clone(),
            },
            NotShown::NoNotificationServer {
                detail: detail.clone(),
            },
            NotShown::Timeout,
            NotShown::Failed { detail },
        ] {
            assert!(t.not_notified.contains_key(why.kind()), "{why:?}");
        }
        use crate::effect::audit::fingerprint::NotHashed;
        let detail = String::new();
        for why in [
            NotHashed::TooLarge { size: 0 },
            NotHashed::NotRegular {
                detail: detail.clone(),
            },
            NotHashed::Unreadable { detail },
            NotHashed::Timeout,
            NotHashed::Busy,
            NotHashed::NoPath,
        ] {
            assert!(t.not_hashed.contains_key(why.kind()), "{why:?}");
        }
    }

    fn contact() -> Contact {
        Contact {
            company: Some("Esempio Informatica S.r.l.".into()),
            phone: Some("+39 06 1234567".into()),
            referent: Some("CED, interno 204".into()),
            ..Contact::default()
        }
    }

    #[test]
    fn blocked_text_names_tool_callback_and_warns_about_credentials() {
        let d = blocked();
        let n = Notice::for_decision(&d, d.verdict, &contact(), "/var/log/varco/rapporto.html");
        let m = Texts::load(Lang::It).render(&n);
        assert!(m.title.contains("AnyDesk"));
        for needle in [
            "non è programmato nessun intervento tecnico",
            "password",
            "smart card",
            "riattacchi",
            "+39 06 1234567",
            "Esempio Informatica",
            "referente informatico del Comune (CED, interno 204)",
            "/var/log/varco/rapporto.html",
        ] {
            assert!(m.body.contains(needle), "missing {needle:?} in {}", m.body);
        }
        assert!(!m.body.contains('{'), "unfilled placeholder in {}", m.body);
        assert!(n.is_critical());
    }

    #[test]
    fn every_kind_fills_every_placeholder_in_both_languages() {
        let d = blocked();
        let bare = Contact::default();
        for lang in [Lang::It, Lang::En] {
            let t = Texts::load(lang);
            for verdict in [Verdict::Blocked, Verdict::Alerted, Verdict::Allowed] {
                for c in [&contact(), &bare] {
                    let m = t.render(&Notice::for_decision(&d, verdict, c, "r"));
                    assert!(!m.title.contains('{') && !m.body.contains('{'), "{m:?}");
                }
            }
            let m = t.render(&Notice::for_config_error("line 3: bad", &bare));
            assert!(m.body.contains("line 3: bad"), "{m:?}");
        }
    }

    #[test]
    fn operator_notices_fill_every_placeholder_in_both_languages() {
        for lang in [Lang::It, Lang::En] {
            let t = Texts::load(lang);
            for c in [&contact(), &Contact::default()] {
                for n in [
                    Notice::window_ending("INC-1", "16:00", &["AnyDesk".into()], c),
                    Notice::panic(&["AnyDesk".into()], PanicUntil::NextDay, c),
                    Notice::panic(&[], PanicUntil::Resume, c),
                    Notice::unlisted_peer("AnyDesk", "Truffatore (987654321)", c, "r"),
                    Notice::unreachable(c),
                ] {
                    let m = t.render(&n);
                    assert!(!m.title.contains('{') && !m.body.contains('{'), "{m:?}");
                }
            }
        }
    }

    #[test]
    fn the_window_ending_warning_says_when_and_that_the_session_closes() {
        let m = Texts::load(Lang::It).render(&Notice::window_ending(
            "INC-1",
            "16:00",
            &["AnyDesk".into()],
            &contact(),
        ));
        assert!(
            m.body.contains(
                "la finestra di manutenzione concordata termina alle 16:00; la sessione remota verrà chiusa"
            ),
            "{}",
            m.body
        );
        let m = Texts::load(Lang::It).render(&Notice::panic(
            &["AnyDesk".into()],
            PanicUntil::NextDay,
            &contact(),
        ));
        assert!(
            m.body.contains("+39 06 1234567") && m.body.contains("AnyDesk"),
            "{}",
            m.body
        );
        assert!(Notice::panic(&[], PanicUntil::NextDay, &contact()).is_critical());
    }

    #[test]
    fn alerted_text_says_close_it() {
        let d = blocked();
        let m = Texts::load(Lang::It).render(&Notice::for_decision(
            &d,
            Verdict::Alerted,
            &contact(),
            "r",
        ));
        assert!(m.body.contains("lo chiuda subito"), "{}", m.body);
    }

    #[test]
    fn english_only_for_english_locales() {
        assert_eq!(Lang::from_locale("en_GB.UTF-8"), Lang::En);
        assert_eq!(Lang::from_locale("it_IT.UTF-8"), Lang::It);
        assert_eq!(Lang::from_locale("C.UTF-8"), Lang::It);
        assert_eq!(Lang::from_locale(""), Lang::It);
    }
}
