//! Healing: refilling a drive that came back empty (or was replaced by a
//! new one) from the others. Start-up formats an empty drive into its slot
//! (`format::open_set`), and so does its probe at run time
//! (`health::probe_loop`); either marks it *healing*. Each core then walks
//! its partitions with the scrubber's walker (`Engine::walk_batch`) and
//! repairs every holder with a record on a healing drive (or short of
//! redundancy), at a bounded rate (`--heal-rate`) and behind client
//! requests. When every partition's walk has finished for a drive, its heal
//! is over.
//!
//! What survives a restart: the healing drives, node-wide, in `heal.json`
//! on every drive (the copy of the highest generation wins), and each
//! partition's walk in its index (`PartitionHeal`, `meta` key `heal`). A
//! rebuilt index forgets its walk: the partition is walked again.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::format_version::{json_format, JsonError, NewerFormat};

use super::format::META_DIR;
use super::index::{Held, Mutation, ScrubPos};
use super::layout::Layout;
use super::{now_ms, Engine, Result, Shared};

/// The heal file, in every drive's `.cairn/`.
pub const HEAL_FILE: &str = "heal.json";
/// Format of `heal.json`.
pub const HEAL_FORMAT: u32 = 1;
/// Format of a partition's heal state (`PartitionHeal`) in its index.
pub const PARTITION_HEAL_FORMAT: u8 = 1;
/// Per drive while clients are served: 32 MiB/s cost a busy client's p99
/// 20% here (perf/heal.sh). A node with no clients heals flat out.
pub const DEFAULT_RATE: u64 = 32 << 20;
/// Holders taken from the index per batch: most of a walk skips holders
/// with nothing on the healing drives, which costs one index read each.
const BATCH: usize = 64;
/// Holders a core heals at once on a quiet node: one at a time, each
/// waits for its reads, its fdatasync and its index change in turn (26
/// MB/s measured here).
const PARALLEL: usize = 16;
/// How long a core waits when it has nothing to heal.
const IDLE: Duration = Duration::from_millis(500);

/// One heal of one drive: the drive and when its heal began.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HealId {
    pub drive: u16,
    pub since_ms: u64,
}

/// `heal.json`: the drives being healed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealFile {
    pub format: u32,
    /// Raised by every write: start-up takes the copy with the highest.
    pub generation: u64,
    pub drives: Vec<HealId>,
}

impl HealFile {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a heal file serialises")
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<HealFile, JsonError> {
        json_format(HEAL_FILE, bytes, HEAL_FORMAT)?;
        serde_json::from_slice(bytes).map_err(|source| JsonError::Malformed {
            what: HEAL_FILE,
            source,
        })
    }
}

/// A partition's heal, in its index: the walk in progress and the heals it
/// has finished.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionHeal {
    pub format: u8,
    pub pass: Option<HealPass>,
    /// Heals whose walk of this partition finished.
    pub done: Vec<HealId>,
}

/// A walk of a partition for some heals: where it is, holders walked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealPass {
    pub heals: Vec<HealId>,
    pub at: Option<ScrubPos>,
    pub walked: u64,
}

impl PartitionHeal {
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("a heal state serialises")
    }

    /// Decodes a stored state; one of a newer format is refused.
    pub fn decode(bytes: &[u8]) -> std::result::Result<PartitionHeal, String> {
        let format = *bytes.first().ok_or("empty heal state")?;
        NewerFormat::check(
            "partition heal state",
            u32::from(format),
            u32::from(PARTITION_HEAL_FORMAT),
        )
        .map_err(|e| e.to_string())?;
        postcard::from_bytes(bytes).map_err(|e| format!("heal state: {e}"))
    }

    /// Whether this partition's walk has finished for `heal`.
    pub fn finished(&self, heal: HealId) -> bool {
        self.done.contains(&heal)
    }

    /// The walk to go on with for the heals `ready` now (their drive is
    /// online): the one in progress, for those of its heals still ready (a
    /// drive that went offline missed what is walked meanwhile and is not
    /// done here), or a new one from the start when a heal began or came
    /// back since (the part already walked has not looked for its drive).
    pub fn next_pass(&mut self, ready: &[HealId]) -> HealPass {
        let due: Vec<HealId> = ready
            .iter()
            .copied()
            .filter(|h| !self.finished(*h))
            .collect();
        match self.pass.take() {
            Some(mut pass) if due.iter().all(|h| pass.heals.contains(h)) => {
                pass.heals.retain(|h| due.contains(h));
                pass
            }
            _ => HealPass {
                heals: due,
                at: None,
                walked: 0,
            },
        }
    }

    /// The walk `pass` reached the end: its heals are done here (and only
    /// those of `current` heals stay recorded).
    pub fn finish(&mut self, pass: HealPass, current: &[HealId]) {
        self.done.retain(|h| current.contains(h));
        for h in pass.heals {
            if !self.done.contains(&h) {
                self.done.push(h);
            }
        }
        self.pass = None;
    }
}

