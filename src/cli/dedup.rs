//! `cairn admin dedup`: deduplicated content per bucket, and its collector.

use clap::Subcommand;
use serde_json::Value;

use super::client::Client;
use super::output::{self, bytes_field, fields, num, Table};
use super::{CliError, Ctx};

#[derive(Subcommand, Debug)]
pub enum DedupCommand {
    /// Each dedup bucket's content, references and the bytes they save.
    Status { alias: String },
    /// Remove content no object has referred to for the grace period.
    Gc {
        alias: String,
        /// Only say what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
}

pub fn run(ctx: &Ctx, cmd: DedupCommand) -> Result<(), CliError> {
    match cmd {
        DedupCommand::Status { alias } => {
            let v = Client::connect(ctx, &alias)?.admin("GET", "dedup", &[], None)?;
            if ctx.json {
                output::json(&v);
                return Ok(());
            }
            let mut t = Table::new(&[
                "Bucket",
                "Dedup",
                "Contents",
                "Stored",
                "References",
                "Saved",
                "Unreferenced",
            ]);
            for b in v["buckets"].as_array().into_iter().flatten() {
                t.row(vec![
                    output::s(b, "name"),
                    if b["dedup"].as_bool() == Some(true) {
                        "on"
                    } else {
                        "off"
                    }
                    .to_owned(),
                    num(b, "contents"),
                    bytes_field(b, "contentBytes"),
                    num(b, "references"),
                    bytes_field(b, "savedBytes"),
                    bytes_field(b, "unreferencedBytes"),
                ]);
            }
            t.print();
            println!(
                "Grace period: {}s; collected so far: {} ({})",
                num(&v, "graceSeconds"),
                num(&v, "collected"),
                bytes_field(&v, "collectedBytes")
            );
        }
        DedupCommand::Gc { alias, dry_run } => {
            let query = [("dryRun", if dry_run { "true" } else { "false" })];
            let v = Client::connect(ctx, &alias)?.admin("POST", "dedup/gc", &query, None)?;
            if ctx.json {
                output::json(&v);
                return Ok(());
            }
            gc_fields(&v, dry_run);
        }
    }
    Ok(())
}

fn gc_fields(v: &Value, dry_run: bool) {
    let would = |n: &str, b: &str| format!("{} ({})", num(v, n), bytes_field(v, b));
    fields(&[
        ("Dry run", if dry_run { "yes" } else { "no" }.to_owned()),
        ("Collectable", would("collectable", "collectableBytes")),
        ("In grace", would("waiting", "waitingBytes")),
        ("Removed", would("removed", "removedBytes")),
    ]);
}
