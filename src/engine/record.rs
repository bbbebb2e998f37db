//! The on-disk record: every shard block, commit and tombstone written to a
//! segment is one record, self-describing so the index can be rebuilt from
//! the drives alone. Pure encode/decode, no I/O.
//!
//! Layout (little endian), then the payload, then zero padding to 4 KiB:
//!
//! ```text
//!  0 magic "CRN1"      4 format version u16   6 kind u8      7 flags u8
//!  8 header_len u16   10 bucket_len u8       11 data (k) u8 12 key_len u16
//! 14 parity (m) u8    15 shard index u8      16 partition u16
//! 18 reserved u16     20 part number u32     24 stripe index u32
//! 28 payload_len u32  32 data_len u64        40 seq u64     48 version u128
//! 64 payload crc32c   68 header crc32c, keyed (see below)
//! 72 bucket bytes, key bytes
//! ```
//!
//! The frame every format keeps, so that a record of a newer format is
//! known as such and not taken for damage: the magic, the format at 4, the
//! header length at 8 (the header fits in the record's first 4 KiB) and the
//! keyed crc32c at 68 over the header with its own four bytes zeroed. A
//! record that passes that check but names a format above
//! [`FORMAT_VERSION`] is [`RecordError::Newer`]; everything after the
//! format may change from one format to the next.

use crate::format_version::NewerFormat;
use crate::runtime::buf::align_up;

use super::layout::Layout;

pub const MAGIC: [u8; 4] = *b"CRN1";

/// The seed of a drive set's header checksums. A data shard's payload is
/// client bytes, and a rebuild that finds a rotten header resynchronises at
/// the next 4 KiB boundary, which may lie inside such a payload: a header
/// forged there must not pass. The seed derives from the set id, which never
/// leaves the drives, so a client cannot compute a valid header checksum.
pub fn header_key(set_id: &str) -> u32 {
    crc32c::crc32c_append(
        crc32c::crc32c(b"cairn record header v1:"),
        set_id.as_bytes(),
    )
}
/// 2: commit and upload payloads end with a list of attributes (object
/// lock; `meta::Attr`). Format 1 records still decode.
/// 3: part payloads end with attributes too (a part's nonce base).
/// 4: attributes may name a storage class (`Attr::StorageClass`), a
/// shard's `seq` is its version's data generation (`class::ClassAttr`), and
/// commit and tombstone payloads carry the change's notification events
/// (`outbox::encode_events`), so an index rebuilt after a power loss gets
/// back the events not yet delivered.
pub const FORMAT_VERSION: u16 = 4;
pub const FIXED_LEN: usize = 72;
/// Longest header: fixed part, a 63-byte bucket name and a 1,024-byte key.
pub const MAX_HEADER_LEN: usize = FIXED_LEN + 255 + 1024;
/// Longest header of any format (the frame's bound): one 4 KiB block, so a
/// scan that reads a block at a time always holds a whole header.
pub const FRAME_MAX_HEADER_LEN: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// One erasure-coded shard of one stripe of an object.
    Shard = 1,
    /// Makes a version visible: its metadata, the shard locations, and for
    /// small objects the data itself.
    Commit = 2,
    /// A delete.
    Tombstone = 3,
    /// A multipart upload began (version: the upload id).
    Upload = 4,
    /// A part of a multipart upload was stored: its metadata and shard
    /// locations (version: the upload id; part_number set).
    Part = 5,
    /// A multipart upload was completed or aborted (version: the upload id).
    UploadEnd = 6,
}

