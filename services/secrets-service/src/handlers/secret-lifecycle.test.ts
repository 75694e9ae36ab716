// The secret API through the real handler stack (authentication, authorization by policy-service,
// envelope encryption by key-service): values, versions, labels, idempotency, lists, tags.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { SecretType } from "@keyhold/proto";
import { invalid, refusal, startTestSecretsService, type TestSecretsService } from "../test-support.ts";

const V1 = "11111111-1111-4111-8111-111111111111";
const V2 = "22222222-2222-4222-8222-222222222222";
const V3 = "33333333-3333-4333-8333-333333333333";

describe("secrets: values, versions and labels", () => {
  let t: TestSecretsService;
  before(async () => {
    t = await startTestSecretsService();
  });
  after(async () => {
    await t.close();
  });

  test("create, read by label and by version id, PREVIOUS follows CURRENT", async () => {
    const { secrets } = t.admin;
    const created = await secrets.createSecret({ name: "app/db", secretString: "first", versionId: V1, tags: [{ key: "team", value: "a" }] });
    assert.equal(created.krn, "krn:keyhold:secrets:test-1:000000000001:secret/app/db");
    assert.equal(created.versionId, V1);
    const current = await secrets.getSecretValue({ secretId: "app/db" });
    assert.equal(current.secretString, "first");
    assert.deepEqual(current.versionStages, ["CURRENT"]);
    await secrets.putSecretValue({ secretId: created.krn, versionId: V2, secretString: "second" });
    assert.equal((await secrets.getSecretValue({ secretId: "app/db", versionStage: "AWSCURRENT" })).secretString, "second");
    assert.equal((await secrets.getSecretValue({ secretId: "app/db", versionStage: "ACSPrevious" })).secretString, "first");
    assert.equal((await secrets.getSecretValue({ secretId: "app/db", versionId: V1 })).secretString, "first");
    const pending = await secrets.putSecretValue({ secretId: "app/db", versionId: V3, secretBinary: new Uint8Array([1, 2, 3]), versionStages: ["AWSPENDING"] });
    assert.deepEqual(pending.versionStages, ["PENDING"]);
    assert.deepEqual((await secrets.getSecretValue({ secretId: "app/db", versionStage: "PENDING" })).secretBinary, new Uint8Array([1, 2, 3]));
    assert.equal((await secrets.getSecretValue({ secretId: "app/db" })).secretString, "second", "a labelled put leaves CURRENT");
    const described = (await secrets.describeSecret({ secretId: "app/db" })).metadata!;
    assert.deepEqual(described.versions.map((v) => [v.versionId, v.versionStages]), [[V1, ["PREVIOUS"]], [V2, ["CURRENT"]], [V3, ["PENDING"]]]);
    assert.match(described.kmsKeyId, /^krn:keyhold:kms:test-1:000000000001:key\//, "the account's default key");
    assert.deepEqual(described.tags.map((x) => [x.key, x.value]), [["team", "a"]]);
  });

  test("idempotency: same version id and value is a no-op; another value is ALREADY_EXISTS", async () => {
    const { secrets } = t.admin;
    await secrets.createSecret({ name: "idem", secretString: "v", versionId: V1 });
    const again = await secrets.createSecret({ name: "idem", secretString: "v", versionId: V1 });
    assert.equal(again.versionId, V1, "CreateSecret replayed");
    assert.deepEqual(await refusal(secrets.createSecret({ name: "idem", secretString: "other", versionId: V1 })), { code: Code.AlreadyExists, reason: "ALREADY_EXISTS", field: "name" });
    assert.deepEqual(await refusal(secrets.createSecret({ name: "idem", secretString: "v", versionId: V3 })), { code: Code.AlreadyExists, reason: "ALREADY_EXISTS", field: "name" });
    assert.deepEqual(await refusal(secrets.createSecret({ name: "idem", secretString: "v" })), { code: Code.AlreadyExists, reason: "ALREADY_EXISTS", field: "name" });
    assert.equal((await secrets.listSecretVersionIds({ secretId: "idem", includeDeprecated: true })).versions.length, 1, "a refused CreateSecret adds no version");
    await secrets.putSecretValue({ secretId: "idem", versionId: V2, secretString: "two" });
    await secrets.putSecretValue({ secretId: "idem", versionId: V2, secretString: "two" });
    assert.deepEqual(await refusal(secrets.putSecretValue({ secretId: "idem", versionId: V2, secretString: "TWO" })), {
      code: Code.AlreadyExists,
      reason: "ALREADY_EXISTS",
      field: "version_id",
    });
    const versions = await secrets.listSecretVersionIds({ secretId: "idem", includeDeprecated: true });
    assert.deepEqual(versions.versions.map((v) => v.versionId), [V2, V1]);
  });

  test("UpdateSecretVersionStage: custom labels are added, moved and removed; built-in ones only moved", async () => {
    const { secrets } = t.admin;
    await secrets.createSecret({ name: "staged", secretString: "1", versionId: V1 });
    await secrets.putSecretValue({ secretId: "staged", versionId: V2, secretString: "2" });
    await secrets.updateSecretVersionStage({ secretId: "staged", versionStage: "blue", moveToVersionId: V1 });
    assert.equal((await secrets.getSecretValue({ secretId: "staged", versionStage: "blue" })).secretString, "1");
    await secrets.updateSecretVersionStage({ secretId: "staged", versionStage: "blue", moveToVersionId: V2, removeFromVersionId: V1 });
    assert.equal((await secrets.getSecretValue({ secretId: "staged", versionStage: "blue" })).secretString, "2");
    await secrets.updateSecretVersionStage({ secretId: "staged", versionStage: "blue", removeFromVersionId: V2 });
    assert.equal((await refusal(secrets.getSecretValue({ secretId: "staged", versionStage: "blue" }))).reason, "SECRET_VERSION_NOT_FOUND");
    assert.deepEqual(await refusal(secrets.updateSecretVersionStage({ secretId: "staged", versionStage: "CURRENT", removeFromVersionId: V2 })), invalid("move_to_version_id"));
    // Rolling back: CURRENT moves to V1, PREVIOUS to V2.
    await secrets.updateSecretVersionStage({ secretId: "staged", versionStage: "ACSCurrent", moveToVersionId: V1, removeFromVersionId: V2 });
    assert.equal((await secrets.getSecretValue({ secretId: "staged" })).secretString, "1");
    assert.equal((await secrets.getSecretValue({ secretId: "staged", versionStage: "PREVIOUS" })).secretString, "2");
  });

  test("UpdateSecret, BatchGetSecretValue, ListSecrets with filters and paging, tags", async () => {
    const { secrets } = t.admin;
    for (const name of ["list/a", "list/b", "list/c"]) await secrets.createSecret({ name, secretString: `value of ${name}`, tags: [{ key: "env", value: name === "list/b" ? "prod" : "dev" }] });
    await secrets.updateSecret({ secretId: "list/a", description: "described", secretString: "new a" });
    const a = await secrets.describeSecret({ secretId: "list/a" });
    assert.equal(a.metadata!.description, "described");
    const batch = await secrets.batchGetSecretValue({ secretIds: ["list/a", "list/b", "missing"] });
    assert.deepEqual(batch.secretValues.map((v) => [v.name, v.secretString]), [["list/a", "new a"], ["list/b", "value of list/b"]]);
    assert.deepEqual(batch.errors.map((e) => [e.secretId, e.reason]), [["missing", "SECRET_NOT_FOUND"]]);
    const first = await secrets.listSecrets({ namePrefix: "list/", pageSize: 2 });
    assert.deepEqual(first.secrets.map((s) => s.name), ["list/a", "list/b"]);
    const second = await secrets.listSecrets({ namePrefix: "list/", pageSize: 2, pageToken: first.nextPageToken });
    assert.deepEqual(second.secrets.map((s) => s.name), ["list/c"]);
    assert.equal(second.nextPageToken, "");
    assert.deepEqual((await secrets.listSecrets({ tagKey: "env", tagValue: "prod" })).secrets.map((s) => s.name), ["list/b"]);
    await secrets.tagResource({ secretId: "list/c", tags: [{ key: "env", value: "prod" }, { key: "owner", value: "x" }] });
    await secrets.untagResource({ secretId: "list/c", tagKeys: ["owner"] });
    assert.deepEqual((await secrets.listSecrets({ tagKey: "env", tagValue: "prod" })).secrets.map((s) => s.name), ["list/b", "list/c"]);
    assert.deepEqual((await secrets.describeSecret({ secretId: "list/c" })).metadata!.tags.map((x) => x.key), ["env"]);
  });

  test("GetRandomPassword honours the character rules", async () => {
    const { secrets } = t.admin;
    const password = (await secrets.getRandomPassword({ passwordLength: 64, excludePunctuation: true, excludeCharacters: "aA0" })).randomPassword;
    assert.equal(password.length, 64);
    assert.match(password, /^[b-zB-Z1-9]+$/);
    assert.match(password, /[b-z]/);
    assert.match(password, /[B-Z]/);
    assert.match(password, /[1-9]/);
    assert.equal((await secrets.getRandomPassword({})).randomPassword.length, 32);
    assert.deepEqual(await refusal(secrets.getRandomPassword({ passwordLength: 5000 })), invalid("password_length"));
  });

  test("versions beyond the limit: the oldest without a label go", async () => {
    const small = await startTestSecretsService({}, { KEYHOLD_SECRETS_MAX_VERSIONS: "3" });
    try {
      const { secrets } = small.admin;
      await secrets.createSecret({ name: "pruned", secretString: "v0" });
      await secrets.putSecretValue({ secretId: "pruned", secretString: "custom", versionStages: ["keep"] });
      for (const value of ["v1", "v2", "v3", "v4"]) await secrets.putSecretValue({ secretId: "pruned", secretString: value });
      const versions = (await secrets.listSecretVersionIds({ secretId: "pruned", includeDeprecated: true })).versions;
      assert.deepEqual(versions.map((v) => v.versionStages), [["CURRENT"], ["PREVIOUS"], ["keep"]], "labelled versions stay, unlabelled old ones go");
      assert.equal((await secrets.getSecretValue({ secretId: "pruned", versionStage: "keep" })).secretString, "custom");
    } finally {
      await small.close();
    }
  });

  test("bad input names the field", async () => {
    const { secrets } = t.admin;
    assert.deepEqual(await refusal(secrets.createSecret({ name: "" })), invalid("name"));
    assert.deepEqual(await refusal(secrets.createSecret({ name: "bad name" })), invalid("name"));
    assert.deepEqual(await refusal(secrets.createSecret({ name: "ok", versionId: "short", secretString: "x" })), invalid("version_id"));
    assert.deepEqual(await refusal(secrets.createSecret({ name: "ok", secretString: "x", secretBinary: new Uint8Array([1]) })), invalid("secret_binary"));
    assert.deepEqual(await refusal(secrets.createSecret({ name: "ok", secretString: "x".repeat(65_537) })), invalid("secret_string"));
    assert.deepEqual(await refusal(secrets.createSecret({ name: "ok", tags: [{ key: "keyhold:x", value: "" }] })), invalid("tags[0].key"));
    assert.deepEqual(await refusal(secrets.getSecretValue({ secretId: "" })), invalid("secret_id"));
    assert.deepEqual(await refusal(secrets.getSecretValue({ secretId: "krn:keyhold:secrets:x" })), invalid("secret_id"));
    assert.deepEqual(await refusal(secrets.putSecretValue({ secretId: "app/db" })), invalid("secret_string"));
    assert.deepEqual(await refusal(secrets.putSecretValue({ secretId: "app/db", secretString: "x", versionStages: ["has space"] })), invalid("version_stages[0]"));
    assert.deepEqual(await refusal(secrets.getSecretValue({ secretId: "nope" })), { code: Code.NotFound, reason: "SECRET_NOT_FOUND", field: "secret_id" });
    assert.deepEqual(await refusal(secrets.listSecrets({ pageToken: "garbage" })), invalid("page_token"));
    assert.deepEqual(await refusal(secrets.batchGetSecretValue({})), invalid("secret_ids"));
    assert.deepEqual(
      await refusal(secrets.createSecret({ name: "api", secretType: SecretType.KEYHOLD_API_KEY, apiKeyPrincipalKrn: "krn:keyhold:iam::000000000001:user/x", secretString: "plain" })),
      invalid("secret_string"),
    );
  });
});