/// The node's heals (atomics; `heal.json` is written by core 0 only).
pub struct Healing {
    /// Per drive: when its heal began (ms), 0 when it is not healing.
    since: Vec<AtomicU64>,
    /// Per drive: cores that sealed their segments on it after it was
    /// formatted at run time (it comes back online once all have).
    sealed: Vec<AtomicUsize>,
    /// Per drive: records and bytes healing wrote back.
    records: Vec<AtomicU64>,
    bytes: Vec<AtomicU64>,
    /// Bytes per second healing reads or writes per drive while clients
    /// are served, and on a quiet node; 0: no limit.
    pub rate: AtomicU64,
    pub idle_rate: AtomicU64,
    /// Holders walked, and those that had something to heal.
    pub holders: AtomicU64,
    pub holders_healed: AtomicU64,
    /// Records healing found lost (too few good ones left).
    pub lost: AtomicU64,
    /// Reads that met a record a healing drive does not have yet.
    pub not_yet_healed: AtomicU64,
    /// Heals finished.
    pub finished: AtomicU64,
    generation: AtomicU64,
    /// When this run started (ms): `bytes` count from then.
    started_ms: u64,
}

impl Healing {
    /// `rates`: per drive while clients are served, and on a quiet node.
    pub fn new(drives: usize, rates: (u64, u64), file: &HealFile) -> Healing {
        let h = Healing {
            since: (0..drives).map(|_| AtomicU64::new(0)).collect(),
            sealed: (0..drives).map(|_| AtomicUsize::new(0)).collect(),
            records: (0..drives).map(|_| AtomicU64::new(0)).collect(),
            bytes: (0..drives).map(|_| AtomicU64::new(0)).collect(),
            rate: AtomicU64::new(rates.0),
            idle_rate: AtomicU64::new(rates.1),
            holders: AtomicU64::new(0),
            holders_healed: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            not_yet_healed: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            generation: AtomicU64::new(file.generation),
            started_ms: now_ms(),
        };
        for id in &file.drives {
            if let Some(s) = h.since.get(id.drive as usize) {
                s.store(id.since_ms, Ordering::Relaxed);
            }
        }
        h
    }

    /// The heal of drive `d`, if it is healing.
    pub fn of(&self, d: usize) -> Option<HealId> {
        let since = self.since.get(d)?.load(Ordering::Relaxed);
        (since > 0).then_some(HealId {
            drive: d as u16,
            since_ms: since,
        })
    }

    pub fn is_healing(&self, d: usize) -> bool {
        self.of(d).is_some()
    }

    /// Every heal in progress.
    pub fn heals(&self) -> Vec<HealId> {
        (0..self.since.len()).filter_map(|d| self.of(d)).collect()
    }

    /// Drive `d` starts healing now (it was just formatted into its slot).
    pub fn begin(&self, d: usize, now_ms: u64) -> HealId {
        self.sealed[d].store(0, Ordering::Relaxed);
        let since_ms = now_ms.max(1);
        self.since[d].store(since_ms, Ordering::Relaxed);
        HealId {
            drive: d as u16,
            since_ms,
        }
    }

