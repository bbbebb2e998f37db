//! Server-side encryption end to end (issue 14): the real `cairn` binary
//! driven by the AWS SDK for Rust. Every mode (none, SSE-S3, SSE-KMS with a
//! named or the default key, SSE-C) round trips single-part objects of the
//! sizes around a package (64 KiB) and multipart objects, ranged reads
//! across package and part boundaries come back byte for byte, every
//! response carries the SSE headers S3 returns, copies go between every
//! pair of modes, SSE-C without the right key is refused (and over plain
//! HTTP unless allowed, while HTTPS needs no flag), KMS key rotation and disabling take effect on
//! every core at once, and no plaintext of an encrypted object reaches the
//! drives.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::RequestId;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use aws_sdk_s3::Client;
use base64::Engine as _;
use md5::Digest as _;
use rand::{RngCore, SeedableRng};

mod binary;
use binary::cli::Cli;
use binary::*;

const MIB: usize = 1 << 20;
const PKG: usize = 64 << 10;
const KEY_A: [u8; 32] = [0xA1; 32];
const KEY_B: [u8; 32] = [0xB2; 32];
/// The encryption context the named-key mode sends.
const CONTEXT_JSON: &str = r#"{"purpose":"sse-test"}"#;

fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut v);
    v
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn key_md5(k: &[u8; 32]) -> String {
    b64(&md5::Md5::digest(k))
}

