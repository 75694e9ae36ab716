import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { KeyholdError } from "@keyhold/server-kit";
import {
  MAX_ENCRYPTION_CONTEXT_BYTES,
  canonicalEncryptionContext,
  prefixedCanonicalEncryptionContext,
  validateEncryptionContext,
} from "./encryption-context.ts";
import type { EncryptionContext } from "./encryption-context.ts";

const hex = (context: EncryptionContext) => canonicalEncryptionContext(context).toString("hex");

// The same vectors as docs/ciphertext.md ("Canonical encryption context encoding").
const VECTORS: ReadonlyArray<readonly [EncryptionContext, string]> = [
  [{}, "00000000"],
  [{ a: "b,c=d" }, "00000001000000016100000005622c633d64"],
  [{ c: "d", a: "b" }, "000000020000000161000000016200000001630000000164"],
  [
    { "é": "ü", "Ａ": "x", "😀": "y", Z: "" },
    "00000004000000015a0000000000000002c3a900000002c3bc00000003efbca1000000017800000004f09f98800000000179",
  ],
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

describe("canonicalEncryptionContext", () => {
  test("known encodings", async () => {
    for (const [context, expected] of VECTORS) assert.equal(hex(context), expected, JSON.stringify(context));
  });

  test("the table in docs/ciphertext.md matches the code", async () => {
    const rows = docTable("## Canonical encryption context encoding");
    assert.deepEqual(
      rows.map(([json, encoding]) => [JSON.parse(json ?? ""), encoding]),
      VECTORS.map(([context, encoding]) => [context, encoding]),
    );
    for (const [json, encoding] of rows) assert.equal(hex(JSON.parse(json ?? "")), encoding);
  });

  test("is unambiguous: a value holding separators is not two pairs", async () => {
    assert.notEqual(hex({ a: "b,c=d" }), hex({ a: "b", c: "d" }));
    assert.notEqual(hex({ ab: "c" }), hex({ a: "bc" }));
    assert.notEqual(hex({ a: "" }), hex({}));
    assert.notEqual(hex({ "a=b": "c" }), hex({ a: "b=c" }));
  });

  test("insertion order does not matter", async () => {
    const forward: Record<string, string> = {};
    const backward: Record<string, string> = {};
    const keys = ["zeta", "alpha", "Mu", "ß", "日本", "🔑", "10", "9"];
    for (const key of keys) forward[key] = `v-${key}`;
    for (const key of [...keys].reverse()) backward[key] = `v-${key}`;
    assert.equal(hex(forward), hex(backward));
  });

  test("sorts by UTF-8 bytes, not UTF-16 code units", async () => {
    // UTF-16 puts U+1F600 (D83D DE00) before U+FF21; UTF-8 puts EF BC A1 before F0 9F 98 80.
    const encoded = canonicalEncryptionContext({ "😀": "1", "Ａ": "2" });
    assert.equal(encoded.indexOf(Buffer.from("Ａ")) < encoded.indexOf(Buffer.from("😀")), true);
  });

  test("is exact and case-sensitive", async () => {
    assert.notEqual(hex({ Tenant: "a" }), hex({ tenant: "a" }));
    assert.notEqual(hex({ tenant: "A" }), hex({ tenant: "a" }));
    assert.notEqual(hex({ tenant: "a " }), hex({ tenant: "a" }));
    assert.notEqual(hex({ "é": "x" }), hex({ "e\u0301": "x" })); // no Unicode normalisation
  });

  test("prefixed form leaves room for a header and encodes the same", async () => {
    const context = { b: "2", a: "1" };
    const prefixed = prefixedCanonicalEncryptionContext(82, context);
    assert.equal(prefixed.length, 82 + canonicalEncryptionContext(context).length);
    assert.deepEqual(prefixed.subarray(82), canonicalEncryptionContext(context));
    assert.deepEqual(prefixedCanonicalEncryptionContext(5, {}).subarray(5), Buffer.alloc(4));
  });
});

describe("validateEncryptionContext", () => {
  const invalid = (context: EncryptionContext, includes: string) => {
    assert.throws(
      () => validateEncryptionContext(context, "encryption_context"),
      (error: unknown) => {
        assert.ok(error instanceof KeyholdError);
        assert.equal(error.reason, "INVALID_ARGUMENT");
        assert.equal(error.field, "encryption_context");
        assert.match(error.message, /^encryption_context: /);
        assert.ok(error.message.includes(includes), error.message);
        return true;
      },
    );
  };

  test("accepts ordinary contexts", async () => {
    validateEncryptionContext({}, "encryption_context");
    validateEncryptionContext({ tenant: "acme", "😀": "", purpose: "a=b,c" }, "encryption_context");
  });

  test("refuses an empty key", () => invalid({ "": "x" }, "keys must not be empty"));

  test("refuses lone surrogates, which have no UTF-8 form", async () => {
    invalid({ a: "\uD800" }, "valid Unicode");
    invalid({ "\uDC00": "a" }, "valid Unicode");
    validateEncryptionContext({ a: "\uD83D\uDE00" }, "encryption_context"); // a proper pair
  });

  test("limits the encoding to 8192 bytes, exactly", async () => {
    const fill = (bytes: number) => ({ k: "v".repeat(bytes - 4 - 8 - 1) }); // canonical size = bytes
    assert.equal(canonicalEncryptionContext(fill(MAX_ENCRYPTION_CONTEXT_BYTES)).length, 8192);
    validateEncryptionContext(fill(MAX_ENCRYPTION_CONTEXT_BYTES), "encryption_context");
    invalid(fill(MAX_ENCRYPTION_CONTEXT_BYTES + 1), "8192");
    invalid(fill(MAX_ENCRYPTION_CONTEXT_BYTES + 1), "8193 bytes");
    // Multi-byte characters count as their UTF-8 length.
    invalid({ k: "é".repeat(4100) }, "8192");
  });

  test("messages never carry values", async () => {
    const secret = "s3cr3t-value";
    for (const context of [{ "": secret }, { k: secret + "x".repeat(9000) }, { a: secret + "\uD800" }]) {
      try {
        validateEncryptionContext(context, "encryption_context");
        assert.fail("should throw");
      } catch (error) {
        assert.ok(error instanceof KeyholdError);
        assert.ok(!error.message.includes(secret));
      }
    }
  });
});
