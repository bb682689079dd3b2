//! Whether a file is the one IT signed, and new enough to be put in force.
//!
//! IT signs the windows file with the stock `minisign` tool
//! (`minisign -Sm approved-windows.toml` writes
//! `approved-windows.toml.minisig`); varco holds IT's public key and
//! refuses a file that is unsigned, signed with another key, or changed
//! after signing. The signature is checked by `minisign-verify` (Ed25519,
//! by minisign's author), never by code of ours.
//!
//! A signature alone would let anyone who kept an old signed file put it
//! back (a rollback to a file with a window IT has since withdrawn). So a
//! signed file carries a `serial`, and varco refuses a serial lower than
//! the highest it accepted, as package repositories refuse older
//! metadata. The caller keeps that serial on disk; this module only
//! judges, given bytes and the last accepted serial.
//!
//! Pure: no file, no clock.
#![forbid(unsafe_code)]

use std::fmt;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// What is appended to a file's name to name its signature, as minisign
/// does.
pub const SIGNATURE_SUFFIX: &str = ".minisig";

/// IT's public key, as `minisign -G` wrote it (`minisign.pub`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    key: minisign_verify::PublicKey,
    id: KeyId,
}

/// A minisign key id: eight bytes, shown as minisign shows them (16
/// upper-case hex digits, the bytes in reverse order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyId([u8; 8]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0.iter().rev() {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

/// Why a public key file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "it is not a minisign public key ({0}); copy the .pub file `minisign -G` wrote (two lines: a comment, then the key)"
)]
pub struct KeyError(String);

/// Why a file's signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No signature file beside it.
    #[error("it is not signed (no {SIGNATURE_SUFFIX} file beside it)")]
    Missing,
    /// The signature file is not minisign's format.
    #[error("its signature file is not a minisign signature ({0})")]
    Malformed(String),
    /// Signed, but by a key varco does not trust.
    #[error("it is signed with another key (key id {signed_by}); varco trusts key id {trusted}")]
    OtherKey {
        /// The key that signed it.
        signed_by: String,
        /// The key varco trusts.
        trusted: KeyId,
    },
    /// The signature does not match the content.
    #[error(
        "its signature does not match its content: it was changed after it was signed, or the signature belongs to another file"
    )]
    Invalid,
}

impl TrustedKey {
    /// Reads a public key in minisign's `.pub` format (or the bare
    /// base64 line).
    pub fn parse(text: &str) -> Result<TrustedKey, KeyError> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .ok_or_else(|| KeyError("the file is empty".into()))?;
        let key =
            minisign_verify::PublicKey::from_base64(line).map_err(|e| KeyError(e.to_string()))?;
        let id = key_id_at(line, 2).ok_or_else(|| KeyError("no key id".into()))?;
        Ok(TrustedKey { key, id })
    }

    /// The key's id, as `minisign` prints it.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// Checks that `signature` (the text of the `.minisig` file, `None`
    /// when there is none) is this key's signature of `content`.
    /// Signatures of both minisign formats (pre-hashed, the default
    /// since 0.10, and the older whole-file one) are accepted: they are
    /// equally strong.
    pub fn verify(&self, content: &[u8], signature: Option<&str>) -> Result<(), SignatureError> {
        let text = signature.ok_or(SignatureError::Missing)?;
        let sig = minisign_verify::Signature::decode(text)
            .map_err(|e| SignatureError::Malformed(e.to_string()))?;
        match self.key.verify(content, &sig, true) {
            Ok(()) => Ok(()),
            Err(minisign_verify::Error::UnexpectedKeyId) => Err(SignatureError::OtherKey {
                signed_by: text
                    .lines()
                    .nth(1)
                    .and_then(|l| key_id_at(l.trim(), 2))
                    .map_or_else(|| "unknown".into(), |id| id.to_string()),
                trusted: self.id,
            }),
            Err(minisign_verify::Error::InvalidSignature) => Err(SignatureError::Invalid),
            Err(e) => Err(SignatureError::Malformed(e.to_string())),
        }
    }
}

/// The key id in a base64 key or signature line: eight bytes after the
/// two-byte algorithm tag.
fn key_id_at(b64: &str, at: usize) -> Option<KeyId> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let id: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
    Some(KeyId(id))
}

/// What varco keeps of the last signed file it put in force: its serial
/// and the SHA-256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    /// The file's `serial`.
    pub serial: u64,
    /// SHA-256 (hex) of the file's bytes.
    pub sha256: String,
}

