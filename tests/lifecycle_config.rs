//! Bucket lifecycle configuration against the real binary (issue 17; the
//! worker is `tests/lifecycle.rs`): Put/Get/DeleteBucketLifecycleConfiguration
//! with aws-sdk-s3 (every form read back as sent, kept across a restart, 404
//! when none, 204 on delete), every validation error S3 gives (raw documents
//! where the SDK cannot build them), and `x-amz-expiration` on PUT,
//! CopyObject, CompleteMultipartUpload, GET and HEAD of objects an
//! Expiration rule names, none on others; `x-amz-abort-date` and
//! `x-amz-abort-rule-id` on CreateMultipartUpload and ListParts.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleAndOperator, LifecycleRuleFilter, NoncurrentVersionExpiration, Tag,
};
use aws_sdk_s3::Client;
use base64::Engine as _;
use md5::Digest as _;

mod binary;
use binary::*;

const DAY_S: u64 = 86_400;

fn expire_days(days: i32) -> LifecycleExpiration {
    LifecycleExpiration::builder().days(days).build()
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build().expect("tag")
}

/// The configuration the round trip stores: one rule of each form.
fn rules() -> Vec<LifecycleRule> {
    let midnight = aws_sdk_s3::primitives::DateTime::from_secs(1_356_220_800);
    vec![
        LifecycleRule::builder()
            .id("logs")
            .filter(LifecycleRuleFilter::builder().prefix("logs/").build())
            .status(ExpirationStatus::Enabled)
            .expiration(expire_days(3))
            .noncurrent_version_expiration(
                NoncurrentVersionExpiration::builder()
                    .noncurrent_days(7)
                    .newer_noncurrent_versions(2)
                    .build(),
            )
            .abort_incomplete_multipart_upload(
                aws_sdk_s3::types::AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(1)
                    .build(),
            )
            .build()
            .expect("rule"),
        LifecycleRule::builder()
            .id("tmp-tagged")
            .filter(
                LifecycleRuleFilter::builder()
                    .and(
                        LifecycleRuleAndOperator::builder()
                            .prefix("tmp/")
                            .tags(tag("class", "scratch"))
                            .object_size_greater_than(1)
                            .object_size_less_than(1 << 20)
                            .build(),
                    )
                    .build(),
            )
            .status(ExpirationStatus::Enabled)
            .expiration(expire_days(1))
            .build()
            .expect("rule"),
        LifecycleRule::builder()
            .id("dated")
            .filter(
                LifecycleRuleFilter::builder()
                    .tag(tag("dated", "yes"))
                    .build(),
            )
            .status(ExpirationStatus::Enabled)
            .expiration(LifecycleExpiration::builder().date(midnight).build())
            .build()
            .expect("rule"),
        LifecycleRule::builder()
            .id("off")
            .filter(LifecycleRuleFilter::builder().build())
            .status(ExpirationStatus::Disabled)
            .expiration(expire_days(1))
            .build()
            .expect("rule"),
        LifecycleRule::builder()
            .id("markers")
            .filter(LifecycleRuleFilter::builder().prefix("").build())
            .status(ExpirationStatus::Enabled)
            .expiration(
                LifecycleExpiration::builder()
                    .expired_object_delete_marker(true)
                    .build(),
            )
            .build()
            .expect("rule"),
    ]
}

async fn put_rules(c: &Client, bucket: &str, rules: Vec<LifecycleRule>) -> Result<(), String> {
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
        .map(|_| ())
        .map_err(|e| code(Err::<(), _>(e)))
}

/// A signed PUT of a raw document, with Content-MD5 unless `md5` is false.
fn raw_put(port: u16, bucket: &str, body: &str, md5: bool) -> RawResponse {
    let sum = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body));
    let len = body.len().to_string();
    let mut headers = vec![("content-length", len.as_str())];
    if md5 {
        headers.push(("content-md5", sum.as_str()));
    }
    let s = sign(
        port,
        "PUT",
        &format!("/{bucket}?lifecycle"),
        &headers,
        "UNSIGNED-PAYLOAD",
        PASSWORD,
        SystemTime::now(),
    );
    let req = request_bytes(
        "PUT",
        &format!("/{bucket}?lifecycle"),
        &s.headers,
        body.as_bytes(),
    );
    raw_request(port, &req).expect("raw request")
}

