//! The write path, run by the partition's owner core:
//!
//! 1. stream the body in; small objects (at most `inline_max`) are kept whole,
//!    larger ones are cut into ~1 MiB stripes, erasure coded, and each shard
//!    record is appended to its drive's segment (all drives concurrently, at
//!    most two stripes in flight per upload);
//! 2. fdatasync every touched segment (group commit with concurrent writers);
//! 3. under the key's lock: take a sequence number, append the commit record
//!    (metadata, shard locations, inline data) to m+1 drives, fdatasync;
//! 4. apply the index change on the companion thread; acknowledge.
//!
//! A crash before step 4 leaves records no index entry refers to: invisible,
//! and reclaimed by compaction.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use bytes::Bytes;
use futures_util::future::join_all;
use md5::{Digest, Md5};

use crate::runtime::buf::{align_up, AlignedBuf};
use crate::runtime::channel::oneshot;

use super::class::{self, ClassId};
use super::codec::ErasureCodec;
use super::index::{object_key, Holder, Mutation};
use super::invariant::invariant;
use super::layout::Layout;
use super::lock;
use super::meta::{
    encode_commit_payload, DataLoc, IndexEntry, Locked, MetaEdit, ObjectMeta, RecordLoc, Stripes,
    VersionSel,
};
use super::outbox::{Change, ChangeEvents};
use super::rebuild::encode_tombstone;
use super::record::{Kind, RecordHeader, FIXED_LEN, FORMAT_VERSION};
use super::sealing::{self, StreamSealer};
use super::segment::{Appended, Class};
use super::{
    now_ms, BodyChunk, BodySource, DeleteOutcome, Engine, EngineError, ObjectInfo, PutOptions,
    Result, Versioning,
};
use crate::notify::event::Origin;
use crate::sse::key::TAG_LEN;
use crate::sse::package::SINGLE_PART;

/// Most index changes applied in one batch.
const INDEX_BATCH_MAX: usize = 1024;

type IndexReply = oneshot::Sender<std::result::Result<(), IndexFailure>>;

/// Why an index batch failed, for every waiter of the batch.
#[derive(Clone, Debug)]
pub(crate) enum IndexFailure {
    /// No space on the index's drive: the transaction was aborted.
    Full(String),
    Other(String),
}

/// Index changes waiting for the companion thread.
#[derive(Default)]
pub struct IndexQueue {
    pending: RefCell<VecDeque<(u16, Mutation, IndexReply)>>,
    busy: std::cell::Cell<bool>,
}

impl IndexQueue {
    pub fn busy(&self) -> bool {
        self.busy.get()
    }
}

/// ETags a conditional write names: `*`, or a list (unquoted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ETags {
    Any,
    List(Vec<String>),
}

impl ETags {
    fn matches(&self, etag: &str) -> bool {
        match self {
            ETags::Any => true,
            ETags::List(l) => l.iter().any(|t| t == etag),
        }
    }
}

/// The precondition of a conditional write (PutObject, CopyObject,
/// CompleteMultipartUpload), checked against the key's current version
/// (a delete marker counts as none) under the key lock just before the
/// commit record is written: of racing writes conditioned on the same state
/// exactly one can win.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteCondition {
    /// `If-Match`: a current version whose ETag is listed.
    pub if_match: Option<ETags>,
    /// `If-None-Match`: no current version, or one whose ETag is not listed.
    pub if_none_match: Option<ETags>,
}

impl WriteCondition {
    pub fn holds(&self, current: Option<&str>) -> bool {
        let matched = |set: &ETags| current.is_some_and(|e| set.matches(e));
        self.if_match.as_ref().is_none_or(matched)
            && !self.if_none_match.as_ref().is_some_and(matched)
    }
}

/// Stripes of one upload being written while the next is filled.
const STRIPES_IN_FLIGHT: usize = 2;

/// S3 keys: 1 to 1,024 bytes of UTF-8. NUL is refused because XML listings
/// cannot carry it and the index uses it as a separator.
pub fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(EngineError::InvalidKey("empty key"));
    }
    if key.len() > 1024 {
        return Err(EngineError::KeyTooLong);
    }
    if key.as_bytes().contains(&0) {
        return Err(EngineError::InvalidKey("key contains NUL"));
    }
    Ok(())
}

/// Serialises the commit phase of writes to one key on its owner core, so the
/// index applies a key's changes in sequence-number order.
#[derive(Default)]
pub struct KeyLocks {
    held: RefCell<HashMap<Vec<u8>, VecDeque<oneshot::Sender<()>>>>,
}

pub struct KeyGuard<'a> {
    locks: &'a KeyLocks,
    key: Vec<u8>,
}

impl KeyLocks {
    pub async fn lock(&self, key: Vec<u8>) -> KeyGuard<'_> {
        let wait = {
            let mut held = self.held.borrow_mut();
            match held.get_mut(&key) {
                Some(q) => {
                    let (tx, rx) = oneshot::channel();
                    q.push_back(tx);
                    Some(rx)
                }
                None => {
                    held.insert(key.clone(), VecDeque::new());
                    None
                }
            }
        };
        if let Some(rx) = wait {
            // The holder hands the lock over by sending; it never drops the
            // sender without sending.
            let _ = rx.await;
        }
        KeyGuard { locks: self, key }
    }
}

impl KeyGuard<'_> {
    /// Whether this is the lock of `bucket`/`key` (`object_key` of them),
    /// compared in place.
    pub fn covers(&self, bucket: &str, key: &str) -> bool {
        let (b, k) = (bucket.as_bytes(), key.as_bytes());
        self.key.len() == b.len() + 1 + k.len()
            && self.key.starts_with(b)
            && self.key[b.len()] == 0
            && self.key.ends_with(k)
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        let mut held = self.locks.held.borrow_mut();
        if let Some(q) = held.get_mut(&self.key) {
            while let Some(next) = q.pop_front() {
                if next.send(()).is_ok() {
                    return;
                }
            }
            held.remove(&self.key);
        }
    }
}

/// Per-partition sequence numbers: the epoch (bumped at every start) in the
/// high half, so records of a crashed run never collide with later ones.
#[derive(Default)]
pub struct Sequencer {
    next: RefCell<HashMap<u16, u32>>,
}

impl Sequencer {
    pub fn next(&self, partition: u16, epoch: u32) -> u64 {
        let mut m = self.next.borrow_mut();
        let c = m.entry(partition).or_insert(0);
        // 2^32 numbers per partition per run; a restart takes the next epoch.
        invariant!(
            *c < u32::MAX,
            "partition {partition} used up its sequence numbers of epoch {epoch}"
        );
        *c += 1;
        ((epoch as u64) << 32) | *c as u64
    }
}

/// Fills one stripe's shard record buffers straight from the body: data byte
/// j of the stripe goes to shard j / shard_len, so no intermediate copy. An
/// encrypted body is sealed there too, a package at a time, in place: its
/// plaintext is copied once, as a clear body is.
struct StripeBuilder {
    layout: Layout,
    hdr: usize,
    /// Bytes per stripe.
    stripe_data: usize,
    shard_len: usize,
    bufs: Vec<AlignedBuf>,
    filled: usize,
    seal: Option<StreamSealer>,
}

