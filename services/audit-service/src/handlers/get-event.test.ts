import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { chainHash, GENESIS_CHAIN_HASH } from "../domain/chain.ts";
import { canonicalEventBytes } from "../domain/event.ts";
import { leafHash } from "../domain/merkle.ts";
import { ACCOUNT, invalid, makeEvent, MANAGEMENT_ACCOUNT, OTHER_ACCOUNT, refusal, SOURCE, startTestAuditService, type TestAuditService } from "../test-support.ts";

describe("GetEvent", () => {
  let service: TestAuditService;
  const mine = makeEvent(1);
  const theirs = makeEvent(2, { accountId: OTHER_ACCOUNT });
  before(async () => {
    service = await startTestAuditService();
    await service.ingest.appendEvents({ source: SOURCE, events: [mine, theirs] });
  });
  after(() => service.close());

  test("returns the record: index, event and the hashes that chain it", async () => {
    const { record } = await service.as(ACCOUNT).getEvent({ eventId: mine.eventId.toUpperCase() });
    assert.equal(record?.index, 0n);
    assert.equal(record?.event?.eventId, mine.eventId);
    const leaf = leafHash(canonicalEventBytes(mine));
    assert.deepEqual(Buffer.from(record.leafHash), leaf);
    assert.deepEqual(Buffer.from(record.chainHash), chainHash(GENESIS_CHAIN_HASH, leaf));
  });

  test("another account's event answers like a missing one, except to the management account", async () => {
    const notFound = { code: Code.NotFound, reason: "NOT_FOUND", field: "event_id" };
    assert.deepEqual(await refusal(service.as(ACCOUNT).getEvent({ eventId: theirs.eventId })), notFound);
    assert.deepEqual(await refusal(service.as(ACCOUNT).getEvent({ eventId: "00000000-0000-4000-8000-000000000000" })), notFound);
    assert.equal((await service.as(OTHER_ACCOUNT).getEvent({ eventId: theirs.eventId })).record?.index, 1n);
    assert.equal((await service.as(MANAGEMENT_ACCOUNT).getEvent({ eventId: theirs.eventId })).record?.index, 1n);
  });

  test("bad input names the field", async () => {
    assert.deepEqual(await refusal(service.as(ACCOUNT).getEvent({ eventId: "" })), invalid("event_id"));
    assert.deepEqual(await refusal(service.as(ACCOUNT).getEvent({ eventId: "not-a-uuid" })), invalid("event_id"));
  });
});
