//! PutObject, and the metadata headers every write stores.

use http::header::{HeaderValue, ETAG};
use http::{HeaderMap, Response, StatusCode};
use hyper::body::Incoming;

use crate::auth::checksum::ChecksumAlgo;
use crate::auth::sigv4::PayloadMode;
use crate::engine::{BodySource, EngineError, PutOptions};

use super::body::{RequestBody, MAX_OBJECT_SIZE};
use super::conditional;
use super::error::{S3Code, S3Error};
use super::handler::{status_only, Ctx, ResBody, S3Result};
use super::tagging::tags_from_header;
use super::versions::add_version_header;

/// S3's limit on user metadata: keys plus values, in bytes.
pub const MAX_USER_META: usize = 2048;

/// System headers kept with the object and returned on GET/HEAD.
const STORED_HEADERS: [&str; 5] = [
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
];

const META_PREFIX: &str = "x-amz-meta-";

/// First of the private-use code points that stand for bytes which are not
/// UTF-8 (U+F780 + byte), so any header value survives as a `String`.
const RAW_BYTE_BASE: u32 = 0xF700;

/// A header value as stored. S3 returns metadata bytes as they were sent:
/// UTF-8 is kept as is; other bytes (a Latin-1 `é` is the single byte 0xE9)
/// are mapped one to one into private-use characters, undone by
/// [`header_bytes`].
pub fn header_text(v: &[u8]) -> String {
    let mut out = String::with_capacity(v.len());
    for chunk in v.utf8_chunks() {
        out.push_str(chunk.valid());
        for &b in chunk.invalid() {
            out.push(char::from_u32(RAW_BYTE_BASE + u32::from(b)).unwrap_or('\u{FFFD}'));
        }
    }
    out
}