    /// A core sealed its segments on drive `d`; returns how many have.
    pub fn note_sealed(&self, d: usize) -> usize {
        self.sealed[d].fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn sealed(&self, d: usize) -> usize {
        self.sealed[d].load(Ordering::Relaxed)
    }

    /// Ends `heal` if it is still the drive's heal; true if it did.
    fn end(&self, heal: HealId) -> bool {
        self.since[heal.drive as usize]
            .compare_exchange(heal.since_ms, 0, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// The heal file as it should be now, one generation on.
    fn next_file(&self) -> HealFile {
        HealFile {
            format: HEAL_FORMAT,
            generation: self.generation.fetch_add(1, Ordering::Relaxed) + 1,
            drives: self.heals(),
        }
    }

    fn wrote(&self, d: usize, records: u64, bytes: u64) {
        self.records[d].fetch_add(records, Ordering::Relaxed);
        self.bytes[d].fetch_add(bytes, Ordering::Relaxed);
    }
}

/// The newest heal file on `drives` (none: nothing is healing). A copy of a
/// newer format stops start-up: this binary cannot know what it says.
pub fn load(drives: &[&Path]) -> std::result::Result<HealFile, String> {
    let mut best = HealFile {
        format: HEAL_FORMAT,
        ..HealFile::default()
    };
    for d in drives {
        let p = d.join(META_DIR).join(HEAL_FILE);
        let bytes = match std::fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                tracing::warn!(file = %p.display(), error = %e, "cannot read the heal file");
                continue;
            }
        };
        match HealFile::decode(&bytes) {
            Ok(f) if f.generation > best.generation => best = f,
            Ok(_) => {}
            Err(JsonError::Newer(n)) => return Err(format!("{}: {n}", p.display())),
            Err(e) => {
                tracing::warn!(file = %p.display(), error = %e, "heal file unreadable, ignored")
            }
        }
    }
    Ok(best)
}

/// Writes `file` durably to every drive of `drives`; succeeds when one
/// copy was written. Blocking.
pub fn store(drives: &[PathBuf], file: &HealFile) -> std::io::Result<()> {
    let bytes = file.encode();
    let mut last = None;
    let mut wrote = 0;
    for d in drives {
        let p = d.join(META_DIR).join(HEAL_FILE);
        match crate::runtime::file::write_file_durable(&p, &bytes) {
            Ok(()) => wrote += 1,
            Err(e) => {
                tracing::warn!(file = %p.display(), error = %e, "cannot write the heal file");
                last = Some(e);
            }
        }
    }
    match (wrote, last) {
        (0, Some(e)) => Err(e),
        _ => Ok(()),
    }
}

/// Whether `held` keeps a record on one of `drives`, or is short of full
/// redundancy (a record its drive lost is forgotten by a rebuilt index).
pub fn touches(held: &Held, drives: &[u16], want_copies: usize) -> bool {
    if held.copies.len() < want_copies || held.copies.iter().any(|l| drives.contains(&l.drive)) {
        return true;
    }
    held.sets.iter().any(|set| {
        let layout = Layout {
            data: set.layout.0,
            parity: set.layout.1,
        };
        set.stripes.iter().any(|stripe| {
            // An empty slot is short of redundancy wherever it belongs.
            (0..layout.total()).any(|i| {
                stripe
                    .get(i)
                    .copied()
                    .flatten()
                    .is_none_or(|l| drives.contains(&l.drive))
            })
        })
    })
}

/// Where one drive's heal is.
#[derive(Clone, Debug, PartialEq)]
pub struct HealProgress {
    pub drive: u16,
    pub since_ms: u64,
    /// Partitions whose walk finished for this heal, of all.
    pub partitions_done: u16,
    pub partitions: u16,
    /// Share done, 0 to 1 (finished partitions and the walks in progress).
    pub fraction: f64,
    /// Records and bytes written back to the drive (this run).
    pub records: u64,
    pub bytes: u64,
    /// Bytes per second written back over this run.
    pub rate: f64,
    /// Seconds left at the pace so far (None until some is done).
    pub eta_seconds: Option<u64>,
    /// Whether the drive is online (a heal waits while it is not).
    pub online: bool,
}

/// The share of one partition's walk done for `heal`.
fn partition_fraction(state: &PartitionHeal, heal: HealId, total: u64) -> f64 {
    if state.finished(heal) {
        return 1.0;
    }
    match &state.pass {
        Some(p) if p.heals.contains(&heal) && total > 0 => {
            (p.walked as f64 / total as f64).min(0.99)
        }
        _ => 0.0,
    }
}

impl Shared {
    /// Where every heal is (reads each partition's state). For the admin
    /// API, the metrics, `/health/ready` and the console.
    pub fn heal_progress(&self) -> Result<Vec<HealProgress>> {
        let heals = self.heal.heals();
        if heals.is_empty() {
            return Ok(Vec::new());
        }
        let mut states = Vec::with_capacity(self.indexes.len());
        for idx in &self.indexes {
            states.push((idx.heal_state()?, idx.scrub_total()?));
        }
        let now = now_ms();
        Ok(heals
            .into_iter()
            .map(|h| {
                let d = h.drive as usize;
                let done = states.iter().filter(|(s, _)| s.finished(h)).count() as u16;
                let sum: f64 = states
                    .iter()
                    .map(|(s, t)| partition_fraction(s, h, *t))
                    .sum();
                let fraction = if states.is_empty() {
                    1.0
                } else {
                    sum / states.len() as f64
                };
                let bytes = self.heal.bytes[d].load(Ordering::Relaxed);
                let elapsed = now.saturating_sub(h.since_ms) as f64 / 1000.0;
                // This run's bytes over this run's share of the heal.
                let secs = now.saturating_sub(h.since_ms.max(self.heal.started_ms)) as f64 / 1000.0;
                let eta = (fraction > 0.0)
                    .then(|| (elapsed * (1.0 - fraction) / fraction).round() as u64);
                HealProgress {
                    drive: h.drive,
                    since_ms: h.since_ms,
                    partitions_done: done,
                    partitions: self.partitions,
                    fraction,
                    records: self.heal.records[d].load(Ordering::Relaxed),
                    bytes,
                    rate: bytes as f64 / secs.max(1e-3),
                    eta_seconds: eta,
                    online: self.drive_online(d),
                }
            })
            .collect())
    }