fn doc(rules: &str) -> String {
    format!("<LifecycleConfiguration>{rules}</LifecycleConfiguration>")
}

const EXPIRE: &str = "<Expiration><Days>1</Days></Expiration>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_round_trips_survives_restart_and_deletes() {
    let mut srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("rules")
        .send()
        .await
        .expect("create");

    assert_eq!(
        code(
            c.get_bucket_lifecycle_configuration()
                .bucket("rules")
                .send()
                .await
        ),
        "NoSuchLifecycleConfiguration"
    );
    put_rules(&c, "rules", rules()).await.expect("put");
    let got = c
        .get_bucket_lifecycle_configuration()
        .bucket("rules")
        .send()
        .await
        .expect("get");
    assert_eq!(got.rules(), rules().as_slice());

    srv.restart();
    let c = srv.client();
    let got = c
        .get_bucket_lifecycle_configuration()
        .bucket("rules")
        .send()
        .await
        .expect("get after restart");
    assert_eq!(got.rules(), rules().as_slice(), "after a restart");

    // A rule sent without an ID gets one; the old form (the rule's own
    // Prefix) is answered in that form.
    let body = doc(&format!(
        "<Rule><Prefix>old/</Prefix><Status>Enabled</Status>{EXPIRE}</Rule>"
    ));
    let r = raw_put(srv.port, "rules", &body, true);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let got = c
        .get_bucket_lifecycle_configuration()
        .bucket("rules")
        .send()
        .await
        .expect("get");
    let [rule] = got.rules() else {
        panic!("{:?}", got.rules())
    };
    #[allow(deprecated)]
    let prefix = rule.prefix();
    assert_eq!(prefix, Some("old/"));
    assert!(rule.filter().is_none());
    let id = rule.id().unwrap_or_default();
    assert!(!id.is_empty() && id.len() <= 255, "{id}");

    c.delete_bucket_lifecycle()
        .bucket("rules")
        .send()
        .await
        .expect("delete");
    assert_eq!(
        code(
            c.get_bucket_lifecycle_configuration()
                .bucket("rules")
                .send()
                .await
        ),
        "NoSuchLifecycleConfiguration"
    );
    // DELETE answers 204, also when none is set.
    let s = sign(
        srv.port,
        "DELETE",
        "/rules?lifecycle",
        &[],
        "UNSIGNED-PAYLOAD",
        PASSWORD,
        SystemTime::now(),
    );
    let r = raw_request(
        srv.port,
        &request_bytes("DELETE", "/rules?lifecycle", &s.headers, b""),
    )
    .expect("raw delete");
    assert_eq!(r.status, 204);
    assert_eq!(
        code(
            c.get_bucket_lifecycle_configuration()
                .bucket("nowhere")
                .send()
                .await
        ),
        "NoSuchBucket"
    );
    assert_eq!(
        put_rules(&c, "nowhere", rules()).await,
        Err("NoSuchBucket".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configurations_get_s3s_errors_and_change_nothing() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("rules")
        .send()
        .await
        .expect("create");
    put_rules(&c, "rules", rules()).await.expect("put");

    let status = "<Status>Enabled</Status>";
    let one = |inner: &str| doc(&format!("<Rule>{inner}</Rule>"));
    let long_id = "i".repeat(256);
    let cases: Vec<(&str, String, &str)> = vec![
        ("not XML", "<LifecycleConfiguration>".into(), "MalformedXML"),
        ("no rule", doc(""), "InvalidRequest"),
        (
            "1001 rules",
            doc(&format!("<Rule>{status}<Filter></Filter>{EXPIRE}</Rule>").repeat(1001)),
            "InvalidRequest",
        ),
        (
            "a Prefix and a Filter",
            one(&format!("<Prefix>a</Prefix><Filter><Prefix>a</Prefix></Filter>{status}{EXPIRE}")),
            "MalformedXML",
        ),
        (
            "a Filter with two predicates",
            one(&format!(
                "<Filter><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter>{status}{EXPIRE}"
            )),
            "MalformedXML",
        ),
        (
            "a bad Status",
            one(&format!("<Filter></Filter><Status>On</Status>{EXPIRE}")),
            "MalformedXML",
        ),
        (
            "no action",
            one(&format!("<Filter></Filter>{status}")),
            "InvalidRequest",
        ),
        (
            "Days 0",
            one(&format!("<Filter></Filter>{status}<Expiration><Days>0</Days></Expiration>")),
            "InvalidArgument",
        ),
        (
            "a Date not at midnight",
            one(&format!(
                "<Filter></Filter>{status}<Expiration><Date>2030-01-01T12:00:00Z</Date></Expiration>"
            )),
            "InvalidArgument",
        ),
        (
            "ExpiredObjectDeleteMarker with Days",
            one(&format!(
                "<Filter></Filter>{status}<Expiration><Days>3</Days><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>"
            )),
            "InvalidArgument",
        ),
        (
            "ExpiredObjectDeleteMarker on objects chosen by tag",
            one(&format!(
                "<Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter>{status}<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>"
            )),
            "InvalidRequest",
        ),
        (
            "NoncurrentDays 0",
            one(&format!(
                "<Filter></Filter>{status}<NoncurrentVersionExpiration><NoncurrentDays>0</NoncurrentDays></NoncurrentVersionExpiration>"
            )),
            "InvalidArgument",
        ),
        (
            "DaysAfterInitiation 0",
            one(&format!(
                "<Filter></Filter>{status}<AbortIncompleteMultipartUpload><DaysAfterInitiation>0</DaysAfterInitiation></AbortIncompleteMultipartUpload>"
            )),
            "InvalidArgument",
        ),
        (
            "an ID of 256",
            one(&format!("<ID>{long_id}</ID><Filter></Filter>{status}{EXPIRE}")),
            "InvalidArgument",
        ),
        (
            "one ID twice",
            doc(&format!(
                "<Rule><ID>x</ID><Filter></Filter>{status}{EXPIRE}</Rule><Rule><ID>x</ID><Filter><Prefix>b</Prefix></Filter>{status}{EXPIRE}</Rule>"
            )),
            "InvalidArgument",
        ),
        (
            "a transition to a class neither S3 nor this node defines",
            one(&format!(
                "<Filter></Filter>{status}<Transition><Days>30</Days><StorageClass>COLD</StorageClass></Transition>"
            )),
            "MalformedXML",
        ),
        (
            "a transition to a class cairn does not have",
            one(&format!(
                "<Filter></Filter>{status}<Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition>"
            )),
            "InvalidStorageClass",
        ),
    ];
    let port = srv.port;
    let answers = tokio::task::spawn_blocking(move || {
        cases
            .into_iter()
            .map(|(what, body, want)| {
                let r = raw_put(port, "rules", &body, true);
                (what, want, r.status, r.code())
            })
            .collect::<Vec<_>>()
    })
    .await
    .expect("join");
    for (what, want, status, got) in answers {
        assert_eq!((status, got.as_str()), (400, want), "{what}");
    }
    // S3 requires Content-MD5 (or a checksum) on this body.
    let body = doc(&format!("<Rule><Filter></Filter>{status}{EXPIRE}</Rule>"));
    let r = tokio::task::spawn_blocking(move || raw_put(port, "rules", &body, false))
        .await
        .expect("join");
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidRequest"));

    let got = c
        .get_bucket_lifecycle_configuration()
        .bucket("rules")
        .send()
        .await
        .expect("get");
    assert_eq!(got.rules(), rules().as_slice(), "unchanged");
}

/// `expiry-date="…", rule-id="…"` for an object written now, expiring
/// after `days` (rounded up to the next midnight UTC).
fn expected_after_days(written_s: u64, days: u64, rule: &str) -> Vec<String> {
    // The object's time is the server's; accept either day if the test runs
    // across midnight.
    [written_s, written_s + 60]
        .iter()
        .map(|t| {
            let at = (t / DAY_S + days + 1) * DAY_S;
            format!(
                "expiry-date=\"{}\", rule-id=\"{rule}\"",
                httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(at))
            )
        })
        .collect()
}

