//! `x-amz-expiration` on PUT, CopyObject, CompleteMultipartUpload, GET and
//! HEAD of an object that an enabled `Expiration` rule of its bucket names,
//! and `x-amz-abort-date` on CreateMultipartUpload and ListParts of an
//! upload an `AbortIncompleteMultipartUpload` rule names (issue 17). The rules are matched by the pure
//! `crate::lifecycle`, as the worker (`engine/lifecycle.rs`) matches them.

use http::header::HeaderValue;
use http::HeaderMap;

use crate::engine::ObjectInfo;
use crate::lifecycle::{current_expiry, upload_abort, ObjectFacts};
use crate::s3::xml::http_date;

use super::ctx::Ctx;

/// The `x-amz-expiration` value for a version expiring at `at_ms` by
/// `rule_id`, as S3 writes it.
fn expiration_value(at_ms: u64, rule_id: &str) -> Option<HeaderValue> {
    let v = format!(
        "expiry-date=\"{}\", rule-id=\"{}\"",
        http_date(at_ms),
        rule_id
    );
    // An ID that is not visible ASCII cannot be a header value: no header.
    HeaderValue::from_str(&v).ok()
}

/// Adds `x-amz-expiration` when an enabled `Expiration` rule of the
/// bucket names the current version `o`, written at `created_ms`. A bucket
/// without rules costs one lookup in the core's bucket table.
pub fn add_expiration(
    ctx: &Ctx<'_>,
    h: &mut HeaderMap,
    bucket: &str,
    o: &ObjectFacts<'_>,
    created_ms: u64,
) {
    let v = ctx.engine.with_bucket_lifecycle(bucket, |lc| {
        current_expiry(lc, o, created_ms).and_then(|(at, id)| expiration_value(at, id))
    });
    if let Some(v) = v.flatten() {
        h.insert("x-amz-expiration", v);
    }
}

/// Adds `x-amz-abort-date` and `x-amz-abort-rule-id` when an enabled
/// `AbortIncompleteMultipartUpload` rule names an upload of `key` begun at
/// `created_ms` (CreateMultipartUpload and ListParts answer them).
pub fn add_abort_date(ctx: &Ctx<'_>, h: &mut HeaderMap, bucket: &str, key: &str, created_ms: u64) {
    let v = ctx.engine.with_bucket_lifecycle(bucket, |lc| {
        let (at, id) = upload_abort(lc, key, created_ms)?;
        Some((
            HeaderValue::from_str(&http_date(at)).ok()?,
            HeaderValue::from_str(id).ok()?,
        ))
    });
    if let Some((date, id)) = v.flatten() {
        h.insert("x-amz-abort-date", date);
        h.insert("x-amz-abort-rule-id", id);
    }
}

/// The tags a lifecycle filter may ask about of a version being written:
/// a copy only when the bucket has rules.
pub fn tags_for_expiration(
    ctx: &Ctx<'_>,
    bucket: &str,
    tags: &[(String, String)],
) -> Option<Vec<(String, String)>> {
    ctx.engine.with_bucket_lifecycle(bucket, |_| tags.to_vec())
}

/// [`add_expiration`] for the version a write just made, with its tags
/// (None: the bucket had no rules when [`tags_for_expiration`] looked).
pub fn add_written_expiration(
    ctx: &Ctx<'_>,
    h: &mut HeaderMap,
    (bucket, key): (&str, &str),
    info: &ObjectInfo,
    tags: Option<&[(String, String)]>,
) {
    if let Some(tags) = tags {
        let facts = ObjectFacts {
            key,
            size: info.size,
            tags,
        };
        add_expiration(ctx, h, bucket, &facts, info.modified_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_has_s3s_shape() {
        // AWS's example: an object written 2012-12-01 with a 21-day rule
        // (the user guide prints the day as "Fri"; 23 Dec 2012 was a Sunday).
        let at = crate::lifecycle::expiry_after_days(1_354_363_200_000, 21);
        assert_eq!(
            expiration_value(at, "picture-deletion-rule").unwrap(),
            "expiry-date=\"Sun, 23 Dec 2012 00:00:00 GMT\", rule-id=\"picture-deletion-rule\""
        );
        assert!(expiration_value(at, "bad\nid").is_none());
    }
}
