import { describe, expect, it } from "vitest";
import { type Bucket, parseMetrics, rate, summarise, windowQuantile } from "./metrics";

const A = `# TYPE cairn_requests_total counter
cairn_requests_total{op="GetObject",status="200"} 10
cairn_requests_total{op="PutObject",status="503"} 2
cairn_bytes_received_total 1000
cairn_bytes_sent_total 5000
# TYPE cairn_request_latency_seconds histogram
cairn_request_latency_seconds_bucket{op="GetObject",le="0.001"} 4
cairn_request_latency_seconds_bucket{op="GetObject",le="0.01"} 10
cairn_request_latency_seconds_bucket{op="GetObject",le="+Inf"} 10
cairn_request_latency_seconds_bucket{op="PutObject",le="0.001"} 0
cairn_request_latency_seconds_bucket{op="PutObject",le="0.01"} 1
cairn_request_latency_seconds_bucket{op="PutObject",le="+Inf"} 2
`;
const B = A.replace('status="200"} 10', 'status="200"} 30')
  .replace("} 2\n", "} 4\n")
  .replace("received_total 1000", "received_total 3000")
  .replace('op="GetObject",le="0.01"} 10', 'op="GetObject",le="0.01"} 30')
  .replace('op="GetObject",le="+Inf"} 10', 'op="GetObject",le="+Inf"} 30');

/** Cumulative buckets from per-bucket counts over the given bounds. */
function cumulative(bounds: number[], counts: number[]): Bucket[] {
  let t = 0;
  return bounds.map((le, i) => ({ le, count: (t += counts[i]) }));
}
const LE = [0.001, 0.01, 0.1, Infinity];

describe("metrics", () => {
  it("parses samples with labels", () => {
    const s = parseMetrics(A);
    expect(s).toHaveLength(10);
    expect(s[1]).toEqual({ name: "cairn_requests_total", labels: { op: "PutObject", status: "503" }, value: 2 });
  });

  it("sums every operation's latency buckets by bound", () => {
    expect(summarise(parseMetrics(A), 0).latency).toEqual([
      { le: 0.001, count: 4 },
      { le: 0.01, count: 11 },
      { le: Infinity, count: 12 },
    ]);
  });

  it("computes rates between two scrapes", () => {
    const p = rate(summarise(parseMetrics(A), 0), summarise(parseMetrics(B), 2000));
    expect(p.reqPerSec).toBe(11);
    expect(p.errPerSec).toBe(1);
    expect(p.inBytesPerSec).toBe(1000);
    expect(p.outBytesPerSec).toBe(0);
  });

  it("latency is of the window's requests only, not of everything since start", () => {
    // Before: 4 requests under 1 ms and 7 slower; in the window: 20
    // requests, all between 1 and 10 ms.
    const p = rate(summarise(parseMetrics(A), 0), summarise(parseMetrics(B), 2000));
    expect(p.p50Ms).toBeCloseTo(1 + 9 * 0.5);
    expect(p.p99Ms).toBeCloseTo(1 + 9 * 0.99);
    // Counted since start instead, the 10th percentile is under 1 ms.
    expect(windowQuantile([], summarise(parseMetrics(B), 0).latency, 0.1)! * 1000).toBeLessThan(1);
  });

  it("a window with no requests has no latency", () => {
    const s = summarise(parseMetrics(B), 0);
    const p = rate(s, { ...s, at: 2000 });
    expect(p.p50Ms).toBeNull();
    expect(p.p99Ms).toBeNull();
    expect(p.reqPerSec).toBe(0);
    expect(windowQuantile([], [], 0.5)).toBeNull();
  });

  it("interpolates inside the bucket that holds the quantile", () => {
    const prev = cumulative(LE, [100, 0, 0, 0]);
    const cur = cumulative(LE, [100, 50, 50, 0]);
    // 100 new requests: 50 in (1, 10] ms and 50 in (10, 100] ms.
    expect(windowQuantile(prev, cur, 0.5)! * 1000).toBeCloseTo(10);
    expect(windowQuantile(prev, cur, 0.25)! * 1000).toBeCloseTo(5.5);
    expect(windowQuantile(prev, cur, 0.99)! * 1000).toBeCloseTo(10 + 90 * 0.98);
  });

  it("a quantile past the last finite bound is that bound", () => {
    const cur = cumulative(LE, [0, 0, 1, 99]);
    expect(windowQuantile([], cur, 0.99)).toBe(0.1);
  });

  it("a counter reset counts from zero", () => {
    const p = rate(summarise(parseMetrics(B), 0), summarise(parseMetrics(A), 1000));
    expect(p.reqPerSec).toBe(12);
    // After a restart the window is everything the new process counted.
    const prev = cumulative(LE, [0, 500, 0, 0]);
    const cur = cumulative(LE, [10, 0, 0, 0]);
    expect(windowQuantile(prev, cur, 0.5)! * 1000).toBeCloseTo(0.5);
  });
});
