//! `GET dedup` and `POST dedup/gc`: deduplicated content per bucket and
//! its collector (see `engine::dedup`).

use std::sync::atomic::Ordering;

use serde_json::{json, Value};

use super::buckets::engine_error;
use super::error::AdminError;
use super::router::Call;

/// `GET dedup`: every dedup bucket's content, references and saved bytes.
pub async fn status(c: &Call<'_>) -> Result<Value, AdminError> {
    let usage = c.engine.dedup_usage().map_err(engine_error)?;
    // Content objects are objects of the hidden content buckets: their
    // usage rows count what they take on the drives.
    let stored = c
        .engine
        .shared
        .bucket_usage()
        .map_err(|e| engine_error(e.into()))?;
    let table = c.engine.buckets();
    // Buckets turned on with no content yet are listed too.
    let mut names: Vec<String> = table
        .buckets
        .iter()
        .filter(|(_, b)| b.dedup)
        .map(|(n, _)| n.clone())
        .collect();
    names.extend(usage.keys().cloned());
    names.sort();
    names.dedup();
    let buckets: Vec<Value> = names
        .iter()
        .map(|name| {
            let u = usage.get(name).cloned().unwrap_or_default();
            json!({
                "name": name,
                "dedup": table.buckets.get(name).is_some_and(|b| b.dedup),
                "contents": u.contents,
                "contentBytes": u.content_bytes,
                "contentStoredBytes": stored
                    .get(&crate::engine::dedup::content_bucket(name))
                    .map_or(0, |u| u.stored_bytes),
                "references": u.references,
                "referencedBytes": u.referenced_bytes,
                "savedBytes": u.saved_bytes(),
                "unreferenced": u.unreferenced,
                "unreferencedBytes": u.unreferenced_bytes,
            })
        })
        .collect();
    let st = &c.engine.shared.background.dedup;
    Ok(json!({
        "graceSeconds": st.grace_ms.load(Ordering::Relaxed) / 1000,
        "buckets": buckets,
        "stripesStored": st.stored.load(Ordering::Relaxed),
        "stripesShared": st.shared.load(Ordering::Relaxed),
        "collected": st.collected.load(Ordering::Relaxed),
        "collectedBytes": st.collected_bytes.load(Ordering::Relaxed),
    }))
}

/// `POST dedup/gc[?dryRun=true]`: runs the collector on every core now;
/// a dry run only says what it would remove.
pub async fn gc(c: &Call<'_>) -> Result<Value, AdminError> {
    let dry_run = match c.query("dryRun").as_deref() {
        None | Some("false") => false,
        Some("true") | Some("") => true,
        Some(v) => {
            return Err(AdminError::invalid(format!(
                "dryRun must be true or false, not {v:?}"
            )))
        }
    };
    let r = c
        .engine
        .collect_content(dry_run)
        .await
        .map_err(engine_error)?;
    Ok(json!({
        "dryRun": dry_run,
        "collectable": r.collectable,
        "collectableBytes": r.collectable_bytes,
        "waiting": r.waiting,
        "waitingBytes": r.waiting_bytes,
        "removed": r.removed,
        "removedBytes": r.removed_bytes,
    }))
}
