import { useRef, useState } from "react";
import { type Session, objectPath, presignGet, s3, s3Xml, upload, xkids, xtext } from "../api";
import { href } from "../app";
import { ErrorBox, Loading, Table, fmtBytes, fmtTime, useAction, useLoad } from "../ui";

const PAGE_SIZE = 1000;

interface Listing {
  folders: string[];
  objects: { key: string; size: number; modified: string }[];
  next?: string;
}

async function list(s: Session, bucket: string, prefix: string, token?: string): Promise<Listing> {
  const query: [string, string][] = [
    ["list-type", "2"],
    ["delimiter", "/"],
    ["max-keys", String(PAGE_SIZE)],
    ["prefix", prefix],
  ];
  if (token) query.push(["continuation-token", token]);
  const doc = await s3Xml(s, "GET", objectPath(bucket), { query });
  const truncated = xtext(doc, "IsTruncated") === "true";
  return {
    folders: xkids(doc, "CommonPrefixes").map((p) => xtext(p, "Prefix")),
    objects: xkids(doc, "Contents").map((c) => ({
      key: xtext(c, "Key"),
      size: Number(xtext(c, "Size")),
      modified: xtext(c, "LastModified"),
    })),
    next: truncated ? xtext(doc, "NextContinuationToken") : undefined,
  };
}

export function Crumbs({ bucket, prefix }: { bucket: string; prefix: string }) {
  const parts = prefix.split("/").filter(Boolean);
  return (
    <nav aria-label="Breadcrumbs" className="crumbs">
      <a href="#/buckets">Buckets</a> / <a href={href(["b", bucket])}>{bucket}</a>
      {parts.map((p, i) => (
        <span key={i}>
          {" / "}
          <a href={href(["b", bucket], { prefix: parts.slice(0, i + 1).join("/") + "/" })}>{p}</a>
        </span>
      ))}
    </nav>
  );
}

export function BrowserPage({ s, bucket, prefix }: { s: Session; bucket: string; prefix: string }) {
  // Continuation tokens of the pages seen so far: going back needs no listing
  // of all keys. The page is keyed by bucket and prefix, so they start anew.
  const [tokens, setTokens] = useState<(string | undefined)[]>([undefined]);
  const page = tokens.length - 1;
  const { data, error, reload } = useLoad(() => list(s, bucket, prefix, tokens[page]), [s, bucket, prefix, tokens]);
  return (
    <section>
      <Crumbs bucket={bucket} prefix={prefix} />
      <h1>{bucket}</h1>
      <p>
        <a href={href(["b", bucket, "policy"])}>Bucket policy</a>
      </p>
      <Upload s={s} bucket={bucket} prefix={prefix} onDone={reload} />
      <ErrorBox error={error} />
      {!data && !error && <Loading what="objects" />}
      {data && (
        <>
          <div className="pager" aria-label="Pages">
            <button type="button" disabled={page === 0} onClick={() => setTokens(tokens.slice(0, -1))}>
              Previous page
            </button>
            <span className="page-no" aria-live="polite">
              Page {page + 1}
            </span>
            <button type="button" disabled={!data.next} onClick={() => setTokens([...tokens, data.next])}>
              Next page
            </button>
            <span className="muted">
              {data.folders.length} folders, {data.objects.length} objects on this page
            </span>
          </div>
          {data.folders.length === 0 && data.objects.length === 0 && <p>Nothing here{prefix ? " under this prefix" : ""}.</p>}
          <Table head={["Name", ["Size", "num"], "Modified", "Actions"]}>
            {data.folders.map((f) => (
              <tr key={f} className="folder">
                <td colSpan={4}>
                  <a href={href(["b", bucket], { prefix: f })}>{f.slice(prefix.length)}</a>
                </td>
              </tr>
            ))}
            {data.objects.map((o) => (
              <ObjectLine key={o.key} s={s} bucket={bucket} prefix={prefix} o={o} onChange={reload} />
            ))}
          </Table>
        </>
      )}
    </section>
  );
}

function ObjectLine({
  s,
  bucket,
  prefix,
  o,
  onChange,
}: {
  s: Session;
  bucket: string;
  prefix: string;
  o: { key: string; size: number; modified: string };
  onChange: () => void;
}) {
  const act = useAction();
  const [confirm, setConfirm] = useState(false);
  const name = o.key.slice(prefix.length);
  const download = () => {
    const file = o.key.split("/").pop() || "download";
    location.assign(presignGet(s, bucket, o.key, 300, [["response-content-disposition", `attachment; filename="${file.replace(/"/g, "")}"`]]));
  };
  return (
    <tr data-key={o.key}>
      <td>
        <a href={href(["b", bucket, "object"], { key: o.key })}>{name}</a>
      </td>
      <td className="num">{fmtBytes(o.size)}</td>
      <td>{fmtTime(o.modified)}</td>
      <td className="actions">
        <button type="button" onClick={download}>
          Download
        </button>{" "}
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
                  await s3(s, "DELETE", objectPath(bucket, o.key));
                  onChange();
                })
              }
            >
              Delete {name}
            </button>{" "}
            <button type="button" onClick={() => setConfirm(false)}>
              Cancel
            </button>
          </>
        )}
        <ErrorBox error={act.error} />
      </td>
    </tr>
  );
}

function Upload({ s, bucket, prefix, onDone }: { s: Session; bucket: string; prefix: string; onDone: () => void }) {
  const input = useRef<HTMLInputElement>(null);
  const [progress, setProgress] = useState<{ sent: number; total: number } | null>(null);
  const [done, setDone] = useState("");
  const act = useAction();
  return (
    <form
      className="inline-form upload"
      aria-label="Upload"
      onSubmit={(e) => {
        e.preventDefault();
        const files = Array.from(input.current?.files ?? []);
        if (!files.length) return;
        setDone("");
        act.run(async () => {
          for (const f of files) {
            setProgress({ sent: 0, total: f.size });
            await upload(s, bucket, prefix + f.name, f, (sent, total) => setProgress({ sent, total }));
          }
          setDone(`Uploaded ${files.map((f) => f.name).join(", ")}`);
          if (input.current) input.current.value = "";
          onDone();
        });
      }}
    >
      <label>
        Files to upload{prefix ? ` to ${prefix}` : ""}
        <input ref={input} type="file" name="files" multiple />
      </label>
      <button type="submit" disabled={act.busy}>
        Upload
      </button>
      {progress && (
        <span className="progress">
          <progress value={progress.sent} max={progress.total || 1} aria-label="Upload progress" />{" "}
          {progress.total ? Math.round((progress.sent / progress.total) * 100) : 100}%
        </span>
      )}
      {done && (
        <span className="ok" role="status">
          {done}
        </span>
      )}
      <ErrorBox error={act.error} />
    </form>
  );
}
