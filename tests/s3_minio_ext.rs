//! MinIO's fan-out uploads and zip member reads against the real binary.
//! Fan-out: PostObject forms carrying `x-minio-fanout-list`, built and
//! signed by hand as minio-go's `PutObjectFanOut` sends them; every copy is
//! read back with the SDK. Zip: archives built by hand here (stored members
//! behind data descriptors as Go's `archive/zip` streams them, deflated
//! members from flate2), uploaded with the SDK and read back with
//! `x-minio-extract: true`.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use base64::Engine as _;
use hmac::{Hmac, Mac};

mod binary;
use binary::*;

const BOUNDARY: &str = "----cairnFanoutBoundary9q";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).expect("hmac");
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

/// The fields of a form as minio-go's `PutObjectFanOut` builds it: a
/// policy pinning the bucket, a key and the signing fields, then those
/// fields; `extra` are added to the form (and pinned when `pin`).
fn fanout_fields(
    bucket: &str,
    access: &str,
    secret: &str,
    extra: &[(&str, &str)],
    pin: bool,
) -> Vec<(String, String)> {
    let t = now();
    let stamp = cairn::auth::sigv4::format_amz_date(t as i64);
    let date = &stamp[..8];
    let credential = format!("{access}/{date}/{REGION}/s3/aws4_request");
    let key = format!("{:x}", t * 1_000_000_000);
    let exp = cairn::auth::sigv4::format_amz_date(t as i64 + 900);
    let expiration = format!(
        "{}-{}-{}T{}:{}:{}.000Z",
        &exp[0..4],
        &exp[4..6],
        &exp[6..8],
        &exp[9..11],
        &exp[11..13],
        &exp[13..15]
    );
    let mut conditions = vec![
        serde_json::json!(["eq", "$bucket", bucket]),
        serde_json::json!(["eq", "$key", key]),
        serde_json::json!(["eq", "$x-amz-date", stamp]),
        serde_json::json!(["eq", "$x-amz-algorithm", "AWS4-HMAC-SHA256"]),
        serde_json::json!(["eq", "$x-amz-credential", credential]),
    ];
    if pin {
        for (k, v) in extra {
            conditions.push(serde_json::json!(["eq", format!("${k}"), v]));
        }
    }
    let doc = serde_json::json!({"expiration": expiration, "conditions": conditions});
    let policy = base64::engine::general_purpose::STANDARD.encode(doc.to_string());
    let mut k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in [REGION, "s3", "aws4_request"] {
        k = hmac(&k, part.as_bytes());
    }
    let signature = hex::encode(hmac(&k, policy.as_bytes()));
    let mut fields = vec![
        ("bucket".to_owned(), bucket.to_owned()),
        ("key".to_owned(), key),
        ("x-amz-date".to_owned(), stamp.clone()),
        ("x-amz-algorithm".to_owned(), "AWS4-HMAC-SHA256".to_owned()),
        ("x-amz-credential".to_owned(), credential),
        ("policy".to_owned(), policy),
        ("x-amz-signature".to_owned(), signature),
    ];
    for (k, v) in extra {
        fields.push(((*k).to_owned(), (*v).to_owned()));
    }
    fields
}

/// The form's body: fields, the list, then the file `fanout-content`.
fn fanout_form(fields: &[(String, String)], list: &str, file: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut field = |name: &str, value: &str| {
        out.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    };
    for (k, v) in fields {
        field(k, v);
    }
    field("x-minio-fanout-list", list);
    out.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"fanout-content\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(file);
    out.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    out
}

fn post(srv: &Server, bucket: &str, body: &[u8]) -> RawResponse {
    let headers = vec![
        ("Host".to_owned(), format!("127.0.0.1:{}", srv.port)),
        (
            "Content-Type".to_owned(),
            format!("multipart/form-data; boundary={BOUNDARY}"),
        ),
        ("Content-Length".to_owned(), body.len().to_string()),
    ];
    raw_request(
        srv.port,
        &request_bytes("POST", &format!("/{bucket}"), &headers, body),
    )
    .expect("POST")
}