/// A server that accepts SSE-C over plain HTTP (the tests' transport).
fn server() -> Server {
    Server::start_with(&["--sse-c-allow-http"])
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum M {
    Plain,
    S3,
    /// SSE-KMS with this key (and a context), or the default key.
    Kms(Option<&'static str>),
    Customer([u8; 32]),
}

const MODES: [M; 5] = [
    M::Plain,
    M::S3,
    M::Kms(Some("app")),
    M::Kms(None),
    M::Customer(KEY_A),
];

/// A write's SSE headers for mode `$m` on any SDK builder that has them.
macro_rules! with_mode {
    ($b:expr, $m:expr) => {{
        let b = $b;
        match $m {
            M::Plain => b,
            M::S3 => b.server_side_encryption(ServerSideEncryption::Aes256),
            M::Kms(None) => b.server_side_encryption(ServerSideEncryption::AwsKms),
            M::Kms(Some(id)) => b
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(id)
                .ssekms_encryption_context(b64(CONTEXT_JSON.as_bytes())),
            M::Customer(k) => b
                .sse_customer_algorithm("AES256")
                .sse_customer_key(b64(&k))
                .sse_customer_key_md5(key_md5(&k)),
        }
    }};
}

/// The SSE-C headers a read (or a part) of mode `$m` repeats.
macro_rules! with_key {
    ($b:expr, $m:expr) => {{
        let b = $b;
        match $m {
            M::Customer(k) => b
                .sse_customer_algorithm("AES256")
                .sse_customer_key(b64(&k))
                .sse_customer_key_md5(key_md5(&k)),
            _ => b,
        }
    }};
}

/// A copy source's SSE-C headers.
macro_rules! with_source_key {
    ($b:expr, $m:expr) => {{
        let b = $b;
        match $m {
            M::Customer(k) => b
                .copy_source_sse_customer_algorithm("AES256")
                .copy_source_sse_customer_key(b64(&k))
                .copy_source_sse_customer_key_md5(key_md5(&k)),
            _ => b,
        }
    }};
}

/// The SSE headers of a response: (encryption, KMS key, SSE-C algorithm,
/// SSE-C key MD5).
type Seen = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

macro_rules! seen {
    ($o:expr) => {{
        let o = &$o;
        (
            o.server_side_encryption().map(|s| s.as_str().to_owned()),
            o.ssekms_key_id().map(str::to_owned),
            o.sse_customer_algorithm().map(str::to_owned),
            o.sse_customer_key_md5().map(str::to_owned),
        )
    }};
}

fn expected(m: M) -> Seen {
    let arn = |id: &str| Some(format!("arn:aws:kms:us-east-1:000000000000:key/{id}"));
    match m {
        M::Plain => (None, None, None, None),
        M::S3 => (Some("AES256".into()), None, None, None),
        M::Kms(id) => (
            Some("aws:kms".into()),
            arn(id.unwrap_or("cairn-sse-s3")),
            None,
            None,
        ),
        M::Customer(k) => (None, None, Some("AES256".into()), Some(key_md5(&k))),
    }
}

/// Inclusive byte ranges of an object of `n` bytes around package and the
/// given part boundaries, each non-empty.
fn ranges(n: usize, boundaries: &[usize]) -> Vec<(usize, usize)> {
    let mut marks: Vec<usize> = vec![0, PKG, 2 * PKG, n];
    marks.extend_from_slice(boundaries);
    let mut out = BTreeSet::new();
    for &b in &marks {
        for (a, z) in [
            (b.saturating_sub(1), b),
            (b.saturating_sub(2), b + 1),
            (b, b),
        ] {
            if a <= z && z < n {
                out.insert((a, z));
            }
        }
    }
    if n > 2 {
        out.insert((1, n - 2));
    }
    if n > 0 {
        out.insert((n - 1, n - 1));
    }
    out.into_iter().collect()
}

async fn get_all(c: &Client, bucket: &str, key: &str, m: M) -> Vec<u8> {
    let o = with_key!(c.get_object().bucket(bucket).key(key), m)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {key} ({m:?}): {e:?}"));
    assert_eq!(seen!(o), expected(m), "GET {key}");
    o.body.collect().await.expect("body").into_bytes().to_vec()
}

async fn check_ranges(c: &Client, bucket: &str, key: &str, m: M, data: &[u8], parts: &[usize]) {
    for (a, z) in ranges(data.len(), parts) {
        let o = with_key!(
            c.get_object()
                .bucket(bucket)
                .key(key)
                .range(format!("bytes={a}-{z}")),
            m
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("range {a}-{z} of {key} ({m:?}): {e:?}"));
        let got = o.body.collect().await.expect("body").into_bytes();
        assert!(
            got[..] == data[a..=z],
            "range {a}-{z} of {key} ({m:?}, {} bytes) differs",
            data.len()
        );
    }
}

fn status<E>(e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> u16 {
    e.raw_response().map_or(0, |r| r.status().as_u16())
}

/// The request id's core digits (`x-amz-request-id`: time, core, counter).
fn core_of(request_id: &str) -> String {
    request_id.get(11..13).unwrap_or("").to_owned()
}

#[tokio::test]
async fn single_part_objects_round_trip_in_every_mode_with_ranges_and_headers() {
    let s = server();
    let cli = Cli::for_server(&s);
    cli.json(&["kms", "key", "create", "local", "app"]);
    let c = s.client();
    c.create_bucket()
        .bucket("bkt")
        .send()
        .await
        .expect("bucket");
    for (mi, m) in MODES.into_iter().enumerate() {
        for (si, size) in [0, 1, PKG - 1, PKG, PKG + 1, MIB + 3]
            .into_iter()
            .enumerate()
        {
            let key = format!("m{mi}/s{size}");
            let data = bytes(size, (mi * 10 + si) as u64);
            let put = with_mode!(
                c.put_object()
                    .bucket("bkt")
                    .key(&key)
                    .body(ByteStream::from(data.clone())),
                m
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {key} ({m:?}): {e:?}"));
            assert_eq!(seen!(put), expected(m), "PUT {key}");
            let etag = put.e_tag().unwrap_or("").trim_matches('"').to_owned();
            match m {
                // SSE-C: the ETag is not the plaintext's MD5.
                M::Customer(_) => assert_ne!(etag, md5_hex(&data), "{key}"),
                _ => assert_eq!(etag, md5_hex(&data), "{key}"),
            }
            if let M::Kms(Some(_)) = m {
                let ctx = put.ssekms_encryption_context().expect("context echoed");
                let ctx: serde_json::Value = serde_json::from_slice(
                    &base64::engine::general_purpose::STANDARD
                        .decode(ctx)
                        .expect("base64"),
                )
                .expect("json");
                assert_eq!(ctx["purpose"], "sse-test");
                assert_eq!(ctx["aws:s3:arn"], format!("arn:aws:s3:::bkt/{key}"));
            }
            let head = with_key!(c.head_object().bucket("bkt").key(&key), m)
                .send()
                .await
                .unwrap_or_else(|e| panic!("head {key}: {e:?}"));
            assert_eq!(seen!(head), expected(m), "HEAD {key}");
            assert_eq!(head.content_length(), Some(size as i64));
            assert_eq!(head.e_tag().map(|e| e.trim_matches('"')), Some(&*etag));
            assert!(get_all(&c, "bkt", &key, m).await == data, "{key} ({m:?})");
            check_ranges(&c, "bkt", &key, m, &data, &[]).await;
        }
    }
}

#[tokio::test]
async fn multipart_objects_round_trip_in_every_mode_with_ranges_across_parts() {
    let s = server();
    let cli = Cli::for_server(&s);
    cli.json(&["kms", "key", "create", "local", "app"]);
    let c = s.client();
    c.create_bucket()
        .bucket("bkt")
        .send()
        .await
        .expect("bucket");
    let sizes = [5 * MIB + 3, 5 * MIB + PKG + 1, 70_001];
    for (mi, m) in MODES.into_iter().enumerate() {
        let key = format!("mp{mi}");
        let up = with_mode!(c.create_multipart_upload().bucket("bkt").key(&key), m)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create ({m:?}): {e:?}"));
        assert_eq!(seen!(up), expected(m), "CreateMultipartUpload");
        let id = up.upload_id().expect("id").to_owned();
        let mut data = Vec::new();
        let mut done = Vec::new();
        for (i, size) in sizes.into_iter().enumerate() {
            let part = bytes(size, (mi * 10 + i) as u64 + 100);
            data.extend_from_slice(&part);
            let n = i as i32 + 1;
            let p = with_key!(
                c.upload_part()
                    .bucket("bkt")
                    .key(&key)
                    .upload_id(&id)
                    .part_number(n)
                    .body(ByteStream::from(part)),
                m
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("part {n} ({m:?}): {e:?}"));
            assert_eq!(seen!(p), expected(m), "UploadPart");
            done.push(
                CompletedPart::builder()
                    .part_number(n)
                    .e_tag(p.e_tag().expect("etag"))
                    .build(),
            );
        }
        let fin = c
            .complete_multipart_upload()
            .bucket("bkt")
            .key(&key)
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(done))
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("complete ({m:?}): {e:?}"));
        let (sse, kms, _, _) = expected(m);
        assert_eq!(
            (
                fin.server_side_encryption().map(|s| s.as_str().to_owned()),
                fin.ssekms_key_id().map(str::to_owned)
            ),
            (sse, kms),
            "CompleteMultipartUpload"
        );
        assert!(get_all(&c, "bkt", &key, m).await == data, "{key} ({m:?})");
        let b1 = sizes[0];
        let b2 = sizes[0] + sizes[1];
        check_ranges(&c, "bkt", &key, m, &data, &[b1, b2, b1 + PKG, b2 + PKG]).await;
        // A part read by number (a range of the object).
        let p2 = with_key!(c.get_object().bucket("bkt").key(&key).part_number(2), m)
            .send()
            .await
            .expect("part 2");
        let got = p2.body.collect().await.expect("body").into_bytes();
        assert!(got[..] == data[b1..b2], "part 2 of {key}");
    }
}

#[tokio::test]
async fn ssec_objects_need_their_key_and_give_no_bytes_without_it() {
    let s = server();
    let c = s.client();
    c.create_bucket()
        .bucket("bkt")
        .send()
        .await
        .expect("bucket");
    let data = bytes(100_000, 7);
    with_mode!(
        c.put_object()
            .bucket("bkt")
            .key("sec")
            .body(ByteStream::from(data.clone())),
        M::Customer(KEY_A)
    )
    .send()
    .await
    .expect("put");
    c.put_object()
        .bucket("bkt")
        .key("plain")
        .body(ByteStream::from_static(b"plain"))
        .send()
        .await
        .expect("put plain");

    // GET without the key, with another key, and a key for a plain object.
    let e = c
        .get_object()
        .bucket("bkt")
        .key("sec")
        .send()
        .await
        .unwrap_err();
    assert_eq!((e.code(), status(&e)), (Some("InvalidRequest"), 400));
    let e = with_key!(c.get_object().bucket("bkt").key("sec"), M::Customer(KEY_B))
        .send()
        .await
        .unwrap_err();
    assert_eq!((e.code(), status(&e)), (Some("AccessDenied"), 403));
    let e = with_key!(
        c.get_object().bucket("bkt").key("plain"),
        M::Customer(KEY_A)
    )
    .send()
    .await
    .unwrap_err();
    assert_eq!((e.code(), status(&e)), (Some("InvalidRequest"), 400));
    // HEAD answers the same statuses, without a body.
    let e = c
        .head_object()
        .bucket("bkt")
        .key("sec")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 400);
    let e = with_key!(c.head_object().bucket("bkt").key("sec"), M::Customer(KEY_B))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 403);
    // Nor are its attributes described without it.
    let attrs = || {
        c.get_object_attributes()
            .bucket("bkt")
            .key("sec")
            .object_attributes(aws_sdk_s3::types::ObjectAttributes::ObjectSize)
    };
    let e = attrs().send().await.unwrap_err();
    assert_eq!((e.code(), status(&e)), (Some("InvalidRequest"), 400));
    let a = with_key!(attrs(), M::Customer(KEY_A))
        .send()
        .await
        .expect("attributes with the key");
    assert_eq!(a.object_size(), Some(data.len() as i64));
    // A ranged GET is no way around it.
    let e = c
        .get_object()
        .bucket("bkt")
        .key("sec")
        .range("bytes=0-9")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 400);
    // Raw: the refusal is an XML error, never object bytes.
    let r = raw_get_unsigned_fails(s.port);
    assert!(r, "an unsigned read of an SSE-C object is refused");

    // Multipart: every part must repeat the upload's key.
    let up = with_mode!(
        c.create_multipart_upload().bucket("bkt").key("mp"),
        M::Customer(KEY_A)
    )
    .send()
    .await
    .expect("create");
    let id = up.upload_id().expect("id");
    let part = || {
        c.upload_part()
            .bucket("bkt")
            .key("mp")
            .upload_id(id)
            .part_number(1)
            .body(ByteStream::from_static(b"part"))
    };
    let e = part().send().await.unwrap_err();
    assert_eq!((e.code(), status(&e)), (Some("InvalidRequest"), 400));
    let e = with_key!(part(), M::Customer(KEY_B))
        .send()
        .await
        .unwrap_err();
    assert_eq!((e.code(), status(&e)), (Some("InvalidArgument"), 400));
    // (The SDK has no such field on UploadPart: the header is added raw.)
    let e = part()
        .customize()
        .mutate_request(|r| {
            r.headers_mut()
                .insert("x-amz-server-side-encryption", "AES256");
        })
        .send()
        .await
        .unwrap_err();
    assert_eq!((e.code(), status(&e)), (Some("InvalidArgument"), 400));
    with_key!(part(), M::Customer(KEY_A))
        .send()
        .await
        .expect("the upload's key");

    // Write-side refusals, each with S3's code.
    let put = || {
        c.put_object()
            .bucket("bkt")
            .key("x")
            .body(ByteStream::from_static(b"x"))
    };
    let e = put()
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("no-such-key")
        .send()
        .await
        .unwrap_err();
    assert_eq!((e.code(), status(&e)), (Some("KMS.NotFoundException"), 400));
    let e = put()
        .server_side_encryption(ServerSideEncryption::from("aws:kms:dsse"))
        .send()
        .await
        .unwrap_err();
    assert_eq!((e.code(), status(&e)), (Some("InvalidArgument"), 400));
    let e = put()
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_encryption_context("not base64 json")
        .send()
        .await
        .unwrap_err();
    assert_eq!((e.code(), status(&e)), (Some("InvalidArgument"), 400));
    let e = with_mode!(put(), M::Customer(KEY_A))
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .unwrap_err();
    assert_eq!((e.code(), status(&e)), (Some("InvalidArgument"), 400));
    let e = put()
        .sse_customer_algorithm("AES128")
        .sse_customer_key(b64(&KEY_A))
        .sse_customer_key_md5(key_md5(&KEY_A))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), status(&e)),
        (Some("InvalidEncryptionAlgorithmError"), 400)
    );
    assert!(get_all(&c, "bkt", "sec", M::Customer(KEY_A)).await == data);
}

