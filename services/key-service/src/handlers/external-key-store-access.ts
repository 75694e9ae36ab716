// The external key store a request names, after the caller was allowed `action` on it (a
// store of another account, or none, is EXTERNAL_KEY_STORE_NOT_FOUND, checked after permission).
import { recordAuditDetails } from "@keyhold/audit-client";
import { callerOf, type CallContext } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { externalKeyStoreKrn, externalKeyStoreNotFound, parseExternalKeyStoreRef } from "../domain/external-key-stores.ts";
import type { ExternalKeyStoreRecord } from "../store/records.ts";

export const FIELD = "external_key_store_id";

export function accountExternalKeyStoresKrn(region: string, accountId: string): string {
  return `krn:keyhold:kms:${region}:${accountId}:external-key-store/*`;
}

export async function authorizedStore(ctx: AppContext, call: CallContext, value: string, action: string): Promise<ExternalKeyStoreRecord> {
  const accountId = callerOf(call).accountId;
  recordAuditDetails(call, { resource: accountExternalKeyStoresKrn(ctx.config.region, accountId) });
  const id = parseExternalKeyStoreRef(value, FIELD, ctx.config.region, accountId);
  const krn = externalKeyStoreKrn(ctx.config.region, accountId, id);
  recordAuditDetails(call, { resource: krn });
  await ctx.access.require(call, action, krn);
  const store = await ctx.store.getExternalKeyStore(accountId, id);
  if (store === undefined) throw externalKeyStoreNotFound(FIELD);
  return store;
}
