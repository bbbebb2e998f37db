//! Drive loss: with a k+m layout any m drives can vanish (including drive 0,
//! which holds the index) and every object still reads back byte-exact; with
//! more than m gone a read returns exact bytes or a clean `ReadQuorum` error,
//! never other bytes; writes taken while m drives are gone survive their
//! return; a drive that comes back empty is re-formatted into its slot.

mod common;

use std::rc::Rc;
use std::sync::Arc;

use common::*;

use cairn::engine::layout::{stripe_range, Layout};
use cairn::engine::meta::{DataLoc, IndexEntry};
use cairn::engine::{Engine, EngineError, Shared};

const SIZES: &[usize] = &[0, 1, 4096, (64 << 10) + 1, 1 << 20, (17 << 20) + 3];
const BUCKET: &str = "loss";

type Model = Vec<(String, Vec<u8>)>;

fn model(seed: u64) -> Model {
    SIZES
        .iter()
        .enumerate()
        .map(|(i, &size)| (format!("obj/{size}"), data(size, seed + i as u64)))
        .collect()
}

/// Creates the bucket (if needed) and writes every object of the model.
fn write_all(cfg: &cairn::engine::EngineConfig, m: &Model) {
    let m = m.clone();
    run(cfg, |e| async move {
        if !e.bucket_exists(BUCKET) {
            e.create_bucket(BUCKET).await.unwrap();
        }
        for (k, body) in &m {
            put(&e, BUCKET, k, body).await;
        }
    });
}

/// Full reads of a striped object that must reconstruct: the stripes where a
/// data shard holding requested bytes is on a missing drive or was never
/// written. Inline objects never reconstruct.
fn stripes_needing_reconstruction(entry: &IndexEntry, missing: &[usize]) -> u64 {
    let DataLoc::Stripes(stripes) = &entry.meta.data else {
        return 0;
    };
    let layout = Layout {
        data: entry.meta.layout.0,
        parity: entry.meta.layout.1,
    };
    stripes
        .iter()
        .enumerate()
        .filter(|(s, locs)| {
            let (_, s_len) = stripe_range(entry.meta.size, *s as u64);
            let last = (s_len - 1) / layout.shard_len(s_len);
            (0..=last).any(|i| locs[i].is_none_or(|l| missing.contains(&(l.drive as usize))))
        })
        .count() as u64
}

/// Every object reads back exact (whole and in ranges), the listing is
/// exactly the model, and reconstruction happened precisely for the stripes
/// that lost a shard they needed. Returns the reconstructions it expected.
async fn verify_exact(e: &Rc<Engine>, shared: &Arc<Shared>, m: &Model, missing: &[usize]) -> u64 {
    let mut expected_total = 0;
    for (k, body) in m {
        let entry = e
            .head(BUCKET, k)
            .unwrap_or_else(|err| panic!("{k}: head with drives {missing:?} gone: {err}"));
        assert_eq!(entry.meta.size, body.len() as u64, "{k}: size");
        assert_eq!(entry.meta.etag, md5_hex(body), "{k}: etag");
        let need = stripes_needing_reconstruction(&entry, missing);
        expected_total += need;
        let before = counter(&shared.stats.reconstructions);
        let got = get(e, BUCKET, k)
            .await
            .unwrap_or_else(|err| panic!("{k}: read with drives {missing:?} gone: {err}"));
        assert!(
            got == *body,
            "{k}: bytes differ with drives {missing:?} gone"
        );
        let did = counter(&shared.stats.reconstructions) - before;
        assert_eq!(
            did, need,
            "{k}: stripes reconstructed with drives {missing:?} gone"
        );
        for (a, b) in ranges(body.len()) {
            let got = get_range(e, BUCKET, k, a, b).await.unwrap_or_else(|err| {
                panic!("{k}: range {a}..{b} with drives {missing:?} gone: {err}")
            });
            assert!(
                got == body[a as usize..b as usize],
                "{k}: range {a}..{b} differs with drives {missing:?} gone"
            );
        }
    }
    let listed: Vec<(String, u64, String)> = list_all(e, BUCKET)
        .into_iter()
        .map(|(k, v)| (k, v.size, v.etag))
        .collect();
    let mut want: Vec<(String, u64, String)> = m
        .iter()
        .map(|(k, b)| (k.clone(), b.len() as u64, md5_hex(b)))
        .collect();
    want.sort();
    assert_eq!(listed, want, "listing with drives {missing:?} gone");
    expected_total
}

