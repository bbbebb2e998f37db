//! Healing: a drive that comes back empty (wiped while the node was down,
//! or while it runs) is formatted into its slot and refilled from the
//! others while a client keeps reading and writing; afterwards the node
//! survives the loss of m OTHER drives with every object byte-exact (plain,
//! multipart, inline, noncurrent versions, tombstones, an upload in
//! progress), which it could not unless the healed drive holds its share
//! again. A restart in the middle of a heal resumes it where it was.

mod common;

use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

use cairn::engine::drive_service::HoldKind;
use cairn::engine::layout::Layout;
use cairn::engine::{Engine, EngineConfig, MemBody, PutOptions, Shared, VersionSel, Versioning};

const MIB: usize = 1 << 20;

/// What the node must hold: current objects, one noncurrent version, a
/// deleted key and an upload in progress with one part.
#[derive(Clone)]
struct Model {
    objects: Vec<(String, String, Vec<u8>)>,
    old: (u128, Vec<u8>),
    upload: (u128, Vec<u8>),
}

async fn fill(e: Rc<Engine>) -> Model {
    e.create_bucket("bkt").await.unwrap();
    e.create_bucket("vbk").await.unwrap();
    e.set_versioning("vbk", Versioning::Enabled).await.unwrap();
    let mut objects = Vec::new();
    for i in 0..24u64 {
        // Inline, one stripe, several stripes.
        let size = [700, 70 << 10, 3 * MIB + 5][i as usize % 3];
        let body = data(size, i);
        let key = format!("obj/{i}");
        put(&e, "bkt", &key, &body).await;
        objects.push(("bkt".to_owned(), key, body));
    }
    put(&e, "bkt", "gone", &data(900, 99)).await;
    e.delete("bkt", "gone", None, false).await.unwrap();
    let old = data(2 * MIB + 1, 100);
    put(&e, "vbk", "obj", &old).await;
    let old_version = e.head("vbk", "obj").unwrap().meta.version;
    let new = data(MIB + 7, 101);
    put(&e, "vbk", "obj", &new).await;
    objects.push(("vbk".to_owned(), "obj".to_owned(), new));
    let (p1, p2) = (data(5 * MIB, 102), data(MIB + 3, 103));
    put_multipart(&e, "bkt", "mp", &[&p1, &p2]).await;
    objects.push(("bkt".to_owned(), "mp".to_owned(), [p1, p2].concat()));
    let open_part = data(MIB + 9, 104);
    let open = put_open_upload(&e, "bkt", "open", &open_part).await;
    Model {
        objects,
        old: (old_version, old),
        upload: (open, open_part),
    }
}

/// Everything of the model reads back exact; the open upload completes.
async fn check(e: &Rc<Engine>, m: &Model) {
    for (b, k, body) in &m.objects {
        let got = get(e, b, k)
            .await
            .unwrap_or_else(|err| panic!("{b}/{k}: {err}"));
        assert!(got == *body, "{b}/{k}: other bytes");
    }
    assert!(e.head("bkt", "gone").is_err(), "a deleted key came back");
    let entry = e
        .lookup("vbk", "obj", Some(VersionSel::Id(m.old.0)))
        .unwrap()
        .expect("the noncurrent version");
    let mut r = e
        .open_reader(e.begin_read(), "vbk", "obj", entry, None, None)
        .await
        .unwrap();
    assert!(r.read_all().await.unwrap() == m.old.1, "noncurrent version");
    let (upload, part) = &m.upload;
    complete_open_upload(e, "bkt", "open", *upload).await;
    assert!(get(e, "bkt", "open").await.unwrap() == *part, "open upload");
}

/// Wipes a drive: its directory comes back empty, as a new drive would.
fn wipe(p: &Path) {
    std::fs::remove_dir_all(p).expect("wipe drive");
    std::fs::create_dir(p).expect("empty drive");
}

