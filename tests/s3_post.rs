//! PostObject (browser form uploads) against the real `cairn` binary: forms
//! built by hand, signed as AWS documents ("Browser-based uploads using
//! POST", SigV4 and SigV2), sent as raw HTTP; results read back with the
//! SDK. Every refusal is checked to leave nothing behind.

use std::io::{Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};

mod binary;
use binary::*;

const BOUNDARY: &str = "----cairnFormBoundaryX7f3";

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn iso8601(t: u64) -> String {
    let stamp = cairn::auth::sigv4::format_amz_date(t as i64);
    format!(
        "{}-{}-{}T{}:{}:{}.000Z",
        &stamp[0..4],
        &stamp[4..6],
        &stamp[6..8],
        &stamp[9..11],
        &stamp[11..13],
        &stamp[13..15]
    )
}

/// The SigV4 fields of a form: the policy with the credential conditions
/// added, as SDKs write it, and its signature with `secret`.
fn signed_v4(
    conditions: &[serde_json::Value],
    expires_in: i64,
    access: &str,
    secret: &str,
) -> Vec<(String, String)> {
    let t = now();
    let stamp = cairn::auth::sigv4::format_amz_date(t as i64);
    let date = &stamp[..8];
    let credential = format!("{access}/{date}/{REGION}/s3/aws4_request");
    let mut all = conditions.to_vec();
    all.push(serde_json::json!({"x-amz-algorithm": "AWS4-HMAC-SHA256"}));
    all.push(serde_json::json!({"x-amz-credential": credential}));
    all.push(serde_json::json!({"x-amz-date": stamp}));
    let doc = serde_json::json!({
        "expiration": iso8601((t as i64 + expires_in) as u64),
        "conditions": all,
    });
    let policy = b64(doc.to_string().as_bytes());
    sign_policy(policy, &stamp, access, secret)
}

/// The SigV4 fields for an already encoded policy signed at `stamp`.
fn sign_policy(policy: String, stamp: &str, access: &str, secret: &str) -> Vec<(String, String)> {
    let date = &stamp[..8];
    let credential = format!("{access}/{date}/{REGION}/s3/aws4_request");
    let mut k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in [REGION, "s3", "aws4_request"] {
        k = hmac(&k, part.as_bytes());
    }
    let signature = hex::encode(hmac(&k, policy.as_bytes()));
    vec![
        ("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into()),
        ("X-Amz-Credential".into(), credential),
        ("X-Amz-Date".into(), stamp.to_owned()),
        ("Policy".into(), policy),
        ("X-Amz-Signature".into(), signature),
    ]
}

fn signed(conditions: &[serde_json::Value]) -> Vec<(String, String)> {
    signed_v4(conditions, 600, USER, PASSWORD)
}

fn field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        )
        .as_bytes(),
    );
}

fn file_part(out: &mut Vec<u8>, filename: &str, content: &[u8]) {
    out.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(content);
    out.extend_from_slice(b"\r\n");
}

