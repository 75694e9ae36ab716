import assert from "node:assert/strict";
import crypto from "node:crypto";
import { readFileSync } from "node:fs";
import { afterEach, describe, mock, test } from "node:test";
import { KeyholdError } from "@keyhold/server-kit";
import {
  CIPHERTEXT_OVERHEAD,
  HEADER_LENGTH,
  invalidCiphertext,
  openSymmetric,
  readKeyVersionId,
  sealSymmetric,
  sealSymmetricWithNonce,
} from "./ciphertext.ts";
import { canonicalEncryptionContext } from "./encryption-context.ts";
import type { EncryptionContext } from "./encryption-context.ts";

const MATERIAL = Buffer.from(Array.from({ length: 32 }, (_, i) => i)); // 00..1f
const OTHER_MATERIAL = Buffer.from(Array.from({ length: 32 }, (_, i) => 0x80 + i));
const VERSION_ID = "6b8f4c2e-1d3a-4e5f-9a7b-0c1d2e3f4a5b";
const CONTEXT: EncryptionContext = { tenant: "acme", purpose: "backup" };

const EXPECTED_MESSAGE =
  "ciphertext_blob: the ciphertext is invalid, or does not match the key or encryption context";

/** Asserts `fn` throws the one uniform invalid-ciphertext error, and nothing more specific. */
function assertInvalidCiphertext(fn: () => unknown, label = ""): void {
  assert.throws(
    fn,
    (error: unknown) => {
      assert.ok(error instanceof KeyholdError, `${label}: not a KeyholdError: ${String(error)}`);
      assert.equal(error.reason, "INVALID_CIPHERTEXT", label);
      assert.equal(error.message, EXPECTED_MESSAGE, label);
      assert.equal(error.field, "ciphertext_blob", label);
      assert.deepEqual(error.metadata, {}, label);
      assert.equal(error.cause, undefined, label);
      return true;
    },
    label,
  );
}

function assertInternal(fn: () => unknown): void {
  assert.throws(fn, (error: unknown) => error instanceof KeyholdError && error.reason === "INTERNAL");
}

interface Vector {
  readonly name: string;
  readonly material: string;
  readonly keyVersionId: string;
  readonly nonce: string;
  readonly context: EncryptionContext;
  readonly plaintext: string;
  readonly blob: string;
}

// Known-answer vectors, cross-checked with an independent implementation (Python
// `cryptography`). docs/ciphertext.md carries the same table; a test below keeps them equal.
const M1 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const N1 = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f";
const HEADER1 =
  "016b8f4c2e1d3a4e5f9a7b0c1d2e3f4a5b01202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f" +
  "33b75d66b27bb9be0cd41fa88e6c2d4d08d70a1a7d79acca0813bb56073793c4";
const VECTORS: readonly Vector[] = [
  {
    name: "empty-context",
    material: M1,
    keyVersionId: VERSION_ID,
    nonce: N1,
    context: {},
    plaintext: "6b6579686f6c64",
    blob: HEADER1 + "e3d4eeae25ab632bfe6b364a53fca5762ed032461da468",
  },
  {
    name: "one-pair",
    material: M1,
    keyVersionId: VERSION_ID,
    nonce: N1,
    context: { a: "b,c=d" },
    plaintext: "6b6579686f6c64",
    blob: HEADER1 + "e3d4eeae25ab638d9ce658b4177212ce1786e354cb1264",
  },
  {
    name: "two-pairs",
    material: M1,
    keyVersionId: VERSION_ID,
    nonce: N1,
    context: { a: "b", c: "d" },
    plaintext: "6b6579686f6c64",
    blob: HEADER1 + "e3d4eeae25ab63ee137998d594eab2384a89e497b3540a",
  },
  {
    name: "unicode-empty-plaintext",
    material: M1,
    keyVersionId: VERSION_ID,
    nonce: N1,
    context: { tenant: "zürich", "😀": "✓", Tenant: "Z" },
    plaintext: "",
    blob: HEADER1 + "31f1878f65742a81ff967f008e464e1b",
  },
  {
    name: "second-key-version",
    material: "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
    keyVersionId: "00112233-4455-4677-8899-aabbccddeeff",
    nonce: "0000000000000000000000000000000000000000000000000000000000000000",
    context: { purpose: "test" },
    plaintext: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f",
    blob:
      "0100112233445546778899aabbccddeeff01000000000000000000000000000000000000000000000000000000000000000096" +
      "94059ad96a95f5a8cc2c0551a4e28424461665e9005d911f463953d1147d16c37ce2a63d39c55182d3b4340095e6f1764e944c" +
      "f43bbd9154c3b097c0e33ce73b256ffbdeed9ab039b0468d14b30db81d76c3ce2868d332b9e078415e6710fc",
  },
];

