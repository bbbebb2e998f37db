//! Tenants on the S3 side (docs/ARCHITECTURE.md, "Tenants"): the bucket a
//! tenant's user names `b` is the bucket `tenant:b` inside (Ceph RGW's
//! form), so the engine, its records and the bucket table know nothing of
//! tenants. `:` is in no valid S3 bucket name and the router refuses it in
//! every name a request gives, so a global caller cannot name a tenant's
//! bucket and a tenant's caller names only its own: the request's bucket
//! is joined to the caller's tenant here, after authentication and before
//! authorisation. Every name that goes back to the client is the external
//! one ([`external_name`]).

use super::error::{S3Code, S3Error};
use super::router::{Op, Route};

pub use crate::engine::buckets::{name_in_tenant as external_name, tenant_of};

/// Joins a tenant to its bucket names; no valid S3 bucket name holds it.
pub const SEPARATOR: char = crate::engine::buckets::TENANT_SEPARATOR;

/// The bucket `bucket` of `tenant` as the engine stores it (the name
/// itself for the global tenant, `""`).
pub fn internal_name(tenant: &str, bucket: &str) -> String {
    if tenant.is_empty() {
        bucket.to_owned()
    } else {
        format!("{tenant}{SEPARATOR}{bucket}")
    }
}

/// The operations a tenant's user may call: all but website hosting's,
/// whose pages are found by Host name (`--website-domain`), which names no
/// tenant. Every output that names a bucket gives its external name, and
/// every configuration that names another bucket (a logging target) is
/// joined to the tenant like the route's.
fn tenant_supports(op: &Op) -> bool {
    !matches!(
        op,
        Op::GetBucketWebsite {} | Op::PutBucketWebsite {} | Op::DeleteBucketWebsite {}
    )
}

/// A path may name a tenant's bucket as `tenant:bucket` (Ceph RGW's form)
/// for unsigned requests only: anonymous reads and writes a tenant's bucket
/// policy or ACL grants to everyone, and CORS preflights. A signed caller
/// names buckets in its own tenant only (its policies' `*` must never reach
/// another tenant's buckets), so the form is refused for it.
pub fn check_named(route: &Route, anonymous: bool) -> Result<(), S3Error> {
    match &route.bucket {
        Some(b) if !anonymous && b.contains(SEPARATOR) => {
            Err(S3Error::from_code(S3Code::InvalidBucketName))
        }
        _ => Ok(()),
    }
}

/// Moves a routed request into its caller's tenant: the bucket (and a copy
/// source's bucket) become the tenant's. The route is moved even when the
/// operation is refused, so that what is logged of it names the tenant's
/// bucket, never a global one of the same name.
pub fn enter(tenant: &str, route: &mut Route) -> Result<(), S3Error> {
    if tenant.is_empty() {
        return Ok(());
    }
    if let Some(b) = &mut route.bucket {
        // The router refuses such a name; refused here too, not joined.
        if b.contains(SEPARATOR) {
            return Err(S3Error::from_code(S3Code::InvalidBucketName));
        }
        *b = internal_name(tenant, b);
    }
    match &mut route.op {
        Op::CopyObject { source } | Op::UploadPartCopy { source, .. } => {
            source.bucket = internal_name(tenant, &source.bucket);
        }
        _ => {}
    }
    if tenant_supports(&route.op) {
        Ok(())
    } else {
        Err(S3Error::new(
            S3Code::NotImplemented,
            format!(
                "{} is not available to a tenant's users: website hosting serves only global buckets.",
                route.op.name()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_global_names_are_unchanged() {
        let inside = internal_name("acme", "photos");
        assert_eq!(inside, "acme:photos");
        assert_eq!(external_name(&inside), "photos");
        assert_eq!(tenant_of(&inside), "acme");
        assert_eq!(internal_name("", "photos"), "photos");
        assert_eq!(external_name("photos"), "photos");
        assert_eq!(tenant_of("photos"), "");
    }
}