/// While a heal runs, a client writes new objects and reads old ones, with
/// no error, until every heal is over. Returns what the client wrote and
/// how many of its requests met a heal in progress.
async fn client_until_healed(
    e: &Rc<Engine>,
    shared: &Arc<Shared>,
    m: &Model,
    tag: &str,
) -> (Vec<(String, String, Vec<u8>)>, u32) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut wrote = Vec::new();
    let mut during = 0;
    let mut i = 0u64;
    while !shared.heal.heals().is_empty() || i < 4 {
        assert!(Instant::now() < deadline, "heal not over in 120 s");
        if !shared.heal.heals().is_empty() {
            during += 1;
        }
        let key = format!("during/{tag}/{i}");
        let body = data([800, 300 << 10][i as usize % 2], 1000 + i);
        e.put(
            "bkt",
            &key,
            PutOptions::default(),
            &mut MemBody::new(body.clone()),
        )
        .await
        .unwrap_or_else(|err| panic!("a write during the heal failed: {err}"));
        wrote.push(("bkt".to_owned(), key, body));
        let (b, k, body) = &m.objects[i as usize % m.objects.len()];
        let got = get(e, b, k)
            .await
            .unwrap_or_else(|err| panic!("a read during the heal failed: {b}/{k}: {err}"));
        assert!(got == *body, "{b}/{k} read other bytes during the heal");
        i += 1;
        cairn::runtime::sleep(Duration::from_millis(20)).await;
    }
    (wrote, during)
}

/// Heal counters and read noise after a heal of `wiped`.
fn assert_healed_quietly(shared: &Shared, wiped: &[usize]) {
    let h = &shared.heal;
    assert!(h.heals().is_empty(), "still healing");
    assert!(
        counter(&h.holders_healed) > 0,
        "nothing was healed: the walk never found the wiped drive's records"
    );
    assert_eq!(counter(&h.lost), 0, "records lost");
    assert_eq!(
        counter(&shared.stats.corrupt_records),
        0,
        "missing records of a healing drive counted as corruption"
    );
    for &d in wiped {
        assert_eq!(
            counter(&shared.stats.drive_errors[d]),
            0,
            "a healing drive's missing records counted as drive errors"
        );
    }
}

/// Moves `drives` away, reads everything (the model and what the client
/// wrote during the heal) from what is left, and puts them back.
fn survive_losing(
    cfg: &EngineConfig,
    d: &Drives,
    lost: &[usize],
    m: &Model,
    more: &[(String, String, Vec<u8>)],
) {
    for &x in lost {
        pull_drive(&d.paths[x]);
    }
    let (m, more) = (m.clone(), more.to_vec());
    run(cfg, |e| async move {
        check(&e, &m).await;
        for (b, k, body) in &more {
            let got = get(&e, b, k)
                .await
                .unwrap_or_else(|err| panic!("{b}/{k} written during the heal: {err}"));
            assert!(got == *body, "{b}/{k} written during the heal: other bytes");
        }
    });
    for &x in lost {
        return_drive(&d.paths[x]);
    }
}

fn heal_config(d: &Drives, layout: Layout, rate: u64) -> EngineConfig {
    let mut cfg = config(d, Some(layout));
    cfg.scrub_interval = Duration::ZERO;
    // The engine alone has no HTTP clients: its node is always quiet.
    (cfg.heal_rate, cfg.heal_idle_rate) = (rate, rate);
    cfg
}

#[test]
fn a_drive_wiped_while_the_node_was_down_is_healed_and_the_node_then_survives_losing_m_others() {
    let layout = Layout { data: 3, parity: 1 };
    let d = drives(4);
    let cfg = heal_config(&d, layout, 16 * MIB as u64);
    let m = run(&cfg, fill);
    wipe(&d.paths[2]);
    let model = m.clone();
    let more = run_with(&cfg, true, |e, shared| async move {
        assert_eq!(shared.heal.heals().len(), 1, "the empty drive is healing");
        let (wrote, during) = client_until_healed(&e, &shared, &model, "down").await;
        assert!(during > 0, "the client never ran during the heal");
        assert_healed_quietly(&shared, &[2]);
        wrote
    });
    assert!(
        d.paths[2].join(".cairn/buckets.json").exists(),
        "the healed drive lacks the system files"
    );
    // The heal's end survives a restart.
    run_with(&cfg, true, |_, shared| async move {
        assert!(
            shared.heal.heals().is_empty(),
            "healing again after a restart"
        );
    });
    survive_losing(&cfg, &d, &[0], &m, &more);
}

