//! `GET info`: what the node is, how its drives are, and its storage
//! classes.

use serde_json::{json, Value};

use super::error::AdminError;
use super::router::Call;

pub async fn server_info(c: &Call<'_>) -> Result<Value, AdminError> {
    let shared = &c.engine.shared;
    let now = crate::engine::now_ms();
    let health = shared.set_health();
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
        "health": health.summary(),
        "healingPercent": health.healing_percent(),
        "drives": super::drives::describe_all(shared, &health),
        "storageClasses": shared.classes.iter().map(|c| json!({
            "name": c.name,
            "layout": {"data": c.layout.data, "parity": c.layout.parity},
            "drives": c.drives,
        })).collect::<Vec<Value>>(),
    }))
}
