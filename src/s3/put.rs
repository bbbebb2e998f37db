//! PutObject, and the metadata headers every write stores.

use http::header::{HeaderValue, ETAG};
use http::{HeaderMap, Response, StatusCode};
use hyper::body::Incoming;

use crate::auth::sigv4::PayloadMode;
use crate::engine::{EngineError, PutOptions};

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

fn text(v: &HeaderValue) -> String {
    // Header values are bytes; keep UTF-8 metadata as such, replace the rest.
    String::from_utf8_lossy(v.as_bytes()).into_owned()
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
            // aws-chunked describes the transfer, not the object (S3 drops it).
            value = value
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("aws-chunked"))
                .collect::<Vec<_>>()
                .join(",");
            if value.is_empty() {
                continue;
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
        size += meta.len() + value.len();
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

/// Checks If-Match / If-None-Match of a write against the current object.
/// Not atomic with the write that follows: a write racing in between wins
/// (the engine has no compare-and-swap yet).
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
    let opts = put_options(ctx.headers())?;
    check_write_preconditions(ctx, bucket, key)?;
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
    add_version_header(ctx, &mut r, bucket, info.sel);
    Ok(r)
}