    /// Records the heal file now says, to every drive that takes writes
    /// (blocking).
    fn store_heal_file(&self) -> std::io::Result<()> {
        let file = self.heal.next_file();
        let drives: Vec<PathBuf> = (0..self.set.drives.len())
            .filter(|&d| self.drive_online(d) || self.heal.is_healing(d))
            .map(|d| self.set.drives[d].path.clone())
            .collect();
        store(&drives, &file)
    }
}

impl Engine {
    /// Starts this core's healer.
    pub(crate) fn start_healer(self: &Rc<Self>) {
        self.spawn_background_loop(
            super::background::Work::Heal,
            |e| &e.healing,
            IDLE,
            |e| async move { e.heal_step().await },
        );
    }

    /// The heals that can go on now: their drive is online.
    fn heals_ready(&self) -> Vec<HealId> {
        self.shared
            .heal
            .heals()
            .into_iter()
            .filter(|h| self.shared.drive_writable(h.drive as usize))
            .collect()
    }

    /// One batch of a partition's walk (starting one where a heal has not
    /// walked a partition yet); returns how long to wait before the next.
    async fn heal_step(self: &Rc<Self>) -> Result<Duration> {
        let bg = &self.shared.background;
        let heals = self.heals_ready();
        if heals.is_empty() || bg.heal_job.paused() {
            return Ok(IDLE);
        }
        let Some((p, mut state)) = self.heal_due(&heals)? else {
            return Ok(IDLE);
        };
        let mut pass = state.next_pass(&heals);
        let _running = bg.heal_job.begin();
        let drives: Vec<u16> = pass.heals.iter().map(|h| h.drive).collect();
        let want = (usize::from(self.shared.layout.parity) + 1).min(self.shared.set.drives.len());
        let heal = &self.shared.heal;
        let walked = self
            .walk_batch(
                p,
                pass.at.as_ref(),
                super::scrub::Walk {
                    limit: BATCH,
                    suspect: Some(&drives),
                    rate: heal.rate.load(Ordering::Relaxed),
                    pacer: &self.heal_pacer,
                    when_quiet: Some((PARALLEL, heal.idle_rate.load(Ordering::Relaxed))),
                },
                |held| touches(held, &drives, want),
                |c| {
                    heal.holders_healed.fetch_add(1, Ordering::Relaxed);
                    heal.lost.fetch_add(c.lost, Ordering::Relaxed);
                    for &d in &drives {
                        let d = d as usize;
                        heal.wrote(
                            d,
                            c.written_records.get(d).copied().unwrap_or(0),
                            c.written_bytes.get(d).copied().unwrap_or(0),
                        );
                    }
                },
            )
            .await?;
        heal.holders.fetch_add(walked.holders, Ordering::Relaxed);
        pass.walked += walked.holders;
        pass.at = walked.next;
        // A drive that went offline during the batch missed some of it.
        let ready = self.heals_ready();
        pass.heals.retain(|h| ready.contains(h));
        let finished = pass.at.is_none();
        if finished {
            state.finish(pass, &self.shared.heal.heals());
        } else {
            state.pass = Some(pass);
        }
        state.format = PARTITION_HEAL_FORMAT;
        self.heal_states.borrow_mut().insert(p, state.clone());
        if finished {
            // Applied before the look at every partition below.
            self.apply_index(p, Mutation::HealWalk { state }).await?;
            self.finish_heals_done().await?;
        } else {
            drop(self.queue_index(p, Mutation::HealWalk { state }));
        }
        self.background_ended(super::background::Work::Heal, None);
        Ok(Duration::ZERO)
    }

