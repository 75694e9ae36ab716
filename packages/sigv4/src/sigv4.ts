// AWS Signature Version 4 (AWS4-HMAC-SHA256): the canonical request, the string to sign, the
// derived signing key, and the Authorization header, for signing a request (a client of an XKS
// proxy) and for verifying one (the proxy). Paths are taken as already URI-encoded once (the
// non-S3 rule): each segment is normalized to RFC 3986 percent-encoding, not encoded twice.
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export const ALGORITHM = "AWS4-HMAC-SHA256";

export interface SignableRequest {
  readonly method: string;
  /** The path as sent (percent-encoded), e.g. "/kms/xks/v1/keys/k1/encrypt". */
  readonly path: string;
  /** The query string as sent, without "?" ("" when none). */
  readonly query: string;
  /** Header names and values as received; repeated names are allowed. */
  readonly headers: readonly (readonly [name: string, value: string])[];
  readonly body: Uint8Array;
}

export interface Scope {
  /** YYYYMMDD */
  readonly date: string;
  readonly region: string;
  readonly service: string;
}

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

const sha256Hex = (data: Uint8Array | string): string => createHash("sha256").update(data).digest("hex");
const hmac = (key: Uint8Array | string, data: string): Buffer => createHmac("sha256", key).update(data, "utf8").digest();

/** RFC 3986 percent-encoding of everything but unreserved characters (A-Z a-z 0-9 - . _ ~). */
export function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function decodeComponent(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, "%20"));
  } catch {
    return value;
  }
}

/** Each path segment decoded once and re-encoded, so equivalent spellings sign the same. */
export function canonicalPath(path: string): string {
  if (path === "") return "/";
  return path
    .split("/")
    .map((segment) => uriEncode(decodeComponent(segment)))
    .join("/");
}

/** Query parameters encoded and sorted by name, then value. */
export function canonicalQuery(query: string): string {
  if (query === "") return "";
  const pairs = query
    .split("&")
    .filter((part) => part !== "")
    .map((part) => {
      const at = part.indexOf("=");
      const name = at < 0 ? part : part.slice(0, at);
      const value = at < 0 ? "" : part.slice(at + 1);
      return [uriEncode(decodeComponent(name)), uriEncode(decodeComponent(value))] as const;
    });
  pairs.sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([name, value]) => `${name}=${value}`).join("&");
}

/** Lower-case names, values trimmed with inner runs of spaces collapsed, repeated names joined by ",". */
function canonicalHeaderMap(headers: SignableRequest["headers"]): Map<string, string> {
  const map = new Map<string, string[]>();
  for (const [name, value] of headers) {
    const key = name.toLowerCase();
    const list = map.get(key) ?? [];
    list.push(value.trim().replace(/ +/g, " "));
    map.set(key, list);
  }
  return new Map([...map].map(([key, values]) => [key, values.join(",")]));
}

/** The canonical request over `signedHeaders` (lower-case); undefined when one of them is missing. */
export function canonicalRequest(request: SignableRequest, signedHeaders: readonly string[], payloadHash: string): string | undefined {
  const headers = canonicalHeaderMap(request.headers);
  const names = [...signedHeaders].sort();
  const lines: string[] = [];
  for (const name of names) {
    const value = headers.get(name);
    if (value === undefined) return undefined;
    lines.push(`${name}:${value}\n`);
  }
  return [request.method.toUpperCase(), canonicalPath(request.path), canonicalQuery(request.query), lines.join(""), names.join(";"), payloadHash].join("\n");
}

export function credentialScope(scope: Scope): string {
  return `${scope.date}/${scope.region}/${scope.service}/aws4_request`;
}

export function stringToSign(amzDate: string, scope: Scope, canonical: string): string {
  return [ALGORITHM, amzDate, credentialScope(scope), sha256Hex(canonical)].join("\n");
}

export function signingKey(secretAccessKey: string, scope: Scope): Buffer {
  const date = hmac(`AWS4${secretAccessKey}`, scope.date);
  const region = hmac(date, scope.region);
  const service = hmac(region, scope.service);
  return hmac(service, "aws4_request");
}

export function signature(secretAccessKey: string, scope: Scope, toSign: string): string {
  return createHmac("sha256", signingKey(secretAccessKey, scope)).update(toSign, "utf8").digest("hex");
}

