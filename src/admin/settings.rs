//! Run-time settings: named values (as strings, validated) that change the
//! running node on every core without a restart, and the history of
//! changes. The state belongs to core 0 (other cores reach it by message),
//! so changes are applied and recorded in one order. Each change is made
//! durable in the system store (`.cairn/settings.state` on every drive,
//! kept as the identity state is) before it is acknowledged, so values and
//! history outlive a restart. A kept value is used at start only while the
//! flag or config value it replaced is unchanged: a new flag wins.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::engine::{CoreMsg, Engine};
use crate::format_version::{decode_json, encode_json, JsonError};
use crate::http::ratelimit::{Rate, RateLimits};
use crate::iam::store::SystemStore;

use super::error::AdminError;
use super::router::Call;

/// Changes kept (in memory and in the store) for `GET config/history`.
pub const HISTORY_MAX: usize = 1000;
/// Longest value accepted.
const MAX_VALUE: usize = 1024;
/// The file in each drive's `.cairn` that keeps the settings.
pub const STORE_FILE: &str = "settings.state";

/// What each setting starts as: flags, the config file or built in.
#[derive(Clone, Debug)]
pub struct Start {
    pub rate_limit_per_ip: Option<Rate>,
    pub rate_limit_per_key: Option<Rate>,
    pub read_cache: u64,
}

static START: OnceLock<Start> = OnceLock::new();
/// Where changes are kept; without one (a library user) they last until
/// the process ends.
static STORE: OnceLock<Box<dyn SystemStore>> = OnceLock::new();
/// The state `open` restored, taken by core 0 on first use.
static RESTORED: OnceLock<State> = OnceLock::new();

/// Called once at start, before the cores run: loads the kept settings
/// and history from `store` (changes go there from now on), puts the log
/// filter into effect, and returns the values to start with. Blocking.
pub fn open(start: Start, store: Box<dyn SystemStore>) -> Result<Start, String> {
    let loaded = store
        .load()
        .map_err(|e| format!("cannot read the settings store: {e}"))?;
    for (path, why) in &loaded.skipped {
        tracing::warn!(path = %path.display(), why, "settings store copy skipped (rewritten on the next change)");
    }
    let (generation, saved) = match loaded.newest {
        Some((g, payload)) => (
            g,
            Saved::decode(&payload).map_err(|e| format!("settings store generation {g}: {e}"))?,
        ),
        None => (0, Saved::default()),
    };
    let _ = START.set(start.clone());
    let mut state = State::new();
    state.generation = generation;
    let mut run = start;
    for v in saved.values {
        let Ok(i) = index(&v.name) else {
            tracing::warn!(setting = %v.name, "a kept setting this version does not know is ignored");
            continue;
        };
        if v.default != state.defaults[i] {
            tracing::info!(setting = %v.name, kept = %v.value, "the flag or config value changed since the setting was changed: it wins");
            continue;
        }
        let key = KEYS[i].0;
        let applied = check(key, &v.value).and_then(|(text, checked)| {
            match checked {
                Checked::Rate(r) if key == Setting::RateIp => run.rate_limit_per_ip = r,
                Checked::Rate(r) => run.rate_limit_per_key = r,
                Checked::Log(f) => crate::logs::level::set(&f)?,
                Checked::Cache(n) => run.read_cache = n,
            }
            Ok(text)
        });
        match applied {
            Ok(text) => state.values[i] = text,
            Err(e) => {
                tracing::warn!(setting = %v.name, value = %v.value, error = %e, "a kept setting cannot be used; the start value stays")
            }
        }
    }
    let skip = saved.history.len().saturating_sub(HISTORY_MAX);
    state.history = saved.history.into_iter().skip(skip).collect();
    let _ = RESTORED.set(state);
    let _ = STORE.set(store);
    Ok(run)
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

/// One change, as the history keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub time_ms: u64,
    pub access_key: String,
    pub user: String,
    pub name: String,
    pub old: String,
    pub new: String,
}

/// A setting as kept: its value and the start value it replaced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedValue {
    pub name: String,
    pub value: String,
    pub default: String,
}

/// What the store keeps: the changed settings and the history.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    pub values: Vec<SavedValue>,
    pub history: Vec<Change>,
}

/// The format of the settings store's JSON this binary writes (and the
/// newest it reads); a payload without `"format"` is format 1.
pub const STORE_FORMAT: u32 = 1;

impl Saved {
    /// Decodes the system store's payload (any format this binary reads).
    pub fn decode(payload: &[u8]) -> Result<Saved, JsonError> {
        decode_json("settings.state", payload, STORE_FORMAT).map(|(_, s)| s)
    }

    /// The system store's payload as this binary writes it.
    pub fn encode(&self) -> serde_json::Result<Vec<u8>> {
        encode_json(STORE_FORMAT, self, false)
    }
}

