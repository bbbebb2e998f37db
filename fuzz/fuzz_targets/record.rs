//! Record decoding (`src/engine/record.rs`, `meta.rs`, `rebuild.rs`): any
//! bytes decode to a header and payloads or to an error, never a panic;
//! records built from arbitrary values decode back to exactly those values;
//! a flipped header or payload byte is always detected; a sound header of a
//! newer format is `RecordError::Newer`, never corrupt.
#![no_main]

use arbitrary::Arbitrary;
use cairn::engine::layout::Layout;
use cairn::engine::meta::{
    decode_commit_payload, decode_entry, decode_part_payload, decode_upload_payload,
    encode_commit_payload, encode_entry, encode_part_payload, encode_upload_payload, sse_header,
    Attr, DataLoc, IndexEntry, LockMode, ObjectMeta, PartData, PartMeta, RecordLoc, Retention,
    UploadChecksum, UploadMeta, VersionSel,
};
use cairn::engine::rebuild::{
    decode_tombstone, decode_upload_end, encode_tombstone, encode_upload_end,
};
use cairn::engine::record::{
    header_key, Kind, RecordError, RecordHeader, FIXED_LEN, FORMAT_VERSION,
};
use cairn::sse::header::SseHeader;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Input {
    /// Bytes read where a record may start (a rebuild's scan, a read).
    Raw { set: u8, bytes: Vec<u8> },
    /// Bytes handed to each payload decoder directly.
    Payload { format: u8, bytes: Vec<u8> },
    /// A record built from values, then checked and damaged.
    Built {
        set: u8,
        record: Built,
        /// Byte to flip (modulo the record's length) and its mask.
        flip: (u16, u8),
        /// How far past the current format to raise it.
        newer_by: u8,
    },
}

#[derive(Arbitrary, Debug)]
struct Head {
    partition: u16,
    bucket: String,
    key: String,
    version: u128,
    part_number: u32,
    stripe: u32,
    shard: u8,
    layout: (u8, u8),
    data_len: u64,
    seq: u64,
}

