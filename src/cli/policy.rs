//! `cairn admin policy`: managed policies and their attachments.

use clap::Subcommand;
use serde_json::{json, Value};

use super::accesskey::read_json;
use super::client::{seg, Client};
use super::output::{self, fields, list, num, s, Table};
use super::{confirm, removed, CliError, Ctx};

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Create a policy from a JSON document file (`-`: standard input).
    Create {
        alias: String,
        name: String,
        file: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// List policies.
    List { alias: String },
    /// Show a policy's document and where it is attached.
    Info { alias: String, name: String },
    /// Attach a policy to users and groups.
    Attach {
        alias: String,
        name: String,
        /// Repeatable.
        #[arg(long = "user")]
        users: Vec<String>,
        /// Repeatable.
        #[arg(long = "group")]
        groups: Vec<String>,
    },
    /// Detach a policy from users and groups.
    Detach {
        alias: String,
        name: String,
        #[arg(long = "user")]
        users: Vec<String>,
        #[arg(long = "group")]
        groups: Vec<String>,
        /// Do not ask.
        #[arg(long)]
        force: bool,
    },
    /// Remove a policy attached to nobody.
    Remove {
        alias: String,
        name: String,
        /// Do not ask.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(ctx: &Ctx, cmd: PolicyCommand) -> Result<(), CliError> {
    match cmd {
        PolicyCommand::Create {
            alias,
            name,
            file,
            description,
        } => {
            let document = read_json(&file)?;
            let body = json!({"name": name, "description": description.unwrap_or_default(),
                "document": document});
            let v = Client::connect(ctx, &alias)?.admin("POST", "policies", &[], Some(&body))?;
            show(ctx, &v);
        }
        PolicyCommand::List { alias } => {
            let v = Client::connect(ctx, &alias)?.admin("GET", "policies", &[], None)?;
            if ctx.json {
                output::json(&v);
            } else {
                let mut t = Table::new(&["POLICY", "ATTACHMENTS", "DESCRIPTION", "UPDATED"]);
                for p in v["policies"].as_array().into_iter().flatten() {
                    t.row(vec![
                        s(p, "name"),
                        num(p, "attachments"),
                        s(p, "description"),
                        s(p, "updatedAt"),
                    ]);
                }
                t.print();
            }
        }
        PolicyCommand::Info { alias, name } => {
            let v = Client::connect(ctx, &alias)?.admin(
                "GET",
                &format!("policies/{}", seg(&name)),
                &[],
                None,
            )?;
            show(ctx, &v);
        }
        PolicyCommand::Attach {
            alias,
            name,
            users,
            groups,
        } => {
            let v = holders(ctx, &alias, &name, "attach", users, groups)?;
            show(ctx, &v);
        }
        PolicyCommand::Detach {
            alias,
            name,
            users,
            groups,
            force,
        } => {
            confirm(force, &format!("Detach policy {name}"))?;
            let v = holders(ctx, &alias, &name, "detach", users, groups)?;
            show(ctx, &v);
        }
        PolicyCommand::Remove { alias, name, force } => {
            let mut c = Client::connect(ctx, &alias)?;
            confirm(force, &format!("Remove policy {name}"))?;
            c.admin("DELETE", &format!("policies/{}", seg(&name)), &[], None)?;
            removed(ctx, "policy", &name, &format!("Removed policy {name}."));
        }
    }
    Ok(())
}

fn holders(
    ctx: &Ctx,
    alias: &str,
    name: &str,
    action: &str,
    users: Vec<String>,
    groups: Vec<String>,
) -> Result<Value, CliError> {
    if users.is_empty() && groups.is_empty() {
        return Err(CliError::Usage(format!(
            "policy {action}: name at least one --user or --group"
        )));
    }
    Client::connect(ctx, alias)?.admin(
        "POST",
        &format!("policies/{}/{action}", seg(name)),
        &[],
        Some(&json!({"users": users, "groups": groups})),
    )
}

fn show(ctx: &Ctx, v: &Value) {
    if ctx.json {
        output::json(v);
        return;
    }
    let attached = &v["attachedTo"];
    fields(&[
        ("Name", s(v, "name")),
        ("ARN", s(v, "arn")),
        ("Description", s(v, "description")),
        ("Attachments", num(v, "attachments")),
        ("Users", list(attached, "users")),
        ("Groups", list(attached, "groups")),
        ("Created", s(v, "createdAt")),
        ("Updated", s(v, "updatedAt")),
    ]);
    if !v["document"].is_null() {
        println!(
            "\n{}",
            serde_json::to_string_pretty(&v["document"]).unwrap_or_default()
        );
    }
}
