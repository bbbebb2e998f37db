//! `cairn admin group`: groups and their members, as `mc admin group`.

use clap::Subcommand;
use serde_json::{json, Value};

use super::client::{seg, Client};
use super::output::{self, fields, list, s, Table};
use super::{confirm, removed, CliError, Ctx};

#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// Add members to a group, creating it if it does not exist.
    Add {
        alias: String,
        name: String,
        members: Vec<String>,
    },
    /// Remove members from a group, or (with no members named) remove the
    /// empty group.
    Remove {
        alias: String,
        name: String,
        members: Vec<String>,
        /// Do not ask.
        #[arg(long)]
        force: bool,
    },
    /// List groups.
    List { alias: String },
    /// Show a group with its members and policies.
    Info { alias: String, name: String },
}

pub fn run(ctx: &Ctx, cmd: GroupCommand) -> Result<(), CliError> {
    match cmd {
        GroupCommand::Add {
            alias,
            name,
            members,
        } => {
            let mut c = Client::connect(ctx, &alias)?;
            let path = format!("groups/{}", seg(&name));
            let v = match c.admin("GET", &path, &[], None) {
                Err(CliError::Refused { code, .. }) if code == "NoSuchGroup" => c.admin(
                    "POST",
                    "groups",
                    &[],
                    Some(&json!({"name": name, "members": members})),
                )?,
                Err(e) => return Err(e),
                Ok(v) if members.is_empty() => v,
                Ok(_) => c.admin(
                    "POST",
                    &format!("{path}/members"),
                    &[],
                    Some(&json!({ "users": members })),
                )?,
            };
            show(ctx, &v);
        }
        GroupCommand::Remove {
            alias,
            name,
            members,
            force,
        } => {
            let mut c = Client::connect(ctx, &alias)?;
            let path = format!("groups/{}", seg(&name));
            if members.is_empty() {
                confirm(force, &format!("Remove group {name}"))?;
                c.admin("DELETE", &path, &[], None)?;
                removed(ctx, "group", &name, &format!("Removed group {name}."));
            } else {
                confirm(
                    force,
                    &format!("Remove {} from group {name}", members.join(", ")),
                )?;
                let v = c.admin(
                    "POST",
                    &format!("{path}/members/remove"),
                    &[],
                    Some(&json!({ "users": members })),
                )?;
                show(ctx, &v);
            }
        }
        GroupCommand::List { alias } => {
            let v = Client::connect(ctx, &alias)?.admin("GET", "groups", &[], None)?;
            if ctx.json {
                output::json(&v);
            } else {
                let mut t = Table::new(&["GROUP", "MEMBERS", "POLICIES", "CREATED"]);
                for g in v["groups"].as_array().into_iter().flatten() {
                    t.row(vec![
                        s(g, "name"),
                        list(g, "members"),
                        list(g, "policies"),
                        s(g, "createdAt"),
                    ]);
                }
                t.print();
            }
        }
        GroupCommand::Info { alias, name } => {
            let v = Client::connect(ctx, &alias)?.admin(
                "GET",
                &format!("groups/{}", seg(&name)),
                &[],
                None,
            )?;
            show(ctx, &v);
        }
    }
    Ok(())
}

fn show(ctx: &Ctx, v: &Value) {
    if ctx.json {
        output::json(v);
        return;
    }
    fields(&[
        ("Name", s(v, "name")),
        ("ARN", s(v, "arn")),
        ("Created", s(v, "createdAt")),
        ("Members", list(v, "members")),
        ("Policies", list(v, "policies")),
        ("Inline policies", list(v, "inlinePolicies")),
    ]);
}
