import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { AuditEventSchema } from "@keyhold/proto";
import { ACCOUNT, batch, DENIED, detailedRefusal, invalid, makeEvent, refusal, SOURCE, startTestAuditService, type EventInit, type TestAuditService } from "../test-support.ts";

describe("AppendEvents", () => {
  let service: TestAuditService;
  before(async () => {
    service = await startTestAuditService();
  });
  after(() => service.close());

  const size = async () => (await service.app.context.store.head()).size;

  test("appends a batch and acknowledges through its last sequence; an empty batch answers the mark", async () => {
    const source = "key-service-first";
    assert.equal((await service.ingest.appendEvents({ source, events: [] })).acknowledgedThrough, 0n);
    const before = await size();
    const answer = await service.ingest.appendEvents({ source, events: batch(1, 5, { source }) });
    assert.equal(answer.acknowledgedThrough, 5n);
    assert.equal(await size(), before + 5);
    assert.equal((await service.ingest.appendEvents({ source, events: [] })).acknowledgedThrough, 5n);
    assert.equal(await service.app.context.store.acknowledgedThrough(source), 5n);
  });

  test("exactly once: a retried batch appends nothing, an overlapping batch appends only the new events", async () => {
    const source = "key-service-retry";
    const first = batch(1, 4, { source });
    await service.ingest.appendEvents({ source, events: first });
    const afterFirst = await size();
    assert.equal((await service.ingest.appendEvents({ source, events: first })).acknowledgedThrough, 4n);
    assert.equal(await size(), afterFirst, "a retry appends nothing");
    const overlapping = [...first.slice(2), ...batch(5, 7, { source })];
    assert.equal((await service.ingest.appendEvents({ source, events: overlapping })).acknowledgedThrough, 7n);
    assert.equal(await size(), afterFirst + 3);
    const records = (await service.app.context.store.records(afterFirst - 4, await size(), 100)).filter((r) => r.columns.source === source);
    assert.deepEqual(
      records.map((r) => r.columns.sourceSequence),
      [1n, 2n, 3n, 4n, 5n, 6n, 7n],
    );
    assert.equal(new Set(records.map((r) => r.columns.eventId)).size, 7);
  });

  test("a gap is FAILED_PRECONDITION AUDIT_SEQUENCE_GAP with the mark, and appends nothing", async () => {
    const source = "key-service-gap";
    await service.ingest.appendEvents({ source, events: batch(1, 3, { source }) });
    const before = await size();
    const refused = await detailedRefusal(service.ingest.appendEvents({ source, events: batch(5, 6, { source }) }));
    assert.equal(refused.code, Code.FailedPrecondition);
    assert.equal(refused.reason, "AUDIT_SEQUENCE_GAP");
    assert.equal(refused.field, "events[0].source_sequence");
    assert.equal(refused.metadata["acknowledged_through"], "3");
    assert.equal(await size(), before);
    // A new source must start at 1.
    assert.equal((await refusal(service.ingest.appendEvents({ source: "key-service-fresh", events: batch(2, 2, { source: "key-service-fresh" }) }))).code, Code.FailedPrecondition);
    // Resending in order works.
    assert.equal((await service.ingest.appendEvents({ source, events: batch(4, 6, { source }) })).acknowledgedThrough, 6n);
  });

  test("sources are independent, and an event's empty source is filled in", async () => {
    await service.ingest.appendEvents({ source: "key-service-a", events: batch(1, 2, { source: "" }) });
    await service.ingest.appendEvents({ source: "key-service-b", events: batch(1, 1, { source: "key-service-b" }) });
    const last = await service.app.context.store.records((await size()) - 3, await size(), 10);
    assert.deepEqual(
      last.map((r) => [r.columns.source, r.columns.sourceSequence]),
      [
        ["key-service-a", 1n],
        ["key-service-a", 2n],
        ["key-service-b", 1n],
      ],
    );
  });

  test("only Keyhold services may append, each only to its own sources", async () => {
    assert.deepEqual(await refusal(service.outsideIngest(ACCOUNT).appendEvents({ source: SOURCE, events: batch(1, 1) })), DENIED);
    // The transport says key-service is calling: policy-service's trail is not its to write.
    const before = await size();
    for (const source of ["policy-service-0123456789abcdef", "key-servicex-1", "key-service"]) {
      assert.deepEqual(await refusal(service.ingest.appendEvents({ source, events: batch(1, 1, { source }) })), DENIED, source);
    }
    assert.equal(await size(), before);
  });

  test("bad input names the field, and a refused batch appends nothing", async () => {
    const before = await size();
    const one = (init: Partial<EventInit>) => [makeEvent(1, { source: "" }), makeEvent(2, { ...init, source: init.source ?? "" })];
    const cases: [string, Promise<unknown>][] = [
      ["source", service.ingest.appendEvents({ source: "", events: [] })],
      ["source", service.ingest.appendEvents({ source: "has space", events: [] })],
      ["events[1].event_id", service.ingest.appendEvents({ source: "key-service-bad", events: one({ eventId: "" }) })],
      ["events[1].event_id", service.ingest.appendEvents({ source: "key-service-bad", events: one({ eventId: "6B8F4C2E-1D3A-4E5F-9A7B-0C1D2E3F4A5B" }) })],
      ["events[1].time", service.ingest.appendEvents({ source: "key-service-bad", events: [makeEvent(1, { source: "" }), create(AuditEventSchema, { ...makeEvent(2, { source: "" }), time: undefined })] })],
      ["events[1].time", service.ingest.appendEvents({ source: "key-service-bad", events: one({ time: { seconds: 1n, nanos: 1_000_000_000 } }) })],
      ["events[1].time", service.ingest.appendEvents({ source: "key-service-bad", events: one({ time: { seconds: 300_000_000_000n, nanos: 0 } }) })],
      ["events[1].service", service.ingest.appendEvents({ source: "key-service-bad", events: one({ service: "" }) })],
      ["events[1].service", service.ingest.appendEvents({ source: "key-service-bad", events: one({ service: "Key Service" }) })],
      ["events[1].action", service.ingest.appendEvents({ source: "key-service-bad", events: one({ action: "" }) })],
      ["events[1].action", service.ingest.appendEvents({ source: "key-service-bad", events: one({ action: "Encrypt" }) })],
      ["events[1].principal_krn", service.ingest.appendEvents({ source: "key-service-bad", events: one({ principalKrn: "arn:aws:iam::1:root" }) })],
      ["events[1].account_id", service.ingest.appendEvents({ source: "key-service-bad", events: one({ accountId: "1234" }) })],
      ["events[1].source_ip", service.ingest.appendEvents({ source: "key-service-bad", events: one({ sourceIp: "10.0.0.1:5000" }) })],
      ["events[1].user_agent", service.ingest.appendEvents({ source: "key-service-bad", events: one({ userAgent: "a\nb" }) })],
      ["events[1].user_agent", service.ingest.appendEvents({ source: "key-service-bad", events: one({ userAgent: "x".repeat(1025) }) })],
      ["events[1].request_id", service.ingest.appendEvents({ source: "key-service-bad", events: one({ requestId: "ü" }) })],
      ["events[1].trace_id", service.ingest.appendEvents({ source: "key-service-bad", events: one({ traceId: "t".repeat(257) }) })],
      ["events[1].resource", service.ingest.appendEvents({ source: "key-service-bad", events: one({ resource: "alias/foo" }) })],
      ["events[1].key_version_id", service.ingest.appendEvents({ source: "key-service-bad", events: one({ keyVersionId: "\u0000" }) })],
      ["events[1].encryption_context", service.ingest.appendEvents({ source: "key-service-bad", events: one({ encryptionContext: { "": "v" } }) })],
      ["events[1].encryption_context", service.ingest.appendEvents({ source: "key-service-bad", events: one({ encryptionContext: { k: "v".repeat(40_000) } }) })],
      ["events[1].outcome", service.ingest.appendEvents({ source: "key-service-bad", events: [makeEvent(1, { source: "" }), create(AuditEventSchema, { ...makeEvent(2, { source: "" }), outcome: undefined })] })],
      ["events[1].outcome.code", service.ingest.appendEvents({ source: "key-service-bad", events: one({ outcome: { code: 17 } }) })],
      ["events[1].outcome.reason", service.ingest.appendEvents({ source: "key-service-bad", events: one({ outcome: { code: 0, reason: "ACCESS_DENIED" } }) })],
      ["events[1].outcome.reason", service.ingest.appendEvents({ source: "key-service-bad", events: one({ outcome: { code: 7, reason: "access denied" } }) })],
      ["events[1].latency_micros", service.ingest.appendEvents({ source: "key-service-bad", events: one({ latencyMicros: -1n }) })],
      ["events[1].calling_service", service.ingest.appendEvents({ source: "key-service-bad", events: one({ callingService: "Key_Service" }) })],
      ["events[1].source", service.ingest.appendEvents({ source: "key-service-bad", events: one({ source: "another-source" }) })],
      ["events[1].source_sequence", service.ingest.appendEvents({ source: "key-service-bad", events: [makeEvent(1, { source: "" }), makeEvent(3, { source: "" })] })],
      ["events[0].source_sequence", service.ingest.appendEvents({ source: "key-service-bad", events: [makeEvent(0, { source: "" })] })],
    ];
    for (const [field, call] of cases) assert.deepEqual(await refusal(call), invalid(field), field);
    assert.equal(await size(), before);
    assert.equal(await service.app.context.store.acknowledgedThrough("key-service-bad"), 0n);
  });

  test("a failed or denied call's event is accepted with its outcome, and unauthenticated calls need no principal", async () => {
    const source = "key-service-outcomes";
    const events = [
      makeEvent(1, { source, outcome: { code: Code.PermissionDenied, reason: "ACCESS_DENIED" } }),
      makeEvent(2, { source, outcome: { code: Code.Unauthenticated, reason: "UNAUTHENTICATED" }, principalKrn: "", accountId: "", resource: "" }),
      makeEvent(3, { source, outcome: { code: Code.Internal, reason: "" }, principalKrn: "krn:keyhold:iam::keyhold:service/key-service", accountId: "", callingService: "key-service" }),
    ];
    assert.equal((await service.ingest.appendEvents({ source, events })).acknowledgedThrough, 3n);
  });
});

describe("AppendEvents across a restart", () => {
  test("the marks survive, so a batch resent after a restart is not duplicated", async () => {
    let service = await startTestAuditService();
    try {
      const events = batch(1, 10);
      await service.ingest.appendEvents({ source: SOURCE, events });
      service = await service.restart();
      assert.equal((await service.ingest.appendEvents({ source: SOURCE, events })).acknowledgedThrough, 10n);
      assert.equal((await service.app.context.store.head()).size, 10);
      assert.equal((await service.app.context.log.verify(0, undefined)).ok, true);
    } finally {
      await service.close();
    }
  });
});