/// Smaller objects for the sweeps over many choices of lost drives: inline,
/// one stripe, and three stripes (the last one short).
const SWEEP_SIZES: &[usize] = &[0, 1, 4096, (64 << 10) + 1, (1 << 20) + 1, (2 << 20) + 3];

fn sweep_model(seed: u64) -> Model {
    SWEEP_SIZES
        .iter()
        .enumerate()
        .map(|(i, &size)| (format!("obj/{size}"), data(size, seed + i as u64)))
        .collect()
}

/// Every set of `m` drives out of `n`, in lexicographic order.
fn combinations(n: usize, m: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut pick: Vec<usize> = (0..m).collect();
    loop {
        out.push(pick.clone());
        let Some(i) = (0..m).rev().find(|&i| pick[i] < n - m + i) else {
            return out;
        };
        pick[i] += 1;
        for j in i + 1..m {
            pick[j] = pick[j - 1] + 1;
        }
    }
}

/// Writes the model on all drives, then for each choice of m drives pulls
/// them, reopens, verifies, and puts them back.
fn any_m_drives_can_vanish(n: usize, layout: Layout, m: &Model, choices: &[Vec<usize>]) {
    let d = drives(n);
    let cfg = config(&d, Some(layout));
    write_all(&cfg, m);
    let mut reconstructed = 0;
    for gone in choices {
        assert_eq!(gone.len(), layout.parity as usize);
        for &g in gone {
            pull_drive(&d.paths[g]);
        }
        let (m2, gone2) = (m.clone(), gone.to_vec());
        reconstructed += run_with(&cfg, true, |e, shared| async move {
            for &g in &gone2 {
                assert!(
                    !shared.drive_online(g),
                    "{layout}: drive {g} was pulled but is online"
                );
            }
            verify_exact(&e, &shared, &m2, &gone2).await
        });
        for &g in gone {
            return_drive(&d.paths[g]);
        }
    }
    assert!(
        reconstructed > 0,
        "{layout}: no choice of lost drives made a read reconstruct: the test exercised nothing"
    );
    // Everything is still there with every drive back.
    let m2 = m.clone();
    run_with(&cfg, true, |e, shared| async move {
        assert_eq!(verify_exact(&e, &shared, &m2, &[]).await, 0);
    });
}

/// The default layouts small enough to lose every combination of m drives
/// (2 to 28 combinations each).
#[test]
fn every_combination_of_m_lost_drives_reads_back_in_small_layouts() {
    for (n, k, m) in [(2, 1, 1), (3, 1, 2), (4, 2, 2), (6, 4, 2), (8, 6, 2)] {
        let choices = combinations(n, m as usize);
        let layout = Layout { data: k, parity: m };
        any_m_drives_can_vanish(n, layout, &sweep_model(10 + n as u64), &choices);
    }
}

/// 8+4 and 12+4 (495 and 1,820 combinations, too many to try): m
/// consecutive drives from every multiple of m (so every drive is lost once,
/// drive 0 and its index included), and m drives spread out twice.
#[test]
fn m_lost_drives_read_back_in_wide_layouts() {
    for (n, k, m) in [(12usize, 8, 4), (16, 12, 4)] {
        let w = m as usize;
        let mut choices: Vec<Vec<usize>> = (0..n)
            .step_by(w)
            .map(|a| (a..a + w).map(|i| i % n).collect())
            .collect();
        choices.push((0..w).map(|i| i * n / w).collect());
        choices.push((0..w).map(|i| n - 1 - i * 3).collect());
        let layout = Layout { data: k, parity: m };
        any_m_drives_can_vanish(n, layout, &sweep_model(20 + n as u64), &choices);
    }
}

