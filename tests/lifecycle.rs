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
//! Transitions (on a node with a `[[storage_class]]` COLD on two of its
//! six drives): current versions move after their days, noncurrent ones
//! beyond the newest N after theirs, with ETag, version, metadata, tags
//! and GET unchanged and the moved shards on COLD's drives only; what
//! PutBucketLifecycleConfiguration refuses among transitions.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketVersioningStatus,
    ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter,
    NoncurrentVersionExpiration, NoncurrentVersionTransition, ObjectLockLegalHold,
    ObjectLockLegalHoldStatus, Transition, TransitionStorageClass, VersioningConfiguration,
};
use aws_sdk_s3::Client;
use serde_json::Value;

mod binary;
mod common;
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

// ---------------------------------------------------------------------------
// Transitions
// ---------------------------------------------------------------------------

/// A 6-drive node (4+2) whose drives 4 and 5 are the COLD class (1+1), on
/// the test's lifecycle clock.
fn cold_node() -> (Server, Clock, Cli) {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Clock::new(dir.path());
    let cfg = dir.path().join("cairn.toml");
    std::fs::write(
        &cfg,
        "[[storage_class]]\nname = \"COLD\"\ndrives = [4, 5]\nlayout = \"1+1\"\n",
    )
    .expect("config");
    let extra: Vec<String> = vec![
        dir.path().join("drive4").display().to_string(),
        dir.path().join("drive5").display().to_string(),
        "--config".into(),
        cfg.display().to_string(),
    ];
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let path = clock.0.to_str().expect("utf-8").to_owned();
    let s = Server::start_env(dir, &extra, &[("CAIRN_TEST_CLOCK_FILE", &path)]);
    let cli = Cli::for_server(&s);
    (s, clock, cli)
}

fn to(class: &str) -> TransitionStorageClass {
    TransitionStorageClass::from(class)
}

