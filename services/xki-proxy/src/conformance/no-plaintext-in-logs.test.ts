// No plaintext, AAD or secret reaches any log line: every request of a busy session (successes,
// tampered ciphertexts, validation errors, slow-free health) is logged at debug level into a
// buffer, together with everything the process writes to stdout and stderr, and searched for
// the plaintexts and AADs in raw, Base64 and hex form, and for the SigV4 secrets.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createJsonLogger } from "@keyhold/server-kit";
import { startXkiProxyForTests, type TestXkiProxy } from "../test-support.ts";
import { decryptBody, encryptBody, healthBody, metadataBody } from "./support.ts";

const lines: string[] = [];
let proxy: TestXkiProxy;
const captured: string[] = [];
const restore: (() => void)[] = [];

before(async () => {
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      captured.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
      return (write as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
    });
    restore.push(() => {
      stream.write = write;
    });
  }
  proxy = await startXkiProxyForTests({ logger: createJsonLogger({ level: "debug", write: (line) => lines.push(line) }) });
  await proxy.admin.createKey({ externalKeyId: "k1" });
});
after(async () => {
  for (const undo of restore) undo();
  await proxy.close();
});

test("no plaintext, AAD or SigV4 secret appears in any log line or process output", async () => {
  const plaintext = Buffer.from("PLAINTEXT-SENTINEL-7c1f9e2a-do-not-log");
  const aad = Buffer.from("AAD-SENTINEL-4b8d03e6-do-not-log");
  const sealed = await proxy.xks("encrypt", "k1", encryptBody(plaintext, aad, true));
  assert.equal(sealed.status, 200);
  assert.equal((await proxy.xks("decrypt", "k1", decryptBody(sealed.body, aad))).status, 200);
  // Failures log too: a tampered tag, a wrong AAD, a disabled key, a bad field, an unknown key.
  const tag = Buffer.from(sealed.body["authenticationTag"] as string, "base64");
  tag[0] = (tag[0] ?? 0) ^ 1;
  assert.equal((await proxy.xks("decrypt", "k1", { ...decryptBody(sealed.body, aad), authenticationTag: tag.toString("base64") })).status, 400);
  assert.equal((await proxy.xks("decrypt", "k1", decryptBody(sealed.body, plaintext))).status, 400);
  assert.equal((await proxy.xks("encrypt", "k1", { ...encryptBody(plaintext, aad), encryptionAlgorithm: "AES_CBC" })).status, 501);
  assert.equal((await proxy.xks("encrypt", "nope", encryptBody(plaintext, aad))).status, 404);
  assert.equal((await proxy.xks("encrypt", "k1", encryptBody(plaintext, aad), { tamper: (b) => Buffer.from(b.toString().replace("AES_GCM", "AES_GCN")) })).status, 401);
  await proxy.admin.disableKey({ externalKeyId: "k1" });
  assert.equal((await proxy.xks("encrypt", "k1", encryptBody(plaintext, aad))).status, 400);
  assert.equal((await proxy.xks("metadata", "k1", metadataBody)).status, 200);
  assert.equal((await proxy.xks("health", undefined, healthBody)).status, 200);
  const added = await proxy.admin.addCredential({ prefix: "tenant-z" });

  const everything = [...lines, ...captured].join("\n");
  assert.ok(lines.length >= 10, "the requests were logged");
  assert.ok(lines.some((l) => l.includes("4112f4d6-db54-4af4-ae30-c55a22a8dfae")), "kmsRequestId is logged");
  const forbidden = [plaintext, aad].flatMap((b) => [b.toString("utf8"), b.toString("base64"), b.toString("hex"), b.toString("base64").slice(4, 24)]);
  forbidden.push(...proxy.credentials.map((c) => c.secretAccessKey), added.secretAccessKey, proxy.adminToken);
  for (const needle of forbidden) assert.ok(!everything.includes(needle), `a log line contains ${needle.slice(0, 12)}…`);
});