impl StripeBuilder {
    fn new(
        layout: Layout,
        hdr: usize,
        stripe_data: usize,
        seal: Option<StreamSealer>,
    ) -> StripeBuilder {
        let shard_len = layout.shard_len(stripe_data);
        debug_assert!(seal
            .as_ref()
            .is_none_or(|s| stripe_data.is_multiple_of(s.sealed_package_size())));
        StripeBuilder {
            layout,
            hdr,
            stripe_data,
            shard_len,
            bufs: Self::pooled(layout, hdr, shard_len),
            filled: 0,
            seal,
        }
    }

    /// Recycled buffers for full stripes: every byte of them that lands on
    /// disk is written before use (data, parity, header; `take` zeroes the
    /// rest).
    fn pooled(layout: Layout, hdr: usize, shard_len: usize) -> Vec<AlignedBuf> {
        (0..layout.total())
            .map(|_| AlignedBuf::pooled(hdr + shard_len))
            .collect()
    }

    fn alloc(layout: Layout, hdr: usize, shard_len: usize) -> Vec<AlignedBuf> {
        (0..layout.total())
            .map(|_| AlignedBuf::zeroed(hdr + shard_len))
            .collect()
    }

    /// Copies as much of `data` as fits; returns the bytes taken. A sealed
    /// stream's package is sealed once the next one's first byte arrives
    /// (only then is it known not to be the last).
    fn push(&mut self, data: &[u8]) -> Result<usize> {
        let mut taken = 0;
        while taken < data.len() {
            if self.seal.as_ref().is_some_and(StreamSealer::package_full) {
                self.seal_package(false)?;
            }
            if self.filled == self.stripe_data {
                break;
            }
            let shard = self.filled / self.shard_len;
            let off = self.filled % self.shard_len;
            let mut n = (data.len() - taken)
                .min(self.shard_len - off)
                .min(self.stripe_data - self.filled);
            if let Some(s) = self.seal.as_mut() {
                n = s.take(n);
            }
            let dst = self.hdr + off;
            self.bufs[shard].full_mut()[dst..dst + n].copy_from_slice(&data[taken..taken + n]);
            self.filled += n;
            taken += n;
        }
        Ok(taken)
    }

    /// The body ended: seals a sealed stream's last package.
    fn finish(&mut self) -> Result<()> {
        if self.seal.as_ref().is_some_and(|s| !s.finished()) {
            self.seal_package(true)?;
        }
        Ok(())
    }

    /// Seals the package being filled where it lies in the shard buffers,
    /// through a scratch copy only when it straddles two of them.
    fn seal_package(&mut self, last: bool) -> Result<()> {
        let (hdr, sl) = (self.hdr, self.shard_len);
        let bufs = &mut self.bufs;
        let Some(s) = self.seal.as_mut() else {
            return Err(EngineError::Internal(
                "sealing a stream in the clear".into(),
            ));
        };
        let (at, n) = s.pending();
        debug_assert_eq!(self.filled, at + n);
        let (shard, off) = (at / sl, at % sl);
        let end = if off + n + TAG_LEN <= sl {
            s.seal(
                &mut bufs[shard].full_mut()[hdr + off..hdr + off + n + TAG_LEN],
                last,
            )?
        } else {
            let mut scratch = s.scratch(n);
            stripe_copy(bufs, hdr, sl, at, &mut scratch[..n], false);
            let end = s.seal(&mut scratch, last)?;
            stripe_copy(bufs, hdr, sl, at, &mut scratch, true);
            s.keep_scratch(scratch);
            end
        };
        debug_assert!(end <= self.stripe_data);
        self.filled = end;
        Ok(())
    }

    fn is_full(&self) -> bool {
        self.filled == self.stripe_data
    }

    /// Hands over the filled buffers (re-laid out to the shorter shard length
    /// if this is a short last stripe) with the stripe's data length and shard
    /// length, and starts a fresh stripe.
    fn take(&mut self) -> (Vec<AlignedBuf>, usize, usize) {
        let len = self.filled;
        let sl = self.layout.shard_len(len);
        let fresh = Self::pooled(self.layout, self.hdr, self.shard_len);
        let mut bufs = std::mem::replace(&mut self.bufs, fresh);
        self.filled = 0;
        if let Some(s) = self.seal.as_mut() {
            s.next_stripe();
        }
        if sl == self.shard_len {
            // Recycled buffers: zero what data did not fill (the last data
            // shard's tail when k * shard_len > a stripe) and the padding.
            let k = self.layout.data as usize;
            for (i, b) in bufs.iter_mut().enumerate() {
                let full = b.full_mut();
                let used = if i < k {
                    len.saturating_sub(i * sl).min(sl)
                } else {
                    sl
                };
                full[self.hdr + used..].fill(0);
            }
        }
        if sl != self.shard_len {
            let mut short = Self::alloc(self.layout, self.hdr, sl);
            let mut j = 0;
            while j < len {
                let (src_s, src_o) = (j / self.shard_len, j % self.shard_len);
                let (dst_s, dst_o) = (j / sl, j % sl);
                let n = (self.shard_len - src_o).min(sl - dst_o).min(len - j);
                let src = &bufs[src_s].as_slice()[self.hdr + src_o..self.hdr + src_o + n];
                short[dst_s].full_mut()[self.hdr + dst_o..self.hdr + dst_o + n]
                    .copy_from_slice(src);
                j += n;
            }
            for b in bufs {
                b.recycle();
            }
            return (short, len, sl);
        }
        (bufs, len, sl)
    }
}

/// Copies between `bytes` and the stripe's data from byte `at` on (its data
/// shards' payloads laid end to end): into the stripe when `into`.
fn stripe_copy(
    bufs: &mut [AlignedBuf],
    hdr: usize,
    sl: usize,
    at: usize,
    bytes: &mut [u8],
    into: bool,
) {
    let mut j = 0;
    while j < bytes.len() {
        let (shard, off) = ((at + j) / sl, (at + j) % sl);
        let n = (sl - off).min(bytes.len() - j);
        let stripe = &mut bufs[shard].full_mut()[hdr + off..hdr + off + n];
        if into {
            stripe.copy_from_slice(&bytes[j..j + n]);
        } else {
            bytes[j..j + n].copy_from_slice(stripe);
        }
        j += n;
    }
}

impl Drop for StripeBuilder {
    fn drop(&mut self) {
        for b in self.bufs.drain(..) {
            b.recycle();
        }
    }
}

/// Where one stripe's shards landed, and whether a shard was missed because
/// its drive was full (so a lost quorum is reported as `StorageFull` even if
/// space came back before the caller looked).
struct StripeResult {
    shards: Vec<Option<Appended>>,
    missed_full: bool,
}

/// What the shard records of an upload belong to.
pub(super) struct StripeTarget<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub partition: u16,
    /// The object version, or the upload id for a part.
    pub version: u128,
    /// The part number; 0 for a whole object.
    pub part: u32,
    /// First drive of the shard rotation.
    pub rotation: usize,
    /// Bytes per stripe (`sealing::stripe_data`).
    pub stripe_data: usize,
    /// The storage class: its drives and layout.
    pub class: ClassId,
    /// Written in each shard header's `seq` (`class::ClassAttr::data_gen`).
    pub data_gen: u64,
}

impl Engine {
    /// First drive of the shard rotation of a version (or of part `part` of
    /// an upload): spreads them over the drives.
    pub(super) fn rotation_of(&self, version: u128, part: u32) -> usize {
        let mix =
            (version as u64) ^ ((version >> 64) as u64) ^ (part as u64).wrapping_mul(0x9E37_79B9);
        (mix % self.shared.set.drives.len() as u64) as usize
    }

