//! The read path, served by the core that received the request: an LMDB read
//! transaction finds the version, then the records are read with O_DIRECT
//! straight from the segments (they never change once written). Every record
//! is checked (header identity and crc32c of the payload); a missing or
//! corrupt shard is rebuilt from parity on the fly, so only exact bytes are
//! ever returned. Only the stripes, and within them only the data shards, that
//! a range touches are read.

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use futures_util::future::join_all;

use crate::format_version::NewerFormat;
use crate::runtime::buf::AlignedBuf;

use super::cache::{PlainId, Plaintext};
use super::codec::ErasureCodec;
use super::layout::{stripe_range_of, Layout};
use super::meta::{split_commit_payload, DataLoc, IndexEntry, RecordLoc};
use super::record::{Kind, RecordError, RecordHeader};
use super::sealing::{layout_of, stored_len, stripe_data, Unsealer};
use super::{Engine, EngineError, Result};
use crate::sse::key::DataKey;
use crate::sse::package::Layout as SealLayout;

/// The bytes from `pos` to the end of its stripe (or `end`) of a
/// deduplicated version of `bucket`: read from the stripe's content object.
async fn read_content(
    engine: &Rc<Engine>,
    (bucket, ids, size): (&str, &[super::meta::ContentId], u64),
    version_key: Option<&DataKey>,
    (pos, end): (u64, u64),
) -> Result<Bytes> {
    let sd = super::layout::STRIPE_DATA as u64;
    let s = pos / sd;
    let start = s * sd;
    let stripe_end = size.min(start + sd);
    let id = ids.get(s as usize).ok_or_else(|| {
        EngineError::Internal(format!(
            "content of stripe {s} missing from the index entry"
        ))
    })?;
    let (cb, ck) = (
        super::dedup::content_bucket(bucket),
        super::dedup::content_key(id),
    );
    let range = (pos - start, end.min(stripe_end) - start);
    let guard = engine.begin_read();
    let Some(entry) = engine.content_entry(&cb, &ck)? else {
        return Err(EngineError::Internal(format!(
            "content {ck} of {bucket} is missing"
        )));
    };
    if entry.meta.size != stripe_end - start {
        return Err(EngineError::Internal(format!(
            "content {ck} of {bucket} is {} bytes, not {}",
            entry.meta.size,
            stripe_end - start
        )));
    }
    let unseal = version_key.map(|k| super::sealing::content_key(k, id));
    let mut r = engine
        .open_reader(guard, &cb, &ck, entry, Some(range), unseal)
        .await?;
    let mut out = Vec::with_capacity((range.1 - range.0) as usize);
    while let Some(c) = r.next_chunk().await {
        out.extend_from_slice(&c?);
    }
    Ok(Bytes::from(out))
}

/// A record read back and verified: the whole record, and where its payload is.
pub(crate) struct Verified {
    pub record: Bytes,
    pub payload: std::ops::Range<usize>,
}

/// What a record must be to be accepted for a read.
pub(crate) struct Expect<'a> {
    pub kind: Kind,
    pub bucket: &'a str,
    pub key: &'a str,
    pub version: u128,
    /// The part number (0 unless a multipart upload's shard).
    pub part: u32,
    pub stripe: u32,
    pub shard: Option<u8>,
}

/// The stripe holding some byte of an object.
struct StripeAt<'a> {
    locs: &'a [Option<RecordLoc>],
    /// What its shard records say they belong to.
    version: u128,
    part: u32,
    stripe: u32,
    /// Offset of the stripe's first byte in the object, and its data length.
    start: u64,
    len: usize,
}

