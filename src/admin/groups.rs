//! Groups: create (with members), add and remove members, list, info,
//! remove. Groups cannot be disabled: the identity model has no such state
//! (`admin:EnableGroup`/`admin:DisableGroup` exist for policies only).

use serde::Deserialize;
use serde_json::{json, Value};

use crate::iam::model::{new_id, Change, Group, IamError, IamState, Target};

use super::error::{from_iam, AdminError};
use super::policies;
use super::router::Call;

fn missing(name: &str) -> AdminError {
    AdminError::not_found("NoSuchGroup", format!("The group {name} does not exist."))
}

fn change_err(e: IamError) -> AdminError {
    from_iam(e, "NoSuchGroup", "GroupAlreadyExists")
}

fn view(state: &IamState, g: &Group) -> Value {
    let members: Vec<&str> = g
        .members
        .iter()
        .filter_map(|m| state.user(m).map(|u| u.name.as_str()))
        .collect();
    json!({
        "name": g.name,
        "id": g.id,
        "arn": g.arn,
        "createdAt": super::rfc3339(g.created_ms),
        "members": members,
        "policies": policies::names(state, &g.attached),
        "inlinePolicies": g.inline.keys().collect::<Vec<_>>(),
    })
}

fn info_of(c: &Call<'_>, name: &str) -> Result<Value, AdminError> {
    let snap = c.ids.snapshot();
    let g = snap.state.group(name).ok_or_else(|| missing(name))?;
    Ok(view(&snap.state, g))
}

pub async fn list(c: &Call<'_>) -> Result<Value, AdminError> {
    let snap = c.ids.snapshot();
    let groups: Vec<Value> = snap
        .state
        .groups
        .values()
        .map(|g| view(&snap.state, g))
        .collect();
    Ok(json!({ "groups": groups }))
}

pub async fn get(c: &Call<'_>) -> Result<Value, AdminError> {
    info_of(c, c.param(0))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewGroup {
    name: String,
    #[serde(default)]
    members: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Members {
    users: Vec<String>,
}

/// Every named user must exist, so a typo changes nothing.
fn check_users(c: &Call<'_>, users: &[String]) -> Result<(), AdminError> {
    let snap = c.ids.snapshot();
    match users.iter().find(|u| snap.state.user(u).is_none()) {
        Some(u) => Err(AdminError::not_found(
            "NoSuchUser",
            format!("The user {u} does not exist."),
        )),
        None => Ok(()),
    }
}

pub async fn create(c: &Call<'_>) -> Result<Value, AdminError> {
    let req: NewGroup = c.json()?;
    check_users(c, &req.members)?;
    c.ids
        .change(Change::CreateGroup {
            name: req.name.clone(),
            path: "/".into(),
            id: new_id("AGPA"),
        })
        .await
        .map_err(change_err)?;
    add(c, &req.name, req.members).await
}

async fn add(c: &Call<'_>, group: &str, users: Vec<String>) -> Result<Value, AdminError> {
    for user in users {
        c.ids
            .change(Change::AddUserToGroup {
                group: group.to_owned(),
                user,
            })
            .await
            .map_err(change_err)?;
    }
    info_of(c, group)
}

pub async fn add_members(c: &Call<'_>) -> Result<Value, AdminError> {
    let req: Members = c.json()?;
    let group = c.param(0);
    info_of(c, group)?;
    check_users(c, &req.users)?;
    add(c, group, req.users).await
}

pub async fn remove_members(c: &Call<'_>) -> Result<Value, AdminError> {
    let req: Members = c.json()?;
    let group = c.param(0);
    info_of(c, group)?;
    check_users(c, &req.users)?;
    for user in req.users {
        c.ids
            .change(Change::RemoveUserFromGroup {
                group: group.to_owned(),
                user,
            })
            .await
            .map_err(|e| from_iam(e, "NoSuchMember", "GroupAlreadyExists"))?;
    }
    info_of(c, group)
}

/// Removes an empty group, detaching its policies first (MinIO refuses to
/// remove a group that still has members, and so does this).
pub async fn remove(c: &Call<'_>) -> Result<Value, AdminError> {
    let name = c.param(0);
    let mut steps = Vec::new();
    {
        let snap = c.ids.snapshot();
        let g = snap.state.group(name).ok_or_else(|| missing(name))?;
        if !g.members.is_empty() {
            return Err(AdminError::new(
                http::StatusCode::CONFLICT,
                "GroupNotEmpty",
                format!(
                    "The group {} still has {} members: remove them first.",
                    g.name,
                    g.members.len()
                ),
            ));
        }
        let target = || Target::Group(g.name.clone());
        for p in g.inline.keys() {
            steps.push(Change::DeleteInlinePolicy {
                target: target(),
                name: p.clone(),
            });
        }
        for arn in &g.attached {
            steps.push(Change::DetachPolicy {
                target: target(),
                arn: arn.clone(),
            });
        }
        steps.push(Change::DeleteGroup {
            name: g.name.clone(),
        });
    }
    for step in steps {
        c.ids.change(step).await.map_err(change_err)?;
    }
    Ok(Value::Null)
}
