//! Object and bucket tagging: Put/Get/DeleteObjectTagging (with
//! `versionId`), Put/Get/DeleteBucketTagging, and the `x-amz-tagging`
//! header of writes.

use http::header::HeaderValue;
use http::{HeaderMap, StatusCode};
use hyper::body::Incoming;

use crate::engine::VersionSel;

use super::body::RequestBody;
use super::bucket::require_bucket;
use super::error::{S3Code, S3Error};
use super::handler::{status_only, xml, Ctx, S3Result};
use super::versions::add_version_header;
use super::xml_tagging::{parse_tagging, parse_tagging_header, tagging, TagTarget};

/// Longest Tagging document accepted (50 tags at their longest, escaped).
const MAX_TAGGING_BODY: usize = 256 << 10;

/// The `x-amz-tagging` header of a write; empty when absent.
pub fn tags_from_header(headers: &HeaderMap) -> Result<Vec<(String, String)>, S3Error> {
    match headers.get("x-amz-tagging") {
        None => Ok(Vec::new()),
        Some(v) => {
            let v = v.to_str().map_err(|_| {
                S3Error::new(
                    S3Code::InvalidArgument,
                    "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.",
                )
            })?;
            parse_tagging_header(v)
        }
    }
}

/// `x-amz-tagging-count` on GET and HEAD of a tagged version.
pub fn add_tagging_count(h: &mut HeaderMap, tags: &[(String, String)]) {
    if !tags.is_empty() {
        h.insert("x-amz-tagging-count", HeaderValue::from(tags.len()));
    }
}

async fn read_tagging(
    ctx: &Ctx<'_>,
    body: Incoming,
    target: TagTarget,
) -> S3Result<Vec<(String, String)>> {
    let doc = RequestBody::new(
        body,
        ctx.headers(),
        &ctx.auth,
        ctx.api.idle_timeout,
        MAX_TAGGING_BODY as u64,
    )?
    .read_to_end(MAX_TAGGING_BODY)
    .await?;
    parse_tagging(&doc, target)
}

pub fn get_object_tagging(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    sel: Option<VersionSel>,
) -> S3Result {
    require_bucket(ctx, bucket)?;
    let entry = super::copy::copy_source(ctx, bucket, key, sel).map_err(|e| {
        if e.code == S3Code::InvalidRequest {
            S3Error::new(
                S3Code::MethodNotAllowed,
                "The specified method is not allowed against this resource.",
            )
        } else {
            e
        }
    })?;
    let mut r = xml(StatusCode::OK, tagging(&entry.meta.tags));
    add_version_header(ctx, &mut r, bucket, entry.meta.sel());
    Ok(r)
}

pub async fn put_object_tagging(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    sel: Option<VersionSel>,
    body: Incoming,
) -> S3Result {
    require_bucket(ctx, bucket)?;
    let tags = read_tagging(ctx, body, TagTarget::Object).await?;
    let changed = ctx.engine.set_tags(bucket, key, sel, tags).await?;
    let mut r = status_only(StatusCode::OK);
    add_version_header(ctx, &mut r, bucket, changed);
    Ok(r)
}

pub async fn delete_object_tagging(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    sel: Option<VersionSel>,
) -> S3Result {
    require_bucket(ctx, bucket)?;
    let changed = ctx.engine.set_tags(bucket, key, sel, Vec::new()).await?;
    let mut r = status_only(StatusCode::NO_CONTENT);
    add_version_header(ctx, &mut r, bucket, changed);
    Ok(r)
}

pub fn get_bucket_tagging(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    require_bucket(ctx, bucket)?;
    match ctx.engine.bucket_tags(bucket)? {
        Some(tags) => Ok(xml(StatusCode::OK, tagging(&tags))),
        None => Err(S3Error::from_code(S3Code::NoSuchTagSet)),
    }
}

pub async fn put_bucket_tagging(ctx: &Ctx<'_>, bucket: &str, body: Incoming) -> S3Result {
    require_bucket(ctx, bucket)?;
    let tags = read_tagging(ctx, body, TagTarget::Bucket).await?;
    ctx.engine.set_bucket_tags(bucket, Some(tags)).await?;
    Ok(status_only(StatusCode::NO_CONTENT))
}

pub async fn delete_bucket_tagging(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    require_bucket(ctx, bucket)?;
    ctx.engine.set_bucket_tags(bucket, None).await?;
    Ok(status_only(StatusCode::NO_CONTENT))
}
