//! Server access logging against the real binary (issue 17 part 7):
//! Get/PutBucketLogging shapes and errors with aws-sdk-s3, then the log
//! objects the node writes into the target bucket (`--bucket-log-interval
//! 1s`): one line per request in S3's format, parsed field by field and
//! matched to the `x-amz-request-id` each call got; nothing after logging
//! is turned off; no line for the log writes when a bucket logs into
//! itself.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_s3::operation::RequestId;
use aws_sdk_s3::operation::RequestIdExt;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLoggingStatus, DefaultRetention, Delete, ExpirationStatus,
    Grantee, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, LoggingEnabled,
    ObjectIdentifier, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode,
    ObjectLockRule, ObjectOwnership, PartitionDateSource, PartitionedPrefix, SimplePrefix,
    TargetGrant, TargetObjectKeyFormat, Type,
};
use aws_sdk_s3::Client;
use base64::Engine as _;
mod binary;
use binary::*;

const AUTHENTICATED: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

async fn bucket(c: &Client, name: &str, ownership: Option<ObjectOwnership>) {
    c.create_bucket()
        .bucket(name)
        .set_object_ownership(ownership)
        .send()
        .await
        .expect("create bucket");
}

fn enabled(target: &str, prefix: &str) -> aws_sdk_s3::types::builders::LoggingEnabledBuilder {
    LoggingEnabled::builder()
        .target_bucket(target)
        .target_prefix(prefix)
}

async fn set_logging(c: &Client, bucket: &str, l: Option<LoggingEnabled>) -> Result<(), String> {
    c.put_bucket_logging()
        .bucket(bucket)
        .bucket_logging_status(
            BucketLoggingStatus::builder()
                .set_logging_enabled(l)
                .build(),
        )
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code::<(), _>(Err(e)))
}