/// A key, its body and tagging, and the `x-amz-expiration` values it may
/// get (`None`: no header).
type HeaderCase = (
    &'static str,
    &'static [u8],
    Option<&'static str>,
    Option<Vec<String>>,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiration_header_on_writes_and_reads_of_named_objects_only() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("rules")
        .send()
        .await
        .expect("create");
    put_rules(&c, "rules", rules()).await.expect("put");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        - 1;

    // "logs" (3 days) names logs/, "tmp-tagged" (1 day) tmp/ with a tag
    // and a size, "dated" a tag; "off" is disabled and "markers" expires
    // no current version.
    let put = |key: &'static str, body: &'static [u8], tagging: Option<&'static str>| {
        let c = c.clone();
        async move {
            c.put_object()
                .bucket("rules")
                .key(key)
                .set_tagging(tagging.map(str::to_owned))
                .body(ByteStream::from_static(body))
                .send()
                .await
                .expect("put")
                .expiration()
                .map(str::to_owned)
        }
    };
    let cases: Vec<HeaderCase> = vec![
        (
            "logs/a",
            b"x",
            None,
            Some(expected_after_days(now, 3, "logs")),
        ),
        (
            "tmp/a",
            b"xy",
            Some("class=scratch"),
            Some(expected_after_days(now, 1, "tmp-tagged")),
        ),
        // tmp/ without the tag, or too small: not named.
        ("tmp/b", b"xy", None, None),
        ("tmp/c", b"x", Some("class=scratch"), None),
        (
            "other/dated",
            b"x",
            Some("dated=yes"),
            Some(vec![
                "expiry-date=\"Sun, 23 Dec 2012 00:00:00 GMT\", rule-id=\"dated\"".into(),
            ]),
        ),
        ("other/plain", b"x", None, None),
    ];
    for (key, body, tagging, want) in cases {
        let on_put = put(key, body, tagging).await;
        let on_get = c
            .get_object()
            .bucket("rules")
            .key(key)
            .send()
            .await
            .expect("get")
            .expiration()
            .map(str::to_owned);
        let on_head = c
            .head_object()
            .bucket("rules")
            .key(key)
            .send()
            .await
            .expect("head")
            .expiration()
            .map(str::to_owned);
        for (what, got) in [("PUT", &on_put), ("GET", &on_get), ("HEAD", &on_head)] {
            match (&want, got) {
                (None, None) => {}
                (Some(w), Some(g)) => assert!(w.contains(g), "{what} {key}: {g} not in {w:?}"),
                _ => panic!("{what} {key}: {got:?}, want one of {want:?}"),
            }
        }
    }

    // A copy and a completed upload answer it for the version they made
    // (the upload's tags from CreateMultipartUpload).
    let copy = |to: &'static str| {
        let c = c.clone();
        async move {
            c.copy_object()
                .bucket("rules")
                .key(to)
                .copy_source("rules/other/plain")
                .send()
                .await
                .expect("copy")
                .expiration()
                .map(str::to_owned)
        }
    };
    let logs = expected_after_days(now, 3, "logs");
    let got = copy("logs/copied").await.expect("copy into logs/");
    assert!(logs.contains(&got), "copy: {got} not in {logs:?}");
    assert_eq!(copy("other/copied").await, None);
    let complete = |key: &'static str, tagging: Option<&'static str>| {
        let c = c.clone();
        async move {
            let up = c
                .create_multipart_upload()
                .bucket("rules")
                .key(key)
                .set_tagging(tagging.map(str::to_owned))
                .send()
                .await
                .expect("create upload");
            let id = up.upload_id().expect("upload id").to_owned();
            let part = c
                .upload_part()
                .bucket("rules")
                .key(key)
                .upload_id(&id)
                .part_number(1)
                .body(ByteStream::from_static(b"xy"))
                .send()
                .await
                .expect("part");
            c.complete_multipart_upload()
                .bucket("rules")
                .key(key)
                .upload_id(&id)
                .multipart_upload(
                    aws_sdk_s3::types::CompletedMultipartUpload::builder()
                        .parts(
                            aws_sdk_s3::types::CompletedPart::builder()
                                .part_number(1)
                                .e_tag(part.e_tag().expect("etag"))
                                .build(),
                        )
                        .build(),
                )
                .send()
                .await
                .expect("complete")
                .expiration()
                .map(str::to_owned)
        }
    };
    let tmp = expected_after_days(now, 1, "tmp-tagged");
    let got = complete("tmp/mp", Some("class=scratch"))
        .await
        .expect("complete under tmp/ with the tag");
    assert!(tmp.contains(&got), "complete: {got} not in {tmp:?}");
    assert_eq!(complete("tmp/untagged", None).await, None);

    // An upload an abort rule names is told when it may be aborted, on
    // CreateMultipartUpload and ListParts ("logs" aborts after 1 day).
    let abort_at = |t: u64| (t / DAY_S + 2) * DAY_S;
    let up = c
        .create_multipart_upload()
        .bucket("rules")
        .key("logs/up")
        .send()
        .await
        .expect("create upload");
    let at = up.abort_date().expect("x-amz-abort-date").secs() as u64;
    assert!(at == abort_at(now) || at == abort_at(now + 2), "{at}");
    assert_eq!(up.abort_rule_id(), Some("logs"));
    let parts = c
        .list_parts()
        .bucket("rules")
        .key("logs/up")
        .upload_id(up.upload_id().expect("id"))
        .send()
        .await
        .expect("list parts");
    assert_eq!(parts.abort_date().map(|d| d.secs() as u64), Some(at));
    assert_eq!(parts.abort_rule_id(), Some("logs"));
    let other = c
        .create_multipart_upload()
        .bucket("rules")
        .key("other/up")
        .send()
        .await
        .expect("create upload");
    assert_eq!((other.abort_date(), other.abort_rule_id()), (None, None));

    // Without the configuration the header goes away.
    c.delete_bucket_lifecycle()
        .bucket("rules")
        .send()
        .await
        .expect("delete");
    let head = c
        .head_object()
        .bucket("rules")
        .key("logs/a")
        .send()
        .await
        .expect("head");
    assert_eq!(head.expiration(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_needs_get_lifecycle_and_put_and_delete_need_put_lifecycle() {
    let srv = Server::start();
    let root = srv.client();
    root.create_bucket()
        .bucket("rules")
        .send()
        .await
        .expect("create");
    let iam = iam_client(&srv.endpoint(), USER, PASSWORD);
    iam.create_user()
        .user_name("reader")
        .send()
        .await
        .expect("create user");
    let key = iam
        .create_access_key()
        .user_name("reader")
        .send()
        .await
        .expect("create key");
    let key = key.access_key().expect("key");
    let reader = client(
        &srv.endpoint(),
        key.access_key_id(),
        key.secret_access_key(),
    );
    let allow = |action: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"arn:aws:s3:::rules"}}]}}"#
        )
    };
    iam.put_user_policy()
        .user_name("reader")
        .policy_name("get")
        .policy_document(allow("s3:GetLifecycleConfiguration"))
        .send()
        .await
        .expect("policy");
    put_rules(&root, "rules", rules()).await.expect("root put");

    let got = reader
        .get_bucket_lifecycle_configuration()
        .bucket("rules")
        .send()
        .await
        .expect("get with s3:GetLifecycleConfiguration");
    assert_eq!(got.rules(), rules().as_slice());
    assert_eq!(
        put_rules(&reader, "rules", rules()).await,
        Err("AccessDenied".into())
    );
    assert_eq!(
        code(
            reader
                .delete_bucket_lifecycle()
                .bucket("rules")
                .send()
                .await
        ),
        "AccessDenied"
    );

    iam.put_user_policy()
        .user_name("reader")
        .policy_name("put")
        .policy_document(allow("s3:PutLifecycleConfiguration"))
        .send()
        .await
        .expect("policy");
    put_rules(&reader, "rules", rules())
        .await
        .expect("put with s3:PutLifecycleConfiguration");
    reader
        .delete_bucket_lifecycle()
        .bucket("rules")
        .send()
        .await
        .expect("delete with s3:PutLifecycleConfiguration");
}