/// A form: `fields` in order, then the file (if any), then the close.
fn form(fields: &[(String, String)], file: Option<(&str, &[u8])>) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in fields {
        field(&mut out, k, v);
    }
    if let Some((name, content)) = file {
        file_part(&mut out, name, content);
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

fn post_as(srv: &Server, path: &str, host: &str, body: &[u8]) -> RawResponse {
    let headers = vec![
        ("Host".to_owned(), host.to_owned()),
        (
            "Content-Type".to_owned(),
            format!("multipart/form-data; boundary={BOUNDARY}"),
        ),
        ("Content-Length".to_owned(), body.len().to_string()),
    ];
    raw_request(srv.port, &request_bytes("POST", path, &headers, body)).expect("POST")
}

fn post(srv: &Server, bucket: &str, body: &[u8]) -> RawResponse {
    post_as(
        srv,
        &format!("/{bucket}"),
        &format!("127.0.0.1:{}", srv.port),
        body,
    )
}

fn kv(k: &str, v: &str) -> (String, String) {
    (k.to_owned(), v.to_owned())
}

async fn exists(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> bool {
    c.head_object().bucket(bucket).key(key).send().await.is_ok()
}

fn text(r: &RawResponse) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

#[tokio::test]
async fn a_signed_form_upload_lands_with_its_metadata_and_tags() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("forms")
        .send()
        .await
        .expect("bucket");
    let content = data(300_000, 7);
    let tagging =
        "<Tagging><TagSet><Tag><Key>kind</Key><Value>photo</Value></Tag></TagSet></Tagging>";
    let mut fields = vec![
        kv("key", "uploads/${filename}"),
        kv("Content-Type", "image/png"),
        kv("Cache-Control", "max-age=60"),
        kv("x-amz-meta-owner", "alice"),
        kv("acl", "private"),
        kv("tagging", tagging),
        kv("x-amz-storage-class", "STANDARD"),
        kv("x-ignore-widget", "not in the policy"),
    ];
    fields.extend(signed(&[
        serde_json::json!({"bucket": "forms"}),
        serde_json::json!(["starts-with", "$key", "uploads/"]),
        serde_json::json!(["starts-with", "$Content-Type", "image/"]),
        serde_json::json!({"cache-control": "max-age=60"}),
        serde_json::json!(["eq", "$x-amz-meta-owner", "alice"]),
        serde_json::json!({"acl": "private"}),
        serde_json::json!({"tagging": tagging}),
        serde_json::json!(["starts-with", "$x-amz-storage-class", ""]),
        serde_json::json!(["content-length-range", 1, 1_000_000]),
    ]));
    let r = post(
        &srv,
        "forms",
        &form(&fields, Some(("C:\\pics\\cat.png", &content))),
    );
    assert_eq!(r.status, 204, "{}", text(&r));
    assert_eq!(
        r.header("etag"),
        Some(format!("\"{}\"", md5_hex(&content)).as_str())
    );
    assert!(r
        .header("location")
        .is_some_and(|l| l.ends_with("/forms/uploads/cat.png")));
    let o = c
        .get_object()
        .bucket("forms")
        .key("uploads/cat.png")
        .send()
        .await
        .expect("the object landed");
    assert_eq!(o.content_type(), Some("image/png"));
    assert_eq!(o.cache_control(), Some("max-age=60"));
    assert_eq!(
        o.metadata()
            .and_then(|m| m.get("owner"))
            .map(String::as_str),
        Some("alice")
    );
    let body = o.body.collect().await.expect("body").into_bytes();
    assert!(body == content, "content differs");
    let tags = c
        .get_object_tagging()
        .bucket("forms")
        .key("uploads/cat.png")
        .send()
        .await
        .expect("tags");
    assert_eq!(tags.tag_set().len(), 1);
    assert_eq!(tags.tag_set()[0].key(), "kind");
    assert_eq!(tags.tag_set()[0].value(), "photo");
}

/// A form's `x-amz-storage-class` is the object's class, as PutObject's
/// header is; a class the node does not define is InvalidStorageClass and
/// nothing lands.
#[tokio::test]
async fn a_form_upload_takes_its_storage_class_or_is_refused_for_an_unknown_one() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("forms")
        .send()
        .await
        .expect("bucket");
    let content = data(200_000, 9);
    let upload = |key: &str, class: &str| {
        let mut fields = vec![kv("key", key), kv("x-amz-storage-class", class)];
        fields.extend(signed(&[
            serde_json::json!({"bucket": "forms"}),
            serde_json::json!(["starts-with", "$key", ""]),
            serde_json::json!(["starts-with", "$x-amz-storage-class", ""]),
        ]));
        post(&srv, "forms", &form(&fields, Some(("f.bin", &content))))
    };
    let r = upload("rrs", "REDUCED_REDUNDANCY");
    assert_eq!(r.status, 204, "{}", text(&r));
    let h = c
        .head_object()
        .bucket("forms")
        .key("rrs")
        .send()
        .await
        .expect("head");
    assert_eq!(
        h.storage_class().map(|s| s.as_str()),
        Some("REDUCED_REDUNDANCY")
    );
    assert!(get_bytes(&c, "forms", "rrs").await == content);
    for class in ["GLACIER", "NOPE"] {
        let r = upload("refused", class);
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "InvalidStorageClass"),
            "{}",
            text(&r)
        );
    }
    assert!(
        !exists(&c, "forms", "refused").await,
        "a refused form landed"
    );
}

