import { useState } from "react";
import { type Session, ApiError, admin, objectPath, s3, s3Xml, xtext } from "../api";
import { href } from "../app";
import { ErrorBox, Form, Loading, Table, fmtBytes, useAction, useLoad } from "../ui";

interface Usage {
  objects: number;
  bytes: number;
  versions: number;
  versionBytes: number;
}

export interface BucketRow {
  name: string;
  created?: string;
  versioning?: string;
  quotaBytes?: number | null;
  usage?: Usage;
}

/** "10GiB", "1.5 TB", "4096": bytes; "" is no quota. */
export function parseSize(s: string): number | null | undefined {
  const t = s.trim();
  if (!t) return null;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?)b?$/i.exec(t);
  if (!m) return undefined;
  const pow = " kmgtp".indexOf(m[2].toLowerCase() || " ");
  const base = m[3] || !m[2] ? 1024 : 1000;
  return Math.round(Number(m[1]) * base ** pow);
}

/** The admin API's view when the caller may use it, else ListBuckets. */
async function loadBuckets(s: Session): Promise<{ rows: BucketRow[]; admin: boolean }> {
  try {
    const r = await admin<{ buckets: BucketRow[] }>(s, "GET", "buckets");
    return { rows: r.buckets, admin: true };
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 403) throw e;
  }
  const doc = await s3Xml(s, "GET", "/");
  const rows: BucketRow[] = Array.from(doc.getElementsByTagName("Bucket")).map((b) => ({
    name: xtext(b, "Name"),
    created: xtext(b, "CreationDate"),
  }));
  return { rows, admin: false };
}

export async function getVersioning(s: Session, bucket: string): Promise<string> {
  const doc = await s3Xml(s, "GET", objectPath(bucket), { query: [["versioning", ""]] });
  return xtext(doc, "Status") || "Off";
}

export async function setVersioning(s: Session, bucket: string, on: boolean): Promise<void> {
  const body =
    '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    `<Status>${on ? "Enabled" : "Suspended"}</Status></VersioningConfiguration>`;
  await s3(s, "PUT", objectPath(bucket), { query: [["versioning", ""]], body });
}

export function BucketsPage({ s }: { s: Session }) {
  const { data, error, reload } = useLoad(() => loadBuckets(s), [s]);
  const [name, setName] = useState("");
  const create = useAction();
  return (
    <section>
      <h1>Buckets</h1>
      <Form
        label="Create bucket"
        onSubmit={() =>
          create.run(async () => {
            await s3(s, "PUT", objectPath(name.trim()));
            setName("");
            reload();
          })
        }
      >
        <label>
          New bucket
          <input name="bucket" value={name} onChange={(e) => setName(e.target.value)} required pattern="[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]" title="3 to 63 lower-case letters, digits, dots and hyphens" />
        </label>
        <button type="submit" disabled={create.busy}>
          Create bucket
        </button>
      </Form>
      <ErrorBox error={create.error} />
      <ErrorBox error={error} />
      {!data && !error && <Loading what="buckets" />}
      {data && data.rows.length === 0 && <p>No buckets yet.</p>}
      {data && data.rows.length > 0 && (
        <Table head={["Name", ["Objects", "num"], ["Size", "num"], "Versioning", "Quota", "Actions"]}>
          {data.rows.map((b) => (
            <BucketLine key={b.name} s={s} b={b} isAdmin={data.admin} onChange={reload} />
          ))}
        </Table>
      )}
      {data && !data.admin && <p className="muted small">Object counts, sizes and quotas need the admin permission admin:BucketInfo.</p>}
    </section>
  );
}

function BucketLine({ s, b, isAdmin, onChange }: { s: Session; b: BucketRow; isAdmin: boolean; onChange: () => void }) {
  const act = useAction();
  const [confirm, setConfirm] = useState(false);
  const [quotaOpen, setQuotaOpen] = useState(false);
  const [quota, setQuota] = useState("");
  const versioning = useLoad(async () => b.versioning ?? (await getVersioning(s, b.name)), [b.name, b.versioning]);
  const state = versioning.data;
  return (
    <tr data-bucket={b.name}>
      <td>
        <a href={href(["b", b.name])}>{b.name}</a>
      </td>
      <td className="num">{b.usage ? b.usage.objects.toLocaleString("en") : "–"}</td>
      <td className="num">{b.usage ? fmtBytes(b.usage.bytes) : "–"}</td>
      <td>
        {state ?? "…"}{" "}
        {state && (
          <button
            type="button"
            disabled={act.busy}
            onClick={() =>
              act.run(async () => {
                await setVersioning(s, b.name, state !== "Enabled");
                versioning.setData(state !== "Enabled" ? "Enabled" : "Suspended");
                onChange();
              })
            }
          >
            {state === "Enabled" ? "Suspend" : "Enable"}
          </button>
        )}
      </td>
      <td>
        {isAdmin ? (b.quotaBytes ? fmtBytes(b.quotaBytes) : "none") : "–"}{" "}
        {isAdmin && !quotaOpen && (
          <button type="button" onClick={() => setQuotaOpen(true)}>
            Set quota
          </button>
        )}
        {quotaOpen && (
          <Form
            label={`Quota of ${b.name}`}
            onSubmit={() =>
              act.run(async () => {
                const bytes = parseSize(quota);
                if (bytes === undefined) throw new Error("A size is a number with an optional unit: 500MiB, 10GiB, 1TB.");
                await admin(s, "PUT", `buckets/${encodeURIComponent(b.name)}/quota`, { quotaBytes: bytes });
                setQuotaOpen(false);
                onChange();
              })
            }
          >
            <label>
              Quota (empty: none)
              <input name="quota" value={quota} onChange={(e) => setQuota(e.target.value)} placeholder="10GiB" size={8} />
            </label>
            <button type="submit" disabled={act.busy}>
              Save quota
            </button>
            <button type="button" onClick={() => setQuotaOpen(false)}>
              Cancel
            </button>
          </Form>
        )}
      </td>
      <td>
        <a href={href(["b", b.name, "policy"])}>Policy</a>{" "}
        {!confirm ? (
          <button type="button" className="danger" onClick={() => setConfirm(true)}>
            Delete
          </button>
        ) : (
          <>
            <button
              type="button"
              className="danger"
              disabled={act.busy}
              onClick={() =>
                act.run(async () => {
                  await s3(s, "DELETE", objectPath(b.name));
                  onChange();
                })
              }
            >
              Delete {b.name}
            </button>{" "}
            <button type="button" onClick={() => setConfirm(false)}>
              Cancel
            </button>
          </>
        )}
        <ErrorBox error={act.error ?? versioning.error} />
      </td>
    </tr>
  );
}
