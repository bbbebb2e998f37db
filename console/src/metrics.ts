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

/** A cumulative latency bucket: requests that took at most `le` seconds. */
export interface Bucket {
  le: number;
  count: number;
}

export interface Scrape {
  at: number;
  requests: number;
  errors: number;
  bytesIn: number;
  bytesOut: number;
  /** Every operation's latency buckets summed, by ascending `le` (the last is +Inf). */
  latency: Bucket[];
}

export function summarise(samples: Sample[], at: number): Scrape {
  const s: Scrape = { at, requests: 0, errors: 0, bytesIn: 0, bytesOut: 0, latency: [] };
  const buckets = new Map<number, number>();
  for (const x of samples) {
    if (x.name === "cairn_requests_total") {
      s.requests += x.value;
      if (Number(x.labels.status) >= 500) s.errors += x.value;
    } else if (x.name === "cairn_bytes_received_total") s.bytesIn = x.value;
    else if (x.name === "cairn_bytes_sent_total") s.bytesOut = x.value;
    else if (x.name === "cairn_request_latency_seconds_bucket") {
      const le = x.labels.le === "+Inf" ? Infinity : Number(x.labels.le);
      if (!Number.isNaN(le)) buckets.set(le, (buckets.get(le) ?? 0) + x.value);
    }
  }
  s.latency = [...buckets].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
  return s;
}

/**
 * The q-quantile (0 < q <= 1) of the latencies of the requests that ended
 * between two scrapes, in seconds, from the difference of their cumulative
 * buckets, interpolated linearly inside a bucket (as Prometheus's
 * histogram_quantile does; past the last finite bound it is that bound).
 * null for a window in which no request ended. A count that went down
 * (restart) counts from zero.
 */
export function windowQuantile(prev: Bucket[], cur: Bucket[], q: number): number | null {
  const before = new Map(prev.map((b) => [b.le, b.count]));
  const reset = cur.some((b) => b.count < (before.get(b.le) ?? 0));
  const window = cur.map((b) => ({ le: b.le, count: reset ? b.count : b.count - (before.get(b.le) ?? 0) }));
  const total = window.length ? window[window.length - 1].count : 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const b of window) {
    if (b.count >= rank) {
      if (b.le === Infinity) return lower;
      return b.count === below ? b.le : lower + ((b.le - lower) * (rank - below)) / (b.count - below);
    }
    lower = b.le;
    below = b.count;
  }
  return lower;
}

export interface Point {
  at: number;
  reqPerSec: number;
  errPerSec: number;
  inBytesPerSec: number;
  outBytesPerSec: number;
  /** Latency of the window's requests; null: none ended in it. */
  p50Ms: number | null;
  p99Ms: number | null;
}

/** Rates between two scrapes; a counter that went down (restart) counts from zero. */
export function rate(prev: Scrape, cur: Scrape): Point {
  const secs = Math.max((cur.at - prev.at) / 1000, 0.001);
  const d = (a: number, b: number) => (b >= a ? b - a : b) / secs;
  const ms = (q: number) => {
    const v = windowQuantile(prev.latency, cur.latency, q);
    return v === null ? null : v * 1000;
  };
  return {
    at: cur.at,
    reqPerSec: d(prev.requests, cur.requests),
    errPerSec: d(prev.errors, cur.errors),
    inBytesPerSec: d(prev.bytesIn, cur.bytesIn),
    outBytesPerSec: d(prev.bytesOut, cur.bytesOut),
    p50Ms: ms(0.5),
    p99Ms: ms(0.99),
  };
}
