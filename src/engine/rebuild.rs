//! Rebuilding a partition's index from the records on the drives alone.
//!
//! Every commit and tombstone record carries its key and a sequence number.
//! Per key the records are replayed in sequence order, as the index applied
//! them: a commit adds a version (a null one replaces the null version) or,
//! for a version already there, replaces its metadata (a retag); a tombstone
//! removes the null version or one version. Survivors keep their place in
//! the key's history (the sequence number in their metadata); the newest is
//! the latest. Commit records are written only after their shards are
//! durable, so one whose stripes are short of k shards is still the answer
//! (its drives are missing or rotten) and is reported. Runs at start-up
//! (blocking, before the executors) or from `cairn repair --rebuild-index`.
//!
//! Multipart uploads come back in progress unless an upload-end record or a
//! commit of the completed object says they ended; each part number takes
//! its newest part record.
//!
//! A record of a format newer than this binary reads stops the rebuild with
//! that error (and start-up with it): rebuilding without it would forget
//! what it holds, and the next rebuild by the right binary could not tell.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, SyncSender};

use super::index::{Mutation, PartitionIndex};
use super::meta::{
    decode_commit_parts, decode_part_payload, decode_upload_payload, DataLoc, IndexEntry,
    ObjectMeta, PartEntry, PartMeta, RecordLoc, Stripes, UploadEntry, UploadMeta, VersionSel,
};
use super::outbox::{decode_events, Queued};
use super::record::{Kind, RecordError, RecordHeader};
use super::segment::{list_segments, segment_path};
use crate::notify::event::EventRow;
use crate::runtime::buf::AlignedBuf;

const BLOCK: u64 = 4096;
/// Index mutations per write transaction while rebuilding.
const APPLY_BATCH: usize = 1000;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RebuildStats {
    pub records: u64,
    /// Versions brought back (latest and noncurrent).
    pub objects: u64,
    pub deleted: u64,
    /// Versions with a stripe short of k shards on the drives read.
    pub incomplete: u64,
    pub corrupt_blocks: u64,
    /// Notification events put back in the outbox (not yet delivered when
    /// the index was lost).
    pub events: u64,
}

/// Events restored per partition: the newest this many of each, which
/// bounds a rebuild's memory when the delivery mark was lost (every event
/// still in a record then counts as undelivered).
const RESTORED_MAX: usize = 100_000;

/// The events found in records, per partition, by target and sequence
/// number (a record has copies on several drives).
#[derive(Default)]
struct Restored {
    by_partition: HashMap<u16, BTreeMap<(String, u64), EventRow>>,
}

impl Restored {
    /// Keeps the events of `encoded` made at `from_ms` or later: older ones
    /// were delivered before the index was lost.
    fn add(&mut self, partition: u16, encoded: &[u8], from_ms: u64) {
        if encoded.is_empty() {
            return;
        }
        let Some(events) = decode_events(encoded) else {
            tracing::warn!(
                partition,
                "a record's notification events do not decode: not restored"
            );
            return;
        };
        let rows = self.by_partition.entry(partition).or_default();
        for q in events.into_iter().filter(|q| q.row.time_ms >= from_ms) {
            rows.insert((q.target, q.row.seq), q.row);
            if rows.len() > RESTORED_MAX {
                rows.pop_first();
            }
        }
    }
}

enum Candidate {
    Commit(Box<ObjectMeta>, RecordLoc),
    Tombstone(VersionSel),
}

/// The payload of a tombstone record: empty for a delete of the null
/// version, the version id for a delete of one version; from format 4
/// followed by the change's encoded notification events and their u32
/// length, when it has any. Encoded events are longer than 12 bytes, so a
/// payload of 0 or 16 bytes never has events.
pub fn encode_tombstone(target: VersionSel, events: &[u8]) -> Vec<u8> {
    let mut out = match target {
        VersionSel::Null => Vec::new(),
        VersionSel::Id(v) => v.to_be_bytes().to_vec(),
    };
    if !events.is_empty() {
        assert!(events.len() > 12, "encoded events are never this short");
        out.extend_from_slice(events);
        out.extend_from_slice(&(events.len() as u32).to_le_bytes());
    }
    out
}

