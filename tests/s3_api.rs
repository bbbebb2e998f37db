//! The S3 API end to end: the real `cairn` binary, driven by the AWS SDK for
//! Rust over plain HTTP (path style, us-east-1), plus hand-written requests
//! over raw TCP for what an SDK will not send (bad chunk signatures, a
//! skewed clock, bad trailer checksums).
//!
//! Every test starts its own server (own temp drives, own port) and kills
//! it by PID when it ends, pass or fail. `CAIRN_TEST_LOG` sets the servers'
//! log filter (default `info`); a failing test prints its server's log tail
//! (the harness is in `binary/`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use futures_util::stream::{self, StreamExt, TryStreamExt};

mod binary;
use binary::*;

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[tokio::test]
async fn buckets() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("alpha")
        .send()
        .await
        .expect("create alpha");
    c.create_bucket()
        .bucket("beta")
        .send()
        .await
        .expect("create beta");
    assert_eq!(
        code(c.create_bucket().bucket("alpha").send().await),
        "BucketAlreadyOwnedByYou"
    );
    assert_eq!(
        code(c.create_bucket().bucket("Bad_Name").send().await),
        "InvalidBucketName"
    );

    let names: Vec<String> = c
        .list_buckets()
        .send()
        .await
        .expect("list")
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_owned))
        .collect();
    assert_eq!(names, ["alpha", "beta"]);

    c.head_bucket()
        .bucket("alpha")
        .send()
        .await
        .expect("head alpha");
    let e = c
        .head_bucket()
        .bucket("nope")
        .send()
        .await
        .expect_err("head missing");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(404));
    assert_eq!(
        code(c.list_objects_v2().bucket("nope").send().await),
        "NoSuchBucket"
    );
    assert_eq!(
        code(c.get_bucket_location().bucket("nope").send().await),
        "NoSuchBucket"
    );
    c.get_bucket_location()
        .bucket("alpha")
        .send()
        .await
        .expect("location");
    let v = c
        .get_bucket_versioning()
        .bucket("alpha")
        .send()
        .await
        .expect("versioning");
    assert!(v.status().is_none());
    assert_eq!(
        code(c.get_bucket_cors().bucket("alpha").send().await),
        "NoSuchCORSConfiguration"
    );
    assert_eq!(
        code(c.get_bucket_tagging().bucket("alpha").send().await),
        "NoSuchTagSet"
    );
    assert_eq!(
        code(
            c.get_object_lock_configuration()
                .bucket("alpha")
                .send()
                .await
        ),
        "ObjectLockConfigurationNotFoundError"
    );
    assert_eq!(
        code(
            c.put_object()
                .bucket("nope")
                .key("k")
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
        ),
        "NoSuchBucket"
    );

    c.put_object()
        .bucket("alpha")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("put");
    assert_eq!(
        code(c.delete_bucket().bucket("alpha").send().await),
        "BucketNotEmpty"
    );
    c.delete_object()
        .bucket("alpha")
        .key("k")
        .send()
        .await
        .expect("delete object");
    c.delete_bucket()
        .bucket("alpha")
        .send()
        .await
        .expect("delete alpha");
    assert_eq!(
        code(c.delete_bucket().bucket("alpha").send().await),
        "NoSuchBucket"
    );
    let left = c.list_buckets().send().await.expect("list").buckets().len();
    assert_eq!(left, 1);
}

