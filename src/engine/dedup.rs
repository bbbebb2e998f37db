//! Deduplication (issue 17 part 5; the design is in ARCHITECTURE.md).
//!
//! A version of a dedup bucket larger than `inline_max` stores no data of
//! its own: each 1 MiB data stripe is a *content object*, named by the
//! stripe's keyed BLAKE3 hash, in the bucket's hidden content bucket
//! (`<bucket>#dedup`, a name no client can give). The version holds the ids
//! (`DataLoc::Content`). Content objects are ordinary unversioned objects,
//! so compaction, scrubbing, healing and the index rebuild keep them as any
//! other; only their reference counts are new.
//!
//! Counts live in the index of the content object's partition and change
//! only on its owner core:
//! - a writer *acquires* each stripe before its version commits: under the
//!   content's lock, the owner writes the content object if it is missing,
//!   then adds one reference;
//! - a reference is *released* after the index transaction that removed a
//!   version committed (delete, overwrite, expiry), or when a write that
//!   acquired fails before its commit.
//!
//! So a count is never too low; a crash between the two steps leaves it too
//! high (space leaks, no byte is lost). A rebuilt index has no counts: they
//! are counted anew from every partition's versions at start-up.
//!
//! The collector removes a content object whose count has been 0 for the
//! grace period, re-checking the count under the same lock that acquiring
//! takes: a PUT of the same bytes either counted first (the object stays)
//! or comes after (and writes the stripe afresh).

use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use md5::{Digest, Md5};

use crate::runtime::channel::oneshot;

use super::class::ClassId;
use super::index::{object_key, ContentRow, Mutation};
use super::meta::ContentId;
use super::sealing::Seal;
use super::write::KeyLocks;
use super::{BodyChunk, BodySource, CoreMsg, Engine, EngineError, PutOptions, Result, VersionSel};

/// What a content bucket's name adds to its bucket's (stored) name. `#`
/// is in no bucket name a client or a tenant can give.
const CONTENT_SUFFIX: &str = "#dedup";

/// Content acquisitions in flight per upload: the next stripe is received
/// and hashed while the owner stores the one before.
const ACQUIRES_IN_FLIGHT: usize = 2;

/// Count rows read per index transaction by the collector and the status.
const ROWS_BATCH: usize = 1024;

/// How often each core runs the collector over its partitions.
pub const COLLECT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// The default grace period before unreferenced content is removed.
pub const DEFAULT_GRACE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The hidden bucket holding `bucket`'s content objects.
pub fn content_bucket(bucket: &str) -> String {
    format!("{bucket}{CONTENT_SUFFIX}")
}

pub fn is_content_bucket(name: &str) -> bool {
    name.ends_with(CONTENT_SUFFIX)
}

/// The bucket whose content a content bucket holds.
pub fn bucket_of_content(name: &str) -> Option<&str> {
    name.strip_suffix(CONTENT_SUFFIX)
}

/// The content object's key: its id in hex.
pub fn content_key(id: &ContentId) -> String {
    hex::encode(id)
}

/// The key of a bucket's content ids: equal bytes in two buckets (or in a
/// bucket deleted and made again) never share an id.
pub fn dedup_key(set_id: &str, bucket: &str, created_ms: u64) -> [u8; 32] {
    let mut material = Vec::with_capacity(set_id.len() + bucket.len() + 10);
    material.extend_from_slice(set_id.as_bytes());
    material.push(0);
    material.extend_from_slice(bucket.as_bytes());
    material.push(0);
    material.extend_from_slice(&created_ms.to_be_bytes());
    blake3::derive_key("cairn 2026-12 dedup content id", &material)
}

/// A stripe's content id.
pub fn content_id(key: &[u8; 32], stripe: &[u8]) -> ContentId {
    *blake3::keyed_hash(key, stripe).as_bytes()
}

