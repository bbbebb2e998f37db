//! Object contents: one random buffer generated at start, from which every
//! object is a slice. An object's content is a function of its id, so a GET
//! can be verified without remembering what was PUT, and PUT bodies are
//! never generated per request.

use std::sync::Arc;

use bytes::Bytes;
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

/// aws-chunked chunk size, as minio-go sends.
pub const CHUNK: usize = 64 * 1024;
/// Distinct contents. A GET that returns another object's bytes goes
/// unnoticed only when both ids fall on the same variant (1 in 256 up to
/// 1 MiB, 1 in 16 at most for objects of 16 MiB and more).
const MAX_VARIANTS: usize = 256;
const MIN_VARIANTS: usize = 16;
/// Bytes hashed at start-up for the chunk signatures, at most (unless the
/// minimum of variants needs more).
const HASH_BUDGET: usize = 256 << 20;
const STRIDE: usize = 4096;

pub struct Payload {
    buf: Bytes,
    size: usize,
    variants: usize,
    /// SHA-256 of every chunk of each variant (empty unless asked for):
    /// PUTs of one variant sign the same chunks, so the client hashes each
    /// variant once at start-up instead of every upload (the server still
    /// hashes every chunk it receives).
    hashes: Vec<Arc<[[u8; 32]]>>,
}

/// splitmix64: spreads consecutive ids over the variants.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl Payload {
    /// `hashed`: compute the chunk hashes that signed aws-chunked PUTs need.
    pub fn new(size: usize, seed: u64, hashed: bool) -> Self {
        let variants = (HASH_BUDGET / size.max(1)).clamp(MIN_VARIANTS, MAX_VARIANTS);
        let mut buf = vec![0u8; size + (variants - 1) * STRIDE];
        rand::rngs::SmallRng::seed_from_u64(seed).fill_bytes(&mut buf);
        let hashes = if hashed {
            (0..variants)
                .map(|v| {
                    buf[v * STRIDE..v * STRIDE + size]
                        .chunks(CHUNK)
                        .map(|c| Sha256::digest(c).into())
                        .collect()
                })
                .collect()
        } else {
            Vec::new()
        };
        Payload {
            buf: Bytes::from(buf),
            size,
            variants,
            hashes,
        }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    fn variant(&self, id: u64) -> usize {
        (mix(id) % self.variants as u64) as usize
    }

    /// The content of object `id` (a slice of the shared buffer, no copy).
    pub fn object(&self, id: u64) -> Bytes {
        let off = self.variant(id) * STRIDE;
        self.buf.slice(off..off + self.size)
    }

    /// SHA-256 of each [`CHUNK`]-sized chunk of object `id` (the payload
    /// must have been made `hashed`).
    pub fn chunk_hashes(&self, id: u64) -> Arc<[[u8; 32]]> {
        self.hashes[self.variant(id)].clone()
    }
}

/// Checks a GET body piece by piece against the object it should be.
pub struct Verifier {
    expect: Bytes,
    pos: usize,
    ok: bool,
}

impl Verifier {
    pub fn new(expect: Bytes) -> Self {
        Verifier {
            expect,
            pos: 0,
            ok: true,
        }
    }

    pub fn feed(&mut self, data: &[u8]) {
        let end = self.pos + data.len();
        self.ok &= end <= self.expect.len() && self.expect[self.pos..end] == *data;
        self.pos = end;
    }

    /// True when every byte matched and none was missing.
    pub fn finish(&self) -> bool {
        self.ok && self.pos == self.expect.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_stable_slices_with_matching_chunk_hashes() {
        let p = Payload::new(150_000, 7, true);
        assert_eq!(p.object(3), p.object(3));
        assert_eq!(p.object(3).len(), 150_000);
        let distinct = (0..64)
            .map(|i| p.object(i))
            .collect::<std::collections::HashSet<_>>();
        assert!(distinct.len() > 50, "ids spread over variants");
        let h = p.chunk_hashes(3);
        assert_eq!(h.len(), 3);
        let obj = p.object(3);
        assert_eq!(h[2], <[u8; 32]>::from(Sha256::digest(&obj[2 * CHUNK..])));
    }

    #[test]
    fn fewer_variants_for_large_objects() {
        assert_eq!(Payload::new(4096, 1, false).variants, 256);
        assert_eq!(Payload::new(16 << 20, 1, false).variants, 16);
        assert_eq!(Payload::new(64 << 20, 1, false).variants, 16);
        assert_eq!(Payload::new(0, 1, true).chunk_hashes(5).len(), 0);
    }

    #[test]
    fn verifier_catches_wrong_short_and_long_bodies() {
        let p = Payload::new(1000, 1, false);
        let obj = p.object(9);
        let mut v = Verifier::new(obj.clone());
        v.feed(&obj[..10]);
        v.feed(&obj[10..]);
        assert!(v.finish());

        let mut short = Verifier::new(obj.clone());
        short.feed(&obj[..999]);
        assert!(!short.finish());

        let mut long = Verifier::new(obj.clone());
        long.feed(&obj);
        long.feed(b"x");
        assert!(!long.finish());

        let mut wrong = Verifier::new(obj.clone());
        let mut bad = obj.to_vec();
        bad[500] ^= 1;
        wrong.feed(&bad);
        assert!(!wrong.finish());
    }
}
