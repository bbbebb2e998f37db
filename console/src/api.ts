// Every request the console makes: S3 (XML) and the admin API (JSON), each
// SigV4-signed in the page with the session's temporary credentials.
import {
  type Credentials,
  EMPTY_SHA256,
  UNSIGNED_PAYLOAD,
  canonicalQuery,
  presignQuery,
  sha256Hex,
  signHeaders,
  uriEncode,
} from "./sigv4";

export interface Session {
  creds: Credentials;
  region: string;
  /** The long-term access key the session was made from (shown, not used). */
  accessKey: string;
  /** When the temporary credentials end (RFC 3339), if temporary. */
  expiration?: string;
}

const STORAGE_KEY = "cairn.console.session";

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export function saveSession(s: Session): void {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(s));
}

export function clearSession(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public requestId = "",
  ) {
    super(message);
  }
  describe(): string {
    const id = this.requestId ? ` (request ${this.requestId})` : "";
    return `${this.code}: ${this.message}${id}`;
  }
}

export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.describe();
  if (e instanceof Error) return e.message;
  return String(e);
}

export type Query = [string, string][];

/** The path of an object or bucket, percent-encoded as SigV4 signs it. */
export function objectPath(bucket: string, key = ""): string {
  return "/" + uriEncode(bucket) + (key ? "/" + uriEncode(key, true) : "");
}

function bodyBytes(body: string | Uint8Array | undefined): Uint8Array {
  if (body === undefined) return new Uint8Array();
  return typeof body === "string" ? new TextEncoder().encode(body) : body;
}

async function xmlError(r: Response): Promise<ApiError> {
  const text = await r.text();
  const doc = text ? new DOMParser().parseFromString(text, "application/xml") : null;
  const pick = (tag: string) => doc?.getElementsByTagName(tag)[0]?.textContent ?? "";
  const code = pick("Code") || `HTTP${r.status}`;
  return new ApiError(r.status, code, pick("Message") || r.statusText, pick("RequestId") || r.headers.get("x-amz-request-id") || "");
}

