import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, integerSetting } from "./config-values.ts";

test("integerSetting: the default when unset or empty, the value within bounds, else a ConfigError naming the variable", () => {
  assert.equal(integerSetting({}, "N", 7), 7);
  assert.equal(integerSetting({ N: "" }, "N", 7), 7);
  assert.equal(integerSetting({ N: "0" }, "N", 7), 0);
  assert.equal(integerSetting({ N: "19" }, "N", 7, { min: 0, max: 19 }), 19);
  const refused = (env: Record<string, string>, bounds: { min?: number; max?: number }, message: string) =>
    assert.throws(() => integerSetting(env, "N", 1, bounds), (error: unknown) => error instanceof ConfigError && error.message === message);
  refused({ N: "-1" }, {}, 'N must be a non-negative integer, got "-1"');
  refused({ N: "0" }, { min: 1 }, 'N must be a positive integer, got "0"');
  refused({ N: "20" }, { min: 0, max: 19 }, 'N must be an integer from 0 to 19, got "20"');
  refused({ N: "1.5" }, {}, 'N must be a non-negative integer, got "1.5"');
  refused({ N: "ten" }, { min: 5 }, 'N must be an integer of at least 5, got "ten"');
});
