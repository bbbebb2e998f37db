//! Repair: a read that met a missing or corrupt shard serves the object from
//! parity and queues it for repair on the owner core of its partition, which
//! rebuilds the bad shards of every stripe from the good ones, appends them to
//! their drives (if online) and points the index at them.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::runtime::buf::{align_up, AlignedBuf};

use super::codec::ErasureCodec;
use super::index::{object_key, Mutation};
use super::layout::{stripe_range_of, Layout};
use super::meta::{DataLoc, RecordLoc, VersionSel};
use super::read::Expect;
use super::record::{Kind, RecordHeader, FIXED_LEN, FORMAT_VERSION};
use super::segment::Class;
use super::{CoreMsg, Engine, Result};

/// Objects waiting for repair per core; more are dropped (the next read of
/// the object queues it again).
const REPAIR_QUEUE_MAX: usize = 1024;
/// An object is not queued again this soon after a repair attempt: while a
/// drive is away, every read of an object with a shard there would otherwise
/// queue a repair that cannot succeed.
const REPAIR_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Most remembered repair attempts per core.
const REPAIR_RECENT_MAX: usize = 4096;

/// A version of an object to repair: (bucket, key, version).
type RepairId = (String, String, VersionSel);

#[derive(Default)]
pub struct RepairQueue {
    pending: RefCell<VecDeque<RepairId>>,
    recent: RefCell<HashMap<RepairId, Instant>>,
    busy: Cell<bool>,
}

impl RepairQueue {
    pub fn busy(&self) -> bool {
        self.busy.get()
    }
}

impl Engine {
    /// Queues a version of an object for repair on the owner core of its
    /// partition.
    pub(crate) fn queue_repair(self: &Rc<Self>, bucket: &str, key: &str, version: VersionSel) {
        let owner = self.shared.owner_of(self.shared.partition_of(bucket, key));
        if owner == self.core {
            self.enqueue_repair(bucket.to_owned(), key.to_owned(), version);
        } else {
            // Best effort: a full inbox drops the request, a later read
            // queues it again.
            let _ = self.shared.inboxes[owner].try_send(CoreMsg::Repair {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                version,
            });
        }
    }

    pub(crate) fn enqueue_repair(
        self: &Rc<Self>,
        bucket: String,
        key: String,
        version: VersionSel,
    ) {
        {
            let mut recent = self.repairs.recent.borrow_mut();
            let id = (bucket, key, version);
            if recent
                .get(&id)
                .is_some_and(|t| t.elapsed() < REPAIR_RETRY_AFTER)
            {
                return;
            }
            let mut q = self.repairs.pending.borrow_mut();
            if q.len() >= REPAIR_QUEUE_MAX {
                return;
            }
            if recent.len() >= REPAIR_RECENT_MAX {
                recent.retain(|_, t| t.elapsed() < REPAIR_RETRY_AFTER);
                if recent.len() >= REPAIR_RECENT_MAX {
                    return;
                }
            }
            recent.insert(id.clone(), Instant::now());
            q.push_back(id);
            self.shared
                .background
                .repair_queued
                .fetch_add(1, Ordering::Relaxed);
        }
        self.start_repairs();
    }

