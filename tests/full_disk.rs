//! A full filesystem, end to end against the real binary: four drive
//! directories on one small loop-mounted ext4 image (layout 2+2), filled
//! through the S3 API until writes fail. The node must never die (LMDB with
//! WRITE_MAP turned ENOSPC into SIGBUS), must answer 507 XMinioStorageFull
//! (not 503 "drives offline"), must say "full" in /health/ready and /metrics,
//! must keep every acknowledged object byte-exact, must free space through
//! DELETE and take writes again, and must restart on a full disk without
//! taking space.
//!
//! Needs root and loop devices. Without them the test is skipped with a
//! printed reason, except under CI=true, where it fails: a missing
//! prerequisite must not leave CI green.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;

mod binary;
mod common;
use binary::{data, free_port, raw_request, PASSWORD, REGION, USER};
use common::small_fs::SmallFs;

const IMAGE_MIB: u64 = 320;
const BUCKET: &str = "fill";
const MIB: usize = 1 << 20;

/// The node on the loop filesystem, killed by PID when dropped.
struct Node {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Node {
    fn start(fs: &SmallFs, log_dir: &Path) -> Node {
        let drives: Vec<PathBuf> = (0..4).map(|i| fs.mnt().join(format!("d{i}"))).collect();
        let port = free_port();
        let log = log_dir.join(format!("server-{port}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("serve")
            .args(&drives)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--no-pin"])
            .args(["--cores", "2", "--partitions", "16"])
            .args(["--segment-size", &(16u64 << 20).to_string()])
            .args(["--space-reserve", "20MiB"])
            .env("CAIRN_ROOT_USER", USER)
            .env("CAIRN_ROOT_PASSWORD", PASSWORD)
            .env("CAIRN_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start cairn");
        let mut n = Node { child, port, log };
        binary::wait_ready(
            &mut n.child,
            port,
            Duration::from_secs(60),
            &n.log,
            binary::ready,
        );
        n
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process is still running: no exit status to observe.
    fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("cairn died ({status}):\n{}", self.log());
        }
    }

    fn get(&self, p: &str) -> (u16, String) {
        let req = format!("GET {p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        match raw_request(self.port, req.as_bytes()) {
            Ok(r) => (r.status, String::from_utf8_lossy(&r.body).into_owned()),
            Err(_) => (0, String::new()),
        }
    }

    fn client(&self) -> Client {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(format!("http://127.0.0.1:{}", self.port))
            .credentials_provider(Credentials::new(USER, PASSWORD, None, None, "test"))
            .force_path_style(true)
            // Every refusal is seen as it is, not hidden by retries.
            .retry_config(RetryConfig::disabled())
            // A node that stops answering fails the test instead of hanging it.
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_timeout(Duration::from_secs(60))
                    .build(),
            )
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        Client::from_conf(conf)
    }

    /// SIGTERM, and the clean exit status it must end with.
    fn stop(mut self) {
        // SAFETY: signalling our own child by its PID.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "unclean exit {status}:\n{}", self.log());
                return;
            }
            assert!(Instant::now() < deadline, "no exit:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- cairn log ---\n{}", self.log());
        }
    }
}

/// The refusal a write must meet on a full disk.
fn assert_storage_full<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    what: &str,
    r: Result<T, aws_sdk_s3::error::SdkError<E>>,
) {
    match r {
        Ok(v) => panic!("{what}: accepted on a full disk: {v:?}"),
        Err(e) => {
            let status = e.raw_response().map(|r| r.status().as_u16());
            assert_eq!(
                (e.code(), status),
                (Some("XMinioStorageFull"), Some(507)),
                "{what}: {e:?}"
            );
        }
    }
}

async fn put(c: &Client, key: &str, body: &[u8]) -> Result<(), String> {
    c.put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            let status = e.raw_response().map(|r| r.status().as_u16());
            format!("{:?} {status:?}", e.code())
        })
}

/// A two-part multipart object (5 MiB + `last` bytes); Err if any step is
/// refused (the upload is then aborted).
async fn multipart(c: &Client, key: &str, seed: u64, last: usize) -> Result<Vec<u8>, String> {
    let id = c
        .create_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .map_err(|e| format!("create: {:?}", e.code()))?
        .upload_id()
        .expect("upload id")
        .to_owned();
    let parts = [data(5 * MIB, seed), data(last, seed + 1)];
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        match c
            .upload_part()
            .bucket(BUCKET)
            .key(key)
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
        {
            Ok(r) => done.push(
                CompletedPart::builder()
                    .part_number(n)
                    .e_tag(r.e_tag().expect("etag"))
                    .build(),
            ),
            Err(e) => {
                let code = format!("part {n}: {:?}", e.code());
                // An abort is a delete: it works on a full disk too.
                c.abort_multipart_upload()
                    .bucket(BUCKET)
                    .key(key)
                    .upload_id(&id)
                    .send()
                    .await
                    .expect("abort on a full disk");
                return Err(code);
            }
        }
    }
    c.complete_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .map_err(|e| format!("complete: {:?}", e.code()))?;
    Ok(parts.concat())
}

