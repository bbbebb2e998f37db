//! Usage accounting and bucket quotas.
//!
//! Each partition index keeps one row of counters per bucket (the `usage`
//! database), changed in the same LMDB write transaction as the index
//! entries they count: the counters cannot drift from the index, survive
//! `kill -9` as the index does, and a rebuilt index rebuilds them (a rebuild
//! replays the same mutations). Reading usage sums the rows of every
//! partition through LMDB read transactions, as listings do from any core.
//!
//! Quotas are checked against an in-memory ledger per bucket (atomics,
//! shared through the bucket table): the bytes of every version committed,
//! plus the bytes of writes in flight that passed the check. A write is
//! refused when that sum plus its own size would exceed the quota, so
//! concurrent writes cannot overshoot it together.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::buckets::{tenant_of, BucketChange, TENANT_SEPARATOR};
use super::index::IndexError;
use super::meta::{ContentId, DataLoc, IndexEntry, PartEntry, UploadEntry};
use super::{Engine, EngineError, Result, Shared};

/// One bucket's counters (in one partition, or summed over all).
///
/// On-drive bytes are the lengths of the records as laid out in the
/// segments (record header and padding to 4 KiB included): for a version,
/// every copy of its commit record (metadata, plus the data of an inline
/// object) and every shard record of its stripes, parity included (a
/// completed multipart object's shards are its parts'); for an upload in
/// progress, its upload records and each current part's commit records and
/// shards. Not counted: tombstones of deletes, the records of ended
/// uploads, superseded part uploads, and the dead space compaction has not
/// yet reclaimed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketUsage {
    /// Keys whose latest version is an object (not a delete marker).
    pub objects: u64,
    /// Sum of the sizes of those latest versions.
    pub bytes: u64,
    /// Object versions, latest and noncurrent (delete markers excluded).
    pub versions: u64,
    /// Sum of the sizes of every version: what a quota limits.
    pub version_bytes: u64,
    pub delete_markers: u64,
    /// On-drive bytes of every version and delete marker (see above).
    pub stored_bytes: u64,
    /// Multipart uploads in progress.
    pub uploads: u64,
    /// Parts held by those uploads (the latest upload of each number).
    pub upload_parts: u64,
    /// Sum of the sizes of those parts.
    pub upload_bytes: u64,
    /// On-drive bytes of the uploads in progress (see above).
    pub upload_stored_bytes: u64,
}

/// A change to a bucket's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsageDelta {
    pub objects: i64,
    pub bytes: i64,
    pub versions: i64,
    pub version_bytes: i64,
    pub delete_markers: i64,
    pub stored_bytes: i64,
    pub uploads: i64,
    pub upload_parts: i64,
    pub upload_bytes: i64,
    pub upload_stored_bytes: i64,
}

fn on_drive<I: Iterator<Item = super::meta::RecordLoc>>(records: I) -> i64 {
    records.map(|r| r.len as i64).sum()
}

impl UsageDelta {
    /// Counts one version in (`sign` 1) or out (-1), as the key's latest
    /// version or a noncurrent one.
    pub fn version(&mut self, e: &IndexEntry, latest: bool, sign: i64) {
        let size = e.meta.size as i64;
        if e.meta.delete_marker {
            self.delete_markers += sign;
        } else {
            self.versions += sign;
            self.version_bytes += sign * size;
            if latest {
                self.objects += sign;
                self.bytes += sign * size;
            }
        }
        self.stored_bytes += sign * on_drive(e.records());
    }

    /// The latest version became noncurrent.
    pub fn demote(&mut self, e: &IndexEntry) {
        self.version(e, true, -1);
        self.version(e, false, 1);
    }

    pub fn upload(&mut self, u: &UploadEntry, sign: i64) {
        self.uploads += sign;
        self.upload_stored_bytes += sign * on_drive(u.commits.iter().copied());
    }

    pub fn part(&mut self, p: &PartEntry, sign: i64) {
        self.upload_parts += sign;
        self.upload_bytes += sign * p.meta.part.size as i64;
        self.upload_stored_bytes += sign * on_drive(p.records());
    }

    pub fn is_zero(&self) -> bool {
        *self == UsageDelta::default()
    }
}

impl BucketUsage {
    /// Applies a delta; a counter never goes below zero (the index is the
    /// truth: a negative would be a bug, and a recount fixes the row).
    pub fn apply(&mut self, d: &UsageDelta) {
        fn add(c: &mut u64, d: i64) {
            *c = (*c as i64).saturating_add(d).max(0) as u64;
        }
        add(&mut self.objects, d.objects);
        add(&mut self.bytes, d.bytes);
        add(&mut self.versions, d.versions);
        add(&mut self.version_bytes, d.version_bytes);
        add(&mut self.delete_markers, d.delete_markers);
        add(&mut self.stored_bytes, d.stored_bytes);
        add(&mut self.uploads, d.uploads);
        add(&mut self.upload_parts, d.upload_parts);
        add(&mut self.upload_bytes, d.upload_bytes);
        add(&mut self.upload_stored_bytes, d.upload_stored_bytes);
    }

