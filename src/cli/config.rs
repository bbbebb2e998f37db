//! `cairn admin config get|set|history`: settings that change at run time
//! and the record of who changed them.

use clap::Subcommand;
use serde_json::json;

use super::client::{seg, Client};
use super::output::{self, fields, s, Table};
use super::{CliError, Ctx};

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Every setting, or one.
    Get { alias: String, name: Option<String> },
    /// Change a setting now.
    Set {
        alias: String,
        name: String,
        value: String,
    },
    /// Who changed what, and when.
    History { alias: String },
}

pub fn run(ctx: &Ctx, cmd: ConfigCommand) -> Result<(), CliError> {
    match cmd {
        ConfigCommand::Get { alias, name } => {
            let mut c = Client::connect(ctx, &alias)?;
            let v = match &name {
                Some(n) => c.admin("GET", &format!("config/{}", seg(n)), &[], None)?,
                None => c.admin("GET", "config", &[], None)?,
            };
            if ctx.json {
                output::json(&v);
            } else if let Some(list) = v["settings"].as_array() {
                let mut t = Table::new(&["NAME", "VALUE", "DEFAULT", "DESCRIPTION"]);
                for x in list {
                    t.row(vec![
                        s(x, "name"),
                        s(x, "value"),
                        s(x, "default"),
                        s(x, "description"),
                    ]);
                }
                t.print();
            } else {
                fields(&[
                    ("Name", s(&v, "name")),
                    ("Value", s(&v, "value")),
                    ("Default", s(&v, "default")),
                    ("Description", s(&v, "description")),
                ]);
            }
        }
        ConfigCommand::Set { alias, name, value } => {
            let v = Client::connect(ctx, &alias)?.admin(
                "PUT",
                &format!("config/{}", seg(&name)),
                &[],
                Some(&json!({ "value": value })),
            )?;
            if ctx.json {
                output::json(&v);
            } else {
                println!("{name} = {value}");
            }
        }
        ConfigCommand::History { alias } => {
            let v = Client::connect(ctx, &alias)?.admin("GET", "config/history", &[], None)?;
            if ctx.json {
                output::json(&v);
            } else {
                let mut t = Table::new(&["TIME", "USER", "ACCESS KEY", "NAME", "OLD", "NEW"]);
                for x in v["changes"].as_array().into_iter().flatten() {
                    t.row(vec![
                        s(x, "time"),
                        s(x, "user"),
                        s(x, "accessKey"),
                        s(x, "name"),
                        s(x, "old"),
                        s(x, "new"),
                    ]);
                }
                t.print();
            }
        }
    }
    Ok(())
}
