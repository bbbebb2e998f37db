//! Background work's state, node-wide (atomics, no locks): whether
//! compaction, repair, scrubbing, healing and the lifecycle worker are paused, how many cores are running each, when
//! each last ran; and per core, how its last run failed. The admin API
//! reads it and pauses, resumes or starts the work; the counters of what
//! the work did are in [`super::Stats`].

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::runtime::channel::oneshot;

use super::{CoreMsg, Engine, EngineError, Result};

/// Longest kept text of a failure.
const MAX_ERROR_LEN: usize = 512;

/// One kind of background work.
#[derive(Default)]
pub struct Job {
    paused: AtomicBool,
    /// Cores running a pass now.
    running: AtomicUsize,
    /// When the last pass ended, ms since the epoch (0: never).
    last_run_ms: AtomicU64,
}

/// Which background work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    Compaction,
    Repair,
    Scrub,
    Heal,
    Lifecycle,
}

impl Work {
    /// The work's name in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Work::Compaction => "compaction",
            Work::Repair => "repair",
            Work::Scrub => "scrub",
            Work::Heal => "heal",
            Work::Lifecycle => "lifecycle",
        }
    }
}

/// A core's last failure of each kind of work: (when, what).
pub type LastErrors = [Option<(u64, String)>; 5];

/// Work run on another core with its engine handle (the admin API's way
/// to reach state a core owns).
pub type CoreJob = Box<dyn FnOnce(&Rc<Engine>) + Send>;

/// What a job is doing now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    Idle,
    Running,
    Paused,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Idle => "idle",
            JobState::Running => "running",
            JobState::Paused => "paused",
        }
    }
}

impl Job {
    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }

    pub fn state(&self) -> JobState {
        if self.paused() {
            JobState::Paused
        } else if self.running.load(Ordering::Relaxed) > 0 {
            JobState::Running
        } else {
            JobState::Idle
        }
    }

    /// When the last pass ended (ms since the epoch).
    pub fn last_run_ms(&self) -> Option<u64> {
        Some(self.last_run_ms.load(Ordering::Relaxed)).filter(|&t| t > 0)
    }

    /// Marks a pass running until the guard is dropped.
    pub fn begin(&self) -> Running<'_> {
        self.running.fetch_add(1, Ordering::Relaxed);
        Running(self)
    }
}

pub struct Running<'a>(&'a Job);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The node's background work.
pub struct Background {
    pub compaction: Job,
    pub repair: Job,
    /// Holders waiting for repair in the cores' memory queues.
    pub repair_queued: AtomicU64,
    pub scrub_job: Job,
    pub scrub: super::scrub::ScrubStats,
    pub heal_job: Job,
    pub lifecycle_job: Job,
    pub lifecycle: super::lifecycle::LifecycleStats,
    pub dedup: super::dedup::DedupStats,
}

impl Background {
    pub fn new(
        scrub_interval: std::time::Duration,
        scrub_rate: u64,
        lifecycle_rate: u64,
        dedup_grace: std::time::Duration,
    ) -> Background {
        Background {
            compaction: Job::default(),
            repair: Job::default(),
            repair_queued: AtomicU64::new(0),
            scrub_job: Job::default(),
            scrub: super::scrub::ScrubStats::new(scrub_interval, scrub_rate),
            heal_job: Job::default(),
            lifecycle_job: Job::default(),
            lifecycle: super::lifecycle::LifecycleStats::new(lifecycle_rate),
            dedup: super::dedup::DedupStats::new(dedup_grace),
        }
    }

    pub fn job(&self, w: Work) -> &Job {
        match w {
            Work::Compaction => &self.compaction,
            Work::Repair => &self.repair,
            Work::Scrub => &self.scrub_job,
            Work::Heal => &self.heal_job,
            Work::Lifecycle => &self.lifecycle_job,
        }
    }
}

fn clip(mut e: String) -> String {
    if e.len() > MAX_ERROR_LEN {
        let mut cut = MAX_ERROR_LEN;
        while !e.is_char_boundary(cut) {
            cut -= 1;
        }
        e.truncate(cut);
    }
    e
}

/// What a core is asked to do about its background work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackgroundMsg {
    /// Start a compaction pass now unless one is running (or paused).
    Compact,
    /// Repair was resumed: drain the queue.
    ResumeRepair,
    /// A drive is back: take up the repairs that wait for it.
    DriveBack,
    /// Start a scrub pass of every partition now.
    Scrub,
    /// Start a lifecycle pass of every partition now.
    Lifecycle,
    /// This drive was formatted into its slot at run time (it came back
    /// empty): forget its old segments; it is healed once back online.
    DriveFormatted(u16),
}

impl Engine {
    /// A pass of `w` on this core ended, with `error` if it failed.
    pub(crate) fn background_ended(&self, w: Work, error: Option<String>) {
        let now = super::now_ms().max(1);
        self.shared
            .background
            .job(w)
            .last_run_ms
            .store(now, Ordering::Relaxed);
        if let Some(e) = error {
            self.last_errors.borrow_mut()[w as usize] = Some((now, clip(e)));
        }
    }

