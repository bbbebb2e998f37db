//! Managed policies by name: create (checked by the policy compiler), list,
//! info, attach to and detach from users and groups, remove.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::iam::model::{new_id, Change, IamState, ManagedPolicy, Target};

use super::error::{from_iam, AdminError};
use super::router::Call;

fn missing(name: &str) -> AdminError {
    AdminError::not_found("NoSuchPolicy", format!("The policy {name} does not exist."))
}

fn find<'a>(state: &'a IamState, name: &str) -> Option<&'a ManagedPolicy> {
    state
        .policies
        .values()
        .find(|p| p.name.eq_ignore_ascii_case(name))
}

/// The ARN of the policy called `name`.
pub fn arn_of(state: &IamState, name: &str) -> Result<String, AdminError> {
    find(state, name)
        .map(|p| p.arn.clone())
        .ok_or_else(|| missing(name))
}

/// The names of attached policies (given by ARN).
pub fn names<'a>(state: &'a IamState, attached: &BTreeSet<String>) -> Vec<&'a str> {
    attached
        .iter()
        .filter_map(|arn| state.policies.get(arn).map(|p| p.name.as_str()))
        .collect()
}

fn view(p: &ManagedPolicy) -> Value {
    json!({
        "name": p.name,
        "arn": p.arn,
        "description": p.description,
        "attachments": p.attachments,
        "createdAt": super::rfc3339(p.created_ms),
        "updatedAt": super::rfc3339(p.updated_ms),
    })
}

pub async fn list(c: &Call<'_>) -> Result<Value, AdminError> {
    let snap = c.ids.snapshot();
    let mut list: Vec<&ManagedPolicy> = snap.state.policies.values().collect();
    list.sort_by_key(|p| p.name.to_ascii_lowercase());
    let policies: Vec<Value> = list.into_iter().map(view).collect();
    Ok(json!({ "policies": policies }))
}

fn info_of(c: &Call<'_>, name: &str) -> Result<Value, AdminError> {
    let snap = c.ids.snapshot();
    let state = &snap.state;
    let p = find(state, name).ok_or_else(|| missing(name))?;
    let users: Vec<&str> = state
        .users
        .values()
        .filter(|u| u.attached.contains(&p.arn))
        .map(|u| u.name.as_str())
        .collect();
    let groups: Vec<&str> = state
        .groups
        .values()
        .filter(|g| g.attached.contains(&p.arn))
        .map(|g| g.name.as_str())
        .collect();
    let mut v = view(p);
    v["document"] =
        serde_json::from_str(&p.document).unwrap_or_else(|_| Value::String(p.document.clone()));
    v["attachedTo"] = json!({ "users": users, "groups": groups });
    Ok(v)
}

pub async fn get(c: &Call<'_>) -> Result<Value, AdminError> {
    info_of(c, c.param(0))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPolicy {
    name: String,
    #[serde(default)]
    description: String,
    /// The document as a JSON object (or its text).
    document: Value,
}

pub async fn create(c: &Call<'_>) -> Result<Value, AdminError> {
    let req: NewPolicy = c.json()?;
    let document = match req.document {
        Value::String(s) => s,
        Value::Object(_) => req.document.to_string(),
        _ => {
            return Err(AdminError::bad_request(
                "MalformedPolicy",
                "The policy document must be a JSON object.",
            ))
        }
    };
    c.ids
        .change(Change::CreatePolicy {
            name: req.name.clone(),
            path: "/".into(),
            description: req.description,
            document,
            id: new_id("ANPA"),
        })
        .await
        .map_err(|e| from_iam(e, "NoSuchPolicy", "PolicyAlreadyExists"))?;
    info_of(c, &req.name)
}

/// Removes a policy attached to nobody (409 `DeleteConflict` otherwise).
pub async fn remove(c: &Call<'_>) -> Result<Value, AdminError> {
    let arn = arn_of(&c.ids.snapshot().state, c.param(0))?;
    c.ids
        .change(Change::DeletePolicy { arn })
        .await
        .map_err(|e| from_iam(e, "NoSuchPolicy", "PolicyAlreadyExists"))?;
    Ok(Value::Null)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Holders {
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
}

/// The policy's ARN and the targets a request names, all checked to exist
/// before anything changes.
fn targets(c: &Call<'_>) -> Result<(String, Vec<Target>), AdminError> {
    let req: Holders = c.json()?;
    if req.users.is_empty() && req.groups.is_empty() {
        return Err(AdminError::invalid("Name at least one user or group."));
    }
    let snap = c.ids.snapshot();
    let state = &snap.state;
    let arn = arn_of(state, c.param(0))?;
    let mut out = Vec::with_capacity(req.users.len() + req.groups.len());
    for u in req.users {
        let user = state.user(&u).ok_or_else(|| {
            AdminError::not_found("NoSuchUser", format!("The user {u} does not exist."))
        })?;
        out.push(Target::User(user.name.clone()));
    }
    for g in req.groups {
        let group = state.group(&g).ok_or_else(|| {
            AdminError::not_found("NoSuchGroup", format!("The group {g} does not exist."))
        })?;
        out.push(Target::Group(group.name.clone()));
    }
    Ok((arn, out))
}

pub async fn attach(c: &Call<'_>) -> Result<Value, AdminError> {
    let (arn, targets) = targets(c)?;
    for target in targets {
        c.ids
            .change(Change::AttachPolicy {
                target,
                arn: arn.clone(),
            })
            .await
            .map_err(|e| from_iam(e, "NoSuchPolicy", "PolicyAlreadyExists"))?;
    }
    info_of(c, c.param(0))
}

pub async fn detach(c: &Call<'_>) -> Result<Value, AdminError> {
    let (arn, targets) = targets(c)?;
    for target in targets {
        c.ids
            .change(Change::DetachPolicy {
                target,
                arn: arn.clone(),
            })
            .await
            .map_err(|e| from_iam(e, "PolicyNotAttached", "PolicyAlreadyExists"))?;
    }
    info_of(c, c.param(0))
}
