//! Edges of S3 behaviour that real clients depend on, each written from
//! AWS's documented behaviour and driven against the real `cairn` binary
//! with aws-sdk-s3, or raw HTTP where an SDK cannot send the request (raw
//! header bytes, a held-open body, both date headers, no signature).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::RequestChecksumCalculation;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart,
    EncodingType, ObjectAttributes,
};
use aws_sdk_s3::Client;
use base64::Engine as _;

mod binary;
use binary::*;

const MIB: usize = 1 << 20;

/// A client that sends no checksum unless an operation requires one, as
/// older SDKs and most other clients do.
fn plain_client(srv: &Server) -> Client {
    let conf = s3_config(&srv.endpoint(), USER, PASSWORD, None)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .build();
    Client::from_conf(conf)
}

/// An independent CRC64NVME (the `crc` crate, not cairn's kernel).
fn crc64nvme_b64(data: &[u8]) -> String {
    const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_NVME);
    base64::engine::general_purpose::STANDARD.encode(CRC64.checksum(data).to_be_bytes())
}

// ---------------------------------------------------------------------------
// Raw HTTP keeping header bytes, and SigV4 over byte header values
// ---------------------------------------------------------------------------

struct Raw {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    fn code(&self) -> String {
        let b = String::from_utf8_lossy(&self.body);
        b.split("<Code>")
            .nth(1)
            .and_then(|s| s.split("</Code>").next())
            .unwrap_or("")
            .to_owned()
    }
}

fn read_response(mut s: TcpStream) -> Raw {
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read response");
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let mut lines = buf[..end].split(|&b| b == b'\n');
    let status_line = String::from_utf8_lossy(lines.next().expect("status line")).into_owned();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    let headers: Vec<(String, Vec<u8>)> = lines
        .filter_map(|l| {
            let l = l.strip_suffix(b"\r").unwrap_or(l);
            let i = l.iter().position(|&b| b == b':')?;
            let v = &l[i + 1..];
            let start = v.iter().position(|&b| b != b' ').unwrap_or(v.len());
            Some((
                String::from_utf8_lossy(&l[..i]).trim().to_owned(),
                v[start..].to_vec(),
            ))
        })
        .collect();
    let mut body = buf[end + 4..].to_vec();
    if headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding")
            && String::from_utf8_lossy(v).contains("chunked")
    }) {
        body = dechunk(&body);
    }
    Raw {
        status,
        headers,
        body,
    }
}

/// SigV4 `Authorization` over header values that are bytes (the SDK's
/// signer takes only strings). `query` is already canonical.
fn sign_bytes(
    port: u16,
    method: &str,
    path: &str,
    query: &str,
    extra: &[(&str, &[u8])],
) -> Vec<(String, Vec<u8>)> {
    // The SDK signer supplies the timestamp, scope and signing key.
    let base = sign(
        port,
        method,
        path,
        &[],
        "UNSIGNED-PAYLOAD",
        PASSWORD,
        SystemTime::now(),
    );
    let mut headers: Vec<(String, Vec<u8>)> = vec![
        ("host".into(), format!("127.0.0.1:{port}").into_bytes()),
        ("x-amz-content-sha256".into(), b"UNSIGNED-PAYLOAD".to_vec()),
        ("x-amz-date".into(), base.timestamp.clone().into_bytes()),
    ];
    for (k, v) in extra {
        headers.push((k.to_string(), v.to_vec()));
    }
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let mut creq = format!("{method}\n{path}\n{query}\n").into_bytes();
    for (k, v) in &headers {
        creq.extend_from_slice(k.as_bytes());
        creq.push(b':');
        creq.extend_from_slice(v);
        creq.push(b'\n');
    }
    let signed: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    let signed = signed.join(";");
    creq.extend_from_slice(format!("\n{signed}\nUNSIGNED-PAYLOAD").as_bytes());
    let sts = format!(
        "AWS4-HMAC-SHA256\n{}\n{}\n{}",
        base.timestamp,
        base.scope,
        sha256_hex(&creq)
    );
    let sig = hex::encode(hmac(&base.signing_key, sts.as_bytes()));
    headers.push((
        "authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={USER}/{}, SignedHeaders={signed}, Signature={sig}",
            base.scope
        )
        .into_bytes(),
    ));
    headers
}

