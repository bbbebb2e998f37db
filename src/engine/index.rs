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
    meta: Database<'static, Str, Bytes>,
    env: Env<WithoutTls>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    clean: bool,
    boot_id: String,
    epoch: u32,
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
    Put { bucket: String, key: String, entry: IndexEntry },
    /// Remove the key; `tombstones` are the delete's own records (kept live).
    Delete { bucket: String, key: String, tombstones: Vec<RecordLoc> },
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
    pub fn open(dir: &Path, partition: u16, prev_epoch: u32) -> Result<(PartitionIndex, Trust), IndexError> {
        let existed = dir.join("data.mdb").exists();
        std::fs::create_dir_all(dir)?;
        let mut opts = EnvOpenOptions::new().read_txn_without_tls();
        opts.map_size(MAP_SIZE).max_readers(MAX_READERS).max_dbs(4);
        // SAFETY: one environment per directory per process (partition dirs
        // are distinct and opened once), as LMDB requires.
        let env = unsafe {
            opts.flags(EnvFlags::NO_SYNC | EnvFlags::WRITE_MAP | EnvFlags::NO_READ_AHEAD)
                .open(dir)?
        };
        let wtxn = env.write_txn()?;
        let (objects, segments, meta) = env
            .create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_, heed::Error> {
                let o = opener.create_database::<Bytes, Bytes>(wtxn, Some("objects"))?;
                let s = opener.create_database::<Bytes, Bytes>(wtxn, Some("segments"))?;
                let m = opener.create_database::<Str, Bytes>(wtxn, Some("meta"))?;
                Ok(CommitOrAbort::<_, ()>::Commit((o, s, m)))
            })?
            .unwrap_commit();
        // SAFETY: a Database is an index number plus a lifetime tying it to
        // the environment. PartitionIndex owns the environment and drops it
        // after the databases, so they never outlive it; owning it (instead of
        // leaking it) lets the environment close when the engine is dropped.
        let (objects, segments, meta) = unsafe {
            (
                std::mem::transmute::<Database<'_, Bytes, Bytes>, Database<'static, Bytes, Bytes>>(objects),
                std::mem::transmute::<Database<'_, Bytes, Bytes>, Database<'static, Bytes, Bytes>>(segments),
                std::mem::transmute::<Database<'_, Str, Bytes>, Database<'static, Str, Bytes>>(meta),
            )
        };
        let idx = PartitionIndex { partition, objects, segments, meta, env };
        let trust = if !existed {
            Trust::Untrusted("new index".into())
        } else {
            match idx.state()? {
                None => Trust::Untrusted("no state record".into()),
                Some(s) if s.epoch != prev_epoch => Trust::Untrusted(format!(
                    "index last used in epoch {}, the node's last epoch is {prev_epoch}",
                    s.epoch
                )),
                Some(s) if s.clean => Trust::Trusted,
                Some(s) if s.boot_id == current_boot_id() && !s.boot_id.is_empty() => Trust::Trusted,
                Some(_) => Trust::Untrusted("not closed cleanly and the machine rebooted since".into()),
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

    /// Marks the index in use by this run (durably). Blocking.
    pub fn mark_open(&self, epoch: u32) -> Result<(), IndexError> {
        self.put_state(&State { clean: false, boot_id: current_boot_id(), epoch })
    }

    /// Syncs everything and marks a clean close. Blocking.
    pub fn mark_clean(&self, epoch: u32) -> Result<(), IndexError> {
        self.env.force_sync()?;
        self.put_state(&State { clean: true, boot_id: current_boot_id(), epoch })
    }

    /// Removes every entry (before a rebuild).
    pub fn clear(&self) -> Result<(), IndexError> {
        let mut wtxn = self.env.write_txn()?;
        self.objects.clear(&mut wtxn)?;
        self.segments.clear(&mut wtxn)?;
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
    pub fn scan(&self, bucket: &str, from: &str, limit: usize) -> Result<Vec<ListEntry>, IndexError> {
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
        for m in muts {
            let (bucket, key) = match m {
                Mutation::Put { bucket, key, .. } | Mutation::Delete { bucket, key, .. } => (bucket, key),
            };
            let k = object_key(bucket, key);
            if let Some(old) = self.objects.get(&wtxn, &k)? {
                let old = decode_entry(old).ok_or_else(|| IndexError::CorruptEntry(format!("{bucket}/{key}")))?;
                for r in old.records() {
                    *live.entry((r.drive, r.segment)).or_default() -= r.len as i64;
                }
            }
            match m {
                Mutation::Put { entry, .. } => {
                    for r in entry.records() {
                        *live.entry((r.drive, r.segment)).or_default() += r.len as i64;
                    }
                    self.objects.put(&mut wtxn, &k, &encode_entry(entry))?;
                }
                Mutation::Delete { tombstones, .. } => {
                    for r in tombstones {
                        *live.entry((r.drive, r.segment)).or_default() += r.len as i64;
                    }
                    self.objects.delete(&mut wtxn, &k)?;
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

    /// Live bytes per (drive, segment).
    pub fn segment_live(&self) -> Result<Vec<((u16, u32), u64)>, IndexError> {
        let rtxn = self.env.read_txn()?;
        let mut out = Vec::new();
        for item in self.segments.iter(&rtxn)? {
            let (k, v) = item?;
            if k.len() == 6 && v.len() == 8 {
                let drive = u16::from_be_bytes([k[0], k[1]]);
                let seg = u32::from_be_bytes([k[2], k[3], k[4], k[5]]);
                out.push(((drive, seg), u64::from_le_bytes(v.try_into().expect("8 bytes"))));
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
            let split = k.iter().position(|&b| b == 0).ok_or_else(|| IndexError::CorruptEntry("key".into()))?;
            let bucket = String::from_utf8_lossy(&k[..split]).into_owned();
            let key = String::from_utf8_lossy(&k[split + 1..]).into_owned();
            let e = decode_entry(v).ok_or_else(|| IndexError::CorruptEntry(format!("{bucket}/{key}")))?;
            out.push((bucket, key, e));
        }
        Ok(out)
    }
}
