// Access: every call is authorized by policy-service on the secret's krn, and reading a value
// also needs kms:Decrypt on the secret's key for the caller (through secrets-service). A disabled
// key makes reads fail with FAILED_PRECONDITION.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { refusal, startTestSecretsService, type TestSecretsService } from "../test-support.ts";

describe("secret access", () => {
  let t: TestSecretsService;
  before(async () => {
    t = await startTestSecretsService();
  });
  after(async () => {
    await t.close();
  });

  test("a user with secrets:* reads secrets under the default key (its key policy allows use through secrets-service)", async () => {
    await t.admin.secrets.createSecret({ name: "shared/one", secretString: "one" });
    const reader = await t.user("reader", [{ Effect: "Allow", Action: "secrets:*", Resource: "*" }]);
    assert.equal((await reader.clients.secrets.getSecretValue({ secretId: "shared/one" })).secretString, "one");
    assert.equal((await reader.clients.secrets.getSecretValue({ secretId: "shared/one" })).secretString, "one", "again, with the data key cached");
    // The default key is no use to it directly.
    const keyKrn = (await t.admin.secrets.describeSecret({ secretId: "shared/one" })).metadata!.kmsKeyId;
    assert.equal((await refusal(reader.clients.crypto.encrypt({ keyId: keyKrn, plaintext: new Uint8Array([1]) }))).code, Code.PermissionDenied);
  });

  test("a caller that may not decrypt under a customer key cannot read the secret", async () => {
    const key = (await t.admin.keys.createKey({ description: "customer key" })).keyMetadata!;
    await t.admin.secrets.createSecret({ name: "guarded", secretString: "guarded value", kmsKeyId: key.keyId });
    const noKms = await t.user("no-kms", [{ Effect: "Allow", Action: "secrets:*", Resource: "*" }]);
    assert.equal((await refusal(noKms.clients.secrets.getSecretValue({ secretId: "guarded" }))).code, Code.PermissionDenied);
    const withKms = await t.user("with-kms", [
      { Effect: "Allow", Action: "secrets:GetSecretValue", Resource: "krn:keyhold:secrets:*:*:secret/guarded" },
      { Effect: "Allow", Action: "kms:Decrypt", Resource: key.krn },
    ]);
    assert.equal((await withKms.clients.secrets.getSecretValue({ secretId: "guarded" })).secretString, "guarded value");
    assert.equal((await refusal(withKms.clients.secrets.describeSecret({ secretId: "guarded" }))).code, Code.PermissionDenied, "only the allowed action");
    assert.equal((await refusal(withKms.clients.secrets.getSecretValue({ secretId: "shared/one" }))).code, Code.PermissionDenied, "only the allowed secret");
  });

  test("a disabled key makes reads fail with FAILED_PRECONDITION, and enabling it restores them", async () => {
    const key = (await t.admin.keys.createKey({ description: "to disable" })).keyMetadata!;
    await t.admin.secrets.createSecret({ name: "disabled-key", secretString: "v", kmsKeyId: key.krn });
    await t.admin.keys.disableKey({ keyId: key.keyId });
    assert.deepEqual(await refusal(t.admin.secrets.getSecretValue({ secretId: "disabled-key" })), {
      code: Code.FailedPrecondition,
      reason: "KEY_DISABLED",
      field: "secret_id",
    });
    await t.admin.keys.enableKey({ keyId: key.keyId });
    assert.equal((await t.admin.secrets.getSecretValue({ secretId: "disabled-key" })).secretString, "v");
  });

  test("with a cached data key, a removed kms:Decrypt permission applies at once and a disabled key within the cache's TTL", async () => {
    const key = (await t.admin.keys.createKey({ description: "cached" })).keyMetadata!;
    await t.admin.secrets.createSecret({ name: "cached", secretString: "cached value", kmsKeyId: key.keyId });
    const reader = await t.user("cached-reader", [
      { Effect: "Allow", Action: "secrets:GetSecretValue", Resource: "*" },
      { Effect: "Allow", Action: "kms:Decrypt", Resource: key.krn },
    ]);
    assert.equal((await reader.clients.secrets.getSecretValue({ secretId: "cached" })).secretString, "cached value");
    // The data key is cached now: another caller without kms:Decrypt still cannot use it.
    const noKms = await t.user("cached-no-kms", [{ Effect: "Allow", Action: "secrets:GetSecretValue", Resource: "*" }]);
    assert.equal((await refusal(noKms.clients.secrets.getSecretValue({ secretId: "cached" }))).code, Code.PermissionDenied);
    await t.admin.keys.disableKey({ keyId: key.keyId });
    assert.equal((await reader.clients.secrets.getSecretValue({ secretId: "cached" })).secretString, "cached value", "within the TTL");
    t.clock.advance(t.app.context.config.dataKeyCacheMs);
    assert.equal((await refusal(reader.clients.secrets.getSecretValue({ secretId: "cached" }))).reason, "KEY_DISABLED");
    await t.admin.keys.enableKey({ keyId: key.keyId });
  });

  test("a stranger account's secret looks missing", async () => {
    await t.admin.iam.createAccount({ accountId: "000000000009", name: "other" });
    const krn = (await t.admin.secrets.describeSecret({ secretId: "shared/one" })).metadata!.krn;
    const root9 = await t.user("cross-reader", [{ Effect: "Allow", Action: "secrets:*", Resource: "*" }]);
    // A user of account 1 asking for account 9's secret by krn: not found (not authorized there).
    const other = krn.replace(":000000000001:", ":000000000009:");
    assert.deepEqual(await refusal(root9.clients.secrets.getSecretValue({ secretId: other })), { code: Code.NotFound, reason: "SECRET_NOT_FOUND", field: "secret_id" });
  });
});
