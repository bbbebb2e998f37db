//! The package format: a stream of plaintext (an object, or one multipart
//! part) cut into packages of [`Layout::package_size`] bytes (64 KiB), each
//! sealed with AES-256-GCM under the object's data key and followed by its
//! 16-byte tag. Every package but the last is full; the last holds the rest,
//! and an empty stream is one empty package (its tag alone), so even an
//! empty object is authenticated.
//!
//! Package `i` of part `p` (0 for a single PUT, 1-10000 for multipart) uses
//! - nonce = nonce base XOR (p as 4 bytes BE || i as 8 bytes BE): unique per
//!   (part, index) under one data key, as GCM needs;
//! - associated data = format version, a final-package flag, p, i, the
//!   package size, and SHA-256 of the object's identity (bucket, key,
//!   version id).
//!
//! So a flipped bit fails its tag; packages reordered or moved between parts
//! fail (nonce and associated data differ); a package moved from another
//! object fails (another data key, and another identity); dropping the last
//! packages fails (the new last one was sealed as not final). No allocation
//! per package: sealing and opening work in the caller's buffer.

use ring::aead::{Aad, LessSafeKey, Nonce, Tag};
use sha2::{Digest, Sha256};

use super::key::{DataKey, NONCE_LEN, TAG_LEN};
use super::SseError;

/// The format of the package stream; part of every package's associated
/// data, so a package of another format never opens as this one.
pub const PACKAGE_FORMAT_V1: u8 = 1;
/// Plaintext bytes per package: large enough that the 16-byte tag costs
/// 0.02% and the per-package work vanishes beside AES (perf/SSE.md), small
/// enough that a ranged GET decrypts at most 128 KiB it does not return.
pub const PACKAGE_SIZE: usize = 64 * 1024;
/// Part number of an object written by a single PUT (multipart parts are
/// 1-10000).
pub const SINGLE_PART: u32 = 0;
const AAD_LEN: usize = 1 + 1 + 4 + 8 + 4 + 32;
const FINAL: u8 = 1;
const MIN_LOG2: u8 = 12;
const MAX_LOG2: u8 = 24;

/// Which object a stream belongs to, as the caller names it in bytes.
#[derive(Clone, Copy, Debug)]
pub struct ObjectId<'a> {
    pub bucket: &'a [u8],
    pub key: &'a [u8],
    /// Empty when the object has no version id ("null").
    pub version: &'a [u8],
}

impl ObjectId<'_> {
    /// SHA-256 of the length-prefixed fields: bound into every package, so
    /// identities never collide by concatenation.
    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"cairn-sse-object-v1");
        for field in [self.bucket, self.key, self.version] {
            h.update((field.len() as u64).to_be_bytes());
            h.update(field);
        }
        h.finalize().into()
    }
}

/// The package size of a stream, and the arithmetic between plaintext and
/// ciphertext offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    log2: u8,
}

/// The packages a plaintext byte range needs, and where they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackageRange {
    /// First package to open.
    pub first: u64,
    /// One past the last package to open.
    pub end: u64,
    /// Where those packages start in the ciphertext.
    pub cipher_start: u64,
    /// Where they end (exclusive).
    pub cipher_end: u64,
    /// Plaintext bytes to drop from the front of the first package.
    pub skip: usize,
    /// Plaintext bytes the range returns.
    pub len: u64,
}

impl Layout {
    pub const DEFAULT: Layout = Layout { log2: 16 };

    /// A package size of 2^`log2` bytes, 4 KiB to 16 MiB.
    pub fn from_log2(log2: u8) -> Result<Layout, SseError> {
        if (MIN_LOG2..=MAX_LOG2).contains(&log2) {
            Ok(Layout { log2 })
        } else {
            Err(SseError::Malformed("package size out of range"))
        }
    }

    pub fn log2(self) -> u8 {
        self.log2
    }

    pub fn package_size(self) -> usize {
        1 << self.log2
    }

