//! Bit rot: a flipped byte in a shard payload, a record header or a commit
//! record copy is detected (crc32c / header checksum / identity check) and the
//! object is served from the remaining redundancy, byte-exact; rot beyond the
//! redundancy fails the read (ReadQuorum) and never serves wrong bytes; and
//! payload bytes are never mistaken for records.

mod common;

use std::collections::HashMap;

use common::*;

use cairn::engine::layout::{Layout, STRIPE_DATA};
use cairn::engine::record::Kind;
use cairn::engine::{EngineConfig, EngineError};

const BUCKET: &str = "rot";
/// Inline (up to 64 KiB) and striped objects; the last spans 6 stripes.
const SIZES: &[usize] = &[0, 1, 4096, 60_000, 1 << 20, (2 << 20) + 5, (5 << 20) + 3];

struct Obj {
    key: String,
    body: Vec<u8>,
    version: u128,
}

fn setup(n: usize, layout: Layout, seed: u64) -> (Drives, EngineConfig, Vec<Obj>) {
    let d = drives(n);
    let cfg = config(&d, Some(layout));
    let objs = run(&cfg, |e| async move {
        e.create_bucket(BUCKET).await.unwrap();
        let mut objs = Vec::new();
        for (i, &size) in SIZES.iter().enumerate() {
            let key = format!("o{i}/{size}");
            let body = data(size, seed + i as u64);
            put(&e, BUCKET, &key, &body).await;
            let version = e.head(BUCKET, &key).unwrap().meta.version;
            objs.push(Obj { key, body, version });
        }
        objs
    });
    (d, cfg, objs)
}

/// The records of one object version: shards by (stripe, shard index), and
/// commit copies by copy number.
struct Records {
    shards: HashMap<(u32, u8), FoundRecord>,
    commits: HashMap<u8, FoundRecord>,
}

fn records_of(all: &[FoundRecord], o: &Obj) -> Records {
    let mut r = Records {
        shards: HashMap::new(),
        commits: HashMap::new(),
    };
    for f in all.iter().filter(|f| {
        f.header.bucket == BUCKET && f.header.key == o.key && f.header.version == o.version
    }) {
        match f.header.kind {
            Kind::Shard => assert!(r
                .shards
                .insert((f.header.stripe, f.header.shard), f.clone())
                .is_none()),
            Kind::Commit => assert!(r.commits.insert(f.header.shard, f.clone()).is_none()),
            Kind::Tombstone | Kind::Upload | Kind::Part | Kind::UploadEnd => {
                panic!("no deletes or multipart uploads in this test")
            }
        }
    }
    r
}

#[derive(Clone, Copy, PartialEq)]
enum Where {
    Payload,
    Header,
}

/// Flips one byte of the record, in its payload or its header; `salt` varies
/// the position.
fn rot(f: &FoundRecord, at: Where, salt: u64) {
    let pos = match at {
        Where::Payload => {
            let len = f.header.payload_len as u64;
            assert!(len > 0, "record without payload");
            f.payload_offset() + (salt.wrapping_mul(2_654_435_761) % len)
        }
        Where::Header => f.offset + (salt.wrapping_mul(40_503) % f.header.header_len() as u64),
    };
    flip_byte(&f.path, pos, 0x5a);
}

/// Rots, for every object: m shards of every stripe (a different pair of
/// drives per stripe, data shards included), and m of the m+1 commit copies
/// (the copies a read tries first). Returns how many records it rotted.
fn rot_within_redundancy(
    d: &Drives,
    layout: Layout,
    objs: &[Obj],
    at: Where,
    commits_of_striped_too: bool,
) -> usize {
    let all = scan_records(&d.paths, 16);
    let m = layout.parity as usize;
    let total = layout.total() as u64;
    let mut rotted = 0;
    for (oi, o) in objs.iter().enumerate() {
        let r = records_of(&all, o);
        let striped = o.body.len() > 64 << 10;
        if striped {
            let stripes = o.body.len().div_ceil(STRIPE_DATA) as u32;
            assert_eq!(
                r.shards.len(),
                stripes as usize * layout.total(),
                "{}: every shard is on a drive",
                o.key
            );
            for s in 0..stripes {
                for j in 0..m as u64 {
                    // Stripe s loses shards 2s+j (mod k+m): walks over data
                    // and parity shards, so over every drive.
                    let shard = ((s as u64 * 2 + j + oi as u64) % total) as u8;
                    rot(&r.shards[&(s, shard)], at, s as u64 * 31 + j + oi as u64);
                    rotted += 1;
                }
            }
        }
        assert_eq!(r.commits.len(), m + 1, "{}: m+1 commit copies", o.key);
        if !striped || commits_of_striped_too {
            for copy in 0..m as u8 {
                rot(&r.commits[&copy], at, oi as u64 + copy as u64);
                rotted += 1;
            }
        }
    }
    rotted
}

