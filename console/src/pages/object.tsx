import { useState } from "react";
import { type Session, objectPath, presignGet, s3, s3Xml, xtext } from "../api";
import { href } from "../app";
import { uriEncode } from "../sigv4";
import { ErrorBox, Form, Loading, Table, fmtBytes, fmtTime, useAction, useLoad } from "../ui";
import { Crumbs } from "./browser";

const META_HEADERS = ["content-type", "content-length", "etag", "last-modified", "cache-control", "content-disposition", "content-encoding", "x-amz-version-id", "x-amz-storage-class"];

export function ObjectPage({ s, bucket, objectKey }: { s: Session; bucket: string; objectKey: string }) {
  const prefix = objectKey.includes("/") ? objectKey.slice(0, objectKey.lastIndexOf("/") + 1) : "";
  const head = useLoad(async () => {
    const r = await s3(s, "HEAD", objectPath(bucket, objectKey));
    const rows: [string, string][] = [];
    r.headers.forEach((v, k) => {
      if (META_HEADERS.includes(k) || k.startsWith("x-amz-meta-")) rows.push([k, v]);
    });
    return rows.sort();
  }, [s, bucket, objectKey]);
  return (
    <section>
      <Crumbs bucket={bucket} prefix={prefix} />
      <h1 className="break">{objectKey.slice(prefix.length)}</h1>
      <h2>Metadata</h2>
      <ErrorBox error={head.error} />
      {!head.data && !head.error && <Loading what="metadata" />}
      {head.data && (
        <dl className="meta">
          {head.data.map(([k, v]) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd>{k === "content-length" ? `${fmtBytes(Number(v))} (${v} bytes)` : v}</dd>
            </div>
          ))}
        </dl>
      )}
      <ShareLink s={s} bucket={bucket} objectKey={objectKey} />
      <Tags s={s} bucket={bucket} objectKey={objectKey} />
      <Versions s={s} bucket={bucket} objectKey={objectKey} onRestored={head.reload} />
    </section>
  );
}

function ShareLink({ s, bucket, objectKey }: { s: Session; bucket: string; objectKey: string }) {
  const [secs, setSecs] = useState("3600");
  const [url, setUrl] = useState("");
  return (
    <>
      <h2>Share link</h2>
      <Form label="Share link" onSubmit={() => setUrl(presignGet(s, bucket, objectKey, Number(secs)))}>
        <label>
          Valid for
          <select name="expiry" value={secs} onChange={(e) => setSecs(e.target.value)}>
            <option value="900">15 minutes</option>
            <option value="3600">1 hour</option>
            <option value="43200">12 hours</option>
            <option value="604800">7 days</option>
          </select>
        </label>
        <button type="submit">Make link</button>
      </Form>
      {url && (
        <p>
          <label className="block">
            Presigned URL (ends with the session{s.expiration ? `, ${fmtTime(s.expiration)}` : ""}, if that is sooner)
            <input className="wide" readOnly value={url} name="shareUrl" onFocus={(e) => e.target.select()} />
          </label>
        </p>
      )}
    </>
  );
}

function Tags({ s, bucket, objectKey }: { s: Session; bucket: string; objectKey: string }) {
  const tags = useLoad(async () => {
    const doc = await s3Xml(s, "GET", objectPath(bucket, objectKey), { query: [["tagging", ""]] });
    return Array.from(doc.getElementsByTagName("Tag"))
      .map((t) => `${xtext(t, "Key")}=${xtext(t, "Value")}`)
      .join("\n");
  }, [s, bucket, objectKey]);
  const [text, setText] = useState<string | null>(null);
  const save = useAction();
  const [saved, setSaved] = useState(false);
  const value = text ?? tags.data ?? "";
  return (
    <>
      <h2>Tags</h2>
      <ErrorBox error={tags.error} />
      <form
        aria-label="Tags"
        onSubmit={(e) => {
          e.preventDefault();
          setSaved(false);
          save.run(async () => {
            const esc = (x: string) => x.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
            const pairs = value
              .split("\n")
              .map((l) => l.trim())
              .filter(Boolean)
              .map((l) => {
                const i = l.indexOf("=");
                return i < 0 ? [l, ""] : [l.slice(0, i).trim(), l.slice(i + 1).trim()];
              });
            const body =
              '<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>' +
              pairs.map(([k, v]) => `<Tag><Key>${esc(k)}</Key><Value>${esc(v)}</Value></Tag>`).join("") +
              "</TagSet></Tagging>";
            await s3(s, "PUT", objectPath(bucket, objectKey), { query: [["tagging", ""]], body });
            setSaved(true);
          });
        }}
      >
        <label className="block">
          One tag a line, key=value
          <textarea name="tags" rows={4} value={value} onChange={(e) => setText(e.target.value)} />
        </label>
        <button type="submit" disabled={save.busy}>
          Save tags
        </button>{" "}
        {saved && (
          <span className="ok" role="status">
            Tags saved
          </span>
        )}
        <ErrorBox error={save.error} />
      </form>
    </>
  );
}

interface Version {
  id: string;
  latest: boolean;
  deleteMarker: boolean;
  size: number;
  modified: string;
}

function Versions({ s, bucket, objectKey, onRestored }: { s: Session; bucket: string; objectKey: string; onRestored: () => void }) {
  const v = useLoad(async () => {
    const doc = await s3Xml(s, "GET", objectPath(bucket), {
      query: [["versions", ""], ["prefix", objectKey], ["max-keys", "100"]],
    });
    const out: Version[] = [];
    for (const el of Array.from(doc.documentElement.children)) {
      if ((el.localName !== "Version" && el.localName !== "DeleteMarker") || xtext(el, "Key") !== objectKey) continue;
      out.push({
        id: xtext(el, "VersionId"),
        latest: xtext(el, "IsLatest") === "true",
        deleteMarker: el.localName === "DeleteMarker",
        size: Number(xtext(el, "Size") || 0),
        modified: xtext(el, "LastModified"),
      });
    }
    return out;
  }, [s, bucket, objectKey]);
  const act = useAction();
  if (v.data && v.data.every((x) => x.id === "null")) return null;
  return (
    <>
      <h2>Versions</h2>
      <ErrorBox error={v.error ?? act.error} />
      {v.data && (
        <Table head={["Version", ["Size", "num"], "Modified", "Actions"]}>
          {v.data.map((x) => (
            <tr key={x.id} data-version={x.id}>
              <td className="mono">
                {x.id}
                {x.latest ? " (latest)" : ""}
                {x.deleteMarker ? " (delete marker)" : ""}
              </td>
              <td className="num">{x.deleteMarker ? "–" : fmtBytes(x.size)}</td>
              <td>{fmtTime(x.modified)}</td>
              <td>
                {!x.latest && !x.deleteMarker && (
                  <button
                    type="button"
                    disabled={act.busy}
                    onClick={() =>
                      act.run(async () => {
                        // Restoring copies the old version over the latest.
                        const source = `/${uriEncode(bucket)}/${uriEncode(objectKey, true)}?versionId=${uriEncode(x.id)}`;
                        await s3(s, "PUT", objectPath(bucket, objectKey), { headers: { "x-amz-copy-source": source } });
                        v.reload();
                        onRestored();
                      })
                    }
                  >
                    Restore
                  </button>
                )}
              </td>
            </tr>
          ))}
        </Table>
      )}
      <p>
        <a href={href(["b", bucket], { prefix: objectKey.slice(0, objectKey.lastIndexOf("/") + 1) })}>Back to the listing</a>
      </p>
    </>
  );
}
