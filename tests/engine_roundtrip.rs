//! The engine stores and returns exact bytes: sizes around every boundary
//! (inline threshold, stripe, segment), ranges, overwrites, deletes, long
//! keys, listings, restarts.

mod common;

use common::*;

use cairn::engine::layout::Layout;
use cairn::engine::merge::{Entry, ListParams};
use cairn::engine::{EngineError, MemBody, PutOptions};

const SIZES: &[usize] = &[0, 1, 4096, (64 << 10) + 1, 1 << 20, (17 << 20) + 3];

fn roundtrip(n_drives: usize, layout: Layout) {
    let d = drives(n_drives);
    let cfg = config(&d, Some(layout));
    run(&cfg, |e| async move {
        e.create_bucket("bkt").await.unwrap();
        for (i, &size) in SIZES.iter().enumerate() {
            let body = data(size, i as u64);
            let key = format!("obj/{size}");
            let info = e
                .put(
                    "bkt",
                    &key,
                    PutOptions::default(),
                    &mut MemBody::new(body.clone()),
                )
                .await
                .unwrap();
            assert_eq!(info.size, size as u64);
            assert_eq!(info.etag, md5_hex(&body));
            let got = e
                .get("bkt", &key, None)
                .await
                .unwrap()
                .read_all()
                .await
                .unwrap();
            assert!(got == body, "size {size}: bytes differ");
            // Ranges: first byte, last byte, across a stripe boundary, middle.
            if size > 0 {
                for (a, b) in [
                    (0, 1),
                    (size - 1, size),
                    (size / 3, size / 3 * 2 + 1),
                    (0, size),
                ] {
                    let (a, b) = (a as u64, (b as u64).min(size as u64));
                    let got = e
                        .get("bkt", &key, Some((a, b)))
                        .await
                        .unwrap()
                        .read_all()
                        .await
                        .unwrap();
                    assert!(
                        got == body[a as usize..b as usize],
                        "size {size} range {a}..{b}"
                    );
                }
            }
            let head = e.head("bkt", &key).unwrap();
            assert_eq!(head.meta.size, size as u64);
        }
        if SIZES.len() > 1 {
            let big = (17u64 << 20) + 3;
            let got = e
                .get("bkt", "obj/17825795", Some(((1 << 20) - 5, (1 << 20) + 5)))
                .await
                .unwrap()
                .read_all()
                .await
                .unwrap();
            assert_eq!(got, data(big as usize, 5)[(1 << 20) - 5..(1 << 20) + 5]);
        }
    });
}

#[test]
fn round_trip_4_plus_2() {
    roundtrip(6, Layout { data: 4, parity: 2 });
}

#[test]
fn round_trip_2_plus_2() {
    roundtrip(4, Layout { data: 2, parity: 2 });
}

#[test]
fn round_trip_mirror_and_single_drive() {
    roundtrip(2, Layout { data: 1, parity: 1 });
    roundtrip(1, Layout { data: 1, parity: 0 });
}

#[test]
fn overwrite_delete_and_missing() {
    let d = drives(4);
    run(&config(&d, None), |e| async move {
        assert!(matches!(
            e.put(
                "nob",
                "k",
                PutOptions::default(),
                &mut MemBody::new(vec![1u8])
            )
            .await,
            Err(EngineError::NoSuchBucket)
        ));
        e.create_bucket("bk1").await.unwrap();
        assert!(matches!(
            e.create_bucket("bk1").await,
            Err(EngineError::BucketExists)
        ));
        assert!(matches!(
            e.create_bucket("Bad_Name").await,
            Err(EngineError::InvalidBucketName)
        ));
        for v in 0..3u64 {
            let size = [10usize, 2 << 20, 100][v as usize];
            e.put(
                "bk1",
                "k",
                PutOptions::default(),
                &mut MemBody::new(data(size, v)),
            )
            .await
            .unwrap();
            assert_eq!(
                e.get("bk1", "k", None)
                    .await
                    .unwrap()
                    .read_all()
                    .await
                    .unwrap(),
                data(size, v)
            );
        }
        assert!(matches!(
            e.delete_bucket("bk1").await,
            Err(EngineError::BucketNotEmpty)
        ));
        e.delete("bk1", "k", None, false).await.unwrap();
        e.delete("bk1", "k", None, false).await.unwrap();
        assert!(matches!(
            e.get("bk1", "k", None).await,
            Err(EngineError::NoSuchKey)
        ));
        e.delete_bucket("bk1").await.unwrap();
        assert!(!e.bucket_exists("bk1"));
    });
}