/// Reopens and checks that every object reads back exact (whole and ranges),
/// that the listing is complete, and that corruption was noticed.
fn verify_exact_after_rot(cfg: &EngineConfig, objs: &[Obj], what: &str) {
    let expect: Vec<(String, Vec<u8>)> = objs
        .iter()
        .map(|o| (o.key.clone(), o.body.clone()))
        .collect();
    let what = what.to_owned();
    run_with(cfg, true, |e, shared| async move {
        for (k, body) in &expect {
            let got = get(&e, BUCKET, k)
                .await
                .unwrap_or_else(|err| panic!("{k} ({what}): {err}"));
            assert!(got == *body, "{k} ({what}): wrong bytes served");
            for (a, b) in ranges(body.len()) {
                let got = get_range(&e, BUCKET, k, a, b)
                    .await
                    .unwrap_or_else(|err| panic!("{k} {a}..{b} ({what}): {err}"));
                assert!(
                    got == body[a as usize..b as usize],
                    "{k} {a}..{b} ({what}): wrong bytes served"
                );
            }
        }
        let listed: Vec<String> = list_all(&e, BUCKET).into_iter().map(|(k, _)| k).collect();
        let mut want: Vec<String> = expect.iter().map(|(k, _)| k.clone()).collect();
        want.sort();
        assert_eq!(listed, want, "listing ({what})");
        assert!(
            counter(&shared.stats.corrupt_records) > 0,
            "({what}): no corrupt record was noticed"
        );
        assert!(
            counter(&shared.stats.reconstructions) > 0,
            "({what}): nothing was reconstructed"
        );
    });
}

/// Every default layout: (drives, k, m).
const LAYOUTS: &[(usize, u8, u8)] = &[
    (2, 1, 1),
    (3, 1, 2),
    (4, 2, 2),
    (6, 4, 2),
    (8, 6, 2),
    (12, 8, 4),
    (16, 12, 4),
];

fn rot_and_read(at: Where) {
    for &(n, k, m) in LAYOUTS {
        let layout = Layout { data: k, parity: m };
        let (d, cfg, objs) = setup(n, layout, 100 + n as u64);
        let rotted = rot_within_redundancy(&d, layout, &objs, at, false);
        assert!(rotted > 8, "{layout}: only {rotted} records rotted");
        let what = match at {
            Where::Payload => format!("{layout}: payloads rotten"),
            Where::Header => format!("{layout}: headers rotten"),
        };
        verify_exact_after_rot(&cfg, &objs, &what);
    }
}

#[test]
fn rotten_shard_and_commit_payloads_are_detected_not_served_in_every_layout() {
    rot_and_read(Where::Payload);
}

#[test]
fn rotten_record_headers_are_detected_not_served_in_every_layout() {
    rot_and_read(Where::Header);
}

/// Rot in headers and payloads (commit copies of striped objects included)
/// and then the index is lost: the rebuild must skip every rotten record, use
/// the intact commit copy, and the objects still read back exact.
#[test]
fn rot_then_a_lost_index_rebuilds_from_the_intact_records() {
    let layout = Layout { data: 4, parity: 2 };
    let (d, cfg, objs) = setup(6, layout, 200);
    // Headers of the first half of the objects' records, payloads of the rest.
    let (a, b) = objs.split_at(objs.len() / 2);
    rot_within_redundancy(&d, layout, a, Where::Header, true);
    rot_within_redundancy(&d, layout, b, Where::Payload, true);
    lose_index(&d.paths);
    verify_exact_after_rot(&cfg, &objs, "rot and index rebuilt");
}