/// The full model (up to 17 MiB: many stripes, ranges across stripe
/// boundaries) on the layout used most.
#[test]
fn any_two_of_six_drives_can_vanish_4_plus_2() {
    let choices = [vec![0, 1], vec![2, 3], vec![4, 5], vec![0, 3]];
    any_m_drives_can_vanish(6, Layout { data: 4, parity: 2 }, &model(1), &choices);
}

/// With m+1 drives gone (drive 0, and with it the index, kept): every read is
/// exact bytes or ReadQuorum, striped objects cannot be read at all, and
/// nothing is harmed: with the drives back everything reads again.
fn beyond_m_reads_fail_cleanly(n: usize, layout: Layout, gone: &[usize]) {
    assert!(!gone.contains(&0));
    let d = drives(n);
    let cfg = config(&d, Some(layout));
    let m = model(2);
    write_all(&cfg, &m);
    for &g in gone {
        pull_drive(&d.paths[g]);
    }
    let (m2, gone2) = (m.clone(), gone.to_vec());
    run_with(&cfg, true, |e, _| async move {
        let mut refused = 0;
        for (k, body) in &m2 {
            match get(&e, BUCKET, k).await {
                Ok(got) => assert!(got == *body, "{k}: wrong bytes with drives {gone2:?} gone"),
                Err(EngineError::ReadQuorum { .. }) => refused += 1,
                Err(err) => panic!("{k}: with drives {gone2:?} gone: expected exact bytes or ReadQuorum, got {err:?}"),
            }
            if body.len() > 64 << 10 {
                assert!(
                    matches!(
                        get(&e, BUCKET, k).await,
                        Err(EngineError::ReadQuorum { .. })
                    ),
                    "{k}: a striped object read back with fewer than k shards"
                );
            }
            for (a, b) in ranges(body.len()) {
                match get_range(&e, BUCKET, k, a, b).await {
                    Ok(got) => assert!(
                        got == body[a as usize..b as usize],
                        "{k}: wrong bytes in {a}..{b}"
                    ),
                    Err(EngineError::ReadQuorum { .. }) => {}
                    Err(err) => {
                        panic!("{k} {a}..{b}: expected exact bytes or ReadQuorum, got {err:?}")
                    }
                }
            }
        }
        assert!(refused > 0);
        // Writes are refused, not half-done.
        let r = e
            .put(
                BUCKET,
                "new",
                Default::default(),
                &mut cairn::engine::MemBody::new(data(2 << 20, 9)),
            )
            .await;
        assert!(
            matches!(r, Err(EngineError::WriteQuorum { .. })),
            "write with {gone2:?} gone: {r:?}"
        );
        assert!(matches!(e.head(BUCKET, "new"), Err(EngineError::NoSuchKey)));
        // The index survived: the listing is complete.
        assert_eq!(list_all(&e, BUCKET).len(), m2.len());
    });
    for &g in gone {
        return_drive(&d.paths[g]);
    }
    let m2 = m.clone();
    run_with(&cfg, true, |e, shared| async move {
        verify_exact(&e, &shared, &m2, &[]).await;
    });
}

#[test]
fn beyond_m_lost_drives_give_exact_bytes_or_read_quorum_4_plus_2() {
    beyond_m_reads_fail_cleanly(6, Layout { data: 4, parity: 2 }, &[1, 2, 3]);
}

#[test]
fn beyond_m_lost_drives_give_exact_bytes_or_read_quorum_2_plus_2() {
    beyond_m_reads_fail_cleanly(4, Layout { data: 2, parity: 2 }, &[1, 2, 3]);
}

