// SigV4 on the XKS API: the service name kms-xks-proxy, the configured region, a body changed
// after signing, a clock skewed beyond ±5 minutes, unknown and unsigned requests; two credential
// pairs at once per prefix; prefix isolation; credential rotation through the admin API without
// a restart, kept across one (sealed by the HSM, not readable in the file).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { createSilentLogger } from "@keyhold/server-kit";
import { createXkiProxyApp } from "../app.ts";
import { sendXksRequest, startXkiProxyForTests, type TestXkiProxy, type XksAnswer } from "../test-support.ts";
import { encryptBody, healthBody, metadataBody } from "./support.ts";

let proxy: TestXkiProxy;
before(async () => {
  proxy = await startXkiProxyForTests();
  await proxy.admin.createKey({ externalKeyId: "k1" });
});
after(async () => {
  await proxy.close();
});

function assertAuthFailed(answer: XksAnswer, what: string): void {
  assert.equal(answer.status, 401, `${what}: ${JSON.stringify(answer.body)}`);
  assert.equal(answer.body["errorName"], "AuthenticationFailedException", what);
}

describe("SigV4", () => {
  test("both configured credential pairs of the prefix are accepted at once", async () => {
    for (const credentials of proxy.credentials) {
      assert.equal((await proxy.xks("metadata", "k1", metadataBody, { credentials })).status, 200);
      assert.equal((await proxy.xks("health", undefined, healthBody, { credentials })).status, 200);
    }
  });

  test("wrong service, wrong region, unknown key id, wrong secret and unsigned are AuthenticationFailedException 401", async () => {
    assertAuthFailed(await proxy.xks("metadata", "k1", metadataBody, { service: "kms" }), "service kms");
    assertAuthFailed(await proxy.xks("metadata", "k1", metadataBody, { region: "eu-west-1" }), "region");
    assertAuthFailed(await proxy.xks("metadata", "k1", metadataBody, { credentials: { accessKeyId: "AKIDUNKNOWN0000", secretAccessKey: proxy.credentials[0].secretAccessKey } }), "unknown key id");
    assertAuthFailed(await proxy.xks("metadata", "k1", metadataBody, { credentials: { accessKeyId: proxy.credentials[0].accessKeyId, secretAccessKey: proxy.credentials[1].secretAccessKey } }), "other secret");
    assertAuthFailed(await proxy.xks("metadata", "k1", metadataBody, { unsigned: true }), "unsigned");
    assertAuthFailed(await proxy.xks("health", undefined, healthBody, { unsigned: true }), "unsigned health");
  });

  test("a body changed after signing is refused, even by one byte", async () => {
    const tamper = (body: Buffer) => Buffer.from(body.toString("utf8").replace("Alice", "Alicf"));
    assertAuthFailed(await proxy.xks("encrypt", "k1", encryptBody(Buffer.from("x")), { tamper }), "tampered body");
  });

  test("the clock: 4 minutes off either way is accepted, 6 minutes off is refused", async () => {
    const now = Date.now();
    for (const offset of [-4, 4]) assert.equal((await proxy.xks("metadata", "k1", metadataBody, { time: new Date(now + offset * 60_000) })).status, 200, `${offset} min`);
    for (const offset of [-6, 6]) assertAuthFailed(await proxy.xks("metadata", "k1", metadataBody, { time: new Date(now + offset * 60_000) }), `${offset} min`);
  });

  test("a signature made for another path is refused (the path is signed)", async () => {
    const path = `/${proxy.prefix}/kms/xks/v1/keys/k1/metadata`;
    const other = `/${proxy.prefix}/kms/xks/v1/keys/k2/metadata`;
    // Signed for `other`, sent to `path`: the canonical request differs.
    const signedForOther = await signedFor(other, path);
    assertAuthFailed(signedForOther, "path swapped");
  });
});

/** A request signed for `signedPath` but sent to `sentPath`. */
async function signedFor(signedPath: string, sentPath: string): Promise<XksAnswer> {
  const { signRequest } = await import("@keyhold/sigv4");
  const { request } = await import("node:http");
  const url = new URL(proxy.endpoint);
  const body = Buffer.from(JSON.stringify(metadataBody));
  const headers: Record<string, string> = { host: url.host, "content-type": "application/json" };
  const signed = signRequest({ method: "POST", path: signedPath, query: "", headers: Object.entries(headers), body }, proxy.credentials[0], { region: proxy.region, service: "kms-xks-proxy", time: new Date() });
  return new Promise((resolve, reject) => {
    request({ host: url.hostname, port: url.port, path: sentPath, method: "POST", headers: { ...headers, ...signed } }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (c: Buffer) => chunks.push(c));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>, headers: response.headers }));
    })
      .on("error", reject)
      .end(body);
  });
}