    /// Whether a version written now is the bucket's `null` version (its
    /// versioning is off or suspended).
    pub(super) fn writes_null(&self, bucket: &str) -> bool {
        self.buckets.borrow().versioning(bucket) != Some(super::Versioning::Enabled)
    }

    /// Drives holding an object's commit records: the first m+1 online drives
    /// in the object's rotation order, those that are not full first (a
    /// full drive's reserve is kept for deletes).
    fn commit_targets(&self, rotation: usize) -> Vec<usize> {
        let d = self.shared.set.drives.len();
        let want = self.shared.layout.parity as usize + 1;
        let mut online: Vec<usize> = (0..d)
            .map(|i| (rotation + i) % d)
            .filter(|&i| self.shared.drive_online(i))
            .collect();
        online.sort_by_key(|&i| self.shared.space.is_full(i));
        online.truncate(want);
        online
    }

    /// Commit copies that must be durable: m+1, but never more than the write
    /// quorum (a 1+2 mirror with two drives gone still takes writes).
    fn commit_quorum(&self) -> usize {
        let l = self.shared.layout;
        (l.parity as usize + 1).min(l.write_quorum())
    }

    pub(super) fn check_write_quorum(&self) -> Result<()> {
        let online = self.shared.online_drives().len();
        let needed = self.shared.layout.write_quorum();
        if online < needed {
            return Err(EngineError::WriteQuorum { online, needed });
        }
        Ok(())
    }

    /// For writes that bring new data: a write quorum of drives must be
    /// online and not full. Deletes and completions check only
    /// `check_write_quorum`: they may use the reserve.
    pub(super) fn check_data_space(&self) -> Result<()> {
        self.check_class_space(ClassId::STANDARD)
    }

    /// `check_data_space` for data of `class`: STANDARD as ever over
    /// every drive; another class needs its own write quorum of its own
    /// drives online and not full.
    pub(super) fn check_class_space(&self, class: ClassId) -> Result<()> {
        if class != ClassId::STANDARD {
            let c = self.shared.classes.get(class);
            let needed = c.layout.write_quorum();
            let online = c
                .drives
                .iter()
                .filter(|&&d| self.shared.drive_online(d))
                .count();
            if online < needed {
                return Err(EngineError::WriteQuorum { online, needed });
            }
            let writable = c
                .drives
                .iter()
                .filter(|&&d| self.shared.drive_writable(d))
                .count();
            if writable < needed {
                let full: Vec<usize> = c
                    .drives
                    .iter()
                    .copied()
                    .filter(|&d| self.shared.space.is_full(d))
                    .collect();
                return Err(EngineError::StorageFull(format!(
                    "storage class {}: drives {full:?} are full",
                    c.name
                )));
            }
            return Ok(());
        }
        self.check_write_quorum()?;
        let needed = self.shared.layout.write_quorum();
        let drives = self.shared.set.drives.len();
        let writable = (0..drives)
            .filter(|&d| self.shared.drive_writable(d))
            .count();
        if writable < needed {
            return Err(self.storage_full());
        }
        Ok(())
    }

    pub(super) fn storage_full(&self) -> EngineError {
        let full: Vec<usize> = (0..self.shared.set.drives.len())
            .filter(|&d| self.shared.space.is_full(d))
            .collect();
        EngineError::StorageFull(format!("drives {full:?} are full"))
    }

    /// Stores an object; the caller is the key's owner core. An encrypted
    /// object is sealed here, where its version id is known.
    pub(crate) async fn put_owned<B: BodySource>(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        mut opts: PutOptions,
        body: &mut B,
    ) -> Result<ObjectInfo> {
        if !self.bucket_exists(bucket) {
            return Err(EngineError::NoSuchBucket);
        }
        self.check_class_space(opts.class)?;
        // A bucket already at its quota refuses before any data is written.
        drop(self.reserve_quota(bucket, 0)?);
        let _writing = self.begin_read();
        let version = self.new_version();
        opts.attrs = sealing::with_header(opts.attrs, opts.seal.as_ref());
        self.put_version(bucket, key, opts, body, version).await
    }

    /// Writes one version's body and commits it, sealed with `opts.seal`
    /// when set (its ETag then depends on the mode).
    pub(super) async fn put_version<B: BodySource>(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        opts: PutOptions,
        body: &mut B,
        version: u128,
    ) -> Result<ObjectInfo> {
        let partition = self.shared.partition_of(bucket, key);
        self.assert_owner(partition);
        let rotation = self.rotation_of(version, 0);
        let mut md5 = Md5::new();
        let hash = !body.supplies_md5();

        let layout = opts.seal.as_ref().map(|s| s.header.layout);
        let sealer = || {
            opts.seal.as_ref().map(|s| {
                let h = &s.header;
                sealing::sealer(
                    &s.key,
                    &h.nonce_base,
                    (bucket, key, version),
                    SINGLE_PART,
                    h.layout,
                )
            })
        };
        let mut head: Vec<u8> = Vec::new();
        let mut overflow: Option<Bytes> = None;
        let mut caller_md5 = None;
        loop {
            match body.next_chunk().await? {
                BodyChunk::Data(b) => {
                    let stored = sealing::stored_len(layout, (head.len() + b.len()) as u64);
                    if stored <= self.shared.inline_max as u64 {
                        head.extend_from_slice(&b);
                    } else {
                        overflow = Some(b);
                        break;
                    }
                }
                BodyChunk::End(m) => {
                    caller_md5 = m;
                    break;
                }
            }
        }

        let (size, data, inline) = match overflow {
            None => {
                if hash {
                    md5.update(&head);
                }
                let size = head.len() as u64;
                let stored = match sealer() {
                    None => head,
                    Some(s) => s
                        .seal_all(&head)
                        .map_err(|e| EngineError::Internal(format!("sealing: {e}")))?,
                };
                (size, DataLoc::Inline, Bytes::from(stored))
            }
            Some(first) => match self.content_key_of(bucket, opts.seal.as_ref()) {
                // Deduplicated: the stripes are contents the version names.
                Some(dkey) => {
                    let (size, ids, m) = self
                        .write_content(
                            (bucket, opts.class, opts.seal.as_ref()),
                            &dkey,
                            (&head, first),
                            body,
                            hash.then_some(&mut md5),
                        )
                        .await?;
                    caller_md5 = m;
                    (size, DataLoc::Content { ids }, Bytes::new())
                }
                None => {
                    let target = StripeTarget {
                        bucket,
                        key,
                        partition,
                        version,
                        part: 0,
                        rotation,
                        stripe_data: sealing::stripe_data(
                            opts.seal.as_ref().map(|s| s.header.layout),
                        ),
                        class: opts.class,
                        data_gen: 0,
                    };
                    let (size, stripes, m) = self
                        .write_stripes(
                            &target,
                            &head,
                            first,
                            body,
                            hash.then_some(&mut md5),
                            sealer().map(StreamSealer::new),
                        )
                        .await?;
                    caller_md5 = m;
                    (size, DataLoc::Stripes(stripes), Bytes::new())
                }
            },
        };
        let digest: [u8; 16] = match caller_md5 {
            Some(d) => d,
            None if hash => md5.finalize().into(),
            None => {
                return Err(EngineError::Body(
                    "the body promised its MD5 but ended without one".into(),
                ))
            }
        };
        let etag = match &opts.seal {
            None => hex::encode(digest),
            Some(s) => sealing::etag(s.header.mode, &s.key, digest),
        };
        let l = self.shared.classes.get(opts.class).layout;
        let mut attrs = opts.attrs;
        if opts.class != ClassId::STANDARD {
            let name = &self.shared.classes.get(opts.class).name;
            class::set_class(&mut attrs, name, 0);
        }
        let mut headers = opts.headers;
        let checksums = body.checksums();
        if !checksums.is_empty() {
            // A single-part object's checksum covers the whole object.
            headers.extend(checksums);
            headers.push(("x-amz-checksum-type".to_owned(), "FULL_OBJECT".to_owned()));
        }
        let meta = ObjectMeta {
            version,
            seq: 0,
            size,
            etag,
            modified_ms: now_ms(),
            null: self.writes_null(bucket),
            delete_marker: false,
            content_type: opts.content_type,
            headers,
            user_meta: opts.user_meta,
            layout: (l.data, l.parity),
            rotation: rotation as u16,
            data,
            tags: opts.tags,
            attrs,
        };
        let acquired = match &meta.data {
            DataLoc::Content { ids } => ids.clone(),
            _ => Vec::new(),
        };
        // Held until the version is in the index (and so in the ledger).
        let committed = match self.reserve_quota(bucket, size) {
            Ok(_quota) => {
                self.commit(
                    bucket,
                    key,
                    partition,
                    meta,
                    &inline,
                    (opts.condition.as_ref(), opts.event.as_ref()),
                )
                .await
            }
            Err(e) => Err(e),
        };
        if committed.is_err() {
            // The index did not take the version (its apply is the commit's
            // last step); a commit record that reached the drives comes
            // back only with a rebuild, which counts every content anew.
            self.release_contents(bucket, &acquired);
        }
        committed
    }

