//! Authenticode: whose signature a Windows program carries, counted only
//! when the signature verifies over the program's own bytes.
//!
//! What is checked, in order (see `docs/catalog.md`, "What is verified"):
//! 1. the certificate table holds a PKCS#7 `SignedData` with one signer,
//!    identified by issuer and serial number, whose certificate is in it;
//! 2. the signer certificate names a signer of the catalog (otherwise
//!    nothing else is done: the name would identify nothing, and the
//!    digest of a large file costs time);
//! 3. the `SpcIndirectDataContent` digest equals the Authenticode digest
//!    of this file (everything but the checksum, the certificate-table
//!    entry and the table itself): a signature copied onto another file
//!    fails here;
//! 4. the signed attributes' `messageDigest` equals the digest of that
//!    content, and their `contentType` is `SpcIndirectDataContent`;
//! 5. the signature over the signed attributes verifies with the signer
//!    certificate's public key (RSA PKCS#1 v1.5, ECDSA P-256/P-384).
//!
//! Not checked: the chain of the signer certificate to a trusted root,
//! its validity period, revocation, and countersignatures (timestamps).
//! Anyone can sign a file with a certificate they made that bears a
//! vendor's name; what this rules out is a vendor's real signature lent
//! to a file the vendor never signed.

use std::ops::Range;

use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{ObjectIdentifier as Oid, OctetString};
use der::{Any, Decode, Encode, Sequence, SliceReader};
use sha2::Digest;
use x509_cert::Certificate;
use x509_cert::spki::AlgorithmIdentifierOwned;

use super::Problem;
use super::pe::Layout;

const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
const SPC_INDIRECT_DATA: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.2.1.4");
const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
const P384: Oid = Oid::new_unwrap("1.3.132.0.34");
const COMMON_NAME: Oid = Oid::new_unwrap("2.5.4.3");
const ORGANIZATION: Oid = Oid::new_unwrap("2.5.4.10");

/// The signature algorithms whose key is RSA (PKCS#1 v1.5).
const RSA_SIGNATURES: &[&str] = &[
    "1.2.840.113549.1.1.1",  // rsaEncryption (hash from the digest algorithm)
    "1.2.840.113549.1.1.5",  // sha1WithRSAEncryption
    "1.2.840.113549.1.1.11", // sha256WithRSAEncryption
    "1.2.840.113549.1.1.12", // sha384WithRSAEncryption
    "1.2.840.113549.1.1.13", // sha512WithRSAEncryption
];

/// The signature algorithms whose key is an elliptic curve (ECDSA).
const ECDSA_SIGNATURES: &[&str] = &[
    "1.2.840.10045.2.1",   // ecPublicKey (hash from the digest algorithm)
    "1.2.840.10045.4.1",   // ecdsa-with-SHA1
    "1.2.840.10045.4.3.2", // ecdsa-with-SHA256
    "1.2.840.10045.4.3.3", // ecdsa-with-SHA384
    "1.2.840.10045.4.3.4", // ecdsa-with-SHA512
];

/// `SpcIndirectDataContent`: what the signer signed — the file's digest.
#[derive(Sequence)]
struct SpcIndirectDataContent {
    data: SpcAttributeTypeAndOptionalValue,
    message_digest: DigestInfo,
}

#[derive(Sequence)]
struct SpcAttributeTypeAndOptionalValue {
    value_type: Oid,
    #[asn1(optional = "true")]
    value: Option<Any>,
}

#[derive(Sequence)]
struct DigestInfo {
    digest_algorithm: AlgorithmIdentifierOwned,
    digest: OctetString,
}

/// The digests Authenticode uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn of(oid: &Oid) -> Option<Hash> {
        Some(match oid.to_string().as_str() {
            "1.3.14.3.2.26" => Hash::Sha1,
            "2.16.840.1.101.3.4.2.1" => Hash::Sha256,
            "2.16.840.1.101.3.4.2.2" => Hash::Sha384,
            "2.16.840.1.101.3.4.2.3" => Hash::Sha512,
            _ => return None,
        })
    }

    fn digest<'a>(self, parts: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
        fn run<'p, D: Digest>(parts: impl IntoIterator<Item = &'p [u8]>) -> Vec<u8> {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            d.finalize().to_vec()
        }
        match self {
            Hash::Sha1 => run::<sha1::Sha1>(parts),
            Hash::Sha256 => run::<sha2::Sha256>(parts),
            Hash::Sha384 => run::<sha2::Sha384>(parts),
            Hash::Sha512 => run::<sha2::Sha512>(parts),
        }
    }
}