/** "20150830T123600Z" for a time. */
export function amzDateOf(time: Date): string {
  return time.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

export interface SignOptions {
  readonly region: string;
  readonly service: string;
  readonly time: Date;
}

/**
 * The headers to add to a request so it is signed: X-Amz-Date and Authorization, signing
 * every header the request already has (which must include Host) plus X-Amz-Date.
 */
export function signRequest(request: SignableRequest, credentials: Credentials, options: SignOptions): { readonly "x-amz-date": string; readonly authorization: string } {
  const amzDate = amzDateOf(options.time);
  const scope: Scope = { date: amzDate.slice(0, 8), region: options.region, service: options.service };
  const withDate: SignableRequest = { ...request, headers: [...request.headers, ["x-amz-date", amzDate]] };
  const signed = [...new Set(withDate.headers.map(([name]) => name.toLowerCase()))].sort();
  if (!signed.includes("host")) throw new Error("sigv4: the request must have a Host header");
  const canonical = canonicalRequest(withDate, signed, sha256Hex(request.body))!;
  const sig = signature(credentials.secretAccessKey, scope, stringToSign(amzDate, scope, canonical));
  return {
    "x-amz-date": amzDate,
    authorization: `${ALGORITHM} Credential=${credentials.accessKeyId}/${credentialScope(scope)}, SignedHeaders=${signed.join(";")}, Signature=${sig}`,
  };
}

export interface ParsedAuthorization {
  readonly accessKeyId: string;
  readonly scope: Scope;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
}

const AUTHORIZATION = /^AWS4-HMAC-SHA256 Credential=([^/\s,]+)\/(\d{8})\/([^/\s,]+)\/([^/\s,]+)\/aws4_request, ?SignedHeaders=([a-z0-9\-;]+), ?Signature=([0-9a-f]{64})$/;

export function parseAuthorization(header: string): ParsedAuthorization | undefined {
  const match = AUTHORIZATION.exec(header.trim());
  if (match === null) return undefined;
  const [, accessKeyId, date, region, service, headers, sig] = match;
  return { accessKeyId: accessKeyId!, scope: { date: date!, region: region!, service: service! }, signedHeaders: headers!.split(";"), signature: sig! };
}

export type VerifyFailure =
  | "missing-authorization"
  | "malformed-authorization"
  | "missing-date"
  | "date-mismatch"
  | "clock-skew"
  | "wrong-region"
  | "wrong-service"
  | "unsigned-required-header"
  | "unknown-access-key"
  | "signature-mismatch";

export type VerifyOutcome = { readonly ok: true; readonly accessKeyId: string } | { readonly ok: false; readonly failure: VerifyFailure };

export interface VerifyOptions {
  readonly region: string;
  readonly service: string;
  readonly now: Date;
  /** Largest accepted difference between X-Amz-Date and now (AWS: 5 minutes). */
  readonly maxSkewMs: number;
  /** The secrets an access key id may sign with (several during a rotation); [] when unknown. */
  readonly secretsOf: (accessKeyId: string) => readonly string[];
}

function headerValue(request: SignableRequest, name: string): string | undefined {
  return request.headers.find(([key]) => key.toLowerCase() === name)?.[1];
}

/** Verifies a request's SigV4 Authorization header; the comparison is constant-time. */
export function verifyRequest(request: SignableRequest, options: VerifyOptions): VerifyOutcome {
  const fail = (failure: VerifyFailure): VerifyOutcome => ({ ok: false, failure });
  const header = headerValue(request, "authorization");
  if (header === undefined) return fail("missing-authorization");
  const parsed = parseAuthorization(header);
  if (parsed === undefined) return fail("malformed-authorization");
  const amzDate = headerValue(request, "x-amz-date");
  if (amzDate === undefined || !/^\d{8}T\d{6}Z$/.test(amzDate)) return fail("missing-date");
  if (amzDate.slice(0, 8) !== parsed.scope.date) return fail("date-mismatch");
  const at = Date.UTC(+amzDate.slice(0, 4), +amzDate.slice(4, 6) - 1, +amzDate.slice(6, 8), +amzDate.slice(9, 11), +amzDate.slice(11, 13), +amzDate.slice(13, 15));
  if (!Number.isFinite(at) || Math.abs(options.now.getTime() - at) > options.maxSkewMs) return fail("clock-skew");
  if (parsed.scope.region !== options.region) return fail("wrong-region");
  if (parsed.scope.service !== options.service) return fail("wrong-service");
  if (!parsed.signedHeaders.includes("host") || !parsed.signedHeaders.includes("x-amz-date")) return fail("unsigned-required-header");
  const canonical = canonicalRequest(request, parsed.signedHeaders, sha256Hex(request.body));
  if (canonical === undefined) return fail("unsigned-required-header");
  const toSign = stringToSign(amzDate, parsed.scope, canonical);
  const expected = Buffer.from(parsed.signature, "hex");
  const secrets = options.secretsOf(parsed.accessKeyId);
  if (secrets.length === 0) return fail("unknown-access-key");
  let matched = false;
  for (const secret of secrets) {
    const actual = Buffer.from(signature(secret, parsed.scope, toSign), "hex");
    // (Every secret is tried, so the time does not tell which one matched.)
    if (timingSafeEqual(actual, expected)) matched = true;
  }
  return matched ? { ok: true, accessKeyId: parsed.accessKeyId } : fail("signature-mismatch");
}
