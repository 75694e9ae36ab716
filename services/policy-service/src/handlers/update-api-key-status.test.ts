import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ApiKeyStatus } from "@keyhold/proto";
import { ACCOUNT, assertDenied, invalid, notFound, OTHER_ACCOUNT, refusal, startTestPolicyService, UNAUTHENTICATED, type TestPolicyService, type TestUser } from "../test-support.ts";

describe("ListApiKeys / UpdateApiKeyStatus / DeleteApiKey", () => {
  let service: TestPolicyService;
  let admin: TestUser;
  before(async () => {
    service = await startTestPolicyService();
    admin = await service.user(ACCOUNT, "admin", ["AdministratorAccess"]);
  });
  after(() => service.close());

  test("disable refuses the key at once, enable restores it, delete removes it", async () => {
    await admin.clients.iam.createUser({ userName: "svc" });
    const svc = `krn:keyhold:iam::${ACCOUNT}:user/svc`;
    const { apiKey, secret } = await admin.clients.iam.createApiKey({ principalKrn: svc });
    const id = apiKey!.apiKeyId;
    const client = service.as(secret);
    assert.equal((await client.sts.getCallerIdentity({})).principalKrn, svc);
    const disabled = await admin.clients.iam.updateApiKeyStatus({ apiKeyId: id, status: ApiKeyStatus.DISABLED });
    assert.equal(disabled.apiKey!.status, ApiKeyStatus.DISABLED);
    const refused = await refusal(client.sts.getCallerIdentity({}));
    assert.deepEqual(refused, UNAUTHENTICATED);
    await admin.clients.iam.updateApiKeyStatus({ apiKeyId: id, status: ApiKeyStatus.ACTIVE });
    assert.equal((await client.sts.getCallerIdentity({})).principalKrn, svc);
    await admin.clients.iam.deleteApiKey({ apiKeyId: id });
    assert.deepEqual(await refusal(client.sts.getCallerIdentity({})), UNAUTHENTICATED);
    assert.deepEqual(await refusal(admin.clients.iam.deleteApiKey({ apiKeyId: id })), notFound("API_KEY_NOT_FOUND", "api_key_id"));
  });

  test("list pages through a principal's keys", async () => {
    await admin.clients.iam.createUser({ userName: "many" });
    const many = `krn:keyhold:iam::${ACCOUNT}:user/many`;
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) ids.add((await admin.clients.iam.createApiKey({ principalKrn: many })).apiKey!.apiKeyId);
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await admin.clients.iam.listApiKeys({ principalKrn: many, pageSize: 2, pageToken });
      seen.push(...page.apiKeys.map((k) => k.apiKeyId));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    assert.deepEqual(new Set(seen), ids);
    assert.deepEqual(seen, [...seen].sort());
    const other = await admin.clients.iam.listApiKeys({ principalKrn: many, pageSize: 2 });
    assert.deepEqual(await refusal(admin.clients.iam.listApiKeys({ principalKrn: admin.krn, pageToken: other.nextPageToken })), invalid("page_token"));
  });

  test("validation", async () => {
    assert.deepEqual(await refusal(admin.clients.iam.updateApiKeyStatus({ apiKeyId: "", status: ApiKeyStatus.DISABLED })), invalid("api_key_id"));
    assert.deepEqual(await refusal(admin.clients.iam.updateApiKeyStatus({ apiKeyId: "XYZ", status: ApiKeyStatus.DISABLED })), invalid("api_key_id"));
    const { apiKey } = await admin.clients.iam.createApiKey({});
    assert.deepEqual(await refusal(admin.clients.iam.updateApiKeyStatus({ apiKeyId: apiKey!.apiKeyId, status: ApiKeyStatus.UNSPECIFIED })), invalid("status"));
    assert.deepEqual(await refusal(admin.clients.iam.deleteApiKey({ apiKeyId: "0123" })), invalid("api_key_id"));
    assert.deepEqual(await refusal(admin.clients.iam.listApiKeys({ principalKrn: `krn:keyhold:iam::${ACCOUNT}:role/x` })), invalid("principal_krn"));
  });

  test("keys of other accounts look missing; managing another principal's keys needs permission", async () => {
    const bob = await service.user(OTHER_ACCOUNT, "bob", ["AdministratorAccess"]);
    const bobsKey = (await bob.clients.iam.createApiKey({})).apiKey!.apiKeyId;
    assert.deepEqual(await refusal(admin.clients.iam.updateApiKeyStatus({ apiKeyId: bobsKey, status: ApiKeyStatus.DISABLED })), notFound("API_KEY_NOT_FOUND", "api_key_id"));
    assert.deepEqual(await refusal(admin.clients.iam.deleteApiKey({ apiKeyId: bobsKey })), notFound("API_KEY_NOT_FOUND", "api_key_id"));
    assert.deepEqual(await refusal(admin.clients.iam.listApiKeys({ principalKrn: bob.krn })), notFound("PRINCIPAL_NOT_FOUND", "principal_krn"));
    assert.equal((await service.app.context.store.getApiKey(bobsKey))!.status, "active");
    const keyUser = await service.user(ACCOUNT, "keyuser", ["KeyUser"]);
    const adminKey = (await admin.clients.iam.createApiKey({})).apiKey!.apiKeyId;
    await assertDenied(keyUser.clients.iam.updateApiKeyStatus({ apiKeyId: adminKey, status: ApiKeyStatus.DISABLED }), "iam:UpdateApiKeyStatus", admin.krn);
    await assertDenied(keyUser.clients.iam.deleteApiKey({ apiKeyId: adminKey }), "iam:DeleteApiKey", admin.krn);
    await assertDenied(keyUser.clients.iam.listApiKeys({ principalKrn: admin.krn }), "iam:ListApiKeys", admin.krn);
    await assertDenied(keyUser.clients.iam.listApiKeys({}), "iam:ListApiKeys", keyUser.krn);
  });
});
