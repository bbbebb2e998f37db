//! The per-partition index: one LMDB environment per partition (heed).
//!
//! LMDB runs with NO_SYNC: the segments are the write-ahead log. Not with
//! WRITE_MAP: a store into a page of the map that the filesystem cannot
//! allocate is a SIGBUS (a full disk killed the node); without it LMDB
//! writes its pages with pwrite, and ENOSPC aborts the transaction instead.
//! The cost is measured in docs/ARCHITECTURE.md.
//! A version is acknowledged only after its records are fdatasync'd and its
//! index transaction is committed (to the page cache), so a process crash
//! (kill -9) loses nothing: the committed pages survive in the page cache.
//! After a possible power loss (another boot id) or a run that used another
//! index copy (epoch mismatch), an environment that was not closed cleanly is
//! not trusted: it is rebuilt from the segments (see `rebuild.rs`).
//! After a power loss the environment may be torn (NO_SYNC: pages and meta
//! pages reach the disk in any order), and LMDB may crash on it (SIGSEGV in
//! a read or in the freelist of a `clear`): so while in use an environment
//! has an `opened-on` file beside it naming the boot, and one left by
//! another boot is removed with its environment before LMDB opens it.
//! Write transactions run only on the owning core's companion thread.

use std::path::{Path, PathBuf};

use heed::types::{Bytes, Str};
use heed::{CommitOrAbort, Database, Env, EnvFlags, EnvOpenOptions, WithoutTls};
use serde::{Deserialize, Serialize};

use super::meta::{
    decode_entry, encode_entry, relocate_list, IndexEntry, PartEntry, RecordLoc, UploadEntry,
    VersionSel,
};
use super::usage::{BucketUsage, Deltas};

/// Virtual map size per partition; LMDB only maps what it uses.
const MAP_SIZE: usize = 64 << 30;
/// Concurrent read transactions per partition, across all cores.
const MAX_READERS: u32 = 2048;
/// `meta` key saying the `usage` rows count this index (and in which
/// encoding): an index without it (made before usage accounting) is
/// recounted when opened.
const USAGE_MARK: &str = "usage";
const USAGE_VERSION: &[u8] = &[1];
/// `meta` key giving the record format of the entries' encoding: an index
/// without it (entries of format 1, before `meta::Attr`) is rebuilt from
/// the drives, whose records say their own format.
const ENTRY_MARK: &str = "entries";
const ENTRY_FORMAT: &[u8] = &super::record::FORMAT_VERSION.to_le_bytes();
/// The oldest entry format used as it is (its mark raised to today's):
/// format 4 only added a variant, `Attr::StorageClass`, that no entry of
/// format 3 holds, so an upgrade need not rebuild every index for it.
const ENTRY_FORMAT_READ_AS_IS: u16 = 3;
/// `meta` key saying the index keeps the reverse map and the stale commit
/// segments (`refs`, `stale`), in which format: an index without it (made
/// before them) is rebuilt from the drives, which recovers both.
const REFS_MARK: &str = "refs";
const REFS_FORMAT: &[u8] = &[1];
/// `meta` key naming the drives a rebuild of this index could not read
/// (postcard `Vec<u16>`): their commit records are unknown, so no tombstone
/// is forgotten until a rebuild with them (which a drive's return forces).
const UNSEEN_MARK: &str = "unseen";
/// `meta` key: the epoch of the last state this binary's kind wrote (with
/// the state). A binary from before the reverse map writes the state but
/// not this, and changes entries without keeping `refs` and `stale`: a
/// mismatch means such a run used the index, so it is rebuilt.
const REFS_EPOCH: &str = "refs-epoch";
/// Beside the environment from `mark_open` to `mark_clean`: the boot id of
/// the run using it. Found naming another boot, the environment may be torn
/// and is deleted unread (found by the power-loss simulator: a torn
/// environment crashed `clear`).
const OPENED_ON: &str = "opened-on";
/// What `opened-on` says of an environment not yet marked open: never a
/// boot id, so a start that finds it deletes the environment.
const NEW_ENV: &str = "new";

pub struct PartitionIndex {
    pub partition: u16,
    // Field order matters: the databases are handles into `env` and must not
    // outlive it (see `open`).
    /// object key -> the key's latest version (perhaps a delete marker).
    objects: Database<'static, Bytes, Bytes>,
    /// version key -> the key's noncurrent versions, newest first. A key
    /// with noncurrent versions always has a latest one.
    versions: Database<'static, Bytes, Bytes>,
    /// (drive u16 BE, segment u32 BE) -> live bytes u64 LE.
    segments: Database<'static, Bytes, Bytes>,
    /// tombstone key -> the records of a delete of the key's null version
    /// (object key) or of one version (`tombstone_key`), kept (and moved by
    /// compaction) so older commit records cannot come back on a rebuild.
    tombstones: Database<'static, Bytes, Bytes>,
    /// upload key -> multipart uploads in progress.
    uploads: Database<'static, Bytes, Bytes>,
    /// part key -> the current upload of each part number.
    parts: Database<'static, Bytes, Bytes>,
    /// upload key -> (end time, the records saying the upload ended), kept
    /// while the upload's own records could still bring it back on a rebuild.
    ended: Database<'static, Bytes, Bytes>,
    /// bucket -> `BucketUsage` of the bucket's entries in this partition,
    /// changed in the transaction that changes them (see `usage.rs`).
    usage: Database<'static, Bytes, Bytes>,
    meta: Database<'static, Str, Bytes>,
    /// repair key -> `RepairNote`: repairs not yet done, kept across
    /// restarts (see `repair.rs`).
    repairs: Database<'static, Bytes, Bytes>,
    /// The reverse map: `ref_key` (segment, holder) -> how many of the
    /// holder's records are in the segment (u32 LE). Changed in the
    /// transaction that changes the holder; compaction reads it.
    refs: Database<'static, Bytes, Bytes>,
    /// tombstone key of a version -> the segments (postcard
    /// `Vec<SegmentId>`) that may still hold commit records of the version
    /// the index no longer points to: superseded, moved or dropped copies,
    /// and every copy once the version is deleted. The version's tombstone
    /// is kept until all of them are removed from their drives.
    stale: Database<'static, Bytes, Bytes>,
    /// The notification outbox (see `outbox.rs`): per target, its counters
    /// and the events it has not received yet, in sequence order. Not
    /// cleared by a rebuild: the events are of changes already made.
    pub(super) events: Database<'static, Bytes, Bytes>,
    /// The outbox's counters, kept in memory (see `outbox::Tally`).
    pub(super) tally: super::outbox::Tally,
    /// Content object key -> `ContentRow`: how many versions refer to a
    /// deduplicated content this partition owns (see `dedup.rs`). Counted
    /// anew after a rebuild (`CONTENT_MARK`).
    content: Database<'static, Bytes, Bytes>,
    pub(super) env: Env<WithoutTls>,
    dir: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    clean: bool,
    boot_id: String,
    epoch: u32,
    /// Drives offline when this index was last opened: a rebuild then could
    /// not see their records, so the index is not trusted once one is back.
    offline: Vec<u16>,
}

/// How far an opened environment can be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    Trusted,
    /// Must be rebuilt from the segments; says why.
    Untrusted(String),
}

/// A change the owner core applies in one write transaction.
pub enum Mutation {
    /// Make `entry` the latest version of the key. A null version replaces
    /// the key's null version (and its tombstone); any other latest version
    /// becomes noncurrent.
    Put {
        bucket: String,
        key: String,
        entry: IndexEntry,
    },
    /// Replace a version (latest or noncurrent) by `entry`, a newer commit of
    /// the same version (its tags changed); a no-op if the version is gone.
    Update {
        bucket: String,
        key: String,
        entry: IndexEntry,
    },
    /// Remove one version for good (the newest noncurrent one becomes the
    /// latest if it was the latest); `tombstones` are the delete's own
    /// records (kept live).
    Delete {
        bucket: String,
        key: String,
        target: VersionSel,
        tombstones: Vec<RecordLoc>,
    },
    /// Compaction moved records of `holder`: replace each `from` by `to`
    /// (None drops a record found corrupt). A no-op if the holder has changed
    /// meanwhile.
    Relocate {
        bucket: String,
        key: String,
        holder: Holder,
        moves: Vec<(RecordLoc, Option<RecordLoc>)>,
    },
    /// A multipart upload began.
    CreateUpload {
        bucket: String,
        key: String,
        entry: UploadEntry,
    },
    /// A part was stored; replaces an older upload of the same number.
    /// Ignored (and its records left dead) if the upload has ended.
    PutPart {
        bucket: String,
        key: String,
        entry: PartEntry,
    },
    /// An upload ended: completed (`object` becomes the key's current
    /// version) or aborted. Its entry and parts go; `ended` records stay.
    EndUpload {
        bucket: String,
        key: String,
        upload: u128,
        ended: Vec<RecordLoc>,
        ended_ms: u64,
        object: Option<IndexEntry>,
    },
    /// The end of an upload no longer needs remembering.
    ForgetEnded {
        bucket: String,
        key: String,
        upload: u128,
    },
    /// Repair rewrote records of `holder`: shard records into their slots
    /// (only where the slot still holds what repair found there), and
    /// replicated copies (bad ones dropped, new ones added). A no-op for a
    /// holder that is gone.
    Heal {
        bucket: String,
        key: String,
        holder: Holder,
        shards: Vec<ShardFill>,
        drop_copies: Vec<RecordLoc>,
        add_copies: Vec<RecordLoc>,
    },
    /// Remembers a repair still to do (`Some`) or forgets it (`None`).
    NoteRepair {
        bucket: String,
        key: String,
        holder: Holder,
        note: Option<RepairNote>,
    },
    /// Where this partition's scrub is.
    Scrub { state: ScrubState },
    /// Where this partition's lifecycle pass is.
    Lifecycle {
        state: super::lifecycle::LifecycleState,
    },
    /// `segments` may hold commit records of `version` that the index does
    /// not point to (a rebuild found them superseded or deleted).
    Stale {
        bucket: String,
        key: String,
        version: u128,
        segments: Vec<SegmentId>,
    },
    /// Forgets the tombstone of a delete of `version` if every segment that
    /// may hold a commit record of it is in `gone` (removed from its drive).
    ForgetTombstone {
        bucket: String,
        key: String,
        version: u128,
        gone: Vec<SegmentId>,
    },
    /// Where this partition's heal is (see `heal.rs`).
    HealWalk { state: super::heal::PartitionHeal },
    /// `delta` more (or fewer) versions refer to the content object
    /// `bucket`/`key` of `size` bytes (see `dedup.rs`); a count that
    /// reaches 0 notes `now_ms`. `fresh`: the object is about to be
    /// written anew, so no version refers to an older one and the count
    /// starts from 0.
    Content {
        bucket: String,
        key: String,
        delta: i64,
        size: u64,
        now_ms: u64,
        fresh: bool,
    },
    /// The content object is gone: forget its count (if still 0).
    ForgetContent { bucket: String, key: String },
    /// Events of the change queued just before, for the notification
    /// outbox: queued with it, so the same transaction writes both.
    Events { events: Vec<super::outbox::Queued> },
}

/// A shard record written by repair: which stripe set (the part's position
/// for a completed multipart object, else 0), stripe and shard index, what
/// the slot held when repair read it, and the new record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardFill {
    pub set: u32,
    pub stripe: u32,
    pub shard: u8,
    pub old: Option<RecordLoc>,
    pub loc: RecordLoc,
}

/// A repair not yet done: when it was first asked for, and the drives it
/// waits for (none: due at the next look).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairNote {
    pub queued_ms: u64,
    pub waiting_for: Vec<u16>,
}

/// A place in a partition's index, in scrub order: which database (see
/// `SCRUB_DBS`) and the last key taken from it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrubPos {
    pub db: u8,
    pub key: Vec<u8>,
}

/// A partition's scrub, persisted so a pass resumes after a restart.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrubState {
    /// The pass in progress: when it began, where it is, holders done.
    pub pass: Option<ScrubPass>,
    /// When the last finished pass began and ended (ms; 0: never).
    pub last_started_ms: u64,
    pub last_ended_ms: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrubPass {
    pub started_ms: u64,
    pub at: Option<ScrubPos>,
    pub done: u64,
}

/// What one holder keeps on the drives, as the index has it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// Replicated copies of its record (commit, tombstone, upload, part or
    /// end record).
    pub copies: Vec<RecordLoc>,
    /// Its erasure-coded data, per stripe set.
    pub sets: Vec<StripeSet>,
    /// First drive of its placement.
    pub rotation: u16,
}

/// Stripes whose shard records share one identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StripeSet {
    /// What the shard records say they belong to.
    pub version: u128,
    pub part: u32,
    pub layout: (u8, u8),
    pub rotation: u16,
    pub stripes: super::meta::Stripes,
    /// The storage class its attributes name (None: STANDARD), and the
    /// data generation its shard records carry.
    pub class: Option<String>,
    pub data_gen: u64,
}

/// A holder of records and its key: (bucket, key, holder).
pub type HolderOf = (String, String, Holder);

/// The `meta` key saying the content counts are kept (see
/// `content_counted`), and the value it holds.
const CONTENT_MARK: &str = "content-counted";
const CONTENT_VERSION: &[u8] = b"1";

/// How many versions refer to a content object (see `dedup.rs`). Only ever
/// too high: increments come before the versions commit, decrements after
/// they are gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentRow {
    pub count: u64,
    /// When the count last reached 0 (ms; meaningless while above 0).
    pub zero_since_ms: u64,
    /// The content's bytes.
    pub size: u64,
}

impl ContentRow {
    /// The row after `delta` more references at `now_ms`.
    pub fn with(self, delta: i64, size: u64, now_ms: u64) -> ContentRow {
        let count = (self.count as i64).saturating_add(delta).max(0) as u64;
        ContentRow {
            count,
            zero_since_ms: match (self.count, count) {
                (_, 0) if self.count > 0 => now_ms,
                _ => self.zero_since_ms,
            },
            size: if delta > 0 { size } else { self.size },
        }
    }
}