#[tokio::test]
async fn objects_round_trip() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("objs")
        .send()
        .await
        .expect("create");
    for (i, len) in [0usize, 1, 100 << 10, (5 << 20) + 7]
        .into_iter()
        .enumerate()
    {
        let key = format!("dir/obj-{len}");
        let body = data(len, i as u64 + 1);
        let put = c
            .put_object()
            .bucket("objs")
            .key(&key)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .expect("put");
        let etag = format!("\"{}\"", md5_hex(&body));
        assert_eq!(put.e_tag(), Some(etag.as_str()), "put etag of {len} bytes");
        let head = c
            .head_object()
            .bucket("objs")
            .key(&key)
            .send()
            .await
            .expect("head");
        assert_eq!(head.content_length(), Some(len as i64));
        assert_eq!(head.e_tag(), Some(etag.as_str()));
        // The SDK itself sends application/octet-stream.
        assert_eq!(head.content_type(), Some("application/octet-stream"));
        let got = c
            .get_object()
            .bucket("objs")
            .key(&key)
            .send()
            .await
            .expect("get");
        assert_eq!(got.e_tag(), Some(etag.as_str()));
        assert_eq!(got.content_length(), Some(len as i64));
        let bytes = got.body.collect().await.expect("body").into_bytes();
        assert!(
            bytes.as_ref() == body.as_slice(),
            "{len} bytes read back differ"
        );
        c.delete_object()
            .bucket("objs")
            .key(&key)
            .send()
            .await
            .expect("delete");
        assert_eq!(
            code(c.get_object().bucket("objs").key(&key).send().await),
            "NoSuchKey"
        );
        // Deleting again is still a success.
        c.delete_object()
            .bucket("objs")
            .key(&key)
            .send()
            .await
            .expect("delete again");
    }

    // Metadata and system headers round trip.
    c.put_object()
        .bucket("objs")
        .key("meta.txt")
        .body(ByteStream::from_static(b"hello"))
        .content_type("text/plain; charset=utf-8")
        .content_disposition("attachment; filename=\"m.txt\"")
        .cache_control("no-cache")
        .content_language("en")
        .metadata("color", "blue")
        .metadata("Shape", "round thing")
        .send()
        .await
        .expect("put with metadata");
    let h = c
        .head_object()
        .bucket("objs")
        .key("meta.txt")
        .send()
        .await
        .expect("head");
    assert_eq!(h.content_type(), Some("text/plain; charset=utf-8"));
    assert_eq!(
        h.content_disposition(),
        Some("attachment; filename=\"m.txt\"")
    );
    assert_eq!(h.cache_control(), Some("no-cache"));
    assert_eq!(h.content_language(), Some("en"));
    let m = h.metadata().expect("metadata");
    assert_eq!(m.get("color").map(String::as_str), Some("blue"));
    assert_eq!(m.get("shape").map(String::as_str), Some("round thing"));

    // Response overrides (signed request).
    let o = c
        .get_object()
        .bucket("objs")
        .key("meta.txt")
        .response_content_type("application/x-test")
        .response_cache_control("max-age=5")
        .send()
        .await
        .expect("get with overrides");
    assert_eq!(o.content_type(), Some("application/x-test"));
    assert_eq!(o.cache_control(), Some("max-age=5"));

    // User metadata over 2 KiB.
    let big = "v".repeat(2100);
    assert_eq!(
        code(
            c.put_object()
                .bucket("objs")
                .key("big-meta")
                .metadata("k", big)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
        ),
        "MetadataTooLarge"
    );

    // Conditional writes.
    assert_eq!(
        code(
            c.put_object()
                .bucket("objs")
                .key("meta.txt")
                .if_none_match("*")
                .body(ByteStream::from_static(b"y"))
                .send()
                .await
        ),
        "PreconditionFailed"
    );
    c.put_object()
        .bucket("objs")
        .key("fresh")
        .if_none_match("*")
        .body(ByteStream::from_static(b"y"))
        .send()
        .await
        .expect("if-none-match on a new key");
}

#[tokio::test]
async fn ranges_and_conditional_reads() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("rng")
        .send()
        .await
        .expect("create");
    let body = data(300_000, 7);
    c.put_object()
        .bucket("rng")
        .key("r")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("put");
    let etag = format!("\"{}\"", md5_hex(&body));

    for (range, want, content_range) in [
        ("bytes=0-0", &body[..1], "bytes 0-0/300000"),
        (
            "bytes=-10",
            &body[body.len() - 10..],
            "bytes 299990-299999/300000",
        ),
        (
            "bytes=299000-",
            &body[299_000..],
            "bytes 299000-299999/300000",
        ),
        (
            "bytes=100-199999",
            &body[100..200_000],
            "bytes 100-199999/300000",
        ),
    ] {
        let o = c
            .get_object()
            .bucket("rng")
            .key("r")
            .range(range)
            .send()
            .await
            .expect("range get");
        assert_eq!(o.content_range(), Some(content_range), "{range}");
        assert_eq!(o.content_length(), Some(want.len() as i64), "{range}");
        let got = o.body.collect().await.expect("body").into_bytes();
        assert!(got.as_ref() == want, "{range}: bytes differ");
    }
    assert_eq!(
        code(
            c.get_object()
                .bucket("rng")
                .key("r")
                .range("bytes=300000-")
                .send()
                .await
        ),
        "InvalidRange"
    );

    // Raw, to see the 416's Content-Range.
    let s = sign(
        srv.port,
        "GET",
        "/rng/r",
        &[("range", "bytes=400000-")],
        &sha256_hex(b""),
        PASSWORD,
        SystemTime::now(),
    );
    let r = raw_request(srv.port, &request_bytes("GET", "/rng/r", &s.headers, b"")).expect("raw");
    assert_eq!(r.status, 416);
    assert_eq!(r.code(), "InvalidRange");
    assert_eq!(r.header("content-range"), Some("bytes */300000"));

    let e = c
        .get_object()
        .bucket("rng")
        .key("r")
        .if_none_match(&etag)
        .send()
        .await
        .expect_err("304");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(304));
    assert_eq!(
        code(
            c.get_object()
                .bucket("rng")
                .key("r")
                .if_match("\"0000\"")
                .send()
                .await
        ),
        "PreconditionFailed"
    );
    c.get_object()
        .bucket("rng")
        .key("r")
        .if_match(&etag)
        .send()
        .await
        .expect("if-match hit");
    let e = c
        .head_object()
        .bucket("rng")
        .key("r")
        .if_none_match(&etag)
        .send()
        .await
        .expect_err("head 304");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(304));
}