#[derive(Clone)]
struct State {
    values: [String; 4],
    defaults: [String; 4],
    history: VecDeque<Change>,
    /// Of the last change kept in the store.
    generation: u64,
}

impl State {
    fn new() -> State {
        if let Some(s) = RESTORED.get() {
            return s.clone();
        }
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
            generation: 0,
        }
    }

    /// What the store keeps of this state: values changed from the start.
    fn saved(&self) -> Saved {
        Saved {
            values: (0..KEYS.len())
                .filter(|&i| self.values[i] != self.defaults[i])
                .map(|i| SavedValue {
                    name: KEYS[i].1.to_owned(),
                    value: self.values[i].clone(),
                    default: self.defaults[i].clone(),
                })
                .collect(),
            history: self.history.iter().cloned().collect(),
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
    /// Held by the change being applied and stored on core 0, one at a time.
    static CHANGING: Rc<futures_util::lock::Mutex<()>> = Rc::new(futures_util::lock::Mutex::new(()));
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
    let who = (c.caller.access_key.clone(), c.caller.name.clone());
    let done = c
        .engine
        .run_on(0, move |e| {
            let (tx, rx) = futures_channel::oneshot::channel();
            let e = e.clone();
            crate::runtime::spawn(async move {
                let _ = tx.send(change(&e, &limits, i, text, checked, who).await);
            });
            rx
        })
        .await
        .map_err(core_gone)?;
    let (old, setting) = done.await.map_err(|_| {
        core_gone(crate::engine::EngineError::Internal(
            "core 0 stopped".into(),
        ))
    })??;
    *c.audit_detail.borrow_mut() = Some(format!("{name}: {old} -> {}", setting["value"]));
    tracing::info!(setting = name, old = %old, new = %setting["value"], user = %c.caller.name, "setting changed");
    Ok(setting)
}

/// On core 0, one change at a time: puts the value into effect, keeps the
/// new state in the store, and only then records it; a change that cannot
/// be stored is undone.
async fn change(
    e: &Rc<Engine>,
    limits: &RateLimits,
    i: usize,
    text: String,
    checked: Checked,
    (access_key, user): (String, String),
) -> Result<(String, Value), AdminError> {
    let lock = CHANGING.with(Rc::clone);
    let _one_at_a_time = lock.lock().await;
    let (key, name, _) = KEYS[i];
    apply(e, limits, key, checked).map_err(|e| AdminError::invalid(format!("{name}: {e}")))?;
    let mut next = with_state(|s| s.clone());
    let old = std::mem::replace(&mut next.values[i], text.clone());
    if next.history.len() >= HISTORY_MAX {
        next.history.pop_front();
    }
    next.history.push_back(Change {
        time_ms: crate::engine::now_ms(),
        access_key,
        user,
        name: name.to_owned(),
        old: old.clone(),
        new: text,
    });
    next.generation += 1;
    if let Some(store) = STORE.get() {
        let payload = next.saved().encode().map_err(|e| {
            AdminError::new(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                e.to_string(),
            )
        })?;
        let generation = next.generation;
        let stored = e
            .companion
            .run(move || store.store(generation, &payload))
            .await
            .and_then(|r| r);
        if let Err(err) = stored {
            // Put the old value back; it was in effect a moment ago.
            if let Ok((_, undo)) = check(key, &old) {
                if let Err(u) = apply(e, limits, key, undo) {
                    tracing::error!(setting = name, error = %u, "cannot undo a setting that was not stored");
                }
            }
            return Err(AdminError::new(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                format!("{name}: the change could not be stored, so it was not made: {err}"),
            ));
        }
    }
    let setting = next.setting(i);
    with_state(|s| *s = next);
    Ok((old, setting))
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
    fn a_store_of_a_newer_format_is_refused_as_newer() {
        let newer = format!(r#"{{"format":{},"settings":{{}}}}"#, STORE_FORMAT + 1);
        let e = Saved::decode(newer.as_bytes()).unwrap_err().to_string();
        assert!(
            e.contains(
                "settings.state was written by a newer cairn: format 2, this binary reads up to 1"
            ),
            "{e}"
        );
        let old =
            br#"{"values":[{"name":"log.level","value":"debug","default":"info"}],"history":[]}"#;
        assert_eq!(Saved::decode(old).unwrap().values[0].value, "debug");
    }

    #[test]
    fn every_setting_has_a_unique_name_found_by_index() {
        for (i, (_, name, _)) in KEYS.iter().enumerate() {
            assert_eq!(index(name).ok(), Some(i));
        }
        assert_eq!(index("nope").map_err(|e| e.code), Err("NoSuchConfigKey"));
    }
}
