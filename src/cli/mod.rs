//! `cairn admin`: the command-line client of the admin API and of S3's
//! everyday object operations, talking to any node over HTTP(S). Blocking,
//! outside the server's runtime. docs/CLI.md lists every command.
//!
//! Exit codes: 0 done, 1 the server refused (its error code is printed) or
//! the operation failed, 2 usage error, 3 cannot connect (or TLS failed).

pub mod accesskey;
pub mod alias;
pub mod background;
pub mod bucket;
pub mod client;
pub mod config;
pub mod dedup;
pub mod drive;
pub mod group;
pub mod info;
pub mod kms;
pub mod notify;
pub mod objects;
pub mod output;
pub mod policy;
pub mod remove;
pub mod sign;
pub mod tenant;
pub mod trace;
pub mod usage;
pub mod user;

use std::io::{BufRead, IsTerminal, Read, Write};

use clap::{Args, Subcommand};

#[derive(Args, Debug)]
pub struct AdminArgs {
    /// Print the API's JSON (stable for scripts) instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Accept any TLS certificate (a self-signed one, say).
    #[arg(long, global = true)]
    pub insecure: bool,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Named servers and their keys (~/.cairn/config.toml).
    Alias {
        #[command(subcommand)]
        cmd: alias::AliasCommand,
    },
    /// Version, uptime, layout and every drive.
    Info { alias: String },
    /// Users.
    User {
        #[command(subcommand)]
        cmd: user::UserCommand,
    },
    /// Deduplicated content: what it saves, and its collector.
    Dedup {
        #[command(subcommand)]
        cmd: dedup::DedupCommand,
    },
    /// Tenants: namespaces of users and their buckets.
    Tenant {
        #[command(subcommand)]
        cmd: tenant::TenantCommand,
    },
    /// Groups and their members.
    Group {
        #[command(subcommand)]
        cmd: group::GroupCommand,
    },
    /// Access keys and service accounts.
    Accesskey {
        #[command(subcommand)]
        cmd: accesskey::AccessKeyCommand,
    },
    /// Managed policies and where they are attached.
    Policy {
        #[command(subcommand)]
        cmd: policy::PolicyCommand,
    },
    /// Buckets' usage, quotas and deduplication.
    Bucket {
        #[command(subcommand)]
        cmd: bucket::BucketCommand,
    },
    /// Usage of every bucket and drive.
    Usage { alias: String },
    /// Notification targets (webhooks) for bucket event rules.
    Notify {
        #[command(subcommand)]
        cmd: notify::NotifyCommand,
    },
    /// The built-in KMS's keys.
    Kms {
        #[command(subcommand)]
        cmd: kms::KmsCommand,
    },
    /// The drives: their states, and taking one offline for planned work.
    Drive {
        #[command(subcommand)]
        cmd: drive::DriveCommand,
    },
    /// Background compaction.
    Compaction {
        #[command(subcommand)]
        cmd: background::CompactionCommand,
    },
    /// Background repair.
    Repair {
        #[command(subcommand)]
        cmd: background::RepairCommand,
    },
    /// The background scrubber: every record read back and verified.
    Scrub {
        #[command(subcommand)]
        cmd: background::PassCommand,
    },
    /// The lifecycle worker: buckets' lifecycle rules applied once a day.
    Lifecycle {
        #[command(subcommand)]
        cmd: background::PassCommand,
    },
    /// Healing: drives that came back empty, refilled from the others.
    Heal {
        #[command(subcommand)]
        cmd: background::HealCommand,
    },
    /// Settings that change at run time, and who changed them.
    Config {
        #[command(subcommand)]
        cmd: config::ConfigCommand,
    },
    /// Follow the node's requests live, one line each, until Ctrl-C.
    Trace(trace::TraceArgs),
    /// List buckets, or objects under ALIAS/BUCKET[/PREFIX].
    Ls(objects::LsArgs),
    /// Copy a file to ALIAS/BUCKET/KEY, an object to a file, or an object
    /// to another (on the same alias or another).
    Cp(objects::CpArgs),
    /// Write an object to standard output.
    Cat(objects::CatArgs),
    /// Remove an object, or every object under a prefix (--recursive),
    /// optionally with every version (--versions).
    Rm(objects::RmArgs),
    /// Make a bucket.
    Mb(objects::MbArgs),
    /// Remove an (empty) bucket.
    Rb(objects::RbArgs),
    /// A presigned GET URL for an object.
    Presign(objects::PresignArgs),
    /// A shell completion script for `cairn` (bash, zsh, fish, …).
    Completion { shell: clap_complete::Shell },
}

/// Settings every command reads.
pub struct Ctx {
    pub json: bool,
    pub insecure: bool,
}