#[tokio::test]
async fn presigned_urls() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("pre")
        .send()
        .await
        .expect("create");
    let body = data(70_000, 3);
    let cfg = PresigningConfig::expires_in(Duration::from_secs(300)).expect("presign config");

    let put = c
        .put_object()
        .bucket("pre")
        .key("p/k")
        .presigned(cfg.clone())
        .await
        .expect("presign put");
    let url = http::Uri::try_from(put.uri()).expect("uri");
    let path = url.path_and_query().expect("path").as_str().to_owned();
    let mut headers: Vec<(String, String)> = put
        .headers()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    headers.push(("host".into(), format!("127.0.0.1:{}", srv.port)));
    headers.push(("content-length".into(), body.len().to_string()));
    let r = raw_request(srv.port, &request_bytes("PUT", &path, &headers, &body))
        .expect("presigned put");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("etag"),
        Some(format!("\"{}\"", md5_hex(&body)).as_str())
    );

    let get = c
        .get_object()
        .bucket("pre")
        .key("p/k")
        .presigned(cfg)
        .await
        .expect("presign get");
    let url = http::Uri::try_from(get.uri()).expect("uri");
    let path = url.path_and_query().expect("path").as_str().to_owned();
    let mut headers: Vec<(String, String)> = get
        .headers()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    headers.push(("host".into(), format!("127.0.0.1:{}", srv.port)));
    let r =
        raw_request(srv.port, &request_bytes("GET", &path, &headers, b"")).expect("presigned get");
    assert_eq!(r.status, 200);
    assert!(r.body == body, "presigned GET body differs");

    // A tampered signature is refused.
    let bad = path.replace("X-Amz-Signature=", "X-Amz-Signature=00");
    let r = raw_request(srv.port, &request_bytes("GET", &bad, &headers, b"")).expect("tampered");
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn copy_object() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("src")
        .send()
        .await
        .expect("create");
    c.create_bucket()
        .bucket("dst")
        .send()
        .await
        .expect("create");
    let body = data(200_000, 11);
    c.put_object()
        .bucket("src")
        .key("o")
        .content_type("text/x-src")
        .metadata("origin", "src")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("put");
    let etag = format!("\"{}\"", md5_hex(&body));

    // COPY (default): data and metadata both travel.
    let r = c
        .copy_object()
        .bucket("dst")
        .key("copy")
        .copy_source("src/o")
        .send()
        .await
        .expect("copy");
    assert_eq!(
        r.copy_object_result().and_then(|x| x.e_tag()),
        Some(etag.as_str())
    );
    let h = c
        .head_object()
        .bucket("dst")
        .key("copy")
        .send()
        .await
        .expect("head");
    assert_eq!(h.content_type(), Some("text/x-src"));
    assert_eq!(
        h.metadata()
            .and_then(|m| m.get("origin"))
            .map(String::as_str),
        Some("src")
    );
    assert!(get_bytes(&c, "dst", "copy").await == body);

    // REPLACE: new metadata, same data.
    c.copy_object()
        .bucket("src")
        .key("o2")
        .copy_source("src/o")
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .content_type("text/x-new")
        .metadata("origin", "replaced")
        .send()
        .await
        .expect("copy replace");
    let h = c
        .head_object()
        .bucket("src")
        .key("o2")
        .send()
        .await
        .expect("head");
    assert_eq!(h.content_type(), Some("text/x-new"));
    assert_eq!(
        h.metadata()
            .and_then(|m| m.get("origin"))
            .map(String::as_str),
        Some("replaced")
    );
    assert_eq!(h.e_tag(), Some(etag.as_str()));

    // Onto itself: only with REPLACE.
    assert_eq!(
        code(
            c.copy_object()
                .bucket("src")
                .key("o")
                .copy_source("src/o")
                .send()
                .await
        ),
        "InvalidRequest"
    );
    c.copy_object()
        .bucket("src")
        .key("o")
        .copy_source("src/o")
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .metadata("origin", "self")
        .send()
        .await
        .expect("self copy with replace");
    assert!(get_bytes(&c, "src", "o").await == body);

    // Source preconditions and missing sources.
    assert_eq!(
        code(
            c.copy_object()
                .bucket("dst")
                .key("x")
                .copy_source("src/o")
                .copy_source_if_match("\"nope\"")
                .send()
                .await
        ),
        "PreconditionFailed"
    );
    assert_eq!(
        code(
            c.copy_object()
                .bucket("dst")
                .key("x")
                .copy_source("src/missing")
                .send()
                .await
        ),
        "NoSuchKey"
    );
    assert_eq!(
        code(
            c.copy_object()
                .bucket("dst")
                .key("x")
                .copy_source("nobucket/o")
                .send()
                .await
        ),
        "NoSuchBucket"
    );
}