#[test]
fn metadata_is_kept() {
    let d = drives(4);
    run(&config(&d, None), |e| async move {
        e.create_bucket("meta").await.unwrap();
        let opts = PutOptions {
            content_type: Some("image/png".into()),
            headers: vec![("cache-control".into(), "max-age=60".into())],
            user_meta: vec![("color".into(), "blue".into())],
            tags: vec![("team".into(), "storage".into())],
            ..Default::default()
        };
        e.put("meta", "x", opts, &mut MemBody::new(data(3 << 20, 1)))
            .await
            .unwrap();
        let h = e.head("meta", "x").unwrap();
        assert_eq!(h.meta.content_type.as_deref(), Some("image/png"));
        assert_eq!(
            h.meta.user_meta,
            vec![("color".to_string(), "blue".to_string())]
        );
        assert_eq!(h.meta.headers[0].1, "max-age=60");
        assert_eq!(h.meta.tags, vec![("team".into(), "storage".into())]);
    });
}

#[test]
fn keys_of_1024_bytes() {
    let d = drives(4);
    run(&config(&d, None), |e| async move {
        e.create_bucket("long").await.unwrap();
        let key = "k".repeat(1000) + &"é".repeat(12);
        assert_eq!(key.len(), 1024);
        e.put(
            "long",
            &key,
            PutOptions::default(),
            &mut MemBody::new(data(5000, 1)),
        )
        .await
        .unwrap();
        let other = "z".repeat(1024);
        e.put(
            "long",
            &other,
            PutOptions::default(),
            &mut MemBody::new(data(2 << 20, 2)),
        )
        .await
        .unwrap();
        assert_eq!(
            e.get("long", &other, None)
                .await
                .unwrap()
                .read_all()
                .await
                .unwrap(),
            data(2 << 20, 2)
        );
        assert_eq!(
            e.get("long", &key, None)
                .await
                .unwrap()
                .read_all()
                .await
                .unwrap(),
            data(5000, 1)
        );
        let page = e
            .list(
                "long",
                &ListParams {
                    prefix: "",
                    delimiter: None,
                    start_after: None,
                    max_keys: 10,
                },
            )
            .unwrap();
        assert_eq!(page.entries.len(), 2);
        let too_long = "k".repeat(1025);
        assert!(matches!(
            e.put(
                "long",
                &too_long,
                PutOptions::default(),
                &mut MemBody::new(vec![1u8])
            )
            .await,
            Err(EngineError::KeyTooLong)
        ));
    });
}

#[test]
fn listing_merges_partitions_with_prefixes_and_pages() {
    let d = drives(4);
    run(&config(&d, None), |e| async move {
        e.create_bucket("list").await.unwrap();
        let mut keys = Vec::new();
        for dir in ["a", "b/x", "b/y", "c"] {
            for i in 0..40 {
                keys.push(format!("{dir}/{i:03}"));
            }
        }
        keys.push("top".into());
        for k in &keys {
            e.put(
                "list",
                k,
                PutOptions::default(),
                &mut MemBody::new(k.clone().into_bytes()),
            )
            .await
            .unwrap();
        }
        keys.sort();
        // Paging with max-keys 7 enumerates every key once, in order.
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = e
                .list(
                    "list",
                    &ListParams {
                        prefix: "",
                        delimiter: None,
                        start_after: after.as_deref(),
                        max_keys: 7,
                    },
                )
                .unwrap();
            for en in &page.entries {
                if let Entry::Object(k, meta) = en {
                    assert_eq!(meta.size as usize, k.len());
                    seen.push(k.clone());
                }
            }
            if !page.is_truncated {
                break;
            }
            after = page.next_marker.clone();
        }
        assert_eq!(seen, keys);
        // Delimiter rolls up common prefixes.
        let page = e
            .list(
                "list",
                &ListParams {
                    prefix: "",
                    delimiter: Some("/"),
                    start_after: None,
                    max_keys: 1000,
                },
            )
            .unwrap();
        let names: Vec<_> = page.entries.iter().map(|e| e.name().to_string()).collect();
        assert_eq!(names, vec!["a/", "b/", "c/", "top"]);
        let page = e
            .list(
                "list",
                &ListParams {
                    prefix: "b/",
                    delimiter: Some("/"),
                    start_after: None,
                    max_keys: 1000,
                },
            )
            .unwrap();
        let names: Vec<_> = page.entries.iter().map(|e| e.name().to_string()).collect();
        assert_eq!(names, vec!["b/x/", "b/y/"]);
    });
}

