//! `cairn admin tenant`: add, list, show, limit and remove tenants.

use clap::Subcommand;
use serde_json::{json, Value};

use super::client::{seg, Client};
use super::output::{self, bytes_field, fields, list, s, Table};
use super::{confirm, removed, CliError, Ctx};

#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Add a tenant (its users come from `user add --tenant`).
    Add { alias: String, name: String },
    /// List tenants.
    #[command(visible_alias = "ls")]
    List { alias: String },
    /// Show a tenant with its users, buckets, usage and quota.
    Info { alias: String, name: String },
    /// Show a tenant's quota, or set (--set 10GiB) or clear (--clear) it.
    Quota {
        alias: String,
        name: String,
        /// A hard quota on the bytes of all versions of all the tenant's
        /// buckets: bytes or 10GiB, 500MB …
        #[arg(long, conflicts_with = "clear")]
        set: Option<String>,
        #[arg(long)]
        clear: bool,
    },
    /// Remove a tenant that has no users and no buckets left.
    #[command(visible_alias = "rm")]
    Remove {
        alias: String,
        name: String,
        /// Do not ask.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(ctx: &Ctx, cmd: TenantCommand) -> Result<(), CliError> {
    match cmd {
        TenantCommand::Add { alias, name } => {
            let body = json!({ "name": name });
            let v = Client::connect(ctx, &alias)?.admin("POST", "tenants", &[], Some(&body))?;
            show(ctx, &v, &format!("Added tenant {name}."));
        }
        TenantCommand::List { alias } => {
            let v = Client::connect(ctx, &alias)?.admin("GET", "tenants", &[], None)?;
            if ctx.json {
                output::json(&v);
            } else {
                let mut t = Table::new(&["TENANT", "USERS", "BUCKETS", "QUOTA", "CREATED"]);
                for x in v["tenants"].as_array().into_iter().flatten() {
                    t.row(vec![
                        s(x, "name"),
                        s(x, "users"),
                        s(x, "buckets"),
                        bytes_field(x, "quotaBytes"),
                        s(x, "createdAt"),
                    ]);
                }
                t.print();
            }
        }
        TenantCommand::Info { alias, name } => {
            let v = Client::connect(ctx, &alias)?.admin(
                "GET",
                &format!("tenants/{}", seg(&name)),
                &[],
                None,
            )?;
            show(ctx, &v, "");
        }
        TenantCommand::Quota {
            alias,
            name,
            set,
            clear,
        } => {
            let path = format!("tenants/{}/quota", seg(&name));
            let v = super::bucket::quota(ctx, &alias, &path, set, clear)?;
            super::bucket::print_quota(ctx, &v, "tenant");
        }
        TenantCommand::Remove { alias, name, force } => {
            let mut c = Client::connect(ctx, &alias)?;
            confirm(force, &format!("Remove tenant {name}"))?;
            c.admin("DELETE", &format!("tenants/{}", seg(&name)), &[], None)?;
            removed(ctx, "tenant", &name, &format!("Removed tenant {name}."));
        }
    }
    Ok(())
}

/// A tenant document, as JSON or as fields.
fn show(ctx: &Ctx, v: &Value, headline: &str) {
    if ctx.json {
        output::json(v);
        return;
    }
    if !headline.is_empty() {
        println!("{headline}");
    }
    let names: Vec<Value> = v["buckets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| b["name"].clone())
        .collect();
    let usage = &v["usage"];
    fields(&[
        ("Name", s(v, "name")),
        ("Created", s(v, "createdAt")),
        ("Users", list(v, "users")),
        ("Buckets", list(&json!({ "b": names }), "b")),
        ("Objects", s(usage, "objects")),
        ("Bytes", s(usage, "bytes")),
        ("Version bytes", s(usage, "versionBytes")),
        ("Quota", bytes_field(v, "quotaBytes")),
    ]);
}
