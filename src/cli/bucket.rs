//! `cairn admin bucket`: buckets' usage, versioning, quota and
//! deduplication setting.

use clap::Subcommand;
use serde_json::{json, Value};

use super::client::{seg, Client};
use super::output::{self, bytes_field, fields, num, parse_size, s, Table};
use super::{CliError, Ctx};

#[derive(Subcommand, Debug)]
pub enum BucketCommand {
    /// Every bucket with its objects, bytes and quota.
    List { alias: String },
    /// One bucket's usage figures.
    Info { alias: String, bucket: String },
    /// Show a bucket's quota, or set (--set 10GiB) or clear (--clear) it.
    Quota {
        alias: String,
        bucket: String,
        /// A hard quota on the bytes of all versions: bytes or 10GiB, 500MB …
        #[arg(long, conflicts_with = "clear")]
        set: Option<String>,
        #[arg(long)]
        clear: bool,
    },
    /// Show whether a bucket deduplicates, or turn it on or off.
    Dedup {
        alias: String,
        bucket: String,
        state: Option<OnOff>,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum OnOff {
    On,
    Off,
}

pub fn run(ctx: &Ctx, cmd: BucketCommand) -> Result<(), CliError> {
    match cmd {
        BucketCommand::List { alias } => {
            let v = Client::connect(ctx, &alias)?.admin("GET", "buckets", &[], None)?;
            if ctx.json {
                output::json(&v);
            } else {
                buckets_table(&v["buckets"]).print();
            }
        }
        BucketCommand::Info { alias, bucket } => {
            let v = Client::connect(ctx, &alias)?.admin(
                "GET",
                &format!("buckets/{}", seg(&bucket)),
                &[],
                None,
            )?;
            if ctx.json {
                output::json(&v);
                return Ok(());
            }
            let u = &v["usage"];
            fields(&[
                ("Bucket", s(&v, "name")),
                ("Owner", s(&v, "owner")),
                ("Versioning", s(&v, "versioning")),
                ("Quota", bytes_field(&v, "quotaBytes")),
                ("Dedup", on_off(&v["dedup"])),
                ("Objects", num(u, "objects")),
                ("Bytes", bytes_field(u, "bytes")),
                ("Versions", num(u, "versions")),
                ("Version bytes", bytes_field(u, "versionBytes")),
                ("Delete markers", num(u, "deleteMarkers")),
                ("Stored", bytes_field(u, "storedBytes")),
                ("Uploads", num(u, "uploads")),
                ("Upload parts", num(u, "uploadParts")),
                ("Upload bytes", bytes_field(u, "uploadBytes")),
            ]);
        }
        BucketCommand::Quota {
            alias,
            bucket,
            set,
            clear,
        } => {
            let path = format!("buckets/{}/quota", seg(&bucket));
            let v = quota(ctx, &alias, &path, set, clear)?;
            print_quota(ctx, &v, "bucket");
        }
        BucketCommand::Dedup {
            alias,
            bucket,
            state,
        } => {
            let path = format!("buckets/{}/dedup", seg(&bucket));
            let mut c = Client::connect(ctx, &alias)?;
            let v = match state {
                Some(st) => c.admin(
                    "PUT",
                    &path,
                    &[],
                    Some(&json!({ "dedup": matches!(st, OnOff::On) })),
                )?,
                None => c.admin("GET", &path, &[], None)?,
            };
            if ctx.json {
                output::json(&v);
            } else {
                println!("{}: dedup {}", s(&v, "bucket"), on_off(&v["dedup"]));
            }
        }
    }
    Ok(())
}

fn on_off(v: &Value) -> String {
    if v.as_bool() == Some(true) {
        "on"
    } else {
        "off"
    }
    .to_owned()
}

pub fn buckets_table(buckets: &Value) -> Table {
    let mut t = Table::new(&[
        "BUCKET",
        "OBJECTS",
        "BYTES",
        "VERSIONS",
        "STORED",
        "VERSIONING",
        "QUOTA",
    ]);
    for b in buckets.as_array().into_iter().flatten() {
        let u = &b["usage"];
        t.row(vec![
            s(b, "name"),
            num(u, "objects"),
            bytes_field(u, "bytes"),
            num(u, "versions"),
            bytes_field(u, "storedBytes"),
            s(b, "versioning"),
            bytes_field(b, "quotaBytes"),
        ]);
    }
    t
}

/// Shows (GET), sets or clears the quota at `path`.
pub(super) fn quota(
    ctx: &Ctx,
    alias: &str,
    path: &str,
    set: Option<String>,
    clear: bool,
) -> Result<Value, CliError> {
    let mut c = Client::connect(ctx, alias)?;
    if let Some(size) = set {
        let n = parse_size(&size).ok_or_else(|| {
            CliError::Usage(format!(
                "{size:?}: give bytes, or a number with KiB, MiB, GiB, TiB (or KB, MB …)"
            ))
        })?;
        c.admin("PUT", path, &[], Some(&json!({ "quotaBytes": n })))
    } else if clear {
        c.admin("PUT", path, &[], Some(&json!({ "quotaBytes": null })))
    } else {
        c.admin("GET", path, &[], None)
    }
}

/// A quota answer (`{"<what>": name, "quotaBytes": n|null}`), as JSON or a line.
pub(super) fn print_quota(ctx: &Ctx, v: &Value, what: &str) {
    if ctx.json {
        output::json(v);
    } else {
        let q = v["quotaBytes"].as_u64().map_or_else(
            || "none".to_owned(),
            |n| format!("{} ({n} bytes)", output::bytes(n)),
        );
        println!("{}: quota {q}", s(v, what));
    }
}
