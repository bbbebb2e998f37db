//! Get/PutBucketLogging: where a bucket's server access log goes, kept in
//! the bucket record (`BucketInfo::logging`). The lines themselves are
//! written by `logs::bucket` from each request's record.

use http::StatusCode;
use hyper::body::Incoming;

use super::common::acl::{bucket_owner, resolve_grants};
use super::common::ctx::{require_bucket, Ctx, S3Result};
use super::common::response::{status_only, xml};
use super::error::{S3Code, S3Error};
use super::tenant::{external_name, internal_name, tenant_of};
use super::xml_logging::{logging_document, parse_logging, LoggingRequest};
use crate::bucket_logging::BucketLogging;
use crate::engine::buckets::{valid_bucket_name, BucketSse};
use crate::engine::ObjectOwnership;

/// A `BucketLoggingStatus` with 100 grants is a few tens of KiB.
const MAX_LOGGING_BODY: usize = 64 << 10;

/// An empty `BucketLoggingStatus` when logging is off, as S3 answers.
pub fn get_bucket_logging(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    require_bucket(ctx, bucket)?;
    let l = ctx.engine.bucket_logging(bucket).map(|mut l| {
        l.target_bucket = external_name(&l.target_bucket).to_owned();
        l
    });
    Ok(xml(StatusCode::OK, logging_document(l.as_ref())))
}

/// Sets logging, or turns it off with an empty `BucketLoggingStatus`.
pub async fn put_bucket_logging(ctx: &Ctx<'_>, bucket: &str, body: Incoming) -> S3Result {
    require_bucket(ctx, bucket)?;
    ctx.require_content_md5()?;
    let doc = ctx.read_document(body, MAX_LOGGING_BODY).await?;
    let logging = match parse_logging(&doc)? {
        None => None,
        Some(req) => Some(checked(ctx, bucket, req)?),
    };
    ctx.engine.set_bucket_logging(bucket, logging).await?;
    Ok(status_only(StatusCode::OK))
}

fn invalid_target(message: &str) -> S3Error {
    S3Error::new(S3Code::InvalidTargetBucketForLogging, message)
}

/// S3's rules for the target: it exists, has the source bucket's owner,
/// takes no grants under BucketOwnerEnforced; and cairn's: its log objects
/// could be written (no default retention to hold them, no SSE-KMS
/// default the server could not apply on its own).
fn checked(ctx: &Ctx<'_>, bucket: &str, mut req: LoggingRequest) -> Result<BucketLogging, S3Error> {
    // The target is named as the route's bucket is: in the caller's tenant
    // (the source's), never across tenants.
    if !valid_bucket_name(&req.target_bucket) {
        return Err(invalid_target(
            "The target bucket for logging does not exist",
        ));
    }
    req.target_bucket = internal_name(tenant_of(bucket), &req.target_bucket);
    let table = ctx.engine.buckets();
    let Some(target) = table.get(&req.target_bucket) else {
        return Err(invalid_target(
            "The target bucket for logging does not exist",
        ));
    };
    let owner = bucket_owner(ctx.api, ctx.engine, bucket);
    if bucket_owner(ctx.api, ctx.engine, &req.target_bucket) != owner {
        return Err(invalid_target(
            "The owner for the bucket to be logged and the target bucket must be the same.",
        ));
    }
    if target
        .object_lock
        .is_some_and(|l| l.default_retention.is_some())
    {
        return Err(invalid_target(
            "The target bucket for logging has a default object lock retention period.",
        ));
    }
    if target
        .encryption
        .as_ref()
        .is_some_and(|e| e.algorithm == BucketSse::Kms)
    {
        return Err(invalid_target(
            "The target bucket for logging has SSE-KMS default encryption, which log delivery does not support.",
        ));
    }
    let target_grants = if req.grants.is_empty() {
        Vec::new()
    } else {
        if target.ownership == Some(ObjectOwnership::BucketOwnerEnforced) {
            return Err(S3Error::new(
                S3Code::AccessControlListNotSupported,
                "Target grants not allowed for bucket owner enforced buckets",
            ));
        }
        let target_owner = bucket_owner(ctx.api, ctx.engine, &req.target_bucket);
        resolve_grants(ctx.api, &target_owner, &req.grants)?.grants
    };
    Ok(BucketLogging {
        target_bucket: req.target_bucket,
        target_prefix: req.target_prefix,
        target_grants,
        key_format: req.key_format,
    })
}
