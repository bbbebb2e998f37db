//! The scrubber: each core walks its own partitions' indexes and checks
//! every record that every holder keeps (commit copies with inline data,
//! shards of objects and of parts, tombstones, upload records), with
//! `repair_holder`, which also rewrites what is bad. A partition is
//! scrubbed once per interval (`--scrub-interval`), at a bounded rate of
//! reads per drive (`--scrub-rate`, shared out among the cores) and behind
//! client requests: it yields while this core has reads or writes in
//! flight. Where each partition's pass is, is kept in its index, so a pass
//! resumes after a restart. The system store (buckets, identities,
//! settings) is checked by core 0 once per pass of its first partition.

use std::rc::Rc;

use futures_util::stream::{FuturesUnordered, StreamExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::runtime::Instant;

use super::index::{Held, Holder, Mutation, RepairNote, ScrubPass, ScrubPos, ScrubState};
use super::pace::{busiest_drive_bytes, core_share, Pacer};
use super::repair::Checked;
use super::{now_ms, Engine, Result, Shared};

/// A full pass of every partition once a week, as the issue asks.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(7 * 24 * 3600);
/// 32 MiB/s per drive: a 10 TB drive in about 3.6 days, and little of an
/// NVMe drive's bandwidth.
pub const DEFAULT_RATE: u64 = 32 << 20;
/// Holders checked between two looks at the pacing and the clients.
const BATCH: usize = 16;
/// How long the scrubber waits when no partition is due.
const IDLE: Duration = Duration::from_secs(1);
/// How long it yields to client requests, each time, and at most in a row
/// (so a busy core still scrubs, slowly).
const YIELD: Duration = Duration::from_millis(5);
const YIELD_MAX: u32 = 20;

/// The scrub settings and what scrubbing did, node-wide (atomics; the
/// admin API changes the settings at run time).
pub struct ScrubStats {
    /// Milliseconds between the starts of a partition's passes; 0: off.
    pub interval_ms: AtomicU64,
    /// Bytes per second read from each drive, over all cores; 0: no limit.
    pub rate: AtomicU64,
    pub holders: AtomicU64,
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    /// Records found corrupt or missing, rewritten, and lost.
    pub bad: AtomicU64,
    pub repaired: AtomicU64,
    pub lost: AtomicU64,
    /// Partition passes finished.
    pub passes: AtomicU64,
}

impl ScrubStats {
    pub fn new(interval: Duration, rate: u64) -> ScrubStats {
        ScrubStats {
            interval_ms: AtomicU64::new(interval.as_millis() as u64),
            rate: AtomicU64::new(rate),
            holders: AtomicU64::new(0),
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            bad: AtomicU64::new(0),
            repaired: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            passes: AtomicU64::new(0),
        }
    }

    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms.load(Ordering::Relaxed))
    }
}

/// How a walk goes: holders taken from the index per batch, checked at
/// once, and on which drives only (see `Engine::repair_holder`).
pub(crate) struct Walk<'a> {
    pub limit: usize,
    pub suspect: Option<&'a [u16]>,
    /// Bytes a second per drive over all cores (0: no limit), and this
    /// core's clock that spaces the holders at that rate, one at a time.
    pub rate: u64,
    pub pacer: &'a Pacer,
    /// Holders at once and their rate while the node has no clients (see
    /// `clients::Quiet`): healing refills a drive at the drives' speed
    /// when nobody waits. None: `rate` always (scrubbing).
    pub when_quiet: Option<(usize, u64)>,
}

/// What one batch of a walk did.
pub(crate) struct Walked {
    /// Where the walk is (None: it reached the end).
    pub next: Option<ScrubPos>,
    /// Holders taken from the index (checked or not).
    pub holders: u64,
}

/// Where the node's scrub is, from every partition's state.
#[derive(Clone, Debug, PartialEq)]
pub struct ScrubProgress {
    /// Share of the partitions' current round done, 0 to 1.
    pub progress: f64,
    /// Partitions with a pass in progress.
    pub scrubbing: u16,
    /// When the least recently scrubbed partition's last pass began (ms;
    /// None while some partition was never scrubbed).
    pub oldest_pass_ms: Option<u64>,
    /// When the latest pass of any partition ended (ms).
    pub last_ended_ms: Option<u64>,
}

