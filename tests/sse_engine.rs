//! Encryption at rest in the engine: sealed versions and parts read back
//! exactly over any range, their drives hold no plaintext, a package that
//! passes its record checksum but does not open fails the read (and queues
//! a repair) instead of returning its bytes, and the encryption state
//! survives compaction, a restart and an index rebuild.

mod common;

use std::collections::HashSet;
use std::rc::Rc;

use common::*;

use cairn::engine::meta::{sse_header, DataLoc, IndexEntry, VersionSel};
use cairn::engine::multipart::ChosenPart;
use cairn::engine::sealing::Seal;
use cairn::engine::{Engine, MemBody, PutOptions};
use cairn::sse::header::{KeySource, Mode, SseHeader};
use cairn::sse::key::{nonce_base, DataKey};
use cairn::sse::package::Layout;

const PACKAGE: u64 = 64 * 1024;

/// A data key and the header the S3 layer would build for it (the wrapped
/// key is opaque to the engine).
fn seal(mode: Mode) -> Seal {
    Seal {
        key: DataKey::generate(),
        header: SseHeader {
            mode,
            layout: Layout::DEFAULT,
            nonce_base: nonce_base(),
            key: KeySource::Kms {
                key_id: "cairn-sse-s3".into(),
                key_version: 1,
                context: Vec::new(),
                wrapped: vec![7; 60],
            },
        },
        shared: false,
    }
}

fn sealed(s: &Seal) -> PutOptions {
    PutOptions {
        seal: Some(s.clone()),
        ..Default::default()
    }
}

async fn read(
    e: &Rc<Engine>,
    bucket: &str,
    key: &str,
    v: Option<VersionSel>,
    range: Option<(u64, u64)>,
    k: Option<&DataKey>,
) -> Result<(IndexEntry, Vec<u8>), cairn::engine::EngineError> {
    let guard = e.begin_read();
    let entry = e.lookup(bucket, key, v)?.expect("the version is there");
    let mut r = e
        .open_reader(guard, bucket, key, entry.clone(), range, k.cloned())
        .await?;
    let bytes = r.read_all().await?;
    Ok((entry, bytes))
}

/// Ranges across package boundaries (and the stripe boundary) of `size`.
fn sealed_ranges(size: u64) -> Vec<(u64, u64)> {
    let mut r: Vec<(u64, u64)> = ranges(size as usize);
    for b in [PACKAGE, 2 * PACKAGE, 1 << 20] {
        if size > b + 2 {
            r.push((b - 1, b + 1));
            r.push((b, b + 1));
            r.push((b - 1, b));
        }
    }
    if size > 3 * PACKAGE {
        r.push((PACKAGE / 2, 2 * PACKAGE + PACKAGE / 2));
    }
    r
}