fn send_bytes(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(String, Vec<u8>)],
    body: &[u8],
) -> Raw {
    let mut req = format!("{method} {target} HTTP/1.1\r\n").into_bytes();
    for (k, v) in headers {
        req.extend_from_slice(k.as_bytes());
        req.extend_from_slice(b": ");
        req.extend_from_slice(v);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    req.extend_from_slice(b"connection: close\r\n\r\n");
    req.extend_from_slice(body);
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.write_all(&req).expect("send");
    read_response(s)
}

async fn make_bucket(c: &Client, name: &str) {
    c.create_bucket().bucket(name).send().await.expect("bucket");
}

async fn put(c: &Client, bucket: &str, key: &str, body: &[u8]) -> String {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .expect("put")
        .e_tag()
        .expect("etag")
        .to_owned()
}

/// A two-part multipart object (5 MiB + `tail` bytes) from `c`.
async fn multipart(c: &Client, bucket: &str, key: &str, tail: usize) -> (String, Vec<u8>) {
    let up = c
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("create");
    let id = up.upload_id().expect("id");
    let data = binary::data(5 * MIB + tail, 7);
    let mut done = Vec::new();
    for (i, piece) in [&data[..5 * MIB], &data[5 * MIB..]].into_iter().enumerate() {
        let n = i as i32 + 1;
        let r = c
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(piece.to_vec()))
            .send()
            .await
            .expect("part");
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(r.e_tag().expect("etag"))
                .build(),
        );
    }
    c.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .expect("complete");
    (id.to_owned(), data)
}

// ---------------------------------------------------------------------------
// Listings
// ---------------------------------------------------------------------------

/// `encoding-type=url` percent-encodes a space as `%20` (never `+`) in every
/// listing and every field AWS encodes: keys, prefixes, delimiters, markers.
#[tokio::test]
async fn url_encoded_listings_percent_encode_spaces() {
    let srv = Server::start();
    let c = srv.client();
    make_bucket(&c, "enc").await;
    put(&c, "enc", "dir x/a b+c(1).txt", b"1").await;
    put(&c, "enc", "top one", b"2").await;

    let v2 = c
        .list_objects_v2()
        .bucket("enc")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .expect("v2");
    let keys: Vec<&str> = v2.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["dir%20x/a%20b%2Bc%281%29.txt", "top%20one"]);

    let v2d = c
        .list_objects_v2()
        .bucket("enc")
        .delimiter(" ")
        .prefix("dir x/")
        .start_after("dir x/")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .expect("v2 delimited");
    assert_eq!(v2d.prefix(), Some("dir%20x/"));
    assert_eq!(v2d.delimiter(), Some("%20"));
    assert_eq!(v2d.start_after(), Some("dir%20x/"));
    let cp: Vec<&str> = v2d
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(cp, ["dir%20x/a%20"]);

    let v1 = c
        .list_objects()
        .bucket("enc")
        .marker("a b")
        .max_keys(1)
        .delimiter("/")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .expect("v1");
    assert_eq!(v1.marker(), Some("a%20b"));
    assert_eq!(v1.next_marker(), Some("dir%20x/"));
    assert_eq!(v1.common_prefixes()[0].prefix(), Some("dir%20x/"));

    let versions = c
        .list_object_versions()
        .bucket("enc")
        .key_marker("dir x/")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .expect("versions");
    assert_eq!(versions.key_marker(), Some("dir%20x/"));
    let vkeys: Vec<&str> = versions.versions().iter().filter_map(|v| v.key()).collect();
    assert_eq!(vkeys, ["dir%20x/a%20b%2Bc%281%29.txt", "top%20one"]);

    c.create_multipart_upload()
        .bucket("enc")
        .key("up load")
        .send()
        .await
        .expect("create");
    let uploads = c
        .list_multipart_uploads()
        .bucket("enc")
        .prefix("up ")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .expect("uploads");
    assert_eq!(uploads.prefix(), Some("up%20"));
    assert_eq!(uploads.uploads()[0].key(), Some("up%20load"));
}

