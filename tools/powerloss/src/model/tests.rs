//! The model without FUSE: what a cut may and may not leave, over many seeds.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;

use super::*;

const SEEDS: u64 = 64;

fn model(dir: &Path, meta: MetaModel) -> Model {
    Model::load(dir, meta, 1 << 30).expect("load")
}

fn create(m: &mut Model, dir: u64, name: &str) -> u64 {
    m.create(dir, OsStr::new(name), Kind::File, 0o644, 0, 0)
        .expect("create")
}

/// Every file under `root` (relative path -> bytes) and every directory
/// (path -> None).
fn tree(root: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            let rel = p.strip_prefix(root).expect("under root");
            let rel = rel.to_string_lossy().into_owned();
            if p.is_dir() {
                out.insert(rel, None);
                stack.push(p);
            } else {
                out.insert(rel, Some(std::fs::read(&p).expect("read")));
            }
        }
    }
    out
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed.wrapping_mul(101))
        .collect()
}

#[test]
fn a_fresh_mount_serves_the_backing_tree_and_a_clean_unmount_gives_it_back() {
    let t = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(t.path().join("a/b")).expect("mkdir");
    std::fs::write(t.path().join("a/b/f"), pattern(5000, 1)).expect("write");
    std::fs::write(t.path().join("top"), b"top").expect("write");
    let before = tree(t.path());
    let mut m = model(t.path(), MetaModel::Ordered);
    let top: Vec<_> = std::fs::read_dir(t.path())
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(top, [STORE], "only the store is left while mounted");
    let a = m.lookup(ROOT, OsStr::new("a")).expect("a");
    let b = m.lookup(a, OsStr::new("b")).expect("b");
    let f = m.lookup(b, OsStr::new("f")).expect("f");
    assert_eq!(m.read(f, 0, 10_000).expect("read"), pattern(5000, 1));
    assert_eq!(
        m.read(f, 4990, 100).expect("read"),
        pattern(5000, 1)[4990..]
    );
    // Unsynced changes are all there after a clean unmount.
    m.write(f, 5000, b"tail").expect("write");
    let n = create(&mut m, ROOT, "new");
    m.write(n, 0, b"new").expect("write");
    m.finish_clean().expect("finish");
    let mut want = before;
    let mut fb = pattern(5000, 1);
    fb.extend_from_slice(b"tail");
    want.insert("a/b/f".into(), Some(fb));
    want.insert("new".into(), Some(b"new".to_vec()));
    assert_eq!(tree(t.path()), want);
}

#[test]
fn reads_see_pending_writes_truncates_and_holes_in_order() {
    let t = tempfile::tempdir().expect("tempdir");
    let mut m = model(t.path(), MetaModel::Ordered);
    let f = create(&mut m, ROOT, "f");
    m.write(f, 0, &pattern(4096, 1)).expect("write");
    m.fsync(f).expect("fsync");
    m.write(f, 1000, &[9; 100]).expect("write");
    m.set_size(f, 1050).expect("truncate");
    m.fallocate(f, 0, 8192, 0).expect("fallocate");
    m.fallocate(
        f,
        0,
        512,
        libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
    )
    .expect("punch");
    let mut want = pattern(4096, 1)[..1050].to_vec();
    want[1000..1050].fill(9);
    want[..512].fill(0);
    want.resize(8192, 0);
    assert_eq!(m.node(f).expect("node").size, 8192);
    assert_eq!(m.read(f, 0, 10_000).expect("read"), want);
    assert_eq!(m.read(f, 1024, 32).expect("read"), want[1024..1056]);
}

/// Data synced before the cut is there byte for byte after every cut, also
/// next to unsynced writes to it and to other files; an unsynced overwrite
/// leaves each sector old or new.
#[test]
fn a_synced_write_survives_every_cut_and_unsynced_ones_never_corrupt_it() {
    for meta in [MetaModel::Ordered, MetaModel::Posix] {
        for seed in 0..SEEDS {
            let t = tempfile::tempdir().expect("tempdir");
            let mut m = model(t.path(), meta);
            let f = create(&mut m, ROOT, "synced");
            let g = create(&mut m, ROOT, "other");
            let old = pattern(16 << 10, 1);
            m.write(f, 0, &old).expect("write");
            m.fsync(f).expect("fsync");
            m.fsync(ROOT).expect("fsync dir");
            let new = pattern(3000, 2);
            m.write(f, 5000, &new).expect("write");
            m.write(g, 0, &pattern(9000, 3)).expect("write");
            m.cut(seed).expect("cut");
            let got = std::fs::read(t.path().join("synced")).expect("synced file is there");
            assert_eq!(got.len(), old.len(), "seed {seed}");
            for s in 0..got.len().div_ceil(512) {
                let r = s * 512..((s + 1) * 512).min(got.len());
                let mut newer = old[r.clone()].to_vec();
                for (i, b) in newer.iter_mut().enumerate() {
                    let at = r.start + i;
                    if (5000..8000).contains(&at) {
                        *b = new[at - 5000];
                    }
                }
                assert!(
                    got[r.clone()] == old[r.clone()] || got[r.clone()] == newer[..],
                    "{meta:?} seed {seed}: sector {s} is neither old nor new"
                );
            }
        }
    }
}

