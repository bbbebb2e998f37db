//! Repair: brings one holder of records (a version, a tombstone, an upload,
//! a part or an upload's end; see [`Holder`]) back to full redundancy on
//! the owner core of its partition. A read that meets a missing or corrupt
//! record, a write taken while a drive was away, and the scrubber ask for
//! it. Asked-for repairs are remembered in the partition's index until
//! done, so they survive restarts; one that waits for a drive is taken up
//! again when that drive is back.
//!
//! Repair reads every record the holder keeps from the drives (never the
//! read cache), rebuilds bad shards of each stripe from the good ones
//! (reconstruct, then re-encode parity if a parity shard is bad), writes
//! missing replicated copies from a good one, syncs them, and points the
//! index at the new records.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use crate::runtime::buf::{align_up, AlignedBuf};

use super::codec;
use super::index::{object_key, Held, Holder, Mutation, RepairNote, ShardFill, StripeSet};
use super::layout::Layout;
use super::meta::RecordLoc;
use super::read::Expect;
use super::record::{Kind, RecordHeader, FIXED_LEN, FORMAT_VERSION};
use super::segment::{Appended, Class};
use super::{now_ms, CoreMsg, Engine, EngineError, Result};

/// Repairs waiting in memory per core; the rest wait in the index.
const REPAIR_QUEUE_MAX: usize = 1024;
/// A holder is not repaired again this soon after an attempt (every read
/// of a degraded object asks for its repair).
const REPAIR_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Most remembered repair attempts per core.
const REPAIR_RECENT_MAX: usize = 4096;
/// Remembered repairs looked at per partition per reload.
const RELOAD_PER_PARTITION: usize = 256;

/// A holder of records to repair: (bucket, key, holder).
type RepairId = (String, String, Holder);

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

/// What checking one holder found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checked {
    /// Records read from the drives, and their bytes per drive.
    pub records: u64,
    pub drive_bytes: Vec<u64>,
    /// Records found corrupt or missing (copies never written count too).
    pub bad: u64,
    /// Records written back.
    pub repaired: u64,
    /// Bytes of shards written back.
    pub repaired_bytes: u64,
    /// Bad records with too few good ones left to rebuild them from.
    pub lost: u64,
    /// Drives that a bad record belongs on but that cannot take it now.
    pub waiting_for: Vec<u16>,
    /// Records and bytes written back, per drive.
    pub written_records: Vec<u64>,
    pub written_bytes: Vec<u64>,
}

impl Checked {
    fn new(drives: usize) -> Checked {
        Checked {
            drive_bytes: vec![0; drives],
            written_records: vec![0; drives],
            written_bytes: vec![0; drives],
            ..Checked::default()
        }
    }

    fn read(&mut self, loc: RecordLoc) {
        self.records += 1;
        if let Some(b) = self.drive_bytes.get_mut(loc.drive as usize) {
            *b += u64::from(loc.len);
        }
    }

    fn wrote(&mut self, loc: RecordLoc) {
        let d = loc.drive as usize;
        if let (Some(r), Some(b)) = (
            self.written_records.get_mut(d),
            self.written_bytes.get_mut(d),
        ) {
            *r += 1;
            *b += u64::from(loc.len);
        }
    }

    fn wait_for(&mut self, drive: usize) {
        let d = drive as u16;
        if !self.waiting_for.contains(&d) {
            self.waiting_for.push(d);
        }
    }

    /// Nothing is left to do later: every bad record was rewritten, or is
    /// lost for good.
    fn finished(&self) -> bool {
        self.waiting_for.is_empty()
    }
}

/// What a replicated copy of `holder` must say it is.
fn copy_identity(holder: Holder) -> (Kind, Option<u128>, u32) {
    match holder {
        Holder::Object { version } => (Kind::Commit, Some(version), 0),
        // A tombstone names the version it deleted, which its key does not.
        Holder::Tombstone { .. } => (Kind::Tombstone, None, 0),
        Holder::Upload { upload } => (Kind::Upload, Some(upload), 0),
        Holder::Part { upload, number, .. } => (Kind::Part, Some(upload), number),
        Holder::Ended { upload } => (Kind::UploadEnd, Some(upload), 0),
    }
}

