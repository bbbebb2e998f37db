//! Tenants: add, list, info (users, buckets, usage, quota), quota, remove
//! when empty. A tenant's buckets are the stored buckets named `tenant:…`
//! (`s3::tenant`); their usage is the sum of those buckets' counters, and
//! the engine keeps the tenant's quota with the bucket table, as it keeps
//! the buckets'.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::engine::usage::BucketUsage;
use crate::iam::model::{Change, IamState, Tenant};
use crate::s3::tenant::{external_name, tenant_of};

use super::buckets::{engine_error, usage_json, SetQuota};
use super::error::{from_iam, AdminError};
use super::router::Call;

fn missing(name: &str) -> AdminError {
    AdminError::not_found("NoSuchTenant", format!("The tenant {name} does not exist."))
}

fn not_empty(message: impl Into<String>) -> AdminError {
    AdminError::new(http::StatusCode::CONFLICT, "TenantNotEmpty", message)
}

fn change_err(e: crate::iam::model::IamError) -> AdminError {
    if e.code == crate::iam::model::IamCode::DeleteConflict {
        return not_empty(e.message);
    }
    from_iam(e, "NoSuchTenant", "TenantAlreadyExists")
}

/// The names of a tenant's users.
fn users_of<'a>(state: &'a IamState, tenant: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    state
        .users
        .values()
        .filter(move |u| u.tenant == tenant)
        .map(|u| u.name.as_str())
}

/// The stored names of a tenant's buckets.
fn buckets_of(c: &Call<'_>, tenant: &str) -> Vec<String> {
    c.engine
        .buckets()
        .buckets
        .keys()
        .filter(|n| tenant_of(n) == tenant)
        .cloned()
        .collect()
}

fn summary(c: &Call<'_>, state: &IamState, t: &Tenant) -> Value {
    json!({
        "name": t.name,
        "createdAt": super::rfc3339(t.created_ms),
        "users": users_of(state, &t.name).count(),
        "buckets": buckets_of(c, &t.name).len(),
        "quotaBytes": c.engine.tenant_quota(&t.name),
    })
}

pub async fn list(c: &Call<'_>) -> Result<Value, AdminError> {
    let snap = c.ids.snapshot();
    let tenants: Vec<Value> = snap
        .state
        .tenants
        .values()
        .map(|t| summary(c, &snap.state, t))
        .collect();
    Ok(json!({ "tenants": tenants }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    name: String,
}

pub async fn create(c: &Call<'_>) -> Result<Value, AdminError> {
    let req: NewTenant = c.json()?;
    // A quota a removed tenant of this name left (its clearing failed).
    if !c.ids.snapshot().state.tenants.contains_key(&req.name)
        && c.engine.tenant_quota(&req.name).is_some()
    {
        c.engine
            .set_tenant_quota(&req.name, None)
            .await
            .map_err(engine_error)?;
    }
    c.ids
        .change(Change::CreateTenant {
            name: req.name.clone(),
        })
        .await
        .map_err(change_err)?;
    info_of(c, &req.name)
}

/// A tenant with its users, its buckets (by their names in the tenant)
/// and their usage summed.
fn info_of(c: &Call<'_>, name: &str) -> Result<Value, AdminError> {
    let snap = c.ids.snapshot();
    let t = snap.state.tenants.get(name).ok_or_else(|| missing(name))?;
    let report = c.engine.usage().map_err(engine_error)?;
    let mut total = BucketUsage::default();
    let mut buckets = Vec::new();
    for b in report.buckets.iter().filter(|b| tenant_of(&b.name) == name) {
        total.add(&b.usage);
        buckets.push(json!({
            "name": external_name(&b.name),
            "usage": usage_json(&b.usage),
        }));
    }
    Ok(json!({
        "name": t.name,
        "createdAt": super::rfc3339(t.created_ms),
        "users": users_of(&snap.state, &t.name).collect::<Vec<_>>(),
        "buckets": buckets,
        "usage": usage_json(&total),
        "quotaBytes": c.engine.tenant_quota(name),
    }))
}

pub async fn get(c: &Call<'_>) -> Result<Value, AdminError> {
    info_of(c, c.param(0))
}

/// Refused while the tenant has a bucket or a user. Only its users make
/// its buckets, and the identity change refuses while one is left, so no
/// bucket can appear after the check below unless a user's request was
/// already in flight.
pub async fn remove(c: &Call<'_>) -> Result<Value, AdminError> {
    let name = c.param(0).to_owned();
    if !c.ids.snapshot().state.tenants.contains_key(&name) {
        return Err(missing(&name));
    }
    let buckets = buckets_of(c, &name);
    if !buckets.is_empty() {
        return Err(not_empty(format!(
            "The tenant {name} still has {} bucket(s); delete them first.",
            buckets.len()
        )));
    }
    c.ids
        .change(Change::DeleteTenant { name: name.clone() })
        .await
        .map_err(change_err)?;
    if c.engine.tenant_quota(&name).is_some() {
        // Left behind on failure: a tenant made again under the name clears it.
        if let Err(e) = c.engine.set_tenant_quota(&name, None).await {
            tracing::warn!(tenant = %name, error = %e, "the removed tenant's quota was not cleared");
        }
    }
    Ok(Value::Null)
}

/// `GET tenants/{name}/quota`.
pub async fn get_quota(c: &Call<'_>) -> Result<Value, AdminError> {
    let name = c.param(0);
    if !c.ids.snapshot().state.tenants.contains_key(name) {
        return Err(missing(name));
    }
    Ok(json!({ "tenant": name, "quotaBytes": c.engine.tenant_quota(name) }))
}

/// `PUT tenants/{name}/quota` with `{"quotaBytes": N}` or `null` to clear:
/// a hard quota on the bytes of every version of all the tenant's buckets.
pub async fn set_quota(c: &Call<'_>) -> Result<Value, AdminError> {
    let name = c.param(0);
    let q: SetQuota = c.json()?;
    if !c.ids.snapshot().state.tenants.contains_key(name) {
        return Err(missing(name));
    }
    c.engine
        .set_tenant_quota(name, q.quota_bytes)
        .await
        .map_err(engine_error)?;
    Ok(json!({ "tenant": name, "quotaBytes": q.quota_bytes }))
}
