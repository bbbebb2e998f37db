//! Client requests started and in flight on each core, counted by the HTTP
//! front end and read by background work: healing refills a drive flat out
//! only while the node has no clients, and gives way to them otherwise.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::runtime::{CoreId, Instant};

/// How long the node must have had no client request before background
/// work counts it as quiet: longer than the gaps of a client at work.
pub const QUIET_AFTER: Duration = Duration::from_millis(500);

/// One core's counts, on a cache line of its own: only that core writes.
#[repr(align(128))]
#[derive(Default)]
struct Counts {
    started: AtomicU64,
    inflight: AtomicU64,
}

pub struct ClientLoad {
    cores: Box<[Counts]>,
}

impl ClientLoad {
    pub fn new(cores: usize) -> ClientLoad {
        ClientLoad {
            cores: (0..cores).map(|_| Counts::default()).collect(),
        }
    }

    /// Requests started on every core so far, and whether any is in flight.
    fn snapshot(&self) -> (u64, bool) {
        self.cores.iter().fold((0, false), |(started, busy), c| {
            (
                started + c.started.load(Ordering::Relaxed),
                busy || c.inflight.load(Ordering::Relaxed) > 0,
            )
        })
    }
}

/// One core's end of the counts, for its HTTP front end.
pub struct CoreClients {
    load: Arc<ClientLoad>,
    core: CoreId,
}

impl CoreClients {
    pub fn new(load: Arc<ClientLoad>, core: CoreId) -> Rc<CoreClients> {
        assert!(core < load.cores.len(), "core {core} has no counts");
        Rc::new(CoreClients { load, core })
    }

    /// Counts a request from now until the returned guard is dropped.
    pub fn begin(self: &Rc<Self>) -> InFlight {
        let c = &self.load.cores[self.core];
        c.started.fetch_add(1, Ordering::Relaxed);
        c.inflight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// Requests in flight on this core.
    pub fn inflight(&self) -> u64 {
        self.load.cores[self.core].inflight.load(Ordering::Relaxed)
    }
}

/// A request being served; ends its count when dropped, however it ends.
pub struct InFlight(Rc<CoreClients>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let c = &self.0.load.cores[self.0.core];
        c.inflight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One walker's view of whether the node is quiet: no request started or
/// in flight anywhere since it last looked, for at least `QUIET_AFTER`.
#[derive(Default)]
pub(crate) struct Quiet {
    seen: Cell<u64>,
    since: Cell<Option<Instant>>,
}

impl Quiet {
    pub fn is_quiet(&self, load: &ClientLoad, now: Instant) -> bool {
        let (started, busy) = load.snapshot();
        match self.since.get() {
            Some(since) if !busy && started == self.seen.get() => {
                now.saturating_duration_since(since) >= QUIET_AFTER
            }
            _ => {
                self.seen.set(started);
                self.since.set(Some(now));
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_is_quiet_only_after_a_spell_with_no_request_started_or_in_flight() {
        let load = Arc::new(ClientLoad::new(2));
        let (c0, c1) = (
            CoreClients::new(load.clone(), 0),
            CoreClients::new(load.clone(), 1),
        );
        let q = Quiet::default();
        let t0 = Instant::now();
        let after = |ms| t0 + Duration::from_millis(ms);
        // First look: not yet watched for a spell.
        assert!(!q.is_quiet(&load, t0));
        assert!(!q.is_quiet(&load, after(499)));
        assert!(q.is_quiet(&load, after(500)));
        // A request in flight on another core: busy, for as long as it runs.
        let r = c1.begin();
        assert_eq!((c0.inflight(), c1.inflight()), (0, 1));
        assert!(!q.is_quiet(&load, after(600)));
        assert!(!q.is_quiet(&load, after(2000)));
        drop(r);
        assert_eq!(c1.inflight(), 0);
        // Ended: quiet again only a full spell later.
        assert!(!q.is_quiet(&load, after(2100)));
        assert!(q.is_quiet(&load, after(2600)));
        // A request that started and ended between two looks still counts.
        drop(c0.begin());
        assert!(!q.is_quiet(&load, after(3000)));
        assert!(!q.is_quiet(&load, after(3499)));
        assert!(q.is_quiet(&load, after(3500)));
    }
}
