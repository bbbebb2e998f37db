//! Encryption at rest inside the engine: a PUT or a part is sealed as it
//! streams to the stripes (on the owner core, where the version id is
//! known), and a read opens only the packages its range needs. The engine
//! stores ciphertext and knows plaintext sizes; the S3 layer decides who
//! gets which data key (`s3::sse`). Formats: `sse::package`, docs/ENCRYPTION.md.

use bytes::{Bytes, BytesMut};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::sse::header::{Mode, SseHeader};
use crate::sse::key::{DataKey, NONCE_LEN, TAG_LEN};
use crate::sse::package::{Layout, ObjectId, Opener, PackageRange, Sealer, SINGLE_PART};

use super::layout::STRIPE_DATA;
use super::meta::{sse_header, Attr, DataLoc, ObjectMeta};
use super::{EngineError, Result};

/// How a new object is encrypted: its data key in the clear (never stored)
/// and the header its record keeps (mode, wrapped key, nonce base).
#[derive(Clone, Debug)]
pub struct Seal {
    pub key: DataKey,
    pub header: SseHeader,
    /// The key is the bucket's, the same for every version sealed under
    /// its KMS key (`DataKeys::derive_data_key`): in a deduplicating
    /// bucket the version's stripes may then be shared contents.
    pub shared: bool,
}

impl Seal {
    /// The seal of one content of a version sealed with this (shared) key:
    /// its own key, derived from this one and the content's id, so equal
    /// stripes seal to equal contents and a content's key opens nothing
    /// else. The nonce base is fixed: each content key seals one plaintext.
    pub fn for_content(&self, id: &super::meta::ContentId) -> Seal {
        Seal {
            key: content_key(&self.key, id),
            header: SseHeader {
                nonce_base: [0; NONCE_LEN],
                ..self.header.clone()
            },
            shared: false,
        }
    }
}

/// The key a content is sealed with, from its version's data key.
pub fn content_key(version_key: &DataKey, id: &super::meta::ContentId) -> DataKey {
    let mut h = blake3::Hasher::new_keyed(version_key.expose());
    h.update(b"cairn 2026-12 dedup content key");
    h.update(id);
    DataKey::from_bytes(*h.finalize().as_bytes())
}

/// A new version's (or upload's) attributes with its encryption header.
pub fn with_header(mut attrs: Vec<Attr>, seal: Option<&Seal>) -> Vec<Attr> {
    attrs.retain(|a| !matches!(a, Attr::Sse(_)));
    attrs.extend(seal.map(|s| Attr::Sse(s.header.encode())));
    attrs
}

/// Packages opened into one buffer: one allocation per this many packages,
/// none per package.
const BATCH: usize = 16;

/// The identity every package of a version (or of an upload's part) is
/// bound to: bucket, key and the version id (the upload id for parts).
pub fn object_id<'a>(bucket: &'a str, key: &'a str, version: &'a [u8; 16]) -> ObjectId<'a> {
    ObjectId {
        bucket: bucket.as_bytes(),
        key: key.as_bytes(),
        version,
    }
}

/// The ETag of sealed content: the plaintext's MD5, as S3 gives SSE-S3 and
/// SSE-KMS objects; for SSE-C a value keyed by the data key, so a record
/// never holds a hash of plaintext the server may not know.
pub fn etag(mode: Mode, key: &DataKey, md5: [u8; 16]) -> String {
    if mode != Mode::Customer {
        return hex::encode(md5);
    }
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key.expose())
        .expect("HMAC takes a key of any length");
    m.update(b"cairn-ssec-etag-v1");
    m.update(&md5);
    hex::encode(&m.finalize().into_bytes()[..16])
}

/// Seals a stream a package at a time where the stripe builder lays it
/// out (`write::StripeBuilder`), in place: it tracks where the package being
/// filled starts in the stripe and how much of it has arrived. A package is
/// sealed once the next one begins or the body ends, since only then is it
/// known whether it is the last.
pub struct StreamSealer {
    sealer: Sealer,
    /// Plaintext bytes per package.
    size: usize,
    /// Where the package being filled starts in the stripe, and its
    /// plaintext bytes so far.
    at: usize,
    fill: usize,
    /// For a package that straddles two shard buffers; kept for reuse.
    scratch: Vec<u8>,
}

