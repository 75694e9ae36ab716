// Secondary authorization over real requests: a policy allowing one principal's Encrypt and
// Decrypt on keys of one account, an explicit Deny that wins, the default deny, health exempt,
// and the deciding rule in the log line.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createJsonLogger } from "@keyhold/server-kit";
import { startXkiProxyForTests, type TestXkiProxy } from "../test-support.ts";
import { decryptBody, encryptBody, healthBody, META, metadataBody } from "./support.ts";

const lines: string[] = [];
let proxy: TestXkiProxy;
before(async () => {
  proxy = await startXkiProxyForTests({
    logger: createJsonLogger({ level: "debug", write: (line) => lines.push(line) }),
    policy: {
      rules: [
        { id: "no-interns", effect: "Deny", principals: ["arn:aws:iam::*:user/intern-*"] },
        { id: "app-crypto", effect: "Allow", principals: ["arn:aws:iam::111122223333:*"], keys: ["arn:aws:kms:*:111122223333:key/*"], operations: ["Encrypt", "Decrypt", "GenerateDataKey*", "DescribeKey", "CreateKey"], prefixes: ["tenant-a"] },
      ],
    },
  });
  await proxy.admin.createKey({ externalKeyId: "k1" });
});
after(async () => {
  await proxy.close();
});

function lastLine(): Record<string, unknown> {
  return JSON.parse(lines.filter((l) => l.includes('"xks request')).at(-1) ?? "{}") as Record<string, unknown>;
}

describe("secondary authorization", () => {
  test("allowed: the rule that allowed is logged", async () => {
    const sealed = await proxy.xks("encrypt", "k1", encryptBody(Buffer.from("x")));
    assert.equal(sealed.status, 200);
    assert.equal(lastLine()["policyRule"], "app-crypto");
    assert.equal((await proxy.xks("decrypt", "k1", decryptBody(sealed.body))).status, 200);
    assert.equal((await proxy.xks("metadata", "k1", metadataBody)).status, 200);
    assert.equal((await proxy.xks("encrypt", "k1", { ...encryptBody(Buffer.from("x")), requestMetadata: { ...META, kmsOperation: "GenerateDataKeyWithoutPlaintext" } })).status, 200);
  });

  test("another account, another key's account, another operation: AccessDeniedException 403 by the default deny", async () => {
    const cases = [
      { ...META, awsPrincipalArn: "arn:aws:iam::999999999999:user/Mallory" },
      { ...META, kmsKeyArn: "arn:aws:kms:us-east-1:999999999999:key/1234" },
      { ...META, kmsOperation: "ReEncrypt" },
    ];
    for (const requestMetadata of cases) {
      const answer = await proxy.xks("encrypt", "k1", { ...encryptBody(Buffer.from("x")), requestMetadata });
      assert.equal(answer.status, 403);
      assert.equal(answer.body["errorName"], "AccessDeniedException");
      assert.equal(lastLine()["policyRule"], "(no rule allows)");
      assert.equal(lastLine()["policyDecision"], "deny");
    }
  });

  test("an explicit Deny wins over an Allow that also matches, and is named", async () => {
    const answer = await proxy.xks("encrypt", "k1", { ...encryptBody(Buffer.from("x")), requestMetadata: { ...META, awsPrincipalArn: "arn:aws:iam::111122223333:user/intern-bob" } });
    assert.equal(answer.status, 403);
    assert.match(answer.body["errorMessage"] as string, /no-interns/);
    assert.equal(lastLine()["policyRule"], "no-interns");
  });

  test("GetHealthStatus is not subject to it", async () => {
    assert.equal((await proxy.xks("health", undefined, healthBody)).status, 200);
  });

  test("authorization comes after authentication: an unsigned denied request is 401, not 403", async () => {
    const answer = await proxy.xks("encrypt", "k1", { ...encryptBody(Buffer.from("x")), requestMetadata: { ...META, kmsOperation: "ReEncrypt" } }, { unsigned: true });
    assert.equal(answer.status, 401);
  });
});
