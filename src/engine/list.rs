//! Listing a bucket: keys are spread over every partition, so a listing is a
//! k-way merge (see `merge.rs`) of each partition's sorted index, fetched in
//! small batches from LMDB read transactions on the receiving core.
//!
//! Object listings skip keys whose latest version is a delete marker; version
//! listings merge per-key groups (the latest version, then the noncurrent ones
//! newest first) and cut them to the page.

use std::collections::VecDeque;

use super::index::{IndexError, ListEntry, PartitionIndex, VersionListing};
use super::merge::{merge_page, Entry, ListParams, Page, SortedSource};
use super::meta::VersionSel;
use super::{Engine, EngineError, Result};

/// First batch read from each partition; doubled while a source keeps being
/// drained, up to `MAX_BATCH`.
const FIRST_BATCH: usize = 16;
const MAX_BATCH: usize = 1024;
/// Most versions listed in one page (S3's cap on max-keys).
pub const MAX_VERSIONS_PAGE: usize = 1000;

/// One batch of a partition, in key order: each key with its value, or None
/// for a key the listing skips (still counted for paging).
type Batch<T> = std::result::Result<Vec<(String, Option<T>)>, IndexError>;
/// Reads up to n keys of one partition from the given key on.
type Fetch<'a, T> = Box<dyn Fn(&str, usize) -> Batch<T> + 'a>;

struct PartitionSource<'a, T> {
    fetch: Fetch<'a, T>,
    buf: VecDeque<(String, Option<T>)>,
    /// Where the next batch starts; None once the partition is exhausted.
    from: Option<String>,
    batch: usize,
    /// The batch a fresh position starts with: after a seek past a common
    /// prefix the source reads small again, as the next prefix may be near.
    first_batch: usize,
    error: Option<IndexError>,
}

impl<'a, T> PartitionSource<'a, T> {
    fn new(fetch: Fetch<'a, T>, from: &str, batch: usize) -> Self {
        PartitionSource {
            fetch,
            buf: VecDeque::new(),
            from: Some(from.to_owned()),
            batch,
            first_batch: batch,
            error: None,
        }
    }
}