/// The sealer of one stream: a version (`id` its version id, `part`
/// [`SINGLE_PART`]) or an upload's part (`id` the upload id).
pub fn sealer(
    key: &DataKey,
    nonce_base: &[u8; NONCE_LEN],
    (bucket, object_key, id): (&str, &str, u128),
    part: u32,
    layout: Layout,
) -> Sealer {
    let id = id.to_be_bytes();
    Sealer::new(
        key,
        nonce_base,
        &object_id(bucket, object_key, &id),
        part,
        layout,
    )
}

impl StreamSealer {
    pub fn new(sealer: Sealer) -> StreamSealer {
        StreamSealer {
            size: sealer.layout().package_size(),
            sealer,
            at: 0,
            fill: 0,
            scratch: Vec::new(),
        }
    }

    pub fn sealed_package_size(&self) -> usize {
        self.size + TAG_LEN
    }

    pub fn package_full(&self) -> bool {
        self.fill == self.size
    }

    /// True once the last package is sealed.
    pub fn finished(&self) -> bool {
        self.sealer.finished()
    }

    /// Of `n` plaintext bytes offered, how many the package being filled
    /// takes (counted as arrived).
    pub fn take(&mut self, n: usize) -> usize {
        let n = n.min(self.size - self.fill);
        self.fill += n;
        n
    }

    /// Where the package being filled starts in the stripe, and its length.
    pub fn pending(&self) -> (usize, usize) {
        (self.at, self.fill)
    }

    /// Seals the package being filled in `buf` (its plaintext, then room for
    /// the tag); returns where the next one starts in the stripe.
    pub fn seal(&mut self, buf: &mut [u8], last: bool) -> Result<usize> {
        let n = self
            .sealer
            .seal(buf, self.fill, last)
            .map_err(|e| EngineError::Internal(format!("sealing: {e}")))?;
        self.at += n;
        self.fill = 0;
        Ok(self.at)
    }

    /// A buffer of `n` plaintext bytes and a tag's room.
    pub fn scratch(&mut self, n: usize) -> Vec<u8> {
        let mut v = std::mem::take(&mut self.scratch);
        v.clear();
        v.resize(n + TAG_LEN, 0);
        v
    }

    pub fn keep_scratch(&mut self, v: Vec<u8>) {
        self.scratch = v;
    }

    /// The stripe was handed over: the next package starts the next one.
    pub fn next_stripe(&mut self) {
        debug_assert_eq!(self.fill, 0, "a package split across stripes");
        self.at = 0;
    }
}

/// The sealed layout of a version's data: its header's package layout, or
/// None when the version is stored in the clear.
pub fn layout_of(meta: &ObjectMeta) -> Result<Option<Layout>> {
    match sse_header(&meta.attrs) {
        None => Ok(None),
        Some(Ok(h)) => Ok(Some(h.layout)),
        Some(Err(e)) => Err(EngineError::Internal(format!("encryption header: {e}"))),
    }
}

/// Stored bytes per stripe: [`STRIPE_DATA`] in the clear; for a sealed
/// stream the same number of packages, sealed, so a stripe holds whole
/// packages and a 1 MiB object is still one stripe (not a second one for
/// its tags).
pub fn stripe_data(layout: Option<Layout>) -> usize {
    match layout {
        None => STRIPE_DATA,
        Some(l) => (STRIPE_DATA / l.package_size()).max(1) * l.sealed_package_size(),
    }
}

/// Bytes stored for `plain` bytes of one stream (an object or a part).
pub fn stored_len(layout: Option<Layout>, plain: u64) -> u64 {
    layout.map_or(plain, |l| l.ciphertext_len(plain))
}

/// One sealed stream of a version: the whole object, or one part.
struct Stream {
    part: u32,
    plain_len: u64,
    nonce_base: [u8; NONCE_LEN],
    /// Offset of its first stored byte in the version's stored bytes.
    stored_start: u64,
    /// Offset of its first plaintext byte in the object.
    plain_start: u64,
}

