//! A whole drive set written by an earlier cairn stays readable (issue 15,
//! "formats that can evolve"). `tests/golden/disk/driveset/` holds four
//! drives as the real binary left them after a clean stop, with objects of
//! every kind the engine stores (inline, erasure coded, multipart completed
//! and in progress, versions and a delete marker, tags, SSE-S3, SSE-KMS,
//! SSE-C, object lock), an IAM user with a key and a policy, a KMS key, a
//! run-time setting, generated root credentials and master key. Every
//! later binary must start on a copy of it and read everything back byte
//! for byte: with the committed index, and after rebuilding the index from
//! the segments alone.
//!
//! The drives were written once by `regenerate_golden_drive_set` (ignored;
//! `cargo test --test golden_drive_set -- --ignored regenerate`) and are
//! committed as bytes. It refuses to write over a committed set: rewritten,
//! the set would only show that a binary reads what it writes itself. Add
//! a new set beside it instead when a format changes (docs/TESTING.md).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, ObjectLockLegalHoldStatus,
    ObjectLockMode, ServerSideEncryption, Tag, Tagging,
};
use aws_sdk_s3::Client;
use base64::Engine as _;
use md5::Digest as _;
use serde_json::{json, Value};

mod binary;
use binary::cli::Cli;
use binary::{client, code, data, free_port, iam_client, md5_hex, raw_request};

/// Where the committed drive set lives.
fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/disk/driveset")
}

const DRIVES: usize = 4;
/// SSE-C's customer key for `plain/sse-c.bin`.
const CUSTOMER_KEY: [u8; 32] = [0xC3; 32];
/// Retention of `locked/kept`: 2100-01-01T00:00:00Z.
const RETAIN_UNTIL: i64 = 4_102_444_800;

/// Every object the set holds: bucket, key, length and seed of its bytes
/// (`binary::data`).
const OBJECTS: &[(&str, &str, usize, u64)] = &[
    ("plain", "inline.txt", 1_000, 1),
    ("plain", "ec.bin", 200 << 10, 2),
    ("plain", "mp.bin", 150 << 10, 3),
    ("plain", "sse-s3.bin", 100 << 10, 4),
    ("plain", "sse-s3-small.txt", 3_000, 5),
    ("plain", "sse-kms.bin", 70 << 10, 6),
    ("plain", "sse-c.bin", 90 << 10, 7),
    ("locked", "kept", 5_000, 8),
];
/// `versioned/doc`: two versions, then a delete marker.
const DOC_V1: (usize, u64) = (2_000, 9);
const DOC_V2: (usize, u64) = (100 << 10, 10);
/// Parts of the upload left in progress on `plain/pending.bin`.
const PENDING_PARTS: [(usize, u64); 2] = [(10 << 10, 11), (20 << 10, 12)];

