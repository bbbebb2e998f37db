//! Crash consistency of the real binary: an acknowledged PUT or DELETE
//! survives `kill -9` of the server, and no partially written object is ever
//! visible.
//!
//! The test starts `cairn serve` on four temp drives, runs a concurrent
//! workload of PUTs (100 B to 6 MiB), overwrites and DELETEs over a small key
//! space through the AWS SDK, and SIGKILLs the server (by the PID it spawned)
//! at a random moment. It then restarts the server on the same drives and
//! checks through S3 that every key is absent or holds exactly one generation
//! that was acknowledged or in flight, never older than its last
//! acknowledged write; that GET returns the whole body, whose MD5 is the
//! ETag; and that ListObjectsV2 lists exactly the keys GET finds. The next
//! round continues the workload from the state observed.
//!
//! At most one operation per key is in flight at a time (a task takes the
//! key before sending and releases it on the 2xx response), so "the last
//! acknowledged operation" of a key is well defined and a kill leaves at most
//! one candidate per key besides it.
//!
//! A second test does the same to multipart uploads: parts uploaded
//! concurrently, Completes in flight (every other kill lands just after one
//! was sent). After a restart an upload whose Complete was acknowledged is
//! a byte-exact object; one whose Complete was in flight is either that (and
//! a retried Complete answers as the first would have) or still listable
//! with every acknowledged part and completable; any other is listable with
//! every acknowledged part, then completed or aborted.
//!
//! `CAIRN_TEST_LOG` sets the servers' log filter (default `info`);
//! `CAIRN_CRASH_SEED` fixes the workload seed (the kill moments stay random);
//! `CAIRN_CRASH_KEEP=1` keeps the drives and server logs for a post-mortem.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use md5::Digest as _;

const USER: &str = "cairnadmin";
const PASSWORD: &str = "cairn-crash-secret";
const REGION: &str = "us-east-1";
const BUCKET: &str = "crash";

const DRIVES: usize = 4;
const KEYS: usize = 40;
const TASKS: usize = 16;
/// Kill/restart rounds.
const ROUNDS: u64 = 20;
/// The kill lands this many milliseconds into each round's workload.
const KILL_MS: std::ops::RangeInclusive<u64> = 100..=1500;
/// Share of operations that are DELETEs, percent.
const DELETE_PCT: u64 = 20;

/// Every wait is bounded.
const READY_LIMIT: Duration = Duration::from_secs(30);
const REQUEST_LIMIT: Duration = Duration::from_secs(30);
const EXIT_LIMIT: Duration = Duration::from_secs(10);
const DRAIN_LIMIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// Content: every generation of every key is distinct and self-describing.

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

const MAGIC: [u8; 4] = *b"CRSH";
const HEADER: usize = 16;

fn key_name(k: usize) -> String {
    format!("obj-{k:02}")
}

/// The bytes of generation `gen` of key `k`: a 16-byte header (key index,
/// magic, generation) then pseudo-random bytes; the size class follows from
/// (k, gen) too: 100 B, 4 KiB, 70 KiB (just past inline), 1-3 MiB, and now
/// and then 6 MiB.
fn content(k: usize, gen: u64) -> Vec<u8> {
    let h = mix(gen ^ mix(k as u64 + 1));
    let size = match h % 100 {
        0..=29 => 100,
        30..=54 => 4 << 10,
        55..=79 => 70 << 10,
        80..=97 => (1 << 20) + ((h >> 8) % ((2 << 20) + 1)) as usize,
        _ => 6 << 20,
    };
    let mut out = vec![0u8; size];
    let mut x = mix(h ^ 0x5EED) | 1;
    for chunk in out.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    out[..4].copy_from_slice(&(k as u32).to_le_bytes());
    out[4..8].copy_from_slice(&MAGIC);
    out[8..16].copy_from_slice(&gen.to_le_bytes());
    out
}

/// Which generation of key `k` these bytes are, exactly; or why they are none.
fn identify(k: usize, body: &[u8]) -> Result<u64, String> {
    if body.len() < HEADER || body[4..8] != MAGIC {
        return Err(format!(
            "no header (first bytes {:02x?})",
            &body[..body.len().min(16)]
        ));
    }
    let key = u32::from_le_bytes(body[..4].try_into().unwrap()) as usize;
    let gen = u64::from_le_bytes(body[8..16].try_into().unwrap());
    if key != k {
        return Err(format!("header says generation {gen} of {}", key_name(key)));
    }
    let want = content(k, gen);
    if want.len() != body.len() {
        return Err(format!(
            "header says generation {gen}, which is {} bytes",
            want.len()
        ));
    }
    if let Some(off) = want.iter().zip(body).position(|(a, b)| a != b) {
        return Err(format!(
            "header says generation {gen}, but the bytes differ from offset {off}"
        ));
    }
    Ok(gen)
}