/// Writes objects of every size (and multipart uploads) until the node
/// refuses three in a row; returns the acknowledged ones, oldest first.
async fn fill(node: &mut Node, c: &Client, acked: &mut Vec<(String, Vec<u8>)>, round: u64) {
    let sizes = [4 << 10, 100 << 10, MIB];
    let mut refused = 0;
    for i in 0..2000u64 {
        let seed = round * 100_000 + i;
        let key = format!("r{round}/o{i:05}");
        let r = if i % 25 == 24 {
            multipart(c, &key, seed, 1000 + i as usize).await
        } else {
            let body = data(sizes[i as usize % 3], seed);
            put(c, &key, &body).await.map(|_| body)
        };
        match r {
            Ok(body) => {
                refused = 0;
                acked.push((key, body));
            }
            Err(e) => {
                assert!(e.contains("XMinioStorageFull"), "{key}: {e}");
                refused += 1;
                if refused == 3 {
                    node.assert_alive();
                    return;
                }
            }
        }
        if i % 50 == 0 {
            node.assert_alive();
        }
    }
    panic!("a {IMAGE_MIB} MiB filesystem never filled up");
}

async fn assert_all_readable(c: &Client, acked: &[(String, Vec<u8>)]) {
    for (key, body) in acked {
        let got = c
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {key}: {e:?}"))
            .body
            .collect()
            .await
            .expect("body")
            .into_bytes();
        assert!(got.as_ref() == body.as_slice(), "{key}: bytes differ");
    }
}

async fn assert_every_write_refused(c: &Client) {
    assert_storage_full(
        "PUT 4 KiB",
        c.put_object()
            .bucket(BUCKET)
            .key("refused-small")
            .body(ByteStream::from(data(4096, 1)))
            .send()
            .await,
    );
    assert_storage_full(
        "PUT 1 MiB",
        c.put_object()
            .bucket(BUCKET)
            .key("refused-large")
            .body(ByteStream::from(data(MIB, 2)))
            .send()
            .await,
    );
    assert_storage_full(
        "CreateMultipartUpload",
        c.create_multipart_upload()
            .bucket(BUCKET)
            .key("refused-mp")
            .send()
            .await,
    );
}