/// Repair's edit of the index, gathered while it works.
#[derive(Default)]
struct Edit {
    shards: Vec<ShardFill>,
    drop_copies: Vec<RecordLoc>,
    add_copies: Vec<RecordLoc>,
    appended: Vec<Appended>,
}

impl Engine {
    /// Asks the owner core of the key's partition to repair `holder`.
    pub(crate) fn queue_repair(self: &Rc<Self>, bucket: &str, key: &str, holder: Holder) {
        let owner = self.shared.owner_of(self.shared.partition_of(bucket, key));
        if owner == self.core {
            self.enqueue_repair(bucket.to_owned(), key.to_owned(), holder);
        } else {
            // Best effort: a full inbox drops the request; a later read or
            // the scrubber finds the damage again.
            let _ = self.shared.inboxes[owner].try_send(CoreMsg::Repair {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                holder,
            });
        }
    }

    /// Queues a repair on this (the owner) core and remembers it in the
    /// index until it is done.
    pub(crate) fn enqueue_repair(self: &Rc<Self>, bucket: String, key: String, holder: Holder) {
        let p = self.shared.partition_of(&bucket, &key);
        if !self.take_repair((bucket.clone(), key.clone(), holder), false) {
            return;
        }
        // Queued before the repair can finish (changes apply in queue
        // order), so its "done" cannot be overtaken.
        let note = RepairNote {
            queued_ms: now_ms(),
            waiting_for: Vec::new(),
        };
        drop(self.queue_index(p, note_repair(&bucket, &key, holder, Some(note))));
        self.start_repairs();
    }

    /// A write left `holder` short of full redundancy because drives were
    /// away: remembered, to be repaired once one of them is back.
    pub(crate) fn note_degraded(self: &Rc<Self>, bucket: &str, key: &str, holder: Holder) {
        let p = self.shared.partition_of(bucket, key);
        let waiting_for = (0..self.shared.set.drives.len())
            .filter(|&d| !self.shared.drive_writable(d))
            .map(|d| d as u16)
            .collect();
        let note = RepairNote {
            queued_ms: now_ms(),
            waiting_for,
        };
        drop(self.queue_index(p, note_repair(bucket, key, holder, Some(note))));
    }

