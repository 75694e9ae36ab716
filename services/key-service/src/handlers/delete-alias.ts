import type { DeleteAliasRequestSchema, DeleteAliasResponseSchema } from "@keyhold/proto";
import { callerOf, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { aliasNotFound } from "../domain/key-resolver.ts";
import { validateCustomerAliasName } from "../domain/names.ts";

export function deleteAlias(ctx: AppContext): UnaryHandler<typeof DeleteAliasRequestSchema, typeof DeleteAliasResponseSchema> {
  return async (request, call) => {
    validateCustomerAliasName(request.aliasName, "alias_name");
    if (ctx.store.deleteAlias(callerOf(call).accountId, request.aliasName) === "missing") throw aliasNotFound("alias_name");
    return {};
  };
}