    /// Streams the body into erasure-coded stripes, sealed by `seal` when
    /// given. Returns the (plaintext) size, the shard locations and the
    /// caller's MD5 if the body carried one.
    pub(super) async fn write_stripes<B: BodySource>(
        self: &Rc<Self>,
        t: &StripeTarget<'_>,
        head: &[u8],
        first: Bytes,
        body: &mut B,
        mut md5: Option<&mut Md5>,
        seal: Option<StreamSealer>,
    ) -> Result<(u64, Stripes, Option<[u8; 16]>)> {
        let layout = self.shared.classes.get(t.class).layout;
        let hdr = FIXED_LEN + t.bucket.len() + t.key.len();
        let mut builder = StripeBuilder::new(layout, hdr, t.stripe_data, seal);
        let mut inflight: VecDeque<crate::runtime::JoinHandle<Result<StripeResult>>> =
            VecDeque::new();
        let mut done: Vec<StripeResult> = Vec::new();
        let mut size = 0u64;
        let mut stripe = 0u32;
        let mut pending: VecDeque<Bytes> = VecDeque::new();
        pending.push_back(Bytes::copy_from_slice(head));
        pending.push_back(first);
        let mut caller_md5 = None;
        let mut ended = false;
        loop {
            let chunk = match pending.pop_front() {
                Some(c) => c,
                None if ended => break,
                None => match body.next_chunk().await {
                    Ok(BodyChunk::Data(c)) => c,
                    Ok(BodyChunk::End(m)) => {
                        caller_md5 = m;
                        ended = true;
                        continue;
                    }
                    Err(e) => {
                        // Nothing was committed; the written shards are garbage
                        // for compaction.
                        for h in inflight {
                            let _ = h.await;
                        }
                        return Err(e);
                    }
                },
            };
            if let Some(h) = md5.as_deref_mut() {
                h.update(&chunk);
            }
            size += chunk.len() as u64;
            let mut off = 0;
            while off < chunk.len() {
                off += match builder.push(&chunk[off..]) {
                    Ok(n) => n,
                    Err(e) => {
                        for h in inflight {
                            let _ = h.await;
                        }
                        return Err(e);
                    }
                };
                if builder.is_full() {
                    if inflight.len() >= STRIPES_IN_FLIGHT {
                        let h = inflight
                            .pop_front()
                            .expect("STRIPES_IN_FLIGHT (> 0) are in flight");
                        done.push(h.await?);
                    }
                    let (bufs, len, sl) = builder.take();
                    inflight.push_back(self.spawn_stripe(t, stripe, bufs, len, sl));
                    stripe += 1;
                }
            }
        }
        if let Err(e) = builder.finish() {
            for h in inflight {
                let _ = h.await;
            }
            return Err(e);
        }
        if builder.filled > 0 {
            let (bufs, len, sl) = builder.take();
            inflight.push_back(self.spawn_stripe(t, stripe, bufs, len, sl));
        }
        for h in inflight {
            done.push(h.await?);
        }

        // Group-committed fdatasync of every touched segment.
        let mut by_seg: HashMap<
            *const super::segment::SegmentFile,
            (Rc<super::segment::SegmentFile>, u64),
        > = HashMap::new();
        let mut missed_full = done.iter().any(|s| s.missed_full);
        for a in done.iter().flat_map(|s| s.shards.iter()).flatten() {
            let e = by_seg
                .entry(Rc::as_ptr(&a.seg))
                .or_insert((a.seg.clone(), 0));
            e.1 = e.1.max(a.gen);
        }
        let syncs = join_all(by_seg.into_values().map(|(seg, gen)| async move {
            let r = seg.sync_upto(gen).await;
            (seg, r)
        }))
        .await;
        let mut failed_segs = Vec::new();
        for (seg, r) in syncs {
            if let Err(e) = r {
                missed_full |= e.raw_os_error() == Some(libc::ENOSPC);
                self.shared.write_failed(seg.drive as usize, &e);
                failed_segs.push(Rc::as_ptr(&seg));
            }
        }
        let quorum = layout.write_quorum();
        let mut locs = Vec::with_capacity(done.len());
        for s in done {
            let shards: Vec<Option<RecordLoc>> = s
                .shards
                .into_iter()
                .map(|a| {
                    a.filter(|a| !failed_segs.contains(&Rc::as_ptr(&a.seg)))
                        .map(|a| RecordLoc {
                            drive: a.seg.drive,
                            segment: a.seg.id,
                            offset: a.offset,
                            len: a.len,
                        })
                })
                .collect();
            let ok = shards.iter().flatten().count();
            if ok < quorum {
                let space = self.check_class_space(t.class);
                return Err(if missed_full || space.is_err() {
                    match space {
                        Err(e @ EngineError::StorageFull(_)) => e,
                        _ => self.storage_full(),
                    }
                } else {
                    EngineError::WriteQuorum {
                        online: ok,
                        needed: quorum,
                    }
                });
            }
            locs.push(shards);
        }
        Ok((size, locs, caller_md5))
    }