/// Node progress from each partition's state and entry count at `now`.
pub fn progress(states: &[(ScrubState, u64)], interval_ms: u64, now: u64) -> ScrubProgress {
    let mut sum = 0.0;
    let mut scrubbing = 0;
    for (s, total) in states {
        sum += match &s.pass {
            Some(p) => {
                scrubbing += 1;
                if *total == 0 {
                    0.0
                } else {
                    (p.done as f64 / *total as f64).min(1.0)
                }
            }
            None if s.last_ended_ms > 0 && now < s.last_started_ms.saturating_add(interval_ms) => {
                1.0
            }
            None => 0.0,
        };
    }
    let never = states.iter().any(|(s, _)| s.last_ended_ms == 0);
    ScrubProgress {
        progress: if states.is_empty() {
            1.0
        } else {
            sum / states.len() as f64
        },
        scrubbing,
        oldest_pass_ms: if never {
            None
        } else {
            states.iter().map(|(s, _)| s.last_started_ms).min()
        },
        last_ended_ms: states
            .iter()
            .map(|(s, _)| s.last_ended_ms)
            .filter(|&t| t > 0)
            .max(),
    }
}

/// Whether a partition in `state` is due for a pass at `now`; a partition
/// never seen by the scrubber is first due one interval after it is.
fn due(state: &ScrubState, interval_ms: u64, now: u64) -> bool {
    state.pass.is_some()
        || (state.last_started_ms > 0 && now >= state.last_started_ms.saturating_add(interval_ms))
}

impl Engine {
    /// Starts this core's scrubber.
    pub(crate) fn start_scrubber(self: &Rc<Self>) {
        self.spawn_background_loop(
            super::background::Work::Scrub,
            |e| &e.scrubbing,
            IDLE,
            |e| async move { e.scrub_step().await },
        );
    }

    /// One batch of the current pass (starting one if a partition is due);
    /// returns how long to wait before the next batch.
    async fn scrub_step(self: &Rc<Self>) -> Result<Duration> {
        let bg = &self.shared.background;
        let interval_ms = bg.scrub.interval_ms.load(Ordering::Relaxed);
        if interval_ms == 0 || bg.scrub_job.paused() {
            return Ok(IDLE);
        }
        let now = now_ms();
        let Some((p, mut state)) = self.scrub_due(interval_ms, now)? else {
            return Ok(IDLE);
        };
        let mut pass = state.pass.take().unwrap_or(ScrubPass {
            started_ms: now,
            at: None,
            done: 0,
        });
        let _running = bg.scrub_job.begin();
        let st = &bg.scrub;
        let walked = self
            .walk_batch(
                p,
                pass.at.as_ref(),
                Walk {
                    limit: BATCH,
                    suspect: None,
                    rate: st.rate.load(Ordering::Relaxed),
                    pacer: &self.scrub_pacer,
                    when_quiet: None,
                },
                |_| true,
                |c| {
                    st.records.fetch_add(c.records, Ordering::Relaxed);
                    st.bytes
                        .fetch_add(c.drive_bytes.iter().sum(), Ordering::Relaxed);
                    st.bad.fetch_add(c.bad, Ordering::Relaxed);
                    st.repaired.fetch_add(c.repaired, Ordering::Relaxed);
                    st.lost.fetch_add(c.lost, Ordering::Relaxed);
                },
            )
            .await?;
        st.holders.fetch_add(walked.holders, Ordering::Relaxed);
        pass.done += walked.holders;
        pass.at = walked.next;
        if pass.at.is_none() {
            state.last_started_ms = pass.started_ms;
            state.last_ended_ms = now_ms();
            bg.scrub.passes.fetch_add(1, Ordering::Relaxed);
            if p == 0 {
                self.check_system_store();
            }
        } else {
            state.pass = Some(pass);
        }
        self.set_scrub_state(p, state);
        self.background_ended(super::background::Work::Scrub, None);
        Ok(Duration::ZERO)
    }