fn md5_hex(b: &[u8]) -> String {
    hex::encode(md5::Md5::digest(b))
}

// ---------------------------------------------------------------------------
// The server under test.

struct Server {
    child: Child,
    pid: libc::pid_t,
    port: u16,
    log: PathBuf,
    reaped: bool,
}

impl Server {
    fn start(root: &Path, drives: &[PathBuf], round: u64) -> Server {
        let port = free_port();
        let log = root.join(format!("server-{round:02}.log"));
        let stderr = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("serve")
            .args(drives)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--cores", "2", "--partitions", "16"])
            // Leave the CPUs to the scheduler, and keep the preallocated
            // segments small.
            .arg("--no-pin")
            .args(["--segment-size", &(16u64 << 20).to_string()])
            .env("CAIRN_ROOT_USER", USER)
            .env("CAIRN_ROOT_PASSWORD", PASSWORD)
            .env(
                "CAIRN_LOG",
                std::env::var("CAIRN_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start cairn");
        let pid = child.id() as libc::pid_t;
        let mut s = Server {
            child,
            pid,
            port,
            log,
            reaped: false,
        };
        s.wait_ready(round);
        s
    }

    fn wait_ready(&mut self, round: u64) {
        let deadline = Instant::now() + READY_LIMIT;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.reaped = true;
                    panic!(
                        "round {round}: cairn exited during start-up ({status}) on the drives of the previous round:\n{}",
                        self.log_tail(60)
                    );
                }
                Ok(None) => {}
                Err(e) => panic!("try_wait: {e}"),
            }
            if health_ready(self.port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!(
            "round {round}: cairn was not ready after {READY_LIMIT:?}:\n{}",
            self.log_tail(60)
        );
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGKILL to the PID this test spawned, then reaps it.
    async fn kill9(&mut self) -> ExitStatus {
        assert!(!self.reaped, "kill9 of a reaped child");
        // SAFETY: kill(2) of our own child, not yet reaped (so its PID cannot
        // have been reused).
        let r = unsafe { libc::kill(self.pid, libc::SIGKILL) };
        assert_eq!(r, 0, "kill -9 {}", self.pid);
        let deadline = Instant::now() + EXIT_LIMIT;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.reaped = true;
                    return status;
                }
                Ok(None) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(5)).await
                }
                Ok(None) => panic!(
                    "cairn {} still alive {EXIT_LIMIT:?} after SIGKILL",
                    self.pid
                ),
                Err(e) => panic!("try_wait: {e}"),
            }
        }
    }

    fn log_tail(&self, n: usize) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.reaped {
            // SAFETY: as in kill9; the child is not reaped yet.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            let _ = self.child.wait();
            self.reaped = true;
        }
        if std::thread::panicking() {
            eprintln!(
                "--- cairn log tail ({}) ---\n{}",
                self.log.display(),
                self.log_tail(60)
            );
        }
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// `GET /health/ready` answered 200.
fn health_ready(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET /health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    buf.starts_with(b"HTTP/1.1 200")
}

fn client(endpoint: &str) -> Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(USER, PASSWORD, None, None, "test"))
        .force_path_style(true)
        // A retry could replay an operation after its first attempt failed
        // and blur what was in flight; every attempt is explicit here.
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_timeout(REQUEST_LIMIT)
                .build(),
        )
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    Client::from_conf(conf)
}

// ---------------------------------------------------------------------------
// The journal of the workload.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Val {
    Absent,
    Gen(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// PUT of this generation.
    Put(u64),
    /// DELETE; the number only names the operation.
    Delete(u64),
}

impl Op {
    fn result(self) -> Val {
        match self {
            Op::Put(g) => Val::Gen(g),
            Op::Delete(_) => Val::Absent,
        }
    }
}

#[derive(Clone, Debug)]
struct KeyState {
    /// What the key holds per the last acknowledged operation (or, after a
    /// restart, per what was observed).
    acked: Val,
    /// The operation sent and not acknowledged (at most one per key).
    inflight: Option<Op>,
    /// Recent events, for failure messages.
    history: Vec<String>,
}

impl KeyState {
    fn note(&mut self, event: String) {
        if self.history.len() >= 8 {
            self.history.remove(0);
        }
        self.history.push(event);
    }
}

struct Journal {
    keys: Vec<KeyState>,
    /// Operations acknowledged in the current round.
    acked: u64,
    /// Errors seen before the kill: no healthy server should produce them.
    failures: Vec<String>,
}

fn lock<T>(j: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    j.lock().unwrap_or_else(|p| p.into_inner())
}

