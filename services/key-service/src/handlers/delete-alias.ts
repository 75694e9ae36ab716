import { recordAuditDetails } from "@keyhold/audit-client";
import type { DeleteAliasRequestSchema, DeleteAliasResponseSchema } from "@keyhold/proto";
import { callerOf, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { aliasContended, ALIAS_WRITE_ATTEMPTS, aliasNotFound } from "../domain/key-resolver.ts";
import { aliasKrn, keyKrn, validateCustomerAliasName } from "../domain/names.ts";

/** Deleting an alias needs kms:DeleteAlias on the alias and on its key. */
export function deleteAlias(ctx: AppContext): UnaryHandler<typeof DeleteAliasRequestSchema, typeof DeleteAliasResponseSchema> {
  return async (request, call) => {
    const accountId = callerOf(call).accountId;
    validateCustomerAliasName(request.aliasName, "alias_name");
    recordAuditDetails(call, { resource: aliasKrn(ctx.config.region, accountId, request.aliasName) });
    await ctx.access.require(call, "kms:DeleteAlias", aliasKrn(ctx.config.region, accountId, request.aliasName));
    // Authorized on the key the alias points at, and deleted only while it still points there.
    for (let attempt = 0; ; attempt++) {
      const existing = await ctx.store.getAlias(accountId, request.aliasName);
      if (existing === undefined) throw aliasNotFound("alias_name");
      await ctx.access.require(call, "kms:DeleteAlias", keyKrn(ctx.config.region, accountId, existing.targetKeyId));
      const outcome = await ctx.store.deleteAlias(accountId, request.aliasName, existing.targetKeyId);
      if (outcome === "ok") return {};
      if (outcome === "missing") throw aliasNotFound("alias_name");
      if (attempt >= ALIAS_WRITE_ATTEMPTS) throw aliasContended("alias_name");
    }
  };
}
