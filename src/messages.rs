//! The texts the operator reads, in one reviewed file
//! (`config/messages.toml`), Italian first.

use serde::Deserialize;

use crate::decide::{Decision, Verdict};
use crate::schedule::Contact;

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
    config_error_title: String,
    config_error_body: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Catalogue {
    it: Texts,
    en: Texts,
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
            config_error_title: t("varco: file delle finestre non valido"),
            config_error_body: t("{reason}"),
        }
    }

    /// The notification for a decision. `report` tells the operator how to
    /// get the incident report.
    pub fn for_decision(&self, d: &Decision, contact: &Contact, report: &str) -> Message {
        let callback = self.callback(contact);
        let technician = d
            .window
            .as_ref()
            .and_then(|w| w.technician.as_deref())
            .map(|name| self.technician.replace("{name}", name))
            .unwrap_or_default();
        let window = d.window.as_ref().map(|w| w.id.as_str()).unwrap_or("");
        let (title, body) = match d.verdict {
            Verdict::Blocked => (&self.blocked_title, &self.blocked_body),
            Verdict::Alerted => (&self.alerted_title, &self.alerted_body),
            Verdict::Allowed => (&self.allowed_title, &self.allowed_body),
        };
        let fill = |s: &str| {
            s.replace("{tool}", &d.tool_name)
                .replace("{callback}", &callback)
                .replace("{window}", window)
                .replace("{technician}", &technician)
                .replace("{report}", report)
        };
        Message {
            title: fill(title),
            body: fill(body),
        }
    }

    /// The notification for an unusable windows file.
    pub fn for_config_error(&self, reason: &str) -> Message {
        Message {
            title: self.config_error_title.clone(),
            body: self.config_error_body.replace("{reason}", reason),
        }
    }

    fn callback(&self, contact: &Contact) -> String {
        match (&contact.company, &contact.phone) {
            (Some(company), Some(phone)) => self
                .callback_known
                .replace("{company}", company)
                .replace("{phone}", phone),
            (None, Some(phone)) => self
                .callback_known
                .replace("{company}", "l'assistenza informatica")
                .replace("{phone}", phone),
            _ => self.callback_unknown.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::MatchedBy;
    use crate::schedule::Mode;

    fn blocked() -> Decision {
        Decision {
            verdict: Verdict::Blocked,
            tool_id: "anydesk".into(),
            tool_name: "AnyDesk".into(),
            matched_by: MatchedBy::Name,
            window: None,
            mode: Mode::Block,
        }
    }

    #[test]
    fn embedded_messages_parse_in_both_languages() {
        toml::from_str::<Catalogue>(MESSAGES).unwrap();
    }

    #[test]
    fn blocked_text_names_tool_callback_and_warns_about_credentials() {
        let contact = Contact {
            company: Some("Esempio Informatica S.r.l.".into()),
            phone: Some("+39 06 1234567".into()),
            ..Contact::default()
        };
        let m = Texts::load(Lang::It).for_decision(&blocked(), &contact, "varco report");
        assert!(m.title.contains("AnyDesk"));
        for needle in [
            "nessun intervento tecnico è programmato",
            "password",
            "smart card",
            "+39 06 1234567",
            "Esempio Informatica",
            "referente informatico",
            "varco report",
        ] {
            assert!(m.body.contains(needle), "missing {needle:?} in {}", m.body);
        }
        assert!(!m.body.contains('{'), "unfilled placeholder in {}", m.body);
    }

    #[test]
    fn english_only_for_english_locales() {
        assert_eq!(Lang::from_locale("en_GB.UTF-8"), Lang::En);
        assert_eq!(Lang::from_locale("it_IT.UTF-8"), Lang::It);
        assert_eq!(Lang::from_locale("C.UTF-8"), Lang::It);
        assert_eq!(Lang::from_locale(""), Lang::It);
    }
}