/// Streams an object (or a byte range of it) in chunks of at most a stripe.
pub struct ObjectReader {
    engine: Rc<Engine>,
    bucket: String,
    key: String,
    partition: u16,
    pub entry: IndexEntry,
    pos: u64,
    end: u64,
    /// Offset of each part's stored bytes (multipart objects).
    part_starts: Vec<u64>,
    /// The package layout of an encrypted version: positions above are
    /// then in its stored (sealed) bytes.
    sealed: Option<SealLayout>,
    /// Opens what an encrypted version's read fetches.
    unseal: Option<Unsealer>,
    /// The data key of an encrypted version whose stripes are deduplicated
    /// contents, each sealed under a key derived from it.
    contents_key: Option<DataKey>,
    /// A whole encrypted version being read: its plaintext, kept for the
    /// read cache once all of it has opened.
    fill: Option<PlainFill>,
    ready: VecDeque<Bytes>,
    _guard: super::ReadGuard,
}

struct PlainFill {
    id: PlainId,
    key: DataKey,
    chunks: Vec<Bytes>,
    /// Bytes in `chunks`.
    len: u64,
}

impl Engine {
    /// The current version's index entry. A read transaction on the
    /// receiving core; no message to the owner.
    pub fn head(&self, bucket: &str, key: &str) -> Result<IndexEntry> {
        match self.lookup(bucket, key, None)? {
            Some(e) if !e.meta.delete_marker => Ok(e),
            _ => Err(EngineError::NoSuchKey),
        }
    }

    /// The latest version (`version` None) or the named one, delete markers
    /// included; None if there is no such version. A read transaction on the
    /// receiving core.
    pub fn lookup(
        &self,
        bucket: &str,
        key: &str,
        version: Option<super::VersionSel>,
    ) -> Result<Option<IndexEntry>> {
        if !self.bucket_exists(bucket) {
            return Err(EngineError::NoSuchBucket);
        }
        super::write::validate_key(key)?;
        let idx = &self.shared.indexes[self.shared.partition_of(bucket, key) as usize];
        Ok(match version {
            None => idx.get(bucket, key)?,
            Some(sel) => idx.get_version(bucket, key, sel)?,
        })
    }

    /// Registers a read on this core: take it before looking a version up
    /// (see `ReadGuard`), and hand it to [`Engine::open_reader`].
    pub fn begin_read(&self) -> super::ReadGuard {
        self.shared.begin_read(self.core)
    }

    /// Opens a reader over `[start, end)` of an unencrypted object (the
    /// whole object when `range` is None).
    pub async fn get(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        range: Option<(u64, u64)>,
    ) -> Result<ObjectReader> {
        let guard = self.begin_read();
        let entry = self.head(bucket, key)?;
        self.open_reader(guard, bucket, key, entry, range, None)
            .await
    }

