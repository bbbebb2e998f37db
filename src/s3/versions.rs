//! Versioning on the S3 side: version ids as clients see them, the
//! bucket's versioning configuration, ListObjectVersions, and the
//! `x-amz-version-id` / `x-amz-delete-marker` headers.

use http::header::{HeaderName, HeaderValue};
use http::{Response, StatusCode};
use hyper::body::Incoming;

use crate::engine::index::ListEntry;
use crate::engine::list::VersionItem;
use crate::engine::meta::IndexEntry;
use crate::engine::{VersionSel, Versioning};

use super::body::RequestBody;
use super::bucket::require_bucket;
use super::error::{S3Code, S3Error};
use super::handler::{error_response, status_only, xml, Ctx, ResBody, S3Result};
use super::router::{format_version_id, ListVersionsParams};
use super::xml::http_date;
use super::xml_versioning::{
    parse_versioning_configuration, versioning_configuration, ListVersionsResponse, VersionEntry,
    VersionKind, VersioningStatus, NULL_VERSION_ID,
};

/// Longest PutBucketVersioning document accepted.
const MAX_VERSIONING_BODY: usize = 64 << 10;

pub const VERSION_ID: HeaderName = HeaderName::from_static("x-amz-version-id");
pub const DELETE_MARKER: HeaderName = HeaderName::from_static("x-amz-delete-marker");

/// The id of a listed version.
fn listed_id(e: &ListEntry) -> String {
    if e.null {
        NULL_VERSION_ID.to_owned()
    } else {
        format_version_id(VersionSel::Id(e.version))
    }
}

/// Adds `x-amz-version-id` to a response about a version of an object in
/// `bucket`: S3 sends it once the bucket has had versioning set.
pub fn add_version_header(ctx: &Ctx<'_>, r: &mut Response<ResBody>, bucket: &str, sel: VersionSel) {
    if matches!(ctx.engine.versioning(bucket), Ok(Versioning::Off) | Err(_)) {
        return;
    }
    if let Ok(v) = HeaderValue::from_str(&format_version_id(sel)) {
        r.headers_mut().insert(VERSION_ID, v);
    }
}

pub fn add_delete_marker_header(r: &mut Response<ResBody>) {
    r.headers_mut()
        .insert(DELETE_MARKER, HeaderValue::from_static("true"));
}

/// The version a GET or HEAD reads: the latest or the named one. A delete
/// marker answers 404 (as the latest) or 405 (when named) with its headers,
/// returned as the inner `Err`.
pub fn read_version(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    sel: Option<VersionSel>,
) -> Result<Result<IndexEntry, Response<ResBody>>, S3Error> {
    match ctx.engine.lookup(bucket, key, sel)? {
        None if sel.is_some() => Err(S3Error::from_code(S3Code::NoSuchVersion)),
        None => Err(S3Error::from_code(S3Code::NoSuchKey)),
        Some(e) if e.meta.delete_marker => {
            let err = if sel.is_some() {
                S3Error::new(
                    S3Code::MethodNotAllowed,
                    "The specified method is not allowed against this resource.",
                )
            } else {
                S3Error::from_code(S3Code::NoSuchKey)
            };
            let err = err.with_resource(format!("/{bucket}/{key}"));
            let mut r = error_response(&err, ctx.request_id, &ctx.parts.method);
            add_delete_marker_header(&mut r);
            add_version_header(ctx, &mut r, bucket, e.meta.sel());
            if sel.is_some() {
                if let Ok(v) = HeaderValue::from_str(&http_date(e.meta.modified_ms)) {
                    r.headers_mut().insert(http::header::LAST_MODIFIED, v);
                }
            }
            Ok(Err(r))
        }
        Some(e) => Ok(Ok(e)),
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
    let doc = RequestBody::new(
        body,
        ctx.headers(),
        &ctx.auth,
        ctx.api.idle_timeout,
        MAX_VERSIONING_BODY as u64,
    )?
    .read_to_end(MAX_VERSIONING_BODY)
    .await?;
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
        name: bucket.to_owned(),
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
