//! Usage accounting and bucket quotas.
//!
//! End to end: the real binary, a mixed workload through aws-sdk-s3
//! (unversioned, versioned and suspended buckets; overwrites, deletes,
//! delete markers, copies, multipart uploads completed, aborted and left
//! open), then `kill -9` and a restart: the `cairn_bucket_*` series of
//! `/metrics` must equal what a walk of every listing counts, before the kill
//! and after it.
//!
//! Quotas are set through the engine API (no admin endpoint exists yet):
//! in process for the rules (refusal, room after deletes, writes in flight,
//! multipart, restart), and once against the binary on drives the engine set
//! a quota on, for the S3 error a client sees.

use std::collections::BTreeMap;
use std::rc::Rc;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, VersioningConfiguration,
};
use aws_sdk_s3::Client;
use rand::{Rng, SeedableRng};

mod binary;
mod common;
use binary::{code, raw_request, Server};

use cairn::engine::multipart::ChosenPart;
use cairn::engine::{Engine, EngineError, MemBody, PutOptions, VersionSel};

/// What the usage series say of one bucket, or what a listing walk counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Counts {
    objects: u64,
    bytes: u64,
    versions: u64,
    version_bytes: u64,
    delete_markers: u64,
    uploads: u64,
    upload_bytes: u64,
}

