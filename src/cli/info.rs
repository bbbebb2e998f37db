//! `cairn admin info ALIAS`: the node, its drives and its storage classes.

use serde_json::Value;

use super::client::Client;
use super::output::{self, bytes_field, fields, num, s, Table};
use super::{CliError, Ctx};

pub fn run(ctx: &Ctx, alias: &str) -> Result<(), CliError> {
    let v = Client::connect(ctx, alias)?.admin("GET", "info", &[], None)?;
    if ctx.json {
        output::json(&v);
        return Ok(());
    }
    let layout = &v["layout"];
    fields(&[
        ("Version", s(&v, "version")),
        (
            "Uptime",
            v["uptimeSecs"]
                .as_u64()
                .map_or_else(|| "-".into(), output::duration),
        ),
        ("Cores", num(&v, "cores")),
        ("Partitions", num(&v, "partitions")),
        (
            "Layout",
            format!(
                "{}+{} (write quorum {})",
                num(layout, "data"),
                num(layout, "parity"),
                num(layout, "writeQuorum")
            ),
        ),
        ("Health", s(&v, "health")),
        (
            "Drives online",
            format!(
                "{} of {}",
                num(&v, "drivesOnline"),
                v["drives"].as_array().map_or(0, Vec::len)
            ),
        ),
    ]);
    println!();
    drives_table(&v["drives"]).print();
    println!();
    classes_table(&v["storageClasses"]).print();
    Ok(())
}

/// The node's storage classes: name, `data+parity` layout, member drives.
fn classes_table(classes: &Value) -> Table {
    let mut t = Table::new(&["CLASS", "LAYOUT", "DRIVES"]);
    for c in classes.as_array().into_iter().flatten() {
        let drives: Vec<String> = c["drives"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| d.to_string())
            .collect();
        t.row(vec![
            s(c, "name"),
            format!(
                "{}+{}",
                num(&c["layout"], "data"),
                num(&c["layout"], "parity")
            ),
            drives.join(","),
        ]);
    }
    t
}

pub fn drives_table(drives: &Value) -> Table {
    let mut t = Table::new(&[
        "DRIVE", "PATH", "STATE", "HEALING", "CAPACITY", "FREE", "RESERVE", "ERRORS", "HOLD",
    ]);
    for d in drives.as_array().into_iter().flatten() {
        t.row(vec![
            num(d, "index"),
            s(d, "path"),
            s(d, "state"),
            healing(&d["heal"]),
            bytes_field(d, "capacityBytes"),
            bytes_field(d, "freeBytes"),
            bytes_field(d, "reserveBytes"),
            num(d, "errors"),
            d["hold"]["reason"].as_str().unwrap_or("-").to_owned(),
        ]);
    }
    t
}

/// A drive's heal as `42%, about 30 s left`, or `-`.
fn healing(heal: &Value) -> String {
    let Some(pct) = heal["percent"].as_u64() else {
        return "-".into();
    };
    match heal["etaSeconds"].as_u64() {
        Some(eta) => format!("{pct}%, about {eta} s left"),
        None => format!("{pct}%"),
    }
}