/// An unsynced write is dropped, applied or torn, each for some seed; a
/// torn one lands in whole 512-byte sectors.
#[test]
fn an_unsynced_write_is_sometimes_dropped_sometimes_applied_and_sometimes_torn_by_sector() {
    let (mut dropped, mut applied, mut torn) = (0, 0, 0);
    for seed in 0..SEEDS {
        let t = tempfile::tempdir().expect("tempdir");
        let mut m = model(t.path(), MetaModel::Ordered);
        let f = create(&mut m, ROOT, "f");
        m.write(f, 0, &[0u8; 8192]).expect("write");
        m.fsync(f).expect("fsync");
        m.write(f, 0, &[0xab; 8192]).expect("write");
        let r = m.cut(seed).expect("cut");
        assert_eq!(r.data_applied + r.data_dropped + r.data_torn, 1);
        let got = std::fs::read(t.path().join("f")).expect("read");
        assert_eq!(got.len(), 8192);
        let new_sectors = got
            .chunks(512)
            .map(|s| {
                assert!(
                    s.iter().all(|&b| b == 0) || s.iter().all(|&b| b == 0xab),
                    "seed {seed}: a sector mixes old and new bytes"
                );
                s[0] == 0xab
            })
            .filter(|&n| n)
            .count();
        match new_sectors {
            0 => dropped += 1,
            16 => applied += 1,
            _ => torn += 1,
        }
    }
    assert!(
        dropped > 0 && applied > 0 && torn > 0,
        "dropped {dropped}, applied {applied}, torn {torn}"
    );
}

/// The same seed and the same operations give the same image.
#[test]
fn a_cut_is_reproducible_from_its_seed() {
    let run = |seed: u64| {
        let t = tempfile::tempdir().expect("tempdir");
        let mut m = model(t.path(), MetaModel::Posix);
        for i in 0..8u8 {
            let f = create(&mut m, ROOT, &format!("f{i}"));
            m.write(f, 0, &pattern(4096, i)).expect("write");
            m.write(f, 1024, &pattern(2048, i + 50)).expect("write");
        }
        let report = m.cut(seed).expect("cut");
        (report, tree(t.path()))
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11).1, run(12).1);
}

/// ext4 data=ordered-like: a cut keeps a prefix of the namespace changes,
/// and any fsync makes every earlier one durable.
#[test]
fn ordered_namespace_changes_survive_as_a_prefix_and_any_fsync_commits_them() {
    let mut outcomes = std::collections::BTreeSet::new();
    for seed in 0..SEEDS {
        let t = tempfile::tempdir().expect("tempdir");
        let mut m = model(t.path(), MetaModel::Ordered);
        let tmp = create(&mut m, ROOT, "tmp");
        m.write(tmp, 0, b"v1").expect("write");
        m.fsync(tmp).expect("fsync");
        m.rename(ROOT, OsStr::new("tmp"), ROOT, OsStr::new("final"), false)
            .expect("rename");
        create(&mut m, ROOT, "later");
        m.cut(seed).expect("cut");
        let names: Vec<String> = tree(t.path()).into_keys().collect();
        let names = names.join(",");
        assert!(
            ["tmp", "final", "final,later"].contains(&names.as_str()),
            "seed {seed}: {names}"
        );
        outcomes.insert(names);
    }
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    for seed in 0..8 {
        let t = tempfile::tempdir().expect("tempdir");
        let mut m = model(t.path(), MetaModel::Ordered);
        create(&mut m, ROOT, "a");
        let d = m
            .create(ROOT, OsStr::new("d"), Kind::Dir, 0o755, 0, 0)
            .expect("mkdir");
        create(&mut m, d, "b");
        let other = create(&mut m, ROOT, "other");
        m.fsync(other).expect("fsync");
        m.cut(seed).expect("cut");
        let names: Vec<String> = tree(t.path()).into_keys().collect();
        assert_eq!(names, ["a", "d", "d/b", "other"], "seed {seed}");
    }
}

