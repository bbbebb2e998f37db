//! Background work: compaction, repair, scrubbing, healing and lifecycle, their state and counters
//! (`engine::background`, `engine::Stats`: read without a scan), and
//! pausing, resuming or starting them.

use std::sync::atomic::Ordering;

use http::StatusCode;
use serde_json::{json, Value};

use crate::engine::background::{BackgroundMsg, Work};

use super::error::AdminError;
use super::router::{Answer, Call};

fn work(name: &str) -> Result<Work, AdminError> {
    match name {
        "compaction" => Ok(Work::Compaction),
        "repair" => Ok(Work::Repair),
        "scrub" => Ok(Work::Scrub),
        "heal" => Ok(Work::Heal),
        "lifecycle" => Ok(Work::Lifecycle),
        other => Err(AdminError::not_found(
            "NoSuchEndpoint",
            format!(
                "{other:?} is not background work: compaction, repair, scrub, heal or lifecycle."
            ),
        )),
    }
}

/// The newest failure of `w` on any core.
async fn last_error(c: &Call<'_>, w: Work) -> Option<String> {
    let mut newest: Option<(u64, String)> = None;
    for core in 0..c.engine.shared.cores {
        let Ok(errors) = c.engine.run_on(core, |e| e.last_errors()).await else {
            continue;
        };
        if let Some((t, e)) = errors[w as usize].clone() {
            if newest.as_ref().is_none_or(|(n, _)| t > *n) {
                newest = Some((t, e));
            }
        }
    }
    newest.map(|(_, e)| e)
}

async fn status(c: &Call<'_>, w: Work) -> Value {
    let shared = &c.engine.shared;
    let job = shared.background.job(w);
    let st = &shared.stats;
    let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let mut v = json!({
        "state": job.state().as_str(),
        "lastRunAt": job.last_run_ms().map(super::rfc3339),
        "lastError": last_error(c, w).await,
    });
    let extra = match w {
        Work::Compaction => json!({
            "runs": n(&st.compaction_runs),
            "failures": n(&st.compaction_failures),
            "segmentsRemoved": n(&st.compaction_segments_removed),
            "bytesReclaimed": n(&st.compaction_bytes_reclaimed),
            "bytesMoved": n(&st.compaction_bytes_moved),
        }),
        Work::Repair => json!({
            "runs": n(&st.repair_runs),
            "failures": n(&st.repair_failures),
            "recordsRepaired": n(&st.repaired_shards),
            "bytesRepaired": n(&st.repaired_bytes),
            "recordsLost": n(&st.repair_lost),
            "queued": n(&shared.background.repair_queued),
            "remembered": shared.repairs_remembered().ok(),
        }),
        Work::Scrub => {
            let sc = &shared.background.scrub;
            let p = shared.scrub_progress().ok();
            json!({
                "intervalSeconds": sc.interval().as_secs(),
                "rateBytesPerSecond": n(&sc.rate),
                "progress": p.as_ref().map(|p| p.progress),
                "partitionsScrubbing": p.as_ref().map(|p| p.scrubbing),
                "oldestPassStartedAt": p.as_ref().and_then(|p| p.oldest_pass_ms).map(super::rfc3339),
                "lastPassEndedAt": p.as_ref().and_then(|p| p.last_ended_ms).map(super::rfc3339),
                "partitionPasses": n(&sc.passes),
                "holdersChecked": n(&sc.holders),
                "recordsChecked": n(&sc.records),
                "bytesChecked": n(&sc.bytes),
                "problemsFound": n(&sc.bad),
                "recordsRepaired": n(&sc.repaired),
                "recordsLost": n(&sc.lost),
            })
        }
        Work::Lifecycle => {
            let lc = &shared.background.lifecycle;
            json!({
                "rateKeysPerSecond": n(&lc.rate),
                "clock": super::rfc3339(lc.now_ms()),
                "partitionsPending": c.engine.lifecycle_pending().ok(),
                "partitionPasses": n(&lc.passes),
                "keysExamined": n(&lc.keys),
                "expired": n(&lc.expired),
                "noncurrentRemoved": n(&lc.noncurrent_removed),
                "deleteMarkersRemoved": n(&lc.delete_markers_removed),
                "uploadsAborted": n(&lc.uploads_aborted),
                "transitioned": n(&lc.transitioned),
                "bytesTransitioned": n(&lc.transitioned_bytes),
                "keptByObjectLock": n(&lc.locked),
                "failures": n(&lc.failures),
            })
        }
        Work::Heal => {
            let h = &shared.heal;
            let drives: Vec<Value> = shared
                .heal_progress()
                .unwrap_or_default()
                .into_iter()
                .map(|p| {
                    json!({
                        "drive": p.drive,
                        "path": shared.set.drives[p.drive as usize].path.display().to_string(),
                        "online": p.online,
                        "startedAt": super::rfc3339(p.since_ms),
                        "progress": p.fraction,
                        "percent": p.percent(),
                        "partitionsDone": p.partitions_done,
                        "partitions": p.partitions,
                        "recordsHealed": p.records,
                        "bytesHealed": p.bytes,
                        "bytesPerSecond": p.rate.round() as u64,
                        "etaSeconds": p.eta_seconds,
                    })
                })
                .collect();
            json!({
                "rateBytesPerSecond": n(&h.rate),
                "idleRateBytesPerSecond": n(&h.idle_rate),
                "drives": drives,
                "holdersWalked": n(&h.holders),
                "holdersHealed": n(&h.holders_healed),
                "recordsLost": n(&h.lost),
                "readsNotYetHealed": n(&h.not_yet_healed),
                "healsFinished": n(&h.finished),
            })
        }
    };
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v
}

