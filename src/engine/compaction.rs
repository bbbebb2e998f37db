//! Compaction: reclaims the space of dead records (overwritten, deleted, or
//! never committed because of a crash). The core that wrote a sealed segment
//! copies its live records to its active segments, switches the index entries
//! to the copies (only if the key has not changed meanwhile), and removes the
//! old segment once every read that could still use it has finished.
//! What refers to a segment comes from each index's reverse map.
//!
//! After a pass, tombstones of versions deleted by id are forgotten once no
//! commit record of their version is left on any drive (a rebuild could no
//! longer bring the version back); their own records are then dead and a
//! later pass reclaims them.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::atomic::Ordering;

use futures_util::future::join_all;

use crate::runtime::buf::AlignedBuf;

use super::index::{Mutation, SegmentId, SegmentRef};
use super::meta::RecordLoc;
use super::record::{Kind, RecordError, RecordHeader};
use super::segment::{
    core_of_stream, list_segments, segment_path, stream_of_segment, Appended, Class,
};
use super::{Engine, EngineError, Result};
use crate::notify::mark::may_hold_undelivered;

/// Segments smaller than this are left alone unless entirely dead.
const MIN_SEGMENT_BYTES: u64 = 1 << 20;
/// Tombstones forgotten per partition per pass: bounds one pass's work.
const FORGET_BATCH: usize = 1024;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CompactionReport {
    pub segments_removed: u64,
    pub bytes_moved: u64,
    pub bytes_reclaimed: u64,
    pub corrupt_dropped: u64,
    /// Tombstones of deleted versions forgotten (no commit record of the
    /// version left on any drive).
    pub tombstones_forgotten: u64,
}

impl Engine {
    /// Whether this core compacts a segment: its own streams, and streams no
    /// core of this run writes (left by a run with more cores), shared out.
    fn compacts_stream(&self, stream: u32) -> bool {
        let writer = core_of_stream(stream);
        writer == self.core
            || (writer >= self.shared.cores && writer % self.shared.cores == self.core)
    }

    /// Every holder of records (object, tombstone, upload, part), of any
    /// partition, with a record in
    /// (drive, segment). Blocking reads on the companion thread.
    async fn refs_in_segment(&self, d: u16, id: u32) -> Result<Vec<(u16, SegmentRef)>> {
        let shared = self.shared.clone();
        self.companion
            .run(move || -> Result<Vec<(u16, SegmentRef)>> {
                let mut out = Vec::new();
                for idx in &shared.indexes {
                    out.extend(
                        idx.refs_in_segment(d, id)?
                            .into_iter()
                            .map(|r| (idx.partition, r)),
                    );
                }
                Ok(out)
            })
            .await?
    }

