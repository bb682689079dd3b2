//! The approved-windows file: maintenance windows agreed in advance with the
//! contracted IT company, and when each one is open.
//!
//! A window is wall-clock time in the file's time zone (Europe/Rome by
//! default). Recurring windows are resolved to instants only when asked
//! about a given moment, so daylight-saving changes mean what a person
//! reading the file means: "18:00–20:00 every Tuesday" is 18:00–20:00 local
//! time in both winter and summer.
//!
//! Nothing here reads a clock or a file: `now` is always a parameter.
#![forbid(unsafe_code)]

mod parse;

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};

pub use parse::parse;

/// How long before a window ends the operator is warned, unless the file
/// says otherwise.
pub const DEFAULT_WARN_BEFORE_END: SignedDuration = SignedDuration::from_mins(10);

/// How long the panic button keeps the windows it closed shut
/// (`[panic] until`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PanicUntil {
    /// Until the next calendar day in the file's zone, or an earlier
    /// `varco resume`: the default, so an office is not left without
    /// maintenance because nobody with root was around.
    #[default]
    NextDay,
    /// Until an administrator runs `varco resume`.
    Resume,
}

/// What happens to a remote tool that starts outside every window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Stop the tool (its whole process tree). The default: fail closed.
    #[default]
    Block,
    /// Leave it running, tell the operator and record it. For a first
    /// rollout, to see what would be blocked.
    Alert,
}

impl Mode {
    /// The word used in the file, on the command line and in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Block => "block",
            Mode::Alert => "alert",
        }
    }
}

/// Whom the operator calls back, on a number known in advance, instead of
/// trusting the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    /// The contracted IT company.
    pub company: Option<String>,
    /// Its known phone number.
    pub phone: Option<String>,
    /// Its known e-mail address.
    pub email: Option<String>,
    /// The comune's own IT referent (name, office or extension).
    pub referent: Option<String>,
}

/// Where audit events are forwarded besides the audit log: the fleet's
/// syslog (`[log]` in the windows file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// The local syslog socket (normally `/dev/log`), if wanted.
    pub local: Option<std::path::PathBuf>,
    /// A remote collector, if any.
    pub remote: Option<Remote>,
    /// The syslog facility code (RFC 5424 section 6.2.1).
    pub facility: u8,
}

impl Default for LogSettings {
    fn default() -> LogSettings {
        LogSettings {
            local: None,
            remote: None,
            facility: FACILITIES[2].1,
        }
    }
}

/// The facilities `[log] facility` accepts, with their codes.
pub const FACILITIES: &[(&str, u8)] = &[
    ("user", 1),
    ("daemon", 3),
    ("auth", 4),
    ("authpriv", 10),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// A remote syslog collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// How messages travel.
    pub transport: Transport,
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
}

/// Syslog transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// RFC 5426: one message per datagram; may be lost silently.
    Udp,
    /// RFC 6587 octet counting: ordered, noticed when it fails.
    Tcp,
}

/// Which tools a window admits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tools {
    /// `"*"`: any remote tool in the catalog.
    Any,
    /// Only these catalog ids.
    Only(Vec<String>),
}

/// When a window is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    /// A single agreed intervention.
    Once {
        /// First instant inside the window.
        start: Timestamp,
        /// First instant after the window.
        end: Timestamp,
    },
    /// A standing slot, e.g. weekly patching.
    Weekly {
        /// Days on which the window opens (Monday first).
        days: [bool; 7],
        /// Local opening time.
        from: Time,
        /// Local closing time; earlier than `from` means the next day.
        to: Time,
        /// First local date on which the window may open.
        valid_from: Option<Date>,
        /// Last local date on which the window may open.
        valid_until: Option<Date>,
    },
}

/// One approved maintenance window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceWindow {
    /// Unique id, recorded in the audit log for every tool it admits.
    pub id: String,
    /// The tools it admits.
    pub tools: Tools,
    /// When it is open.
    pub when: When,
    /// Who will connect, so the operator can recognise the call.
    pub technician: Option<String>,
    /// The IT company's ticket.
    pub ticket: Option<String>,
    /// Free text for IT.
    pub note: Option<String>,
    /// How long before an opening ends the operator is warned (zero: not).
    pub warn_before_end: SignedDuration,
    /// The IDs of the technician's AnyDesk/TeamViewer installations;
    /// `None`: any peer.
    pub peers: Option<Vec<String>>,
    /// Refuse copies started from Downloads, Desktop, temporary folders or
    /// carrying download provenance.
    pub installed_only: bool,
}