/// An empty `continuation-token` (and empty markers) mean "from the start",
/// as on S3, and the empty token is not echoed.
#[tokio::test]
async fn empty_continuation_token_and_markers_start_from_the_beginning() {
    let srv = Server::start();
    let c = srv.client();
    make_bucket(&c, "tok").await;
    put(&c, "tok", "a", b"1").await;
    put(&c, "tok", "b", b"2").await;
    for target in [
        "/tok?list-type=2&continuation-token=",
        "/tok?list-type=2&continuation-token=&start-after=",
        "/tok?marker=",
        "/tok?versions&key-marker=&version-id-marker=",
    ] {
        let s = sign(
            srv.port,
            "GET",
            target,
            &[],
            "UNSIGNED-PAYLOAD",
            PASSWORD,
            SystemTime::now(),
        );
        let r =
            raw_request(srv.port, &request_bytes("GET", target, &s.headers, b"")).expect("list");
        let body = String::from_utf8_lossy(&r.body);
        assert_eq!(r.status, 200, "{target}: {body}");
        assert!(
            body.contains("<Key>a</Key>") && body.contains("<Key>b</Key>"),
            "{target}: {body}"
        );
        assert!(!body.contains("<ContinuationToken>"), "{target}: {body}");
    }
}

// ---------------------------------------------------------------------------
// Stored headers
// ---------------------------------------------------------------------------

/// User metadata and stored headers come back byte for byte: a Latin-1
/// `é` (0xE9) as 0xE9, UTF-8 as UTF-8, on GET and HEAD, through a COPY
/// CopyObject and through a multipart upload.
#[tokio::test]
async fn non_ascii_header_bytes_round_trip() {
    let srv = Server::start();
    let c = srv.client();
    make_bucket(&c, "meta").await;
    let latin1: &[u8] = b"caf\xe9";
    let utf8 = "café 日本".as_bytes();
    let disposition: &[u8] = b"attachment; filename=\"r\xe9sum\xe9.txt\"";
    let extra: [(&str, &[u8]); 3] = [
        ("content-disposition", disposition),
        ("x-amz-meta-latin", latin1),
        ("x-amz-meta-utf", utf8),
    ];
    let h = sign_bytes(srv.port, "PUT", "/meta/k", "", &extra);
    let r = send_bytes(srv.port, "PUT", "/meta/k", &h, b"body");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    c.copy_object()
        .bucket("meta")
        .key("copy")
        .copy_source("meta/k")
        .send()
        .await
        .expect("copy");

    let h = sign_bytes(srv.port, "POST", "/meta/mp", "uploads=", &extra);
    let r = send_bytes(srv.port, "POST", "/meta/mp?uploads", &h, b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let body = String::from_utf8_lossy(&r.body).into_owned();
    let id = body
        .split("<UploadId>")
        .nth(1)
        .and_then(|s| s.split("</UploadId>").next())
        .expect("upload id")
        .to_owned();
    let part = c
        .upload_part()
        .bucket("meta")
        .key("mp")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .expect("part");
    c.complete_multipart_upload()
        .bucket("meta")
        .key("mp")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().expect("etag"))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("complete");

    for key in ["k", "copy", "mp"] {
        for method in ["GET", "HEAD"] {
            let path = format!("/meta/{key}");
            let h = sign_bytes(srv.port, method, &path, "", &[]);
            let r = send_bytes(srv.port, method, &path, &h, b"");
            assert_eq!(r.status, 200, "{method} {key}");
            assert_eq!(r.header("x-amz-meta-latin"), Some(latin1), "{method} {key}");
            assert_eq!(r.header("x-amz-meta-utf"), Some(utf8), "{method} {key}");
            assert_eq!(
                r.header("content-disposition"),
                Some(disposition),
                "{method} {key}"
            );
        }
    }
}

