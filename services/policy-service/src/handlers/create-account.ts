// CreateAccount: management account principals only, allowed iam:CreateAccount on
// krn:keyhold:iam::<management>:account/<new id>. The new account gets a role
// `AccountAccessRole` with AdministratorAccess that principals of the management account may
// assume (its trust policy names the management account): that is how the first users and
// API keys of the new account are made.
import type { CreateAccountRequestSchema, CreateAccountResponseSchema } from "@keyhold/proto";
import { accessDenied } from "@keyhold/authz";
import { callerOf, invalidArgument, KeyholdError, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { accountKrn, isAccountId, managedPolicyKrn, roleKrn } from "../domain/names.ts";
import { alreadyExists } from "./common.ts";
import { accountView } from "./views.ts";

export const ACCOUNT_ACCESS_ROLE = "AccountAccessRole";
const MAX_ACCOUNT_NAME_LENGTH = 128;
const ACCOUNT_NAME = /^[\x20-\x7e]*$/;

export function accountAccessTrustPolicy(managementAccountId: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Sid: "ManagementAccountAccess", Effect: "Allow", Principal: { KRN: managementAccountId }, Action: "sts:AssumeRole" }],
  });
}

export function createAccount(ctx: AppContext): UnaryHandler<typeof CreateAccountRequestSchema, typeof CreateAccountResponseSchema> {
  return async (request, call) => {
    const caller = callerOf(call);
    const management = ctx.config.managementAccountId;
    if (request.accountId !== "" && !isAccountId(request.accountId)) throw invalidArgument("account_id", "must be 12 digits");
    if (request.name.length > MAX_ACCOUNT_NAME_LENGTH) throw invalidArgument("name", `must be at most ${MAX_ACCOUNT_NAME_LENGTH} characters`);
    if (!ACCOUNT_NAME.test(request.name)) throw invalidArgument("name", "must be printable ASCII");
    let accountId = request.accountId;
    if (accountId === "") {
      for (let attempt = 0; attempt < 16 && (accountId === "" || (await ctx.store.getAccount(accountId)) !== undefined); attempt++) accountId = ctx.ids.accountId();
    }
    const resource = accountKrn(management, accountId);
    if (caller.accountId !== management) throw accessDenied("iam:CreateAccount", resource);
    await ctx.access.require(call, "iam:CreateAccount", resource);

    const now = ctx.clock.now();
    const account = { accountId, name: request.name, createdAt: now };
    const role = roleKrn(accountId, ACCOUNT_ACCESS_ROLE);
    await ctx.store.transaction(async (tx) => {
      if ((await tx.createAccount(account)) === "exists") throw alreadyExists("account_id", "account");
      await tx.createPrincipal({
        krn: role,
        accountId,
        type: "role",
        name: ACCOUNT_ACCESS_ROLE,
        trustPolicy: accountAccessTrustPolicy(management),
        createdAt: now,
      });
      if ((await tx.attachPolicy({ principalKrn: role, policyKrn: managedPolicyKrn("AdministratorAccess"), attachedAt: now }, false)) !== "ok") {
        throw new KeyholdError("INTERNAL", "could not set up the account access role");
      }
    });
    return { account: accountView(account) };
  };
}