fn metrics(port: u16) -> String {
    let r = raw_request(
        port,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("metrics");
    assert_eq!(r.status, 200);
    String::from_utf8_lossy(&r.body).into_owned()
}

/// `cairn_bucket_<field>{bucket="B"} N` for every bucket.
fn series(text: &str, field: &str) -> BTreeMap<String, u64> {
    let prefix = format!("cairn_bucket_{field}{{bucket=\"");
    text.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|rest| {
            let (bucket, value) = rest.split_once("\"} ").expect("a series line");
            (bucket.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

fn usage_from_metrics(text: &str) -> BTreeMap<String, Counts> {
    let f = |name| series(text, name);
    let (objects, bytes, versions, version_bytes, dms, uploads, upload_bytes) = (
        f("objects"),
        f("bytes"),
        f("versions"),
        f("version_bytes"),
        f("delete_markers"),
        f("uploads"),
        f("upload_bytes"),
    );
    objects
        .keys()
        .map(|b| {
            (
                b.clone(),
                Counts {
                    objects: objects[b],
                    bytes: bytes[b],
                    versions: versions[b],
                    version_bytes: version_bytes[b],
                    delete_markers: dms[b],
                    uploads: uploads[b],
                    upload_bytes: upload_bytes[b],
                },
            )
        })
        .collect()
}

/// Counts a bucket the way a client can: ListObjectsV2, ListObjectVersions,
/// ListMultipartUploads and ListParts, every page.
async fn walk(c: &Client, bucket: &str) -> Counts {
    let mut n = Counts::default();
    let mut token = None;
    loop {
        let r = c
            .list_objects_v2()
            .bucket(bucket)
            .max_keys(7)
            .set_continuation_token(token)
            .send()
            .await
            .expect("list objects");
        for o in r.contents() {
            n.objects += 1;
            n.bytes += o.size().unwrap_or(0) as u64;
        }
        token = r.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let r = c
            .list_object_versions()
            .bucket(bucket)
            .max_keys(5)
            .set_key_marker(key_marker)
            .set_version_id_marker(version_marker)
            .send()
            .await
            .expect("list versions");
        for v in r.versions() {
            n.versions += 1;
            n.version_bytes += v.size().unwrap_or(0) as u64;
        }
        n.delete_markers += r.delete_markers().len() as u64;
        if !r.is_truncated().unwrap_or(false) {
            break;
        }
        key_marker = r.next_key_marker().map(str::to_owned);
        version_marker = r.next_version_id_marker().map(str::to_owned);
    }
    let uploads = c
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .expect("list uploads");
    assert!(!uploads.is_truncated().unwrap_or(false));
    for u in uploads.uploads() {
        n.uploads += 1;
        let parts = c
            .list_parts()
            .bucket(bucket)
            .key(u.key().expect("key"))
            .upload_id(u.upload_id().expect("id"))
            .send()
            .await
            .expect("list parts");
        assert!(!parts.is_truncated().unwrap_or(false));
        n.upload_bytes += parts
            .parts()
            .iter()
            .map(|p| p.size().unwrap_or(0) as u64)
            .sum::<u64>();
    }
    n
}

async fn put(c: &Client, bucket: &str, key: &str, body: Vec<u8>) -> Option<String> {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"))
        .version_id
}

async fn set_versioning(c: &Client, bucket: &str, status: BucketVersioningStatus) {
    c.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .expect("versioning");
}

/// Uploads parts of `sizes` to a new upload of `bucket/key`; returns the
/// upload id and the completed parts.
async fn upload_parts(
    c: &Client,
    bucket: &str,
    key: &str,
    sizes: &[usize],
) -> (String, Vec<CompletedPart>) {
    let id = c
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("create upload")
        .upload_id
        .expect("upload id");
    let mut parts = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let n = i as i32 + 1;
        let r = c
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(binary::data(size, n as u64)))
            .send()
            .await
            .expect("upload part");
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(r.e_tag().expect("etag"))
                .build(),
        );
    }
    (id, parts)
}

/// A seeded mix of writes and deletes over a small key space, in a bucket
/// whose versioning the caller set.
async fn mixed(c: &Client, bucket: &str, rng: &mut rand::rngs::StdRng, ops: usize) {
    let mut versions: Vec<(String, String)> = Vec::new();
    for _ in 0..ops {
        let key = format!("k{:02}", rng.gen_range(0..12));
        match rng.gen_range(0..10) {
            0..=5 => {
                // Mostly inline; some past 64 KiB are erasure-coded.
                let size = match rng.gen_range(0..10) {
                    0 => 0,
                    1 => rng.gen_range(70_000..200_000),
                    _ => rng.gen_range(1..5_000),
                };
                let seed = rng.gen();
                if let Some(v) = put(c, bucket, &key, binary::data(size, seed)).await {
                    versions.push((key, v));
                }
            }
            6 | 7 => {
                // Plain delete: a delete marker where versioned.
                c.delete_object()
                    .bucket(bucket)
                    .key(&key)
                    .send()
                    .await
                    .expect("delete");
            }
            8 if !versions.is_empty() => {
                let (key, v) = versions.swap_remove(rng.gen_range(0..versions.len()));
                c.delete_object()
                    .bucket(bucket)
                    .key(&key)
                    .version_id(v)
                    .send()
                    .await
                    .expect("delete version");
            }
            _ => {
                let from = format!("k{:02}", rng.gen_range(0..12));
                if from == key {
                    continue;
                }
                let r = c
                    .copy_object()
                    .bucket(bucket)
                    .key(&key)
                    .copy_source(format!("{bucket}/{from}"))
                    .send()
                    .await;
                // The source may be deleted: NoSuchKey is fine.
                if let Err(e) = r {
                    assert_eq!(code(Err::<(), _>(e)), "NoSuchKey");
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_metrics_equal_a_listing_walk_after_a_mixed_workload_and_kill_9() {
    let mut srv = Server::start();
    let c = srv.client();
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    for b in ["plain", "ver", "susp", "empty"] {
        c.create_bucket().bucket(b).send().await.expect("bucket");
    }
    set_versioning(&c, "ver", BucketVersioningStatus::Enabled).await;
    set_versioning(&c, "susp", BucketVersioningStatus::Enabled).await;
    mixed(&c, "plain", &mut rng, 80).await;
    mixed(&c, "ver", &mut rng, 80).await;
    mixed(&c, "susp", &mut rng, 40).await;
    set_versioning(&c, "susp", BucketVersioningStatus::Suspended).await;
    mixed(&c, "susp", &mut rng, 40).await;

    // Multipart: completed over an existing key, aborted, left open.
    let (id, parts) = upload_parts(&c, "ver", "k03", &[5 << 20, 1000]).await;
    c.complete_multipart_upload()
        .bucket("ver")
        .key("k03")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .expect("complete");
    let (id, _) = upload_parts(&c, "plain", "gone", &[3000, 2000]).await;
    c.abort_multipart_upload()
        .bucket("plain")
        .key("gone")
        .upload_id(id)
        .send()
        .await
        .expect("abort");
    upload_parts(&c, "susp", "open", &[4000, 7]).await;
    upload_parts(&c, "plain", "open", &[]).await;

    let mut walked = BTreeMap::new();
    for b in ["empty", "plain", "susp", "ver"] {
        walked.insert(b.to_owned(), walk(&c, b).await);
    }
    assert!(walked["ver"].delete_markers > 0 && walked["ver"].versions > walked["ver"].objects);
    assert!(walked["susp"].uploads == 1 && walked["susp"].upload_bytes == 4007);
    assert_eq!(walked["plain"].uploads, 1);
    assert_eq!(walked["empty"], Counts::default());
    let text = metrics(srv.port);
    assert_eq!(usage_from_metrics(&text), walked, "before the kill");
    let stored = series(&text, "stored_bytes");
    assert!(
        stored["ver"] > walked["ver"].version_bytes,
        "parity and copies count on the drives"
    );
    assert!(series(&text, "upload_stored_bytes")["susp"] > 4007);

    srv.kill9_restart();
    let text = metrics(srv.port);
    assert_eq!(
        usage_from_metrics(&text),
        walked,
        "after kill -9 and a restart"
    );
    assert_eq!(series(&text, "stored_bytes"), stored);
    assert!(text.contains("cairn_drive_capacity_bytes{drive=\"0\"}"));

    // Emptying a bucket empties its counters.
    let _ = c.delete_bucket().bucket("empty").send().await;
    let text = metrics(srv.port);
    assert!(
        !text.contains("bucket=\"empty\""),
        "a deleted bucket leaves the metrics"
    );
}

// ---------------------------------------------------------------------------
// Quotas, in process

fn engine_cfg(dir: &std::path::Path) -> cairn::engine::EngineConfig {
    let drives: Vec<std::path::PathBuf> = (0..4).map(|i| dir.join(format!("drive{i}"))).collect();
    for d in &drives {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    // As tests/binary starts the server, so the binary can open these drives.
    let mut cfg = cairn::engine::EngineConfig::new(drives, 1);
    cfg.partitions = 16;
    cfg.segment_max = 16 << 20;
    cfg
}

async fn try_put(e: &Rc<Engine>, bucket: &str, key: &str, size: usize) -> Result<(), EngineError> {
    e.put(
        bucket,
        key,
        PutOptions::default(),
        &mut MemBody::new(common::data(size, size as u64)),
    )
    .await
    .map(|_| ())
}

#[test]
fn a_write_past_the_quota_is_refused_and_deletes_make_room() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = engine_cfg(dir.path());
    common::run(&cfg, |e| async move {
        e.create_bucket("quota-q").await.unwrap();
        assert_eq!(e.bucket_quota("quota-q").unwrap(), None);
        e.set_bucket_quota("quota-q", Some(100_000)).await.unwrap();
        assert_eq!(e.bucket_quota("quota-q").unwrap(), Some(100_000));
        try_put(&e, "quota-q", "a", 60_000).await.unwrap();
        assert!(matches!(
            try_put(&e, "quota-q", "b", 40_001).await,
            Err(EngineError::QuotaExceeded)
        ));
        // Exactly at the quota is allowed.
        try_put(&e, "quota-q", "b", 40_000).await.unwrap();
        assert!(matches!(
            try_put(&e, "quota-q", "c", 1).await,
            Err(EngineError::QuotaExceeded)
        ));
        // An overwrite counts in full, as MinIO checks it.
        assert!(matches!(
            try_put(&e, "quota-q", "a", 10).await,
            Err(EngineError::QuotaExceeded)
        ));
        e.delete("quota-q", "a", None, false).await.unwrap();
        try_put(&e, "quota-q", "c", 60_000).await.unwrap();
        let u = e.bucket_usage("quota-q").unwrap();
        assert_eq!((u.usage.objects, u.usage.version_bytes), (2, 100_000));
        assert_eq!(u.quota_bytes, Some(100_000));

        // Versioned: noncurrent versions count; deleting a version frees it.
        e.create_bucket("quota-v").await.unwrap();
        e.set_versioning("quota-v", cairn::engine::Versioning::Enabled)
            .await
            .unwrap();
        e.set_bucket_quota("quota-v", Some(50_000)).await.unwrap();
        try_put(&e, "quota-v", "k", 30_000).await.unwrap();
        let old = e.head("quota-v", "k").unwrap().meta.version;
        assert!(matches!(
            try_put(&e, "quota-v", "k", 30_000).await,
            Err(EngineError::QuotaExceeded)
        ));
        e.delete("quota-v", "k", None, false).await.unwrap();
        assert!(
            matches!(
                try_put(&e, "quota-v", "k", 30_000).await,
                Err(EngineError::QuotaExceeded)
            ),
            "a delete marker frees nothing"
        );
        e.delete("quota-v", "k", Some(VersionSel::Id(old)), false)
            .await
            .unwrap();
        try_put(&e, "quota-v", "k", 30_000).await.unwrap();

        // Clearing the quota lifts it.
        e.set_bucket_quota("quota-q", None).await.unwrap();
        try_put(&e, "quota-q", "d", 200_000).await.unwrap();
    });
}

#[test]
fn multipart_parts_and_completions_are_held_to_the_quota() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = engine_cfg(dir.path());
    common::run(&cfg, |e| async move {
        e.create_bucket("quota-m").await.unwrap();
        e.set_bucket_quota("quota-m", Some(8 << 20)).await.unwrap();
        let up = e
            .create_upload("quota-m", "big", PutOptions::default(), None)
            .await
            .unwrap();
        let mut chosen = Vec::new();
        for n in 1..=2u32 {
            let p = e
                .put_part(
                    "quota-m",
                    "big",
                    up,
                    n,
                    &mut MemBody::new(common::data(5 << 20, n as u64)),
                    None,
                )
                .await
                .unwrap();
            chosen.push(ChosenPart {
                number: n,
                etag: p.etag,
            });
        }
        // 10 MiB would pass 8 MiB.
        let r = e
            .complete_upload("quota-m", "big", up, chosen.clone(), vec![])
            .await;
        assert!(matches!(r, Err(EngineError::QuotaExceeded)), "{r:?}");
        // One part fits; the upload is still there to complete with it.
        e.complete_upload("quota-m", "big", up, chosen[..1].to_vec(), vec![])
            .await
            .unwrap();
        let up = e
            .create_upload("quota-m", "more", PutOptions::default(), None)
            .await
            .unwrap();
        let r = e
            .put_part(
                "quota-m",
                "more",
                up,
                1,
                &mut MemBody::new(common::data(4 << 20, 9)),
                None,
            )
            .await;
        assert!(
            matches!(r, Err(EngineError::QuotaExceeded)),
            "a part past the quota"
        );
        e.put_part(
            "quota-m",
            "more",
            up,
            1,
            &mut MemBody::new(common::data(1 << 20, 9)),
            None,
        )
        .await
        .unwrap();
    });
}

#[test]
fn writes_in_flight_cannot_pass_the_quota_together() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = engine_cfg(dir.path());
    common::run(&cfg, |e| async move {
        e.create_bucket("quota-c").await.unwrap();
        e.set_bucket_quota("quota-c", Some(95_000)).await.unwrap();
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let e = e.clone();
                cairn::runtime::spawn(async move {
                    try_put(&e, "quota-c", &format!("k{i}"), 10_000).await
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            match t.await {
                Ok(()) => ok += 1,
                Err(EngineError::QuotaExceeded) => {}
                Err(err) => panic!("{err}"),
            }
        }
        assert_eq!(ok, 9, "9 × 10,000 fit in 95,000, a tenth does not");
        assert_eq!(
            e.bucket_usage("quota-c").unwrap().usage.version_bytes,
            90_000
        );
    });
}

#[test]
fn the_quota_and_the_usage_it_counts_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = engine_cfg(dir.path());
    common::run(&cfg, |e| async move {
        e.create_bucket("quota-r").await.unwrap();
        e.set_bucket_quota("quota-r", Some(50_000)).await.unwrap();
        try_put(&e, "quota-r", "a", 45_000).await.unwrap();
    });
    // Not closed cleanly: the counters come from the index as it was.
    common::run_with(&cfg, false, |e, _| async move {
        assert_eq!(e.bucket_quota("quota-r").unwrap(), Some(50_000));
        assert!(matches!(
            try_put(&e, "quota-r", "b", 6_000).await,
            Err(EngineError::QuotaExceeded)
        ));
        try_put(&e, "quota-r", "b", 5_000).await.unwrap();
    });
    common::run(&cfg, |e| async move {
        assert_eq!(
            e.bucket_usage("quota-r").unwrap().usage.version_bytes,
            50_000
        );
        assert!(matches!(
            try_put(&e, "quota-r", "c", 1).await,
            Err(EngineError::QuotaExceeded)
        ));
    });
}

/// What a client sees: MinIO's answer to a write past a hard quota.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_writes_past_the_quota_get_minios_quota_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = engine_cfg(dir.path());
    common::run(&cfg, |e| async move {
        e.create_bucket("lim").await.unwrap();
        e.set_bucket_quota("lim", Some(10_000)).await.unwrap();
    });
    let srv = Server::start_in(dir, &[]);
    let c = srv.client();
    put(&c, "lim", "a", binary::data(9_000, 1)).await;
    let r = c
        .put_object()
        .bucket("lim")
        .key("b")
        .body(ByteStream::from(binary::data(2_000, 2)))
        .send()
        .await;
    let err = r.expect_err("past the quota");
    let raw = err.raw_response().expect("a response");
    assert_eq!(raw.status().as_u16(), 400);
    assert_eq!(code(Err::<(), _>(err)), "XMinioAdminBucketQuotaExceeded");
    let r = c
        .copy_object()
        .bucket("lim")
        .key("c")
        .copy_source("lim/a")
        .send()
        .await;
    assert_eq!(code(r), "XMinioAdminBucketQuotaExceeded");
    let text = metrics(srv.port);
    assert!(text.contains("cairn_bucket_quota_bytes{bucket=\"lim\"} 10000"));
}
