//! Listing k-way merge with S3 ListObjects semantics. Pure: sources do the
//! I/O, this module only decides what to read next.
//!
//! Sources should be lazy (fetch from disk in batches as `next` is called):
//! for one page, [`merge_page`] reads one head per source, then one more key
//! per key it consumes, i.e. the page's entries, plus, for each common prefix
//! on the page, at most one key per source that had keys under it (those
//! sources then `seek` past the prefix instead of scanning it), plus the
//! duplicates it drops.

use std::cmp::Ordering;
use std::collections::binary_heap::PeekMut;
use std::collections::{BinaryHeap, VecDeque};

/// A partition's keys in ascending byte order.
pub trait SortedSource<T> {
    /// The next key and its value, or `None` when the source is exhausted.
    fn next(&mut self) -> Option<(String, T)>;

    /// Positions the source at its first key `>= key`. The merge only seeks
    /// forward. Seeking is an optimisation: a source that ignores it stays
    /// correct (the merge filters what it reads) but scans skipped keys.
    fn seek(&mut self, key: &str);
}

impl<T, S: SortedSource<T> + ?Sized> SortedSource<T> for Box<S> {
    fn next(&mut self) -> Option<(String, T)> {
        (**self).next()
    }

    fn seek(&mut self, key: &str) {
        (**self).seek(key)
    }
}

/// In-memory source, e.g. for tests or an already-loaded partition.
pub struct VecSource<T> {
    items: VecDeque<(String, T)>,
}

impl<T> VecSource<T> {
    /// Sorts `items` by key (stably, so equal keys keep their order).
    pub fn new(mut items: Vec<(String, T)>) -> Self {
        items.sort_by(|a, b| a.0.cmp(&b.0));
        VecSource {
            items: items.into(),
        }
    }
}

impl<T> SortedSource<T> for VecSource<T> {
    fn next(&mut self) -> Option<(String, T)> {
        self.items.pop_front()
    }

    fn seek(&mut self, key: &str) {
        let skip = self.items.partition_point(|(k, _)| k.as_str() < key);
        self.items.drain(..skip);
    }
}

pub struct ListParams<'a> {
    pub prefix: &'a str,
    /// `Some("")` is treated like `None`, as S3 does.
    pub delimiter: Option<&'a str>,
    pub start_after: Option<&'a str>,
    pub max_keys: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry<T> {
    Object(String, T),
    CommonPrefix(String),
}

impl<T> Entry<T> {
    /// The object key or the common prefix.
    pub fn name(&self) -> &str {
        match self {
            Entry::Object(key, _) => key,
            Entry::CommonPrefix(prefix) => prefix,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub entries: Vec<Entry<T>>,
    /// True iff at least one more entry follows this page.
    pub is_truncated: bool,
    /// When truncated: the name of the last entry (an object key or a common
    /// prefix), to pass back as `start_after`. `None` when `max_keys == 0`.
    pub next_marker: Option<String>,
}

/// The smallest string greater than every string starting with `prefix`,
/// so a source can seek past a whole common prefix. `None` if there is none
/// (empty prefix, or only `char::MAX`s).
pub fn seek_key_after_prefix(prefix: &str) -> Option<String> {
    // Byte order of UTF-8 is code point order, so bump the last char that
    // can be bumped and drop everything after it.
    let mut key = prefix.to_owned();
    while let Some(last) = key.pop() {
        if let Some(next) = next_char(last) {
            key.push(next);
            return Some(key);
        }
    }
    None
}

fn next_char(c: char) -> Option<char> {
    match c {
        char::MAX => None,
        '\u{D7FF}' => Some('\u{E000}'), // skip the surrogate gap
        _ => char::from_u32(u32::from(c) + 1),
    }
}

/// One source's current key. Ordered so `BinaryHeap` (a max-heap) pops the
/// smallest key first, ties going to the lowest source index.
struct Head<T> {
    key: String,
    src: usize,
    value: T,
}

impl<T> Ord for Head<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.key.as_str(), other.src).cmp(&(self.key.as_str(), self.src))
    }
}

impl<T> PartialOrd for Head<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> PartialEq for Head<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<T> Eq for Head<T> {}

