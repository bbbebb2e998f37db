//! One drive filling up before the others (a smaller one): with more drives
//! than k+m the shards its rotation gives it go to a drive with room, so
//! writes keep full redundancy; with exactly k+m the write goes on short of
//! that shard, which a repair waiting for the drive restores. Either way
//! every object reads back byte-exact, after a restart and after an index
//! rebuilt from the drives.

mod common;

use std::rc::Rc;

use common::small_fs::SmallFs;
use common::*;

use cairn::engine::layout::Layout;
use cairn::engine::meta::DataLoc;
use cairn::engine::{Engine, EngineConfig};

const BUCKET: &str = "fill";
/// Erasure-coded (above `inline_max`): two 128 KiB data shards.
const SIZE: usize = 256 << 10;
/// Objects written once the small drive is full.
const AFTER_FULL: u64 = 40;
/// A bound on the objects it takes to fill the small drive.
const MAX_FILL: u64 = 2000;

/// `n` drives, the last on a small filesystem (the index stays on drive 0).
fn setup(n: usize, fs: &SmallFs) -> (Drives, EngineConfig) {
    let mut d = drives(n - 1);
    let small = fs.mnt().join("disk-small");
    std::fs::create_dir_all(&small).unwrap();
    d.paths.push(small);
    let mut cfg = config(&d, Some(Layout { data: 2, parity: 2 }));
    cfg.partitions = 4;
    cfg.segment_max = 4 << 20;
    cfg.space_reserve = 8 << 20;
    (d, cfg)
}

fn key(i: u64) -> String {
    format!("o{i:05}")
}

/// Writes until the small drive is full, then `AFTER_FULL` more: every
/// write must succeed. Returns (objects written, the first written after).
/// Once full, a ballast file takes what is left beside the drive: the
/// drive gives back its segments' preallocated tails when it fills, which
/// could otherwise lift it out of the full state between writes.
async fn fill(e: Rc<Engine>, small: usize, fs: &SmallFs) -> (u64, u64) {
    e.create_bucket(BUCKET).await.unwrap();
    let mut i = 0;
    while !e.shared.space.is_full(small) {
        assert!(i < MAX_FILL, "drive {small} never filled up");
        put(&e, BUCKET, &key(i), &data(SIZE, i)).await;
        i += 1;
        if i % 8 == 0 {
            e.shared.space.refresh(&[small]);
        }
    }
    cairn::runtime::sleep(std::time::Duration::from_millis(300)).await;
    fs.leave_free(1 << 20);
    e.shared.space.refresh(&[small]);
    assert!(e.shared.space.is_full(small));
    let first_after = i;
    for _ in 0..AFTER_FULL {
        put(&e, BUCKET, &key(i), &data(SIZE, i)).await;
        i += 1;
    }
    assert!(e.shared.space.is_full(small));
    (i, first_after)
}

/// Shards per stripe of an object, and whether one is on `drive`.
fn shards_of(e: &Engine, k: &str, drive: u16) -> (Vec<usize>, bool) {
    let entry = e.lookup(BUCKET, k, None).unwrap().unwrap();
    let DataLoc::Stripes(stripes) = entry.meta.data else {
        panic!("{k}: not erasure-coded");
    };
    let on = stripes.iter().flatten().flatten().any(|l| l.drive == drive);
    (
        stripes.iter().map(|s| s.iter().flatten().count()).collect(),
        on,
    )
}

async fn read_all(e: Rc<Engine>, n: u64) {
    for i in 0..n {
        assert_eq!(
            get(&e, BUCKET, &key(i)).await.unwrap(),
            data(SIZE, i),
            "{}",
            key(i)
        );
    }
}

#[test]
fn with_more_drives_than_k_plus_m_a_full_drive_costs_no_redundancy() {
    let Some(fs) = SmallFs::create(48) else {
        return;
    };
    let (d, cfg) = setup(5, &fs);
    let small = 4;
    let fs = &fs;
    let (n, first_after) = run(&cfg, |e| async move {
        let (n, first_after) = fill(e.clone(), small, fs).await;
        for i in first_after..n {
            let (shards, on_small) = shards_of(&e, &key(i), small as u16);
            assert!(shards.iter().all(|&s| s == 4), "{}: {shards:?}", key(i));
            assert!(!on_small, "{}: a shard went to the full drive", key(i));
        }
        read_all(e, n).await;
        (n, first_after)
    });
    assert!(first_after > 0);
    run(&cfg, |e| read_all(e, n));
    // Rebuilt from the drives: shards are found where they are.
    lose_index(&d.paths);
    run(&cfg, |e| async move {
        for i in first_after..n {
            let (shards, _) = shards_of(&e, &key(i), small as u16);
            assert!(shards.iter().all(|&s| s == 4), "{}: {shards:?}", key(i));
        }
        read_all(e, n).await;
    });
}

#[test]
fn with_exactly_k_plus_m_drives_a_full_drive_misses_its_shards_until_repaired() {
    let Some(fs) = SmallFs::create(48) else {
        return;
    };
    let (d, cfg) = setup(4, &fs);
    let small = 3;
    let fs = &fs;
    let (n, first_after) = run(&cfg, |e| async move {
        let (n, first_after) = fill(e.clone(), small, fs).await;
        let mut short = 0;
        for i in first_after..n {
            let (shards, on_small) = shards_of(&e, &key(i), small as u16);
            assert!(!on_small, "{}: a shard went to the full drive", key(i));
            short += shards.iter().filter(|&&s| s == 3).count();
        }
        // Every object has a shard homed on the full drive: all are short
        // by one, and each waits in the repair queue for the drive.
        assert_eq!(short as u64, AFTER_FULL);
        // (Notes reach the index through the core's queue: give the last
        // ones a moment.)
        let queued = |e: &Engine| -> u64 {
            e.shared
                .indexes
                .iter()
                .map(|i| i.repairs_len().unwrap())
                .sum()
        };
        for _ in 0..100 {
            if queued(&e) >= AFTER_FULL {
                break;
            }
            cairn::runtime::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(queued(&e) >= AFTER_FULL, "{} repairs queued", queued(&e));
        read_all(e, n).await;
        (n, first_after)
    });
    assert!(first_after > 0);
    run(&cfg, |e| read_all(e, n));
    lose_index(&d.paths);
    run(&cfg, |e| read_all(e, n));
}