/// The inverse of [`encode_tombstone`]: the deleted version and the encoded
/// events (empty when none).
pub fn decode_tombstone(p: &[u8]) -> Option<(VersionSel, &[u8])> {
    let (target, events) = match p.len() {
        0 | 16 => (p, &[][..]),
        n if n > 16 => {
            let len = u32::from_le_bytes(p[n - 4..].try_into().ok()?) as usize;
            let start = (n - 4).checked_sub(len)?;
            (&p[..start], &p[start..n - 4])
        }
        _ => return None,
    };
    let target = match target.len() {
        0 => VersionSel::Null,
        16 => VersionSel::Id(u128::from_be_bytes(target.try_into().ok()?)),
        _ => return None,
    };
    Some((target, events))
}

/// A record found by a scan: its header, where it is, and the whole record
/// for commits and tombstones.
type Scanned = (RecordHeader, RecordLoc, Option<Vec<u8>>);

/// Per (partition, bucket, key): sequence number -> the candidate and every copy's location.
type Candidates = HashMap<(u16, String, String), HashMap<u64, (Candidate, Vec<RecordLoc>)>>;

/// (partition, bucket, key, upload id).
type UploadId = (u16, String, String, u128);

/// What the scan found of multipart uploads.
#[derive(Default)]
struct Uploads {
    begun: HashMap<UploadId, (UploadMeta, Vec<RecordLoc>)>,
    /// Per upload and part number, the newest part record and its copies.
    parts: HashMap<UploadId, HashMap<u32, (PartMeta, Vec<RecordLoc>)>>,
    /// Upload end records: end time and copies.
    ended: HashMap<UploadId, (u64, Vec<RecordLoc>)>,
    /// Uploads a commit record completed (their end record may be gone).
    completed: std::collections::HashSet<UploadId>,
}

/// The payload of an upload end record: when it ended.
pub fn encode_upload_end(ended_ms: u64) -> [u8; 8] {
    ended_ms.to_le_bytes()
}

/// The inverse of [`encode_upload_end`] (the same in every record format).
pub fn decode_upload_end(p: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(p.try_into().ok()?))
}

/// Bytes read at a time where records follow one another (one read per
/// 4 KiB block would be a system call each).
const SCAN_CHUNK: usize = 1 << 20;
/// A drive's scanner hands the merge its records in batches of at most
/// this many records or bytes of record bodies, with at most `SCAN_QUEUE`
/// batches waiting per drive: memory stays bounded however full the drives.
const SCAN_BATCH_RECORDS: usize = 1024;
const SCAN_BATCH_BYTES: usize = 8 << 20;
const SCAN_QUEUE: usize = 4;

/// What a drive's scanner sends: records of the wanted partitions and the
/// corrupt blocks seen since its last batch.
type ScanBatch = Result<(Vec<Scanned>, u64), String>;

