import assert from "node:assert/strict";
import { test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { AuditEventSchema } from "@keyhold/proto";
import { makeEvent } from "../test-support.ts";
import { canonicalEventBytes, decodeEvent, encodeForLog, eventFromJson, eventToJson, validateIngestEvent } from "./event.ts";

test("canonical bytes do not depend on the order encryption context keys were set in", () => {
  const a = makeEvent(1, { encryptionContext: { b: "2", a: "1", "10": "x", "9": "y", "é": "z" } });
  const b = create(AuditEventSchema, { ...a, encryptionContext: {} });
  for (const key of ["é", "9", "a", "10", "b"]) b.encryptionContext[key] = a.encryptionContext[key]!;
  assert.deepEqual(canonicalEventBytes(a), canonicalEventBytes(b));
});

test("canonical bytes are protobuf: they decode to the same event, and re-encode to the same bytes (binary and JSON)", () => {
  const event = makeEvent(7, { encryptionContext: { z: "1", a: "2" }, outcome: { code: 7, reason: "ACCESS_DENIED" } });
  const bytes = canonicalEventBytes(event);
  const decoded = decodeEvent(bytes);
  assert.deepEqual(decoded.encryptionContext, event.encryptionContext);
  assert.equal(decoded.eventId, event.eventId);
  assert.equal(decoded.sourceSequence, 7n);
  assert.deepEqual(canonicalEventBytes(decoded), bytes);
  assert.deepEqual(canonicalEventBytes(eventFromJson(eventToJson(decoded))), bytes);
  assert.deepEqual(encodeForLog(event), bytes);
  // Without an encryption context it is exactly protobuf-es toBinary.
  const plain = makeEvent(8, { encryptionContext: {} });
  assert.deepEqual(canonicalEventBytes(plain), toBinary(AuditEventSchema, plain));
});

test("map entries come last, sorted by UTF-8 bytes, with key and value always written", () => {
  const event = create(AuditEventSchema, { encryptionContext: { b: "", a: "v" } });
  // field 13, length 6: key "a" (0a 01 61), value "v" (12 01 76); then key "b" with an empty value (12 00).
  assert.equal(Buffer.from(canonicalEventBytes(event)).toString("hex"), "6a060a0161120176" + "6a050a01621200");
});

test("unknown fields are not part of the canonical bytes", () => {
  const event = makeEvent(1);
  const withUnknown = decodeEvent(Buffer.concat([canonicalEventBytes(event), Buffer.from([0xf8, 0x01, 0x05])]));
  assert.deepEqual(canonicalEventBytes(withUnknown), canonicalEventBytes(event));
});

// Random text over the ranges validation lets through in free-text fields: ASCII, Latin-1,
// CJK, astral characters (surrogate pairs) and the JSON escapes.
function randomText(random: () => number, max: number): string {
  const pool = ["a", "Z", "0", " ", '"', "\\", "/", "é", "ß", "中", "文", "😀", "𝄞", "\u2028", "\u00a0", "<", "&"];
  let out = "";
  const length = Math.floor(random() * max);
  for (let i = 0; i < length; i++) out += pool[Math.floor(random() * pool.length)]!;
  return out;
}

test("every event that passes validation survives the protobuf JSON of an export byte for byte", () => {
  let seed = 42;
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  let checked = 0;
  for (let i = 0; i < 500; i++) {
    const context: Record<string, string> = {};
    const entries = Math.floor(random() * 4);
    for (let j = 0; j < entries; j++) context[randomText(random, 8) || "k"] = randomText(random, 12);
    const event = makeEvent(i + 1, {
      userAgent: randomText(random, 40),
      encryptionContext: context,
      latencyMicros: BigInt(Math.floor(random() * 2 ** 52)) * 1000n,
      time: { seconds: BigInt(Math.floor(random() * 253_402_300_799)) - 62_135_596_800n * BigInt(Math.round(random())), nanos: Math.floor(random() * 1e9) },
      outcome: random() < 0.5 ? { code: 0 } : { code: 1 + Math.floor(random() * 16), reason: "ACCESS_DENIED" },
      source: "",
    });
    let valid;
    try {
      valid = validateIngestEvent(event, 0, "src-1");
    } catch {
      continue; // (generated out of range: not what this property is about)
    }
    const bytes = encodeForLog(valid);
    assert.deepEqual(canonicalEventBytes(eventFromJson(eventToJson(decodeEvent(bytes)))), bytes, `event ${i}`);
    checked++;
  }
  assert.ok(checked >= 450, `only ${checked} generated events were valid`);
});

test("the decoder finds the canonical bytes of events as services write and ship them, and only ever the encoder's bytes", async () => {
  const { decodeEventWithShape } = await import("./event-decoder.ts");
  const { encodeAuditEvent, packWithSourceFields, sourceField } = await import("@keyhold/audit-client");
  let seed = 7;
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const field = (number: number, body: Buffer) => Buffer.from(new BinaryWriter().tag(number, WireType.LengthDelimited).bytes(body).finish());
  let canonicalSeen = 0;
  let otherSeen = 0;
  const check = (bytes: Uint8Array, label: string, expectCanonical?: boolean) => {
    let decoded;
    try {
      decoded = decodeEventWithShape(bytes);
    } catch {
      return;
    }
    const encoded = Buffer.from(encodeAuditEvent(decoded.fields));
    const found = decoded.canonicalBytes;
    if (found !== undefined) assert.ok(encoded.equals(Buffer.from(found)), `${label}: these are not the encoder's bytes`);
    if (expectCanonical !== undefined) assert.equal(found !== undefined, expectCanonical, label);
    if (found !== undefined) canonicalSeen++;
    else otherSeen++;
  };
  for (let i = 0; i < 400; i++) {
    const event = makeEvent(i + 1, {
      encryptionContext: random() < 0.3 ? {} : { b: random() < 0.2 ? "" : "y", a: "x", "": "z" },
      outcome: random() < 0.2 ? undefined : { code: Math.floor(random() * 17), reason: random() < 0.5 ? "" : "ACCESS_DENIED" },
      time: random() < 0.1 ? undefined : { seconds: BigInt(Math.floor(random() * 2 ** 40)) - (random() < 0.1 ? 2n ** 41n : 0n), nanos: Math.floor(random() * 3) * 5 },
      latencyMicros: random() < 0.2 ? 0n : BigInt(Math.floor(random() * 2 ** 60)),
    });
    const bytes = Buffer.from(encodeAuditEvent(event));
    // The encoder's own bytes are canonical (but for negative numbers, which the log re-encodes).
    const positive = event.time === undefined || event.time.seconds >= 0n;
    check(bytes, `encoded ${i}`, positive ? true : undefined);
    // As a shipper sends it: without source fields in the outbox, then source and sequence appended.
    const stored = encodeAuditEvent({ ...event, source: "", sourceSequence: 0n });
    const shipped = packWithSourceFields([stored], [i + 1], sourceField("key-service-1"));
    check(shipped.bytes, `shipped ${i}`, positive ? true : undefined);
    const mutated = Buffer.from(bytes);
    mutated[Math.floor(random() * mutated.length)] = Math.floor(random() * 256);
    check(mutated, `mutated ${i}`);
    // Valid protobuf for the same event, written otherwise: never canonical.
    check(Buffer.concat([field(13, Buffer.from([0x12, 0x01, 0x76, 0x0a, 0x01, 0x6b])), bytes]), `context entry first, value before key ${i}`, false);
    check(Buffer.concat([bytes, field(13, Buffer.from([0x0a, 0x01, 0x6b]))]), `entry without its value ${i}`, false);
    check(Buffer.concat([bytes, field(16, Buffer.alloc(0))]), `empty string written ${i}`, false);
    const padded = Buffer.concat([Buffer.from([0x0a, 0xa4, 0x00]), bytes.subarray(2)]);
    if (bytes[0] === 0x0a && bytes[1] === 0x24) check(padded, `over-long length varint ${i}`, false);
  }
  // Fields out of order, a 64-bit value past the 64th bit, a zero written (each once in the event).
  // (Fields after key_version_id left out, so appended ones come in order.)
  const bare = makeEvent(0, { encryptionContext: {}, latencyMicros: 0n, outcome: undefined, source: "" });
  const base = Buffer.from(encodeAuditEvent(bare));
  check(base, "bare event", true);
  check(Buffer.concat([field(3, Buffer.from("key-service")), Buffer.from(encodeAuditEvent({ ...bare, service: "" }))]), "service first", false);
  check(Buffer.concat([base, Buffer.from([0x78, 0x85, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02])]), "int64 past 64 bits", false);
  check(Buffer.concat([base, Buffer.from([0x78, 0x85, 0x00])]), "over-long int64", false);
  check(Buffer.concat([base, Buffer.from([0x78, 0x05])]), "latency 5", true);
  check(Buffer.concat([base, Buffer.from([0x78, 0x00])]), "latency 0 written", false);
  check(Buffer.concat([base, Buffer.from([0x72, 0x02, 0x08, 0x00])]), "outcome code 0 written", false);
  assert.ok(canonicalSeen >= 300, `only ${canonicalSeen} canonical`);
  assert.ok(otherSeen >= 400, `only ${otherSeen} not canonical`);
});

test("the fast decoder gives what fromBinary gives, for canonical, mutated and truncated events", async () => {
  const { decodeEventFields } = await import("./event-decoder.ts");
  const { encodeAuditEvent } = await import("@keyhold/audit-client");
  // The canonical encoding writes every field's value, so equal bytes mean equal fields.
  const same = (bytes: Uint8Array, label: string) => {
    let expected: Uint8Array;
    try {
      expected = encodeAuditEvent(decodeEvent(bytes));
    } catch {
      assert.throws(() => decodeEventFields(bytes), Error, label);
      return;
    }
    assert.deepEqual(Buffer.from(encodeAuditEvent(decodeEventFields(bytes))), Buffer.from(expected), label);
  };
  let seed = 99;
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let i = 0; i < 400; i++) {
    const event = makeEvent(i + 1, {
      encryptionContext: random() < 0.5 ? {} : { a: "x", b: random() < 0.2 ? "é" : "y" },
      userAgent: random() < 0.1 ? "agent ü" : "agent",
      latencyMicros: random() < 0.1 ? -5n : BigInt(Math.floor(random() * 1e9)),
      outcome: random() < 0.1 ? undefined : { code: Math.floor(random() * 17) - (random() < 0.05 ? 20 : 0), reason: random() < 0.5 ? "" : "ACCESS_DENIED" },
      time: random() < 0.1 ? undefined : { seconds: BigInt(Math.floor(random() * 2 ** 40)), nanos: Math.floor(random() * 1e9) },
    });
    const bytes = encodeAuditEvent(event);
    same(bytes, `canonical ${i}`);
    // One byte changed, a prefix, a repeated field, an unknown field appended.
    const mutated = Uint8Array.from(bytes);
    mutated[Math.floor(random() * mutated.length)] = Math.floor(random() * 256);
    same(mutated, `mutated ${i}`);
    same(bytes.subarray(0, Math.floor(random() * bytes.length)), `truncated ${i}`);
    same(Buffer.concat([bytes, Buffer.from([0x1a, 0x02, 0x6b, 0x73])]), `repeated ${i}`);
    same(Buffer.concat([bytes, Buffer.from([0xa8, 0x01, 0x05])]), `unknown ${i}`);
  }
});
