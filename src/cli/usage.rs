//! `cairn admin usage ALIAS`: totals, every bucket and every drive.

use serde_json::Value;

use super::bucket::buckets_table;
use super::client::Client;
use super::output::{self, bytes_field, fields, num, s, Table};
use super::{CliError, Ctx};

pub fn run(ctx: &Ctx, alias: &str) -> Result<(), CliError> {
    let v = Client::connect(ctx, alias)?.admin("GET", "usage", &[], None)?;
    if ctx.json {
        output::json(&v);
        return Ok(());
    }
    let t = &v["total"];
    fields(&[
        (
            "Buckets",
            v["buckets"].as_array().map_or(0, Vec::len).to_string(),
        ),
        ("Objects", num(t, "objects")),
        ("Bytes", bytes_field(t, "bytes")),
        ("Versions", num(t, "versions")),
        ("Version bytes", bytes_field(t, "versionBytes")),
        ("Delete markers", num(t, "deleteMarkers")),
        ("Stored", bytes_field(t, "storedBytes")),
        ("Uploads", num(t, "uploads")),
    ]);
    println!();
    buckets_table(&v["buckets"]).print();
    println!();
    let mut d = Table::new(&[
        "DRIVE", "PATH", "ONLINE", "FULL", "CAPACITY", "FREE", "RESERVE",
    ]);
    for x in v["drives"].as_array().into_iter().flatten() {
        d.row(vec![
            num(x, "index"),
            s(x, "path"),
            flag(x, "online"),
            flag(x, "full"),
            bytes_field(x, "capacityBytes"),
            bytes_field(x, "freeBytes"),
            bytes_field(x, "reserveBytes"),
        ]);
    }
    d.print();
    Ok(())
}

fn flag(v: &Value, key: &str) -> String {
    match v[key].as_bool() {
        Some(true) => "yes".to_owned(),
        Some(false) => "no".to_owned(),
        None => "-".to_owned(),
    }
}
