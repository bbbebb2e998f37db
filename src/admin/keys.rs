//! Access keys and service accounts: create (for the caller or a named
//! user; optional name, description, expiry and, for a service account, a
//! policy that narrows the parent's), list, info, edit, revoke. The secret
//! is in the creation's answer only.

use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use crate::iam::identities::PrincipalKind;
use crate::iam::model::{AccessKey, Change, IamError, KeyStatus, Outcome, ServiceAccount};

use super::error::{from_iam, AdminError};
use super::router::Call;

fn missing(id: &str) -> AdminError {
    AdminError::not_found(
        "NoSuchAccessKey",
        format!("The access key {id} does not exist."),
    )
}

fn change_err(e: IamError) -> AdminError {
    from_iam(e, "NoSuchAccessKey", "AccessKeyAlreadyExists")
}

/// A key as info and list show it: never its secret.
pub fn view(k: &AccessKey) -> Value {
    let now = crate::engine::now_ms();
    let policy = k
        .service
        .as_ref()
        .and_then(|sa| sa.policy.as_deref())
        .map(|p| serde_json::from_str::<Value>(p).unwrap_or_else(|_| Value::String(p.to_owned())));
    json!({
        "accessKey": k.id,
        "user": k.user,
        "type": if k.service.is_some() { "serviceAccount" } else { "accessKey" },
        "name": k.service.as_ref().map(|sa| sa.name.as_str()).unwrap_or(""),
        "description": k.description,
        "status": k.status.as_str(),
        "createdAt": super::rfc3339(k.created_ms),
        "expiration": k.expires_ms.map(super::rfc3339),
        "expired": k.expires_ms.is_some_and(|t| t <= now),
        "policy": policy,
        "lastUsed": k.last_used.as_ref().map(|l| json!({
            "at": super::rfc3339(l.at_ms),
            "service": l.service,
            "region": l.region,
        })),
    })
}