async fn get_logging(c: &Client, bucket: &str) -> Option<LoggingEnabled> {
    c.get_bucket_logging()
        .bucket(bucket)
        .send()
        .await
        .expect("get bucket logging")
        .logging_enabled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configurations_are_stored_answered_and_refused_as_s3_does() {
    let s = Server::start();
    let c = s.client();
    bucket(&c, "src", None).await;
    bucket(&c, "logs", None).await;
    bucket(&c, "acl-logs", Some(ObjectOwnership::ObjectWriter)).await;

    assert_eq!(get_logging(&c, "src").await, None, "off until set");
    assert_eq!(
        code(c.get_bucket_logging().bucket("nope").send().await),
        "NoSuchBucket"
    );

    // The simplest configuration, answered as sent (no key format).
    let plain = enabled("logs", "access/").build().unwrap();
    set_logging(&c, "src", Some(plain.clone())).await.unwrap();
    assert_eq!(get_logging(&c, "src").await, Some(plain));

    // Partitioned keys and grants, on a target that allows ACLs.
    let grant = TargetGrant::builder()
        .grantee(
            Grantee::builder()
                .r#type(Type::Group)
                .uri(AUTHENTICATED)
                .build()
                .unwrap(),
        )
        .permission(aws_sdk_s3::types::BucketLogsPermission::Read)
        .build();
    let partitioned = enabled("acl-logs", "")
        .target_grants(grant.clone())
        .target_object_key_format(
            TargetObjectKeyFormat::builder()
                .partitioned_prefix(
                    PartitionedPrefix::builder()
                        .partition_date_source(PartitionDateSource::DeliveryTime)
                        .build(),
                )
                .build(),
        )
        .build()
        .unwrap();
    set_logging(&c, "src", Some(partitioned)).await.unwrap();
    let got = get_logging(&c, "src").await.expect("configured");
    assert_eq!(got.target_bucket(), "acl-logs");
    assert_eq!(got.target_prefix(), "");
    assert_eq!(got.target_grants().len(), 1);
    let g = &got.target_grants()[0];
    assert_eq!(
        g.grantee().and_then(|g| g.uri()),
        Some(AUTHENTICATED),
        "{got:?}"
    );
    assert_eq!(
        got.target_object_key_format()
            .and_then(|f| f.partitioned_prefix())
            .and_then(|p| p.partition_date_source()),
        Some(&PartitionDateSource::DeliveryTime)
    );
    let simple = enabled("logs", "s/")
        .target_object_key_format(
            TargetObjectKeyFormat::builder()
                .simple_prefix(SimplePrefix::builder().build())
                .build(),
        )
        .build()
        .unwrap();
    set_logging(&c, "src", Some(simple)).await.unwrap();
    let got = get_logging(&c, "src").await.expect("configured");
    assert!(
        got.target_object_key_format()
            .is_some_and(|f| f.simple_prefix().is_some()),
        "{got:?}"
    );

    // S3's refusals.
    assert_eq!(
        set_logging(&c, "src", Some(enabled("missing", "p").build().unwrap())).await,
        Err("InvalidTargetBucketForLogging".into())
    );
    assert_eq!(
        set_logging(
            &c,
            "src",
            Some(enabled("logs", "p").target_grants(grant).build().unwrap())
        )
        .await,
        Err("AccessControlListNotSupported".into()),
        "no grants on a BucketOwnerEnforced target"
    );
    assert_eq!(
        code(
            c.put_bucket_logging()
                .bucket("nope")
                .bucket_logging_status(BucketLoggingStatus::builder().build())
                .send()
                .await
        ),
        "NoSuchBucket"
    );
    // A document outside the schema, and one without an integrity check.
    let port = s.port;
    let raw = tokio::task::spawn_blocking(move || {
        let put = |body: &[u8], md5: bool| {
            let len = body.len().to_string();
            let digest = base64::engine::general_purpose::STANDARD
                .encode(<md5::Md5 as md5::Digest>::digest(body));
            let mut headers = vec![("content-length", len.as_str())];
            if md5 {
                headers.push(("content-md5", digest.as_str()));
            }
            let signed = sign(
                port,
                "PUT",
                "/src?logging",
                &headers,
                "UNSIGNED-PAYLOAD",
                PASSWORD,
                std::time::SystemTime::now(),
            );
            raw_request(
                port,
                &request_bytes("PUT", "/src?logging", &signed.headers, body),
            )
            .expect("raw put")
        };
        let no_prefix = b"<BucketLoggingStatus><LoggingEnabled><TargetBucket>logs</TargetBucket></LoggingEnabled></BucketLoggingStatus>";
        let fine = b"<BucketLoggingStatus/>";
        [put(no_prefix, true), put(b"<BucketLoggingStatus>", true), put(fine, false)]
    })
    .await
    .unwrap();
    assert_eq!(
        raw.iter().map(|r| (r.status, r.code())).collect::<Vec<_>>(),
        vec![
            (400, "MalformedXML".to_owned()),
            (400, "MalformedXML".to_owned()),
            (400, "InvalidRequest".to_owned())
        ]
    );
    // Another owner's bucket.
    let iam = iam_client(&s.endpoint(), USER, PASSWORD);
    iam.create_user().user_name("bob").send().await.unwrap();
    let key = iam
        .create_access_key()
        .user_name("bob")
        .send()
        .await
        .unwrap();
    let key = key.access_key().unwrap();
    iam.put_user_policy()
        .user_name("bob")
        .policy_name("all")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    let bob = client(&s.endpoint(), key.access_key_id(), key.secret_access_key());
    bucket(&bob, "bobs", None).await;
    assert_eq!(
        set_logging(&c, "src", Some(enabled("bobs", "p").build().unwrap())).await,
        Err("InvalidTargetBucketForLogging".into())
    );
    // A target whose default retention would hold every log object.
    c.create_bucket()
        .bucket("locked")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    c.put_object_lock_configuration()
        .bucket("locked")
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(
                    ObjectLockRule::builder()
                        .default_retention(
                            DefaultRetention::builder()
                                .mode(ObjectLockRetentionMode::Governance)
                                .days(1)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        set_logging(&c, "src", Some(enabled("locked", "p").build().unwrap())).await,
        Err("InvalidTargetBucketForLogging".into())
    );
    // A refused change leaves the configuration as it was.
    assert_eq!(get_logging(&c, "src").await.unwrap().target_prefix(), "s/");

    // An empty status turns logging off.
    set_logging(&c, "src", None).await.unwrap();
    assert_eq!(get_logging(&c, "src").await, None);
    // And it survives a restart when set.
    set_logging(&c, "src", Some(enabled("logs", "r/").build().unwrap()))
        .await
        .unwrap();
    let mut s = s;
    s.restart();
    let c = s.client();
    assert_eq!(get_logging(&c, "src").await.unwrap().target_prefix(), "r/");
}

/// One parsed line: S3's fields by name.
fn parse_line(l: &str) -> BTreeMap<&'static str, String> {
    const NAMES: [&str; 26] = [
        "bucket_owner",
        "bucket",
        "time",
        "remote_ip",
        "requester",
        "request_id",
        "operation",
        "key",
        "request_uri",
        "status",
        "error_code",
        "bytes_sent",
        "object_size",
        "total_time",
        "turn_around_time",
        "referer",
        "user_agent",
        "version_id",
        "host_id",
        "signature_version",
        "cipher_suite",
        "auth_type",
        "host_header",
        "tls_version",
        "access_point_arn",
        "acl_required",
    ];
    let mut fields = Vec::new();
    let mut cur = String::new();
    let (mut quote, mut bracket, mut esc) = (false, false, false);
    for c in l.chars() {
        match c {
            _ if esc => {
                cur.push(c);
                esc = false;
            }
            '\\' if quote => esc = true,
            '"' => quote = !quote,
            '[' if !quote => bracket = true,
            ']' if !quote => bracket = false,
            ' ' if !quote && !bracket => fields.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    fields.push(cur);
    assert_eq!(fields.len(), NAMES.len(), "field count of {l:?}");
    NAMES.iter().copied().zip(fields).collect()
}

/// Polls until a line for each of `ids` is in the logs; the lines by id.
async fn wait_for_lines(
    c: &Client,
    bucket: &str,
    prefix: &str,
    ids: &[&str],
) -> BTreeMap<String, (String, BTreeMap<&'static str, String>)> {
    for _ in 0..300 {
        let lines = object_lines(c, bucket, prefix).await;
        let by_id: BTreeMap<String, (String, BTreeMap<&'static str, String>)> = lines
            .into_iter()
            .map(|(k, l)| {
                let f = parse_line(&l);
                (f["request_id"].clone(), (k, f))
            })
            .collect();
        if ids.iter().all(|id| by_id.contains_key(*id)) {
            return by_id;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no log lines for {ids:?} within 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_becomes_a_line_of_s3s_format_in_the_target_bucket() {
    let s = Server::start_with(&["--bucket-log-interval", "1s"]);
    let c = s.client();
    bucket(&c, "src", None).await;
    bucket(&c, "logs", None).await;
    set_logging(&c, "src", Some(enabled("logs", "access/").build().unwrap()))
        .await
        .unwrap();

    let put = c
        .put_object()
        .bucket("src")
        .key("dir/a b.txt")
        .body(ByteStream::from(vec![7u8; 4096]))
        .send()
        .await
        .unwrap();
    let put_id = put.request_id().expect("request id").to_owned();
    let get = c
        .get_object()
        .bucket("src")
        .key("dir/a b.txt")
        .send()
        .await
        .unwrap();
    let get_id = get.request_id().expect("request id").to_owned();
    let missing = c
        .get_object()
        .bucket("src")
        .key("missing")
        .send()
        .await
        .expect_err("404");
    let missing_id = missing.request_id().expect("request id").to_owned();
    let list = c.list_objects_v2().bucket("src").send().await.unwrap();
    let list_id = list.request_id().expect("request id").to_owned();
    let anon = raw_request(
        s.port,
        b"GET /src/dir/a%20b.txt HTTP/1.1\r\nHost: x\r\nUser-Agent: curl \"quoted\"\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(anon.status, 403);
    let anon_id = anon.header("x-amz-request-id").expect("id").to_owned();

    let lines = wait_for_lines(
        &c,
        "logs",
        "access/",
        &[&put_id, &get_id, &missing_id, &list_id, &anon_id],
    )
    .await;
    let field = |id: &str, name: &str| lines[id].1[name].clone();
    for (id, op, key, status, error) in [
        (&put_id, "REST.PUT.OBJECT", "dir/a%20b.txt", "200", "-"),
        (&get_id, "REST.GET.OBJECT", "dir/a%20b.txt", "200", "-"),
        (
            &missing_id,
            "REST.GET.OBJECT",
            "missing",
            "404",
            "NoSuchKey",
        ),
        (&list_id, "REST.GET.BUCKET", "-", "200", "-"),
        (
            &anon_id,
            "REST.GET.OBJECT",
            "dir/a%20b.txt",
            "403",
            "AccessDenied",
        ),
    ] {
        let (key_name, f) = &lines[id.as_str()];
        assert_eq!(
            (
                f["operation"].as_str(),
                f["key"].as_str(),
                f["status"].as_str(),
                f["error_code"].as_str()
            ),
            (op, key, status, error),
            "{f:?}"
        );
        assert_eq!(f["bucket"], "src");
        assert_eq!(f["remote_ip"], "127.0.0.1");
        assert!(
            f["time"].ends_with(" +0000") && f["time"].len() == 26,
            "{f:?}"
        );
        assert!(f["bucket_owner"].len() == 64, "{f:?}");
        assert!(
            key_name.starts_with("access/") && key_name.len() == "access/".len() + 36,
            "{key_name}"
        );
    }
    // Who asked, and how.
    assert_ne!(field(&put_id, "requester"), "-");
    assert_eq!(field(&put_id, "signature_version"), "SigV4");
    assert_eq!(field(&put_id, "auth_type"), "AuthHeader");
    assert_eq!(field(&put_id, "object_size"), "4096");
    assert_eq!(field(&put_id, "bytes_sent"), "-");
    assert!(field(&put_id, "request_uri").starts_with("PUT /src/dir/a%20b.txt"));
    assert!(field(&put_id, "user_agent").contains("aws-sdk-rust"));
    assert_eq!(field(&get_id, "bytes_sent"), "4096");
    assert_eq!(field(&get_id, "object_size"), "4096");
    assert_eq!(field(&anon_id, "requester"), "-");
    assert_eq!(field(&anon_id, "signature_version"), "-");
    assert_eq!(field(&anon_id, "user_agent"), "curl \"quoted\"");
    assert_eq!(field(&anon_id, "host_header"), "x");
    assert_eq!(
        field(&list_id, "host_id"),
        list.extended_request_id().unwrap_or_default()
    );

    // Off: later requests are not logged.
    set_logging(&c, "src", None).await.unwrap();
    let after = c
        .put_object()
        .bucket("src")
        .key("after")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let after_id = after.request_id().unwrap().to_owned();
    // Two flush intervals and a marker request on a bucket still logged
    // into the same place: once its line is there, "after" would be too.
    bucket(&c, "other", None).await;
    set_logging(
        &c,
        "other",
        Some(enabled("logs", "access/").build().unwrap()),
    )
    .await
    .unwrap();
    let marker = c.list_objects_v2().bucket("other").send().await.unwrap();
    let marker_id = marker.request_id().unwrap().to_owned();
    let lines = wait_for_lines(&c, "logs", "access/", &[&marker_id]).await;
    assert!(
        !lines.contains_key(&after_id),
        "logged after logging was off"
    );

    // The log objects belong to the target's owner and count in /metrics.
    let objects = metric(s.port, "cairn_bucket_log_objects_total ");
    assert!(objects >= 2, "{objects}");
    assert_eq!(metric(s.port, "cairn_bucket_log_lines_dropped_total "), 0);
}

fn metric(port: u16, line_start: &str) -> u64 {
    let r = raw_request(
        port,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("scrape");
    let text = String::from_utf8_lossy(&r.body).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_logging_into_itself_logs_only_its_clients_requests() {
    let s = Server::start_with(&["--bucket-log-interval", "1s"]);
    let c = s.client();
    bucket(&c, "selfish", None).await;
    let partitioned = enabled("selfish", "self/")
        .target_object_key_format(
            TargetObjectKeyFormat::builder()
                .partitioned_prefix(
                    PartitionedPrefix::builder()
                        .partition_date_source(PartitionDateSource::EventTime)
                        .build(),
                )
                .build(),
        )
        .build()
        .unwrap();
    set_logging(&c, "selfish", Some(partitioned)).await.unwrap();
    let mut ours = BTreeSet::new();
    for i in 0..3 {
        let r = c
            .put_object()
            .bucket("selfish")
            .key(format!("k{i}"))
            .body(ByteStream::from_static(b"data"))
            .send()
            .await
            .unwrap();
        ours.insert(r.request_id().unwrap().to_owned());
    }
    let first: Vec<&str> = ours.iter().map(String::as_str).collect();
    let lines = wait_for_lines(&c, "selfish", "self/", &first).await;
    // Partitioned keys: account, region, source bucket, event day.
    for (key, _) in lines.values() {
        let rest = key
            .strip_prefix("self/000000000000/us-east-1/selfish/")
            .unwrap_or_else(|| panic!("{key}"));
        assert_eq!(rest.len(), "2026/12/07/".len() + 36, "{key}");
    }
    // Let several intervals pass: the node writes log objects in its own
    // bucket, and none of those writes may become a line itself. Every
    // line must be one of the requests this client made (the lists and
    // reads above and below included, which object_lines does not return
    // ids for: they are REST.GET lines, never a PUT).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = object_lines(&c, "selfish", "self/").await;
    assert!(!all.is_empty());
    for (_, l) in &all {
        let f = parse_line(l);
        if f["operation"] == "REST.PUT.OBJECT" {
            assert!(
                ours.contains(&f["request_id"]),
                "a log write was logged: {l}"
            );
        }
        assert_ne!(f["requester"], "-", "{l}");
    }
}

/// Polls until the logs under `prefix` hold `n` lines that `pick` keeps;
/// those lines, parsed.
async fn wait_for_picked(
    c: &Client,
    bucket: &str,
    prefix: &str,
    n: usize,
    pick: impl Fn(&BTreeMap<&'static str, String>) -> bool,
) -> Vec<BTreeMap<&'static str, String>> {
    for _ in 0..300 {
        let lines: Vec<_> = object_lines(c, bucket, prefix)
            .await
            .iter()
            .map(|(_, l)| parse_line(l))
            .filter(|f| pick(f))
            .collect();
        if lines.len() >= n {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {n} wanted log lines within 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_object_delete_logs_one_batch_line_per_deleted_key() {
    let s = Server::start_with(&["--bucket-log-interval", "1s"]);
    let c = s.client();
    bucket(&c, "src", None).await;
    bucket(&c, "logs", None).await;
    set_logging(&c, "src", Some(enabled("logs", "m/").build().unwrap()))
        .await
        .unwrap();
    let keys = ["a", "dir/b c", "z"];
    let mut objects = Vec::new();
    for k in keys {
        c.put_object()
            .bucket("src")
            .key(k)
            .body(ByteStream::from_static(b"data"))
            .send()
            .await
            .unwrap();
        objects.push(ObjectIdentifier::builder().key(k).build().unwrap());
    }
    let r = c
        .delete_objects()
        .bucket("src")
        .delete(
            Delete::builder()
                .set_objects(Some(objects))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.deleted().len(), 3);
    let id = r.request_id().unwrap().to_owned();
    let lines = wait_for_picked(&c, "logs", "m/", 4, |f| f["request_id"] == id).await;
    assert_eq!(lines.len(), 4, "{lines:?}");
    let own: Vec<_> = lines
        .iter()
        .filter(|f| f["operation"] == "REST.POST.MULTI_OBJECT_DELETE")
        .collect();
    assert_eq!(own.len(), 1, "{lines:?}");
    assert_eq!(own[0]["key"], "-");
    let mut batch: Vec<String> = lines
        .iter()
        .filter(|f| f["operation"] == "BATCH.DELETE.OBJECT")
        .map(|f| {
            assert_eq!(f["status"], "204", "{f:?}");
            assert_eq!(f["error_code"], "-", "{f:?}");
            assert_eq!(f["requester"], own[0]["requester"]);
            f["key"].clone()
        })
        .collect();
    batch.sort();
    assert_eq!(batch, ["a", "dir/b%20c", "z"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lifecycle_expiration_is_logged_as_s3_expire_object() {
    const DAY_MS: u64 = 86_400_000;
    let dir = tempfile::tempdir().unwrap();
    let clock = dir.path().join("lifecycle-clock");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    std::fs::write(&clock, now.to_string()).unwrap();
    let path = clock.to_str().unwrap().to_owned();
    let s = Server::start_env(
        dir,
        &["--bucket-log-interval", "1s"],
        &[("CAIRN_TEST_CLOCK_FILE", &path)],
    );
    let c = s.client();
    bucket(&c, "src", None).await;
    bucket(&c, "logs", None).await;
    set_logging(&c, "src", Some(enabled("logs", "lc/").build().unwrap()))
        .await
        .unwrap();
    c.put_object()
        .bucket("src")
        .key("old/a")
        .body(ByteStream::from_static(b"data"))
        .send()
        .await
        .unwrap();
    let rule = LifecycleRule::builder()
        .id("expire")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("old/").build())
        .expiration(LifecycleExpiration::builder().days(1).build())
        .build()
        .unwrap();
    c.put_bucket_lifecycle_configuration()
        .bucket("src")
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(rule)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // Three days on, the day's pass expires the object.
    std::fs::write(&clock, (now + 3 * DAY_MS).to_string()).unwrap();
    let lines = wait_for_picked(&c, "logs", "lc/", 1, |f| {
        f["operation"] == "S3.EXPIRE.OBJECT"
    })
    .await;
    let f = &lines[0];
    assert_eq!(f["key"], "old/a", "{f:?}");
    assert_eq!(f["bucket"], "src");
    assert_eq!(f["requester"], "AmazonS3");
    for empty in [
        "remote_ip",
        "request_uri",
        "status",
        "total_time",
        "auth_type",
    ] {
        assert_eq!(f[empty], "-", "{empty} of {f:?}");
    }
    assert_eq!(f["object_size"], "4");
}