#[test]
fn sealed_objects_read_back_exactly_over_every_range() {
    let d = drives(4);
    let cfg = config(&d, None);
    run(&cfg, |e| async move {
        e.create_bucket("enc").await.unwrap();
        let sizes = [
            0u64,
            1,
            PACKAGE - 1,
            PACKAGE,
            PACKAGE + 1,
            1 << 20,
            (1 << 20) + 3,
            3 * (1 << 20) + 5,
        ];
        for (i, &size) in sizes.iter().enumerate() {
            let key = format!("obj-{size}");
            let body = data(size as usize, i as u64);
            let s = seal(Mode::S3);
            let info = e
                .put("enc", &key, sealed(&s), &mut MemBody::new(body.clone()))
                .await
                .unwrap();
            // SSE-S3 keeps S3's ETag: the plaintext's MD5.
            assert_eq!(info.etag, md5_hex(&body), "{key}");
            let (entry, all) = read(&e, "enc", &key, None, None, Some(&s.key))
                .await
                .unwrap();
            assert_eq!(entry.meta.size, size, "{key}: the plaintext size");
            // A stripe holds 16 whole sealed packages: a 1 MiB object is
            // one stripe, its tags do not spill into a second.
            if let DataLoc::Stripes(stripes) = &entry.meta.data {
                let packages = size.div_ceil(PACKAGE).max(1);
                assert_eq!(stripes.len() as u64, packages.div_ceil(16), "{key}");
            }
            assert_eq!(all, body, "{key}");
            assert_eq!(sse_header(&entry.meta.attrs), Some(Ok(s.header.clone())));
            for (a, b) in sealed_ranges(size) {
                let (_, got) = read(&e, "enc", &key, None, Some((a, b)), Some(&s.key))
                    .await
                    .unwrap();
                assert_eq!(got, body[a as usize..b as usize], "{key} {a}..{b}");
            }
            // Without its key, or with another, nothing comes back.
            assert!(read(&e, "enc", &key, None, None, None).await.is_err());
            let other = DataKey::generate();
            if size > 0 {
                assert!(read(&e, "enc", &key, None, None, Some(&other))
                    .await
                    .is_err());
            }
        }
        // SSE-C: the ETag says nothing about the plaintext.
        let s = seal(Mode::Customer);
        let body = data(5000, 99);
        let info = e
            .put("enc", "c", sealed(&s), &mut MemBody::new(body.clone()))
            .await
            .unwrap();
        assert_ne!(info.etag, md5_hex(&body));
        assert_eq!(info.etag.len(), 32);
    });
}

#[test]
fn sealed_parts_open_across_part_boundaries_and_a_reuploaded_part_gets_a_new_nonce() {
    let d = drives(4);
    let cfg = config(&d, None);
    run(&cfg, |e| async move {
        e.create_bucket("enc").await.unwrap();
        let s = seal(Mode::Kms);
        let up = e
            .create_upload("enc", "mp", sealed(&s), None)
            .await
            .unwrap();
        let parts = [data(5 << 20, 1), data((5 << 20) + 17, 2), data(100_001, 3)];
        let first_try = data((5 << 20) + 17, 22);
        let p2 = e
            .put_part(
                "enc",
                "mp",
                up,
                2,
                &mut MemBody::new(first_try),
                Some(s.key.clone()),
            )
            .await
            .unwrap();
        let mut chosen = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let n = i as u32 + 1;
            let pd = e
                .put_part(
                    "enc",
                    "mp",
                    up,
                    n,
                    &mut MemBody::new(p.clone()),
                    Some(s.key.clone()),
                )
                .await
                .unwrap();
            assert_eq!(pd.size, p.len() as u64, "part sizes are plaintext sizes");
            assert_eq!(pd.etag, md5_hex(p));
            chosen.push(ChosenPart {
                number: n,
                etag: pd.etag,
            });
        }
        assert_ne!(p2.etag, chosen[1].etag);
        // A part of an encrypted upload needs the key.
        assert!(e
            .put_part("enc", "mp", up, 4, &mut MemBody::new(vec![1u8]), None)
            .await
            .is_err());
        e.complete_upload("enc", "mp", up, chosen, Vec::new())
            .await
            .unwrap();
        let whole: Vec<u8> = parts.concat();
        let (entry, all) = read(&e, "enc", "mp", None, None, Some(&s.key))
            .await
            .unwrap();
        assert_eq!(entry.meta.size, whole.len() as u64);
        assert_eq!(all, whole);
        let b1 = parts[0].len() as u64;
        let b2 = b1 + parts[1].len() as u64;
        for (a, b) in [
            (b1 - 1, b1 + 1),
            (b1 - PACKAGE - 5, b2 + PACKAGE + 5),
            (b2 - 1, b2),
            (b2, b2 + 1),
            (0, whole.len() as u64),
            (whole.len() as u64 - 1, whole.len() as u64),
            (b1 + 3 * PACKAGE - 1, b1 + 3 * PACKAGE + 1),
        ] {
            let (_, got) = read(&e, "enc", "mp", None, Some((a, b)), Some(&s.key))
                .await
                .unwrap();
            assert_eq!(got, whole[a as usize..b as usize], "{a}..{b}");
        }
    });
}

