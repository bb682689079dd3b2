//! IT's catalog extension, added to the embedded catalog. Must answer with
//! the catalog or its diagnostics, never panic.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use varco::policy::catalog::Catalog;

static CATALOG: LazyLock<Catalog> = LazyLock::new(|| Catalog::embedded().unwrap());

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut catalog = CATALOG.clone();
    if catalog.add_file("catalog.toml", text).is_ok() {
        let _ = catalog.lookup_name("fattura.exe");
    }
});