    /// A full package once sealed: plaintext and tag.
    pub fn sealed_package_size(self) -> usize {
        self.package_size() + TAG_LEN
    }

    /// Packages in a stream of `plain_len` bytes (an empty stream has one).
    pub fn packages(self, plain_len: u64) -> u64 {
        plain_len.div_ceil(self.package_size() as u64).max(1)
    }

    pub fn ciphertext_len(self, plain_len: u64) -> u64 {
        plain_len + TAG_LEN as u64 * self.packages(plain_len)
    }

    /// The inverse of [`Layout::ciphertext_len`]; an error for a length no
    /// plaintext seals to (a torn stream).
    pub fn plaintext_len(self, cipher_len: u64) -> Result<u64, SseError> {
        let sealed = self.sealed_package_size() as u64;
        let full = cipher_len / sealed;
        let rest = cipher_len % sealed;
        let plain = match rest {
            0 if full > 0 => full * self.package_size() as u64,
            r if r >= TAG_LEN as u64 => full * self.package_size() as u64 + r - TAG_LEN as u64,
            _ => return Err(SseError::Length("not the length of a sealed stream")),
        };
        // A last package sealed empty after full ones is never written.
        if rest == TAG_LEN as u64 && full > 0 {
            return Err(SseError::Length("not the length of a sealed stream"));
        }
        Ok(plain)
    }

    /// Plaintext bytes in package `index` of a `plain_len` stream.
    pub fn package_len(self, plain_len: u64, index: u64) -> Option<usize> {
        let size = self.package_size() as u64;
        if index >= self.packages(plain_len) {
            return None;
        }
        Some((plain_len - index * size).min(size) as usize)
    }

    /// Where package `index` starts in the ciphertext.
    pub fn cipher_offset(self, index: u64) -> u64 {
        index * self.sealed_package_size() as u64
    }

    /// The packages holding plaintext bytes `start..end` of a `plain_len`
    /// stream (a ranged GET). `start < end <= plain_len`.
    pub fn range(self, plain_len: u64, start: u64, end: u64) -> Result<PackageRange, SseError> {
        if start >= end || end > plain_len {
            return Err(SseError::Length("range outside the object"));
        }
        let size = self.package_size() as u64;
        let first = start / size;
        let last = (end - 1) / size;
        let cipher_end = (self.cipher_offset(last + 1)).min(self.ciphertext_len(plain_len));
        Ok(PackageRange {
            first,
            end: last + 1,
            cipher_start: self.cipher_offset(first),
            cipher_end,
            skip: (start - first * size) as usize,
            len: end - start,
        })
    }
}

/// The per-stream state both directions share.
struct StreamKey {
    cipher: LessSafeKey,
    nonce_base: [u8; NONCE_LEN],
    object: [u8; 32],
    part: u32,
    layout: Layout,
}

impl StreamKey {
    fn new(
        key: &DataKey,
        nonce_base: &[u8; NONCE_LEN],
        object: &ObjectId<'_>,
        part: u32,
        layout: Layout,
    ) -> StreamKey {
        StreamKey {
            cipher: key.cipher(),
            nonce_base: *nonce_base,
            object: object.digest(),
            part,
            layout,
        }
    }

    fn nonce(&self, index: u64) -> Nonce {
        let mut n = self.nonce_base;
        for (b, x) in n[..4].iter_mut().zip(self.part.to_be_bytes()) {
            *b ^= x;
        }
        for (b, x) in n[4..].iter_mut().zip(index.to_be_bytes()) {
            *b ^= x;
        }
        Nonce::assume_unique_for_key(n)
    }

    fn aad(&self, index: u64, last: bool) -> [u8; AAD_LEN] {
        let mut a = [0u8; AAD_LEN];
        a[0] = PACKAGE_FORMAT_V1;
        a[1] = if last { FINAL } else { 0 };
        a[2..6].copy_from_slice(&self.part.to_be_bytes());
        a[6..14].copy_from_slice(&index.to_be_bytes());
        a[14..18].copy_from_slice(&(self.layout.package_size() as u32).to_be_bytes());
        a[18..].copy_from_slice(&self.object);
        a
    }
}

