//! ACL operations: Get/PutBucketAcl, Get/PutObjectAcl (with `versionId`)
//! and Put/Get/DeleteBucketOwnershipControls. The ACL headers of writes
//! are read in `common::acl`.

use http::StatusCode;
use hyper::body::Incoming;

use crate::engine::meta::IndexEntry;
use crate::engine::{ObjectOwnership, VersionSel};
use crate::iam::acl::Acl;

use super::common::acl::{
    acl_from_headers, bucket_owner, check_public_acl, display_name, effective_bucket_acl,
    effective_object_acl, requested_acl, resolve_grants, stored_entry, AclRequest, ACL_HEADER,
};
use super::common::copy_source::read_copy_source;
use super::common::ctx::{require_bucket, Ctx, S3Result};
use super::common::response::{status_only, xml};
use super::common::version::add_version_header;
use super::error::{S3Code, S3Error};
use super::xml_acl::{
    access_control_policy, malformed_acl, ownership_controls, parse_access_control_policy,
    parse_ownership_controls,
};

/// Longest AccessControlPolicy accepted (100 grants at their longest).
const MAX_ACL_BODY: usize = 64 << 10;

/// Longest OwnershipControls document accepted (a real one is ~150 bytes).
const MAX_OWNERSHIP_BODY: usize = 4 << 10;

/// The ACL a Put*Acl request sets, from its headers or its body (both is
/// InvalidRequest, neither MalformedACLError), for something `owner` owns
/// in `bucket`. A public one is refused while the bucket blocks public
/// ACLs (headers were checked before the body was read, by the same
/// check).
async fn acl_to_set(
    ctx: &Ctx<'_>,
    body: Incoming,
    bucket: &str,
    owner: &str,
    bucket_owner: &str,
) -> S3Result<Acl> {
    let req = acl_from_headers(ctx.headers())?;
    let doc = ctx.read_document(body, MAX_ACL_BODY).await?;
    let has_body = !doc.iter().all(u8::is_ascii_whitespace);
    match (req, has_body) {
        (AclRequest::None, false) => Err(malformed_acl()),
        (AclRequest::None, true) => {
            let policy = parse_access_control_policy(&doc)?;
            let acl = resolve_grants(ctx.api, owner, &policy.grants)?;
            check_public_acl(&ctx.engine.buckets(), bucket, acl.is_public())?;
            Ok(acl)
        }
        (_, true) => Err(S3Error::new(
            S3Code::InvalidRequest,
            "Specifying both an ACL in the request body and in the request headers is not allowed",
        )),
        (req, false) => Ok(requested_acl(ctx.api, &req, owner, bucket_owner)?
            .unwrap_or_else(|| Acl::private(owner))),
    }
}

/// Under `BucketOwnerEnforced` an ACL may only restate the bucket owner's
/// full control.
fn check_enforced(
    ownership: Option<ObjectOwnership>,
    acl: &Acl,
    bucket_owner: &str,
) -> Result<(), S3Error> {
    if ownership == Some(ObjectOwnership::BucketOwnerEnforced)
        && !acl.only_owner_full_control(bucket_owner)
    {
        return Err(S3Error::from_code(S3Code::AccessControlListNotSupported));
    }
    Ok(())
}

fn acl_response(ctx: &Ctx<'_>, acl: &Acl) -> http::Response<super::common::response::ResBody> {
    xml(
        StatusCode::OK,
        access_control_policy(acl, |id| display_name(ctx, id)),
    )
}

pub fn get_bucket_acl(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    let (stored, ownership) = ctx.engine.bucket_access(bucket)?;
    let acl = effective_bucket_acl(
        stored,
        &bucket_owner(ctx.api, ctx.engine, bucket),
        ownership,
    );
    Ok(acl_response(ctx, &acl))
}

