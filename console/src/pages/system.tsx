// Drives (GET info; holds through POST drives/N/offline|online), usage
// (GET usage) and live charts from /metrics.
import { useEffect, useState } from "react";
import { type Session, admin } from "../api";
import { type Point, type Scrape, parseMetrics, rate, summarise } from "../metrics";
import { ErrorBox, Loading, Table, fmtBytes, fmtTime, useAction, useLoad } from "../ui";

interface Drive {
  index: number;
  path: string;
  state: string;
  capacityBytes: number | null;
  freeBytes: number | null;
  reserveBytes: number | null;
  errors: number;
  holdsIndex: boolean;
  hold: { kind: string; since: string; reason: string } | null;
  /** While the drive is being healed (refilled from the others). */
  heal: { progress: number; percent: number; etaSeconds: number | null } | null;
}
interface Info {
  version: string;
  uptimeSecs: number;
  cores: number;
  partitions: number;
  layout: { data: number; parity: number; writeQuorum: number };
  drivesOnline: number;
  /** `ok`, `degraded: N drives`, and `, healing 42%` while a heal runs. */
  health: string;
  healingPercent: number | null;
  drives: Drive[];
}

function fmtUptime(secs: number): string {
  const d = Math.floor(secs / 86400);
  const h = Math.floor((secs % 86400) / 3600);
  const m = Math.floor((secs % 3600) / 60);
  return d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : `${m} min ${secs % 60} s`;
}

/** A drive's heal: `healing 42%`, with a bar and the time left. */
function Healing({ d }: { d: Drive }) {
  if (!d.heal) return <>–</>;
  const left = d.heal.etaSeconds === null ? "" : `, about ${fmtUptime(d.heal.etaSeconds)} left`;
  return (
    <span data-healing={d.heal.percent}>
      <meter min={0} max={100} value={d.heal.percent} aria-label={`Drive ${d.index} healed`} /> healing {d.heal.percent}%{left}
    </span>
  );
}

/** Holds a drive offline (two steps, with a reason) or brings it back. */
function HoldButton({ s, d, onChange }: { s: Session; d: Drive; onChange: () => void }) {
  const act = useAction();
  const [asking, setAsking] = useState(false);
  const [reason, setReason] = useState("");
  const run = (f: () => Promise<unknown>) => act.run(async () => (await f(), setAsking(false), onChange()));
  let body;
  if (d.hold)
    body = (
      <button type="button" disabled={act.busy} onClick={() => run(() => admin(s, "POST", `drives/${d.index}/online`))}>
        Bring online
      </button>
    );
  else if (d.state === "missing" || d.state === "refused" || d.holdsIndex) body = null;
  else if (!asking)
    body = (
      <button type="button" className="danger" onClick={() => setAsking(true)}>
        Take offline
      </button>
    );
  else
    body = (
      <>
        <input aria-label={`Why drive ${d.index} goes offline`} placeholder="Reason" value={reason} onChange={(e) => setReason(e.target.value)} />{" "}
        <button type="button" className="danger" disabled={act.busy} onClick={() => run(() => admin(s, "POST", `drives/${d.index}/offline`, reason.trim() ? { reason: reason.trim() } : {}))}>
          Take drive {d.index} offline
        </button>{" "}
        <button type="button" onClick={() => setAsking(false)}>
          Cancel
        </button>
      </>
    );
  return (
    <>
      {body}
      <ErrorBox error={act.error} />
    </>
  );
}

