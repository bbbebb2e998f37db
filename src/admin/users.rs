//! Users: add (with policies), list, info, enable, disable, remove.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::iam::model::{new_id, Change, IamCode, IamState, Target, User};

use super::error::{from_iam, AdminError};
use super::router::Call;
use super::{keys, policies};

fn missing(name: &str) -> AdminError {
    AdminError::not_found("NoSuchUser", format!("The user {name} does not exist."))
}

fn change_err(e: crate::iam::model::IamError) -> AdminError {
    from_iam(e, "NoSuchUser", "UserAlreadyExists")
}

/// A user's summary; with its keys for `info`.
fn view(state: &IamState, u: &User, with_keys: bool) -> Value {
    let groups: Vec<&str> = u
        .groups
        .iter()
        .filter_map(|g| state.group(g).map(|g| g.name.as_str()))
        .collect();
    let mut v = json!({
        "name": u.name,
        "id": u.id,
        "arn": u.arn,
        "enabled": u.enabled,
        "tenant": u.tenant,
        "createdAt": super::rfc3339(u.created_ms),
        "groups": groups,
        "policies": policies::names(state, &u.attached),
        "inlinePolicies": u.inline.keys().collect::<Vec<_>>(),
    });
    if with_keys {
        let keys: Vec<Value> = state.keys_of(&u.name).map(keys::view).collect();
        v["accessKeys"] = Value::Array(keys);
    }
    v
}

pub async fn list(c: &Call<'_>) -> Result<Value, AdminError> {
    let snap = c.ids.snapshot();
    let state = &snap.state;
    let users: Vec<Value> = state
        .users
        .values()
        .map(|u| view(state, u, false))
        .collect();
    Ok(json!({ "users": users }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    #[serde(default)]
    policies: Vec<String>,
    /// The tenant the user belongs to (it must exist); absent: global.
    #[serde(default)]
    tenant: String,
}

pub async fn create(c: &Call<'_>) -> Result<Value, AdminError> {
    let req: NewUser = c.json()?;
    // Every policy must exist before the user is made, so a typo leaves
    // nothing behind.
    let arns = {
        let snap = c.ids.snapshot();
        req.policies
            .iter()
            .map(|p| policies::arn_of(&snap.state, p))
            .collect::<Result<Vec<_>, _>>()?
    };
    c.ids
        .change(Change::CreateUser {
            name: req.name.clone(),
            path: "/".into(),
            tags: Vec::new(),
            id: new_id("AIDA"),
            tenant: req.tenant.clone(),
        })
        .await
        .map_err(|e| {
            if e.code == IamCode::NoSuchEntity {
                return AdminError::not_found(
                    "NoSuchTenant",
                    format!("The tenant {} does not exist.", req.tenant),
                );
            }
            change_err(e)
        })?;
    for arn in arns {
        c.ids
            .change(Change::AttachPolicy {
                target: Target::User(req.name.clone()),
                arn,
            })
            .await
            .map_err(|e| from_iam(e, "NoSuchPolicy", "PolicyAlreadyExists"))?;
    }
    info_of(c, &req.name)
}

fn info_of(c: &Call<'_>, name: &str) -> Result<Value, AdminError> {
    let snap = c.ids.snapshot();
    let u = snap.state.user(name).ok_or_else(|| missing(name))?;
    Ok(view(&snap.state, u, true))
}

pub async fn get(c: &Call<'_>) -> Result<Value, AdminError> {
    info_of(c, c.param(0))
}

async fn set_enabled(c: &Call<'_>, enabled: bool) -> Result<Value, AdminError> {
    let name = c.param(0).to_owned();
    c.ids
        .change(Change::SetUserEnabled {
            name: name.clone(),
            enabled,
        })
        .await
        .map_err(change_err)?;
    info_of(c, &name)
}

pub async fn enable(c: &Call<'_>) -> Result<Value, AdminError> {
    set_enabled(c, true).await
}

pub async fn disable(c: &Call<'_>) -> Result<Value, AdminError> {
    set_enabled(c, false).await
}

/// Removes a user with everything that hangs on it (keys and service
/// accounts, group memberships, policies), as `mc admin user remove`
/// does; IAM's DeleteUser refuses until those are gone.
pub async fn remove(c: &Call<'_>) -> Result<Value, AdminError> {
    let name = c.param(0).to_owned();
    let mut steps = Vec::new();
    {
        let snap = c.ids.snapshot();
        let state = &snap.state;
        let u = state.user(&name).ok_or_else(|| missing(&name))?;
        let target = || Target::User(u.name.clone());
        for k in state.keys_of(&u.name) {
            steps.push(Change::DeleteAccessKey {
                user: None,
                id: k.id.clone(),
            });
        }
        for g in &u.groups {
            steps.push(Change::RemoveUserFromGroup {
                group: g.clone(),
                user: u.name.clone(),
            });
        }
        for p in u.inline.keys() {
            steps.push(Change::DeleteInlinePolicy {
                target: target(),
                name: p.clone(),
            });
        }
        for arn in &u.attached {
            steps.push(Change::DetachPolicy {
                target: target(),
                arn: arn.clone(),
            });
        }
        steps.push(Change::DeleteUser {
            name: u.name.clone(),
        });
    }
    for step in steps {
        c.ids.change(step).await.map_err(change_err)?;
    }
    Ok(Value::Null)
}