/// A form's `acl` is the object's ACL, under the bucket's ownership
/// controls as for PutObject: stored with ACLs on, refused with them off.
#[tokio::test]
async fn a_form_acl_is_stored_or_refused_by_the_buckets_ownership_controls() {
    use aws_sdk_s3::types::ObjectOwnership;
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("form-acl")
        .object_ownership(ObjectOwnership::ObjectWriter)
        .send()
        .await
        .expect("bucket");
    c.create_bucket()
        .bucket("form-enforced")
        .send()
        .await
        .expect("bucket");
    let upload = |bucket: &str| {
        let mut fields = vec![kv("key", "pub"), kv("acl", "public-read")];
        fields.extend(signed(&[
            serde_json::json!({"bucket": bucket}),
            serde_json::json!({"key": "pub"}),
            serde_json::json!({"acl": "public-read"}),
        ]));
        post(&srv, bucket, &form(&fields, Some(("pub.txt", b"public"))))
    };
    let r = upload("form-acl");
    assert_eq!(r.status, 204, "{}", text(&r));
    let acl = c
        .get_object_acl()
        .bucket("form-acl")
        .key("pub")
        .send()
        .await
        .expect("acl");
    let all_users = acl.grants().iter().any(|g| {
        g.grantee().and_then(|w| w.uri()) == Some("http://acs.amazonaws.com/groups/global/AllUsers")
            && g.permission().map(|p| p.as_str()) == Some("READ")
    });
    assert!(all_users, "{acl:?}");

    let r = upload("form-enforced");
    assert_eq!(r.status, 400, "{}", text(&r));
    assert_eq!(r.code(), "AccessControlListNotSupported");
    assert_eq!(
        code(
            c.head_object()
                .bucket("form-enforced")
                .key("pub")
                .send()
                .await
        ),
        "NotFound"
    );
}

#[tokio::test]
async fn success_action_status_and_redirect_answer_as_s3_does() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("answers")
        .send()
        .await
        .expect("bucket");
    let content = b"hello form".to_vec();
    let etag = format!("\"{}\"", md5_hex(&content));

    // 201: the PostResponse document.
    let mut f = vec![kv("key", "a b.txt"), kv("success_action_status", "201")];
    f.extend(signed(&[
        serde_json::json!({"key": "a b.txt"}),
        serde_json::json!({"success_action_status": "201"}),
    ]));
    let r = post(&srv, "answers", &form(&f, Some(("x", &content))));
    assert_eq!(r.status, 201, "{}", text(&r));
    let doc = text(&r);
    assert!(doc.contains("<PostResponse>"), "{doc}");
    assert!(doc.contains("<Bucket>answers</Bucket>"), "{doc}");
    assert!(doc.contains("<Key>a b.txt</Key>"), "{doc}");
    assert!(doc.contains("/answers/a%20b.txt</Location>"), "{doc}");
    assert!(
        doc.contains(&format!("<ETag>&quot;{}&quot;</ETag>", md5_hex(&content)))
            || doc.contains(&format!("<ETag>{etag}</ETag>")),
        "{doc}"
    );

    // 200: empty.
    let mut f = vec![kv("key", "k200"), kv("success_action_status", "200")];
    f.extend(signed(&[
        serde_json::json!({"key": "k200"}),
        serde_json::json!({"success_action_status": "200"}),
    ]));
    let r = post(&srv, "answers", &form(&f, Some(("x", &content))));
    assert_eq!(r.status, 200, "{}", text(&r));
    assert!(r.body.is_empty());

    // 303 to the redirect with bucket, key and etag.
    let to = "http://127.0.0.1:9/done?from=form";
    let mut f = vec![kv("key", "k/303"), kv("success_action_redirect", to)];
    f.extend(signed(&[
        serde_json::json!({"key": "k/303"}),
        serde_json::json!([
            "starts-with",
            "$success_action_redirect",
            "http://127.0.0.1:9/"
        ]),
    ]));
    let r = post(&srv, "answers", &form(&f, Some(("x", &content))));
    assert_eq!(r.status, 303, "{}", text(&r));
    let quoted_etag = etag.replace('"', "%22");
    assert_eq!(
        r.header("location"),
        Some(format!("{to}&bucket=answers&key=k%2F303&etag={quoted_etag}").as_str())
    );
    for key in ["a b.txt", "k200", "k/303"] {
        assert_eq!(get_bytes(&c, "answers", key).await, content, "{key}");
    }
}

