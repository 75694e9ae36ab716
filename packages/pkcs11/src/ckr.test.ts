// The CKR_* table and names, and the PIN that never prints.
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { describe, test } from "node:test";
import { ckrName, ckrOf, ckrRule } from "./ckr.ts";
import { HsmPin } from "./pin.ts";

describe("the CKR_* table", () => {
  test("session, login and module failures are HSM_UNAVAILABLE with their recovery; caller faults keep the session", () => {
    assert.deepEqual(ckrRule("CKR_SESSION_HANDLE_INVALID"), { reason: "HSM_UNAVAILABLE", recovery: "session" });
    assert.deepEqual(ckrRule("CKR_USER_NOT_LOGGED_IN"), { reason: "HSM_UNAVAILABLE", recovery: "login" });
    for (const name of ["CKR_DEVICE_ERROR", "CKR_TOKEN_NOT_PRESENT", "CKR_DEVICE_REMOVED", "CKR_CRYPTOKI_NOT_INITIALIZED"]) {
      assert.deepEqual(ckrRule(name), { reason: "HSM_UNAVAILABLE", recovery: "module" }, name);
    }
    assert.deepEqual(ckrRule("CKR_KEY_HANDLE_INVALID"), { reason: "KEY_NOT_FOUND", recovery: "none" });
    assert.deepEqual(ckrRule("CKR_KEY_FUNCTION_NOT_PERMITTED"), { reason: "KEY_USAGE_MISMATCH", recovery: "none" });
    assert.deepEqual(ckrRule("CKR_ENCRYPTED_DATA_INVALID"), { reason: "INVALID_CIPHERTEXT", recovery: "none" });
    assert.deepEqual(ckrRule("CKR_SOMETHING_NEW"), { reason: "INTERNAL", recovery: "session" });
  });

  test("names from codes and from pkcs11js errors, vendor-defined values included", () => {
    assert.equal(ckrName(0xb3), "CKR_SESSION_HANDLE_INVALID");
    assert.equal(ckrName(0x1b), "CKR_ACTION_PROHIBITED");
    assert.equal(ckrName(0x80000123), "CKR_0x80000123");
    assert.equal(ckrOf(new Error("CKR_DEVICE_ERROR:48")), "CKR_DEVICE_ERROR");
    assert.equal(ckrOf(new Error("CKR_VENDOR_DEFINED:27")), "CKR_ACTION_PROHIBITED");
    assert.equal(ckrOf(new Error("something else")), undefined);
    assert.equal(ckrOf("not an error"), undefined);
  });
});

describe("HsmPin", () => {
  test("reveal() gives the PIN; printing, JSON and inspect never do", () => {
    const pin = new HsmPin("s3cret-pin-value");
    assert.equal(pin.reveal(), "s3cret-pin-value");
    for (const printed of [JSON.stringify({ pin }), inspect(pin), inspect({ pin }, { depth: 3 }), String(pin), [pin].join("")]) {
      assert.doesNotMatch(printed, /s3cret/);
    }
  });
});
