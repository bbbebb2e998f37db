//! The per-partition index: one LMDB environment per partition (heed).
//!
//! LMDB runs with NO_SYNC and WRITE_MAP: the segments are the write-ahead log.
//! A version is acknowledged only after its records are fdatasync'd and its
//! index transaction is committed (to the page cache), so a process crash
//! (kill -9) loses nothing: the committed pages survive in the page cache.
//! After a possible power loss (another boot id) or a run that used another
//! index copy (epoch mismatch), an environment that was not closed cleanly is
//! not trusted: it is rebuilt from the segments (see `rebuild.rs`).
//! Write transactions run only on the owning core's companion thread.

use std::path::{Path, PathBuf};

use heed::types::{Bytes, Str};
use heed::{CommitOrAbort, Database, Env, EnvFlags, EnvOpenOptions, WithoutTls};
use serde::{Deserialize, Serialize};

use super::meta::{decode_entry, encode_entry, IndexEntry, RecordLoc};

/// Virtual map size per partition; LMDB only maps what it uses.
const MAP_SIZE: usize = 64 << 30;
/// Concurrent read transactions per partition, across all cores.
const MAX_READERS: u32 = 2048;

pub struct PartitionIndex {
    pub partition: u16,
    // Field order matters: the databases are handles into `env` and must not
    // outlive it (see `open`).
    objects: Database<'static, Bytes, Bytes>,
    /// (drive u16 BE, segment u32 BE) -> live bytes u64 LE.
    segments: Database<'static, Bytes, Bytes>,
    /// object key -> the latest delete's tombstone records, kept (and moved
    /// by compaction) so older commit records cannot come back on a rebuild.
    tombstones: Database<'static, Bytes, Bytes>,
    meta: Database<'static, Str, Bytes>,
    env: Env<WithoutTls>,
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
    /// Make `entry` the current version of the key.
    Put {
        bucket: String,
        key: String,
        entry: IndexEntry,
    },
    /// Remove the key; `tombstones` are the delete's own records (kept live).
    Delete {
        bucket: String,
        key: String,
        tombstones: Vec<RecordLoc>,
    },
    /// Compaction moved records of the key's current version (or of its
    /// tombstone): replace each `from` by `to` (None drops a record found
    /// corrupt). Applies only if `version` is still current, else is a no-op.
    Relocate {
        bucket: String,
        key: String,
        version: Option<u128>,
        moves: Vec<(RecordLoc, Option<RecordLoc>)>,
    },
    /// Repair wrote new copies of shards (stripe, shard index) of `version`;
    /// applies only if that version is still current.
    Heal {
        bucket: String,
        key: String,
        version: u128,
        shards: Vec<(u32, u8, RecordLoc)>,
    },
}

/// (drive, segment id).
pub type SegmentId = (u16, u32);

/// What references a segment: used by compaction.
pub enum SegmentRef {
    Object {
        bucket: String,
        key: String,
        entry: IndexEntry,
    },
    Tombstone {
        bucket: String,
        key: String,
        records: Vec<RecordLoc>,
    },
}

fn split_key(k: &[u8]) -> Option<(String, String)> {
    let split = k.iter().position(|&b| b == 0)?;
    Some((
        String::from_utf8_lossy(&k[..split]).into_owned(),
        String::from_utf8_lossy(&k[split + 1..]).into_owned(),
    ))
}

fn relocate_in(locs: &mut Vec<RecordLoc>, moves: &[(RecordLoc, Option<RecordLoc>)]) {
    for (from, to) in moves {
        if let Some(pos) = locs.iter().position(|l| l == from) {
            match to {
                Some(t) => locs[pos] = *t,
                None => {
                    locs.remove(pos);
                }
            }
        }
    }
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
}

pub fn current_boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

pub fn partition_dir(root: &Path, partition: u16) -> PathBuf {
    root.join(format!("p{partition:03}"))
}