export function DrivesPage({ s }: { s: Session }) {
  const info = useLoad(() => admin<Info>(s, "GET", "info"), [s]);
  useEffect(() => {
    const t = setInterval(info.reload, 5000);
    return () => clearInterval(t);
  }, [info.reload]);
  const i = info.data;
  return (
    <section>
      <h1>Drives</h1>
      <ErrorBox error={info.error} />
      {!i && !info.error && <Loading what="drives" />}
      {i && (
        <>
          <p>
            cairn {i.version}, up {fmtUptime(i.uptimeSecs)}; {i.cores} cores, {i.partitions} partitions; erasure coding {i.layout.data}+{i.layout.parity} (writes need {i.layout.writeQuorum} drives).{" "}
            <strong className={i.drivesOnline < i.drives.length ? "warn" : ""}>
              {i.drivesOnline} of {i.drives.length} drives online.
            </strong>{" "}
            Health: <strong className={i.health === "ok" ? "" : "warn"} data-health>{i.health}</strong>
          </p>
          <Table head={[["#", "num"], "Path", "State", "Healing", "Used", ["Free", "num"], ["Capacity", "num"], ["Errors", "num"], "Hold", "Actions"]}>
            {i.drives.map((d) => (
              <tr key={d.index} data-drive={d.index} className={`drive-${d.state}`}>
                <td className="num">{d.index}</td>
                <td className="mono break">
                  {d.path}
                  {d.holdsIndex && " (index)"}
                </td>
                <td>
                  <span className={`badge ${d.state}`}>{d.state}</span>
                </td>
                <td>
                  <Healing d={d} />
                </td>
                <td>
                  {d.capacityBytes ? (
                    <meter min={0} max={d.capacityBytes} value={d.capacityBytes - (d.freeBytes ?? 0)} aria-label={`Drive ${d.index} used`} />
                  ) : (
                    "–"
                  )}
                </td>
                <td className="num">{fmtBytes(d.freeBytes)}</td>
                <td className="num">{fmtBytes(d.capacityBytes)}</td>
                <td className="num">{d.errors}</td>
                <td>{d.hold ? `${d.hold.reason} (since ${fmtTime(d.hold.since)})` : "–"}</td>
                <td className="actions">
                  <HoldButton s={s} d={d} onChange={info.reload} />
                </td>
              </tr>
            ))}
          </Table>
        </>
      )}
    </section>
  );
}

interface UsageFigures {
  objects: number;
  bytes: number;
  versions: number;
  versionBytes: number;
  deleteMarkers: number;
  storedBytes: number;
  uploads: number;
  uploadBytes: number;
}
interface UsageDoc {
  total: UsageFigures;
  buckets: { name: string; quotaBytes: number | null; usage: UsageFigures }[];
}

export function UsagePage({ s }: { s: Session }) {
  const usage = useLoad(() => admin<UsageDoc>(s, "GET", "usage"), [s]);
  const u = usage.data;
  const max = Math.max(1, ...(u?.buckets ?? []).map((b) => b.usage.versionBytes));
  return (
    <section>
      <h1>Usage</h1>
      <ErrorBox error={usage.error} />
      {!u && !usage.error && <Loading what="usage" />}
      {u && (
        <>
          <dl className="stats">
            <div>
              <dt>Objects</dt>
              <dd>{u.total.objects.toLocaleString("en")}</dd>
            </div>
            <div>
              <dt>Size (latest versions)</dt>
              <dd>{fmtBytes(u.total.bytes)}</dd>
            </div>
            <div>
              <dt>All versions</dt>
              <dd>
                {u.total.versions.toLocaleString("en")} / {fmtBytes(u.total.versionBytes)}
              </dd>
            </div>
            <div>
              <dt>Stored on drives</dt>
              <dd>{fmtBytes(u.total.storedBytes)}</dd>
            </div>
            <div>
              <dt>Uploads in progress</dt>
              <dd>
                {u.total.uploads} / {fmtBytes(u.total.uploadBytes)}
              </dd>
            </div>
          </dl>
          <Table head={["Bucket", ["Objects", "num"], ["Size", "num"], ["All versions", "num"], "Quota", ["Share", "bar-col"]]}>
            {u.buckets.map((b) => (
              <tr key={b.name} data-bucket={b.name}>
                <td>{b.name}</td>
                <td className="num">{b.usage.objects.toLocaleString("en")}</td>
                <td className="num">{fmtBytes(b.usage.bytes)}</td>
                <td className="num">{fmtBytes(b.usage.versionBytes)}</td>
                <td>{b.quotaBytes ? `${fmtBytes(b.quotaBytes)} (${Math.round((b.usage.versionBytes / b.quotaBytes) * 100)}%)` : "none"}</td>
                <td className="bar-col">
                  <svg viewBox="0 0 100 8" preserveAspectRatio="none" className="bar" role="img" aria-label={`${Math.round((b.usage.versionBytes / max) * 100)}% of the largest bucket`}>
                    <rect x="0" y="0" width={(b.usage.versionBytes / max) * 100} height="8" />
                  </svg>
                </td>
              </tr>
            ))}
          </Table>
        </>
      )}
    </section>
  );
}

