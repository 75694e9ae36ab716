// The keyhold.xki.v1 admin API over real gRPC (HTTP/2 on loopback) on a real SoftHSMv2 token:
// the admin token (missing, wrong), every bad field as INVALID_ARGUMENT naming it with one
// ErrorInfo, unknown keys and credentials, duplicates, paging, and the key's guarded attributes.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ErrorInfoSchema, XkiAdminService, XkiKeyStatus } from "@keyhold/proto";
import { startXkiProxyForTests, type TestXkiProxy } from "../test-support.ts";

let proxy: TestXkiProxy;
before(async () => {
  proxy = await startXkiProxyForTests();
});
after(async () => {
  await proxy.close();
});

async function refusal(call: Promise<unknown>): Promise<{ code: Code; reason: string; field: string | undefined; message: string }> {
  const error = await call.then(
    () => assert.fail("expected a refusal"),
    (e: unknown) => ConnectError.from(e),
  );
  const infos = error.findDetails(ErrorInfoSchema);
  assert.equal(infos.length, 1, `one ErrorInfo (${error.code}: ${error.rawMessage})`);
  assert.equal(infos[0]?.domain, "keyhold.dev");
  return { code: error.code, reason: infos[0]?.reason ?? "", field: infos[0]?.metadata["field"], message: error.rawMessage };
}

describe("authentication", () => {
  test("no token or a wrong token is UNAUTHENTICATED on every method, before input is looked at", async () => {
    const wrong: Interceptor = (next) => (req) => {
      req.header.set("authorization", `Bearer ${proxy.adminToken}x`);
      return next(req);
    };
    const wrongClient = createClient(XkiAdminService, createGrpcTransport({ baseUrl: proxy.adminEndpoint, interceptors: [wrong] }));
    for (const client of [proxy.anonymousAdmin, wrongClient]) {
      for (const call of [
        client.createKey({ externalKeyId: "bad id" }),
        client.listKeys({}),
        client.enableKey({ externalKeyId: "k" }),
        client.disableKey({ externalKeyId: "k" }),
        client.addCredential({ prefix: "p" }),
        client.listCredentials({}),
        client.removeCredential({ prefix: "p", accessKeyId: "AKID0000" }),
      ]) {
        const r = await refusal(call);
        assert.equal(r.code, Code.Unauthenticated);
        assert.equal(r.reason, "UNAUTHENTICATED");
      }
    }
  });
});

describe("keys", () => {
  test("CreateKey makes an enabled AES-256 key that is sensitive and never extractable; a second one of the id is ALREADY_EXISTS", async () => {
    const created = await proxy.admin.createKey({ externalKeyId: "key-a" });
    assert.equal(created.key?.externalKeyId, "key-a");
    assert.equal(created.key?.keySpec, "AES_256");
    assert.deepEqual(created.key?.keyUsage, ["ENCRYPT", "DECRYPT"]);
    assert.equal(created.key?.status, XkiKeyStatus.ENABLED);
    const objects = proxy.token.listObjects();
    const entry = objects.split(/\n(?=Secret Key Object)/).find((o) => o.includes("label:      key-a"));
    assert.ok(entry !== undefined, objects);
    assert.match(entry, /AES length 32/);
    assert.match(entry, /Access:\s+.*sensitive/);
    assert.match(entry, /never extractable/);
    const again = await refusal(proxy.admin.createKey({ externalKeyId: "key-a" }));
    assert.equal(again.code, Code.AlreadyExists);
  });

  test("ListKeys pages by external key id; the proxy's own keys are not listed", async () => {
    for (const id of ["key-b", "key-c", "key-d"]) await proxy.admin.createKey({ externalKeyId: id });
    const first = await proxy.admin.listKeys({ pageSize: 2 });
    assert.deepEqual(first.keys.map((k) => k.externalKeyId), ["key-a", "key-b"]);
    const second = await proxy.admin.listKeys({ pageSize: 2, pageToken: first.nextPageToken });
    assert.deepEqual(second.keys.map((k) => k.externalKeyId), ["key-c", "key-d"]);
    assert.equal(second.nextPageToken, "");
  });

  test("DisableKey and EnableKey report the status; unknown keys are NOT_FOUND KEY_NOT_FOUND", async () => {
    assert.equal((await proxy.admin.disableKey({ externalKeyId: "key-b" })).key?.status, XkiKeyStatus.DISABLED);
    assert.equal((await proxy.admin.listKeys({})).keys.find((k) => k.externalKeyId === "key-b")?.status, XkiKeyStatus.DISABLED);
    assert.equal((await proxy.admin.enableKey({ externalKeyId: "key-b" })).key?.status, XkiKeyStatus.ENABLED);
    for (const call of [proxy.admin.enableKey({ externalKeyId: "nope" }), proxy.admin.disableKey({ externalKeyId: "nope" })]) {
      const r = await refusal(call);
      assert.equal(r.code, Code.NotFound);
      assert.equal(r.reason, "KEY_NOT_FOUND");
    }
  });
});

