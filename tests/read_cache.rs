//! The read cache serves hot records from memory and never serves stale
//! bytes: not after an overwrite, a delete, compaction moving the records,
//! nor when the cache is smaller than what is read.

mod common;

use common::*;

use cairn::engine::layout::Layout;
use cairn::engine::{EngineError, Shared};

const SIZES: &[usize] = &[4096, 1 << 20, (3 << 20) + 17];

fn counts(s: &Shared) -> (u64, u64) {
    (
        s.stats.read_cache_hits.sum(),
        s.stats.read_cache_misses.sum(),
    )
}

#[test]
fn a_second_read_is_a_hit_and_overwrites_deletes_and_compaction_are_never_stale() {
    let d = drives(6);
    let mut cfg = config(&d, Some(Layout { data: 4, parity: 2 }));
    cfg.read_cache = 64 << 20;
    // Small segments, so that the overwrites below leave sealed ones to compact.
    cfg.segment_max = 1 << 20;
    run_with(&cfg, true, |e, shared| async move {
        e.create_bucket("rcache").await.unwrap();
        for (i, &size) in SIZES.iter().enumerate() {
            let key = format!("k{i}");
            let first = data(size, i as u64);
            put(&e, "rcache", &key, &first).await;
            assert!(get(&e, "rcache", &key).await.unwrap() == first);
            let before = counts(&shared);
            assert!(get(&e, "rcache", &key).await.unwrap() == first);
            let after = counts(&shared);
            assert_eq!(after.1, before.1, "size {size}: the second read missed");
            assert!(
                after.0 > before.0,
                "size {size}: the second read hit nothing"
            );
            // Ranges are cut from the cached records too.
            let (a, b) = (size as u64 / 3, size as u64 - 1);
            assert!(
                get_range(&e, "rcache", &key, a, b).await.unwrap() == first[a as usize..b as usize]
            );

            let second = data(size, 100 + i as u64);
            put(&e, "rcache", &key, &second).await;
            assert!(
                get(&e, "rcache", &key).await.unwrap() == second,
                "size {size}: stale bytes after an overwrite"
            );
        }
        // Dead records everywhere: compaction moves the live ones.
        for round in 0..4u64 {
            for (i, &size) in SIZES.iter().enumerate() {
                put(
                    &e,
                    "rcache",
                    &format!("k{i}"),
                    &data(size, 1000 * round + i as u64),
                )
                .await;
            }
        }
        for (i, _) in SIZES.iter().enumerate() {
            get(&e, "rcache", &format!("k{i}")).await.unwrap();
        }
        let report = e.compact(0.1).await.unwrap();
        assert!(report.segments_removed > 0, "{report:?}");
        for (i, &size) in SIZES.iter().enumerate() {
            assert!(
                get(&e, "rcache", &format!("k{i}")).await.unwrap() == data(size, 3000 + i as u64),
                "size {size}: wrong bytes after compaction"
            );
        }
        e.delete("rcache", "k0", None, false).await.unwrap();
        assert!(matches!(
            get(&e, "rcache", "k0").await,
            Err(EngineError::NoSuchKey)
        ));
    });
}

#[test]
fn a_cache_smaller_than_the_working_set_returns_exact_bytes() {
    let d = drives(6);
    let mut cfg = config(&d, Some(Layout { data: 4, parity: 2 }));
    // Room for about 3 of the 12 objects' shards.
    cfg.read_cache = 3 << 20;
    run_with(&cfg, true, |e, shared| async move {
        e.create_bucket("rcache").await.unwrap();
        let objs: Vec<Vec<u8>> = (0..12).map(|i| data(1 << 20, i)).collect();
        for (i, o) in objs.iter().enumerate() {
            put(&e, "rcache", &format!("o{i}"), o).await;
        }
        for round in 0..3 {
            for (i, o) in objs.iter().enumerate() {
                assert!(
                    get(&e, "rcache", &format!("o{i}")).await.unwrap() == *o,
                    "object {i}, round {round}"
                );
            }
        }
        let (hits, misses) = counts(&shared);
        // Cycling through 4x the cache: least recently used means misses.
        assert!(misses >= 3 * 12 * 4, "hits {hits}, misses {misses}");
    });
}
