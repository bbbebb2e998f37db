//! Buckets, usage and quotas: the owner cores' usage counters
//! (`engine::usage`) read without a scan, and the hard quota per bucket.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::engine::usage::{BucketReport, BucketUsage, DriveUsage};
use crate::s3::error::S3Error;

use super::error::AdminError;
use super::router::Call;

pub(super) fn usage_json(u: &BucketUsage) -> Value {
    json!({
        "objects": u.objects,
        "bytes": u.bytes,
        "versions": u.versions,
        "versionBytes": u.version_bytes,
        "deleteMarkers": u.delete_markers,
        "storedBytes": u.stored_bytes,
        "uploads": u.uploads,
        "uploadParts": u.upload_parts,
        "uploadBytes": u.upload_bytes,
        "uploadStoredBytes": u.upload_stored_bytes,
    })
}

fn bucket_json(c: &Call<'_>, b: &BucketReport) -> Value {
    let table = c.engine.buckets();
    let info = table.buckets.get(&b.name);
    json!({
        "name": b.name,
        // Buckets without a recorded owner are root's.
        "owner": info.and_then(|i| i.owner.as_ref())
            .map_or_else(crate::iam::model::root_arn, |o| o.arn.clone()),
        "versioning": info.map(|i| format!("{:?}", i.versioning)),
        "quotaBytes": b.quota_bytes,
        "dedup": info.is_some_and(|i| i.dedup),
        "usage": usage_json(&b.usage),
    })
}

fn drive_json(d: &DriveUsage) -> Value {
    json!({
        "index": d.drive,
        "path": d.path,
        "online": d.online,
        "full": d.full,
        "capacityBytes": d.capacity_bytes,
        "freeBytes": d.free_bytes,
        "reserveBytes": d.reserve_bytes,
    })
}

pub(super) fn engine_error(e: crate::engine::EngineError) -> AdminError {
    AdminError::from(S3Error::from(e))
}

/// `GET buckets`: every bucket with its usage and quota.
pub async fn list(c: &Call<'_>) -> Result<Value, AdminError> {
    let report = c.engine.usage().map_err(engine_error)?;
    let buckets: Vec<Value> = report.buckets.iter().map(|b| bucket_json(c, b)).collect();
    Ok(json!({ "buckets": buckets }))
}

/// `GET buckets/{bucket}`.
pub async fn get(c: &Call<'_>) -> Result<Value, AdminError> {
    let b = c.engine.bucket_usage(c.param(0)).map_err(engine_error)?;
    Ok(bucket_json(c, &b))
}

/// `GET usage`: the node's totals, every bucket and every drive.
pub async fn usage(c: &Call<'_>) -> Result<Value, AdminError> {
    let report = c.engine.usage().map_err(engine_error)?;
    let mut total = BucketUsage::default();
    for b in &report.buckets {
        total.add(&b.usage);
    }
    Ok(json!({
        "total": usage_json(&total),
        "buckets": report.buckets.iter().map(|b| bucket_json(c, b)).collect::<Vec<_>>(),
        "drives": report.drives.iter().map(drive_json).collect::<Vec<_>>(),
    }))
}

/// `GET buckets/{bucket}/quota`.
pub async fn get_quota(c: &Call<'_>) -> Result<Value, AdminError> {
    let q = c.engine.bucket_quota(c.param(0)).map_err(engine_error)?;
    Ok(json!({ "bucket": c.param(0), "quotaBytes": q }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct SetQuota {
    /// `null` clears the quota.
    pub(super) quota_bytes: Option<u64>,
}

/// `PUT buckets/{bucket}/quota` with `{"quotaBytes": N}` or `null` to clear.
pub async fn set_quota(c: &Call<'_>) -> Result<Value, AdminError> {
    let q: SetQuota = c.json()?;
    c.engine
        .set_bucket_quota(c.param(0), q.quota_bytes)
        .await
        .map_err(engine_error)?;
    Ok(json!({ "bucket": c.param(0), "quotaBytes": q.quota_bytes }))
}

/// `GET buckets/{bucket}/dedup`.
pub async fn get_dedup(c: &Call<'_>) -> Result<Value, AdminError> {
    let on = c.engine.bucket_dedup(c.param(0)).map_err(engine_error)?;
    Ok(json!({ "bucket": c.param(0), "dedup": on }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetDedup {
    dedup: bool,
}

/// `PUT buckets/{bucket}/dedup` with `{"dedup": true}` or `false`.
pub async fn set_dedup(c: &Call<'_>) -> Result<Value, AdminError> {
    let d: SetDedup = c.json()?;
    c.engine
        .set_bucket_dedup(c.param(0), d.dedup)
        .await
        .map_err(engine_error)?;
    Ok(json!({ "bucket": c.param(0), "dedup": d.dedup }))
}