/// A `cairn serve` on `dir/drive0..3`, started as an operator would start
/// it the first time: no root credentials given, so they are generated and
/// kept on the drives; no master key given, so one is generated too.
struct Node {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Node {
    fn start(dir: &Path) -> Node {
        let port = free_port();
        let drives: Vec<PathBuf> = (0..DRIVES).map(|i| dir.join(format!("drive{i}"))).collect();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .expect("log file");
        let out = std::fs::File::create(dir.join("stdout.txt")).expect("stdout file");
        let child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("serve")
            .args(&drives)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--no-pin"])
            .args(["--cores", "1", "--partitions", "4", "--sse-c-allow-http"])
            .args(["--segment-size", &(16u64 << 20).to_string()])
            .env_remove("CAIRN_ROOT_USER")
            .env_remove("CAIRN_ROOT_PASSWORD")
            .env_remove("CAIRN_KMS_MASTER_KEY")
            .env("CAIRN_LOG", "info")
            .stdout(out)
            .stderr(log)
            .spawn()
            .expect("start cairn");
        let mut n = Node {
            child,
            port,
            dir: dir.to_owned(),
        };
        n.wait_ready();
        n
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("cairn exited during start-up ({status}):\n{}", self.log());
            }
            if let Ok(r) = raw_request(
                self.port,
                b"GET /health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            ) {
                if r.status == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("cairn did not become ready:\n{}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.join("stdout.txt")).unwrap_or_default()
    }

    /// The root credentials the start-up banner names (the secret only when
    /// it was generated by this start).
    fn banner_value(&self, label: &str) -> Option<String> {
        self.stdout()
            .lines()
            .find_map(|l| l.trim().strip_prefix(label).map(|v| v.trim().to_owned()))
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGTERM, a clean shutdown; waits for the exit.
    fn stop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling our own child by its PID.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "cairn stopped with {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!("cairn did not stop within 20 s:\n{}", self.log());
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- cairn log ---\n{}", self.log());
        }
    }
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn customer_key_headers() -> (String, String) {
    (b64(&CUSTOMER_KEY), b64(&md5::Md5::digest(CUSTOMER_KEY)))
}

async fn put(c: &Client, bucket: &str, key: &str, len: usize, seed: u64) {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(data(len, seed)))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"));
}

/// Writes the drive set's content through the S3, IAM and admin APIs and
/// returns what the checks need to know of it (ids the node chose).
async fn write_content(n: &Node, root: &Client, cli: &Cli) -> Value {
    for b in ["plain", "versioned"] {
        root.create_bucket().bucket(b).send().await.expect("bucket");
    }
    root.create_bucket()
        .bucket("locked")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("locked bucket");
    root.put_bucket_tagging()
        .bucket("plain")
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key("team").value("storage").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("bucket tags");

    let obj = |key: &str| OBJECTS.iter().find(|o| o.1 == key).copied().unwrap();
    let (_, _, len, seed) = obj("inline.txt");
    root.put_object()
        .bucket("plain")
        .key("inline.txt")
        .content_type("text/plain")
        .metadata("colour", "blue")
        .tagging("kind=small&keep=yes")
        .body(ByteStream::from(data(len, seed)))
        .send()
        .await
        .expect("inline");
    let (_, _, len, seed) = obj("ec.bin");
    put(root, "plain", "ec.bin", len, seed).await;

    let (_, _, len, seed) = obj("mp.bin");
    let up = root
        .create_multipart_upload()
        .bucket("plain")
        .key("mp.bin")
        .send()
        .await
        .expect("create upload");
    let upload_id = up.upload_id().unwrap();
    let part = root
        .upload_part()
        .bucket("plain")
        .key("mp.bin")
        .upload_id(upload_id)
        .part_number(1)
        .body(ByteStream::from(data(len, seed)))
        .send()
        .await
        .expect("part");
    root.complete_multipart_upload()
        .bucket("plain")
        .key("mp.bin")
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("complete");

    let pending = root
        .create_multipart_upload()
        .bucket("plain")
        .key("pending.bin")
        .send()
        .await
        .expect("create pending upload");
    let pending_id = pending.upload_id().unwrap().to_owned();
    for (i, (len, seed)) in PENDING_PARTS.iter().enumerate() {
        root.upload_part()
            .bucket("plain")
            .key("pending.bin")
            .upload_id(&pending_id)
            .part_number(i as i32 + 1)
            .body(ByteStream::from(data(*len, *seed)))
            .send()
            .await
            .expect("pending part");
    }

    for key in ["sse-s3.bin", "sse-s3-small.txt"] {
        let (_, _, len, seed) = obj(key);
        root.put_object()
            .bucket("plain")
            .key(key)
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(data(len, seed)))
            .send()
            .await
            .expect("sse-s3");
    }
    cli.ok(&["kms", "key", "create", "golden", "golden-key"]);
    let (_, _, len, seed) = obj("sse-kms.bin");
    root.put_object()
        .bucket("plain")
        .key("sse-kms.bin")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("golden-key")
        .body(ByteStream::from(data(len, seed)))
        .send()
        .await
        .expect("sse-kms");
    let (_, _, len, seed) = obj("sse-c.bin");
    let (k, kmd5) = customer_key_headers();
    root.put_object()
        .bucket("plain")
        .key("sse-c.bin")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(k)
        .sse_customer_key_md5(kmd5)
        .body(ByteStream::from(data(len, seed)))
        .send()
        .await
        .expect("sse-c");

    let (_, _, len, seed) = obj("kept");
    root.put_object()
        .bucket("locked")
        .key("kept")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(DateTime::from_secs(RETAIN_UNTIL))
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .body(ByteStream::from(data(len, seed)))
        .send()
        .await
        .expect("locked object");

