//! A shard found missing or corrupt by a read is rewritten (repair), so the
//! object regains its full redundancy: after repair, m further shards of the
//! same stripe can rot and the object still reads back exact.

mod common;

use common::*;

use cairn::engine::layout::Layout;
use cairn::engine::meta::DataLoc;
use cairn::engine::record::Kind;
use cairn::engine::EngineError;

#[test]
fn a_read_that_meets_a_rotten_shard_repairs_it() {
    let layout = Layout { data: 4, parity: 2 };
    let d = drives(6);
    let cfg = config(&d, Some(layout));
    let body = data(3 << 20, 77);
    let b2 = body.clone();
    let version = run(&cfg, |e| async move {
        e.create_bucket("heal").await.unwrap();
        put(&e, "heal", "obj", &b2).await;
        e.head("heal", "obj").unwrap().meta.version
    });
    let shards: Vec<FoundRecord> = scan_records(&d.paths, 16)
        .into_iter()
        .filter(|f| {
            f.header.kind == Kind::Shard && f.header.version == version && f.header.stripe == 0
        })
        .collect();
    let shard = |i: u8| {
        shards
            .iter()
            .find(|f| f.header.shard == i)
            .expect("shard present")
    };
    // Rot shard 0 (data): the read reconstructs and queues a repair.
    flip_byte(&shard(0).path, shard(0).payload_offset() + 10, 0x01);
    let b3 = body.clone();
    run_with(&cfg, true, |e, shared| async move {
        assert_eq!(get(&e, "heal", "obj").await.unwrap(), b3);
        // run_with quiesces after this closure; wait here for the repair so
        // the index can be checked.
        e.quiesce().await;
        assert_eq!(counter(&shared.stats.repaired_shards), 1);
        // Counted for /metrics: one repair run, one shard's bytes.
        assert_eq!(counter(&shared.stats.repair_runs), 1);
        assert!(counter(&shared.stats.repaired_bytes) > 0);
        let DataLoc::Stripes(stripes) = e.head("heal", "obj").unwrap().meta.data else {
            panic!("striped object expected");
        };
        let loc = stripes[0][0].expect("shard 0 located");
        assert_ne!(
            (loc.segment, loc.offset),
            (shard(0).segment, shard(0).offset),
            "the repaired shard is a new record"
        );
    });
    // Now rot two more shards of stripe 0 at their original places: with the
    // repair, four intact shards remain; without it, only three would.
    flip_byte(&shard(1).path, shard(1).payload_offset() + 10, 0x01);
    flip_byte(&shard(4).path, shard(4).payload_offset() + 10, 0x01);
    let b4 = body.clone();
    run(&cfg, |e| async move {
        match get(&e, "heal", "obj").await {
            Ok(got) => assert!(got == b4, "wrong bytes"),
            Err(EngineError::ReadQuorum { .. }) => {
                panic!("the first rotten shard was not repaired")
            }
            Err(other) => panic!("{other}"),
        }
    });
}

#[test]
fn shards_missing_since_the_write_are_written_once_their_drive_is_back() {
    let layout = Layout { data: 2, parity: 2 };
    let d = drives(4);
    let cfg = config(&d, Some(layout));
    let body = data((2 << 20) + 5, 3);
    let b2 = body.clone();
    // Write with one drive away: its shards are recorded as missing.
    pull_drive(&d.paths[1]);
    run(&cfg, |e| async move {
        e.create_bucket("back").await.unwrap();
        put(&e, "back", "obj", &b2).await;
    });
    return_drive(&d.paths[1]);
    let b3 = body.clone();
    run_with(&cfg, true, |e, shared| async move {
        let before = match e.head("back", "obj").unwrap().meta.data {
            DataLoc::Stripes(s) => s.iter().flatten().filter(|l| l.is_none()).count(),
            DataLoc::Inline | DataLoc::Parts { .. } | DataLoc::Content { .. } => 0,
        };
        assert!(before > 0, "the write should have missed drive 1");
        assert_eq!(get(&e, "back", "obj").await.unwrap(), b3);
        e.quiesce().await;
        let after = match e.head("back", "obj").unwrap().meta.data {
            DataLoc::Stripes(s) => s.iter().flatten().filter(|l| l.is_none()).count(),
            DataLoc::Inline | DataLoc::Parts { .. } | DataLoc::Content { .. } => 0,
        };
        assert_eq!(after, 0, "every missing shard rewritten");
        assert_eq!(counter(&shared.stats.repaired_shards), before as u64);
    });
}

