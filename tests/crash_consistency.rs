//! Crash consistency under kill -9: a child process (this test binary,
//! re-executed) runs concurrent puts, overwrites and deletes on two cores and
//! prints `ACK` only after an operation returned Ok; the parent SIGKILLs it at
//! a random moment, reopens the drives in-process and checks that every
//! acknowledged operation survived, that an operation in flight at the kill
//! either happened whole or not at all, that nothing torn or unknown is
//! visible, and that the listing is exactly the readable keys. The next round
//! continues from that state.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

use cairn::engine::layout::Layout;
use cairn::engine::{Engine, EngineConfig, EngineError, MemBody, PutOptions};

const CHILD_ENV: &str = "CAIRN_CRASH_CHILD";
const ROUND_ENV: &str = "CAIRN_CRASH_ROUND";
const BUCKET: &str = "crash";
const DRIVES: usize = 4;
const CORES: usize = 2;
const WORKERS_PER_CORE: usize = 3;
const KEYS_PER_WORKER: usize = 4;
const ROUNDS: u64 = 30;
/// A child still alive after this long exits on its own (the parent died).
const CHILD_MAX: Duration = Duration::from_secs(30);
const BIG_KEY: &str = "c0w0k0";

fn engine_config(root: &Path, cores: usize) -> EngineConfig {
    let paths: Vec<PathBuf> = (0..DRIVES).map(|i| root.join(format!("disk{i}"))).collect();
    let mut cfg = EngineConfig::new(paths, cores);
    cfg.layout = Some(Layout { data: 2, parity: 2 });
    cfg.partitions = 8;
    // Small segments: every round opens fresh ones, keep the disk use down.
    cfg.segment_max = 2 << 20;
    cfg
}

fn all_keys() -> Vec<String> {
    let mut keys = Vec::new();
    for c in 0..CORES {
        for w in 0..WORKERS_PER_CORE {
            for k in 0..KEYS_PER_WORKER {
                keys.push(format!("c{c}w{w}k{k}"));
            }
        }
    }
    keys
}

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn key_hash(key: &str, gen: u64) -> u64 {
    key.bytes().fold(mix(gen), |h, b| mix(h ^ b as u64))
}

/// The content of generation `gen` of `key`: its size class (inline, 1-3 MiB
/// striped, 5 MiB for the big key) and bytes both follow from (key, gen).
fn content(key: &str, gen: u64) -> Vec<u8> {
    let h = key_hash(key, gen);
    let size = if key == BIG_KEY {
        (5 << 20) + (h % 1000) as usize
    } else if h % 10 < 5 {
        [0usize, 1, 100, 4096, 40_000, 65_536][(h / 10 % 6) as usize]
    } else {
        (1 << 20) + (h / 10 % (2 << 20)) as usize
    };
    data(size, h)
}

// ---------------------------------------------------------------------------
// The child.

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    out.write_all(line.as_bytes()).unwrap();
    out.write_all(b"\n").unwrap();
    out.flush().unwrap();
}

async fn worker(e: Rc<Engine>, core: usize, w: usize, round: u64, started: Instant) {
    let mut rng = mix(round * 1000 + (core * 100 + w) as u64);
    let mut counter = 0u64;
    loop {
        if started.elapsed() > CHILD_MAX {
            std::process::exit(4);
        }
        rng = mix(rng);
        let key = format!("c{core}w{w}k{}", rng % KEYS_PER_WORKER as u64);
        counter += 1;
        let gen = round * 1_000_000 + counter;
        if (rng >> 8) % 10 < 2 {
            say(&format!("BEGIN del {key} {gen}"));
            if let Err(err) = e.delete(BUCKET, &key, None, false).await {
                say(&format!("FAIL del {key} {gen} {err}"));
                std::process::exit(3);
            }
            say(&format!("ACK del {key} {gen}"));
        } else {
            let body = content(&key, gen);
            say(&format!("BEGIN put {key} {gen}"));
            if let Err(err) = e
                .put(BUCKET, &key, PutOptions::default(), &mut MemBody::new(body))
                .await
            {
                say(&format!("FAIL put {key} {gen} {err}"));
                std::process::exit(3);
            }
            say(&format!("ACK put {key} {gen}"));
        }
    }
}

