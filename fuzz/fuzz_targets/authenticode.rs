//! The Authenticode check: certificate table, PKCS#7 SignedData, the
//! signer's certificate and key, the PE digest. Every signer is treated as
//! a catalog signer so the whole verification runs. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = varco::policy::identify::fuzzing::authenticode(data);
});
