import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { PrincipalType } from "@keyhold/proto";
import {
  ACCOUNT,
  assertDenied,
  documentJson,
  invalid,
  MANAGEMENT_ACCOUNT,
  refusal,
  START,
  startTestPolicyService,
  UNAUTHENTICATED,
  type TestPolicyService,
} from "../test-support.ts";
import { ACCOUNT_ACCESS_ROLE } from "./create-account.ts";

describe("CreateAccount / ListAccounts", () => {
  let service: TestPolicyService;
  before(async () => {
    service = await startTestPolicyService();
  });
  after(() => service.close());

  test("the management administrator creates an account with a given or generated id", async () => {
    const { account } = await service.admin.iam.createAccount({ accountId: "222233334444", name: "team a" });
    assert.equal(account!.accountId, "222233334444");
    assert.equal(account!.name, "team a");
    assert.deepEqual(timestampDate(account!.creationDate!), START);
    const generated = (await service.admin.iam.createAccount({ name: "generated" })).account!;
    assert.match(generated.accountId, /^[0-9]{12}$/);
    assert.notEqual(generated.accountId, "222233334444");
    assert.deepEqual(await refusal(service.admin.iam.createAccount({ accountId: "222233334444" })), {
      code: Code.AlreadyExists,
      reason: "ALREADY_EXISTS",
      field: "account_id",
    });
  });

  test("the new account's AccountAccessRole lets management principals in; as it they set up the account", async () => {
    const { account } = await service.admin.iam.createAccount({ accountId: "555566667777" });
    const roleKrn = `krn:keyhold:iam::${account!.accountId}:role/${ACCOUNT_ACCESS_ROLE}`;
    const role = (await service.admin.sts.assumeRole({ roleKrn, roleSessionName: "setup" })).sessionToken;
    const inside = service.as(role);
    const identity = await inside.sts.getCallerIdentity({});
    assert.equal(identity.accountId, "555566667777");
    assert.equal(identity.type, PrincipalType.ROLE);
    const user = (await inside.iam.createUser({ userName: "first" })).principal!;
    const key = await inside.iam.createApiKey({ principalKrn: user.krn });
    assert.equal((await service.as(key.secret).sts.getCallerIdentity({})).principalKrn, user.krn);
    // Principals of other accounts cannot assume it.
    const outsider = await service.user(ACCOUNT, "outsider", ["AdministratorAccess"]);
    await assertDenied(outsider.clients.sts.assumeRole({ roleKrn, roleSessionName: "nope" }), "sts:AssumeRole", roleKrn);
  });

  test("validation names the field", async () => {
    assert.deepEqual(await refusal(service.admin.iam.createAccount({ accountId: "12345" })), invalid("account_id"));
    assert.deepEqual(await refusal(service.admin.iam.createAccount({ accountId: "12345678901a" })), invalid("account_id"));
    assert.deepEqual(await refusal(service.admin.iam.createAccount({ name: "n".repeat(129) })), invalid("name"));
    assert.deepEqual(await refusal(service.admin.iam.createAccount({ name: "tab\there" })), invalid("name"));
  });

  test("only management account principals allowed iam:CreateAccount may create accounts", async () => {
    const other = await service.root(ACCOUNT);
    await assertDenied(other.clients.iam.createAccount({ accountId: "888899990000" }), "iam:CreateAccount", `krn:keyhold:iam::${MANAGEMENT_ACCOUNT}:account/888899990000`);
    const weak = await service.user(MANAGEMENT_ACCOUNT, "weak", ["KeyAdministrator"]);
    await assertDenied(weak.clients.iam.createAccount({ accountId: "888899990000" }), "iam:CreateAccount", `krn:keyhold:iam::${MANAGEMENT_ACCOUNT}:account/888899990000`);
    await assertDenied(weak.clients.iam.listAccounts({}), "iam:ListAccounts", `krn:keyhold:iam::${MANAGEMENT_ACCOUNT}:account/*`);
    await assertDenied(other.clients.iam.listAccounts({}), "iam:ListAccounts", `krn:keyhold:iam::${MANAGEMENT_ACCOUNT}:account/*`);
    const scoped = (await service.app.context.store.putPolicy({
      krn: `krn:keyhold:iam::${MANAGEMENT_ACCOUNT}:policy/create-accounts`,
      accountId: MANAGEMENT_ACCOUNT,
      name: "create-accounts",
      description: "",
      document: documentJson({ Effect: "Allow", Action: "iam:CreateAccount", Resource: `krn:keyhold:iam::${MANAGEMENT_ACCOUNT}:account/8*` }),
      createdAt: START,
      updatedAt: START,
    }));
    const creator = await service.user(MANAGEMENT_ACCOUNT, "creator", [scoped.krn]);
    assert.equal((await creator.clients.iam.createAccount({ accountId: "888899990000" })).account!.accountId, "888899990000");
    await assertDenied(creator.clients.iam.createAccount({ accountId: "777799990000" }), "iam:CreateAccount", `krn:keyhold:iam::${MANAGEMENT_ACCOUNT}:account/777799990000`);
    assert.equal((await service.app.context.store.getAccount("888899990000"))?.accountId, "888899990000");
    assert.equal(await service.app.context.store.getAccount("777799990000"), undefined);
  });

  test("ListAccounts pages through every account in id order", async () => {
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await service.admin.iam.listAccounts({ pageSize: 2, pageToken });
      assert.ok(page.accounts.length <= 2);
      seen.push(...page.accounts.map((a) => a.accountId));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    assert.deepEqual(seen, [...seen].sort());
    assert.ok(seen.includes(MANAGEMENT_ACCOUNT) && seen.includes("222233334444"));
    assert.equal(seen.length, (await service.app.context.store.countAccounts()));
    assert.deepEqual(await refusal(service.admin.iam.listAccounts({ pageSize: 1001 })), invalid("page_size"));
    assert.deepEqual(await refusal(service.admin.iam.listAccounts({ pageToken: "garbage" })), invalid("page_token"));
  });

  test("calls without a credential, or with a bad one, are UNAUTHENTICATED", async () => {
    assert.deepEqual(await refusal(service.as(undefined).iam.listAccounts({})), UNAUTHENTICATED);
    assert.deepEqual(await refusal(service.as("khk_0000000000000000_nope").iam.listAccounts({})), UNAUTHENTICATED);
  });
});
