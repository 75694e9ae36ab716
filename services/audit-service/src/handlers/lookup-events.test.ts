import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import {
  ACCOUNT,
  DENIED,
  invalid,
  keyKrn,
  makeEvent,
  MANAGEMENT_ACCOUNT,
  ManualClock,
  OTHER_ACCOUNT,
  refusal,
  SOURCE,
  START,
  startTestAuditService,
  type TestAuditService,
} from "../test-support.ts";

describe("LookupEvents", () => {
  let service: TestAuditService;
  const second = (n: number) => ({ seconds: BigInt(START.getTime() / 1000 + n), nanos: 0 });
  before(async () => {
    service = await startTestAuditService();
    const clock = new ManualClock();
    const events = [];
    // 12 events a second apart: ACCOUNT's Encrypt ok / Decrypt denied alternating, then 4 of OTHER_ACCOUNT.
    for (let i = 0; i < 8; i++) {
      events.push(
        makeEvent(
          i + 1,
          i % 2 === 0
            ? { action: "kms:Encrypt", time: second(i) }
            : { action: "kms:Decrypt", time: second(i), outcome: { code: Code.PermissionDenied, reason: "ACCESS_DENIED" }, principalKrn: `krn:keyhold:iam::${ACCOUNT}:user/alice`, resource: keyKrn(ACCOUNT, "11111111-1111-4111-8111-111111111111") },
          clock,
        ),
      );
    }
    for (let i = 8; i < 12; i++) events.push(makeEvent(i + 1, { accountId: OTHER_ACCOUNT, time: second(i) }, clock));
    // One event that arrives late (outbox backlog): appended last, but the oldest.
    events.push(makeEvent(13, { time: second(-100) }, clock));
    await service.ingest.appendEvents({ source: SOURCE, events });
  });
  after(() => service.close());

  const seconds = (events: { time?: { seconds: bigint } | undefined }[]) => events.map((e) => Number(e.time!.seconds) - START.getTime() / 1000);

  test("an account sees its own events, newest event time first", async () => {
    const { events, nextPageToken } = await service.as(ACCOUNT).lookupEvents({});
    assert.deepEqual(seconds(events), [7, 6, 5, 4, 3, 2, 1, 0, -100]);
    assert.ok(events.every((e) => e.accountId === ACCOUNT));
    assert.equal(nextPageToken, "");
    const other = await service.as(OTHER_ACCOUNT).lookupEvents({});
    assert.deepEqual(seconds(other.events), [11, 10, 9, 8]);
  });

  test("the management account sees every account's events and may filter by account", async () => {
    const all = await service.as(MANAGEMENT_ACCOUNT).lookupEvents({});
    assert.equal(all.events.length, 13);
    const other = await service.as(MANAGEMENT_ACCOUNT).lookupEvents({ accountId: OTHER_ACCOUNT });
    assert.deepEqual(seconds(other.events), [11, 10, 9, 8]);
  });

  test("another account's events are denied, not silently empty", async () => {
    assert.deepEqual(await refusal(service.as(ACCOUNT).lookupEvents({ accountId: OTHER_ACCOUNT })), DENIED);
    const own = await service.as(ACCOUNT).lookupEvents({ accountId: ACCOUNT });
    assert.equal(own.events.length, 9);
  });

  test("filters: action, principal, resource, outcome, time range", async () => {
    const client = service.as(ACCOUNT);
    assert.deepEqual(seconds((await client.lookupEvents({ action: "kms:Decrypt" })).events), [7, 5, 3, 1]);
    assert.deepEqual(seconds((await client.lookupEvents({ principalKrn: `krn:keyhold:iam::${ACCOUNT}:user/alice` })).events), [7, 5, 3, 1]);
    assert.deepEqual(seconds((await client.lookupEvents({ resource: keyKrn(ACCOUNT, "11111111-1111-4111-8111-111111111111") })).events), [7, 5, 3, 1]);
    assert.deepEqual(seconds((await client.lookupEvents({ outcome: "ok" })).events), [6, 4, 2, 0, -100]);
    assert.deepEqual(seconds((await client.lookupEvents({ outcome: "error" })).events), [7, 5, 3, 1]);
    assert.deepEqual(seconds((await client.lookupEvents({ outcome: "ACCESS_DENIED" })).events), [7, 5, 3, 1]);
    assert.deepEqual(seconds((await client.lookupEvents({ outcome: "KEY_DISABLED" })).events), []);
    assert.deepEqual(seconds((await client.lookupEvents({ startTime: second(2), endTime: second(5) })).events), [4, 3, 2]);
    assert.deepEqual(seconds((await client.lookupEvents({ startTime: second(2), endTime: second(5), action: "kms:Encrypt", outcome: "ok" })).events), [4, 2]);
    assert.deepEqual(seconds((await client.lookupEvents({ endTime: second(0) })).events), [-100]);
  });

  test("paging: every event once, in order, and a token only works for its own filters", async () => {
    const client = service.as(MANAGEMENT_ACCOUNT);
    const seen: number[] = [];
    let token = "";
    let pages = 0;
    do {
      const page = await client.lookupEvents({ pageSize: 5, pageToken: token });
      seen.push(...seconds(page.events));
      token = page.nextPageToken;
      pages++;
    } while (token !== "");
    assert.equal(pages, 3);
    assert.deepEqual(seen, [11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, -100]);
    const first = await client.lookupEvents({ pageSize: 2 });
    assert.deepEqual(await refusal(client.lookupEvents({ pageSize: 2, pageToken: first.nextPageToken, action: "kms:Decrypt" })), invalid("page_token"));
    const page2 = await client.lookupEvents({ pageSize: 2, pageToken: first.nextPageToken });
    assert.deepEqual(seconds(page2.events), [9, 8]);
  });

  test("bad input names the field", async () => {
    const client = service.as(ACCOUNT);
    const cases: [string, Promise<unknown>][] = [
      ["page_size", client.lookupEvents({ pageSize: -1 })],
      ["page_size", client.lookupEvents({ pageSize: 1001 })],
      ["page_token", client.lookupEvents({ pageToken: "garbage" })],
      ["start_time", client.lookupEvents({ startTime: { seconds: 0n, nanos: -1 } })],
      ["end_time", client.lookupEvents({ endTime: { seconds: 999_999_999_999n, nanos: 0 } })],
      ["end_time", client.lookupEvents({ startTime: second(5), endTime: second(5) })],
      ["principal_krn", client.lookupEvents({ principalKrn: "alice" })],
      ["account_id", client.lookupEvents({ accountId: "12" })],
      ["action", client.lookupEvents({ action: "Encrypt" })],
      ["resource", client.lookupEvents({ resource: "key/1" })],
      ["outcome", client.lookupEvents({ outcome: "denied" })],
    ];
    for (const [field, call] of cases) assert.deepEqual(await refusal(call), invalid(field), field);
  });
});
