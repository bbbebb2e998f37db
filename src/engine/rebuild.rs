//! Rebuilding a partition's index from the records on the drives alone.
//!
//! Every commit and tombstone record carries its key and a sequence number;
//! per key the newest one wins, provided it is whole: a commit whose stripes
//! do not each have at least k shard records on the drives (a write cut short
//! by a crash) is skipped in favour of the next older one. Runs at start-up
//! (blocking, before the executors) or from `cairn repair --rebuild-index`.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use super::index::{Mutation, PartitionIndex};
use super::meta::{decode_commit_payload, DataLoc, IndexEntry, ObjectMeta, RecordLoc};
use super::record::{Kind, RecordError, RecordHeader};
use super::segment::{list_segments, segment_path};

const BLOCK: u64 = 4096;
/// Index mutations per write transaction while rebuilding.
const APPLY_BATCH: usize = 1000;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RebuildStats {
    pub records: u64,
    pub objects: u64,
    pub deleted: u64,
    /// Newest versions with a stripe short of k shards on the drives read.
    pub incomplete: u64,
    pub corrupt_blocks: u64,
}

enum Candidate {
    Commit(Box<ObjectMeta>, RecordLoc),
    Tombstone,
}

/// A record found by a scan: its header, where it is, and the whole record
/// for commits and tombstones.
type Scanned = (RecordHeader, RecordLoc, Option<Vec<u8>>);

/// Per (partition, bucket, key): sequence number -> the candidate and every copy's location.
type Candidates = HashMap<(u16, String, String), HashMap<u64, (Candidate, Vec<RecordLoc>)>>;

/// One segment's records, in order.
fn scan_segment(
    key: u32,
    file: &File,
    drive: u16,
    segment: u32,
    stats: &mut RebuildStats,
) -> std::io::Result<Vec<Scanned>> {
    let len = file.metadata()?.len();
    let mut out = Vec::new();
    let mut pos = 0u64;
    let mut block = vec![0u8; BLOCK as usize];
    while pos + BLOCK <= len {
        file.read_exact_at(&mut block, pos)?;
        match RecordHeader::decode(&block, key) {
            Ok(h) => {
                let rl = h.record_len() as u64;
                let loc = RecordLoc {
                    drive,
                    segment,
                    offset: pos,
                    len: rl as u32,
                };
                let body = if h.kind == Kind::Shard {
                    None
                } else if pos + rl <= len {
                    let mut rec = vec![0u8; rl as usize];
                    file.read_exact_at(&mut rec, pos)?;
                    Some(rec)
                } else {
                    None
                };
                out.push((h, loc, body));
                pos += rl;
            }
            Err(RecordError::NotARecord) => pos += BLOCK,
            Err(_) => {
                stats.corrupt_blocks += 1;
                pos += BLOCK;
            }
        }
    }
    Ok(out)
}

/// Rebuilds the indexes `idxs` (which must be empty) from the segments on
/// `drives`, in one pass over every segment: records of other partitions are
/// skipped.
pub fn rebuild_partitions(
    idxs: &[&PartitionIndex],
    drives: &[(u16, PathBuf)],
    key: u32,
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
    let mut shards: HashMap<(u128, u32, u8), RecordLoc> = HashMap::new();
    // Per key: seq -> (candidate, all commit copies with that seq).
    let mut keys: Candidates = HashMap::new();
    for (drive, root) in drives {
        for seg in list_segments(root).map_err(|e| e.to_string())? {
            let file = File::open(segment_path(root, seg)).map_err(|e| e.to_string())?;
            for (h, loc, body) in
                scan_segment(key, &file, *drive, seg, &mut stats).map_err(|e| e.to_string())?
            {
                if !wanted.contains_key(&h.partition) {
                    continue;
                }
                stats.records += 1;
                match h.kind {
                    Kind::Shard => {
                        shards.insert((h.version, h.stripe, h.shard), loc);
                    }
                    Kind::Commit => {
                        let Some(rec) = body else { continue };
                        let Ok(payload) = h.payload(&rec) else {
                            stats.corrupt_blocks += 1;
                            continue;
                        };
                        let Some((meta, _)) = decode_commit_payload(payload) else {
                            stats.corrupt_blocks += 1;
                            continue;
                        };
                        let slot = keys.entry((h.partition, h.bucket, h.key)).or_default();
                        slot.entry(h.seq)
                            .or_insert_with(|| (Candidate::Commit(Box::new(meta), loc), Vec::new()))
                            .1
                            .push(loc);
                    }
                    Kind::Tombstone => {
                        let slot = keys.entry((h.partition, h.bucket, h.key)).or_default();
                        slot.entry(h.seq)
                            .or_insert_with(|| (Candidate::Tombstone, Vec::new()))
                            .1
                            .push(loc);
                    }
                }
            }
        }
    }

    // The commit with its shard locations as found on the drives (those in
    // the commit record may be stale: compaction moves shards), and whether
    // every stripe still has k shards.
    let locate = |mut meta: ObjectMeta| -> (ObjectMeta, bool) {
        let mut whole = true;
        if let DataLoc::Stripes(stripes) = &mut meta.data {
            let k = meta.layout.0 as usize;
            for (s, locs) in stripes.iter_mut().enumerate() {
                for (i, l) in locs.iter_mut().enumerate() {
                    *l = shards.get(&(meta.version, s as u32, i as u8)).copied();
                }
                whole &= locs.iter().flatten().count() >= k;
            }
        }
        (meta, whole)
    };

    let mut batches: Vec<Vec<Mutation>> = idxs.iter().map(|_| Vec::new()).collect();
    for ((p, bucket, key), versions) in keys {
        // The newest record of the key is the answer.
        let Some((_, (cand, copies))) = versions.into_iter().max_by_key(|(seq, _)| *seq) else {
            continue;
        };
        let m = match cand {
            Candidate::Tombstone => {
                stats.deleted += 1;
                Mutation::Delete {
                    bucket,
                    key,
                    tombstones: copies,
                }
            }
            Candidate::Commit(meta, first) => {
                // A commit record is written only after its shards are
                // durable, so a stripe short of k shards means drives are
                // missing or rotten, never a torn write: the newest version
                // stays the answer (reads report it), never an older one.
                let (meta, whole) = locate(*meta);
                if !whole {
                    stats.incomplete += 1;
                    tracing::warn!(partition = p, bucket = %bucket, key = %key, "newest version has stripes short of k shards on the drives online");
                }
                let mut commits = copies;
                if !commits.contains(&first) {
                    commits.push(first);
                }
                stats.objects += 1;
                Mutation::Put {
                    bucket,
                    key,
                    entry: IndexEntry { meta, commits },
                }
            }
        };
        let i = wanted[&p];
        batches[i].push(m);
        if batches[i].len() >= APPLY_BATCH {
            idxs[i].apply(&batches[i]).map_err(|e| e.to_string())?;
            batches[i].clear();
        }
    }
    for (i, batch) in batches.iter().enumerate() {
        if !batch.is_empty() {
            idxs[i].apply(batch).map_err(|e| e.to_string())?;
        }
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