pub async fn put_bucket_acl(ctx: &Ctx<'_>, bucket: &str, body: Incoming) -> S3Result {
    let (_, ownership) = ctx.engine.bucket_access(bucket)?;
    let owner = bucket_owner(ctx.api, ctx.engine, bucket);
    let acl = acl_to_set(ctx, body, bucket, &owner, &owner).await?;
    check_enforced(ownership, &acl, &owner)?;
    let keep = (acl != Acl::private(&owner)).then_some(acl);
    ctx.engine.set_bucket_acl(bucket, keep).await?;
    Ok(status_only(StatusCode::OK))
}

/// The version an object ACL operation acts on; a delete marker named by
/// version has no ACL (405, as for tagging).
fn target(ctx: &Ctx<'_>, bucket: &str, key: &str, sel: Option<VersionSel>) -> S3Result<IndexEntry> {
    require_bucket(ctx, bucket)?;
    read_copy_source(ctx, bucket, key, sel).map_err(|e| {
        if e.code == S3Code::InvalidRequest {
            S3Error::new(
                S3Code::MethodNotAllowed,
                "The specified method is not allowed against this resource.",
            )
        } else {
            e
        }
    })
}

pub fn get_object_acl(ctx: &Ctx<'_>, bucket: &str, key: &str, sel: Option<VersionSel>) -> S3Result {
    let entry = target(ctx, bucket, key, sel)?;
    let (_, ownership) = ctx.engine.bucket_access(bucket)?;
    let acl = effective_object_acl(
        &entry.meta,
        &bucket_owner(ctx.api, ctx.engine, bucket),
        ownership,
    );
    let mut r = acl_response(ctx, &acl);
    add_version_header(ctx, &mut r, bucket, entry.meta.sel());
    Ok(r)
}

pub async fn put_object_acl(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    sel: Option<VersionSel>,
    body: Incoming,
) -> S3Result {
    let entry = target(ctx, bucket, key, sel)?;
    let (_, ownership) = ctx.engine.bucket_access(bucket)?;
    let bucket_owner = bucket_owner(ctx.api, ctx.engine, bucket);
    // An ACL never changes who owns the object.
    let owner = effective_object_acl(&entry.meta, &bucket_owner, ownership).owner;
    let acl = acl_to_set(ctx, body, bucket, &owner, &bucket_owner).await?;
    check_enforced(ownership, &acl, &bucket_owner)?;
    let value = stored_entry(&acl, &bucket_owner).map(|(_, v)| v);
    let changed = ctx
        .engine
        .set_stored_header(
            bucket,
            key,
            Some(entry.meta.sel()),
            (ACL_HEADER, value),
            ctx.origin(bucket, crate::notify::event::Action::PutAcl),
        )
        .await?;
    let mut r = status_only(StatusCode::OK);
    add_version_header(ctx, &mut r, bucket, changed);
    Ok(r)
}

pub fn get_ownership_controls(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    match ctx.engine.bucket_access(bucket)?.1 {
        Some(o) => Ok(xml(StatusCode::OK, ownership_controls(o))),
        None => Err(S3Error::from_code(S3Code::OwnershipControlsNotFoundError)),
    }
}

pub async fn put_ownership_controls(ctx: &Ctx<'_>, bucket: &str, body: Incoming) -> S3Result {
    require_bucket(ctx, bucket)?;
    let doc = ctx.read_document(body, MAX_OWNERSHIP_BODY).await?;
    let o = parse_ownership_controls(&doc)?;
    let (stored, _) = ctx.engine.bucket_access(bucket)?;
    // ACLs cannot be turned off while the bucket's ACL grants others
    // anything: those grants would silently stop working.
    let owner = bucket_owner(ctx.api, ctx.engine, bucket);
    if o == ObjectOwnership::BucketOwnerEnforced
        && stored.is_some_and(|a| !a.only_owner_full_control(&owner))
    {
        return Err(S3Error::from_code(
            S3Code::InvalidBucketAclWithObjectOwnership,
        ));
    }
    ctx.engine.set_bucket_ownership(bucket, Some(o)).await?;
    Ok(status_only(StatusCode::OK))
}

pub async fn delete_ownership_controls(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    require_bucket(ctx, bucket)?;
    ctx.engine.set_bucket_ownership(bucket, None).await?;
    Ok(status_only(StatusCode::NO_CONTENT))
}