    /// Opens a reader on a version the caller already looked up with
    /// [`Engine::head`] after taking `guard`, so the headers it answered with
    /// and the bytes it streams belong to the same version even if a write
    /// lands in between. A range outside the object is an `Internal` error.
    /// An encrypted version needs its data key (`unseal`): the range is of
    /// its plaintext, and only the packages it touches are read and opened.
    pub async fn open_reader(
        self: &Rc<Self>,
        guard: super::ReadGuard,
        bucket: &str,
        key: &str,
        entry: IndexEntry,
        range: Option<(u64, u64)>,
        unseal: Option<DataKey>,
    ) -> Result<ObjectReader> {
        let (start, end) = range.unwrap_or((0, entry.meta.size));
        if start > end || end > entry.meta.size {
            return Err(EngineError::Internal(format!(
                "range {start}..{end} outside an object of {} bytes",
                entry.meta.size
            )));
        }
        let sealed = layout_of(&entry.meta)?;
        if matches!(entry.meta.data, DataLoc::Content { .. }) {
            // Each content is sealed under its own key, opened where it is
            // read (`read_content`): the range is of the plaintext here.
            if sealed.is_some() != unseal.is_some() {
                return Err(EngineError::Internal(
                    "a deduplicated version read without its data key, or with one it has not"
                        .into(),
                ));
            }
            let mut r = self
                .reader(guard, bucket, key, entry, None, (None, None), (start, end))
                .await?;
            r.contents_key = unseal;
            return Ok(r);
        }
        let mut fill = None;
        let (unseal, (pos, end)) = match (sealed, unseal) {
            (None, None) => (None, (start, end)),
            (Some(_), Some(_)) if start == end => (None, (0, 0)),
            (Some(_), Some(k)) => {
                let id = entry.commits.first().map(|&commit| PlainId {
                    commit,
                    version: entry.meta.version,
                });
                if let Some(id) = id {
                    let hit = self.cache.borrow_mut().get_plain(&id, &k);
                    if let Some(plain) = hit {
                        let st = &self.shared.stats;
                        st.read_cache_hits.add(self.core, 1);
                        st.read_cache_plaintext_hits.add(self.core, 1);
                        let mut r = self.reader_over(guard, bucket, key, entry, sealed, (end, end));
                        r.ready.extend(plain.slices(start, end));
                        return Ok(r);
                    }
                    let whole = start == 0 && end == entry.meta.size;
                    if whole && end <= self.cache.borrow().max_entry() as u64 {
                        fill = Some(PlainFill {
                            id,
                            key: k.clone(),
                            chunks: Vec::new(),
                            len: 0,
                        });
                    }
                }
                let (u, span) = Unsealer::new(&entry.meta, bucket, key, k, (start, end))?;
                (Some(u), span)
            }
            (Some(_), None) => {
                return Err(EngineError::Internal(
                    "an encrypted version read without its data key".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(EngineError::Internal(
                    "a data key given for a version stored in the clear".into(),
                ))
            }
        };
        self.reader(
            guard,
            bucket,
            key,
            entry,
            sealed,
            (unseal, fill),
            (pos, end),
        )
        .await
    }

    /// A reader of a version's stored bytes as they are, sealed or not
    /// (rewriting a commit record keeps its inline data as stored).
    pub(crate) async fn open_stored(
        self: &Rc<Self>,
        guard: super::ReadGuard,
        bucket: &str,
        key: &str,
        entry: IndexEntry,
    ) -> Result<ObjectReader> {
        let sealed = layout_of(&entry.meta)?;
        let span = (0, stored_len(sealed, entry.meta.size));
        self.reader(guard, bucket, key, entry, sealed, (None, None), span)
            .await
    }

    /// A reader of stored bytes `[pos, end)` of a version as they are (a
    /// transition copies a part's at a time).
    pub(super) async fn open_stored_span(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        entry: IndexEntry,
        span: (u64, u64),
    ) -> Result<ObjectReader> {
        let sealed = layout_of(&entry.meta)?;
        let guard = self.begin_read();
        self.reader(guard, bucket, key, entry, sealed, (None, None), span)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn reader(
        self: &Rc<Self>,
        guard: super::ReadGuard,
        bucket: &str,
        key: &str,
        entry: IndexEntry,
        sealed: Option<SealLayout>,
        (unseal, fill): (Option<Unsealer>, Option<PlainFill>),
        (pos, end): (u64, u64),
    ) -> Result<ObjectReader> {
        let mut r = self.reader_over(guard, bucket, key, entry, sealed, (pos, end));
        r.unseal = unseal;
        r.fill = fill;
        if let DataLoc::Parts { parts, .. } = &r.entry.meta.data {
            let mut at = 0;
            for p in parts {
                r.part_starts.push(at);
                at += stored_len(sealed, p.size);
            }
        }
        if matches!(r.entry.meta.data, DataLoc::Inline) {
            let data = r.read_inline().await?;
            if pos < end {
                r.ready.push_back(data.slice(pos as usize..end as usize));
            }
            r.pos = end;
        }
        Ok(r)
    }

    /// A reader of stored bytes `[pos, end)`, with nothing fetched yet.
    fn reader_over(
        self: &Rc<Self>,
        guard: super::ReadGuard,
        bucket: &str,
        key: &str,
        entry: IndexEntry,
        sealed: Option<SealLayout>,
        (pos, end): (u64, u64),
    ) -> ObjectReader {
        ObjectReader {
            engine: self.clone(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            partition: self.shared.partition_of(bucket, key),
            entry,
            pos,
            end,
            part_starts: Vec::new(),
            sealed,
            unseal: None,
            contents_key: None,
            fill: None,
            ready: VecDeque::new(),
            _guard: guard,
        }
    }

    /// A record, verified, from the read cache or the drive; one read from
    /// the drive is kept in the cache when `keep` (not when the reader
    /// keeps what it becomes instead: an encrypted version's plaintext).
    pub(crate) async fn read_record(
        &self,
        partition: u16,
        loc: RecordLoc,
        want: &Expect<'_>,
        keep: bool,
    ) -> std::result::Result<Verified, ReadFail> {
        let cached = self.cache.borrow_mut().get(&loc);
        if let Some(record) = cached {
            // Verified when it was read: only the header is checked again.
            if let Some(h) = self.expected_header(&record, partition, want) {
                self.shared.stats.read_cache_hits.add(self.core, 1);
                let payload = h.header_len()..h.header_len() + h.payload_len as usize;
                return Ok(Verified { record, payload });
            }
            self.cache.borrow_mut().remove(&loc);
        }
        self.shared.stats.read_cache_misses.add(self.core, 1);
        let buf = self.read_raw(loc).await?;
        let Some(h) = self.expected_header(buf.as_slice(), partition, want) else {
            return Err(self.unexpected(buf.as_slice(), loc));
        };
        if h.payload(buf.as_slice()).is_err() {
            return Err(ReadFail::Corrupt(loc));
        }
        let payload = h.header_len()..h.header_len() + h.payload_len as usize;
        let record = buf.into_bytes();
        if keep {
            self.cache.borrow_mut().insert(loc, record.clone());
        }
        Ok(Verified { record, payload })
    }

    /// The bytes at `loc` from its drive, unchecked (never from the cache).
    pub(crate) async fn read_raw(
        &self,
        loc: RecordLoc,
    ) -> std::result::Result<AlignedBuf, ReadFail> {
        let file = self
            .reads
            .get(loc.drive, loc.segment)
            .await
            .map_err(|e| ReadFail::Io(loc.drive, e))?;
        let buf = AlignedBuf::for_read(loc.len as usize);
        let (res, buf) = file.read_exact_at(buf, loc.offset).await;
        if let Err(e) = res {
            self.reads.forget(loc.drive, loc.segment);
            return Err(ReadFail::Io(loc.drive, e));
        }
        Ok(buf)
    }

    /// The header of `record` if it is sound, names what the reader expects
    /// and its payload lies within `record`.
    pub(crate) fn expected_header(
        &self,
        record: &[u8],
        partition: u16,
        want: &Expect<'_>,
    ) -> Option<RecordHeader> {
        let h = RecordHeader::decode(record, self.shared.record_key).ok()?;
        let expected = h.kind == want.kind
            && h.partition == partition
            && h.bucket == want.bucket
            && h.key == want.key
            && h.version == want.version
            && h.part_number == want.part
            && h.stripe == want.stripe
            && want.shard.is_none_or(|s| s == h.shard)
            && h.header_len() + h.payload_len as usize <= record.len();
        expected.then_some(h)
    }

    /// Why a record is not the one expected: written by a newer cairn (not
    /// damage, though this binary cannot use it), or corrupt.
    pub(crate) fn unexpected(&self, record: &[u8], loc: RecordLoc) -> ReadFail {
        match RecordHeader::decode(record, self.shared.record_key) {
            Err(RecordError::Newer(n)) => ReadFail::Newer(loc, n),
            _ => ReadFail::Corrupt(loc),
        }
    }

    pub(crate) fn note_fail(&self, f: &ReadFail) {
        match f {
            // Not damage: a healing drive lacks what it has not got back.
            ReadFail::Io(d, e) if self.not_yet_healed(*d, e) => {}
            ReadFail::Io(d, e) => self.shared.drive_error(*d as usize, e),
            ReadFail::Newer(loc, n) => tracing::error!(
                drive = loc.drive,
                segment = loc.segment,
                offset = loc.offset,
                "{n}; served from redundancy if it allows"
            ),
            ReadFail::Corrupt(loc) => {
                self.shared
                    .stats
                    .corrupt_records
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    drive = loc.drive,
                    segment = loc.segment,
                    offset = loc.offset,
                    "corrupt record detected; served from redundancy"
                );
            }
        }
    }
}

pub(crate) enum ReadFail {
    Io(u16, std::io::Error),
    Corrupt(RecordLoc),
    /// A sound record of a format this binary does not read.
    Newer(RecordLoc, NewerFormat),
}

impl ObjectReader {
    pub fn size(&self) -> u64 {
        self.entry.meta.size
    }

    /// The next piece of the object, or None at the end.
    pub async fn next_chunk(&mut self) -> Option<Result<Bytes>> {
        if self.unseal.is_none() {
            return self.next_stored().await;
        }
        let r = self.next_plain().await;
        match &r {
            Some(Ok(p)) => {
                // Kept once the last byte is out: a client that got all it
                // asked for asks for no end.
                let size = self.entry.meta.size;
                let whole = self.fill.as_mut().is_some_and(|f| {
                    f.len += p.len() as u64;
                    f.chunks.push(p.clone());
                    f.len == size
                });
                if let Some(f) = self.fill.take_if(|_| whole) {
                    let plain = Plaintext::new(f.key, f.chunks);
                    self.engine.cache.borrow_mut().insert_plain(f.id, plain);
                }
            }
            Some(Err(_)) => {
                self.unseal = None;
                self.fill = None;
                self.pos = self.end;
                self.ready.clear();
            }
            None => debug_assert!(self.fill.is_none(), "a whole read ended short"),
        }
        r
    }

    /// The next piece of an encrypted version's plaintext: stored bytes are
    /// fetched and opened a package at a time as they complete.
    async fn next_plain(&mut self) -> Option<Result<Bytes>> {
        loop {
            let u = self.unseal.as_mut()?;
            if let Some(p) = u.take_ready() {
                return Some(Ok(p));
            }
            match u.done() {
                Ok(true) => return None,
                Ok(false) => {}
                Err(e) => return Some(Err(e)),
            }
            let stored = match self.next_stored().await {
                Some(Ok(b)) => b,
                Some(Err(e)) => return Some(Err(e)),
                None => {
                    return Some(Err(EngineError::Internal(
                        "stored bytes of an encrypted object end early".into(),
                    )))
                }
            };
            let u = self.unseal.as_mut()?;
            if let Err(e) = u.push(&stored) {
                // Shards that verify but do not open: what was sealed is
                // not what is stored. Repair rewrites from parity what it
                // can; never return these bytes.
                self.engine
                    .queue_repair(&self.bucket, &self.key, self.holder());
                return Some(Err(e));
            }
        }
    }

    /// The next piece of the stored bytes.
    async fn next_stored(&mut self) -> Option<Result<Bytes>> {
        if let Some(b) = self.ready.pop_front() {
            return Some(Ok(b));
        }
        if self.pos >= self.end {
            return None;
        }
        if let DataLoc::Content { ids } = &self.entry.meta.data {
            let r = Box::pin(read_content(
                &self.engine,
                (&self.bucket, ids, self.entry.meta.size),
                self.contents_key.as_ref(),
                (self.pos, self.end),
            ))
            .await;
            return Some(match r {
                Ok(b) => {
                    self.pos += b.len() as u64;
                    Ok(b)
                }
                Err(e) => {
                    self.pos = self.end;
                    Err(e)
                }
            });
        }
        let at = match self.stripe_at(self.pos) {
            Ok(at) => at,
            Err(e) => {
                self.pos = self.end;
                return Some(Err(e));
            }
        };
        let lo = (self.pos - at.start) as usize;
        let hi = (self.end.min(at.start + at.len as u64) - at.start) as usize;
        let next = at.start + hi as u64;
        match self.read_stripe(at, lo, hi).await {
            Ok(parts) => {
                self.pos = next;
                self.ready.extend(parts);
                self.ready.pop_front().map(Ok)
            }
            Err(e) => {
                self.pos = self.end;
                Some(Err(e))
            }
        }
    }

    /// The stripe holding byte `pos` (which is inside the object).
    fn stripe_at(&self, pos: u64) -> Result<StripeAt<'_>> {
        let meta = &self.entry.meta;
        let missing =
            |s: u64| EngineError::Internal(format!("stripe {s} missing from the index entry"));
        match &meta.data {
            DataLoc::Inline | DataLoc::Content { .. } => Err(EngineError::Internal(
                "striped read of an object without stripes".into(),
            )),
            DataLoc::Stripes(stripes) => {
                let sd = stripe_data(self.sealed);
                let s = pos / sd as u64;
                let (start, len) = stripe_range_of(stored_len(self.sealed, meta.size), s, sd);
                Ok(StripeAt {
                    locs: stripes.get(s as usize).ok_or_else(|| missing(s))?,
                    version: meta.version,
                    part: 0,
                    stripe: s as u32,
                    start,
                    len,
                })
            }
            DataLoc::Parts { upload, parts } => {
                let i = self.part_starts.partition_point(|&st| st <= pos) - 1;
                let part = &parts[i];
                let sd = stripe_data(self.sealed);
                let s = (pos - self.part_starts[i]) / sd as u64;
                let (start, len) = stripe_range_of(stored_len(self.sealed, part.size), s, sd);
                Ok(StripeAt {
                    locs: part.stripes.get(s as usize).ok_or_else(|| missing(s))?,
                    version: *upload,
                    part: part.number,
                    stripe: s as u32,
                    start: self.part_starts[i] + start,
                    len,
                })
            }
        }
    }

    /// Reads everything left into memory (tests and tools).
    pub async fn read_all(&mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(c) = self.next_chunk().await {
            out.extend_from_slice(&c?);
        }
        Ok(out)
    }

    /// What repair calls the version this reader reads.
    fn holder(&self) -> super::index::Holder {
        super::index::Holder::Object {
            version: self.entry.meta.version,
        }
    }

    async fn read_inline(&self) -> Result<Bytes> {
        let e = &self.engine;
        let want = Expect {
            kind: Kind::Commit,
            bucket: &self.bucket,
            key: &self.key,
            version: self.entry.meta.version,
            part: 0,
            stripe: 0,
            shard: None,
        };
        for loc in &self.entry.commits {
            let keep = self.fill.is_none();
            match e.read_record(self.partition, *loc, &want, keep).await {
                Ok(v) => {
                    let p = &v.record[v.payload.clone()];
                    let Some((_, data)) = split_commit_payload(p) else {
                        e.note_fail(&ReadFail::Corrupt(*loc));
                        continue;
                    };
                    let start = v.payload.start + (p.len() - data.len());
                    if data.len() as u64 != stored_len(self.sealed, self.entry.meta.size) {
                        e.note_fail(&ReadFail::Corrupt(*loc));
                        continue;
                    }
                    return Ok(v.record.slice(start..start + data.len()));
                }
                Err(f) => {
                    e.note_fail(&f);
                    e.queue_repair(&self.bucket, &self.key, self.holder());
                }
            }
        }
        Err(EngineError::ReadQuorum { have: 0, need: 1 })
    }

    /// Bytes `[lo, hi)` of the stripe `at`.
    async fn read_stripe(&self, at: StripeAt<'_>, lo: usize, hi: usize) -> Result<Vec<Bytes>> {
        let e = &self.engine;
        let (k, m) = self.entry.meta.layout;
        let layout = Layout { data: k, parity: m };
        let k = k as usize;
        let locs = at.locs;
        let s_len = at.len;
        let sl = layout.shard_len(s_len);
        // A shard missed at write time (its drive was away): heal it now
        // that a read passes by.
        if locs.iter().any(|l| l.is_none()) {
            e.queue_repair(&self.bucket, &self.key, self.holder());
        }
        let first = lo / sl;
        let last = (hi - 1) / sl;
        let want = |shard: usize| Expect {
            kind: Kind::Shard,
            bucket: &self.bucket,
            key: &self.key,
            version: at.version,
            part: at.part,
            stripe: at.stripe,
            shard: Some(shard as u8),
        };

        let mut shards: Vec<Option<Verified>> = (0..layout.total()).map(|_| None).collect();
        let mut tried = vec![false; layout.total()];
        // Shard i, verified; Err(None) when the index has no record for it.
        let keep = self.fill.is_none();
        let read_shard = |i: usize| {
            let w = want(i);
            async move {
                match locs.get(i).copied().flatten() {
                    Some(loc) => {
                        let r = e.read_record(self.partition, loc, &w, keep).await;
                        // A sound record of another length is not this
                        // stripe's shard (an index pointing at another data
                        // generation, say): unusable, as a corrupt one is.
                        let r = r.map_err(Some).and_then(|v| {
                            if v.payload.len() == sl {
                                Ok(v)
                            } else {
                                Err(Some(ReadFail::Corrupt(loc)))
                            }
                        });
                        (i, r)
                    }
                    None => (i, Err(None)),
                }
            }
        };
        let reads = (first..=last).map(read_shard);
        let mut healthy = true;
        for (i, r) in join_all(reads).await {
            tried[i] = true;
            match r {
                Ok(v) => shards[i] = Some(v),
                Err(f) => {
                    healthy = false;
                    match f {
                        Some(f) => e.note_fail(&f),
                        None => {
                            e.shared
                                .stats
                                .missing_shards
                                .fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
        if healthy {
            return Ok((first..=last)
                .map(|i| {
                    let v = shards[i]
                        .take()
                        .expect("healthy: every shard of the range was read");
                    let a = if i == first { lo - i * sl } else { 0 };
                    let b = if i == last { hi - i * sl } else { sl };
                    v.record.slice(v.payload.start + a..v.payload.start + b)
                })
                .collect());
        }

        // Degraded: repair the object in the background, read the rest until
        // k shards verify, then reconstruct.
        e.queue_repair(&self.bucket, &self.key, self.holder());
        let rest: Vec<usize> = (0..layout.total()).filter(|&i| !tried[i]).collect();
        let reads = rest.iter().map(|&i| read_shard(i));
        for (i, r) in join_all(reads).await {
            match r {
                Ok(v) => shards[i] = Some(v),
                Err(Some(f)) => e.note_fail(&f),
                Err(None) => {
                    e.shared
                        .stats
                        .missing_shards
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let have = shards.iter().flatten().count();
        if have < k {
            return Err(EngineError::ReadQuorum { have, need: k });
        }
        let mut raw: Vec<Option<Vec<u8>>> = shards
            .iter()
            .map(|v| v.as_ref().map(|v| v.record[v.payload.clone()].to_vec()))
            .collect();
        e.with_codec(layout, |c| c.reconstruct(&mut raw, sl))
            .map_err(|err| EngineError::Internal(format!("reconstruction: {err}")))?;
        e.shared
            .stats
            .reconstructions
            .fetch_add(1, Ordering::Relaxed);
        let mut out = Vec::with_capacity(hi - lo);
        for (i, shard) in raw.iter().enumerate().take(last + 1).skip(first) {
            let shard = shard
                .as_ref()
                .ok_or_else(|| EngineError::Internal("codec left a data shard empty".into()))?;
            let a = if i == first { lo - i * sl } else { 0 };
            let b = if i == last { hi - i * sl } else { sl };
            out.extend_from_slice(&shard[a..b]);
        }
        Ok(vec![Bytes::from(out)])
    }
}
