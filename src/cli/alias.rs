//! `cairn admin alias`: named servers and their keys in
//! `$HOME/.cairn/config.toml` (directory 0700, file 0600), as `mc alias`.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use clap::Subcommand;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::client::{Client, Payload};
use super::output::{self, Table};
use super::{CliError, Ctx};

#[derive(Subcommand, Debug)]
pub enum AliasCommand {
    /// Add or replace an alias: a server URL and the keys to sign with.
    Set {
        name: String,
        /// http://host:port or https://host:port
        url: String,
        access_key: String,
        secret_key: String,
        /// Save without asking the server whether the keys work (it may be
        /// down, or not yet there).
        #[arg(long)]
        no_check: bool,
    },
    /// List the aliases (never their secrets).
    List,
    /// Forget an alias.
    Remove { name: String },
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Alias {
    pub url: String,
    pub access_key: String,
    pub secret_key: String,
}

#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    aliases: BTreeMap<String, Alias>,
}

fn dir() -> Result<PathBuf, CliError> {
    match std::env::var_os("HOME") {
        Some(h) if !h.is_empty() => Ok(PathBuf::from(h).join(".cairn")),
        _ => Err(CliError::Usage(
            "HOME is not set: it says where ~/.cairn/config.toml is".into(),
        )),
    }
}

fn load() -> Result<ConfigFile, CliError> {
    let path = dir()?.join("config.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            toml::from_str(&text).map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(e) => Err(CliError::Failed(format!("{}: {e}", path.display()))),
    }
}

/// Writes the file whole (a temporary file renamed over it), mode 0600 in
/// a 0700 directory: it holds secrets.
fn store(cfg: &ConfigFile) -> Result<(), CliError> {
    let dir = dir()?;
    let fail = |e: std::io::Error| CliError::Failed(format!("{}: {e}", dir.display()));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(fail)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
    let text = toml::to_string(cfg).map_err(|e| CliError::Failed(e.to_string()))?;
    let tmp = dir.join(format!("config.toml.{}.tmp", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(fail)?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(fail)?;
    std::fs::rename(&tmp, dir.join("config.toml")).map_err(fail)
}

/// The alias of that name, or a usage error naming the known ones.
pub fn get(name: &str) -> Result<Alias, CliError> {
    let cfg = load()?;
    cfg.aliases.get(name).cloned().ok_or_else(|| {
        let known: Vec<&str> = cfg.aliases.keys().map(String::as_str).collect();
        CliError::Usage(format!(
            "no alias {name:?} (known: {}); add one with `cairn admin alias set`",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        ))
    })
}

/// True when `name` is a configured alias (how object paths tell remote
/// from local).
pub fn exists(name: &str) -> bool {
    load().is_ok_and(|c| c.aliases.contains_key(name))
}

/// Checks an alias URL: a scheme and an authority, no path, query or
/// credentials.
pub fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("{url:?}: the URL must start with http:// or https://"))?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return Err(format!(
            "{url:?}: give only scheme, host and port (http://host:9000)"
        ));
    }
    Ok(())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Signs one cheap request (ListBuckets) with the alias's keys before it
/// is saved, so a wrong secret is found now rather than at first use.
/// AccessDenied passes: the server checked the signature before refusing,
/// so the keys are right, only not allowed to list buckets.
fn check_keys(ctx: &Ctx, name: &str, alias: &Alias) -> Result<(), CliError> {
    let not_saved = format!("alias {name} not saved (--no-check saves it without asking)");
    let mut c = Client::new(alias, ctx.insecure)?;
    match c.s3("GET", "/", &[], &[], Payload::Empty) {
        Ok(_) => Ok(()),
        Err(CliError::Refused { code, .. }) if code == "AccessDenied" => Ok(()),
        Err(CliError::Refused {
            status,
            code,
            message,
            request_id,
        }) => Err(CliError::Refused {
            status,
            code,
            message: format!("{message} The server refused the keys: {not_saved}."),
            request_id,
        }),
        Err(CliError::Connect(m)) => Err(CliError::Connect(format!("{m}; {not_saved}"))),
        Err(e) => Err(e),
    }
}

pub fn run(ctx: &Ctx, cmd: AliasCommand) -> Result<(), CliError> {
    match cmd {
        AliasCommand::Set {
            name,
            url,
            access_key,
            secret_key,
            no_check,
        } => {
            if !valid_name(&name) {
                return Err(CliError::Usage(format!(
                    "alias {name:?}: use letters, digits, '-', '_' and '.'"
                )));
            }
            check_url(&url).map_err(CliError::Usage)?;
            let mut cfg = load()?;
            let url = url.trim_end_matches('/').to_owned();
            let alias = Alias {
                url: url.clone(),
                access_key: access_key.clone(),
                secret_key,
            };
            if !no_check {
                check_keys(ctx, &name, &alias)?;
            }
            cfg.aliases.insert(name.clone(), alias);
            store(&cfg)?;
            if ctx.json {
                output::json(&json!({"alias": name, "url": url, "accessKey": access_key}));
            } else {
                println!("Added alias {name} ({url}).");
            }
        }
        AliasCommand::List => {
            let cfg = load()?;
            if ctx.json {
                let list: Vec<_> = cfg
                    .aliases
                    .iter()
                    .map(|(n, a)| json!({"alias": n, "url": a.url, "accessKey": a.access_key}))
                    .collect();
                output::json(&json!({ "aliases": list }));
            } else {
                let mut t = Table::new(&["ALIAS", "URL", "ACCESS KEY"]);
                for (n, a) in &cfg.aliases {
                    t.row(vec![n.clone(), a.url.clone(), a.access_key.clone()]);
                }
                t.print();
            }
        }
        AliasCommand::Remove { name } => {
            let mut cfg = load()?;
            if cfg.aliases.remove(&name).is_none() {
                return Err(CliError::Usage(format!("no alias {name:?}")));
            }
            store(&cfg)?;
            if ctx.json {
                output::json(&json!({"status": "removed", "alias": name}));
            } else {
                println!("Removed alias {name}.");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_urls_are_scheme_host_and_port_only() {
        assert!(check_url("http://127.0.0.1:9000").is_ok());
        assert!(check_url("https://s3.example.com/").is_ok());
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("http://").is_err());
        assert!(check_url("http://h/path").is_err());
        assert!(check_url("http://user:pw@h").is_err());
    }
}
