//! `cairn admin user`: add, list, show, enable, disable and remove users.

use clap::Subcommand;
use serde_json::{json, Value};

use super::accesskey::keys_table;
use super::client::{seg, Client};
use super::output::{self, fields, list, s, Table};
use super::{confirm, removed, CliError, Ctx};

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a user (it signs with keys from `accesskey create`).
    Add {
        alias: String,
        name: String,
        /// A managed policy to attach (repeatable).
        #[arg(long = "policy")]
        policies: Vec<String>,
        /// The tenant the user belongs to (default: global).
        #[arg(long, default_value = "")]
        tenant: String,
    },
    /// List users.
    List { alias: String },
    /// Show a user with its groups, policies and keys.
    Info { alias: String, name: String },
    /// Let a disabled user's keys sign again.
    Enable { alias: String, name: String },
    /// Refuse every key of a user at once.
    Disable { alias: String, name: String },
    /// Remove a user with its keys, memberships and policies.
    Remove {
        alias: String,
        name: String,
        /// Do not ask.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(ctx: &Ctx, cmd: UserCommand) -> Result<(), CliError> {
    match cmd {
        UserCommand::Add {
            alias,
            name,
            policies,
            tenant,
        } => {
            let body = json!({"name": name, "policies": policies, "tenant": tenant});
            let v = Client::connect(ctx, &alias)?.admin("POST", "users", &[], Some(&body))?;
            show(ctx, &v, &format!("Added user {name}."));
        }
        UserCommand::List { alias } => {
            let v = Client::connect(ctx, &alias)?.admin("GET", "users", &[], None)?;
            if ctx.json {
                output::json(&v);
            } else {
                let mut t = Table::new(&["USER", "ENABLED", "GROUPS", "POLICIES", "CREATED"]);
                for u in v["users"].as_array().into_iter().flatten() {
                    t.row(vec![
                        s(u, "name"),
                        s(u, "enabled"),
                        list(u, "groups"),
                        list(u, "policies"),
                        s(u, "createdAt"),
                    ]);
                }
                t.print();
            }
        }
        UserCommand::Info { alias, name } => {
            let v = Client::connect(ctx, &alias)?.admin(
                "GET",
                &format!("users/{}", seg(&name)),
                &[],
                None,
            )?;
            show(ctx, &v, "");
        }
        UserCommand::Enable { alias, name } => switch(ctx, &alias, &name, "enable")?,
        UserCommand::Disable { alias, name } => switch(ctx, &alias, &name, "disable")?,
        UserCommand::Remove { alias, name, force } => {
            let mut c = Client::connect(ctx, &alias)?;
            confirm(force, &format!("Remove user {name} with its keys"))?;
            c.admin("DELETE", &format!("users/{}", seg(&name)), &[], None)?;
            removed(ctx, "user", &name, &format!("Removed user {name}."));
        }
    }
    Ok(())
}

fn switch(ctx: &Ctx, alias: &str, name: &str, action: &str) -> Result<(), CliError> {
    let v = Client::connect(ctx, alias)?.admin(
        "POST",
        &format!("users/{}/{action}", seg(name)),
        &[],
        None,
    )?;
    show(ctx, &v, &format!("User {name}: {action}d."));
    Ok(())
}

/// A user document, as JSON or as fields and its keys.
fn show(ctx: &Ctx, v: &Value, headline: &str) {
    if ctx.json {
        output::json(v);
        return;
    }
    if !headline.is_empty() {
        println!("{headline}");
    }
    fields(&[
        ("Name", s(v, "name")),
        ("Enabled", s(v, "enabled")),
        ("Tenant", s(v, "tenant")),
        ("ARN", s(v, "arn")),
        ("Created", s(v, "createdAt")),
        ("Groups", list(v, "groups")),
        ("Policies", list(v, "policies")),
        ("Inline policies", list(v, "inlinePolicies")),
    ]);
    if let Some(keys) = v["accessKeys"].as_array() {
        if !keys.is_empty() {
            println!();
            keys_table(keys).print();
        }
    }
}