#[test]
fn restart_keeps_everything() {
    let d = drives(6);
    let cfg = config(&d, None);
    run(&cfg, |e| async move {
        e.create_bucket("keep").await.unwrap();
        for (i, &s) in SIZES.iter().enumerate() {
            e.put(
                "keep",
                &format!("k{i}"),
                PutOptions::default(),
                &mut MemBody::new(data(s, i as u64)),
            )
            .await
            .unwrap();
        }
        e.delete("keep", "k1", None, false).await.unwrap();
    });
    run(&cfg, |e| async move {
        assert!(e.bucket_exists("keep"));
        for (i, &s) in SIZES.iter().enumerate() {
            let r = e.get("keep", &format!("k{i}"), None).await;
            if i == 1 {
                assert!(matches!(r, Err(EngineError::NoSuchKey)));
            } else {
                assert_eq!(r.unwrap().read_all().await.unwrap(), data(s, i as u64));
            }
        }
        // New writes after a restart go to new segments and read back.
        e.put(
            "keep",
            "after",
            PutOptions::default(),
            &mut MemBody::new(data(3 << 20, 9)),
        )
        .await
        .unwrap();
        assert_eq!(
            e.get("keep", "after", None)
                .await
                .unwrap()
                .read_all()
                .await
                .unwrap(),
            data(3 << 20, 9)
        );
    });
}