/// One concrete opening of a window, in absolute time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opening {
    /// First instant inside.
    pub start: Timestamp,
    /// First instant after.
    pub end: Timestamp,
}

impl Opening {
    /// Whether `now` falls inside this opening.
    pub fn contains(&self, now: Timestamp) -> bool {
        self.start <= now && now < self.end
    }
}

/// The whole approved-windows file, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// What to do outside the windows.
    pub mode: Mode,
    /// Zone in which window times are read.
    pub timezone: TimeZone,
    /// Its IANA name, for display.
    pub timezone_name: String,
    /// Whom the operator calls back.
    pub contact: Contact,
    /// Whether an admitted tool also gets a quiet notification.
    pub notify_allowed: bool,
    /// Syslog forwarding.
    pub log: LogSettings,
    /// How long a panic suspends the windows it closed.
    pub panic_until: PanicUntil,
    /// The windows, in file order.
    pub windows: Vec<MaintenanceWindow>,
    /// The file's release number (`serial = N`): a signed file must carry
    /// one, and varco never goes back to a lower one.
    pub serial: Option<u64>,
    /// When the file stops counting (`expires = ...`): from then on no
    /// window is open, as if the file were missing.
    pub expires: Option<Timestamp>,
}

/// The zone assumed when the file names none: ANPR workstations are in Italy.
pub const DEFAULT_TIMEZONE: &str = "Europe/Rome";

impl Schedule {
    /// No window, block mode: what applies when there is no usable file.
    pub fn fail_closed() -> Schedule {
        Schedule {
            mode: Mode::Block,
            timezone: TimeZone::get(DEFAULT_TIMEZONE).unwrap_or(TimeZone::UTC),
            timezone_name: DEFAULT_TIMEZONE.to_string(),
            contact: Contact::default(),
            notify_allowed: true,
            log: LogSettings::default(),
            panic_until: PanicUntil::default(),
            windows: Vec::new(),
            serial: None,
            expires: None,
        }
    }

    /// Whether the file has expired at `now`: then it opens no window.
    pub fn expired_at(&self, now: Timestamp) -> bool {
        self.expires.is_some_and(|e| now >= e)
    }

    /// What stays in force once the file expired: no window and block
    /// mode, as with no file; the contact and the log destinations stay,
    /// so the operator still learns whom to call and the fleet's log
    /// still hears about it.
    pub fn expired(&self) -> Schedule {
        Schedule {
            mode: Mode::Block,
            windows: Vec::new(),
            ..self.clone()
        }
    }

    /// The first window open at `now` that admits `tool`, with its opening.
    /// None once the file has expired.
    pub fn open_for(&self, tool: &str, now: Timestamp) -> Option<(&MaintenanceWindow, Opening)> {
        if self.expired_at(now) {
            return None;
        }
        self.windows
            .iter()
            .filter(|w| w.admits(tool))
            .find_map(|w| w.opening_at(&self.timezone, now).map(|o| (w, o)))
    }

    /// The windows open at `now` whose warning time has come: `now` lies
    /// within `warn_before_end` of the opening's end.
    pub fn ending_soon(&self, now: Timestamp) -> Vec<(&MaintenanceWindow, Opening)> {
        self.open_at(now)
            .into_iter()
            .filter(|(w, o)| {
                !w.warn_before_end.is_zero()
                    && o.end.as_second() - now.as_second() <= w.warn_before_end.as_secs()
            })
            .collect()
    }

    /// Every opening of every window that overlaps `[from, to)`, in time
    /// order: what the contract report lists.
    pub fn openings_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Vec<(&MaintenanceWindow, Opening)> {
        let mut out = Vec::new();
        for w in &self.windows {
            match &w.when {
                When::Once { start, end } => {
                    if *start < to && *end > from {
                        out.push((
                            w,
                            Opening {
                                start: *start,
                                end: *end,
                            },
                        ));
                    }
                }
                When::Weekly { .. } => {
                    let first = from.to_zoned_datetime(self.timezone.clone()).date();
                    let mut day = first.yesterday().unwrap_or(first);
                    let last = to.to_zoned_datetime(self.timezone.clone()).date();
                    while day <= last {
                        if let Some(o) = w.weekly_opening_on(&self.timezone, day)
                            && o.start < to
                            && o.end > from
                        {
                            out.push((w, o));
                        }
                        match day.tomorrow() {
                            Ok(next) => day = next,
                            Err(_) => break,
                        }
                    }
                }
            }
        }
        out.sort_by_key(|(w, o)| (o.start, w.id.clone()));
        out
    }