    pub fn add(&mut self, o: &BucketUsage) {
        self.objects += o.objects;
        self.bytes += o.bytes;
        self.versions += o.versions;
        self.version_bytes += o.version_bytes;
        self.delete_markers += o.delete_markers;
        self.stored_bytes += o.stored_bytes;
        self.uploads += o.uploads;
        self.upload_parts += o.upload_parts;
        self.upload_bytes += o.upload_bytes;
        self.upload_stored_bytes += o.upload_stored_bytes;
    }

    pub fn is_empty(&self) -> bool {
        *self == BucketUsage::default()
    }
}

/// Counter changes per bucket within one index transaction, and the net
/// change of references per (bucket, content id) of deduplicated versions.
#[derive(Default, Debug)]
pub struct Deltas(
    pub HashMap<Vec<u8>, UsageDelta>,
    pub HashMap<(Vec<u8>, ContentId), i64>,
);

impl Deltas {
    /// A version of the key `k` (an index key) was added (`sign` 1) or
    /// removed (-1) as its latest version or a noncurrent one.
    pub fn version(&mut self, k: &[u8], e: &IndexEntry, latest: bool, sign: i64) {
        self.of(k).version(e, latest, sign);
        if let DataLoc::Content { ids } = &e.meta.data {
            let bucket = k.split(|&b| b == 0).next().unwrap_or(k);
            for id in ids {
                *self.1.entry((bucket.to_vec(), *id)).or_default() += sign;
            }
        }
    }

    /// Content references the transaction dropped: (bucket, id, how many).
    pub fn released(&self) -> Vec<(String, ContentId, u64)> {
        self.1
            .iter()
            .filter(|(_, &n)| n < 0)
            .map(|((b, id), &n)| {
                (
                    String::from_utf8_lossy(b).into_owned(),
                    *id,
                    n.unsigned_abs(),
                )
            })
            .collect()
    }

    /// The delta of the bucket of an index key (`bucket \0 ...`).
    pub fn of(&mut self, k: &[u8]) -> &mut UsageDelta {
        let bucket = k.split(|&b| b == 0).next().unwrap_or(k);
        // Looked up before inserting: no allocation for a known bucket.
        if !self.0.contains_key(bucket) {
            self.0.insert(bucket.to_vec(), UsageDelta::default());
        }
        self.0.get_mut(bucket).expect("inserted above")
    }
}

/// A bucket's quota ledger (see the module comment), or a tenant's: the
/// sums over all its buckets, which share it. Shared by every core through
/// the bucket table.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Bytes of every committed version (`BucketUsage::version_bytes`).
    committed: AtomicI64,
    /// Bytes of writes that passed the quota check and are not committed yet.
    pending: AtomicI64,
    /// The ledger of the bucket's tenant; every change to `committed` is
    /// counted there too.
    tenant: Option<Arc<Ledger>>,
}

impl Ledger {
    pub fn new(committed: u64) -> Ledger {
        Ledger {
            committed: AtomicI64::new(committed as i64),
            ..Ledger::default()
        }
    }

    pub fn committed(&self, delta: i64) {
        self.committed.fetch_add(delta, Ordering::Relaxed);
        if let Some(t) = &self.tenant {
            t.committed(delta);
        }
    }

    /// Admits a write of `size` bytes if the bucket stays within `quota`.
    pub fn reserve(self: &Arc<Self>, size: u64, quota: u64) -> Result<Reservation> {
        let size = size.min(i64::MAX as u64) as i64;
        let mut pending = self.pending.load(Ordering::Relaxed);
        loop {
            let used = self.committed.load(Ordering::Relaxed).max(0) + pending.max(0);
            if used.saturating_add(size) as u64 > quota {
                return Err(EngineError::QuotaExceeded);
            }
            match self.pending.compare_exchange_weak(
                pending,
                pending + size,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Ok(Reservation {
                        ledger: self.clone(),
                        size,
                    })
                }
                Err(now) => pending = now,
            }
        }
    }
}

/// Bytes admitted under a quota; released once the write has committed
/// (then counted in `committed`) or failed.
pub struct Reservation {
    ledger: Arc<Ledger>,
    size: i64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.ledger.pending.fetch_sub(self.size, Ordering::Relaxed);
    }
}