#[test]
fn two_drives_wiped_on_a_layout_with_two_parity_drives_are_healed() {
    let layout = Layout { data: 4, parity: 2 };
    let d = drives(6);
    let cfg = heal_config(&d, layout, 16 * MIB as u64);
    let m = run(&cfg, fill);
    wipe(&d.paths[2]);
    wipe(&d.paths[4]);
    let model = m.clone();
    let more = run_with(&cfg, true, |e, shared| async move {
        assert_eq!(
            shared.heal.heals().len(),
            2,
            "both empty drives are healing"
        );
        let (wrote, during) = client_until_healed(&e, &shared, &model, "two").await;
        assert!(during > 0, "the client never ran during the heal");
        assert_healed_quietly(&shared, &[2, 4]);
        wrote
    });
    // Drive 0 holds the index: losing it rebuilds the index from the
    // drives, healed ones included.
    survive_losing(&cfg, &d, &[0, 5], &m, &more);
}

#[test]
fn the_index_drive_wiped_is_healed_from_an_index_rebuilt_from_the_others() {
    let layout = Layout { data: 3, parity: 1 };
    let d = drives(4);
    let cfg = heal_config(&d, layout, 16 * MIB as u64);
    let m = run(&cfg, fill);
    wipe(&d.paths[0]);
    let model = m.clone();
    let more = run_with(&cfg, true, |e, shared| async move {
        assert_eq!(shared.heal.heals().len(), 1, "the empty drive is healing");
        let (wrote, _) = client_until_healed(&e, &shared, &model, "index").await;
        assert_eq!(counter(&shared.stats.corrupt_records), 0);
        assert_eq!(counter(&shared.heal.lost), 0);
        wrote
    });
    survive_losing(&cfg, &d, &[3], &m, &more);
}

#[test]
fn a_drive_wiped_while_the_node_runs_is_formatted_into_its_slot_and_healed() {
    let layout = Layout { data: 3, parity: 1 };
    let d = drives(4);
    let cfg = heal_config(&d, layout, 16 * MIB as u64);
    let m = run(&cfg, fill);
    let (model, wiped) = (m.clone(), d.paths[2].clone());
    let more = run_with(&cfg, true, |e, shared| async move {
        cairn::engine::health::start_probes(&shared, Duration::from_millis(50)).unwrap();
        wipe(&wiped);
        let deadline = Instant::now() + Duration::from_secs(30);
        while shared.heal.heals().is_empty() {
            assert!(Instant::now() < deadline, "the wiped drive was not noticed");
            cairn::runtime::sleep(Duration::from_millis(20)).await;
        }
        let (wrote, during) = client_until_healed(&e, &shared, &model, "run").await;
        assert!(during > 0, "the client never ran during the heal");
        assert_healed_quietly(&shared, &[]);
        assert!(shared.drive_online(2), "the healed drive is back online");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !wiped.join(".cairn/buckets.json").exists() {
            assert!(
                Instant::now() < deadline,
                "the healed drive lacks the system files"
            );
            cairn::runtime::sleep(Duration::from_millis(20)).await;
        }
        wrote
    });
    survive_losing(&cfg, &d, &[1], &m, &more);
}