/// Not a test of its own: the child process of `kill_9_never_loses_or_tears_a_write`.
#[test]
#[ignore = "child process of the crash test; launched by it"]
fn crash_child_entry() {
    let Ok(root) = std::env::var(CHILD_ENV) else {
        return;
    };
    let round: u64 = std::env::var(ROUND_ENV).unwrap().parse().unwrap();
    let started = Instant::now();
    let cfg = engine_config(Path::new(&root), CORES);
    let (shared, inboxes) = Engine::open(&cfg).expect("child: engine opens");
    say("OPEN");
    let inboxes = Arc::new(inboxes);
    let (ready_tx, ready_rx) = futures_channel::oneshot::channel::<()>();
    let ready_tx = Arc::new(std::sync::Mutex::new(Some(ready_tx)));
    let ready_rx = Arc::new(std::sync::Mutex::new(Some(ready_rx)));
    let handles = cairn::runtime::start_cores(CORES, false, move |core| {
        let (s, inboxes, ready_tx, ready_rx) = (
            shared.clone(),
            inboxes.clone(),
            ready_tx.clone(),
            ready_rx.clone(),
        );
        async move {
            let e = Engine::start_core(s, core, inboxes[core].clone()).unwrap();
            if core == 0 {
                if !e.bucket_exists(BUCKET) {
                    match e.create_bucket(BUCKET).await {
                        Ok(()) | Err(EngineError::BucketExists) => {}
                        Err(err) => panic!("child: create bucket: {err}"),
                    }
                }
                // create_bucket returns once every core installed the table.
                let _ = ready_tx.lock().unwrap().take().unwrap().send(());
            } else {
                let rx = ready_rx.lock().unwrap().take().unwrap();
                rx.await.unwrap();
            }
            assert!(e.bucket_exists(BUCKET));
            let tasks: Vec<_> = (0..WORKERS_PER_CORE)
                .map(|w| cairn::runtime::spawn(worker(e.clone(), core, w, round, started)))
                .collect();
            for t in tasks {
                t.await;
            }
        }
    })
    .unwrap();
    for h in handles {
        h.join().unwrap();
    }
}

// ---------------------------------------------------------------------------
// The parent.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Val {
    Absent,
    Gen(u64),
}

struct RoundLog {
    lines: Vec<String>,
}

fn run_child(root: &Path, round: u64, delay: Duration) -> RoundLog {
    let stderr = std::fs::File::create(root.join(format!("child-{round}.stderr"))).unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child_entry",
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
    // The kill moment is the random variable of this test, not a wait for
    // anything: the child runs until killed.
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
        panic!("round {round}: the child ended by itself ({status}) before the kill\nstdout tail: {:?}\nstderr: {err}", &lines[lines.len().saturating_sub(10)..]);
    }
    RoundLog { lines }
}

/// What each key may hold after the round: per key, the states allowed.
fn allowed_after(
    log: &RoundLog,
    before: &BTreeMap<String, Val>,
    stats: &mut Stats,
) -> BTreeMap<String, BTreeSet<Val>> {
    // Per key: (last acknowledged state, operation in flight).
    let mut last: BTreeMap<String, Val> = before.clone();
    let mut inflight: BTreeMap<String, Option<Val>> = BTreeMap::new();
    for line in &log.lines {
        let parts: Vec<&str> = line.split(' ').collect();
        let (what, op, key, gen) = match parts.as_slice() {
            [what @ ("BEGIN" | "ACK"), op, key, gen] => {
                (*what, *op, key.to_string(), gen.parse::<u64>().unwrap())
            }
            _ => continue,
        };
        let result = if op == "put" {
            Val::Gen(gen)
        } else {
            Val::Absent
        };
        let slot = inflight.entry(key.clone()).or_insert(None);
        match what {
            "BEGIN" => {
                assert!(
                    slot.is_none(),
                    "{key}: two operations in flight at once (the child serialises per key)"
                );
                *slot = Some(result);
            }
            _ => {
                assert_eq!(*slot, Some(result), "{key}: ACK without its BEGIN");
                *slot = None;
                last.insert(key, result);
                stats.acked += 1;
            }
        }
    }
    let mut allowed = BTreeMap::new();
    for key in all_keys() {
        let mut set = BTreeSet::new();
        set.insert(last[&key]);
        if let Some(Some(v)) = inflight.get(&key) {
            set.insert(*v);
            stats.inflight += 1;
        }
        allowed.insert(key, set);
    }
    allowed
}

#[derive(Default, Debug)]
struct Stats {
    acked: u64,
    inflight: u64,
    inflight_happened: u64,
    rounds_with_bucket: u64,
}

