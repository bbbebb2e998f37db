//! Object metadata as stored in commit records and in the index.

use serde::{Deserialize, Serialize};

use crate::sse::header::SseHeader;
use crate::sse::SseError;

use super::record::FORMAT_VERSION;

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
    /// A deduplicated object (see `dedup.rs`): per data stripe, the id of
    /// the content holding its bytes. No shard record is the version's own.
    Content { ids: Vec<ContentId> },
}

/// A stripe's content id: its keyed BLAKE3 hash.
pub type ContentId = [u8; 32];

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
            DataLoc::Inline | DataLoc::Content { .. } => Box::new(std::iter::empty()),
            DataLoc::Stripes(s) => Box::new(s.iter().flatten().flatten().copied()),
            DataLoc::Parts { parts, .. } => Box::new(
                parts
                    .iter()
                    .flat_map(|p| p.stripes.iter().flatten().flatten().copied()),
            ),
        }
    }

    /// Every shard slot, of every stripe (of every part); `None` where a
    /// shard was not written (its drive was away).
    pub fn shard_slots(&self) -> Box<dyn Iterator<Item = &Option<RecordLoc>> + '_> {
        match self {
            DataLoc::Inline | DataLoc::Content { .. } => Box::new(std::iter::empty()),
            DataLoc::Stripes(s) => Box::new(s.iter().flatten()),
            DataLoc::Parts { parts, .. } => {
                Box::new(parts.iter().flat_map(|p| p.stripes.iter().flatten()))
            }
        }
    }

    /// Replaces each moved shard record by its copy (None drops it).
    pub fn relocate(&mut self, moves: &[(RecordLoc, Option<RecordLoc>)]) {
        match self {
            DataLoc::Inline | DataLoc::Content { .. } => {}
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
    /// Attributes added since record format 1 (see [`Attr`]).
    pub attrs: Vec<Attr>,
}

/// An attribute of a version or an upload that format 1 did not have. A
/// list of tagged values rather than more fields, so that a later kind is
/// one more variant and old records still decode: each kind at most once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Attr {
    /// Object lock retention.
    Retention(Retention),
    /// Object lock legal hold, ON while present.
    LegalHold,
    /// Encryption at rest: the object's `sse::header::SseHeader`, encoded
    /// (its own versioned format). The data is sealed packages.
    Sse(Vec<u8>),
    /// A part's own nonce base (part records): re-uploading a part number
    /// must never reuse a nonce under the upload's data key.
    NonceBase([u8; 12]),
    /// A completed multipart object's parts' nonce bases, by part number.
    PartNonces(Vec<(u32, [u8; 12])>),
    /// Object lock legal hold set OFF (S3 then answers OFF; a version whose
    /// hold was never set has no legal hold to show).
    LegalHoldOff,
    /// The storage class and data generation (record format 4; absent:
    /// STANDARD, generation 0). See `class::ClassAttr`.
    StorageClass(super::class::ClassAttr),
    /// A deduplicated multipart object's upload and part table (each part
    /// without stripes: its bytes are the version's contents).
    Multipart { upload: u128, parts: Vec<PartData> },
}

/// The encryption header among `attrs`, if the version is encrypted.
pub fn sse_header(attrs: &[Attr]) -> Option<Result<SseHeader, SseError>> {
    attrs.iter().find_map(|a| match a {
        Attr::Sse(b) => Some(SseHeader::decode(b)),
        _ => None,
    })
}

/// S3 object lock retention modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockMode {
    /// Users with `s3:BypassGovernanceRetention` may shorten or remove it,
    /// or delete the version, by asking to bypass.
    Governance,
    /// Nobody, root included, may shorten it or delete the version before
    /// its date.
    Compliance,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub mode: LockMode,
    /// Milliseconds since the epoch.
    pub until_ms: u64,
}

/// The object lock state of a version (or of the object an upload makes).
pub trait Locked {
    fn attrs(&self) -> &[Attr];
    fn attrs_mut(&mut self) -> &mut Vec<Attr>;

    fn retention(&self) -> Option<Retention> {
        self.attrs().iter().find_map(|a| match a {
            Attr::Retention(r) => Some(*r),
            _ => None,
        })
    }

    fn legal_hold(&self) -> bool {
        self.attrs().iter().any(|a| matches!(a, Attr::LegalHold))
    }

    /// Whether a legal hold was ever set, ON or OFF.
    fn legal_hold_set(&self) -> bool {
        self.attrs()
            .iter()
            .any(|a| matches!(a, Attr::LegalHold | Attr::LegalHoldOff))
    }

    fn set_retention(&mut self, r: Option<Retention>) {
        let attrs = self.attrs_mut();
        attrs.retain(|a| !matches!(a, Attr::Retention(_)));
        attrs.extend(r.map(Attr::Retention));
    }

    fn set_legal_hold(&mut self, on: bool) {
        let attrs = self.attrs_mut();
        attrs.retain(|a| !matches!(a, Attr::LegalHold | Attr::LegalHoldOff));
        attrs.push(if on {
            Attr::LegalHold
        } else {
            Attr::LegalHoldOff
        });
    }
}