/// Opens the packages a read of `[start, end)` of the plaintext needs, in
/// the order the reader fetches their stored bytes. Ciphertext is copied
/// once (the fetched records are shared with the read cache) into a buffer
/// where it is opened in place with its tag held apart, so the plaintext of
/// consecutive packages is contiguous and goes out in large pieces.
pub struct Unsealer {
    key: DataKey,
    layout: Layout,
    /// The version id (single PUT) or the upload id (parts) as bytes.
    id: [u8; 16],
    bucket: String,
    object_key: String,
    streams: Vec<Stream>,
    start: u64,
    end: u64,
    /// The stream being opened, its range and the next package.
    at: usize,
    opener: Option<(Opener, PackageRange, u64)>,
    /// Opened plaintext not yet handed out, then the ciphertext of the
    /// package being gathered (from `pkg_at`).
    out: BytesMut,
    pkg_at: usize,
    tag: [u8; TAG_LEN],
    tag_len: usize,
    /// Stored bytes of the span not pushed yet: a small read reserves no
    /// more than it needs (opened pieces may outlive it in the read cache).
    left: u64,
}

impl Unsealer {
    /// For `meta` read over plaintext `[start, end)` (non-empty) with its
    /// data key. Returns it and the stored span the reader must fetch.
    pub fn new(
        meta: &ObjectMeta,
        bucket: &str,
        object_key: &str,
        key: DataKey,
        (start, end): (u64, u64),
    ) -> Result<(Unsealer, (u64, u64))> {
        let header = match sse_header(&meta.attrs) {
            Some(Ok(h)) => h,
            Some(Err(e)) => return Err(EngineError::Internal(format!("encryption header: {e}"))),
            None => return Err(EngineError::Internal("unsealing a plain version".into())),
        };
        let layout = header.layout;
        let mut streams = Vec::new();
        let id = match &meta.data {
            DataLoc::Parts { upload, parts } => {
                let nonces = meta
                    .attrs
                    .iter()
                    .find_map(|a| match a {
                        Attr::PartNonces(n) => Some(n),
                        _ => None,
                    })
                    .ok_or_else(|| EngineError::Internal("sealed parts without nonces".into()))?;
                let (mut stored, mut plain) = (0, 0);
                for p in parts {
                    let nonce_base = nonces
                        .iter()
                        .find(|(n, _)| *n == p.number)
                        .map(|(_, b)| *b)
                        .ok_or_else(|| {
                            EngineError::Internal(format!("part {} has no nonce", p.number))
                        })?;
                    streams.push(Stream {
                        part: p.number,
                        plain_len: p.size,
                        nonce_base,
                        stored_start: stored,
                        plain_start: plain,
                    });
                    stored += layout.ciphertext_len(p.size);
                    plain += p.size;
                }
                upload.to_be_bytes()
            }
            _ => {
                streams.push(Stream {
                    part: SINGLE_PART,
                    plain_len: meta.size,
                    nonce_base: header.nonce_base,
                    stored_start: 0,
                    plain_start: 0,
                });
                meta.version.to_be_bytes()
            }
        };
        debug_assert!(start < end && end <= meta.size);
        let first = streams
            .iter()
            .rposition(|s| s.plain_start <= start)
            .unwrap_or(0);
        let last = streams
            .iter()
            .rposition(|s| s.plain_start < end)
            .unwrap_or(first);
        let span = |s: &Stream, a: u64, b: u64| -> Result<PackageRange> {
            layout
                .range(s.plain_len, a - s.plain_start, b - s.plain_start)
                .map_err(|e| EngineError::Internal(format!("sealed range: {e}")))
        };
        let f = &streams[first];
        let l = &streams[last];
        let stored_start =
            f.stored_start + span(f, start, end.min(f.plain_start + f.plain_len))?.cipher_start;
        let stored_end = l.stored_start + span(l, start.max(l.plain_start), end)?.cipher_end;
        let u = Unsealer {
            key,
            layout,
            id,
            bucket: bucket.to_owned(),
            object_key: object_key.to_owned(),
            streams,
            start,
            end,
            at: first,
            opener: None,
            out: BytesMut::new(),
            pkg_at: 0,
            tag: [0; TAG_LEN],
            tag_len: 0,
            left: stored_end - stored_start,
        };
        Ok((u, (stored_start, stored_end)))
    }

