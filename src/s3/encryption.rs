//! Bucket default encryption: Put/Get/DeleteBucketEncryption. Only the
//! configuration lives here; the write path applies it to new objects.

use http::StatusCode;
use hyper::body::Incoming;

use super::common::ctx::{require_bucket, Ctx, S3Result};
use super::common::response::{status_only, xml};
use super::error::{S3Code, S3Error};
use super::xml_encryption::{encryption_document, parse_encryption};

/// Longest configuration accepted (one rule is a few hundred bytes).
const MAX_ENCRYPTION_BODY: usize = 16 << 10;

pub fn get_bucket_encryption(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    require_bucket(ctx, bucket)?;
    match ctx.engine.bucket_encryption(bucket)? {
        Some(e) => Ok(xml(StatusCode::OK, encryption_document(&e))),
        None => Err(S3Error::from_code(
            S3Code::ServerSideEncryptionConfigurationNotFoundError,
        )),
    }
}

/// S3 requires an integrity check on this body (Content-MD5 or a checksum,
/// which the body reader then verifies).
pub async fn put_bucket_encryption(ctx: &Ctx<'_>, bucket: &str, body: Incoming) -> S3Result {
    require_bucket(ctx, bucket)?;
    ctx.require_content_md5()?;
    let doc = ctx.read_document(body, MAX_ENCRYPTION_BODY).await?;
    let config = parse_encryption(&doc)?;
    ctx.engine
        .set_bucket_encryption(bucket, Some(config))
        .await?;
    Ok(status_only(StatusCode::OK))
}

pub async fn delete_bucket_encryption(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    require_bucket(ctx, bucket)?;
    ctx.engine.set_bucket_encryption(bucket, None).await?;
    Ok(status_only(StatusCode::NO_CONTENT))
}