/// What a write holds under the quotas that apply to it: its bucket's and
/// its tenant's. Held until the write's index change has committed.
#[must_use]
#[derive(Default)]
pub struct QuotaHold {
    _bucket: Option<Reservation>,
    _tenant: Option<Reservation>,
}

/// The ledgers of the buckets of a table. Not part of the table's data:
/// clones share the ledgers, and two tables always compare equal on it.
#[derive(Clone, Debug, Default)]
pub struct Ledgers(pub Arc<BTreeMap<String, Arc<Ledger>>>);

impl PartialEq for Ledgers {
    fn eq(&self, _: &Ledgers) -> bool {
        true
    }
}

impl Eq for Ledgers {}

/// Adds `bucket`'s ledger to `m`, sharing its tenant's ledger with the
/// tenant's other buckets (a tenant's buckets are contiguous in the map:
/// they all start with `tenant:`).
fn insert_ledger(m: &mut BTreeMap<String, Arc<Ledger>>, bucket: &str, committed: u64) {
    let tenant = tenant_of(bucket);
    let shared = if tenant.is_empty() {
        None
    } else {
        let first = format!("{tenant}{TENANT_SEPARATOR}");
        let known = m
            .range(first..)
            .next()
            .filter(|(name, _)| tenant_of(name) == tenant)
            .and_then(|(_, l)| l.tenant.clone());
        let t = known.unwrap_or_default();
        t.committed(committed as i64);
        Some(t)
    };
    let ledger = Ledger {
        tenant: shared,
        ..Ledger::new(committed)
    };
    m.insert(bucket.to_owned(), Arc::new(ledger));
}

impl Ledgers {
    /// The ledgers of buckets with the bytes of their committed versions.
    pub fn of<'a>(buckets: impl Iterator<Item = (&'a str, u64)>) -> Ledgers {
        let mut m = BTreeMap::new();
        for (bucket, committed) in buckets {
            insert_ledger(&mut m, bucket, committed);
        }
        Ledgers(Arc::new(m))
    }

    pub fn get(&self, bucket: &str) -> Option<&Arc<Ledger>> {
        self.0.get(bucket)
    }

    /// These ledgers plus a new one for `bucket` (existing ones shared).
    pub fn with(&self, bucket: &str, committed: u64) -> Ledgers {
        let mut m = (*self.0).clone();
        insert_ledger(&mut m, bucket, committed);
        Ledgers(Arc::new(m))
    }

    /// Counts committed index changes (any thread).
    pub fn count_committed(&self, deltas: &Deltas) {
        for (bucket, d) in &deltas.0 {
            if d.version_bytes == 0 {
                continue;
            }
            let ledger = std::str::from_utf8(bucket).ok().and_then(|b| self.get(b));
            if let Some(l) = ledger {
                l.committed(d.version_bytes);
            }
        }
    }

    /// These ledgers without `bucket`'s; what it still counted leaves its
    /// tenant's sums with it.
    pub fn without(&self, bucket: &str) -> Ledgers {
        let mut m = (*self.0).clone();
        if let Some(l) = m.remove(bucket) {
            if let Some(t) = &l.tenant {
                t.committed(-l.committed.load(Ordering::Relaxed));
            }
        }
        Ledgers(Arc::new(m))
    }
}

/// One drive's space, from the last statvfs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DriveUsage {
    pub drive: usize,
    pub path: String,
    pub online: bool,
    pub capacity_bytes: u64,
    pub free_bytes: u64,
    /// Free space kept for deletes and compaction: new data stops here.
    pub reserve_bytes: u64,
    /// Below its reserve: new object data is refused.
    pub full: bool,
}

/// A bucket's usage and quota.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BucketReport {
    pub name: String,
    #[serde(flatten)]
    pub usage: BucketUsage,
    /// Hard quota on `version_bytes`, when one is set.
    pub quota_bytes: Option<u64>,
}

/// The node's usage: every bucket (in name order) and every drive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UsageReport {
    pub buckets: Vec<BucketReport>,
    pub drives: Vec<DriveUsage>,
}

impl Shared {
    /// Every bucket's counters summed over the partitions (LMDB read
    /// transactions; no scan of objects). Buckets without a row count zero.
    pub fn bucket_usage(&self) -> std::result::Result<BTreeMap<String, BucketUsage>, IndexError> {
        let mut out: BTreeMap<String, BucketUsage> = BTreeMap::new();
        for idx in &self.indexes {
            for (bucket, u) in idx.usage()? {
                out.entry(bucket).or_default().add(&u);
            }
        }
        Ok(out)
    }