/// m+1 rotten shards of one stripe: reads touching that stripe fail with
/// ReadQuorum, reads of the other stripes still work, nothing wrong is ever
/// served. All m+1 commit copies of a small object rotten: ReadQuorum.
#[test]
fn rot_beyond_m_fails_the_read_and_never_serves_wrong_bytes() {
    let layout = Layout { data: 4, parity: 2 };
    let (d, cfg, objs) = setup(6, layout, 300);
    let all = scan_records(&d.paths, 16);
    let big = objs.iter().find(|o| o.body.len() > 5 << 20).unwrap();
    let small = objs.iter().find(|o| o.body.len() == 4096).unwrap();
    let rb = records_of(&all, big);
    // Stripe 2: one parity and two data shards, payloads and a header.
    rot(&rb.shards[&(2, 0)], Where::Payload, 1);
    rot(&rb.shards[&(2, 3)], Where::Header, 2);
    rot(&rb.shards[&(2, 5)], Where::Payload, 3);
    let rs = records_of(&all, small);
    for (copy, f) in &rs.commits {
        rot(
            f,
            if copy % 2 == 0 {
                Where::Payload
            } else {
                Where::Header
            },
            *copy as u64,
        );
    }
    let (bk, bb, sk) = (big.key.clone(), big.body.clone(), small.key.clone());
    let others: Vec<(String, Vec<u8>)> = objs
        .iter()
        .filter(|o| o.key != big.key && o.key != small.key)
        .map(|o| (o.key.clone(), o.body.clone()))
        .collect();
    run_with(&cfg, true, |e, shared| async move {
        let s = STRIPE_DATA as u64;
        match get(&e, BUCKET, &bk).await {
            Err(EngineError::ReadQuorum { .. }) => {}
            Ok(got) => panic!(
                "{bk}: read with 3 rotten shards in stripe 2 returned {} bytes (exact: {})",
                got.len(),
                got == bb
            ),
            Err(err) => panic!("{bk}: expected ReadQuorum, got {err:?}"),
        }
        // The stream fails exactly at stripe 2, after serving stripes 0 and 1 exactly.
        let mut r = e.get(BUCKET, &bk, None).await.unwrap();
        let mut served = Vec::new();
        let err = loop {
            match r.next_chunk().await {
                Some(Ok(c)) => served.extend_from_slice(&c),
                Some(Err(err)) => break err,
                None => panic!("{bk}: stream ended without error"),
            }
        };
        assert!(matches!(err, EngineError::ReadQuorum { .. }), "{err:?}");
        assert_eq!(served.len() as u64, 2 * s);
        assert!(served == bb[..2 * s as usize]);
        for (a, b) in [
            (0, 10),
            (s - 3, s + 3),
            (3 * s, 3 * s + 100),
            (bb.len() as u64 - 5, bb.len() as u64),
        ] {
            assert!(
                get_range(&e, BUCKET, &bk, a, b).await.unwrap() == bb[a as usize..b as usize],
                "{a}..{b}"
            );
        }
        for (a, b) in [
            (2 * s, 2 * s + 1),
            (2 * s + 5000, 2 * s + 300_000),
            (3 * s - 1, 3 * s + 1),
        ] {
            let r = get_range(&e, BUCKET, &bk, a, b).await;
            assert!(
                matches!(r, Err(EngineError::ReadQuorum { .. })),
                "{a}..{b}: {:?}",
                r.map(|v| v.len())
            );
        }
        let r = get(&e, BUCKET, &sk).await;
        assert!(
            matches!(r, Err(EngineError::ReadQuorum { .. })),
            "{sk}: {:?}",
            r.map(|v| v.len())
        );
        for (k, body) in &others {
            assert!(get(&e, BUCKET, k).await.unwrap() == *body, "{k}");
        }
        assert!(counter(&shared.stats.corrupt_records) >= 3 + 3);
    });
}

