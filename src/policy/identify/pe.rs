//! Windows executables (PE): where the version resource and the
//! Authenticode certificate table are, and what the version resource says.
//!
//! The headers, sections and resource directory are located with `object`
//! (bounds-checked, fuzzed by its maintainers). The version resource
//! (`VS_VERSIONINFO`) is walked here: pelite's walk, used before, panicked
//! on a slightly damaged one (`range start index out of range`), so this
//! walk checks every length against the bytes it has and, on damage, keeps
//! what it read before it and says where the damage is.

use object::LittleEndian as LE;
use object::pe;
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader, SectionTable};

use super::Problem;

/// Where a PE file's parts are, for the version resource and the
/// Authenticode digest.
pub(super) struct Layout<'a> {
    /// The whole file as read.
    pub data: &'a [u8],
    sections: SectionTable<'a>,
    /// File offset of the optional header's `CheckSum` field (4 bytes).
    pub checksum: usize,
    /// File offset of the certificate table's data directory entry (8
    /// bytes), when the header has one.
    pub security_entry: Option<usize>,
    /// `SizeOfHeaders`: the headers end here.
    pub headers_end: usize,
    /// The certificate table (file offset, size), when present.
    pub certificates: Option<(usize, usize)>,
    resources: Option<(u32, u32)>,
}

impl<'a> Layout<'a> {
    /// The layout of `data`, or `None` when it is not a PE image (a DOS
    /// program, a file that only starts with `MZ`).
    pub fn parse(data: &'a [u8]) -> Option<Layout<'a>> {
        match object::read::pe::optional_header_magic(data).ok()? {
            pe::IMAGE_NT_OPTIONAL_HDR32_MAGIC => Layout::parse_as::<pe::ImageNtHeaders32>(data),
            pe::IMAGE_NT_OPTIONAL_HDR64_MAGIC => Layout::parse_as::<pe::ImageNtHeaders64>(data),
            _ => None,
        }
    }

    fn parse_as<H: ImageNtHeaders>(data: &'a [u8]) -> Option<Layout<'a>> {
        let dos = pe::ImageDosHeader::parse(data).ok()?;
        let nt = usize::try_from(dos.nt_headers_offset()).ok()?;
        let mut offset = u64::from(dos.nt_headers_offset());
        let (headers, directories) = H::parse(data, &mut offset).ok()?;
        let sections = headers.sections(data, offset).ok()?;
        // Signature (4) + file header (20), then the optional header; the
        // data directories follow its fixed part.
        let optional = nt.checked_add(4 + 20)?;
        let checksum = optional.checked_add(64)?;
        let directories_at = optional.checked_add(std::mem::size_of::<H::ImageOptionalHeader>())?;
        let security_entry = (directories.len() > pe::IMAGE_DIRECTORY_ENTRY_SECURITY)
            .then(|| directories_at.checked_add(pe::IMAGE_DIRECTORY_ENTRY_SECURITY * 8))
            .flatten();
        let entry = |index: usize| {
            directories
                .get(index)
                .map(|d| (d.virtual_address.get(LE), d.size.get(LE)))
                .filter(|&(at, size)| at != 0 && size != 0)
        };
        let certificates = entry(pe::IMAGE_DIRECTORY_ENTRY_SECURITY)
            .and_then(|(at, size)| Some((usize::try_from(at).ok()?, usize::try_from(size).ok()?)));
        Some(Layout {
            data,
            sections,
            checksum,
            security_entry,
            headers_end: usize::try_from(headers.optional_header().size_of_headers()).ok()?,
            certificates,
            resources: entry(pe::IMAGE_DIRECTORY_ENTRY_RESOURCE),
        })
    }

    /// The file ranges of the sections' raw data, in file order.
    pub fn section_ranges(&self) -> Vec<(usize, usize)> {
        let mut ranges: Vec<(usize, usize)> = self
            .sections
            .iter()
            .filter_map(|s| {
                let at = usize::try_from(s.pointer_to_raw_data.get(LE)).ok()?;
                let size = usize::try_from(s.size_of_raw_data.get(LE)).ok()?;
                (size > 0).then_some((at, size))
            })
            .collect();
        ranges.sort_unstable();
        ranges
    }

    /// The bytes of the first version resource (type `RT_VERSION`, any
    /// name, any language), if the file has one.
    pub fn version_resource(&self) -> Result<Option<&'a [u8]>, Problem> {
        let Some((rva, size)) = self.resources else {
            return Ok(None);
        };
        let damaged = |what: &str| Problem::Resources(what.to_string());
        let section = self
            .sections
            .pe_data_at(self.data, rva)
            .ok_or_else(|| damaged("the resource directory is outside the file"))?;
        let section = section.get(..size as usize).unwrap_or(section);
        let directory = object::read::pe::ResourceDirectory::new(section);
        let root = directory
            .root()
            .map_err(|e| Problem::Resources(e.to_string()))?;
        let Some(by_type) = root.entries.iter().find(|e| {
            matches!(e.name_or_id(), object::read::pe::ResourceNameOrId::Id(id) if id == pe::RT_VERSION)
        }) else {
            return Ok(None);
        };
        // Type, then name, then language: the first entry at each level.
        let mut entry = by_type
            .data(directory)
            .map_err(|e| Problem::Resources(e.to_string()))?;
        for _ in 0..2 {
            let table = entry
                .table()
                .ok_or_else(|| damaged("a version resource entry is not a directory"))?;
            let Some(first) = table.entries.first() else {
                return Ok(None);
            };
            entry = first
                .data(directory)
                .map_err(|e| Problem::Resources(e.to_string()))?;
        }
        let data = entry
            .data()
            .ok_or_else(|| damaged("the version resource is a directory, not data"))?;
        let bytes = self
            .sections
            .pe_data_at(self.data, data.offset_to_data.get(LE))
            .ok_or_else(|| damaged("the version resource is outside the file"))?;
        Ok(Some(bytes.get(..data.size.get(LE) as usize).ok_or_else(
            || damaged("the version resource is cut short"),
        )?))
    }
}

/// The strings of a version resource that name a program.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct VersionStrings {
    /// Each string table: its language key (`040904b0`) and its
    /// `(name, value)` pairs, in file order.
    pub tables: Vec<(String, Vec<(String, String)>)>,
    /// The `Translation` list: the languages the program declares, in
    /// its order of preference, as string-table keys.
    pub translations: Vec<String>,
}

