//! The index is rebuildable: from the records on the drives alone, a lost or
//! untrusted index comes back as exactly what was acknowledged: every live
//! key at its last written value, deleted keys absent, across restarts (and
//! so across epochs of sequence numbers), inline and striped objects, several
//! buckets. Covers start-up rebuilds (index deleted; index from another run)
//! and the offline `cairn repair --rebuild-index` command.

mod common;

use std::collections::BTreeMap;

use common::*;

use cairn::engine::index::{partition_dir, Mutation, PartitionIndex};
use cairn::engine::layout::Layout;
use cairn::engine::placement::partition_of;
use cairn::engine::{EngineConfig, EngineError, VersionSel};

const LAYOUT: Layout = Layout { data: 4, parity: 2 };
const PARTITIONS: u16 = 16;
/// Size classes: empty, inline, inline, just above inline, one stripe and a
/// bit, several stripes.
const SIZES: &[usize] = &[
    0,
    100,
    5000,
    (64 << 10) + 1,
    (1 << 20) + 7,
    (2 << 20) + 512 * 1024,
];

/// (bucket, key) -> (size, seed) of the acknowledged current value.
type Model = BTreeMap<(String, String), (usize, u64)>;
/// (bucket, key, Some((size, seed)) to put or None to delete).
type Plan = Vec<(&'static str, String, Option<(usize, u64)>)>;

/// A deterministic mix of puts, overwrites with other sizes, deletes and
/// delete-then-put over two runs (two epochs), in two buckets. Returns the
/// model of what was acknowledged and every key ever written.
fn populate(cfg: &EngineConfig, clean_last_run: bool) -> (Model, Vec<(String, String)>) {
    let mut model = Model::new();
    let mut touched = Vec::new();
    let mut seed = 0u64;
    // Run 1: buckets and the first writes.
    let mut plan1 = Vec::new();
    for i in 0..48usize {
        let key = format!("k/{i:03}");
        seed += 1;
        plan1.push(("idx", key.clone(), Some((SIZES[i % SIZES.len()], seed))));
        if i % 3 == 0 {
            seed += 1;
            plan1.push((
                "idx",
                key.clone(),
                Some((SIZES[(i + 2) % SIZES.len()], seed)),
            ));
        }
        if i % 5 == 0 {
            plan1.push(("idx", key.clone(), None));
        }
        if i % 10 == 0 {
            seed += 1;
            plan1.push((
                "idx",
                key.clone(),
                Some((SIZES[(i + 4) % SIZES.len()], seed)),
            ));
        }
    }
    // Run 2: overwrite and delete keys of run 1 (sequence numbers of a new
    // epoch must win over larger counters of the old one), new keys, and a
    // second bucket with the same key names.
    let mut plan2 = Vec::new();
    for i in 0..48usize {
        let key = format!("k/{i:03}");
        if i % 4 == 1 {
            seed += 1;
            plan2.push((
                "idx",
                key.clone(),
                Some((SIZES[(i + 1) % SIZES.len()], seed)),
            ));
        }
        if i % 7 == 2 {
            plan2.push(("idx", key.clone(), None));
        }
        if i % 6 == 0 {
            seed += 1;
            plan2.push((
                "idx2",
                key.clone(),
                Some((SIZES[(i / 6) % SIZES.len()], seed)),
            ));
        }
    }
    for (i, &size) in SIZES.iter().enumerate() {
        seed += 1;
        plan2.push(("idx", format!("new/{i}"), Some((size, seed))));
    }
    plan2.push(("idx2", "k/000".into(), None));
    for (b, k, v) in plan1.iter().chain(plan2.iter()) {
        touched.push((b.to_string(), k.clone()));
        match v {
            Some(v) => {
                model.insert((b.to_string(), k.clone()), *v);
            }
            None => {
                model.remove(&(b.to_string(), k.clone()));
            }
        }
    }
    touched.sort();
    touched.dedup();
    let apply = |plan: Plan, clean: bool, first: bool| {
        run_with(cfg, clean, |e, _| async move {
            if first {
                e.create_bucket("idx").await.unwrap();
                e.create_bucket("idx2").await.unwrap();
            }
            for (b, k, v) in plan {
                match v {
                    Some((size, seed)) => put(&e, b, &k, &data(size, seed)).await,
                    None => {
                        e.delete(b, &k, None, false).await.unwrap();
                    }
                }
            }
        })
    };
    apply(plan1, true, true);
    apply(plan2, clean_last_run, false);
    assert!(model.len() > 30 && model.len() < touched.len());
    (model, touched)
}

/// Opens the engine and checks it holds exactly the model: listings of both
/// buckets (keys, sizes, etags), contents, deleted keys absent.
fn verify(cfg: &EngineConfig, model: &Model, touched: &[(String, String)], what: &str) {
    let (model, touched, what) = (model.clone(), touched.to_vec(), what.to_owned());
    run(cfg, |e| async move {
        for bucket in ["idx", "idx2"] {
            let listed: Vec<(String, u64, String)> = list_all(&e, bucket)
                .into_iter()
                .map(|(k, v)| (k, v.size, v.etag))
                .collect();
            let want: Vec<(String, u64, String)> = model
                .iter()
                .filter(|((b, _), _)| b == bucket)
                .map(|((_, k), &(size, seed))| (k.clone(), size as u64, md5_hex(&data(size, seed))))
                .collect();
            assert_eq!(listed, want, "{what}: listing of {bucket}");
            // The usage counters are rebuilt with the index.
            let u = e.bucket_usage(bucket).expect("usage").usage;
            let bytes: u64 = want.iter().map(|(_, size, _)| size).sum();
            assert_eq!(
                (u.objects, u.bytes),
                (want.len() as u64, bytes),
                "{what}: usage of {bucket}"
            );
        }
        for idx in &e.shared.indexes {
            let kept: std::collections::BTreeMap<_, _> = idx.usage().unwrap().into_iter().collect();
            assert_eq!(
                kept,
                idx.count_usage().unwrap(),
                "{what}: partition {}",
                idx.partition
            );
        }
        for (b, k) in &touched {
            match model.get(&(b.clone(), k.clone())) {
                Some(&(size, seed)) => {
                    let got = get(&e, b, k)
                        .await
                        .unwrap_or_else(|err| panic!("{what}: {b}/{k}: {err}"));
                    assert!(
                        got == data(size, seed),
                        "{what}: {b}/{k}: not its last acknowledged value"
                    );
                }
                None => {
                    assert!(
                        matches!(e.head(b, k), Err(EngineError::NoSuchKey)),
                        "{what}: {b}/{k} was deleted but is visible"
                    );
                }
            }
        }
    });
}

fn index_dirs(d: &Drives) -> Vec<std::path::PathBuf> {
    d.paths
        .iter()
        .map(|p| p.join(".cairn/index"))
        .filter(|p| p.exists())
        .collect()
}

/// Makes the index on drive 0 wrong in ways only a rebuild repairs: live keys
/// vanish from it, and a key that was never written appears.
fn tamper_index(d: &Drives, model: &Model) {
    let root = d.paths[0].join(".cairn/index");
    let live: Vec<&(String, String)> = model.keys().step_by(7).collect();
    let mut sample = None;
    for (b, k) in &live {
        let p = partition_of(b, k, PARTITIONS);
        let (idx, _) = PartitionIndex::open(&partition_dir(&root, p), p, 0..=0, &[]).unwrap();
        sample = Some(idx.get(b, k).unwrap().expect("a live key is in the index"));
        idx.apply(&[Mutation::Delete {
            bucket: b.clone(),
            key: k.clone(),
            target: VersionSel::Null,
            tombstones: vec![],
        }])
        .unwrap();
    }
    let p = partition_of("idx", "ghost", PARTITIONS);
    let (idx, _) = PartitionIndex::open(&partition_dir(&root, p), p, 0..=0, &[]).unwrap();
    idx.apply(&[Mutation::Put {
        bucket: "idx".into(),
        key: "ghost".into(),
        entry: sample.unwrap(),
    }])
    .unwrap();
}

/// What runs that served with another index copy leave on the drives.
fn bump_epochs(d: &Drives, by: u32) {
    for p in &d.paths {
        for name in ["epoch", "epoch.served"] {
            let f = p.join(".cairn").join(name);
            let e: u32 = std::fs::read_to_string(&f).unwrap().trim().parse().unwrap();
            std::fs::write(&f, (e + by).to_string()).unwrap();
        }
    }
}

#[test]
fn a_lost_index_is_rebuilt_to_exactly_what_was_acknowledged() {
    let d = drives(6);
    let cfg = config(&d, Some(LAYOUT));
    let (model, touched) = populate(&cfg, true);
    verify(&cfg, &model, &touched, "before losing the index");
    let dirs = index_dirs(&d);
    assert!(!dirs.is_empty());
    for dir in dirs {
        std::fs::remove_dir_all(dir).unwrap();
    }
    verify(&cfg, &model, &touched, "index rebuilt");
    // The rebuilt index is kept and trusted on the next start.
    verify(&cfg, &model, &touched, "after the rebuild, restarted");
}

/// Closed uncleanly, and the drives' epoch moved on (a run used another index
/// copy): the index must not be trusted even on the same boot. It is made
/// wrong first, so trusting it would show.
#[test]
fn an_index_left_behind_by_another_run_is_rebuilt() {
    let d = drives(6);
    let cfg = config(&d, Some(LAYOUT));
    let (model, touched) = populate(&cfg, false);
    tamper_index(&d, &model);
    bump_epochs(&d, 5);
    verify(&cfg, &model, &touched, "unclean close, epoch moved on");
    verify(&cfg, &model, &touched, "after the rebuild, restarted");
}

/// A run killed during start-up (its epoch written, its index copy not yet
/// marked, nothing served) leaves the index of the last run that served
/// trusted: no rebuild, which would resurrect writes left unacknowledged by
/// an earlier crash. The index is made wrong first, so a rebuild would show.
#[test]
fn a_run_killed_in_start_up_does_not_force_a_rebuild() {
    let d = drives(6);
    let cfg = config(&d, Some(LAYOUT));
    let (model, _) = populate(&cfg, false);
    tamper_index(&d, &model);
    for p in &d.paths {
        let f = p.join(".cairn/epoch");
        let e: u32 = std::fs::read_to_string(&f).unwrap().trim().parse().unwrap();
        std::fs::write(&f, (e + 1).to_string()).unwrap();
    }
    run(&cfg, |e| async move {
        assert!(
            e.head("idx", "ghost").is_ok(),
            "the index was rebuilt instead of trusted"
        );
    });
}

fn run_repair(drives: &[std::path::PathBuf]) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"));
    cmd.arg("repair")
        .arg("--rebuild-index")
        .arg("--partitions")
        .arg(PARTITIONS.to_string());
    cmd.arg("--layout").arg(LAYOUT.to_string());
    for p in drives {
        cmd.arg(p);
    }
    for (k, _) in std::env::vars() {
        if k.starts_with("CAIRN_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd.output().expect("run cairn repair");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "cairn repair failed: {}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn repair_rebuild_index_command_restores_the_index() {
    let d = drives(6);
    let cfg = config(&d, Some(LAYOUT));
    let (model, touched) = populate(&cfg, true);
    tamper_index(&d, &model);
    let out = run_repair(&d.paths);
    assert!(
        out.contains(&format!(
            "index rebuilt: {PARTITIONS} partitions, {} objects",
            model.len()
        )),
        "repair said: {out}"
    );
    verify(&cfg, &model, &touched, "after cairn repair --rebuild-index");
}

/// (key, version, null, delete marker, latest, etag, md5 of the bytes,
/// tags) of every version in the bucket, in listing order.
type History = Vec<(
    String,
    u128,
    bool,
    bool,
    bool,
    String,
    String,
    Vec<(String, String)>,
)>;

async fn history(e: &std::rc::Rc<cairn::engine::Engine>, bucket: &str) -> History {
    use cairn::engine::list::VersionItem;
    let mut out = History::new();
    let (mut km, mut vm) = (None::<String>, None);
    loop {
        let page = e
            .list_versions(bucket, "", None, km.as_deref(), vm, 5)
            .expect("list versions");
        for item in page.items {
            let VersionItem::Version(v) = item else {
                panic!("no delimiter, no common prefixes")
            };
            let sel = if v.entry.null {
                VersionSel::Null
            } else {
                VersionSel::Id(v.entry.version)
            };
            let entry = e
                .lookup(bucket, &v.entry.key, Some(sel))
                .unwrap()
                .expect("a listed version can be looked up");
            let tags = entry.meta.tags.clone();
            let bytes = if entry.meta.delete_marker {
                Vec::new()
            } else {
                let guard = e.begin_read();
                let mut r = e
                    .open_reader(guard, bucket, &v.entry.key, entry, None, None)
                    .await
                    .unwrap();
                r.read_all().await.unwrap()
            };
            out.push((
                v.entry.key.clone(),
                v.entry.version,
                v.entry.null,
                v.entry.delete_marker,
                v.latest,
                v.entry.etag.clone(),
                md5_hex(&bytes),
                tags,
            ));
        }
        if !page.is_truncated {
            return out;
        }
        km = page.next_key_marker;
        vm = page.next_version_marker;
    }
}

/// Versioned buckets keep every version, delete marker and null version on
/// the drives: after compaction moved the records and the index is lost, the
/// rebuild brings back exactly the history (removed versions stay removed).
#[test]
fn version_history_survives_compaction_and_a_lost_index() {
    use cairn::engine::Versioning;
    let d = drives(6);
    let mut cfg = config(&d, Some(LAYOUT));
    cfg.segment_max = 4 << 20;
    let before = run(&cfg, |e| async move {
        e.create_bucket("hist").await.unwrap();
        // Unversioned overwrites first: dead records for compaction, and a
        // null version under every key.
        for i in 0..8u64 {
            for n in 0..3 {
                let body = data(SIZES[(i as usize + n) % SIZES.len()], i * 10 + n as u64);
                put(&e, "hist", &format!("k{i}"), &body).await;
            }
        }
        e.set_versioning("hist", Versioning::Enabled).await.unwrap();
        for i in 0..8u64 {
            let key = format!("k{i}");
            for n in 0..3 {
                let body = data(
                    SIZES[(i as usize + n + 1) % SIZES.len()],
                    i * 100 + n as u64,
                );
                put(&e, "hist", &key, &body).await;
            }
            match i % 4 {
                0 => {
                    e.delete("hist", &key, None, false).await.unwrap();
                }
                1 => {
                    let v = e.lookup("hist", &key, None).unwrap().unwrap().meta.version;
                    e.delete("hist", &key, Some(VersionSel::Id(v)), false)
                        .await
                        .unwrap();
                }
                2 => {
                    e.delete("hist", &key, Some(VersionSel::Null), false)
                        .await
                        .unwrap();
                }
                _ => {}
            }
        }
        // Retagging rewrites a version's commit record in place: a
        // noncurrent null version, and twice a latest one.
        let tag = |t: &str| vec![("t".to_string(), t.to_string())];
        let old = e.lookup("hist", "k3", None).unwrap().unwrap().meta.version;
        e.set_tags("hist", "k7", Some(VersionSel::Null), tag("null"), None)
            .await
            .unwrap();
        e.set_tags("hist", "k3", None, tag("latest"), None)
            .await
            .unwrap();
        e.set_tags("hist", "k3", Some(VersionSel::Id(old)), tag("again"), None)
            .await
            .unwrap();
        e.set_versioning("hist", Versioning::Suspended)
            .await
            .unwrap();
        put(&e, "hist", "k3", &data(5000, 7)).await;
        put(&e, "hist", "k3", &data(100, 8)).await;
        e.delete("hist", "k5", None, false).await.unwrap();
        history(&e, "hist").await
    });
    // Compaction runs on sealed segments: those of the run before.
    let compacted = run(&cfg, |e| async move {
        let r = e.compact(0.0).await.unwrap();
        assert!(
            r.segments_removed > 0,
            "compaction had dead records to drop: {r:?}"
        );
        history(&e, "hist").await
    });
    assert_eq!(compacted, before, "compaction changed the history");
    // Every shape is there: markers, null versions, several per key.
    assert!(before.iter().any(|v| v.3 && v.4), "a latest delete marker");
    assert!(before.iter().any(|v| v.2 && !v.3), "a null version");
    assert_eq!(before.iter().filter(|v| v.0 == "k0").count(), 5);
    assert_eq!(before.iter().filter(|v| v.0 == "k2").count(), 3);
    let tagged: Vec<&str> = before
        .iter()
        .flat_map(|v| v.7.iter().map(|t| t.1.as_str()))
        .collect();
    assert_eq!(tagged, ["again", "null"]);
    for dir in index_dirs(&d) {
        std::fs::remove_dir_all(dir).unwrap();
    }
    let after = run(&cfg, |e| async move { history(&e, "hist").await });
    assert_eq!(after, before, "the rebuilt history");
}
