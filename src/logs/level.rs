//! The process's log filter (`CAIRN_LOG`), changeable at run time through
//! the admin API: `main` installs the reload hook of its tracing
//! subscriber; without one (a library user), the level cannot change.

use std::sync::OnceLock;

type Reload = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

static RELOAD: OnceLock<(String, Reload)> = OnceLock::new();

/// Called once by `main`: the filter it started with, and how to replace it.
pub fn install(start: String, reload: Reload) {
    let _ = RELOAD.set((start, reload));
}

/// The filter the process started with (`info` when none was installed).
pub fn start_value() -> String {
    RELOAD
        .get()
        .map_or_else(|| "info".to_owned(), |(s, _)| s.clone())
}

/// Replaces the filter (`info`, `cairn=debug,hyper=warn` …).
pub fn set(filter: &str) -> Result<(), String> {
    match RELOAD.get() {
        Some((_, reload)) => reload(filter),
        None => Err("the log filter cannot change in this process".into()),
    }
}