/// The names (CN and O) of the signers whose signature verifies over
/// this file, when a name is one `wanted` (the catalog's signers); and,
/// for a signature naming a wanted signer that does not verify, or a
/// certificate table that cannot be read, the problem.
pub(super) fn verified_signers(
    layout: &Layout<'_>,
    wanted: &dyn Fn(&str) -> bool,
) -> (Vec<String>, Vec<Problem>) {
    let mut signers = Vec::new();
    let mut problems = Vec::new();
    let Some((at, size)) = layout.certificates else {
        return (signers, problems);
    };
    let Some(table) = at
        .checked_add(size)
        .and_then(|end| layout.data.get(at..end))
    else {
        problems.push(Problem::Signature(
            "the certificate table lies outside the file".into(),
        ));
        return (signers, problems);
    };
    let mut digests: Vec<(Hash, Option<Vec<u8>>)> = Vec::new();
    for blob in win_certificates(table, &mut problems) {
        match signature(blob) {
            Ok((signed, signer, cert)) => {
                let names = subject_names(&cert);
                let Some(claimed) = names.iter().find(|n| wanted(n)).cloned() else {
                    continue;
                };
                match verify(layout, &signed, &signer, &cert, &mut digests) {
                    Ok(()) => {
                        for n in names {
                            if !signers.contains(&n) {
                                signers.push(n);
                            }
                        }
                    }
                    Err(why) => problems.push(Problem::Unverified {
                        signer: claimed,
                        why: why.to_string(),
                    }),
                }
            }
            Err(why) => problems.push(Problem::Signature(why.to_string())),
        }
    }
    (signers, problems)
}

/// The PKCS#7 blobs of a certificate table (`WIN_CERTIFICATE` entries of
/// type `WIN_CERT_TYPE_PKCS_SIGNED_DATA`, each 8-byte aligned).
fn win_certificates<'a>(table: &'a [u8], problems: &mut Vec<Problem>) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at.saturating_add(8) <= table.len() {
        let Some(header) = table.get(at..at + 8) else {
            break;
        };
        let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = u16::from_le_bytes([header[6], header[7]]);
        let Some(entry) = at
            .checked_add(length)
            .filter(|_| length >= 8)
            .and_then(|end| table.get(at + 8..end))
        else {
            problems.push(Problem::Signature(format!(
                "certificate entry at byte {at} of the table has a wrong length ({length})"
            )));
            break;
        };
        if kind == 0x0002 {
            out.push(entry);
        }
        let Some(next) = at.checked_add(length).and_then(|n| n.checked_add(7)) else {
            break;
        };
        at = next & !7;
    }
    out
}

/// Decodes a PKCS#7 `SignedData`: the signed content, its one signer and
/// that signer's certificate.
fn signature(blob: &[u8]) -> Result<(SignedData, SignerInfo, Certificate), &'static str> {
    // Entries are padded to 8 bytes: read one value and ignore the rest.
    let mut reader = SliceReader::new(blob).map_err(|_| "the signature is empty")?;
    let info = ContentInfo::decode(&mut reader).map_err(|_| "the signature is not PKCS#7")?;
    if info.content_type != SIGNED_DATA {
        return Err("the signature is not PKCS#7 SignedData");
    }
    let signed: SignedData = info
        .content
        .decode_as()
        .map_err(|_| "the PKCS#7 SignedData cannot be decoded")?;
    let mut signers = signed.signer_infos.0.iter();
    let (Some(signer), None) = (signers.next(), signers.next()) else {
        return Err("the signature does not have exactly one signer");
    };
    let SignerIdentifier::IssuerAndSerialNumber(id) = &signer.sid else {
        return Err("the signer is not named by issuer and serial number");
    };
    let cert = signed
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .find_map(|c| match c {
            cms::cert::CertificateChoices::Certificate(c)
                if c.tbs_certificate.issuer == id.issuer
                    && c.tbs_certificate.serial_number == id.serial_number =>
            {
                Some(c.clone())
            }
            _ => None,
        })
        .ok_or("the signer's certificate is not in the signature")?;
    let signer = signer.clone();
    Ok((signed, signer, cert))
}

