//! The one wall clock varco decides with, read here and nowhere else in
//! the daemon and its sources.
//!
//! Windows are wall-clock times, so decisions need the wall clock; but the
//! wall clock can be moved (by an administrator, by NTP correcting a
//! wrong clock, by a flat CMOS battery). Reading it in one place lets
//! varco notice a jump and decide as if time never ran backwards:
//!
//! - **Decisions never go back in time.** [`Clock::now`] is the highest
//!   wall time already seen, or the wall time if it is higher: after a
//!   backward jump the time used to decide stays where it was until the
//!   real clock passes it again. A window that had closed is never
//!   reopened by setting the clock back (fail closed). The price, accepted
//!   on purpose: a window that was open at the moment of a backward jump
//!   stays open until the clock catches up again, so it lasts longer by at
//!   most the size of the jump; a tool that was not admitted gains nothing.
//! - **A forward jump is followed at once**: windows that end before the
//!   new time close early (fail closed), as they would have when the clock
//!   reached it.
//! - **Jumps are noticed** ([`Clock::check`]): the wall time elapsed since
//!   the last check is compared with the elapsed time of a clock nobody can
//!   set (Linux: `CLOCK_BOOTTIME`, which also counts suspended time, so
//!   waking from suspend is not a jump; elsewhere the standard monotonic
//!   clock, where waking up may show as a forward jump). The daemon checks
//!   once a tick and records each jump as a `clock_jump`.
//!
//! Only an administrator (root, CAP_SYS_TIME; on Windows the
//! SeSystemtimePrivilege that operators lack) can set the system clock,
//! and an administrator can stop varco anyway: this guards against honest
//! mistakes and corrections doing harm, not against the operator.
//!
//! The records say what the system clock said ([`wall_now`]); a decision
//! taken at a different time says so beside it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// A difference between wall and monotonic elapsed time above this is a
/// jump. Well above what NTP slews (at most 0.5 ms per second) and what a
/// busy machine delays a tick by, well below a window's granularity.
pub const JUMP_THRESHOLD: Duration = Duration::from_secs(2);

/// A wall-clock jump: where the wall clock should have been by the
/// monotonic clock, and where it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Jump {
    /// The wall time expected from the last reading and the time elapsed
    /// since.
    pub from: Timestamp,
    /// The wall time read.
    pub to: Timestamp,
}

impl Jump {
    /// How far the clock jumped: positive forward, negative backward.
    pub fn difference(&self) -> SignedDuration {
        self.to.duration_since(self.from)
    }
}

/// One reading of both clocks, for the next comparison.
#[derive(Debug, Clone, Copy)]
struct Reading {
    monotonic: Duration,
    wall: Timestamp,
}

/// The time decisions are taken at, and the jumps of the wall clock.
/// There is one for the process ([`system`]); tests make their own and
/// pass the readings in.
#[derive(Debug)]
pub struct Clock {
    /// The highest wall time seen, in nanoseconds since the epoch.
    highest: AtomicI64,
    /// The last reading [`Clock::check_at`] compared with.
    last: Mutex<Option<Reading>>,
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::new()
    }
}

impl Clock {
    /// A clock that has seen nothing yet.
    pub const fn new() -> Clock {
        Clock {
            highest: AtomicI64::new(i64::MIN),
            last: Mutex::new(None),
        }
    }

    /// The time to decide at now: never earlier than a time already seen.
    pub fn now(&self) -> Timestamp {
        self.effective(wall_now())
    }

    /// The time to decide at when the wall clock reads `wall`: `wall`, or
    /// the highest wall time seen before if that is later.
    pub fn effective(&self, wall: Timestamp) -> Timestamp {
        let nanos = nanos_of(wall);
        let before = self.highest.fetch_max(nanos, Ordering::Relaxed);
        if before > nanos {
            Timestamp::from_nanosecond(i128::from(before)).unwrap_or(wall)
        } else {
            wall
        }
    }

    /// Whether the time decisions are taken at runs ahead of the wall
    /// clock by more than [`JUMP_THRESHOLD`] (it was set back and has not
    /// caught up yet), and by how much. Smaller differences are not told:
    /// another thread may have read the clock a moment later.
    pub fn held(&self, wall: Timestamp) -> Option<SignedDuration> {
        let ahead = self.effective(wall).duration_since(wall);
        (ahead.unsigned_abs() > JUMP_THRESHOLD && ahead.is_positive()).then_some(ahead)
    }

    /// Compares the wall clock with the monotonic clock since the last
    /// check; the jump, if the difference is above [`JUMP_THRESHOLD`].
    pub fn check(&self) -> Option<Jump> {
        self.check_at(monotonic(), wall_now())
    }

    /// [`Clock::check`] with the two clocks' readings passed in.
    pub fn check_at(&self, monotonic: Duration, wall: Timestamp) -> Option<Jump> {
        self.effective(wall);
        let now = Reading { monotonic, wall };
        let mut last = match self.last.lock() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        let before = last.replace(now)?;
        let elapsed = SignedDuration::try_from(monotonic.saturating_sub(before.monotonic))
            .unwrap_or(SignedDuration::MAX);
        let from = before.wall.saturating_add(elapsed).ok()?;
        let jump = Jump { from, to: wall };
        (jump.difference().unsigned_abs() > JUMP_THRESHOLD).then_some(jump)
    }
}

