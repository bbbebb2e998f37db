//! Bucket lifecycle: Put/Get/DeleteBucketLifecycleConfiguration store the
//! rules with the bucket (`BucketInfo::lifecycle`); `x-amz-expiration` is
//! added by `common::expiration`. The worker in `engine/lifecycle.rs`
//! applies them.

use http::{Response, StatusCode};
use hyper::body::Incoming;
use rand::RngCore;

use super::common::ctx::{require_bucket, Ctx, S3Result};
use super::common::response::{status_only, xml};
use super::error::{S3Code, S3Error};
use super::xml_lifecycle::{lifecycle_document, parse_lifecycle};
use crate::lifecycle::TransitionMinimum;

/// Longest configuration accepted: 1,000 rules of about a KiB each.
const MAX_LIFECYCLE_BODY: usize = 1 << 20;

pub fn get_bucket_lifecycle(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    require_bucket(ctx, bucket)?;
    let found = ctx
        .engine
        .with_bucket_lifecycle(bucket, |lc| (lifecycle_document(lc), lc.transition_minimum));
    match found {
        Some((doc, minimum)) => Ok(with_minimum(xml(StatusCode::OK, doc), minimum)),
        None => Err(S3Error::from_code(S3Code::NoSuchLifecycleConfiguration)),
    }
}

/// Both answers name the configuration's transition minimum, as S3's do.
fn with_minimum(
    mut resp: Response<super::common::response::ResBody>,
    minimum: TransitionMinimum,
) -> Response<super::common::response::ResBody> {
    resp.headers_mut().insert(
        TransitionMinimum::HEADER,
        http::HeaderValue::from_static(minimum.as_str()),
    );
    resp
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
    let classes: Vec<&str> = ctx
        .engine
        .shared
        .classes
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let minimum = match ctx.header(TransitionMinimum::HEADER) {
        None => TransitionMinimum::default(),
        Some(v) => TransitionMinimum::parse(v).ok_or_else(|| {
            S3Error::new(
                S3Code::InvalidArgument,
                format!(
                    "{} must be all_storage_classes_128K or varies_by_storage_class",
                    TransitionMinimum::HEADER
                ),
            )
        })?,
    };
    let mut config = parse_lifecycle(&doc, &classes, new_rule_id)?;
    config.transition_minimum = minimum;
    ctx.engine
        .set_bucket_lifecycle(bucket, Some(config))
        .await?;
    Ok(with_minimum(status_only(StatusCode::OK), minimum))
}

/// 204 whether or not a configuration was there, as S3 answers.
pub async fn delete_bucket_lifecycle(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    require_bucket(ctx, bucket)?;
    ctx.engine.set_bucket_lifecycle(bucket, None).await?;
    Ok(status_only(StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_distinct_and_fit() {
        let (a, b) = (new_rule_id(), new_rule_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
    }
}