impl VersionStrings {
    /// The first non-empty value of `name`, in the declared languages
    /// first, then in every table by key.
    pub fn get(&self, name: &str) -> Option<String> {
        let mut keys: Vec<&str> = self.translations.iter().map(String::as_str).collect();
        let mut others: Vec<&str> = self.tables.iter().map(|(k, _)| k.as_str()).collect();
        others.sort_unstable();
        keys.extend(others);
        keys.iter().find_map(|key| {
            self.tables
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(key))
                .flat_map(|(_, strings)| strings)
                .find(|(n, v)| n == name && !v.is_empty())
                .map(|(_, v)| v.clone())
        })
    }
}

/// One node of a `VS_VERSIONINFO` tree: offsets into the resource bytes.
struct Node {
    /// Where the node starts.
    start: usize,
    /// Where the node ends (`start + wLength`).
    end: usize,
    key: String,
    /// Where the value starts (after the key and its padding).
    value: usize,
    /// `wValueLength` as written (bytes or words, depending on the node).
    value_length: usize,
}

/// The header of every node: `wLength`, `wValueLength`, `wType`.
const NODE_HEADER: usize = 6;

/// The next 4-byte boundary at or after `at` (offsets are relative to the
/// resource's start, which the resource directory aligns).
fn align4(at: usize) -> Option<usize> {
    at.checked_add(3).map(|a| a & !3)
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

/// A NUL-terminated UTF-16 string starting at `at`, ending before `end`:
/// the text and the offset after its terminator.
fn utf16z(bytes: &[u8], at: usize, end: usize) -> Option<(String, usize)> {
    let region = bytes.get(at..end)?;
    let units: Vec<u16> = region
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    let after = at.checked_add(units.len().checked_mul(2)?.checked_add(2)?)?;
    (after <= end).then(|| (String::from_utf16_lossy(&units), after))
}

/// Reads the node at `start`, which must end by `limit`.
fn node(bytes: &[u8], start: usize, limit: usize) -> Result<Node, &'static str> {
    let length = u16_at(bytes, start).ok_or("a node header is cut short")? as usize;
    let value_length = u16_at(bytes, start + 2).ok_or("a node header is cut short")? as usize;
    if length < NODE_HEADER + 2 {
        return Err("a node is shorter than its header");
    }
    let end = start + length;
    if end > limit {
        return Err("a node is longer than the block that holds it");
    }
    let (key, after_key) =
        utf16z(bytes, start + NODE_HEADER, end).ok_or("a node's name has no terminator")?;
    let value = align4(after_key).ok_or("a node is misplaced")?;
    // The value must fit in the node: the length cut short is the damage
    // that made pelite panic. (Strings count it in characters, others in
    // bytes; bytes is the smaller reading, so this holds for both.)
    if value_length > 0 && value.saturating_add(value_length) > end {
        return Err("a node's value is longer than the node");
    }
    let value = value.min(end);
    Ok(Node {
        start,
        end,
        key,
        value,
        value_length,
    })
}