fn nanos_of(t: Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond()).unwrap_or(if t > Timestamp::UNIX_EPOCH {
        i64::MAX
    } else {
        i64::MIN
    })
}

/// The process's clock, shared by the daemon and every source.
pub fn system() -> &'static Clock {
    static SYSTEM: Clock = Clock::new();
    &SYSTEM
}

/// The time to decide at now, on the process's clock ([`Clock::now`]).
pub fn now() -> Timestamp {
    system().now()
}

/// What the system's wall clock says now: the time records carry.
///
/// Debug builds only (the ones `cargo test` runs), when the environment
/// names a file in `VARCO_TEST_CLOCK_FILE`: the wall clock is moved by the
/// whole seconds that file holds, so an integration test can make the
/// daemon's clock jump. Release builds have no such hook: the variable is
/// not even read, and moving varco's clock takes moving the system's.
pub fn wall_now() -> Timestamp {
    let now = Timestamp::now();
    #[cfg(debug_assertions)]
    if let Some(offset) = test_offset() {
        return now.saturating_add(offset).unwrap_or(now);
    }
    now
}

/// The offset of the test hook (see [`wall_now`]).
#[cfg(debug_assertions)]
fn test_offset() -> Option<SignedDuration> {
    static FILE: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    let file = FILE
        .get_or_init(|| std::env::var_os("VARCO_TEST_CLOCK_FILE").map(Into::into))
        .as_ref()?;
    let seconds: i64 = std::fs::read_to_string(file).ok()?.trim().parse().ok()?;
    Some(SignedDuration::from_secs(seconds))
}

/// Time elapsed on a clock nobody can set, since an arbitrary origin.
#[cfg(target_os = "linux")]
fn monotonic() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec that lives for the call;
    // CLOCK_BOOTTIME exists on every kernel varco supports (2.6.39+).
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if rc != 0 {
        return fallback_monotonic();
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(not(target_os = "linux"))]
fn monotonic() -> Duration {
    fallback_monotonic()
}

/// The standard monotonic clock, from the first time it is asked.
fn fallback_monotonic() -> Duration {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ORIGIN.get_or_init(std::time::Instant::now).elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn time_to_decide_never_goes_back_until_the_wall_clock_passes_it() {
        let c = Clock::new();
        assert_eq!(
            c.effective(at("2025-11-26T14:00:00Z")),
            at("2025-11-26T14:00:00Z")
        );
        // Set back an hour: decisions stay at 14:00, not 13:00.
        assert_eq!(
            c.effective(at("2025-11-26T13:00:00Z")),
            at("2025-11-26T14:00:00Z")
        );
        assert_eq!(
            c.held(at("2025-11-26T13:00:01Z")),
            Some(SignedDuration::from_secs(3599))
        );
        // Once the wall clock passes it again, it is followed.
        assert_eq!(
            c.effective(at("2025-11-26T14:00:05Z")),
            at("2025-11-26T14:00:05Z")
        );
        assert_eq!(c.held(at("2025-11-26T14:00:06Z")), None);
        // A moment behind another thread's reading is not a held clock.
        c.effective(at("2025-11-26T14:00:07.5Z"));
        assert_eq!(c.held(at("2025-11-26T14:00:07Z")), None);
    }

    #[test]
    fn jumps_are_told_apart_from_time_passing() {
        let c = Clock::new();
        let t0 = at("2025-11-26T14:00:00Z");
        let m0 = Duration::from_secs(1000);
        assert_eq!(c.check_at(m0, t0), None, "the first reading is a start");
        let second = SignedDuration::from_secs(1);
        // A tick later, a tick further: no jump (nor for a late tick).
        assert_eq!(c.check_at(m0 + Duration::from_secs(1), t0 + second), None);
        assert_eq!(
            c.check_at(m0 + Duration::from_secs(3), t0 + second * 3),
            None
        );
        // Small slews and delays stay below the threshold.
        assert_eq!(
            c.check_at(
                m0 + Duration::from_secs(4),
                t0 + SignedDuration::from_millis(5500)
            ),
            None
        );
        // Two hours forward.
        let forward = c
            .check_at(
                m0 + Duration::from_secs(5),
                t0 + SignedDuration::from_hours(2),
            )
            .expect("a forward jump");
        assert_eq!(forward.to, t0 + SignedDuration::from_hours(2));
        assert_eq!(
            forward.difference(),
            SignedDuration::from_hours(2) - SignedDuration::from_millis(6500)
        );
        // And back: a negative difference.
        let back = c
            .check_at(m0 + Duration::from_secs(6), t0 + second * 6)
            .expect("a backward jump");
        assert!(
            back.difference() < -SignedDuration::from_mins(119),
            "{back:?}"
        );
        // Suspended for an hour (the boot clock counts it): no jump.
        assert_eq!(
            c.check_at(m0 + Duration::from_secs(3606), t0 + second * 3606),
            None
        );
    }

    #[test]
    fn a_check_also_raises_the_time_to_decide_at() {
        let c = Clock::new();
        c.check_at(Duration::ZERO, at("2025-11-26T16:00:00Z"));
        assert_eq!(
            c.effective(at("2025-11-26T14:00:00Z")),
            at("2025-11-26T16:00:00Z")
        );
    }
}