/// Requests to a content object's owner core.
pub enum ContentMsg {
    /// Store the content if missing, then count one more reference.
    Acquire {
        bucket: String,
        key: String,
        data: Bytes,
        class: ClassId,
        /// How a sealed version's content is sealed (boxed: a header is
        /// large beside the other requests).
        seal: Option<Box<Seal>>,
        reply: oneshot::Sender<Result<()>>,
    },
    /// Count `n` fewer references.
    Release { bucket: String, key: String, n: u64 },
    /// Run the collector over this core's partitions.
    Collect {
        dry_run: bool,
        reply: oneshot::Sender<Result<Collected>>,
    },
}

/// Node-wide settings and counters.
pub struct DedupStats {
    /// How long content stays unreferenced before the collector removes it.
    pub grace_ms: AtomicU64,
    /// Stripes acquired: newly stored, and found stored already.
    pub stored: AtomicU64,
    pub shared: AtomicU64,
    /// Content objects the collector removed, and their bytes.
    pub collected: AtomicU64,
    pub collected_bytes: AtomicU64,
}

impl DedupStats {
    pub fn new(grace: std::time::Duration) -> DedupStats {
        DedupStats {
            grace_ms: AtomicU64::new(grace.as_millis() as u64),
            stored: AtomicU64::new(0),
            shared: AtomicU64::new(0),
            collected: AtomicU64::new(0),
            collected_bytes: AtomicU64::new(0),
        }
    }
}

/// One bucket's deduplicated content.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DedupUsage {
    /// Content objects and their bytes.
    pub contents: u64,
    pub content_bytes: u64,
    /// References to them, and the bytes those would take stored apart.
    pub references: u64,
    pub referenced_bytes: u64,
    /// Content no version refers to (waiting for the grace period).
    pub unreferenced: u64,
    pub unreferenced_bytes: u64,
}

impl DedupUsage {
    /// Bytes not stored because they were stored once already.
    pub fn saved_bytes(&self) -> u64 {
        self.referenced_bytes.saturating_sub(self.content_bytes)
    }

    fn add_row(&mut self, r: &ContentRow) {
        self.contents += 1;
        self.content_bytes += r.size;
        self.references += r.count;
        self.referenced_bytes += r.count.saturating_mul(r.size);
        if r.count == 0 {
            self.unreferenced += 1;
            self.unreferenced_bytes += r.size;
        }
    }
}

/// What a collector run found and (unless a dry run) removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Collected {
    /// Unreferenced content past the grace period.
    pub collectable: u64,
    pub collectable_bytes: u64,
    /// Unreferenced content still within it.
    pub waiting: u64,
    pub waiting_bytes: u64,
    pub removed: u64,
    pub removed_bytes: u64,
}

impl Collected {
    pub fn add(&mut self, o: &Collected) {
        self.collectable += o.collectable;
        self.collectable_bytes += o.collectable_bytes;
        self.waiting += o.waiting;
        self.waiting_bytes += o.waiting_bytes;
        self.removed += o.removed;
        self.removed_bytes += o.removed_bytes;
    }
}

/// A content stripe as a body: it supplies its own digest (the first 16
/// bytes of its id) so no MD5 is computed for an ETag nobody reads.
struct ContentBody {
    data: Option<Bytes>,
    digest: [u8; 16],
}

impl BodySource for ContentBody {
    async fn next_chunk(&mut self) -> Result<BodyChunk> {
        Ok(match self.data.take() {
            Some(d) => BodyChunk::Data(d),
            None => BodyChunk::End(Some(self.digest)),
        })
    }

    fn supplies_md5(&self) -> bool {
        true
    }
}

/// The per-core locks of content objects (acquire against collect).
pub type ContentLocks = KeyLocks;

impl Engine {
    /// Whether `bucket`'s new versions deduplicate.
    pub fn deduplicates(&self, bucket: &str) -> bool {
        self.buckets
            .borrow()
            .buckets
            .get(bucket)
            .is_some_and(|b| b.dedup)
    }