impl<T> SortedSource<T> for &mut PartitionSource<'_, T> {
    fn next(&mut self) -> Option<(String, T)> {
        loop {
            if self.buf.is_empty() {
                let from = self.from.take()?;
                match (self.fetch)(&from, self.batch) {
                    Ok(v) => {
                        if v.len() == self.batch {
                            // NUL never occurs in keys: key + "\0" is its successor.
                            self.from = v.last().map(|(k, _)| format!("{k}\0"));
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
            match self.buf.pop_front() {
                Some((k, Some(v))) => return Some((k, v)),
                Some((_, None)) => continue,
                None => return None,
            }
        }
    }

    fn seek(&mut self, key: &str) {
        while self.buf.front().is_some_and(|(k, _)| k.as_str() < key) {
            self.buf.pop_front();
        }
        if self.buf.is_empty() {
            if let Some(f) = &self.from {
                if f.as_str() < key {
                    self.from = Some(key.to_owned());
                    self.batch = self.first_batch;
                }
            }
        }
    }
}

/// One entry of a version listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VersionItem {
    Version(VersionListing),
    CommonPrefix(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionPage {
    pub items: Vec<VersionItem>,
    pub is_truncated: bool,
    /// When truncated: where the next page starts (key or common prefix, and
    /// the last version listed of that key).
    pub next_key_marker: Option<String>,
    pub next_version_marker: Option<VersionSel>,
}

/// The versions of one key after the one `marker` names (all of them if it
/// names none).
fn after_marker(group: Vec<VersionListing>, marker: VersionSel) -> Vec<VersionListing> {
    let named = |v: &VersionListing| match marker {
        VersionSel::Null => v.entry.null,
        VersionSel::Id(id) => !v.entry.null && v.entry.version == id,
    };
    match group.iter().position(named) {
        Some(i) => group.into_iter().skip(i + 1).collect(),
        None => group,
    }
}

impl Engine {
    fn merge<T>(
        &self,
        bucket: &str,
        params: &ListParams<'_>,
        first_batch: usize,
        fetch: impl Fn(&PartitionIndex, &str, usize) -> Batch<T> + Copy,
    ) -> Result<Page<T>> {
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
        let mut sources: Vec<PartitionSource<T>> = self
            .shared
            .indexes
            .iter()
            .map(|idx| {
                let f: Fetch<T> = Box::new(move |from, n| fetch(idx, from, n));
                PartitionSource::new(f, &start, first_batch)
            })
            .collect();
        let page = merge_page(sources.iter_mut().collect(), params);
        if let Some(e) = sources.iter_mut().find_map(|s| s.error.take()) {
            return Err(e.into());
        }
        Ok(page)
    }

    /// One page of a bucket listing.
    pub fn list(&self, bucket: &str, params: &ListParams<'_>) -> Result<Page<ListEntry>> {
        let first = FIRST_BATCH.min(params.max_keys + 1).max(1);
        self.merge(bucket, params, first, |idx, from, n| {
            Ok(idx
                .scan(bucket, from, n)?
                .into_iter()
                .map(|e| (e.key.clone(), (!e.delete_marker).then_some(e)))
                .collect())
        })
    }

    /// One page of a bucket's versions (ListObjectVersions): keys after
    /// `key_marker` (or, with `version_marker`, that key's versions after
    /// the named one first), each key's versions newest first, at most `max`
    /// entries (versions and common prefixes).
    pub fn list_versions(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        version_marker: Option<VersionSel>,
        max: usize,
    ) -> Result<VersionPage> {
        let max = max.min(MAX_VERSIONS_PAGE);
        let mut page = VersionPage {
            items: Vec::new(),
            is_truncated: false,
            next_key_marker: None,
            next_version_marker: None,
        };
        let delimiter = delimiter.filter(|d| !d.is_empty());
        // Resume inside the marker key, unless it is outside the listing or
        // rolled up into a common prefix.
        if let (Some(k), Some(vm)) = (key_marker, version_marker) {
            let rolled_up = delimiter
                .is_some_and(|d| k.strip_prefix(prefix).is_some_and(|rest| rest.contains(d)));
            if k.starts_with(prefix) && !rolled_up {
                let idx = &self.shared.indexes[self.shared.partition_of(bucket, k) as usize];
                // Reads every version of the marker key: the marker can be
                // anywhere among them.
                let group = idx
                    .scan_versions(bucket, k, 1, usize::MAX)?
                    .into_iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, g)| after_marker(g, vm))
                    .unwrap_or_default();
                if take_group(&mut page, k, group, max) {
                    return Ok(page);
                }
            }
        }
        let remaining = max - page.items.len();
        let params = ListParams {
            prefix,
            delimiter,
            start_after: key_marker,
            max_keys: remaining,
        };
        let per_key = remaining + 1;
        let merged = self.merge(bucket, &params, FIRST_BATCH, |idx, from, n| {
            Ok(idx
                .scan_versions(bucket, from, n, per_key)?
                .into_iter()
                .map(|(k, g)| (k, Some(g)))
                .collect())
        })?;
        let count = merged.entries.len();
        for (i, e) in merged.entries.into_iter().enumerate() {
            match e {
                Entry::Object(key, group) => {
                    if take_group(&mut page, &key, group, max) {
                        return Ok(page);
                    }
                }
                Entry::CommonPrefix(p) => {
                    if page.items.len() == max {
                        page.is_truncated = true;
                        return Ok(page);
                    }
                    page.items.push(VersionItem::CommonPrefix(p.clone()));
                    page.next_key_marker = Some(p);
                    page.next_version_marker = None;
                }
            }
            if page.items.len() == max && (i + 1 < count || merged.is_truncated) {
                page.is_truncated = true;
                return Ok(page);
            }
        }
        page.is_truncated = merged.is_truncated;
        if !page.is_truncated {
            page.next_key_marker = None;
            page.next_version_marker = None;
        }
        Ok(page)
    }
}

/// Adds a key's versions to the page; true if the page filled up before the
/// group ended (the page is then truncated inside the key).
fn take_group(page: &mut VersionPage, key: &str, group: Vec<VersionListing>, max: usize) -> bool {
    for v in group {
        if page.items.len() == max {
            page.is_truncated = true;
            return true;
        }
        page.next_key_marker = Some(key.to_owned());
        page.next_version_marker = Some(if v.entry.null {
            VersionSel::Null
        } else {
            VersionSel::Id(v.entry.version)
        });
        page.items.push(VersionItem::Version(v));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Rolling up a directory of many keys must not read them: after a
    /// seek past the prefix the source starts again with a small batch.
    #[test]
    fn a_seek_past_a_common_prefix_reads_a_small_batch() {
        // 100 "directories" of 5,000 keys each.
        let keys: Vec<String> = (0..100)
            .flat_map(|d| (0..5000).map(move |k| format!("d{d:03}/{k:05}")))
            .collect();
        let read = Cell::new(0usize);
        let fetch: Fetch<()> = Box::new(|from: &str, n: usize| {
            let at = keys.partition_point(|k| k.as_str() < from);
            let got: Vec<_> = keys[at..]
                .iter()
                .take(n)
                .map(|k| (k.clone(), Some(())))
                .collect();
            read.set(read.get() + got.len());
            Ok(got)
        });
        let mut src = PartitionSource::new(fetch, "", FIRST_BATCH);
        let mut s = &mut src;
        for d in 0..100 {
            let (k, ()) = s.next().expect("a key");
            assert_eq!(k, format!("d{d:03}/00000"));
            // Drain a few so the batch would have grown.
            for _ in 0..40 {
                s.next();
            }
            s.seek(&format!("d{d:03}0"));
        }
        assert!(s.next().is_none());
        assert!(
            read.get() < 100 * 200,
            "read {} keys to roll up 100 prefixes",
            read.get()
        );
    }

    fn listing(version: u128, null: bool) -> VersionListing {
        VersionListing {
            latest: false,
            entry: ListEntry {
                key: "k".into(),
                version,
                seq: 0,
                size: 0,
                etag: String::new(),
                modified_ms: 0,
                null,
                delete_marker: false,
                class: None,
            },
        }
    }

    #[test]
    fn after_marker_resumes_after_the_named_version() {
        let g = vec![listing(3, false), listing(2, true), listing(1, false)];
        let ids = |g: Vec<VersionListing>| g.iter().map(|v| v.entry.version).collect::<Vec<_>>();
        assert_eq!(ids(after_marker(g.clone(), VersionSel::Id(3))), [2, 1]);
        assert_eq!(ids(after_marker(g.clone(), VersionSel::Null)), [1]);
        assert_eq!(
            ids(after_marker(g.clone(), VersionSel::Id(1))),
            Vec::<u128>::new()
        );
        // A null version is not named by its internal id.
        assert_eq!(ids(after_marker(g.clone(), VersionSel::Id(2))), [3, 2, 1]);
    }
}
