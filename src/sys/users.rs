//! Account names from numeric uids, through the system's name service
//! (NSS: `/etc/passwd`, and also sssd, LDAP, Active Directory, systemd's
//! dynamic users — whatever `/etc/nsswitch.conf` lists). Operators in a
//! directory have no line in `/etc/passwd`; they must be named like any
//! other.
//!
//! A directory can be slow or down, and names are asked for while an exec
//! is held (fanotify) or a decision is recorded: a lookup must never hold
//! either up. So lookups run on a thread of their own, callers wait for
//! an answer at most [`WAIT`], answers are remembered (a name for
//! [`KEEP_NAME`], "no such user" for [`KEEP_MISSING`]), and a uid whose
//! lookup is still under way is answered "unknown" at once. Records keep
//! the numeric uid in any case, and the operator's agent is found by uid.

use std::collections::HashMap;
use std::sync::mpsc::{self, Sender};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The longest a caller waits for a lookup: a local file or sssd's cache
/// answers in microseconds; a directory that takes longer is not waited
/// for (the record keeps the uid).
pub const WAIT: Duration = Duration::from_millis(100);

/// How long a name found is trusted before it is looked up again.
pub const KEEP_NAME: Duration = Duration::from_secs(600);

/// How long "no such user" is remembered: a directory that was down may
/// be back soon.
pub const KEEP_MISSING: Duration = Duration::from_secs(60);

/// What is known about one uid.
#[derive(Debug, Clone)]
enum Entry {
    /// Looked up at `at`; `None`: no such user.
    Known { name: Option<String>, at: Instant },
    /// Asked for, not answered yet; callers wait until `until`, then no
    /// longer.
    Pending { until: Instant },
}

struct Names {
    entries: Mutex<HashMap<u32, Entry>>,
    answered: Condvar,
    lookups: Mutex<Option<Sender<u32>>>,
}

fn names() -> &'static Names {
    static NAMES: OnceLock<Names> = OnceLock::new();
    NAMES.get_or_init(|| Names {
        entries: Mutex::new(HashMap::new()),
        answered: Condvar::new(),
        lookups: Mutex::new(None),
    })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The name of the account `uid`, if the name service knows it within
/// [`WAIT`].
pub fn user_name(uid: u32) -> Option<String> {
    let names = names();
    let mut entries = lock(&names.entries);
    match entries.get(&uid) {
        Some(Entry::Known { name, at }) => {
            let keep = if name.is_some() {
                KEEP_NAME
            } else {
                KEEP_MISSING
            };
            if at.elapsed() < keep {
                return name.clone();
            }
        }
        // Under way: wait as long as the first caller does, no longer.
        Some(Entry::Pending { until }) => {
            let until = *until;
            return wait(names, entries, uid, until);
        }
        None => {}
    }
    if !ask(names, uid) {
        // No lookup thread: answer here, unbounded, rather than never.
        drop(entries);
        return lookup(uid);
    }
    let until = Instant::now() + WAIT;
    entries.insert(uid, Entry::Pending { until });
    wait(names, entries, uid, until)
}

/// Waits until `uid` is answered or `deadline` passes.
fn wait(
    names: &Names,
    mut entries: MutexGuard<'_, HashMap<u32, Entry>>,
    uid: u32,
    deadline: Instant,
) -> Option<String> {
    loop {
        if let Some(Entry::Known { name, .. }) = entries.get(&uid) {
            return name.clone();
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        entries = names
            .answered
            .wait_timeout(entries, left)
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .0;
    }
}

/// Hands `uid` to the lookup thread, starting it if needed; false if it
/// cannot run.
fn ask(names: &'static Names, uid: u32) -> bool {
    let mut lookups = lock(&names.lookups);
    if lookups.is_none() {
        let (tx, rx) = mpsc::channel::<u32>();
        let started = std::thread::Builder::new()
            .name("varco-users".into())
            .spawn(move || {
                for uid in rx {
                    let name = lookup(uid);
                    let at = Instant::now();
                    lock(&names.entries).insert(uid, Entry::Known { name, at });
                    names.answered.notify_all();
                }
            });
        if started.is_err() {
            return false;
        }
        *lookups = Some(tx);
    }
    lookups.as_ref().is_some_and(|tx| tx.send(uid).is_ok())
}

/// One `getpwuid_r` call, growing the buffer as the name service asks.
fn lookup(uid: u32) -> Option<String> {
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: an all-zero passwd (null pointers, zero ids) is a valid
        // value of this plain C struct; getpwuid_r overwrites it.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: `pwd`, `buf` (with its true length) and `found` are
        // valid and writable for the whole call; the strings getpwuid_r
        // stores point into `buf`, which outlives their use below.
        let rc = unsafe {
            libc::getpwuid_r(
                uid,
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut found,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 || found.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        // SAFETY: on success pw_name points to a NUL-terminated string
        // inside `buf`, which is alive and unchanged here.
        let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
        return Some(name.to_string_lossy().into_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_name_service_and_unknown_uids_have_none() {
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert_eq!(user_name(0).as_deref(), Some("root"), "from the cache");
        // No account has this uid on a test machine.
        assert_eq!(user_name(3_999_999_999), None);
    }
}