    pub fn drive_usage(&self) -> Vec<DriveUsage> {
        (0..self.set.drives.len())
            .map(|d| DriveUsage {
                drive: d,
                path: self.set.drives[d].path.display().to_string(),
                online: self.drive_online(d),
                capacity_bytes: self.space.total(d),
                free_bytes: self.space.free(d),
                reserve_bytes: self.space.reserve(d),
                full: self.space.is_full(d),
            })
            .collect()
    }

    /// Usage of the buckets of `table` and of every drive.
    pub fn usage_of(&self, table: &super::buckets::BucketTable) -> Result<UsageReport> {
        let mut counted = self.bucket_usage()?;
        let buckets = table
            .buckets
            .iter()
            .map(|(name, info)| BucketReport {
                name: name.clone(),
                usage: counted.remove(name).unwrap_or_default(),
                quota_bytes: info.quota,
            })
            .collect();
        Ok(UsageReport {
            buckets,
            drives: self.drive_usage(),
        })
    }
}

impl Engine {
    /// The node's usage: every bucket's counters (summed over the
    /// partitions of every core) with its quota, and every drive's space.
    /// Reads LMDB (short read transactions, no scan): any core may call it.
    pub fn usage(&self) -> Result<UsageReport> {
        self.shared.usage_of(&self.buckets())
    }

    /// One bucket's usage and quota.
    pub fn bucket_usage(&self, bucket: &str) -> Result<BucketReport> {
        let quota = self.bucket_quota(bucket)?;
        let mut usage = BucketUsage::default();
        for idx in &self.shared.indexes {
            if let Some(u) = idx.usage_of(bucket)? {
                usage.add(&u);
            }
        }
        Ok(BucketReport {
            name: bucket.to_owned(),
            usage,
            quota_bytes: quota,
        })
    }

    /// The bucket's hard quota in bytes, if one is set.
    pub fn bucket_quota(&self, bucket: &str) -> Result<Option<u64>> {
        let t = self.buckets();
        let b = t.buckets.get(bucket).ok_or(EngineError::NoSuchBucket)?;
        Ok(b.quota)
    }

    /// Sets (Some) or clears (None) the bucket's hard quota: writes that
    /// would take the bytes of all its versions past it are refused with
    /// [`EngineError::QuotaExceeded`]. Durable like every bucket change. A
    /// quota below the current usage refuses every new write until enough is
    /// deleted.
    pub async fn set_bucket_quota(self: &Rc<Self>, bucket: &str, quota: Option<u64>) -> Result<()> {
        self.bucket_op(bucket, BucketChange::Quota(quota)).await
    }

    /// Whether the bucket opted in to deduplication.
    pub fn bucket_dedup(&self, bucket: &str) -> Result<bool> {
        let t = self.buckets();
        let b = t.buckets.get(bucket).ok_or(EngineError::NoSuchBucket)?;
        Ok(b.dedup)
    }

    /// Turns the bucket's deduplication on or off for its new versions.
    /// Durable like every bucket change.
    pub async fn set_bucket_dedup(self: &Rc<Self>, bucket: &str, on: bool) -> Result<()> {
        self.bucket_op(bucket, BucketChange::Dedup(on)).await
    }

    /// Admits a write of `size` bytes to `bucket` under its quota and its
    /// tenant's; the returned hold must live until the write's index change
    /// has committed.
    pub(super) fn reserve_quota(&self, bucket: &str, size: u64) -> Result<QuotaHold> {
        let t = self.buckets.borrow();
        let bucket_quota = t.buckets.get(bucket).and_then(|b| b.quota);
        let tenant_quota = t.tenant_quotas.get(tenant_of(bucket)).copied();
        if bucket_quota.is_none() && tenant_quota.is_none() {
            return Ok(QuotaHold::default());
        }
        let ledger = t
            .ledgers
            .get(bucket)
            .ok_or_else(|| EngineError::Internal(format!("bucket {bucket} has no quota ledger")))?;
        let mut hold = QuotaHold::default();
        if let Some(q) = bucket_quota {
            hold._bucket = Some(ledger.reserve(size, q)?);
        }
        if let Some(q) = tenant_quota {
            let tenant = ledger.tenant.as_ref().ok_or_else(|| {
                EngineError::Internal(format!("bucket {bucket} has no tenant ledger"))
            })?;
            let r = tenant.reserve(size, q).map_err(|e| match e {
                EngineError::QuotaExceeded => EngineError::TenantQuotaExceeded,
                e => e,
            })?;
            hold._tenant = Some(r);
        }
        Ok(hold)
    }

    /// A tenant's hard quota in bytes, if one is set.
    pub fn tenant_quota(&self, tenant: &str) -> Option<u64> {
        self.buckets().tenant_quotas.get(tenant).copied()
    }