    /// Every window open at `now` (none once the file has expired).
    pub fn open_at(&self, now: Timestamp) -> Vec<(&MaintenanceWindow, Opening)> {
        if self.expired_at(now) {
            return Vec::new();
        }
        self.windows
            .iter()
            .filter_map(|w| w.opening_at(&self.timezone, now).map(|o| (w, o)))
            .collect()
    }

    /// The next opening of each window after `now`, soonest first.
    pub fn upcoming(&self, now: Timestamp) -> Vec<(&MaintenanceWindow, Opening)> {
        let mut next: Vec<_> = self
            .windows
            .iter()
            .filter_map(|w| w.next_opening(&self.timezone, now).map(|o| (w, o)))
            .filter(|(_, o)| !self.expired_at(o.start))
            .collect();
        next.sort_by_key(|(_, o)| o.start);
        next
    }

    /// Formats an instant as local wall-clock time in the file's zone.
    pub fn local(&self, at: Timestamp) -> String {
        at.to_zoned_datetime(self.timezone.clone())
            .strftime("%Y-%m-%d %H:%M %Z")
            .to_string()
    }
}

impl MaintenanceWindow {
    /// Whether this window lists `tool` (or `"*"`).
    pub fn admits(&self, tool: &str) -> bool {
        match &self.tools {
            Tools::Any => true,
            Tools::Only(ids) => ids.iter().any(|id| id == tool),
        }
    }

    /// The opening that contains `now`, if the window is open.
    pub fn opening_at(&self, tz: &TimeZone, now: Timestamp) -> Option<Opening> {
        match &self.when {
            When::Once { start, end } => {
                let o = Opening {
                    start: *start,
                    end: *end,
                };
                o.contains(now).then_some(o)
            }
            When::Weekly { .. } => {
                let today = now.to_zoned_datetime(tz.clone()).date();
                // An overnight window that opened yesterday may still be open.
                [today.yesterday().ok(), Some(today)]
                    .into_iter()
                    .flatten()
                    .filter_map(|day| self.weekly_opening_on(tz, day))
                    .find(|o| o.contains(now))
            }
        }
    }

    /// The first opening that starts after `now`.
    pub fn next_opening(&self, tz: &TimeZone, now: Timestamp) -> Option<Opening> {
        match &self.when {
            When::Once { start, end } => (*start > now).then_some(Opening {
                start: *start,
                end: *end,
            }),
            When::Weekly { valid_from, .. } => {
                let today = now.to_zoned_datetime(tz.clone()).date();
                let first = valid_from.map_or(today, |v| v.max(today));
                (0..8)
                    .filter_map(|n| first.checked_add(n.days()).ok())
                    .filter_map(|day| self.weekly_opening_on(tz, day))
                    .find(|o| o.start > now)
            }
        }
    }

    /// The opening of a recurring window that starts on local date `day`,
    /// if it opens that day.
    fn weekly_opening_on(&self, tz: &TimeZone, day: Date) -> Option<Opening> {
        let When::Weekly {
            days,
            from,
            to,
            valid_from,
            valid_until,
        } = &self.when
        else {
            return None;
        };
        if !days[weekday_index(day.weekday())]
            || valid_from.is_some_and(|v| day < v)
            || valid_until.is_some_and(|v| day > v)
        {
            return None;
        }
        let end_day = if to > from { day } else { day.tomorrow().ok()? };
        let start = local_instant(tz, day.to_datetime(*from))?;
        let end = local_instant(tz, end_day.to_datetime(*to))?;
        (start < end).then_some(Opening { start, end })
    }
}

/// A wall-clock time in `tz` as an instant. A time skipped by the spring
/// change (02:30 on the last Sunday of March in Rome) is read as the same
/// clock reading after the change (03:30); a time that happens twice in
/// autumn is read as the first one, so a window never loses its first hour.
pub fn local_instant(tz: &TimeZone, dt: DateTime) -> Option<Timestamp> {
    tz.to_ambiguous_timestamp(dt).compatible().ok()
}

/// Monday = 0 … Sunday = 6.
pub(crate) fn weekday_index(day: Weekday) -> usize {
    usize::from(day.to_monday_zero_offset().unsigned_abs())
}

#[cfg(test)]
mod tests;