/// A refused form: its status and code, and that it left nothing.
async fn refused(srv: &Server, body: &[u8], status: u16, code: &str, key: &str) -> String {
    let r = post(srv, "guarded", body);
    assert_eq!(
        (r.status, r.code().as_str()),
        (status, code),
        "{}",
        text(&r)
    );
    assert!(text(&r).contains("<RequestId>"), "{}", text(&r));
    assert!(!exists(&srv.client(), "guarded", key).await, "{key} landed");
    text(&r).replace("&quot;", "\"").replace("&apos;", "'")
}

#[tokio::test]
async fn each_violated_condition_refuses_the_upload_and_nothing_lands() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("guarded")
        .send()
        .await
        .expect("bucket");
    let content = b"payload".to_vec();
    let file = Some(("f.txt", content.as_slice()));
    let base = || {
        vec![
            serde_json::json!({"bucket": "guarded"}),
            serde_json::json!(["starts-with", "$key", "ok/"]),
            serde_json::json!(["eq", "$Content-Type", "text/plain"]),
        ]
    };
    let with = |key: &str, ctype: &str, sig: Vec<(String, String)>| {
        let mut f = vec![kv("key", key), kv("Content-Type", ctype)];
        f.extend(sig);
        f
    };

    // The same form within the policy lands (so each refusal below is the
    // condition's doing).
    let good = with("ok/1", "text/plain", signed(&base()));
    let r = post(&srv, "guarded", &form(&good, file));
    assert_eq!(r.status, 204, "{}", text(&r));

    let m = refused(
        &srv,
        &form(&with("no/2", "text/plain", signed(&base())), file),
        403,
        "AccessDenied",
        "no/2",
    )
    .await;
    assert!(m.contains("Invalid according to Policy: Policy Condition failed: [\"starts-with\", \"$key\", \"ok/\"]"), "{m}");
    let m = refused(
        &srv,
        &form(&with("ok/3", "text/html", signed(&base())), file),
        403,
        "AccessDenied",
        "ok/3",
    )
    .await;
    assert!(
        m.contains("[\"eq\", \"$content-type\", \"text/plain\"]"),
        "{m}"
    );

    // A field no condition names.
    let mut f = with("ok/4", "text/plain", signed(&base()));
    f.push(kv("x-amz-meta-sneaky", "1"));
    let m = refused(&srv, &form(&f, file), 403, "AccessDenied", "ok/4").await;
    assert!(m.contains("Extra input fields: x-amz-meta-sneaky"), "{m}");

    // A policy for another bucket.
    let mut other = base();
    other[0] = serde_json::json!({"bucket": "elsewhere"});
    refused(
        &srv,
        &form(&with("ok/5", "text/plain", signed(&other)), file),
        403,
        "AccessDenied",
        "ok/5",
    )
    .await;

    // Expired.
    let m = refused(
        &srv,
        &form(
            &with(
                "ok/6",
                "text/plain",
                signed_v4(&base(), -60, USER, PASSWORD),
            ),
            file,
        ),
        403,
        "AccessDenied",
        "ok/6",
    )
    .await;
    assert!(m.contains("Policy expired."), "{m}");

    // Signed with a wrong secret; an unknown key.
    refused(
        &srv,
        &form(
            &with("ok/7", "text/plain", signed_v4(&base(), 600, USER, "wrong")),
            file,
        ),
        403,
        "SignatureDoesNotMatch",
        "ok/7",
    )
    .await;
    refused(
        &srv,
        &form(
            &with(
                "ok/8",
                "text/plain",
                signed_v4(&base(), 600, "NOBODY", PASSWORD),
            ),
            file,
        ),
        403,
        "InvalidAccessKeyId",
        "ok/8",
    )
    .await;

    // The policy changed after signing.
    let mut f = with("ok/9", "text/plain", signed(&base()));
    let relaxed = signed(&[serde_json::json!(["starts-with", "$key", ""])]);
    for (k, v) in f.iter_mut() {
        if k == "Policy" {
            *v = relaxed
                .iter()
                .find(|(k, _)| k == "Policy")
                .expect("policy")
                .1
                .clone();
        }
    }
    refused(&srv, &form(&f, file), 403, "SignatureDoesNotMatch", "ok/9").await;

    // No credentials at all: an anonymous PutObject, which nothing here
    // allows (tests/access_gaps.rs has the buckets that do).
    let anon = vec![kv("key", "ok/10"), kv("Content-Type", "text/plain")];
    refused(&srv, &form(&anon, file), 403, "AccessDenied", "ok/10").await;

    // No key field; no file; two files; a policy that is not JSON.
    let no_key: Vec<_> = with("ok/11", "text/plain", signed(&base()))
        .into_iter()
        .filter(|(k, _)| k != "key")
        .collect();
    let m = refused(&srv, &form(&no_key, file), 400, "InvalidArgument", "ok/11").await;
    assert!(
        m.contains("must contain a field named &apos;key&apos;") || m.contains("field named 'key'"),
        "{m}"
    );
    refused(
        &srv,
        &form(&with("ok/12", "text/plain", signed(&base())), None),
        400,
        "IncorrectNumberOfFilesInPostRequest",
        "ok/12",
    )
    .await;
    let mut two = Vec::new();
    for (k, v) in with("ok/13", "text/plain", signed(&base())) {
        field(&mut two, &k, &v);
    }
    file_part(&mut two, "a", b"one");
    file_part(&mut two, "b", b"two");
    two.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    refused(
        &srv,
        &two,
        400,
        "IncorrectNumberOfFilesInPostRequest",
        "ok/13",
    )
    .await;
    let stamp = cairn::auth::sigv4::format_amz_date(now() as i64);
    let f = with(
        "ok/14",
        "text/plain",
        sign_policy(b64(b"{not json"), &stamp, USER, PASSWORD),
    );
    refused(&srv, &form(&f, file), 400, "InvalidPolicyDocument", "ok/14").await;

    // Framing: no close delimiter; fields before the file over 20 KB.
    let mut open = form(&with("ok/15", "text/plain", signed(&base())), file);
    open.truncate(open.len() - (BOUNDARY.len() + 6));
    refused(&srv, &open, 400, "MalformedPOSTRequest", "ok/15").await;
    let mut big = with("ok/16", "text/plain", signed(&base()));
    big.push(kv("x-ignore-pad", &"p".repeat(12_000)));
    big.push(kv("x-ignore-pad2", &"p".repeat(12_000)));
    refused(
        &srv,
        &form(&big, file),
        400,
        "MaxPostPreDataLengthExceededError",
        "ok/16",
    )
    .await;

    // A missing bucket is 404, checked before the form is read.
    let r = post(&srv, "no-such-bucket", &form(&good, file));
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchBucket"));
}