#[test]
fn a_restart_in_the_middle_of_a_heal_resumes_it_where_it_was() {
    let layout = Layout { data: 3, parity: 1 };
    let d = drives(4);
    let mut cfg = heal_config(&d, layout, (2 * MIB) as u64);
    let m = run(&cfg, fill);
    wipe(&d.paths[1]);
    let first = run_with(&cfg, true, |e, shared| async move {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let p = shared.heal_progress().unwrap();
            assert_eq!(p.len(), 1);
            if p[0].partitions_done >= 2 {
                assert!(p[0].fraction < 1.0, "over before the restart: slow it down");
                break;
            }
            assert!(Instant::now() < deadline, "no progress in 60 s");
            cairn::runtime::sleep(Duration::from_millis(20)).await;
        }
        e.quiesce().await;
        shared.heal_progress().unwrap()[0].partitions_done
    });
    (cfg.heal_rate, cfg.heal_idle_rate) = (0, 0);
    let total: u64 = {
        let (shared, _) = Engine::open(&cfg).unwrap();
        let p = shared.heal_progress().unwrap();
        assert_eq!(p.len(), 1, "the heal survived the restart");
        assert!(
            p[0].partitions_done >= first,
            "partitions walked before the restart forgotten: {} < {first}",
            p[0].partitions_done
        );
        let total = shared
            .indexes
            .iter()
            .map(|i| i.scrub_total().unwrap())
            .sum();
        shared.close().unwrap();
        total
    };
    run_with(&cfg, true, |_, shared| async move {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !shared.heal.heals().is_empty() {
            assert!(Instant::now() < deadline, "heal not over in 60 s");
            cairn::runtime::sleep(Duration::from_millis(20)).await;
        }
        let walked = shared.heal.holders.load(Ordering::Relaxed);
        assert!(
            walked < total,
            "the resumed heal walked {walked} holders of {total}: it started over"
        );
    });
    survive_losing(&cfg, &d, &[3], &m, &[]);
}

#[test]
fn of_two_drives_healing_one_held_offline_keeps_its_heal_while_the_other_finishes() {
    let layout = Layout { data: 4, parity: 2 };
    let d = drives(6);
    let cfg = heal_config(&d, layout, (2 * MIB) as u64);
    let m = run(&cfg, fill);
    wipe(&d.paths[2]);
    wipe(&d.paths[4]);
    run_with(&cfg, true, |_, shared| async move {
        assert_eq!(
            shared.heal.heals().len(),
            2,
            "both empty drives are healing"
        );
        // Held in the middle of the walks: some partitions are walked for
        // both, some not yet.
        let deadline = Instant::now() + Duration::from_secs(60);
        let of = |d: u16| {
            let p = shared.heal_progress().unwrap();
            p.into_iter().find(|p| p.drive == d)
        };
        while of(4).unwrap().partitions_done < 2 {
            assert!(Instant::now() < deadline, "no progress in 60 s");
            cairn::runtime::sleep(Duration::from_millis(10)).await;
        }
        shared
            .hold_drive(4, HoldKind::Offline, "test".to_owned())
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while shared.heal.heals().len() > 1 {
            assert!(
                Instant::now() < deadline,
                "drive 2's heal not over in 120 s"
            );
            cairn::runtime::sleep(Duration::from_millis(20)).await;
        }
        let left = shared.heal.heals();
        assert_eq!(
            left.iter().map(|h| h.drive).collect::<Vec<_>>(),
            vec![4],
            "the held drive's heal was marked done without it"
        );
        let p = of(4).unwrap();
        assert!(!p.online && p.fraction < 1.0, "drive 4: {p:?}");
        assert_eq!(counter(&shared.heal.lost), 0, "records lost");
        // Idle meanwhile, the held drive's heal stays.
        cairn::runtime::sleep(Duration::from_secs(2)).await;
        assert_eq!(shared.heal.heals(), left, "the held drive's heal ended");
        shared.release_drive(4).unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while !shared.heal.heals().is_empty() {
            assert!(
                Instant::now() < deadline,
                "drive 4's heal not over in 120 s"
            );
            cairn::runtime::sleep(Duration::from_millis(20)).await;
        }
        assert_healed_quietly(&shared, &[2, 4]);
    });
    // Both healed drives hold their shares again: the node survives losing
    // the two others it may lose.
    survive_losing(&cfg, &d, &[1, 5], &m, &[]);
}
