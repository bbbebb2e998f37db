//! Run-time settings: named values (as strings, validated) that change the
//! running node on every core without a restart, and the history of
//! changes. The state belongs to core 0 (other cores reach it by message),
//! so changes are applied and recorded in one order. Changes last until
//! the node stops; flags and the config file set the values it starts with.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::engine::{CoreMsg, Engine};
use crate::http::ratelimit::{Rate, RateLimits};

use super::error::AdminError;
use super::router::Call;

/// Changes kept in memory for `GET config/history`.
pub const HISTORY_MAX: usize = 1000;
/// Longest value accepted.
const MAX_VALUE: usize = 1024;

/// What each setting starts as: flags, the config file or built in.
#[derive(Clone, Debug)]
pub struct Start {
    pub rate_limit_per_ip: Option<Rate>,
    pub rate_limit_per_key: Option<Rate>,
    pub read_cache: u64,
}

static START: OnceLock<Start> = OnceLock::new();

/// Called once at start, before the cores run.
pub fn set_start(s: Start) {
    let _ = START.set(s);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Setting {
    RateIp,
    RateKey,
    LogLevel,
    CacheBytes,
}

const KEYS: [(Setting, &str, &str); 4] = [
    (
        Setting::RateIp,
        "ratelimit.requestsPerSecondPerIp",
        "Requests a second per client address (its /64 for IPv6), as RPS or RPS/BURST; 0 is off.",
    ),
    (
        Setting::RateKey,
        "ratelimit.requestsPerSecondPerKey",
        "Requests a second per access key, as RPS or RPS/BURST; 0 is off.",
    ),
    (
        Setting::LogLevel,
        "log.level",
        "The log filter, as CAIRN_LOG: a level (info, debug) or directives (cairn=debug,hyper=warn).",
    ),
    (
        Setting::CacheBytes,
        "cache.readBytes",
        "Bytes of verified records kept in memory for reads, over all cores (512MiB, 4GiB, 0 for none).",
    ),
];

fn rate_text(r: Option<Rate>) -> String {
    r.map_or_else(|| "0".to_owned(), |r| r.to_string())
}

struct Change {
    time_ms: u64,
    access_key: String,
    user: String,
    name: &'static str,
    old: String,
    new: String,
}

struct State {
    values: [String; 4],
    defaults: [String; 4],
    history: VecDeque<Change>,
}

impl State {
    fn new() -> State {
        let start = START.get().cloned().unwrap_or(Start {
            rate_limit_per_ip: None,
            rate_limit_per_key: None,
            read_cache: 0,
        });
        let defaults = [
            rate_text(start.rate_limit_per_ip),
            rate_text(start.rate_limit_per_key),
            crate::logs::level::start_value(),
            start.read_cache.to_string(),
        ];
        State {
            values: defaults.clone(),
            defaults,
            history: VecDeque::new(),
        }
    }

    fn setting(&self, i: usize) -> Value {
        let (_, name, description) = KEYS[i];
        json!({
            "name": name,
            "value": self.values[i],
            "default": self.defaults[i],
            "description": description,
        })
    }
}

thread_local! {
    /// Core 0's settings.
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(s.borrow_mut().get_or_insert_with(State::new)))
}

fn index(name: &str) -> Result<usize, AdminError> {
    KEYS.iter().position(|(_, n, _)| *n == name).ok_or_else(|| {
        AdminError::not_found(
            "NoSuchConfigKey",
            format!(
                "{name:?} is not a setting: {}.",
                KEYS.map(|(_, n, _)| n).join(", ")
            ),
        )
    })
}

fn core_gone(e: crate::engine::EngineError) -> AdminError {
    AdminError::new(
        http::StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        format!("The settings cannot be reached: {e}"),
    )
}

/// `GET config`.
pub async fn list(c: &Call<'_>) -> Result<Value, AdminError> {
    let settings = c
        .engine
        .run_on(0, |_| {
            with_state(|s| (0..KEYS.len()).map(|i| s.setting(i)).collect::<Vec<_>>())
        })
        .await
        .map_err(core_gone)?;
    Ok(json!({ "settings": settings }))
}

/// `GET config/{name}`.
pub async fn get(c: &Call<'_>) -> Result<Value, AdminError> {
    let i = index(c.param(0))?;
    c.engine
        .run_on(0, move |_| with_state(|s| s.setting(i)))
        .await
        .map_err(core_gone)
}

