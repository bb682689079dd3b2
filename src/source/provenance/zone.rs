//! Windows' download mark: the `Zone.Identifier` alternate data stream a
//! browser (or the attachment manager) writes next to a downloaded file.
//!
//! ```text
//! [ZoneTransfer]
//! ZoneId=3
//! ReferrerUrl=https://example.org/page
//! HostUrl=https://example.org/AnyDesk.exe
//! ```
//!
//! ZoneId 3 is the Internet zone, 4 the untrusted sites; 0–2 are this
//! computer, the intranet and trusted sites.

/// What a `Zone.Identifier` stream says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ZoneMark {
    /// The security zone the file came from.
    pub zone: Option<u32>,
    /// The URL of the file itself.
    pub host_url: Option<String>,
}

impl ZoneMark {
    /// Internet or untrusted: a download.
    pub fn is_download(&self) -> bool {
        matches!(self.zone, Some(3 | 4))
    }
}

/// Reads the stream's text (UTF-8 or UTF-16 with a byte-order mark, as
/// different writers use).
pub fn parse(bytes: &[u8]) -> ZoneMark {
    let text = match bytes {
        [0xff, 0xfe, rest @ ..] => String::from_utf16_lossy(
            &rest
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect::<Vec<_>>(),
        ),
        _ => String::from_utf8_lossy(bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes))
            .into_owned(),
    };
    let mut mark = ZoneMark::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "zoneid" => mark.zone = value.parse().ok(),
            "hosturl" if !value.is_empty() => mark.host_url = Some(value.to_string()),
            _ => {}
        }
    }
    mark
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_browser_download_reads_as_internet_with_its_url() {
        let m = parse(
            b"[ZoneTransfer]\r\nZoneId=3\r\nReferrerUrl=https://anydesk.example/it\r\nHostUrl=https://download.anydesk.example/AnyDesk.exe\r\n",
        );
        assert!(m.is_download());
        assert_eq!(
            m.host_url.as_deref(),
            Some("https://download.anydesk.example/AnyDesk.exe")
        );
    }

    #[test]
    fn utf16_and_local_zones() {
        let text = "[ZoneTransfer]\r\nZoneId=1\r\n";
        let mut bytes = vec![0xff, 0xfe];
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let m = parse(&bytes);
        assert_eq!(m.zone, Some(1));
        assert!(!m.is_download());
        assert_eq!(parse(b"garbage"), ZoneMark::default());
    }
}
