//! Object and bucket tagging: Put/Get/DeleteObjectTagging (with
//! `versionId`) and Put/Get/DeleteBucketTagging. The `x-amz-tagging`
//! header of writes is read in `common::metadata`.

use crate::notify::event::Action as EventAction;
use http::StatusCode;
use hyper::body::Incoming;

use crate::engine::VersionSel;

use super::common::copy_source::read_version;
use super::common::ctx::{require_bucket, Ctx, S3Result};
use super::common::response::{status_only, xml};
use super::common::version::add_version_header;
use super::error::{S3Code, S3Error};
use super::xml_tagging::{parse_tagging, tagging, TagTarget};

/// Longest Tagging document accepted (50 tags at their longest, escaped).
const MAX_TAGGING_BODY: usize = 256 << 10;

async fn read_tagging(
    ctx: &Ctx<'_>,
    body: Incoming,
    target: TagTarget,
) -> S3Result<Vec<(String, String)>> {
    let doc = ctx.read_document(body, MAX_TAGGING_BODY).await?;
    parse_tagging(&doc, target)
}

pub fn get_object_tagging(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    sel: Option<VersionSel>,
) -> S3Result {
    require_bucket(ctx, bucket)?;
    let entry = read_version(ctx, bucket, key, sel)?;
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
    let origin = ctx.origin(bucket, EventAction::PutTagging);
    let changed = ctx.engine.set_tags(bucket, key, sel, tags, origin).await?;
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
    let origin = ctx.origin(bucket, EventAction::DeleteTagging);
    let changed = ctx
        .engine
        .set_tags(bucket, key, sel, Vec::new(), origin)
        .await?;
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
