//! Per-core cache of verified records, so that hot objects are served from
//! memory instead of O_DIRECT reads (the data path has no page cache).
//!
//! Keyed by where a record lives: records are never rewritten in place and
//! a segment number is never reused within a run (segment.rs), so a
//! location names the same bytes for the life of the process. A hit is
//! still checked against its header by the reader, so a logic error cannot
//! serve another record. Entries are whole records as read (header,
//! payload, padding); a reader keeps its slice alive after eviction.

use bytes::Bytes;
use lru::LruCache;

use super::meta::RecordLoc;

/// Entries larger than this share of the capacity are not kept: one large
/// shard must not flush a small cache.
const MAX_ENTRY_SHARE: usize = 8;

pub struct RecordCache {
    entries: LruCache<RecordLoc, Bytes>,
    /// Sum of the entries' lengths; never above `cap` between calls.
    bytes: usize,
    cap: usize,
}

impl RecordCache {
    /// A cache holding at most `cap` bytes of records (0: none).
    pub fn new(cap: usize) -> RecordCache {
        RecordCache {
            entries: LruCache::unbounded(),
            bytes: 0,
            cap,
        }
    }

    pub fn get(&mut self, loc: &RecordLoc) -> Option<Bytes> {
        self.entries.get(loc).cloned()
    }

    /// Keeps a record that has just been read and verified, evicting the
    /// least recently used ones to make room.
    pub fn insert(&mut self, loc: RecordLoc, record: Bytes) {
        let len = record.len();
        if len == 0 || len > self.cap / MAX_ENTRY_SHARE {
            return;
        }
        if let Some(old) = self.entries.put(loc, record) {
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

    /// Drops one entry (a hit that did not match what its reader expected).
    pub fn remove(&mut self, loc: &RecordLoc) {
        if let Some(old) = self.entries.pop(loc) {
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
        let mut c = RecordCache::new(8 * 4096);
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
        let mut c = RecordCache::new(64 * 1024);
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
        let mut c = RecordCache::new(8 * 4096);
        c.insert(loc(0), Bytes::from(vec![0; 2 * 4096]));
        assert!(c.get(&loc(0)).is_none());
        let mut none = RecordCache::new(0);
        none.insert(loc(0), Bytes::from(vec![0; 4096]));
        assert_eq!(none.bytes(), 0);
        assert!(none.get(&loc(0)).is_none());
    }

    #[test]
    fn a_smaller_capacity_at_run_time_evicts_down_to_it() {
        let mut c = RecordCache::new(64 * 4096);
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
}
