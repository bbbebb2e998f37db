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
    let date = amz_date(now);
    let day = &date[..8];
    let credential = format!(
        "{}/{day}/{}/s3/aws4_request",
        creds.access_key, creds.region
    );
    let mut fields: Vec<(&str, String)> = vec![
        ("bucket", bucket.to_owned()),
        ("key", key.to_owned()),
        ("Content-Type", CONTENT_TYPE.to_owned()),
        ("x-amz-date", date.clone()),
        ("x-amz-algorithm", "AWS4-HMAC-SHA256".to_owned()),
        ("x-amz-credential", credential),
    ];
    if sse_s3 {
        fields.push(("x-amz-server-side-encryption", "AES256".to_owned()));
    }
    let mut conditions: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("[\"eq\",{},{}]", json(&format!("${k}")), json(v)))
        .collect();
    let len = object.len();
    conditions.push(format!("[\"content-length-range\",{len},{len}]"));
    let policy = format!(
        "{{\"expiration\":\"{}\",\"conditions\":[{}]}}",
        iso(now + 86_400),
        conditions.join(",")
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

    // The object's bytes are random: a boundary from the time and length
    // cannot be told apart from them in practice, as Go's random one.
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
    let name = key.rsplit('/').next().unwrap_or(key);
    head.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
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
}
