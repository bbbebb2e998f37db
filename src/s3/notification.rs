//! Get/PutBucketNotificationConfiguration: the rules are stored with the
//! bucket (`BucketInfo::notifications`); every ARN must name one of the
//! operator's targets (`notify::targets`) unless the client asks to skip
//! that check, as S3 lets it. Writes then queue events in the same
//! transaction as their change (`engine/outbox.rs`).

use http::StatusCode;
use hyper::body::Incoming;

use super::common::ctx::{require_bucket, Ctx, S3Result};
use super::common::response::{status_only, xml};
use super::error::{S3Code, S3Error};
use super::xml_notification::{notifications_document, parse_notifications};
use crate::notify::targets::arn_parts;
use crate::notify::Notifications;

/// Longest configuration accepted: 100 rules of a few KiB at most.
const MAX_NOTIFICATION_BODY: usize = 256 << 10;

/// An empty configuration when the bucket has none, as S3 answers.
pub fn get_bucket_notification(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    require_bucket(ctx, bucket)?;
    let n = ctx.engine.bucket_notifications(bucket).unwrap_or_default();
    Ok(xml(StatusCode::OK, notifications_document(&n)))
}

/// Replaces the configuration; an empty one removes every rule.
pub async fn put_bucket_notification(ctx: &Ctx<'_>, bucket: &str, body: Incoming) -> S3Result {
    require_bucket(ctx, bucket)?;
    let doc = ctx.read_document(body, MAX_NOTIFICATION_BODY).await?;
    let n = parse_notifications(&doc, || format!("{:032x}", rand::random::<u128>()))?;
    let skip = ctx
        .header("x-amz-skip-destination-validation")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !skip {
        check_destinations(&n)?;
    }
    let n = (!n.rules.is_empty()).then_some(n);
    ctx.engine.set_bucket_notifications(bucket, n).await?;
    Ok(status_only(StatusCode::OK))
}

/// S3's answer when a destination cannot be reached: InvalidArgument
/// naming each ARN that is not one of this node's targets.
fn check_destinations(n: &Notifications) -> Result<(), S3Error> {
    let notifier = crate::notify::deliver::notifier();
    let unknown: Vec<&str> = n
        .rules
        .iter()
        .filter(|r| {
            !arn_parts(&r.arn, r.kind.service())
                .is_some_and(|(t, kind)| notifier.is_some_and(|x| x.kind_of(t) == Some(kind)))
        })
        .map(|r| r.arn.as_str())
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(S3Error::new(
        S3Code::InvalidArgument,
        format!(
            "Unable to validate the following destination configurations: {}",
            unknown.join(", ")
        ),
    ))
}