#[derive(Arbitrary, Debug)]
enum Built {
    Shard(Head, Vec<u8>),
    Commit(Head, Meta, Vec<u8>),
    Tombstone(Head, Option<u128>),
    Upload(Head, Upload),
    Part(Head, Part),
    UploadEnd(Head, u64),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
struct Loc {
    drive: u16,
    segment: u32,
    offset: u64,
    len: u32,
}

#[derive(Arbitrary, Debug)]
enum Data {
    Inline,
    Stripes(Vec<Vec<Option<Loc>>>),
    Parts(u128, Vec<PartIn>),
}

#[derive(Arbitrary, Debug)]
struct PartIn {
    number: u32,
    size: u64,
    etag: String,
    checksums: Vec<(String, String)>,
    modified_ms: u64,
    rotation: u16,
    stripes: Vec<Vec<Option<Loc>>>,
}

#[derive(Arbitrary, Debug)]
enum AttrIn {
    Retention(bool, u64),
    LegalHold,
    Sse(Vec<u8>),
    NonceBase([u8; 12]),
    PartNonces(Vec<(u32, [u8; 12])>),
    LegalHoldOff,
}

#[derive(Arbitrary, Debug)]
struct Meta {
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
    data: Data,
    tags: Vec<(String, String)>,
    attrs: Vec<AttrIn>,
    commits: Vec<Loc>,
}

#[derive(Arbitrary, Debug)]
struct Upload {
    upload: u128,
    created_ms: u64,
    content_type: Option<String>,
    headers: Vec<(String, String)>,
    user_meta: Vec<(String, String)>,
    layout: (u8, u8),
    rotation: u16,
    tags: Vec<(String, String)>,
    checksum: Option<(String, bool)>,
    attrs: Vec<AttrIn>,
}

#[derive(Arbitrary, Debug)]
struct Part {
    upload: u128,
    seq: u64,
    layout: (u8, u8),
    part: PartIn,
    attrs: Vec<AttrIn>,
}

fn loc(l: Loc) -> RecordLoc {
    RecordLoc {
        drive: l.drive,
        segment: l.segment,
        offset: l.offset,
        len: l.len,
    }
}

fn stripes(s: Vec<Vec<Option<Loc>>>) -> Vec<Vec<Option<RecordLoc>>> {
    s.into_iter()
        .map(|v| v.into_iter().map(|l| l.map(loc)).collect())
        .collect()
}

fn part_data(p: PartIn) -> PartData {
    PartData {
        number: p.number,
        size: p.size,
        etag: p.etag,
        checksums: p.checksums,
        modified_ms: p.modified_ms,
        rotation: p.rotation,
        stripes: stripes(p.stripes),
    }
}

fn attrs(a: Vec<AttrIn>) -> Vec<Attr> {
    a.into_iter()
        .map(|a| match a {
            AttrIn::Retention(compliance, until_ms) => Attr::Retention(Retention {
                mode: if compliance {
                    LockMode::Compliance
                } else {
                    LockMode::Governance
                },
                until_ms,
            }),
            AttrIn::LegalHold => Attr::LegalHold,
            AttrIn::Sse(b) => Attr::Sse(b),
            AttrIn::NonceBase(n) => Attr::NonceBase(n),
            AttrIn::PartNonces(v) => Attr::PartNonces(v),
            AttrIn::LegalHoldOff => Attr::LegalHoldOff,
        })
        .collect()
}

fn object_meta(m: Meta) -> (ObjectMeta, Vec<RecordLoc>) {
    let data = match m.data {
        Data::Inline => DataLoc::Inline,
        Data::Stripes(s) => DataLoc::Stripes(stripes(s)),
        Data::Parts(upload, parts) => DataLoc::Parts {
            upload,
            parts: parts.into_iter().map(part_data).collect(),
        },
    };
    let meta = ObjectMeta {
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
        data,
        tags: m.tags,
        attrs: attrs(m.attrs),
    };
    (meta, m.commits.into_iter().map(loc).collect())
}

fn header(kind: Kind, h: Head) -> RecordHeader {
    let mut bucket = h.bucket;
    truncate(&mut bucket, 255);
    let mut key = h.key;
    truncate(&mut key, 1024);
    RecordHeader {
        format: FORMAT_VERSION,
        kind,
        partition: h.partition,
        bucket,
        key,
        version: h.version,
        part_number: h.part_number,
        stripe: h.stripe,
        shard: h.shard,
        layout: Layout {
            data: h.layout.0,
            parity: h.layout.1,
        },
        data_len: h.data_len,
        payload_len: 0,
        seq: h.seq,
        payload_crc: 0,
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary.
fn truncate(s: &mut String, max: usize) {
    let mut n = s.len().min(max);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    s.truncate(n);
}

fn encode(mut h: RecordHeader, payload: &[u8], key: u32) -> (RecordHeader, Vec<u8>) {
    h.payload_len = payload.len() as u32;
    h.payload_crc = crc32c::crc32c(payload);
    let mut buf = vec![0u8; h.record_len()];
    h.encode_into(&mut buf, key);
    let hl = h.header_len();
    buf[hl..hl + payload.len()].copy_from_slice(payload);
    (h, buf)
}

/// Every payload decoder on `bytes`: none may panic.
fn decode_payloads(bytes: &[u8], format: u16) {
    let _ = decode_commit_payload(bytes, format).map(|(m, _)| sse_header(&m.attrs));
    let _ = decode_upload_payload(bytes, format);
    let _ = decode_part_payload(bytes, format);
    let _ = decode_tombstone(bytes);
    let _ = decode_upload_end(bytes);
    let _ = decode_entry(bytes);
    let _ = SseHeader::decode(bytes);
}

fuzz_target!(|input: Input| match input {
    Input::Raw { set, bytes } => {
        let key = header_key(&set.to_string());
        match RecordHeader::decode(&bytes, key) {
            Ok(h) => {
                assert!((1..=FORMAT_VERSION).contains(&h.format));
                assert!(h.header_len() >= FIXED_LEN && h.header_len() <= bytes.len());
                if let Ok(p) = h.payload(&bytes) {
                    decode_payloads(p, h.format);
                }
                // What decodes, encodes back to the same header bytes
                // (the flags and reserved bytes are written as zeroes).
                if bytes[7] == 0 && bytes[18..20] == [0, 0] {
                    let mut again = vec![0u8; h.header_len()];
                    h.encode_into(&mut again, key);
                    assert_eq!(again, bytes[..h.header_len()]);
                }
            }
            Err(RecordError::Newer(n)) => {
                assert!(n.found > n.known && n.known == u32::from(FORMAT_VERSION));
            }
            Err(_) => {}
        }
    }
    Input::Payload { format, bytes } => decode_payloads(&bytes, u16::from(format)),
    Input::Built {
        set,
        record,
        flip,
        newer_by,
    } => {
        let key = header_key(&set.to_string());
        let (h, payload) = match record {
            Built::Shard(h, data) => (header(Kind::Shard, h), data),
            Built::Commit(h, m, inline) => {
                let (meta, commits) = object_meta(m);
                let p = encode_commit_payload(&meta, &inline);
                let (got, data) =
                    decode_commit_payload(&p, FORMAT_VERSION).expect("commit decodes");
                assert_eq!((&got, data), (&meta, &inline[..]));
                let entry = IndexEntry { meta, commits };
                assert_eq!(decode_entry(&encode_entry(&entry)), Some(entry));
                (header(Kind::Commit, h), p)
            }
            Built::Tombstone(h, v) => {
                let sel = v.map_or(VersionSel::Null, VersionSel::Id);
                let p = encode_tombstone(sel);
                assert_eq!(decode_tombstone(&p), Some(sel));
                (header(Kind::Tombstone, h), p)
            }
            Built::Upload(h, u) => {
                let meta = UploadMeta {
                    upload: u.upload,
                    created_ms: u.created_ms,
                    content_type: u.content_type,
                    headers: u.headers,
                    user_meta: u.user_meta,
                    layout: u.layout,
                    rotation: u.rotation,
                    tags: u.tags,
                    checksum: u.checksum.map(|(algorithm, full_object)| UploadChecksum {
                        algorithm,
                        full_object,
                    }),
                    attrs: attrs(u.attrs),
                };
                let p = encode_upload_payload(&meta);
                assert_eq!(decode_upload_payload(&p, FORMAT_VERSION), Some(meta));
                (header(Kind::Upload, h), p)
            }
            Built::Part(h, p) => {
                let meta = PartMeta {
                    upload: p.upload,
                    seq: p.seq,
                    layout: p.layout,
                    part: part_data(p.part),
                    attrs: attrs(p.attrs),
                };
                let p = encode_part_payload(&meta);
                assert_eq!(decode_part_payload(&p, FORMAT_VERSION), Some(meta));
                (header(Kind::Part, h), p)
            }
            Built::UploadEnd(h, ms) => {
                let p = encode_upload_end(ms).to_vec();
                assert_eq!(decode_upload_end(&p), Some(ms));
                (header(Kind::UploadEnd, h), p)
            }
        };
        // Payloads are far below a record's u32 length in practice.
        if payload.len() > 1 << 20 {
            return;
        }
        let (h, rec) = encode(h, &payload, key);
        let got = RecordHeader::decode(&rec, key).expect("a built record decodes");
        assert_eq!(got, h);
        assert_eq!(got.payload(&rec).expect("its payload checks"), &payload[..]);
        assert_eq!(rec.len() % 4096, 0);

        // Any one damaged byte of header or payload is caught.
        let used = h.header_len() + payload.len();
        let (at, mask) = (usize::from(flip.0) % used, flip.1.max(1));
        let mut bad = rec.clone();
        bad[at] ^= mask;
        match RecordHeader::decode(&bad, key) {
            Ok(d) => {
                assert!(at >= h.header_len(), "a flipped header byte {at} decoded");
                assert!(
                    d.payload(&bad).is_err(),
                    "a flipped payload byte {at} passed"
                );
            }
            Err(RecordError::NotARecord) => assert!(at < 4, "only the magic says not a record"),
            Err(_) => assert!(at < h.header_len()),
        }

        // The same record naming a newer format: newer, not corrupt.
        let newer = FORMAT_VERSION.saturating_add(u16::from(newer_by).max(1));
        let mut raised = rec;
        let hl = h.header_len();
        raised[4..6].copy_from_slice(&newer.to_le_bytes());
        raised[68..72].fill(0);
        let crc = crc32c::crc32c_append(key, &raised[..hl]);
        raised[68..72].copy_from_slice(&crc.to_le_bytes());
        match RecordHeader::decode(&raised, key) {
            Err(RecordError::Newer(n)) => {
                assert_eq!(
                    (n.found, n.known),
                    (u32::from(newer), u32::from(FORMAT_VERSION))
                )
            }
            other => panic!("format {newer}: {other:?}"),
        }
    }
});