/// A GET without SSE-C headers of the SSE-C object `b/sec`, made by hand:
/// true when the answer is a 400 XML error.
fn raw_get_unsigned_fails(port: u16) -> bool {
    let empty = sha256_hex(b"");
    let req = sign(
        port,
        "GET",
        "/bkt/sec",
        &[],
        &empty,
        PASSWORD,
        std::time::SystemTime::now(),
    );
    let r = raw_request(port, &request_bytes("GET", "/bkt/sec", &req.headers, b"")).expect("raw");
    r.status == 400 && String::from_utf8_lossy(&r.body).contains("<Code>InvalidRequest</Code>")
}

#[tokio::test]
async fn ssec_over_plain_http_is_refused_unless_the_operator_allows_it() {
    let s = Server::start();
    let c = s.client();
    c.create_bucket()
        .bucket("bkt")
        .send()
        .await
        .expect("bucket");
    let e = with_mode!(
        c.put_object()
            .bucket("bkt")
            .key("k")
            .body(ByteStream::from_static(b"x")),
        M::Customer(KEY_A)
    )
    .send()
    .await
    .unwrap_err();
    assert_eq!((e.code(), status(&e)), (Some("InvalidRequest"), 400));
    assert!(
        e.message().unwrap_or("").contains("secure connection"),
        "{e:?}"
    );
    let e = with_key!(c.get_object().bucket("bkt").key("k"), M::Customer(KEY_A))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 400);
    // SSE-S3 needs no secret on the wire.
    with_mode!(
        c.put_object()
            .bucket("bkt")
            .key("k")
            .body(ByteStream::from_static(b"x")),
        M::S3
    )
    .send()
    .await
    .expect("SSE-S3 over HTTP");
}

