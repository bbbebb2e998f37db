//! `cairn admin drive list|offline|online`: the drives' states, and
//! holding one out of service for planned work (`GET drives`,
//! `POST drives/{n}/offline|online`).

use clap::Subcommand;
use serde_json::{json, Value};

use super::client::Client;
use super::output::{self, s};
use super::{CliError, Ctx};

#[derive(Subcommand, Debug)]
pub enum DriveCommand {
    /// Every drive's state, space, errors and hold.
    List { alias: String },
    /// Stop reads and writes to a drive (kept across restarts); writes
    /// taken meanwhile are repaired onto it when it is brought online.
    Offline {
        alias: String,
        /// The drive's index, as `drive list` shows it.
        drive: usize,
        /// Why, for the other operators.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Return a drive held offline, or taken out of service because it kept
    /// failing.
    Online { alias: String, drive: usize },
}

pub fn run(ctx: &Ctx, cmd: DriveCommand) -> Result<(), CliError> {
    match cmd {
        DriveCommand::List { alias } => {
            let v = Client::connect(ctx, &alias)?.admin("GET", "drives", &[], None)?;
            if ctx.json {
                output::json(&v);
            } else {
                println!("Health: {}", s(&v, "health"));
                println!();
                super::info::drives_table(&v["drives"]).print();
            }
            Ok(())
        }
        DriveCommand::Offline {
            alias,
            drive,
            reason,
        } => {
            let body = reason.map(|r| json!({ "reason": r }));
            let v = Client::connect(ctx, &alias)?.admin(
                "POST",
                &format!("drives/{drive}/offline"),
                &[],
                body.as_ref(),
            )?;
            done(ctx, &v, &format!("Drive {drive} is held offline."))
        }
        DriveCommand::Online { alias, drive } => {
            let v = Client::connect(ctx, &alias)?.admin(
                "POST",
                &format!("drives/{drive}/online"),
                &[],
                None,
            )?;
            done(ctx, &v, &format!("Drive {drive} is back in service."))
        }
    }
}

fn done(ctx: &Ctx, v: &Value, what: &str) -> Result<(), CliError> {
    if ctx.json {
        output::json(v);
    } else {
        println!("{what} State: {}.", s(v, "state"));
    }
    Ok(())
}
