//! The scrubber finds rot that no read meets: every record nobody reads
//! (inline copies, commit copies, shards of plain and multipart objects and
//! of noncurrent versions, parts of an upload in progress, upload records,
//! tombstones) is read back within one pass and repaired, so each regains
//! its full redundancy: afterwards m more records of the same group can rot
//! and everything still reads back exact, even from a rebuilt index.

mod common;

use std::time::Duration;

use common::*;

use cairn::engine::layout::Layout;
use cairn::engine::record::Kind;
use cairn::engine::Versioning;

const MIB: usize = 1 << 20;

/// Picks the records of one group out of those on the drives.
type Pick = Box<dyn Fn(&FoundRecord) -> bool>;

/// The records of one group: the copies of one replicated record, or the
/// shards of one stripe.
fn same_group(a: &FoundRecord, b: &FoundRecord) -> bool {
    let (x, y) = (&a.header, &b.header);
    let same_record = x.kind == y.kind
        && x.bucket == y.bucket
        && x.key == y.key
        && x.version == y.version
        && x.part_number == y.part_number
        && x.seq == y.seq;
    match x.kind {
        Kind::Shard => same_record && x.stripe == y.stripe,
        _ => same_record,
    }
}

/// A byte of the record's payload, or of its header when the payload is
/// empty (a null tombstone's): a flip in the padding would change nothing.
fn rot_at(f: &FoundRecord, at: u64) -> u64 {
    match u64::from(f.header.payload_len) {
        0 => f.offset + 12,
        len => f.payload_offset() + at.min(len - 1),
    }
}