    /// Runs `step` over and over in a task of this core, for as long as
    /// the engine lives and is not stopping, sleeping between steps as long
    /// as the step says (`idle` after a failure, which is noted as `w`'s).
    /// `busy` is the flag `quiesce` waits on while a step runs.
    pub(crate) fn spawn_background_loop<S, F>(
        self: &Rc<Self>,
        w: Work,
        busy: fn(&Engine) -> &Cell<bool>,
        idle: Duration,
        step: S,
    ) where
        S: Fn(Rc<Engine>) -> F + 'static,
        F: Future<Output = Result<Duration>>,
    {
        let weak = Rc::downgrade(self);
        crate::runtime::spawn(async move {
            loop {
                let Some(e) = weak.upgrade() else { break };
                if e.stopping.get() {
                    break;
                }
                busy(&e).set(true);
                let r = step(e.clone()).await;
                busy(&e).set(false);
                let wait = match r {
                    Ok(wait) => wait,
                    Err(err) => {
                        e.background_ended(w, Some(err.to_string()));
                        tracing::warn!(core = e.core, error = %err, "{} failed", w.as_str());
                        idle
                    }
                };
                // Not held while asleep: the engine may be dropped meanwhile.
                drop(e);
                crate::runtime::sleep(wait).await;
            }
        });
    }

    /// This core's last failures.
    pub fn last_errors(&self) -> LastErrors {
        self.last_errors.borrow().clone()
    }

    /// Runs `f` on core `core` with its engine handle and returns what it
    /// returns (waits for room in the core's inbox).
    pub async fn run_on<R: Send + 'static>(
        self: &Rc<Self>,
        core: usize,
        f: impl FnOnce(&Rc<Engine>) -> R + Send + 'static,
    ) -> Result<R> {
        if core == self.core {
            return Ok(f(self));
        }
        let inbox = self
            .shared
            .inboxes
            .get(core)
            .ok_or_else(|| EngineError::Internal(format!("no core {core}")))?;
        let (tx, rx) = oneshot::channel();
        let job: CoreJob = Box::new(move |e| {
            let _ = tx.send(f(e));
        });
        inbox
            .send(CoreMsg::Run(job))
            .await
            .map_err(|_| EngineError::Internal(format!("core {core} has stopped")))?;
        rx.await
            .map_err(|_| EngineError::Internal(format!("core {core} has stopped")))
    }

    /// Asks every core (this one included) to do `msg`. Best effort: a core
    /// whose inbox is full misses it, and a later tick catches up.
    pub fn tell_every_core(&self, msg: BackgroundMsg) -> usize {
        self.shared
            .inboxes
            .iter()
            .filter(|tx| tx.try_send(CoreMsg::Background(msg)).is_ok())
            .count()
    }

    pub(crate) fn on_background(self: &Rc<Self>, msg: BackgroundMsg) {
        match msg {
            BackgroundMsg::Compact => {
                if !self.compacting.get() && !self.shared.background.compaction.paused() {
                    let me = self.clone();
                    crate::runtime::spawn(async move { me.compaction_pass().await });
                }
            }
            BackgroundMsg::ResumeRepair => self.start_repairs(),
            BackgroundMsg::DriveBack => self.reload_repairs(true),
            BackgroundMsg::Scrub => self.scrub_now(),
            BackgroundMsg::Lifecycle => self.lifecycle_now(),
            BackgroundMsg::DriveFormatted(d) => self.drive_formatted(d),
        }
    }

    /// One compaction pass of this core, unless one is running or compaction
    /// is paused.
    pub(crate) async fn compaction_pass(self: &Rc<Self>) {
        let job = &self.shared.background.compaction;
        if self.compacting.get() || job.paused() {
            return;
        }
        self.compacting.set(true);
        let running = job.begin();
        let r = self.compact(super::COMPACTION_MIN_DEAD).await;
        drop(running);
        self.compacting.set(false);
        match r {
            Ok(r) if r.segments_removed > 0 => {
                tracing::info!(core = self.core, report = ?r, "compaction");
                let shared = self.shared.clone();
                let _ = self
                    .companion
                    .run(move || shared.space.refresh(&shared.online_drives()))
                    .await;
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(core = self.core, error = %err, "compaction failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_reports_paused_over_running() {
        let j = Job::default();
        assert_eq!(j.state(), JobState::Idle);
        assert_eq!(j.last_run_ms(), None);
        let r = j.begin();
        assert_eq!(j.state(), JobState::Running);
        j.set_paused(true);
        assert_eq!(j.state(), JobState::Paused);
        drop(r);
        j.set_paused(false);
        assert_eq!(j.state(), JobState::Idle);
    }

    #[test]
    fn an_error_text_is_clipped_on_a_character_boundary() {
        let e = clip("é".repeat(MAX_ERROR_LEN));
        assert!(e.len() <= MAX_ERROR_LEN && e.len() >= MAX_ERROR_LEN - 1);
        assert_eq!(clip("short".into()), "short");
    }
}