/// Every 32-byte window of `plain` starting at a multiple of 16: any
/// stored run of 48 plaintext bytes or more contains one of them.
fn windows(plain: &[u8]) -> HashSet<[u8; 32]> {
    (0..plain.len().saturating_sub(32))
        .step_by(16)
        .map(|i| plain[i..i + 32].try_into().unwrap())
        .collect()
}

/// How many windows of `w` appear anywhere in the files under `root`.
fn found_on_drives(root: &std::path::Path, w: &HashSet<[u8; 32]>) -> usize {
    let mut found = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
            continue;
        }
        let b = std::fs::read(&p).unwrap();
        found += b
            .windows(32)
            .filter(|x| w.contains(<&[u8; 32]>::try_from(*x).unwrap()))
            .count();
    }
    found
}

#[test]
fn the_drives_hold_no_plaintext_of_a_sealed_object() {
    let d = drives(3);
    let mut cfg = config(&d, None);
    cfg.partitions = 2;
    cfg.segment_max = 4 << 20;
    let secret = data(600_000, 7);
    let small = data(3_000, 8);
    let clear = data(300_000, 9);
    let (s1, s2) = (secret.clone(), small.clone());
    let c = clear.clone();
    run(&cfg, move |e| async move {
        e.create_bucket("enc").await.unwrap();
        let s = seal(Mode::S3);
        e.put("enc", "big", sealed(&s), &mut MemBody::new(s1))
            .await
            .unwrap();
        e.put("enc", "small", sealed(&s), &mut MemBody::new(s2))
            .await
            .unwrap();
        // The control: the same scan finds an object stored in the clear.
        put(&e, "enc", "clear", &c).await;
    });
    assert_eq!(found_on_drives(d.dir.path(), &windows(&secret)), 0);
    assert_eq!(found_on_drives(d.dir.path(), &windows(&small)), 0);
    assert!(found_on_drives(d.dir.path(), &windows(&clear)) > 1000);
}

#[test]
fn a_package_that_passes_its_record_checksum_but_does_not_open_fails_the_read() {
    use std::os::unix::fs::FileExt;
    let d = drives(4);
    let mut cfg = config(&d, None);
    cfg.partitions = 2;
    let body = data(900_000, 5);
    let s = seal(Mode::S3);
    let (b, s2) = (body.clone(), s.clone());
    run(&cfg, move |e| async move {
        e.create_bucket("enc").await.unwrap();
        e.put("enc", "obj", sealed(&s2), &mut MemBody::new(b))
            .await
            .unwrap();
    });
    // Rewrite the first data shard with one byte flipped and a valid
    // checksum: the record layer accepts it, only the tag can tell.
    let shard = scan_records(&d.paths, cfg.partitions)
        .into_iter()
        .find(|r| {
            r.header.kind == cairn::engine::record::Kind::Shard
                && r.header.key == "obj"
                && r.header.shard == 0
        })
        .expect("a data shard");
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&shard.path)
        .unwrap();
    let mut h = shard.header.clone();
    let mut payload = vec![0u8; h.payload_len as usize];
    f.read_exact_at(&mut payload, shard.payload_offset())
        .unwrap();
    payload[100] ^= 0x40;
    h.payload_crc = crc32c::crc32c(&payload);
    let mut head = vec![0u8; h.header_len()];
    let key = cairn::engine::format::record_key_of_drive(&d.paths[shard.drive]).unwrap();
    h.encode_into(&mut head, key);
    f.write_all_at(&payload, shard.payload_offset()).unwrap();
    f.write_all_at(&head, shard.offset).unwrap();
    f.sync_all().unwrap();

    run_with(&cfg, true, move |e, shared| async move {
        let before = counter(&shared.background.repair_queued);
        let r = read(&e, "enc", "obj", None, None, Some(&s.key)).await;
        assert!(r.is_err(), "a package that does not open is never returned");
        assert!(counter(&shared.background.repair_queued) > before);
        // A range that does not touch the altered package still reads.
        let (_, tail) = read(
            &e,
            "enc",
            "obj",
            None,
            Some((800_000, 900_000)),
            Some(&s.key),
        )
        .await
        .unwrap();
        assert_eq!(tail, body[800_000..]);
    });
}