    /// Encodes one stripe and writes its shards to their drives concurrently
    /// in a task of its own.
    fn spawn_stripe(
        self: &Rc<Self>,
        t: &StripeTarget<'_>,
        stripe: u32,
        mut bufs: Vec<AlignedBuf>,
        data_len: usize,
        shard_len: usize,
    ) -> crate::runtime::JoinHandle<Result<StripeResult>> {
        let class = t.class;
        let layout = self.shared.classes.get(class).layout;
        let k = layout.data as usize;
        let hdr_len = FIXED_LEN + t.bucket.len() + t.key.len();
        let rotation = t.rotation;
        let encoded = {
            let (data, parity) = bufs.split_at_mut(k);
            let data: Vec<&[u8]> = data
                .iter()
                .map(|b| &b.as_slice()[hdr_len..hdr_len + shard_len])
                .collect();
            let mut parity: Vec<&mut [u8]> = parity
                .iter_mut()
                .map(|b| &mut b.full_mut()[hdr_len..hdr_len + shard_len])
                .collect();
            self.with_codec(layout, |c| c.encode(&data, &mut parity))
        };
        let mut header = RecordHeader {
            format: FORMAT_VERSION,
            kind: Kind::Shard,
            partition: t.partition,
            bucket: t.bucket.to_owned(),
            key: t.key.to_owned(),
            version: t.version,
            part_number: t.part,
            stripe,
            shard: 0,
            layout,
            data_len: data_len as u64,
            payload_len: shard_len as u32,
            seq: t.data_gen,
            payload_crc: 0,
        };
        for (i, b) in bufs.iter_mut().enumerate() {
            header.shard = i as u8;
            header.payload_crc = crc32c::crc32c(&b.as_slice()[hdr_len..hdr_len + shard_len]);
            header.encode_into(b.full_mut(), self.shared.record_key);
            b.set_len(align_up(hdr_len + shard_len));
        }
        let me = self.clone();
        crate::runtime::spawn(async move {
            encoded.map_err(|e| EngineError::Internal(format!("erasure coding: {e}")))?;
            // Placement over the class's drives: STANDARD's are every drive
            // in order, so its member i is drive i.
            let members = &me.shared.classes.get(class).drives;
            let mut targets = super::placement::shard_drives(
                layout,
                rotation,
                members.len(),
                |i| me.shared.drive_online(members[i]) && me.shared.space.is_full(members[i]),
                |i| me.shared.drive_writable(members[i]),
            );
            for d in &mut targets {
                *d = members[*d];
            }
            let writes = bufs.into_iter().zip(targets).map(|(b, drive)| {
                let me = me.clone();
                async move {
                    // A full drive misses the shard like an offline one.
                    if !me.shared.drive_writable(drive) {
                        return Err(me.shared.space.is_full(drive));
                    }
                    match me.writer.append(Class::Bulk, drive as u16, b).await {
                        Ok(a) => Ok(a),
                        Err(e) => {
                            me.shared.write_failed(drive, &e);
                            Err(e.raw_os_error() == Some(libc::ENOSPC))
                        }
                    }
                }
            });
            let results = join_all(writes).await;
            let missed_full = results.iter().any(|r| matches!(r, Err(true)));
            Ok(StripeResult {
                shards: results.into_iter().map(Result::ok).collect(),
                missed_full,
            })
        })
    }

    /// Writes `payload` as a record of `kind` to the commit targets and waits
    /// until a quorum of copies is durable. A copy whose drive fails is
    /// written once more to the next online drive not yet tried (the failure
    /// has usually just taken its drive offline), keeping its copy number.
    pub(super) async fn write_replicated(
        self: &Rc<Self>,
        mut header: RecordHeader,
        payload: &[u8],
        rotation: usize,
    ) -> Result<Vec<RecordLoc>> {
        header.payload_len = payload.len() as u32;
        header.payload_crc = crc32c::crc32c(payload);
        let targets = self.commit_targets(rotation);
        let mut tried = targets.clone();
        let mut round: Vec<(usize, usize)> = targets.into_iter().enumerate().collect();
        let mut locs = Vec::new();
        let mut full = None;
        for retry in [false, true] {
            let results = join_all(
                round
                    .iter()
                    .map(|&(copy, drive)| self.write_copy(&header, payload, copy, drive)),
            )
            .await;
            let mut failed = Vec::new();
            for (r, &(copy, _)) in results.into_iter().zip(&round) {
                match r {
                    Ok(l) => locs.push(l),
                    Err(e @ EngineError::StorageFull(_)) => {
                        full = Some(e);
                        failed.push(copy);
                    }
                    Err(_) => failed.push(copy),
                }
            }
            if retry || failed.is_empty() {
                break;
            }
            let d = self.shared.set.drives.len();
            let spare: Vec<usize> = (0..d)
                .map(|i| (rotation + i) % d)
                .filter(|&i| self.shared.drive_online(i) && !tried.contains(&i))
                .take(failed.len())
                .collect();
            tried.extend(&spare);
            round = failed.into_iter().zip(spare).collect();
        }
        let quorum = self.commit_quorum();
        if locs.len() < quorum {
            return Err(match full {
                Some(e) => e,
                None => EngineError::WriteQuorum {
                    online: locs.len(),
                    needed: quorum,
                },
            });
        }
        Ok(locs)
    }

    /// One durable copy of a replicated record on `drive`.
    pub(super) async fn write_copy(
        self: &Rc<Self>,
        header: &RecordHeader,
        payload: &[u8],
        copy: usize,
        drive: usize,
    ) -> Result<RecordLoc> {
        let hl = header.header_len();
        let mut h = header.clone();
        h.shard = copy as u8;
        let mut buf = AlignedBuf::pooled(hl + payload.len());
        h.encode_into(buf.full_mut(), self.shared.record_key);
        buf.full_mut()[hl..hl + payload.len()].copy_from_slice(payload);
        buf.full_mut()[hl + payload.len()..].fill(0);
        buf.set_len(align_up(hl + payload.len()));
        let a = match self.writer.append(Class::Small, drive as u16, buf).await {
            Ok(a) => a,
            Err(e) => {
                self.shared.write_failed(drive, &e);
                return Err(EngineError::from_io(e));
            }
        };
        if let Err(e) = a.seg.sync_upto(a.gen).await {
            self.shared.write_failed(drive, &e);
            return Err(EngineError::from_io(e));
        }
        Ok(RecordLoc {
            drive: drive as u16,
            segment: a.seg.id,
            offset: a.offset,
            len: a.len,
        })
    }

    /// Step 3 and 4: the commit record, then the index. Holds the key lock so
    /// a key's commits reach the index in sequence order.
    async fn commit(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        partition: u16,
        meta: ObjectMeta,
        inline: &[u8],
        (condition, origin): (Option<&WriteCondition>, Option<&Origin>),
    ) -> Result<ObjectInfo> {
        let guard = self.key_locks.lock(object_key(bucket, key)).await;
        self.check_condition(bucket, key, partition, condition)?;
        self.commit_locked(&guard, bucket, key, partition, meta, inline, origin)
            .await
    }

    /// A conditional write's check at commit time; the caller holds the key
    /// lock, so every earlier commit of the key is in the index. A failure
    /// here means another write or delete got in since the request began.
    pub(super) fn check_condition(
        &self,
        bucket: &str,
        key: &str,
        partition: u16,
        condition: Option<&WriteCondition>,
    ) -> Result<()> {
        let Some(c) = condition else {
            return Ok(());
        };
        let current = self.shared.indexes[partition as usize]
            .get(bucket, key)?
            .filter(|e| !e.meta.delete_marker);
        if c.holds(current.as_ref().map(|e| e.meta.etag.as_str())) {
            Ok(())
        } else {
            Err(EngineError::ConditionConflict)
        }
    }

