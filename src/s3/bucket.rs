//! Bucket operations: list, create, head, delete, and the configuration
//! GETs a bucket without configuration answers.

use http::header::{HeaderName, HeaderValue, LOCATION};
use http::StatusCode;
use hyper::body::Incoming;

use crate::engine::buckets::BucketInfo;
use crate::engine::EngineError;
use crate::iam::action::Action;

use super::authorize::{owner_of_new_bucket, owns};
use super::common::acl::new_bucket_access;
use super::common::ctx::{require_bucket, Ctx, S3Result};
use super::common::response::{status_only, xml};
use super::error::{S3Code, S3Error};
use super::router::{Check, Resource};
use super::tenant::{external_name, tenant_of};
use super::xml as x;

/// The region cairn reports for every bucket: one node, one region.
pub const REGION: &str = "us-east-1";

/// Longest CreateBucket document accepted (a real one is ~200 bytes).
const MAX_CREATE_BODY: usize = 64 << 10;

/// Root sees every bucket; anyone else the buckets they own and those a
/// policy lets them list (`s3:ListBucket` on the bucket), as MinIO does:
/// in one account AWS would show every bucket, which would tell each user
/// the names of buckets they cannot open.
pub fn list_buckets(ctx: &Ctx<'_>) -> S3Result {
    let table = ctx.engine.buckets();
    let who = &ctx.principal;
    let root = who.kind.acts_as_root();
    let visible = |name: &str, info: &BucketInfo| {
        root || owns(info, who)
            || ctx.authz.allows(
                Check {
                    action: Action::S3ListBucket,
                    resource: Resource::Bucket(name),
                },
                ctx.headers(),
            )
    };
    // Only the caller's tenant's buckets, root's too, by their names there.
    let buckets: Vec<(&str, u64)> = table
        .buckets
        .iter()
        .filter(|(n, i)| tenant_of(n) == who.tenant && visible(n, i))
        .map(|(n, i)| (external_name(n), i.created_ms))
        .collect();
    let (id, name) = if root {
        (
            ctx.api.owner.id.as_str(),
            ctx.api.owner.display_name.as_str(),
        )
    } else {
        (who.canonical_id.as_str(), who.name.as_str())
    };
    Ok(xml(StatusCode::OK, x::list_buckets(id, name, &buckets)))
}

pub async fn create_bucket(ctx: &Ctx<'_>, bucket: &str, body: Incoming) -> S3Result {
    let object_lock = ctx
        .header("x-amz-bucket-object-lock-enabled")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let doc = ctx.read_document(body, MAX_CREATE_BODY).await?;
    // Any LocationConstraint is accepted: this node is its own region, and
    // clients configured for another region name still expect success.
    let _location = x::parse_create_bucket(&doc)?;
    let (acl, ownership) = new_bucket_access(ctx, bucket)?;
    let owner = owner_of_new_bucket(&ctx.principal);
    match ctx
        .engine
        .create_bucket_with(bucket, owner, acl, Some(ownership), object_lock)
        .await
    {
        Ok(()) => {}
        // Another principal's bucket: its name is taken, not the caller's.
        Err(EngineError::BucketExists)
            if !ctx
                .engine
                .buckets()
                .get(bucket)
                .is_some_and(|info| owns(info, &ctx.principal)) =>
        {
            return Err(S3Error::from_code(S3Code::BucketAlreadyExists));
        }
        Err(e) => return Err(e.into()),
    }
    let mut r = status_only(StatusCode::OK);
    if let Ok(v) = HeaderValue::from_str(&format!("/{}", external_name(bucket))) {
        r.headers_mut().insert(LOCATION, v);
    }
    Ok(r)
}

pub fn head_bucket(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    require_bucket(ctx, bucket)?;
    let mut r = status_only(StatusCode::OK);
    r.headers_mut().insert(
        HeaderName::from_static("x-amz-bucket-region"),
        HeaderValue::from_static(REGION),
    );
    Ok(r)
}

pub async fn delete_bucket(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    ctx.engine.delete_bucket(bucket).await?;
    Ok(status_only(StatusCode::NO_CONTENT))
}

pub fn get_location(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    require_bucket(ctx, bucket)?;
    Ok(xml(StatusCode::OK, x::location(REGION)))
}
