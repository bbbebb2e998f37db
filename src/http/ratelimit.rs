//! Request-rate limits per client address (`--rate-limit-per-ip`, checked
//! before authentication) and per access key (`--rate-limit-per-key`,
//! checked after it), so one noisy client cannot starve the rest. Off by
//! default. A refused request gets 503 SlowDown with `Retry-After`.
//!
//! Every core serves every client, so the buckets are shared, and the
//! request path takes no lock and allocates nothing: a token bucket is one
//! `AtomicU64` holding its "theoretical arrival time" (the GCRA form of a
//! token bucket: the time at which the bucket will be full again, so one
//! number replaces tokens plus last-refill time). Buckets live in a fixed
//! table, as the connection counts of `conns.rs` do: two rows of cells, a
//! client charging one cell in each row chosen by a hash keyed randomly at
//! start-up, and refused only when both its cells are exhausted. A cell
//! shared with another client is never less used than the client's own
//! bucket, so collisions can only refuse early, never let a client past its
//! rate; an early refusal needs a collision with a busy client in both rows.

use std::collections::hash_map::RandomState;
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use super::conns::client_key;

/// Cells per row: 2 x 16384 x 8 bytes = 256 KiB per limit, allocated only
/// when the limit is on.
const CELLS: usize = 1 << 14;
/// Bounds of `RPS[/BURST]`: a microsecond clock cannot space requests
/// closer than 1 µs.
const MAX_RATE: f64 = 1_000_000.0;
const MAX_BURST: u64 = 1_000_000;

/// A sustained rate and how many requests may come at once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub per_sec: f64,
    pub burst: u64,
}

impl Rate {
    /// `RPS[/BURST]`, e.g. `100`, `100/500`, `0.5/3`. The burst defaults
    /// to one second's worth (at least 1).
    pub fn parse(s: &str) -> Result<Rate, String> {
        let bad = || format!("{s:?} is not a rate (RPS or RPS/BURST, like 100 or 100/500)");
        let (rps, burst) = match s.trim().split_once('/') {
            Some((r, b)) => (r, Some(b)),
            None => (s.trim(), None),
        };
        let per_sec: f64 = rps.trim().parse().map_err(|_| bad())?;
        if !per_sec.is_finite() || per_sec <= 0.0 || per_sec > MAX_RATE {
            return Err(format!(
                "{s:?}: the rate must be above 0 and at most {MAX_RATE}"
            ));
        }
        let burst = match burst {
            Some(b) => b.trim().parse().map_err(|_| bad())?,
            None => per_sec.ceil() as u64,
        };
        if burst == 0 || burst > MAX_BURST {
            return Err(format!(
                "{s:?}: the burst must be between 1 and {MAX_BURST}"
            ));
        }
        Ok(Rate { per_sec, burst })
    }

    /// Microseconds between two requests at the sustained rate.
    fn interval_us(&self) -> u64 {
        ((1e6 / self.per_sec).round() as u64).max(1)
    }

    /// `0` (off) or a rate as [`Rate::parse`] reads it: the admin API's
    /// run-time form of a limit.
    pub fn parse_or_off(s: &str) -> Result<Option<Rate>, String> {
        if s.trim() == "0" {
            Ok(None)
        } else {
            Rate::parse(s).map(Some)
        }
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.per_sec, self.burst)
    }
}

/// One limit's buckets.
pub struct Buckets {
    /// µs per request at the sustained rate (changed at run time by the
    /// admin API, hence atomic).
    interval: AtomicU64,
    /// How far ahead of now a bucket's arrival time may run and still
    /// admit: `(burst - 1) * interval`.
    tolerance: AtomicU64,
    hasher: RandomState,
    /// Per cell: the theoretical arrival time, µs on the limiter's clock.
    cells: Box<[AtomicU64]>,
    row: usize,
}

impl Buckets {
    pub fn new(rate: Rate) -> Buckets {
        Buckets::with_cells(rate, CELLS)
    }