/// The answer's lines, parsed.
fn lines(r: &RawResponse) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&r.body)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn text(r: &RawResponse) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

async fn body_of(c: &Client, bucket: &str, key: &str) -> Vec<u8> {
    c.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {key}: {e:?}"))
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec()
}

async fn keys(c: &Client, bucket: &str) -> Vec<String> {
    let out = c
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("list");
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_fanout_form_stores_every_copy_and_answers_a_line_for_each() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("fan")
        .send()
        .await
        .expect("bucket");
    let file = data(300_000, 7);
    let n = 12;
    let mut list = String::new();
    for i in 0..n {
        let key = format!("obj/copy-{i}.ext");
        let entry = if i == 3 {
            serde_json::json!({
                "key": key,
                "contentType": "text/plain",
                "cacheControl": "no-cache",
                "metadata": {"Color": "red"},
                "tags": {"team": "a b"},
            })
        } else {
            serde_json::json!({"key": key, "contentType": "application/octet-stream"})
        };
        list.push_str(&entry.to_string());
        list.push('\n');
    }
    let fields = fanout_fields("fan", USER, PASSWORD, &[], false);
    let r = post(&srv, "fan", &fanout_form(&fields, &list, &file));
    assert_eq!(r.status, 200, "{}", text(&r));
    let got = lines(&r);
    assert_eq!(got.len(), n);
    let etag = md5_hex(&file);
    for (i, l) in got.iter().enumerate() {
        assert_eq!(l["key"], format!("obj/copy-{i}.ext"), "{l}");
        assert_eq!(l["etag"], etag.as_str(), "{l}");
        assert!(l.get("error").is_none(), "{l}");
        assert!(l["lastModified"].as_str().is_some_and(|t| t.ends_with('Z')));
        // The bucket has no versioning: no version ids.
        assert!(l.get("versionId").is_none(), "{l}");
    }
    for i in 0..n {
        assert_eq!(body_of(&c, "fan", &format!("obj/copy-{i}.ext")).await, file);
    }
    // The form's own key is not an object.
    assert_eq!(keys(&c, "fan").await.len(), n);
    let head = c
        .head_object()
        .bucket("fan")
        .key("obj/copy-3.ext")
        .send()
        .await
        .expect("head");
    assert_eq!(head.content_type(), Some("text/plain"));
    assert_eq!(head.cache_control(), Some("no-cache"));
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("color"))
            .map(String::as_str),
        Some("red")
    );
    let tags = c
        .get_object_tagging()
        .bucket("fan")
        .key("obj/copy-3.ext")
        .send()
        .await
        .expect("tags");
    assert_eq!(tags.tag_set().len(), 1);
    assert_eq!(
        (tags.tag_set()[0].key(), tags.tag_set()[0].value()),
        ("team", "a b")
    );

    // In a versioned bucket each line names its copy's version.
    c.put_bucket_versioning()
        .bucket("fan")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
    let fields = fanout_fields("fan", USER, PASSWORD, &[], false);
    let r = post(
        &srv,
        "fan",
        &fanout_form(
            &fields,
            "{\"key\":\"v/a\"}\n{\"key\":\"v/b\"}\n",
            b"versioned",
        ),
    );
    assert_eq!(r.status, 200, "{}", text(&r));
    for l in lines(&r) {
        let id = l["versionId"].as_str().expect("a version id").to_owned();
        let key = l["key"].as_str().expect("key").to_owned();
        let got = c
            .get_object()
            .bucket("fan")
            .key(&key)
            .version_id(&id)
            .send()
            .await
            .expect("the version");
        assert_eq!(got.version_id(), Some(id.as_str()));
    }
}

