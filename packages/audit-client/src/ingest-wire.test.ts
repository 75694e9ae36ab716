import assert from "node:assert/strict";
import { createServer } from "node:http2";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import { AppendEventsRequestSchema, AppendEventsResponseSchema, AuditEventSchema, AuditIngestService, type AuditEvent } from "@keyhold/proto";
import { RawAuditIngest, sourceField, withSourceFields } from "./ingest-wire.ts";
import { Outbox } from "./outbox.ts";
import { AuditShipper } from "./shipper.ts";
import { sampleEvent, sampleEventBytes, tempDir, waitFor } from "./test-support.ts";

test("a stored event followed by its source fields is the canonical encoding of the event with them set", () => {
  for (const sequence of [1, 127, 128, 300_000, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER]) {
    const event = sampleEvent(sequence);
    const stored = toBinary(AuditEventSchema, event);
    const shipped = withSourceFields(stored, sourceField("key-service-0123456789abcdef"), sequence);
    const expected = toBinary(AuditEventSchema, { ...event, source: "key-service-0123456789abcdef", sourceSequence: BigInt(sequence) });
    assert.deepEqual(shipped, expected);
  }
});

test("the raw request and response are wire-compatible with AppendEventsRequest and AppendEventsResponse", () => {
  const method = RawAuditIngest.method.appendEvents;
  assert.equal(RawAuditIngest.typeName, "keyhold.audit.v1.AuditIngestService");
  assert.equal(method.name, "AppendEvents");
  const source = "policy-service-00ff00ff00ff00ff";
  const events = [sampleEvent(1), sampleEvent(2)];
  const raw = toBinary(method.input, create(method.input, {
    source,
    events: events.map((e, i) => withSourceFields(toBinary(AuditEventSchema, e), sourceField(source), i + 1)),
  }));
  const decoded = fromBinary(AppendEventsRequestSchema, raw);
  assert.equal(decoded.source, source);
  assert.deepEqual(decoded.events.map((e) => [e.eventId, e.source, e.sourceSequence]), [["event-1", source, 1n], ["event-2", source, 2n]]);
  assert.deepEqual(raw, toBinary(AppendEventsRequestSchema, create(AppendEventsRequestSchema, {
    source,
    events: events.map((e, i) => ({ ...e, source, sourceSequence: BigInt(i + 1) })),
  })));
  const answer = toBinary(AppendEventsResponseSchema, create(AppendEventsResponseSchema, { acknowledgedThrough: 9_000_000_001n }));
  assert.equal(fromBinary(method.output, answer).acknowledgedThrough, 9_000_000_001n);
});

test("over real gRPC (HTTP/2), a server using the generated AuditIngestService decodes what the shipper sends", async () => {
  const received: AuditEvent[] = [];
  const server = createServer(
    connectNodeAdapter({
      routes: (router) =>
        router.service(AuditIngestService, {
          appendEvents(request) {
            received.push(...request.events);
            return { acknowledgedThrough: request.events.at(-1)?.sourceSequence ?? 0n };
          },
        }),
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const dir = tempDir();
  const outbox = await Outbox.open({ path: dir.file("outbox.db"), service: "key-service" });
  const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  const shipper = new AuditShipper({ outbox, transport });
  try {
    await Promise.all(Array.from({ length: 20 }, (_, i) => outbox.append(sampleEventBytes(i))));
    shipper.start();
    await waitFor(() => received.length === 20, "20 events over gRPC");
    assert.deepEqual(received.map((e) => [e.eventId, e.source, e.sourceSequence]), Array.from({ length: 20 }, (_, i) => [`event-${i}`, outbox.source, BigInt(i + 1)]));
    assert.equal(received[3]!.principalKrn, "krn:keyhold:iam::111122223333:user/alice");
  } finally {
    await shipper.stop(1000);
    await outbox.close();
    dir.remove();
    server.close();
  }
});
