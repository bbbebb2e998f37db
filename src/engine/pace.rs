//! Pacing of background walks (scrubbing, healing): each holder's turn to
//! start is booked on a per-core clock at the configured rate, so the work
//! is spread evenly over time. A batch at full speed followed by a sleep
//! keeps the same average rate but stalls the clients that arrive during
//! the batch, and their p99 is what the rate is meant to protect.

use std::cell::Cell;
use std::time::Duration;

use crate::runtime::Instant;

use super::clients::Quiet;
use super::index::Held;
use super::layout::Layout;

/// One core's booking clock for one kind of background work.
#[derive(Default)]
pub(crate) struct Pacer {
    /// When the next piece of work may start; None before the first.
    next: Cell<Option<Instant>>,
    /// Whether the node has clients, as this walker last saw it.
    pub quiet: Quiet,
}

impl Pacer {
    /// Books `bytes` of work at `share` bytes a second (this core's share
    /// of the rate; 0: no limit) and returns when it may start. Time left
    /// unused while the work was slower than the rate is not banked: a
    /// core that fell behind does not catch up in a burst.
    pub fn book(&self, bytes: u64, share: u64, now: Instant) -> Instant {
        if share == 0 {
            self.next.set(None);
            return now;
        }
        let start = self.next.get().map_or(now, |n| n.max(now));
        let spell = Duration::from_secs_f64(bytes as f64 / share as f64);
        self.next.set(Some(start + spell));
        start
    }
}

/// This core's share of a node-wide per-drive rate (0: no limit).
pub(crate) fn core_share(rate: u64, cores: usize) -> u64 {
    if rate == 0 {
        return 0;
    }
    (rate / cores.max(1) as u64).max(1)
}

/// About how many bytes checking `held` moves on its busiest drive: one
/// shard record per stripe walked (each drive holds one shard of a stripe)
/// and one replicated copy. With `suspect`, stripes with no shard on those
/// drives are skipped by the repair and not counted.
pub(crate) fn busiest_drive_bytes(held: &Held, suspect: Option<&[u16]>) -> u64 {
    let copy = held
        .copies
        .iter()
        .map(|l| u64::from(l.len))
        .max()
        .unwrap_or(0);
    let shards: u64 = held
        .sets
        .iter()
        .flat_map(|set| {
            let n = Layout {
                data: set.layout.0,
                parity: set.layout.1,
            }
            .total();
            set.stripes.iter().map(move |stripe| (n, stripe))
        })
        .filter(|(n, stripe)| {
            suspect.is_none_or(|ds| {
                (0..*n).any(|i| {
                    stripe
                        .get(i)
                        .copied()
                        .flatten()
                        .is_none_or(|l| ds.contains(&l.drive))
                })
            })
        })
        .map(|(_, stripe)| {
            stripe
                .iter()
                .flatten()
                .map(|l| u64::from(l.len))
                .max()
                .unwrap_or(0)
        })
        .sum();
    copy + shards
}

#[cfg(test)]
mod tests {
    use super::super::index::StripeSet;
    use super::super::meta::RecordLoc;
    use super::*;

    #[test]
    fn work_is_spaced_at_the_rate_and_idle_time_is_not_banked() {
        let p = Pacer::default();
        let t0 = Instant::now();
        let mib = 1 << 20;
        // 1 MiB pieces at 4 MiB/s: one every 250 ms, not all at once.
        assert_eq!(p.book(mib, 4 * mib, t0), t0);
        assert_eq!(p.book(mib, 4 * mib, t0), t0 + Duration::from_millis(250));
        assert_eq!(p.book(mib, 4 * mib, t0), t0 + Duration::from_millis(500));
        // After a long pause, the next starts now, and the one after it a
        // full spell later: no burst to catch up.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(p.book(mib, 4 * mib, later), later);
        assert_eq!(
            p.book(mib, 4 * mib, later),
            later + Duration::from_millis(250)
        );
        // No limit: at once, and the clock forgets what was booked.
        assert_eq!(p.book(mib, 0, t0), t0);
        assert_eq!(p.book(mib, 4 * mib, t0), t0);
    }

    #[test]
    fn a_core_gets_its_share_of_the_node_rate() {
        assert_eq!(core_share(64, 2), 32);
        assert_eq!(core_share(0, 2), 0);
        assert_eq!(core_share(1, 4), 1);
    }

    fn loc(drive: u16, len: u32) -> RecordLoc {
        RecordLoc {
            drive,
            segment: 1,
            offset: 0,
            len,
        }
    }

    #[test]
    fn a_holder_counts_one_shard_per_stripe_walked_and_one_copy() {
        let stripe = |d: u16| (0..6).map(|i| Some(loc((d + i) % 6, 1000))).collect();
        let held = Held {
            copies: vec![loc(0, 300), loc(1, 300), loc(2, 300)],
            sets: vec![StripeSet {
                version: 1,
                part: 0,
                layout: (4, 2),
                rotation: 0,
                stripes: vec![stripe(0), stripe(1), stripe(2)],
                class: None,
                data_gen: 0,
            }],
            rotation: 0,
        };
        assert_eq!(busiest_drive_bytes(&held, None), 300 + 3 * 1000);
        // Every stripe has a shard on drive 5.
        assert_eq!(busiest_drive_bytes(&held, Some(&[5])), 300 + 3 * 1000);
        // A stripe with a hole is walked whatever the suspects.
        let mut holed = held.clone();
        holed.sets[0].stripes[1][0] = None;
        assert_eq!(busiest_drive_bytes(&holed, Some(&[9])), 300 + 1000);
        assert_eq!(busiest_drive_bytes(&held, Some(&[9])), 300);
    }
}