/// Opens the drives in-process and returns what every key holds, checking
/// that each readable object is exactly some generation and that listing,
/// head and get agree.
fn observe(
    root: &Path,
    allowed: &BTreeMap<String, BTreeSet<Val>>,
    round: u64,
) -> (BTreeMap<String, Val>, bool) {
    let cfg = engine_config(root, 1);
    let allowed = allowed.clone();
    run(&cfg, |e| async move {
        let mut seen = BTreeMap::new();
        if !e.bucket_exists(BUCKET) {
            for (k, a) in &allowed {
                assert!(
                    a.contains(&Val::Absent),
                    "round {round}: bucket missing but {k} must hold one of {a:?}"
                );
                seen.insert(k.clone(), Val::Absent);
            }
            return (seen, false);
        }
        for (k, a) in &allowed {
            let v = match get(&e, BUCKET, k).await {
                Ok(got) => {
                    let gens: Vec<u64> = a
                        .iter()
                        .filter_map(|v| if let Val::Gen(g) = v { Some(*g) } else { None })
                        .collect();
                    let Some(&g) = gens.iter().find(|&&g| content(k, g) == got) else {
                        panic!(
                            "round {round}: {k} holds {} bytes that are none of the allowed states {a:?} (torn, stale or lost write)",
                            got.len()
                        );
                    };
                    let h = e.head(BUCKET, k).unwrap();
                    assert_eq!(
                        h.meta.size,
                        got.len() as u64,
                        "round {round}: {k}: head size"
                    );
                    assert_eq!(h.meta.etag, md5_hex(&got), "round {round}: {k}: etag");
                    Val::Gen(g)
                }
                Err(EngineError::NoSuchKey) => {
                    assert!(
                        a.contains(&Val::Absent),
                        "round {round}: {k} is missing, but must hold one of {a:?}"
                    );
                    Val::Absent
                }
                Err(err) => panic!("round {round}: {k}: {err}"),
            };
            seen.insert(k.clone(), v);
        }
        let listed: BTreeSet<String> = list_all(&e, BUCKET).into_iter().map(|(k, _)| k).collect();
        let readable: BTreeSet<String> = seen
            .iter()
            .filter(|(_, v)| **v != Val::Absent)
            .map(|(k, _)| k.clone())
            .collect();
        assert_eq!(
            listed, readable,
            "round {round}: listing differs from the readable keys"
        );
        (seen, true)
    })
}

#[test]
fn kill_9_never_loses_or_tears_a_write() {
    use rand::Rng;
    let dir = test_dir();
    let root = dir.path().to_path_buf();
    // CAIRN_CRASH_KEEP: keep the drives and every round's child log
    // (round-N.log) for inspection.
    let keep = std::env::var_os("CAIRN_CRASH_KEEP").is_some();
    if keep {
        eprintln!("crash test: drives kept in {}", dir.keep().display());
    }
    for i in 0..DRIVES {
        std::fs::create_dir_all(root.join(format!("disk{i}"))).unwrap();
    }
    let started = Instant::now();
    let mut rng = rand::thread_rng();
    let mut state: BTreeMap<String, Val> =
        all_keys().into_iter().map(|k| (k, Val::Absent)).collect();
    let mut stats = Stats::default();
    let mut delays = Vec::new();
    let mut ghosts: BTreeMap<String, BTreeSet<Val>> = BTreeMap::new();
    for round in 1..=ROUNDS {
        let delay = Duration::from_millis(rng.gen_range(50..=800));
        delays.push(delay.as_millis());
        let log = run_child(&root, round, delay);
        if keep {
            std::fs::write(
                root.join(format!("round-{round}.log")),
                log.lines.join("\n"),
            )
            .unwrap();
        }
        let allowed = allowed_after(&log, &state, &mut stats);
        let (seen, bucket) = observe(&root, &allowed, round);
        for (k, v) in &seen {
            let touched = log
                .lines
                .iter()
                .any(|l| l.split(' ').nth(2) == Some(k.as_str()));
            if touched && log_acked_last(&log, k) {
                // An acknowledged operation supersedes every earlier record.
                ghosts.remove(k);
            } else if allowed[k].len() > 1 {
                let inflight = *allowed[k]
                    .iter()
                    .find(|a| **a != last_acked(&log, k, state[k]))
                    .unwrap();
                if *v == inflight {
                    stats.inflight_happened += 1;
                    ghosts.remove(k);
                } else {
                    // It did not happen (yet): its records may still be on
                    // the drives, unreferenced.
                    ghosts.entry(k.clone()).or_default().insert(inflight);
                }
            }
        }
        stats.rounds_with_bucket += bucket as u64;
        state = seen;
    }
    eprintln!(
        "crash test: {ROUNDS} kills after {delays:?} ms; {stats:?}; {:?}",
        started.elapsed()
    );

    // Finally the index is lost and rebuilt from the drives: it must come back
    // as the state last observed. The one latitude: an operation that was in
    // flight at a kill, was not visible afterwards, and was never superseded
    // may surface now (its records are durable, only the index missed it).
    let paths: Vec<PathBuf> = (0..DRIVES).map(|i| root.join(format!("disk{i}"))).collect();
    lose_index(&paths);
    let allowed: BTreeMap<String, BTreeSet<Val>> = state
        .iter()
        .map(|(k, v)| {
            let mut a: BTreeSet<Val> = ghosts.get(k).cloned().unwrap_or_default();
            a.insert(*v);
            (k.clone(), a)
        })
        .collect();
    let (rebuilt, _) = observe(&root, &allowed, ROUNDS + 1);
    let surfaced: Vec<_> = rebuilt.iter().filter(|(k, v)| **v != state[*k]).collect();
    eprintln!("after the index rebuild, unacknowledged operations that surfaced: {surfaced:?}");
    assert!(
        stats.acked >= 50,
        "too few acknowledged operations to mean anything: {stats:?}"
    );
    assert!(
        stats.inflight >= ROUNDS / 2,
        "kills rarely hit an operation in flight: {stats:?}"
    );
}

