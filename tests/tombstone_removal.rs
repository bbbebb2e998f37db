//! Tombstones of versions deleted by id go once no commit record of their
//! version is left on any drive, and only then: an index rebuilt from the
//! drives at any point (after compaction, with a drive away and back, after
//! kill -9 in the middle of it) never brings a deleted version back. The
//! reverse map of segments agrees with a walk of every index throughout.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::*;

use cairn::engine::index::Holder;
use cairn::engine::layout::Layout;
use cairn::engine::meta::VersionSel;
use cairn::engine::record::Kind;
use cairn::engine::{Engine, EngineConfig, MemBody, PutOptions, Versioning};

const BUCKET: &str = "tomb";
/// Enough versions that the first run's segment of commit records passes
/// compaction's 1 MiB floor for segments with live records.
const KEYS: u64 = 300;
const SIZE: usize = 3000;

fn cfg_of(d: &Drives) -> EngineConfig {
    let mut cfg = config(d, Some(Layout { data: 2, parity: 2 }));
    cfg.partitions = 4;
    cfg
}

fn key(i: u64) -> String {
    format!("k{i:04}")
}

/// Two versions of every key; the first deleted by id. Returns the ids
/// (first, second) and whether the first had a commit copy on drive `away`.
async fn put_and_delete_first(e: Rc<Engine>, away: u16) -> BTreeMap<String, (u128, u128, bool)> {
    e.create_bucket(BUCKET).await.unwrap();
    e.set_versioning(BUCKET, Versioning::Enabled).await.unwrap();
    let mut out = BTreeMap::new();
    for i in 0..KEYS {
        let k = key(i);
        let mut ids = [0u128; 2];
        for (g, id) in ids.iter_mut().enumerate() {
            let body = MemBody::new(data(SIZE, i * 10 + g as u64));
            *id = e
                .put(BUCKET, &k, PutOptions::default(), &mut { body })
                .await
                .unwrap()
                .version;
        }
        let first = e
            .lookup(BUCKET, &k, Some(VersionSel::Id(ids[0])))
            .unwrap()
            .unwrap();
        let on_away = first.commits.iter().any(|c| c.drive == away);
        e.delete(BUCKET, &k, Some(VersionSel::Id(ids[0])), false)
            .await
            .unwrap();
        out.insert(k, (ids[0], ids[1], on_away));
    }
    out
}

fn tombstones(e: &Engine) -> u64 {
    e.shared
        .indexes
        .iter()
        .map(|i| i.tombstones_len().unwrap())
        .sum()
}

fn has_tombstone(e: &Engine, k: &str, version: u128) -> bool {
    let idx = &e.shared.indexes[e.shared.partition_of(BUCKET, k) as usize];
    let target = VersionSel::Id(version);
    idx.held(BUCKET, k, Holder::Tombstone { target })
        .unwrap()
        .is_some()
}

fn reverse_maps_agree(e: &Engine) {
    for idx in &e.shared.indexes {
        let drift = idx.refs_mismatch().unwrap();
        assert!(
            drift.is_empty(),
            "partition {}: reverse map: {drift:?}",
            idx.partition
        );
    }
}

/// Every deleted version stays deleted; every kept one reads back whole.
async fn check_versions(e: Rc<Engine>, ids: &BTreeMap<String, (u128, u128, bool)>) {
    for (i, (k, (first, second, _))) in ids.iter().enumerate() {
        assert!(
            e.lookup(BUCKET, k, Some(VersionSel::Id(*first)))
                .unwrap()
                .is_none(),
            "{k}: deleted version {first} came back"
        );
        let latest = e.lookup(BUCKET, k, None).unwrap().unwrap();
        assert_eq!(latest.meta.version, *second, "{k}");
        let want = data(SIZE, i as u64 * 10 + 1);
        assert_eq!(get(&e, BUCKET, k).await.unwrap(), want, "{k}");
    }
}

fn tombstone_records_on_drives(d: &Drives) -> usize {
    scan_records(&d.paths, 4)
        .iter()
        .filter(|r| r.header.kind == Kind::Tombstone)
        .count()
}

