//! `cairn admin notify`: the targets bucket notification rules send
//! events to (webhooks, NATS subjects), as `mc admin config set
//! notify_webhook` and `notify_nats`.

use clap::Subcommand;
use serde_json::{json, Map, Value};

use super::client::{seg, Client};
use super::output::{self, s, Table};
use super::{confirm, CliError, Ctx};

#[derive(Subcommand, Debug)]
pub enum NotifyCommand {
    /// Add or replace a target; rules name it by the ARN printed.
    Add {
        alias: String,
        /// 1-64 letters, digits, '-' or '_'.
        name: String,
        /// The http:// or https:// URL events are POSTed to, or the
        /// nats:// (tls://) server they are published on.
        endpoint: String,
        /// A webhook's `Authorization: Bearer <token>`; a NATS token.
        #[arg(long)]
        auth_token: Option<String>,
        /// A PEM file of certificates to trust for an https (tls) endpoint
        /// instead of the system's roots.
        #[arg(long)]
        ca_cert: Option<std::path::PathBuf>,
        /// The subject a NATS target publishes to.
        #[arg(long)]
        subject: Option<String>,
        /// Publish through NATS JetStream: an event counts as sent once a
        /// stream stored it.
        #[arg(long)]
        jetstream: bool,
        /// Events kept for the target while it is down (default 100000);
        /// beyond it new events are dropped and counted.
        #[arg(long)]
        queue_limit: Option<u64>,
    },
    /// Targets with their ARNs and delivery state.
    List { alias: String },
    /// Remove a target; its waiting events are dropped.
    Remove {
        alias: String,
        name: String,
        /// Do not ask.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(ctx: &Ctx, cmd: NotifyCommand) -> Result<(), CliError> {
    match cmd {
        NotifyCommand::Add {
            alias,
            name,
            endpoint,
            auth_token,
            ca_cert,
            queue_limit,
            subject,
            jetstream,
        } => {
            let mut body = Map::new();
            body.insert("endpoint".into(), json!(endpoint));
            if let Some(t) = auth_token {
                body.insert("authToken".into(), json!(t));
            }
            if let Some(p) = ca_cert {
                let pem = std::fs::read_to_string(&p)
                    .map_err(|e| CliError::Usage(format!("{}: {e}", p.display())))?;
                body.insert("caCert".into(), json!(pem));
            }
            if let Some(q) = queue_limit {
                body.insert("queueLimit".into(), json!(q));
            }
            if let Some(s) = subject {
                body.insert("subject".into(), json!(s));
            }
            if jetstream {
                body.insert("jetStream".into(), json!(true));
            }
            let v = Client::connect(ctx, &alias)?.admin(
                "PUT",
                &format!("notify/targets/{}", seg(&name)),
                &[],
                Some(&Value::Object(body)),
            )?;
            if ctx.json {
                output::json(&v);
            } else {
                println!("Target {} added: {}", s(&v, "name"), s(&v, "arn"));
            }
        }
        NotifyCommand::List { alias } => {
            let v = Client::connect(ctx, &alias)?.admin("GET", "notify/targets", &[], None)?;
            if ctx.json {
                output::json(&v);
                return Ok(());
            }
            let mut t = Table::new(&[
                "TARGET", "ARN", "ENDPOINT", "ONLINE", "PENDING", "SENT", "DROPPED",
            ]);
            for x in v["targets"].as_array().into_iter().flatten() {
                t.row(vec![
                    s(x, "name"),
                    s(x, "arn"),
                    s(x, "endpoint"),
                    s(x, "online"),
                    s(x, "pending"),
                    s(x, "sent"),
                    s(x, "dropped"),
                ]);
            }
            t.print();
        }
        NotifyCommand::Remove { alias, name, force } => {
            confirm(
                force,
                &format!("Remove notification target {name} (its waiting events are dropped)"),
            )?;
            Client::connect(ctx, &alias)?.admin(
                "DELETE",
                &format!("notify/targets/{}", seg(&name)),
                &[],
                None,
            )?;
            if ctx.json {
                output::json(&json!({ "removed": name }));
            } else {
                println!("Target {name} removed.");
            }
        }
    }
    Ok(())
}