#[tokio::test]
async fn content_length_range_is_enforced_while_the_file_streams() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("sized")
        .send()
        .await
        .expect("bucket");
    let conditions = |key: &str| {
        vec![
            serde_json::json!({"key": key}),
            serde_json::json!(["content-length-range", 10, 1_048_576]),
        ]
    };
    let send = |key: &str, content: &[u8]| {
        let mut f = vec![kv("key", key)];
        f.extend(signed(&conditions(key)));
        post(&srv, "sized", &form(&f, Some(("f", content))))
    };
    // At both bounds: lands.
    for (key, len) in [("min", 10), ("max", 1_048_576)] {
        let r = send(key, &data(len, 1));
        assert_eq!(r.status, 204, "{key}: {}", text(&r));
        assert_eq!(get_bytes(&c, "sized", key).await.len(), len);
    }
    // One byte short, one over, far over: refused, nothing visible.
    let r = send("short", &data(9, 2));
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "EntityTooSmall"),
        "{}",
        text(&r)
    );
    assert!(!exists(&c, "sized", "short").await);
    let r = send("over", &data(1_048_577, 3));
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "EntityTooLarge"),
        "{}",
        text(&r)
    );
    assert!(!exists(&c, "sized", "over").await);
    // 8 MiB against a 1 MiB limit: refused once the limit is passed; the
    // server answers without reading the rest (bar its bounded drain), so
    // the answer is read while the body is still being written.
    let mut f = vec![kv("key", "huge")];
    f.extend(signed(&conditions("huge")));
    let body = form(&f, Some(("f", &data(8 << 20, 4))));
    let head = format!(
        "POST /sized HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        srv.port,
        body.len()
    );
    let mut s = std::net::TcpStream::connect(("127.0.0.1", srv.port)).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    let mut w = s.try_clone().expect("clone");
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(head.as_bytes());
        // The server stops reading: a broken pipe here is expected.
        w.write_all(&body).is_ok()
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let all_written = writer.join().expect("writer");
    let answer = String::from_utf8_lossy(&got);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("<Code>EntityTooLarge</Code>"), "{answer}");
    assert!(!all_written, "the server read the whole 8 MiB body");
    assert!(!exists(&c, "sized", "huge").await);
}

