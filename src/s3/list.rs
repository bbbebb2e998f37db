//! ListObjects (V1 and V2) over the engine's merged partition listing.

use http::StatusCode;

use crate::engine::merge::{Entry, ListParams, Page};
use crate::engine::meta::{sse_header, ObjectMeta};
use crate::iam::action::Action;
use crate::sse::header::Mode as SseMode;

use super::common::acl::is_internal_header;
use super::common::ctx::{Ctx, S3Result};
use super::common::metadata::CHECKSUM_PREFIX;
use super::common::response::xml;
use super::error::S3Error;
use super::router::{encode_token, Check, ListV1Params, ListV2Params, Resource};
use super::tenant::external_name;
use super::xml::{s3_url_encode, EntryMetadata, ListEntry, ListV1Response, ListV2Response};

type EnginePage = Page<crate::engine::index::ListEntry>;

/// Splits a page into contents and common prefixes; with `metadata` (the
/// bucket of a `metadata=true` listing), each entry gets its metadata.
fn split(page: EnginePage, metadata: Option<(&Ctx<'_>, &str)>) -> (Vec<ListEntry>, Vec<String>) {
    let mut contents = Vec::new();
    let mut prefixes = Vec::new();
    for e in page.entries {
        match e {
            Entry::Object(key, v) => contents.push(ListEntry {
                metadata: metadata
                    .map(|(ctx, bucket)| entry_metadata(ctx, bucket, &key, v.version)),
                key,
                last_modified_ms: v.modified_ms,
                etag: v.etag,
                size: v.size,
                class: v.class,
            }),
            Entry::CommonPrefix(p) => prefixes.push(p),
        }
    }
    (contents, prefixes)
}

/// MinIO's `metadata=true` for one listed version: its stored headers and
/// `x-amz-meta-*` as MinIO names them (`content-type`, `X-Amz-Meta-Color`),
/// its encryption, and its shard layout if the caller may GetObject it; its
/// tags if it may GetObjectTagging, as MinIO checks per key. One index read
/// on this core (a page holds at most 1,000 entries, and metadata is bounded
/// at PUT); a version replaced since the page was read gets nothing.
fn entry_metadata(ctx: &Ctx<'_>, bucket: &str, key: &str, version: u128) -> Box<EntryMetadata> {
    let mut out = Box::<EntryMetadata>::default();
    let meta = match ctx.engine.lookup(bucket, key, None) {
        Ok(Some(e)) if e.meta.version == version && !e.meta.delete_marker => e.meta,
        _ => return out,
    };
    let may = |action| {
        let check = Check {
            action,
            resource: Resource::Object { bucket, key },
        };
        ctx.authz.allows(check, ctx.headers())
    };
    if may(Action::S3GetObjectTagging) && !meta.tags.is_empty() {
        out.tags = Some(tag_query(&meta.tags));
    }
    if may(Action::S3GetObject) {
        out.user = Some(user_metadata(&meta));
        out.layout = Some(meta.layout);
    }
    out
}

/// `<UserMetadata>`'s pairs, in MinIO's names.
fn user_metadata(meta: &ObjectMeta) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(2 + meta.headers.len() + meta.user_meta.len());
    if let Some(ct) = &meta.content_type {
        out.push(("content-type".to_owned(), ct.clone()));
    }
    for (name, value) in &meta.headers {
        if !name.starts_with(CHECKSUM_PREFIX) && !is_internal_header(name) {
            out.push((name.clone(), value.clone()));
        }
    }
    if let Some(Ok(h)) = sse_header(&meta.attrs) {
        out.push(match h.mode {
            SseMode::S3 => ("X-Amz-Server-Side-Encryption".into(), "AES256".into()),
            SseMode::Kms => ("X-Amz-Server-Side-Encryption".into(), "aws:kms".into()),
            SseMode::Customer => (
                "X-Amz-Server-Side-Encryption-Customer-Algorithm".into(),
                "AES256".into(),
            ),
        });
    }
    for (name, value) in &meta.user_meta {
        out.push((format!("X-Amz-Meta-{}", canonical(name)), value.clone()));
    }
    out
}

/// A header name as Go's `CanonicalHeaderKey` writes it (MinIO's form):
/// upper case at the start and after each `-`, lower case elsewhere.
fn canonical(name: &str) -> String {
    let mut up = true;
    name.chars()
        .map(|c| {
            let c2 = if up {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            up = c == '-';
            c2
        })
        .collect()
}

/// A tag set in URL query form, as `x-amz-tagging` carries it.
fn tag_query(tags: &[(String, String)]) -> String {
    let pairs: Vec<String> = tags
        .iter()
        .map(|(k, v)| format!("{}={}", s3_url_encode(k), s3_url_encode(v)))
        .collect();
    pairs.join("&")
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
    let (contents, common_prefixes) = split(page, p.metadata.then_some((ctx, bucket)));
    let r = ListV2Response {
        name: external_name(bucket).to_owned(),
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
    let (contents, common_prefixes) = split(page, None);
    let r = ListV1Response {
        name: external_name(bucket).to_owned(),
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
