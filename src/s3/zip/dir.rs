//! The directory of a zip archive: the end record and the central
//! directory, parsed from bytes the caller read (no I/O), and a member's
//! local header. Enough of APPNOTE.TXT (sections 4.3.6 to 4.3.16) to find
//! a member's data, its method and its sizes; zip64 archives are refused.

use std::collections::HashMap;

/// `PK\x05\x06`: end of central directory record.
const END_SIG: u32 = 0x0605_4b50;
/// `PK\x06\x07`: zip64 end of central directory locator.
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
/// `PK\x01\x02`: central directory file header.
const CENTRAL_SIG: u32 = 0x0201_4b50;
/// `PK\x03\x04`: local file header.
const LOCAL_SIG: u32 = 0x0403_4b50;
const END_LEN: usize = 22;
const ZIP64_LOCATOR_LEN: usize = 20;
const CENTRAL_LEN: usize = 46;
pub const LOCAL_LEN: usize = 30;

/// The end record is within this many bytes of the archive's end: its own
/// 22 and a comment of at most 65,535.
pub const END_SEARCH: u64 = (END_LEN + u16::MAX as usize) as u64;
/// Most central directory bytes read (MinIO reads at most 100 MiB; 64 MiB
/// holds about 1.4 million members).
pub const MAX_DIRECTORY: u64 = 64 << 20;

/// Compression methods served.
pub const STORED: u16 = 0;
pub const DEFLATED: u16 = 8;

/// Why an archive (or one member) cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZipError {
    /// Not a zip, or its records contradict each other.
    Corrupt(&'static str),
    /// A valid zip using something cairn does not read.
    Unsupported(&'static str),
}

impl std::fmt::Display for ZipError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ZipError::Corrupt(why) => write!(f, "corrupt zip: {why}"),
            ZipError::Unsupported(why) => write!(f, "unsupported zip: {why}"),
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Where the central directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndRecord {
    pub dir_offset: u64,
    pub dir_size: u64,
    pub entries: u64,
}

/// Finds the end record in `tail`, the last bytes of an archive of `total`
/// bytes (at least [`END_SEARCH`] of them, or the whole archive).
pub fn find_end(tail: &[u8], total: u64) -> Result<EndRecord, ZipError> {
    if tail.len() < END_LEN {
        return Err(ZipError::Corrupt("shorter than an end record"));
    }
    let tail_start = total
        .checked_sub(tail.len() as u64)
        .ok_or(ZipError::Corrupt("more tail than archive"))?;
    // A comment may itself hold the signature's bytes: the record is the
    // one whose comment ends the archive exactly, else (as Go's reader
    // accepts trailing bytes) the last whose comment fits.
    let fits = |i: usize| {
        (u32_at(tail, i) == END_SIG)
            .then(|| i + END_LEN + usize::from(u16_at(tail, i + 20)))
            .filter(|&end| end <= tail.len())
    };
    let candidates = || (0..=tail.len() - END_LEN).rev();
    let at = candidates()
        .find(|&i| fits(i) == Some(tail.len()))
        .or_else(|| candidates().find(|&i| fits(i).is_some()))
        .ok_or(ZipError::Corrupt("no end of central directory record"))?;
    let e = &tail[at..at + END_LEN];
    let (disk, dir_disk) = (u16_at(e, 4), u16_at(e, 6));
    let (on_disk, entries) = (u16_at(e, 8), u16_at(e, 10));
    let (dir_size, dir_offset) = (u32_at(e, 12), u32_at(e, 16));
    let zip64_locator =
        at >= ZIP64_LOCATOR_LEN && u32_at(tail, at - ZIP64_LOCATOR_LEN) == ZIP64_LOCATOR_SIG;
    if zip64_locator || entries == u16::MAX || dir_size == u32::MAX || dir_offset == u32::MAX {
        return Err(ZipError::Unsupported("zip64"));
    }
    if disk != 0 || dir_disk != 0 || on_disk != entries {
        return Err(ZipError::Unsupported("a multi-disk archive"));
    }
    let end_at = tail_start + at as u64;
    let (dir_offset, dir_size) = (u64::from(dir_offset), u64::from(dir_size));
    if dir_offset + dir_size > end_at {
        return Err(ZipError::Corrupt(
            "the central directory overlaps its end record",
        ));
    }
    if dir_size > MAX_DIRECTORY {
        return Err(ZipError::Unsupported("a central directory over 64 MiB"));
    }
    Ok(EndRecord {
        dir_offset,
        dir_size,
        entries: u64::from(entries),
    })
}

/// One member, as the central directory describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub method: u16,
    pub flags: u16,
    pub crc32: u32,
    pub compressed: u64,
    pub size: u64,
    /// Offset of its local header in the archive.
    pub header_offset: u64,
}

