//! Notification targets (docs/NOTIFICATIONS.md): list with their
//! delivery state, add or replace, remove. A target is stored on the
//! drives before the call answers; removing one drops its waiting events.

use std::sync::atomic::Ordering;

use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::notify::deliver::{notifier, Notifier, View};
use crate::notify::targets::{Target, DEFAULT_QUEUE_LIMIT};

use super::error::AdminError;
use super::router::Call;

fn service() -> Result<&'static Notifier, AdminError> {
    notifier().ok_or_else(|| {
        AdminError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "Notifications are not running on this node.",
        )
    })
}

/// Runs `f` (blocking: the drives, a sender's thread) off the executor.
async fn blocking<T: Send + 'static>(
    c: &Call<'_>,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AdminError> {
    c.engine.companion.run(f).await.map_err(|_| {
        AdminError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The node is shutting down.",
        )
    })
}

fn view(v: &View) -> Value {
    let t = &v.target;
    let last_error = v
        .stats
        .last_error
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    json!({
        "name": t.name,
        "type": t.kind().map_or("webhook", |k| k.arn_type()),
        "endpoint": t.endpoint,
        "subject": t.subject,
        "jetStream": t.jetstream,
        "arn": t.arn("sqs"),
        "authToken": t.auth_token.is_some(),
        "caCert": t.ca_cert.is_some(),
        "queueLimit": t.queue_limit,
        "online": v.stats.online.load(Ordering::Relaxed),
        "pending": v.counts.pending,
        "dropped": v.counts.dropped,
        "sent": v.stats.sent.load(Ordering::Relaxed),
        "failed": v.stats.failed.load(Ordering::Relaxed),
        "lastError": last_error,
    })
}

pub async fn list(c: &Call<'_>) -> Result<Value, AdminError> {
    let n = service()?;
    let views = blocking(c, move || n.list()).await?;
    Ok(json!({ "targets": views.iter().map(view).collect::<Vec<_>>() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewTarget {
    endpoint: String,
    auth_token: Option<String>,
    ca_cert: Option<String>,
    queue_limit: Option<u64>,
    subject: Option<String>,
    jet_stream: Option<bool>,
}

/// `PUT notify/targets/{name}`: 201 for a new target, 200 for a replaced one.
pub async fn put(c: &Call<'_>) -> Result<super::router::Answer, AdminError> {
    let n = service()?;
    let req: NewTarget = c.json()?;
    let target = Target {
        name: c.param(0).to_owned(),
        endpoint: req.endpoint,
        auth_token: req.auth_token,
        ca_cert: req.ca_cert,
        queue_limit: req.queue_limit.unwrap_or(DEFAULT_QUEUE_LIMIT),
        subject: req.subject,
        jetstream: req.jet_stream.unwrap_or(false),
    };
    target.check().map_err(AdminError::invalid)?;
    *c.audit_detail.borrow_mut() = Some(format!("endpoint {}", target.endpoint));
    let shown = json!({ "name": target.name, "arn": target.arn("sqs") });
    let existed = blocking(c, move || n.put(target))
        .await?
        .map_err(|e| AdminError::new(StatusCode::CONFLICT, "TargetNotSaved", e))?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(super::router::Answer::Json(status, shown))
}

pub async fn remove(c: &Call<'_>) -> Result<Value, AdminError> {
    let n = service()?;
    let name = c.param(0).to_owned();
    let shown = name.clone();
    let purged = blocking(c, move || n.remove(&name))
        .await?
        .map_err(|e| AdminError::new(StatusCode::CONFLICT, "TargetNotSaved", e))?;
    match purged {
        None => Err(AdminError::not_found(
            "NoSuchTarget",
            format!("No notification target {shown}."),
        )),
        Some(dropped) => {
            *c.audit_detail.borrow_mut() = Some(format!("{dropped} waiting events dropped"));
            Ok(Value::Null)
        }
    }
}