impl Kind {
    fn from_u8(v: u8) -> Option<Kind> {
        match v {
            1 => Some(Kind::Shard),
            2 => Some(Kind::Commit),
            3 => Some(Kind::Tombstone),
            4 => Some(Kind::Upload),
            5 => Some(Kind::Part),
            6 => Some(Kind::UploadEnd),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    /// The record format: what writes is always [`FORMAT_VERSION`]; a
    /// decoded header says which format its payload uses.
    pub format: u16,
    pub kind: Kind,
    pub partition: u16,
    pub bucket: String,
    pub key: String,
    /// Unique, time-ordered id of the object version this record belongs to.
    pub version: u128,
    pub part_number: u32,
    pub stripe: u32,
    pub shard: u8,
    pub layout: Layout,
    /// Object bytes this record stands for: the stripe's data length for a
    /// shard, the object size for a commit.
    pub data_len: u64,
    pub payload_len: u32,
    /// Per-partition write sequence: the newest record of a key wins on rebuild.
    pub seq: u64,
    pub payload_crc: u32,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// No record starts here (zeroes of preallocated space, or foreign bytes).
    #[error("no record here")]
    NotARecord,
    /// A record starts here but its header fails its checksum or bounds.
    #[error("corrupt record: {0}")]
    Corrupt(&'static str),
    /// The buffer holds less than the header says.
    #[error("truncated record: {need} bytes needed")]
    Truncated { need: usize },
    /// A sound record of a format this binary does not know: written by a
    /// newer cairn, not damaged.
    #[error(transparent)]
    Newer(NewerFormat),
}

impl RecordHeader {
    pub fn header_len(&self) -> usize {
        FIXED_LEN + self.bucket.len() + self.key.len()
    }

    /// Bytes the record occupies on disk, padding included.
    pub fn record_len(&self) -> usize {
        align_up(self.header_len() + self.payload_len as usize)
    }

    /// Writes the header into `out[..header_len]`, computing its checksum
    /// seeded with the set's `key`. `payload_crc` must already be set.
    pub fn encode_into(&self, out: &mut [u8], key: u32) {
        let hl = self.header_len();
        assert!(out.len() >= hl, "header buffer too small");
        assert!(self.bucket.len() <= 255 && self.key.len() <= u16::MAX as usize);
        assert_eq!(
            self.format, FORMAT_VERSION,
            "records are written in the current format"
        );
        let h = &mut out[..hl];
        h[0..4].copy_from_slice(&MAGIC);
        h[4..6].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        h[6] = self.kind as u8;
        h[7] = 0;
        h[8..10].copy_from_slice(&(hl as u16).to_le_bytes());
        h[10] = self.bucket.len() as u8;
        h[11] = self.layout.data;
        h[12..14].copy_from_slice(&(self.key.len() as u16).to_le_bytes());
        h[14] = self.layout.parity;
        h[15] = self.shard;
        h[16..18].copy_from_slice(&self.partition.to_le_bytes());
        h[18..20].copy_from_slice(&[0, 0]);
        h[20..24].copy_from_slice(&self.part_number.to_le_bytes());
        h[24..28].copy_from_slice(&self.stripe.to_le_bytes());
        h[28..32].copy_from_slice(&self.payload_len.to_le_bytes());
        h[32..40].copy_from_slice(&self.data_len.to_le_bytes());
        h[40..48].copy_from_slice(&self.seq.to_le_bytes());
        h[48..64].copy_from_slice(&self.version.to_le_bytes());
        h[64..68].copy_from_slice(&self.payload_crc.to_le_bytes());
        h[68..72].copy_from_slice(&[0, 0, 0, 0]);
        let b = self.bucket.len();
        h[FIXED_LEN..FIXED_LEN + b].copy_from_slice(self.bucket.as_bytes());
        h[FIXED_LEN + b..].copy_from_slice(self.key.as_bytes());
        let crc = crc32c::crc32c_append(key, h);
        h[68..72].copy_from_slice(&crc.to_le_bytes());
    }

    /// Parses and checks a header at the start of `buf` against the set's
    /// checksum `key`.
    pub fn decode(buf: &[u8], key: u32) -> Result<RecordHeader, RecordError> {
        if buf.len() < FIXED_LEN {
            return Err(RecordError::Truncated { need: FIXED_LEN });
        }
        if buf[0..4] != MAGIC {
            return Err(RecordError::NotARecord);
        }
        let u16_at = |o: usize| u16::from_le_bytes([buf[o], buf[o + 1]]);
        let u32_at = |o: usize| u32::from_le_bytes(buf[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(buf[o..o + 8].try_into().expect("8 bytes"));
        // The frame first (see the module docs): only a header whose keyed
        // checksum holds may say it is of a newer format.
        let format = u16_at(4);
        let hl = u16_at(8) as usize;
        if !(FIXED_LEN..=FRAME_MAX_HEADER_LEN).contains(&hl) {
            return Err(RecordError::Corrupt("header length"));
        }
        if buf.len() < hl {
            return Err(RecordError::Truncated { need: hl });
        }
        let stored_crc = u32_at(68);
        let mut crc = crc32c::crc32c_append(key, &buf[..68]);
        crc = crc32c::crc32c_append(crc, &[0, 0, 0, 0]);
        crc = crc32c::crc32c_append(crc, &buf[FIXED_LEN..hl]);
        if crc != stored_crc {
            return Err(RecordError::Corrupt("header checksum"));
        }
        if format == 0 {
            return Err(RecordError::Corrupt("format version 0"));
        }
        NewerFormat::check("record", u32::from(format), u32::from(FORMAT_VERSION))
            .map_err(RecordError::Newer)?;
        let bl = buf[10] as usize;
        let kl = u16_at(12) as usize;
        if hl != FIXED_LEN + bl + kl || hl > MAX_HEADER_LEN {
            return Err(RecordError::Corrupt("header length"));
        }
        let kind = Kind::from_u8(buf[6]).ok_or(RecordError::Corrupt("unknown kind"))?;
        let bucket = std::str::from_utf8(&buf[FIXED_LEN..FIXED_LEN + bl])
            .map_err(|_| RecordError::Corrupt("bucket not utf-8"))?
            .to_owned();
        let key = std::str::from_utf8(&buf[FIXED_LEN + bl..hl])
            .map_err(|_| RecordError::Corrupt("key not utf-8"))?
            .to_owned();
        Ok(RecordHeader {
            format,
            kind,
            partition: u16_at(16),
            bucket,
            key,
            version: u128::from_le_bytes(buf[48..64].try_into().expect("16 bytes")),
            part_number: u32_at(20),
            stripe: u32_at(24),
            shard: buf[15],
            layout: Layout {
                data: buf[11],
                parity: buf[14],
            },
            data_len: u64_at(32),
            payload_len: u32_at(28),
            seq: u64_at(40),
            payload_crc: u32_at(64),
        })
    }

    /// The payload within a buffer that holds the whole record.
    pub fn payload<'a>(&self, record: &'a [u8]) -> Result<&'a [u8], RecordError> {
        let start = self.header_len();
        let end = start + self.payload_len as usize;
        if record.len() < end {
            return Err(RecordError::Truncated { need: end });
        }
        let p = &record[start..end];
        if crc32c::crc32c(p) != self.payload_crc {
            return Err(RecordError::Corrupt("payload checksum"));
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: u32 = 0x1234_5678;

    fn header() -> RecordHeader {
        RecordHeader {
            format: FORMAT_VERSION,
            kind: Kind::Shard,
            partition: 17,
            bucket: "photos".into(),
            key: "2024/cat.jpg".into(),
            version: 0x0123_4567_89ab_cdef_0011_2233_4455_6677,
            part_number: 3,
            stripe: 9,
            shard: 5,
            layout: Layout { data: 4, parity: 2 },
            data_len: 1 << 20,
            payload_len: 262_144,
            seq: 42,
            payload_crc: 0,
        }
    }

    fn record(h: &mut RecordHeader, payload: &[u8]) -> Vec<u8> {
        h.payload_len = payload.len() as u32;
        h.payload_crc = crc32c::crc32c(payload);
        let mut buf = vec![0u8; h.record_len()];
        h.encode_into(&mut buf, KEY);
        let hl = h.header_len();
        buf[hl..hl + payload.len()].copy_from_slice(payload);
        buf
    }

    #[test]
    fn round_trip() {
        let mut h = header();
        let payload: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let buf = record(&mut h, &payload);
        assert_eq!(buf.len() % 4096, 0);
        let d = RecordHeader::decode(&buf, KEY).unwrap();
        assert_eq!(d, h);
        assert_eq!(d.payload(&buf).unwrap(), &payload[..]);
    }

    #[test]
    fn longest_key_fits() {
        let mut h = header();
        h.bucket = "b".repeat(63);
        h.key = "k".repeat(1024);
        let buf = record(&mut h, b"x");
        assert_eq!(RecordHeader::decode(&buf, KEY).unwrap().key.len(), 1024);
    }

    #[test]
    fn a_header_from_another_set_does_not_decode() {
        let mut h = header();
        let buf = record(&mut h, b"payload");
        assert_eq!(
            RecordHeader::decode(&buf, header_key("other set")),
            Err(RecordError::Corrupt("header checksum"))
        );
        assert_ne!(header_key("a"), header_key("b"));
    }

    /// Rewrites the header's format and reseals its checksum, as a newer
    /// cairn writing the same frame would.
    fn with_format(buf: &mut [u8], format: u16, hl: usize) {
        buf[4..6].copy_from_slice(&format.to_le_bytes());
        buf[68..72].fill(0);
        let crc = crc32c::crc32c_append(KEY, &buf[..hl]);
        buf[68..72].copy_from_slice(&crc.to_le_bytes());
    }

    #[test]
    fn a_sound_record_of_a_newer_format_is_newer_not_corrupt() {
        let mut h = header();
        let mut buf = record(&mut h, b"payload");
        let hl = h.header_len();
        with_format(&mut buf, FORMAT_VERSION + 1, hl);
        let e = RecordHeader::decode(&buf, KEY).unwrap_err();
        assert_eq!(
            e,
            RecordError::Newer(NewerFormat {
                what: "record",
                found: u32::from(FORMAT_VERSION) + 1,
                known: u32::from(FORMAT_VERSION),
            })
        );
        assert!(e.to_string().contains("written by a newer cairn"), "{e}");
        // Its checksum is still checked first: a rotten newer header is corrupt.
        buf[20] ^= 1;
        assert_eq!(
            RecordHeader::decode(&buf, KEY),
            Err(RecordError::Corrupt("header checksum"))
        );
        // Format 0 was never written.
        let mut buf = record(&mut h, b"payload");
        with_format(&mut buf, 0, hl);
        assert_eq!(
            RecordHeader::decode(&buf, KEY),
            Err(RecordError::Corrupt("format version 0"))
        );
    }

    #[test]
    fn zeroes_are_not_a_record() {
        assert_eq!(
            RecordHeader::decode(&[0u8; 4096], KEY),
            Err(RecordError::NotARecord)
        );
    }

    #[test]
    fn every_flipped_header_byte_is_detected() {
        let mut h = header();
        let buf = record(&mut h, b"payload");
        for i in 0..h.header_len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x40;
            assert!(
                RecordHeader::decode(&bad, KEY).is_err(),
                "byte {i} flip undetected"
            );
        }
    }

    #[test]
    fn flipped_payload_byte_is_detected() {
        let mut h = header();
        let buf = record(&mut h, &[7u8; 5000]);
        let mut bad = buf.clone();
        bad[h.header_len() + 4999] ^= 1;
        let d = RecordHeader::decode(&bad, KEY).unwrap();
        assert_eq!(
            d.payload(&bad),
            Err(RecordError::Corrupt("payload checksum"))
        );
    }

    #[test]
    fn truncated_is_reported_not_panicked() {
        let mut h = header();
        let buf = record(&mut h, &[1u8; 100]);
        for cut in [0, 10, FIXED_LEN - 1, FIXED_LEN + 2] {
            assert!(RecordHeader::decode(&buf[..cut], KEY).is_err());
        }
        let d = RecordHeader::decode(&buf, KEY).unwrap();
        assert!(matches!(
            d.payload(&buf[..h.header_len() + 50]),
            Err(RecordError::Truncated { .. })
        ));
    }
}