/// Seals a stream's packages in order.
pub struct Sealer {
    key: StreamKey,
    next: u64,
    finished: bool,
}

impl Sealer {
    /// `nonce_base` must be fresh for this data key and part
    /// ([`super::key::nonce_base`]).
    pub fn new(
        key: &DataKey,
        nonce_base: &[u8; NONCE_LEN],
        object: &ObjectId<'_>,
        part: u32,
        layout: Layout,
    ) -> Sealer {
        Sealer {
            key: StreamKey::new(key, nonce_base, object, part, layout),
            next: 0,
            finished: false,
        }
    }

    pub fn layout(&self) -> Layout {
        self.key.layout
    }

    /// Seals the next package in place: `buf[..plain_len]` becomes
    /// ciphertext and the tag is written after it. Every package but the
    /// `last` must be full, and only an empty stream has an empty package.
    /// Returns the sealed length (`plain_len + 16`).
    pub fn seal(
        &mut self,
        buf: &mut [u8],
        plain_len: usize,
        last: bool,
    ) -> Result<usize, SseError> {
        let size = self.key.layout.package_size();
        if self.finished {
            return Err(SseError::Misuse("the last package is already sealed"));
        }
        if plain_len > size || (!last && plain_len != size) {
            return Err(SseError::Misuse("only the last package may be short"));
        }
        if last && plain_len == 0 && self.next > 0 {
            return Err(SseError::Misuse("an empty last package follows nothing"));
        }
        if buf.len() < plain_len + TAG_LEN {
            return Err(SseError::Misuse("the buffer has no room for the tag"));
        }
        let index = self.next;
        let tag = self
            .key
            .cipher
            .seal_in_place_separate_tag(
                self.key.nonce(index),
                Aad::from(self.key.aad(index, last)),
                &mut buf[..plain_len],
            )
            .map_err(|_| SseError::Misuse("package too large for AES-GCM"))?;
        buf[plain_len..plain_len + TAG_LEN].copy_from_slice(tag.as_ref());
        self.next += 1;
        self.finished = last;
        Ok(plain_len + TAG_LEN)
    }

    /// Packages sealed so far.
    pub fn packages(&self) -> u64 {
        self.next
    }

    /// True once the last package is sealed.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// Seals a whole stream into a new buffer (copies, small objects, tests);
    /// fails as `seal` does on a sealer that already sealed packages.
    pub fn seal_all(mut self, plain: &[u8]) -> Result<Vec<u8>, SseError> {
        let layout = self.key.layout;
        let mut out = vec![0u8; layout.ciphertext_len(plain.len() as u64) as usize];
        let size = layout.package_size();
        let mut chunks = plain.chunks(size).peekable();
        let mut at = 0;
        if chunks.peek().is_none() {
            self.seal(&mut out, 0, true)?;
            return Ok(out);
        }
        while let Some(chunk) = chunks.next() {
            let last = chunks.peek().is_none();
            let room = &mut out[at..at + chunk.len() + TAG_LEN];
            room[..chunk.len()].copy_from_slice(chunk);
            at += self.seal(room, chunk.len(), last)?;
        }
        Ok(out)
    }
}

/// Opens any package of a stream whose plaintext length is known (from the
/// object record): which package is the last follows from it.
pub struct Opener {
    key: StreamKey,
    plain_len: u64,
}

impl Opener {
    pub fn new(
        key: &DataKey,
        nonce_base: &[u8; NONCE_LEN],
        object: &ObjectId<'_>,
        part: u32,
        layout: Layout,
        plain_len: u64,
    ) -> Opener {
        Opener {
            key: StreamKey::new(key, nonce_base, object, part, layout),
            plain_len,
        }
    }

    pub fn layout(&self) -> Layout {
        self.key.layout
    }

