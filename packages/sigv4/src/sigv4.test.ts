import assert from "node:assert/strict";
import { test } from "node:test";
import { canonicalRequest, signRequest, verifyRequest, type SignableRequest } from "./sigv4.ts";

// Vectors from AWS's Signature Version 4 test suite (aws-sig-v4-test-suite): credentials
// AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, us-east-1, service "service",
// 20150830T123600Z. Each: the request, its canonical request, and the expected signature.
const SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const AMZ_DATE = "20150830T123600Z";
const EMPTY_HASH = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

interface Vector {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly headers: [string, string][];
  readonly signedHeaders: string;
  readonly creq: string;
  readonly signature: string;
}

const host: [string, string] = ["Host", "example.amazonaws.com"];
const date: [string, string] = ["X-Amz-Date", AMZ_DATE];

const VECTORS: readonly Vector[] = [
  {
    name: "get-vanilla", method: "GET", path: "/", query: "", headers: [host, date], signedHeaders: "host;x-amz-date",
    creq: `GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:${AMZ_DATE}\n\nhost;x-amz-date\n${EMPTY_HASH}`,
    signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
  },
  {
    name: "get-vanilla-query-order-key-case", method: "GET", path: "/", query: "Param2=value2&Param1=value1", headers: [host, date], signedHeaders: "host;x-amz-date",
    creq: `GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:${AMZ_DATE}\n\nhost;x-amz-date\n${EMPTY_HASH}`,
    signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
  },
  {
    name: "get-vanilla-query-order-key", method: "GET", path: "/", query: "Param1=value2&Param1=Value1", headers: [host, date], signedHeaders: "host;x-amz-date",
    creq: `GET\n/\nParam1=Value1&Param1=value2\nhost:example.amazonaws.com\nx-amz-date:${AMZ_DATE}\n\nhost;x-amz-date\n${EMPTY_HASH}`,
    signature: "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1",
  },
  {
    name: "get-vanilla-utf8-query", method: "GET", path: "/", query: "ሴ=bar", headers: [host, date], signedHeaders: "host;x-amz-date",
    creq: `GET\n/\n%E1%88%B4=bar\nhost:example.amazonaws.com\nx-amz-date:${AMZ_DATE}\n\nhost;x-amz-date\n${EMPTY_HASH}`,
    signature: "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
  },
  {
    name: "get-unreserved", method: "GET", path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", query: "", headers: [host, date], signedHeaders: "host;x-amz-date",
    creq: `GET\n/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n\nhost:example.amazonaws.com\nx-amz-date:${AMZ_DATE}\n\nhost;x-amz-date\n${EMPTY_HASH}`,
    signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
  },
  {
    name: "get-header-value-trim", method: "GET", path: "/", query: "", headers: [host, ["My-Header1", "value1"], ["My-Header2", '"a   b   c"'], date],
    signedHeaders: "host;my-header1;my-header2;x-amz-date",
    creq: `GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:"a b c"\nx-amz-date:${AMZ_DATE}\n\nhost;my-header1;my-header2;x-amz-date\n${EMPTY_HASH}`,
    signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
  },
  {
    name: "get-header-key-duplicate", method: "GET", path: "/", query: "", headers: [host, ["My-Header1", "value2"], ["My-Header1", "value2"], ["My-Header1", "value1"], date],
    signedHeaders: "host;my-header1;x-amz-date",
    creq: `GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\nx-amz-date:${AMZ_DATE}\n\nhost;my-header1;x-amz-date\n${EMPTY_HASH}`,
    signature: "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
  },
  {
    name: "post-vanilla", method: "POST", path: "/", query: "", headers: [host, date], signedHeaders: "host;x-amz-date",
    creq: `POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:${AMZ_DATE}\n\nhost;x-amz-date\n${EMPTY_HASH}`,
    signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
  },
  {
    name: "post-header-key-sort", method: "POST", path: "/", query: "", headers: [host, ["My-Header1", "value1"], date], signedHeaders: "host;my-header1;x-amz-date",
    creq: `POST\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nx-amz-date:${AMZ_DATE}\n\nhost;my-header1;x-amz-date\n${EMPTY_HASH}`,
    signature: "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
  },
];

const requestOf = (v: Vector, signature = v.signature): SignableRequest => ({
  method: v.method,
  path: v.path,
  query: v.query,
  body: new Uint8Array(0),
  headers: [...v.headers, ["Authorization", `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=${v.signedHeaders}, Signature=${signature}`]],
});

