//! `cairn admin kms key`: the built-in KMS's keys, as `mc admin kms key`.

use clap::Subcommand;
use serde_json::{json, Value};

use super::client::{seg, Client};
use super::output::{self, fields, s, Table};
use super::{confirm, CliError, Ctx};

#[derive(Subcommand, Debug)]
pub enum KmsCommand {
    /// Keys: create, list, info, rotate, disable, enable.
    Key {
        #[command(subcommand)]
        cmd: KeyCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Create a key (1-64 letters, digits, '-', '_' or '.').
    Create { alias: String, id: String },
    /// List keys.
    List { alias: String },
    /// Show a key's state and versions.
    Info { alias: String, id: String },
    /// Add a version that new data keys use; older versions still decrypt.
    Rotate { alias: String, id: String },
    /// Refuse the key for new objects and for reading objects under it.
    Disable {
        alias: String,
        id: String,
        /// Do not ask.
        #[arg(long)]
        force: bool,
    },
    /// Allow a disabled key again.
    Enable { alias: String, id: String },
}

pub fn run(ctx: &Ctx, cmd: KmsCommand) -> Result<(), CliError> {
    let KmsCommand::Key { cmd } = cmd;
    let v = match cmd {
        KeyCommand::Create { alias, id } => Client::connect(ctx, &alias)?.admin(
            "POST",
            "kms/keys",
            &[],
            Some(&json!({ "id": id })),
        )?,
        KeyCommand::List { alias } => {
            let v = Client::connect(ctx, &alias)?.admin("GET", "kms/keys", &[], None)?;
            if ctx.json {
                output::json(&v);
            } else {
                let mut t = Table::new(&["KEY", "STATUS", "VERSION", "CREATED"]);
                for k in v["keys"].as_array().into_iter().flatten() {
                    t.row(vec![
                        s(k, "id"),
                        status(k),
                        s(k, "currentVersion"),
                        s(k, "createdAt"),
                    ]);
                }
                t.print();
            }
            return Ok(());
        }
        KeyCommand::Info { alias, id } => Client::connect(ctx, &alias)?.admin(
            "GET",
            &format!("kms/keys/{}", seg(&id)),
            &[],
            None,
        )?,
        KeyCommand::Rotate { alias, id } => Client::connect(ctx, &alias)?.admin(
            "POST",
            &format!("kms/keys/{}/rotate", seg(&id)),
            &[],
            None,
        )?,
        KeyCommand::Disable { alias, id, force } => {
            confirm(
                force,
                &format!("Disable KMS key {id} (objects under it become unreadable until enabled)"),
            )?;
            Client::connect(ctx, &alias)?.admin(
                "POST",
                &format!("kms/keys/{}/disable", seg(&id)),
                &[],
                None,
            )?
        }
        KeyCommand::Enable { alias, id } => Client::connect(ctx, &alias)?.admin(
            "POST",
            &format!("kms/keys/{}/enable", seg(&id)),
            &[],
            None,
        )?,
    };
    show(ctx, &v);
    Ok(())
}

fn status(k: &Value) -> String {
    if k["enabled"].as_bool() == Some(true) {
        "enabled".into()
    } else {
        "disabled".into()
    }
}

fn show(ctx: &Ctx, v: &Value) {
    if ctx.json {
        output::json(v);
        return;
    }
    let versions: Vec<String> = v["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| format!("{} ({})", s(x, "version"), s(x, "createdAt")))
        .collect();
    fields(&[
        ("Key", s(v, "id")),
        ("Status", status(v)),
        ("Current version", s(v, "currentVersion")),
        ("Created", s(v, "createdAt")),
        ("Versions", versions.join(", ")),
    ]);
}