/// `Content-Encoding` comes back exactly as sent, less an `aws-chunked`
/// member (which describes the upload, not the object).
#[tokio::test]
async fn content_encoding_is_returned_as_sent() {
    let srv = Server::start();
    let c = srv.client();
    make_bucket(&c, "cenc").await;
    c.put_object()
        .bucket("cenc")
        .key("k")
        .content_encoding("deflate, gzip")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("put");
    let h = c
        .head_object()
        .bucket("cenc")
        .key("k")
        .send()
        .await
        .expect("head");
    assert_eq!(h.content_encoding(), Some("deflate, gzip"));

    // An aws-chunked upload that also says gzip keeps only gzip.
    let payload = b"chunked body";
    let mut body = format!("{:x}\r\n", payload.len()).into_bytes();
    body.extend_from_slice(payload);
    body.extend_from_slice(b"\r\n0\r\n\r\n");
    let s = sign(
        srv.port,
        "PUT",
        "/cenc/chunked",
        &[
            ("content-encoding", "aws-chunked, gzip"),
            ("content-length", &body.len().to_string()),
            ("x-amz-decoded-content-length", &payload.len().to_string()),
        ],
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        PASSWORD,
        SystemTime::now(),
    );
    let r = raw_request(
        srv.port,
        &request_bytes("PUT", "/cenc/chunked", &s.headers, &body),
    )
    .expect("put");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let h = c
        .head_object()
        .bucket("cenc")
        .key("chunked")
        .send()
        .await
        .expect("head");
    assert_eq!(h.content_encoding(), Some("gzip"));
}

// ---------------------------------------------------------------------------
// Parts and ranges
// ---------------------------------------------------------------------------

/// `partNumber` past the object's parts is 400 InvalidPartNumber (single
/// and multipart objects); UploadPartCopy past the source is InvalidRange.
#[tokio::test]
async fn out_of_range_parts_and_copy_ranges() {
    let srv = Server::start();
    let c = srv.client();
    make_bucket(&c, "parts").await;
    put(&c, "parts", "single", b"0123456789").await;
    multipart(&c, "parts", "multi", 10).await;
    for (key, n) in [("single", 2), ("multi", 3)] {
        let e = c
            .get_object()
            .bucket("parts")
            .key(key)
            .part_number(n)
            .send()
            .await
            .expect_err("past the parts");
        assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(400));
        assert_eq!(
            aws_sdk_s3::error::ProvideErrorMetadata::code(&e),
            Some("InvalidPartNumber"),
            "{key}"
        );
    }
    let up = c
        .create_multipart_upload()
        .bucket("parts")
        .key("dst")
        .send()
        .await
        .expect("create");
    let e = c
        .upload_part_copy()
        .bucket("parts")
        .key("dst")
        .upload_id(up.upload_id().expect("id"))
        .part_number(1)
        .copy_source("parts/single")
        .copy_source_range("bytes=0-10")
        .send()
        .await
        .expect_err("past the source");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(416));
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e),
        Some("InvalidRange")
    );
}

// ---------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------

/// An anonymous request for a bucket that does not exist is 404
/// NoSuchBucket; for one that exists it is still 403 AccessDenied.
#[tokio::test]
async fn anonymous_request_for_missing_bucket_is_no_such_bucket() {
    let srv = Server::start();
    make_bucket(&srv.client(), "there").await;
    for (target, status, code) in [
        ("/nowhere/k", 404, "NoSuchBucket"),
        ("/nowhere", 404, "NoSuchBucket"),
        ("/there/k", 403, "AccessDenied"),
    ] {
        let req = format!(
            "GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            srv.port
        );
        let r = raw_request(srv.port, req.as_bytes()).expect("anonymous");
        assert_eq!((r.status, r.code().as_str()), (status, code), "{target}");
    }
}

