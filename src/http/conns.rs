//! Who holds the connection slots: the state of each connection, the
//! per-core table that picks a connection to close when the core is at
//! `--max-connections`, and the per-address count shared by every core
//! (`--max-connections-per-ip`).
//!
//! A connection that has not shown valid credentials is cheap to hold for
//! an attacker and worthless to keep for us, so it holds its slot briefly:
//! its first request head must arrive within `--first-request-timeout`,
//! it is closed after answering a request while it has never
//! authenticated, and it is the first to go when the core is full.

use std::cell::{Cell, RefCell};
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};

use crate::runtime::Instant;
use futures_util::future::{select, Either};

/// One accepted connection, shared by its task, its requests and the core's
/// [`Registry`].
pub struct Conn {
    pub peer: SocketAddr,
    accepted: Instant,
    /// The first request head must have arrived by then.
    first_deadline: Instant,
    /// Some request on it carried a valid signature.
    authenticated: Cell<bool>,
    /// Request heads received.
    requests: Cell<u64>,
    /// Requests whose response has not been fully handed to the socket.
    busy: Cell<u32>,
    /// When it was accepted or last finished a response.
    last_active: Cell<Instant>,
    evicted: Cell<bool>,
    waker: Cell<Option<Waker>>,
    /// Index in the registry's table.
    slot: Cell<usize>,
    /// Accepted on the admin-only listener: S3 requests are not served.
    pub admin_only: Cell<bool>,
}

impl Conn {
    pub fn new(peer: SocketAddr, first_request_timeout: std::time::Duration) -> Conn {
        let now = Instant::now();
        Conn {
            peer,
            accepted: now,
            first_deadline: now + first_request_timeout,
            authenticated: Cell::new(false),
            requests: Cell::new(0),
            busy: Cell::new(0),
            last_active: Cell::new(now),
            evicted: Cell::new(false),
            waker: Cell::new(None),
            slot: Cell::new(usize::MAX),
            admin_only: Cell::new(false),
        }
    }

    pub fn set_authenticated(&self) {
        self.authenticated.set(true);
    }

    pub fn is_authenticated(&self) -> bool {
        self.authenticated.get()
    }

    pub fn is_busy(&self) -> bool {
        self.busy.get() > 0
    }

    /// A request head arrived; the connection is busy until the returned
    /// guard (kept with the response body) is dropped.
    pub fn begin(self: &Rc<Self>) -> Busy {
        self.requests.set(self.requests.get() + 1);
        self.busy.set(self.busy.get() + 1);
        Busy(self.clone())
    }

