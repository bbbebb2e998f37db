//! The delivery mark: a time before which every event has been delivered
//! (or dropped), kept on the drives (`.cairn/notify.mark`). The outbox
//! lives in the index, which a power loss may cost; the change records
//! carry their events, and the rebuild puts back those made at the mark
//! or later. Events delivered after the mark was last stored are sent
//! again then: at least once, never lost.
//!
//! The mark is the oldest of: now, each core's oldest change whose events
//! are not yet in the outbox, and each target's oldest waiting event, less
//! a second for clocks. Every event still to deliver was made at the mark
//! or later, and so was its record: compaction keeps the segments written
//! since (`may_hold_undelivered`).

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use crate::engine::{now_ms, Shared};
use crate::iam::store::{DriveStore, SystemStore};

pub const MARK_FILE: &str = "notify.mark";
/// Covers the clock between a core that stamps an event and the thread
/// that reads the stamps, and between event stamps and file times.
const CLOCK_SLACK_MS: u64 = 1_000;

/// The mark stored on `drives` (0 when none was: every event a record
/// carries counts as undelivered). Blocking.
pub fn load(drives: Vec<PathBuf>) -> u64 {
    let store = DriveStore::named(drives, 1, MARK_FILE);
    match store.load() {
        Ok(l) => l.newest.and_then(|(_, p)| decode(&p)).unwrap_or(0),
        Err(e) => {
            tracing::warn!(error = %e, "notification delivery mark unreadable: every event in the records counts as undelivered");
            0
        }
    }
}

pub fn encode(mark_ms: u64) -> [u8; 8] {
    mark_ms.to_le_bytes()
}

pub fn decode(b: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

/// The mark now, for `targets`. Blocking (reads every partition's
/// outbox head).
pub fn current(shared: &Shared, targets: &[String]) -> u64 {
    // Read first: an event made after this instant is newer than the mark
    // whatever the reads below miss.
    let now = now_ms();
    let in_flight = shared
        .events_in_flight
        .iter()
        .map(|a| a.load(Ordering::SeqCst))
        .min()
        .unwrap_or(u64::MAX);
    let mut oldest = now.min(in_flight);
    for idx in &shared.indexes {
        for t in targets {
            match idx.oldest_event_ms(t) {
                Ok(Some(ms)) => oldest = oldest.min(ms),
                Ok(None) => {}
                // Unknown: the mark must not pass what cannot be read.
                Err(_) => return 0,
            }
        }
    }
    oldest.saturating_sub(CLOCK_SLACK_MS)
}

/// Whether a segment last written at `modified_ms` may hold the record of
/// an event not yet delivered, with the mark at `mark_ms`.
pub fn may_hold_undelivered(modified_ms: u64, mark_ms: u64) -> bool {
    modified_ms.saturating_add(CLOCK_SLACK_MS) >= mark_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_round_trips_and_refuses_other_lengths() {
        assert_eq!(decode(&encode(1_733_000_000_123)), Some(1_733_000_000_123));
        assert_eq!(decode(&[1, 2, 3]), None);
    }

    #[test]
    fn a_segment_written_before_the_mark_less_the_slack_holds_nothing_undelivered() {
        let mark = 10_000;
        assert!(may_hold_undelivered(mark, mark));
        assert!(may_hold_undelivered(mark - CLOCK_SLACK_MS, mark));
        assert!(!may_hold_undelivered(mark - CLOCK_SLACK_MS - 1, mark));
        assert!(may_hold_undelivered(u64::MAX, mark));
    }
}