/// A request carrying both `Date` and `x-amz-date` is accepted: the
/// signature's time is `x-amz-date`'s, whether `Date` is signed or not.
#[tokio::test]
async fn date_and_x_amz_date_together_are_accepted() {
    let srv = Server::start();
    make_bucket(&srv.client(), "dates").await;
    let date = httpdate::fmt_http_date(SystemTime::now());
    for date in [date.as_str(), "not a date"] {
        let s = sign(
            srv.port,
            "GET",
            "/dates",
            &[("date", date)],
            "UNSIGNED-PAYLOAD",
            PASSWORD,
            SystemTime::now(),
        );
        assert!(s.headers.iter().any(|(k, _)| k == "date"));
        let r =
            raw_request(srv.port, &request_bytes("GET", "/dates", &s.headers, b"")).expect("list");
        assert_eq!(
            r.status,
            200,
            "{date}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // A `Date` the client did not sign is ignored too.
    let mut s = sign(
        srv.port,
        "GET",
        "/dates",
        &[],
        "UNSIGNED-PAYLOAD",
        PASSWORD,
        SystemTime::now(),
    );
    s.headers.push(("Date".into(), date.clone()));
    let r = raw_request(srv.port, &request_bytes("GET", "/dates", &s.headers, b"")).expect("list");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

// ---------------------------------------------------------------------------
// Conditional writes
// ---------------------------------------------------------------------------

/// `If-None-Match` with ETags is evaluated as for reads on PutObject and
/// CompleteMultipartUpload (412 when the current ETag is listed), and
/// `If-Match` on a missing key is 404 NoSuchKey.
/// A client that sent `Expect: 100-continue` sends no body after a final
/// refusal (botocore does this), so the connection must close: kept open,
/// the next request's first bytes would be read as the missing body (seen
/// as a request line `UT /…` in the compat suite).
#[tokio::test]
async fn a_refusal_before_100_continue_closes_the_connection() {
    let srv = Server::start();
    make_bucket(&srv.client(), "expect").await;
    let port = srv.port;
    let headers = [
        ("content-length", "1"),
        ("expect", "100-continue"),
        ("if-match", "\"0123456789abcdef0123456789abcdef\""),
        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
    ];
    let s = sign(
        port,
        "PUT",
        "/expect/missing",
        &headers,
        "UNSIGNED-PAYLOAD",
        PASSWORD,
        SystemTime::now(),
    );
    let mut head = "PUT /expect/missing HTTP/1.1\r\n".to_owned();
    for (k, v) in &s.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    conn.write_all(head.as_bytes()).expect("send head");
    let got = read_until_closed(&mut conn, Duration::from_secs(10))
        .expect("the connection stayed open after the refusal");
    let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 404"), "{text}");
    assert!(text.contains("connection: close"), "{text}");
    assert!(!text.contains("100 continue"), "{text}");
}

#[tokio::test]
async fn conditional_writes_with_etags() {
    let srv = Server::start();
    let c = srv.client();
    make_bucket(&c, "cwrite").await;
    let etag = put(&c, "cwrite", "k", b"one").await;
    let status_code = |e: &dyn aws_sdk_s3::error::ProvideErrorMetadata| e.code().map(str::to_owned);

    let e = c
        .put_object()
        .bucket("cwrite")
        .key("k")
        .if_none_match(&etag)
        .body(ByteStream::from_static(b"two"))
        .send()
        .await
        .expect_err("matching ETag");
    assert_eq!(status_code(&e).as_deref(), Some("PreconditionFailed"));
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(412));
    c.put_object()
        .bucket("cwrite")
        .key("k")
        .if_none_match("\"0123456789abcdef0123456789abcdef\"")
        .body(ByteStream::from_static(b"two"))
        .send()
        .await
        .expect("other ETag");
    assert_eq!(get_bytes(&c, "cwrite", "k").await, b"two");
    c.put_object()
        .bucket("cwrite")
        .key("fresh")
        .if_none_match(&etag)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("no current object");

    let e = c
        .put_object()
        .bucket("cwrite")
        .key("missing")
        .if_match(&etag)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("if-match on a missing key");
    assert_eq!(status_code(&e).as_deref(), Some("NoSuchKey"));
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(404));

    // CopyObject's destination: the same rules.
    let e = c
        .copy_object()
        .bucket("cwrite")
        .key("k")
        .copy_source("cwrite/fresh")
        .if_none_match("*")
        .send()
        .await
        .expect_err("destination exists");
    assert_eq!(status_code(&e).as_deref(), Some("PreconditionFailed"));
    let e = c
        .copy_object()
        .bucket("cwrite")
        .key("nothing-here")
        .copy_source("cwrite/fresh")
        .if_match(&etag)
        .send()
        .await
        .expect_err("no destination");
    assert_eq!(status_code(&e).as_deref(), Some("NoSuchKey"));

    // CompleteMultipartUpload: If-None-Match naming the current ETag.
    let current = c
        .head_object()
        .bucket("cwrite")
        .key("k")
        .send()
        .await
        .expect("head")
        .e_tag()
        .expect("etag")
        .to_owned();
    let up = c
        .create_multipart_upload()
        .bucket("cwrite")
        .key("k")
        .send()
        .await
        .expect("create");
    let id = up.upload_id().expect("id");
    let p = c
        .upload_part()
        .bucket("cwrite")
        .key("k")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"mp"))
        .send()
        .await
        .expect("part");
    let parts = CompletedMultipartUpload::builder()
        .parts(
            CompletedPart::builder()
                .part_number(1)
                .e_tag(p.e_tag().expect("etag"))
                .build(),
        )
        .build();
    let e = c
        .complete_multipart_upload()
        .bucket("cwrite")
        .key("k")
        .upload_id(id)
        .multipart_upload(parts.clone())
        .if_none_match(&current)
        .send()
        .await
        .expect_err("matching ETag");
    assert_eq!(status_code(&e).as_deref(), Some("PreconditionFailed"));
    c.complete_multipart_upload()
        .bucket("cwrite")
        .key("k")
        .upload_id(id)
        .multipart_upload(parts)
        .if_match(&current)
        .send()
        .await
        .expect("if-match the current ETag");
    assert_eq!(get_bytes(&c, "cwrite", "k").await, b"mp");
}