    /// Drains this core's repair queue in a task of its own, unless one is
    /// draining it or repair is paused (a pause takes effect between
    /// objects; the queue is kept for the resume).
    pub(crate) fn start_repairs(self: &Rc<Self>) {
        let job = &self.shared.background.repair;
        if self.repairs.busy.get() || job.paused() || self.repairs.pending.borrow().is_empty() {
            return;
        }
        self.repairs.busy.set(true);
        let me = self.clone();
        crate::runtime::spawn(async move {
            let bg = &me.shared.background;
            let running = bg.repair.begin();
            // Bounded: the queue holds at most REPAIR_QUEUE_MAX and each
            // object is taken once.
            while !bg.repair.paused() {
                let next = me.repairs.pending.borrow_mut().pop_front();
                let Some((bucket, key, version)) = next else {
                    break;
                };
                bg.repair_queued.fetch_sub(1, Ordering::Relaxed);
                let r = me.repair_object(&bucket, &key, version).await;
                let st = &me.shared.stats;
                st.repair_runs.fetch_add(1, Ordering::Relaxed);
                if r.is_err() {
                    st.repair_failures.fetch_add(1, Ordering::Relaxed);
                }
                me.background_ended(
                    super::background::Work::Repair,
                    r.as_ref().err().map(|e| format!("{bucket}/{key}: {e}")),
                );
                match r {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(bucket = %bucket, key = %key, shards = n, "repaired")
                    }
                    Err(e) => {
                        tracing::warn!(bucket = %bucket, key = %key, error = %e, "repair failed")
                    }
                }
            }
            drop(running);
            me.repairs.busy.set(false);
        });
    }

    /// Rewrites every missing or corrupt shard of a version of a key whose
    /// drive is online. Returns the number of shards rewritten. Runs on the
    /// key's owner core. Multipart objects are not repaired yet (their reads
    /// still reconstruct).
    pub async fn repair_object(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        version: VersionSel,
    ) -> Result<u32> {
        let p = self.shared.partition_of(bucket, key);
        self.assert_owner(p);
        let _guard = self.key_locks.lock(object_key(bucket, key)).await;
        let _writing = self.begin_read();
        let Some(entry) = self.shared.indexes[p as usize].get_version(bucket, key, version)? else {
            return Ok(0);
        };
        let meta = &entry.meta;
        let DataLoc::Stripes(stripes) = &meta.data else {
            return Ok(0);
        };
        let layout = Layout {
            data: meta.layout.0,
            parity: meta.layout.1,
        };
        let (k, n) = (layout.data as usize, layout.total());
        let drives = self.shared.set.drives.len();
        let mut healed: Vec<(u32, u8, RecordLoc)> = Vec::new();
        let mut appended = Vec::new();
        let mut bytes_healed = 0u64;
        let sealed = super::sealing::layout_of(meta)?;
        let stored = super::sealing::stored_len(sealed, meta.size);
        let sd = super::sealing::stripe_data(sealed);
        for (s, locs) in stripes.iter().enumerate() {
            let (_, s_len) = stripe_range_of(stored, s as u64, sd);
            let sl = layout.shard_len(s_len);
            let mut raw: Vec<Option<Vec<u8>>> = vec![None; n];
            for (i, slot) in raw.iter_mut().enumerate() {
                let Some(loc) = locs.get(i).copied().flatten() else {
                    continue;
                };
                let want = Expect {
                    kind: Kind::Shard,
                    bucket,
                    key,
                    version: meta.version,
                    part: 0,
                    stripe: s as u32,
                    shard: Some(i as u8),
                };
                if let Ok(v) = self.read_record(p, loc, &want, true).await {
                    *slot = Some(v.record[v.payload.clone()].to_vec());
                }
            }
            let bad: Vec<usize> = (0..n)
                .filter(|&i| {
                    raw[i].is_none()
                        && self.shared.drive_writable(layout.drive_of(
                            meta.rotation as usize,
                            i,
                            drives,
                        ))
                })
                .collect();
            if bad.is_empty() || raw.iter().flatten().count() < k {
                continue;
            }
            let known: Vec<bool> = raw.iter().map(|r| r.is_some()).collect();
            self.with_codec(layout, |c| c.reconstruct(&mut raw, sl))
                .map_err(|e| super::EngineError::Internal(format!("repair: {e}")))?;
            if bad.iter().any(|&i| i >= k) {
                let data: Vec<Vec<u8>> = raw[..k]
                    .iter()
                    .map(|r| r.clone().unwrap_or_default())
                    .collect();
                let data_refs: Vec<&[u8]> = data.iter().map(|d| d.as_slice()).collect();
                let mut parity = vec![vec![0u8; sl]; n - k];
                let mut parity_refs: Vec<&mut [u8]> =
                    parity.iter_mut().map(|v| v.as_mut_slice()).collect();
                self.with_codec(layout, |c| c.encode(&data_refs, &mut parity_refs))
                    .map_err(|e| super::EngineError::Internal(format!("repair: {e}")))?;
                for (j, pshard) in parity.into_iter().enumerate() {
                    if !known[k + j] {
                        raw[k + j] = Some(pshard);
                    }
                }
            }
            for i in bad {
                let Some(payload) = raw[i].as_ref() else {
                    continue;
                };
                let header = RecordHeader {
                    format: FORMAT_VERSION,
                    kind: Kind::Shard,
                    partition: p,
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    version: meta.version,
                    part_number: 0,
                    stripe: s as u32,
                    shard: i as u8,
                    layout,
                    data_len: s_len as u64,
                    payload_len: sl as u32,
                    seq: 0,
                    payload_crc: crc32c::crc32c(payload),
                };
                let hl = FIXED_LEN + bucket.len() + key.len();
                let mut buf = AlignedBuf::pooled(hl + sl);
                header.encode_into(buf.full_mut(), self.shared.record_key);
                buf.full_mut()[hl..hl + sl].copy_from_slice(payload);
                buf.full_mut()[hl + sl..].fill(0);
                buf.set_len(align_up(hl + sl));
                let drive = layout.drive_of(meta.rotation as usize, i, drives) as u16;
                let a = self.writer.append(Class::Bulk, drive, buf).await?;
                healed.push((
                    s as u32,
                    i as u8,
                    RecordLoc {
                        drive,
                        segment: a.seg.id,
                        offset: a.offset,
                        len: a.len,
                    },
                ));
                appended.push(a);
                bytes_healed += sl as u64;
            }
        }
        for a in &appended {
            a.seg.sync_upto(a.gen).await?;
        }
        let n_healed = healed.len() as u32;
        if n_healed > 0 {
            self.apply_index(
                p,
                Mutation::Heal {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    version: meta.version,
                    shards: healed,
                },
            )
            .await?;
            self.shared
                .stats
                .repaired_shards
                .fetch_add(n_healed as u64, Ordering::Relaxed);
            self.shared
                .stats
                .repaired_bytes
                .fetch_add(bytes_healed, Ordering::Relaxed);
        }
        Ok(n_healed)
    }
}
