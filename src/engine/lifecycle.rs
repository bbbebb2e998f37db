//! The lifecycle worker (issue 17): each core applies its buckets'
//! lifecycle rules (`crate::lifecycle`) to its own partitions. Every
//! expiry falls on a midnight UTC, so one pass a day finds all that came
//! due: a partition is walked once per (lifecycle clock) day, and only the
//! buckets with an enabled rule and only the key ranges their rules name.
//! It goes at a bounded rate of keys per second (`rate`, shared out among
//! the cores) and behind client requests, one batch at a time; where the
//! pass is, is kept in the partition's index so it resumes after a
//! restart. Versions are removed through the engine's own delete, which
//! refuses a locked one, and a current version only while it is still the
//! latest (a write that came after the batch read it wins).

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use crate::lifecycle::{self, Action, Cursor, Lifecycle, VersionFacts, DAY_MS};
use crate::runtime::Instant;

use super::background::Work;
use super::buckets::BucketTable;
use super::index::{Mutation, UploadListing};
use super::meta::IndexEntry;
use super::transition::TransitionOutcome;
use super::{lock, now_ms, Engine, EngineError, Result};
use crate::format_version::NewerFormat;
use crate::notify::event::{Action as EventAction, Origin};

/// The server access log's operation for a version lifecycle removed.
const EXPIRE_OP: &str = "S3.EXPIRE.OBJECT";

/// Writes a done lifecycle action into the bucket's server access log,
/// if it has logging on (S3 logs them as `S3.<ACTION>` lines).
fn log_action(bucket: &str, key: &str, operation: &str, object_size: Option<u64>) {
    crate::logs::bucket::record_lifecycle(bucket, key, operation, object_size);
}

/// Format of a partition's lifecycle state in its index.
pub const STATE_FORMAT: u8 = 1;
/// Keys examined per second over all cores: 10 million keys in under ten
/// minutes a day, a few percent of one core.
pub const DEFAULT_RATE: u64 = 20_000;
/// Keys (with their versions) read from the index per batch.
const BATCH: usize = 128;
/// Uploads read per batch.
const UPLOAD_BATCH: usize = 256;
/// Keys of a batch acted on at once: their deletes share the drives'
/// flushes (group commit). One at a time, a pass expired 1,053 keys a
/// second (perf/results/2026-12-07-321051e5-lifecycle.txt).
const AT_ONCE: usize = 16;
/// Bytes transitions copy per second over all cores: the copies read and
/// write every byte of a version, so they, not the keys, bound a batch
/// that moves data (a few percent of a drive's write bandwidth).
pub const TRANSITION_BYTES_PER_SEC: u64 = 32 << 20;
/// How long the worker waits when no partition is due.
const IDLE: Duration = Duration::from_secs(1);
/// Names a file holding the lifecycle clock, in milliseconds since the
/// epoch, read at each batch: a test hook, so a test moves days forward
/// without sleeping. Unset or unreadable: the system clock.
pub const TEST_CLOCK_ENV: &str = "CAIRN_TEST_CLOCK_FILE";

/// The lifecycle settings and what the worker did, node-wide.
pub struct LifecycleStats {
    /// Keys examined per second over all cores; 0: no limit.
    pub rate: AtomicU64,
    /// Partition passes finished, keys examined.
    pub passes: AtomicU64,
    pub keys: AtomicU64,
    /// Current versions expired (deleted, or hidden behind a marker).
    pub expired: AtomicU64,
    pub noncurrent_removed: AtomicU64,
    pub delete_markers_removed: AtomicU64,
    pub uploads_aborted: AtomicU64,
    /// Versions moved to another storage class, and their bytes.
    pub transitioned: AtomicU64,
    pub transitioned_bytes: AtomicU64,
    /// Versions a rule named that object lock kept.
    pub locked: AtomicU64,
    /// Deletes that failed (retried on the next day's pass).
    pub failures: AtomicU64,
    clock_file: Option<PathBuf>,
}

impl LifecycleStats {
    pub fn new(rate: u64) -> LifecycleStats {
        LifecycleStats {
            rate: AtomicU64::new(rate),
            passes: AtomicU64::new(0),
            keys: AtomicU64::new(0),
            expired: AtomicU64::new(0),
            noncurrent_removed: AtomicU64::new(0),
            delete_markers_removed: AtomicU64::new(0),
            uploads_aborted: AtomicU64::new(0),
            transitioned: AtomicU64::new(0),
            transitioned_bytes: AtomicU64::new(0),
            locked: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            clock_file: std::env::var_os(TEST_CLOCK_ENV).map(PathBuf::from),
        }
    }