/// Sends a conditional PUT's head and the first half of its body, holding
/// the rest back.
fn start_put(port: u16, path: &str, condition: (&str, &str), body: &[u8]) -> TcpStream {
    let len = body.len().to_string();
    let s = sign(
        port,
        "PUT",
        path,
        &[("content-length", &len), condition],
        "UNSIGNED-PAYLOAD",
        PASSWORD,
        SystemTime::now(),
    );
    let mut req = request_bytes("PUT", path, &s.headers, b"");
    req.extend_from_slice(&body[..body.len() / 2]);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.write_all(&req).expect("head");
    stream
}

/// Two conditional writes that both pass the check at the start of their
/// requests race to commit: exactly one wins, the other is 409
/// ConditionalRequestConflict, and the object is the winner's.
#[tokio::test]
async fn racing_conditional_writes_have_one_winner() {
    let srv = Server::start();
    let c = srv.client();
    make_bucket(&c, "race").await;
    let v1 = put(&c, "race", "matched", b"v1").await;
    for (key, condition) in [
        ("new", ("if-none-match", "*")),
        ("matched", ("if-match", v1.as_str())),
    ] {
        let bodies = [binary::data(256 << 10, 1), binary::data(256 << 10, 2)];
        let path = format!("/race/{key}");
        let mut streams: Vec<TcpStream> = bodies
            .iter()
            .map(|b| start_put(srv.port, &path, condition, b))
            .collect();
        // Both requests are past their start-of-request check (which needs
        // only the head) before either body is complete.
        std::thread::sleep(Duration::from_secs(3));
        for (s, b) in streams.iter_mut().zip(&bodies) {
            s.write_all(&b[b.len() / 2..]).expect("rest of body");
        }
        let answers: Vec<Raw> = streams.into_iter().map(read_response).collect();
        let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
        let won: Vec<usize> = (0..2).filter(|&i| statuses[i] == 200).collect();
        assert_eq!(won.len(), 1, "{key}: exactly one winner, got {statuses:?}");
        let lost = &answers[1 - won[0]];
        assert_eq!(
            (lost.status, lost.code().as_str()),
            (409, "ConditionalRequestConflict"),
            "{key}"
        );
        assert_eq!(get_bytes(&c, "race", key).await, bodies[won[0]], "{key}");
    }
}

// ---------------------------------------------------------------------------
// Tagging header
// ---------------------------------------------------------------------------

/// `x-amz-tagging`: a tag without `=` has the empty value; more than 10
/// tags is 400 InvalidTag.
#[tokio::test]
async fn tagging_header_edges() {
    let srv = Server::start();
    let c = srv.client();
    make_bucket(&c, "tags").await;
    c.put_object()
        .bucket("tags")
        .key("k")
        .tagging("flag&team=storage&empty=")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("put");
    let tags = c
        .get_object_tagging()
        .bucket("tags")
        .key("k")
        .send()
        .await
        .expect("tags");
    let got: Vec<(&str, &str)> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key(), t.value()))
        .collect();
    assert_eq!(got, [("flag", ""), ("team", "storage"), ("empty", "")]);

    let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
    let e = c
        .put_object()
        .bucket("tags")
        .key("many")
        .tagging(eleven.join("&"))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("11 tags");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e),
        Some("InvalidTag")
    );
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(400));
}