export interface S3Options {
  query?: Query;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

/** A signed S3 request; a non-2xx answer is thrown as its S3 error. */
export async function s3(s: Session, method: string, path: string, o: S3Options = {}): Promise<Response> {
  const body = bodyBytes(o.body);
  const query = o.query ?? [];
  const headers = signHeaders(
    {
      method,
      host: location.host,
      path,
      query,
      headers: o.headers ?? {},
      payloadHash: body.length ? sha256Hex(body) : EMPTY_SHA256,
    },
    s.creds,
    { region: s.region, service: "s3", date: new Date() },
  );
  const qs = canonicalQuery(query);
  const r = await fetch(path + (qs ? "?" + qs : ""), {
    method,
    headers,
    body: method === "GET" || method === "HEAD" ? undefined : (body as BodyInit),
    cache: "no-store",
  });
  if (!r.ok) throw await xmlError(r);
  return r;
}

export async function s3Xml(s: Session, method: string, path: string, o: S3Options = {}): Promise<Document> {
  const r = await s3(s, method, path, o);
  return new DOMParser().parseFromString(await r.text(), "application/xml");
}

/** The text of the first `tag` under `el`. */
export function xtext(el: Element | Document, tag: string): string {
  return el.getElementsByTagName(tag)[0]?.textContent ?? "";
}

/** Direct children of `el` named `tag`. */
export function xkids(el: Element | Document, tag: string): Element[] {
  const root = el instanceof Document ? el.documentElement : el;
  return Array.from(root.children).filter((c) => c.localName === tag);
}

/** A signed admin API call (`/_cairn/admin/v1/…`); the body's hash is signed. */
export async function admin<T = unknown>(s: Session, method: string, path: string, body?: unknown): Promise<T> {
  const text = body === undefined ? "" : JSON.stringify(body);
  const full = "/_cairn/admin/v1/" + path.split("?")[0];
  const query: Query = [];
  const qs = path.split("?")[1];
  if (qs) for (const [k, v] of new URLSearchParams(qs)) query.push([k, v]);
  const headers = signHeaders(
    {
      method,
      host: location.host,
      path: full,
      query,
      headers: text ? { "content-type": "application/json" } : {},
      payloadHash: sha256Hex(text),
    },
    s.creds,
    { region: s.region, service: "s3", date: new Date() },
  );
  const cq = canonicalQuery(query);
  const r = await fetch(full + (cq ? "?" + cq : ""), { method, headers, body: text || undefined, cache: "no-store" });
  if (r.status === 204) return undefined as T;
  const answer = await r.text();
  let json: Record<string, unknown> = {};
  try {
    json = answer ? JSON.parse(answer) : {};
  } catch {
    throw new ApiError(r.status, `HTTP${r.status}`, answer.slice(0, 200));
  }
  if (!r.ok) {
    throw new ApiError(r.status, String(json.Code ?? `HTTP${r.status}`), String(json.Message ?? r.statusText), String(json.RequestId ?? ""));
  }
  return json as T;
}

/**
 * Signs in: GetSessionToken with the long-term key; only the temporary
 * credentials are kept. A service account may not ask for a session (as in
 * AWS), so its own key is kept for this tab instead.
 */
export async function signIn(accessKeyId: string, secretAccessKey: string, region: string): Promise<Session> {
  const body = "Action=GetSessionToken&Version=2011-06-15";
  const headers = signHeaders(
    {
      method: "POST",
      host: location.host,
      path: "/",
      query: [],
      headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
      payloadHash: sha256Hex(body),
    },
    { accessKeyId, secretAccessKey },
    { region, service: "sts", date: new Date() },
  );
  const r = await fetch("/", { method: "POST", headers, body, cache: "no-store" });
  if (!r.ok) {
    const e = await xmlError(r);
    if (e.code === "AccessDenied" && /service account/i.test(e.message)) {
      const s: Session = { creds: { accessKeyId, secretAccessKey }, region, accessKey: accessKeyId };
      await s3(s, "GET", "/");
      return s;
    }
    throw e;
  }
  const doc = new DOMParser().parseFromString(await r.text(), "application/xml");
  return {
    creds: {
      accessKeyId: xtext(doc, "AccessKeyId"),
      secretAccessKey: xtext(doc, "SecretAccessKey"),
      sessionToken: xtext(doc, "SessionToken"),
    },
    region,
    accessKey: accessKeyId,
    expiration: xtext(doc, "Expiration"),
  };
}

/** A presigned GET of an object, valid for `expiresSecs`. */
export function presignGet(s: Session, bucket: string, key: string, expiresSecs: number, query: Query = []): string {
  const path = objectPath(bucket, key);
  const qs = presignQuery({ method: "GET", host: location.host, path, query }, s.creds, {
    region: s.region,
    service: "s3",
    date: new Date(),
  }, expiresSecs);
  return `${location.protocol}//${location.host}${path}?${qs}`;
}

/**
 * Uploads with a signed PUT whose payload is not hashed (the file may be
 * large), through XHR for its upload progress events.
 */
export function upload(
  s: Session,
  bucket: string,
  key: string,
  file: Blob,
  onProgress: (sent: number, total: number) => void,
): Promise<void> {
  const path = objectPath(bucket, key);
  const contentType = file.type || "application/octet-stream";
  const headers = signHeaders(
    { method: "PUT", host: location.host, path, query: [], headers: { "content-type": contentType }, payloadHash: UNSIGNED_PAYLOAD },
    s.creds,
    { region: s.region, service: "s3", date: new Date() },
  );
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", path);
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve();
      const doc = new DOMParser().parseFromString(xhr.responseText || "<x/>", "application/xml");
      reject(new ApiError(xhr.status, xtext(doc, "Code") || `HTTP${xhr.status}`, xtext(doc, "Message") || xhr.statusText, xtext(doc, "RequestId")));
    };
    xhr.onerror = () => reject(new Error("The upload failed (network error)."));
    xhr.send(file);
  });
}