    fn with_cells(rate: Rate, row: usize) -> Buckets {
        let interval = rate.interval_us();
        Buckets {
            interval: AtomicU64::new(interval),
            tolerance: AtomicU64::new((rate.burst - 1).saturating_mul(interval)),
            hasher: RandomState::new(),
            cells: (0..2 * row).map(|_| AtomicU64::new(0)).collect(),
            row,
        }
    }

    /// A new rate for every client from now on; what clients have used is
    /// kept (a lower rate makes a busy client wait at once).
    pub fn set_rate(&self, rate: Rate) {
        let interval = rate.interval_us();
        self.interval.store(interval, Ordering::Relaxed);
        self.tolerance
            .store((rate.burst - 1).saturating_mul(interval), Ordering::Relaxed);
    }

    fn cells_of(&self, key: impl Hash) -> [usize; 2] {
        let h = self.hasher.hash_one(key);
        [
            (h as usize) % self.row,
            self.row + ((h >> 32) as usize) % self.row,
        ]
    }

    /// Takes a token for `key` at `now_us`; when there is none, the µs
    /// until there is. Two cores racing for a client's last token may both
    /// get it: a burst can overshoot by one request per core, never the
    /// sustained rate.
    pub fn take(&self, key: impl Hash, now_us: u64) -> Result<(), u64> {
        let idx = self.cells_of(key);
        let (interval, tolerance) = (
            self.interval.load(Ordering::Relaxed),
            self.tolerance.load(Ordering::Relaxed),
        );
        // Relaxed: each cell is only read-modify-written; nothing else is
        // published through it.
        let backlog = idx
            .iter()
            .map(|&i| self.cells[i].load(Ordering::Relaxed).saturating_sub(now_us))
            .min()
            .unwrap_or(0);
        if backlog > tolerance {
            return Err(backlog - tolerance);
        }
        for i in idx {
            let _ = self.cells[i].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |tat| {
                Some(charge(tat, now_us, interval, tolerance))
            });
        }
        Ok(())
    }
}

/// A cell's arrival time after one more request. Capped at a full bucket's
/// worth past now: a cell shared with a busy client then still drains in
/// one burst's time once that client stops, and never overflows.
fn charge(tat: u64, now: u64, interval: u64, tolerance: u64) -> u64 {
    let cap = now.saturating_add(tolerance).saturating_add(interval);
    tat.max(now).saturating_add(interval).min(cap)
}

/// Whole seconds to wait, as `Retry-After` says it: rounded up, at least 1.
pub fn retry_after_secs(wait_us: u64) -> u64 {
    wait_us.div_ceil(1_000_000).max(1)
}

/// One limit that the admin API may turn on, change or turn off while
/// requests run: off costs one atomic load; the cells are allocated the
/// first time it is on and kept.
#[derive(Default)]
pub struct Limit {
    on: AtomicBool,
    buckets: OnceLock<Buckets>,
}

impl Limit {
    fn new(rate: Option<Rate>) -> Limit {
        let l = Limit::default();
        l.set(rate);
        l
    }

    pub fn set(&self, rate: Option<Rate>) {
        match rate {
            Some(r) => {
                self.buckets.get_or_init(|| Buckets::new(r)).set_rate(r);
                self.on.store(true, Ordering::Release);
            }
            None => self.on.store(false, Ordering::Release),
        }
    }

    fn get(&self) -> Option<&Buckets> {
        if self.on.load(Ordering::Acquire) {
            self.buckets.get()
        } else {
            None
        }
    }
}

/// The node's limits, shared by every core.
pub struct RateLimits {
    start: Instant,
    pub per_ip: Limit,
    pub per_key: Limit,
    refused_ip: AtomicU64,
    refused_key: AtomicU64,
}