#[tokio::test]
async fn delete_objects() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("del")
        .send()
        .await
        .expect("create");
    for i in 0..20 {
        c.put_object()
            .bucket("del")
            .key(format!("k{i:02}"))
            .body(ByteStream::from(vec![i as u8; 10]))
            .send()
            .await
            .expect("put");
    }
    let ids = |keys: Vec<String>| {
        Delete::builder()
            .set_objects(Some(
                keys.into_iter()
                    .map(|k| ObjectIdentifier::builder().key(k).build().expect("id"))
                    .collect(),
            ))
            .build()
            .expect("delete")
    };
    let mut keys: Vec<String> = (0..10).map(|i| format!("k{i:02}")).collect();
    keys.push("never-existed".into());
    let r = c
        .delete_objects()
        .bucket("del")
        .delete(ids(keys))
        .send()
        .await
        .expect("delete objects");
    assert_eq!(r.deleted().len(), 11);
    assert!(r.errors().is_empty());

    let quiet = Delete::builder()
        .set_objects(Some(
            (10..20)
                .map(|i| {
                    ObjectIdentifier::builder()
                        .key(format!("k{i:02}"))
                        .build()
                        .expect("id")
                })
                .collect(),
        ))
        .quiet(true)
        .build()
        .expect("delete");
    let r = c
        .delete_objects()
        .bucket("del")
        .delete(quiet)
        .send()
        .await
        .expect("quiet delete");
    assert!(r.deleted().is_empty());
    assert!(r.errors().is_empty());
    let left = c
        .list_objects_v2()
        .bucket("del")
        .send()
        .await
        .expect("list");
    assert_eq!(left.key_count(), Some(0));
    assert_eq!(
        code(
            c.delete_objects()
                .bucket("gone")
                .delete(ids(vec!["a".into()]))
                .send()
                .await
        ),
        "NoSuchBucket"
    );
}

#[tokio::test]
async fn listing_with_delimiter_and_pagination() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("list")
        .send()
        .await
        .expect("create");
    // 2,500 keys: 2,400 under five "directories", 100 at the top.
    let keys: Vec<String> = (0..2500)
        .map(|i| {
            if i < 2400 {
                format!("dir{}/key{i:05}", i % 5)
            } else {
                format!("top{i:05}")
            }
        })
        .collect();
    stream::iter(keys.clone())
        .map(|k| {
            let c = c.clone();
            async move {
                c.put_object()
                    .bucket("list")
                    .key(k)
                    .body(ByteStream::from_static(b"x"))
                    .send()
                    .await
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await
        .expect("puts");
    let mut sorted = keys.clone();
    sorted.sort();

    // V2, no delimiter, pages of 1,000 through continuation tokens.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let r = c
            .list_objects_v2()
            .bucket("list")
            .set_continuation_token(token.clone())
            .send()
            .await
            .expect("list v2");
        pages += 1;
        assert_eq!(r.max_keys(), Some(1000));
        seen.extend(
            r.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        assert_eq!(r.key_count(), Some(r.contents().len() as i32));
        if r.is_truncated() == Some(true) {
            token = r.next_continuation_token().map(str::to_owned);
            assert!(token.is_some());
        } else {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, sorted);

    // V2 with a delimiter: five common prefixes then the top-level keys,
    // paged in small pages with the SDK's paginator.
    let mut prefixes = Vec::new();
    let mut top = Vec::new();
    let mut pages = c
        .list_objects_v2()
        .bucket("list")
        .delimiter("/")
        .max_keys(7)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.expect("page");
        prefixes.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_owned)),
        );
        top.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    assert_eq!(prefixes, ["dir0/", "dir1/", "dir2/", "dir3/", "dir4/"]);
    assert_eq!(top.len(), 100);
    assert!(top.iter().all(|k| k.starts_with("top")));

    // Prefix + start-after.
    let r = c
        .list_objects_v2()
        .bucket("list")
        .prefix("dir3/")
        .start_after("dir3/key02000")
        .send()
        .await
        .expect("prefix list");
    let want: Vec<&String> = sorted
        .iter()
        .filter(|k| k.starts_with("dir3/") && k.as_str() > "dir3/key02000")
        .collect();
    let got: Vec<String> = r
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    assert_eq!(got.len(), want.len());

    // V1 with a delimiter: NextMarker drives the pages.
    let mut marker: Option<String> = None;
    let mut names = Vec::new();
    loop {
        let r = c
            .list_objects()
            .bucket("list")
            .delimiter("/")
            .max_keys(40)
            .set_marker(marker.clone())
            .send()
            .await
            .expect("list v1");
        names.extend(
            r.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_owned)),
        );
        names.extend(
            r.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        if r.is_truncated() == Some(true) {
            marker = r.next_marker().map(str::to_owned);
            assert!(marker.is_some(), "NextMarker with a delimiter");
        } else {
            break;
        }
    }
    assert_eq!(names.len(), 105);

    // V1 without a delimiter: no NextMarker, the last key continues.
    let r = c
        .list_objects()
        .bucket("list")
        .max_keys(1000)
        .send()
        .await
        .expect("list v1");
    assert_eq!(r.contents().len(), 1000);
    assert_eq!(r.is_truncated(), Some(true));
    assert!(r.next_marker().is_none());
    let last = r
        .contents()
        .last()
        .and_then(|o| o.key())
        .expect("last")
        .to_owned();
    let r = c
        .list_objects()
        .bucket("list")
        .marker(&last)
        .send()
        .await
        .expect("list v1 page 2");
    assert_eq!(
        r.contents().first().and_then(|o| o.key()),
        Some(sorted[1000].as_str())
    );

    // Bad tokens.
    assert_eq!(
        code(
            c.list_objects_v2()
                .bucket("list")
                .continuation_token("!!notatoken!!")
                .send()
                .await
        ),
        "InvalidArgument"
    );
}

