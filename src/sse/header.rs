//! The per-object encryption header: what the object's record stores so the
//! object can be decrypted later, and an index rebuild restores exactly.
//!
//! ```text
//! 0       format version (1)
//! 1       mode: 1 SSE-S3, 2 SSE-KMS, 3 SSE-C
//! 2       package size, log2 (16: 64 KiB)
//! 3..15   nonce base (12 bytes; multipart parts carry their own)
//! SSE-S3 and SSE-KMS:
//!         key id length (1 byte), key id (UTF-8)
//!         key version (4 bytes BE)
//!         encryption context length (2 bytes BE), context (canonical JSON)
//!         wrapped data key length (2 bytes BE), wrapped data key (KMS's blob)
//! SSE-C:
//!         salt (16), HMAC-SHA256 of the customer key (32),
//!         data key wrapped under the customer key (60)
//! ```
//!
//! Nothing may follow; every length is checked against its limit.

use super::customer::{KeyFingerprint, SALT_LEN};
use super::key::{NONCE_LEN, WRAPPED_LEN};
use super::package::Layout;
use super::SseError;
use crate::format_version::NewerFormat;

pub const HEADER_V1: u8 = 1;
pub const MAX_KEY_ID: usize = 255;
/// AWS allows an encryption context of up to 8 KiB.
pub const MAX_CONTEXT: usize = 8 * 1024;
/// Far above the built-in KMS's blob; room for an external KMS's.
pub const MAX_WRAPPED: usize = 4 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `x-amz-server-side-encryption: AES256`: the built-in KMS's default key.
    S3 = 1,
    /// `aws:kms`, with a named key and an encryption context.
    Kms = 2,
    /// The customer's key, never stored.
    Customer = 3,
}

