// Every RPC of audit-service, swept: unauthenticated callers are refused everywhere; AuditService
// RPCs authorize on the caller's account's log (a Keyhold service without an end caller has no
// account log and is denied); AppendEvents admits Keyhold services only. A handler that forgot
// to authorize fails here (and in authorizationRequiredInterceptor).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { AuditIngestService, AuditService } from "@keyhold/proto";
import { createInMemoryTransport, createSilentLogger } from "@keyhold/server-kit";
import { ACCOUNT, batch, DENIED, refusal, SOURCE, startTestAuditService, UNAUTHENTICATED, type TestAuditService } from "./test-support.ts";

type Clients = { audit: ReturnType<TestAuditService["as"]>; ingest: TestAuditService["ingest"] };
type Call = (clients: Clients) => Promise<unknown>;

const drain = async (stream: AsyncIterable<unknown>) => {
  for await (const _ of stream) {
    /* consume */
  }
};

describe("every RPC authenticates and authorizes", () => {
  let service: TestAuditService;
  before(async () => {
    service = await startTestAuditService();
    await service.ingest.appendEvents({ source: SOURCE, events: batch(1, 2) });
  });
  after(() => service.close());

  const audit: Record<string, Call> = {
    LookupEvents: (c) => c.audit.lookupEvents({}),
    GetEvent: (c) => c.audit.getEvent({ eventId: "00000000-0000-4000-8000-000000000000" }),
    GetCheckpoint: (c) => c.audit.getCheckpoint({}),
    VerifyLog: (c) => c.audit.verifyLog({}),
    ExportEvents: (c) => drain(c.audit.exportEvents({})),
  };
  const ingest: Record<string, Call> = {
    AppendEvents: (c) => c.ingest.appendEvents({ source: SOURCE, events: [] }),
  };

  test("the sweep covers every method of both services", () => {
    assert.deepEqual(Object.keys(audit).sort(), AuditService.methods.map((m) => m.name).sort());
    assert.deepEqual(Object.keys(ingest).sort(), AuditIngestService.methods.map((m) => m.name).sort());
  });

  test("without a credential every RPC is UNAUTHENTICATED", async () => {
    const anonymous: Clients = { audit: service.as(undefined), ingest: service.outsideIngest(ACCOUNT) };
    const logger = createSilentLogger();
    anonymous.ingest = createClient(AuditIngestService, createInMemoryTransport(service.app.bindings, service.app.interceptors, logger));
    for (const [name, call] of Object.entries({ ...audit, ...ingest })) assert.deepEqual(await refusal(call(anonymous)), UNAUTHENTICATED, name);
    assert.deepEqual(await refusal(service.as(undefined).lookupEvents({})), UNAUTHENTICATED);
  });

  test("an outside caller may not ingest; a Keyhold service without an end caller may not read", async () => {
    const outside: Clients = { audit: service.as(ACCOUNT), ingest: service.outsideIngest(ACCOUNT) };
    for (const [name, call] of Object.entries(ingest)) assert.deepEqual(await refusal(call(outside)), DENIED, name);
    const serviceClients: Clients = {
      audit: createClient(AuditService, createInMemoryTransport(service.app.bindings, service.app.interceptors, createSilentLogger(), { callingService: "key-service" })),
      ingest: service.ingest,
    };
    for (const [name, call] of Object.entries(audit)) assert.deepEqual(await refusal(call(serviceClients)), DENIED, name);
  });

  test("each AuditService RPC asks for audit:<Method> on the caller's account's log", async () => {
    const asked: string[] = [];
    const access = service.app.context.access;
    const original = access.require.bind(access);
    access.require = async (call, action, resource, options) => {
      asked.push(`${action} ${resource}`);
      return original(call, action, resource, options);
    };
    try {
      const clients: Clients = { audit: service.as(ACCOUNT), ingest: service.ingest };
      for (const [name, call] of Object.entries(audit)) {
        asked.length = 0;
        await call(clients).catch(() => undefined);
        assert.deepEqual(asked, [`audit:${name} krn:keyhold:audit:test-1:${ACCOUNT}:log`], name);
      }
    } finally {
      access.require = original;
    }
  });
});