    /// Whether a holder written with `copies` and shard `slots` is short of
    /// full redundancy: fewer than m+1 copies, or a shard not written.
    pub(crate) fn short_of_redundancy<'a>(
        &self,
        copies: &[RecordLoc],
        mut slots: impl Iterator<Item = &'a Option<RecordLoc>>,
    ) -> bool {
        let want = (usize::from(self.shared.layout.parity) + 1).min(self.shared.set.drives.len());
        copies.len() < want || slots.any(|s| s.is_none())
    }

    /// Puts a repair in the in-memory queue unless it was tried lately
    /// (`force` ignores that) or the queue is full.
    fn take_repair(&self, id: RepairId, force: bool) -> bool {
        let mut recent = self.repairs.recent.borrow_mut();
        if !force
            && recent
                .get(&id)
                .is_some_and(|t| t.elapsed() < REPAIR_RETRY_AFTER)
        {
            return false;
        }
        let mut q = self.repairs.pending.borrow_mut();
        if q.len() >= REPAIR_QUEUE_MAX || q.contains(&id) {
            return false;
        }
        if recent.len() >= REPAIR_RECENT_MAX {
            recent.retain(|_, t| t.elapsed() < REPAIR_RETRY_AFTER);
            if recent.len() >= REPAIR_RECENT_MAX {
                return false;
            }
        }
        recent.insert(id.clone(), Instant::now());
        q.push_back(id);
        self.shared
            .background
            .repair_queued
            .fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Takes remembered repairs of this core's partitions into the queue:
    /// those waiting for nothing, or for a drive that is back. `drive_back`
    /// also retries those tried within the last minute.
    pub(crate) fn reload_repairs(self: &Rc<Self>, drive_back: bool) {
        if drive_back {
            self.repairs.recent.borrow_mut().clear();
        }
        for p in (0..self.shared.partitions).filter(|&p| self.shared.owner_of(p) == self.core) {
            let notes = match self.shared.indexes[p as usize].repairs(RELOAD_PER_PARTITION) {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(partition = p, error = %e, "cannot read remembered repairs");
                    continue;
                }
            };
            for (bucket, key, holder, note) in notes {
                let due = note.waiting_for.is_empty()
                    || note
                        .waiting_for
                        .iter()
                        .any(|&d| self.shared.drive_writable(d as usize));
                if due && !self.take_repair((bucket, key, holder), false) {
                    break;
                }
            }
        }
        self.start_repairs();
    }

    /// Drains this core's repair queue in a task of its own, unless one is
    /// draining it or repair is paused (a pause takes effect between
    /// holders; the queue is kept for the resume).
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
            // holder is taken once per REPAIR_RETRY_AFTER.
            while !bg.repair.paused() {
                let next = me.repairs.pending.borrow_mut().pop_front();
                let Some((bucket, key, holder)) = next else {
                    break;
                };
                bg.repair_queued.fetch_sub(1, Ordering::Relaxed);
                let r = me.run_repair(&bucket, &key, holder).await;
                me.background_ended(
                    super::background::Work::Repair,
                    r.as_ref().err().map(|e| format!("{bucket}/{key}: {e}")),
                );
            }
            drop(running);
            me.repairs.busy.set(false);
        });
    }

    /// One queued repair: done, or remembered with what it waits for.
    async fn run_repair(self: &Rc<Self>, bucket: &str, key: &str, holder: Holder) -> Result<()> {
        let st = &self.shared.stats;
        st.repair_runs.fetch_add(1, Ordering::Relaxed);
        let r = self.repair_holder(bucket, key, holder, None, false).await;
        let note = match &r {
            Ok(c) if c.finished() => None,
            Ok(c) => Some(c.waiting_for.clone()),
            // Tried again at a later look.
            Err(_) => Some(Vec::new()),
        };
        let p = self.shared.partition_of(bucket, key);
        let note = note.map(|waiting_for| RepairNote {
            queued_ms: now_ms(),
            waiting_for,
        });
        drop(self.queue_index(p, note_repair(bucket, key, holder, note)));
        match r {
            Ok(c) => {
                if c.repaired > 0 {
                    tracing::info!(bucket, key, ?holder, records = c.repaired, "repaired");
                }
                Ok(())
            }
            Err(e) => {
                st.repair_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(bucket, key, ?holder, error = %e, "repair failed");
                Err(e)
            }
        }
    }

    /// Reads every record `holder` keeps, rewrites those missing or corrupt
    /// where their drive can take them, and says what it found and did.
    /// Runs on the key's owner core, under the key's lock.
    ///
    /// `suspect` (healing): only shards on these drives, or never written,
    /// are checked; a stripe with none is not read at all, and one with
    /// some reads only enough of the others to rebuild them (the others are
    /// taken for good: the scrubber checks them). Replicated copies are
    /// small and always all read.
    ///
    /// `quiet`: the node has no clients, so stripes are rebuilt whole;
    /// otherwise in pieces (`REBUILD_PIECE`), which costs more CPU in all
    /// but never holds a client's CPU for long.
    pub async fn repair_holder(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        holder: Holder,
        suspect: Option<&[u16]>,
        quiet: bool,
    ) -> Result<Checked> {
        let p = self.shared.partition_of(bucket, key);
        self.assert_owner(p);
        let _guard = self.key_locks.lock(object_key(bucket, key)).await;
        let _writing = self.begin_read();
        let mut c = Checked::new(self.shared.set.drives.len());
        let Some(held) = self.shared.indexes[p as usize].held(bucket, key, holder)? else {
            return Ok(c);
        };
        let mut edit = Edit::default();
        self.check_copies(p, bucket, key, holder, &held, &mut c, &mut edit)
            .await?;
        for (i, set) in held.sets.iter().enumerate() {
            self.check_stripes(
                p, bucket, key, i as u32, set, suspect, quiet, &mut c, &mut edit,
            )
            .await?;
        }
        for a in &edit.appended {
            a.seg.sync_upto(a.gen).await?;
        }
        if !(edit.shards.is_empty() && edit.drop_copies.is_empty() && edit.add_copies.is_empty()) {
            self.apply_index(
                p,
                Mutation::Heal {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    holder,
                    shards: edit.shards,
                    drop_copies: edit.drop_copies,
                    add_copies: edit.add_copies,
                },
            )
            .await?;
        }
        let st = &self.shared.stats;
        st.repaired_shards.fetch_add(c.repaired, Ordering::Relaxed);
        st.repaired_bytes
            .fetch_add(c.repaired_bytes, Ordering::Relaxed);
        if c.lost > 0 {
            st.repair_lost.fetch_add(c.lost, Ordering::Relaxed);
            tracing::error!(
                bucket,
                key,
                ?holder,
                records = c.lost,
                "records lost: too few good copies or shards left to rebuild them"
            );
        }
        Ok(c)
    }

    /// The replicated copies of the holder's record: bad ones are dropped
    /// and, while a good one is left, new copies fill the holder up to m+1
    /// on drives that hold none.
    #[allow(clippy::too_many_arguments)]
    async fn check_copies(
        self: &Rc<Self>,
        p: u16,
        bucket: &str,
        key: &str,
        holder: Holder,
        held: &Held,
        c: &mut Checked,
        edit: &mut Edit,
    ) -> Result<()> {
        let drives = self.shared.set.drives.len();
        let want = (usize::from(self.shared.layout.parity) + 1).min(drives);
        let (kind, version, part) = copy_identity(holder);
        let mut good: Option<(RecordHeader, AlignedBuf)> = None;
        let mut holding: Vec<usize> = Vec::new();
        let mut numbers: Vec<u8> = Vec::new();
        let mut bad = Vec::new();
        for &loc in &held.copies {
            match self.read_raw(loc).await {
                Ok(buf) => {
                    c.read(loc);
                    let h = RecordHeader::decode(buf.as_slice(), self.shared.record_key)
                        .ok()
                        .filter(|h| {
                            h.kind == kind
                                && h.partition == p
                                && h.bucket == bucket
                                && h.key == key
                                && version.is_none_or(|v| v == h.version)
                                && h.part_number == part
                                && h.payload(buf.as_slice()).is_ok()
                        });
                    match h {
                        Some(h) => {
                            holding.push(loc.drive as usize);
                            numbers.push(h.shard);
                            good.get_or_insert((h, buf));
                        }
                        None => {
                            self.note_fail(&self.unexpected(buf.as_slice(), loc));
                            bad.push(loc);
                        }
                    }
                }
                Err(f) => {
                    self.note_fail(&f);
                    if self.shared.drive_online(loc.drive as usize) {
                        bad.push(loc);
                    } else {
                        // Unknown until the drive is back: kept, and no new
                        // copy takes its drive's place.
                        holding.push(loc.drive as usize);
                        c.wait_for(loc.drive as usize);
                    }
                }
            }
        }
        let never_written = want.saturating_sub(held.copies.len());
        c.bad += (bad.len() + never_written) as u64;
        let Some((header, record)) = good else {
            c.lost += bad.len() as u64;
            return Ok(());
        };
        edit.drop_copies.extend(&bad);
        let have = holding.len();
        if have >= want {
            return Ok(());
        }
        let payload = &record.as_slice()
            [header.header_len()..header.header_len() + header.payload_len as usize];
        let start = usize::from(held.rotation);
        let targets: Vec<usize> = (0..drives)
            .map(|i| (start + i) % drives)
            .filter(|d| !holding.contains(d))
            .collect();
        let mut missing = want - have;
        for d in targets {
            if missing == 0 {
                break;
            }
            if !self.shared.drive_online(d) {
                c.wait_for(d);
                continue;
            }
            let number = (0..=u8::MAX)
                .find(|n| !numbers.contains(n))
                .unwrap_or(u8::MAX);
            match self
                .write_copy(&header, payload, usize::from(number), d)
                .await
            {
                Ok(loc) => {
                    numbers.push(number);
                    c.wrote(loc);
                    edit.add_copies.push(loc);
                    c.repaired += 1;
                    missing -= 1;
                }
                Err(e) => {
                    tracing::warn!(bucket, key, drive = d, error = %e, "repair could not write a copy");
                    c.wait_for(d);
                }
            }
        }
        Ok(())
    }

    /// The shards of every stripe of one stripe set: bad ones are rebuilt
    /// from k good ones and written to their drives.
    #[allow(clippy::too_many_arguments)]
    async fn check_stripes(
        self: &Rc<Self>,
        p: u16,
        bucket: &str,
        key: &str,
        set_no: u32,
        set: &StripeSet,
        suspect: Option<&[u16]>,
        quiet: bool,
        c: &mut Checked,
        edit: &mut Edit,
    ) -> Result<()> {
        let layout = Layout {
            data: set.layout.0,
            parity: set.layout.1,
        };
        let (k, n) = (usize::from(layout.data), layout.total());
        for (s, locs) in set.stripes.iter().enumerate() {
            let mut raw: Vec<Option<Vec<u8>>> = vec![None; n];
            let mut data_len = None;
            let mut bad: Vec<usize> = Vec::new();
            let mut unknown = false;
            let slot_of = |i: usize| locs.get(i).copied().flatten();
            let suspected = |i: usize| {
                suspect.is_none_or(|ds| slot_of(i).is_none_or(|l| ds.contains(&l.drive)))
            };
            if !(0..n).any(suspected) {
                continue;
            }
            // The suspects first, all at once; then, if one is bad, as many
            // of the others (data shards first) as k good ones still need,
            // at once: a heal's reads keep every drive busy.
            let mut round: Vec<usize> = (0..n).filter(|&i| suspected(i)).collect();
            let mut others = (0..n).filter(|&i| !suspected(i));
            while !round.is_empty() {
                let reads = round.iter().map(|&i| async move {
                    match slot_of(i) {
                        Some(loc) => (i, Some((loc, self.read_raw(loc).await))),
                        None => (i, None),
                    }
                });
                for (i, read) in join_all(reads).await {
                    let Some((loc, read)) = read else {
                        bad.push(i);
                        continue;
                    };
                    let want = Expect {
                        kind: Kind::Shard,
                        bucket,
                        key,
                        version: set.version,
                        part: set.part,
                        stripe: s as u32,
                        shard: Some(i as u8),
                    };
                    match read {
                        Ok(buf) => {
                            c.read(loc);
                            let h = self
                                .expected_header(buf.as_slice(), p, &want)
                                .filter(|h| h.payload(buf.as_slice()).is_ok());
                            match h {
                                Some(h) => {
                                    data_len = Some(h.data_len);
                                    let at = h.header_len();
                                    raw[i] = Some(
                                        buf.as_slice()[at..at + h.payload_len as usize].to_vec(),
                                    );
                                }
                                None => {
                                    self.note_fail(&self.unexpected(buf.as_slice(), loc));
                                    bad.push(i);
                                }
                            }
                        }
                        Err(f) => {
                            self.note_fail(&f);
                            if self.shared.drive_online(loc.drive as usize) {
                                bad.push(i);
                            } else {
                                unknown = true;
                                c.wait_for(loc.drive as usize);
                            }
                        }
                    }
                }
                let good = raw.iter().flatten().count();
                if bad.is_empty() || good >= k {
                    break;
                }
                round = others.by_ref().take(k - good).collect();
            }
            c.bad += bad.len() as u64;
            if bad.is_empty() {
                continue;
            }
            let good = raw.iter().flatten().count();
            let Some(data_len) = data_len.filter(|_| good >= k) else {
                if !unknown {
                    c.lost += bad.len() as u64;
                }
                continue;
            };
            let sl = layout.shard_len(data_len as usize);
            if raw.iter().flatten().any(|r| r.len() != sl) {
                return Err(EngineError::Internal(format!(
                    "repair: shards of {bucket}/{key} stripe {s} disagree on their length"
                )));
            }
            let members = self
                .shared
                .classes
                .members_for(set.class.as_deref(), layout);
            let drive_of =
                |i: usize| members[layout.drive_of(usize::from(set.rotation), i, members.len())];
            let (now, later): (Vec<usize>, Vec<usize>) = bad
                .into_iter()
                .partition(|&i| self.shared.drive_writable(drive_of(i)));
            for &i in &later {
                c.wait_for(drive_of(i));
            }
            if now.is_empty() {
                continue;
            }
            let parity = now.iter().any(|&i| i >= k);
            raw = self
                .background_cpu
                .run(move || {
                    let r = if quiet {
                        codec::rebuild_stripe(layout, &mut raw, sl, parity)
                    } else {
                        codec::rebuild_stripe_in_pieces(
                            layout,
                            &mut raw,
                            sl,
                            parity,
                            REBUILD_PIECE,
                            std::thread::yield_now,
                        )
                    };
                    r.map(|()| raw)
                })
                .await
                .map_err(|e| EngineError::Internal(format!("repair: {e}")))?
                .map_err(|e| EngineError::Internal(format!("repair: {e}")))?;
            for i in now {
                let Some(payload) = raw[i].as_deref() else {
                    continue;
                };
                let header = RecordHeader {
                    format: FORMAT_VERSION,
                    kind: Kind::Shard,
                    partition: p,
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    version: set.version,
                    part_number: set.part,
                    stripe: s as u32,
                    shard: i as u8,
                    layout,
                    data_len,
                    payload_len: sl as u32,
                    seq: set.data_gen,
                    payload_crc: crc32c::crc32c(payload),
                };
                let hl = FIXED_LEN + bucket.len() + key.len();
                let mut buf = AlignedBuf::pooled(hl + sl);
                header.encode_into(buf.full_mut(), self.shared.record_key);
                buf.full_mut()[hl..hl + sl].copy_from_slice(payload);
                buf.full_mut()[hl + sl..].fill(0);
                buf.set_len(align_up(hl + sl));
                let drive = drive_of(i);
                let a = match self.writer.append(Class::Bulk, drive as u16, buf).await {
                    Ok(a) => a,
                    Err(e) => {
                        self.shared.write_failed(drive, &e);
                        c.wait_for(drive);
                        continue;
                    }
                };
                let loc = RecordLoc {
                    drive: drive as u16,
                    segment: a.seg.id,
                    offset: a.offset,
                    len: a.len,
                };
                c.wrote(loc);
                edit.shards.push(ShardFill {
                    set: set_no,
                    stripe: s as u32,
                    shard: i as u8,
                    old: locs.get(i).copied().flatten(),
                    loc,
                });
                edit.appended.push(a);
                c.repaired += 1;
                c.repaired_bytes += sl as u64;
            }
        }
        Ok(())
    }
}

/// Shard bytes the background thread rebuilds between two yields of its
/// CPU while clients are served: a request whose CPU it holds waits for one
/// piece, not a whole stripe. Each piece pays reed-solomon-simd's fixed
/// cost per decode (about 0.2 ms), so a stripe in pieces takes 3.3 times
/// the CPU (benches/codec.rs `rebuild`), which a quiet node does not pay.
/// Measured (perf/heal.sh, 2026-12-06) at the default rate with a client
/// filling both CPUs: whole stripes, client p99 +31%; pieces, +18% over
/// twelve rounds (docs/PERFORMANCE.md).
const REBUILD_PIECE: usize = 32 << 10;

fn note_repair(bucket: &str, key: &str, holder: Holder, note: Option<RepairNote>) -> Mutation {
    Mutation::NoteRepair {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        holder,
        note,
    }
}
