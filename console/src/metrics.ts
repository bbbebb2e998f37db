// /metrics (Prometheus text) into the figures the charts draw: rates are
// computed in the page from two scrapes.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    const value = Number(m[4]);
    if (!Number.isNaN(value)) out.push({ name: m[1], labels, value });
  }
  return out;
}

export interface Scrape {
  at: number;
  requests: number;
  errors: number;
  bytesIn: number;
  bytesOut: number;
  /** The worst p99 latency of any operation, seconds. */
  p99: number;
}

export function summarise(samples: Sample[], at: number): Scrape {
  const s: Scrape = { at, requests: 0, errors: 0, bytesIn: 0, bytesOut: 0, p99: 0 };
  for (const x of samples) {
    if (x.name === "cairn_requests_total") {
      s.requests += x.value;
      if (Number(x.labels.status) >= 500) s.errors += x.value;
    } else if (x.name === "cairn_bytes_received_total") s.bytesIn = x.value;
    else if (x.name === "cairn_bytes_sent_total") s.bytesOut = x.value;
    else if (x.name === "cairn_request_duration_seconds" && x.labels.quantile === "0.99") s.p99 = Math.max(s.p99, x.value);
  }
  return s;
}

export interface Point {
  at: number;
  reqPerSec: number;
  errPerSec: number;
  inBytesPerSec: number;
  outBytesPerSec: number;
  p99Ms: number;
}

/** Rates between two scrapes; a counter that went down (restart) counts from zero. */
export function rate(prev: Scrape, cur: Scrape): Point {
  const secs = Math.max((cur.at - prev.at) / 1000, 0.001);
  const d = (a: number, b: number) => (b >= a ? b - a : b) / secs;
  return {
    at: cur.at,
    reqPerSec: d(prev.requests, cur.requests),
    errPerSec: d(prev.errors, cur.errors),
    inBytesPerSec: d(prev.bytesIn, cur.bytesIn),
    outBytesPerSec: d(prev.bytesOut, cur.bytesOut),
    p99Ms: cur.p99 * 1000,
  };
}
