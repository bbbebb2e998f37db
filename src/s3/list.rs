//! ListObjects (V1 and V2) over the engine's merged partition listing.

use http::StatusCode;

use crate::engine::merge::{Entry, ListParams, Page};

use super::common::ctx::{Ctx, S3Result};
use super::common::response::xml;
use super::error::S3Error;
use super::router::{encode_token, ListV1Params, ListV2Params};
use super::xml::{ListEntry, ListV1Response, ListV2Response};

type EnginePage = Page<crate::engine::index::ListEntry>;

/// Splits a page into contents and common prefixes.
fn split(page: EnginePage) -> (Vec<ListEntry>, Vec<String>) {
    let mut contents = Vec::new();
    let mut prefixes = Vec::new();
    for e in page.entries {
        match e {
            Entry::Object(key, v) => contents.push(ListEntry {
                key,
                last_modified_ms: v.modified_ms,
                etag: v.etag,
                size: v.size,
            }),
            Entry::CommonPrefix(p) => prefixes.push(p),
        }
    }
    (contents, prefixes)
}

fn list(
    ctx: &Ctx<'_>,
    bucket: &str,
    prefix: &str,
    delimiter: &str,
    after: Option<&str>,
    max: usize,
) -> Result<EnginePage, S3Error> {
    let params = ListParams {
        prefix,
        delimiter: (!delimiter.is_empty()).then_some(delimiter),
        start_after: after,
        max_keys: max,
    };
    let mut page = ctx.engine.list(bucket, &params)?;
    if max == 0 {
        // Nothing can be returned, so there is nothing to continue from.
        page.is_truncated = false;
    }
    Ok(page)
}

pub fn list_objects_v2(ctx: &Ctx<'_>, bucket: &str, p: &ListV2Params) -> S3Result {
    let prefix = p.prefix.as_deref().unwrap_or("");
    let delimiter = p.delimiter.as_deref().unwrap_or("");
    let max = p.max_keys.limit;
    // The token wins over start-after: it is already past it.
    let after = match &p.continuation {
        Some(t) => Some(t.after.as_str()),
        None => p.start_after.as_deref(),
    };
    let page = list(ctx, bucket, prefix, delimiter, after, max)?;
    let next = if page.is_truncated {
        page.next_marker.as_deref().map(encode_token)
    } else {
        None
    };
    let is_truncated = page.is_truncated && next.is_some();
    let (contents, common_prefixes) = split(page);
    let r = ListV2Response {
        name: bucket.to_owned(),
        prefix: prefix.to_owned(),
        delimiter: delimiter.to_owned(),
        max_keys: max as u64,
        is_truncated,
        continuation_token: p.continuation.as_ref().map(|t| t.raw.clone()),
        next_continuation_token: next,
        start_after: p.start_after.clone(),
        encoding_type_url: p.encoding_url,
        fetch_owner: p.fetch_owner,
        owner: ctx.api.owner.clone(),
        contents,
        common_prefixes,
    };
    Ok(xml(StatusCode::OK, super::xml::list_objects_v2(&r)))
}

pub fn list_objects_v1(ctx: &Ctx<'_>, bucket: &str, p: &ListV1Params) -> S3Result {
    let prefix = p.prefix.as_deref().unwrap_or("");
    let delimiter = p.delimiter.as_deref().unwrap_or("");
    let marker = p.marker.as_str();
    let max = p.max_keys.limit;
    let page = list(
        ctx,
        bucket,
        prefix,
        delimiter,
        (!marker.is_empty()).then_some(marker),
        max,
    )?;
    // AWS returns NextMarker only with a delimiter; without one clients
    // continue from the last key.
    let next_marker = if page.is_truncated && !delimiter.is_empty() {
        page.next_marker.clone()
    } else {
        None
    };
    let is_truncated = page.is_truncated;
    let (contents, common_prefixes) = split(page);
    let r = ListV1Response {
        name: bucket.to_owned(),
        prefix: prefix.to_owned(),
        marker: marker.to_owned(),
        next_marker,
        delimiter: delimiter.to_owned(),
        max_keys: max as u64,
        is_truncated,
        encoding_type_url: p.encoding_url,
        owner: ctx.api.owner.clone(),
        contents,
        common_prefixes,
    };
    Ok(xml(StatusCode::OK, super::xml::list_objects_v1(&r)))
}