describe("bad input", () => {
  test("every bad field is INVALID_ARGUMENT naming it", async () => {
    const cases: [string, Promise<unknown>][] = [
      ["external_key_id", proxy.admin.createKey({ externalKeyId: "" })],
      ["external_key_id", proxy.admin.createKey({ externalKeyId: "bad id" })],
      ["external_key_id", proxy.admin.createKey({ externalKeyId: "k".repeat(129) })],
      ["external_key_id", proxy.admin.createKey({ externalKeyId: "xki-proxy-health-check" })],
      ["external_key_id", proxy.admin.enableKey({ externalKeyId: "a/b" })],
      ["external_key_id", proxy.admin.disableKey({ externalKeyId: "" })],
      ["page_size", proxy.admin.listKeys({ pageSize: 1001 })],
      ["page_size", proxy.admin.listKeys({ pageSize: -1 })],
      ["page_token", proxy.admin.listKeys({ pageToken: "garbage" })],
      ["prefix", proxy.admin.addCredential({ prefix: "bad prefix!" })],
      ["access_key_id", proxy.admin.addCredential({ prefix: "p", accessKeyId: "a b" })],
      ["access_key_id", proxy.admin.addCredential({ prefix: "p", accessKeyId: "abc" })],
      ["secret_access_key", proxy.admin.addCredential({ prefix: "p", secretAccessKey: "short" })],
      ["secret_access_key", proxy.admin.addCredential({ prefix: "p", secretAccessKey: `${"x".repeat(40)} space` })],
      ["prefix", proxy.admin.listCredentials({ prefix: "bad prefix!" })],
      ["prefix", proxy.admin.removeCredential({ prefix: "bad prefix!", accessKeyId: "AKID0000" })],
      ["access_key_id", proxy.admin.removeCredential({ prefix: "p", accessKeyId: "" })],
    ];
    for (const [field, call] of cases) {
      const r = await refusal(call);
      assert.equal(r.code, Code.InvalidArgument, field);
      assert.equal(r.reason, "INVALID_ARGUMENT", field);
      assert.equal(r.field, field);
      assert.match(r.message, new RegExp(field));
      assert.doesNotMatch(r.message, /xxxxxxxx/, "the secret is not echoed");
    }
  });

  test("credentials: a duplicate access key id is ALREADY_EXISTS, an unknown one NOT_FOUND", async () => {
    await proxy.admin.addCredential({ prefix: "p", accessKeyId: "AKIDDUP00001" });
    const dup = await refusal(proxy.admin.addCredential({ prefix: "p", accessKeyId: "AKIDDUP00001" }));
    assert.equal(dup.code, Code.AlreadyExists);
    const missing = await refusal(proxy.admin.removeCredential({ prefix: "p", accessKeyId: "AKIDNONE0001" }));
    assert.equal(missing.code, Code.NotFound);
    // The same access key id under another prefix is another credential.
    await proxy.admin.addCredential({ prefix: "q", accessKeyId: "AKIDDUP00001" });
  });
});