    /// The key of `bucket`'s content ids if its new versions deduplicate.
    pub(super) fn dedup_key_of(&self, bucket: &str) -> Option<[u8; 32]> {
        let t = self.buckets.borrow();
        let b = t.buckets.get(bucket).filter(|b| b.dedup)?;
        Some(dedup_key(
            &self.shared.set.format.set_id,
            bucket,
            b.created_ms,
        ))
    }

    /// The key of the content ids of a new version of `bucket` sealed with
    /// `seal`, if its stripes are deduplicated: a version in the clear, or
    /// one sealed with the bucket's shared key, whose contents get ids of
    /// their own (keyed by that key too), so sealed and clear stripes, or
    /// stripes under two KMS keys, never share.
    pub(super) fn content_key_of(&self, bucket: &str, seal: Option<&Seal>) -> Option<[u8; 32]> {
        let dkey = self.dedup_key_of(bucket)?;
        match seal {
            None => Some(dkey),
            Some(s) if s.shared => Some(*blake3::keyed_hash(&dkey, s.key.expose()).as_bytes()),
            Some(_) => None,
        }
    }

    /// A content object's version: its bucket is in no bucket table.
    pub(super) fn content_entry(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<super::meta::IndexEntry>> {
        let idx = &self.shared.indexes[self.shared.partition_of(bucket, key) as usize];
        Ok(idx.get(bucket, key)?.filter(|e| !e.meta.delete_marker))
    }

    /// The dedup clock: the lifecycle's (a test moves it).
    fn dedup_now(&self) -> u64 {
        self.shared.background.lifecycle.now_ms()
    }

    /// Streams a body into content stripes of `bucket`, acquiring each.
    /// Returns the size, the ids and the caller's MD5 if the body carried
    /// one. On failure every acquired reference is released.
    /// A sealed version's contents are sealed each with its own key.
    pub(super) async fn write_content<B: BodySource>(
        self: &Rc<Self>,
        (bucket, class, seal): (&str, ClassId, Option<&Seal>),
        dkey: &[u8; 32],
        (head, first): (&[u8], Bytes),
        body: &mut B,
        mut md5: Option<&mut Md5>,
    ) -> Result<(u64, Vec<ContentId>, Option<[u8; 16]>)> {
        // Content lives in one class: equal bytes of two classes are two
        // contents, each where its versions asked to be.
        let dkey = &match class {
            ClassId::STANDARD => *dkey,
            c => *blake3::keyed_hash(dkey, self.shared.classes.get(c).name.as_bytes()).as_bytes(),
        };
        let sd = super::layout::STRIPE_DATA;
        let mut buf = BytesMut::with_capacity(sd);
        let mut ids: Vec<ContentId> = Vec::new();
        let mut inflight: std::collections::VecDeque<crate::runtime::JoinHandle<Result<()>>> =
            std::collections::VecDeque::new();
        let mut acquired = 0usize;
        let mut size = 0u64;
        let mut pending = std::collections::VecDeque::from([Bytes::copy_from_slice(head), first]);
        let mut caller_md5 = None;
        let result: Result<()> = async {
            loop {
                let chunk = match pending.pop_front() {
                    Some(c) => c,
                    None => match body.next_chunk().await? {
                        BodyChunk::Data(c) => c,
                        BodyChunk::End(m) => {
                            caller_md5 = m;
                            break;
                        }
                    },
                };
                if let Some(h) = md5.as_deref_mut() {
                    h.update(&chunk);
                }
                size += chunk.len() as u64;
                let mut rest = &chunk[..];
                while !rest.is_empty() {
                    let n = rest.len().min(sd - buf.len());
                    buf.extend_from_slice(&rest[..n]);
                    rest = &rest[n..];
                    if buf.len() == sd {
                        if inflight.len() >= ACQUIRES_IN_FLIGHT {
                            let h = inflight.pop_front().expect("in flight");
                            h.await?;
                            acquired += 1;
                        }
                        let data = buf.split().freeze();
                        buf.reserve(sd);
                        inflight.push_back(self.spawn_acquire(
                            (bucket, class, seal),
                            dkey,
                            data,
                            &mut ids,
                        ));
                    }
                }
            }
            if !buf.is_empty() {
                let data = buf.split().freeze();
                inflight.push_back(self.spawn_acquire((bucket, class, seal), dkey, data, &mut ids));
            }
            while let Some(h) = inflight.pop_front() {
                h.await?;
                acquired += 1;
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            // Stripes still in flight may or may not count: wait for them.
            for h in inflight {
                if h.await.is_ok() {
                    acquired += 1;
                }
            }
            // Acquisitions finish in order: the first `acquired` counted.
            self.release_contents(bucket, &ids[..acquired.min(ids.len())]);
            return Err(e);
        }
        Ok((size, ids, caller_md5))
    }

    fn spawn_acquire(
        self: &Rc<Self>,
        (bucket, class, seal): (&str, ClassId, Option<&Seal>),
        dkey: &[u8; 32],
        data: Bytes,
        ids: &mut Vec<ContentId>,
    ) -> crate::runtime::JoinHandle<Result<()>> {
        let id = content_id(dkey, &data);
        ids.push(id);
        let me = self.clone();
        let cb = content_bucket(bucket);
        let seal = seal.map(|s| s.for_content(&id));
        crate::runtime::spawn(async move {
            me.acquire_content(cb, content_key(&id), data, (class, seal))
                .await
        })
    }

    /// Acquires one content on its owner core.
    async fn acquire_content(
        self: &Rc<Self>,
        bucket: String,
        key: String,
        data: Bytes,
        (class, seal): (ClassId, Option<Seal>),
    ) -> Result<()> {
        let owner = self
            .shared
            .owner_of(self.shared.partition_of(&bucket, &key));
        if owner == self.core {
            return self.acquire_owned(&bucket, &key, data, (class, seal)).await;
        }
        let (tx, rx) = oneshot::channel();
        self.send_to(
            owner,
            CoreMsg::Content(ContentMsg::Acquire {
                bucket,
                key,
                data,
                class,
                seal: seal.map(Box::new),
                reply: tx,
            }),
        )
        .await?;
        rx.await.map_err(|_| EngineError::ShuttingDown)?
    }

    async fn acquire_owned(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        data: Bytes,
        (class, seal): (ClassId, Option<Seal>),
    ) -> Result<()> {
        let partition = self.shared.partition_of(bucket, key);
        self.assert_owner(partition);
        let _held = self.content_locks.lock(object_key(bucket, key)).await;
        let size = data.len() as u64;
        let st = &self.shared.background.dedup;
        let count = |delta: i64, fresh: bool| Mutation::Content {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            delta,
            size,
            now_ms: self.dedup_now(),
            fresh,
        };
        if let Some(e) = self.content_entry(bucket, key)? {
            debug_assert_eq!(e.meta.size, size, "a content id names one size");
            self.apply_index(partition, count(1, false)).await?;
            st.shared.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        self.check_class_space(class)?;
        // Counted before the object is written: a crash between leaves a
        // count without an object (no bytes), never an object no count
        // row names. No version refers to a missing content (counts are
        // never low), so its count starts again.
        self.apply_index(partition, count(1, true)).await?;
        let _writing = self.begin_read();
        let digest = hex::decode(key)
            .ok()
            .and_then(|id| id.get(..16)?.try_into().ok())
            .unwrap_or_default();
        let mut body = ContentBody {
            data: Some(data),
            digest,
        };
        let version = self.new_version();
        let written = self
            .put_version(
                bucket,
                key,
                PutOptions {
                    class,
                    attrs: super::sealing::with_header(Vec::new(), seal.as_ref()),
                    seal,
                    ..PutOptions::default()
                },
                &mut body,
                version,
            )
            .await;
        if let Err(e) = written {
            if let Err(undo) = self.apply_index(partition, count(-1, false)).await {
                tracing::warn!(error = %undo, "a failed content write stays counted");
            }
            return Err(e);
        }
        st.stored.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Releases references of `bucket` (best effort: a failure leaves a
    /// count too high, never too low).
    pub(super) fn release_contents(self: &Rc<Self>, bucket: &str, ids: &[ContentId]) {
        let mut counted: std::collections::HashMap<ContentId, u64> = Default::default();
        for id in ids {
            *counted.entry(*id).or_default() += 1;
        }
        for (id, n) in counted {
            self.release_content(content_bucket(bucket), content_key(&id), n);
        }
    }

    /// Releases `n` references to one content, on its owner core.
    pub(super) fn release_content(self: &Rc<Self>, bucket: String, key: String, n: u64) {
        let me = self.clone();
        crate::runtime::spawn(async move {
            let partition = me.shared.partition_of(&bucket, &key);
            let owner = me.shared.owner_of(partition);
            if owner != me.core {
                let msg = CoreMsg::Content(ContentMsg::Release { bucket, key, n });
                if me.send_to(owner, msg).await.is_err() {
                    tracing::warn!("a content release was lost at shutdown (its count stays high)");
                }
                return;
            }
            let now_ms = me.dedup_now();
            let m = Mutation::Content {
                bucket,
                key,
                delta: -(n as i64),
                size: 0,
                now_ms,
                fresh: false,
            };
            if let Err(e) = me.apply_index(partition, m).await {
                tracing::warn!(error = %e, "a content release failed (its count stays high)");
            }
        });
    }

    pub(super) fn on_content(self: &Rc<Self>, msg: ContentMsg) {
        let me = self.clone();
        crate::runtime::spawn(async move {
            match msg {
                ContentMsg::Acquire {
                    bucket,
                    key,
                    data,
                    class,
                    seal,
                    reply,
                } => {
                    let r = me
                        .acquire_owned(&bucket, &key, data, (class, seal.map(|s| *s)))
                        .await;
                    let _ = reply.send(r);
                }
                ContentMsg::Release { bucket, key, n } => me.release_content(bucket, key, n),
                ContentMsg::Collect { dry_run, reply } => {
                    let _ = reply.send(me.collect_owned(dry_run).await);
                }
            }
        });
    }

    /// Runs the collector on every core; sums what they found.
    pub async fn collect_content(self: &Rc<Self>, dry_run: bool) -> Result<Collected> {
        let mut total = Collected::default();
        for core in 0..self.shared.cores {
            let r = if core == self.core {
                self.collect_owned(dry_run).await?
            } else {
                let (tx, rx) = oneshot::channel();
                self.send_to(
                    core,
                    CoreMsg::Content(ContentMsg::Collect { dry_run, reply: tx }),
                )
                .await?;
                rx.await.map_err(|_| EngineError::ShuttingDown)??
            };
            total.add(&r);
        }
        Ok(total)
    }

    /// The collector over this core's partitions.
    pub(super) async fn collect_owned(self: &Rc<Self>, dry_run: bool) -> Result<Collected> {
        let grace = self
            .shared
            .background
            .dedup
            .grace_ms
            .load(Ordering::Relaxed);
        let now = self.dedup_now();
        let mut out = Collected::default();
        for p in (0..self.shared.partitions).filter(|&p| self.shared.owner_of(p) == self.core) {
            let idx = &self.shared.indexes[p as usize];
            let mut after = Vec::new();
            // Bounded by the partition's rows: each turn moves past a batch.
            loop {
                let rows = idx.content_rows(&after, ROWS_BATCH)?;
                let Some((b, k, _)) = rows.last() else { break };
                after = object_key(b, k);
                for (bucket, key, row) in rows {
                    if row.count > 0 {
                        continue;
                    }
                    if now.saturating_sub(row.zero_since_ms) < grace {
                        out.waiting += 1;
                        out.waiting_bytes += row.size;
                        continue;
                    }
                    out.collectable += 1;
                    out.collectable_bytes += row.size;
                    if !dry_run && self.remove_content(p, &bucket, &key, now, grace).await? {
                        out.removed += 1;
                        out.removed_bytes += row.size;
                    }
                }
            }
        }
        let st = &self.shared.background.dedup;
        st.collected.fetch_add(out.removed, Ordering::Relaxed);
        st.collected_bytes
            .fetch_add(out.removed_bytes, Ordering::Relaxed);
        Ok(out)
    }

    /// Removes one content object if, under its lock, it is still
    /// unreferenced past the grace period.
    async fn remove_content(
        self: &Rc<Self>,
        partition: u16,
        bucket: &str,
        key: &str,
        now: u64,
        grace: u64,
    ) -> Result<bool> {
        let _held = self.content_locks.lock(object_key(bucket, key)).await;
        let idx = &self.shared.indexes[partition as usize];
        let row = idx.content_row(bucket, key)?;
        if !row.is_some_and(|r| r.count == 0 && now.saturating_sub(r.zero_since_ms) >= grace) {
            return Ok(false);
        }
        self.delete_owned(bucket, key, Some(VersionSel::Null), false, None, None)
            .await?;
        self.apply_index(
            partition,
            Mutation::ForgetContent {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            },
        )
        .await?;
        Ok(true)
    }

    /// Every dedup bucket's content, by (stored) bucket name, read from
    /// every partition's index (reads need no owner).
    pub fn dedup_usage(&self) -> Result<std::collections::BTreeMap<String, DedupUsage>> {
        let mut out: std::collections::BTreeMap<String, DedupUsage> = Default::default();
        for idx in &self.shared.indexes {
            let mut after = Vec::new();
            loop {
                let rows = idx.content_rows(&after, ROWS_BATCH)?;
                let Some((b, k, _)) = rows.last() else { break };
                after = object_key(b, k);
                for (bucket, _, row) in rows {
                    let name = bucket_of_content(&bucket).unwrap_or(&bucket).to_owned();
                    out.entry(name).or_default().add_row(&row);
                }
            }
        }
        Ok(out)
    }
}

/// A per-bucket series: name, help and value.
type Gauge = (&'static str, &'static str, fn(&DedupUsage) -> u64);

/// The `cairn_dedup_*` series: per dedup bucket its content and saved
/// bytes (one count row read per stored MiB), and the node's counters.
pub fn render_metrics(
    out: &mut String,
    shared: &super::Shared,
    usage: &std::collections::BTreeMap<String, DedupUsage>,
) {
    use std::fmt::Write as _;
    let gauges: [Gauge; 4] = [
        (
            "cairn_dedup_content_bytes",
            "Bytes of the bucket's deduplicated content, each stored once.",
            |u| u.content_bytes,
        ),
        (
            "cairn_dedup_referenced_bytes",
            "Bytes the bucket's objects refer to in deduplicated content.",
            |u| u.referenced_bytes,
        ),
        (
            "cairn_dedup_saved_bytes",
            "Bytes deduplication did not store.",
            |u| u.saved_bytes(),
        ),
        (
            "cairn_dedup_unreferenced_bytes",
            "Content no object refers to, waiting for the collector.",
            |u| u.unreferenced_bytes,
        ),
    ];
    for (name, help, f) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (bucket, u) in usage {
            let _ = writeln!(out, "{name}{{bucket=\"{bucket}\"}} {}", f(u));
        }
    }
    let st = &shared.background.dedup;
    let _ = writeln!(out, "# TYPE cairn_dedup_stripes_total counter");
    for (result, n) in [("stored", &st.stored), ("shared", &st.shared)] {
        let _ = writeln!(
            out,
            "cairn_dedup_stripes_total{{result=\"{result}\"}} {}",
            n.load(Ordering::Relaxed)
        );
    }
    for (name, v) in [
        ("cairn_dedup_collected_total", &st.collected),
        ("cairn_dedup_collected_bytes_total", &st.collected_bytes),
    ] {
        let _ = writeln!(out, "# TYPE {name} counter");
        let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
    }
}

/// Counts anew the references of the contents of every partition whose
/// counts were not kept (a rebuilt index, or one from before
/// deduplication), from every partition's versions. Blocking: start-up,
/// before any core runs, so no reference changes meanwhile.
pub fn recount(
    indexes: &[super::index::PartitionIndex],
    now_ms: u64,
) -> std::result::Result<(), String> {
    let err = |p: u16, e: super::index::IndexError| format!("partition {p}: {e}");
    let mut stale = Vec::new();
    for idx in indexes {
        if !idx.content_counted().map_err(|e| err(idx.partition, e))? {
            stale.push(idx);
        }
    }
    if stale.is_empty() {
        return Ok(());
    }
    // Versions name content only where content objects exist.
    let mut any = false;
    for idx in indexes {
        let usage = idx.usage().map_err(|e| err(idx.partition, e))?;
        any |= usage.iter().any(|(b, _)| is_content_bucket(b));
    }
    let mut refs = std::collections::HashMap::new();
    let mut objects = vec![Vec::new(); indexes.len()];
    if any {
        tracing::info!(
            partitions = stale.len(),
            "counting deduplicated content references"
        );
        for (i, idx) in indexes.iter().enumerate() {
            idx.content_refs(&mut refs, &mut objects[i])
                .map_err(|e| err(idx.partition, e))?;
        }
    }
    for idx in stale {
        let rows: Vec<_> = objects[idx.partition as usize]
            .iter()
            .map(|(k, size)| {
                let row = ContentRow {
                    count: refs.get(k).copied().unwrap_or(0),
                    zero_since_ms: now_ms,
                    size: *size,
                };
                (k.clone(), row)
            })
            .collect();
        idx.set_content_counts(&rows)
            .map_err(|e| err(idx.partition, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ids_differ_across_buckets_and_recreations() {
        let a = dedup_key("set", "photos", 1);
        let b = dedup_key("set", "photos2", 1);
        let c = dedup_key("set", "photos", 2);
        let stripe = vec![7u8; 4096];
        let ids = [
            content_id(&a, &stripe),
            content_id(&b, &stripe),
            content_id(&c, &stripe),
        ];
        assert_ne!(ids[0], ids[1]);
        assert_ne!(ids[0], ids[2]);
        assert_eq!(ids[0], content_id(&a, &stripe.clone()));
    }

    #[test]
    fn a_content_bucket_names_its_bucket_and_no_client_bucket() {
        let cb = content_bucket("tenant:photos");
        assert!(is_content_bucket(&cb));
        assert_eq!(bucket_of_content(&cb), Some("tenant:photos"));
        assert!(!super::super::buckets::valid_bucket_name(&content_bucket(
            "photos"
        )));
    }

    #[test]
    fn a_count_never_goes_below_zero_and_notes_when_it_reached_it() {
        let r = ContentRow {
            count: 0,
            zero_since_ms: 5,
            size: 10,
        };
        let r = r.with(2, 10, 100);
        assert_eq!((r.count, r.size), (2, 10));
        let r = r.with(-1, 0, 200);
        assert_eq!(r.count, 1);
        let r = r.with(-3, 0, 300);
        assert_eq!((r.count, r.zero_since_ms, r.size), (0, 300, 10));
        // Already at 0: the time it got there stays.
        assert_eq!(r.with(-1, 0, 400).zero_since_ms, 300);
    }
}