#[tokio::test]
async fn copies_between_every_pair_of_modes_keep_the_bytes_and_take_the_new_mode() {
    let s = server();
    let cli = Cli::for_server(&s);
    cli.json(&["kms", "key", "create", "local", "app"]);
    let c = s.client();
    c.create_bucket()
        .bucket("bkt")
        .send()
        .await
        .expect("bucket");
    let modes = [
        M::Plain,
        M::S3,
        M::Kms(Some("app")),
        M::Customer(KEY_A),
        M::Customer(KEY_B),
    ];
    let data = bytes(3 * PKG + 17, 42);
    for (i, src) in modes.into_iter().enumerate() {
        let skey = format!("src{i}");
        with_mode!(
            c.put_object()
                .bucket("bkt")
                .key(&skey)
                .body(ByteStream::from(data.clone())),
            src
        )
        .send()
        .await
        .expect("put source");
        for (j, dst) in modes.into_iter().enumerate() {
            let dkey = format!("dst{i}-{j}");
            let copy = with_source_key!(
                with_mode!(
                    c.copy_object()
                        .bucket("bkt")
                        .key(&dkey)
                        .copy_source(format!("bkt/{skey}")),
                    dst
                ),
                src
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("copy {src:?} -> {dst:?}: {e:?}"));
            assert_eq!(seen!(copy), expected(dst), "copy {src:?} -> {dst:?}");
            let etag = copy
                .copy_object_result()
                .and_then(|r| r.e_tag())
                .unwrap_or("")
                .trim_matches('"')
                .to_owned();
            if !matches!(dst, M::Customer(_)) {
                assert_eq!(etag, md5_hex(&data), "copy {src:?} -> {dst:?}");
            }
            assert!(
                get_all(&c, "bkt", &dkey, dst).await == data,
                "copy {src:?} -> {dst:?}"
            );
        }
        // Without the source's key, an SSE-C source cannot be copied.
        if let M::Customer(_) = src {
            let e = c
                .copy_object()
                .bucket("bkt")
                .key("nope")
                .copy_source(format!("bkt/{skey}"))
                .send()
                .await
                .unwrap_err();
            assert_eq!((e.code(), status(&e)), (Some("InvalidRequest"), 400));
        }
    }
    // A copy onto itself that changes the encryption is allowed; one that
    // changes nothing is not.
    let e = c
        .copy_object()
        .bucket("bkt")
        .key("src1")
        .copy_source("bkt/src1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidRequest"));
    let r = with_mode!(
        c.copy_object()
            .bucket("bkt")
            .key("src1")
            .copy_source("bkt/src1"),
        M::Customer(KEY_B)
    )
    .send()
    .await
    .expect("re-encrypt in place");
    assert_eq!(seen!(r), expected(M::Customer(KEY_B)));
    assert!(get_all(&c, "bkt", "src1", M::Customer(KEY_B)).await == data);
}

