//! Request metrics: each core records its own (no sharing on the request
//! path); `GET /metrics` asks every core for a snapshot and merges them into
//! Prometheus text, with the engine's shared counters.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::engine::heal::HealProgress;
use crate::engine::Shared;
use crate::runtime::channel::{bounded, oneshot, Receiver, Sender};

/// Latencies are kept in microseconds, up to 10 minutes, 3 significant digits.
const LATENCY_MAX_US: u64 = 600_000_000;
/// Upper bounds (seconds) of the latency histogram's buckets: the console
/// takes quantiles of a poll window from the difference of two scrapes,
/// which a summary's quantiles since start cannot give.
const LATENCY_BUCKETS: [f64; 18] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];
/// How long a core waits for the others' snapshots.
const GATHER_TIMEOUT: Duration = Duration::from_secs(2);

/// One core's counters and latency histograms.
pub struct CoreMetrics {
    requests: RefCell<BTreeMap<(&'static str, u16), u64>>,
    latency: RefCell<BTreeMap<&'static str, Histogram<u64>>>,
    bytes_in: Cell<u64>,
    bytes_out: Cell<u64>,
    /// Requests from head received to response body sent (or dropped).
    in_flight: Cell<u64>,
    /// Refused authentication and authorisation, by S3 error code.
    auth_failures: RefCell<BTreeMap<&'static str, u64>>,
}

/// What a core sends for a scrape.
pub struct Snapshot {
    requests: Vec<((&'static str, u16), u64)>,
    latency: Vec<(&'static str, Histogram<u64>)>,
    bytes_in: u64,
    bytes_out: u64,
    in_flight: u64,
    auth_failures: Vec<(&'static str, u64)>,
}

/// Counts a request in flight until dropped.
pub struct InFlight(Rc<CoreMetrics>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let n = &self.0.in_flight;
        n.set(n.get().saturating_sub(1));
    }
}

type Request = oneshot::Sender<Snapshot>;

/// A core's view of every core's metrics.
#[derive(Clone)]
pub struct MetricsHub {
    pub own: Rc<CoreMetrics>,
    core: usize,
    peers: Arc<Vec<Sender<Request>>>,
    inbox: Receiver<Request>,
}

/// Channels for `cores` cores: a hub input per core and their receivers.
pub fn channels(cores: usize) -> (Arc<Vec<Sender<Request>>>, Vec<Receiver<Request>>) {
    let mut tx = Vec::with_capacity(cores);
    let mut rx = Vec::with_capacity(cores);
    for _ in 0..cores {
        let (s, r) = bounded(16);
        tx.push(s);
        rx.push(r);
    }
    (Arc::new(tx), rx)
}

impl CoreMetrics {
    fn new() -> CoreMetrics {
        CoreMetrics {
            requests: RefCell::new(BTreeMap::new()),
            latency: RefCell::new(BTreeMap::new()),
            bytes_in: Cell::new(0),
            bytes_out: Cell::new(0),
            in_flight: Cell::new(0),
            auth_failures: RefCell::new(BTreeMap::new()),
        }
    }

    /// A request began; it is in flight until the guard is dropped.
    pub fn begin(self: &Rc<Self>) -> InFlight {
        self.in_flight.set(self.in_flight.get() + 1);
        InFlight(self.clone())
    }

    /// A request refused for its credentials or by a policy (`code` is the
    /// S3 error code it was answered with).
    pub fn auth_failure(&self, code: &'static str) {
        *self.auth_failures.borrow_mut().entry(code).or_insert(0) += 1;
    }

    /// Records one finished request.
    pub fn record(
        &self,
        op: &'static str,
        status: u16,
        took: Duration,
        bytes_in: u64,
        bytes_out: u64,
    ) {
        *self.requests.borrow_mut().entry((op, status)).or_insert(0) += 1;
        let us = (took.as_micros() as u64).clamp(1, LATENCY_MAX_US);
        let mut lat = self.latency.borrow_mut();
        if !lat.contains_key(op) {
            match Histogram::new_with_bounds(1, LATENCY_MAX_US, 3) {
                Ok(h) => {
                    lat.insert(op, h);
                }
                Err(_) => return,
            }
        }
        if let Some(h) = lat.get_mut(op) {
            h.saturating_record(us);
        }
        self.bytes_in.set(self.bytes_in.get() + bytes_in);
        self.bytes_out.set(self.bytes_out.get() + bytes_out);
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            requests: self
                .requests
                .borrow()
                .iter()
                .map(|(k, v)| (*k, *v))
                .collect(),
            latency: self
                .latency
                .borrow()
                .iter()
                .map(|(k, v)| (*k, v.clone()))
                .collect(),
            bytes_in: self.bytes_in.get(),
            bytes_out: self.bytes_out.get(),
            in_flight: self.in_flight.get(),
            auth_failures: self
                .auth_failures
                .borrow()
                .iter()
                .map(|(k, v)| (*k, *v))
                .collect(),
        }
    }
}

impl MetricsHub {
    /// This core's hub; answers the other cores' snapshot requests from `inbox`.
    pub fn start(
        core: usize,
        peers: Arc<Vec<Sender<Request>>>,
        inbox: Receiver<Request>,
    ) -> MetricsHub {
        let own = Rc::new(CoreMetrics::new());
        let me = Rc::downgrade(&own);
        let rx = inbox.clone();
        crate::runtime::spawn(async move {
            while let Ok(reply) = rx.recv().await {
                let Some(m) = me.upgrade() else { break };
                let _ = reply.send(m.snapshot());
            }
        });
        MetricsHub {
            own,
            core,
            peers,
            inbox,
        }
    }

    /// Ends the snapshot responder while the executor still runs: a task left
    /// parked on the channel would be freed later from inside the channel's
    /// own notification and deadlock there (see `Engine`'s inbox).
    pub fn close(&self) {
        self.inbox.close();
    }

    /// Prometheus text for the whole node.
    pub async fn render(&self, shared: &Shared) -> String {
        let mut snaps = vec![self.own.snapshot()];
        for (c, peer) in self.peers.iter().enumerate() {
            if c == self.core {
                continue;
            }
            let (tx, rx) = oneshot::channel();
            if peer.try_send(tx).is_err() {
                continue;
            }
            if let Ok(Ok(s)) = crate::runtime::timeout(GATHER_TIMEOUT, rx).await {
                snaps.push(s);
            }
        }
        render(snaps, shared)
    }
}

fn render(snaps: Vec<Snapshot>, shared: &Shared) -> String {
    let mut requests: BTreeMap<(&'static str, u16), u64> = BTreeMap::new();
    let mut latency: BTreeMap<&'static str, Histogram<u64>> = BTreeMap::new();
    let (mut bytes_in, mut bytes_out, mut in_flight) = (0, 0, 0);
    let mut auth_failures: BTreeMap<&'static str, u64> = BTreeMap::new();
    for s in snaps {
        in_flight += s.in_flight;
        for (code, n) in s.auth_failures {
            *auth_failures.entry(code).or_insert(0) += n;
        }
        for (k, v) in s.requests {
            *requests.entry(k).or_insert(0) += v;
        }
        for (op, h) in s.latency {
            match latency.get_mut(op) {
                Some(m) => {
                    let _ = m.add(&h);
                }
                None => {
                    latency.insert(op, h);
                }
            }
        }
        bytes_in += s.bytes_in;
        bytes_out += s.bytes_out;
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP cairn_requests_total S3 requests by operation and status."
    );
    let _ = writeln!(out, "# TYPE cairn_requests_total counter");
    for ((op, status), n) in &requests {
        let _ = writeln!(
            out,
            "cairn_requests_total{{op=\"{op}\",status=\"{status}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP cairn_request_duration_seconds S3 request latency by operation (all cores merged)."
    );
    let _ = writeln!(out, "# TYPE cairn_request_duration_seconds summary");
    for (op, h) in &latency {
        for q in [0.5, 0.9, 0.99, 1.0] {
            let v = h.value_at_quantile(q) as f64 / 1e6;
            let _ = writeln!(
                out,
                "cairn_request_duration_seconds{{op=\"{op}\",quantile=\"{q}\"}} {v}"
            );
        }
        let _ = writeln!(
            out,
            "cairn_request_duration_seconds_count{{op=\"{op}\"}} {}",
            h.len()
        );
    }
    let _ = writeln!(
        out,
        "# HELP cairn_request_latency_seconds S3 request latency by operation, as cumulative buckets."
    );
    let _ = writeln!(out, "# TYPE cairn_request_latency_seconds histogram");
    for (op, h) in &latency {
        for (le, n) in LATENCY_BUCKETS.iter().zip(cumulative_buckets(h)) {
            let _ = writeln!(
                out,
                "cairn_request_latency_seconds_bucket{{op=\"{op}\",le=\"{le}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "cairn_request_latency_seconds_bucket{{op=\"{op}\",le=\"+Inf\"}} {}",
            h.len()
        );
        // From the histogram's recorded values (3 significant digits).
        let sum = h.mean() * h.len() as f64 / 1e6;
        let _ = writeln!(
            out,
            "cairn_request_latency_seconds_sum{{op=\"{op}\"}} {sum}"
        );
        let _ = writeln!(
            out,
            "cairn_request_latency_seconds_count{{op=\"{op}\"}} {}",
            h.len()
        );
    }
    let _ = writeln!(out, "# TYPE cairn_bytes_received_total counter");
    let _ = writeln!(out, "cairn_bytes_received_total {bytes_in}");
    let _ = writeln!(out, "# TYPE cairn_bytes_sent_total counter");
    let _ = writeln!(out, "cairn_bytes_sent_total {bytes_out}");
    let _ = writeln!(
        out,
        "# HELP cairn_requests_in_flight S3 requests received and not yet fully answered."
    );
    let _ = writeln!(out, "# TYPE cairn_requests_in_flight gauge");
    let _ = writeln!(out, "cairn_requests_in_flight {in_flight}");
    let _ = writeln!(
        out,
        "# HELP cairn_auth_failures_total Requests refused for their credentials or by policy, by S3 error code."
    );
    let _ = writeln!(out, "# TYPE cairn_auth_failures_total counter");
    for (code, n) in &auth_failures {
        let _ = writeln!(out, "cairn_auth_failures_total{{reason=\"{code}\"}} {n}");
    }
    let st = &shared.stats;
    let _ = writeln!(
        out,
        "# HELP cairn_core_handed_total Work a core was handed by another: object writes for the partitions it owns, jobs run on it."
    );
    let _ = writeln!(out, "# TYPE cairn_core_handed_total counter");
    for core in 0..st.handed.cores() {
        let n = st.handed.get(core);
        let _ = writeln!(out, "cairn_core_handed_total{{core=\"{core}\"}} {n}");
    }
    for (name, help, v) in [
        (
            "cairn_segment_flushes_total",
            "Segment fdatasyncs (group commits) by core.",
            &st.flushes.flushes,
        ),
        (
            "cairn_segment_flushed_writes_total",
            "Record writes made durable by those fdatasyncs: writes per flush is what group commit shares.",
            &st.flushes.writes,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        for core in 0..v.cores() {
            let _ = writeln!(out, "{name}{{core=\"{core}\"}} {}", v.get(core));
        }
    }
    for (name, v) in [
        ("cairn_read_cache_hits_total", &st.read_cache_hits),
        ("cairn_read_cache_misses_total", &st.read_cache_misses),
        (
            "cairn_read_cache_plaintext_hits_total",
            &st.read_cache_plaintext_hits,
        ),
    ] {
        let _ = writeln!(out, "# TYPE {name} counter");
        let _ = writeln!(out, "{name} {}", v.sum());
    }
    for (name, v) in [
        ("cairn_corrupt_records_total", &st.corrupt_records),
        ("cairn_missing_shards_total", &st.missing_shards),
        ("cairn_reconstructions_total", &st.reconstructions),
        ("cairn_repaired_shards_total", &st.repaired_shards),
        ("cairn_compaction_runs_total", &st.compaction_runs),
        ("cairn_compaction_failures_total", &st.compaction_failures),
        (
            "cairn_compaction_segments_removed_total",
            &st.compaction_segments_removed,
        ),
        (
            "cairn_compaction_bytes_reclaimed_total",
            &st.compaction_bytes_reclaimed,
        ),
        (
            "cairn_compaction_bytes_moved_total",
            &st.compaction_bytes_moved,
        ),
        ("cairn_repair_runs_total", &st.repair_runs),
        ("cairn_repair_failures_total", &st.repair_failures),
        ("cairn_repaired_bytes_total", &st.repaired_bytes),
        ("cairn_repair_lost_records_total", &st.repair_lost),
        (
            "cairn_scrub_records_total",
            &shared.background.scrub.records,
        ),
        ("cairn_scrub_bytes_total", &shared.background.scrub.bytes),
        ("cairn_scrub_problems_total", &shared.background.scrub.bad),
        (
            "cairn_scrub_repaired_total",
            &shared.background.scrub.repaired,
        ),
        ("cairn_scrub_lost_total", &shared.background.scrub.lost),
        (
            "cairn_scrub_partition_passes_total",
            &shared.background.scrub.passes,
        ),
        ("cairn_heal_holders_total", &shared.heal.holders),
        (
            "cairn_heal_holders_healed_total",
            &shared.heal.holders_healed,
        ),
        ("cairn_heal_lost_records_total", &shared.heal.lost),
        (
            "cairn_heal_reads_not_yet_healed_total",
            &shared.heal.not_yet_healed,
        ),
        ("cairn_heal_finished_total", &shared.heal.finished),
        (
            "cairn_lifecycle_partition_passes_total",
            &shared.background.lifecycle.passes,
        ),
        (
            "cairn_lifecycle_keys_examined_total",
            &shared.background.lifecycle.keys,
        ),
        (
            "cairn_lifecycle_expired_total",
            &shared.background.lifecycle.expired,
        ),
        (
            "cairn_lifecycle_noncurrent_removed_total",
            &shared.background.lifecycle.noncurrent_removed,
        ),
        (
            "cairn_lifecycle_delete_markers_removed_total",
            &shared.background.lifecycle.delete_markers_removed,
        ),
        (
            "cairn_lifecycle_uploads_aborted_total",
            &shared.background.lifecycle.uploads_aborted,
        ),
        (
            "cairn_lifecycle_transitioned_total",
            &shared.background.lifecycle.transitioned,
        ),
        (
            "cairn_lifecycle_transitioned_bytes_total",
            &shared.background.lifecycle.transitioned_bytes,
        ),
        (
            "cairn_lifecycle_kept_by_lock_total",
            &shared.background.lifecycle.locked,
        ),
        (
            "cairn_lifecycle_failures_total",
            &shared.background.lifecycle.failures,
        ),
    ] {
        let _ = writeln!(out, "# TYPE {name} counter");
        let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
    }
    if let Ok(p) = shared.scrub_progress() {
        let _ = writeln!(
            out,
            "# HELP cairn_scrub_progress_ratio Share of the partitions' current scrub round done."
        );
        let _ = writeln!(out, "# TYPE cairn_scrub_progress_ratio gauge");
        let _ = writeln!(out, "cairn_scrub_progress_ratio {:.4}", p.progress);
        if let Some(t) = p.oldest_pass_ms {
            let _ = writeln!(
                out,
                "# HELP cairn_scrub_oldest_pass_age_seconds Since the least recently scrubbed partition's last pass began: everything older was verified since."
            );
            let _ = writeln!(out, "# TYPE cairn_scrub_oldest_pass_age_seconds gauge");
            let age = crate::engine::now_ms().saturating_sub(t) / 1000;
            let _ = writeln!(out, "cairn_scrub_oldest_pass_age_seconds {age}");
        }
    }
    crate::notify::deliver::render_metrics(&mut out);
    if let Ok(heals) = shared.heal_progress() {
        // One series per drive being healed.
        let healing = |f: fn(&HealProgress) -> Option<String>| {
            heals
                .iter()
                .filter_map(move |h| f(h).map(|v| (usize::from(h.drive), v)))
        };
        per_drive(
            &mut out,
            "cairn_heal_progress_ratio",
            "gauge",
            Some("Share of a healing drive's heal done (one series per drive being healed)."),
            healing(|h| Some(format!("{:.4}", h.fraction))),
        );
        per_drive(
            &mut out,
            "cairn_heal_bytes_total",
            "counter",
            Some("Bytes healing wrote back to a drive in this run."),
            healing(|h| Some(h.bytes.to_string())),
        );
        per_drive(
            &mut out,
            "cairn_heal_eta_seconds",
            "gauge",
            Some("Estimated time left of a drive's heal."),
            healing(|h| h.eta_seconds.map(|e| e.to_string())),
        );
        let _ = writeln!(out, "# HELP cairn_heal_drives Drives being healed.");
        let _ = writeln!(out, "# TYPE cairn_heal_drives gauge");
        let _ = writeln!(out, "cairn_heal_drives {}", heals.len());
    }
    if let Ok(n) = shared.repairs_remembered() {
        let _ = writeln!(
            out,
            "# HELP cairn_repair_remembered Repairs waiting in the indexes (for a drive to come back, or their turn)."
        );
        let _ = writeln!(out, "# TYPE cairn_repair_remembered gauge");
        let _ = writeln!(out, "cairn_repair_remembered {n}");
    }
    let drives = || 0..shared.set.drives.len();
    per_drive(
        &mut out,
        "cairn_drive_errors_total",
        "counter",
        None,
        drives().map(|d| (d, st.drive_errors[d].load(Ordering::Relaxed))),
    );
    per_drive(
        &mut out,
        "cairn_drive_offline_events_total",
        "counter",
        Some("Times the drive went offline at run time (an I/O error of the drive, or a failed probe)."),
        drives().map(|d| (d, shared.drive_health[d].offline_events())),
    );
    per_drive(
        &mut out,
        "cairn_drive_held",
        "gauge",
        Some("Whether the drive is held out of service: 1 by the operator, 2 by the node because it kept failing."),
        drives().map(|d| {
            let held = match shared.drive_health[d].held() {
                None => 0,
                Some(crate::engine::drive_service::HoldKind::Offline) => 1,
                Some(crate::engine::drive_service::HoldKind::OutOfService) => 2,
            };
            (d, held)
        }),
    );
    per_drive(
        &mut out,
        "cairn_drive_online",
        "gauge",
        None,
        drives().map(|d| (d, u8::from(shared.drive_online(d)))),
    );
    per_drive(
        &mut out,
        "cairn_drive_full",
        "gauge",
        Some("1 while the drive's free space is below its reserve (new data refused)."),
        drives().map(|d| (d, u8::from(shared.space.is_full(d)))),
    );
    per_drive(
        &mut out,
        "cairn_drive_free_bytes",
        "gauge",
        None,
        drives().map(|d| (d, shared.space.free(d))),
    );
    per_drive(
        &mut out,
        "cairn_drive_reserve_bytes",
        "gauge",
        None,
        drives().map(|d| (d, shared.space.reserve(d))),
    );
    crate::logs::render_metrics(&mut out);
    out
}

/// One metric family with a series per drive: its `# HELP` (when given)
/// and `# TYPE` lines, then `name{drive="d"} value` for each of `series`.
fn per_drive<V: std::fmt::Display>(
    out: &mut String,
    name: &str,
    kind: &str,
    help: Option<&str>,
    series: impl Iterator<Item = (usize, V)>,
) {
    if let Some(help) = help {
        let _ = writeln!(out, "# HELP {name} {help}");
    }
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (d, v) in series {
        let _ = writeln!(out, "{name}{{drive=\"{d}\"}} {v}");
    }
}

/// How many recorded latencies are at or below each of `LATENCY_BUCKETS`
/// (a value counts at the low end of its histogram bucket).
fn cumulative_buckets(h: &Histogram<u64>) -> [u64; LATENCY_BUCKETS.len()] {
    let mut per = [0u64; LATENCY_BUCKETS.len()];
    for v in h.iter_recorded() {
        let us = h.lowest_equivalent(v.value_iterated_to());
        if let Some(i) = LATENCY_BUCKETS.iter().position(|le| us as f64 <= le * 1e6) {
            per[i] += v.count_at_value();
        }
    }
    let mut total = 0;
    for n in per.iter_mut() {
        total += *n;
        *n = total;
    }
    per
}

/// Appends the usage series (`cairn_bucket_*` per bucket, drive capacity):
/// the counters of every partition index, summed (no object is read).
pub fn render_usage(out: &mut String, engine: &crate::engine::Engine) {
    match engine.usage() {
        Ok(report) => crate::engine::usage::render_metrics(out, &report),
        Err(e) => tracing::warn!(error = %e, "usage metrics unavailable"),
    }
    match engine.dedup_usage() {
        Ok(usage) => crate::engine::dedup::render_metrics(out, &engine.shared, &usage),
        Err(e) => tracing::warn!(error = %e, "deduplication metrics unavailable"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_are_cumulative_and_bounds_are_inclusive() {
        let mut h = Histogram::<u64>::new_with_bounds(1, LATENCY_MAX_US, 3).unwrap();
        h.record(50).unwrap(); // 0.05 ms
        h.record(1_000).unwrap(); // exactly 1 ms
        h.record_n(20_000, 3).unwrap(); // 20 ms
        h.record(120_000_000).unwrap(); // 2 min: past the last bound
        let b = cumulative_buckets(&h);
        let at = |le: f64| b[LATENCY_BUCKETS.iter().position(|x| *x == le).unwrap()];
        assert_eq!(at(0.0001), 1);
        assert_eq!(at(0.0005), 1);
        assert_eq!(at(0.001), 2);
        assert_eq!(at(0.01), 2);
        assert_eq!(at(0.025), 5);
        assert_eq!(at(60.0), 5);
        assert_eq!(h.len(), 6);
    }
}
