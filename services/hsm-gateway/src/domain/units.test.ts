// Pure parts: ECDSA signature encodings, and the PIN that never prints (the CKR_* table is
// tested in @keyhold/pkcs11).
import assert from "node:assert/strict";
import { generateKeyPairSync, sign } from "node:crypto";
import { inspect } from "node:util";
import { describe, test } from "node:test";
import { ConfigError, readHsmGatewayConfig } from "../config.ts";
import { ecdsaDerToRaw, ecdsaRawToDer } from "./signing.ts";

describe("ECDSA signature encodings", () => {
  test("DER from node round-trips through r‖s, for P-256 and P-384", () => {
    for (const [curve, field] of [["P-256", 32], ["P-384", 48]] as const) {
      const { privateKey } = generateKeyPairSync("ec", { namedCurve: curve });
      for (let i = 0; i < 50; i++) {
        const der = sign("sha256", Buffer.from(`m${i}`), { key: privateKey, dsaEncoding: "der" });
        const raw = sign("sha256", Buffer.from(`m${i}`), { key: privateKey, dsaEncoding: "ieee-p1363" });
        assert.equal(raw.length, field * 2);
        const converted = ecdsaDerToRaw(der, field);
        assert.ok(converted !== undefined);
        assert.deepEqual(ecdsaRawToDer(converted), der);
      }
    }
  });

  test("malformed DER is refused (undefined), never thrown", () => {
    for (const bad of [Buffer.alloc(0), Buffer.from([0x30]), Buffer.from([0x31, 0x00]), Buffer.from("3006020101020101ff", "hex"), Buffer.from("30060201010201", "hex")]) {
      assert.equal(ecdsaDerToRaw(bad, 32), undefined, bad.toString("hex"));
    }
    const tooLong = Buffer.concat([Buffer.from("3026022101", "hex"), Buffer.alloc(32, 1), Buffer.from("020101", "hex")]);
    assert.equal(ecdsaDerToRaw(tooLong, 32), undefined);
  });
});

describe("configuration", () => {
  const base = { KEYHOLD_HSM_MODULE: "/usr/lib/softhsm/libsofthsm2.so", KEYHOLD_HSM_TOKEN_LABEL: "t", KEYHOLD_HSM_PIN: "s3cret-pin-value" };

  test("defaults, and the PIN never shows when the config is printed, logged or serialized", () => {
    const config = readHsmGatewayConfig(base);
    assert.deepEqual(config.token, { label: "t" });
    assert.equal(config.poolSize, 8);
    assert.equal(config.callTimeoutMs, 10_000);
    assert.equal(config.pin.reveal(), "s3cret-pin-value");
    for (const printed of [JSON.stringify(config), inspect(config, { depth: 5 }), String(config.pin), [config.pin].join("")]) {
      assert.doesNotMatch(printed, /s3cret/);
    }
  });

  test("bad settings are refused with the variable named and the PIN not shown", () => {
    const cases: Record<string, string>[] = [
      { ...base, KEYHOLD_HSM_MODULE: "" },
      { ...base, KEYHOLD_HSM_SLOT: "0" },
      { ...base, KEYHOLD_HSM_TOKEN_LABEL: "" },
      { ...base, KEYHOLD_HSM_TOKEN_LABEL: "", KEYHOLD_HSM_SLOT: "-1" },
      { ...base, KEYHOLD_HSM_PIN: "" },
      { ...base, KEYHOLD_HSM_PIN_FILE: "/nonexistent/pin" },
      { ...base, KEYHOLD_HSM_POOL_SIZE: "0" },
      { ...base, KEYHOLD_HSM_CALL_TIMEOUT_MS: "soon" },
    ];
    for (const env of cases) {
      assert.throws(() => readHsmGatewayConfig(env), (error: unknown) => error instanceof ConfigError && !/s3cret/.test(error.message));
    }
    assert.deepEqual(readHsmGatewayConfig({ ...base, KEYHOLD_HSM_TOKEN_LABEL: "", KEYHOLD_HSM_SLOT: "7" }).token, { slot: 7 });
  });
});