/// The subject's common names and organisations, as written.
fn subject_names(cert: &Certificate) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for rdn in cert.tbs_certificate.subject.0.iter() {
        for atv in rdn.0.iter() {
            if atv.oid != COMMON_NAME && atv.oid != ORGANIZATION {
                continue;
            }
            let raw = atv.value.value();
            let text = match der::Tagged::tag(&atv.value).number().value() {
                // UTF8String, PrintableString, T61String, IA5String
                0x0c | 0x13 | 0x14 | 0x16 => String::from_utf8_lossy(raw).into_owned(),
                // BMPString: UTF-16 big-endian
                0x1e => String::from_utf16_lossy(
                    &raw.chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect::<Vec<_>>(),
                ),
                _ => continue,
            };
            let text = text.trim().to_string();
            if !text.is_empty() && !names.contains(&text) {
                names.push(text);
            }
        }
    }
    names
}

/// Why a signature does not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum Refused {
    #[error("the signed content is not Authenticode's SpcIndirectDataContent")]
    NotAuthenticode,
    #[error("it uses a digest algorithm varco does not check")]
    UnknownDigest,
    #[error("the file's layout does not allow its Authenticode digest to be computed")]
    Layout,
    #[error(
        "the digest it signs is not this file's: the file was changed after signing, or the signature was copied from another file"
    )]
    DigestMismatch,
    #[error("its signed attributes are missing or do not match the signed content")]
    Attributes,
    #[error("the signer's public key cannot be read or is of a kind varco does not check")]
    Key,
    #[error("the signature does not verify with the signer's public key")]
    BadSignature,
}

fn verify(
    layout: &Layout<'_>,
    signed: &SignedData,
    signer: &SignerInfo,
    cert: &Certificate,
    digests: &mut Vec<(Hash, Option<Vec<u8>>)>,
) -> Result<(), Refused> {
    // 3. The digest it signs is this file's.
    if signed.encap_content_info.econtent_type != SPC_INDIRECT_DATA {
        return Err(Refused::NotAuthenticode);
    }
    let content = signed
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or(Refused::NotAuthenticode)?;
    let indirect: SpcIndirectDataContent =
        content.decode_as().map_err(|_| Refused::NotAuthenticode)?;
    let _ = (&indirect.data.value_type, &indirect.data.value);
    let file_hash =
        Hash::of(&indirect.message_digest.digest_algorithm.oid).ok_or(Refused::UnknownDigest)?;
    let file_digest = match digests.iter().find(|(h, _)| *h == file_hash) {
        Some((_, d)) => d.clone(),
        None => {
            let d = digest_ranges(layout)
                .map(|ranges| file_hash.digest(ranges.into_iter().map(|r| &layout.data[r])));
            digests.push((file_hash, d.clone()));
            d
        }
    }
    .ok_or(Refused::Layout)?;
    if file_digest != indirect.message_digest.digest.as_bytes() {
        return Err(Refused::DigestMismatch);
    }
    // 4. The signed attributes bind that content.
    let hash = Hash::of(&signer.digest_alg.oid).ok_or(Refused::UnknownDigest)?;
    let attrs = signer.signed_attrs.as_ref().ok_or(Refused::Attributes)?;
    let value_of = |oid: Oid| {
        let mut found = attrs.iter().filter(|a| a.oid == oid);
        match (found.next(), found.next()) {
            (Some(a), None) if a.values.len() == 1 => a.values.get(0).cloned(),
            _ => None,
        }
    };
    let content_type: Oid = value_of(CONTENT_TYPE)
        .and_then(|v| v.decode_as().ok())
        .ok_or(Refused::Attributes)?;
    let message_digest: OctetString = value_of(MESSAGE_DIGEST)
        .and_then(|v| v.decode_as().ok())
        .ok_or(Refused::Attributes)?;
    // Authenticode digests the content's value, without its SEQUENCE header.
    if content_type != SPC_INDIRECT_DATA
        || message_digest.as_bytes() != hash.digest([content.value()])
    {
        return Err(Refused::Attributes);
    }
    // 5. The signer signed those attributes (DER, as a SET OF).
    let signed_attrs = attrs.to_der().map_err(|_| Refused::Attributes)?;
    let prehash = hash.digest([signed_attrs.as_slice()]);
    check_signature(cert, signer, hash, &prehash)
}