/// `Some(value)` for a field that is present, `null` included, so that
/// an edit can tell "clear" (`null`) from "leave" (absent).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
enum KeyType {
    #[default]
    ServiceAccount,
    AccessKey,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewKey {
    user: Option<String>,
    #[serde(default, rename = "type")]
    kind: KeyType,
    name: Option<String>,
    #[serde(default)]
    description: String,
    expiration: Option<String>,
    expires_in_secs: Option<u64>,
    policy: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KeyEdit {
    status: Option<String>,
    description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    expiration: Option<Value>,
    expires_in_secs: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    policy: Option<Value>,
}

/// The expiry a request asks for: an RFC 3339 time or seconds from now.
fn expiry(at: Option<&str>, in_secs: Option<u64>) -> Result<Option<u64>, AdminError> {
    match (at, in_secs) {
        (Some(_), Some(_)) => Err(AdminError::invalid(
            "Give expiration or expiresInSecs, not both.",
        )),
        (Some(t), None) => super::parse_rfc3339(t).map(Some).ok_or_else(|| {
            AdminError::invalid(format!(
                "expiration {t:?} is not an RFC 3339 UTC time such as 2030-01-02T03:04:05Z."
            ))
        }),
        (None, Some(s)) => Ok(Some(
            crate::engine::now_ms().saturating_add(s.saturating_mul(1000)),
        )),
        (None, None) => Ok(None),
    }
}

/// A policy given as a JSON object (or as its text).
fn policy_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub async fn create(c: &Call<'_>) -> Result<Value, AdminError> {
    let req: NewKey = c.json()?;
    let user =
        match (req.user, &c.caller.kind) {
            (Some(u), _) => u,
            (None, PrincipalKind::User) => c.caller.name.clone(),
            (None, _) => return Err(AdminError::invalid(
                "Name the user the key is for: only a user's own key may create keys for itself.",
            )),
        };
    if c.ids.snapshot().state.user(&user).is_none() {
        return Err(AdminError::not_found(
            "NoSuchUser",
            format!("The user {user} does not exist."),
        ));
    }
    let expires_ms = expiry(req.expiration.as_deref(), req.expires_in_secs)?;
    let service = match req.kind {
        KeyType::ServiceAccount => Some(ServiceAccount {
            name: req.name.unwrap_or_default(),
            policy: req.policy.as_ref().map(policy_text),
        }),
        KeyType::AccessKey if req.name.is_some() || req.policy.is_some() => {
            return Err(AdminError::invalid(
                "Only a service account has a name and a policy of its own.",
            ))
        }
        KeyType::AccessKey => None,
    };
    let new = c.ids.new_access_key();
    let secret = new.secret.expose().to_owned();
    let outcome = c
        .ids
        .change(Change::CreateAccessKey {
            user,
            id: new.id.clone(),
            sealed: new.sealed.clone(),
            description: req.description,
            expires_ms,
            service,
        })
        .await
        .map_err(|e| from_iam(e, "NoSuchUser", "AccessKeyAlreadyExists"))?;
    let Outcome::AccessKey(k) = outcome else {
        return Err(AdminError::new(
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "the change answered with another kind of record",
        ));
    };
    let mut v = view(&k);
    v["secretKey"] = Value::String(secret);
    Ok(v)
}

pub async fn list(c: &Call<'_>) -> Result<Value, AdminError> {
    let snap = c.ids.snapshot();
    let state = &snap.state;
    let keys: Vec<Value> = match c.query("user") {
        Some(u) => {
            let user = state.user(&u).ok_or_else(|| {
                AdminError::not_found("NoSuchUser", format!("The user {u} does not exist."))
            })?;
            state.keys_of(&user.name).map(view).collect()
        }
        None => state.keys.values().map(view).collect(),
    };
    Ok(json!({ "accessKeys": keys }))
}

pub async fn get(c: &Call<'_>) -> Result<Value, AdminError> {
    let id = c.param(0);
    let snap = c.ids.snapshot();
    snap.state.keys.get(id).map(view).ok_or_else(|| missing(id))
}

pub async fn edit(c: &Call<'_>) -> Result<Value, AdminError> {
    let req: KeyEdit = c.json()?;
    let id = c.param(0).to_owned();
    let status = match req.status.as_deref() {
        None => None,
        Some(s) if s.eq_ignore_ascii_case("active") => Some(KeyStatus::Active),
        Some(s) if s.eq_ignore_ascii_case("inactive") => Some(KeyStatus::Inactive),
        Some(s) => {
            return Err(AdminError::invalid(format!(
                "status {s:?} is neither Active nor Inactive."
            )))
        }
    };
    let (at, clear_expiry) = match &req.expiration {
        None => (None, false),
        Some(Value::Null) => (None, true),
        Some(Value::String(s)) => (Some(s.as_str()), false),
        Some(_) => {
            return Err(AdminError::invalid(
                "expiration is an RFC 3339 time, or null for none.",
            ))
        }
    };
    if clear_expiry && req.expires_in_secs.is_some() {
        return Err(AdminError::invalid(
            "Give expiration or expiresInSecs, not both.",
        ));
    }
    let expires_ms = expiry(at, req.expires_in_secs)?;
    let (policy, clear_policy) = match &req.policy {
        None => (None, false),
        Some(Value::Null) => (None, true),
        Some(p) => (Some(policy_text(p)), false),
    };
    let outcome = c
        .ids
        .change(Change::EditAccessKey {
            id: id.clone(),
            status,
            description: req.description,
            expires_ms,
            clear_expiry,
            policy,
            clear_policy,
        })
        .await
        .map_err(change_err)?;
    match outcome {
        Outcome::AccessKey(k) => Ok(view(&k)),
        _ => get(c).await,
    }
}

pub async fn revoke(c: &Call<'_>) -> Result<Value, AdminError> {
    c.ids
        .change(Change::DeleteAccessKey {
            user: None,
            id: c.param(0).to_owned(),
        })
        .await
        .map_err(change_err)?;
    Ok(Value::Null)
}