async fn worker(
    c: Client,
    journal: Arc<Mutex<Journal>>,
    stop: Arc<AtomicBool>,
    next_op: Arc<AtomicU64>,
    seed: u64,
    round: u64,
    task: usize,
) {
    let mut rng = mix(seed ^ (round << 32) ^ task as u64);
    while !stop.load(Ordering::SeqCst) {
        rng = mix(rng);
        let n = next_op.fetch_add(1, Ordering::SeqCst);
        let op = if rng % 100 < DELETE_PCT {
            Op::Delete(n)
        } else {
            Op::Put(n)
        };
        // Take a key nobody else is writing: it is "in flight" from here.
        let k = {
            let mut j = lock(&journal);
            let start = (rng >> 16) as usize % KEYS;
            let Some(k) = (0..KEYS)
                .map(|i| (start + i) % KEYS)
                .find(|&k| j.keys[k].inflight.is_none())
            else {
                continue;
            };
            j.keys[k].inflight = Some(op);
            j.keys[k].note(format!("round {round}: {op:?} sent"));
            k
        };
        let key = key_name(k);
        let res: Result<(), String> = match op {
            Op::Put(g) => {
                let body = content(k, g);
                c.put_object()
                    .bucket(BUCKET)
                    .key(&key)
                    .body(ByteStream::from(body))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("{}", DisplayErrorContext(&e)))
            }
            Op::Delete(_) => c
                .delete_object()
                .bucket(BUCKET)
                .key(&key)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| format!("{}", DisplayErrorContext(&e))),
        };
        let mut j = lock(&journal);
        match res {
            Ok(()) => {
                let ks = &mut j.keys[k];
                ks.acked = op.result();
                ks.inflight = None;
                ks.note(format!("round {round}: {op:?} acknowledged"));
                j.acked += 1;
            }
            // The stop flag is raised before the kill, so an error caused by
            // the kill always sees it: the operation stays in flight.
            Err(_) if stop.load(Ordering::SeqCst) => return,
            Err(e) => {
                j.failures.push(format!(
                    "round {round}: {op:?} on {key} failed before the kill: {e}"
                ));
                stop.store(true, Ordering::SeqCst);
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The check after a restart.

/// Reads every key and the listing; panics on anything not allowed. Returns
/// what each key holds.
async fn observe(c: &Client, keys: &[KeyState], round: u64) -> Vec<Val> {
    let mut seen = Vec::with_capacity(KEYS);
    for (k, ks) in keys.iter().enumerate() {
        let key = key_name(k);
        let mut allowed = BTreeSet::from([ks.acked]);
        if let Some(op) = ks.inflight {
            allowed.insert(op.result());
        }
        let why = || {
            format!(
                "allowed {allowed:?} (last acknowledged {:?}, in flight {:?}); history: {:#?}",
                ks.acked, ks.inflight, ks.history
            )
        };
        let v = match c.get_object().bucket(BUCKET).key(&key).send().await {
            Ok(o) => {
                let etag = o.e_tag().map(|t| t.trim_matches('"').to_owned());
                let len = o.content_length();
                let body = o
                    .body
                    .collect()
                    .await
                    .unwrap_or_else(|e| {
                        panic!("round {round}: {key}: reading the body: {e}; {}", why())
                    })
                    .into_bytes();
                assert_eq!(
                    len,
                    Some(body.len() as i64),
                    "round {round}: {key}: Content-Length and the body received differ; {}",
                    why()
                );
                assert_eq!(
                    etag.as_deref(),
                    Some(md5_hex(&body).as_str()),
                    "round {round}: {key}: the ETag is not the MD5 of the body; {}",
                    why()
                );
                match identify(k, &body) {
                    Ok(g) => Val::Gen(g),
                    Err(e) => panic!(
                        "round {round}: {key}: GET returned {} bytes that are no whole generation of the key ({e}): a torn or foreign object is visible; {}",
                        body.len(),
                        why()
                    ),
                }
            }
            Err(e) if e.code() == Some("NoSuchKey") => Val::Absent,
            Err(e) => panic!(
                "round {round}: {key}: GET failed: {}; {}",
                DisplayErrorContext(&e),
                why()
            ),
        };
        assert!(
            allowed.contains(&v),
            "round {round}: {key} reads as {v:?} after the restart: {}; {}",
            if v == Val::Absent {
                "an acknowledged PUT was lost"
            } else if matches!(ks.acked, Val::Gen(g) if Val::Gen(g) > v) {
                "an older generation than the last acknowledged one (lost or rolled-back write)"
            } else {
                "a generation neither acknowledged nor in flight (resurrected or lost DELETE)"
            },
            why()
        );
        seen.push(v);
    }

    // The listing: exactly the keys GET found, with their sizes.
    let mut listed: BTreeMap<String, i64> = BTreeMap::new();
    let mut token: Option<String> = None;
    for _page in 0..100 {
        let out = c
            .list_objects_v2()
            .bucket(BUCKET)
            .max_keys(15)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("round {round}: list: {}", DisplayErrorContext(&e)));
        for o in out.contents() {
            let name = o.key().unwrap_or_default().to_owned();
            assert!(
                listed
                    .insert(name.clone(), o.size().unwrap_or(-1))
                    .is_none(),
                "round {round}: {name} listed twice"
            );
        }
        token = out.next_continuation_token().map(str::to_owned);
        if !out.is_truncated().unwrap_or(false) {
            token = None;
            break;
        }
        assert!(
            token.is_some(),
            "round {round}: truncated listing without a token"
        );
    }
    assert!(token.is_none(), "round {round}: the listing did not end");
    let readable: BTreeMap<String, i64> = seen
        .iter()
        .enumerate()
        .filter_map(|(k, v)| match v {
            Val::Gen(g) => Some((key_name(k), content(k, *g).len() as i64)),
            Val::Absent => None,
        })
        .collect();
    assert_eq!(
        listed, readable,
        "round {round}: ListObjectsV2 (key, size) differs from what GET finds"
    );
    seen
}

// ---------------------------------------------------------------------------

/// One crash test at a time: each drives its server as hard as the machine
/// allows, and the kill timing means little when another test competes.
static SERIAL: Mutex<()> = Mutex::new(());

fn one_at_a_time(test: impl std::future::Future<Output = ()>) {
    let _serial = lock(&SERIAL);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(test);
}

#[test]
fn kill_9_of_the_binary_never_loses_or_tears_a_write() {
    one_at_a_time(puts_and_deletes());
}

async fn puts_and_deletes() {
    use rand::Rng;
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_path_buf();
    // (Not `.map(|_| dir.keep())`: the closure would take `dir` either way.)
    let _dir = if std::env::var_os("CAIRN_CRASH_KEEP").is_some() {
        let _ = dir.keep();
        None
    } else {
        Some(dir)
    };
    let drives: Vec<PathBuf> = (0..DRIVES)
        .map(|i| root.join(format!("drive{i}")))
        .collect();
    let seed: u64 = match std::env::var("CAIRN_CRASH_SEED") {
        Ok(s) => s.parse().expect("CAIRN_CRASH_SEED: a number"),
        Err(_) => rand::thread_rng().gen(),
    };
    eprintln!(
        "crash_binary: seed {seed} (CAIRN_CRASH_SEED), drives under {}",
        root.display()
    );

    let mut server = Server::start(&root, &drives, 0);
    let mut c = client(&server.endpoint());
    c.create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create bucket: {}", DisplayErrorContext(&e)));

    let journal = Arc::new(Mutex::new(Journal {
        keys: vec![
            KeyState {
                acked: Val::Absent,
                inflight: None,
                history: Vec::new(),
            };
            KEYS
        ],
        acked: 0,
        failures: Vec::new(),
    }));
    let next_op = Arc::new(AtomicU64::new(1));
    let mut rng = rand::thread_rng();
    let (mut total_acked, mut total_inflight, mut total_applied) = (0u64, 0u64, 0u64);

    for round in 1..=ROUNDS {
        let t0 = Instant::now();
        lock(&journal).acked = 0;
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                tokio::spawn(worker(
                    c.clone(),
                    journal.clone(),
                    stop.clone(),
                    next_op.clone(),
                    seed,
                    round,
                    t,
                ))
            })
            .collect();
        let delay = Duration::from_millis(rng.gen_range(KILL_MS));
        tokio::time::sleep(delay).await;
        stop.store(true, Ordering::SeqCst);
        let status = server.kill9().await;
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                status.signal(),
                Some(libc::SIGKILL),
                "round {round}: cairn ended by itself ({status}) before the kill:\n{}",
                server.log_tail(60)
            );
        }
        // The tasks see their connections fail; a task still waiting after
        // the limit is aborted, its operation left in flight.
        let drain_deadline = tokio::time::Instant::now() + DRAIN_LIMIT;
        let mut stuck = 0;
        for t in tasks {
            let abort = t.abort_handle();
            match tokio::time::timeout_at(drain_deadline, t).await {
                Ok(r) => r.expect("worker task panicked"),
                Err(_) => {
                    abort.abort();
                    stuck += 1;
                }
            }
        }
        let (keys, acked) = {
            let j = lock(&journal);
            assert!(
                j.failures.is_empty(),
                "operations failed on a healthy server: {:#?}",
                j.failures
            );
            (j.keys.clone(), j.acked)
        };
        let inflight = keys.iter().filter(|k| k.inflight.is_some()).count() as u64;

        let t_restart = Instant::now();
        drop(server);
        server = Server::start(&root, &drives, round);
        let restart = t_restart.elapsed();
        c = client(&server.endpoint());
        let seen = observe(&c, &keys, round).await;

        // Which in-flight operations turned out applied. A DELETE in flight
        // on a key that was absent anyway cannot tell.
        let (mut applied, mut undecidable) = (0u64, 0u64);
        {
            let mut j = lock(&journal);
            for (k, v) in seen.iter().enumerate() {
                let ks = &mut j.keys[k];
                if let Some(op) = ks.inflight.take() {
                    let outcome = if op.result() == ks.acked {
                        undecidable += 1;
                        "undecidable"
                    } else if *v == op.result() {
                        applied += 1;
                        "applied"
                    } else {
                        "not applied"
                    };
                    ks.note(format!(
                        "round {round}: {op:?} in flight at the kill: {outcome}"
                    ));
                }
                ks.acked = *v;
            }
        }
        total_acked += acked;
        total_inflight += inflight;
        total_applied += applied;
        eprintln!(
            "round {round:2}: kill at {:4} ms: {acked:3} ops acknowledged, {inflight:2} in flight at the kill ({applied} applied, {undecidable} undecidable, {stuck} stuck); {} of {KEYS} keys present; restart {:.2?}, round {:.2?}",
            delay.as_millis(),
            seen.iter().filter(|v| **v != Val::Absent).count(),
            restart,
            t0.elapsed()
        );
    }
    drop(server);
    eprintln!(
        "crash_binary: {ROUNDS} kills, {total_acked} operations acknowledged, {total_inflight} in flight at a kill, {total_applied} of them applied; {:.1?}",
        started.elapsed()
    );
    assert!(
        total_acked >= 100,
        "too few acknowledged operations to mean anything: {total_acked}"
    );
    assert!(
        total_inflight >= ROUNDS,
        "the kills rarely hit an operation in flight: {total_inflight}"
    );
}

