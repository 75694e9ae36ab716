import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { ACCOUNT, refusal, startTestPolicyService, type TestPolicyService } from "../test-support.ts";

describe("WatchChanges (internal)", () => {
  let service: TestPolicyService;
  before(async () => {
    service = await startTestPolicyService();
  });
  after(() => service.close());

  test("says hello with the current sequence, then delivers one event per change until cancelled", async () => {
    const admin = await service.user(ACCOUNT, "admin", ["AdministratorAccess"]);
    const controller = new AbortController();
    const stream = service.internal().watchChanges({}, { signal: controller.signal });
    const iterator = stream[Symbol.asyncIterator]();
    const hello = await iterator.next();
    const current = await service.app.context.store.currentSequence();
    assert.deepEqual([hello.value.sequence, hello.value.kind], [current, "hello"]);

    await admin.clients.iam.createUser({ userName: "u1" });
    const first = await iterator.next();
    assert.deepEqual([first.value.sequence, first.value.kind], [current + 1n, "principal"]);

    const key = await admin.clients.iam.createApiKey({});
    await admin.clients.iam.putPolicy({ policyName: "p", document: '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}}' });
    const events = [(await iterator.next()).value, (await iterator.next()).value];
    assert.deepEqual(
      events.map((e) => [e.sequence, e.kind]),
      [
        [current + 2n, "credential"],
        [current + 3n, "policy"],
      ],
    );
    assert.ok(key.apiKey !== undefined);

    controller.abort();
    await assert.rejects(iterator.next(), (error: unknown) => error instanceof Error);
    // Changes after the cancellation reach nobody and break nothing.
    await admin.clients.iam.createUser({ userName: "u2" });
  });

  test("a cancelled watcher unsubscribes from the store", async () => {
    // SqlitePolicyStore's listener set (internal: the test looks at it to see the subscription go).
    const listeners = (service.app.context.store as unknown as { records: { listeners: Set<unknown> } }).records.listeners;
    const idle = listeners.size;
    const controller = new AbortController();
    const iterator = service.internal().watchChanges({}, { signal: controller.signal })[Symbol.asyncIterator]();
    await iterator.next();
    assert.equal(listeners.size, idle + 1);
    controller.abort();
    await iterator.next().catch(() => undefined);
    for (let i = 0; i < 50 && listeners.size > idle; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(listeners.size, idle);
  });

  test("a watcher that connects after changes starts at the current sequence", async () => {
    const before = await service.app.context.store.currentSequence();
    await service.user(ACCOUNT, "late");
    const controller = new AbortController();
    const iterator = service.internal().watchChanges({}, { signal: controller.signal })[Symbol.asyncIterator]();
    const hello = (await iterator.next()).value;
    assert.equal(hello.sequence, before + 2n);
    controller.abort();
    await iterator.next().catch(() => undefined);
  });

  test("is refused to callers that are not Keyhold services", async () => {
    const stream = service.admin.authz.watchChanges({});
    const consume = (async () => {
      for await (const _ of stream) {
        /* nothing arrives */
      }
    })();
    assert.deepEqual(await refusal(consume), { code: Code.PermissionDenied, reason: "ACCESS_DENIED", field: undefined });
  });
});