describe("prefixes and rotation", () => {
  test("credentials of one prefix are refused under another; an unserved prefix is InvalidUriPathException", async () => {
    const added = await proxy.admin.addCredential({ prefix: "tenant-b" });
    const tenantB = { accessKeyId: added.credential?.accessKeyId ?? "", secretAccessKey: added.secretAccessKey };
    assert.match(tenantB.accessKeyId, /^AKXKI/);
    assert.ok(tenantB.secretAccessKey.length >= 32);
    assert.equal((await proxy.xks("metadata", "k1", metadataBody, { prefix: "tenant-b", credentials: tenantB })).status, 200);
    assertAuthFailed(await proxy.xks("metadata", "k1", metadataBody, { prefix: "tenant-b", credentials: proxy.credentials[0] }), "tenant-a's key on tenant-b");
    assertAuthFailed(await proxy.xks("metadata", "k1", metadataBody, { prefix: "tenant-a", credentials: tenantB }), "tenant-b's key on tenant-a");
    const unserved = await proxy.xks("health", undefined, healthBody, { prefix: "tenant-c" });
    assert.equal(unserved.status, 404);
    assert.equal(unserved.body["errorName"], "InvalidUriPathException");
  });

  test("rotation: a credential added through the admin API works at once beside the old ones, and a removed one fails at once", async () => {
    const secret = "rotated-secret-access-key-abcdefghijklmnop";
    await proxy.admin.addCredential({ prefix: proxy.prefix, accessKeyId: "AKIDROTATED0001", secretAccessKey: secret });
    const rotated = { accessKeyId: "AKIDROTATED0001", secretAccessKey: secret };
    assert.equal((await proxy.xks("metadata", "k1", metadataBody, { credentials: rotated })).status, 200);
    assert.equal((await proxy.xks("metadata", "k1", metadataBody, { credentials: proxy.credentials[0] })).status, 200);
    const listed = await proxy.admin.listCredentials({ prefix: proxy.prefix });
    assert.deepEqual(listed.credentials.map((c) => c.accessKeyId).sort(), ["AKIDROTATED0001", "AKIDXKITEST000001", "AKIDXKITEST000002"]);
    assert.ok(!JSON.stringify(listed, (_, v: unknown) => (typeof v === "bigint" ? String(v) : v)).includes(secret), "the list never shows a secret");
    await proxy.admin.removeCredential({ prefix: proxy.prefix, accessKeyId: "AKIDROTATED0001" });
    assertAuthFailed(await proxy.xks("metadata", "k1", metadataBody, { credentials: rotated }), "removed");
    // Configuration-file credentials are changed in the file, not here.
    const refused = await proxy.admin.removeCredential({ prefix: proxy.prefix, accessKeyId: "AKIDXKITEST000001" }).catch((e: unknown) => ConnectError.from(e));
    assert.ok(refused instanceof ConnectError);
    assert.equal(refused.code, Code.FailedPrecondition);
  });

  test("admin-added credentials survive a restart, stored sealed (the secret is not in the file)", async () => {
    const secret = "persisted-secret-access-key-0123456789abc";
    await proxy.admin.addCredential({ prefix: "tenant-p", accessKeyId: "AKIDPERSIST0001", secretAccessKey: secret });
    const config = proxy.app.context.config;
    const file = readFileSync(join(config.dataDir, "credentials.json"), "utf8");
    assert.ok(file.includes("AKIDPERSIST0001"));
    assert.ok(!file.includes(secret) && !file.includes(Buffer.from(secret).toString("base64")));
    await proxy.app.stop();
    const again = createXkiProxyApp(config, createSilentLogger());
    const { xksPort } = await again.start();
    try {
      const answer = await sendXksRequest(`http://127.0.0.1:${xksPort}`, "/tenant-p/kms/xks/v1/health", healthBody, { accessKeyId: "AKIDPERSIST0001", secretAccessKey: secret }, { region: proxy.region });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
    } finally {
      await again.stop();
    }
  });
});
