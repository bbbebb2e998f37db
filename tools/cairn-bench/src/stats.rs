//! Per-worker measurements, merged into the report at the end (no sharing
//! while the load runs), and the report's table and JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::cpu::Own;

/// Measurements of one kind of operation by one or more workers.
#[derive(Clone)]
pub struct OpStats {
    /// Successful operations.
    pub ops: u64,
    /// Object bytes moved by the successful operations.
    pub bytes: u64,
    /// Objects listed or deleted (LIST pages and DELETE batches carry many).
    pub objects: u64,
    pub errors: BTreeMap<String, u64>,
    /// Microseconds, successful operations only.
    latency: Histogram<u64>,
    ttfb: Histogram<u64>,
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 1 h at 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

impl Default for OpStats {
    fn default() -> Self {
        OpStats {
            ops: 0,
            bytes: 0,
            objects: 0,
            errors: BTreeMap::new(),
            latency: histogram(),
            ttfb: histogram(),
        }
    }
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, 3_600_000_000)
}

impl OpStats {
    pub fn success(&mut self, latency: Duration, ttfb: Duration, bytes: u64, objects: u64) {
        self.ops += 1;
        self.bytes += bytes;
        self.objects += objects;
        self.latency.saturating_record(micros(latency));
        self.ttfb.saturating_record(micros(ttfb));
    }

    pub fn error(&mut self, key: String) {
        *self.errors.entry(key).or_default() += 1;
    }

    pub fn merge(&mut self, other: &OpStats) {
        self.ops += other.ops;
        self.bytes += other.bytes;
        self.objects += other.objects;
        for (k, n) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += n;
        }
        self.latency.add(&other.latency).expect("same bounds");
        self.ttfb.add(&other.ttfb).expect("same bounds");
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// One worker's measurements, by operation name.
#[derive(Clone, Default)]
pub struct Stats {
    pub ops: BTreeMap<&'static str, OpStats>,
}

impl Stats {
    pub fn op(&mut self, name: &'static str) -> &mut OpStats {
        self.ops.entry(name).or_default()
    }