#[tokio::test]
async fn authentication_failures() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("auth")
        .send()
        .await
        .expect("create");

    let wrong = client(&srv.endpoint(), USER, "not-the-secret");
    assert_eq!(
        code(wrong.list_buckets().send().await),
        "SignatureDoesNotMatch"
    );
    let unknown = client(&srv.endpoint(), "NOSUCHKEY", PASSWORD);
    assert_eq!(
        code(unknown.list_buckets().send().await),
        "InvalidAccessKeyId"
    );

    // Anonymous.
    let r = raw_request(
        srv.port,
        b"GET /auth HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("anon");
    assert_eq!(r.status, 403);
    assert_eq!(r.code(), "AccessDenied");
    assert!(r.header("x-amz-request-id").is_some_and(|v| !v.is_empty()));
    assert!(r.header("x-amz-id-2").is_some());

    // X-Amz-Date 20 minutes off.
    let then = SystemTime::now() - Duration::from_secs(20 * 60);
    let s = sign(
        srv.port,
        "GET",
        "/auth",
        &[],
        &sha256_hex(b""),
        PASSWORD,
        then,
    );
    let r = raw_request(srv.port, &request_bytes("GET", "/auth", &s.headers, b"")).expect("skewed");
    assert_eq!(r.status, 403);
    assert_eq!(r.code(), "RequestTimeTooSkewed");

    // The same request signed now works (the signer is right).
    let s = sign(
        srv.port,
        "GET",
        "/auth",
        &[],
        &sha256_hex(b""),
        PASSWORD,
        SystemTime::now(),
    );
    let r = raw_request(srv.port, &request_bytes("GET", "/auth", &s.headers, b"")).expect("fresh");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    // Request ids are unique.
    let a = raw_request(
        srv.port,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("a");
    let b = raw_request(
        srv.port,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("b");
    assert_ne!(a.header("x-amz-request-id"), b.header("x-amz-request-id"));
}

#[tokio::test]
async fn body_integrity_failures() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("bodies")
        .send()
        .await
        .expect("create");

    // Content-MD5 of other bytes.
    let wrong_md5 = "1B2M2Y8AsgTpgAmY7PhCfg=="; // MD5 of ""
    assert_eq!(
        code(
            c.put_object()
                .bucket("bodies")
                .key("md5")
                .content_md5(wrong_md5)
                .body(ByteStream::from_static(b"hello"))
                .send()
                .await
        ),
        "BadDigest"
    );
    assert_eq!(
        code(c.head_object().bucket("bodies").key("md5").send().await),
        "NotFound"
    );
    assert_eq!(
        code(
            c.put_object()
                .bucket("bodies")
                .key("md5")
                .content_md5("not base64!")
                .body(ByteStream::from_static(b"hello"))
                .send()
                .await
        ),
        "InvalidDigest"
    );

    // Signed payload hash that does not match the body.
    let body = b"the real body";
    let s = sign(
        srv.port,
        "PUT",
        "/bodies/sha",
        &[("content-length", &body.len().to_string())],
        &sha256_hex(b"some other body"),
        PASSWORD,
        SystemTime::now(),
    );
    let r = raw_request(
        srv.port,
        &request_bytes("PUT", "/bodies/sha", &s.headers, body),
    )
    .expect("sha put");
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "XAmzContentSHA256Mismatch")
    );
    assert_eq!(
        code(c.get_object().bucket("bodies").key("sha").send().await),
        "NoSuchKey"
    );

    // A correct streaming upload, then one with a bad second chunk signature.
    let payload = data(40_000, 5);
    let r = streaming_put(srv.port, "/bodies/stream-ok", &payload, None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(get_bytes(&c, "bodies", "stream-ok").await == payload);
    // Sent without a Content-Type: S3's default comes back.
    let h = c
        .head_object()
        .bucket("bodies")
        .key("stream-ok")
        .send()
        .await
        .expect("head");
    assert_eq!(h.content_type(), Some("binary/octet-stream"));
    let r = streaming_put(srv.port, "/bodies/stream-bad", &payload, Some(1));
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "SignatureDoesNotMatch")
    );
    assert_eq!(
        code(
            c.get_object()
                .bucket("bodies")
                .key("stream-bad")
                .send()
                .await
        ),
        "NoSuchKey"
    );
    // A bad signature on the final (empty) chunk also fails before commit.
    let r = streaming_put(srv.port, "/bodies/stream-bad-last", &payload, Some(5));
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "SignatureDoesNotMatch")
    );
    assert_eq!(
        code(
            c.get_object()
                .bucket("bodies")
                .key("stream-bad-last")
                .send()
                .await
        ),
        "NoSuchKey"
    );

    // 25 chunks: the first 16 are hashed together (the 16-lane kernel where
    // the CPU has it), the rest one by one; a bad signature in either group
    // is caught, and the good upload reads back whole.
    let many = data(25 * 8192, 6);
    let r = streaming_put(srv.port, "/bodies/stream-many", &many, None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(get_bytes(&c, "bodies", "stream-many").await == many);
    for bad in [3, 20] {
        let key = format!("stream-many-bad-{bad}");
        let r = streaming_put(srv.port, &format!("/bodies/{key}"), &many, Some(bad));
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "SignatureDoesNotMatch"),
            "chunk {bad}"
        );
        assert_eq!(
            code(c.get_object().bucket("bodies").key(&key).send().await),
            "NoSuchKey"
        );
    }

    // STREAMING-UNSIGNED-PAYLOAD-TRAILER with a right and a wrong CRC32.
    for (key, good) in [("trailer-ok", true), ("trailer-bad", false)] {
        let payload = data(20_000, 9);
        let mut crc = crc32fast::hash(&payload);
        if !good {
            crc ^= 1;
        }
        let r = unsigned_trailer_put(srv.port, &format!("/bodies/{key}"), &payload, 8192, crc);
        if good {
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            assert!(get_bytes(&c, "bodies", key).await == payload);
            let h = c
                .head_object()
                .bucket("bodies")
                .key(key)
                .send()
                .await
                .expect("head");
            assert_eq!(h.content_encoding(), None, "aws-chunked is not stored");
        } else {
            assert_eq!((r.status, r.code().as_str()), (400, "BadDigest"));
            assert_eq!(
                code(c.get_object().bucket("bodies").key(key).send().await),
                "NoSuchKey"
            );
        }
    }

    // A wrong x-amz-checksum-crc32 header on a plain body.
    let s = sign(
        srv.port,
        "PUT",
        "/bodies/crc-header",
        &[
            ("content-length", "5"),
            ("x-amz-checksum-crc32", "AAAAAA=="),
        ],
        "UNSIGNED-PAYLOAD",
        PASSWORD,
        SystemTime::now(),
    );
    let r = raw_request(
        srv.port,
        &request_bytes("PUT", "/bodies/crc-header", &s.headers, b"hello"),
    )
    .expect("crc put");
    assert_eq!((r.status, r.code().as_str()), (400, "BadDigest"));

    // Expect: 100-continue: the interim response comes once the body is
    // wanted, then the upload completes.
    let payload = data(50_000, 21);
    let s = sign(
        srv.port,
        "PUT",
        "/bodies/continue",
        &[
            ("content-length", &payload.len().to_string()),
            ("expect", "100-continue"),
        ],
        "UNSIGNED-PAYLOAD",
        PASSWORD,
        SystemTime::now(),
    );
    {
        let mut sock = TcpStream::connect(("127.0.0.1", srv.port)).expect("connect");
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let head = request_bytes("PUT", "/bodies/continue", &s.headers, b"");
        sock.write_all(&head).expect("write head");
        let mut interim = [0u8; 25];
        sock.read_exact(&mut interim).expect("read 100 Continue");
        assert!(
            interim.starts_with(b"HTTP/1.1 100 Continue\r\n\r\n"),
            "{:?}",
            String::from_utf8_lossy(&interim)
        );
        sock.write_all(&payload).expect("write body");
        let mut rest = Vec::new();
        let _ = sock.read_to_end(&mut rest);
        assert!(
            rest.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&rest)
        );
    }
    assert!(get_bytes(&c, "bodies", "continue").await == payload);

    // Over 5 GiB is refused from the headers, before any body is read.
    let huge = (6u64 << 30).to_string();
    let s = sign(
        srv.port,
        "PUT",
        "/bodies/huge",
        &[("content-length", &huge)],
        "UNSIGNED-PAYLOAD",
        PASSWORD,
        SystemTime::now(),
    );
    let r = raw_request(
        srv.port,
        &request_bytes("PUT", "/bodies/huge", &s.headers, b""),
    )
    .expect("huge put");
    assert_eq!((r.status, r.code().as_str()), (400, "EntityTooLarge"));

    // A body shorter than its Content-Length: the client gives up half way.
    let s = sign(
        srv.port,
        "PUT",
        "/bodies/short",
        &[("content-length", "100")],
        "UNSIGNED-PAYLOAD",
        PASSWORD,
        SystemTime::now(),
    );
    let req = request_bytes("PUT", "/bodies/short", &s.headers, b"only 20 bytes here..");
    {
        let mut sock = TcpStream::connect(("127.0.0.1", srv.port)).expect("connect");
        sock.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        sock.write_all(&req).expect("write");
        sock.shutdown(std::net::Shutdown::Write).expect("shutdown");
        let mut answer = Vec::new();
        let _ = sock.read_to_end(&mut answer);
        let text = String::from_utf8_lossy(&answer);
        assert!(
            text.starts_with("HTTP/1.1 400 ")
                && text.contains("<Code>IncompleteBody</Code>")
                && text.contains("<RequestId>"),
            "a short body: {text}"
        );
    }
    assert_eq!(
        code(c.get_object().bucket("bodies").key("short").send().await),
        "NoSuchKey"
    );

    // The SDK's default checksum behaviour (CRC32, aws-chunked trailer where
    // it chooses to) round-trips.
    let payload = data(300_000, 13);
    c.put_object()
        .bucket("bodies")
        .key("sdk-default")
        .body(ByteStream::from(payload.clone()))
        .send()
        .await
        .expect("sdk put");
    assert!(get_bytes(&c, "bodies", "sdk-default").await == payload);
}

