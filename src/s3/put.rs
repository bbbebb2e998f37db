//! PutObject. The metadata headers every write stores are read in
//! `common::metadata`.

use http::header::ETAG;
use http::{Response, StatusCode};
use hyper::body::Incoming;

use crate::auth::checksum::ChecksumAlgo;
use crate::auth::sigv4::PayloadMode;
use crate::engine::BodySource;

use super::body::{RequestBody, MAX_OBJECT_SIZE};
use super::common::acl::acl_for_new_object;
use super::common::ctx::{Ctx, S3Result};
use super::common::expiration::{add_written_expiration, tags_for_expiration};
use super::common::metadata::put_options;
use super::common::preconditions::check_write_preconditions;
use super::common::response::{add_checksum_headers, quoted_etag, status_only, ResBody};
use super::common::version::add_version_header;
use super::conditional;
use super::error::S3Code;
use crate::notify::event::Action as EventAction;

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
    if super::snowball::requested(ctx.headers()) {
        return super::snowball::put_extract(ctx, bucket, body).await;
    }
    let mut opts = put_options(ctx.headers(), &ctx.engine.shared.classes)?;
    opts.event = ctx.origin(bucket, EventAction::Put);
    let requested = super::sse::for_write(ctx, bucket)?;
    opts.headers.extend(acl_for_new_object(ctx, bucket)?);
    opts.attrs = super::lock::write_attrs(
        ctx.engine,
        &ctx.authz,
        ctx.headers(),
        (bucket, key),
        ctx.has_integrity_header(),
    )?;
    check_write_preconditions(ctx, bucket, key)?;
    opts.condition = conditional::write_condition(ctx.headers());
    let sealed =
        super::sse::seal_for(bucket, key, &requested, ctx.engine.deduplicates(bucket)).await?;
    let echo = sealed.as_ref().map(|s| s.echo.clone());
    if let Some(e) = echo.as_ref().filter(|e| e.bucket_key) {
        opts.headers
            .push((super::sse::BUCKET_KEY.to_owned(), e.bucket_key.to_string()));
    }
    opts.seal = sealed.map(|s| s.seal);
    // The tags a lifecycle filter may ask about, kept only when it can.
    let lifecycle_tags = tags_for_expiration(ctx, bucket, &opts.tags);
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
    add_written_expiration(
        ctx,
        r.headers_mut(),
        (bucket, key),
        &info,
        lifecycle_tags.as_deref(),
    );
    if let Some(e) = &echo {
        e.add_to(r.headers_mut(), true);
    }
    Ok(r)
}