    /// The partition of this core to walk now: one with a walk in progress
    /// first, then one some heal has not walked.
    fn heal_due(&self, heals: &[HealId]) -> Result<Option<(u16, PartitionHeal)>> {
        let mut fresh = None;
        for p in (0..self.shared.partitions).filter(|&p| self.shared.owner_of(p) == self.core) {
            let state = self.heal_state_of(p)?;
            // A walk only for heals whose drive is offline waits for it.
            let due = heals.iter().any(|h| !state.finished(*h));
            if state.pass.is_some() && due {
                return Ok(Some((p, state)));
            }
            if fresh.is_none() && due {
                fresh = Some((p, state));
            }
        }
        Ok(fresh)
    }

    /// A partition's heal state: this core's copy (it alone changes it),
    /// read from the index the first time.
    fn heal_state_of(&self, p: u16) -> Result<PartitionHeal> {
        if let Some(s) = self.heal_states.borrow().get(&p) {
            return Ok(s.clone());
        }
        let s = self.shared.indexes[p as usize].heal_state()?;
        self.heal_states.borrow_mut().insert(p, s.clone());
        Ok(s)
    }

    /// Ends every heal whose walk finished in every partition (core 0
    /// writes the heal file).
    async fn finish_heals_done(self: &Rc<Self>) -> Result<()> {
        let heals = self.shared.heal.heals();
        let mut done = Vec::new();
        'heal: for h in heals {
            for idx in &self.shared.indexes {
                if !idx.heal_state()?.finished(h) {
                    continue 'heal;
                }
            }
            done.push(h);
        }
        if done.is_empty() {
            return Ok(());
        }
        self.run_on(0, move |e| e.end_heals(done)).await
    }

