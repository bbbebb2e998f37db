//! `GET info`: what the node is and how its drives are.

use serde_json::{json, Value};

use crate::engine::format::DriveState;
use crate::engine::health::LastError;

use super::error::AdminError;
use super::router::Call;

pub async fn server_info(c: &Call<'_>) -> Result<Value, AdminError> {
    let shared = &c.engine.shared;
    let now = crate::engine::now_ms();
    let drives: Vec<Value> = shared
        .set
        .drives
        .iter()
        .enumerate()
        .map(|(d, drive)| {
            let state = if !shared.drive_online(d) {
                "offline"
            } else if shared.space.is_full(d) {
                "full"
            } else {
                "ok"
            };
            // A drive start-up refused says why; one that failed later, its
            // last error (kept after it came back, for the operator).
            let last_error = match &drive.state {
                DriveState::Online => shared.drive_health[d].last_error(),
                DriveState::Missing(why) | DriveState::Foreign(why) => Some(LastError {
                    time_ms: super::started_ms(),
                    message: format!("at start: {why}"),
                }),
            };
            // Space is known once the drive has been measured.
            let total = shared.space.total(d);
            let measured = total > 0;
            json!({
                "index": d,
                "path": drive.path.display().to_string(),
                "state": state,
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
            })
        })
        .collect();
    let online = (0..shared.set.drives.len())
        .filter(|&d| shared.drive_online(d))
        .count();
    Ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeSecs": now.saturating_sub(super::started_ms()) / 1000,
        "cores": shared.cores,
        "partitions": shared.partitions,
        "layout": {
            "data": shared.layout.data,
            "parity": shared.layout.parity,
            "writeQuorum": shared.layout.write_quorum(),
        },
        "drivesOnline": online,
        "drives": drives,
    }))
}
