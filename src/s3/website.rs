//! Put/Get/DeleteBucketWebsite: the configuration is stored with the
//! bucket (`BucketInfo::website`); `website_host` serves requests to
//! `<bucket>.<--website-domain>` from it.

use http::StatusCode;
use hyper::body::Incoming;

use super::common::ctx::{require_bucket, Ctx, S3Result};
use super::common::response::{status_only, xml};
use super::error::{S3Code, S3Error};
use super::xml_website::{parse_website, website_document};

/// Longest configuration accepted: 50 rules of a few KiB at most.
const MAX_WEBSITE_BODY: usize = 256 << 10;

pub fn get_bucket_website(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    require_bucket(ctx, bucket)?;
    match ctx.engine.bucket_website(bucket) {
        Some(w) => Ok(xml(StatusCode::OK, website_document(&w))),
        None => Err(S3Error::from_code(S3Code::NoSuchWebsiteConfiguration)),
    }
}

/// S3 requires an integrity check on this body (Content-MD5 or a checksum,
/// which the body reader then verifies). Replaces any configuration.
pub async fn put_bucket_website(ctx: &Ctx<'_>, bucket: &str, body: Incoming) -> S3Result {
    require_bucket(ctx, bucket)?;
    ctx.require_content_md5()?;
    let doc = ctx.read_document(body, MAX_WEBSITE_BODY).await?;
    let config = parse_website(&doc)?;
    ctx.engine.set_bucket_website(bucket, Some(config)).await?;
    Ok(status_only(StatusCode::OK))
}

/// 204 whether or not a configuration was there, as S3 answers.
pub async fn delete_bucket_website(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    require_bucket(ctx, bucket)?;
    ctx.engine.set_bucket_website(bucket, None).await?;
    Ok(status_only(StatusCode::NO_CONTENT))
}
