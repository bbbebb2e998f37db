//! Object metadata as stored in commit records and in the index.

use serde::{Deserialize, Serialize};

/// Where one record lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecordLoc {
    pub drive: u16,
    pub segment: u32,
    /// Byte offset in the segment, 4 KiB aligned.
    pub offset: u64,
    /// Record length on disk, padding included.
    pub len: u32,
}

/// Where an object's bytes are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DataLoc {
    /// Small object: the bytes follow the metadata inside every copy of the
    /// commit record.
    Inline,
    /// Per stripe, per shard index: the shard record, or `None` when its drive
    /// was offline at write time (to be healed).
    Stripes(Stripes),
    /// A completed multipart upload: its parts' own stripes, in order, never
    /// copied. Their shard records carry the upload id as their version.
    Parts { upload: u128, parts: Vec<PartData> },
}

/// Per stripe, per shard index: where the shard record is.
pub type Stripes = Vec<Vec<Option<RecordLoc>>>;

/// One part of a multipart upload (in progress or completed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartData {
    pub number: u32,
    pub size: u64,
    /// Hex MD5 of the part (no quotes).
    pub etag: String,
    /// The part's `x-amz-checksum-*` values: (header name, base64).
    pub checksums: Vec<(String, String)>,
    pub modified_ms: u64,
    /// First drive of the part's shard rotation.
    pub rotation: u16,
    pub stripes: Stripes,
}

impl DataLoc {
    /// Every shard record, of every stripe (of every part).
    pub fn shard_records(&self) -> Box<dyn Iterator<Item = RecordLoc> + '_> {
        match self {
            DataLoc::Inline => Box::new(std::iter::empty()),
            DataLoc::Stripes(s) => Box::new(s.iter().flatten().flatten().copied()),
            DataLoc::Parts { parts, .. } => Box::new(
                parts
                    .iter()
                    .flat_map(|p| p.stripes.iter().flatten().flatten().copied()),
            ),
        }
    }

    /// Replaces each moved shard record by its copy (None drops it).
    pub fn relocate(&mut self, moves: &[(RecordLoc, Option<RecordLoc>)]) {
        match self {
            DataLoc::Inline => {}
            DataLoc::Stripes(s) => relocate_stripes(s, moves),
            DataLoc::Parts { parts, .. } => {
                for p in parts {
                    relocate_stripes(&mut p.stripes, moves);
                }
            }
        }
    }
}

fn relocate_stripes(stripes: &mut Stripes, moves: &[(RecordLoc, Option<RecordLoc>)]) {
    for slot in stripes.iter_mut().flatten() {
        if let Some(l) = *slot {
            if let Some((_, to)) = moves.iter().find(|(f, _)| *f == l) {
                *slot = *to;
            }
        }
    }
}

/// Replaces each moved record in a list by its copy (None drops it).
pub fn relocate_list(locs: &mut Vec<RecordLoc>, moves: &[(RecordLoc, Option<RecordLoc>)]) {
    for (from, to) in moves {
        if let Some(pos) = locs.iter().position(|l| l == from) {
            match to {
                Some(t) => locs[pos] = *t,
                None => {
                    locs.remove(pos);
                }
            }
        }
    }
}

/// One version of an object: what a commit record carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub version: u128,
    pub seq: u64,
    pub size: u64,
    /// Hex MD5 of the content (no quotes).
    pub etag: String,
    pub modified_ms: u64,
    /// S3's `null` version: written while the bucket's versioning was off or
    /// suspended. A newer null version replaces it.
    pub null: bool,
    /// A delete marker: no data; while it is the latest version, the key
    /// reads as absent.
    pub delete_marker: bool,
    pub content_type: Option<String>,
    /// Stored system headers (content-encoding, cache-control, ...), lowercase names.
    pub headers: Vec<(String, String)>,
    /// `x-amz-meta-*` pairs, names lowercase without the prefix.
    pub user_meta: Vec<(String, String)>,
    pub layout: (u8, u8),
    /// First drive of the object's shard rotation.
    pub rotation: u16,
    pub data: DataLoc,
    /// The version's tag set (changed in place by a newer commit record of
    /// the same version).
    pub tags: Vec<(String, String)>,
}

/// A change to one version's metadata, written as a newer commit record of
/// the same version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetaEdit {
    /// Replace the tag set.
    Tags(Vec<(String, String)>),
    /// Set (Some) or remove (None) the stored header `name`.
    Header { name: String, value: Option<String> },
}

impl MetaEdit {
    pub fn apply(self, meta: &mut ObjectMeta) {
        match self {
            MetaEdit::Tags(tags) => meta.tags = tags,
            MetaEdit::Header { name, value } => {
                meta.headers.retain(|(n, _)| *n != name);
                if let Some(v) = value {
                    meta.headers.push((name, v));
                }
            }
        }
    }
}

/// Which version of a key a request names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VersionSel {
    /// The `null` version.
    Null,
    Id(u128),
}

impl ObjectMeta {
    pub fn is(&self, sel: VersionSel) -> bool {
        match sel {
            VersionSel::Null => self.null,
            VersionSel::Id(v) => !self.null && self.version == v,
        }
    }

