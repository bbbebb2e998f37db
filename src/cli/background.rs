//! `cairn admin compaction status|run`, `repair status`, `scrub
//! status|run|pause|resume`, `lifecycle status|run|pause|resume` and `heal
//! status|pause|resume`: the node's background work (`GET
//! background/{compaction,repair,scrub,heal,lifecycle}`).

use clap::Subcommand;
use serde_json::Value;

use super::client::Client;
use super::output::{self, fields, num, s};
use super::{CliError, Ctx};

#[derive(Subcommand, Debug)]
pub enum CompactionCommand {
    /// State, runs, failures and the last run.
    Status { alias: String },
    /// Start a compaction pass now.
    Run { alias: String },
}

#[derive(Subcommand, Debug)]
pub enum RepairCommand {
    /// State, runs, failures and the last run.
    Status { alias: String },
}

#[derive(Subcommand, Debug)]
pub enum PassCommand {
    /// Progress, what the passes did, and the settings.
    Status {
        alias: String,
    },
    /// Start a pass of every partition now.
    Run {
        alias: String,
    },
    /// Stop the passes (between batches) until resumed or restarted.
    Pause {
        alias: String,
    },
    Resume {
        alias: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum HealCommand {
    /// Each healing drive's progress, rate and time left.
    Status {
        alias: String,
    },
    /// Stop healing (between batches) until resumed or restarted.
    Pause {
        alias: String,
    },
    Resume {
        alias: String,
    },
}

pub fn heal(ctx: &Ctx, cmd: HealCommand) -> Result<(), CliError> {
    match cmd {
        HealCommand::Status { alias } => {
            let v = Client::connect(ctx, &alias)?.admin("GET", "background/heal", &[], None)?;
            if ctx.json {
                output::json(&v);
            } else {
                show_heal(&v);
            }
            Ok(())
        }
        HealCommand::Pause { alias } => post(ctx, &alias, "heal/pause", "Healing paused."),
        HealCommand::Resume { alias } => post(ctx, &alias, "heal/resume", "Healing resumed."),
    }
}

/// One line per healing drive, then the counters.
fn show_heal(v: &Value) {
    let drives = v["drives"].as_array().cloned().unwrap_or_default();
    if drives.is_empty() {
        println!("No drive is healing.");
    }
    for d in &drives {
        let pct = num(d, "percent");
        let eta = match d["etaSeconds"].as_u64() {
            Some(s) => format!("about {s} s left"),
            None => "time left not known yet".into(),
        };
        let waiting = if d["online"].as_bool() == Some(false) {
            " (offline: waits for it)"
        } else {
            ""
        };
        println!(
            "drive {} {}: healing {pct}%{waiting}, {}/{} partitions, {} bytes healed at {} B/s, {eta}",
            num(d, "drive"),
            s(d, "path"),
            num(d, "partitionsDone"),
            num(d, "partitions"),
            num(d, "bytesHealed"),
            num(d, "bytesPerSecond"),
        );
    }
    let mut rest = v.clone();
    if let Some(o) = rest.as_object_mut() {
        o.remove("drives");
    }
    show(&rest);
}

pub fn compaction(ctx: &Ctx, cmd: CompactionCommand) -> Result<(), CliError> {
    match cmd {
        CompactionCommand::Status { alias } => status(ctx, &alias, "compaction"),
        CompactionCommand::Run { alias } => {
            post(ctx, &alias, "compaction/run", "Compaction started.")
        }
    }
}

/// `scrub` or `lifecycle`: work done in passes over the partitions.
pub fn passes(ctx: &Ctx, what: &str, cmd: PassCommand) -> Result<(), CliError> {
    let (alias, verb, done) = match cmd {
        PassCommand::Status { alias } => return status(ctx, &alias, what),
        PassCommand::Run { alias } => (alias, "run", "started"),
        PassCommand::Pause { alias } => (alias, "pause", "paused"),
        PassCommand::Resume { alias } => (alias, "resume", "resumed"),
    };
    post(
        ctx,
        &alias,
        &format!("{what}/{verb}"),
        &format!("{what}: {done}."),
    )
}

fn post(ctx: &Ctx, alias: &str, path: &str, done: &str) -> Result<(), CliError> {
    let v = Client::connect(ctx, alias)?.admin("POST", &format!("background/{path}"), &[], None)?;
    if ctx.json {
        output::json(&v);
    } else {
        println!("{done}");
        if !v.is_null() {
            show(&v);
        }
    }
    Ok(())
}

pub fn repair(ctx: &Ctx, cmd: RepairCommand) -> Result<(), CliError> {
    match cmd {
        RepairCommand::Status { alias } => status(ctx, &alias, "repair"),
    }
}

fn status(ctx: &Ctx, alias: &str, what: &str) -> Result<(), CliError> {
    let v = Client::connect(ctx, alias)?.admin("GET", &format!("background/{what}"), &[], None)?;
    if ctx.json {
        output::json(&v);
    } else {
        show(&v);
    }
    Ok(())
}

/// The documented fields first, then whatever else the status holds.
fn show(v: &Value) {
    const KNOWN: [(&str, &str); 5] = [
        ("state", "State"),
        ("runs", "Runs"),
        ("failures", "Failures"),
        ("lastRunAt", "Last run"),
        ("lastError", "Last error"),
    ];
    let mut f: Vec<(&str, String)> = KNOWN
        .iter()
        .map(|(k, label)| {
            let val = if v[*k].is_u64() { num(v, k) } else { s(v, k) };
            (*label, val)
        })
        .collect();
    if let Some(obj) = v.as_object() {
        for (k, x) in obj {
            if !KNOWN.iter().any(|(n, _)| n == k) {
                let val = x.as_str().map_or_else(|| x.to_string(), str::to_owned);
                f.push((k.as_str(), val));
            }
        }
    }
    fields(&f);
}