/// The `meta` key of the scrub state.
const SCRUB_MARK: &str = "scrub";
/// Meta key of the partition's lifecycle state.
const LIFECYCLE_MARK: &str = "lifecycle";
/// The `meta` key of the heal state.
const HEAL_MARK: &str = "heal";
/// The databases a scrub walks, in order.
const SCRUB_DBS: u8 = 6;

/// (drive, segment id).
pub type SegmentId = (u16, u32);

/// A tombstone that may be forgotten: (bucket, key, version, the segments
/// that held commit records of the version).
pub type Forgettable = (String, String, u128, Vec<SegmentId>);

/// What keeps records alive, within one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Holder {
    /// A version of the key (latest or noncurrent).
    Object { version: u128 },
    /// The tombstone of a delete of the null version or of one version.
    Tombstone { target: VersionSel },
    /// An upload in progress (its upload record).
    Upload { upload: u128 },
    /// One part of an upload in progress, as of its sequence number.
    Part { upload: u128, number: u32, seq: u64 },
    /// The records of an ended upload.
    Ended { upload: u128 },
}

/// Records of one holder in a segment: used by compaction.
pub struct SegmentRef {
    pub bucket: String,
    pub key: String,
    pub holder: Holder,
    pub records: Vec<RecordLoc>,
}

fn split_key(k: &[u8]) -> Option<(String, String)> {
    let split = k.iter().position(|&b| b == 0)?;
    Some((
        String::from_utf8_lossy(&k[..split]).into_owned(),
        String::from_utf8_lossy(&k[split + 1..]).into_owned(),
    ))
}

/// `bucket \0 key \0 upload(16, BE)`: an upload's entry, and the prefix of
/// its parts'.
pub fn upload_key(bucket: &str, key: &str, upload: u128) -> Vec<u8> {
    let mut k = object_key(bucket, key);
    k.push(0);
    k.extend_from_slice(&upload.to_be_bytes());
    k
}

/// `bucket \0 key \0 !seq(8, BE)`: a noncurrent version, the newest first.
fn version_key(k: &[u8], seq: u64) -> Vec<u8> {
    let mut vk = Vec::with_capacity(k.len() + 9);
    vk.extend_from_slice(k);
    vk.push(0);
    vk.extend_from_slice(&(!seq).to_be_bytes());
    vk
}

/// The prefix of every noncurrent version of an object key.
fn versions_prefix(k: &[u8]) -> Vec<u8> {
    let mut p = k.to_vec();
    p.push(0);
    p
}

/// The object key for the null version's delete; `object key \0 version(16,
/// BE)` for one version's.
fn tombstone_key(k: &[u8], target: VersionSel) -> Vec<u8> {
    let mut tk = k.to_vec();
    if let VersionSel::Id(v) = target {
        tk.push(0);
        tk.extend_from_slice(&v.to_be_bytes());
    }
    tk
}

/// (bucket, key, target) from a tombstone key.
fn split_tombstone_key(k: &[u8]) -> Option<(String, String, VersionSel)> {
    match split_upload_key(k) {
        Some((bucket, key, v)) => Some((bucket, key, VersionSel::Id(v))),
        None => split_key(k).map(|(b, key)| (b, key, VersionSel::Null)),
    }
}

/// (bucket, key) from a version key.
fn split_version_key(k: &[u8]) -> Option<(String, String)> {
    let n = k.len().checked_sub(9)?;
    if k[n] != 0 {
        return None;
    }
    split_key(&k[..n])
}

/// `object key \0 postcard(holder)`: a remembered repair.
fn repair_key(bucket: &str, key: &str, holder: Holder) -> Vec<u8> {
    holder_key(&object_key(bucket, key), holder)
}

/// (bucket, key, holder) from a repair key (bucket and key hold no NUL).
fn split_repair_key(rk: &[u8]) -> Option<(String, String, Holder)> {
    let b = rk.iter().position(|&c| c == 0)?;
    let k = b + 1 + rk[b + 1..].iter().position(|&c| c == 0)?;
    let (bucket, key) = split_key(&rk[..k])?;
    Some((bucket, key, postcard::from_bytes(&rk[k + 1..]).ok()?))
}

/// What a holder stores, open for an edit (see `PartitionIndex::edit_holder`).
enum Stored<'a> {
    /// A version of the object.
    Version(&'a mut IndexEntry),
    /// A part of an upload.
    Part(&'a mut PartEntry),
    /// A bare list of record copies: a tombstone's, an upload's commit
    /// copies, an ended upload's records.
    Copies(&'a mut Vec<RecordLoc>),
}

/// The edit of a `Mutation::Heal`.
struct HealEdit<'a> {
    shards: &'a [ShardFill],
    drop_copies: &'a [RecordLoc],
    add_copies: &'a [RecordLoc],
}

impl HealEdit<'_> {
    fn copies(&self, h: &[u8], copies: &mut Vec<RecordLoc>, live: &mut Live) {
        for d in self.drop_copies {
            if let Some(i) = copies.iter().position(|c| c == d) {
                copies.remove(i);
                live.sub(h, std::iter::once(*d));
            }
        }
        for a in self.add_copies {
            if !copies.contains(a) {
                copies.push(*a);
                live.add(h, std::iter::once(*a));
            }
        }
    }

    fn shards(&self, h: &[u8], set: u32, stripes: &mut super::meta::Stripes, live: &mut Live) {
        for f in self.shards.iter().filter(|f| f.set == set) {
            let Some(slot) = stripes
                .get_mut(f.stripe as usize)
                .and_then(|s| s.get_mut(f.shard as usize))
            else {
                continue;
            };
            if *slot != f.old {
                continue;
            }
            if let Some(prev) = slot.replace(f.loc) {
                live.sub(h, std::iter::once(prev));
            }
            live.add(h, std::iter::once(f.loc));
        }
    }
}

/// `upload key ++ part number (4, BE)`.
fn part_key(bucket: &str, key: &str, upload: u128, number: u32) -> Vec<u8> {
    let mut k = upload_key(bucket, key, upload);
    k.extend_from_slice(&number.to_be_bytes());
    k
}

/// (bucket, key, upload) from an upload key (keys never contain NUL; the
/// upload id may, so it is taken from the end).
fn split_upload_key(k: &[u8]) -> Option<(String, String, u128)> {
    let n = k.len().checked_sub(17)?;
    if k[n] != 0 {
        return None;
    }
    let (bucket, key) = split_key(&k[..n])?;
    Some((
        bucket,
        key,
        u128::from_be_bytes(k[n + 1..].try_into().ok()?),
    ))
}

/// Changes within one transaction: live bytes per (drive, segment), and
/// records per (holder, segment) for the reverse map. `h` is a holder's
/// `holder_key`.
#[derive(Default)]
struct Live {
    bytes: std::collections::HashMap<SegmentId, i64>,
    refs: std::collections::HashMap<Vec<u8>, std::collections::HashMap<SegmentId, i64>>,
}

impl Live {
    fn add(&mut self, h: &[u8], locs: impl Iterator<Item = RecordLoc>) {
        self.change(h, locs, 1);
    }

    fn sub(&mut self, h: &[u8], locs: impl Iterator<Item = RecordLoc>) {
        self.change(h, locs, -1);
    }

    fn change(&mut self, h: &[u8], locs: impl Iterator<Item = RecordLoc>, sign: i64) {
        if !self.refs.contains_key(h) {
            self.refs.insert(h.to_vec(), Default::default());
        }
        let Some(refs) = self.refs.get_mut(h) else {
            return;
        };
        for r in locs {
            *self.bytes.entry((r.drive, r.segment)).or_default() += sign * r.len as i64;
            *refs.entry((r.drive, r.segment)).or_default() += sign;
        }
    }
}

/// `object key \0 postcard(holder)`: names a holder in the reverse map (the
/// same bytes as its repair key).
fn holder_key(k: &[u8], holder: Holder) -> Vec<u8> {
    let mut hk = k.to_vec();
    hk.push(0);
    hk.extend_from_slice(&encode(&holder));
    hk
}

/// A `stale` row (format `REFS_FORMAT`).
pub fn encode_stale(segs: &[SegmentId]) -> Vec<u8> {
    encode(&segs)
}

pub fn decode_stale(b: &[u8]) -> Option<Vec<SegmentId>> {
    postcard::from_bytes(b).ok()
}

/// The reverse-map key of a holder's records in a segment (format
/// `REFS_FORMAT`).
pub fn segment_ref_key(seg: SegmentId, bucket: &str, key: &str, holder: Holder) -> Vec<u8> {
    ref_key(seg, &repair_key(bucket, key, holder))
}

/// `(drive, segment) ++ holder key`: a reverse-map key.
fn ref_key(seg: SegmentId, hk: &[u8]) -> Vec<u8> {
    let mut rk = seg_key(seg.0, seg.1).to_vec();
    rk.extend_from_slice(hk);
    rk
}

fn object_holder(k: &[u8], version: u128) -> Vec<u8> {
    holder_key(k, Holder::Object { version })
}

fn part_holder(k: &[u8], p: &PartEntry) -> Vec<u8> {
    holder_key(
        k,
        Holder::Part {
            upload: p.meta.upload,
            number: p.meta.part.number,
            seq: p.meta.seq,
        },
    )
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    postcard::to_allocvec(v).expect("index values serialise")
}

/// What the `ended` database keeps per upload.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Ended {
    ended_ms: u64,
    records: Vec<RecordLoc>,
}

/// An upload in progress, for listings and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadListing {
    pub key: String,
    pub upload: u128,
    pub created_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index: {0}")]
    Lmdb(#[from] heed::Error),
    #[error("index: corrupt entry for {0}")]
    CorruptEntry(String),
    #[error("index: {0}")]
    Io(#[from] std::io::Error),
}

impl IndexError {
    /// The index's drive had no space for the transaction (it was aborted).
    pub fn is_enospc(&self) -> bool {
        self.errno() == Some(libc::ENOSPC)
    }

    /// LMDB reports a short page write (ENOSPC part way through) as EIO.
    pub fn is_eio(&self) -> bool {
        self.errno() == Some(libc::EIO)
    }

    fn errno(&self) -> Option<i32> {
        match self {
            IndexError::Lmdb(heed::Error::Io(e)) | IndexError::Io(e) => e.raw_os_error(),
            _ => None,
        }
    }
}

pub fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(bucket.len() + 1 + key.len());
    k.extend_from_slice(bucket.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

fn seg_key(drive: u16, segment: u32) -> [u8; 6] {
    let mut k = [0u8; 6];
    k[..2].copy_from_slice(&drive.to_be_bytes());
    k[2..].copy_from_slice(&segment.to_be_bytes());
    k
}

/// The summary a listing needs, decoded from the front of an index entry
/// without decoding the shard locations (fields in `ObjectMeta` order).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ListEntry {
    #[serde(skip)]
    pub key: String,
    pub version: u128,
    pub seq: u64,
    pub size: u64,
    pub etag: String,
    pub modified_ms: u64,
    pub null: bool,
    pub delete_marker: bool,
    /// The storage class when not STANDARD (read from the entry's tail by
    /// [`listed_class`]).
    #[serde(skip)]
    pub class: Option<String>,
}

/// The class named by the rest of an index entry after its [`ListEntry`]
/// front (None: STANDARD, or a tail that does not decode). Walks the shard
/// locations without keeping them: no allocation for them.
pub fn listed_class(rest: &[u8]) -> Option<String> {
    let (tail, _): (list_tail::Tail<'_>, _) = postcard::take_from_bytes(rest).ok()?;
    super::class::class_attr(&tail.attrs).map(|c| c.name.clone())
}

/// `ObjectMeta` from `content_type` on, as postcard lays it out, with the
/// data locations walked and dropped.
mod list_tail {
    use std::marker::PhantomData;

    use serde::de::{Deserializer, SeqAccess, Visitor};
    use serde::Deserialize;

    use crate::engine::meta::{Attr, RecordLoc};

    #[derive(Deserialize)]
    pub struct Tail<'a> {
        #[serde(borrow)]
        _content_type: Option<&'a str>,
        #[serde(borrow)]
        _headers: Skip<(&'a str, &'a str)>,
        #[serde(borrow)]
        _user_meta: Skip<(&'a str, &'a str)>,
        _layout: (u8, u8),
        _rotation: u16,
        #[serde(borrow)]
        _data: Data<'a>,
        #[serde(borrow)]
        _tags: Skip<(&'a str, &'a str)>,
        pub attrs: Vec<Attr>,
    }

    /// `DataLoc`, variant for variant.
    #[derive(Deserialize)]
    enum Data<'a> {
        Inline,
        Stripes(Skip<Skip<Option<RecordLoc>>>),
        Parts {
            _upload: u128,
            #[serde(borrow)]
            _parts: Skip<Part<'a>>,
        },
    }

    /// `PartData`, field for field.
    #[derive(Deserialize)]
    struct Part<'a> {
        _number: u32,
        _size: u64,
        _etag: &'a str,
        #[serde(borrow)]
        _checksums: Skip<(&'a str, &'a str)>,
        _modified_ms: u64,
        _rotation: u16,
        _stripes: Skip<Skip<Option<RecordLoc>>>,
    }

    /// A sequence read element by element and dropped.
    struct Skip<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Skip<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V<T>(PhantomData<T>);
            impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
                type Value = Skip<T>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a sequence")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip<T>, A::Error> {
                    while seq.next_element::<T>()?.is_some() {}
                    Ok(Skip(PhantomData))
                }
            }
            d.deserialize_seq(V(PhantomData))
        }
    }
}

/// One version in a listing of versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionListing {
    pub latest: bool,
    pub entry: ListEntry,
}

