//! The built-in KMS's keys: create, list, info, rotate, disable, enable
//! (docs/ENCRYPTION.md). Key material never leaves the node; these show a
//! key's state and versions only.

use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::sse::kms::{KeyInfo, KmsError};
use crate::sse::service::{self, KmsService, Op, Reply};

use super::error::AdminError;
use super::router::Call;

fn error(e: KmsError) -> AdminError {
    let msg = e.to_string();
    match e {
        KmsError::NotFound(_) => AdminError::not_found("NoSuchKMSKey", msg),
        KmsError::AlreadyExists(_) => {
            AdminError::new(StatusCode::CONFLICT, "KMSKeyAlreadyExists", msg)
        }
        KmsError::InvalidId(_) => AdminError::invalid(msg),
        KmsError::DefaultKeyStaysEnabled => {
            AdminError::new(StatusCode::CONFLICT, "KMSDefaultKey", msg)
        }
        KmsError::Limit(_) => AdminError::new(StatusCode::CONFLICT, "LimitExceeded", msg),
        KmsError::Disabled(_) | KmsError::DoesNotOpen | KmsError::Malformed => {
            AdminError::invalid(msg)
        }
        KmsError::Store(_) => {
            AdminError::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", msg)
        }
        KmsError::Newer(_) => {
            AdminError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", msg)
        }
    }
}

fn kms() -> Result<KmsService, AdminError> {
    service::current().ok_or_else(|| {
        AdminError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "This node has no KMS.",
        )
    })
}

fn view(k: &KeyInfo) -> Value {
    json!({
        "id": k.id,
        "enabled": k.enabled,
        "createdAt": super::rfc3339(k.created_ms),
        "currentVersion": k.current_version,
        "versions": k.versions.iter().map(|v| json!({
            "version": v.version,
            "createdAt": super::rfc3339(v.created_ms),
        })).collect::<Vec<_>>(),
    })
}

async fn one(c: &Call<'_>, op: Op) -> Result<Value, AdminError> {
    let k = kms()?.key(op).await.map_err(error)?;
    *c.audit_detail.borrow_mut() = Some(format!(
        "key {} version {} {}",
        k.id,
        k.current_version,
        if k.enabled { "enabled" } else { "disabled" }
    ));
    Ok(view(&k))
}

pub async fn list(_: &Call<'_>) -> Result<Value, AdminError> {
    match kms()?.call(Op::List).await.map_err(error)? {
        Reply::Keys(keys) => Ok(json!({ "keys": keys.iter().map(view).collect::<Vec<_>>() })),
        _ => Err(error(KmsError::Store("unexpected KMS reply".into()))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    id: String,
}

pub async fn create(c: &Call<'_>) -> Result<Value, AdminError> {
    let req: NewKey = c.json()?;
    one(c, Op::Create(req.id)).await
}

pub async fn info(c: &Call<'_>) -> Result<Value, AdminError> {
    one(c, Op::Info(c.param(0).to_owned())).await
}

pub async fn rotate(c: &Call<'_>) -> Result<Value, AdminError> {
    one(c, Op::Rotate(c.param(0).to_owned())).await
}

pub async fn disable(c: &Call<'_>) -> Result<Value, AdminError> {
    one(c, Op::SetEnabled(c.param(0).to_owned(), false)).await
}

pub async fn enable(c: &Call<'_>) -> Result<Value, AdminError> {
    one(c, Op::SetEnabled(c.param(0).to_owned(), true)).await
}
