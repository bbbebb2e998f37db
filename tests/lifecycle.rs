//! The lifecycle worker against the real binary (issue 17): rules set with
//! aws-sdk-s3 are applied on a lifecycle clock the test moves forward (a
//! file named by `CAIRN_TEST_CLOCK_FILE`, no sleeping for days), each pass
//! asked for with `cairn admin lifecycle run` and awaited on its status.
//! Nothing expires before its midnight; current versions expire (gone
//! unversioned, behind a delete marker versioned); noncurrent versions
//! beyond the newest N go; lone delete markers and old uploads go; a
//! version under legal hold stays until the hold is lifted; a pass cut by
//! `kill -9` resumes where it was rather than starting again; the counters
//! reach the admin API and `/metrics`; an expiration reaches the bucket's
//! notification target as a `LifecycleExpiration:Delete` event.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration,
    ObjectLockLegalHold, ObjectLockLegalHoldStatus,
};
use aws_sdk_s3::Client;
use serde_json::Value;

mod binary;
use binary::cli::Cli;
use binary::*;

const DAY_MS: u64 = 86_400_000;
/// `binary::spawn`'s partitions.
const PARTITIONS: u64 = 16;

/// The node's lifecycle clock: a file the server reads at each batch.
struct Clock(PathBuf);

impl Clock {
    fn new(dir: &std::path::Path) -> Clock {
        let c = Clock(dir.join("lifecycle-clock"));
        c.days_ahead(0);
        c
    }

    fn days_ahead(&self, days: u64) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64;
        std::fs::write(&self.0, (now + days * DAY_MS).to_string()).expect("write clock");
    }
}

/// A node whose lifecycle clock is `Clock`, with its admin CLI.
fn node(extra: &[&str]) -> (Server, Clock, Cli) {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Clock::new(dir.path());
    let path = clock.0.to_str().expect("utf-8").to_owned();
    let s = Server::start_env(dir, extra, &[("CAIRN_TEST_CLOCK_FILE", &path)]);
    let cli = Cli::for_server(&s);
    (s, clock, cli)
}

fn status(cli: &Cli) -> Value {
    cli.json(&["lifecycle", "status", "local"])
}

fn n(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {v}"))
}

/// Waits for the passes under way, asks for a pass of every partition on
/// the clock's day and waits for all of them: the status after, and the
/// keys (and uploads) that pass examined.
fn pass(s: &Server, cli: &Cli) -> (Value, u64) {
    let idle = |v: &Value| n(v, "partitionsPending") == 0 && v["state"] == "idle";
    s.wait_for("the passes under way", Duration::from_secs(60), || {
        Some(()).filter(|_| idle(&status(cli)))
    });
    let before = status(cli);
    cli.ok(&["lifecycle", "run", "local"]);
    let after = s.wait_for("a pass of every partition", Duration::from_secs(60), || {
        let v = status(cli);
        (n(&v, "partitionPasses") >= n(&before, "partitionPasses") + PARTITIONS && idle(&v))
            .then_some(v)
    });
    let keys = n(&after, "keysExamined") - n(&before, "keysExamined");
    (after, keys)
}

fn rule(id: &str, prefix: &str) -> aws_sdk_s3::types::builders::LifecycleRuleBuilder {
    LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
}

async fn set_rules(c: &Client, bucket: &str, rules: Vec<LifecycleRule>) {
    c.put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .set_rules(Some(rules))
                .build()
                .expect("configuration"),
        )
        .send()
        .await
        .expect("put lifecycle");
}

async fn put(c: &Client, bucket: &str, key: &str, body: &str) -> String {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .expect("put")
        .version_id()
        .unwrap_or("null")
        .to_owned()
}

async fn exists(c: &Client, bucket: &str, key: &str) -> bool {
    match c.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => true,
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => false,
        Err(e) => panic!("head {key}: {e:?}"),
    }
}