/// Names a file read instead of the kernel's boot id: a test hook. The
/// power-loss simulator (tools/powerloss) drops unsynced writes without a
/// reboot, so its harness gives each restart after a cut a new boot id, as
/// a real power loss would.
pub const BOOT_ID_FILE_ENV: &str = "CAIRN_BOOT_ID_FILE";

/// The machine's boot id (empty if unreadable: never trusted).
pub fn current_boot_id() -> String {
    let path = std::env::var_os(BOOT_ID_FILE_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/proc/sys/kernel/random/boot_id"));
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

pub fn partition_dir(root: &Path, partition: u16) -> PathBuf {
    root.join(format!("p{partition:03}"))
}

impl PartitionIndex {
    /// Opens or creates the environment and says whether it can be trusted
    /// for a run following the runs `epochs`: from the last one that served
    /// to the last one that started. Runs after the last that served died in
    /// start-up without taking a write, so an index they marked (or rebuilt)
    /// is as good as the served one; an index last used before the last
    /// served run is a stale copy (another drive held the index). Blocking.
    pub fn open(
        dir: &Path,
        partition: u16,
        epochs: std::ops::RangeInclusive<u32>,
        online: &[u16],
    ) -> Result<(PartitionIndex, Trust), IndexError> {
        let torn = match std::fs::read_to_string(dir.join(OPENED_ON)) {
            Ok(boot) => boot.trim().is_empty() || boot.trim() != current_boot_id(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(e.into()),
        };
        if torn {
            // Kept until `mark_open` names this boot: a crash before that
            // (during the rebuild) deletes the half-rebuilt environment too.
            for f in ["data.mdb", "lock.mdb"] {
                match std::fs::remove_file(dir.join(f)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
        }
        let existed = dir.join("data.mdb").exists();
        crate::runtime::file::create_dir_durable(dir)?;
        if !existed {
            // A new environment is filled by a rebuild before `mark_open`:
            // a power cut meanwhile can leave it torn (unopenable), so it
            // names no boot until then and is deleted at the next start.
            crate::runtime::file::write_file_durable(&dir.join(OPENED_ON), NEW_ENV.as_bytes())?;
        }
        let mut opts = EnvOpenOptions::new().read_txn_without_tls();
        opts.map_size(MAP_SIZE).max_readers(MAX_READERS).max_dbs(16);
        // SAFETY: heed's contract for a memory map: one environment per
        // directory per process (partition dirs are distinct and each opened
        // once per engine), and no one else truncates or rewrites the files
        // under the map (the index directory is the node's own).
        let env = unsafe {
            opts.flags(EnvFlags::NO_SYNC | EnvFlags::NO_READ_AHEAD)
                .open(dir)?
        };
        let wtxn = env.write_txn()?;
        let (objects, segments, tombstones, meta, multipart) = env
            .create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_, heed::Error> {
                let o = opener.create_database::<Bytes, Bytes>(wtxn, Some("objects"))?;
                let s = opener.create_database::<Bytes, Bytes>(wtxn, Some("segments"))?;
                let t = opener.create_database::<Bytes, Bytes>(wtxn, Some("tombstones"))?;
                let m = opener.create_database::<Str, Bytes>(wtxn, Some("meta"))?;
                let u = opener.create_database::<Bytes, Bytes>(wtxn, Some("uploads"))?;
                let p = opener.create_database::<Bytes, Bytes>(wtxn, Some("parts"))?;
                let e = opener.create_database::<Bytes, Bytes>(wtxn, Some("ended"))?;
                let v = opener.create_database::<Bytes, Bytes>(wtxn, Some("versions"))?;
                let c = opener.create_database::<Bytes, Bytes>(wtxn, Some("usage"))?;
                let r = opener.create_database::<Bytes, Bytes>(wtxn, Some("repairs"))?;
                let f = opener.create_database::<Bytes, Bytes>(wtxn, Some("refs"))?;
                let g = opener.create_database::<Bytes, Bytes>(wtxn, Some("stale"))?;
                let n = opener.create_database::<Bytes, Bytes>(wtxn, Some("events"))?;
                let d = opener.create_database::<Bytes, Bytes>(wtxn, Some("content"))?;
                Ok(CommitOrAbort::<_, ()>::Commit((
                    o,
                    s,
                    t,
                    m,
                    [u, p, e, v, c, r, f, g, n, d],
                )))
            })?
            .unwrap_commit();
        // SAFETY: a Database is an index number plus a lifetime tying it to
        // the environment. PartitionIndex owns the environment and drops it
        // after the databases, so they never outlive it; owning it (instead of
        // leaking it) lets the environment close when the engine is dropped.
        let [uploads, parts, ended, versions, usage, repairs, refs, stale, events, content] =
            multipart.map(|d| unsafe {
                std::mem::transmute::<Database<'_, Bytes, Bytes>, Database<'static, Bytes, Bytes>>(
                    d,
                )
            });
        // SAFETY: as for the multipart databases just above.
        let (objects, segments, tombstones, meta) = unsafe {
            (
                std::mem::transmute::<Database<'_, Bytes, Bytes>, Database<'static, Bytes, Bytes>>(
                    objects,
                ),
                std::mem::transmute::<Database<'_, Bytes, Bytes>, Database<'static, Bytes, Bytes>>(
                    segments,
                ),
                std::mem::transmute::<Database<'_, Bytes, Bytes>, Database<'static, Bytes, Bytes>>(
                    tombstones,
                ),
                std::mem::transmute::<Database<'_, Str, Bytes>, Database<'static, Str, Bytes>>(
                    meta,
                ),
            )
        };
        let idx = PartitionIndex {
            partition,
            objects,
            versions,
            segments,
            tombstones,
            uploads,
            parts,
            ended,
            usage,
            meta,
            repairs,
            refs,
            stale,
            events,
            tally: super::outbox::Tally::default(),
            content,
            env,
            dir: dir.to_owned(),
        };
        let trust = if torn {
            Trust::Untrusted(
                "in use when the machine went down (another boot): deleted unread, it may be torn"
                    .into(),
            )
        } else if !existed {
            Trust::Untrusted("new index".into())
        } else if let Some(why) = idx.entries_not_current()? {
            Trust::Untrusted(why)
        } else if let Some(why) = idx.refs_not_kept()? {
            Trust::Untrusted(why.into())
        } else {
            match idx.state()? {
                None => Trust::Untrusted("no state record".into()),
                Some(s) if !epochs.contains(&s.epoch) => Trust::Untrusted(format!(
                    "index last used in epoch {}, the node last served in epoch {}",
                    s.epoch,
                    epochs.start()
                )),
                Some(s) if s.offline.iter().any(|d| online.contains(d)) => {
                    Trust::Untrusted(format!(
                    "drives {:?} were offline when this index was last opened and some are back",
                    s.offline
                ))
                }
                Some(s) if s.clean => Trust::Trusted,
                Some(s) if s.boot_id == current_boot_id() && !s.boot_id.is_empty() => {
                    Trust::Trusted
                }
                Some(_) => {
                    Trust::Untrusted("not closed cleanly and the machine rebooted since".into())
                }
            }
        };
        if trust == Trust::Trusted && !idx.usage_counted()? {
            tracing::info!(partition, "counting the usage of an index made without it");
            idx.recount_usage()?;
        }
        Ok((idx, trust))
    }

    fn state(&self) -> Result<Option<State>, IndexError> {
        let rtxn = self.env.read_txn()?;
        Ok(self
            .meta
            .get(&rtxn, "state")?
            .and_then(|b| postcard::from_bytes(b).ok()))
    }

    fn put_state(&self, s: &State) -> Result<(), IndexError> {
        let mut wtxn = self.env.write_txn()?;
        self.meta.put(&mut wtxn, "state", &encode(s))?;
        self.meta
            .put(&mut wtxn, REFS_EPOCH, &s.epoch.to_le_bytes())?;
        wtxn.commit()?;
        self.env.force_sync()?;
        Ok(())
    }

    /// Marks the index in use by this run with `offline` drives (durably).
    pub fn mark_open(&self, epoch: u32, offline: &[u16]) -> Result<(), IndexError> {
        crate::runtime::file::write_file_durable(
            &self.dir.join(OPENED_ON),
            current_boot_id().as_bytes(),
        )?;
        self.put_state(&State {
            clean: false,
            boot_id: current_boot_id(),
            epoch,
            offline: offline.to_vec(),
        })
    }

    /// Syncs everything and marks a clean close. Blocking.
    pub fn mark_clean(&self, epoch: u32) -> Result<(), IndexError> {
        self.env.force_sync()?;
        let offline = self.state()?.map(|s| s.offline).unwrap_or_default();
        self.put_state(&State {
            clean: true,
            boot_id: current_boot_id(),
            epoch,
            offline,
        })?;
        match std::fs::remove_file(self.dir.join(OPENED_ON)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        crate::runtime::file::sync_dir(&self.dir)?;
        Ok(())
    }

    /// Removes every entry (before a rebuild).
    pub fn clear(&self) -> Result<(), IndexError> {
        let mut wtxn = self.env.write_txn()?;
        self.objects.clear(&mut wtxn)?;
        self.versions.clear(&mut wtxn)?;
        self.segments.clear(&mut wtxn)?;
        self.tombstones.clear(&mut wtxn)?;
        self.uploads.clear(&mut wtxn)?;
        self.parts.clear(&mut wtxn)?;
        self.ended.clear(&mut wtxn)?;
        self.usage.clear(&mut wtxn)?;
        self.meta.clear(&mut wtxn)?;
        self.repairs.clear(&mut wtxn)?;
        self.refs.clear(&mut wtxn)?;
        self.stale.clear(&mut wtxn)?;
        // Counted from every partition's versions once all are open.
        self.content.clear(&mut wtxn)?;
        // Empty counters count an empty index.
        self.meta.put(&mut wtxn, USAGE_MARK, USAGE_VERSION)?;
        self.meta.put(&mut wtxn, ENTRY_MARK, ENTRY_FORMAT)?;
        self.meta.put(&mut wtxn, REFS_MARK, REFS_FORMAT)?;
        wtxn.commit()?;
        Ok(())
    }

    /// The key's latest version, which may be a delete marker.
    pub fn get(&self, bucket: &str, key: &str) -> Result<Option<IndexEntry>, IndexError> {
        let rtxn = self.env.read_txn()?;
        match self.objects.get(&rtxn, &object_key(bucket, key))? {
            None => Ok(None),
            Some(b) => decode_entry(b)
                .map(Some)
                .ok_or_else(|| IndexError::CorruptEntry(format!("{bucket}/{key}"))),
        }
    }

    /// One version of the key, latest or noncurrent.
    pub fn get_version(
        &self,
        bucket: &str,
        key: &str,
        sel: VersionSel,
    ) -> Result<Option<IndexEntry>, IndexError> {
        let rtxn = self.env.read_txn()?;
        let k = object_key(bucket, key);
        let corrupt = || IndexError::CorruptEntry(format!("{bucket}/{key}"));
        if let Some(e) = self.object_at(&rtxn, &k, corrupt)? {
            if e.meta.is(sel) {
                return Ok(Some(e));
            }
        }
        Ok(self
            .versions_of(&rtxn, &k)?
            .into_iter()
            .map(|(_, e)| e)
            .find(|e| e.meta.is(sel)))
    }

    /// Every noncurrent version of an object key, newest first, with its
    /// database key.
    fn versions_of(
        &self,
        txn: &heed::RoTxn<'_, WithoutTls>,
        k: &[u8],
    ) -> Result<Vec<(Vec<u8>, IndexEntry)>, IndexError> {
        let prefix = versions_prefix(k);
        let mut out = Vec::new();
        for item in self.versions.prefix_iter(txn, &prefix)? {
            let (vk, v) = item?;
            if vk.len() != prefix.len() + 8 {
                continue;
            }
            let e =
                decode_entry(v).ok_or_else(|| IndexError::CorruptEntry("version entry".into()))?;
            out.push((vk.to_vec(), e));
        }
        Ok(out)
    }

    /// Versions of `bucket`, per key from `from` in key order, the latest
    /// first then the noncurrent ones newest first (at most `per_key` of
    /// them): up to `limit` keys.
    pub fn scan_versions(
        &self,
        bucket: &str,
        from: &str,
        limit: usize,
        per_key: usize,
    ) -> Result<Vec<(String, Vec<VersionListing>)>, IndexError> {
        let rtxn = self.env.read_txn()?;
        let start = object_key(bucket, from);
        let mut end = bucket.as_bytes().to_vec();
        end.push(1);
        let range = (
            std::ops::Bound::Included(start.as_slice()),
            std::ops::Bound::Excluded(end.as_slice()),
        );
        let bad = |key: &str| IndexError::CorruptEntry(format!("{bucket}/{key}"));
        let mut out = Vec::with_capacity(limit.min(1024));
        for item in self.objects.range(&rtxn, &range)? {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item?;
            let key = std::str::from_utf8(&k[bucket.len() + 1..])
                .map_err(|_| bad("<non-utf8>"))?
                .to_owned();
            let (mut e, rest): (ListEntry, _) =
                postcard::take_from_bytes(v).map_err(|_| bad(&key))?;
            e.key = key.clone();
            e.class = listed_class(rest);
            let mut versions = vec![VersionListing {
                latest: true,
                entry: e,
            }];
            let prefix = versions_prefix(k);
            for item in self.versions.prefix_iter(&rtxn, &prefix)? {
                if versions.len() >= per_key {
                    break;
                }
                let (vk, v) = item?;
                if vk.len() != prefix.len() + 8 {
                    continue;
                }
                let (mut e, rest): (ListEntry, _) =
                    postcard::take_from_bytes(v).map_err(|_| bad(&key))?;
                e.key = key.clone();
                e.class = listed_class(rest);
                versions.push(VersionListing {
                    latest: false,
                    entry: e,
                });
            }
            out.push((key, versions));
        }
        Ok(out)
    }

    /// The lifecycle worker's batch: up to `limit` keys of `bucket` from
    /// `from` (after it when `exclusive`) while they start with `within`,
    /// each with its latest version and its noncurrent ones, newest first.
    /// True with them when the range under `within` has no more keys.
    #[allow(clippy::type_complexity)]
    pub fn lifecycle_scan(
        &self,
        bucket: &str,
        from: &str,
        exclusive: bool,
        within: &str,
        limit: usize,
    ) -> Result<(Vec<(String, IndexEntry, Vec<IndexEntry>)>, bool), IndexError> {
        let rtxn = self.env.read_txn()?;
        let start = object_key(bucket, from);
        let mut end = bucket.as_bytes().to_vec();
        end.push(1);
        let first = if exclusive {
            std::ops::Bound::Excluded(start.as_slice())
        } else {
            std::ops::Bound::Included(start.as_slice())
        };
        let range = (first, std::ops::Bound::Excluded(end.as_slice()));
        let mut out = Vec::with_capacity(limit.min(1024));
        for item in self.objects.range(&rtxn, &range)? {
            if out.len() >= limit {
                return Ok((out, false));
            }
            let (k, v) = item?;
            let key = std::str::from_utf8(&k[bucket.len() + 1..])
                .map_err(|_| IndexError::CorruptEntry(format!("{bucket}/<non-utf8>")))?;
            if !key.starts_with(within) {
                break;
            }
            let latest = decode_entry(v)
                .ok_or_else(|| IndexError::CorruptEntry(format!("{bucket}/{key}")))?;
            let noncurrent = self
                .versions_of(&rtxn, k)?
                .into_iter()
                .map(|(_, e)| e)
                .collect();
            out.push((key.to_owned(), latest, noncurrent));
        }
        Ok((out, true))
    }

    /// Up to `limit` entries of `bucket` with key >= `from`, in key order.
    pub fn scan(
        &self,
        bucket: &str,
        from: &str,
        limit: usize,
    ) -> Result<Vec<ListEntry>, IndexError> {
        let rtxn = self.env.read_txn()?;
        let start = object_key(bucket, from);
        let mut end = bucket.as_bytes().to_vec();
        end.push(1);
        let range = (
            std::ops::Bound::Included(start.as_slice()),
            std::ops::Bound::Excluded(end.as_slice()),
        );
        let mut out = Vec::with_capacity(limit.min(1024));
        for item in self.objects.range(&rtxn, &range)? {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item?;
            let key = std::str::from_utf8(&k[bucket.len() + 1..])
                .map_err(|_| IndexError::CorruptEntry(format!("{bucket}/<non-utf8>")))?;
            let (mut e, rest): (ListEntry, _) = postcard::take_from_bytes(v)
                .map_err(|_| IndexError::CorruptEntry(format!("{bucket}/{key}")))?;
            e.key = key.to_owned();
            e.class = listed_class(rest);
            out.push(e);
        }
        Ok(out)
    }

    /// Whether the bucket has any key in this partition.
    pub fn bucket_has_objects(&self, bucket: &str) -> Result<bool, IndexError> {
        Ok(!self.scan(bucket, "", 1)?.is_empty())
    }

    /// Applies mutations in one write transaction and keeps the per-segment
    /// live bytes and the buckets' usage counters; returns the counters'
    /// changes. Blocking: companion thread only.
    pub fn apply(&self, muts: &[Mutation]) -> Result<Deltas, IndexError> {
        let mut wtxn = self.env.write_txn()?;
        let mut live = Live::default();
        let mut usage = Deltas::default();
        let mut events = Vec::new();
        for m in muts {
            match m {
                Mutation::Events { events: e } => events.extend(e),
                m => self.apply_one(&mut wtxn, m, &mut live, &mut usage)?,
            }
        }
        for (bucket, d) in &usage.0 {
            if d.is_zero() {
                continue;
            }
            let mut u = self.usage_at(&wtxn, bucket)?.unwrap_or_default();
            u.apply(d);
            if u.is_empty() {
                self.usage.delete(&mut wtxn, bucket)?;
            } else {
                self.usage.put(&mut wtxn, bucket, &encode(&u))?;
            }
        }
        for (hk, segs) in &live.refs {
            for (&seg, &delta) in segs {
                if delta == 0 {
                    continue;
                }
                let rk = ref_key(seg, hk);
                let cur = self
                    .refs
                    .get(&wtxn, &rk)?
                    .and_then(|b| b.try_into().ok().map(u32::from_le_bytes))
                    .unwrap_or(0);
                let next = i64::from(cur) + delta;
                if next > 0 {
                    self.refs
                        .put(&mut wtxn, &rk, &(next as u32).to_le_bytes())?;
                } else {
                    self.refs.delete(&mut wtxn, &rk)?;
                }
            }
        }
        for ((drive, seg), delta) in live.bytes {
            if delta == 0 {
                continue;
            }
            let sk = seg_key(drive, seg);
            let cur = self
                .segments
                .get(&wtxn, &sk)?
                .and_then(|b| b.try_into().ok().map(u64::from_le_bytes))
                .unwrap_or(0);
            let next = (cur as i64 + delta).max(0) as u64;
            self.segments.put(&mut wtxn, &sk, &next.to_le_bytes())?;
        }
        // Last: its counters stay locked until the commit.
        let tally = self.enqueue_events(&mut wtxn, &events)?;
        wtxn.commit()?;
        tally.committed();
        Ok(usage)
    }

    fn apply_one(
        &self,
        wtxn: &mut heed::RwTxn<'_>,
        m: &Mutation,
        live: &mut Live,
        usage: &mut Deltas,
    ) -> Result<(), IndexError> {
        let (bucket, key) = match m {
            Mutation::Scrub { state } => {
                self.meta.put(wtxn, SCRUB_MARK, &encode(state))?;
                return Ok(());
            }
            Mutation::HealWalk { state } => {
                self.meta.put(wtxn, HEAL_MARK, &state.encode())?;
                return Ok(());
            }
            Mutation::Lifecycle { state } => {
                self.meta.put(wtxn, LIFECYCLE_MARK, &state.encode())?;
                return Ok(());
            }
            Mutation::Content {
                bucket,
                key,
                delta,
                size,
                now_ms,
                fresh,
            } => {
                let k = object_key(bucket, key);
                let zero = ContentRow {
                    count: 0,
                    zero_since_ms: *now_ms,
                    size: *size,
                };
                let row = match fresh {
                    true => zero,
                    false => self.content_at(wtxn, &k)?.unwrap_or(zero),
                };
                let next = row.with(*delta, *size, *now_ms);
                self.content.put(wtxn, &k, &encode(&next))?;
                return Ok(());
            }
            Mutation::ForgetContent { bucket, key } => {
                let k = object_key(bucket, key);
                if self.content_at(wtxn, &k)?.is_some_and(|r| r.count == 0) {
                    self.content.delete(wtxn, &k)?;
                }
                return Ok(());
            }
            // All of a transaction's events at once, by `apply`.
            Mutation::Events { .. } => return Ok(()),
            Mutation::Put { bucket, key, .. }
            | Mutation::Update { bucket, key, .. }
            | Mutation::Delete { bucket, key, .. }
            | Mutation::Relocate { bucket, key, .. }
            | Mutation::Heal { bucket, key, .. }
            | Mutation::NoteRepair { bucket, key, .. }
            | Mutation::CreateUpload { bucket, key, .. }
            | Mutation::PutPart { bucket, key, .. }
            | Mutation::EndUpload { bucket, key, .. }
            | Mutation::ForgetEnded { bucket, key, .. }
            | Mutation::Stale { bucket, key, .. }
            | Mutation::ForgetTombstone { bucket, key, .. } => (bucket, key),
        };
        let k = object_key(bucket, key);
        let corrupt = || IndexError::CorruptEntry(format!("{bucket}/{key}"));
        match m {
            Mutation::Put { entry, .. } => {
                self.put_object(wtxn, &k, entry, live, usage, corrupt)?
            }
            Mutation::Update { entry, .. } => {
                let h = object_holder(&k, entry.meta.version);
                let mut superseded = Vec::new();
                self.update_version(wtxn, &k, entry.meta.version, usage, corrupt, |e| {
                    live.sub(&h, e.records());
                    live.add(&h, entry.records());
                    superseded = e
                        .commits
                        .iter()
                        .filter(|c| !entry.commits.contains(c))
                        .copied()
                        .collect();
                    *e = entry.clone();
                })?;
                self.add_stale(wtxn, &k, entry.meta.version, &superseded)?;
            }
            Mutation::Delete {
                target, tombstones, ..
            } => {
                let removed = self.remove_version(wtxn, &k, *target, live, usage, corrupt)?;
                if let VersionSel::Id(v) = *target {
                    // Its commit records are dead but on the drives until
                    // compaction removes their segments: the tombstone must
                    // outlive them (see `forgettable_tombstones`).
                    let commits = removed.map(|e| e.commits).unwrap_or_default();
                    self.add_stale(wtxn, &k, v, &commits)?;
                }
                let tk = tombstone_key(&k, *target);
                let h = holder_key(&k, Holder::Tombstone { target: *target });
                if let Some(t) = self.tombstone_at(wtxn, &tk, corrupt)? {
                    live.sub(&h, t.into_iter());
                }
                live.add(&h, tombstones.iter().copied());
                self.tombstones.put(wtxn, &tk, &encode(tombstones))?;
            }
            Mutation::Stale {
                version, segments, ..
            } => {
                self.add_stale_segments(wtxn, &k, *version, segments)?;
            }
            Mutation::ForgetTombstone { version, gone, .. } => {
                let tk = tombstone_key(&k, VersionSel::Id(*version));
                let Some(stale) = self.stale_at(wtxn, &tk)? else {
                    return Ok(());
                };
                if stale.iter().any(|s| !gone.contains(s)) {
                    return Ok(());
                }
                if let Some(t) = self.tombstone_at(wtxn, &tk, corrupt)? {
                    let target = VersionSel::Id(*version);
                    live.sub(&holder_key(&k, Holder::Tombstone { target }), t.into_iter());
                    self.tombstones.delete(wtxn, &tk)?;
                }
                self.stale.delete(wtxn, &tk)?;
            }
            Mutation::Heal {
                holder,
                shards,
                drop_copies,
                add_copies,
                ..
            } => {
                let fix = HealEdit {
                    shards,
                    drop_copies,
                    add_copies,
                };
                self.heal(wtxn, bucket, key, *holder, &fix, live, usage, corrupt)?;
                if let Holder::Object { version } = holder {
                    // A dropped copy may still be on its drive.
                    self.add_stale(wtxn, &k, *version, drop_copies)?;
                }
            }
            // Applied above: they name no key, or no version.
            Mutation::Scrub { .. }
            | Mutation::HealWalk { .. }
            | Mutation::Lifecycle { .. }
            | Mutation::Events { .. }
            | Mutation::Content { .. }
            | Mutation::ForgetContent { .. } => {}
            Mutation::NoteRepair { holder, note, .. } => {
                let rk = repair_key(bucket, key, *holder);
                match note {
                    Some(n) => self.repairs.put(wtxn, &rk, &encode(n))?,
                    None => {
                        self.repairs.delete(wtxn, &rk)?;
                    }
                }
            }
            Mutation::Relocate { holder, moves, .. } => {
                self.relocate(wtxn, bucket, key, *holder, moves, live, usage, corrupt)?
            }
            Mutation::CreateUpload { entry, .. } => {
                let uk = upload_key(bucket, key, entry.meta.upload);
                let h = holder_key(
                    &k,
                    Holder::Upload {
                        upload: entry.meta.upload,
                    },
                );
                if let Some(old) =
                    self.decode_at::<UploadEntry>(&self.uploads, wtxn, &uk, corrupt)?
                {
                    live.sub(&h, old.commits.iter().copied());
                    usage.of(&k).upload(&old, -1);
                }
                live.add(&h, entry.commits.iter().copied());
                usage.of(&k).upload(entry, 1);
                self.uploads.put(wtxn, &uk, &encode(entry))?;
            }
            Mutation::PutPart { entry, .. } => {
                let upload = entry.meta.upload;
                let pk = part_key(bucket, key, upload, entry.meta.part.number);
                if self
                    .uploads
                    .get(wtxn, &upload_key(bucket, key, upload))?
                    .is_none()
                {
                    return Ok(());
                }
                if let Some(old) = self.decode_at::<PartEntry>(&self.parts, wtxn, &pk, corrupt)? {
                    if old.meta.seq > entry.meta.seq {
                        return Ok(());
                    }
                    live.sub(&part_holder(&k, &old), old.records());
                    usage.of(&k).part(&old, -1);
                }
                live.add(&part_holder(&k, entry), entry.records());
                usage.of(&k).part(entry, 1);
                self.parts.put(wtxn, &pk, &encode(entry))?;
            }
            Mutation::EndUpload {
                upload,
                ended,
                ended_ms,
                object,
                ..
            } => {
                let uk = upload_key(bucket, key, *upload);
                if let Some(u) = self.decode_at::<UploadEntry>(&self.uploads, wtxn, &uk, corrupt)? {
                    usage.of(&k).upload(&u, -1);
                    let h = holder_key(&k, Holder::Upload { upload: *upload });
                    live.sub(&h, u.commits.into_iter());
                    self.uploads.delete(wtxn, &uk)?;
                }
                for (pk, part) in self.parts_under(wtxn, &uk)? {
                    usage.of(&k).part(&part, -1);
                    live.sub(&part_holder(&k, &part), part.records());
                    self.parts.delete(wtxn, &pk)?;
                }
                if let Some(entry) = object {
                    self.put_object(wtxn, &k, entry, live, usage, corrupt)?;
                }
                let h = holder_key(&k, Holder::Ended { upload: *upload });
                if let Some(e) = self.decode_at::<Ended>(&self.ended, wtxn, &uk, corrupt)? {
                    live.sub(&h, e.records.into_iter());
                }
                live.add(&h, ended.iter().copied());
                let e = Ended {
                    ended_ms: *ended_ms,
                    records: ended.clone(),
                };
                self.ended.put(wtxn, &uk, &encode(&e))?;
            }
            Mutation::ForgetEnded { upload, .. } => {
                let uk = upload_key(bucket, key, *upload);
                if let Some(e) = self.decode_at::<Ended>(&self.ended, wtxn, &uk, corrupt)? {
                    let h = holder_key(&k, Holder::Ended { upload: *upload });
                    live.sub(&h, e.records.into_iter());
                    self.ended.delete(wtxn, &uk)?;
                }
            }
        }
        Ok(())
    }

    fn put_object(
        &self,
        wtxn: &mut heed::RwTxn<'_>,
        k: &[u8],
        entry: &IndexEntry,
        live: &mut Live,
        usage: &mut Deltas,
        corrupt: impl Fn() -> IndexError + Copy,
    ) -> Result<(), IndexError> {
        let mut old = self.object_at(wtxn, k, corrupt)?;
        if let Some(o) = &old {
            super::invariant::invariant!(
                o.meta.seq < entry.meta.seq,
                "a key's versions reach the index in sequence order (partition {}: \
                 sequence {} after {})",
                self.partition,
                entry.meta.seq,
                o.meta.seq
            );
        }
        if entry.meta.null {
            // A null version replaces the key's null version, wherever it is,
            // and makes the delete of an older one moot.
            // (A replaced null version needs no tombstone: the newer null
            // commit replaces it in a rebuild too.)
            match old.take_if(|o| o.meta.null) {
                Some(o) => {
                    live.sub(&object_holder(k, o.meta.version), o.records());
                    usage.version(k, &o, true, -1);
                    self.forget_stale(wtxn, k, o.meta.version)?;
                }
                None => {
                    for (vk, v) in self.versions_of(wtxn, k)? {
                        if v.meta.null {
                            live.sub(&object_holder(k, v.meta.version), v.records());
                            usage.version(k, &v, false, -1);
                            self.versions.delete(wtxn, &vk)?;
                            self.forget_stale(wtxn, k, v.meta.version)?;
                        }
                    }
                }
            }
            if let Some(t) = self.tombstone_at(wtxn, k, corrupt)? {
                let target = VersionSel::Null;
                live.sub(&holder_key(k, Holder::Tombstone { target }), t.into_iter());
                self.tombstones.delete(wtxn, k)?;
            }
        }
        if let Some(o) = old {
            usage.of(k).demote(&o);
            let vk = version_key(k, o.meta.seq);
            self.versions.put(wtxn, &vk, &encode_entry(&o))?;
        }
        live.add(&object_holder(k, entry.meta.version), entry.records());
        usage.version(k, entry, true, 1);
        self.objects.put(wtxn, k, &encode_entry(entry))?;
        Ok(())
    }

    /// Removes one version of a key; if it was the latest, the newest
    /// noncurrent version takes its place.
    fn remove_version(
        &self,
        wtxn: &mut heed::RwTxn<'_>,
        k: &[u8],
        target: VersionSel,
        live: &mut Live,
        usage: &mut Deltas,
        corrupt: impl Fn() -> IndexError + Copy,
    ) -> Result<Option<IndexEntry>, IndexError> {
        if let Some(cur) = self.object_at(wtxn, k, corrupt)? {
            if cur.meta.is(target) {
                live.sub(&object_holder(k, cur.meta.version), cur.records());
                if target == VersionSel::Null {
                    self.forget_stale(wtxn, k, cur.meta.version)?;
                }
                usage.version(k, &cur, true, -1);
                match self.versions_of(wtxn, k)?.into_iter().next() {
                    Some((vk, next)) => {
                        let u = usage.of(k);
                        u.version(&next, false, -1);
                        u.version(&next, true, 1);
                        self.versions.delete(wtxn, &vk)?;
                        self.objects.put(wtxn, k, &encode_entry(&next))?;
                    }
                    None => {
                        self.objects.delete(wtxn, k)?;
                    }
                }
                return Ok(Some(cur));
            }
        }
        for (vk, v) in self.versions_of(wtxn, k)? {
            if v.meta.is(target) {
                live.sub(&object_holder(k, v.meta.version), v.records());
                if target == VersionSel::Null {
                    self.forget_stale(wtxn, k, v.meta.version)?;
                }
                usage.version(k, &v, false, -1);
                self.versions.delete(wtxn, &vk)?;
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// Applies `f` to the version with internal id `version` (latest or
    /// noncurrent) and stores it back; false if there is no such version.
    fn update_version(
        &self,
        wtxn: &mut heed::RwTxn<'_>,
        k: &[u8],
        version: u128,
        usage: &mut Deltas,
        corrupt: impl Fn() -> IndexError + Copy,
        f: impl FnOnce(&mut IndexEntry),
    ) -> Result<bool, IndexError> {
        if let Some(mut e) = self.object_at(wtxn, k, corrupt)? {
            if e.meta.version == version {
                usage.version(k, &e, true, -1);
                f(&mut e);
                usage.version(k, &e, true, 1);
                self.objects.put(wtxn, k, &encode_entry(&e))?;
                return Ok(true);
            }
        }
        for (vk, mut v) in self.versions_of(wtxn, k)? {
            if v.meta.version == version {
                usage.version(k, &v, false, -1);
                f(&mut v);
                usage.version(k, &v, false, 1);
                self.versions.put(wtxn, &vk, &encode_entry(&v))?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Applies `edit` to what `holder` stores, if it still exists (a part
    /// only with the same `seq`), and stores it back with its usage counted
    /// again: the per-holder walk of `heal` and `relocate`.
    #[allow(clippy::too_many_arguments)]
    fn edit_holder(
        &self,
        wtxn: &mut heed::RwTxn<'_>,
        bucket: &str,
        key: &str,
        holder: Holder,
        usage: &mut Deltas,
        corrupt: impl Fn() -> IndexError + Copy,
        edit: impl FnOnce(Stored<'_>),
    ) -> Result<(), IndexError> {
        let k = object_key(bucket, key);
        match holder {
            Holder::Object { version } => {
                self.update_version(wtxn, &k, version, usage, corrupt, |e| {
                    edit(Stored::Version(e))
                })?;
            }
            Holder::Tombstone { target } => {
                let tk = tombstone_key(&k, target);
                if let Some(mut t) = self.tombstone_at(wtxn, &tk, corrupt)? {
                    edit(Stored::Copies(&mut t));
                    self.tombstones.put(wtxn, &tk, &encode(&t))?;
                }
            }
            Holder::Upload { upload } => {
                let uk = upload_key(bucket, key, upload);
                if let Some(mut u) =
                    self.decode_at::<UploadEntry>(&self.uploads, wtxn, &uk, corrupt)?
                {
                    usage.of(&k).upload(&u, -1);
                    edit(Stored::Copies(&mut u.commits));
                    usage.of(&k).upload(&u, 1);
                    self.uploads.put(wtxn, &uk, &encode(&u))?;
                }
            }
            Holder::Part {
                upload,
                number,
                seq,
            } => {
                let pk = part_key(bucket, key, upload, number);
                if let Some(mut p) = self
                    .decode_at::<PartEntry>(&self.parts, wtxn, &pk, corrupt)?
                    .filter(|p| p.meta.seq == seq)
                {
                    usage.of(&k).part(&p, -1);
                    edit(Stored::Part(&mut p));
                    usage.of(&k).part(&p, 1);
                    self.parts.put(wtxn, &pk, &encode(&p))?;
                }
            }
            Holder::Ended { upload } => {
                let uk = upload_key(bucket, key, upload);
                if let Some(mut e) = self.decode_at::<Ended>(&self.ended, wtxn, &uk, corrupt)? {
                    edit(Stored::Copies(&mut e.records));
                    self.ended.put(wtxn, &uk, &encode(&e))?;
                }
            }
        }
        Ok(())
    }

    /// Moves records of `holder` if it still holds them; only moves whose
    /// source is still referenced count (the key may have changed since
    /// compaction looked).
    #[allow(clippy::too_many_arguments)]
    fn relocate(
        &self,
        wtxn: &mut heed::RwTxn<'_>,
        bucket: &str,
        key: &str,
        holder: Holder,
        moves: &[(RecordLoc, Option<RecordLoc>)],
        live: &mut Live,
        usage: &mut Deltas,
        corrupt: impl Fn() -> IndexError + Copy,
    ) -> Result<(), IndexError> {
        let k = object_key(bucket, key);
        let h = holder_key(&k, holder);
        let held = |records: &mut dyn Iterator<Item = RecordLoc>, live: &mut Live| {
            let held: Vec<RecordLoc> = records.collect();
            let moves: Vec<(RecordLoc, Option<RecordLoc>)> = moves
                .iter()
                .filter(|(f, _)| held.contains(f))
                .copied()
                .collect();
            for (from, to) in &moves {
                live.sub(&h, std::iter::once(*from));
                live.add(&h, to.iter().copied());
            }
            moves
        };
        let mut moved_commits = Vec::new();
        let edit = |stored: Stored<'_>| match stored {
            Stored::Version(e) => {
                let moves = held(&mut e.records(), live);
                moved_commits = moves
                    .iter()
                    .map(|(f, _)| *f)
                    .filter(|f| e.commits.contains(f))
                    .collect();
                e.relocate(&moves);
            }
            Stored::Part(p) => {
                let moves = held(&mut p.records(), live);
                p.relocate(&moves);
            }
            Stored::Copies(c) => {
                let moves = held(&mut c.iter().copied(), live);
                relocate_list(c, &moves);
            }
        };
        self.edit_holder(wtxn, bucket, key, holder, usage, corrupt, edit)?;
        if let Holder::Object { version } = holder {
            // Until its segment is removed, the old copy is on the drive.
            self.add_stale(wtxn, &k, version, &moved_commits)?;
        }
        Ok(())
    }

    fn object_at(
        &self,
        txn: &heed::RoTxn<'_, WithoutTls>,
        k: &[u8],
        corrupt: impl Fn() -> IndexError,
    ) -> Result<Option<IndexEntry>, IndexError> {
        match self.objects.get(txn, k)? {
            Some(b) => Ok(Some(decode_entry(b).ok_or_else(corrupt)?)),
            None => Ok(None),
        }
    }

    fn tombstone_at(
        &self,
        txn: &heed::RoTxn<'_, WithoutTls>,
        k: &[u8],
        corrupt: impl Fn() -> IndexError,
    ) -> Result<Option<Vec<RecordLoc>>, IndexError> {
        self.decode_at(&self.tombstones, txn, k, corrupt)
    }

    fn decode_at<T: serde::de::DeserializeOwned>(
        &self,
        db: &Database<'static, Bytes, Bytes>,
        txn: &heed::RoTxn<'_, WithoutTls>,
        k: &[u8],
        corrupt: impl Fn() -> IndexError,
    ) -> Result<Option<T>, IndexError> {
        match db.get(txn, k)? {
            Some(b) => Ok(Some(postcard::from_bytes(b).map_err(|_| corrupt())?)),
            None => Ok(None),
        }
    }

    /// Every part entry under an upload key, in part-number order.
    fn parts_under(
        &self,
        txn: &heed::RoTxn<'_, WithoutTls>,
        uk: &[u8],
    ) -> Result<Vec<(Vec<u8>, PartEntry)>, IndexError> {
        let mut out = Vec::new();
        for item in self.parts.prefix_iter(txn, uk)? {
            let (k, v) = item?;
            if k.len() != uk.len() + 4 {
                continue;
            }
            let p: PartEntry = postcard::from_bytes(v)
                .map_err(|_| IndexError::CorruptEntry("part entry".into()))?;
            out.push((k.to_vec(), p));
        }
        Ok(out)
    }

    /// An upload in progress.
    pub fn get_upload(
        &self,
        bucket: &str,
        key: &str,
        upload: u128,
    ) -> Result<Option<UploadEntry>, IndexError> {
        let rtxn = self.env.read_txn()?;
        let corrupt = || IndexError::CorruptEntry(format!("{bucket}/{key} upload"));
        self.decode_at(
            &self.uploads,
            &rtxn,
            &upload_key(bucket, key, upload),
            corrupt,
        )
    }

    /// The parts of an upload in progress, in part-number order, from
    /// `after` (exclusive), at most `limit`.
    pub fn upload_parts(
        &self,
        bucket: &str,
        key: &str,
        upload: u128,
        after: u32,
        limit: usize,
    ) -> Result<Vec<PartEntry>, IndexError> {
        let rtxn = self.env.read_txn()?;
        let uk = upload_key(bucket, key, upload);
        Ok(self
            .parts_under(&rtxn, &uk)?
            .into_iter()
            .map(|(_, p)| p)
            .filter(|p| p.meta.part.number > after)
            .take(limit)
            .collect())
    }

    /// Uploads in progress in `bucket` whose key starts with `prefix`, after
    /// `(key, upload)` (an upload of `None` means after every upload of that
    /// key), in (key, upload id) order; at most `limit`.
    pub fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        after: Option<(&str, Option<u128>)>,
        limit: usize,
    ) -> Result<Vec<UploadListing>, IndexError> {
        let rtxn = self.env.read_txn()?;
        let start = object_key(bucket, prefix);
        let mut out = Vec::new();
        for item in self.uploads.prefix_iter(&rtxn, &start)? {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item?;
            let Some((_, key, upload)) = split_upload_key(k) else {
                continue;
            };
            if let Some((ak, au)) = after {
                let past = match au {
                    Some(au) => (key.as_str(), upload) > (ak, au),
                    None => key.as_str() > ak,
                };
                if !past {
                    continue;
                }
            }
            let u: UploadEntry = postcard::from_bytes(v)
                .map_err(|_| IndexError::CorruptEntry(format!("{bucket}/{key} upload")))?;
            out.push(UploadListing {
                key,
                upload,
                created_ms: u.meta.created_ms,
            });
        }
        Ok(out)
    }

    /// Uploads begun before `created_before` and ends recorded before
    /// `ended_before`, as (bucket, key, upload): for expiry.
    #[allow(clippy::type_complexity)]
    pub fn stale_uploads(
        &self,
        created_before: u64,
        ended_before: u64,
        limit: usize,
    ) -> Result<(Vec<(String, String, u128)>, Vec<(String, String, u128)>), IndexError> {
        let rtxn = self.env.read_txn()?;
        let mut open = Vec::new();
        for item in self.uploads.iter(&rtxn)? {
            if open.len() >= limit {
                break;
            }
            let (k, v) = item?;
            let (Some(id), Ok(u)) = (split_upload_key(k), postcard::from_bytes::<UploadEntry>(v))
            else {
                continue;
            };
            if u.meta.created_ms < created_before {
                open.push(id);
            }
        }
        let mut ended = Vec::new();
        for item in self.ended.iter(&rtxn)? {
            if ended.len() >= limit {
                break;
            }
            let (k, v) = item?;
            let (Some(id), Ok(e)) = (split_upload_key(k), postcard::from_bytes::<Ended>(v)) else {
                continue;
            };
            if e.ended_ms < ended_before {
                ended.push(id);
            }
        }
        Ok((open, ended))
    }

    /// Every holder of the partition and its records, by a walk of every
    /// database (what the reverse map must always agree with).
    fn all_holders(
        &self,
        rtxn: &heed::RoTxn<'_, WithoutTls>,
    ) -> Result<Vec<SegmentRef>, IndexError> {
        let bad = |what: &str| IndexError::CorruptEntry(what.to_owned());
        let mut out = Vec::new();
        let mut push = |bucket: String, key: String, holder: Holder, records: Vec<RecordLoc>| {
            out.push(SegmentRef {
                bucket,
                key,
                holder,
                records,
            });
        };
        type Split = fn(&[u8]) -> Option<(String, String)>;
        let versions: [(&Database<'static, Bytes, Bytes>, Split); 2] = [
            (&self.objects, split_key),
            (&self.versions, split_version_key),
        ];
        for (db, split) in versions {
            for item in db.iter(rtxn)? {
                let (k, v) = item?;
                let (bucket, key) = split(k).ok_or_else(|| bad("key"))?;
                let e = decode_entry(v).ok_or_else(|| bad(&format!("{bucket}/{key}")))?;
                let holder = Holder::Object {
                    version: e.meta.version,
                };
                push(bucket, key, holder, e.records().collect());
            }
        }
        for item in self.tombstones.iter(rtxn)? {
            let (k, v) = item?;
            let (bucket, key, target) = split_tombstone_key(k).ok_or_else(|| bad("key"))?;
            let records: Vec<RecordLoc> =
                postcard::from_bytes(v).map_err(|_| bad(&format!("{bucket}/{key}")))?;
            push(bucket, key, Holder::Tombstone { target }, records);
        }
        for item in self.uploads.iter(rtxn)? {
            let (k, v) = item?;
            let (bucket, key, upload) = split_upload_key(k).ok_or_else(|| bad("upload key"))?;
            let u: UploadEntry = postcard::from_bytes(v).map_err(|_| bad("upload entry"))?;
            push(bucket, key, Holder::Upload { upload }, u.commits);
        }
        for item in self.parts.iter(rtxn)? {
            let (k, v) = item?;
            let (bucket, key, upload) = k
                .len()
                .checked_sub(4)
                .and_then(|n| split_upload_key(&k[..n]))
                .ok_or_else(|| bad("part key"))?;
            let p: PartEntry = postcard::from_bytes(v).map_err(|_| bad("part entry"))?;
            let holder = Holder::Part {
                upload,
                number: p.meta.part.number,
                seq: p.meta.seq,
            };
            push(bucket, key, holder, p.records().collect());
        }
        for item in self.ended.iter(rtxn)? {
            let (k, v) = item?;
            let (bucket, key, upload) = split_upload_key(k).ok_or_else(|| bad("ended key"))?;
            let e: Ended = postcard::from_bytes(v).map_err(|_| bad("ended entry"))?;
            push(bucket, key, Holder::Ended { upload }, e.records);
        }
        Ok(out)
    }

    /// Every holder with a record in (drive, segment), from the reverse map.
    pub fn refs_in_segment(&self, drive: u16, segment: u32) -> Result<Vec<SegmentRef>, IndexError> {
        let rtxn = self.env.read_txn()?;
        let bad = || IndexError::CorruptEntry(format!("reverse map of {drive}/{segment:08x}"));
        let mut out = Vec::new();
        for item in self.refs.prefix_iter(&rtxn, &seg_key(drive, segment))? {
            let (rk, _) = item?;
            let (bucket, key, holder) = split_repair_key(&rk[6..]).ok_or_else(bad)?;
            let Some(h) = self.held_in(&rtxn, &bucket, &key, holder)? else {
                return Err(bad());
            };
            let records = h
                .copies
                .into_iter()
                .chain(
                    h.sets
                        .into_iter()
                        .flat_map(|s| s.stripes.into_iter().flatten().flatten()),
                )
                .collect();
            out.push(SegmentRef {
                bucket,
                key,
                holder,
                records,
            });
        }
        Ok(out)
    }

    /// Differences between the reverse map and a walk of the partition
    /// (empty when they agree): a check for tests and `cairn repair`.
    pub fn refs_mismatch(&self) -> Result<Vec<String>, IndexError> {
        let rtxn = self.env.read_txn()?;
        let mut want: std::collections::BTreeMap<Vec<u8>, u32> = Default::default();
        for r in self.all_holders(&rtxn)? {
            let hk = repair_key(&r.bucket, &r.key, r.holder);
            for l in r.records {
                *want.entry(ref_key((l.drive, l.segment), &hk)).or_default() += 1;
            }
        }
        let mut out = Vec::new();
        for item in self.refs.iter(&rtxn)? {
            let (rk, v) = item?;
            let have = v.try_into().ok().map(u32::from_le_bytes);
            match want.remove(rk) {
                Some(n) if Some(n) == have => {}
                n => out.push(format!("{rk:?}: map says {have:?}, the walk finds {n:?}")),
            }
        }
        for (rk, n) in want {
            out.push(format!("{rk:?}: missing from the map, the walk finds {n}"));
        }
        Ok(out)
    }

    /// By-id tombstones whose version has no commit record left: every
    /// segment that may hold one is absent (`exists` false), at most
    /// `limit`, as (bucket, key, version, those segments).
    pub fn forgettable_tombstones(
        &self,
        exists: impl Fn(SegmentId) -> bool,
        limit: usize,
    ) -> Result<Vec<Forgettable>, IndexError> {
        let rtxn = self.env.read_txn()?;
        let mut out = Vec::new();
        if self.meta.get(&rtxn, UNSEEN_MARK)?.is_some() {
            return Ok(out);
        }
        for item in self.stale.iter(&rtxn)? {
            if out.len() >= limit {
                break;
            }
            let (tk, v) = item?;
            if self.tombstones.get(&rtxn, tk)?.is_none() {
                continue;
            }
            let Some((bucket, key, VersionSel::Id(version))) = split_tombstone_key(tk) else {
                continue;
            };
            let segs = decode_stale(v)
                .ok_or_else(|| IndexError::CorruptEntry(format!("{bucket}/{key} stale")))?;
            if segs.iter().all(|&s| !exists(s)) {
                out.push((bucket, key, version, segs));
            }
        }
        Ok(out)
    }

    /// How many tombstones the partition keeps.
    pub fn tombstones_len(&self) -> Result<u64, IndexError> {
        let rtxn = self.env.read_txn()?;
        Ok(self.tombstones.len(&rtxn)?)
    }

    fn stale_at(
        &self,
        txn: &heed::RoTxn<'_, WithoutTls>,
        tk: &[u8],
    ) -> Result<Option<Vec<SegmentId>>, IndexError> {
        match self.stale.get(txn, tk)? {
            Some(b) => decode_stale(b)
                .map(Some)
                .ok_or_else(|| IndexError::CorruptEntry("stale segments".into())),
            None => Ok(None),
        }
    }

    /// Notes the segments of `commits` as possibly holding commit records of
    /// `version`. A by-id tombstone of it gets a row even with none.
    fn add_stale(
        &self,
        wtxn: &mut heed::RwTxn<'_>,
        k: &[u8],
        version: u128,
        commits: &[RecordLoc],
    ) -> Result<(), IndexError> {
        let segs: Vec<SegmentId> = commits.iter().map(|c| (c.drive, c.segment)).collect();
        self.add_stale_segments(wtxn, k, version, &segs)
    }

    fn add_stale_segments(
        &self,
        wtxn: &mut heed::RwTxn<'_>,
        k: &[u8],
        version: u128,
        segs: &[SegmentId],
    ) -> Result<(), IndexError> {
        let tk = tombstone_key(k, VersionSel::Id(version));
        let mut cur = self.stale_at(wtxn, &tk)?;
        if cur.is_some() && segs.is_empty() {
            return Ok(());
        }
        let row = cur.get_or_insert_with(Vec::new);
        for s in segs {
            if !row.contains(s) {
                row.push(*s);
            }
        }
        self.stale.put(wtxn, &tk, &encode_stale(row))?;
        Ok(())
    }

    /// A version gone without a by-id tombstone (a null version replaced
    /// or deleted) needs no stale row.
    fn forget_stale(
        &self,
        wtxn: &mut heed::RwTxn<'_>,
        k: &[u8],
        version: u128,
    ) -> Result<(), IndexError> {
        self.stale
            .delete(wtxn, &tombstone_key(k, VersionSel::Id(version)))?;
        Ok(())
    }

    /// Notes the drives a rebuild just made could not read (none: all seen).
    pub fn mark_rebuilt_without(&self, unseen: &[u16]) -> Result<(), IndexError> {
        let mut wtxn = self.env.write_txn()?;
        if unseen.is_empty() {
            self.meta.delete(&mut wtxn, UNSEEN_MARK)?;
        } else {
            self.meta.put(&mut wtxn, UNSEEN_MARK, &encode(&unseen))?;
        }
        wtxn.commit()?;
        Ok(())
    }

    /// Why the reverse map and the stale rows cannot be trusted, if so.
    fn refs_not_kept(&self) -> Result<Option<&'static str>, IndexError> {
        let rtxn = self.env.read_txn()?;
        if self.meta.get(&rtxn, REFS_MARK)? != Some(REFS_FORMAT) {
            return Ok(Some("made before the reverse map of segments"));
        }
        let state_epoch = self
            .meta
            .get(&rtxn, "state")?
            .and_then(|b| postcard::from_bytes::<State>(b).ok())
            .map(|s| s.epoch);
        let refs_epoch = self
            .meta
            .get(&rtxn, REFS_EPOCH)?
            .and_then(|b| b.try_into().ok().map(u32::from_le_bytes));
        Ok((state_epoch.is_some() && state_epoch != refs_epoch)
            .then_some("used by a binary that does not keep the reverse map of segments"))
    }

    /// What `holder` keeps on the drives now; None if it is gone.
    pub fn held(
        &self,
        bucket: &str,
        key: &str,
        holder: Holder,
    ) -> Result<Option<Held>, IndexError> {
        let rtxn = self.env.read_txn()?;
        self.held_in(&rtxn, bucket, key, holder)
    }

    fn held_in(
        &self,
        rtxn: &heed::RoTxn<'_, WithoutTls>,
        bucket: &str,
        key: &str,
        holder: Holder,
    ) -> Result<Option<Held>, IndexError> {
        let k = object_key(bucket, key);
        let corrupt = || IndexError::CorruptEntry(format!("{bucket}/{key}"));
        let copies_only = |copies: Vec<RecordLoc>| Held {
            copies,
            sets: Vec::new(),
            rotation: self.partition,
        };
        Ok(match holder {
            Holder::Object { version } => {
                self.version_by_id(rtxn, &k, version, corrupt)?.map(|e| {
                    let (layout, rotation) = (e.meta.layout, e.meta.rotation);
                    let class = super::class::class_attr(&e.meta.attrs);
                    let data_gen = class.map_or(0, |c| c.data_gen);
                    let class = class.map(|c| c.name.clone());
                    let sets = match e.meta.data {
                        super::meta::DataLoc::Inline | super::meta::DataLoc::Content { .. } => {
                            Vec::new()
                        }
                        super::meta::DataLoc::Stripes(stripes) => vec![StripeSet {
                            version,
                            part: 0,
                            layout,
                            rotation,
                            stripes,
                            class,
                            data_gen,
                        }],
                        super::meta::DataLoc::Parts { upload, parts } => parts
                            .into_iter()
                            .map(|p| StripeSet {
                                version: upload,
                                part: p.number,
                                layout,
                                rotation: p.rotation,
                                stripes: p.stripes,
                                class: class.clone(),
                                data_gen,
                            })
                            .collect(),
                    };
                    Held {
                        copies: e.commits,
                        sets,
                        rotation,
                    }
                })
            }
            Holder::Tombstone { target } => self
                .tombstone_at(rtxn, &tombstone_key(&k, target), corrupt)?
                .map(copies_only),
            Holder::Upload { upload } => self
                .decode_at::<UploadEntry>(
                    &self.uploads,
                    rtxn,
                    &upload_key(bucket, key, upload),
                    corrupt,
                )?
                .map(|u| Held {
                    copies: u.commits,
                    sets: Vec::new(),
                    rotation: u.meta.rotation,
                }),
            Holder::Part {
                upload,
                number,
                seq,
            } => self
                .decode_at::<PartEntry>(
                    &self.parts,
                    rtxn,
                    &part_key(bucket, key, upload, number),
                    corrupt,
                )?
                .filter(|p| p.meta.seq == seq)
                .map(|p| Held {
                    copies: p.commits,
                    rotation: p.meta.part.rotation,
                    sets: vec![StripeSet {
                        version: upload,
                        part: number,
                        layout: p.meta.layout,
                        rotation: p.meta.part.rotation,
                        class: super::class::class_attr(&p.meta.attrs).map(|c| c.name.clone()),
                        data_gen: super::class::data_gen(&p.meta.attrs),
                        stripes: p.meta.part.stripes,
                    }],
                }),
            Holder::Ended { upload } => self
                .decode_at::<Ended>(&self.ended, rtxn, &upload_key(bucket, key, upload), corrupt)?
                .map(|e| copies_only(e.records)),
        })
    }

    /// The version with internal id `version`, latest or noncurrent.
    fn version_by_id(
        &self,
        txn: &heed::RoTxn<'_, WithoutTls>,
        k: &[u8],
        version: u128,
        corrupt: impl Fn() -> IndexError + Copy,
    ) -> Result<Option<IndexEntry>, IndexError> {
        if let Some(e) = self.object_at(txn, k, corrupt)? {
            if e.meta.version == version {
                return Ok(Some(e));
            }
        }
        Ok(self
            .versions_of(txn, k)?
            .into_iter()
            .map(|(_, e)| e)
            .find(|e| e.meta.version == version))
    }

    /// Applies a repair's edit to `holder` if it still exists.
    #[allow(clippy::too_many_arguments)]
    fn heal(
        &self,
        wtxn: &mut heed::RwTxn<'_>,
        bucket: &str,
        key: &str,
        holder: Holder,
        fix: &HealEdit<'_>,
        live: &mut Live,
        usage: &mut Deltas,
        corrupt: impl Fn() -> IndexError + Copy,
    ) -> Result<(), IndexError> {
        let h = holder_key(&object_key(bucket, key), holder);
        let edit = |stored: Stored<'_>| match stored {
            Stored::Version(e) => {
                fix.copies(&h, &mut e.commits, live);
                match &mut e.meta.data {
                    super::meta::DataLoc::Inline | super::meta::DataLoc::Content { .. } => {}
                    super::meta::DataLoc::Stripes(s) => fix.shards(&h, 0, s, live),
                    super::meta::DataLoc::Parts { parts, .. } => {
                        for (i, p) in parts.iter_mut().enumerate() {
                            fix.shards(&h, i as u32, &mut p.stripes, live);
                        }
                    }
                }
            }
            Stored::Part(p) => {
                fix.copies(&h, &mut p.commits, live);
                fix.shards(&h, 0, &mut p.meta.part.stripes, live);
            }
            Stored::Copies(c) => fix.copies(&h, c, live),
        };
        self.edit_holder(wtxn, bucket, key, holder, usage, corrupt, edit)
    }

    /// Repairs remembered in this partition, at most `limit`, in key order.
    pub fn repairs(
        &self,
        limit: usize,
    ) -> Result<Vec<(String, String, Holder, RepairNote)>, IndexError> {
        let rtxn = self.env.read_txn()?;
        let mut out = Vec::new();
        for item in self.repairs.iter(&rtxn)? {
            if out.len() >= limit {
                break;
            }
            let (rk, v) = item?;
            let bad = || IndexError::CorruptEntry("repair entry".into());
            let (bucket, key, holder) = split_repair_key(rk).ok_or_else(bad)?;
            let note: RepairNote = postcard::from_bytes(v).map_err(|_| bad())?;
            out.push((bucket, key, holder, note));
        }
        Ok(out)
    }

    /// How many repairs are remembered in this partition.
    pub fn repairs_len(&self) -> Result<u64, IndexError> {
        let rtxn = self.env.read_txn()?;
        Ok(self.repairs.len(&rtxn)?)
    }

    /// This partition's scrub state (default: never scrubbed).
    pub fn scrub_state(&self) -> Result<ScrubState, IndexError> {
        let rtxn = self.env.read_txn()?;
        Ok(self
            .meta
            .get(&rtxn, SCRUB_MARK)?
            .and_then(|b| postcard::from_bytes(b).ok())
            .unwrap_or_default())
    }

    /// This partition's lifecycle state (default: never walked). One of a
    /// newer format is an error, as a heal state's is.
    pub fn lifecycle_state(&self) -> Result<super::lifecycle::LifecycleState, IndexError> {
        let rtxn = self.env.read_txn()?;
        match self.meta.get(&rtxn, LIFECYCLE_MARK)? {
            None => Ok(Default::default()),
            Some(b) => {
                super::lifecycle::LifecycleState::decode(b).map_err(IndexError::CorruptEntry)
            }
        }
    }

    /// This partition's heal state (default: no heal walked it). One of a
    /// newer format is an error: this binary cannot tell what it says.
    pub fn heal_state(&self) -> Result<super::heal::PartitionHeal, IndexError> {
        let rtxn = self.env.read_txn()?;
        match self.meta.get(&rtxn, HEAL_MARK)? {
            None => Ok(Default::default()),
            Some(b) => super::heal::PartitionHeal::decode(b).map_err(IndexError::CorruptEntry),
        }
    }

    /// Holders that keep records, in scrub order, after `after` (from the
    /// start when None): at most `limit`, and where the last one is (None
    /// once the walk has reached the end).
    pub fn scrub_next(
        &self,
        after: Option<&ScrubPos>,
        limit: usize,
    ) -> Result<(Vec<HolderOf>, Option<ScrubPos>), IndexError> {
        let rtxn = self.env.read_txn()?;
        let bad = |what: &str| IndexError::CorruptEntry(format!("scrub: {what}"));
        let mut out = Vec::new();
        let first = after.map_or(0, |a| a.db);
        for db in first..SCRUB_DBS {
            let table = match db {
                0 => &self.objects,
                1 => &self.versions,
                2 => &self.tombstones,
                3 => &self.uploads,
                4 => &self.parts,
                _ => &self.ended,
            };
            let from = match after {
                Some(a) if a.db == db => std::ops::Bound::Excluded(a.key.as_slice()),
                _ => std::ops::Bound::Unbounded,
            };
            let range = (from, std::ops::Bound::<&[u8]>::Unbounded);
            for item in table.range(&rtxn, &range)? {
                let (k, v) = item?;
                let (bucket, key, holder) = match db {
                    0 | 1 => {
                        let (b, key) = if db == 0 {
                            split_key(k)
                        } else {
                            split_version_key(k)
                        }
                        .ok_or_else(|| bad("object key"))?;
                        let e = decode_entry(v).ok_or_else(|| bad("object entry"))?;
                        (
                            b,
                            key,
                            Holder::Object {
                                version: e.meta.version,
                            },
                        )
                    }
                    2 => {
                        let (b, key, target) =
                            split_tombstone_key(k).ok_or_else(|| bad("tombstone key"))?;
                        (b, key, Holder::Tombstone { target })
                    }
                    3 => {
                        let (b, key, upload) =
                            split_upload_key(k).ok_or_else(|| bad("upload key"))?;
                        (b, key, Holder::Upload { upload })
                    }
                    4 => {
                        let (b, key, upload) = k
                            .len()
                            .checked_sub(4)
                            .and_then(|n| split_upload_key(&k[..n]))
                            .ok_or_else(|| bad("part key"))?;
                        let p: PartEntry =
                            postcard::from_bytes(v).map_err(|_| bad("part entry"))?;
                        let holder = Holder::Part {
                            upload,
                            number: p.meta.part.number,
                            seq: p.meta.seq,
                        };
                        (b, key, holder)
                    }
                    _ => {
                        let (b, key, upload) =
                            split_upload_key(k).ok_or_else(|| bad("ended key"))?;
                        (b, key, Holder::Ended { upload })
                    }
                };
                out.push((bucket, key, holder));
                if out.len() >= limit {
                    return Ok((
                        out,
                        Some(ScrubPos {
                            db,
                            key: k.to_vec(),
                        }),
                    ));
                }
            }
        }
        Ok((out, None))
    }

    /// Remembers a repair for every holder short of full redundancy
    /// (fewer than `want` copies, or a shard slot empty): after a rebuild,
    /// which forgets the remembered repairs with the rest of the index.
    /// Returns how many. Blocking: companion thread or start-up only.
    pub fn note_short_holders(&self, want: usize, now_ms: u64) -> Result<u64, IndexError> {
        let mut short = Vec::new();
        let mut after: Option<ScrubPos> = None;
        loop {
            let (batch, next) = self.scrub_next(after.as_ref(), 1024)?;
            for (bucket, key, holder) in batch {
                let Some(h) = self.held(&bucket, &key, holder)? else {
                    continue;
                };
                let empty_slot = h
                    .sets
                    .iter()
                    .any(|s| s.stripes.iter().flatten().any(|l| l.is_none()));
                if h.copies.len() < want || empty_slot {
                    short.push(repair_key(&bucket, &key, holder));
                }
            }
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        let note = encode(&RepairNote {
            queued_ms: now_ms,
            waiting_for: Vec::new(),
        });
        let mut wtxn = self.env.write_txn()?;
        for rk in &short {
            self.repairs.put(&mut wtxn, rk, &note)?;
        }
        wtxn.commit()?;
        Ok(short.len() as u64)
    }

    /// Entries a scrub walks in this partition (for its progress).
    pub fn scrub_total(&self) -> Result<u64, IndexError> {
        let rtxn = self.env.read_txn()?;
        Ok(self.objects.len(&rtxn)?
            + self.versions.len(&rtxn)?
            + self.tombstones.len(&rtxn)?
            + self.uploads.len(&rtxn)?
            + self.parts.len(&rtxn)?
            + self.ended.len(&rtxn)?)
    }

    /// Forgets a removed segment's accounting.
    pub fn drop_segment(&self, drive: u16, segment: u32) -> Result<(), IndexError> {
        let mut wtxn = self.env.write_txn()?;
        self.segments.delete(&mut wtxn, &seg_key(drive, segment))?;
        wtxn.commit()?;
        Ok(())
    }

    /// Live bytes per (drive, segment).
    pub fn segment_live(&self) -> Result<Vec<(SegmentId, u64)>, IndexError> {
        let rtxn = self.env.read_txn()?;
        let mut out = Vec::new();
        for item in self.segments.iter(&rtxn)? {
            let (k, v) = item?;
            if k.len() == 6 && v.len() == 8 {
                let drive = u16::from_be_bytes([k[0], k[1]]);
                let seg = u32::from_be_bytes([k[2], k[3], k[4], k[5]]);
                out.push((
                    (drive, seg),
                    u64::from_le_bytes(v.try_into().expect("8 bytes")),
                ));
            }
        }
        Ok(out)
    }

    fn usage_at(
        &self,
        txn: &heed::RoTxn<'_, WithoutTls>,
        bucket: &[u8],
    ) -> Result<Option<BucketUsage>, IndexError> {
        let bad =
            || IndexError::CorruptEntry(format!("usage of {}", String::from_utf8_lossy(bucket)));
        self.decode_at(&self.usage, txn, bucket, bad)
    }

    /// Whether the `usage` rows count this index.
    /// Why the entries cannot be used as they are, if they cannot: encoded
    /// in an older format, or in a newer one (a newer cairn's index). Either
    /// way the index is rebuilt from the drives, which hold all it holds
    /// (and a record the rebuild cannot read stops it: see `rebuild.rs`).
    fn entries_not_current(&self) -> Result<Option<String>, IndexError> {
        let rtxn = self.env.read_txn()?;
        Ok(match self.meta.get(&rtxn, ENTRY_MARK)? {
            Some(m) if m == ENTRY_FORMAT => None,
            Some(&[a, b])
                if (ENTRY_FORMAT_READ_AS_IS..super::record::FORMAT_VERSION)
                    .contains(&u16::from_le_bytes([a, b])) =>
            {
                // Raised before anything of today's format is written, so
                // that a binary of the older format rebuilds it.
                drop(rtxn);
                let mut wtxn = self.env.write_txn()?;
                self.meta.put(&mut wtxn, ENTRY_MARK, ENTRY_FORMAT)?;
                wtxn.commit()?;
                None
            }
            Some(&[a, b]) if u16::from_le_bytes([a, b]) > super::record::FORMAT_VERSION => {
                Some(format!(
                    "entries written by a newer cairn (format {}, this binary reads up to {})",
                    u16::from_le_bytes([a, b]),
                    super::record::FORMAT_VERSION
                ))
            }
            _ => Some("entries in an older format".into()),
        })
    }

    /// Marks the entries as encoded in `format` (tests of other formats).
    #[cfg(test)]
    pub fn set_entry_format_for_test(&self, format: u16) -> Result<(), IndexError> {
        let mut wtxn = self.env.write_txn()?;
        self.meta
            .put(&mut wtxn, ENTRY_MARK, &format.to_le_bytes())?;
        wtxn.commit()?;
        Ok(())
    }

    /// Drops the entry format mark, as an index of format 1 lacks it.
    #[cfg(test)]
    pub fn forget_entry_format_for_test(&self) -> Result<(), IndexError> {
        let mut wtxn = self.env.write_txn()?;
        self.meta.delete(&mut wtxn, ENTRY_MARK)?;
        wtxn.commit()?;
        Ok(())
    }

    fn usage_counted(&self) -> Result<bool, IndexError> {
        let rtxn = self.env.read_txn()?;
        Ok(self.meta.get(&rtxn, USAGE_MARK)? == Some(USAGE_VERSION))
    }

    /// Every bucket's counters in this partition.
    pub fn usage(&self) -> Result<Vec<(String, BucketUsage)>, IndexError> {
        let rtxn = self.env.read_txn()?;
        let mut out = Vec::new();
        for item in self.usage.iter(&rtxn)? {
            let (k, v) = item?;
            let bucket = String::from_utf8_lossy(k).into_owned();
            let u = postcard::from_bytes(v)
                .map_err(|_| IndexError::CorruptEntry(format!("usage of {bucket}")))?;
            out.push((bucket, u));
        }
        Ok(out)
    }

    /// One bucket's counters in this partition.
    pub fn usage_of(&self, bucket: &str) -> Result<Option<BucketUsage>, IndexError> {
        let rtxn = self.env.read_txn()?;
        self.usage_at(&rtxn, bucket.as_bytes())
    }

    /// Counts every bucket's usage by walking the whole partition (what the
    /// `usage` rows must always equal).
    pub fn count_usage(
        &self,
    ) -> Result<std::collections::BTreeMap<String, BucketUsage>, IndexError> {
        let rtxn = self.env.read_txn()?;
        self.count_usage_in(&rtxn)
    }

    fn count_usage_in(
        &self,
        txn: &heed::RoTxn<'_, WithoutTls>,
    ) -> Result<std::collections::BTreeMap<String, BucketUsage>, IndexError> {
        let bad = |what: &str| IndexError::CorruptEntry(what.to_owned());
        let mut deltas = Deltas::default();
        for (db, latest) in [(&self.objects, true), (&self.versions, false)] {
            for item in db.iter(txn)? {
                let (k, v) = item?;
                let e = decode_entry(v).ok_or_else(|| bad("version entry"))?;
                deltas.of(k).version(&e, latest, 1);
            }
        }
        for item in self.uploads.iter(txn)? {
            let (k, v) = item?;
            let u: UploadEntry = postcard::from_bytes(v).map_err(|_| bad("upload entry"))?;
            deltas.of(k).upload(&u, 1);
        }
        for item in self.parts.iter(txn)? {
            let (k, v) = item?;
            let p: PartEntry = postcard::from_bytes(v).map_err(|_| bad("part entry"))?;
            deltas.of(k).part(&p, 1);
        }
        Ok(deltas
            .0
            .into_iter()
            .map(|(b, d)| {
                let mut u = BucketUsage::default();
                u.apply(&d);
                (String::from_utf8_lossy(&b).into_owned(), u)
            })
            .filter(|(_, u)| !u.is_empty())
            .collect())
    }

    /// Replaces the `usage` rows by a count of the partition. Blocking.
    pub fn recount_usage(&self) -> Result<(), IndexError> {
        let mut wtxn = self.env.write_txn()?;
        let counted = self.count_usage_in(&wtxn)?;
        self.usage.clear(&mut wtxn)?;
        for (bucket, u) in &counted {
            self.usage.put(&mut wtxn, bucket.as_bytes(), &encode(u))?;
        }
        self.meta.put(&mut wtxn, USAGE_MARK, USAGE_VERSION)?;
        wtxn.commit()?;
        Ok(())
    }

    /// Drops the counters and their mark, as an index made before usage
    /// accounting has them.
    #[cfg(test)]
    pub fn forget_usage_for_test(&self) -> Result<(), IndexError> {
        let mut wtxn = self.env.write_txn()?;
        self.usage.clear(&mut wtxn)?;
        self.meta.delete(&mut wtxn, USAGE_MARK)?;
        wtxn.commit()?;
        Ok(())
    }

    fn content_at(
        &self,
        txn: &heed::RoTxn<'_, WithoutTls>,
        k: &[u8],
    ) -> Result<Option<ContentRow>, IndexError> {
        match self.content.get(txn, k)? {
            None => Ok(None),
            Some(b) => postcard::from_bytes(b)
                .map(Some)
                .map_err(|_| IndexError::CorruptEntry("content row".into())),
        }
    }

    /// The count row of a content object this partition owns.
    pub fn content_row(&self, bucket: &str, key: &str) -> Result<Option<ContentRow>, IndexError> {
        let rtxn = self.env.read_txn()?;
        self.content_at(&rtxn, &object_key(bucket, key))
    }

    /// Up to `limit` count rows after `after` (an object key), in key order.
    pub fn content_rows(
        &self,
        after: &[u8],
        limit: usize,
    ) -> Result<Vec<(String, String, ContentRow)>, IndexError> {
        let rtxn = self.env.read_txn()?;
        let mut out = Vec::new();
        // LMDB has no empty key: from the start, nothing is excluded.
        let from = match after {
            [] => std::ops::Bound::Unbounded,
            a => std::ops::Bound::Excluded(a),
        };
        let range = (from, std::ops::Bound::<&[u8]>::Unbounded);
        for item in self.content.range(&rtxn, &range)? {
            let (k, v) = item?;
            let (bucket, key) =
                split_key(k).ok_or_else(|| IndexError::CorruptEntry("content key".into()))?;
            let row = postcard::from_bytes(v)
                .map_err(|_| IndexError::CorruptEntry("content row".into()))?;
            out.push((bucket, key, row));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Whether the content counts were kept since this index was last
    /// built (a rebuild, or a binary from before deduplication, did not).
    pub fn content_counted(&self) -> Result<bool, IndexError> {
        let rtxn = self.env.read_txn()?;
        Ok(self.meta.get(&rtxn, CONTENT_MARK)?.is_some())
    }

    /// Per content object of this partition (by object key), how many
    /// versions of this partition refer to it, and its size when the
    /// object is here. Blocking: start-up's recount.
    pub fn content_refs(
        &self,
        refs: &mut std::collections::HashMap<Vec<u8>, u64>,
        objects: &mut Vec<(Vec<u8>, u64)>,
    ) -> Result<(), IndexError> {
        let rtxn = self.env.read_txn()?;
        let bad = || IndexError::CorruptEntry("version entry".into());
        for db in [&self.objects, &self.versions] {
            for item in db.iter(&rtxn)? {
                let (k, v) = item?;
                let e = decode_entry(v).ok_or_else(bad)?;
                let bucket = k.split(|&b| b == 0).next().unwrap_or(k);
                if let super::meta::DataLoc::Content { ids } = &e.meta.data {
                    let bucket = String::from_utf8_lossy(bucket);
                    for id in ids {
                        let ck =
                            object_key(&super::dedup::content_bucket(&bucket), &hex::encode(id));
                        *refs.entry(ck).or_default() += 1;
                    }
                } else if super::dedup::is_content_bucket(&String::from_utf8_lossy(bucket)) {
                    objects.push((k.to_vec(), e.meta.size));
                }
            }
        }
        Ok(())
    }

    /// Replaces the content counts by `rows` (object key, row) and marks
    /// them counted. Blocking.
    pub fn set_content_counts(&self, rows: &[(Vec<u8>, ContentRow)]) -> Result<(), IndexError> {
        let mut wtxn = self.env.write_txn()?;
        self.content.clear(&mut wtxn)?;
        for (k, r) in rows {
            self.content.put(&mut wtxn, k, &encode(r))?;
        }
        self.meta.put(&mut wtxn, CONTENT_MARK, CONTENT_VERSION)?;
        wtxn.commit()?;
        Ok(())
    }

    /// The latest version of every key of the partition.
    pub fn entries(&self) -> Result<Vec<(String, String, IndexEntry)>, IndexError> {
        let rtxn = self.env.read_txn()?;
        let mut out = Vec::new();
        for item in self.objects.iter(&rtxn)? {
            let (k, v) = item?;
            let (bucket, key) =
                split_key(k).ok_or_else(|| IndexError::CorruptEntry("key".into()))?;
            let e = decode_entry(v)
                .ok_or_else(|| IndexError::CorruptEntry(format!("{bucket}/{key}")))?;
            out.push((bucket, key, e));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::meta::{DataLoc, ObjectMeta};

    fn version(seq: u64) -> IndexEntry {
        IndexEntry {
            meta: ObjectMeta {
                version: seq as u128,
                seq,
                size: 0,
                etag: String::new(),
                modified_ms: 0,
                null: false,
                delete_marker: false,
                content_type: None,
                headers: Vec::new(),
                user_meta: Vec::new(),
                layout: (1, 0),
                rotation: 0,
                data: DataLoc::Inline,
                tags: Vec::new(),
                attrs: Vec::new(),
            },
            commits: Vec::new(),
        }
    }

    #[test]
    fn a_version_older_than_the_latest_stops_the_process() {
        const NAME: &str =
            "engine::index::tests::a_version_older_than_the_latest_stops_the_process";
        let put = |seq| Mutation::Put {
            bucket: "b".into(),
            key: "k".into(),
            entry: version(seq),
        };
        if crate::engine::invariant::child::is(NAME) {
            let dir = tempfile::tempdir().unwrap();
            let (idx, _) = PartitionIndex::open(dir.path(), 0, 0..=0, &[]).unwrap();
            idx.apply(&[put(7), put(10)]).unwrap();
            println!("applied in order");
            let r = idx.apply(&[put(5)]);
            println!("applied out of order: {:?}", r.is_ok());
            return;
        }
        let out = crate::engine::invariant::child::run(NAME);
        crate::engine::invariant::child::assert_aborted(
            &out,
            "sequence order (partition 0: sequence 5 after 10)",
            "applied out of order",
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("applied in order"));
    }

    #[test]
    fn an_index_of_older_entries_is_not_trusted_and_so_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (idx, trust) = PartitionIndex::open(dir.path(), 0, 0..=0, &[]).unwrap();
            assert_eq!(trust, Trust::Untrusted("new index".into()));
            idx.clear().unwrap();
            idx.mark_clean(1).unwrap();
        }
        {
            let (idx, trust) = PartitionIndex::open(dir.path(), 0, 1..=1, &[]).unwrap();
            assert_eq!(trust, Trust::Trusted);
            idx.forget_entry_format_for_test().unwrap();
            idx.mark_clean(1).unwrap();
        }
        let (_, trust) = PartitionIndex::open(dir.path(), 0, 1..=1, &[]).unwrap();
        assert_eq!(trust, Trust::Untrusted("entries in an older format".into()));
    }

    #[test]
    fn an_index_used_by_a_binary_without_the_reverse_map_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (idx, _) = PartitionIndex::open(dir.path(), 0, 0..=0, &[]).unwrap();
            idx.clear().unwrap();
            idx.mark_clean(1).unwrap();
        }
        {
            let (idx, trust) = PartitionIndex::open(dir.path(), 0, 1..=2, &[]).unwrap();
            assert_eq!(trust, Trust::Trusted);
            // What an older binary's run does: its state, not the mark.
            let mut wtxn = idx.env.write_txn().unwrap();
            let s = State {
                clean: true,
                boot_id: current_boot_id(),
                epoch: 2,
                offline: Vec::new(),
            };
            idx.meta
                .put(&mut wtxn, "state", &postcard::to_allocvec(&s).unwrap())
                .unwrap();
            wtxn.commit().unwrap();
        }
        let (_, trust) = PartitionIndex::open(dir.path(), 0, 2..=2, &[]).unwrap();
        assert_eq!(
            trust,
            Trust::Untrusted(
                "used by a binary that does not keep the reverse map of segments".into()
            )
        );
    }

    #[test]
    fn an_index_of_format_3_entries_is_used_as_it_is_and_marked_as_today() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (idx, _) = PartitionIndex::open(dir.path(), 0, 0..=0, &[]).unwrap();
            idx.clear().unwrap();
            idx.set_entry_format_for_test(3).unwrap();
            idx.mark_clean(1).unwrap();
        }
        {
            let (idx, trust) = PartitionIndex::open(dir.path(), 0, 1..=1, &[]).unwrap();
            assert_eq!(trust, Trust::Trusted);
            assert_eq!(idx.entries_not_current().unwrap(), None);
            let rtxn = idx.env.read_txn().unwrap();
            assert_eq!(idx.meta.get(&rtxn, ENTRY_MARK).unwrap(), Some(ENTRY_FORMAT));
        }
        {
            let (idx, _) = PartitionIndex::open(dir.path(), 0, 1..=1, &[]).unwrap();
            idx.set_entry_format_for_test(2).unwrap();
            idx.mark_clean(1).unwrap();
        }
        let (_, trust) = PartitionIndex::open(dir.path(), 0, 1..=1, &[]).unwrap();
        assert_eq!(trust, Trust::Untrusted("entries in an older format".into()));
    }

    #[test]
    fn an_index_of_newer_entries_is_not_trusted_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (idx, _) = PartitionIndex::open(dir.path(), 0, 0..=0, &[]).unwrap();
            idx.clear().unwrap();
            idx.set_entry_format_for_test(super::super::record::FORMAT_VERSION + 1)
                .unwrap();
            idx.mark_clean(1).unwrap();
        }
        let (_, trust) = PartitionIndex::open(dir.path(), 0, 1..=1, &[]).unwrap();
        let v = super::super::record::FORMAT_VERSION;
        assert_eq!(
            trust,
            Trust::Untrusted(format!(
                "entries written by a newer cairn (format {}, this binary reads up to {v})",
                v + 1
            ))
        );
    }

    #[test]
    fn a_new_environment_torn_before_it_was_marked_open_is_deleted_at_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p000");
        let (idx, _) = PartitionIndex::open(&p, 0, 0..=0, &[]).unwrap();
        idx.apply(&[Mutation::Put {
            bucket: "b".into(),
            key: "k".into(),
            entry: version(1),
        }])
        .unwrap();
        drop(idx);
        // The power went during the rebuild that fills a new environment:
        // its file is torn, and nothing has marked it open yet.
        let len = std::fs::metadata(p.join("data.mdb")).unwrap().len() as usize;
        std::fs::write(p.join("data.mdb"), vec![0xa5; len]).unwrap();
        let (idx, trust) = PartitionIndex::open(&p, 0, 0..=0, &[]).unwrap();
        assert!(matches!(trust, Trust::Untrusted(_)));
        idx.mark_open(1, &[]).unwrap();
        assert_eq!(
            std::fs::read_to_string(p.join(OPENED_ON)).unwrap(),
            current_boot_id()
        );
    }
}