/// The key's state per its last ACK in the log, or `before`.
fn last_acked(log: &RoundLog, key: &str, before: Val) -> Val {
    log.lines
        .iter()
        .rev()
        .filter(|l| l.starts_with("ACK ") && l.split(' ').nth(2) == Some(key))
        .map(|l| {
            let p: Vec<&str> = l.split(' ').collect();
            if p[1] == "put" {
                Val::Gen(p[3].parse().unwrap())
            } else {
                Val::Absent
            }
        })
        .next()
        .unwrap_or(before)
}

/// Whether the key's last line in the log is an ACK (nothing in flight).
fn log_acked_last(log: &RoundLog, key: &str) -> bool {
    log.lines
        .iter()
        .rev()
        .find(|l| l.split(' ').nth(2) == Some(key))
        .is_none_or(|l| l.starts_with("ACK"))
}

/// A put cut off by a crash after its commit record was durable but before
/// the index took it leaves a record no index entry refers to. A later
/// acknowledged delete of the key (which then reads as absent) must outrank
/// that record, or a rebuild brings the put back over the delete.
#[test]
fn a_rebuild_never_undoes_an_acknowledged_delete_with_a_put_cut_off_by_a_crash() {
    let d = drives(4);
    let cfg = config(&d, Some(Layout { data: 2, parity: 2 }));
    let index = d.paths[0].join(".cairn/index");
    let saved = d.dir.path().join("index-before-the-puts");
    // One inline object, one striped.
    let keys = ["inline", "striped"];
    let size = |k: &str| if k == "inline" { 100 } else { 3 << 20 };
    run(
        &cfg,
        |e| async move { e.create_bucket("cut").await.unwrap() },
    );
    // The crash: the index as it was before the puts (their index
    // transactions were lost), their records durable on the drives.
    run(&cfg, |e| {
        let (index, saved) = (index.clone(), saved.clone());
        async move {
            copy_dir(&index, &saved);
            for k in keys {
                put(&e, "cut", k, &data(size(k), 1)).await;
            }
        }
    });
    std::fs::remove_dir_all(&index).unwrap();
    copy_dir(&saved, &index);
    run(&cfg, |e| async move {
        for k in keys {
            assert!(
                matches!(get(&e, "cut", k).await, Err(EngineError::NoSuchKey)),
                "{k}: the put the crash cut off is not visible"
            );
            e.delete("cut", k, None, false).await.unwrap();
        }
    });
    lose_index(&d.paths);
    run(&cfg, |e| async move {
        for k in keys {
            assert!(
                matches!(get(&e, "cut", k).await, Err(EngineError::NoSuchKey)),
                "{k}: the rebuild undid an acknowledged delete"
            );
        }
    });
}

/// Copies a directory tree; holes stay holes (an LMDB file with WRITE_MAP
/// is as long as its map).
fn copy_dir(from: &Path, to: &Path) {
    let st = std::process::Command::new("cp")
        .args(["-a", "--sparse=always"])
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success(), "cp {} {}", from.display(), to.display());
}

/// A crash while a drive is being formatted (the `.cairn` directory made,
/// `format.json` not yet renamed into place) must not lock that drive out of
/// the set forever: it holds nothing, so it is formatted again.
#[test]
fn a_crash_while_formatting_does_not_lock_a_drive_out() {
    let d = drives(4);
    let cfg = config(&d, Some(Layout { data: 2, parity: 2 }));
    run(&cfg, |e| async move {
        e.create_bucket("fmt").await.unwrap();
        put(&e, "fmt", "k", &data(2 << 20, 1)).await;
    });
    // Drive 2 is replaced; the first start on it dies after creating its
    // metadata directory and the temporary format file.
    std::fs::remove_dir_all(&d.paths[2]).unwrap();
    std::fs::create_dir_all(d.paths[2].join(".cairn")).unwrap();
    std::fs::write(d.paths[2].join(".cairn/format.tmp"), b"{\"format_ver").unwrap();
    run_with(&cfg, true, |e, shared| async move {
        assert_eq!(get(&e, "fmt", "k").await.unwrap(), data(2 << 20, 1));
        assert!(
            shared.drive_online(2),
            "drive 2 (empty but for a half-written format file) was refused: {:?}",
            shared.set.drives[2].state
        );
    });
}
