//! `GET trace`: completed requests as they happen, one access-log line
//! each (`logs::tap`), streamed as NDJSON until the client goes away.

use http::StatusCode;

use crate::logs::tap::{self, Filter, StatusFilter, SubscribeError, TraceBody};

use super::error::AdminError;
use super::router::{Answer, Call};

fn filter(c: &Call<'_>) -> Result<Filter, AdminError> {
    for (k, _) in form_urlencoded::parse(c.raw_query.as_bytes()) {
        if !["bucket", "prefix", "status", "errors", "user"].contains(&k.as_ref()) {
            return Err(AdminError::invalid(format!(
                "{k:?} is not a trace filter: bucket, prefix, status, errors or user."
            )));
        }
    }
    let status = match c.query("status") {
        Some(s) => Some(StatusFilter::parse(&s).ok_or_else(|| {
            AdminError::invalid(format!("status={s:?}: give 4xx, 5xx or a code like 404."))
        })?),
        None => None,
    };
    let errors = match c.query("errors").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(AdminError::invalid(format!(
                "errors={other:?}: give true or false."
            )))
        }
    };
    Ok(Filter {
        bucket: c.query("bucket"),
        prefix: c.query("prefix"),
        status,
        errors,
        user: c.query("user"),
    })
}

pub async fn trace(c: &Call<'_>) -> Result<Answer, AdminError> {
    let f = filter(c)?;
    match tap::subscribe(f).await {
        Ok(sub) => Ok(Answer::Stream(
            Box::pin(TraceBody::new(sub)),
            "application/x-ndjson",
        )),
        Err(SubscribeError::Full) => Err(AdminError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SlowDown",
            format!(
                "{} trace subscribers are connected already; try again later.",
                tap::MAX_SUBSCRIBERS
            ),
        )),
        Err(SubscribeError::Unavailable) => Err(AdminError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The trace is not available.",
        )),
    }
}