/// Writes taken while m drives are gone (4+2: 4 online = write quorum) read
/// back while degraded and after the drives return (shards that were never
/// written count as missing and are reconstructed); the index, rebuilt on
/// drive 1 while drive 0 was gone, is not trusted once drive 0 is back.
#[test]
fn writes_with_m_drives_missing_survive_their_return_4_plus_2() {
    let d = drives(6);
    let cfg = config(&d, Some(Layout { data: 4, parity: 2 }));
    let before = model(3);
    write_all(&cfg, &before);
    pull_drive(&d.paths[0]);
    pull_drive(&d.paths[3]);
    let during: Model = model(30)
        .into_iter()
        .map(|(k, b)| (format!("degraded/{k}"), b))
        .collect();
    write_all(&cfg, &during);
    let all: Model = before.iter().chain(during.iter()).cloned().collect();
    let a2 = all.clone();
    run_with(&cfg, true, |e, shared| async move {
        verify_exact(&e, &shared, &a2, &[0, 3]).await;
    });
    return_drive(&d.paths[0]);
    return_drive(&d.paths[3]);
    let a2 = all.clone();
    let missing = run_with(&cfg, true, |e, shared| async move {
        // Drives 0 and 3 hold no shard of the degraded writes: every such
        // shard a read needs is "missing" (None in the index), not an error.
        let before = counter(&shared.stats.missing_shards);
        verify_exact(&e, &shared, &a2, &[]).await;
        counter(&shared.stats.missing_shards) - before
    });
    assert!(
        missing > 0,
        "reads of degraded writes never met a missing shard"
    );
}

/// 2+2 on four drives: one drive gone still takes writes (3 = write
/// quorum); two gone refuses them cleanly and keeps serving reads.
#[test]
fn writes_need_the_write_quorum_2_plus_2() {
    let d = drives(4);
    let cfg = config(&d, Some(Layout { data: 2, parity: 2 }));
    let before = model(4);
    write_all(&cfg, &before);
    pull_drive(&d.paths[2]);
    let during: Model = model(40)
        .into_iter()
        .map(|(k, b)| (format!("degraded/{k}"), b))
        .collect();
    write_all(&cfg, &during);
    pull_drive(&d.paths[0]);
    let b2 = before.clone();
    run(&cfg, |e| async move {
        let r = e
            .put(
                BUCKET,
                "refused",
                Default::default(),
                &mut cairn::engine::MemBody::new(data(100, 1)),
            )
            .await;
        assert!(
            matches!(
                r,
                Err(EngineError::WriteQuorum {
                    online: 2,
                    needed: 3
                })
            ),
            "{r:?}"
        );
        for (k, body) in &b2 {
            assert!(get(&e, BUCKET, k).await.unwrap() == *body, "{k}");
        }
    });
    return_drive(&d.paths[0]);
    return_drive(&d.paths[2]);
    let all: Model = before.iter().chain(during.iter()).cloned().collect();
    run_with(&cfg, true, |e, shared| async move {
        verify_exact(&e, &shared, &all, &[]).await;
        assert!(matches!(
            e.head(BUCKET, "refused"),
            Err(EngineError::NoSuchKey)
        ));
    });
}

