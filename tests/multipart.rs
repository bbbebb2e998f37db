//! Multipart uploads in the engine: parts stream to the owner, completion
//! assembles them in place with S3's rules and ETag, reads cross part
//! boundaries exactly, and an upload's state (in progress, completed,
//! aborted) survives a lost index and compaction.

mod common;

use common::*;

use cairn::engine::layout::Layout;
use cairn::engine::multipart::{multipart_etag, ChosenPart, MIN_PART_SIZE};
use cairn::engine::{EngineError, MemBody, PutOptions};

const MIB: usize = 1 << 20;

fn chosen(parts: &[(u32, &str)]) -> Vec<ChosenPart> {
    parts
        .iter()
        .map(|(n, e)| ChosenPart {
            number: *n,
            etag: e.to_string(),
        })
        .collect()
}

#[test]
fn parts_complete_into_one_object_read_back_exactly() {
    let d = drives(6);
    let cfg = config(&d, Some(Layout { data: 4, parity: 2 }));
    run(&cfg, |e| async move {
        e.create_bucket("bkt").await.unwrap();
        let opts = PutOptions {
            content_type: Some("video/mp4".into()),
            user_meta: vec![("who".into(), "test".into())],
            ..Default::default()
        };
        let up = e.create_upload("bkt", "big/obj", opts, None).await.unwrap();
        assert_eq!(e.upload("bkt", "big/obj", up).unwrap().meta.upload, up);

        // Sizes that are not stripe multiples, so every part ends in a short
        // stripe; part 2 is uploaded twice and the second wins.
        let p1 = data(5 * MIB + 12345, 1);
        let p2_old = data(5 * MIB, 2);
        let p2 = data(6 * MIB + 1, 3);
        let p3 = data(777, 4);
        for (n, body) in [(1, &p1), (2, &p2_old), (2, &p2), (3, &p3)] {
            let part = e
                .put_part(
                    "bkt",
                    "big/obj",
                    up,
                    n,
                    &mut MemBody::new(body.clone()),
                    None,
                )
                .await
                .unwrap();
            assert_eq!(part.etag, md5_hex(body));
            assert_eq!(part.size, body.len() as u64);
        }
        let listed = e.upload_parts("bkt", "big/obj", up, 0, 100).unwrap();
        let numbers: Vec<u32> = listed.iter().map(|p| p.number).collect();
        assert_eq!(numbers, [1, 2, 3]);
        assert_eq!(
            listed[1].etag,
            md5_hex(&p2),
            "a re-upload replaces the part"
        );
        assert_eq!(
            e.upload_parts("bkt", "big/obj", up, 1, 1).unwrap()[0].number,
            2
        );

        let etags = [md5_hex(&p1), md5_hex(&p2), md5_hex(&p3)];
        let info = e
            .complete_upload(
                "bkt",
                "big/obj",
                up,
                chosen(&[(1, &etags[0]), (2, &etags[1]), (3, &etags[2])]),
                vec![],
            )
            .await
            .unwrap();
        let whole: Vec<u8> = [p1.clone(), p2.clone(), p3.clone()].concat();
        assert_eq!(info.size, whole.len() as u64);
        assert_eq!(
            info.etag,
            multipart_etag(etags.iter().map(|s| s.as_str())).unwrap()
        );
        assert!(info.etag.ends_with("-3"));

        let head = e.head("bkt", "big/obj").unwrap();
        assert_eq!(head.meta.content_type.as_deref(), Some("video/mp4"));
        assert_eq!(head.meta.parts_count(), Some(3));
        let (count, a, b) = head.meta.part_range(2).unwrap();
        assert_eq!(
            (count, a, b),
            (3, p1.len() as u64, (p1.len() + p2.len()) as u64)
        );
        assert!(head.meta.part_range(4).is_none());

        assert_eq!(get(&e, "bkt", "big/obj").await.unwrap(), whole);
        // Ranges inside a part, across each boundary, and a part exactly.
        let b1 = p1.len() as u64;
        let b2 = b1 + p2.len() as u64;
        for (lo, hi) in [
            (0, 10),
            (b1 - 5, b1 + 5),
            (b1 - 1, b2 + 1),
            (b2 - 3, whole.len() as u64),
            (a, b),
            (3 * MIB as u64 + 7, 9 * MIB as u64 + 11),
        ] {
            let got = get_range(&e, "bkt", "big/obj", lo, hi).await.unwrap();
            assert_eq!(got, &whole[lo as usize..hi as usize], "range {lo}..{hi}");
        }

        // The upload is gone once completed.
        assert!(matches!(
            e.upload("bkt", "big/obj", up),
            Err(EngineError::NoSuchUpload)
        ));
        assert!(matches!(
            e.put_part("bkt", "big/obj", up, 4, &mut MemBody::new(vec![1u8]), None)
                .await,
            Err(EngineError::NoSuchUpload)
        ));
        assert!(e.list_uploads("bkt", "", None, 100).unwrap().is_empty());
    });
}

