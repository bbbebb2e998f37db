//! Per-core read cache, so that hot objects are served from memory instead
//! of O_DIRECT reads (the data path has no page cache). It holds two kinds
//! of entries under one byte budget and one LRU order:
//!
//! - verified records, keyed by where they live: records are never
//!   rewritten in place and a segment number is never reused within a run
//!   (segment.rs), so a location names the same bytes for the life of the
//!   process. A hit is still checked against its header by the reader, so a
//!   logic error cannot serve another record. Entries are whole records as
//!   read (header, payload, padding); a reader keeps its slice alive after
//!   eviction.
//! - the opened plaintext of an encrypted version read whole, keyed by its
//!   first commit record and version id, so a hot encrypted object costs
//!   what a plain one does instead of an AES-GCM pass per GET. It is memory
//!   only, like everything here, and is given out only to a reader holding
//!   the same data key: the S3 layer has already checked the caller's right
//!   to it (KMS key enabled, SSE-C key matching) before the engine is asked.

use std::rc::Rc;

use bytes::Bytes;
use lru::LruCache;
use subtle::ConstantTimeEq;

use super::meta::RecordLoc;
use crate::sse::key::DataKey;

/// Entries larger than this share of the capacity are not kept: one large
/// shard must not flush a small cache.
const MAX_ENTRY_SHARE: usize = 8;

/// Names an encrypted version's plaintext: its first commit record (a
/// location is never reused within a run) and its version id.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct PlainId {
    pub commit: RecordLoc,
    pub version: u128,
}

#[derive(Hash, PartialEq, Eq)]
enum Key {
    Record(RecordLoc),
    Plain(PlainId),
}

/// An encrypted version's whole plaintext, in the pieces it was opened in.
pub struct Plaintext {
    key: DataKey,
    chunks: Vec<Bytes>,
    len: usize,
}

impl Plaintext {
    pub fn new(key: DataKey, chunks: Vec<Bytes>) -> Plaintext {
        let len = chunks.iter().map(Bytes::len).sum();
        Plaintext { key, chunks, len }
    }

    /// Bytes `[start, end)` as slices of the pieces, copying nothing.
    pub fn slices(&self, start: u64, end: u64) -> Vec<Bytes> {
        debug_assert!(start <= end && end <= self.len as u64);
        let mut out = Vec::new();
        let mut at = 0u64;
        for c in &self.chunks {
            let (lo, hi) = (at, at + c.len() as u64);
            at = hi;
            if hi <= start || lo >= end || start == end {
                continue;
            }
            let a = start.max(lo) - lo;
            let b = end.min(hi) - lo;
            out.push(c.slice(a as usize..b as usize));
        }
        out
    }
}

enum Entry {
    Record(Bytes),
    Plain(Rc<Plaintext>),
}

impl Entry {
    fn len(&self) -> usize {
        match self {
            Entry::Record(b) => b.len(),
            Entry::Plain(p) => p.len,
        }
    }
}

pub struct ReadCache {
    entries: LruCache<Key, Entry>,
    /// Sum of the entries' lengths; never above `cap` between calls.
    bytes: usize,
    cap: usize,
}

impl ReadCache {
    /// A cache holding at most `cap` bytes (0: none).
    pub fn new(cap: usize) -> ReadCache {
        ReadCache {
            entries: LruCache::unbounded(),
            bytes: 0,
            cap,
        }
    }

    /// The largest entry it would keep now.
    pub fn max_entry(&self) -> usize {
        self.cap / MAX_ENTRY_SHARE
    }

    pub fn get(&mut self, loc: &RecordLoc) -> Option<Bytes> {
        match self.entries.get(&Key::Record(*loc)) {
            Some(Entry::Record(b)) => Some(b.clone()),
            _ => None,
        }
    }

    /// Keeps a record that has just been read and verified, evicting the
    /// least recently used entries to make room.
    pub fn insert(&mut self, loc: RecordLoc, record: Bytes) {
        self.put(Key::Record(loc), Entry::Record(record));
    }

    /// The plaintext of `id`, if kept and opened with `key`.
    pub fn get_plain(&mut self, id: &PlainId, key: &DataKey) -> Option<Rc<Plaintext>> {
        match self.entries.get(&Key::Plain(*id)) {
            Some(Entry::Plain(p)) if bool::from(p.key.expose().ct_eq(key.expose())) => {
                Some(p.clone())
            }
            _ => None,
        }
    }

    /// Keeps the plaintext of a version just read whole and opened.
    pub fn insert_plain(&mut self, id: PlainId, plain: Plaintext) {
        self.put(Key::Plain(id), Entry::Plain(Rc::new(plain)));
    }

    fn put(&mut self, key: Key, entry: Entry) {
        let len = entry.len();
        if len == 0 || len > self.max_entry() {
            return;
        }
        if let Some(old) = self.entries.put(key, entry) {
            self.bytes -= old.len();
        }
        self.bytes += len;
        while self.bytes > self.cap {
            let (_, evicted) = self.entries.pop_lru().expect("bytes > 0 implies an entry");
            self.bytes -= evicted.len();
        }
        debug_assert!(self.bytes <= self.cap);
    }

