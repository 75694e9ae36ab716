// The policy document: parsing with every problem named, glob patterns, deny over allow, the
// default deny.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AuthorizationPolicy, PolicyError, type AuthorizationInput } from "./policy.ts";

const input = (over: Record<string, string | undefined> = {}, rest: Partial<Omit<AuthorizationInput, "metadata">> = {}): AuthorizationInput => ({
  prefix: "tenant-a",
  xksOperation: "encrypt",
  externalKeyId: "k1",
  metadata: JSON.parse(JSON.stringify({ awsPrincipalArn: "arn:aws:iam::111122223333:role/app", kmsKeyArn: "arn:aws:kms:us-east-1:111122223333:key/abc", kmsOperation: "Encrypt", kmsRequestId: "r", ...over })) as AuthorizationInput["metadata"],
  ...rest,
});

describe("AuthorizationPolicy", () => {
  const policy = AuthorizationPolicy.parse({
    rules: [
      { id: "deny-k2", effect: "Deny", externalKeyIds: ["k2"] },
      { id: "app", effect: "Allow", principals: ["arn:aws:iam::111122223333:role/ap?"], operations: ["Encrypt", "GenerateDataKey*"], xksOperations: ["encrypt"] },
      { id: "describe", effect: "Allow", operations: ["DescribeKey"], keys: ["*"] },
    ],
  });

  test("the first matching Allow allows and is named; ? and * match one and many characters", () => {
    assert.deepEqual(policy.decide(input()), { allowed: true, rule: "app" });
    assert.deepEqual(policy.decide(input({ kmsOperation: "GenerateDataKeyPair" })), { allowed: true, rule: "app" });
    assert.deepEqual(policy.decide(input({ kmsOperation: "DescribeKey", kmsKeyArn: undefined }, { xksOperation: "metadata" })), { allowed: true, rule: "describe" });
  });

  test("a Deny wins wherever it stands; nothing matching is the default deny", () => {
    assert.deepEqual(policy.decide(input({}, { externalKeyId: "k2" })), { allowed: false, rule: "deny-k2" });
    assert.deepEqual(policy.decide(input({ awsPrincipalArn: "arn:aws:iam::111122223333:role/apps" })), { allowed: false, rule: "(no rule allows)" });
    assert.deepEqual(policy.decide(input({}, { xksOperation: "decrypt" })), { allowed: false, rule: "(no rule allows)" });
    // Regular-expression characters in patterns are literal.
    const literal = AuthorizationPolicy.parse({ rules: [{ id: "dot", effect: "Allow", principals: ["a.b"] }] });
    assert.equal(literal.decide(input({ awsPrincipalArn: "aXb" })).allowed, false);
    assert.equal(literal.decide(input({ awsPrincipalArn: "a.b" })).allowed, true);
  });

  test("bad documents are refused naming the rule and field", () => {
    const bad: [unknown, RegExp][] = [
      [{}, /rules must be an array/],
      [{ rules: [null] }, /rules\[0\] must be an object/],
      [{ rules: [{ effect: "Allow" }] }, /rules\[0\]\.id/],
      [{ rules: [{ id: "a", effect: "Permit" }] }, /rules\[0\]\.effect/],
      [{ rules: [{ id: "a", effect: "Allow", principal: ["x"] }] }, /rules\[0\]\.principal is not a known field/],
      [{ rules: [{ id: "a", effect: "Allow", principals: [] }] }, /rules\[0\]\.principals must be a non-empty array/],
      [{ rules: [{ id: "a", effect: "Allow", principals: [1] }] }, /rules\[0\]\.principals/],
      [{ rules: [{ id: "a", effect: "Allow" }, { id: "a", effect: "Deny" }] }, /rules\[1\]\.id "a" is used twice/],
    ];
    for (const [doc, message] of bad) assert.throws(() => AuthorizationPolicy.parse(doc), (e: unknown) => e instanceof PolicyError && message.test(e.message));
  });
});