    /// Compacts every sealed segment this core is responsible for whose dead
    /// fraction is at least `min_dead`, waiting for older reads before each
    /// removal. Counted in the node's metrics.
    pub async fn compact(self: &Rc<Self>, min_dead: f64) -> Result<CompactionReport> {
        let r = self.compact_sealed(min_dead).await;
        let st = &self.shared.stats;
        st.compaction_runs.fetch_add(1, Ordering::Relaxed);
        match &r {
            Ok(rep) => {
                st.compaction_segments_removed
                    .fetch_add(rep.segments_removed, Ordering::Relaxed);
                st.compaction_bytes_reclaimed
                    .fetch_add(rep.bytes_reclaimed, Ordering::Relaxed);
                st.compaction_bytes_moved
                    .fetch_add(rep.bytes_moved, Ordering::Relaxed);
            }
            Err(_) => {
                st.compaction_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.background_ended(
            super::background::Work::Compaction,
            r.as_ref().err().map(ToString::to_string),
        );
        r
    }

    async fn compact_sealed(self: &Rc<Self>, min_dead: f64) -> Result<CompactionReport> {
        let mut report = self.compact_segments(min_dead).await?;
        report.tombstones_forgotten = self.forget_tombstones().await?;
        Ok(report)
    }

    /// The segments of every drive, as sets; None for an offline drive
    /// (everything on it may still be there). Blocking.
    fn segments_present(shared: &super::Shared) -> Result<Vec<Option<HashSet<u32>>>> {
        (0..shared.set.drives.len())
            .map(|d| {
                if !shared.drive_online(d) {
                    return Ok(None);
                }
                let ids = list_segments(&shared.set.drives[d].path)?;
                Ok(Some(ids.into_iter().collect()))
            })
            .collect()
    }

    /// Forgets the by-id tombstones of this core's partitions whose version
    /// has no commit record left: every segment that may hold one is gone
    /// from its drive. Returns how many.
    async fn forget_tombstones(self: &Rc<Self>) -> Result<u64> {
        let shared = self.shared.clone();
        let core = self.core;
        let found = self
            .companion
            .run(move || -> Result<Vec<(u16, Mutation)>> {
                let gone = |present: &[Option<HashSet<u32>>], (d, id): SegmentId| {
                    present
                        .get(d as usize)
                        .is_some_and(|p| p.as_ref().is_some_and(|p| !p.contains(&id)))
                };
                let before = Self::segments_present(&shared)?;
                let mut found = Vec::new();
                for idx in &shared.indexes {
                    if shared.owner_of(idx.partition) != core {
                        continue;
                    }
                    let cands = idx.forgettable_tombstones(|s| !gone(&before, s), FORGET_BATCH)?;
                    found.extend(cands.into_iter().map(|(bucket, key, version, segs)| {
                        (idx.partition, bucket, key, version, segs)
                    }));
                }
                // A segment missing from a listing taken before its row was
                // read may not have existed yet: only one missing from a
                // listing taken after is known to be removed.
                let after = Self::segments_present(&shared)?;
                Ok(found
                    .into_iter()
                    .filter(|(.., segs)| segs.iter().all(|&s| gone(&after, s)))
                    .map(|(p, bucket, key, version, gone)| {
                        (
                            p,
                            Mutation::ForgetTombstone {
                                bucket,
                                key,
                                version,
                                gone,
                            },
                        )
                    })
                    .collect())
            })
            .await??;
        let n = found.len() as u64;
        for (p, m) in found {
            self.apply_index(p, m).await?;
        }
        Ok(n)
    }

    async fn compact_segments(self: &Rc<Self>, min_dead: f64) -> Result<CompactionReport> {
        let mut report = CompactionReport::default();
        let mut sealed = Vec::new();
        // A segment written since the notification delivery mark may hold
        // the record of an event not yet delivered, which an index rebuilt
        // after a power loss would need: it stays (notify/mark.rs).
        let mark = self
            .companion
            .run(crate::notify::deliver::undelivered_since)
            .await?;
        for d in self.shared.online_drives() {
            let root = self.shared.set.drives[d].path.clone();
            let segs = self
                .companion
                .run(move || -> std::io::Result<Vec<(u32, u64, u64)>> {
                    let mut out = Vec::new();
                    for id in list_segments(&root)? {
                        let m = std::fs::metadata(segment_path(&root, id))?;
                        let modified_ms = m
                            .modified()
                            .ok()
                            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                            .map_or(u64::MAX, |d| d.as_millis() as u64);
                        out.push((id, m.len(), modified_ms));
                    }
                    Ok(out)
                })
                .await??;
            for (id, size, modified_ms) in segs {
                if mark.is_some_and(|mark| may_hold_undelivered(modified_ms, mark)) {
                    continue;
                }
                if self.compacts_stream(stream_of_segment(id))
                    && self.writer.is_sealed(d as u16, id, self.shared.cores)
                {
                    sealed.push((d as u16, id, size));
                }
            }
        }
        if sealed.is_empty() {
            return Ok(report);
        }
        // Writes register like reads: once those that began before this
        // point are done, no record still on its way to a sealed segment can
        // be mistaken for a dead one.
        self.shared.wait_for_older_reads().await;
        let shared = self.shared.clone();
        let live: HashMap<(u16, u32), u64> = self
            .companion
            .run(move || -> Result<HashMap<(u16, u32), u64>> {
                let mut live = HashMap::new();
                for idx in &shared.indexes {
                    for (seg, bytes) in idx.segment_live()? {
                        *live.entry(seg).or_insert(0) += bytes;
                    }
                }
                Ok(live)
            })
            .await??;
        for (d, id, size) in sealed {
            // A pause takes effect between segments: at most one segment's
            // live records are moved after it.
            if self.shared.background.compaction.paused() {
                break;
            }
            let live_bytes = live.get(&(d, id)).copied().unwrap_or(0);
            let dead = 1.0 - live_bytes as f64 / size.max(1) as f64;
            if (live_bytes > 0 && size < MIN_SEGMENT_BYTES) || dead < min_dead {
                continue;
            }
            // Copies take space before the old segment gives it back: on a
            // drive short of space, only segments whose live records fit
            // well within what is left (the reserve included).
            if live_bytes > self.shared.space.free(d as usize) / 2 {
                continue;
            }
            if self.compact_segment(d, id, &mut report).await? {
                report.segments_removed += 1;
                report.bytes_reclaimed += size;
            }
        }
        Ok(report)
    }

    /// Moves the live records out of one segment and removes it. Returns
    /// whether it was removed.
    async fn compact_segment(
        self: &Rc<Self>,
        d: u16,
        id: u32,
        report: &mut CompactionReport,
    ) -> Result<bool> {
        for (p, r) in self.refs_in_segment(d, id).await? {
            // Only the owner core may change a partition's index; another
            // core's records keep the segment until that core moves them.
            if self.shared.owner_of(p) != self.core {
                continue;
            }
            let SegmentRef {
                bucket,
                key,
                holder,
                records,
            } = r;
            let locs: Vec<RecordLoc> = records
                .into_iter()
                .filter(|l| l.drive == d && l.segment == id)
                .collect();
            // Writers of this key wait: the index switch must not race a commit.
            let _guard = self
                .key_locks
                .lock(super::index::object_key(&bucket, &key))
                .await;
            let copies = join_all(locs.iter().map(|&loc| self.copy_record(loc))).await;
            let mut moves = Vec::with_capacity(locs.len());
            let mut appended: Vec<Appended> = Vec::new();
            for (loc, c) in locs.iter().zip(copies) {
                match c? {
                    Some(a) => {
                        report.bytes_moved += a.len as u64;
                        moves.push((
                            *loc,
                            Some(RecordLoc {
                                drive: d,
                                segment: a.seg.id,
                                offset: a.offset,
                                len: a.len,
                            }),
                        ));
                        appended.push(a);
                    }
                    None => {
                        report.corrupt_dropped += 1;
                        moves.push((*loc, None));
                    }
                }
            }
            for a in &appended {
                a.seg.sync_upto(a.gen).await?;
            }
            self.apply_index(
                p,
                Mutation::Relocate {
                    bucket,
                    key,
                    holder,
                    moves,
                },
            )
            .await?;
        }
        if !self.refs_in_segment(d, id).await?.is_empty() {
            return Ok(false);
        }
        self.shared.wait_for_older_reads().await;
        let root = self.shared.set.drives[d as usize].path.clone();
        let shared = self.shared.clone();
        self.companion
            .run(move || -> Result<()> {
                let path = segment_path(&root, id);
                std::fs::remove_file(&path)?;
                if let Some(dir) = path.parent() {
                    crate::runtime::file::sync_dir(dir)?;
                }
                for idx in &shared.indexes {
                    idx.drop_segment(d, id)?;
                }
                Ok(())
            })
            .await??;
        self.reads.forget(d, id);
        self.shared
            .segments_removed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(true)
    }

    /// Copies one record to this core's stream of its class on the same
    /// drive. Ok(None): the record is corrupt and is dropped (redundancy
    /// covers it). A record of a newer format is not corrupt: the segment
    /// is left as it is.
    async fn copy_record(self: &Rc<Self>, loc: RecordLoc) -> Result<Option<Appended>> {
        let file = self.reads.get(loc.drive, loc.segment).await?;
        let buf = AlignedBuf::zeroed(loc.len as usize);
        let (res, buf) = file.read_exact_at(buf, loc.offset).await;
        res?;
        let class = match RecordHeader::decode(buf.as_slice(), self.shared.record_key) {
            Ok(h) if h.record_len() == loc.len as usize && h.payload(buf.as_slice()).is_ok() => {
                if h.kind == Kind::Shard {
                    Class::Bulk
                } else {
                    Class::Small
                }
            }
            Err(RecordError::Newer(n)) => {
                return Err(EngineError::Internal(format!(
                    "compaction of drive {} segment {:08x} stopped at offset {}: {n}",
                    loc.drive, loc.segment, loc.offset
                )))
            }
            _ => {
                self.shared
                    .stats
                    .corrupt_records
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::error!(
                    drive = loc.drive,
                    segment = loc.segment,
                    offset = loc.offset,
                    "corrupt record dropped by compaction"
                );
                return Ok(None);
            }
        };
        Ok(Some(self.writer.append(class, loc.drive, buf).await?))
    }
}
