//! Listing a bucket: keys are spread over every partition, so a listing is a
//! k-way merge (see `merge.rs`) of each partition's sorted index, fetched in
//! small batches from LMDB read transactions on the receiving core.

use std::collections::VecDeque;

use super::index::{IndexError, ListEntry, PartitionIndex};
use super::merge::{merge_page, ListParams, Page, SortedSource};
use super::{Engine, EngineError, Result};

/// First batch read from each partition; doubled while a source keeps being
/// drained, up to `MAX_BATCH`.
const FIRST_BATCH: usize = 16;
const MAX_BATCH: usize = 1024;

struct PartitionSource<'a> {
    idx: &'a PartitionIndex,
    bucket: &'a str,
    buf: VecDeque<ListEntry>,
    /// Where the next batch starts; None once the partition is exhausted.
    from: Option<String>,
    batch: usize,
    error: Option<IndexError>,
}

impl SortedSource<ListEntry> for &mut PartitionSource<'_> {
    fn next(&mut self) -> Option<(String, ListEntry)> {
        if self.buf.is_empty() {
            let from = self.from.take()?;
            match self.idx.scan(self.bucket, &from, self.batch) {
                Ok(v) => {
                    if v.len() == self.batch {
                        // NUL never occurs in keys: key + "\0" is its successor.
                        self.from = v.last().map(|e| format!("{}\0", e.key));
                    }
                    self.batch = (self.batch * 2).min(MAX_BATCH);
                    self.buf.extend(v);
                }
                Err(e) => {
                    self.error = Some(e);
                    return None;
                }
            }
        }
        self.buf.pop_front().map(|e| (e.key.clone(), e))
    }

    fn seek(&mut self, key: &str) {
        while self.buf.front().is_some_and(|e| e.key.as_str() < key) {
            self.buf.pop_front();
        }
        if self.buf.is_empty() {
            if let Some(f) = &self.from {
                if f.as_str() < key {
                    self.from = Some(key.to_owned());
                }
            }
        }
    }
}

impl Engine {
    /// One page of a bucket listing.
    pub fn list(&self, bucket: &str, params: &ListParams<'_>) -> Result<Page<ListEntry>> {
        if !self.bucket_exists(bucket) {
            return Err(EngineError::NoSuchBucket);
        }
        let mut start = params.prefix.to_owned();
        if let Some(sa) = params.start_after {
            let after = format!("{sa}\0");
            if after > start {
                start = after;
            }
        }
        let mut sources: Vec<PartitionSource> = self
            .shared
            .indexes
            .iter()
            .map(|idx| PartitionSource {
                idx,
                bucket,
                buf: VecDeque::new(),
                from: Some(start.clone()),
                batch: FIRST_BATCH.min(params.max_keys + 1).max(1),
                error: None,
            })
            .collect();
        let page = merge_page(sources.iter_mut().collect(), params);
        if let Some(e) = sources.iter_mut().find_map(|s| s.error.take()) {
            return Err(e.into());
        }
        Ok(page)
    }
}