#[tokio::test]
async fn not_implemented_and_bad_requests() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("misc")
        .send()
        .await
        .expect("create");
    assert_eq!(
        code(c.get_object_tagging().bucket("misc").key("k").send().await),
        "NoSuchKey"
    );
    let r = c
        .list_multipart_uploads()
        .bucket("misc")
        .send()
        .await
        .expect("empty upload list");
    assert!(r.uploads().is_empty());
    assert_eq!(
        code(
            c.get_object()
                .bucket("misc")
                .key("k")
                .version_id("v1")
                .send()
                .await
        ),
        "InvalidArgument"
    );
    let long = "k".repeat(1025);
    assert_eq!(
        code(
            c.put_object()
                .bucket("misc")
                .key(long)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
        ),
        "KeyTooLongError"
    );

    // Garbage never crashes the server.
    for req in [
        &b"PUT /misc/k HTTP/1.1\r\nHost: x\r\nAuthorization: AWS4-HMAC-SHA256 garbage\r\nConnection: close\r\n\r\n"[..],
        b"GET /misc?list-type=2 HTTP/1.1\r\nHost: x\r\nAuthorization: AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=zz\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\nConnection: close\r\n\r\n",
        b"DELETE /misc HTTP/1.1\r\nHost: x\r\nX-Amz-Date: 99999999T999999Z\r\nConnection: close\r\n\r\n",
    ] {
        let r = raw_request(srv.port, req).expect("garbage");
        assert!((400..500).contains(&r.status), "status {}", r.status);
    }
    c.head_bucket()
        .bucket("misc")
        .send()
        .await
        .expect("still serving");
}