const verifyOptions = (now = new Date("2015-08-30T12:36:00Z")) => ({
  region: "us-east-1",
  service: "service",
  now,
  maxSkewMs: 5 * 60_000,
  secretsOf: (id: string) => (id === "AKIDEXAMPLE" ? [SECRET] : []),
});

for (const v of VECTORS) {
  test(`AWS test suite: ${v.name}`, () => {
    assert.equal(canonicalRequest(requestOf(v), v.signedHeaders.split(";"), EMPTY_HASH), v.creq);
    assert.deepEqual(verifyRequest(requestOf(v), verifyOptions()), { ok: true, accessKeyId: "AKIDEXAMPLE" });
  });
}

test("a changed signature, body, header, path, region, service or date is refused, each for its reason", () => {
  const v = VECTORS[0]!;
  const flipped = v.signature.replace(/^./, (c) => (c === "0" ? "1" : "0"));
  assert.deepEqual(verifyRequest(requestOf(v, flipped), verifyOptions()), { ok: false, failure: "signature-mismatch" });
  assert.deepEqual(verifyRequest({ ...requestOf(v), body: new Uint8Array([1]) }, verifyOptions()), { ok: false, failure: "signature-mismatch" });
  assert.deepEqual(verifyRequest({ ...requestOf(v), path: "/other" }, verifyOptions()), { ok: false, failure: "signature-mismatch" });
  assert.deepEqual(verifyRequest(requestOf(v), { ...verifyOptions(), region: "eu-west-1" }), { ok: false, failure: "wrong-region" });
  assert.deepEqual(verifyRequest(requestOf(v), { ...verifyOptions(), service: "kms-xks-proxy" }), { ok: false, failure: "wrong-service" });
  assert.deepEqual(verifyRequest(requestOf(v), verifyOptions(new Date("2015-08-30T12:41:01Z"))), { ok: false, failure: "clock-skew" });
  assert.deepEqual(verifyRequest(requestOf(v), verifyOptions(new Date("2015-08-30T12:40:59Z"))).ok, true, "within five minutes");
  assert.deepEqual(verifyRequest(requestOf(v), { ...verifyOptions(), secretsOf: () => [] }), { ok: false, failure: "unknown-access-key" });
  const noHost = { ...requestOf(VECTORS[0]!), headers: requestOf(VECTORS[0]!).headers.filter(([n]) => n !== "Host") };
  assert.deepEqual(verifyRequest(noHost, verifyOptions()), { ok: false, failure: "unsigned-required-header" });
  assert.deepEqual(verifyRequest({ ...requestOf(v), headers: [host, date] }, verifyOptions()), { ok: false, failure: "missing-authorization" });
  assert.deepEqual(verifyRequest({ ...requestOf(v), headers: [host, date, ["Authorization", "Basic abc"]] }, verifyOptions()), { ok: false, failure: "malformed-authorization" });
});

test("during a rotation either of two secrets verifies", () => {
  const v = VECTORS[0]!;
  const outcome = verifyRequest(requestOf(v), { ...verifyOptions(), secretsOf: () => ["new-secret-not-yet-used", SECRET] });
  assert.deepEqual(outcome, { ok: true, accessKeyId: "AKIDEXAMPLE" });
});

test("what signRequest signs, verifyRequest accepts (a POST with a JSON body, as XKS sends)", () => {
  const body = Buffer.from(JSON.stringify({ requestMetadata: { awsPrincipalArn: "arn:aws:iam::123456789012:user/Alice", kmsOperation: "Encrypt" }, plaintext: "SGVsbG8=" }));
  const request: SignableRequest = {
    method: "POST",
    path: "/example/kms/xks/v1/keys/key-1/encrypt",
    query: "",
    headers: [["Host", "xks.example.com"], ["Content-Type", "application/json"]],
    body,
  };
  const time = new Date("2026-11-29T12:00:00Z");
  const added = signRequest(request, { accessKeyId: "AKIAXKS1", secretAccessKey: "s3cr3t" }, { region: "us-east-1", service: "kms-xks-proxy", time });
  const signed: SignableRequest = { ...request, headers: [...request.headers, ["X-Amz-Date", added["x-amz-date"]], ["Authorization", added.authorization]] };
  const options = { region: "us-east-1", service: "kms-xks-proxy", now: time, maxSkewMs: 300_000, secretsOf: (id: string) => (id === "AKIAXKS1" ? ["s3cr3t"] : []) };
  assert.deepEqual(verifyRequest(signed, options), { ok: true, accessKeyId: "AKIAXKS1" });
  assert.deepEqual(verifyRequest({ ...signed, body: Buffer.from(body.toString().replace("Encrypt", "Decrypt")) }, options), { ok: false, failure: "signature-mismatch" });
});
