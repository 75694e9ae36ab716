// Connecting and disconnecting an external key store (as AWS KMS ConnectCustomKeyStore for
// XKS stores): connecting runs GetHealthStatus through the proxy and ends CONNECTED, or FAILED
// with the connection error code that says why.
import { ExternalKeyStoreConnectionErrorCode, ExternalKeyStoreConnectionState } from "@keyhold/proto";
import { KeyholdError, type CallContext } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import type { ExternalKeyStoreRecord } from "../store/records.ts";
import { externalKeyStoreNotFound } from "./external-key-stores.ts";
import { connectionErrorOf, originOf } from "./xks-proxies.ts";

async function reread(ctx: AppContext, store: ExternalKeyStoreRecord, field: string): Promise<ExternalKeyStoreRecord> {
  const current = await ctx.store.getExternalKeyStore(store.accountId, store.externalKeyStoreId);
  if (current === undefined) throw externalKeyStoreNotFound(field);
  return current;
}

export async function connectExternalKeyStore(ctx: AppContext, store: ExternalKeyStoreRecord, call: CallContext, field: string): Promise<ExternalKeyStoreRecord> {
  // (A store left CONNECTING by a process that stopped mid-check connects again like any other.)
  const { accountId, externalKeyStoreId: id } = store;
  await ctx.store.updateExternalKeyStore(accountId, id, { connectionState: ExternalKeyStoreConnectionState.CONNECTING });
  ctx.xks.forget(id);
  try {
    await ctx.xks.checkHealth(store, originOf(call));
    await ctx.store.updateExternalKeyStore(accountId, id, {
      connectionState: ExternalKeyStoreConnectionState.CONNECTED,
      connectionErrorCode: ExternalKeyStoreConnectionErrorCode.UNSPECIFIED,
    });
  } catch (error) {
    if (error instanceof KeyholdError) {
      // Not the proxy's answer (e.g. key-service is sealed): the store is left as it was.
      await ctx.store.updateExternalKeyStore(accountId, id, { connectionState: store.connectionState, connectionErrorCode: store.connectionErrorCode });
      throw error;
    }
    const code = connectionErrorOf(error);
    ctx.logger.warn("external key store connection failed", { externalKeyStoreId: id, connectionErrorCode: ExternalKeyStoreConnectionErrorCode[code] });
    await ctx.store.updateExternalKeyStore(accountId, id, { connectionState: ExternalKeyStoreConnectionState.FAILED, connectionErrorCode: code });
  }
  return reread(ctx, store, field);
}

export async function disconnectExternalKeyStore(ctx: AppContext, store: ExternalKeyStoreRecord, field: string): Promise<ExternalKeyStoreRecord> {
  await ctx.store.updateExternalKeyStore(store.accountId, store.externalKeyStoreId, {
    connectionState: ExternalKeyStoreConnectionState.DISCONNECTED,
    connectionErrorCode: ExternalKeyStoreConnectionErrorCode.UNSPECIFIED,
  });
  ctx.xks.forget(store.externalKeyStoreId);
  return reread(ctx, store, field);
}