/// What cairn does not implement answers 501 NotImplemented with an S3
/// error document (code, message, the request id of the response header),
/// as docs/S3_COMPATIBILITY.md promises, and changes nothing: never a wrong
/// success, never a 500.
#[tokio::test]
async fn unsupported_operations_answer_501_not_implemented_with_an_s3_error() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("nyi")
        .send()
        .await
        .expect("create");
    c.put_object()
        .bucket("nyi")
        .key("k")
        .body(ByteStream::from_static(b"kept"))
        .send()
        .await
        .expect("put");
    let port = srv.port;
    let answers = tokio::task::spawn_blocking(move || {
        [
            ("PUT", "/nyi?inventory"),
            ("PUT", "/nyi?replication"),
            ("PUT", "/nyi/k?torrent"),
            ("POST", "/nyi/k?restore"),
        ]
        .into_iter()
        .map(|(method, path)| {
            let s = sign(
                port,
                method,
                path,
                &[("content-length", "0")],
                "UNSIGNED-PAYLOAD",
                PASSWORD,
                SystemTime::now(),
            );
            let r = raw_request(port, &request_bytes(method, path, &s.headers, b""))
                .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            (method, path, r)
        })
        .collect::<Vec<_>>()
    })
    .await
    .expect("join");
    for (method, path, r) in answers {
        let body = String::from_utf8_lossy(&r.body).into_owned();
        assert_eq!(r.status, 501, "{method} {path}: {body}");
        assert_eq!(r.code(), "NotImplemented", "{method} {path}: {body}");
        assert!(
            r.header("content-type")
                .is_some_and(|t| t.contains("application/xml")),
            "{method} {path}: {:?}",
            r.headers
        );
        let id = r.header("x-amz-request-id").expect("a request id");
        assert!(
            body.contains("<Error>")
                && body.contains("<Message>")
                && body.contains(&format!("<RequestId>{id}</RequestId>")),
            "{method} {path}: {body}"
        );
    }
    // The SDK sees the code; nothing was changed.
    assert_eq!(
        code(c.get_bucket_replication().bucket("nyi").send().await),
        "NotImplemented"
    );
    assert_eq!(
        code(c.get_bucket_website().bucket("nyi").send().await),
        "NoSuchWebsiteConfiguration"
    );
    assert_eq!(
        code(
            c.get_bucket_lifecycle_configuration()
                .bucket("nyi")
                .send()
                .await
        ),
        "NoSuchLifecycleConfiguration"
    );
    assert_eq!(
        code(c.get_bucket_policy().bucket("nyi").send().await),
        "NoSuchBucketPolicy"
    );
    assert!(get_bytes(&c, "nyi", "k").await == b"kept");
}