fn advance<T, S: SortedSource<T>>(sources: &mut [S], src: usize, heads: &mut BinaryHeap<Head<T>>) {
    if let Some((key, value)) = sources[src].next() {
        heads.push(Head { key, src, value });
    }
}

/// First key that may appear on the page, or `None` if nothing can.
fn start_key(prefix: &str, delimiter: Option<&str>, start_after: Option<&str>) -> Option<String> {
    let Some(after) = start_after else {
        return Some(prefix.to_owned());
    };
    let rolled_up = delimiter.and_then(|d| {
        let i = after.strip_prefix(prefix)?.find(d)?;
        Some(&after[..prefix.len() + i + d.len()])
    });
    let first = match rolled_up {
        // start_after lies in (or is) a common prefix an earlier page already
        // returned: skip the whole prefix, or it would be listed twice.
        Some(common) => seek_key_after_prefix(common)?,
        // The smallest string greater than start_after.
        None => format!("{after}\0"),
    };
    Some(first.max(prefix.to_owned()))
}

/// Merges `sources` into one page of a ListObjects listing: keys starting
/// with `prefix`, strictly after `start_after`, with keys containing the
/// delimiter after the prefix rolled up into common prefixes (each counted
/// once toward `max_keys`), in byte order. Keys are expected to be unique
/// across sources; if not, the lowest-indexed source's value is kept.
pub fn merge_page<T, S: SortedSource<T>>(mut sources: Vec<S>, p: &ListParams) -> Page<T> {
    let mut page = Page {
        entries: Vec::new(),
        is_truncated: false,
        next_marker: None,
    };
    let delimiter = p.delimiter.filter(|d| !d.is_empty());
    let Some(start) = start_key(p.prefix, delimiter, p.start_after) else {
        return page;
    };
    let mut heads = BinaryHeap::with_capacity(sources.len());
    for src in 0..sources.len() {
        sources[src].seek(&start);
        advance(&mut sources, src, &mut heads);
    }

    loop {
        // (let-else, not while-let: the PeekMut must not outlive `pop`.)
        let Some(top) = heads.peek_mut() else {
            break;
        };
        // Keys before `start` come from sources that ignored seek; an equal
        // key after an object is a duplicate from another source.
        let duplicate = matches!(page.entries.last(), Some(Entry::Object(k, _)) if *k == top.key);
        if top.key < start || duplicate {
            let src = PeekMut::pop(top).src;
            advance(&mut sources, src, &mut heads);
            continue;
        }
        // top.key >= start >= prefix, so a key outside the prefix is past
        // every key inside it, and so is everything after it.
        let Some(rest) = top.key.strip_prefix(p.prefix) else {
            break;
        };
        if page.entries.len() == p.max_keys {
            page.is_truncated = true;
            break;
        }
        let rollup_len = delimiter.and_then(|d| Some(p.prefix.len() + rest.find(d)? + d.len()));
        let Head {
            mut key,
            src,
            value,
        } = PeekMut::pop(top);
        let Some(len) = rollup_len else {
            advance(&mut sources, src, &mut heads);
            page.entries.push(Entry::Object(key, value));
            continue;
        };
        key.truncate(len);
        let Some(after) = seek_key_after_prefix(&key) else {
            // Nothing sorts after this prefix's keys: the listing ends here.
            page.entries.push(Entry::CommonPrefix(key));
            break;
        };
        // Drain the prefix: each source whose next key is under it jumps
        // past it (a source that ignores seek comes back here until it has).
        sources[src].seek(&after);
        advance(&mut sources, src, &mut heads);
        loop {
            let Some(next) = heads.peek_mut() else {
                break;
            };
            if !next.key.starts_with(key.as_str()) {
                break;
            }
            let src = PeekMut::pop(next).src;
            sources[src].seek(&after);
            advance(&mut sources, src, &mut heads);
        }
        page.entries.push(Entry::CommonPrefix(key));
    }

    if page.is_truncated {
        page.next_marker = page.entries.last().map(|e| e.name().to_owned());
    }
    page
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::collections::{BTreeMap, BTreeSet};
    use std::rc::Rc;

    use rand::rngs::StdRng;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};

    use super::*;

    /// Ignores seek: proves the merge does not depend on it for correctness.
    struct NoSeek(VecSource<u32>);

    impl SortedSource<u32> for NoSeek {
        fn next(&mut self) -> Option<(String, u32)> {
            self.0.next()
        }

        fn seek(&mut self, _key: &str) {}
    }

    /// Counts keys read.
    struct Counting(VecSource<u32>, Rc<Cell<usize>>);

    impl SortedSource<u32> for Counting {
        fn next(&mut self) -> Option<(String, u32)> {
            let item = self.0.next();
            self.1.set(self.1.get() + usize::from(item.is_some()));
            item
        }

        fn seek(&mut self, key: &str) {
            self.0.seek(key)
        }
    }

    fn params<'a>(
        prefix: &'a str,
        delimiter: Option<&'a str>,
        start_after: Option<&'a str>,
        max_keys: usize,
    ) -> ListParams<'a> {
        ListParams {
            prefix,
            delimiter,
            start_after,
            max_keys,
        }
    }

    /// Brute force: every key, sorted, filtered and rolled up naively.
    fn reference(all: &BTreeMap<String, u32>, p: &ListParams) -> Page<u32> {
        let delimiter = p.delimiter.filter(|d| !d.is_empty());
        let rollup = |key: &str| {
            let rest = key.strip_prefix(p.prefix)?;
            let d = delimiter?;
            let i = rest.find(d)?;
            Some(key[..p.prefix.len() + i + d.len()].to_owned())
        };
        let already_listed = p.start_after.and_then(rollup);
        let mut seen = BTreeSet::new();
        let mut entries = Vec::new();
        for (key, &value) in all {
            if !key.starts_with(p.prefix) || p.start_after.is_some_and(|s| key.as_str() <= s) {
                continue;
            }
            match rollup(key) {
                Some(common) => {
                    if Some(&common) != already_listed.as_ref() && seen.insert(common.clone()) {
                        entries.push(Entry::CommonPrefix(common));
                    }
                }
                None => entries.push(Entry::Object(key.clone(), value)),
            }
        }
        entries.sort_by(|a, b| a.name().cmp(b.name()));
        let is_truncated = entries.len() > p.max_keys;
        entries.truncate(p.max_keys);
        let next_marker = entries
            .last()
            .filter(|_| is_truncated)
            .map(|e| e.name().to_owned());
        Page {
            entries,
            is_truncated,
            next_marker,
        }
    }

    fn random_string(rng: &mut StdRng, alphabet: &[char], max_len: usize) -> String {
        let len = rng.gen_range(0..=max_len);
        (0..len).map(|_| *alphabet.choose(rng).unwrap()).collect()
    }

    struct Case {
        all: BTreeMap<String, u32>,
        partitions: Vec<Vec<(String, u32)>>,
        prefix: String,
        delimiter: Option<&'static str>,
        start_after: Option<String>,
        max_keys: usize,
    }

    impl Case {
        fn random(
            rng: &mut StdRng,
            alphabet: &[char],
            delimiters: &[Option<&'static str>],
        ) -> Case {
            let mut all = BTreeMap::new();
            for id in 0..rng.gen_range(0..40) {
                let mut key = random_string(rng, alphabet, 6);
                if key.is_empty() {
                    key.push(alphabet[0]);
                }
                all.insert(key, id);
            }
            let mut partitions = vec![Vec::new(); rng.gen_range(1..=5)];
            for (key, &id) in &all {
                let part = rng.gen_range(0..partitions.len());
                partitions[part].push((key.clone(), id));
            }
            let keys: Vec<&String> = all.keys().collect();
            let start_after = match rng.gen_range(0..4) {
                0 => None,
                1 if !keys.is_empty() => Some(keys.choose(rng).unwrap().to_string()),
                _ => Some(random_string(rng, alphabet, 5)),
            };
            Case {
                partitions,
                prefix: random_string(rng, alphabet, 2),
                delimiter: *delimiters.choose(rng).unwrap(),
                start_after,
                max_keys: if rng.gen_bool(0.1) {
                    usize::MAX
                } else {
                    rng.gen_range(0..8)
                },
                all,
            }
        }

        fn params(&self) -> ListParams<'_> {
            params(
                &self.prefix,
                self.delimiter,
                self.start_after.as_deref(),
                self.max_keys,
            )
        }

        fn sources(&self) -> Vec<VecSource<u32>> {
            let parts = self.partitions.iter().cloned();
            parts.map(VecSource::new).collect()
        }
    }

    const ASCII: [char; 4] = ['a', 'b', '/', 'c'];
    const ASCII_DELIMS: [Option<&str>; 5] = [None, Some("/"), Some("b"), Some("/c"), Some("")];
    // Chars around the surrogate gap and at char::MAX stress seek_key_after_prefix.
    const WIDE: [char; 5] = ['a', '/', '\u{D7FF}', '\u{E000}', char::MAX];
    const WIDE_DELIMS: [Option<&str>; 3] = [None, Some("/"), Some("\u{10FFFF}")];

    fn check_against_reference(alphabet: &[char], delimiters: &[Option<&'static str>], seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        for case_no in 0..4000 {
            let case = Case::random(&mut rng, alphabet, delimiters);
            let p = case.params();
            let want = reference(&case.all, &p);
            let got = merge_page(case.sources(), &p);
            assert_eq!(got, want, "case {case_no}: {:?}", case.all.keys());
            let no_seek = case.sources().into_iter().map(NoSeek).collect();
            assert_eq!(merge_page(no_seek, &p), want, "case {case_no} without seek");
        }
    }

    #[test]
    fn matches_reference_ascii() {
        check_against_reference(&ASCII, &ASCII_DELIMS, 1);
    }

    #[test]
    fn matches_reference_wide_chars() {
        check_against_reference(&WIDE, &WIDE_DELIMS, 2);
    }

    fn check_paging(alphabet: &[char], delimiters: &[Option<&'static str>], seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        for case_no in 0..2000 {
            let case = Case::random(&mut rng, alphabet, delimiters);
            let page_size = rng.gen_range(1..=5);
            let mut p = case.params();
            p.max_keys = usize::MAX;
            let want = reference(&case.all, &p).entries;
            let mut got = Vec::new();
            let mut marker = case.start_after.clone();
            for _ in 0..=want.len() {
                let p = params(&case.prefix, case.delimiter, marker.as_deref(), page_size);
                let page = merge_page(case.sources(), &p);
                if !page.is_truncated {
                    assert!(page.entries.len() <= page_size);
                    got.extend(page.entries);
                    break;
                }
                assert_eq!(page.entries.len(), page_size);
                got.extend(page.entries);
                marker = page.next_marker;
            }
            assert_eq!(got, want, "case {case_no}: {:?}", case.all.keys());
        }
    }

    #[test]
    fn paging_enumerates_reference_exactly() {
        check_paging(&ASCII, &ASCII_DELIMS, 3);
    }

    #[test]
    fn paging_wide_chars() {
        check_paging(&WIDE, &WIDE_DELIMS, 4);
    }

    fn vec_sources(parts: &[&[&str]]) -> Vec<VecSource<u32>> {
        let keyed = |keys: &&[&str]| keys.iter().map(|k| (k.to_string(), 0)).collect();
        parts.iter().map(|p| VecSource::new(keyed(p))).collect()
    }

    fn names(page: &Page<u32>) -> Vec<&str> {
        page.entries.iter().map(Entry::name).collect()
    }

    #[test]
    fn continuing_from_common_prefix_does_not_repeat_it() {
        let parts: &[&[&str]] = &[&["a/b", "a/d", "c"], &["a/c", "b", "a"]];
        let p = params("", Some("/"), None, 2);
        let first = merge_page(vec_sources(parts), &p);
        assert_eq!(names(&first), ["a", "a/"]);
        assert_eq!(first.next_marker.as_deref(), Some("a/"));
        assert!(first.is_truncated);
        let p = params("", Some("/"), Some("a/"), 2);
        let second = merge_page(vec_sources(parts), &p);
        assert_eq!(names(&second), ["b", "c"]);
        assert!(!second.is_truncated);
        // start_after inside a common prefix also skips it.
        let p = params("", Some("/"), Some("a/b"), 10);
        assert_eq!(names(&merge_page(vec_sources(parts), &p)), ["b", "c"]);
    }

    #[test]
    fn max_keys_zero_reports_whether_entries_exist() {
        let parts: &[&[&str]] = &[&["x/1"], &[]];
        let page = merge_page(vec_sources(parts), &params("x", None, None, 0));
        assert!(page.entries.is_empty() && page.is_truncated && page.next_marker.is_none());
        let page = merge_page(vec_sources(parts), &params("y", None, None, 0));
        assert!(page.entries.is_empty() && !page.is_truncated);
    }

    #[test]
    fn duplicate_keys_keep_lowest_source() {
        let sources = vec![
            VecSource::new(vec![("k".to_string(), 0), ("m".to_string(), 0)]),
            VecSource::new(vec![("k".to_string(), 1), ("l".to_string(), 1)]),
            VecSource::new(vec![("k".to_string(), 2)]),
        ];
        let page = merge_page(sources, &params("", None, None, 10));
        let want = [("k", 0), ("l", 1), ("m", 0)].map(|(k, v)| Entry::Object(k.to_string(), v));
        assert_eq!(page.entries, want);
    }

    #[test]
    fn rolled_up_prefix_is_skipped_by_seeking() {
        let reads = Rc::new(Cell::new(0));
        let sources: Vec<Counting> = (0..4)
            .map(|s| {
                let mut keys: Vec<(String, u32)> =
                    (0..5000).map(|i| (format!("a/{s}-{i:05}"), 0)).collect();
                keys.push((format!("b{s}"), s));
                Counting(VecSource::new(keys), Rc::clone(&reads))
            })
            .collect();
        let page = merge_page(sources, &params("", Some("/"), None, 3));
        assert_eq!(names(&page), ["a/", "b0", "b1"]);
        assert!(page.is_truncated);
        // 4 heads under "a/", then one read per source after its seek.
        assert!(reads.get() <= 8, "read {} keys", reads.get());
    }

    #[test]
    fn boxed_dyn_sources() {
        let sources: Vec<Box<dyn SortedSource<u32>>> = vec![
            Box::new(NoSeek(VecSource::new(vec![("b".to_string(), 1)]))),
            Box::new(VecSource::new(vec![("a".to_string(), 0)])),
        ];
        let page = merge_page(sources, &params("", None, None, 5));
        assert_eq!(names(&page), ["a", "b"]);
    }

    #[test]
    fn seek_key_after_prefix_cases() {
        assert_eq!(seek_key_after_prefix(""), None);
        assert_eq!(seek_key_after_prefix("ab").as_deref(), Some("ac"));
        assert_eq!(seek_key_after_prefix("a/").as_deref(), Some("a0"));
        assert_eq!(
            seek_key_after_prefix("a\u{D7FF}").as_deref(),
            Some("a\u{E000}")
        );
        assert_eq!(seek_key_after_prefix("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(seek_key_after_prefix("\u{10FFFF}\u{10FFFF}"), None);
        let mut rng = StdRng::seed_from_u64(5);
        for _ in 0..2000 {
            let prefix = random_string(&mut rng, &WIDE, 3);
            let tail = random_string(&mut rng, &WIDE, 3);
            let other = random_string(&mut rng, &WIDE, 4);
            let Some(after) = seek_key_after_prefix(&prefix) else {
                assert!(prefix.chars().all(|c| c == char::MAX));
                continue;
            };
            assert!(after > format!("{prefix}{tail}"));
            // Nothing lies strictly between the prefix's keys and `after`.
            if other < after {
                assert!(other.starts_with(&prefix) || other < prefix);
            }
        }
    }

    #[test]
    fn vec_source_seek_and_sort() {
        let mut s = VecSource::new(vec![
            ("c".to_string(), 3),
            ("a".to_string(), 1),
            ("b".to_string(), 2),
        ]);
        s.seek("b");
        assert_eq!(s.next(), Some(("b".to_string(), 2)));
        s.seek("a");
        assert_eq!(s.next(), Some(("c".to_string(), 3)));
        assert_eq!(s.next(), None);
    }
}