    /// The lifecycle clock: the system's, unless a test set one.
    pub fn now_ms(&self) -> u64 {
        self.clock_file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(now_ms)
    }
}

/// A partition's lifecycle state, persisted so a pass resumes after a
/// restart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleState {
    pub format: u8,
    /// The clock day (days since the epoch) of the last finished pass.
    pub last_day: u64,
    pub last_ended_ms: u64,
    pub pass: Option<Pass>,
}

impl Default for LifecycleState {
    fn default() -> LifecycleState {
        LifecycleState {
            format: STATE_FORMAT,
            last_day: 0,
            last_ended_ms: 0,
            pass: None,
        }
    }
}

/// A pass in progress: the bucket it is in (None: before the first) and
/// where in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pass {
    pub day: u64,
    pub started_ms: u64,
    pub bucket: Option<String>,
    pub at: Walking,
    pub keys: u64,
}

/// Where a pass is in its bucket: its keys, then its uploads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Walking {
    Keys(Option<Cursor>),
    /// After this (key, upload).
    Uploads(Option<(String, u128)>),
}

impl LifecycleState {
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("a lifecycle state serialises")
    }

    /// Decodes a stored state; one of a newer format is refused.
    pub fn decode(bytes: &[u8]) -> std::result::Result<LifecycleState, String> {
        let format = *bytes.first().ok_or("empty lifecycle state")?;
        NewerFormat::check(
            "partition lifecycle state",
            u32::from(format),
            u32::from(STATE_FORMAT),
        )
        .map_err(|e| e.to_string())?;
        postcard::from_bytes(bytes).map_err(|e| format!("lifecycle state: {e}"))
    }

    /// Whether a pass is due on clock day `today`.
    fn due(&self, today: u64) -> bool {
        self.pass.is_some() || self.last_day < today
    }
}

/// The first bucket after `after` (from the first when None) with an
/// enabled rule.
fn next_bucket(table: &BucketTable, after: Option<&str>) -> Option<String> {
    let from = match after {
        Some(a) => std::ops::Bound::Excluded(a.to_owned()),
        None => std::ops::Bound::Unbounded,
    };
    table
        .buckets
        .range((from, std::ops::Bound::Unbounded))
        .find(|(_, b)| b.lifecycle.as_ref().is_some_and(Lifecycle::any_enabled))
        .map(|(name, _)| name.clone())
}

fn facts(e: &IndexEntry) -> VersionFacts<'_> {
    VersionFacts {
        created_ms: e.meta.modified_ms,
        size: e.meta.size,
        tags: &e.meta.tags,
        delete_marker: e.meta.delete_marker,
        class: super::class::class_name(&e.meta.attrs),
    }
}

impl Engine {
    /// Starts this core's lifecycle worker.
    pub(crate) fn start_lifecycle(self: &Rc<Self>) {
        self.spawn_background_loop(
            Work::Lifecycle,
            |e| &e.lifecycling,
            IDLE,
            |e| async move { e.lifecycle_step().await },
        );
    }

