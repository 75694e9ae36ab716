import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { toJsonString } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { ApiKeyStatus, ListApiKeysResponseSchema } from "@keyhold/proto";
import { secretDigest } from "../domain/credentials.ts";
import { ACCOUNT, assertDenied, invalid, notFound, OTHER_ACCOUNT, refusal, START, startTestPolicyService, type TestPolicyService, type TestUser } from "../test-support.ts";

describe("CreateApiKey", () => {
  let service: TestPolicyService;
  let admin: TestUser;
  before(async () => {
    service = await startTestPolicyService();
    admin = await service.user(ACCOUNT, "admin", ["AdministratorAccess"]);
  });
  after(() => service.close());

  test("creates a key for a user: the secret is shown once, stored as its SHA-256, and authenticates as the user", async () => {
    await admin.clients.iam.createUser({ userName: "app" });
    const appKrn = `krn:keyhold:iam::${ACCOUNT}:user/app`;
    const { apiKey, secret } = await admin.clients.iam.createApiKey({ principalKrn: appKrn, description: "ci" });
    assert.match(apiKey!.apiKeyId, /^[0-9a-f]{16}$/);
    assert.match(secret, new RegExp(`^khk_${apiKey!.apiKeyId}_[A-Za-z0-9_-]{43}$`));
    assert.equal(apiKey!.principalKrn, appKrn);
    assert.equal(apiKey!.description, "ci");
    assert.equal(apiKey!.status, ApiKeyStatus.ACTIVE);
    assert.deepEqual(timestampDate(apiKey!.creationDate!), START);
    assert.equal(apiKey!.lastUsedDate, undefined);
    const stored = (await service.app.context.store.getApiKey(apiKey!.apiKeyId))!;
    assert.deepEqual(stored.secretHash, secretDigest(secret.slice(4 + 16 + 1)));
    assert.equal((await service.as(secret).sts.getCallerIdentity({})).principalKrn, appKrn);
    const listed = await admin.clients.iam.listApiKeys({ principalKrn: appKrn });
    assert.equal(listed.apiKeys.length, 1);
    assert.deepEqual(timestampDate(listed.apiKeys[0]!.lastUsedDate!), START, "the use was recorded");
    assert.ok(!toJsonString(ListApiKeysResponseSchema, listed).includes(secret.slice(21)));
  });

  test("an empty principal_krn means the caller; the account root may hold keys", async () => {
    const mine = await admin.clients.iam.createApiKey({});
    assert.equal(mine.apiKey!.principalKrn, admin.krn);
    const root = await service.root(ACCOUNT);
    const rootKey = await root.clients.iam.createApiKey({});
    assert.equal(rootKey.apiKey!.principalKrn, `krn:keyhold:iam::${ACCOUNT}:root`);
    assert.equal((await service.as(rootKey.secret).sts.getCallerIdentity({})).principalKrn, `krn:keyhold:iam::${ACCOUNT}:root`);
  });

  test("validation: roles hold no keys, krns must be well-formed, descriptions are bounded", async () => {
    assert.deepEqual(await refusal(admin.clients.iam.createApiKey({ principalKrn: `krn:keyhold:iam::${ACCOUNT}:role/r` })), invalid("principal_krn"));
    assert.deepEqual(await refusal(admin.clients.iam.createApiKey({ principalKrn: "user/x" })), invalid("principal_krn"));
    assert.deepEqual(await refusal(admin.clients.iam.createApiKey({ description: "d".repeat(1001) })), invalid("description"));
    assert.deepEqual(await refusal(admin.clients.iam.createApiKey({ description: "bell\u0007" })), invalid("description"));
  });

  test("a missing user, or a user of another account, is PRINCIPAL_NOT_FOUND and stores nothing", async () => {
    const before = await service.app.context.store.currentSequence();
    assert.deepEqual(await refusal(admin.clients.iam.createApiKey({ principalKrn: `krn:keyhold:iam::${ACCOUNT}:user/ghost` })), notFound("PRINCIPAL_NOT_FOUND", "principal_krn"));
    const bob = await service.user(OTHER_ACCOUNT, "bob");
    const afterBob = await service.app.context.store.currentSequence();
    assert.deepEqual(await refusal(admin.clients.iam.createApiKey({ principalKrn: bob.krn })), notFound("PRINCIPAL_NOT_FOUND", "principal_krn"));
    assert.deepEqual(await refusal(admin.clients.iam.createApiKey({ principalKrn: `krn:keyhold:iam::${OTHER_ACCOUNT}:root` })), notFound("PRINCIPAL_NOT_FOUND", "principal_krn"));
    assert.ok(afterBob > before);
    assert.equal(await service.app.context.store.currentSequence(), afterBob);
  });

  test("needs iam:CreateApiKey on the owner: a user without policies cannot even make its own", async () => {
    const nobody = await service.user(ACCOUNT, "nobody");
    await assertDenied(nobody.clients.iam.createApiKey({}), "iam:CreateApiKey", nobody.krn);
    const keyUser = await service.user(ACCOUNT, "keyuser", ["KeyUser"]);
    await assertDenied(keyUser.clients.iam.createApiKey({ principalKrn: admin.krn }), "iam:CreateApiKey", admin.krn);
  });

  test("an assumed-role session must name the owner", async () => {
    await admin.clients.iam.createRole({
      roleName: "ops",
      trustPolicy: JSON.stringify({ Version: "2012-10-17", Statement: { Effect: "Allow", Principal: { KRN: admin.krn }, Action: "sts:AssumeRole" } }),
    });
    await admin.clients.iam.attachPolicy({ principalKrn: `krn:keyhold:iam::${ACCOUNT}:role/ops`, policyKrn: "krn:keyhold:iam::keyhold:policy/AdministratorAccess" });
    const session = (await admin.clients.sts.assumeRole({ roleKrn: `krn:keyhold:iam::${ACCOUNT}:role/ops`, roleSessionName: "s1" })).sessionToken;
    assert.deepEqual(await refusal(service.as(session).iam.createApiKey({})), invalid("principal_krn"));
    assert.equal((await service.as(session).iam.createApiKey({ principalKrn: admin.krn })).apiKey!.principalKrn, admin.krn);
  });
});
