//! PostObject forms as minio-go's `PresignedPostPolicy` builds them (what
//! `warp put --post` sends): a SigV4-signed policy pinning the bucket, the
//! key, the content type and the exact length, then the file.

use std::collections::VecDeque;

use base64::Engine as _;
use bytes::Bytes;

use crate::sign::{amz_date, hmac_sha256, to_hex};

/// The content type of the uploaded objects (warp's default).
pub const CONTENT_TYPE: &str = "application/octet-stream";

/// A form ready to send: its `Content-Type` (with the boundary) and the
/// body in pieces, the object's bytes among them uncopied.
pub struct Form {
    pub content_type: String,
    pub pieces: VecDeque<Bytes>,
}

pub struct Credentials<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub region: &'a str,
}

/// `2006-01-02T15:04:05.000Z`, the policy's date format.
fn iso(unix: u64) -> String {
    let d = amz_date(unix);
    format!(
        "{}-{}-{}T{}:{}:{}.000Z",
        &d[0..4],
        &d[4..6],
        &d[6..8],
        &d[9..11],
        &d[11..13],
        &d[13..15]
    )
}

fn json(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The form uploading `object` to `bucket`/`key` at Unix time `now`
/// (the policy expires a day later, as warp's); `sse_s3` adds the
/// `x-amz-server-side-encryption` field and its condition.
pub fn form(
    creds: &Credentials<'_>,
    bucket: &str,
    key: &str,
    object: Bytes,
    now: u64,
    sse_s3: bool,
) -> Form {
    let mut fields: Vec<(&str, String)> = vec![
        ("bucket", bucket.to_owned()),
        ("key", key.to_owned()),
        ("Content-Type", CONTENT_TYPE.to_owned()),
    ];
    if sse_s3 {
        fields.push(("x-amz-server-side-encryption", "AES256".to_owned()));
    }
    let len = object.len();
    let name = key.rsplit('/').next().unwrap_or(key);
    signed(
        creds,
        fields,
        &[format!("[\"content-length-range\",{len},{len}]")],
        now + 86_400,
        &[],
        name,
        object,
        now,
    )
}

/// minio-go's `PutObjectFanOut` (`warp fanout`): a form whose policy pins
/// only the bucket, a key (the time in hex nanoseconds) and the signing
/// fields, expiring 15 minutes later, plus `x-minio-fanout-list` (one
/// JSON entry per copy's key, as Go's encoder writes them; not in the
/// policy) and the file `fanout-content`.
pub fn fanout_form(
    creds: &Credentials<'_>,
    bucket: &str,
    keys: &[String],
    object: Bytes,
    now: u64,
    nanos: u128,
) -> Form {
    let fields = vec![("bucket", bucket.to_owned()), ("key", format!("{nanos:x}"))];
    let list: String = keys
        .iter()
        .map(|k| {
            format!(
                "{{\"key\":{},\"contentType\":{}}}\n",
                json(k),
                json(CONTENT_TYPE)
            )
        })
        .collect();
    signed(
        creds,
        fields,
        &[],
        now + 15 * 60,
        &[("x-minio-fanout-list", list)],
        "fanout-content",
        object,
        now,
    )
}

/// A form of `fields` and the signing fields, all pinned by an `eq`
/// condition, plus `conditions`, expiring at `expires`; then `unpinned`
/// fields, then the file.
#[allow(clippy::too_many_arguments)]
fn signed<'a>(
    creds: &Credentials<'_>,
    mut fields: Vec<(&'a str, String)>,
    conditions: &[String],
    expires: u64,
    unpinned: &[(&'a str, String)],
    filename: &str,
    object: Bytes,
    now: u64,
) -> Form {
    let date = amz_date(now);
    let day = &date[..8];
    let credential = format!(
        "{}/{day}/{}/s3/aws4_request",
        creds.access_key, creds.region
    );
    let at = fields
        .iter()
        .position(|(k, _)| k.starts_with("x-amz-server-side"))
        .unwrap_or(fields.len());
    fields.splice(
        at..at,
        [
            ("x-amz-date", date.clone()),
            ("x-amz-algorithm", "AWS4-HMAC-SHA256".to_owned()),
            ("x-amz-credential", credential),
        ],
    );
    let mut pinned: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("[\"eq\",{},{}]", json(&format!("${k}")), json(v)))
        .collect();
    pinned.extend_from_slice(conditions);
    let policy = format!(
        "{{\"expiration\":\"{}\",\"conditions\":[{}]}}",
        iso(expires),
        pinned.join(",")
    );
    let policy = base64::engine::general_purpose::STANDARD.encode(policy);
    let k = hmac_sha256(
        format!("AWS4{}", creds.secret_key).as_bytes(),
        day.as_bytes(),
    );
    let k = hmac_sha256(&k, creds.region.as_bytes());
    let k = hmac_sha256(&k, b"s3");
    let k = hmac_sha256(&k, b"aws4_request");
    let signature = to_hex(&hmac_sha256(&k, policy.as_bytes()));
    fields.push(("policy", policy));
    fields.push(("x-amz-signature", signature));
    fields.extend(unpinned.iter().map(|(k, v)| (*k, v.clone())));

    // The object's bytes are random: a boundary from the time and length
    // cannot be told apart from them in practice, as Go's random one.
    let len = object.len();
    let boundary = format!(
        "cairnbench{now:x}{len:x}{:016x}",
        crate::data::mix(now ^ len as u64)
    );
    let mut head = String::new();
    for (k, v) in &fields {
        head.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        ));
    }
    head.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
         Content-Type: {CONTENT_TYPE}\r\n\r\n"
    ));
    Form {
        content_type: format!("multipart/form-data; boundary={boundary}"),
        pieces: VecDeque::from([
            Bytes::from(head),
            object,
            Bytes::from(format!("\r\n--{boundary}--\r\n")),
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<'a>(body: &'a str, name: &str) -> Option<&'a str> {
        let start = body.find(&format!("name=\"{name}\"\r\n\r\n"))? + name.len() + 11;
        Some(&body[start..start + body[start..].find("\r\n")?])
    }

    #[test]
    fn the_policy_pins_every_field_and_the_exact_length_and_is_signed() {
        let creds = Credentials {
            access_key: "AK",
            secret_key: "SK",
            region: "us-east-1",
        };
        let f = form(
            &creds,
            "b",
            "p/0/7",
            Bytes::from_static(b"hello"),
            951_827_696,
            true,
        );
        let body: Vec<u8> = f.pieces.iter().flat_map(|p| p.to_vec()).collect();
        let body = String::from_utf8(body).unwrap();
        let boundary = f.content_type.split("boundary=").nth(1).unwrap();
        assert!(body.starts_with(&format!("--{boundary}\r\n")));
        assert!(body.ends_with(&format!("\r\nhello\r\n--{boundary}--\r\n")));
        assert!(body.contains("name=\"file\"; filename=\"7\"\r\n"));
        assert_eq!(field(&body, "key"), Some("p/0/7"));
        assert_eq!(field(&body, "x-amz-date"), Some("20000229T123456Z"));
        assert_eq!(
            field(&body, "x-amz-credential"),
            Some("AK/20000229/us-east-1/s3/aws4_request")
        );
        let policy = field(&body, "policy").unwrap();
        let doc = base64::engine::general_purpose::STANDARD
            .decode(policy)
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        assert_eq!(doc["expiration"], "2000-03-01T12:34:56.000Z");
        let conds = doc["conditions"].as_array().unwrap();
        for name in [
            "$bucket",
            "$key",
            "$Content-Type",
            "$x-amz-date",
            "$x-amz-algorithm",
            "$x-amz-credential",
            "$x-amz-server-side-encryption",
        ] {
            assert!(
                conds.iter().any(|c| c[0] == "eq" && c[1] == name),
                "{name} not pinned"
            );
        }
        assert!(conds
            .iter()
            .any(|c| c[0] == "content-length-range" && c[1] == 5 && c[2] == 5));
        // The signature is HMAC(signing key of the day, the base64 policy).
        let k = hmac_sha256(b"AWS4SK", b"20000229");
        let k = hmac_sha256(
            &hmac_sha256(&hmac_sha256(&k, b"us-east-1"), b"s3"),
            b"aws4_request",
        );
        assert_eq!(
            field(&body, "x-amz-signature"),
            Some(to_hex(&hmac_sha256(&k, policy.as_bytes())).as_str())
        );
    }

    #[test]
    fn fanout_forms_carry_the_copies_outside_the_policy() {
        let creds = Credentials {
            access_key: "AK",
            secret_key: "SK",
            region: "us-east-1",
        };
        let keys = ["p/0/1/copy-0.ext".to_owned(), "p/0/1/copy-1.ext".to_owned()];
        let f = fanout_form(
            &creds,
            "b",
            &keys,
            Bytes::from_static(b"hi"),
            951_827_696,
            0xabc,
        );
        let body: Vec<u8> = f.pieces.iter().flat_map(|p| p.to_vec()).collect();
        let body = String::from_utf8(body).unwrap();
        assert_eq!(field(&body, "key"), Some("abc"));
        assert!(body.contains("name=\"file\"; filename=\"fanout-content\"\r\n"));
        let marker = "name=\"x-minio-fanout-list\"\r\n\r\n";
        let list = &body[body.find(marker).unwrap() + marker.len()..];
        let lines: Vec<serde_json::Value> = list
            .lines()
            .take(2)
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["key"], "p/0/1/copy-0.ext");
        assert_eq!(lines[1]["contentType"], CONTENT_TYPE);
        let doc = base64::engine::general_purpose::STANDARD
            .decode(field(&body, "policy").unwrap())
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        // 15 minutes, as minio-go; only the bucket, key and signing fields.
        assert_eq!(doc["expiration"], "2000-02-29T12:49:56.000Z");
        let conds = doc["conditions"].as_array().unwrap();
        assert_eq!(conds.len(), 5, "{conds:?}");
        assert!(!conds.iter().any(|c| c[1] == "$x-minio-fanout-list"));
    }
}
