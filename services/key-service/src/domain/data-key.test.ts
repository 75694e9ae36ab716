import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DataKeySpec } from "@keyhold/proto";
import { KeyholdError } from "@keyhold/server-kit";
import { dataKeyLength } from "./data-key.ts";

function invalid(keySpec: DataKeySpec, numberOfBytes: number, field: string, message: string): void {
  assert.throws(
    () => dataKeyLength(keySpec, numberOfBytes),
    (error: unknown) => {
      assert.ok(error instanceof KeyholdError);
      assert.equal(error.reason, "INVALID_ARGUMENT");
      assert.equal(error.field, field);
      assert.equal(error.message, `${field}: ${message}`);
      return true;
    },
    `${keySpec}/${numberOfBytes}`,
  );
}

describe("dataKeyLength", () => {
  test("key_spec alone", async () => {
    assert.equal(dataKeyLength(DataKeySpec.AES_256, 0), 32);
    assert.equal(dataKeyLength(DataKeySpec.AES_128, 0), 16);
  });

  test("neither defaults to AES_256 (32 bytes)", async () => {
    assert.equal(dataKeyLength(DataKeySpec.UNSPECIFIED, 0), 32);
  });

  test("number_of_bytes alone, 1 to 1024", async () => {
    for (const n of [1, 16, 32, 64, 1000, 1024]) assert.equal(dataKeyLength(DataKeySpec.UNSPECIFIED, n), n);
  });

  test("number_of_bytes out of range", async () => {
    for (const n of [-1, -1024, 1025, 4096, 2 ** 31 - 1, 1.5]) {
      invalid(DataKeySpec.UNSPECIFIED, n, "number_of_bytes", "must be between 1 and 1024");
    }
  });

  test("both is refused", async () => {
    invalid(DataKeySpec.AES_256, 32, "key_spec", "specify key_spec or number_of_bytes, not both");
    invalid(DataKeySpec.AES_128, 16, "key_spec", "specify key_spec or number_of_bytes, not both");
    invalid(DataKeySpec.AES_256, 5000, "key_spec", "specify key_spec or number_of_bytes, not both");
  });

  test("an unknown key_spec is refused", async () => {
    invalid(3 as DataKeySpec, 0, "key_spec", "unknown data key spec");
    invalid(-1 as DataKeySpec, 0, "key_spec", "unknown data key spec");
  });
});
