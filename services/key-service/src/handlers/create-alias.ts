import type { CreateAliasRequestSchema, CreateAliasResponseSchema } from "@keyhold/proto";
import { callerOf, KeyholdError, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { resolveKeyRef } from "../domain/key-resolver.ts";
import { parseKeyRef, validateCustomerAliasName } from "../domain/names.ts";
import { aliasEntry } from "./views.ts";

export function createAlias(ctx: AppContext): UnaryHandler<typeof CreateAliasRequestSchema, typeof CreateAliasResponseSchema> {
  return async (request, call) => {
    const accountId = callerOf(call).accountId;
    validateCustomerAliasName(request.aliasName, "alias_name");
    const target = parseKeyRef(request.targetKeyId, "target_key_id", false);
    const key = resolveKeyRef(ctx.store, ctx.config.region, accountId, target, "target_key_id");
    const now = ctx.clock.now();
    const alias = { accountId, aliasName: request.aliasName, targetKeyId: key.keyId, createdAt: now, updatedAt: now };
    if (ctx.store.createAlias(alias) === "exists") {
      throw new KeyholdError("ALREADY_EXISTS", "alias_name: an alias with this name already exists", { field: "alias_name" });
    }
    return { alias: aliasEntry(alias, ctx.config.region) };
  };
}