const POLL_MS = 2000;
const KEEP = 90;

/** A line over the last KEEP polls; a null value (nothing to measure in that window) leaves a gap. */
function Chart({ title, points, pick, unit }: { title: string; points: Point[]; pick: (p: Point) => number | null; unit: (v: number) => string }) {
  const W = 300;
  const H = 100;
  const values = points.map(pick);
  const known = values.filter((v): v is number => v !== null);
  const max = Math.max(...known, 1e-9);
  const last = values.length ? values[values.length - 1] : null;
  let path = "";
  values.forEach((v, i) => {
    if (v === null) return;
    const x = ((i + KEEP - values.length) / (KEEP - 1)) * W;
    const y = H - (v / max) * (H - 4) - 2;
    const joined = i > 0 && values[i - 1] !== null;
    const alone = !joined && (i === values.length - 1 || values[i + 1] === null);
    // A point with no neighbour is a dot (a round cap on a zero-length line).
    path += `${joined ? "L" : "M"}${x},${y}${alone ? " h0" : ""} `;
  });
  return (
    <figure className="chart">
      <figcaption>
        {title}: <strong data-testid={`chart-${title}`}>{values.length === 0 ? "…" : last === null ? "no requests" : unit(last)}</strong>{" "}
        {known.length > 0 && <span className="muted small">(max {unit(max)})</span>}
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={`${title} over the last ${(KEEP * POLL_MS) / 1000} s`}>
        <line x1="0" y1={H - 1} x2={W} y2={H - 1} className="axis" />
        {known.length > 0 && <path d={path.trim()} className="line" />}
      </svg>
    </figure>
  );
}

export function MetricsPage() {
  const [points, setPoints] = useState<Point[]>([]);
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    let prev: Scrape | null = null;
    let live = true;
    const poll = async () => {
      try {
        const r = await fetch("/metrics", { cache: "no-store" });
        if (!r.ok) throw new Error(`/metrics answered ${r.status}`);
        const cur = summarise(parseMetrics(await r.text()), Date.now());
        if (prev && live) {
          const p = rate(prev, cur);
          setPoints((ps) => [...ps, p].slice(-KEEP));
        }
        prev = cur;
        setError(undefined);
      } catch (e) {
        if (live) setError(e);
      }
    };
    poll();
    const t = setInterval(poll, POLL_MS);
    return () => {
      live = false;
      clearInterval(t);
    };
  }, []);
  const perSec = (v: number) => `${v.toFixed(v < 10 ? 1 : 0)}/s`;
  const bytes = (v: number) => `${fmtBytes(Math.round(v))}/s`;
  const ms = (v: number) => `${v.toFixed(v < 10 ? 2 : 1)} ms`;
  return (
    <section>
      <h1>Metrics</h1>
      <p className="muted">From /metrics every {POLL_MS / 1000} s; rates, and the latency of the requests that ended in each interval, are computed in this page.</p>
      <ErrorBox error={error} />
      {points.length === 0 && !error && <Loading what="the first two samples" />}
      <div className="charts">
        <Chart title="Requests" points={points} pick={(p) => p.reqPerSec} unit={perSec} />
        <Chart title="Errors (5xx)" points={points} pick={(p) => p.errPerSec} unit={perSec} />
        <Chart title="Received" points={points} pick={(p) => p.inBytesPerSec} unit={bytes} />
        <Chart title="Sent" points={points} pick={(p) => p.outBytesPerSec} unit={bytes} />
        <Chart title="Latency p50" points={points} pick={(p) => p.p50Ms} unit={ms} />
        <Chart title="Latency p99" points={points} pick={(p) => p.p99Ms} unit={ms} />
      </div>
    </section>
  );
}
