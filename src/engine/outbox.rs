//! The notification outbox: events are written by the index transaction
//! of the change that causes them (`Mutation::Events`, queued right after
//! the change and never split from it), so an acknowledged change always
//! has its events and a change that did not happen has none. Delivery
//! threads (`notify::deliver`) read each target's events in sequence
//! order per partition and delete them once the target took them.
//!
//! Layout in each partition's `events` database, per target name `t`
//! (letters, digits, `-`, `_`, so `\0` ends it):
//! - `t \0 \0` -> the target's counters (pending u64 LE, dropped u64 LE),
//!   written only when events are dropped: the pending count read back is
//!   the rows', counted at first use (`Tally`), so a write with events
//!   touches no counter row;
//! - `t \0 \x01 seq` (u64 BE) -> the `EventRow` (postcard).
//!
//! Bounded: a partition holds at most `limit` events per target (the
//! target's queue limit over the partitions); beyond it an event is
//! dropped, counted and logged, so a dead target cannot fill the disk.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use heed::RwTxn;
use serde::{Deserialize, Serialize};

use super::buckets::Versioning;
use super::index::{IndexError, Mutation, PartitionIndex};
use super::meta::{ObjectMeta, VersionSel};
use super::{now_ms, Engine, Result};
use crate::notify::deliver::partition_limit;
use crate::notify::event::{EventRow, Origin};
use crate::notify::targets::target_of_arn;

/// Most events one read returns.
pub const BATCH_MAX: usize = 256;

/// One event for one target, as a change queues it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued {
    pub target: String,
    pub row: EventRow,
}

/// A change's events as its record carries them (postcard); empty when it
/// has none, so a record without events is as before.
pub fn encode_events(events: &[Queued]) -> Vec<u8> {
    if events.is_empty() {
        return Vec::new();
    }
    postcard::to_allocvec(events).expect("events serialise")
}

pub fn decode_events(b: &[u8]) -> Option<Vec<Queued>> {
    postcard::from_bytes(b).ok()
}

/// An event waiting in the outbox: its key, and the event (None if it
/// does not decode).
pub type Pending = (Vec<u8>, Option<EventRow>);

/// A target's counters in one partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub pending: u64,
    pub dropped: u64,
}

fn counts_key(target: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(target.len() + 2);
    k.extend_from_slice(target.as_bytes());
    k.extend_from_slice(&[0, 0]);
    k
}

fn rows_prefix(target: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(target.len() + 10);
    k.extend_from_slice(target.as_bytes());
    k.extend_from_slice(&[0, 1]);
    k
}

fn row_key(target: &str, seq: u64) -> Vec<u8> {
    let mut k = rows_prefix(target);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn decode_counts(b: &[u8]) -> Counts {
    let word = |i: usize| {
        b.get(i..i + 8)
            .and_then(|w| w.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    };
    Counts {
        pending: word(0),
        dropped: word(8),
    }
}

fn encode_counts(c: Counts) -> [u8; 16] {
    let mut b = [0; 16];
    b[..8].copy_from_slice(&c.pending.to_le_bytes());
    b[8..].copy_from_slice(&c.dropped.to_le_bytes());
    b
}

fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

/// A partition's outbox counters by target, in memory. An entry is
/// loaded at a target's first use in a write transaction (its rows
/// counted, at most its queue limit) and changed only while that
/// environment's write transaction is held, from before its first read to
/// after its commit: so it always equals what is committed.
#[derive(Default)]
pub struct Tally(Mutex<HashMap<String, Counts>>);

impl Tally {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Counts>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Counters a write transaction changed, held locked until it commits.
pub(super) struct TallyUpdate<'a> {
    tally: Option<MutexGuard<'a, HashMap<String, Counts>>>,
    next: Vec<(String, Option<Counts>)>,
}

impl TallyUpdate<'_> {
    fn none() -> TallyUpdate<'static> {
        TallyUpdate {
            tally: None,
            next: Vec::new(),
        }
    }

    /// The transaction committed: its counters become the tally's (None
    /// forgets a target's, counted again at its next use). Dropped
    /// instead, the tally keeps what the aborted transaction left.
    pub(super) fn committed(self) {
        if let Some(mut tally) = self.tally {
            for (target, c) in self.next {
                match c {
                    Some(c) => tally.insert(target, c),
                    None => tally.remove(&target),
                };
            }
        }
    }
}

impl PartitionIndex {
    /// The counters as stored: only `dropped` is read from them.
    fn stored_counts(
        &self,
        txn: &heed::RoTxn<'_, heed::WithoutTls>,
        target: &str,
    ) -> Result<Counts, IndexError> {
        Ok(self
            .events
            .get(txn, &counts_key(target))?
            .map(decode_counts)
            .unwrap_or_default())
    }

