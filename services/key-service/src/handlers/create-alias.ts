import { recordAuditDetails } from "@keyhold/audit-client";
import type { CreateAliasRequestSchema, CreateAliasResponseSchema } from "@keyhold/proto";
import { callerOf, KeyholdError, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { keyNotFound } from "../domain/key-resolver.ts";
import { aliasKrn, validateCustomerAliasName } from "../domain/names.ts";
import { aliasEntry } from "./views.ts";

/** Creating an alias needs kms:CreateAlias on the alias and on its key (as AWS KMS). */
export function createAlias(ctx: AppContext): UnaryHandler<typeof CreateAliasRequestSchema, typeof CreateAliasResponseSchema> {
  return async (request, call) => {
    const accountId = callerOf(call).accountId;
    validateCustomerAliasName(request.aliasName, "alias_name");
    recordAuditDetails(call, { resource: aliasKrn(ctx.config.region, accountId, request.aliasName) });
    await ctx.access.require(call, "kms:CreateAlias", aliasKrn(ctx.config.region, accountId, request.aliasName));
    const key = await authorizedKey(ctx, call, request.targetKeyId, "target_key_id", "kms:CreateAlias", { allowAlias: false });
    if (key.accountId !== accountId) throw keyNotFound("target_key_id");
    const now = ctx.clock.now();
    const alias = { accountId, aliasName: request.aliasName, targetKeyId: key.keyId, createdAt: now, updatedAt: now };
    const outcome = await ctx.store.createAlias(alias);
    if (outcome === "exists") throw new KeyholdError("ALREADY_EXISTS", "alias_name: an alias with this name already exists", { field: "alias_name" });
    if (outcome !== "ok") throw keyNotFound("target_key_id");
    return { alias: aliasEntry(alias, ctx.config.region) };
  };
}