/// One segment's records, in order, each given to `found`; returns how many
/// blocks were corrupt.
fn scan_segment(
    key: u32,
    file: &File,
    drive: u16,
    segment: u32,
    found: &mut impl FnMut(Scanned) -> std::io::Result<()>,
) -> std::io::Result<u64> {
    let len = file.metadata()?.len();
    let mut corrupt = 0;
    let mut pos = 0u64;
    // The bytes `[start, start + filled)` of the file.
    let mut buf = AlignedBuf::zeroed(SCAN_CHUNK);
    let (mut start, mut filled) = (0u64, 0usize);
    while pos + BLOCK <= len {
        let end = start + filled as u64;
        if pos + BLOCK > end {
            // Past a shard that was skipped, only the next header: reading
            // ahead there would read the shards of large objects too.
            let want = if pos == end { SCAN_CHUNK as u64 } else { BLOCK };
            // Whole blocks only (direct reads); a torn tail is no record.
            filled = want.min((len - pos) / BLOCK * BLOCK) as usize;
            file.read_exact_at(&mut buf.as_mut_slice()[..filled], pos)?;
            start = pos;
        }
        let window = buf.as_slice();
        let off = (pos - start) as usize;
        match RecordHeader::decode(&window[off..off + BLOCK as usize], key) {
            Ok(h) => {
                let rl = h.record_len() as u64;
                let loc = RecordLoc {
                    drive,
                    segment,
                    offset: pos,
                    len: rl as u32,
                };
                let body = if h.kind == Kind::Shard || pos + rl > len {
                    None
                } else if pos + rl <= start + filled as u64 {
                    Some(window[off..off + rl as usize].to_vec())
                } else {
                    let mut rec = AlignedBuf::zeroed(rl as usize);
                    file.read_exact_at(rec.as_mut_slice(), pos)?;
                    Some(rec.as_slice().to_vec())
                };
                found((h, loc, body))?;
                pos += rl;
            }
            Err(RecordError::NotARecord) => pos += BLOCK,
            // Not damage: the index cannot be rebuilt without the records
            // this binary cannot read, so the rebuild is refused rather
            // than made without them.
            Err(RecordError::Newer(n)) => {
                return Err(std::io::Error::other(format!(
                    "drive {drive} segment {segment:08x} offset {pos}: {n}; the index cannot be \
                     rebuilt without its records"
                )))
            }
            Err(_) => {
                corrupt += 1;
                pos += BLOCK;
            }
        }
    }
    Ok(corrupt)
}

/// Opens a segment to scan with direct reads: gigabytes of segments read
/// through the page cache cost a kernel copy each and push the index's pages
/// out. Buffered where the file system has no direct I/O.
fn open_direct(path: &std::path::Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => File::open(path),
        r => r,
    }
}

