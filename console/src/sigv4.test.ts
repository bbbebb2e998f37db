// AWS's documented examples ("Examples: Signature Calculations in AWS
// Signature Version 4", S3 API reference; the same vectors the node's own
// verifier and the load generator are tested with).
import { describe, expect, it } from "vitest";
import {
  EMPTY_SHA256,
  amzDate,
  canonicalQuery,
  canonicalRequest,
  presignQuery,
  sha256Hex,
  signHeaders,
  uriEncode,
} from "./sigv4";

const creds = {
  accessKeyId: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
};
const scope = { region: "us-east-1", service: "s3", date: new Date("2013-05-24T00:00:00Z") };
const host = "examplebucket.s3.amazonaws.com";

function sig(auth: string): string {
  return auth.split("Signature=")[1];
}

describe("sigv4", () => {
  it("formats dates and encodes as SigV4 wants", () => {
    expect(amzDate(scope.date)).toBe("20130524T000000Z");
    expect(uriEncode("a/b c$~.-_", true)).toBe("a/b%20c%24~.-_");
    expect(uriEncode("a/b+=é")).toBe("a%2Fb%2B%3D%C3%A9");
    expect(canonicalQuery([["prefix", "J"], ["max-keys", "2"], ["lifecycle", ""]])).toBe(
      "lifecycle=&max-keys=2&prefix=J",
    );
  });

  it("GET object with a range matches AWS's example", () => {
    const req = {
      method: "GET",
      host,
      path: "/test.txt",
      query: [] as [string, string][],
      headers: { range: "bytes=0-9" },
      payloadHash: EMPTY_SHA256,
    };
    const { text } = canonicalRequest(
      req,
      { host, range: "bytes=0-9", "x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": "20130524T000000Z" },
      "",
    );
    expect(sha256Hex(text)).toBe("7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
    const h = signHeaders(req, creds, scope);
    expect(h.authorization).toBe(
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, " +
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, " +
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    );
    expect(h.host).toBeUndefined();
  });

  it("PUT object matches AWS's example", () => {
    const body = sha256Hex("Welcome to Amazon S3.");
    const h = signHeaders(
      {
        method: "PUT",
        host,
        path: "/" + uriEncode("test$file.text", true),
        query: [],
        headers: { date: "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY" },
        payloadHash: body,
      },
      creds,
      scope,
    );
    expect(sig(h.authorization)).toBe("98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
  });

  it("a listing's query is canonicalised as in AWS's example", () => {
    const h = signHeaders(
      { method: "GET", host, path: "/", query: [["prefix", "J"], ["max-keys", "2"]], headers: {}, payloadHash: EMPTY_SHA256 },
      creds,
      scope,
    );
    expect(sig(h.authorization)).toBe("34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
  });

  it("a presigned URL matches AWS's example", () => {
    const q = presignQuery({ method: "GET", host, path: "/test.txt", query: [] }, creds, scope, 86400);
    expect(q).toBe(
      "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
    );
  });

  it("a session token is signed", () => {
    const req = { method: "GET", host, path: "/", query: [] as [string, string][], headers: {}, payloadHash: EMPTY_SHA256 };
    const h = signHeaders(req, { ...creds, sessionToken: "tok" }, scope);
    expect(h["x-amz-security-token"]).toBe("tok");
    expect(h.authorization).toContain("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,");
  });
});