#[test]
fn two_cores_write_through_each_other() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let d = drives(4);
    let mut cfg = config(&d, None);
    cfg.cores = 2;
    let (shared, inboxes) = cairn::engine::Engine::open(&cfg).unwrap();
    let inboxes = Arc::new(inboxes);
    let done = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let s = shared.clone();
    let handles = cairn::runtime::start_cores(2, false, move |core| {
        let (s, inboxes, done, tx) = (s.clone(), inboxes.clone(), done.clone(), tx.clone());
        async move {
            let e = cairn::engine::Engine::start_core(s, core, inboxes[core].clone()).unwrap();
            let r = async {
                if core == 0 {
                    e.create_bucket("shared").await.map_err(|e| e.to_string())?;
                } else {
                    while !e.bucket_exists("shared") {
                        cairn::runtime::sleep(std::time::Duration::from_millis(1)).await;
                    }
                }
                let tasks: Vec<_> = (0..24)
                    .map(|i| {
                        let e = e.clone();
                        cairn::runtime::spawn(async move {
                            let size = [100usize, 70_000, 1_500_000][i % 3];
                            let key = format!("c{core}/o{i}");
                            let body = data(size, (core * 100 + i) as u64);
                            e.put(
                                "shared",
                                &key,
                                PutOptions::default(),
                                &mut MemBody::new(body.clone()),
                            )
                            .await
                            .map_err(|e| e.to_string())?;
                            let got = e
                                .get("shared", &key, None)
                                .await
                                .map_err(|e| e.to_string())?;
                            let mut got = got;
                            if got.read_all().await.map_err(|e| e.to_string())? != body {
                                return Err(format!("{key}: bytes differ"));
                            }
                            Ok::<_, String>(())
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await?;
                }
                Ok::<_, String>(())
            }
            .await;
            tx.send(r).unwrap();
            done.fetch_add(1, Ordering::SeqCst);
            // Keep serving the other core's writes until both are done.
            while done.load(Ordering::SeqCst) < 2 {
                cairn::runtime::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
    })
    .unwrap();
    for h in handles {
        h.join().unwrap();
    }
    for _ in 0..2 {
        rx.recv().unwrap().unwrap();
    }
    // Both cores' writes are visible from a fresh listing.
    let mut total = 0;
    for idx in &shared.indexes {
        total += idx.entries().unwrap().len();
    }
    assert_eq!(total, 48);
    shared.close().unwrap();
}

/// Bucket changes arriving together (each request runs as its own task)
/// are applied one after another: none is lost to another that started
/// from the same table.
#[test]
fn concurrent_bucket_changes_are_all_kept() {
    let d = drives(2);
    let cfg = config(&d, None);
    run(&cfg, |e| async move {
        let names: Vec<String> = (0..12).map(|i| format!("b{i:02}")).collect();
        let creates = names.iter().map(|n| {
            let e = e.clone();
            async move { e.create_bucket(n).await }
        });
        for r in futures_util::future::join_all(creates).await {
            r.unwrap();
        }
        let tags = names.iter().map(|n| {
            let e = e.clone();
            async move {
                e.set_bucket_tags(n, Some(vec![("k".into(), n.clone())]))
                    .await
            }
        });
        for r in futures_util::future::join_all(tags).await {
            r.unwrap();
        }
        for n in &names {
            assert!(e.bucket_exists(n), "{n} lost");
            assert_eq!(
                e.bucket_tags(n).unwrap(),
                Some(vec![("k".to_owned(), n.clone())]),
                "{n}'s tags lost"
            );
        }
    });
    // And on disk: the table a restart loads has them all.
    run(&cfg, |e| async move {
        for i in 0..12 {
            assert!(e.bucket_exists(&format!("b{i:02}")));
        }
    });
}

/// Buckets created from both cores at once all end up in both cores'
/// tables: a core never installs an older table over a newer one.
#[test]
fn buckets_created_from_two_cores_at_once_are_seen_by_both() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let d = drives(2);
    let mut cfg = config(&d, None);
    cfg.cores = 2;
    let (shared, inboxes) = cairn::engine::Engine::open(&cfg).unwrap();
    let inboxes = Arc::new(inboxes);
    let created = Arc::new(AtomicUsize::new(0));
    let checked = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let s = shared.clone();
    let handles = cairn::runtime::start_cores(2, false, move |core| {
        let (s, inboxes, tx) = (s.clone(), inboxes.clone(), tx.clone());
        let (created, checked) = (created.clone(), checked.clone());
        async move {
            let e = cairn::engine::Engine::start_core(s, core, inboxes[core].clone()).unwrap();
            let creates = (0..10).map(|i| {
                let e = e.clone();
                async move { e.create_bucket(&format!("c{core}-{i}")).await }
            });
            let mut r: Result<(), String> = futures_util::future::join_all(creates)
                .await
                .into_iter()
                .try_for_each(|x| x.map_err(|e| e.to_string()));
            created.fetch_add(1, Ordering::SeqCst);
            while created.load(Ordering::SeqCst) < 2 {
                cairn::runtime::sleep(std::time::Duration::from_millis(1)).await;
            }
            for c in 0..2 {
                for i in 0..10 {
                    let name = format!("c{c}-{i}");
                    if r.is_ok() && !e.bucket_exists(&name) {
                        r = Err(format!("core {core} lost {name}"));
                    }
                }
            }
            tx.send(r).unwrap();
            checked.fetch_add(1, Ordering::SeqCst);
            while checked.load(Ordering::SeqCst) < 2 {
                cairn::runtime::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
    })
    .unwrap();
    for h in handles {
        h.join().unwrap();
    }
    for _ in 0..2 {
        rx.recv().unwrap().unwrap();
    }
    shared.close().unwrap();
}
