import { useState } from "react";
import { type Session, ApiError, objectPath, s3 } from "../api";
import { ErrorBox, Loading, useAction, useLoad } from "../ui";
import { Crumbs } from "./browser";

/** What the page can tell before the node does: JSON, an object, statements. */
export function checkPolicy(text: string): string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return `Not JSON: ${(e as Error).message}`;
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return "A policy is a JSON object.";
  const st = (doc as Record<string, unknown>).Statement;
  if (st === undefined) return "A policy needs a Statement.";
  if (typeof st !== "object" || st === null) return "Statement is an object or a list of objects.";
  return "";
}

function publicRead(bucket: string): string {
  return JSON.stringify(
    {
      Version: "2012-10-17",
      Statement: [{ Sid: "PublicRead", Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: `arn:aws:s3:::${bucket}/*` }],
    },
    null,
    2,
  );
}

export function PolicyPage({ s, bucket }: { s: Session; bucket: string }) {
  const current = useLoad(async () => {
    try {
      const r = await s3(s, "GET", objectPath(bucket), { query: [["policy", ""]] });
      const text = await r.text();
      try {
        return JSON.stringify(JSON.parse(text), null, 2);
      } catch {
        return text;
      }
    } catch (e) {
      if (e instanceof ApiError && e.code === "NoSuchBucketPolicy") return "";
      throw e;
    }
  }, [s, bucket]);
  const [text, setText] = useState<string | null>(null);
  const [status, setStatus] = useState("");
  const act = useAction();
  const value = text ?? current.data ?? "";
  const problem = value.trim() ? checkPolicy(value) : "";
  return (
    <section>
      <Crumbs bucket={bucket} prefix="" />
      <h1>Bucket policy of {bucket}</h1>
      <ErrorBox error={current.error} />
      {current.data === undefined && !current.error && <Loading what="the policy" />}
      {current.data !== undefined && (
        <form
          aria-label="Bucket policy"
          onSubmit={(e) => {
            e.preventDefault();
            setStatus("");
            if (problem) return;
            act.run(async () => {
              await s3(s, "PUT", objectPath(bucket), { query: [["policy", ""]], body: value });
              setText(null);
              current.reload();
              setStatus("Policy saved");
            });
          }}
        >
          <label className="block">
            Policy document (JSON)
            <textarea
              name="policy"
              className="code"
              rows={18}
              spellCheck={false}
              value={value}
              aria-invalid={problem ? true : undefined}
              onChange={(e) => {
                setText(e.target.value);
                setStatus("");
              }}
            />
          </label>
          {problem && (
            <p className="error" role="alert">
              {problem}
            </p>
          )}
          <button type="submit" disabled={act.busy || !!problem || !value.trim()}>
            Save policy
          </button>{" "}
          <button type="button" onClick={() => setText(publicRead(bucket))}>
            Public read template
          </button>{" "}
          <button
            type="button"
            className="danger"
            disabled={act.busy || !current.data}
            onClick={() =>
              act.run(async () => {
                await s3(s, "DELETE", objectPath(bucket), { query: [["policy", ""]] });
                setText("");
                current.reload();
                setStatus("Policy deleted");
              })
            }
          >
            Delete policy
          </button>{" "}
          {status && (
            <span className="ok" role="status">
              {status}
            </span>
          )}
          <ErrorBox error={act.error} />
        </form>
      )}
    </section>
  );
}