    /// A target's counters from the database: its rows counted.
    fn count_in(
        &self,
        txn: &heed::RoTxn<'_, heed::WithoutTls>,
        target: &str,
    ) -> Result<Counts, IndexError> {
        let mut pending = 0;
        for item in self.events.prefix_iter(txn, &rows_prefix(target))? {
            item?;
            pending += 1;
        }
        Ok(Counts {
            pending,
            dropped: self.stored_counts(txn, target)?.dropped,
        })
    }

    /// A target's counters in a write transaction, from the tally or
    /// counted.
    fn counts_at(
        &self,
        tally: &HashMap<String, Counts>,
        wtxn: &RwTxn<'_>,
        target: &str,
    ) -> Result<Counts, IndexError> {
        match tally.get(target) {
            Some(c) => Ok(*c),
            None => self.count_in(wtxn, target),
        }
    }

    fn put_counts(&self, wtxn: &mut RwTxn<'_>, target: &str, c: Counts) -> Result<(), IndexError> {
        if c == Counts::default() {
            self.events.delete(wtxn, &counts_key(target))?;
        } else {
            self.events
                .put(wtxn, &counts_key(target), &encode_counts(c))?;
        }
        Ok(())
    }

    /// Adds a transaction's events to the outbox, dropping those beyond a
    /// target's share of this partition, and nothing for a target that was
    /// removed. The counters are stored only when an event is dropped. On
    /// the companion thread (the targets' limits are behind a lock no
    /// executor takes); the caller commits, then settles the update.
    pub(super) fn enqueue_events(
        &self,
        wtxn: &mut RwTxn<'_>,
        events: &[&Queued],
    ) -> Result<TallyUpdate<'_>, IndexError> {
        if events.is_empty() {
            return Ok(TallyUpdate::none());
        }
        let tally = self.tally.lock();
        let mut counts: Vec<(&str, u64, Counts, u64)> = Vec::new();
        for q in events {
            let i = match counts.iter().position(|(t, ..)| *t == q.target) {
                Some(i) => i,
                None => {
                    let Some(limit) = partition_limit(&q.target) else {
                        continue;
                    };
                    let c = self.counts_at(&tally, wtxn, &q.target)?;
                    counts.push((&q.target, limit, c, c.dropped));
                    counts.len() - 1
                }
            };
            let (_, limit, c, _) = &mut counts[i];
            if c.pending >= *limit {
                c.dropped += 1;
                // Once at the first drop and at every power of ten after it:
                // a target that stays down must not flood the log.
                if is_power_of_ten(c.dropped) {
                    tracing::warn!(
                        target_name = %q.target,
                        partition = self.partition,
                        dropped = c.dropped,
                        limit = *limit,
                        "notification target is behind: its queue is full and new events are dropped"
                    );
                }
                continue;
            }
            let row = postcard::to_allocvec(&q.row)
                .map_err(|e| IndexError::CorruptEntry(format!("event: {e}")))?;
            // Sequence numbers are unique in a partition: a key is new.
            self.events
                .put(wtxn, &row_key(&q.target, q.row.seq), &row)?;
            c.pending += 1;
        }
        let mut next = Vec::with_capacity(counts.len());
        for (target, _, c, dropped_before) in counts {
            if c.dropped != dropped_before {
                self.put_counts(wtxn, target, c)?;
            }
            next.push((target.to_owned(), Some(c)));
        }
        Ok(TallyUpdate {
            tally: Some(tally),
            next,
        })
    }

    /// Up to `max` of `target`'s oldest events, with their keys. A row that
    /// does not decode is returned as None (the caller drops it).
    pub fn events_pending(&self, target: &str, max: usize) -> Result<Vec<Pending>, IndexError> {
        let rtxn = self.env.read_txn()?;
        let mut out = Vec::new();
        for item in self.events.prefix_iter(&rtxn, &rows_prefix(target))? {
            let (k, v) = item?;
            out.push((k.to_vec(), postcard::from_bytes(v).ok()));
            if out.len() == max {
                break;
            }
        }
        Ok(out)
    }

    /// Forgets events the target received (or that were dropped as
    /// corrupt: `corrupt` of them count as dropped).
    pub fn events_delivered(
        &self,
        target: &str,
        keys: &[Vec<u8>],
        corrupt: u64,
    ) -> Result<(), IndexError> {
        let mut wtxn = self.env.write_txn()?;
        let tally = self.tally.lock();
        let mut c = self.counts_at(&tally, &wtxn, target)?;
        for k in keys {
            if self.events.delete(&mut wtxn, k)? {
                c.pending = c.pending.saturating_sub(1);
            }
        }
        if corrupt > 0 {
            c.dropped += corrupt;
            self.put_counts(&mut wtxn, target, c)?;
        }
        wtxn.commit()?;
        TallyUpdate {
            tally: Some(tally),
            next: vec![(target.to_owned(), Some(c))],
        }
        .committed();
        Ok(())
    }

    /// Removes a target's events and counters (the target was removed).
    pub fn events_purge(&self, target: &str) -> Result<u64, IndexError> {
        let mut wtxn = self.env.write_txn()?;
        let tally = self.tally.lock();
        let mut n = 0;
        let mut it = self
            .events
            .prefix_iter_mut(&mut wtxn, &rows_prefix(target))?;
        while it.next().transpose()?.is_some() {
            // SAFETY: heed's contract for deleting under a cursor: the
            // entry's key and value are not held past this call.
            unsafe { it.del_current()? };
            n += 1;
        }
        drop(it);
        self.events.delete(&mut wtxn, &counts_key(target))?;
        wtxn.commit()?;
        TallyUpdate {
            tally: Some(tally),
            next: vec![(target.to_owned(), None)],
        }
        .committed();
        Ok(n)
    }

    /// Puts back events found in the records after the index was rebuilt
    /// (`rebuild.rs`): a row already there (same target and sequence
    /// number) is left as it is. No limit: these were within the limit
    /// when first queued. The targets' counters are counted again.
    pub fn restore_events(&self, events: &[Queued]) -> Result<(), IndexError> {
        let mut wtxn = self.env.write_txn()?;
        let tally = self.tally.lock();
        let mut next: Vec<(String, Option<Counts>)> = Vec::new();
        for q in events {
            let key = row_key(&q.target, q.row.seq);
            if self.events.get(&wtxn, &key)?.is_some() {
                continue;
            }
            let row = postcard::to_allocvec(&q.row)
                .map_err(|e| IndexError::CorruptEntry(format!("event: {e}")))?;
            self.events.put(&mut wtxn, &key, &row)?;
            if !next.iter().any(|(t, _)| *t == q.target) {
                next.push((q.target.clone(), None));
            }
        }
        wtxn.commit()?;
        TallyUpdate {
            tally: Some(tally),
            next,
        }
        .committed();
        Ok(())
    }

    /// When the oldest event waiting for `target` was made (None: none
    /// waits). Rows are in sequence order, which is the order in which the
    /// owner core made them.
    pub fn oldest_event_ms(&self, target: &str) -> Result<Option<u64>, IndexError> {
        Ok(self
            .events_pending(target, 1)?
            .into_iter()
            .next()
            .map(|(_, row)| row.map_or(0, |r| r.time_ms)))
    }

    /// The targets with events or counters in this partition.
    pub fn event_targets(&self) -> Result<Vec<String>, IndexError> {
        let rtxn = self.env.read_txn()?;
        let mut out = Vec::new();
        // One lookup per target: from a target's first key, skip past all
        // of its keys (they share `name \0`, and no key byte after is 0xff).
        let mut next = self.events.first(&rtxn)?;
        while let Some((k, _)) = next {
            let end = k.iter().position(|&b| b == 0).unwrap_or(k.len());
            out.push(String::from_utf8_lossy(&k[..end]).into_owned());
            let mut past = k[..end].to_vec();
            past.extend_from_slice(&[0, 0xff]);
            next = self.events.get_greater_than_or_equal_to(&rtxn, &past)?;
        }
        Ok(out)
    }

    /// A target's counters in this partition.
    pub fn event_counts(&self, target: &str) -> Result<Counts, IndexError> {
        if let Some(c) = self.tally.lock().get(target) {
            return Ok(*c);
        }
        let rtxn = self.env.read_txn()?;
        self.count_in(&rtxn, target)
    }
}

