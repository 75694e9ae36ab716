// Format v2 (double encryption) layout: the AAD given to the proxy, assembly and parsing round
// trips, and every malformed blob is the uniform INVALID_CIPHERTEXT.
import assert from "node:assert/strict";
import { test } from "node:test";
import { KeyholdError } from "@keyhold/server-kit";
import { assembleXksCiphertext, isXksCiphertext, parseXksCiphertext, xksAad } from "./xks-ciphertext.ts";

const VERSION = "0b6c1f6e-8f7e-4a4b-9d0e-5f1c2a3b4c5d";
const invalidCiphertext = (e: unknown) => e instanceof KeyholdError && e.reason === "INVALID_CIPHERTEXT";

test("the proxy's AAD: 0x02 ‖ version id ‖ 0x02 ‖ id length ‖ external key id ‖ canonical context (known answer)", async () => {
  const aad = xksAad(VERSION, "ext-1", { b: "2", a: "1" });
  assert.equal(
    aad.toString("hex"),
    "02" + "0b6c1f6e8f7e4a4b9d0e5f1c2a3b4c5d" + "02" + "05" + Buffer.from("ext-1").toString("hex") +
      // canonical context: count, then sorted (key length, key, value length, value)
      "00000002" + "00000001" + "61" + "00000001" + "31" + "00000001" + "62" + "00000001" + "32",
  );
  assert.equal(xksAad(VERSION, "ext-1", {}).toString("hex").endsWith("00000000"), true);
});

test("assemble and parse round-trip; the header starts with the AAD's header", async () => {
  const parts = {
    keyVersionId: VERSION,
    xksKeyId: "ext.key_1-A",
    initializationVector: Buffer.alloc(12, 1),
    ciphertextMetadata: Buffer.from("meta"),
    authenticationTag: Buffer.alloc(16, 2),
    body: Buffer.from("outer body"),
  };
  const blob = assembleXksCiphertext(parts);
  assert.equal(isXksCiphertext(blob), true);
  assert.deepEqual(parseXksCiphertext(blob), parts);
  const header = xksAad(VERSION, "ext.key_1-A", {});
  assert.deepEqual(blob.subarray(0, header.length - 4), header.subarray(0, header.length - 4));
});

test("malformed blobs are INVALID_CIPHERTEXT", async () => {
  const blob = assembleXksCiphertext({
    keyVersionId: VERSION,
    xksKeyId: "k",
    initializationVector: Buffer.alloc(12),
    ciphertextMetadata: Buffer.alloc(0),
    authenticationTag: Buffer.alloc(16),
    body: Buffer.from("b"),
  });
  for (let length = 0; length < blob.length; length++) assert.throws(() => parseXksCiphertext(blob.subarray(0, length)), invalidCiphertext, `truncated to ${length}`);
  const wrong = (at: number, value: number) => {
    const copy = Buffer.from(blob);
    copy[at] = value;
    return copy;
  };
  assert.throws(() => parseXksCiphertext(wrong(0, 0x01)), invalidCiphertext);
  assert.throws(() => parseXksCiphertext(wrong(17, 0x01)), invalidCiphertext);
  assert.throws(() => parseXksCiphertext(wrong(19, 0x20)), invalidCiphertext, "an external key id outside the XKS alphabet");
  assert.throws(() => parseXksCiphertext(wrong(20, 0)), invalidCiphertext, "an empty IV");
  assert.throws(() => parseXksCiphertext(wrong(33, 21)), invalidCiphertext, "metadata longer than 20 bytes");
});