/// A drive that comes back empty (replaced) is formatted into its old slot;
/// its lost shards are reconstructed; new writes reuse its segment names and
/// offsets without old index entries ever reading the new records as theirs;
/// and with the replaced drive plus one more drive gone (= m), all still reads.
#[test]
fn an_empty_returning_drive_is_reformatted_into_the_set() {
    let d = drives(6);
    let cfg = config(&d, Some(Layout { data: 4, parity: 2 }));
    let old = model(5);
    write_all(&cfg, &old);
    let set_id = std::fs::read_to_string(d.paths[1].join(".cairn/format.json")).unwrap();
    std::fs::remove_dir_all(&d.paths[0]).unwrap();
    std::fs::create_dir(&d.paths[0]).unwrap();
    let new: Model = model(50)
        .into_iter()
        .map(|(k, b)| (format!("new/{k}"), b))
        .collect();
    let (o2, n2) = (old.clone(), new.clone());
    run_with(&cfg, true, |e, shared| async move {
        assert!(shared.drive_online(0), "the empty drive was not taken back");
        // Drive 0 lost everything: it counts as missing for the old objects.
        verify_exact(&e, &shared, &o2, &[0]).await;
        for (k, body) in &n2 {
            put(&e, BUCKET, k, body).await;
        }
        let all: Model = o2.iter().chain(n2.iter()).cloned().collect();
        for (k, body) in &all {
            assert!(
                get(&e, BUCKET, k).await.unwrap() == *body,
                "{k}: after new writes to the replaced drive"
            );
        }
    });
    let f0: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.paths[0].join(".cairn/format.json")).unwrap())
            .unwrap();
    let f1: serde_json::Value = serde_json::from_str(&set_id).unwrap();
    assert_eq!(f0["set_id"], f1["set_id"]);
    assert_eq!(f0["drive_index"], 0);
    let on_0 = scan_records(&d.paths, 16)
        .into_iter()
        .filter(|r| r.drive == 0)
        .count();
    assert!(on_0 > 0, "the replaced drive took no new records");
    // The replaced drive's old data is gone for good; losing one more drive
    // is still within m for the old objects, and the new ones are whole.
    pull_drive(&d.paths[5]);
    let all: Model = old.iter().chain(new.iter()).cloned().collect();
    run(&cfg, |e| async move {
        for (k, body) in &all {
            assert!(
                get(&e, BUCKET, k).await.unwrap() == *body,
                "{k}: replaced drive 0 and drive 5 gone"
            );
        }
    });
    return_drive(&d.paths[5]);
}

// ---------------------------------------------------------------------------
// Rebuilding the index while drives are missing.

/// Opens the engine directly (start-up may legitimately refuse to run) and
/// reads `keys`; returns None if start-up refused.
type ReadResults = Vec<(String, Result<Vec<u8>, EngineError>)>;

fn open_and_read(cfg: &cairn::engine::EngineConfig, keys: Vec<String>) -> Option<ReadResults> {
    let (shared, inboxes) = match Engine::open(cfg) {
        Ok(x) => x,
        Err(why) => {
            eprintln!("start-up refused: {why}");
            return None;
        }
    };
    let s2 = shared.clone();
    let out = cairn::runtime::block_on(async move {
        let e = Engine::start_core(s2, 0, inboxes[0].clone()).unwrap();
        let mut out = Vec::new();
        for k in keys {
            let r = get(&e, BUCKET, &k).await;
            out.push((k, r));
        }
        out
    })
    .unwrap();
    shared.close().unwrap();
    Some(out)
}

/// Writes the model and a key overwritten (inline first, then striped) on
/// 4+2; returns the model and the two versions of that key.
fn model_with_overwrite(cfg: &cairn::engine::EngineConfig) -> (Model, Vec<u8>, Vec<u8>) {
    let m = model(6);
    write_all(cfg, &m);
    let v1 = data(100, 61);
    let v2 = data(1 << 20, 62);
    let (a, b) = (v1.clone(), v2.clone());
    run(cfg, |e| async move {
        put(&e, BUCKET, "overwritten", &a).await;
        put(&e, BUCKET, "overwritten", &b).await;
    });
    (m, v1, v2)
}