#[tokio::test]
async fn sigv2_chunked_and_virtual_hosted_forms_are_served() {
    let srv = Server::start_with(&["--domain", "s3.test"]);
    let c = srv.client();
    c.create_bucket()
        .bucket("legacy")
        .send()
        .await
        .expect("bucket");

    // SigV2: AWSAccessKeyId + signature (base64 HMAC-SHA1 of the policy).
    let doc = serde_json::json!({
        "expiration": iso8601(now() + 600),
        "conditions": [{"bucket": "legacy"}, ["starts-with", "$key", "v2/"]],
    });
    let policy = b64(doc.to_string().as_bytes());
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(PASSWORD.as_bytes()).expect("key");
    mac.update(policy.as_bytes());
    let sig = b64(&mac.finalize().into_bytes());
    let f = vec![
        kv("key", "v2/${filename}"),
        kv("AWSAccessKeyId", USER),
        kv("policy", &policy),
        kv("signature", &sig),
    ];
    let r = post(&srv, "legacy", &form(&f, Some(("old.bin", b"v2 body"))));
    assert_eq!(r.status, 204, "{}", text(&r));
    assert_eq!(get_bytes(&c, "legacy", "v2/old.bin").await, b"v2 body");
    let mut bad = f.clone();
    bad[3].1 = b64(&[0u8; 20]);
    let r = post(&srv, "legacy", &form(&bad, Some(("no.bin", b"x"))));
    assert_eq!(r.code(), "SignatureDoesNotMatch");
    assert!(!exists(&c, "legacy", "v2/no.bin").await);

    // Virtual-hosted style, and a chunked body (no Content-Length), as
    // `warp put --post` streams it.
    let mut f = vec![kv("key", "vh/chunked")];
    f.extend(signed(&[
        serde_json::json!({"key": "vh/chunked"}),
        serde_json::json!({"bucket": "legacy"}),
    ]));
    let content = data(200_000, 9);
    let body = form(&f, Some(("c", &content)));
    let mut chunked = Vec::new();
    for piece in body.chunks(7_001) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let headers = vec![
        kv("Host", "legacy.s3.test"),
        kv(
            "Content-Type",
            &format!("multipart/form-data; boundary=\"{BOUNDARY}\""),
        ),
        kv("Transfer-Encoding", "chunked"),
    ];
    let r = raw_request(srv.port, &request_bytes("POST", "/", &headers, &chunked)).expect("POST");
    assert_eq!(r.status, 204, "{}", text(&r));
    assert_eq!(get_bytes(&c, "legacy", "vh/chunked").await, content);

    // A signed POST to a bucket that is not a form is not an upload.
    let s = sign(
        srv.port,
        "POST",
        "/legacy",
        &[],
        &sha256_hex(b""),
        PASSWORD,
        SystemTime::now(),
    );
    let r =
        raw_request(srv.port, &request_bytes("POST", "/legacy", &s.headers, b"")).expect("POST");
    assert_eq!(
        (r.status, r.code().as_str()),
        (412, "PreconditionFailed"),
        "{}",
        text(&r)
    );
}