impl Member {
    /// Whether cairn can serve this member's bytes.
    pub fn check_supported(&self) -> Result<(), ZipError> {
        if self.flags & 0x0001 != 0 {
            return Err(ZipError::Unsupported("an encrypted member"));
        }
        if self.method != STORED && self.method != DEFLATED {
            return Err(ZipError::Unsupported(
                "a compression method other than stored or deflate",
            ));
        }
        if self.method == STORED && self.compressed != self.size {
            return Err(ZipError::Corrupt("a stored member whose sizes differ"));
        }
        Ok(())
    }
}

/// The members of an archive by name.
#[derive(Debug, Default)]
pub struct Directory {
    members: HashMap<Box<str>, Member>,
    /// Bytes held, for the cache's bound.
    bytes: usize,
}

impl Directory {
    pub fn get(&self, name: &str) -> Option<&Member> {
        self.members.get(name)
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// About how much memory the directory holds.
    pub fn weight(&self) -> usize {
        self.bytes
    }
}

/// Parses the central directory `dir` (the `end.dir_size` bytes at
/// `end.dir_offset`). A member whose name is not UTF-8 cannot be named by
/// a key and is left out; of two members with one name the first is kept.
pub fn parse_directory(dir: &[u8], end: &EndRecord) -> Result<Directory, ZipError> {
    if dir.len() as u64 != end.dir_size {
        return Err(ZipError::Corrupt("central directory of the wrong size"));
    }
    let mut out = Directory::default();
    let mut at = 0usize;
    for _ in 0..end.entries {
        let h = dir
            .get(at..at + CENTRAL_LEN)
            .ok_or(ZipError::Corrupt("the central directory ends early"))?;
        if u32_at(h, 0) != CENTRAL_SIG {
            return Err(ZipError::Corrupt("a bad central directory signature"));
        }
        let flags = u16_at(h, 8);
        let method = u16_at(h, 10);
        let crc32 = u32_at(h, 16);
        let (compressed, size) = (u32_at(h, 20), u32_at(h, 24));
        let (name_len, extra_len, comment_len) = (u16_at(h, 28), u16_at(h, 30), u16_at(h, 32));
        let header_offset = u32_at(h, 42);
        if compressed == u32::MAX || size == u32::MAX || header_offset == u32::MAX {
            return Err(ZipError::Unsupported("zip64"));
        }
        let name_at = at + CENTRAL_LEN;
        let next =
            name_at + usize::from(name_len) + usize::from(extra_len) + usize::from(comment_len);
        let name = dir
            .get(name_at..name_at + usize::from(name_len))
            .filter(|_| next <= dir.len())
            .ok_or(ZipError::Corrupt(
                "a central directory entry runs past its end",
            ))?;
        let member = Member {
            method,
            flags,
            crc32,
            compressed: u64::from(compressed),
            size: u64::from(size),
            header_offset: u64::from(header_offset),
        };
        if member.header_offset + LOCAL_LEN as u64 + member.compressed > end.dir_offset {
            return Err(ZipError::Corrupt(
                "a member's data runs into the central directory",
            ));
        }
        if let Ok(name) = std::str::from_utf8(name) {
            if !out.members.contains_key(name) {
                out.bytes += name.len() + std::mem::size_of::<Member>() + 32;
                out.members.insert(name.into(), member);
            }
        }
        at = next;
    }
    Ok(out)
}

/// The length of the local header at the start of `b` (at least
/// [`LOCAL_LEN`] bytes): where the member's data begins.
pub fn local_header_len(b: &[u8]) -> Result<u64, ZipError> {
    let h = b
        .get(..LOCAL_LEN)
        .ok_or(ZipError::Corrupt("a local header is cut short"))?;
    if u32_at(h, 0) != LOCAL_SIG {
        return Err(ZipError::Corrupt("a bad local header signature"));
    }
    Ok(LOCAL_LEN as u64 + u64::from(u16_at(h, 26)) + u64::from(u16_at(h, 28)))
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// One member for [`build`]: name, bytes as stored, method, CRC and
    /// size of the data once extracted.
    pub struct Raw<'a> {
        pub name: &'a [u8],
        pub data: &'a [u8],
        pub method: u16,
        pub crc32: u32,
        pub size: u32,
    }