#[test]
fn tombstones_of_deleted_versions_go_once_their_commit_records_are_compacted_away() {
    let d = drives(4);
    let cfg = cfg_of(&d);
    let ids = run(&cfg, |e| put_and_delete_first(e, 0));
    let ids2 = ids.clone();
    run(&cfg, |e| async move {
        assert_eq!(tombstones(&e), KEYS);
        // Nothing compacted: every commit record of the deleted versions is
        // still on the drives, so every tombstone stays.
        let r = e.compact(0.99).await.unwrap();
        assert_eq!(r.segments_removed, 0, "{r:?}");
        assert_eq!(r.tombstones_forgotten, 0, "{r:?}");
        assert_eq!(tombstones(&e), KEYS);
        // The segment holding them is compacted: the tombstones go.
        let r = e.compact(0.3).await.unwrap();
        assert!(r.segments_removed > 0, "{r:?}");
        assert_eq!(r.tombstones_forgotten, KEYS, "{r:?}");
        assert_eq!(tombstones(&e), 0);
        reverse_maps_agree(&e);
        check_versions(e, &ids2).await;
    });
    // The forgotten tombstones' own records are dead: the next pass (their
    // segment is sealed by the restart) reclaims them.
    assert!(tombstone_records_on_drives(&d) > 0);
    let ids2 = ids.clone();
    run(&cfg, |e| async move {
        let r = e.compact(0.3).await.unwrap();
        assert!(r.segments_removed > 0, "{r:?}");
        reverse_maps_agree(&e);
        check_versions(e, &ids2).await;
    });
    assert_eq!(tombstone_records_on_drives(&d), 0);
    // Rebuilt from the drives alone: no deleted version comes back.
    lose_index(&d.paths);
    let ids2 = ids.clone();
    run(&cfg, |e| async move {
        assert_eq!(tombstones(&e), 0);
        reverse_maps_agree(&e);
        check_versions(e, &ids2).await;
    });
}

/// Deletes by id, takes drive `away` out, compacts, brings it back.
/// `rebuilt`: the index lives on that drive, so the run without it
/// rebuilds the index from the other drives.
fn drive_away_then_back(away: usize, rebuilt: bool) {
    let d = drives(4);
    let cfg = cfg_of(&d);
    let ids = run(&cfg, |e| put_and_delete_first(e, away as u16));
    let with_copy_away = ids.values().filter(|v| v.2).count() as u64;
    assert!(
        with_copy_away > 0 && with_copy_away < KEYS,
        "{with_copy_away}"
    );
    pull_drive(&d.paths[away]);
    let ids2 = ids.clone();
    run(&cfg, |e| async move {
        let r = e.compact(0.3).await.unwrap();
        assert!(r.segments_removed > 0, "{r:?}");
        if rebuilt {
            // Rebuilt without the drive: what it holds is unknown.
            assert_eq!(r.tombstones_forgotten, 0, "{r:?}");
            assert_eq!(tombstones(&e), KEYS);
        } else {
            // Forgotten exactly where no copy was on the drive away.
            assert_eq!(r.tombstones_forgotten, KEYS - with_copy_away, "{r:?}");
            for (k, (first, _, on_away)) in &ids2 {
                assert_eq!(has_tombstone(&e, k, *first), *on_away, "{k}");
            }
        }
        reverse_maps_agree(&e);
    });
    // Another pass reclaims the forgotten tombstones' records, then the
    // drive comes back with the old commit records: the index is rebuilt
    // (a drive that was away is back) and must not resurrect a version.
    run(&cfg, |e| async move {
        e.compact(0.3).await.unwrap();
    });
    return_drive(&d.paths[away]);
    let ids2 = ids.clone();
    run(&cfg, |e| async move {
        reverse_maps_agree(&e);
        check_versions(e.clone(), &ids2).await;
        // Now the returned drive's old segment can go too, and the rest
        // of the tombstones with it.
        e.compact(0.3).await.unwrap();
        assert_eq!(tombstones(&e), 0);
        check_versions(e, &ids2).await;
    });
    lose_index(&d.paths);
    run(&cfg, |e| check_versions(e, &ids));
}

#[test]
fn a_tombstone_stays_while_a_drive_holding_a_commit_record_of_its_version_is_away() {
    drive_away_then_back(3, false);
}

#[test]
fn an_index_rebuilt_without_a_drive_forgets_no_tombstone_until_the_drive_is_back() {
    drive_away_then_back(0, true);
}

// ---------------------------------------------------------------------------
// kill -9 while deleting by id and compacting.

const CHILD_ENV: &str = "CAIRN_TOMB_CHILD";
const ROUND_ENV: &str = "CAIRN_TOMB_ROUND";
const ROUNDS: u64 = 8;
/// A child still alive after this long exits on its own (the parent died).
const CHILD_MAX: Duration = Duration::from_secs(60);

fn crash_cfg(root: &Path) -> EngineConfig {
    let paths: Vec<PathBuf> = (0..4).map(|i| root.join(format!("disk{i}"))).collect();
    let mut cfg = EngineConfig::new(paths, 1);
    cfg.layout = Some(Layout { data: 2, parity: 2 });
    cfg.partitions = 4;
    // Segments seal often, so compaction has work in every round.
    cfg.segment_max = 2 << 20;
    cfg
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    out.write_all(line.as_bytes()).unwrap();
    out.write_all(b"\n").unwrap();
    out.flush().unwrap();
}

