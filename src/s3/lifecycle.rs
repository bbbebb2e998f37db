//! Bucket lifecycle: Put/Get/DeleteBucketLifecycleConfiguration store the
//! rules with the bucket (`BucketInfo::lifecycle`), and PUT, GET and HEAD
//! of an object an `Expiration` rule names answer `x-amz-expiration`. No
//! worker applies the rules yet (issue 17): they are kept and reported.

use http::header::HeaderValue;
use http::{HeaderMap, StatusCode};
use hyper::body::Incoming;
use rand::RngCore;

use crate::lifecycle::{current_expiry, ObjectFacts};

use super::common::ctx::{require_bucket, Ctx, S3Result};
use super::common::response::{status_only, xml};
use super::error::{S3Code, S3Error};
use super::xml::http_date;
use super::xml_lifecycle::{lifecycle_document, parse_lifecycle};

/// Longest configuration accepted: 1,000 rules of about a KiB each.
const MAX_LIFECYCLE_BODY: usize = 1 << 20;

pub fn get_bucket_lifecycle(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    require_bucket(ctx, bucket)?;
    match ctx.engine.with_bucket_lifecycle(bucket, lifecycle_document) {
        Some(doc) => Ok(xml(StatusCode::OK, doc)),
        None => Err(S3Error::from_code(S3Code::NoSuchLifecycleConfiguration)),
    }
}

/// An ID for a rule the client named none: random, as S3 makes one up.
fn new_rule_id() -> String {
    let mut raw = [0u8; 18];
    rand::thread_rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

/// S3 requires an integrity check on this body (Content-MD5 or a checksum,
/// which the body reader then verifies). Replaces any configuration.
pub async fn put_bucket_lifecycle(ctx: &Ctx<'_>, bucket: &str, body: Incoming) -> S3Result {
    require_bucket(ctx, bucket)?;
    ctx.require_content_md5()?;
    let doc = ctx.read_document(body, MAX_LIFECYCLE_BODY).await?;
    let config = parse_lifecycle(&doc, new_rule_id)?;
    ctx.engine
        .set_bucket_lifecycle(bucket, Some(config))
        .await?;
    Ok(status_only(StatusCode::OK))
}

/// 204 whether or not a configuration was there, as S3 answers.
pub async fn delete_bucket_lifecycle(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    require_bucket(ctx, bucket)?;
    ctx.engine.set_bucket_lifecycle(bucket, None).await?;
    Ok(status_only(StatusCode::NO_CONTENT))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_has_s3s_shape() {
        // AWS's example: an object written 2012-12-01 with a 21-day rule.
        let at = crate::lifecycle::expiry_after_days(1_354_363_200_000, 21);
        assert_eq!(
            expiration_value(at, "picture-deletion-rule").unwrap(),
            "expiry-date=\"Sun, 23 Dec 2012 00:00:00 GMT\", rule-id=\"picture-deletion-rule\""
        );
        assert!(expiration_value(at, "bad\nid").is_none());
    }

    #[test]
    fn generated_ids_are_distinct_and_fit() {
        let (a, b) = (new_rule_id(), new_rule_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
    }
}