    /// A zip written as Go's `archive/zip` writes it: local header, data,
    /// then the central directory and its end record (with `comment`).
    pub fn build(members: &[Raw<'_>], comment: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for m in members {
            let offset = out.len() as u32;
            let extra = [0x55u8, 0x54, 5, 0, 1, 0, 0, 0, 0];
            out.extend_from_slice(&LOCAL_SIG.to_le_bytes());
            out.extend_from_slice(&[20, 0, 0, 0]);
            out.extend_from_slice(&m.method.to_le_bytes());
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(&m.crc32.to_le_bytes());
            out.extend_from_slice(&(m.data.len() as u32).to_le_bytes());
            out.extend_from_slice(&m.size.to_le_bytes());
            out.extend_from_slice(&(m.name.len() as u16).to_le_bytes());
            out.extend_from_slice(&(extra.len() as u16).to_le_bytes());
            out.extend_from_slice(m.name);
            out.extend_from_slice(&extra);
            out.extend_from_slice(m.data);

            central.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
            central.extend_from_slice(&[20, 3, 20, 0, 0, 0]);
            central.extend_from_slice(&m.method.to_le_bytes());
            central.extend_from_slice(&[0; 4]);
            central.extend_from_slice(&m.crc32.to_le_bytes());
            central.extend_from_slice(&(m.data.len() as u32).to_le_bytes());
            central.extend_from_slice(&m.size.to_le_bytes());
            central.extend_from_slice(&(m.name.len() as u16).to_le_bytes());
            central.extend_from_slice(&(extra.len() as u16).to_le_bytes());
            // Comment length, disk, internal and external attributes.
            central.extend_from_slice(&[0; 10]);
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(m.name);
            central.extend_from_slice(&extra);
        }
        let dir_offset = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&END_SIG.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        let n = (members.len() as u16).to_le_bytes();
        out.extend_from_slice(&n);
        out.extend_from_slice(&n);
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&dir_offset.to_le_bytes());
        out.extend_from_slice(&(comment.len() as u16).to_le_bytes());
        out.extend_from_slice(comment);
        out
    }

    fn stored<'a>(name: &'a str, data: &'a [u8]) -> Raw<'a> {
        Raw {
            name: name.as_bytes(),
            data,
            method: STORED,
            crc32: crc32fast::hash(data),
            size: data.len() as u32,
        }
    }

    fn open(zip: &[u8]) -> Result<Directory, ZipError> {
        let from = zip.len().saturating_sub(END_SEARCH as usize);
        let end = find_end(&zip[from..], zip.len() as u64)?;
        let (a, b) = (
            end.dir_offset as usize,
            (end.dir_offset + end.dir_size) as usize,
        );
        parse_directory(&zip[a..b], &end)
    }

    #[test]
    fn members_are_found_by_name_with_their_data_offsets() {
        let zip = build(
            &[
                stored("a.txt", b"hello"),
                stored("dir/b.bin", &[7u8; 1000]),
                stored("empty", b""),
            ],
            b"",
        );
        let d = open(&zip).unwrap();
        assert_eq!(d.len(), 3);
        let b = d.get("dir/b.bin").unwrap();
        assert_eq!((b.size, b.compressed, b.method), (1000, 1000, STORED));
        let at = b.header_offset as usize;
        let data = at + local_header_len(&zip[at..]).unwrap() as usize;
        assert_eq!(&zip[data..data + 1000], &[7u8; 1000][..]);
        assert!(d.get("dir/").is_none() && d.get("missing").is_none());
        assert_eq!(d.get("empty").unwrap().size, 0);
    }

    #[test]
    fn a_comment_holding_the_end_signature_does_not_mislead() {
        let mut comment = END_SIG.to_le_bytes().to_vec();
        comment.extend_from_slice(&[0; 30]);
        let zip = build(&[stored("x", b"1")], &comment);
        assert_eq!(open(&zip).unwrap().get("x").unwrap().size, 1);
    }

    #[test]
    fn an_empty_archive_has_no_members() {
        let zip = build(&[], b"");
        assert_eq!(zip.len(), END_LEN);
        assert!(open(&zip).unwrap().is_empty());
    }

    #[test]
    fn corrupt_archives_are_refused_not_misread() {
        let good = build(&[stored("a", b"abc"), stored("b", b"defg")], b"");
        // Not a zip at all.
        assert_eq!(
            open(b"just some bytes that are long enough").unwrap_err(),
            ZipError::Corrupt("no end of central directory record")
        );
        assert!(open(b"PK").is_err());
        // Truncated: the end record is gone.
        assert!(matches!(
            open(&good[..good.len() - 5]),
            Err(ZipError::Corrupt(_))
        ));
        // A central directory entry's signature damaged.
        let end = find_end(&good, good.len() as u64).unwrap();
        let mut bad = good.clone();
        bad[end.dir_offset as usize] ^= 0xff;
        assert_eq!(
            open(&bad).unwrap_err(),
            ZipError::Corrupt("a bad central directory signature")
        );
        // The directory claims more entries than it holds.
        let mut more = good.clone();
        let e = more.len() - END_LEN;
        more[e + 8] = 3;
        more[e + 10] = 3;
        assert_eq!(
            open(&more).unwrap_err(),
            ZipError::Corrupt("the central directory ends early")
        );
        // The directory's offset points past the end record.
        let mut far = good.clone();
        far[e + 16] = 0xf0;
        assert!(matches!(open(&far), Err(ZipError::Corrupt(_))));
        // A member's offset points into the directory.
        let mut off = good.clone();
        // After the first entry: its header, 1-byte name, 9-byte extra.
        let second = end.dir_offset as usize + CENTRAL_LEN + 1 + 9;
        off[second + 42] = 0x70;
        assert_eq!(
            open(&off).unwrap_err(),
            ZipError::Corrupt("a member's data runs into the central directory")
        );
        // A local header that is not one.
        assert!(local_header_len(&good[1..]).is_err());
        assert!(local_header_len(&good[..10]).is_err());
    }

    #[test]
    fn zip64_multi_disk_encrypted_and_unknown_methods_are_unsupported() {
        let good = build(&[stored("a", b"abc")], b"");
        let e = good.len() - END_LEN;
        let mut z64 = good.clone();
        z64[e + 16..e + 20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(open(&z64).unwrap_err(), ZipError::Unsupported("zip64"));
        let mut disks = good.clone();
        disks[e + 4] = 1;
        assert!(matches!(open(&disks), Err(ZipError::Unsupported(_))));
        let mut locator = good[..e].to_vec();
        locator.extend_from_slice(&ZIP64_LOCATOR_SIG.to_le_bytes());
        locator.extend_from_slice(&[0; 16]);
        locator.extend_from_slice(&good[e..]);
        assert_eq!(open(&locator).unwrap_err(), ZipError::Unsupported("zip64"));

        let d = open(&good).unwrap();
        let mut m = d.get("a").unwrap().clone();
        assert_eq!(m.check_supported(), Ok(()));
        m.flags |= 1;
        assert_eq!(
            m.check_supported(),
            Err(ZipError::Unsupported("an encrypted member"))
        );
        m.flags = 0;
        m.method = 12;
        assert!(matches!(m.check_supported(), Err(ZipError::Unsupported(_))));
        m.method = STORED;
        m.size += 1;
        assert!(matches!(m.check_supported(), Err(ZipError::Corrupt(_))));
    }

    #[test]
    fn names_that_are_not_utf8_are_left_out_and_the_first_of_two_is_kept() {
        let zip = build(
            &[
                stored("same", b"first"),
                stored("same", b"second!"),
                Raw {
                    name: b"\xff",
                    data: b"",
                    method: STORED,
                    crc32: 0,
                    size: 0,
                },
            ],
            b"",
        );
        let d = open(&zip).unwrap();
        assert_eq!(d.get("same").unwrap().size, 5);
        assert_eq!(d.len(), 1);
        assert!(d.weight() > 0);
    }
}