impl RateLimits {
    pub fn new(per_ip: Option<Rate>, per_key: Option<Rate>) -> RateLimits {
        RateLimits {
            start: Instant::now(),
            per_ip: Limit::new(per_ip),
            per_key: Limit::new(per_key),
            refused_ip: AtomicU64::new(0),
            refused_key: AtomicU64::new(0),
        }
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// `Err(seconds to wait)` when `ip` (its /64 for IPv6) is over its rate.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), u64> {
        let Some(b) = self.per_ip.get() else {
            return Ok(());
        };
        b.take(client_key(ip), self.now_us()).map_err(|wait| {
            self.refused_ip.fetch_add(1, Ordering::Relaxed);
            retry_after_secs(wait)
        })
    }

    /// `Err(seconds to wait)` when the access key is over its rate.
    pub fn check_key(&self, access_key: &str) -> Result<(), u64> {
        let Some(b) = self.per_key.get() else {
            return Ok(());
        };
        b.take(access_key, self.now_us()).map_err(|wait| {
            self.refused_key.fetch_add(1, Ordering::Relaxed);
            retry_after_secs(wait)
        })
    }

    /// Prometheus lines: refusals per kind of limit.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP cairn_rate_limited_total Requests refused with 503 SlowDown by a rate limit."
        );
        let _ = writeln!(out, "# TYPE cairn_rate_limited_total counter");
        for (kind, n) in [("ip", &self.refused_ip), ("key", &self.refused_key)] {
            let _ = writeln!(
                out,
                "cairn_rate_limited_total{{kind=\"{kind}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const SEC: u64 = 1_000_000;

    fn rate(per_sec: f64, burst: u64) -> Rate {
        Rate { per_sec, burst }
    }

    #[test]
    fn a_burst_is_admitted_then_one_request_per_interval() {
        let b = Buckets::new(rate(2.0, 3));
        let t0 = 10 * SEC;
        for i in 0..3 {
            assert_eq!(b.take("k", t0), Ok(()), "request {i} of the burst");
        }
        // The fourth waits for one token: half a second at 2/s.
        assert_eq!(b.take("k", t0), Err(SEC / 2));
        assert_eq!(
            b.take("k", t0 + SEC / 4),
            Err(SEC / 4),
            "a refusal costs nothing"
        );
        assert_eq!(b.take("k", t0 + SEC / 2), Ok(()));
        assert_eq!(b.take("k", t0 + SEC / 2), Err(SEC / 2));
        // Idle for long enough, the whole burst is back, and no more.
        let t1 = t0 + 100 * SEC;
        for _ in 0..3 {
            assert_eq!(b.take("k", t1), Ok(()));
        }
        assert!(b.take("k", t1).is_err());
    }

    #[test]
    fn the_sustained_rate_is_kept_over_time() {
        let b = Buckets::new(rate(10.0, 5));
        let mut admitted = 0u64;
        // A client asking every millisecond for 10 s.
        for ms in 0..10_000u64 {
            if b.take("noisy", ms * 1000).is_ok() {
                admitted += 1;
            }
        }
        // 5 at once, then 10/s over the remaining ~10 s.
        assert!((100..=106).contains(&admitted), "admitted {admitted}");
    }

    #[test]
    fn clients_have_their_own_buckets() {
        let b = Buckets::new(rate(1.0, 2));
        assert!(b.take("noisy", 0).is_ok());
        assert!(b.take("noisy", 0).is_ok());
        assert!(b.take("noisy", 0).is_err());
        // The hash is random, so try many: an early refusal needs a
        // collision in both rows.
        for i in 0..500 {
            assert!(b.take(format!("other{i}"), 0).is_ok(), "other{i} refused");
        }
    }

    #[test]
    fn a_shared_cell_refuses_early_but_recovers_within_a_burst() {
        // One cell per row: every client collides with every other.
        let b = Buckets::with_cells(rate(1.0, 2), 1);
        assert!(b.take("a", 0).is_ok());
        assert!(b.take("b", 0).is_ok());
        assert_eq!(b.take("c", 0), Err(SEC));
        assert!(b.take("c", SEC).is_ok());
    }

    #[test]
    fn a_cell_never_runs_more_than_a_burst_ahead() {
        let (interval, tolerance) = (100, 400);
        let mut tat = 0;
        for _ in 0..1000 {
            tat = charge(tat, 50, interval, tolerance);
        }
        assert_eq!(tat, 50 + tolerance + interval);
        assert_eq!(
            charge(u64::MAX, u64::MAX - 1, interval, tolerance),
            u64::MAX
        );
        assert_eq!(
            charge(10, 1000, interval, tolerance),
            1100,
            "idle: from now"
        );
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        assert_eq!(retry_after_secs(0), 1);
        assert_eq!(retry_after_secs(1), 1);
        assert_eq!(retry_after_secs(SEC), 1);
        assert_eq!(retry_after_secs(SEC + 1), 2);
        // 0.5/s: the next token is two seconds away.
        let b = Buckets::new(rate(0.5, 1));
        assert!(b.take("k", 0).is_ok());
        assert_eq!(b.take("k", 0).map_err(retry_after_secs), Err(2));
    }

    #[test]
    fn rates_parse_with_an_optional_burst() {
        assert_eq!(Rate::parse("100"), Ok(rate(100.0, 100)));
        assert_eq!(Rate::parse("100/500"), Ok(rate(100.0, 500)));
        assert_eq!(Rate::parse(" 0.5 / 3 "), Ok(rate(0.5, 3)));
        assert_eq!(Rate::parse("0.2"), Ok(rate(0.2, 1)));
        for bad in [
            "",
            "0",
            "-1",
            "x",
            "1/0",
            "1/x",
            "NaN",
            "inf",
            "2000000",
            "1/2000000",
        ] {
            assert!(Rate::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(rate(3.0, 1).interval_us(), 333_333);
        assert_eq!(rate(MAX_RATE, 1).interval_us(), 1);
    }

    #[test]
    fn limits_are_per_ip_and_per_key_and_count_refusals() {
        let l = RateLimits::new(Some(rate(1.0, 1)), Some(rate(1.0, 1)));
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(l.check_ip(a), Ok(()));
        assert_eq!(l.check_ip(a), Err(1));
        assert_eq!(l.check_ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))), Ok(()));
        let v6 = |last| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, last));
        assert_eq!(l.check_ip(v6(1)), Ok(()));
        assert_eq!(l.check_ip(v6(2)), Err(1), "the same /64");
        assert_eq!(l.check_key("root"), Ok(()));
        assert_eq!(l.check_key("root"), Err(1));
        let mut out = String::new();
        l.render(&mut out);
        assert!(
            out.contains("cairn_rate_limited_total{kind=\"ip\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("cairn_rate_limited_total{kind=\"key\"} 1\n"),
            "{out}"
        );
        let off = RateLimits::new(None, None);
        for _ in 0..1000 {
            assert_eq!(off.check_ip(a), Ok(()));
            assert_eq!(off.check_key("root"), Ok(()));
        }
    }

    #[test]
    fn a_limit_turned_on_changed_and_off_at_run_time_applies_at_once() {
        let l = RateLimits::new(None, None);
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(l.check_ip(a), Ok(()));
        l.per_ip.set(Some(rate(1.0, 1)));
        assert_eq!(l.check_ip(a), Ok(()));
        assert_eq!(l.check_ip(a), Err(1), "on");
        l.per_ip.set(Some(rate(1000.0, 1000)));
        assert_eq!(l.check_key("k"), Ok(()), "the key limit stays off");
        l.per_ip.set(None);
        for _ in 0..100 {
            assert_eq!(l.check_ip(a), Ok(()), "off");
        }
        assert_eq!(Rate::parse_or_off("0"), Ok(None));
        assert_eq!(Rate::parse_or_off("5/10"), Ok(Some(rate(5.0, 10))));
        assert!(Rate::parse_or_off("-1").is_err());
        assert_eq!(rate(2.5, 3).to_string(), "2.5/3");
    }
}
