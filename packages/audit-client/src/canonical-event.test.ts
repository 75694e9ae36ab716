import assert from "node:assert/strict";
import { test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { AuditEventSchema, type AuditEvent } from "@keyhold/proto";
import { encodeAuditEvent } from "./canonical-event.ts";

/** The definition, spelled with protobuf-es: toBinary without the map, then the sorted entries. */
function reference(event: AuditEvent): Uint8Array {
  const writer = new BinaryWriter();
  writer.raw(toBinary(AuditEventSchema, { ...event, encryptionContext: {}, $unknown: undefined }, { writeUnknownFields: false }));
  const keys = Object.keys(event.encryptionContext).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const key of keys) {
    writer.tag(13, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(key).tag(2, WireType.LengthDelimited).string(event.encryptionContext[key]!).join();
  }
  return writer.finish();
}

function generator(seed: number) {
  let state = seed;
  const random = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const pick = <T,>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const text = (max: number) => {
    const pool = ["", "a", "Z", "0", " ", '"', "é", "中", "😀", "\u2028", "k".repeat(130)];
    let out = "";
    for (let i = Math.floor(random() * max); i > 0; i--) out += pick(pool);
    return out;
  };
  const int64 = () => pick([0n, 1n, 127n, 128n, 300n, 2n ** 53n, 2n ** 62n, -1n, -(2n ** 40n), 9_223_372_036_854_775_807n]);
  const int32 = () => pick([0, 1, 127, 128, 16_383, 16_384, 999_999_999, -1, -2_147_483_648]);
  return { random, text, int64, int32 };
}

test("encodeAuditEvent writes exactly the canonical bytes, over generated events", () => {
  const g = generator(7);
  for (let i = 0; i < 2000; i++) {
    const context: Record<string, string> = {};
    for (let j = Math.floor(g.random() * 5); j > 0; j--) context[g.text(6)] = g.text(60);
    const event = create(AuditEventSchema, {
      eventId: g.text(3),
      time: g.random() < 0.8 ? { seconds: g.int64(), nanos: g.int32() } : undefined,
      service: g.text(2),
      action: g.text(2),
      principalKrn: g.text(4),
      accountId: g.text(2),
      sourceIp: g.text(2),
      userAgent: g.text(50),
      requestId: g.text(2),
      traceId: g.text(2),
      resource: g.text(8),
      keyVersionId: g.text(2),
      encryptionContext: context,
      outcome: g.random() < 0.9 ? { code: g.int32(), reason: g.text(2) } : undefined,
      latencyMicros: g.int64(),
      callingService: g.text(2),
      source: g.text(2),
      sourceSequence: g.int64(),
    });
    const bytes = encodeAuditEvent(event);
    const expected = Buffer.from(reference(event));
    if (Buffer.compare(Buffer.from(bytes), expected) !== 0) {
      let at = 0;
      while (bytes[at] === expected[at]) at++;
      assert.fail(`event ${i}: differs at byte ${at}: ${Buffer.from(bytes.subarray(at - 4, at + 12)).toString("hex")} vs ${expected.subarray(at - 4, at + 12).toString("hex")}`);
    }
    // And it is protobuf: it decodes to the same event.
    const decoded = fromBinary(AuditEventSchema, bytes);
    assert.deepEqual({ ...decoded, $unknown: undefined }, { ...event, $unknown: undefined });
  }
});

test("a submessage or entry longer than 127 bytes gets a two-byte length", () => {
  const value = "v".repeat(200);
  const event = create(AuditEventSchema, { encryptionContext: { k: value }, outcome: { code: 5, reason: "R".repeat(150) } });
  assert.deepEqual(Buffer.from(encodeAuditEvent(event)), Buffer.from(reference(event)));
});

test("outputs never share bytes, and a large event gets a buffer of its own", () => {
  const first = encodeAuditEvent(create(AuditEventSchema, { eventId: "first" }));
  const second = encodeAuditEvent(create(AuditEventSchema, { eventId: "second" }));
  assert.equal(fromBinary(AuditEventSchema, first).eventId, "first");
  assert.equal(fromBinary(AuditEventSchema, second).eventId, "second");
  const large = encodeAuditEvent(create(AuditEventSchema, { userAgent: "u".repeat(10_000) }));
  assert.equal(large.byteOffset, 0);
  assert.equal(large.buffer.byteLength, large.byteLength);
});