/// `GET config/history`: newest first.
pub async fn history(c: &Call<'_>) -> Result<Value, AdminError> {
    let changes = c
        .engine
        .run_on(0, |_| {
            with_state(|s| {
                s.history
                    .iter()
                    .rev()
                    .map(|h| {
                        json!({
                            "time": super::rfc3339(h.time_ms),
                            "accessKey": h.access_key,
                            "user": h.user,
                            "name": h.name,
                            "old": h.old,
                            "new": h.new,
                        })
                    })
                    .collect::<Vec<_>>()
            })
        })
        .await
        .map_err(core_gone)?;
    Ok(json!({ "changes": changes }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetValue {
    value: String,
}

/// A checked value: its canonical text and what applying it does.
enum Checked {
    Rate(Option<Rate>),
    Log(String),
    Cache(u64),
}

fn check(key: Setting, raw: &str) -> Result<(String, Checked), String> {
    let v = raw.trim();
    if v.is_empty() || v.len() > MAX_VALUE {
        return Err(format!("a value is 1 to {MAX_VALUE} characters"));
    }
    Ok(match key {
        Setting::RateIp | Setting::RateKey => {
            let r = Rate::parse_or_off(v)?;
            (rate_text(r), Checked::Rate(r))
        }
        Setting::LogLevel => (v.to_owned(), Checked::Log(v.to_owned())),
        Setting::CacheBytes => {
            let n = crate::config::parse_size(v)?;
            (n.to_string(), Checked::Cache(n))
        }
    })
}

/// Applies a checked value on core 0; every core sees it from its next
/// request (rate limits and the log filter are shared; each core resizes
/// its own read cache on a message).
fn apply(e: &Engine, limits: &RateLimits, key: Setting, v: Checked) -> Result<(), String> {
    match v {
        Checked::Rate(r) if key == Setting::RateIp => limits.per_ip.set(r),
        Checked::Rate(r) => limits.per_key.set(r),
        Checked::Log(f) => crate::logs::level::set(&f)?,
        Checked::Cache(total) => {
            let per_core = usize::try_from(total / e.shared.cores as u64).unwrap_or(usize::MAX);
            for (core, inbox) in e.shared.inboxes.iter().enumerate() {
                inbox
                    .try_send(CoreMsg::SetReadCache(per_core))
                    .map_err(|_| {
                        format!("core {core} is too busy to take the change; try again")
                    })?;
            }
        }
    }
    Ok(())
}

/// `PUT config/{name}` with `{"value": "..."}`.
pub async fn set(c: &Call<'_>) -> Result<Value, AdminError> {
    let i = index(c.param(0))?;
    let body: SetValue = c.json()?;
    let (key, name, _) = KEYS[i];
    let (text, checked) =
        check(key, &body.value).map_err(|e| AdminError::invalid(format!("{name}: {e}")))?;
    let limits: Arc<RateLimits> = c.rate_limits.clone();
    let (access_key, user) = (c.caller.access_key.clone(), c.caller.name.clone());
    let outcome = c
        .engine
        .run_on(0, move |e| {
            apply(e, &limits, key, checked)?;
            Ok::<_, String>(with_state(|s| {
                let old = std::mem::replace(&mut s.values[i], text.clone());
                if s.history.len() >= HISTORY_MAX {
                    s.history.pop_front();
                }
                s.history.push_back(Change {
                    time_ms: crate::engine::now_ms(),
                    access_key,
                    user,
                    name,
                    old: old.clone(),
                    new: text,
                });
                (old, s.setting(i))
            }))
        })
        .await
        .map_err(core_gone)?;
    let (old, setting) = outcome.map_err(|e| AdminError::invalid(format!("{name}: {e}")))?;
    *c.audit_detail.borrow_mut() = Some(format!("{name}: {old} -> {}", setting["value"]));
    tracing::info!(setting = name, old = %old, new = %setting["value"], user = %c.caller.name, "setting changed");
    Ok(setting)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_and_made_canonical() {
        let ok = |k, v| check(k, v).map(|(t, _)| t);
        assert_eq!(ok(Setting::RateIp, "0").as_deref(), Ok("0"));
        assert_eq!(ok(Setting::RateIp, " 100 ").as_deref(), Ok("100/100"));
        assert_eq!(ok(Setting::RateKey, "2/5").as_deref(), Ok("2/5"));
        assert_eq!(ok(Setting::CacheBytes, "1MiB").as_deref(), Ok("1048576"));
        assert_eq!(
            ok(Setting::LogLevel, "cairn=debug").as_deref(),
            Ok("cairn=debug")
        );
        for (k, bad) in [
            (Setting::RateIp, "-1"),
            (Setting::RateIp, "fast"),
            (Setting::RateKey, ""),
            (Setting::CacheBytes, "lots"),
            (Setting::LogLevel, " "),
        ] {
            assert!(check(k, bad).is_err(), "{bad:?}");
        }
        assert!(check(Setting::LogLevel, &"x".repeat(MAX_VALUE + 1)).is_err());
    }

    #[test]
    fn every_setting_has_a_unique_name_found_by_index() {
        for (i, (_, name, _)) in KEYS.iter().enumerate() {
            assert_eq!(index(name).ok(), Some(i));
        }
        assert_eq!(index("nope").map_err(|e| e.code), Err("NoSuchConfigKey"));
    }
}