/// A noncurrent version is repaired like the latest one: its read names it,
/// and the healed shard lands in that version's entry, not the latest's.
#[test]
fn a_rotten_shard_of_an_older_version_is_repaired_in_that_version() {
    use cairn::engine::{VersionSel, Versioning};
    let layout = Layout { data: 4, parity: 2 };
    let d = drives(6);
    let cfg = config(&d, Some(layout));
    let old = data(2 << 20, 5);
    let o2 = old.clone();
    let version = run(&cfg, |e| async move {
        e.create_bucket("vheal").await.unwrap();
        e.set_versioning("vheal", Versioning::Enabled)
            .await
            .unwrap();
        put(&e, "vheal", "obj", &o2).await;
        let v = e.head("vheal", "obj").unwrap().meta.version;
        put(&e, "vheal", "obj", &data(3 << 20, 6)).await;
        v
    });
    let rotten = scan_records(&d.paths, 16)
        .into_iter()
        .find(|f| {
            f.header.kind == Kind::Shard
                && f.header.version == version
                && f.header.stripe == 0
                && f.header.shard == 0
        })
        .expect("shard 0 of the old version");
    flip_byte(&rotten.path, rotten.payload_offset() + 10, 0x01);
    run_with(&cfg, true, |e, shared| async move {
        let sel = Some(VersionSel::Id(version));
        let read = |e: std::rc::Rc<cairn::engine::Engine>| async move {
            let entry = e.lookup("vheal", "obj", sel).unwrap().unwrap();
            let guard = e.begin_read();
            let mut r = e
                .open_reader(guard, "vheal", "obj", entry, None, None)
                .await
                .unwrap();
            r.read_all().await.unwrap()
        };
        assert_eq!(read(e.clone()).await, old);
        e.quiesce().await;
        assert_eq!(counter(&shared.stats.repaired_shards), 1);
        let entry = e.lookup("vheal", "obj", sel).unwrap().unwrap();
        let DataLoc::Stripes(stripes) = entry.meta.data else {
            panic!("striped object expected");
        };
        let loc = stripes[0][0].expect("shard 0 located");
        assert_ne!(
            (loc.segment, loc.offset),
            (rotten.segment, rotten.offset),
            "the old version points at the repaired shard"
        );
        assert_eq!(read(e.clone()).await, old);
    });
}

/// A write taken while a drive was away is remembered for repair in the
/// index; after a restart with the drive back it regains every shard with
/// no read asking for it, and nothing stays remembered.
#[test]
fn a_write_taken_while_a_drive_was_away_is_repaired_once_it_is_back_without_a_read() {
    let layout = Layout { data: 2, parity: 2 };
    let d = drives(4);
    let cfg = config(&d, Some(layout));
    let body = data((2 << 20) + 5, 9);
    let b2 = body.clone();
    pull_drive(&d.paths[1]);
    run_with(&cfg, true, |e, shared| async move {
        e.create_bucket("away").await.unwrap();
        put(&e, "away", "obj", &b2).await;
        e.quiesce().await;
        assert_eq!(
            shared.repairs_remembered().unwrap(),
            1,
            "the short write is remembered"
        );
    });
    return_drive(&d.paths[1]);
    let missing = |e: &cairn::engine::Engine| match e.head("away", "obj").unwrap().meta.data {
        DataLoc::Stripes(s) => s.iter().flatten().filter(|l| l.is_none()).count(),
        DataLoc::Inline | DataLoc::Parts { .. } | DataLoc::Content { .. } => 0,
    };
    run_with(&cfg, true, |e, shared| async move {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while missing(&e) > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "not repaired in 30 s: {} runs, {} failures, {:?}, {} remembered",
                counter(&shared.stats.repair_runs),
                counter(&shared.stats.repair_failures),
                e.last_errors(),
                shared.repairs_remembered().unwrap()
            );
            cairn::runtime::sleep(std::time::Duration::from_millis(20)).await;
        }
        e.quiesce().await;
        assert!(counter(&shared.stats.repaired_shards) > 0);
        assert_eq!(counter(&shared.stats.reconstructions), 0, "no read ran");
        assert_eq!(shared.repairs_remembered().unwrap(), 0, "nothing left");
    });
    // Full redundancy again: two drives can go and the object still reads.
    pull_drive(&d.paths[2]);
    pull_drive(&d.paths[3]);
    run(&cfg, |e| async move {
        assert_eq!(get(&e, "away", "obj").await.unwrap(), body);
    });
}