    pub fn merge(&mut self, other: &Stats) {
        for (name, s) in &other.ops {
            self.op(name).merge(s);
        }
    }
}

#[derive(Serialize, Debug, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

/// Milliseconds.
fn percentiles(h: &Histogram<u64>) -> Percentiles {
    let ms = |us: u64| us as f64 / 1000.0;
    Percentiles {
        p50: ms(h.value_at_quantile(0.50)),
        p90: ms(h.value_at_quantile(0.90)),
        p99: ms(h.value_at_quantile(0.99)),
        p999: ms(h.value_at_quantile(0.999)),
        max: ms(h.max()),
        mean: h.mean() / 1000.0,
    }
}

#[derive(Serialize, Debug)]
pub struct OpReport {
    pub op: String,
    pub ops: u64,
    pub ops_per_s: f64,
    pub mib_per_s: f64,
    /// Objects per second, for operations that carry many (LIST, DELETE).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objects_per_s: Option<f64>,
    pub errors: BTreeMap<String, u64>,
    pub latency_ms: Percentiles,
    pub ttfb_ms: Percentiles,
}

pub fn op_report(op: &str, s: &OpStats, secs: f64) -> OpReport {
    let secs = secs.max(1e-9);
    OpReport {
        op: op.to_owned(),
        ops: s.ops,
        ops_per_s: s.ops as f64 / secs,
        mib_per_s: s.bytes as f64 / secs / (1024.0 * 1024.0),
        objects_per_s: (s.objects > 0).then(|| s.objects as f64 / secs),
        errors: s.errors.clone(),
        latency_ms: percentiles(&s.latency),
        ttfb_ms: percentiles(&s.ttfb),
    }
}

/// CPU time of this process and (optionally) of the server over a phase.
#[derive(Serialize, Debug, PartialEq)]
pub struct CpuCost {
    pub client_cpu_ms: f64,
    /// Of which in the kernel (on loopback that includes the TCP receive
    /// path of what the client sends).
    pub client_system_ms: f64,
    /// Client CPU milliseconds spent per 1,000 operations: the share of a
    /// core the client takes at 1,000 ops/s, in thousandths.
    pub client_cpu_ms_per_1000_ops: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_ms_per_op: Option<f64>,
}

pub fn cpu_cost(client: Own, server_ms: Option<f64>, ops: u64) -> CpuCost {
    let per = |ms: f64| if ops == 0 { 0.0 } else { ms / ops as f64 };
    let client_ms = client.user + client.system;
    CpuCost {
        client_cpu_ms: client_ms,
        client_system_ms: client.system,
        client_cpu_ms_per_1000_ops: per(client_ms) * 1000.0,
        server_cpu_ms: server_ms,
        server_cpu_ms_per_op: server_ms.map(per),
    }
}

/// One measured phase (most modes have one; multipart has the part uploads
/// and the part downloads).
#[derive(Serialize, Debug)]
pub struct PhaseReport {
    pub name: String,
    pub duration_s: f64,
    pub ops: Vec<OpReport>,
    pub total: OpReport,
    pub cpu: CpuCost,
}

pub fn phase_report(
    name: &str,
    stats: &Stats,
    duration: Duration,
    cpu: (Own, Option<f64>),
) -> PhaseReport {
    let secs = duration.as_secs_f64();
    let mut total = OpStats::default();
    let ops = stats
        .ops
        .iter()
        .map(|(op, s)| {
            total.merge(s);
            op_report(op, s, secs)
        })
        .collect();
    PhaseReport {
        name: name.to_owned(),
        duration_s: secs,
        ops,
        total: op_report("TOTAL", &total, secs),
        cpu: cpu_cost(cpu.0, cpu.1, total.ops + total.error_count()),
    }
}

impl PhaseReport {
    /// The human-readable table.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut t = String::new();
        let _ = writeln!(t, "{} ({:.1} s):", self.name, self.duration_s);
        let _ = writeln!(
            t,
            "  {:<10} {:>9} {:>10} {:>9} {:>10} | {:>8} {:>8} {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8} {:>8}",
            "op", "ops", "ops/s", "MiB/s", "objs/s", "lat p50", "p90", "p99", "p99.9", "max", "ttfb p50", "p90", "p99", "max"
        );
        let rows = self
            .ops
            .iter()
            .chain((self.ops.len() > 1).then_some(&self.total));
        for r in rows {
            let l = &r.latency_ms;
            let f = &r.ttfb_ms;
            let objs = r
                .objects_per_s
                .map_or_else(|| "-".into(), |o| format!("{o:.0}"));
            let _ = writeln!(
                t,
                "  {:<10} {:>9} {:>10.1} {:>9.2} {:>10} | {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} | {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
                r.op, r.ops, r.ops_per_s, r.mib_per_s, objs, l.p50, l.p90, l.p99, l.p999, l.max, f.p50, f.p90, f.p99, f.max
            );
        }
        let _ = writeln!(t, "  (latencies in ms; TTFB = time to response headers)");
        let errors: BTreeMap<String, u64> = self.ops.iter().fold(BTreeMap::new(), |mut m, r| {
            for (k, n) in &r.errors {
                *m.entry(format!("{} {k}", r.op)).or_default() += n;
            }
            m
        });
        if errors.is_empty() {
            let _ = writeln!(t, "  errors: none");
        } else {
            for (k, n) in errors {
                let _ = writeln!(t, "  errors: {n} x {k}");
            }
        }
        let c = &self.cpu;
        let _ = write!(
            t,
            "  client CPU: {:.0} ms ({:.0} ms system), {:.1} ms per 1,000 ops ({:.2}% of a core at 1,000 ops/s)",
            c.client_cpu_ms,
            c.client_system_ms,
            c.client_cpu_ms_per_1000_ops,
            c.client_cpu_ms_per_1000_ops / 10.0
        );
        if let (Some(ms), Some(per)) = (c.server_cpu_ms, c.server_cpu_ms_per_op) {
            let _ = write!(t, "\n  server CPU: {ms:.0} ms, {per:.3} ms per op");
        }
        t
    }
}