/** Rows of the first markdown table after `heading` in docs/ciphertext.md, cells unquoted. */
function docTable(heading: string): string[][] {
  const doc = readFileSync(new URL("../../../../docs/ciphertext.md", import.meta.url), "utf8");
  const lines = doc.split("\n");
  let i = lines.indexOf(heading);
  assert.notEqual(i, -1, `docs/ciphertext.md has no "${heading}"`);
  while (i < lines.length && !(lines[i] ?? "").startsWith("|")) i++;
  const rows: string[][] = [];
  for (i += 2; i < lines.length && (lines[i] ?? "").startsWith("|"); i++) {
    const cells = (lines[i] ?? "").split("|").slice(1, -1);
    rows.push(cells.map((cell) => cell.trim().replace(/^`(.*)`$/, "$1")));
  }
  return rows;
}

function sealVector(v: Vector): Buffer {
  return sealSymmetricWithNonce(
    Buffer.from(v.material, "hex"),
    v.keyVersionId,
    Buffer.from(v.plaintext, "hex"),
    v.context,
    Buffer.from(v.nonce, "hex"),
  );
}

/** The spec's derivation, written out independently of ciphertext.ts. */
function deriveForTest(material: Buffer, blob: Buffer): { key: Buffer; iv: Buffer; commitment: Buffer } {
  const info = Buffer.concat([Buffer.from("keyhold/ciphertext/v1"), blob.subarray(1, 17)]);
  const okm = Buffer.from(crypto.hkdfSync("sha256", material, blob.subarray(18, 50), info, 76));
  return { key: okm.subarray(0, 32), iv: okm.subarray(32, 44), commitment: okm.subarray(44, 76) };
}

