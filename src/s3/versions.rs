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
use super::handler::{status_only, xml, Ctx, ResBody, S3Result};
use super::list::{encoding_url, max_keys};
use super::router::query_get;
use super::xml::http_date;
use super::xml_versioning::{
    list_object_versions, parse_versioning_configuration, versioning_configuration,
    ListVersionsResponse, VersionEntry, VersionKind, VersioningStatus, NULL_VERSION_ID,
};

/// Longest PutBucketVersioning document accepted.
const MAX_VERSIONING_BODY: usize = 64 << 10;

pub const VERSION_ID: HeaderName = HeaderName::from_static("x-amz-version-id");
pub const DELETE_MARKER: HeaderName = HeaderName::from_static("x-amz-delete-marker");

/// How clients write a version: `null`, or 32 hex digits of the engine's
/// time-ordered id (so ids sort by age).
pub fn version_id(sel: VersionSel) -> String {
    match sel {
        VersionSel::Null => NULL_VERSION_ID.to_owned(),
        VersionSel::Id(v) => format!("{v:032x}"),
    }
}

/// A `versionId` (or `x-amz-copy-source` `versionId`) as the engine names it;
/// anything that is not an id cairn could have made is InvalidArgument, as
/// S3 answers a malformed one.
pub fn parse_version_id(v: Option<&str>) -> Result<Option<VersionSel>, S3Error> {
    let Some(v) = v else { return Ok(None) };
    if v == NULL_VERSION_ID {
        return Ok(Some(VersionSel::Null));
    }
    if v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        if let Ok(id) = u128::from_str_radix(v, 16) {
            return Ok(Some(VersionSel::Id(id)));
        }
    }
    Err(S3Error::new(
        S3Code::InvalidArgument,
        "Invalid version id specified",
    ))
}

/// The id of a listed version.
fn listed_id(e: &ListEntry) -> String {
    if e.null {
        NULL_VERSION_ID.to_owned()
    } else {
        version_id(VersionSel::Id(e.version))
    }
}

/// Adds `x-amz-version-id` to a response about a version of an object in
/// `bucket`: S3 sends it once the bucket has had versioning set.
pub fn add_version_header(ctx: &Ctx<'_>, r: &mut Response<ResBody>, bucket: &str, sel: VersionSel) {
    if let Some(v) = version_header(ctx, bucket, sel) {
        r.headers_mut().insert(VERSION_ID, v);
    }
}

/// The `x-amz-version-id` value, when the bucket has had versioning set.
fn version_header(ctx: &Ctx<'_>, bucket: &str, sel: VersionSel) -> Option<HeaderValue> {
    if matches!(ctx.engine.versioning(bucket), Ok(Versioning::Off) | Err(_)) {
        return None;
    }
    HeaderValue::from_str(&version_id(sel)).ok()
}

pub fn add_delete_marker_header(r: &mut Response<ResBody>) {
    r.headers_mut()
        .insert(DELETE_MARKER, HeaderValue::from_static("true"));
}

/// The version a GET or HEAD reads: the latest or the named one. A delete
/// marker answers 404 (as the latest) or 405 (when named) with its headers.
pub fn read_version(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> Result<IndexEntry, S3Error> {
    let sel = parse_version_id(version_id)?;
    match ctx.engine.lookup(bucket, key, sel)? {
        None if sel.is_some() => Err(S3Error::from_code(S3Code::NoSuchVersion)),
        None => Err(S3Error::from_code(S3Code::NoSuchKey)),
        Some(e) if e.meta.delete_marker => {
            let code = if sel.is_some() {
                S3Code::MethodNotAllowed
            } else {
                S3Code::NoSuchKey
            };
            let mut err = S3Error::from_code(code)
                .with_resource(format!("/{bucket}/{key}"))
                .with_header(DELETE_MARKER, HeaderValue::from_static("true"));
            if let Some(v) = version_header(ctx, bucket, e.meta.sel()) {
                err = err.with_header(VERSION_ID, v);
            }
            if sel.is_some() {
                if let Ok(v) = HeaderValue::from_str(&http_date(e.meta.modified_ms)) {
                    err = err.with_header(http::header::LAST_MODIFIED, v);
                }
            }
            Err(err)
        }
        Some(e) => Ok(e),
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

pub fn list_object_versions_handler(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    require_bucket(ctx, bucket)?;
    let q = &ctx.query;
    let prefix = query_get(q, "prefix").unwrap_or("");
    let delimiter = query_get(q, "delimiter").unwrap_or("");
    let key_marker = query_get(q, "key-marker").filter(|k| !k.is_empty());
    let version_marker_raw = query_get(q, "version-id-marker").filter(|v| !v.is_empty());
    if version_marker_raw.is_some() && key_marker.is_none() {
        return Err(S3Error::new(
            S3Code::InvalidArgument,
            "A version-id marker cannot be specified without a key marker.",
        ));
    }
    let version_marker = parse_version_id(version_marker_raw)?;
    let max = max_keys(q)?;
    let url = encoding_url(q)?;
    let page = ctx.engine.list_versions(
        bucket,
        prefix,
        Some(delimiter),
        key_marker,
        version_marker,
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
        key_marker: key_marker.unwrap_or("").to_owned(),
        version_id_marker: version_marker_raw.unwrap_or("").to_owned(),
        next_key_marker: page.next_key_marker.filter(|_| page.is_truncated),
        next_version_id_marker: page
            .next_version_marker
            .filter(|_| page.is_truncated)
            .map(version_id),
        max_keys: max as u64,
        delimiter: delimiter.to_owned(),
        is_truncated: page.is_truncated,
        encoding_type_url: url,
        owner: ctx.api.owner.clone(),
        entries,
        common_prefixes,
    };
    Ok(xml(StatusCode::OK, list_object_versions(&r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ids_round_trip_and_sort_by_age() {
        let old = VersionSel::Id(5 << 64);
        let new = VersionSel::Id((6 << 64) | 1);
        assert_eq!(parse_version_id(Some(&version_id(old))).unwrap(), Some(old));
        assert_eq!(
            parse_version_id(Some("null")).unwrap(),
            Some(VersionSel::Null)
        );
        assert_eq!(parse_version_id(None).unwrap(), None);
        assert!(version_id(old) < version_id(new));
        for bad in [
            "",
            "NULL",
            "abc",
            &"g".repeat(32),
            &"0".repeat(33),
            "+0000000000000000000000000000001",
        ] {
            let e = parse_version_id(Some(bad)).unwrap_err();
            assert_eq!(e.code, S3Code::InvalidArgument, "{bad}");
        }
    }
}