#[test]
fn completion_enforces_s3_rules_and_abort_discards() {
    let d = drives(4);
    let cfg = config(&d, Some(Layout { data: 2, parity: 2 }));
    run(&cfg, |e| async move {
        e.create_bucket("bkt").await.unwrap();
        let up = e
            .create_upload("bkt", "k", PutOptions::default(), None)
            .await
            .unwrap();
        let small = data(1000, 1);
        let big = data(MIN_PART_SIZE as usize, 2);
        for (n, b) in [(1, &small), (2, &big), (3, &small)] {
            e.put_part("bkt", "k", up, n, &mut MemBody::new(b.clone()), None)
                .await
                .unwrap();
        }
        let (s, g) = (md5_hex(&small), md5_hex(&big));
        let fails = |r: Result<_, EngineError>| r.expect_err("must fail");
        let err = fails(
            e.complete_upload("bkt", "k", up, chosen(&[(2, &g), (1, &s)]), vec![])
                .await,
        );
        assert!(matches!(err, EngineError::InvalidPartOrder), "{err}");
        let err = fails(
            e.complete_upload("bkt", "k", up, chosen(&[(1, &s), (2, &g)]), vec![])
                .await,
        );
        assert!(matches!(err, EngineError::EntityTooSmall), "{err}");
        let err = fails(
            e.complete_upload("bkt", "k", up, chosen(&[(2, &s)]), vec![])
                .await,
        );
        assert!(
            matches!(err, EngineError::InvalidPart(_)),
            "wrong ETag: {err}"
        );
        let err = fails(
            e.complete_upload("bkt", "k", up, chosen(&[(9, &s)]), vec![])
                .await,
        );
        assert!(
            matches!(err, EngineError::InvalidPart(_)),
            "missing part: {err}"
        );
        let err = fails(e.complete_upload("bkt", "k", up, vec![], vec![]).await);
        assert!(
            matches!(err, EngineError::InvalidPart(_)),
            "no parts: {err}"
        );
        let err = e
            .put_part("bkt", "k", up, 10_001, &mut MemBody::new(vec![1u8]), None)
            .await
            .expect_err("part number out of range");
        assert!(matches!(err, EngineError::InvalidPart(_)), "{err}");
        // Failed completions changed nothing: a valid subset completes, and
        // the last part may be small.
        let info = e
            .complete_upload("bkt", "k", up, chosen(&[(2, &g), (3, &s)]), vec![])
            .await
            .unwrap();
        assert_eq!(info.size, (big.len() + small.len()) as u64);
        assert_eq!(
            get(&e, "bkt", "k").await.unwrap(),
            [big.clone(), small.clone()].concat()
        );

        let up2 = e
            .create_upload("bkt", "k", PutOptions::default(), None)
            .await
            .unwrap();
        e.put_part("bkt", "k", up2, 1, &mut MemBody::new(small.clone()), None)
            .await
            .unwrap();
        e.abort_upload("bkt", "k", up2).await.unwrap();
        assert!(matches!(
            e.abort_upload("bkt", "k", up2).await,
            Err(EngineError::NoSuchUpload)
        ));
        assert!(matches!(
            e.upload_parts("bkt", "k", up2, 0, 10),
            Err(EngineError::NoSuchUpload)
        ));
        // The completed object is untouched by the aborted upload.
        assert_eq!(e.head("bkt", "k").unwrap().meta.etag, info.etag);
    });
}

