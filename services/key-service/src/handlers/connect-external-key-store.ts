import type { ConnectExternalKeyStoreRequestSchema, ConnectExternalKeyStoreResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { connectExternalKeyStore as connect } from "../domain/external-key-store-connection.ts";
import { authorizedStore, FIELD } from "./external-key-store-access.ts";
import { externalKeyStoreView } from "./views.ts";

/** Checks the proxy (GetHealthStatus); the answer shows CONNECTED, or FAILED and why. */
export function connectExternalKeyStore(ctx: AppContext): UnaryHandler<typeof ConnectExternalKeyStoreRequestSchema, typeof ConnectExternalKeyStoreResponseSchema> {
  return async (request, call) => {
    const store = await authorizedStore(ctx, call, request.externalKeyStoreId, "kms:ConnectExternalKeyStore");
    return { externalKeyStore: externalKeyStoreView(await connect(ctx, store, call, FIELD), ctx.config.region) };
  };
}