    /// Sets (Some) or clears (None) a tenant's hard quota: writes that would
    /// take the bytes of all versions of all its buckets past it are refused
    /// with [`EngineError::TenantQuotaExceeded`]. Durable like every bucket
    /// change. The tenant is not checked here: tenants are identities.
    pub async fn set_tenant_quota(self: &Rc<Self>, tenant: &str, quota: Option<u64>) -> Result<()> {
        self.bucket_op(tenant, BucketChange::TenantQuota(quota))
            .await
    }
}

/// Buckets shown one by one in `/metrics`: beyond it the smallest (by
/// logical bytes) are summed under `bucket="_other"` (no bucket name can
/// start with `_`), so a scrape stays bounded with any number of buckets.
pub const METRIC_BUCKETS_MAX: usize = 500;

/// The `cairn_bucket_*` and drive capacity series, in Prometheus text.
pub fn render_metrics(out: &mut String, report: &UsageReport) {
    let mut rows: Vec<(&str, &BucketUsage, Option<u64>)> = report
        .buckets
        .iter()
        .map(|b| (b.name.as_str(), &b.usage, b.quota_bytes))
        .collect();
    let mut other = BucketUsage::default();
    if rows.len() > METRIC_BUCKETS_MAX {
        rows.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then(a.0.cmp(b.0)));
        for (_, u, _) in rows.drain(METRIC_BUCKETS_MAX..) {
            other.add(u);
        }
        rows.sort_by(|a, b| a.0.cmp(b.0));
        rows.push(("_other", &other, None));
    }
    type Field = fn(&BucketUsage) -> u64;
    let series: [(&str, &str, Field); 9] = [
        ("cairn_bucket_objects", "Keys whose latest version is an object.", |u| u.objects),
        ("cairn_bucket_bytes", "Logical bytes of the latest versions.", |u| u.bytes),
        ("cairn_bucket_versions", "Object versions, latest and noncurrent (delete markers excluded).", |u| u.versions),
        ("cairn_bucket_version_bytes", "Logical bytes of every version (what a quota limits).", |u| u.version_bytes),
        ("cairn_bucket_delete_markers", "Delete markers.", |u| u.delete_markers),
        ("cairn_bucket_stored_bytes", "On-drive bytes of every version: commit record copies and shards, parity and padding included.", |u| u.stored_bytes),
        ("cairn_bucket_uploads", "Multipart uploads in progress.", |u| u.uploads),
        ("cairn_bucket_upload_bytes", "Logical bytes of the parts of uploads in progress.", |u| u.upload_bytes),
        ("cairn_bucket_upload_stored_bytes", "On-drive bytes of uploads in progress.", |u| u.upload_stored_bytes),
    ];
    for (name, help, field) in series {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (bucket, u, _) in &rows {
            let _ = writeln!(out, "{name}{{bucket=\"{bucket}\"}} {}", field(u));
        }
    }
    let _ = writeln!(
        out,
        "# HELP cairn_bucket_quota_bytes The bucket's hard quota, when one is set."
    );
    let _ = writeln!(out, "# TYPE cairn_bucket_quota_bytes gauge");
    for (bucket, _, quota) in &rows {
        if let Some(q) = quota {
            let _ = writeln!(out, "cairn_bucket_quota_bytes{{bucket=\"{bucket}\"}} {q}");
        }
    }
    let _ = writeln!(out, "# TYPE cairn_drive_capacity_bytes gauge");
    for d in &report.drives {
        let _ = writeln!(
            out,
            "cairn_drive_capacity_bytes{{drive=\"{}\"}} {}",
            d.drive, d.capacity_bytes
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::meta::{DataLoc, ObjectMeta, PartData, PartMeta, RecordLoc, UploadMeta};

    fn loc(len: u32) -> RecordLoc {
        RecordLoc {
            drive: 0,
            segment: 1,
            offset: 0,
            len,
        }
    }

    fn entry(size: u64, dm: bool) -> IndexEntry {
        IndexEntry {
            meta: ObjectMeta {
                version: 1,
                seq: 1,
                size,
                etag: String::new(),
                modified_ms: 0,
                null: false,
                delete_marker: dm,
                content_type: None,
                headers: vec![],
                user_meta: vec![],
                layout: (2, 1),
                rotation: 0,
                data: DataLoc::Stripes(vec![vec![Some(loc(8192)), None, Some(loc(8192))]]),
                tags: vec![],
                attrs: Vec::new(),
            },
            commits: vec![loc(4096), loc(4096)],
        }
    }

    #[test]
    fn a_latest_version_counts_as_object_and_version() {
        let mut d = UsageDelta::default();
        d.version(&entry(100, false), true, 1);
        let mut u = BucketUsage::default();
        u.apply(&d);
        assert_eq!(
            u,
            BucketUsage {
                objects: 1,
                bytes: 100,
                versions: 1,
                version_bytes: 100,
                stored_bytes: 4096 * 2 + 8192 * 2,
                ..Default::default()
            }
        );
    }

    #[test]
    fn demoting_keeps_the_version_and_drops_the_object() {
        let e = entry(100, false);
        let mut u = BucketUsage::default();
        let mut d = UsageDelta::default();
        d.version(&e, true, 1);
        u.apply(&d);
        let mut d = UsageDelta::default();
        d.demote(&e);
        d.version(&entry(0, true), true, 1);
        u.apply(&d);
        assert_eq!((u.objects, u.bytes), (0, 0));
        assert_eq!((u.versions, u.version_bytes), (1, 100));
        assert_eq!(u.delete_markers, 1);
        // The marker's commit records count on the drives, its size not.
        assert_eq!(u.stored_bytes, 2 * (4096 * 2 + 8192 * 2));
    }

    #[test]
    fn counting_in_then_out_is_zero() {
        let mut d = UsageDelta::default();
        let up = UploadEntry {
            meta: UploadMeta {
                upload: 5,
                created_ms: 0,
                content_type: None,
                headers: vec![],
                user_meta: vec![],
                layout: (2, 1),
                rotation: 0,
                tags: vec![],
                checksum: None,
                attrs: Vec::new(),
            },
            commits: vec![loc(4096)],
        };
        let part = PartEntry {
            meta: PartMeta {
                upload: 5,
                seq: 1,
                layout: (2, 1),
                part: PartData {
                    number: 1,
                    size: 7,
                    etag: String::new(),
                    checksums: vec![],
                    modified_ms: 0,
                    rotation: 0,
                    stripes: vec![vec![Some(loc(4096))]],
                },
                attrs: vec![],
            },
            commits: vec![loc(4096)],
        };
        for sign in [1, -1] {
            d.version(&entry(9, false), true, sign);
            d.version(&entry(0, true), false, sign);
            d.upload(&up, sign);
            d.part(&part, sign);
            if sign == 1 {
                assert_eq!((d.uploads, d.upload_parts, d.upload_bytes), (1, 1, 7));
                assert_eq!(d.upload_stored_bytes, 3 * 4096);
            }
        }
        assert!(d.is_zero());
    }

    #[test]
    fn counters_never_go_below_zero() {
        let mut u = BucketUsage::default();
        let mut d = UsageDelta::default();
        d.version(&entry(10, false), true, -1);
        u.apply(&d);
        assert!(u.is_empty());
    }

    #[test]
    fn deltas_are_kept_per_bucket() {
        let mut ds = Deltas::default();
        ds.of(b"a\0k1").objects += 1;
        ds.of(b"a\0k2").objects += 1;
        ds.of(b"b\0k\0\x01").uploads += 1;
        assert_eq!(ds.0.len(), 2);
        assert_eq!(ds.0[&b"a"[..]].objects, 2);
        assert_eq!(ds.0[&b"b"[..]].uploads, 1);
    }

    #[test]
    fn a_quota_admits_up_to_its_size_counting_writes_in_flight() {
        let l = Arc::new(Ledger::new(60));
        let r = l.reserve(30, 100).expect("60 + 30 fits in 100");
        assert!(matches!(
            l.reserve(11, 100),
            Err(EngineError::QuotaExceeded)
        ));
        let r2 = l.reserve(10, 100).expect("exactly 100");
        drop(r);
        // The first write committed: its bytes moved to `committed`.
        l.committed(30);
        assert!(matches!(l.reserve(1, 100), Err(EngineError::QuotaExceeded)));
        drop(r2);
        l.committed(-50);
        l.reserve(50, 100).expect("room after deletes");
    }

    #[test]
    fn metrics_sum_buckets_past_the_bound_under_other() {
        let buckets = (0..METRIC_BUCKETS_MAX + 3)
            .map(|i| BucketReport {
                name: format!("b{i:04}"),
                usage: BucketUsage {
                    objects: 1,
                    bytes: i as u64,
                    ..Default::default()
                },
                quota_bytes: None,
            })
            .collect();
        let mut out = String::new();
        render_metrics(
            &mut out,
            &UsageReport {
                buckets,
                drives: vec![],
            },
        );
        let objects: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("cairn_bucket_objects{"))
            .collect();
        assert_eq!(objects.len(), METRIC_BUCKETS_MAX + 1);
        // The three smallest went to _other.
        assert!(objects.contains(&"cairn_bucket_objects{bucket=\"_other\"} 3"));
        assert!(!out.contains("bucket=\"b0000\""));
        assert!(out.contains("cairn_bucket_bytes{bucket=\"b0502\"} 502"));
    }

    mod against_the_index {
        //! The counters kept by `PartitionIndex::apply` equal a count of the
        //! index after any sequence of mutations.
        use super::*;
        use crate::engine::index::{Holder, Mutation, PartitionIndex};
        use crate::engine::meta::VersionSel;
        use rand::{Rng, SeedableRng};

        struct Gen {
            rng: rand::rngs::StdRng,
            seq: u64,
            offset: u64,
        }

        impl Gen {
            fn loc(&mut self) -> RecordLoc {
                self.offset += 4096;
                RecordLoc {
                    drive: self.rng.gen_range(0..3),
                    segment: self.rng.gen_range(1..4),
                    offset: self.offset,
                    len: 4096 * self.rng.gen_range(1..4),
                }
            }

            fn entry(&mut self, null: bool) -> IndexEntry {
                self.seq += 1;
                let dm = self.rng.gen_bool(0.2);
                let mut e = entry(if dm { 0 } else { self.rng.gen_range(0..5000) }, dm);
                e.meta.version = self.seq as u128;
                e.meta.seq = self.seq;
                e.meta.null = null;
                e.commits = vec![self.loc(), self.loc()];
                e.meta.data = if dm || self.rng.gen_bool(0.5) {
                    DataLoc::Inline
                } else {
                    DataLoc::Stripes(vec![vec![Some(self.loc()), None, Some(self.loc())]])
                };
                e
            }
        }

        fn versions(idx: &PartitionIndex, b: &str, k: &str) -> Vec<IndexEntry> {
            let mut out = Vec::new();
            if let Some(e) = idx.get(b, k).unwrap() {
                out.push(e);
            }
            for l in idx.scan_versions(b, k, 1, 1000).unwrap() {
                if l.0 == k {
                    for v in l.1.iter().skip(1) {
                        let sel = if v.entry.null {
                            VersionSel::Null
                        } else {
                            VersionSel::Id(v.entry.version)
                        };
                        out.extend(idx.get_version(b, k, sel).unwrap());
                    }
                }
            }
            out
        }

        #[test]
        fn counters_and_the_reverse_map_equal_a_walk_of_the_index_after_any_mutations() {
            let dir = tempfile::tempdir().unwrap();
            let (idx, _) = PartitionIndex::open(dir.path(), 0, 0..=0, &[]).unwrap();
            idx.clear().unwrap();
            let mut g = Gen {
                rng: rand::rngs::StdRng::seed_from_u64(7),
                seq: 0,
                offset: 0,
            };
            let mut uploads: Vec<(String, String, u128)> = Vec::new();
            let mut before: BTreeMap<String, BucketUsage> = BTreeMap::new();
            for round in 0..400 {
                let mut batch = Vec::new();
                // Each mutation is drawn from the index as it was before the
                // batch: one per key per batch.
                let mut keys = std::collections::HashSet::new();
                for _ in 0..g.rng.gen_range(1..5) {
                    let bucket = ["a", "b"][g.rng.gen_range(0..2)].to_owned();
                    let key = format!("k{}", g.rng.gen_range(0..4));
                    if !keys.insert((bucket.clone(), key.clone())) {
                        continue;
                    }
                    let existing = versions(&idx, &bucket, &key);
                    let m = match g.rng.gen_range(0..9) {
                        0..=2 => {
                            let null = g.rng.gen_bool(0.4);
                            Mutation::Put {
                                bucket,
                                key,
                                entry: g.entry(null),
                            }
                        }
                        3 => {
                            let target = if !existing.is_empty() && g.rng.gen_bool(0.8) {
                                existing[g.rng.gen_range(0..existing.len())].meta.sel()
                            } else {
                                VersionSel::Null
                            };
                            Mutation::Delete {
                                bucket,
                                key,
                                target,
                                tombstones: vec![g.loc()],
                            }
                        }
                        4 if !existing.is_empty() => {
                            let i = g.rng.gen_range(0..existing.len());
                            let mut e = existing[i].clone();
                            e.commits = vec![g.loc()];
                            Mutation::Update {
                                bucket,
                                key,
                                entry: e,
                            }
                        }
                        5 if !existing.is_empty() => {
                            let i = g.rng.gen_range(0..existing.len());
                            let e = &existing[i];
                            let Some(from) = e.records().next() else {
                                continue;
                            };
                            let to = g.rng.gen_bool(0.8).then(|| g.loc());
                            Mutation::Relocate {
                                bucket,
                                key,
                                holder: Holder::Object {
                                    version: e.meta.version,
                                },
                                moves: vec![(from, to)],
                            }
                        }
                        6 => {
                            g.seq += 1;
                            let upload = g.seq as u128;
                            uploads.push((bucket.clone(), key.clone(), upload));
                            let mut entry = UploadEntry {
                                meta: UploadMeta {
                                    upload,
                                    created_ms: 0,
                                    content_type: None,
                                    headers: vec![],
                                    user_meta: vec![],
                                    layout: (2, 1),
                                    rotation: 0,
                                    tags: vec![],
                                    checksum: None,
                                    attrs: Vec::new(),
                                },
                                commits: vec![],
                            };
                            entry.commits = vec![g.loc()];
                            Mutation::CreateUpload { bucket, key, entry }
                        }
                        7 if !uploads.is_empty() => {
                            let (_, _, upload) = uploads[g.rng.gen_range(0..uploads.len())];
                            // Sometimes an upload of another key: ignored.
                            let (bucket, key) = match uploads.iter().find(|u| u.2 == upload) {
                                Some(u) if g.rng.gen_bool(0.9) => (u.0.clone(), u.1.clone()),
                                _ => (bucket, key),
                            };
                            if !keys.insert((bucket.clone(), key.clone())) {
                                continue;
                            }
                            g.seq += 1;
                            let part = PartData {
                                number: g.rng.gen_range(1..4),
                                size: g.rng.gen_range(0..9000),
                                etag: String::new(),
                                checksums: vec![],
                                modified_ms: 0,
                                rotation: 0,
                                stripes: vec![vec![Some(g.loc()), Some(g.loc())]],
                            };
                            let entry = PartEntry {
                                meta: PartMeta {
                                    upload,
                                    seq: g.seq,
                                    layout: (2, 1),
                                    part,
                                    attrs: vec![],
                                },
                                commits: vec![g.loc()],
                            };
                            Mutation::PutPart { bucket, key, entry }
                        }
                        8 if !uploads.is_empty() => {
                            let i = g.rng.gen_range(0..uploads.len());
                            if !keys.insert((uploads[i].0.clone(), uploads[i].1.clone())) {
                                continue;
                            }
                            let (bucket, key, upload) = uploads.swap_remove(i);
                            let object = g.rng.gen_bool(0.5).then(|| g.entry(false));
                            Mutation::EndUpload {
                                bucket,
                                key,
                                upload,
                                ended: vec![g.loc()],
                                ended_ms: 0,
                                object,
                            }
                        }
                        _ => continue,
                    };
                    batch.push(m);
                }
                let deltas = idx.apply(&batch).unwrap();
                let kept: BTreeMap<String, BucketUsage> =
                    idx.usage().unwrap().into_iter().collect();
                let counted = idx.count_usage().unwrap();
                assert_eq!(
                    kept, counted,
                    "round {round}: counters drifted from the index"
                );
                let drift = idx.refs_mismatch().unwrap();
                assert!(drift.is_empty(), "round {round}: reverse map: {drift:?}");
                // What `apply` returns (the quota ledgers' input) is the change.
                for (b, d) in &deltas.0 {
                    let b = String::from_utf8(b.clone()).unwrap();
                    before.entry(b).or_default().apply(d);
                }
                before.retain(|_, u| !u.is_empty());
                assert_eq!(before, kept, "round {round}: returned deltas");
            }
            let total: u64 = idx
                .usage()
                .unwrap()
                .iter()
                .map(|(_, u)| u.versions + u.uploads)
                .sum();
            assert!(total > 10, "the workload left something to count");
        }

        #[test]
        fn an_index_without_counters_is_counted_when_opened() {
            let dir = tempfile::tempdir().unwrap();
            let mut g = Gen {
                rng: rand::rngs::StdRng::seed_from_u64(3),
                seq: 0,
                offset: 0,
            };
            {
                let (idx, _) = PartitionIndex::open(dir.path(), 0, 0..=0, &[]).unwrap();
                idx.clear().unwrap();
                for i in 0..20 {
                    let entry = g.entry(false);
                    idx.apply(&[Mutation::Put {
                        bucket: "a".into(),
                        key: format!("k{}", i % 5),
                        entry,
                    }])
                    .unwrap();
                }
                idx.forget_usage_for_test().unwrap();
                idx.mark_clean(1).unwrap();
            }
            let (idx, trust) = PartitionIndex::open(dir.path(), 0, 1..=1, &[]).unwrap();
            assert_eq!(trust, crate::engine::index::Trust::Trusted);
            let kept: BTreeMap<String, BucketUsage> = idx.usage().unwrap().into_iter().collect();
            assert_eq!(kept, idx.count_usage().unwrap());
            assert_eq!(kept["a"].versions + kept["a"].delete_markers, 20);
        }
    }
}
