//! DeleteObject and DeleteObjects (`POST ?delete`).

use crate::notify::event::Action as EventAction;
use futures_util::stream::{self, StreamExt};
use http::StatusCode;
use hyper::body::Incoming;

use crate::engine::VersionSel;

use super::common::ctx::{require_bucket, Ctx, S3Result};
use super::common::response::{status_only, xml};
use super::common::version::{add_delete_marker_header, add_version_header};
use super::error::{S3Code, S3Error};
use super::router::{format_version_id, parse_version_id};
use super::xml::{self as x, DeleteError, DeletedEntry};

/// Longest DeleteObjects document accepted: 1,000 keys of up to 1,024 bytes,
/// each possibly escaped, plus the markup.
const MAX_DELETE_BODY: usize = 8 << 20;
/// Deletes of one request in flight at once (each waits for a durable commit
/// on its owner core; concurrency lets group commit batch them).
const DELETE_CONCURRENCY: usize = 32;

/// Idempotent: deleting a missing key is a success, as in S3.
pub async fn delete_object(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    sel: Option<VersionSel>,
) -> S3Result {
    require_bucket(ctx, bucket)?;
    let bypass = sel.is_some() && super::lock::bypass_governance(ctx, bucket, key);
    let origin = ctx.origin(bucket, EventAction::Delete);
    let out = ctx
        .engine
        .delete_for(bucket, key, sel, bypass, origin)
        .await?;
    let mut r = status_only(StatusCode::NO_CONTENT);
    if out.delete_marker {
        add_delete_marker_header(&mut r);
    }
    if let Some(v) = out.version {
        add_version_header(ctx, &mut r, bucket, v);
    }
    Ok(r)
}

pub async fn delete_objects(ctx: &Ctx<'_>, bucket: &str, body: Incoming) -> S3Result {
    require_bucket(ctx, bucket)?;
    ctx.require_content_md5()?;
    let doc = ctx.read_document(body, MAX_DELETE_BODY).await?;
    let req = x::parse_delete_objects(&doc)?;
    let engine = ctx.engine;
    let results: Vec<Result<DeletedEntry, DeleteError>> = stream::iter(req.objects)
        .map(|(key, version_id)| async move {
            let r = match version_id.as_deref().map(parse_version_id).transpose() {
                // Each key is authorised on its own: a refused one is an
                // AccessDenied entry, and the others are still deleted.
                Ok(sel) if !ctx.authz.allows_delete(bucket, &key, sel, ctx.headers()) => {
                    Err(S3Error::from_code(S3Code::AccessDenied))
                }
                Ok(sel) => {
                    let bypass = sel.is_some() && super::lock::bypass_governance(ctx, bucket, &key);
                    let origin = ctx.origin(bucket, EventAction::Delete);
                    engine
                        .delete_for(bucket, &key, sel, bypass, origin)
                        .await
                        .map_err(S3Error::from)
                }
                Err(e) => Err(e),
            };
            match r {
                Ok(out) => Ok(DeletedEntry {
                    key,
                    delete_marker: out.delete_marker,
                    // A marker made by this delete is named apart; a removed
                    // one is the version the request named.
                    delete_marker_version_id: match (&version_id, out.delete_marker) {
                        (None, true) => out.version.map(format_version_id),
                        (Some(v), true) => Some(v.clone()),
                        (_, false) => None,
                    },
                    version_id,
                }),
                Err(e) => Err(DeleteError {
                    key,
                    code: e.code,
                    message: e.message,
                }),
            }
        })
        .buffered(DELETE_CONCURRENCY)
        .collect()
        .await;
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(d) => deleted.push(d),
            Err(e) => errors.push(e),
        }
    }
    let mut r = xml(
        StatusCode::OK,
        x::delete_result(&deleted, &errors, req.quiet),
    );
    // The bucket's server access log writes a line per deleted key.
    r.extensions_mut().insert(crate::logs::bucket::BatchDeleted(
        deleted.into_iter().map(|d| (d.key, d.version_id)).collect(),
    ));
    Ok(r)
}