#[test]
fn sealed_versions_survive_compaction_restart_and_rebuild() {
    let d = drives(4);
    let mut cfg = config(&d, None);
    cfg.partitions = 2;
    cfg.segment_max = 4 << 20;
    let s = seal(Mode::Kms);
    let cases: Vec<(&str, Vec<u8>)> =
        vec![("inline", data(2_000, 1)), ("striped", data(1_500_000, 2))];
    let mp: Vec<Vec<u8>> = vec![data(5 << 20, 3), data(70_000, 4)];
    let (s1, c1, m1) = (s.clone(), cases.clone(), mp.clone());
    run(&cfg, move |e| async move {
        e.create_bucket("enc").await.unwrap();
        for (k, b) in &c1 {
            e.put("enc", k, sealed(&s1), &mut MemBody::new(b.clone()))
                .await
                .unwrap();
            // Churn, so compaction moves the sealed records.
            for g in 0..4u64 {
                put(&e, "enc", "churn", &data(900_000, 100 + g)).await;
            }
        }
        let up = e
            .create_upload("enc", "mp", sealed(&s1), None)
            .await
            .unwrap();
        let mut chosen = Vec::new();
        for (i, p) in m1.iter().enumerate() {
            let pd = e
                .put_part(
                    "enc",
                    "mp",
                    up,
                    i as u32 + 1,
                    &mut MemBody::new(p.clone()),
                    Some(s1.key.clone()),
                )
                .await
                .unwrap();
            chosen.push(ChosenPart {
                number: i as u32 + 1,
                etag: pd.etag,
            });
        }
        e.complete_upload("enc", "mp", up, chosen, Vec::new())
            .await
            .unwrap();
    });
    let check = move |e: Rc<Engine>,
                      s: Seal,
                      cases: Vec<(&'static str, Vec<u8>)>,
                      mp: Vec<Vec<u8>>| async move {
        for (k, b) in &cases {
            let (entry, got) = read(&e, "enc", k, None, None, Some(&s.key)).await.unwrap();
            assert_eq!(&got, b, "{k}");
            assert_eq!(
                sse_header(&entry.meta.attrs),
                Some(Ok(s.header.clone())),
                "{k}"
            );
        }
        let (_, got) = read(&e, "enc", "mp", None, None, Some(&s.key))
            .await
            .unwrap();
        assert_eq!(got, mp.concat());
    };
    let (s2, c2, m2) = (s.clone(), cases.clone(), mp.clone());
    run(&cfg, move |e| async move {
        let report = e.compact(0.0).await.unwrap();
        assert!(report.segments_removed > 0, "{report:?}");
        check(e, s2, c2, m2).await;
    });
    lose_index(&d.paths);
    run(&cfg, move |e| check(e, s, cases, mp));
}

#[test]
fn a_rotten_shard_of_a_sealed_object_is_read_around_and_repaired() {
    let layout = cairn::engine::layout::Layout { data: 4, parity: 2 };
    let d = drives(6);
    let cfg = config(&d, Some(layout));
    let body = data((2 << 20) + 77, 41);
    let s = seal(Mode::S3);
    let (b2, s2) = (body.clone(), s.clone());
    let version = run(&cfg, move |e| async move {
        e.create_bucket("heal").await.unwrap();
        e.put("heal", "obj", sealed(&s2), &mut MemBody::new(b2))
            .await
            .unwrap();
        e.head("heal", "obj").unwrap().meta.version
    });
    let shard = scan_records(&d.paths, cfg.partitions)
        .into_iter()
        .find(|f| {
            f.header.kind == cairn::engine::record::Kind::Shard
                && f.header.version == version
                && f.header.stripe == 1
                && f.header.shard == 0
        })
        .expect("shard 0 of stripe 1");
    flip_byte(&shard.path, shard.payload_offset() + 10, 0x01);
    let (b3, s3) = (body.clone(), s.clone());
    run_with(&cfg, true, move |e, shared| async move {
        let (_, got) = read(&e, "heal", "obj", None, None, Some(&s3.key))
            .await
            .unwrap();
        assert!(got == b3, "read around the rotten shard");
        e.quiesce().await;
        assert_eq!(counter(&shared.stats.repaired_shards), 1);
    });
    // The repaired shard is what was sealed: with two more shards of that
    // stripe rotten, the object still opens.
    for f in scan_records(&d.paths, cfg.partitions)
        .into_iter()
        .filter(|f| {
            f.header.kind == cairn::engine::record::Kind::Shard
                && f.header.version == version
                && f.header.stripe == 1
                && (f.header.shard == 1 || f.header.shard == 4)
        })
    {
        flip_byte(&f.path, f.payload_offset() + 10, 0x01);
    }
    run(&cfg, move |e| async move {
        let (_, got) = read(&e, "heal", "obj", None, None, Some(&s.key))
            .await
            .unwrap();
        assert!(got == body, "the repaired shard holds the sealed bytes");
    });
}

#[test]
fn a_hot_sealed_object_is_served_from_its_opened_plaintext_only_to_its_data_key() {
    let d = drives(6);
    let mut cfg = config(
        &d,
        Some(cairn::engine::layout::Layout { data: 4, parity: 2 }),
    );
    cfg.read_cache = 64 << 20;
    let s = seal(Mode::S3);
    run_with(&cfg, true, move |e, shared| async move {
        let counts = || {
            (
                shared.stats.read_cache_plaintext_hits.sum(),
                shared.stats.read_cache_misses.sum(),
            )
        };
        e.create_bucket("hot").await.unwrap();
        for (i, size) in [10_000usize, 1 << 20, (2 << 20) + 77]
            .into_iter()
            .enumerate()
        {
            let key = format!("k{i}");
            let body = data(size, 60 + i as u64);
            e.put("hot", &key, sealed(&s), &mut MemBody::new(body.clone()))
                .await
                .unwrap();
            // Read as the S3 layer does: up to the last byte, not to the
            // reader's end.
            let guard = e.begin_read();
            let entry = e.head("hot", &key).unwrap();
            let mut r = e
                .open_reader(guard, "hot", &key, entry, None, Some(s.key.clone()))
                .await
                .unwrap();
            let mut got = Vec::new();
            while got.len() < size {
                got.extend_from_slice(&r.next_chunk().await.unwrap().unwrap());
            }
            drop(r);
            assert!(got == body);
            // Served again without reading or opening a record, whole or
            // in ranges.
            let before = counts();
            let (_, got) = read(&e, "hot", &key, None, None, Some(&s.key))
                .await
                .unwrap();
            assert!(got == body, "size {size}: cached plaintext differs");
            for (a, b) in sealed_ranges(size as u64) {
                let (_, got) = read(&e, "hot", &key, None, Some((a, b)), Some(&s.key))
                    .await
                    .unwrap();
                assert!(got == body[a as usize..b as usize], "size {size} {a}..{b}");
            }
            let after = counts();
            assert_eq!(
                after.1, before.1,
                "size {size}: a hot read went to the drives"
            );
            let reads = 1 + sealed_ranges(size as u64).len() as u64;
            assert_eq!(after.0 - before.0, reads, "size {size}: not served opened");

            // Another key is not given the cached plaintext: its read goes
            // to the records, which do not open under it.
            let wrong = DataKey::generate();
            let r = read(&e, "hot", &key, None, None, Some(&wrong)).await;
            assert!(r.is_err(), "size {size}: served to the wrong key");

            // A new version is never answered with the old one's plaintext.
            let next = data(size, 90 + i as u64);
            e.put("hot", &key, sealed(&s), &mut MemBody::new(next.clone()))
                .await
                .unwrap();
            let (_, got) = read(&e, "hot", &key, None, None, Some(&s.key))
                .await
                .unwrap();
            assert!(
                got == next,
                "size {size}: stale plaintext after an overwrite"
            );
        }
    });
}