/// What a version shows that a transition must keep, and its class.
async fn head_of(
    c: &Client,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> (String, String, Vec<(String, String)>, Option<String>) {
    let h = c
        .head_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .send()
        .await
        .expect("head");
    let mut meta: Vec<(String, String)> = h
        .metadata()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    meta.sort();
    (
        h.e_tag().expect("etag").to_owned(),
        h.version_id().unwrap_or("null").to_owned(),
        meta,
        h.storage_class().map(|s| s.as_str().to_owned()),
    )
}

async fn tags_of(c: &Client, bucket: &str, key: &str) -> Vec<(String, String)> {
    c.get_object_tagging()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("tagging")
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

async fn get_version(c: &Client, bucket: &str, key: &str, version: &str) -> Vec<u8> {
    c.get_object()
        .bucket(bucket)
        .key(key)
        .version_id(version)
        .send()
        .await
        .expect("get version")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transition_to_a_cold_class_moves_the_bytes_to_its_drives_and_keeps_get_exact() {
    let (mut s, clock, cli) = cold_node();
    let c = s.client();
    c.create_bucket()
        .bucket("lc-t")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("bucket");
    // Under 128 KiB only a rule that filters by size moves a version:
    // "logs/" names sizes, "tiny/" does not (whatever the minimum says:
    // only S3's Glacier classes would take small versions).
    let sized = LifecycleRuleFilter::builder()
        .and(
            aws_sdk_s3::types::LifecycleRuleAndOperator::builder()
                .prefix("logs/")
                .object_size_greater_than(0)
                .build(),
        )
        .build();
    let cold = || {
        Transition::builder()
            .days(2)
            .storage_class(to("COLD"))
            .build()
    };
    let rules = vec![
        rule("cold", "logs/")
            .filter(sized)
            .transitions(cold())
            .build()
            .expect("rule"),
        rule("old", "nc/")
            .noncurrent_version_transitions(
                NoncurrentVersionTransition::builder()
                    .noncurrent_days(1)
                    .newer_noncurrent_versions(1)
                    .storage_class(to("REDUCED_REDUNDANCY"))
                    .build(),
            )
            .build()
            .expect("rule"),
        rule("tiny", "tiny/")
            .transitions(cold())
            .build()
            .expect("rule"),
    ];
    let minimum = aws_sdk_s3::types::TransitionDefaultMinimumObjectSize::VariesByStorageClass;
    let answer = c
        .put_bucket_lifecycle_configuration()
        .bucket("lc-t")
        .transition_default_minimum_object_size(minimum.clone())
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .set_rules(Some(rules))
                .build()
                .expect("configuration"),
        )
        .send()
        .await
        .expect("put lifecycle");
    assert_eq!(
        answer.transition_default_minimum_object_size(),
        Some(&minimum)
    );
    // GET answers the transitions back.
    let got = c
        .get_bucket_lifecycle_configuration()
        .bucket("lc-t")
        .send()
        .await
        .expect("get lifecycle");
    assert_eq!(got.transition_default_minimum_object_size(), Some(&minimum));
    let t = &got.rules()[0].transitions()[0];
    assert_eq!(
        (t.days(), t.storage_class().map(|c| c.as_str())),
        (Some(2), Some("COLD"))
    );
    let nt = &got.rules()[1].noncurrent_version_transitions()[0];
    assert_eq!(
        (
            nt.noncurrent_days(),
            nt.newer_noncurrent_versions(),
            nt.storage_class().map(|c| c.as_str())
        ),
        (Some(1), Some(1), Some("REDUCED_REDUNDANCY"))
    );

    // Sharded, inline and multipart data, one under legal hold, and one
    // outside the rule's prefix.
    let big = data(300_000, 1);
    let small = data(1000, 2);
    let parts = [data(5 << 20, 3), data(70_001, 4)];
    c.put_object()
        .bucket("lc-t")
        .key("logs/big")
        .metadata("colour", "blue")
        .content_type("application/x-test")
        .tagging("team=storage&tier=hot")
        .body(ByteStream::from(big.clone()))
        .send()
        .await
        .expect("put big");
    c.put_object()
        .bucket("lc-t")
        .key("logs/held")
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .body(ByteStream::from(small.clone()))
        .send()
        .await
        .expect("put held");
    let up = c
        .create_multipart_upload()
        .bucket("lc-t")
        .key("logs/mp")
        .send()
        .await
        .expect("create upload");
    let id = up.upload_id().expect("upload id");
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let r = c
            .upload_part()
            .bucket("lc-t")
            .key("logs/mp")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .expect("part");
        done.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(n)
                .e_tag(r.e_tag().expect("etag"))
                .build(),
        );
    }
    c.complete_multipart_upload()
        .bucket("lc-t")
        .key("logs/mp")
        .upload_id(id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .expect("complete");
    put(&c, "lc-t", "keep/other", "stays STANDARD").await;
    put(&c, "lc-t", "tiny/small", "under 128 KiB: stays STANDARD").await;
    let moved = ["logs/big", "logs/held", "logs/mp"];
    let mut before = Vec::new();
    for key in moved {
        before.push(head_of(&c, "lc-t", key, None).await);
    }
    assert!(before.iter().all(|b| b.3.is_none()), "{before:?}");

    // Not before their midnight.
    clock.days_ahead(2);
    pass(&s, &cli);
    assert_eq!(n(&status(&cli), "transitioned"), 0);
    assert_eq!(head_of(&c, "lc-t", "logs/big", None).await.3, None);

    clock.days_ahead(3);
    let (after, _) = pass(&s, &cli);
    assert_eq!(n(&after, "transitioned"), 3);
    let bytes = (big.len() + small.len() + parts[0].len() + parts[1].len()) as u64;
    assert_eq!(n(&after, "bytesTransitioned"), bytes);
    assert_eq!(n(&after, "failures"), 0);
    assert_eq!(metric(&s, "cairn_lifecycle_transitioned_total"), 3);
    assert_eq!(
        metric(&s, "cairn_lifecycle_transitioned_bytes_total"),
        bytes
    );
    for (key, b) in moved.iter().zip(&before) {
        let a = head_of(&c, "lc-t", key, None).await;
        assert_eq!(a.3.as_deref(), Some("COLD"), "{key}");
        assert_eq!(
            (&a.0, &a.1, &a.2),
            (&b.0, &b.1, &b.2),
            "{key}: ETag, version, metadata"
        );
    }
    assert_eq!(head_of(&c, "lc-t", "keep/other", None).await.3, None);
    assert_eq!(head_of(&c, "lc-t", "tiny/small", None).await.3, None);
    assert_eq!(
        tags_of(&c, "lc-t", "logs/big").await,
        [
            ("team".into(), "storage".into()),
            ("tier".into(), "hot".into())
        ]
    );
    let hold = c
        .get_object_legal_hold()
        .bucket("lc-t")
        .key("logs/held")
        .send()
        .await
        .expect("legal hold");
    assert_eq!(
        hold.legal_hold().and_then(|h| h.status()),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    assert!(get_bytes(&c, "lc-t", "logs/big").await == big);
    assert!(get_bytes(&c, "lc-t", "logs/held").await == small);
    assert!(get_bytes(&c, "lc-t", "logs/mp").await == parts.concat());

    // A second pass finds them in their class: nothing more moves.
    pass(&s, &cli);
    assert_eq!(n(&status(&cli), "transitioned"), 3);

    // The moved shards, in COLD's 1+1 layout, are on its two drives only.
    let mut records = Vec::new();
    s.restart_after(|dir| {
        let paths: Vec<PathBuf> = (0..6).map(|i| dir.join(format!("drive{i}"))).collect();
        records = common::scan_records(&paths, PARTITIONS as u16);
    });
    for key in ["logs/big", "logs/mp"] {
        let mut drives: Vec<usize> = records
            .iter()
            .filter(|r| {
                r.header.kind == cairn::engine::record::Kind::Shard
                    && r.header.key == key
                    && (r.header.layout.data, r.header.layout.parity) == (1, 1)
            })
            .map(|r| r.drive)
            .collect();
        drives.sort_unstable();
        drives.dedup();
        assert_eq!(drives, [4, 5], "{key}");
    }
    assert!(
        get_bytes(&c, "lc-t", "logs/big").await == big,
        "after a restart"
    );
    assert!(get_bytes(&c, "lc-t", "logs/mp").await == parts.concat());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noncurrent_versions_beyond_the_newest_move_after_their_days() {
    let (s, clock, cli) = cold_node();
    let c = s.client();
    c.create_bucket()
        .bucket("lc-nc")
        .send()
        .await
        .expect("bucket");
    c.put_bucket_versioning()
        .bucket("lc-nc")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
    set_rules(
        &c,
        "lc-nc",
        vec![rule("old", "")
            .noncurrent_version_transitions(
                NoncurrentVersionTransition::builder()
                    .noncurrent_days(1)
                    .newer_noncurrent_versions(1)
                    .storage_class(to("COLD"))
                    .build(),
            )
            .build()
            .expect("rule")],
    )
    .await;
    let bodies = [data(200_000, 7), data(200_000, 8), data(200_000, 9)];
    let mut ids = Vec::new();
    for b in &bodies {
        let v = c
            .put_object()
            .bucket("lc-nc")
            .key("k")
            .body(ByteStream::from(b.clone()))
            .send()
            .await
            .expect("put");
        ids.push(v.version_id().expect("version").to_owned());
    }
    // Behind a delete marker, the newest noncurrent version is kept too.
    let gone = put(&c, "lc-nc", "gone", "was here").await;
    c.delete_object()
        .bucket("lc-nc")
        .key("gone")
        .send()
        .await
        .expect("delete");

    // Replaced today: due at the midnight after tomorrow.
    clock.days_ahead(1);
    pass(&s, &cli);
    assert_eq!(n(&status(&cli), "transitioned"), 0);
    clock.days_ahead(2);
    let (after, _) = pass(&s, &cli);
    assert_eq!(n(&after, "transitioned"), 1, "{after}");
    let class = |i: usize| {
        let (c, id) = (&c, ids[i].clone());
        async move { head_of(c, "lc-nc", "k", Some(&id)).await.3 }
    };
    // The oldest moved; the newest noncurrent one is kept by
    // NewerNoncurrentVersions, the current one is not named.
    assert_eq!(class(0).await.as_deref(), Some("COLD"));
    assert_eq!(class(1).await, None);
    assert_eq!(class(2).await, None);
    assert_eq!(head_of(&c, "lc-nc", "gone", Some(&gone)).await.3, None);
    for (i, b) in bodies.iter().enumerate() {
        assert!(
            get_version(&c, "lc-nc", "k", &ids[i]).await == *b,
            "version {i}"
        );
    }
    assert!(get_version(&c, "lc-nc", "gone", &gone).await == b"was here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transitions_name_a_class_of_the_node_other_than_standard() {
    let (s, _clock, _cli) = cold_node();
    let c = s.client();
    c.create_bucket()
        .bucket("lc-cfg")
        .send()
        .await
        .expect("bucket");
    let put_rule = |r: LifecycleRule| {
        let c = c.clone();
        async move {
            c.put_bucket_lifecycle_configuration()
                .bucket("lc-cfg")
                .lifecycle_configuration(
                    BucketLifecycleConfiguration::builder()
                        .rules(r)
                        .build()
                        .expect("configuration"),
                )
                .send()
                .await
        }
    };
    let days = |d: i32, class: &str| {
        rule("r", "").transitions(
            Transition::builder()
                .days(d)
                .storage_class(to(class))
                .build(),
        )
    };
    let cases = [
        // Neither the node's nor S3's: not in the schema.
        (days(1, "WARM").build().expect("rule"), "MalformedXML"),
        (days(1, "STANDARD").build().expect("rule"), "MalformedXML"),
        // S3's, which this node lacks.
        (
            days(1, "GLACIER").build().expect("rule"),
            "InvalidStorageClass",
        ),
        (
            rule("r", "")
                .noncurrent_version_transitions(
                    NoncurrentVersionTransition::builder()
                        .noncurrent_days(1)
                        .storage_class(to("STANDARD_IA"))
                        .build(),
                )
                .build()
                .expect("rule"),
            "InvalidStorageClass",
        ),
        (days(-1, "COLD").build().expect("rule"), "InvalidArgument"),
        (
            days(5, "COLD")
                .expiration(LifecycleExpiration::builder().days(5).build())
                .build()
                .expect("rule"),
            "InvalidArgument",
        ),
    ];
    for (r, want) in cases {
        let shown = format!("{r:?}");
        assert_eq!(code(put_rule(r).await), want, "{shown}");
    }
    // The node's classes: taken, REDUCED_REDUNDANCY included.
    for class in ["COLD", "REDUCED_REDUNDANCY"] {
        put_rule(days(0, class).build().expect("rule"))
            .await
            .expect(class);
    }
    let got = c
        .get_bucket_lifecycle_configuration()
        .bucket("lc-cfg")
        .send()
        .await
        .expect("get");
    assert_eq!(
        got.rules()[0].transitions()[0]
            .storage_class()
            .map(|c| c.as_str()),
        Some("REDUCED_REDUNDANCY")
    );
}