/// `GET background`.
pub async fn all(c: &Call<'_>) -> Result<Value, AdminError> {
    Ok(json!({
        "compaction": status(c, Work::Compaction).await,
        "repair": status(c, Work::Repair).await,
        "scrub": status(c, Work::Scrub).await,
        "heal": status(c, Work::Heal).await,
        "lifecycle": status(c, Work::Lifecycle).await,
    }))
}

/// `GET background/{compaction|repair|scrub|heal|lifecycle}`.
pub async fn one(c: &Call<'_>) -> Result<Value, AdminError> {
    Ok(status(c, work(c.param(0))?).await)
}

/// Starts `w` now with `msg` to every core and answers `202` with its
/// status; `409` while `w` (`what`, for the message) is paused.
async fn start(
    c: &Call<'_>,
    w: Work,
    msg: BackgroundMsg,
    what: &str,
) -> Result<Answer, AdminError> {
    if c.engine.shared.background.job(w).paused() {
        return Err(AdminError::new(
            StatusCode::CONFLICT,
            "BackgroundPaused",
            format!("{what} is paused: resume it first."),
        ));
    }
    c.engine.tell_every_core(msg);
    Ok(Answer::Json(StatusCode::ACCEPTED, status(c, w).await))
}

/// `POST background/compaction/run`: a pass on every core now (a core
/// already compacting keeps its pass: the request is coalesced with it).
pub async fn run_compaction(c: &Call<'_>) -> Result<Answer, AdminError> {
    start(c, Work::Compaction, BackgroundMsg::Compact, "Compaction").await
}

/// `POST background/scrub/run`: every partition starts a pass now (one
/// in progress goes on).
pub async fn run_scrub(c: &Call<'_>) -> Result<Answer, AdminError> {
    start(c, Work::Scrub, BackgroundMsg::Scrub, "Scrubbing").await
}

/// `POST background/lifecycle/run`: every partition starts a pass now,
/// even one walked today (one in progress goes on).
pub async fn run_lifecycle(c: &Call<'_>) -> Result<Answer, AdminError> {
    start(
        c,
        Work::Lifecycle,
        BackgroundMsg::Lifecycle,
        "The lifecycle worker",
    )
    .await
}

/// `POST background/{w}/pause`: the work stops at its next safe point
/// (between segments, between objects) until resumed or the node restarts.
pub async fn pause(c: &Call<'_>) -> Result<Value, AdminError> {
    let w = work(c.param(0))?;
    c.engine.shared.background.job(w).set_paused(true);
    Ok(status(c, w).await)
}

/// `POST background/{w}/resume`.
pub async fn resume(c: &Call<'_>) -> Result<Value, AdminError> {
    let w = work(c.param(0))?;
    c.engine.shared.background.job(w).set_paused(false);
    if w == Work::Repair {
        c.engine.tell_every_core(BackgroundMsg::ResumeRepair);
    }
    Ok(status(c, w).await)
}