describe("ciphertext format v1", () => {
  afterEach(() => mock.restoreAll());

  test("sizes", async () => {
    assert.equal(HEADER_LENGTH, 82);
    assert.equal(CIPHERTEXT_OVERHEAD, 98);
  });

  test("round trip for many plaintext sizes; header carries the key version id", async () => {
    for (const size of [0, 1, 15, 16, 17, 31, 32, 33, 4096, 65_537]) {
      const plaintext = crypto.randomBytes(size);
      const blob = sealSymmetric(MATERIAL, VERSION_ID, plaintext, CONTEXT);
      assert.equal(blob.length, size + CIPHERTEXT_OVERHEAD);
      assert.equal(blob[0], 0x01);
      assert.equal(blob[17], 0x01);
      assert.equal(readKeyVersionId(blob), VERSION_ID);
      assert.deepEqual(openSymmetric(MATERIAL, blob, CONTEXT), plaintext);
    }
  });

  test("the key version id is read back lower-case and hyphenated", async () => {
    const blob = sealSymmetric(MATERIAL, VERSION_ID.toUpperCase(), Buffer.from("x"), {});
    assert.equal(readKeyVersionId(blob), VERSION_ID);
    assert.deepEqual(blob.subarray(1, 17), Buffer.from(VERSION_ID.replaceAll("-", ""), "hex"));
  });

  test("every encryption draws a fresh nonce", async () => {
    const a = sealSymmetric(MATERIAL, VERSION_ID, Buffer.from("same"), CONTEXT);
    const b = sealSymmetric(MATERIAL, VERSION_ID, Buffer.from("same"), CONTEXT);
    assert.notDeepEqual(a.subarray(18, 50), b.subarray(18, 50));
    assert.notDeepEqual(a, b);
  });

  test("accepts Uint8Array views at an offset, not only Buffers", async () => {
    const blob = sealSymmetric(MATERIAL, VERSION_ID, Buffer.from("view"), CONTEXT);
    const backing = new Uint8Array(blob.length + 7);
    backing.set(blob, 7);
    const view = backing.subarray(7);
    assert.equal(readKeyVersionId(view), VERSION_ID);
    assert.equal(openSymmetric(new Uint8Array(MATERIAL), view, CONTEXT).toString(), "view");
  });

  test("context insertion order does not matter", async () => {
    const blob = sealSymmetric(MATERIAL, VERSION_ID, Buffer.from("x"), { a: "1", b: "2", c: "3" });
    assert.equal(openSymmetric(MATERIAL, blob, { c: "3", a: "1", b: "2" }).toString(), "x");
  });

  describe("known-answer vectors", () => {
    test("seal gives the exact blob and open gives the plaintext back", async () => {
      for (const v of VECTORS) {
        assert.equal(sealVector(v).toString("hex"), v.blob, v.name);
        const opened = openSymmetric(Buffer.from(v.material, "hex"), Buffer.from(v.blob, "hex"), v.context);
        assert.equal(opened.toString("hex"), v.plaintext, v.name);
        assert.equal(readKeyVersionId(Buffer.from(v.blob, "hex")), v.keyVersionId, v.name);
      }
    });

    test("docs/ciphertext.md lists exactly these vectors", async () => {
      const rows = docTable("## Test vectors");
      const fromDoc = rows.map(([name, material, keyVersionId, nonce, context, plaintext, blob]) => ({
        name,
        material,
        keyVersionId,
        nonce,
        context: JSON.parse(context ?? "") as EncryptionContext,
        plaintext,
        blob,
      }));
      assert.deepEqual(fromDoc, VECTORS);
      // And each row, as the doc states it, checks against the code.
      for (const v of fromDoc as Vector[]) assert.equal(sealVector(v).toString("hex"), v.blob, v.name);
    });

    test("the context is bound: {a:'b,c=d'} and {a:'b',c:'d'} give different blobs", async () => {
      const [, onePair, twoPairs] = VECTORS;
      assert.ok(onePair && twoPairs);
      assert.notEqual(onePair.blob, twoPairs.blob);
      assertInvalidCiphertext(() =>
        openSymmetric(Buffer.from(M1, "hex"), Buffer.from(onePair.blob, "hex"), twoPairs.context),
      );
    });
  });

  describe("every failure is the same error", () => {
    const plaintext = Buffer.from("attack at dawn, bring 32 bytes!!");
    const blob = sealSymmetric(MATERIAL, VERSION_ID, plaintext, CONTEXT);
    const regions: ReadonlyArray<readonly [string, number, number]> = [
      ["format version", 0, 1],
      ["key version id", 1, 17],
      ["algorithm", 17, 18],
      ["nonce", 18, 50],
      ["commitment", 50, 82],
      ["body", 82, blob.length - 16],
      ["tag", blob.length - 16, blob.length],
    ];

    test("invalidCiphertext() is that error", async () => {
      assertInvalidCiphertext(() => {
        throw invalidCiphertext();
      });
    });

    for (const [region, start, end] of regions) {
      test(`a flipped bit anywhere in the ${region}`, async () => {
        for (let i = start; i < end; i++) {
          for (const mask of [0x01, 0x80]) {
            const tampered = Buffer.from(blob);
            tampered[i] = (tampered[i] as number) ^ mask;
            assertInvalidCiphertext(() => openSymmetric(MATERIAL, tampered, CONTEXT), `${region} byte ${i}`);
          }
        }
      });
    }

    test("unknown format version or algorithm, also when only reading the key version id", async () => {
      for (const [index, value] of [[0, 0x00], [0, 0x02], [0, 0xff], [17, 0x00], [17, 0x03], [17, 0xff]] as const) {
        const other = Buffer.from(blob);
        other[index] = value;
        assertInvalidCiphertext(() => readKeyVersionId(other), `byte ${index} = ${value}`);
        assertInvalidCiphertext(() => openSymmetric(MATERIAL, other, CONTEXT), `byte ${index} = ${value}`);
      }
      // Algorithm 0x02 (AES-GCM in the HSM) names its version the same way, but software material never opens it.
      const hsm = Buffer.from(blob);
      hsm[17] = 0x02;
      assert.equal(readKeyVersionId(hsm), VERSION_ID);
      assertInvalidCiphertext(() => openSymmetric(MATERIAL, hsm, CONTEXT));
    });

    test("truncation at any length, and an empty blob", async () => {
      for (const length of [0, 1, 16, 17, 18, 49, 50, 81, 82, 83, 97, 98, 100, blob.length - 16, blob.length - 1]) {
        const truncated = blob.subarray(0, length);
        assertInvalidCiphertext(() => openSymmetric(MATERIAL, truncated, CONTEXT), `length ${length}`);
        if (length < CIPHERTEXT_OVERHEAD) assertInvalidCiphertext(() => readKeyVersionId(truncated), `length ${length}`);
      }
      assertInvalidCiphertext(() => openSymmetric(MATERIAL, new Uint8Array(0), CONTEXT));
      assertInvalidCiphertext(() => readKeyVersionId(new Uint8Array(0)));
    });

    test("extra bytes appended", async () => {
      assertInvalidCiphertext(() => openSymmetric(MATERIAL, Buffer.concat([blob, Buffer.of(0)]), CONTEXT));
    });

    test("a blob of the right shape that was never sealed", async () => {
      const forged = crypto.randomBytes(blob.length);
      forged[0] = 0x01;
      forged[17] = 0x01;
      assertInvalidCiphertext(() => openSymmetric(MATERIAL, forged, CONTEXT));
    });

    test("the wrong key", async () => {
      assertInvalidCiphertext(() => openSymmetric(OTHER_MATERIAL, blob, CONTEXT));
      const oneBitOff = Buffer.from(MATERIAL);
      oneBitOff[31] = (oneBitOff[31] as number) ^ 1;
      assertInvalidCiphertext(() => openSymmetric(oneBitOff, blob, CONTEXT));
    });

    test("the wrong context: extra key, missing key, other case, other value, empty", async () => {
      const wrong: EncryptionContext[] = [
        { ...CONTEXT, extra: "1" },
        { tenant: "acme" },
        { Tenant: "acme", purpose: "backup" },
        { tenant: "ACME", purpose: "backup" },
        { tenant: "acme", purpose: "backup " },
        { tenant: "acme", purpose: "" },
        {},
      ];
      for (const context of wrong) {
        assertInvalidCiphertext(() => openSymmetric(MATERIAL, blob, context), JSON.stringify(context));
      }
      const noContext = sealSymmetric(MATERIAL, VERSION_ID, plaintext, {});
      assertInvalidCiphertext(() => openSymmetric(MATERIAL, noContext, { a: "" }));
    });

    test("a header spliced onto another message's body", async () => {
      const other = sealSymmetric(MATERIAL, VERSION_ID, plaintext, CONTEXT);
      const spliced = Buffer.concat([blob.subarray(0, HEADER_LENGTH), other.subarray(HEADER_LENGTH)]);
      assertInvalidCiphertext(() => openSymmetric(MATERIAL, spliced, CONTEXT));
    });
  });

  describe("key commitment", () => {
    const plaintext = Buffer.from("committed to one key");

    test("a wrong key is refused at the commitment, before GCM runs", async () => {
      const blob = sealSymmetric(MATERIAL, VERSION_ID, plaintext, CONTEXT);
      const decipher = mock.method(crypto, "createDecipheriv");
      assertInvalidCiphertext(() => openSymmetric(OTHER_MATERIAL, blob, CONTEXT));
      assert.equal(decipher.mock.callCount(), 0);
      const tamperedCommitment = Buffer.from(blob);
      tamperedCommitment[60] = (tamperedCommitment[60] as number) ^ 1;
      assertInvalidCiphertext(() => openSymmetric(MATERIAL, tamperedCommitment, CONTEXT));
      assert.equal(decipher.mock.callCount(), 0);
      // The right key gets past the commitment and into GCM.
      assert.deepEqual(openSymmetric(MATERIAL, blob, CONTEXT), plaintext);
      assert.equal(decipher.mock.callCount(), 1);
    });

    test("a blob whose GCM part is valid under key B but commits to key A is refused by B", async () => {
      // Sealed under A; then re-encrypt the body under B's derived key and IV with A's
      // commitment left in the header (and so in the AAD). GCM alone would accept it under B.
      const blob = sealSymmetric(MATERIAL, VERSION_ID, plaintext, CONTEXT);
      const header = Buffer.from(blob.subarray(0, HEADER_LENGTH));
      const underB = deriveForTest(OTHER_MATERIAL, header);
      const gcmUnderB = (h: Buffer) => {
        const cipher = crypto.createCipheriv("aes-256-gcm", underB.key, underB.iv);
        cipher.setAAD(Buffer.concat([h, canonicalEncryptionContext(CONTEXT)]));
        return Buffer.concat([h, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
      };
      // Check the GCM part really is valid under B, with the spec's AAD.
      const forged = gcmUnderB(header);
      const check = crypto.createDecipheriv("aes-256-gcm", underB.key, underB.iv);
      check.setAAD(Buffer.concat([header, canonicalEncryptionContext(CONTEXT)]));
      check.setAuthTag(forged.subarray(forged.length - 16));
      assert.deepEqual(Buffer.concat([check.update(forged.subarray(82, forged.length - 16)), check.final()]), plaintext);

      assertInvalidCiphertext(() => openSymmetric(OTHER_MATERIAL, forged, CONTEXT));
      // Control: with B's own commitment the same construction opens under B (and not under A).
      const headerB = Buffer.from(header);
      underB.commitment.copy(headerB, 50);
      const honestB = gcmUnderB(headerB);
      assert.deepEqual(openSymmetric(OTHER_MATERIAL, honestB, CONTEXT), plaintext);
      assertInvalidCiphertext(() => openSymmetric(MATERIAL, honestB, CONTEXT));
    });

    test("the commitment in the header is the spec's derivation", async () => {
      const blob = sealSymmetric(MATERIAL, VERSION_ID, plaintext, CONTEXT);
      assert.deepEqual(blob.subarray(50, 82), deriveForTest(MATERIAL, blob).commitment);
    });
  });

  describe("server-side faults are INTERNAL, not INVALID_CIPHERTEXT", () => {
    const blob = sealSymmetric(MATERIAL, VERSION_ID, Buffer.from("x"), {});

    test("material of the wrong length", async () => {
      assertInternal(() => sealSymmetric(MATERIAL.subarray(0, 16), VERSION_ID, Buffer.from("x"), {}));
      assertInternal(() => openSymmetric(Buffer.concat([MATERIAL, Buffer.of(0)]), blob, {}));
    });

    test("all-zero material (a cache buffer zeroed on eviction) is refused", async () => {
      assertInternal(() => sealSymmetric(Buffer.alloc(32), VERSION_ID, Buffer.from("x"), {}));
      assertInternal(() => openSymmetric(Buffer.alloc(32), blob, {}));
    });

    test("a key version id that is not a UUID, or a nonce of the wrong length", async () => {
      assertInternal(() => sealSymmetric(MATERIAL, "not-a-uuid", Buffer.from("x"), {}));
      assertInternal(() => sealSymmetric(MATERIAL, VERSION_ID.replaceAll("-", ""), Buffer.from("x"), {}));
      assertInternal(() => sealSymmetricWithNonce(MATERIAL, VERSION_ID, Buffer.from("x"), {}, Buffer.alloc(12)));
    });
  });
});
