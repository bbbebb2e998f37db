//! The `x-amz-version-id` / `x-amz-delete-marker` headers, and the
//! version a read names.

use http::header::{HeaderName, HeaderValue};
use http::Response;

use crate::engine::meta::IndexEntry;
use crate::engine::{VersionSel, Versioning};

use super::ctx::Ctx;
use super::response::ResBody;
use crate::s3::error::{S3Code, S3Error};
use crate::s3::router::format_version_id;
use crate::s3::tenant::external_name;
use crate::s3::xml::http_date;

pub const VERSION_ID: HeaderName = HeaderName::from_static("x-amz-version-id");

pub const DELETE_MARKER: HeaderName = HeaderName::from_static("x-amz-delete-marker");

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
    HeaderValue::from_str(&format_version_id(sel)).ok()
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
    sel: Option<VersionSel>,
) -> Result<IndexEntry, S3Error> {
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
                .with_resource(format!("/{}/{key}", external_name(bucket)))
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
