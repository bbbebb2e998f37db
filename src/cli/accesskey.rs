//! `cairn admin accesskey`: access keys and service accounts. `create`
//! prints the secret, the only time it is ever shown.

use clap::{Subcommand, ValueEnum};
use serde_json::{json, Map, Value};

use super::client::{seg, Client};
use super::output::{self, fields, s, Table};
use super::{confirm, removed, CliError, Ctx};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum KeyType {
    /// A key of the user that acts with the user's policies.
    AccessKey,
    /// A key that may carry a narrower policy of its own.
    ServiceAccount,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Status {
    Active,
    Inactive,
}

#[derive(Subcommand, Debug)]
pub enum AccessKeyCommand {
    /// Create a key; prints its secret once.
    Create {
        alias: String,
        /// The user it belongs to (default: the alias's own user).
        #[arg(long)]
        user: Option<String>,
        #[arg(long = "type", value_enum, default_value = "service-account")]
        kind: KeyType,
        /// A service account's name.
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Expire at this time (RFC 3339, UTC).
        #[arg(long, conflicts_with = "expires_in")]
        expiration: Option<String>,
        /// Expire after this long: seconds, or 30m, 12h, 90d.
        #[arg(long)]
        expires_in: Option<String>,
        /// A service account's own policy, a JSON file (`-`: standard input).
        #[arg(long)]
        policy: Option<String>,
    },
    /// List keys of every user, or of one.
    List {
        alias: String,
        #[arg(long)]
        user: Option<String>,
    },
    /// Show one key (never its secret).
    Info { alias: String, access_key: String },
    /// Change a key's status, description, expiry or policy.
    Edit {
        alias: String,
        access_key: String,
        #[arg(long, value_enum)]
        status: Option<Status>,
        #[arg(long)]
        description: Option<String>,
        /// Expire at this time (RFC 3339, UTC).
        #[arg(long, conflicts_with_all = ["expires_in", "no_expiration"])]
        expiration: Option<String>,
        /// Expire after this long from now: seconds, or 30m, 12h, 90d.
        #[arg(long, conflicts_with = "no_expiration")]
        expires_in: Option<String>,
        /// Remove the expiry.
        #[arg(long)]
        no_expiration: bool,
        /// Replace the service account's policy with this JSON file.
        #[arg(long, conflicts_with = "no_policy")]
        policy: Option<String>,
        /// Remove the service account's own policy (it gets its parent's rights).
        #[arg(long)]
        no_policy: bool,
    },
    /// Revoke a key at once.
    Revoke {
        alias: String,
        access_key: String,
        /// Do not ask.
        #[arg(long)]
        force: bool,
    },
}

fn secs(s: &str) -> Result<u64, CliError> {
    output::parse_secs(s).ok_or_else(|| {
        CliError::Usage(format!(
            "{s:?}: give seconds, or a number with s, m, h or d"
        ))
    })
}

pub fn run(ctx: &Ctx, cmd: AccessKeyCommand) -> Result<(), CliError> {
    match cmd {
        AccessKeyCommand::Create {
            alias,
            user,
            kind,
            name,
            description,
            expiration,
            expires_in,
            policy,
        } => {
            let mut body = Map::new();
            if let Some(u) = user {
                body.insert("user".into(), json!(u));
            }
            let kind = match kind {
                KeyType::AccessKey => "accessKey",
                KeyType::ServiceAccount => "serviceAccount",
            };
            body.insert("type".into(), json!(kind));
            if let Some(n) = name {
                body.insert("name".into(), json!(n));
            }
            if let Some(d) = description {
                body.insert("description".into(), json!(d));
            }
            if let Some(e) = expiration {
                body.insert("expiration".into(), json!(e));
            }
            if let Some(e) = expires_in {
                body.insert("expiresInSecs".into(), json!(secs(&e)?));
            }
            if let Some(p) = policy {
                body.insert("policy".into(), read_json(&p)?);
            }
            let mut c = Client::connect(ctx, &alias)?;
            let v = c.admin("POST", "accesskeys", &[], Some(&Value::Object(body)))?;
            if ctx.json {
                output::json(&v);
            } else {
                show(&v);
                println!("\nThe secret key is shown only now: keep it.");
            }
        }
        AccessKeyCommand::List { alias, user } => {
            let query: Vec<(&str, &str)> = user.iter().map(|u| ("user", u.as_str())).collect();
            let v = Client::connect(ctx, &alias)?.admin("GET", "accesskeys", &query, None)?;
            if ctx.json {
                output::json(&v);
            } else {
                let keys = v["accessKeys"].as_array().cloned().unwrap_or_default();
                keys_table(&keys).print();
            }
        }
        AccessKeyCommand::Info { alias, access_key } => {
            let v = Client::connect(ctx, &alias)?.admin(
                "GET",
                &format!("accesskeys/{}", seg(&access_key)),
                &[],
                None,
            )?;
            if ctx.json {
                output::json(&v);
            } else {
                show(&v);
            }
        }
        AccessKeyCommand::Edit {
            alias,
            access_key,
            status,
            description,
            expiration,
            expires_in,
            no_expiration,
            policy,
            no_policy,
        } => {
            let mut body = Map::new();
            if let Some(st) = status {
                let st = match st {
                    Status::Active => "Active",
                    Status::Inactive => "Inactive",
                };
                body.insert("status".into(), json!(st));
            }
            if let Some(d) = description {
                body.insert("description".into(), json!(d));
            }
            if let Some(e) = expiration {
                body.insert("expiration".into(), json!(e));
            }
            if no_expiration {
                body.insert("expiration".into(), Value::Null);
            }
            if let Some(e) = expires_in {
                body.insert("expiresInSecs".into(), json!(secs(&e)?));
            }
            if let Some(p) = policy {
                body.insert("policy".into(), read_json(&p)?);
            }
            if no_policy {
                body.insert("policy".into(), Value::Null);
            }
            if body.is_empty() {
                return Err(CliError::Usage(
                    "nothing to change: give --status, --description, --expiration, \
                     --expires-in, --no-expiration, --policy or --no-policy"
                        .into(),
                ));
            }
            let v = Client::connect(ctx, &alias)?.admin(
                "PUT",
                &format!("accesskeys/{}", seg(&access_key)),
                &[],
                Some(&Value::Object(body)),
            )?;
            if ctx.json {
                output::json(&v);
            } else {
                show(&v);
            }
        }
        AccessKeyCommand::Revoke {
            alias,
            access_key,
            force,
        } => {
            let mut c = Client::connect(ctx, &alias)?;
            confirm(force, &format!("Revoke access key {access_key}"))?;
            c.admin(
                "DELETE",
                &format!("accesskeys/{}", seg(&access_key)),
                &[],
                None,
            )?;
            removed(
                ctx,
                "accessKey",
                &access_key,
                &format!("Revoked access key {access_key}."),
            );
        }
    }
    Ok(())
}

/// A JSON document from a file, or standard input for `-`.
pub fn read_json(path: &str) -> Result<Value, CliError> {
    let text = if path == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|e| CliError::Failed(format!("{path}: {e}")))?;
    serde_json::from_str(&text).map_err(|e| CliError::Failed(format!("{path}: not JSON: {e}")))
}