/// A form may ask for SSE-S3 (a field, signed like any other); without
/// one, the bucket's default encryption applies, as for PutObject.
#[tokio::test]
async fn a_form_upload_is_encrypted_as_it_asks_or_as_its_bucket_says() {
    use aws_sdk_s3::types::{
        ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
        ServerSideEncryptionRule,
    };
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("forms")
        .send()
        .await
        .expect("bucket");
    let content = data(100_000, 3);
    let upload = |key: &str, sse: Option<&str>| {
        let mut fields = vec![kv("key", key)];
        let mut conditions = vec![
            serde_json::json!({"bucket": "forms"}),
            serde_json::json!({"key": key}),
        ];
        if let Some(v) = sse {
            fields.push(kv("x-amz-server-side-encryption", v));
            conditions.push(serde_json::json!({"x-amz-server-side-encryption": v}));
        }
        fields.extend(signed(&conditions));
        post(&srv, "forms", &form(&fields, Some(("f", &content))))
    };
    let sse_of = |key: &'static str| {
        let c = c.clone();
        async move {
            let h = c
                .head_object()
                .bucket("forms")
                .key(key)
                .send()
                .await
                .expect("head");
            h.server_side_encryption().map(|s| s.as_str().to_owned())
        }
    };
    let r = upload("asked", Some("AES256"));
    assert_eq!(r.status, 204, "{}", text(&r));
    assert_eq!(r.header("x-amz-server-side-encryption"), Some("AES256"));
    assert_eq!(sse_of("asked").await.as_deref(), Some("AES256"));
    let r = upload("plain", None);
    assert_eq!(r.status, 204, "{}", text(&r));
    assert_eq!(sse_of("plain").await, None);
    let r = upload("bad", Some("DES"));
    assert_eq!(r.status, 400, "{}", text(&r));

    let by_default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::Aes256)
        .build()
        .unwrap();
    c.put_bucket_encryption()
        .bucket("forms")
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(by_default)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let r = upload("defaulted", None);
    assert_eq!(r.status, 204, "{}", text(&r));
    assert_eq!(sse_of("defaulted").await.as_deref(), Some("AES256"));
    let got = c
        .get_object()
        .bucket("forms")
        .key("defaulted")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert!(got == content, "an encrypted form upload reads back");
}

/// A form signed by a tenant's user lands in its tenant's bucket of the
/// name it gives (not the global bucket of that name), and the answer
/// names the bucket as the form did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_form_lands_in_its_tenants_bucket() {
    let srv = Server::start();
    let cli = binary::cli::Cli::for_server(&srv);
    cli.readwrite_policy();
    cli.ok(&["tenant", "add", "local", "acme"]);
    let (ak, sk) = cli.readwrite_user("ann", "acme");
    let (ak, sk) = (ak.as_str(), sk.as_str());
    let ann = client(&srv.endpoint(), ak, sk);
    let root = srv.client();
    for c in [&ann, &root] {
        c.create_bucket()
            .bucket("forms")
            .send()
            .await
            .expect("bucket");
    }
    let mut fields = vec![
        kv("key", "t/${filename}"),
        kv("success_action_status", "201"),
    ];
    fields.extend(signed_v4(
        &[
            serde_json::json!({"bucket": "forms"}),
            serde_json::json!(["starts-with", "$key", "t/"]),
            serde_json::json!({"success_action_status": "201"}),
        ],
        600,
        ak,
        sk,
    ));
    let r = post(&srv, "forms", &form(&fields, Some(("a.txt", b"acme's"))));
    assert_eq!(r.status, 201, "{}", text(&r));
    let body = text(&r);
    assert!(body.contains("<Bucket>forms</Bucket>"), "{body}");
    assert!(body.contains("/forms/t/a.txt</Location>"), "{body}");
    assert!(exists(&ann, "forms", "t/a.txt").await, "in acme's bucket");
    assert!(
        !exists(&root, "forms", "t/a.txt").await,
        "not in the global one"
    );

    // A tenant's form to a bucket only the global namespace has.
    root.create_bucket()
        .bucket("global-only")
        .send()
        .await
        .expect("bucket");
    let mut fields = vec![kv("key", "x")];
    fields.extend(signed_v4(
        &[
            serde_json::json!({"bucket": "global-only"}),
            serde_json::json!({"key": "x"}),
        ],
        600,
        ak,
        sk,
    ));
    let r = post(&srv, "global-only", &form(&fields, Some(("x", b"x"))));
    assert_eq!(r.status, 404, "{}", text(&r));
    assert!(text(&r).contains("NoSuchBucket"));
    assert!(!exists(&root, "global-only", "x").await);
}