/// More than m drives gone, drive 0 (the index) among them: the index would
/// have to be rebuilt from too few drives, and a rebuild then forgets the
/// objects with no record left, so start-up refuses, saying why. Nothing is
/// harmed: with the drives back everything reads exact.
#[test]
fn beyond_m_lost_drives_with_the_index_refuse_to_start() {
    let d = drives(6);
    let cfg = config(&d, Some(Layout { data: 4, parity: 2 }));
    let (m, _, v2) = model_with_overwrite(&cfg);
    for g in [0, 1, 2] {
        pull_drive(&d.paths[g]);
    }
    let err = match Engine::open(&cfg) {
        Ok(_) => {
            panic!("the engine opened with drives 0, 1, 2 of 4+2 gone and the index on drive 0")
        }
        Err(err) => err,
    };
    assert!(
        err.contains("the index must be rebuilt")
            && err.contains("drives [0, 1, 2] are offline")
            && err.contains("all but at most 2 drives"),
        "start-up refused for another reason: {err}"
    );
    for g in [0, 1, 2] {
        return_drive(&d.paths[g]);
    }
    let mut all = m.clone();
    all.push(("overwritten".into(), v2));
    run_with(&cfg, true, |e, shared| async move {
        verify_exact(&e, &shared, &all, &[]).await;
    });
}

/// m+1 drives vanish under a running node (drive 0, whose index is open,
/// among them): every read returns exact bytes or ReadQuorum, never
/// NoSuchKey for an object that exists, never an overwritten version; no
/// striped object reads (it has m+1 shards missing per stripe), the lost
/// drives' errors are counted, and the listing still comes from the index.
#[test]
fn beyond_m_drives_lost_on_a_running_node_give_exact_bytes_or_read_quorum() {
    let d = drives(6);
    let cfg = config(&d, Some(Layout { data: 4, parity: 2 }));
    let (m, v1, v2) = model_with_overwrite(&cfg);
    let paths = d.paths.clone();
    let mut all = m.clone();
    all.push(("overwritten".into(), v2.clone()));
    let want = all.clone();
    run_with(&cfg, true, |e, shared| async move {
        for g in [0, 1, 2] {
            pull_drive(&paths[g]);
        }
        let (mut exact, mut refused) = (0, 0);
        // An inline object can be read while one of its m + 1 commit copies
        // is on a drive still there; where they went follows each version's
        // rotation, so count the ones that must be read exactly.
        let mut readable = 0;
        for (k, body) in &want {
            let copies = e.head(BUCKET, k).expect("index entry").commits;
            if body.len() <= 64 << 10 && copies.iter().any(|c| c.drive > 2) {
                readable += 1;
            }
            match get(&e, BUCKET, k).await {
                Ok(got) if got == *body => exact += 1,
                Ok(got) if got == v1 => panic!("{k}: served the OVERWRITTEN version"),
                Ok(_) => panic!("{k}: wrong bytes with drives 0, 1, 2 gone"),
                Err(EngineError::ReadQuorum { .. }) => refused += 1,
                Err(err) => panic!("{k}: expected exact bytes or ReadQuorum, got {err:?}"),
            }
            if body.len() > 64 << 10 {
                let r = get(&e, BUCKET, k).await;
                assert!(
                    matches!(r, Err(EngineError::ReadQuorum { .. })),
                    "{k}: a striped object read with m+1 shards of each stripe gone: {:?}",
                    r.map(|b| b.len())
                );
            }
        }
        assert!(
            refused > 0 && exact == readable,
            "exact {exact} (want {readable}), refused {refused}"
        );
        for g in [0, 1, 2] {
            assert!(
                counter(&shared.stats.drive_errors[g]) > 0,
                "no read error counted on lost drive {g}"
            );
        }
        assert_eq!(list_all(&e, BUCKET).len(), want.len());
        for g in [0, 1, 2] {
            return_drive(&paths[g]);
        }
    });
    run_with(&cfg, true, |e, shared| async move {
        verify_exact(&e, &shared, &all, &[]).await;
    });
}

