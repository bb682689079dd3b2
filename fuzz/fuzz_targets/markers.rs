//! ELF, Mach-O and script content searched for the catalog's markers, as a
//! program and as a script an interpreter runs. Must never panic.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use varco::policy::catalog::Catalog;
use varco::policy::identify::{examine, examine_script};

static CATALOG: LazyLock<Catalog> = LazyLock::new(|| Catalog::embedded().unwrap());

fuzz_target!(|data: &[u8]| {
    let _ = examine(&CATALOG, data);
    let _ = examine_script(&CATALOG, data);
});