/// Verifies the signer's signature over `prehash` with the public key of
/// its certificate.
fn check_signature(
    cert: &Certificate,
    signer: &SignerInfo,
    hash: Hash,
    prehash: &[u8],
) -> Result<(), Refused> {
    let spki = &cert.tbs_certificate.subject_public_key_info;
    let key = spki.subject_public_key.as_bytes().ok_or(Refused::Key)?;
    let signature = signer.signature.as_bytes();
    let algorithm = signer.signature_algorithm.oid.to_string();
    if spki.algorithm.oid == RSA_ENCRYPTION && RSA_SIGNATURES.contains(&algorithm.as_str()) {
        use rsa::pkcs1::DecodeRsaPublicKey;
        let key = rsa::RsaPublicKey::from_pkcs1_der(key).map_err(|_| Refused::Key)?;
        let scheme = match hash {
            Hash::Sha1 => rsa::Pkcs1v15Sign::new::<sha1::Sha1>(),
            Hash::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            Hash::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
            Hash::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
        };
        return key
            .verify(scheme, prehash, signature)
            .map_err(|_| Refused::BadSignature);
    }
    if spki.algorithm.oid == EC_PUBLIC_KEY && ECDSA_SIGNATURES.contains(&algorithm.as_str()) {
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        let curve: Oid = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as().ok())
            .ok_or(Refused::Key)?;
        let verified = if curve == P256 {
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(|_| Refused::Key)?;
            let sig =
                p256::ecdsa::Signature::from_der(signature).map_err(|_| Refused::BadSignature)?;
            key.verify_prehash(prehash, &sig).is_ok()
        } else if curve == P384 {
            let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(|_| Refused::Key)?;
            let sig =
                p384::ecdsa::Signature::from_der(signature).map_err(|_| Refused::BadSignature)?;
            key.verify_prehash(prehash, &sig).is_ok()
        } else {
            return Err(Refused::Key);
        };
        return verified.then_some(()).ok_or(Refused::BadSignature);
    }
    Err(Refused::Key)
}

/// The file ranges the Authenticode digest covers (Microsoft's PE format
/// specification, "Calculating the PE Image Hash"): the headers without
/// the checksum and the certificate-table entry, the sections in file
/// order, then what follows them except the certificate table.
fn digest_ranges(layout: &Layout<'_>) -> Option<Vec<Range<usize>>> {
    let len = layout.data.len();
    let checksum = layout.checksum;
    let entry = layout.security_entry?;
    let headers_end = layout.headers_end;
    let (_, table_size) = layout.certificates.unwrap_or((0, 0));
    let after_checksum = checksum.checked_add(4)?;
    let after_entry = entry.checked_add(8)?;
    if !(after_checksum <= entry && after_entry <= headers_end && headers_end <= len) {
        return None;
    }
    let mut ranges = vec![0..checksum, after_checksum..entry, after_entry..headers_end];
    let mut hashed = headers_end;
    for (at, size) in layout.section_ranges() {
        let end = at.checked_add(size)?;
        if end > len {
            return None;
        }
        ranges.push(at..end);
        hashed = hashed.checked_add(size)?;
    }
    let extra = len.checked_sub(hashed)?.checked_sub(table_size)?;
    if extra > 0 {
        ranges.push(hashed..hashed.checked_add(extra)?);
    }
    Some(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_entries_are_read_with_their_lengths_checked() {
        let mut table = Vec::new();
        // One PKCS entry of 8 + 3 bytes, padded to 16, then a short one.
        table.extend(11u32.to_le_bytes());
        table.extend(0x0200u16.to_le_bytes());
        table.extend(0x0002u16.to_le_bytes());
        table.extend([1, 2, 3, 0, 0, 0, 0, 0]);
        table.extend(4u32.to_le_bytes());
        table.extend([0, 2, 2, 0]);
        let mut problems = Vec::new();
        let blobs = win_certificates(&table, &mut problems);
        assert_eq!(blobs, [&[1u8, 2, 3][..]]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        for cut in 0..table.len() {
            let _ = win_certificates(&table[..cut], &mut Vec::new());
        }
    }

    #[test]
    fn garbage_is_not_a_signature() {
        for blob in [
            &b""[..],
            b"\x30",
            b"\x30\x80\x00\x00",
            &[0x30, 0x03, 0x06, 0x01, 0x00],
        ] {
            assert!(signature(blob).is_err());
        }
    }
}