/// Wakes delivery threads when a transaction wrote events.
#[derive(Default)]
pub struct Wake {
    generation: Mutex<u64>,
    cond: Condvar,
}

impl Wake {
    pub fn notify(&self) {
        let mut g = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        *g += 1;
        self.cond.notify_all();
    }

    /// The current generation, to wait on.
    pub fn generation(&self) -> u64 {
        *self.generation.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the generation is past `seen` or `timeout` passes.
    pub fn wait(&self, seen: u64, timeout: Duration) {
        let g = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self
            .cond
            .wait_timeout_while(g, timeout, |g| *g == seen)
            .map_err(|e| e.into_inner());
    }
}

/// What a change did, for the events it makes.
pub(super) struct Change<'a> {
    /// It made a delete marker.
    pub marker: bool,
    pub version: VersionSel,
    /// The version it created (size and ETag go in the event).
    pub created: Option<&'a ObjectMeta>,
    /// The change's record's sequence number (unique in its partition).
    pub seq: u64,
}

impl Engine {
    /// The outbox entries of a change on `bucket`/`key` made for `origin`:
    /// one per rule of the bucket the event reaches, made before the
    /// change's record is written (the record carries them). None is the
    /// common case and costs one lookup in the core's table. They count as
    /// in flight until the returned value is dropped, after the index
    /// transaction that queues them.
    pub(super) fn events_of(
        &self,
        bucket: &str,
        key: &str,
        origin: Option<&Origin>,
        c: Change<'_>,
    ) -> ChangeEvents<'_> {
        let events = self.make_events(bucket, key, origin, c);
        let since = events.first().map(|q| q.row.time_ms);
        if let Some(ms) = since {
            self.note_in_flight(ms, true);
        }
        ChangeEvents {
            engine: self,
            since,
            events,
        }
    }

    fn make_events(
        &self,
        bucket: &str,
        key: &str,
        origin: Option<&Origin>,
        c: Change<'_>,
    ) -> Vec<Queued> {
        let Some(origin) = origin else {
            return Vec::new();
        };
        let buckets = self.buckets.borrow();
        let Some(info) = buckets.buckets.get(bucket) else {
            return Vec::new();
        };
        let Some(rules) = info.notifications.as_ref() else {
            return Vec::new();
        };
        let name = origin.action.event_name(c.marker);
        let typed = format!("s3:{name}");
        let mut events = Vec::new();
        for r in rules.reached(&typed, key) {
            let Some(target) = target_of_arn(&r.arn, r.kind.service()) else {
                continue;
            };
            events.push(Queued {
                target: target.to_owned(),
                row: EventRow {
                    name: name.to_owned(),
                    time_ms: now_ms(),
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    version_id: (info.versioning != Versioning::Off).then(|| match c.version {
                        VersionSel::Null => "null".to_owned(),
                        VersionSel::Id(v) => format!("{v:032x}"),
                    }),
                    size: c.created.map(|m| m.size),
                    etag: c.created.map(|m| m.etag.clone()),
                    seq: c.seq,
                    config_id: r.id.clone(),
                    principal: origin.principal.clone(),
                    source_ip: origin.source_ip.clone(),
                    request_id: origin.request_id.clone(),
                },
            });
        }
        events
    }

    /// Counts (`add`) or forgets an in-flight change's events made at `ms`,
    /// and publishes this core's oldest for the delivery mark.
    fn note_in_flight(&self, ms: u64, add: bool) {
        let mut m = self.events_in_flight.borrow_mut();
        if add {
            *m.entry(ms).or_insert(0) += 1;
        } else if let Some(n) = m.get_mut(&ms) {
            *n -= 1;
            if *n == 0 {
                m.remove(&ms);
            }
        }
        let oldest = m.first_key_value().map_or(u64::MAX, |(ms, _)| *ms);
        self.shared.events_in_flight[self.core].store(oldest, Ordering::SeqCst);
    }

    /// `apply_index` of a change and its events, in one transaction.
    pub(super) async fn apply_index_with(
        self: &Rc<Self>,
        partition: u16,
        m: Mutation,
        mut events: ChangeEvents<'_>,
    ) -> Result<()> {
        if events.events.is_empty() {
            return self.apply_index(partition, m).await;
        }
        let queued = Mutation::Events {
            events: std::mem::take(&mut events.events),
        };
        // Queued together, with no await between: the drain never splits
        // a change from the events queued right after it.
        let change = self.queue_index(partition, m);
        drop(self.queue_index(partition, queued));
        let done = self.await_index(change).await;
        drop(events);
        done
    }
}

/// A change's events (see [`Engine::events_of`]).
pub(super) struct ChangeEvents<'a> {
    engine: &'a Engine,
    /// When they were made, while they count as in flight.
    since: Option<u64>,
    pub events: Vec<Queued>,
}

impl ChangeEvents<'_> {
    /// As the change's record carries them.
    pub fn encoded(&self) -> Vec<u8> {
        encode_events(&self.events)
    }
}

impl Drop for ChangeEvents<'_> {
    fn drop(&mut self) {
        if let Some(ms) = self.since {
            self.engine.note_in_flight(ms, false);
        }
    }
}