#[tokio::test]
async fn upload_part_copy_reads_an_ssec_source_into_an_encrypted_upload() {
    let s = server();
    let c = s.client();
    c.create_bucket()
        .bucket("bkt")
        .send()
        .await
        .expect("bucket");
    let src = bytes(6 * MIB + 5, 9);
    with_mode!(
        c.put_object()
            .bucket("bkt")
            .key("src")
            .body(ByteStream::from(src.clone())),
        M::Customer(KEY_A)
    )
    .send()
    .await
    .expect("put source");
    for dst in [M::S3, M::Customer(KEY_B)] {
        let up = with_mode!(c.create_multipart_upload().bucket("bkt").key("mp"), dst)
            .send()
            .await
            .expect("create");
        let id = up.upload_id().expect("id").to_owned();
        let copy = |n: i32, range: Option<String>| {
            let b = c
                .upload_part_copy()
                .bucket("bkt")
                .key("mp")
                .upload_id(&id)
                .part_number(n)
                .copy_source("bkt/src")
                .set_copy_source_range(range);
            with_key!(with_source_key!(b, M::Customer(KEY_A)), dst)
        };
        let p1 = copy(1, None).send().await.expect("part 1");
        assert_eq!(seen!(p1), expected(dst), "UploadPartCopy");
        let p2 = copy(2, Some("bytes=65530-200000".into()))
            .send()
            .await
            .expect("part 2");
        // Without the source's key: refused.
        let e = c
            .upload_part_copy()
            .bucket("bkt")
            .key("mp")
            .upload_id(&id)
            .part_number(3)
            .copy_source("bkt/src")
            .send()
            .await
            .unwrap_err();
        assert_eq!(status(&e), 400);
        let parts = [p1, p2]
            .iter()
            .enumerate()
            .map(|(i, p)| {
                CompletedPart::builder()
                    .part_number(i as i32 + 1)
                    .e_tag(p.copy_part_result().and_then(|r| r.e_tag()).expect("etag"))
                    .build()
            })
            .collect();
        c.complete_multipart_upload()
            .bucket("bkt")
            .key("mp")
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .expect("complete");
        let mut want = src.clone();
        want.extend_from_slice(&src[65530..=200000]);
        assert!(get_all(&c, "bkt", "mp", dst).await == want, "{dst:?}");
        check_ranges(&c, "bkt", "mp", dst, &want, &[src.len()]).await;
    }
}