/// Every version of `key`, newest first: (version id, delete marker).
async fn versions(c: &Client, bucket: &str, key: &str) -> Vec<(String, bool)> {
    let out = c
        .list_object_versions()
        .bucket(bucket)
        .prefix(key)
        .send()
        .await
        .expect("list versions");
    let mut all: Vec<(String, bool)> = Vec::new();
    for v in out.versions().iter().filter(|v| v.key() == Some(key)) {
        all.push((v.version_id().unwrap_or("").to_owned(), false));
    }
    for m in out.delete_markers().iter().filter(|m| m.key() == Some(key)) {
        all.push((m.version_id().unwrap_or("").to_owned(), true));
    }
    // cairn's version ids sort by age.
    all.sort_by(|a, b| b.0.cmp(&a.0));
    all
}

fn metric(s: &Server, name: &str) -> u64 {
    let r = raw_request(
        s.port,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("metrics");
    let body = String::from_utf8_lossy(&r.body).into_owned();
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_and_uploads_expire_at_their_midnight_and_not_before() {
    let (s, clock, cli) = node(&[]);
    let c = s.client();
    c.create_bucket()
        .bucket("lc-b")
        .send()
        .await
        .expect("bucket");
    set_rules(
        &c,
        "lc-b",
        vec![
            rule("logs", "logs/")
                .expiration(LifecycleExpiration::builder().days(3).build())
                .build()
                .expect("rule"),
            rule("tmp", "tmp/")
                .abort_incomplete_multipart_upload(
                    AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(2)
                        .build(),
                )
                .build()
                .expect("rule"),
        ],
    )
    .await;
    for i in 0..40 {
        put(&c, "lc-b", &format!("logs/{i}"), "log line").await;
    }
    put(&c, "lc-b", "keep/1", "kept").await;
    put(&c, "lc-b", "tmp/not-an-upload", "kept").await;
    let upload = c
        .create_multipart_upload()
        .bucket("lc-b")
        .key("tmp/big")
        .send()
        .await
        .expect("create upload");
    let upload = upload.upload_id().expect("upload id").to_owned();
    c.upload_part()
        .bucket("lc-b")
        .key("tmp/big")
        .upload_id(&upload)
        .part_number(1)
        .body(ByteStream::from(data(1 << 20, 1)))
        .send()
        .await
        .expect("part");
    let uploads = |c: Client| async move {
        c.list_multipart_uploads()
            .bucket("lc-b")
            .send()
            .await
            .expect("list uploads")
            .uploads()
            .len()
    };

    // Today, and two days on: before any of their midnights.
    for days in [0, 2] {
        clock.days_ahead(days);
        let (v, walked) = pass(&s, &cli);
        // Only the rules' ranges are walked: logs/ (40 keys) and tmp/ (a
        // key and an upload), not keep/.
        assert_eq!(walked, 42, "{v}");
        assert_eq!(n(&v, "expired"), 0, "{v}");
        assert_eq!(n(&v, "uploadsAborted"), 0, "{v}");
        assert!(exists(&c, "lc-b", "logs/0").await && exists(&c, "lc-b", "logs/39").await);
        assert_eq!(uploads(c.clone()).await, 1);
    }
    // Written on day D, 3 days: gone at the midnight starting day D + 4;
    // the upload (2 days) at day D + 3's.
    clock.days_ahead(4);
    let (v, _) = pass(&s, &cli);
    assert_eq!(n(&v, "expired"), 40, "{v}");
    assert_eq!(n(&v, "uploadsAborted"), 1, "{v}");
    assert_eq!(n(&v, "failures"), 0, "{v}");
    for i in 0..40 {
        assert!(!exists(&c, "lc-b", &format!("logs/{i}")).await, "logs/{i}");
    }
    assert!(exists(&c, "lc-b", "keep/1").await);
    assert!(exists(&c, "lc-b", "tmp/not-an-upload").await);
    assert_eq!(uploads(c.clone()).await, 0);
    // Listing agrees, and the counters reach /metrics.
    let listed = c
        .list_objects_v2()
        .bucket("lc-b")
        .send()
        .await
        .expect("list");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["keep/1", "tmp/not-an-upload"]);
    assert_eq!(metric(&s, "cairn_lifecycle_expired_total"), 40);
    assert_eq!(metric(&s, "cairn_lifecycle_uploads_aborted_total"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_go_as_the_rules_say_and_a_locked_one_stays() {
    let (s, clock, cli) = node(&[]);
    let c = s.client();
    c.create_bucket()
        .bucket("lc-v")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("bucket");
    set_rules(
        &c,
        "lc-v",
        vec![
            rule("old", "")
                .noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder()
                        .noncurrent_days(1)
                        .newer_noncurrent_versions(1)
                        .build(),
                )
                .build()
                .expect("rule"),
            rule("markers", "")
                .expiration(
                    LifecycleExpiration::builder()
                        .expired_object_delete_marker(true)
                        .build(),
                )
                .build()
                .expect("rule"),
            rule("current", "cur/")
                .expiration(LifecycleExpiration::builder().days(10).build())
                .build()
                .expect("rule"),
        ],
    )
    .await;
    let mut k = Vec::new();
    for i in 1..=4 {
        k.push(put(&c, "lc-v", "k", &format!("v{i}")).await);
    }
    let hold = |status: ObjectLockLegalHoldStatus| {
        let c = c.clone();
        let v1 = k[0].clone();
        async move {
            c.put_object_legal_hold()
                .bucket("lc-v")
                .key("k")
                .version_id(v1)
                .legal_hold(ObjectLockLegalHold::builder().status(status).build())
                .send()
                .await
                .expect("legal hold");
        }
    };
    hold(ObjectLockLegalHoldStatus::On).await;
    let a1 = put(&c, "lc-v", "k2", "a1").await;
    put(&c, "lc-v", "k2", "a2").await;
    // A lone delete marker: the only version deleted behind it.
    let g1 = put(&c, "lc-v", "gone", "g1").await;
    c.delete_object()
        .bucket("lc-v")
        .key("gone")
        .send()
        .await
        .expect("delete");
    c.delete_object()
        .bucket("lc-v")
        .key("gone")
        .version_id(&g1)
        .send()
        .await
        .expect("delete version");
    assert_eq!(versions(&c, "lc-v", "gone").await.len(), 1);
    let cur = put(&c, "lc-v", "cur/x", "current").await;

    clock.days_ahead(3);
    let (v, _) = pass(&s, &cli);
    // k: v4 current, v3 the one noncurrent kept, v2 gone, v1 held.
    let left: Vec<String> = versions(&c, "lc-v", "k")
        .await
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    assert_eq!(left, [k[3].clone(), k[2].clone(), k[0].clone()], "{v}");
    assert_eq!(get_bytes(&c, "lc-v", "k").await, b"v4");
    // k2's one noncurrent version is within NewerNoncurrentVersions.
    assert!(versions(&c, "lc-v", "k2")
        .await
        .iter()
        .any(|(v, _)| *v == a1));
    assert!(versions(&c, "lc-v", "gone").await.is_empty());
    assert!(exists(&c, "lc-v", "cur/x").await);
    assert_eq!(n(&v, "noncurrentRemoved"), 1, "{v}");
    assert_eq!(n(&v, "deleteMarkersRemoved"), 1, "{v}");
    assert!(n(&v, "keptByObjectLock") >= 1, "{v}");

    // The hold lifted, the next pass removes v1.
    hold(ObjectLockLegalHoldStatus::Off).await;
    pass(&s, &cli);
    let left: Vec<String> = versions(&c, "lc-v", "k")
        .await
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    assert_eq!(left, [k[3].clone(), k[2].clone()]);

    // Twelve days on the current version of cur/x expires: a delete marker
    // in front of it, the data kept as the newest noncurrent version.
    clock.days_ahead(12);
    let (v, _) = pass(&s, &cli);
    assert_eq!(n(&v, "expired"), 1, "{v}");
    assert!(!exists(&c, "lc-v", "cur/x").await);
    let vs = versions(&c, "lc-v", "cur/x").await;
    assert_eq!(vs.len(), 2, "{vs:?}");
    assert!(vs[0].1 && vs[1] == (cur, false), "{vs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_cut_by_kill_9_resumes_where_it_was() {
    // 40 keys a second over the node: 400 keys take about ten seconds.
    let (mut s, _clock, cli) = node(&["--lifecycle-rate", "40"]);
    let c = s.client();
    c.create_bucket()
        .bucket("lc-r")
        .send()
        .await
        .expect("bucket");
    for i in 0..400 {
        put(&c, "lc-r", &format!("k{i:03}"), "x").await;
    }
    // A rule that names every key and expires none for years.
    set_rules(
        &c,
        "lc-r",
        vec![rule("far", "")
            .expiration(LifecycleExpiration::builder().days(3650).build())
            .build()
            .expect("rule")],
    )
    .await;
    // The first pass starts by itself (no partition was walked today).
    let first = s.wait_for("part of the pass", Duration::from_secs(60), || {
        let v = status(&cli);
        (n(&v, "keysExamined") >= 100).then_some(v)
    });
    assert!(n(&first, "partitionsPending") > 0, "{first}");
    s.kill9_restart();
    let v = s.wait_for("the rest of the pass", Duration::from_secs(120), || {
        let v = status(&cli);
        (n(&v, "partitionsPending") == 0).then_some(v)
    });
    // Counters start at zero with the process: it walked what was left,
    // not all 400 again (a batch or so may be walked twice: the cursor is
    // stored after its batch).
    let after = n(&v, "keysExamined");
    assert!(
        after < 400 - 50,
        "walked {after} keys after the restart: {v}"
    );
    assert_eq!(n(&v, "expired"), 0);
    // Done for the day: the next restart walks nothing.
    s.restart();
    std::thread::sleep(Duration::from_secs(2));
    let v = status(&cli);
    assert_eq!(n(&v, "partitionsPending"), 0, "{v}");
    assert_eq!(n(&v, "keysExamined"), 0, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiration_is_an_event_for_the_buckets_notification_rules() {
    use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
    let (s, clock, cli) = node(&[]);
    let rx = binary::webhook::Receiver::start();
    cli.ok(&["notify", "add", "local", "hook", &rx.url()]);
    let c = s.client();
    c.create_bucket()
        .bucket("lc-ev")
        .send()
        .await
        .expect("bucket");
    set_rules(
        &c,
        "lc-ev",
        vec![rule("old", "")
            .expiration(LifecycleExpiration::builder().days(1).build())
            .build()
            .expect("rule")],
    )
    .await;
    c.put_bucket_notification_configuration()
        .bucket("lc-ev")
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .queue_arn("arn:cairn:sqs::hook:webhook")
                        .events(Event::from("s3:LifecycleExpiration:*"))
                        .build()
                        .expect("queue"),
                )
                .build(),
        )
        .send()
        .await
        .expect("notification rules");
    put(&c, "lc-ev", "a", "x").await;
    clock.days_ahead(3);
    pass(&s, &cli);
    let got = s.wait_for("the expiration's event", Duration::from_secs(30), || {
        let e = rx.events();
        (!e.is_empty()).then_some(e)
    });
    assert_eq!(
        got,
        vec![("LifecycleExpiration:Delete".to_owned(), "a".to_owned())]
    );
    let body = &rx.got.lock().expect("lock")[0].1;
    assert_eq!(body["Records"][0]["userIdentity"]["principalId"], "cairn");
}