/// Where the data key is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// Wrapped by a KMS key (SSE-S3, SSE-KMS).
    Kms {
        key_id: String,
        key_version: u32,
        /// The encryption context the data key is bound to, canonical JSON
        /// (empty for none).
        context: Vec<u8>,
        wrapped: Vec<u8>,
    },
    /// Wrapped under a key derived from the customer's key (SSE-C).
    Customer {
        fingerprint: KeyFingerprint,
        wrapped: [u8; WRAPPED_LEN],
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseHeader {
    pub mode: Mode,
    pub layout: Layout,
    pub nonce_base: [u8; NONCE_LEN],
    pub key: KeySource,
}

impl SseHeader {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.push(HEADER_V1);
        out.push(self.mode as u8);
        out.push(self.layout.log2());
        out.extend_from_slice(&self.nonce_base);
        match &self.key {
            KeySource::Kms {
                key_id,
                key_version,
                context,
                wrapped,
            } => {
                // Lengths are checked when the header is built (`check`).
                out.push(key_id.len() as u8);
                out.extend_from_slice(key_id.as_bytes());
                out.extend_from_slice(&key_version.to_be_bytes());
                out.extend_from_slice(&(context.len() as u16).to_be_bytes());
                out.extend_from_slice(context);
                out.extend_from_slice(&(wrapped.len() as u16).to_be_bytes());
                out.extend_from_slice(wrapped);
            }
            KeySource::Customer {
                fingerprint,
                wrapped,
            } => {
                out.extend_from_slice(&fingerprint.salt);
                out.extend_from_slice(&fingerprint.mac);
                out.extend_from_slice(wrapped);
            }
        }
        out
    }

    /// Checks the limits [`SseHeader::encode`] relies on, and that the mode
    /// matches the key source.
    pub fn check(&self) -> Result<(), SseError> {
        match (&self.mode, &self.key) {
            (
                Mode::S3 | Mode::Kms,
                KeySource::Kms {
                    key_id,
                    context,
                    wrapped,
                    ..
                },
            ) => {
                if key_id.is_empty() || key_id.len() > MAX_KEY_ID {
                    return Err(SseError::Malformed("key id length"));
                }
                if context.len() > MAX_CONTEXT {
                    return Err(SseError::Malformed("encryption context too long"));
                }
                if wrapped.is_empty() || wrapped.len() > MAX_WRAPPED {
                    return Err(SseError::Malformed("wrapped key length"));
                }
                Ok(())
            }
            (Mode::Customer, KeySource::Customer { .. }) => Ok(()),
            _ => Err(SseError::Malformed("mode and key source disagree")),
        }
    }

    pub fn decode(b: &[u8]) -> Result<SseHeader, SseError> {
        let mut r = Reader { b, at: 0 };
        match r.u8()? {
            0 => return Err(SseError::Malformed("header version 0")),
            v => NewerFormat::check("encryption header", u32::from(v), u32::from(HEADER_V1))
                .map_err(SseError::Newer)?,
        }
        let mode = match r.u8()? {
            1 => Mode::S3,
            2 => Mode::Kms,
            3 => Mode::Customer,
            _ => return Err(SseError::Malformed("unknown mode")),
        };
        let layout = Layout::from_log2(r.u8()?)?;
        let nonce_base = r.array::<NONCE_LEN>()?;
        let key = match mode {
            Mode::S3 | Mode::Kms => {
                let n = r.u8()? as usize;
                let key_id = std::str::from_utf8(r.take(n)?)
                    .map_err(|_| SseError::Malformed("key id is not UTF-8"))?
                    .to_owned();
                let key_version = u32::from_be_bytes(r.array()?);
                let n = u16::from_be_bytes(r.array()?) as usize;
                let context = r.take(n)?.to_vec();
                let n = u16::from_be_bytes(r.array()?) as usize;
                let wrapped = r.take(n)?.to_vec();
                KeySource::Kms {
                    key_id,
                    key_version,
                    context,
                    wrapped,
                }
            }
            Mode::Customer => KeySource::Customer {
                fingerprint: KeyFingerprint {
                    salt: r.array::<SALT_LEN>()?,
                    mac: r.array()?,
                },
                wrapped: r.array()?,
            },
        };
        if r.at != b.len() {
            return Err(SseError::Malformed("bytes after the header"));
        }
        let h = SseHeader {
            mode,
            layout,
            nonce_base,
            key,
        };
        h.check()?;
        Ok(h)
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SseError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or(SseError::Malformed("header is truncated"))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, SseError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SseError> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kms_header() -> SseHeader {
        SseHeader {
            mode: Mode::Kms,
            layout: Layout::DEFAULT,
            nonce_base: [0xA0; NONCE_LEN],
            key: KeySource::Kms {
                key_id: "app".into(),
                key_version: 2,
                context: br#"{"a":"b"}"#.to_vec(),
                wrapped: vec![0xEE; 3],
            },
        }
    }

    /// The bytes of version 1, fixed: a change to the format must be a new
    /// version, never a silent reinterpretation of stored records.
    #[test]
    fn version_1_headers_have_fixed_bytes() {
        let h = kms_header();
        let golden: Vec<u8> = [
            &[1u8, 2, 16][..],
            &[0xA0; 12],
            &[3],
            b"app",
            &[0, 0, 0, 2],
            &[0, 9],
            br#"{"a":"b"}"#,
            &[0, 3],
            &[0xEE; 3],
        ]
        .concat();
        assert_eq!(h.encode(), golden);
        assert_eq!(SseHeader::decode(&golden), Ok(h));

        let c = SseHeader {
            mode: Mode::Customer,
            layout: Layout::from_log2(12).unwrap(),
            nonce_base: [1; NONCE_LEN],
            key: KeySource::Customer {
                fingerprint: KeyFingerprint {
                    salt: [2; SALT_LEN],
                    mac: [3; 32],
                },
                wrapped: [4; WRAPPED_LEN],
            },
        };
        let golden: Vec<u8> = [&[1u8, 3, 12][..], &[1; 12], &[2; 16], &[3; 32], &[4; 60]].concat();
        assert_eq!(c.encode(), golden);
        assert_eq!(SseHeader::decode(&golden), Ok(c));
    }

    #[test]
    fn malformed_headers_are_refused() {
        let good = kms_header().encode();
        for n in 0..good.len() {
            assert!(SseHeader::decode(&good[..n]).is_err(), "truncated to {n}");
        }
        let mut longer = good.clone();
        longer.push(0);
        assert!(SseHeader::decode(&longer).is_err());
        for (at, v) in [(0, 2u8), (1, 0), (1, 4), (2, 11), (2, 25)] {
            let mut t = good.clone();
            t[at] = v;
            assert!(SseHeader::decode(&t).is_err(), "byte {at} = {v}");
        }
        // Version 2 is not damage: a newer cairn wrote it.
        let mut t = good.clone();
        t[0] = HEADER_V1 + 1;
        assert!(
            matches!(SseHeader::decode(&t), Err(SseError::Newer(ref n)) if n.found == 2),
            "{:?}",
            SseHeader::decode(&t)
        );
        // A KMS header read as SSE-C (or the reverse) does not decode.
        let mut t = good.clone();
        t[1] = 3;
        assert!(SseHeader::decode(&t).is_err());
        let mut h = kms_header();
        h.mode = Mode::Customer;
        assert!(h.check().is_err());
    }
}
