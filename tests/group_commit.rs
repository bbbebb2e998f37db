//! Concurrent durable writes share fdatasyncs: one core's small PUTs, each
//! acknowledged only once its commit record is flushed on every copy's drive,
//! cost one flush per record when they come one at a time and far fewer
//! when many are in flight; nothing is lost either way.

mod common;

use std::rc::Rc;

use futures_util::future::join_all;

use common::*;

use cairn::engine::{Engine, MemBody, PutOptions};

const SIZE: usize = 4096;

/// (flushes, record writes they made durable) so far.
fn flushed(e: &Engine) -> (u64, u64) {
    let f = &e.shared.stats.flushes;
    (f.flushes.sum(), f.writes.sum())
}

async fn put(e: &Rc<Engine>, i: usize) {
    e.put(
        "group",
        &format!("k{i}"),
        PutOptions::default(),
        &mut MemBody::new(data(SIZE, i as u64)),
    )
    .await
    .unwrap();
}

#[test]
fn flushes_per_write_fall_as_writes_overlap() {
    let d = drives(4);
    let cfg = config(&d, None);
    let (alone, together) = run(&cfg, |e| async move {
        e.create_bucket("group").await.unwrap();
        let before = flushed(&e);
        for i in 0..32 {
            put(&e, i).await;
        }
        let mid = flushed(&e);
        join_all((32..288).map(|i| {
            let e = e.clone();
            async move { put(&e, i).await }
        }))
        .await;
        let after = flushed(&e);
        let ratio = |a: (u64, u64), b: (u64, u64)| (b.1 - a.1) as f64 / (b.0 - a.0) as f64;
        (ratio(before, mid), ratio(mid, after))
    });
    // One at a time, every record waits for a flush of its own file.
    assert!(
        (alone - 1.0).abs() < 0.01,
        "sequential PUTs: {alone} writes per flush"
    );
    assert!(
        together > 2.0,
        "256 PUTs in flight: only {together} writes per flush"
    );
    run(&cfg, |e| async move {
        for i in 0..288 {
            let mut got = e.get("group", &format!("k{i}"), None).await.unwrap();
            assert_eq!(got.read_all().await.unwrap(), data(SIZE, i as u64));
        }
    });
}