#[derive(Debug)]
pub enum CliError {
    /// Exit 2: the command line (or an alias) is wrong.
    Usage(String),
    /// Exit 1: the server said no.
    Refused {
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
    },
    /// Exit 1: something local failed, or the user declined.
    Failed(String),
    /// Exit 3: no answer from the server (connection, TLS, timeout).
    Connect(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Refused { .. } | CliError::Failed(_) => 1,
            CliError::Usage(_) => 2,
            CliError::Connect(_) => 3,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Failed(m) | CliError::Connect(m) => f.write_str(m),
            CliError::Refused {
                status,
                code,
                message,
                request_id,
            } => {
                write!(f, "{code}: {message} (HTTP {status}")?;
                if let Some(id) = request_id {
                    write!(f, ", request id {id}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// Runs one `cairn admin` command; the process exit code.
pub fn run(args: AdminArgs) -> i32 {
    let ctx = Ctx {
        json: args.json,
        insecure: args.insecure,
    };
    match dispatch(&ctx, args.command) {
        Ok(()) => 0,
        Err(e) => {
            if ctx.json {
                if let CliError::Refused {
                    status,
                    code,
                    message,
                    request_id,
                } = &e
                {
                    let doc = serde_json::json!({"error": {"status": status, "code": code,
                        "message": message, "requestId": request_id}});
                    eprintln!("{doc}");
                    return e.exit_code();
                }
            }
            eprintln!("cairn: {e}");
            e.exit_code()
        }
    }
}

fn dispatch(ctx: &Ctx, cmd: AdminCommand) -> Result<(), CliError> {
    match cmd {
        AdminCommand::Alias { cmd } => alias::run(ctx, cmd),
        AdminCommand::Info { alias } => info::run(ctx, &alias),
        AdminCommand::User { cmd } => user::run(ctx, cmd),
        AdminCommand::Tenant { cmd } => tenant::run(ctx, cmd),
        AdminCommand::Dedup { cmd } => dedup::run(ctx, cmd),
        AdminCommand::Group { cmd } => group::run(ctx, cmd),
        AdminCommand::Accesskey { cmd } => accesskey::run(ctx, cmd),
        AdminCommand::Policy { cmd } => policy::run(ctx, cmd),
        AdminCommand::Bucket { cmd } => bucket::run(ctx, cmd),
        AdminCommand::Usage { alias } => usage::run(ctx, &alias),
        AdminCommand::Kms { cmd } => kms::run(ctx, cmd),
        AdminCommand::Notify { cmd } => notify::run(ctx, cmd),
        AdminCommand::Drive { cmd } => drive::run(ctx, cmd),
        AdminCommand::Compaction { cmd } => background::compaction(ctx, cmd),
        AdminCommand::Repair { cmd } => background::repair(ctx, cmd),
        AdminCommand::Scrub { cmd } => background::passes(ctx, "scrub", cmd),
        AdminCommand::Lifecycle { cmd } => background::passes(ctx, "lifecycle", cmd),
        AdminCommand::Heal { cmd } => background::heal(ctx, cmd),
        AdminCommand::Config { cmd } => config::run(ctx, cmd),
        AdminCommand::Trace(a) => trace::run(ctx, a),
        AdminCommand::Ls(a) => objects::ls(ctx, a),
        AdminCommand::Cp(a) => objects::cp(ctx, a),
        AdminCommand::Cat(a) => objects::cat(ctx, a),
        AdminCommand::Rm(a) => remove::rm(ctx, a),
        AdminCommand::Mb(a) => objects::mb(ctx, a),
        AdminCommand::Rb(a) => objects::rb(ctx, a),
        AdminCommand::Presign(a) => objects::presign(ctx, a),
        AdminCommand::Completion { shell } => {
            let mut cmd = <crate::config::Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "cairn", &mut std::io::stdout());
            Ok(())
        }
    }
}

/// Asks before a destructive change unless `--force`; with no terminal to
/// ask on, refuses (a script must say `--force`).
pub fn confirm(force: bool, what: &str) -> Result<(), CliError> {
    if force {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::Usage(format!(
            "{what}: refusing without --force (no terminal to confirm on)"
        )));
    }
    eprint!("{what}? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    // One line at most: a bounded read from the terminal.
    let _ = stdin.lock().take(256).read_line(&mut line);
    match line.trim() {
        "y" | "Y" | "yes" | "YES" | "Yes" => Ok(()),
        _ => Err(CliError::Failed("aborted".into())),
    }
}

/// A removal's JSON (the API answers 204 with no body).
pub fn removed(ctx: &Ctx, kind: &str, name: &str, human: &str) {
    if ctx.json {
        output::json(&serde_json::json!({"status": "removed", kind: name}));
    } else {
        println!("{human}");
    }
}
