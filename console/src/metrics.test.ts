import { describe, expect, it } from "vitest";
import { parseMetrics, rate, summarise } from "./metrics";

const A = `# TYPE cairn_requests_total counter
cairn_requests_total{op="GetObject",status="200"} 10
cairn_requests_total{op="PutObject",status="503"} 2
cairn_request_duration_seconds{op="GetObject",quantile="0.99"} 0.004
cairn_request_duration_seconds{op="PutObject",quantile="0.99"} 0.02
cairn_bytes_received_total 1000
cairn_bytes_sent_total 5000
`;
const B = A.replace("} 10", "} 30").replace("} 2\n", "} 4\n").replace("received_total 1000", "received_total 3000");

describe("metrics", () => {
  it("parses samples with labels", () => {
    const s = parseMetrics(A);
    expect(s).toHaveLength(6);
    expect(s[1]).toEqual({ name: "cairn_requests_total", labels: { op: "PutObject", status: "503" }, value: 2 });
  });

  it("computes rates between two scrapes", () => {
    const p = rate(summarise(parseMetrics(A), 0), summarise(parseMetrics(B), 2000));
    expect(p.reqPerSec).toBe(11);
    expect(p.errPerSec).toBe(1);
    expect(p.inBytesPerSec).toBe(1000);
    expect(p.outBytesPerSec).toBe(0);
    expect(p.p99Ms).toBeCloseTo(20);
  });

  it("a counter reset counts from zero", () => {
    const p = rate(summarise(parseMetrics(B), 0), summarise(parseMetrics(A), 1000));
    expect(p.reqPerSec).toBe(12);
  });
});