/// Every file under the drive directories, read whole.
fn drive_files(dir: &Path, out: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            drive_files(&p, out);
        } else if let Ok(b) = std::fs::read(&p) {
            out.push((p, b));
        }
    }
}

/// Where a 64-byte run of `plain` appears in `hay`, if anywhere.
fn find_run(plain: &[u8], hay: &[u8]) -> Option<usize> {
    const RUN: usize = 64;
    if plain.len() < RUN || hay.len() < RUN {
        return None;
    }
    let word = |b: &[u8], i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8"));
    let mut starts: HashMap<u64, Vec<usize>> = HashMap::new();
    for i in 0..=plain.len() - RUN {
        starts.entry(word(plain, i)).or_default().push(i);
    }
    (0..=hay.len() - RUN).find(|&j| {
        starts
            .get(&word(hay, j))
            .is_some_and(|is| is.iter().any(|&i| plain[i..i + RUN] == hay[j..j + RUN]))
    })
}

#[tokio::test]
async fn no_plaintext_of_an_encrypted_object_reaches_the_drives() {
    let s = server();
    let cli = Cli::for_server(&s);
    cli.json(&["kms", "key", "create", "local", "app"]);
    let c = s.client();
    c.create_bucket()
        .bucket("bkt")
        .send()
        .await
        .expect("bucket");
    let mut secrets = Vec::new();
    for (i, m) in [M::S3, M::Kms(Some("app")), M::Customer(KEY_A)]
        .into_iter()
        .enumerate()
    {
        // Inline-sized and segment-sized objects.
        for size in [3000, 300_000] {
            let data = bytes(size, 1000 + i as u64 * 10 + size as u64);
            with_mode!(
                c.put_object()
                    .bucket("bkt")
                    .key(format!("e{i}-{size}"))
                    .body(ByteStream::from(data.clone())),
                m
            )
            .send()
            .await
            .expect("put");
            secrets.push((format!("{m:?} {size}"), data));
        }
    }
    // The control: a plain object's bytes are found, so the scan can see.
    let plain = bytes(300_000, 77);
    let small_plain = bytes(3000, 78);
    for (k, d) in [("p", &plain), ("ps", &small_plain)] {
        c.put_object()
            .bucket("bkt")
            .key(k)
            .body(ByteStream::from(d.clone()))
            .send()
            .await
            .expect("put plain");
    }
    let mut files = Vec::new();
    drive_files(s.dir.path(), &mut files);
    files.retain(|(p, _)| p.file_name().is_some_and(|n| n != "server.log"));
    assert!(!files.is_empty());
    for d in [&plain, &small_plain] {
        assert!(
            files.iter().any(|(_, b)| find_run(d, b).is_some()),
            "the plain control object was not found on the drives"
        );
    }
    for (what, data) in &secrets {
        for (p, b) in &files {
            if let Some(at) = find_run(data, b) {
                panic!("plaintext of {what} found in {} at {at}", p.display());
            }
        }
    }
}