#[test]
fn uploads_are_listed_in_key_and_upload_order() {
    let d = drives(4);
    let cfg = config(&d, Some(Layout { data: 2, parity: 2 }));
    run(&cfg, |e| async move {
        e.create_bucket("bkt").await.unwrap();
        let mut want = Vec::new();
        for key in ["b", "a/2", "a/1", "c", "a/1"] {
            let up = e
                .create_upload("bkt", key, PutOptions::default(), None)
                .await
                .unwrap();
            want.push((key.to_string(), up));
        }
        want.sort();
        let got: Vec<_> = e
            .list_uploads("bkt", "", None, 100)
            .unwrap()
            .into_iter()
            .map(|u| (u.key, u.upload))
            .collect();
        assert_eq!(got, want);
        let a: Vec<_> = e.list_uploads("bkt", "a/", None, 100).unwrap();
        assert_eq!(a.len(), 3);
        let after = e
            .list_uploads("bkt", "", Some(("a/1", Some(want[0].1))), 2)
            .unwrap();
        assert_eq!(
            after
                .iter()
                .map(|u| (u.key.clone(), u.upload))
                .collect::<Vec<_>>(),
            want[1..3].to_vec()
        );
        let after_key = e.list_uploads("bkt", "", Some(("a/1", None)), 100).unwrap();
        assert_eq!(after_key[0].key, "a/2");
    });
}

/// The index is lost after: an upload in progress with parts, one completed,
/// one aborted. The rebuild brings back exactly that.
#[test]
fn upload_state_survives_a_lost_index() {
    let d = drives(4);
    let cfg = config(&d, Some(Layout { data: 2, parity: 2 }));
    let p1 = data(MIN_PART_SIZE as usize + 3, 1);
    let p2 = data(70_000, 2);
    let (open, done, gone) = run_with(&cfg, false, |e, _| {
        let (p1, p2) = (p1.clone(), p2.clone());
        async move {
            e.create_bucket("bkt").await.unwrap();
            let open = e
                .create_upload("bkt", "open", PutOptions::default(), None)
                .await
                .unwrap();
            for (n, b) in [(1, &p1), (2, &p2), (2, &p1)] {
                e.put_part("bkt", "open", open, n, &mut MemBody::new(b.clone()), None)
                    .await
                    .unwrap();
            }
            let done = e
                .create_upload("bkt", "done", PutOptions::default(), None)
                .await
                .unwrap();
            for (n, b) in [(1, &p1), (2, &p2)] {
                e.put_part("bkt", "done", done, n, &mut MemBody::new(b.clone()), None)
                    .await
                    .unwrap();
            }
            let parts = chosen(&[(1, &md5_hex(&p1)), (2, &md5_hex(&p2))]);
            e.complete_upload("bkt", "done", done, parts, vec![])
                .await
                .unwrap();
            let gone = e
                .create_upload("bkt", "gone", PutOptions::default(), None)
                .await
                .unwrap();
            e.put_part("bkt", "gone", gone, 1, &mut MemBody::new(p2.clone()), None)
                .await
                .unwrap();
            e.abort_upload("bkt", "gone", gone).await.unwrap();
            (open, done, gone)
        }
    });
    for p in &d.paths {
        let idx = p.join(".cairn/index");
        if idx.exists() {
            std::fs::remove_dir_all(idx).unwrap();
        }
    }
    run(&cfg, |e| {
        let (p1, p2) = (p1.clone(), p2.clone());
        async move {
            let ups: Vec<_> = e
                .list_uploads("bkt", "", None, 100)
                .unwrap()
                .into_iter()
                .map(|u| (u.key, u.upload))
                .collect();
            assert_eq!(ups, [("open".to_string(), open)], "only the open upload");
            let parts = e.upload_parts("bkt", "open", open, 0, 100).unwrap();
            assert_eq!(parts.len(), 2);
            assert_eq!(parts[1].etag, md5_hex(&p1), "the newest part 2 wins");
            assert!(e.upload("bkt", "done", done).is_err());
            assert!(e.upload("bkt", "gone", gone).is_err());
            assert_eq!(
                get(&e, "bkt", "done").await.unwrap(),
                [p1.clone(), p2.clone()].concat()
            );
            // The rebuilt upload still completes.
            let c = chosen(&[(1, &md5_hex(&p1)), (2, &md5_hex(&p1))]);
            e.complete_upload("bkt", "open", open, c, vec![])
                .await
                .unwrap();
            assert_eq!(
                get(&e, "bkt", "open").await.unwrap(),
                [p1.clone(), p1.clone()].concat()
            );
        }
    });
}