    /// Resolves when the connection must end: it was evicted, or no request
    /// head arrived by the first-request deadline.
    pub async fn must_close(&self) {
        let evicted = std::future::poll_fn(|cx| {
            if self.evicted.get() {
                Poll::Ready(())
            } else {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        });
        let mut evicted = pin!(evicted);
        if self.requests.get() == 0 {
            let first = pin!(crate::runtime::sleep_until(self.first_deadline));
            match select(first, evicted.as_mut()).await {
                Either::Left(_) if self.requests.get() == 0 => return,
                Either::Left(_) => {}
                Either::Right(_) => return,
            }
        }
        evicted.await
    }

    fn evict(&self) {
        self.evicted.set(true);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// Marks a connection busy while a request's response is being sent.
pub struct Busy(Rc<Conn>);

impl Drop for Busy {
    fn drop(&mut self) {
        let c = &self.0;
        c.busy.set(c.busy.get().saturating_sub(1));
        c.last_active.set(Instant::now());
    }
}

/// How long a new connection is spared while it sends its first request.
const NEW_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// One core's open connections.
#[derive(Default)]
pub struct Registry {
    conns: RefCell<Vec<Rc<Conn>>>,
    /// Connections not yet told to close.
    live: Cell<usize>,
}

impl Registry {
    pub fn live(&self) -> usize {
        self.live.get()
    }

    /// Adds a connection; dropping the returned guard removes it.
    pub fn add(self: &Rc<Self>, conn: Rc<Conn>) -> Registered {
        let mut conns = self.conns.borrow_mut();
        conn.slot.set(conns.len());
        conns.push(conn.clone());
        self.live.set(self.live.get() + 1);
        Registered {
            registry: self.clone(),
            conn,
        }
    }

    fn remove(&self, conn: &Conn) {
        let mut conns = self.conns.borrow_mut();
        let i = conn.slot.get();
        if i >= conns.len() {
            return;
        }
        conns.swap_remove(i);
        if let Some(moved) = conns.get(i) {
            moved.slot.set(i);
        }
        if !conn.evicted.get() {
            self.live.set(self.live.get().saturating_sub(1));
        }
    }

    /// The connection that costs least to close, among those not serving a
    /// request: one that has had `NEW_GRACE` to authenticate and has not,
    /// else an authenticated one between requests (its client reconnects
    /// on its next request and loses nothing), else one just accepted
    /// (closing it may fail the request it is sending); within each, the
    /// longest idle. A scan: only made at the cap, over at most
    /// `--max-connections` entries.
    fn victim(&self) -> Option<Rc<Conn>> {
        let now = Instant::now();
        let tier = |c: &Conn| match (c.authenticated.get(), now - c.accepted >= NEW_GRACE) {
            (false, true) => 0,
            (true, _) => 1,
            (false, false) => 2,
        };
        self.conns
            .borrow()
            .iter()
            .filter(|c| !c.evicted.get() && !c.is_busy())
            .min_by_key(|c| (tier(c), c.last_active.get()))
            .cloned()
    }

    /// Tells the cheapest connection to close (it no longer counts as
    /// live); false when every connection is serving a request.
    pub fn evict_one(&self) -> bool {
        match self.victim() {
            Some(c) => {
                c.evict();
                self.live.set(self.live.get().saturating_sub(1));
                tracing::debug!(peer = %c.peer, authenticated = c.is_authenticated(), "connection evicted to make room");
                true
            }
            None => false,
        }
    }
}

/// A connection's place in its core's registry.
pub struct Registered {
    registry: Rc<Registry>,
    conn: Rc<Conn>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.remove(&self.conn);
    }
}

/// Cells per row of the address table.
const ADDR_CELLS: usize = 1 << 15;

/// Open connections per client address over every core.
///
/// Every core accepts (SO_REUSEPORT), so the count must be shared, and the
/// accept path must not take a lock. It is a count-min sketch: two rows of
/// atomic counters, an address adding one to a cell in each row chosen by a
/// hash keyed randomly at start-up (so a client cannot pick an address that
/// collides with another's). Its count is the smaller of its two cells,
/// which is never less than its true count: collisions can only refuse
/// early, never let an address past the limit. With at most a few thousand
/// connections over 2 x 32768 cells, an early refusal needs the same
/// unlucky collision in both rows.
pub struct AddrLimiter {
    limit: u32,
    hasher: std::collections::hash_map::RandomState,
    cells: Box<[AtomicU32]>,
}

impl AddrLimiter {
    pub fn new(limit: usize) -> AddrLimiter {
        AddrLimiter {
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
            hasher: std::collections::hash_map::RandomState::new(),
            cells: (0..2 * ADDR_CELLS).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    /// The two cells of a client (see [`client_key`]).
    fn cells(&self, ip: IpAddr) -> [usize; 2] {
        let h = self.hasher.hash_one(client_key(ip));
        [
            (h as usize) % ADDR_CELLS,
            ADDR_CELLS + ((h >> 32) as usize) % ADDR_CELLS,
        ]
    }

    /// Counts a new connection from `ip`; `None` if that would take the
    /// address past the limit. The slot is given back when dropped.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<AddrSlot> {
        let idx = self.cells(ip);
        // Relaxed: each counter is only ever read-modify-written; nothing
        // else is published through it.
        let a = self.cells[idx[0]].fetch_add(1, Ordering::Relaxed);
        let b = self.cells[idx[1]].fetch_add(1, Ordering::Relaxed);
        let slot = AddrSlot {
            limiter: self.clone(),
            idx,
        };
        // Two cores racing for the last slot may both be refused: never
        // both admitted.
        (a.min(b) < self.limit).then_some(slot)
    }
}

/// Who a client is, for limits: IPv4 by address, IPv6 by /64 (one host
/// usually has a whole /64 to pick source addresses from).
pub fn client_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(u32::from(v4)),
            None => (u128::from(v6) >> 64) | (1 << 64),
        },
    }
}

/// One connection's count in the address table.
pub struct AddrSlot {
    limiter: Arc<AddrLimiter>,
    idx: [usize; 2],
}

