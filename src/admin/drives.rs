//! `GET drives`, `POST drives/{n}/offline` and `POST drives/{n}/online`:
//! each drive's state, and holding one out of service for planned work
//! (`engine::drive_service`).

use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::engine::format::DriveState;
use crate::engine::health::LastError;
use crate::engine::set_health::SetHealth;
use crate::engine::{drive_service::HoldKind, Shared};

use super::error::AdminError;
use super::router::Call;

/// One drive as `GET info` and `GET drives` show it; `health` says
/// whether it is being healed.
pub fn describe(shared: &Shared, health: &SetHealth, d: usize) -> Value {
    let drive = &shared.set.drives[d];
    // A drive start-up refused says why; one that failed later, its last
    // error (kept after it came back, for the operator).
    let last_error = match &drive.state {
        DriveState::Online => shared.drive_health[d].last_error(),
        DriveState::Missing(why) | DriveState::Foreign(why) => Some(LastError {
            time_ms: super::started_ms(),
            message: format!("at start: {why}"),
        }),
    };
    let hold = shared.holds.current().hold(d).cloned();
    // Space is known once the drive has been measured.
    let total = shared.space.total(d);
    let measured = total > 0;
    json!({
        "index": d,
        "path": drive.path.display().to_string(),
        "state": shared.drive_state(d),
        "holdsIndex": shared.index_drive == d,
        "capacityBytes": measured.then_some(total),
        "freeBytes": measured.then(|| shared.space.free(d).min(total)),
        "reserveBytes": measured.then(|| shared.space.reserve(d)),
        "errors": shared
            .stats
            .drive_errors
            .get(d)
            .map_or(0, |e| e.load(std::sync::atomic::Ordering::Relaxed)),
        "offlineEvents": shared.drive_health[d].offline_events(),
        "lastError": last_error.map(|e| json!({
            "time": super::rfc3339(e.time_ms),
            "message": e.message,
        })),
        "hold": hold.map(|h| json!({
            "kind": h.kind.as_str(),
            "since": super::rfc3339(h.since_ms),
            "reason": h.reason,
        })),
        "heal": health.heal_of(d).map(|h| json!({
            "progress": h.fraction,
            "percent": h.percent(),
            "etaSeconds": h.eta_seconds,
        })),
    })
}

/// Every drive as `describe` shows it.
pub fn describe_all(shared: &Shared, health: &SetHealth) -> Vec<Value> {
    (0..shared.set.drives.len())
        .map(|d| describe(shared, health, d))
        .collect()
}

/// `GET drives`.
pub async fn list(c: &Call<'_>) -> Result<Value, AdminError> {
    let shared = &c.engine.shared;
    let health = shared.set_health();
    Ok(json!({
        "health": health.summary(),
        "healingPercent": health.healing_percent(),
        "drives": describe_all(shared, &health),
    }))
}

fn drive_param(c: &Call<'_>) -> Result<usize, AdminError> {
    let n = c.engine.shared.set.drives.len();
    c.param(0)
        .parse::<usize>()
        .ok()
        .filter(|&d| d < n)
        .ok_or_else(|| {
            AdminError::not_found(
                "NoSuchDrive",
                format!(
                    "{:?} is not a drive of this node: 0 to {}.",
                    c.param(0),
                    n - 1
                ),
            )
        })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct OfflineBody {
    #[serde(default)]
    reason: Option<String>,
}

/// `POST drives/{n}/offline`: stops reads and writes to the drive, durably,
/// while enough others stay to take writes.
pub async fn offline(c: &Call<'_>) -> Result<Value, AdminError> {
    let d = drive_param(c)?;
    let body: OfflineBody = c.json()?;
    let shared = c.engine.shared.clone();
    if shared.index_drive == d {
        return Err(AdminError::new(
            StatusCode::CONFLICT,
            "DriveHoldsIndex",
            format!(
                "Drive {d} holds this run's index and cannot be taken offline while the node runs: \
                 stop the node, and it starts with the index on another drive."
            ),
        ));
    }
    if shared.drive_health[d].held() == Some(HoldKind::Offline) {
        return Ok(describe(&shared, &shared.set_health(), d));
    }
    let online_after = shared
        .online_drives()
        .into_iter()
        .filter(|&o| o != d)
        .count();
    let needed = shared.layout.write_quorum();
    if online_after < needed {
        return Err(AdminError::new(
            StatusCode::CONFLICT,
            "WriteQuorumAtRisk",
            format!(
                "Taking drive {d} offline leaves {online_after} drives online and writes need {needed}."
            ),
        ));
    }
    let reason = body
        .reason
        .unwrap_or_else(|| format!("taken offline by {}", c.caller.name));
    *c.audit_detail.borrow_mut() = Some(format!("drive {d}: offline ({reason})"));
    let s = shared.clone();
    c.engine
        .companion
        .run(move || s.hold_drive(d, HoldKind::Offline, reason))
        .await
        .map_err(unavailable)?
        .map_err(unavailable)?;
    tracing::warn!(drive = d, "drive taken offline by the operator");
    Ok(describe(&shared, &shared.set_health(), d))
}

/// `POST drives/{n}/online`: lifts a hold (the operator's or the node's);
/// writes taken meanwhile are repaired onto the drive.
pub async fn online(c: &Call<'_>) -> Result<Value, AdminError> {
    let d = drive_param(c)?;
    let shared = c.engine.shared.clone();
    if let DriveState::Missing(why) | DriveState::Foreign(why) = &shared.set.drives[d].state {
        return Err(AdminError::new(
            StatusCode::CONFLICT,
            "DriveNotStarted",
            format!("Drive {d} was not taken at start ({why}); it joins at the next start."),
        ));
    }
    if shared.drive_health[d].held().is_none() {
        return Ok(describe(&shared, &shared.set_health(), d));
    }
    *c.audit_detail.borrow_mut() = Some(format!("drive {d}: online"));
    let s = shared.clone();
    c.engine
        .companion
        .run(move || s.release_drive(d))
        .await
        .map_err(unavailable)?
        .map_err(unavailable)?;
    tracing::warn!(drive = d, "drive brought back by the operator");
    Ok(describe(&shared, &shared.set_health(), d))
}

fn unavailable(e: impl std::fmt::Display) -> AdminError {
    AdminError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        format!("The drive state could not be changed: {e}"),
    )
}
