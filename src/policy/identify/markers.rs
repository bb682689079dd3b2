//! What kind of file a program is, and the catalog's content markers in
//! it: byte strings a tool's own binaries or scripts contain however the
//! file is named.

use crate::policy::catalog::Catalog;

/// The kinds of file identification reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// A Windows executable (`MZ`): version resource and signature.
    Pe,
    /// ELF or Mach-O (both byte orders, fat): content markers.
    Binary,
    /// A script with a `#!` line: content markers in its text.
    Script,
    /// Anything else (documents, data): not read for evidence.
    Other,
}

impl Format {
    /// The kind of a file from its first bytes (at least 4 when the file
    /// has them).
    pub fn of(head: &[u8]) -> Format {
        if head.starts_with(b"MZ") {
            Format::Pe
        } else if head.starts_with(b"\x7fELF")
            || matches!(
                head.get(..4),
                Some(
                    [0xfe, 0xed, 0xfa, 0xce | 0xcf]
                        | [0xce | 0xcf, 0xfa, 0xed, 0xfe]
                        | [0xca, 0xfe, 0xba, 0xbe]
                )
            )
        {
            Format::Binary
        } else if head.starts_with(b"#!") {
            Format::Script
        } else {
            Format::Other
        }
    }
}

/// The catalog markers (hex, as [`crate::policy::catalog::Evidence`]
/// holds them) that occur in `bytes`.
pub(super) fn found(catalog: &Catalog, bytes: &[u8]) -> Vec<String> {
    catalog
        .markers()
        .filter(|(m, _)| memchr::memmem::find(bytes, m).is_some())
        .map(|(_, hex)| hex.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_apart_by_their_first_bytes() {
        assert_eq!(Format::of(b"MZ\x90\x00"), Format::Pe);
        assert_eq!(Format::of(b"\x7fELF"), Format::Binary);
        assert_eq!(Format::of(&[0xcf, 0xfa, 0xed, 0xfe]), Format::Binary);
        assert_eq!(Format::of(b"#!/usr/bin/python3\n"), Format::Script);
        assert_eq!(Format::of(b"#!"), Format::Script);
        assert_eq!(Format::of(b"%PDF"), Format::Other);
        assert_eq!(Format::of(b""), Format::Other);
    }
}
