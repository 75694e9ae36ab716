import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { KeyholdError, type CallContext, type Principal } from "@keyhold/server-kit";
import { readQuotaConfig } from "./config.ts";
import { RateLimits } from "./rate-limit-interceptor.ts";
import { LocalTokenBuckets } from "./token-bucket.ts";

const user = (accountId: string): Principal => ({ accountId, krn: `krn:keyhold:iam::${accountId}:user/u`, kind: "user", name: "u" });
const service: Principal = { accountId: "", krn: "krn:keyhold:iam::keyhold:service/secrets-service", kind: "service", name: "secrets-service" };

/** Only what the interceptor reads of a call: its method's name and the principal. */
function callOf(method: string, principal: Principal | undefined): CallContext {
  return { method: { name: method }, principal } as unknown as CallContext;
}

describe("RateLimits interceptor", () => {
  const quotas = readQuotaConfig({ KEYHOLD_QUOTA_SYMMETRIC_RPS: "1", KEYHOLD_QUOTA_SYMMETRIC_BURST: "1" });
  const handler = () => Promise.resolve("done");

  test("counts per account and class; refuses with THROTTLED and the wait", async () => {
    const entry = new RateLimits({ limiter: new LocalTokenBuckets(), quotas }).interceptor()(handler);
    assert.equal(await entry({}, callOf("Encrypt", user("111122223333"))), "done");
    const refused = await entry({}, callOf("Decrypt", user("111122223333"))).then(() => undefined, (e: unknown) => e);
    assert.ok(refused instanceof KeyholdError);
    assert.equal(refused.reason, "THROTTLED");
    assert.equal(refused.code, Code.ResourceExhausted);
    assert.ok(refused.retryAfterMs !== undefined && refused.retryAfterMs > 0 && refused.retryAfterMs <= 1000);
    assert.equal(refused.metadata["operationClass"], "symmetric");
    // Another account, an unlimited class, a service acting for itself, no principal: not refused.
    assert.equal(await entry({}, callOf("Encrypt", user("444455556666"))), "done");
    assert.equal(await entry({}, callOf("CreateKey", user("111122223333"))), "done");
    for (let i = 0; i < 3; i++) assert.equal(await entry({}, callOf("Encrypt", service)), "done");
    assert.equal(await entry({}, callOf("Encrypt", undefined)), "done");
  });
});