/// Minimal reproduction, within the m-drive budget: v1 is written on all
/// drives, v2 overwrites it while drives 0 and 1 are gone (so v2 has exactly
/// k shards), then drives 0 and 1 return and drives 0 and 2 are gone: v2 can
/// no longer be read (3 of 4 shards), and the index has to be rebuilt (drive 0
/// is gone). The rebuilt index must not hand out v1: an overwritten version
/// is never served again. Acceptable answers: v2's bytes, or ReadQuorum.
#[test]
fn a_rebuilt_index_never_serves_an_overwritten_version() {
    let d = drives(6);
    let cfg = config(&d, Some(Layout { data: 4, parity: 2 }));
    let v1 = data(1 << 20, 71);
    let v2 = data(1 << 20, 72);
    let a = v1.clone();
    run(&cfg, |e| async move {
        e.create_bucket(BUCKET).await.unwrap();
        put(&e, BUCKET, "k", &a).await;
    });
    pull_drive(&d.paths[0]);
    pull_drive(&d.paths[1]);
    let b = v2.clone();
    run(&cfg, |e| async move {
        put(&e, BUCKET, "k", &b).await; // acknowledged: v2 is the object now
    });
    return_drive(&d.paths[0]);
    return_drive(&d.paths[1]);
    pull_drive(&d.paths[0]);
    pull_drive(&d.paths[2]);
    let results =
        open_and_read(&cfg, vec!["k".into()]).expect("2 of 6 drives gone: start-up must succeed");
    match &results[0].1 {
        Ok(got) if *got == v2 => {}
        Ok(got) if *got == v1 => {
            panic!("the rebuilt index serves v1, which v2 overwrote (acknowledged)")
        }
        Ok(_) => panic!("wrong bytes"),
        Err(EngineError::ReadQuorum { .. }) => {}
        Err(e) => panic!("expected v2 or ReadQuorum, got {e:?}"),
    }
    return_drive(&d.paths[0]);
    return_drive(&d.paths[2]);
}

/// Minimal reproduction: an index rebuilt while some drives are gone records
/// only the commit-record copies it found, and is trusted again once they are
/// back. 2+2 on four drives; a small (inline) object has its m+1 = 3 commit
/// copies on drives 1, 2, 3. The index is lost while drives 1 and 2 are gone
/// (rebuilt from drives 0 and 3: it knows only the copy on drive 3). Drives 1
/// and 2 return, drives 1 and 3 go: two drives gone (= m), a copy on drive 2
/// is intact, so the object must read back.
#[test]
fn an_index_rebuilt_without_some_drives_still_finds_every_copy_later() {
    let d = drives(4);
    let cfg = config(&d, Some(Layout { data: 2, parity: 2 }));
    let key = run(&cfg, |e| async move {
        e.create_bucket(BUCKET).await.unwrap();
        for i in 0..64 {
            let k = format!("small{i}");
            put(&e, BUCKET, &k, &data(1000, i)).await;
            if e.head(BUCKET, &k).unwrap().meta.rotation == 1 {
                let commits: Vec<u16> = e
                    .head(BUCKET, &k)
                    .unwrap()
                    .commits
                    .iter()
                    .map(|c| c.drive)
                    .collect();
                assert_eq!(commits, vec![1, 2, 3]);
                return (k, i);
            }
        }
        panic!("no object got rotation 1");
    });
    let (k, seed) = key;
    std::fs::remove_dir_all(d.paths[0].join(".cairn/index")).unwrap();
    pull_drive(&d.paths[1]);
    pull_drive(&d.paths[2]);
    let k2 = k.clone();
    run(&cfg, |e| async move {
        assert_eq!(get(&e, BUCKET, &k2).await.unwrap(), data(1000, seed));
    });
    return_drive(&d.paths[1]);
    return_drive(&d.paths[2]);
    pull_drive(&d.paths[1]);
    pull_drive(&d.paths[3]);
    let k2 = k.clone();
    run(&cfg, |e| async move {
        match get(&e, BUCKET, &k2).await {
            Ok(got) => assert_eq!(got, data(1000, seed)),
            Err(err) => panic!(
                "{k2}: {err} with only drives 1 and 3 gone; the index lists commit copies on drives {:?}, a copy on drive 2 is intact",
                e.head(BUCKET, &k2).unwrap().commits.iter().map(|c| c.drive).collect::<Vec<_>>()
            ),
        }
    });
    return_drive(&d.paths[1]);
    return_drive(&d.paths[3]);
}