/// The records' payloads are user bytes. A data shard's payload starts right
/// after its header, so a client controls what sits at the next 4 KiB
/// boundary of the segment, and can put a well-formed record there (a commit
/// for another key, crc and all). As long as the real header is intact the
/// scan skips the whole record; once that header rots (or a power cut tears
/// it), a rebuild must still not take the client's bytes for a record: the
/// forged commit must not appear in the index.
#[test]
fn payload_bytes_are_never_taken_for_records_when_a_header_rots() {
    use cairn::engine::meta::{encode_commit_payload, DataLoc, ObjectMeta};
    use cairn::engine::placement::partition_of;
    use cairn::engine::record::{RecordHeader, FIXED_LEN, FORMAT_VERSION};

    let layout = Layout { data: 4, parity: 2 };
    let d = drives(6);
    let cfg = config(&d, Some(layout));
    let victim = ("victim", "payroll.csv");
    let p = partition_of(victim.0, victim.1, 16);
    // The attacker picks a key of its own in the victim's partition.
    let attacker_key = (0..)
        .map(|i| format!("innocent-{i}.bin"))
        .find(|k| partition_of(BUCKET, k, 16) == p)
        .unwrap();
    let forged_data = b"forged content".to_vec();
    let meta = ObjectMeta {
        version: 1,
        seq: u64::MAX,
        size: forged_data.len() as u64,
        etag: md5_hex(&forged_data),
        modified_ms: 0,
        null: true,
        delete_marker: false,
        content_type: None,
        headers: vec![],
        user_meta: vec![],
        layout: (4, 2),
        rotation: 0,
        data: DataLoc::Inline,
        tags: vec![],
        attrs: Vec::new(),
    };
    let payload = encode_commit_payload(&meta, b"", &forged_data);
    let h = RecordHeader {
        format: FORMAT_VERSION,
        kind: Kind::Commit,
        partition: p,
        bucket: victim.0.into(),
        key: victim.1.into(),
        version: 1,
        part_number: 0,
        stripe: 0,
        shard: 0,
        layout,
        data_len: forged_data.len() as u64,
        payload_len: payload.len() as u32,
        seq: u64::MAX,
        payload_crc: crc32c::crc32c(&payload),
    };
    let mut forged = vec![0u8; h.header_len() + payload.len()];
    // The attacker cannot know the set's header key: its best guess.
    h.encode_into(&mut forged, 0);
    forged[h.header_len()..].copy_from_slice(&payload);
    // Shard 0 of stripe 0 carries body bytes [0, shard_len); its payload
    // starts header_len bytes into a 4 KiB-aligned record.
    let own_header = FIXED_LEN + BUCKET.len() + attacker_key.len();
    let at = 4096 - own_header;
    let mut body = data(1 << 20, 400);
    body[at..at + forged.len()].copy_from_slice(&forged);
    let (b2, k2) = (body.clone(), attacker_key.clone());
    let version = run(&cfg, |e| async move {
        e.create_bucket(BUCKET).await.unwrap();
        e.create_bucket(victim.0).await.unwrap();
        put(&e, victim.0, victim.1, b"the real payroll").await;
        put(&e, BUCKET, &k2, &b2).await;
        e.head(BUCKET, &k2).unwrap().meta.version
    });
    let all = scan_records(&d.paths, 16);
    let shard0 = all
        .iter()
        .find(|f| {
            f.header.key == attacker_key
                && f.header.version == version
                && f.header.kind == Kind::Shard
                && f.header.shard == 0
        })
        .expect("shard 0 of the attacker's object");
    assert!(
        !all.iter()
            .any(|f| f.header.key == victim.1 && f.header.seq == u64::MAX),
        "with intact headers the scan skips payloads"
    );
    // Rot one byte of that shard's header, lose the index.
    rot(shard0, Where::Header, 7);
    lose_index(&d.paths);
    run(&cfg, |e| async move {
        let got = get(&e, victim.0, victim.1).await.unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            "the real payroll",
            "a commit record forged inside an object's payload was indexed after its header rotted"
        );
        assert_eq!(get(&e, BUCKET, &attacker_key).await.unwrap(), body);
    });
}