#[tokio::test]
async fn kms_rotation_and_disabling_take_effect_on_every_core_at_once() {
    let s = server();
    let cli = Cli::for_server(&s);
    cli.json(&["kms", "key", "create", "local", "rot"]);
    let c = s.client();
    c.create_bucket()
        .bucket("bkt")
        .send()
        .await
        .expect("bucket");
    let v1 = bytes(PKG + 5, 1);
    let v2 = bytes(PKG + 6, 2);
    let put = |key: &'static str, data: &Vec<u8>| {
        with_mode!(
            c.put_object()
                .bucket("bkt")
                .key(key)
                .body(ByteStream::from(data.clone())),
            M::Kms(Some("rot"))
        )
        .send()
    };
    put("old", &v1).await.expect("put old");
    // Every core reads it (a fresh client is a fresh connection, spread
    // over the cores), which caches the keys there.
    let mut cores = BTreeSet::new();
    for _ in 0..12 {
        let fresh = s.client();
        let o = with_key!(fresh.get_object().bucket("bkt").key("old"), M::Plain)
            .send()
            .await
            .expect("get old");
        cores.insert(core_of(o.request_id().unwrap_or("")));
        assert!(o.body.collect().await.expect("body").into_bytes()[..] == v1[..]);
    }
    assert!(cores.len() >= 2, "requests reached cores {cores:?}");

    let k = cli.json(&["kms", "key", "rotate", "local", "rot"]);
    assert_eq!(k["currentVersion"], 2);
    put("new", &v2).await.expect("put new");
    // The records name the version their data key was wrapped under.
    let mut files = Vec::new();
    drive_files(s.dir.path(), &mut files);
    let tag = |v: u8| [&[3u8][..], b"rot", &[0, 0, 0, v]].concat();
    let has = |v: u8| {
        files
            .iter()
            .any(|(_, b)| b.windows(8).any(|w| w == &tag(v)[..]))
    };
    assert!(has(1) && has(2), "objects under versions 1 and 2");
    assert!(get_all(&c, "bkt", "old", M::Kms(Some("rot"))).await == v1);
    assert!(get_all(&c, "bkt", "new", M::Kms(Some("rot"))).await == v2);

    cli.json(&["kms", "key", "disable", "local", "rot", "--force"]);
    let mut cores = BTreeSet::new();
    for _ in 0..12 {
        let fresh = s.client();
        for key in ["old", "new"] {
            let e = fresh
                .get_object()
                .bucket("bkt")
                .key(key)
                .send()
                .await
                .unwrap_err();
            assert_eq!((e.code(), status(&e)), (Some("KMS.DisabledException"), 400));
            cores.insert(core_of(e.request_id().unwrap_or("")));
        }
    }
    assert!(cores.len() >= 2, "refusals came from cores {cores:?}");
    let e = put("newer", &v1).await.unwrap_err();
    assert_eq!(e.code(), Some("KMS.DisabledException"));
    // HEAD needs no data key.
    c.head_object()
        .bucket("bkt")
        .key("old")
        .send()
        .await
        .expect("head");

    cli.json(&["kms", "key", "enable", "local", "rot"]);
    for _ in 0..6 {
        assert!(get_all(&s.client(), "bkt", "old", M::Kms(Some("rot"))).await == v1);
    }
}

