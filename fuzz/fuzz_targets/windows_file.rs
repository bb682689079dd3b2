//! The approved-windows file, then the decisions made with it at a few
//! instants (far past, now-ish, far future): a file that parses must never
//! make a later decision panic either.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use varco::policy::catalog::Catalog;
use varco::policy::schedule::parse;

static CATALOG: LazyLock<Catalog> = LazyLock::new(|| Catalog::embedded().unwrap());

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(schedule) = parse(text, &CATALOG) {
        for at in [
            jiff::Timestamp::MIN,
            jiff::Timestamp::UNIX_EPOCH,
            jiff::Timestamp::from_second(1_764_000_000).unwrap(),
            jiff::Timestamp::MAX,
        ] {
            for tool in ["anydesk", "teamviewer", "x11vnc"] {
                let _ = schedule.open_for(tool, at);
            }
        }
    }
});
