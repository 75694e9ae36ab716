import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ACCOUNT, batch, invalid, refusal, SOURCE, startTestAuditService, type TestAuditService } from "../test-support.ts";

describe("VerifyLog", () => {
  let service: TestAuditService;
  before(async () => {
    service = await startTestAuditService();
    await service.ingest.appendEvents({ source: SOURCE, events: batch(1, 10) });
    await service.as(ACCOUNT).getCheckpoint({ fresh: true });
    await service.ingest.appendEvents({ source: SOURCE, events: batch(11, 25) });
    await service.as(ACCOUNT).getCheckpoint({ fresh: true });
    await service.ingest.appendEvents({ source: SOURCE, events: batch(26, 30) });
  });
  after(() => service.close());

  test("the whole log: every record, including those after the latest checkpoint", async () => {
    assert.deepEqual(
      { ...(await service.as(ACCOUNT).verifyLog({})), $typeName: undefined },
      { $typeName: undefined, ok: true, verifiedRecords: 30n, firstBadIndex: 0n, problem: "" },
    );
  });

  test("a range starts at the newest checkpoint at or before from_index", async () => {
    const answer = await service.as(ACCOUNT).verifyLog({ fromIndex: 12n, toIndex: 20n });
    assert.equal(answer.ok, true);
    assert.equal(answer.verifiedRecords, 10n, "records 10..19");
    assert.equal((await service.as(ACCOUNT).verifyLog({ fromIndex: 25n })).verifiedRecords, 5n);
  });

  test("bad input names the field", async () => {
    const client = service.as(ACCOUNT);
    assert.deepEqual(await refusal(client.verifyLog({ fromIndex: -1n })), invalid("from_index"));
    assert.deepEqual(await refusal(client.verifyLog({ toIndex: -5n })), invalid("to_index"));
    assert.deepEqual(await refusal(client.verifyLog({ toIndex: 31n })), invalid("to_index"));
    assert.deepEqual(await refusal(client.verifyLog({ fromIndex: 20n, toIndex: 10n })), invalid("from_index"));
    assert.deepEqual(await refusal(client.verifyLog({ fromIndex: 31n })), invalid("from_index"));
  });
});