    /// One batch of a walk of partition `p`'s holders after `at` (the
    /// scrubber's and the healer's): up to `limit` holders from the index;
    /// each that `pick` keeps is checked and repaired (`repair_holder`, on
    /// the `suspect` drives only if given)
    /// behind client requests, and `seen` gets what was found. A repair
    /// that waits for a drive is remembered. Up to `parallel` holders are
    /// checked at once (their reads, syncs and index changes overlap).
    pub(crate) async fn walk_batch(
        self: &Rc<Self>,
        p: u16,
        at: Option<&ScrubPos>,
        how: Walk<'_>,
        mut pick: impl FnMut(&Held) -> bool,
        mut seen: impl FnMut(&Checked),
    ) -> Result<Walked> {
        let idx = &self.shared.indexes[p as usize];
        let (holders, next) = idx.scrub_next(at, how.limit)?;
        let w = Walked {
            next,
            holders: holders.len() as u64,
        };
        let suspect = how.suspect;
        let mut queue = holders.into_iter();
        let mut running = FuturesUnordered::new();
        let mut failed = None;
        loop {
            // Holders start in index order, each at its booked turn.
            loop {
                let now = Instant::now();
                let quiet = how
                    .when_quiet
                    .filter(|_| how.pacer.quiet.is_quiet(&self.shared.clients, now));
                let (rate, parallel) = quiet.map_or((how.rate, 1), |(p, r)| (r, p.max(1)));
                let is_quiet = quiet.is_some();
                let share = core_share(rate, self.shared.cores);
                if failed.is_some() || running.len() >= parallel {
                    break;
                }
                let Some((bucket, key, holder)) = queue.next() else {
                    break;
                };
                let held = match idx.held(&bucket, &key, holder) {
                    Ok(Some(held)) if pick(&held) => held,
                    Ok(_) => continue,
                    Err(e) => {
                        failed = Some(e.into());
                        break;
                    }
                };
                let bytes = busiest_drive_bytes(&held, suspect);
                let start = how.pacer.book(bytes, share, now);
                running.push(async move {
                    if start > Instant::now() {
                        crate::runtime::sleep_until(start).await;
                    }
                    self.yield_to_clients().await;
                    let c = self
                        .repair_holder(&bucket, &key, holder, suspect, is_quiet)
                        .await;
                    (bucket, key, holder, c)
                });
            }
            // Each one started is awaited, even after a failure: a repair
            // dropped halfway would leave its records unsynced.
            let Some((bucket, key, holder, c)) = running.next().await else {
                break;
            };
            let c = match c {
                Ok(c) => c,
                Err(e) => {
                    failed.get_or_insert(e);
                    continue;
                }
            };
            seen(&c);
            if !c.waiting_for.is_empty() {
                self.remember_repair(&bucket, &key, holder, c.waiting_for);
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(w),
        }
    }

    /// The partition of this core to scrub now, if one is due. A partition
    /// never seen before is marked seen, so it is due one interval later.
    fn scrub_due(self: &Rc<Self>, interval_ms: u64, now: u64) -> Result<Option<(u16, ScrubState)>> {
        let mut best: Option<(u16, ScrubState)> = None;
        for p in (0..self.shared.partitions).filter(|&p| self.shared.owner_of(p) == self.core) {
            let state = self.scrub_state_of(p)?;
            if state.last_started_ms == 0 && state.pass.is_none() {
                let seen = ScrubState {
                    last_started_ms: now,
                    ..ScrubState::default()
                };
                self.set_scrub_state(p, seen);
                continue;
            }
            if !due(&state, interval_ms, now) {
                continue;
            }
            // A pass in progress first, then the longest unscrubbed.
            let better = match &best {
                None => true,
                Some((_, b)) => {
                    (
                        state.pass.is_some(),
                        std::cmp::Reverse(state.last_started_ms),
                    ) > (b.pass.is_some(), std::cmp::Reverse(b.last_started_ms))
                }
            };
            if better {
                best = Some((p, state));
            }
        }
        Ok(best)
    }

    /// A partition's scrub state: this core's copy (it alone changes it),
    /// read from the index the first time.
    fn scrub_state_of(&self, p: u16) -> Result<ScrubState> {
        if let Some(s) = self.scrub_states.borrow().get(&p) {
            return Ok(s.clone());
        }
        let s = self.shared.indexes[p as usize].scrub_state()?;
        self.scrub_states.borrow_mut().insert(p, s.clone());
        Ok(s)
    }

    /// Changes a partition's scrub state here and, in the background, in
    /// its index (a restart resumes from the last one stored).
    fn set_scrub_state(self: &Rc<Self>, p: u16, state: ScrubState) {
        self.scrub_states.borrow_mut().insert(p, state.clone());
        drop(self.queue_index(p, Mutation::Scrub { state }));
    }

    /// Waits while client requests are in flight on this core, a little
    /// at a time and not forever.
    pub(super) async fn yield_to_clients(&self) {
        for _ in 0..YIELD_MAX {
            if !self.shared.core_busy(self.core) {
                return;
            }
            crate::runtime::sleep(YIELD).await;
        }
    }

    /// Remembers a repair the scrubber could not finish (drives away).
    fn remember_repair(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        holder: Holder,
        waiting_for: Vec<u16>,
    ) {
        let p = self.shared.partition_of(bucket, key);
        let note = RepairNote {
            queued_ms: now_ms(),
            waiting_for,
        };
        drop(self.queue_index(
            p,
            Mutation::NoteRepair {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                holder,
                note: Some(note),
            },
        ));
    }

    /// Checks the system store's copies on every online drive (on the
    /// companion thread: plain file I/O) and counts what it found.
    pub(crate) fn check_system_store(self: &Rc<Self>) {
        let drives: Vec<std::path::PathBuf> = self
            .shared
            .online_drives()
            .into_iter()
            .map(|d| self.shared.set.drives[d].path.clone())
            .collect();
        let me = self.clone();
        crate::runtime::spawn(async move {
            let job = me.companion.run(move || super::sysfiles::check(&drives));
            if let Ok(c) = job.await {
                let st = &me.shared.background.scrub;
                st.records.fetch_add(c.copies, Ordering::Relaxed);
                st.bytes.fetch_add(c.bytes, Ordering::Relaxed);
                st.bad.fetch_add(c.bad, Ordering::Relaxed);
                st.repaired.fetch_add(c.repaired, Ordering::Relaxed);
            }
        });
    }

    /// Starts a pass of every partition of this core now.
    pub(crate) fn scrub_now(self: &Rc<Self>) {
        for p in (0..self.shared.partitions).filter(|&p| self.shared.owner_of(p) == self.core) {
            let Ok(mut state) = self.scrub_state_of(p) else {
                continue;
            };
            if state.pass.is_none() {
                state.pass = Some(ScrubPass {
                    started_ms: now_ms(),
                    at: None,
                    done: 0,
                });
                self.set_scrub_state(p, state);
            }
        }
    }
}

impl Shared {
    /// Where the node's scrub is (reads every partition's state).
    pub fn scrub_progress(&self) -> Result<ScrubProgress> {
        let mut states = Vec::with_capacity(self.indexes.len());
        for idx in &self.indexes {
            states.push((idx.scrub_state()?, idx.scrub_total()?));
        }
        let interval = self.background.scrub.interval_ms.load(Ordering::Relaxed);
        Ok(progress(&states, interval, now_ms()))
    }