    /// The next package's sealed length, opening the next stream as needed;
    /// None when the range is done.
    fn next_package(&mut self) -> Result<Option<usize>> {
        loop {
            if let Some((o, r, i)) = &self.opener {
                if *i < r.end {
                    return Ok(o.sealed_len(*i));
                }
                self.opener = None;
                self.at += 1;
            }
            let Some(s) = self.streams.get(self.at) else {
                return Ok(None);
            };
            if s.plain_start >= self.end {
                return Ok(None);
            }
            let a = self.start.max(s.plain_start) - s.plain_start;
            let b = self.end.min(s.plain_start + s.plain_len) - s.plain_start;
            let range = self
                .layout
                .range(s.plain_len, a, b)
                .map_err(|e| EngineError::Internal(format!("sealed range: {e}")))?;
            let id = object_id(&self.bucket, &self.object_key, &self.id);
            let opener = Opener::new(
                &self.key,
                &s.nonce_base,
                &id,
                s.part,
                self.layout,
                s.plain_len,
            );
            self.opener = Some((opener, range, range.first));
        }
    }

    /// Takes stored bytes in, in the order of the span [`Unsealer::new`]
    /// gave, opening each package once all of it is here. `Err` when one
    /// does not open: the stored bytes are not what was sealed.
    pub fn push(&mut self, mut stored: &[u8]) -> Result<()> {
        while !stored.is_empty() {
            let Some(n) = self.next_package()? else {
                return Err(EngineError::Internal(
                    "more stored bytes than the encrypted range".into(),
                ));
            };
            let cipher_len = n - TAG_LEN;
            let have = self.out.len() - self.pkg_at;
            if have < cipher_len {
                let take = (cipher_len - have).min(stored.len());
                if self.out.capacity() - self.out.len() < take {
                    let batch = BATCH * self.layout.package_size();
                    let left = usize::try_from(self.left).unwrap_or(usize::MAX);
                    self.out.reserve(batch.min(left).max(take));
                }
                self.out.extend_from_slice(&stored[..take]);
                stored = &stored[take..];
                self.left = self.left.saturating_sub(take as u64);
                continue;
            }
            let take = (TAG_LEN - self.tag_len).min(stored.len());
            self.left = self.left.saturating_sub(take as u64);
            self.tag[self.tag_len..self.tag_len + take].copy_from_slice(&stored[..take]);
            self.tag_len += take;
            stored = &stored[take..];
            if self.tag_len == TAG_LEN {
                self.open_package(cipher_len)?;
            }
        }
        Ok(())
    }

    /// Opens the gathered package and keeps the part of it the range wants.
    fn open_package(&mut self, cipher_len: usize) -> Result<()> {
        let Some((opener, range, i)) = self.opener.as_mut() else {
            return Err(EngineError::Internal("no package being opened".into()));
        };
        let at = self.pkg_at;
        opener
            .open_detached(*i, &mut self.out[at..at + cipher_len], self.tag)
            .map_err(|e| {
                EngineError::Internal(format!("stored data of an encrypted object: {e}"))
            })?;
        let size = self.layout.package_size() as u64;
        let from = if *i == range.first { range.skip } else { 0 };
        // Where the range ends, relative to this package's first byte.
        let range_end = range.first * size + range.skip as u64 + range.len;
        let until = (range_end.saturating_sub(*i * size) as usize)
            .min(cipher_len)
            .max(from);
        if from > 0 {
            self.out.copy_within(at + from..at + until, at);
        }
        self.out.truncate(at + until - from);
        self.pkg_at = self.out.len();
        self.tag_len = 0;
        *i += 1;
        Ok(())
    }

    /// The plaintext opened so far and not yet handed out.
    pub fn take_ready(&mut self) -> Option<Bytes> {
        if self.pkg_at == 0 {
            return None;
        }
        let n = self.pkg_at;
        self.pkg_at = 0;
        Some(self.out.split_to(n).freeze())
    }

    /// True once every package of the range has been opened.
    pub fn done(&mut self) -> Result<bool> {
        Ok(self.next_package()?.is_none())
    }
}