fn wait_until(node: &mut Node, what: &str, limit: Duration, mut ok: impl FnMut(&Node) -> bool) {
    let deadline = Instant::now() + limit;
    while !ok(node) {
        node.assert_alive();
        assert!(Instant::now() < deadline, "{what}:\n{}", node.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn says_full(node: &Node) -> bool {
    let (status, body) = node.get("/health/ready");
    let (_, metrics) = node.get("/metrics");
    status == 200
        && body.contains("storage full")
        && (0..4).all(|d| body.contains(&format!("drive {d}: full")))
        && (0..4).all(|d| metrics.contains(&format!("cairn_drive_full{{drive=\"{d}\"}} 1")))
        && (0..4).all(|d| metrics.contains(&format!("cairn_drive_online{{drive=\"{d}\"}} 1")))
        && (0..4).all(|d| {
            metrics.contains(&format!(
                "cairn_drive_reserve_bytes{{drive=\"{d}\"}} {}",
                20 << 20
            ))
        })
}

fn says_not_full(node: &Node) -> bool {
    let (status, body) = node.get("/health/ready");
    let (_, metrics) = node.get("/metrics");
    status == 200
        && body.starts_with("ready: ok\n")
        && (0..4).all(|d| metrics.contains(&format!("cairn_drive_full{{drive=\"{d}\"}} 0")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_new_data_with_507_keeps_serving_and_recovers_through_delete() {
    let Some(fs) = SmallFs::create(IMAGE_MIB) else {
        return;
    };
    let logs = tempfile::tempdir().expect("log dir");
    let started = Instant::now();
    let mut node = Node::start(&fs, logs.path());
    let c = node.client();
    c.create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("bucket");
    let mut acked = Vec::new();

    fill(&mut node, &c, &mut acked, 1).await;
    assert!(acked.len() > 20, "only {} objects fit", acked.len());
    assert_every_write_refused(&c).await;
    wait_until(
        &mut node,
        "health and metrics say full",
        Duration::from_secs(5),
        says_full,
    );
    // One line per transition of each drive, not one per refused request.
    let log = node.log();
    let (full, back) = (
        log.matches("drive full").count(),
        log.matches("drive has space again").count(),
    );
    assert!(
        full - back == 4 && full <= 8,
        "{full} full, {back} back:\n{log}"
    );
    assert!(!log.contains("Insufficient drives"), "{log}");
    assert_all_readable(&c, &acked).await;

    // Free space through the API: delete the older half (whole segments die).
    let free_full = fs.free();
    let keep = acked.split_off(acked.len() / 2);
    for (key, _) in &acked {
        c.delete_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DELETE {key} on a full disk: {e:?}"));
    }
    acked = keep;
    wait_until(
        &mut node,
        "deletes give the space back",
        Duration::from_secs(30),
        |n| says_not_full(n) && fs.free() > free_full + 32 * MIB as u64,
    );
    let body = data(MIB, 7);
    put(&c, "after-delete", &body)
        .await
        .expect("write after freeing space");
    acked.push(("after-delete".into(), body));

    // Full again, then a restart on the full disk: it comes up, serves
    // every object, takes a DELETE, and all that takes no space (start-up
    // and the first writes of a run must not preallocate what they do not
    // need).
    fill(&mut node, &c, &mut acked, 2).await;
    assert_every_write_refused(&c).await;
    node.stop();
    let before = fs.free();
    let mut node = Node::start(&fs, logs.path());
    let c = node.client();
    assert_all_readable(&c, &acked).await;
    let (key, _) = acked.remove(0);
    c.delete_object()
        .bucket(BUCKET)
        .key(&key)
        .send()
        .await
        .expect("DELETE after a restart on a full disk");
    let after = fs.free();
    assert!(
        after + 2 * MIB as u64 >= before,
        "restart and a delete took {} bytes ({before} -> {after} free)",
        before.saturating_sub(after)
    );
    node.assert_alive();
    node.stop();
    eprintln!(
        "full_disk: {} objects kept, {:?}",
        acked.len(),
        started.elapsed()
    );
}

/// The index's own writes on a filesystem with no space left: each failing
/// commit is an error (and the index works again once space is back), never
/// a SIGBUS (LMDB with WRITE_MAP stores into a sparse mapping).
#[test]
fn index_commits_on_a_full_filesystem_fail_cleanly() {
    use cairn::engine::index::{Mutation, PartitionIndex};
    use cairn::engine::meta::{DataLoc, IndexEntry, ObjectMeta, RecordLoc};

    let Some(fs) = SmallFs::create(16) else {
        return;
    };
    let (idx, _) =
        PartitionIndex::open(&fs.mnt().join("index"), 0, 0..=0, &[0]).expect("index opens");
    let put = |i: u64| Mutation::Put {
        bucket: "b".into(),
        key: format!("{i:08}-{}", "k".repeat(200)),
        entry: IndexEntry {
            meta: ObjectMeta {
                version: i as u128,
                seq: i,
                size: 1,
                etag: "e".repeat(32),
                modified_ms: 1,
                null: true,
                delete_marker: false,
                content_type: None,
                headers: Vec::new(),
                user_meta: vec![("m".into(), "v".repeat(500))],
                layout: (2, 2),
                rotation: 0,
                data: DataLoc::Inline,
                tags: Vec::new(),
                attrs: Vec::new(),
            },
            commits: vec![RecordLoc {
                drive: 0,
                segment: 0,
                offset: 0,
                len: 4096,
            }],
        },
    };
    // Take every free block, then grow the index until a commit fails.
    let filler = fs.mnt().join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).expect("filler");
        let chunk = vec![7u8; 1 << 16];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }
    let mut n = 0u64;
    let err = loop {
        let batch: Vec<Mutation> = (n..n + 64).map(put).collect();
        match idx.apply(&batch) {
            Ok(_) => n += 64,
            Err(e) => break e,
        }
        assert!(n < 1_000_000, "the index never met the full filesystem");
    };
    assert!(err.is_enospc() || err.is_eio(), "{err}");
    for i in (0..n).step_by(97) {
        assert!(idx
            .get("b", &format!("{i:08}-{}", "k".repeat(200)))
            .unwrap()
            .is_some());
    }
    std::fs::remove_file(&filler).expect("free the space");
    idx.apply(&[put(n)])
        .expect("commits again once space is back");
    assert!(idx
        .get("b", &format!("{n:08}-{}", "k".repeat(200)))
        .unwrap()
        .is_some());
    drop(idx);
}