#[tokio::test]
async fn fanout_copies_outside_the_signers_policy_fail_alone() {
    let srv = Server::start();
    let admin = srv.client();
    admin
        .create_bucket()
        .bucket("fan")
        .send()
        .await
        .expect("bucket");
    let iam = iam_client(&srv.endpoint(), USER, PASSWORD);
    iam.create_user()
        .user_name("fanner")
        .send()
        .await
        .expect("user");
    let key = iam
        .create_access_key()
        .user_name("fanner")
        .send()
        .await
        .expect("key");
    let key = key.access_key().expect("key");
    iam.put_user_policy()
        .user_name("fanner")
        .policy_name("uploads")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::fan/ok/*"}]}"#,
        )
        .send()
        .await
        .expect("policy");
    let list = "{\"key\":\"ok/1\"}\n{\"key\":\"elsewhere/2\"}\n{\"key\":\"ok/3\"}\n";
    let fields = fanout_fields(
        "fan",
        key.access_key_id(),
        key.secret_access_key(),
        &[],
        false,
    );
    let r = post(&srv, "fan", &fanout_form(&fields, list, b"payload"));
    assert_eq!(r.status, 200, "{}", text(&r));
    let got = lines(&r);
    assert_eq!(got.len(), 3);
    assert!(got[0].get("error").is_none() && got[2].get("error").is_none());
    assert_eq!(got[1]["key"], "elsewhere/2");
    assert!(
        got[1]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("AccessDenied")),
        "{}",
        got[1]
    );
    assert_eq!(keys(&admin, "fan").await, ["ok/1", "ok/3"]);
}

#[tokio::test]
async fn bad_fanout_forms_are_refused_whole_and_store_nothing() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("fan")
        .send()
        .await
        .expect("bucket");
    let refused = |body: Vec<u8>, status: u16, code: &str| {
        let r = post(&srv, "fan", &body);
        assert_eq!(r.status, status, "{}", text(&r));
        assert!(
            text(&r).contains(&format!("<Code>{code}</Code>")),
            "{}",
            text(&r)
        );
    };
    let fields = || fanout_fields("fan", USER, PASSWORD, &[], false);
    // Not JSON, or JSON of the wrong shape.
    refused(
        fanout_form(&fields(), "{\"key\":\"a\"}\n{\"key\":", b"x"),
        400,
        "MalformedPOSTRequest",
    );
    refused(
        fanout_form(&fields(), "[{\"key\":\"a\"}]", b"x"),
        400,
        "MalformedPOSTRequest",
    );
    // More copies than allowed.
    let many: String = (0..1001)
        .map(|i| format!("{{\"key\":\"k{i}\"}}\n"))
        .collect();
    refused(
        fanout_form(&fields(), &many, b"x"),
        400,
        "MalformedPOSTRequest",
    );
    // A file over the fan-out limit (16 MiB).
    refused(
        fanout_form(&fields(), "{\"key\":\"big\"}", &vec![1u8; (16 << 20) + 1]),
        400,
        "EntityTooLarge",
    );
    // Only the list is exempt from the policy: another unnamed field is not.
    refused(
        fanout_form(
            &fanout_fields("fan", USER, PASSWORD, &[("x-amz-meta-extra", "1")], false),
            "{\"key\":\"a\"}",
            b"x",
        ),
        403,
        "AccessDenied",
    );
    // A bad signature.
    let mut forged = fields();
    for (k, v) in forged.iter_mut() {
        if k == "x-amz-signature" {
            *v = "0".repeat(64);
        }
    }
    refused(
        fanout_form(&forged, "{\"key\":\"a\"}", b"x"),
        403,
        "SignatureDoesNotMatch",
    );
    assert_eq!(keys(&c, "fan").await, Vec::<String>::new());
    // Pinned in the policy, the extra field is fine and reaches every copy.
    let fields = fanout_fields("fan", USER, PASSWORD, &[("x-amz-meta-extra", "1")], true);
    let r = post(&srv, "fan", &fanout_form(&fields, "{\"key\":\"a\"}", b"x"));
    assert_eq!(r.status, 200, "{}", text(&r));
    let head = c
        .head_object()
        .bucket("fan")
        .key("a")
        .send()
        .await
        .expect("a");
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("extra"))
            .map(String::as_str),
        Some("1")
    );
}

// ---------------------------------------------------------------------------
// Zip
// ---------------------------------------------------------------------------

struct ZipMember<'a> {
    name: &'a str,
    data: &'a [u8],
    deflate: bool,
}

fn deflate(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).expect("deflate");
    e.finish().expect("deflate")
}

/// A zip as Go's `archive/zip` streams it: each local header without
/// sizes, the data, a data descriptor; then the central directory.
fn zip(members: &[ZipMember<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for m in members {
        let stored = if m.deflate {
            deflate(m.data)
        } else {
            m.data.to_vec()
        };
        let method: u16 = if m.deflate { 8 } else { 0 };
        let crc = crc32fast::hash(m.data);
        let offset = out.len() as u32;
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(&0x0808u16.to_le_bytes());
        out.extend_from_slice(&method.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&[0; 12]);
        out.extend_from_slice(&(m.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(m.name.as_bytes());
        out.extend_from_slice(&stored);
        out.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&(stored.len() as u32).to_le_bytes());
        out.extend_from_slice(&(m.data.len() as u32).to_le_bytes());

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&[20, 3, 20, 0]);
        central.extend_from_slice(&0x0808u16.to_le_bytes());
        central.extend_from_slice(&method.to_le_bytes());
        central.extend_from_slice(&[0; 4]);
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&(stored.len() as u32).to_le_bytes());
        central.extend_from_slice(&(m.data.len() as u32).to_le_bytes());
        central.extend_from_slice(&(m.name.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0; 12]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(m.name.as_bytes());
    }
    let dir_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    let n = (members.len() as u16).to_le_bytes();
    out.extend_from_slice(&n);
    out.extend_from_slice(&n);
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&dir_offset.to_le_bytes());
    out.extend_from_slice(&[0; 2]);
    out
}

async fn put(c: &Client, bucket: &str, key: &str, body: Vec<u8>) {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PUT {key}: {e:?}"));
}

/// A GET of `key` with `x-minio-extract: true` (and `range`): status,
/// headers, body, and the error code if it failed.
async fn extract(
    c: &Client,
    bucket: &str,
    key: &str,
    range: Option<&str>,
) -> Result<(Vec<u8>, Option<i64>, Option<String>, Option<String>), (u16, String)> {
    let mut req = c.get_object().bucket(bucket).key(key);
    if let Some(r) = range {
        req = req.range(r);
    }
    let out = req
        .customize()
        .mutate_request(|r| {
            r.headers_mut().insert("x-minio-extract", "true");
        })
        .send()
        .await;
    match out {
        Ok(o) => {
            let (len, modified, content_range) = (
                o.content_length(),
                o.last_modified().map(|t| t.secs().to_string()),
                o.content_range().map(str::to_owned),
            );
            let body = o.body.collect().await.expect("body").into_bytes().to_vec();
            Ok((body, len, modified, content_range))
        }
        Err(e) => {
            let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
            let code = e
                .into_service_error()
                .meta()
                .code()
                .unwrap_or("")
                .to_owned();
            Err((status, code))
        }
    }
}

#[tokio::test]
async fn zip_members_are_read_stored_and_deflated_with_ranges() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("zips")
        .send()
        .await
        .expect("bucket");
    let small = b"hello, zip".to_vec();
    let big: Vec<u8> = (0..(1 << 20) + 333)
        .map(|i| (i % 251) as u8 ^ (i / 4096) as u8)
        .collect();
    let noise = data(200_000, 3);
    let archive = zip(&[
        ZipMember {
            name: "a.txt",
            data: &small,
            deflate: false,
        },
        ZipMember {
            name: "dir/big.bin",
            data: &big,
            deflate: true,
        },
        ZipMember {
            name: "dir/noise",
            data: &noise,
            deflate: false,
        },
        ZipMember {
            name: "empty",
            data: b"",
            deflate: true,
        },
    ]);
    put(&c, "zips", "set/files.zip", archive.clone()).await;
    let zip_modified = c
        .head_object()
        .bucket("zips")
        .key("set/files.zip")
        .send()
        .await
        .expect("head zip")
        .last_modified()
        .map(|t| t.secs().to_string());

    let (body, len, modified, _) = extract(&c, "zips", "set/files.zip/a.txt", None)
        .await
        .unwrap();
    assert_eq!((body, len), (small.clone(), Some(small.len() as i64)));
    assert_eq!(modified, zip_modified);
    let (body, len, _, _) = extract(&c, "zips", "set/files.zip/dir/big.bin", None)
        .await
        .unwrap();
    assert_eq!(len, Some(big.len() as i64));
    assert!(body == big, "the deflated member differs");
    let (body, _, _, _) = extract(&c, "zips", "set/files.zip/dir/noise", None)
        .await
        .unwrap();
    assert!(body == noise);
    let (body, len, _, _) = extract(&c, "zips", "set/files.zip/empty", None)
        .await
        .unwrap();
    assert_eq!((body.len(), len), (0, Some(0)));

    // Ranges, of a stored and of a deflated member.
    let (body, _, _, cr) = extract(
        &c,
        "zips",
        "set/files.zip/dir/noise",
        Some("bytes=1000-1999"),
    )
    .await
    .unwrap();
    assert_eq!(body, &noise[1000..2000]);
    assert_eq!(cr.as_deref(), Some("bytes 1000-1999/200000"));
    let (body, _, _, _) = extract(
        &c,
        "zips",
        "set/files.zip/dir/big.bin",
        Some("bytes=700000-"),
    )
    .await
    .unwrap();
    assert!(body == big[700_000..]);
    let (body, _, _, _) = extract(&c, "zips", "set/files.zip/dir/big.bin", Some("bytes=-10"))
        .await
        .unwrap();
    assert_eq!(body, &big[big.len() - 10..]);

    // HEAD answers the member's length.
    let head = c
        .head_object()
        .bucket("zips")
        .key("set/files.zip/dir/big.bin")
        .customize()
        .mutate_request(|r| {
            r.headers_mut().insert("x-minio-extract", "true");
        })
        .send()
        .await
        .expect("head member");
    assert_eq!(head.content_length(), Some(big.len() as i64));

    // A member the zip does not have, and the path without the header.
    assert_eq!(
        extract(&c, "zips", "set/files.zip/nope", None)
            .await
            .unwrap_err(),
        (404, "NoSuchKey".to_owned())
    );
    assert_eq!(
        extract(&c, "zips", "set/files.zip/dir", None)
            .await
            .unwrap_err(),
        (404, "NoSuchKey".to_owned())
    );
    assert!(c
        .get_object()
        .bucket("zips")
        .key("set/files.zip/a.txt")
        .send()
        .await
        .is_err());
    // No such zip.
    assert_eq!(
        extract(&c, "zips", "set/other.zip/a.txt", None)
            .await
            .unwrap_err(),
        (404, "NoSuchKey".to_owned())
    );
    // A new version of the zip is read, not the directory cached for the
    // old one.
    let again = zip(&[ZipMember {
        name: "a.txt",
        data: b"v2",
        deflate: false,
    }]);
    put(&c, "zips", "set/files.zip", again).await;
    let (body, _, _, _) = extract(&c, "zips", "set/files.zip/a.txt", None)
        .await
        .unwrap();
    assert_eq!(body, b"v2");
}

#[tokio::test]
async fn corrupt_and_unsupported_zips_are_refused_cleanly() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("zips")
        .send()
        .await
        .expect("bucket");
    put(&c, "zips", "junk.zip", data(100_000, 9)).await;
    assert_eq!(
        extract(&c, "zips", "junk.zip/a", None).await.unwrap_err(),
        (400, "InvalidRequest".to_owned())
    );
    put(&c, "zips", "tiny.zip", b"PK".to_vec()).await;
    assert_eq!(
        extract(&c, "zips", "tiny.zip/a", None).await.unwrap_err(),
        (400, "InvalidRequest".to_owned())
    );
    // Deflate data that is not deflate (a reserved block type), and a
    // stored member whose CRC-32 does not match: the directory reads, the
    // member does not.
    let mut bad = zip(&[ZipMember {
        name: "m",
        data: &[b'z'; 1000],
        deflate: true,
    }]);
    bad[30 + 1] = 0x07;
    put(&c, "zips", "bad.zip", bad).await;
    assert_eq!(
        extract(&c, "zips", "bad.zip/m", None).await.unwrap_err(),
        (400, "InvalidRequest".to_owned())
    );
    let mut crc = zip(&[ZipMember {
        name: "m",
        data: b"stored",
        deflate: false,
    }]);
    let dir = u32::from_le_bytes(crc[crc.len() - 6..crc.len() - 2].try_into().unwrap()) as usize;
    crc[dir + 16] ^= 1;
    put(&c, "zips", "crc.zip", crc).await;
    assert_eq!(
        extract(&c, "zips", "crc.zip/m", None).await.unwrap_err(),
        (400, "InvalidRequest".to_owned())
    );
    // zip64 and encrypted members are not read.
    let mut z64 = zip(&[ZipMember {
        name: "m",
        data: b"x",
        deflate: false,
    }]);
    let end = z64.len() - 22;
    z64[end + 16..end + 20].copy_from_slice(&u32::MAX.to_le_bytes());
    put(&c, "zips", "z64.zip", z64).await;
    assert_eq!(
        extract(&c, "zips", "z64.zip/m", None).await.unwrap_err(),
        (501, "NotImplemented".to_owned())
    );
    let mut enc = zip(&[ZipMember {
        name: "m",
        data: b"x",
        deflate: false,
    }]);
    let dir = u32::from_le_bytes(enc[enc.len() - 6..enc.len() - 2].try_into().unwrap()) as usize;
    enc[dir + 8] |= 1;
    put(&c, "zips", "enc.zip", enc).await;
    assert_eq!(
        extract(&c, "zips", "enc.zip/m", None).await.unwrap_err(),
        (501, "NotImplemented".to_owned())
    );
    // The server is fine.
    assert!(c.head_bucket().bucket("zips").send().await.is_ok());
}

#[tokio::test]
async fn zip_members_are_authorised_as_reads_of_the_zip() {
    let srv = Server::start();
    let admin = srv.client();
    admin
        .create_bucket()
        .bucket("zips")
        .send()
        .await
        .expect("bucket");
    put(
        &admin,
        "zips",
        "pub/a.zip",
        zip(&[ZipMember {
            name: "m",
            data: b"member",
            deflate: false,
        }]),
    )
    .await;
    put(
        &admin,
        "zips",
        "priv/b.zip",
        zip(&[ZipMember {
            name: "m",
            data: b"member",
            deflate: false,
        }]),
    )
    .await;
    let iam = iam_client(&srv.endpoint(), USER, PASSWORD);
    iam.create_user()
        .user_name("reader")
        .send()
        .await
        .expect("user");
    let key = iam
        .create_access_key()
        .user_name("reader")
        .send()
        .await
        .expect("key");
    let key = key.access_key().expect("key");
    // Reads of the zip itself, and (uselessly) of paths inside the other.
    iam.put_user_policy()
        .user_name("reader")
        .policy_name("reads")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":["arn:aws:s3:::zips/pub/a.zip","arn:aws:s3:::zips/priv/b.zip/*"]}]}"#,
        )
        .send()
        .await
        .expect("policy");
    let reader = client(
        &srv.endpoint(),
        key.access_key_id(),
        key.secret_access_key(),
    );
    let (body, _, _, _) = extract(&reader, "zips", "pub/a.zip/m", None).await.unwrap();
    assert_eq!(body, b"member");
    assert_eq!(
        extract(&reader, "zips", "priv/b.zip/m", None)
            .await
            .unwrap_err()
            .1,
        "AccessDenied"
    );
}
