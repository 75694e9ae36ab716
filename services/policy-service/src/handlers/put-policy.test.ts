import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import {
  ACCOUNT,
  assertDenied,
  detailedRefusal,
  documentJson,
  invalid,
  refusal,
  START,
  startTestPolicyService,
  type TestPolicyService,
  type TestUser,
} from "../test-support.ts";

const DOC = documentJson({ Sid: "Use", Effect: "Allow", Action: ["kms:Encrypt", "kms:Decrypt"], Resource: `krn:keyhold:kms:*:${ACCOUNT}:key/*` });

describe("PutPolicy", () => {
  let service: TestPolicyService;
  let admin: TestUser;
  before(async () => {
    service = await startTestPolicyService();
    admin = await service.user(ACCOUNT, "admin", ["AdministratorAccess"]);
  });
  after(() => service.close());

  test("creates a customer-managed policy, and replaces it keeping the creation date", async () => {
    const { policy } = await admin.clients.iam.putPolicy({ policyName: "encryptors", description: "apps that encrypt", document: DOC });
    assert.equal(policy!.krn, `krn:keyhold:iam::${ACCOUNT}:policy/encryptors`);
    assert.equal(policy!.name, "encryptors");
    assert.equal(policy!.description, "apps that encrypt");
    assert.equal(policy!.document, DOC);
    assert.equal(policy!.managed, false);
    assert.deepEqual(timestampDate(policy!.creationDate!), START);
    service.clock.advance(60_000);
    const next = documentJson({ Effect: "Allow", Action: "kms:Encrypt", Resource: "*" });
    const replaced = (await admin.clients.iam.putPolicy({ policyName: "encryptors", document: next })).policy!;
    assert.equal(replaced.document, next);
    assert.equal(replaced.description, "");
    assert.deepEqual(timestampDate(replaced.creationDate!), START);
    assert.deepEqual(timestampDate(replaced.updateDate!), new Date(START.getTime() + 60_000));
  });

  test("a malformed document is INVALID_ARGUMENT naming the statement and the field inside the document", async () => {
    const bad = documentJson([
      { Effect: "Allow", Action: "kms:Encrypt", Resource: "*" },
      { Sid: "Oops", Effect: "allow", Action: "kms:Decrypt", Resource: "*" },
    ]);
    const refused = await detailedRefusal(admin.clients.iam.putPolicy({ policyName: "bad", document: bad }));
    assert.equal(refused.code, Code.InvalidArgument);
    assert.equal(refused.field, "document.Statement[1].Effect");
    assert.equal(refused.metadata["statement"], "1");
    assert.match(refused.message, /^document\.Statement\[1\]\.Effect: .*"Allow" or "Deny".*statement 1, Sid "Oops"/);
    const cases: [string, string][] = [
      ["", "document"],
      ["not json", "document"],
      ["[]", "document"],
      [JSON.stringify({ Statement: [] }), "document.Version"],
      [documentJson({ Effect: "Allow", Action: "kms:Encrypt" }), "document.Statement.Resource"],
      [documentJson({ Effect: "Allow", Action: "kms:Encrypt", Resource: "*", Principal: "*" }), "document.Statement.Principal"],
      [documentJson({ Effect: "Allow", Action: "kms", Resource: "*" }), "document.Statement.Action"],
      [documentJson([{ Effect: "Allow", Action: "kms:Encrypt", Resource: "*", Condition: { IpAddress: { "keyhold:SourceIp": "nope" } } }]), "document.Statement[0].Condition.IpAddress.keyhold:SourceIp"],
    ];
    for (const [document, field] of cases) {
      assert.deepEqual(await refusal(admin.clients.iam.putPolicy({ policyName: "bad", document })), invalid(field), document);
    }
    assert.equal(await service.app.context.store.getPolicy(`krn:keyhold:iam::${ACCOUNT}:policy/bad`), undefined);
  });

  test("names and descriptions are validated", async () => {
    assert.deepEqual(await refusal(admin.clients.iam.putPolicy({ policyName: "", document: DOC })), invalid("policy_name"));
    assert.deepEqual(await refusal(admin.clients.iam.putPolicy({ policyName: "p".repeat(129), document: DOC })), invalid("policy_name"));
    assert.deepEqual(await refusal(admin.clients.iam.putPolicy({ policyName: "a/b", document: DOC })), invalid("policy_name"));
    assert.deepEqual(await refusal(admin.clients.iam.putPolicy({ policyName: "ok", description: "x".repeat(1001), document: DOC })), invalid("description"));
  });

  test("needs iam:PutPolicy on the policy krn", async () => {
    const keyAdmin = await service.user(ACCOUNT, "keyadmin", ["KeyAdministrator"]);
    await assertDenied(keyAdmin.clients.iam.putPolicy({ policyName: "mine", document: DOC }), "iam:PutPolicy", `krn:keyhold:iam::${ACCOUNT}:policy/mine`);
  });
});