/// The bytes a stored header value was sent as (see [`header_text`]).
pub fn header_bytes(s: &str) -> std::borrow::Cow<'_, [u8]> {
    let raw = |c: char| (RAW_BYTE_BASE + 0x80..=RAW_BYTE_BASE + 0xFF).contains(&u32::from(c));
    if !s.chars().any(raw) {
        return std::borrow::Cow::Borrowed(s.as_bytes());
    }
    let mut out = Vec::with_capacity(s.len());
    let mut buf = [0u8; 4];
    for c in s.chars() {
        if raw(c) {
            out.push((u32::from(c) - RAW_BYTE_BASE) as u8);
        } else {
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    std::borrow::Cow::Owned(out)
}

fn text(v: &HeaderValue) -> String {
    header_text(v.as_bytes())
}

/// `Content-Encoding` as sent, less any `aws-chunked` member (which
/// describes the transfer, not the object); `None` if nothing is left.
fn content_encoding(value: &str) -> Option<String> {
    let kept: Vec<&str> = value
        .split(',')
        .filter(|c| !c.trim().is_empty() && !c.trim().eq_ignore_ascii_case("aws-chunked"))
        .collect();
    let v = kept.join(",");
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

/// Content-Type, stored system headers and `x-amz-meta-*` from a request.
pub fn put_options(headers: &HeaderMap) -> Result<PutOptions, S3Error> {
    reject_unsupported(headers)?;
    let mut opts = PutOptions {
        content_type: headers
            .get(http::header::CONTENT_TYPE)
            .map(text)
            .filter(|s| !s.is_empty()),
        tags: tags_from_header(headers)?,
        ..Default::default()
    };
    for name in STORED_HEADERS {
        let values: Vec<String> = headers.get_all(name).iter().map(text).collect();
        if values.is_empty() {
            continue;
        }
        let mut value = values.join(",");
        if name == "content-encoding" {
            match content_encoding(&value) {
                Some(v) => value = v,
                None => continue,
            }
        }
        opts.headers.push((name.to_owned(), value));
    }
    let mut size = 0usize;
    for name in headers.keys() {
        let Some(meta) = name.as_str().strip_prefix(META_PREFIX) else {
            continue;
        };
        // Repeated headers are joined, as S3 does.
        let value = headers
            .get_all(name)
            .iter()
            .map(text)
            .collect::<Vec<_>>()
            .join(",");
        size += meta.len() + header_bytes(&value).len();
        opts.user_meta.push((meta.to_owned(), value));
    }
    if size > MAX_USER_META {
        return Err(S3Error::new(
            S3Code::MetadataTooLarge,
            format!("Your metadata headers exceed the maximum allowed metadata size ({size} > {MAX_USER_META} bytes)."),
        ));
    }
    Ok(opts)
}

/// Headers that promise something cairn does not do yet: refusing them is
/// better than storing data the client believes is encrypted or locked.
fn reject_unsupported(headers: &HeaderMap) -> Result<(), S3Error> {
    for name in headers.keys() {
        let n = name.as_str();
        if n.starts_with("x-amz-server-side-encryption") || n.starts_with("x-amz-object-lock-") {
            return Err(S3Error::new(
                S3Code::NotImplemented,
                format!("The {n} header is not supported yet."),
            ));
        }
    }
    Ok(())
}

/// The current object's ETag for a conditional write, `None` if it has none.
pub fn current_etag(ctx: &Ctx<'_>, bucket: &str, key: &str) -> Result<Option<String>, S3Error> {
    match ctx.engine.head(bucket, key) {
        Ok(e) => Ok(Some(e.meta.etag)),
        Err(EngineError::NoSuchKey) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Checks If-Match / If-None-Match of a write against the current object
/// when the request starts (412, 404). The engine checks the same condition
/// again at commit, under the key lock: a write or delete that got in
/// between makes it 409 ConditionalRequestConflict.
pub fn check_write_preconditions(ctx: &Ctx<'_>, bucket: &str, key: &str) -> Result<(), S3Error> {
    let h = ctx.headers();
    if !h.contains_key(http::header::IF_MATCH) && !h.contains_key(http::header::IF_NONE_MATCH) {
        return Ok(());
    }
    let current = current_etag(ctx, bucket, key)?;
    conditional::check_write(h, current.as_deref())
}

pub fn quoted_etag(etag: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{etag}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}

/// How the client protects the body, for logs (which clients send what).
fn payload_name(p: &PayloadMode) -> &'static str {
    match p {
        PayloadMode::Unsigned => "UNSIGNED-PAYLOAD",
        PayloadMode::Sha256(_) => "sha256",
        PayloadMode::StreamingSigned => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        PayloadMode::StreamingSignedTrailer => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        PayloadMode::StreamingUnsignedTrailer => "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    }
}

pub async fn put_object(ctx: &Ctx<'_>, bucket: &str, key: &str, body: Incoming) -> S3Result {
    if !ctx.engine.bucket_exists(bucket) {
        return Err(S3Code::NoSuchBucket.into());
    }
    let mut opts = put_options(ctx.headers())?;
    check_write_preconditions(ctx, bucket, key)?;
    opts.condition = conditional::write_condition(ctx.headers());
    tracing::debug!(
        payload = payload_name(&ctx.auth.payload),
        request_id = ctx.request_id,
        "put body"
    );
    let mut body = RequestBody::new(
        body,
        ctx.headers(),
        &ctx.auth,
        ctx.api.idle_timeout,
        MAX_OBJECT_SIZE,
    )?;
    // S3 gives every object a checksum: CRC64NVME when the client sends none.
    if body.declared_checksum().is_none() {
        body.compute(ChecksumAlgo::Crc64Nvme);
    }
    let info = match ctx.engine.put(bucket, key, opts, &mut body).await {
        Ok(info) => info,
        Err(e) => {
            let err = body.take_error().unwrap_or_else(|| e.into());
            body.drain().await;
            return Err(err);
        }
    };
    let mut r: Response<ResBody> = status_only(StatusCode::OK);
    r.headers_mut().insert(ETAG, quoted_etag(&info.etag));
    add_checksum_headers(&mut r, &body.checksums());
    add_version_header(ctx, &mut r, bucket, info.sel);
    Ok(r)
}

/// A single-part write's checksums and their type, as S3 returns them.
pub fn add_checksum_headers(r: &mut Response<ResBody>, checksums: &[(String, String)]) {
    let h = r.headers_mut();
    for (name, value) in checksums {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            h.insert(n, v);
        }
    }
    if !checksums.is_empty() {
        h.insert(
            "x-amz-checksum-type",
            HeaderValue::from_static("FULL_OBJECT"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_bytes_round_trip_through_text() {
        let cases: [&[u8]; 6] = [
            b"plain",
            b"caf\xe9",
            "café 日本".as_bytes(),
            b"\xff\xfe\x80",
            b"mixed \xc3\xa9 and \xe9",
            b"",
        ];
        for raw in cases {
            let t = header_text(raw);
            assert_eq!(&*header_bytes(&t), raw, "{raw:?}");
        }
        // UTF-8 is stored as itself.
        assert_eq!(header_text("café".as_bytes()), "café");
    }

    #[test]
    fn content_encoding_keeps_what_was_sent() {
        assert_eq!(
            content_encoding("deflate, gzip").as_deref(),
            Some("deflate, gzip")
        );
        assert_eq!(content_encoding("gzip").as_deref(), Some("gzip"));
        assert_eq!(
            content_encoding("aws-chunked, gzip").as_deref(),
            Some("gzip")
        );
        assert_eq!(
            content_encoding("deflate, aws-chunked,gzip").as_deref(),
            Some("deflate,gzip")
        );
        assert_eq!(content_encoding("AWS-CHUNKED"), None);
        assert_eq!(content_encoding(""), None);
    }
}