    pub fn packages(&self) -> u64 {
        self.key.layout.packages(self.plain_len)
    }

    /// The sealed length of package `index`; `None` past the end.
    pub fn sealed_len(&self, index: u64) -> Option<usize> {
        self.key
            .layout
            .package_len(self.plain_len, index)
            .map(|n| n + TAG_LEN)
    }

    /// Opens package `index` in place; `sealed` must be exactly that
    /// package. Returns its plaintext, a prefix of `sealed`.
    pub fn open<'b>(&self, index: u64, sealed: &'b mut [u8]) -> Result<&'b mut [u8], SseError> {
        let want = self
            .sealed_len(index)
            .ok_or(SseError::Length("package index past the end"))?;
        if sealed.len() != want {
            return Err(SseError::Length("package length differs from the record"));
        }
        let last = index + 1 == self.packages();
        self.key
            .cipher
            .open_in_place(
                self.key.nonce(index),
                Aad::from(self.key.aad(index, last)),
                sealed,
            )
            .map_err(|_| SseError::DoesNotOpen)
    }

    /// Opens package `index` whose ciphertext (`cipher`, exactly that long)
    /// and tag the caller keeps apart: the plaintext of consecutive packages
    /// then lands contiguous, with no copy to close the gaps of their tags.
    pub fn open_detached(
        &self,
        index: u64,
        cipher: &mut [u8],
        tag: [u8; TAG_LEN],
    ) -> Result<(), SseError> {
        let want = self
            .sealed_len(index)
            .ok_or(SseError::Length("package index past the end"))?;
        if cipher.len() + TAG_LEN != want {
            return Err(SseError::Length("package length differs from the record"));
        }
        let last = index + 1 == self.packages();
        self.key
            .cipher
            .open_in_place_separate_tag(
                self.key.nonce(index),
                Aad::from(self.key.aad(index, last)),
                Tag::from(tag),
                cipher,
                0..,
            )
            .map(|_| ())
            .map_err(|_| SseError::DoesNotOpen)
    }

    /// Opens a whole sealed stream into a new buffer.
    pub fn open_all(&self, cipher: &[u8]) -> Result<Vec<u8>, SseError> {
        let layout = self.key.layout;
        if cipher.len() as u64 != layout.ciphertext_len(self.plain_len) {
            return Err(SseError::Length("stream length differs from the record"));
        }
        let mut buf = cipher.to_vec();
        let mut plain_at = 0;
        let mut at = 0;
        for index in 0..self.packages() {
            let n = self.sealed_len(index).expect("index below packages()");
            let len = self.open(index, &mut buf[at..at + n])?.len();
            buf.copy_within(at..at + len, plain_at);
            plain_at += len;
            at += n;
        }
        buf.truncate(plain_at);
        Ok(buf)
    }

    /// Opens the packages a ranged read fetched (`cipher` is
    /// `range.cipher_start..range.cipher_end` of the stream) and returns the
    /// plaintext of the range.
    pub fn open_range(&self, range: &PackageRange, cipher: &[u8]) -> Result<Vec<u8>, SseError> {
        if (cipher.len() as u64) != range.cipher_end - range.cipher_start {
            return Err(SseError::Length("fetched bytes differ from the range"));
        }
        let mut buf = cipher.to_vec();
        let mut out = Vec::with_capacity(range.len as usize);
        let mut at = 0;
        for index in range.first..range.end {
            let n = self
                .sealed_len(index)
                .ok_or(SseError::Length("package index past the end"))?;
            let plain = self.open(index, &mut buf[at..at + n])?;
            let from = if index == range.first { range.skip } else { 0 };
            let take = (plain.len() - from).min(range.len as usize - out.len());
            out.extend_from_slice(&plain[from..from + take]);
            at += n;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::key::nonce_base;

    const KI: usize = 1024;
    const OBJ: ObjectId<'static> = ObjectId {
        bucket: b"photos",
        key: b"2026/cat.jpg",
        version: b"v1",
    };

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 + i / 251) as u8).collect()
    }

    struct Stream {
        key: DataKey,
        nonce: [u8; NONCE_LEN],
        plain: Vec<u8>,
        sealed: Vec<u8>,
    }

    fn seal(n: usize, part: u32) -> Stream {
        let key = DataKey::generate();
        let nonce = nonce_base();
        let plain = data(n);
        let sealed = Sealer::new(&key, &nonce, &OBJ, part, Layout::DEFAULT)
            .seal_all(&plain)
            .unwrap();
        Stream {
            key,
            nonce,
            plain,
            sealed,
        }
    }

    fn opener(s: &Stream, object: &ObjectId<'_>, part: u32, plain_len: u64) -> Opener {
        Opener::new(&s.key, &s.nonce, object, part, Layout::DEFAULT, plain_len)
    }

    #[test]
    fn sealing_a_whole_stream_with_a_used_sealer_is_an_error_not_a_panic() {
        let (key, nonce) = (DataKey::generate(), nonce_base());
        let sealer = || Sealer::new(&key, &nonce, &OBJ, 0, Layout::DEFAULT);
        let mut done = sealer();
        done.seal(&mut [0u8; TAG_LEN], 0, true).unwrap();
        assert!(matches!(done.seal_all(&data(10)), Err(SseError::Misuse(_))));
        let mut begun = sealer();
        let mut full = vec![0u8; PACKAGE_SIZE + TAG_LEN];
        begun.seal(&mut full, PACKAGE_SIZE, false).unwrap();
        assert!(matches!(begun.seal_all(&[]), Err(SseError::Misuse(_))));
    }

    #[test]
    fn streams_of_every_boundary_size_round_trip() {
        for n in [
            0,
            1,
            64 * KI - 1,
            64 * KI,
            64 * KI + 1,
            3 * 1024 * KI + 17,
            5 * 1024 * KI,
        ] {
            let s = seal(n, SINGLE_PART);
            assert_eq!(
                s.sealed.len() as u64,
                Layout::DEFAULT.ciphertext_len(n as u64),
                "{n}"
            );
            assert_eq!(
                Layout::DEFAULT.plaintext_len(s.sealed.len() as u64),
                Ok(n as u64)
            );
            if n > 0 {
                assert_ne!(&s.sealed[..n.min(64)], &s.plain[..n.min(64)], "{n}");
            }
            let back = opener(&s, &OBJ, SINGLE_PART, n as u64)
                .open_all(&s.sealed)
                .unwrap();
            assert!(back == s.plain, "size {n}");
        }
    }

    #[test]
    fn packages_opened_with_their_tags_apart_give_contiguous_plaintext() {
        let n = 3 * 64 * KI + 5;
        let s = seal(n, 4);
        let o = opener(&s, &OBJ, 4, n as u64);
        let mut out = Vec::new();
        let mut at = 0;
        for i in 0..o.packages() {
            let len = o.sealed_len(i).unwrap() - TAG_LEN;
            let start = out.len();
            out.extend_from_slice(&s.sealed[at..at + len]);
            let tag: [u8; TAG_LEN] = s.sealed[at + len..at + len + TAG_LEN].try_into().unwrap();
            o.open_detached(i, &mut out[start..], tag).unwrap();
            at += len + TAG_LEN;
        }
        assert!(out == s.plain);
        // A flipped tag bit, another index or a short buffer: refused.
        let len = o.sealed_len(0).unwrap() - TAG_LEN;
        let mut tag: [u8; TAG_LEN] = s.sealed[len..len + TAG_LEN].try_into().unwrap();
        let mut c = s.sealed[..len].to_vec();
        assert!(o.open_detached(1, &mut c.clone(), tag).is_err());
        assert!(o.open_detached(0, &mut c[..len - 1], tag).is_err());
        tag[3] ^= 1;
        assert_eq!(o.open_detached(0, &mut c, tag), Err(SseError::DoesNotOpen));
    }

    #[test]
    fn lengths_map_both_ways_and_torn_lengths_are_refused() {
        let l = Layout::DEFAULT;
        let p = PACKAGE_SIZE as u64;
        assert_eq!(l.ciphertext_len(0), 16);
        assert_eq!(l.ciphertext_len(1), 17);
        assert_eq!(l.ciphertext_len(p), p + 16);
        assert_eq!(l.ciphertext_len(p + 1), p + 1 + 32);
        for n in (0..4 * p + 3).step_by(997).chain([p - 1, p, p + 1, 2 * p]) {
            assert_eq!(l.plaintext_len(l.ciphertext_len(n)), Ok(n), "{n}");
        }
        // Less than a tag, or a tag alone after full packages.
        for bad in [0, 1, 15, p + 16 + 1, p + 16 + 15, p + 16 + 16] {
            assert!(l.plaintext_len(bad).is_err(), "{bad}");
        }
        assert!(Layout::from_log2(11).is_err() && Layout::from_log2(25).is_err());
        assert_eq!(Layout::from_log2(16), Ok(Layout::DEFAULT));
    }

    #[test]
    fn ranges_across_package_boundaries_decrypt_only_their_packages() {
        let n = 3 * PACKAGE_SIZE + 1000;
        let s = seal(n, SINGLE_PART);
        let o = opener(&s, &OBJ, SINGLE_PART, n as u64);
        let p = PACKAGE_SIZE as u64;
        let cases = [
            (0, 1),
            (0, n as u64),
            (p - 1, p + 1),
            (p, 2 * p),
            (p - 5, 3 * p + 7),
            (3 * p, n as u64),
            (n as u64 - 1, n as u64),
            (100, 200),
        ];
        for (start, end) in cases {
            let r = Layout::DEFAULT.range(n as u64, start, end).unwrap();
            assert_eq!(r.first, start / p);
            assert_eq!(r.end, (end - 1) / p + 1);
            let got = o
                .open_range(
                    &r,
                    &s.sealed[r.cipher_start as usize..r.cipher_end as usize],
                )
                .unwrap();
            assert!(
                got == s.plain[start as usize..end as usize],
                "{start}..{end}"
            );
        }
        for (start, end) in [(0, 0), (5, 5), (0, n as u64 + 1), (n as u64, n as u64 + 1)] {
            assert!(Layout::DEFAULT.range(n as u64, start, end).is_err());
        }
    }

    #[test]
    fn a_flipped_bit_anywhere_fails() {
        let n = 2 * PACKAGE_SIZE + 10;
        let s = seal(n, SINGLE_PART);
        let o = opener(&s, &OBJ, SINGLE_PART, n as u64);
        let len = s.sealed.len();
        for at in [
            0,
            1,
            100,
            PACKAGE_SIZE - 1,
            PACKAGE_SIZE + 3,
            PACKAGE_SIZE + 16,
            len - 17,
            len - 1,
        ] {
            let mut t = s.sealed.clone();
            t[at] ^= 0x04;
            assert_eq!(o.open_all(&t), Err(SseError::DoesNotOpen), "byte {at}");
        }
    }

    #[test]
    fn dropping_the_last_packages_fails_even_with_a_matching_length() {
        let n = 3 * PACKAGE_SIZE + 10;
        let s = seal(n, SINGLE_PART);
        let sealed = PACKAGE_SIZE + 16;
        // The record still says n bytes: the length check refuses.
        let cut = &s.sealed[..2 * sealed];
        assert!(opener(&s, &OBJ, SINGLE_PART, n as u64)
            .open_all(cut)
            .is_err());
        // The record was altered to match: package 1 was sealed as not last.
        let shorter = opener(&s, &OBJ, SINGLE_PART, 2 * PACKAGE_SIZE as u64);
        assert_eq!(shorter.open_all(cut), Err(SseError::DoesNotOpen));
        // Dropping a whole package from the middle and the tail's length.
        let mut spliced = s.sealed[..sealed].to_vec();
        spliced.extend_from_slice(&s.sealed[2 * sealed..]);
        let o = opener(&s, &OBJ, SINGLE_PART, 2 * PACKAGE_SIZE as u64 + 10);
        assert_eq!(o.open_all(&spliced), Err(SseError::DoesNotOpen));
    }

    #[test]
    fn reordered_packages_fail() {
        let n = 3 * PACKAGE_SIZE;
        let s = seal(n, SINGLE_PART);
        let p = PACKAGE_SIZE + 16;
        let mut t = s.sealed.clone();
        t[..p].copy_from_slice(&s.sealed[p..2 * p]);
        t[p..2 * p].copy_from_slice(&s.sealed[..p]);
        let o = opener(&s, &OBJ, SINGLE_PART, n as u64);
        assert_eq!(o.open_all(&t), Err(SseError::DoesNotOpen));
        // Each package opens at its own index only.
        let mut one = s.sealed[p..2 * p].to_vec();
        assert!(o.open(0, &mut one).is_err());
        let mut one = s.sealed[p..2 * p].to_vec();
        assert!(o.open(1, &mut one).is_ok());
    }

    #[test]
    fn a_package_moved_between_objects_or_parts_fails() {
        let n = PACKAGE_SIZE;
        // Same data key and nonce base (the worst case), other identity.
        let key = DataKey::generate();
        let nonce = nonce_base();
        let plain = data(n);
        let seal_as = |obj: &ObjectId<'_>, part| {
            Sealer::new(&key, &nonce, obj, part, Layout::DEFAULT)
                .seal_all(&plain)
                .unwrap()
        };
        let a = seal_as(&OBJ, 1);
        let open_as = |obj: &ObjectId<'_>, part, c: &[u8]| {
            Opener::new(&key, &nonce, obj, part, Layout::DEFAULT, n as u64).open_all(c)
        };
        assert!(open_as(&OBJ, 1, &a).is_ok());
        assert_eq!(open_as(&OBJ, 2, &a), Err(SseError::DoesNotOpen));
        assert_eq!(open_as(&OBJ, SINGLE_PART, &a), Err(SseError::DoesNotOpen));
        for other in [
            ObjectId {
                bucket: b"photo",
                ..OBJ
            },
            ObjectId {
                key: b"2026/dog.jpg",
                ..OBJ
            },
            ObjectId {
                version: b"v2",
                ..OBJ
            },
            ObjectId {
                version: b"",
                ..OBJ
            },
            // Concatenations that would collide without length prefixes.
            ObjectId {
                bucket: b"photos2026",
                key: b"/cat.jpg",
                ..OBJ
            },
        ] {
            assert_eq!(
                open_as(&other, 1, &a),
                Err(SseError::DoesNotOpen),
                "{other:?}"
            );
        }
        // Another object's data key.
        let b = seal(n, 1);
        assert_eq!(open_as(&OBJ, 1, &b.sealed), Err(SseError::DoesNotOpen));
    }

    #[test]
    fn the_sealer_enforces_full_packages_and_one_last() {
        let key = DataKey::generate();
        let mut s = Sealer::new(&key, &nonce_base(), &OBJ, 0, Layout::DEFAULT);
        let mut buf = vec![0u8; PACKAGE_SIZE + 16];
        assert!(s.seal(&mut buf, 10, false).is_err());
        assert!(s
            .seal(&mut buf[..PACKAGE_SIZE + 15], PACKAGE_SIZE, false)
            .is_err());
        assert!(s.seal(&mut buf, PACKAGE_SIZE + 1, true).is_err());
        assert_eq!(s.seal(&mut buf, PACKAGE_SIZE, false), Ok(PACKAGE_SIZE + 16));
        assert!(s.seal(&mut buf, 0, true).is_err());
        assert_eq!(s.seal(&mut buf, 5, true), Ok(21));
        assert!(s.finished());
        assert!(s.seal(&mut buf, 5, true).is_err());
        assert_eq!(s.packages(), 2);
    }
}