/// Compaction moves the records of open uploads, completed multipart
/// objects and upload ends without losing any, and reclaims replaced parts.
#[test]
fn compaction_keeps_uploads_and_multipart_objects_whole() {
    let d = drives(4);
    let mut cfg = config(&d, Some(Layout { data: 2, parity: 2 }));
    cfg.segment_max = 8 << 20;
    run(&cfg, |e| async move {
        e.create_bucket("bkt").await.unwrap();
        let p = data(MIN_PART_SIZE as usize, 5);
        let q = data(300_000, 6);
        let open = e
            .create_upload("bkt", "open", PutOptions::default(), None)
            .await
            .unwrap();
        let done = e
            .create_upload("bkt", "done", PutOptions::default(), None)
            .await
            .unwrap();
        // Replaced parts and overwritten filler leave dead records around
        // the live ones in every segment.
        for round in 0..3u64 {
            for (key, up) in [("open", open), ("done", done)] {
                for n in 1..=2 {
                    let body = if n == 1 { p.clone() } else { q.clone() };
                    e.put_part("bkt", key, up, n, &mut MemBody::new(body), None)
                        .await
                        .unwrap();
                }
            }
            put(&e, "bkt", "filler", &data(3 * MIB, round)).await;
        }
        let c = chosen(&[(1, &md5_hex(&p)), (2, &md5_hex(&q))]);
        e.complete_upload("bkt", "done", done, c, vec![])
            .await
            .unwrap();
        e.delete("bkt", "filler", None, false).await.unwrap();
        let report = e.compact(0.0).await.unwrap();
        assert!(report.segments_removed > 0, "{report:?}");
        let whole = [p.clone(), q.clone()].concat();
        assert_eq!(get(&e, "bkt", "done").await.unwrap(), whole);
        let c = chosen(&[(1, &md5_hex(&p)), (2, &md5_hex(&q))]);
        e.complete_upload("bkt", "open", open, c, vec![])
            .await
            .unwrap();
        assert_eq!(get(&e, "bkt", "open").await.unwrap(), whole);
        // Parts, completions and the moves kept the reverse map exact.
        for idx in &e.shared.indexes {
            let drift = idx.refs_mismatch().unwrap();
            assert!(drift.is_empty(), "partition {}: {drift:?}", idx.partition);
        }
    });
}

/// Uploads older than the expiry are aborted; newer ones are kept.
#[test]
fn stale_uploads_expire() {
    let d = drives(4);
    let cfg = config(&d, Some(Layout { data: 2, parity: 2 }));
    run(&cfg, |e| async move {
        e.create_bucket("bkt").await.unwrap();
        let up = e
            .create_upload("bkt", "k", PutOptions::default(), None)
            .await
            .unwrap();
        let week = std::time::Duration::from_secs(7 * 86400);
        assert_eq!(e.expire_uploads(week).await.unwrap(), 0);
        assert!(e.upload("bkt", "k", up).is_ok());
        std::thread::sleep(std::time::Duration::from_millis(20));
        let expired = e
            .expire_uploads(std::time::Duration::from_millis(10))
            .await
            .unwrap();
        assert_eq!(expired, 1);
        assert!(matches!(
            e.upload("bkt", "k", up),
            Err(EngineError::NoSuchUpload)
        ));
    });
}
