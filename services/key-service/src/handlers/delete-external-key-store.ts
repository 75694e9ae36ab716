import { ExternalKeyStoreConnectionState, type DeleteExternalKeyStoreRequestSchema, type DeleteExternalKeyStoreResponseSchema } from "@keyhold/proto";
import { KeyholdError, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { externalKeyStoreNotFound } from "../domain/external-key-stores.ts";
import { authorizedStore, FIELD } from "./external-key-store-access.ts";

/** Deletes a store that is not connected and that no key references any more (as AWS KMS). */
export function deleteExternalKeyStore(ctx: AppContext): UnaryHandler<typeof DeleteExternalKeyStoreRequestSchema, typeof DeleteExternalKeyStoreResponseSchema> {
  return async (request, call) => {
    const store = await authorizedStore(ctx, call, request.externalKeyStoreId, "kms:DeleteExternalKeyStore");
    if (store.connectionState === ExternalKeyStoreConnectionState.CONNECTED || store.connectionState === ExternalKeyStoreConnectionState.CONNECTING) {
      throw new KeyholdError("EXTERNAL_KEY_STORE_INVALID_STATE", `${FIELD}: disconnect the external key store before deleting it`, { field: FIELD });
    }
    const outcome = await ctx.store.deleteExternalKeyStore(store.accountId, store.externalKeyStoreId);
    if (outcome === "missing") throw externalKeyStoreNotFound(FIELD);
    if (outcome === "in-use") {
      throw new KeyholdError("EXTERNAL_KEY_STORE_INVALID_STATE", `${FIELD}: keys still use the external key store: delete them (ScheduleKeyDeletion) and wait for their deletion first`, {
        field: FIELD,
      });
    }
    ctx.xks.forget(store.externalKeyStoreId);
    return {};
  };
}