/// warp's `--autoterm`: the active time is cut into `split` segments; stop
/// once each of the `want - 1` segments before the last is within `pct` of
/// the last one's throughput (bytes/s, or ops/s when no bytes move), after
/// at least `min` of measurement per `want` of `split` segments.
/// `samples` are (seconds since start, cumulative ops, cumulative bytes).
pub fn stable(samples: &[(f64, u64, u64)], pct: f64, min: Duration) -> bool {
    const SPLIT: usize = 25;
    const WANT: usize = 7;
    let Some(&(end, _, _)) = samples.last() else {
        return false;
    };
    if end <= min.as_secs_f64() * SPLIT as f64 / WANT as f64 {
        return false;
    }
    // Cumulative counts at time t, interpolated between samples.
    let at = |t: f64, pick: fn(&(f64, u64, u64)) -> u64| -> f64 {
        let i = samples.partition_point(|s| s.0 < t);
        if i == 0 {
            return t / samples[0].0.max(1e-9) * pick(&samples[0]) as f64;
        }
        if i >= samples.len() {
            return pick(&samples[samples.len() - 1]) as f64;
        }
        let (a, b) = (&samples[i - 1], &samples[i]);
        let w = (t - a.0) / (b.0 - a.0).max(1e-9);
        pick(a) as f64 + w * (pick(b) as f64 - pick(a) as f64)
    };
    let seg = end / SPLIT as f64;
    let pick: fn(&(f64, u64, u64)) -> u64 = if samples[samples.len() - 1].2 > 0 {
        |s| s.2
    } else {
        |s| s.1
    };
    let rate = |k: usize| at(seg * (k + 1) as f64, pick) - at(seg * k as f64, pick);
    let last = rate(SPLIT - 1);
    last > 0.0 && (SPLIT - WANT..SPLIT - 1).all(|k| (rate(k) - last).abs() <= pct / 100.0 * last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn merging_workers_adds_counts_errors_and_histograms() {
        let mut a = Stats::default();
        let mut b = Stats::default();
        for i in 1..=90 {
            a.op("GET").success(ms(i), ms(1), 1024, 0);
        }
        for i in 91..=100 {
            b.op("GET").success(ms(i), ms(2), 1024, 0);
        }
        b.op("GET").error("404 NoSuchKey".into());
        b.op("PUT").error("503 SlowDown".into());
        b.op("PUT").error("503 SlowDown".into());
        a.op("PUT").error("transport: reset".into());

        let mut all = Stats::default();
        all.merge(&a);
        all.merge(&b);
        let get = &all.ops["GET"];
        assert_eq!(get.ops, 100);
        assert_eq!(get.bytes, 100 * 1024);
        assert_eq!(get.errors["404 NoSuchKey"], 1);
        let put = &all.ops["PUT"];
        assert_eq!(put.ops, 0);
        assert_eq!(put.errors["503 SlowDown"], 2);
        assert_eq!(put.errors["transport: reset"], 1);

        let r = op_report("GET", get, 2.0);
        assert_eq!(r.ops_per_s, 50.0);
        assert_eq!(r.mib_per_s, 100.0 * 1024.0 / 2.0 / 1048576.0);
        // 1..=100 ms: the median and p90 come from both workers' samples.
        assert!((r.latency_ms.p50 - 50.0).abs() < 0.1, "{:?}", r.latency_ms);
        assert!((r.latency_ms.p90 - 90.0).abs() < 0.1);
        assert!((r.latency_ms.p99 - 99.0).abs() < 0.1);
        assert!((r.latency_ms.p999 - 100.0).abs() < 0.1);
        assert!((r.latency_ms.max - 100.0).abs() < 0.1);
        assert!((r.ttfb_ms.max - 2.0).abs() < 0.01);
        assert!((r.ttfb_ms.p50 - 1.0).abs() < 0.01);
    }

    #[test]
    fn phase_report_totals_every_op_and_prices_cpu() {
        let mut s = Stats::default();
        for _ in 0..300 {
            s.op("GET").success(ms(1), ms(1), 4096, 0);
        }
        for _ in 0..100 {
            s.op("PUT").success(ms(3), ms(3), 4096, 0);
        }
        s.op("DELETE").success(ms(2), ms(2), 0, 100);
        s.op("DELETE").error("500 InternalError".into());
        let cpu = Own {
            user: 402.0,
            system: 400.0,
        };
        let p = phase_report("mixed", &s, Duration::from_secs(4), (cpu, Some(4010.0)));
        assert_eq!(
            p.ops.iter().map(|o| o.op.as_str()).collect::<Vec<_>>(),
            ["DELETE", "GET", "PUT"]
        );
        assert_eq!(p.total.ops, 401);
        assert_eq!(p.total.ops_per_s, 401.0 / 4.0);
        assert_eq!(p.total.mib_per_s, 400.0 * 4096.0 / 4.0 / 1048576.0);
        assert_eq!(p.ops[0].objects_per_s, Some(25.0));
        assert_eq!(p.ops[1].objects_per_s, None);
        assert_eq!(p.total.errors["500 InternalError"], 1);
        // 402 requests (the failed one cost CPU too).
        assert_eq!(p.cpu.client_cpu_ms_per_1000_ops, 802.0 / 402.0 * 1000.0);
        assert_eq!(p.cpu.client_system_ms, 400.0);
        assert_eq!(p.cpu.server_cpu_ms_per_op, Some(4010.0 / 402.0));
        let table = p.table();
        assert!(table.contains("TOTAL"), "{table}");
        assert!(table.contains("1 x DELETE 500 InternalError"), "{table}");
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["total"]["ops"], 401);
        assert_eq!(json["cpu"]["server_cpu_ms"], 4010.0);
    }

    #[test]
    fn nothing_measured_reports_zeros() {
        let p = phase_report(
            "get",
            &Stats::default(),
            Duration::ZERO,
            (Own::default(), None),
        );
        assert_eq!(p.total.ops, 0);
        assert_eq!(p.total.ops_per_s, 0.0);
        assert_eq!(p.cpu.client_cpu_ms_per_1000_ops, 0.0);
        assert!(serde_json::to_value(&p).unwrap()["cpu"]
            .get("server_cpu_ms")
            .is_none());
    }

    /// Samples every second at a steady `rate` bytes/s after `ramp` seconds
    /// at half of it.
    fn samples(secs: u64, ramp: u64, rate: u64) -> Vec<(f64, u64, u64)> {
        let mut bytes = 0;
        (1..=secs)
            .map(|t| {
                bytes += if t <= ramp { rate / 2 } else { rate };
                (t as f64, t * 10, bytes)
            })
            .collect()
    }

    #[test]
    fn autoterm_waits_for_enough_time_then_for_stability() {
        let min = Duration::from_secs(10);
        // 10 s * 25 / 7 = 35.7 s of measurement at least.
        assert!(!stable(&samples(35, 0, 1000), 7.5, min));
        assert!(stable(&samples(36, 0, 1000), 7.5, min));
        // Still ramping within the last 7 of 25 segments: keep going.
        assert!(!stable(&samples(40, 34, 1000), 7.5, min));
        assert!(stable(&samples(200, 34, 1000), 7.5, min));
        assert!(!stable(&[], 7.5, min));
        // No bytes moved (STAT, DELETE): ops/s decides.
        let ops: Vec<_> = (1..=40).map(|t| (t as f64, t * 100, 0)).collect();
        assert!(stable(&ops, 7.5, min));
    }
}
