//! If-Match / If-None-Match on writes, checked against the current object.

use crate::engine::EngineError;

use super::ctx::Ctx;
use crate::s3::conditional;
use crate::s3::error::S3Error;

/// The current object's ETag for a conditional write, `None` if it has none.
pub fn current_etag(ctx: &Ctx<'_>, bucket: &str, key: &str) -> Result<Option<String>, S3Error> {
    match ctx.engine.head(bucket, key) {
        Ok(e) => Ok(Some(e.meta.etag)),
        Err(EngineError::NoSuchKey) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Checks If-Match / If-None-Match of a write against the current object
/// when the request starts (412, 404). The engine checks the same condition
/// again at commit, under the key lock: a write or delete that got in
/// between makes it 409 ConditionalRequestConflict.
pub fn check_write_preconditions(ctx: &Ctx<'_>, bucket: &str, key: &str) -> Result<(), S3Error> {
    let h = ctx.headers();
    if !h.contains_key(http::header::IF_MATCH) && !h.contains_key(http::header::IF_NONE_MATCH) {
        return Ok(());
    }
    let current = current_etag(ctx, bucket, key)?;
    conditional::check_write(h, current.as_deref())
}
