//! A stream's next segment is opened (created, preallocated, zero-filled and
//! synced) while the active one still has room, so writes cross into it
//! without waiting for an open; an empty segment opened ahead of a restart
//! or a shutdown costs nothing but a later compaction.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;

use cairn::engine::segment::{list_segments, stream_of_segment};
use cairn::engine::{MemBody, PutOptions};

const OBJECTS: usize = 600;
const SIZE: usize = 4096;

fn small_segments(drive: &std::path::Path) -> BTreeSet<u32> {
    list_segments(drive)
        .expect("list segments")
        .into_iter()
        .filter(|&id| stream_of_segment(id).is_multiple_of(2))
        .collect()
}

fn key(i: usize) -> String {
    format!("k{i:04}")
}

#[test]
fn next_segment_is_ready_before_the_active_one_fills() {
    let d = drives(2);
    let mut cfg = config(&d, None);
    // Each 4 KiB object's commit record takes 8 KiB: 128 to a segment.
    cfg.segment_max = 1 << 20;
    let drive0 = d.paths[0].clone();
    // For every Small segment on drive 0: the object whose put first saw
    // its file.
    let appeared: BTreeMap<u32, usize> = run(&cfg, |e| async move {
        e.create_bucket("rot").await.unwrap();
        let mut appeared = BTreeMap::new();
        for id in small_segments(&drive0) {
            appeared.insert(id, 0);
        }
        for i in 0..OBJECTS {
            e.put(
                "rot",
                &key(i),
                PutOptions::default(),
                &mut MemBody::new(data(SIZE, i as u64)),
            )
            .await
            .unwrap();
            for id in small_segments(&drive0) {
                appeared.entry(id).or_insert(i);
            }
        }
        appeared
    });
    // The object whose commit record came first in each segment.
    let mut first_in: BTreeMap<u32, usize> = BTreeMap::new();
    for r in scan_records(&d.paths[..1], cfg.partitions) {
        if let Some(i) = r.header.key.strip_prefix('k').and_then(|n| n.parse().ok()) {
            let e = first_in.entry(r.segment).or_insert(i);
            *e = (*e).min(i);
        }
    }
    let rollovers: Vec<(u32, usize, usize)> = first_in
        .iter()
        .filter(|(_, &first)| first > 0)
        .map(|(&id, &first)| (id, first, appeared[&id]))
        .collect();
    assert!(
        rollovers.len() >= 3,
        "{OBJECTS} objects should fill several 1 MiB segments: {first_in:?}"
    );
    for &(id, first, seen) in &rollovers {
        assert!(
            seen < first,
            "segment {id:#x} got its first record from object {first} but its file \
             appeared only with object {seen}: it was not opened ahead"
        );
    }
    // The segment opened last is empty if its predecessor had room left:
    // everything reads back after a restart and after a rebuild.
    let check = |e: std::rc::Rc<cairn::engine::Engine>| async move {
        for i in (0..OBJECTS).step_by(7) {
            let mut got = e.get("rot", &key(i), None).await.unwrap();
            assert_eq!(
                got.read_all().await.unwrap(),
                data(SIZE, i as u64),
                "{}",
                key(i)
            );
        }
        assert_eq!(list_all(&e, "rot").len(), OBJECTS);
    };
    run(&cfg, check);
    lose_index(&d.paths);
    run(&cfg, check);
}
