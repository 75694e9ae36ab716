import type { DisconnectExternalKeyStoreRequestSchema, DisconnectExternalKeyStoreResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { disconnectExternalKeyStore as disconnect } from "../domain/external-key-store-connection.ts";
import { authorizedStore, FIELD } from "./external-key-store-access.ts";
import { externalKeyStoreView } from "./views.ts";

/** Disconnects: the store's keys read Unavailable and refuse every operation until it is connected again. */
export function disconnectExternalKeyStore(ctx: AppContext): UnaryHandler<typeof DisconnectExternalKeyStoreRequestSchema, typeof DisconnectExternalKeyStoreResponseSchema> {
  return async (request, call) => {
    const store = await authorizedStore(ctx, call, request.externalKeyStoreId, "kms:DisconnectExternalKeyStore");
    return { externalKeyStore: externalKeyStoreView(await disconnect(ctx, store, FIELD), ctx.config.region) };
  };
}