impl Drop for AddrSlot {
    fn drop(&mut self) {
        for i in self.idx {
            self.limiter.cells[i].fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// At most `PER_SECOND` log lines a second from one core for one kind of
/// event a client can cause at will; the lines dropped are counted and
/// reported with the next line.
pub struct LogBudget {
    second: Cell<u64>,
    used: Cell<u32>,
    suppressed: Cell<u64>,
}

impl LogBudget {
    pub const PER_SECOND: u32 = 10;

    pub const fn new() -> LogBudget {
        LogBudget {
            second: Cell::new(0),
            used: Cell::new(0),
            suppressed: Cell::new(0),
        }
    }

    /// `Some(lines suppressed since the last one logged)` if this event may
    /// be logged now.
    pub fn take(&self, now_ms: u64) -> Option<u64> {
        let second = now_ms / 1000;
        if second != self.second.get() {
            self.second.set(second);
            self.used.set(0);
        }
        if self.used.get() >= Self::PER_SECOND {
            self.suppressed.set(self.suppressed.get() + 1);
            return None;
        }
        self.used.set(self.used.get() + 1);
        Some(self.suppressed.replace(0))
    }
}

impl Default for LogBudget {
    fn default() -> Self {
        LogBudget::new()
    }
}

/// Whether `fut` is still pending after one poll (for tests).
#[cfg(test)]
fn pending<F: std::future::Future>(fut: F) -> bool {
    use futures_util::FutureExt;
    fut.now_or_never().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    #[test]
    fn an_address_gets_at_most_its_limit_and_slots_come_back() {
        let l = Arc::new(AddrLimiter::new(3));
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let held: Vec<_> = (0..3).map(|_| l.acquire(a).expect("under limit")).collect();
        assert!(l.acquire(a).is_none(), "a fourth connection admitted");
        assert!(l.acquire(a).is_none(), "a refusal must not leak a count");
        // Other addresses are not affected (the hash is random, so try many:
        // an early refusal needs a collision in both rows).
        for i in 0..200u8 {
            let other = IpAddr::V4(Ipv4Addr::new(10, 0, 1, i));
            assert!(l.acquire(other).is_some(), "{other} refused");
        }
        drop(held);
        assert!(l.acquire(a).is_some(), "slots come back when dropped");
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_prefix() {
        let l = Arc::new(AddrLimiter::new(2));
        let host = |last: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, last));
        let _a = l.acquire(host(1)).expect("first");
        let _b = l.acquire(host(2)).expect("second");
        assert!(l.acquire(host(3)).is_none(), "a new source in the same /64");
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let _c = l.acquire(mapped).expect("mapped");
        let _d = l.acquire(v4).expect("v4");
        assert!(l.acquire(v4).is_none(), "v4-mapped and v4 are one address");
    }

    #[test]
    fn eviction_prefers_unauthenticated_then_idle_then_new_connections() {
        crate::runtime::block_on(async {
            let reg = Rc::new(Registry::default());
            let peer: SocketAddr = "127.0.0.1:1".parse().expect("addr");
            let conn = || Rc::new(Conn::new(peer, Duration::from_secs(60)));
            let (busy, authed_old, authed_new, anon) = (conn(), conn(), conn(), conn());
            busy.set_authenticated();
            authed_old.set_authenticated();
            authed_new.set_authenticated();
            let _serving = busy.begin();
            crate::runtime::sleep(NEW_GRACE).await;
            let young = conn();
            let _g: Vec<_> = [&busy, &authed_old, &authed_new, &anon, &young]
                .into_iter()
                .map(|c| reg.add(c.clone()))
                .collect();
            drop(authed_new.begin());
            assert_eq!(reg.live(), 5);

            let order = [&anon, &authed_old, &authed_new, &young];
            for c in order {
                assert!(pending(c.must_close()));
                assert!(reg.evict_one());
                assert!(c.evicted.get());
                assert!(!pending(c.must_close()), "an evicted connection ends");
            }
            assert!(!reg.evict_one(), "a connection serving a request is kept");
            assert!(!busy.evicted.get());
            assert_eq!(reg.live(), 1);
        })
        .expect("runtime");
    }

    #[test]
    fn the_first_request_deadline_ends_only_a_connection_without_requests() {
        crate::runtime::block_on(async {
            let peer: SocketAddr = "127.0.0.1:1".parse().expect("addr");
            let silent = Conn::new(peer, Duration::from_millis(30));
            let t = std::time::Instant::now();
            silent.must_close().await;
            assert!(t.elapsed() >= Duration::from_millis(25));

            let talker = Rc::new(Conn::new(peer, Duration::from_millis(30)));
            drop(talker.begin());
            let closing = talker.must_close();
            let r = crate::runtime::timeout(Duration::from_millis(100), closing).await;
            assert!(
                r.is_err(),
                "a connection that sent a request outlived the deadline"
            );
        })
        .expect("runtime");
    }

    #[test]
    fn log_budget_allows_a_burst_per_second_and_counts_the_rest() {
        let b = LogBudget::new();
        for _ in 0..LogBudget::PER_SECOND {
            assert_eq!(b.take(5_000), Some(0));
        }
        assert_eq!(b.take(5_100), None);
        assert_eq!(b.take(5_999), None);
        assert_eq!(
            b.take(6_000),
            Some(2),
            "the next second reports the dropped"
        );
        assert_eq!(b.take(6_001), Some(0));
    }
}