    /// `commit` for a caller that holds the key lock.
    #[allow(clippy::too_many_arguments)]
    async fn commit_locked(
        self: &Rc<Self>,
        held: &KeyGuard<'_>,
        bucket: &str,
        key: &str,
        partition: u16,
        meta: ObjectMeta,
        inline: &[u8],
        origin: Option<&Origin>,
    ) -> Result<ObjectInfo> {
        if meta.null
            && self
                .buckets
                .borrow()
                .get(bucket)
                .is_some_and(|b| b.object_lock.is_some())
        {
            // A new null version replaces the old one for good.
            let idx = &self.shared.indexes[partition as usize];
            if let Some(old) = idx.get_version(bucket, key, VersionSel::Null)? {
                lock::may_remove(&old.meta, now_ms(), false).map_err(EngineError::ObjectLocked)?;
            }
        }
        let (entry, events) = self
            .commit_record(held, bucket, key, partition, meta, inline, origin)
            .await?;
        let info = ObjectInfo::of(&entry.meta);
        let short = self.short_of_redundancy(&entry.commits, entry.meta.data.shard_slots());
        let holder = Holder::Object {
            version: entry.meta.version,
        };
        let m = Mutation::Put {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            entry,
        };
        self.apply_index_with(partition, m, events).await?;
        if short {
            self.note_degraded(bucket, key, holder);
        }
        Ok(info)
    }

