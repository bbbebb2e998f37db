//! The bucket's versioning configuration and ListObjectVersions. Version
//! ids are parsed by the router; the version headers are in
//! `common::version`.

use http::StatusCode;
use hyper::body::Incoming;

use crate::engine::index::ListEntry;
use crate::engine::list::VersionItem;
use crate::engine::{VersionSel, Versioning};

use super::common::ctx::{require_bucket, Ctx, S3Result};
use super::common::response::{status_only, xml};
use super::router::{format_version_id, ListVersionsParams};
use super::tenant::external_name;
use super::xml_versioning::{
    parse_versioning_configuration, versioning_configuration, ListVersionsResponse, VersionEntry,
    VersionKind, VersioningStatus, NULL_VERSION_ID,
};

/// Longest PutBucketVersioning document accepted.
const MAX_VERSIONING_BODY: usize = 64 << 10;

/// The id of a listed version.
fn listed_id(e: &ListEntry) -> String {
    if e.null {
        NULL_VERSION_ID.to_owned()
    } else {
        format_version_id(VersionSel::Id(e.version))
    }
}

pub fn get_versioning(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    require_bucket(ctx, bucket)?;
    let status = match ctx.engine.versioning(bucket)? {
        Versioning::Off => None,
        Versioning::Enabled => Some(VersioningStatus::Enabled),
        Versioning::Suspended => Some(VersioningStatus::Suspended),
    };
    Ok(xml(StatusCode::OK, versioning_configuration(status)))
}

pub async fn put_versioning(ctx: &Ctx<'_>, bucket: &str, body: Incoming) -> S3Result {
    require_bucket(ctx, bucket)?;
    let doc = ctx.read_document(body, MAX_VERSIONING_BODY).await?;
    let v = match parse_versioning_configuration(&doc)? {
        VersioningStatus::Enabled => Versioning::Enabled,
        VersioningStatus::Suspended => Versioning::Suspended,
    };
    ctx.engine.set_versioning(bucket, v).await?;
    Ok(status_only(StatusCode::OK))
}

pub fn list_object_versions(ctx: &Ctx<'_>, bucket: &str, p: &ListVersionsParams) -> S3Result {
    require_bucket(ctx, bucket)?;
    let prefix = p.prefix.as_deref().unwrap_or("");
    let delimiter = p.delimiter.as_deref().unwrap_or("");
    let max = p.max_keys.limit;
    let page = ctx.engine.list_versions(
        bucket,
        prefix,
        Some(delimiter),
        p.key_marker.as_deref(),
        p.version_marker,
        max,
    )?;
    let mut entries = Vec::new();
    let mut common_prefixes = Vec::new();
    for item in page.items {
        match item {
            VersionItem::CommonPrefix(p) => common_prefixes.push(p),
            VersionItem::Version(v) => {
                let e = &v.entry;
                let kind = if e.delete_marker {
                    VersionKind::DeleteMarker
                } else {
                    VersionKind::Object {
                        etag: e.etag.clone(),
                        size: e.size,
                        checksum_algorithm: None,
                        checksum_type: None,
                        class: e.class.clone(),
                    }
                };
                entries.push(VersionEntry {
                    key: e.key.clone(),
                    version_id: Some(listed_id(e)),
                    is_latest: v.latest,
                    last_modified_ms: e.modified_ms,
                    kind,
                });
            }
        }
    }
    let r = ListVersionsResponse {
        name: external_name(bucket).to_owned(),
        prefix: prefix.to_owned(),
        key_marker: p.key_marker.clone().unwrap_or_default(),
        version_id_marker: p.version_id_marker.clone(),
        next_key_marker: page.next_key_marker.filter(|_| page.is_truncated),
        next_version_id_marker: page
            .next_version_marker
            .filter(|_| page.is_truncated)
            .map(format_version_id),
        max_keys: max as u64,
        delimiter: delimiter.to_owned(),
        is_truncated: page.is_truncated,
        encoding_type_url: p.encoding_url,
        owner: ctx.api.owner.clone(),
        entries,
        common_prefixes,
    };
    Ok(xml(
        StatusCode::OK,
        super::xml_versioning::list_object_versions(&r),
    ))
}