/// Not a test of its own: the child of the kill -9 test. Writes two
/// versions per key, deletes the first by id (printing `DEL key id` once
/// acknowledged) and compacts every few keys, until killed.
#[test]
#[ignore = "child process of the kill -9 test; launched by it"]
fn tombstone_child_entry() {
    let Ok(root) = std::env::var(CHILD_ENV) else {
        return;
    };
    let round: u64 = std::env::var(ROUND_ENV).unwrap().parse().unwrap();
    let started = Instant::now();
    let cfg = crash_cfg(Path::new(&root));
    run_with(&cfg, false, |e, _| async move {
        if !e.bucket_exists(BUCKET) {
            e.create_bucket(BUCKET).await.unwrap();
            e.set_versioning(BUCKET, Versioning::Enabled).await.unwrap();
        }
        say("OPEN");
        for i in 0u64.. {
            if started.elapsed() > CHILD_MAX {
                std::process::exit(4);
            }
            let k = format!("r{round}k{i}");
            let mut ids = [0u128; 2];
            for (g, id) in ids.iter_mut().enumerate() {
                let body = MemBody::new(data(SIZE, round * 1_000_000 + i * 2 + g as u64));
                *id = e
                    .put(BUCKET, &k, PutOptions::default(), &mut { body })
                    .await
                    .unwrap()
                    .version;
            }
            e.delete(BUCKET, &k, Some(VersionSel::Id(ids[0])), false)
                .await
                .unwrap();
            say(&format!("DEL {k} {} {}", ids[0], ids[1]));
            if i % 16 == 15 {
                let r = e.compact(0.3).await.unwrap();
                say(&format!(
                    "COMPACT {} {}",
                    r.segments_removed, r.tombstones_forgotten
                ));
            }
        }
    });
}

fn run_child(root: &Path, round: u64, delay: Duration) -> Vec<String> {
    let stderr = std::fs::File::create(root.join(format!("child-{round}.stderr"))).unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "tombstone_child_entry",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, root)
        .env(ROUND_ENV, round.to_string())
        .env("CAIRN_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn child");
    let pid = child.id() as libc::pid_t;
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    std::thread::sleep(delay);
    // SAFETY: plain kill(2) of the child this test spawned and has not reaped.
    let r = unsafe { libc::kill(pid, libc::SIGKILL) };
    assert_eq!(r, 0, "kill child {pid}");
    let status = child.wait().unwrap();
    let lines = reader.join().unwrap();
    use std::os::unix::process::ExitStatusExt;
    if status.signal() != Some(libc::SIGKILL) {
        let err =
            std::fs::read_to_string(root.join(format!("child-{round}.stderr"))).unwrap_or_default();
        panic!("round {round}: the child ended by itself ({status})\nstderr: {err}");
    }
    lines
}

/// No acknowledged delete is undone and every kept version is there.
fn check_deleted(cfg: &EngineConfig, deleted: &BTreeMap<String, (u128, u128)>) {
    let deleted = deleted.clone();
    run(cfg, |e| async move {
        for (k, (first, second)) in &deleted {
            assert!(
                e.lookup(BUCKET, k, Some(VersionSel::Id(*first)))
                    .unwrap()
                    .is_none(),
                "{k}: deleted version {first} came back"
            );
            assert_eq!(
                e.lookup(BUCKET, k, None).unwrap().map(|l| l.meta.version),
                Some(*second),
                "{k}"
            );
        }
        reverse_maps_agree(&e);
    });
}

#[test]
fn kill_9_while_tombstones_are_forgotten_never_brings_a_deleted_version_back() {
    use rand::Rng;
    let dir = test_dir();
    let root = dir.path().to_path_buf();
    for i in 0..4 {
        std::fs::create_dir_all(root.join(format!("disk{i}"))).unwrap();
    }
    let cfg = crash_cfg(&root);
    let mut rng = rand::thread_rng();
    let mut deleted: BTreeMap<String, (u128, u128)> = BTreeMap::new();
    let (mut compactions, mut forgotten) = (0u64, 0u64);
    for round in 1..=ROUNDS {
        let delay = Duration::from_millis(rng.gen_range(800..=2500));
        for l in run_child(&root, round, delay) {
            let w: Vec<&str> = l.split(' ').collect();
            match w[..] {
                ["DEL", k, a, b] => {
                    deleted.insert(k.to_owned(), (a.parse().unwrap(), b.parse().unwrap()));
                }
                ["COMPACT", _, f] => {
                    compactions += 1;
                    forgotten += f.parse::<u64>().unwrap();
                }
                _ => {}
            }
        }
        check_deleted(&cfg, &deleted);
    }
    eprintln!(
        "tombstone crash test: {ROUNDS} kills, {} deletes acknowledged, {compactions} \
         compactions, {forgotten} tombstones forgotten",
        deleted.len()
    );
    assert!(
        compactions > 0 && forgotten > 0,
        "the kills never met tombstones being forgotten"
    );
    // Rebuilt from the drives alone, after all that.
    lose_index(&cfg.drives);
    check_deleted(&cfg, &deleted);
}