    /// How a request names this version.
    pub fn sel(&self) -> VersionSel {
        if self.null {
            VersionSel::Null
        } else {
            VersionSel::Id(self.version)
        }
    }
}

/// What the index keeps per key: the metadata and where its commit record
/// copies are (for inline objects, the data).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    pub meta: ObjectMeta,
    pub commits: Vec<RecordLoc>,
}

impl IndexEntry {
    /// Every record this version keeps alive, with its length.
    pub fn records(&self) -> impl Iterator<Item = RecordLoc> + '_ {
        self.commits
            .iter()
            .copied()
            .chain(self.meta.data.shard_records())
    }

    pub fn relocate(&mut self, moves: &[(RecordLoc, Option<RecordLoc>)]) {
        relocate_list(&mut self.commits, moves);
        self.meta.data.relocate(moves);
    }
}

/// A multipart upload in progress: what its upload record carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadMeta {
    /// The upload id; time-ordered, so it also says when it began.
    pub upload: u128,
    pub created_ms: u64,
    pub content_type: Option<String>,
    pub headers: Vec<(String, String)>,
    pub user_meta: Vec<(String, String)>,
    pub layout: (u8, u8),
    pub rotation: u16,
    /// The completed object's tag set.
    pub tags: Vec<(String, String)>,
    /// The checksum the object will carry, when the upload declared one.
    pub checksum: Option<UploadChecksum>,
}

/// An upload's declared checksum: its S3 algorithm name (`CRC32`, ...) and
/// whether the object's value will cover the whole object (FULL_OBJECT) or
/// be a checksum of the parts' checksums (COMPOSITE).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadChecksum {
    pub algorithm: String,
    pub full_object: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadEntry {
    pub meta: UploadMeta,
    pub commits: Vec<RecordLoc>,
}

/// What a part commit record carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartMeta {
    pub upload: u128,
    /// Orders re-uploads of one part number.
    pub seq: u64,
    pub layout: (u8, u8),
    pub part: PartData,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartEntry {
    pub meta: PartMeta,
    pub commits: Vec<RecordLoc>,
}

impl PartEntry {
    pub fn records(&self) -> impl Iterator<Item = RecordLoc> + '_ {
        self.commits
            .iter()
            .copied()
            .chain(self.meta.part.stripes.iter().flatten().flatten().copied())
    }

    pub fn relocate(&mut self, moves: &[(RecordLoc, Option<RecordLoc>)]) {
        relocate_list(&mut self.commits, moves);
        relocate_stripes(&mut self.meta.part.stripes, moves);
    }
}

/// Encodes a commit record payload: u32 metadata length, metadata, inline data.
pub fn encode_commit_payload(meta: &ObjectMeta, inline: &[u8]) -> Vec<u8> {
    let m = postcard::to_allocvec(meta).expect("metadata serialises");
    let mut out = Vec::with_capacity(4 + m.len() + inline.len());
    out.extend_from_slice(&(m.len() as u32).to_le_bytes());
    out.extend_from_slice(&m);
    out.extend_from_slice(inline);
    out
}

/// Splits a commit payload into metadata and inline data.
pub fn decode_commit_payload(p: &[u8]) -> Option<(ObjectMeta, &[u8])> {
    let len = u32::from_le_bytes(p.get(0..4)?.try_into().ok()?) as usize;
    let m = p.get(4..4 + len)?;
    let meta = postcard::from_bytes(m).ok()?;
    Some((meta, &p[4 + len..]))
}

pub fn encode_entry(e: &IndexEntry) -> Vec<u8> {
    postcard::to_allocvec(e).expect("index entry serialises")
}

pub fn decode_entry(b: &[u8]) -> Option<IndexEntry> {
    postcard::from_bytes(b).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(data: DataLoc) -> ObjectMeta {
        ObjectMeta {
            version: 7,
            seq: 9,
            size: 3,
            etag: "acbd18db4cc2f85cedef654fccc4a4d8".into(),
            modified_ms: 1,
            null: true,
            delete_marker: false,
            content_type: Some("text/plain".into()),
            headers: vec![("cache-control".into(), "no-cache".into())],
            user_meta: vec![("a".into(), "b".into())],
            layout: (4, 2),
            rotation: 3,
            data,
            tags: vec![("t".into(), "1".into())],
        }
    }

    #[test]
    fn commit_payload_round_trip() {
        let m = meta(DataLoc::Inline);
        let p = encode_commit_payload(&m, b"foo");
        let (m2, data) = decode_commit_payload(&p).unwrap();
        assert_eq!(m2, m);
        assert_eq!(data, b"foo");
        assert!(decode_commit_payload(&p[..3]).is_none());
        assert!(decode_commit_payload(&[255, 255, 255, 255, 0]).is_none());
    }

    #[test]
    fn records_lists_commits_and_shards() {
        let loc = |o| RecordLoc {
            drive: 0,
            segment: 1,
            offset: o,
            len: 4096,
        };
        let e = IndexEntry {
            meta: meta(DataLoc::Stripes(vec![vec![
                Some(loc(0)),
                None,
                Some(loc(4096)),
            ]])),
            commits: vec![loc(8192)],
        };
        assert_eq!(e.records().count(), 3);
        assert_eq!(decode_entry(&encode_entry(&e)).unwrap(), e);
    }
}
