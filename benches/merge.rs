//! One 1,000-entry listing page merged from 64 sources.

use std::time::Duration;

use cairn::engine::merge::{merge_page, ListParams, VecSource};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const SOURCES: usize = 64;
const PAGE: usize = 1000;

/// Spreads `keys` round-robin over the sources, like hashed partitions.
fn partition(keys: impl Iterator<Item = String>) -> Vec<Vec<(String, u64)>> {
    let mut parts = vec![Vec::new(); SOURCES];
    for (i, key) in keys.enumerate() {
        parts[i % SOURCES].push((key, i as u64));
    }
    parts
}

fn sources(parts: &[Vec<(String, u64)>]) -> Vec<VecSource<u64>> {
    parts.iter().cloned().map(VecSource::new).collect()
}

fn merge(c: &mut Criterion) {
    let mut group = c.benchmark_group("merge");
    group.throughput(Throughput::Elements(PAGE as u64));

    // Flat listing: 4,096 objects, first 1,000 returned.
    let flat = partition((0..4096).map(|i| format!("photos/{i:08}.jpg")));
    let p = ListParams {
        prefix: "photos/",
        delimiter: None,
        start_after: None,
        max_keys: PAGE,
    };
    group.bench_function("64_sources/flat", |b| {
        b.iter_batched(
            || sources(&flat),
            |s| assert_eq!(merge_page(s, &p).entries.len(), PAGE),
            BatchSize::LargeInput,
        )
    });

    // Delimited: 1,100 "directories" of 16 objects each; the page is 1,000
    // common prefixes, each skipped by seeking.
    let dirs = (0..1100).flat_map(|d| (0..16).map(move |f| format!("d{d:05}/f{f:02}")));
    let nested = partition(dirs);
    let p = ListParams {
        delimiter: Some("/"),
        prefix: "",
        ..p
    };
    group.bench_function("64_sources/common_prefixes", |b| {
        b.iter_batched(
            || sources(&nested),
            |s| assert_eq!(merge_page(s, &p).entries.len(), PAGE),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = merge
}
criterion_main!(benches);