fn show(v: &Value) {
    let mut f = vec![
        ("Access key", s(v, "accessKey")),
        ("User", s(v, "user")),
        ("Type", s(v, "type")),
        ("Name", s(v, "name")),
        ("Description", s(v, "description")),
        ("Status", s(v, "status")),
        ("Created", s(v, "createdAt")),
        ("Expiration", s(v, "expiration")),
        ("Expired", s(v, "expired")),
        ("Last used", last_used(v)),
        (
            "Policy",
            if v["policy"].is_null() {
                "-".to_owned()
            } else {
                v["policy"].to_string()
            },
        ),
    ];
    if let Some(secret) = v["secretKey"].as_str() {
        f.insert(1, ("Secret key", secret.to_owned()));
    }
    fields(&f);
}

fn last_used(v: &Value) -> String {
    match &v["lastUsed"] {
        Value::Null => "-".to_owned(),
        u => format!("{} ({})", s(u, "at"), s(u, "service")),
    }
}

pub fn keys_table(keys: &[Value]) -> Table {
    let mut t = Table::new(&[
        "ACCESS KEY",
        "USER",
        "TYPE",
        "NAME",
        "STATUS",
        "EXPIRATION",
        "LAST USED",
    ]);
    for k in keys {
        t.row(vec![
            s(k, "accessKey"),
            s(k, "user"),
            s(k, "type"),
            s(k, "name"),
            s(k, "status"),
            s(k, "expiration"),
            last_used(k),
        ]);
    }
    t
}
