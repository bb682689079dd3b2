//! A Windows program's content: PE headers, resource directory, version
//! resource, certificate table. Must answer (evidence and problems), never
//! panic.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use varco::policy::catalog::Catalog;
use varco::policy::identify::examine;

static CATALOG: LazyLock<Catalog> = LazyLock::new(|| Catalog::embedded().unwrap());

fuzz_target!(|data: &[u8]| {
    // Every input is read as a PE, as the identifier does for `MZ` files.
    let mut bytes = b"MZ".to_vec();
    bytes.extend_from_slice(data.get(2..).unwrap_or_default());
    let _ = examine(&CATALOG, &bytes);
});
