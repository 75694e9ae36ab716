import assert from "node:assert/strict";
import { test } from "node:test";
import { inspect } from "node:util";
import { RedactedSecret } from "./redacted-secret.ts";

test("a RedactedSecret reveals its value only through reveal()", () => {
  const secret = new RedactedSecret("s3cr3t-value", "HsmPin");
  assert.equal(secret.reveal(), "s3cr3t-value");
  for (const shown of [String(secret), "" + String(secret), JSON.stringify({ pin: secret }), inspect(secret), inspect({ nested: { secret } })]) {
    assert.doesNotMatch(shown, /s3cr3t/);
  }
  assert.equal(inspect(secret), "HsmPin([redacted])");
  assert.equal(JSON.stringify({ pin: secret }), '{"pin":"[redacted]"}');
});