/// Why a signed file is not new enough.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FreshnessError {
    /// A signed file without a serial could be put back at any time.
    #[error(
        "it has no `serial`: a signed file must carry serial = N at the top, raised at every release"
    )]
    NoSerial,
    /// An older file than the one in force (a rollback).
    #[error(
        "it is older than the file in force: serial {serial}, but serial {in_force} was already accepted — publish the new file with serial {} or higher",
        in_force + 1
    )]
    Older {
        /// The file's serial.
        serial: u64,
        /// The highest serial accepted.
        in_force: u64,
    },
    /// The same serial with other content: two different files cannot
    /// both be release N.
    #[error(
        "serial {serial} was already accepted with different content — every change needs a higher serial (serial = {})",
        serial + 1
    )]
    Reused {
        /// The serial.
        serial: u64,
    },
}

/// Whether a verified file with `serial` and digest `sha256` may be put in
/// force after `last` (the last accepted, if any). The same file again
/// (same serial, same bytes) is fine: that is a restart.
///
/// The same serial with other bytes is refused, as a package repository
/// refuses a second, different release with the same version: otherwise
/// whoever holds two files IT signed with one serial (a draft and the
/// final one) could swap them back and forth without ever going "older".
pub fn check_fresh(
    serial: Option<u64>,
    sha256: &str,
    last: Option<&Accepted>,
) -> Result<(), FreshnessError> {
    let serial = serial.ok_or(FreshnessError::NoSerial)?;
    match last {
        None => Ok(()),
        Some(l) if serial > l.serial => Ok(()),
        Some(l) if serial < l.serial => Err(FreshnessError::Older {
            serial,
            in_force: l.serial,
        }),
        Some(l) if l.sha256 == sha256 => Ok(()),
        Some(_) => Err(FreshnessError::Reused { serial }),
    }
}

/// SHA-256 of `bytes`, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("{:x}", Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with minisign 0.11: `minisign -G -W`, then `minisign -S -W -m`
    // on a file holding "serial = 1\n".
    const PUB: &str = "untrusted comment: minisign public key EB20F43277535CC5\nRWTFXFN3MvQg64s+Kmky1MuP6mjVY1CUz1BOk8QrkfBDLma4lEErmTyn\n";
    const CONTENT: &str = "serial = 1\n";
    const SIG: &str = "untrusted comment: signature from minisign secret key\nRUTFXFN3MvQg68tOWcldczRsdwO24xh7MewF0bkAULmo2CVzHXOHqPRxe8xqIzIRc85PlpLuDL4RMvI/zObeXXAmxBkp40/B/gs=\ntrusted comment: timestamp:1796190676\tfile:f.toml\thashed\n9wVQ7of2Rby55vOMmumX20WMJNuJnFM0+1fKE1LS/RedQVTWSbeT15Jtqz0vjMPkI/TkDktV3R8edsi1oXMjAQ==\n";

    #[test]
    fn the_key_id_reads_as_minisign_prints_it() {
        let k = TrustedKey::parse(PUB).unwrap();
        assert_eq!(k.id().to_string(), "EB20F43277535CC5");
    }

    #[test]
    fn a_signed_file_verifies_and_a_changed_one_does_not() {
        let k = TrustedKey::parse(PUB).unwrap();
        assert_eq!(k.verify(CONTENT.as_bytes(), Some(SIG)), Ok(()));
        assert_eq!(
            k.verify(b"serial = 1\n[[window]]\n", Some(SIG)),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            k.verify(CONTENT.as_bytes(), None),
            Err(SignatureError::Missing)
        );
        assert!(matches!(
            k.verify(CONTENT.as_bytes(), Some("not a signature")),
            Err(SignatureError::Malformed(_))
        ));
    }

    #[test]
    fn a_tampered_trusted_comment_fails() {
        let k = TrustedKey::parse(PUB).unwrap();
        let sig = SIG.replace("timestamp:1796190676", "timestamp:1796190677");
        assert_eq!(
            k.verify(CONTENT.as_bytes(), Some(&sig)),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn a_key_that_is_not_one_is_refused() {
        assert!(TrustedKey::parse("").is_err());
        assert!(TrustedKey::parse("untrusted comment: x\nnot base64!\n").is_err());
    }

    #[test]
    fn serials_only_go_up_and_one_serial_is_one_file() {
        let last = Accepted {
            serial: 5,
            sha256: "aa".into(),
        };
        assert_eq!(check_fresh(Some(6), "bb", Some(&last)), Ok(()));
        assert_eq!(check_fresh(Some(5), "aa", Some(&last)), Ok(()));
        assert_eq!(
            check_fresh(Some(5), "bb", Some(&last)),
            Err(FreshnessError::Reused { serial: 5 })
        );
        assert_eq!(
            check_fresh(Some(4), "aa", Some(&last)),
            Err(FreshnessError::Older {
                serial: 4,
                in_force: 5
            })
        );
        assert_eq!(check_fresh(None, "aa", None), Err(FreshnessError::NoSerial));
        assert_eq!(check_fresh(Some(1), "aa", None), Ok(()));
    }
}