    /// Writes the commit record of a version (the caller holds the key lock)
    /// and returns its index entry.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn commit_record(
        self: &Rc<Self>,
        held: &KeyGuard<'_>,
        bucket: &str,
        key: &str,
        partition: u16,
        mut meta: ObjectMeta,
        inline: &[u8],
        origin: Option<&Origin>,
    ) -> Result<(IndexEntry, ChangeEvents<'_>)> {
        meta.seq = self.next_seq(held, bucket, key, partition);
        let seq = meta.seq;
        let marker = meta.delete_marker;
        let change = Change {
            marker,
            version: meta.sel(),
            created: (!marker).then_some(&meta),
            seq,
        };
        let events = self.events_of(bucket, key, origin, change);
        let entry = self
            .write_commit(bucket, key, partition, meta, &events.encoded(), inline, seq)
            .await?;
        Ok((entry, events))
    }

    /// The next sequence number of `partition`, for a change to
    /// `bucket`/`key`: taken under the key's lock (`held`), so the key's
    /// changes reach the index in the order of their numbers.
    #[track_caller]
    pub(super) fn next_seq(
        &self,
        held: &KeyGuard<'_>,
        bucket: &str,
        key: &str,
        partition: u16,
    ) -> u64 {
        invariant!(
            held.covers(bucket, key),
            "a sequence number of {bucket:?}/{key:?} is taken under its own key lock"
        );
        self.seq.next(partition, self.shared.epoch)
    }

    /// Writes a commit record with sequence number `seq` in its header; the
    /// metadata's own `seq` (the version's place in the key's history) is
    /// kept as given.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn write_commit(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        partition: u16,
        meta: ObjectMeta,
        events: &[u8],
        inline: &[u8],
        seq: u64,
    ) -> Result<IndexEntry> {
        let payload = encode_commit_payload(&meta, events, inline);
        let header = RecordHeader {
            format: FORMAT_VERSION,
            kind: Kind::Commit,
            partition,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version: meta.version,
            part_number: 0,
            stripe: 0,
            shard: 0,
            layout: self.shared.layout,
            data_len: meta.size,
            payload_len: 0,
            seq,
            payload_crc: 0,
        };
        let commits = self
            .write_replicated(header, &payload, meta.rotation as usize)
            .await?;
        Ok(IndexEntry { meta, commits })
    }

    /// Replaces a version's tag set: a newer commit record of the same
    /// version (with its inline data, if any) supersedes the old ones.
    pub(super) async fn edit_meta_owned(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        version: Option<VersionSel>,
        edit: MetaEdit,
        origin: Option<&Origin>,
    ) -> Result<VersionSel> {
        let partition = self.shared.partition_of(bucket, key);
        self.assert_owner(partition);
        let guard = self.key_locks.lock(object_key(bucket, key)).await;
        let entry = match self.lookup(bucket, key, version)? {
            None if version.is_some() => return Err(EngineError::NoSuchVersion),
            Some(e) if e.meta.delete_marker && version.is_some() => {
                return Err(EngineError::DeleteMarker)
            }
            Some(e) if !e.meta.delete_marker => e,
            _ => return Err(EngineError::NoSuchKey),
        };
        self.check_data_space()?;
        let _writing = self.begin_read();
        let inline = match entry.meta.data {
            DataLoc::Inline => {
                let guard = self.begin_read();
                let mut r = self.open_stored(guard, bucket, key, entry.clone()).await?;
                r.read_all().await?
            }
            _ => Vec::new(),
        };
        if let MetaEdit::Retention {
            retention,
            bypass_governance,
        } = &edit
        {
            lock::may_change_retention(
                entry.meta.retention(),
                *retention,
                now_ms(),
                *bypass_governance,
            )
            .map_err(EngineError::ObjectLocked)?;
        }
        let mut meta = entry.meta;
        edit.apply(&mut meta);
        let sel = meta.sel();
        let seq = self.next_seq(&guard, bucket, key, partition);
        let change = Change {
            marker: false,
            version: sel,
            created: None,
            seq,
        };
        let events = self.events_of(bucket, key, origin, change);
        let entry = self
            .write_commit(
                bucket,
                key,
                partition,
                meta,
                &events.encoded(),
                &inline,
                seq,
            )
            .await?;
        let m = Mutation::Update {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            entry,
        };
        self.apply_index_with(partition, m, events).await?;
        Ok(sel)
    }

    /// Queues an index change and waits until it is committed. Changes that
    /// queue up while a batch is being applied go together in the next one
    /// (one write transaction per partition per batch): group commit.
    pub(crate) async fn apply_index(self: &Rc<Self>, partition: u16, m: Mutation) -> Result<()> {
        let rx = self.queue_index(partition, m);
        self.await_index(rx).await
    }

    /// Waits for a queued index change to commit.
    pub(super) async fn await_index(
        &self,
        rx: oneshot::Receiver<std::result::Result<(), IndexFailure>>,
    ) -> Result<()> {
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(IndexFailure::Full(e))) => Err(EngineError::StorageFull(e)),
            Ok(Err(IndexFailure::Other(e))) => Err(EngineError::Internal(e)),
            Err(_) => Err(EngineError::Internal("index batch dropped".into())),
        }
    }

    /// Queues an index change now (changes are applied in the order they
    /// are queued); the receiver says when it is committed.
    pub(crate) fn queue_index(
        self: &Rc<Self>,
        partition: u16,
        m: Mutation,
    ) -> oneshot::Receiver<std::result::Result<(), IndexFailure>> {
        self.assert_owner(partition);
        let (tx, rx) = oneshot::channel();
        self.index_queue
            .pending
            .borrow_mut()
            .push_back((partition, m, tx));
        if !self.index_queue.busy.get() {
            self.index_queue.busy.set(true);
            let me = self.clone();
            crate::runtime::spawn(async move { me.drain_index_queue().await });
        }
        rx
    }

    async fn drain_index_queue(self: Rc<Self>) {
        loop {
            let batch: Vec<_> = {
                let mut q = self.index_queue.pending.borrow_mut();
                let mut n = q.len().min(INDEX_BATCH_MAX);
                // A change's events go in its transaction.
                if matches!(q.get(n), Some((_, Mutation::Events { .. }, _))) {
                    n += 1;
                }
                q.drain(..n).collect()
            };
            debug_assert!(
                !matches!(batch.first(), Some((_, Mutation::Events { .. }, _))),
                "events are queued right after their change"
            );
            let evented = batch
                .iter()
                .any(|(_, m, _)| matches!(m, Mutation::Events { .. }));
            if batch.is_empty() {
                self.index_queue.busy.set(false);
                return;
            }
            let shared = self.shared.clone();
            // Every bucket written has a ledger in this core's table: a write
            // starts only once its bucket is in the table of its owner core.
            let ledgers = self.buckets().ledgers.clone();
            let job = self.companion.run(move || {
                let mut by_partition: HashMap<u16, (Vec<Mutation>, Vec<IndexReply>)> =
                    HashMap::new();
                for (p, m, tx) in batch {
                    let e = by_partition.entry(p).or_default();
                    e.0.push(m);
                    e.1.push(tx);
                }
                let mut done = Vec::with_capacity(by_partition.len());
                let mut released = Vec::new();
                for (p, (muts, replies)) in by_partition {
                    let r = shared.indexes[p as usize].apply(&muts);
                    // Before any waiter wakes and releases its quota reservation.
                    if let Ok(d) = &r {
                        ledgers.count_committed(d);
                        released.extend(d.released());
                    }
                    let r = r.map(|_| ()).map_err(|e| {
                        let d = shared.index_drive;
                        if e.is_eio() {
                            shared.space.refresh(&[d]);
                        }
                        if e.is_enospc() || (e.is_eio() && shared.space.is_full(d)) {
                            shared.space.hit_enospc(d);
                            IndexFailure::Full(e.to_string())
                        } else {
                            IndexFailure::Other(e.to_string())
                        }
                    });
                    done.push((r, replies));
                }
                if evented {
                    shared.outbox_wake.notify();
                }
                // Let go of the shared state before anyone is woken, so a
                // caller that finishes and drops the engine really closes it.
                drop(shared);
                for (r, replies) in done {
                    for tx in replies {
                        let _ = tx.send(r.clone());
                    }
                }
                released
            });
            match job.await {
                // Versions that named deduplicated content are gone.
                Ok(released) => {
                    for (bucket, id, n) in released {
                        let cb = super::dedup::content_bucket(&bucket);
                        self.release_content(cb, super::dedup::content_key(&id), n);
                    }
                }
                Err(_) => {
                    // The companion is gone (shutdown): the dropped senders
                    // fail every waiter.
                    self.index_queue.busy.set(false);
                    return;
                }
            }
        }
    }

    /// Deletes a key or one version of it; the caller is its owner core.
    /// Deleting what is not there succeeds; it still writes a tombstone for
    /// the null version, and in a versioned bucket a delete without a version
    /// always adds a delete marker (as S3 does). With `if_latest`, only
    /// while that version is the key's latest (`ConditionConflict` once a
    /// write replaced it): the lifecycle worker's delete.
    pub(crate) async fn delete_owned(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        version: Option<VersionSel>,
        bypass_governance: bool,
        if_latest: Option<u128>,
        origin: Option<&Origin>,
    ) -> Result<DeleteOutcome> {
        let partition = self.shared.partition_of(bucket, key);
        self.assert_owner(partition);
        let guard = self.key_locks.lock(object_key(bucket, key)).await;
        let _writing = self.begin_read();
        let idx = &self.shared.indexes[partition as usize];
        if let Some(v) = if_latest {
            // Under the key's lock: no write can come between this and the
            // delete.
            if idx.get(bucket, key)?.is_none_or(|e| e.meta.version != v) {
                return Err(EngineError::ConditionConflict);
            }
        }
        self.deletes.set(self.deletes.get() + 1);
        // A content bucket is in no table: its objects are null versions.
        let versioning = match super::dedup::is_content_bucket(bucket) {
            true => Some(Versioning::Off),
            false => self.buckets.borrow().versioning(bucket),
        };
        let target = match (version, versioning) {
            (_, None) => return Err(EngineError::NoSuchBucket),
            (Some(sel), _) => sel,
            (None, Some(Versioning::Off)) => VersionSel::Null,
            (None, Some(v)) => {
                self.check_write_quorum()?;
                let version = self.new_version();
                let l = self.shared.layout;
                let meta = ObjectMeta {
                    version,
                    seq: 0,
                    size: 0,
                    etag: String::new(),
                    modified_ms: now_ms(),
                    null: v == Versioning::Suspended,
                    delete_marker: true,
                    content_type: None,
                    headers: Vec::new(),
                    user_meta: Vec::new(),
                    layout: (l.data, l.parity),
                    rotation: self.rotation_of(version, 0) as u16,
                    data: DataLoc::Inline,
                    tags: Vec::new(),
                    attrs: Vec::new(),
                };
                let info = self
                    .commit_locked(&guard, bucket, key, partition, meta, &[], origin)
                    .await?;
                return Ok(DeleteOutcome {
                    delete_marker: true,
                    version: Some(info.sel),
                });
            }
        };
        let victim = idx.get_version(bucket, key, target)?;
        if let Some(v) = &victim {
            lock::may_remove(&v.meta, now_ms(), bypass_governance)
                .map_err(EngineError::ObjectLocked)?;
        }
        // A null delete writes its tombstone even when nothing is there: a
        // put cut off by a crash may have left a durable commit record the
        // index never took, and a rebuild must not bring it back over this
        // acknowledged delete (the tombstone's sequence number is higher).
        if victim.is_none() && target != VersionSel::Null {
            return Ok(DeleteOutcome {
                delete_marker: false,
                version: version.map(|_| target),
            });
        }
        self.check_write_quorum()?;
        let (victim_version, rotation, delete_marker) = match &victim {
            Some(v) => (
                v.meta.version,
                v.meta.rotation as usize,
                v.meta.delete_marker,
            ),
            None => (0, partition as usize, false),
        };
        let seq = self.next_seq(&guard, bucket, key, partition);
        // Only a delete that removed something is an event.
        let change = Change {
            marker: false,
            version: target,
            created: None,
            seq,
        };
        let events = self.events_of(bucket, key, origin.filter(|_| victim.is_some()), change);
        let header = RecordHeader {
            format: FORMAT_VERSION,
            kind: Kind::Tombstone,
            partition,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version: victim_version,
            part_number: 0,
            stripe: 0,
            shard: 0,
            layout: self.shared.layout,
            data_len: 0,
            payload_len: 0,
            seq,
            payload_crc: 0,
        };
        let tombstones = self
            .write_replicated(
                header,
                &encode_tombstone(target, &events.encoded()),
                rotation,
            )
            .await?;
        let short = self.short_of_redundancy(&tombstones, std::iter::empty());
        let m = Mutation::Delete {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            target,
            tombstones,
        };
        self.apply_index_with(partition, m, events).await?;
        if short {
            self.note_degraded(bucket, key, Holder::Tombstone { target });
        }
        Ok(DeleteOutcome {
            delete_marker,
            version: version.map(|_| target),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn write_conditions() {
        let list = |v: &[&str]| Some(ETags::List(v.iter().map(|s| s.to_string()).collect()));
        let none_star = WriteCondition {
            if_none_match: Some(ETags::Any),
            ..Default::default()
        };
        assert!(none_star.holds(None));
        assert!(!none_star.holds(Some("a")));
        let none_a = WriteCondition {
            if_none_match: list(&["a", "b"]),
            ..Default::default()
        };
        assert!(none_a.holds(None) && none_a.holds(Some("c")));
        assert!(!none_a.holds(Some("b")));
        let match_a = WriteCondition {
            if_match: list(&["a"]),
            ..Default::default()
        };
        assert!(match_a.holds(Some("a")));
        assert!(!match_a.holds(Some("b")) && !match_a.holds(None));
        let match_any = WriteCondition {
            if_match: Some(ETags::Any),
            ..Default::default()
        };
        assert!(match_any.holds(Some("x")) && !match_any.holds(None));
        assert!(WriteCondition::default().holds(None));
    }

    use super::*;
    use crate::engine::layout::STRIPE_DATA;

    #[test]
    fn keys() {
        assert!(validate_key("a").is_ok());
        assert!(validate_key(&"k".repeat(1024)).is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key(&"k".repeat(1025)).is_err());
        assert!(validate_key("a\0b").is_err());
    }

    #[test]
    fn a_key_lock_covers_only_its_own_key() {
        use futures_util::FutureExt;
        let locks = KeyLocks::default();
        let g = locks
            .lock(object_key("a", "bc"))
            .now_or_never()
            .expect("free");
        assert!(g.covers("a", "bc"));
        assert!(!g.covers("ab", "c"), "the bucket ends at the NUL");
        assert!(!g.covers("a", "b") && !g.covers("a", "bcd") && !g.covers("b", "bc"));
    }

    #[test]
    fn a_sequence_number_taken_under_another_key_lock_stops_the_process() {
        use crate::engine::invariant::child;
        const NAME: &str = "engine::write::tests::\
                            a_sequence_number_taken_under_another_key_lock_stops_the_process";
        if child::is(NAME) {
            child::on_core_0_of_2(|e| async move {
                let key = child::key_owned_by(&e, "b", 0);
                let p = e.shared.partition_of("b", &key);
                let other = e.key_locks.lock(object_key("b", "other")).await;
                let seq = e.next_seq(&other, "b", &key, p);
                println!("took {seq} under the wrong lock");
            });
            return;
        }
        let out = child::run(NAME);
        child::assert_aborted(
            &out,
            "is taken under its own key lock",
            "under the wrong lock",
        );
    }

    #[test]
    fn sequence_numbers_carry_the_epoch() {
        let s = Sequencer::default();
        assert_eq!(s.next(3, 2), (2 << 32) | 1);
        assert_eq!(s.next(3, 2), (2 << 32) | 2);
        assert_eq!(s.next(4, 2), (2 << 32) | 1);
    }

    #[test]
    fn stripe_builder_lays_out_and_relays_short_stripes() {
        let layout = Layout { data: 4, parity: 2 };
        let hdr = 100;
        let mut b = StripeBuilder::new(layout, hdr, STRIPE_DATA, None);
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7) as u8).collect();
        assert_eq!(b.push(&data).unwrap(), data.len());
        let (bufs, len, sl) = b.take();
        assert_eq!(len, data.len());
        assert_eq!(sl, layout.shard_len(data.len()));
        let mut joined = Vec::new();
        for buf in &bufs[..4] {
            joined.extend_from_slice(&buf.as_slice()[hdr..hdr + sl]);
        }
        assert_eq!(&joined[..len], &data[..]);
        assert!(joined[len..].iter().all(|&x| x == 0));
    }

    #[test]
    fn recycled_buffers_leave_no_stale_bytes_on_disk() {
        // Fill this thread's pool with buffers full of 0xff, then build a
        // full 3+2 stripe: k * shard_len exceeds a stripe, so the last data
        // shard has a tail the data does not fill.
        let layout = Layout { data: 3, parity: 2 };
        let hdr = 100;
        let sl = layout.shard_len(STRIPE_DATA);
        for _ in 0..10 {
            let mut b = AlignedBuf::zeroed(hdr + sl);
            b.full_mut().fill(0xff);
            b.recycle();
        }
        let mut b = StripeBuilder::new(layout, hdr, STRIPE_DATA, None);
        assert_eq!(b.push(&vec![7u8; STRIPE_DATA]).unwrap(), STRIPE_DATA);
        let (bufs, len, got_sl) = b.take();
        assert_eq!((len, got_sl), (STRIPE_DATA, sl));
        let tail_start = hdr + (STRIPE_DATA - 2 * sl);
        assert!(
            bufs[2].as_slice()[tail_start..].iter().all(|&x| x == 0),
            "data shard tail"
        );
        for buf in &bufs {
            assert!(
                buf.as_slice()[hdr + sl..].iter().all(|&x| x == 0),
                "padding"
            );
        }
        assert!(bufs[0].as_slice()[hdr..hdr + sl].iter().all(|&x| x == 7));
    }

    #[test]
    fn stripe_builder_stops_at_a_full_stripe() {
        let layout = Layout { data: 3, parity: 2 };
        let mut b = StripeBuilder::new(layout, 72, STRIPE_DATA, None);
        let data = vec![1u8; STRIPE_DATA + 10];
        assert_eq!(b.push(&data).unwrap(), STRIPE_DATA);
        assert!(b.is_full());
        let (_, len, sl) = b.take();
        assert_eq!((len, sl), (STRIPE_DATA, layout.shard_len(STRIPE_DATA)));
        assert_eq!(b.push(&data[..10]).unwrap(), 10);
    }

    /// The stored stream of a sealed body, built stripe by stripe the way
    /// `write_stripes` does, from chunks of `chunk` bytes.
    fn sealed_through_builder(layout: Layout, plain: &[u8], chunk: usize) -> Vec<u8> {
        use crate::sse::key::{nonce_base, DataKey};
        use crate::sse::package::Layout as Packages;
        let hdr = 64;
        let key = DataKey::generate();
        let nonce = nonce_base();
        let sealer = || sealing::sealer(&key, &nonce, ("b", "k", 7), 3, Packages::DEFAULT);
        let sd = sealing::stripe_data(Some(Packages::DEFAULT));
        let mut b = StripeBuilder::new(layout, hdr, sd, Some(StreamSealer::new(sealer())));
        let mut stored = Vec::new();
        let mut keep = |(bufs, len, sl): (Vec<AlignedBuf>, usize, usize)| {
            let mut joined = Vec::new();
            for buf in &bufs[..layout.data as usize] {
                joined.extend_from_slice(&buf.as_slice()[hdr..hdr + sl]);
            }
            stored.extend_from_slice(&joined[..len]);
        };
        for c in plain.chunks(chunk.max(1)) {
            let mut off = 0;
            while off < c.len() {
                off += b.push(&c[off..]).unwrap();
                if b.is_full() {
                    keep(b.take());
                }
            }
        }
        b.finish().unwrap();
        if b.filled > 0 {
            keep(b.take());
        }
        assert_eq!(
            stored.len() as u64,
            Packages::DEFAULT.ciphertext_len(plain.len() as u64)
        );
        assert!(
            stored == sealer().seal_all(plain).unwrap(),
            "differs from sealing the whole stream"
        );
        stored
    }

    #[test]
    fn sealing_in_the_stripe_buffers_stores_what_sealing_the_stream_does() {
        let p = 64 << 10;
        for layout in [Layout { data: 4, parity: 2 }, Layout { data: 3, parity: 2 }] {
            for size in [0, 1, p - 1, p, p + 1, 16 * p, 16 * p + 1, 40 * p + 77] {
                let plain: Vec<u8> = (0..size as u32).map(|i| (i * 13 + 5) as u8).collect();
                for chunk in [1000, p, 3 * p + 7] {
                    sealed_through_builder(layout, &plain, chunk);
                }
            }
        }
    }
}