impl PartitionIndex {
    /// Opens or creates the environment and says whether it can be trusted
    /// for a run following epoch `prev_epoch`. Blocking.
    pub fn open(
        dir: &Path,
        partition: u16,
        prev_epoch: u32,
        online: &[u16],
    ) -> Result<(PartitionIndex, Trust), IndexError> {
        let existed = dir.join("data.mdb").exists();
        std::fs::create_dir_all(dir)?;
        let mut opts = EnvOpenOptions::new().read_txn_without_tls();
        opts.map_size(MAP_SIZE).max_readers(MAX_READERS).max_dbs(8);
        // SAFETY: one environment per directory per process (partition dirs
        // are distinct and opened once), as LMDB requires.
        let env = unsafe {
            opts.flags(EnvFlags::NO_SYNC | EnvFlags::WRITE_MAP | EnvFlags::NO_READ_AHEAD)
                .open(dir)?
        };
        let wtxn = env.write_txn()?;
        let (objects, segments, tombstones, meta) = env
            .create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_, heed::Error> {
                let o = opener.create_database::<Bytes, Bytes>(wtxn, Some("objects"))?;
                let s = opener.create_database::<Bytes, Bytes>(wtxn, Some("segments"))?;
                let t = opener.create_database::<Bytes, Bytes>(wtxn, Some("tombstones"))?;
                let m = opener.create_database::<Str, Bytes>(wtxn, Some("meta"))?;
                Ok(CommitOrAbort::<_, ()>::Commit((o, s, t, m)))
            })?
            .unwrap_commit();
        // SAFETY: a Database is an index number plus a lifetime tying it to
        // the environment. PartitionIndex owns the environment and drops it
        // after the databases, so they never outlive it; owning it (instead of
        // leaking it) lets the environment close when the engine is dropped.
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
            segments,
            tombstones,
            meta,
            env,
        };
        let trust = if !existed {
            Trust::Untrusted("new index".into())
        } else {
            match idx.state()? {
                None => Trust::Untrusted("no state record".into()),
                Some(s) if s.epoch != prev_epoch => Trust::Untrusted(format!(
                    "index last used in epoch {}, the node's last epoch is {prev_epoch}",
                    s.epoch
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
        let b = postcard::to_allocvec(s).expect("state serialises");
        self.meta.put(&mut wtxn, "state", &b)?;
        wtxn.commit()?;
        self.env.force_sync()?;
        Ok(())
    }

    /// Marks the index in use by this run with `offline` drives (durably).
    pub fn mark_open(&self, epoch: u32, offline: &[u16]) -> Result<(), IndexError> {
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
        })
    }

    /// Removes every entry (before a rebuild).
    pub fn clear(&self) -> Result<(), IndexError> {
        let mut wtxn = self.env.write_txn()?;
        self.objects.clear(&mut wtxn)?;
        self.segments.clear(&mut wtxn)?;
        self.tombstones.clear(&mut wtxn)?;
        self.meta.clear(&mut wtxn)?;
        wtxn.commit()?;
        Ok(())
    }

    pub fn get(&self, bucket: &str, key: &str) -> Result<Option<IndexEntry>, IndexError> {
        let rtxn = self.env.read_txn()?;
        match self.objects.get(&rtxn, &object_key(bucket, key))? {
            None => Ok(None),
            Some(b) => decode_entry(b)
                .map(Some)
                .ok_or_else(|| IndexError::CorruptEntry(format!("{bucket}/{key}"))),
        }
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
            let (mut e, _): (ListEntry, _) = postcard::take_from_bytes(v)
                .map_err(|_| IndexError::CorruptEntry(format!("{bucket}/{key}")))?;
            e.key = key.to_owned();
            out.push(e);
        }
        Ok(out)
    }

    /// Whether the bucket has any key in this partition.
    pub fn bucket_has_objects(&self, bucket: &str) -> Result<bool, IndexError> {
        Ok(!self.scan(bucket, "", 1)?.is_empty())
    }

    /// Applies mutations in one write transaction and keeps the per-segment
    /// live bytes. Blocking: companion thread only.
    pub fn apply(&self, muts: &[Mutation]) -> Result<(), IndexError> {
        let mut wtxn = self.env.write_txn()?;
        let mut live: std::collections::HashMap<(u16, u32), i64> = Default::default();
        let mut add = |locs: &mut dyn Iterator<Item = RecordLoc>, sign: i64| {
            for r in locs {
                *live.entry((r.drive, r.segment)).or_default() += sign * r.len as i64;
            }
        };
        for m in muts {
            let (bucket, key) = match m {
                Mutation::Put { bucket, key, .. }
                | Mutation::Delete { bucket, key, .. }
                | Mutation::Relocate { bucket, key, .. }
                | Mutation::Heal { bucket, key, .. } => (bucket, key),
            };
            let k = object_key(bucket, key);
            let corrupt = || IndexError::CorruptEntry(format!("{bucket}/{key}"));
            let old = match self.objects.get(&wtxn, &k)? {
                Some(b) => Some(decode_entry(b).ok_or_else(corrupt)?),
                None => None,
            };
            let old_tomb: Option<Vec<RecordLoc>> = match self.tombstones.get(&wtxn, &k)? {
                Some(b) => Some(postcard::from_bytes(b).map_err(|_| corrupt())?),
                None => None,
            };
            match m {
                Mutation::Put { entry, .. } => {
                    if let Some(old) = &old {
                        add(&mut old.records(), -1);
                    }
                    if let Some(t) = old_tomb {
                        add(&mut t.into_iter(), -1);
                        self.tombstones.delete(&mut wtxn, &k)?;
                    }
                    add(&mut entry.records(), 1);
                    self.objects.put(&mut wtxn, &k, &encode_entry(entry))?;
                }
                Mutation::Delete { tombstones, .. } => {
                    if let Some(old) = &old {
                        add(&mut old.records(), -1);
                    }
                    if let Some(t) = old_tomb {
                        add(&mut t.into_iter(), -1);
                    }
                    add(&mut tombstones.iter().copied(), 1);
                    self.objects.delete(&mut wtxn, &k)?;
                    let t = postcard::to_allocvec(tombstones).expect("locations serialise");
                    self.tombstones.put(&mut wtxn, &k, &t)?;
                }
                Mutation::Heal {
                    version, shards, ..
                } => {
                    let Some(mut e) = old else { continue };
                    if e.meta.version != *version {
                        continue;
                    }
                    if let super::meta::DataLoc::Stripes(stripes) = &mut e.meta.data {
                        for (s, i, loc) in shards {
                            let Some(slot) = stripes
                                .get_mut(*s as usize)
                                .and_then(|st| st.get_mut(*i as usize))
                            else {
                                continue;
                            };
                            if let Some(prev) = slot.replace(*loc) {
                                add(&mut std::iter::once(prev), -1);
                            }
                            add(&mut std::iter::once(*loc), 1);
                        }
                    }
                    self.objects.put(&mut wtxn, &k, &encode_entry(&e))?;
                }
                Mutation::Relocate { version, moves, .. } => {
                    let current = old.as_ref().map(|e| e.meta.version);
                    if *version != current {
                        continue;
                    }
                    // Only moves whose source is still referenced count: the
                    // key may have changed since compaction looked.
                    let held: Vec<RecordLoc> = match (&old, &old_tomb) {
                        (Some(e), _) => e.records().collect(),
                        (None, Some(t)) => t.clone(),
                        (None, None) => Vec::new(),
                    };
                    let moves: Vec<(RecordLoc, Option<RecordLoc>)> = moves
                        .iter()
                        .filter(|(f, _)| held.contains(f))
                        .copied()
                        .collect();
                    for (from, to) in &moves {
                        add(&mut std::iter::once(*from), -1);
                        if let Some(to) = to {
                            add(&mut std::iter::once(*to), 1);
                        }
                    }
                    match old {
                        Some(mut e) => {
                            relocate_in(&mut e.commits, &moves);
                            if let super::meta::DataLoc::Stripes(stripes) = &mut e.meta.data {
                                for shard in stripes.iter_mut().flatten() {
                                    if let Some(l) = *shard {
                                        if let Some((_, to)) = moves.iter().find(|(f, _)| *f == l) {
                                            *shard = *to;
                                        }
                                    }
                                }
                            }
                            self.objects.put(&mut wtxn, &k, &encode_entry(&e))?;
                        }
                        None => {
                            if let Some(mut t) = old_tomb {
                                relocate_in(&mut t, &moves);
                                let b = postcard::to_allocvec(&t).expect("locations serialise");
                                self.tombstones.put(&mut wtxn, &k, &b)?;
                            }
                        }
                    }
                }
            }
        }
        for ((drive, seg), delta) in live {
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
        wtxn.commit()?;
        Ok(())
    }

    /// Every index entry or tombstone with a record in (drive, segment).
    pub fn refs_in_segment(&self, drive: u16, segment: u32) -> Result<Vec<SegmentRef>, IndexError> {
        let rtxn = self.env.read_txn()?;
        let on = |l: &RecordLoc| l.drive == drive && l.segment == segment;
        let mut out = Vec::new();
        for item in self.objects.iter(&rtxn)? {
            let (k, v) = item?;
            let (bucket, key) =
                split_key(k).ok_or_else(|| IndexError::CorruptEntry("key".into()))?;
            let entry = decode_entry(v)
                .ok_or_else(|| IndexError::CorruptEntry(format!("{bucket}/{key}")))?;
            if entry.records().any(|l| on(&l)) {
                out.push(SegmentRef::Object { bucket, key, entry });
            }
        }
        for item in self.tombstones.iter(&rtxn)? {
            let (k, v) = item?;
            let (bucket, key) =
                split_key(k).ok_or_else(|| IndexError::CorruptEntry("key".into()))?;
            let records: Vec<RecordLoc> = postcard::from_bytes(v)
                .map_err(|_| IndexError::CorruptEntry(format!("{bucket}/{key}")))?;
            if records.iter().any(on) {
                out.push(SegmentRef::Tombstone {
                    bucket,
                    key,
                    records,
                });
            }
        }
        Ok(out)
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

    /// Every entry of the partition (for compaction and tests).
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
