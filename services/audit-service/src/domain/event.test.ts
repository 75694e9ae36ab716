import assert from "node:assert/strict";
import { test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { AuditEventSchema } from "@keyhold/proto";
import { makeEvent } from "../test-support.ts";
import { canonicalEventBytes, decodeEvent, encodeForLog, eventFromJson, eventToJson } from "./event.ts";

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
  assert.deepEqual(encodeForLog(event, "events[0]"), bytes);
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
