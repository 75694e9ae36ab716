import type { GetExternalKeyStoreRequestSchema, GetExternalKeyStoreResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedStore } from "./external-key-store-access.ts";
import { externalKeyStoreView } from "./views.ts";

export function getExternalKeyStore(ctx: AppContext): UnaryHandler<typeof GetExternalKeyStoreRequestSchema, typeof GetExternalKeyStoreResponseSchema> {
  return async (request, call) => {
    const store = await authorizedStore(ctx, call, request.externalKeyStoreId, "kms:GetExternalKeyStore");
    return { externalKeyStore: externalKeyStoreView(store, ctx.config.region) };
  };
}