/// Scans every segment of one drive, sending the records of the `wanted`
/// partitions in batches; stops when the merge has gone.
fn scan_drive(
    key: u32,
    drive: u16,
    root: &std::path::Path,
    wanted: &HashMap<u16, usize>,
    tx: &SyncSender<ScanBatch>,
) -> Result<(), String> {
    let gone = || "the merge stopped".to_owned();
    let mut batch = Vec::new();
    let mut bytes = 0;
    for seg in list_segments(root).map_err(|e| e.to_string())? {
        let file = open_direct(&segment_path(root, seg)).map_err(|e| e.to_string())?;
        let corrupt = scan_segment(key, &file, drive, seg, &mut |found: Scanned| {
            if !wanted.contains_key(&found.0.partition) {
                return Ok(());
            }
            bytes += found.2.as_ref().map_or(0, Vec::len);
            batch.push(found);
            if batch.len() >= SCAN_BATCH_RECORDS || bytes >= SCAN_BATCH_BYTES {
                bytes = 0;
                tx.send(Ok((std::mem::take(&mut batch), 0)))
                    .map_err(|_| std::io::Error::other(gone()))?;
            }
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        if corrupt > 0 {
            tx.send(Ok((Vec::new(), corrupt))).map_err(|_| gone())?;
        }
    }
    tx.send(Ok((batch, 0))).map_err(|_| gone())
}

impl Uploads {
    /// Takes an upload, part or upload-end record; false if its payload
    /// does not decode.
    fn add(&mut self, h: &RecordHeader, loc: RecordLoc, payload: &[u8]) -> bool {
        let id = (h.partition, h.bucket.clone(), h.key.clone(), h.version);
        match h.kind {
            Kind::Upload => {
                let Some(meta) = decode_upload_payload(payload, h.format) else {
                    return false;
                };
                self.begun
                    .entry(id)
                    .or_insert_with(|| (meta, Vec::new()))
                    .1
                    .push(loc);
            }
            Kind::Part => {
                let Some(meta) = decode_part_payload(payload, h.format) else {
                    return false;
                };
                let slot = self.parts.entry(id).or_default();
                match slot.get_mut(&meta.part.number) {
                    Some((cur, copies)) if cur.seq == meta.seq => copies.push(loc),
                    Some((cur, _)) if cur.seq > meta.seq => {}
                    _ => {
                        slot.insert(meta.part.number, (meta, vec![loc]));
                    }
                }
            }
            Kind::UploadEnd => {
                let Some(ended_ms) = decode_upload_end(payload) else {
                    return false;
                };
                self.ended
                    .entry(id)
                    .or_insert_with(|| (ended_ms, Vec::new()))
                    .1
                    .push(loc);
            }
            Kind::Shard | Kind::Commit | Kind::Tombstone => return false,
        }
        true
    }
}

/// The index mutations that bring one key back from its records (sequence
/// number -> record and copies): replayed in sequence order, then the
/// surviving tombstones, then the surviving versions oldest first.
fn replay_key(
    partition: u16,
    bucket: String,
    key: String,
    records: HashMap<u64, (Candidate, Vec<RecordLoc>)>,
    stats: &mut RebuildStats,
    locate: &impl Fn(ObjectMeta) -> (ObjectMeta, bool),
) -> Vec<Mutation> {
    let mut records: Vec<_> = records.into_iter().collect();
    records.sort_unstable_by_key(|(seq, _)| *seq);
    let mut versions: Vec<(Box<ObjectMeta>, Vec<RecordLoc>)> = Vec::new();
    let mut tombstones: Vec<(VersionSel, Vec<RecordLoc>)> = Vec::new();
    // Every commit record found per version: those the index will not point
    // to are its stale records (a tombstone of it must outlive them).
    let mut seen: HashMap<u128, Vec<RecordLoc>> = HashMap::new();
    for (_, (cand, mut copies)) in records {
        match cand {
            Candidate::Commit(meta, first) => {
                if !copies.contains(&first) {
                    copies.push(first);
                }
                seen.entry(meta.version)
                    .or_default()
                    .extend(copies.iter().copied());
                // A newer commit of an existing version changed its tags.
                if let Some(v) = versions.iter_mut().find(|(v, _)| v.version == meta.version) {
                    *v = (meta, copies);
                    continue;
                }
                if meta.null {
                    versions.retain(|(v, _)| !v.null);
                    tombstones.retain(|(t, _)| *t != VersionSel::Null);
                }
                // In the version's own place in the history: when a retag
                // superseded it, its first commit record may be gone.
                let at = versions.partition_point(|(v, _)| v.seq < meta.seq);
                versions.insert(at, (meta, copies));
            }
            Candidate::Tombstone(target) => {
                versions.retain(|(v, _)| !v.is(target));
                tombstones.retain(|(t, _)| *t != target);
                tombstones.push((target, copies));
            }
        }
    }
    if versions.is_empty() {
        stats.deleted += 1;
    }
    let mut out = Vec::with_capacity(2 * (tombstones.len() + versions.len()));
    let stale = |version: u128, live: &[RecordLoc]| -> Vec<(u16, u32)> {
        let mut segs: Vec<(u16, u32)> = seen
            .get(&version)
            .into_iter()
            .flatten()
            .filter(|l| !live.contains(l))
            .map(|l| (l.drive, l.segment))
            .collect();
        segs.sort_unstable();
        segs.dedup();
        segs
    };
    for (target, copies) in tombstones {
        out.push(Mutation::Delete {
            bucket: bucket.clone(),
            key: key.clone(),
            target,
            tombstones: copies,
        });
        if let VersionSel::Id(version) = target {
            out.push(Mutation::Stale {
                bucket: bucket.clone(),
                key: key.clone(),
                version,
                segments: stale(version, &[]),
            });
        }
    }
    for (meta, commits) in versions {
        let segments = stale(meta.version, &commits);
        if !segments.is_empty() {
            out.push(Mutation::Stale {
                bucket: bucket.clone(),
                key: key.clone(),
                version: meta.version,
                segments,
            });
        }
        let (meta, whole) = locate(*meta);
        if !whole {
            stats.incomplete += 1;
            tracing::warn!(partition, bucket = %bucket, key = %key, version = meta.version, "a version has stripes short of k shards on the drives online");
        }
        stats.objects += 1;
        out.push(Mutation::Put {
            bucket: bucket.clone(),
            key: key.clone(),
            entry: IndexEntry { meta, commits },
        });
    }
    out
}

/// Rebuilds the indexes `idxs` (which must be empty) from the segments on
/// `drives`, in one pass over every segment: records of other partitions are
/// skipped.
pub fn rebuild_partitions(
    idxs: &[&PartitionIndex],
    drives: &[(u16, PathBuf)],
    key: u32,
    events_from_ms: u64,
) -> Result<RebuildStats, String> {
    let wanted: HashMap<u16, usize> = idxs
        .iter()
        .enumerate()
        .map(|(i, x)| (x.partition, i))
        .collect();
    let mut stats = RebuildStats::default();
    if wanted.is_empty() {
        return Ok(stats);
    }
    // Shard records found, by identity. Locations in commit records may be
    // stale (compaction moves shards without rewriting commits), so shards
    // are found by what they are, not where the commit said they were.
    // Keyed by identity and data generation (the header's seq): a transition
    // rewrites a version's shards under the same identity, and its commit
    // record names the generation it means (`class::ClassAttr`).
    let mut shards: HashMap<(u128, u32, u32, u8, u64), RecordLoc> = HashMap::new();
    // Per key: seq -> (candidate, all commit copies with that seq).
    let mut keys: Candidates = HashMap::new();
    let mut uploads = Uploads::default();
    let mut restored = Restored::default();
    // One scanner per drive (drives are independent devices); the merge
    // takes their batches in whatever order they come: records are placed
    // by sequence number and identity, not by the order they were read.
    let (tx, rx) = sync_channel::<ScanBatch>(SCAN_QUEUE * drives.len().max(1));
    let merged = std::thread::scope(|scope| -> Result<(), String> {
        // Owned here: a merge that fails drops it on return, so the
        // scanners stop at their next send before the scope joins them.
        let rx = rx;
        for (drive, root) in drives {
            let tx = tx.clone();
            let wanted = &wanted;
            scope.spawn(move || {
                if let Err(e) = scan_drive(key, *drive, root, wanted, &tx) {
                    let _ = tx.send(Err(format!("drive {drive}: {e}")));
                }
            });
        }
        drop(tx);
        for batch in &rx {
            let (records, corrupt) = batch?;
            stats.corrupt_blocks += corrupt;
            for (h, loc, body) in records {
                stats.records += 1;
                match h.kind {
                    Kind::Shard => {
                        shards.insert((h.version, h.part_number, h.stripe, h.shard, h.seq), loc);
                    }
                    Kind::Upload | Kind::Part | Kind::UploadEnd => {
                        let payload = body.as_deref().and_then(|rec| h.payload(rec).ok());
                        let Some(payload) = payload else {
                            stats.corrupt_blocks += 1;
                            continue;
                        };
                        if !uploads.add(&h, loc, payload) {
                            stats.corrupt_blocks += 1;
                        }
                    }
                    Kind::Commit => {
                        let Some(rec) = body else { continue };
                        let Ok(payload) = h.payload(&rec) else {
                            stats.corrupt_blocks += 1;
                            continue;
                        };
                        let Some((meta, events, _)) = decode_commit_parts(payload, h.format) else {
                            stats.corrupt_blocks += 1;
                            continue;
                        };
                        restored.add(h.partition, events, events_from_ms);
                        if let Some((upload, _)) = meta.part_table() {
                            uploads.completed.insert((
                                h.partition,
                                h.bucket.clone(),
                                h.key.clone(),
                                upload,
                            ));
                        }
                        let slot = keys.entry((h.partition, h.bucket, h.key)).or_default();
                        slot.entry(h.seq)
                            .or_insert_with(|| (Candidate::Commit(Box::new(meta), loc), Vec::new()))
                            .1
                            .push(loc);
                    }
                    Kind::Tombstone => {
                        let payload = body.as_deref().and_then(|rec| h.payload(rec).ok());
                        let Some((target, events)) = payload.and_then(decode_tombstone) else {
                            stats.corrupt_blocks += 1;
                            continue;
                        };
                        restored.add(h.partition, events, events_from_ms);
                        let slot = keys.entry((h.partition, h.bucket, h.key)).or_default();
                        slot.entry(h.seq)
                            .or_insert_with(|| (Candidate::Tombstone(target), Vec::new()))
                            .1
                            .push(loc);
                    }
                }
            }
        }
        Ok(())
    });
    merged?;
    // Shard locations as found on the drives (those in commit and part
    // records may be stale: compaction moves shards), and whether every
    // stripe still has k shards.
    let locate_stripes =
        |stripes: &mut Stripes, (version, part, gen): (u128, u32, u64), k: usize| -> bool {
            let mut whole = true;
            for (s, locs) in stripes.iter_mut().enumerate() {
                for (i, l) in locs.iter_mut().enumerate() {
                    *l = shards
                        .get(&(version, part, s as u32, i as u8, gen))
                        .copied();
                }
                whole &= locs.iter().flatten().count() >= k;
            }
            whole
        };
    let locate = |mut meta: ObjectMeta| -> (ObjectMeta, bool) {
        let k = meta.layout.0 as usize;
        let version = meta.version;
        let gen = super::class::data_gen(&meta.attrs);
        let whole = match &mut meta.data {
            // A deduplicated version's bytes are its contents', objects
            // of their own.
            DataLoc::Inline | DataLoc::Content { .. } => true,
            DataLoc::Stripes(stripes) => locate_stripes(stripes, (version, 0, gen), k),
            DataLoc::Parts { upload, parts } => {
                // Every part is located, even after one falls short.
                let mut whole = true;
                for p in parts.iter_mut() {
                    whole &= locate_stripes(&mut p.stripes, (*upload, p.number, gen), k);
                }
                whole
            }
        };
        (meta, whole)
    };

    let mut batches: Vec<Vec<Mutation>> = idxs.iter().map(|_| Vec::new()).collect();
    for ((p, bucket, key), records) in keys {
        let i = wanted[&p];
        batches[i].extend(replay_key(p, bucket, key, records, &mut stats, &locate));
        if batches[i].len() >= APPLY_BATCH {
            idxs[i].apply(&batches[i]).map_err(|e| e.to_string())?;
            batches[i].clear();
        }
    }
    let Uploads {
        begun,
        mut parts,
        ended,
        completed,
    } = uploads;
    for (id, (meta, commits)) in begun {
        if ended.contains_key(&id) || completed.contains(&id) {
            continue;
        }
        let (p, bucket, key, _) = id.clone();
        let i = wanted[&p];
        batches[i].push(Mutation::CreateUpload {
            bucket: bucket.clone(),
            key: key.clone(),
            entry: UploadEntry { meta, commits },
        });
        for (_, (mut meta, commits)) in parts.remove(&id).unwrap_or_default() {
            let k = meta.layout.0 as usize;
            let id = (
                meta.upload,
                meta.part.number,
                super::class::data_gen(&meta.attrs),
            );
            if !locate_stripes(&mut meta.part.stripes, id, k) {
                stats.incomplete += 1;
            }
            batches[i].push(Mutation::PutPart {
                bucket: bucket.clone(),
                key: key.clone(),
                entry: PartEntry { meta, commits },
            });
        }
    }
    for ((p, bucket, key, upload), (ended_ms, records)) in ended {
        batches[wanted[&p]].push(Mutation::EndUpload {
            bucket,
            key,
            upload,
            ended: records,
            ended_ms,
            object: None,
        });
    }
    for (i, batch) in batches.iter().enumerate() {
        if !batch.is_empty() {
            idxs[i].apply(batch).map_err(|e| e.to_string())?;
        }
    }
    for (p, events) in restored.by_partition {
        let rows: Vec<Queued> = events
            .into_iter()
            .map(|((target, _), row)| Queued { target, row })
            .collect();
        stats.events += rows.len() as u64;
        idxs[wanted[&p]]
            .restore_events(&rows)
            .map_err(|e| e.to_string())?;
    }
    if stats.records > 0 {
        tracing::info!(
            partitions = idxs.len(),
            ?stats,
            "index rebuilt from the drives"
        );
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::layout::Layout;
    use crate::engine::record::FORMAT_VERSION;

    const KEY: u32 = 0x5eed_1234;

    /// A whole record of `kind` with a payload of `len` bytes.
    fn record(kind: Kind, seq: u64, len: usize) -> Vec<u8> {
        let payload = vec![seq as u8; len];
        let h = RecordHeader {
            format: FORMAT_VERSION,
            kind,
            partition: 3,
            bucket: "b".into(),
            key: format!("k{seq}"),
            version: u128::from(seq),
            part_number: 0,
            stripe: 0,
            shard: 0,
            layout: Layout { data: 4, parity: 2 },
            data_len: len as u64,
            payload_len: len as u32,
            seq,
            payload_crc: crc32c::crc32c(&payload),
        };
        let mut buf = vec![0u8; h.record_len()];
        h.encode_into(&mut buf, KEY);
        let hl = h.header_len();
        buf[hl..hl + len].copy_from_slice(&payload);
        buf
    }

    #[test]
    fn a_scan_finds_every_record_wherever_it_falls_against_its_reads() {
        let mut bytes = Vec::new();
        // (offset, seq, kind) of every record written.
        let mut want = Vec::new();
        let mut put = |bytes: &mut Vec<u8>, kind: Kind, seq: u64, len: usize| {
            want.push((bytes.len() as u64, seq, kind));
            bytes.extend(record(kind, seq, len));
        };
        // Small records up to the first read's end, one across it (read
        // apart), a large shard that is skipped, small records after it,
        // zeroes, a corrupt block, and a torn tail shorter than a block.
        let mut seq = 0;
        while bytes.len() + 4096 < SCAN_CHUNK {
            seq += 1;
            put(&mut bytes, Kind::Commit, seq, 1000);
        }
        put(&mut bytes, Kind::Commit, 1000, 6000);
        assert!(
            bytes.len() > SCAN_CHUNK,
            "the record must straddle the first read"
        );
        put(&mut bytes, Kind::Shard, 1001, 3 << 20);
        put(&mut bytes, Kind::Tombstone, 1002, 16);
        put(&mut bytes, Kind::Commit, 1003, 9000);
        bytes.extend(vec![0u8; 4 * BLOCK as usize]);
        let mut bad = record(Kind::Commit, 1004, 100);
        bad[20] ^= 0xff;
        bytes.extend(bad);
        put(&mut bytes, Kind::Commit, 1005, 100);
        bytes.extend(vec![7u8; 100]);

        let path = std::env::temp_dir().join(format!("cairn-scan-{}", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        let file = open_direct(&path).unwrap();
        let mut found = Vec::new();
        let corrupt = scan_segment(KEY, &file, 2, 9, &mut |s: Scanned| {
            found.push(s);
            Ok(())
        })
        .unwrap();
        std::fs::remove_file(&path).unwrap();

        assert_eq!(corrupt, 1);
        let got: Vec<_> = found
            .iter()
            .map(|(h, loc, _)| (loc.offset, h.seq, h.kind))
            .collect();
        assert_eq!(got, want);
        for (h, loc, body) in &found {
            assert_eq!((loc.drive, loc.segment), (2, 9));
            let whole = &bytes[loc.offset as usize..(loc.offset + u64::from(loc.len)) as usize];
            match h.kind {
                Kind::Shard => assert!(body.is_none(), "a shard's body is not read"),
                _ => assert_eq!(body.as_deref(), Some(whole), "seq {}", h.seq),
            }
        }
    }
}