// ---------------------------------------------------------------------------
// Checksums
// ---------------------------------------------------------------------------

/// PutObject returns the checksum it verified; an object sent without one
/// gets S3's default FULL_OBJECT CRC64NVME, returned by PUT and by GET in
/// checksum mode; a multipart upload without an algorithm completes to a
/// FULL_OBJECT CRC64NVME of the whole object.
#[tokio::test]
async fn put_checksums_are_returned_and_default_to_crc64nvme() {
    let srv = Server::start();
    let c = srv.client();
    let plain = plain_client(&srv);
    make_bucket(&c, "cksum").await;
    let data = binary::data(300_000, 3);

    for algo in [ChecksumAlgorithm::Sha256, ChecksumAlgorithm::Crc64Nvme] {
        let r = c
            .put_object()
            .bucket("cksum")
            .key("sent")
            .checksum_algorithm(algo.clone())
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .expect("put");
        match algo {
            ChecksumAlgorithm::Sha256 => {
                let want = base64::engine::general_purpose::STANDARD
                    .encode(<sha2::Sha256 as sha2::Digest>::digest(&data));
                assert_eq!(r.checksum_sha256(), Some(want.as_str()));
            }
            _ => assert_eq!(r.checksum_crc64_nvme(), Some(crc64nvme_b64(&data).as_str())),
        }
        assert_eq!(r.checksum_type(), Some(&ChecksumType::FullObject));
    }

    let r = plain
        .put_object()
        .bucket("cksum")
        .key("default")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .expect("put without checksum");
    let want = crc64nvme_b64(&data);
    assert_eq!(r.checksum_crc64_nvme(), Some(want.as_str()));
    let g = plain
        .get_object()
        .bucket("cksum")
        .key("default")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("get");
    assert_eq!(g.checksum_crc64_nvme(), Some(want.as_str()));
    assert_eq!(g.checksum_type(), Some(&ChecksumType::FullObject));

    let (_, mp) = multipart(&plain, "cksum", "mp", 1000).await;
    let g = plain
        .head_object()
        .bucket("cksum")
        .key("mp")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("head");
    assert_eq!(g.checksum_crc64_nvme(), Some(crc64nvme_b64(&mp).as_str()));
    assert_eq!(g.checksum_type(), Some(&ChecksumType::FullObject));
}