// ---------------------------------------------------------------------------
// Multipart uploads under kill -9.

const MP_ROUNDS: u64 = 8;
/// Tasks uploading three parts (5 MiB, 5 MiB, small) concurrently per
/// upload, and tasks looping over tiny single-part uploads (mostly Create
/// and Complete).
const MP_BIG_TASKS: usize = 2;
const MP_TINY_TASKS: usize = 2;
const MP_KILL_MS: std::ops::RangeInclusive<u64> = 300..=2500;

/// The bytes of part `n` of upload number `u` (unique over the test).
fn mp_part(u: u64, n: i32, parts: i32) -> Vec<u8> {
    let h = mix(u ^ mix(n as u64));
    let size = if n < parts {
        5 << 20
    } else {
        1 + (h % (200 << 10)) as usize
    };
    let mut out = vec![0u8; size];
    let mut x = h | 1;
    for chunk in out.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    out
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum PartState {
    InFlight,
    Acked(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Completion {
    NotSent,
    InFlight,
    Acked,
}

#[derive(Clone, Debug)]
struct MpUpload {
    /// Unique number: names the key and seeds the content.
    n: u64,
    parts: i32,
    /// None while the Create is in flight.
    id: Option<String>,
    part_state: BTreeMap<i32, PartState>,
    completion: Completion,
}

impl MpUpload {
    fn key(&self) -> String {
        format!("mp-{:05}", self.n)
    }

    fn whole(&self) -> Vec<u8> {
        (1..=self.parts)
            .flat_map(|p| mp_part(self.n, p, self.parts))
            .collect()
    }

    fn etag(&self) -> String {
        let mut h = md5::Md5::new();
        for p in 1..=self.parts {
            h.update(md5::Md5::digest(mp_part(self.n, p, self.parts)));
        }
        format!("{}-{}", hex::encode(h.finalize()), self.parts)
    }
}

#[derive(Default)]
struct MpJournal {
    uploads: Vec<MpUpload>,
    failures: Vec<String>,
    acked: u64,
}

struct MpRun {
    c: Client,
    journal: Arc<Mutex<MpJournal>>,
    stop: Arc<AtomicBool>,
    next: Arc<AtomicU64>,
    /// Set when a Complete has just been sent (for kills aimed at it).
    completing: Arc<AtomicBool>,
}

impl MpRun {
    fn update(&self, i: usize, f: impl FnOnce(&mut MpUpload)) {
        f(&mut lock(&self.journal).uploads[i]);
    }

    /// Records an error: a failure unless the kill caused it.
    fn failed(&self, what: String) {
        if !self.stop.load(Ordering::SeqCst) {
            lock(&self.journal).failures.push(what);
            self.stop.store(true, Ordering::SeqCst);
        }
    }
}

async fn mp_worker(run: Arc<MpRun>, parts: i32) {
    while !run.stop.load(Ordering::SeqCst) {
        let n = run.next.fetch_add(1, Ordering::SeqCst);
        let i = {
            let mut j = lock(&run.journal);
            j.uploads.push(MpUpload {
                n,
                parts,
                id: None,
                part_state: BTreeMap::new(),
                completion: Completion::NotSent,
            });
            j.uploads.len() - 1
        };
        let key = format!("mp-{n:05}");
        let id = match run
            .c
            .create_multipart_upload()
            .bucket(BUCKET)
            .key(&key)
            .send()
            .await
        {
            Ok(o) => o.upload_id().unwrap_or_default().to_owned(),
            Err(e) => return run.failed(format!("create {key}: {}", DisplayErrorContext(&e))),
        };
        run.update(i, |u| u.id = Some(id.clone()));
        let sends = (1..=parts).map(|p| {
            let run = run.clone();
            let (key, id) = (key.clone(), id.clone());
            async move {
                run.update(i, |u| {
                    u.part_state.insert(p, PartState::InFlight);
                });
                let r = run
                    .c
                    .upload_part()
                    .bucket(BUCKET)
                    .key(&key)
                    .upload_id(&id)
                    .part_number(p)
                    .body(ByteStream::from(mp_part(n, p, parts)))
                    .send()
                    .await;
                match r {
                    Ok(o) => {
                        let etag = o.e_tag().unwrap_or_default().to_owned();
                        run.update(i, |u| {
                            u.part_state.insert(p, PartState::Acked(etag.clone()));
                        });
                        Some((p, etag))
                    }
                    Err(e) => {
                        run.failed(format!("{key} part {p}: {}", DisplayErrorContext(&e)));
                        None
                    }
                }
            }
        });
        let Some(etags) = futures_util::future::join_all(sends)
            .await
            .into_iter()
            .collect::<Option<Vec<(i32, String)>>>()
        else {
            return;
        };
        if run.stop.load(Ordering::SeqCst) {
            return;
        }
        run.update(i, |u| u.completion = Completion::InFlight);
        run.completing.store(true, Ordering::SeqCst);
        let r = run
            .c
            .complete_multipart_upload()
            .bucket(BUCKET)
            .key(&key)
            .upload_id(&id)
            .multipart_upload(completed(&etags))
            .send()
            .await;
        match r {
            Ok(_) => {
                run.update(i, |u| u.completion = Completion::Acked);
                lock(&run.journal).acked += 1;
            }
            Err(e) => return run.failed(format!("complete {key}: {}", DisplayErrorContext(&e))),
        }
    }
}

fn completed(etags: &[(i32, String)]) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(
            etags
                .iter()
                .map(|(p, e)| CompletedPart::builder().part_number(*p).e_tag(e).build())
                .collect(),
        ))
        .build()
}

/// The object of a completed upload: present, byte-exact, its ETag the MD5
/// of the parts' MD5s; and the upload gone.
async fn check_completed(c: &Client, u: &MpUpload, round: u64, why: &str) {
    let key = u.key();
    let o = c
        .get_object()
        .bucket(BUCKET)
        .key(&key)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "round {round}: {key} ({why}): GET: {}",
                DisplayErrorContext(&e)
            )
        });
    let etag = o.e_tag().map(|t| t.trim_matches('"').to_owned());
    let body = o.body.collect().await.expect("body").into_bytes();
    assert!(
        body == u.whole(),
        "round {round}: {key} ({why}): {} bytes that are not the upload's parts",
        body.len()
    );
    assert_eq!(etag, Some(u.etag()), "round {round}: {key} ({why}): ETag");
    let r = c
        .list_parts()
        .bucket(BUCKET)
        .key(&key)
        .upload_id(u.id.as_deref().unwrap_or_default())
        .send()
        .await;
    assert_eq!(
        r.err().and_then(|e| e.code().map(str::to_owned)).as_deref(),
        Some("NoSuchUpload"),
        "round {round}: {key} ({why}): the completed upload is still listed"
    );
}

