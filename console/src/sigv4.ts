// AWS Signature Version 4, on @noble/hashes rather than WebCrypto: WebCrypto's
// subtle API exists only in secure contexts, and a console reached over
// plain HTTP on a LAN must still sign.
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export const EMPTY_SHA256 =
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
export const UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD";

export function sha256Hex(data: string | Uint8Array): string {
  return bytesToHex(sha256(typeof data === "string" ? utf8ToBytes(data) : data));
}

/** RFC 3986 encoding as SigV4 wants it: only unreserved characters stay. */
export function uriEncode(s: string, keepSlash = false): string {
  let out = "";
  for (const b of utf8ToBytes(s)) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c) || (keepSlash && c === "/")) out += c;
    else out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** `20130524T000000Z` */
export function amzDate(d: Date): string {
  return d.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

export function canonicalQuery(query: [string, string][]): string {
  return query
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

export function signingKey(secret: string, date: string, region: string, service: string): Uint8Array {
  const h = (key: Uint8Array, msg: string) => hmac(sha256, key, utf8ToBytes(msg));
  return h(h(h(h(utf8ToBytes("AWS4" + secret), date), region), service), "aws4_request");
}

export interface Request {
  method: string;
  host: string;
  /** The path as sent, already percent-encoded. */
  path: string;
  query: [string, string][];
  /** Headers to sign besides host and the x-amz ones added here. */
  headers: Record<string, string>;
  payloadHash: string;
}

export interface Scope {
  region: string;
  service: string;
  date: Date;
}

function stringToSign(canonical: string, timestamp: string, scope: string): string {
  return ["AWS4-HMAC-SHA256", timestamp, scope, sha256Hex(canonical)].join("\n");
}

function credentialScope(s: Scope): string {
  return `${amzDate(s.date).slice(0, 8)}/${s.region}/${s.service}/aws4_request`;
}

function signature(creds: Credentials, s: Scope, toSign: string): string {
  const key = signingKey(creds.secretAccessKey, amzDate(s.date).slice(0, 8), s.region, s.service);
  return bytesToHex(hmac(sha256, key, utf8ToBytes(toSign)));
}

/** The canonical request (exported for the tests against AWS's examples). */
export function canonicalRequest(
  req: Request,
  headers: Record<string, string>,
  queryString: string,
): { text: string; signed: string } {
  const names = Object.keys(headers)
    .map((n) => n.toLowerCase())
    .sort();
  const lower: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = v;
  const canonHeaders = names
    .map((n) => `${n}:${lower[n].trim().replace(/\s+/g, " ")}\n`)
    .join("");
  const signed = names.join(";");
  const text = [req.method, req.path, queryString, canonHeaders, signed, req.payloadHash].join("\n");
  return { text, signed };
}

/**
 * Signs with an Authorization header. Answers the headers to send (without
 * host, which the browser sets and may not be set by a page).
 */
export function signHeaders(req: Request, creds: Credentials, scope: Scope): Record<string, string> {
  const timestamp = amzDate(scope.date);
  const headers: Record<string, string> = {
    ...req.headers,
    host: req.host,
    "x-amz-date": timestamp,
    "x-amz-content-sha256": req.payloadHash,
  };
  if (creds.sessionToken) headers["x-amz-security-token"] = creds.sessionToken;
  const { text, signed } = canonicalRequest(req, headers, canonicalQuery(req.query));
  const cs = credentialScope(scope);
  const sig = signature(creds, scope, stringToSign(text, timestamp, cs));
  delete headers.host;
  headers.authorization =
    `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${cs}, SignedHeaders=${signed}, Signature=${sig}`;
  return headers;
}

/** A presigned URL's query string (host signed only). */
export function presignQuery(
  req: Omit<Request, "headers" | "payloadHash">,
  creds: Credentials,
  scope: Scope,
  expiresSecs: number,
): string {
  const timestamp = amzDate(scope.date);
  const cs = credentialScope(scope);
  const query: [string, string][] = [
    ...req.query,
    ["X-Amz-Algorithm", "AWS4-HMAC-SHA256"],
    ["X-Amz-Credential", `${creds.accessKeyId}/${cs}`],
    ["X-Amz-Date", timestamp],
    ["X-Amz-Expires", String(expiresSecs)],
    ["X-Amz-SignedHeaders", "host"],
  ];
  if (creds.sessionToken) query.push(["X-Amz-Security-Token", creds.sessionToken]);
  const qs = canonicalQuery(query);
  const { text } = canonicalRequest(
    { ...req, headers: {}, payloadHash: UNSIGNED_PAYLOAD },
    { host: req.host },
    qs,
  );
  const sig = signature(creds, scope, stringToSign(text, timestamp, cs));
  return `${qs}&X-Amz-Signature=${sig}`;
}