#[test]
fn the_scrubber_finds_and_repairs_every_rotten_record_within_one_pass() {
    let layout = Layout { data: 4, parity: 2 };
    let d = drives(6);
    let mut cfg = config(&d, Some(layout));
    let small = data(1000, 1);
    let big = data(3 * MIB + 7, 2);
    let (old, new) = (data(2 * MIB, 3), data(2 * MIB + 1, 4));
    let (p1, p2) = (data(5 * MIB, 5), data(MIB + 3, 6));
    let open_part = data(MIB + 9, 7);
    let bodies = (small.clone(), big.clone(), old.clone(), new.clone());
    let parts = (p1.clone(), p2.clone(), open_part.clone());
    let (old_version, open_upload) = run(&cfg, |e| async move {
        let (small, big, old, new) = bodies;
        let (p1, p2, open_part) = parts;
        e.create_bucket("bkt").await.unwrap();
        e.create_bucket("vbk").await.unwrap();
        e.set_versioning("vbk", Versioning::Enabled).await.unwrap();
        put(&e, "bkt", "small", &small).await;
        put(&e, "bkt", "big", &big).await;
        put(&e, "bkt", "gone", &data(500, 8)).await;
        e.delete("bkt", "gone", None, false).await.unwrap();
        put(&e, "vbk", "obj", &old).await;
        let old_version = e.head("vbk", "obj").unwrap().meta.version;
        put(&e, "vbk", "obj", &new).await;
        put_multipart(&e, "bkt", "mp", &[&p1, &p2]).await;
        let open = put_open_upload(&e, "bkt", "open", &open_part).await;
        (old_version, open)
    });

    // Rot one record of every group that a client never reads here.
    let all = scan_records(&d.paths, 16);
    let groups: Vec<(&str, Pick)> = vec![
        (
            "inline object's commit copy",
            Box::new(|f| f.header.kind == Kind::Commit && f.header.key == "small"),
        ),
        (
            "striped object's shard",
            Box::new(|f| f.header.kind == Kind::Shard && f.header.key == "big"),
        ),
        (
            "striped object's commit copy",
            Box::new(|f| f.header.kind == Kind::Commit && f.header.key == "big"),
        ),
        (
            "noncurrent version's shard",
            Box::new(move |f| f.header.kind == Kind::Shard && f.header.version == old_version),
        ),
        (
            "multipart object's part-1 shard",
            Box::new(|f| {
                f.header.kind == Kind::Shard && f.header.key == "mp" && f.header.part_number == 1
            }),
        ),
        (
            "multipart object's commit copy",
            Box::new(|f| f.header.kind == Kind::Commit && f.header.key == "mp"),
        ),
        (
            "tombstone copy",
            Box::new(|f| f.header.kind == Kind::Tombstone && f.header.key == "gone"),
        ),
        (
            "open upload's record copy",
            Box::new(move |f| f.header.kind == Kind::Upload && f.header.version == open_upload),
        ),
        (
            "open upload's part record copy",
            Box::new(move |f| f.header.kind == Kind::Part && f.header.version == open_upload),
        ),
        (
            "open upload's part shard",
            Box::new(move |f| f.header.kind == Kind::Shard && f.header.version == open_upload),
        ),
    ];
    let mut rotten: Vec<FoundRecord> = Vec::new();
    for (what, pick) in &groups {
        let f = all
            .iter()
            .filter(|f| pick(f))
            // The newest record of its kind (the live one: a key's older
            // commit records are dead).
            .max_by_key(|f| (f.header.seq, f.header.stripe == 0))
            .unwrap_or_else(|| panic!("no {what} on the drives"))
            .clone();
        flip_byte(&f.path, rot_at(&f, 3), 0x10);
        rotten.push(f);
    }

    // One pass: the scrubber reads everything and repairs what rotted.
    cfg.scrub_interval = Duration::from_secs(1);
    cfg.scrub_rate = 0;
    let rotted = rotten.len() as u64;
    run_with(&cfg, true, |e, shared| async move {
        let sc = &shared.background.scrub;
        // Every partition is seen at start and due one interval later.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while counter(&sc.passes) < 16 {
            assert!(
                std::time::Instant::now() < deadline,
                "no full pass in 60 s: {} partition passes",
                counter(&sc.passes)
            );
            cairn::runtime::sleep(Duration::from_millis(50)).await;
        }
        e.quiesce().await;
        assert_eq!(counter(&sc.bad), rotted, "problems found");
        assert_eq!(counter(&sc.repaired), rotted, "records repaired");
        assert_eq!(counter(&sc.lost), 0);
        assert!(counter(&sc.records) > 40 && counter(&sc.bytes) > 10 * MIB as u64);
        // No client read met the rot: the scrubber found it.
        assert_eq!(counter(&shared.stats.reconstructions), 0);
    });

    // Each group regained m+1 good records: rot m more of each at their
    // original places, lose the index, and everything still reads back.
    for r in &rotten {
        let others: Vec<&FoundRecord> = all
            .iter()
            .filter(|f| {
                same_group(f, r) && (f.path.clone(), f.offset) != (r.path.clone(), r.offset)
            })
            .take(2)
            .collect();
        assert_eq!(others.len(), 2, "group of {:?}", r.header);
        for o in others {
            flip_byte(&o.path, rot_at(o, 5), 0x20);
        }
    }
    lose_index(&d.paths);
    cfg.scrub_interval = Duration::ZERO;
    run(&cfg, |e| async move {
        assert_eq!(get(&e, "bkt", "small").await.unwrap(), small);
        assert_eq!(get(&e, "bkt", "big").await.unwrap(), big);
        assert_eq!(get(&e, "vbk", "obj").await.unwrap(), new);
        assert_eq!(get(&e, "bkt", "mp").await.unwrap(), [p1, p2].concat());
        assert!(
            e.head("bkt", "gone").is_err(),
            "a deleted key came back: its tombstone was not repaired"
        );
        let entry = e
            .lookup(
                "vbk",
                "obj",
                Some(cairn::engine::VersionSel::Id(old_version)),
            )
            .unwrap()
            .expect("noncurrent version");
        let guard = e.begin_read();
        let mut r = e
            .open_reader(guard, "vbk", "obj", entry, None, None)
            .await
            .unwrap();
        assert_eq!(r.read_all().await.unwrap(), old);
        complete_open_upload(&e, "bkt", "open", open_upload).await;
        assert_eq!(get(&e, "bkt", "open").await.unwrap(), open_part);
    });
}
