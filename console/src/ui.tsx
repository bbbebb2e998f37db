// Small shared pieces: loading state, errors, formatting.
import { type FormEvent, type ReactNode, useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";
import { errorText } from "./api";

export function fmtBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function fmtTime(s: string | null | undefined): string {
  if (!s) return "–";
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

/** Loads `f` when `deps` change; `reload` runs it again. */
export function useLoad<T>(f: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | undefined>();
  const [error, setError] = useState<unknown>();
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setError(undefined);
    f().then(
      (d) => live && setData(d),
      (e) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [...deps, n]);
  const reload = useCallback(() => setN((x) => x + 1), []);
  return { data, error, reload, setData };
}

export function ErrorBox({ error }: { error: unknown }) {
  if (error === undefined || error === null || error === "") return null;
  return (
    <p className="error" role="alert">
      {errorText(error)}
    </p>
  );
}

/** Runs an action, showing its error; disables the form while it runs. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const run = useCallback(async (f: () => Promise<unknown>) => {
    setBusy(true);
    setError(undefined);
    try {
      await f();
      return true;
    } catch (e) {
      setError(e);
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run, setError };
}

export function Form({ onSubmit, children, label }: { onSubmit: () => void; children: ReactNode; label: string }) {
  return (
    <form
      className="inline-form"
      aria-label={label}
      onSubmit={(e: FormEvent) => {
        e.preventDefault();
        onSubmit();
      }}
    >
      {children}
    </form>
  );
}

export function Loading({ what }: { what: string }) {
  return <p className="muted">Loading {what}…</p>;
}

/** A column heading: its text, or its text and a class ("num" aligns right). */
export type Column = string | [string, string];

/**
 * A table in a box that scrolls if it must. On a narrow screen (style.css)
 * each row becomes a block and each cell shows its column's heading, which
 * is copied into the cell's `data-label` here whenever rows change.
 */
export function Table({ head, children }: { head: Column[]; children: ReactNode }) {
  const body = useRef<HTMLTableSectionElement>(null);
  const names = head.map((c) => (typeof c === "string" ? c : c[0]));
  const key = names.join("\u0000");
  useLayoutEffect(() => {
    const tbody = body.current;
    if (!tbody) return;
    const label = () => {
      for (const row of Array.from(tbody.rows))
        Array.from(row.cells).forEach((cell, i) => {
          if (cell.colSpan === 1 && names[i] && cell.dataset.label !== names[i]) cell.dataset.label = names[i];
        });
    };
    label();
    const watch = new MutationObserver(label);
    watch.observe(tbody, { childList: true, subtree: true });
    return () => watch.disconnect();
  }, [key]);
  return (
    <div className="table-wrap">
      <table className="reflow">
        <thead>
          <tr>
            {head.map((c) => (typeof c === "string" ? <th key={c}>{c}</th> : <th key={c[0]} className={c[1]}>{c[0]}</th>))}
          </tr>
        </thead>
        <tbody ref={body}>{children}</tbody>
      </table>
    </div>
  );
}

/** One input of a `FieldForm`. */
export interface Field {
  name: string;
  label: string;
  /** A select of `[value, text]` options instead of a text input. */
  options?: [string, string][];
  /** A multi-line code editor instead of a text input. */
  code?: boolean;
  required?: boolean;
  initial?: string;
  /** Kept after a submit (otherwise reset to `initial`). */
  keep?: boolean;
  /** What is wrong with the value (shown, and the form will not submit); "" if nothing. */
  check?: (v: string) => string;
}

/**
 * A form of text inputs, selects and code editors that submits on Enter,
 * is disabled while its action runs, shows the action's error, and resets
 * its fields after the action succeeds.
 */
export function FieldForm({ label, submit, fields, onSubmit }: { label: string; submit: string; fields: Field[]; onSubmit: (values: Record<string, string>) => Promise<unknown> }) {
  const initial = (f: Field) => f.initial ?? "";
  const [values, setValues] = useState<Record<string, string>>(() => Object.fromEntries(fields.map((f) => [f.name, initial(f)])));
  const act = useAction();
  const value = (f: Field) => values[f.name] ?? initial(f);
  const set = (name: string, v: string) => setValues((old) => ({ ...old, [name]: v }));
  const problem = fields.map((f) => f.check?.(value(f)) ?? "").find(Boolean) ?? "";
  return (
    <>
      <Form
        label={label}
        onSubmit={() => {
          if (problem) return;
          const sent = Object.fromEntries(fields.map((f) => [f.name, value(f)]));
          act.run(async () => {
            await onSubmit(sent);
            setValues((old) => Object.fromEntries(fields.map((f) => [f.name, f.keep ? (old[f.name] ?? initial(f)) : initial(f)])));
          });
        }}
      >
        {fields.map((f) => (
          <label key={f.name} className={f.code ? "block" : undefined}>
            {f.label}
            {f.options ? (
              <select name={f.name} value={value(f)} onChange={(e) => set(f.name, e.target.value)} required={f.required}>
                {f.options.map(([v, text]) => (
                  <option key={v} value={v}>
                    {text}
                  </option>
                ))}
              </select>
            ) : f.code ? (
              <textarea name={f.name} className="code" rows={12} spellCheck={false} value={value(f)} onChange={(e) => set(f.name, e.target.value)} required={f.required} aria-invalid={f.check?.(value(f)) ? true : undefined} />
            ) : (
              <input name={f.name} value={value(f)} onChange={(e) => set(f.name, e.target.value)} required={f.required} />
            )}
          </label>
        ))}
        <button type="submit" disabled={act.busy || !!problem}>
          {submit}
        </button>
      </Form>
      {problem && (
        <p className="error" role="alert">
          {problem}
        </p>
      )}
      <ErrorBox error={act.error} />
    </>
  );
}