/// `GET /metrics` (anonymous) merges every core's request counters and
/// latency histograms with the engine's counters; a signed request for
/// /metrics is still S3 (a bucket may be named "metrics").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_on_every_core() {
    const PUTS: u64 = 16;
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("metered")
        .send()
        .await
        .expect("create");
    // A client per PUT: a connection each, spread over both cores by
    // SO_REUSEPORT (all 16 on one core: odds of 1 in 2^15).
    for i in 0..PUTS {
        srv.client()
            .put_object()
            .bucket("metered")
            .key(format!("k{i}"))
            .body(ByteStream::from(data(3000, i)))
            .send()
            .await
            .expect("put");
    }
    assert_eq!(
        code(c.get_object().bucket("metered").key("nope").send().await),
        "NoSuchKey"
    );
    // A second read on the same core comes from that core's read cache. The
    // SDK may open a new connection (another core) between reads: of three
    // reads on two cores, two share one.
    for _ in 0..3 {
        let got = c
            .get_object()
            .bucket("metered")
            .key("k0")
            .send()
            .await
            .expect("get");
        assert_eq!(got.body.collect().await.unwrap().to_vec(), data(3000, 0));
    }
    // Every scrape (a connection each, so served by either core) counts every
    // core's requests: a core reporting only its own would miss some PUTs.
    let port = srv.port;
    let scrapes = tokio::task::spawn_blocking(move || {
        (0..6)
            .map(|_| {
                raw_request(
                    port,
                    b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                )
                .expect("metrics")
            })
            .collect::<Vec<_>>()
    })
    .await
    .expect("join");
    for r in &scrapes {
        assert_eq!(r.status, 200);
        let text = String::from_utf8_lossy(&r.body);
        assert!(
            text.contains(&format!(
                "cairn_requests_total{{op=\"PutObject\",status=\"200\"}} {PUTS}"
            )),
            "{text}"
        );
    }
    let text = String::from_utf8_lossy(&scrapes[0].body).into_owned();
    assert!(
        text.contains("cairn_requests_total{op=\"GetObject\",status=\"404\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("cairn_request_duration_seconds{op=\"PutObject\",quantile=\"0.99\"}"),
        "{text}"
    );
    assert!(text.contains("cairn_drive_online{drive=\"3\"} 1"), "{text}");
    let counter = |name: &str| -> u64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {text}"));
        line[name.len() + 1..].parse().expect("a count")
    };
    assert!(counter("cairn_read_cache_hits_total") >= 1, "{text}");
    assert!(counter("cairn_read_cache_misses_total") >= 1, "{text}");
    // Signed, /metrics is the bucket "metrics", which does not exist.
    assert_eq!(
        code(c.list_objects_v2().bucket("metrics").send().await),
        "NoSuchBucket"
    );
}