impl Locked for ObjectMeta {
    fn attrs(&self) -> &[Attr] {
        &self.attrs
    }
    fn attrs_mut(&mut self) -> &mut Vec<Attr> {
        &mut self.attrs
    }
}

impl Locked for UploadMeta {
    fn attrs(&self) -> &[Attr] {
        &self.attrs
    }
    fn attrs_mut(&mut self) -> &mut Vec<Attr> {
        &mut self.attrs
    }
}

/// A change to one version's metadata, written as a newer commit record of
/// the same version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetaEdit {
    /// Replace the tag set.
    Tags(Vec<(String, String)>),
    /// Set (Some) or remove (None) the stored header `name`.
    Header {
        name: String,
        value: Option<String>,
    },
    /// Set or remove the retention; the engine checks the change is allowed.
    Retention {
        retention: Option<Retention>,
        bypass_governance: bool,
    },
    LegalHold(bool),
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
            MetaEdit::Retention { retention, .. } => meta.set_retention(retention),
            MetaEdit::LegalHold(on) => meta.set_legal_hold(on),
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
    /// The completed object's attributes (see [`Attr`]).
    pub attrs: Vec<Attr>,
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
    /// Added in record format 3 (see [`Attr`]).
    pub attrs: Vec<Attr>,
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

/// Encodes a commit record payload: u32 length, metadata and the change's
/// encoded notification events (format 4; none for most changes), inline
/// data. The events sit inside the length so that the read path's split
/// stays the same in every format.
pub fn encode_commit_payload(meta: &ObjectMeta, events: &[u8], inline: &[u8]) -> Vec<u8> {
    let m = postcard::to_allocvec(meta).expect("metadata serialises");
    let mut out = Vec::with_capacity(4 + m.len() + events.len() + inline.len());
    out.extend_from_slice(&((m.len() + events.len()) as u32).to_le_bytes());
    out.extend_from_slice(&m);
    out.extend_from_slice(events);
    out.extend_from_slice(inline);
    out
}

/// Splits a commit payload into its encoded metadata and inline data,
/// without decoding the metadata (the read path wants only the data).
pub fn split_commit_payload(p: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_le_bytes(p.get(0..4)?.try_into().ok()?) as usize;
    let m = p.get(4..4 + len)?;
    Some((m, &p[4 + len..]))
}

/// Decodes a commit payload written in record format `format` (the
/// header's: [`RecordHeader::decode`](super::record::RecordHeader::decode)
/// has refused formats it does not know, and so does this).
pub fn decode_commit_payload(p: &[u8], format: u16) -> Option<(ObjectMeta, &[u8])> {
    let (meta, _events, data) = decode_commit_parts(p, format)?;
    Some((meta, data))
}

/// [`decode_commit_payload`] with the change's encoded notification events
/// (empty when it had none, and in formats before 4).
pub fn decode_commit_parts(p: &[u8], format: u16) -> Option<(ObjectMeta, &[u8], &[u8])> {
    let (m, data) = split_commit_payload(p)?;
    let (meta, events) = match format {
        1 => (
            postcard::from_bytes::<v1::ObjectMeta>(m).ok()?.into(),
            &[][..],
        ),
        2 | 3 => (postcard::from_bytes(m).ok()?, &[][..]),
        4..=FORMAT_VERSION => postcard::take_from_bytes(m).ok()?,
        _ => return None,
    };
    Some((meta, events, data))
}

/// Encodes an upload record's payload.
pub fn encode_upload_payload(meta: &UploadMeta) -> Vec<u8> {
    postcard::to_allocvec(meta).expect("upload metadata serialises")
}

/// Encodes a part record's payload.
pub fn encode_part_payload(meta: &PartMeta) -> Vec<u8> {
    postcard::to_allocvec(meta).expect("part metadata serialises")
}

/// Decodes an upload record's payload written in record format `format`.
pub fn decode_upload_payload(p: &[u8], format: u16) -> Option<UploadMeta> {
    match format {
        1 => postcard::from_bytes::<v1::UploadMeta>(p)
            .ok()
            .map(Into::into),
        2..=FORMAT_VERSION => postcard::from_bytes(p).ok(),
        _ => None,
    }
}

/// Decodes a part record's payload written in record format `format`.
pub fn decode_part_payload(p: &[u8], format: u16) -> Option<PartMeta> {
    match format {
        1 | 2 => postcard::from_bytes::<v2::PartMeta>(p).ok().map(Into::into),
        3..=FORMAT_VERSION => postcard::from_bytes(p).ok(),
        _ => None,
    }
}

pub fn encode_entry(e: &IndexEntry) -> Vec<u8> {
    postcard::to_allocvec(e).expect("index entry serialises")
}

pub fn decode_entry(b: &[u8]) -> Option<IndexEntry> {
    postcard::from_bytes(b).ok()
}