    /// Changes the capacity at run time, evicting the least recently used
    /// entries down to it (0 empties the cache and keeps nothing new).
    pub fn set_capacity(&mut self, cap: usize) {
        self.cap = cap;
        while self.bytes > self.cap {
            let Some((_, evicted)) = self.entries.pop_lru() else {
                break;
            };
            self.bytes -= evicted.len();
        }
    }

    /// Drops one record (a hit that did not match what its reader expected).
    pub fn remove(&mut self, loc: &RecordLoc) {
        if let Some(old) = self.entries.pop(&Key::Record(*loc)) {
            self.bytes -= old.len();
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(offset: u64) -> RecordLoc {
        RecordLoc {
            drive: 0,
            segment: 1,
            offset,
            len: 4096,
        }
    }

    #[test]
    fn stays_within_its_capacity_evicting_least_recently_used() {
        let mut c = ReadCache::new(8 * 4096);
        for i in 0..8 {
            c.insert(loc(i * 4096), Bytes::from(vec![i as u8; 4096]));
        }
        assert_eq!(c.bytes(), 8 * 4096);
        // Touch the oldest so that the second oldest goes first.
        assert_eq!(c.get(&loc(0)).unwrap()[0], 0);
        c.insert(loc(8 * 4096), Bytes::from(vec![8; 4096]));
        assert_eq!(c.bytes(), 8 * 4096);
        assert!(c.get(&loc(0)).is_some());
        assert!(c.get(&loc(4096)).is_none());
        assert_eq!(c.get(&loc(8 * 4096)).unwrap()[0], 8);
    }

    #[test]
    fn replacing_and_removing_keep_the_byte_count_exact() {
        let mut c = ReadCache::new(64 * 1024);
        c.insert(loc(0), Bytes::from(vec![1; 4096]));
        c.insert(loc(0), Bytes::from(vec![2; 8192]));
        assert_eq!(c.bytes(), 8192);
        assert_eq!(c.get(&loc(0)).unwrap().len(), 8192);
        c.remove(&loc(0));
        assert_eq!(c.bytes(), 0);
        assert!(c.get(&loc(0)).is_none());
    }

    #[test]
    fn refuses_entries_too_large_for_its_size_and_a_zero_cache_keeps_nothing() {
        let mut c = ReadCache::new(8 * 4096);
        c.insert(loc(0), Bytes::from(vec![0; 2 * 4096]));
        assert!(c.get(&loc(0)).is_none());
        let mut none = ReadCache::new(0);
        none.insert(loc(0), Bytes::from(vec![0; 4096]));
        assert_eq!(none.bytes(), 0);
        assert!(none.get(&loc(0)).is_none());
    }

    #[test]
    fn a_smaller_capacity_at_run_time_evicts_down_to_it() {
        let mut c = ReadCache::new(64 * 4096);
        for i in 0..8 {
            c.insert(loc(i * 4096), Bytes::from(vec![0u8; 4096]));
        }
        assert_eq!(c.bytes(), 8 * 4096);
        c.set_capacity(3 * 4096);
        assert_eq!(c.bytes(), 3 * 4096);
        assert!(c.get(&loc(7 * 4096)).is_some(), "the newest stay");
        assert!(c.get(&loc(0)).is_none(), "the oldest go");
        c.set_capacity(0);
        assert_eq!(c.bytes(), 0);
        c.insert(loc(0), Bytes::from(vec![0u8; 4096]));
        assert_eq!(c.bytes(), 0, "a cache of 0 keeps nothing");
        c.set_capacity(64 * 4096);
        c.insert(loc(0), Bytes::from(vec![0u8; 4096]));
        assert_eq!(c.bytes(), 4096);
    }

    #[test]
    fn plaintext_goes_only_to_its_key_and_is_cut_without_copies() {
        let key = DataKey::generate();
        let id = PlainId {
            commit: loc(0),
            version: 7,
        };
        let chunks = vec![Bytes::from(vec![1u8; 100]), Bytes::from(vec![2u8; 50])];
        let mut c = ReadCache::new(64 * 1024);
        c.insert_plain(id, Plaintext::new(key.clone(), chunks));
        assert_eq!(c.bytes(), 150);
        assert!(c.get_plain(&id, &DataKey::generate()).is_none());
        let other = PlainId { version: 8, ..id };
        assert!(c.get_plain(&other, &key).is_none());
        let p = c.get_plain(&id, &key).expect("kept");
        let cut: Vec<u8> = p.slices(90, 120).concat();
        assert_eq!(cut, [vec![1u8; 10], vec![2u8; 20]].concat());
        assert_eq!(p.slices(100, 150).len(), 1);
        assert!(p.slices(40, 40).is_empty());
        // Records and plaintext share one budget.
        c.set_capacity(100);
        assert_eq!(c.bytes(), 0);
    }
}
