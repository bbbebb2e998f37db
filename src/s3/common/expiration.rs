//! `x-amz-expiration` on PUT, GET and HEAD of an object that an enabled
//! `Expiration` rule of its bucket names (issue 17). The rules are matched
//! by the pure `crate::lifecycle`; no worker acts on the date yet.

use http::header::HeaderValue;
use http::HeaderMap;

use crate::lifecycle::{current_expiry, ObjectFacts};
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
