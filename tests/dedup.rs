//! Deduplication: the per-bucket opt-in (`cairn admin bucket dedup`),
//! kept across restarts; a dedup bucket's stripes stored once however many
//! keys and versions name them; counts that only free content no object
//! names, and only after the grace period (`cairn admin dedup`).

mod binary;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use binary::cli::Cli;
use binary::{data, get_bytes, Server};

const MIB: u64 = 1 << 20;
const HOUR_MS: u64 = 3600 * 1000;

/// The node's dedup clock (the lifecycle's): a file it reads when it
/// counts and collects.
struct Clock(PathBuf);

impl Clock {
    fn hours_ahead(&self, hours: u64) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64;
        std::fs::write(&self.0, (now + hours * HOUR_MS).to_string()).expect("write clock");
    }
}

fn node() -> (Server, Clock, Cli) {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Clock(dir.path().join("clock"));
    clock.hours_ahead(0);
    let path = clock.0.to_str().expect("utf-8").to_owned();
    let s = Server::start_env(dir, &[], &[("CAIRN_TEST_CLOCK_FILE", &path)]);
    let cli = Cli::for_server(&s);
    (s, clock, cli)
}

/// Bytes of every segment file on the node's drives: what was written.
fn segment_bytes(root: &Path) -> u64 {
    let mut total = 0;
    for d in 0..4 {
        // Made with the first segment.
        let Ok(dir) = std::fs::read_dir(root.join(format!("drive{d}/.cairn/seg"))) else {
            continue;
        };
        for e in dir.flatten() {
            total += e.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    total
}

fn n(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {v}"))
}

fn bucket<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["buckets"]
        .as_array()
        .and_then(|a| a.iter().find(|b| b["name"] == name))
        .unwrap_or_else(|| panic!("{name} in {status}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_copies_are_stored_once_and_freed_only_when_none_is_left_past_the_grace() {
    let (mut s, clock, cli) = node();
    let c = s.client();
    c.create_bucket().bucket("ddb").send().await.unwrap();
    cli.ok(&["bucket", "dedup", "local", "ddb", "on"]);
    let body = data(16 << 20, 7);
    let before = segment_bytes(s.dir.path());
    for batch in 0..10 {
        let puts = (0..10).map(|i| {
            c.put_object()
                .bucket("ddb")
                .key(format!("copies/{}", batch * 10 + i))
                .body(body.clone().into())
                .send()
        });
        for r in futures_util::future::join_all(puts).await {
            r.unwrap();
        }
    }
    // 16 MiB of data is 32 MiB of shards (2+2); 100 copies stored apart
    // would be 3.2 GiB.
    let written = segment_bytes(s.dir.path()) - before;
    assert!(written < 512 * MIB, "100 copies wrote {written} bytes");
    let st = cli.json(&["dedup", "status", "local"]);
    let b = bucket(&st, "ddb");
    // On the drives: the content's shards and commit records, and the
    // versions' commit records (three 4 KiB copies each).
    let content = n(b, "contentStoredBytes");
    assert!((32 * MIB..34 * MIB).contains(&content), "{st}");
    let info = cli.json(&["bucket", "info", "local", "ddb"]);
    let versions = n(&info["usage"], "storedBytes");
    assert!(versions <= 100 * 3 * 4096, "{info}");
    assert_eq!(n(&info["usage"], "bytes"), 100 * 16 * MIB, "{info}");
    assert_eq!(
        (n(b, "contents"), n(b, "contentBytes")),
        (16, 16 * MIB),
        "{st}"
    );
    assert_eq!(n(b, "references"), 1600, "{st}");
    assert_eq!(n(b, "savedBytes"), 99 * 16 * MIB, "{st}");
    for k in [0, 57, 99] {
        assert!(get_bytes(&c, "ddb", &format!("copies/{k}")).await == body);
    }
    // A range across a stripe boundary.
    let r = c
        .get_object()
        .bucket("ddb")
        .key("copies/3")
        .range("bytes=1048000-1049999")
        .send()
        .await
        .unwrap();
    let got = r.body.collect().await.unwrap().into_bytes();
    assert!(got[..] == body[1048000..1050000]);

    // 99 deleted: the last copy still names every stripe.
    for k in 0..99 {
        c.delete_object()
            .bucket("ddb")
            .key(format!("copies/{k}"))
            .send()
            .await
            .unwrap();
    }
    let st = s.wait_for("the releases", Duration::from_secs(30), || {
        let st = cli.json(&["dedup", "status", "local"]);
        (n(bucket(&st, "ddb"), "references") == 16).then_some(st)
    });
    assert_eq!(n(bucket(&st, "ddb"), "unreferenced"), 0, "{st}");
    clock.hours_ahead(48);
    let dry = cli.json(&["dedup", "gc", "local", "--dry-run"]);
    assert_eq!(n(&dry, "collectable") + n(&dry, "waiting"), 0, "{dry}");
    assert!(get_bytes(&c, "ddb", "copies/99").await == body);

    // The last one goes: unreferenced, kept through the grace period.
    clock.hours_ahead(0);
    c.delete_object()
        .bucket("ddb")
        .key("copies/99")
        .send()
        .await
        .unwrap();
    s.wait_for("the last releases", Duration::from_secs(30), || {
        let st = cli.json(&["dedup", "status", "local"]);
        (n(bucket(&st, "ddb"), "unreferenced") == 16).then_some(())
    });
    let dry = cli.json(&["dedup", "gc", "local", "--dry-run"]);
    assert_eq!(
        (n(&dry, "waiting"), n(&dry, "waitingBytes")),
        (16, 16 * MIB),
        "{dry}"
    );
    assert_eq!(
        (n(&dry, "collectable"), n(&dry, "removed")),
        (0, 0),
        "{dry}"
    );
    let gc = cli.json(&["dedup", "gc", "local"]);
    assert_eq!(n(&gc, "removed"), 0, "{gc}");

    // A PUT of the same bytes within the grace period takes the content
    // back; past it, the dry run names what the collector would free and
    // the collector frees exactly that.
    c.put_object()
        .bucket("ddb")
        .key("again")
        .body(data(3 << 20, 9).into())
        .send()
        .await
        .unwrap();
    c.put_object()
        .bucket("ddb")
        .key("copies/0")
        .body(body.clone().into())
        .send()
        .await
        .unwrap();
    c.delete_object()
        .bucket("ddb")
        .key("again")
        .send()
        .await
        .unwrap();
    clock.hours_ahead(25);
    s.wait_for("the release of `again`", Duration::from_secs(30), || {
        let st = cli.json(&["dedup", "status", "local"]);
        (n(bucket(&st, "ddb"), "unreferenced") == 3).then_some(())
    });
    let dry = cli.json(&["dedup", "gc", "local", "--dry-run"]);
    assert_eq!(
        (n(&dry, "collectable"), n(&dry, "collectableBytes")),
        (3, 3 * MIB),
        "{dry}"
    );
    let gc = cli.json(&["dedup", "gc", "local"]);
    assert_eq!(
        (n(&gc, "removed"), n(&gc, "removedBytes")),
        (3, 3 * MIB),
        "{gc}"
    );
    assert!(get_bytes(&c, "ddb", "copies/0").await == body);

    // Another class is other content: stored once more, in its class.
    let rr = data(2 << 20, 11);
    for k in ["rr/1", "rr/2"] {
        c.put_object()
            .bucket("ddb")
            .key(k)
            .storage_class(aws_sdk_s3::types::StorageClass::ReducedRedundancy)
            .body(rr.clone().into())
            .send()
            .await
            .unwrap();
    }
    let st = cli.json(&["dedup", "status", "local"]);
    let b = bucket(&st, "ddb");
    assert_eq!((n(b, "contents"), n(b, "references")), (18, 20), "{st}");
    let h = c
        .head_object()
        .bucket("ddb")
        .key("rr/2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        h.storage_class().map(|s| s.as_str()),
        Some("REDUCED_REDUNDANCY")
    );
    assert!(get_bytes(&c, "ddb", "rr/2").await == rr);
    for k in ["rr/1", "rr/2"] {
        c.delete_object().bucket("ddb").key(k).send().await.unwrap();
    }
    s.wait_for("the releases of rr/", Duration::from_secs(30), || {
        let st = cli.json(&["dedup", "status", "local"]);
        (n(bucket(&st, "ddb"), "references") == 16).then_some(())
    });

    // Counts survive a kill -9, and a rebuilt index counts them anew.
    s.kill9_restart();
    let c = s.client();
    let st = cli.json(&["dedup", "status", "local"]);
    assert_eq!(n(bucket(&st, "ddb"), "references"), 16, "{st}");
    clock.hours_ahead(50);
    let gc = cli.json(&["dedup", "gc", "local"]);
    assert_eq!(
        (n(&gc, "removed"), n(&gc, "removedBytes")),
        (2, 2 * MIB),
        "{gc}"
    );
    s.restart_after(|root| {
        for i in 0..4 {
            let idx = root.join(format!("drive{i}/.cairn/index"));
            if idx.exists() {
                std::fs::remove_dir_all(&idx).expect("drop the index");
            }
        }
    });
    let st = cli.json(&["dedup", "status", "local"]);
    let b = bucket(&st, "ddb");
    assert_eq!((n(b, "contents"), n(b, "references")), (16, 16), "{st}");
    assert!(get_bytes(&c, "ddb", "copies/0").await == body);
    assert!(cli.ok(&["dedup", "status", "local"]).contains("ddb"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dedup_choice_is_per_bucket_and_survives_a_kill_9() {
    let mut s = Server::start();
    let c = s.client();
    for b in ["ddb", "plain"] {
        c.create_bucket().bucket(b).send().await.unwrap();
    }
    let cli = Cli::for_server(&s);
    assert_eq!(
        cli.json(&["bucket", "dedup", "local", "ddb"])["dedup"],
        false
    );
    assert_eq!(
        cli.json(&["bucket", "dedup", "local", "ddb", "on"])["dedup"],
        true
    );
    assert_eq!(
        cli.ok(&["bucket", "dedup", "local", "ddb"]).trim(),
        "ddb: dedup on"
    );
    assert_eq!(cli.json(&["bucket", "info", "local", "ddb"])["dedup"], true);
    assert_eq!(
        cli.json(&["bucket", "info", "local", "plain"])["dedup"],
        false
    );
    let o = cli.run(&["bucket", "dedup", "local", "none", "on"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("NoSuchBucket"), "{}", o.stderr);
    assert_eq!(
        cli.run(&["bucket", "dedup", "local", "ddb", "maybe"]).code,
        2
    );

    // The same bytes under many keys, inline-sized and striped.
    let small = data(3000, 1);
    let big = data(3 << 20, 2);
    for i in 0..4 {
        for (name, body) in [("small", &small), ("big", &big)] {
            c.put_object()
                .bucket("ddb")
                .key(format!("{name}-{i}"))
                .body(body.clone().into())
                .send()
                .await
                .unwrap();
        }
    }

    s.kill9_restart();
    let c = s.client();
    assert_eq!(
        cli.json(&["bucket", "dedup", "local", "ddb"])["dedup"],
        true
    );
    assert_eq!(
        cli.json(&["bucket", "dedup", "local", "plain"])["dedup"],
        false
    );
    for i in 0..4 {
        assert!(get_bytes(&c, "ddb", &format!("small-{i}")).await == small);
        assert!(get_bytes(&c, "ddb", &format!("big-{i}")).await == big);
    }
    assert_eq!(
        cli.json(&["bucket", "dedup", "local", "ddb", "off"])["dedup"],
        false
    );
    s.restart();
    assert_eq!(
        cli.json(&["bucket", "dedup", "local", "ddb"])["dedup"],
        false
    );
}

/// Uploads `body` to `key` in parts of `sizes` (the last takes the rest);
/// the completion's ETag, the upload id and the parts it named.
async fn upload_in_parts(
    c: &aws_sdk_s3::Client,
    (bucket, key): (&str, &str),
    body: &[u8],
    sizes: &[usize],
    sse: Option<aws_sdk_s3::types::ServerSideEncryption>,
) -> (String, String, aws_sdk_s3::types::CompletedMultipartUpload) {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    let up = c
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .set_server_side_encryption(sse)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_owned();
    let mut done = CompletedMultipartUpload::builder();
    let mut at = 0;
    for (i, len) in sizes.iter().chain([&usize::MAX]).enumerate() {
        let end = (at + len.min(&(body.len() - at))).min(body.len());
        let part = c
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .part_number(i as i32 + 1)
            .body(body[at..end].to_vec().into())
            .send()
            .await
            .unwrap();
        done = done.parts(
            CompletedPart::builder()
                .part_number(i as i32 + 1)
                .e_tag(part.e_tag().unwrap())
                .build(),
        );
        at = end;
        if at == body.len() {
            break;
        }
    }
    let done = done.build();
    let r = c
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&id)
        .multipart_upload(done.clone())
        .send()
        .await
        .unwrap();
    (r.e_tag().unwrap().to_owned(), id, done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_uploads_deduplicate_with_each_other_and_with_puts_whatever_their_part_sizes() {
    let (mut s, _clock, cli) = node();
    let c = s.client();
    c.create_bucket().bucket("ddb").send().await.unwrap();
    cli.ok(&["bucket", "dedup", "local", "ddb", "on"]);
    // 12 MiB and a short stripe: 13 contents.
    let body = data((12 << 20) + 12_345, 3);
    let (etag_a, id_a, parts_a) =
        upload_in_parts(&c, ("ddb", "a"), &body, &[5 << 20, 5 << 20], None).await;
    let (etag_b, _, _) = upload_in_parts(&c, ("ddb", "b"), &body, &[6 << 20, 6 << 20], None).await;
    assert!(etag_a.ends_with("-3\""), "{etag_a}");
    assert!(etag_b.ends_with("-3\""), "{etag_b}");
    c.put_object()
        .bucket("ddb")
        .key("c")
        .body(body.clone().into())
        .send()
        .await
        .unwrap();
    let st = cli.json(&["dedup", "status", "local"]);
    let b = bucket(&st, "ddb");
    assert_eq!(
        (n(b, "contents"), n(b, "contentBytes"), n(b, "references")),
        (13, body.len() as u64, 39),
        "two uploads cut differently and a PUT share every stripe: {st}"
    );

    for k in ["a", "b", "c"] {
        assert!(get_bytes(&c, "ddb", k).await == body, "{k}");
    }
    // A completion retried (its answer lost) gets the same answer.
    let again = c
        .complete_multipart_upload()
        .bucket("ddb")
        .key("a")
        .upload_id(&id_a)
        .multipart_upload(parts_a)
        .send()
        .await
        .unwrap();
    assert_eq!(again.e_tag(), Some(etag_a.as_str()));
    // Parts keep their numbers, sizes and ETags.
    let p2 = c
        .get_object()
        .bucket("ddb")
        .key("b")
        .part_number(2)
        .send()
        .await
        .unwrap();
    assert_eq!(p2.parts_count(), Some(3));
    assert_eq!(p2.e_tag(), Some(etag_b.as_str()));
    let got = p2.body.collect().await.unwrap().into_bytes();
    assert!(got[..] == body[6 << 20..12 << 20], "part 2 of b");
    let attrs = c
        .get_object_attributes()
        .bucket("ddb")
        .key("a")
        .object_attributes(aws_sdk_s3::types::ObjectAttributes::ObjectParts)
        .send()
        .await
        .unwrap();
    assert_eq!(
        attrs.object_parts().and_then(|p| p.total_parts_count()),
        Some(3)
    );
    let r = c
        .get_object()
        .bucket("ddb")
        .key("a")
        .range("bytes=5242000-5243999")
        .send()
        .await
        .unwrap();
    let got = r.body.collect().await.unwrap().into_bytes();
    assert!(
        got[..] == body[5_242_000..5_244_000],
        "a range across a part boundary"
    );

    // Kept across kill -9; no upload is left behind.
    s.kill9_restart();
    let c = s.client();
    assert!(get_bytes(&c, "ddb", "a").await == body);
    let ups = c
        .list_multipart_uploads()
        .bucket("ddb")
        .send()
        .await
        .unwrap();
    assert!(ups.uploads().is_empty(), "{ups:?}");
    let p3 = c
        .head_object()
        .bucket("ddb")
        .key("a")
        .part_number(3)
        .send()
        .await
        .unwrap();
    assert_eq!(p3.content_length(), Some(((2 << 20) + 12_345) as i64));

    for k in ["a", "b", "c"] {
        c.delete_object().bucket("ddb").key(k).send().await.unwrap();
    }
    let st = s.wait_for("the releases", Duration::from_secs(30), || {
        let st = cli.json(&["dedup", "status", "local"]);
        (n(bucket(&st, "ddb"), "references") == 0).then_some(st)
    });
    assert_eq!(n(bucket(&st, "ddb"), "unreferenced"), 13, "{st}");
}

/// Whether any segment file on the node's drives holds `needle`.
fn segments_hold(root: &Path, needle: &[u8]) -> bool {
    (0..4).any(|d| {
        let Ok(dir) = std::fs::read_dir(root.join(format!("drive{d}/.cairn/seg"))) else {
            return false;
        };
        dir.flatten().any(|e| {
            std::fs::read(e.path())
                .map(|b| b.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_versions_deduplicate_under_their_kms_key_and_store_no_plaintext() {
    use aws_sdk_s3::types::ServerSideEncryption as Sse;
    let (mut s, _clock, cli) = node();
    let c = s.client();
    c.create_bucket().bucket("sdb").send().await.unwrap();
    cli.ok(&["bucket", "dedup", "local", "sdb", "on"]);
    for k in ["app", "other"] {
        cli.json(&["kms", "key", "create", "local", k]);
    }
    // Three whole stripes and a short one.
    let body = data(3 * MIB as usize + 1234, 9);
    // Bytes well inside the first data shard of stripes 0 and 2.
    let markers = [&body[100..164], &body[2 * MIB as usize + 100..][..64]];
    let put = |key: String, sse: Option<(Sse, Option<&'static str>)>, context: Option<&str>| {
        let mut b = c
            .put_object()
            .bucket("sdb")
            .key(key)
            .body(body.clone().into());
        if let Some((mode, id)) = sse {
            b = b
                .server_side_encryption(mode)
                .set_ssekms_key_id(id.map(str::to_owned));
        }
        b.set_ssekms_encryption_context(context.map(str::to_owned))
            .send()
    };
    let contents = || {
        let st = cli.json(&["dedup", "status", "local"]);
        (
            n(bucket(&st, "sdb"), "contents"),
            n(bucket(&st, "sdb"), "references"),
        )
    };
    for i in 0..6 {
        put(format!("s3/{i}"), Some((Sse::Aes256, None)), None)
            .await
            .unwrap();
    }
    assert_eq!(contents(), (4, 24), "six SSE-S3 copies share four contents");
    for i in 0..3 {
        put(format!("app/{i}"), Some((Sse::AwsKms, Some("app"))), None)
            .await
            .unwrap();
    }
    put("other/0".into(), Some((Sse::AwsKms, Some("other"))), None)
        .await
        .unwrap();
    assert_eq!(
        contents(),
        (12, 40),
        "each KMS key's copies share their own contents"
    );
    // An encryption context of its own binds the key to the object: stored
    // apart, as in any bucket.
    let context = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        br#"{"team":"a"}"#,
    );
    put(
        "ctx/0".into(),
        Some((Sse::AwsKms, Some("app"))),
        Some(&context),
    )
    .await
    .unwrap();
    assert_eq!(contents(), (12, 40));
    for m in markers {
        assert!(!segments_hold(s.dir.path(), m), "plaintext on a drive");
    }

    let check = |key: &'static str, mode: Sse| {
        let c = c.clone();
        let body = body.clone();
        async move {
            let got = c.get_object().bucket("sdb").key(key).send().await.unwrap();
            assert_eq!(got.server_side_encryption(), Some(&mode), "{key}");
            let bytes = got.body.collect().await.unwrap().into_bytes();
            assert!(bytes[..] == body[..], "{key}");
            let r = c
                .get_object()
                .bucket("sdb")
                .key(key)
                .range("bytes=1048000-2099999")
                .send()
                .await
                .unwrap();
            let part = r.body.collect().await.unwrap().into_bytes();
            assert!(part[..] == body[1048000..2100000], "{key} range");
        }
    };
    check("s3/4", Sse::Aes256).await;
    check("app/1", Sse::AwsKms).await;
    check("other/0", Sse::AwsKms).await;
    check("ctx/0", Sse::AwsKms).await;

    s.kill9_restart();
    let c = s.client();
    let check = |key: &'static str| {
        let c = c.clone();
        async move { get_bytes(&c, "sdb", key).await }
    };
    for k in ["s3/0", "app/2", "other/0"] {
        assert!(check(k).await == body, "{k} after kill -9");
    }
    // A copy under SSE-S3 names the same contents.
    c.copy_object()
        .bucket("sdb")
        .key("s3/copy")
        .copy_source("sdb/app/0")
        .server_side_encryption(Sse::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(contents(), (12, 44));
    assert!(check("s3/copy").await == body);
    // An SSE-S3 upload (one part: parts before the last are 5 MiB at
    // least) is cut at completion into the same sealed contents.
    upload_in_parts(&c, ("sdb", "s3/mp"), &body, &[], Some(Sse::Aes256)).await;
    assert_eq!(contents(), (12, 48));
    assert!(check("s3/mp").await == body);
    let part = c
        .get_object()
        .bucket("sdb")
        .key("s3/mp")
        .part_number(1)
        .send()
        .await
        .unwrap();
    assert_eq!(part.server_side_encryption(), Some(&Sse::Aes256));
    assert_eq!(part.parts_count(), Some(1));
    let got = part.body.collect().await.unwrap().into_bytes();
    assert!(got[..] == body[..], "part 1");

    // The same bytes in the clear are contents of their own, and readable
    // on the drives: what the search above would have found.
    put("plain/0".into(), None, None).await.unwrap();
    assert_eq!(contents(), (16, 52));
    assert!(segments_hold(s.dir.path(), markers[0]));

    for i in 0..6 {
        c.delete_object()
            .bucket("sdb")
            .key(format!("s3/{i}"))
            .send()
            .await
            .unwrap();
    }
    let st = s.wait_for("the releases", Duration::from_secs(30), || {
        let st = cli.json(&["dedup", "status", "local"]);
        (n(bucket(&st, "sdb"), "references") == 28).then_some(st)
    });
    assert_eq!(
        n(bucket(&st, "sdb"), "unreferenced"),
        0,
        "s3/copy names them: {st}"
    );
    assert!(check("s3/copy").await == body);
}