/// An upload not completed: still listed, with every acknowledged part (and
/// in-flight parts either absent or whole). Returns the parts' ETags.
async fn check_open(c: &Client, u: &MpUpload, round: u64) -> BTreeMap<i32, String> {
    let key = u.key();
    let id = u.id.as_deref().unwrap_or_default();
    let listed = c
        .list_parts()
        .bucket(BUCKET)
        .key(&key)
        .upload_id(id)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "round {round}: {key}: an acknowledged upload is gone: {}; {u:?}",
                DisplayErrorContext(&e)
            )
        });
    let found: BTreeMap<i32, String> = listed
        .parts()
        .iter()
        .map(|p| {
            (
                p.part_number().unwrap_or(0),
                p.e_tag().unwrap_or("").trim_matches('"').to_owned(),
            )
        })
        .collect();
    for (p, state) in &u.part_state {
        let want = md5_hex(&mp_part(u.n, *p, u.parts));
        match (state, found.get(p)) {
            (PartState::Acked(_), None) => {
                panic!("round {round}: {key}: acknowledged part {p} lost; {u:?}")
            }
            (_, Some(e)) => assert_eq!(e, &want, "round {round}: {key}: part {p} ETag"),
            (PartState::InFlight, None) => {}
        }
    }
    for p in found.keys() {
        assert!(
            u.part_state.contains_key(p),
            "round {round}: {key}: part {p} was never sent"
        );
    }
    let uploads = c
        .list_multipart_uploads()
        .bucket(BUCKET)
        .prefix(&key)
        .send()
        .await
        .expect("list uploads");
    assert!(
        uploads.uploads().iter().any(|x| x.upload_id() == Some(id)),
        "round {round}: {key}: the upload is not in ListMultipartUploads"
    );
    found
}