#[tokio::test]
async fn ssec_over_https_needs_no_flag() {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
    let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("certificate");
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, c.cert.pem()).expect("write cert");
    std::fs::write(&key, c.signing_key.serialize_pem()).expect("write key");
    let s = Server::start_with(&[
        "--tls-cert",
        cert.to_str().expect("utf-8"),
        "--tls-key",
        key.to_str().expect("utf-8"),
    ]);
    let ctx = TlsContext::builder()
        .with_trust_store(
            TrustStore::empty()
                .with_native_roots(false)
                .with_pem_certificate(c.cert.pem().as_bytes()),
        )
        .build()
        .expect("tls context");
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(ctx)
        .build_https();
    let endpoint = format!("https://localhost:{}", s.port);
    let c = Client::from_conf(
        s3_config(&endpoint, USER, PASSWORD, None)
            .http_client(http)
            .build(),
    );
    c.create_bucket()
        .bucket("bkt")
        .send()
        .await
        .expect("bucket");
    let data = bytes(PKG + 9, 5);
    let put = with_mode!(
        c.put_object()
            .bucket("bkt")
            .key("k")
            .body(ByteStream::from(data.clone())),
        M::Customer(KEY_A)
    )
    .send()
    .await
    .expect("SSE-C over TLS");
    assert_eq!(seen!(put), expected(M::Customer(KEY_A)));
    assert!(get_all(&c, "bkt", "k", M::Customer(KEY_A)).await == data);
}
