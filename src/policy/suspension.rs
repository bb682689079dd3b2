//! The panic button's suspension: which windows the operator shut, since
//! when and until when. A value like the schedule: the daemon keeps it (and
//! persists it), the decision only reads it.
#![forbid(unsafe_code)]

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::schedule::PanicUntil;

/// Which windows a panic shut.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "ids")]
pub enum Suspended {
    /// The windows open when the button was pressed, by id.
    Only(Vec<String>),
    /// Every window: what a damaged suspension file means (fail closed).
    All,
}

/// A panic in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspension {
    /// When the button was (first) pressed.
    pub since: Timestamp,
    /// When the windows reopen by themselves; `None`: only `varco resume`.
    pub until: Option<Timestamp>,
    /// Which windows are shut.
    pub windows: Suspended,
    /// Who pressed it (numeric account id, when the OS gives one).
    pub by_uid: Option<u32>,
    /// Who pressed it (account name, when it resolves).
    pub by_user: Option<String>,
}

impl Suspension {
    /// The suspension a panic at `now` starts: the windows in `open` shut
    /// until `until` says (the next local midnight in `tz`, or resume).
    pub fn start(
        now: Timestamp,
        open: Vec<String>,
        until: PanicUntil,
        tz: &TimeZone,
        by_uid: Option<u32>,
        by_user: Option<String>,
    ) -> Suspension {
        Suspension {
            since: now,
            until: lapse(now, until, tz),
            windows: Suspended::Only(open),
            by_uid,
            by_user,
        }
    }

    /// A later panic while this one is in force: the windows open now are
    /// shut too, and the lapse is counted from now.
    pub fn extend(&mut self, now: Timestamp, open: Vec<String>, until: PanicUntil, tz: &TimeZone) {
        if let Suspended::Only(ids) = &mut self.windows {
            for id in open {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        self.until = lapse(now, until, tz);
    }

    /// Whether it still holds at `now`.
    pub fn in_force(&self, now: Timestamp) -> bool {
        self.until.is_none_or(|u| now < u)
    }

    /// Whether it shuts the window `id`.
    pub fn shuts(&self, id: &str) -> bool {
        match &self.windows {
            Suspended::All => true,
            Suspended::Only(ids) => ids.iter().any(|i| i == id),
        }
    }

    /// The ids it shuts, for records (`["*"]` for all).
    pub fn window_ids(&self) -> Vec<String> {
        match &self.windows {
            Suspended::All => vec!["*".into()],
            Suspended::Only(ids) => ids.clone(),
        }
    }
}

/// When a panic at `now` lapses by itself.
fn lapse(now: Timestamp, until: PanicUntil, tz: &TimeZone) -> Option<Timestamp> {
    match until {
        PanicUntil::Resume => None,
        PanicUntil::NextDay => {
            let tomorrow = now.to_zoned_datetime(tz.clone()).date().tomorrow().ok()?;
            super::schedule::local_instant(tz, tomorrow.to_datetime(jiff::civil::Time::midnight()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_day_lapses_at_local_midnight_and_resume_never() {
        let tz = TimeZone::get("Europe/Rome").unwrap();
        let now: Timestamp = "2025-11-26T21:30:00Z".parse().unwrap(); // 22:30 in Rome
        let s = Suspension::start(
            now,
            vec!["INC-1".into()],
            PanicUntil::NextDay,
            &tz,
            None,
            None,
        );
        assert_eq!(s.until, Some("2025-11-26T23:00:00Z".parse().unwrap()));
        assert!(s.in_force(now) && s.shuts("INC-1") && !s.shuts("other"));
        assert!(!s.in_force("2025-11-26T23:00:00Z".parse().unwrap()));
        let r = Suspension::start(now, vec![], PanicUntil::Resume, &tz, None, None);
        assert!(r.in_force("2030-01-01T00:00:00Z".parse().unwrap()));
    }

    #[test]
    fn a_second_panic_adds_the_windows_open_then() {
        let tz = TimeZone::UTC;
        let now: Timestamp = "2025-11-26T10:00:00Z".parse().unwrap();
        let mut s = Suspension::start(now, vec!["A".into()], PanicUntil::Resume, &tz, None, None);
        s.extend(now, vec!["B".into(), "A".into()], PanicUntil::Resume, &tz);
        assert_eq!(s.window_ids(), ["A", "B"]);
    }

    #[test]
    fn it_reads_back_from_its_file() {
        let s = Suspension {
            since: "2025-11-26T10:00:00Z".parse().unwrap(),
            until: None,
            windows: Suspended::All,
            by_uid: Some(1000),
            by_user: Some("operatore".into()),
        };
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Suspension>(&text).unwrap(), s);
    }
}