    /// Core 0: ends `heals` and records it in the heal file.
    fn end_heals(self: &Rc<Self>, heals: Vec<HealId>) {
        let heal = &self.shared.heal;
        let ended: Vec<HealId> = heals.into_iter().filter(|h| heal.end(*h)).collect();
        if ended.is_empty() {
            return;
        }
        for h in &ended {
            let d = h.drive as usize;
            heal.finished.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                drive = d,
                path = %self.shared.set.drives[d].path.display(),
                records = heal.records[d].load(Ordering::Relaxed),
                bytes = heal.bytes[d].load(Ordering::Relaxed),
                seconds = now_ms().saturating_sub(h.since_ms) / 1000,
                "drive healed: every partition walked, full redundancy restored"
            );
        }
        self.persist_heals();
        // The system files' copies, which live outside the index.
        self.check_system_store();
    }

    /// Core 0: writes the heal file in the background (on the companion).
    fn persist_heals(self: &Rc<Self>) {
        let shared = self.shared.clone();
        let companion = self.companion.clone();
        crate::runtime::spawn(async move {
            let r = companion.run(move || shared.store_heal_file()).await;
            if let Ok(Err(e)) = r {
                tracing::error!(error = %e, "cannot record the heals in progress");
            }
        });
    }

    /// Drive `d` was formatted into its slot at run time: this core's
    /// segments on it are gone with the old directory, so they are sealed
    /// (later records go to new files) and its read descriptors closed;
    /// core 0 records the heal.
    pub(crate) fn drive_formatted(self: &Rc<Self>, d: u16) {
        if self.core == 0 {
            self.persist_heals();
        }
        self.reads.forget_drive(d);
        let me = self.clone();
        crate::runtime::spawn(async move {
            me.writer.seal_drive(d).await;
            me.reads.forget_drive(d);
            me.shared.heal.note_sealed(d as usize);
        });
    }

    /// Whether a failed read is only a record a healing drive does not
    /// have yet (not damage: the heal brings it back).
    pub(crate) fn not_yet_healed(&self, d: u16, e: &std::io::Error) -> bool {
        let healing =
            e.kind() == std::io::ErrorKind::NotFound && self.shared.heal.is_healing(d as usize);
        if healing {
            self.shared
                .heal
                .not_yet_healed
                .fetch_add(1, Ordering::Relaxed);
        }
        healing
    }
}

