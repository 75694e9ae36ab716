import { recordAuditDetails } from "@keyhold/audit-client";
import type { DeleteAliasRequestSchema, DeleteAliasResponseSchema } from "@keyhold/proto";
import { callerOf, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { aliasNotFound } from "../domain/key-resolver.ts";
import { aliasKrn, keyKrn, validateCustomerAliasName } from "../domain/names.ts";

/** Deleting an alias needs kms:DeleteAlias on the alias and on its key. */
export function deleteAlias(ctx: AppContext): UnaryHandler<typeof DeleteAliasRequestSchema, typeof DeleteAliasResponseSchema> {
  return async (request, call) => {
    const accountId = callerOf(call).accountId;
    validateCustomerAliasName(request.aliasName, "alias_name");
    recordAuditDetails(call, { resource: aliasKrn(ctx.config.region, accountId, request.aliasName) });
    await ctx.access.require(call, "kms:DeleteAlias", aliasKrn(ctx.config.region, accountId, request.aliasName));
    const existing = ctx.store.getAlias(accountId, request.aliasName);
    if (existing === undefined) throw aliasNotFound("alias_name");
    await ctx.access.require(call, "kms:DeleteAlias", keyKrn(ctx.config.region, accountId, existing.targetKeyId));
    if (ctx.store.deleteAlias(accountId, request.aliasName) === "missing") throw aliasNotFound("alias_name");
    return {};
  };
}