/// After a restart: checks every upload of the round, then finishes the
/// open ones (completing some, aborting others) and cleans up uploads whose
/// Create was in flight. Adds each upload it saw to `finished` (true when it
/// ended as an object, false when aborted). Returns (completed, open,
/// Complete in flight, of which applied).
async fn check_uploads(
    c: &Client,
    uploads: &[MpUpload],
    round: u64,
    finished: &mut Vec<(MpUpload, bool)>,
) -> (u64, u64, u64, u64) {
    let (mut done, mut open, mut completing, mut applied) = (0, 0, 0, 0);
    let known: BTreeSet<String> = uploads.iter().filter_map(|u| u.id.clone()).collect();
    for (i, u) in uploads.iter().enumerate() {
        if u.id.is_none() {
            continue;
        }
        let key = u.key();
        match u.completion {
            Completion::Acked => {
                done += 1;
                check_completed(c, u, round, "Complete acknowledged").await;
                finished.push((u.clone(), true));
                continue;
            }
            Completion::InFlight => {
                completing += 1;
                match c.head_object().bucket(BUCKET).key(&key).send().await {
                    Ok(_) => {
                        applied += 1;
                        check_completed(c, u, round, "Complete in flight, applied").await;
                        // The client's retry gets the answer it missed.
                        let etags: Vec<(i32, String)> = u
                            .part_state
                            .iter()
                            .filter_map(|(p, s)| match s {
                                PartState::Acked(e) => Some((*p, e.clone())),
                                PartState::InFlight => None,
                            })
                            .collect();
                        let r = c
                            .complete_multipart_upload()
                            .bucket(BUCKET)
                            .key(&key)
                            .upload_id(u.id.as_deref().unwrap_or_default())
                            .multipart_upload(completed(&etags))
                            .send()
                            .await
                            .unwrap_or_else(|e| {
                                panic!(
                                    "round {round}: {key}: retried Complete: {}",
                                    DisplayErrorContext(&e)
                                )
                            });
                        assert_eq!(
                            r.e_tag().map(|t| t.trim_matches('"')),
                            Some(u.etag().as_str()),
                            "round {round}: {key}: retried Complete"
                        );
                        finished.push((u.clone(), true));
                        continue;
                    }
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {}
                    Err(e) => panic!("round {round}: {key}: HEAD: {}", DisplayErrorContext(&e)),
                }
            }
            Completion::NotSent => open += 1,
        }
        let found = check_open(c, u, round).await;
        let id = u.id.as_deref().unwrap_or_default();
        if i % 2 == 0 && u.completion == Completion::NotSent {
            c.abort_multipart_upload()
                .bucket(BUCKET)
                .key(&key)
                .upload_id(id)
                .send()
                .await
                .unwrap_or_else(|e| {
                    panic!("round {round}: {key}: abort: {}", DisplayErrorContext(&e))
                });
            assert!(
                c.head_object()
                    .bucket(BUCKET)
                    .key(&key)
                    .send()
                    .await
                    .is_err(),
                "round {round}: {key}: an aborted upload made an object"
            );
            finished.push((u.clone(), false));
            continue;
        }
        // Upload what is missing, then complete.
        let mut etags = Vec::new();
        for p in 1..=u.parts {
            let e = match found.get(&p) {
                Some(e) => e.clone(),
                None => c
                    .upload_part()
                    .bucket(BUCKET)
                    .key(&key)
                    .upload_id(id)
                    .part_number(p)
                    .body(ByteStream::from(mp_part(u.n, p, u.parts)))
                    .send()
                    .await
                    .unwrap_or_else(|e| {
                        panic!(
                            "round {round}: {key}: part {p}: {}",
                            DisplayErrorContext(&e)
                        )
                    })
                    .e_tag()
                    .unwrap_or_default()
                    .trim_matches('"')
                    .to_owned(),
            };
            etags.push((p, e));
        }
        c.complete_multipart_upload()
            .bucket(BUCKET)
            .key(&key)
            .upload_id(id)
            .multipart_upload(completed(&etags))
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "round {round}: {key}: complete after restart: {}",
                    DisplayErrorContext(&e)
                )
            });
        check_completed(c, u, round, "completed after the restart").await;
        finished.push((u.clone(), true));
    }
    // Uploads whose Create was in flight may exist; nothing else may.
    let left = c
        .list_multipart_uploads()
        .bucket(BUCKET)
        .send()
        .await
        .expect("list uploads");
    for x in left.uploads() {
        let (key, id) = (
            x.key().unwrap_or_default(),
            x.upload_id().unwrap_or_default(),
        );
        assert!(
            !known.contains(id),
            "round {round}: {key}: a completed or aborted upload is still listed"
        );
        assert!(
            uploads.iter().any(|u| u.id.is_none() && u.key() == key),
            "round {round}: {key}: an upload nobody created"
        );
        c.abort_multipart_upload()
            .bucket(BUCKET)
            .key(key)
            .upload_id(id)
            .send()
            .await
            .expect("abort an orphan");
    }
    (done, open, completing, applied)
}