/// Start-up: the heal file, with the drives `open_set` just formatted into
/// their slots added, written back where it changed. Blocking.
pub fn at_start(online: &[&Path], reformatted: &[usize]) -> std::result::Result<HealFile, String> {
    let mut file = load(online)?;
    if reformatted.is_empty() {
        return Ok(file);
    }
    let now = now_ms().max(1);
    for &d in reformatted {
        file.drives.retain(|h| h.drive as usize != d);
        file.drives.push(HealId {
            drive: d as u16,
            since_ms: now,
        });
        tracing::warn!(
            drive = d,
            "drive came back empty: formatted into its slot, healing it"
        );
    }
    file.drives.sort_by_key(|h| h.drive);
    file.format = HEAL_FORMAT;
    file.generation += 1;
    let paths: Vec<PathBuf> = online.iter().map(|p| p.to_path_buf()).collect();
    store(&paths, &file).map_err(|e| format!("cannot write the heal file: {e}"))?;
    // The system files first: they are few and small.
    let c = super::sysfiles::check(&paths);
    tracing::info!(
        copies = c.repaired,
        "system files copied to the drives being healed"
    );
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::index::StripeSet;
    use crate::engine::meta::RecordLoc;

    fn loc(drive: u16) -> RecordLoc {
        RecordLoc {
            drive,
            segment: 1,
            offset: 0,
            len: 4096,
        }
    }

    #[test]
    fn a_holder_is_walked_when_it_keeps_something_on_a_healing_drive_or_is_short() {
        let copies = |ds: &[u16]| Held {
            copies: ds.iter().map(|&d| loc(d)).collect(),
            sets: Vec::new(),
            rotation: 0,
        };
        assert!(touches(&copies(&[0, 1, 2]), &[1], 3));
        assert!(!touches(&copies(&[0, 2, 3]), &[1], 3));
        assert!(touches(&copies(&[0, 2]), &[1], 3), "short of copies");
        let striped = |slots: Vec<Option<RecordLoc>>| Held {
            copies: vec![loc(0), loc(2), loc(3)],
            sets: vec![StripeSet {
                version: 1,
                part: 0,
                layout: (2, 2),
                rotation: 0,
                stripes: vec![slots],
                class: None,
                data_gen: 0,
            }],
            rotation: 0,
        };
        assert!(touches(
            &striped(vec![Some(loc(0)), Some(loc(1)), Some(loc(2)), Some(loc(3))]),
            &[1],
            3
        ));
        assert!(!touches(
            &striped(vec![Some(loc(0)), Some(loc(3)), Some(loc(2)), Some(loc(3))]),
            &[1],
            3
        ));
        assert!(
            touches(
                &striped(vec![Some(loc(0)), None, Some(loc(2)), Some(loc(3))]),
                &[1],
                3
            ),
            "a slot a rebuilt index left empty"
        );
    }

    #[test]
    fn the_newest_heal_file_wins_and_a_newer_format_stops_start_up() {
        let t = tempfile::tempdir().unwrap();
        let d: Vec<PathBuf> = (0..2).map(|i| t.path().join(format!("d{i}"))).collect();
        for p in &d {
            std::fs::create_dir_all(p.join(META_DIR)).unwrap();
        }
        let refs: Vec<&Path> = d.iter().map(|p| p.as_path()).collect();
        assert_eq!(load(&refs).unwrap().drives, vec![]);
        let f = at_start(&refs, &[1]).unwrap();
        assert_eq!(f.drives.len(), 1);
        assert_eq!(load(&refs).unwrap(), f);
        // A stale copy (its drive was away when the heal ended) loses.
        let newer = HealFile {
            format: HEAL_FORMAT,
            generation: f.generation + 1,
            drives: vec![],
        };
        store(&d[..1], &newer).unwrap();
        assert_eq!(load(&refs).unwrap(), newer);
        std::fs::write(
            d[1].join(META_DIR).join(HEAL_FILE),
            br#"{"format":2,"generation":1,"drives":[]}"#,
        )
        .unwrap();
        assert!(load(&refs).unwrap_err().contains("newer cairn"));
    }

    #[test]
    fn a_partition_state_of_a_newer_format_is_refused() {
        let s = PartitionHeal {
            format: PARTITION_HEAL_FORMAT,
            ..PartitionHeal::default()
        };
        assert_eq!(PartitionHeal::decode(&s.encode()).unwrap(), s);
        let mut b = s.encode();
        b[0] = PARTITION_HEAL_FORMAT + 1;
        assert!(PartitionHeal::decode(&b)
            .unwrap_err()
            .contains("newer cairn"));
    }

    #[test]
    fn progress_counts_finished_partitions_and_walks_in_progress() {
        let h = HealId {
            drive: 1,
            since_ms: 5,
        };
        let done = PartitionHeal {
            format: 1,
            pass: None,
            done: vec![h],
        };
        let half = PartitionHeal {
            format: 1,
            pass: Some(HealPass {
                heals: vec![h],
                at: None,
                walked: 5,
            }),
            done: vec![],
        };
        assert_eq!(partition_fraction(&done, h, 10), 1.0);
        assert_eq!(partition_fraction(&half, h, 10), 0.5);
        assert_eq!(partition_fraction(&PartitionHeal::default(), h, 10), 0.0);
        let other = HealId {
            drive: 1,
            since_ms: 6,
        };
        assert_eq!(partition_fraction(&done, other, 10), 0.0, "another heal");
    }

    #[test]
    fn a_heal_whose_drive_went_offline_during_a_walk_is_not_marked_done() {
        let (a, b) = (
            HealId {
                drive: 2,
                since_ms: 1,
            },
            HealId {
                drive: 4,
                since_ms: 1,
            },
        );
        let mut state = PartitionHeal {
            format: 1,
            pass: Some(HealPass {
                heals: vec![a, b],
                at: Some(ScrubPos::default()),
                walked: 64,
            }),
            done: vec![],
        };
        // Drive 4 is offline: the walk goes on for drive 2 only.
        let pass = state.next_pass(&[a]);
        assert_eq!(pass.walked, 64, "the walk in progress goes on");
        assert_eq!(pass.heals, vec![a]);
        state.finish(pass, &[a, b]);
        assert!(state.finished(a));
        assert!(!state.finished(b), "drive 4 missed the walk yet is done");
        // Back online, drive 4's walk starts over from the beginning.
        let pass = state.next_pass(&[a, b]);
        assert_eq!((pass.heals, pass.at, pass.walked), (vec![b], None, 0));
    }
}