/// GetObjectAttributes: each attribute asked for, part paging, versions,
/// delete markers and a missing attribute list, as the API reference says.
#[tokio::test]
async fn get_object_attributes() {
    let srv = Server::start();
    let c = srv.client();
    let plain = plain_client(&srv);
    make_bucket(&c, "attr").await;
    let data = binary::data(1000, 9);
    let etag = put(&plain, "attr", "single", &data).await;

    let all = [
        ObjectAttributes::Etag,
        ObjectAttributes::Checksum,
        ObjectAttributes::ObjectParts,
        ObjectAttributes::StorageClass,
        ObjectAttributes::ObjectSize,
    ];
    let a = c
        .get_object_attributes()
        .bucket("attr")
        .key("single")
        .set_object_attributes(Some(all.to_vec()))
        .send()
        .await
        .expect("attributes");
    assert_eq!(a.e_tag(), Some(etag.trim_matches('"')));
    assert_eq!(a.object_size(), Some(1000));
    assert_eq!(a.storage_class().map(|s| s.as_str()), Some("STANDARD"));
    let ck = a.checksum().expect("checksum");
    assert_eq!(
        ck.checksum_crc64_nvme(),
        Some(crc64nvme_b64(&data).as_str())
    );
    assert_eq!(ck.checksum_type(), Some(&ChecksumType::FullObject));
    assert!(
        a.object_parts().is_none(),
        "a single-part object has no parts"
    );
    assert!(a.last_modified().is_some());

    let only_size = c
        .get_object_attributes()
        .bucket("attr")
        .key("single")
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .expect("size only");
    assert_eq!(only_size.object_size(), Some(1000));
    assert!(only_size.e_tag().is_none() && only_size.checksum().is_none());

    // Multipart: the parts, one page at a time.
    let (_, mp) = multipart(&plain, "attr", "mp", 77).await;
    let page = |marker: Option<&str>| {
        c.get_object_attributes()
            .bucket("attr")
            .key("mp")
            .object_attributes(ObjectAttributes::ObjectParts)
            .object_attributes(ObjectAttributes::Checksum)
            .max_parts(1)
            .set_part_number_marker(marker.map(str::to_owned))
            .send()
    };
    let first = page(None).await.expect("page 1");
    let parts = first.object_parts().expect("parts");
    assert_eq!(parts.total_parts_count(), Some(2));
    assert_eq!(parts.is_truncated(), Some(true));
    assert_eq!(parts.max_parts(), Some(1));
    assert_eq!(parts.next_part_number_marker(), Some("1"));
    assert_eq!(parts.parts().len(), 1);
    assert_eq!(parts.parts()[0].part_number(), Some(1));
    assert_eq!(parts.parts()[0].size(), Some(5 * MIB as i64));
    assert_eq!(
        parts.parts()[0].checksum_crc64_nvme(),
        Some(crc64nvme_b64(&mp[..5 * MIB]).as_str())
    );
    assert_eq!(
        first.checksum().and_then(|c| c.checksum_crc64_nvme()),
        Some(crc64nvme_b64(&mp).as_str())
    );
    let second = page(Some("1")).await.expect("page 2");
    let parts = second.object_parts().expect("parts");
    assert_eq!(parts.is_truncated(), Some(false));
    assert_eq!(parts.parts()[0].part_number(), Some(2));
    assert_eq!(parts.parts()[0].size(), Some(77));

    // Versions and delete markers.
    c.put_bucket_versioning()
        .bucket("attr")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
    let v = c
        .put_object()
        .bucket("attr")
        .key("single")
        .body(ByteStream::from_static(b"v2"))
        .send()
        .await
        .expect("v2");
    let v2 = v.version_id().expect("version").to_owned();
    let old = c
        .get_object_attributes()
        .bucket("attr")
        .key("single")
        .version_id("null")
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .expect("null version");
    assert_eq!(old.object_size(), Some(1000));
    assert_eq!(old.version_id(), Some("null"));
    let d = c
        .delete_object()
        .bucket("attr")
        .key("single")
        .send()
        .await
        .expect("delete marker");
    let e = c
        .get_object_attributes()
        .bucket("attr")
        .key("single")
        .object_attributes(ObjectAttributes::Etag)
        .send()
        .await
        .expect_err("latest is a delete marker");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e),
        Some("NoSuchKey")
    );
    let raw = e.raw_response().expect("response");
    assert_eq!(raw.headers().get("x-amz-delete-marker"), Some("true"));
    let e = c
        .get_object_attributes()
        .bucket("attr")
        .key("single")
        .version_id(d.version_id().expect("marker id"))
        .object_attributes(ObjectAttributes::Etag)
        .send()
        .await
        .expect_err("a named delete marker");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(405));
    let kept = c
        .get_object_attributes()
        .bucket("attr")
        .key("single")
        .version_id(&v2)
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .expect("named version");
    assert_eq!(kept.object_size(), Some(2));

    // The attribute list is required and checked.
    for (attrs, why) in [("", "missing"), ("ETag,Colour", "unknown")] {
        let mut extra = vec![];
        if !attrs.is_empty() {
            extra.push(("x-amz-object-attributes", attrs));
        }
        let s = sign(
            srv.port,
            "GET",
            "/attr/mp?attributes",
            &extra,
            "UNSIGNED-PAYLOAD",
            PASSWORD,
            SystemTime::now(),
        );
        let r = raw_request(
            srv.port,
            &request_bytes("GET", "/attr/mp?attributes", &s.headers, b""),
        )
        .expect("attributes");
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "InvalidArgument"),
            "{why}"
        );
    }
    let e = c
        .get_object_attributes()
        .bucket("attr")
        .key("nothing")
        .object_attributes(ObjectAttributes::Etag)
        .send()
        .await
        .expect_err("missing key");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e),
        Some("NoSuchKey")
    );
}