    root.put_bucket_versioning()
        .bucket("versioned")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
    let mut doc_versions = Vec::new();
    for (len, seed) in [DOC_V1, DOC_V2] {
        let r = root
            .put_object()
            .bucket("versioned")
            .key("doc")
            .body(ByteStream::from(data(len, seed)))
            .send()
            .await
            .expect("doc version");
        doc_versions.push(r.version_id().unwrap().to_owned());
    }
    let marker = root
        .delete_object()
        .bucket("versioned")
        .key("doc")
        .send()
        .await
        .expect("delete marker");
    assert_eq!(marker.delete_marker(), Some(true));

    let iam = iam_client(
        &n.endpoint(),
        &n.banner_value("access key:").unwrap(),
        &n.banner_value("secret key:").unwrap(),
    );
    iam.create_user()
        .user_name("golden-user")
        .send()
        .await
        .expect("user");
    let key = iam
        .create_access_key()
        .user_name("golden-user")
        .send()
        .await
        .expect("user key")
        .access_key
        .unwrap();
    iam.put_user_policy()
        .user_name("golden-user")
        .policy_name("read-plain")
        .policy_document(
            json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::plain/*"
                }]
            })
            .to_string(),
        )
        .send()
        .await
        .expect("user policy");
    cli.ok(&[
        "config",
        "set",
        "golden",
        "ratelimit.requestsPerSecondPerKey",
        "1000",
    ]);

    json!({
        "doc_versions": doc_versions,
        "delete_marker": marker.version_id().unwrap(),
        "pending_upload": pending_id,
        "user_access_key": key.access_key_id(),
        "user_secret_key": key.secret_access_key(),
    })
}

/// Copies a drive directory tree, leaving out what a node recreates
/// (LMDB's lock file) and temporary files.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("dir entry");
        let name = e.file_name();
        let (src, dst) = (e.path(), to.join(&name));
        let n = name.to_string_lossy();
        if n == "lock.mdb" || n.ends_with(".tmp") {
            continue;
        }
        if e.file_type().expect("file type").is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("copy");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes tests/golden/disk/driveset when absent: run only to add a golden set"]
async fn regenerate_golden_drive_set() {
    let t = tempfile::tempdir().expect("tempdir");
    for i in 0..DRIVES {
        std::fs::create_dir_all(t.path().join(format!("drive{i}"))).unwrap();
    }
    let mut n = Node::start(t.path());
    assert!(
        n.stdout().contains("generated now"),
        "root credentials were generated:\n{}",
        n.stdout()
    );
    let access = n.banner_value("access key:").expect("access key");
    let secret = n.banner_value("secret key:").expect("secret key");
    let root = client(&n.endpoint(), &access, &secret);
    let cli = Cli::new();
    cli.ok(&["alias", "set", "golden", &n.endpoint(), &access, &secret]);
    let mut manifest = write_content(&n, &root, &cli).await;
    n.stop();
    manifest["root_access_key"] = json!(access);
    manifest["root_secret_key"] = json!(secret);
    manifest["written_by"] = json!(format!(
        "cairn {} (regenerate_golden_drive_set)",
        env!("CARGO_PKG_VERSION")
    ));

    // The committed set is the evidence: never rewritten in place.
    let golden = golden_dir();
    assert!(
        !golden.exists(),
        "{} exists: add a new set beside it instead (docs/TESTING.md)",
        golden.display()
    );
    for i in 0..DRIVES {
        let d = format!("drive{i}");
        copy_tree(&t.path().join(&d), &golden.join(&d));
    }
    std::fs::write(
        golden.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
}

/// A copy of the committed set in a fresh directory (the committed files
/// are never opened for writing).
fn copy_of_golden_set() -> tempfile::TempDir {
    let golden = golden_dir();
    assert!(
        golden.join("manifest.json").exists(),
        "the golden drive set is missing: {}",
        golden.display()
    );
    let t = tempfile::tempdir().expect("tempdir");
    for i in 0..DRIVES {
        let d = format!("drive{i}");
        copy_tree(&golden.join(&d), &t.path().join(&d));
    }
    t
}

fn manifest() -> Value {
    let b = std::fs::read(golden_dir().join("manifest.json")).expect("manifest");
    serde_json::from_slice(&b).expect("manifest json")
}

fn s(v: &Value) -> &str {
    v.as_str().expect("a string in the manifest")
}

async fn get(
    c: &Client,
    bucket: &str,
    key: &str,
) -> aws_sdk_s3::operation::get_object::GetObjectOutput {
    c.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {bucket}/{key}: {e:?}"))
}

async fn body(o: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    o.body.collect().await.expect("body").into_bytes().to_vec()
}

/// Everything the set holds, read back through the node on `n`.
async fn check_everything(n: &Node, m: &Value) {
    // The stored root credentials (sealed under the stored master key)
    // opened: the banner names them without generating new ones.
    assert_eq!(
        n.banner_value("access key:").as_deref(),
        Some(s(&m["root_access_key"]))
    );
    assert!(
        n.stdout().contains("kept sealed in"),
        "credentials read back, not generated:\n{}",
        n.stdout()
    );
    let root = client(
        &n.endpoint(),
        s(&m["root_access_key"]),
        s(&m["root_secret_key"]),
    );

    let mut buckets: Vec<String> = root
        .list_buckets()
        .send()
        .await
        .expect("list buckets")
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_owned))
        .collect();
    buckets.sort();
    assert_eq!(buckets, ["locked", "plain", "versioned"]);
    let tags = root
        .get_bucket_tagging()
        .bucket("plain")
        .send()
        .await
        .expect("bucket tags");
    assert_eq!(
        tags.tag_set()
            .iter()
            .map(|t| (t.key(), t.value()))
            .collect::<Vec<_>>(),
        [("team", "storage")]
    );

    for &(bucket, key, len, seed) in OBJECTS {
        let want = data(len, seed);
        let o = if key == "sse-c.bin" {
            let (k, kmd5) = customer_key_headers();
            root.get_object()
                .bucket(bucket)
                .key(key)
                .sse_customer_algorithm("AES256")
                .sse_customer_key(k)
                .sse_customer_key_md5(kmd5)
                .send()
                .await
                .expect("sse-c get")
        } else {
            get(&root, bucket, key).await
        };
        let etag = o.e_tag().unwrap_or_default().to_owned();
        let sse = o.server_side_encryption().map(|x| x.as_str().to_owned());
        let kms_key = o.ssekms_key_id().map(str::to_owned);
        let got = body(o).await;
        assert!(got == want, "{bucket}/{key}: the bytes read back differ");
        match key {
            "mp.bin" => assert_eq!(
                etag,
                format!(
                    "\"{}-1\"",
                    hex::encode(md5::Md5::digest(md5::Md5::digest(&want)))
                )
            ),
            "sse-c.bin" | "sse-s3.bin" | "sse-s3-small.txt" | "sse-kms.bin" => {}
            _ => assert_eq!(etag, format!("\"{}\"", md5_hex(&want)), "{bucket}/{key}"),
        }
        let want_sse = match key {
            "sse-s3.bin" | "sse-s3-small.txt" => Some("AES256"),
            "sse-kms.bin" => Some("aws:kms"),
            _ => None,
        };
        assert_eq!(sse.as_deref(), want_sse, "{bucket}/{key}");
        if key == "sse-kms.bin" {
            assert!(
                kms_key
                    .as_deref()
                    .is_some_and(|k| k.ends_with("golden-key")),
                "{kms_key:?}"
            );
        }
        // A range inside the object, across the 64 KiB package boundary
        // where there is one.
        if len > (64 << 10) + 10 && key != "sse-c.bin" {
            let r = root
                .get_object()
                .bucket(bucket)
                .key(key)
                .range(format!("bytes={}-{}", (64 << 10) - 5, (64 << 10) + 5))
                .send()
                .await
                .expect("range");
            assert_eq!(body(r).await, want[(64 << 10) - 5..=(64 << 10) + 5]);
        }
    }
    let inline = get(&root, "plain", "inline.txt").await;
    assert_eq!(inline.content_type(), Some("text/plain"));
    assert_eq!(
        inline
            .metadata()
            .and_then(|m| m.get("colour"))
            .map(String::as_str),
        Some("blue")
    );
    let t = root
        .get_object_tagging()
        .bucket("plain")
        .key("inline.txt")
        .send()
        .await
        .expect("tags");
    let mut tags: Vec<(String, String)> = t
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    tags.sort();
    assert_eq!(
        tags,
        [
            ("keep".into(), "yes".into()),
            ("kind".into(), "small".into())
        ]
    );

    let kept = root
        .head_object()
        .bucket("locked")
        .key("kept")
        .send()
        .await
        .expect("head kept");
    assert_eq!(kept.object_lock_mode(), Some(&ObjectLockMode::Governance));
    assert_eq!(
        kept.object_lock_retain_until_date().map(|d| d.secs()),
        Some(RETAIN_UNTIL)
    );
    assert_eq!(
        kept.object_lock_legal_hold_status(),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    assert_eq!(
        code(
            root.delete_object()
                .bucket("locked")
                .key("kept")
                .version_id(kept.version_id().unwrap())
                .send()
                .await
        ),
        "AccessDenied",
        "the locked version stays locked"
    );

    // versioned/doc: deleted (a delete marker), both versions readable.
    assert_eq!(
        code(
            root.get_object()
                .bucket("versioned")
                .key("doc")
                .send()
                .await
        ),
        "NoSuchKey"
    );
    let versions = root
        .list_object_versions()
        .bucket("versioned")
        .send()
        .await
        .expect("versions");
    let ids: Vec<&str> = versions
        .versions()
        .iter()
        .filter_map(|v| v.version_id())
        .collect();
    let want_ids: Vec<&str> = m["doc_versions"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(s)
        .collect();
    assert_eq!(ids, want_ids, "versions newest first");
    let markers: Vec<(&str, bool)> = versions
        .delete_markers()
        .iter()
        .map(|d| (d.version_id().unwrap(), d.is_latest().unwrap_or(false)))
        .collect();
    assert_eq!(markers, [(s(&m["delete_marker"]), true)]);
    for (id, (len, seed)) in m["doc_versions"]
        .as_array()
        .unwrap()
        .iter()
        .zip([DOC_V1, DOC_V2])
    {
        let o = root
            .get_object()
            .bucket("versioned")
            .key("doc")
            .version_id(s(id))
            .send()
            .await
            .expect("doc version");
        assert!(body(o).await == data(len, seed), "version {id}");
    }

    // The upload in progress, with its two parts.
    let uploads = root
        .list_multipart_uploads()
        .bucket("plain")
        .send()
        .await
        .expect("uploads");
    let listed: Vec<(&str, &str)> = uploads
        .uploads()
        .iter()
        .map(|u| (u.key().unwrap(), u.upload_id().unwrap()))
        .collect();
    assert_eq!(listed, [("pending.bin", s(&m["pending_upload"]))]);
    let parts = root
        .list_parts()
        .bucket("plain")
        .key("pending.bin")
        .upload_id(s(&m["pending_upload"]))
        .send()
        .await
        .expect("parts");
    let got: Vec<(i32, i64, String)> = parts
        .parts()
        .iter()
        .map(|p| {
            (
                p.part_number().unwrap(),
                p.size().unwrap(),
                p.e_tag().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(i32, i64, String)> = PENDING_PARTS
        .iter()
        .enumerate()
        .map(|(i, (len, seed))| {
            (
                i as i32 + 1,
                *len as i64,
                format!("\"{}\"", md5_hex(&data(*len, *seed))),
            )
        })
        .collect();
    assert_eq!(got, want);

    // The IAM user's key opens (sealed under the stored master key) and
    // its policy still decides.
    let user = client(
        &n.endpoint(),
        s(&m["user_access_key"]),
        s(&m["user_secret_key"]),
    );
    let (_, _, len, seed) = OBJECTS[0];
    assert!(body(get(&user, "plain", "inline.txt").await).await == data(len, seed));
    assert_eq!(
        code(
            user.put_object()
                .bucket("plain")
                .key("x")
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
        ),
        "AccessDenied"
    );

    // The KMS key and the setting.
    let cli = Cli::new();
    cli.ok(&[
        "alias",
        "set",
        "golden",
        &n.endpoint(),
        s(&m["root_access_key"]),
        s(&m["root_secret_key"]),
    ]);
    let keys = cli.ok(&["kms", "key", "list", "golden"]);
    assert!(keys.contains("golden-key"), "{keys}");
    let setting = cli.json(&[
        "config",
        "get",
        "golden",
        "ratelimit.requestsPerSecondPerKey",
    ]);
    assert_eq!(setting["value"], "1000/1000", "{setting}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drive_set_written_by_an_earlier_cairn_reads_back_with_its_index() {
    let t = copy_of_golden_set();
    let mut n = Node::start(t.path());
    // The committed index is used as it is, unless it lacks what a later
    // index keeps (the reverse map of segments): then it is rebuilt from
    // the drives for that reason alone.
    let log = n.log();
    let rebuilds: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("rebuilding index"))
        .collect();
    assert!(
        rebuilds
            .iter()
            .all(|l| l.contains("made before the reverse map of segments")),
        "the committed index is rebuilt only to add the reverse map:\n{log}"
    );
    check_everything(&n, &manifest()).await;
    n.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drive_set_written_by_an_earlier_cairn_reads_back_after_an_index_rebuild() {
    let t = copy_of_golden_set();
    let index = t.path().join("drive0/.cairn/index");
    assert!(index.is_dir(), "the set holds its index on drive 0");
    std::fs::remove_dir_all(&index).unwrap();
    let mut n = Node::start(t.path());
    assert!(
        n.log().contains("index rebuilt from the drives"),
        "the index was rebuilt:\n{}",
        n.log()
    );
    check_everything(&n, &manifest()).await;
    n.stop();
}

/// Starts `cairn serve` on `dir` and waits for it to exit (it must not get
/// to serving); its log.
fn start_must_fail(dir: &Path) -> String {
    let port = free_port();
    let drives: Vec<PathBuf> = (0..DRIVES).map(|i| dir.join(format!("drive{i}"))).collect();
    let log_path = dir.join("refused.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("serve")
        .args(&drives)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--no-pin"])
        .args(["--cores", "1", "--partitions", "4", "--sse-c-allow-http"])
        .env_remove("CAIRN_ROOT_USER")
        .env_remove("CAIRN_ROOT_PASSWORD")
        .env_remove("CAIRN_KMS_MASTER_KEY")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start cairn");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("cairn kept running on a set it cannot read");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert_eq!(status.code(), Some(1), "{log}");
    log
}

/// Raises the `"format"` member of a JSON document (1 when absent).
fn raised_json(bytes: &[u8]) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(bytes).expect("json");
    let f = v.get("format").and_then(Value::as_u64).unwrap_or(1);
    v["format"] = json!(f + 1);
    serde_json::to_vec_pretty(&v).unwrap()
}

#[test]
fn a_drive_set_holding_a_file_of_a_newer_format_is_refused_at_start_up_and_the_file_kept() {
    use cairn::iam::store::DriveStore;
    type Raise = fn(&[u8]) -> Vec<u8>;
    let cases: [(&str, Raise, &str); 5] = [
        (
            "buckets.json",
            raised_json,
            "buckets.json was written by a newer cairn",
        ),
        (
            "credentials.json",
            raised_json,
            "credentials.json was written by a newer cairn",
        ),
        (
            "iam.state",
            |b| {
                let mut b = b.to_vec();
                b[7] += 1;
                b
            },
            "system store file was written by a newer cairn",
        ),
        (
            "settings.state",
            |b| {
                let (g, p) = DriveStore::decode(b).expect("a frame");
                DriveStore::encode(g, &raised_json(p))
            },
            "settings.state was written by a newer cairn",
        ),
        (
            "kms.state",
            |b| {
                let (g, p) = DriveStore::decode(b).expect("a frame");
                DriveStore::encode(g, &raised_json(p))
            },
            "kms.state was written by a newer cairn",
        ),
    ];
    for (file, raise, says) in cases {
        let t = copy_of_golden_set();
        let mut raised = Vec::new();
        for i in 0..DRIVES {
            let p = t.path().join(format!("drive{i}/.cairn/{file}"));
            let b = raise(&std::fs::read(&p).unwrap());
            std::fs::write(&p, &b).unwrap();
            raised.push((p, b));
        }
        let log = start_must_fail(t.path());
        assert!(log.contains(says), "{file}: {log}");
        for (p, b) in raised {
            assert!(
                std::fs::read(&p).unwrap() == b,
                "{} was changed",
                p.display()
            );
        }
    }
}
