// CreateRole: iam:CreateRole on the new role's krn, krn:keyhold:iam::<caller account>:role/<name>.
// The trust policy (who may assume the role) is required and validated.
import type { CreateRoleRequestSchema, CreateRoleResponseSchema } from "@keyhold/proto";
import { callerOf, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { MAX_ROLE_NAME_LENGTH, requireIamName, roleKrn } from "../domain/names.ts";
import type { PrincipalRecord } from "../store/records.ts";
import { alreadyExists, validatePolicyDocument } from "./common.ts";
import { principalView } from "./views.ts";

export function createRole(ctx: AppContext): UnaryHandler<typeof CreateRoleRequestSchema, typeof CreateRoleResponseSchema> {
  return async (request, call) => {
    const caller = callerOf(call);
    const name = requireIamName(request.roleName, "role_name", MAX_ROLE_NAME_LENGTH);
    validatePolicyDocument(request.trustPolicy, "trust", "trust_policy");
    const krn = roleKrn(caller.accountId, name);
    await ctx.access.require(call, "iam:CreateRole", krn);
    const role: PrincipalRecord = { krn, accountId: caller.accountId, type: "role", name, trustPolicy: request.trustPolicy, createdAt: ctx.clock.now() };
    if ((await ctx.store.createPrincipal(role)) === "exists") throw alreadyExists("role_name", "role");
    return { principal: principalView(role) };
  };
}