    /// Repairs remembered in the indexes, not yet done.
    pub fn repairs_remembered(&self) -> Result<u64> {
        let mut n = 0;
        for idx in &self.indexes {
            n += idx.repairs_len()?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_is_due_one_interval_after_its_last_pass_began() {
        let s = ScrubState {
            last_started_ms: 1_000,
            last_ended_ms: 1_500,
            pass: None,
        };
        assert!(!due(&s, 10_000, 10_999));
        assert!(due(&s, 10_000, 11_000));
        // Never seen: not due until marked seen.
        assert!(!due(&ScrubState::default(), 10_000, u64::MAX));
        // A pass in progress is always due.
        let s = ScrubState {
            pass: Some(ScrubPass::default()),
            ..ScrubState::default()
        };
        assert!(due(&s, 10_000, 0));
    }

    #[test]
    fn progress_counts_partitions_done_this_round_and_the_one_in_progress() {
        let done = ScrubState {
            last_started_ms: 100,
            last_ended_ms: 200,
            pass: None,
        };
        let half = ScrubState {
            last_started_ms: 50,
            last_ended_ms: 60,
            pass: Some(ScrubPass {
                started_ms: 300,
                at: None,
                done: 5,
            }),
        };
        let stale = ScrubState {
            last_started_ms: 10,
            last_ended_ms: 20,
            pass: None,
        };
        let p = progress(&[(done, 4), (half, 10), (stale, 7)], 1_000, 1_050);
        assert!((p.progress - 0.5).abs() < 1e-9, "{p:?}");
        assert_eq!(p.scrubbing, 1);
        assert_eq!(p.oldest_pass_ms, Some(10));
        assert_eq!(p.last_ended_ms, Some(200));
        // A partition never scrubbed leaves no oldest pass.
        let p = progress(&[(ScrubState::default(), 0)], 1_000, 900);
        assert_eq!(p.oldest_pass_ms, None);
        assert_eq!(p.progress, 0.0);
    }
}
