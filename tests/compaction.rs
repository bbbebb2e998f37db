//! Compaction reclaims dead space without losing or changing a live byte,
//! keeps deletes deleted (tombstones move with it), and survives a restart
//! and an index rebuild.

mod common;

use common::*;

use cairn::engine::merge::ListParams;
use cairn::engine::{EngineError, MemBody, PutOptions};

fn disk_usage(d: &Drives) -> u64 {
    fn walk(p: &std::path::Path) -> u64 {
        let mut n = 0;
        for e in std::fs::read_dir(p).unwrap() {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                n += walk(&e.path());
            } else if e.path().extension().is_some_and(|x| x == "seg") {
                n += m.len();
            }
        }
        n
    }
    walk(d.dir.path())
}

#[test]
fn compaction_reclaims_dead_space_and_keeps_live_data() {
    let d = drives(4);
    let mut cfg = config(&d, None);
    cfg.partitions = 2;
    cfg.segment_max = 4 << 20;
    // Generation g of key k has content data(size, k * 100 + g).
    let sizes = [3000usize, 700_000, 1_300_000];
    run(&cfg, |e| async move {
        e.create_bucket("cmp").await.unwrap();
        for g in 0..4u64 {
            for k in 0..12u64 {
                let size = sizes[(k % 3) as usize];
                e.put(
                    "cmp",
                    &format!("k{k}"),
                    PutOptions::default(),
                    &mut MemBody::new(data(size, k * 100 + g)),
                )
                .await
                .unwrap();
            }
        }
        for k in [1u64, 5] {
            e.delete("cmp", &format!("k{k}"), None, false)
                .await
                .unwrap();
        }
    });
    let before = disk_usage(&d);
    let check = |e: std::rc::Rc<cairn::engine::Engine>| async move {
        for k in 0..12u64 {
            let r = e.get("cmp", &format!("k{k}"), None).await;
            if k == 1 || k == 5 {
                assert!(matches!(r, Err(EngineError::NoSuchKey)), "k{k} came back");
            } else {
                let size = sizes[(k % 3) as usize];
                assert_eq!(
                    r.unwrap().read_all().await.unwrap(),
                    data(size, k * 100 + 3),
                    "k{k}"
                );
            }
        }
        let page = e
            .list(
                "cmp",
                &ListParams {
                    prefix: "",
                    delimiter: None,
                    start_after: None,
                    max_keys: 100,
                },
            )
            .unwrap();
        assert_eq!(page.entries.len(), 10);
        for idx in &e.shared.indexes {
            let drift = idx.refs_mismatch().unwrap();
            assert!(drift.is_empty(), "partition {}: {drift:?}", idx.partition);
        }
    };
    let report = run(&cfg, |e| async move {
        let r = e.compact(0.3).await.unwrap();
        // The pass is counted for /metrics.
        let st = &e.shared.stats;
        assert!(counter(&st.compaction_runs) >= 1);
        assert!(counter(&st.compaction_segments_removed) >= r.segments_removed);
        assert!(counter(&st.compaction_bytes_reclaimed) >= r.bytes_reclaimed);
        check(e).await;
        r
    });
    assert!(report.segments_removed > 0, "{report:?}");
    assert!(report.bytes_reclaimed > report.bytes_moved, "{report:?}");
    let after = disk_usage(&d);
    assert!(
        after < before,
        "segments use {after} bytes after compaction, {before} before"
    );
    // Restart, then rebuild the index from the drives: same content, and the
    // deleted keys stay deleted.
    run(&cfg, check);
    lose_index(&d.paths);
    run(&cfg, check);
}

/// Not run by default: the figures in perf/ENGINE.md ("Compaction and the
/// reverse map"). One partition of `CAIRN_COMPACT_OBJECTS` (default 40,000)
/// small objects, half deleted, then one compaction pass timed.
#[test]
#[ignore = "a measurement: cargo test --test compaction compaction_time -- --ignored --nocapture"]
fn compaction_time_on_a_partition_with_many_objects() {
    let n: u64 = std::env::var("CAIRN_COMPACT_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40_000);
    let d = drives(4);
    let mut cfg = config(&d, None);
    cfg.partitions = 1;
    cfg.segment_max = 4 << 20;
    let started = std::time::Instant::now();
    run(&cfg, |e| async move {
        e.create_bucket("many").await.unwrap();
        for i in 0..n {
            let body = MemBody::new(data(100, i));
            e.put("many", &format!("k{i:07}"), PutOptions::default(), &mut {
                body
            })
            .await
            .unwrap();
        }
        for i in (0..n).step_by(2) {
            e.delete("many", &format!("k{i:07}"), None, false)
                .await
                .unwrap();
        }
    });
    eprintln!(
        "{n} objects written, half deleted in {:?}",
        started.elapsed()
    );
    run(&cfg, |e| async move {
        // What compaction asks per segment: who refers to it.
        let idx = &e.shared.indexes[0];
        let segs: Vec<(u16, u32)> = idx
            .segment_live()
            .unwrap()
            .into_iter()
            .map(|s| s.0)
            .collect();
        let t = std::time::Instant::now();
        let refs: usize = segs
            .iter()
            .map(|&(d, id)| idx.refs_in_segment(d, id).unwrap().len())
            .sum();
        let per = t.elapsed() / segs.len().max(1) as u32;
        eprintln!(
            "refs of {} segments ({refs} holders): {:?}, {per:?} per segment",
            segs.len(),
            t.elapsed()
        );
        let t = std::time::Instant::now();
        let r = e.compact(0.3).await.unwrap();
        eprintln!(
            "compaction of {n} objects: {:?}, {} segments removed, {} MiB moved",
            t.elapsed(),
            r.segments_removed,
            r.bytes_moved >> 20
        );
        assert!(r.segments_removed > 0, "{r:?}");
    });
}