#[test]
fn kill_9_during_multipart_uploads_loses_no_acknowledged_part() {
    one_at_a_time(multipart_uploads());
}

async fn multipart_uploads() {
    use rand::Rng;
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_path_buf();
    let _dir = if std::env::var_os("CAIRN_CRASH_KEEP").is_some() {
        let _ = dir.keep();
        None
    } else {
        Some(dir)
    };
    let drives: Vec<PathBuf> = (0..DRIVES)
        .map(|i| root.join(format!("drive{i}")))
        .collect();
    eprintln!("crash_binary multipart: drives under {}", root.display());
    let mut server = Server::start(&root, &drives, 0);
    let mut c = client(&server.endpoint());
    c.create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create bucket: {}", DisplayErrorContext(&e)));
    let next = Arc::new(AtomicU64::new(1));
    let mut rng = rand::thread_rng();
    let (mut total_parts_inflight, mut total_completing) = (0u64, 0u64);
    // Uploads finished in earlier rounds: (upload, ended as an object).
    let mut finished: Vec<(MpUpload, bool)> = Vec::new();
    for round in 1..=MP_ROUNDS {
        let run = Arc::new(MpRun {
            c: c.clone(),
            journal: Arc::new(Mutex::new(MpJournal::default())),
            stop: Arc::new(AtomicBool::new(false)),
            next: next.clone(),
            completing: Arc::new(AtomicBool::new(false)),
        });
        let tasks: Vec<_> = (0..MP_BIG_TASKS + MP_TINY_TASKS)
            .map(|t| tokio::spawn(mp_worker(run.clone(), if t < MP_BIG_TASKS { 3 } else { 1 })))
            .collect();
        let delay = Duration::from_millis(rng.gen_range(MP_KILL_MS));
        tokio::time::sleep(delay).await;
        if round % 2 == 0 {
            // Aim at a Complete: kill within a few milliseconds of one.
            run.completing.store(false, Ordering::SeqCst);
            let deadline = Instant::now() + Duration::from_secs(5);
            while !run.completing.load(Ordering::SeqCst) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            tokio::time::sleep(Duration::from_micros(rng.gen_range(0..3000))).await;
        }
        run.stop.store(true, Ordering::SeqCst);
        let status = server.kill9().await;
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                status.signal(),
                Some(libc::SIGKILL),
                "round {round}: cairn ended by itself ({status}) before the kill:\n{}",
                server.log_tail(60)
            );
        }
        let drain_deadline = tokio::time::Instant::now() + DRAIN_LIMIT;
        for t in tasks {
            let abort = t.abort_handle();
            match tokio::time::timeout_at(drain_deadline, t).await {
                Ok(r) => r.expect("worker task panicked"),
                Err(_) => abort.abort(),
            }
        }
        let (uploads, acked) = {
            let j = lock(&run.journal);
            assert!(
                j.failures.is_empty(),
                "operations failed on a healthy server: {:#?}",
                j.failures
            );
            (j.uploads.clone(), j.acked)
        };
        let parts_inflight = uploads
            .iter()
            .flat_map(|u| u.part_state.values())
            .filter(|s| **s == PartState::InFlight)
            .count() as u64;
        drop(server);
        server = Server::start(&root, &drives, 100 + round);
        c = client(&server.endpoint());
        // Everything finished in earlier rounds survived this kill too.
        for (u, completed) in &finished {
            if *completed {
                check_completed(&c, u, round, "completed in an earlier round").await;
            } else {
                assert!(
                    c.head_object()
                        .bucket(BUCKET)
                        .key(u.key())
                        .send()
                        .await
                        .is_err(),
                    "round {round}: {}: aborted in an earlier round, now an object",
                    u.key()
                );
            }
        }
        let rechecked = finished.len();
        let (done, open, completing, applied) =
            check_uploads(&c, &uploads, round, &mut finished).await;
        total_parts_inflight += parts_inflight;
        total_completing += completing;
        eprintln!(
            "multipart round {round}: kill at {} ms: {acked} Completes acknowledged, {done} checked; {open} open and \
             {completing} completing at the kill ({applied} applied), {parts_inflight} parts in flight; \
             {rechecked} uploads of earlier rounds checked again",
            delay.as_millis()
        );
    }
    drop(server);
    eprintln!(
        "crash_binary multipart: {MP_ROUNDS} kills, {total_parts_inflight} parts and {total_completing} Completes in \
         flight at a kill; {:.1?}",
        started.elapsed()
    );
    assert!(
        total_parts_inflight > 0 && total_completing > 0,
        "the kills never hit a part upload or a Complete in flight"
    );
}