/// Strict POSIX: a file's fsync makes its data durable but not its name;
/// the name is durable once its directory is fsynced.
#[test]
fn posix_names_need_a_directory_fsync() {
    let mut lost = 0;
    for seed in 0..SEEDS {
        let t = tempfile::tempdir().expect("tempdir");
        let mut m = model(t.path(), MetaModel::Posix);
        let f = create(&mut m, ROOT, "f");
        m.write(f, 0, b"data").expect("write");
        m.fsync(f).expect("fsync");
        m.cut(seed).expect("cut");
        match std::fs::read(t.path().join("f")) {
            Ok(b) => assert_eq!(b, b"data", "seed {seed}"),
            Err(_) => lost += 1,
        }
    }
    assert!(lost > 0, "a name without a directory fsync was never lost");
    for seed in 0..SEEDS {
        let t = tempfile::tempdir().expect("tempdir");
        let mut m = model(t.path(), MetaModel::Posix);
        let f = create(&mut m, ROOT, "f");
        m.write(f, 0, b"data").expect("write");
        m.fsync(f).expect("fsync");
        m.fsync(ROOT).expect("fsync dir");
        m.cut(seed).expect("cut");
        assert_eq!(
            std::fs::read(t.path().join("f")).expect("f is durable"),
            b"data",
            "seed {seed}"
        );
    }
}

/// A rename over a durable file is atomic in both models: the name holds
/// the old or the new file, never nothing and never a mix.
#[test]
fn a_rename_over_a_durable_file_leaves_the_old_or_the_new_one() {
    for meta in [MetaModel::Ordered, MetaModel::Posix] {
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..SEEDS {
            let t = tempfile::tempdir().expect("tempdir");
            let mut m = model(t.path(), meta);
            let old = create(&mut m, ROOT, "name");
            m.write(old, 0, b"old").expect("write");
            m.fsync(old).expect("fsync");
            m.fsync(ROOT).expect("fsync dir");
            let new = create(&mut m, ROOT, "name.tmp");
            m.write(new, 0, b"new!").expect("write");
            m.fsync(new).expect("fsync");
            m.rename(
                ROOT,
                OsStr::new("name.tmp"),
                ROOT,
                OsStr::new("name"),
                false,
            )
            .expect("rename");
            m.cut(seed).expect("cut");
            let got = std::fs::read(t.path().join("name")).expect("the name survives");
            assert!(
                got == b"old" || got == b"new!",
                "{meta:?} seed {seed}: {got:?}"
            );
            seen.insert(got);
        }
        assert_eq!(seen.len(), 2, "{meta:?}: {seen:?}");
    }
}

#[test]
fn an_unsynced_unlink_or_truncate_may_be_undone() {
    let (mut back, mut long) = (0, 0);
    for seed in 0..SEEDS {
        let t = tempfile::tempdir().expect("tempdir");
        let mut m = model(t.path(), MetaModel::Ordered);
        let a = create(&mut m, ROOT, "a");
        let b = create(&mut m, ROOT, "b");
        m.write(a, 0, &[1; 4096]).expect("write");
        m.write(b, 0, &[2; 4096]).expect("write");
        m.sync_all().expect("sync");
        m.remove(ROOT, OsStr::new("a"), false).expect("unlink");
        m.set_size(b, 100).expect("truncate");
        m.cut(seed).expect("cut");
        if let Ok(x) = std::fs::read(t.path().join("a")) {
            assert_eq!(x, [1; 4096], "seed {seed}");
            back += 1;
        }
        let y = std::fs::read(t.path().join("b")).expect("b");
        assert!(y.len() == 100 || y.len() == 4096, "seed {seed}");
        assert!(y.iter().all(|&x| x == 2));
        long += (y.len() == 4096) as u32;
    }
    assert!(back > 0 && back < SEEDS as u32);
    assert!(long > 0 && long < SEEDS as u32);
}

#[test]
fn a_second_mount_refuses_a_backing_directory_whose_store_is_left() {
    let t = tempfile::tempdir().expect("tempdir");
    let _m = model(t.path(), MetaModel::Ordered);
    let err = Model::load(t.path(), MetaModel::Ordered, 1 << 30)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("did not finish"), "{err}");
}

#[test]
fn the_dirty_bound_writes_the_largest_file_back() {
    let t = tempfile::tempdir().expect("tempdir");
    let mut m = Model::load(t.path(), MetaModel::Ordered, 10_000).expect("load");
    let f = create(&mut m, ROOT, "f");
    m.write(f, 0, &[5; 6000]).expect("write");
    assert_eq!(m.writebacks, 0);
    m.write(f, 6000, &[6; 6000]).expect("write");
    assert_eq!(m.writebacks, 1);
    assert_eq!(m.pending().1, 0);
    m.fsync(ROOT).expect("fsync");
    m.cut(1).expect("cut");
    let got = std::fs::read(t.path().join("f")).expect("read");
    assert_eq!(&got[..6000], &[5; 6000][..]);
    assert_eq!(&got[6000..], &[6; 6000][..]);
}
