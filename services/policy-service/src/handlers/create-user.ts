// CreateUser: iam:CreateUser on the new user's krn, krn:keyhold:iam::<caller account>:user/<name>.
import type { CreateUserRequestSchema, CreateUserResponseSchema } from "@keyhold/proto";
import { callerOf, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { MAX_USER_NAME_LENGTH, requireIamName, userKrn } from "../domain/names.ts";
import type { PrincipalRecord } from "../store/records.ts";
import { alreadyExists } from "./common.ts";
import { principalView } from "./views.ts";

export function createUser(ctx: AppContext): UnaryHandler<typeof CreateUserRequestSchema, typeof CreateUserResponseSchema> {
  return async (request, call) => {
    const caller = callerOf(call);
    const name = requireIamName(request.userName, "user_name", MAX_USER_NAME_LENGTH);
    const krn = userKrn(caller.accountId, name);
    await ctx.access.require(call, "iam:CreateUser", krn);
    const user: PrincipalRecord = { krn, accountId: caller.accountId, type: "user", name, trustPolicy: undefined, createdAt: ctx.clock.now() };
    if ((await ctx.store.createPrincipal(user)) === "exists") throw alreadyExists("user_name", "user");
    return { principal: principalView(user) };
  };
}