    /// One batch of the pass in progress (starting one if a partition is
    /// due); returns how long to wait before the next, which keeps the
    /// keys examined within this core's share of the rate and the bytes
    /// transitioned within its share of [`TRANSITION_BYTES_PER_SEC`].
    async fn lifecycle_step(self: &Rc<Self>) -> Result<Duration> {
        let bg = &self.shared.background;
        if bg.lifecycle_job.paused() {
            return Ok(IDLE);
        }
        let table = self.buckets();
        // No rule anywhere: nothing to walk, and nothing written.
        if next_bucket(&table, None).is_none() {
            return Ok(IDLE);
        }
        let now = bg.lifecycle.now_ms();
        let today = now / DAY_MS;
        let Some((p, mut state)) = self.lifecycle_due(today)? else {
            return Ok(IDLE);
        };
        let _running = bg.lifecycle_job.begin();
        let begun = Instant::now();
        self.yield_to_clients().await;
        let mut pass = state.pass.take().unwrap_or(Pass {
            day: today,
            started_ms: now_ms(),
            bucket: None,
            at: Walking::Keys(None),
            keys: 0,
        });
        let (keys, moved) = self.lifecycle_batch(p, &table, &mut pass, now).await?;
        bg.lifecycle.keys.fetch_add(keys, Ordering::Relaxed);
        pass.keys += keys;
        if pass.bucket.is_none() {
            state.last_day = pass.day;
            state.last_ended_ms = now_ms();
            bg.lifecycle.passes.fetch_add(1, Ordering::Relaxed);
        } else {
            state.pass = Some(pass);
        }
        self.set_lifecycle_state(p, state);
        self.background_ended(Work::Lifecycle, None);
        let cores = self.shared.cores;
        let rate = super::pace::core_share(bg.lifecycle.rate.load(Ordering::Relaxed), cores);
        let by_keys = if rate == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(keys as f64 / rate as f64)
        };
        let byte_rate = super::pace::core_share(TRANSITION_BYTES_PER_SEC, cores);
        let by_bytes = Duration::from_secs_f64(moved as f64 / byte_rate as f64);
        Ok(by_keys.max(by_bytes).saturating_sub(begun.elapsed()))
    }

    /// One batch of `pass` in partition `p`: a range of keys of its bucket,
    /// or of its uploads, or the step to the next bucket. `pass.bucket`
    /// None afterwards: the pass is done. Returns the keys examined and
    /// the bytes transitioned.
    async fn lifecycle_batch(
        self: &Rc<Self>,
        p: u16,
        table: &BucketTable,
        pass: &mut Pass,
        now: u64,
    ) -> Result<(u64, u64)> {
        let current = pass.bucket.as_deref().and_then(|b| {
            let lc = table.get(b)?.lifecycle.as_ref()?;
            lc.any_enabled().then(|| (b.to_owned(), lc.clone()))
        });
        let Some((bucket, lc)) = current else {
            // Before the first bucket, or this one lost its rules (or went).
            pass.bucket = next_bucket(table, pass.bucket.as_deref());
            pass.at = Walking::Keys(None);
            return Ok((0, 0));
        };
        let idx = &self.shared.indexes[p as usize];
        match &pass.at {
            Walking::Keys(cursor) => {
                let prefixes = lc.walk_prefixes();
                let Some((from, exclusive, within)) =
                    lifecycle::next_range(&prefixes, cursor.as_ref())
                else {
                    pass.at = Walking::Uploads(None);
                    return Ok((0, 0));
                };
                let (keys, ended) = idx.lifecycle_scan(&bucket, &from, exclusive, within, BATCH)?;
                let n = keys.len() as u64;
                let last = keys.last().map(|(k, ..)| k.clone());
                let (b, lc) = (&bucket, &lc);
                let done: Vec<Result<u64>> = stream::iter(keys)
                    .map(|(key, latest, noncurrent)| async move {
                        self.apply_rules(b, &key, lc, &latest, &noncurrent, now)
                            .await
                    })
                    .buffer_unordered(AT_ONCE)
                    .collect()
                    .await;
                let moved = done.into_iter().sum::<Result<u64>>()?;
                pass.at = match (ended, last) {
                    (false, Some(k)) => Walking::Keys(Some(Cursor::After(k))),
                    _ => match lifecycle::past_range(&prefixes, within) {
                        Some(c) => Walking::Keys(Some(c)),
                        None => Walking::Uploads(None),
                    },
                };
                Ok((n, moved))
            }
            Walking::Uploads(after) => {
                let after_ref = after.as_ref().map(|(k, u)| (k.as_str(), Some(*u)));
                let uploads = idx.list_uploads(&bucket, "", after_ref, UPLOAD_BATCH)?;
                let n = uploads.len() as u64;
                let last = uploads.last().map(|u| (u.key.clone(), u.upload));
                let (b, lc) = (&bucket, &lc);
                let done: Vec<Result<()>> = stream::iter(uploads)
                    .map(|u| async move { self.abort_if_expired(b, lc, &u, now).await })
                    .buffer_unordered(AT_ONCE)
                    .collect()
                    .await;
                done.into_iter().collect::<Result<()>>()?;
                match last {
                    Some(l) if n as usize >= UPLOAD_BATCH => pass.at = Walking::Uploads(Some(l)),
                    _ => {
                        pass.bucket = next_bucket(table, Some(&bucket));
                        pass.at = Walking::Keys(None);
                    }
                }
                Ok((n, 0))
            }
        }
    }

    /// Does what the rules say to one key's versions; returns the bytes
    /// it transitioned.
    async fn apply_rules(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        lc: &Lifecycle,
        latest: &IndexEntry,
        noncurrent: &[IndexEntry],
        now: u64,
    ) -> Result<u64> {
        let older: Vec<VersionFacts<'_>> = noncurrent.iter().map(facts).collect();
        let st = &self.shared.background.lifecycle;
        let origin = Some(Origin::node(EventAction::Expire));
        let origin = origin.as_ref();
        let mut moved = 0;
        for action in lifecycle::plan(lc, key, &facts(latest), &older, now) {
            let (r, counter) = match action {
                Action::ExpireCurrent => {
                    let r = self
                        .delete_owned(bucket, key, None, false, Some(latest.meta.version), origin)
                        .await;
                    if let Ok(out) = &r {
                        let op = if out.delete_marker {
                            "S3.CREATE.DELETEMARKER"
                        } else {
                            EXPIRE_OP
                        };
                        log_action(bucket, key, op, Some(latest.meta.size));
                    }
                    (r.map(|_| ()), &st.expired)
                }
                Action::RemoveDeleteMarker => (
                    self.delete_owned(
                        bucket,
                        key,
                        Some(latest.meta.sel()),
                        false,
                        Some(latest.meta.version),
                        origin,
                    )
                    .await
                    .map(|_| log_action(bucket, key, EXPIRE_OP, None)),
                    &st.delete_markers_removed,
                ),
                Action::TransitionCurrent(class) => {
                    let r = self.lifecycle_transition(bucket, key, latest, class).await;
                    moved += r.as_ref().map_or(0, |n| *n);
                    (r.map(|_| ()), &st.transitioned)
                }
                Action::TransitionNoncurrent(i, class) => {
                    let r = self
                        .lifecycle_transition(bucket, key, &noncurrent[i], class)
                        .await;
                    moved += r.as_ref().map_or(0, |n| *n);
                    (r.map(|_| ()), &st.transitioned)
                }
                Action::RemoveNoncurrent(i) => {
                    let meta = &noncurrent[i].meta;
                    if lock::may_remove(meta, now_ms(), false).is_err() {
                        st.locked.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    (
                        self.delete_owned(bucket, key, Some(meta.sel()), false, None, origin)
                            .await
                            .map(|_| log_action(bucket, key, EXPIRE_OP, Some(meta.size))),
                        &st.noncurrent_removed,
                    )
                }
            };
            self.lifecycle_outcome(bucket, key, r, counter)?;
        }
        Ok(moved)
    }

    /// Moves one version to storage class `class` through the engine's own
    /// transition (object lock does not stop it: the data stays). Returns
    /// the bytes moved; a version replaced, removed or moved meanwhile is a
    /// conflict, not a failure.
    async fn lifecycle_transition(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        e: &IndexEntry,
        class: &str,
    ) -> Result<u64> {
        let id = self
            .shared
            .classes
            .id_of(class)
            .ok_or_else(|| EngineError::InvalidStorageClass(class.to_owned()))?;
        match self
            .transition_owned(bucket, key, Some(e.meta.sel()), id)
            .await
        {
            Ok(TransitionOutcome::Moved) => {
                let op = crate::bucket_logging::transition_operation(class);
                log_action(bucket, key, &op, Some(e.meta.size));
                let st = &self.shared.background.lifecycle;
                st.transitioned_bytes
                    .fetch_add(e.meta.size, Ordering::Relaxed);
                Ok(e.meta.size)
            }
            Ok(
                TransitionOutcome::Already
                | TransitionOutcome::Superseded
                | TransitionOutcome::Deduplicated,
            )
            | Err(
                EngineError::NoSuchKey | EngineError::NoSuchVersion | EngineError::DeleteMarker,
            ) => Err(EngineError::ConditionConflict),
            Err(e) => Err(e),
        }
    }

    async fn abort_if_expired(
        self: &Rc<Self>,
        bucket: &str,
        lc: &Lifecycle,
        u: &UploadListing,
        now: u64,
    ) -> Result<()> {
        if !lifecycle::upload_expired(lc, &u.key, u.created_ms, now) {
            return Ok(());
        }
        let r = match self.end_upload_owned(bucket, &u.key, u.upload, None).await {
            Err(EngineError::NoSuchUpload) => Err(EngineError::ConditionConflict),
            r => r.map(|_| log_action(bucket, &u.key, "S3.DELETE.UPLOAD", None)),
        };
        let st = &self.shared.background.lifecycle;
        self.lifecycle_outcome(bucket, &u.key, r, &st.uploads_aborted)
    }

    /// Counts what one removal did. A lock or a write that came first is
    /// no failure; any other error is counted and logged and the pass goes
    /// on (the next day's pass tries again), but a stop ends it.
    fn lifecycle_outcome(
        &self,
        bucket: &str,
        key: &str,
        r: Result<()>,
        done: &AtomicU64,
    ) -> Result<()> {
        let st = &self.shared.background.lifecycle;
        match r {
            Ok(()) => {
                done.fetch_add(1, Ordering::Relaxed);
            }
            Err(EngineError::ConditionConflict) => {}
            Err(EngineError::ObjectLocked(_)) => {
                st.locked.fetch_add(1, Ordering::Relaxed);
            }
            Err(EngineError::ShuttingDown) => return Err(EngineError::ShuttingDown),
            Err(e) => {
                st.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(core = self.core, bucket, key, error = %e, "lifecycle action failed");
            }
        }
        Ok(())
    }

    /// The partition of this core to walk now: one with a pass in
    /// progress first, else one not walked on clock day `today`.
    fn lifecycle_due(&self, today: u64) -> Result<Option<(u16, LifecycleState)>> {
        let mut best: Option<(u16, LifecycleState)> = None;
        for p in (0..self.shared.partitions).filter(|&p| self.shared.owner_of(p) == self.core) {
            let state = self.lifecycle_state_of(p)?;
            if !state.due(today) {
                continue;
            }
            if state.pass.is_some() {
                return Ok(Some((p, state)));
            }
            best.get_or_insert((p, state));
        }
        Ok(best)
    }

    fn lifecycle_state_of(&self, p: u16) -> Result<LifecycleState> {
        if let Some(s) = self.lifecycle_states.borrow().get(&p) {
            return Ok(s.clone());
        }
        let s = self.shared.indexes[p as usize].lifecycle_state()?;
        self.lifecycle_states.borrow_mut().insert(p, s.clone());
        Ok(s)
    }

    /// Changes a partition's state here and, in the background, in its
    /// index (a restart resumes from the last one stored).
    fn set_lifecycle_state(self: &Rc<Self>, p: u16, state: LifecycleState) {
        self.lifecycle_states.borrow_mut().insert(p, state.clone());
        drop(self.queue_index(p, Mutation::Lifecycle { state }));
    }

    /// Starts a pass of every partition of this core now, even one walked
    /// today (one in progress goes on).
    pub(crate) fn lifecycle_now(self: &Rc<Self>) {
        let today = self.shared.background.lifecycle.now_ms() / DAY_MS;
        for p in (0..self.shared.partitions).filter(|&p| self.shared.owner_of(p) == self.core) {
            let Ok(mut state) = self.lifecycle_state_of(p) else {
                continue;
            };
            if state.pass.is_none() {
                state.pass = Some(Pass {
                    day: today,
                    started_ms: now_ms(),
                    bucket: None,
                    at: Walking::Keys(None),
                    keys: 0,
                });
                self.set_lifecycle_state(p, state);
            }
        }
    }
}

