import { recordAuditDetails } from "@keyhold/audit-client";
import type { UpdateAliasRequestSchema, UpdateAliasResponseSchema } from "@keyhold/proto";
import { callerOf, KeyholdError, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { aliasContended, ALIAS_WRITE_ATTEMPTS, aliasNotFound, keyNotFound } from "../domain/key-resolver.ts";
import { aliasKrn, keyKrn, validateCustomerAliasName } from "../domain/names.ts";
import { aliasEntry } from "./views.ts";

/** Moving an alias needs kms:UpdateAlias on the alias, its current key and the new key. */
export function updateAlias(ctx: AppContext): UnaryHandler<typeof UpdateAliasRequestSchema, typeof UpdateAliasResponseSchema> {
  return async (request, call) => {
    const accountId = callerOf(call).accountId;
    validateCustomerAliasName(request.aliasName, "alias_name");
    recordAuditDetails(call, { resource: aliasKrn(ctx.config.region, accountId, request.aliasName) });
    await ctx.access.require(call, "kms:UpdateAlias", aliasKrn(ctx.config.region, accountId, request.aliasName));
    const key = await authorizedKey(ctx, call, request.targetKeyId, "target_key_id", "kms:UpdateAlias", { allowAlias: false });
    if (key.accountId !== accountId) throw keyNotFound("target_key_id");
    // The move is checked (permission on the current key, same spec and usage) against the key the
    // alias points at, and written only while it still points there; when another replica moved
    // it meanwhile, the checks run again against the new one.
    for (let attempt = 0; ; attempt++) {
      const existing = await ctx.store.getAlias(accountId, request.aliasName);
      if (existing === undefined) throw aliasNotFound("alias_name");
      await ctx.access.require(call, "kms:UpdateAlias", keyKrn(ctx.config.region, accountId, existing.targetKeyId));
      const current = await ctx.store.getKey(accountId, existing.targetKeyId);
      if (current !== undefined && (current.keySpec !== key.keySpec || current.keyUsage !== key.keyUsage)) {
        throw new KeyholdError("INVALID_ARGUMENT", "target_key_id: must have the same key spec and usage as the alias's current key", {
          field: "target_key_id",
        });
      }
      const now = ctx.clock.now();
      const outcome = await ctx.store.updateAlias(accountId, request.aliasName, key.keyId, now, existing.targetKeyId);
      if (outcome === "ok") return { alias: aliasEntry({ ...existing, targetKeyId: key.keyId, updatedAt: now }, ctx.config.region) };
      // The alias, or the target key (purged meanwhile), is gone.
      if (outcome === "missing") throw (await ctx.store.getAlias(accountId, request.aliasName)) === undefined ? aliasNotFound("alias_name") : keyNotFound("target_key_id");
      if (attempt >= ALIAS_WRITE_ATTEMPTS) throw aliasContended("alias_name");
    }
  };
}