/// The children of `parent`, from `first` (its first child's offset) to
/// its end. A damaged child ends the list; what came before it is kept.
fn children(
    bytes: &[u8],
    first: usize,
    parent_end: usize,
) -> (Vec<Node>, Option<(usize, &'static str)>) {
    let mut out = Vec::new();
    let mut at = first;
    while let Some(next) = align4(at) {
        if next + NODE_HEADER > parent_end {
            break;
        }
        // Zero padding after the last child is common and harmless.
        let rest = bytes.get(next..parent_end).unwrap_or_default();
        if rest.iter().all(|&b| b == 0) {
            break;
        }
        match node(bytes, next, parent_end) {
            Ok(n) => {
                at = n.end;
                out.push(n);
            }
            Err(what) => return (out, Some((next, what))),
        }
    }
    (out, None)
}

/// Walks a `VS_VERSIONINFO` resource. Returns the strings it could read
/// and, when part of it is damaged, where and how (what follows the
/// damage in the same block is lost; other blocks are still read).
pub(super) fn version_strings(bytes: &[u8]) -> (VersionStrings, Option<Problem>) {
    let mut out = VersionStrings::default();
    let mut damage: Option<(usize, &'static str)> = None;
    let mut note = |d: Option<(usize, &'static str)>| {
        if damage.is_none() {
            damage = d;
        }
    };
    let root = match node(bytes, 0, bytes.len()) {
        Ok(n) if n.key == "VS_VERSION_INFO" => Some(n),
        Ok(_) => {
            note(Some((0, "the root is not VS_VERSION_INFO")));
            None
        }
        Err(what) => {
            note(Some((0, what)));
            None
        }
    };
    if let Some(root) = root {
        // The fixed file info (its length in bytes), then the blocks.
        let first = root.value.saturating_add(root.value_length);
        if first > root.end {
            note(Some((
                root.start,
                "the fixed file info is longer than the resource",
            )));
        }
        let (blocks, p) = children(bytes, first.min(root.end), root.end);
        note(p);
        for block in &blocks {
            // StringFileInfo and VarFileInfo have no value of their own.
            let (nodes, p) = children(bytes, block.value, block.end);
            note(p);
            match block.key.as_str() {
                "StringFileInfo" => {
                    for table in nodes {
                        let (strings, p) = children(bytes, table.value, table.end);
                        note(p);
                        let pairs = strings
                            .iter()
                            .map(|s| (s.key.clone(), string_value(bytes, s)))
                            .collect();
                        out.tables.push((table.key, pairs));
                    }
                }
                "VarFileInfo" => {
                    for var in nodes.iter().filter(|v| v.key == "Translation") {
                        let end = var.value.saturating_add(var.value_length).min(var.end);
                        let list = bytes.get(var.value..end).unwrap_or_default();
                        out.translations.extend(list.chunks_exact(4).map(|c| {
                            format!(
                                "{:04x}{:04x}",
                                u16::from_le_bytes([c[0], c[1]]),
                                u16::from_le_bytes([c[2], c[3]])
                            )
                        }));
                    }
                }
                _ => {}
            }
        }
    }
    let problem = damage.map(|(offset, what)| Problem::VersionResource { offset, what });
    (out, problem)
}

/// A string's value: the text after its name, up to the first NUL or the
/// node's end. `wValueLength` is ignored: compilers disagree on whether it
/// counts bytes or characters, and the node's own length bounds the text.
fn string_value(bytes: &[u8], s: &Node) -> String {
    utf16z(bytes, s.value, s.end)
        .map(|(text, _)| text)
        .or_else(|| {
            // No terminator: the text runs to the node's end.
            let region = bytes.get(s.value..s.end)?;
            let units: Vec<u16> = region
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            Some(String::from_utf16_lossy(&units))
        })
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The names a PE file's version resource gives, and the damage that
/// hid any of them.
pub(super) fn version_evidence(layout: &Layout<'_>) -> (Option<VersionStrings>, Vec<Problem>) {
    match layout.version_resource() {
        Ok(Some(bytes)) => {
            let (strings, problem) = version_strings(bytes);
            (Some(strings), problem.into_iter().collect())
        }
        Ok(None) => (None, Vec::new()),
        Err(p) => (None, vec![p]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One node: header, NUL-terminated key, padding, value, children.
    fn node(key: &str, value: &[u8], value_length: u16, children: &[Vec<u8>]) -> Vec<u8> {
        let mut b = vec![0, 0];
        b.extend(value_length.to_le_bytes());
        b.extend(1u16.to_le_bytes());
        for u in key.encode_utf16().chain([0]) {
            b.extend(u.to_le_bytes());
        }
        while b.len() % 4 != 0 {
            b.push(0);
        }
        b.extend(value);
        for c in children {
            while b.len() % 4 != 0 {
                b.push(0);
            }
            b.extend(c);
        }
        let len = b.len() as u16;
        b[..2].copy_from_slice(&len.to_le_bytes());
        b
    }

    fn text(s: &str) -> Vec<u8> {
        s.encode_utf16()
            .chain([0])
            .flat_map(u16::to_le_bytes)
            .collect()
    }

    fn string(key: &str, value: &str) -> Vec<u8> {
        let v = text(value);
        node(key, &v, (v.len() / 2) as u16, &[])
    }

    fn resource(strings: &[Vec<u8>]) -> Vec<u8> {
        let table = node("040904b0", &[], 0, strings);
        let sfi = node("StringFileInfo", &[], 0, &[table]);
        let translation = node("Translation", &[0x09, 0x04, 0xb0, 0x04], 4, &[]);
        let vfi = node("VarFileInfo", &[], 0, &[translation]);
        node("VS_VERSION_INFO", &[0u8; 52], 52, &[sfi, vfi])
    }

    #[test]
    fn reads_the_strings_of_a_well_formed_resource() {
        let r = resource(&[
            string("CompanyName", "Vendor"),
            string("OriginalFilename", "AnyDesk.exe"),
        ]);
        let (v, problem) = version_strings(&r);
        assert_eq!(problem, None);
        assert_eq!(v.translations, ["040904b0"]);
        assert_eq!(v.get("OriginalFilename").as_deref(), Some("AnyDesk.exe"));
        assert_eq!(v.get("CompanyName").as_deref(), Some("Vendor"));
        assert_eq!(v.get("ProductName"), None);
    }

    /// The damage that made pelite 0.10 panic (`range start index 16 out
    /// of range for slice of length 15`): a string whose length ends
    /// right after its odd-length name.
    #[test]
    fn a_string_cut_after_its_name_is_damage_not_a_panic() {
        let mut company = string("CompanyName", "Vendor");
        company[..2].copy_from_slice(&30u16.to_le_bytes());
        let r = resource(&[string("OriginalFilename", "AnyDesk.exe"), company]);
        let (v, problem) = version_strings(&r);
        // What came before the damage is kept; the damage is named.
        assert_eq!(v.get("OriginalFilename").as_deref(), Some("AnyDesk.exe"));
        assert!(
            matches!(problem, Some(Problem::VersionResource { .. })),
            "{problem:?}"
        );
    }

    /// Damage before the name: the walk does not guess past it (reading
    /// the damaged string's text as the next node), it says so.
    #[test]
    fn damage_before_the_name_is_reported_not_skipped_over() {
        let mut company = string("CompanyName", "Test Vendor");
        company[..2].copy_from_slice(&30u16.to_le_bytes());
        let r = resource(&[company, string("OriginalFilename", "AnyDesk.exe")]);
        let (v, problem) = version_strings(&r);
        assert_eq!(v.get("OriginalFilename"), None);
        assert!(problem.is_some());
    }

    #[test]
    fn every_truncation_and_length_is_an_answer() {
        let r = resource(&[
            string("CompanyName", "Vendor"),
            string("OriginalFilename", "AnyDesk.exe"),
        ]);
        for cut in 0..r.len() {
            let _ = version_strings(&r[..cut]);
        }
        for at in (0..r.len()).step_by(2) {
            for value in [0u16, 1, 5, 6, 7, 8, 29, 30, 31, 0x7fff, 0xffff] {
                let mut d = r.clone();
                d[at..at + 2].copy_from_slice(&value.to_le_bytes());
                let _ = version_strings(&d);
            }
        }
    }
}