impl Engine {
    /// Partitions with a pass in progress or not yet walked on the
    /// lifecycle clock's day (reads every partition's state); none while no
    /// bucket has an enabled rule, as then none is walked.
    pub fn lifecycle_pending(&self) -> Result<u16> {
        if next_bucket(&self.buckets(), None).is_none() {
            return Ok(0);
        }
        let today = self.shared.background.lifecycle.now_ms() / DAY_MS;
        let mut n = 0;
        for idx in &self.shared.indexes {
            if idx.lifecycle_state()?.due(today) {
                n += 1;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_round_trips_and_a_newer_one_is_refused() {
        let s = LifecycleState {
            last_day: 20_000,
            last_ended_ms: 5,
            pass: Some(Pass {
                day: 20_001,
                started_ms: 7,
                bucket: Some("b".into()),
                at: Walking::Keys(Some(Cursor::After("logs/1".into()))),
                keys: 3,
            }),
            ..LifecycleState::default()
        };
        assert_eq!(LifecycleState::decode(&s.encode()), Ok(s.clone()));
        let mut newer = s.encode();
        newer[0] = STATE_FORMAT + 1;
        assert!(LifecycleState::decode(&newer).is_err());
    }

    #[test]
    fn a_partition_is_due_once_a_day_or_while_its_pass_runs() {
        let s = LifecycleState {
            last_day: 10,
            ..LifecycleState::default()
        };
        assert!(!s.due(10));
        assert!(s.due(11));
        let running = LifecycleState {
            last_day: 10,
            pass: Some(Pass {
                day: 10,
                started_ms: 0,
                bucket: None,
                at: Walking::Keys(None),
                keys: 0,
            }),
            ..LifecycleState::default()
        };
        assert!(running.due(10));
    }
}