/// Record format 1's metadata, frozen: what records written before
/// [`Attr`] carry. Rebuild reads them; nothing writes them.
mod v1 {
    use serde::Deserialize;

    use super::{DataLoc, UploadChecksum};

    #[derive(Deserialize)]
    pub struct ObjectMeta {
        version: u128,
        seq: u64,
        size: u64,
        etag: String,
        modified_ms: u64,
        null: bool,
        delete_marker: bool,
        content_type: Option<String>,
        headers: Vec<(String, String)>,
        user_meta: Vec<(String, String)>,
        layout: (u8, u8),
        rotation: u16,
        data: DataLoc,
        tags: Vec<(String, String)>,
    }

    impl From<ObjectMeta> for super::ObjectMeta {
        fn from(m: ObjectMeta) -> super::ObjectMeta {
            super::ObjectMeta {
                version: m.version,
                seq: m.seq,
                size: m.size,
                etag: m.etag,
                modified_ms: m.modified_ms,
                null: m.null,
                delete_marker: m.delete_marker,
                content_type: m.content_type,
                headers: m.headers,
                user_meta: m.user_meta,
                layout: m.layout,
                rotation: m.rotation,
                data: m.data,
                tags: m.tags,
                attrs: Vec::new(),
            }
        }
    }

    #[derive(Deserialize)]
    pub struct UploadMeta {
        upload: u128,
        created_ms: u64,
        content_type: Option<String>,
        headers: Vec<(String, String)>,
        user_meta: Vec<(String, String)>,
        layout: (u8, u8),
        rotation: u16,
        tags: Vec<(String, String)>,
        checksum: Option<UploadChecksum>,
    }

    impl From<UploadMeta> for super::UploadMeta {
        fn from(m: UploadMeta) -> super::UploadMeta {
            super::UploadMeta {
                upload: m.upload,
                created_ms: m.created_ms,
                content_type: m.content_type,
                headers: m.headers,
                user_meta: m.user_meta,
                layout: m.layout,
                rotation: m.rotation,
                tags: m.tags,
                checksum: m.checksum,
                attrs: Vec::new(),
            }
        }
    }
}

/// Record formats 1 and 2's part metadata, frozen: parts before [`Attr`].
mod v2 {
    use serde::Deserialize;

    use super::PartData;

    #[derive(Deserialize)]
    pub struct PartMeta {
        upload: u128,
        seq: u64,
        layout: (u8, u8),
        part: PartData,
    }

    impl From<PartMeta> for super::PartMeta {
        fn from(m: PartMeta) -> super::PartMeta {
            super::PartMeta {
                upload: m.upload,
                seq: m.seq,
                layout: m.layout,
                part: m.part,
                attrs: Vec::new(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::record::FORMAT_VERSION as FORMAT;

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
            attrs: vec![Attr::LegalHold],
        }
    }

    #[test]
    fn commit_payload_round_trip() {
        let m = meta(DataLoc::Inline);
        let p = encode_commit_payload(&m, b"", b"foo");
        let (m2, data) = decode_commit_payload(&p, FORMAT).unwrap();
        assert_eq!(m2, m);
        assert_eq!(data, b"foo");
        let p = encode_commit_payload(&m, b"events", b"foo");
        assert_eq!(
            decode_commit_parts(&p, FORMAT),
            Some((m.clone(), &b"events"[..], &b"foo"[..]))
        );
        assert_eq!(split_commit_payload(&p).unwrap().1, b"foo");
        assert!(decode_commit_payload(&p[..3], FORMAT).is_none());
        assert!(decode_commit_payload(&[255, 255, 255, 255, 0], FORMAT).is_none());
    }

    #[test]
    fn a_format_1_commit_record_still_decodes_without_attributes() {
        let mut m = meta(DataLoc::Inline);
        m.attrs.clear();
        let mut p = encode_commit_payload(&m, b"", b"foo");
        // Format 1 ended the metadata at the tags: drop the empty list.
        let len = u32::from_le_bytes(p[0..4].try_into().unwrap());
        assert_eq!(p.remove(4 + len as usize - 1), 0);
        p[0..4].copy_from_slice(&(len - 1).to_le_bytes());
        let (m1, data) = decode_commit_payload(&p, 1).unwrap();
        assert_eq!((m1, data), (m, &b"foo"[..]));
    }

    #[test]
    fn lock_state_is_kept_once_per_kind() {
        let mut m = meta(DataLoc::Inline);
        m.attrs.clear();
        assert!(!m.legal_hold_set());
        let r = Retention {
            mode: LockMode::Compliance,
            until_ms: 5,
        };
        m.set_retention(Some(r));
        m.set_retention(Some(r));
        m.set_legal_hold(true);
        assert_eq!(
            (m.retention(), m.legal_hold(), m.attrs.len()),
            (Some(r), true, 2)
        );
        m.set_legal_hold(false);
        m.set_retention(None);
        assert_eq!(m.attrs, vec![Attr::LegalHoldOff]);
        assert!(!m.legal_hold() && m.legal_hold_set());
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
